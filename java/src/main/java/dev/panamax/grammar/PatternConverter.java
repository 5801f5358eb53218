package dev.panamax.grammar;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A JSON Schema {@code pattern} (anchored ^...$) to a GBNF rule for the JSON string it matches, as llama.cpp's
 * _visit_pattern reads it: literals, '.', character classes, groups (capturing or (?:...)), '|', '*', '+', '?',
 * '{m,n}'. What has no grammar equivalent (lookaround, backreferences, unanchored patterns, \d-style escapes outside
 * a class) is a {@link GrammarException} instead of llama.cpp's fallback to any string.
 */
final class PatternConverter {

    private static final Set<Character> NON_LITERAL = Set.of('|', '.', '(', ')', '[', ']', '{', '}', '*', '+', '?', '^', '$');
    private static final Set<Character> ESCAPED_IN_REGEX = Set.of('^', '$', '.', '[', ']', '(', ')', '|', '{', '}', '*', '+', '?');

    private final JsonSchemaGrammar c;
    private final String pattern, name, where;
    private String sub;
    private int i, depth;
    private final Map<String, String> subRuleIds = new HashMap<>();

    PatternConverter(JsonSchemaGrammar c, String pattern, String name, String where) {
        this.c = c;
        this.pattern = pattern;
        this.name = name;
        this.where = where;
    }

    /** A piece that can match nothing, repeated without bound: as GBNF a rule that recurses without input. */
    private GrammarException unboundedEmpty(int at) {
        return fail("a piece that can match the empty string repeated without bound at " + (at + 1) + " (e.g. ()+ or (a?)*)");
    }

    private GrammarException fail(String what) {
        return new GrammarException("JSON schema at " + where + ": pattern " + pattern + ": " + what);
    }

    String convert() {
        if (pattern.length() < 2 || pattern.charAt(0) != '^' || pattern.charAt(pattern.length() - 1) != '$') {
            throw fail("not anchored with '^' and '$' (only whole-string patterns can be grammars)");
        }
        sub = pattern.substring(1, pattern.length() - 1);
        i = 0;
        String rule = toRule(transform());
        if (depth != 0) throw fail("unbalanced parentheses");
        return "\"\\\"\" (" + rule + ") \"\\\"\"";
    }

    /**
     * A piece of the sequence; {@code quantified}: a quantifier was applied to it last; {@code nullable}: it can match
     * the empty string (an unbounded repetition of such a piece would be a left-recursive rule).
     */
    private record Item(String text, boolean literal, boolean quantified, boolean nullable) {
        Item(String text, boolean literal) {
            this(text, literal, false, false);
        }
    }

    private static String toRule(Item it) {
        return it.literal ? "\"" + it.text + "\"" : it.text;
    }

    private static int escapeLength(String p, int pos) {
        if (pos + 1 >= p.length() || p.charAt(pos) != '\\') return 0;
        int nHex;
        switch (p.charAt(pos + 1)) {
            case 'x' -> nHex = 2;
            case 'u' -> nHex = 4;
            case 'U' -> nHex = 8;
            case 't', 'r', 'n', '\\', '"', '[', ']', '-' -> {
                return 2;
            }
            default -> {
                return 0;
            }
        }
        if (pos + 2 + nHex > p.length()) return 0;
        for (int k = pos + 2; k < pos + 2 + nHex; k++) if (Character.digit(p.charAt(k), 16) < 0) return 0;
        return 2 + nHex;
    }

    private Item joinSeq(List<Item> seq) {
        List<String> out = new ArrayList<>();
        StringBuilder lit = new StringBuilder();
        for (Item it : seq) {
            if (it.literal) {
                lit.append(it.text);
            } else {
                if (!lit.isEmpty()) {
                    out.add(toRule(new Item(lit.toString(), true)));
                    lit.setLength(0);
                }
                out.add(toRule(it));
            }
        }
        if (!lit.isEmpty()) out.add(toRule(new Item(lit.toString(), true)));
        // nullable when one alternative (between '|' markers) is empty or has only nullable pieces
        boolean nullable = false, alternative = true;
        for (Item it : seq) {
            if (!it.literal && it.text.equals("|")) {
                nullable |= alternative;
                alternative = true;
            } else {
                alternative &= it.nullable;
            }
        }
        return new Item(String.join(" ", out), false, false, nullable || alternative);
    }

    /** The piece a quantifier at i repeats: none at the start of the pattern, a group or an alternative ("a|+b"). */
    private Item repeated(List<Item> seq) {
        Item last = seq.isEmpty() ? null : seq.get(seq.size() - 1);
        if (last == null || (!last.literal && last.text.equals("|"))) throw fail("nothing to repeat at " + (i + 1));
        return last;
    }

    private Item transform() {
        List<Item> seq = new ArrayList<>();
        int n = sub.length();
        while (i < n) {
            char ch = sub.charAt(i);
            if (ch == '.') {
                seq.add(new Item(c.addDot(), false));
                i++;
            } else if (ch == '(') {
                i++;
                if (i < n && sub.charAt(i) == '?') {
                    if (i + 1 < n && sub.charAt(i + 1) == ':') i += 2;
                    else throw fail("unsupported group syntax (lookaround, named groups, flags)");
                }
                if (++depth > 100) throw fail("nesting too deep");
                Item group = transform();
                seq.add(new Item("(" + toRule(group) + ")", false, false, group.nullable));
            } else if (ch == ')') {
                i++;
                if (depth == 0) throw fail("unbalanced parentheses");
                depth--;
                return joinSeq(seq);
            } else if (ch == '^' || ch == '$') {
                throw fail("anchor inside the pattern");
            } else if (ch == '[') {
                StringBuilder sq = new StringBuilder("[");
                i++;
                while (i < n && sub.charAt(i) != ']') {
                    if (sub.charAt(i) == '\\') {
                        int el = escapeLength(sub, i);
                        if (el == 0) throw fail("unsupported escape in character class: " + sub.substring(i, Math.min(n, i + 2)));
                        sq.append(sub, i, i + el);
                        i += el;
                    } else {
                        sq.append(sub.charAt(i++));
                    }
                }
                if (i >= n) throw fail("unterminated character class");
                sq.append(']');
                i++;
                seq.add(new Item(sq.toString(), false));
            } else if (ch == '|') {
                seq.add(new Item("|", false));
                i++;
            } else if (ch == '*' || ch == '+' || ch == '?') {
                Item last = repeated(seq);
                if (last.quantified) {
                    // ECMA-262: '?' after a quantifier makes it lazy (the same strings match); any other quantifier
                    // there (a?*, a**, a{2}+) is a syntax error, and as GBNF ("a"?)* would recurse without input
                    if (ch != '?') throw fail("nothing to repeat at " + (i + 1) + " (a quantifier after a quantifier)");
                    seq.set(seq.size() - 1, new Item(last.text, false, true, last.nullable));
                } else {
                    if (ch != '?' && last.nullable) throw unboundedEmpty(i);
                    seq.set(seq.size() - 1, new Item(toRule(last) + ch, false, true, ch != '+' || last.nullable));
                }
                i++;
            } else if (ch == '{') {
                if (!seq.isEmpty() && seq.get(seq.size() - 1).quantified) {
                    throw fail("nothing to repeat at " + (i + 1) + " (a quantifier after a quantifier)");
                }
                int start = ++i;
                while (i < n && sub.charAt(i) != '}') i++;
                if (i >= n) throw fail("unterminated curly brackets");
                String[] nums = sub.substring(start, i).split(",", -1);
                i++;
                int min = 0, max = Integer.MAX_VALUE;
                try {
                    if (nums.length == 1) {
                        min = max = Integer.parseInt(nums[0].trim());
                    } else if (nums.length == 2) {
                        if (!nums[0].isBlank()) min = Integer.parseInt(nums[0].trim());
                        if (!nums[1].isBlank()) max = Integer.parseInt(nums[1].trim());
                    } else {
                        throw fail("wrong number of values in curly brackets");
                    }
                } catch (NumberFormatException e) {
                    throw fail("invalid number in curly brackets");
                }
                if (min < 0 || max < min) {
                    throw fail("repetition {" + sub.substring(start, i - 1) + "}: counts need 0 <= minimum <= maximum");
                }
                Item last = repeated(seq);
                String s = last.text;
                if (!last.literal) {
                    String id = subRuleIds.get(s);
                    if (id == null) {
                        id = c.addRuleFromPattern(name + "-" + (subRuleIds.size() + 1), s);
                        subRuleIds.put(s, id);
                    }
                    s = id;
                }
                if (max == Integer.MAX_VALUE && last.nullable) throw unboundedEmpty(start - 1);
                seq.set(seq.size() - 1, new Item(JsonSchemaGrammar.repetition(last.literal ? "\"" + s + "\"" : s, min, max, ""), false, true,
                        min == 0 || last.nullable));
            } else {
                StringBuilder lit = new StringBuilder();
                while (i < n) {
                    char x = sub.charAt(i);
                    if (x == '\\') {
                        if (i == n - 1) throw fail("trailing backslash");
                        char next = sub.charAt(i + 1);
                        if (ESCAPED_IN_REGEX.contains(next)) {
                            lit.append(next);
                            i += 2;
                        } else {
                            int el = escapeLength(sub, i);
                            if (el == 0) throw fail("unsupported escape: " + sub.substring(i, i + 2));
                            lit.append(sub, i, i + el);
                            i += el;
                        }
                    } else if (x == '"') {
                        lit.append("\\\"");
                        i++;
                    } else if (!NON_LITERAL.contains(x)
                            && (i == n - 1 || lit.isEmpty() || sub.charAt(i + 1) == '.' || !NON_LITERAL.contains(sub.charAt(i + 1)))) {
                        lit.append(x);
                        i++;
                    } else {
                        break;
                    }
                }
                if (lit.isEmpty()) throw fail("unsupported character: " + ch);
                seq.add(new Item(lit.toString(), true));
            }
        }
        return joinSeq(seq);
    }
}
