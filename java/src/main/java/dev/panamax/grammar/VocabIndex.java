package dev.panamax.grammar;

import dev.panamax.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * A vocabulary as the grammar sampler sees it: each token's piece as {@code llama_token_to_piece(special=true)} gives
 * it (cut at a NUL byte, as llama.cpp's C-string decoding is), the end-of-generation tokens, and the pieces sorted
 * bytewise with each one's common prefix length with the previous: walking them in that order is a depth-first walk
 * of the vocabulary's trie, so the work for a shared prefix is done once. Immutable; built once per tokenizer.
 */
final class VocabIndex {

    final int nVocab;
    final byte[][] piece;     // by token id; null = never allowed (empty piece or starting with NUL), EOG excluded
    final boolean[] eog;
    final int[] sorted;       // ids with a piece, bytewise ascending
    final int[] lcp;          // common prefix length of sorted[i] with sorted[i - 1]
    final int maxLen;

    private static final Map<Tokenizer, VocabIndex> CACHE = new WeakHashMap<>();

    static VocabIndex of(Tokenizer t) {
        synchronized (CACHE) {
            return CACHE.computeIfAbsent(t, VocabIndex::new);
        }
    }

    private VocabIndex(Tokenizer t) {
        this(t.vocabSize(), t::tokenBytes, t::isEog);
    }

    /** From pieces (special=true) and end-of-generation flags by id (tests build small vocabularies this way). */
    VocabIndex(int size, java.util.function.BiFunction<Integer, Boolean, byte[]> pieceOf, java.util.function.IntPredicate isEog) {
        nVocab = size;
        piece = new byte[nVocab][];
        eog = new boolean[nVocab];
        int n = 0, max = 0;
        for (int id = 0; id < nVocab; id++) {
            if (isEog.test(id)) {
                eog[id] = true;
                continue;
            }
            byte[] b = pieceOf.apply(id, true);
            int len = 0;
            while (len < b.length && b[len] != 0) len++;
            if (len == 0) continue;
            piece[id] = len == b.length ? b : Arrays.copyOf(b, len);
            max = Math.max(max, len);
            n++;
        }
        maxLen = max;
        Integer[] ids = new Integer[n];
        for (int id = 0, k = 0; id < nVocab; id++) if (piece[id] != null) ids[k++] = id;
        Arrays.sort(ids, (a, b) -> Arrays.compareUnsigned(piece[a], piece[b]));
        sorted = new int[n];
        lcp = new int[n];
        for (int i = 0; i < n; i++) {
            sorted[i] = ids[i];
            if (i > 0) {
                byte[] a = piece[ids[i - 1]], b = piece[ids[i]];
                int m = Arrays.mismatch(a, b);
                lcp[i] = m < 0 ? a.length : m;
            }
        }
    }
}
