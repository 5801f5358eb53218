package dev.panamax.model;

import dev.panamax.kernels.PagedBatch;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * One forward step's input: the tokens of several sequences (a decode token of each, chunks of prompts), each at its
 * own positions, with the block table of its paged KV memory, and which rows want logits. Filled by {@link #add}, read
 * by {@link ForwardPass#forward}, then {@link #clear}ed and refilled: every buffer is allocated once, so a step
 * allocates nothing. The logits come back in {@link #logits()}, one row per requested row, in the order requested.
 * Not thread-safe.
 */
public final class ForwardBatch implements AutoCloseable {

    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;

    public final int maxTokens, maxSeqs, maxTableEntries, vocab;
    /** 0: rows get logits; > 0: rows get the final-normed hidden state of this width instead (embeddings). */
    public final int hiddenWidth;
    private final Arena arena = Arena.ofShared();
    final MemorySegment ids, pos, slots; // int32 [maxTokens]: token id, position and cache row of each token
    private final MemorySegment seqRows, seqPos0, tables, tableStart;
    private final int[] logitRows;
    private final MemorySegment logits; // [maxLogits][vocab]
    private final PagedBatch[] paged; // per sequence count, made once
    private int nTok, nSeq, nTable, nLogits, blockSize = -1;

    /**
     * @param maxTokens       tokens per step (the token budget)
     * @param maxSeqs         sequences per step
     * @param maxTableEntries block-table entries per step, summed over its sequences
     * @param maxLogits       rows that may want logits per step
     */
    public ForwardBatch(int maxTokens, int maxSeqs, int maxTableEntries, int maxLogits, int vocab) {
        this(maxTokens, maxSeqs, maxTableEntries, maxLogits, vocab, 0);
    }

    /**
     * A batch whose requested rows come back as hidden states, not logits: the residual stream after the model's final
     * norm, {@code hiddenWidth} (the model's embedding width) floats per row in {@link #logits()}, the output head
     * skipped (llama.cpp's {@code result_norm}, what its embeddings pool).
     */
    public ForwardBatch(int maxTokens, int maxSeqs, int maxTableEntries, int maxLogits, int vocab, int hiddenWidth) {
        if (hiddenWidth < 0) throw new IllegalArgumentException("hidden width must be >= 0, got " + hiddenWidth);
        this.hiddenWidth = hiddenWidth;
        if (maxTokens <= 0 || maxSeqs <= 0 || maxTableEntries <= 0 || maxLogits <= 0 || vocab <= 0) {
            throw new IllegalArgumentException("bad batch limits " + maxTokens + "/" + maxSeqs + "/" + maxTableEntries + "/" + maxLogits);
        }
        this.maxTokens = maxTokens;
        this.maxSeqs = maxSeqs;
        this.maxTableEntries = maxTableEntries;
        this.vocab = vocab;
        try {
            ids = arena.allocate(4L * maxTokens, 64);
            pos = arena.allocate(4L * maxTokens, 64);
            slots = arena.allocate(4L * maxTokens, 64);
            seqRows = arena.allocate(4L * (maxSeqs + 1), 64);
            seqPos0 = arena.allocate(4L * maxSeqs, 64);
            tables = arena.allocate(4L * maxTableEntries, 64);
            tableStart = arena.allocate(4L * maxSeqs, 64);
            logitRows = new int[maxLogits];
            long width = hiddenWidth > 0 ? hiddenWidth : vocab;
            logits = arena.allocate(Math.multiplyExact(Math.multiplyExact(4L, maxLogits), width), 64);
            paged = new PagedBatch[maxSeqs + 1];
        } catch (RuntimeException | OutOfMemoryError e) {
            arena.close();
            throw e;
        }
    }

    public void clear() {
        nTok = nSeq = nTable = nLogits = 0;
    }

    /** Rows of the step so far. */
    public int tokens() {
        return nTok;
    }

    /** Rows that may want logits per step. */
    public int maxLogits() {
        return logitRows.length;
    }

    /** Logits rows requested so far. */
    public int logitRows() {
        return nLogits;
    }

    /** Whether a sequence of n tokens whose cache reaches {@code pos0 + n} positions still fits this step. */
    public boolean fits(int n, int tableBlocks, boolean allLogits) {
        return nTok + n <= maxTokens && nSeq < maxSeqs && nTable + tableBlocks <= maxTableEntries
                && nLogits + (allLogits ? n : 1) <= logitRows.length;
    }

    /**
     * Appends n tokens of one sequence at positions {@code pos0 .. pos0 + n - 1}: their rows go to the cache rows its
     * block table gives ({@code table[0 .. ceil((pos0 + n) / blockSize))}, block ids of the KV pool), and they see
     * that sequence's keys 0..their position.
     *
     * @param logitsMode 0: none, 1: the last token's, 2: every token's
     * @return the index in {@link #logits()} of this sequence's first logits row (-1 when none)
     * @throws IllegalArgumentException for a token id outside the vocabulary, a batch over its limits, or a table
     *                                  too short for the positions
     */
    public int add(int[] toks, int off, int n, int pos0, int[] table, int blockSize, int logitsMode) {
        if (n <= 0) throw new IllegalArgumentException("a sequence adds at least one token, got " + n);
        java.util.Objects.checkFromIndexSize(off, n, toks.length);
        if (pos0 < 0) throw new IllegalArgumentException("negative position " + pos0);
        if (this.blockSize >= 0 && nSeq > 0 && blockSize != this.blockSize) throw new IllegalArgumentException("one block size per step");
        int need = (int) (((long) pos0 + n + blockSize - 1) / blockSize);
        if (need > table.length) throw new IllegalArgumentException("block table of " + table.length + " blocks for " + (pos0 + n) + " positions");
        if (!fits(n, need, logitsMode == 2)) throw new IllegalArgumentException("the step is full");
        for (int t = 0; t < n; t++) {
            int id = toks[off + t];
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + vocab + ")");
        }
        this.blockSize = blockSize;
        seqRows.setAtIndex(I32, nSeq, nTok);
        seqPos0.setAtIndex(I32, nSeq, pos0);
        tableStart.setAtIndex(I32, nSeq, nTable);
        for (int i = 0; i < need; i++) tables.setAtIndex(I32, nTable + i, table[i]);
        for (int t = 0; t < n; t++) {
            int p = pos0 + t;
            ids.setAtIndex(I32, nTok + t, toks[off + t]);
            pos.setAtIndex(I32, nTok + t, p);
            slots.setAtIndex(I32, nTok + t, table[p / blockSize] * blockSize + p % blockSize);
        }
        int first = -1;
        if (logitsMode != 0) {
            first = nLogits;
            for (int t = logitsMode == 2 ? 0 : n - 1; t < n; t++) logitRows[nLogits++] = nTok + t;
        }
        nTable += need;
        nTok += n;
        nSeq++;
        seqRows.setAtIndex(I32, nSeq, nTok);
        return first;
    }

    /** The step's sequences as the paged attention kernels read them, over a pool of nBlocks blocks. */
    PagedBatch paged(int nBlocks) {
        PagedBatch p = paged[nSeq];
        if (p == null || p.nBlocks() != nBlocks || p.blockSize() != blockSize) {
            p = paged[nSeq] = new PagedBatch(nSeq, seqRows, seqPos0, tables, tableStart, blockSize, nBlocks);
        }
        return p;
    }

    /** Row index (in the step) of logits row i. */
    int logitRow(int i) {
        return logitRows[i];
    }

    /**
     * [logitRows()][vocab] floats after {@link ForwardPass#forward} ([logitRows()][hiddenWidth] for a hidden-state
     * batch); row i for the i-th requested row.
     */
    public MemorySegment logits() {
        return logits;
    }

    /** Logits row i as a view (allocates the view: for callers outside the steady-state loop). */
    public MemorySegment logits(int i) {
        long w = hiddenWidth > 0 ? hiddenWidth : vocab;
        return logits.asSlice(4L * i * w, 4L * w);
    }

    @Override
    public String toString() {
        return "ForwardBatch[" + nTok + " tokens, " + nSeq + " sequences, logits rows " + Arrays.toString(Arrays.copyOf(logitRows, nLogits)) + "]";
    }

    @Override
    public void close() {
        arena.close();
    }
}
