package dev.panamax.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.Engine;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.TokenListener;
import dev.panamax.spec.Speculation;
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

    @Mixin
    SpecOptions specOptions = new SpecOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        SamplingParams sp = so.params();
        if (constraint != null) sp = sp.withGrammar(constraint.grammar()); // before loading: a bad grammar fails fast
        try (Model m = mo.load()) {
            int[] ids = input.ids(m.tokenizer());
            Speculation specu = specOptions.speculation();
            TokenListener print = json ? null : (tok, text) -> {
                out.print(text);
                out.flush();
            };
            if (!json && input.prompt != null) out.print(input.prompt);
            Generation g;
            Engine.SpecStats st = null;
            if (specOptions.spec != null) { // speculation runs in the engine (--spec off too: the same path without it)
                int ctx = mo.ctx > 0 ? mo.ctx : Math.min(m.trainedContextLength(), 4096);
                try (Engine e = m.newEngine(Engine.Config.defaults().withMaxSequences(1).withContextLength(ctx).withSpeculation(specu).withDraftQuantization(specOptions.quantizeDraft))) {
                    g = e.submit(GenerationRequest.of(ids, n, sp), print).join();
                    st = e.specStats();
                }
            } else {
                try (Session session = m.newSession()) {
                    g = session.generate(ids, n, sp, print);
                }
            }
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("prompt_tokens", g.promptTokens());
                o.put("tokens", g.tokens());
                o.put("text", g.text());
                o.put("prompt_tps", round(g.promptTps()));
                o.put("decode_tps", round(g.decodeTps()));
                o.put("ttft_ms", round(g.ttftMs()));
                o.put("stop_reason", g.stop().apiName());
                if (st != null) o.put("spec", specJson(specu, st));
                out.println(new ObjectMapper().writeValueAsString(o));
            } else {
                out.println();
                spec.commandLine().getErr().printf("prompt %d tok, %.1f tok/s | gen %d tok, %.1f tok/s | ttft %.1f ms | %s%n",
                        g.promptTokens().length, g.promptTps(), g.tokens().length, g.decodeTps(), g.ttftMs(), g.stop());
                if (st != null) spec.commandLine().getErr().printf("speculation %s: drafted %d, accepted %d (%.0f%%), %.2f tokens per verify pass%n",
                        specu, st.drafted(), st.accepted(), 100 * st.acceptanceRate(), st.tokensPerPass());
            }
            out.flush();
        }
        return 0;
    }

    /** {"mode", "k", "drafted", "accepted", "acceptance", "passes", "tokens_per_pass"} of a run. */
    static Map<String, Object> specJson(Speculation s, Engine.SpecStats st) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("mode", s.mode().name().toLowerCase(java.util.Locale.ROOT));
        o.put("k", s.maxDraft());
        o.put("adaptive", s.adaptive());
        o.put("drafted", st.drafted());
        o.put("accepted", st.accepted());
        o.put("acceptance", round(st.acceptanceRate()));
        o.put("passes", st.passes());
        o.put("tokens_per_pass", round(st.tokensPerPass()));
        return o;
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
