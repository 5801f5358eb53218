package dev.panamax.grammar;

import dev.panamax.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One sequence's position in a grammar, and the token mask there: a token is allowed when its piece keeps the output a
 * prefix of the grammar's language (llama.cpp's grammar sampler: UTF-8 sequences split across tokens continue into
 * the next token, a token ending inside a sequence is allowed when some completion could match), an end-of-generation
 * token exactly when the grammar can end here. Masks are computed by one walk of the vocabulary in trie order from the
 * current state and cached per state (a state recurs: inside a string, after each list item, ...), so a token usually
 * costs a cache lookup and one pass over the logits. Not thread-safe; the {@link Grammar} it follows is shared.
 */
public final class GrammarMatcher {

    private static final int[] UTF8_LEN = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4};
    private static final long MASK_CACHE_BYTES = 64L << 20;

    private final Grammar grammar;
    private final Automaton a;
    private final VocabIndex v;
    private final int nVocab, words;
    private final int[] resolved; // by element position: token id of TOKEN/TOKEN_NOT elements (null: no tokens)

    // state: a set of stacks and a partial UTF-8 sequence (value, bytes still to come)
    private int set, pValue, pRemain;

    private final LongIntMap maskIndex = new LongIntMap(256);
    private final List<long[]> masks = new ArrayList<>();
    private final List<Integer> allowedCounts = new ArrayList<>();
    private final int maxMasks;

    // walk scratch, by depth in bytes
    private final int[] dSet, dVal, dRem;
    private final boolean[] dCont;
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
        if (nVocab <= 0) throw new IllegalArgumentException("vocabulary size must be positive, got " + nVocab);
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
        cps = new int[depth];
        reset();
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

    /** Back to the start of the grammar (the mask cache is kept). */
    public void reset() {
        set = a.initial;
        pValue = 0;
        pRemain = 0;
    }

    /** Whether the grammar can end here: end-of-generation tokens are allowed. */
    public boolean canEnd() {
        return a.canEnd(set);
    }

    /** Whether nothing but the end can follow (the output is complete). */
    public boolean isComplete() {
        int[] m = a.members(set);
        return m.length == 1 && m[0] == 0;
    }

    // ---- masks ----

    /**
     * Sets the logits of the tokens not allowed here to -infinity ({@code logits[0, nVocab)}); returns how many
     * tokens remain allowed (0: the grammar cannot go on with this vocabulary). Allocates nothing once this state's
     * mask is cached.
     */
    public int apply(float[] logits) {
        int m = maskId();
        long[] mask = masks.get(m);
        for (int w = 0; w < words; w++) {
            long z = ~mask[w];
            int base = w << 6;
            while (z != 0) {
                logits[base + Long.numberOfTrailingZeros(z)] = Float.NEGATIVE_INFINITY;
                z &= z - 1;
            }
        }
        return allowedCounts.get(m);
    }

    /** Whether token id is allowed here. */
    public boolean allows(int id) {
        if (id < 0 || id >= nVocab) return false;
        long[] mask = masks.get(maskId());
        return (mask[id >>> 6] >>> (id & 63) & 1) != 0;
    }

    /** The allowed tokens here as a bit set over [0, nVocab) (a copy). */
    public long[] allowedMask() {
        return masks.get(maskId()).clone();
    }

    /** Masks computed / served from the cache so far (the benchmark's hit rate). */
    public long maskMisses() {
        return maskMisses;
    }

    public long maskHits() {
        return maskHits;
    }

    private int maskId() {
        long key = ((long) set << 24) | ((long) pValue << 2) | pRemain;
        int m = maskIndex.get(key);
        if (m >= 0) {
            maskHits++;
            return m;
        }
        maskMisses++;
        if (masks.size() >= maxMasks) { // bound the cache: start over
            masks.clear();
            allowedCounts.clear();
            maskIndex.clear();
        }
        long[] mask = new long[words];
        int allowed = grammar.hasTokens ? computeMaskByToken(mask) : computeMask(mask);
        if (a.canEnd(set)) {
            for (int id = 0; id < v.nVocab && id < nVocab; id++) {
                if (v.eog[id]) {
                    mask[id >>> 6] |= 1L << (id & 63);
                    allowed++;
                }
            }
        }
        // bits past nVocab read as allowed so that apply() never writes there
        for (int id = nVocab; id < words * 64; id++) mask[id >>> 6] |= 1L << (id & 63);
        m = masks.size();
        masks.add(mask);
        allowedCounts.add(allowed);
        maskIndex.put(key, m);
        return m;
    }

    /** One walk over the vocabulary in trie order; a dead prefix rejects every token that shares it in O(1). */
    private int computeMask(long[] mask) {
        int allowed = 0;
        dSet[0] = set;
        dVal[0] = pValue;
        dRem[0] = pRemain;
        dCont[0] = pRemain > 0;
        int valid = 0; // states valid for depths [0, valid]; dSet[valid] may be -1 (dead)
        int[] sorted = v.sorted, lcp = v.lcp;
        for (int i = 0; i < sorted.length; i++) {
            int id = sorted[i];
            if (id >= nVocab) continue;
            byte[] b = v.piece[id];
            int d = Math.min(lcp[i], valid);
            if (dSet[d] < 0) {
                valid = d;
                continue;
            }
            boolean dead = false;
            for (; d < b.length; d++) {
                if (!step(d, b[d] & 0xFF)) {
                    dSet[d + 1] = -1;
                    valid = d + 1;
                    dead = true;
                    break;
                }
            }
            if (dead) continue;
            valid = b.length;
            if (endOk(dSet[d], dVal[d], dRem[d])) {
                mask[id >>> 6] |= 1L << (id & 63);
                allowed++;
            }
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
    private int computeMaskByToken(long[] mask) {
        int allowed = 0;
        for (int id = 0; id < v.nVocab && id < nVocab; id++) {
            byte[] b = v.piece[id];
            if (b == null) continue;
            if (acceptsByToken(id, b)) {
                mask[id >>> 6] |= 1L << (id & 63);
                allowed++;
            }
        }
        return allowed;
    }

    private int decodedCount, endValue, endRemain;

    /** llama.cpp's decode_utf8 from the current partial sequence into cps; false for an invalid sequence. */
    private boolean decode(byte[] b) {
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

    private boolean acceptsByToken(int id, byte[] b) {
        return decode(b) && accepts(a.members(set), 0, id);
    }

    private boolean accepts(int[] stacks, int i, int id) {
        for (int s : stacks) {
            if (s == 0) {
                if (i == decodedCount && endRemain == 0) return true;
                continue;
            }
            if (a.isTokenTop(s)) {
                if (i == decodedCount) {
                    if (endRemain == 0) return true;
                } else if (a.matchToken(s, id, resolved)) {
                    return true; // llama.cpp takes a token element matched in the middle of a piece
                }
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
        if (v.eog[id]) return a.canEnd(set);
        byte[] b = v.piece[id];
        if (b == null || !allowsFast(id)) return false;
        return acceptPiece(id, b);
    }

    /**
     * llama_grammar_accept_token: advances by a piece as token id (no mask check); false (state unchanged) when no
     * stack survives. Tests feed text one character at a time this way, as llama.cpp's grammar tests do.
     */
    boolean acceptPiece(int id, byte[] b) {
        if (b.length > cps.length) cps = new int[b.length];
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
        pValue = endValue;
        pRemain = endRemain;
        return true;
    }

    private boolean allowsFast(int id) {
        // the cached mask when there is one; otherwise check this one token (no full walk)
        long key = ((long) set << 24) | ((long) pValue << 2) | pRemain;
        int m = maskIndex.get(key);
        if (m >= 0) return (masks.get(m)[id >>> 6] >>> (id & 63) & 1) != 0;
        return acceptsByToken(id, v.piece[id]);
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
        if (v.eog[id]) return a.canEnd(set);
        byte[] b = v.piece[id];
        return b != null && acceptsByToken(id, b);
    }

    int stateSet() {
        return set;
    }

    Automaton automaton() {
        return a;
    }
}
