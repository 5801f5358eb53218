package dev.panamax.cli;

import dev.panamax.spec.Speculation;
import picocli.CommandLine.Option;

/** Speculative decoding options shared by generate and bench (mixed in); serve has the same two. */
final class SpecOptions {
    @Option(names = "--spec", description = "Speculative decoding: off, ngram (prompt lookup in the sequence's own tokens),"
            + " mtp (the model's nextn layer, deepseek2 files that have one) or draft:M.gguf (a smaller model with the same"
            + " tokenizer); greedy and seeded output are unchanged (default: off).")
    String spec;

    @Option(names = "--spec-k", defaultValue = "0",
            description = "Most drafted tokens per step (default: ngram 8, mtp 1 = its one layer, draft 4); k per step adapts to the"
                    + " measured acceptance and step cost.")
    int k;

    @Option(names = "--spec-fixed", description = "Draft every step as many tokens as the drafter has, up to --spec-k (no adaptation; for measurements).")
    boolean fixed;

    @Option(names = "--spec-draft-q8", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Quantize a draft model stored in floats (F32/F16/BF16) to Q8_0 as it loads (default; --no-spec-draft-q8: the file as it is).")
    boolean quantizeDraft = true;

    Speculation speculation() {
        Speculation s = Speculation.parse(spec, k);
        return fixed && s.on() ? s.fixed() : s;
    }
}
