package dev.panamax.sampling;

import dev.panamax.grammar.GrammarMatcher;
import dev.panamax.tokenizer.Tokenizer;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits according to {@link SamplingParams}. Buffers are allocated once for
 * the vocabulary size, so sampling a token allocates nothing. The same seed, parameters and logits give the same
 * tokens. Not thread-safe: one per generation stream. With a grammar ({@link SamplingParams#grammar()}) the chain's
 * choice is checked against it first; only when it is not allowed are the tokens the grammar does not allow masked and
 * the chain run again (llama.cpp's common sampler does the same). Each token sampled advances the grammar.
 */
public final class Sampler {

    /** What {@link #sample} returns when the grammar allows no token at all (not even end of generation). */
    public static final int NO_TOKEN = -1;

    private final SamplingParams p;
    private final int nVocab;
    private final float[] logit;   // candidate logits (working copy)
    private final int[] id;        // candidate ids, sorted by logit descending once truncation starts
    private final float[] prob;
    private final SplittableRandom rng;
    private final int[] biasId;    // logit bias, as arrays
    private final float[] biasValue;
    private final int[] recent;    // ring of the last repeatLastN accepted tokens
    private int recentCount, recentHead;
    private final int[] count;     // occurrences of each token in the ring (penalties on; else null)
    private final int[] seenAt;    // penalize(): the round a token was last penalized in, to do each token once
    private int round;
    // log-probabilities of the raw model distribution (before bias, penalties and temperature); off when raw == null
    private float[] raw;
    private int[] topId;
    private float[] topLogprob;
    private float chosenLogprob;
    private final GrammarMatcher grammar; // this stream's place in params.grammar(); null when unconstrained
    private float[] unmasked;             // the logits before the chain, when the grammar rejects its first choice

    /** A sampler without a grammar (a grammar needs the tokenizer: the other constructor). */
    public Sampler(SamplingParams params, int nVocab) {
        this(params, nVocab, null);
    }

    public Sampler(SamplingParams params, int nVocab, Tokenizer tokenizer) {
        if (nVocab <= 0) throw new IllegalArgumentException("vocabulary size must be positive, got " + nVocab);
        if (params.grammar() != null && tokenizer == null) {
            throw new IllegalArgumentException("a grammar needs the model's tokenizer to map tokens to text");
        }
        this.grammar = params.grammar() == null ? null : new GrammarMatcher(params.grammar(), tokenizer, nVocab);
        this.p = params;
        this.nVocab = nVocab;
        this.logit = new float[nVocab];
        this.id = new int[nVocab];
        this.prob = new float[nVocab];
        this.rng = new SplittableRandom(params.seed());
        this.recent = new int[Math.max(1, params.repeatLastN())];
        this.count = params.hasPenalties() ? new int[nVocab] : null;
        this.seenAt = params.hasPenalties() ? new int[nVocab] : null;
        biasId = new int[params.logitBias().size()];
        biasValue = new float[biasId.length];
        int i = 0;
        for (var e : params.logitBias().entrySet()) {
            if (e.getKey() >= nVocab) {
                throw new IllegalArgumentException("logit bias for token id " + e.getKey() + " outside the vocabulary [0, " + nVocab + ")");
            }
            biasId[i] = e.getKey();
            biasValue[i++] = e.getValue();
        }
    }

    /**
     * Makes every following {@link #sample} also compute the chosen token's log-probability and the {@code top} most
     * likely tokens' ({@link #chosenLogprob()}, {@link #topCount()}...), from the model's raw distribution as OpenAI and
     * llama-server report them. Costs one more pass over the vocabulary per token.
     */
    public void enableLogprobs(int top) {
        if (top < 0 || top > nVocab) throw new IllegalArgumentException("top logprobs must be in [0, " + nVocab + "], got " + top);
        raw = new float[nVocab];
        topId = new int[top];
        topLogprob = new float[top];
    }

    public SamplingParams params() {
        return p;
    }

    /** Records a token the sequence holds (prompt or generated), for the repetition penalty. */
    public void accept(int token) {
        if (p.repeatLastN() == 0) return;
        if (count != null) {
            if (recentCount == recent.length) {
                int old = recent[recentHead];
                if (old >= 0 && old < nVocab) count[old]--;
            }
            if (token >= 0 && token < nVocab) count[token]++;
        }
        recent[recentHead] = token;
        recentHead = (recentHead + 1) % recent.length;
        if (recentCount < recent.length) recentCount++;
    }

    /** Chooses a token from {@code nVocab} float logits in the segment. */
    public int sample(MemorySegment logits) {
        return sample(logits, 0);
    }

    /** Chooses a token from {@code nVocab} float logits starting at byte {@code offset} of the segment. */
    public int sample(MemorySegment logits, long offset) {
        MemorySegment.copy(logits, ValueLayout.JAVA_FLOAT_UNALIGNED, offset, logit, 0, nVocab);
        return sample(logit);
    }

    /** Chooses a token from these logits; the array is used as scratch when it is the sampler's own. */
    public int sample(float[] logits) {
        if (logits.length < nVocab) throw new IllegalArgumentException("logits hold " + logits.length + " values, vocabulary " + nVocab);
        if (logits != logit) System.arraycopy(logits, 0, logit, 0, nVocab);
        if (raw != null) System.arraycopy(logit, 0, raw, 0, nVocab);
        int chosen;
        if (grammar == null) {
            chosen = choose();
        } else {
            // the sampled token first (llama.cpp's common sampler, vLLM): the chain on the unmasked logits, and only
            // when the grammar does not allow its choice the full mask and the chain again. Greedy picks the same token
            // as masking first would (the best allowed token is the best token when it is allowed).
            boolean keep = biasId.length > 0 || count != null; // the chain changes logit in place: keep a copy
            if (keep) {
                if (unmasked == null) unmasked = new float[nVocab];
                System.arraycopy(logit, 0, unmasked, 0, nVocab);
            }
            chosen = choose();
            if (!grammar.accept(chosen)) {
                if (keep) System.arraycopy(unmasked, 0, logit, 0, nVocab);
                if (grammar.apply(logit) == 0) return NO_TOKEN;
                chosen = choose();
                // the chain can only land on a masked token through rounding in its last draw: take the best allowed one
                if (!grammar.accept(chosen)) grammar.accept(chosen = argmax());
            }
        }
        if (raw != null) logprobs(chosen);
        return chosen;
    }

    /** The grammar matcher of this stream (null when unconstrained). */
    public GrammarMatcher grammar() {
        return grammar;
    }

    private int choose() {
        for (int i = 0; i < biasId.length; i++) logit[biasId[i]] += biasValue[i];
        if (count != null) penalize();
        if (p.isGreedy()) return argmax();
        int n = nVocab;
        for (int i = 0; i < n; i++) id[i] = i;
        if (p.topK() > 0 && p.topK() < n) {
            n = p.topK();
            partialSort(n);
        } else {
            partialSort(n);
        }
        // probabilities of the (sorted) candidates, untempered as in llama.cpp's default chain
        softmax(n, 1f);
        if (p.topP() < 1f) {
            double cum = 0;
            int keep = n;
            for (int i = 0; i < n; i++) {
                cum += prob[i];
                if (cum >= p.topP()) { keep = i + 1; break; }
            }
            n = Math.max(1, keep);
            softmax(n, 1f);
        }
        if (p.minP() > 0f) {
            float floor = prob[0] * p.minP();
            int keep = 1;
            while (keep < n && prob[keep] >= floor) keep++;
            n = keep;
        }
        softmax(n, p.temperature());
        double r = rng.nextDouble(), cum = 0;
        for (int i = 0; i < n; i++) {
            cum += prob[i];
            if (r < cum) return id[i];
        }
        return id[n - 1];
    }

    /** llama.cpp's penalties sampler: each distinct recent token once, by its count. */
    private void penalize() {
        round++;
        for (int j = 0; j < recentCount; j++) {
            int t = recent[j];
            if (t < 0 || t >= nVocab || seenAt[t] == round) continue;
            seenAt[t] = round;
            float l = logit[t];
            l = l <= 0 ? l * p.repeatPenalty() : l / p.repeatPenalty();
            logit[t] = l - count[t] * p.frequencyPenalty() - p.presencePenalty();
        }
    }

    /** Log-softmax of the raw logits: the chosen token's value and the top ones (ties: lower id first). */
    private void logprobs(int chosen) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < nVocab; i++) if (raw[i] > max) max = raw[i];
        double sum = 0;
        for (int i = 0; i < nVocab; i++) sum += Math.exp(raw[i] - max);
        float lse = (float) (max + Math.log(sum));
        chosenLogprob = raw[chosen] - lse;
        int k = topId.length, n = 0;
        for (int i = 0; i < nVocab && k > 0; i++) { // bounded insertion: k is small (OpenAI allows 20)
            float v = raw[i];
            if (n == k && !(v > raw[topId[k - 1]])) continue;
            int j = n == k ? k - 1 : n++;
            while (j > 0 && v > raw[topId[j - 1]]) {
                topId[j] = topId[j - 1];
                j--;
            }
            topId[j] = i;
        }
        for (int i = 0; i < k; i++) topLogprob[i] = raw[topId[i]] - lse;
    }

    /** The log-probability of the last sampled token (after {@link #enableLogprobs}). */
    public float chosenLogprob() {
        return chosenLogprob;
    }

    /** How many top alternatives {@link #enableLogprobs} asked for (0 when off). */
    public int topCount() {
        return topId == null ? 0 : topId.length;
    }

    /** The i-th most likely token of the last step (raw distribution). */
    public int topToken(int i) {
        return topId[i];
    }

    public float topLogprob(int i) {
        return topLogprob[i];
    }

    public boolean logprobsEnabled() {
        return raw != null;
    }

    private int argmax() {
        int best = 0;
        for (int i = 1; i < nVocab; i++) if (logit[i] > logit[best]) best = i;
        return best;
    }

    /**
     * Moves the k highest-logit candidates to the front of id[], sorted descending (ties: lower id first). A
     * bounded insertion for small k, a full sort otherwise; both deterministic.
     */
    private void partialSort(int k) {
        if (k <= 64) {
            for (int i = 0; i < nVocab; i++) {
                int cand = i;
                int j = Math.min(i, k) - 1;
                if (i >= k && !(better(cand, id[k - 1]))) continue;
                if (i >= k) j = k - 2;
                while (j >= 0 && better(cand, id[j])) {
                    id[j + 1] = id[j];
                    j--;
                }
                id[j + 1] = cand;
            }
            return;
        }
        Integer[] boxed = new Integer[nVocab]; // rare path (top-k off or large): clarity over allocation
        for (int i = 0; i < nVocab; i++) boxed[i] = i;
        java.util.Arrays.sort(boxed, (a, b) -> better(a, b) ? -1 : better(b, a) ? 1 : 0);
        for (int i = 0; i < k; i++) id[i] = boxed[i];
    }

    private boolean better(int a, int b) {
        return logit[a] > logit[b] || (logit[a] == logit[b] && a < b);
    }

    private void softmax(int n, float temp) {
        float max = logit[id[0]];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp((logit[id[i]] - max) / temp);
            prob[i] = e;
            sum += e;
        }
        for (int i = 0; i < n; i++) prob[i] = (float) (prob[i] / sum);
    }
}
