package dev.panamax.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamax.gguf.GgufFile;
import dev.panamax.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code panamax tokenize}: ids as llama.cpp's llama_tokenize(add_special=true, parse_special=false). */
@Command(name = "tokenize", mixinStandardHelpOptions = true, description = "Print the token ids of a text.")
final class TokenizeCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model (or vocab-only) file.")
    Path model;

    @Option(names = {"-p", "--prompt"}, required = true, description = "Text to tokenize.")
    String prompt;

    @Option(names = "--json", description = "Print one JSON object {\"tokens\":[...]}.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        int[] ids;
        try (GgufFile f = GgufFile.open(model)) {
            Tokenizer tok = Tokenizer.fromGguf(f.metadata());
            ids = tok.encode(prompt);
            var out = spec.commandLine().getOut();
            if (json) {
                out.println(new ObjectMapper().writeValueAsString(Map.of("tokens", ids)));
            } else {
                for (int id : ids) out.println(id + "\t" + new ObjectMapper().writeValueAsString(tok.tokenText(id)));
            }
            out.flush();
        }
        return 0;
    }
}
