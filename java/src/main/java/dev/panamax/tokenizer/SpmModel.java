package dev.panamax.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * llama.cpp's {@code llm_tokenizer_spm_session}: start from single characters, repeatedly merge the adjacent
 * pair whose concatenation is the highest-scoring token (ties to the leftmost), then emit each symbol as its
 * token, or re-split it along the merges that built it, or fall back to {@code <0xNN>} byte tokens.
 */
final class SpmModel {

    private final GgmlTokenizer vocab;

    SpmModel(GgmlTokenizer vocab) {
        this.vocab = vocab;
    }

    private record Bigram(int left, int right, float score, int size) {}

    /** Tokenizes text whose spaces are already ▁. */
    void tokenize(String text, PreTokenizer.IntList out) {
        int n = text.codePointCount(0, text.length());
        if (n == 0) {
            return;
        }
        int[] start = new int[n];
        int[] len = new int[n]; // in chars of text; 0 once merged away
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0, off = 0; i < n; i++) {
            int cl = Character.charCount(text.codePointAt(off));
            start[i] = off;
            len[i] = cl;
            off += cl;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>((a, b) -> {
            int c = Float.compare(b.score, a.score);
            return c != 0 ? c : Integer.compare(a.left, b.left);
        });
        Map<String, int[]> revMerge = new HashMap<>();
        for (int i = 1; i < n; i++) {
            tryAddBigram(text, start, len, i - 1, i, queue, revMerge);
        }
        while (!queue.isEmpty()) {
            Bigram b = queue.poll();
            if (len[b.left] == 0 || len[b.right] == 0 || len[b.left] + len[b.right] != b.size) {
                continue; // one side already merged into something else
            }
            len[b.left] += len[b.right];
            len[b.right] = 0;
            next[b.left] = next[b.right];
            if (next[b.right] >= 0) {
                prev[next[b.right]] = b.left;
            }
            tryAddBigram(text, start, len, prev[b.left], b.left, queue, revMerge);
            tryAddBigram(text, start, len, b.left, next[b.left], queue, revMerge);
        }
        for (int i = 0; i != -1; i = next[i]) {
            resegment(text, start, len, i, revMerge, out);
        }
    }

    private void tryAddBigram(String text, int[] start, int[] len, int left, int right, PriorityQueue<Bigram> queue,
                              Map<String, int[]> revMerge) {
        if (left == -1 || right == -1) {
            return;
        }
        String s = text.substring(start[left], start[left] + len[left] + len[right]);
        int id = vocab.id(s);
        if (id < 0) {
            return;
        }
        queue.add(new Bigram(left, right, vocab.scores[id], s.length()));
        revMerge.put(s, new int[] {left, right});
    }

    private void resegment(String text, int[] start, int[] len, int sym, Map<String, int[]> revMerge,
                           PreTokenizer.IntList out) {
        String s = text.substring(start[sym], start[sym] + len[sym]);
        int id = vocab.id(s);
        if (id >= 0) {
            out.add(id);
            return;
        }
        int[] p = revMerge.get(s);
        if (p == null) {
            for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
                out.add(byteToken(b & 0xFF));
            }
            return;
        }
        resegment(text, start, len, p[0], revMerge, out);
        resegment(text, start, len, p[1], revMerge, out);
    }

    /** llama_vocab::byte_to_token for SPM: {@code <0xNN>}, else the byte as a one-character token. */
    private int byteToken(int b) {
        int id = vocab.id(String.format("<0x%02X>", b));
        if (id >= 0) {
            return id;
        }
        if (b < 0x80) {
            id = vocab.id(String.valueOf((char) b));
            if (id >= 0) {
                return id;
            }
        }
        // llama.cpp throws std::out_of_range here; the unknown token is the graceful equivalent
        if (vocab.unk() >= 0) {
            return vocab.unk();
        }
        throw new IllegalArgumentException(String.format(
                "the vocabulary has no byte token <0x%02X> and no unknown token for a character of the text", b));
    }
}
