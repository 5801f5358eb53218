package dev.panamax.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The expert choice of a Mixture-of-Experts layer, token by token, as llama.cpp's {@code build_moe_ffn} makes it:
 * probabilities by softmax or sigmoid of the router logits; selection by those plus an optional bias (DeepSeek-V3's
 * {@code exp_probs_b}), within the best expert groups (group score = sum of its two best) when there are several;
 * weights = the unbiased probabilities of the chosen, optionally normalized to sum 1, then scaled. One per forward pass
 * (its scratch arrays are reused: a step allocates nothing); not thread-safe.
 */
final class ExpertRouter {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** llama.cpp clamps the sum of selected expert weights to the smallest normal F16 before normalizing. */
    private static final float MIN_WEIGHT_SUM = 6.103515625e-5f;

    private final int nExpert, nUsed, nGroups, nGroupsUsed;
    private final boolean softmax, normalize;
    private final float scale;
    private final float[] probs, select, groupScores;
    private final int[] chosen;
    private final boolean[] taken, groupTaken;

    /**
     * @param softmax   softmax gating (else sigmoid)
     * @param normalize the chosen weights divided by their sum
     * @param scale     expert_weights_scale; 0 or 1 mean none
     * @param nGroups   expert groups (1: no group limit); nGroupsUsed of them are kept
     */
    ExpertRouter(int nExpert, int nUsed, boolean softmax, boolean normalize, float scale, int nGroups, int nGroupsUsed) {
        if (nExpert <= 0 || nUsed <= 0 || nUsed > nExpert) throw new IllegalArgumentException("bad expert counts " + nUsed + " of " + nExpert);
        this.nExpert = nExpert;
        this.nUsed = nUsed;
        this.softmax = softmax;
        this.normalize = normalize;
        this.scale = scale != 0f ? scale : 1f;
        this.nGroups = nGroups;
        this.nGroupsUsed = nGroupsUsed;
        probs = new float[nExpert];
        select = new float[nExpert];
        chosen = new int[nUsed];
        taken = new boolean[nExpert];
        groupScores = new float[nGroups];
        groupTaken = new boolean[nGroups];
    }

    /**
     * Routes token t: reads its nExpert router logits (row t of {@code logits}), writes its nUsed expert ids (int32) and
     * weights (float) into row t of {@code ids} and {@code weights}. {@code bias}: nExpert floats added for the
     * selection only, or null.
     */
    void route(MemorySegment logits, int t, MemorySegment bias, MemorySegment ids, MemorySegment weights) {
        int ne = nExpert, used = nUsed;
        long lo = 4L * t * ne;
        if (softmax) {
            float max = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < ne; e++) max = Math.max(max, logits.get(F32, lo + 4L * e));
            float sum = 0;
            for (int e = 0; e < ne; e++) sum += probs[e] = (float) Math.exp(logits.get(F32, lo + 4L * e) - max);
            for (int e = 0; e < ne; e++) probs[e] /= sum;
        } else {
            for (int e = 0; e < ne; e++) probs[e] = (float) (1.0 / (1.0 + Math.exp(-logits.get(F32, lo + 4L * e))));
        }
        for (int e = 0; e < ne; e++) select[e] = probs[e] + (bias == null ? 0f : bias.get(F32, 4L * e));
        if (nGroups > 1) maskGroups();
        // top-k by selection score, ties to the lower index; a NaN score (broken router weights) counts as the lowest,
        // so every token still gets nUsed distinct experts
        Arrays.fill(taken, false);
        for (int j = 0; j < used; j++) {
            int best = bestUntaken(select, taken, ne);
            chosen[j] = best;
            taken[best] = true;
        }
        float sum = 0;
        for (int j = 0; j < used; j++) sum += probs[chosen[j]];
        float norm = normalize ? 1f / Math.max(sum, MIN_WEIGHT_SUM) : 1f;
        for (int j = 0; j < used; j++) {
            ids.setAtIndex(ValueLayout.JAVA_INT, (long) t * used + j, chosen[j]);
            weights.setAtIndex(ValueLayout.JAVA_FLOAT, (long) t * used + j, probs[chosen[j]] * norm * scale);
        }
    }

    /** Leaves in {@code select} only the experts of the best groups (others -inf); a group scores its two best. */
    private void maskGroups() {
        int per = nExpert / nGroups;
        float[] gs = groupScores;
        for (int g = 0; g < nGroups; g++) {
            float a = Float.NEGATIVE_INFINITY, b = Float.NEGATIVE_INFINITY;
            for (int e = g * per; e < (g + 1) * per; e++) {
                float s = select[e];
                if (s > a) { b = a; a = s; } else if (s > b) b = s;
            }
            gs[g] = a + b;
        }
        Arrays.fill(groupTaken, false);
        for (int j = 0; j < nGroupsUsed; j++) groupTaken[bestUntaken(gs, groupTaken, nGroups)] = true;
        for (int g = 0; g < nGroups; g++) {
            if (groupTaken[g]) continue;
            for (int e = g * per; e < (g + 1) * per; e++) select[e] = Float.NEGATIVE_INFINITY;
        }
    }

    /** The index of the highest score not taken yet, ties to the lower index, NaN below everything. */
    private static int bestUntaken(float[] score, boolean[] taken, int n) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            if (taken[i]) continue;
            if (best < 0 || score[i] > score[best] || Float.isNaN(score[best]) && !Float.isNaN(score[i])) best = i;
        }
        return best;
    }
}
