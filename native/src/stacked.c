/* pmx_matmul_stacked: n_mat independent products over stacked matrices (MLA's per-head W_UK absorption and W_UV)
 * as one driver over the per-type matmul kernels, in one pool run: (matrix, row block) pieces are dealt out
 * dynamically; the first thread to reach a matrix gathers and prepares its strided activation rows, and the
 * kernels write y through their row stride, so neither gather nor scatter costs a pass of its own. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "panamax.h"
#include "pool.h"

/* Rows per work piece: a multiple of every kernel's row tile and of pmx_matmul's 16-row split, so that each row
 * is computed by the same tile code as in pmx_matmul (bit for bit), whatever the thread count. */
#define PIECE_ROWS 64

enum { X_NONE, X_BUSY, X_READY };

struct stacked_args {
    const pmx_matmul_kernel *k;
    const char *w;
    const float *x;
    float *y;
    int64_t n_mat, rows, cols, n_tok, w_mat_bytes, x_tok, x_mat, y_tok, y_mat;
    int64_t act;            /* bytes of one prepared (or gathered) activation row */
    char *xa;               /* [n_mat][n_tok] activation rows; NULL: the kernel reads x in place */
    _Atomic int32_t *state; /* [n_mat]: X_NONE, X_BUSY (a thread prepares it), X_READY */
    int64_t pieces_per_mat;
    _Atomic int64_t next_piece;
};

static inline void relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Matrix m's n_tok activation rows, gathered from their strides into xa: quantized, or copied as floats. */
static void prepare_matrix(const struct stacked_args *a, int64_t m) {
    for (int64_t t = 0; t < a->n_tok; t++) {
        const float *xt = a->x + t * a->x_tok + m * a->x_mat;
        char *dst = a->xa + (m * a->n_tok + t) * a->act;
        if (a->k->prepare) a->k->prepare(dst, xt, a->cols, 0, 1);
        else memcpy(dst, xt, (size_t)a->act);
    }
}

/* Waiting is safe: the thread that took X_BUSY waits on nothing while it prepares. */
static void ensure_prepared(struct stacked_args *a, int64_t m) {
    _Atomic int32_t *s = &a->state[m];
    if (atomic_load_explicit(s, memory_order_acquire) == X_READY) return;
    int32_t expected = X_NONE;
    if (atomic_compare_exchange_strong_explicit(s, &expected, X_BUSY, memory_order_acq_rel, memory_order_acquire)) {
        prepare_matrix(a, m);
        atomic_store_explicit(s, X_READY, memory_order_release);
        return;
    }
    while (atomic_load_explicit(s, memory_order_acquire) != X_READY) relax();
}

static void stacked_task(void *p, int ith, int nth) {
    (void)ith, (void)nth;
    struct stacked_args *a = p;
    const int64_t n_pieces = a->n_mat * a->pieces_per_mat;
    for (;;) {
        const int64_t i = atomic_fetch_add_explicit(&a->next_piece, 1, memory_order_relaxed);
        if (i >= n_pieces) return;
        const int64_t m = i / a->pieces_per_mat, r0 = i % a->pieces_per_mat * PIECE_ROWS;
        const int64_t r1 = r0 + PIECE_ROWS < a->rows ? r0 + PIECE_ROWS : a->rows;
        const void *xa;
        if (a->xa) {
            ensure_prepared(a, m);
            xa = a->xa + m * a->n_tok * a->act;
        } else {
            xa = a->x + m * a->x_mat;
        }
        a->k->matmul(a->w + m * a->w_mat_bytes, a->cols, xa, a->n_tok, a->y + m * a->y_mat, a->y_tok, r0, r1);
    }
}

/* a * b into *r when it neither overflows nor exceeds 2^48 (no real op comes close; sums below stay exact). */
static int mul_ok(int64_t a, int64_t b, int64_t *r) {
    return !__builtin_mul_overflow(a, b, r) && *r <= ((int64_t)1 << 48);
}

/* The farthest float index a strided access reaches, n_tok rows of n_mat slices of width floats, checked. */
static int extent_ok(int64_t n_tok, int64_t tok_stride, int64_t n_mat, int64_t mat_stride, int64_t width) {
    int64_t a, b;
    return tok_stride >= 0 && mat_stride >= 0 && mul_ok(n_tok - 1, tok_stride, &a) &&
           mul_ok(n_mat - 1, mat_stride, &b) && a + b + width <= ((int64_t)1 << 48);
}

static int64_t align64(int64_t v) { return (v + 63) & ~(int64_t)63; }

int32_t pmx_matmul_stacked(pmx_pool *pool, int32_t type, const void *w, int64_t n_mat, int64_t rows, int64_t cols,
                           int64_t w_mat_bytes, const float *x, int64_t n_tok, int64_t x_tok_stride,
                           int64_t x_mat_stride, float *y, int64_t y_tok_stride, int64_t y_mat_stride) {
    const int t = pmx_type_index(type);
    if (t < 0 || !w || !x || !y || n_mat <= 0 || rows <= 0 || cols <= 0 || n_tok <= 0 ||
        cols % pmx_type_block_size(type) != 0)
        return PMX_ERR_INVALID_ARG;
    int64_t mat_bytes, w_end, n_rows_x;
    if (!mul_ok(rows, pmx_row_bytes(t, cols), &mat_bytes) || w_mat_bytes < mat_bytes ||
        !mul_ok(n_mat - 1, w_mat_bytes, &w_end) || !mul_ok(n_mat, n_tok, &n_rows_x) ||
        !extent_ok(n_tok, x_tok_stride, n_mat, x_mat_stride, cols) ||
        !extent_ok(n_tok, y_tok_stride, n_mat, y_mat_stride, rows))
        return PMX_ERR_INVALID_ARG;

    struct stacked_args a = {
        .k = pmx_matmul_kernel_for(t, n_tok), .w = w, .x = x, .y = y,
        .n_mat = n_mat, .rows = rows, .cols = cols, .n_tok = n_tok, .w_mat_bytes = w_mat_bytes,
        .x_tok = x_tok_stride, .x_mat = x_mat_stride, .y_tok = y_tok_stride, .y_mat = y_mat_stride,
        .pieces_per_mat = (rows + PIECE_ROWS - 1) / PIECE_ROWS,
    };
    char *owned = NULL;
    /* Kernels that read floats take x in place when each matrix's token rows are already cols apart. */
    if (a.k->prepare || (n_tok > 1 && x_tok_stride != cols)) {
        a.act = pmx_kernel_act_row_bytes(a.k, t, cols);
        const int64_t b_state = align64(n_mat * (int64_t)sizeof(_Atomic int32_t));
        int64_t b_xa;
        if (!mul_ok(n_rows_x, a.act, &b_xa)) return PMX_ERR_INVALID_ARG;
        const int64_t total = b_state + align64(b_xa);
        char *base = pmx_pool_scratch(pool, (size_t)total);
        if (!base) {
            if (pool) return PMX_ERR_NO_MEMORY;
            base = owned = aligned_alloc(64, (size_t)total); /* no pool, no place to keep a buffer */
            if (!owned) return PMX_ERR_NO_MEMORY;
        }
        a.state = (_Atomic int32_t *)base;
        for (int64_t m = 0; m < n_mat; m++) atomic_init(&a.state[m], X_NONE);
        a.xa = base + b_state;
    }
    atomic_init(&a.next_piece, 0);
    pmx_pool_run(pmx_pool_for_work(pool, pmx_work(n_rows_x, rows, cols)), stacked_task, &a);
    free(owned);
    return PMX_OK;
}
