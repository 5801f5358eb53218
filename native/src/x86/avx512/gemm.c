/* AVX-512 GEMM for weights packed at load, F32 and BF16. F32 (pmx_pack: 16 rows side by side per column, k-major: one
 * zmm per k and group of 16 rows): a tile is two groups (32 rows, two vectors per k) x up to 12 activation columns:
 * 24 accumulators, each activation a broadcast from its float row, 2 loads + 12 broadcasts per 24 FMAs. AVX2's 16 x 6
 * tile of ymm (avx2/gemm.c) does half the work per FMA; on a core with 512-bit FMA pipes (Zen 5) this tile has twice
 * its peak, on one that splits a zmm FMA in two (Zen 4) the same.
 *
 * BF16 (pmx_pack: 16 rows side by side per pair of columns, one zmm per pair and group) against activations rounded to
 * BF16 (ggml's vec_dot_type for BF16): vdpbf16ps multiplies a group's 16 row pairs by one activation pair broadcast
 * and adds both products to the rows' F32 lanes, twice the F32 tile's multiply-adds per instruction. The same tiles,
 * blocking and y accumulation; the sums are F32 in pairs, not the one chain of the reference, so the outputs match it
 * within float rounding (and vdpbf16ps treats denormal inputs and outputs as zero).
 *
 * Blocking as avx2/gemm.c's packed_f32: columns in blocks of at most NB (their K chunk stays in L2), K in chunks (a
 * pair of groups' chunk, 16 KB, stays in L1 while the column tiles pass), y accumulating across K chunks in place. For
 * F32 each output is the one chain of FMAs over k in order whatever its tile, column block, thread or vector width:
 * the same bits as the AVX2 kernels. The _ep kernels add the bias and apply GELU to a tile with its last K chunk, in
 * registers and L1, instead of a pass of their own over y. */
#include <stdlib.h>
#include <string.h>
#include "avx512.h"
#include "panamax.h"
#include "simd.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 12")
#define UNROLL_G _Pragma("GCC unroll 2")

/* KC 128 floats: a pair's chunk (16 KB) and a tile's activations (6 KB) take what AVX2's panel and tile do in L1 (at
 * 256 they would take 44 of Zen 5's 48 KB); BF16 takes twice the k in the same bytes */
enum { MR = PMX_PACK_ROWS, NR = 12, KC = 128, KC_BF16 = 2 * KC, NB = 128 };

/* y[c * ldy + 16 g + i] (+)= sum over the chunk of panel_g[k * MR + i] * x[c * ldx + k] for G groups (panel_1 =
 * panel_0 + gstride) and C columns; BF: BF16 panels and activations (a pair of k per vdpbf16ps), else F32 (one FMA
 * per k). gstride and ldx count elements. first: start from 0, else from y. On an output's last chunk only, bias (the
 * tile's rows, or NULL) is added and act applied: the same float operations as pmx_add_rows_f32 and pmx_gelu_f32
 * after the product, so the same bits. */
AI void tile(const void *panel, int64_t gstride, int64_t kc, const void *x, int64_t ldx, float *y, int64_t ldy,
             int first, const float *bias, int act, const int G, const int C, const int BF) {
    const int64_t es = BF ? (int64_t)sizeof(pmx_bf16) : (int64_t)sizeof(float), step = BF ? 2 : 1;
    const char *pb = panel, *xb = x;
    __m512 a[NR][2];
    UNROLL for (int c = 0; c < C; c++) UNROLL_G for (int g = 0; g < G; g++)
        a[c][g] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(y + c * ldy + MR * g);
    for (int64_t k = 0; k < kc; k += step) {
        __m512 w[2];
        UNROLL_G for (int g = 0; g < G; g++) w[g] = _mm512_loadu_ps(pb + (g * gstride + k * MR) * es);
        UNROLL for (int c = 0; c < C; c++) {
            const char *xk = xb + (c * ldx + k) * es;
            if (BF) {
                int32_t pair;
                memcpy(&pair, xk, sizeof pair);
                const __m512bh xv = pmx_mm512_as_bh(_mm512_set1_epi32(pair));
                UNROLL_G for (int g = 0; g < G; g++)
                    a[c][g] = _mm512_dpbf16_ps(a[c][g], pmx_mm512_as_bh(_mm512_castps_si512(w[g])), xv);
            } else {
                float xf;
                memcpy(&xf, xk, sizeof xf);
                const __m512 xv = _mm512_set1_ps(xf);
                UNROLL_G for (int g = 0; g < G; g++) a[c][g] = _mm512_fmadd_ps(w[g], xv, a[c][g]);
            }
        }
    }
    if (bias) UNROLL_G for (int g = 0; g < G; g++) {
        const __m512 b = _mm512_loadu_ps(bias + MR * g);
        UNROLL for (int c = 0; c < C; c++) a[c][g] = _mm512_add_ps(a[c][g], b);
    }
    UNROLL for (int c = 0; c < C; c++) UNROLL_G for (int g = 0; g < G; g++) _mm512_storeu_ps(y + c * ldy + MR * g, a[c][g]);
    /* the ops' own GELU (a table lookup), on the tile while it is in L1 */
    if (act == PMX_ACT_GELU) for (int c = 0; c < C; c++) pmx_k.gelu_f32(y + c * ldy, NULL, MR * G, 0, 1);
}

typedef void (*tile_fn)(const void *panel, int64_t gstride, int64_t kc, const void *x, int64_t ldx, float *y,
                        int64_t ldy, int first, const float *bias, int act);
#define TILE_GC(BF, G, C)                                                                                        \
    static void tile_##BF##_##G##_##C(const void *panel, int64_t gstride, int64_t kc, const void *x, int64_t ldx, \
                                      float *y, int64_t ldy, int first, const float *bias, int act) {            \
        tile(panel, gstride, kc, x, ldx, y, ldy, first, bias, act, G, C, BF);                                    \
    }
#define TILES_G(BF, G)                                                                                           \
    TILE_GC(BF, G, 1) TILE_GC(BF, G, 2) TILE_GC(BF, G, 3) TILE_GC(BF, G, 4) TILE_GC(BF, G, 5) TILE_GC(BF, G, 6)  \
    TILE_GC(BF, G, 7) TILE_GC(BF, G, 8) TILE_GC(BF, G, 9) TILE_GC(BF, G, 10) TILE_GC(BF, G, 11) TILE_GC(BF, G, 12)
#define TILE_ROW(BF, G)                                                                                          \
    {tile_##BF##_##G##_1, tile_##BF##_##G##_2, tile_##BF##_##G##_3, tile_##BF##_##G##_4, tile_##BF##_##G##_5,      \
     tile_##BF##_##G##_6, tile_##BF##_##G##_7, tile_##BF##_##G##_8, tile_##BF##_##G##_9, tile_##BF##_##G##_10,     \
     tile_##BF##_##G##_11, tile_##BF##_##G##_12}
TILES_G(0, 1) TILES_G(0, 2) TILES_G(1, 1) TILES_G(1, 2)
/* [BF][G - 1][C - 1] */
static const tile_fn TILES[2][2][NR] = {{TILE_ROW(0, 1), TILE_ROW(0, 2)}, {TILE_ROW(1, 1), TILE_ROW(1, 2)}};

/* Columns of the next tile when `left` remain: the fewest tiles of at most NR, of near-equal widths, so that no tail
 * tile of 1-3 columns runs on too few FMA chains to cover the FMA latency (37 columns: 10 + 9 + 9 + 9, not
 * 12 + 12 + 12 + 1). */
static inline int tile_cols(int64_t left) {
    const int64_t tiles = (left + NR - 1) / NR;
    return (int)((left + tiles - 1) / tiles);
}

/* Rows [r0, r1): whole groups of 16, taken in pairs (a range of an odd number of groups ends with a 16-row tile).
 * bias: the matrix's (indexed by row), or NULL. */
AI void packed(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0, int64_t r1,
               const float *bias, int act, const int BF) {
    const int64_t es = BF ? (int64_t)sizeof(pmx_bf16) : (int64_t)sizeof(float), kc_max = BF ? KC_BF16 : KC;
    const char *x = xa, *wp = w;
    const int64_t gstride = n * MR;
    const int64_t n_blocks = (batch + NB - 1) / NB, cb = (batch + n_blocks - 1) / n_blocks;
    for (int64_t c0 = 0; c0 < batch; c0 += cb) {
        const int64_t c1 = c0 + cb < batch ? c0 + cb : batch;
        for (int64_t k0 = 0; k0 < n; k0 += kc_max) {
            const int64_t kc = n - k0 < kc_max ? n - k0 : kc_max;
            const int last = k0 + kc == n;
            for (int64_t r = r0; r < r1; r += 2 * MR) {
                const int G = r1 - r >= 2 * MR ? 2 : 1;
                const char *panel = wp + (r / MR * gstride + k0 * MR) * es;
                const float *b = last && bias ? bias + r : NULL;
                for (int64_t c = c0; c < c1;) {
                    const int C = tile_cols(c1 - c);
                    TILES[BF][G - 1][C - 1](panel, gstride, kc, x + (c * n + k0) * es, n, y + c * ldy + r, ldy, k0 == 0, b,
                                            last ? act : PMX_ACT_NONE);
                    c += C;
                }
            }
        }
    }
}

/* A type's kernel (pmx_matmul_fn) and its kernel with the epilogue (pmx_matmul_ep_fn) */
#define PACKED_FNS(NAME, BF)                                                                                     \
    static void NAME(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0, \
                     int64_t r1) {                                                                               \
        packed(w, n, xa, batch, y, ldy, r0, r1, NULL, PMX_ACT_NONE, BF);                                        \
    }                                                                                                            \
    static void NAME##_ep(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,        \
                          int64_t r0, int64_t r1, const float *bias, int act) {                                  \
        packed(w, n, xa, batch, y, ldy, r0, r1, bias, act, BF);                                                  \
    }
PACKED_FNS(packed_f32, 0)
PACKED_FNS(packed_bf16, 1)

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
    k->packed_ep[PMX_T_F32] = packed_f32_ep;
    if (has_bf16()) {
        k->packed[PMX_T_BF16] = (pmx_matmul_kernel){prepare_bf16, packed_bf16, act_row_bytes_bf16};
        k->packed_ep[PMX_T_BF16] = packed_bf16_ep;
        k->packed_preferred[PMX_T_BF16] = 1;
    }
}
