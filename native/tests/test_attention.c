/* Causal GQA attention: every ISA against the scalar reference table through pmx_attention (pool of 3 and
 * NULL), and the reference against a direct double-precision softmax, over F16/F32 caches (and every other KV
 * cache type, K and V types mixed, on the head sizes that are whole blocks of them), GQA ratios 1/4/8,
 * head sizes with tails, head_dim_v != head_dim, decode / prefill / chunked prefill, and extreme scores.
 * Pool results equal single-threaded ones bit for bit, except for decode split across threads by keys.
 * Error = max |out - expected| / max |v| (outputs are convex combinations of V rows). Bounds:
 *   ref vs direct double:    < 1e-6 (the reference rounds a double result to float once)
 *   ISA vs ref, scale 1/sqrt(hd): < 2e-5 (float dot products, vector exp within 2 ulp, float sums; a quantized
 *   cache is dequantized to the reference's very floats, so the same bound holds)
 *   ISA vs ref, large scale: < 2e-5 + 3e-7 * S, S = scale * max sum|q_i k_i| (float score error grows with
 *   the score's size; a score error e changes a weight by a factor e^e). */
#include <string.h>
#include "check.h"
#include "kernels.h"
#include "ref/ref.h"

typedef struct {
    int32_t type, vtype; /* K and V cache types */
    int64_t n_head, n_kv_head, hd, dv, n_kv, n_q, pos0;
    float scale;
    int ramp; /* keys grow with position: the running max rises block after block */
} shape;

static pmx_kernels REF;
static int isa_ok[PMX_ISA_COUNT];
static double worst_normal, worst_large, worst_direct;

/* Cache in its storage type (rounded or quantized as pmx_kv_store writes it); x is set to what the cache holds so
 * every check sees the same values. Rows at positions >= n_used are NaN (all-ones bytes: a NaN scale in every block
 * type): no query may see them. */
static void *make_cache(int32_t type, float *x, int64_t rows, int64_t row_len, int64_t n_used) {
    const int64_t rb = row_len / pmx_type_block_size(type) * pmx_type_block_bytes(type);
    char *c = malloc((size_t)(rb * rows));
    CHECK(pmx_quantize(type, c, x, rows, row_len) == PMX_OK, "quantize");
    CHECK(pmx_dequantize(type, x, c, rows, row_len) == PMX_OK, "dequantize");
    memset(c + n_used * rb, 0xff, (size_t)((rows - n_used) * rb));
    for (int64_t i = n_used * row_len; i < rows * row_len; i++) x[i] = NAN;
    return c;
}

static const char *type_name(int32_t t) {
    switch (t) {
    case PMX_TYPE_F32: return "f32";
    case PMX_TYPE_F16: return "f16";
    case PMX_TYPE_BF16: return "bf16";
    case PMX_TYPE_Q8_0: return "q8_0";
    case PMX_TYPE_Q4_0: return "q4_0";
    case PMX_TYPE_Q4_1: return "q4_1";
    case PMX_TYPE_Q5_0: return "q5_0";
    case PMX_TYPE_Q5_1: return "q5_1";
    case PMX_TYPE_IQ4_NL: return "iq4_nl";
    default: return "?";
    }
}

/* Max |a - b| over n, relative to vmax; NaN counts as infinite. */
static double err_of(const float *a, const float *b, int64_t n, double vmax) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = isnan(d) ? INFINITY : d;
    }
    return m / vmax;
}

/* The textbook formula, scores materialized, all in double: independent of the reference's code. */
static void direct(const shape *s, const float *q, const float *k, const float *v, float *out) {
    double *sc = malloc(sizeof(double) * s->n_kv), *acc = malloc(sizeof(double) * s->dv);
    const int64_t group = s->n_head / s->n_kv_head;
    for (int64_t t = 0; t < s->n_q; t++)
        for (int64_t h = 0; h < s->n_head; h++) {
            const int64_t n_vis = s->pos0 + t + 1, g = h / group;
            const float *qr = q + (t * s->n_head + h) * s->hd;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < n_vis; j++) {
                const float *kr = k + (j * s->n_kv_head + g) * s->hd;
                double d = 0;
                for (int64_t i = 0; i < s->hd; i++) d += (double)qr[i] * kr[i];
                sc[j] = d * s->scale;
                if (sc[j] > mx) mx = sc[j];
            }
            for (int64_t j = 0; j < n_vis; j++) sum += sc[j] = exp(sc[j] - mx);
            for (int64_t d = 0; d < s->dv; d++) acc[d] = 0;
            for (int64_t j = 0; j < n_vis; j++)
                for (int64_t d = 0; d < s->dv; d++) acc[d] += sc[j] * v[(j * s->n_kv_head + g) * s->dv + d];
            for (int64_t d = 0; d < s->dv; d++) out[(t * s->n_head + h) * s->dv + d] = (float)(acc[d] / sum);
        }
    free(sc), free(acc);
}

/* Whether pmx_attention splits the keys of this shape across a pool of nth threads (api.c: decode with at
 * least 256 keys per thread); otherwise pool and single-threaded results are bit-identical. */
static int split_decode(const shape *s, int nth) { return s->n_q == 1 && s->pos0 + 1 >= 256 * nth; }

static void run(pmx_pool *pool, const shape *s, int check_direct) {
    const int64_t nq = s->n_q * s->n_head * s->hd, no = s->n_q * s->n_head * s->dv;
    const int64_t nk = s->n_kv * s->n_kv_head * s->hd, nv = s->n_kv * s->n_kv_head * s->dv;
    const int64_t n_used = s->pos0 + s->n_q;
    float *q = malloc(sizeof(float) * nq), *kf = malloc(sizeof(float) * nk), *vf = malloc(sizeof(float) * nv);
    float *ref = malloc(sizeof(float) * no), *o1 = malloc(sizeof(float) * no), *o2 = malloc(sizeof(float) * no);
    fill(q, nq, 1.0f);
    fill(kf, nk, 1.0f);
    fill(vf, nv, 2.0f);
    if (s->ramp)
        for (int64_t j = 0; j < s->n_kv; j++)
            for (int64_t i = 0; i < s->n_kv_head * s->hd; i++) kf[j * s->n_kv_head * s->hd + i] *= 0.1f + 3.0f * j / s->n_kv;
    void *k = make_cache(s->type, kf, s->n_kv, s->n_kv_head * s->hd, n_used);
    void *v = make_cache(s->vtype, vf, s->n_kv, s->n_kv_head * s->dv, n_used);
    double vmax = 0, smax = 0;
    for (int64_t i = 0; i < n_used * s->n_kv_head * s->dv; i++)
        if (fabs(vf[i]) > vmax) vmax = fabs(vf[i]); /* not fmax(): it trips an ICE in aarch64 gcc 12's vectorizer */
    const int64_t group = s->n_head / s->n_kv_head;
    const int large = fabs(s->scale) > 1.0;
    for (int64_t t = 0; large && t < s->n_q; t++)
        for (int64_t h = 0; h < s->n_head; h++)
            for (int64_t j = 0; j <= s->pos0 + t; j++) {
                double a = 0;
                for (int64_t i = 0; i < s->hd; i++)
                    a += fabs((double)q[(t * s->n_head + h) * s->hd + i] * kf[(j * s->n_kv_head + h / group) * s->hd + i]);
                if (a * fabs(s->scale) > smax) smax = a * fabs(s->scale);
            }
    const double tol = large ? 2e-5 + 3e-7 * smax : 2e-5;
    char name[160];
    snprintf(name, sizeof name, "%s/%s h=%ld/%ld hd=%ld dv=%ld n_kv=%ld n_q=%ld pos0=%ld scale=%g%s",
             type_name(s->type), type_name(s->vtype), (long)s->n_head, (long)s->n_kv_head, (long)s->hd, (long)s->dv,
             (long)s->n_kv, (long)s->n_q, (long)s->pos0, s->scale, s->ramp ? " ramp" : "");

    pmx_attention_args args = {ref, q, s->n_q, s->pos0, s->n_head, s->n_kv_head, s->hd, s->dv, k, v,
                               s->n_kv_head * s->hd, s->n_kv_head * s->dv, pmx_type_index(s->type),
                               pmx_type_index(s->vtype), s->n_kv, s->scale, NULL, 0};
    for (int64_t t = 0; t < s->n_q; t++) REF.attention(&args, t, 0, s->n_head, 0, s->n_kv, NULL, NULL);
    if (check_direct) {
        /* with quantized (BF16) keys the kernels round the query through Q8_0 (BF16) first, as ggml does */
        const int qt = pmx_kv_q_type(pmx_type_index(s->type));
        float *qd = malloc(sizeof(float) * nq);
        for (int64_t r = 0; r < s->n_q * s->n_head; r++) {
            if (qt >= 0) pmx_ref_round_row(qt, qd + r * s->hd, q + r * s->hd, s->hd);
            else memcpy(qd + r * s->hd, q + r * s->hd, sizeof(float) * s->hd);
        }
        direct(s, qd, kf, vf, o1);
        free(qd);
        const double e = err_of(ref, o1, no, vmax);
        worst_direct = fmax(worst_direct, e);
        CHECK(e < 1e-6, "ref vs direct double: %s err %g", name, e);
    }
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) {
        if (!isa_ok[isa]) continue;
        pmx_force_isa(isa);
        memset(o1, 0xff, sizeof(float) * no); /* NaN: a missed output shows */
        memset(o2, 0xff, sizeof(float) * no);
        CHECK(pmx_attention(pool, o1, q, s->n_q, s->pos0, s->n_head, s->n_kv_head, s->hd, s->dv, k, v, s->type,
                            s->vtype, s->n_kv, s->scale) == PMX_OK, "status");
        CHECK(pmx_attention(NULL, o2, q, s->n_q, s->pos0, s->n_head, s->n_kv_head, s->hd, s->dv, k, v, s->type,
                            s->vtype, s->n_kv, s->scale) == PMX_OK, "status");
        const double e = err_of(o1, ref, no, vmax);
        if (large) worst_large = fmax(worst_large, e / tol * 2e-5);
        else worst_normal = fmax(worst_normal, e);
        CHECK(e < tol, "%s %s err %g (tol %g)", pmx_isa_name(isa), name, e, tol);
        if (split_decode(s, 3)) { /* the pool's threads each took a share of the keys, then merged */
            const double e2 = err_of(o2, ref, no, vmax);
            CHECK(e2 < tol, "%s %s single-threaded err %g (tol %g)", pmx_isa_name(isa), name, e2, tol);
        } else {
            CHECK(memcmp(o1, o2, sizeof(float) * no) == 0, "%s %s: pool and single-threaded results differ",
                  pmx_isa_name(isa), name);
        }
    }
    pmx_force_isa(PMX_ISA_AUTO);
    free(q), free(kf), free(vf), free(k), free(v), free(ref), free(o1), free(o2);
}

int main(void) {
    pmx_kernels_ref(&REF);
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) isa_ok[isa] = for_each_isa_begin(isa);
    pmx_pool *pool = pmx_pool_create(3);
    static const int32_t TYPES[] = {PMX_TYPE_F16, PMX_TYPE_F32};
    static const int64_t KV_HEADS[] = {8, 2, 1}; /* GQA ratios 1, 4, 8 of 8 heads */
    /* head_dim, head_dim_v: vector widths, tails of 8/16 (40, 72, 3), DeepSeek-like dv != hd, the largest */
    static const int64_t DIMS[][2] = {{64, 64}, {128, 128}, {40, 40}, {72, 72}, {64, 128}, {192, 128}, {3, 5}, {256, 512}};
    static const int64_t NKV[] = {1, 7, 64, 300, 1000};
    int n_shapes = 0;
    for (size_t ti = 0; ti < 2; ti++)
        for (size_t hi = 0; hi < 3; hi++)
            for (size_t di = 0; di < sizeof DIMS / sizeof DIMS[0]; di++)
                for (size_t ni = 0; ni < sizeof NKV / sizeof NKV[0]; ni++)
                    for (int mode = 0; mode < 3; mode++) {
                        shape s = {TYPES[ti], TYPES[ti], 8, KV_HEADS[hi], DIMS[di][0], DIMS[di][1], NKV[ni], 1, 0,
                                   1.0f / sqrtf((float)DIMS[di][0]), 0};
                        const int small_dims = di == 0 || di == 2 || di == 3 || di == 4 || di == 6;
                        if (mode == 0) { /* decode: the last position sees the whole cache */
                            s.pos0 = s.n_kv - 1;
                        } else if (mode == 1) { /* prefill; the long ones for a few shapes (runtime) */
                            if (s.n_kv == 1 || (s.n_kv == 64 && !small_dims)) continue;
                            if (s.n_kv == 300 && !(di == 3 && hi == 1)) continue;
                            if (s.n_kv == 1000) continue; /* one long prefill below */
                            s.n_q = s.n_kv;
                        } else { /* chunked prefill ending before the cache does: later rows are NaN */
                            if (s.n_kv == 1 || (s.n_kv >= 300 && !small_dims) || (s.n_kv == 1000 && di != 0 && di != 3)) continue;
                            s.n_q = s.n_kv < 48 ? s.n_kv / 2 : 8;
                            s.pos0 = s.n_kv - s.n_q - s.n_kv / 5;
                        }
                        run(pool, &s, n_shapes % 17 == 0 && s.n_kv <= 300);
                        n_shapes++;
                        /* extreme scores: scale 30 puts scores in the hundreds, exp spans far past float */
                        if (mode != 1 && s.n_kv >= 64 && (di == 0 || di == 3 || di == 4) &&
                            !(mode == 2 && s.n_kv >= 300)) {
                            s.scale = 30.0f;
                            s.ramp = (int)(ni & 1);
                            run(pool, &s, s.n_kv == 64 && hi == 1);
                            s.scale = -30.0f;
                            s.ramp = 1;
                            run(pool, &s, 0);
                            n_shapes += 2;
                        }
                    }
    /* a long prefill, kept small in heads for runtime */
    shape p = {PMX_TYPE_F16, PMX_TYPE_F16, 2, 1, 40, 40, 1000, 1000, 0, 0.16f, 0};
    run(pool, &p, 0);
    /* direct double check of the reference on a long context too */
    shape d = {PMX_TYPE_F32, PMX_TYPE_F32, 4, 2, 72, 40, 500, 5, 490, 0.12f, 1};
    run(pool, &d, 1);
    /* the other KV cache types, K and V alike and mixed: decode (split across threads from 768 keys) and a chunked
     * prefill, over key counts with every tail of the key blocks and head sizes that are whole 32-value blocks */
    static const int32_t QT[][2] = {
        {PMX_TYPE_Q8_0, PMX_TYPE_Q8_0}, {PMX_TYPE_Q4_0, PMX_TYPE_Q4_0},   {PMX_TYPE_Q5_0, PMX_TYPE_Q5_0},
        {PMX_TYPE_Q4_1, PMX_TYPE_Q4_1}, {PMX_TYPE_Q5_1, PMX_TYPE_Q5_1},   {PMX_TYPE_IQ4_NL, PMX_TYPE_IQ4_NL},
        {PMX_TYPE_BF16, PMX_TYPE_BF16}, {PMX_TYPE_Q8_0, PMX_TYPE_F16},    {PMX_TYPE_F16, PMX_TYPE_Q4_0},
        {PMX_TYPE_Q4_0, PMX_TYPE_Q8_0}, {PMX_TYPE_F32, PMX_TYPE_Q5_0}};
    static const int64_t QDIMS[][2] = {{64, 64}, {128, 128}, {64, 128}, {192, 128}};
    /* (runtime: the suite also runs under qemu) each pair on one head shape, Q8_0 and Q4_0 on more key counts */
    for (size_t ti = 0; ti < sizeof QT / sizeof QT[0]; ti++) {
        const size_t di = ti % 4;
        static const int64_t QNKV[] = {65, 7, 1000, 1};
        for (size_t ni = 0; ni < (ti < 2 ? 4u : 1u); ni++) {
            shape s = {QT[ti][0], QT[ti][1], 8, di % 2 ? 8 : 2, QDIMS[di][0], QDIMS[di][1], QNKV[ni], 1,
                       QNKV[ni] - 1, 1.0f / sqrtf((float)QDIMS[di][0]), 0};
            run(pool, &s, ni == 0);
            n_shapes++;
            if (ni == 0) { /* chunked prefill, NaN rows after */
                s.n_q = 8;
                s.pos0 = s.n_kv - s.n_q - s.n_kv / 5;
                run(pool, &s, 1);
                n_shapes++;
            }
        }
    }
    /* bf16 has no blocks: head sizes with tails */
    shape b1 = {PMX_TYPE_BF16, PMX_TYPE_BF16, 8, 2, 40, 72, 100, 1, 99, 0.15f, 0}, b2 = b1;
    b2.hd = 3, b2.dv = 5, b2.n_q = 10, b2.pos0 = 80;
    run(pool, &b1, 1), run(pool, &b2, 1);
    /* the widest heads: the dequantized tile holds only a few keys at once (tails of a 4-key block) */
    shape w = {PMX_TYPE_Q8_0, PMX_TYPE_Q4_0, 4, 2, 2048, 1024, 11, 1, 10, 0.02f, 0};
    run(pool, &w, 1);
    w.n_q = 6, w.pos0 = 4, w.type = PMX_TYPE_Q4_0, w.vtype = PMX_TYPE_Q5_1;
    run(pool, &w, 1);
    n_shapes += 4;
    printf("%d shapes; worst err: isa vs ref %.3g (normal scale), %.3g (large scale, scaled to the base tol "
           "2e-5), ref vs direct %.3g\n", n_shapes + 2, worst_normal, worst_large, worst_direct);

    float x = 0;
    CHECK(pmx_attention(NULL, &x, &x, 2, 0, 8, 3, 64, 64, &x, &x, PMX_TYPE_F32, PMX_TYPE_F32, 2, 1.0f) ==
              PMX_ERR_INVALID_ARG, "n_head %% n_kv_head rejected");
    CHECK(pmx_attention(NULL, &x, &x, 2, 1, 8, 8, 64, 64, &x, &x, PMX_TYPE_F32, PMX_TYPE_F32, 2, 1.0f) ==
              PMX_ERR_INVALID_ARG, "pos0 + n_q > n_kv rejected");
    CHECK(pmx_attention(NULL, &x, &x, 1, 0, 8, 8, 64, 64, &x, &x, PMX_TYPE_Q4_K, PMX_TYPE_F16, 1, 1.0f) ==
              PMX_ERR_INVALID_ARG, "q4_K cache rejected");
    CHECK(pmx_attention(NULL, &x, &x, 1, 0, 8, 8, 48, 64, &x, &x, PMX_TYPE_Q8_0, PMX_TYPE_F16, 1, 1.0f) ==
              PMX_ERR_INVALID_ARG, "q8_0 K with a head of 48 rejected");
    CHECK(pmx_attention(NULL, &x, &x, 1, 0, 8, 8, 64, 40, &x, &x, PMX_TYPE_F16, PMX_TYPE_Q4_0, 1, 1.0f) ==
              PMX_ERR_INVALID_ARG, "q4_0 V with a head of 40 rejected");
    CHECK(pmx_attention(NULL, &x, &x, 1, 0, 8, 8, 8192, 64, &x, &x, PMX_TYPE_Q8_0, PMX_TYPE_F16, 1, 1.0f) ==
              PMX_ERR_INVALID_ARG, "q8_0 K past PMX_KV_MAX_HEAD_DIM rejected");
    pmx_pool_destroy(pool);
    return finish();
}
