package dev.panamax.model;

import dev.panamax.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The matrices of a model that the kernels compute faster in their interleaved layout ({@link Kernels#pack}: the
 * quantized types but Q5_0 on AVX-512 VNNI, 16 rows side by side per block), repacked once at load into an arena of the model. The mapped
 * originals of packed matrices are released ({@link Kernels#releasePages}) unless they are also read as stored (the
 * token embeddings of a tied head), so resident memory stays about one copy of the weights: the trade is load time
 * (one pass over those weights), not memory. Read-only after construction, shared by all sessions; keyed by the
 * identity of the {@link Weight} records the forward pass holds.
 */
public final class PackedWeights implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(PackedWeights.class);

    public static final PackedWeights NONE = new PackedWeights(null, Map.of());

    private final Arena arena;
    private final Map<Weight, MemorySegment> packed;

    private PackedWeights(Arena arena, Map<Weight, MemorySegment> packed) {
        this.arena = arena;
        this.packed = packed;
    }

    /**
     * Packs each of {@code matrices} that {@code kernels} prefers packed; {@code readAsStored} are kept mapped as well.
     * NONE when none is.
     */
    public static PackedWeights pack(Collection<Weight> matrices, Collection<Weight> readAsStored, Kernels kernels) {
        Map<Weight, MemorySegment> out = new IdentityHashMap<>();
        long t0 = System.nanoTime();
        Arena arena = Arena.ofShared();
        try {
            for (Weight w : matrices) {
                if (out.containsKey(w)) continue;
                long bytes = kernels.packedBytes(w.type(), w.rows(), w.cols());
                if (bytes == 0) continue;
                MemorySegment p = arena.allocate(bytes, 64);
                kernels.pack(w.type(), p, w.data(), w.rows(), w.cols());
                out.put(w, p);
                if (readAsStored.stream().noneMatch(s -> s == w)) kernels.releasePages(w.data());
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            arena.close();
            throw e;
        }
        if (out.isEmpty()) {
            arena.close();
            log.info("weights used as stored: {} prefers no packed layout for them", kernels.name());
            return NONE;
        }
        PackedWeights p = new PackedWeights(arena, out);
        log.info("packed {} matrices ({} MB) for {} in {} ms", p.count(), p.bytes() >> 20, kernels.name(),
                (System.nanoTime() - t0) / 1_000_000);
        return p;
    }

    /** The packed copy of w, or null when w is computed as stored. */
    public MemorySegment get(Weight w) {
        return packed.get(w);
    }

    public int count() {
        return packed.size();
    }

    public long bytes() {
        long n = 0;
        for (MemorySegment s : packed.values()) n += s.byteSize();
        return n;
    }

    /** Frees the packed copies; no session may run afterwards. */
    @Override
    public void close() {
        if (arena != null) arena.close();
    }
}
