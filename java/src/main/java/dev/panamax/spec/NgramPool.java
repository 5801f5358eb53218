package dev.panamax.spec;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The n-grams of every request an engine has seen, for prompt-lookup drafts across requests (llama.cpp's {@code ngram}
 * cache shared by every server slot): for each run of n tokens (n = {@link #MIN_N}..{@link #MAX_N}) the token that
 * followed it most recently. A fixed table of {@code 2^bits} slots, one {@code long} each (a 40-bit fingerprint of the
 * n-gram's hash and the 24-bit token), indexed by the hash: memory is bounded once and for all, a newer n-gram simply
 * overwrites an older one in its slot, and a lookup that lands on another n-gram's slot sees a different fingerprint
 * (a false match, one in 2^40, is only a wrong guess: verification keeps the output exact). Each slot is read and
 * written whole (an {@link AtomicLongArray} in opaque mode: atomic, unordered), so {@link #add} may run on any thread while the engine
 * loop drafts; nothing is allocated.
 */
public final class NgramPool {

    /** Longest and shortest n-gram kept; single tokens are too weak a key across requests. */
    public static final int MAX_N = 4, MIN_N = 2;
    /** Default size: 2^18 slots, 2 MiB. */
    public static final int DEFAULT_BITS = 18;
    private static final int TOKEN_BITS = 24;
    private static final long TOKEN_MASK = (1L << TOKEN_BITS) - 1;

    private final AtomicLongArray slots;
    private final int mask;

    /** A pool of {@code 2^bits} slots ({@code 8 << bits} bytes). */
    public NgramPool(int bits) {
        if (bits < 4 || bits > 28) throw new IllegalArgumentException("n-gram pool bits must be in 4..28, got " + bits);
        slots = new AtomicLongArray(1 << bits);
        mask = (1 << bits) - 1;
    }

    public NgramPool() {
        this(DEFAULT_BITS);
    }

    /** Bytes the table holds (fixed). */
    public long bytes() {
        return 8L * slots.length();
    }

    /**
     * Records the n-grams of {@code tokens[0, length)} and the token after each (any thread).
     *
     * @throws IllegalArgumentException for a token id that does not fit the table (negative or >= 2^24)
     */
    public void add(int[] tokens, int length) {
        java.util.Objects.checkFromToIndex(0, length, tokens.length);
        for (int i = 0; i < length; i++) {
            if (tokens[i] < 0 || tokens[i] > TOKEN_MASK) throw new IllegalArgumentException("token id " + tokens[i] + " outside [0, 2^24)");
        }
        for (int end = MIN_N; end < length; end++) { // n-grams ending before tokens[end], followed by it
            long h = SEED;
            for (int n = 1; n <= MAX_N && n <= end; n++) {
                h = mix(h, tokens[end - n]);
                if (n >= MIN_N) put(h ^ n, tokens[end]);
            }
        }
    }

    /**
     * Drafts up to k tokens after {@code tokens[0, length)} into {@code out[off..]}: the continuation of the longest
     * recorded n-gram that ends the text, then of the text with that guess appended, and so on. Returns how many
     * (0 when not even the last {@link #MIN_N} tokens were seen before).
     */
    public int draft(int[] tokens, int length, int k, int[] out, int off) {
        int got = 0;
        while (got < k) {
            int next = -1;
            long h = SEED;
            for (int n = 1; n <= MAX_N && n <= length + got; n++) { // the hash over the last n tokens, text then drafts
                int back = length + got - n;
                h = mix(h, back < length ? tokens[back] : out[off + back - length]);
                if (n < MIN_N) continue;
                int t = get(h ^ n);
                if (t >= 0) next = t; // longer n-grams overrule shorter ones
            }
            if (next < 0) break;
            out[off + got++] = next;
        }
        return got;
    }

    private static final long SEED = 0x9E3779B97F4A7C15L;

    /** The hash of n tokens, newest first: each step mixes one more (older) token in. */
    private static long mix(long h, int token) {
        h = (h ^ token) * 0xBF58476D1CE4E5B9L;
        return h ^ (h >>> 31);
    }

    private static long finish(long h) {
        h = (h ^ (h >>> 30)) * 0x94D049BB133111EBL;
        return h ^ (h >>> 31);
    }

    private void put(long key, int token) {
        long h = finish(key);
        long fp = (h >>> TOKEN_BITS) | 1L << 39; // 40 bits, never 0 (0 is an empty slot)
        slots.setOpaque((int) h & mask, fp << TOKEN_BITS | token);
    }

    /** The token recorded after this n-gram, or -1. */
    private int get(long key) {
        long h = finish(key);
        long fp = (h >>> TOKEN_BITS) | 1L << 39;
        long v = slots.getOpaque((int) h & mask);
        return v != 0 && (v >>> TOKEN_BITS) == (fp & ((1L << 40) - 1)) ? (int) (v & TOKEN_MASK) : -1;
    }
}
