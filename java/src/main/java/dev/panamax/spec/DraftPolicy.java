package dev.panamax.spec;

import java.util.Arrays;

/**
 * Chooses how many drafted tokens a sequence verifies in the next step. The engine reports every step's row count and
 * duration ({@link #observe}); the policy keeps a running mean of step time per row count, so it knows on this
 * machine, with this model and this load, what k more rows cost. For a sequence with per-token acceptance rate a the
 * expected tokens out of k drafts are 1 + a + ... + a^k; the step's throughput with them is (the other rows' tokens +
 * those) / cost(rows + k), and the k that maximizes it is taken: 0 when the step is already compute-bound (many
 * sequences fill the batch) or the drafts are rarely right. Only steps of decoding sequences are measured (a prompt
 * chunk's rows cost differently). Per sequence, an {@link Acceptance} counts accepted drafts with exponential
 * forgetting and drifts back to its prior while it drafts nothing; and one decision in {@link #EXPLORE} that would
 * draft nothing drafts a little anyway, so a stale measurement or a switched-off sequence is looked at again (a
 * policy that never tries k rows never learns what they cost).
 *
 * <p>Above the per-sequence choice sits a per-step switch ({@link #stepMode}): the row costs above are only the
 * forward pass's, while drafting (a draft model's passes, an MTP layer), sampling every verified row and the
 * bookkeeping cost time too, and on a busy machine the measured costs are noisy. So for each count of decoding
 * sequences the policy also keeps the whole step's throughput (tokens emitted per second of step, everything
 * included) of steps built with drafting allowed and of steps built without, and allows drafting only while it has
 * been the faster of the two by a margin; the other arm is still tried now and then (one step in {@link #AB_EXPLORE},
 * backing off to one in {@link #AB_EXPLORE_MAX} while tries confirm the choice), so the comparison follows
 * the load, the text and the acceptance (a step that tries drafting while it is switched off is a {@link #PROBE}:
 * every sequence drafts at least one token, so the try measures drafting even where the per-sequence choice has
 * gone stale, and the two levels of exploration do not multiply). Steps of both arms alternate within the same seconds, so a noisy machine
 * slows both alike: the comparison holds where run-to-run measurements do not. Scheduler thread only; allocates
 * nothing per step.
 */
public final class DraftPolicy {

    /** Until measured: an extra row costs this fraction of a one-row step (decode is bandwidth-bound). */
    static final double PRIOR_ROW_COST = 0.05;
    private static final double EWMA = 0.2;
    /** One in this many decisions for k = 0 tries a draft anyway. */
    static final int EXPLORE = 16;

    private final double[] cost; // mean step nanos by row count (0: not measured)
    /** At first one block of {@link #AB_BLOCK} steps in this many takes the arm (drafting allowed or not) that is the slower. */
    static final int AB_EXPLORE = 32;
    /** Each try that finds the same arm still slower doubles the gap to the next, up to this many steps. */
    static final int AB_EXPLORE_MAX = 512;
    /**
     * Arms are tried (and alternate while warming up) in blocks of this many steps, and the first step after a change of
     * arm is not measured: a step's cost depends on the one before it (a step after a plain one finds the thread pool
     * spinning and the caches warm for the same rows; one after a long speculative step may not), so single steps of
     * one arm among the other's would measure the neighbour, not the arm.
     */
    static final int AB_BLOCK = 3;
    /** Steps of each arm measured at a sequence count before the faster one is preferred. */
    static final int AB_WARMUP = 4;
    /** A try that finds drafting below this fraction of plain decoding's throughput waits the longest gap for the next. */
    static final double FAR_BEHIND = 0.8;
    /** Drafting is preferred only when its steps have been this much faster: near a tie, plain decoding is never slower. */
    static final double AB_MARGIN = 0.03;
    private static final double AB_EWMA = 0.1, AB_EWMA_TRY = 0.4; // a try of the other arm is rarer: it weighs more
    // [arm: 0 off, 1 on][decoding sequences]: running means of a step's emitted tokens and of its nanoseconds (their
    // ratio is the arm's throughput: a mean of per-step ratios would favour the steps that happened to be short)
    private final double[][] stepTok, stepNs;
    private final int[][] stepSeen;
    private final int[] stepTurn, nextTry, tryGap, blockLeft;
    // per count: the coming step is a try of the slower arm; the faster arm; the last step's arm; the coming step
    // changes arm (not measured)
    private final boolean[] trying, drafting, lastOn, transient_;
    private final int[] costSeen;
    private double draftNanos; // mean time of one draft-model pass (0: not measured)
    private int draftSeen;
    /** First measurements of a kind that are dropped: the first passes run cold (JIT, caches) and would stick. */
    static final int COLD = 2;

    /** @param maxRows the most rows a step can have (the token budget) */
    public DraftPolicy(int maxRows) {
        this(maxRows, maxRows);
    }

    /**
     * @param maxRows the most rows a step can have (the token budget)
     * @param maxSeqs the most sequences a step can have
     */
    public DraftPolicy(int maxRows, int maxSeqs) {
        if (maxRows < 1) throw new IllegalArgumentException("max rows must be positive, got " + maxRows);
        if (maxSeqs < 1) throw new IllegalArgumentException("max sequences must be positive, got " + maxSeqs);
        cost = new double[maxRows + 1];
        costSeen = new int[maxRows + 1];
        stepTok = new double[2][maxSeqs + 1];
        stepNs = new double[2][maxSeqs + 1];
        stepSeen = new int[2][maxSeqs + 1];
        stepTurn = new int[maxSeqs + 1];
        nextTry = new int[maxSeqs + 1];
        tryGap = new int[maxSeqs + 1];
        blockLeft = new int[maxSeqs + 1];
        trying = new boolean[maxSeqs + 1];
        drafting = new boolean[maxSeqs + 1];
        lastOn = new boolean[maxSeqs + 1];
        transient_ = new boolean[maxSeqs + 1];
        Arrays.fill(tryGap, AB_EXPLORE);
    }

    /** Step modes: no drafting; drafting as the per-sequence choice finds it pays; every sequence drafts (a probe). */
    public static final int NO_DRAFTS = 0, DRAFTS = 1, PROBE = 2;

    /**
     * How the coming decode step with {@code decoding} decoding sequences drafts: until both arms are measured at this
     * count they alternate (drafting steps as probes), then the faster arm is taken (drafting only when faster by
     * {@link #AB_MARGIN}) except for tries of the other arm: one step in {@link #AB_EXPLORE} at first, ever rarer (up to
     * one in {@link #AB_EXPLORE_MAX}) while the tries keep confirming the choice, so a drafter that loses costs about
     * one percent of the steps; a try that changes the choice starts over at one in {@link #AB_EXPLORE}. Warm-up
     * alternation and tries run in blocks of {@link #AB_BLOCK} steps.
     */
    public int stepMode(int decoding) {
        return mode(decoding, true);
    }

    /**
     * Whether the coming decode step with {@code decoding} decoding sequences will allow drafting ({@link #stepMode}
     * will not return {@link #NO_DRAFTS}), without taking the decision: so a drafter that must run before the step
     * (an MTP layer, after the step before it) runs only when its drafts will be used.
     */
    public boolean nextStepDrafts(int decoding) {
        return mode(decoding, false) != NO_DRAFTS;
    }

    /** {@link #stepMode}; {@code commit}: the decision is taken (the state moves on), else only computed. */
    private int mode(int decoding, boolean commit) {
        int d = Math.max(0, Math.min(decoding, stepTurn.length - 1));
        int turn = stepTurn[d] + 1, left = blockLeft[d], next = nextTry[d];
        boolean on, tryNow = trying[d];
        if (stepSeen[0][d] < COLD + AB_WARMUP || stepSeen[1][d] < COLD + AB_WARMUP) {
            tryNow = false;
            if (left > 0) {
                left--;
                on = lastOn[d];
            } else { // a block of the arm with fewer measurements
                left = AB_BLOCK - 1;
                on = stepSeen[1][d] <= stepSeen[0][d];
            }
        } else if (tryNow && left > 0) { // the rest of a try
            left--;
            on = !drafting[d];
        } else if (turn >= next) {
            tryNow = true;
            left = AB_BLOCK - 1;
            next = turn + tryGap[d];
            on = !drafting[d];
        } else {
            tryNow = false;
            on = drafting[d];
        }
        if (commit) {
            stepTurn[d] = turn;
            blockLeft[d] = left;
            nextTry[d] = next;
            trying[d] = tryNow;
            transient_[d] = on != lastOn[d];
            lastOn[d] = on;
        }
        return !on ? NO_DRAFTS : drafting[d] && !tryNow ? DRAFTS : PROBE;
    }

    /** A decode step with {@code decoding} sequences, built with drafting allowed (a DRAFTS or PROBE step) or not, emitted {@code tokens} in {@code nanos}. */
    public void observeStep(int decoding, boolean speculated, int tokens, long nanos) {
        if (nanos <= 0 || decoding < 0 || decoding >= stepTurn.length) return;
        if (transient_[decoding]) { // the first step of an arm after the other's: not this arm's cost
            transient_[decoding] = false;
            return;
        }
        int arm = speculated ? 1 : 0;
        int seen = stepSeen[arm][decoding]++;
        if (seen < COLD) return;
        double w = seen == COLD ? 1 : trying[decoding] ? AB_EWMA_TRY : AB_EWMA;
        stepTok[arm][decoding] += w * (tokens - stepTok[arm][decoding]);
        stepNs[arm][decoding] += w * (nanos - stepNs[arm][decoding]);
        if (stepSeen[0][decoding] < COLD + AB_WARMUP || stepSeen[1][decoding] < COLD + AB_WARMUP) return;
        boolean on = stepTokensPerSecond(decoding, true) > stepTokensPerSecond(decoding, false) * (1 + AB_MARGIN);
        boolean tryEnds = trying[decoding] && blockLeft[decoding] == 0;
        if (on != drafting[decoding]) {
            drafting[decoding] = on;
            tryGap[decoding] = AB_EXPLORE;
            nextTry[decoding] = stepTurn[decoding] + AB_EXPLORE;
            trying[decoding] = false;
            blockLeft[decoding] = 0;
        } else if (tryEnds) {
            // a drafter that loses by far is tried again only at the longest gap: a try costs most then
            boolean farBehind = !on && stepTokensPerSecond(decoding, true) < FAR_BEHIND * stepTokensPerSecond(decoding, false);
            tryGap[decoding] = farBehind ? AB_EXPLORE_MAX : Math.min(2 * tryGap[decoding], AB_EXPLORE_MAX);
            if (farBehind) nextTry[decoding] = stepTurn[decoding] + AB_EXPLORE_MAX;
            trying[decoding] = false;
        } else if (nextTry[decoding] == 0) { // the first decision
            nextTry[decoding] = stepTurn[decoding] + AB_EXPLORE;
        }
    }

    /** The measured whole-step throughput (tokens per second) of an arm at a sequence count, 0 when not measured. */
    public double stepTokensPerSecond(int decoding, boolean speculated) {
        int arm = speculated ? 1 : 0;
        return stepNs[arm][decoding] > 0 ? stepTok[arm][decoding] / stepNs[arm][decoding] * 1e9 : 0;
    }

    /** Whether drafting is the chosen arm at this count of decoding sequences (after both arms were measured). */
    public boolean drafting(int decoding) {
        return drafting[decoding];
    }

    /** A step of {@code rows} rows took {@code nanos}. */
    public void observe(int rows, long nanos) {
        if (rows < 1 || rows >= cost.length || nanos <= 0) return;
        if (++costSeen[rows] <= COLD) return;
        cost[rows] = cost[rows] == 0 ? nanos : cost[rows] + EWMA * (nanos - cost[rows]);
    }

    /** A draft model's forward pass (one row per drafting sequence) took {@code nanos}. */
    public void observeDraft(long nanos) {
        if (nanos <= 0 || ++draftSeen <= COLD) return;
        draftNanos = draftNanos == 0 ? nanos : draftNanos + EWMA * (nanos - draftNanos);
    }

    /**
     * The cost of one draft-model pass in {@link #cost}'s units: measured, or 0 while either it or the steps are not
     * (before any measurement cost is in relative units, with which nanoseconds cannot be compared).
     */
    public double draftCost() {
        return cost[1] > 0 || cost.length > 2 && cost[2] > 0 ? draftNanos : 0;
    }

    /** The expected cost of a step of {@code rows} rows, relative units: measured, interpolated or extrapolated. */
    public double cost(int rows) {
        rows = Math.max(1, Math.min(rows, cost.length - 1));
        if (cost[rows] > 0) return cost[rows];
        int lo = rows - 1, hi = rows + 1;
        while (lo >= 1 && cost[lo] == 0) lo--;
        while (hi < cost.length && cost[hi] == 0) hi++;
        boolean haveLo = lo >= 1, haveHi = hi < cost.length;
        if (haveLo && haveHi) return cost[lo] + (cost[hi] - cost[lo]) * (rows - lo) / (hi - lo);
        if (haveLo) return cost[lo] * (1 + PRIOR_ROW_COST * (rows - lo));
        if (haveHi) return cost[hi] / (1 + PRIOR_ROW_COST * (hi - rows));
        return 1 + PRIOR_ROW_COST * (rows - 1);
    }

    /**
     * The k in {@code 0..maxK} that maximizes the step's expected tokens per unit of time.
     *
     * @param rows  rows of the step so far, this sequence's own verify row included
     * @param seqs  sequences sampled in the step so far, this one included (each emits at least one token)
     * @param a     this sequence's per-token acceptance rate
     */
    public int choose(int rows, int seqs, double a, int maxK, Acceptance acc) {
        return choose(rows, seqs, a, maxK, acc, 0, 0);
    }

    /**
     * As {@link #choose(int, int, double, int, Acceptance)} for a drafter that pays {@code perDraft} (in {@link
     * #cost} units) for each drafted position beyond the {@code shared} positions the step already drafts for other
     * sequences: a draft model, whose passes are batched over the sequences.
     */
    public int choose(int rows, int seqs, double a, int maxK, Acceptance acc, double perDraft, int shared) {
        int k = choose(rows, seqs, a, maxK, perDraft, shared);
        if (k == 0 && maxK > 0 && ++acc.declined % EXPLORE == 0) k = Math.min(maxK, 2);
        return k;
    }

    /** {@link #choose(int, int, double, int, Acceptance)} without exploration. */
    public int choose(int rows, int seqs, double a, int maxK) {
        return choose(rows, seqs, a, maxK, 0, 0);
    }

    private int choose(int rows, int seqs, double a, int maxK, double perDraft, int shared) {
        int best = 0;
        double bestRate = seqs / cost(rows);
        double expected = 1, ak = 1;
        for (int k = 1; k <= maxK && rows + k < cost.length; k++) {
            ak *= a;
            expected += ak;
            double rate = (seqs - 1 + expected) / (cost(rows + k) + perDraft * Math.max(0, k - shared));
            if (rate > bestRate * 1.0001) {
                best = k;
                bestRate = rate;
            }
        }
        return best;
    }

    /** A sequence's running acceptance rate: accepted / tried drafted tokens, old evidence fading. */
    public static final class Acceptance {
        static final double PRIOR = 0.5, PRIOR_WEIGHT = 2, KEEP = 0.9, IDLE_KEEP = 0.97;
        private double accepted = PRIOR * PRIOR_WEIGHT, tried = PRIOR_WEIGHT;
        private int declined; // decisions for k = 0

        public double rate() {
            return accepted / tried;
        }

        /** After a verification: of k drafted tokens the first {@code a} were right (the one after, if any, was not). */
        public void update(int k, int a) {
            if (k <= 0) return;
            accepted = accepted * KEEP + a;
            tried = tried * KEEP + Math.min(k, a + 1); // drafts after the first miss were never judged
        }

        /** A step without drafts: the evidence fades towards the prior. */
        public void idle() {
            accepted = PRIOR * PRIOR_WEIGHT + (accepted - PRIOR * PRIOR_WEIGHT) * IDLE_KEEP;
            tried = PRIOR_WEIGHT + (tried - PRIOR_WEIGHT) * IDLE_KEEP;
        }
    }
}
