package dev.panamax.tensor;

/**
 * Tensor element types as ggml numbers them (GGUF stores these ids), with their block geometry. Blocks are
 * bit-exact with ggml's ({@code block_q4_0}, {@code block_q4_K}, ...: native/src/blocks.h); the native library's
 * pmx_type_block_size / pmx_type_block_bytes must agree with this table (NativeKernels checks it at load).
 */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q5_0(6, 32, 22),
    Q5_1(7, 32, 24),
    Q8_0(8, 32, 34),
    Q2_K(10, 256, 84),
    Q3_K(11, 256, 110),
    Q4_K(12, 256, 144),
    Q5_K(13, 256, 176),
    Q6_K(14, 256, 210),
    IQ4_NL(20, 32, 18),
    IQ4_XS(23, 256, 136),
    BF16(30, 1, 2);

    /** ggml's {@code QK_K}: elements per K-quant super-block. */
    public static final int QK_K = 256;

    private final int id;
    private final int blockSize;
    private final int blockBytes;

    GgmlType(int id, int blockSize, int blockBytes) {
        this.id = id;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    /** ggml's {@code enum ggml_type} value (also panamax.h's PMX_TYPE_*). */
    public int id() {
        return id;
    }

    /** Elements per block (1 for float types). */
    public int blockSize() {
        return blockSize;
    }

    public int blockBytes() {
        return blockBytes;
    }

    public boolean isQuantized() {
        return blockSize > 1;
    }

    /** Bytes of a row of n elements; n must be a multiple of the block size. */
    public long rowBytes(long n) {
        if (n < 0 || n % blockSize != 0) {
            throw new IllegalArgumentException(this + " rows must hold a multiple of " + blockSize + " elements, got " + n);
        }
        return Math.multiplyExact(n / blockSize, (long) blockBytes);
    }

    /** The type with this ggml id, or null when Panamax does not support it. */
    public static GgmlType ofId(int id) {
        for (GgmlType t : values()) if (t.id == id) return t;
        return null;
    }
}
