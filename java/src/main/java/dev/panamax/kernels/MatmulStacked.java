package dev.panamax.kernels;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The Java backends' stacked matmul, written once over any {@link Kernels}' own matmul: per matrix, its strided
 * activation rows gathered into contiguous rows, one matmul of batch nTok, the output rows scattered to their strides;
 * so results equal separate matmul calls bit for bit. Arguments are checked by the caller ({@link Checks#matmulStacked}).
 * Not thread-safe: one per {@link Kernels} instance, like the instance itself.
 */
final class MatmulStacked {
    private MemorySegment scratch = MemorySegment.NULL;

    void run(Kernels k, GgmlType type, MemorySegment w, int nMat, int rows, int cols, long wMatBytes, MemorySegment x,
             int nTok, int xTokStride, int xMatStride, MemorySegment y, int yTokStride, int yMatStride) {
        long matBytes = type.rowBytes(cols) * rows, xRow = 4L * cols, yRow = 4L * rows;
        MemorySegment s = nTok == 1 ? MemorySegment.NULL : scratch(nTok * (xRow + yRow));
        MemorySegment xg = nTok == 1 ? null : s.asSlice(0, nTok * xRow), yg = nTok == 1 ? null : s.asSlice(nTok * xRow, nTok * yRow);
        for (int m = 0; m < nMat; m++) {
            MemorySegment wm = w.asSlice(m * wMatBytes, matBytes);
            if (nTok == 1) { // one row each: the slices themselves
                k.matmul(type, wm, rows, cols, x.asSlice(4L * m * xMatStride, xRow), 1, y.asSlice(4L * m * yMatStride, yRow));
                continue;
            }
            for (int t = 0; t < nTok; t++) {
                MemorySegment.copy(x, 4L * ((long) t * xTokStride + (long) m * xMatStride), xg, t * xRow, xRow);
            }
            k.matmul(type, wm, rows, cols, xg, nTok, yg);
            for (int t = 0; t < nTok; t++) {
                MemorySegment.copy(yg, t * yRow, y, 4L * ((long) t * yTokStride + (long) m * yMatStride), yRow);
            }
        }
    }

    /** Grown on demand and kept: a forward pass calls with the same sizes every layer. */
    private MemorySegment scratch(long bytes) {
        if (scratch.byteSize() < bytes) scratch = Arena.ofAuto().allocate(Math.max(bytes, scratch.byteSize() * 3 / 2), 64);
        return scratch;
    }
}
