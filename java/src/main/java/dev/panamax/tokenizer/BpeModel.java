package dev.panamax.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * llama.cpp's {@code llm_tokenizer_bpe_session}: pre-tokenize into words, map each word's UTF-8 bytes to GPT-2's
 * printable characters, then repeatedly merge the adjacent pair with the lowest merge rank (ties to the leftmost).
 * A final symbol that is not a token is emitted byte by byte where those bytes are tokens, and dropped otherwise,
 * as llama.cpp does.
 */
final class BpeModel {

    /** GPT-2's bytes_to_unicode: printable bytes stay, the others move to U+0100 and up, in byte order. */
    static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[0x200];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_TO_CHAR[b] = printable ? (char) b : (char) (256 + n++);
            CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
        }
    }

    private final GgmlTokenizer vocab;
    private final Map<String, Integer> ranks;
    private final PreTokenizer pre;
    private final boolean ignoreMerges;

    BpeModel(GgmlTokenizer vocab, String[] merges, PreTokenizer.Config config) {
        this.vocab = vocab;
        this.pre = new PreTokenizer(config.regexes());
        this.ignoreMerges = config.ignoreMerges();
        ranks = new HashMap<>(merges.length * 2);
        for (int i = 0; i < merges.length; i++) {
            String m = merges[i];
            if (m == null) {
                throw new IllegalArgumentException("tokenizer.ggml.merges[" + i + "] is null");
            }
            // llama.cpp splits at the first space after the first character; no space -> the pair ("", "")
            int sp = m.length() > 1 ? m.indexOf(' ', 1) : -1;
            String key = sp < 0 ? pairKey("", "") : pairKey(m.substring(0, sp), m.substring(sp + 1));
            ranks.putIfAbsent(key, i); // emplace: the first rank of a repeated pair wins
        }
    }

    private static String pairKey(String left, String right) {
        // NUL never occurs in byte-encoded token text (byte 0 maps to U+0100)
        return left + '\0' + right;
    }

    private record Bigram(int left, int right, int rank, int size) {}

    void tokenize(String text, PreTokenizer.IntList out) {
        int[] cpts = text.codePoints().toArray();
        int[] lengths = pre.split(cpts);
        int start = 0;
        for (int wl : lengths) {
            String word = byteEncode(new String(cpts, start, wl));
            start += wl;
            tokenizeWord(word, out);
        }
    }

    /** unicode_byte_encoding_process: the word's UTF-8 bytes as GPT-2 characters. */
    static String byteEncode(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        char[] c = new char[b.length];
        for (int i = 0; i < b.length; i++) {
            c[i] = BYTE_TO_CHAR[b[i] & 0xFF];
        }
        return new String(c);
    }

    private void tokenizeWord(String word, PreTokenizer.IntList out) {
        int n = word.length(); // one char per symbol: byte-encoded text is all in the BMP
        if (n == 0) {
            return;
        }
        if (ignoreMerges) {
            int id = vocab.id(word);
            if (id >= 0) {
                out.add(id);
                return;
            }
        }
        int[] len = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            len[i] = 1;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>((a, b) -> {
            int c = Integer.compare(a.rank, b.rank);
            return c != 0 ? c : Integer.compare(a.left, b.left);
        });
        for (int i = 1; i < n; i++) {
            addBigram(word, len, i - 1, i, queue);
        }
        while (!queue.isEmpty()) {
            Bigram b = queue.poll();
            // stale when either side changed since the pair was queued (symbols start at fixed positions)
            if (len[b.left] == 0 || len[b.right] == 0 || len[b.left] + len[b.right] != b.size) {
                continue;
            }
            len[b.left] += len[b.right];
            len[b.right] = 0;
            next[b.left] = next[b.right];
            if (next[b.right] >= 0) {
                prev[next[b.right]] = b.left;
            }
            addBigram(word, len, prev[b.left], b.left, queue);
            addBigram(word, len, b.left, next[b.left], queue);
        }
        for (int i = 0; i != -1; i = next[i]) {
            String s = word.substring(i, i + len[i]);
            int id = vocab.id(s);
            if (id >= 0) {
                out.add(id);
                continue;
            }
            // llama.cpp looks up each UTF-8 byte of the symbol text as a one-byte token; only ASCII can match
            for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
                if (b >= 0) {
                    int bid = vocab.id(String.valueOf((char) b));
                    if (bid >= 0) {
                        out.add(bid);
                    }
                }
            }
        }
    }

    private void addBigram(String word, int[] len, int left, int right, PriorityQueue<Bigram> queue) {
        if (left == -1 || right == -1) {
            return;
        }
        Integer rank = ranks.get(pairKey(word.substring(left, left + len[left]),
                word.substring(right, right + len[right])));
        if (rank != null) {
            queue.add(new Bigram(left, right, rank, len[left] + len[right]));
        }
    }

    /** llama_decode_text: token text in GPT-2 characters back to bytes. */
    static byte[] decodeText(String text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(text.length());
        text.codePoints().forEach(c -> {
            int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
            if (b >= 0) {
                out.write(b);
            } else {
                // llama.cpp writes this marker for characters outside the byte map, with the whole token text in
                // each: quadratic in a hostile token's length, so a token longer than 256 characters leaves it out
                StringBuilder sb = new StringBuilder("[UNK_BYTE_0x");
                for (byte x : new String(Character.toChars(c)).getBytes(StandardCharsets.UTF_8)) {
                    sb.append(String.format("%02x", x & 0xFF));
                }
                sb.append(text.length() <= 256 ? text : "").append(']');
                out.writeBytes(sb.toString().getBytes(StandardCharsets.UTF_8));
            }
        });
        return out.toByteArray();
    }
}
