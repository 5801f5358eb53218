package dev.panamax.embed;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.Engine;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.model.TinyBert;
import dev.panamax.model.TinyModels;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tensor.GgmlType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Embeddings on fixtures written here (no toolkit): WordPiece tokens, texts batched in one step give what they give
 * alone (within summation order), attention both ways in bert (one way in a decoder), the pooling kinds against each other, unit length,
 * reranker pairs and scores, and the errors. EmbeddingConformanceTest holds the numbers to llama.cpp's.
 */
class EmbedderTest {

    @TempDir
    static Path dir;

    static final List<String> TEXTS = List.of("Hello, world!", "The cat sat on the mat.", "what is the capital of France?",
            "Cats playing", "dog", "xyz@!");

    static Model bert(int pooling) throws Exception {
        return Model.load(TinyBert.write(dir, pooling, 11), Model.Options.defaults().withThreads(2));
    }

    @Test
    void wordPieceTokens() throws Exception {
        try (Model m = bert(1)) {
            var t = m.tokenizer();
            assertEquals(List.of("[CLS]", "▁hello", "▁,", "▁world", "▁!", "[SEP]"), names(t, m.embedder().tokenize("Hello, world!")));
            // lowercased, longest piece first, continuations without "##"
            int[] ids = t.encode("Cats playing", false);
            assertEquals(List.of("▁cat", "s", "▁play", "ing"), names(t, ids));
            // '@' is a word of its own with no piece: [UNK]; accents stripped
            assertEquals(List.of("▁x", "y", "z", "[UNK]", "▁!"), names(t, t.encode("xyz@!", false)));
            assertEquals(List.of("▁c", "a", "f", "e"), names(t, t.encode("CAFÉ", false)));
        }
    }

    private static List<String> names(dev.panamax.tokenizer.Tokenizer t, int[] ids) {
        List<String> s = new ArrayList<>();
        for (int id : ids) s.add(t.tokenString(id));
        return s;
    }

    @Test
    void textsInOneStepGiveWhatTheyGiveAlone() throws Exception {
        for (Path f : new Path[] {TinyBert.write(dir, 1, 11), TinyModels.write(dir, "llama", GgmlType.F32, false, 5)}) {
            try (Model m = Model.load(f, Model.Options.defaults().withThreads(2))) {
                Pooling p = m.isEncoder() ? Pooling.MEAN : Pooling.LAST;
                List<Embedding> together = m.embed(TEXTS, p, true);
                for (int i = 0; i < TEXTS.size(); i++) {
                    float[] alone = m.embed(List.of(TEXTS.get(i)), p, true).get(0).vector();
                    // a step of one text runs GEMVs, a step of six GEMMs: another summation order, which GELU's F16
                    // table can round one step apart; a text that saw another would be off by far more
                    assertArrayEquals(alone, together.get(i).vector(), 2e-4f, f.getFileName() + " text " + i);
                    assertEquals(1.0, norm(alone), 1e-5, "unit length");
                }
            }
        }
    }

    /** Calls that arrive while a pass runs share the next passes, and each gets exactly its own rows. */
    @Test
    void concurrentCallsShareForwardPasses() throws Exception {
        try (Model m = bert(1)) {
            Embedder e = m.embedder();
            List<float[]> alone = new ArrayList<>();
            for (String t : TEXTS) alone.add(m.embed(List.of(t), Pooling.MEAN, true).get(0).vector());
            List<String> big = new ArrayList<>();
            for (int i = 0; i < 64 * 200; i++) big.add(TEXTS.get(i % TEXTS.size()));
            long before = e.passes();
            m.embed(big, Pooling.MEAN, true);
            long bigPasses = e.passes() - before;
            before = e.passes();
            var pool = java.util.concurrent.Executors.newFixedThreadPool(17);
            try {
                var leader = pool.submit(() -> m.embed(big, Pooling.MEAN, true));
                long start = before;
                while (e.passes() == start && !leader.isDone()) Thread.onSpinWait();
                int callers = 16;
                List<java.util.concurrent.Future<List<Embedding>>> small = new ArrayList<>();
                for (int i = 0; i < callers; i++) {
                    String t = TEXTS.get(i % TEXTS.size());
                    small.add(pool.submit(() -> m.embed(List.of(t), Pooling.MEAN, true)));
                }
                // one caller asks for NONE (another pooling: its own pass) while the others wait
                var rows = pool.submit(() -> m.embed(List.of("Hello, world!"), Pooling.NONE, false));
                assertEquals(big.size(), leader.get().size());
                for (int i = 0; i < callers; i++) {
                    List<Embedding> got = small.get(i).get();
                    assertEquals(1, got.size());
                    assertArrayEquals(alone.get(i % TEXTS.size()), got.get(0).vector(), 2e-4f, "caller " + i + " got its own text's vector");
                }
                assertEquals(6, rows.get().get(0).rows().length, "NONE pooling: a row per token");
                long used = e.passes() - before - bigPasses;
                assertTrue(used >= 2 && used <= 8, used + " passes for 16 one-text calls and one NONE call: they share passes");
                // errors stay with their call: an empty input fails alone, a good one beside it succeeds
                var bad = pool.submit(() -> e.embedTokens(List.of(new int[0]), Pooling.MEAN, true));
                var good = pool.submit(() -> m.embed(List.of("dog"), Pooling.MEAN, true));
                var ex = assertThrows(java.util.concurrent.ExecutionException.class, bad::get);
                assertInstanceOf(IllegalArgumentException.class, ex.getCause());
                assertArrayEquals(alone.get(4), good.get().get(0).vector(), 2e-4f);
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void bertAttendsBothWaysDecoderOneWay() throws Exception {
        try (Model b = bert(1); Model d = Model.load(TinyModels.write(dir, "llama", GgmlType.F32, false, 5))) {
            float[] b1 = b.embed(List.of("hello world"), Pooling.NONE, false).get(0).rows()[1];
            float[] b2 = b.embed(List.of("hello dog"), Pooling.NONE, false).get(0).rows()[1];
            assertTrue(maxDiff(b1, b2) > 1e-3, "bert: the first word sees the last");
            float[] d1 = d.embed(List.of("hello world"), Pooling.NONE, false).get(0).rows()[1];
            float[] d2 = d.embed(List.of("hello the"), Pooling.NONE, false).get(0).rows()[1];
            assertEquals(0, maxDiff(d1, d2), 1e-6, "decoder: causal");
        }
    }

    @Test
    void poolingKindsAgree() throws Exception {
        try (Model m = bert(2)) {
            assertEquals(Pooling.CLS, m.pooling());
            for (String text : TEXTS) {
                float[][] rows = m.embed(List.of(text), Pooling.NONE, false).get(0).rows();
                float[] mean = new float[rows[0].length];
                for (float[] r : rows) for (int i = 0; i < mean.length; i++) mean[i] += r[i] / rows.length;
                assertArrayEquals(unit(mean), m.embed(List.of(text), Pooling.MEAN, true).get(0).vector(), 1e-5f);
                assertArrayEquals(unit(rows[0].clone()), m.embed(List.of(text), null, true).get(0).vector(), 1e-5f);
                assertArrayEquals(unit(rows[rows.length - 1].clone()), m.embed(List.of(text), Pooling.LAST, true).get(0).vector(), 1e-5f);
                assertArrayEquals(rows[0], m.embed(List.of(text), Pooling.CLS, false).get(0).vector(), 1e-6f, "raw");
            }
            assertEquals(TinyBert.DIM, m.embed(List.of("dog")).get(0).length);
        }
    }

    @Test
    void rerankerScoresPairs() throws Exception {
        try (Model m = bert(4)) {
            assertEquals(Pooling.RANK, m.pooling());
            Embedder e = m.embedder();
            int[] pair = e.pairTokens("what is the capital of France?", "paris");
            int[] q = m.tokenizer().encode("what is the capital of France?", false);
            assertEquals(1, pair[0], "[CLS]");
            assertEquals(2, pair[1 + q.length], "[SEP] between, none after (llama.cpp's layout)");
            assertEquals(q.length + 3, pair.length);
            List<String> docs = List.of("paris", "the cat sat on the mat", "dog");
            float[] s = m.rerank("what is the capital of France?", docs);
            assertEquals(3, s.length);
            for (int i = 0; i < docs.size(); i++) {
                float alone = e.embedTokens(List.of(e.pairTokens("what is the capital of France?", docs.get(i))), Pooling.RANK, false).get(0).score();
                assertEquals(alone, s[i], 2e-3f * Math.abs(alone));
            }
            assertNotEquals(s[0], s[1]);
            assertThrows(IllegalStateException.class, () -> m.embed(List.of("dog")), "a reranker has no single embedding");
        }
        try (Model m = bert(1)) {
            assertThrows(IllegalStateException.class, () -> m.rerank("q", List.of("d")), "no classification head");
        }
    }

    @Test
    void errorsAreClear() throws Exception {
        try (Model m = bert(1)) {
            String longText = "dog ".repeat(TinyBert.CTX);
            var ex = assertThrows(IllegalArgumentException.class, () -> m.embed(List.of(longText)));
            assertTrue(ex.getMessage().contains("exceeds the model's context"), ex.getMessage());
            assertThrows(IllegalArgumentException.class, () -> m.embedTokens(List.of(new int[] {1, 9999}), null, true));
            assertThrows(IllegalArgumentException.class, () -> m.embedTokens(List.of(new int[0]), null, true));
            assertThrows(IllegalStateException.class, m::newSession);
            try (Engine engine = m.newEngine()) {
                assertThrows(IllegalStateException.class, () -> engine.submit(GenerationRequest.of(new int[] {1}, 4, SamplingParams.greedy())));
                assertEquals(TinyBert.DIM, engine.embed(List.of("hello")).get(0).length);
            }
        }
    }

    static double norm(float[] v) {
        double s = 0;
        for (float x : v) s += (double) x * x;
        return Math.sqrt(s);
    }

    static float[] unit(float[] v) {
        double n = norm(v);
        for (int i = 0; i < v.length; i++) v[i] = (float) (v[i] / n);
        return v;
    }

    static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
