package dev.panamax.grammar;

import dev.panamax.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * A vocabulary as the grammar sampler sees it: each token's piece as {@code llama_token_to_piece(special=true)} gives
 * it (cut at a NUL byte, as llama.cpp's C-string decoding is), the end-of-generation tokens, and the pieces sorted
 * bytewise with each one's common prefix length with the previous: walking them in that order is a depth-first walk
 * of the vocabulary's trie, so the work for a shared prefix is done once. The trie itself is laid out in preorder
 * (one node per distinct piece prefix: its last byte, depth, where its subtree ends, the tokens whose piece ends there),
 * so that a walk skips a dead prefix's whole subtree in one step. Immutable; built once per tokenizer and shared by
 * every grammar used with it.
 */
final class VocabIndex {

    final int nVocab;
    final byte[][] piece;     // by token id; null = never allowed (empty piece or starting with NUL), EOG excluded
    final boolean[] eog;
    final int[] sorted;       // ids with a piece, bytewise ascending
    final int[] lcp;          // common prefix length of sorted[i] with sorted[i - 1]
    final int maxLen;
    // the trie in preorder, root excluded: node k is node[k] = depth << 9 | (tokens end here ? 256 : 0) | byte, its
    // subtree is [k, nodeEnd[k]), the tokens whose piece ends at k are sorted[nodeTok[k] .. nodeTokEnd[k])
    final int nodes;
    final int[] node, nodeEnd, nodeTok, nodeTokEnd;
    // the tokens whose piece passes through node k (its subtree) are sorted[subFirst[k] .. subFirst[nodeEnd[k]]),
    // subFirst[nodes] = the number of sorted tokens
    final int[] subFirst;
    final int[] eogIds;

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
        int total = 0;
        for (int i = 0; i < n; i++) total += piece[sorted[i]].length - lcp[i];
        nodes = total;
        node = new int[total];
        nodeEnd = new int[total];
        nodeTok = new int[total];
        nodeTokEnd = new int[total];
        subFirst = new int[total + 1];
        subFirst[total] = n;
        int[] path = new int[max + 1]; // path[d]: the node at depth d on the current path
        int k = 0, open = 0;          // open: depth of the current path
        for (int i = 0; i < n; i++) {
            byte[] b = piece[sorted[i]];
            for (; open > lcp[i]; open--) nodeEnd[path[open]] = k; // close the nodes this piece leaves
            for (int d = lcp[i] + 1; d <= b.length; d++, k++) {
                node[k] = d << 9 | (b[d - 1] & 0xFF);
                nodeTok[k] = -1;
                subFirst[k] = i; // the first token through a node is the one that made it (preorder = sorted order)
                path[d] = k;
            }
            open = b.length;
            int at = path[b.length];
            if (nodeTok[at] < 0) nodeTok[at] = i; // equal pieces are adjacent in sorted order
            node[at] |= 256;
            nodeTokEnd[at] = i + 1;
        }
        for (; open > 0; open--) nodeEnd[path[open]] = k;
        int ne = 0;
        for (boolean e : eog) if (e) ne++;
        eogIds = new int[ne];
        for (int id = 0, j = 0; id < nVocab; id++) if (eog[id]) eogIds[j++] = id;
    }
}
