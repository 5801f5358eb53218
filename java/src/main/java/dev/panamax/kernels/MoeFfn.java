package dev.panamax.kernels;

import static dev.panamax.kernels.JavaQuants.F32;
import static dev.panamax.kernels.JavaQuants.I32;

import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The Java backends' mixture-of-experts feed-forward, written once over any {@link Kernels}' own matmul and
 * siluMul: the (token, slot) pairs are sorted by expert, each selected expert runs as one matmul of batch = its
 * token count (its weights read once), and every token's output is the weighted sum of its slots in slot order,
 * as the C core computes it. Arguments are checked by the caller ({@link Checks#moeFfn}). Not thread-safe: one
 * per {@link Kernels} instance, like the instance itself.
 */
final class MoeFfn {
    private MemorySegment scratch = MemorySegment.NULL;

    void run(Kernels k, MemorySegment out, MemorySegment x, int nTok, int nEmbd, int nFf, int nExpert, int nUsed,
             MemorySegment ids, MemorySegment weights, GgmlType gateType, MemorySegment gate, GgmlType upType,
             MemorySegment up, GgmlType downType, MemorySegment down) {
        int pairs = Math.multiplyExact(nTok, nUsed);
        // counting sort: expert e owns slots [start[e], start[e + 1]); slotOf[t * nUsed + j] is pair (t, j)'s slot
        int[] start = new int[nExpert + 1];
        int[] slotOf = new int[pairs];
        for (int p = 0; p < pairs; p++) start[ids.get(I32, 4L * p) + 1]++;
        for (int e = 0; e < nExpert; e++) start[e + 1] += start[e];
        int[] fill = start.clone();
        for (int p = 0; p < pairs; p++) slotOf[p] = fill[ids.get(I32, 4L * p)]++;

        long embdBytes = 4L * nEmbd, ffBytes = 4L * nFf;
        long xsBytes = pairs * embdBytes, hBytes = pairs * ffBytes;
        MemorySegment s = scratch(2 * xsBytes + 2 * hBytes);
        MemorySegment xs = s.asSlice(0, xsBytes), d = s.asSlice(xsBytes, xsBytes);
        MemorySegment g = s.asSlice(2 * xsBytes, hBytes), u = s.asSlice(2 * xsBytes + hBytes, hBytes);
        for (int p = 0; p < pairs; p++) MemorySegment.copy(x, (p / nUsed) * embdBytes, xs, slotOf[p] * embdBytes, embdBytes);

        long gateMat = gateType.rowBytes(nEmbd) * nFf, upMat = upType.rowBytes(nEmbd) * nFf;
        long downMat = downType.rowBytes(nFf) * nEmbd;
        for (int e = 0; e < nExpert; e++) {
            int s0 = start[e], c = start[e + 1] - s0;
            if (c == 0) continue;
            MemorySegment xe = xs.asSlice(s0 * embdBytes, c * embdBytes), de = d.asSlice(s0 * embdBytes, c * embdBytes);
            MemorySegment ge = g.asSlice(s0 * ffBytes, c * ffBytes), ue = u.asSlice(s0 * ffBytes, c * ffBytes);
            k.matmul(gateType, gate.asSlice(e * gateMat, gateMat), nFf, nEmbd, xe, c, ge);
            k.matmul(upType, up.asSlice(e * upMat, upMat), nFf, nEmbd, xe, c, ue);
            k.siluMul(ge, ge, ue, c * nFf);
            k.matmul(downType, down.asSlice(e * downMat, downMat), nEmbd, nFf, ge, c, de);
        }

        for (int t = 0; t < nTok; t++) {
            long o = t * embdBytes;
            for (int j = 0; j < nUsed; j++) {
                float w = weights.get(F32, 4L * (t * nUsed + j));
                long so = slotOf[t * nUsed + j] * embdBytes;
                for (long i = 0; i < embdBytes; i += 4) {
                    float v = w * d.get(F32, so + i);
                    out.set(F32, o + i, j == 0 ? v : out.get(F32, o + i) + v);
                }
            }
        }
    }

    /** Grown on demand and kept: a decode loop calls with the same sizes every token. */
    private MemorySegment scratch(long bytes) {
        if (scratch.byteSize() < bytes) scratch = Arena.ofAuto().allocate(Math.max(bytes, scratch.byteSize() * 3 / 2), 64);
        return scratch;
    }
}
