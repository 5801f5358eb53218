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
 * tiny random models and on the trained KJV models, for the trained deepseek2 model's MTP layer and for the trained
 * draft model; the KV pools (the target's and the draft model's) are whole again after random speculative requests
 * with cancellations and preemption; the engine's n-gram pool carries one request's text to the next.
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
     * A constrained request's drafts end before their first token the grammar forbids: on a copy-heavy prompt whose
     * continuation the grammar partly forbids (no '.' or ';'), prompt lookup keeps drafting the verse, and the cut
     * drafts cost fewer verify rows for the same accepted tokens and the same output (a forbidden draft could only
     * have been rejected).
     */
    @Test
    void draftsAreCutAtTheGrammarsFirstForbiddenToken() throws Exception {
        try (Model model = Model.load(MODELS.resolve("kjv-llama-4.6m-f16.gguf"), Model.Options.defaults().withThreads(2))) {
            String verse = "In the beginning God created the heaven and the earth. And the earth was without form, and void; "
                    + "and darkness was upon the face of the deep.";
            int[] p = model.tokenizer().encode(verse + "\n" + verse + "\n" + verse + "\nIn the beginning");
            GenerationRequest r = GenerationRequest.of(p, 48, SamplingParams.greedy().withGrammar(Grammar.parse("root ::= [a-zA-Z ,]+")));
            Engine.Config c = Engine.Config.defaults().withMaxSequences(2).withBlockSize(16);
            Speculation spec = new Speculation(Speculation.Mode.NGRAM, 8).fixed();
            Generation plain;
            try (Engine e = model.newEngine(c)) {
                plain = e.submit(r).join();
            }
            Generation[] g = new Generation[2];
            Engine.SpecStats[] st = new Engine.SpecStats[2];
            try {
                for (int i = 0; i < 2; i++) {
                    Scheduler.grammarPrecheck = i == 0;
                    try (Engine e = model.newEngine(c.withSpeculation(spec))) {
                        g[i] = e.submit(r).join();
                        EngineTest.awaitIdle(e);
                        st[i] = e.specStats();
                    }
                }
            } finally {
                Scheduler.grammarPrecheck = true;
            }
            System.out.printf("grammar pre-check: with %s, without %s%n", st[0], st[1]);
            for (Generation x : g) {
                assertArrayEquals(plain.tokens(), x.tokens());
                assertEquals(plain.text(), x.text());
            }
            assertEquals(st[1].accepted(), st[0].accepted(), "a forbidden draft is never accepted: the same tokens accepted");
            assertTrue(st[1].accepted() > 0, "prompt lookup finds the verse: " + st[1]);
            assertTrue(st[0].drafted() < st[1].drafted(), "fewer verify rows with the pre-check: " + st[0] + " vs " + st[1]);
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
            // the draft model is the llama pair's: the KJV models share one tokenizer
            Speculation[] modes = {Speculation.OFF, NGRAM4, new Speculation(Speculation.Mode.MTP, 1).fixed(), Speculation.draft(DRAFT, 3).fixed()};
            double[] perToken = new double[modes.length];
            for (int m = 0; m < modes.length; m++) {
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
            System.out.printf("engine thread bytes per token: plain %.0f, n-gram %.0f, MTP %.0f, draft model %.0f%n", perToken[0], perToken[1], perToken[2], perToken[3]);
            assertTrue(perToken[1] <= perToken[0] * 1.1 + 16, "n-gram " + perToken[1] + " vs plain " + perToken[0] + " bytes per token");
            assertTrue(perToken[2] <= perToken[0] * 1.1 + 16, "MTP " + perToken[2] + " vs plain " + perToken[0] + " bytes per token");
            assertTrue(perToken[3] <= perToken[0] * 1.1 + 16, "draft model " + perToken[3] + " vs plain " + perToken[0] + " bytes per token");
        }
    }

    static final Path DRAFT = MODELS.resolve("kjv-llama-draft-0.9m-f16.gguf");

    /** Eight KJV openings, the prompts of the trained-pair tests. */
    static final String[] KJV_PROMPTS = {"And God said", "And the LORD spake unto Moses, saying,", "In the beginning",
            "Blessed are the", "And it came to pass", "The LORD is my shepherd", "Now these are the names", "And Jesus answered"};

    /**
     * The trained pair: the 0.9M draft model drafts for the 4.6M llama (same tokenizer). Greedy and seeded tokens are
     * those of plain decoding, alone and with 7 other sequences in the same steps, fixed k and adaptive.
     */
    @Test
    void draftModelIsExactAloneAndBatchedWithSevenOthers() throws Exception {
        try (Model model = Model.load(MODELS.resolve("kjv-llama-4.6m-f16.gguf"), Model.Options.defaults().withThreads(2))) {
            String[] texts = KJV_PROMPTS;
            List<GenerationRequest> rs = new ArrayList<>();
            for (int i = 0; i < texts.length; i++) {
                int[] p = model.tokenizer().encode(texts[i]);
                SamplingParams sp = i < 6 ? SamplingParams.greedy() : SamplingParams.defaults(40 + i).withTemperature(0.8f);
                GenerationRequest r = GenerationRequest.of(p, 24 + 5 * i, sp);
                if (i == 1) r = r.withStop(List.of("Israel"));
                rs.add(r);
            }
            Engine.Config c = Engine.Config.defaults().withMaxSequences(8).withBlockSize(16);
            Engine.SpecStats st = sameTokens(model, c, rs, Speculation.draft(DRAFT, 4).fixed());
            System.out.printf("draft model (k=4): %s, acceptance %.2f, %.2f tokens per pass%n", st, st.acceptanceRate(), st.tokensPerPass());
            assertTrue(st.tokensPerPass() > 1.5, "the trained draft guesses the llama's tokens often: " + st);
            Engine.SpecStats ad = sameTokens(model, c, rs, Speculation.draft(DRAFT, 6));
            System.out.printf("draft model (adaptive k <= 6): %s, acceptance %.2f%n", ad, ad.acceptanceRate());
        }
    }

    /** The draft distilled on the llama's distributions (models/train/distill.py). */
    static final Path DRAFT_KD = MODELS.resolve("kjv-llama-draft-0.9m-kd-f16.gguf");

    /**
     * Distillation raises acceptance: on greedy continuations of KJV prompts, one drafted token per step, the distilled
     * draft's first guess is the llama's token more often than the draft trained on the text's tokens (both exact).
     */
    @Test
    void distilledDraftGuessesMoreOfTheTargetsTokens() throws Exception {
        try (Model model = Model.load(MODELS.resolve("kjv-llama-4.6m-f16.gguf"), Model.Options.defaults().withThreads(2))) {
            String[] texts = KJV_PROMPTS;
            List<GenerationRequest> rs = new ArrayList<>();
            for (String t : texts) rs.add(GenerationRequest.of(model.tokenizer().encode(t), 96, SamplingParams.greedy()));
            Engine.Config c = Engine.Config.defaults().withMaxSequences(8).withBlockSize(16);
            Engine.SpecStats text = sameTokens(model, c, rs, Speculation.draft(DRAFT, 1).fixed());
            Engine.SpecStats kd = sameTokens(model, c, rs, Speculation.draft(DRAFT_KD, 1).fixed());
            System.out.printf("first-guess acceptance: draft %.3f (%s), distilled draft %.3f (%s)%n", text.acceptanceRate(),
                    text, kd.acceptanceRate(), kd);
            assertTrue(text.drafted() > 500 && kd.drafted() > 500, "drafted: " + text + ", " + kd);
            assertTrue(kd.acceptanceRate() > text.acceptanceRate() + 0.03, "distilled " + kd + " against " + text);
        }
    }

    /**
     * A float draft quantized to Q8_0 as the engine loads it (Engine.Config.quantizeDraft, the default) and the F16
     * file as it is: both exact, and the Q8_0 draft's first guesses are the F16 draft's nearly always (the same model
     * but for rounding). The weights' types: {@code dev.panamax.DraftQuantizationTest}.
     */
    @Test
    void aDraftQuantizedAtLoadIsExactAndGuessesAsTheFloatFile() throws Exception {
        try (Model model = Model.load(MODELS.resolve("kjv-llama-4.6m-f16.gguf"), Model.Options.defaults().withThreads(2))) {
            Engine.Config c = Engine.Config.defaults().withMaxSequences(4).withBlockSize(16);
            Speculation spec = Speculation.draft(DRAFT_KD, 1).fixed();
            List<GenerationRequest> rs = new ArrayList<>();
            for (String t : KJV_PROMPTS) rs.add(GenerationRequest.of(model.tokenizer().encode(t), 48, SamplingParams.greedy()));
            Engine.SpecStats q8 = sameTokens(model, c, rs, spec);
            Engine.SpecStats f16 = sameTokens(model, c.withDraftQuantization(false), rs, spec);
            System.out.printf("first-guess acceptance: Q8_0 at load %.3f (%s), F16 %.3f (%s)%n", q8.acceptanceRate(), q8, f16.acceptanceRate(), f16);
            assertTrue(q8.drafted() > 200, "drafted " + q8);
            assertEquals(f16.acceptanceRate(), q8.acceptanceRate(), 0.03, "Q8_0 " + q8 + " against F16 " + f16);
        }
    }

    /**
     * A draft that is the target itself guesses each greedy token (its own KV rows, caught up, rolled back and
     * extended right): acceptance near 1 — a draft KV row at a wrong position or a stale one would miss.
     */
    @Test
    void theTargetAsItsOwnDraftGuessesItsGreedyTokens() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 23);
        try (Model model = EngineTest.load(m, Backend.NATIVE)) {
            SplittableRandom r = new SplittableRandom(3);
            List<GenerationRequest> rs = new ArrayList<>();
            for (int i = 0; i < 5; i++) rs.add(GenerationRequest.of(EngineTest.prompt(r, 3 + 7 * i), 30, SamplingParams.greedy()));
            Engine.Config c = Engine.Config.defaults().withMaxSequences(5).withTokenBudget(24).withBlockSize(4);
            Engine.SpecStats st = sameTokens(model, c, rs, Speculation.draft(m, 5).fixed());
            assertTrue(st.drafted() > 100 && st.acceptanceRate() > 0.95, "self-drafting: " + st);
        }
    }

    /**
     * An adaptive sequence further behind in the draft's pool than {@link DraftModelRunner#WINDOW} (here: its
     * 90-token prompt at the first drafting step) restarts the draft on its latest tokens at draft position 0: output
     * exact, its guesses still the target's (the self-draft sees the last 32 tokens), the draft's pool whole after.
     */
    @Test
    void anAdaptiveDraftFarBehindRestartsOnAWindowAndStaysExact() throws Exception {
        assertEquals(32, DraftModelRunner.WINDOW);
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 23);
        try (Model model = EngineTest.load(m, Backend.NATIVE)) {
            SplittableRandom r = new SplittableRandom(5);
            List<GenerationRequest> rs = new ArrayList<>();
            for (int i = 0; i < 3; i++) rs.add(GenerationRequest.of(EngineTest.prompt(r, 80 + 5 * i), 30, SamplingParams.greedy()));
            Engine.Config c = Engine.Config.defaults().withMaxSequences(3).withTokenBudget(128).withBlockSize(4);
            Engine.SpecStats st = sameTokens(model, c, rs, Speculation.draft(m, 3));
            assertTrue(st.drafted() > 0 && st.accepted() > 0, "drafts after the restart: " + st);
            try (Engine e = model.newEngine(c.withSpeculation(Speculation.draft(m, 3)))) {
                for (GenerationRequest q : rs) e.submit(q).join();
                EngineTest.awaitIdle(e);
                assertEquals(0, e.draftKvBlocks()[0], "draft model KV blocks still held");
            }
        }
    }

    @Test
    void aDraftModelWithAnotherVocabularyIsRefused() throws Exception {
        Path tiny = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 24);
        try (Model model = Model.load(MODELS.resolve("kjv-llama-4.6m-f16.gguf"), Model.Options.defaults().withThreads(1))) {
            var e = assertThrows(IllegalArgumentException.class, () -> model.newEngine(Engine.Config.defaults().withMaxSequences(1)
                    .withSpeculation(Speculation.draft(tiny, 4))));
            assertTrue(e.getMessage().contains("does not share the model's tokenizer") && e.getMessage().contains(tiny.toString()), e.getMessage());
            try (Engine plain = model.newEngine(Engine.Config.defaults().withMaxSequences(1))) {
                assertThrows(IllegalArgumentException.class, () -> plain.submit(GenerationRequest.of(new int[] {1, 5}, 4,
                        SamplingParams.greedy()).withSpeculation(new Speculation(Speculation.Mode.DRAFT, 2))));
            }
        }
    }

    /**
     * The engine's n-gram pool: a second request gets the first one's continuation as drafts where its own tokens have
     * no match, and text added from another thread is drafted from too.
     */
    @Test
    void aSecondRequestDraftsFromTheFirstRequestsText() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 26);
        try (Model model = EngineTest.load(m, Backend.NATIVE);
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(2).withBlockSize(4))) {
            int[] p = new int[24]; // BOS then distinct ids: prompt lookup has nothing in the prompt to match
            p[0] = 1;
            for (int i = 1; i < p.length; i++) p[i] = 3 + 11 * i;
            GenerationRequest r = GenerationRequest.of(p, 40, SamplingParams.greedy()).withSpeculation(NGRAM4);
            Generation first = e.submit(r).join();
            Engine.SpecStats a = e.specStats();
            Generation second = e.submit(r).join();
            Engine.SpecStats b = e.specStats();
            assertArrayEquals(first.tokens(), second.tokens());
            long accepted = b.accepted() - a.accepted(), passes = b.passes() - a.passes();
            System.out.printf("n-gram pool: first request %s; second: %d drafted, %d accepted, %d passes%n", a,
                    b.drafted() - a.drafted(), accepted, passes);
            // the second request's continuation is the first's: nearly every draft is right and passes give ~k+1 tokens
            assertTrue(accepted >= a.accepted() + 10 && accepted >= 0.75 * (b.drafted() - a.drafted()),
                    "first " + a + ", then " + b);
            // text added from any thread: a prompt that ends like it drafts its continuation
            int[] doc = new int[40];
            for (int i = 0; i < doc.length; i++) doc[i] = 7 + (i * 37) % 250;
            Thread t = new Thread(() -> e.ngramPool().add(doc, doc.length));
            t.start();
            t.join();
            int[] out = new int[4];
            assertEquals(4, e.ngramPool().draft(new int[] {1, doc[10], doc[11], doc[12]}, 4, 4, out, 0));
            assertArrayEquals(java.util.Arrays.copyOfRange(doc, 13, 17), out);
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
            randomRequests(model.newEngine(c.withKvBytes(40 * perBlock)), null); // 160 rows for 6 sequences: preemption
        }
    }

    /** Both pools (the target's and the draft model's) whole again after random draft-model requests, cancellations, preemption. */
    @Test
    void kvPoolsAreWholeAfterRandomDraftModelRequestsWithCancellations() throws Exception {
        Path m = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 22);
        Path d = TinyModels.write(dir, "llama", GgmlType.Q8_0, false, 25); // a random draft: mostly wrong guesses
        for (Path draft : List.of(m, d)) {
            try (Model model = EngineTest.load(m, Backend.NATIVE)) {
                Speculation spec = Speculation.draft(draft, 4);
                Engine.Config c = Engine.Config.defaults().withMaxSequences(6).withTokenBudget(40).withBlockSize(4).withSpeculation(spec);
                long perBlock;
                try (Engine probe = model.newEngine(c)) {
                    perBlock = probe.stats().kvBytesPerBlock();
                }
                randomRequests(model.newEngine(c.withKvBytes(40 * perBlock)), new Speculation(Speculation.Mode.DRAFT, 3));
            }
        }
    }

    /** 200 random requests (with {@code other}'s speculation among the choices when not null), a quarter cancelled. */
    private static void randomRequests(Engine engine, Speculation other) throws Exception {
        try (Engine e = engine) {
            int start = e.stats().kvBlocksUsed();
            SplittableRandom r = new SplittableRandom(9);
            List<RequestHandle> hs = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                int[] p = r.nextBoolean() ? copyPrompt(r, 4 + r.nextInt(20)) : EngineTest.prompt(r, 2 + r.nextInt(30));
                SamplingParams sp = r.nextBoolean() ? SamplingParams.greedy() : SamplingParams.defaults(r.nextLong());
                Speculation spec = switch (r.nextInt(other == null ? 3 : 5)) {
                    case 0 -> Speculation.OFF;
                    case 1 -> NGRAM4;
                    case 2 -> new Speculation(Speculation.Mode.NGRAM, 1 + r.nextInt(8));
                    case 3 -> other.fixed();
                    default -> new Speculation(other.mode(), 1 + r.nextInt(8));
                };
                RequestHandle h = e.submit(GenerationRequest.of(p, 1 + r.nextInt(40), sp).withSpeculation(spec));
                if (r.nextInt(4) == 0) h.cancel();
                hs.add(h);
                if (hs.size() >= 24) hs.remove(0).join();
            }
            for (RequestHandle h : hs) h.join();
            EngineTest.awaitIdle(e);
            assertEquals(start, e.stats().kvBlocksUsed());
            assertEquals(0, e.draftKvBlocks()[0], "draft model KV blocks still held");
            assertTrue(e.specStats().drafted() > 0);
        }
    }
}
