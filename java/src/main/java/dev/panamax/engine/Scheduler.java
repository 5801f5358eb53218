package dev.panamax.engine;

import dev.panamax.ContextOverflowException;
import dev.panamax.EngineOverloadedException;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.TokenLogprob;
import dev.panamax.kernels.Kernels;
import dev.panamax.model.ForwardBatch;
import dev.panamax.model.ModelWeights;
import dev.panamax.sampling.Sampler;
import dev.panamax.spec.DraftPolicy;
import dev.panamax.spec.NgramDrafter;
import dev.panamax.spec.NgramPool;
import dev.panamax.spec.Speculation;
import dev.panamax.tensor.GgmlType;
import dev.panamax.tokenizer.Tokenizer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The engine's one thread: continuous batching. Each step it (1) gives every running sequence that is decoding one
 * token, (2) gives sequences still in their prompt a chunk (chunked prefill: a long prompt never holds the decoding
 * streams up for more than one chunk), (3) admits waiting requests while the step's token budget, the sequence limit
 * and the KV pool allow, taking their cached prefix blocks from the {@link KvBlockManager}, then runs one forward pass
 * over the mixed batch ({@link ModelRunner}) and samples every sequence that reached the end of its known tokens. A
 * decoding sequence that finds no free block preempts the most recently admitted one (its blocks are freed, it waits
 * at the head of the queue and recomputes later: vLLM's recompute preemption). Requests finish on an end-of-generation
 * token, a stop string, the token limit, a full context, or cancellation, and free their blocks at once.
 * Speculation ({@code dev.panamax.spec}): a decoding sequence may add k drafted tokens to its row (k+1 rows, every
 * one with logits); after the step its rows are sampled in order and the first token that is not the draft ends its
 * turn: accepted rows count as computed, the rest are dropped (blocks past the sequence's end go back to the pool,
 * the prefix cache only ever registers computed blocks). With MTP the model's nextn layer then runs over the step's
 * accepted rows (its KV pool shares the trunk's block ids) and its guess is the next step's draft. With a draft model
 * ({@link DraftModelRunner}, its own KV pool) the drafts of every sequence that speculates with it are made, batched,
 * before the step is built. With a step target ({@link Limits#stepTargetNanos}), a step that has decoding sequences
 * takes only the prompt tokens that fit beside them in that time, by a cost model it keeps from its own measured steps
 * (a decode-only step's time, a prompt token's cost): their inter-token latency stays near the target while a long
 * prompt arrives, at the price of that prompt's time to first token.
 */
public final class Scheduler implements AutoCloseable {

    /** Engine limits, as {@link dev.panamax.Engine.Config} resolved them ({@code stepTargetNanos} 0: no step target). */
    public record Limits(int maxSequences, int tokenBudget, int contextLength, int blockSize, int nBlocks,
                         int queueCapacity, boolean prefixCache, GgmlType kType, GgmlType vType, Speculation spec,
                         long stepTargetNanos) {
    }

    /** Speculation counters since the engine opened: drafted and accepted tokens, verify passes, tokens they gave. */
    public record SpecCounters(long drafted, long accepted, long passes, long tokens) {
    }

    private static final int STEP_HISTORY = 4096;
    /** Drafts are cut at their first token the request's grammar forbids (off only for the test that measures it). */
    static volatile boolean grammarPrecheck = true;

    private final Limits lim;
    private final Tokenizer tokenizer;
    private final int vocab, seqBlocks;
    private final KvBlockManager blocks;
    private final ModelRunner runner;
    private final DraftModelRunner draftRunner; // null without a draft model
    private final ConcurrentLinkedQueue<Sequence> incoming = new ConcurrentLinkedQueue<>();
    private final AtomicInteger queued = new AtomicInteger(); // incoming + waiting
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    // the step being built: sequence, its tokens this step, its logits row (-1 none)
    private final Sequence[] stepSeq;
    private final int[] stepLen, stepLogits, stepDraft, stepRow0, stepPos0, mtpRow;
    private final Sequence[] mtpSeq; // the sequences of the MTP layer's run
    private long mtpNanos; // the last MTP run's time (cpuNanos): a cost of the step that uses its guesses
    // the last decode step, measured for the draft policy when the next step starts (-1: none): everything between
    // two steps is its cost too
    private int pendingSeqs = -1, pendingTokens, pendingArm, pendingMaxK;
    private long pendingBegin, pendingMtp;
    private int stepCap; // this step's cap on an adaptive sequence's drafts (DraftPolicy's arm)
    private int stepCount, draftLogits, stepTokens; // stepTokens: emitted by the step's sampling
    private final DraftPolicy policy;
    private final NgramPool ngramPool = new NgramPool(); // every ended request's n-grams, for prompt lookup
    private volatile long specDrafted, specAccepted, specPasses, specTokens; // written by the scheduler thread only
    // the step target's cost model, from measured steps (running means; -1: not measured yet): a decode-only step, and
    // one prompt token in a step that has prompt rows
    private double decodeStepNanos = -1, promptTokenNanos = -1;
    private final long[] stepNanos = new long[STEP_HISTORY];
    private long steps;
    private final Thread thread;
    private volatile boolean closing;
    private volatile Throwable failure;
    private volatile int runningCount, usedBlocks, draftUsedBlocks;

    public Scheduler(ModelWeights weights, Tokenizer tokenizer, Kernels kernels, Limits limits) {
        this(weights, null, tokenizer, kernels, limits);
    }

    /** @param draft the draft model's weights (same vocabulary: the caller checked), or null */
    public Scheduler(ModelWeights weights, ModelWeights draft, Tokenizer tokenizer, Kernels kernels, Limits limits) {
        if (limits.tokenBudget() < limits.maxSequences()) {
            throw new IllegalArgumentException("token budget " + limits.tokenBudget() + " is below the sequence limit " + limits.maxSequences());
        }
        this.lim = limits;
        this.tokenizer = tokenizer;
        this.vocab = weights.vocabSize();
        this.seqBlocks = (limits.contextLength() + limits.blockSize() - 1) / limits.blockSize();
        this.blocks = new KvBlockManager(limits.nBlocks(), limits.blockSize(), limits.prefixCache());
        // logits rows: one per sequence, plus the drafts' (an engine without default speculation still lets one request
        // draft up to MAX_DRAFT tokens per step)
        Speculation sp = limits.spec();
        long draftRows = sp.on() ? (long) limits.maxSequences() * sp.maxDraft() : Speculation.MAX_DRAFT;
        int maxLogits = (int) Math.min(limits.tokenBudget(), limits.maxSequences() + draftRows);
        this.runner = new ModelRunner(weights, kernels, limits.nBlocks(), limits.blockSize(), limits.kType(), limits.vType(),
                limits.tokenBudget(), limits.maxSequences(), seqBlocks, maxLogits, sp.mode() == Speculation.Mode.MTP);
        try {
            this.draftRunner = draft == null ? null : new DraftModelRunner(draft, kernels, limits.nBlocks(), limits.blockSize(),
                    limits.kType(), limits.vType(), limits.tokenBudget(), limits.maxSequences(), seqBlocks, limits.contextLength());
        } catch (RuntimeException | OutOfMemoryError e) {
            runner.close();
            throw e;
        }
        this.policy = new DraftPolicy(limits.maxSequences());
        int m = limits.maxSequences();
        stepSeq = new Sequence[m];
        stepLen = new int[m];
        stepLogits = new int[m];
        stepDraft = new int[m];
        stepRow0 = new int[m];
        stepPos0 = new int[m];
        mtpRow = new int[m];
        mtpSeq = new Sequence[m];
        thread = Thread.ofPlatform().name("panamax-engine").daemon().unstarted(this::loop);
        thread.start();
    }

    /**
     * Queues a request.
     *
     * @throws ContextOverflowException   when prompt + max tokens exceed the context, or the whole KV pool
     * @throws EngineOverloadedException  when the waiting queue is full
     * @throws IllegalStateException      when the engine is closing
     */
    public Sequence submit(GenerationRequest r, Sequence.Sink sink) {
        if (closing) throw new IllegalStateException("engine is closed");
        int[] p = r.promptTokens();
        long need = (long) p.length + r.maxTokens();
        if (need > lim.contextLength()) throw new ContextOverflowException((int) Math.min(need, Integer.MAX_VALUE), lim.contextLength());
        if ((need + lim.blockSize() - 1) / lim.blockSize() > lim.nBlocks()) {
            throw new ContextOverflowException((int) need, lim.nBlocks() * lim.blockSize());
        }
        if (failure != null) throw new IllegalStateException("the engine stopped after an error", failure);
        for (int t : p) if (t < 0 || t >= vocab) throw new IllegalArgumentException("token id " + t + " outside the vocabulary [0, " + vocab + ")");
        Sequence s = new Sequence(r, sink, vocab, tokenizer, seqBlocks, speculation(r)); // checks the request against the vocabulary
        if (queued.incrementAndGet() > lim.queueCapacity()) {
            queued.decrementAndGet();
            throw new EngineOverloadedException("the engine's queue is full (" + lim.queueCapacity() + " waiting requests)");
        }
        incoming.add(s);
        LockSupport.unpark(thread);
        return s;
    }

    /** The request's speculation as this engine runs it. */
    private Speculation speculation(GenerationRequest r) {
        Speculation sp = r.speculation() == null ? lim.spec() : r.speculation();
        if (sp.mode() == Speculation.Mode.MTP) {
            if (!runner.mtp()) {
                throw new IllegalArgumentException("MTP speculation needs an engine opened with it (Engine.Config.withSpeculation)");
            }
            sp = new Speculation(Speculation.Mode.MTP, 1, sp.adaptive()); // one MTP layer guesses one token ahead
        }
        if (sp.mode() == Speculation.Mode.DRAFT && draftRunner == null) {
            throw new IllegalArgumentException("draft-model speculation needs an engine opened with a draft model (Engine.Config.withSpeculation(Speculation.draft(file, k)))");
        }
        return sp;
    }

    private void loop() {
        try {
            while (true) {
                for (Sequence s; (s = incoming.poll()) != null; ) waiting.add(s);
                if (closing) break;
                reap();
                if (running.isEmpty() && waiting.isEmpty()) {
                    publish();
                    pendingSeqs = -1; // idle time is no step's
                    LockSupport.park(this);
                    continue;
                }
                step();
                publish();
            }
        } catch (Throwable t) {
            failure = t;
        }
        // closing (requests end cancelled) or failed (they end with the error): nobody waits forever
        for (Sequence s; (s = incoming.poll()) != null; ) waiting.add(s);
        Throwable t = failure;
        for (Sequence s : running) {
            if (t == null) finish(s, Generation.StopReason.CANCELLED);
            else end(s, null, t);
        }
        running.clear();
        for (Sequence s : waiting) {
            if (t == null) finish(s, Generation.StopReason.CANCELLED);
            else end(s, null, t);
        }
        waiting.clear();
    }

    /** {@code -Dpanamax.specTrace=true}: every adaptive decode step's speculation decisions on stderr (for diagnosis). */
    static final boolean TRACE = Boolean.getBoolean("panamax.specTrace");
    private long traceLast; // the last trace line's time: from one to the next, a whole step

    /**
     * A decode step's trace line: its arm and cap, the best arm, each sequence's drafts, the step's rows and where its
     * wall time went (us: since the last line, the draft model's passes, building the batch, the forward pass, sampling
     * and bookkeeping after it), the tokens it emitted, and the policy's measured throughput of each arm.
     */
    private void traceStep(int arm, int maxK, int decoding, int rows, long draftNs, long buildNs, long forwardNs, long afterNs) {
        long now = System.nanoTime(), period = traceLast == 0 ? 0 : now - traceLast;
        traceLast = now;
        StringBuilder b = new StringBuilder("spec-trace n=").append(decoding).append(" arm=").append(arm)
                .append(" cap=").append(DraftPolicy.cap(arm, maxK)).append(" best=").append(policy.best(decoding))
                .append(String.format(" rows=%d period=%.1f draft=%.1f build=%.1f forward=%.1f after=%.1f tokens=%d k=", rows,
                        period / 1e3, draftNs / 1e3, buildNs / 1e3, forwardNs / 1e3, afterNs / 1e3, stepTokens));
        for (int i = 0; i < stepCount; i++) b.append(stepDraft[i]).append(i + 1 < stepCount ? "," : "");
        b.append(" tok/s by arm:");
        for (int a = 0; a < DraftPolicy.arms(maxK); a++) b.append(String.format(" %.0f", policy.stepTokensPerSecond(decoding, a)));
        System.err.println(b);
    }

    /** Cancelled requests leave before the step is built. */
    private void reap() {
        for (int i = running.size() - 1; i >= 0; i--) {
            Sequence s = running.get(i);
            if (s.cancelled()) {
                running.remove(i);
                finish(s, Generation.StopReason.CANCELLED);
            }
        }
        waiting.removeIf(s -> {
            if (!s.cancelled()) return false;
            finish(s, Generation.StopReason.CANCELLED);
            return true;
        });
        publish();
    }

    private void step() {
        long begin = cpuNanos();
        if (pendingSeqs >= 0) { // the last decode step, start to start, with the MTP run it used, without the one it made
            policy.observeStep(pendingSeqs, pendingArm, pendingMaxK, pendingTokens, begin - pendingBegin - mtpNanos + pendingMtp);
            pendingSeqs = -1;
        }
        var batch = runner.batch;
        batch.clear();
        stepCount = 0;
        int budget = lim.tokenBudget();
        // 1. one token for every decoding sequence, and its drafts from what the others' tokens leave of the budget
        int decoding = 0, maxK = 0; // maxK: the adaptive sequences' largest k
        boolean fixed = false; // some decoding sequence drafts every step
        for (Sequence s : running) {
            if (s.length - s.computed != 1) continue;
            decoding++;
            if (s.spec.on() && s.spec.adaptive()) maxK = Math.max(maxK, s.spec.maxDraft());
            fixed |= s.spec.on() && !s.spec.adaptive();
        }
        // the adaptive sequences' cap: the policy's arm for this step, measured as a whole step (beside a fixed-k
        // sequence, whose drafts make the step's time no arm's, the best arm without measuring)
        boolean adaptive = maxK > 0;
        int arm = !adaptive ? 0 : fixed ? policy.best(decoding) : policy.stepArm(decoding, maxK);
        stepCap = DraftPolicy.cap(arm, maxK);
        boolean draftStep = fixed || stepCap > 0;
        int spare = budget - decoding;
        draftLogits = batch.maxLogits() - lim.maxSequences();
        long wall0 = TRACE ? System.nanoTime() : 0;
        if (draftRunner != null && draftStep) draftRunner.prepare(running, stepCap, budget, draftLogits);
        long drafted = TRACE ? System.nanoTime() : 0;
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            if (s.length - s.computed != 1) continue;
            while (!grow(s, s.computed + 1)) {
                Sequence victim = running.get(running.size() - 1);
                preempt(victim);
                if (victim == s) break;
            }
            if (!running.contains(s)) { i--; continue; }
            int k = spare > 0 && draftStep ? drafts(s, spare, decoding) : 0;
            schedule(s, 1 + k, k);
            spare -= k;
            draftLogits -= k;
            budget -= 1 + k;
        }
        int decodeSeqs = stepCount, decodeRows = lim.tokenBudget() - budget;
        // the decoding streams wait for this step: prompts get what fits beside them within the step target
        if (decodeSeqs > 0 && lim.stepTargetNanos() > 0) budget = Math.min(budget, promptAllowance());
        // 2. prompt chunks of admitted sequences, in admission order
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            int left = s.length - s.computed;
            if (left <= 1) continue; // decoding: scheduled above
            int n = Math.min(left, budget);
            n = growUpTo(s, n);
            if (n == 0) continue;
            schedule(s, n, 0);
            budget -= n;
        }
        // 3. admit waiting requests
        while (budget > 0 && !waiting.isEmpty() && running.size() < lim.maxSequences()) {
            Sequence s = waiting.peek();
            if (s.maxTokens == 0) {
                waiting.poll();
                finish(s, Generation.StopReason.LENGTH);
                continue;
            }
            if (!s.admitted) {
                // whole cached blocks of the prompt, leaving at least its last token to compute (its logits)
                int matched = blocks.matchPrefix(s.tokens, Math.min((s.length - 1) / lim.blockSize(), seqBlocks), s.table);
                s.nBlocks = s.hashedBlocks = matched;
                s.lastHash = blocks.lastHash();
                s.computed = s.cachedTokens = matched * lim.blockSize();
                s.admitted = true;
            }
            int n = growUpTo(s, Math.min(s.length - s.computed, budget));
            if (n == 0) { // no memory now: wait for blocks, holding none (a waiting request must not pin memory)
                blocks.release(s.table, s.nBlocks);
                s.nBlocks = s.hashedBlocks = s.computed = s.cachedTokens = 0;
                s.admitted = false;
                break;
            }
            waiting.poll();
            dequeued(s);
            if (s.scheduledNanos == 0) s.scheduledNanos = System.nanoTime();
            running.add(s);
            schedule(s, n, 0);
            budget -= n;
        }
        if (stepCount == 0) {
            // nothing fits: a request waits for memory that only finishing requests can free
            if (running.isEmpty() && !waiting.isEmpty()) {
                Sequence s = waiting.poll();
                end(s, null, new ContextOverflowException(s.length, blocks.availableBlocks() * lim.blockSize()));
            }
            return;
        }
        boolean decodeOnly = stepCount == decodeSeqs; // the draft policy measures decode steps
        publish(); // admitted requests count as running before their first token reaches anyone
        EngineEvents.Step event = null;
        if (EngineEvents.stepEnabled()) { // off: no event object, the step allocates nothing
            event = new EngineEvents.Step();
            event.begin();
        }
        long t0 = System.nanoTime();
        try {
            runner.step();
        } catch (RuntimeException e) {
            // the step's sequences have half-written KV rows: they end with the error, the engine goes on
            for (int i = 0; i < stepCount; i++) {
                running.remove(stepSeq[i]);
                end(stepSeq[i], null, e);
            }
            return;
        }
        long t1 = System.nanoTime();
        stepNanos[(int) (steps++ % STEP_HISTORY)] = t1 - t0;
        observeCost(batch.tokens() - decodeRows, decodeSeqs > 0, t1 - t0);
        if (event != null) {
            int decode = 0;
            for (int i = 0; i < stepCount; i++) if (stepSeq[i].computed + stepLen[i] > stepSeq[i].promptLength) decode++;
            int tokens = 0;
            for (int i = 0; i < stepCount; i++) tokens += stepLen[i];
            event.sequences = stepCount;
            event.decodeTokens = decode;
            event.promptTokens = tokens - decode;
            event.commit();
        }
        stepTokens = 0;
        for (int i = 0; i < stepCount; i++) advance(stepSeq[i], stepLen[i], stepLogits[i], stepDraft[i], t1);
        if (TRACE && (adaptive || fixed) && decodeOnly) traceStep(arm, maxK, decoding, batch.tokens(), drafted - wall0, t0 - drafted, t1 - t0, System.nanoTime() - t1);
        if (runner.mtp()) keepHidden();
        long mtpUsed = mtpNanos; // the MTP run that made this step's drafts counts as this step's
        mtpNanos = 0;
        if (decodeOnly && adaptive && !fixed) { // measured when the next step starts
            pendingSeqs = decodeSeqs;
            pendingArm = arm;
            pendingMaxK = maxK;
            pendingTokens = stepTokens;
            pendingBegin = begin;
            pendingMtp = mtpUsed;
        }
        if (runner.mtp()) mtp();
    }

    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();
    private static final boolean CPU_CLOCK = THREADS.isCurrentThreadCpuTimeSupported() && THREADS.isThreadCpuTimeEnabled();

    /**
     * The clock of the draft policy's step times: the scheduler thread's CPU time where the JVM has it, else wall time.
     * On a shared machine a step's wall time is mostly how long the thread waited for a core (the same arm's steps
     * varied 2-3x at a load average of 12 on 2 cores), which says nothing about the arm; the thread's CPU time leaves
     * that out. It still counts the step's own work and its waits for the pool's workers (the scheduler thread spins
     * for them), and a draft model's passes and an MTP layer run on this thread.
     */
    private static long cpuNanos() {
        return CPU_CLOCK ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
    }

    /**
     * Prompt tokens that fit beside the decode rows of a step within the step target: the room the last decode-only
     * steps leave, at the measured cost of a prompt token; never less than a block (prompts advance whatever the
     * target), and a block until a prompt token's cost has been measured.
     */
    private int promptAllowance() {
        if (promptTokenNanos <= 0) return lim.blockSize();
        double room = lim.stepTargetNanos() - Math.max(0, decodeStepNanos);
        return (int) Math.max(lim.blockSize(), Math.min(lim.tokenBudget(), room / promptTokenNanos));
    }

    /**
     * Learns the step target's cost model from a step of {@code promptTokens} prompt rows (beside decode rows when
     * {@code decoding}) that took {@code nanos}: a decode-only step's time, or a prompt token's share of what the step
     * took beyond the decode rows' time.
     */
    private void observeCost(int promptTokens, boolean decoding, long nanos) {
        if (promptTokens == 0) {
            decodeStepNanos = decodeStepNanos < 0 ? nanos : decodeStepNanos + 0.25 * (nanos - decodeStepNanos);
            return;
        }
        if (decoding && decodeStepNanos < 0) return; // the decode rows' share is not known yet
        double perToken = (nanos - (decoding ? decodeStepNanos : 0)) / promptTokens;
        if (perToken <= 0) return;
        promptTokenNanos = promptTokenNanos < 0 ? perToken : promptTokenNanos + 0.25 * (perToken - promptTokenNanos);
    }

    /**
     * Drafts for decoding sequence s: up to its k (adaptive: up to the step's cap), within the spare budget, the
     * token limit, the context and free
     * blocks (a draft never takes one of the last {@code reserve} free blocks: the other decoding sequences' rows come
     * first); written after its tokens and into {@code s.draft}. Returns how many.
     */
    private int drafts(Sequence s, int spare, int reserve) {
        if (!s.spec.on()) return 0;
        int maxK = Math.min(Math.min(s.spec.maxDraft(), spare), Math.min(s.maxTokens - s.generated() - 1, lim.contextLength() - s.length));
        maxK = Math.min(maxK, draftLogits);
        if (maxK <= 0) return 0;
        boolean model = s.spec.mode() == Speculation.Mode.DRAFT; // drafted before the step (k chosen then)
        int k = model ? Math.min(maxK, s.draftReady) : s.spec.adaptive() ? Math.min(maxK, stepCap) : maxK;
        if (k == 0) return 0;
        int got;
        if (model) {
            got = k;
        } else if (s.spec.mode() == Speculation.Mode.NGRAM) {
            got = NgramDrafter.draft(s.tokens, s.length, k, s.draft, 0);
            if (got == 0) got = ngramPool.draft(s.tokens, s.length, k, s.draft, 0); // what earlier requests wrote
        } else {
            got = s.mtpDraftAt == s.length && s.mtpDraft >= 0 ? 1 : 0;
            s.draft[0] = s.mtpDraft;
        }
        // a constrained sequence's draft ends before its first token the grammar forbids: that row could only be rejected
        if (got > 0 && grammarPrecheck && s.sampler.grammar() != null) got = s.sampler.grammar().acceptedPrefix(s.draft, 0, got);
        if (got == 0) return 0;
        int more = (s.computed + 1 + got + lim.blockSize() - 1) / lim.blockSize() - s.nBlocks;
        if (more > 0 && blocks.availableBlocks() - more < reserve) got = s.nBlocks * lim.blockSize() - s.computed - 1;
        else got = growUpTo(s, 1 + got) - 1;
        if (got <= 0) return 0;
        s.reserve(got);
        System.arraycopy(s.draft, 0, s.tokens, s.length, got);
        return got;
    }

    /** Keeps the trunk's hidden rows of every position the step computed (the MTP layer may need them later). */
    private void keepHidden() {
        for (int i = 0; i < stepCount; i++) {
            Sequence s = stepSeq[i];
            int p0 = stepPos0[i], n = s.computed - p0;
            if (!s.done && n > 0) runner.saveHidden(stepRow0[i], n, p0, s.table);
        }
    }

    /**
     * The MTP layer's guesses for the next step, only when that step may draft (a fixed-k MTP sequence decodes, or the
     * per-step switch will allow drafting: {@link DraftPolicy#nextStepDrafts}): while drafting is off it costs nothing
     * but {@link #keepHidden}. Each decoding MTP sequence catches up on the rows (h_p, t_(p+1)) of the positions it has
     * not run (its whole prompt at first, every position of a stretch without drafting), so its MTP cache is the one an
     * MTP layer run every step would have; its last row's argmax is its guess of the token after its pending one.
     */
    private void mtp() {
        int decoding = 0, maxK = 0;
        boolean want = false, fixed = false;
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            if (s.length - s.computed != 1) continue;
            decoding++;
            if (s.spec.on() && s.spec.adaptive()) maxK = Math.max(maxK, s.spec.maxDraft());
            fixed |= s.spec.on() && !s.spec.adaptive();
            want |= s.spec.mode() == Speculation.Mode.MTP;
        }
        if (!want || !fixed && !(maxK > 0 && policy.nextStepArm(decoding, maxK) > 0)) return;
        long t0 = cpuNanos();
        ForwardBatch mb = runner.mtpBatch;
        mb.clear();
        int rows = 0, n = 0;
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            if (s.length - s.computed != 1 || s.spec.mode() != Speculation.Mode.MTP) continue;
            int from = Math.min(s.mtpComputed, s.computed), todo = s.computed - from, room = mb.maxTokens - rows;
            if (todo <= 0 || room <= 0) continue;
            int take = Math.min(todo, room);
            runner.loadHidden(from, take, s.table, rows);
            boolean guess = take == todo; // caught up: its last row guesses
            int row = mb.add(s.tokens, from + 1, take, from, s.table, lim.blockSize(), guess ? 1 : 0);
            s.mtpComputed = from + take;
            rows += take;
            if (!guess) continue;
            mtpSeq[n] = s;
            mtpRow[n++] = row;
        }
        if (rows == 0) return;
        runner.mtpStep();
        for (int i = 0; i < n; i++) {
            mtpSeq[i].mtpDraft = runner.mtpArgmax(mtpRow[i]);
            mtpSeq[i].mtpDraftAt = mtpSeq[i].length;
            mtpSeq[i] = null;
        }
        mtpNanos = cpuNanos() - t0;
    }

    /** What other threads read of the engine's load. */
    private void publish() {
        runningCount = running.size();
        usedBlocks = blocks.usedBlocks();
        if (draftRunner != null) draftUsedBlocks = draftRunner.usedBlocks();
    }

    /** Adds n rows of s to the step, the last {@code nDraft} of them drafted tokens (then every row wants logits). */
    private void schedule(Sequence s, int n, int nDraft) {
        boolean last = s.computed + n - nDraft == s.length;
        stepRow0[stepCount] = runner.batch.tokens();
        int row = runner.batch.add(s.tokens, s.computed, n, s.computed, s.table, lim.blockSize(), nDraft > 0 ? 2 : last ? 1 : 0);
        stepSeq[stepCount] = s;
        stepLen[stepCount] = n;
        stepLogits[stepCount] = row;
        stepDraft[stepCount] = nDraft;
        stepPos0[stepCount] = s.computed;
        stepCount++;
    }

    /** Blocks for positions [0, upTo) of s; false when the pool ran out (what was taken stays with s). */
    private boolean grow(Sequence s, int upTo) {
        int need = (upTo + lim.blockSize() - 1) / lim.blockSize();
        while (s.nBlocks < need) {
            int b = blocks.allocate();
            if (b < 0) return false;
            s.table[s.nBlocks++] = b;
        }
        return true;
    }

    /** Grows s for up to n more tokens; returns how many fit (whole blocks as available). */
    private int growUpTo(Sequence s, int n) {
        if (grow(s, s.computed + n)) return n;
        return Math.max(0, Math.min(n, s.nBlocks * lim.blockSize() - s.computed));
    }

    /** Frees every block of s and puts it back at the head of the queue, to recompute its tokens later. */
    private void preempt(Sequence s) {
        running.remove(s);
        blocks.release(s.table, s.nBlocks);
        s.nBlocks = s.hashedBlocks = 0;
        s.computed = 0;
        s.lastHash = 0;
        s.admitted = false;
        s.mtpDraft = s.mtpDraftAt = -1;
        s.mtpComputed = 0;
        if (draftRunner != null) draftRunner.release(s);
        waiting.addFirst(s);
    }

    /**
     * After the step: s computed n more tokens (the last {@code nDraft} of them drafted); register its full blocks, and
     * when it reached its end sample its rows in order: the pending token's, then each draft's for as long as the token
     * sampled before it was that draft. Rows after the first miss are dropped, with the blocks only they used.
     */
    private void advance(Sequence s, int n, int logitsRow, int nDraft, long now) {
        s.computed += n - nDraft;
        registerFull(s);
        if (logitsRow < 0) return;
        if (s.promptDoneNanos == 0) s.promptDoneNanos = now;
        int before = s.length, accepted = 0;
        for (int i = 0; ; i++) {
            int tok = emit(s, logitsRow + i);
            if (tok < 0 || i == nDraft || tok != s.draft[i]) break;
            s.computed++; // draft i is the token that follows: its row's KV entries stand
            registerFull(s);
            accepted++;
        }
        if (nDraft > 0) {
            specDrafted += nDraft;
            specAccepted += accepted;
            specPasses++;
            specTokens += s.length - before;
        }
        if (!s.done) { // roll back: blocks past the pending token hold only rejected rows
            int keep = (s.computed + lim.blockSize()) / lim.blockSize(); // blocks for positions [0, computed]
            if (s.nBlocks > keep) {
                blocks.release(s.table, keep, s.nBlocks);
                s.nBlocks = keep;
            }
        }
    }

    /** Registers the full blocks of s's computed tokens in the prefix cache. */
    private void registerFull(Sequence s) {
        int full = s.computed / lim.blockSize();
        while (s.hashedBlocks < full) {
            s.lastHash = blocks.registerFull(s.table[s.hashedBlocks], s.lastHash, s.tokens, s.hashedBlocks * lim.blockSize());
            s.hashedBlocks++;
        }
    }

    /**
     * Samples s's next token from logits row {@code row}, appends and streams it, and ends s when the token or its text
     * ends the request. Returns the token, or -1 when s ended (the token, if any, was the last).
     */
    private int emit(Sequence s, int row) {
        int tok = s.sampler.sample(runner.batch.logits(), 4L * row * vocab);
        if (s.firstTokenNanos == 0) s.firstTokenNanos = System.nanoTime();
        stepTokens++;
        if (tok == Sampler.NO_TOKEN) {
            retire(s, Generation.StopReason.NO_ALLOWED_TOKEN);
            return -1;
        }
        if (tokenizer.isEog(tok) && !s.request.ignoreEos()) {
            retire(s, Generation.StopReason.END_OF_GENERATION);
            return -1;
        }
        s.sampler.accept(tok);
        s.append(tok);
        TokenLogprob lp = null;
        if (s.logprobs != null) {
            lp = s.lastLogprob(tok);
            s.logprobs.add(lp);
        }
        String piece = s.stop.push(s.decoder.push(tok));
        s.text.append(piece);
        try {
            s.sink.token(tok, piece, lp);
        } catch (RuntimeException e) { // a listener that throws ends its own request, not the engine
            running.remove(s);
            end(s, null, e);
            return -1;
        }
        if (s.stop.stopped()) retire(s, Generation.StopReason.STOP_STRING);
        else if (s.generated() >= s.maxTokens) retire(s, Generation.StopReason.LENGTH);
        else if (s.length >= lim.contextLength()) retire(s, Generation.StopReason.CONTEXT_FULL);
        return s.done ? -1 : tok;
    }

    /** A request leaves the waiting queue's count (admitted or ended), once. */
    private void dequeued(Sequence s) {
        if (s.inQueue) {
            s.inQueue = false;
            queued.decrementAndGet();
        }
    }

    /** s leaves the running set. */
    private void retire(Sequence s, Generation.StopReason why) {
        running.remove(s);
        finish(s, why);
    }

    private void finish(Sequence s, Generation.StopReason why) {
        if (why != Generation.StopReason.STOP_STRING && why != Generation.StopReason.CANCELLED) {
            String rest = s.stop.push(s.decoder.flush()) + s.stop.flush();
            s.text.append(rest);
            if (!rest.isEmpty()) {
                try {
                    s.sink.token(-1, rest, null);
                } catch (RuntimeException e) {
                    end(s, null, e);
                    return;
                }
            }
        }
        end(s, why, null);
    }

    /** Frees s's blocks and completes its handle, with an outcome or an error. */
    private void end(Sequence s, Generation.StopReason why, Throwable error) {
        if (s.nBlocks > 0) blocks.release(s.table, s.nBlocks);
        s.nBlocks = 0;
        if (draftRunner != null) draftRunner.release(s);
        if (error == null) ngramPool.add(s.tokens, s.length);
        s.done = true;
        dequeued(s);
        publish(); // whoever sees the handle complete sees the engine's counts without s
        try {
            Generation g = error != null ? null : s.outcome(why);
            if (EngineEvents.requestEnabled()) requestEvent(s, why);
            if (error != null) s.sink.fail(error);
            else s.sink.finish(g);
        } catch (RuntimeException e) {
            // a sink that throws must not stop the engine
        }
    }

    private static void requestEvent(Sequence s, Generation.StopReason why) {
        EngineEvents.Request e = new EngineEvents.Request();
        long now = System.nanoTime();
        e.promptTokens = s.promptLength;
        e.cachedTokens = s.cachedTokens;
        e.generatedTokens = s.generated();
        e.timeToFirstToken = s.firstTokenNanos > 0 ? s.firstTokenNanos - s.submittedNanos : 0;
        e.totalTime = now - s.submittedNanos;
        e.stopReason = why == null ? "error" : why.apiName();
        e.commit();
    }

    // ---- what callers may read from any thread ----

    public int runningSequences() {
        return runningCount;
    }

    public int waitingRequests() {
        return queued.get();
    }

    public int usedBlocks() {
        return usedBlocks;
    }

    public int totalBlocks() {
        return lim.nBlocks();
    }

    /** The n-grams of ended requests that prompt lookup falls back on (add text from any thread). */
    public NgramPool ngramPool() {
        return ngramPool;
    }

    /** Blocks held in the draft model's KV pool (0 without one; read between steps). */
    public int draftUsedBlocks() {
        return draftUsedBlocks;
    }

    public Limits limits() {
        return lim;
    }

    /** Speculation counters since the engine opened (any thread; a consistent snapshot between steps). */
    public SpecCounters specCounters() {
        return new SpecCounters(specDrafted, specAccepted, specPasses, specTokens);
    }

    /** Durations of the most recent forward steps, in nanoseconds (at most 4096). */
    public long[] recentStepNanos() {
        int n = (int) Math.min(steps, STEP_HISTORY);
        return Arrays.copyOf(stepNanos, n);
    }

    /** The error that stopped the scheduler thread, or null. */
    public Throwable failure() {
        return failure;
    }

    /**
     * Stops: requests in flight end cancelled, the thread finishes its running step and exits, then the KV pool and
     * activations are freed. The kernels belong to the caller.
     */
    @Override
    public void close() {
        closing = true;
        LockSupport.unpark(thread);
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        runner.close();
        if (draftRunner != null) draftRunner.close();
        if (interrupted) Thread.currentThread().interrupt();
    }
}
