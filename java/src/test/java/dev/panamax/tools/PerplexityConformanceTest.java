package dev.panamax.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.panamax.Model;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Perplexity} against llama.cpp's (the toolkit's llppl, llama-perplexity's method on its own libraries) on
 * license texts (GPL-3 then Apache-2.0: more than 8k tokens in every fixture's vocabulary): the final PPL within 0.1% for F32/F16 models and 1% for quantized ones, at
 * -c 128 and 512 (a few chunks each, to keep the suite short; scripts/quant-quality.sh runs whole texts).
 */
class PerplexityConformanceTest {
    static final Path LICENSES = Path.of("/usr/share/common-licenses");

    @org.junit.jupiter.api.io.TempDir
    static Path dir;
    static Path TEXT;

    @org.junit.jupiter.api.BeforeAll
    static void text() throws Exception {
        Path a = LICENSES.resolve("GPL-3"), b = LICENSES.resolve("Apache-2.0");
        Assumptions.assumeTrue(Files.isRegularFile(a) && Files.isRegularFile(b), "no license texts under " + LICENSES);
        TEXT = dir.resolve("licenses.txt");
        Files.writeString(TEXT, Files.readString(a) + "\n" + Files.readString(b));
    }

    @ParameterizedTest(name = "{0} -c {1}")
    @CsvSource({"tiny-llama-f32,128,4,0.001", "tiny-llama-f16,512,2,0.001", "tiny-llama-q8_0,128,4,0.01",
        "tiny-llama-q4_k_m,512,2,0.01", "tiny-deepseek2-f32,512,2,0.001", "tiny-deepseek2-q4_k_m,128,4,0.01"})
    void sameAsLlamaCpp(String fixture, int ctx, int chunks, double tolerance) throws Exception {
        Path model = Toolkit.fixture(fixture);
        String ref = Toolkit.run("llppl", "-m", model.toString(), "-f", TEXT.toString(), "-c", "" + ctx, "--chunks", "" + chunks);
        Matcher m = Pattern.compile("Final estimate: PPL = ([0-9.]+) \\+/- ([0-9.]+)").matcher(ref);
        assertTrue(m.find(), ref);
        double refPpl = Double.parseDouble(m.group(1));
        Matcher tok = Pattern.compile("tokens: (\\d+),").matcher(ref);
        assertTrue(tok.find(), ref);
        try (Model mm = Model.load(model)) {
            Perplexity p = new Perplexity(mm, ctx);
            int[] tokens = p.tokenize(Files.readString(TEXT, StandardCharsets.UTF_8));
            assertEquals(Integer.parseInt(tok.group(1)), tokens.length, "token count as llama.cpp's");
            assertTrue(tokens.length >= 8192, "an 8k+ token text: " + tokens.length);
            Perplexity.Result r = p.run(tokens, chunks, c -> { });
            double rel = Math.abs(r.ppl() - refPpl) / refPpl;
            System.out.printf("%s -c %d: PPL %.4f vs llama.cpp %.4f (%.2e relative)%n", fixture, ctx, r.ppl(), refPpl, rel);
            assertTrue(rel <= tolerance, fixture + ": PPL " + r.ppl() + " vs llama.cpp " + refPpl);
        }
    }
}
