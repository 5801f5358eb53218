package dev.panamax;

import dev.panamax.engine.DecodeLoop;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.model.ModelState;
import dev.panamax.model.ModelWeights;
import dev.panamax.sampling.Sampler;
import dev.panamax.sampling.SamplingParams;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One conversation with a {@link Model}: its own KV cache and kernels (thread pool, scratch), allocated when opened.
 * Successive {@link #generate} calls continue the sequence (the cache is reused); {@link #reset()} starts over.
 * Not thread-safe: use a session from one thread at a time; only {@link #cancel()} may be called from any thread,
 * and it stops the generation in progress at the next token. Close it to free its memory.
 */
public final class Session implements AutoCloseable {

    private final Model model;
    private final Kernels kernels;
    private final ModelState state;
    private volatile boolean cancel;
    private int pending = -1; // sampled by the last call, not yet in the KV cache
    private boolean closed;

    Session(Model model, ModelWeights weights, int contextLength, Model.Options o) {
        this.model = model;
        this.kernels = KernelsProvider.create(o.backend(), o.threads());
        try {
            this.state = weights.newState(kernels, contextLength, o.batchSize() > 0 ? o.batchSize() : 512, o.kvType());
        } catch (RuntimeException e) {
            kernels.close();
            throw e;
        }
    }

    /** Encodes the prompt (BOS as the model asks, only when the session is empty) and generates. */
    public Generation generate(String prompt, int maxTokens, SamplingParams params, TokenListener listener) {
        int[] ids = state.position() == 0 && pending < 0 ? model.tokenizer().encode(prompt)
                : model.tokenizer().encode(prompt, false);
        return generate(ids, maxTokens, params, listener);
    }

    /**
     * Feeds these tokens after what the session holds, then generates up to {@code maxTokens} tokens, streaming each
     * to the listener (which may be null).
     *
     * @throws ContextOverflowException when the prompt does not fit in the context left
     */
    public Generation generate(int[] promptTokens, int maxTokens, SamplingParams params, TokenListener listener) {
        checkOpen();
        cancel = false;
        int[] input = promptTokens;
        if (pending >= 0) {
            input = new int[promptTokens.length + 1];
            input[0] = pending;
            System.arraycopy(promptTokens, 0, input, 1, promptTokens.length);
        }
        Sampler sampler = new Sampler(params, state.vocabSize());
        DecodeLoop.Outcome o = DecodeLoop.run(state, sampler, model.tokenizer(), input, promptTokens.clone(), maxTokens,
                listener, () -> cancel);
        pending = o.pendingToken();
        return o.generation();
    }

    /**
     * Logits of every position of these tokens, fed from an empty sequence: [tokens.length][vocab] row-major (what
     * {@code panamax logits} writes). Leaves the tokens in the cache.
     */
    public float[] promptLogits(int[] tokens) {
        checkOpen();
        reset();
        if (tokens.length > state.contextLength()) throw new ContextOverflowException(tokens.length, state.contextLength());
        int v = state.vocabSize();
        float[] out = new float[Math.multiplyExact(tokens.length, v)];
        for (int off = 0; off < tokens.length; off += state.maxBatch()) {
            int n = Math.min(state.maxBatch(), tokens.length - off);
            state.forward(tokens, off, n, true);
            MemorySegment.copy(state.allLogits(), ValueLayout.JAVA_FLOAT_UNALIGNED, 0, out, off * v, n * v);
        }
        return out;
    }

    /** Stops the generation in progress (from any thread). */
    public void cancel() {
        cancel = true;
    }

    /** Empties the KV cache: the next generate starts a new sequence. */
    public void reset() {
        checkOpen();
        state.truncate(0);
        pending = -1;
    }

    /** Positions used in the context (the pending sampled token included). */
    public int position() {
        return state.position() + (pending >= 0 ? 1 : 0);
    }

    public int contextLength() {
        return state.contextLength();
    }

    /** Which kernels run this session ("native/avx512", "java/vector256", ...). */
    public String kernelsName() {
        return kernels.name();
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("session is closed");
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        state.close();
        kernels.close();
        model.closed(this);
    }
}
