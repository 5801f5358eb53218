package dev.panamax.spec;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The drafter and the policy on their own: prompt lookup's choices, the measured arms of the policy, parsing. */
class SpecUnitsTest {

    static int[] draft(int[] t, int k) {
        int[] out = new int[k];
        int n = NgramDrafter.draft(t, t.length, k, out, 0);
        return java.util.Arrays.copyOf(out, n);
    }

    @Test
    void promptLookupTakesTheLongestSuffixAtItsLatestOccurrence() {
        // "5 6" occurs at 1 (then 7 8) and at 6 (then 9); the last token 6 alone also follows 5 everywhere
        assertArrayEquals(new int[] {9, 5, 6}, draft(new int[] {1, 5, 6, 7, 8, 2, 5, 6, 9, 5, 6}, 3));
        // a longer suffix wins over a later shorter one: "3 4 5" at 0 beats "5" at 6
        assertArrayEquals(new int[] {1, 2}, draft(new int[] {3, 4, 5, 1, 2, 0, 5, 9, 3, 4, 5}, 2));
        // past the known tokens the occurrence's continuation repeats: a loop is drafted as far as k
        assertArrayEquals(new int[] {7, 8, 7, 8}, draft(new int[] {7, 8, 7, 8, 7, 8}, 4));
        assertArrayEquals(new int[] {4, 4, 4, 4, 4}, draft(new int[] {4, 4}, 5));
        assertArrayEquals(new int[] {9, 2, 9, 2, 9}, draft(new int[] {2, 9, 2}, 5));
        assertEquals(0, draft(new int[] {1, 2, 3, 4}, 4).length, "no earlier occurrence of the last token");
        assertEquals(0, draft(new int[] {1}, 4).length);
        assertEquals(0, NgramDrafter.draft(new int[] {1, 1, 1}, 3, 0, new int[0], 0));
    }

    /** A synthetic machine: arm a's step emits tok[a] tokens in ns[a] nanoseconds, +-20% of random noise. */
    static int[] run(DraftPolicy p, int decoding, int maxK, int steps, double[] tok, long[] ns) {
        return run(p, decoding, maxK, steps, tok, ns, 0.2);
    }

    static int[] run(DraftPolicy p, int decoding, int maxK, int steps, double[] tok, long[] ns, double noise) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(steps);
        int[] count = new int[DraftPolicy.CAPS.length];
        for (int i = 0; i < steps; i++) {
            int predicted = p.nextStepArm(decoding, maxK);
            assertEquals(predicted, p.nextStepArm(decoding, maxK), "a prediction takes no decision");
            int arm = p.stepArm(decoding, maxK);
            assertEquals(predicted, arm, "the prediction (an MTP layer runs on it) is the decision, step " + i);
            assertTrue(arm < DraftPolicy.arms(maxK), "arm " + arm + " within maxK " + maxK);
            count[arm]++;
            // tokens in hundredths (a step emits whole tokens: the mean is what counts)
            p.observeStep(decoding, arm, maxK, (int) Math.round(100 * tok[arm]), Math.round(100 * ns[arm] * (1 + noise * (2 * r.nextDouble() - 1))));
        }
        return count;
    }

    /** The throughput of the steps run, against the best arm's: what exploring and wrong choices cost. */
    static double share(int[] count, double[] tok, long[] ns) {
        double t = 0, best = 0;
        int steps = 0;
        for (int a = 0; a < tok.length; a++) {
            t += count[a] * tok[a] / ns[a];
            steps += count[a];
            best = Math.max(best, tok[a] / ns[a]);
        }
        return t / steps / best;
    }

    @Test
    void armsAreTheCapsUpToK() {
        assertEquals(2, DraftPolicy.arms(1)); // MTP: off, 1
        assertEquals(5, DraftPolicy.arms(4)); // draft model: 0..4
        assertEquals(7, DraftPolicy.arms(8)); // n-gram: 0, 1, 2, 3, 4, 6, 8
        assertEquals(6, DraftPolicy.arms(5));
        assertEquals(5, DraftPolicy.cap(5, 5));
        assertEquals(1, DraftPolicy.arms(0));
    }

    @Test
    void theBestCapIsFoundAndKept() {
        // the KJV pair at one stream: k = 2 gives 1.33x plain decoding, k = 1 1.15x, k = 3 1.22x, k = 4 1.1x
        DraftPolicy p = new DraftPolicy(8);
        double[] tok = {1, 1.62, 2.17, 2.34, 2.4};
        long[] ns = {1000, 1409, 1632, 1918, 2182};
        int[] n = run(p, 1, 4, 2000, tok, ns);
        assertEquals(2, p.best(1));
        assertTrue(n[2] > 2000 * 0.8, "steps at the best cap: " + java.util.Arrays.toString(n));
        assertTrue(share(n, tok, ns) > 0.96, "throughput against the best arm's: " + share(n, tok, ns) + ", " + java.util.Arrays.toString(n));
        for (int a = 0; a < 5; a++) assertTrue(n[a] >= DraftPolicy.AB_WARMUP, "every arm measured and tried: " + java.util.Arrays.toString(n));
        // the world changes (the text is no longer guessable): plain decoding wins within a few tries
        double[] bad = {1, 1.05, 1.08, 1.1, 1.1};
        int[] m = run(p, 1, 4, 3 * DraftPolicy.AB_EXPLORE_MAX, bad, ns);
        assertEquals(0, p.best(1));
        assertTrue(m[0] > 3 * DraftPolicy.AB_EXPLORE_MAX * 0.85, "plain decoding most of the time: " + java.util.Arrays.toString(m));
        assertTrue(share(m, bad, ns) > 0.96, "throughput against plain decoding's: " + share(m, bad, ns));
    }

    @Test
    void plainDecodingIsKeptNearATieAndCountsAreSeparate() {
        DraftPolicy p = new DraftPolicy(8);
        // drafting 1% faster: within the margin, plain decoding stays (noise of +-5%: the margin is not a noise filter)
        run(p, 2, 1, 400, new double[] {100, 101}, new long[] {1_000_000, 1_000_000}, 0.05);
        assertEquals(0, p.best(2));
        // at 1 sequence drafting pays; its count is measured on its own
        run(p, 1, 1, 400, new double[] {1, 1.6}, new long[] {1000, 1200});
        assertEquals(1, p.best(1));
        assertEquals(0, p.best(2));
        assertEquals(1.6 / 1200 * 1e9, p.stepTokensPerSecond(1, 1), 0.15 * 1.6 / 1200 * 1e9);
    }

    @Test
    void capsBeyondAFarBehindOneAreNotTried() {
        // 8 streams: every drafting step is slower, the more so the larger the cap
        DraftPolicy p = new DraftPolicy(8);
        double[] tok = {8, 10, 11, 11.5, 12};
        long[] ns = {1000, 1700, 2300, 2900, 3500};
        run(p, 8, 4, 400, tok, ns); // warm-up measures every arm once
        int[] n = run(p, 8, 4, 4000, tok, ns);
        assertEquals(0, p.best(8));
        // cap 2 only when noise brings cap 1 near 0.8x; caps 3 and 4 never
        assertEquals(0, n[3] + n[4], "caps beyond far-behind ones: " + java.util.Arrays.toString(n));
        assertTrue(n[1] > 0 && n[1] + n[2] <= 4000 / 50, "tries: " + java.util.Arrays.toString(n));
    }

    @Test
    void anOutlierStepDoesNotLockTheBestArmOut() {
        DraftPolicy p = new DraftPolicy(4);
        double[] tok = {1, 2};
        long[] ns = {1000, 1500};
        run(p, 1, 1, 200, tok, ns);
        assertEquals(1, p.best(1));
        int arm = p.stepArm(1, 1);
        p.observeStep(1, arm, 1, 200, 5_000_000); // a preempted step: 33x its arm's mean
        run(p, 1, 1, 2, tok, ns);
        assertEquals(1, p.best(1), "one step's stall counts at most " + DraftPolicy.OUTLIER + "x the mean");
    }

    @Test
    void parsing() {
        assertEquals(Speculation.OFF, Speculation.parse("off", 3));
        assertEquals(Speculation.OFF, Speculation.parse(null, 0));
        assertEquals(new Speculation(Speculation.Mode.NGRAM, 8), Speculation.parse("ngram", 0));
        assertEquals(new Speculation(Speculation.Mode.MTP, 2), Speculation.parse("MTP", 2));
        assertThrows(IllegalArgumentException.class, () -> Speculation.parse("eagle", 0));
        assertEquals(Speculation.draft(java.nio.file.Path.of("dir/m.gguf"), 4), Speculation.parse("draft:dir/m.gguf", 0));
        assertEquals(new Speculation(Speculation.Mode.DRAFT, 6), Speculation.parse("draft", 6));
        assertThrows(IllegalArgumentException.class, () -> Speculation.parse("draft:", 0));
        assertThrows(IllegalArgumentException.class, () -> new Speculation(Speculation.Mode.NGRAM, Speculation.MAX_DRAFT + 1));
        assertFalse(Speculation.parse("ngram", 4).fixed().adaptive());
    }

    static int[] poolDraft(NgramPool pool, int[] t, int k) {
        int[] out = new int[k];
        int n = pool.draft(t, t.length, k, out, 0);
        return java.util.Arrays.copyOf(out, n);
    }

    @Test
    void ngramPoolDraftsWhatFollowedInEarlierText() {
        NgramPool pool = new NgramPool(10);
        pool.add(new int[] {1, 2, 3, 4, 5, 6, 7}, 7);
        // "2 3" was followed by 4, then "3 4" by 5, ...: chained lookups continue the earlier text
        assertArrayEquals(new int[] {4, 5, 6}, poolDraft(pool, new int[] {9, 9, 2, 3}, 3));
        assertArrayEquals(new int[] {6, 7}, poolDraft(pool, new int[] {4, 5}, 5), "stops where the text ended");
        assertEquals(0, poolDraft(pool, new int[] {8, 3}, 3).length, "one token is not a key; 8 3 was never seen");
        // the latest text wins, and a longer n-gram overrules a shorter one
        pool.add(new int[] {2, 3, 9}, 3);
        assertArrayEquals(new int[] {9}, poolDraft(pool, new int[] {8, 2, 3}, 1));
        pool.add(new int[] {7, 2, 3, 11}, 4);
        assertArrayEquals(new int[] {11}, poolDraft(pool, new int[] {7, 2, 3}, 1));
        assertArrayEquals(new int[] {11}, poolDraft(pool, new int[] {0, 2, 3}, 1), "2 3 -> 11 is the latest");
        pool.add(new int[] {5, 2, 3, 12}, 4);
        assertArrayEquals(new int[] {11}, poolDraft(pool, new int[] {7, 2, 3}, 1), "7 2 3 -> 11 still");
        assertThrows(IllegalArgumentException.class, () -> pool.add(new int[] {1, -1}, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> pool.add(new int[] {1, 2}, 3));
    }

    @Test
    void ngramPoolIsBoundedAndSafeToFillWhileDrafting() throws Exception {
        NgramPool pool = new NgramPool(8);
        long bytes = pool.bytes();
        java.util.SplittableRandom r = new java.util.SplittableRandom(1);
        int[] text = new int[4096];
        for (int i = 0; i < text.length; i++) text[i] = r.nextInt(50);
        Thread writer = new Thread(() -> {
            for (int i = 0; i < 200; i++) pool.add(text, text.length);
        });
        writer.start();
        int[] out = new int[8];
        int drafted = 0;
        while (writer.isAlive()) {
            int at = 4 + r.nextInt(text.length - 4);
            int n = pool.draft(text, at, 8, out, 0);
            for (int j = 0; j < n; j++) assertTrue(out[j] >= 0 && out[j] < 50, "a token that was added: " + out[j]);
            drafted += n;
        }
        writer.join();
        assertEquals(bytes, pool.bytes());
        assertEquals(2048, bytes);
        assertTrue(drafted > 0);
    }
}
