package dev.panamax;

/**
 * The outcome of one {@link Session#generate} call or one {@link Engine} request.
 *
 * @param promptTokens the tokens fed before generating (the encoded prompt)
 * @param tokens       the generated tokens (an end-of-generation token is not included)
 * @param text         the generated text
 * @param promptTps    prompt tokens per second
 * @param decodeTps    generated tokens per second after the first
 * @param ttftMs       milliseconds from the call to the first generated token
 * @param stop         why generation stopped
 * @param cachedTokens prompt tokens whose KV came from the engine's prefix cache (not computed)
 * @param logprobs     one per generated token when the request asked for them, else empty
 * @param queueMs      milliseconds from the call to the first step that computed this request (an engine's waiting
 *                     queue; 0 for a session)
 * @param totalMs      milliseconds from the call to the end (-1: not measured)
 */
public record Generation(int[] promptTokens, int[] tokens, String text, double promptTps, double decodeTps, double ttftMs,
                         StopReason stop, int cachedTokens, java.util.List<TokenLogprob> logprobs, double queueMs,
                         double totalMs) {

    public Generation {
        logprobs = logprobs == null ? java.util.List.of() : java.util.List.copyOf(logprobs);
    }

    public Generation(int[] promptTokens, int[] tokens, String text, double promptTps, double decodeTps, double ttftMs,
                      StopReason stop, int cachedTokens, java.util.List<TokenLogprob> logprobs) {
        this(promptTokens, tokens, text, promptTps, decodeTps, ttftMs, stop, cachedTokens, logprobs, 0, -1);
    }

    public Generation(int[] promptTokens, int[] tokens, String text, double promptTps, double decodeTps, double ttftMs,
                      StopReason stop, int cachedTokens) {
        this(promptTokens, tokens, text, promptTps, decodeTps, ttftMs, stop, cachedTokens, null);
    }

    public Generation(int[] promptTokens, int[] tokens, String text, double promptTps, double decodeTps, double ttftMs,
                      StopReason stop) {
        this(promptTokens, tokens, text, promptTps, decodeTps, ttftMs, stop, 0, null);
    }

    public enum StopReason {
        /** The token limit was reached. */
        LENGTH,
        /** The model produced an end-of-generation token. */
        END_OF_GENERATION,
        /** The text reached one of the request's stop strings (not included in the text). */
        STOP_STRING,
        /** The session's context is full. */
        CONTEXT_FULL,
        /** {@link Session#cancel()} or {@link RequestHandle#cancel()} was called, or the engine closed. */
        CANCELLED,
        /**
         * The request's grammar allows no token of the vocabulary here, not even end of generation (the grammar
         * needs a character no token continues with).
         */
        NO_ALLOWED_TOKEN;

        /** The name in JSON output and APIs: length, end_of_generation, stop, context_full, cancelled, no_allowed_token. */
        public String apiName() {
            return this == STOP_STRING ? "stop" : name().toLowerCase(java.util.Locale.ROOT);
        }
    }
}
