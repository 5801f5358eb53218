package dev.panamax.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Where the sequences of one forward step sit in a paged KV cache, for {@link Kernels#attentionPaged} and
 * {@link Kernels#attentionMlaPaged}. The cache of a layer is a pool of {@code nBlocks} blocks of {@code blockSize} token
 * rows; token j of sequence s is row {@code tables[tableStart[s] + j / blockSize] * blockSize + j % blockSize}.
 * Sequence s owns query rows {@code [seqRows[s], seqRows[s + 1])} of the step (seqRows[0] = 0, at least one row each),
 * the first at position {@code seqPos0[s]}; its query t sees keys {@code 0 .. seqPos0[s] + t}. All int32 segments.
 * {@link #check} reads every entry before a downcall: the C core indexes the cache by them.
 */
public record PagedBatch(int nSeq, MemorySegment seqRows, MemorySegment seqPos0, MemorySegment tables,
                         MemorySegment tableStart, int blockSize, int nBlocks) {

    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;

    /** Checks every entry against the pool; returns the number of query rows. */
    public int check() {
        Checks.positive(nSeq, "nSeq");
        Checks.positive(blockSize, "blockSize");
        Checks.positive(nBlocks, "nBlocks");
        Checks.bytes(seqRows, 4L * (nSeq + 1), "seqRows");
        Checks.bytes(seqPos0, 4L * nSeq, "seqPos0");
        Checks.bytes(tableStart, 4L * nSeq, "tableStart");
        if (tables == null) throw new IllegalArgumentException("tables is null");
        long tableLen = tables.byteSize() / 4;
        if (seqRows.getAtIndex(I32, 0) != 0) throw new IllegalArgumentException("seqRows[0] must be 0");
        for (int s = 0; s < nSeq; s++) {
            int r0 = seqRows.getAtIndex(I32, s), r1 = seqRows.getAtIndex(I32, s + 1), pos0 = seqPos0.getAtIndex(I32, s);
            int start = tableStart.getAtIndex(I32, s);
            if (r1 <= r0) throw new IllegalArgumentException("sequence " + s + " has no query rows");
            if (pos0 < 0) throw new IllegalArgumentException("sequence " + s + " starts at position " + pos0);
            long need = ((long) pos0 + (r1 - r0) + blockSize - 1) / blockSize;
            if (start < 0 || start + need > tableLen) {
                throw new IllegalArgumentException("sequence " + s + ": block table [" + start + ", " + (start + need)
                        + ") outside the " + tableLen + " entries given");
            }
            for (long i = start; i < start + need; i++) {
                int b = tables.getAtIndex(I32, i);
                if (b < 0 || b >= nBlocks) throw new IllegalArgumentException("sequence " + s + ": block " + b + " outside the pool of " + nBlocks);
            }
        }
        return seqRows.getAtIndex(I32, nSeq);
    }

    /** Rows of the pool. */
    public long poolRows() {
        return (long) nBlocks * blockSize;
    }

    /** Cache row of token j of sequence s (entries already checked). */
    long row(int s, int j) {
        int start = tableStart.getAtIndex(I32, s);
        return (long) tables.getAtIndex(I32, start + j / blockSize) * blockSize + j % blockSize;
    }
}
