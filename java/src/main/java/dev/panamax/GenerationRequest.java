package dev.panamax;

import dev.panamax.sampling.SamplingParams;
import java.util.List;
import java.util.Objects;

/**
 * One request to an {@link Engine}: the prompt as token ids (BOS included when wanted: {@link
 * dev.panamax.tokenizer.Tokenizer#encode(String)} adds it as the model asks), how to sample (the seed is in the
 * params: a request with a seed draws the same tokens whatever else the engine runs), the token limit and stop
 * strings (generation ends before the first occurrence of any; it is not part of the text). {@code ignoreEos}: an
 * end-of-generation token does not end the request (llama-server's ignore_eos; benchmarks).
 */
public record GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stop,
                                boolean ignoreEos) {

    public GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stop) {
        this(promptTokens, maxTokens, sampling, stop, false);
    }

    public GenerationRequest {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(sampling, "sampling");
        stop = stop == null ? List.of() : List.copyOf(stop);
        if (promptTokens.length == 0) throw new IllegalArgumentException("empty prompt");
        if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        for (String s : stop) if (s.isEmpty()) throw new IllegalArgumentException("empty stop string");
        promptTokens = promptTokens.clone();
    }

    public static GenerationRequest of(int[] promptTokens, int maxTokens, SamplingParams sampling) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, List.of());
    }

    public GenerationRequest withStop(List<String> stop) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, stop, ignoreEos);
    }

    public GenerationRequest withIgnoreEos(boolean on) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, stop, on);
    }

    @Override
    public int[] promptTokens() {
        return promptTokens.clone();
    }
}
