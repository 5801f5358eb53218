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
 * Use a session from one thread at a time (calls from several threads are serialized); {@link #cancel()} and
 * {@link #close()} may be called from any thread: both stop the generation in progress at the next token, and close
 * waits for it to end before freeing the session's memory.
 */
public final class Session implements AutoCloseable {

    private final Model model;
    private final Kernels kernels;
    private final ModelState state;
    private volatile boolean cancel, closing;
    private int pending = -1; // sampled by the last call, not yet in the KV cache
    private int[] held = new int[256]; // the sequence: tokens in the KV cache, then the pending token
    private int heldLength;
    private boolean closed;

    Session(Model model, ModelWeights weights, int contextLength, Model.Options o) {
        this.model = model;
        this.kernels = KernelsProvider.create(o.backend(), o.threads());
        try {
            this.state = weights.newState(kernels, contextLength, o.batchSize() > 0 ? o.batchSize() : 512, o.cacheTypeK().ggmlType(),
                    o.cacheTypeV().ggmlType());
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
     * The same generation as {@link #generate(String, int, SamplingParams, TokenListener)}, pulled as an iterator of
     * text pieces (produced on a virtual thread a few pieces ahead); close the stream to stop early.
     */
    public TokenStream stream(String prompt, int maxTokens, SamplingParams params) {
        checkOpen();
        return new TokenStream(this, prompt, maxTokens, params);
    }

    /**
     * Feeds these tokens after what the session holds, then generates up to {@code maxTokens} tokens, streaming each
     * to the listener (which may be null).
     *
     * @throws ContextOverflowException when the prompt does not fit in the context left
     */
    public synchronized Generation generate(int[] promptTokens, int maxTokens, SamplingParams params, TokenListener listener) {
        checkOpen();
        cancel = false;
        int[] input = promptTokens;
        if (pending >= 0) {
            input = new int[promptTokens.length + 1];
            input[0] = pending;
            System.arraycopy(promptTokens, 0, input, 1, promptTokens.length);
        }
        Sampler sampler = new Sampler(params, state.vocabSize(), model.tokenizer());
        DecodeLoop.Outcome o;
        try {
            o = DecodeLoop.run(state, sampler, model.tokenizer(), input, promptTokens.clone(), maxTokens, listener,
                    () -> cancel || closing);
        } catch (RuntimeException e) {
            syncHeld(promptTokens, new int[0], state.position() < heldLength ? pending : -1);
            throw e;
        }
        syncHeld(promptTokens, o.generation().tokens(), o.pendingToken());
        return o.generation();
    }

    /** The sequence is what it was, then the prompt, then the generated tokens, cut to what the cache now holds. */
    private void syncHeld(int[] prompt, int[] generated, int newPending) {
        pending = newPending;
        int n = state.position() + (pending >= 0 ? 1 : 0);
        int[] h = java.util.Arrays.copyOf(held, Math.max(held.length, heldLength + prompt.length + generated.length));
        System.arraycopy(prompt, 0, h, heldLength, prompt.length);
        System.arraycopy(generated, 0, h, heldLength + prompt.length, generated.length);
        held = h;
        heldLength = Math.min(n, heldLength + prompt.length + generated.length);
        if (heldLength != n) { // cannot happen unless the loop fed tokens it did not report: start over rather than lie
            state.truncate(0);
            pending = -1;
            heldLength = 0;
        }
    }

    /**
     * Generates after exactly this token sequence, reusing the KV cache for its longest common prefix with the
     * sequence the session holds ({@link #tokens()}): only the rest is fed. This is how a chat continues: render the
     * whole conversation, tokenize it, and call this; where the new sequence departs from the cached one (a
     * re-tokenized reply, an edited history) the cache is cut back to the common prefix.
     *
     * @param sequence the whole sequence (BOS included when wanted); at least one token
     * @return the generation; its promptTokens are the tokens that were fed (the part after the reused prefix)
     * @throws ContextOverflowException when the sequence does not fit in the context
     */
    public synchronized Generation generateFrom(int[] sequence, int maxTokens, SamplingParams params, TokenListener listener) {
        checkOpen();
        if (sequence.length == 0) throw new IllegalArgumentException("empty sequence");
        int common = 0;
        int max = Math.min(heldLength, sequence.length);
        while (common < max && held[common] == sequence[common]) common++;
        if (common == sequence.length) common--; // something must be fed to get logits
        if (common < heldLength) {
            int inCache = Math.min(common, state.position());
            state.truncate(inCache);
            pending = -1;
            heldLength = inCache;
            common = inCache;
        }
        return generate(java.util.Arrays.copyOfRange(sequence, common, sequence.length), maxTokens, params, listener);
    }

    /** The sequence the session holds: every token fed to the cache, then the last sampled token (not yet fed). */
    public int[] tokens() {
        return java.util.Arrays.copyOf(held, heldLength);
    }

    /**
     * Logits of every position of these tokens, fed from an empty sequence: [tokens.length][vocab] row-major (what
     * {@code panamax logits} writes). Leaves the tokens in the cache.
     */
    public synchronized float[] promptLogits(int[] tokens) {
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
        held = java.util.Arrays.copyOf(tokens, Math.max(tokens.length, 16));
        heldLength = tokens.length;
        return out;
    }

    /**
     * Feeds these tokens from an empty sequence and writes the logits of positions {@code from .. tokens.length-1} into
     * {@code out} ([tokens.length - from][vocab] row-major): the prompt goes through the batched (GEMM) path and the
     * positions before {@code from} skip the output head. What perplexity needs; {@code out} is reused by the caller.
     */
    public synchronized void promptLogits(int[] tokens, int from, float[] out) {
        checkOpen();
        reset();
        if (tokens.length > state.contextLength()) throw new ContextOverflowException(tokens.length, state.contextLength());
        int v = state.vocabSize();
        if (from < 0 || from >= tokens.length) throw new IllegalArgumentException("from " + from + " outside 0.." + (tokens.length - 1));
        if (out.length < (long) (tokens.length - from) * v) throw new IllegalArgumentException("out holds " + out.length + " floats, needs " + (long) (tokens.length - from) * v);
        for (int off = 0; off < tokens.length; ) {
            boolean scored = off >= from;
            int n = Math.min(state.maxBatch(), (scored ? tokens.length : from) - off);
            state.forward(tokens, off, n, scored);
            if (scored) MemorySegment.copy(state.allLogits(), ValueLayout.JAVA_FLOAT_UNALIGNED, 0, out, (off - from) * v, n * v);
            off += n;
        }
        held = java.util.Arrays.copyOf(tokens, Math.max(tokens.length, 16));
        heldLength = tokens.length;
    }

    /**
     * Sees the input of every matmul of the forward pass from now on (null: stop): how the importance matrix is
     * collected. Slows the forward pass; not for serving.
     */
    public synchronized void observeActivations(dev.panamax.model.ActivationObserver observer) {
        checkOpen();
        state.observeActivations(observer);
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
        heldLength = 0;
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

    /** Stops a generation in progress (from any thread), waits for it to end, then frees the cache and threads. */
    @Override
    public void close() {
        closing = true;
        synchronized (this) {
            closeNow();
        }
    }

    private void closeNow() {
        if (closed) return;
        closed = true;
        state.close();
        kernels.close();
        model.closed(this);
    }
}
