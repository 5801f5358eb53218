package dev.panamax.kernels;

import dev.panamax.ffi.PanamaxNative;

/** Turns the C core's status codes into exceptions. Java validates first, so a failure here is a bug. */
final class Status {
    private Status() {}

    static void check(int rc, String call) {
        if (rc == PanamaxNative.PMX_OK()) return;
        String what = rc == PanamaxNative.PMX_ERR_INVALID_ARG() ? "invalid argument"
                : rc == PanamaxNative.PMX_ERR_UNSUPPORTED_ISA() ? "unsupported ISA"
                : rc == PanamaxNative.PMX_ERR_NO_MEMORY() ? "out of memory"
                : "status " + rc;
        throw new IllegalStateException(call + " failed: " + what);
    }
}
