package dev.panamax.kernels;

import dev.panamax.ffi.PanamaxNative;
import java.lang.foreign.MemorySegment;

/** {@link Kernels} on the C core: one downcall per operation, spread over a native thread pool it owns. */
public final class NativeKernels implements Kernels {
    private final MemorySegment pool;
    private final int threads;
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
    public void rmsnorm(MemorySegment y, MemorySegment x, MemorySegment w, int n, int rows, float eps) {
        Checks.positive(n, "n");
        Checks.nonNegative(rows, "rows");
        long count = (long) n * rows;
        Checks.floats(y, count, "y");
        Checks.floats(x, count, "x");
        Checks.floats(w, n, "w");
        Checks.isNative(y, "y");
        Checks.isNative(x, "x");
        Checks.isNative(w, "w");
        if (!(eps >= 0)) throw new IllegalArgumentException("eps must be >= 0, got " + eps);
        Status.check(PanamaxNative.pmx_rmsnorm_f32(live(), y, x, w, n, rows, eps), "pmx_rmsnorm_f32");
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
    }
}
