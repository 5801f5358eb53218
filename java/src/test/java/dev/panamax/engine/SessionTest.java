package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.ContextOverflowException;
import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.TokenStream;
import dev.panamax.Backend;
import dev.panamax.model.TinyModels;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tensor.GgmlType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The public API end to end on a tiny random model: generation, streaming, KV reuse, cancel, overflow. */
class SessionTest {

    @TempDir
    static Path dir;

    static Model load(Path m, int ctx) throws Exception {
        return Model.load(m, Model.Options.defaults().withBackend(Backend.JAVA).withThreads(1).withContextLength(ctx).withBatchSize(8));
    }

    @Test
    void greedyIsDeterministicAndStreams() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 21);
        try (Model model = load(m, 64); Session a = model.newSession(); Session b = model.newSession()) {
            List<Integer> streamed = new ArrayList<>();
            StringBuilder text = new StringBuilder();
            Generation g1 = a.generate("hello world", 12, SamplingParams.greedy(), (t, s) -> { streamed.add(t); text.append(s); });
            Generation g2 = b.generate("hello world", 12, SamplingParams.greedy(), null);
            assertArrayEquals(g1.tokens(), g2.tokens());
            assertArrayEquals(model.tokenizer().encode("hello world"), g1.promptTokens());
            assertEquals(1, g1.promptTokens()[0], "BOS first");
            assertEquals(g1.tokens().length, streamed.size());
            for (int i = 0; i < streamed.size(); i++) assertEquals(g1.tokens()[i], streamed.get(i));
            assertEquals(g1.text(), text.toString());
            assertTrue(g1.tokens().length == 12 || g1.stop() == Generation.StopReason.END_OF_GENERATION);
        }
    }

    @Test
    void iteratorStreamGivesTheSameTextAndCanStopEarly() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 23);
        try (Model model = load(m, 64); Session a = model.newSession(); Session b = model.newSession()) {
            Generation ref = a.generate("hello world", 12, SamplingParams.greedy(), null);
            StringBuilder text = new StringBuilder();
            try (TokenStream ts = b.stream("hello world", 12, SamplingParams.greedy())) {
                while (ts.hasNext()) text.append(ts.next());
                assertArrayEquals(ref.tokens(), ts.generation().tokens());
                assertFalse(ts.hasNext());
            }
            assertEquals(ref.text(), text.toString());
            // stop after two pieces: the generation ends cancelled and the session is usable again
            b.reset();
            try (TokenStream ts = b.stream("hello world", 40, SamplingParams.greedy())) {
                assertTrue(ts.hasNext());
                ts.next();
                ts.next();
                ts.close();
                assertEquals(Generation.StopReason.CANCELLED, ts.generation().stop());
            }
            b.reset();
            assertArrayEquals(ref.tokens(), b.generate("hello world", 12, SamplingParams.greedy(), null).tokens());
        }
    }

    @Test
    void continuingASessionEqualsOneLongerGeneration() throws Exception {
        Path m = TinyModels.write(dir, "qwen2", GgmlType.F32, true, 22);
        try (Model model = load(m, 64); Session s = model.newSession(); Session t = model.newSession()) {
            int[] prompt = {1, 262, 263, 264};
            Generation whole = s.generate(prompt, 10, SamplingParams.greedy(), null);
            org.junit.jupiter.api.Assumptions.assumeTrue(whole.tokens().length == 10, "the random model hit EOS early");
            // the same 10 tokens in two calls: the second reuses the KV cache (and the pending token) of the first
            Generation first = t.generate(prompt, 4, SamplingParams.greedy(), null);
            Generation rest = t.generate(new int[0], 6, SamplingParams.greedy(), null);
            int[] joined = new int[10];
            System.arraycopy(first.tokens(), 0, joined, 0, 4);
            System.arraycopy(rest.tokens(), 0, joined, 4, 6);
            assertArrayEquals(whole.tokens(), joined);
            assertEquals(prompt.length + 10, t.position());
            t.reset();
            assertArrayEquals(whole.tokens(), t.generate(prompt, 10, SamplingParams.greedy(), null).tokens());
        }
    }

    @Test
    void seededSamplingIsReproducible() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.F16, false, 23);
        try (Model model = load(m, 64); Session s = model.newSession()) {
            SamplingParams p = new SamplingParams(1.5f, 0, 1f, 0f, 1f, 64, 99);
            int[] a = s.generate(new int[] {1, 270}, 20, p, null).tokens();
            s.reset();
            assertArrayEquals(a, s.generate(new int[] {1, 270}, 20, p, null).tokens());
        }
    }

    @Test
    void cancelStopsAtTheNextToken() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.F32, false, 24);
        try (Model model = load(m, 64); Session s = model.newSession()) {
            int[] count = {0};
            Generation g = s.generate(new int[] {1, 270}, 50, new SamplingParams(1f, 0, 1f, 0f, 1f, 64, 1), (t, x) -> {
                if (++count[0] == 3) s.cancel();
            });
            assertEquals(Generation.StopReason.CANCELLED, g.stop());
            assertEquals(3, g.tokens().length);
        }
    }

    @Test
    void contextOverflowIsAClearException() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.F32, false, 25);
        try (Model model = load(m, 16); Session s = model.newSession()) {
            int[] prompt = new int[17];
            java.util.Arrays.fill(prompt, 270);
            ContextOverflowException e = assertThrows(ContextOverflowException.class,
                    () -> s.generate(prompt, 1, SamplingParams.greedy(), null));
            assertEquals(17, e.needed());
            Generation g = s.generate(new int[] {1, 270, 271}, 100, new SamplingParams(1f, 0, 1f, 0f, 1f, 64, 1), null);
            assertTrue(g.stop() == Generation.StopReason.CONTEXT_FULL || g.stop() == Generation.StopReason.END_OF_GENERATION);
            assertTrue(s.position() <= 16);
            assertThrows(IllegalArgumentException.class, () -> model.newSession(TinyModels.CTX + 1));
        }
    }

    @Test
    void promptLogitsHaveOneRowPerPositionAndClosedThingsRefuseWork() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.F32, false, 26);
        Session s;
        try (Model model = load(m, 32)) {
            s = model.newSession();
            float[] l = s.promptLogits(new int[] {1, 262, 263});
            assertEquals(3 * TinyModels.VOCAB, l.length);
        }
        // closing the model closed its sessions
        assertThrows(IllegalStateException.class, () -> s.generate(new int[] {1}, 1, SamplingParams.greedy(), null));
    }

    @Test
    void manySessionsOpenAndCloseWithoutLeaking() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.F32, false, 27);
        var threads = java.lang.management.ManagementFactory.getThreadMXBean();
        try (Model model = load(m, 16)) {
            try (Session s = model.newSession()) { // the first one may start lazily created JVM threads
                s.generate(new int[] {1}, 1, SamplingParams.greedy(), null);
            }
            int before = threads.getThreadCount();
            for (int i = 0; i < 300; i++) {
                try (Session s = model.newSession()) {
                    s.generate(new int[] {1}, 1, SamplingParams.greedy(), null);
                }
            }
            for (int i = 0; i < 100 && threads.getThreadCount() > before; i++) Thread.sleep(10);
            assertEquals(before, threads.getThreadCount(), "threads after 300 sessions opened and closed");
        }
    }
}
