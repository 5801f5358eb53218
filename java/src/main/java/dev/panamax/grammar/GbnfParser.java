package dev.panamax.grammar;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * GBNF text to rules, with llama.cpp's grammar parser's semantics (llama-grammar.cpp): the same rule ids (symbols
 * numbered in order of first appearance, synthesized rules for groups and repetitions named {@code rule_N}), the same
 * rewriting of {@code * + ? {m,n}} and the same limits, so that a grammar means here what it means there. Errors carry
 * the line and column where parsing stopped.
 */
final class GbnfParser {

    static final int MAX_REPETITION_THRESHOLD = 2000;

    /** Parenthesized groups nested in one another: far beyond any grammar people write or the converter makes. */
    static final int MAX_GROUP_DEPTH = 256;

    private int groupDepth;

    private final int[] src; // code points, 0-terminated like the C string llama.cpp reads
    final Map<String, Integer> symbolIds = new LinkedHashMap<>();
    final List<int[]> rules = new ArrayList<>(); // each: (type, value) pairs, ending with END; null = undefined
    final Map<Integer, Integer> firstReference = new LinkedHashMap<>(); // symbol id -> source offset
    final Map<Integer, String> tokenTexts = new LinkedHashMap<>(); // element index key -> "<text>" to resolve later
    private final List<String> pendingTokenTexts = new ArrayList<>();

    private GbnfParser(String text) {
        int[] cps = text.codePoints().toArray();
        src = new int[cps.length + 1];
        System.arraycopy(cps, 0, src, 0, cps.length);
    }

    static GbnfParser parse(String text) {
        GbnfParser p = new GbnfParser(text);
        p.run();
        return p;
    }

    List<String> tokenTexts() {
        return pendingTokenTexts;
    }

    private void run() {
        int pos = parseSpace(0, true);
        while (src[pos] != 0) pos = parseRule(pos);
        for (int i = 0; i < rules.size(); i++) {
            if (rules.get(i) == null) throw undefined(i);
            int[] r = rules.get(i);
            for (int k = 0; k < r.length; k += 2) {
                if (r[k] == Grammar.RULE_REF && (r[k + 1] >= rules.size() || rules.get(r[k + 1]) == null)) {
                    throw undefined(r[k + 1]);
                }
            }
        }
        for (Map.Entry<String, Integer> e : symbolIds.entrySet()) {
            if (e.getValue() >= rules.size()) throw undefined(e.getValue());
        }
    }

    private GrammarException undefined(int id) {
        String name = "?";
        for (Map.Entry<String, Integer> e : symbolIds.entrySet()) if (e.getValue() == id) name = e.getKey();
        Integer at = firstReference.get(id);
        return at == null ? new GrammarException("undefined rule '" + name + "'") : error("undefined rule '" + name + "'", at);
    }

    GrammarException error(String what, int at) {
        return error(what, at, GrammarException.Reason.OTHER);
    }

    GrammarException error(String what, int at, GrammarException.Reason reason) {
        int line = 1, col = 1;
        for (int i = 0; i < at && i < src.length - 1; i++) {
            if (src[i] == '\n') { line++; col = 1; } else col++;
        }
        StringBuilder near = new StringBuilder();
        for (int i = at; i < src.length - 1 && src[i] != '\n' && near.length() < 24; i++) near.appendCodePoint(src[i]);
        String tail = src[at] == 0 ? " (at the end)" : " (at '" + near + "')";
        return new GrammarException(what + tail, line, col, reason);
    }

    // ---- lexical helpers ----

    private static boolean isDigit(int c) {
        return '0' <= c && c <= '9';
    }

    private static boolean isWordChar(int c) {
        return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '-' || isDigit(c);
    }

    private int parseSpace(int pos, boolean newlineOk) {
        while (src[pos] == ' ' || src[pos] == '\t' || src[pos] == '#' || (newlineOk && (src[pos] == '\r' || src[pos] == '\n'))) {
            if (src[pos] == '#') {
                while (src[pos] != 0 && src[pos] != '\r' && src[pos] != '\n') pos++;
            } else {
                pos++;
            }
        }
        return pos;
    }

    private int parseName(int pos) {
        int p = pos;
        while (isWordChar(src[p])) p++;
        if (p == pos) throw error("expecting a name", pos);
        return p;
    }

    private int parseInt(int pos) {
        int p = pos;
        while (isDigit(src[p])) p++;
        if (p == pos) throw error("expecting an integer", pos);
        return p;
    }

    private long intValue(int from, int to) {
        long v = 0;
        for (int i = from; i < to; i++) {
            v = v * 10 + (src[i] - '0');
            if (v > Integer.MAX_VALUE) return Long.MAX_VALUE; // far beyond every limit below
        }
        return v;
    }

    private String text(int from, int to) {
        StringBuilder sb = new StringBuilder();
        for (int i = from; i < to; i++) sb.appendCodePoint(src[i]);
        return sb.toString();
    }

    private int hex(int pos, int size, int escapeAt) {
        int v = 0, p = pos, end = pos + size;
        for (; p < end && src[p] != 0; p++) {
            int c = src[p], d;
            if ('a' <= c && c <= 'f') d = c - 'a' + 10;
            else if ('A' <= c && c <= 'F') d = c - 'A' + 10;
            else if ('0' <= c && c <= '9') d = c - '0';
            else break;
            v = (v << 4) + d;
        }
        if (p != end) throw error("expecting " + size + " hex digits", escapeAt);
        charEnd = p;
        return v;
    }

    private int charEnd; // where the last parseChar stopped

    /** One (possibly escaped) character at pos; sets charEnd. */
    private int parseChar(int pos) {
        if (src[pos] == '\\') {
            switch (src[pos + 1]) {
                case 'x': return hex(pos + 2, 2, pos);
                case 'u': return hex(pos + 2, 4, pos);
                case 'U': return hex(pos + 2, 8, pos);
                case 't': charEnd = pos + 2; return '\t';
                case 'r': charEnd = pos + 2; return '\r';
                case 'n': charEnd = pos + 2; return '\n';
                case '\\', '"', '[', ']', '-': charEnd = pos + 2; return src[pos + 1];
                default: throw error("unknown escape", pos);
            }
        }
        if (src[pos] != 0) {
            charEnd = pos + 1;
            return src[pos];
        }
        throw error("unexpected end of input", pos);
    }

    // ---- rules ----

    private int symbolId(String name) {
        Integer id = symbolIds.get(name);
        if (id != null) return id;
        int next = symbolIds.size();
        symbolIds.put(name, next);
        return next;
    }

    private int generateSymbolId(String base) {
        int next = symbolIds.size();
        symbolIds.put(base + "_" + next, next);
        return next;
    }

    private void addRule(int id, IntList rule) {
        while (rules.size() <= id) rules.add(null);
        rules.set(id, rule.toArray());
    }

    private int parseRule(int pos) {
        int nameEnd = parseName(pos);
        String name = text(pos, nameEnd);
        int p = parseSpace(nameEnd, false);
        int id = symbolId(name);
        if (!(src[p] == ':' && src[p + 1] == ':' && src[p + 2] == '=')) throw error("expecting ::=", p);
        p = parseSpace(p + 3, true);
        p = parseAlternates(p, name, id, false);
        if (src[p] == '\r') p += src[p + 1] == '\n' ? 2 : 1;
        else if (src[p] == '\n') p++;
        else if (src[p] != 0) throw error("expecting newline or end", p);
        return parseSpace(p, true);
    }

    private int parseAlternates(int pos, String ruleName, int ruleId, boolean nested) {
        IntList rule = new IntList();
        int p = parseSequence(pos, ruleName, rule, nested);
        while (src[p] == '|') {
            rule.add(Grammar.ALT, 0);
            p = parseSpace(p + 1, true);
            p = parseSequence(p, ruleName, rule, nested);
        }
        rule.add(Grammar.END, 0);
        addRule(ruleId, rule);
        return p;
    }

    private int parseSequence(int pos, String ruleName, IntList rule, boolean nested) {
        int lastSymStart = rule.size();
        long nPrevRules = 1;
        int p = pos;
        while (src[p] != 0) {
            int c = src[p];
            if (c == '"') {
                p++;
                lastSymStart = rule.size();
                nPrevRules = 1;
                while (src[p] != '"') {
                    if (src[p] == 0) throw error("unexpected end of input (unterminated string)", p);
                    int ch = parseChar(p);
                    p = charEnd;
                    rule.add(Grammar.CHAR, ch);
                }
                p = parseSpace(p + 1, nested);
            } else if (c == '[') {
                p++;
                int startType = Grammar.CHAR;
                if (src[p] == '^') {
                    p++;
                    startType = Grammar.CHAR_NOT;
                }
                lastSymStart = rule.size();
                nPrevRules = 1;
                while (src[p] != ']') {
                    if (src[p] == 0) throw error("unexpected end of input (unterminated character class)", p);
                    int ch = parseChar(p);
                    p = charEnd;
                    rule.add(lastSymStart < rule.size() ? Grammar.CHAR_ALT : startType, ch);
                    if (src[p] == '-' && src[p + 1] != ']') {
                        if (src[p + 1] == 0) throw error("unexpected end of input", p + 1);
                        int hi = parseChar(p + 1);
                        p = charEnd;
                        rule.add(Grammar.CHAR_RNG_UPPER, hi);
                    }
                }
                p = parseSpace(p + 1, nested);
            } else if (c == '<' || c == '!') {
                int type = Grammar.TOKEN;
                if (c == '!') {
                    type = Grammar.TOKEN_NOT;
                    p++;
                }
                if (src[p] != '<') throw error("expecting '<'", p);
                int start = p;
                p++;
                int value;
                if (src[p] == '[') {
                    p++;
                    int intEnd = parseInt(p);
                    long v = intValue(p, intEnd);
                    if (v > Integer.MAX_VALUE) throw error("token id too large", p);
                    p = intEnd;
                    if (src[p] != ']') throw error("expecting ']'", p);
                    p++;
                    if (src[p] != '>') throw error("expecting '>'", p);
                    p++;
                    value = (int) v;
                } else {
                    while (src[p] != 0 && src[p] != '>') p++;
                    if (src[p] != '>') throw error("expecting '>'", p);
                    p++;
                    // resolved against a vocabulary later (it must tokenize to exactly one token)
                    pendingTokenTexts.add(text(start, p));
                    value = -pendingTokenTexts.size(); // -k = k-th pending text
                }
                lastSymStart = rule.size();
                nPrevRules = 1;
                rule.add(type, value);
                p = parseSpace(p, nested);
            } else if (isWordChar(c)) {
                int nameEnd = parseName(p);
                int ref = symbolId(text(p, nameEnd));
                firstReference.putIfAbsent(ref, p);
                p = parseSpace(nameEnd, nested);
                lastSymStart = rule.size();
                nPrevRules = 1;
                rule.add(Grammar.RULE_REF, ref);
            } else if (c == '(') {
                int open = p;
                // the parser recurses per group: a bound keeps deep nesting a GrammarException, not a StackOverflowError
                if (++groupDepth > MAX_GROUP_DEPTH) throw error("groups nested deeper than " + MAX_GROUP_DEPTH, open, GrammarException.Reason.SIZE_LIMIT);
                p = parseSpace(p + 1, true);
                int before = symbolIds.size();
                int sub = generateSymbolId(ruleName);
                p = parseAlternates(p, ruleName, sub, true);
                groupDepth--;
                nPrevRules = Math.max(1, symbolIds.size() - before);
                lastSymStart = rule.size();
                rule.add(Grammar.RULE_REF, sub);
                if (src[p] != ')') throw error("expecting ')' to close the '(' at column " + column(open), p);
                p = parseSpace(p + 1, nested);
            } else if (c == '.') {
                lastSymStart = rule.size();
                nPrevRules = 1;
                rule.add(Grammar.CHAR_ANY, 0);
                p = parseSpace(p + 1, nested);
            } else if (c == '*' || c == '+' || c == '?') {
                int at = p;
                p = parseSpace(p + 1, nested);
                nPrevRules = repeat(rule, lastSymStart, nPrevRules, ruleName, c == '+' ? 1 : 0, c == '?' ? 1 : -1, at);
            } else if (c == '{') {
                int at = p;
                p = parseSpace(p + 1, nested);
                if (!isDigit(src[p])) throw error("expecting an integer", p);
                int intEnd = parseInt(p);
                long min = intValue(p, intEnd);
                p = parseSpace(intEnd, nested);
                long max;
                if (src[p] == '}') {
                    max = min;
                    p = parseSpace(p + 1, nested);
                } else if (src[p] == ',') {
                    p = parseSpace(p + 1, nested);
                    max = -1;
                    if (isDigit(src[p])) {
                        int e = parseInt(p);
                        max = intValue(p, e);
                        p = parseSpace(e, nested);
                    }
                    if (src[p] != '}') throw error("expecting '}'", p);
                    p = parseSpace(p + 1, nested);
                } else {
                    throw error("expecting ',' or '}'", p);
                }
                if (min > MAX_REPETITION_THRESHOLD) throw error("number of repetitions exceeds " + MAX_REPETITION_THRESHOLD, at, GrammarException.Reason.SIZE_LIMIT);
                if (max > MAX_REPETITION_THRESHOLD) max = -1;
                if (max >= 0 && max < min) throw error("repetition maximum " + max + " is below its minimum " + min, at);
                nPrevRules = repeat(rule, lastSymStart, nPrevRules, ruleName, min, max, at);
            } else {
                break;
            }
        }
        return p;
    }

    private int column(int at) {
        int col = 1;
        for (int i = at - 1; i >= 0 && src[i] != '\n'; i--) col++;
        return col;
    }

    /**
     * S{m,n} becomes S written m times then n-m nested optional rules; S{m,} m times then a recursive rule (llama.cpp's
     * rewriting, so rule numbering matches). max < 0: unbounded. Returns the new count of repeated rules.
     */
    private long repeat(IntList rule, int lastSymStart, long nPrevRules, String ruleName, long min, long max, int at) {
        boolean noMax = max < 0;
        if (lastSymStart == rule.size()) throw error("expecting an item before */+/?/{", at);
        int[] prev = rule.slice(lastSymStart, rule.size());
        long total = 1;
        if (!noMax && max > 0) total = max;
        else if (min > 0) total = min;
        if (nPrevRules * total > MAX_REPETITION_THRESHOLD) {
            throw error("repetitions multiply to more than " + MAX_REPETITION_THRESHOLD + " rules", at,
                    GrammarException.Reason.SIZE_LIMIT);
        }
        if (min == 0) rule.truncate(lastSymStart);
        else for (long i = 1; i < min; i++) rule.addAll(prev);
        int lastRecId = 0;
        long nOpt = noMax ? 1 : max - min;
        for (long i = 0; i < nOpt; i++) {
            IntList rec = new IntList();
            rec.addAll(prev);
            int recId = generateSymbolId(ruleName);
            if (i > 0 || noMax) rec.add(Grammar.RULE_REF, noMax ? recId : lastRecId);
            rec.add(Grammar.ALT, 0);
            rec.add(Grammar.END, 0);
            addRule(recId, rec);
            lastRecId = recId;
        }
        if (nOpt > 0) rule.add(Grammar.RULE_REF, lastRecId);
        return nPrevRules * total;
    }

    /** A growable list of (type, value) pairs. */
    static final class IntList {
        private int[] a = new int[16];
        private int n;

        void add(int type, int value) {
            if (n + 2 > a.length) a = java.util.Arrays.copyOf(a, a.length * 2);
            a[n++] = type;
            a[n++] = value;
        }

        void addAll(int[] pairs) {
            for (int i = 0; i < pairs.length; i += 2) add(pairs[i], pairs[i + 1]);
        }

        /** Size in elements (pairs). */
        int size() {
            return n / 2;
        }

        int[] slice(int fromElem, int toElem) {
            return java.util.Arrays.copyOfRange(a, fromElem * 2, toElem * 2);
        }

        void truncate(int elems) {
            n = elems * 2;
        }

        int[] toArray() {
            return java.util.Arrays.copyOf(a, n);
        }
    }
}
