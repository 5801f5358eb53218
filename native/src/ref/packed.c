/* Scalar reference of the interleaved (packed) Q4_0/Q8_0/Q4_K/Q6_K/IQ4_NL/IQ4_XS/Q5_K/Q3_K/Q2_K/Q4_1/Q5_1/F32/BF16 layouts: packing, activation preparation and the matmul.
 * Same integer sums and scales as ref/matmul.c's dot products, so the results equal pmx_matmul's reference bit for bit. */
#include <string.h>
#include "ref.h"

static void pack_q4_K(void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1) {
    const int64_t nb = n_cols / QK_K;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t i = 0; i < nb; i++) {
            block_q4_Kx16 *o = (block_q4_Kx16 *)dst + g * nb + i;
            for (int r = 0; r < PMX_PACK_ROWS; r++) {
                const block_q4_K *b = (const block_q4_K *)w + (g * PMX_PACK_ROWS + r) * nb + i;
                o->d[r] = b->d;
                o->dmin[r] = b->dmin;
                for (int j = 0; j < QK_K / 32; j++) pmx_get_scale_min_k4(j, b->scales, &o->sc[j][r], &o->m[j][r]);
                for (int p = 0; p < 4; p++)
                    for (int s = 0; s < 8; s++) memcpy(o->qs[p][s][r], b->qs + 32 * p + 4 * s, 4);
            }
        }
}

static void pack_q6_K(void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1) {
    const int64_t nb = n_cols / QK_K;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t i = 0; i < nb; i++) {
            block_q6_Kx16 *o = (block_q6_Kx16 *)dst + g * nb + i;
            for (int r = 0; r < PMX_PACK_ROWS; r++) {
                const block_q6_K *b = (const block_q6_K *)w + (g * PMX_PACK_ROWS + r) * nb + i;
                o->d[r] = b->d;
                for (int j = 0; j < QK_K / 16; j++) o->sc[j][r] = b->scales[j];
                for (int h = 0; h < 2; h++)
                    for (int s = 0; s < 8; s++) {
                        memcpy(o->q[h][s][0][r], b->ql + 64 * h + 4 * s, 4);
                        memcpy(o->q[h][s][1][r], b->ql + 64 * h + 32 + 4 * s, 4);
                        memcpy(o->q[h][s][2][r], b->qh + 32 * h + 4 * s, 4);
                    }
            }
        }
}

/* Q5_K's packed "hi" values (the high-nibble sub-block of pair p) keep bits 2-4 in their qs byte; bits 0-1 of value j
 * (of 4) sit at bits (8j + 3 + 2p) mod 32 and (8j + 4 + 2p) mod 32 of the qh word, where a 32-bit rotate right by 2p
 * brings them to bits 3-4 of byte j */
static int q5_Kx16_qh_bit(int p, int j, int b) { return (8 * j + 3 + 2 * p + b) % 32; }

/* The 5-bit value of element e of row r of a packed Q5_K super-block */
static int q5_Kx16_value(const block_q5_Kx16 *b, int e, int r) {
    const int p = e / 64, l = e % 32, s = l / 4, j = l % 4;
    const int q = b->qs[p][s][r][j];
    if (e % 64 < 32) return q & 0x1f;
    int low2 = 0;
    for (int bit = 0; bit < 2; bit++) {
        const int at = q5_Kx16_qh_bit(p, j, bit);
        low2 |= ((b->qh[s][r][at / 8] >> (at % 8)) & 1) << bit;
    }
    return (q >> 5) << 2 | low2;
}

static void pack_q5_K(void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1) {
    const int64_t nb = n_cols / QK_K;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t i = 0; i < nb; i++) {
            block_q5_Kx16 *o = (block_q5_Kx16 *)dst + g * nb + i;
            for (int r = 0; r < PMX_PACK_ROWS; r++) {
                const block_q5_K *b = (const block_q5_K *)w + (g * PMX_PACK_ROWS + r) * nb + i;
                o->d[r] = b->d;
                o->dmin[r] = b->dmin;
                for (int j = 0; j < QK_K / 32; j++) pmx_get_scale_min_k4(j, b->scales, &o->sc[j][r], &o->m[j][r]);
                for (int s = 0; s < 8; s++) memset(o->qh[s][r], 0, 4);
                for (int p = 0; p < 4; p++)
                    for (int l = 0; l < 32; l++) { /* ggml: element 64p + 32 half + l, nibble half of qs[32p + l], bit 2p + half of qh[l] */
                        const int lo = (b->qs[32 * p + l] & 0xf) | ((b->qh[l] >> (2 * p)) & 1) << 4;
                        const int hi = (b->qs[32 * p + l] >> 4) | ((b->qh[l] >> (2 * p + 1)) & 1) << 4;
                        const int s = l / 4, j = l % 4;
                        o->qs[p][s][r][j] = (uint8_t)(lo | (hi >> 2) << 5);
                        for (int bit = 0; bit < 2; bit++) {
                            const int at = q5_Kx16_qh_bit(p, j, bit);
                            o->qh[s][r][at / 8] |= (uint8_t)(((hi >> bit) & 1) << (at % 8));
                        }
                    }
            }
        }
}

/* The unsigned 3-bit value (q + 4) of element e of row r of a packed Q3_K super-block */
static int q3_Kx16_value(const block_q3_Kx16 *b, int e, int r) {
    const int sub = e / 16, h = sub / 8, m = sub % 8, s = (e % 16) / 4, k = e % 4;
    const uint8_t *v[3] = {&b->q[h][s][0][r][k], &b->q[h][s][1][r][k], &b->q[h][s][2][r][k]};
    return m < 3   ? *v[m] & 7
           : m < 6 ? *v[m - 3] >> 5
           : m == 6 ? ((*v[0] >> 3) & 3) | ((*v[2] >> 3) & 1) << 2
                    : ((*v[1] >> 3) & 3) | ((*v[2] >> 4) & 1) << 2;
}

static void pack_q3_K(void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1) {
    const int64_t nb = n_cols / QK_K;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t i = 0; i < nb; i++) {
            block_q3_Kx16 *o = (block_q3_Kx16 *)dst + g * nb + i;
            for (int r = 0; r < PMX_PACK_ROWS; r++) {
                const block_q3_K *b = (const block_q3_K *)w + (g * PMX_PACK_ROWS + r) * nb + i;
                int8_t sc[QK_K / 16];
                pmx_q3_K_scales_unpack(b->scales, sc);
                o->d[r] = b->d;
                for (int j = 0; j < QK_K / 16; j++) o->sc[j][r] = sc[j];
                for (int h = 0; h < 2; h++)
                    for (int s = 0; s < 4; s++)
                        for (int k = 0; k < 4; k++) {
                            int u[8]; /* ggml: element 128n + 32k' + l is bits 2k'..2k'+1 of qs[32n + l], + 4 when bit 4n + k' of hmask[l] */
                            for (int m = 0; m < 8; m++) {
                                const int e = 16 * (8 * h + m) + 4 * s + k, n = e / 128, kk = (e % 128) / 32, l = e % 32;
                                u[m] = ((b->qs[32 * n + l] >> (2 * kk)) & 3) | ((b->hmask[l] >> (4 * n + kk)) & 1) << 2;
                            }
                            o->q[h][s][0][r][k] = (uint8_t)(u[0] | (u[6] & 3) << 3 | u[3] << 5);
                            o->q[h][s][1][r][k] = (uint8_t)(u[1] | (u[7] & 3) << 3 | u[4] << 5);
                            o->q[h][s][2][r][k] = (uint8_t)(u[2] | (u[6] >> 2) << 3 | (u[7] >> 2) << 4 | u[5] << 5);
                        }
            }
        }
}

static void pack_q2_K(void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1) {
    const int64_t nb = n_cols / QK_K;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t i = 0; i < nb; i++) {
            block_q2_Kx16 *o = (block_q2_Kx16 *)dst + g * nb + i;
            for (int r = 0; r < PMX_PACK_ROWS; r++) {
                const block_q2_K *b = (const block_q2_K *)w + (g * PMX_PACK_ROWS + r) * nb + i;
                o->d[r] = b->d;
                o->dmin[r] = b->dmin;
                for (int j = 0; j < QK_K / 16; j++) o->sc[j][r] = b->scales[j];
                for (int n = 0; n < 2; n++)
                    for (int s = 0; s < 8; s++) memcpy(o->qs[n][s][r], b->qs + 32 * n + 4 * s, 4);
            }
        }
}

static void pack_iq4_xs(void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1) {
    const int64_t nb = n_cols / QK_K;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t i = 0; i < nb; i++) {
            block_iq4_xsx16 *o = (block_iq4_xsx16 *)dst + g * nb + i;
            for (int r = 0; r < PMX_PACK_ROWS; r++) {
                const block_iq4_xs *b = (const block_iq4_xs *)w + (g * PMX_PACK_ROWS + r) * nb + i;
                o->d[r] = b->d;
                for (int j = 0; j < QK_K / 32; j++) {
                    o->sc[j][r] = (int8_t)(pmx_iq4_xs_scale(b, j) - 32);
                    for (int s = 0; s < 4; s++) memcpy(o->qs[j][s][r], b->qs + 16 * j + 4 * s, 4);
                }
            }
        }
}

/* Q4_1 and Q5_1: Q4_0's layout with the minimums; Q5_1's 32 fifth bits rearranged so that step s finds the bits of
 * its 4 low-nibble elements at bit s of their bytes and of its 4 high-nibble ones at bit 4 + s (one shift per step) */
static void pack_qx_1(void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1, const int five) {
    const int64_t nb = n_cols / QK4_1;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t i = 0; i < nb; i++)
            for (int r = 0; r < PMX_PACK_ROWS; r++) {
                const int64_t row_block = (g * PMX_PACK_ROWS + r) * nb + i;
                if (five) {
                    const block_q5_1 *b = (const block_q5_1 *)w + row_block;
                    block_q5_1x16 *o = (block_q5_1x16 *)dst + g * nb + i;
                    uint32_t qh;
                    memcpy(&qh, b->qh, 4);
                    o->d[r] = b->d;
                    o->m[r] = b->m;
                    for (int k = 0; k < 4; k++) {
                        uint8_t bits = 0;
                        for (int s = 0; s < 4; s++)
                            bits |= (uint8_t)(((qh >> (4 * s + k)) & 1) << s | ((qh >> (16 + 4 * s + k)) & 1) << (4 + s));
                        o->qh[r][k] = bits;
                    }
                    for (int s = 0; s < 4; s++) memcpy(o->qs[s][r], b->qs + 4 * s, 4);
                } else {
                    const block_q4_1 *b = (const block_q4_1 *)w + row_block;
                    block_q4_1x16 *o = (block_q4_1x16 *)dst + g * nb + i;
                    o->d[r] = b->d;
                    o->m[r] = b->m;
                    for (int s = 0; s < 4; s++) memcpy(o->qs[s][r], b->qs + 4 * s, 4);
                }
            }
}

/* F32: the group's 16 rows side by side per column, k-major (the float panels of the AVX2 GEMM, made once). */
static void pack_f32(void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; g++)
        for (int64_t k = 0; k < n_cols; k++)
            for (int r = 0; r < PMX_PACK_ROWS; r++)
                ((float *)dst)[(g * n_cols + k) * PMX_PACK_ROWS + r] = ((const float *)w)[(g * PMX_PACK_ROWS + r) * n_cols + k];
}

/* BF16: the group's 16 rows side by side per pair of columns (k, k + 1), each row's pair adjacent: one 64-byte vector
 * per pair, the operand of vdpbf16ps against a pair of activations broadcast. n_cols is even. */
static void pack_bf16(void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; g++)
        for (int64_t k = 0; k < n_cols; k++)
            for (int r = 0; r < PMX_PACK_ROWS; r++)
                ((pmx_bf16 *)dst)[g * n_cols * PMX_PACK_ROWS + (k / 2 * PMX_PACK_ROWS + r) * 2 + k % 2] =
                    ((const pmx_bf16 *)w)[(g * PMX_PACK_ROWS + r) * n_cols + k];
}

void pmx_ref_pack(int t, void *dst, const void *w, int64_t n_cols, int64_t g0, int64_t g1) {
    if (t == PMX_T_F32) {
        pack_f32(dst, w, n_cols, g0, g1);
        return;
    }
    if (t == PMX_T_BF16) {
        pack_bf16(dst, w, n_cols, g0, g1);
        return;
    }
    if (t == PMX_T_Q4_K) {
        pack_q4_K(dst, w, n_cols, g0, g1);
        return;
    }
    if (t == PMX_T_Q6_K) {
        pack_q6_K(dst, w, n_cols, g0, g1);
        return;
    }
    if (t == PMX_T_IQ4_XS) {
        pack_iq4_xs(dst, w, n_cols, g0, g1);
        return;
    }
    if (t == PMX_T_Q4_1 || t == PMX_T_Q5_1) {
        pack_qx_1(dst, w, n_cols, g0, g1, t == PMX_T_Q5_1);
        return;
    }
    if (t == PMX_T_Q5_K || t == PMX_T_Q3_K || t == PMX_T_Q2_K) {
        (t == PMX_T_Q5_K ? pack_q5_K : t == PMX_T_Q3_K ? pack_q3_K : pack_q2_K)(dst, w, n_cols, g0, g1);
        return;
    }
    const int64_t nb = n_cols / QK8_0;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t i = 0; i < nb; i++)
            if (t == PMX_T_Q4_0 || t == PMX_T_IQ4_NL) { /* the same block layout */
                block_q4_0x16 *o = (block_q4_0x16 *)dst + g * nb + i;
                for (int r = 0; r < PMX_PACK_ROWS; r++) {
                    const block_q4_0 *b = (const block_q4_0 *)w + (g * PMX_PACK_ROWS + r) * nb + i;
                    o->d[r] = b->d;
                    for (int s = 0; s < 4; s++) memcpy(o->qs[s][r], b->qs + 4 * s, 4);
                }
            } else {
                block_q8_0x16 *o = (block_q8_0x16 *)dst + g * nb + i;
                for (int r = 0; r < PMX_PACK_ROWS; r++) {
                    const block_q8_0 *b = (const block_q8_0 *)w + (g * PMX_PACK_ROWS + r) * nb + i;
                    o->d[r] = b->d;
                    for (int s = 0; s < 8; s++)
                        for (int j = 0; j < 4; j++) o->qs[s][r][j] = (uint8_t)b->qs[4 * s + j] ^ 0x80;
                }
            }
}

/* ggml's Q8_0 quants of each block, the scale widened to float, and -offset * sum(qs) (offset -1: sum(qs)). */
static void prepare_q8_0s(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1, int offset) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t i = 0; i < nb; i++) {
            block_q8_0 q;
            pmx_ref_quantize_row_q8_0(&q, x + b * n + i * QK8_0, QK8_0);
            block_q8_0s *o = (block_q8_0s *)xa + b * nb + i;
            int32_t sum = 0;
            for (int j = 0; j < QK8_0; j++) sum += q.qs[j];
            memcpy(o->qs, q.qs, QK8_0);
            o->d = pmx_half_to_f32(q.d);
            o->sum = -offset * sum;
        }
}
static void prepare_q4_0x16(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) { prepare_q8_0s(xa, x, n, b0, b1, 8); }
static void prepare_q8_0x16(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) { prepare_q8_0s(xa, x, n, b0, b1, 128); }
static void prepare_qx_1x16(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) { prepare_q8_0s(xa, x, n, b0, b1, -1); }

static int64_t act_row_bytes_q8_0s(int64_t n) { return n / QK8_0 * (int64_t)sizeof(block_q8_0s); }

/* Row r's term of one packed block against one activation block, as ref/matmul.c's dot products compute it. */
typedef double (*block_dot_fn)(const void *blk, const void *x, int r);

/* Rows [r0, r1) (whole groups) x batch columns: per row, the blocks' terms summed in double, as the reference does. */
static void packed_rows(block_dot_fn dot, int64_t bb, int64_t ab, int64_t nb, const void *w, const void *xa,
                        int64_t batch, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    for (int64_t g = r0 / PMX_PACK_ROWS; g < r1 / PMX_PACK_ROWS; g++)
        for (int64_t c = 0; c < batch; c++)
            for (int r = 0; r < PMX_PACK_ROWS; r++) {
                double s = 0;
                for (int64_t i = 0; i < nb; i++)
                    s += dot((const char *)w + (g * nb + i) * bb, (const char *)xa + (c * nb + i) * ab, r);
                y[c * ldy + g * PMX_PACK_ROWS + r] = (float)s;
            }
}

/* Q4_0 and Q8_0: the unsigned quants (nibble, q + 128) times the activations, plus their offset term x->sum. */
static double dot_q4_0x16(const void *blk, const void *xv, int r) {
    const block_q4_0x16 *b = blk;
    const block_q8_0s *x = xv;
    int32_t sumi = x->sum;
    for (int k = 0; k < QK8_0 / 2; k++) {
        const uint8_t v = b->qs[k / 4][r][k % 4];
        sumi += (v & 0x0f) * x->qs[k] + (v >> 4) * x->qs[k + QK8_0 / 2];
    }
    return (double)sumi * pmx_half_to_f32(b->d[r]) * x->d;
}

static double dot_q8_0x16(const void *blk, const void *xv, int r) {
    const block_q8_0x16 *b = blk;
    const block_q8_0s *x = xv;
    int32_t sumi = x->sum;
    for (int k = 0; k < QK8_0; k++) sumi += b->qs[k / 4][r][k % 4] * x->qs[k];
    return (double)sumi * pmx_half_to_f32(b->d[r]) * x->d;
}

/* As dot_q4_1 / dot_q5_1: d * dx * (q . a) + m * dx * sum(a), sum(a) in x->sum. */
static double dot_q4_1x16(const void *blk, const void *xv, int r) {
    const block_q4_1x16 *b = blk;
    const block_q8_0s *x = xv;
    int32_t sumi = 0;
    for (int k = 0; k < QK4_1 / 2; k++) {
        const uint8_t v = b->qs[k / 4][r][k % 4];
        sumi += (v & 0x0f) * x->qs[k] + (v >> 4) * x->qs[k + QK4_1 / 2];
    }
    return (double)sumi * pmx_half_to_f32(b->d[r]) * x->d + (double)x->sum * pmx_half_to_f32(b->m[r]) * x->d;
}

static double dot_q5_1x16(const void *blk, const void *xv, int r) {
    const block_q5_1x16 *b = blk;
    const block_q8_0s *x = xv;
    int32_t sumi = 0;
    for (int k = 0; k < QK5_1 / 2; k++) {
        const uint8_t v = b->qs[k / 4][r][k % 4], h = b->qh[r][k % 4];
        const int q0 = (v & 0x0f) | ((h >> (k / 4)) & 1) << 4, q1 = (v >> 4) | ((h >> (4 + k / 4)) & 1) << 4;
        sumi += q0 * x->qs[k] + q1 * x->qs[k + QK5_1 / 2];
    }
    return (double)sumi * pmx_half_to_f32(b->d[r]) * x->d + (double)x->sum * pmx_half_to_f32(b->m[r]) * x->d;
}

/* IQ4_NL: the levels + 128 times the activations, minus 128 * sum(qs) (x->sum), as dot_iq4_nl's integer sum. */
static double dot_iq4_nlx16(const void *blk, const void *xv, int r) {
    const block_iq4_nlx16 *b = blk;
    const block_q8_0s *x = xv;
    int32_t sumi = x->sum;
    for (int k = 0; k < QK8_0 / 2; k++) {
        const uint8_t v = b->qs[k / 4][r][k % 4];
        sumi += (pmx_kvalues_iq4nl[v & 0x0f] + 128) * x->qs[k] + (pmx_kvalues_iq4nl[v >> 4] + 128) * x->qs[k + QK8_0 / 2];
    }
    return (double)sumi * pmx_half_to_f32(b->d[r]) * x->d;
}

/* As dot_iq4_xs: each sub-block's integer sum times its scale ls - 32. */
static double dot_iq4_xsx16(const void *blk, const void *xv, int r) {
    const block_iq4_xsx16 *b = blk;
    const block_q8_K *x = xv;
    int32_t isum = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        int32_t dot = 0;
        for (int l = 0; l < 16; l++) {
            const uint8_t v = b->qs[j][l / 4][r][l % 4];
            dot += pmx_kvalues_iq4nl[v & 0x0f] * x->qs[32 * j + l] + pmx_kvalues_iq4nl[v >> 4] * x->qs[32 * j + 16 + l];
        }
        isum += b->sc[j][r] * dot;
    }
    return (double)pmx_half_to_f32(b->d[r]) * x->d * isum;
}

/* As dot_q4_K: the integer sums of each sub-block times its scale, the mins against the bsums. */
static double dot_q4_Kx16(const void *blk, const void *xv, int r) {
    const block_q4_Kx16 *b = blk;
    const block_q8_K *x = xv;
    int32_t isum = 0, imins = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        const int p = j / 2, shift = 4 * (j & 1);
        int32_t dot = 0;
        for (int l = 0; l < 32; l++) dot += ((b->qs[p][l / 4][r][l % 4] >> shift) & 0xF) * x->qs[32 * j + l];
        isum += b->sc[j][r] * dot;
        imins += b->m[j][r] * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
    }
    return (double)pmx_half_to_f32(b->d[r]) * x->d * isum - (double)pmx_half_to_f32(b->dmin[r]) * x->d * imins;
}

/* As dot_q5_K: dot_q4_Kx16's sums over the 5-bit values */
static double dot_q5_Kx16(const void *blk, const void *xv, int r) {
    const block_q5_Kx16 *b = blk;
    const block_q8_K *x = xv;
    int32_t isum = 0, imins = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        int32_t dot = 0;
        for (int l = 0; l < 32; l++) dot += q5_Kx16_value(b, 32 * j + l, r) * x->qs[32 * j + l];
        isum += b->sc[j][r] * dot;
        imins += b->m[j][r] * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
    }
    return (double)pmx_half_to_f32(b->d[r]) * x->d * isum - (double)pmx_half_to_f32(b->dmin[r]) * x->d * imins;
}

/* As dot_q3_K / dot_q2_K: sub-block j's 16 values, each q - 4 */
static double dot_q3_Kx16(const void *blk, const void *xv, int r) {
    const block_q3_Kx16 *b = blk;
    const block_q8_K *x = xv;
    int32_t isum = 0;
    for (int j = 0; j < QK_K / 16; j++) {
        int32_t dot = 0;
        for (int l = 0; l < 16; l++) dot += (q3_Kx16_value(b, 16 * j + l, r) - 4) * x->qs[16 * j + l];
        isum += b->sc[j][r] * dot;
    }
    return (double)pmx_half_to_f32(b->d[r]) * x->d * isum;
}

static double dot_q2_Kx16(const void *blk, const void *xv, int r) {
    const block_q2_Kx16 *b = blk;
    const block_q8_K *x = xv;
    int32_t isum = 0, imins = 0;
    for (int j = 0; j < QK_K / 16; j++) {
        const int n = j / 8, k = (j % 8) / 2;
        int32_t dot = 0;
        for (int l = 0; l < 16; l++) {
            const int m = 16 * (j % 2) + l;
            dot += ((b->qs[n][m / 4][r][m % 4] >> (2 * k)) & 3) * x->qs[16 * j + l];
        }
        isum += (b->sc[j][r] & 0xF) * dot;
        imins += (b->sc[j][r] >> 4) * x->bsums[j];
    }
    return (double)pmx_half_to_f32(b->d[r]) * x->d * isum - (double)pmx_half_to_f32(b->dmin[r]) * x->d * imins;
}

/* As dot_q6_K: value 32k + l of half h is the (k >> 1) nibble of ql[64h + 32(k & 1) + l] with bits 2k..2k+1 of
 * qh[32h + l] on top, minus 32; its scale is sub-block 8h + 2k + l / 16. */
static double dot_q6_Kx16(const void *blk, const void *xv, int r) {
    const block_q6_Kx16 *b = blk;
    const block_q8_K *x = xv;
    int32_t isum = 0;
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int half16 = 0; half16 < 2; half16++) {
                int32_t dot = 0;
                for (int l = 16 * half16; l < 16 * half16 + 16; l++) {
                    const int lo = (b->q[h][l / 4][k & 1][r][l % 4] >> (4 * (k >> 1))) & 0xF;
                    const int q = (lo | (((b->q[h][l / 4][2][r][l % 4] >> (2 * k)) & 3) << 4)) - 32;
                    dot += q * x->qs[128 * h + 32 * k + l];
                }
                isum += b->sc[8 * h + 2 * k + half16][r] * dot;
            }
    return (double)pmx_half_to_f32(b->d[r]) * x->d * isum;
}

/* F32: a block is one column of the group's 16 rows against one float, summed in double as ref/matmul.c's dot_f32. */
static double dot_f32x16(const void *blk, const void *xv, int r) {
    return (double)((const float *)blk)[r] * *(const float *)xv;
}

#define PACKED_MATMUL(name, blk_t, act_t, qk)                                                                    \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,   \
                              int64_t r0, int64_t r1) {                                                        \
        packed_rows(dot_##name, sizeof(blk_t), sizeof(act_t), n / (qk), w, xa, batch, y, ldy, r0, r1);           \
    }
PACKED_MATMUL(f32x16, float[PMX_PACK_ROWS], float, 1)
PACKED_MATMUL(q4_0x16, block_q4_0x16, block_q8_0s, QK8_0)
PACKED_MATMUL(q8_0x16, block_q8_0x16, block_q8_0s, QK8_0)
PACKED_MATMUL(q4_Kx16, block_q4_Kx16, block_q8_K, QK_K)
PACKED_MATMUL(q6_Kx16, block_q6_Kx16, block_q8_K, QK_K)
PACKED_MATMUL(iq4_nlx16, block_iq4_nlx16, block_q8_0s, QK8_0)
PACKED_MATMUL(iq4_xsx16, block_iq4_xsx16, block_q8_K, QK_K)
PACKED_MATMUL(q5_Kx16, block_q5_Kx16, block_q8_K, QK_K)
PACKED_MATMUL(q3_Kx16, block_q3_Kx16, block_q8_K, QK_K)
PACKED_MATMUL(q2_Kx16, block_q2_Kx16, block_q8_K, QK_K)
PACKED_MATMUL(q4_1x16, block_q4_1x16, block_q8_0s, QK4_1)
PACKED_MATMUL(q5_1x16, block_q5_1x16, block_q8_0s, QK5_1)

/* BF16: activations as BF16 rows (n values, 2 bytes each: what vdpbf16ps reads), each product summed in double in k
 * order as ref/matmul.c's dot_bf16 sums them: the same bits as pmx_matmul's reference. */
static void prepare_bf16x16(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    for (int64_t i = b0 * n; i < b1 * n; i++) ((pmx_bf16 *)xa)[i] = pmx_f32_to_bf16(x[i]);
}
static int64_t act_row_bytes_bf16x16(int64_t n) { return n * (int64_t)sizeof(pmx_bf16); }
static void matmul_bf16x16(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                           int64_t r1) {
    const pmx_bf16 *wp = w, *x = xa;
    for (int64_t g = r0 / PMX_PACK_ROWS; g < r1 / PMX_PACK_ROWS; g++)
        for (int64_t c = 0; c < batch; c++)
            for (int r = 0; r < PMX_PACK_ROWS; r++) {
                double s = 0;
                for (int64_t k = 0; k < n; k++)
                    s += (double)pmx_bf16_to_f32(wp[g * n * PMX_PACK_ROWS + (k / 2 * PMX_PACK_ROWS + r) * 2 + k % 2]) *
                         pmx_bf16_to_f32(x[c * n + k]);
                y[c * ldy + g * PMX_PACK_ROWS + r] = (float)s;
            }
}

/* After pmx_ref_register_matmul: the K-quants' packed kernels read the activations their standard kernels' prepare
 * writes. */
void pmx_ref_register_packed(pmx_kernels *k) {
    k->packed[PMX_T_Q6_K] = (pmx_matmul_kernel){k->matmul[PMX_T_Q6_K].prepare, matmul_q6_Kx16, NULL};
    k->packed[PMX_T_Q4_K] = (pmx_matmul_kernel){k->matmul[PMX_T_Q4_K].prepare, matmul_q4_Kx16, NULL};
    k->packed[PMX_T_Q4_0] = (pmx_matmul_kernel){prepare_q4_0x16, matmul_q4_0x16, act_row_bytes_q8_0s};
    k->packed[PMX_T_Q8_0] = (pmx_matmul_kernel){prepare_q8_0x16, matmul_q8_0x16, act_row_bytes_q8_0s};
    k->packed[PMX_T_IQ4_XS] = (pmx_matmul_kernel){k->matmul[PMX_T_IQ4_XS].prepare, matmul_iq4_xsx16, NULL};
    k->packed[PMX_T_Q5_K] = (pmx_matmul_kernel){k->matmul[PMX_T_Q5_K].prepare, matmul_q5_Kx16, NULL};
    k->packed[PMX_T_Q3_K] = (pmx_matmul_kernel){k->matmul[PMX_T_Q3_K].prepare, matmul_q3_Kx16, NULL};
    k->packed[PMX_T_Q2_K] = (pmx_matmul_kernel){k->matmul[PMX_T_Q2_K].prepare, matmul_q2_Kx16, NULL};
    k->packed[PMX_T_Q4_1] = (pmx_matmul_kernel){prepare_qx_1x16, matmul_q4_1x16, act_row_bytes_q8_0s};
    k->packed[PMX_T_Q5_1] = (pmx_matmul_kernel){prepare_qx_1x16, matmul_q5_1x16, act_row_bytes_q8_0s};
    k->packed[PMX_T_IQ4_NL] = (pmx_matmul_kernel){prepare_q8_0x16, matmul_iq4_nlx16, act_row_bytes_q8_0s};
    k->packed[PMX_T_F32] = (pmx_matmul_kernel){NULL, matmul_f32x16, NULL}; /* the activations as they are */
    k->packed[PMX_T_BF16] = (pmx_matmul_kernel){prepare_bf16x16, matmul_bf16x16, act_row_bytes_bf16x16};
}
