/* pmx_moe_ffn: the sparse Mixture-of-Experts SwiGLU feed-forward as one driver over the per-type matmul kernels.
 * The (token, slot) pairs are sorted by expert so that each selected expert's weights stream once for all
 * its tokens (a GEMM of batch = its token count); gate and up of every selected expert run in one pool run,
 * down in a second, each thread owning output rows so the weighted sum needs no atomics and is deterministic. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "panamax.h"
#include "pool.h"

/* Gate/up rows per work piece: a multiple of every kernel's row tile and of a cache line of output floats.
 * Fixed (not derived from the thread count) so that the row ranges each kernel call sees, and with them the
 * results, do not depend on the pool. Decode with 4 experts of 1408 rows makes 88 pieces. */
#define PIECE_ROWS 64
/* In decode (one token) longer pieces: PIECE_ROWS-row calls restart the weight streams every 36 KB (Q4_K, 1024 wide);
 * 512 rows of gate, then 512 of up streamed faster (quant8-moeab in docs/bench/2026-12-08-quant8-zen5.md). Still a
 * function of the shapes alone. */
#define DECODE_PIECE_ROWS 512
/* Output rows of down per thread chunk: 16 floats fill a cache line, so threads never share a line. */
#define ROW_ALIGN 16
static_assert(PIECE_ROWS % PMX_PACK_ROWS == 0 && DECODE_PIECE_ROWS % PIECE_ROWS == 0 && ROW_ALIGN % PMX_PACK_ROWS == 0,
              "pieces of packed experts are whole groups");

struct moe_args {
    const pmx_matmul_kernel *kg, *ku, *kd;
    const float *x;
    const float *w;
    float *out;
    const char *gate, *up, *down;
    int64_t n_tok, n_embd, n_ff, n_used, n_pairs;
    int64_t gate_mat_bytes, up_mat_bytes, down_mat_bytes; /* bytes of one expert's matrix */
    int64_t ag, au, ad;          /* bytes per activation row: gate/up (n_embd wide), down (n_ff wide) */
    const int64_t *off;          /* [n_expert + 1]: expert e owns slots [off[e], off[e + 1]) */
    const int64_t *slot_of;      /* [n_pairs]: slot of pair t * n_used + j */
    const int32_t *sel;          /* [n_sel]: the experts with at least one slot, ascending */
    int64_t n_sel, piece_rows, pieces_per_expert;
    char *xg, *xu;               /* [n_pairs] prepared x rows for gate and up (xu == xg when they share a format) */
    float *g, *u;                /* [n_pairs][n_ff] gate outputs (then h = silu(g) * u in place), up outputs */
    char *ha;                    /* [n_pairs] prepared h rows for down (== g when down reads floats) */
    float *d;                    /* [n_pairs][n_embd] down outputs per slot, before the weighted sum */
    _Atomic int64_t next_piece;
};

/* One activation row of x into xa: the kernel's own format, or plain floats when it reads floats. */
static void prepare_row(const pmx_matmul_kernel *k, char *xa, const float *x, int64_t n) {
    if (k->prepare) k->prepare(xa, x, n, 0, 1);
    else memcpy(xa, x, sizeof(float) * (size_t)n);
}

/* Each token's x prepared once (per format), then copied to every slot routed from it. */
static void gather_task(void *p, int ith, int nth) {
    const struct moe_args *a = p;
    int64_t t0, t1;
    pmx_split(a->n_tok, 1, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const float *xt = a->x + t * a->n_embd;
        const int64_t *slots = a->slot_of + t * a->n_used, s0 = slots[0];
        prepare_row(a->kg, a->xg + s0 * a->ag, xt, a->n_embd);
        if (a->xu != a->xg) prepare_row(a->ku, a->xu + s0 * a->au, xt, a->n_embd);
        for (int64_t j = 1; j < a->n_used; j++) {
            memcpy(a->xg + slots[j] * a->ag, a->xg + s0 * a->ag, (size_t)a->ag);
            if (a->xu != a->xg) memcpy(a->xu + slots[j] * a->au, a->xu + s0 * a->au, (size_t)a->au);
        }
    }
}

/* Pieces (expert, piece_rows rows of n_ff) dealt out dynamically: experts carry different token counts in
 * prompt processing. Which thread runs a piece does not change its result. */
static void gate_up_task(void *p, int ith, int nth) {
    struct moe_args *a = p;
    const int64_t n_pieces = a->n_sel * a->pieces_per_expert;
    for (;;) {
        const int64_t i = atomic_fetch_add_explicit(&a->next_piece, 1, memory_order_relaxed);
        if (i >= n_pieces) return;
        const int32_t e = a->sel[i / a->pieces_per_expert];
        const int64_t r0 = i % a->pieces_per_expert * a->piece_rows;
        const int64_t r1 = r0 + a->piece_rows < a->n_ff ? r0 + a->piece_rows : a->n_ff;
        const int64_t s = a->off[e], c = a->off[e + 1] - s;
        float *g = a->g + s * a->n_ff, *u = a->u + s * a->n_ff;
        a->kg->matmul(a->gate + e * a->gate_mat_bytes, a->n_embd, a->xg + s * a->ag, c, g, a->n_ff, r0, r1);
        a->ku->matmul(a->up + e * a->up_mat_bytes, a->n_embd, a->xu + s * a->au, c, u, a->n_ff, r0, r1);
        for (int64_t b = 0; b < c; b++) pmx_k.silu_mul_f32(g + b * a->n_ff, g + b * a->n_ff, u + b * a->n_ff, r0, r1);
    }
}

static void prepare_h_task(void *p, int ith, int nth) {
    const struct moe_args *a = p;
    int64_t s0, s1;
    pmx_split(a->n_pairs, 1, ith, nth, &s0, &s1);
    if (s0 < s1) a->kd->prepare(a->ha, a->g, a->n_ff, s0, s1);
}

/* Thread ith owns output rows [r0, r1) of every token: down of every selected expert over those rows, then the
 * weighted sum over the token's slots in the order j = 0..n_used-1. */
static void down_task(void *p, int ith, int nth) {
    const struct moe_args *a = p;
    int64_t r0, r1;
    pmx_split(a->n_embd, ROW_ALIGN, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    for (int64_t k = 0; k < a->n_sel; k++) {
        const int32_t e = a->sel[k];
        const int64_t s = a->off[e], c = a->off[e + 1] - s;
        a->kd->matmul(a->down + e * a->down_mat_bytes, a->n_ff, a->ha + s * a->ad, c, a->d + s * a->n_embd, a->n_embd,
                      r0, r1);
    }
    for (int64_t t = 0; t < a->n_tok; t++) {
        float *o = a->out + t * a->n_embd;
        const int64_t *slots = a->slot_of + t * a->n_used;
        const float *wt = a->w + t * a->n_used;
        const float *d0 = a->d + slots[0] * a->n_embd;
        for (int64_t r = r0; r < r1; r++) o[r] = wt[0] * d0[r];
        for (int64_t j = 1; j < a->n_used; j++) {
            const float *dj = a->d + slots[j] * a->n_embd, wj = wt[j];
            for (int64_t r = r0; r < r1; r++) o[r] += wj * dj[r];
        }
    }
}

/* Type known and n a positive multiple of its block size: the index, else -1. */
static int row_type(int32_t type, int64_t n) {
    const int t = pmx_type_index(type);
    return t >= 0 && n > 0 && n % pmx_type_block_size(type) == 0 ? t : -1;
}

static int64_t align64(int64_t v) { return (v + 63) & ~(int64_t)63; }

/* a * b into *r when it neither overflows nor exceeds 2^48 (no real op comes close; sums below stay exact). */
static int mul_ok(int64_t a, int64_t b, int64_t *r) {
    return !__builtin_mul_overflow(a, b, r) && *r <= ((int64_t)1 << 48);
}

/* Bytes of one expert's matrix (rows x cols of type t), as stored or packed; 0 when a packed layout does not exist. */
static int64_t expert_bytes(int t, int32_t type, int64_t rows, int64_t cols, int packed) {
    int64_t b;
    if (packed) return pmx_pack_bytes(type, rows, cols);
    return mul_ok(rows, pmx_row_bytes(t, cols), &b) ? b : 0;
}

int32_t pmx_moe_ffn(pmx_pool *pool, float *out, const float *x, int64_t n_tok, int64_t n_embd, int64_t n_ff,
                    int64_t n_expert, int64_t n_used, const int32_t *ids, const float *w, int32_t gate_type,
                    const void *gate, int32_t up_type, const void *up, int32_t down_type, const void *down,
                    int32_t packed) {
    const int tg = row_type(gate_type, n_embd), tu = row_type(up_type, n_embd), td = row_type(down_type, n_ff);
    const int pg = (packed & PMX_MOE_GATE_PACKED) != 0, pu = (packed & PMX_MOE_UP_PACKED) != 0;
    const int pd = (packed & PMX_MOE_DOWN_PACKED) != 0;
    if (!out || !x || !ids || !w || !gate || !up || !down || tg < 0 || tu < 0 || td < 0 || n_tok <= 0 ||
        n_expert <= 0 || n_expert > INT32_MAX || n_used <= 0 || (packed & ~7))
        return PMX_ERR_INVALID_ARG;
    int64_t n_pairs, tmp;
    const int64_t gate_mat = expert_bytes(tg, gate_type, n_ff, n_embd, pg), up_mat = expert_bytes(tu, up_type, n_ff, n_embd, pu);
    const int64_t down_mat = expert_bytes(td, down_type, n_embd, n_ff, pd);
    if (!gate_mat || !up_mat || !down_mat || !mul_ok(n_tok, n_used, &n_pairs) || !mul_ok(n_pairs, n_ff, &tmp) ||
        !mul_ok(n_pairs, n_embd, &tmp))
        return PMX_ERR_INVALID_ARG;
    for (int64_t p = 0; p < n_pairs; p++)
        if (ids[p] < 0 || ids[p] >= n_expert) return PMX_ERR_INVALID_ARG;

    struct moe_args a = {
        /* packed matrices: row pieces (piece_rows) and down's row chunks (ROW_ALIGN) are whole 16-row groups */
        .kg = pg ? &pmx_k.packed[tg] : &pmx_k.matmul[tg], .ku = pu ? &pmx_k.packed[tu] : &pmx_k.matmul[tu],
        .kd = pd ? &pmx_k.packed[td] : &pmx_k.matmul[td],
        .x = x, .w = w, .out = out, .gate = gate, .up = up, .down = down,
        .n_tok = n_tok, .n_embd = n_embd, .n_ff = n_ff, .n_used = n_used, .n_pairs = n_pairs,
        .gate_mat_bytes = gate_mat, .up_mat_bytes = up_mat, .down_mat_bytes = down_mat,
        .piece_rows = n_tok == 1 ? DECODE_PIECE_ROWS : PIECE_ROWS,
    };
    a.pieces_per_expert = (n_ff + a.piece_rows - 1) / a.piece_rows;
    a.ag = pmx_kernel_act_row_bytes(a.kg, tg, n_embd);
    a.au = pmx_kernel_act_row_bytes(a.ku, tu, n_embd);
    a.ad = pmx_kernel_act_row_bytes(a.kd, td, n_ff);
    const int share_x = a.kg->prepare == a.ku->prepare && a.ag == a.au;

    /* One scratch block: offsets, slot map, expert list, then the activation and output rows. */
    const int64_t n_sel_max = n_expert < n_pairs ? n_expert : n_pairs;
    const int64_t b_off = align64((n_expert + 1) * (int64_t)sizeof(int64_t));
    const int64_t b_slot = align64(n_pairs * (int64_t)sizeof(int64_t));
    const int64_t b_sel = align64(n_sel_max * (int64_t)sizeof(int32_t));
    const int64_t b_xg = align64(n_pairs * a.ag), b_xu = share_x ? 0 : align64(n_pairs * a.au);
    const int64_t b_f = align64(n_pairs * n_ff * (int64_t)sizeof(float));
    const int64_t b_ha = a.kd->prepare ? align64(n_pairs * a.ad) : 0;
    const int64_t b_d = align64(n_pairs * n_embd * (int64_t)sizeof(float));
    const int64_t total = b_off + b_slot + b_sel + b_xg + b_xu + 2 * b_f + b_ha + b_d;
    char *owned = NULL, *base = pmx_pool_scratch(pool, (size_t)total);
    if (!base) {
        if (pool) return PMX_ERR_NO_MEMORY;
        base = owned = aligned_alloc(64, (size_t)total); /* no pool, no place to keep a buffer */
        if (!owned) return PMX_ERR_NO_MEMORY;
    }
    char *q = base;
    int64_t *off = (int64_t *)q;
    q += b_off;
    int64_t *slot_of = (int64_t *)q;
    q += b_slot;
    int32_t *sel = (int32_t *)q;
    q += b_sel;
    a.xg = q, q += b_xg;
    a.xu = share_x ? a.xg : q, q += b_xu;
    a.g = (float *)q, q += b_f;
    a.u = (float *)q, q += b_f;
    a.ha = a.kd->prepare ? q : (char *)a.g, q += b_ha;
    a.d = (float *)q;

    /* Counting sort of the pairs by expert; within an expert, slots keep the pairs' order (token-major). */
    memset(off, 0, sizeof(int64_t) * (size_t)(n_expert + 1));
    for (int64_t p = 0; p < n_pairs; p++) off[ids[p] + 1]++;
    for (int64_t e = 0; e < n_expert; e++) {
        if (off[e + 1] > 0) sel[a.n_sel++] = (int32_t)e;
        off[e + 1] += off[e];
    }
    for (int64_t p = 0; p < n_pairs; p++) slot_of[p] = off[ids[p]]++;
    for (int64_t e = n_expert; e > 0; e--) off[e] = off[e - 1]; /* the fill moved each start to its end */
    off[0] = 0;
    a.off = off, a.slot_of = slot_of, a.sel = sel;

    pmx_pool_run(n_tok > 1 ? pool : NULL, gather_task, &a);
    atomic_init(&a.next_piece, 0);
    /* gate and up, then down: three products of n_ff x n_embd per (token, expert) pair */
    pmx_pool *run = pmx_pool_for_work(pool, pmx_work(n_pairs, n_ff, 3 * n_embd));
    pmx_pool_run(run, gate_up_task, &a);
    if (a.kd->prepare) pmx_pool_run(n_pairs > 1 ? run : NULL, prepare_h_task, &a);
    pmx_pool_run(run, down_task, &a);
    free(owned);
    return PMX_OK;
}
