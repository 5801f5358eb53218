package dev.panamax.engine;

import dev.panamax.ContextOverflowException;
import dev.panamax.EngineOverloadedException;
import dev.panamax.Generation;
import dev.panamax.GenerationRequest;
import dev.panamax.TokenLogprob;
import dev.panamax.kernels.Kernels;
import dev.panamax.model.ModelWeights;
import dev.panamax.sampling.Sampler;
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
 */
public final class Scheduler implements AutoCloseable {

    /** Engine limits, as {@link dev.panamax.Engine.Config} resolved them. */
    public record Limits(int maxSequences, int tokenBudget, int contextLength, int blockSize, int nBlocks,
                         int queueCapacity, boolean prefixCache, GgmlType kvType) {
    }

    private static final int STEP_HISTORY = 4096;

    private final Limits lim;
    private final Tokenizer tokenizer;
    private final int vocab, seqBlocks;
    private final KvBlockManager blocks;
    private final ModelRunner runner;
    private final ConcurrentLinkedQueue<Sequence> incoming = new ConcurrentLinkedQueue<>();
    private final AtomicInteger queued = new AtomicInteger(); // incoming + waiting
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    // the step being built: sequence, its tokens this step, its logits row (-1 none)
    private final Sequence[] stepSeq;
    private final int[] stepLen, stepLogits;
    private int stepCount;
    private final long[] stepNanos = new long[STEP_HISTORY];
    private long steps;
    private final Thread thread;
    private volatile boolean closing;
    private volatile Throwable failure;
    private volatile int runningCount, usedBlocks;

    public Scheduler(ModelWeights weights, Tokenizer tokenizer, Kernels kernels, Limits limits) {
        if (limits.tokenBudget() < limits.maxSequences()) {
            throw new IllegalArgumentException("token budget " + limits.tokenBudget() + " is below the sequence limit " + limits.maxSequences());
        }
        this.lim = limits;
        this.tokenizer = tokenizer;
        this.vocab = weights.vocabSize();
        this.seqBlocks = (limits.contextLength() + limits.blockSize() - 1) / limits.blockSize();
        this.blocks = new KvBlockManager(limits.nBlocks(), limits.blockSize(), limits.prefixCache());
        this.runner = new ModelRunner(weights, kernels, limits.nBlocks(), limits.blockSize(), limits.kvType(),
                limits.tokenBudget(), limits.maxSequences(), seqBlocks);
        stepSeq = new Sequence[limits.maxSequences()];
        stepLen = new int[limits.maxSequences()];
        stepLogits = new int[limits.maxSequences()];
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
        Sequence s = new Sequence(r, sink, vocab, tokenizer, seqBlocks); // checks the request against the vocabulary
        if (queued.incrementAndGet() > lim.queueCapacity()) {
            queued.decrementAndGet();
            throw new EngineOverloadedException("the engine's queue is full (" + lim.queueCapacity() + " waiting requests)");
        }
        incoming.add(s);
        LockSupport.unpark(thread);
        return s;
    }

    private void loop() {
        try {
            while (true) {
                for (Sequence s; (s = incoming.poll()) != null; ) waiting.add(s);
                if (closing) break;
                reap();
                if (running.isEmpty() && waiting.isEmpty()) {
                    publish();
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
        var batch = runner.batch;
        batch.clear();
        stepCount = 0;
        int budget = lim.tokenBudget();
        // 1. one token for every decoding sequence
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            if (s.length - s.computed != 1) continue;
            while (!grow(s, s.computed + 1)) {
                Sequence victim = running.get(running.size() - 1);
                preempt(victim);
                if (victim == s) break;
            }
            if (!running.contains(s)) { i--; continue; }
            schedule(s, 1);
            budget--;
        }
        // 2. prompt chunks of admitted sequences, in admission order
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            int left = s.length - s.computed;
            if (left <= 1) continue; // decoding: scheduled above
            int n = Math.min(left, budget);
            n = growUpTo(s, n);
            if (n == 0) continue;
            schedule(s, n);
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
            running.add(s);
            schedule(s, n);
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
        for (int i = 0; i < stepCount; i++) advance(stepSeq[i], stepLen[i], stepLogits[i], t1);
    }

    /** What other threads read of the engine's load. */
    private void publish() {
        runningCount = running.size();
        usedBlocks = blocks.usedBlocks();
    }

    private void schedule(Sequence s, int n) {
        boolean last = s.computed + n == s.length;
        int row = runner.batch.add(s.tokens, s.computed, n, s.computed, s.table, lim.blockSize(), last ? 1 : 0);
        stepSeq[stepCount] = s;
        stepLen[stepCount] = n;
        stepLogits[stepCount] = row;
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
        waiting.addFirst(s);
    }

    /** After the step: s computed n more tokens; register its full blocks, sample when it reached its end. */
    private void advance(Sequence s, int n, int logitsRow, long now) {
        s.computed += n;
        int full = s.computed / lim.blockSize();
        while (s.hashedBlocks < full) {
            s.lastHash = blocks.registerFull(s.table[s.hashedBlocks], s.lastHash, s.tokens, s.hashedBlocks * lim.blockSize());
            s.hashedBlocks++;
        }
        if (logitsRow < 0) return;
        if (s.promptDoneNanos == 0) s.promptDoneNanos = now;
        int tok = s.sampler.sample(runner.batch.logits(), 4L * logitsRow * vocab);
        if (s.firstTokenNanos == 0) s.firstTokenNanos = System.nanoTime();
        if (tok == Sampler.NO_TOKEN) {
            retire(s, Generation.StopReason.NO_ALLOWED_TOKEN);
            return;
        }
        if (tokenizer.isEog(tok) && !s.request.ignoreEos()) {
            retire(s, Generation.StopReason.END_OF_GENERATION);
            return;
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
            return;
        }
        if (s.stop.stopped()) retire(s, Generation.StopReason.STOP_STRING);
        else if (s.generated() >= s.maxTokens) retire(s, Generation.StopReason.LENGTH);
        else if (s.length >= lim.contextLength()) retire(s, Generation.StopReason.CONTEXT_FULL);
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
        dequeued(s);
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

    public Limits limits() {
        return lim;
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
        if (interrupted) Thread.currentThread().interrupt();
    }
}
