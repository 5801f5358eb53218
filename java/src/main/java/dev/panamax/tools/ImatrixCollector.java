package dev.panamax.tools;

import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.model.ActivationObserver;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * The importance matrix as llama.cpp's {@code llama-imatrix} computes it: the text in chunks of {@code nCtx} tokens
 * (first token replaced by BOS, every position run, prompt batches through the GEMM path), and for every matmul of a
 * {@code blk.*} weight the per-column sum of squared inputs and the number of rows summed; stacked expert weights
 * count per expert, over the tokens routed to it. Plain matmuls of fewer than 16 rows are skipped, as llama.cpp does.
 * Sums are kept in double (llama.cpp: float).
 */
public final class ImatrixCollector implements ActivationObserver {

    private final Map<String, double[]> sums = new HashMap<>();
    private final Map<String, long[]> counts = new HashMap<>();
    private final Map<String, Integer> cols = new HashMap<>();

    @Override
    public void matmul(String weight, int matrix, int nMatrices, MemorySegment in, int n, int nCols) {
        if (!weight.startsWith("blk.")) return;
        if (nMatrices == 1 && n < 16) return;
        double[] s = sums.computeIfAbsent(weight, k -> new double[nCols * nMatrices]);
        long[] c = counts.computeIfAbsent(weight, k -> new long[nMatrices]);
        Integer known = cols.putIfAbsent(weight, nCols);
        if (known != null && known != nCols || c.length != nMatrices) {
            throw new IllegalStateException("inconsistent shape for " + weight);
        }
        int base = matrix * nCols;
        for (int r = 0; r < n; r++) {
            long row = (long) r * nCols;
            for (int j = 0; j < nCols; j++) {
                double x = in.getAtIndex(ValueLayout.JAVA_FLOAT, row + j);
                s[base + j] += x * x;
            }
        }
        c[matrix] += n;
    }

    /** What was collected, as an {@link Imatrix} (chunk_count = most rows seen by one matrix / chunkSize). */
    public Imatrix result(List<String> datasets, int chunkSize) {
        Map<String, Imatrix.Entry> e = new HashMap<>();
        long maxCount = 0;
        for (var me : sums.entrySet()) {
            long[] c = counts.get(me.getKey());
            for (long x : c) maxCount = Math.max(maxCount, x);
            e.put(me.getKey(), new Imatrix.Entry(cols.get(me.getKey()), me.getValue().clone(), c.clone()));
        }
        return new Imatrix(e, datasets, (int) (maxCount / chunkSize), chunkSize, null);
    }

    /**
     * The calibration pass that tools share (the importance matrix, {@link Pruner}'s statistics): the tokens in chunks of
     * {@code nCtx} (first token replaced by BOS when the model adds one), every position run through the prompt (GEMM)
     * path with {@code observer} watching, logits only for the last 16 positions of a chunk (that batch still has the 16
     * rows llama.cpp's imatrix filter wants).
     *
     * @param maxChunks at most this many chunks (<= 0: all of the tokens / nCtx)
     * @return the number of chunks run
     */
    static int calibrate(Model model, int[] tokens, int nCtx, int maxChunks, ActivationObserver observer, IntConsumer onChunk) {
        int nChunk = tokens.length / nCtx;
        if (maxChunks > 0) nChunk = Math.min(nChunk, maxChunks);
        Integer bos = model.tokenizer().addsBos() ? model.tokenizer().bos() : null;
        int from = Math.max(0, nCtx - 16);
        float[] logits = new float[(nCtx - from) * model.vocabSize()];
        try (Session s = model.newSession(nCtx)) {
            s.observeActivations(observer);
            int[] chunk = new int[nCtx];
            for (int i = 0; i < nChunk; i++) {
                System.arraycopy(tokens, i * nCtx, chunk, 0, nCtx);
                if (bos != null) chunk[0] = bos;
                s.promptLogits(chunk, from, logits);
                onChunk.accept(i + 1);
            }
        }
        return nChunk;
    }

    /**
     * Runs the model over at most {@code maxChunks} chunks (<= 0: all) of the tokens and returns the matrix.
     *
     * @param onChunk told the number of each chunk done
     */
    public static Imatrix collect(Model model, int[] tokens, int nCtx, int maxChunks, String dataset, IntConsumer onChunk) {
        if (tokens.length < 2 * nCtx) {
            throw new IllegalArgumentException("need at least " + 2 * nCtx + " tokens for a context of " + nCtx + "; the text has " + tokens.length);
        }
        ImatrixCollector c = new ImatrixCollector();
        if (nCtx < 32) throw new IllegalArgumentException("context of " + nCtx + " tokens is too small for an importance matrix (>= 32)");
        calibrate(model, tokens, nCtx, maxChunks, c, onChunk);
        return c.result(dataset == null ? List.of() : List.of(dataset), nCtx);
    }
}
