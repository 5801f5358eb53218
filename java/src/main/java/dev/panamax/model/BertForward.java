package dev.panamax.model;

import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.PagedBatch;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The forward pass of a {@code bert} encoder, llama.cpp's graph: token + position embeddings + token type 0, LayerNorm;
 * per layer Q/K/V with biases, attention of every token over all tokens of its own sequence, output projection,
 * residual then LayerNorm (post-norm), GELU feed-forward with biases, residual then LayerNorm. Several sequences run in
 * one step: matmuls are one GEMM over all rows; attention is the engine's paged kernel with each token as a one-row
 * query at its sequence's last position (so it sees every key of its sequence, and only those), one call per layer.
 * K and V are stored F16, as llama.cpp's CPU flash attention converts them. LayerNorm, GELU and tanh are computed
 * here in Java (they are a few percent of the step); GELU as ggml computes it: the tanh approximation through its F16
 * table. Buffers for {@code maxTokens} rows are allocated once.
 */
public final class BertForward implements EmbeddingPass {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;
    private static final int BLOCK = 16;
    private static final float[] GELU_F16 = geluTable();

    private final BertWeights w;
    private final BertConfig c;
    private final Kernels k;
    private final int maxTokens, maxSeqs, nBlocks;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment x, xb, q, kk, vv, att, hb; // activations [maxTokens][...]
    private final MemorySegment ids, pos, slots; // int32 [maxTokens]
    private final MemorySegment seqRows, seqPos0, tableStart, tables; // the paged batch: one pseudo-sequence per token
    private final MemorySegment kPool, vPool; // F16 [nBlocks * BLOCK][dim]
    private final MemorySegment typeRow; // row 0 of token_types, [dim] floats, or null
    private final MemorySegment clsHidden; // [maxSeqs][dim] for the classification head, or null

    BertForward(BertWeights weights, Kernels kernels, int maxTokens, int maxSeqs) {
        if (maxTokens <= 0 || maxSeqs <= 0) throw new IllegalArgumentException("bad limits " + maxTokens + "/" + maxSeqs);
        this.w = weights;
        this.c = weights.config;
        this.k = kernels;
        this.maxTokens = maxTokens;
        this.maxSeqs = maxSeqs;
        this.nBlocks = (maxTokens + BLOCK - 1) / BLOCK + maxSeqs;
        int dim = c.dim();
        try {
            x = floats(maxTokens, dim);
            xb = floats(maxTokens, dim);
            q = floats(maxTokens, dim);
            kk = floats(maxTokens, dim);
            vv = floats(maxTokens, dim);
            att = floats(maxTokens, dim);
            hb = floats(maxTokens, c.ffnDim());
            ids = arena.allocate(4L * maxTokens, 64);
            pos = arena.allocate(4L * maxTokens, 64);
            slots = arena.allocate(4L * maxTokens, 64);
            seqRows = arena.allocate(4L * (maxTokens + 1), 64);
            seqPos0 = arena.allocate(4L * maxTokens, 64);
            tableStart = arena.allocate(4L * maxTokens, 64);
            tables = arena.allocate(4L * nBlocks, 64);
            kPool = arena.allocate(2L * nBlocks * BLOCK * dim, 64);
            vPool = arena.allocate(2L * nBlocks * BLOCK * dim, 64);
            for (int i = 0; i < nBlocks; i++) tables.setAtIndex(I, i, i);
            if (w.tokenTypes != null) {
                typeRow = floats(1, dim);
                MemorySegment zero = arena.allocate(4, 64);
                k.getRows(w.tokenTypes.type(), typeRow, w.tokenTypes.data(), w.tokenTypes.rows(), dim, zero, 1);
            } else {
                typeRow = null;
            }
            clsHidden = w.cls != null ? floats(maxSeqs, dim) : null;
        } catch (RuntimeException | OutOfMemoryError e) {
            arena.close();
            if (e instanceof ArithmeticException) throw new IllegalArgumentException("activation buffers overflow for " + maxTokens + " tokens", e);
            throw e;
        }
    }

    private MemorySegment floats(long rows, long n) {
        return arena.allocate(Math.multiplyExact(Math.multiplyExact(rows, n), 4L), 64);
    }

    @Override
    public int maxTokens() {
        return maxTokens;
    }

    @Override
    public int maxSeqs() {
        return maxSeqs;
    }

    @Override
    public int width() {
        return c.dim();
    }

    @Override
    public int classes() {
        return w.classes();
    }

    @Override
    public MemorySegment run(List<int[]> seqs) {
        int n = EmbeddingPass.checkSeqs(seqs, maxTokens, maxSeqs, c.ctxTrain(), c.vocabSize());
        int dim = c.dim(), hd = c.headDim();
        // rows, positions, cache slots, and the pseudo-sequences of the attention
        int row = 0, block = 0;
        for (int[] s : seqs) {
            for (int j = 0; j < s.length; j++, row++) {
                ids.setAtIndex(I, row, s[j]);
                pos.setAtIndex(I, row, j);
                slots.setAtIndex(I, row, block * BLOCK + j);
                seqRows.setAtIndex(I, row, row);
                seqPos0.setAtIndex(I, row, s.length - 1);
                tableStart.setAtIndex(I, row, block);
            }
            block += (s.length + BLOCK - 1) / BLOCK;
        }
        seqRows.setAtIndex(I, n, n);
        PagedBatch paged = new PagedBatch(n, seqRows, seqPos0, tables, tableStart, BLOCK, nBlocks);

        // embeddings: token + token type 0 + position, then LayerNorm
        k.getRows(w.tokenEmbd.type(), x, w.tokenEmbd.data(), w.tokenEmbd.rows(), dim, ids, n);
        if (typeRow != null) k.addRows(x, typeRow, dim, n);
        k.getRows(w.posEmbd.type(), xb, w.posEmbd.data(), w.posEmbd.rows(), dim, pos, n);
        k.add(x, x, xb, n * dim);
        layerNorm(x, x, w.embdNorm, w.embdNormB, dim, n, c.eps());
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (BertWeights.Layer L : w.layers) {
            linear(L.wq(), L.bq(), x, n, q);
            linear(L.wk(), L.bk(), x, n, kk);
            linear(L.wv(), L.bv(), x, n, vv);
            k.kvStore(GgmlType.F16, kPool, slots, kk, n, dim);
            k.kvStore(GgmlType.F16, vPool, slots, vv, n, dim);
            k.attentionPaged(att, q, paged, c.nHead(), c.nHead(), hd, hd, kPool, vPool, GgmlType.F16, GgmlType.F16, scale);
            linear(L.wo(), L.bo(), att, n, xb);
            k.add(xb, xb, x, n * dim);
            layerNorm(x, xb, L.attnNorm(), L.attnNormB(), dim, n, c.eps());
            linear(L.up(), L.bUp(), x, n, hb);
            gelu(hb, (long) n * c.ffnDim());
            linear(L.down(), L.bDown(), hb, n, xb);
            k.add(xb, xb, x, n * dim);
            layerNorm(x, xb, L.outNorm(), L.outNormB(), dim, n, c.eps());
        }
        return x.asSlice(0, 4L * n * dim);
    }

    @Override
    public void classify(MemorySegment rows, int n, MemorySegment out) {
        if (w.clsOut == null) throw new IllegalStateException("this model has no classification head (cls.output.weight): it is not a reranker");
        if (n <= 0 || n > maxSeqs) throw new IllegalArgumentException(n + " rows, allowed 1.." + maxSeqs);
        int dim = c.dim();
        if (rows.byteSize() < 4L * n * dim || out.byteSize() < 4L * n * classes()) throw new IllegalArgumentException("buffers too small");
        MemorySegment in = rows;
        if (w.cls != null) { // dense + tanh (RoBERTa's classification head), then the projection to the labels
            linear(w.cls, w.clsB, rows, n, clsHidden);
            for (long i = 0, e = (long) n * dim; i < e; i++) clsHidden.setAtIndex(F, i, (float) Math.tanh(clsHidden.getAtIndex(F, i)));
            in = clsHidden;
        }
        linear(w.clsOut, w.clsOutB, in, n, out);
    }

    /** out = wt · in (+ bias) for n rows, on the packed copy when the model has one. */
    private void linear(Weight wt, Weight bias, MemorySegment in, int n, MemorySegment out) {
        MemorySegment p = w.packed().get(wt);
        if (p != null) k.matmulPacked(wt.type(), p, wt.rows(), wt.cols(), in, n, out);
        else k.matmul(wt.type(), wt.data(), wt.rows(), wt.cols(), in, n, out);
        if (bias != null) k.addRows(out, bias.data(), wt.rows(), n);
    }

    /** ggml_norm then · weight + bias, per row of n floats (mean and variance accumulated in double, as ggml). */
    static void layerNorm(MemorySegment y, MemorySegment xIn, Weight weight, Weight bias, int n, int rows, float eps) {
        MemorySegment wd = weight.data(), bd = bias.data();
        for (int r = 0; r < rows; r++) {
            long o = (long) r * n;
            double sum = 0;
            for (int i = 0; i < n; i++) sum += xIn.getAtIndex(F, o + i);
            float mean = (float) (sum / n);
            double var = 0;
            for (int i = 0; i < n; i++) {
                float d = xIn.getAtIndex(F, o + i) - mean;
                var += (double) d * d;
            }
            float s = (float) (1.0 / Math.sqrt((float) (var / n) + eps));
            for (int i = 0; i < n; i++) {
                float v = (xIn.getAtIndex(F, o + i) - mean) * s;
                y.setAtIndex(F, o + i, v * wd.getAtIndex(F, i) + bd.getAtIndex(F, i));
            }
        }
    }

    /** ggml_vec_gelu_f32 with GGML_GELU_FP16: 0 below -10, identity above 10, else the F16 table of the tanh form. */
    static void gelu(MemorySegment v, long n) {
        for (long i = 0; i < n; i++) {
            float x = v.getAtIndex(F, i);
            float y = x <= -10f ? 0f : x >= 10f ? x : GELU_F16[Float.floatToFloat16(x) & 0xFFFF];
            v.setAtIndex(F, i, y);
        }
    }

    static float geluTanh(float x) {
        final float sqrt2OverPi = 0.79788456080286535587989211986876f, coefA = 0.044715f;
        return 0.5f * x * (1.0f + (float) Math.tanh(sqrt2OverPi * x * (1.0f + coefA * x * x)));
    }

    private static float[] geluTable() {
        float[] t = new float[1 << 16];
        for (int h = 0; h < t.length; h++) {
            float f = Float.float16ToFloat((short) h);
            t[h] = Float.float16ToFloat(Float.floatToFloat16(geluTanh(f)));
        }
        return t;
    }

    @Override
    public void close() {
        arena.close();
    }
}
