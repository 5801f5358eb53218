/* The AVX2 matmul files' shared tile machinery: R weight rows x C activation columns per tile (R, C in 1..4), each
 * kernel written once as name##_tile(..., R, C) and instantiated for every size by TILES(name). */
#ifndef PMX_AVX2_TILES_H
#define PMX_AVX2_TILES_H
#include <immintrin.h>
#include "avx2.h"

#define AI static inline __attribute__((always_inline))
/* Software prefetch distance of the streaming loops: each row of an R-row tile fetches the same offset of
 * row r + R, i.e. the next tile, one tile (R rows, ~10-60 KB: held by L2) ahead of use. A fixed distance
 * within the row left the first few hundred bytes of every row but the tile's first unfetched, which
 * costs 30-45% of the memory rate on rows of 2-3 KB (Q4_0/Q4_K/Q6_K at n = 4096). Past the last row the
 * hint is wasted, never a fault. */
#define PF_AHEAD(R, rb) ((int64_t)(R) * (rb))

AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI float h2f(pmx_half h) { return _cvtsh_ss(h); }

typedef void (*tile_fn)(const char *w, int64_t rb, const char *xa, int64_t xb, int64_t n, float *y, int64_t ldy);

static void run_tiles(const tile_fn t[4][4], int rt, int ct, const void *w, int64_t rb, const void *xa, int64_t xb,
                      int64_t n, int64_t batch, float *y, int64_t ldy, int64_t r0, int64_t r1) __attribute__((unused));
/* Rows [r0, r1) x all batch columns in tiles of at most rt x ct; edge tiles use the smaller instantiations. */
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

/* name##_tile(w, rb, xa, xb, n, y, ldy, R, C) instantiated for every R, C in 1..4. */
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

#define UNROLL _Pragma("GCC unroll 4")

/* The lane sums of n <= 8 vectors, each in hsum8's order (lanes i + i+4, i + i+2, i + i+1: bit for bit its results),
 * the vectors transposed together: 8 take 14 shuffles and 7 adds instead of 24 and 24. The sum of v[i] lands in lane
 * 4 * (i % 2) + i / 2; n is a constant at every call site (missing vectors are zeros and fold away). */
AI __m256 hsum8_n(const __m256 *v, const int n) {
    const __m256 z = _mm256_setzero_ps();
    __m256 s1[4], s2[2];
    UNROLL for (int i = 0; i < 4; i++) {
        const __m256 a = 2 * i < n ? v[2 * i] : z, b = 2 * i + 1 < n ? v[2 * i + 1] : z;
        s1[i] = 2 * i < n ? _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31)) : z;
    }
    UNROLL for (int i = 0; i < 2; i++)
        s2[i] = 4 * i < n ? _mm256_add_ps(_mm256_shuffle_ps(s1[2 * i], s1[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                          _mm256_shuffle_ps(s1[2 * i], s1[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)))
                          : z;
    return _mm256_add_ps(_mm256_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* The tile's R x C sums (acc[r][c] is vector r * C + c) reduced eight at a time, each in hsum8's order: a column of a
 * wider tile equals the one-column tile's bit for bit (for the float types, where the tiles differ in columns only). */
AI void store_tile(__m256 acc[4][4], float *y, int64_t ldy, const int R, const int C) {
    __m256 v[16];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) v[r * C + c] = acc[r][c];
    float s[16];
    _mm256_storeu_ps(s, hsum8_n(v, R * C < 8 ? R * C : 8));
    if (R * C > 8) _mm256_storeu_ps(s + 8, hsum8_n(v + 8, R * C - 8));
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        const int i = r * C + c, j = i % 8;
        y[c * ldy + r] = s[i / 8 * 8 + 4 * (j % 2) + j / 2];
    }
}


#endif
