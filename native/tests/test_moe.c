/* pmx_moe_ffn of every ISA, single-threaded and on a pool of 3, against a reference composed of the scalar
 * reference matmul per (token, expert) pair, SiLU·mul as the reference computes it, and the weighted sum in
 * double; over quant types (mixed as in llama.cpp's Q4_K_M files), token counts, expert counts, experts per
 * token (duplicates included), and arguments it must refuse before touching the output. */
#include <string.h>
#include "check.h"
#include "kernels.h"
#include "ref/ref.h"

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The scalar ISA runs the reference kernels themselves: only the float weighted sum (vs double) differs. */
#define SCALAR_TOL 1e-5
/* Other ISAs: their gate/up differ from the reference's by float summation order (test_matmul: <= 1e-4 of
 * 1 + S), which now and then moves an 8-bit quant of h by one step; each such step moves a down output by
 * amax(h block)/127 * |w_k|, about 1e-4 of S_down at these widths. 1e-3 * (1 + S) allows a few of those per
 * output, while a missing, doubled or misrouted expert shows as an error of order |w_j y_j| ~ S / sqrt(n_ff). */
#define ISA_TOL 1e-3

struct config {
    int32_t gt, ut, dt;
    int64_t n_embd, n_ff, n_expert;
};

static const struct config CONFIGS[] = {
    {PMX_TYPE_Q4_0, PMX_TYPE_Q4_0, PMX_TYPE_Q4_0, 64, 96, 32},
    {PMX_TYPE_Q8_0, PMX_TYPE_Q8_0, PMX_TYPE_Q8_0, 96, 160, 8},
    {PMX_TYPE_Q4_K, PMX_TYPE_Q4_K, PMX_TYPE_Q6_K, 256, 256, 8}, /* Q4_K_M: down in Q6_K */
    {PMX_TYPE_Q6_K, PMX_TYPE_Q6_K, PMX_TYPE_Q6_K, 256, 512, 4},
    {PMX_TYPE_Q4_K, PMX_TYPE_Q4_K, PMX_TYPE_Q4_K, 256, 256, 16},
    {PMX_TYPE_F16, PMX_TYPE_F16, PMX_TYPE_F16, 48, 80, 6},
    {PMX_TYPE_F32, PMX_TYPE_F32, PMX_TYPE_F32, 40, 72, 5},
    {PMX_TYPE_Q8_0, PMX_TYPE_Q4_K, PMX_TYPE_Q4_0, 256, 128, 4}, /* gate and up read different activations */
    {PMX_TYPE_Q4_0, PMX_TYPE_Q8_0, PMX_TYPE_F16, 64, 96, 3},
    {PMX_TYPE_F32, PMX_TYPE_F16, PMX_TYPE_Q8_0, 32, 64, 2},
    {PMX_TYPE_Q8_0, PMX_TYPE_Q8_0, PMX_TYPE_Q8_0, 32, 32, 1},
};

/* (n_tok, n_used) */
static const int64_t RUNS[][2] = {{1, 1}, {1, 4}, {1, 8}, {3, 2}, {3, 8}, {17, 4}, {64, 1}, {64, 6}};

static const char *type_name(int32_t t) {
    switch (t) {
    case PMX_TYPE_F32: return "f32";
    case PMX_TYPE_F16: return "f16";
    case PMX_TYPE_Q4_0: return "q4_0";
    case PMX_TYPE_Q8_0: return "q8_0";
    case PMX_TYPE_Q4_K: return "q4_K";
    case PMX_TYPE_Q6_K: return "q6_K";
    default: return "?";
    }
}

struct experts {
    const struct config *c;
    int tg, tu, td;
    void *gate, *up, *down;
    float *down_f; /* dequantized down, for S */
    int64_t gate_mat, up_mat, down_mat;
    void *gate_p, *up_p, *down_p; /* pmx_pack'ed copies where the layout exists, else NULL */
    int32_t packed;               /* PMX_MOE_*_PACKED bits of the copies */
};

/* The stacked matrices packed as one of n_mat * rows rows (whole groups per expert), or NULL without a layout. */
static void *pack_matrices(int32_t type, const void *w, int64_t n_mat, int64_t rows, int64_t cols, pmx_pool *pool) {
    const int64_t b = pmx_pack_bytes(type, n_mat * rows, cols);
    if (b == 0 || rows % 16) return NULL;
    void *p = malloc((size_t)b);
    CHECK(pmx_pack(pool, type, p, w, n_mat * rows, cols) == PMX_OK, "pack experts");
    return p;
}

static void *make_matrices(int32_t type, int64_t n_mat, int64_t rows, int64_t cols, float scale, float **deq) {
    const int t = pmx_type_index(type);
    float *f = malloc(sizeof(float) * n_mat * rows * cols);
    void *q = malloc((size_t)(pmx_row_bytes(t, cols) * rows * n_mat));
    for (int64_t r = 0; r < n_mat * rows; r++) fill(f + r * cols, cols, scale * (0.5f + (float)((r * 7) % 5) / 4));
    CHECK(pmx_quantize(type, q, f, n_mat * rows, cols) == PMX_OK, "quantize %s", type_name(type));
    if (deq) CHECK(pmx_dequantize(type, *deq = f, q, n_mat * rows, cols) == PMX_OK, "dequantize");
    else free(f);
    return q;
}

/* Routes: experts drawn with a skew (some get many tokens, some none), distinct per token while there are
 * enough experts; every fifth token repeats its first expert in its last slot. */
static void make_routes(int32_t *ids, float *w, int64_t n_tok, int64_t n_used, int64_t n_expert) {
    for (int64_t t = 0; t < n_tok; t++) {
        int32_t *it = ids + t * n_used;
        for (int64_t j = 0; j < n_used; j++) {
            int32_t e;
            for (int tries = 0;; tries++) {
                const float u = (rnd() + 1) / 2;
                e = (int32_t)(u * u * (float)n_expert);
                if (e >= n_expert) e = (int32_t)n_expert - 1;
                int dup = 0;
                for (int64_t i = 0; i < j; i++) dup |= it[i] == e;
                if (!dup || n_used > n_expert || tries > 100) break;
            }
            it[j] = e;
            w[t * n_used + j] = (rnd() + 1.2f) / 2.2f;
        }
        if (t % 5 == 2 && n_used > 1) it[n_used - 1] = it[0];
    }
}

/* out_ref[t][r] = sum_j w * down[e] h (double) and s[t][r] = sum_j |w| sum_k |down[e][r][k] h_k|, with h from
 * the reference kernels on the reference's own prepared activations. */
static void reference(const struct experts *x, const float *xin, int64_t n_tok, int64_t n_used, const int32_t *ids,
                      const float *w, double *out_ref, double *s, const pmx_kernels *ref) {
    const struct config *c = x->c;
    const int64_t ne = c->n_embd, nf = c->n_ff;
    const pmx_matmul_kernel *kg = &ref->matmul[x->tg], *ku = &ref->matmul[x->tu], *kd = &ref->matmul[x->td];
    void *xa = malloc((size_t)(pmx_act_row_bytes(x->tg, ne) + pmx_act_row_bytes(x->tu, ne) + 64));
    void *xb = malloc((size_t)(pmx_act_row_bytes(x->tu, ne) + 64));
    void *ha = malloc((size_t)(pmx_act_row_bytes(x->td, nf) + 64));
    float *g = malloc(sizeof(float) * nf), *u = malloc(sizeof(float) * nf), *h = malloc(sizeof(float) * nf);
    float *y = malloc(sizeof(float) * ne);
    for (int64_t i = 0; i < n_tok * ne; i++) out_ref[i] = s[i] = 0;
    for (int64_t t = 0; t < n_tok; t++) {
        const float *xt = xin + t * ne;
        if (kg->prepare) kg->prepare(xa, xt, ne, 0, 1);
        if (ku->prepare) ku->prepare(xb, xt, ne, 0, 1);
        for (int64_t j = 0; j < n_used; j++) {
            const int32_t e = ids[t * n_used + j];
            const double wj = w[t * n_used + j];
            kg->matmul((const char *)x->gate + e * x->gate_mat, ne, kg->prepare ? xa : (const void *)xt, 1, g, nf, 0, nf);
            ku->matmul((const char *)x->up + e * x->up_mat, ne, ku->prepare ? xb : (const void *)xt, 1, u, nf, 0, nf);
            for (int64_t k = 0; k < nf; k++) h[k] = (float)((double)g[k] / (1.0 + exp(-(double)g[k])) * u[k]);
            if (kd->prepare) kd->prepare(ha, h, nf, 0, 1);
            kd->matmul((const char *)x->down + e * x->down_mat, nf, kd->prepare ? ha : (const void *)h, 1, y, ne, 0, ne);
            for (int64_t r = 0; r < ne; r++) {
                const float *dr = x->down_f + (e * ne + r) * nf;
                double sr = 0;
                for (int64_t k = 0; k < nf; k++) sr += fabs((double)dr[k] * h[k]);
                out_ref[t * ne + r] += wj * y[r];
                s[t * ne + r] += fabs(wj) * sr;
            }
        }
    }
    free(xa), free(xb), free(ha), free(g), free(u), free(h), free(y);
}

static int32_t g_isas[PMX_ISA_COUNT];
static int g_n_isas;
static double g_worst[PMX_ISA_COUNT];
static long g_pool_diffs[PMX_ISA_COUNT];

static void run(const struct experts *x, int64_t n_tok, int64_t n_used, pmx_pool *pool, const pmx_kernels *ref) {
    const struct config *c = x->c;
    const int64_t ne = c->n_embd, ny = n_tok * ne;
    float *xin = malloc(sizeof(float) * ny), *w = malloc(sizeof(float) * n_tok * n_used);
    int32_t *ids = malloc(sizeof(int32_t) * n_tok * n_used);
    for (int64_t i = 0; i < ny; i++) xin[i] = rnd() * (i % 37 == 5 ? 6.0f : 1.5f);
    make_routes(ids, w, n_tok, n_used, c->n_expert);
    double *out_ref = malloc(sizeof(double) * ny), *s = malloc(sizeof(double) * ny);
    reference(x, xin, n_tok, n_used, ids, w, out_ref, s, ref);

    enum { CANARY = 64 };
    float *out = malloc(sizeof(float) * ny + CANARY), *out1 = malloc(sizeof(float) * ny);
    static const unsigned char canary[CANARY] = {[0 ... CANARY - 1] = 0xa5};
    for (int ii = 0; ii < g_n_isas; ii++) {
        const int32_t isa = g_isas[ii];
        if (pmx_force_isa(isa) != PMX_OK) continue;
        const double tol = isa == PMX_ISA_SCALAR ? SCALAR_TOL : ISA_TOL;
        /* the experts as stored, then (where a layout exists) packed: the same products within float order */
        for (int p = 0; p < 2 * (x->packed ? 2 : 1); p++) {
            const int32_t pk = p >= 2 ? x->packed : 0;
            for (int64_t i = 0; i < ny; i++) out[i] = NAN;
            memset((char *)out + sizeof(float) * ny, 0xa5, CANARY);
            const int32_t st = pmx_moe_ffn(p % 2 ? pool : NULL, out, xin, n_tok, ne, c->n_ff, c->n_expert, n_used, ids, w,
                                           c->gt, pk & PMX_MOE_GATE_PACKED ? x->gate_p : x->gate, c->ut,
                                           pk & PMX_MOE_UP_PACKED ? x->up_p : x->up, c->dt,
                                           pk & PMX_MOE_DOWN_PACKED ? x->down_p : x->down, pk);
            CHECK(st == PMX_OK, "%s status %d", pmx_isa_name(isa), st);
            CHECK(!memcmp((char *)out + sizeof(float) * ny, canary, CANARY), "%s: wrote past out", pmx_isa_name(isa));
            int bad = 0;
            for (int64_t i = 0; i < ny; i++) {
                const double rel = fabs((double)out[i] - out_ref[i]) / (1 + s[i]);
                if (!(rel <= tol) && bad++ < 3)
                    CHECK(rel <= tol, "%s %s/%s/%s n_embd=%ld n_ff=%ld n_expert=%ld n_tok=%ld n_used=%ld pool=%d packed=%d: "
                          "out[t=%ld][r=%ld] = %.9g, ref %.9g (S %.3g)", pmx_isa_name(isa), type_name(c->gt),
                          type_name(c->ut), type_name(c->dt), (long)ne, (long)c->n_ff, (long)c->n_expert, (long)n_tok,
                          (long)n_used, p % 2, pk, (long)(i / ne), (long)(i % ne), out[i], out_ref[i], s[i]);
                if (rel == rel) g_worst[isa] = fmax(g_worst[isa], rel);
            }
            /* the pool changes which thread computes what, not the result */
            if (p % 2 == 0) memcpy(out1, out, sizeof(float) * ny);
            else {
                long diffs = 0;
                for (int64_t i = 0; i < ny; i++) diffs += out[i] != out1[i];
                CHECK(diffs == 0, "%s %s/%s/%s n_tok=%ld n_used=%ld: %ld outputs differ with a pool", pmx_isa_name(isa),
                      type_name(c->gt), type_name(c->ut), type_name(c->dt), (long)n_tok, (long)n_used, diffs);
                g_pool_diffs[isa] += diffs;
            }
        }
    }
    free(xin), free(w), free(ids), free(out_ref), free(s), free(out), free(out1);
}

static void check_rejections(const struct experts *x, pmx_pool *pool) {
    const struct config *c = x->c; /* Q4_0 x 3, n_embd 64, n_ff 96, 32 experts */
    float xin[2 * 64], w[4] = {0.5f, 0.5f, 0.5f, 0.5f}, out[2 * 64];
    fill(xin, 2 * 64, 1);
    const int32_t bad_ids[][4] = {{0, 1, 2, 32}, {0, -1, 2, 3}, {31, 0, 0, INT32_MAX}, {INT32_MIN, 0, 0, 0}};
    for (int k = 0; k < LEN(bad_ids); k++) {
        for (int i = 0; i < 2 * 64; i++) out[i] = 7;
        CHECK(pmx_moe_ffn(k % 2 ? pool : NULL, out, xin, 2, 64, 96, 32, 2, bad_ids[k], w, c->gt, x->gate, c->ut, x->up,
                          c->dt, x->down, 0) == PMX_ERR_INVALID_ARG, "bad ids %d", k);
        int touched = 0;
        for (int i = 0; i < 2 * 64; i++) touched |= out[i] != 7;
        CHECK(!touched, "bad ids %d: out written before the ids were refused", k);
    }
    const int32_t ids[4] = {0, 1, 2, 3};
#define MOE(n_tok, n_embd, n_ff, n_expert, n_used, gt, dt)                                                            \
    pmx_moe_ffn(pool, out, xin, n_tok, n_embd, n_ff, n_expert, n_used, ids, w, gt, x->gate, gt, x->up, dt, x->down, 0)
    CHECK(MOE(2, 64, 96, 32, 2, PMX_TYPE_Q4_0, PMX_TYPE_Q4_0) == PMX_OK, "the good call");
    CHECK(MOE(0, 64, 96, 32, 2, PMX_TYPE_Q4_0, PMX_TYPE_Q4_0) == PMX_ERR_INVALID_ARG, "no tokens");
    CHECK(MOE(2, 48, 96, 32, 2, PMX_TYPE_Q4_0, PMX_TYPE_Q4_0) == PMX_ERR_INVALID_ARG, "n_embd not a multiple of 32");
    CHECK(MOE(2, 64, 80, 32, 2, PMX_TYPE_Q4_0, PMX_TYPE_Q4_0) == PMX_ERR_INVALID_ARG, "n_ff not a multiple of 32");
    CHECK(MOE(2, 64, 96, 32, 2, PMX_TYPE_Q4_K, PMX_TYPE_Q4_0) == PMX_ERR_INVALID_ARG, "n_embd not a multiple of 256");
    CHECK(MOE(2, 64, 96, 32, 2, 16, PMX_TYPE_Q4_0) == PMX_ERR_INVALID_ARG, "unknown type");
    CHECK(MOE(2, 64, 96, 0, 2, PMX_TYPE_Q4_0, PMX_TYPE_Q4_0) == PMX_ERR_INVALID_ARG, "no experts");
    CHECK(MOE(2, 64, 96, 32, 0, PMX_TYPE_Q4_0, PMX_TYPE_Q4_0) == PMX_ERR_INVALID_ARG, "no experts used");
    CHECK(MOE(2, 64, 0, 32, 2, PMX_TYPE_F32, PMX_TYPE_F32) == PMX_ERR_INVALID_ARG, "no n_ff");
#undef MOE
    CHECK(pmx_moe_ffn(pool, out, xin, 2, 64, 96, 32, 2, NULL, w, c->gt, x->gate, c->ut, x->up, c->dt, x->down, 0) ==
              PMX_ERR_INVALID_ARG, "no ids");
    CHECK(pmx_moe_ffn(pool, out, xin, 2, 64, 96, 32, 2, ids, w, c->gt, x->gate, c->ut, x->up, c->dt, x->down, 8) ==
              PMX_ERR_INVALID_ARG, "unknown packed bit");
    CHECK(pmx_moe_ffn(pool, out, xin, 2, 64, 72, 32, 2, ids, w, PMX_TYPE_Q4_0, x->gate, PMX_TYPE_Q4_0, x->up, PMX_TYPE_F32,
                      x->down, PMX_MOE_GATE_PACKED) == PMX_ERR_INVALID_ARG, "packed gate of 72 rows (no whole groups)");
}

int main(void) {
    pmx_kernels ref;
    pmx_kernels_ref(&ref);
    pmx_pool *pool = pmx_pool_create(3);
    CHECK(pool != NULL, "pool");
    g_n_isas = tested_isas(g_isas);

    for (int ci = 0; ci < LEN(CONFIGS); ci++) {
        const struct config *c = &CONFIGS[ci];
        struct experts x = {.c = c, .tg = pmx_type_index(c->gt), .tu = pmx_type_index(c->ut), .td = pmx_type_index(c->dt)};
        /* gate/up outputs of order 1 from inputs of order 1, then down outputs of order 1 */
        const float sg = 2.0f / sqrtf((float)c->n_embd), sd = 2.0f / sqrtf((float)c->n_ff);
        x.gate = make_matrices(c->gt, c->n_expert, c->n_ff, c->n_embd, sg, NULL);
        x.up = make_matrices(c->ut, c->n_expert, c->n_ff, c->n_embd, sg, NULL);
        x.down = make_matrices(c->dt, c->n_expert, c->n_embd, c->n_ff, sd, &x.down_f);
        x.gate_mat = pmx_row_bytes(x.tg, c->n_embd) * c->n_ff;
        x.up_mat = pmx_row_bytes(x.tu, c->n_embd) * c->n_ff;
        x.down_mat = pmx_row_bytes(x.td, c->n_ff) * c->n_embd;
        x.gate_p = pack_matrices(c->gt, x.gate, c->n_expert, c->n_ff, c->n_embd, pool);
        x.up_p = pack_matrices(c->ut, x.up, c->n_expert, c->n_ff, c->n_embd, pool);
        x.down_p = pack_matrices(c->dt, x.down, c->n_expert, c->n_embd, c->n_ff, pool);
        x.packed = (x.gate_p ? PMX_MOE_GATE_PACKED : 0) | (x.up_p ? PMX_MOE_UP_PACKED : 0) | (x.down_p ? PMX_MOE_DOWN_PACKED : 0);
        for (int ri = 0; ri < LEN(RUNS); ri++) run(&x, RUNS[ri][0], RUNS[ri][1], pool, &ref);
        if (ci == 0) check_rejections(&x, pool);
        free(x.gate), free(x.up), free(x.down), free(x.down_f), free(x.gate_p), free(x.up_p), free(x.down_p);
    }

    for (int ii = 0; ii < g_n_isas; ii++) {
        const int isa = g_isas[ii];
        printf("%-12s vs ref: err/(1+S) <= %.3g (tolerance %g); %ld outputs differ between pool and no pool\n",
               pmx_isa_name(isa), g_worst[isa], isa == PMX_ISA_SCALAR ? SCALAR_TOL : ISA_TOL, g_pool_diffs[isa]);
    }
    pmx_pool_destroy(pool);
    return finish();
}
