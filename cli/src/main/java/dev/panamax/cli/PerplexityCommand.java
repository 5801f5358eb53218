package dev.panamax.cli;

import dev.panamax.Model;
import dev.panamax.tools.Perplexity;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code panamax perplexity}: llama-perplexity's method and output. */
@Command(name = "perplexity", mixinStandardHelpOptions = true,
        description = "Perplexity of a text as llama.cpp's llama-perplexity computes it; KL divergence against a base model.")
final class PerplexityCommand implements Callable<Integer> {
    @Mixin
    ModelOptions mo = new ModelOptions();

    @Option(names = {"-f", "--file"}, required = true, description = "Text file.")
    Path file;

    @Option(names = "--chunks", defaultValue = "-1", description = "At most this many chunks (default: all).")
    int chunks;

    @Option(names = "--kl-divergence-base", description = "Save this (base) model's log-probabilities to FILE.")
    Path klBase;

    @Option(names = "--kl-divergence", description = "Compare against the base log-probabilities saved in FILE.")
    Path klCompare;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        int nCtx = mo.ctx > 0 ? mo.ctx : 512;
        mo.ctx = nCtx;
        String text = Files.readString(file, StandardCharsets.UTF_8);
        try (Model m = mo.load()) {
            Perplexity p = new Perplexity(m, nCtx);
            if (klBase != null) p.saveBase(klBase);
            if (klCompare != null) p.compareTo(klCompare);
            int[] tokens = p.tokenize(text);
            int n = tokens.length / nCtx;
            if (chunks > 0) n = Math.min(n, chunks);
            out.printf(Locale.ROOT, "perplexity: tokenized %d tokens; calculating perplexity over %d chunks, n_ctx=%d%n", tokens.length, n, nCtx);
            Perplexity.Result r = p.run(tokens, chunks, c -> {
                out.printf(Locale.ROOT, "[%d]%.4f,", c.index(), c.ppl());
                out.flush();
            });
            out.println();
            out.printf(Locale.ROOT, "Final estimate: PPL = %.4f +/- %.5f%n", r.ppl(), r.pplError());
            out.printf(Locale.ROOT, "tokens scored: %d, %.1f tokens/s%n", r.scored(), r.tokensPerSecond());
            if (r.kl() != null) printKl(out, r.kl());
        }
        return 0;
    }

    /** The summary llama-perplexity --kl-divergence prints. */
    static void printKl(PrintWriter out, Perplexity.KlStats k) {
        out.println();
        out.println("====== Perplexity statistics ======");
        out.printf(Locale.ROOT, "Mean PPL(Q)                   : %10.6f ± %10.6f%n", k.pplModel(), k.pplModelError());
        out.printf(Locale.ROOT, "Mean PPL(base)                : %10.6f ± %10.6f%n", k.pplBase(), k.pplBaseError());
        out.printf(Locale.ROOT, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%%n", 100 * k.logPplCorrelation());
        out.printf(Locale.ROOT, "Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f%n", k.logPplRatio(), k.logPplRatioError());
        out.printf(Locale.ROOT, "Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f%n", k.pplRatio(), k.pplRatioError());
        out.printf(Locale.ROOT, "Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f%n", k.pplDiff(), k.pplDiffError());
        out.println();
        out.println("====== KL divergence statistics ======");
        out.printf(Locale.ROOT, "Mean    KLD: %10.6f ± %10.6f%n", k.klMean(), k.klMeanError());
        out.printf(Locale.ROOT, "Maximum KLD: %10.6f%n", k.klMax());
        out.printf(Locale.ROOT, "99.9%%   KLD: %10.6f%n", k.klP999());
        out.printf(Locale.ROOT, "99.0%%   KLD: %10.6f%n", k.klP99());
        out.printf(Locale.ROOT, "95.0%%   KLD: %10.6f%n", k.klP95());
        out.printf(Locale.ROOT, "90.0%%   KLD: %10.6f%n", k.klP90());
        out.printf(Locale.ROOT, "Median  KLD: %10.6f%n", k.klMedian());
        out.printf(Locale.ROOT, "10.0%%   KLD: %10.6f%n", k.klP10());
        out.printf(Locale.ROOT, " 5.0%%   KLD: %10.6f%n", k.klP5());
        out.printf(Locale.ROOT, " 1.0%%   KLD: %10.6f%n", k.klP1());
        out.printf(Locale.ROOT, "Minimum KLD: %10.6f%n", k.klMin());
        out.println();
        out.println("====== Token probability statistics ======");
        out.printf(Locale.ROOT, "RMS Δp    : %6.3f ± %5.3f %%%n", 100 * k.rmsDeltaP(), 100 * k.rmsDeltaPError());
        out.printf(Locale.ROOT, "Same top p: %6.3f ± %5.3f %%%n", 100 * k.sameTop(), 100 * k.sameTopError());
    }
}
