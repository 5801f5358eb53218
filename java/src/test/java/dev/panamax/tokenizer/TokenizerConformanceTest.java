package dev.panamax.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.panamax.gguf.GgufFile;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Conformance with llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf with .inp/.out, the files
 * tests/test-tokenizer-0.cpp reads). They were produced with add_special=false, parse_special=false, so they are
 * compared with {@code encode(text, false)}. Runs only when the reference folder (system property
 * {@code panamax.llamacpp.ref}, default /tmp/llamacpp-ref) is present.
 */
class TokenizerConformanceTest {

    static Path refModels() {
        Path p = Path.of(System.getProperty("panamax.llamacpp.ref", "/tmp/llamacpp-ref"), "src", "models");
        assumeTrue(Files.isDirectory(p), "llama.cpp reference not present at " + p + " (set -Dpanamax.llamacpp.ref)");
        return p;
    }

    record Case(String text, int[] expected) {}

    /** test-tokenizer-0.cpp's read_tests: inputs separated by "\n__ggml_vocab_test__\n", one output line each. */
    static List<Case> readCases(Path inp, Path out) throws Exception {
        String raw = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(inp))).toString();
        String sep = "\n__ggml_vocab_test__\n";
        List<String> inputs = new ArrayList<>();
        int pos = 0;
        while (pos < raw.length()) {
            int next = raw.indexOf(sep, pos);
            if (next < 0) {
                inputs.add(raw.substring(pos));
                break;
            }
            inputs.add(raw.substring(pos, next));
            pos = next + sep.length();
        }
        List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
        assertEquals(inputs.size(), lines.size(), "inputs vs outputs in " + inp.getFileName());
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < inputs.size(); i++) {
            String o = lines.get(i).strip();
            int[] ids = o.isEmpty() ? new int[0] : Arrays.stream(o.split(" ")).mapToInt(Integer::parseInt).toArray();
            cases.add(new Case(inputs.get(i), ids));
        }
        return cases;
    }

    static Tokenizer load(Path gguf) throws Exception {
        try (GgufFile f = GgufFile.open(gguf)) {
            return Tokenizer.fromGguf(f.metadata());
        }
    }

    /** Vocabularies whose vectors must all match. */
    @ParameterizedTest
    @ValueSource(strings = {"llama-spm", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder", "gpt-2", "bert-bge"})
    void requiredVocabsMatchLlamaCpp(String name) throws Exception {
        assertEquals(0, run(name), "mismatches for " + name);
    }

    /** Vocabularies beyond the required set: reported, and held to what this port matches today. */
    @ParameterizedTest
    @ValueSource(strings = {"phi-3", "falcon", "starcoder", "command-r", "refact", "mpt"})
    void otherVocabsMatchLlamaCpp(String name) throws Exception {
        assertEquals(0, run(name), "mismatches for " + name);
    }

    private static int run(String name) throws Exception {
        Path dir = refModels();
        Path gguf = dir.resolve("ggml-vocab-" + name + ".gguf");
        assumeTrue(Files.exists(gguf.resolveSibling(gguf.getFileName() + ".inp")), "no test vectors for " + name);
        Tokenizer tok = load(gguf);
        List<Case> cases = readCases(gguf.resolveSibling(gguf.getFileName() + ".inp"),
                gguf.resolveSibling(gguf.getFileName() + ".out"));
        int fail = 0;
        int roundTrips = 0;
        for (Case c : cases) {
            int[] got = tok.encode(c.text(), false);
            if (!Arrays.equals(got, c.expected())) {
                fail++;
                System.out.printf("[%s] MISMATCH %s%n  expected %s%n  got      %s%n", name, show(c.text()),
                        Arrays.toString(c.expected()), Arrays.toString(got));
            }
            if (tok.decode(c.expected()).equals(c.text())) {
                roundTrips++;
            }
        }
        System.out.printf("[%s] %d/%d vectors match llama.cpp; decode(expected)==text for %d%n", name,
                cases.size() - fail, cases.size(), roundTrips);
        assertTrue(cases.size() > 10, "too few vectors in " + name);
        return fail;
    }

    static String show(String s) {
        StringBuilder sb = new StringBuilder("'");
        s.codePoints().forEach(c -> {
            if (c < 0x20) {
                sb.append(String.format("\\x%02x", c));
            } else {
                sb.appendCodePoint(c);
            }
        });
        return sb.append('\'').toString();
    }
}
