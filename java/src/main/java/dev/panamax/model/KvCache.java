package dev.panamax.model;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The KV memory of a model, paged: per layer a pool of {@code nBlocks} blocks of {@code blockSize} token rows
 * ({@code [block][blockSize][width]} of F16 or F32), so that the sequences of a step each own a list of blocks (their
 * block table) instead of a whole context reserved up front. Llama family: a K and a V pool per layer; deepseek2 (MLA):
 * one latent pool per layer ([kv_lora | rope] rows, {@link #v} null). Allocated by Java in one arena, 64-byte
 * aligned; which block belongs to whom is the owner's business (a {@link SequenceState}'s identity table, or the
 * engine's block manager).
 */
public final class KvCache implements AutoCloseable {

    public final GgmlType type;
    public final int nLayer, nBlocks, blockSize, kWidth, vWidth;
    final MemorySegment[] k, v; // per layer [nBlocks * blockSize][width]; v null when vWidth == 0
    private final Arena arena = Arena.ofShared();
    private final long bytes;

    /**
     * @param vWidth 0 for a model whose cache row is both key and value (MLA)
     * @throws IllegalArgumentException for a type other than F16/F32, or sizes that overflow
     */
    public KvCache(GgmlType type, int nLayer, int nBlocks, int blockSize, int kWidth, int vWidth) {
        if (type != GgmlType.F16 && type != GgmlType.F32) throw new IllegalArgumentException("KV cache type must be F16 or F32, got " + type);
        if (nLayer <= 0 || nBlocks <= 0 || blockSize <= 0 || kWidth <= 0 || vWidth < 0) {
            throw new IllegalArgumentException("bad KV cache shape: " + nLayer + " layers, " + nBlocks + " blocks of " + blockSize + " rows");
        }
        this.type = type;
        this.nLayer = nLayer;
        this.nBlocks = nBlocks;
        this.blockSize = blockSize;
        this.kWidth = kWidth;
        this.vWidth = vWidth;
        long rows = (long) nBlocks * blockSize;
        try {
            long kb = Math.multiplyExact(type.rowBytes(kWidth), rows), vb = vWidth == 0 ? 0 : Math.multiplyExact(type.rowBytes(vWidth), rows);
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

    /** Bytes allocated. */
    public long bytes() {
        return bytes;
    }

    @Override
    public void close() {
        arena.close();
    }
}
