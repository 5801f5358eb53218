package dev.panamax;

/**
 * A generated token's log-probability under the model's raw distribution (softmax of its logits, before logit bias,
 * penalties, temperature and truncation: what OpenAI's and llama-server's {@code logprobs} report), with the most
 * likely alternatives at that position when they were asked for.
 *
 * @param token       the generated token
 * @param logprob     its natural-log probability
 * @param topTokens   the most likely tokens at this position, most likely first (ties: lower id first)
 * @param topLogprobs their log-probabilities
 */
public record TokenLogprob(int token, float logprob, int[] topTokens, float[] topLogprobs) {

    public TokenLogprob {
        if (topTokens.length != topLogprobs.length) throw new IllegalArgumentException("top tokens and logprobs differ in length");
        topTokens = topTokens.clone();
        topLogprobs = topLogprobs.clone();
    }

    @Override
    public int[] topTokens() {
        return topTokens.clone();
    }

    @Override
    public float[] topLogprobs() {
        return topLogprobs.clone();
    }

    public int topCount() {
        return topTokens.length;
    }

    public int topToken(int i) {
        return topTokens[i];
    }

    public float topLogprob(int i) {
        return topLogprobs[i];
    }
}
