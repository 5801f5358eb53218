package dev.panamax.engine;

import dev.panamax.kernels.Kernels;
import dev.panamax.kernels.KernelsProvider;
import dev.panamax.model.ForwardBatch;
import dev.panamax.model.ForwardPass;
import dev.panamax.model.KvCache;
import dev.panamax.model.ModelWeights;
import dev.panamax.model.TransformerWeights;
import dev.panamax.spec.DraftPolicy;
import dev.panamax.tensor.GgmlType;
import java.util.List;

/**
 * The draft model of draft-model speculation, inside the engine: its weights' batched forward pass on the engine's
 * kernels, its own paged KV pool (as many token rows as the target's, at the draft's bytes per token) with its own
 * {@link KvBlockManager} (no prefix cache) and a block table per sequence. Before each step ({@link #prepare}) it
 * takes k for every decoding sequence that speculates with it (adaptive: at most the step's cap, {@link DraftPolicy})
 * and drafts greedily, batched: the first draft pass takes every such sequence's tokens the draft
 * has not seen yet (the last step's accepted tokens, at first the whole prompt) and gives each its first guess; each
 * further pass takes one row per sequence still drafting (its last guess) and gives the next. A sequence stops
 * drafting at its k (or, adaptive, with {@code -Dpanamax.draftPMin}, where the draft's top token has probability
 * below {@link #P_MIN}). The draft's output head is a {@link DraftHead}: once the engine's
 * frequent tokens are known, only their rows are computed.
 * The guesses land in {@code Sequence.draft}; the scheduler verifies them like any drafter's. Rollback is lazy: the
 * rows written for guesses (the "tail") are checked against the tokens that really followed at the next
 * {@link #prepare}, the matching ones kept and the blocks past them released; whatever happened in between
 * (rejection, preemption, a step that failed) only ever makes the match shorter. Scheduler thread only; allocates
 * nothing per step.
 */
final class DraftModelRunner implements AutoCloseable {

    /**
     * An adaptive sequence's draft ends at a guess whose probability under the draft is below this (llama.cpp's
     * p_min, 0.75 there); off by default: the step's cap is measured ({@link DraftPolicy}), and on the KJV pair a
     * p_min of 0.5 cut most drafts of a draft whose guesses at p < 0.5 are still right often enough to pay. {@code
     * -Dpanamax.draftPMin=P} sets it (for measurements).
     */
    static final float P_MIN = Float.parseFloat(System.getProperty("panamax.draftPMin", "0"));

    /**
     * An adaptive sequence that is more than this many tokens behind in the draft's pool (drafting was off for a
     * while, or a long prompt) restarts the draft on its latest this-many tokens, at draft positions from 0, instead of
     * catching up on every missed token: a probe of the {@link DraftPolicy} after a stretch of plain decoding
     * otherwise pays, in one step, a draft pass over all the tokens it missed (at 8 streams on the KJV pair 3-7 ms,
     * 2-4 plain steps). The guesses then see a shorter context (verification keeps the output exact). {@code
     * -Dpanamax.draftWindow=N} sets it (0: always catch up on everything).
     */
    static final int WINDOW = Integer.getInteger("panamax.draftWindow", 32);

    /**
     * Rows of the draft's head once the engine's frequent tokens are known ({@link DraftHead}): an eighth of the
     * vocabulary, at least 1,024 (a quarter of the KJV models' 4,096), rounded up to 16. {@code
     * -Dpanamax.draftHeadTokens=N} sets it (0: always the full head).
     */
    static int headTokens(int vocab) {
        int n = Integer.getInteger("panamax.draftHeadTokens", Math.max(1024, vocab / 8));
        if (n < 0) throw new IllegalArgumentException("panamax.draftHeadTokens must be >= 0, got " + n);
        return (n + 15) / 16 * 16;
    }

    private final ForwardPass pass;
    private final KvCache kv;
    private final ForwardBatch batch; // the draft's final-normed hidden rows: its head is the DraftHead's
    private final DraftHead head;
    private final KvBlockManager blocks;
    private final int blockSize, vocab, context;
    private final Sequence[] seqs; // this step's drafting sequences
    private final int[] want, row, chunk; // per drafting sequence: its k, its logits row, prompt rows caught up on
    private long passes, passNanos; // the draft's forward passes (for the report)
    private final Kernels own; // the draft's own one-thread kernels, or null (it runs on the engine's)

    /**
     * A draft model of at most this many parameters runs on the scheduler thread alone (kernels of one thread): its
     * operations are so small that handing them to a pool costs more than they do (the 0.9M KJV draft decodes 2.2x
     * faster on one thread than on two). {@code -Dpanamax.draftThreads=N} sets the draft's threads (0: the engine's).
     */
    static final long ONE_THREAD_PARAMS = 16_000_000;

    /**
     * @param nBlocks   blocks of the draft's pool (the target's count: the same token rows)
     * @param maxTokens rows per draft pass (the engine's token budget: catching up on a prompt takes many)
     * @param context   the engine's positions per sequence (drafting stops at the draft's trained context if shorter)
     */
    DraftModelRunner(ModelWeights weights, Kernels kernels, int nBlocks, int blockSize, GgmlType kType, GgmlType vType,
                     int maxTokens, int maxSeqs, int seqBlocks, int context) {
        this.blockSize = blockSize;
        this.vocab = weights.vocabSize();
        this.context = Math.min(context, weights.trainedContextLength());
        if (!(weights instanceof TransformerWeights<?> tw)) throw new IllegalArgumentException("a draft model must be a decoder, got " + weights.arch());
        KvCache cache = null;
        ForwardPass fp = null;
        Kernels k = null;
        ForwardBatch fb = null;
        try {
            int threads = Integer.getInteger("panamax.draftThreads", weights.parameterCount() <= ONE_THREAD_PARAMS ? 1 : 0);
            if (threads > 0 && threads != kernels.threads()) k = KernelsProvider.create(kernels.backend(), threads);
            cache = weights.newKvCache(nBlocks, blockSize, kType, vType);
            fp = weights.newForward(k != null ? k : kernels, maxTokens);
            fb = new ForwardBatch(maxTokens, maxSeqs, Math.multiplyExact(maxSeqs, seqBlocks), maxSeqs, vocab, tw.output.cols());
            head = new DraftHead(k != null ? k : kernels, tw.output, tw.packed(), headTokens(vocab), maxSeqs);
        } catch (RuntimeException | OutOfMemoryError e) {
            if (fb != null) fb.close();
            if (fp != null) fp.close();
            if (cache != null) cache.close();
            if (k != null) k.close();
            throw e;
        }
        own = k;
        batch = fb;
        kv = cache;
        pass = fp;
        blocks = new KvBlockManager(nBlocks, blockSize, false);
        seqs = new Sequence[maxSeqs];
        want = new int[maxSeqs];
        row = new int[maxSeqs];
        chunk = new int[maxSeqs];
    }

    /**
     * Drafts for the coming step. For each decoding sequence of {@code running} that speculates with the draft model,
     * in order: k = its own (adaptive: at most {@code cap}, the step's arm of {@link DraftPolicy}), within the spare
     * token budget, the step's logits rows, the token limit and both contexts; then the batched draft passes. Sets
     * {@code draftReady} (0 for a sequence that drafts nothing).
     *
     * @param budget      the step's token budget
     * @param draftLogits logits rows of the step beyond one per sequence
     */
    void prepare(List<Sequence> running, int cap, int budget, int draftLogits) {
        int decoding = 0;
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            if (s.length - s.computed == 1) decoding++;
        }
        int spare = budget - decoding, n = 0, deepest = 0;
        batch.clear();
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            if (s.length - s.computed != 1) continue;
            if (s.draftTable == null) continue;
            s.draftReady = 0;
            sync(s);
            int maxK = Math.min(Math.min(s.spec.maxDraft(), Math.min(spare, draftLogits)),
                    Math.min(s.maxTokens - s.generated() - 1, context - s.length));
            if (maxK <= 0) continue;
            int k = s.spec.adaptive() ? Math.min(maxK, cap) : maxK;
            if (k == 0) continue;
            for (; s.draftCounted < s.length; s.draftCounted++) head.count(s.tokens[s.draftCounted]);
            if (WINDOW > 0 && s.spec.adaptive() && s.length - s.draftComputed > WINDOW) restart(s, s.length - WINDOW);
            int behind = s.length - s.draftComputed; // >= 1: the pending token at least
            int room = batch.maxTokens - batch.tokens();
            if (room <= 0) continue;
            if (behind > room) { // a long prompt to catch up on: a chunk now, drafts in a later step
                if (grow(s, s.draftComputed + room) < s.draftComputed + room) continue;
                batch.add(s.tokens, s.draftComputed, room, s.draftComputed - s.draftBase, s.draftTable, blockSize, 0);
                seqs[n] = s;
                want[n] = 0;
                chunk[n++] = room;
                continue;
            }
            k = Math.min(k, grow(s, s.length + k - 1) - s.length + 1); // the guesses' rows need blocks too
            if (k <= 0) continue;
            seqs[n] = s;
            want[n] = k;
            row[n++] = batch.add(s.tokens, s.draftComputed, behind, s.draftComputed - s.draftBase, s.draftTable, blockSize, 1);
            spare -= k;
            draftLogits -= k;
            deepest = Math.max(deepest, k);
        }
        if (n == 0) return;
        forward(); // the first guesses
        for (int i = 0; i < n; i++) {
            Sequence s = seqs[i];
            if (want[i] == 0) {
                s.draftComputed += chunk[i];
                continue;
            }
            s.draftComputed = s.length;
            s.draftTail = 0;
            guess(s, row[i], 0);
        }
        for (int j = 1; j < deepest; j++) { // each further pass: one row per sequence still drafting
            batch.clear();
            for (int i = 0; i < n; i++) {
                Sequence s = seqs[i];
                if (want[i] <= j || s.draftReady != j) continue;
                row[i] = batch.add(s.draft, j - 1, 1, s.length + j - 1 - s.draftBase, s.draftTable, blockSize, 1);
                s.draftTail = j;
            }
            if (batch.tokens() == 0) break;
            forward();
            for (int i = 0; i < n; i++) {
                Sequence s = seqs[i];
                if (want[i] > j && s.draftReady == j && s.draftTail == j) guess(s, row[i], j);
            }
        }
    }

    private void forward() {
        long t0 = System.nanoTime();
        pass.forward(batch, kv);
        head.run(batch.logits(), batch.logitRows());
        passNanos += System.nanoTime() - t0;
        passes++;
    }

    /** The draft's greedy guess from head row r as draft j of s, kept when the draft is sure enough. */
    private void guess(Sequence s, int r, int j) {
        int best = head.argmax(r);
        if (s.spec.adaptive() && P_MIN > 0 && head.topProbability(r) < P_MIN) return;
        s.draft[j] = best;
        s.draftReady = j + 1;
    }

    /**
     * Keeps the draft rows of s that hold its real tokens: the guesses written last time count as far as they match
     * what followed; blocks past the kept rows go back to the pool.
     */
    private void sync(Sequence s) {
        int j = 0;
        while (j < s.draftTail && s.draftComputed + j < s.length && s.tokens[s.draftComputed + j] == s.draft[j]) j++;
        // the pending token's row is computed again even when a guess already wrote it: its logits are the first guess's
        s.draftComputed = Math.min(s.draftComputed + j, s.length - 1);
        s.draftTail = 0;
        int keep = (s.draftComputed - s.draftBase + blockSize - 1) / blockSize;
        if (s.draftBlocks > keep) {
            blocks.release(s.draftTable, keep, s.draftBlocks);
            s.draftBlocks = keep;
        }
    }

    /** The draft of s starts again at sequence position {@code base} (its draft position 0), its rows dropped. */
    private void restart(Sequence s, int base) {
        if (s.draftBlocks > 0) blocks.release(s.draftTable, s.draftBlocks);
        s.draftBlocks = 0;
        s.draftBase = s.draftComputed = base;
    }

    /** Blocks for sequence positions [draftBase, upTo) of s in the draft's pool; returns the sequence position they reach. */
    private int grow(Sequence s, int upTo) {
        int need = Math.min((upTo - s.draftBase + blockSize - 1) / blockSize, s.draftTable.length);
        while (s.draftBlocks < need) {
            int b = blocks.allocate();
            if (b < 0) break;
            s.draftTable[s.draftBlocks++] = b;
        }
        return s.draftBase + s.draftBlocks * blockSize;
    }

    /** s ended or waits again: its draft rows go back to the pool. */
    void release(Sequence s) {
        if (s.draftTable == null) return;
        if (s.draftBlocks > 0) blocks.release(s.draftTable, s.draftBlocks);
        s.draftBlocks = s.draftComputed = s.draftTail = s.draftReady = s.draftBase = 0;
    }

    int usedBlocks() {
        return blocks.usedBlocks();
    }

    int totalBlocks() {
        return blocks.totalBlocks();
    }

    /** Draft forward passes run and their total time. */
    long passes() {
        return passes;
    }

    long passNanos() {
        return passNanos;
    }

    /** The draft's head (for tests). */
    DraftHead head() {
        return head;
    }

    @Override
    public void close() {
        head.close();
        pass.close();
        kv.close();
        batch.close();
        if (own != null) own.close();
    }
}
