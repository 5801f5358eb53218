/* Multi-head latent attention (pmx_attention_mla): every ISA against the scalar reference table (pool of 3 and
 * NULL), the reference against a direct double-precision softmax, and every ISA against pmx_attention given a
 * separately materialized K (= the whole row) and V (= its latent part), over F16/F32 caches (and the quantized
 * KV cache types on the shapes whose parts are whole 32-value blocks: one latent cache, as llama.cpp's), DeepSeek shapes
 * (kv_lora 512, n_rope 64) and small or odd ones (kv_lora 36, 64; n_head 1..5), decode over contexts long
 * enough for the pool to split the keys, and prefill chunks with pos0 > 0.
 * Error = max |out - expected| / max |latent| (outputs are convex combinations of latent rows). Bounds:
 *   ref vs direct double: < 1e-6 (the reference rounds a double result to float once)
 *   ISA vs ref:           < 2e-5 + 3e-7 * S, S = scale * max sum|q_i k_i| (float dot products of up to 576
 *                         terms, vector exp within 2 ulp, float sums; a score error e scales a weight by e^e)
 *   ISA vs pmx_attention with the copies: bit-identical (the same kernel walks the same numbers)
 *   pool vs NULL: bit-identical, except decode split by keys across threads (then both held to the ref bound). */
#include <string.h>
#include "check.h"
#include "kernels.h"
#include "ref/ref.h"

typedef struct {
    int32_t type;
    int64_t n_head, kv_lora, n_rope, n_kv, n_q, pos0;
    float scale;
} shape;

static pmx_kernels REF;
static int isa_ok[PMX_ISA_COUNT];
static double worst_isa, worst_direct;

static double err_of(const float *a, const float *b, int64_t n, double vmax) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = isnan(d) ? INFINITY : d;
    }
    return m / vmax;
}

static int64_t row_bytes(int32_t type, int64_t n) { return n / pmx_type_block_size(type) * pmx_type_block_bytes(type); }

/* Copy of rows x cols floats (rows `stride` apart in x, starting at column c0) in the cache type, rows from n_used
 * on all-ones bytes (NaN scales and values: no query may read them). */
static void *to_cache(int32_t type, const float *x, int64_t rows, int64_t stride, int64_t c0, int64_t cols,
                      int64_t n_used) {
    const int64_t rb = row_bytes(type, cols);
    char *c = malloc((size_t)(rb * rows));
    for (int64_t r = 0; r < n_used; r++) CHECK(pmx_quantize(type, c + r * rb, x + r * stride + c0, 1, cols) == PMX_OK, "quantize");
    memset(c + n_used * rb, 0xff, (size_t)((rows - n_used) * rb));
    return c;
}

static const char *type_name(int32_t t) {
    return t == PMX_TYPE_F32 ? "f32" : t == PMX_TYPE_F16 ? "f16" : t == PMX_TYPE_Q8_0 ? "q8_0" : t == PMX_TYPE_Q4_0 ? "q4_0"
         : t == PMX_TYPE_Q5_0 ? "q5_0" : t == PMX_TYPE_IQ4_NL ? "iq4_nl" : t == PMX_TYPE_Q4_1 ? "q4_1" : "?";
}

/* The textbook formula in double, scores materialized: key = whole row, value = latent part. */
static void direct(const shape *s, const float *q, const float *cache, float *out) {
    const int64_t row = s->kv_lora + s->n_rope;
    double *sc = malloc(sizeof(double) * s->n_kv), *acc = malloc(sizeof(double) * s->kv_lora);
    for (int64_t t = 0; t < s->n_q; t++)
        for (int64_t h = 0; h < s->n_head; h++) {
            const int64_t n_vis = s->pos0 + t + 1;
            const float *qr = q + (t * s->n_head + h) * row;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < n_vis; j++) {
                double d = 0;
                for (int64_t i = 0; i < row; i++) d += (double)qr[i] * cache[j * row + i];
                sc[j] = d * s->scale;
                if (sc[j] > mx) mx = sc[j];
            }
            for (int64_t j = 0; j < n_vis; j++) sum += sc[j] = exp(sc[j] - mx);
            for (int64_t d = 0; d < s->kv_lora; d++) acc[d] = 0;
            for (int64_t j = 0; j < n_vis; j++)
                for (int64_t d = 0; d < s->kv_lora; d++) acc[d] += sc[j] * cache[j * row + d];
            for (int64_t d = 0; d < s->kv_lora; d++) out[(t * s->n_head + h) * s->kv_lora + d] = (float)(acc[d] / sum);
        }
    free(sc), free(acc);
}

static void run(pmx_pool *pool, const shape *s, int check_direct) {
    const int64_t row = s->kv_lora + s->n_rope, n_used = s->pos0 + s->n_q;
    const int64_t nq = s->n_q * s->n_head * row, no = s->n_q * s->n_head * s->kv_lora, nc = s->n_kv * row;
    float *q = malloc(sizeof(float) * nq), *cf = malloc(sizeof(float) * nc);
    float *ref = malloc(sizeof(float) * no), *o1 = malloc(sizeof(float) * no), *o2 = malloc(sizeof(float) * no);
    float *o3 = malloc(sizeof(float) * no);
    fill(q, nq, 1.0f);
    fill(cf, nc, 1.0f);
    for (int64_t j = 0; j < s->n_kv; j++) /* latent and rope parts of different sizes, as in a model */
        for (int64_t i = 0; i < s->kv_lora; i++) cf[j * row + i] *= 2.0f;
    for (int64_t i = n_used * row; i < nc; i++) cf[i] = NAN; /* rows no query may see */
    void *cache = to_cache(s->type, cf, s->n_kv, row, 0, row, n_used);
    void *k = to_cache(s->type, cf, s->n_kv, row, 0, row, n_used);
    void *v = to_cache(s->type, cf, s->n_kv, row, 0, s->kv_lora, n_used);
    CHECK(pmx_dequantize(s->type, cf, cache, n_used, row) == PMX_OK, "dequantize"); /* what the cache holds */
    double vmax = 0, smax = 0;
    for (int64_t j = 0; j < n_used; j++)
        for (int64_t i = 0; i < s->kv_lora; i++)
            if (fabs(cf[j * row + i]) > vmax) vmax = fabs(cf[j * row + i]);
    for (int64_t t = 0; t < s->n_q; t++)
        for (int64_t h = 0; h < s->n_head; h++)
            for (int64_t j = 0; j <= s->pos0 + t; j++) {
                double a = 0;
                for (int64_t i = 0; i < row; i++) a += fabs((double)q[(t * s->n_head + h) * row + i] * cf[j * row + i]);
                if (a * fabs(s->scale) > smax) smax = a * fabs(s->scale);
            }
    const double tol = 2e-5 + 3e-7 * smax;
    char name[160];
    snprintf(name, sizeof name, "%s h=%ld kv_lora=%ld n_rope=%ld n_kv=%ld n_q=%ld pos0=%ld scale=%g",
             type_name(s->type), (long)s->n_head, (long)s->kv_lora, (long)s->n_rope,
             (long)s->n_kv, (long)s->n_q, (long)s->pos0, s->scale);

    const pmx_attention_args args = {ref, q, s->n_q, s->pos0, s->n_head, 1, row, s->kv_lora, cache, cache, row, row,
                                     pmx_type_index(s->type), pmx_type_index(s->type), s->n_kv, s->scale, NULL, 0};
    for (int64_t t = 0; t < s->n_q; t++) REF.attention(&args, t, 0, s->n_head, 0, s->n_kv, NULL, NULL);
    if (check_direct) {
        const int qt = pmx_kv_q_type(pmx_type_index(s->type)); /* quantized keys: the query rounded as ggml does */
        float *qd = malloc(sizeof(float) * nq);
        for (int64_t r = 0; r < s->n_q * s->n_head; r++) {
            if (qt >= 0) pmx_ref_round_row(qt, qd + r * row, q + r * row, row);
            else memcpy(qd + r * row, q + r * row, sizeof(float) * row);
        }
        direct(s, qd, cf, o1);
        free(qd);
        const double e = err_of(ref, o1, no, vmax);
        worst_direct = fmax(worst_direct, e);
        CHECK(e < 1e-6, "ref vs direct double: %s err %g", name, e);
    }
    const int split = s->n_q == 1 && s->pos0 + 1 >= 256 * 3; /* api.c: 256 keys per thread at least */
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) {
        if (isa != PMX_ISA_SCALAR && !isa_ok[isa]) continue;
        pmx_force_isa(isa);
        memset(o1, 0xff, sizeof(float) * no); /* NaN: a missed output shows */
        memset(o2, 0xff, sizeof(float) * no);
        memset(o3, 0xff, sizeof(float) * no);
        CHECK(pmx_attention_mla(pool, o1, q, s->n_q, s->pos0, s->n_head, s->kv_lora, s->n_rope, cache, s->type,
                                s->n_kv, s->scale) == PMX_OK, "status");
        CHECK(pmx_attention_mla(NULL, o2, q, s->n_q, s->pos0, s->n_head, s->kv_lora, s->n_rope, cache, s->type,
                                s->n_kv, s->scale) == PMX_OK, "status");
        CHECK(pmx_attention(pool, o3, q, s->n_q, s->pos0, s->n_head, 1, row, s->kv_lora, k, v, s->type, s->type,
                            s->n_kv, s->scale) == PMX_OK, "status");
        const double e1 = err_of(o1, ref, no, vmax), e2 = err_of(o2, ref, no, vmax);
        worst_isa = fmax(worst_isa, fmax(e1, e2) / tol * 2e-5);
        CHECK(e1 < tol, "%s %s err %g (tol %g)", pmx_isa_name(isa), name, e1, tol);
        CHECK(e2 < tol, "%s %s single-threaded err %g (tol %g)", pmx_isa_name(isa), name, e2, tol);
        if (!split)
            CHECK(memcmp(o1, o2, sizeof(float) * no) == 0, "%s %s: pool and single-threaded results differ",
                  pmx_isa_name(isa), name);
        CHECK(memcmp(o1, o3, sizeof(float) * no) == 0, "%s %s: differs from pmx_attention on K/V copies",
              pmx_isa_name(isa), name);
    }
    pmx_force_isa(PMX_ISA_AUTO);
    free(q), free(cf), free(cache), free(k), free(v), free(ref), free(o1), free(o2), free(o3);
}

int main(void) {
    pmx_kernels_ref(&REF);
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) isa_ok[isa] = for_each_isa_begin(isa);
    pmx_pool *pool = pmx_pool_create(3);
    static const int32_t TYPES[] = {PMX_TYPE_F16, PMX_TYPE_F32};
    /* n_head, kv_lora, n_rope: DeepSeek-V2-Lite; small; tails of 8/16 in both parts; no rope part */
    static const int64_t DIMS[][3] = {{16, 512, 64}, {1, 64, 32}, {5, 36, 8}, {3, 64, 32}, {2, 17, 3}, {4, 40, 0}};
    /* decode over n_kv keys; prefill of n_q queries from pos0 (rows past pos0 + n_q are NaN) */
    static const int64_t CASES[][3] = {{1, 1, 0},   {7, 1, 6},    {64, 1, 63},   {300, 1, 299}, {1000, 1, 999},
                                       {3000, 1, 2999}, {5, 5, 0}, {250, 70, 130}, {100, 33, 20}, {900, 2, 700}};
    int n_shapes = 0;
    for (size_t ti = 0; ti < 2; ti++)
        for (size_t di = 0; di < sizeof DIMS / sizeof DIMS[0]; di++)
            for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0]; ci++) {
                const int big = DIMS[di][1] >= 512;
                if (big && (CASES[ci][1] > 33 || CASES[ci][0] == 3000)) continue; /* runtime (qemu) */
                shape s = {TYPES[ti], DIMS[di][0], DIMS[di][1], DIMS[di][2], CASES[ci][0], CASES[ci][1], CASES[ci][2],
                           1.0f / sqrtf((float)(DIMS[di][1] + DIMS[di][2]))};
                run(pool, &s, CASES[ci][0] <= 1000 && (n_shapes % 3 == 0 || !big));
                n_shapes++;
                if (ci == 3 || ci == 7) { /* scores in the tens: weights span far past float */
                    s.scale = 30.0f / sqrtf((float)s.kv_lora);
                    run(pool, &s, !big);
                    s.scale = -s.scale;
                    run(pool, &s, 0);
                    n_shapes += 2;
                }
            }
    /* DeepSeek-V3 head count, decode long enough to split */
    shape v3 = {PMX_TYPE_F16, 128, 512, 64, 800, 1, 799, 0.07f};
    run(pool, &v3, 0);
    /* quantized latent caches: the DeepSeek shape (the tile holds 14 keys: tails of its key blocks), small ones */
    static const int32_t QT[] = {PMX_TYPE_Q8_0, PMX_TYPE_Q4_0, PMX_TYPE_Q5_0, PMX_TYPE_IQ4_NL, PMX_TYPE_Q4_1};
    static const int64_t QDIMS[][3] = {{16, 512, 64}, {3, 64, 32}, {4, 32, 0}};
    static const int64_t QCASES[][3] = {{1, 1, 0}, {7, 1, 6}, {65, 1, 64}, {1000, 1, 999}, {100, 33, 20}, {900, 2, 700}};
    for (size_t ti = 0; ti < sizeof QT / sizeof QT[0]; ti++)
        for (size_t di = 0; di < sizeof QDIMS / sizeof QDIMS[0]; di++)
            for (size_t ci = 0; ci < sizeof QCASES / sizeof QCASES[0]; ci++) {
                /* runtime (the suite also runs under qemu): every case for Q8_0, two per shape for the others, the
                 * DeepSeek shape for Q8_0 and Q4_0 only */
                if (ti > 0 && ci != (di + ti) % 6 && ci != 2) continue;
                if (di == 0 && (ti > 1 || ci == 3 || ci == 4)) continue;
                shape s = {QT[ti], QDIMS[di][0], QDIMS[di][1], QDIMS[di][2], QCASES[ci][0], QCASES[ci][1],
                           QCASES[ci][2], 1.0f / sqrtf((float)(QDIMS[di][1] + QDIMS[di][2]))};
                run(pool, &s, di > 0 && ci < 4);
                n_shapes++;
            }
    printf("%d shapes; worst err: isa vs ref %.3g (scaled to the base tol 2e-5), ref vs direct %.3g\n", n_shapes + 1,
           worst_isa, worst_direct);

    float x = 0;
    CHECK(pmx_attention_mla(NULL, &x, &x, 2, 1, 4, 64, 32, &x, PMX_TYPE_F32, 2, 1.0f) == PMX_ERR_INVALID_ARG,
          "pos0 + n_q > n_kv rejected");
    CHECK(pmx_attention_mla(NULL, &x, &x, 1, 0, 4, 64, 32, &x, PMX_TYPE_Q4_K, 1, 1.0f) == PMX_ERR_INVALID_ARG,
          "q4_K cache rejected");
    CHECK(pmx_attention_mla(NULL, &x, &x, 1, 0, 4, 64, 8, &x, PMX_TYPE_Q8_0, 1, 1.0f) == PMX_ERR_INVALID_ARG,
          "q8_0 cache with a row of 72 rejected");
    CHECK(pmx_attention_mla(NULL, &x, &x, 1, 0, 4, 0, 32, &x, PMX_TYPE_F32, 1, 1.0f) == PMX_ERR_INVALID_ARG,
          "kv_lora 0 rejected");
    CHECK(pmx_attention_mla(NULL, &x, &x, 1, 0, 4, 64, -1, &x, PMX_TYPE_F32, 1, 1.0f) == PMX_ERR_INVALID_ARG,
          "negative n_rope rejected");
    CHECK(pmx_attention_mla(NULL, &x, NULL, 1, 0, 4, 64, 32, &x, PMX_TYPE_F32, 1, 1.0f) == PMX_ERR_INVALID_ARG,
          "NULL q rejected");
    pmx_pool_destroy(pool);
    return finish();
}
