/* AVX-512 matmul: register tiles of R weight rows x C activation columns (GEMV 4 x 1, GEMM up to 4 x 4) on zmm.
 * Q8_0 uses vpdpbusd when the CPU has AVX512_VNNI, maddubs/madd otherwise; activations are the standard blocks
 * written by the AVX2 prepare functions. Which of these replace the AVX2 kernels: see pmx_avx512_register_matmul. */
#include <stdlib.h>
#include <string.h>
#include "avx512.h"
#include "panamax.h"
#include "simd.h"
#include "../avx2/avx2.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 4")
/* Prefetch distance: each row of an R-row tile fetches the same offset of row r + R (the next tile), as the
 * AVX2 file does; a fixed in-row distance left the start of every row but the tile's first unfetched. */
#define PF_AHEAD(R, rb) ((int64_t)(R) * (rb))

AI float h2f(pmx_half h) { return _cvtsh_ss(h); }

/* 16 floats: a in lanes 0..7, b in lanes 8..15 (the scales of two 32-wide blocks sharing a register) */
AI __m512 bcast2(float a, float b) { return _mm512_mask_blend_ps((__mmask16)0xff00, _mm512_set1_ps(a), _mm512_set1_ps(b)); }

AI __m512i cat256(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

AI __m512i zext128(__m128i v) { return _mm512_inserti32x4(_mm512_setzero_si512(), v, 0); }

/* ---- tile driver (as in the AVX2 file) ---- */

typedef void (*tile_fn)(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy);

static void run_tiles(const tile_fn t[4][4], int rt, int ct, const void *w, int64_t rb, const void *xa, int64_t xb,
                      int64_t n, int64_t batch, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r += rt) {
        const int R = r1 - r < rt ? (int)(r1 - r) : rt;
        for (int64_t c = 0; c < batch; c += ct) {
            const int C = batch - c < ct ? (int)(batch - c) : ct;
            t[R - 1][C - 1]((const char *)w + r * rb, rb, (const char *)xa + c * xb, xb, n, y + c * ldy + r, ldy);
        }
    }
}

#define TILES(name)                                                                                              \
    TILE_1(name, 1) TILE_1(name, 2) TILE_1(name, 3) TILE_1(name, 4)                                              \
    static const tile_fn name##_tiles[4][4] = {                                                                  \
        {name##_1_1, name##_1_2, name##_1_3, name##_1_4}, {name##_2_1, name##_2_2, name##_2_3, name##_2_4},      \
        {name##_3_1, name##_3_2, name##_3_3, name##_3_4}, {name##_4_1, name##_4_2, name##_4_3, name##_4_4}};
#define TILE_1(name, R) TILE_RC(name, R, 1) TILE_RC(name, R, 2) TILE_RC(name, R, 3) TILE_RC(name, R, 4)
#define TILE_RC(name, R, C)                                                                                      \
    static void name##_##R##_##C(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y,     \
                                 int64_t ldy) {                                                                  \
        name##_tile(w, rb, xa, xb, n, y, ldy, R, C);                                                             \
    }

/* The tile's R x C sums reduced together (acc[r][c] is vector r * C + c), each in pmx_mm512_reduce_add_ps's order:
 * a column of a wider tile equals the one-column tile's bit for bit, so a verify row gets a decode row's logits. */
AI void store_tile(__m512 acc[4][4], float *y, int64_t ldy, const int R, const int C) {
    __m512 v[16];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) v[r * C + c] = acc[r][c];
    float s[16];
    _mm512_storeu_ps(s, pmx_mm512_reduce_add_16(v, R * C));
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] = s[pmx_reduce_lane(r * C + c)];
}

/* ---- float weights ---- */

enum { W_F32, W_F16, W_BF16 };

AI __m512 load_w16(const char *p, const int kind) {
    if (kind == W_F32) return _mm512_loadu_ps((const float *)p);
    const __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (kind == W_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AI float load_w1(const char *p, const int kind) {
    if (kind == W_F32) return *(const float *)p;
    if (kind == W_F16) return h2f(*(const pmx_half *)p);
    return pmx_bf16_to_f32(*(const pmx_bf16 *)p);
}

AI void float_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                   const int R, const int C, const int kind) {
    const int es = kind == W_F32 ? 4 : 2;
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 wv[4];
        UNROLL for (int r = 0; r < R; r++) {
            _mm_prefetch(w + r * rb + k * es + PF_AHEAD(R, rb), _MM_HINT_T0);
            wv[r] = load_w16(w + r * rb + k * es, kind);
        }
        UNROLL for (int c = 0; c < C; c++) {
            const __m512 xv = _mm512_loadu_ps((const float *)(xa + c * xb) + k);
            UNROLL for (int r = 0; r < R; r++) acc[r][c] = _mm512_fmadd_ps(wv[r], xv, acc[r][c]);
        }
    }
    store_tile(acc, y, ldy, R, C);
    for (; k < n; k++)
        UNROLL for (int r = 0; r < R; r++) {
            const float wk = load_w1(w + r * rb + k * es, kind);
            UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] += wk * ((const float *)(xa + c * xb))[k];
        }
}

#define f32_tile(w, rb, xa, xb, n, y, ldy, R, C) float_tile(w, rb, xa, xb, n, y, ldy, R, C, W_F32)
#define f16_tile(w, rb, xa, xb, n, y, ldy, R, C) float_tile(w, rb, xa, xb, n, y, ldy, R, C, W_F16)
#define bf16_tile(w, rb, xa, xb, n, y, ldy, R, C) float_tile(w, rb, xa, xb, n, y, ldy, R, C, W_BF16)
TILES(f32)
TILES(f16)
TILES(bf16)

/* ---- Q8_0, Q4_0 and Q5_0 weights against Q8_0 activations, two blocks per zmm ---- */

/* u8 x s8 products summed in groups of 4 onto acc. Without VNNI, maddubs saturates its int16 pair sums, which
 * the callers keep out of reach (|u| <= 128 with |s| <= 127). */
AI __m512i dot_u8s8(__m512i acc, __m512i u, __m512i s, const int vnni) {
    if (vnni) return _mm512_dpbusd_epi32(acc, u, s);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
}

/* Activation qs of blocks i and i+1 (i+1 zeroed when absent) */
AI __m512i load_x2(const block_q8_0 *x, int64_t i, int two) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)x[i].qs);
    return two ? cat256(a, _mm256_loadu_si256((const __m256i *)x[i + 1].qs)) : _mm512_inserti64x4(_mm512_setzero_si512(), a, 0);
}

/* Weights of blocks i and i+1 as unsigned bytes, in element order. With VNNI: q ^ 0x80 = q + 128 (the offset 128
 * taken off through the activation sums); without: |q|, the sign moving onto the activations (wneg). */
AI __m512i load_w2(const char *row, int64_t i, int two, const int vnni, __mmask64 *wneg, float *d0, float *d1) {
    const block_q8_0 *b = (const block_q8_0 *)row + i;
    *d0 = h2f(b[0].d);
    *d1 = two ? h2f(b[1].d) : 0.0f;
    const __m512i q = load_x2(b, 0, two);
    if (vnni) return _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80));
    *wneg = _mm512_movepi8_mask(q);
    return _mm512_abs_epi8(q);
}

AI void q8_0_tile_kind(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                       const int R, const int C, const int vnni) {
    const int64_t nb = n / QK8_0, wbs = (int64_t)sizeof(block_q8_0);
    /* on VNNI the weights are offset by +128: subtract 128 * sum(x) */
    const int offset_shift = 7, use_offset = vnni;
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        const int two = i + 1 < nb;
        __m512i wu[4];
        __m512 wd[4];
        __mmask64 wneg[4] = {0, 0, 0, 0};
        UNROLL for (int r = 0; r < R; r++) {
            float d0, d1;
            _mm_prefetch(w + r * rb + i * wbs + PF_AHEAD(R, rb), _MM_HINT_T0);
            wu[r] = load_w2(w + r * rb, i, two, vnni, &wneg[r], &d0, &d1);
            wd[r] = bcast2(d0, d1);
        }
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_0 *xbk = (const block_q8_0 *)(xa + c * xb);
            const __m512i xq = load_x2(xbk, i, two);
            const __m512 xd = bcast2(h2f(xbk[i].d), two ? h2f(xbk[i + 1].d) : 0.0f);
            __m512i init = _mm512_setzero_si512();
            if (use_offset) {
                const __m512i sx = dot_u8s8(_mm512_setzero_si512(), _mm512_set1_epi8(1), xq, vnni);
                init = _mm512_sub_epi32(init, _mm512_slli_epi32(sx, offset_shift));
            }
            UNROLL for (int r = 0; r < R; r++) {
                const __m512i xs = use_offset ? xq : _mm512_mask_sub_epi8(xq, wneg[r], _mm512_setzero_si512(), xq);
                const __m512 s = _mm512_cvtepi32_ps(dot_u8s8(init, wu[r], xs, vnni));
                acc[r][c] = _mm512_fmadd_ps(s, _mm512_mul_ps(wd[r], xd), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}

#define q8_0_tile(w, rb, xa, xb, n, y, ldy, R, C) q8_0_tile_kind(w, rb, xa, xb, n, y, ldy, R, C, 0)
#define q8_0v_tile(w, rb, xa, xb, n, y, ldy, R, C) q8_0_tile_kind(w, rb, xa, xb, n, y, ldy, R, C, 1)
TILES(q8_0)
TILES(q8_0v)

/* ---- K-quants. Sub-block scales multiply the int16 pair sums inside madd_epi16 for free; vpdpbusd would
 * leave int32 sums needing a separate multiply per sub-block, so these use maddubs/madd with or without VNNI. */

AI void q4k_scales(const uint8_t *s, uint8_t out[16]) {
    uint32_t u[4];
    memcpy(u, s, 12);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
    const uint32_t mins_lo = u[1] & m1;
    u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
    u[2] = mins_lo;
    u[0] &= m1;
    memcpy(out, u, 16);
}

AI void q4_K_tile(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy,
                  const int R, const int C) {
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sm[4][16];
        __m512i isum[4][4];
        __m128i mins[4];
        UNROLL for (int r = 0; r < R; r++) {
            const block_q4_K *b = (const block_q4_K *)(w + r * rb) + i;
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb), _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb) + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)b + PF_AHEAD(R, rb) + 128, _MM_HINT_T0);
            q4k_scales(b->scales, sm[r]);
            mins[r] = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(sm[r] + 8)));
            UNROLL for (int c = 0; c < C; c++) isum[r][c] = _mm512_setzero_si512();
        }
        for (int j = 0; j < QK_K / 64; j++) {
            __m512i q[4], sc[4];
            UNROLL for (int r = 0; r < R; r++) {
                const block_q4_K *b = (const block_q4_K *)(w + r * rb) + i;
                const __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * j));
                q[r] = cat256(_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
                sc[r] = _mm512_mask_blend_epi16(0xffff0000u, _mm512_set1_epi16(sm[r][2 * j]), _mm512_set1_epi16(sm[r][2 * j + 1]));
            }
            UNROLL for (int c = 0; c < C; c++) {
                const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
                const __m512i xv = _mm512_loadu_si512((const void *)(xk->qs + 64 * j));
                UNROLL for (int r = 0; r < R; r++)
                    isum[r][c] = _mm512_add_epi32(isum[r][c], _mm512_madd_epi16(_mm512_maddubs_epi16(q[r], xv), sc[r]));
            }
        }
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_K *xk = (const block_q8_K *)(xa + c * xb) + i;
            const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xk->bsums),
                                              _mm_loadu_si128((const __m128i *)(xk->bsums + 8)));
            UNROLL for (int r = 0; r < R; r++) {
                const block_q4_K *b = (const block_q4_K *)(w + r * rb) + i;
                const __m512i ms = zext128(_mm_madd_epi16(mins[r], bs));
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][c]), _mm512_set1_ps(h2f(b->d) * xk->d), acc[r][c]);
                acc[r][c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_set1_ps(h2f(b->dmin) * xk->d), acc[r][c]);
            }
        }
    }
    store_tile(acc, y, ldy, R, C);
}
TILES(q4_K)


/* ---- entry points ---- */

#define MATMUL(name, row_bytes, act_bytes)                                                                      \
    static void matmul_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,   \
                              int64_t r0, int64_t r1) {                                                        \
        run_tiles(name##_tiles, 4, batch == 1 ? 1 : 4, w, row_bytes, xa, act_bytes, n, batch, y, ldy, r0, r1); \
    }
#define Q8_0_ACT (n / QK8_0 * (int64_t)sizeof(block_q8_0))
#define Q8_K_ACT (n / QK_K * (int64_t)sizeof(block_q8_K))
MATMUL(f32, n * 4, n * 4)
MATMUL(f16, n * 2, n * 4)
MATMUL(bf16, n * 2, n * 4)
MATMUL(q8_0, Q8_0_ACT, Q8_0_ACT)
MATMUL(q8_0v, Q8_0_ACT, Q8_0_ACT)
MATMUL(q4_K, n / QK_K * (int64_t)sizeof(block_q4_K), Q8_K_ACT)

/* VNNI is chosen once here. The SIMDe-emulated test build reports no AVX-512 features at all, yet both paths
 * must be held against the reference there: PMX_EMU_VNNI=1 selects the VNNI path in that build only (a second
 * ctest registration sets it), and a real build listens to the CPU alone. */
int pmx_avx512_vnni(void) {
#ifdef PMX_SIMDE_AVX512
    const char *e = getenv("PMX_EMU_VNNI");
    return e && e[0] == '1';
#else
    return (pmx_cpu_features() & PMX_CPU_AVX512_VNNI) != 0;
#endif
}

/* The AVX2 kernels registered before this, kept where they measured faster. */
static pmx_matmul_fn avx2_gemv_q8_0, avx2_gemv_q4_K, zmm_q8_0;

/* Decode (batch 1) on the AVX2 GEMV, larger batches on the zmm tiles: both read the standard activation blocks. */
static void matmul_q8_0_mixed(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,
                              int64_t r0, int64_t r1) {
    (batch == 1 ? avx2_gemv_q8_0 : zmm_q8_0)(w, n, xa, batch, y, ldy, r0, r1);
}
static void matmul_q4_K_mixed(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,
                              int64_t r0, int64_t r1) {
    (batch == 1 ? avx2_gemv_q4_K : matmul_q4_K)(w, n, xa, batch, y, ldy, r0, r1);
}

/* Which kernel per type and batch, as measured on the one AVX-512 CPU we have run (AMD Zen 4, whose 512-bit ops issue
 * as two 256-bit halves; pmx_matmul, one thread, 5632 x 2048 weights, batch 4 / 16 / 128 in GFLOP/s, GEMV on 32768 x
 * 4096 in GB/s; AVX2 vs these zmm kernels):
 *   Q8_0 (VNNI)  GEMV 14.6 vs 13.0   batches 61 / 59 / 78 (float panels) vs 89 / 89 / 91   -> AVX2 GEMV, zmm otherwise
 *   Q4_K         GEMV 20.2 vs 13.6   batches 100 / 92 / 68 vs 110 / 108 / 101             -> AVX2 GEMV, zmm otherwise
 *   Q4_0         GEMV 21.1 vs 11.4   batches 97 / 137 / 94 vs 82 / 95 / 86                -> AVX2 throughout
 *   Q6_K         GEMV 22.4 vs 11.7   batches 119 / 114 / 103 vs 81 / 82 / 91              -> AVX2 throughout
 *   Q5_0         batches 98 / 79 vs 73 / 86 (4 / 16)                                       -> AVX2 throughout
 * The AVX2 Q4_0/Q5_0 kernels fold 8 blocks per int16 sum and read activations prepared in their order; these tiles
 * pay a scale broadcast and a convert per pair of blocks. Float types: zmm tiles, the AVX2 float-panel GEMM from
 * PMX_GEMM_MIN_BATCH. Without VNNI (not measured: no such CPU here) the same choice. */
void pmx_avx512_register_matmul(pmx_kernels *k) {
    const int vnni = pmx_avx512_vnni();
    k->matmul[PMX_T_F32].matmul = matmul_f32;
    k->matmul[PMX_T_F16].matmul = matmul_f16;
    k->matmul[PMX_T_BF16].matmul = matmul_bf16;
    avx2_gemv_q8_0 = k->matmul[PMX_T_Q8_0].matmul;
    avx2_gemv_q4_K = k->matmul[PMX_T_Q4_K].matmul;
    zmm_q8_0 = vnni ? matmul_q8_0v : matmul_q8_0;
    k->matmul[PMX_T_Q8_0].matmul = matmul_q8_0_mixed;
    k->matmul[PMX_T_Q4_K].matmul = matmul_q4_K_mixed;
    k->gemm[PMX_T_Q8_0] = (pmx_matmul_kernel){0};
}
