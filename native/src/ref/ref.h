/* Scalar reference kernels: the oracle every ISA is tested against, and the fallback for any kernel an
 * ISA does not accelerate. Plain portable C, accuracy before speed. */
#ifndef PMX_REF_H
#define PMX_REF_H
#include <string.h>
#include "../kernels.h"

void pmx_ref_rmsnorm_f32(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps);

/* quants.c: one row of n elements (n a multiple of the block size), ggml's reference rounding */
void pmx_ref_quantize_row(int type_index, void *dst, const float *src, int64_t n);
void pmx_ref_dequantize_row(int type_index, float *dst, const void *src, int64_t n);
/* n floats through type index t and back (the query of attention over a quantized cache: pmx_kv_q_type) */
void pmx_ref_round_row(int t, float *dst, const float *src, int64_t n);
/* activation formats used by the int8 matmul kernels */
void pmx_ref_quantize_row_q8_0(block_q8_0 *dst, const float *src, int64_t n);
void pmx_ref_quantize_row_q8_K(block_q8_K *dst, const float *src, int64_t n);

/* ops.c: k largest of n, descending, ties to the lower index (selection, not a full sort) */
/* ggml's GELU table: for each binary16 bit pattern h, the float value of binary16(gelu_tanh(h)) (made on first use). */
const float *pmx_gelu_table(void);
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

/* Q4_K / Q5_K: all 8 scales into out[0..7] and mins into out[8..15] (pmx_get_scale_min_k4 of every j, on 32-bit words). */
static inline void pmx_scales_k4_unpack(const uint8_t *s, uint8_t out[16]) {
    uint32_t u[4];
    memcpy(u, s, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    u[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4); /* mins 4..7 */
    const uint32_t mins_lo = u[1] & m6;                     /* mins 0..3 */
    u[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);         /* scales 4..7 */
    u[2] = mins_lo;
    u[0] &= m6;                                             /* scales 0..3 */
    memcpy(out, u, 16);
}
/* Q3_K: all 16 scales (-32..31) into out, on 32-bit words: scale j < 4 takes the low nibble of byte j and bits 0-1 of
 * byte 8 + j, 4..7 byte j's bits 2-3, 8..11 the high nibble of byte j - 8 and bits 4-5, 12..15 bits 6-7. */
static inline void pmx_q3_K_scales_unpack(const uint8_t *s, int8_t out[16]) {
    uint32_t a[3], u[4];
    memcpy(a, s, 12);
    const uint32_t m4 = 0x0f0f0f0f, m2 = 0x03030303;
    u[0] = (a[0] & m4) | (((a[2] >> 0) & m2) << 4);
    u[1] = (a[1] & m4) | (((a[2] >> 2) & m2) << 4);
    u[2] = ((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4);
    u[3] = ((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4);
    memcpy(out, u, 16);
    for (int j = 0; j < 16; j++) out[j] = (int8_t)(out[j] - 32);
}
/* Q3_K: the signed 6-bit scale (-32..31) of sub-block j (16 values): low nibble in byte j (j < 8) or the high one of
 * byte j - 8, top 2 bits at bit 2 (j / 4) of byte 8 + j % 4. */
static inline int pmx_q3_K_scale(const uint8_t *s, int j) {
    const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return (lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}
/* Q3_K: the 3-bit quant (0..7, offset 4) of element j: 2 bits at (j % 128) / 32 * 2 of qs[32 (j / 128) + j % 32],
 * the third at bit j / 32 of hmask[j % 32]. */
static inline int pmx_q3_K_quant(const block_q3_K *b, int j) {
    const int lo = (b->qs[32 * (j / 128) + j % 32] >> (2 * ((j % 128) / 32))) & 3;
    return lo | (((b->hmask[j % 32] >> (j / 32)) & 1) << 2);
}
/* Q2_K: the 2-bit quant of element j, packed as Q3_K's low bits. */
static inline int pmx_q2_K_quant(const block_q2_K *b, int j) {
    return (b->qs[32 * (j / 128) + j % 32] >> (2 * ((j % 128) / 32))) & 3;
}
/* Q5_K: the 5-bit quant of element j: nibble (j / 32) & 1 of qs[32 (j / 64) + j % 32], 5th bit j / 32 of qh[j % 32]. */
static inline int pmx_q5_K_quant(const block_q5_K *b, int j) {
    const int lo = (b->qs[32 * (j / 64) + j % 32] >> (4 * ((j / 32) & 1))) & 0xF;
    return lo | (((b->qh[j % 32] >> (j / 32)) & 1) << 4);
}
/* IQ4_XS: the 6-bit scale (0..63, offset 32) of sub-block ib. */
static inline int pmx_iq4_xs_scale(const block_iq4_xs *b, int ib) {
    return ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) | (((b->scales_h >> (2 * ib)) & 3) << 4);
}

void pmx_ref_register_matmul(pmx_kernels *k);
void pmx_ref_register_packed(pmx_kernels *k);
/* Rows [0, n_rows) (a multiple of PMX_PACK_ROWS) of a type with a packed layout (PACKED_BLOCK_BYTES in api.c) into it,
 * groups [g0, g1). */
void pmx_ref_pack(int type_index, void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1);
void pmx_ref_register_ops(pmx_kernels *k);
void pmx_ref_register_attention(pmx_kernels *k);

#endif
