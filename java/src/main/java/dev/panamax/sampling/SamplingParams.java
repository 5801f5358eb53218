package dev.panamax.sampling;

import dev.panamax.grammar.Grammar;
import java.util.Map;
import java.util.TreeMap;

/**
 * How the next token is chosen, with llama.cpp's meanings. {@code temperature <= 0} is greedy (argmax after the logit
 * bias and the penalties, deterministic). Otherwise the chain runs in llama.cpp's order: logit bias, penalties over the
 * last {@code repeatLastN} tokens (repetition, frequency, presence), top-k, top-p, min-p (these three on the untempered
 * distribution), temperature, then a draw from a generator seeded with {@code seed}.
 *
 * @param topK             keep the k most likely (0 = off)
 * @param topP             keep the smallest set whose probability reaches p (1 = off)
 * @param minP             drop tokens below minP times the top probability (0 = off)
 * @param repeatPenalty    divide positive logits / multiply negative ones of recent tokens (1 = off)
 * @param repeatLastN      how many recent tokens the penalties look at (prompt tokens included, as in llama.cpp)
 * @param seed             the draw's seed
 * @param frequencyPenalty subtracted from a recent token's logit once per occurrence (OpenAI's frequency_penalty; 0 = off)
 * @param presencePenalty  subtracted once from the logit of every token among the recent ones (0 = off)
 * @param logitBias        added to these tokens' logits before anything else (OpenAI's logit_bias; -inf bans a token)
 * @param grammar          the output must follow this grammar (tokens it does not allow are masked before the chain);
 *                         null = unconstrained
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
                             long seed, float frequencyPenalty, float presencePenalty, Map<Integer, Float> logitBias,
                             Grammar grammar) {

    public SamplingParams {
        if (Float.isNaN(temperature)) throw new IllegalArgumentException("temperature is NaN");
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (!(minP >= 0 && minP <= 1)) throw new IllegalArgumentException("min-p must be in [0, 1], got " + minP);
        if (!(repeatPenalty > 0)) throw new IllegalArgumentException("repeat penalty must be > 0, got " + repeatPenalty);
        if (repeatLastN < 0) throw new IllegalArgumentException("repeat-last-n must be >= 0, got " + repeatLastN);
        if (!Float.isFinite(frequencyPenalty)) throw new IllegalArgumentException("frequency penalty must be finite, got " + frequencyPenalty);
        if (!Float.isFinite(presencePenalty)) throw new IllegalArgumentException("presence penalty must be finite, got " + presencePenalty);
        logitBias = logitBias == null ? Map.of() : sorted(logitBias);
    }

    /** Without frequency / presence penalties and logit bias. */
    public SamplingParams(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN, long seed) {
        this(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, 0f, 0f, Map.of(), null);
    }

    private static Map<Integer, Float> sorted(Map<Integer, Float> bias) {
        TreeMap<Integer, Float> m = new TreeMap<>();
        for (var e : bias.entrySet()) {
            Integer id = e.getKey();
            Float b = e.getValue();
            if (id == null || id < 0) throw new IllegalArgumentException("logit bias for a negative or missing token id: " + id);
            if (b == null || Float.isNaN(b) || b == Float.POSITIVE_INFINITY) {
                throw new IllegalArgumentException("logit bias of token " + id + " must be a number or -infinity, got " + b);
            }
            m.put(id, b);
        }
        return java.util.Collections.unmodifiableMap(m);
    }

    /** Argmax. */
    public static SamplingParams greedy() {
        return new SamplingParams(0f, 0, 1f, 0f, 1f, 64, 0);
    }

    /** llama.cpp's common defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05, no penalties. */
    public static SamplingParams defaults(long seed) {
        return new SamplingParams(0.8f, 40, 0.95f, 0.05f, 1f, 64, seed);
    }

    public SamplingParams withTemperature(float t) {
        return new SamplingParams(t, topK, topP, minP, repeatPenalty, repeatLastN, seed, frequencyPenalty, presencePenalty, logitBias, grammar);
    }

    public SamplingParams withSeed(long s) {
        return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, s, frequencyPenalty, presencePenalty, logitBias, grammar);
    }

    public SamplingParams withPenalties(float repeat, int lastN, float frequency, float presence) {
        return new SamplingParams(temperature, topK, topP, minP, repeat, lastN, seed, frequency, presence, logitBias, grammar);
    }

    public SamplingParams withLogitBias(Map<Integer, Float> bias) {
        return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, frequencyPenalty, presencePenalty, bias, grammar);
    }

    /** The same settings, constrained by this grammar (null: none). */
    public SamplingParams withGrammar(Grammar g) {
        return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, frequencyPenalty, presencePenalty, logitBias, g);
    }

    public boolean isGreedy() {
        return temperature <= 0;
    }

    /** Whether any of the three penalties changes logits. */
    public boolean hasPenalties() {
        return repeatLastN > 0 && (repeatPenalty != 1f || frequencyPenalty != 0f || presencePenalty != 0f);
    }
}
