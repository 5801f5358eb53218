package dev.panamax.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.panamax.Backend;
import dev.panamax.Engine;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.RequestHandle;
import dev.panamax.grammar.Grammar;
import dev.panamax.model.TinyDeepseek;
import dev.panamax.model.TinyModels;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.spec.Speculation;
import dev.panamax.tensor.GgmlType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Speculative decoding in the engine: the tokens are exactly those of decoding without it (greedy and seeded
 * sampling, alone and batched with other sequences, with stop strings and token limits), for prompt-lookup drafts on
 * tiny random models and on the trained KJV models, and for the trained deepseek2 model's MTP layer; the KV pool is
 * whole again after random speculative requests with cancellations and preemption.
 */
class SpeculationTest {

    @TempDir
    static Path dir;

    static final Path MODELS = TrainedModelsTest.MODELS;
    static final Speculation NGRAM4 = new Speculation(Speculation.Mode.NGRAM, 4).fixed();

    /** A copy-heavy prompt: BOS, a random run, then the run again up to half (prompt lookup finds it). */
    static int[] copyPrompt(SplittableRandom r, int run) {
        int[] p = EngineTest.prompt(r, 1 + run);
        int[] q = java.util.Arrays.copyOf(p, 1 + run + run / 2);
        System.arraycopy(p, 1, q, 1 + run, run / 2);
        return q;
    }

    /** Each request alone without speculation, then all of them at once with {@code spec}: the same tokens. */
    static Engine.SpecStats sameTokens(Model model, Engine.Config c, List<GenerationRequest> rs, Speculation spec) throws Exception {
        List<Generation> plain = new ArrayList<>();
        try (Engine e = model.newEngine(c)) {
            for (GenerationRequest r : rs) plain.add(e.submit(r).join());
        }
        try (Engine e = model.newEngine(c.withSpeculation(spec))) {
            // alone
            for (int i = 0; i < rs.size(); i++) {
                Generation g = e.submit(rs.get(i)).join();
                assertArrayEquals(plain.get(i).tokens(), g.tokens(), spec + ", request " + i + " alone");
                assertEquals(plain.get(i).text(), g.text());
                assertEquals(plain.get(i).stop(), g.stop(), "request " + i);
            }
            // batched
            List<RequestHandle> hs = new ArrayList<>();
            for (GenerationRequest r : rs) hs.add(e.submit(r));
            for (int i = 0; i < rs.size(); i++) {
                Generation g = hs.get(i).join();
                assertArrayEquals(plain.get(i).tokens(), g.tokens(), spec + ", request " + i + " batched with " + (rs.size() - 1));
                assertEquals(plain.get(i).text(), g.text());
                assertEquals(plain.get(i).stop(), g.stop(), "request " + i);
            }
            EngineTest.awaitIdle(e);
            return e.specStats();
        }
    }

    @Test
    void ngramGreedyTokensAreExactOnTinyModels() throws Exception {
        for (Path m : List.of(TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 21), TinyDeepseek.write(dir, TinyDeepseek.Options.defaults()))) {
            try (Model model = EngineTest.load(m, Backend.NATIVE)) {
                SplittableRandom r = new SplittableRandom(5);
                List<GenerationRequest> rs = new ArrayList<>();
                for (int i = 0; i < 6; i++) rs.add(GenerationRequest.of(copyPrompt(r, 6 + 4 * i), 20, SamplingParams.greedy()));
                Engine.Config c = Engine.Config.defaults().withMaxSequences(6).withTokenBudget(40).withBlockSize(8);
                Engine.SpecStats st = sameTokens(model, c, rs, NGRAM4);
                assertTrue(st.drafted() > 0, "drafts were verified: " + st);
            }
        }
    }

    @Test
    void trainedModelsGreedyAndSampledAreExact() throws Exception {
        for (String name : List.of("kjv-llama-4.6m", "kjv-deepseek2-7.1m")) {
            try (Model model = Model.load(MODELS.resolve(name + "-f16.gguf"), Model.Options.defaults().withThreads(2))) {
                int[] p = model.tokenizer().encode("And God said");
                int[] q = model.tokenizer().encode("And the LORD spake unto Moses, saying,");
                SamplingParams hot = SamplingParams.defaults(7).withTemperature(1.0f);
                List<GenerationRequest> rs = List.of(
                        GenerationRequest.of(p, 40, SamplingParams.greedy()),
                        GenerationRequest.of(q, 40, SamplingParams.greedy()).withStop(List.of("Israel")),
                        GenerationRequest.of(p, 33, hot),
                        GenerationRequest.of(q, 40, hot.withSeed(8).withPenalties(1.1f, 64, 0f, 0f)),
                        GenerationRequest.of(q, 40, SamplingParams.greedy()).withLogprobs(2),
                        // constrained: drafts the grammar does not allow are rejected by the verifying sampler
                        GenerationRequest.of(p, 40, SamplingParams.greedy().withGrammar(Grammar.parse("root ::= [a-zA-Z ,]+"))),
                        GenerationRequest.of(q, 40, hot.withSeed(9).withGrammar(Grammar.parse("root ::= [a-zA-Z ,]+"))));
                Engine.Config c = Engine.Config.defaults().withMaxSequences(4).withBlockSize(16);
                Engine.SpecStats st = sameTokens(model, c, rs, NGRAM4);
                System.out.printf("%s n-gram (k=4): %s, acceptance %.2f, %.2f tokens per pass%n", name, st, st.acceptanceRate(), st.tokensPerPass());
                assertTrue(st.accepted() > 0, "greedy loops of a trained model are found by prompt lookup: " + st);
                if (name.contains("deepseek2")) {
                    Engine.SpecStats mt = sameTokens(model, c, rs, new Speculation(Speculation.Mode.MTP, 1).fixed());
                    System.out.printf("%s MTP: %s, acceptance %.2f, %.2f tokens per pass%n", name, mt, mt.acceptanceRate(), mt.tokensPerPass());
                    assertTrue(mt.acceptanceRate() > 0.4, "the trained MTP layer guesses right often: " + mt);
                    Engine.SpecStats ad = sameTokens(model, c, rs, new Speculation(Speculation.Mode.MTP, 1));
                    assertTrue(ad.passes() > 0, "adaptive MTP drafts: " + ad);
                }
            }
        }
    }

    /**
     * Speculation adds no allocation to the engine's steady state: bytes the engine thread allocates per generated token
     * (text pieces and the handle's queue: the same with or without it) after warm-up, plain vs n-gram vs MTP.
     */
    @Test
    void speculationAllocatesNothingPerStep() throws Exception {
        try (Model model = Model.load(MODELS.resolve("kjv-deepseek2-7.1m-f16.gguf"), Model.Options.defaults().withThreads(1))) {
            int[] p = model.tokenizer().encode("And God said");
            double[] perToken = new double[3];
            Speculation[] modes = {Speculation.OFF, NGRAM4, new Speculation(Speculation.Mode.MTP, 1).fixed()};
            for (int m = 0; m < 3; m++) {
                try (Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(1).withContextLength(256).withSpeculation(modes[m]))) {
                    GenerationRequest r = GenerationRequest.of(p, 128, SamplingParams.greedy()).withIgnoreEos(true);
                    // C2 compiles the step (C1 code allocates): warm up by steps, as ForwardAllocationTest does; a
                    // speculating engine takes fewer steps per token
                    while (e.recentStepMillis().length < 2000) e.submit(r).join();
                    Thread engine = Thread.getAllStackTraces().keySet().stream()
                            .filter(t -> t.getName().equals("panamax-engine") && t.isAlive()).findFirst().orElseThrow();
                    var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
                    long before = mx.getThreadAllocatedBytes(engine.threadId());
                    int tokens = 0;
                    for (int i = 0; i < 4; i++) tokens += e.submit(r).join().tokens().length;
                    perToken[m] = (double) (mx.getThreadAllocatedBytes(engine.threadId()) - before) / tokens;
                }
            }
            System.out.printf("engine thread bytes per token: plain %.0f, n-gram %.0f, MTP %.0f%n", perToken[0], perToken[1], perToken[2]);
            assertTrue(perToken[1] <= perToken[0] * 1.1 + 16, "n-gram " + perToken[1] + " vs plain " + perToken[0] + " bytes per token");
            assertTrue(perToken[2] <= perToken[0] * 1.1 + 16, "MTP " + perToken[2] + " vs plain " + perToken[0] + " bytes per token");
        }
    }

    @Test
    void mtpNeedsAnEngineOpenedWithIt() throws Exception {
        try (Model model = Model.load(MODELS.resolve("kjv-llama-4.6m-f16.gguf"), Model.Options.defaults().withThreads(1))) {
            assertThrows(IllegalArgumentException.class, () -> model.newEngine(Engine.Config.defaults().withMaxSequences(1)
                    .withSpeculation(new Speculation(Speculation.Mode.MTP, 1))));
            try (Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(1))) {
                assertThrows(IllegalArgumentException.class, () -> e.submit(GenerationRequest.of(new int[] {1, 5}, 4,
                        SamplingParams.greedy()).withSpeculation(new Speculation(Speculation.Mode.MTP, 1))));
            }
        }
    }

    @Test
    void kvPoolIsWholeAfterRandomSpeculativeRequestsWithCancellations() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 22);
        try (Model model = EngineTest.load(m, Backend.NATIVE)) {
            Engine.Config c = Engine.Config.defaults().withMaxSequences(6).withTokenBudget(40).withBlockSize(4).withSpeculation(NGRAM4);
            long perBlock;
            try (Engine probe = model.newEngine(c)) {
                perBlock = probe.stats().kvBytesPerBlock();
            }
            randomRequests(model.newEngine(c.withKvBytes(40 * perBlock))); // 160 rows for 6 sequences: preemption
        }
    }

    private static void randomRequests(Engine engine) throws Exception {
        try (Engine e = engine) {
            int start = e.stats().kvBlocksUsed();
            SplittableRandom r = new SplittableRandom(9);
            List<RequestHandle> hs = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                int[] p = r.nextBoolean() ? copyPrompt(r, 4 + r.nextInt(20)) : EngineTest.prompt(r, 2 + r.nextInt(30));
                SamplingParams sp = r.nextBoolean() ? SamplingParams.greedy() : SamplingParams.defaults(r.nextLong());
                Speculation spec = switch (r.nextInt(3)) {
                    case 0 -> Speculation.OFF;
                    case 1 -> NGRAM4;
                    default -> new Speculation(Speculation.Mode.NGRAM, 1 + r.nextInt(8));
                };
                RequestHandle h = e.submit(GenerationRequest.of(p, 1 + r.nextInt(40), sp).withSpeculation(spec));
                if (r.nextInt(4) == 0) h.cancel();
                hs.add(h);
                if (hs.size() >= 24) hs.remove(0).join();
            }
            for (RequestHandle h : hs) h.join();
            EngineTest.awaitIdle(e);
            assertEquals(start, e.stats().kvBlocksUsed());
            assertTrue(e.specStats().drafted() > 0);
        }
    }
}
