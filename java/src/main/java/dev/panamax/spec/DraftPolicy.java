package dev.panamax.spec;

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
 * policy that never tries k rows never learns what they cost). Scheduler thread only; allocates nothing per step.
 */
public final class DraftPolicy {

    /** Until measured: an extra row costs this fraction of a one-row step (decode is bandwidth-bound). */
    static final double PRIOR_ROW_COST = 0.05;
    private static final double EWMA = 0.2;
    /** One in this many decisions for k = 0 tries a draft anyway. */
    static final int EXPLORE = 16;

    private final double[] cost; // mean step nanos by row count (0: not measured)

    /** @param maxRows the most rows a step can have (the token budget) */
    public DraftPolicy(int maxRows) {
        if (maxRows < 1) throw new IllegalArgumentException("max rows must be positive, got " + maxRows);
        cost = new double[maxRows + 1];
    }

    /** A step of {@code rows} rows took {@code nanos}. */
    public void observe(int rows, long nanos) {
        if (rows < 1 || rows >= cost.length || nanos <= 0) return;
        cost[rows] = cost[rows] == 0 ? nanos : cost[rows] + EWMA * (nanos - cost[rows]);
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
        int k = choose(rows, seqs, a, maxK);
        if (k == 0 && maxK > 0 && ++acc.declined % EXPLORE == 0) k = Math.min(maxK, 2);
        return k;
    }

    /** {@link #choose(int, int, double, int, Acceptance)} without exploration. */
    public int choose(int rows, int seqs, double a, int maxK) {
        int best = 0;
        double bestRate = seqs / cost(rows);
        double expected = 1, ak = 1;
        for (int k = 1; k <= maxK && rows + k < cost.length; k++) {
            ak *= a;
            expected += ak;
            double rate = (seqs - 1 + expected) / cost(rows + k);
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
