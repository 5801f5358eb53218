package dev.panamax.cli;

import dev.panamax.Model;
import dev.panamax.tools.Imatrix;
import dev.panamax.tools.ImatrixCollector;
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

/** {@code panamax imatrix}: llama-imatrix's importance matrix, in its GGUF format. */
@Command(name = "imatrix", mixinStandardHelpOptions = true,
        description = "Compute an importance matrix (llama.cpp's GGUF imatrix format) for quantize --imatrix.")
final class ImatrixCommand implements Callable<Integer> {
    @Mixin
    ModelOptions mo = new ModelOptions();

    @Option(names = {"-f", "--file"}, required = true, description = "Calibration text.")
    Path file;

    @Option(names = {"-o", "--output"}, defaultValue = "imatrix.gguf", description = "Output file (default imatrix.gguf).")
    Path output;

    @Option(names = "--chunks", defaultValue = "-1", description = "At most this many chunks (default: all).")
    int chunks;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        int nCtx = mo.ctx > 0 ? mo.ctx : 512;
        mo.ctx = nCtx;
        String text = Files.readString(file, StandardCharsets.UTF_8);
        try (Model m = mo.load()) {
            int[] tokens = m.tokenizer().encode(text);
            long t0 = System.nanoTime();
            Imatrix im = ImatrixCollector.collect(m, tokens, nCtx, chunks, file.toString(), c -> {
                err.printf(Locale.ROOT, "[%d]", c);
                err.flush();
            });
            err.println();
            im.write(output);
            err.printf(Locale.ROOT, "wrote %s: %d entries, %d chunks of %d tokens in %.1f s%n", output, im.size(), im.chunkCount(),
                    nCtx, (System.nanoTime() - t0) / 1e9);
        }
        return 0;
    }
}
