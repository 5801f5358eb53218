package dev.panamax.kernels;

import dev.panamax.Backend;

import dev.panamax.ffi.PanamaxNative;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * {@link Kernels} on the C core: one downcall per operation, spread over a native thread pool this instance
 * owns. Every argument is checked here first ({@link Checks}); the scratch memory for quantized activations
 * is allocated here, in Java, and grown on demand.
 */
public final class NativeKernels implements Kernels {
    private final MemorySegment pool;
    private final int threads;
    private Arena scratchArena = Arena.ofShared();
    private MemorySegment scratch = MemorySegment.NULL;
    private boolean closed;

    /** @param threads worker threads for each operation (including the caller's); <= 0 means one per CPU */
    public NativeKernels(int threads) {
        NativeCore.ensureLoaded();
        MemorySegment p = PanamaxNative.pmx_pool_create(threads);
        if (p.equals(MemorySegment.NULL)) throw new IllegalStateException("cannot start " + threads + " native threads");
        this.pool = p;
        this.threads = PanamaxNative.pmx_pool_size(p);
    }

    @Override
    public String name() {
        return "native/" + NativeCore.activeIsa().id();
    }

    @Override
    public Backend backend() {
        return Backend.NATIVE;
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public void quantize(GgmlType type, MemorySegment dst, MemorySegment src, int rows, int n) {
        Checks.quantRows(type, dst, src, rows, n);
        offHeap(dst, src);
        Status.check(PanamaxNative.pmx_quantize(type.id(), dst, src, rows, n), "pmx_quantize");
    }

    @Override
    public void dequantize(GgmlType type, MemorySegment dst, MemorySegment src, int rows, int n) {
        Checks.quantRows(type, src, dst, rows, n);
        offHeap(dst, src);
        Status.check(PanamaxNative.pmx_dequantize(type.id(), dst, src, rows, n), "pmx_dequantize");
    }

    @Override
    public void getRows(GgmlType type, MemorySegment dst, MemorySegment src, int nRows, int nCols, MemorySegment ids, int n) {
        Checks.getRows(type, dst, src, nRows, nCols, ids, n);
        offHeap(dst, src, ids);
        Status.check(PanamaxNative.pmx_get_rows(type.id(), dst, src, ids, n, nCols), "pmx_get_rows");
    }

    @Override
    public void matmul(GgmlType type, MemorySegment w, int nRows, int nCols, MemorySegment x, int batch, MemorySegment y) {
        Checks.matmul(type, w, nRows, nCols, x, batch, y);
        offHeap(w, x, y);
        long need = PanamaxNative.pmx_matmul_scratch_bytes(type.id(), nCols, batch);
        MemorySegment s = scratch(need);
        Status.check(PanamaxNative.pmx_matmul(live(), type.id(), w, nRows, nCols, x, batch, y, s, s.byteSize()), "pmx_matmul");
    }

    @Override
    public long packedBytes(GgmlType type, int nRows, int nCols) {
        Checks.type(type, "weight");
        if (PanamaxNative.pmx_pack_preferred(type.id()) == 0) return 0;
        return PanamaxNative.pmx_pack_bytes(type.id(), nRows, nCols);
    }

    @Override
    public void pack(GgmlType type, MemorySegment dst, MemorySegment w, int nRows, int nCols) {
        Checks.packed(type, dst, nRows, nCols);
        Checks.bytes(w, Math.multiplyExact(type.rowBytes(nCols), (long) nRows), "W");
        offHeap(dst, w);
        Status.check(PanamaxNative.pmx_pack(live(), type.id(), dst, w, nRows, nCols), "pmx_pack");
    }

    @Override
    public void matmulPacked(GgmlType type, MemorySegment wp, int nRows, int nCols, MemorySegment x, int batch, MemorySegment y) {
        Checks.matmul(type, wp, nRows, nCols, x, batch, y);
        Checks.packed(type, wp, nRows, nCols);
        offHeap(wp, x, y);
        MemorySegment s = scratch(PanamaxNative.pmx_matmul_packed_scratch_bytes(type.id(), nCols, batch));
        Status.check(PanamaxNative.pmx_matmul_packed(live(), type.id(), wp, nRows, nCols, x, batch, y, s, s.byteSize()),
                "pmx_matmul_packed");
    }

    @Override
    public void matmulPackedEp(GgmlType type, MemorySegment wp, int nRows, int nCols, MemorySegment x, int batch, MemorySegment y,
                               int partRows, long partStride, MemorySegment bias, boolean gelu) {
        Checks.matmulPackedEp(nRows, batch, y, partRows, partStride, bias);
        Checks.packed(type, wp, nRows, nCols);
        Checks.floats(x, (long) batch * nCols, "x");
        MemorySegment b = bias == null ? MemorySegment.NULL : bias;
        offHeap(wp, x, y, b);
        MemorySegment s = scratch(PanamaxNative.pmx_matmul_packed_scratch_bytes(type.id(), nCols, batch));
        Status.check(PanamaxNative.pmx_matmul_packed_ep(live(), type.id(), wp, nRows, nCols, x, batch, y, partRows, partStride, b,
                gelu ? PanamaxNative.PMX_ACT_GELU() : PanamaxNative.PMX_ACT_NONE(), s, s.byteSize()), "pmx_matmul_packed_ep");
    }

    @Override
    public void releasePages(MemorySegment w) {
        offHeap(w);
        Status.check(PanamaxNative.pmx_release_pages(w, w.byteSize()), "pmx_release_pages");
    }

    @Override
    public void matmulStacked(GgmlType type, MemorySegment w, int nMat, int rows, int cols, long wMatBytes, MemorySegment x,
                              int nTok, int xTokStride, int xMatStride, MemorySegment y, int yTokStride, int yMatStride) {
        Checks.matmulStacked(type, w, nMat, rows, cols, wMatBytes, x, nTok, xTokStride, xMatStride, y, yTokStride, yMatStride);
        offHeap(w, x, y);
        // the C core keeps its activation scratch in the pool, as for pmx_moe_ffn
        Status.check(PanamaxNative.pmx_matmul_stacked(live(), type.id(), w, nMat, rows, cols, wMatBytes, x, nTok,
                xTokStride, xMatStride, y, yTokStride, yMatStride), "pmx_matmul_stacked");
    }

    @Override
    public void rmsnorm(MemorySegment y, MemorySegment x, MemorySegment w, int n, int rows, float eps) {
        Checks.rmsnorm(y, x, w, n, rows, eps);
        offHeap(y, x, w);
        Status.check(PanamaxNative.pmx_rmsnorm_f32(live(), y, x, w, n, rows, eps), "pmx_rmsnorm_f32");
    }

    @Override
    public void softmax(MemorySegment x, int n, int rows) {
        Checks.softmax(x, n, rows);
        offHeap(x);
        Status.check(PanamaxNative.pmx_softmax_f32(live(), x, n, rows), "pmx_softmax_f32");
    }

    @Override
    public void siluMul(MemorySegment y, MemorySegment g, MemorySegment u, int n) {
        Checks.elementwise(y, g, u, n);
        offHeap(y, g, u);
        Status.check(PanamaxNative.pmx_silu_mul_f32(live(), y, g, u, n), "pmx_silu_mul_f32");
    }

    @Override
    public void add(MemorySegment y, MemorySegment a, MemorySegment b, int n) {
        Checks.elementwise(y, a, b, n);
        offHeap(y, a, b);
        Status.check(PanamaxNative.pmx_add_f32(live(), y, a, b, n), "pmx_add_f32");
    }

    @Override
    public int argmax(MemorySegment x, int n) {
        Checks.positive(n, "n");
        Checks.floats(x, n, "x");
        offHeap(x);
        return (int) PanamaxNative.pmx_argmax_f32(x, n);
    }

    @Override
    public void topk(MemorySegment x, int n, int k, MemorySegment idx, MemorySegment val) {
        Checks.topk(x, n, k, idx, val);
        offHeap(x, idx, val);
        Status.check(PanamaxNative.pmx_topk_f32(x, n, k, idx, val), "pmx_topk_f32");
    }

    @Override
    public void rope(MemorySegment x, int nTokens, int nHeads, int headDim, int nRot, MemorySegment pos, RopeConfig r,
                     MemorySegment freqFactors) {
        Checks.rope(x, nTokens, nHeads, headDim, nRot, pos, r, freqFactors);
        offHeap(x, pos);
        if (freqFactors != null) offHeap(freqFactors);
        Status.check(PanamaxNative.pmx_rope_f32(live(), x, nTokens, nHeads, headDim, nRot, pos,
                r.neox() ? PanamaxNative.PMX_ROPE_NEOX() : PanamaxNative.PMX_ROPE_NORMAL(), r.freqBase(), r.freqScale(),
                r.extFactor(), r.attnFactor(), r.betaFast(), r.betaSlow(), r.nCtxOrig(),
                freqFactors == null ? MemorySegment.NULL : freqFactors), "pmx_rope_f32");
    }

    @Override
    public void attention(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int nKvHead, int headDim,
                          int headDimV, MemorySegment k, MemorySegment v, GgmlType kType, GgmlType vType, int nKv,
                          float scale) {
        Checks.attention(out, q, nQ, pos0, nHead, nKvHead, headDim, headDimV, k, v, kType, vType, nKv, scale);
        blockHeads(kType, headDim, vType, headDimV);
        offHeap(out, q, k, v);
        Status.check(PanamaxNative.pmx_attention(live(), out, q, nQ, pos0, nHead, nKvHead, headDim, headDimV, k, v,
                kType.id(), vType.id(), nKv, scale), "pmx_attention");
    }

    @Override
    public void attentionMla(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int kvLora, int nRope,
                             MemorySegment cache, GgmlType kvType, int nKv, float scale) {
        Checks.attentionMla(out, q, nQ, pos0, nHead, kvLora, nRope, cache, kvType, nKv, scale);
        blockHeads(kvType, kvLora + nRope, kvType, kvLora);
        offHeap(out, q, cache);
        Status.check(PanamaxNative.pmx_attention_mla(live(), out, q, nQ, pos0, nHead, kvLora, nRope, cache,
                kvType.id(), nKv, scale), "pmx_attention_mla");
    }

    @Override
    public void attentionPaged(MemorySegment out, MemorySegment q, PagedBatch b, int nHead, int nKvHead, int headDim,
                               int headDimV, MemorySegment k, MemorySegment v, GgmlType kType, GgmlType vType,
                               float scale) {
        Checks.attentionPaged(out, q, b, nHead, nKvHead, headDim, headDimV, k, v, kType, vType, scale);
        blockHeads(kType, headDim, vType, headDimV);
        offHeap(out, q, k, v);
        offHeap(b.seqRows(), b.seqPos0(), b.tables(), b.tableStart());
        Status.check(PanamaxNative.pmx_attention_paged(live(), out, q, b.nSeq(), b.seqRows(), b.seqPos0(), b.tables(),
                b.tableStart(), b.blockSize(), nHead, nKvHead, headDim, headDimV, k, v, kType.id(), vType.id(), scale),
                "pmx_attention_paged");
    }

    @Override
    public void attentionMlaPaged(MemorySegment out, MemorySegment q, PagedBatch b, int nHead, int kvLora, int nRope,
                                  MemorySegment cache, GgmlType kvType, float scale) {
        Checks.attentionMlaPaged(out, q, b, nHead, kvLora, nRope, cache, kvType, scale);
        blockHeads(kvType, kvLora + nRope, kvType, kvLora);
        offHeap(out, q, cache, b.seqRows());
        offHeap(b.seqPos0(), b.tables(), b.tableStart());
        Status.check(PanamaxNative.pmx_attention_mla_paged(live(), out, q, b.nSeq(), b.seqRows(), b.seqPos0(),
                b.tables(), b.tableStart(), b.blockSize(), nHead, kvLora, nRope, cache, kvType.id(), scale),
                "pmx_attention_mla_paged");
    }

    /** The C kernels dequantize a block of keys of one head into an L1 tile: block types cap the head size (panamax.h). */
    private static void blockHeads(GgmlType kType, int headDim, GgmlType vType, int headDimV) {
        int max = PanamaxNative.PMX_KV_MAX_HEAD_DIM();
        if ((kType.isQuantized() && headDim > max) || (vType.isQuantized() && headDimV > max)) {
            throw new IllegalArgumentException("the native kernels read " + kType + "/" + vType + " heads of at most " + max
                    + " values, got " + headDim + "/" + headDimV);
        }
    }

    @Override
    public void kvStore(GgmlType kvType, MemorySegment cache, MemorySegment rows, MemorySegment src, int n, int width) {
        Checks.kvStore(kvType, cache, rows, src, n, width);
        offHeap(cache, rows, src);
        Status.check(PanamaxNative.pmx_kv_store(kvType.id(), cache, rows, src, n, width), "pmx_kv_store");
    }

    @Override
    public void hadamard(MemorySegment x, int n, int chunks) {
        Checks.hadamard(x, n, chunks);
        offHeap(x);
        Status.check(PanamaxNative.pmx_hadamard_f32(live(), x, n, chunks), "pmx_hadamard_f32");
    }

    @Override
    public void addRows(MemorySegment y, MemorySegment b, int n, int rows) {
        Checks.addRows(y, b, n, rows);
        offHeap(y, b);
        Status.check(PanamaxNative.pmx_add_rows_f32(live(), y, b, n, rows), "pmx_add_rows_f32");
    }

    @Override
    public void layerNorm(MemorySegment y, MemorySegment x, MemorySegment res, MemorySegment w, MemorySegment b, int n,
                          int rows, float eps) {
        Checks.layerNorm(y, x, res, w, b, n, rows, eps);
        offHeap(y, x, w, b);
        if (res != null) offHeap(res);
        Status.check(PanamaxNative.pmx_layer_norm_f32(live(), y, x, res != null ? res : MemorySegment.NULL, w, b, n, rows, eps),
                "pmx_layer_norm_f32");
    }

    @Override
    public void attentionEncoder(MemorySegment out, MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment seqRows,
                                 int nSeq, int nHead, int headDim, float scale) {
        Checks.attentionEncoder(out, q, k, v, seqRows, nSeq, nHead, headDim, scale);
        offHeap(out, q, k, v);
        offHeap(seqRows);
        Status.check(PanamaxNative.pmx_attention_encoder_f32(live(), out, q, k, v, nSeq, seqRows, nHead, headDim, scale),
                "pmx_attention_encoder_f32");
    }

    @Override
    public void gelu(MemorySegment x, MemorySegment b, int n, int rows) {
        Checks.gelu(x, b, n, rows);
        offHeap(x);
        if (b != null) offHeap(b);
        Status.check(PanamaxNative.pmx_gelu_f32(live(), x, b != null ? b : MemorySegment.NULL, n, rows), "pmx_gelu_f32");
    }

    @Override
    public void rmsnormStrided(MemorySegment x, MemorySegment w, int n, int rows, int stride, float eps) {
        Checks.rmsnormStrided(x, w, n, rows, stride, eps);
        offHeap(x, w);
        Status.check(PanamaxNative.pmx_rmsnorm_strided_f32(live(), x, w, n, rows, stride, eps), "pmx_rmsnorm_strided_f32");
    }

    @Override
    public void moeFfn(MemorySegment out, MemorySegment x, int nTok, int nEmbd, int nFf, int nExpert, int nUsed,
                       MemorySegment ids, MemorySegment weights, GgmlType gateType, MemorySegment gate, GgmlType upType,
                       MemorySegment up, GgmlType downType, MemorySegment down) {
        moeFfnPacked(out, x, nTok, nEmbd, nFf, nExpert, nUsed, ids, weights, gateType, gate, upType, up, downType, down, 0);
    }

    @Override
    public void moeFfnPacked(MemorySegment out, MemorySegment x, int nTok, int nEmbd, int nFf, int nExpert, int nUsed,
                             MemorySegment ids, MemorySegment weights, GgmlType gateType, MemorySegment gate,
                             GgmlType upType, MemorySegment up, GgmlType downType, MemorySegment down, int packed) {
        Checks.moeFfn(out, x, nTok, nEmbd, nFf, nExpert, nUsed, ids, weights, gateType, gate, upType, up, downType, down, packed);
        offHeap(out, x, ids, weights);
        offHeap(gate, up, down);
        // the C core keeps its scratch for this op in the pool (grown once), so none is passed here
        Status.check(PanamaxNative.pmx_moe_ffn(live(), out, x, nTok, nEmbd, nFf, nExpert, nUsed, ids, weights,
                gateType.id(), gate, upType.id(), up, downType.id(), down, packed), "pmx_moe_ffn");
    }

    /**
     * Reads every byte of {@code s} with the widest loads of the active ISA on this instance's threads and
     * returns a checksum: the plain memory-read yardstick that GEMV bandwidth is compared against.
     */
    public long readBytes(MemorySegment s) {
        Checks.isNative(s, "segment");
        return PanamaxNative.pmx_read_bytes(live(), s, s.byteSize());
    }

    // fixed arities, not varargs: an array per downcall would be garbage in the steady-state step
    private static void offHeap(MemorySegment a) {
        Checks.isNative(a, "argument");
    }

    private static void offHeap(MemorySegment a, MemorySegment b) {
        offHeap(a);
        offHeap(b);
    }

    private static void offHeap(MemorySegment a, MemorySegment b, MemorySegment c) {
        offHeap(a, b);
        offHeap(c);
    }

    private static void offHeap(MemorySegment a, MemorySegment b, MemorySegment c, MemorySegment d) {
        offHeap(a, b);
        offHeap(c, d);
    }

    /** Scratch of at least {@code bytes}, reused across calls; NULL when none is needed. */
    private MemorySegment scratch(long bytes) {
        if (bytes < 0) throw new IllegalStateException("pmx_matmul_scratch_bytes refused its arguments");
        if (bytes == 0) return MemorySegment.NULL;
        if (scratch.byteSize() < bytes) {
            scratchArena.close();
            scratchArena = Arena.ofShared();
            scratch = scratchArena.allocate(Math.max(bytes, 2 * scratch.byteSize()), 64);
        }
        return scratch;
    }

    private MemorySegment live() {
        if (closed) throw new IllegalStateException("kernels closed");
        return pool;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        PanamaxNative.pmx_pool_destroy(pool);
        scratchArena.close();
    }
}
