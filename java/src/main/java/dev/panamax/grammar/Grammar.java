package dev.panamax.grammar;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A compiled GBNF grammar: immutable, shareable between threads and requests. Rules are llama.cpp's grammar elements
 * (type, value) laid out one rule after another, each rule ending with {@link #END}; a position in these arrays is
 * what the automaton's stacks hold. Made by {@link #parse(String)} from GBNF text, by {@link #fromJsonSchema(String)},
 * or {@link #jsonObject()} (any JSON object). A generation needs a {@link GrammarMatcher} per sequence.
 */
public final class Grammar {

    // element types, numbered as llama.cpp's llama_gretype
    public static final int END = 0, ALT = 1, RULE_REF = 2, CHAR = 3, CHAR_NOT = 4, CHAR_RNG_UPPER = 5, CHAR_ALT = 6,
            CHAR_ANY = 7, TOKEN = 8, TOKEN_NOT = 9;

    final int[] type, value; // all rules, one after another
    final int[] ruleStart;
    final String[] ruleNames;
    final int root;
    final List<String> tokenTexts; // TOKEN elements written <text>: value -k refers to tokenTexts[k-1]
    final boolean hasTokens;
    private final String source;
    private final Map<String, Integer> symbolIds;
    // per vocabulary (and logits width): the automaton and token masks all matchers of this grammar share
    private final Map<VocabIndex, Map<Integer, MaskCache>> masks = new java.util.WeakHashMap<>();

    // recently parsed grammars by (root, text): requests with the same grammar or schema share one instance (and its masks)
    private static final int RECENT = 16;
    private static final Map<String, Grammar> recent = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Grammar> e) {
            return size() > RECENT;
        }
    };

    private Grammar(String source, GbnfParser p, String rootName) {
        this.source = source;
        this.symbolIds = new LinkedHashMap<>(p.symbolIds);
        Integer r = p.symbolIds.get(rootName);
        if (r == null) throw new GrammarException("the grammar has no rule '" + rootName + "' to start from");
        this.root = r;
        int n = p.rules.size();
        ruleNames = new String[n];
        for (Map.Entry<String, Integer> e : p.symbolIds.entrySet()) if (e.getValue() < n) ruleNames[e.getValue()] = e.getKey();
        ruleStart = new int[n + 1];
        int total = 0;
        for (int i = 0; i < n; i++) {
            ruleStart[i] = total;
            total += p.rules.get(i).length / 2;
        }
        ruleStart[n] = total;
        type = new int[total];
        value = new int[total];
        boolean tokens = false;
        for (int i = 0, k = 0; i < n; i++) {
            int[] rule = p.rules.get(i);
            for (int j = 0; j < rule.length; j += 2, k++) {
                type[k] = rule[j];
                value[k] = rule[j + 1];
                tokens |= rule[j] == TOKEN || rule[j] == TOKEN_NOT;
            }
        }
        hasTokens = tokens;
        tokenTexts = List.copyOf(p.tokenTexts());
        String rec = leftRecursion();
        if (rec != null) throw new GrammarException("left recursion in rule '" + rec + "' (not supported: rewrite it right-recursive)",
                GrammarException.Reason.LEFT_RECURSION);
    }

    /** Parses GBNF text whose start rule is {@code root}. */
    public static Grammar parse(String gbnf) {
        return parse(gbnf, "root");
    }

    /**
     * Parses GBNF text (llama.cpp's grammars/README.md).
     *
     * @throws GrammarException with line and column for a syntax error, for an undefined rule, a missing start rule
     *                          or left recursion
     */
    public static Grammar parse(String gbnf, String rootName) {
        String key = rootName + "\u0000" + gbnf;
        synchronized (recent) {
            Grammar g = recent.get(key);
            if (g != null) return g;
        }
        GbnfParser p = GbnfParser.parse(gbnf);
        if (p.rules.isEmpty()) throw new GrammarException("the grammar is empty");
        Grammar g = new Grammar(gbnf, p, rootName);
        synchronized (recent) {
            recent.put(key, g);
        }
        return g;
    }

    /** The shared automaton and masks of this grammar over a vocabulary (made on first use). */
    MaskCache masks(VocabIndex v, int nVocab, int[] resolvedTokens) {
        synchronized (masks) {
            return masks.computeIfAbsent(v, k -> new java.util.HashMap<>())
                    .computeIfAbsent(nVocab, n -> new MaskCache(this, v, n, resolvedTokens));
        }
    }

    /**
     * The grammar of the JSON values a JSON Schema accepts ({@link JsonSchemaGrammar}).
     *
     * @throws GrammarException for a schema that is not JSON, or uses what the converter does not support
     */
    public static Grammar fromJsonSchema(String schemaJson) {
        return JsonSchemaGrammar.toGrammar(schemaJson);
    }

    /** Any JSON object (OpenAI's {@code response_format: json_object}). */
    public static Grammar jsonObject() {
        return parse(JsonSchemaGrammar.toGbnf("{\"type\": \"object\"}"));
    }

    /** The GBNF text this grammar was parsed from. */
    public String source() {
        return source;
    }

    /** Symbol names to rule ids, in order of first appearance (llama.cpp's numbering). */
    public Map<String, Integer> symbols() {
        return symbolIds;
    }

    /** Rule {@code id} as (type, value) pairs, its END included. For tests and tools. */
    public int[] rule(int id) {
        int[] out = new int[2 * (ruleStart[id + 1] - ruleStart[id])];
        for (int k = ruleStart[id], j = 0; k < ruleStart[id + 1]; k++) {
            out[j++] = type[k];
            out[j++] = value[k];
        }
        return out;
    }

    public int ruleCount() {
        return ruleStart.length - 1;
    }

    /** Whether the grammar names tokens ({@code <[id]>}, {@code <text>}, {@code !<...>}). */
    public boolean hasTokenElements() {
        return hasTokens;
    }

    static boolean isEndOfSequence(int t) {
        return t == END || t == ALT;
    }

    // ---- left recursion (llama_grammar_detect_left_recursion's algorithm) ----

    private String leftRecursion() {
        int n = ruleCount();
        boolean[] visited = new boolean[n], inProgress = new boolean[n], mayBeEmpty = new boolean[n];
        for (int i = 0; i < n; i++) {
            if (visited[i]) continue;
            int r = detect(i, visited, inProgress, mayBeEmpty);
            if (r >= 0) return ruleNames[r];
        }
        return null;
    }

    private int detect(int rule, boolean[] visited, boolean[] inProgress, boolean[] mayBeEmpty) {
        if (inProgress[rule]) return rule;
        inProgress[rule] = true;
        int a = ruleStart[rule], b = ruleStart[rule + 1];
        boolean atStart = true;
        for (int k = a; k < b; k++) {
            if (isEndOfSequence(type[k])) {
                if (atStart) {
                    mayBeEmpty[rule] = true;
                    break;
                }
                atStart = true;
            } else {
                atStart = false;
            }
        }
        boolean recurse = true;
        for (int k = a; k < b; k++) {
            if (type[k] == RULE_REF && recurse) {
                int r = detect(value[k], visited, inProgress, mayBeEmpty);
                if (r >= 0) return r;
                if (!mayBeEmpty[value[k]]) recurse = false;
            } else {
                recurse = isEndOfSequence(type[k]);
            }
        }
        inProgress[rule] = false;
        visited[rule] = true;
        return -1;
    }

    /** The rules in GBNF-like form, one per line (diagnostics). */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < ruleCount(); r++) {
            sb.append(ruleNames[r]).append(" ::=");
            for (int k = ruleStart[r]; k < ruleStart[r + 1]; k++) {
                switch (type[k]) {
                    case END -> { }
                    case ALT -> sb.append(" |");
                    case RULE_REF -> sb.append(' ').append(ruleNames[value[k]]);
                    case CHAR, CHAR_NOT -> sb.append(type[k] == CHAR ? " [" : " [^").append(ch(value[k]));
                    case CHAR_ALT -> sb.append(ch(value[k]));
                    case CHAR_RNG_UPPER -> sb.append('-').append(ch(value[k]));
                    case CHAR_ANY -> sb.append(" .");
                    case TOKEN -> sb.append(" <[").append(value[k]).append("]>");
                    case TOKEN_NOT -> sb.append(" !<[").append(value[k]).append("]>");
                    default -> sb.append(" ?");
                }
                if ((type[k] == CHAR || type[k] == CHAR_NOT || type[k] == CHAR_ALT || type[k] == CHAR_RNG_UPPER)
                        && type[k + 1] != CHAR_ALT && type[k + 1] != CHAR_RNG_UPPER) sb.append(']');
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static String ch(int c) {
        return 0x20 <= c && c < 0x7f ? String.valueOf((char) c) : String.format("\\u%04X", c);
    }

    @Override
    public String toString() {
        return "Grammar[" + ruleCount() + " rules, root '" + ruleNames[root] + "']";
    }

    static int[] concat(List<int[]> parts) {
        int n = 0;
        for (int[] p : parts) n += p.length;
        int[] out = new int[n];
        int k = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, k, p.length);
            k += p.length;
        }
        return out;
    }

    static int[] sortedDistinct(List<Integer> xs) {
        return xs.stream().mapToInt(Integer::intValue).sorted().distinct().toArray();
    }

    static List<Integer> list(int[] a) {
        List<Integer> l = new ArrayList<>(a.length);
        for (int x : a) l.add(x);
        return l;
    }

    static int[] copy(int[] a) {
        return Arrays.copyOf(a, a.length);
    }
}
