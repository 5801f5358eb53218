package dev.panamax;

import dev.panamax.tensor.GgmlType;
import java.util.Locale;

/** How the KV cache stores keys and values (llama.cpp's {@code --cache-type-k/v} names). */
public enum CacheType {
    /** 2 bytes per value: the default, as llama.cpp's. */
    F16(GgmlType.F16),
    /** 4 bytes per value: exact, twice the memory. */
    F32(GgmlType.F32);

    private final GgmlType type;

    CacheType(GgmlType type) {
        this.type = type;
    }

    /** The storage type the kernels see (internal). */
    GgmlType ggmlType() {
        return type;
    }

    /** Bytes per stored value. */
    public int bytesPerValue() {
        return type == GgmlType.F32 ? 4 : 2;
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** llama.cpp's name (f16, f32); other types are refused with the list of those that work. */
    public static CacheType parse(String s) {
        for (CacheType t : values()) if (t.id().equals(s.toLowerCase(Locale.ROOT))) return t;
        throw new IllegalArgumentException("unknown KV cache type '" + s + "' (expected f16 or f32)");
    }
}
