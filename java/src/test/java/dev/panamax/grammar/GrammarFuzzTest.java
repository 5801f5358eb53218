package dev.panamax.grammar;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Coverage-guided fuzz targets for constrained generation (Jazzer): {@link #gbnf} parses arbitrary GBNF text,
 * {@link #schema} converts an arbitrary JSON Schema to GBNF, which must then parse. Whatever parses is walked for a
 * few tokens over a small vocabulary of one- to three-byte pieces (ASCII, a split two-byte character, a three-byte
 * one, JSON punctuation pairs), the bytes choosing the tokens; at every step the trie-walk mask must equal the
 * one-token reference check for every token, and an allowed token must be accepted. Allowed outcomes: that, or a
 * {@link GrammarException}. Anything else (another exception, a mask that disagrees, a hang) is a finding. Normal
 * test runs replay the committed inputs in {@code src/test/resources/dev/panamax/grammar/GrammarFuzzTestInputs/};
 * {@code scripts/fuzz.sh grammar|schema [minutes]} fuzzes.
 */
class GrammarFuzzTest {

    static final List<byte[]> PIECES = new ArrayList<>();
    static final VocabIndex VOCAB;

    static {
        for (int b = 1; b < 128; b++) PIECES.add(new byte[] {(byte) b});
        PIECES.add(new byte[] {(byte) 0xC3});
        PIECES.add(new byte[] {(byte) 0xA9});
        for (String s : new String[] {"é", "ぁ", "\"]", "},", "\\\"", "\\u", "ab", "12", "-1", ".5", "e+", "true", "null",
                ": ", "{\"", "\"}", "[]", "\n  ", "<s>"}) {
            PIECES.add(s.getBytes(StandardCharsets.UTF_8));
        }
        int n = PIECES.size() + 1; // the last id: end of generation
        VOCAB = new VocabIndex(n, (id, special) -> id < PIECES.size() ? PIECES.get(id) : new byte[0], id -> id == n - 1);
    }

    @FuzzTest(maxDuration = "10m")
    void gbnf(byte[] data) {
        int cut = split(data);
        String text = new String(data, 0, cut, StandardCharsets.UTF_8);
        Grammar g;
        try {
            g = Grammar.parse(text);
        } catch (GrammarException expected) {
            return; // a clear rejection
        }
        walk(g, java.util.Arrays.copyOfRange(data, Math.min(cut + 1, data.length), data.length));
    }

    @FuzzTest(maxDuration = "10m")
    void schema(byte[] data) {
        int cut = split(data);
        String schema = new String(data, 0, cut, StandardCharsets.UTF_8);
        Grammar g;
        try {
            g = Grammar.fromJsonSchema(schema); // GBNF of its own that does not parse: an IllegalStateException, a finding
        } catch (GrammarException expected) {
            return; // not JSON, or a schema the converter refuses
        }
        walk(g, java.util.Arrays.copyOfRange(data, Math.min(cut + 1, data.length), data.length));
    }

    /** The input is the text (UTF-8, malformed bytes become U+FFFD), a zero byte, then the bytes that choose tokens. */
    static int split(byte[] data) {
        for (int i = 0; i < data.length; i++) if (data[i] == 0) return i;
        return data.length;
    }

    /** Up to 16 tokens chosen by {@code choices}, checking the mask against the one-token reference at every step. */
    static void walk(Grammar g, byte[] choices) {
        int n = PIECES.size() + 1;
        int[] resolved = null;
        if (g.hasTokenElements()) { // this vocabulary has no token texts: map every token element to some id
            resolved = Grammar.copy(g.value);
            for (int k = 0; k < g.type.length; k++) {
                if (g.type[k] == Grammar.TOKEN || g.type[k] == Grammar.TOKEN_NOT) resolved[k] = Math.floorMod(g.value[k], n);
            }
        }
        GrammarMatcher m = new GrammarMatcher(g, VOCAB, n, resolved);
        for (int step = 0; step < Math.min(16, choices.length); step++) {
            long[] mask = m.allowedMask();
            int[] allowed = new int[n];
            int k = 0;
            for (int id = 0; id < n; id++) {
                boolean fast = (mask[id >>> 6] >>> (id & 63) & 1) != 0;
                if (m.allowsSlow(id) != fast) {
                    throw new AssertionError("token " + id + ": mask says " + fast + " at step " + step + " of\n" + g.source());
                }
                if (fast && id < n - 1) allowed[k++] = id;
            }
            if (m.canEnd() != ((mask[(n - 1) >>> 6] >>> ((n - 1) & 63) & 1) != 0)) {
                throw new AssertionError("end of generation allowed != canEnd at step " + step + " of\n" + g.source());
            }
            if (k == 0) return;
            int id = allowed[(choices[step] & 0xFF) % k];
            if (!m.accept(id)) throw new AssertionError("allowed token " + id + " not accepted at step " + step + " of\n" + g.source());
        }
    }
}
