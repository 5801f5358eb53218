package dev.panamax.cli;

import dev.panamax.tools.Imatrix;
import dev.panamax.tools.QuantFileType;
import dev.panamax.tools.Quantizer;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code panamax quantize IN OUT TYPE}: llama-quantize's output, byte for byte. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Quantize a GGUF model as llama.cpp's llama-quantize does (same bytes).")
final class QuantizeCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "Input GGUF (F32, F16, BF16; quantized tensors are requantized with a warning).")
    Path in;

    @Parameters(index = "1", description = "Output GGUF (must not be the input).")
    Path out;

    @Parameters(index = "2", description = "Type: f32 f16 bf16 q8_0 q4_0 q5_0 q4_k_s q4_k_m q6_k ... (llama.cpp's names).")
    String type;

    @Option(names = "--pure", description = "Every quantized tensor gets the default type (no per-tensor mix rules).")
    boolean pure;

    @Option(names = "--imatrix", description = "Importance matrix (GGUF, as written by panamax imatrix or llama-imatrix).")
    Path imatrix;

    @Option(names = "--threads", defaultValue = "0", description = "Worker threads (default: one per CPU).")
    int threads;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(in)) throw new java.io.FileNotFoundException("model file not found: " + in);
        PrintWriter err = spec.commandLine().getErr();
        Quantizer q = new Quantizer(QuantFileType.parse(type)).pure(pure).threads(threads);
        if (imatrix != null) {
            Imatrix m = Imatrix.read(imatrix);
            err.printf(Locale.ROOT, "imatrix: %d entries from %s (%d chunks)%n", m.size(), imatrix, m.chunkCount());
            q.imatrix(m);
        }
        boolean tty = System.console() != null && System.console().isTerminal();
        long t0 = System.nanoTime();
        q.progress((done, count, name, from, to, bytes) -> {
            if (tty) {
                int w = 30, fill = (int) ((long) w * done / count);
                err.printf(Locale.ROOT, "\r[%s%s] %d/%d %-40s", "#".repeat(fill), ".".repeat(w - fill), done, count,
                        name + " " + from + (from.equals(to) ? "" : " -> " + to));
                err.flush();
            }
        });
        Quantizer.Result r = q.quantize(in, out);
        if (tty) err.println();
        for (String w : r.warnings()) err.println("warning: " + w);
        err.printf(Locale.ROOT, "%s: %d tensors, %.2f MiB (%.2f BPW) -> %.2f MiB (%.2f BPW) in %.1f s%n", out, r.tensors(),
                r.bytesIn() / 1048576.0, r.bitsPerWeightIn(), r.bytesOut() / 1048576.0, r.bitsPerWeightOut(),
                (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
