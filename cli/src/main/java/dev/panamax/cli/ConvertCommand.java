package dev.panamax.cli;

import dev.panamax.convert.OnnxBertConverter;
import dev.panamax.embed.Pooling;
import dev.panamax.tools.QuantFileType;
import java.io.FileNotFoundException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code panamax convert IN.onnx [--tokenizer tokenizer.json] -o OUT.gguf [--type f32|f16|bf16|q8_0]}. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert a BERT-family sentence-transformers ONNX export (e.g. all-MiniLM-L6-v2) to a bert GGUF as llama.cpp's converter lays it out.")
final class ConvertCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "The ONNX model (weights inside the file).")
    Path in;

    @Option(names = "--tokenizer", description = "Hugging Face tokenizer.json (WordPiece); default: tokenizer.json beside the model, "
            + "or NAME-tokenizer.json for NAME.onnx.")
    Path tokenizer;

    @Option(names = {"-o", "--output"}, required = true, description = "Output GGUF.")
    Path out;

    @Option(names = "--type", defaultValue = "f32", description = "f32 (the weights as they are), f16, bf16 or q8_0 (then quantized as panamax quantize does).")
    String type;

    @Option(names = "--pooling", defaultValue = "mean", description = "bert.pooling_type written: mean (sentence-transformers), cls, none.")
    String pooling;

    @Option(names = "--name", description = "general.name (default: the file name).")
    String name;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(in)) throw new FileNotFoundException("model file not found: " + in);
        Path tok = tokenizer;
        if (tok == null) {
            String base = in.getFileName().toString().replaceFirst("\\.onnx$", "");
            Path dir = in.toAbsolutePath().getParent();
            tok = Files.isRegularFile(dir.resolve(base + "-tokenizer.json")) ? dir.resolve(base + "-tokenizer.json") : dir.resolve("tokenizer.json");
        }
        if (!Files.isRegularFile(tok)) throw new FileNotFoundException("tokenizer.json not found: " + tok + " (pass --tokenizer)");
        QuantFileType t = switch (type.toLowerCase(Locale.ROOT)) {
            case "f32" -> QuantFileType.F32;
            case "f16" -> QuantFileType.F16;
            case "bf16" -> QuantFileType.BF16;
            case "q8_0" -> QuantFileType.Q8_0;
            default -> throw new ParameterException(spec.commandLine(), "--type: f32, f16, bf16 or q8_0 (quantize further with panamax quantize), got " + type);
        };
        Pooling p = switch (pooling.toLowerCase(Locale.ROOT)) {
            case "mean" -> Pooling.MEAN;
            case "cls" -> Pooling.CLS;
            case "none" -> Pooling.NONE;
            default -> throw new ParameterException(spec.commandLine(), "--pooling: mean, cls or none, got " + pooling);
        };
        String n = name != null ? name : in.getFileName().toString().replaceFirst("\\.onnx$", "");
        long t0 = System.nanoTime();
        OnnxBertConverter.Result r = OnnxBertConverter.convert(in, tok, out, t, p, n);
        spec.commandLine().getErr().printf(Locale.ROOT,
                "%s: bert, %d layers, width %d, %d heads, ffn %d, context %d, eps %g, vocab %d, %d tensors, %s, %.2f MiB in %.1f s%n", out,
                r.layers(), r.width(), r.heads(), r.ffn(), r.context(), r.epsilon(), r.vocab(), r.tensors(), type.toLowerCase(Locale.ROOT),
                Files.size(out) / 1048576.0, (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
