/* AVX-512 GEMM for F32 (and, below, BF16) weights packed at load (pmx_pack: 16 rows side by side per column, k-major: one zmm per k
 * and group of 16 rows). A tile is two groups (32 rows, two vectors per k) x up to 12 activation columns: 24
 * accumulators, each activation a broadcast from its float row, 2 loads + 12 broadcasts per 24 FMAs. AVX2's 16 x 6
 * tile of ymm (avx2/gemm.c) does half the work per FMA; on a core with 512-bit FMA pipes (Zen 5) this tile has twice
 * its peak, on one that splits a zmm FMA in two (Zen 4) the same.
 *
 * Blocking as avx2/gemm.c's packed_f32: columns in blocks of at most NB (their K chunk stays in L2), K in chunks of
 * KC (a pair of groups' chunk, 2 x 16 x KC floats, stays in L1 while the column tiles pass), y accumulating across K
 * chunks in place. Each output is the one chain of FMAs over k in order whatever its tile, column block, thread or
 * vector width: the same bits as the AVX2 kernels. */
#include <stdlib.h>
#include <string.h>
#include "avx512.h"
#include "panamax.h"
#include "simd.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 12")
#define UNROLL_G _Pragma("GCC unroll 2")

/* KC 128: a pair's chunk (16 KB) and a tile's activations (6 KB) take what AVX2's panel and tile do in L1 (at 256 they
 * would take 44 of Zen 5's 48 KB) */
enum { MR = PMX_PACK_ROWS, NR = 12, KC = 128, NB = 128 };

/* y[c * ldy + 16 g + i] (+)= sum over the chunk of panel_g[k * MR + i] * x[c * ldx + k] for G groups (panel_1 =
 * panel_0 + gstride) and C columns. first: start from 0, else from y. */
AI void tile(const float *panel, int64_t gstride, int64_t kc, const float *x, int64_t ldx, float *y, int64_t ldy,
             int first, const int G, const int C) {
    __m512 a[NR][2];
    UNROLL for (int c = 0; c < C; c++) UNROLL_G for (int g = 0; g < G; g++)
        a[c][g] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + c * ldy + MR * g);
    for (int64_t k = 0; k < kc; k++) {
        __m512 w[2];
        UNROLL_G for (int g = 0; g < G; g++) w[g] = _mm512_loadu_ps(panel + g * gstride + k * MR);
        UNROLL for (int c = 0; c < C; c++) {
            const __m512 xv = _mm512_set1_ps(x[c * ldx + k]);
            UNROLL_G for (int g = 0; g < G; g++) a[c][g] = _mm512_fmadd_ps(w[g], xv, a[c][g]);
        }
    }
    UNROLL for (int c = 0; c < C; c++) UNROLL_G for (int g = 0; g < G; g++) _mm512_storeu_ps(y + c * ldy + MR * g, a[c][g]);
}

typedef void (*tile_fn)(const float *panel, int64_t gstride, int64_t kc, const float *x, int64_t ldx, float *y,
                        int64_t ldy, int first);
#define TILE_GC(G, C)                                                                                            \
    static void tile_##G##_##C(const float *panel, int64_t gstride, int64_t kc, const float *x, int64_t ldx,      \
                               float *y, int64_t ldy, int first) {                                               \
        tile(panel, gstride, kc, x, ldx, y, ldy, first, G, C);                                                   \
    }
#define TILES_G(G)                                                                                               \
    TILE_GC(G, 1) TILE_GC(G, 2) TILE_GC(G, 3) TILE_GC(G, 4) TILE_GC(G, 5) TILE_GC(G, 6) TILE_GC(G, 7)            \
    TILE_GC(G, 8) TILE_GC(G, 9) TILE_GC(G, 10) TILE_GC(G, 11) TILE_GC(G, 12)
TILES_G(1) TILES_G(2)
static const tile_fn TILES[2][NR] = {
    {tile_1_1, tile_1_2, tile_1_3, tile_1_4, tile_1_5, tile_1_6, tile_1_7, tile_1_8, tile_1_9, tile_1_10, tile_1_11, tile_1_12},
    {tile_2_1, tile_2_2, tile_2_3, tile_2_4, tile_2_5, tile_2_6, tile_2_7, tile_2_8, tile_2_9, tile_2_10, tile_2_11, tile_2_12}};

/* Columns of the next tile when `left` remain: the fewest tiles of at most NR, of near-equal widths, so that no tail
 * tile of 1-3 columns runs on too few FMA chains to cover the FMA latency (37 columns: 10 + 9 + 9 + 9, not
 * 12 + 12 + 12 + 1). */
static inline int tile_cols(int64_t left) {
    const int64_t tiles = (left + NR - 1) / NR;
    return (int)((left + tiles - 1) / tiles);
}

/* Rows [r0, r1): whole groups of 16, taken in pairs (a range of an odd number of groups ends with a 16-row tile). */
static void packed_f32(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                       int64_t r1) {
    const float *x = xa, *wp = w;
    const int64_t gstride = n * MR;
    const int64_t n_blocks = (batch + NB - 1) / NB, cb = (batch + n_blocks - 1) / n_blocks;
    for (int64_t c0 = 0; c0 < batch; c0 += cb) {
        const int64_t c1 = c0 + cb < batch ? c0 + cb : batch;
        for (int64_t k0 = 0; k0 < n; k0 += KC) {
            const int64_t kc = n - k0 < KC ? n - k0 : KC;
            for (int64_t r = r0; r < r1; r += 2 * MR) {
                const int G = r1 - r >= 2 * MR ? 2 : 1;
                const float *panel = wp + r / MR * gstride + k0 * MR;
                for (int64_t c = c0; c < c1;) {
                    const int C = tile_cols(c1 - c);
                    TILES[G - 1][C - 1](panel, gstride, kc, x + c * n + k0, n, y + c * ldy + r, ldy, k0 == 0);
                    c += C;
                }
            }
        }
    }
}

/* ---- BF16 weights packed at load (pmx_pack: 16 rows side by side per pair of columns, one zmm per pair and group)
 * against activations rounded to BF16 (ggml's vec_dot_type for BF16): vdpbf16ps multiplies a group's 16 row pairs by
 * one activation pair broadcast and adds both products to the rows' F32 lanes, twice the F32 tile's multiply-adds per
 * instruction. The same 32 x 12 tiles, blocking and y accumulation as packed_f32; KC_BF16 columns per chunk keep a
 * pair of groups' chunk at the F32 panel's 16 KB. The sums are F32 in pairs, not the one chain of the reference, so
 * the outputs match it within float rounding (and vdpbf16ps treats denormal inputs and outputs as zero). */
enum { KC_BF16 = 2 * KC };

AI void tile_bf16(const pmx_bf16 *panel, int64_t gstride, int64_t kc, const pmx_bf16 *x, int64_t ldx, float *y,
                  int64_t ldy, int first, const int G, const int C) {
    __m512 a[NR][2];
    UNROLL for (int c = 0; c < C; c++) UNROLL_G for (int g = 0; g < G; g++)
        a[c][g] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + c * ldy + MR * g);
    for (int64_t k = 0; k < kc; k += 2) {
        __m512bh w[2];
        UNROLL_G for (int g = 0; g < G; g++) w[g] = pmx_mm512_as_bh(_mm512_loadu_si512((const void *)(panel + g * gstride + k * MR)));
        UNROLL for (int c = 0; c < C; c++) {
            int32_t pair;
            memcpy(&pair, x + c * ldx + k, sizeof pair);
            const __m512bh xv = pmx_mm512_as_bh(_mm512_set1_epi32(pair));
            UNROLL_G for (int g = 0; g < G; g++) a[c][g] = _mm512_dpbf16_ps(a[c][g], w[g], xv);
        }
    }
    UNROLL for (int c = 0; c < C; c++) UNROLL_G for (int g = 0; g < G; g++) _mm512_storeu_ps(y + c * ldy + MR * g, a[c][g]);
}

typedef void (*tile_bf16_fn)(const pmx_bf16 *panel, int64_t gstride, int64_t kc, const pmx_bf16 *x, int64_t ldx,
                             float *y, int64_t ldy, int first);
#define TILE_BF16_GC(G, C)                                                                                       \
    static void tile_bf16_##G##_##C(const pmx_bf16 *panel, int64_t gstride, int64_t kc, const pmx_bf16 *x,       \
                                    int64_t ldx, float *y, int64_t ldy, int first) {                             \
        tile_bf16(panel, gstride, kc, x, ldx, y, ldy, first, G, C);                                              \
    }
#define TILES_BF16_G(G)                                                                                          \
    TILE_BF16_GC(G, 1) TILE_BF16_GC(G, 2) TILE_BF16_GC(G, 3) TILE_BF16_GC(G, 4) TILE_BF16_GC(G, 5)                \
    TILE_BF16_GC(G, 6) TILE_BF16_GC(G, 7) TILE_BF16_GC(G, 8) TILE_BF16_GC(G, 9) TILE_BF16_GC(G, 10)               \
    TILE_BF16_GC(G, 11) TILE_BF16_GC(G, 12)
TILES_BF16_G(1) TILES_BF16_G(2)
static const tile_bf16_fn TILES_BF16[2][NR] = {
    {tile_bf16_1_1, tile_bf16_1_2, tile_bf16_1_3, tile_bf16_1_4, tile_bf16_1_5, tile_bf16_1_6, tile_bf16_1_7,
     tile_bf16_1_8, tile_bf16_1_9, tile_bf16_1_10, tile_bf16_1_11, tile_bf16_1_12},
    {tile_bf16_2_1, tile_bf16_2_2, tile_bf16_2_3, tile_bf16_2_4, tile_bf16_2_5, tile_bf16_2_6, tile_bf16_2_7,
     tile_bf16_2_8, tile_bf16_2_9, tile_bf16_2_10, tile_bf16_2_11, tile_bf16_2_12}};

static void packed_bf16(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                        int64_t r1) {
    const pmx_bf16 *x = xa, *wp = w;
    const int64_t gstride = n * MR;
    const int64_t n_blocks = (batch + NB - 1) / NB, cb = (batch + n_blocks - 1) / n_blocks;
    for (int64_t c0 = 0; c0 < batch; c0 += cb) {
        const int64_t c1 = c0 + cb < batch ? c0 + cb : batch;
        for (int64_t k0 = 0; k0 < n; k0 += KC_BF16) {
            const int64_t kc = n - k0 < KC_BF16 ? n - k0 : KC_BF16;
            for (int64_t r = r0; r < r1; r += 2 * MR) {
                const int G = r1 - r >= 2 * MR ? 2 : 1;
                const pmx_bf16 *panel = wp + r / MR * gstride + k0 * MR;
                for (int64_t c = c0; c < c1;) {
                    const int C = tile_cols(c1 - c);
                    TILES_BF16[G - 1][C - 1](panel, gstride, kc, x + c * n + k0, n, y + c * ldy + r, ldy, k0 == 0);
                    c += C;
                }
            }
        }
    }
}

/* 16 floats to BF16 as pmx_f32_to_bf16: round to nearest even, a NaN a quiet NaN */
AI __m256i f32_to_bf16(__m512 v) {
    const __m512i u = _mm512_castps_si512(v), hi = _mm512_srli_epi32(u, 16);
    const __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(hi, _mm512_set1_epi32(1)));
    const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(hi, _mm512_set1_epi32(64))));
}

/* Activation rows [b0, b1) as BF16 (the reference's prepare_bf16x16, on vectors) */
static void prepare_bf16(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1) {
    pmx_bf16 *o = xa;
    int64_t i = b0 * n;
    for (; i + 16 <= b1 * n; i += 16) _mm256_storeu_si256((__m256i *)(o + i), f32_to_bf16(_mm512_loadu_ps(x + i)));
    for (; i < b1 * n; i++) o[i] = pmx_f32_to_bf16(x[i]);
}

static int64_t act_row_bytes_bf16(int64_t n) { return n * (int64_t)sizeof(pmx_bf16); }

/* BF16's packed kernel only where vdpbf16ps exists (AVX512_BF16: Zen 4 and 5, Cooper Lake, Sapphire Rapids); elsewhere
 * BF16 keeps its unpacked float kernels. The SIMDe test build reports no AVX-512 features: PMX_EMU_BF16=1 selects it
 * there (as PMX_EMU_VNNI does for VNNI). */
static int has_bf16(void) {
#ifdef PMX_SIMDE_AVX512
    const char *e = getenv("PMX_EMU_BF16");
    return e && e[0] == '1';
#else
    return (pmx_cpu_features() & PMX_CPU_AVX512_BF16) != 0;
#endif
}

void pmx_avx512_register_gemm(pmx_kernels *k) {
    k->packed[PMX_T_F32] = (pmx_matmul_kernel){NULL, packed_f32, NULL};
    if (has_bf16()) {
        k->packed[PMX_T_BF16] = (pmx_matmul_kernel){prepare_bf16, packed_bf16, act_row_bytes_bf16};
        k->packed_preferred[PMX_T_BF16] = 1;
    }
}
