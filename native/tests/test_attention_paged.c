/* The serving engine's paged cache: pmx_attention_paged / pmx_attention_mla_paged over a batch of sequences whose
 * keys sit in shuffled blocks of a shared pool, on every ISA, against pmx_attention / pmx_attention_mla of the
 * reference over each sequence's keys gathered contiguously. Ragged batches mix decode rows, prompt chunks that
 * start mid-sequence and whole prompts; block sizes below, at and above the kernels' 64-key loop, and not a power
 * of two. Rows of the pool that no table lists are NaN: a kernel that reads outside its sequence's blocks shows.
 * Also pmx_kv_store (scatter; every KV cache type rounded or quantized as pmx_quantize, byte for byte: a quantized
 * row is ggml's blocks), pmx_add_rows_f32 and pmx_rmsnorm_strided_f32. Quantized caches (Q8_0, Q4_0, Q5_0, IQ4_NL, K
 * and V mixed) run the same batches.
 * Error = max |out - ref| / max |v| (outputs are convex combinations of V rows); bound 2e-5 as test_attention's
 * (float scores and sums against the double reference); a batch of one sequence on the reference ISA equals
 * pmx_attention of the reference bit for bit when the block size is a multiple of its key loop. */
#include <string.h>
#include "check.h"
#include "kernels.h"
#include "ref/ref.h"

#define MAX_SEQ 8

typedef struct {
    int64_t n_seq, n_q[MAX_SEQ], pos0[MAX_SEQ];
} batch;

static int isa_ok[PMX_ISA_COUNT];
static double worst;

static int64_t row_bytes(int32_t type, int64_t n) { return n / pmx_type_block_size(type) * pmx_type_block_bytes(type); }

static const char *type_name(int32_t t) {
    return t == PMX_TYPE_F32 ? "f32" : t == PMX_TYPE_F16 ? "f16" : t == PMX_TYPE_Q8_0 ? "q8_0" : t == PMX_TYPE_Q4_0 ? "q4_0"
         : t == PMX_TYPE_Q5_0 ? "q5_0" : t == PMX_TYPE_IQ4_NL ? "iq4_nl" : "?";
}

/* Cache rows of one sequence gathered in order (n_kv rows of row_len elements of type) from the pool. */
static void *gather(int32_t type, const void *pool_rows, const int32_t *table, int64_t bs, int64_t n_kv,
                    int64_t row_len) {
    const int64_t rb = row_bytes(type, row_len);
    char *c = malloc((size_t)(n_kv * rb));
    for (int64_t j = 0; j < n_kv; j++)
        memcpy(c + j * rb, (const char *)pool_rows + (table[j / bs] * bs + j % bs) * rb, (size_t)rb);
    return c;
}

/* A pool of rows, all-ones bytes: NaN elements, or NaN block scales (rows no table lists stay so). */
static void *make_pool(int32_t type, int64_t rows, int64_t row_len) {
    const int64_t n = rows * row_bytes(type, row_len);
    void *p = malloc((size_t)n);
    memset(p, 0xff, (size_t)n);
    return p;
}

static void fill_rows(int32_t type, void *pool_rows, const int32_t *rows, int64_t n, int64_t row_len, float scale,
                      float *vmax) {
    float *src = malloc(sizeof(float) * n * row_len);
    fill(src, n * row_len, scale);
    for (int64_t i = 0; i < n * row_len; i++)
        if (fabsf(src[i]) > *vmax) *vmax = fabsf(src[i]);
    CHECK(pmx_kv_store(type, pool_rows, rows, src, n, row_len) == PMX_OK, "kv_store status");
    /* the store is pmx_quantize's rounding (F16), quantization (ggml's blocks) or a copy (F32), row by row */
    const int64_t rb = row_bytes(type, row_len);
    char *expect = malloc((size_t)rb);
    for (int64_t i = 0; i < n; i++) {
        pmx_quantize(type, expect, src + i * row_len, 1, row_len);
        CHECK(memcmp(expect, (char *)pool_rows + rows[i] * rb, (size_t)rb) == 0, "%s kv_store row %ld",
              type_name(type), (long)i);
    }
    free(expect);
    free(src);
}

static double err_of(const float *a, const float *b, int64_t n, double vmax) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = isnan(d) ? INFINITY : d;
    }
    return m / vmax;
}

/* mla: one KV stream of rows kv_lora + n_rope whose latent part is the value (hd = row, dv = kv_lora). */
static void run(pmx_pool *pool, const batch *b, int32_t type, int32_t vtype, int64_t bs, int mla, int64_t n_head, int64_t n_kv_head,
                int64_t hd, int64_t dv) {
    const int64_t k_row = mla ? hd : n_kv_head * hd, v_row = mla ? hd : n_kv_head * dv;
    int32_t seq_rows[MAX_SEQ + 1], seq_pos0[MAX_SEQ], table_start[MAX_SEQ], tables[4096];
    int64_t n_blocks = 0, n_rows = 0;
    seq_rows[0] = 0;
    for (int64_t s = 0; s < b->n_seq; s++) {
        const int64_t n_kv = b->pos0[s] + b->n_q[s];
        table_start[s] = (int32_t)n_blocks;
        n_blocks += (n_kv + bs - 1) / bs + 1; /* a spare block per sequence: rows that stay NaN */
        seq_rows[s + 1] = (int32_t)(n_rows += b->n_q[s]);
        seq_pos0[s] = (int32_t)b->pos0[s];
    }
    /* block ids: a permutation of the pool (a fixed stride walk), so a sequence's blocks are scattered */
    for (int64_t i = 0; i < n_blocks; i++) tables[i] = (int32_t)((i * 7 + 3) % n_blocks);
    if (n_blocks % 7 == 0)
        for (int64_t i = 0; i < n_blocks; i++) tables[i] = (int32_t)(n_blocks - 1 - i);
    float vmax = 0;
    void *kp = make_pool(type, n_blocks * bs, k_row), *vp = mla ? kp : make_pool(vtype, n_blocks * bs, v_row);
    for (int64_t s = 0; s < b->n_seq; s++) {
        const int64_t n_kv = b->pos0[s] + b->n_q[s];
        int32_t *rows = malloc(sizeof(int32_t) * n_kv);
        for (int64_t j = 0; j < n_kv; j++) rows[j] = (int32_t)(tables[table_start[s] + j / bs] * bs + j % bs);
        fill_rows(type, kp, rows, n_kv, k_row, 1.0f, &vmax);
        if (!mla) fill_rows(vtype, vp, rows, n_kv, v_row, 2.0f, &vmax);
        free(rows);
    }
    const int64_t qh = hd, oh = dv;
    const int64_t nq = n_rows * n_head * qh, no = n_rows * n_head * oh;
    float *q = malloc(sizeof(float) * nq), *ref = malloc(sizeof(float) * no), *out = malloc(sizeof(float) * no);
    fill(q, nq, 1.0f);
    const float scale = 1.0f / sqrtf((float)hd);
    /* the reference: each sequence's keys gathered, through the contiguous entry point on the scalar ISA */
    pmx_force_isa(PMX_ISA_SCALAR);
    for (int64_t s = 0; s < b->n_seq; s++) {
        const int64_t n_kv = b->pos0[s] + b->n_q[s];
        void *kc = gather(type, kp, tables + table_start[s], bs, n_kv, k_row);
        const float *qs = q + seq_rows[s] * n_head * qh;
        float *os = ref + seq_rows[s] * n_head * oh;
        if (mla) {
            CHECK(pmx_attention_mla(NULL, os, qs, b->n_q[s], b->pos0[s], n_head, dv, hd - dv, kc, type, n_kv, scale) ==
                      PMX_OK, "status");
        } else {
            void *vc = gather(vtype, vp, tables + table_start[s], bs, n_kv, v_row);
            CHECK(pmx_attention(NULL, os, qs, b->n_q[s], b->pos0[s], n_head, n_kv_head, hd, dv, kc, vc, type, vtype,
                                n_kv, scale) == PMX_OK, "status");
            free(vc);
        }
        free(kc);
    }
    char name[200];
    int at = snprintf(name, sizeof name, "%s %s/%s bs=%ld h=%ld/%ld hd=%ld dv=%ld seqs", mla ? "mla" : "gqa",
                      type_name(type), type_name(vtype), (long)bs, (long)n_head, (long)n_kv_head, (long)hd, (long)dv);
    for (int64_t s = 0; s < b->n_seq && at < (int)sizeof name - 24; s++)
        at += snprintf(name + at, sizeof name - at, " %ld@%ld", (long)b->n_q[s], (long)b->pos0[s]);
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) {
        if (!isa_ok[isa]) continue;
        pmx_force_isa(isa);
        for (int p = 0; p < 2; p++) {
            memset(out, 0xff, sizeof(float) * no); /* NaN: a missed output shows */
            int32_t st = mla ? pmx_attention_mla_paged(p ? pool : NULL, out, q, b->n_seq, seq_rows, seq_pos0, tables,
                                                       table_start, bs, n_head, dv, hd - dv, kp, type, scale)
                             : pmx_attention_paged(p ? pool : NULL, out, q, b->n_seq, seq_rows, seq_pos0, tables,
                                                   table_start, bs, n_head, n_kv_head, hd, dv, kp, vp, type, vtype,
                                                   scale);
            CHECK(st == PMX_OK, "status %d", st);
            const double e = err_of(out, ref, no, vmax);
            worst = fmax(worst, e);
            CHECK(e < 2e-5, "%s %s%s err %g", pmx_isa_name(isa), name, p ? " pool" : "", e);
            if (isa == PMX_ISA_SCALAR && bs % 64 == 0 && b->n_seq == 1 && !p)
                CHECK(memcmp(out, ref, sizeof(float) * no) == 0, "scalar %s: paged differs from contiguous", name);
        }
    }
    pmx_force_isa(PMX_ISA_AUTO);
    free(q), free(ref), free(out), free(kp);
    if (!mla) free(vp);
}

static void small_ops(void) {
    /* bias over rows and strided norm in place, against their per-row forms */
    enum { N = 37, R = 5, STRIDE = 53 };
    float y[R * N], e[R * N], b[N], x[R * STRIDE], xe[R * STRIDE], w[N];
    fill(y, R * N, 1.0f), fill(b, N, 1.0f), fill(x, R * STRIDE, 2.0f), fill(w, N, 1.0f);
    memcpy(e, y, sizeof y);
    memcpy(xe, x, sizeof x);
    for (int r = 0; r < R; r++) pmx_add_f32(NULL, e + r * N, e + r * N, b, N);
    for (int r = 0; r < R; r++) pmx_rmsnorm_f32(NULL, xe + r * STRIDE, xe + r * STRIDE, w, N, 1, 1e-5f);
    CHECK(pmx_add_rows_f32(NULL, y, b, N, R) == PMX_OK, "status");
    CHECK(pmx_rmsnorm_strided_f32(NULL, x, w, N, R, STRIDE, 1e-5f) == PMX_OK, "status");
    CHECK(memcmp(y, e, sizeof y) == 0, "add_rows differs from per-row add");
    CHECK(memcmp(x, xe, sizeof x) == 0, "rmsnorm_strided differs from per-row rmsnorm (or touched the gaps)");
    CHECK(pmx_rmsnorm_strided_f32(NULL, x, w, N, R, N - 1, 1e-5f) == PMX_ERR_INVALID_ARG, "stride < n accepted");
}

int main(void) {
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) isa_ok[isa] = isa == PMX_ISA_SCALAR || for_each_isa_begin(isa);
    pmx_pool *pool = pmx_pool_create(3);
    static const batch BATCHES[] = {
        {1, {1}, {0}},                                        /* first decode step */
        {1, {1}, {700}},                                      /* one long decode: split across keys in the pool */
        {1, {37}, {0}},                                       /* one prompt */
        {1, {20}, {45}},                                      /* a chunk that starts mid-block */
        {4, {1, 1, 1, 1}, {5, 63, 64, 200}},                  /* decode rows at block edges */
        {5, {1, 40, 1, 9, 1}, {130, 0, 7, 70, 600}},          /* ragged: decodes, a prompt, a chunk */
        {MAX_SEQ, {1, 2, 3, 1, 1, 17, 1, 1}, {0, 1, 2, 3, 100, 32, 511, 15}},
    };
    static const int64_t BS[] = {16, 64, 96, 128, 7};
    int n = 0;
    for (size_t bi = 0; bi < sizeof BATCHES / sizeof BATCHES[0]; bi++)
        for (size_t si = 0; si < sizeof BS / sizeof BS[0]; si++)
            for (int f16 = 0; f16 < 2; f16++) {
                const int32_t type = f16 ? PMX_TYPE_F16 : PMX_TYPE_F32;
                run(pool, &BATCHES[bi], type, type, BS[si], 0, 8, 2, 64, 64); /* GQA 4 */
                run(pool, &BATCHES[bi], type, type, BS[si], 1, 4, 1, 40, 32); /* MLA: latent 32 + rope 8 */
                n += 2;
                if (si == 0) {
                    run(pool, &BATCHES[bi], type, type, BS[si], 0, 6, 6, 72, 40); /* MHA, tails, dv != hd */
                    n++;
                }
            }
    /* quantized caches: K and V alike and mixed, MLA over a quantized latent (64 + rope 32) */
    static const int32_t QT[][2] = {{PMX_TYPE_Q8_0, PMX_TYPE_Q8_0}, {PMX_TYPE_Q4_0, PMX_TYPE_Q4_0},
                                    {PMX_TYPE_Q5_0, PMX_TYPE_Q8_0}, {PMX_TYPE_F16, PMX_TYPE_IQ4_NL}};
    static const size_t QB[] = {1, 4, 5, 6}; /* a long decode, decodes at block edges, ragged batches */
    for (size_t bi = 0; bi < sizeof QB / sizeof QB[0]; bi++)
        for (size_t ti = 0; ti < sizeof QT / sizeof QT[0]; ti++) {
            const int64_t bs = BS[(bi + ti) % 5];
            run(pool, &BATCHES[QB[bi]], QT[ti][0], QT[ti][1], bs, 0, 8, 2, 64, 64);
            if (QT[ti][0] == QT[ti][1]) run(pool, &BATCHES[QB[bi]], QT[ti][0], QT[ti][0], bs, 1, 4, 1, 96, 64);
            n += 2;
        }
    small_ops();
    printf("%d paged batches; worst err vs the gathered reference %.3g\n", n, worst);
    pmx_pool_destroy(pool);
    return pmx_failures ? 1 : 0;
}
