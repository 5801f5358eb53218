package dev.panamax.gguf;

/**
 * Every ggml tensor type id with its block geometry, as ggml's {@code type_traits} (ggml.c) and gguf-py's
 * {@code GGML_QUANT_SIZES}. Kept complete, not just the types Panamax computes with, so that sizes and offsets
 * of every tensor of a file are validated. Ids ggml removed (4, 5, 31-33, 36-38) are unknown here, as in
 * llama.cpp, which rejects them (block size 0). Public so that tools (the quantizer's mix rules) ask it rather than
 * copy it.
 */
public final class GgmlTypeTable {

    private static final int QK_K = 256;
    private static final String[] NAME = new String[43];
    private static final int[] BLOCK = new int[43];
    private static final int[] BYTES = new int[43];

    static {
        def(0, "f32", 1, 4);
        def(1, "f16", 1, 2);
        def(2, "q4_0", 32, 2 + 16);
        def(3, "q4_1", 32, 2 + 2 + 16);
        def(6, "q5_0", 32, 2 + 4 + 16);
        def(7, "q5_1", 32, 2 + 2 + 4 + 16);
        def(8, "q8_0", 32, 2 + 32);
        def(9, "q8_1", 32, 2 + 2 + 32);
        def(10, "q2_K", QK_K, 2 + 2 + QK_K / 16 + QK_K / 4);
        def(11, "q3_K", QK_K, 2 + QK_K / 4 + QK_K / 8 + 12);
        def(12, "q4_K", QK_K, 2 + 2 + QK_K / 2 + 12);
        def(13, "q5_K", QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12);
        def(14, "q6_K", QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16);
        def(15, "q8_K", QK_K, 4 + QK_K + QK_K / 8);
        def(16, "iq2_xxs", QK_K, 2 + QK_K / 4);
        def(17, "iq2_xs", QK_K, 2 + QK_K / 4 + QK_K / 32);
        def(18, "iq3_xxs", QK_K, 2 + QK_K / 4 + QK_K / 8);
        def(19, "iq1_s", QK_K, 2 + QK_K / 8 + QK_K / 16);
        def(20, "iq4_nl", 32, 2 + 16);
        def(21, "iq3_s", QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4);
        def(22, "iq2_s", QK_K, 2 + QK_K / 4 + QK_K / 16);
        def(23, "iq4_xs", QK_K, 2 + 2 + QK_K / 2 + QK_K / 64);
        def(24, "i8", 1, 1);
        def(25, "i16", 1, 2);
        def(26, "i32", 1, 4);
        def(27, "i64", 1, 8);
        def(28, "f64", 1, 8);
        def(29, "iq1_m", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32);
        def(30, "bf16", 1, 2);
        def(34, "tq1_0", QK_K, 2 + 4 * 13);
        def(35, "tq2_0", QK_K, 2 + 64);
        def(39, "mxfp4", 32, 1 + 16);
        def(40, "nvfp4", 64, 4 + 32);
        def(41, "q1_0", 128, 2 + 16);
        def(42, "q2_0", 64, 2 + 16);
    }

    private GgmlTypeTable() {
    }

    private static void def(int id, String name, int block, int bytes) {
        NAME[id] = name;
        BLOCK[id] = block;
        BYTES[id] = bytes;
    }

    public static boolean isKnown(int id) {
        return id >= 0 && id < NAME.length && NAME[id] != null;
    }

    /** ggml's type name ("q4_K"), or "type#id" for an unknown id. */
    public static String name(int id) {
        return isKnown(id) ? NAME[id] : "type#" + id;
    }

    /** Elements per block (1 for float types); the id must be known. */
    public static int blockSize(int id) {
        return BLOCK[id];
    }

    /** Bytes per block; the id must be known. */
    public static int typeSize(int id) {
        return BYTES[id];
    }
}
