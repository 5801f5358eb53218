package dev.panamax.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into words before BPE, exactly as llama.cpp's {@code unicode_regex_split}: the regexes of a
 * pre-tokenizer apply one after the other, each splitting the pieces the previous one left (text between matches
 * stays a piece). The common GPT-2 / LLaMA-3 / Qwen2 regexes run as hand-written scanners (as in unicode.cpp);
 * the others run on java.util.regex over llama.cpp's "collapsed" text, where every non-ASCII code point is
 * replaced by one placeholder per Unicode category, so that {@code \p{L}} etc. mean what they mean in llama.cpp.
 */
final class PreTokenizer {

    // the regexes exactly as llama-vocab.cpp spells them; the custom scanners are chosen by string equality
    static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    static final String LLAMA3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final String QWEN2 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** The pre-tokenizer a {@code tokenizer.ggml.pre} value selects, with llama.cpp's per-type vocab flags. */
    record Config(String name, List<String> regexes, boolean cleanSpaces, boolean ignoreMerges, boolean addBos) {}

    /**
     * llama.cpp's mapping from {@code tokenizer.ggml.pre} to regexes (LLAMA_VOCAB_PRE_TYPE_*), for the types
     * this port supports.
     *
     * @throws IllegalArgumentException for a name llama.cpp does not know or this port does not support
     */
    static Config forName(String pre) {
        if (pre == null || pre.isEmpty() || pre.equals("default")) {
            return new Config("default", List.of(
                    "[\\p{P}\\$\\+<=>\\^~\\|]+",
                    GPT2,
                    "\\p{N}+",
                    "[0-9][0-9][0-9]"), true, false, false);
        }
        return switch (pre) {
            case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                 "jina-v5-nano" -> new Config(pre, List.of(LLAMA3), true, true, true);
            case "dbrx", "smaug-bpe" -> new Config(pre, List.of(LLAMA3), true, false, false);
            case "glm4", "chatglm-bpe" -> new Config(pre, List.of(LLAMA3), true, false, false);
            case "deepseek-llm" -> new Config(pre, List.of(
                    "[\r\n]",
                    "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\uD801\uDC00-\uD801\uDC4F\uD801\uDCB0-\uD801\uDCD3\uD801\uDCD8-\uD801\uDCFB\uD803\uDC80-\uD803\uDCB2\uD803\uDCC0-\uD803\uDCF2\uD806\uDCA0-\uD806\uDCDF\uD83A\uDD00-\uD83A\uDD43]+",
                    "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
                    "\\s+$",
                    "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
                    "\\p{N}+"), false, false, false);
            case "deepseek-coder" -> new Config(pre, List.of(
                    "[\r\n]",
                    "\\s?\\p{L}+",
                    "\\s?\\p{P}+",
                    "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
                    "\\p{N}"), false, false, false);
            case "deepseek-v3" -> new Config(pre, List.of(
                    "\\p{N}{1,3}",
                    "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+",
                    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"),
                    false, false, false);
            case "falcon" -> new Config(pre, List.of(
                    "[\\p{P}\\$\\+<=>\\^~\\|`]+",
                    GPT2,
                    "[0-9][0-9][0-9]"), true, false, false);
            case "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2" ->
                    new Config(pre, List.of("\\p{N}", GPT2), true, false, false);
            case "command-r", "smollm" -> new Config(pre, List.of("\\p{N}", GPT2), false, false, false);
            case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
                 "mellum", "modern-bert", "mpt", "olmo", "jais", "exaone4", "jina-v1-en", "jina-v2-code",
                 "roberta-bpe" -> new Config(pre, List.of(GPT2), true, false, false);
            case "trillion", "granite-docling" -> new Config(pre, List.of(GPT2), false, false, false);
            case "stablelm2" -> new Config(pre, List.of(QWEN2), true, false, false);
            case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2" ->
                    new Config(pre, List.of(QWEN2), false, false, false);
            case "megrez" -> new Config(pre, List.of(QWEN2), true, false, false);
            case "poro-chat" -> new Config(pre, List.of(" ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+"), false, false, false);
            case "bloom", "gpt3-finnish" -> new Config(pre, List.of(" ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+"), true, false, false);
            case "viking" -> new Config(pre, List.of(" ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+", "\\p{N}"), false, false, false);
            default -> throw new IllegalArgumentException("unsupported pre-tokenizer type tokenizer.ggml.pre='"
                    + pre + "'");
        };
    }

    private final List<String> regexes;
    private final Pattern[] compiled; // null where a custom scanner handles the regex
    private final boolean[] collapsed;

    PreTokenizer(List<String> regexes) {
        this.regexes = List.copyOf(regexes);
        compiled = new Pattern[regexes.size()];
        collapsed = new boolean[regexes.size()];
        for (int i = 0; i < regexes.size(); i++) {
            String r = regexes.get(i);
            if (r.equals(GPT2) || r.equals(LLAMA3) || r.equals(QWEN2)) {
                continue;
            }
            collapsed[i] = usesCategories(r);
            compiled[i] = Pattern.compile(collapsed[i] ? collapseRegex(r) : ecmaToJava(r));
        }
    }

    /** Splits code points into words; returns the length (in code points) of each word, in order. */
    int[] split(int[] cpts) {
        IntList offsets = new IntList();
        if (cpts.length > 0) {
            offsets.add(cpts.length);
        }
        String collapsedText = null;
        String wideText = null;
        int[] wideCharToCpt = null;
        int[] wideCptToChar = null;
        for (int i = 0; i < regexes.size(); i++) {
            String r = regexes.get(i);
            if (r.equals(GPT2)) {
                offsets = splitGpt2(cpts, offsets);
            } else if (r.equals(LLAMA3)) {
                offsets = splitLlama3(cpts, offsets, 3);
            } else if (r.equals(QWEN2)) {
                offsets = splitLlama3(cpts, offsets, 1);
            } else if (collapsed[i]) {
                if (collapsedText == null) {
                    collapsedText = collapseText(cpts);
                }
                offsets = splitRegex(compiled[i], collapsedText, null, null, offsets);
            } else {
                if (wideText == null) {
                    StringBuilder sb = new StringBuilder(cpts.length);
                    wideCharToCpt = new int[cpts.length * 2 + 1];
                    wideCptToChar = new int[cpts.length + 1];
                    for (int k = 0; k < cpts.length; k++) {
                        int c = cpts[k];
                        // std::wregex's \s does not know non-ASCII spaces: llama.cpp maps them to \v
                        if (c > 0x7F && Unicode.isWhitespace(c)) {
                            c = 0x0B;
                        }
                        wideCharToCpt[sb.length()] = k;
                        wideCptToChar[k] = sb.length();
                        sb.appendCodePoint(c);
                    }
                    wideCharToCpt[sb.length()] = cpts.length;
                    wideCptToChar[cpts.length] = sb.length();
                    wideText = sb.toString();
                }
                offsets = splitRegex(compiled[i], wideText, wideCharToCpt, wideCptToChar, offsets);
            }
        }
        return offsets.toArray();
    }

    private static boolean usesCategories(String regex) {
        for (String cat : new String[] {"\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}", "\\p{Ll}",
                "\\p{Lt}", "\\p{Lm}", "\\p{Lo}"}) {
            if (regex.contains(cat)) {
                return true;
            }
        }
        return false;
    }

    // the placeholders llama.cpp substitutes for non-ASCII code points (unicode_regex_split)
    private static final char C_OTHER = '\u00D0';
    private static final char C_NUMBER = '\u00D1';
    private static final char C_LETTER = '\u00D2';
    private static final char C_PUNCT = '\u00D3';
    private static final char C_MARK = '\u00D4';
    private static final char C_SYMBOL = '\u00D5';

    private static String collapseText(int[] cpts) {
        char[] out = new char[cpts.length];
        for (int i = 0; i < cpts.length; i++) {
            int c = cpts[i];
            if (c < 128) {
                out[i] = (char) c;
            } else if (Unicode.isWhitespace(c)) {
                out[i] = 0x0B;
            } else {
                out[i] = switch (Unicode.category(c)) {
                    case Unicode.NUMBER -> C_NUMBER;
                    case Unicode.LETTER -> C_LETTER;
                    case Unicode.PUNCTUATION -> C_PUNCT;
                    case Unicode.ACCENT_MARK -> C_MARK;
                    case Unicode.SYMBOL -> C_SYMBOL;
                    default -> C_OTHER;
                };
            }
        }
        return new String(out);
    }

    /** llama.cpp's regex collapsing: each {@code \p{X}} becomes its placeholder plus its ASCII members. */
    static String collapseRegex(String regex) {
        StringBuilder out = new StringBuilder();
        boolean inside = false;
        for (int i = 0; i < regex.length(); i++) {
            char ch = regex.charAt(i);
            if (ch == '[' && (i == 0 || regex.charAt(i - 1) != '\\')) {
                out.append('[');
                inside = true;
                continue;
            }
            if (inside && ch == ']' && regex.charAt(i - 1) != '\\') {
                out.append(']');
                inside = false;
                continue;
            }
            if (ch == '\\' && i + 3 < regex.length() && regex.charAt(i + 1) == 'p' && regex.charAt(i + 2) == '{') {
                int close = regex.indexOf('}', i + 3);
                if (close >= 0 && close <= i + 10) {
                    String members = categoryMembers(regex.substring(i, close + 1));
                    if (members != null) {
                        if (!inside) {
                            out.append('[');
                        }
                        out.append(members);
                        if (!inside) {
                            out.append(']');
                        }
                        i = close;
                        continue;
                    }
                }
            }
            out.append(ch);
        }
        return ecmaToJava(out.toString());
    }

    private static String categoryMembers(String cat) {
        return switch (cat) {
            case "\\p{N}" -> C_NUMBER + "0-9";
            case "\\p{L}", "\\p{Lu}", "\\p{Ll}", "\\p{Lt}", "\\p{Lm}", "\\p{Lo}" -> C_LETTER + "A-Za-z";
            case "\\p{P}" -> C_PUNCT + "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}";
            case "\\p{M}" -> String.valueOf(C_MARK);
            case "\\p{S}" -> C_SYMBOL + "\\$\\+<->\\^`\\|\\~";
            default -> null;
        };
    }

    /**
     * The few ECMAScript constructs these regexes use that java.util.regex reads differently: {@code $} (Java also
     * matches before a final line terminator) becomes a lookahead that only the region end satisfies.
     */
    private static String ecmaToJava(String regex) {
        StringBuilder out = new StringBuilder();
        boolean inside = false;
        for (int i = 0; i < regex.length(); i++) {
            char ch = regex.charAt(i);
            if (ch == '\\' && i + 1 < regex.length()) {
                out.append(ch).append(regex.charAt(++i));
                continue;
            }
            if (ch == '[') {
                inside = true;
            } else if (ch == ']') {
                inside = false;
            } else if (ch == '$' && !inside) {
                out.append("(?![\\s\\S])");
                continue;
            }
            out.append(ch);
        }
        return out.toString();
    }

    /** unicode_regex_split_stl: matches and the gaps between them become pieces, within each current piece. */
    private static IntList splitRegex(Pattern p, String text, int[] charToCpt, int[] cptToChar, IntList offsets) {
        IntList out = new IntList();
        int startCpt = 0;
        Matcher m = p.matcher(text);
        // opaque bounds: lookaheads must not see past the piece, as with std::regex_iterator over a sub-range
        m.useTransparentBounds(false).useAnchoringBounds(true);
        for (int k = 0; k < offsets.size(); k++) {
            int len = offsets.get(k);
            int from = cptToChar == null ? startCpt : cptToChar[startCpt];
            int to = cptToChar == null ? startCpt + len : cptToChar[startCpt + len];
            m.region(from, to);
            int prevEnd = startCpt;
            while (m.find()) {
                int ms = cptIndex(charToCpt, m.start());
                int me = cptIndex(charToCpt, m.end());
                if (me == ms) {
                    continue; // no regex of the supported types matches empty; never emit empty words
                }
                if (ms > prevEnd) {
                    out.add(ms - prevEnd);
                }
                out.add(me - ms);
                prevEnd = me;
            }
            if (prevEnd < startCpt + len) {
                out.add(startCpt + len - prevEnd);
            }
            startCpt += len;
        }
        return out;
    }

    private static int cptIndex(int[] charToCpt, int charIdx) {
        return charToCpt == null ? charIdx : charToCpt[charIdx];
    }

    // ---- custom scanners, line by line as unicode.cpp ----

    private static final int OUT_OF_RANGE = -1;

    /** GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    static IntList splitGpt2(int[] cpts, IntList offsets) {
        IntList out = new IntList();
        int start = 0;
        for (int k = 0; k < offsets.size(); k++) {
            final int ini = start;
            final int end = start + offsets.get(k);
            start = end;
            Scan s = new Scan(cpts, ini, end, out);
            for (int pos = ini; pos < end; ) {
                int cpt = s.cpt(pos);
                int flags = s.flags(pos);
                if (cpt == '\'' && pos + 1 < end) {
                    int next = s.cpt(pos + 1);
                    if (next == 's' || next == 't' || next == 'm' || next == 'd') {
                        pos += s.add(pos + 2);
                        continue;
                    }
                    if (pos + 2 < end) {
                        int next2 = s.cpt(pos + 2);
                        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l')) {
                            pos += s.add(pos + 3);
                            continue;
                        }
                    }
                }
                int flags2 = cpt == ' ' ? s.flags(pos + 1) : flags;
                if ((flags2 & Unicode.LETTER) != 0) {
                    pos += cpt == ' ' ? 1 : 0;
                    while ((flags2 & Unicode.LETTER) != 0) {
                        flags2 = s.flags(++pos);
                    }
                    s.add(pos);
                    continue;
                }
                if ((flags2 & Unicode.NUMBER) != 0) {
                    pos += cpt == ' ' ? 1 : 0;
                    while ((flags2 & Unicode.NUMBER) != 0) {
                        flags2 = s.flags(++pos);
                    }
                    s.add(pos);
                    continue;
                }
                if ((flags2 & (Unicode.WHITESPACE | Unicode.LETTER | Unicode.NUMBER)) == 0 && flags2 != 0) {
                    pos += cpt == ' ' ? 1 : 0;
                    while ((flags2 & (Unicode.WHITESPACE | Unicode.LETTER | Unicode.NUMBER)) == 0 && flags2 != 0) {
                        flags2 = s.flags(++pos);
                    }
                    s.add(pos);
                    continue;
                }
                int nws = 0;
                while ((s.flags(pos + nws) & Unicode.WHITESPACE) != 0) {
                    nws++;
                }
                if (nws > 1 && s.cpt(pos + nws) != OUT_OF_RANGE) {
                    pos += nws - 1;
                    s.add(pos);
                    continue;
                }
                if (nws > 0) {
                    pos += nws;
                    s.add(pos);
                    continue;
                }
                s.add(++pos);
            }
        }
        return out;
    }

    /** LLaMA 3 (maxDigits 3) and Qwen2 (maxDigits 1): the case-insensitive contraction family. */
    static IntList splitLlama3(int[] cpts, IntList offsets, int maxDigits) {
        IntList out = new IntList();
        int start = 0;
        for (int k = 0; k < offsets.size(); k++) {
            final int ini = start;
            final int end = start + offsets.get(k);
            start = end;
            Scan s = new Scan(cpts, ini, end, out);
            for (int pos = ini; pos < end; ) {
                int cpt = s.cpt(pos);
                int flags = s.flags(pos);
                if (cpt == '\'' && pos + 1 < end) {
                    int next = Unicode.toLower(s.cpt(pos + 1));
                    if (next == 's' || next == 't' || next == 'm' || next == 'd') {
                        pos += s.add(pos + 2);
                        continue;
                    }
                    if (pos + 2 < end) {
                        int next2 = Unicode.toLower(s.cpt(pos + 2));
                        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l')) {
                            pos += s.add(pos + 3);
                            continue;
                        }
                    }
                }
                // [^\r\n\p{L}\p{N}]?\p{L}+
                if (!(cpt == '\r' || cpt == '\n' || (flags & Unicode.NUMBER) != 0)) {
                    if ((flags & Unicode.LETTER) != 0 || (s.flags(pos + 1) & Unicode.LETTER) != 0) {
                        pos++;
                        while ((s.flags(pos) & Unicode.LETTER) != 0) {
                            pos++;
                        }
                        s.add(pos);
                        continue;
                    }
                }
                // \p{N}{1,maxDigits}
                if ((flags & Unicode.NUMBER) != 0) {
                    if (maxDigits == 1) {
                        pos++;
                        s.add(pos);
                        continue;
                    }
                    int first = pos;
                    while ((s.flags(pos) & Unicode.NUMBER) != 0) {
                        if (++pos - first >= maxDigits) {
                            s.add(pos);
                            first = pos;
                        }
                    }
                    s.add(pos);
                    continue;
                }
                // <space>?[^\s\p{L}\p{N}]+[\r\n]*   (the first test reads flags, not flags2, as upstream does)
                int flags2 = cpt == ' ' ? s.flags(pos + 1) : flags;
                if ((flags2 & (Unicode.WHITESPACE | Unicode.LETTER | Unicode.NUMBER)) == 0 && flags != 0) {
                    pos += cpt == ' ' ? 1 : 0;
                    while ((flags2 & (Unicode.WHITESPACE | Unicode.LETTER | Unicode.NUMBER)) == 0 && flags2 != 0) {
                        flags2 = s.flags(++pos);
                    }
                    int c2 = s.cpt(pos);
                    while (c2 == '\r' || c2 == '\n') {
                        c2 = s.cpt(++pos);
                    }
                    s.add(pos);
                    continue;
                }
                int nws = 0;
                int lastEndRN = 0;
                while ((s.flags(pos + nws) & Unicode.WHITESPACE) != 0) {
                    int c2 = s.cpt(pos + nws);
                    if (c2 == '\r' || c2 == '\n') {
                        lastEndRN = pos + nws + 1;
                    }
                    nws++;
                }
                if (lastEndRN > 0) {
                    pos = lastEndRN;
                    s.add(pos);
                    continue;
                }
                if (nws > 1 && s.cpt(pos + nws) != OUT_OF_RANGE) {
                    pos += nws - 1;
                    s.add(pos);
                    continue;
                }
                if (nws > 0) {
                    pos += nws;
                    s.add(pos);
                    continue;
                }
                s.add(++pos);
            }
        }
        return out;
    }

    /** The bounds-checked accessors of unicode.cpp's scanners: outside the piece, no code point and no flags. */
    private static final class Scan {
        final int[] cpts;
        final int ini;
        final int end;
        final IntList out;
        int prevEnd;

        Scan(int[] cpts, int ini, int end, IntList out) {
            this.cpts = cpts;
            this.ini = ini;
            this.end = end;
            this.out = out;
            this.prevEnd = ini;
        }

        int cpt(int pos) {
            return pos >= ini && pos < end ? cpts[pos] : OUT_OF_RANGE;
        }

        int flags(int pos) {
            return pos >= ini && pos < end ? Unicode.flags(cpts[pos]) : 0;
        }

        int add(int e) {
            int len = e - prevEnd;
            if (len > 0) {
                out.add(len);
            }
            prevEnd = e;
            return len;
        }
    }

    /** A growable int array; the split runs once per encode over possibly long texts. */
    static final class IntList {
        private int[] a = new int[16];
        private int n;

        void add(int v) {
            if (n == a.length) {
                a = java.util.Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        int get(int i) {
            return a[i];
        }

        int size() {
            return n;
        }

        void truncate(int size) {
            n = size;
        }

        int[] toArray() {
            return java.util.Arrays.copyOf(a, n);
        }
    }

    static List<String> words(int[] cpts, int[] lengths) {
        List<String> words = new ArrayList<>(lengths.length);
        int start = 0;
        for (int len : lengths) {
            words.add(new String(cpts, start, len));
            start += len;
        }
        return words;
    }
}
