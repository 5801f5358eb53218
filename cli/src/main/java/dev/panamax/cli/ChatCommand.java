package dev.panamax.cli;

import dev.panamax.ContextOverflowException;
import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.sampling.SamplingParams;
import dev.panamax.tokenizer.ChatMessage;
import dev.panamax.tokenizer.ChatTemplate;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code panamax chat}: a conversation on stdin/stdout with the model's chat template. Each turn renders the whole
 * conversation, tokenizes it (special tokens parsed, as llama.cpp's chat does) and feeds only what the session's KV
 * cache does not already hold; the reply streams until an end-of-generation token or {@code -n}.
 */
@Command(name = "chat", mixinStandardHelpOptions = true,
        description = {"Chat with a model, using its chat template (tokenizer.chat_template; ChatML when it has none).",
                "Reads one user message per line from stdin (a pipe works too); /exit or end of input ends."})
final class ChatCommand implements Callable<Integer> {
    @Mixin
    ModelOptions mo = new ModelOptions();

    @Option(names = "--system", description = "System message that opens the conversation.")
    String system;

    @Option(names = {"-n", "--n-predict"}, description = "Most tokens per reply (default: ${DEFAULT-VALUE}).", defaultValue = "512")
    int n;

    @Mixin
    SamplingOptions so = new SamplingOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        SamplingParams sp = so.params();
        boolean interactive = System.console() != null;
        try (Model m = mo.load(); Session session = m.newSession()) {
            ChatTemplate template = m.chatTemplate();
            List<ChatMessage> messages = new ArrayList<>();
            if (system != null) messages.add(ChatMessage.system(system));
            if (interactive) err.println("chat: type a message, /exit or Ctrl-D to end");
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            while (true) {
                if (interactive) {
                    out.print("> ");
                    out.flush();
                }
                String line = in.readLine();
                if (line == null || line.strip().equals("/exit")) break;
                if (line.isBlank()) continue;
                messages.add(ChatMessage.user(line));
                int[] ids = template.tokenize(template.render(messages, true), m.tokenizer());
                Generation g;
                try {
                    g = session.generateFrom(ids, n, sp, (tok, text) -> {
                        out.print(text);
                        out.flush();
                    });
                } catch (ContextOverflowException e) {
                    out.println();
                    err.println("panamax: the conversation no longer fits in the context (" + e.getMessage()
                            + "); start again with a larger -c");
                    return 1;
                }
                out.println();
                out.flush();
                messages.add(ChatMessage.assistant(g.text()));
                err.printf("[%d prompt tok (%d reused), %.1f tok/s | %d gen tok, %.1f tok/s | %s]%n",
                        ids.length, ids.length - g.promptTokens().length, g.promptTps(), g.tokens().length,
                        g.decodeTps(), g.stop());
                err.flush();
                if (g.stop() == Generation.StopReason.CONTEXT_FULL) {
                    err.println("panamax: the context is full; start again with a larger -c");
                    return 1;
                }
            }
        }
        return 0;
    }
}
