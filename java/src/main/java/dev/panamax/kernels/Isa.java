package dev.panamax.kernels;

import dev.panamax.ffi.PanamaxNative;
import java.util.Locale;

/** The native kernel sets, as numbered in panamax.h (PMX_ISA_*). */
public enum Isa {
    SCALAR(PanamaxNative.PMX_ISA_SCALAR()),
    AVX2(PanamaxNative.PMX_ISA_AVX2()),
    AVX512(PanamaxNative.PMX_ISA_AVX512()),
    NEON(PanamaxNative.PMX_ISA_NEON()),
    NEON_DOTPROD(PanamaxNative.PMX_ISA_NEON_DOTPROD());

    final int code;

    Isa(int code) {
        this.code = code;
    }

    /** Lower-case name as the C core prints it: "avx512", "neon_dotprod". */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    static Isa of(int code) {
        for (Isa isa : values()) if (isa.code == code) return isa;
        throw new IllegalStateException("native library reports unknown ISA " + code);
    }

    public static Isa parse(String s) {
        for (Isa isa : values()) if (isa.id().equals(s.toLowerCase(Locale.ROOT))) return isa;
        throw new IllegalArgumentException("unknown ISA '" + s + "' (expected one of scalar, avx2, avx512, neon, neon_dotprod)");
    }
}
