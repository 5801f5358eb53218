package dev.panamax.tools;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.Set;

/**
 * ggml's quantizers with an importance matrix ({@code quantize_q4_K(.., quant_weights)} and friends): the rounding of
 * each block minimizes the error weighted by the mean squared activation of each column, so the columns that matter
 * keep more precision. Only the quantizer uses them (inference never quantizes weights), so they live here, in plain
 * Java; bytes as ggml's for the same input and weights.
 */
final class WeightedQuants {

    /** Types whose ggml quantizer takes the importance matrix (Q8_0 and float types ignore it). */
    private static final Set<GgmlType> USES = EnumSet.of(GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q6_K);
    /** Types with a weighted quantizer here. */
    private static final Set<GgmlType> SUPPORTED = EnumSet.noneOf(GgmlType.class);

    private WeightedQuants() {
    }

    static boolean usesImatrix(GgmlType t) {
        return USES.contains(t);
    }

    static boolean supports(GgmlType t) {
        return SUPPORTED.contains(t);
    }

    /** rows rows of n floats to rows of t, weighting column j of every row by imatrix[off + j]. */
    static void quantize(GgmlType t, MemorySegment dst, MemorySegment src, int rows, int n, float[] imatrix, int off) {
        throw new UnsupportedOperationException("type " + t + " with an importance matrix not yet supported");
    }
}
