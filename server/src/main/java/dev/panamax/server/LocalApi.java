package dev.panamax.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamax.Engine;

/**
 * The server's {@code /v1/completions} and {@code /v1/chat/completions} without HTTP: the same request validation,
 * sampling and response JSON as {@link Server}, for a caller that already holds the request body (run-batch on
 * Spark). Non-streaming only; thread-safe, each {@link #post} blocks until its response is complete. The engine stays
 * the caller's.
 */
public final class LocalApi implements AutoCloseable {
    /** What the server would answer: the HTTP status and the JSON body (a completion, or an {@code error} object). */
    public record Reply(int status, JsonNode body) {}

    private final ApiHandler handler;

    /** @param modelId the model's name in responses (and the only {@code model} a request may name) */
    public LocalApi(Engine engine, String modelId) {
        ServerConfig config = ServerConfig.defaults(modelId).withMaxChoices(128);
        this.handler = new ApiHandler(engine, config, new ServerMetrics(engine, modelId));
    }

    /** POSTs {@code body} to {@code path} ({@code /v1/completions} or {@code /v1/chat/completions}). */
    public Reply post(String path, JsonNode body) {
        return handler.post(path, body);
    }

    @Override
    public void close() {
        handler.watcher.close();
    }
}
