package dev.panamax.tokenizer;

import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;

/**
 * llama.cpp's WordPiece tokenizer ({@code llm_tokenizer_wpm_session}, tokenizer model "bert"): the text is split into
 * words at whitespace, with every punctuation character, ASCII symbol and CJK ideograph a word of its own; control
 * characters, NUL and U+FFFD are dropped; with the normalizer's options each code point is lowercased and, stripping
 * accents, replaced by the first code point of its NFD decomposition while accent marks are dropped. Each word, with
 * the phantom space U+2581 in front (llama.cpp's converter stores word-initial pieces as "▁piece" and continuations
 * without their "##"), is cut greedily into the longest pieces of the vocabulary, left to right; a word with a
 * part no piece matches becomes the unknown token as a whole.
 *
 * <p>With Hugging Face's rules ({@link Vocabulary#WORDPIECE_HUGGING_FACE}, files {@code panamax convert} writes from a
 * {@code tokenizer.json}) the words are those of tokenizers' BertNormalizer and BertPreTokenizer instead, which differ
 * from llama.cpp's in three places: the whole text is NFD-decomposed and only nonspacing marks (Mn) are dropped, so a
 * Hangul syllable keeps all its jamo and spacing marks (Mc) stay; and a word of more than {@code maxChars} code points
 * is one [UNK]. The greedy longest-match cut is the same.
 */
final class WpmModel {

    private final GgmlTokenizer vocab;
    private final boolean lowercase;
    private final boolean stripAccents;
    private final boolean huggingFace;
    private final int maxChars;
    private final int maxTokenBytes;

    /** @param maxChars with Hugging Face's rules, the longest word that is not [UNK] outright (0: none) */
    WpmModel(GgmlTokenizer vocab, boolean lowercase, boolean stripAccents, boolean huggingFace, int maxChars) {
        this.vocab = vocab;
        this.lowercase = lowercase;
        this.stripAccents = stripAccents;
        this.huggingFace = huggingFace;
        this.maxChars = maxChars;
        int max = 0;
        for (String t : vocab.texts) max = Math.max(max, GgmlTokenizer.utf8Length(t));
        this.maxTokenBytes = max;
    }

    void tokenize(String text, PreTokenizer.IntList out) {
        for (String word : huggingFace ? huggingFaceWords(text) : words(text)) {
            String w = "\u2581" + word;
            int[] cps = w.codePoints().toArray();
            int n = cps.length;
            if (huggingFace && maxChars > 0 && n - 1 > maxChars) {
                out.add(vocab.unk());
                continue;
            }
            int[] byteOff = new int[n + 1]; // UTF-8 offset of each code point: llama.cpp bounds a piece in bytes
            for (int i = 0; i < n; i++) byteOff[i + 1] = byteOff[i] + utf8Len(cps[i]);
            int start = out.size();
            boolean failed = false;
            for (int i = 0; i < n; ) {
                int found = -1, end = -1;
                for (int j = Math.min(n, i + maxTokenBytes); j > i; j--) { // a code point has at least one byte
                    if (byteOff[j] - byteOff[i] > maxTokenBytes) continue;
                    int id = vocab.id(new String(cps, i, j - i));
                    if (id >= 0) {
                        found = id;
                        end = j;
                        break;
                    }
                }
                if (found < 0) {
                    failed = true;
                    break;
                }
                out.add(found);
                i = end;
            }
            if (failed) out.truncate(start);
            if (out.size() == start) out.add(vocab.unk());
        }
    }

    private static int utf8Len(int cp) {
        return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }

    /** llm_tokenizer_wpm_session::preprocess. */
    List<String> words(String text) {
        // the UTF-8 round trip makes unpaired surrogates '?' as the bytes llama.cpp would receive
        String s = new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8);
        List<String> words = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (stripAccents) cp = nfdFirst(cp);
            int flags = Unicode.flags(cp);
            if ((flags & Unicode.WHITESPACE) != 0) {
                if (!cur.isEmpty()) {
                    words.add(cur.toString());
                    cur.setLength(0);
                }
                continue;
            }
            if (cp == 0 || cp == 0xFFFD || (flags & Unicode.CONTROL) != 0) continue;
            if (stripAccents && (flags & Unicode.ACCENT_MARK) != 0) continue;
            int c = lowercase ? Unicode.toLower(cp) : cp;
            if ((flags & Unicode.PUNCTUATION) != 0 || (cp < 0x7F && (flags & Unicode.SYMBOL) != 0) || isChinese(cp)) {
                if (!cur.isEmpty()) {
                    words.add(cur.toString());
                    cur.setLength(0);
                }
                words.add(new String(Character.toChars(c)));
            } else {
                cur.appendCodePoint(c);
            }
        }
        if (!cur.isEmpty()) words.add(cur.toString());
        return words;
    }

    /**
     * Hugging Face tokenizers' BertNormalizer (clean text, spaces around CJK ideographs, strip accents, lowercase, in
     * that order) then BertPreTokenizer (split at White_Space, each punctuation character a word).
     */
    List<String> huggingFaceWords(String text) {
        String s = new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8);
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); ) { // clean_text, handle_chinese_chars
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == '\t' || cp == '\n' || cp == '\r' || Unicode.isWhitespace(cp)) b.append(' ');
            else if (cp == 0 || cp == 0xFFFD || isOther(cp)) continue;
            else if (isChinese(cp)) b.append(' ').appendCodePoint(cp).append(' ');
            else b.appendCodePoint(cp);
        }
        String t = b.toString();
        if (stripAccents) { // NFD of the whole text, nonspacing marks (Mn) dropped
            String d = Normalizer.normalize(t, Normalizer.Form.NFD);
            b.setLength(0);
            d.codePoints().filter(c -> Character.getType(c) != Character.NON_SPACING_MARK).forEach(b::appendCodePoint);
            t = b.toString();
        }
        List<String> words = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (int i = 0; i < t.length(); ) {
            int cp = t.codePointAt(i);
            i += Character.charCount(cp);
            if (Unicode.isWhitespace(cp) || isBertPunctuation(cp)) {
                if (!cur.isEmpty()) {
                    words.add(cur.toString());
                    cur.setLength(0);
                }
                if (!Unicode.isWhitespace(cp)) appendLower(cur, cp);
                if (!cur.isEmpty()) {
                    words.add(cur.toString());
                    cur.setLength(0);
                }
            } else {
                appendLower(cur, cp);
            }
        }
        if (!cur.isEmpty()) words.add(cur.toString());
        return words;
    }

    /** Rust's char::to_lowercase, one code point at a time: the JDK's simple mapping but for U+0130's two. */
    private void appendLower(StringBuilder b, int cp) {
        if (!lowercase) b.appendCodePoint(cp);
        else if (cp == 0x130) b.append("i\u0307");
        else b.appendCodePoint(Character.toLowerCase(cp));
    }

    /** unicode_categories' is_other: Cc, Cf, Cn, Co, Cs. */
    private static boolean isOther(int cp) {
        int t = Character.getType(cp);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.UNASSIGNED
                || t == Character.PRIVATE_USE || t == Character.SURROGATE;
    }

    /** BertPreTokenizer's is_bert_punc: ASCII punctuation (every ASCII symbol) or a Unicode P* character. */
    private static boolean isBertPunctuation(int cp) {
        if (cp < 0x80) return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60)
                || (cp >= 0x7B && cp <= 0x7E);
        return switch (Character.getType(cp)) {
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
                 Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION,
                 Character.OTHER_PUNCTUATION -> true;
            default -> false;
        };
    }

    /** llama.cpp's unicode_cpts_normalize_nfd: a code point becomes the first code point of its NFD form. */
    private static int nfdFirst(int cp) {
        if (cp < 0xC0) return cp;
        String d = Normalizer.normalize(new String(Character.toChars(cp)), Normalizer.Form.NFD);
        return d.codePointAt(0);
    }

    private static boolean isChinese(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
                || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F)
                || (c >= 0x2B920 && c <= 0x2CEAF) // llama.cpp follows HF's 0x2B920 here, not 0x2B820
                || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }
}
