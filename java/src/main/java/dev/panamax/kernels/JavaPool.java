package dev.panamax.kernels;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The Java backends' thread pool: {@code size - 1} persistent platform (daemon) threads plus the caller, which runs a
 * share of every job. One job runs at a time (a {@link Kernels} instance is used by one thread). A job is split into
 * chunks of a range taken from one shared counter, so a slower core takes fewer chunks; which thread computes a
 * chunk never changes what it computes, and the caller waits only for chunks taken (a worker the OS has not yet
 * scheduled holds nothing up). Between jobs a worker spins for {@link #SPIN_NANOS} (a decode step runs ~100
 * jobs back to back, and waking a parked thread costs tens of microseconds), then parks until the next job.
 */
final class JavaPool implements AutoCloseable {
    /** Computes items [from, to) of a job; must not depend on which thread runs it. */
    @FunctionalInterface
    interface Range {
        void run(int from, int to);
    }

    /** How long an idle worker spins before it parks. */
    static final long SPIN_NANOS = 200_000;

    /** One posted range: its own chunk counters, so a worker that wakes late finds it drained and takes nothing. */
    private static final class Job {
        final Range range;
        final int n, chunk, chunks;
        final AtomicInteger next = new AtomicInteger(), done = new AtomicInteger();
        volatile Throwable failure;

        Job(Range range, int n, int chunk) {
            this.range = range;
            this.n = n;
            this.chunk = chunk;
            this.chunks = (int) ((n + (long) chunk - 1) / chunk);
        }

        /** Runs chunks until none is left. */
        void work() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                try {
                    long s = (long) c * chunk;
                    range.run((int) s, (int) Math.min(n, s + chunk));
                } catch (Throwable e) {
                    failure = e;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    private final Worker[] workers;
    private volatile Job current;
    private volatile boolean closed;

    /** @param size threads per job including the caller, at least 1 */
    JavaPool(int size) {
        if (size < 1) throw new IllegalArgumentException("threads must be >= 1, got " + size);
        workers = new Worker[size - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker();
            Thread t = new Thread(workers[i], "panamax-java-" + (i + 1));
            t.setDaemon(true);
            workers[i].thread = t;
            t.start();
        }
    }

    /** Threads per job, the caller's included. */
    int size() {
        return workers.length + 1;
    }

    /**
     * Whether the pool's threads may touch these segments: false for one confined to its owner thread (an
     * {@link java.lang.foreign.Arena#ofConfined()} arena), and such a job must run on the caller alone.
     */
    boolean canShare(MemorySegment a, MemorySegment b, MemorySegment c, MemorySegment d) {
        if (workers.length == 0) return false;
        Thread t = workers[0].thread;
        return a.isAccessibleBy(t) && b.isAccessibleBy(t) && c.isAccessibleBy(t) && d.isAccessibleBy(t);
    }

    /**
     * Runs {@code job} over [0, n) in chunks of {@code chunk} items (chunk boundaries are multiples of chunk), on all
     * threads when there is more than one chunk, else on the caller alone. Returns when every chunk is done (it waits
     * only for chunks other threads took, not for threads that never woke); an exception of any chunk is rethrown here.
     */
    void forRange(int n, int chunk, Range range) {
        if (n <= 0) return;
        if (chunk < 1) throw new IllegalArgumentException("chunk must be >= 1");
        if (workers.length == 0 || n <= chunk) {
            range.run(0, n);
            return;
        }
        if (closed) throw new IllegalStateException("kernels closed");
        Job job = new Job(range, n, chunk);
        current = job; // publishes the job
        for (Worker w : workers) if (w.parked) LockSupport.unpark(w.thread);
        job.work();
        while (job.done.get() != job.chunks) Thread.onSpinWait();
        Throwable f = job.failure;
        if (f instanceof RuntimeException e) throw e;
        if (f instanceof Error e) throw e;
        if (f != null) throw new IllegalStateException(f);
    }

    private final class Worker implements Runnable {
        Thread thread;
        volatile boolean parked;

        @Override
        public void run() {
            Job seen = null;
            while (true) {
                long spinStart = System.nanoTime();
                Job j;
                while ((j = current) == seen && !closed) {
                    if (System.nanoTime() - spinStart < SPIN_NANOS) {
                        Thread.onSpinWait();
                    } else {
                        parked = true;
                        // re-check after announcing: the caller posts the job, then unparks the parked ones
                        if (current == seen && !closed) LockSupport.park(this);
                        parked = false;
                        spinStart = System.nanoTime();
                    }
                }
                if (closed) return;
                seen = j;
                j.work();
            }
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        current = null;
        for (Worker w : workers) LockSupport.unpark(w.thread);
    }
}
