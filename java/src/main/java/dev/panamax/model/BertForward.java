package dev.panamax.model;

import dev.panamax.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The forward pass of a {@code bert} encoder, llama.cpp's graph: token + position embeddings + token type 0, LayerNorm;
 * per layer Q/K/V with biases, attention of every token over all tokens of its own sequence, output projection,
 * residual then LayerNorm (post-norm), GELU feed-forward with biases, residual then LayerNorm. Several sequences run in
 * one step: matmuls are one GEMM over all rows (on weights packed once where the kernels prefer it: F32 on x86);
 * attention is the kernels' encoder attention, every token over the rows of its own sequence, read where the
 * projections wrote them (no cache), one call per layer; K and V are rounded to F16 there, as llama.cpp's CPU flash
 * attention reads them from its F16 cache. LayerNorm (with the residual add before
 * it) and GELU (with the up projection's bias) are kernel ops, split across the kernels' threads; GELU as ggml computes
 * it: the tanh approximation through its F16 table. On packed weights the biases and GELU are the GEMM's epilogue
 * ({@link Kernels#matmulPackedEp}: the same results, no pass of their own), and Q, K and V one GEMM over the three
 * matrices packed as one (each part landing in its own buffer). Buffers for {@code maxTokens} rows are allocated once.
 */
public final class BertForward implements EmbeddingPass {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;

    private final BertWeights w;
    private final BertConfig c;
    private final Kernels k;
    private final int maxTokens, maxSeqs;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment x, xb, q, kk, vv, att, hb; // activations [maxTokens][...]
    private final MemorySegment qkv; // q, kk and vv one after the other
    private final MemorySegment ids, pos; // int32 [maxTokens]
    private final MemorySegment seqRows; // int32 [maxSeqs + 1]: the first row of each sequence, then the row count
    private final MemorySegment typeRow; // row 0 of token_types, [dim] floats, or null
    private final MemorySegment clsHidden; // [maxSeqs][dim] for the classification head, or null
    private final MemorySegment[] qkvBias; // per layer: the Q, K and V biases one after the other (zeros where absent)

    BertForward(BertWeights weights, Kernels kernels, int maxTokens, int maxSeqs) {
        if (maxTokens <= 0 || maxSeqs <= 0) throw new IllegalArgumentException("bad limits " + maxTokens + "/" + maxSeqs);
        this.w = weights;
        this.c = weights.config;
        this.k = kernels;
        this.maxTokens = maxTokens;
        this.maxSeqs = maxSeqs;
        int dim = c.dim();
        try {
            x = floats(maxTokens, dim);
            xb = floats(maxTokens, dim);
            // q, k and v one after the other: the parts of the fused Q/K/V product
            qkv = floats(3L * maxTokens, dim);
            long part = 4L * maxTokens * dim;
            q = qkv.asSlice(0, part);
            kk = qkv.asSlice(part, part);
            vv = qkv.asSlice(2 * part, part);
            qkvBias = new MemorySegment[c.nLayer()];
            for (int l = 0; l < c.nLayer(); l++) {
                BertWeights.Layer L = w.layers[l];
                qkvBias[l] = floats(3, dim); // zeroed
                Weight[] b = {L.bq(), L.bk(), L.bv()};
                for (int i = 0; i < 3; i++) if (b[i] != null) MemorySegment.copy(b[i].data(), 0, qkvBias[l], 4L * i * dim, 4L * dim);
            }
            att = floats(maxTokens, dim);
            hb = floats(maxTokens, c.ffnDim());
            ids = arena.allocate(4L * maxTokens, 64);
            pos = arena.allocate(4L * maxTokens, 64);
            seqRows = arena.allocate(4L * (maxSeqs + 1), 64);
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
        // rows, positions, and where each sequence starts
        int row = 0;
        for (int i = 0; i < seqs.size(); i++) {
            int[] s = seqs.get(i);
            seqRows.setAtIndex(I, i, row);
            for (int j = 0; j < s.length; j++, row++) {
                ids.setAtIndex(I, row, s[j]);
                pos.setAtIndex(I, row, j);
            }
        }
        seqRows.setAtIndex(I, seqs.size(), n);

        // embeddings: token + token type 0 + position, then LayerNorm
        k.getRows(w.tokenEmbd.type(), x, w.tokenEmbd.data(), w.tokenEmbd.rows(), dim, ids, n);
        if (typeRow != null) k.addRows(x, typeRow, dim, n);
        k.getRows(w.posEmbd.type(), xb, w.posEmbd.data(), w.posEmbd.rows(), dim, pos, n);
        k.add(x, x, xb, n * dim);
        k.layerNorm(x, x, null, w.embdNorm.data(), w.embdNormB.data(), dim, n, c.eps());
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (int l = 0; l < w.layers.length; l++) {
            BertWeights.Layer L = w.layers[l];
            MemorySegment qkvPacked = w.packed().fused(L.wq());
            if (qkvPacked != null) {
                k.matmulPackedEp(L.wq().type(), qkvPacked, 3 * dim, dim, x, n, qkv, dim, (long) maxTokens * dim, qkvBias[l], false);
            } else {
                linear(L.wq(), L.bq(), x, n, q, false);
                linear(L.wk(), L.bk(), x, n, kk, false);
                linear(L.wv(), L.bv(), x, n, vv, false);
            }
            k.attentionEncoder(att, q, kk, vv, seqRows, seqs.size(), c.nHead(), hd, scale);
            linear(L.wo(), L.bo(), att, n, xb, false);
            k.layerNorm(x, xb, x, L.attnNorm().data(), L.attnNormB().data(), dim, n, c.eps()); // x = norm(xb + x)
            linear(L.up(), L.bUp(), x, n, hb, true);
            linear(L.down(), L.bDown(), hb, n, xb, false);
            k.layerNorm(x, xb, x, L.outNorm().data(), L.outNormB().data(), dim, n, c.eps());
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
            linear(w.cls, w.clsB, rows, n, clsHidden, false);
            for (long i = 0, e = (long) n * dim; i < e; i++) clsHidden.setAtIndex(F, i, (float) Math.tanh(clsHidden.getAtIndex(F, i)));
            in = clsHidden;
        }
        linear(w.clsOut, w.clsOutB, in, n, out, false);
    }

    /** out = wt · in (+ bias), then GELU when asked, for n rows; on the packed copy with the epilogue when there is one. */
    private void linear(Weight wt, Weight bias, MemorySegment in, int n, MemorySegment out, boolean gelu) {
        MemorySegment p = w.packed().get(wt);
        MemorySegment b = bias != null ? bias.data() : null;
        if (p != null) {
            k.matmulPackedEp(wt.type(), p, wt.rows(), wt.cols(), in, n, out, wt.rows(), 0, b, gelu);
            return;
        }
        k.matmul(wt.type(), wt.data(), wt.rows(), wt.cols(), in, n, out);
        if (gelu) k.gelu(out, b, wt.rows(), n); // the bias added in the same pass
        else if (b != null) k.addRows(out, b, wt.rows(), n);
    }

    @Override
    public void close() {
        arena.close();
    }
}
