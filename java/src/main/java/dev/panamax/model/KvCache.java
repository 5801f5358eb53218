package dev.panamax.model;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Set;

/**
 * The KV memory of a model, paged: per layer a pool of {@code nBlocks} blocks of {@code blockSize} token rows
 ({@code [block][blockSize][width]} of a KV cache type: F32, F16, BF16 or ggml's 32-value blocks, each row quantized as
 * it is written), so that the sequences of a step each own a list of blocks (their block table) instead of a whole
 * context reserved up front. Llama family: a K pool of {@link #kType} and a V pool of {@link #vType} per layer;
 * deepseek2 (MLA): one latent pool per layer ([kv_lora | rope] rows of {@link #kType}, {@link #v} null), as llama.cpp. Allocated by Java in one arena, 64-byte
 * aligned; which block belongs to whom is the owner's business (a {@link SequenceState}'s identity table, or the
 * engine's block manager).
 */
public final class KvCache implements AutoCloseable {

    /** The types the attention kernels read (llama.cpp's cache types). */
    public static final Set<GgmlType> TYPES = Set.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL);

    public final GgmlType kType, vType;
    public final int nLayer, nBlocks, blockSize, kWidth, vWidth;
    final MemorySegment[] k, v; // per layer [nBlocks * blockSize][width]; v null when vWidth == 0
    private final Arena arena = Arena.ofShared();
    private final long bytes;

    /**
     * @param vWidth 0 for a model whose cache row is both key and value (MLA; then vType must be kType)
     * @throws IllegalArgumentException for a type not in {@link #TYPES}, a width that is not whole blocks of it, or sizes
     *                                  that overflow
     */
    public KvCache(GgmlType kType, GgmlType vType, int nLayer, int nBlocks, int blockSize, int kWidth, int vWidth) {
        if (!TYPES.contains(kType) || !TYPES.contains(vType)) {
            throw new IllegalArgumentException("KV cache types must be among " + TYPES + ", got " + kType + "/" + vType);
        }
        if (vWidth == 0 && vType != kType) throw new IllegalArgumentException("a latent cache has one type, got " + kType + "/" + vType);
        if (nLayer <= 0 || nBlocks <= 0 || blockSize <= 0 || kWidth <= 0 || vWidth < 0) {
            throw new IllegalArgumentException("bad KV cache shape: " + nLayer + " layers, " + nBlocks + " blocks of " + blockSize + " rows");
        }
        if (kWidth % kType.blockSize() != 0 || vWidth % vType.blockSize() != 0) {
            throw new IllegalArgumentException("KV rows of " + kWidth + "/" + vWidth + " values are not whole blocks of "
                    + kType + "/" + vType);
        }
        this.kType = kType;
        this.vType = vType;
        this.nLayer = nLayer;
        this.nBlocks = nBlocks;
        this.blockSize = blockSize;
        this.kWidth = kWidth;
        this.vWidth = vWidth;
        long rows = (long) nBlocks * blockSize;
        try {
            long kb = Math.multiplyExact(kType.rowBytes(kWidth), rows), vb = vWidth == 0 ? 0 : Math.multiplyExact(vType.rowBytes(vWidth), rows);
            bytes = Math.multiplyExact(kb + vb, (long) nLayer);
            k = new MemorySegment[nLayer];
            v = vWidth == 0 ? null : new MemorySegment[nLayer];
            for (int l = 0; l < nLayer; l++) {
                k[l] = arena.allocate(kb, 64);
                if (v != null) v[l] = arena.allocate(vb, 64);
            }
        } catch (ArithmeticException e) {
            arena.close();
            throw new IllegalArgumentException("KV cache of " + nBlocks + " blocks of " + blockSize + " rows overflows", e);
        } catch (RuntimeException | OutOfMemoryError e) {
            arena.close();
            throw e;
        }
    }

    /** One type for keys and values. */
    public KvCache(GgmlType type, int nLayer, int nBlocks, int blockSize, int kWidth, int vWidth) {
        this(type, type, nLayer, nBlocks, blockSize, kWidth, vWidth);
    }

    /** Bytes of one token's row in every layer, keys and values. */
    public long bytesPerToken() {
        return (long) nLayer * (kType.rowBytes(kWidth) + (vWidth == 0 ? 0 : vType.rowBytes(vWidth)));
    }

    /** Bytes allocated. */
    public long bytes() {
        return bytes;
    }

    @Override
    public void close() {
        arena.close();
    }
}
