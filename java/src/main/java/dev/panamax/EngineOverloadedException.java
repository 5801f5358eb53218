package dev.panamax;

/** An {@link Engine}'s waiting queue is full: the request was not accepted (a server answers 429 or 503). */
public final class EngineOverloadedException extends RuntimeException {
    public EngineOverloadedException(String message) {
        super(message);
    }
}
