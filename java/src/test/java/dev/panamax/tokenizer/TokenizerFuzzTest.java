package dev.panamax.tokenizer;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Coverage-guided fuzz targets for the tokenizers (Jazzer): {@link #encodeDecode} encodes arbitrary text with a
 * SentencePiece vocabulary and byte-level BPE vocabularies under several pre-tokenizers and decodes the result and
 * arbitrary ids; {@link #vocabulary} builds a tokenizer from an arbitrary vocabulary (tokens, types, scores, merges,
 * special ids) and runs it. Allowed outcomes: results, an {@link IllegalArgumentException} from building a vocabulary
 * that cannot work (the GGUF loader turns it into a GgufFormatException), or from encoding text the vocabulary cannot
 * represent. Anything else is a finding. Normal test runs replay the committed inputs in
 * {@code src/test/resources/dev/panamax/tokenizer/TokenizerFuzzTestInputs/}; {@code scripts/fuzz.sh tokenizer} fuzzes.
 */
class TokenizerFuzzTest {

    static final List<Tokenizer> TOKENIZERS = List.of(
            Tokenizer.of(spm()), bpe("llama-bpe"), bpe("gpt-2"), bpe("deepseek-llm"), bpe("qwen2"), bpe("deepseek-coder"));

    static Vocabulary spm() {
        List<String> t = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) t.add(String.format("<0x%02X>", b));
        t.addAll(List.of("▁", "▁the", "▁a", "▁hello", "▁world", "e", "t", "a", "o", "th", "he", "in", "<|im_start|>", "<tag>"));
        int n = t.size();
        int[] types = new int[n];
        float[] scores = new float[n];
        for (int i = 0; i < n; i++) {
            types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
            scores[i] = -i * 0.1f;
        }
        types[n - 2] = 3;
        types[n - 1] = 4; // user-defined: split out of the text even without special parsing
        return Vocabulary.of("llama", null, t.toArray(new String[0]), scores, types, null).withSpecial(1, 2, 0);
    }

    static Tokenizer bpe(String pre) {
        List<String> t = new ArrayList<>();
        for (int b = 0; b < 256; b++) t.add(String.valueOf(BpeModel.BYTE_TO_CHAR[b]));
        String[] merges = {"Ġ t", "h e", "Ġt he", "i n", "e r", "a n", "Ġ a", "o n", "r e", "1 2", "12 3"};
        for (String m : merges) t.add(m.replace(" ", ""));
        t.add("<|endoftext|>");
        t.add("<|im_start|>");
        int[] types = new int[t.size()];
        Arrays.fill(types, 1);
        types[t.size() - 2] = 3;
        types[t.size() - 1] = 3;
        return Tokenizer.of(Vocabulary.of("gpt2", pre, t.toArray(new String[0]), null, types, merges)
                .withSpecial(t.size() - 2, t.size() - 2, Vocabulary.NONE));
    }

    @FuzzTest(maxDuration = "10m")
    void encodeDecode(byte[] data) {
        if (data.length == 0) return;
        Tokenizer tok = TOKENIZERS.get((data[0] & 0xFF) % TOKENIZERS.size());
        // the text as a Java string: malformed UTF-8 becomes U+FFFD, and odd bytes give unpaired surrogates too
        String text = new String(data, 1, data.length - 1, StandardCharsets.UTF_8);
        if ((data[0] & 0x80) != 0) {
            char[] c = new char[(data.length - 1) / 2];
            for (int i = 0; i < c.length; i++) c[i] = (char) ((data[1 + 2 * i] & 0xFF) << 8 | (data[2 + 2 * i] & 0xFF));
            text = new String(c);
        }
        for (boolean special : new boolean[] {false, true}) {
            int[] ids = tok.encode(text, true, special);
            String back = tok.decode(ids);
            if (back == null) throw new AssertionError("decode gave null");
            TokenStreamDecoder d = new TokenStreamDecoder(tok);
            for (int id : ids) d.push(id);
            d.flush();
        }
        // arbitrary ids: in range decode, out of range is an IllegalArgumentException
        int[] ids = new int[Math.min(64, data.length / 4)];
        for (int i = 0; i < ids.length; i++) ids[i] = Math.floorMod(data[4 * i] << 8 | data[4 * i + 1] & 0xFF, tok.vocabSize() + 2) - 1;
        try {
            tok.decode(ids);
        } catch (IllegalArgumentException e) {
            for (int id : ids) if (id < 0 || id >= tok.vocabSize()) return;
            throw e;
        }
    }

    @FuzzTest(maxDuration = "10m")
    void vocabulary(FuzzedDataProvider in) {
        int n = in.consumeInt(1, 300);
        String[] tokens = new String[n];
        for (int i = 0; i < n; i++) tokens[i] = in.consumeString(12);
        int[] types = null;
        if (in.consumeBoolean()) {
            types = new int[n];
            for (int i = 0; i < n; i++) types[i] = in.consumeInt(-1, 7);
        }
        float[] scores = null;
        if (in.consumeBoolean()) {
            scores = new float[n];
            for (int i = 0; i < n; i++) scores[i] = in.consumeFloat();
        }
        boolean gpt2 = in.consumeBoolean();
        String[] merges = null;
        if (gpt2 || in.consumeBoolean()) {
            merges = new String[in.consumeInt(0, 64)];
            for (int i = 0; i < merges.length; i++) merges[i] = in.consumeString(16);
        }
        String pre = in.pickValue(new String[] {"llama-bpe", "gpt-2", "qwen2", "deepseek-llm", "deepseek-v3", "falcon", "default"});
        Vocabulary v = Vocabulary.of(gpt2 ? "gpt2" : "llama", pre, tokens, scores, types, merges)
                .withSpecial(in.consumeInt(-2, n + 1), in.consumeInt(-2, n + 1), in.consumeInt(-2, n + 1))
                .withFlags(in.consumeBoolean() ? null : in.consumeBoolean(), in.consumeBoolean() ? null : in.consumeBoolean(),
                        in.consumeBoolean() ? null : in.consumeBoolean());
        Tokenizer tok;
        try {
            tok = Tokenizer.of(v);
        } catch (IllegalArgumentException refused) {
            return; // a vocabulary that cannot work, refused when built
        }
        String text = in.consumeRemainingAsString();
        for (boolean special : new boolean[] {false, true}) {
            int[] ids;
            try {
                ids = tok.encode(text, true, special);
            } catch (IllegalArgumentException unrepresentable) {
                continue; // documented: no byte token and no unknown token for a character of the text
            }
            tok.decode(ids);
        }
        for (int id = 0; id < tok.vocabSize(); id++) {
            tok.tokenBytes(id);
            tok.tokenText(id);
        }
    }
}
