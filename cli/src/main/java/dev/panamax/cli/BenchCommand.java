package dev.panamax.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.gguf.GgufFile;
import dev.panamax.Backend;
import dev.panamax.CacheType;
import dev.panamax.grammar.Grammar;
import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.model.ModelState;
import dev.panamax.model.ModelWeights;
import dev.panamax.model.PackedWeights;
import dev.panamax.sampling.Sampler;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tensor.GgmlType;
import dev.panamax.tokenizer.Tokenizer;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code panamax bench}: prompt-processing and decode speed of one model, measured as llama-bench does (random prompt
 * ids, greedy decode that ignores end-of-generation tokens), after untimed warm-up runs. {@code --json} prints
 * DESIGN.md's object. The forward pass is driven directly (not through a Session) so that an end-of-generation token
 * cannot cut the measured decode short.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Measure prompt processing and decode speed: a prompt of random token ids (fixed seed) in batches,"
                + " then greedy decode of n tokens (end-of-generation tokens do not stop it).",
                "Warm-up runs (the whole prompt once, then two runs of at most 128 prompt tokens, each with up to 16"
                        + " decode steps; untimed) come first so the JIT has compiled the forward pass and the page cache"
                        + " is warm; each measured run starts from an empty KV cache.",
                "Resident memory is VmRSS of this process (mapped weights that were touched + KV cache + scratch).",
                "With a grammar (--grammar-file, --json-schema, --json-object) each measured run also decodes the same n"
                        + " tokens greedily under it (the Sampler as generate uses it; when the grammar completes it starts"
                        + " over), alternating with the unconstrained runs, and reports both rates, their ratio and the"
                        + " sampler's time per token."})
final class BenchCommand implements Callable<Integer> {
    private static final int WARM_UP_SHORT_RUNS = 2;

    @Mixin
    ModelOptions mo = new ModelOptions();

    @Option(names = {"-p", "--n-prompt"}, defaultValue = "128", description = "Prompt tokens (default: ${DEFAULT-VALUE}).")
    int nPrompt;

    @Option(names = {"-n", "--n-gen"}, defaultValue = "64", description = "Tokens to decode (default: ${DEFAULT-VALUE}).")
    int nGen;

    @Option(names = {"-r", "--reps"}, defaultValue = "1",
            description = "Measured runs; the best pp and tg are reported, as llama.cpp's llref -r (default: ${DEFAULT-VALUE}).")
    int reps;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the random prompt (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Option(names = "--parallel", defaultValue = "0",
            description = "N requests at once through the serving engine (continuous batching): aggregate prompt and decode"
                    + " tok/s, step and first-token latency percentiles (default: one sequence, no engine).")
    int parallel;

    @Option(names = "--shared-prefix", defaultValue = "0",
            description = "With --parallel: the prompts share their first K tokens; requests 2..N start when the first has"
                    + " its first token (its prefix is then in the prefix cache).")
    int sharedPrefix;

    @Option(names = "--long-prompt", defaultValue = "0",
            description = "With --parallel N: N-1 streams decode, then a prompt of this many tokens arrives; reports its"
                    + " speed and the streams' inter-token latency while it is processed.")
    int longPrompt;

    @Option(names = "--budget", defaultValue = "512", description = "With --parallel: tokens per engine step (default: ${DEFAULT-VALUE}).")
    int budget;

    @Option(names = "--step-target-ms", defaultValue = "0", description = "With --parallel: the engine's step target in ms,"
            + " the inter-token latency to keep while prompts arrive (Engine.Config.withStepTarget; default: none).")
    double stepTargetMs;

    @Option(names = "--warmup", defaultValue = "8", description = "With --parallel: decode tokens of the untimed warm-up run (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--vs-off", description = "With --spec: the same runs without speculation on a second engine in this process,"
            + " run by run in alternation; reports the median of the paired ratios (\"vs_off\") and their range. With --parallel and"
            + " no --spec (or --spec off): two plain engines, an A/A control of the pairing.")
    boolean vsOff;

    @Mixin
    SpecOptions specOptions = new SpecOptions();

    @Option(names = "--prompt-text", description = "With --parallel or --spec: every request's prompt is this text (tokenized,"
            + " BOS as the model asks) instead of -p random ids: decoding then follows real text (speculation's acceptance).")
    String promptText;

    @Option(names = "--verify-curve", defaultValue = "0",
            description = "Speculation's cost curve: after a -p token prompt, the time of one forward step over k+1 rows (every"
                    + " row with logits, as a verification of k drafted tokens) for k = 0..K, relative to k = 0 (one decode"
                    + " step); -r rounds, k interleaved, medians.")
    int verifyCurve;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    GrammarOptions constraint;

    @Spec
    CommandSpec spec;

    /**
     * Decode under a grammar, measured in the same process as the unconstrained decode: best tok/s of each, the
     * sampler's mean time per token (copy of the logits, the chain, the grammar check and any mask), how often the
     * grammar rejected the greedy token (a full mask then), masks computed (new grammar states), and the Java heap
     * bytes the constrained decode loop allocated per token in the last measured run (cold masks included).
     */
    record GrammarResult(double tgTps, double tgGrammarTps, double sampleUsPerToken, double maskedShare,
                         long masksComputed, double allocBytesPerToken, int restarts) {

        double ratio() {
            return tgGrammarTps / tgTps;
        }

        Map<String, Object> json() {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("tg_tps", round(tgTps));
            o.put("tg_grammar_tps", round(tgGrammarTps));
            o.put("ratio", round(ratio() * 100) / 100.0);
            o.put("sample_us_per_token", round(sampleUsPerToken));
            o.put("masked_share", round(maskedShare));
            o.put("masks_computed", masksComputed);
            o.put("alloc_bytes_per_token", round(allocBytesPerToken));
            o.put("grammar_restarts", restarts);
            return o;
        }

        void print(PrintWriter out) {
            out.printf("decode, grammar  %.1f tok/s (%.0f%% of %.1f unconstrained, same runs)%n", tgGrammarTps, ratio() * 100, tgTps);
            out.printf("sampler          %.1f us/token (%.0f%% of tokens masked, %d masks computed, %d restarts)%n",
                    sampleUsPerToken, maskedShare * 100, masksComputed, restarts);
            out.printf("heap allocated   %.1f bytes/token (constrained decode, last run)%n", allocBytesPerToken);
        }
    }

    /** One measurement; rates in tokens/s, rss in MB (-1 when /proc is unavailable). */
    record Result(int promptTokens, int genTokens, int threads, String backend, String kernels, double ppTps,
                  double tgTps, double ttftMs, double rssMb, long kvBytesPerToken, String cacheTypeK, String cacheTypeV,
                  GrammarResult grammar) {

        Map<String, Object> json() {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("prompt_tokens", promptTokens);
            o.put("gen_tokens", genTokens);
            o.put("threads", threads);
            o.put("backend", backend);
            o.put("pp_tps", round(ppTps));
            o.put("tg_tps", round(tgTps));
            o.put("ttft_ms", round(ttftMs));
            o.put("rss_mb", round(rssMb));
            o.put("kv_bytes_per_token", kvBytesPerToken);
            // beyond the contract's keys only when asked for: a quantized cache's types, a grammar's run
            if (!cacheTypeK.equals("f16") || !cacheTypeV.equals("f16")) {
                o.put("cache_type_k", cacheTypeK);
                o.put("cache_type_v", cacheTypeV);
            }
            if (grammar != null) o.put("grammar", grammar.json());
            return o;
        }

        void print(PrintWriter out) {
            out.printf("kernels          %s (%d thread%s)%n", kernels, threads, threads == 1 ? "" : "s");
            out.printf("prompt (pp%d)    %.1f tok/s%n", promptTokens, ppTps);
            out.printf("decode (tg%d)     %.1f tok/s%n", genTokens, tgTps);
            out.printf("first token      %.1f ms%n", ttftMs);
            out.printf("KV cache         %d bytes/token (K %s, V %s)%n", kvBytesPerToken, cacheTypeK, cacheTypeV);
            out.printf("resident memory  %s%n", rssMb < 0 ? "unknown (no /proc/self/status)" : String.format("%.0f MB", rssMb));
            if (grammar != null) grammar.print(out);
        }
    }

    /** --step-target-ms as the engine takes it (a negative one it refuses). */
    private java.time.Duration stepTarget() {
        return java.time.Duration.ofNanos(Math.round(stepTargetMs * 1e6));
    }

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(mo.model)) throw new FileNotFoundException("model file not found: " + mo.model);
        mo.applyIsa();
        if (specOptions.spec != null && parallel == 0) parallel = 1; // speculation runs in the engine
        Grammar grammar = constraint == null ? null : constraint.grammar();
        if (grammar != null && parallel > 0) throw new IllegalArgumentException("a grammar is measured on one sequence: not with --parallel");
        if (parallel > 0) {
            PrintWriter out = spec.commandLine().getOut();
            try (dev.panamax.Model m = mo.load()) {
                if (longPrompt > 0) {
                    ParallelBench.LongResult lr = ParallelBench.runLong(m, parallel - 1, nPrompt, longPrompt, budget, stepTarget(), seed);
                    if (json) out.println(new ObjectMapper().writeValueAsString(lr.json()));
                    else lr.print(out);
                    out.flush();
                    return 0;
                }
                int[] text = promptText == null ? null : m.tokenizer().encode(promptText);
                if (vsOff) {
                    ParallelBench.Paired pr = ParallelBench.runPaired(m, parallel, nPrompt, nGen, budget, stepTarget(), reps, seed, warmup, specOptions.speculation(), specOptions.quantizeDraft, text);
                    if (json) out.println(new ObjectMapper().writeValueAsString(pr.json()));
                    else pr.print(out);
                    out.flush();
                    return 0;
                }
                ParallelBench.Result r = ParallelBench.run(m, parallel, nPrompt, nGen, sharedPrefix, budget, stepTarget(), reps, seed, warmup, specOptions.speculation(), specOptions.quantizeDraft,
                        text);
                if (json) out.println(new ObjectMapper().writeValueAsString(r.json()));
                else r.print(out);
            }
            out.flush();
            return 0;
        }
        if (sharedPrefix != 0) throw new IllegalArgumentException("--shared-prefix needs --parallel");
        if (verifyCurve > 0) {
            Map<String, Object> o = verifyCurve(mo.model, nPrompt, verifyCurve, Math.max(reps, 5), mo.threads, mo.backend, seed, !mo.noPack);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println(new ObjectMapper().writeValueAsString(o));
            } else {
                out.printf("kernels %s, %d threads, after a %d-token prompt:%n", o.get("kernels"), o.get("threads"), nPrompt);
                for (Object r : (java.util.List<?>) o.get("verify_curve")) {
                    Map<?, ?> m = (Map<?, ?>) r;
                    out.printf("k=%-2s  %d rows  %8.2f ms  %.3fx one decode step%n", m.get("k"), (Integer) m.get("k") + 1, m.get("ms"), m.get("ratio"));
                }
            }
            out.flush();
            return 0;
        }
        Result r = run(mo.model, nPrompt, nGen, mo.ctx, mo.threads, mo.backend, reps, seed, !mo.noPack, mo.cacheTypeK,
                mo.cacheTypeV, grammar);
        PrintWriter out = spec.commandLine().getOut();
        if (json) out.println(new ObjectMapper().writeValueAsString(r.json()));
        else r.print(out);
        out.flush();
        return 0;
    }

    /**
     * Loads the file, warms up, and measures {@code reps} runs (best pp and tg kept; ttft of the best pp run).
     *
     * @throws IllegalArgumentException for counts out of range or a prompt + generation longer than the model's context
     */
    static Result run(Path model, int nPrompt, int nGen, int ctxSize, int threads, Backend backend, int reps, long seed,
                      boolean pack, CacheType cacheTypeK, CacheType cacheTypeV) throws IOException {
        return run(model, nPrompt, nGen, ctxSize, threads, backend, reps, seed, pack, cacheTypeK, cacheTypeV, null);
    }

    /** As above; with a grammar also the constrained decode ({@link GrammarResult}), alternating with the plain one. */
    static Result run(Path model, int nPrompt, int nGen, int ctxSize, int threads, Backend backend, int reps, long seed,
                      boolean pack, CacheType cacheTypeK, CacheType cacheTypeV, Grammar grammar) throws IOException {
        if (nPrompt < 1) throw new IllegalArgumentException("-p must be at least 1, got " + nPrompt);
        if (nGen < 1) throw new IllegalArgumentException("-n must be at least 1, got " + nGen);
        if (reps < 1) throw new IllegalArgumentException("--reps must be at least 1, got " + reps);
        try (GgufFile f = GgufFile.open(model)) {
            ModelWeights w = ModelWeights.load(f);
            GgmlType kType = InfoCommand.ggmlType(cacheTypeK), vType = InfoCommand.ggmlType(cacheTypeV);
            w.checkKvTypes(kType, vType);
            // the KV cache is sized to what the run needs unless -c asks for more (its memory then shows in rss)
            int need = nPrompt + nGen, ctx = ctxSize > 0 ? ctxSize : need;
            String what = "-p " + nPrompt + " + -n " + nGen + " = " + need + " tokens";
            if (need > w.trainedContextLength()) {
                throw new IllegalArgumentException(what + " exceed the model's context_length " + w.trainedContextLength());
            }
            if (need > ctx) throw new IllegalArgumentException(what + " exceed the context -c " + ctx);
            if (ctx > w.trainedContextLength()) {
                throw new IllegalArgumentException("-c " + ctx + " exceeds the model's context_length " + w.trainedContextLength());
            }
            int vocab = w.vocabSize();
            int[] prompt = new SplittableRandom(seed).ints(nPrompt, 0, vocab).toArray();
            Tokenizer tok = grammar == null ? null : Tokenizer.fromGguf(f.metadata());
            Sampler sampler = grammar == null ? null : new Sampler(SamplingParams.greedy().withGrammar(grammar), vocab, tok);
            try (Kernels k = KernelsProvider.create(backend, threads);
                 PackedWeights packed = pack ? packed(w, k) : PackedWeights.NONE;
                 ModelState s = w.newState(k, ctx, 512, kType, vType)) {
                warmUp(s, k, prompt, nGen);
                GrammarRun gr = null;
                if (sampler != null) { // the grammar's own warm-up: the JIT compiles the matcher on states of this run
                    gr = new GrammarRun(sampler, tok, nGen);
                    for (int i = 0; i < 1 + WARM_UP_SHORT_RUNS; i++) gr.once(s, prompt);
                    gr.reset();
                }
                double bestPp = 0, bestTg = 0, ttft = 0;
                for (int rep = 0; rep < reps; rep++) {
                    if (gr != null) gr.once(s, prompt);
                    double[] t = once(s, k, prompt, nGen);
                    double pp = nPrompt / t[0], tg = nGen / t[2];
                    if (pp > bestPp) {
                        bestPp = pp;
                        ttft = t[1] * 1e3;
                    }
                    bestTg = Math.max(bestTg, tg);
                }
                return new Result(nPrompt, nGen, k.threads(), k.backend().id(), k.name(), bestPp, bestTg, ttft, rssMb(),
                        w.kvBytesPerToken(kType, vType), cacheTypeK.id(), cacheTypeV.id(), gr == null ? null : gr.result(bestTg));
            }
        }
    }

    /** The (k+1)-row forward step's median time for k = 0..maxK ({@code --verify-curve}). */
    static Map<String, Object> verifyCurve(Path model, int nPrompt, int maxK, int rounds, int threads, Backend backend, long seed,
                                           boolean pack) throws IOException {
        if (maxK < 1 || maxK > 64) throw new IllegalArgumentException("--verify-curve must be in 1..64, got " + maxK);
        try (GgufFile f = GgufFile.open(model)) {
            ModelWeights w = ModelWeights.load(f);
            int ctx = nPrompt + maxK + 1;
            if (ctx > w.trainedContextLength()) throw new IllegalArgumentException("-p " + nPrompt + " exceeds the model's context");
            int[] toks = new SplittableRandom(seed).ints(ctx, 0, w.vocabSize()).toArray();
            try (Kernels k = KernelsProvider.create(backend, threads);
                 PackedWeights packed = pack ? packed(w, k) : PackedWeights.NONE;
                 ModelState s = w.newState(k, ctx, Math.max(512, maxK + 1), GgmlType.F16)) {
                for (int off = 0; off < nPrompt; off += 512) s.forward(toks, off, Math.min(512, nPrompt - off), false);
                double[][] ms = new double[maxK + 1][rounds];
                for (int warm = 0; warm < 3; warm++) {
                    for (int kk = 0; kk <= maxK; kk++) {
                        s.forward(toks, nPrompt, kk + 1, true);
                        s.truncate(nPrompt);
                    }
                }
                for (int r = 0; r < rounds; r++) {
                    for (int kk = 0; kk <= maxK; kk++) {
                        long t0 = System.nanoTime();
                        s.forward(toks, nPrompt, kk + 1, true);
                        ms[kk][r] = (System.nanoTime() - t0) / 1e6;
                        s.truncate(nPrompt);
                    }
                }
                double base = ParallelBench.pct(ms[0], 50);
                java.util.List<Map<String, Object>> rows = new java.util.ArrayList<>();
                for (int kk = 0; kk <= maxK; kk++) {
                    Map<String, Object> o = new LinkedHashMap<>();
                    double med = ParallelBench.pct(ms[kk], 50);
                    o.put("k", kk);
                    o.put("ms", round(med));
                    o.put("ratio", Math.round(med / base * 1000) / 1000.0);
                    rows.add(o);
                }
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("kernels", k.name());
                o.put("threads", k.threads());
                o.put("prompt_tokens", nPrompt);
                o.put("rounds", rounds);
                o.put("verify_curve", rows);
                return o;
            }
        }
    }

    /** Packs as Model.load does (before the run: the load time is not measured). */
    private static PackedWeights packed(ModelWeights w, Kernels k) {
        w.pack(k);
        return w.packed();
    }

    /**
     * Untimed runs before the measured ones: the whole prompt once (page cache, scratch sizes), then two short runs,
     * so that C2 has compiled most of the forward pass before timing starts: with a single warm-up run, perf showed
     * the C1/C2 compiler threads taking ~15% of the CPU time of the measured runs (deepseek2-shaped Q4_0, 2 threads),
     * competing with the kernel threads for the cores.
     */
    private static void warmUp(ModelState s, Kernels k, int[] prompt, int nGen) {
        once(s, k, prompt, Math.min(16, nGen));
        int[] shortPrompt = Arrays.copyOf(prompt, Math.min(prompt.length, 128));
        for (int i = 0; i < WARM_UP_SHORT_RUNS; i++) once(s, k, shortPrompt, Math.min(16, nGen));
    }

    /**
     * One run from an empty cache: the prompt in batches, the first token (argmax), then nGen single-token steps.
     * Returns seconds {prompt, time to first token, decode}.
     */
    private static double[] once(ModelState s, Kernels k, int[] prompt, int nGen) {
        s.truncate(0);
        int vocab = s.vocabSize();
        long t0 = System.nanoTime();
        for (int off = 0; off < prompt.length; off += s.maxBatch()) {
            s.forward(prompt, off, Math.min(s.maxBatch(), prompt.length - off), false);
        }
        long tPrompt = System.nanoTime();
        int[] tok = {k.argmax(s.logits(), vocab)};
        long tFirst = System.nanoTime();
        for (int i = 0; i < nGen; i++) {
            s.forward(tok, 0, 1, false);
            tok[0] = k.argmax(s.logits(), vocab);
        }
        long tEnd = System.nanoTime();
        return new double[] {(tPrompt - t0) / 1e9, (tFirst - t0) / 1e9, Math.max(1, tEnd - tFirst) / 1e9};
    }

    /**
     * The decode under a grammar: the prompt, then nGen greedy tokens chosen by the Sampler (logits copied to the heap,
     * the sampled token checked first, the mask when it is rejected). When the grammar completes (end of generation
     * is its choice) or allows nothing, the matcher starts over from the same logits, so the run always has nGen steps.
     */
    private static final class GrammarRun {
        private static final com.sun.management.ThreadMXBean MX =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        private final Sampler sampler;
        private final Tokenizer tok;
        private final int nGen;
        private final int[] token = new int[1];
        private double bestTps, sampleNs, allocPerToken;
        private long steps, masked, restarts;

        GrammarRun(Sampler sampler, Tokenizer tok, int nGen) {
            this.sampler = sampler;
            this.tok = tok;
            this.nGen = nGen;
        }

        /** Forgets the warm-up's figures (not the grammar's cached masks: a server keeps those too). */
        void reset() {
            bestTps = sampleNs = allocPerToken = 0;
            steps = masked = restarts = 0;
        }

        void once(ModelState s, int[] prompt) {
            s.truncate(0);
            for (int off = 0; off < prompt.length; off += s.maxBatch()) {
                s.forward(prompt, off, Math.min(s.maxBatch(), prompt.length - off), false);
            }
            sampler.grammar().reset();
            token[0] = next(s);
            long alloc = MX.getCurrentThreadAllocatedBytes(), t0 = System.nanoTime();
            for (int i = 0; i < nGen; i++) {
                s.forward(token, 0, 1, false);
                token[0] = next(s);
            }
            long t = Math.max(1, System.nanoTime() - t0);
            allocPerToken = (double) (MX.getCurrentThreadAllocatedBytes() - alloc) / nGen;
            bestTps = Math.max(bestTps, nGen / (t / 1e9));
        }

        private int next(ModelState s) {
            long t0 = System.nanoTime(), hits = sampler.grammar().maskHits() + sampler.grammar().maskMisses();
            int id = sampler.sample(s.logits());
            if (id == Sampler.NO_TOKEN || tok.isEog(id)) { // the grammar is complete (or stuck): a new document
                restarts++;
                sampler.grammar().reset();
                id = sampler.sample(s.logits());
                if (id == Sampler.NO_TOKEN || tok.isEog(id)) throw new IllegalStateException("the grammar allows no token at its start");
            }
            if (sampler.grammar().maskHits() + sampler.grammar().maskMisses() != hits) masked++;
            sampleNs += System.nanoTime() - t0;
            steps++;
            return id;
        }

        GrammarResult result(double tgTps) {
            return new GrammarResult(tgTps, bestTps, sampleNs / 1e3 / steps, (double) masked / steps,
                    sampler.grammar().maskMisses(), allocPerToken, (int) restarts);
        }
    }

    /** VmRSS of this process in MB, -1 when /proc is not there (not Linux). */
    static double rssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    String[] f = line.substring(6).trim().split("\\s+"); // "123456 kB"
                    return Long.parseLong(f[0]) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or an unexpected format: say unknown rather than fail the benchmark
        }
        return -1;
    }

    static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
