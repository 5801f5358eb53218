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
}
