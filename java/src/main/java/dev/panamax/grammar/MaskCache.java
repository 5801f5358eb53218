package dev.panamax.grammar;

import java.util.ArrayList;
import java.util.List;

/**
 * One grammar's automaton and token masks for one vocabulary, shared by every {@link GrammarMatcher} of that grammar
 * and vocabulary (all sequences and requests): a state's mask is computed once per process, not once per request.
 * A state's mask is made from its stacks' top frames ({@link #computeMask}): what they allow on their own is computed
 * once per grammar by a preorder walk of the vocabulary's trie that skips the subtree of every prefix they reject, and
 * only the tokens that reach below those frames are walked again from the state itself. Thread-safe: every method runs under this object's lock (the engine
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
    // per top position and partial character: what it allows out of context (computeMask)
    private final LongIntMap localIndex = new LongIntMap(256);
    private final List<Local> locals = new ArrayList<>();
    private final int maxLocals;
    private final long[] dep; // scratch: the state's context-dependent tokens, by sorted index

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
        this.dep = new long[(vocab.sorted.length + 63) >>> 6];
        this.maxLocals = (int) Math.max(16, MASK_CACHE_BYTES / (8L * (words + dep.length)));
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

    /**
     * A state's mask from its stacks' tops. A token allowed by a set of stacks is allowed by one of them, and what a
     * stack allows depends on what lies below its top only once the top's rule is completed: so each top position
     * (with the partial character) gets, once per grammar, the tokens it allows on its own ({@link Local#acc}) and
     * those that reach past its rule ({@link Local#unc}). The state's mask is the union of its tops' accepted tokens,
     * plus a trie walk from the state itself that enters only subtrees holding some top's context-dependent token.
     * Inside a JSON string that is the few tokens with a quote or a backslash, not the whole vocabulary: a new
     * nesting depth costs a few unions and a short walk instead of a walk of the whole trie.
     */
    private int computeMask(long[] mask, int set, int pValue, int pRemain) {
        java.util.Arrays.fill(dep, 0);
        boolean anyDep = false;
        for (int s : a.members(set)) {
            if (!a.isCharTop(s)) continue; // the empty stack: end of generation, added by the caller
            Local l = local(a.localStack(s), pValue, pRemain);
            if (l.acc != null) for (int w = 0; w < words; w++) mask[w] |= l.acc[w];
            if (l.unc != null) {
                for (int w = 0; w < dep.length; w++) dep[w] |= l.unc[w];
                anyDep = true;
            }
        }
        if (anyDep) walk(mask, set, pValue, pRemain, null, dep);
        int allowed = 0;
        for (long w : mask) allowed += Long.bitCount(w);
        return allowed;
    }

    /** What a stack's top frames allow on their own: tokens by id, and those that depend on the rest by sorted index. */
    record Local(long[] acc, long[] unc) {}

    private Local local(int stack, int pValue, int pRemain) {
        long key = key(stack, pValue, pRemain);
        int i = localIndex.get(key);
        if (i >= 0) return locals.get(i);
        if (locals.size() >= maxLocals) {
            locals.clear();
            localIndex.clear();
        }
        long[] acc = new long[words], unc = new long[dep.length];
        walk(acc, a.intern(new int[] {stack}), pValue, pRemain, unc, null);
        boolean anyAcc = false, anyUnc = false;
        for (int w = 0; w < unc.length; w++) {
            for (long z = unc[w]; z != 0; z &= z - 1) { // accepted on their own: not dependent after all
                int id = v.sorted[(w << 6) + Long.numberOfTrailingZeros(z)];
                if ((acc[id >>> 6] >>> (id & 63) & 1) != 0) unc[w] &= ~(z & -z);
            }
            anyUnc |= unc[w] != 0;
        }
        for (long w : acc) anyAcc |= w != 0;
        Local l = new Local(anyAcc ? acc : null, anyUnc ? unc : null);
        locals.add(l);
        localIndex.put(key, locals.size() - 1);
        return l;
    }

    /**
     * The preorder trie walk from a set of stacks: a rejected prefix skips its subtree; tokens ending at a live node
     * are allowed (bits by id in mask). With {@code unc} (a local set): every token that goes on after its rule was
     * completed is marked there (by sorted index). With {@code only}: subtrees holding none of its tokens (by sorted
     * index) are skipped.
     */
    private void walk(long[] mask, int set, int pValue, int pRemain, long[] unc, long[] only) {
        dSet[0] = set;
        dVal[0] = pValue;
        dRem[0] = pRemain;
        dCont[0] = pRemain > 0;
        int[] node = v.node, nodeEnd = v.nodeEnd, nodeTok = v.nodeTok, nodeTokEnd = v.nodeTokEnd, sorted = v.sorted;
        int[] sub = v.subFirst;
        int[] dSet = this.dSet, dRem = this.dRem;
        for (int k = 0, n = v.nodes; k < n; ) {
            int x = node[k], d = x >>> 9, c = x & 0xFF;
            if (only != null && !anyBit(only, sub[k], sub[nodeEnd[k]])) {
                k = nodeEnd[k];
                continue;
            }
            if (unc != null && a.reachesRest(dSet[d - 1])) setBits(unc, sub[k], sub[nodeEnd[k]]);
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
                    if (id < nVocab) mask[id >>> 6] |= 1L << (id & 63);
                }
            }
            k++;
        }
    }

    /** Whether bits has a bit in [from, to). */
    private static boolean anyBit(long[] bits, int from, int to) {
        if (from >= to) return false;
        int w = from >>> 6, last = (to - 1) >>> 6;
        long first = bits[w] & (-1L << (from & 63));
        if (w == last) return (first & (-1L >>> (63 - ((to - 1) & 63)))) != 0;
        if (first != 0) return true;
        for (w++; w < last; w++) if (bits[w] != 0) return true;
        return (bits[last] & (-1L >>> (63 - ((to - 1) & 63)))) != 0;
    }

    /** Sets the bits [from, to). */
    private static void setBits(long[] bits, int from, int to) {
        if (from >= to) return;
        int w = from >>> 6, last = (to - 1) >>> 6;
        long lo = -1L << (from & 63), hi = -1L >>> (63 - ((to - 1) & 63));
        if (w == last) {
            bits[w] |= lo & hi;
            return;
        }
        bits[w] |= lo;
        for (w++; w < last; w++) bits[w] = -1L;
        bits[last] |= hi;
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
