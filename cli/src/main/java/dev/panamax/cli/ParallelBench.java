package dev.panamax.cli;

import dev.panamax.Engine;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.Model;
import dev.panamax.RequestHandle;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.spec.Speculation;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;

/**
 * {@code panamax bench --parallel N}: N requests through the serving engine, as llama.cpp's llama-batched-bench (the
 * toolkit's llbatch) measures them: random prompt ids, greedy decode that ignores end-of-generation tokens. Aggregate
 * prompt speed = N x P / (time until every request has its first token); aggregate decode speed = tokens sampled after
 * that moment / the time from it to the last token. With {@code --shared-prefix K} the prompts share their first K
 * tokens, and requests 2..N are submitted when the first has its first token (its prefix is then cached): the report
 * adds the first request's time to first token and the others' median. An untimed warm-up run (same shapes, 8 decode
 * tokens, {@code --warmup W}: W) precedes the measured ones; the best run is reported.
 */
final class ParallelBench {
    private ParallelBench() {}

    record Result(int parallel, int prompt, int gen, int sharedPrefix, int threads, String kernels, double aggPp,
                  double aggTg, double stepP50, double stepP99, double ttftP50, double ttftP99, double ttftFirst,
                  double ttftOthersP50, long kvBytesPeak, double rssMb, Speculation spec, Engine.SpecStats specStats) {

        Map<String, Object> json() {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("prompt_tokens", prompt);
            o.put("gen_tokens", gen);
            o.put("threads", threads);
            o.put("backend", kernels.startsWith("native") ? "native" : "java");
            o.put("parallel", parallel);
            o.put("shared_prefix", sharedPrefix);
            o.put("agg_pp_tps", BenchCommand.round(aggPp));
            o.put("agg_tg_tps", BenchCommand.round(aggTg));
            o.put("step_ms_p50", BenchCommand.round(stepP50));
            o.put("step_ms_p99", BenchCommand.round(stepP99));
            o.put("ttft_ms_p50", BenchCommand.round(ttftP50));
            o.put("ttft_ms_p99", BenchCommand.round(ttftP99));
            if (sharedPrefix > 0) {
                o.put("ttft_ms_first", BenchCommand.round(ttftFirst));
                o.put("ttft_ms_others_p50", BenchCommand.round(ttftOthersP50));
            }
            o.put("kv_bytes_peak", kvBytesPeak);
            o.put("rss_mb", BenchCommand.round(rssMb));
            if (spec.on()) o.put("spec", GenerateCommand.specJson(spec, specStats));
            return o;
        }

        void print(PrintWriter out) {
            out.printf("kernels             %s (%d thread%s)%n", kernels, threads, threads == 1 ? "" : "s");
            if (spec.on()) out.printf("speculation         %s: drafted %d, accepted %d (%.0f%%), %.2f tokens per verify pass%n", spec,
                    specStats.drafted(), specStats.accepted(), 100 * specStats.acceptanceRate(), specStats.tokensPerPass());
            out.printf("requests            %d x (prompt %d%s, decode %d)%n", parallel, prompt,
                    sharedPrefix > 0 ? ", first " + sharedPrefix + " shared" : "", gen);
            out.printf("aggregate prompt    %.1f tok/s%n", aggPp);
            out.printf("aggregate decode    %.1f tok/s%n", aggTg);
            out.printf("step                p50 %.2f ms, p99 %.2f ms%n", stepP50, stepP99);
            out.printf("first token         p50 %.1f ms, p99 %.1f ms%n", ttftP50, ttftP99);
            if (sharedPrefix > 0) out.printf("first token         first request %.1f ms, others p50 %.1f ms%n", ttftFirst, ttftOthersP50);
            out.printf("KV in use (peak)    %.1f MB%n", kvBytesPeak / 1e6);
            out.printf("resident memory     %s%n", rssMb < 0 ? "unknown" : String.format("%.0f MB", rssMb));
        }
    }

    static Result run(Model model, int parallel, int nPrompt, int nGen, int shared, int budget, int reps, long seed,
                      Speculation spec, int[] text) throws Exception {
        return run(model, parallel, nPrompt, nGen, shared, budget, Duration.ZERO, reps, seed, 8, spec, true, text);
    }

    static Result run(Model model, int parallel, int nPrompt, int nGen, int shared, int budget, Duration stepTarget, int reps,
                      long seed, int warmup, Speculation spec, boolean quantizeDraft, int[] text) throws Exception {
        if (text != null) {
            if (shared > 0) throw new IllegalArgumentException("--prompt-text and --shared-prefix do not go together");
            nPrompt = text.length;
        }
        if (shared < 0 || shared >= nPrompt) throw new IllegalArgumentException("--shared-prefix must be in [0, -p), got " + shared);
        Engine.Config c = config(model, parallel, nPrompt, nGen, budget, spec).withStepTarget(stepTarget).withDraftQuantization(quantizeDraft);
        SplittableRandom r = new SplittableRandom(seed);
        int vocab = model.vocabSize();
        int[] prefix = r.ints(shared, 0, vocab).toArray();
        try (Engine e = model.newEngine(c)) {
            // warm-up: JIT, page cache, and the speculation policy's measurements (as in a server that has been running)
            once(e, prompts(r, prefix, parallel, nPrompt, vocab, text), Math.max(2, Math.min(warmup, nGen)), shared);
            Result best = null;
            for (int rep = 0; rep < reps; rep++) {
                // new prompts every run, so nothing but the shared prefix can come from the prefix cache; with a
                // shared prefix each run starts from an empty cache (a fresh engine): the first request computes it
                int[][] prompts = prompts(r, prefix, parallel, nPrompt, vocab, text);
                Result res;
                if (shared > 0) {
                    e.close();
                    try (Engine f = model.newEngine(c)) {
                        res = once(f, prompts, nGen, shared);
                    }
                } else {
                    res = once(e, prompts, nGen, shared);
                }
                if (best == null || res.aggTg > best.aggTg) best = res;
            }
            return best;
        }
    }

    /**
     * {@code --vs-off}: speculation against plain decoding in one process, so that neither side's JIT state, heap or
     * thread placement is the other's: two engines (the same config, one without speculation), each warmed up, then
     * {@code reps} pairs of runs in alternating order (off first, then on first, ...) on the same prompts. Reports the
     * speculative engine's best run, plain decoding's best, and the median, lowest and highest of the pairs' ratios.
     * With speculation off both engines decode plainly: an A/A control, whose ratios show what the pairing itself gives
     * when nothing differs.
     */
    record Paired(Result on, double offTg, double ratio, double ratioMin, double ratioMax, int pairs, Engine.SpecStats all,
                  long allTokens) {
        Map<String, Object> json() {
            Map<String, Object> o = on.json();
            // every timed run of the speculative engine, not only the best: how much of its output drafting steps made
            Map<String, Object> a = GenerateCommand.specJson(on.spec(), all);
            a.put("gen_tokens", allTokens);
            o.put("spec_all_runs", a);
            o.put("off_agg_tg_tps", BenchCommand.round(offTg));
            o.put("vs_off", BenchCommand.round(ratio));
            o.put("vs_off_min", BenchCommand.round(ratioMin));
            o.put("vs_off_max", BenchCommand.round(ratioMax));
            o.put("pairs", pairs);
            return o;
        }

        void print(PrintWriter out) {
            on.print(out);
            out.printf("without speculation %.1f tok/s (best run)%n", offTg);
            out.printf("vs off              %.3fx (median of %d paired runs; %.3f-%.3f)%n", ratio, pairs, ratioMin, ratioMax);
        }
    }

    /** The engine of a --parallel run: one sequence slot per stream, each with room for its prompt and output. */
    private static Engine.Config config(Model model, int parallel, int nPrompt, int nGen, int budget, Speculation spec) {
        if (parallel < 1) throw new IllegalArgumentException("--parallel must be at least 1, got " + parallel);
        if (nGen < 2) throw new IllegalArgumentException("-n must be at least 2 with --parallel, got " + nGen);
        int ctx = nPrompt + nGen;
        if (ctx > model.trainedContextLength()) throw new IllegalArgumentException("-p + -n exceed the model's context_length " + model.trainedContextLength());
        return Engine.Config.defaults().withMaxSequences(parallel).withTokenBudget(Math.max(budget, parallel))
                .withContextLength(ctx).withQueueCapacity(Math.max(256, parallel)).withSpeculation(spec);
    }

    static Paired runPaired(Model model, int parallel, int nPrompt, int nGen, int budget, Duration stepTarget, int reps, long seed,
                            int warmup, Speculation spec, boolean quantizeDraft, int[] text) throws Exception {
        if (text != null) nPrompt = text.length;
        if (reps < 1) throw new IllegalArgumentException("-r must be at least 1, got " + reps);
        Engine.Config c = config(model, parallel, nPrompt, nGen, budget, spec).withStepTarget(stepTarget).withDraftQuantization(quantizeDraft);
        SplittableRandom r = new SplittableRandom(seed);
        int vocab = model.vocabSize();
        int[] none = new int[0];
        try (Engine on = model.newEngine(c); Engine off = model.newEngine(c.withSpeculation(Speculation.OFF))) {
            int w = Math.max(2, Math.min(warmup, nGen));
            once(off, prompts(r, none, parallel, nPrompt, vocab, text), w, 0);
            once(on, prompts(r, none, parallel, nPrompt, vocab, text), w, 0);
            Result best = null;
            double offBest = 0;
            double[] ratios = new double[reps];
            Engine.SpecStats before = on.specStats();
            for (int rep = 0; rep < reps; rep++) {
                int[][] prompts = prompts(r, none, parallel, nPrompt, vocab, text);
                Result a, b;
                if (rep % 2 == 0) {
                    b = once(off, prompts, nGen, 0);
                    a = once(on, prompts, nGen, 0);
                } else {
                    a = once(on, prompts, nGen, 0);
                    b = once(off, prompts, nGen, 0);
                }
                ratios[rep] = b.aggTg > 0 ? a.aggTg / b.aggTg : 0;
                offBest = Math.max(offBest, b.aggTg);
                if (best == null || a.aggTg > best.aggTg) best = a;
            }
            Arrays.sort(ratios);
            double median = reps % 2 == 1 ? ratios[reps / 2] : (ratios[reps / 2 - 1] + ratios[reps / 2]) / 2;
            return new Paired(best, offBest, median, ratios[0], ratios[reps - 1], reps, minus(on.specStats(), before),
                    (long) reps * parallel * nGen);
        }
    }

    /** n prompts of random ids that start with the given prefix (or n times {@code text} when given). */
    private static int[][] prompts(SplittableRandom r, int[] prefix, int n, int nPrompt, int vocab, int[] text) {
        int[][] prompts = new int[n][];
        for (int i = 0; i < n; i++) {
            if (text != null) {
                prompts[i] = text.clone();
                continue;
            }
            prompts[i] = Arrays.copyOf(prefix, nPrompt);
            for (int j = prefix.length; j < nPrompt; j++) prompts[i][j] = r.nextInt(vocab);
        }
        return prompts;
    }

    private static Result once(Engine e, int[][] prompts, int nGen, int shared) throws Exception {
        int n = prompts.length;
        long[][] stamps = new long[n][nGen];
        int[] count = new int[n];
        CountDownLatch firstDone = new CountDownLatch(1);
        List<RequestHandle> hs = new ArrayList<>();
        long[] peak = {0}; // KV bytes in use, sampled by the first request's listener
        int stepsBefore = e.recentStepMillis().length;
        Engine.SpecStats specBefore = e.specStats();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            int id = i;
            GenerationRequest req = GenerationRequest.of(prompts[i], nGen, SamplingParams.greedy()).withIgnoreEos(true);
            hs.add(e.submit(req, (tok, text) -> {
                if (tok < 0) return; // flushed text, not a token
                if (count[id] < nGen) stamps[id][count[id]++] = System.nanoTime();
                if (id == 0) {
                    firstDone.countDown();
                    peak[0] = Math.max(peak[0], e.stats().kvBytesUsed());
                }
            }));
            if (i == 0 && shared > 0) firstDone.await(); // the others find the prefix cached
        }
        // wait without polling (a thread waking every millisecond competes with the compute threads); the peak KV use
        // is sampled by the first request's listener, on the engine's thread, between steps
        for (RequestHandle h : hs) h.result().join();
        Generation[] gs = new Generation[n];
        for (int i = 0; i < n; i++) gs[i] = hs.get(i).join();
        long allFirst = 0, end = 0;
        for (int i = 0; i < n; i++) {
            allFirst = Math.max(allFirst, stamps[i][0]);
            end = Math.max(end, stamps[i][count[i] - 1]);
        }
        long after = 0;
        for (int i = 0; i < n; i++) for (int j = 0; j < count[i]; j++) if (stamps[i][j] > allFirst) after++;
        double ppSec = (allFirst - t0) / 1e9, tgSec = (end - allFirst) / 1e9;
        double[] ttft = new double[n];
        for (int i = 0; i < n; i++) ttft[i] = gs[i].ttftMs();
        double[] others = Arrays.copyOfRange(ttft, 1, n);
        double[] steps = e.recentStepMillis();
        double[] mine = Arrays.copyOfRange(steps, Math.min(stepsBefore, steps.length), steps.length);
        int pPrompt = prompts[0].length;
        return new Result(n, pPrompt, nGen, shared, e.threads(), e.kernelsName(), (double) n * pPrompt / ppSec,
                tgSec > 0 ? after / tgSec : 0, pct(mine, 50), pct(mine, 99), pct(ttft, 50), pct(ttft, 99), ttft[0],
                pct(others, 50), peak[0], BenchCommand.rssMb(), e.config().speculation(), minus(e.specStats(), specBefore));
    }

    private static Engine.SpecStats minus(Engine.SpecStats a, Engine.SpecStats b) {
        return new Engine.SpecStats(a.drafted() - b.drafted(), a.accepted() - b.accepted(), a.passes() - b.passes(), a.tokens() - b.tokens());
    }

    /**
     * A long prompt admitted next to decoding streams ({@code --long-prompt L}): {@code streams} requests decode (prompt
     * P), then one request with an L-token prompt arrives. Reports how fast that prompt ran and what its chunks cost
     * the streams: their inter-token latency while it was processed (chunked prefill bounds it by one budget-sized
     * chunk plus a decode step).
     */
    record LongResult(int streams, int prompt, int longPrompt, int budget, double stepTargetMs, int threads, String kernels, double longPromptTps,
                      double itlP50, double itlP99, double itlMax, double itlBeforeP50) {

        Map<String, Object> json() {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("threads", threads);
            o.put("backend", kernels.startsWith("native") ? "native" : "java");
            o.put("parallel", streams + 1);
            o.put("budget", budget);
            o.put("step_target_ms", BenchCommand.round(stepTargetMs));
            o.put("long_prompt_tokens", longPrompt);
            o.put("long_prompt_tps", BenchCommand.round(longPromptTps));
            o.put("itl_ms_before_p50", BenchCommand.round(itlBeforeP50));
            o.put("itl_ms_p50", BenchCommand.round(itlP50));
            o.put("itl_ms_p99", BenchCommand.round(itlP99));
            o.put("itl_ms_max", BenchCommand.round(itlMax));
            return o;
        }

        void print(PrintWriter out) {
            out.printf("kernels             %s (%d thread%s), budget %d tokens/step, step target %s%n", kernels, threads,
                    threads == 1 ? "" : "s", budget, stepTargetMs > 0 ? BenchCommand.round(stepTargetMs) + " ms" : "none");
            out.printf("long prompt         %d tokens at %.1f tok/s, next to %d decoding streams%n", longPrompt, longPromptTps, streams);
            out.printf("streams' ITL        before p50 %.1f ms | during p50 %.1f ms, p99 %.1f ms, max %.1f ms%n",
                    itlBeforeP50, itlP50, itlP99, itlMax);
        }
    }

    static LongResult runLong(Model model, int streams, int nPrompt, int longPrompt, int budget, Duration stepTarget, long seed)
            throws Exception {
        if (streams < 1) throw new IllegalArgumentException("--long-prompt needs --parallel of at least 2");
        int ctx = Math.max(longPrompt + 2, nPrompt + 4096);
        ctx = Math.min(ctx, model.trainedContextLength());
        if (longPrompt + 1 > ctx) throw new IllegalArgumentException("--long-prompt " + longPrompt + " exceeds the model's context_length " + model.trainedContextLength());
        int gen = ctx - nPrompt;
        Engine.Config c = Engine.Config.defaults().withMaxSequences(streams + 1).withTokenBudget(Math.max(budget, streams + 1))
                .withContextLength(ctx).withStepTarget(stepTarget);
        SplittableRandom r = new SplittableRandom(seed);
        int vocab = model.vocabSize();
        try (Engine e = model.newEngine(c)) {
            for (int warm = 0; warm < 2; warm++) { // JIT and page cache: the same mix, short
                RequestHandle w = e.submit(GenerationRequest.of(r.ints(Math.min(longPrompt, 512), 0, vocab).toArray(), 4, SamplingParams.greedy()));
                w.join();
            }
            long[][] stamps = new long[streams][gen];
            int[] count = new int[streams];
            List<RequestHandle> hs = new ArrayList<>();
            CountDownLatch decoding = new CountDownLatch(streams);
            for (int i = 0; i < streams; i++) {
                int id = i;
                hs.add(e.submit(GenerationRequest.of(r.ints(nPrompt, 0, vocab).toArray(), gen, SamplingParams.greedy()).withIgnoreEos(true),
                        (tok, text) -> {
                            if (tok < 0 || count[id] >= gen) return;
                            stamps[id][count[id]++] = System.nanoTime();
                            if (count[id] == 8) decoding.countDown();
                        }));
            }
            decoding.await();
            long t0 = System.nanoTime();
            RequestHandle lp = e.submit(GenerationRequest.of(r.ints(longPrompt, 0, vocab).toArray(), 1, SamplingParams.greedy()));
            Generation g = lp.join();
            long t1 = t0 + (long) (g.ttftMs() * 1e6);
            Thread.sleep(50);
            for (RequestHandle h : hs) h.cancel();
            for (RequestHandle h : hs) h.join();
            List<Double> during = new ArrayList<>(), before = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                for (int j = 1; j < count[i]; j++) {
                    double gap = (stamps[i][j] - stamps[i][j - 1]) / 1e6;
                    if (stamps[i][j] > t0 && stamps[i][j - 1] < t1) during.add(gap);
                    else if (stamps[i][j] <= t0) before.add(gap);
                }
            }
            double[] d = during.stream().mapToDouble(Double::doubleValue).toArray(), b = before.stream().mapToDouble(Double::doubleValue).toArray();
            return new LongResult(streams, nPrompt, longPrompt, c.tokenBudget(), stepTarget.toNanos() / 1e6, e.threads(), e.kernelsName(),
                    longPrompt / ((t1 - t0) / 1e9), pct(d, 50), pct(d, 99), pct(d, 100), pct(b, 50));
        }
    }

    /** The p-th percentile (nearest rank) of the values, 0 when there are none. */
    static double pct(double[] v, double p) {
        if (v.length == 0) return 0;
        double[] s = v.clone();
        Arrays.sort(s);
        int k = (int) Math.ceil(p / 100.0 * s.length) - 1;
        return s[Math.max(0, Math.min(s.length - 1, k))];
    }
}
