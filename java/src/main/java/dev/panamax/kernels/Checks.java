package dev.panamax.kernels;

import dev.panamax.ffi.PanamaxNative;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Argument checks shared by every {@link Kernels} implementation, done before computing: the C core trusts
 * its arguments, so Java must not lie to it, and the Java backends fail the same way as the native one.
 */
final class Checks {
    private Checks() {}

    static void positive(long v, String what) {
        if (v <= 0) throw new IllegalArgumentException(what + " must be positive, got " + v);
    }

    static void nonNegative(long v, String what) {
        if (v < 0) throw new IllegalArgumentException(what + " must not be negative, got " + v);
    }

    /** The segment holds at least {@code count} floats. */
    static void floats(MemorySegment s, long count, String what) {
        bytes(s, Math.multiplyExact(count, (long) Float.BYTES), what);
    }

    static void bytes(MemorySegment s, long count, String what) {
        if (s == null) throw new IllegalArgumentException(what + " is null");
        if (s.byteSize() < count) {
            throw new IllegalArgumentException(what + " holds " + s.byteSize() + " bytes, the operation needs " + count);
        }
    }

    /** Native code can only read off-heap memory. */
    static void isNative(MemorySegment s, String what) {
        if (!s.isNative()) throw new IllegalArgumentException(what + " must be an off-heap segment for the native backend");
    }

    static void type(GgmlType t, String what) {
        if (t == null) throw new IllegalArgumentException(what + " type is null");
    }

    static void quantRows(GgmlType type, MemorySegment quant, MemorySegment floats, int rows, int n) {
        type(type, "tensor");
        positive(n, "n");
        nonNegative(rows, "rows");
        bytes(quant, Math.multiplyExact(type.rowBytes(n), (long) rows), "quantized data");
        floats(floats, (long) rows * n, "float data");
    }

    static void getRows(GgmlType type, MemorySegment dst, MemorySegment src, int nRows, int nCols, MemorySegment ids, int n) {
        type(type, "matrix");
        positive(nRows, "nRows");
        positive(nCols, "nCols");
        nonNegative(n, "n");
        if (nCols % type.blockSize() != 0) throw new IllegalArgumentException("rows of " + nCols + " are not a multiple of the " + type + " block");
        bytes(src, Math.multiplyExact(type.rowBytes(nCols), (long) nRows), "matrix");
        bytes(ids, 4L * n, "ids");
        floats(dst, (long) n * nCols, "dst");
        for (int i = 0; i < n; i++) {
            int id = ids.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, i);
            if (id < 0 || id >= nRows) throw new IllegalArgumentException("row " + id + " outside [0, " + nRows + ")");
        }
    }

    static void matmul(GgmlType type, MemorySegment w, int nRows, int nCols, MemorySegment x, int batch, MemorySegment y) {
        type(type, "weight");
        positive(nRows, "nRows");
        positive(nCols, "nCols");
        positive(batch, "batch");
        bytes(w, Math.multiplyExact(type.rowBytes(nCols), (long) nRows), "W");
        floats(x, (long) batch * nCols, "x");
        floats(y, (long) batch * nRows, "y");
    }

    /** A matrix the C core has a packed layout for, and a segment large enough to hold it. */
    static void packed(GgmlType type, MemorySegment packed, int nRows, int nCols) {
        type(type, "weight");
        positive(nRows, "nRows");
        positive(nCols, "nCols");
        long need = PanamaxNative.pmx_pack_bytes(type.id(), nRows, nCols);
        if (need <= 0) throw new IllegalArgumentException("no packed layout for " + nRows + " x " + nCols + " " + type);
        bytes(packed, need, "packed W");
    }

    /** The parts and the bias of {@link Kernels#matmulPackedEp} (the matmul's own checks are matmulPacked's). */
    static void matmulPackedEp(int nRows, int batch, MemorySegment y, int partRows, long partStride, MemorySegment bias) {
        positive(nRows, "nRows");
        positive(batch, "batch");
        if (partRows <= 0 || partRows % 16 != 0 || nRows % partRows != 0) {
            throw new IllegalArgumentException("parts of " + partRows + " rows: not whole groups of 16 dividing " + nRows + " rows");
        }
        int parts = nRows / partRows;
        long part = (long) partRows * batch;
        if (parts > 1 && partStride < part) throw new IllegalArgumentException("parts " + partStride + " floats apart overlap (" + part + " each)");
        floats(y, Math.addExact(Math.multiplyExact(parts - 1L, partStride), part), "y");
        if (bias != null) floats(bias, nRows, "bias");
    }

    /**
     * Sizes and strides of a stacked matmul: every matrix inside w, the farthest x and y element inside x and y (all in
     * long arithmetic, overflow an error), the y slices disjoint (each matrix's row of a token at least rows wide, in a
     * token-major or a matrix-major layout), x and y apart.
     */
    static void matmulStacked(GgmlType type, MemorySegment w, int nMat, int rows, int cols, long wMatBytes, MemorySegment x,
                              int nTok, int xTokStride, int xMatStride, MemorySegment y, int yTokStride, int yMatStride) {
        type(type, "weight");
        positive(nMat, "nMat");
        positive(rows, "rows");
        positive(cols, "cols");
        positive(nTok, "nTok");
        if (cols % type.blockSize() != 0) {
            throw new IllegalArgumentException("cols " + cols + " is not a multiple of the " + type + " block " + type.blockSize());
        }
        nonNegative(xTokStride, "xTokStride");
        nonNegative(xMatStride, "xMatStride");
        nonNegative(yTokStride, "yTokStride");
        nonNegative(yMatStride, "yMatStride");
        long matBytes = Math.multiplyExact(type.rowBytes(cols), (long) rows);
        if (wMatBytes < matBytes) {
            throw new IllegalArgumentException("wMatBytes " + wMatBytes + " is less than one matrix, " + matBytes + " bytes");
        }
        bytes(w, Math.addExact(Math.multiplyExact(nMat - 1L, wMatBytes), matBytes), "W (stacked)");
        floats(x, extent(nTok, xTokStride, nMat, xMatStride, cols), "x");
        floats(y, extent(nTok, yTokStride, nMat, yMatStride, rows), "y");
        boolean tokenMajor = (nMat == 1 || yMatStride >= rows) && (nTok == 1 || yTokStride >= (nMat - 1L) * yMatStride + rows);
        boolean matMajor = (nTok == 1 || yTokStride >= rows) && (nMat == 1 || yMatStride >= (nTok - 1L) * yTokStride + rows);
        if (!tokenMajor && !matMajor) {
            throw new IllegalArgumentException("y slices of " + rows + " floats overlap at strides token " + yTokStride
                    + ", matrix " + yMatStride);
        }
        if (x.asOverlappingSlice(y).isPresent()) throw new IllegalArgumentException("x and y overlap");
    }

    /** Floats spanned by nTok x nMat slices of width floats at the given strides. */
    private static long extent(int nTok, int tokStride, int nMat, int matStride, int width) {
        return Math.addExact(Math.addExact((nTok - 1L) * tokStride, (nMat - 1L) * matStride), width);
    }

    static void rmsnorm(MemorySegment y, MemorySegment x, MemorySegment w, int n, int rows, float eps) {
        positive(n, "n");
        nonNegative(rows, "rows");
        floats(y, (long) n * rows, "y");
        floats(x, (long) n * rows, "x");
        floats(w, n, "w");
        if (!(eps >= 0)) throw new IllegalArgumentException("eps must be >= 0, got " + eps);
    }

    static void softmax(MemorySegment x, int n, int rows) {
        positive(n, "n");
        nonNegative(rows, "rows");
        floats(x, (long) n * rows, "x");
    }

    static void elementwise(MemorySegment y, MemorySegment a, MemorySegment b, int n) {
        nonNegative(n, "n");
        floats(y, n, "y");
        floats(a, n, "first operand");
        floats(b, n, "second operand");
    }

    static void topk(MemorySegment x, int n, int k, MemorySegment idx, MemorySegment val) {
        positive(n, "n");
        floats(x, n, "x");
        if (k <= 0 || k > n) throw new IllegalArgumentException("k must be in 1.." + n + ", got " + k);
        bytes(idx, (long) k * Integer.BYTES, "idx");
        floats(val, k, "val");
    }

    static void rope(MemorySegment x, int nTokens, int nHeads, int headDim, int nRot, MemorySegment pos, RopeConfig rope,
                     MemorySegment freqFactors) {
        nonNegative(nTokens, "nTokens");
        positive(nHeads, "nHeads");
        positive(headDim, "headDim");
        if (nRot <= 0 || nRot > headDim || nRot % 2 != 0) {
            throw new IllegalArgumentException("nRot must be even and in 2.." + headDim + ", got " + nRot);
        }
        if (rope == null) throw new IllegalArgumentException("rope config is null");
        floats(x, (long) nTokens * nHeads * headDim, "x");
        bytes(pos, (long) nTokens * Integer.BYTES, "pos");
        if (freqFactors != null) floats(freqFactors, nRot / 2, "freqFactors");
    }

    static void attention(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int nKvHead, int headDim,
                          int headDimV, MemorySegment k, MemorySegment v, GgmlType kType, GgmlType vType, int nKv,
                          float scale) {
        positive(nQ, "nQ");
        nonNegative(pos0, "pos0");
        gqaHeads(nHead, nKvHead, headDim, headDimV);
        if ((long) pos0 + nQ > nKv) throw new IllegalArgumentException("queries reach position " + (pos0 + nQ) + " beyond nKv " + nKv);
        kvTypeAndScale(kType, scale);
        kvHead(kType, headDim, "K");
        kvHead(vType, headDimV, "V");
        floats(q, (long) nQ * nHead * headDim, "q");
        floats(out, (long) nQ * nHead * headDimV, "out");
        bytes(k, kType.rowBytes((long) nKv * nKvHead * headDim), "k");
        bytes(v, vType.rowBytes((long) nKv * nKvHead * headDimV), "v");
    }

    static void attentionMla(MemorySegment out, MemorySegment q, int nQ, int pos0, int nHead, int kvLora, int nRope,
                             MemorySegment cache, GgmlType kvType, int nKv, float scale) {
        positive(nQ, "nQ");
        nonNegative(pos0, "pos0");
        mlaHeads(nHead, kvLora, nRope);
        if ((long) pos0 + nQ > nKv) throw new IllegalArgumentException("queries reach position " + (pos0 + nQ) + " beyond nKv " + nKv);
        kvTypeAndScale(kvType, scale);
        kvHead(kvType, kvLora + nRope, "latent row");
        kvHead(kvType, kvLora, "latent (value)");
        long row = (long) kvLora + nRope;
        floats(q, (long) nQ * nHead * row, "q");
        floats(out, (long) nQ * nHead * kvLora, "out");
        bytes(cache, kvType.rowBytes((long) nKv * row), "cache");
    }

    /** Returns the query rows of the batch, after checking every table entry and the sizes of the pools. */
    static int attentionPaged(MemorySegment out, MemorySegment q, PagedBatch b, int nHead, int nKvHead, int headDim,
                              int headDimV, MemorySegment k, MemorySegment v, GgmlType kType, GgmlType vType,
                              float scale) {
        gqaHeads(nHead, nKvHead, headDim, headDimV);
        kvTypeAndScale(kType, scale);
        kvHead(kType, headDim, "K");
        kvHead(vType, headDimV, "V");
        int rows = b.check();
        floats(q, (long) rows * nHead * headDim, "q");
        floats(out, (long) rows * nHead * headDimV, "out");
        bytes(k, kType.rowBytes(Math.multiplyExact(b.poolRows(), (long) nKvHead * headDim)), "k");
        bytes(v, vType.rowBytes(Math.multiplyExact(b.poolRows(), (long) nKvHead * headDimV)), "v");
        return rows;
    }

    static int attentionMlaPaged(MemorySegment out, MemorySegment q, PagedBatch b, int nHead, int kvLora, int nRope,
                                 MemorySegment cache, GgmlType kvType, float scale) {
        mlaHeads(nHead, kvLora, nRope);
        kvTypeAndScale(kvType, scale);
        kvHead(kvType, kvLora + nRope, "latent row");
        kvHead(kvType, kvLora, "latent (value)");
        int rows = b.check();
        long row = (long) kvLora + nRope;
        floats(q, (long) rows * nHead * row, "q");
        floats(out, (long) rows * nHead * kvLora, "out");
        bytes(cache, kvType.rowBytes(Math.multiplyExact(b.poolRows(), row)), "cache");
        return rows;
    }

    /** The head shape of grouped-query attention, shared by the contiguous and the paged forms. */
    private static void gqaHeads(int nHead, int nKvHead, int headDim, int headDimV) {
        positive(nHead, "nHead");
        positive(nKvHead, "nKvHead");
        positive(headDim, "headDim");
        positive(headDimV, "headDimV");
        if (nHead % nKvHead != 0) throw new IllegalArgumentException("nHead " + nHead + " is not a multiple of nKvHead " + nKvHead);
    }

    /** The head shape of MLA's absorbed attention, shared by the contiguous and the paged forms. */
    private static void mlaHeads(int nHead, int kvLora, int nRope) {
        positive(nHead, "nHead");
        positive(kvLora, "kvLora");
        nonNegative(nRope, "nRope");
    }

    private static void kvTypeAndScale(GgmlType kvType, float scale) {
        kvType(kvType);
        if (Float.isNaN(scale)) throw new IllegalArgumentException("scale is NaN");
    }

    static void kvType(GgmlType t) {
        if (!Kernels.KV_CACHE_TYPES.contains(t)) {
            throw new IllegalArgumentException("KV cache type must be one of " + Kernels.KV_CACHE_TYPES + ", got " + t);
        }
    }

    /** A head (or latent row) of dim values is whole blocks of a KV cache type. */
    static void kvHead(GgmlType t, int dim, String what) {
        kvType(t);
        if (dim % t.blockSize() != 0) {
            throw new IllegalArgumentException(what + " head size " + dim + " is not a multiple of " + t + "'s block of " + t.blockSize());
        }
    }

    static void kvStore(GgmlType kvType, MemorySegment cache, MemorySegment rows, MemorySegment src, int n, int width) {
        nonNegative(n, "n");
        positive(width, "width");
        kvHead(kvType, width, "KV row");
        bytes(rows, 4L * n, "rows");
        floats(src, (long) n * width, "src");
        if (cache == null) throw new IllegalArgumentException("cache is null");
        long cacheRows = cache.byteSize() / kvType.rowBytes(width);
        for (int i = 0; i < n; i++) {
            int r = rows.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, i);
            if (r < 0 || r >= cacheRows) throw new IllegalArgumentException("cache row " + r + " outside [0, " + cacheRows + ")");
        }
    }

    static void hadamard(MemorySegment x, int n, int chunks) {
        if (n < 2 || n > 65536 || Integer.bitCount(n) != 1)
            throw new IllegalArgumentException("hadamard: n must be a power of 2 in [2, 65536], got " + n);
        nonNegative(chunks, "chunks");
        floats(x, (long) n * chunks, "x");
    }

    static void addRows(MemorySegment y, MemorySegment b, int n, int rows) {
        positive(n, "n");
        nonNegative(rows, "rows");
        floats(y, (long) n * rows, "y");
        floats(b, n, "b");
    }

    static void layerNorm(MemorySegment y, MemorySegment x, MemorySegment res, MemorySegment w, MemorySegment b, int n,
                          int rows, float eps) {
        positive(n, "n");
        nonNegative(rows, "rows");
        if (!(eps >= 0)) throw new IllegalArgumentException("eps must be >= 0, got " + eps);
        floats(y, (long) n * rows, "y");
        floats(x, (long) n * rows, "x");
        if (res != null) floats(res, (long) n * rows, "residual");
        floats(w, n, "weight");
        floats(b, n, "bias");
    }

    static void attentionEncoder(MemorySegment out, MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment seqRows,
                                 int nSeq, int nHead, int headDim, float scale) {
        nonNegative(nSeq, "sequences");
        positive(nHead, "heads");
        positive(headDim, "head dimension");
        if (Float.isNaN(scale)) throw new IllegalArgumentException("scale is NaN");
        bytes(seqRows, 4L * (nSeq + 1L), "sequence rows");
        int prev = seqRows.getAtIndex(ValueLayout.JAVA_INT, 0);
        if (prev != 0) throw new IllegalArgumentException("sequence rows must start at 0, got " + prev);
        for (int s = 1; s <= nSeq; s++) {
            int r = seqRows.getAtIndex(ValueLayout.JAVA_INT, s);
            if (r < prev) throw new IllegalArgumentException("sequence rows must not decrease: " + prev + " then " + r);
            prev = r;
        }
        long floats = Math.multiplyExact((long) prev, Math.multiplyExact((long) nHead, headDim));
        floats(out, floats, "out");
        floats(q, floats, "q");
        floats(k, floats, "k");
        floats(v, floats, "v");
    }

    static void gelu(MemorySegment x, MemorySegment b, int n, int rows) {
        positive(n, "n");
        nonNegative(rows, "rows");
        floats(x, (long) n * rows, "x");
        if (b != null) floats(b, n, "bias");
    }

    static void rmsnormStrided(MemorySegment x, MemorySegment w, int n, int rows, int stride, float eps) {
        positive(n, "n");
        nonNegative(rows, "rows");
        if (stride < n) throw new IllegalArgumentException("stride " + stride + " is shorter than a row of " + n);
        if (!(eps >= 0)) throw new IllegalArgumentException("eps must be >= 0, got " + eps);
        if (rows > 0) floats(x, (long) (rows - 1) * stride + n, "x");
        floats(w, n, "w");
    }

    /** Sizes of every segment, then every expert id read and range-checked: the C core indexes weights by them. */
    static void moeFfn(MemorySegment out, MemorySegment x, int nTok, int nEmbd, int nFf, int nExpert, int nUsed,
                       MemorySegment ids, MemorySegment weights, GgmlType gateType, MemorySegment gate, GgmlType upType,
                       MemorySegment up, GgmlType downType, MemorySegment down) {
        moeFfn(out, x, nTok, nEmbd, nFf, nExpert, nUsed, ids, weights, gateType, gate, upType, up, downType, down, 0);
    }

    /** Bytes of nExpert stacked rows x cols matrices, as stored or (packed) as pmx_pack writes them. */
    private static long experts(GgmlType type, int rows, int cols, int nExpert, boolean packed) {
        if (!packed) return Math.multiplyExact(Math.multiplyExact(type.rowBytes(cols), (long) rows), (long) nExpert);
        long one = PanamaxNative.pmx_pack_bytes(type.id(), rows, cols);
        if (one <= 0) throw new IllegalArgumentException("no packed layout for " + rows + " x " + cols + " " + type + " experts");
        return Math.multiplyExact(one, (long) nExpert);
    }

    /** packed: the PMX_MOE_*_PACKED bits of the tensors written by pmx_pack. */
    static void moeFfn(MemorySegment out, MemorySegment x, int nTok, int nEmbd, int nFf, int nExpert, int nUsed,
                       MemorySegment ids, MemorySegment weights, GgmlType gateType, MemorySegment gate, GgmlType upType,
                       MemorySegment up, GgmlType downType, MemorySegment down, int packed) {
        if ((packed & ~7) != 0) throw new IllegalArgumentException("unknown packed bits " + packed);
        positive(nTok, "nTok");
        positive(nEmbd, "nEmbd");
        positive(nFf, "nFf");
        positive(nExpert, "nExpert");
        positive(nUsed, "nUsed");
        type(gateType, "gate");
        type(upType, "up");
        type(downType, "down");
        long pairs = (long) nTok * nUsed;
        floats(out, (long) nTok * nEmbd, "out");
        floats(x, (long) nTok * nEmbd, "x");
        bytes(ids, Math.multiplyExact(pairs, (long) Integer.BYTES), "ids");
        floats(weights, pairs, "weights");
        bytes(gate, experts(gateType, nFf, nEmbd, nExpert, (packed & 1) != 0), "gate experts");
        bytes(up, experts(upType, nFf, nEmbd, nExpert, (packed & 2) != 0), "up experts");
        bytes(down, experts(downType, nEmbd, nFf, nExpert, (packed & 4) != 0), "down experts");
        for (long p = 0; p < pairs; p++) {
            int e = ids.get(JavaQuants.I32, p * Integer.BYTES);
            if (e < 0 || e >= nExpert) {
                throw new IllegalArgumentException("expert id " + e + " of token " + p / nUsed + " (slot " + p % nUsed
                        + ") is outside 0.." + (nExpert - 1));
            }
        }
    }
}
