package dev.panamax.tokenizer;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Source rewrites for the places where Jinjava's expression grammar binds differently from jinja2 on constructs
 * that Hugging Face templates use all the time. Both rewrites only add parentheses, so they change nothing where the
 * two engines already agree:
 * <ul>
 *   <li>{@code not x is defined}: jinja2 reads {@code not (x is defined)}; Jinjava {@code (not x) is defined}.</li>
 *   <li>keyword arguments with operators, {@code namespace(i=messages|length - 1)}: Jinjava ends the argument at the
 *       filter; every keyword value is wrapped, {@code i=(messages|length - 1)}.</li>
 *   <li>{@code messages[::-1]} (a slice with a step, which Jinjava does not parse) becomes {@code messages|reverse}.</li>
 *   <li>{@code loop.previtem} / {@code loop.nextitem}, which Jinjava's loop lacks, become an index into the loop's
 *       sequence when the enclosing loop is a plain {@code for x in name} (Hermes' tool-response grouping).</li>
 * </ul>
 * Only the insides of {@code {{ }}} and {@code {% %}} are touched.
 */
final class JinjaCompat {
    private JinjaCompat() {}

    private static final Pattern TAG = Pattern.compile("\\{\\{.*?}}|\\{%.*?%}", Pattern.DOTALL);
    private static final Pattern NOT_IS = Pattern.compile(
            "\\bnot\\s+([A-Za-z_][\\w.]*(?:\\[[^\\[\\]]*])*)\\s+is\\s+(not\\s+)?([A-Za-z_]\\w*)\\b");

    private static final Pattern REVERSED = Pattern.compile("\\[\\s*:\\s*:\\s*-1\\s*]");

    private static final Pattern FOR = Pattern.compile("\\{%[-+]?\\s*for\\s+\\w+\\s+in\\s+([A-Za-z_][\\w.]*)\\s*[-+]?%}");
    private static final Pattern ANY_FOR = Pattern.compile("\\{%[-+]?\\s*for\\b");
    private static final Pattern END_FOR = Pattern.compile("\\{%[-+]?\\s*endfor\\b");

    static String rewrite(String src) {
        Matcher m = TAG.matcher(src);
        StringBuilder out = new StringBuilder(src.length() + 64);
        java.util.ArrayDeque<String> loops = new java.util.ArrayDeque<>(); // sequence of each enclosing loop ("" if not plain)
        int last = 0;
        while (m.find()) {
            out.append(src, last, m.start());
            String tag = m.group();
            Matcher f = FOR.matcher(tag);
            if (f.matches()) loops.push(f.group(1));
            else if (ANY_FOR.matcher(tag).lookingAt()) loops.push("");
            else if (END_FOR.matcher(tag).lookingAt() && !loops.isEmpty()) loops.pop();
            String seq = loops.isEmpty() ? "" : loops.peek();
            if (!seq.isEmpty()) {
                tag = tag.replace("loop.previtem", "(" + seq + "[loop.index0 - 1] if not loop.first else none)")
                        .replace("loop.nextitem", "(" + seq + "[loop.index] if not loop.last else none)");
            }
            out.append(rewriteTag(tag));
            last = m.end();
        }
        out.append(src, last, src.length());
        return out.toString();
    }

    private static String rewriteTag(String tag) {
        String t = NOT_IS.matcher(tag).replaceAll("not ($1 is $2$3)");
        t = REVERSED.matcher(t).replaceAll("|reverse");
        return wrapKeywordArguments(t);
    }

    /** name=value after '(' or ',' (a call's keyword argument) becomes name=(value). */
    private static String wrapKeywordArguments(String t) {
        StringBuilder b = new StringBuilder(t.length() + 8);
        int n = t.length();
        int i = 0;
        char prevSignificant = 0;
        while (i < n) {
            char c = t.charAt(i);
            if (c == '\'' || c == '"') {
                int j = skipString(t, i);
                b.append(t, i, j);
                i = j;
                prevSignificant = c;
                continue;
            }
            if ((prevSignificant == '(' || prevSignificant == ',') && (Character.isLetter(c) || c == '_')) {
                int j = i;
                while (j < n && (Character.isLetterOrDigit(t.charAt(j)) || t.charAt(j) == '_')) j++;
                int k = j;
                while (k < n && Character.isWhitespace(t.charAt(k))) k++;
                if (k < n && t.charAt(k) == '=' && (k + 1 >= n || t.charAt(k + 1) != '=')) {
                    int start = k + 1;
                    int end = endOfArgument(t, start);
                    if (end > start && !t.substring(start, end).isBlank()) {
                        b.append(t, i, start).append('(').append(t, start, end).append(')');
                        i = end;
                        prevSignificant = ')';
                        continue;
                    }
                }
                b.append(t, i, j);
                i = j;
                prevSignificant = 'a';
                continue;
            }
            b.append(c);
            if (!Character.isWhitespace(c)) prevSignificant = c;
            i++;
        }
        return b.toString();
    }

    private static int skipString(String t, int i) {
        char q = t.charAt(i);
        int j = i + 1;
        while (j < t.length() && t.charAt(j) != q) {
            if (t.charAt(j) == '\\') j++;
            j++;
        }
        return Math.min(j + 1, t.length());
    }

    /** The end of an argument: the ',' or ')' at depth 0 (or the end of the tag's expression). */
    private static int endOfArgument(String t, int i) {
        int depth = 0;
        int n = t.length();
        while (i < n) {
            char c = t.charAt(i);
            if (c == '\'' || c == '"') {
                i = skipString(t, i);
                continue;
            }
            if (c == '(' || c == '[' || c == '{') depth++;
            else if (c == ')' || c == ']' || c == '}') {
                if (depth == 0) return i;
                depth--;
            } else if (c == ',' && depth == 0) return i;
            i++;
        }
        return i;
    }
}
