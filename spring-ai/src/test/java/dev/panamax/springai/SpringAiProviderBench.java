package dev.panamax.springai;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.panamax.Engine;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.RequestHandle;
import dev.panamax.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.prompt.Prompt;
import reactor.core.publisher.Flux;

/**
 * Not part of the suite (run it by name; scripts/bench-providers.sh): aggregate decode of N concurrent callers
 * streaming through Spring AI's {@code ChatModel.stream} (the provider's Flux, consumed on its delivery
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
            List<Prompt> warm = prompts(r, parallel, prompt, Math.min(gen, 8));
            direct(e, tokens(chat, warm), Math.min(gen, 8)); // warm-up
            viaProvider(chat, warm);
            double bestDirect = 0, bestProvider = 0;
            int promptTokens = 0;
            for (int i = 0; i < reps; i++) {
                // the engine directly on the very tokens the provider submits (chat template and all)
                List<Prompt> ps = prompts(r, parallel, prompt, gen);
                List<int[]> toks = tokens(chat, ps);
                promptTokens = toks.get(0).length;
                bestDirect = Math.max(bestDirect, direct(e, toks, gen));
                bestProvider = Math.max(bestProvider, viaProvider(chat, ps));
            }
            long[] d = chat.recentFirstTokenDelayNanos(); // oldest first: the warm-up's requests, then the runs'
            long warmMax = 0, runsMax = 0;
            for (int i = 0; i < d.length; i++) {
                if (i < parallel) warmMax = Math.max(warmMax, d[i]);
                else runsMax = Math.max(runsMax, d[i]);
            }
            Arrays.sort(d);
            System.out.printf(Locale.ROOT, "model %s, %s, %d threads; %d callers x (prompt ~%d, decode %d), best of %d%n",
                    Path.of(file).getFileName(), e.kernelsName(), e.threads(), parallel, prompt, gen, reps);
            System.out.printf(Locale.ROOT, "prompt tokens per request (both ways): %d; pieces streamed in the last run: %d for %d tokens%n",
                    promptTokens, lastPieces, (long) parallel * gen);
            System.out.printf(Locale.ROOT, "aggregate decode  engine directly %.1f tok/s, through Spring AI %.1f tok/s: %.1f%%%n",
                    bestDirect, bestProvider, 100 * bestProvider / bestDirect);
            System.out.printf(Locale.ROOT, "first piece engine->subscriber over %d requests: median %.3f ms, p90 %.3f ms, max %.3f ms%n",
                    d.length, d[d.length / 2] / 1e6, d[(int) (d.length * 0.9)] / 1e6, d[d.length - 1] / 1e6);
            System.out.printf(Locale.ROOT, "first piece engine->subscriber: max of the warm-up run's %d requests %.3f ms, of the measured runs' %d %.3f ms%n",
                    Math.min(parallel, d.length), warmMax / 1e6, Math.max(0, d.length - parallel), runsMax / 1e6);
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

    static List<Prompt> prompts(SplittableRandom r, int n, int prompt, int gen) {
        var options = PanamaxChatOptions.builder().temperature(0.0).maxTokens(gen).build();
        List<Prompt> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StringBuilder words = new StringBuilder();
            for (int w = 0; w < prompt / 2; w++) words.append("word").append(r.nextInt(1000)).append(' ');
            out.add(new Prompt(new UserMessage(words.toString()), options));
        }
        return out;
    }

    /** The prompt tokens the provider submits for each prompt. */
    static List<int[]> tokens(PanamaxChatModel m, List<Prompt> ps) {
        List<int[]> out = new ArrayList<>();
        for (Prompt p : ps) out.add(m.prepare(p, m.options(p)).request().promptTokens());
        return out;
    }

    static double direct(Engine e, List<int[]> prompts, int gen) {
        int n = prompts.size();
        List<long[]> stamps = new ArrayList<>();
        int[] counts = new int[n];
        List<RequestHandle> hs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int id = i;
            long[] s = new long[gen + 8];
            stamps.add(s);
            hs.add(e.submit(GenerationRequest.of(prompts.get(i), gen, SamplingParams.greedy()).withIgnoreEos(true), (tok, text) -> {
                if (tok >= 0 && counts[id] < s.length) s[counts[id]++] = System.nanoTime();
            }));
        }
        for (RequestHandle h : hs) h.join();
        return aggregate(stamps, counts);
    }

    /** Pieces the subscribers got in the last provider run (one per token unless the tokenizer merged some). */
    static long lastPieces;

    /** One chunk per token (ASCII text of a random model); a request that meets EOS early simply has fewer stamps. */
    static double viaProvider(PanamaxChatModel m, List<Prompt> ps) {
        int n = ps.size();
        List<long[]> stamps = new ArrayList<>();
        int[] counts = new int[n];
        List<Flux<?>> flows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int id = i;
            long[] s = new long[2048];
            stamps.add(s);
            flows.add(m.stream(ps.get(i)).doOnNext(c -> {
                if (counts[id] < s.length) s[counts[id]++] = System.nanoTime();
            }));
        }
        Flux.merge(flows).blockLast();
        lastPieces = 0;
        for (int c : counts) lastPieces += c;
        return aggregate(stamps, counts);
    }
}
