/* Softmax, SiLU-gated product, add, argmax and top-k: every ISA against the scalar reference through the
 * public API (pool of 3 and NULL), plus exact expectations that hold the reference itself. */
#include <string.h>
#include "check.h"
#include "ref/ref.h"

/* Worst |a-b| / (atol + rtol*|b|) over n values: <= 1 passes; NaN where b is not NaN (or vice versa) fails. */
static double worst(const float *a, const float *b, int64_t n, double rtol, double atol, int64_t *at) {
    double m = 0;
    *at = -1;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue;
        double d = a[i] == b[i] ? 0 : fabs((double)a[i] - b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(d <= m)) m = isnan(d) ? INFINITY : d, *at = i;
    }
    return m;
}

static pmx_kernels REF;

/* Bound, relative per output, for outputs above atol = 1e-20 (smaller probabilities are judged absolutely):
 * the SIMD exp is within 8.4e-8 (1.4 ulp); x - max is rounded in float, which costs |x - max| * 2^-24
 * relative, at most 1.9e-6 where the output is still >= 1e-20 (|x - max| <= 46); the float sum of n positive
 * terms over 16 lanes adds a random-walk ~sqrt(n/16) * 2^-24 (1e-6 at n = 4097; the worst case (n/16)
 * * 2^-24 needs adversarial rounding). Sum: ~3e-6; rtol 5e-6. Measured: 7e-7. */
#define SOFTMAX_RTOL 5e-6
#define SOFTMAX_ATOL 1e-20

static void test_softmax(pmx_pool *pool, int32_t isa) {
    enum { ROWS = 3, KINDS = 6 };
    double wmax = 0;
    for (size_t s = 0; s < N_TAIL_SIZES; s++) {
        const int64_t n = TAIL_SIZES[s];
        float *x = malloc(sizeof(float) * n * ROWS), *r = malloc(sizeof(float) * n * ROWS);
        for (int kind = 0; kind < KINDS; kind++) {
            for (int64_t i = 0; i < n * ROWS; i++) {
                const float v = rnd();
                switch (kind) {
                case 0: x[i] = v * 5; break;                                   /* typical logits */
                case 1: x[i] = v * 200; break;                                 /* most terms underflow */
                case 2: x[i] = 1e4f + v * 60; break;                           /* large magnitude */
                case 3: x[i] = -3e4f + v * 30; break;                          /* large negative */
                case 4: x[i] = i % n % 3 == 1 ? -INFINITY : v * 8; break;      /* masked entries */
                default: x[i] = 7.25f; break;                                  /* all equal */
                }
            }
            memcpy(r, x, sizeof(float) * n * ROWS);
            REF.softmax_f32(r, n, 0, ROWS);
            CHECK(pmx_softmax_f32(pool, x, n, ROWS) == PMX_OK, "status");
            int64_t at;
            const double w = worst(x, r, n * ROWS, SOFTMAX_RTOL, SOFTMAX_ATOL, &at);
            if (w > wmax) wmax = w;
            CHECK(w <= 1, "%s softmax kind %d n=%ld: worst %g of bound at %ld (%g vs %g)", pmx_isa_name(isa), kind,
                  (long)n, w, (long)at, at >= 0 ? x[at] : 0, at >= 0 ? r[at] : 0);
            if (kind == 5) { /* exp(0) = 1 exactly and the sum n is exact: 1/n to the ulp */
                const float want = 1.0f / (float)n;
                for (int64_t i = 0; i < n * ROWS; i++)
                    if (fabsf(x[i] - want) > 1.2e-7f * want) {
                        CHECK(0, "%s softmax all-equal n=%ld: %g != 1/n", pmx_isa_name(isa), (long)n, x[i]);
                        break;
                    }
            }
            if (kind == 4)
                for (int64_t i = 0; i < n * ROWS; i++)
                    if (i % n % 3 == 1 && x[i] != 0) {
                        CHECK(0, "%s softmax: -inf entry %ld gave %g", pmx_isa_name(isa), (long)i, x[i]);
                        break;
                    }
        }
        free(x), free(r);
    }
    printf("%s softmax: worst error %.3f of the bound (rtol %g)\n", pmx_isa_name(isa), wmax, SOFTMAX_RTOL);
}

/* Bound: exp 1.4 ulp, then 1 + e, the division and the product by u each round once: ~4 ulp; rtol 6e-7
 * (10 ulp). atol: for g < -88.7, exp(-g) overflows in float and silu underflows to -0 where the double
 * reference still has up to 2e-37 * |u|. */
#define SILU_RTOL 6e-7
#define SILU_ATOL 1e-35

static const int64_t BIG_SIZES[] = {40000, 65536 + 5}; /* above ELEMENTWISE_PARALLEL_MIN: threaded */

static void test_silu_add(pmx_pool *pool, int32_t isa) {
    static const float extremes[] = {0.0f, -0.0f, 80, -80, 88, -88, 88.7f, -88.7f, 89, -89, 100, -100,
                                     1e4f, -1e4f, 1e30f, -1e30f, 1e-30f, -1e-30f, 20, -20};
    const size_t n_ext = sizeof extremes / sizeof extremes[0];
    double wmax = 0;
    for (size_t s = 0; s < N_TAIL_SIZES + 2; s++) {
        const int64_t n = s < N_TAIL_SIZES ? TAIL_SIZES[s] : BIG_SIZES[s - N_TAIL_SIZES];
        float *g = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
        float *r = malloc(sizeof(float) * n), *t = malloc(sizeof(float) * n);
        fill(g, n, 12.0f);
        fill(u, n, 3.0f);
        for (int64_t i = 0; i < n; i += 3) g[i] = extremes[(i / 3) % n_ext];
        for (int alias = 0; alias < 3; alias++) { /* y separate, y == g, y == u */
            memcpy(t, alias == 2 ? u : g, sizeof(float) * n);
            float *out = alias == 0 ? y : t;
            REF.silu_mul_f32(r, g, u, 0, n);
            CHECK(pmx_silu_mul_f32(pool, out, alias == 1 ? t : g, alias == 2 ? t : u, n) == PMX_OK, "status");
            int64_t at;
            const double w = worst(out, r, n, SILU_RTOL, SILU_ATOL, &at);
            if (w > wmax) wmax = w;
            CHECK(w <= 1, "%s silu_mul alias %d n=%ld: worst %g of bound at %ld (g=%g: %g vs %g)", pmx_isa_name(isa),
                  alias, (long)n, w, (long)at, at >= 0 ? g[at] : 0, at >= 0 ? out[at] : 0, at >= 0 ? r[at] : 0);

            memcpy(t, alias == 2 ? u : g, sizeof(float) * n);
            REF.add_f32(r, g, u, 0, n);
            CHECK(pmx_add_f32(pool, out, alias == 1 ? t : g, alias == 2 ? t : u, n) == PMX_OK, "status");
            CHECK(memcmp(out, r, sizeof(float) * n) == 0, "%s add alias %d n=%ld not exact", pmx_isa_name(isa), alias,
                  (long)n);
        }
        free(g), free(u), free(y), free(r), free(t);
    }
    printf("%s silu_mul: worst error %.3f of the bound (rtol %g)\n", pmx_isa_name(isa), wmax, SILU_RTOL);
}

/* LayerNorm: the kernels sum in 8 or 16 double lanes where the reference sums in order (~1e-16 relative), then the
 * same float steps; rtol 4 ulp over outputs of ~1 (atol 1e-6 for outputs near 0 from cancellation in x - mean). GELU:
 * the same table at the same binary16 index, so exact. Both with and without residual / bias, in place and not, rows
 * of every tail size and two sizes above the threading threshold. */
static void test_layer_norm_gelu(pmx_pool *pool, int32_t isa) {
    enum { ROWS = 3 };
    double wmax = 0;
    for (size_t s = 0; s < N_TAIL_SIZES + 2; s++) {
        const int64_t n = s < N_TAIL_SIZES ? TAIL_SIZES[s] : BIG_SIZES[s - N_TAIL_SIZES] / ROWS;
        const int64_t m = n * ROWS;
        float *x = malloc(sizeof(float) * m), *res = malloc(sizeof(float) * m), *w = malloc(sizeof(float) * n);
        float *b = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * m), *r = malloc(sizeof(float) * m);
        fill(x, m, 4.0f);
        fill(res, m, 2.0f);
        fill(w, n, 1.5f);
        fill(b, n, 0.5f);
        for (int64_t i = 0; i < n; i += 5) x[i] += 30.0f; /* an offset mean */
        for (int kind = 0; kind < 3; kind++) { /* 0: y separate, no residual; 1: residual into y; 2: y == res */
            const float *rs = kind == 0 ? NULL : res;
            REF.layer_norm_f32(r, x, rs, w, b, n, 0, ROWS, 1e-12f);
            float *out = y;
            if (kind == 2) memcpy(out, res, sizeof(float) * m);
            CHECK(pmx_layer_norm_f32(pool, out, x, kind == 2 ? out : rs, w, b, n, ROWS, 1e-12f) == PMX_OK, "status");
            int64_t at;
            const double e = worst(out, r, m, 4.8e-7, 1e-6, &at);
            if (e > wmax) wmax = e;
            CHECK(e <= 1, "%s layer_norm kind %d n=%ld: worst %g of bound at %ld (%g vs %g)", pmx_isa_name(isa), kind,
                  (long)n, e, (long)at, at >= 0 ? out[at] : 0, at >= 0 ? r[at] : 0);
        }
        for (int64_t i = 0; i < m; i += 7) x[i] = i % 2 ? -10.0f : 10.0f;   /* the bounds */
        for (int64_t i = 3; i < m; i += 11) x[i] = (float)(i % 40) - 20.0f; /* both sides of them */
        for (int bias = 0; bias < 2; bias++) {
            memcpy(r, x, sizeof(float) * m);
            memcpy(y, x, sizeof(float) * m);
            REF.gelu_f32(r, bias ? b : NULL, n, 0, ROWS);
            CHECK(pmx_gelu_f32(pool, y, bias ? b : NULL, n, ROWS) == PMX_OK, "status");
            CHECK(memcmp(y, r, sizeof(float) * m) == 0, "%s gelu bias %d n=%ld not exact", pmx_isa_name(isa), bias, (long)n);
        }
        free(x), free(res), free(w), free(b), free(y), free(r);
    }
    printf("%s layer_norm: worst error %.3f of the bound; gelu exact\n", pmx_isa_name(isa), wmax);
}

/* Encoder attention through the API (sequences of several lengths, an empty one, one longer than a 16-key step)
 * against the reference run per sequence: float products and a polynomial exp against double ones; outputs are
 * averages of V rows of ~1, so an absolute 2e-6 plus 1e-5 relative. */
static void test_attention_encoder(pmx_pool *pool, int32_t isa) {
    static const int64_t lens[] = {1, 2, 7, 0, 16, 17, 37, 65};
    static const int64_t dims[] = {32, 64, 12};
    enum { NS = sizeof lens / sizeof lens[0], HEADS = 3 };
    double wmax = 0;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const int64_t hd = dims[di], st = HEADS * hd;
        int32_t rows[NS + 1] = {0};
        for (int s = 0; s < NS; s++) rows[s + 1] = rows[s] + (int32_t)lens[s];
        const int64_t n = rows[NS];
        float *q = malloc(sizeof(float) * n * st), *k = malloc(sizeof(float) * n * st), *v = malloc(sizeof(float) * n * st);
        float *out = malloc(sizeof(float) * n * st), *r = malloc(sizeof(float) * n * st);
        float *scratch = malloc(sizeof(float) * pmx_encoder_scratch_floats(65, hd));
        fill(q, n * st, 2.0f);
        fill(k, n * st, 2.0f);
        fill(v, n * st, 1.0f);
        const float scale = 1.0f / sqrtf((float)hd);
        for (int s = 0; s < NS; s++)
            if (lens[s] > 0) {
                const int64_t o = (int64_t)rows[s] * st;
                REF.attention_encoder(q + o, k + o, v + o, r + o, lens[s], HEADS, hd, 0, HEADS, scale, scratch);
            }
        CHECK(pmx_attention_encoder_f32(pool, out, q, k, v, NS, rows, HEADS, hd, scale) == PMX_OK, "status");
        int64_t at;
        const double e = worst(out, r, n * st, 1e-5, 2e-6, &at);
        if (e > wmax) wmax = e;
        CHECK(e <= 1, "%s attention_encoder hd=%ld: worst %g of bound at %ld (%g vs %g)", pmx_isa_name(isa), (long)hd, e,
              (long)at, at >= 0 ? out[at] : 0, at >= 0 ? r[at] : 0);
        free(q), free(k), free(v), free(out), free(r), free(scratch);
    }
    printf("%s attention_encoder: worst error %.3f of the bound\n", pmx_isa_name(isa), wmax);
}

static void test_argmax(int32_t isa) {
    const char *name = pmx_isa_name(isa);
    for (size_t s = 0; s < N_TAIL_SIZES + 1; s++) {
        const int64_t n = s < N_TAIL_SIZES ? TAIL_SIZES[s] : 70001;
        float *x = malloc(sizeof(float) * n);
        for (int kind = 0; kind < 5; kind++) {
            for (int64_t i = 0; i < n; i++) {
                const float v = rnd();
                switch (kind) {
                case 0: x[i] = v; break;
                case 1: x[i] = floorf(v * 4); break;                      /* many ties */
                case 2: x[i] = (i * 7) % 5 == 2 ? NAN : floorf(v * 4); break;
                case 3: x[i] = i % 2 ? NAN : -INFINITY; break;             /* no finite number */
                default: x[i] = NAN; break;
                }
            }
            const int64_t want = REF.argmax_f32(x, n), got = pmx_argmax_f32(x, n);
            CHECK(got == want, "%s argmax kind %d n=%ld: %ld, ref %ld", name, kind, (long)n, (long)got, (long)want);
        }
        /* the maximum in each position: the tail, the last vector, the first element; a later equal is ignored */
        for (int64_t p = 0; p < n; p += (n > 300 ? n / 7 : 1)) {
            fill(x, n, 1.0f);
            x[p] = 2.0f;
            if (p + 1 < n) x[n - 1] = 2.0f;
            CHECK(pmx_argmax_f32(x, n) == p, "%s argmax n=%ld max at %ld: got %ld", name, (long)n, (long)p,
                  (long)pmx_argmax_f32(x, n));
        }
        free(x);
    }
    const float nan_first[] = {NAN, -1, 3, NAN, 3, 2}, neg_inf[] = {NAN, -INFINITY, NAN, -INFINITY};
    const float all_nan[] = {NAN, NAN, NAN}, big_nan[] = {1, 2, NAN, 5, NAN, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, NAN};
    CHECK(pmx_argmax_f32(nan_first, 6) == 2, "%s NaN first: %ld", name, (long)pmx_argmax_f32(nan_first, 6));
    CHECK(pmx_argmax_f32(neg_inf, 4) == 1, "%s -inf and NaN: %ld", name, (long)pmx_argmax_f32(neg_inf, 4));
    CHECK(pmx_argmax_f32(all_nan, 3) == 0, "%s all NaN: %ld", name, (long)pmx_argmax_f32(all_nan, 3));
    CHECK(pmx_argmax_f32(big_nan, 19) == 17, "%s NaN in tail: %ld", name, (long)pmx_argmax_f32(big_nan, 19));
    CHECK(pmx_argmax_f32(big_nan, 0) == -1, "n = 0");
}

/* The reference itself, by exact expectations. */
static void test_ref_values(void) {
    float x[3] = {0.0f, logf(2.0f), -INFINITY};
    REF.softmax_f32(x, 3, 0, 1);
    CHECK(fabsf(x[0] - 1.0f / 3) < 1e-7f && fabsf(x[1] - 2.0f / 3) < 1e-7f && x[2] == 0, "softmax [0, ln2, -inf]: %g %g %g",
          x[0], x[1], x[2]);
    float one = 123.0f;
    REF.softmax_f32(&one, 1, 0, 1);
    CHECK(one == 1.0f, "softmax of one value: %g", one);
    const float g[4] = {0, 1, -1, 50}, u[4] = {5, 2, 2, 0.5f};
    float y[4];
    REF.silu_mul_f32(y, g, u, 0, 4);
    CHECK(y[0] == 0 && fabsf(y[1] - 2 * 0.7310585786f) < 2e-7f && fabsf(y[2] + 2 * 0.2689414214f) < 1e-7f && y[3] == 25.0f,
          "silu values: %g %g %g %g", y[0], y[1], y[2], y[3]);
    const float lx[4] = {1, 2, 3, 4}, lw[4] = {1, 1, 1, 2}, lb[4] = {0, 0, 0.5f, 0};
    float ly[4];
    REF.layer_norm_f32(ly, lx, NULL, lw, lb, 4, 0, 1, 0.0f); /* mean 2.5, variance 1.25 */
    CHECK(fabsf(ly[0] + 1.3416408f) < 3e-7f && fabsf(ly[1] + 0.4472136f) < 1e-7f && fabsf(ly[2] - 0.9472136f) < 1e-7f &&
              fabsf(ly[3] - 2.6832816f) < 5e-7f, "layer_norm values: %g %g %g %g", ly[0], ly[1], ly[2], ly[3]);
    const float aq[4] = {0.3f, -1.0f, 0.7f, 0.1f}, ak[4] = {0.5f, 0.25f, 0.5f, 0.25f}, av[4] = {1.0f, 2.0f, 3.0f, 4.0001f};
    float ao[4];
    REF.attention_encoder(aq, ak, av, ao, 2, 1, 2, 0, 1, 1.0f, NULL); /* equal keys: the mean of the (binary16) values */
    CHECK(ao[0] == 2.0f && ao[1] == 3.0f && ao[2] == 2.0f && ao[3] == 3.0f, "attention_encoder values: %g %g %g %g", ao[0],
          ao[1], ao[2], ao[3]);
    float gx[6] = {1, -10, 10, -10.5f, 12, 0};
    REF.gelu_f32(gx, NULL, 6, 0, 1);
    /* gelu_tanh(1) = 0.8411920, in binary16 0.84130859375 */
    CHECK(gx[0] == 0.84130859375f && gx[1] == 0 && gx[2] == 10 && gx[3] == 0 && gx[4] == 12 && gx[5] == 0,
          "gelu values: %g %g %g %g %g %g", gx[0], gx[1], gx[2], gx[3], gx[4], gx[5]);
}

/* Walsh-Hadamard transform: the reference against x times the Sylvester matrix (built as llama.cpp's ggml_gen_hadamard
 * builds it) in double, every ISA against the reference bit for bit (the same adds in the same order), through the
 * pool too (chunks split across threads), and applied twice = the input (the matrix is its own inverse). */
/* aarch64-linux-gnu-gcc 12 crashes (internal compiler error in vect_transform_reduction) vectorizing this test's
 * reductions once inlined into main: keep it out of line and scalar; it checks results, not speed */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noinline, optimize("no-tree-vectorize")))
#endif
static void test_hadamard(pmx_pool *pool, int32_t isa) {
    enum { CHUNKS = 5 };
    static const int64_t sizes[] = {2, 4, 8, 16, 32, 64, 128, 256, 512, 4096, 16384};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int64_t n = sizes[s];
        float *x = malloc(sizeof(float) * n * CHUNKS), *r = malloc(sizeof(float) * n * CHUNKS);
        float *x0 = malloc(sizeof(float) * n * CHUNKS);
        for (int64_t i = 0; i < n * CHUNKS; i++) x0[i] = rnd() * 3;
        memcpy(x, x0, sizeof(float) * n * CHUNKS);
        memcpy(r, x0, sizeof(float) * n * CHUNKS);
        REF.hadamard_f32(r, n, 0, CHUNKS);
        CHECK(pmx_hadamard_f32(pool, x, n, CHUNKS) == PMX_OK, "status");
        CHECK(memcmp(x, r, sizeof(float) * n * CHUNKS) == 0, "%s hadamard n=%ld differs from the reference",
              pmx_isa_name(isa), (long)n);
        if (isa == PMX_ISA_SCALAR && n <= 512) { /* against the matrix, double: H[i][j] = (-1)^popcount(i & j) / sqrt(n) */
            double worst_err = 0;
            for (int c = 0; c < CHUNKS; c++)
                for (int64_t i = 0; i < n; i++) {
                    double acc = 0, mag = 0;
                    for (int64_t j = 0; j < n; j++) {
                        const double h = __builtin_popcountll((unsigned long long)(i & j)) & 1 ? -1.0 : 1.0;
                        acc += h * x0[c * n + j];
                        mag += fabs((double)x0[c * n + j]);
                    }
                    acc /= sqrt((double)n);
                    mag /= sqrt((double)n);
                    /* log2(n) + 1 roundings of partial sums bounded by mag */
                    const double e = fabs(r[c * n + i] - acc) / (mag * 1.2e-7 * (log2((double)n) + 2));
                    if (e > worst_err) worst_err = e;
                }
            CHECK(worst_err <= 1, "hadamard n=%ld: worst %g of the bound against the matrix", (long)n, worst_err);
        }
        CHECK(pmx_hadamard_f32(pool, x, n, CHUNKS) == PMX_OK, "status");
        double back = 0;
        for (int64_t i = 0; i < n * CHUNKS; i++) back = fmax(back, fabs((double)x[i] - x0[i]));
        CHECK(back < 3e-6 * 3 * (log2((double)n) + 1), "%s hadamard n=%ld twice: off by %g", pmx_isa_name(isa), (long)n, back);
        free(x), free(r), free(x0);
    }
    float v[3] = {0};
    CHECK(pmx_hadamard_f32(NULL, v, 3, 1) == PMX_ERR_INVALID_ARG, "n not a power of 2 rejected");
    CHECK(pmx_hadamard_f32(NULL, v, 1, 1) == PMX_ERR_INVALID_ARG, "n = 1 rejected");
    CHECK(pmx_hadamard_f32(NULL, NULL, 2, 1) == PMX_ERR_INVALID_ARG, "null rejected");
}

static void test_topk(void) {
    const float x[] = {3, 1, 3, NAN, 5, 1, 3, -INFINITY};
    int32_t idx[8];
    float val[8];
    CHECK(pmx_topk_f32(x, 8, 4, idx, val) == PMX_OK, "status");
    CHECK(idx[0] == 4 && idx[1] == 0 && idx[2] == 2 && idx[3] == 6, "ties to lower index: %d %d %d %d", idx[0], idx[1],
          idx[2], idx[3]);
    CHECK(val[0] == 5 && val[1] == 3 && val[3] == 3, "values");
    /* k == n: every number in order, the NaN left out and its slot padded with (-inf, -1) */
    CHECK(pmx_topk_f32(x, 8, 8, idx, val) == PMX_OK, "status");
    const int32_t want[8] = {4, 0, 2, 6, 1, 5, 7, -1};
    int same = 1;
    for (int i = 0; i < 8; i++) same &= idx[i] == want[i];
    CHECK(same && val[6] == -INFINITY && val[7] == -INFINITY, "k == n order: %d %d %d %d %d %d %d %d", idx[0], idx[1],
          idx[2], idx[3], idx[4], idx[5], idx[6], idx[7]);
    /* against a full scan on random data with many ties */
    enum { N = 1000, K = 37 };
    float *v = malloc(sizeof(float) * N);
    int32_t ti[K];
    float tv[K];
    for (int i = 0; i < N; i++) v[i] = floorf(rnd() * 50);
    CHECK(pmx_topk_f32(v, N, K, ti, tv) == PMX_OK, "status");
    for (int j = 0; j < K; j++) {
        /* rank of element ti[j] in (value desc, index asc) order must be j */
        int rank = 0;
        for (int i = 0; i < N; i++) rank += v[i] > v[ti[j]] || (v[i] == v[ti[j]] && i < ti[j]);
        CHECK(rank == j && tv[j] == v[ti[j]], "topk random: slot %d holds rank %d", j, rank);
    }
    free(v);
    CHECK(pmx_topk_f32(x, 8, 9, idx, val) == PMX_ERR_INVALID_ARG, "k > n rejected");
    CHECK(pmx_topk_f32(x, 8, 0, idx, val) == PMX_ERR_INVALID_ARG, "k = 0 rejected");
}

int main(void) {
    pmx_kernels_ref(&REF);
    pmx_pool *pool = pmx_pool_create(3);
    CHECK(pool != NULL, "pool");
    test_ref_values();
    test_topk();
    pmx_force_isa(PMX_ISA_SCALAR);
    test_argmax(PMX_ISA_SCALAR);
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) {
        if (!for_each_isa_begin(isa)) continue;
        for (int threaded = 0; threaded < 2; threaded++) {
            test_softmax(threaded ? pool : NULL, isa);
            test_silu_add(threaded ? pool : NULL, isa);
            test_hadamard(threaded ? pool : NULL, isa);
            test_layer_norm_gelu(threaded ? pool : NULL, isa);
            test_attention_encoder(threaded ? pool : NULL, isa);
        }
        test_argmax(isa);
    }
    float v = 1;
    CHECK(pmx_softmax_f32(NULL, &v, 0, 1) == PMX_ERR_INVALID_ARG, "n=0 rejected");
    CHECK(pmx_layer_norm_f32(NULL, &v, &v, NULL, &v, NULL, 1, 1, 0) == PMX_ERR_INVALID_ARG, "layer_norm without bias rejected");
    CHECK(pmx_gelu_f32(NULL, &v, NULL, 0, 1) == PMX_ERR_INVALID_ARG, "gelu n=0 rejected");
    const int32_t bad_rows[3] = {0, 2, 1};
    CHECK(pmx_attention_encoder_f32(NULL, &v, &v, &v, &v, 2, bad_rows, 1, 1, 1.0f) == PMX_ERR_INVALID_ARG,
          "attention_encoder: decreasing rows rejected");
    CHECK(pmx_add_f32(NULL, NULL, &v, &v, 1) == PMX_ERR_INVALID_ARG, "null rejected");
    pmx_pool_destroy(pool);
    return finish();
}
