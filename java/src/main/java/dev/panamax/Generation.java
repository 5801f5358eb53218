package dev.panamax;

/**
 * The outcome of one {@link Session#generate} call.
 *
 * @param promptTokens the tokens fed before generating (the encoded prompt)
 * @param tokens       the generated tokens (an end-of-generation token is not included)
 * @param text         the generated text
 * @param promptTps    prompt tokens per second
 * @param decodeTps    generated tokens per second after the first
 * @param ttftMs       milliseconds from the call to the first generated token
 * @param stop         why generation stopped
 */
public record Generation(int[] promptTokens, int[] tokens, String text, double promptTps, double decodeTps, double ttftMs,
                         StopReason stop) {

    public enum StopReason {
        /** The token limit was reached. */
        LENGTH,
        /** The model produced an end-of-generation token. */
        END_OF_GENERATION,
        /** The session's context is full. */
        CONTEXT_FULL,
        /** {@link Session#cancel()} was called. */
        CANCELLED
    }
}
