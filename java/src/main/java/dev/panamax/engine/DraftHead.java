package dev.panamax.engine;

import dev.panamax.kernels.Kernels;
import dev.panamax.model.PackedWeights;
import dev.panamax.model.Weight;
import dev.panamax.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The draft model's output head, restricted to the tokens the engine emits most (as FR-Spec does): a draft model only
 * has to guess the target's next token, and a few of a vocabulary's tokens make most of any text, so the head's
 * matrix — on a small draft the biggest one (the 0.9M KJV draft: 4,096 x 128 of its 918K parameters, 29% of a
 * Q8_0 draft pass's kernel time) — is computed for those rows only. The rows are the {@link #tokens} most frequent
 * in every sequence the draft has read (prompts and emitted tokens, counted as the draft catches up on them), copied once
 * into a matrix of their own (packed where the kernels prefer) and chosen again as more are counted; until
 * {@link #FIRST_CHOICE} tokens are counted, and for a vocabulary under {@link #MIN_VOCAB_FACTOR} times the subset,
 * the whole head is computed. Output stays exact — verification decides every token — a guess outside the subset
 * is just never made. The guess's probability (for the adaptive cut at {@code p_min}) is taken within the computed
 * rows: with a subset an upper bound of the draft's full probability. Scheduler thread only; allocates nothing per
 * step.
 */
final class DraftHead implements AutoCloseable {

    /**
     * The subset is chosen after this many counted tokens, and again after twice as many more, and so on up to every
     * {@link #LAST_INTERVAL} tokens; from then on each choice also halves the counts, so the subset follows what the
     * engine serves now rather than what it served at first.
     */
    static final long FIRST_CHOICE = 1024, LAST_INTERVAL = 1 << 20;
    /** The subset is only used when the vocabulary has at least this many times its tokens. */
    static final int MIN_VOCAB_FACTOR = 2;

    private final Kernels k;
    private final Weight full; // the draft's output matrix (vocab x dim)
    private final MemorySegment fullPacked; // its packed copy, or null
    private final int vocab, dim, tokens; // tokens: rows of the subset (0: always the full head)
    private final long[] count; // per token id: times read by the draft
    private long sinceChoice, interval = FIRST_CHOICE; // tokens counted since the last choice; until the next
    private final int[] ids; // subset row -> token id
    private final Arena arena = Arena.ofShared();
    private final MemorySegment rows, rowsPacked, logits; // the subset's rows as stored and packed; [maxRows][vocab]
    private final MemorySegment[] fullRows, subsetRows; // logits row r as a view, for each width (made once)
    private boolean restricted; // the subset is chosen (else the full head)
    private int width; // logits per row in the last run
    private long choices; // times the subset was chosen

    /**
     * @param tokens  rows of the subset (a multiple of 16: the packed layout's rows); 0 or at least vocab /
     *                {@link #MIN_VOCAB_FACTOR}: always the full head
     * @param maxRows rows per {@link #run}
     */
    DraftHead(Kernels kernels, Weight output, PackedWeights packed, int tokens, int maxRows) {
        if (tokens < 0 || tokens % 16 != 0) throw new IllegalArgumentException("draft head tokens must be a multiple of 16, got " + tokens);
        this.k = kernels;
        this.full = output;
        this.fullPacked = packed.get(output);
        this.vocab = output.rows();
        this.dim = output.cols();
        this.tokens = tokens > 0 && (long) tokens * MIN_VOCAB_FACTOR <= vocab ? tokens : 0;
        this.count = new long[vocab];
        this.ids = new int[this.tokens];
        try {
            logits = arena.allocate(Math.multiplyExact(4L * maxRows, (long) vocab), 64);
            long rowBytes = output.type().rowBytes(dim);
            rows = this.tokens == 0 ? null : arena.allocate(rowBytes * this.tokens, 64);
            long pb = this.tokens == 0 ? 0 : k.packedBytes(output.type(), this.tokens, dim);
            rowsPacked = pb == 0 ? null : arena.allocate(pb, 64);
            fullRows = new MemorySegment[maxRows];
            subsetRows = new MemorySegment[maxRows];
            for (int r = 0; r < maxRows; r++) {
                fullRows[r] = logits.asSlice(4L * r * vocab, 4L * vocab);
                subsetRows[r] = logits.asSlice(4L * r * this.tokens, 4L * this.tokens);
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            arena.close();
            throw e;
        }
    }

    /** The draft reads token {@code id} of a sequence (once per position): counts toward the subset. */
    void count(int id) {
        count[id]++;
        sinceChoice++;
    }

    /**
     * Logits of {@code n} final-normed hidden rows ([n][dim] floats) over the subset, or the whole vocabulary before
     * it is chosen; chooses the subset first when the counts call for it.
     */
    void run(MemorySegment hidden, int n) {
        if (tokens > 0 && sinceChoice >= interval) {
            choose();
            sinceChoice = 0;
            if (interval < LAST_INTERVAL) interval *= 2;
            else for (int id = 0; id < vocab; id++) count[id] >>= 1;
        }
        if (n == 0) return; // a pass that only caught up on prompts
        if (restricted) {
            if (rowsPacked != null) k.matmulPacked(full.type(), rowsPacked, tokens, dim, hidden, n, logits);
            else k.matmul(full.type(), rows, tokens, dim, hidden, n, logits);
            width = tokens;
        } else {
            if (fullPacked != null) k.matmulPacked(full.type(), fullPacked, vocab, dim, hidden, n, logits);
            else k.matmul(full.type(), full.data(), vocab, dim, hidden, n, logits);
            width = vocab;
        }
    }

    /** The token with the largest logit of row r of the last {@link #run}. */
    int argmax(int r) {
        int i = k.argmax(row(r), width);
        return restricted ? ids[i] : i;
    }

    /**
     * The probability of row r's top token within the computed rows (softmax, in place: the row's logits are gone
     * afterwards). Call after {@link #argmax}.
     */
    float topProbability(int r) {
        MemorySegment row = row(r);
        int i = k.argmax(row, width);
        k.softmax(row, width, 1);
        return row.getAtIndex(ValueLayout.JAVA_FLOAT, i);
    }

    private MemorySegment row(int r) {
        return width == vocab ? fullRows[r] : subsetRows[r];
    }

    /**
     * Picks the {@link #tokens} most counted ids (ties: the lower id), in id order, and copies their rows of the head:
     * the count that is the subset's smallest is found by bisection, so nothing is sorted or allocated.
     */
    private void choose() {
        long lo = 0, hi = 0; // the largest threshold t with at least `tokens` ids counted >= t
        for (long c : count) hi = Math.max(hi, c);
        while (lo < hi) {
            long mid = (lo + hi + 1) >>> 1;
            if (atLeast(mid) >= tokens) lo = mid;
            else hi = mid - 1;
        }
        int ties = tokens - atLeast(lo + 1), n = 0; // ids counted exactly lo that fit, the lowest ones
        for (int id = 0; id < vocab && n < tokens; id++) {
            if (count[id] > lo || count[id] == lo && ties-- > 0) ids[n++] = id;
        }
        long rb = full.type().rowBytes(dim);
        for (int i = 0; i < tokens; i++) MemorySegment.copy(full.data(), rb * ids[i], rows, rb * i, rb);
        if (rowsPacked != null) k.pack(full.type(), rowsPacked, rows, tokens, dim);
        restricted = true;
        choices++;
    }

    private int atLeast(long t) {
        int n = 0;
        for (long c : count) if (c >= t) n++;
        return n;
    }

    /** Whether the last {@link #run} computed the subset only. */
    boolean restricted() {
        return restricted;
    }

    /** The subset's token ids, in row order (a copy; for tests), or an empty array before it is chosen. */
    int[] subset() {
        return restricted ? ids.clone() : new int[0];
    }

    long choices() {
        return choices;
    }

    GgmlType type() {
        return full.type();
    }

    @Override
    public void close() {
        arena.close();
    }
}
