/* Persistent worker pool. A token issues hundreds of small ops, so a futex wake-up per op would cost more
 * than the op: after each op the workers spin on the generation counter for a while before sleeping, and
 * the caller only issues FUTEX_WAKE when some worker actually went to sleep.
 *
 * An op's nth shares (ith = 0..nth-1) are claimed from a ticket counter by whichever threads get there, the
 * caller included, rather than share i belonging to thread i: on a machine where another process, the JIT or the
 * GC holds a core, a worker that has not been scheduled yet would otherwise stall the caller at every op (a
 * 4.6M-parameter model decoded at 1,230 tok/s on 2 threads beside one busy core, 4,150 on 1 thread). The caller
 * waits only for shares that some running thread has claimed. A share's result depends on ith alone, not on
 * the thread that runs it. */
#define _GNU_SOURCE
#include "pool.h"

#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* About 50-200 us of spinning, depending on the CPU's pause latency. */
#define SPIN_ITERATIONS 20000
/* Spinners yield the core now and then: with more threads than free cores (another process, a JVM's GC
 * threads), a spinning thread would otherwise hold the core that the thread it waits for needs. */
#define YIELD_EVERY 128

/* Ops of fewer multiply-adds than this run on the caller alone (pmx_pool_for_work): a 128 x 256 product, about
 * half a microsecond on one core. Measured on Zen 4 with 2 threads (kjv-llama-4.6m, decode): on an idle machine
 * 0, 16K and 64K were level; beside a busy core 16K and 64K were ~10% ahead of 0. PMX_POOL_INLINE_WORK overrides it
 * (tuning, and the ctest programs, which set 0 so that their small sizes still run on every thread). */
#define INLINE_WORK_DEFAULT 16384

struct pmx_pool {
    int n_threads;
    pthread_t *workers;           /* n_threads - 1 */
    _Atomic uint32_t generation;  /* the current op's number, bumped to publish it; also the futex word */
    _Atomic uint64_t ticket;      /* (op number << 32) | next share of that op to claim */
    _Atomic int done;             /* shares of the current op finished */
    _Atomic int sleepers;         /* workers blocked (or about to block) in futex_wait */
    _Atomic int stopping;
    /* atomic because a worker late for an op may read them while the caller publishes the next one: it then
     * fails to claim (the ticket moved on) and discards what it read */
    _Atomic(pmx_task_fn) fn;
    _Atomic(void *) ctx;
    void *scratch;
    size_t scratch_bytes;
    int64_t inline_work;
};

struct worker_arg {
    pmx_pool *pool;
    int ith;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Runs shares of the current op until none is left to claim. A claim succeeds only while the ticket still holds
 * the op whose fn and ctx were read: those were stored before the ticket was (release), and the next op's are
 * stored only after every share of this one finished, so after this op's last claim. */
static void claim_shares(pmx_pool *pool) {
    const int nth = pool->n_threads;
    uint64_t t = atomic_load_explicit(&pool->ticket, memory_order_acquire);
    while ((uint32_t)t < (uint32_t)nth) {
        const pmx_task_fn fn = atomic_load_explicit(&pool->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&pool->ctx, memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&pool->ticket, &t, t + 1, memory_order_acquire,
                                                  memory_order_acquire)) {
            fn(ctx, (int)(uint32_t)t, nth);
            atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
            t = atomic_load_explicit(&pool->ticket, memory_order_acquire);
        }
    }
}

static void *worker_main(void *p) {
    struct worker_arg arg = *(struct worker_arg *)p;
    free(p);
    pmx_pool *pool = arg.pool;
    /* Not a load: the caller may already have published the first op before this thread got here. */
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ITERATIONS) {
                if (spins % YIELD_EVERY == 0) sched_yield();
                else cpu_relax();
                continue;
            }
            /* seq_cst pairs with the caller's bump-then-check: either it sees us as a sleeper and wakes
             * us, or futex_wait sees the new generation and returns at once. */
            atomic_fetch_add(&pool->sleepers, 1);
            if (atomic_load(&pool->generation) == seen) futex_wait(&pool->generation, seen);
            atomic_fetch_sub(&pool->sleepers, 1);
            spins = 0;
        }
        seen = g;
        if (atomic_load_explicit(&pool->stopping, memory_order_acquire)) return NULL;
        claim_shares(pool);
    }
}

static void publish(pmx_pool *pool) {
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->sleepers) > 0) futex_wake_all(&pool->generation);
}

pmx_pool *pmx_pool_create(int32_t n_threads) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int32_t)n : 1;
    }
    if (n_threads > 1024) return NULL;
    pmx_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    atomic_init(&pool->ticket, (uint64_t)n_threads); /* op 0: nothing to claim */
    pool->inline_work = INLINE_WORK_DEFAULT;
    const char *env = getenv("PMX_POOL_INLINE_WORK");
    if (env && *env) {
        char *end;
        const long long v = strtoll(env, &end, 10);
        if (*end == '\0' && v >= 0) pool->inline_work = v;
    }
    pool->workers = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!pool->workers) {
        free(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *arg = malloc(sizeof *arg);
        if (arg) *arg = (struct worker_arg){pool, i};
        if (!arg || pthread_create(&pool->workers[i - 1], NULL, worker_main, arg) != 0) {
            free(arg);
            pool->n_threads = i; /* destroy joins the ones that started */
            pmx_pool_destroy(pool);
            return NULL;
        }
    }
    return pool;
}

int32_t pmx_pool_size(const pmx_pool *pool) { return pool ? pool->n_threads : 1; }

void pmx_pool_destroy(pmx_pool *pool) {
    if (!pool) return;
    atomic_store(&pool->stopping, 1);
    publish(pool);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->workers[i - 1], NULL);
    free(pool->workers);
    free(pool->scratch);
    free(pool);
}

void *pmx_pool_scratch(pmx_pool *pool, size_t bytes) {
    if (!pool || bytes > SIZE_MAX / 2) return NULL;
    if (pool->scratch_bytes < bytes) {
        /* half again as much: a growing prompt batch does not reallocate on every call */
        size_t want = bytes + bytes / 2;
        want = (want + 63) & ~(size_t)63;
        void *p = aligned_alloc(64, want);
        if (!p) return NULL;
        free(pool->scratch);
        pool->scratch = p;
        pool->scratch_bytes = want;
    }
    return pool->scratch;
}

void pmx_pool_run(pmx_pool *pool, pmx_task_fn fn, void *ctx) {
    if (!pool || pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    /* every share of the previous op finished (done == n_threads), so no thread still reads or counts for it */
    const uint32_t op = atomic_load_explicit(&pool->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->ticket, (uint64_t)op << 32, memory_order_release);
    publish(pool);
    claim_shares(pool);
    for (int spins = 1; atomic_load_explicit(&pool->done, memory_order_acquire) < pool->n_threads; spins++) {
        if (spins % YIELD_EVERY == 0) sched_yield();
        else cpu_relax();
    }
}

pmx_pool *pmx_pool_for_work(pmx_pool *pool, int64_t work) {
    return pool && work >= pool->inline_work ? pool : NULL;
}
