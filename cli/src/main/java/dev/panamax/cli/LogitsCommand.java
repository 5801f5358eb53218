package dev.panamax.cli;

import dev.panamax.Model;
import dev.panamax.Session;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code panamax logits}: raw little-endian float32 [n_prompt][n_vocab], one row per prompt position. */
@Command(name = "logits", mixinStandardHelpOptions = true, description = "Write the logits of every prompt position.")
final class LogitsCommand implements Callable<Integer> {
    @Mixin
    ModelOptions mo = new ModelOptions();

    @ArgGroup(exclusive = true, multiplicity = "1")
    PromptInput input;

    @Option(names = {"-o", "--output"}, required = true, description = "Output file (float32 little-endian).")
    Path output;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        try (Model m = mo.load()) {
            int[] ids = input.ids(m.tokenizer());
            try (Session s = m.newSession(mo.ctx > 0 ? mo.ctx : Math.max(ids.length, Math.min(m.trainedContextLength(), 4096)))) {
                float[] logits = s.promptLogits(ids);
                ByteBuffer buf = ByteBuffer.allocate(logits.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                buf.asFloatBuffer().put(logits);
                try (FileChannel ch = FileChannel.open(output, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING)) {
                    while (buf.hasRemaining()) ch.write(buf);
                }
                spec.commandLine().getErr().println("wrote " + output + ": float32 [" + ids.length + "][" + m.vocabSize()
                        + "] (" + s.kernelsName() + ")");
            }
        }
        return 0;
    }
}
