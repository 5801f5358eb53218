package dev.panamax;

/** A request needs more positions than the session's context (its KV cache) holds. */
public final class ContextOverflowException extends IllegalStateException {
    private final int needed;
    private final int contextLength;

    public ContextOverflowException(int needed, int contextLength) {
        super("context length exceeded: " + needed + " positions needed, the session's context holds " + contextLength
                + " (open the session with a larger context, up to the model's trained length)");
        this.needed = needed;
        this.contextLength = contextLength;
    }

    public int needed() {
        return needed;
    }

    public int contextLength() {
        return contextLength;
    }
}
