package dev.panamax.model;

import dev.panamax.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
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

    public static final PackedWeights NONE = new PackedWeights(null, Map.of(), Map.of());

    private final Arena arena;
    private final Map<Weight, MemorySegment> packed;
    private final Map<Weight, MemorySegment> fused; // the first matrix of a fused group -> the group's segment

    private PackedWeights(Arena arena, Map<Weight, MemorySegment> packed, Map<Weight, MemorySegment> fused) {
        this.arena = arena;
        this.packed = packed;
        this.fused = fused;
    }

    /**
     * Packs each of {@code matrices} that {@code kernels} prefers packed; {@code readAsStored} are kept mapped as well.
     * NONE when none is.
     */
    public static PackedWeights pack(Collection<Weight> matrices, Collection<Weight> readAsStored, Kernels kernels) {
        return pack(matrices, readAsStored, kernels, List.of());
    }

    /**
     * As {@link #pack(Collection, Collection, Kernels)}, and each group of {@code fusedGroups} (matrices of one type and
     * width, each packed, such as a layer's Q, K and V) packed one after the other in one segment, so that one GEMM
     * computes them all ({@link #fused}, {@link Kernels#matmulPackedEp}); {@link #get} still gives each its own slice.
     */
    public static PackedWeights pack(Collection<Weight> matrices, Collection<Weight> readAsStored, Kernels kernels,
                                     List<List<Weight>> fusedGroups) {
        Map<Weight, MemorySegment> out = new IdentityHashMap<>(), fused = new IdentityHashMap<>();
        long t0 = System.nanoTime();
        Arena arena = Arena.ofShared();
        try {
            for (List<Weight> g : fusedGroups) {
                Weight first = g.getFirst();
                long total = 0;
                for (Weight w : g) {
                    long bytes = w.type() == first.type() && w.cols() == first.cols() && !out.containsKey(w)
                            ? kernels.packedBytes(w.type(), w.rows(), w.cols()) : 0;
                    total = bytes == 0 || total < 0 ? -1 : total + bytes;
                }
                if (total <= 0) continue; // not all packable alike: each on its own below
                MemorySegment all = arena.allocate(total, 64);
                long at = 0;
                for (Weight w : g) {
                    MemorySegment p = all.asSlice(at, kernels.packedBytes(w.type(), w.rows(), w.cols()));
                    packOne(kernels, w, p, readAsStored);
                    out.put(w, p);
                    at += p.byteSize();
                }
                fused.put(first, all);
            }
            for (Weight w : matrices) {
                if (out.containsKey(w)) continue;
                long bytes = kernels.packedBytes(w.type(), w.rows(), w.cols());
                if (bytes == 0) continue;
                MemorySegment p = arena.allocate(bytes, 64);
                packOne(kernels, w, p, readAsStored);
                out.put(w, p);
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
        PackedWeights p = new PackedWeights(arena, out, fused);
        log.info("packed {} matrices ({} MB) for {} in {} ms", p.count(), p.bytes() >> 20, kernels.name(),
                (System.nanoTime() - t0) / 1_000_000);
        return p;
    }

    private static void packOne(Kernels kernels, Weight w, MemorySegment dst, Collection<Weight> readAsStored) {
        kernels.pack(w.type(), dst, w.data(), w.rows(), w.cols());
        if (readAsStored.stream().noneMatch(s -> s == w)) kernels.releasePages(w.data());
    }

    /**
     * The packed copies of the fused group that starts with {@code first}, one after the other (rows of the first, then
     * of the next...), or null when that group was not packed as one.
     */
    public MemorySegment fused(Weight first) {
        return fused.get(first);
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
