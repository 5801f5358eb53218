package dev.panamax.grammar;

import java.util.ArrayList;
import java.util.List;

/**
 * One grammar's automaton and token masks for one vocabulary, shared by every {@link GrammarMatcher} of that grammar
 * and vocabulary (all sequences and requests): a state's mask is computed once per process, not once per request.
 * A mask is computed by a preorder walk of the vocabulary's trie that skips the subtree of every prefix the grammar
 * rejects, so its cost follows what the state allows (after an object key, only {@code :} and whitespace: a few hundred
 * steps; inside a string, the whole trie once). Thread-safe: every method runs under this object's lock (the engine
 * calls it from one thread; engines and sessions sharing a grammar may call it from several).
 */
final class MaskCache {

    private static final int[] UTF8_LEN = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4};
    private static final long MASK_CACHE_BYTES = 32L << 20;

    final Grammar grammar;
    final Automaton a;
    final VocabIndex v;
    final int nVocab, words;
    final int[] resolved; // by element position: token id of TOKEN/TOKEN_NOT elements (null: no tokens)

    private final LongIntMap maskIndex = new LongIntMap(256);
    private final List<Mask> masks = new ArrayList<>();
    private final int maxMasks;

    // walk scratch, by depth in bytes
    private final int[] dSet, dVal, dRem;
    private final boolean[] dCont;

    MaskCache(Grammar grammar, VocabIndex vocab, int nVocab, int[] resolvedTokens) {
        this.grammar = grammar;
        this.a = new Automaton(grammar);
        this.v = vocab;
        this.nVocab = nVocab;
        this.words = (nVocab + 63) >>> 6;
        this.resolved = resolvedTokens == null && grammar.hasTokens ? grammar.value : resolvedTokens;
        this.maxMasks = (int) Math.max(16, MASK_CACHE_BYTES / (8L * words));
        int depth = v.maxLen + 1;
        dSet = new int[depth];
        dVal = new int[depth];
        dRem = new int[depth];
        dCont = new boolean[depth];
    }

    /** A state's allowed tokens as bits over [0, words * 64) (bits past nVocab set), and how many of [0, nVocab). */
    record Mask(long[] bits, int allowed) {}

    static long key(int set, int pValue, int pRemain) {
        return ((long) set << 24) | ((long) pValue << 2) | pRemain;
    }

    /** The cached mask of this state, or null (nothing computed). */
    synchronized Mask cached(int set, int pValue, int pRemain) {
        int m = maskIndex.get(key(set, pValue, pRemain));
        return m < 0 ? null : masks.get(m);
    }

    /** The mask of this state; computed and cached when new. */
    synchronized Mask mask(int set, int pValue, int pRemain) {
        long key = key(set, pValue, pRemain);
        int m = maskIndex.get(key);
        if (m >= 0) return masks.get(m);
        if (masks.size() >= maxMasks) { // bound the cache: start over (matchers hold states, not masks)
            masks.clear();
            maskIndex.clear();
        }
        long[] mask = new long[words];
        int allowed = grammar.hasTokens ? computeMaskByToken(mask, set, pValue, pRemain) : computeMask(mask, set, pValue, pRemain);
        if (a.canEnd(set)) {
            for (int id : v.eogIds) {
                if (id >= nVocab) continue;
                mask[id >>> 6] |= 1L << (id & 63);
                allowed++;
            }
        }
        // bits past nVocab read as allowed so that apply() never writes there
        for (int id = nVocab; id < words * 64; id++) mask[id >>> 6] |= 1L << (id & 63);
        Mask r = new Mask(mask, allowed);
        masks.add(r);
        maskIndex.put(key, masks.size() - 1);
        return r;
    }

    /** Whether one token is allowed in this state, decided for that token alone (no mask computed). */
    synchronized boolean allowsOne(int id, int set, int pValue, int pRemain, GrammarMatcher m) {
        if (id < 0 || id >= nVocab || id >= v.nVocab) return false;
        if (v.eog[id]) return a.canEnd(set);
        byte[] b = v.piece[id];
        if (b == null) return false;
        if (grammar.hasTokens) return m.acceptsByToken(id, b);
        dSet[0] = set;
        dVal[0] = pValue;
        dRem[0] = pRemain;
        dCont[0] = pRemain > 0;
        for (int d = 0; d < b.length; d++) if (!step(d, b[d] & 0xFF)) return false;
        return endOk(dSet[b.length], dVal[b.length], dRem[b.length]);
    }

    /** The preorder trie walk: a rejected prefix skips its subtree; tokens ending at a live node are allowed. */
    private int computeMask(long[] mask, int set, int pValue, int pRemain) {
        int allowed = 0;
        dSet[0] = set;
        dVal[0] = pValue;
        dRem[0] = pRemain;
        dCont[0] = pRemain > 0;
        int[] node = v.node, nodeEnd = v.nodeEnd, nodeTok = v.nodeTok, nodeTokEnd = v.nodeTokEnd, sorted = v.sorted;
        int[] dSet = this.dSet, dRem = this.dRem;
        for (int k = 0, n = v.nodes; k < n; ) {
            int x = node[k], d = x >>> 9, c = x & 0xFF;
            if (c < 0x80 && dRem[d - 1] == 0) { // ASCII on a character boundary: one transition
                int s = a.next(dSet[d - 1], c);
                if (s < 0) {
                    k = nodeEnd[k];
                    continue;
                }
                dSet[d] = s;
                dRem[d] = 0;
            } else if (!step(d - 1, c) || (dRem[d] > 0 && !a.mayComplete(dSet[d], dVal[d], dRem[d]))) {
                k = nodeEnd[k]; // rejected, or inside a UTF-8 sequence no completion of which any stack takes
                continue;
            }
            if ((x & 256) != 0 && (dRem[d] == 0 || endOk(dSet[d], dVal[d], dRem[d]))) {
                for (int t = nodeTok[k], e = nodeTokEnd[k]; t < e; t++) {
                    int id = sorted[t];
                    if (id >= nVocab) continue;
                    mask[id >>> 6] |= 1L << (id & 63);
                    allowed++;
                }
            }
            k++;
        }
        return allowed;
    }

    /** State at depth d+1 from depth d and one byte (llama.cpp's decode_utf8, quirks included); false = rejected. */
    private boolean step(int d, int c) {
        int s = dSet[d], val = dVal[d], rem = dRem[d];
        boolean cont = dCont[d];
        if (rem > 0) {
            if (cont && (c >> 6) != 2) return false; // the previous token's sequence is not continued: invalid
            val = (val << 6) | (c & 0x3F);
            rem--;
            if (rem == 0) {
                s = a.next(s, val);
                cont = false;
                if (s < 0) return false;
            }
        } else {
            int n = UTF8_LEN[c >> 4] - 1;
            if (n < 0) return false; // a continuation byte where a sequence should start: invalid
            val = c & ((1 << (7 - n)) - 1);
            rem = n;
            cont = false;
            if (n == 0) {
                s = a.next(s, val);
                if (s < 0) return false;
            }
        }
        dSet[d + 1] = s;
        dVal[d + 1] = val;
        dRem[d + 1] = rem;
        dCont[d + 1] = cont;
        return true;
    }

    /** Whether a token may end in this state: on a character boundary always; inside a sequence if it can complete. */
    private boolean endOk(int s, int val, int rem) {
        if (rem == 0) return true;
        for (int st : a.members(s)) if (a.isCharTop(st) && a.matchPartial(a.top(st), val, rem)) return true;
        return false;
    }

    /** Grammars with token elements: each token checked on its own, as llama_grammar_reject_candidates does. */
    private int computeMaskByToken(long[] mask, int set, int pValue, int pRemain) {
        GrammarMatcher m = new GrammarMatcher(this, set, pValue, pRemain);
        int allowed = 0;
        for (int id = 0; id < v.nVocab && id < nVocab; id++) {
            byte[] b = v.piece[id];
            if (b == null) continue;
            if (m.acceptsByToken(id, b)) {
                mask[id >>> 6] |= 1L << (id & 63);
                allowed++;
            }
        }
        return allowed;
    }
}
