package dev.panamax.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamax.server.LocalApi;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;

/**
 * One partition of an OpenAI Batch API input file: each line ({@code custom_id}, {@code method}, {@code url},
 * {@code body}) through the server's request and response mapping ({@link LocalApi}) on this executor's shared engine,
 * up to {@link GenerationSpec#inFlight()} lines at once, result lines in input order: {@code {"id", "custom_id",
 * "response": {"status_code", "request_id", "body"}, "error": null}}, or {@code "response": null} and an {@code error}
 * for a line that is not a request. A request's {@code model} is not checked (files written for another service run
 * unchanged); responses name the served model.
 */
final class BatchRequests implements FlatMapFunction<Iterator<String>, String> {
    static final ObjectMapper JSON = new ObjectMapper();

    private final GenerationSpec spec;
    private final String modelId;

    BatchRequests(GenerationSpec spec, String modelId) {
        this.spec = spec;
        this.modelId = modelId;
    }

    @Override
    public Iterator<String> call(Iterator<String> lines) {
        ExecutorEngines.Lease lease = ExecutorEngines.acquire(spec, spec.threads() > 0 ? spec.threads() : PanamaxSpark.executorCores());
        LocalApi api = new LocalApi(lease.engine(), modelId);
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor(); // each blocks on one request
        ArrayDeque<CompletableFuture<String>> pending = new ArrayDeque<>();
        Runnable close = () -> {
            threads.shutdownNow(); // interrupts the waits; a request's engine work is cancelled with the engine's lease
            api.close();
            lease.close();
        };
        TaskContext task = TaskContext.get();
        if (task != null) task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) ctx -> close.run());
        return new Iterator<>() {
            boolean done;

            private void fill() {
                while (!done && pending.size() < spec.inFlight() && lines.hasNext()) {
                    String line = lines.next();
                    if (line.isBlank()) continue;
                    pending.add(CompletableFuture.supplyAsync(() -> answer(api, line), threads));
                }
            }

            @Override
            public boolean hasNext() {
                fill();
                if (pending.isEmpty() && !done) {
                    done = true;
                    close.run();
                }
                return !pending.isEmpty();
            }

            @Override
            public String next() {
                if (!hasNext()) throw new NoSuchElementException();
                CompletableFuture<String> f = pending.removeFirst();
                fill();
                try {
                    return f.get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for a response", e);
                } catch (ExecutionException e) {
                    throw new IllegalStateException("a batch request failed unexpectedly", e.getCause());
                }
            }
        };
    }

    /** The result line of one input line. */
    static String answer(LocalApi api, String line) {
        ObjectNode out = JSON.createObjectNode();
        out.put("id", "batch_req_" + UUID.randomUUID().toString().replace("-", ""));
        JsonNode req;
        try {
            req = JSON.readTree(line);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            out.putNull("custom_id");
            return lineError(out, "invalid_json", "the line is not JSON: " + e.getOriginalMessage());
        }
        if (!req.isObject()) {
            out.putNull("custom_id");
            return lineError(out, "invalid_request", "the line must be a JSON object");
        }
        JsonNode id = req.get("custom_id");
        if (id == null || !id.isTextual()) {
            out.putNull("custom_id");
            return lineError(out, "missing_custom_id", "'custom_id' (a string) is required");
        }
        out.put("custom_id", id.asText());
        String method = req.path("method").asText("POST");
        if (!method.equals("POST")) return lineError(out, "invalid_method", "'method' must be POST, got " + method);
        String url = req.path("url").asText("");
        if (!url.equals("/v1/chat/completions") && !url.equals("/v1/completions")) {
            return lineError(out, "invalid_url", "'url' must be /v1/chat/completions or /v1/completions, got '" + url + "'");
        }
        JsonNode body = req.get("body");
        if (body == null || !body.isObject()) return lineError(out, "invalid_body", "'body' (a JSON object) is required");
        ObjectNode b = ((ObjectNode) body).deepCopy();
        b.remove("model");
        LocalApi.Reply reply = api.post(url, b);
        ObjectNode response = out.putObject("response");
        response.put("status_code", reply.status());
        response.put("request_id", out.get("id").asText());
        response.set("body", reply.body());
        out.putNull("error");
        return out.toString();
    }

    private static String lineError(ObjectNode out, String code, String message) {
        out.putNull("response");
        out.putObject("error").put("code", code).put("message", message);
        return out.toString();
    }
}
