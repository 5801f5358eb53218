package dev.panamax.cli;

import dev.panamax.tokenizer.Tokenizer;
import picocli.CommandLine.Option;

/** The prompt of a model command: text (tokenized as llama.cpp does) or explicit token ids; exactly one. */
final class PromptInput {
    @Option(names = {"-p", "--prompt"}, description = "Prompt text (BOS added as the model asks).")
    String prompt;

    @Option(names = "--tokens", description = "Prompt token ids, comma-separated.")
    String tokens;

    /** The prompt's token ids; never empty. */
    int[] ids(Tokenizer tokenizer) {
        int[] ids = tokens != null ? ModelOptions.parseTokens(tokens) : tokenizer.encode(prompt);
        if (ids.length == 0) throw new IllegalArgumentException("the prompt has no tokens");
        return ids;
    }
}
