package dev.panamax.kernels;

import java.lang.foreign.MemorySegment;

/** Size checks done before every kernel call: the C core trusts its arguments, so Java must not lie. */
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
        bytes(s, Math.multiplyExact(count, Float.BYTES), what);
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
}
