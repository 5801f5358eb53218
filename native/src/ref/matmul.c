/* Scalar reference matmul, the oracle for every ISA: each quantized dot product is ggml's generic vec_dot
 * (exact int32 sums per block times the block's float scales), every sum accumulated in double. */
#include <string.h>
#include "ref.h"

/* Weight row . activation row over n elements (nb blocks for the quantized types). */
typedef double (*dot_fn)(const void *w, const void *a, int64_t n);

static double dot_f32(const void *w, const void *a, int64_t n) {
    const float *wr = w, *x = a;
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += (double)wr[k] * x[k];
    return s;
}

static double dot_f16(const void *w, const void *a, int64_t n) {
    const pmx_half *wr = w;
    const float *x = a;
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += (double)pmx_half_to_f32(wr[k]) * x[k];
    return s;
}

/* BF16 weights meet activations rounded to BF16 (floats that are BF16 values: pmx_ref_prepare_bf16), as ggml's
 * vec_dot_type for BF16 is BF16: each product is exact. */
static double dot_bf16(const void *w, const void *a, int64_t n) {
    const pmx_bf16 *wr = w;
    const float *x = a;
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += (double)pmx_bf16_to_f32(wr[k]) * x[k];
    return s;
}

static double dot_q8_0(const void *w, const void *a, int64_t n) {
    const block_q8_0 *x = w, *y = a;
    double s = 0;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[i].qs[j] * y[i].qs[j];
        s += (double)sumi * pmx_half_to_f32(x[i].d) * pmx_half_to_f32(y[i].d);
    }
    return s;
}

static double dot_q4_0(const void *w, const void *a, int64_t n) {
    const block_q4_0 *x = w;
    const block_q8_0 *y = a;
    double s = 0;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK4_0 / 2];
        }
        s += (double)sumi * pmx_half_to_f32(x[i].d) * pmx_half_to_f32(y[i].d);
    }
    return s;
}

static double dot_q5_0(const void *w, const void *a, int64_t n) {
    const block_q5_0 *x = w;
    const block_q8_0 *y = a;
    double s = 0;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        int32_t sumi = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int q0 = (x[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            const int q1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + QK5_0 / 2)) & 1) << 4);
            sumi += (q0 - 16) * y[i].qs[j];
            sumi += (q1 - 16) * y[i].qs[j + QK5_0 / 2];
        }
        s += (double)sumi * pmx_half_to_f32(x[i].d) * pmx_half_to_f32(y[i].d);
    }
    return s;
}

/* Q4_K and Q5_K (the same d, dmin and scales ahead of the quants), 8 sub-blocks of 32: per super-block
 * d * sum_j sc_j * (q_j . a_j) - dmin * sum_j m_j * (sum of a_j), the activation sums taken from bsums as the SIMD
 * kernels do. Sub-block j: nibble j & 1 of qs[32 (j / 2) + l]; Q5_K's 5th bit: bit j of qh[l]. */
static inline double dot_k4(const void *w, const void *a, int64_t n, const int five) {
    const int64_t bb = five ? (int64_t)sizeof(block_q5_K) : (int64_t)sizeof(block_q4_K);
    const int64_t qs_at = five ? (int64_t)offsetof(block_q5_K, qs) : (int64_t)offsetof(block_q4_K, qs);
    const block_q8_K *y = a;
    double s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *blk = (const uint8_t *)w + i * bb, *qh = ((const block_q5_K *)blk)->qh;
        const block_q4_K *x = (const block_q4_K *)blk;
        int32_t isum = 0, imins = 0;
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t sc, m;
            pmx_get_scale_min_k4(j, x->scales, &sc, &m);
            const uint8_t *q = blk + qs_at + 32 * (j / 2);
            const int shift = 4 * (j & 1);
            const int8_t *a8 = y[i].qs + 32 * j;
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> shift) & 0xF) | (five ? ((qh[l] >> j) & 1) << 4 : 0);
                dot += v * a8[l];
            }
            isum += sc * dot;
            imins += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        }
        s += (double)pmx_half_to_f32(x->d) * y[i].d * isum - (double)pmx_half_to_f32(x->dmin) * y[i].d * imins;
    }
    return s;
}
static double dot_q4_K(const void *w, const void *a, int64_t n) { return dot_k4(w, a, n, 0); }
static double dot_q5_K(const void *w, const void *a, int64_t n) { return dot_k4(w, a, n, 1); }

static double dot_q6_K(const void *w, const void *a, int64_t n) {
    const block_q6_K *x = w;
    const block_q8_K *y = a;
    double s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32_t isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *a8 = y[i].qs + 128 * h, *sc = x[i].scales + 8 * h;
            /* value 32 * k + l of this half: low nibble from ql[l + 32 * (k & 1)] (high nibble when k >= 2),
             * top bits 2k..2k+1 of qh[l]; scale index = element / 16 */
            for (int k = 0; k < 4; k++) {
                for (int half16 = 0; half16 < 2; half16++) {
                    int32_t dot = 0;
                    for (int l = 16 * half16; l < 16 * half16 + 16; l++) {
                        const int lo = (ql[l + 32 * (k & 1)] >> (4 * (k >> 1))) & 0xF;
                        const int q = (lo | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                        dot += q * a8[32 * k + l];
                    }
                    isum += sc[2 * k + half16] * dot;
                }
            }
        }
        s += (double)pmx_half_to_f32(x[i].d) * y[i].d * isum;
    }
    return s;
}

/* Q4_1 / Q5_1 against Q8_0 activations: d * dx * (q . a) + m * dx * sum(a) per block; Q5_1's 5th bit of element j
 * is bit j of qh. */
static inline double dot_qx_1(const void *w, const void *a, int64_t n, const int five) {
    const int64_t bb = five ? (int64_t)sizeof(block_q5_1) : (int64_t)sizeof(block_q4_1);
    const block_q8_0 *y = a;
    double s = 0;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const uint8_t *blk = (const uint8_t *)w + i * bb;
        const block_q4_1 *x = (const block_q4_1 *)blk; /* d, m: the same in Q5_1 */
        const uint8_t *qs = five ? ((const block_q5_1 *)blk)->qs : x->qs;
        uint32_t qh = 0;
        if (five) memcpy(&qh, ((const block_q5_1 *)blk)->qh, sizeof qh);
        int32_t sumi = 0, suma = 0;
        for (int j = 0; j < 16; j++) {
            const int q0 = (qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            const int q1 = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
            suma += y[i].qs[j] + y[i].qs[j + 16];
        }
        const double dx = pmx_half_to_f32(y[i].d);
        s += (double)sumi * pmx_half_to_f32(x->d) * dx + (double)suma * pmx_half_to_f32(x->m) * dx;
    }
    return s;
}
static double dot_q4_1(const void *w, const void *a, int64_t n) { return dot_qx_1(w, a, n, 0); }
static double dot_q5_1(const void *w, const void *a, int64_t n) { return dot_qx_1(w, a, n, 1); }

static double dot_iq4_nl(const void *w, const void *a, int64_t n) {
    const block_iq4_nl *x = w;
    const block_q8_0 *y = a;
    double s = 0;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += pmx_kvalues_iq4nl[x[i].qs[j] & 0xf] * y[i].qs[j] + pmx_kvalues_iq4nl[x[i].qs[j] >> 4] * y[i].qs[j + 16];
        s += (double)sumi * pmx_half_to_f32(x[i].d) * pmx_half_to_f32(y[i].d);
    }
    return s;
}

/* Q2_K and Q3_K, 16 sub-blocks of 16 in 2-bit planes: sub-block j is bits 2 ((j % 8) / 2) of
 * qs[32 (j / 8) + 16 (j % 2) + l], Q3_K's third bit is bit j / 2 of hmask[16 (j % 2) + l]. Q2_K:
 * d * sum_j (sc_j & 15) * (q_j . a_j) - dmin * sum_j (sc_j >> 4) * bsum_j; Q3_K: d * sum_j sc_j * ((q_j - 4) . a_j). */
static inline double dot_k16(const void *w, const void *a, int64_t n, const int three) {
    const int64_t bb = three ? (int64_t)sizeof(block_q3_K) : (int64_t)sizeof(block_q2_K);
    const block_q8_K *y = a;
    double s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *blk = (const uint8_t *)w + i * bb, *qs, *hm = NULL;
        int8_t sc[16];
        uint8_t mn[16] = {0};
        float d, dmin = 0;
        if (three) {
            const block_q3_K *x = (const block_q3_K *)blk;
            pmx_q3_K_scales_unpack(x->scales, sc);
            qs = x->qs, hm = x->hmask, d = pmx_half_to_f32(x->d);
        } else {
            const block_q2_K *x = (const block_q2_K *)blk;
            for (int j = 0; j < 16; j++) sc[j] = (int8_t)(x->scales[j] & 0xF), mn[j] = x->scales[j] >> 4;
            qs = x->qs, d = pmx_half_to_f32(x->d), dmin = pmx_half_to_f32(x->dmin);
        }
        int32_t isum = 0, imins = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            const uint8_t *q = qs + 32 * (j / 8) + 16 * (j % 2);
            const int shift = 2 * ((j % 8) / 2);
            const int8_t *a8 = y[i].qs + 16 * j;
            int32_t dot = 0;
            for (int l = 0; l < 16; l++) {
                int v = (q[l] >> shift) & 3;
                if (three) v = (v | (((hm[16 * (j % 2) + l] >> (j / 2)) & 1) << 2)) - 4;
                dot += v * a8[l];
            }
            isum += sc[j] * dot;
            imins += mn[j] * y[i].bsums[j];
        }
        s += (double)d * y[i].d * isum - (double)dmin * y[i].d * imins;
    }
    return s;
}
static double dot_q2_K(const void *w, const void *a, int64_t n) { return dot_k16(w, a, n, 0); }
static double dot_q3_K(const void *w, const void *a, int64_t n) { return dot_k16(w, a, n, 1); }

static double dot_iq4_xs(const void *w, const void *a, int64_t n) {
    const block_iq4_xs *x = w;
    const block_q8_K *y = a;
    double s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32_t isum = 0;
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const uint8_t *q = x[i].qs + 16 * ib;
            const int8_t *a8 = y[i].qs + 32 * ib;
            int32_t dot = 0;
            for (int j = 0; j < 16; j++)
                dot += pmx_kvalues_iq4nl[q[j] & 0xf] * a8[j] + pmx_kvalues_iq4nl[q[j] >> 4] * a8[j + 16];
            isum += (pmx_iq4_xs_scale(&x[i], ib) - 32) * dot;
        }
        s += (double)pmx_half_to_f32(x[i].d) * y[i].d * isum;
    }
    return s;
}

static void matmul_rows(int t, dot_fn dot, const void *w, int64_t n, const void *xa, int64_t batch, float *y,
                        int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t wrb = pmx_row_bytes(t, n);
    const int64_t arb = pmx_act_row_bytes(t, n) ? pmx_act_row_bytes(t, n) : n * (int64_t)sizeof(float);
    for (int64_t r = r0; r < r1; r++)
        for (int64_t b = 0; b < batch; b++)
            y[b * ldy + r] = (float)dot((const char *)w + r * wrb, (const char *)xa + b * arb, n);
}

#define REF_MATMUL(name, T)                                                                                   \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, \
                              int64_t r0, int64_t r1) {                                                       \
        matmul_rows(T, dot_##name, w, n, xa, batch, y, ldy, r0, r1);                                          \
    }
REF_MATMUL(f32, PMX_T_F32)
REF_MATMUL(f16, PMX_T_F16)
REF_MATMUL(bf16, PMX_T_BF16)
REF_MATMUL(q8_0, PMX_T_Q8_0)
REF_MATMUL(q4_0, PMX_T_Q4_0)
REF_MATMUL(q5_0, PMX_T_Q5_0)
REF_MATMUL(q4_K, PMX_T_Q4_K)
REF_MATMUL(q6_K, PMX_T_Q6_K)
REF_MATMUL(q4_1, PMX_T_Q4_1)
REF_MATMUL(q5_1, PMX_T_Q5_1)
REF_MATMUL(iq4_nl, PMX_T_IQ4_NL)
REF_MATMUL(q2_K, PMX_T_Q2_K)
REF_MATMUL(q3_K, PMX_T_Q3_K)
REF_MATMUL(q5_K, PMX_T_Q5_K)
REF_MATMUL(iq4_xs, PMX_T_IQ4_XS)

static void prepare_q8_0(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    const int64_t rb = pmx_act_row_bytes(PMX_T_Q8_0, n);
    for (int64_t b = b0; b < b1; b++) pmx_ref_quantize_row_q8_0((block_q8_0 *)((char *)xa + b * rb), x + b * n, n);
}

static void prepare_q8_K(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    const int64_t rb = pmx_act_row_bytes(PMX_T_Q4_K, n);
    for (int64_t b = b0; b < b1; b++) pmx_ref_quantize_row_q8_K((block_q8_K *)((char *)xa + b * rb), x + b * n, n);
}

void pmx_ref_prepare_bf16(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    float *o = xa;
    for (int64_t i = b0 * n; i < b1 * n; i++) o[i] = pmx_bf16_to_f32(pmx_f32_to_bf16(x[i]));
}

void pmx_ref_register_matmul(pmx_kernels *k) {
    k->matmul[PMX_T_F32] = (pmx_matmul_kernel){NULL, matmul_f32, NULL};
    k->matmul[PMX_T_F16] = (pmx_matmul_kernel){NULL, matmul_f16, NULL};
    k->matmul[PMX_T_BF16] = (pmx_matmul_kernel){pmx_ref_prepare_bf16, matmul_bf16, NULL};
    k->matmul[PMX_T_Q8_0] = (pmx_matmul_kernel){prepare_q8_0, matmul_q8_0, NULL};
    k->matmul[PMX_T_Q4_0] = (pmx_matmul_kernel){prepare_q8_0, matmul_q4_0, NULL};
    k->matmul[PMX_T_Q5_0] = (pmx_matmul_kernel){prepare_q8_0, matmul_q5_0, NULL};
    k->matmul[PMX_T_Q4_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q4_K, NULL};
    k->matmul[PMX_T_Q6_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q6_K, NULL};
    k->matmul[PMX_T_Q4_1] = (pmx_matmul_kernel){prepare_q8_0, matmul_q4_1, NULL};
    k->matmul[PMX_T_Q5_1] = (pmx_matmul_kernel){prepare_q8_0, matmul_q5_1, NULL};
    k->matmul[PMX_T_IQ4_NL] = (pmx_matmul_kernel){prepare_q8_0, matmul_iq4_nl, NULL};
    k->matmul[PMX_T_Q2_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q2_K, NULL};
    k->matmul[PMX_T_Q3_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q3_K, NULL};
    k->matmul[PMX_T_Q5_K] = (pmx_matmul_kernel){prepare_q8_K, matmul_q5_K, NULL};
    k->matmul[PMX_T_IQ4_XS] = (pmx_matmul_kernel){prepare_q8_K, matmul_iq4_xs, NULL};
}
