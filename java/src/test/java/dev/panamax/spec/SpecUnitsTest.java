package dev.panamax.spec;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The drafter and the policy on their own: prompt lookup's choices, k from costs and acceptance, parsing. */
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

    /** Measured past the cold first passes. */
    static void observe(DraftPolicy p, int rows, long nanos) {
        for (int i = 0; i <= DraftPolicy.COLD; i++) p.observe(rows, nanos);
    }

    @Test
    void coldMeasurementsDoNotStick() {
        DraftPolicy p = new DraftPolicy(8);
        p.observe(2, 1_000_000); // the first pass over two rows, JIT still cold
        for (int i = 0; i < DraftPolicy.COLD + 3; i++) p.observe(2, 1000);
        assertEquals(1000, p.cost(2), 1e-9);
    }

    @Test
    void theStepSwitchFollowsWholeStepThroughput() {
        DraftPolicy p = new DraftPolicy(64, 8);
        // drafting allowed: 2 tokens per 3 ms; not: 1 token per 1 ms (drafting does not pay at 4 sequences)
        int on = 0;
        for (int i = 0; i < 400; i++) {
            boolean predicted = p.nextStepDrafts(4);
            boolean spec = p.stepMode(4) != DraftPolicy.NO_DRAFTS;
            assertEquals(predicted, spec, "the prediction is the decision, step " + i);
            if (spec) on++;
            p.observeStep(4, spec, spec ? 2 : 1, spec ? 3_000_000 : 1_000_000);
        }
        // warm-up: blocks of AB_BLOCK steps per arm, the first of each block (a change of arm) not measured
        int b = DraftPolicy.AB_BLOCK, warm = (DraftPolicy.COLD + DraftPolicy.AB_WARMUP + b - 2) / (b - 1) * b;
        // a try (block) 32 steps after the decision; it finds drafting far behind (0.67x): the next waits the longest gap
        assertTrue(on <= warm + 2 * b, "drafting steps " + on);
        assertTrue(on >= warm + b, "the losing arm is still tried: " + on);
        assertEquals(1000, p.stepTokensPerSecond(4, false), 1e-6);
        assertFalse(p.drafting(4));
        // the world changes (the text turns copyable): drafting now gives 4 tokens per 1.5 ms; a try finds it
        int after = -1;
        for (int i = 0; i < 2 * DraftPolicy.AB_EXPLORE_MAX && after < 0; i++) {
            boolean predicted = p.nextStepDrafts(4);
            assertEquals(predicted, p.nextStepDrafts(4), "a prediction takes no decision");
            boolean spec = p.stepMode(4) != DraftPolicy.NO_DRAFTS;
            assertEquals(predicted, spec, "the prediction (an MTP layer runs on it) is the decision, step " + i);
            p.observeStep(4, spec, spec ? 4 : 1, spec ? 1_500_000 : 1_000_000);
            if (p.drafting(4)) after = i;
        }
        assertTrue(after >= 0 && after <= DraftPolicy.AB_EXPLORE_MAX + b, "drafting chosen again after " + after + " steps");
        // near a tie (drafting 1% faster) plain decoding is kept: never slower
        DraftPolicy tie = new DraftPolicy(64, 8);
        for (int i = 0; i < 200; i++) {
            boolean spec = tie.stepMode(2) != DraftPolicy.NO_DRAFTS;
            tie.observeStep(2, spec, spec ? 101 : 100, 1_000_000);
        }
        assertFalse(tie.drafting(2));
        // at 1 sequence drafting pays: allowed nearly always
        int on1 = 0;
        for (int i = 0; i < 400; i++) {
            boolean spec = p.stepMode(1) != DraftPolicy.NO_DRAFTS;
            if (spec) on1++;
            p.observeStep(1, spec, spec ? 3 : 1, spec ? 1_500_000 : 1_000_000);
        }
        assertTrue(on1 > 400 - 400 / DraftPolicy.AB_EXPLORE - 2 * (DraftPolicy.COLD + DraftPolicy.AB_WARMUP) - 2, "drafting steps " + on1);
    }

    @Test
    void kFollowsAcceptanceAndMeasuredCost() {
        DraftPolicy p = new DraftPolicy(64);
        // unmeasured: extra rows are nearly free, so good drafts are worth several rows and bad ones none
        assertTrue(p.choose(1, 1, 0.8, 8) >= 3, "k " + p.choose(1, 1, 0.8, 8));
        assertEquals(0, p.choose(1, 1, 0.02, 8));
        // measured: every row costs as much as a whole decode step (compute-bound): drafting never pays
        for (int r = 1; r <= 64; r++) observe(p, r, 1000L * r);
        assertEquals(0, p.choose(1, 1, 0.9, 8));
        // bandwidth-bound: 9 rows cost 1.2 steps; a busy step of 60 rows with 60 sequences has no room to gain
        DraftPolicy q = new DraftPolicy(64);
        for (int r = 1; r <= 64; r++) observe(q, r, 1000 + 25L * (r - 1) + (r > 40 ? 400L * (r - 40) : 0));
        assertTrue(q.choose(1, 1, 0.7, 8) >= 3);
        assertEquals(0, q.choose(60, 60, 0.7, 4));
        // interpolation between measured row counts, prior slope beyond them
        DraftPolicy u = new DraftPolicy(16);
        observe(u, 1, 100);
        observe(u, 5, 140);
        assertEquals(120, u.cost(3), 1e-9);
        assertEquals(140 * (1 + DraftPolicy.PRIOR_ROW_COST * 2), u.cost(7), 1e-9);
    }

    @Test
    void acceptanceLearnsForgetsAndProbes() {
        DraftPolicy.Acceptance a = new DraftPolicy.Acceptance();
        assertEquals(0.5, a.rate(), 1e-9);
        for (int i = 0; i < 20; i++) a.update(4, 4);
        assertTrue(a.rate() > 0.95, "all accepted: " + a.rate());
        for (int i = 0; i < 40; i++) a.update(4, 0);
        assertTrue(a.rate() < 0.1, "all rejected at the first draft: " + a.rate());
        for (int i = 0; i < 200; i++) a.idle();
        assertEquals(0.5, a.rate(), 0.05, "back towards the prior while nothing is drafted");
        DraftPolicy p = new DraftPolicy(8);
        for (int r = 1; r <= 8; r++) observe(p, r, 1000L * r);
        DraftPolicy.Acceptance b = new DraftPolicy.Acceptance();
        int drafted = 0;
        for (int i = 0; i < 32; i++) if (p.choose(1, 1, b.rate(), 4, b) > 0) drafted++;
        assertEquals(32 / DraftPolicy.EXPLORE, drafted, "one probe per " + DraftPolicy.EXPLORE + " declined steps");
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
