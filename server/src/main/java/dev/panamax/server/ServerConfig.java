package dev.panamax.server;

import java.time.Duration;
import java.util.Objects;

/**
 * How a {@link Server} listens and what it accepts.
 *
 * @param host            interface to bind (127.0.0.1 by default: nothing outside the machine reaches it)
 * @param port            TCP port (0: an ephemeral one, see {@link Server#port()})
 * @param apiKey          the bearer token every request except /health must carry (null: no authentication)
 * @param modelId         the model's name in /v1/models and the only {@code model} requests may ask for
 * @param maxBodyBytes    larger request bodies are refused with 413
 * @param maxChoices      the largest {@code n} (and prompts × n for /v1/completions)
 * @param shutdownTimeout how long {@link Server#close()} lets running requests finish before it cancels them
 * @param retryAfterSeconds the Retry-After of a 429 (the engine's queue is full)
 */
public record ServerConfig(String host, int port, String apiKey, String modelId, long maxBodyBytes, int maxChoices,
                           Duration shutdownTimeout, int retryAfterSeconds) {

    public static final long DEFAULT_MAX_BODY = 8L << 20;

    public ServerConfig {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(modelId, "modelId");
        Objects.requireNonNull(shutdownTimeout, "shutdownTimeout");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in 0..65535, got " + port);
        if (apiKey != null && apiKey.isBlank()) throw new IllegalArgumentException("the API key is blank");
        if (maxBodyBytes <= 0) throw new IllegalArgumentException("max body bytes must be positive, got " + maxBodyBytes);
        if (maxChoices <= 0) throw new IllegalArgumentException("max choices must be positive, got " + maxChoices);
        if (retryAfterSeconds < 0) throw new IllegalArgumentException("retry-after must be >= 0, got " + retryAfterSeconds);
    }

    /** 127.0.0.1:8080, no API key, 8 MiB bodies, n <= 16, 10 s to drain, Retry-After 1. */
    public static ServerConfig defaults(String modelId) {
        return new ServerConfig("127.0.0.1", 8080, null, modelId, DEFAULT_MAX_BODY, 16, Duration.ofSeconds(10), 1);
    }

    public ServerConfig withHost(String h) {
        return new ServerConfig(h, port, apiKey, modelId, maxBodyBytes, maxChoices, shutdownTimeout, retryAfterSeconds);
    }

    public ServerConfig withPort(int p) {
        return new ServerConfig(host, p, apiKey, modelId, maxBodyBytes, maxChoices, shutdownTimeout, retryAfterSeconds);
    }

    public ServerConfig withApiKey(String k) {
        return new ServerConfig(host, port, k, modelId, maxBodyBytes, maxChoices, shutdownTimeout, retryAfterSeconds);
    }

    public ServerConfig withMaxBodyBytes(long n) {
        return new ServerConfig(host, port, apiKey, modelId, n, maxChoices, shutdownTimeout, retryAfterSeconds);
    }

    public ServerConfig withMaxChoices(int n) {
        return new ServerConfig(host, port, apiKey, modelId, maxBodyBytes, n, shutdownTimeout, retryAfterSeconds);
    }

    public ServerConfig withShutdownTimeout(Duration d) {
        return new ServerConfig(host, port, apiKey, modelId, maxBodyBytes, maxChoices, d, retryAfterSeconds);
    }
}
