/* pmx_matmul_stacked of every ISA, without a pool and on a pool of 3, against n_mat separate pmx_matmul calls of
 * the same ISA on gathered (contiguous) activations: bit for bit, over types, row counts that cut the 64-row
 * pieces and 4-row tiles, token counts that hit the GEMM column tiles, padded strides as MLA lays out its heads
 * (x and y interleaved per token), padded matrices, and the arguments it must refuse. */
#include <string.h>
#include "check.h"
#include "kernels.h"

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const int32_t TYPES[] = {PMX_TYPE_F32, PMX_TYPE_F16, PMX_TYPE_BF16, PMX_TYPE_Q8_0,
                                PMX_TYPE_Q4_0, PMX_TYPE_Q4_K, PMX_TYPE_Q6_K};

/* (n_mat, rows, cols in blocks, n_tok) */
static const int64_t SHAPES[][4] = {
    {1, 1, 1, 1}, {3, 7, 1, 1}, {16, 64, 2, 1}, {5, 130, 1, 1}, {4, 65, 2, 3}, {2, 200, 1, 5},
    {7, 33, 3, 8}, {16, 128, 1, 17}, {3, 16, 2, 2}, {2, 70, 2, 37}, /* 37 tokens: the gemm kernels */
};

static const char *type_name(int32_t t) {
    switch (t) {
    case PMX_TYPE_F32: return "f32";
    case PMX_TYPE_F16: return "f16";
    case PMX_TYPE_BF16: return "bf16";
    case PMX_TYPE_Q4_0: return "q4_0";
    case PMX_TYPE_Q8_0: return "q8_0";
    case PMX_TYPE_Q4_K: return "q4_K";
    case PMX_TYPE_Q6_K: return "q6_K";
    default: return "?";
    }
}

static int32_t g_isas[PMX_ISA_COUNT];
static int g_n_isas;
static long g_checked;

/* layout: 0 = MLA-like (slices interleaved per token, padded), 1 = matrix-major (each matrix's tokens together),
 * 2 = tight (x_tok_stride == cols for every matrix: float kernels read x in place) */
static void run(int32_t type, int64_t n_mat, int64_t rows, int64_t cols, int64_t n_tok, int layout, int64_t w_pad,
                pmx_pool *pool) {
    const int t = pmx_type_index(type);
    const int64_t rb = pmx_row_bytes(t, cols), mat = rows * rb, w_mat = mat + w_pad;
    int64_t xt, xm, yt, ym;
    if (layout == 0) xm = cols + 3, xt = n_mat * xm + 5, ym = rows + 2, yt = n_mat * ym + 1;
    else if (layout == 1) xt = cols + 1, xm = n_tok * xt, yt = rows, ym = n_tok * rows + 7;
    else xt = cols, xm = n_tok * cols, yt = rows + 3, ym = n_tok * yt;
    const int64_t nx = (n_tok - 1) * xt + (n_mat - 1) * xm + cols, ny = (n_tok - 1) * yt + (n_mat - 1) * ym + rows;

    float *wf = malloc(sizeof(float) * rows * cols);
    char *w = malloc((size_t)(w_mat * n_mat));
    memset(w, 0x5a, (size_t)(w_mat * n_mat)); /* the padding: garbage the op must not read as weights */
    for (int64_t m = 0; m < n_mat; m++) {
        fill(wf, rows * cols, 1.0f / sqrtf((float)cols));
        CHECK(pmx_quantize(type, w + m * w_mat, wf, rows, cols) == PMX_OK, "quantize");
    }
    float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny);
    fill(x, nx, 1.5f);
    float *xg = malloc(sizeof(float) * n_tok * cols), *yg = malloc(sizeof(float) * n_tok * rows);
    float *want = malloc(sizeof(float) * ny);

    for (int ii = 0; ii < g_n_isas; ii++) {
        const int32_t isa = g_isas[ii];
        if (pmx_force_isa(isa) != PMX_OK) continue;
        /* per ISA: a kernel may prepare activations in a layout of its own size */
        const int64_t scratch_bytes = pmx_matmul_scratch_bytes(type, cols, n_tok);
        void *scratch = malloc((size_t)scratch_bytes + 64);
        /* the expected y: separate products, gaps between the slices left at a sentinel */
        for (int64_t i = 0; i < ny; i++) want[i] = -777.0f;
        for (int64_t m = 0; m < n_mat; m++) {
            for (int64_t tk = 0; tk < n_tok; tk++) memcpy(xg + tk * cols, x + tk * xt + m * xm, sizeof(float) * cols);
            CHECK(pmx_matmul(NULL, type, w + m * w_mat, rows, cols, xg, n_tok, yg, scratch, scratch_bytes) == PMX_OK,
                  "pmx_matmul");
            for (int64_t tk = 0; tk < n_tok; tk++) memcpy(want + tk * yt + m * ym, yg + tk * rows, sizeof(float) * rows);
        }
        for (int p = 0; p < 2; p++) {
            for (int64_t i = 0; i < ny; i++) y[i] = -777.0f;
            const int32_t st = pmx_matmul_stacked(p ? pool : NULL, type, w, n_mat, rows, cols, w_mat, x, n_tok, xt, xm,
                                                  y, yt, ym);
            CHECK(st == PMX_OK, "%s %s status %d", pmx_isa_name(isa), type_name(type), st);
            long diffs = 0;
            int64_t first = -1;
            for (int64_t i = 0; i < ny; i++)
                if (memcmp(&y[i], &want[i], sizeof(float)) != 0 && diffs++ == 0) first = i;
            CHECK(diffs == 0, "%s %s n_mat=%ld rows=%ld cols=%ld n_tok=%ld layout=%d pool=%d: %ld floats differ from "
                  "separate pmx_matmul calls, first y[%ld] = %.9g, want %.9g", pmx_isa_name(isa), type_name(type),
                  (long)n_mat, (long)rows, (long)cols, (long)n_tok, layout, p, diffs, (long)first,
                  first >= 0 ? y[first] : 0, first >= 0 ? want[first] : 0);
            g_checked += ny;
        }
        free(scratch);
    }
    free(wf), free(w), free(x), free(y), free(xg), free(yg), free(want);
}

static void check_rejections(pmx_pool *pool) {
    const int64_t rows = 8, cols = 64, n_mat = 3, n_tok = 2;
    const int64_t rb = pmx_row_bytes(pmx_type_index(PMX_TYPE_Q4_0), cols), mat = rows * rb;
    char *w = calloc(1, (size_t)(mat * n_mat));
    float x[3 * 2 * 64] = {0}, y[3 * 2 * 8];
#define ST(type, nm, r, c, wm, nt, xt, xm, yt, ym) pmx_matmul_stacked(pool, type, w, nm, r, c, wm, x, nt, xt, xm, y, yt, ym)
    CHECK(ST(PMX_TYPE_Q4_0, n_mat, rows, cols, mat, n_tok, 64, 128, 8, 16) == PMX_OK, "the good call");
    CHECK(ST(PMX_TYPE_Q4_0, 0, rows, cols, mat, n_tok, 64, 128, 8, 16) == PMX_ERR_INVALID_ARG, "no matrices");
    CHECK(ST(PMX_TYPE_Q4_0, n_mat, 0, cols, mat, n_tok, 64, 128, 8, 16) == PMX_ERR_INVALID_ARG, "no rows");
    CHECK(ST(PMX_TYPE_Q4_0, n_mat, rows, 0, mat, n_tok, 64, 128, 8, 16) == PMX_ERR_INVALID_ARG, "no cols");
    CHECK(ST(PMX_TYPE_Q4_0, n_mat, rows, 48, mat, n_tok, 64, 128, 8, 16) == PMX_ERR_INVALID_ARG, "cols not a multiple of 32");
    CHECK(ST(PMX_TYPE_Q4_K, n_mat, rows, cols, mat, n_tok, 64, 128, 8, 16) == PMX_ERR_INVALID_ARG, "cols not a multiple of 256");
    CHECK(ST(16, n_mat, rows, cols, mat, n_tok, 64, 128, 8, 16) == PMX_ERR_INVALID_ARG, "unknown type");
    CHECK(ST(PMX_TYPE_Q4_0, n_mat, rows, cols, mat - 1, n_tok, 64, 128, 8, 16) == PMX_ERR_INVALID_ARG, "w_mat_bytes too small");
    CHECK(ST(PMX_TYPE_Q4_0, n_mat, rows, cols, mat, 0, 64, 128, 8, 16) == PMX_ERR_INVALID_ARG, "no tokens");
    CHECK(ST(PMX_TYPE_Q4_0, n_mat, rows, cols, mat, n_tok, -64, 128, 8, 16) == PMX_ERR_INVALID_ARG, "negative stride");
    CHECK(ST(PMX_TYPE_Q4_0, n_mat, rows, cols, mat, n_tok, 64, 128, 8, -16) == PMX_ERR_INVALID_ARG, "negative stride");
    CHECK(ST(PMX_TYPE_Q4_0, n_mat, rows, cols, INT64_MAX / 2, n_tok, 64, 128, 8, 16) == PMX_ERR_INVALID_ARG, "w overflow");
    CHECK(ST(PMX_TYPE_Q4_0, n_mat, rows, cols, mat, n_tok, INT64_MAX / 2, 128, 8, 16) == PMX_ERR_INVALID_ARG, "x overflow");
#undef ST
    CHECK(pmx_matmul_stacked(pool, PMX_TYPE_Q4_0, NULL, 1, rows, cols, mat, x, 1, 64, 64, y, 8, 8) == PMX_ERR_INVALID_ARG, "no w");
    CHECK(pmx_matmul_stacked(pool, PMX_TYPE_Q4_0, w, 1, rows, cols, mat, NULL, 1, 64, 64, y, 8, 8) == PMX_ERR_INVALID_ARG, "no x");
    CHECK(pmx_matmul_stacked(pool, PMX_TYPE_Q4_0, w, 1, rows, cols, mat, x, 1, 64, 64, NULL, 8, 8) == PMX_ERR_INVALID_ARG, "no y");
    free(w);
}

int main(void) {
    pmx_pool *pool = pmx_pool_create(3);
    CHECK(pool != NULL, "pool");
    g_n_isas = tested_isas(g_isas);

    for (int ti = 0; ti < LEN(TYPES); ti++) {
        const int32_t type = TYPES[ti];
        const int64_t block = pmx_type_block_size(type) < 32 ? 32 : pmx_type_block_size(type);
        for (int si = 0; si < LEN(SHAPES); si++) {
            const int64_t *s = SHAPES[si];
            for (int layout = 0; layout < 3; layout++)
                run(type, s[0], s[1], s[2] * block, s[3], layout,
                    layout == 1 ? 64 : 0, pool);
        }
        /* float types: widths that are no multiple of 32 */
        if (pmx_type_block_size(type) == 1) {
            run(type, 3, 5, 7, 2, 0, 4, pool);
            run(type, 4, 9, 33, 1, 2, 0, pool);
            run(type, 2, 70, 1, 3, 1, 0, pool);
            run(type, 2, 21, 33, 37, 0, 4, pool);
        }
    }
    check_rejections(pool);
    printf("%ld outputs checked bit for bit against separate pmx_matmul calls over %d ISAs\n", g_checked, g_n_isas);
    pmx_pool_destroy(pool);
    return finish();
}
