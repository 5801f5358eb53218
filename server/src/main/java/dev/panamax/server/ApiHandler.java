package dev.panamax.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamax.ContextOverflowException;
import dev.panamax.Engine;
import dev.panamax.EngineOverloadedException;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.RequestHandle;
import dev.panamax.TokenListener;
import dev.panamax.TokenLogprob;
import dev.panamax.grammar.Grammar;
import dev.panamax.grammar.GrammarException;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.spec.Speculation;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ChatTemplate;
import dev.panamax.tokenizer.ToolCall;
import dev.panamax.tokenizer.ToolCallFormat;
import dev.panamax.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes and answers the OpenAI-compatible API on a virtual thread per request (blocking reads and writes). Engine
 * requests report through a queue per HTTP request: the engine's thread only enqueues.
 */
final class ApiHandler extends Handler.Abstract {
    private static final Logger ACCESS = LoggerFactory.getLogger("dev.panamax.server.access");
    private static final Logger LOG = LoggerFactory.getLogger(ApiHandler.class);
    static final ObjectMapper JSON = new ObjectMapper();

    private final Engine engine;
    private final ServerConfig config;
    private final ServerMetrics metrics;
    private final Tokenizer tokenizer;
    private final EmbeddingsApi embeddingsApi;
    private final byte[] apiKey;
    private final long created = System.currentTimeMillis() / 1000;
    final DisconnectWatcher watcher;
    final Set<RequestHandle> inFlight = ConcurrentHashMap.newKeySet();
    final AtomicInteger active = new AtomicInteger();
    volatile boolean closing;

    ApiHandler(Engine engine, ServerConfig config, ServerMetrics metrics) {
        super(InvocationType.BLOCKING);
        this.engine = engine;
        this.config = config;
        this.metrics = metrics;
        this.tokenizer = engine.model().tokenizer();
        this.embeddingsApi = new EmbeddingsApi(engine.model(), config.modelId());
        this.apiKey = config.apiKey() == null ? null : config.apiKey().getBytes(StandardCharsets.UTF_8);
        try {
            this.watcher = new DisconnectWatcher();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot open a selector", e);
        }
    }

    /** One HTTP exchange: what the access log line and the metrics report. */
    private static final class Exchange {
        final Request request;
        final Response response;
        int status = 200;
        final long arrived = System.nanoTime();
        long firstTextSent; // when a stream's first text went out (0: not yet)
        long promptTokens, completionTokens;
        boolean started; // response headers sent (streaming)
        SseWriter sse; // the body of a stream
        byte[] body; // in-process (no request, no response): what would have been sent

        Exchange(Request request, Response response) {
            this.request = request;
            this.response = response;
        }
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        active.incrementAndGet();
        Exchange ex = new Exchange(request, response);
        long t0 = ex.arrived;
        String path = Request.getPathInContext(request);
        String method = request.getMethod();
        Throwable failure = null;
        try {
            try {
                route(ex, method, path);
            } catch (ApiException e) {
                sendError(ex, e);
            } catch (ClientGoneException e) {
                throw e;
            } catch (RuntimeException | Error e) {
                LOG.error("{} {} failed", method, path, e);
                sendError(ex, new ApiException(500, "server_error", "internal_error", null, "internal error: " + e.getClass().getSimpleName()));
            }
        } catch (ClientGoneException e) {
            ex.status = 499; // nginx's "client closed request", for the log
            failure = e.getCause();
        } finally {
            active.decrementAndGet();
            double ms = (System.nanoTime() - t0) / 1e6;
            ACCESS.info("{} {} {} tokens={}+{} {}ms", method, path, ex.status, ex.promptTokens, ex.completionTokens,
                    String.format(Locale.ROOT, "%.1f", ms));
            metrics.request(endpointTag(path), ex.status);
        }
        if (failure != null) callback.failed(failure);
        else callback.succeeded();
        return true;
    }

    /**
     * One non-streaming completion handled in-process, without HTTP ({@link LocalApi}, run-batch): the status and
     * JSON body a POST of {@code body} to {@code path} would get.
     */
    LocalApi.Reply post(String path, JsonNode body) {
        Exchange ex = new Exchange(null, null);
        try {
            try {
                boolean chat = path.equals("/v1/chat/completions");
                if (!chat && !path.equals("/v1/completions")) {
                    throw new ApiException(404, "invalid_request_error", "not_found", null, "no endpoint POST " + path);
                }
                if (body != null && body.path("stream").asBoolean(false)) {
                    throw ApiException.invalid("stream", "'stream' is not supported here: a batch request gets its whole response");
                }
                completions(ex, body, chat);
            } catch (ApiException e) {
                sendError(ex, e);
            } catch (RuntimeException e) {
                LOG.error("POST {} failed", path, e);
                sendError(ex, new ApiException(500, "server_error", "internal_error", null, "internal error: " + e.getClass().getSimpleName()));
            }
            return new LocalApi.Reply(ex.status, JSON.readTree(ex.body));
        } catch (ClientGoneException | IOException e) {
            throw new IllegalStateException("an in-process reply cannot fail to be written", e);
        }
    }

    private static String endpointTag(String path) {
        return switch (path) {
            case "/v1/chat/completions", "/v1/completions", "/v1/models", "/tokenize", "/detokenize", "/health", "/ready", "/metrics",
                 "/v1/embeddings", "/v1/rerank" -> path;
            default -> "other";
        };
    }

    private void route(Exchange ex, String method, String path) throws ClientGoneException {
        if (path.equals("/health")) { // liveness: the process answers (also while it drains; /ready says whether to send work)
            requireMethod(method, "GET");
            sendJson(ex, 200, JSON.createObjectNode().put("status", "ok"));
            return;
        }
        if (path.equals("/ready")) { // a readiness probe: public like /health, and 503 once the engine cannot serve
            requireMethod(method, "GET");
            if (closing) throw new ApiException(503, "unavailable_error", "shutting_down", null, "the server is shutting down");
            if (engine.isClosed()) throw new ApiException(503, "unavailable_error", "engine_closed", null, "the engine is closed");
            sendJson(ex, 200, JSON.createObjectNode().put("status", "ready").put("model", config.modelId()));
            return;
        }
        authenticate(ex.request);
        if (closing) {
            throw new ApiException(503, "unavailable_error", "shutting_down", null,
                    "the server is shutting down: it finishes the requests it has but takes no new ones; send this one to another replica");
        }
        if (EmbeddingsApi.handles(path)) {
            requireMethod(method, "POST");
            ObjectNode answer = embeddingsApi.answer(path, readBody(ex.request));
            ex.promptTokens = EmbeddingsApi.promptTokens(answer);
            sendJson(ex, 200, answer);
            return;
        }
        if (engine.model().isEncoder() && path.endsWith("completions")) {
            throw ApiException.invalid(null, engine.model().architecture() + " is an embedding model: use /v1/embeddings or /v1/rerank");
        }
        switch (path) {
            case "/v1/chat/completions" -> {
                requireMethod(method, "POST");
                completions(ex, readBody(ex.request), true);
            }
            case "/v1/completions" -> {
                requireMethod(method, "POST");
                completions(ex, readBody(ex.request), false);
            }
            case "/v1/models" -> {
                requireMethod(method, "GET");
                sendJson(ex, 200, models());
            }
            case "/tokenize" -> {
                requireMethod(method, "POST");
                sendJson(ex, 200, tokenize(new Params(readBody(ex.request))));
            }
            case "/detokenize" -> {
                requireMethod(method, "POST");
                sendJson(ex, 200, detokenize(new Params(readBody(ex.request))));
            }
            case "/metrics" -> {
                requireMethod(method, "GET");
                send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape().getBytes(StandardCharsets.UTF_8));
            }
            default -> throw new ApiException(404, "invalid_request_error", "not_found", null, "no endpoint " + method + " " + path);
        }
    }

    private static void requireMethod(String method, String allowed) {
        if (!method.equals(allowed)) {
            throw new ApiException(405, "invalid_request_error", "method_not_allowed", null, "use " + allowed + ", not " + method);
        }
    }

    private void authenticate(Request request) {
        if (apiKey == null) return;
        String h = request.getHeaders().get(HttpHeader.AUTHORIZATION);
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw new ApiException(401, "invalid_request_error", "invalid_api_key", null,
                    "missing API key: send the header 'Authorization: Bearer <key>'");
        }
        byte[] given = h.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(given, apiKey)) throw new ApiException(401, "invalid_request_error", "invalid_api_key", null, "invalid API key");
    }

    private JsonNode readBody(Request request) {
        long limit = config.maxBodyBytes();
        long declared = request.getLength();
        byte[] body;
        try (InputStream in = Content.Source.asInputStream(request)) {
            if (declared > limit) throw tooLarge(declared, in);
            body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
            if (body.length > limit) throw tooLarge(-1, in);
        } catch (IOException e) {
            throw new ApiException(400, "invalid_request_error", "bad_body", null, "could not read the request body: " + e.getMessage());
        }
        if (body.length == 0) throw ApiException.invalid(null, "the request body is empty: a JSON object is expected");
        try {
            return JSON.readTree(body);
        } catch (JsonProcessingException e) {
            throw new ApiException(400, "invalid_request_error", "invalid_json", null, "the body is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new ApiException(400, "invalid_request_error", "invalid_json", null, "the body is not valid JSON");
        }
    }

    /**
     * The 413 for a body over the limit, after reading and dropping up to 4x the limit of what the client is still
     * sending: closing a connection with unread data in it resets it, and the reset can destroy the 413 before the
     * client, busy writing, reads it (nginx's lingering close, for the same reason). A larger body is cut off.
     */
    private ApiException tooLarge(long declared, InputStream rest) {
        try {
            rest.skipNBytes(Math.max(0, Math.min(declared >= 0 ? declared : Long.MAX_VALUE, 4 * config.maxBodyBytes())));
        } catch (IOException e) {
            // EOF before the cap (the body was smaller than declared, or chunked and done) or the client left
        }
        return new ApiException(413, "invalid_request_error", "request_too_large", null, "the request body "
                + (declared >= 0 ? "of " + declared + " bytes " : "") + "exceeds the limit of " + config.maxBodyBytes() + " bytes");
    }

    // ---------------------------------------------------------------- simple endpoints

    private ObjectNode models() {
        ObjectNode m = JSON.createObjectNode();
        m.put("id", config.modelId()).put("object", "model").put("created", created).put("owned_by", "panamax");
        m.put("context_length", engine.contextLength()).put("n_params", engine.model().parameterCount());
        m.put("architecture", engine.model().architecture());
        ObjectNode list = JSON.createObjectNode().put("object", "list");
        list.putArray("data").add(m);
        return list;
    }

    private ObjectNode tokenize(Params p) {
        String content = p.string("content");
        if (content == null) content = p.required("content").asText();
        boolean addSpecial = p.has("add_special") ? p.bool("add_special") : true;
        boolean parseSpecial = p.has("parse_special") ? p.bool("parse_special") : false;
        int[] ids = tokenizer.encode(content, addSpecial, parseSpecial);
        ObjectNode out = JSON.createObjectNode();
        ArrayNode a = out.putArray("tokens");
        for (int id : ids) a.add(id);
        return out;
    }

    private ObjectNode detokenize(Params p) {
        int[] ids = tokenIds(p.required("tokens"), "tokens");
        return JSON.createObjectNode().put("content", tokenizer.decode(ids));
    }

    private int[] tokenIds(JsonNode n, String param) {
        if (!n.isArray()) throw ApiException.invalid(param, "'" + param + "' must be a list of token ids");
        int[] ids = new int[n.size()];
        int vocab = tokenizer.vocabSize();
        for (int i = 0; i < ids.length; i++) ids[i] = (int) Params.integer(n.get(i), param, 0, vocab - 1);
        return ids;
    }

    // ---------------------------------------------------------------- completions

    /** What the engine is asked, per prompt. */
    private record Prompt(int[] tokens, String text) {}

    private void completions(Exchange ex, JsonNode body, boolean chat) throws ClientGoneException {
        Params p = new Params(body);
        String model = p.string("model");
        if (model != null && !model.equals(config.modelId())) {
            throw new ApiException(400, "invalid_request_error", "model_not_found", "model",
                    "the model '" + model + "' does not exist: this server serves '" + config.modelId() + "'");
        }
        refuseUnsupported(p, chat);
        ToolRequest tools = chat ? ToolRequest.of(p, template()) : null;
        List<Prompt> prompts = chat ? List.of(chatPrompt(p, tools)) : completionPrompts(p);
        int n = p.has("n") ? (int) (long) p.integer("n", 1, config.maxChoices()) : 1;
        if ((long) n * prompts.size() > config.maxChoices()) {
            throw ApiException.invalid("n", prompts.size() + " prompts × n=" + n + " exceeds the limit of " + config.maxChoices() + " choices");
        }
        Long maxTokens = p.integer(chat && p.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens", 0, Integer.MAX_VALUE);
        boolean stream = Boolean.TRUE.equals(p.bool("stream"));
        boolean includeUsage = false;
        JsonNode so = p.node("stream_options");
        if (so != null) {
            if (!so.isObject()) throw ApiException.invalid("stream_options", "'stream_options' must be an object");
            if (!stream) throw ApiException.invalid("stream_options", "'stream_options' is only allowed when 'stream' is true");
            JsonNode iu = so.get("include_usage");
            if (iu != null && !iu.isNull()) {
                if (!iu.isBoolean()) throw ApiException.invalid("stream_options.include_usage", "'include_usage' must be a boolean");
                includeUsage = iu.asBoolean();
            }
        }
        boolean echo = !chat && Boolean.TRUE.equals(p.bool("echo"));
        List<String> stop = p.stop("stop", 16);
        SamplingParams base = sampling(p).withGrammar(grammar(p, tools));
        int logprobs = logprobs(p, chat);
        boolean ignoreEos = Boolean.TRUE.equals(p.bool("ignore_eos")); // llama-server's: benchmarks want fixed lengths
        int[] preserved = tools == null ? null : tools.preservedTokens(tokenizer); // once: every choice shares them
        boolean seeded = p.has("seed");
        Speculation spec = speculation(p);

        int ctx = engine.contextLength();
        List<GenerationRequest> requests = new ArrayList<>();
        for (Prompt pr : prompts) {
            int len = pr.tokens().length;
            if (len >= ctx) {
                throw new ApiException(400, "invalid_request_error", "context_length_exceeded", chat ? "messages" : "prompt",
                        "the prompt has " + len + " tokens, the context holds " + ctx + " (prompt plus generated tokens must fit)");
            }
            int max = maxTokens == null ? ctx - len : (int) (long) maxTokens;
            if ((long) len + max > ctx) {
                throw new ApiException(400, "invalid_request_error", "context_length_exceeded", "max_tokens", "the prompt has " + len
                        + " tokens and max_tokens is " + max + ": " + (len + (long) max) + " positions, the context holds " + ctx);
            }
            for (int i = 0; i < n; i++) {
                SamplingParams s = seeded ? base.withSeed(base.seed() + i) : base.withSeed(ThreadLocalRandom.current().nextLong());
                requests.add(new GenerationRequest(pr.tokens(), max, s, stop, ignoreEos, logprobs, preserved, spec));
            }
        }
        for (Prompt pr : prompts) ex.promptTokens += pr.tokens().length;

        Run run = submit(requests);
        // the client may leave while nothing is written (prompt processing, a whole reply being generated)
        DisconnectWatcher.Watch watch = watcher.watch(channel(ex.request), () -> {
            run.gone = true;
            run.cancel();
        });
        try {
            String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
            long now = System.currentTimeMillis() / 1000;
            if (stream) stream(ex, run, chat, id, now, includeUsage, echo ? prompts : null, n, tools);
            else whole(ex, run, chat, id, now, echo ? prompts : null, n, tools);
        } finally {
            if (watch != null) watch.close();
            run.cancel(); // no-op for finished requests; a client gone or an error stops the rest
        }
    }

    private static java.nio.channels.SocketChannel channel(Request request) {
        return request != null && request.getConnectionMetaData().getConnection().getEndPoint() instanceof org.eclipse.jetty.io.SocketChannelEndPoint e
                ? e.getChannel() : null;
    }

    private void refuseUnsupported(Params p, boolean chat) {
        if (!chat) {
            p.unsupportedUnless("tools", n -> n.isArray() && n.isEmpty(), "tools are for /v1/chat/completions");
            p.unsupportedUnless("tool_choice", n -> n.isTextual() && n.asText().equals("none"), "tools are for /v1/chat/completions");
        }
        p.unsupportedUnless("functions", n -> n.isArray() && n.isEmpty(), "function calling is not implemented");
        p.unsupportedUnless("function_call", n -> n.isTextual() && n.asText().equals("none"), "function calling is not implemented");
        p.unsupportedUnless("audio", n -> false, "audio output is not implemented");
        p.unsupportedUnless("modalities", n -> n.isArray() && n.size() == 1 && "text".equals(n.get(0).asText()), "only text output is implemented");
        p.unsupportedUnless("prediction", n -> false, "predicted outputs are not implemented");
        p.unsupportedUnless("web_search_options", n -> false, "web search is not implemented");
        p.unsupportedUnless("suffix", n -> n.isTextual() && n.asText().isEmpty(), "insertion (suffix) is not implemented");
        p.unsupportedUnless("best_of", n -> n.isIntegralNumber() && n.asLong() == 1, "best_of is not implemented");
    }

    private SamplingParams sampling(Params p) {
        // llama-server's defaults where the request says nothing
        Double temp = p.number("temperature", 0, 2);
        Double topP = p.number("top_p", 0, 1);
        Long topK = p.integer("top_k", 0, Integer.MAX_VALUE);
        Double minP = p.number("min_p", 0, 1);
        Double rep = p.number("repeat_penalty", 1e-6, 100);
        Long repN = p.integer("repeat_last_n", 0, Integer.MAX_VALUE);
        Long seed = p.integer("seed", Long.MIN_VALUE, Long.MAX_VALUE);
        Double freq = p.number("frequency_penalty", -2, 2);
        Double pres = p.number("presence_penalty", -2, 2);
        float t = temp == null ? 0.8f : temp.floatValue();
        float tp = topP == null ? 0.95f : topP.floatValue();
        if (tp <= 0) { // top_p 0 keeps only the most likely token
            t = 0;
            tp = 1;
        }
        return new SamplingParams(t, topK == null ? 40 : (int) (long) topK, tp, minP == null ? 0.05f : minP.floatValue(),
                rep == null ? 1f : rep.floatValue(), repN == null ? 64 : (int) (long) repN, seed == null ? 0 : seed,
                freq == null ? 0f : freq.floatValue(), pres == null ? 0f : pres.floatValue(), logitBias(p), null);
    }

    /**
     * The grammar the reply must follow: {@code response_format} ({@code json_object}: any JSON object;
     * {@code json_schema}: {@code {"name", "schema", "strict"}}, the schema converted to a grammar), llama-server's
     * {@code json_schema} and {@code grammar} (GBNF) fields, or a required tool call; null when unconstrained. A schema
     * or grammar that cannot be used is a 400 naming where.
     */
    private static Grammar grammar(Params p, ToolRequest tools) {
        List<String> given = new ArrayList<>();
        Grammar g = null;
        JsonNode rf = p.node("response_format");
        if (rf != null) {
            if (!rf.isObject() || !rf.path("type").isTextual()) {
                throw ApiException.invalid("response_format", "'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}");
            }
            switch (rf.get("type").asText()) {
                case "text" -> { }
                case "json_object" -> g = Grammar.jsonObject();
                case "json_schema" -> {
                    JsonNode js = rf.path("json_schema");
                    if (!js.isObject() || !js.path("schema").isObject()) {
                        throw ApiException.invalid("response_format.json_schema", "'response_format.json_schema' must be {\"name\", \"schema\": {...}}");
                    }
                    g = compile("response_format.json_schema.schema", () -> Grammar.fromJsonSchema(js.get("schema").toString()));
                }
                default -> throw ApiException.invalid("response_format.type", "'response_format.type' must be text, json_object or json_schema, got '"
                        + rf.get("type").asText() + "'");
            }
            if (g != null) given.add("response_format");
        }
        JsonNode schema = p.node("json_schema");
        if (schema != null) {
            if (!schema.isObject()) throw ApiException.invalid("json_schema", "'json_schema' must be a JSON Schema object");
            g = compile("json_schema", () -> Grammar.fromJsonSchema(schema.toString()));
            given.add("json_schema");
        }
        String gbnf = p.string("grammar");
        if (gbnf != null) {
            g = compile("grammar", () -> Grammar.parse(gbnf));
            given.add("grammar");
        }
        if (tools != null && tools.grammar != null) {
            g = tools.grammar;
            given.add("tool_choice");
        }
        if (given.size() > 1) throw ApiException.invalid(given.get(1), "only one of " + String.join(", ", given) + " may constrain the reply");
        return g;
    }

    private static Grammar compile(String param, java.util.function.Supplier<Grammar> make) {
        try {
            return make.get();
        } catch (GrammarException e) {
            throw ApiException.invalid(param, "'" + param + "' cannot be used: " + e.getMessage());
        }
    }

    /** {@code logit_bias}: token ids (as JSON object keys) to a bias in [-100, 100]. */
    private Map<Integer, Float> logitBias(Params p) {
        JsonNode n = p.node("logit_bias");
        Map<Integer, Float> out = new HashMap<>();
        if (n == null) return out;
        if (!n.isObject()) throw ApiException.invalid("logit_bias", "'logit_bias' must be an object of token ids to numbers, got " + Params.kind(n));
        int vocab = tokenizer.vocabSize();
        for (var it = n.fields(); it.hasNext(); ) {
            var e = it.next();
            int id;
            try {
                id = Integer.parseInt(e.getKey().trim());
            } catch (NumberFormatException x) {
                throw ApiException.invalid("logit_bias", "'logit_bias' keys must be token ids, got '" + e.getKey() + "'");
            }
            if (id < 0 || id >= vocab) throw ApiException.invalid("logit_bias", "'logit_bias' token id " + id + " is outside the vocabulary [0, " + vocab + ")");
            JsonNode v = e.getValue();
            if (!v.isNumber()) throw ApiException.invalid("logit_bias", "'logit_bias' values must be numbers, got " + Params.kind(v) + " for token " + id);
            double b = v.asDouble();
            if (!(b >= -100 && b <= 100)) throw ApiException.invalid("logit_bias", "'logit_bias' values must be in [-100, 100], got " + v + " for token " + id);
            out.put(id, (float) b);
        }
        return out;
    }

    /** -1 when no log-probabilities are asked for, else how many alternatives per token. */
    /**
     * The request's {@code "speculative"}: "off", "ngram", "mtp" or "draft" (null: the server's default), with llama-server's
     * {@code "speculative.n_max"} as the most drafted tokens per step. Speculation never changes the output.
     */
    private Speculation speculation(Params p) {
        String mode = p.string("speculative");
        Long k = p.integer("speculative.n_max", 1, Speculation.MAX_DRAFT);
        if (mode == null && k == null) return null;
        Speculation dflt = engine.config().speculation();
        try {
            Speculation s = mode == null ? dflt : Speculation.parse(mode, 0);
            if (k != null && s.on()) s = new Speculation(s.mode(), (int) (long) k, s.adaptive());
            if (s.mode() == Speculation.Mode.MTP && dflt.mode() != Speculation.Mode.MTP) {
                throw new IllegalArgumentException("MTP speculation needs a server started with --spec mtp");
            }
            if (s.mode() == Speculation.Mode.DRAFT) {
                if (mode != null && s.draftModel() != null) throw new IllegalArgumentException("a request uses the server's draft model: \"draft\", not a file");
                if (dflt.mode() != Speculation.Mode.DRAFT) throw new IllegalArgumentException("draft-model speculation needs a server started with --spec draft:M.gguf");
            }
            return s;
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("speculative", e.getMessage());
        }
    }

    private static int logprobs(Params p, boolean chat) {
        if (chat) {
            boolean on = Boolean.TRUE.equals(p.bool("logprobs"));
            Long top = p.integer("top_logprobs", 0, GenerationRequest.MAX_TOP_LOGPROBS);
            if (top != null && !on) throw ApiException.invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true");
            return on ? (top == null ? 0 : (int) (long) top) : -1;
        }
        Long n = p.integer("logprobs", 0, GenerationRequest.MAX_TOP_LOGPROBS);
        return n == null ? -1 : (int) (long) n;
    }

    private ChatTemplate template() {
        try {
            return engine.model().chatTemplate();
        } catch (RuntimeException | dev.panamax.gguf.GgufFormatException e) {
            throw new ApiException(400, "invalid_request_error", "template_error", "messages",
                    "the model's chat template cannot be used: " + e.getMessage());
        }
    }

    private Prompt chatPrompt(Params p, ToolRequest tools) {
        JsonNode msgs = p.required("messages");
        if (!msgs.isArray() || msgs.isEmpty()) throw ApiException.invalid("messages", "'messages' must be a non-empty list");
        List<ChatMessage> list = new ArrayList<>();
        for (int i = 0; i < msgs.size(); i++) {
            JsonNode m = msgs.get(i);
            String at = "messages[" + i + "]";
            if (!m.isObject()) throw ApiException.invalid(at, at + " must be an object");
            JsonNode r = m.get("role");
            if (r == null || !r.isTextual()) throw ApiException.invalid(at + ".role", at + ".role must be a string");
            String role = switch (r.asText()) {
                case "system", "developer" -> "system";
                case "user", "assistant", "tool" -> r.asText();
                default -> throw ApiException.invalid(at + ".role", "unknown role '" + r.asText() + "' (system, developer, user, assistant, tool)");
            };
            List<ToolCall> calls = toolCalls(m.get("tool_calls"), at + ".tool_calls", role);
            String callId = null;
            if (role.equals("tool") && m.hasNonNull("tool_call_id")) {
                if (!m.get("tool_call_id").isTextual()) throw ApiException.invalid(at + ".tool_call_id", at + ".tool_call_id must be a string");
                callId = m.get("tool_call_id").asText();
            }
            String name = m.hasNonNull("name") && m.get("name").isTextual() ? m.get("name").asText() : null;
            JsonNode c = m.get("content");
            String text = (c == null || c.isNull()) && !calls.isEmpty() ? "" : content(c, at + ".content", role);
            list.add(new ChatMessage(role, text, calls, callId, name));
        }
        ChatTemplate template = template();
        String rendered;
        try {
            rendered = template.render(list, tools == null ? List.of() : tools.tools, true);
        } catch (RuntimeException e) {
            throw new ApiException(400, "invalid_request_error", "template_error", "messages",
                    "the model's chat template refused these messages: " + e.getMessage());
        }
        if (tools != null) rendered += tools.prefix; // a required call: the reply starts inside it
        return new Prompt(template.tokenize(rendered, tokenizer), rendered);
    }

    /** An assistant message's {@code tool_calls}: [{"id", "type": "function", "function": {"name", "arguments"}}]. */
    private static List<ToolCall> toolCalls(JsonNode tc, String at, String role) {
        if (tc == null || tc.isNull()) return List.of();
        if (!tc.isArray()) throw ApiException.invalid(at, at + " must be a list");
        if (!tc.isEmpty() && !role.equals("assistant")) throw ApiException.invalid(at, "only assistant messages carry tool calls");
        List<ToolCall> out = new ArrayList<>();
        for (int i = 0; i < tc.size(); i++) {
            JsonNode c = tc.get(i);
            String ci = at + "[" + i + "]";
            JsonNode fn = c.path("function");
            if (!c.isObject() || !fn.isObject() || !fn.path("name").isTextual()) {
                throw ApiException.invalid(ci, ci + " must be {\"id\", \"type\": \"function\", \"function\": {\"name\", \"arguments\"}}");
            }
            JsonNode args = fn.get("arguments");
            String a = args == null || args.isNull() ? "{}" : args.isTextual() ? args.asText() : args.toString();
            String id = c.path("id").isTextual() ? c.get("id").asText() : "call_" + i;
            out.add(new ToolCall(id, fn.get("name").asText(), a));
        }
        return out;
    }

    private static String content(JsonNode c, String at, String role) {
        if (c == null || c.isNull()) {
            if (role.equals("assistant")) return "";
            throw ApiException.invalid(at, at + " is required");
        }
        if (c.isTextual()) return c.asText();
        if (!c.isArray()) throw ApiException.invalid(at, at + " must be a string or a list of content parts");
        StringBuilder sb = new StringBuilder();
        for (JsonNode part : c) {
            String type = part.path("type").asText("");
            if (type.equals("text") && part.path("text").isTextual()) sb.append(part.get("text").asText());
            else if (type.equals("text")) throw ApiException.invalid(at, "a text part needs a string 'text'");
            else throw ApiException.unsupported(at, "content parts of type '" + type + "' are not supported by this server (text only)");
        }
        return sb.toString();
    }

    private List<Prompt> completionPrompts(Params p) {
        JsonNode pr = p.required("prompt");
        List<Prompt> out = new ArrayList<>();
        if (pr.isTextual()) out.add(textPrompt(pr.asText()));
        else if (pr.isArray() && !pr.isEmpty() && pr.get(0).isNumber()) out.add(idPrompt(tokenIds(pr, "prompt")));
        else if (pr.isArray() && !pr.isEmpty()) {
            for (JsonNode e : pr) {
                if (e.isTextual()) out.add(textPrompt(e.asText()));
                else if (e.isArray()) out.add(idPrompt(tokenIds(e, "prompt")));
                else throw ApiException.invalid("prompt", "'prompt' must be a string, a list of strings, token ids or lists of token ids");
            }
        } else throw ApiException.invalid("prompt", "'prompt' must be a string, a list of strings, token ids or lists of token ids");
        return out;
    }

    private Prompt textPrompt(String s) {
        int[] ids = tokenizer.encode(s);
        if (ids.length == 0) throw ApiException.invalid("prompt", "the prompt is empty");
        return new Prompt(ids, s);
    }

    private Prompt idPrompt(int[] ids) {
        if (ids.length == 0) throw ApiException.invalid("prompt", "the prompt has no tokens");
        return new Prompt(ids, tokenizer.decode(ids));
    }

    // ---------------------------------------------------------------- running requests

    private sealed interface Event permits Piece, Done {}

    /** Text and/or one token's log-probability (null when not asked for). */
    private record Piece(int choice, String text, TokenLogprob logprob) implements Event {}

    private record Done(int choice, Generation generation, Throwable error) implements Event {}

    /** The engine requests of one HTTP request; their events arrive in one queue (the engine's thread only adds). */
    private final class Run {
        final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
        final List<RequestHandle> handles = new ArrayList<>();
        volatile boolean gone; // the client closed the connection

        void cancel() {
            for (RequestHandle h : handles) h.cancel();
        }
    }

    private Run submit(List<GenerationRequest> requests) {
        Run run = new Run();
        try {
            for (int i = 0; i < requests.size(); i++) {
                int choice = i;
                RequestHandle h = engine.submit(requests.get(i), new TokenListener() {
                    @Override
                    public void onToken(int token, String text) {
                        onToken(token, text, null);
                    }

                    @Override
                    public void onToken(int token, String text, TokenLogprob lp) {
                        if (!text.isEmpty() || lp != null) run.events.add(new Piece(choice, text, lp));
                    }
                });
                run.handles.add(h);
                inFlight.add(h);
                h.result().whenComplete((g, t) -> {
                    inFlight.remove(h);
                    if (g != null) metrics.finished(g);
                    run.events.add(new Done(choice, g, t));
                });
            }
        } catch (RuntimeException e) {
            run.cancel();
            throw engineError(e);
        }
        return run;
    }

    private ApiException engineError(Throwable e) {
        if (e instanceof ContextOverflowException c) {
            return new ApiException(400, "invalid_request_error", "context_length_exceeded", "max_tokens", "the request needs "
                    + c.needed() + " positions (prompt + max_tokens), the engine holds " + c.contextLength());
        }
        if (e instanceof EngineOverloadedException) {
            return new ApiException(429, "rate_limit_error", "queue_full", null, "the server is busy: " + e.getMessage() + "; retry later");
        }
        if (e instanceof IllegalArgumentException) return ApiException.invalid(null, e.getMessage());
        if (e instanceof IllegalStateException && (closing || String.valueOf(e.getMessage()).contains("closed"))) {
            return new ApiException(503, "unavailable_error", "shutting_down", null, "the server is shutting down");
        }
        LOG.error("engine request failed", e);
        return new ApiException(500, "server_error", "engine_error", null, "the engine failed: " + e.getClass().getSimpleName());
    }

    private static String finishReason(Generation.StopReason r) {
        return switch (r) {
            case LENGTH, CONTEXT_FULL -> "length";
            case END_OF_GENERATION, STOP_STRING, NO_ALLOWED_TOKEN -> "stop";
            case CANCELLED -> "cancelled";
        };
    }

    /** An engine request ended in a way that fails the HTTP request (an error, or cancelled by shutdown). */
    private ApiException failure(Done d) {
        if (d.error() != null) return engineError(d.error());
        if (d.generation().stop() == Generation.StopReason.CANCELLED) {
            return new ApiException(503, "unavailable_error", "shutting_down", null, "the request was cancelled: the server is shutting down");
        }
        return null;
    }

    private Event take(Run run) {
        try {
            return run.events.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(503, "unavailable_error", "interrupted", null, "the server is shutting down");
        }
    }

    private void whole(Exchange ex, Run run, boolean chat, String id, long now, List<Prompt> echo, int n, ToolRequest tools)
            throws ClientGoneException {
        int total = run.handles.size();
        Generation[] done = new Generation[total];
        for (int left = total; left > 0; ) {
            if (!(take(run) instanceof Done d)) continue;
            left--;
            if (run.gone) throw new ClientGoneException(new org.eclipse.jetty.io.EofException("the client closed the connection"));
            ApiException f = failure(d);
            if (f != null) throw f;
            done[d.choice()] = d.generation();
        }
        ObjectNode out = JSON.createObjectNode();
        out.put("id", id).put("object", chat ? "chat.completion" : "text_completion").put("created", now).put("model", config.modelId());
        ArrayNode choices = out.putArray("choices");
        long completion = 0;
        for (int i = 0; i < total; i++) {
            Generation g = done[i];
            completion += g.tokens().length;
            ObjectNode c = choices.addObject().put("index", i);
            String finish = finishReason(g.stop());
            if (chat && tools != null) {
                ToolCallFormat.Parsed parsed = tools.parse(g.text());
                ObjectNode msg = c.putObject("message").put("role", "assistant");
                if (parsed.calls().isEmpty() || !parsed.content().isEmpty()) msg.put("content", parsed.content());
                else msg.putNull("content");
                msg.putNull("refusal");
                if (!parsed.calls().isEmpty()) {
                    ToolRequest.writeCalls(msg.putArray("tool_calls"), parsed.calls(), false);
                    finish = "tool_calls";
                }
            } else if (chat) {
                c.putObject("message").put("role", "assistant").put("content", g.text()).putNull("refusal");
            } else {
                c.put("text", echo != null ? echo.get(i / n).text() + g.text() : g.text());
            }
            if (g.logprobs().isEmpty()) c.putNull("logprobs");
            else c.set("logprobs", logprobsJson(chat, g.logprobs(), 0));
            c.put("finish_reason", finish);
        }
        ex.completionTokens = completion;
        out.set("usage", usage(ex.promptTokens, completion, done[0].cachedTokens()));
        out.set("timings", timings(done[0]));
        sendJson(ex, 200, out);
    }

    /**
     * llama-server's {@code timings} (in a response, and in each choice's last chunk of a stream): prompt tokens
     * computed (cached ones excluded) and the milliseconds from arrival in the engine to the end of the prompt, generated
     * tokens and the milliseconds after the first; plus {@code first_token_ms}, arrival in the engine to the first token,
     * which is what a client's time to first token is made of besides HTTP and JSON (a stream's last chunks add
     * {@code first_token_sent_ms}, the request's arrival in the server to its first text written to the connection:
     * the difference is what the server's HTTP and JSON added).
     */
    private static ObjectNode timings(Generation g) {
        int promptN = g.promptTokens().length - g.cachedTokens(), predictedN = g.tokens().length;
        double promptMs = g.promptTps() > 0 ? 1e3 * promptN / g.promptTps() : 0;
        double predictedMs = g.decodeTps() > 0 ? 1e3 * (predictedN - 1) / g.decodeTps() : 0;
        ObjectNode t = JSON.createObjectNode();
        t.put("cache_n", g.cachedTokens()).put("prompt_n", promptN).put("prompt_ms", promptMs)
                .put("prompt_per_token_ms", promptN > 0 ? promptMs / promptN : 0).put("prompt_per_second", g.promptTps())
                .put("predicted_n", predictedN).put("predicted_ms", predictedMs)
                .put("predicted_per_token_ms", predictedN > 1 ? predictedMs / (predictedN - 1) : 0)
                .put("predicted_per_second", g.decodeTps()).put("first_token_ms", g.ttftMs());
        return t;
    }

    private static ObjectNode usage(long prompt, long completion, int cached) {
        ObjectNode u = JSON.createObjectNode();
        u.put("prompt_tokens", prompt).put("completion_tokens", completion).put("total_tokens", prompt + completion);
        u.putObject("prompt_tokens_details").put("cached_tokens", cached);
        return u;
    }

    private void stream(Exchange ex, Run run, boolean chat, String id, long now, boolean includeUsage, List<Prompt> echo, int n,
                        ToolRequest tools) throws ClientGoneException {
        int total = run.handles.size();
        ex.response.setStatus(200);
        ex.response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        ex.response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        ex.response.getHeaders().put("X-Accel-Buffering", "no");
        ex.started = true;
        ex.sse = new SseWriter(ex.response);
        // the plain text event of each choice, rendered once (one per token: the stream's hot path)
        SseWriter.TextEvent[] textEvent = new SseWriter.TextEvent[total];
        for (int i = 0; i < total; i++) {
            int choice = i;
            textEvent[i] = SseWriter.TextEvent.of(t -> chunk(chat, id, now, includeUsage, choice, chat ? JSON.createObjectNode().put("content", t) : t, null));
        }
        for (int i = 0; i < total; i++) {
            if (chat) event(ex, chunk(chat, id, now, includeUsage, i, JSON.createObjectNode().put("role", "assistant").put("content", ""), null));
            else if (echo != null) event(ex, chunk(chat, id, now, includeUsage, i, echo.get(i / n).text(), null));
        }
        long completion = 0;
        int cached = 0;
        // log-probabilities of tokens whose text is not out yet (held back by UTF-8 or stop-string lookahead), per choice
        List<List<TokenLogprob>> pendingLp = new ArrayList<>();
        int[] textOffset = new int[total];
        for (int i = 0; i < total; i++) pendingLp.add(new ArrayList<>());
        // with tools: each choice's reply so far and how much of it went out as content (a call is sent when complete)
        StringBuilder[] reply = new StringBuilder[total];
        int[] sent = new int[total];
        for (int i = 0; i < total; i++) reply[i] = new StringBuilder();
        for (int left = total; left > 0; ) {
            Event e = run.events.poll();
            if (e == null) { // caught up: what was appended goes out before waiting for the engine
                ex.sse.flush();
                e = take(run);
            }
            if (e instanceof Piece pc) {
                List<TokenLogprob> lps = pendingLp.get(pc.choice());
                if (pc.logprob() != null) lps.add(pc.logprob());
                String text = pc.text();
                if (tools != null) {
                    StringBuilder r = reply[pc.choice()].append(text);
                    int end = Math.max(sent[pc.choice()], tools.contentEnd(r.toString()));
                    text = r.substring(sent[pc.choice()], end);
                    sent[pc.choice()] = end;
                }
                if (text.isEmpty()) continue;
                if (lps.isEmpty()) textEvent[pc.choice()].append(ex.sse, text);
                else {
                    Object delta = chat ? JSON.createObjectNode().put("content", text) : text;
                    ObjectNode o = chunk(chat, id, now, includeUsage, pc.choice(), delta, null);
                    ((ObjectNode) o.get("choices").get(0)).set("logprobs", logprobsJson(chat, lps, textOffset[pc.choice()]));
                    for (TokenLogprob lp : lps) textOffset[pc.choice()] += tokenizer.tokenText(lp.token()).length();
                    lps.clear();
                    event(ex, o);
                }
                if (ex.firstTextSent == 0) { // the time to first token does not wait for a queue that fell behind
                    ex.sse.flush();
                    ex.firstTextSent = System.nanoTime();
                }
            } else if (e instanceof Done d) {
                left--;
                if (run.gone) throw new ClientGoneException(new org.eclipse.jetty.io.EofException("the client closed the connection"));
                ApiException f = failure(d);
                if (f != null) { // mid-stream failure: an error event, then the stream ends
                    ex.status = f.status;
                    run.cancel();
                    endStream(ex, errorJson(f));
                    return;
                }
                Generation g = d.generation();
                completion += g.tokens().length;
                if (d.choice() == 0) cached = g.cachedTokens();
                String finish = finishReason(g.stop());
                if (tools != null) { // the rest of the content, then the calls, each in one delta
                    ToolCallFormat.Parsed parsed = tools.parse(reply[d.choice()].toString());
                    String out = reply[d.choice()].substring(0, sent[d.choice()]);
                    String rest = parsed.content().startsWith(out) ? parsed.content().substring(out.length()) : "";
                    if (!rest.isEmpty()) event(ex, chunk(chat, id, now, includeUsage, d.choice(), JSON.createObjectNode().put("content", rest), null));
                    if (!parsed.calls().isEmpty()) {
                        for (int k = 0; k < parsed.calls().size(); k++) {
                            ObjectNode delta = JSON.createObjectNode();
                            ArrayNode one = JSON.createArrayNode();
                            ToolRequest.writeCalls(one, parsed.calls(), true);
                            delta.putArray("tool_calls").add(one.get(k));
                            event(ex, chunk(chat, id, now, includeUsage, d.choice(), delta, null));
                        }
                        finish = "tool_calls";
                    }
                }
                ObjectNode o = chunk(chat, id, now, includeUsage, d.choice(), chat ? JSON.createObjectNode() : "", finish);
                List<TokenLogprob> lps = pendingLp.get(d.choice());
                if (!lps.isEmpty()) ((ObjectNode) o.get("choices").get(0)).set("logprobs", logprobsJson(chat, lps, textOffset[d.choice()]));
                ObjectNode t = timings(g);
                if (ex.firstTextSent != 0) t.put("first_token_sent_ms", (ex.firstTextSent - ex.arrived) / 1e6);
                o.set("timings", t);
                event(ex, o);
            }
        }
        ex.completionTokens = completion;
        if (includeUsage) {
            ObjectNode last = JSON.createObjectNode();
            last.put("id", id).put("object", chat ? "chat.completion.chunk" : "text_completion").put("created", now).put("model", config.modelId());
            last.putArray("choices");
            last.set("usage", usage(ex.promptTokens, completion, cached));
            event(ex, last);
        }
        endStream(ex, "[DONE]");
    }

    /**
     * OpenAI's logprobs object: for chat {@code {"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}};
     * for completions the legacy {@code {tokens, token_logprobs, top_logprobs, text_offset}}. A token's string is its
     * piece (U+FFFD where it holds part of a UTF-8 character; its bytes are exact).
     */
    private ObjectNode logprobsJson(boolean chat, List<TokenLogprob> lps, int offset) {
        ObjectNode o = JSON.createObjectNode();
        if (chat) {
            ArrayNode content = o.putArray("content");
            for (TokenLogprob lp : lps) {
                ObjectNode t = tokenLogprob(content.addObject(), lp.token(), lp.logprob());
                ArrayNode top = t.putArray("top_logprobs");
                for (int i = 0; i < lp.topCount(); i++) tokenLogprob(top.addObject(), lp.topToken(i), lp.topLogprob(i));
            }
            o.putNull("refusal");
            return o;
        }
        ArrayNode tokens = o.putArray("tokens"), values = o.putArray("token_logprobs"), tops = o.putArray("top_logprobs");
        ArrayNode offsets = o.putArray("text_offset");
        for (TokenLogprob lp : lps) {
            String text = tokenizer.tokenText(lp.token());
            tokens.add(text);
            values.add(lp.logprob());
            ObjectNode top = tops.addObject();
            for (int i = 0; i < lp.topCount(); i++) top.put(tokenizer.tokenText(lp.topToken(i)), lp.topLogprob(i));
            offsets.add(offset);
            offset += text.length();
        }
        return o;
    }

    private ObjectNode tokenLogprob(ObjectNode t, int token, float logprob) {
        t.put("token", tokenizer.tokenText(token)).put("logprob", logprob);
        ArrayNode bytes = t.putArray("bytes");
        for (byte b : tokenizer.tokenBytes(token)) bytes.add(b & 0xFF);
        return t;
    }

    private ObjectNode chunk(boolean chat, String id, long now, boolean includeUsage, int index, Object delta, String finish) {
        ObjectNode o = JSON.createObjectNode();
        o.put("id", id).put("object", chat ? "chat.completion.chunk" : "text_completion").put("created", now).put("model", config.modelId());
        ObjectNode c = o.putArray("choices").addObject().put("index", index);
        if (chat) c.set("delta", (ObjectNode) delta);
        else c.put("text", (String) delta);
        c.putNull("logprobs");
        if (finish == null) c.putNull("finish_reason");
        else c.put("finish_reason", finish);
        if (includeUsage) o.putNull("usage");
        return o;
    }

    private static void event(Exchange ex, ObjectNode o) {
        ex.sse.event(o);
    }

    /** The stream's last event, sent with everything still buffered, and the end of the response. */
    private static void endStream(Exchange ex, String data) throws ClientGoneException {
        ex.sse.data(data);
        ex.sse.close();
    }

    // ---------------------------------------------------------------- responses

    private void sendJson(Exchange ex, int status, JsonNode body) throws ClientGoneException {
        send(ex, status, "application/json", body.toString().getBytes(StandardCharsets.UTF_8));
    }

    private void send(Exchange ex, int status, String contentType, byte[] body) throws ClientGoneException {
        ex.status = status;
        if (ex.response == null) {
            ex.body = body;
            return;
        }
        ex.response.setStatus(status);
        ex.response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        ex.response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        try (Blocker.Callback cb = Blocker.callback()) {
            ex.response.write(true, ByteBuffer.wrap(body), cb);
            cb.block();
        } catch (IOException | RuntimeException e) {
            throw new ClientGoneException(e);
        }
    }

    private static String errorJson(ApiException e) {
        ObjectNode o = JSON.createObjectNode();
        ObjectNode err = o.putObject("error").put("message", e.getMessage()).put("type", e.type);
        if (e.code == null) err.putNull("code");
        else err.put("code", e.code);
        if (e.param == null) err.putNull("param");
        else err.put("param", e.param);
        return o.toString();
    }

    private void sendError(Exchange ex, ApiException e) throws ClientGoneException {
        if (ex.started) { // headers of a stream are out: report in the stream
            ex.status = e.status;
            endStream(ex, errorJson(e));
            return;
        }
        if (ex.response == null) {
            send(ex, e.status, "application/json", errorJson(e).getBytes(StandardCharsets.UTF_8));
            return;
        }
        if (e.status == 429) ex.response.getHeaders().put(HttpHeader.RETRY_AFTER, Integer.toString(config.retryAfterSeconds()));
        if (e.status == 401) ex.response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
        if (e.status == 503 || e.status == 413) ex.response.getHeaders().put(HttpHeader.CONNECTION, "close");
        send(ex, e.status, "application/json", errorJson(e).getBytes(StandardCharsets.UTF_8));
    }

    /** The client went away (a write failed): the request's engine work is cancelled. */
    static final class ClientGoneException extends Exception {
        ClientGoneException(Throwable cause) {
            super(cause);
        }
    }
}
