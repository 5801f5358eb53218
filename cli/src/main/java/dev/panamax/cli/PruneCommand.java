package dev.panamax.cli;

import dev.panamax.tools.Pruner;
import dev.panamax.tools.QuantFileType;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code panamax prune}: drops the experts, feed-forward channels or KV groups that matter least on calibration text. */
@Command(name = "prune", mixinStandardHelpOptions = true,
        description = "Prune MoE experts, dense FFN channels or attention KV groups by importance on calibration text.")
final class PruneCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "Input GGUF model.")
    Path model;

    @Option(names = {"-o", "--output"}, required = true, description = "Output GGUF (must not be the input).")
    Path output;

    @Option(names = {"-f", "--file"}, required = true, description = "Calibration text (at least 16 tokens).")
    Path file;

    @Option(names = "--experts-keep", description = "Routed experts to keep per MoE layer (>= expert_used_count).")
    Integer expertsKeep;

    @Option(names = "--experts-drop-frac", description = "Fraction of each MoE layer's experts to drop, in [0, 1).")
    Double expertsDropFrac;

    @Option(names = "--expert-score", defaultValue = "reap",
            description = "How experts are ranked: reap (mean routing weight x output norm), frequency, mass (default reap).")
    String expertScore;

    @Option(names = "--ffn-keep-frac", description = "Fraction of dense feed-forward channels to keep, in (0, 1]; "
            + "rounded to a multiple of the output type's block (256 for K-quants, else 32).")
    Double ffnKeepFrac;

    @Option(names = "--heads-keep", description = "Query heads to keep per layer, in whole KV groups (llama family).")
    Integer headsKeep;

    @Option(names = "--random", description = "Drop the same amounts chosen at random with this seed (the baseline).")
    Long random;

    @Option(names = "--type", description = "Quantize the pruned model to this type in the same run (llama.cpp's names, as quantize).")
    String type;

    @Option(names = "--report", description = "Write what was dropped and why as JSON.")
    Path report;

    @Option(names = {"-c", "--ctx-size"}, defaultValue = "0", description = "Calibration chunk length (default min(512, context_length)).")
    int ctx;

    @Option(names = "--chunks", defaultValue = "-1", description = "At most this many calibration chunks (default: all).")
    int chunks;

    @Option(names = "--threads", defaultValue = "0", description = "Threads (default: one per CPU).")
    int threads;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        if (!Files.isRegularFile(model)) throw new java.io.FileNotFoundException("model file not found: " + model);
        if (!Files.isRegularFile(file)) throw new java.io.FileNotFoundException("calibration file not found: " + file);
        if (report != null && report.toAbsolutePath().normalize().equals(model.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("report " + report + " is the input model");
        }
        Pruner p = new Pruner().contextLength(ctx).maxChunks(chunks).threads(threads);
        if (expertsKeep != null) p.expertsKeep(expertsKeep);
        if (expertsDropFrac != null) p.expertsDropFraction(expertsDropFrac);
        if (ffnKeepFrac != null) p.ffnKeepFraction(ffnKeepFrac);
        if (headsKeep != null) p.headsKeep(headsKeep);
        if (random != null) p.random(random);
        try {
            p.expertScore(Pruner.ExpertScore.valueOf(expertScore.toUpperCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown --expert-score '" + expertScore + "' (known: reap frequency mass)");
        }
        if (type != null) p.type(QuantFileType.parse(type));
        p.log(s -> {
            if (!s.startsWith("calibration chunk")) err.println(s);
        });
        String text = Files.readString(file, StandardCharsets.UTF_8);
        long t0 = System.nanoTime();
        Pruner.Result r = p.prune(model, output, text);
        for (String w : r.warnings()) err.println("warning: " + w);
        if (report != null) Files.writeString(report, r.toJson() + "\n");
        err.printf(Locale.ROOT, "%s: %.2f MiB -> %.2f MiB (%d calibration tokens in %d chunks) in %.1f s%n", output,
                r.bytesIn() / 1048576.0, r.bytesOut() / 1048576.0, r.calibrationTokens(), r.chunks(), (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
