/* AVX-512 VNNI kernels for the interleaved (packed) Q4_0/Q8_0 layouts: each vpdpbusd multiplies 4 consecutive quants of
 * 16 weight rows (one 64-byte load) by 4 activation quants broadcast to every lane, so its 16 int32 lanes are the 16
 * rows' partial dot products: no horizontal sums, one convert and one FMA per block for 16 rows, and one contiguous
 * weight stream per 16 rows. A tile is 16 rows x up to 4 activation columns; the weights' unpacking is shared by them. */
#include "avx512.h"
#include "simd.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")
enum { COLS = 4 };

AI __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Block i of a 16-row group against C activation columns, added to acc[c] (16 rows' sums each). */
AI void q4_0_block(const block_q4_0x16 *b, const char *xa, int64_t xb, int64_t i, __m512 acc[COLS], const int C) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512i lo[4], hi[4];
    UNROLL for (int s = 0; s < 4; s++) {
        const __m512i v = _mm512_loadu_si512((const void *)b->qs[s]);
        lo[s] = _mm512_and_si512(v, m4);
        hi[s] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d));
    UNROLL for (int c = 0; c < C; c++) {
        const block_q8_0s *x = (const block_q8_0s *)(xa + c * xb) + i;
        /* two chains (low and high nibbles) so that no dpbusd waits on the one before it */
        __m512i s0 = _mm512_set1_epi32(x->sum), s1 = _mm512_setzero_si512();
        UNROLL for (int s = 0; s < 4; s++) {
            s0 = _mm512_dpbusd_epi32(s0, lo[s], bcast4(x->qs + 4 * s));
            s1 = _mm512_dpbusd_epi32(s1, hi[s], bcast4(x->qs + 16 + 4 * s));
        }
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_mul_ps(dw, _mm512_set1_ps(x->d)), acc[c]);
    }
}

AI void q8_0_block(const block_q8_0x16 *b, const char *xa, int64_t xb, int64_t i, __m512 acc[COLS], const int C) {
    __m512i q[8];
    UNROLL for (int s = 0; s < 8; s++) q[s] = _mm512_loadu_si512((const void *)b->qs[s]);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d));
    UNROLL for (int c = 0; c < C; c++) {
        const block_q8_0s *x = (const block_q8_0s *)(xa + c * xb) + i;
        __m512i s0 = _mm512_set1_epi32(x->sum), s1 = _mm512_setzero_si512();
        UNROLL for (int s = 0; s < 8; s += 2) {
            s0 = _mm512_dpbusd_epi32(s0, q[s], bcast4(x->qs + 4 * s));
            s1 = _mm512_dpbusd_epi32(s1, q[s + 1], bcast4(x->qs + 4 * s + 4));
        }
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_mul_ps(dw, _mm512_set1_ps(x->d)), acc[c]);
    }
}

/* One group of 16 rows (its nb blocks from g) against columns [0, C). The hardware prefetcher follows the one stream;
 * a software hint 1 KB ahead covers the start of the next group's run. */
AI void group_tile(const char *g, int64_t nb, const char *xa, int64_t xb, float *y, int64_t ldy, const int C,
                   const int t) {
    __m512 acc[COLS];
    UNROLL for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_ps();
    const int64_t bb = t == PMX_T_Q4_0 ? (int64_t)sizeof(block_q4_0x16) : (int64_t)sizeof(block_q8_0x16);
    for (int64_t i = 0; i < nb; i++) {
        const char *blk = g + i * bb;
        UNROLL for (int64_t o = 0; o < bb; o += 64) _mm_prefetch(blk + 1024 + o, _MM_HINT_T0);
        if (t == PMX_T_Q4_0) q4_0_block((const block_q4_0x16 *)blk, xa, xb, i, acc, C);
        else q8_0_block((const block_q8_0x16 *)blk, xa, xb, i, acc, C);
    }
    UNROLL for (int c = 0; c < C; c++) _mm512_storeu_ps(y + c * ldy, acc[c]);
}

typedef void (*group_fn)(const char *g, int64_t nb, const char *xa, int64_t xb, float *y, int64_t ldy);
#define GROUP_FNS(name, T)                                                                                       \
    static void name##_1(const char *g, int64_t nb, const char *xa, int64_t xb, float *y, int64_t ldy) {        \
        group_tile(g, nb, xa, xb, y, ldy, 1, T);                                                                 \
    }                                                                                                            \
    static void name##_2(const char *g, int64_t nb, const char *xa, int64_t xb, float *y, int64_t ldy) {        \
        group_tile(g, nb, xa, xb, y, ldy, 2, T);                                                                 \
    }                                                                                                            \
    static void name##_3(const char *g, int64_t nb, const char *xa, int64_t xb, float *y, int64_t ldy) {        \
        group_tile(g, nb, xa, xb, y, ldy, 3, T);                                                                 \
    }                                                                                                            \
    static void name##_4(const char *g, int64_t nb, const char *xa, int64_t xb, float *y, int64_t ldy) {        \
        group_tile(g, nb, xa, xb, y, ldy, 4, T);                                                                 \
    }                                                                                                            \
    static const group_fn name##_tiles[COLS] = {name##_1, name##_2, name##_3, name##_4};
GROUP_FNS(q4_0x16, PMX_T_Q4_0)
GROUP_FNS(q8_0x16, PMX_T_Q8_0)

static void run_groups(const group_fn tiles[COLS], int64_t bb, const void *w, int64_t n, const void *xa, int64_t batch,
                       float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t nb = n / QK8_0, xb = nb * (int64_t)sizeof(block_q8_0s);
    for (int64_t r = r0; r < r1; r += PMX_PACK_ROWS) {
        const char *g = (const char *)w + r / PMX_PACK_ROWS * nb * bb;
        for (int64_t c = 0; c < batch; c += COLS) {
            const int C = batch - c < COLS ? (int)(batch - c) : COLS;
            tiles[C - 1](g, nb, (const char *)xa + c * xb, xb, y + c * ldy + r, ldy);
        }
    }
}

static void matmul_q4_0x16(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                           int64_t r1) {
    run_groups(q4_0x16_tiles, sizeof(block_q4_0x16), w, n, xa, batch, y, ldy, r0, r1);
}
static void matmul_q8_0x16(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                           int64_t r1) {
    run_groups(q8_0x16_tiles, sizeof(block_q8_0x16), w, n, xa, batch, y, ldy, r0, r1);
}

/* VNNI only: without it the biased Q8_0 quants (up to 255) would saturate maddubs' int16 pair sums. The prepare
 * stays the reference's (ggml's quants; once per activation row). */
void pmx_avx512_register_packed(pmx_kernels *k) {
    if (!pmx_avx512_vnni()) return;
    k->packed[PMX_T_Q4_0].matmul = matmul_q4_0x16;
    k->packed[PMX_T_Q8_0].matmul = matmul_q8_0x16;
    k->packed_preferred[PMX_T_Q4_0] = k->packed_preferred[PMX_T_Q8_0] = 1;
}
