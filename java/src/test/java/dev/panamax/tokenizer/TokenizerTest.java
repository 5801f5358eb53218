package dev.panamax.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.gguf.GgufFile;
import dev.panamax.gguf.GgufFormatException;
import dev.panamax.gguf.GgufValueType;
import dev.panamax.gguf.GgufWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tokenizers over tiny hand-built vocabularies whose expected ids follow from llama.cpp's algorithms by hand. */
class TokenizerTest {

    // ---- SentencePiece ("llama") ----

    static final String[] SPM_EXTRA = {"▁", "h", "e", "l", "o", "▁h", "he", "ll", "llo", "▁hello", "▁he", "<|user|>"};
    static final float[] SPM_EXTRA_SCORES = {0, 0, 0, 0, 0, -2, -3, -1, -4, -6, -5, 0};

    static Vocabulary spmVocab() {
        List<String> t = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        List<Integer> types = new ArrayList<>(List.of(2, 3, 3));
        for (int b = 0; b < 256; b++) {
            t.add(String.format("<0x%02X>", b));
            types.add(6);
        }
        float[] scores = new float[t.size() + SPM_EXTRA.length];
        for (int i = 0; i < SPM_EXTRA.length; i++) {
            scores[t.size()] = SPM_EXTRA_SCORES[i];
            t.add(SPM_EXTRA[i]);
            types.add(SPM_EXTRA[i].equals("<|user|>") ? 4 : 1);
        }
        return Vocabulary.of("llama", null, t.toArray(String[]::new), scores,
                types.stream().mapToInt(Integer::intValue).toArray(), null);
    }

    static int spmId(String text) {
        String[] tokens = spmVocab().tokens();
        return Arrays.asList(tokens).indexOf(text);
    }

    static int byteId(int b) {
        return 3 + b;
    }

    @Test
    void spmMergesByScoreAndAddsBosAndSpacePrefix() {
        Tokenizer tok = Tokenizer.of(spmVocab());
        assertEquals(1, tok.bos());
        assertEquals(2, tok.eos());
        assertArrayEquals(new int[] {1, spmId("▁hello")}, tok.encode("hello"));
        assertArrayEquals(new int[] {spmId("▁hello")}, tok.encode("hello", false));
        assertArrayEquals(new int[] {1}, tok.encode(""), "empty text is just BOS, as sentencepiece");
        assertEquals("hello", tok.decode(tok.encode("hello", false)));
    }

    @Test
    void spmFallsBackToByteTokens() {
        Tokenizer tok = Tokenizer.of(spmVocab());
        int[] ids = tok.encode("hé", false);
        assertArrayEquals(new int[] {spmId("▁h"), byteId(0xC3), byteId(0xA9)}, ids);
        assertEquals("hé", tok.decode(ids));
        assertArrayEquals(new byte[] {(byte) 0xC3}, tok.tokenBytes(byteId(0xC3)));
        assertEquals(" h", tok.tokenText(spmId("▁h")), "▁ is a space in pieces");
        TokenStreamDecoder stream = new TokenStreamDecoder(tok);
        assertEquals(" h", stream.push(ids[0]));
        assertEquals("", stream.push(ids[1]), "half a character is held back");
        assertEquals("é", stream.push(ids[2]));
        assertEquals("", stream.flush());
    }

    @Test
    void spmDoesNotParseControlTokensButSplitsUserDefinedOnes() {
        Tokenizer tok = Tokenizer.of(spmVocab());
        // "<s>" is control: tokenized as the characters it is made of
        assertArrayEquals(new int[] {spmId("▁"), byteId('<'), byteId('s'), byteId('>')}, tok.encode("<s>", false));
        // user-defined tokens are cut out first (llama.cpp does this even with parse_special=false), and the
        // text after one gets the space prefix again
        assertArrayEquals(new int[] {spmId("▁"), byteId('a'), spmId("<|user|>"), spmId("▁"), byteId('b')},
                tok.encode("a<|user|>b", false));
        assertEquals("", tok.tokenText(1), "control tokens render as nothing");
        assertTrue(tok.isEog(2));
        assertFalse(tok.isEog(1));
    }

    @Test
    void spmMetadataFlagsOverrideDefaults() {
        Tokenizer tok = Tokenizer.of(spmVocab().withFlags(false, true, false));
        assertArrayEquals(new int[] {spmId("he"), spmId("llo"), 2}, tok.encode("hello"), "no BOS, no space prefix, EOS");
    }

    // ---- byte-level BPE ("gpt2") ----

    static Vocabulary bpeVocab(String pre) {
        List<String> t = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            t.add(String.valueOf(BpeModel.BYTE_TO_CHAR[b]));
        }
        t.addAll(List.of("he", "ll", "hell", "hello", "Ġw", "<|endoftext|>"));
        int[] types = new int[t.size()];
        Arrays.fill(types, 1);
        types[t.size() - 1] = 3;
        String[] merges = {"h e", "l l", "he ll", "hell o", "Ġ w"};
        return Vocabulary.of("gpt2", pre, t.toArray(String[]::new), null, types, merges);
    }

    @Test
    void bpeMergesByRankAfterPreTokenizing() {
        Tokenizer tok = Tokenizer.of(bpeVocab("gpt-2"));
        int[] ids = tok.encode("hello world");
        assertArrayEquals(new int[] {259, 260, 'o', 'r', 'l', 'd'}, ids, "no BOS for gpt-2");
        assertEquals("hello world", tok.decode(ids));
        assertEquals(" w", tok.tokenText(260));
    }

    @Test
    void bpeTreatsSpecialTokenTextAsPlainText() {
        Tokenizer tok = Tokenizer.of(bpeVocab("gpt-2"));
        int[] ids = tok.encode("<|endoftext|>");
        int[] expected = "<|endoftext|>".chars().toArray();
        assertArrayEquals(expected, ids);
        assertTrue(tok.isEog(261), "<|endoftext|> ends generation");
        assertEquals("", tok.decode(new int[] {261}));
    }

    @Test
    void bpeBytesAndStreaming() {
        Tokenizer tok = Tokenizer.of(bpeVocab("qwen2"));
        int[] ids = tok.encode("é");
        assertArrayEquals(new int[] {0xC3, 0xA9}, ids);
        assertEquals("é", tok.decode(ids));
        TokenStreamDecoder s = new TokenStreamDecoder(tok);
        assertEquals("", s.push(0xC3));
        assertEquals("é", s.push(0xA9));
        assertEquals("", s.push(0xE2));
        assertEquals("\uFFFD", s.flush(), "an unfinished sequence is flushed as U+FFFD");
    }

    @Test
    void llama3PreTokenizerAddsBos() {
        Vocabulary v = bpeVocab("llama-bpe").withSpecial(261, 261, Vocabulary.NONE);
        Tokenizer tok = Tokenizer.of(v);
        assertEquals(261, tok.encode("hello")[0]);
        assertArrayEquals(new int[] {261, 259}, tok.encode("hello"));
    }

    // ---- pre-tokenizer splits ----

    static List<String> split(String pre, String text) {
        PreTokenizer p = new PreTokenizer(PreTokenizer.forName(pre).regexes());
        int[] cpts = text.codePoints().toArray();
        return PreTokenizer.words(cpts, p.split(cpts));
    }

    @Test
    void llama3Split() {
        assertEquals(List.of("Hello", " world", "'s", " ", "123", "45", " ok", "\n\n", " ", " x"),
                split("llama-bpe", "Hello world's 12345 ok\n\n  x"));
    }

    @Test
    void gpt2Split() {
        assertEquals(List.of("Hello", " world", "'s", " 12345", "!!", "  ", " x"),
                split("gpt-2", "Hello world's 12345!!   x"));
    }

    @Test
    void deepseekCoderSplitUsesCategoriesAndCjkRanges() {
        assertEquals(List.of("ab", "中文", "1", "2"), split("deepseek-coder", "ab中文12"));
    }

    // ---- errors ----

    @Test
    void badVocabulariesFailClearly() {
        assertThrows(IllegalArgumentException.class, () -> Tokenizer.of(Vocabulary.of("t5", null,
                new String[] {"a"}, null, null, null)));
        assertThrows(IllegalArgumentException.class, () -> Tokenizer.of(Vocabulary.of("gpt2", "gpt-2",
                new String[] {"a"}, null, null, null)), "gpt2 without merges");
        assertThrows(IllegalArgumentException.class, () -> Tokenizer.of(bpeVocab("no-such-pre")));
        assertThrows(IllegalArgumentException.class, () -> Vocabulary.of("llama", null,
                new String[] {"a", "b"}, new float[1], null, null));
        Tokenizer tok = Tokenizer.of(spmVocab());
        assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {tok.vocabSize()}));
        assertThrows(IllegalArgumentException.class, () -> tok.tokenBytes(-1));
    }

    // ---- GGUF metadata ----

    @Test
    void readsVocabularyFromGguf(@TempDir Path dir) throws Exception {
        Vocabulary v = spmVocab();
        Path f = dir.resolve("v.gguf");
        new GgufWriter()
                .putString("general.architecture", "llama")
                .putString("tokenizer.ggml.model", "llama")
                .putArray("tokenizer.ggml.tokens", GgufValueType.STRING, v.tokens())
                .putArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, v.scores())
                .putArray("tokenizer.ggml.token_type", GgufValueType.INT32, v.tokenTypes())
                .putUInt32("tokenizer.ggml.bos_token_id", 2)
                .putUInt32("tokenizer.ggml.eos_token_id", 1)
                .putBool("tokenizer.ggml.add_bos_token", true)
                .write(f);
        try (GgufFile g = GgufFile.open(f)) {
            Tokenizer tok = Tokenizer.fromGguf(g.metadata());
            assertEquals(2, tok.bos());
            assertEquals(1, tok.eos());
            assertArrayEquals(new int[] {2, spmId("▁hello")}, tok.encode("hello"));
        }
        Path bad = dir.resolve("bad.gguf");
        new GgufWriter()
                .putString("tokenizer.ggml.model", "llama")
                .putArray("tokenizer.ggml.tokens", GgufValueType.STRING, v.tokens())
                .putArray("tokenizer.ggml.token_type", GgufValueType.FLOAT32, new float[v.size()])
                .write(bad);
        try (GgufFile g = GgufFile.open(bad)) {
            assertThrows(GgufFormatException.class, () -> Tokenizer.fromGguf(g.metadata()));
        }
    }
}
