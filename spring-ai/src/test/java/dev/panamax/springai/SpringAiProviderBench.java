package dev.panamax.springai;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.panamax.Engine;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.RequestHandle;
import dev.panamax.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.prompt.Prompt;
import reactor.core.publisher.Flux;

/**
 * Not part of the suite (run it by name; scripts/bench-providers.sh): aggregate decode of N concurrent callers
 * streaming through Spring AI's {@code ChatModel.stream} (the provider's Flux, consumed on its bounded-elastic
 * scheduler) against the same engine driven directly (as {@code panamax bench --parallel N}), alternated in one JVM,
 * best of the repetitions. Properties as ProviderBench: panamax.bench.model (required), .parallel (8), .prompt (64
 * tokens), .gen (128), .reps (3).
 */
class SpringAiProviderBench {
    @Test
    void providerVersusEngine() throws Exception {
        String file = System.getProperty("panamax.bench.model");
        assertNotNull(file, "set -Dpanamax.bench.model=FILE.gguf");
        int parallel = Integer.getInteger("panamax.bench.parallel", 8);
        int prompt = Integer.getInteger("panamax.bench.prompt", 64);
        int gen = Integer.getInteger("panamax.bench.gen", 128);
        int reps = Integer.getInteger("panamax.bench.reps", 3);
        try (Model model = Model.load(Path.of(file));
             Engine e = model.newEngine(Engine.Config.defaults().withMaxSequences(parallel).withContextLength(prompt * 2 + gen + 64))) {
            PanamaxChatModel chat = new PanamaxChatModel(e);
            SplittableRandom r = new SplittableRandom(1);
            direct(e, r, parallel, prompt, Math.min(gen, 8)); // warm-up
            viaProvider(chat, r, parallel, prompt, Math.min(gen, 8));
            double bestDirect = 0, bestProvider = 0;
            for (int i = 0; i < reps; i++) {
                bestDirect = Math.max(bestDirect, direct(e, r, parallel, prompt, gen));
                bestProvider = Math.max(bestProvider, viaProvider(chat, r, parallel, prompt, gen));
            }
            System.out.printf(Locale.ROOT, "model %s, %s, %d threads; %d callers x (prompt ~%d, decode %d), best of %d%n",
                    Path.of(file).getFileName(), e.kernelsName(), e.threads(), parallel, prompt, gen, reps);
            System.out.printf(Locale.ROOT, "aggregate decode  engine directly %.1f tok/s, through Spring AI %.1f tok/s: %.1f%%%n",
                    bestDirect, bestProvider, 100 * bestProvider / bestDirect);
        }
    }

    /** Aggregate decode tok/s once every request has its first token, as ParallelBench measures it. */
    static double aggregate(List<long[]> stamps, int[] counts) {
        long allFirst = 0, end = 0;
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] == 0) continue;
            allFirst = Math.max(allFirst, stamps.get(i)[0]);
            end = Math.max(end, stamps.get(i)[counts[i] - 1]);
        }
        long after = 0;
        for (int i = 0; i < counts.length; i++) for (int j = 0; j < counts[i]; j++) if (stamps.get(i)[j] > allFirst) after++;
        return after / ((end - allFirst) / 1e9);
    }

    static double direct(Engine e, SplittableRandom r, int n, int prompt, int gen) {
        List<long[]> stamps = new ArrayList<>();
        int[] counts = new int[n];
        List<RequestHandle> hs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int id = i;
            long[] s = new long[gen + 8];
            stamps.add(s);
            int[] p = r.ints(prompt, 0, e.model().vocabSize()).toArray();
            hs.add(e.submit(GenerationRequest.of(p, gen, SamplingParams.greedy()).withIgnoreEos(true), (tok, text) -> {
                if (tok >= 0 && counts[id] < s.length) s[counts[id]++] = System.nanoTime();
            }));
        }
        for (RequestHandle h : hs) h.join();
        return aggregate(stamps, counts);
    }

    /** One chunk per token (ASCII text of a random model); a request that meets EOS early simply has fewer stamps. */
    static double viaProvider(PanamaxChatModel m, SplittableRandom r, int n, int prompt, int gen) {
        List<long[]> stamps = new ArrayList<>();
        int[] counts = new int[n];
        var options = PanamaxChatOptions.builder().temperature(0.0).maxTokens(gen).build();
        List<Flux<?>> flows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int id = i;
            long[] s = new long[gen + 8];
            stamps.add(s);
            StringBuilder words = new StringBuilder();
            for (int w = 0; w < prompt / 2; w++) words.append("word").append(r.nextInt(1000)).append(' ');
            flows.add(m.stream(new Prompt(new UserMessage(words.toString()), options)).doOnNext(c -> {
                if (counts[id] < s.length) s[counts[id]++] = System.nanoTime();
            }));
        }
        Flux.merge(flows).blockLast();
        return aggregate(stamps, counts);
    }
}
