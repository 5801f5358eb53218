package dev.panamax.spec;

/**
 * Prompt-lookup drafts (Saxena's prompt lookup decoding; llama.cpp's {@code lookup}/{@code ngram} speculation without
 * its statistics): the last n tokens of the sequence (n from {@link #MAX_N} down to {@link #MIN_N}) are searched for in
 * the sequence's own earlier tokens, latest occurrence first, and the tokens that followed that occurrence are the
 * draft. Pays on text that repeats its context (code edits, extraction, RAG answers quoting their sources, JSON, the
 * loops of greedy decoding). A backwards scan over the context: no index to keep, nothing allocated.
 */
public final class NgramDrafter {

    /** Longest and shortest suffix looked up. */
    public static final int MAX_N = 4, MIN_N = 1;

    private NgramDrafter() {}

    /**
     * Writes up to {@code k} drafted tokens into {@code out[off..]} and returns how many (0 when no earlier occurrence
     * of even the last token has a continuation).
     *
     * @param tokens the sequence's tokens, {@code [0, length)} valid
     */
    public static int draft(int[] tokens, int length, int k, int[] out, int off) {
        if (k <= 0) return 0;
        for (int n = Math.min(MAX_N, length - 1); n >= MIN_N; n--) {
            int suffix = length - n;
            for (int i = suffix - 1; i >= 0; i--) { // occurrence tokens[i .. i+n) followed by tokens[i+n ..]
                if (!same(tokens, i, suffix, n)) continue;
                int m = Math.min(k, length - (i + n));
                System.arraycopy(tokens, i + n, out, off, m);
                return m;
            }
        }
        return 0;
    }

    private static boolean same(int[] t, int a, int b, int n) {
        for (int j = 0; j < n; j++) if (t[a + j] != t[b + j]) return false;
        return true;
    }
}
