/* Scalar reference kernels: the oracle every ISA is tested against, and the fallback for any kernel an
 * ISA does not accelerate. Plain portable C, accuracy before speed. */
#ifndef PMX_REF_H
#define PMX_REF_H
#include "../kernels.h"

void pmx_ref_rmsnorm_f32(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps);

/* quants.c: one row of n elements (n a multiple of the block size), ggml's reference rounding */
void pmx_ref_quantize_row(int type_index, void *dst, const float *src, int64_t n);
void pmx_ref_dequantize_row(int type_index, float *dst, const void *src, int64_t n);
/* activation formats used by the int8 matmul kernels */
void pmx_ref_quantize_row_q8_0(block_q8_0 *dst, const float *src, int64_t n);
void pmx_ref_quantize_row_q8_K(block_q8_K *dst, const float *src, int64_t n);

/* ops.c: k largest of n, descending, ties to the lower index (selection, not a full sort) */
void pmx_ref_topk_f32(const float *x, int64_t n, int32_t k, int32_t *idx, float *val);
/* ops.c: cos and sin (times the YaRN magnitude scale) of RoPE pairs [p0, p1) at position pos, as
 * ggml_rope_cache_init computes them; every ISA's RoPE shares it, once per token. */
void pmx_ref_rope_cache(const pmx_rope_args *a, int32_t pos, int64_t p0, int64_t p1, float *cos_out,
                        float *sin_out);

/* Area registration: each fills its entries of the table. */
/* The 6-bit scale and min of sub-block j from the 12 packed bytes: j < 4 in the low 6 bits of bytes j and
 * j + 4; j >= 4 split into a nibble of byte j + 4 and the top 2 bits of bytes j - 4 (scale) and j (min). */
static inline void pmx_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

void pmx_ref_register_matmul(pmx_kernels *k);
void pmx_ref_register_packed(pmx_kernels *k);
/* Rows [0, n_rows) (a multiple of PMX_PACK_ROWS) of Q4_0 or Q8_0 weights into their interleaved layout, groups [g0, g1). */
void pmx_ref_pack(int type_index, void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1);
void pmx_ref_register_ops(pmx_kernels *k);
void pmx_ref_register_attention(pmx_kernels *k);

#endif
