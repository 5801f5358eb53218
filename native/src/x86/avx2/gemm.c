/* AVX2 GEMM for prompt-sized batches of F32, F16, BF16 and Q8_0 weights, on float panels: a chunk of 16 weight
 * rows is dequantized once into a k-major float panel (the 16 rows of one k side by side: two vectors), then a
 * 16 x 6 register tile of float FMAs runs down the chunk for every group of 6 activation columns, each activation
 * a broadcast from the float rows as they are (no prepare: activations are not quantized).
 *
 * Why floats for these types: a Q8_0 int8 dot product on AVX2 (no VNNI) costs sign + maddubs + madd, a convert, a
 * scale product and an FMA per block and tile cell, and the 4 x 4 int8 tile's 16 accumulators leave no register
 * for its operands; the float types' 4 x 4 tiles reload both operands per FMA. The 16 x 6 tile issues two loads,
 * six broadcasts and twelve FMAs per k (94 GFLOP/s on one Zen 3 core from L1). Measured with pmx_matmul on
 * 2048 x 5632 weights x 128 columns, one thread, best of 21 runs: Q8_0 47 -> 39 ms, F16 63 -> 54, BF16 60 -> 40,
 * F32 66 -> 44; at 32 columns still ahead (Q8_0 17.1 -> 16.2 ms), at 16 behind (5.9 -> 6.8): PMX_GEMM_MIN_BATCH.
 * The products keep the activations' full precision: closer to the exact ones than the int8 route's, whose
 * activations are quantized to Q8_0 blocks as ggml does.
 *
 * Blocking: columns in blocks of at most NB, so their K chunk (NB x KC floats) stays in L2 while the row panels
 * pass; for each K chunk of KC elements, the thread's rows in panels of MR (16 KB per panel, L1). y accumulates
 * across K chunks in place. Each output is the same sequence of FMAs over k whatever its panel, column group,
 * column block or thread: results do not depend on the thread count. */
#include <immintrin.h>
#include <string.h>
#include "avx2.h"
#include "vmath.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

enum { MR = 16, NR = 6, KC = 256, NB = 128 };

/* Elements [k0, k0 + kc) of a weight row as floats (k0, kc: multiples of the type's block size). */
typedef void (*row_deq_fn)(const char *row, int64_t k0, int64_t kc, float *out);

AI __m256 i8x8_to_ps(__m128i q8) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)); }

static void deq_f32(const char *row, int64_t k0, int64_t kc, float *out) {
    memcpy(out, (const float *)row + k0, (size_t)kc * sizeof(float));
}

/* F16/BF16 rows need not be a multiple of 8 long: the last few elements one at a time. */
static void deq_f16(const char *row, int64_t k0, int64_t kc, float *out) {
    const pmx_half *h = (const pmx_half *)row + k0;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) _mm256_storeu_ps(out + k, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + k))));
    for (; k < kc; k++) out[k] = _cvtsh_ss(h[k]);
}

static void deq_bf16(const char *row, int64_t k0, int64_t kc, float *out) {
    const pmx_bf16 *h = (const pmx_bf16 *)row + k0;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + k)));
        _mm256_storeu_ps(out + k, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; k < kc; k++) out[k] = pmx_bf16_to_f32(h[k]);
}

static void deq_q8_0(const char *row, int64_t k0, int64_t kc, float *out) {
    const block_q8_0 *b = (const block_q8_0 *)row + k0 / QK8_0;
    for (int64_t j = 0; j < kc / QK8_0; j++, out += QK8_0) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[j].d));
        UNROLL for (int v = 0; v < 4; v++)
            _mm256_storeu_ps(out + 8 * v, _mm256_mul_ps(i8x8_to_ps(_mm_loadl_epi64((const __m128i *)(b[j].qs + 8 * v))), d));
    }
}

/* Rows [0, rows) of w (rb bytes apart), elements [k0, k0 + kc), into panel[k * MR + i]; panel rows past `rows`
 * are zero. A kc that is no multiple of 8 (float rows of any width) transposes a few stale tmp values into panel
 * slots past kc, which tile() never reads. Row-major through tmp (MR x KC floats), then 8 x 8 transposes. Prefetches the same chunk of the
 * next panel's rows, where the next call reads (the hardware prefetcher does not follow 16 short strided runs). */
static void build_panel(row_deq_fn deq, const char *w, int64_t rb, int rows, int64_t k0, int64_t kc,
                        int64_t chunk_bytes, int64_t chunk_off, float *tmp, float *panel) {
    for (int i = 0; i < MR; i++) {
        if (i < rows) deq(w + i * rb, k0, kc, tmp + i * KC);
        else memset(tmp + i * KC, 0, (size_t)kc * sizeof(float));
        const char *next = w + (MR + i) * rb + chunk_off;
        for (int64_t o = 0; o < chunk_bytes; o += 64) _mm_prefetch(next + o, _MM_HINT_T0);
    }
    for (int g = 0; g < MR; g += 8)
        for (int64_t k = 0; k < kc; k += 8) {
            __m256 r[8];
            UNROLL for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(tmp + (g + i) * KC + k);
            pmx_transpose8(r);
            UNROLL for (int i = 0; i < 8; i++) _mm256_store_ps(panel + (k + i) * MR + g, r[i]);
        }
}

/* y[c * ldy + i] (+)= sum over the chunk of panel[k * MR + i] * x[c * ldx + k] for 16 rows i and C columns c.
 * first: start from 0, else from y. Partial panels (rows < MR) load and store only their rows (mask). */
AI void tile(const float *panel, int64_t kc, const float *x, int64_t ldx, float *y, int64_t ldy, int first,
             int rows, const int C) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows - 8), lane);
    __m256 a[NR][2];
    UNROLL for (int c = 0; c < C; c++) {
        if (first) {
            a[c][0] = a[c][1] = _mm256_setzero_ps();
        } else if (rows == MR) {
            a[c][0] = _mm256_loadu_ps(y + c * ldy);
            a[c][1] = _mm256_loadu_ps(y + c * ldy + 8);
        } else {
            a[c][0] = _mm256_maskload_ps(y + c * ldy, m0);
            a[c][1] = _mm256_maskload_ps(y + c * ldy + 8, m1);
        }
    }
    for (int64_t k = 0; k < kc; k++) {
        const __m256 w0 = _mm256_loadu_ps(panel + k * MR), w1 = _mm256_loadu_ps(panel + k * MR + 8); /* packed weights need not be 32-byte aligned */
        UNROLL for (int c = 0; c < C; c++) {
            const __m256 xv = _mm256_broadcast_ss(x + c * ldx + k);
            a[c][0] = _mm256_fmadd_ps(w0, xv, a[c][0]);
            a[c][1] = _mm256_fmadd_ps(w1, xv, a[c][1]);
        }
    }
    UNROLL for (int c = 0; c < C; c++) {
        if (rows == MR) {
            _mm256_storeu_ps(y + c * ldy, a[c][0]);
            _mm256_storeu_ps(y + c * ldy + 8, a[c][1]);
        } else {
            _mm256_maskstore_ps(y + c * ldy, m0, a[c][0]);
            _mm256_maskstore_ps(y + c * ldy + 8, m1, a[c][1]);
        }
    }
}

typedef void (*tile_fn)(const float *panel, int64_t kc, const float *x, int64_t ldx, float *y, int64_t ldy, int first,
                        int rows);
#define TILE_C(C)                                                                                                \
    static void tile_##C(const float *panel, int64_t kc, const float *x, int64_t ldx, float *y, int64_t ldy,       \
                         int first, int rows) {                                                                  \
        tile(panel, kc, x, ldx, y, ldy, first, rows, C);                                                         \
    }
TILE_C(1) TILE_C(2) TILE_C(3) TILE_C(4) TILE_C(5) TILE_C(6)
static const tile_fn TILES[NR] = {tile_1, tile_2, tile_3, tile_4, tile_5, tile_6};

/* Columns of the next tile when `left` remain: 6, except that 7 and 8 go as 4 + 3 and 4 + 4. A tile of 1 or 2 columns
 * has 2 or 4 FMA chains, too few to cover the FMA latency: it takes as long per k as a tile of 4 (6 + 1 columns: 10
 * cycles per k, 4 + 3: 8). Every column still gets the same FMAs over k in the same order, whatever its tile. */
static inline int tile_cols(int64_t left) {
    return left == 7 || left == 8 ? 4 : left < NR ? (int)left : NR;
}

/* The matmul of pmx_matmul_kernel with float activations (xa: batch rows of n floats). */
static void panel_gemm(row_deq_fn deq, int t, const void *w, int64_t n, const void *xa, int64_t batch, float *y,
                       int64_t ldy, int64_t r0, int64_t r1) {
    float tmp[MR * KC] __attribute__((aligned(32)));
    float panel[KC * MR] __attribute__((aligned(32)));
    const float *x = xa;
    const int64_t rb = pmx_row_bytes(t, n);
    const int64_t n_blocks = (batch + NB - 1) / NB, cb = (batch + n_blocks - 1) / n_blocks;
    for (int64_t c0 = 0; c0 < batch; c0 += cb) {
        const int64_t c1 = c0 + cb < batch ? c0 + cb : batch;
        for (int64_t k0 = 0; k0 < n; k0 += KC) {
            const int64_t kc = n - k0 < KC ? n - k0 : KC;
            const int64_t chunk_off = pmx_row_bytes(t, k0), chunk_bytes = pmx_row_bytes(t, kc);
            for (int64_t r = r0; r < r1; r += MR) {
                const int rows = r1 - r < MR ? (int)(r1 - r) : MR;
                build_panel(deq, (const char *)w + r * rb, rb, rows, k0, kc, r + MR < r1 ? chunk_bytes : 0,
                            chunk_off, tmp, panel);
                for (int64_t c = c0; c < c1; c += tile_cols(c1 - c)) {
                    const int C = tile_cols(c1 - c);
                    TILES[C - 1](panel, kc, x + c * n + k0, n, y + c * ldy + r, ldy, k0 == 0, rows);
                }
            }
        }
    }
}

/* F32 weights packed at load (pmx_pack: 16 rows side by side per column, k-major) are the panels already: the same
 * blocking and tiles as panel_gemm without building a panel, so the same FMAs per output (the same bits as the unpacked
 * GEMM for batches from PMX_GEMM_MIN_BATCH). Row ranges are whole groups of 16. Building the panels was ~7% of a
 * 384 x 384 x 512 product and ~20% at 37 columns (one MiniLM text), where each panel serves few column tiles. */
static void packed_f32(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                       int64_t r1) {
    const float *x = xa, *wp = w;
    const int64_t n_blocks = (batch + NB - 1) / NB, cb = (batch + n_blocks - 1) / n_blocks;
    for (int64_t c0 = 0; c0 < batch; c0 += cb) {
        const int64_t c1 = c0 + cb < batch ? c0 + cb : batch;
        for (int64_t k0 = 0; k0 < n; k0 += KC) {
            const int64_t kc = n - k0 < KC ? n - k0 : KC;
            for (int64_t r = r0; r < r1; r += MR) {
                const float *panel = wp + (r / MR * n + k0) * MR;
                for (int64_t c = c0; c < c1; c += tile_cols(c1 - c)) {
                    const int C = tile_cols(c1 - c);
                    TILES[C - 1](panel, kc, x + c * n + k0, n, y + c * ldy + r, ldy, k0 == 0, MR);
                }
            }
        }
    }
}

#define GEMM(name, T)                                                                                            \
    static void gemm_##name(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,       \
                            int64_t r0, int64_t r1) {                                                            \
        panel_gemm(deq_##name, T, w, n, xa, batch, y, ldy, r0, r1);                                              \
    }
GEMM(f32, PMX_T_F32)
GEMM(f16, PMX_T_F16)
GEMM(bf16, PMX_T_BF16)
GEMM(q8_0, PMX_T_Q8_0)

/* Q4_0, Q4_K and Q6_K keep their int8 tiles for every batch: their nibble/6-bit weights fold several blocks per
 * int16 sum, and measured faster than float panels (2048 x 5632 x 128, one thread, best of 21 runs: Q4_0 26 vs
 * 42 ms, Q4_K 37 vs 43, Q6_K 31 vs 39). */
void pmx_avx2_register_gemm(pmx_kernels *k) {
    k->gemm[PMX_T_F32] = (pmx_matmul_kernel){NULL, gemm_f32, NULL};
    k->gemm[PMX_T_F16] = (pmx_matmul_kernel){NULL, gemm_f16, NULL};
    k->gemm[PMX_T_BF16] = (pmx_matmul_kernel){pmx_ref_prepare_bf16, gemm_bf16, NULL};
    k->gemm[PMX_T_Q8_0] = (pmx_matmul_kernel){NULL, gemm_q8_0, NULL};
    k->packed[PMX_T_F32] = (pmx_matmul_kernel){NULL, packed_f32, NULL};
    k->packed_preferred[PMX_T_F32] = 1;
}
