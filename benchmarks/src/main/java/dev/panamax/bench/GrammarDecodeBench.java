package dev.panamax.bench;

import com.sun.management.ThreadMXBean;
import dev.panamax.gguf.GgufFile;
import dev.panamax.grammar.Grammar;
import dev.panamax.sampling.Sampler;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tokenizer.Tokenizer;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * What a grammar adds to each decoded token, without the model: greedy decoding by the {@link Sampler} (as generate
 * and the engine use it) over random logits — like a random-weight model's, nearly every token the chain picks is one
 * the grammar must judge, and outside strings nearly every one is rejected — once with the grammar, once without, on
 * the same logits. Reports the sampler's time per token (thread CPU, p50 / p99 / mean; the first pass of a fresh
 * grammar instance computes its masks, the second pass repeats the same logits so every state is cached), how many
 * tokens needed the full mask, masks computed, and the Java heap bytes the second pass allocated (steady state: 0).
 * The decode-speed ratio under the grammar follows as t / (t + extra) for a forward pass of t.
 *
 * usage: GrammarDecodeBench VOCAB.gguf GRAMMAR.gbnf [tokens=2000] [seed=1]
 */
public final class GrammarDecodeBench {

    private static final ThreadMXBean MX = (ThreadMXBean) ManagementFactory.getThreadMXBean();

    public static void main(String[] args) throws Exception {
        Tokenizer tok;
        try (GgufFile f = GgufFile.open(Path.of(args[0]))) {
            tok = Tokenizer.fromGguf(f.metadata());
        }
        String gbnf = Files.readString(Path.of(args[1]));
        int tokens = args.length > 2 ? Integer.parseInt(args[2]) : 2000;
        long seed = args.length > 3 ? Long.parseLong(args[3]) : 1;
        int n = tok.vocabSize();
        // logits: windows of one array of random values (a fresh row per token would cost more than the sampler)
        SplittableRandom r = new SplittableRandom(seed);
        float[] pool = new float[n + 65536];
        for (int i = 0; i < pool.length; i++) pool[i] = (float) (r.nextDouble() * 2 - 1) * 8;
        long[] offsets = new long[tokens];
        for (int i = 0; i < tokens; i++) offsets[i] = 4L * r.nextInt(65536);
        MemorySegment logits = MemorySegment.ofArray(pool);

        // JIT warm-up on other instances of the grammar (distinct texts: parse() caches by text)
        for (int w = 0; w < 3; w++) {
            run(tok, Grammar.parse(gbnf + "\n# warm-up " + w), logits, offsets, n, false);
            run(tok, null, logits, offsets, n, false);
        }
        Grammar g = Grammar.parse(gbnf + "\n# measured");
        System.out.printf("vocabulary %d, %d tokens of random logits, seed %d%n", n, tokens, seed);
        run(tok, null, logits, offsets, n, true);
        run(tok, g, logits, offsets, n, true);
        run(tok, g, logits, offsets, n, true);
    }

    static void run(Tokenizer tok, Grammar g, MemorySegment logits, long[] offsets, int n, boolean print) {
        Sampler s = new Sampler(g == null ? SamplingParams.greedy() : SamplingParams.greedy().withGrammar(g), n, tok);
        long[] cpu = new long[offsets.length];
        int masked = 0, restarts = 0;
        long sum = 0, alloc = MX.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < offsets.length; i++) {
            long before = g == null ? 0 : s.grammar().maskHits() + s.grammar().maskMisses();
            long c = MX.getCurrentThreadCpuTime();
            int id = s.sample(logits, offsets[i]);
            if (g != null && (id == Sampler.NO_TOKEN || tok.isEog(id))) { // the document is complete: the next one
                restarts++;
                s.grammar().reset();
                id = s.sample(logits, offsets[i]);
            }
            cpu[i] = MX.getCurrentThreadCpuTime() - c;
            sum += cpu[i];
            if (g != null && s.grammar().maskHits() + s.grammar().maskMisses() != before) masked++;
        }
        alloc = MX.getCurrentThreadAllocatedBytes() - alloc;
        if (!print) return;
        Arrays.sort(cpu);
        System.out.printf("%-10s sampler per token: p50 %.1f us p99 %.1f us max %.2f ms mean %.1f us | masked %d of %d, "
                        + "masks computed %d, restarts %d | heap %d bytes%n", g == null ? "no grammar" : "grammar",
                cpu[cpu.length / 2] / 1e3, cpu[(int) (cpu.length * 0.99)] / 1e3, cpu[cpu.length - 1] / 1e6,
                sum / 1e3 / cpu.length, masked, cpu.length, g == null ? 0 : s.grammar().maskMisses(), restarts, alloc);
    }
}
