package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.grammar.Grammar;
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
 * llama, a byte-level BPE deepseek2 and a SentencePiece deepseek2 fixture.
 */
class GrammarConformanceTest {

    static final String PROMPT = "Here is the answer in the requested format:";

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
            for (Path schema : s.sorted().toList()) {
                Path g = tmp.resolve(schema.getFileName().toString().replace(".json", ".gbnf"));
                Files.writeString(g, LlamaCppReference.run(llschema.toString(), schema.toString()));
                grammars.add(g);
            }
        }
        assertTrue(grammars.size() >= 30, "grammars: " + grammars.size());
        int total = 0;
        List<String> differ = new ArrayList<>();
        try (Model m = Model.load(model, Model.Options.defaults().withThreads(2))) {
            for (Path g : grammars) {
                String out = LlamaCppReference.llref("-m", model.toString(), "-p", PROMPT, "-n", "64", "--fa", "1", "-T", "2",
                        "--no-warmup", "--grammar", g.toString());
                int[] ref = LlamaCppReference.ids(out, "generated ids");
                Grammar grammar = Grammar.parse(Files.readString(g));
                try (Session s = m.newSession(256)) {
                    Generation gen = s.generate(PROMPT, 64, SamplingParams.greedy().withGrammar(grammar), null);
                    total += gen.tokens().length;
                    if (!java.util.Arrays.equals(ref, gen.tokens())) {
                        differ.add(g.getFileName() + ": llama.cpp " + java.util.Arrays.toString(ref) + "\n  ours " + java.util.Arrays.toString(gen.tokens()));
                    }
                }
            }
        }
        System.out.printf("grammar conformance %s: %d grammars, %d tokens, %d differ%n", fixture, grammars.size(), total, differ.size());
        assertTrue(differ.isEmpty(), String.join("\n", differ));
    }
}
