package dev.panamax.spec;

/**
 * Prompt-lookup drafts (Saxena's prompt lookup decoding; llama.cpp's {@code lookup}/{@code ngram} speculation without
 * its statistics): the last n tokens of the sequence (n from {@link #MAX_N} down to {@link #MIN_N}) are searched for in
 * the sequence's own earlier tokens, latest occurrence first, and the tokens that followed that occurrence are the
 * draft (continued periodically when the occurrence overlaps the end: text that repeats keeps repeating). Pays on text that repeats its context (code edits, extraction, RAG answers quoting their sources, JSON, the
 * loops of greedy decoding). A backwards scan over the context: no index to keep, nothing allocated.
 */
public final class NgramDrafter {

    /** Longest and shortest suffix looked up. */
    public static final int MAX_N = 4, MIN_N = 1;

    private NgramDrafter() {}

    /**
     * Writes {@code k} drafted tokens into {@code out[off..]} and returns k, or 0 when not even the last token occurred
     * before.
     *
     * @param tokens the sequence's tokens, {@code [0, length)} valid
     */
    public static int draft(int[] tokens, int length, int k, int[] out, int off) {
        if (k <= 0) return 0;
        for (int n = Math.min(MAX_N, length - 1); n >= MIN_N; n--) {
            int suffix = length - n;
            for (int i = suffix - 1; i >= 0; i--) { // occurrence tokens[i .. i+n) followed by tokens[i+n ..]
                if (!same(tokens, i, suffix, n)) continue;
                // the tokens after the occurrence; past the known ones the occurrence's own continuation repeats
                // (a loop of period length - i - n goes on: drafts as long as k, not as the period)
                for (int j = 0; j < k; j++) {
                    int at = i + n + j;
                    out[off + j] = at < length ? tokens[at] : out[off + at - length];
                }
                return k;
            }
        }
        return 0;
    }

    private static boolean same(int[] t, int a, int b, int n) {
        for (int j = 0; j < n; j++) if (t[a + j] != t[b + j]) return false;
        return true;
    }
}
