/* libFuzzer harness: pmx_matmul (GEMV and GEMM) of every weight type, pmx_pack + pmx_matmul_packed, against the scalar
 * reference. Shapes within panamax.h's contract: n_rows, n_cols, batch >= 1, n_cols whole blocks, scratch of
 * pmx_matmul_scratch_bytes for the ISA in use; weights raw bytes from the input (any bit pattern a file may hold) or
 * quantized from floats. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size, 0};
    const int32_t type = WEIGHT_TYPES[u8(&r) % COUNT(WEIGHT_TYPES)];
    const unsigned flags = u8(&r); /* 1: raw weight bytes, 2: raw activations, 4: pool, 8: rows a multiple of 16, 16: AVX2 */
    const int64_t bs = pmx_type_block_size(type);
    const int64_t n_cols = bs == 1 ? pick(&r, 1, 300) : bs * pick(&r, 1, bs == 256 ? 4 : 12);
    int64_t n_rows = (flags & 8) ? 16 * pick(&r, 1, 3) : pick(&r, 1, 40);
    int64_t batch = pick(&r, 1, 40);
    while (n_rows * n_cols * batch > (1 << 20) && batch > 1) batch /= 2;
    const int32_t isa = (flags & 16) && pmx_isa_supported(PMX_ISA_AVX2) ? PMX_ISA_AVX2 : PMX_ISA_AUTO;
    pmx_pool *pool = (flags & 4) ? fuzz_pool() : NULL;

    const int64_t wb = row_bytes(type, n_cols) * n_rows;
    void *w = buf(wb);
    float *wf = buf(4 * n_rows * n_cols), *x = buf(4 * batch * n_cols);
    if (flags & 1) {
        fill_bytes(&r, w, wb);
    } else {
        fill_floats(&r, wf, n_rows * n_cols, 0, 1.0f);
        if (pmx_quantize(type, w, wf, n_rows, n_cols) != PMX_OK) FUZZ_FAIL("pmx_quantize refused a valid shape");
    }
    fill_floats(&r, x, batch * n_cols, flags & 2, 2.0f);
    if (pmx_dequantize(type, wf, w, n_rows, n_cols) != PMX_OK) FUZZ_FAIL("pmx_dequantize refused a valid shape");
    double *bound = buf(8 * batch * n_rows); /* sum_k |w_k x_k|: the scale of each output */
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t i = 0; i < n_rows; i++) {
            double s = 0;
            for (int64_t k = 0; k < n_cols; k++) s += fabs((double)wf[i * n_cols + k] * x[b * n_cols + k]);
            bound[b * n_rows + i] = s;
        }
    }

    float *y = buf(4 * batch * n_rows), *yref = buf(4 * batch * n_rows);
    pmx_force_isa(PMX_ISA_SCALAR);
    int64_t sb = pmx_matmul_scratch_bytes(type, n_cols, batch);
    void *scratch = buf(sb);
    if (pmx_matmul(NULL, type, w, n_rows, n_cols, x, batch, yref, scratch, sb) != PMX_OK) FUZZ_FAIL("reference matmul failed");
    free(scratch);

    pmx_force_isa(isa);
    sb = pmx_matmul_scratch_bytes(type, n_cols, batch);
    scratch = buf(sb);
    if (pmx_matmul(pool, type, w, n_rows, n_cols, x, batch, y, scratch, sb) != PMX_OK) FUZZ_FAIL("matmul failed");
    free(scratch);
    char what[96];
    snprintf(what, sizeof what, "%s matmul type %d %ldx%ld batch %ld", pmx_isa_name(pmx_active_isa()), type,
             (long)n_rows, (long)n_cols, (long)batch);
    compare(what, y, yref, bound, batch * n_rows, 1e-4);

    const int64_t pb = pmx_pack_bytes(type, n_rows, n_cols);
    if (pb > 0) {
        void *wp = buf(pb);
        if (pmx_pack(pool, type, wp, w, n_rows, n_cols) != PMX_OK) FUZZ_FAIL("pack failed");
        sb = pmx_matmul_packed_scratch_bytes(type, n_cols, batch);
        scratch = buf(sb);
        if (pmx_matmul_packed(pool, type, wp, n_rows, n_cols, x, batch, y, scratch, sb) != PMX_OK) FUZZ_FAIL("packed matmul failed");
        snprintf(what, sizeof what, "%s packed matmul type %d %ldx%ld batch %ld", pmx_isa_name(pmx_active_isa()), type,
                 (long)n_rows, (long)n_cols, (long)batch);
        compare(what, y, yref, bound, batch * n_rows, 1e-4);
        free(scratch);
        free(wp);
    } else if ((type == PMX_TYPE_Q4_0 || type == PMX_TYPE_Q8_0 || type == PMX_TYPE_Q4_K || type == PMX_TYPE_Q6_K) &&
               n_rows % 16 == 0) {
        FUZZ_FAIL("no packed layout for type %d, %ld rows (a multiple of 16)", type, (long)n_rows);
    }
    pmx_force_isa(PMX_ISA_AUTO);
    free(w);
    free(wf);
    free(x);
    free(bound);
    free(y);
    free(yref);
    return 0;
}
