package dev.panamax;

import dev.panamax.tensor.GgmlType;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How the KV cache stores keys or values: llama.cpp's {@code --cache-type-k/-ctk} and {@code --cache-type-v/-ctv}
 * names and ggml's block formats. The block types hold 32 values of a head per block (a head size must be a multiple
 * of 32) and are written as each row is computed; the attention kernels read the blocks in place.
 */
public enum CacheType {
    /** 4 bytes per value: exact, twice F16's memory. */
    F32(GgmlType.F32),
    /** 2 bytes per value: the default, as llama.cpp's. */
    F16(GgmlType.F16),
    /** 2 bytes per value, F32's range with 8 bits of mantissa. */
    BF16(GgmlType.BF16),
    /** 34 bytes per 32 values (8.5 bits): about F16's quality at 53% of its memory. */
    Q8_0(GgmlType.Q8_0),
    /** 18 bytes per 32 values (4.5 bits). */
    Q4_0(GgmlType.Q4_0),
    /** 20 bytes per 32 values (5 bits): Q4_0 with a per-block minimum. */
    Q4_1(GgmlType.Q4_1),
    /** 22 bytes per 32 values (5.5 bits). */
    Q5_0(GgmlType.Q5_0),
    /** 24 bytes per 32 values (6 bits): Q5_0 with a per-block minimum. */
    Q5_1(GgmlType.Q5_1),
    /** 18 bytes per 32 values (4.5 bits) on a non-linear grid. */
    IQ4_NL(GgmlType.IQ4_NL);

    private final GgmlType type;

    CacheType(GgmlType type) {
        this.type = type;
    }

    /** The storage type the kernels see (internal). */
    GgmlType ggmlType() {
        return type;
    }

    /** Values per block: 1 for F32/F16/BF16, 32 for the quantized types (a head size must be a multiple of it). */
    public int blockSize() {
        return type.blockSize();
    }

    /** Bytes that {@code values} values take (a multiple of {@link #blockSize()}). */
    public long bytes(long values) {
        return type.rowBytes(values);
    }

    public boolean isQuantized() {
        return type.isQuantized();
    }

    /** llama.cpp's name: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** A type by llama.cpp's name (case-insensitive); an unknown name is refused with the list of known ones. */
    public static CacheType parse(String s) {
        for (CacheType t : values()) if (t.id().equals(s.toLowerCase(Locale.ROOT))) return t;
        throw new IllegalArgumentException("unknown KV cache type '" + s + "' (expected one of "
                + Arrays.stream(values()).map(CacheType::id).collect(Collectors.joining(", ")) + ")");
    }
}
