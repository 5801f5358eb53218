package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.ContextOverflowException;
import dev.panamax.Engine;
import dev.panamax.EngineOverloadedException;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.RequestHandle;
import dev.panamax.Session;
import dev.panamax.Backend;
import dev.panamax.model.TinyDeepseek;
import dev.panamax.model.TinyModels;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tensor.GgmlType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The serving engine on tiny random models, native and Java backends: results that do not depend on the batch,
 * prefix reuse, cancellation and memory returned, admission control, closing with work in flight, many open/close
 * cycles.
 */
class EngineTest {

    @TempDir
    static Path dir;

    static Model load(Path m, Backend b) throws Exception {
        return Model.load(m, Model.Options.defaults().withBackend(b).withThreads(2).withContextLength(TinyModels.CTX).withBatchSize(16));
    }

    /** BOS then random ids (no BOS/EOS among them). */
    static int[] prompt(SplittableRandom r, int n) {
        int[] p = new int[n];
        p[0] = 1;
        for (int i = 1; i < n; i++) p[i] = 3 + r.nextInt(TinyModels.VOCAB - 3);
        return p;
    }

    /** Waits until the engine holds no KV block and runs nothing. */
    static void awaitIdle(Engine e) throws InterruptedException {
        for (int i = 0; i < 500 && (e.stats().kvBlocksUsed() > 0 || e.stats().running() > 0 || e.stats().waiting() > 0); i++) Thread.sleep(10);
        Engine.Stats s = e.stats();
        assertEquals(0, s.kvBlocksUsed(), "KV blocks still held: " + s);
        assertEquals(0, s.running(), "still running: " + s);
        assertEquals(0, s.waiting(), "still waiting: " + s);
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void greedyTokensDoNotDependOnTheBatch(Backend backend) throws Exception {
        for (Path m : List.of(TinyModels.write(dir, "llama", GgmlType.F32, false, 5), TinyDeepseek.write(dir, TinyDeepseek.Options.defaults()))) {
            try (Model model = load(m, backend)) {
                SplittableRandom r = new SplittableRandom(11);
                int[][] prompts = new int[8][];
                int[][] alone = new int[8][];
                for (int i = 0; i < 8; i++) {
                    prompts[i] = prompt(r, 3 + 9 * i); // 3..66 tokens: several chunks of a small budget
                    try (Session s = model.newSession()) {
                        alone[i] = s.generate(prompts[i], 16, SamplingParams.greedy(), null).tokens();
                    }
                }
                // a small budget: prompts are chunked, and join while others decode
                try (Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(8).withTokenBudget(24).withBlockSize(8))) {
                    List<RequestHandle> hs = new ArrayList<>();
                    for (int i = 0; i < 8; i++) hs.add(e.submit(GenerationRequest.of(prompts[i], 16, SamplingParams.greedy())));
                    for (int i = 0; i < 8; i++) {
                        Generation g = hs.get(i).join();
                        assertArrayEquals(alone[i], g.tokens(), m.getFileName() + " request " + i + " batched vs alone");
                        assertEquals(prompts[i].length, g.promptTokens().length);
                    }
                    awaitIdle(e);
                }
            }
        }
    }

    @Test
    void seededSamplingIsReproduciblePerRequest() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 6);
        try (Model model = load(m, Backend.NATIVE); Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(4))) {
            SamplingParams p = SamplingParams.defaults(1234).withTemperature(1.0f);
            int[] pr = prompt(new SplittableRandom(3), 10);
            Generation alone = e.submit(GenerationRequest.of(pr, 20, p)).join();
            List<RequestHandle> others = new ArrayList<>();
            for (int i = 0; i < 3; i++) others.add(e.submit(GenerationRequest.of(prompt(new SplittableRandom(i), 5 + i), 20, SamplingParams.defaults(i))));
            Generation batched = e.submit(GenerationRequest.of(pr, 20, p)).join();
            assertArrayEquals(alone.tokens(), batched.tokens());
            for (RequestHandle h : others) h.join();
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void prefixBlocksAreReusedAndGiveTheSameTokens(Backend backend) throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.F32, false, 7);
        try (Model model = load(m, backend)) {
            int[] system = prompt(new SplittableRandom(5), 40);
            int[] a = concat(system, new int[] {10, 11, 12}), b = concat(system, new int[] {20, 21, 22, 23});
            Engine.Config c = Engine.Config.defaults().withMaxSequences(2).withBlockSize(8);
            Generation fresh;
            try (Engine e = model.newEngine(c.withPrefixCache(false))) {
                fresh = e.submit(GenerationRequest.of(b, 12, SamplingParams.greedy())).join();
                assertEquals(0, fresh.cachedTokens());
            }
            try (Engine e = model.newEngine(c)) {
                Generation ga = e.submit(GenerationRequest.of(a, 12, SamplingParams.greedy())).join();
                assertEquals(0, ga.cachedTokens());
                Generation gb = e.submit(GenerationRequest.of(b, 12, SamplingParams.greedy())).join();
                assertEquals(40, gb.cachedTokens(), "the 5 full blocks of the shared 40 tokens");
                assertArrayEquals(fresh.tokens(), gb.tokens(), "reused prefix gives what recomputing gave");
                // the same prompt again: all but the block holding its last token come from the cache
                Generation gb2 = e.submit(GenerationRequest.of(b, 12, SamplingParams.greedy())).join();
                assertEquals(40, gb2.cachedTokens());
                assertArrayEquals(gb.tokens(), gb2.tokens());
                awaitIdle(e);
            }
        }
    }

    static int[] concat(int[] a, int[] b) {
        int[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    @Test
    void cancelDuringPrefillAndDecodeReturnsTheMemory() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 8);
        try (Model model = load(m, Backend.NATIVE);
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(2).withTokenBudget(4).withBlockSize(4))) {
            // prefill of 100 tokens at 4 per step: cancelled while its prompt is still being processed
            RequestHandle h = e.submit(GenerationRequest.of(prompt(new SplittableRandom(1), 100), 20, SamplingParams.greedy()));
            h.cancel();
            Generation g = h.join();
            assertEquals(Generation.StopReason.CANCELLED, g.stop());
            assertEquals(0, g.tokens().length);
            // during decode: the listener cancels after the third token
            AtomicInteger seen = new AtomicInteger();
            RequestHandle[] self = new RequestHandle[1];
            CountDownLatch submitted = new CountDownLatch(1);
            self[0] = e.submit(GenerationRequest.of(prompt(new SplittableRandom(2), 6), 100, SamplingParams.defaults(3)), (t, s) -> {
                try {
                    submitted.await();
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
                if (seen.incrementAndGet() == 3) self[0].cancel();
            });
            submitted.countDown();
            Generation d = self[0].join();
            assertEquals(Generation.StopReason.CANCELLED, d.stop());
            assertTrue(d.tokens().length >= 3 && d.tokens().length <= 4, "stopped at the next step: " + d.tokens().length);
            awaitIdle(e);
        }
    }

    @Test
    void admissionControl() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 9);
        try (Model model = load(m, Backend.NATIVE);
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(1).withQueueCapacity(2).withContextLength(64))) {
            // context overflow at submit, naming both sizes
            ContextOverflowException ex = assertThrows(ContextOverflowException.class,
                    () -> e.submit(GenerationRequest.of(prompt(new SplittableRandom(1), 40), 30, SamplingParams.greedy())));
            assertTrue(ex.getMessage().contains("64"), ex.getMessage());
            assertThrows(IllegalArgumentException.class, () -> e.submit(GenerationRequest.of(new int[] {1, TinyModels.VOCAB}, 4, SamplingParams.greedy())));
            // one runs, two wait, the next is refused at once. The first request's listener holds the engine's thread
            // at its first token until every submission is made, so no request can finish and free a place meanwhile
            // (on a loaded machine a 50-token request of this model could end during the loop)
            CountDownLatch submitted = new CountDownLatch(1);
            List<RequestHandle> hs = new ArrayList<>();
            int refused = 0;
            for (int i = 0; i < 8; i++) {
                GenerationRequest r = GenerationRequest.of(prompt(new SplittableRandom(i), 8), 50, SamplingParams.defaults(i));
                try {
                    hs.add(i > 0 ? e.submit(r) : e.submit(r, (token, text) -> {
                        try {
                            submitted.await(30, TimeUnit.SECONDS);
                        } catch (InterruptedException interrupted) {
                            Thread.currentThread().interrupt();
                        }
                    }));
                } catch (EngineOverloadedException over) {
                    refused++;
                }
            }
            submitted.countDown();
            assertTrue(refused >= 5, "refused " + refused + " of 8 with 1 running and 2 waiting");
            for (RequestHandle h : hs) assertNotEquals(Generation.StopReason.CANCELLED, h.join().stop());
            awaitIdle(e);
        }
    }

    @Test
    void smallPoolEvictsCachedBlocksAndPreemptsRatherThanFailing() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 10);
        try (Model model = load(m, Backend.NATIVE)) {
            long perToken = model.kvBytesPerToken();
            // room for 128 tokens: four sequences of up to 60 tokens each must share it
            Engine.Config c = Engine.Config.defaults().withMaxSequences(4).withBlockSize(8).withKvBytes(128 * perToken);
            try (Engine e = model.newEngine(c)) {
                List<RequestHandle> hs = new ArrayList<>();
                for (int i = 0; i < 12; i++) hs.add(e.submit(GenerationRequest.of(prompt(new SplittableRandom(100 + i), 20), 40, SamplingParams.greedy())));
                for (RequestHandle h : hs) {
                    Generation g = h.join();
                    assertTrue(g.tokens().length == 40 || g.stop() == Generation.StopReason.END_OF_GENERATION, g.stop() + " " + g.tokens().length);
                }
                awaitIdle(e);
            }
        }
    }

    @Test
    void randomSubmitsAndCancelsFromManyThreadsLeaveThePoolEmpty() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 12);
        try (Model model = load(m, Backend.NATIVE);
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(6).withTokenBudget(32).withBlockSize(8)
                     .withKvBytes(300 * model.kvBytesPerToken()).withQueueCapacity(1000))) {
            List<RequestHandle> all = Collections.synchronizedList(new ArrayList<>());
            ExecutorService pool = Executors.newFixedThreadPool(4);
            for (int t = 0; t < 4; t++) {
                int seed = t;
                pool.submit(() -> {
                    SplittableRandom r = new SplittableRandom(seed);
                    for (int i = 0; i < 50; i++) {
                        RequestHandle h = e.submit(GenerationRequest.of(prompt(r, 2 + r.nextInt(40)), 1 + r.nextInt(30), SamplingParams.defaults(r.nextLong())));
                        all.add(h);
                        if (r.nextInt(3) == 0) {
                            if (r.nextBoolean()) Thread.onSpinWait();
                            h.cancel();
                        }
                    }
                    return null;
                });
            }
            pool.shutdown();
            assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS));
            assertEquals(200, all.size());
            int cancelled = 0;
            for (RequestHandle h : all) {
                Generation g = h.result().get(60, TimeUnit.SECONDS);
                if (g.stop() == Generation.StopReason.CANCELLED) cancelled++;
                else assertTrue(g.tokens().length > 0 || g.stop() == Generation.StopReason.END_OF_GENERATION);
            }
            assertTrue(cancelled > 0);
            awaitIdle(e);
        }
    }

    @Test
    void closingWithRequestsInFlightCancelsThemAndWaits() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 13);
        Model model = load(m, Backend.NATIVE);
        Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(2).withTokenBudget(4));
        List<RequestHandle> hs = new ArrayList<>();
        for (int i = 0; i < 5; i++) hs.add(e.submit(GenerationRequest.of(prompt(new SplittableRandom(i), 60), 60, SamplingParams.greedy())));
        // closed while the first two run and three wait (a fixed sleep let a quiet machine finish all five first)
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (e.stats().running() == 0 && System.nanoTime() < deadline) Thread.onSpinWait();
        model.close(); // closes the engine: cancels, waits for the running step, frees
        for (RequestHandle h : hs) assertTrue(h.isDone(), "every request completed when close returned");
        assertTrue(hs.stream().anyMatch(h -> h.join().stop() == Generation.StopReason.CANCELLED));
        assertThrows(IllegalStateException.class, () -> e.submit(GenerationRequest.of(new int[] {1}, 1, SamplingParams.greedy())));
    }

    @Test
    void openAndCloseManyTimesLeavesNoThreads() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 14);
        try (Model model = load(m, Backend.NATIVE)) {
            // warm up once (lazily started JVM threads), then take the live threads; compared as a set, not a count:
            // the JVM's own threads come and go (a count once fell from 13 to 12 here, hiding any leak of one)
            try (Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(2))) {
                e.submit(GenerationRequest.of(new int[] {1, 5, 6}, 2, SamplingParams.greedy())).join();
            }
            Set<Thread> before = new HashSet<>(Thread.getAllStackTraces().keySet());
            for (int i = 0; i < 1000; i++) {
                try (Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(2).withContextLength(32));
                     Session s = model.newSession(32)) {
                    if (i % 100 == 0) {
                        e.submit(GenerationRequest.of(new int[] {1, 5, 6}, 2, SamplingParams.greedy())).join();
                        s.generate(new int[] {1, 5}, 2, SamplingParams.greedy(), null);
                    }
                }
            }
            List<String> started = List.of();
            for (int i = 0; i < 100; i++) { // threads still ending after their close returned get a second
                started = Thread.getAllStackTraces().keySet().stream().filter(t -> !before.contains(t)).map(Thread::getName).toList();
                if (started.isEmpty()) break;
                Thread.sleep(10);
            }
            assertEquals(List.of(), started, "threads left after 1000 engine + session open/close cycles");
        }
    }

    @Test
    void aThrowingListenerEndsItsRequestNotTheEngine() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 15);
        try (Model model = load(m, Backend.NATIVE); Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(2))) {
            RequestHandle bad = e.submit(GenerationRequest.of(new int[] {1, 5, 6}, 10, SamplingParams.greedy()).withIgnoreEos(true),
                    (t, s) -> { throw new IllegalStateException("listener bug"); });
            RequestHandle good = e.submit(GenerationRequest.of(new int[] {1, 7, 8}, 10, SamplingParams.greedy()).withIgnoreEos(true));
            var ex = assertThrows(java.util.concurrent.CompletionException.class, bad::join);
            assertEquals("listener bug", ex.getCause().getMessage());
            assertEquals(10, good.join().tokens().length);
            assertEquals(3, e.submit(GenerationRequest.of(new int[] {1, 9}, 3, SamplingParams.greedy()).withIgnoreEos(true)).join().tokens().length);
            awaitIdle(e);
        }
    }

    @Test
    void chatMessagesAreRenderedWithTheModelsTemplate() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 16, null, TinyModels.TINYLLAMA_CHAT_TEMPLATE);
        try (Model model = load(m, Backend.NATIVE); Engine e = model.newEngine(); Session s = model.newSession()) {
            var msgs = List.of(new dev.panamax.tokenizer.ChatMessage("user", "hello world"));
            var t = model.chatTemplate();
            int[] ids = t.tokenize(t.render(msgs, true), model.tokenizer());
            Generation viaEngine = e.submitChat(msgs, 8, SamplingParams.greedy(), null).join();
            assertArrayEquals(ids, viaEngine.promptTokens());
            assertArrayEquals(s.generate(ids, 8, SamplingParams.greedy(), null).tokens(), viaEngine.tokens());
        }
    }

    @Test
    void stopStringsEndTheTextBeforeThemAcrossPieces() {
        StopMatcher s = new StopMatcher(List.of("END", "xyz"));
        StringBuilder out = new StringBuilder();
        for (String p : new String[] {"hello E", "N", "d, more E", "ND tail"}) {
            out.append(s.push(p));
            if (s.stopped()) break;
        }
        assertTrue(s.stopped());
        assertEquals("hello ENd, more ", out.toString());
        StopMatcher none = new StopMatcher(List.of("abc"));
        assertEquals("x", none.push("xab"));
        assertEquals("ab", none.push("a")); // "aba": only the last "a" may still start "abc"
        assertEquals("a", none.flush());
    }

    @Test
    void logprobsAndLogitBiasThroughTheEngine() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.F32, false, 5);
        try (Model model = load(m, Backend.NATIVE);
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(4).withBlockSize(8))) {
            int[] p = prompt(new SplittableRandom(3), 12);
            Generation plain = e.submit(GenerationRequest.of(p, 12, SamplingParams.greedy()).withLogprobs(3)).join();
            assertEquals(plain.tokens().length, plain.logprobs().size());
            List<dev.panamax.TokenLogprob> streamed = Collections.synchronizedList(new ArrayList<>());
            Generation again = e.submit(GenerationRequest.of(p, 12, SamplingParams.greedy()).withLogprobs(3), new dev.panamax.TokenListener() {
                @Override
                public void onToken(int token, String text) {
                    fail("the three-argument callback is the one called");
                }

                @Override
                public void onToken(int token, String text, dev.panamax.TokenLogprob lp) {
                    if (token >= 0) streamed.add(lp);
                }
            }).join();
            assertEquals(again.logprobs(), streamed.stream().toList());
            for (int i = 0; i < plain.tokens().length; i++) {
                dev.panamax.TokenLogprob lp = plain.logprobs().get(i);
                assertEquals(plain.tokens()[i], lp.token());
                assertEquals(lp.topToken(0), lp.token(), "greedy takes the most likely token");
                assertEquals(lp.topLogprob(0), lp.logprob(), 0f);
                assertTrue(lp.logprob() <= 0 && lp.topLogprob(1) <= lp.topLogprob(0) && lp.topLogprob(2) <= lp.topLogprob(1));
            }
            // banning the first greedy token changes the first token, and its reported logprob stays the raw one
            int first = plain.tokens()[0];
            Generation banned = e.submit(GenerationRequest.of(p, 4,
                    SamplingParams.greedy().withLogitBias(java.util.Map.of(first, Float.NEGATIVE_INFINITY))).withLogprobs(2)).join();
            assertNotEquals(first, banned.tokens()[0]);
            assertEquals(banned.tokens()[0], banned.logprobs().get(0).topToken(1), "the runner-up of the raw distribution");
            assertEquals(0, e.submit(GenerationRequest.of(p, 4, SamplingParams.greedy())).join().logprobs().size());
            assertThrows(IllegalArgumentException.class, () -> e.submit(GenerationRequest.of(p, 4,
                    SamplingParams.greedy().withLogitBias(java.util.Map.of(TinyModels.VOCAB, 1f)))).join());
            awaitIdle(e);
        }
    }
}
