package dev.panamax.embed;

import dev.panamax.kernels.Kernels;
import dev.panamax.model.EmbeddingPass;
import dev.panamax.model.ModelWeights;
import dev.panamax.tokenizer.Tokenizer;
import dev.panamax.tokenizer.Vocabulary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Embeddings and reranker scores of a loaded model: inputs are packed into steps of up to {@code maxTokens} tokens and
 * {@code maxSeqs} texts (each text whole in one step, as llama.cpp requires of non-causal models), each step one
 * forward pass of the model's {@link EmbeddingPass}, then pooled and normalized per text. Owns its kernels (one
 * native thread pool) and activation buffers, which grow once when a text is longer than a step. Thread-safe, and
 * concurrent calls share forward passes: a call that arrives while a pass runs waits in a queue, and the next pass
 * takes every waiting call with the same pooling together (one caller runs the passes for all; the others wait for
 * their rows), so many one-text requests (HTTP calls, provider calls) cost the passes of one batch.
 */
public final class Embedder implements AutoCloseable {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final ModelWeights weights;
    private final Tokenizer tokenizer;
    private final Kernels kernels;
    private final Pooling filePooling;
    private final String rerankTemplate;
    private final int maxSeqs;
    private EmbeddingPass pass;
    private int maxTokens;
    private boolean closed;

    /** A call waiting for its rows: the queue of calls that the running caller takes into its next passes. */
    private static final class Call {
        final List<int[]> inputs;
        final Pooling pooling;
        final boolean normalize;
        List<Embedding> result;
        RuntimeException failure;
        boolean done;

        Call(List<int[]> inputs, Pooling pooling, boolean normalize) {
            this.inputs = inputs;
            this.pooling = pooling;
            this.normalize = normalize;
        }
    }

    private final Object queueLock = new Object();
    private final java.util.ArrayDeque<Call> waiting = new java.util.ArrayDeque<>();
    private boolean running; // a caller is running passes (under queueLock)
    private final java.util.concurrent.atomic.AtomicLong passes = new java.util.concurrent.atomic.AtomicLong();

    /**
     * @param weights        the model (whose embedding pass this runs)
     * @param tokenizer      its tokenizer
     * @param kernels        kernels the embedder owns and closes
     * @param filePooling    the file's pooling_type (the default of every call)
     * @param rerankTemplate the file's {@code tokenizer.chat_template.rerank} ({query}/{document} placeholders) or null
     * @param maxTokens      tokens per step (grows to the longest text)
     * @param maxSeqs        texts per step
     */
    public Embedder(ModelWeights weights, Tokenizer tokenizer, Kernels kernels, Pooling filePooling, String rerankTemplate,
                    int maxTokens, int maxSeqs) {
        if (maxTokens <= 0 || maxSeqs <= 0) throw new IllegalArgumentException("bad limits " + maxTokens + "/" + maxSeqs);
        this.weights = weights;
        this.tokenizer = tokenizer;
        this.kernels = kernels;
        this.filePooling = Objects.requireNonNull(filePooling);
        this.rerankTemplate = rerankTemplate;
        this.maxTokens = maxTokens;
        this.maxSeqs = maxSeqs;
    }

    /** Threads of the embedder's kernels. */
    public int threads() {
        return kernels.threads();
    }

    /** Which kernels compute ("native/avx512", ...). */
    public String kernelsName() {
        return kernels.name();
    }

    /** The file's pooling. */
    public Pooling pooling() {
        return filePooling;
    }

    /** Whether the model has a classification head (a reranker). */
    public synchronized boolean hasClassifier() {
        return pass().classes() > 0;
    }

    /** Floats of an embedding (embedding_length). */
    public synchronized int width() {
        return pass().width();
    }

    /** A text's tokens as llama.cpp's embedding tools take them: {@code llama_tokenize(add_special, parse_special)}. */
    public int[] tokenize(String text) {
        return tokenizer.encode(text, true, true);
    }

    /**
     * A (query, document) pair as llama-server's rerank lays it out: the model's rerank template when it has one
     * (tokenized with special tokens parsed), else [BOS] query [EOS] [SEP] document [EOS], each special token only where
     * the vocabulary adds it (a WordPiece vocabulary: [CLS] query [SEP] document).
     */
    public int[] pairTokens(String query, String document) {
        if (rerankTemplate != null) {
            String t = rerankTemplate.replace("{query}", query).replace("{document}", document);
            return tokenizer.encode(t, false, true);
        }
        int eos = tokenizer.eos() != Vocabulary.NONE ? tokenizer.eos() : tokenizer.sep();
        int[] q = tokenizer.encode(query, false, false), d = tokenizer.encode(document, false, false);
        int[] out = new int[q.length + d.length + 4];
        int n = 0;
        if (tokenizer.addsBos()) out[n++] = tokenizer.bos();
        for (int id : q) out[n++] = id;
        if (tokenizer.addsEos()) out[n++] = eos;
        if (tokenizer.addsSep()) out[n++] = tokenizer.sep();
        for (int id : d) out[n++] = id;
        if (tokenizer.addsEos()) out[n++] = eos;
        return java.util.Arrays.copyOf(out, n);
    }

    /** {@link #embedTokens} of the tokenized texts. */
    public List<Embedding> embed(List<String> texts, Pooling pooling, boolean normalize) {
        List<int[]> toks = new ArrayList<>(texts.size());
        for (String t : texts) toks.add(tokenize(Objects.requireNonNull(t, "text")));
        return embedTokens(toks, pooling, normalize);
    }

    /**
     * Reranker scores of each document for the query (the classification head's first label, not normalized).
     *
     * @throws IllegalStateException when the model has no classification head
     */
    public float[] rerank(String query, List<String> documents) {
        List<int[]> toks = new ArrayList<>(documents.size());
        for (String d : documents) toks.add(pairTokens(query, Objects.requireNonNull(d, "document")));
        List<Embedding> e = embedTokens(toks, Pooling.RANK, false);
        float[] s = new float[e.size()];
        for (int i = 0; i < s.length; i++) s[i] = e.get(i).score();
        return s;
    }

    /**
     * Embeddings of token sequences.
     *
     * @param pooling   null for the file's
     * @param normalize to unit Euclidean length (llama.cpp's default; never for RANK scores)
     * @throws IllegalArgumentException for an empty input, a token outside the vocabulary, an input longer than the
     *                                  model's context
     * @throws IllegalStateException    for RANK pooling on a model without a classification head
     */
    public List<Embedding> embedTokens(List<int[]> inputs, Pooling pooling, boolean normalize) {
        Call me = new Call(List.copyOf(inputs), pooling == null ? filePooling : pooling, normalize);
        boolean interrupted = false;
        synchronized (queueLock) {
            waiting.add(me);
            while (running && !me.done) {
                try {
                    queueLock.wait();
                } catch (InterruptedException e) {
                    if (waiting.remove(me)) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("interrupted while waiting for the embedder", e);
                    }
                    interrupted = true; // already in a running pass: wait for its rows
                }
            }
            if (!me.done) running = true; // no one runs passes: run the waiting calls, mine first
        }
        if (interrupted) Thread.currentThread().interrupt();
        if (me.done) return result(me);
        try {
            while (!me.done) {
                List<Call> batch = new ArrayList<>();
                synchronized (queueLock) {
                    Call first = waiting.poll();
                    batch.add(first);
                    for (java.util.Iterator<Call> it = waiting.iterator(); it.hasNext(); ) {
                        Call c = it.next();
                        if (c.pooling == first.pooling && c.normalize == first.normalize) {
                            batch.add(c);
                            it.remove();
                        }
                    }
                }
                try {
                    runTogether(batch);
                } catch (Throwable t) { // an Error: no caller of the batch waits forever
                    for (Call c : batch) if (!c.done) c.failure = new IllegalStateException("embedding failed", t);
                    markDone(batch);
                    throw t;
                }
            }
        } finally {
            synchronized (queueLock) { // hand over: a waiting caller runs the next passes
                running = false;
                queueLock.notifyAll();
            }
        }
        return result(me);
    }

    private static List<Embedding> result(Call c) {
        if (c.failure != null) throw c.failure;
        return c.result;
    }

    /** Forward passes run so far (concurrent calls share them). */
    public long passes() {
        return passes.get();
    }

    /** The calls of one batch in shared passes; a failing batch is rerun call by call so each gets its own error. */
    private void runTogether(List<Call> batch) {
        if (batch.size() > 1) {
            List<int[]> all = new ArrayList<>();
            for (Call c : batch) all.addAll(c.inputs);
            try {
                List<Embedding> out = run(all, batch.get(0).pooling, batch.get(0).normalize);
                int at = 0;
                for (Call c : batch) {
                    c.result = new ArrayList<>(out.subList(at, at + c.inputs.size()));
                    at += c.inputs.size();
                }
                markDone(batch);
                return;
            } catch (RuntimeException e) {
                // fall through: one by one
            }
        }
        for (Call c : batch) {
            try {
                c.result = run(c.inputs, c.pooling, c.normalize);
            } catch (RuntimeException e) {
                c.failure = e;
            }
        }
        markDone(batch);
    }

    private void markDone(List<Call> batch) {
        synchronized (queueLock) {
            for (Call c : batch) c.done = true;
            queueLock.notifyAll();
        }
    }

    private synchronized List<Embedding> run(List<int[]> inputs, Pooling p, boolean normalize) {
        if (closed) throw new IllegalStateException("embedder is closed");
        int longest = 0;
        for (int[] in : inputs) {
            if (in.length == 0) throw new IllegalArgumentException("an empty input has no embedding");
            if (in.length > weights.trainedContextLength()) {
                throw new IllegalArgumentException("an input of " + in.length + " tokens exceeds the model's context of " + weights.trainedContextLength());
            }
            longest = Math.max(longest, in.length);
        }
        if (longest > maxTokens) { // a text is never split: grow the step to hold it
            maxTokens = (longest + 15) / 16 * 16;
            if (pass != null) {
                pass.close();
                pass = null;
            }
        }
        EmbeddingPass ep = pass();
        if (p == Pooling.RANK && ep.classes() == 0) {
            throw new IllegalStateException("rank pooling needs a reranker: " + weights.arch() + " model without a classification head (cls.output.weight)");
        }
        List<Embedding> out = new ArrayList<>(inputs.size());
        int i = 0;
        while (i < inputs.size()) {
            int j = i, tokens = 0;
            while (j < inputs.size() && j - i < maxSeqs && tokens + inputs.get(j).length <= ep.maxTokens()) tokens += inputs.get(j++).length;
            List<int[]> step = inputs.subList(i, j);
            MemorySegment h = ep.run(step);
            passes.incrementAndGet();
            pool(ep, step, h, p, normalize, out);
            i = j;
        }
        return out;
    }

    private void pool(EmbeddingPass ep, List<int[]> step, MemorySegment h, Pooling p, boolean normalize, List<Embedding> out) {
        int dim = ep.width(), row = 0;
        float[][] pooled = new float[step.size()][];
        for (int s = 0; s < step.size(); s++) {
            int n = step.get(s).length;
            switch (p) {
                case NONE -> {
                    float[][] rows = new float[n][];
                    for (int t = 0; t < n; t++) rows[t] = finish(readRow(h, row + t, dim), normalize);
                    out.add(new Embedding(step.get(s).clone(), rows));
                }
                case MEAN -> {
                    double[] acc = new double[dim];
                    for (int t = 0; t < n; t++) for (int d = 0; d < dim; d++) acc[d] += h.getAtIndex(F, (long) (row + t) * dim + d);
                    float[] v = new float[dim];
                    for (int d = 0; d < dim; d++) v[d] = (float) (acc[d] / n);
                    pooled[s] = v;
                }
                case CLS, RANK -> pooled[s] = readRow(h, row, dim);
                case LAST -> pooled[s] = readRow(h, row + n - 1, dim);
            }
            row += n;
        }
        if (p == Pooling.NONE) return;
        if (p == Pooling.RANK) {
            int nc = ep.classes();
            try (Arena a = Arena.ofConfined()) {
                MemorySegment in = a.allocate(4L * step.size() * dim, 64), sc = a.allocate(4L * step.size() * nc, 64);
                for (int s = 0; s < step.size(); s++) MemorySegment.copy(pooled[s], 0, in, F, 4L * s * dim, dim);
                ep.classify(in, step.size(), sc);
                for (int s = 0; s < step.size(); s++) {
                    float[] v = new float[nc];
                    MemorySegment.copy(sc, F, 4L * s * nc, v, 0, nc);
                    out.add(new Embedding(step.get(s).clone(), new float[][] {v}));
                }
            }
            return;
        }
        for (int s = 0; s < step.size(); s++) out.add(new Embedding(step.get(s).clone(), new float[][] {finish(pooled[s], normalize)}));
    }

    private static float[] readRow(MemorySegment h, int row, int dim) {
        float[] v = new float[dim];
        MemorySegment.copy(h, F, 4L * row * dim, v, 0, dim);
        return v;
    }

    /** llama.cpp's common_embd_normalize with embd_norm 2 (Euclidean; a zero vector stays zero). */
    private static float[] finish(float[] v, boolean normalize) {
        if (!normalize) return v;
        double sum = 0;
        for (float x : v) sum += (double) x * x;
        float s = sum > 0 ? (float) (1.0 / Math.sqrt(sum)) : 0f;
        for (int i = 0; i < v.length; i++) v[i] *= s;
        return v;
    }

    private EmbeddingPass pass() {
        if (closed) throw new IllegalStateException("embedder is closed");
        if (pass == null) pass = EmbeddingPass.create(weights, kernels, maxTokens, maxSeqs);
        return pass;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        if (pass != null) pass.close();
        kernels.close();
    }
}
