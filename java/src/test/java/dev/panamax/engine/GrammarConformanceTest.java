package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.grammar.Grammar;
import dev.panamax.grammar.GrammarMatcher;
import dev.panamax.sampling.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Greedy decoding under a grammar, token for token against llama.cpp's grammar sampler ({@code llref --grammar}, when
 * the reference toolkit is installed): each of llama.cpp's example grammars (src/grammars) and the grammars its own
 * converter (llschema) makes from the 24 schemas in test resources grammar/schemas, 64 tokens, on a SentencePiece
 * llama, a byte-level BPE deepseek2 and a SentencePiece deepseek2 fixture. Each grammar runs on one of the three
 * fixtures in turn (grammar i on fixture i mod 3: every grammar and every vocabulary covered, one llref process per
 * grammar, so the test takes about a minute); {@code -Dpanamax.grammar.conformance=full} runs every grammar on every
 * fixture.
 */
class GrammarConformanceTest {

    static final String PROMPT = "Here is the answer in the requested format:";

    static final List<String> FIXTURES = List.of("tiny-llama-f32", "tiny-deepseek2-f32", "tiny-deepseek2-untied-spm-f32");
    static final boolean FULL = "full".equals(System.getProperty("panamax.grammar.conformance"));

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama-f32", "tiny-deepseek2-f32", "tiny-deepseek2-untied-spm-f32"})
    void greedyUnderGrammarsMatchesLlamaCpp(String fixture, @TempDir Path tmp) throws Exception {
        Path model = LlamaCppReference.fixture(fixture);
        Path llschema = LlamaCppReference.REF.resolve("bin/llschema");
        List<Path> grammars = new ArrayList<>();
        try (Stream<Path> s = Files.list(LlamaCppReference.REF.resolve("src/grammars"))) {
            s.filter(p -> p.toString().endsWith(".gbnf")).sorted().forEach(grammars::add);
        }
        Path schemas = Path.of(getClass().getResource("/grammar/schemas").toURI());
        try (Stream<Path> s = Files.list(schemas)) {
            s.sorted().forEach(grammars::add);
        }
        assertTrue(grammars.size() >= 30, "grammars: " + grammars.size());
        int f = FIXTURES.indexOf(fixture);
        List<Path> mine = new ArrayList<>();
        for (int i = 0; i < grammars.size(); i++) {
            if (!FULL && i % FIXTURES.size() != f) continue;
            Path g = grammars.get(i);
            if (g.toString().endsWith(".json")) { // a schema: llama.cpp's converter makes the grammar
                Path out = tmp.resolve(g.getFileName().toString().replace(".json", ".gbnf"));
                Files.writeString(out, LlamaCppReference.run(llschema.toString(), g.toString()));
                g = out;
            }
            mine.add(g);
        }
        grammars = mine;
        int total = 0, ties = 0, logitsDiffer = 0;
        List<String> differ = new ArrayList<>();
        try (Model m = Model.load(model, Model.Options.defaults().withThreads(2))) {
            int nVocab = m.tokenizer().vocabSize();
            for (Path g : grammars) {
                Path logits = tmp.resolve(g.getFileName() + ".f32");
                String out = LlamaCppReference.llref("-m", model.toString(), "-p", PROMPT, "-n", "64", "--fa", "1", "-T", "1",
                        "--no-warmup", "--grammar", g.toString(), "--gen-logits", logits.toString());
                int[] ref = LlamaCppReference.ids(out, "generated ids");
                Grammar grammar = Grammar.parse(Files.readString(g));
                try (Session s = m.newSession(256)) {
                    int[] ours = s.generate(PROMPT, 64, SamplingParams.greedy().withGrammar(grammar), null).tokens();
                    total += ours.length;
                    int i = java.util.Arrays.mismatch(ref, ours);
                    if (i < 0) continue;
                    // a different token where llama.cpp's own logits tie (within 1% of the largest |logit|, the
                    // margin the logits conformance tests use) is a rounding difference, not a grammar one
                    float[] row = i < ref.length && i < ours.length ? logitsRow(logits, i, nVocab) : null;
                    if (row != null && isTie(row, ref[i], ours[i])) {
                        ties++;
                        System.out.printf("grammar conformance %s %s: same %d tokens, then a tie in llama.cpp's logits (%d: %f, %d: %f)%n",
                                fixture, g.getFileName(), i, ref[i], row[ref[i]], ours[i], row[ours[i]]);
                        continue;
                    }
                    // otherwise the grammar is at fault only if our matcher rejects llama.cpp's token after the
                    // common prefix; if it allows it, the models' logits differ there (not this test's subject: printed)
                    if (i < ref.length && !m.tokenizer().isEog(ref[i]) && allowsAfter(grammar, m, ref, i)) {
                        logitsDiffer++;
                        System.out.printf("grammar conformance %s %s: same %d tokens, then the models' logits differ "
                                + "(llama.cpp's token %d is allowed here too; its logits: %d: %f, ours %d: %f)%n", fixture,
                                g.getFileName(), i, ref[i], ref[i], row == null ? Float.NaN : row[ref[i]], ours[i],
                                row == null ? Float.NaN : row[ours[i]]);
                        continue;
                    }
                    differ.add(g.getFileName() + " from token " + i + ": llama.cpp " + java.util.Arrays.toString(ref)
                            + "\n  ours " + java.util.Arrays.toString(ours));
                }
            }
        }
        System.out.printf("grammar conformance %s: %d grammars (%s), %d tokens, %d differ, %d end at a tie%n", fixture,
                grammars.size(), grammars.stream().map(p -> p.getFileName().toString()).toList(), total, differ.size(), ties);
        assertTrue(differ.isEmpty(), String.join("\n", differ));
        assertTrue(ties + logitsDiffer <= grammars.size() / 3, ties + " ties and " + logitsDiffer + " logits differences in "
                + grammars.size() + " grammars: too many to mean much");
    }

    /** Whether our matcher, after llama.cpp's first i tokens, allows its token i. */
    static boolean allowsAfter(Grammar g, Model m, int[] ref, int i) {
        GrammarMatcher gm = new GrammarMatcher(g, m.tokenizer(), m.tokenizer().vocabSize());
        for (int k = 0; k < i; k++) if (!gm.accept(ref[k])) return false;
        return gm.allows(ref[i]);
    }

    static float[] logitsRow(Path file, int row, int nVocab) throws java.io.IOException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(Files.readAllBytes(file)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        if ((long) (row + 1) * nVocab * 4 > b.capacity()) return null;
        float[] r = new float[nVocab];
        b.position(row * nVocab * 4);
        b.asFloatBuffer().get(r);
        return r;
    }

    static boolean isTie(float[] row, int a, int b) {
        float max = 0;
        for (float v : row) max = Math.max(max, Math.abs(v));
        return Math.abs(row[a] - row[b]) <= 0.01f * max;
    }
}
