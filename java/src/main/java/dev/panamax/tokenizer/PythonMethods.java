package dev.panamax.tokenizer;

import java.beans.FeatureDescriptor;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * The Python methods that Hugging Face chat templates call on strings and dicts ({@code content.strip()}, {@code
 * role.startswith('sys')}, {@code tool.items()}, ...). Jinja2 runs templates in Python, where these come with the
 * objects; Jinjava sees Java Strings and Maps, so this resolver answers such calls with Python's semantics before the
 * default (bean) resolver would look for a Java method. Anything it does not know falls through.
 */
final class PythonMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(method instanceof String name)) return null;
        Object[] a = params == null ? new Object[0] : params;
        Object r;
        if (base instanceof String s) {
            r = string(s, name, a);
        } else if (base instanceof Map<?, ?> m) {
            r = map(m, name, a);
        } else {
            return null;
        }
        if (r == NONE) return null;
        context.setPropertyResolved(true);
        return r;
    }

    private static final Object NONE = new Object();

    private static long occurrences(String s, String sub) {
        long n = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) n++;
        return n;
    }

    private static Object string(String s, String name, Object[] a) {
        switch (name) {
            case "strip": return strip(s, chars(a), true, true);
            case "lstrip": return strip(s, chars(a), true, false);
            case "rstrip": return strip(s, chars(a), false, true);
            case "startswith": return affix(s, arg(a, 0), true);
            case "endswith": return affix(s, arg(a, 0), false);
            case "split": return split(s, a.length > 0 ? a[0] : null, a.length > 1 ? toInt(a[1]) : -1);
            case "rsplit": return rsplit(s, a.length > 0 ? a[0] : null, a.length > 1 ? toInt(a[1]) : -1);
            case "splitlines": {
                List<String> lines = new ArrayList<>(List.of(s.split("\r\n|\r|\n", -1)));
                if (lines.get(lines.size() - 1).isEmpty()) lines.remove(lines.size() - 1);
                return lines;
            }
            case "upper": return s.toUpperCase(Locale.ROOT);
            case "lower": return s.toLowerCase(Locale.ROOT);
            case "title": return title(s);
            case "capitalize": return s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            case "replace": {
                String from = str(arg(a, 0));
                String to = str(arg(a, 1));
                int count = a.length > 2 ? toInt(a[2]) : -1;
                // the result's size before it is built: chained replaces grow geometrically
                long hits = from.isEmpty() ? s.length() + 1L : occurrences(s, from);
                if (count >= 0) hits = Math.min(hits, count);
                ChatTemplate.checkLength(s.length() + hits * (to.length() - (long) from.length()), "str.replace");
                if (count < 0) return s.replace(from, to);
                StringBuilder b = new StringBuilder();
                int i = 0;
                for (int n = 0; n < count; n++) {
                    int j = s.indexOf(from, i);
                    if (j < 0) break;
                    b.append(s, i, j).append(to);
                    i = j + from.length();
                    if (from.isEmpty()) { if (i < s.length()) b.append(s.charAt(i)); i++; }
                }
                if (i <= s.length()) b.append(s.substring(Math.min(i, s.length())));
                return b.toString();
            }
            case "find": return (long) s.indexOf(str(arg(a, 0)));
            case "rfind": return (long) s.lastIndexOf(str(arg(a, 0)));
            case "count": {
                String sub = str(arg(a, 0));
                if (sub.isEmpty()) return (long) s.length() + 1;
                long n = 0;
                for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) n++;
                return n;
            }
            case "join": {
                StringBuilder b = new StringBuilder();
                boolean first = true;
                for (Object o : iterable(arg(a, 0))) {
                    if (!first) b.append(s);
                    b.append(str(o));
                    first = false;
                    ChatTemplate.checkLength(b.length(), "str.join");
                }
                return b.toString();
            }
            case "isspace": return !s.isEmpty() && s.chars().allMatch(PythonMethods::isSpace);
            case "isdigit": return !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            case "isalpha": return !s.isEmpty() && s.chars().allMatch(Character::isLetter);
            case "isupper": return s.chars().anyMatch(Character::isLetter) && s.equals(s.toUpperCase(Locale.ROOT));
            case "islower": return s.chars().anyMatch(Character::isLetter) && s.equals(s.toLowerCase(Locale.ROOT));
            default: return NONE;
        }
    }

    private static Object map(Map<?, ?> m, String name, Object[] a) {
        switch (name) {
            case "items": {
                List<Map.Entry<Object, Object>> out = new ArrayList<>(m.size());
                for (Map.Entry<?, ?> e : m.entrySet()) out.add(new AbstractMap.SimpleImmutableEntry<>(e.getKey(), e.getValue()));
                return out;
            }
            case "keys": return new ArrayList<Object>(m.keySet());
            case "values": return new ArrayList<Object>(m.values());
            case "get": {
                Object k = arg(a, 0);
                return m.containsKey(k) ? m.get(k) : (a.length > 1 ? a[1] : null);
            }
            default: return NONE;
        }
    }

    static boolean isSpace(int c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == 0x85;
    }

    private static String chars(Object[] a) {
        return a.length > 0 && a[0] != null ? str(a[0]) : null;
    }

    private static String strip(String s, String chars, boolean left, boolean right) {
        int b = 0;
        int e = s.length();
        if (left) while (b < e && (chars == null ? isSpace(s.charAt(b)) : chars.indexOf(s.charAt(b)) >= 0)) b++;
        if (right) while (e > b && (chars == null ? isSpace(s.charAt(e - 1)) : chars.indexOf(s.charAt(e - 1)) >= 0)) e--;
        return s.substring(b, e);
    }

    private static boolean affix(String s, Object what, boolean prefix) {
        if (what instanceof String w) return prefix ? s.startsWith(w) : s.endsWith(w);
        for (Object o : iterable(what)) {
            String w = str(o);
            if (prefix ? s.startsWith(w) : s.endsWith(w)) return true;
        }
        return false;
    }

    private static List<String> split(String s, Object sep, int max) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) i++;
                if (i >= n) break;
                if (max >= 0 && out.size() == max) {
                    out.add(strip(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        String d = str(sep);
        if (d.isEmpty()) throw new IllegalArgumentException("split: empty separator");
        int i = 0;
        while (max < 0 || out.size() < max) {
            int j = s.indexOf(d, i);
            if (j < 0) break;
            out.add(s.substring(i, j));
            i = j + d.length();
        }
        out.add(s.substring(i));
        return out;
    }

    private static List<String> rsplit(String s, Object sep, int max) {
        if (max < 0) return split(s, sep, -1);
        if (sep == null) {
            // rare in templates: split on whitespace from the right
            List<String> all = split(s, null, -1);
            if (all.size() <= max + 1) return all;
            int keep = all.size() - max;
            String head = strip(s, null, true, true);
            // the head is everything up to the last 'max' words
            int idx = head.length();
            for (int k = 0; k < max; k++) {
                idx = head.lastIndexOf(all.get(all.size() - 1 - k), idx);
            }
            List<String> out = new ArrayList<>();
            out.add(strip(head.substring(0, idx), null, false, true));
            out.addAll(all.subList(keep, all.size()));
            return out;
        }
        String d = str(sep);
        if (d.isEmpty()) throw new IllegalArgumentException("rsplit: empty separator");
        List<String> out = new ArrayList<>();
        int end = s.length();
        while (out.size() < max) {
            int j = s.lastIndexOf(d, end - d.length());
            if (j < 0) break;
            out.add(0, s.substring(j + d.length(), end));
            end = j;
        }
        out.add(0, s.substring(0, end));
        return out;
    }

    private static String title(String s) {
        StringBuilder b = new StringBuilder(s.length());
        boolean prevCased = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            b.append(prevCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
            prevCased = Character.isLetter(c);
        }
        return b.toString();
    }

    private static Object arg(Object[] a, int i) {
        if (i >= a.length) throw new IllegalArgumentException("missing argument " + (i + 1));
        return a[i];
    }

    private static String str(Object o) {
        return o == null ? "None" : o.toString();
    }

    private static int toInt(Object o) {
        if (o instanceof Number n) return n.intValue();
        return Integer.parseInt(str(o));
    }

    private static Iterable<?> iterable(Object o) {
        if (o instanceof Iterable<?> it) return it;
        if (o instanceof Object[] arr) return List.of(arr);
        if (o instanceof Map<?, ?> m) return m.keySet();
        if (o instanceof String s) return s.chars().mapToObj(c -> String.valueOf((char) c)).toList();
        throw new IllegalArgumentException("not iterable: " + o);
    }

    // ---- not a property resolver ----

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
    }

}
