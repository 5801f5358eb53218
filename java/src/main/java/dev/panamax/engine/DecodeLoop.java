package dev.panamax.engine;

import dev.panamax.ContextOverflowException;
import dev.panamax.Generation;
import dev.panamax.TokenListener;
import dev.panamax.model.ModelState;
import dev.panamax.sampling.Sampler;
import dev.panamax.tokenizer.TokenStreamDecoder;
import dev.panamax.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.function.BooleanSupplier;

/**
 * The generation loop: feed the prompt in batches of the state's batch size (GEMM), then sample and feed one token at
 * a time (GEMV) until the token limit, an end-of-generation token, a full context, or cancellation. The last sampled
 * token is not fed (it would cost a forward step nobody reads); the caller keeps it as pending input for the next
 * call. Timing follows llama.cpp's meaning: prompt tokens/s over the prompt batches, decode tokens/s over the
 * single-token steps.
 */
public final class DecodeLoop {
    private DecodeLoop() {}

    /** Result plus the token that was sampled but not yet fed (-1 when none). */
    public record Outcome(Generation generation, int pendingToken) {
    }

    /**
     * @param input tokens to feed before sampling (pending token of a previous call + new prompt tokens); at least one
     * @throws ContextOverflowException when the input does not fit in the context
     */
    public static Outcome run(ModelState state, Sampler sampler, Tokenizer tokenizer, int[] input, int[] promptTokens,
                              int maxTokens, TokenListener listener, BooleanSupplier cancelled) {
        if (input.length == 0) throw new IllegalArgumentException("nothing to feed: empty prompt and no pending token");
        if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        if (state.position() + input.length > state.contextLength()) {
            throw new ContextOverflowException(state.position() + input.length, state.contextLength());
        }
        long t0 = System.nanoTime();
        for (int t : input) sampler.accept(t);
        int batch = state.maxBatch();
        for (int off = 0; off < input.length; off += batch) {
            if (cancelled.getAsBoolean()) {
                return new Outcome(new Generation(promptTokens, new int[0], "", 0, 0, 0, Generation.StopReason.CANCELLED), -1);
            }
            state.forward(input, off, Math.min(batch, input.length - off), false);
        }
        long tPrompt = System.nanoTime();
        int[] out = new int[Math.max(0, maxTokens)];
        int n = 0;
        StringBuilder text = new StringBuilder();
        TokenStreamDecoder dec = new TokenStreamDecoder(tokenizer);
        Generation.StopReason stop = Generation.StopReason.LENGTH;
        long tFirst = 0;
        int pending = -1;
        int[] one = new int[1];
        while (n < maxTokens) {
            if (cancelled.getAsBoolean()) { stop = Generation.StopReason.CANCELLED; break; }
            if (pending >= 0) {
                if (state.position() + 1 > state.contextLength()) {
                    // the last token was generated but can never enter this context: drop it from the sequence
                    stop = Generation.StopReason.CONTEXT_FULL;
                    pending = -1;
                    break;
                }
                one[0] = pending;
                state.forward(one, 0, 1, false);
                pending = -1;
            }
            int tok = sampler.sample(state.logits());
            if (n == 0) tFirst = System.nanoTime();
            if (tok == Sampler.NO_TOKEN) { stop = Generation.StopReason.NO_ALLOWED_TOKEN; break; }
            if (tokenizer.isEog(tok)) { stop = Generation.StopReason.END_OF_GENERATION; break; }
            sampler.accept(tok);
            out[n++] = tok;
            pending = tok;
            String piece = dec.push(tok);
            text.append(piece);
            if (listener != null) listener.onToken(tok, piece);
        }
        String rest = dec.flush();
        text.append(rest);
        long tEnd = System.nanoTime();
        double promptSec = (tPrompt - t0) / 1e9;
        double decodeSec = n > 1 ? (tEnd - tFirst) / 1e9 : 0;
        Generation g = new Generation(promptTokens, Arrays.copyOf(out, n), text.toString(),
                promptSec > 0 ? input.length / promptSec : 0, decodeSec > 0 ? (n - 1) / decodeSec : 0,
                n > 0 ? (tFirst - t0) / 1e6 : 0, stop, 0, null, 0, (tEnd - t0) / 1e6);
        return new Outcome(g, pending);
    }
}
