package dev.panamax.sampling;

import static org.junit.jupiter.api.Assertions.*;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SamplerTest {

    static float[] logits() {
        // token i has logit -i/4: a smooth distribution over 100 tokens, token 0 most likely
        float[] l = new float[100];
        for (int i = 0; i < l.length; i++) l[i] = -i / 4f;
        return l;
    }

    static int[] draw(SamplingParams p, int n) {
        Sampler s = new Sampler(p, 100);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = s.sample(logits());
        return out;
    }

    @Test
    void greedyIsArgmaxWithFirstOnTies() {
        float[] l = logits();
        l[37] = 5f;
        l[50] = 5f;
        assertEquals(37, new Sampler(SamplingParams.greedy(), 100).sample(l));
    }

    @Test
    void sameSeedSameTokensOtherSeedOtherTokens() {
        SamplingParams p = new SamplingParams(1f, 0, 1f, 0f, 1f, 64, 42);
        assertArrayEquals(draw(p, 200), draw(p, 200));
        assertFalse(java.util.Arrays.equals(draw(p, 200), draw(p.withSeed(43), 200)));
    }

    @Test
    void topKKeepsOnlyTheKMostLikely() {
        for (int t : draw(new SamplingParams(5f, 3, 1f, 0f, 1f, 64, 1), 300)) assertTrue(t < 3, "token " + t);
        Set<Integer> seen = new HashSet<>();
        for (int t : draw(new SamplingParams(5f, 3, 1f, 0f, 1f, 64, 1), 300)) seen.add(t);
        assertEquals(3, seen.size(), "a hot temperature reaches all three");
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        // p(0) = 1 - e^-1/4 ~ 0.221, p(0)+p(1) ~ 0.393, +p(2) ~ 0.528: top-p 0.5 keeps tokens 0..2
        Set<Integer> seen = new HashSet<>();
        for (int t : draw(new SamplingParams(1f, 0, 0.5f, 0f, 1f, 64, 3), 500)) seen.add(t);
        assertEquals(Set.of(0, 1, 2), seen);
    }

    @Test
    void minPDropsUnlikelyTokens() {
        // p(i)/p(0) = e^-i/4 >= 0.3 keeps i <= 4
        for (int t : draw(new SamplingParams(1f, 0, 1f, 0.3f, 1f, 64, 5), 500)) assertTrue(t <= 4, "token " + t);
    }

    @Test
    void temperatureSharpens() {
        int zerosCold = 0, zerosHot = 0;
        for (int t : draw(new SamplingParams(0.1f, 0, 1f, 0f, 1f, 64, 7), 400)) if (t == 0) zerosCold++;
        for (int t : draw(new SamplingParams(2f, 0, 1f, 0f, 1f, 64, 7), 400)) if (t == 0) zerosHot++;
        assertTrue(zerosCold > 330, "cold (p(0) ~ 0.92): " + zerosCold);
        assertTrue(zerosHot < 100, "hot (p(0) ~ 0.12): " + zerosHot);
    }

    @Test
    void repetitionPenaltyAsLlamaCpp() {
        float[] l = new float[4];
        l[0] = 2f;
        l[1] = 1.8f;
        l[2] = -1f;
        Sampler s = new Sampler(new SamplingParams(0f, 0, 1f, 0f, 2f, 64, 0), 4);
        s.accept(0);
        s.accept(0); // counted once
        assertEquals(1, s.sample(l.clone()), "2/2 = 1 < 1.8");
        Sampler t = new Sampler(new SamplingParams(0f, 0, 1f, 0f, 2f, 1, 0), 4);
        t.accept(0);
        t.accept(3); // window of 1: token 0 is forgotten
        assertEquals(0, t.sample(l.clone()));
    }

    @Test
    void badParametersAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, -1, 1f, 0f, 1f, 64, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0, 0f, 0f, 1f, 64, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0, 1f, 2f, 1f, 64, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(Float.NaN, 0, 1f, 0f, 1f, 64, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(SamplingParams.greedy(), 10).sample(new float[5]));
    }

    @Test
    void frequencyAndPresencePenaltiesSubtractByCountAsLlamaCpp() {
        // llama.cpp: logit -= count * freq + (count > 0) * present, over the last repeat_last_n tokens
        float[] l = {3f, 2.65f, 0f, 0f};
        SamplingParams p = SamplingParams.greedy().withPenalties(1f, 64, 0.3f, 0f);
        Sampler s = new Sampler(p, 4);
        s.accept(0);
        s.accept(0); // token 0: 3 - 2 * 0.3 = 2.4 < 2.65
        assertEquals(1, s.sample(l.clone()));
        Sampler once = new Sampler(p, 4);
        once.accept(0); // 3 - 0.3 = 2.7 > 2.65
        assertEquals(0, once.sample(l.clone()));
        Sampler presence = new Sampler(SamplingParams.greedy().withPenalties(1f, 64, 0f, 0.3f), 4);
        presence.accept(0);
        presence.accept(0);
        presence.accept(0); // presence counts once: 3 - 0.3 = 2.7 > 2.65 (thrice would be 2.1)
        assertEquals(0, presence.sample(l.clone()));
        Sampler both = new Sampler(SamplingParams.greedy().withPenalties(1f, 64, 0.1f, 0.3f), 4);
        both.accept(0); // 3 - 0.1 - 0.3 = 2.6 < 2.65
        assertEquals(1, both.sample(l.clone()));
        Sampler window = new Sampler(SamplingParams.greedy().withPenalties(1f, 2, 0.3f, 0f), 4);
        window.accept(0);
        window.accept(0);
        window.accept(3);
        window.accept(3); // both 0s left the window of 2
        assertEquals(0, window.sample(l.clone()));
        Sampler negative = new Sampler(SamplingParams.greedy().withPenalties(1f, 64, -1f, 0f), 4);
        negative.accept(1); // a negative penalty favours repeats: 2.5 + 1 = 3.5
        assertEquals(1, negative.sample(l.clone()));
    }

    @Test
    void logitBiasShiftsAndBansTokens() {
        float[] l = logits();
        Sampler s = new Sampler(SamplingParams.greedy().withLogitBias(java.util.Map.of(0, -100f, 5, 0.5f)), 100);
        assertEquals(1, s.sample(l.clone()), "token 0 banned, token 5 at -0.75 stays below token 1 at -0.25");
        Sampler up = new Sampler(SamplingParams.greedy().withLogitBias(java.util.Map.of(7, 2f)), 100);
        assertEquals(7, up.sample(l.clone()), "-1.75 + 2 beats 0");
        Sampler ban = new Sampler(new SamplingParams(1f, 0, 1f, 0f, 1f, 64, 3).withLogitBias(java.util.Map.of(0, Float.NEGATIVE_INFINITY)), 100);
        for (int i = 0; i < 500; i++) assertNotEquals(0, ban.sample(l.clone()));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(SamplingParams.greedy().withLogitBias(java.util.Map.of(100, 1f)), 100));
        assertThrows(IllegalArgumentException.class, () -> SamplingParams.greedy().withLogitBias(java.util.Map.of(-1, 1f)));
        assertThrows(IllegalArgumentException.class, () -> SamplingParams.greedy().withLogitBias(java.util.Map.of(1, Float.NaN)));
    }

    @Test
    void logprobsAreTheRawLogSoftmaxWithTopAlternatives() {
        float[] l = logits();
        l[42] = 0f; // ties with token 0: lower id first
        // bias and penalties change the choice, not the reported (raw) distribution
        Sampler s = new Sampler(SamplingParams.greedy().withLogitBias(java.util.Map.of(3, 10f)), 100);
        s.enableLogprobs(3);
        int tok = s.sample(l.clone());
        assertEquals(3, tok);
        double sum = 0;
        for (float v : l) sum += Math.exp(v);
        double lse = Math.log(sum);
        assertEquals(l[3] - lse, s.chosenLogprob(), 1e-5);
        assertEquals(3, s.topCount());
        assertArrayEquals(new int[] {0, 42, 1}, new int[] {s.topToken(0), s.topToken(1), s.topToken(2)});
        assertEquals(-lse, s.topLogprob(0), 1e-5);
        assertEquals(-0.25 - lse, s.topLogprob(2), 1e-5);
        Sampler none = new Sampler(SamplingParams.greedy(), 100);
        none.enableLogprobs(0);
        assertEquals(0, none.sample(l.clone()));
        assertEquals(0, none.topCount());
        assertEquals(-lse, none.chosenLogprob(), 1e-5);
    }
}
