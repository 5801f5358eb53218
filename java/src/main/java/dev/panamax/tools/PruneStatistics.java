package dev.panamax.tools;

import dev.panamax.model.ActivationObserver;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * What {@link Pruner} learns from its calibration pass, summed in double: for a dense feed-forward down projection
 * (ffn_down) the sum of |h_j| of every intermediate channel j (h = SiLU(gate·x)·(up·x), its input) and the rows seen;
 * for the routed experts of a MoE layer (ffn_down_exps) per expert the tokens routed to it (frequency), the sum of their
 * routing weights (mass) and the sum of routing weight × L2 norm of the expert's output (REAP's saliency, before the
 * mean); for an attention output projection (attn_output) the sum over rows of each head's L2 norm of its input slice
 * (one head = {@code headDim} consecutive columns). Only the weights named at construction are watched.
 */
final class PruneStatistics implements ActivationObserver {

    /** Sums of one dense down projection. */
    static final class Channels {
        final double[] absSum;
        long rows;

        Channels(int n) {
            absSum = new double[n];
        }

        double meanAbs(int j) {
            return rows == 0 ? 0 : absSum[j] / rows;
        }
    }

    /** Sums of one MoE layer's routed experts. */
    static final class Experts {
        final long[] count;
        final double[] mass, saliency;

        Experts(int n) {
            count = new long[n];
            mass = new double[n];
            saliency = new double[n];
        }

        /** REAP: the mean over the tokens routed to e of weight × ||output||; 0 for an expert never chosen. */
        double reap(int e) {
            return count[e] == 0 ? 0 : saliency[e] / count[e];
        }
    }

    /** Sums of one attention output projection. */
    static final class Heads {
        final double[] normSum;
        long rows;

        Heads(int n) {
            normSum = new double[n];
        }

        double meanNorm(int h) {
            return rows == 0 ? 0 : normSum[h] / rows;
        }
    }

    private final Set<String> channelWeights, expertWeights, headWeights;
    private final int headDim;
    final Map<String, Channels> channels = new HashMap<>();
    final Map<String, Experts> experts = new HashMap<>();
    final Map<String, Heads> heads = new HashMap<>();

    /**
     * @param channelWeights dense ffn_down weights to watch
     * @param expertWeights  ffn_down_exps weights to watch
     * @param headWeights    attn_output weights to watch, whose inputs are heads of {@code headDim} values
     */
    PruneStatistics(Set<String> channelWeights, Set<String> expertWeights, Set<String> headWeights, int headDim) {
        this.channelWeights = channelWeights;
        this.expertWeights = expertWeights;
        this.headWeights = headWeights;
        this.headDim = headDim;
    }

    @Override
    public void matmul(String weight, int matrix, int nMatrices, MemorySegment in, int n, int cols) {
        if (nMatrices != 1) return;
        if (channelWeights.contains(weight)) {
            Channels c = channels.computeIfAbsent(weight, k -> new Channels(cols));
            if (c.absSum.length != cols) throw new IllegalStateException("inconsistent shape for " + weight);
            for (int r = 0; r < n; r++) {
                long row = (long) r * cols;
                for (int j = 0; j < cols; j++) c.absSum[j] += Math.abs(in.getAtIndex(ValueLayout.JAVA_FLOAT, row + j));
            }
            c.rows += n;
        } else if (headWeights.contains(weight)) {
            if (cols % headDim != 0) throw new IllegalStateException(weight + ": " + cols + " inputs are not heads of " + headDim);
            Heads h = heads.computeIfAbsent(weight, k -> new Heads(cols / headDim));
            for (int r = 0; r < n; r++) {
                long row = (long) r * cols;
                for (int hd = 0; hd < h.normSum.length; hd++) {
                    double s = 0;
                    for (int j = 0; j < headDim; j++) {
                        double x = in.getAtIndex(ValueLayout.JAVA_FLOAT, row + (long) hd * headDim + j);
                        s += x * x;
                    }
                    h.normSum[hd] += Math.sqrt(s);
                }
            }
            h.rows += n;
        }
    }

    @Override
    public boolean wantsExpertOutputs() {
        return !expertWeights.isEmpty();
    }

    @Override
    public void expertOutput(String downWeight, int expert, int nExpert, float weight, MemorySegment out, int dim) {
        if (!expertWeights.contains(downWeight)) return;
        Experts e = experts.computeIfAbsent(downWeight, k -> new Experts(nExpert));
        if (e.count.length != nExpert) throw new IllegalStateException("inconsistent expert count for " + downWeight);
        double s = 0;
        for (int i = 0; i < dim; i++) {
            double x = out.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            s += x * x;
        }
        e.count[expert]++;
        e.mass[expert] += weight;
        e.saliency[expert] += weight * Math.sqrt(s);
    }
}
