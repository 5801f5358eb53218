package dev.panamax.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Generation;
import dev.panamax.Model;
import dev.panamax.Session;
import dev.panamax.sampling.SamplingParams;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code panamax generate}: streams the continuation of a prompt; {@code --json} prints DESIGN.md's object. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a prompt.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions mo = new ModelOptions();

    @ArgGroup(exclusive = true, multiplicity = "1")
    PromptInput input;

    @Option(names = {"-n", "--n-predict"}, description = "Tokens to generate (default: ${DEFAULT-VALUE}).", defaultValue = "64")
    int n;

    @Mixin
    SamplingOptions so = new SamplingOptions();

    @Option(names = "--json", description = "Print one JSON object instead of streaming text.")
    boolean json;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    GrammarOptions constraint;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        SamplingParams sp = so.params();
        if (constraint != null) sp = sp.withGrammar(constraint.grammar()); // before loading: a bad grammar fails fast
        try (Model m = mo.load()) {
            int[] ids = input.ids(m.tokenizer());
            try (Session session = m.newSession()) {
                if (!json && input.prompt != null) out.print(input.prompt);
                Generation g = session.generate(ids, n, sp, json ? null : (tok, text) -> {
                    out.print(text);
                    out.flush();
                });
                if (json) {
                    Map<String, Object> o = new LinkedHashMap<>();
                    o.put("prompt_tokens", g.promptTokens());
                    o.put("tokens", g.tokens());
                    o.put("text", g.text());
                    o.put("prompt_tps", round(g.promptTps()));
                    o.put("decode_tps", round(g.decodeTps()));
                    o.put("ttft_ms", round(g.ttftMs()));
                    o.put("stop_reason", g.stop().apiName());
                    out.println(new ObjectMapper().writeValueAsString(o));
                } else {
                    out.println();
                    spec.commandLine().getErr().printf("prompt %d tok, %.1f tok/s | gen %d tok, %.1f tok/s | ttft %.1f ms | %s%n",
                            g.promptTokens().length, g.promptTps(), g.tokens().length, g.decodeTps(), g.ttftMs(), g.stop());
                }
                out.flush();
            }
        }
        return 0;
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
