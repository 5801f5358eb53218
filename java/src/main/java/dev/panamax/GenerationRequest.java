package dev.panamax;

import dev.panamax.sampling.SamplingParams;
import dev.panamax.spec.Speculation;
import java.util.List;
import java.util.Objects;

/**
 * One request to an {@link Engine}: the prompt as token ids (BOS included when wanted: {@link
 * dev.panamax.tokenizer.Tokenizer#encode(String)} adds it as the model asks), how to sample (the seed is in the
 * params: a request with a seed draws the same tokens whatever else the engine runs), the token limit and stop
 * strings (generation ends before the first occurrence of any; it is not part of the text). {@code ignoreEos}: an
 * end-of-generation token does not end the request (llama-server's ignore_eos; benchmarks). {@code logprobs}: -1 for
 * none, else every generated token's {@link TokenLogprob} with that many most likely alternatives (0 to {@link
 * #MAX_TOP_LOGPROBS}), in {@link Generation#logprobs()} and to {@link TokenListener#onToken(int, String, TokenLogprob)}.
 * {@code preservedTokens}: control tokens whose text goes into the output instead of vanishing (llama.cpp's preserved
 * tokens: the markers of a tool-call format, e.g. Mistral's {@code [TOOL_CALLS]}). {@code speculation}: how the engine
 * drafts tokens for this request ({@link Speculation}; null: the engine's default); speculation never changes the
 * tokens, only how many come out of each step.
 */
public record GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stop,
                                boolean ignoreEos, int logprobs, int[] preservedTokens, Speculation speculation) {

    public GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stop,
                             boolean ignoreEos, int logprobs, int[] preservedTokens) {
        this(promptTokens, maxTokens, sampling, stop, ignoreEos, logprobs, preservedTokens, null);
    }

    /** The most alternatives a request may ask for per token (OpenAI's limit). */
    public static final int MAX_TOP_LOGPROBS = 20;

    public GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stop) {
        this(promptTokens, maxTokens, sampling, stop, false, -1, null);
    }

    public GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stop, boolean ignoreEos) {
        this(promptTokens, maxTokens, sampling, stop, ignoreEos, -1, null);
    }

    public GenerationRequest {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(sampling, "sampling");
        stop = stop == null ? List.of() : List.copyOf(stop);
        if (promptTokens.length == 0) throw new IllegalArgumentException("empty prompt");
        if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        for (String s : stop) if (s.isEmpty()) throw new IllegalArgumentException("empty stop string");
        if (logprobs < -1 || logprobs > MAX_TOP_LOGPROBS) {
            throw new IllegalArgumentException("logprobs must be -1 (off) or in [0, " + MAX_TOP_LOGPROBS + "], got " + logprobs);
        }
        promptTokens = promptTokens.clone();
        preservedTokens = preservedTokens == null ? new int[0] : preservedTokens.clone();
    }

    public static GenerationRequest of(int[] promptTokens, int maxTokens, SamplingParams sampling) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, List.of());
    }

    public GenerationRequest withStop(List<String> stop) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, stop, ignoreEos, logprobs, preservedTokens, speculation);
    }

    public GenerationRequest withIgnoreEos(boolean on) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, stop, on, logprobs, preservedTokens, speculation);
    }

    /** Reports every generated token's log-probability and its {@code top} most likely alternatives (-1: off). */
    public GenerationRequest withLogprobs(int top) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, stop, ignoreEos, top, preservedTokens, speculation);
    }

    /** Control tokens whose text is kept in the output. */
    public GenerationRequest withPreservedTokens(int... ids) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, stop, ignoreEos, logprobs, ids, speculation);
    }

    /** How the engine drafts tokens for this request (null: the engine's default). */
    public GenerationRequest withSpeculation(Speculation s) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, stop, ignoreEos, logprobs, preservedTokens, s);
    }

    @Override
    public int[] preservedTokens() {
        return preservedTokens.clone();
    }

    @Override
    public int[] promptTokens() {
        return promptTokens.clone();
    }
}
