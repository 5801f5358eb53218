/* pmx_matmul of every ISA (scalar included, through the API's row and batch splitting) and every weight
 * type against the scalar reference table, single-threaded and on a pool of 3 (gemm kernels, which take large
 * batches as floats, against the exact products); and the reference itself against a double-precision product
 * of the dequantized weights with the unquantized inputs. */
#include <string.h>
#include <time.h>
#include "check.h"
#include "kernels.h"
#include "ref/ref.h"

static const int32_t TYPE_OF[PMX_T_COUNT] = {
    [PMX_T_F32] = PMX_TYPE_F32,   [PMX_T_F16] = PMX_TYPE_F16,   [PMX_T_BF16] = PMX_TYPE_BF16,
    [PMX_T_Q8_0] = PMX_TYPE_Q8_0, [PMX_T_Q4_0] = PMX_TYPE_Q4_0, [PMX_T_Q4_K] = PMX_TYPE_Q4_K,
    [PMX_T_Q6_K] = PMX_TYPE_Q6_K, [PMX_T_Q5_0] = PMX_TYPE_Q5_0, [PMX_T_Q4_1] = PMX_TYPE_Q4_1,
    [PMX_T_Q5_1] = PMX_TYPE_Q5_1, [PMX_T_Q2_K] = PMX_TYPE_Q2_K, [PMX_T_Q3_K] = PMX_TYPE_Q3_K,
    [PMX_T_Q5_K] = PMX_TYPE_Q5_K, [PMX_T_IQ4_NL] = PMX_TYPE_IQ4_NL, [PMX_T_IQ4_XS] = PMX_TYPE_IQ4_XS,
};
static const char *const TYPE_NAME[PMX_T_COUNT] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_K", "q6_K", "q5_0",
                                                   "q4_1", "q5_1", "q2_K", "q3_K", "q5_K", "iq4_nl", "iq4_xs"};

/* 7 and 33: float rows of no multiple of 8 (the others skip them) */
static const int64_t COLS[] = {7, 32, 33, 64, 96, 224, 256, 512, 704, 768, 4096 + 32, 4096 + 256};
static const int64_t ROWS[] = {1, 3, 16, 17, 64, 100};
/* 32 and 37: prompt-sized batches (PMX_GEMM_MIN_BATCH and up), through the 6-column tile's tails */
static const int64_t BATCH[] = {1, 2, 3, 4, 5, 8, 13, 32, 37};
#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))
/* Every (rows, batch) pair runs for the narrowest widths of a type (up to ALL_PAIRS_BLOCKS blocks); wider ones run
 * the pairs below, which still take each row count and batch size through every tail. The pool costs a wake-up per
 * call (slow under qemu and on a loaded machine), so it runs where rows split across threads: rows > 16.
 * The aarch64 suite runs under qemu, which emulates each instruction (the reference's double sums included): there
 * every pair runs on one block only, and widths of 2 and 3 blocks take the pairs below like the wider ones. A kernel's
 * block loop has no tail, so this drops repeats of the same shapes, not shape classes. PMX_MATMUL_SMOKE=1 (the run on
 * an emulated Cortex-A53, whose point is the plain-NEON path on a CPU without dotprod) keeps the pairs on the
 * narrowest width and one wide width of each type. */
#if defined(__aarch64__)
#define ALL_PAIRS_BLOCKS 1
#else
#define ALL_PAIRS_BLOCKS 3
#endif
static const int64_t PAIRS[][2] = {{1, 1}, {3, 13}, {16, 5}, {17, 8}, {64, 3}, {100, 2}, {17, 4}, {3, 1}, {17, 32}, {100, 37}};
static const int64_t BIG_PAIRS[][2] = {{1, 1}, {3, 5}, {17, 4}, {16, 2}, {17, 37}};
#define BIG_COLS 1024

static int has_pair(const int64_t (*pairs)[2], int n_pairs, int64_t rows, int64_t batch) {
    for (int k = 0; k < n_pairs; k++)
        if (pairs[k][0] == rows && pairs[k][1] == batch) return 1;
    return 0;
}

/* Kernel vs reference: the integer block sums are exact in both, so only the float summation order (and
 * FMA contraction) of the block terms differs, which a float kernel bounds by about n * 2^-24 * S with
 * S = sum_k |w_k x_k|; 1e-4 * (1 + S) leaves headroom for n = 4352 while a wrong element, block or scale
 * shows as an error of order |w_k x_k|. The "1 +" covers outputs that cancel to near zero. */
#define KERNEL_TOL 1e-4

/* Reference vs exact: an 8-bit activation is off by at most half a step, d/2, with d = amax/127 of its
 * block; Q8_0 stores d in half precision, which moves each of up to 127 steps by 2^-11 * d more. Float
 * types carry no activation rounding. The 1e-5 * (1 + S) covers the float rounding of dequantized
 * weights (d * sc * q - dmin * m) and of the output. */
#define HALF_ULP 4.8828125e-4 /* 2^-11 */

static int32_t g_isas[PMX_ISA_COUNT];
static int g_n_isas;
static double g_worst_kernel[PMX_ISA_COUNT][PMX_T_COUNT]; /* max |y - yref| / (1 + S) */
static double g_worst_exact[PMX_T_COUNT];                 /* max |yref - exact| / bound */
static double g_worst_exact_rel[PMX_T_COUNT];             /* max |yref - exact| / (1 + S) */
static long g_act_diffs[PMX_ISA_COUNT][PMX_T_COUNT];      /* activation values one step off the reference */
static double g_worst_packed[PMX_ISA_COUNT][13]; /* packed Q4_0, ..., Q5_1, BF16 (P_TYPES): max |y - yref| / (1 + S) */
static double g_seconds[PMX_T_COUNT];                     /* CPU time per type (the suite's budget under qemu) */
static float x_dummy[64];

/* Largest |x| of each activation block of `bs` values in [k0, k0 + bs). */
static double act_step_bound(int t, const float *x, int64_t k0) {
    const int64_t bs = pmx_type_acts_q8_K(t) ? QK_K : QK8_0;
    float amax = 0;
    for (int64_t k = k0; k < k0 + bs; k++) amax = fabsf(x[k]) > amax ? fabsf(x[k]) : amax;
    const double d = amax / 127.0;
    /* q8_K keeps d as a float: only float rounding of x * iscale, far below 1e-5 of a step */
    return bs == QK_K ? d * (0.5 + 1e-5) : d * (0.5 + 127 * HALF_ULP) * (1 + 1e-6);
}

/* The ISA's prepared activations against the reference's: same layout, scales equal to rounding, each
 * quant within one step (a different rounding mode may move ties), bsums the exact sums of its own quants.
 * Returns the number of quants that differ. */
static long check_acts(int isa, int t, const void *got, const void *want, int64_t n, int64_t batch) {
    long diffs = 0;
    if (!pmx_type_acts_q8_K(t)) {
        const block_q8_0 *g = got, *w = want;
        for (int64_t i = 0; i < batch * (n / QK8_0); i++) {
            CHECK(abs((int)g[i].d - (int)w[i].d) <= 1, "%s %s act block %ld: d %04x vs ref %04x", pmx_isa_name(isa),
                  TYPE_NAME[t], (long)i, g[i].d, w[i].d);
            for (int j = 0; j < QK8_0; j++) {
                const int dq = abs(g[i].qs[j] - w[i].qs[j]);
                diffs += dq != 0;
                CHECK(dq <= 1, "%s %s act block %ld q[%d]: %d vs ref %d", pmx_isa_name(isa), TYPE_NAME[t], (long)i, j,
                      g[i].qs[j], w[i].qs[j]);
            }
        }
    } else {
        const block_q8_K *g = got, *w = want;
        for (int64_t i = 0; i < batch * (n / QK_K); i++) {
            CHECK(fabs((double)g[i].d - w[i].d) <= 2.4e-7 * fabs((double)w[i].d), "%s %s act block %ld: d %g vs ref %g",
                  pmx_isa_name(isa), TYPE_NAME[t], (long)i, g[i].d, w[i].d);
            for (int j = 0; j < QK_K; j++) {
                const int dq = abs(g[i].qs[j] - w[i].qs[j]);
                diffs += dq != 0;
                CHECK(dq <= 1, "%s %s act block %ld q[%d]: %d vs ref %d", pmx_isa_name(isa), TYPE_NAME[t], (long)i, j,
                      g[i].qs[j], w[i].qs[j]);
            }
            for (int j = 0; j < QK_K / 16; j++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += g[i].qs[16 * j + l];
                CHECK(g[i].bsums[j] == s, "%s %s act block %ld bsums[%d] = %d, its quants sum to %d", pmx_isa_name(isa),
                      TYPE_NAME[t], (long)i, j, g[i].bsums[j], s);
            }
        }
    }
    return diffs;
}

struct mm_case {
    int t;
    int64_t n, rows, batch;
    const void *w;      /* quantized weights */
    const float *wd;    /* the same, dequantized */
    const float *x;
    const pmx_kernels *ref;
};

/* The exact products of the dequantized weights with the unquantized inputs (double, rounded once to float):
 * what a gemm kernel, which multiplies the activations as floats, is held against. */
static void exact_products(const struct mm_case *c, float *y) {
    for (int64_t b = 0; b < c->batch; b++)
        for (int64_t r = 0; r < c->rows; r++) {
            double s = 0;
            for (int64_t k = 0; k < c->n; k++) s += (double)c->wd[r * c->n + k] * c->x[b * c->n + k];
            y[b * c->rows + r] = (float)s;
        }
}

static void run_case(const struct mm_case *c, pmx_pool *pool) {
    const int t = c->t;
    const int64_t n = c->n, rows = c->rows, batch = c->batch, ny = rows * batch;
    const pmx_matmul_kernel *rk = &c->ref->matmul[t];
    const int64_t act_bytes = pmx_act_row_bytes(t, n) * batch; /* the reference's: standard blocks */
    CHECK((rk->prepare != NULL) == (act_bytes > 0), "%s ref prepare presence", TYPE_NAME[t]);

    void *xa_ref = act_bytes ? malloc((size_t)act_bytes) : NULL;
    float *yref = malloc(sizeof(float) * ny);
    double *sabs = malloc(sizeof(double) * ny);
    if (rk->prepare) rk->prepare(xa_ref, c->x, n, 0, batch);
    rk->matmul(c->w, n, rk->prepare ? xa_ref : (const void *)c->x, batch, yref, rows, 0, rows);

    /* the reference against the exact product of what it was given; S = sum |w_k x_k| for every output.
     * The exact products are checked for the first and last activation rows only: the reference treats every
     * row alike, and double arithmetic is slow under qemu. */
    for (int64_t b = 0; b < batch; b++) {
        const float *xb = c->x + b * n;
        const int check_exact = b == 0 || b == batch - 1;
        for (int64_t r = 0; r < rows; r++) {
            const float *wr = c->wd + r * n;
            double exact = 0, s = 0, act = 0;
            if (!check_exact) {
                /* a cheap stand-in for S on the other rows: per 32 values, sum |w| times max |x| (>= S) */
                for (int64_t k0 = 0; k0 < n; k0 += 32) {
                    float wabs = 0, xmax = 0;
                    for (int64_t k = k0; k < k0 + 32 && k < n; k++) { /* rows of F32/F16 need not be whole 32s */
                        wabs += fabsf(wr[k]);
                        xmax = fabsf(xb[k]) > xmax ? fabsf(xb[k]) : xmax;
                    }
                    s += (double)wabs * xmax;
                }
                sabs[b * rows + r] = s;
                continue;
            }
            /* BF16 rounds its activations element by element (half a BF16 step: <= 2^-8 |x|), not in blocks */
            const int64_t bs = !rk->prepare || t == PMX_T_BF16 ? n : pmx_type_acts_q8_K(t) ? QK_K : QK8_0;
            for (int64_t k0 = 0; k0 < n; k0 += bs) {
                double wabs = 0;
                for (int64_t k = k0; k < k0 + bs; k++) {
                    exact += (double)wr[k] * xb[k];
                    s += fabs((double)wr[k] * xb[k]);
                    wabs += fabs((double)wr[k]);
                }
                if (rk->prepare && t != PMX_T_BF16) act += act_step_bound(t, xb, k0) * wabs;
            }
            if (t == PMX_T_BF16) act = s * 0x1p-8 * (1 + 1e-6);
            sabs[b * rows + r] = s;
            const double err = fabs((double)yref[b * rows + r] - exact), bound = act + 1e-5 * (1 + s);
            CHECK(err <= bound, "ref %s n=%ld r=%ld b=%ld: %.9g vs exact %.9g, err %g > bound %g", TYPE_NAME[t], (long)n,
                  (long)r, (long)b, yref[b * rows + r], exact, err, bound);
            if (act > 0) g_worst_exact[t] = fmax(g_worst_exact[t], (err - 1e-5 * (1 + s)) / act);
            g_worst_exact_rel[t] = fmax(g_worst_exact_rel[t], err / (1 + s));
        }
    }

    /* every ISA through the API: canaries after y and scratch catch writes out of bounds */
    enum { CANARY = 64 };
    float *y = malloc(sizeof(float) * ny + CANARY), *yown = malloc(sizeof(float) * ny), *yexact = NULL;
    for (int ii = 0; ii < g_n_isas; ii++) {
        const int32_t isa = g_isas[ii];
        if (pmx_force_isa(isa) != PMX_OK) continue;
        /* the kernel that runs this batch: a gemm kernel may read the activations as floats (no prepare) */
        const pmx_matmul_kernel *mk = pmx_matmul_kernel_for(t, batch);
        const int gemm = mk->prepare == NULL && rk->prepare != NULL;
        /* a kernel may prepare its own layout of the activations (same quants as ggml's, placed differently) */
        const int64_t isa_act_bytes = pmx_matmul_scratch_bytes(TYPE_OF[t], n, batch);
        CHECK(isa_act_bytes == (mk->prepare ? pmx_kernel_act_row_bytes(mk, t, n) * batch : 0), "%s %s scratch bytes",
              pmx_isa_name(isa), TYPE_NAME[t]);
        const int own_layout = mk->act_row_bytes != NULL;
        if (gemm && !yexact) {
            yexact = malloc(sizeof(float) * ny);
            exact_products(c, yexact);
        }
        unsigned char *scratch = malloc((size_t)isa_act_bytes + CANARY);
        /* scalar single-threaded is the reference itself: only its pool split is worth a run */
        for (int p = isa == PMX_ISA_SCALAR; p < (rows > 16 ? 2 : 1); p++) {
            pmx_pool *pl = p ? pool : NULL;
            for (int64_t i = 0; i < ny; i++) y[i] = NAN;
            memset((char *)y + sizeof(float) * ny, 0xa5, CANARY);
            memset(scratch, 0x5a, (size_t)isa_act_bytes);
            memset(scratch + isa_act_bytes, 0xa5, CANARY);
            const int32_t st = pmx_matmul(pl, TYPE_OF[t], c->w, rows, n, c->x, batch, y, scratch, isa_act_bytes);
            CHECK(st == PMX_OK, "%s %s status %d", pmx_isa_name(isa), TYPE_NAME[t], st);
            static const unsigned char canary[CANARY] = {[0 ... CANARY - 1] = 0xa5};
            CHECK(!memcmp((char *)y + sizeof(float) * ny, canary, CANARY) && !memcmp(scratch + isa_act_bytes, canary, CANARY), "%s %s n=%ld rows=%ld batch=%ld: wrote past y or scratch", pmx_isa_name(isa),
                  TYPE_NAME[t], (long)n, (long)rows, (long)batch);

            /* held against the reference dot products of the activations this ISA prepared (its own layout holds
             * ggml's quants: against the reference's own) */
            const float *want = gemm ? yexact : yref;
            if (!gemm && act_bytes && !own_layout && memcmp(scratch, xa_ref, (size_t)act_bytes) != 0) {
                g_act_diffs[isa][t] += check_acts(isa, t, scratch, xa_ref, n, batch);
                rk->matmul(c->w, n, scratch, batch, yown, rows, 0, rows);
                want = yown;
            }
            int bad = 0;
            for (int64_t i = 0; i < ny && bad < 3; i++) {
                const double err = fabs((double)y[i] - want[i]), rel = err / (1 + sabs[i]);
                if (!(rel <= KERNEL_TOL)) {
                    bad++;
                    CHECK(rel <= KERNEL_TOL, "%s %s n=%ld rows=%ld batch=%ld pool=%d: y[b=%ld][r=%ld] = %.9g, ref %.9g",
                          pmx_isa_name(isa), TYPE_NAME[t], (long)n, (long)rows, (long)batch, p, (long)(i / rows),
                          (long)(i % rows), y[i], want[i]);
                }
                if (rel == rel) g_worst_kernel[isa][t] = fmax(g_worst_kernel[isa][t], rel);
            }
        }
        free(scratch);
    }
    free(y), free(yown), free(yexact), free(xa_ref), free(yref), free(sabs);
}

static void check_rejections(void) {
    float x[64] = {0}, y[4];
    unsigned char w[256] = {0}, scratch[256];
    CHECK(pmx_matmul(NULL, PMX_TYPE_Q8_0, w, 1, 48, x, 1, y, scratch, sizeof scratch) == PMX_ERR_INVALID_ARG,
          "n_cols not a multiple of 32");
    CHECK(pmx_matmul(NULL, PMX_TYPE_Q4_K, w, 1, 64, x, 1, y, scratch, sizeof scratch) == PMX_ERR_INVALID_ARG,
          "n_cols not a multiple of 256");
    CHECK(pmx_matmul(NULL, PMX_TYPE_Q8_0, w, 1, 64, x, 1, y, scratch, 67) == PMX_ERR_INVALID_ARG, "scratch too small");
    CHECK(pmx_matmul(NULL, PMX_TYPE_Q8_0, w, 1, 64, x, 1, y, NULL, 0) == PMX_ERR_INVALID_ARG, "no scratch");
    CHECK(pmx_matmul(NULL, 16 /* iq2_xxs */, w, 1, 64, x, 1, y, scratch, sizeof scratch) == PMX_ERR_INVALID_ARG, "unknown type");
    CHECK(pmx_matmul(NULL, PMX_TYPE_F32, w, 0, 64, x, 1, y, NULL, 0) == PMX_ERR_INVALID_ARG, "no rows");
    CHECK(pmx_matmul(NULL, PMX_TYPE_F32, w, 1, 64, x, 0, y, NULL, 0) == PMX_ERR_INVALID_ARG, "no batch");
    CHECK(pmx_matmul_scratch_bytes(PMX_TYPE_F16, 64, 3) == 0, "F16 weights need no scratch");
    CHECK(pmx_matmul_scratch_bytes(PMX_TYPE_BF16, 64, 3) == 3 * 64 * 4, "BF16 weights: activations rounded to BF16, as floats");
    CHECK(pmx_act_row_bytes(PMX_T_Q4_0, 64) == 2 * 34 && pmx_act_row_bytes(PMX_T_Q5_0, 64) == 2 * 34,
          "q4_0/q5_0 standard activations: q8_0 blocks");
    CHECK(pmx_matmul_scratch_bytes(PMX_TYPE_Q4_0, 64, 3) == 3 * pmx_kernel_act_row_bytes(&pmx_k.matmul[PMX_T_Q4_0], PMX_T_Q4_0, 64),
          "q4_0 scratch: the kernel's activation rows");
    CHECK(pmx_matmul(NULL, PMX_TYPE_Q5_0, w, 1, 48, x, 1, y, scratch, sizeof scratch) == PMX_ERR_INVALID_ARG,
          "q5_0 n_cols not a multiple of 32");
    CHECK(pmx_matmul_scratch_bytes(PMX_TYPE_Q6_K, 512, 2) == 2 * 2 * 292, "q6_K scratch: q8_K blocks");
    CHECK(pmx_matmul_scratch_bytes(PMX_TYPE_Q6_K, 500, 2) < 0, "q6_K scratch of a bad width");
}

/* The packed (interleaved) Q4_0/Q8_0/Q4_K/Q6_K/F32/IQ4_NL/IQ4_XS/Q5_K/Q3_K/Q2_K/Q4_1/Q5_1/BF16 path: pmx_pack + pmx_matmul_packed on every ISA against pmx_matmul on the scalar
 * reference. The scalar packed kernel must equal it bit for bit (same integer sums, scales and double sums); the others
 * within KERNEL_TOL. Rows: multiples of 16 only (others have no packed layout); widths through the block loop's ends;
 * batches through the 4-column tile's tails; the pool splits rows in whole groups. */
static void check_packed(pmx_pool *pool, const pmx_kernels *ref) {
    static const int64_t P_COLS[] = {32, 64, 96, 704, 2048 + 32}, P_COLS_K[] = {256, 512, 2048 + 256};
    /* F32: widths off the 8-float vectors and through the 256-wide K chunks of its GEMM */
    static const int64_t P_COLS_F[] = {1, 7, 33, 300, 704};
    /* BF16: pairs of columns; widths off the pairs' 16-lane loads and through its 256-wide K chunks */
    static const int64_t P_COLS_BF[] = {2, 8, 34, 300, 514};
    static const int64_t P_ROWS[] = {16, 48, 80};
    static const int64_t P_BATCH[] = {1, 2, 3, 4, 5, 7, 9, 14, 37}; /* every tail of the 8- and 6-column tiles */
    static const int P_TYPES[] = {PMX_T_Q4_0, PMX_T_Q8_0,   PMX_T_Q4_K, PMX_T_Q6_K, PMX_T_F32,  PMX_T_IQ4_NL, PMX_T_IQ4_XS,
                                  PMX_T_Q5_K, PMX_T_Q3_K, PMX_T_Q2_K, PMX_T_Q4_1, PMX_T_Q5_1, PMX_T_BF16};
    static_assert(LEN(P_TYPES) == LEN(g_worst_packed[0]), "a worst error per packed type");
    for (int ti = 0; ti < LEN(P_TYPES); ti++) {
        const int t = P_TYPES[ti];
        CHECK(pmx_pack_bytes(TYPE_OF[t], 17, 64) == 0 && (t == PMX_T_F32 || t == PMX_T_BF16 || pmx_pack_bytes(TYPE_OF[t], 32, 48) == 0),
              "%s: no packed layout for 17 rows or 48 columns", TYPE_NAME[t]);
        CHECK(t != PMX_T_BF16 || pmx_pack_bytes(TYPE_OF[t], 32, 33) == 0, "bf16: no packed layout for an odd width");
        const int k_quant = t == PMX_T_Q4_K || t == PMX_T_Q6_K || t == PMX_T_IQ4_XS || t == PMX_T_Q5_K || t == PMX_T_Q3_K ||
                            t == PMX_T_Q2_K;
        const int n_cols = k_quant ? LEN(P_COLS_K) : t == PMX_T_F32 ? LEN(P_COLS_F) : t == PMX_T_BF16 ? LEN(P_COLS_BF) : LEN(P_COLS);
        for (int ci = 0; ci < n_cols; ci++)
            for (int ri = 0; ri < LEN(P_ROWS); ri++) {
                const int64_t n = k_quant ? P_COLS_K[ci] : t == PMX_T_F32 ? P_COLS_F[ci] : t == PMX_T_BF16 ? P_COLS_BF[ci] : P_COLS[ci];
                const int64_t rows = P_ROWS[ri];
                const int64_t wb = pmx_row_bytes(t, n) * rows;
                /* Q4_K's, Q5_K's, Q3_K's and IQ4_XS's packed groups carry the scales unpacked: 64 / 32 bytes more per
                 * group and super-block */
                const int64_t pb = t == PMX_T_Q4_K || t == PMX_T_Q5_K || t == PMX_T_Q3_K ? wb + rows / PMX_PACK_ROWS * (n / QK_K) * 64
                                   : t == PMX_T_IQ4_XS ? wb + rows / PMX_PACK_ROWS * (n / QK_K) * 32
                                                       : wb;
                CHECK(pmx_pack_bytes(TYPE_OF[t], rows, n) == pb, "%s pack bytes", TYPE_NAME[t]);
                float *wf = malloc(sizeof(float) * rows * n), *x = malloc(sizeof(float) * 37 * n);
                float *yref = malloc(sizeof(float) * 37 * rows), *y = malloc(sizeof(float) * 37 * rows);
                float *yavx2 = malloc(sizeof(float) * 37 * rows); /* F32: AVX2's result, which AVX-512's must equal */
                int have_avx2 = 0;
                double *sabs = malloc(sizeof(double) * 37 * rows); /* S = sum_k |w_k x_k| of each output */
                void *w = malloc((size_t)wb), *wp = malloc((size_t)pb);
                for (int64_t r = 0; r < rows; r++) fill(wf + r * n, n, 0.02f * (1 + (float)(r % 5)));
                for (int64_t i = 0; i < 37 * n; i++) x[i] = rnd() * (i % 97 == 13 ? 20.0f : 1.5f);
                CHECK(pmx_quantize(TYPE_OF[t], w, wf, rows, n) == PMX_OK, "quantize");
                CHECK(pmx_pack(pool, TYPE_OF[t], wp, w, rows, n) == PMX_OK, "pack");
                for (int bi = 0; bi < LEN(P_BATCH); bi++) {
                    const int64_t batch = P_BATCH[bi];
                    if (n > 1024 && batch != 1 && batch != 5) continue;
                    have_avx2 = 0;
                    pmx_force_isa(PMX_ISA_SCALAR);
                    const int64_t rs = pmx_matmul_scratch_bytes(TYPE_OF[t], n, batch);
                    void *rsc = malloc((size_t)rs);
                    CHECK(pmx_matmul(NULL, TYPE_OF[t], w, rows, n, x, batch, yref, rsc, rs) == PMX_OK, "ref matmul");
                    free(rsc);
                    for (int64_t i = 0; i < batch * rows; i++) {
                        const int64_t b = i / rows, r = i % rows;
                        sabs[i] = 0;
                        for (int64_t k = 0; k < n; k++) sabs[i] += fabs((double)wf[r * n + k] * x[b * n + k]);
                    }
                    for (int ii = 0; ii < g_n_isas; ii++) {
                        const int32_t isa = g_isas[ii];
                        if (pmx_force_isa(isa) != PMX_OK) continue;
                        /* an ISA whose packed kernel is the reference's (NEON's, AVX2's) repeats the scalar run */
                        if (isa != PMX_ISA_SCALAR && pmx_k.packed[t].matmul == ref->packed[t].matmul &&
                            pmx_k.packed[t].prepare == ref->packed[t].prepare) {
                            g_worst_packed[isa][ti] = -1;
                            continue;
                        }
                        const int64_t sb = pmx_matmul_packed_scratch_bytes(TYPE_OF[t], n, batch);
                        unsigned char *sc = malloc((size_t)sb);
                        for (int p = 0; p < 2; p++) {
                            for (int64_t i = 0; i < batch * rows; i++) y[i] = NAN;
                            CHECK(pmx_matmul_packed(p ? pool : NULL, TYPE_OF[t], wp, rows, n, x, batch, y, sc, sb) == PMX_OK,
                                  "%s packed status", pmx_isa_name(isa));
                            for (int64_t i = 0; i < batch * rows; i++) {
                                const int64_t b = i / rows, r = i % rows;
                                const double rel = fabs((double)y[i] - yref[i]) / (1 + sabs[i]);
                                const int exact = isa == PMX_ISA_SCALAR;
                                if (exact ? y[i] != yref[i] : !(rel <= KERNEL_TOL)) {
                                    CHECK(0, "%s packed %s n=%ld rows=%ld batch=%ld pool=%d: y[b=%ld][r=%ld] = %.9g, ref %.9g",
                                          pmx_isa_name(isa), TYPE_NAME[t], (long)n, (long)rows, (long)batch, p, (long)b,
                                          (long)r, y[i], yref[i]);
                                    break;
                                }
                                if (rel == rel) g_worst_packed[isa][ti] = fmax(g_worst_packed[isa][ti], rel);
                                /* F32: every ISA's tile is one chain of FMAs per output over k in order */
                                if (t == PMX_T_F32 && isa == PMX_ISA_AVX512 && have_avx2 && y[i] != yavx2[i]) {
                                    CHECK(0, "packed F32 n=%ld rows=%ld batch=%ld pool=%d: AVX-512 y[%ld] = %.9g, AVX2 %.9g",
                                          (long)n, (long)rows, (long)batch, p, (long)i, y[i], yavx2[i]);
                                    break;
                                }
                            }
                            if (t == PMX_T_F32 && isa == PMX_ISA_AVX2) {
                                memcpy(yavx2, y, sizeof(float) * batch * rows);
                                have_avx2 = 1;
                            }
                        }
                        free(sc);
                    }
                }
                free(wf), free(x), free(yref), free(y), free(yavx2), free(w), free(wp), free(sabs);
            }
    }
    pmx_force_isa(PMX_ISA_AUTO);
    CHECK(pmx_matmul_packed(NULL, PMX_TYPE_Q5_0, x_dummy, 16, 32, (const float *)x_dummy, 1, (float *)x_dummy, NULL, 0) ==
              PMX_ERR_INVALID_ARG, "no packed layout for Q5_0");
    CHECK(pmx_pack(NULL, PMX_TYPE_Q4_0, x_dummy, x_dummy, 17, 32) == PMX_ERR_INVALID_ARG, "pack of 17 rows refused");
    for (int ii = 0; ii < g_n_isas; ii++)
        for (int ti = 0; ti < LEN(P_TYPES); ti++) {
            const double worst = g_worst_packed[g_isas[ii]][ti];
            if (worst < 0)
                printf("      %-12s packed %s: the reference's kernel (run as scalar)\n", pmx_isa_name(g_isas[ii]),
                       TYPE_NAME[P_TYPES[ti]]);
            else
                printf("      %-12s packed %s vs ref: err/(1+S) <= %.3g%s\n", pmx_isa_name(g_isas[ii]), TYPE_NAME[P_TYPES[ti]],
                       worst, g_isas[ii] == PMX_ISA_SCALAR ? " (must be 0)" : "");
        }
}

/* Float weights on x86: every column of a batch of 2..8 (a speculative verify's rows) equals that column computed alone
 * (a decode row) bit for bit, whatever the tile that computes it, so that verifying a draft reproduces the logits
 * plain decoding gives. (NEON's one-column tile keeps two accumulators per row and its wider tiles one: not held
 * there.) Widths through every tail of the 16-lane and 8-lane loops; rows through every tile height. */
static void check_columns_match_gemv(pmx_pool *pool) {
#if defined(__x86_64__)
    static const int64_t ns[] = {7, 16, 33, 256, 264, 4096 + 32};
    static const int64_t rows_of[] = {1, 3, 17, 100};
    const int ft[] = {PMX_T_F32, PMX_T_F16, PMX_T_BF16};
    for (int ti = 0; ti < 3; ti++) {
        const int t = ft[ti];
        for (int ni = 0; ni < LEN(ns); ni++) {
            const int64_t n = ns[ni], max_rows = 100, max_batch = 8;
            float *wf = malloc(sizeof(float) * max_rows * n), *x = malloc(sizeof(float) * max_batch * n);
            void *w = malloc((size_t)pmx_row_bytes(t, n) * max_rows);
            float *y = malloc(sizeof(float) * max_rows * max_batch), *y1 = malloc(sizeof(float) * max_rows);
            /* BF16 rounds its activations into scratch (F32/F16 need none) */
            const int64_t sb = pmx_matmul_scratch_bytes(TYPE_OF[t], n, max_batch);
            void *sc = sb > 0 ? malloc((size_t)sb) : NULL;
            for (int64_t r = 0; r < max_rows; r++) fill(wf + r * n, n, 0.05f);
            for (int64_t i = 0; i < max_batch * n; i++) x[i] = rnd();
            CHECK(pmx_quantize(TYPE_OF[t], w, wf, max_rows, n) == PMX_OK, "quantize");
            for (int ii = 0; ii < g_n_isas; ii++) {
                if (pmx_force_isa(g_isas[ii]) != PMX_OK) continue;
                for (int ri = 0; ri < LEN(rows_of); ri++)
                    for (int64_t batch = 2; batch <= max_batch; batch++)
                        for (int p = 0; p < 2; p++) {
                            const int64_t rows = rows_of[ri];
                            pmx_pool *pl = p ? pool : NULL;
                            CHECK(pmx_matmul(pl, TYPE_OF[t], w, rows, n, x, batch, y, sc, sb > 0 ? sb : 0) == PMX_OK, "batch");
                            for (int64_t b = 0; b < batch; b++) {
                                CHECK(pmx_matmul(pl, TYPE_OF[t], w, rows, n, x + b * n, 1, y1, sc, sb > 0 ? sb : 0) == PMX_OK, "one");
                                CHECK(!memcmp(y1, y + b * rows, sizeof(float) * rows),
                                      "%s %s n=%ld rows=%ld batch=%ld pool=%d: column %ld differs from the same row alone",
                                      pmx_isa_name(g_isas[ii]), TYPE_NAME[t], (long)n, (long)rows, (long)batch, p, (long)b);
                            }
                        }
            }
            free(wf), free(x), free(w), free(y), free(y1), free(sc);
        }
    }
    pmx_force_isa(PMX_ISA_AUTO);
#else
    (void)pool;
#endif
}

/* pmx_matmul_packed_ep against pmx_matmul_packed, then pmx_add_rows_f32 and pmx_gelu_f32, bit for bit: F32 and BF16
 * weights packed, on every ISA (their own epilogue in registers or the driver's per chunk), alone and on the pool; one
 * part, and three parts (Q, K and V packed one after the other, each to its own buffer, with a gap between). Widths
 * through one and several K chunks, rows through 16-row tails and chunks that straddle parts, columns through tile
 * tails. */
static void check_packed_ep(pmx_pool *pool) {
    static const int64_t ns[] = {32, 384, 520};
    static const int64_t parts_rows[][2] = {{16, 1}, {48, 1}, {384, 1}, {16, 3}, {48, 3}, {384, 3}, {1536, 1}};
    static const int64_t batches[] = {1, 5, 13, 37};
    const int ft[] = {PMX_T_F32, PMX_T_BF16};
    long cases = 0;
    for (int ti = 0; ti < 2; ti++)
        for (int ni = 0; ni < LEN(ns); ni++)
            for (int pi = 0; pi < LEN(parts_rows); pi++) {
                const int t = ft[ti];
                const int64_t n = ns[ni], pr = parts_rows[pi][0], np = parts_rows[pi][1], rows = pr * np, max_b = 37;
                if (n > 384 && pr > 48) continue; /* the wide rows' tails need no 1536-row matrix */
                float *wf = malloc(sizeof(float) * rows * n), *x = malloc(sizeof(float) * max_b * n);
                float *bias = malloc(sizeof(float) * rows);
                void *w = malloc((size_t)pmx_row_bytes(t, n) * rows), *wp = malloc((size_t)pmx_pack_bytes(TYPE_OF[t], rows, n));
                const int64_t stride = pr * max_b + 7; /* a gap: a part's rows must stay inside its buffer */
                float *ye = malloc(sizeof(float) * stride * np), *yr = malloc(sizeof(float) * rows * max_b);
                const int64_t sb = pmx_matmul_packed_scratch_bytes(TYPE_OF[t], n, max_b);
                void *sc = sb > 0 ? malloc((size_t)sb) : NULL;
                for (int64_t r = 0; r < rows; r++) fill(wf + r * n, n, 0.05f), bias[r] = rnd();
                for (int64_t i = 0; i < max_b * n; i++) x[i] = rnd() * 2;
                CHECK(pmx_quantize(TYPE_OF[t], w, wf, rows, n) == PMX_OK, "quantize");
                for (int ii = 0; ii < g_n_isas; ii++) {
                    if (pmx_force_isa(g_isas[ii]) != PMX_OK) continue;
                    CHECK(pmx_pack(NULL, TYPE_OF[t], wp, w, rows, n) == PMX_OK, "pack");
                    for (int bi = 0; bi < LEN(batches); bi++)
                        for (int act = PMX_ACT_NONE; act <= PMX_ACT_GELU; act++)
                            for (int p = 0; p < 2; p++) {
                                const int64_t batch = batches[bi];
                                pmx_pool *pl = p ? pool : NULL;
                                const float *b = act == PMX_ACT_GELU && bi % 2 ? NULL : bias; /* GELU with and without bias */
                                CHECK(pmx_matmul_packed(pl, TYPE_OF[t], wp, rows, n, x, batch, yr, sc, sb) == PMX_OK, "packed");
                                if (b) CHECK(pmx_add_rows_f32(NULL, yr, b, rows, batch) == PMX_OK, "bias");
                                if (act == PMX_ACT_GELU) CHECK(pmx_gelu_f32(NULL, yr, NULL, rows, batch) == PMX_OK, "gelu");
                                for (int64_t i = 0; i < stride * np; i++) ye[i] = -7.0f;
                                CHECK(pmx_matmul_packed_ep(pl, TYPE_OF[t], wp, rows, n, x, batch, ye, pr, stride, b, act, sc, sb) == PMX_OK,
                                      "packed_ep");
                                cases++;
                                for (int64_t q = 0; q < np; q++) {
                                    for (int64_t c = 0; c < batch; c++)
                                        CHECK(!memcmp(ye + q * stride + c * pr, yr + c * rows + q * pr, sizeof(float) * pr),
                                              "%s %s ep n=%ld rows=%ldx%ld batch=%ld act=%d bias=%d pool=%d: part %ld column %ld differs",
                                              pmx_isa_name(g_isas[ii]), TYPE_NAME[t], (long)n, (long)np, (long)pr, (long)batch, act,
                                              b != NULL, p, (long)q, (long)c);
                                    for (int64_t i = pr * batch; i < stride; i++)
                                        CHECK(ye[q * stride + i] == -7.0f, "part %ld: written past its rows", (long)q);
                                }
                            }
                }
                free(wf), free(x), free(bias), free(w), free(wp), free(ye), free(yr), free(sc);
            }
    pmx_force_isa(PMX_ISA_AUTO);
    printf("packed with epilogue: %ld cases bit for bit against packed + add_rows + gelu\n", cases);
    float dummy[64] = {0};
    CHECK(pmx_matmul_packed_ep(NULL, PMX_TYPE_F32, dummy, 32, 2, dummy, 1, dummy, 24, 32, NULL, 0, NULL, 0) == PMX_ERR_INVALID_ARG,
          "parts of 24 rows: not whole groups");
    CHECK(pmx_matmul_packed_ep(NULL, PMX_TYPE_F32, dummy, 48, 2, dummy, 2, dummy, 32, 64, NULL, 0, NULL, 0) == PMX_ERR_INVALID_ARG,
          "parts of 32 rows of 48");
    CHECK(pmx_matmul_packed_ep(NULL, PMX_TYPE_F32, dummy, 32, 2, dummy, 2, dummy, 16, 31, NULL, 0, NULL, 0) == PMX_ERR_INVALID_ARG,
          "parts that overlap");
    CHECK(pmx_matmul_packed_ep(NULL, PMX_TYPE_F32, dummy, 16, 2, dummy, 1, dummy, 16, 0, NULL, 2, NULL, 0) == PMX_ERR_INVALID_ARG,
          "an unknown activation");
}

int main(void) {
    pmx_kernels ref;
    pmx_kernels_ref(&ref);
    pmx_pool *pool = pmx_pool_create(3);
    CHECK(pool != NULL, "pool");
    g_n_isas = tested_isas(g_isas);

    const char *smoke_env = getenv("PMX_MATMUL_SMOKE");
    const int smoke = smoke_env && smoke_env[0] == '1';
    if (smoke) printf("PMX_MATMUL_SMOKE=1: the narrowest and one wide width of each type, the pairs only\n");
    for (int t = 0; t < PMX_T_COUNT; t++) {
        const int64_t bs = pmx_type_block_size(TYPE_OF[t]);
        const clock_t t0 = clock();
        int64_t first = 0;
        for (int ci = 0; ci < LEN(COLS); ci++) {
            const int64_t n = COLS[ci];
            if (n % bs) continue;
            if (!first) first = n;
            if (smoke && n != first && n != 4096 + 256) continue;
            /* wide rows stop at 17: quantizing 100 of them (ggml's K-quant search) is slow under qemu */
            const int64_t max_rows = n > BIG_COLS ? 17 : ROWS[LEN(ROWS) - 1], max_batch = BATCH[LEN(BATCH) - 1];
            /* weights of mixed magnitudes (per-row scale over two decades), inputs with sparse outliers as
             * in real activations */
            float *wf = malloc(sizeof(float) * max_rows * n), *wd = malloc(sizeof(float) * max_rows * n);
            float *x = malloc(sizeof(float) * max_batch * n);
            void *w = malloc((size_t)pmx_row_bytes(t, n) * max_rows);
            for (int64_t r = 0; r < max_rows; r++) fill(wf + r * n, n, 0.02f * (1 + 99 * (float)((r * 37) % 11) / 10));
            for (int64_t i = 0; i < max_batch * n; i++) x[i] = rnd() * (i % 97 == 13 ? 20.0f : 1.5f);
            CHECK(pmx_quantize(TYPE_OF[t], w, wf, max_rows, n) == PMX_OK, "quantize");
            CHECK(pmx_dequantize(TYPE_OF[t], wd, w, max_rows, n) == PMX_OK, "dequantize");
            for (int ri = 0; ri < LEN(ROWS); ri++) {
                for (int bi = 0; bi < LEN(BATCH); bi++) {
                    const int64_t rows = ROWS[ri], batch = BATCH[bi];
                    if (n > BIG_COLS ? !has_pair(BIG_PAIRS, LEN(BIG_PAIRS), rows, batch)
                                     : (smoke || n > ALL_PAIRS_BLOCKS * bs) && !has_pair(PAIRS, LEN(PAIRS), rows, batch))
                        continue;
                    const struct mm_case c = {t, n, rows, batch, w, wd, x, &ref};
                    run_case(&c, pool);
                }
            }
            free(wf), free(wd), free(x), free(w);
        }
        g_seconds[t] = (double)(clock() - t0) / CLOCKS_PER_SEC;
    }
    check_rejections();
    check_columns_match_gemv(pool);
    const clock_t tp = clock();
    if (!smoke) check_packed(pool, &ref); /* the packed kernels do not depend on dotprod */
    if (!smoke) check_packed_ep(pool);
    printf("packed: %.1f s CPU\n", (double)(clock() - tp) / CLOCKS_PER_SEC);

    for (int t = 0; t < PMX_T_COUNT; t++) {
        printf("%-6s (%.1f s CPU) ref vs exact: err/(1+S) <= %.3g", TYPE_NAME[t], g_seconds[t], g_worst_exact_rel[t]);
        if (t >= PMX_T_Q8_0) printf(", <= %.3f of the activation rounding bound", g_worst_exact[t]);
        printf("\n");
        for (int ii = 0; ii < g_n_isas; ii++) {
            const int isa = g_isas[ii];
            printf("      %-12s vs ref: err/(1+S) <= %.3g (tolerance %g)", pmx_isa_name(isa), g_worst_kernel[isa][t],
                   KERNEL_TOL);
            if (g_act_diffs[isa][t]) printf(", %ld activation quants one step off the ref's", g_act_diffs[isa][t]);
            printf("\n");
        }
    }
    pmx_pool_destroy(pool);
    return finish();
}
