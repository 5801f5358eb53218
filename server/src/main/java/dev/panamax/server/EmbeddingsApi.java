package dev.panamax.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamax.Model;
import dev.panamax.embed.Embedder;
import dev.panamax.embed.Embedding;
import dev.panamax.embed.Pooling;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;

/**
 * {@code POST /v1/embeddings} (OpenAI's shape: input a string, a list of strings, a token array or a list of token
 * arrays; {@code encoding_format} float or base64; {@code dimensions} only when it is the model's own width, since no
 * model here is trained to be truncated) and {@code POST /v1/rerank} (llama-server's shape: query, documents, top_n ->
 * results of index and relevance_score, best first) over the model's {@link Embedder}. Each request's inputs are
 * batched into forward steps; requests run one at a time on the embedder, beside the engine's scheduler (not through
 * it). Answers are JSON trees; errors are {@link ApiException}s.
 */
final class EmbeddingsApi {

    /** Inputs per request, as OpenAI's limit. */
    static final int MAX_INPUTS = 2048;

    private final Model model;
    private final String modelId;

    EmbeddingsApi(Model model, String modelId) {
        this.model = model;
        this.modelId = modelId;
    }

    /** Paths this class answers. */
    static boolean handles(String path) {
        return switch (path) {
            case "/v1/embeddings", "/embeddings", "/v1/rerank", "/rerank", "/v1/reranking", "/reranking" -> true;
            default -> false;
        };
    }

    /** The answer to a POST on {@code path} (one of {@link #handles}). */
    ObjectNode answer(String path, JsonNode body) {
        return path.contains("rerank") ? rerank(new Params(body)) : embeddings(new Params(body));
    }

    /** The prompt tokens an answer reports (for the access log). */
    static long promptTokens(ObjectNode answer) {
        return answer.path("usage").path("prompt_tokens").asLong();
    }

    ObjectNode embeddings(Params p) {
        Embedder e = model.embedder();
        Pooling pooling = model.pooling();
        if (pooling == Pooling.NONE) {
            throw ApiException.invalid(null, "the model's pooling is none (one vector per token), which is not OpenAI-compatible: "
                    + "load a model with mean, cls or last pooling");
        }
        if (pooling == Pooling.RANK) throw ApiException.invalid(null, "this model is a reranker: use POST /v1/rerank");
        String format = p.string("encoding_format");
        if (format == null) format = "float";
        if (!format.equals("float") && !format.equals("base64")) {
            throw ApiException.invalid("encoding_format", "'encoding_format' must be float or base64, got " + format);
        }
        Long dims = p.integer("dimensions", 1, Integer.MAX_VALUE);
        int width = e.width();
        if (dims != null && dims != width) {
            throw ApiException.unsupported("dimensions", "'dimensions' " + dims + " is not supported: this model ("
                    + model.architecture() + ", pooling " + pooling + ") makes " + width
                    + "-dimensional embeddings and was not trained to be truncated (omit 'dimensions' or pass " + width + ")");
        }
        List<int[]> inputs = inputs(p.required("input"), e);
        List<Embedding> out;
        try {
            out = e.embedTokens(inputs, pooling, true);
        } catch (IllegalArgumentException x) {
            throw ApiException.invalid("input", x.getMessage());
        }
        ObjectNode r = ApiHandler.JSON.createObjectNode().put("object", "list");
        ArrayNode data = r.putArray("data");
        long tokens = 0;
        for (int i = 0; i < out.size(); i++) {
            ObjectNode d = data.addObject().put("object", "embedding").put("index", i);
            float[] v = out.get(i).vector();
            if (format.equals("base64")) {
                ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
                b.asFloatBuffer().put(v);
                d.put("embedding", Base64.getEncoder().encodeToString(b.array()));
            } else {
                ArrayNode a = d.putArray("embedding");
                for (float x : v) a.add(x);
            }
            tokens += inputs.get(i).length;
        }
        r.put("model", modelId);
        r.putObject("usage").put("prompt_tokens", tokens).put("total_tokens", tokens);
        return r;
    }

    /** {@code input}: a string, a list of strings, a list of token ids, or a list of token-id lists. */
    private static List<int[]> inputs(JsonNode in, Embedder e) {
        List<int[]> out = new ArrayList<>();
        if (in.isTextual()) {
            out.add(e.tokenize(in.asText()));
        } else if (in.isArray()) {
            if (in.isEmpty()) throw ApiException.invalid("input", "'input' must not be an empty list");
            if (in.size() > MAX_INPUTS) throw ApiException.invalid("input", "'input' takes at most " + MAX_INPUTS + " items, got " + in.size());
            if (in.get(0).isNumber()) {
                out.add(ids(in, "input"));
            } else {
                for (int i = 0; i < in.size(); i++) {
                    JsonNode x = in.get(i);
                    if (x.isTextual()) out.add(e.tokenize(x.asText()));
                    else if (x.isArray()) out.add(ids(x, "input[" + i + "]"));
                    else throw ApiException.invalid("input", "'input[" + i + "]' must be a string or a list of token ids, got " + Params.kind(x));
                }
            }
        } else {
            throw ApiException.invalid("input", "'input' must be a string, a list of strings or token ids, got " + Params.kind(in));
        }
        return out;
    }

    private static int[] ids(JsonNode a, String name) {
        if (a.isEmpty()) throw ApiException.invalid("input", "'" + name + "' is an empty token list");
        int[] ids = new int[a.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = (int) Params.integer(a.get(i), name, 0, Integer.MAX_VALUE);
        return ids;
    }

    ObjectNode rerank(Params p) {
        Embedder e = model.embedder();
        if (!e.hasClassifier()) {
            throw ApiException.invalid(null, "this model has no classification head (rank pooling): it is not a reranker");
        }
        String query = p.string("query");
        if (query == null) throw new ApiException(400, "invalid_request_error", "missing_required_parameter", "query", "'query' is required");
        JsonNode docs = p.has("documents") ? p.node("documents") : p.node("texts"); // texts: TEI's name, as llama-server
        if (docs == null) throw new ApiException(400, "invalid_request_error", "missing_required_parameter", "documents", "'documents' is required");
        if (!docs.isArray() || docs.isEmpty()) throw ApiException.invalid("documents", "'documents' must be a non-empty list of strings");
        if (docs.size() > MAX_INPUTS) throw ApiException.invalid("documents", "'documents' takes at most " + MAX_INPUTS + " items");
        List<String> documents = new ArrayList<>();
        for (JsonNode d : docs) {
            if (!d.isTextual()) throw ApiException.invalid("documents", "'documents' must be strings, got " + Params.kind(d));
            documents.add(d.asText());
        }
        Long topN = p.integer("top_n", 1, Integer.MAX_VALUE);
        List<int[]> pairs = new ArrayList<>();
        long tokens = 0;
        for (String d : documents) {
            int[] t = e.pairTokens(query, d);
            pairs.add(t);
            tokens += t.length;
        }
        List<Embedding> out;
        try {
            out = e.embedTokens(pairs, Pooling.RANK, false);
        } catch (IllegalArgumentException x) {
            throw ApiException.invalid("documents", x.getMessage());
        }
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < out.size(); i++) order.add(i);
        order.sort(Comparator.comparingDouble((Integer i) -> out.get(i).score()).reversed());
        int n = topN == null ? order.size() : (int) Math.min(topN, order.size());
        ObjectNode r = ApiHandler.JSON.createObjectNode().put("model", modelId).put("object", "list");
        r.putObject("usage").put("prompt_tokens", tokens).put("total_tokens", tokens);
        ArrayNode results = r.putArray("results");
        for (int k = 0; k < n; k++) {
            int i = order.get(k);
            results.addObject().put("index", i).put("relevance_score", out.get(i).score());
        }
        return r;
    }
}
