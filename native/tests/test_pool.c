/* Thread pool: every thread index runs exactly once per op, over many back-to-back ops (the spin path)
 * and after pauses long enough for the workers to sleep (the futex path). */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include "check.h"
#include "pool.h"

struct ctx {
    _Atomic int64_t hits[64];
    _Atomic int calls;
    _Atomic int nth_seen; /* every thread stores it: atomic, or ThreadSanitizer reports the test itself */
};

static void task(void *p, int ith, int nth) {
    struct ctx *c = p;
    atomic_fetch_add(&c->hits[ith], 1);
    atomic_fetch_add(&c->calls, 1);
    atomic_store(&c->nth_seen, nth);
}

static void run_ops(pmx_pool *pool, int n, int ops, int sleep_us) {
    struct ctx c = {0};
    for (int op = 0; op < ops; op++) {
        pmx_pool_run(pool, task, &c);
        if (sleep_us) nanosleep(&(struct timespec){0, sleep_us * 1000L}, NULL);
    }
    CHECK(c.calls == n * ops, "n=%d calls %d expected %d", n, c.calls, n * ops);
    CHECK(c.nth_seen == n, "nth %d expected %d", c.nth_seen, n);
    for (int i = 0; i < n; i++) CHECK(c.hits[i] == ops, "thread %d ran %ld times", i, (long)c.hits[i]);
}

int main(void) {
    for (int n = 1; n <= 8; n *= 2) {
        pmx_pool *pool = pmx_pool_create(n);
        CHECK(pool != NULL, "create %d", n);
        if (!pool) continue;
        CHECK(pmx_pool_size(pool) == n, "size");
        run_ops(pool, n, 20000, 0);
        run_ops(pool, n, 5, 20000); /* 20 ms: workers are asleep by then */
        pmx_pool_destroy(pool);
    }
    CHECK(pmx_pool_size(NULL) == 1, "null pool is one thread");
    pmx_pool *deflt = pmx_pool_create(0);
    CHECK(deflt && pmx_pool_size(deflt) >= 1, "default size");
    pmx_pool_destroy(deflt);
    pmx_pool_destroy(NULL);

    /* work threshold: PMX_POOL_INLINE_WORK (read at create) sends smaller ops to the caller alone */
    setenv("PMX_POOL_INLINE_WORK", "1000", 1);
    pmx_pool *p2 = pmx_pool_create(2);
    CHECK(p2 && pmx_pool_for_work(p2, 999) == NULL, "below the threshold: the caller alone");
    CHECK(p2 && pmx_pool_for_work(p2, 1000) == p2, "at the threshold: the pool");
    CHECK(pmx_pool_for_work(NULL, INT64_MAX) == NULL, "no pool stays no pool");
    pmx_pool_destroy(p2);
    setenv("PMX_POOL_INLINE_WORK", "x12", 1); /* not a number: the default, which a tiny op is below */
    p2 = pmx_pool_create(2);
    CHECK(p2 && pmx_pool_for_work(p2, 1) == NULL && pmx_pool_for_work(p2, INT64_MAX) == p2, "default threshold");
    pmx_pool_destroy(p2);
    CHECK(pmx_work(3, 5, 7) == 105 && pmx_work(0, 5, 7) == 0 && pmx_work(INT64_MAX / 2, 3, 1) == INT64_MAX &&
              pmx_work(1 << 30, 1 << 30, 1 << 10) == INT64_MAX,
          "work products saturate");

    /* split: contiguous, disjoint, aligned cover of [0, n) */
    for (int64_t n = 0; n < 300; n += 7)
        for (int nth = 1; nth <= 5; nth++) {
            int64_t expect = 0;
            for (int i = 0; i < nth; i++) {
                int64_t b, e;
                pmx_split(n, 16, i, nth, &b, &e);
                CHECK(b == expect && e >= b && (b % 16 == 0 || b == n), "split n=%ld nth=%d i=%d", (long)n, nth, i);
                expect = e;
            }
            CHECK(expect == n, "split covers n=%ld", (long)n);
        }
    return finish();
}
