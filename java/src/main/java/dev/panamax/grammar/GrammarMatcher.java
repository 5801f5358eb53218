package dev.panamax.grammar;

import dev.panamax.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One sequence's position in a grammar, and the token mask there: a token is allowed when its piece keeps the output a
 * prefix of the grammar's language (llama.cpp's grammar sampler: UTF-8 sequences split across tokens continue into
 * the next token, a token ending inside a sequence is allowed when some completion could match), an end-of-generation
 * token exactly when the grammar can end here. The automaton and the masks live in the grammar's {@link MaskCache} for
 * this vocabulary, shared by every matcher of the same {@link Grammar} instance: a state's mask is computed once (a
 * pruned walk of the vocabulary's trie) and then costs a lookup and one pass over the logits. {@link #allows} decides
 * one token without a mask, for samplers that check the sampled token first. One matcher per sequence (not
 * thread-safe itself; the shared parts are).
 */
public final class GrammarMatcher {

    private static final int[] UTF8_LEN = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4};

    private final Grammar grammar;
    private final MaskCache c;
    private final Automaton a;
    private final VocabIndex v;
    private final int nVocab, words;
    private final int[] resolved;

    // state: a set of stacks and a partial UTF-8 sequence (value, bytes still to come)
    private int set, pValue, pRemain;
    private int[] cps;

    private long maskMisses, maskHits;

    /**
     * A matcher at the start of the grammar, for logits over {@code nVocab} tokens of this tokenizer's vocabulary
     * (ids the tokenizer does not know are never allowed).
     *
     * @throws GrammarException when a token the grammar names ({@code <text>}) is not exactly one token here, or a
     *                          token id is outside the vocabulary
     */
    public GrammarMatcher(Grammar grammar, Tokenizer tokenizer, int nVocab) {
        this(grammar, VocabIndex.of(tokenizer), nVocab, grammar.hasTokens ? resolveTokens(grammar, tokenizer, nVocab) : null);
    }

    GrammarMatcher(Grammar grammar, VocabIndex vocab, int nVocab, int[] resolvedTokens) {
        this(grammar.masks(vocab, nVocab, resolvedTokens));
        reset();
    }

    private GrammarMatcher(MaskCache cache) {
        if (cache.nVocab <= 0) throw new IllegalArgumentException("vocabulary size must be positive, got " + cache.nVocab);
        this.c = cache;
        this.grammar = cache.grammar;
        this.a = cache.a;
        this.v = cache.v;
        this.nVocab = cache.nVocab;
        this.words = cache.words;
        this.resolved = cache.resolved;
        this.cps = new int[v.maxLen + 1];
    }

    /** A scratch matcher in a given state (the cache's per-token check for grammars with token elements). */
    GrammarMatcher(MaskCache cache, int set, int pValue, int pRemain) {
        this(cache);
        this.set = set;
        this.pValue = pValue;
        this.pRemain = pRemain;
    }

    private static int[] resolveTokens(Grammar g, Tokenizer t, int nVocab) {
        int[] r = Arrays.copyOf(g.value, g.value.length);
        for (int k = 0; k < g.type.length; k++) {
            if (g.type[k] != Grammar.TOKEN && g.type[k] != Grammar.TOKEN_NOT) continue;
            if (g.value[k] < 0) {
                String text = g.tokenTexts.get(-g.value[k] - 1);
                int[] ids = t.encode(text, false, true);
                if (ids.length != 1) throw new GrammarException("token " + text + " is " + ids.length + " tokens in this vocabulary, not one");
                r[k] = ids[0];
            } else if (g.value[k] >= nVocab) {
                throw new GrammarException("token id <[" + g.value[k] + "]> is outside the vocabulary of " + nVocab);
            }
        }
        return r;
    }

    public Grammar grammar() {
        return grammar;
    }

    /** Back to the start of the grammar (the shared mask cache is kept). */
    public void reset() {
        set = a.initial;
        pValue = 0;
        pRemain = 0;
    }

    /** Whether the grammar can end here: end-of-generation tokens are allowed. */
    public boolean canEnd() {
        synchronized (c) {
            return a.canEnd(set);
        }
    }

    /** Whether nothing but the end can follow (the output is complete). */
    public boolean isComplete() {
        synchronized (c) {
            int[] m = a.members(set);
            return m.length == 1 && m[0] == 0;
        }
    }

    // ---- masks ----

    /**
     * Sets the logits of the tokens not allowed here to -infinity ({@code logits[0, nVocab)}); returns how many
     * tokens remain allowed (0: the grammar cannot go on with this vocabulary). Allocates nothing once this state's
     * mask is cached.
     */
    public int apply(float[] logits) {
        MaskCache.Mask m = mask();
        long[] mask = m.bits();
        for (int w = 0; w < words; w++) {
            long z = ~mask[w];
            int base = w << 6;
            while (z != 0) {
                logits[base + Long.numberOfTrailingZeros(z)] = Float.NEGATIVE_INFINITY;
                z &= z - 1;
            }
        }
        return m.allowed();
    }

    /**
     * Whether token id is allowed here: the cached mask's bit when this state has one, otherwise decided for this one
     * token (a walk of its bytes; no mask is computed). Samplers check the sampled token this way first and mask the
     * logits only when it is not allowed (llama.cpp's and vLLM's trick): greedy picks the same token either way.
     */
    public boolean allows(int id) {
        if (id < 0 || id >= nVocab) return false;
        MaskCache.Mask m = c.cached(set, pValue, pRemain);
        if (m != null) return (m.bits()[id >>> 6] >>> (id & 63) & 1) != 0;
        return c.allowsOne(id, set, pValue, pRemain, this);
    }

    /** The allowed tokens here as a bit set over [0, nVocab) (a copy). */
    public long[] allowedMask() {
        return mask().bits().clone();
    }

    /** Masks this matcher needed that were not cached yet / were cached (shared with other matchers of the grammar). */
    public long maskMisses() {
        return maskMisses;
    }

    public long maskHits() {
        return maskHits;
    }

    private MaskCache.Mask mask() {
        MaskCache.Mask m = c.cached(set, pValue, pRemain);
        if (m != null) {
            maskHits++;
            return m;
        }
        maskMisses++;
        return c.mask(set, pValue, pRemain);
    }

    private int decodedCount, endValue, endRemain;

    /** llama.cpp's decode_utf8 from the current partial sequence into cps; false for an invalid sequence. */
    private boolean decode(byte[] b) {
        if (b.length > cps.length) cps = new int[b.length];
        int n = 0, val = pValue, rem = pRemain, pos = 0;
        while (pos < b.length && rem > 0) {
            int c = b[pos] & 0xFF;
            if ((c >> 6) != 2) return false;
            val = (val << 6) + (c & 0x3F);
            pos++;
            rem--;
        }
        if (pRemain > 0 && rem == 0) cps[n++] = val;
        while (pos < b.length) {
            int c = b[pos] & 0xFF;
            rem = UTF8_LEN[c >> 4] - 1;
            if (rem < 0) return false;
            val = c & ((1 << (7 - rem)) - 1);
            pos++;
            while (pos < b.length && rem > 0) {
                val = (val << 6) + (b[pos] & 0x3F);
                pos++;
                rem--;
            }
            if (rem == 0) cps[n++] = val;
        }
        decodedCount = n;
        endValue = val;
        endRemain = rem;
        return true;
    }

    /** llama_grammar_reject_candidates' check of one token (call under the cache's lock). */
    boolean acceptsByToken(int id, byte[] b) {
        return decode(b) && accepts(a.members(set), 0, id);
    }

    private boolean accepts(int[] stacks, int i, int id) {
        for (int s : stacks) {
            if (s == 0) {
                if (i == decodedCount && endRemain == 0) return true;
                continue;
            }
            if (a.isTokenTop(s)) {
                // a token element matches whole tokens only: reached in the middle of a piece it ends this stack, as
                // in acceptPiece (and llama.cpp's accept). llama.cpp's mask allows such a token when its id matches,
                // and then fails to accept it ("empty grammar stack"): here it is not allowed.
                if (i == decodedCount && endRemain == 0) return true;
                continue;
            }
            if (i == decodedCount) {
                if (endRemain == 0 || a.matchPartial(a.top(s), endValue, endRemain)) return true;
                continue;
            }
            int after = a.matchChar(a.top(s), cps[i]);
            if (after >= 0 && accepts(a.advance(a.afterTerminal(s, after)), i + 1, id)) return true;
        }
        return false;
    }

    // ---- advancing ----

    /**
     * Moves past a generated token (llama_grammar_accept_impl). An end-of-generation token leaves the state as it is.
     *
     * @return false (state unchanged) when the token is not allowed here
     */
    public boolean accept(int id) {
        if (id < 0 || id >= nVocab || id >= v.nVocab) return false;
        if (v.eog[id]) return canEnd();
        byte[] b = v.piece[id];
        if (b == null || !allows(id)) return false;
        return acceptPiece(id, b);
    }

    /**
     * How many of {@code tokens[off, off + n)}, taken in order, the grammar accepts from here: the length of the
     * longest prefix a generation could continue with (an end-of-generation token the grammar allows here counts and
     * ends the prefix). The matcher is left in the state it was in. Speculation cuts a draft at its first forbidden
     * token this way, before the draft costs verify rows; the state is three ints, so the scratch walk allocates
     * nothing once the states it visits are known.
     */
    public int acceptedPrefix(int[] tokens, int off, int n) {
        int set0 = set, value0 = pValue, remain0 = pRemain, i = 0;
        try {
            while (i < n) {
                int id = tokens[off + i];
                if (!accept(id)) break;
                i++;
                if (id < v.nVocab && v.eog[id]) break;
            }
        } finally {
            set = set0;
            pValue = value0;
            pRemain = remain0;
        }
        return i;
    }

    /**
     * llama_grammar_accept_token: advances by a piece as token id (no mask check); false (state unchanged) when no
     * stack survives. Tests feed text one character at a time this way, as llama.cpp's grammar tests do.
     */
    boolean acceptPiece(int id, byte[] b) {
        synchronized (c) {
            if (!decode(b)) return false;
            int next;
            if (decodedCount == 0) {
                next = a.charTops(set);
            } else {
                next = set;
                for (int i = 0; i < decodedCount && next >= 0; i++) next = a.next(next, cps[i]);
            }
            if (grammar.hasTokens) next = withTokenMoves(next, id);
            if (next < 0) return false;
            set = next;
            pValue = endRemain > 0 ? endValue : 0; // on a character boundary the last value does not matter: one state
            pRemain = endRemain;
            return true;
        }
    }

    private int withTokenMoves(int charNext, int id) {
        List<Integer> out = new ArrayList<>();
        if (charNext >= 0) for (int s : a.members(charNext)) out.add(s);
        for (int s : a.members(set)) {
            if (a.isTokenTop(s) && a.matchToken(s, id, resolved)) {
                for (int t : a.advance(a.afterTerminal(s, a.top(s) + 1))) out.add(t);
            }
        }
        return a.intern(Grammar.sortedDistinct(out));
    }

    /** Whether the token is allowed, decided for this one token (the reference the trie walk is tested against). */
    boolean allowsSlow(int id) {
        synchronized (c) {
            if (v.eog[id]) return a.canEnd(set);
            byte[] b = v.piece[id];
            return b != null && acceptsByToken(id, b);
        }
    }

    /** The one-token check {@link #allows} falls back to when no mask is cached (tests compare it with the mask). */
    boolean allowsOne(int id) {
        return c.allowsOne(id, set, pValue, pRemain, this);
    }

    int stateSet() {
        return set;
    }

    Automaton automaton() {
        return a;
    }
}
