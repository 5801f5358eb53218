package dev.panamax.grammar;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * llama.cpp's pushdown automaton for one grammar (llama_grammar_advance_stack, accept_chr, match_char,
 * match_partial_char), with every stack and every set of stacks interned to an int id so that equal states are equal
 * ids and the work done for a state is done once: a stack is (parent stack, element position), id 0 the empty stack;
 * a set is the sorted ids of its stacks. Transitions (set, code point) -> set are memoized (an array per set for
 * ASCII). Stack id 1 is {@link #REST}, "the rest of some stack": a stack built on it describes the top frames of
 * stacks without what lies below them, and reaching it means those frames' rules were completed (what the rest does
 * next is not known); masks use it to decide once what does not depend on the rest. Not thread-safe: guarded by its
 * {@link MaskCache}.
 */
final class Automaton {

    final Grammar g;
    private final int[] type, value;

    // stacks
    private int[] stParent = new int[256], stPos = new int[256];
    /** The stand-in for an unknown stack below a rule's position (see the class comment); never a char top. */
    static final int REST = 1;

    private int nStacks = 2; // 0 = the empty stack, 1 = REST
    private final LongIntMap stackIndex = new LongIntMap(256);
    private int[][] advanced = new int[256][];

    // sets
    private int[][] members = new int[64][];
    private boolean[] canEnd = new boolean[64];
    private int[][] asciiNext = new int[64][];
    private int[][] bounds = new int[64][];      // per set: where the match of its character classes can change
    private int[][] intervalNext = new int[64][]; // per set and interval of code points >= 128: the next set
    private int[] charTops = new int[64];          // per set: charTops(set) + 2 (0 = not computed yet)
    private int nSets;
    private final Map<Key, Integer> setIndex = new HashMap<>();

    final int initial;

    Automaton(Grammar g) {
        this.g = g;
        this.type = g.type;
        this.value = g.value;
        stPos[REST] = -1;
        // one stack per alternative of the start rule, each advanced to its terminals
        List<Integer> out = new ArrayList<>();
        int pos = g.ruleStart[g.root];
        while (true) {
            int s = Grammar.isEndOfSequence(type[pos]) ? 0 : push(0, pos);
            for (int t : advance(s)) out.add(t);
            while (!Grammar.isEndOfSequence(type[pos])) pos++;
            if (type[pos] == Grammar.ALT) pos++;
            else break;
        }
        initial = intern(Grammar.sortedDistinct(out));
    }

    // ---- stacks ----

    int push(int parent, int pos) {
        long key = ((long) parent << 32) | pos;
        int id = stackIndex.get(key);
        if (id >= 0) return id;
        if (nStacks == stParent.length) {
            stParent = Arrays.copyOf(stParent, nStacks * 2);
            stPos = Arrays.copyOf(stPos, nStacks * 2);
            advanced = Arrays.copyOf(advanced, nStacks * 2);
        }
        id = nStacks++;
        stParent[id] = parent;
        stPos[id] = pos;
        stackIndex.put(key, id);
        return id;
    }

    int top(int stack) {
        return stPos[stack];
    }

    int parent(int stack) {
        return stParent[stack];
    }

    int stackCount() {
        return nStacks;
    }

    /** The stacks whose top is a terminal (or empty) reachable from this stack by expanding rule references. */
    int[] advance(int stack) {
        if (stack < advanced.length && advanced[stack] != null) return advanced[stack];
        List<Integer> result = new ArrayList<>();
        List<Integer> todo = new ArrayList<>();
        java.util.HashSet<Integer> seen = new java.util.HashSet<>();
        todo.add(stack);
        while (!todo.isEmpty()) {
            int s = todo.remove(todo.size() - 1);
            if (!seen.add(s)) continue;
            if (s <= REST) { // the end of the grammar, or of the context-free part of a stack
                if (!result.contains(s)) result.add(s);
                continue;
            }
            int pos = stPos[s];
            switch (type[pos]) {
                case Grammar.RULE_REF -> {
                    int sub = g.ruleStart[value[pos]];
                    while (true) {
                        int next = stParent[s];
                        if (!Grammar.isEndOfSequence(type[pos + 1])) next = push(next, pos + 1);
                        if (!Grammar.isEndOfSequence(type[sub])) next = push(next, sub);
                        todo.add(next);
                        while (!Grammar.isEndOfSequence(type[sub])) sub++;
                        if (type[sub] == Grammar.ALT) sub++;
                        else break;
                    }
                }
                case Grammar.CHAR, Grammar.CHAR_NOT, Grammar.CHAR_ANY, Grammar.TOKEN, Grammar.TOKEN_NOT -> {
                    if (!result.contains(s)) result.add(s);
                }
                default -> throw new IllegalStateException("stack left on element type " + type[pos]);
            }
        }
        int[] r = Grammar.sortedDistinct(result);
        advanced[stack] = r;
        return r;
    }

    /** The stack after the terminal on top of s matched: s popped, the element after that terminal pushed. */
    int afterTerminal(int s, int nextPos) {
        int p = stParent[s];
        return Grammar.isEndOfSequence(type[nextPos]) ? p : push(p, nextPos);
    }

    // ---- sets ----

    private record Key(int[] a) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(a, k.a);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(a);
        }
    }

    /** The id of this set of stacks (sorted, distinct); -1 for the empty set (a dead state). */
    int intern(int[] sorted) {
        if (sorted.length == 0) return -1;
        Key k = new Key(sorted);
        Integer id = setIndex.get(k);
        if (id != null) return id;
        if (nSets == members.length) {
            members = Arrays.copyOf(members, nSets * 2);
            canEnd = Arrays.copyOf(canEnd, nSets * 2);
            asciiNext = Arrays.copyOf(asciiNext, nSets * 2);
            bounds = Arrays.copyOf(bounds, nSets * 2);
            intervalNext = Arrays.copyOf(intervalNext, nSets * 2);
            charTops = Arrays.copyOf(charTops, nSets * 2);
        }
        int n = nSets++;
        members[n] = sorted;
        canEnd[n] = sorted[0] == 0;
        setIndex.put(k, n);
        return n;
    }

    int[] members(int set) {
        return members[set];
    }

    int setCount() {
        return nSets;
    }

    /**
     * Frames of a stack that decide what its top allows before the rest matters: enough for a repetition inside a
     * rule (the group's rule, the repetition's rule, the enclosing rule: a JSON string's content, closing quote and
     * trailing space), few enough that the same position at other depths shares them.
     */
    static final int LOCAL_FRAMES = 3;

    /** The stack s with the frames below its top LOCAL_FRAMES replaced by REST (s itself when it is not deeper). */
    int localStack(int s) {
        int[] pos = new int[LOCAL_FRAMES];
        int n = 0, t = s;
        while (n < LOCAL_FRAMES && t > REST) {
            pos[n++] = stPos[t];
            t = stParent[t];
        }
        int r = t == 0 ? 0 : REST;
        for (int i = n - 1; i >= 0; i--) r = push(r, pos[i]);
        return r;
    }

    /** Whether the set holds REST: a rule whose context is not known was completed (local sets never hold 0). */
    boolean reachesRest(int set) {
        return members[set][0] == REST;
    }

    /** Whether the set holds the empty stack: the grammar may end here. */
    boolean canEnd(int set) {
        return canEnd[set];
    }

    boolean isCharTop(int stack) {
        if (stack <= REST) return false;
        int t = type[stPos[stack]];
        return t == Grammar.CHAR || t == Grammar.CHAR_NOT || t == Grammar.CHAR_ANY;
    }

    boolean isTokenTop(int stack) {
        if (stack <= REST) return false;
        int t = type[stPos[stack]];
        return t == Grammar.TOKEN || t == Grammar.TOKEN_NOT;
    }

    /** The set after one code point (llama_grammar_accept): -1 when no stack accepts it. */
    int next(int set, int cp) {
        if (cp < 128) {
            int[] row = asciiNext[set];
            if (row == null) row = asciiNext[set] = asciiRow(set);
            int r = row[cp];
            if (r == -2) row[cp] = r = computeNext(set, cp);
            return r;
        }
        // code points between two consecutive bounds match the same classes: one transition per interval
        int[] b = bounds[set];
        if (b == null) {
            b = bounds[set] = classBounds(set);
            int[] row = new int[b.length + 1];
            Arrays.fill(row, -2);
            intervalNext[set] = row;
        }
        int k = Arrays.binarySearch(b, cp);
        k = k >= 0 ? k + 1 : -k - 1;
        int[] row = intervalNext[set];
        int r = row[k];
        if (r == -2) row[k] = r = computeNext(set, cp);
        return r;
    }

    /**
     * The set's transitions on all ASCII characters at once: the next set depends only on which of its stacks match
     * the character, so each distinct group of matching stacks is computed once (a set's 128 transitions usually take a
     * handful of computations, most characters matching nothing). Sets of more than 64 stacks fill the row lazily.
     */
    private int[] asciiRow(int set) {
        int[] row = new int[128];
        Arrays.fill(row, -2);
        int[] m = members[set];
        if (m.length > 64) return row;
        Map<Long, Integer> byGroup = new HashMap<>();
        for (int c = 0; c < 128; c++) {
            long group = 0;
            for (int j = 0; j < m.length; j++) if (isCharTop(m[j]) && matchChar(stPos[m[j]], c) >= 0) group |= 1L << j;
            if (group == 0) {
                row[c] = -1;
                continue;
            }
            Integer known = byGroup.get(group);
            if (known == null) byGroup.put(group, known = computeNext(set, c));
            row[c] = known;
        }
        return row;
    }

    /** Sorted distinct code points where some character class on top of the set's stacks starts or stops matching. */
    private int[] classBounds(int set) {
        java.util.TreeSet<Integer> out = new java.util.TreeSet<>();
        for (int s : members[set]) {
            if (!isCharTop(s)) continue;
            int pos = stPos[s];
            do {
                if (type[pos + 1] == Grammar.CHAR_RNG_UPPER) {
                    out.add(value[pos]);
                    out.add(value[pos + 1] + 1);
                    pos += 2;
                } else {
                    if (type[pos] != Grammar.CHAR_ANY) {
                        out.add(value[pos]);
                        out.add(value[pos] + 1);
                    }
                    pos += 1;
                }
            } while (type[pos] == Grammar.CHAR_ALT);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private int computeNext(int set, int cp) {
        List<Integer> out = new ArrayList<>();
        for (int s : members[set]) {
            if (!isCharTop(s)) continue; // the empty stack and token elements take no characters
            int pos = stPos[s];
            int after = matchChar(pos, cp);
            if (after < 0) continue;
            for (int t : advance(afterTerminal(s, after))) out.add(t);
        }
        return intern(Grammar.sortedDistinct(out));
    }

    /** The set's stacks whose top takes characters (what survives a token with no complete character). */
    int charTops(int set) {
        if (charTops[set] != 0) return charTops[set] - 2;
        List<Integer> out = new ArrayList<>();
        for (int s : members[set]) if (isCharTop(s)) out.add(s);
        int r = intern(Grammar.sortedDistinct(out));
        charTops[set] = r + 2;
        return r;
    }

    // ---- terminals ----

    /** If the character class at pos matches cp, the position after the class; otherwise -1-(that position). */
    int matchChar(int pos, int cp) {
        boolean found = false;
        boolean positive = type[pos] == Grammar.CHAR || type[pos] == Grammar.CHAR_ANY;
        do {
            if (type[pos + 1] == Grammar.CHAR_RNG_UPPER) {
                found |= value[pos] <= cp && cp <= value[pos + 1];
                pos += 2;
            } else if (type[pos] == Grammar.CHAR_ANY) {
                found = true;
                pos += 1;
            } else {
                found |= value[pos] == cp;
                pos += 1;
            }
        } while (type[pos] == Grammar.CHAR_ALT);
        return found == positive ? pos : -1 - pos;
    }

    /** Whether some completion of a partial UTF-8 sequence (value, remain bytes to come) can match the class at pos. */
    boolean matchPartial(int pos, int partialValue, int remain) {
        boolean positive = type[pos] == Grammar.CHAR || type[pos] == Grammar.CHAR_ANY;
        if (remain < 0 || (remain == 1 && partialValue < 2)) return false;
        long low = (long) partialValue << (remain * 6);
        long high = low | ((1L << (remain * 6)) - 1);
        if (low == 0) {
            if (remain == 2) low = 1 << 11;
            else if (remain == 3) low = 1 << 16;
        }
        do {
            if (type[pos + 1] == Grammar.CHAR_RNG_UPPER) {
                if (value[pos] <= high && low <= value[pos + 1]) return positive;
                pos += 2;
            } else if (type[pos] == Grammar.CHAR_ANY) {
                return true;
            } else {
                if (low <= value[pos] && value[pos] <= high) return positive;
                pos += 1;
            }
        } while (type[pos] == Grammar.CHAR_ALT);
        return !positive;
    }

    /**
     * Whether some stack of the set could take a code point that completes this partial UTF-8 sequence, counting every
     * value decode_utf8 can produce from it ([value << 6r, value << 6r | 2^6r - 1], overlong forms included): false
     * means no token continuing the sequence is allowed, so the mask walk may skip them all. Conservative for
     * negated classes (always true).
     */
    boolean mayComplete(int set, int partialValue, int remain) {
        long low = (long) partialValue << (remain * 6), high = low | ((1L << (remain * 6)) - 1);
        for (int s : members[set]) {
            if (!isCharTop(s)) continue;
            int pos = stPos[s];
            if (type[pos] != Grammar.CHAR) return true;
            do {
                long lo = value[pos], hi = type[pos + 1] == Grammar.CHAR_RNG_UPPER ? value[pos + 1] : lo;
                if (lo <= high && low <= hi) return true;
                pos += type[pos + 1] == Grammar.CHAR_RNG_UPPER ? 2 : 1;
            } while (type[pos] == Grammar.CHAR_ALT);
        }
        return false;
    }

    /** Whether the token element on top of stack s takes token id. */
    boolean matchToken(int s, int id, int[] resolvedTokens) {
        int pos = stPos[s];
        int want = resolvedTokens == null ? value[pos] : resolvedTokens[pos];
        return type[pos] == Grammar.TOKEN ? want == id : want != id;
    }
}
