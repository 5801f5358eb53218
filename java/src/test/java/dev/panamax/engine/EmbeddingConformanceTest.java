package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.Backend;
import dev.panamax.Model;
import dev.panamax.embed.Embedder;
import dev.panamax.embed.Embedding;
import dev.panamax.embed.Pooling;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Embeddings and reranker scores against llama.cpp's (the toolkit's {@code llembed}: llama_get_embeddings_seq,
 * normalized as llama-embedding does) on the same files: the toolkit's BERT fixtures (WordPiece vocabulary, mean and
 * CLS pooling, a reranker with rank pooling), and decoders with mean and last pooling. Every text's tokens must be
 * identical, its vector at cosine >= 0.99999 and within 2e-3 per element (F32 files; Q8_0: 0.9999 / 5e-3; llama.cpp
 * rounds K/V, and in its flash attention Q, to F16 here too, in another summation order), a reranker's score within 1e-3
 * (F32; Q8_0: 2e-2, measured 9e-3: the random head's score is a sum of terms that cancel, so the activations' 8-bit
 * rounding shows up magnified). Panamax runs all texts of a file in one batched step (llama.cpp: one text per decode), so this also checks
 * that texts in one step do not see each other. Skipped when the toolkit is absent.
 */
class EmbeddingConformanceTest {

    static final String[] TEXTS = {
            "Hello world",
            "The quick brown fox jumps over the lazy dog.",
            "Äpfel und Birnen: naïve café résumé, COMPLETELY UPPERCASE and MiXeD cAsE",
            "机器学习 is machine learning; 東京 means Tokyo!",
            "a", "antidisestablishmentarianism supercalifragilisticexpialidocious 1234567890 3.14159",
            "What is the capital of France?\tParis is the capital and largest city of France.",
            "What is the capital of France?\tThe Eiffel Tower was built in 1889."};

    @TempDir
    Path tmp;

    /** Mean, rank and last pooling, an encoder and a decoder: seconds on a quiet machine. */
    @ParameterizedTest(name = "{0} {1} {2}")
    @CsvSource({"tiny-bert-mean-f32,,native,0.99999,2e-3", "tiny-bert-rank-q8_0,,native,0.9999,2e-2",
            "tiny-llama-f32,last,native,0.99999,2e-3"})
    void matchesLlamaCpp(String fixture, String pooling, String backend, double minCos, double maxAbs) throws Exception {
        check(fixture, pooling, backend, minCos, maxAbs);
    }

    /** The rest (minutes on a busy machine): {@code -Dpanamax.embed.conformance=full}. */
    @ParameterizedTest(name = "{0} {1} {2}")
    @CsvSource({"tiny-bert-mean-f32,,java,0.99999,2e-3", "tiny-bert-mean-q8_0,,native,0.9999,5e-3",
            "tiny-bert-rank-f32,,native,0.99999,1e-3", "tiny-bert-mean-f32,none,native,0.99999,2e-3",
            "tiny-bert-cls-f32,,native,0.99999,2e-3", "tiny-bert-cls-f32,last,native,0.99999,2e-3",
            "tiny-llama-f32,mean,native,0.99999,2e-3", "tiny-qwen3-f32,last,java,0.99999,2e-3",
            "tiny-llama-f32,last,java,0.99999,2e-3", "tiny-qwen3-f32,last,native,0.99999,2e-3",
            "tiny-qwen3-f32,mean,native,0.99999,2e-3", "tiny-deepseek2-f32,mean,native,0.99999,2e-3"})
    void matchesLlamaCppFull(String fixture, String pooling, String backend, double minCos, double maxAbs) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue("full".equals(System.getProperty("panamax.embed.conformance")),
                "the full embedding conformance set runs with -Dpanamax.embed.conformance=full");
        check(fixture, pooling, backend, minCos, maxAbs);
    }

    private void check(String fixture, String pooling, String backend, double minCos, double maxAbs) throws Exception {
        Path m = LlamaCppReference.fixture(fixture);
        Path llembed = LlamaCppReference.REF.resolve("bin/llembed");
        LlamaCppReference.assumePresent(llembed);
        Path in = tmp.resolve("texts.txt"), out = tmp.resolve("ref.f32");
        Files.writeString(in, String.join("\n", TEXTS) + "\n", StandardCharsets.UTF_8);
        List<String> args = new ArrayList<>(List.of("-m", m.toString(), "-f", in.toString(), "-T", "2", "-o", out.toString()));
        if (pooling != null) args.addAll(List.of("--pooling", pooling));
        String log = LlamaCppReference.run(llembed.toString(), args.toArray(String[]::new));
        Matcher pm = Pattern.compile("pooling: (\\d+)").matcher(log);
        assertTrue(pm.find(), log);
        Pooling p = Pooling.fromGguf(Integer.parseInt(pm.group(1)));
        List<int[]> refTokens = new ArrayList<>();
        Matcher tm = Pattern.compile("text \\d+ tokens \\(\\d+\\):([ 0-9]*)").matcher(log);
        while (tm.find()) refTokens.add(java.util.Arrays.stream(tm.group(1).trim().split(" +")).mapToInt(Integer::parseInt).toArray());
        assertEquals(TEXTS.length, refTokens.size(), log);
        float[] ref = LlamaCppReference.floats(out);

        try (Model model = Model.load(m, Model.Options.defaults().withThreads(2).withBackend(Backend.parse(backend)))) {
            if (pooling == null) assertEquals(p, model.pooling(), "the file's pooling");
            Embedder e = model.embedder();
            List<int[]> toks = new ArrayList<>();
            for (String t : TEXTS) {
                int tab = p == Pooling.RANK ? t.indexOf('\t') : -1;
                toks.add(tab >= 0 ? e.pairTokens(t.substring(0, tab), t.substring(tab + 1)) : e.tokenize(t));
            }
            for (int i = 0; i < TEXTS.length; i++) assertArrayEquals(refTokens.get(i), toks.get(i), "tokens of text " + i);
            List<Embedding> ours = e.embedTokens(toks, p, p != Pooling.RANK);
            int off = 0;
            double worstCos = 1, worstAbs = 0;
            for (int i = 0; i < TEXTS.length; i++) {
                for (float[] row : ours.get(i).rows()) {
                    if (p == Pooling.RANK) {
                        for (int d = 0; d < row.length; d++) {
                            float r = ref[off + d];
                            assertEquals(r, row[d], maxAbs * Math.max(1, Math.abs(r)), "score of text " + i);
                            worstAbs = Math.max(worstAbs, Math.abs(r - row[d]));
                        }
                    } else {
                        double dot = 0, na = 0, nb = 0, abs = 0;
                        for (int d = 0; d < row.length; d++) {
                            double a = ref[off + d], b = row[d];
                            dot += a * b;
                            na += a * a;
                            nb += b * b;
                            abs = Math.max(abs, Math.abs(a - b));
                        }
                        double cos = dot / Math.sqrt(na * nb);
                        worstCos = Math.min(worstCos, cos);
                        worstAbs = Math.max(worstAbs, abs);
                    }
                    off += row.length;
                }
            }
            assertEquals(ref.length, off, "floats written by llembed vs ours");
            System.out.printf("%s pooling %s (%s): worst cosine %.8f, worst |diff| %.2e%n", fixture, p, backend, worstCos, worstAbs);
            assertTrue(worstCos >= minCos, "cosine " + worstCos + " < " + minCos);
            assertTrue(worstAbs <= maxAbs, "max |diff| " + worstAbs + " > " + maxAbs);
        }
    }
}
