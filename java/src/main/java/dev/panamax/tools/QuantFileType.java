package dev.panamax.tools;

import java.util.Locale;

/**
 * llama.cpp's file types ({@code enum llama_ftype}): the name {@code llama-quantize} takes, the id written as
 * {@code general.file_type}, and the default tensor type of the mix ({@code llama_ftype_get_default_type}). Every mix
 * llama.cpp defines is here; whether Panamax can write it depends on the tensor types it resolves to
 * ({@link Quantizer} says which type is missing).
 */
public enum QuantFileType {
    F32(0, Ggml.F32),
    F16(1, Ggml.F16),
    BF16(32, Ggml.BF16),
    Q4_0(2, Ggml.Q4_0),
    Q4_1(3, Ggml.Q4_1),
    Q8_0(7, Ggml.Q8_0),
    Q5_0(8, Ggml.Q5_0),
    Q5_1(9, Ggml.Q5_1),
    Q2_K(10, Ggml.Q2_K),
    Q2_K_S(21, Ggml.Q2_K),
    Q3_K_S(11, Ggml.Q3_K),
    Q3_K_M(12, Ggml.Q3_K),
    Q3_K_L(13, Ggml.Q3_K),
    Q4_K_S(14, Ggml.Q4_K),
    Q4_K_M(15, Ggml.Q4_K),
    Q5_K_S(16, Ggml.Q5_K),
    Q5_K_M(17, Ggml.Q5_K),
    Q6_K(18, Ggml.Q6_K),
    IQ2_XXS(19, Ggml.IQ2_XXS),
    IQ2_XS(20, Ggml.IQ2_XS),
    IQ2_S(28, Ggml.IQ2_XS),
    IQ2_M(29, Ggml.IQ2_S),
    IQ3_XS(22, Ggml.IQ3_S),
    IQ3_XXS(23, Ggml.IQ3_XXS),
    IQ3_S(26, Ggml.IQ3_S),
    IQ3_M(27, Ggml.IQ3_S),
    IQ1_S(24, Ggml.IQ1_S),
    IQ1_M(31, Ggml.IQ1_M),
    IQ4_NL(25, Ggml.IQ4_NL),
    IQ4_XS(30, Ggml.IQ4_XS),
    TQ1_0(36, Ggml.TQ1_0),
    TQ2_0(37, Ggml.TQ2_0),
    MXFP4_MOE(38, Ggml.MXFP4),
    Q1_0(40, Ggml.Q1_0),
    Q2_0(41, Ggml.Q2_0);

    private final int id;
    private final int defaultType;

    QuantFileType(int id, int defaultType) {
        this.id = id;
        this.defaultType = defaultType;
    }

    /** llama.cpp's {@code llama_ftype} value, written as {@code general.file_type}. */
    public int id() {
        return id;
    }

    /** The ggml type id most tensors of the mix get. */
    public int defaultType() {
        return defaultType;
    }

    /** By name, case-insensitive ("q4_k_m", "Q4_K_M"). */
    public static QuantFileType parse(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            StringBuilder sb = new StringBuilder();
            for (QuantFileType t : values()) sb.append(sb.isEmpty() ? "" : " ").append(t.name().toLowerCase(Locale.ROOT));
            throw new IllegalArgumentException("unknown quantization type '" + name + "' (known: " + sb + ")");
        }
    }

    /** ggml type ids ({@code enum ggml_type}) the mix rules name. */
    static final class Ggml {
        static final int F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q2_K = 10, Q3_K = 11,
                Q4_K = 12, Q5_K = 13, Q6_K = 14, IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20,
                IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
                Q1_0 = 41, Q2_0 = 42;

        private Ggml() {
        }

        static boolean isQuantized(int type) {
            return type != F32 && type != F16 && type != BF16 && dev.panamax.gguf.GgmlTypeTable.blockSize(type) > 1;
        }
    }
}
