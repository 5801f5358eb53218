package dev.panamax.sampling;

import dev.panamax.grammar.Grammar;

/**
 * How the next token is chosen, with llama.cpp's meanings. {@code temperature <= 0} is greedy (argmax, deterministic,
 * the other settings ignored). Otherwise the chain runs in llama.cpp's order: repetition penalty over the last
 * {@code repeatLastN} tokens, top-k, top-p, min-p (these three on the untempered distribution), temperature, then a
 * draw from a generator seeded with {@code seed}.
 *
 * @param topK          keep the k most likely (0 = off)
 * @param topP          keep the smallest set whose probability reaches p (1 = off)
 * @param minP          drop tokens below minP times the top probability (0 = off)
 * @param repeatPenalty divide positive logits / multiply negative ones of recent tokens (1 = off)
 * @param repeatLastN   how many recent tokens the penalty looks at
 * @param grammar       the output must follow this grammar (tokens it does not allow are masked before the chain);
 *                      null = unconstrained
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
                             long seed, Grammar grammar) {

    public SamplingParams(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
                          long seed) {
        this(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, null);
    }

    public SamplingParams {
        if (Float.isNaN(temperature)) throw new IllegalArgumentException("temperature is NaN");
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (!(minP >= 0 && minP <= 1)) throw new IllegalArgumentException("min-p must be in [0, 1], got " + minP);
        if (!(repeatPenalty > 0)) throw new IllegalArgumentException("repeat penalty must be > 0, got " + repeatPenalty);
        if (repeatLastN < 0) throw new IllegalArgumentException("repeat-last-n must be >= 0, got " + repeatLastN);
    }

    /** Argmax. */
    public static SamplingParams greedy() {
        return new SamplingParams(0f, 0, 1f, 0f, 1f, 64, 0);
    }

    /** llama.cpp's common defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05, no repetition penalty. */
    public static SamplingParams defaults(long seed) {
        return new SamplingParams(0.8f, 40, 0.95f, 0.05f, 1f, 64, seed);
    }

    public SamplingParams withTemperature(float t) {
        return new SamplingParams(t, topK, topP, minP, repeatPenalty, repeatLastN, seed, grammar);
    }

    public SamplingParams withSeed(long s) {
        return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, s, grammar);
    }

    /** The same settings, constrained by this grammar (null: none). */
    public SamplingParams withGrammar(Grammar g) {
        return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, g);
    }

    public boolean isGreedy() {
        return temperature <= 0;
    }
}
