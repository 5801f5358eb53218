package dev.panamax.engine;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;

/**
 * Owns the blocks of the engine's paged KV pool: which are free, who holds each one (a reference count: a prefix
 * block may be shared by many sequences), and the prefix cache. A full block (all {@code blockSize} rows computed) is
 * registered under the hash of its tokens chained to its parent block's hash, as vLLM's V1 prefix cache does, so a
 * later sequence with the same token prefix takes the same blocks by reference instead of computing them; its own
 * tokens are compared too, so a hash collision can cost a cache hit, never wrong keys. Only full blocks are shared:
 * a sequence writes only into blocks it alone holds (its partial last block and new ones), so no copy-on-write is
 * needed. A cached block nobody holds stays cached until memory runs out, then the least recently released is
 * evicted. Used by the scheduler thread only: not thread-safe.
 */
public final class KvBlockManager {

    private final int nBlocks, blockSize;
    private final int[] refs;
    private final long[] hash; // registered blocks: their chained hash
    private final int[][] blockTokens; // registered blocks: their tokens
    private final boolean[] registered;
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    private final LinkedHashSet<Integer> evictable = new LinkedHashSet<>(); // cached, unreferenced; oldest first
    private final HashMap<Long, Integer> cache = new HashMap<>();
    private final boolean prefixCaching;
    private long lastHash;

    public KvBlockManager(int nBlocks, int blockSize, boolean prefixCaching) {
        if (nBlocks <= 0 || blockSize <= 0) throw new IllegalArgumentException("bad KV pool: " + nBlocks + " blocks of " + blockSize);
        this.nBlocks = nBlocks;
        this.blockSize = blockSize;
        this.prefixCaching = prefixCaching;
        refs = new int[nBlocks];
        hash = new long[nBlocks];
        blockTokens = new int[nBlocks][];
        registered = new boolean[nBlocks];
        for (int b = 0; b < nBlocks; b++) free.add(b);
    }

    public int blockSize() {
        return blockSize;
    }

    public int totalBlocks() {
        return nBlocks;
    }

    /** Blocks that can be handed out now: free ones and cached ones nobody holds. */
    public int availableBlocks() {
        return free.size() + evictable.size();
    }

    /** Blocks held by at least one sequence. */
    public int usedBlocks() {
        return nBlocks - availableBlocks();
    }

    /** A block for one holder, or -1 when none is available. Evicts the least recently released cached block. */
    public int allocate() {
        Integer b = free.poll();
        if (b == null) {
            Iterator<Integer> it = evictable.iterator();
            if (!it.hasNext()) return -1;
            b = it.next();
            it.remove();
            unregister(b);
        }
        refs[b] = 1;
        return b;
    }

    /** Drops one holder of each block in {@code table[0..n)}. */
    public void release(int[] table, int n) {
        release(table, 0, n);
    }

    /** Drops one holder of each block in {@code table[from..to)} (a sequence's tail: speculative rows rolled back). */
    public void release(int[] table, int from, int to) {
        for (int i = from; i < to; i++) {
            int b = table[i];
            if (refs[b] <= 0) throw new IllegalStateException("block " + b + " released more often than taken");
            if (--refs[b] == 0) {
                if (registered[b]) evictable.add(b);
                else free.add(b);
            }
        }
    }

    /**
     * The longest run of cached blocks that holds the first tokens of {@code tokens} (at most {@code maxBlocks} blocks),
     * taken by reference into {@code table}; returns how many. {@link #lastHash()} is then the chain hash of the last.
     */
    public int matchPrefix(int[] tokens, int maxBlocks, int[] table) {
        lastHash = 0;
        if (!prefixCaching) return 0;
        int n = 0;
        long parent = 0;
        for (; n < maxBlocks && (long) (n + 1) * blockSize <= tokens.length; n++) {
            long h = chain(parent, tokens, n * blockSize);
            Integer b = cache.get(h);
            if (b == null || !Arrays.equals(blockTokens[b], 0, blockSize, tokens, n * blockSize, (n + 1) * blockSize)) break;
            if (refs[b]++ == 0) evictable.remove(b);
            table[n] = b;
            parent = h;
        }
        lastHash = parent;
        return n;
    }

    /** The chain hash of the last block {@link #matchPrefix} took (0: none). */
    public long lastHash() {
        return lastHash;
    }

    /**
     * A sequence's block {@code block}, now full of {@code tokens[from .. from + blockSize)}, whose blocks before it
     * chain to {@code parentHash} (0 for the first): registers it in the prefix cache unless that content is cached
     * already (another sequence computed the same prefix meanwhile: this block then stays private). Returns the
     * block's chain hash, the parent of the sequence's next block.
     */
    public long registerFull(int block, long parentHash, int[] tokens, int from) {
        long h = chain(parentHash, tokens, from);
        if (!prefixCaching || registered[block] || cache.containsKey(h)) return h;
        cache.put(h, block);
        hash[block] = h;
        blockTokens[block] = Arrays.copyOfRange(tokens, from, from + blockSize);
        registered[block] = true;
        return h;
    }

    private void unregister(int b) {
        if (!registered[b]) return;
        cache.remove(hash[b], b);
        registered[b] = false;
        blockTokens[b] = null;
    }

    /** The hash of one block's tokens chained to its parent's: splitmix64 steps over the ids. */
    private long chain(long parent, int[] tokens, int from) {
        long h = parent ^ 0x9E3779B97F4A7C15L;
        for (int i = from; i < from + blockSize; i++) {
            h += tokens[i] * 0xBF58476D1CE4E5B9L + 0x94D049BB133111EBL;
            h = (h ^ (h >>> 30)) * 0xBF58476D1CE4E5B9L;
            h = (h ^ (h >>> 27)) * 0x94D049BB133111EBL;
            h ^= h >>> 31;
        }
        return h;
    }
}
