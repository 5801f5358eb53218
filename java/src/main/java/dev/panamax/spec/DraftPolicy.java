package dev.panamax.spec;

import java.util.Arrays;

/**
 * Chooses, step by step, how many drafted tokens the adaptive sequences may verify: a cap k on every sequence's draft
 * (0: plain decoding). The choice is measured, not modelled: for each count of decoding sequences the policy keeps,
 * per cap ("arm": 0, 1, 2, 3, 4, 6, 8, 12, 16 up to the sequences' largest k), the whole step's throughput — running
 * means of the tokens a step emitted and of its nanoseconds, start of one step to the start of the next, so the
 * drafter's own passes, the verify rows, sampling and bookkeeping are all in it — and takes the arm with the most
 * tokens per second. A model of the step (acceptance x cost per row) left out exactly what bounds speculation on a
 * small model (a draft pass, sampling a row, the step's fixed costs) and chose k = 0 or 1 where k = 2 was 1.3x
 * faster; measured arms find what the best fixed k finds. Plain decoding is kept near a tie: a drafting arm must beat
 * it by {@link #AB_MARGIN}.
 *
 * <p>Until every arm is measured ({@link #COLD} + {@link #AB_WARMUP} steps) the arms take turns; then the best one
 * runs, and each other arm is tried now and then for a block of {@link #AB_BLOCK} steps: its first try
 * {@link #AB_EXPLORE} steps on (staggered: the arms nearest the best first), each try that finds it still behind
 * doubling its gap up to {@link #AB_EXPLORE_MAX} steps (at once when it ran below {@link #FAR_BEHIND} of the best;
 * an arm beyond such a far-behind neighbour, away from the best, is not tried at all), a try that makes it the best
 * starting the gaps over. So the choice follows the load, the text and the acceptance,
 * and a drafter that loses costs a few percent of the steps at first and under one percent later. Steps of all arms
 * alternate within the same seconds: a noisy machine slows them alike. The first step after a change of arm is not
 * measured (a step's time depends on the one before: thread pool spinning or asleep, caches), and a step slower than
 * {@link #OUTLIER} times its arm's mean counts as that (a preempted step must not lock an arm out). Scheduler thread
 * only; allocates nothing per step.
 */
public final class DraftPolicy {

    /** The caps the arms try, in order; a step's sequences draft at most their own k, so larger caps collapse on it. */
    static final int[] CAPS = {0, 1, 2, 3, 4, 6, 8, 12, 16};
    /** The first try of an arm other than the best comes this many steps after the arms were measured (staggered). */
    static final int AB_EXPLORE = 32;
    /** Each try that finds the arm still behind doubles the gap to its next, up to this many steps. */
    static final int AB_EXPLORE_MAX = 512;
    /** Arms run in blocks of this many steps while warming up and when tried; the first step of a block is not measured. */
    static final int AB_BLOCK = 3;
    /** Measured steps of each arm at a sequence count before the best one is preferred. */
    static final int AB_WARMUP = 4;
    /** First steps of an arm that are dropped: the first passes run cold (JIT, caches) and would stick. */
    static final int COLD = 2;
    /** A try that finds its arm below this fraction of the best arm's throughput waits the longest gap for the next. */
    static final double FAR_BEHIND = 0.8;
    /** A drafting arm is preferred to plain decoding only when this much faster: near a tie, plain decoding is kept. */
    static final double AB_MARGIN = 0.03;
    /** Another drafting arm replaces the best one only when this much faster (no flapping between near equals). */
    static final double HYSTERESIS = 0.01;
    /** A step's time counts at most this many times its arm's running mean. */
    static final double OUTLIER = 2.5;
    private static final double AB_EWMA = 0.1, AB_EWMA_TRY = 0.3; // a try is rarer: it weighs more

    // [decoding sequences][arm]: running means of a step's emitted tokens and of its nanoseconds (their ratio is the
    // arm's throughput: a mean of per-step ratios would favour the steps that happened to be short)
    private final double[][] stepTok, stepNs;
    private final int[][] seen, nextTry, gap;
    // per count: the step counter, the best arm, the last step's arm, steps left in the current block
    private final int[] turn, best, lastArm, blockLeft;
    // per count: the current block is a try; the coming step changes arm (not measured); every arm measured
    private final boolean[] trying, transient_, warm;

    /** @param maxSeqs the most sequences a step can have */
    public DraftPolicy(int maxSeqs) {
        if (maxSeqs < 1) throw new IllegalArgumentException("max sequences must be positive, got " + maxSeqs);
        int n = maxSeqs + 1, a = CAPS.length;
        stepTok = new double[n][a];
        stepNs = new double[n][a];
        seen = new int[n][a];
        nextTry = new int[n][a];
        gap = new int[n][a];
        for (int[] g : gap) Arrays.fill(g, AB_EXPLORE);
        turn = new int[n];
        best = new int[n];
        lastArm = new int[n];
        blockLeft = new int[n];
        trying = new boolean[n];
        transient_ = new boolean[n];
        warm = new boolean[n];
    }

    /** The arms in use when the sequences draft at most {@code maxK} tokens: every cap below it, and maxK itself. */
    public static int arms(int maxK) {
        int n = 1;
        while (n < CAPS.length && CAPS[n - 1] < maxK) n++;
        return n;
    }

    /** The draft cap of arm {@code arm} when the sequences draft at most {@code maxK} tokens. */
    public static int cap(int arm, int maxK) {
        return Math.min(CAPS[arm], maxK);
    }

    /**
     * The arm of the coming decode step with {@code decoding} decoding sequences, whose largest k is {@code maxK}
     * (its cap: {@link #cap}); the decision is taken (warm-up turns, tries and their blocks move on).
     */
    public int stepArm(int decoding, int maxK) {
        return arm(decoding, maxK, true);
    }

    /**
     * The arm {@link #stepArm} would return for the coming step, without taking the decision: so a drafter that runs
     * before the step (an MTP layer, after the step before it) runs only when its drafts will be used.
     */
    public int nextStepArm(int decoding, int maxK) {
        return arm(decoding, maxK, false);
    }

    private int arm(int decoding, int maxK, boolean commit) {
        int d = Math.max(0, Math.min(decoding, turn.length - 1));
        int n = arms(Math.max(0, maxK));
        if (n == 1) return 0;
        int t = turn[d] + 1, left = blockLeft[d], arm;
        boolean tryNow = trying[d];
        int b = Math.min(best[d], n - 1);
        if (!warm[d]) {
            tryNow = false;
            if (left > 0) {
                left--;
                arm = Math.min(lastArm[d], n - 1);
            } else { // a block of the arm with the fewest measurements
                left = AB_BLOCK - 1;
                arm = 0;
                for (int a = 1; a < n; a++) if (seen[d][a] < seen[d][arm]) arm = a;
            }
        } else if (tryNow && left > 0) { // the rest of a try
            left--;
            arm = Math.min(lastArm[d], n - 1);
        } else {
            int due = -1;
            for (int a = 0; a < n; a++) {
                if (a == b || nextTry[d][a] > t || shadowed(d, a, b)) continue;
                if (due < 0 || nextTry[d][a] < nextTry[d][due]) due = a;
            }
            tryNow = due >= 0;
            if (tryNow) {
                left = AB_BLOCK - 1;
                arm = due;
            } else {
                arm = b;
            }
        }
        if (commit) {
            turn[d] = t;
            blockLeft[d] = left;
            trying[d] = tryNow;
            transient_[d] = arm != lastArm[d];
            lastArm[d] = arm;
        }
        return arm;
    }

    /**
     * The decode step with {@code decoding} sequences built as arm {@code arm} ({@link #stepArm}, maxK as then) emitted
     * {@code tokens} in {@code nanos}.
     */
    public void observeStep(int decoding, int arm, int maxK, int tokens, long nanos) {
        if (nanos <= 0 || decoding < 0 || decoding >= turn.length || arm < 0 || arm >= CAPS.length) return;
        int d = decoding;
        if (transient_[d]) { // the first step of an arm after another's: not this arm's cost
            transient_[d] = false;
            return;
        }
        int s = seen[d][arm]++;
        if (s < COLD) return;
        double[] tok = stepTok[d], ns = stepNs[d];
        double x = ns[arm] > 0 ? Math.min(nanos, OUTLIER * ns[arm]) : nanos;
        double w = s == COLD ? 1 : trying[d] ? AB_EWMA_TRY : AB_EWMA;
        tok[arm] += w * (tokens - tok[arm]);
        ns[arm] += w * (x - ns[arm]);
        int n = arms(Math.max(0, maxK));
        if (!warm[d]) {
            for (int a = 0; a < n; a++) if (seen[d][a] < COLD + AB_WARMUP) return;
            warm[d] = true;
            best[d] = pick(d, n, 0);
            stagger(d, n);
            return;
        }
        int b = Math.min(best[d], n - 1), nb = pick(d, n, b);
        if (nb != b) { // a new best: the old one is tried again soon, the others' gaps start over
            best[d] = nb;
            stagger(d, n);
            trying[d] = false;
            blockLeft[d] = 0;
        } else if (trying[d] && blockLeft[d] == 0 && arm != b) { // a try that confirmed the best
            boolean far = tokensPerSecond(d, arm) < FAR_BEHIND * tokensPerSecond(d, b);
            gap[d][arm] = far ? AB_EXPLORE_MAX : Math.min(2 * gap[d][arm], AB_EXPLORE_MAX);
            nextTry[d][arm] = turn[d] + gap[d][arm];
            trying[d] = false;
        }
    }

    /**
     * Whether arm a is not worth a try because its neighbour towards the best arm b is far behind b: throughput falls
     * further with the cap on both sides of the best one (more rows that miss, or fewer tokens per fixed cost), so at 8
     * streams, where a cap of 1 already runs at 0.6x, caps 2-4 are not tried until cap 1 comes close.
     */
    private boolean shadowed(int d, int a, int b) {
        int next = a > b ? a - 1 : a + 1;
        return next != b && tokensPerSecond(d, next) < FAR_BEHIND * tokensPerSecond(d, b);
    }

    /** The first tries after a change of the best arm: the arms nearest it first, one every AB_EXPLORE steps. */
    private void stagger(int d, int n) {
        int b = best[d], i = 0;
        for (int dist = 1; dist < n; dist++) {
            for (int a = b - dist; a <= b + dist; a += 2 * dist) {
                if (a < 0 || a >= n) continue;
                gap[d][a] = AB_EXPLORE;
                nextTry[d][a] = turn[d] + AB_EXPLORE * ++i;
            }
        }
    }

    /** The best arm of the first n at count d: plain decoding wins near a tie, the current best {@code cur} too. */
    private int pick(int d, int n, int cur) {
        int b = cur;
        for (int a = 0; a < n; a++) if (score(d, a, cur) > score(d, b, cur)) b = a;
        return b;
    }

    private double score(int d, int a, int cur) {
        return tokensPerSecond(d, a) * (a == 0 ? 1 + AB_MARGIN : 1) * (a == cur && a != 0 ? 1 + HYSTERESIS : 1);
    }

    private double tokensPerSecond(int d, int arm) {
        return stepNs[d][arm] > 0 ? stepTok[d][arm] / stepNs[d][arm] * 1e9 : 0;
    }

    /** The measured whole-step throughput (tokens per second) of an arm at a count of decoding sequences, 0 when not measured. */
    public double stepTokensPerSecond(int decoding, int arm) {
        return tokensPerSecond(decoding, arm);
    }

    /** The arm taken outside tries at this count of decoding sequences (0 until every arm was measured). */
    public int best(int decoding) {
        return best[decoding];
    }
}
