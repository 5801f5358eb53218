package dev.panamax.cli;

import dev.panamax.sampling.SamplingParams;
import picocli.CommandLine.Option;

/** Sampling options shared by the commands that generate (mixed in). */
final class SamplingOptions {
    @Option(names = "--temp", description = "Temperature; 0 is greedy (default: ${DEFAULT-VALUE}).", defaultValue = "0.8")
    float temp;

    @Option(names = "--top-k", defaultValue = "40", description = "Top-k (0 = off, default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", description = "Top-p (default: ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--min-p", defaultValue = "0.05", description = "Min-p (default: ${DEFAULT-VALUE}).")
    float minP;

    @Option(names = "--repeat-penalty", defaultValue = "1.0", description = "Repetition penalty (default: ${DEFAULT-VALUE}).")
    float repeatPenalty;

    @Option(names = "--seed", description = "Sampling seed (default: random).")
    Long seed;

    SamplingParams params() {
        return new SamplingParams(temp, topK, topP, minP, repeatPenalty, 64, seed != null ? seed : System.nanoTime());
    }
}
