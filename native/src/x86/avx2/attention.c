/* AVX2+FMA+F16C causal GQA attention: per work item (query, head) an online softmax over blocks of BLK keys
 * accumulated in the output row itself, so every head size works without heap or size limit. */
#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "avx2.h"
#include "vmath.h"
#include "panamax.h"

/* Keys per block: the scores of one block live on the stack; 64 rows of V (up to 32 KB at 128 floats) stay
 * in L1 while every output tile walks them. */
#define BLK 64

#define INLINE static inline __attribute__((always_inline))

/* f16 is a literal at every call site, so each kernel is compiled twice without a branch in the loops. */
INLINE __m256 load8(const void *p, int64_t i, int f16) {
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const pmx_half *)p + i)))
               : _mm256_loadu_ps((const float *)p + i);
}

INLINE float load1(const void *p, int64_t i, int f16) {
    return f16 ? pmx_half_to_f32(((const pmx_half *)p)[i]) : ((const float *)p)[i];
}

/* s[j] = scale * q . k[off + j*ks], j < nb; four keys at a time share each load of q. */
INLINE void scores(float *s, const float *q, const void *k, int64_t off, int64_t ks, int64_t nb, int64_t hd,
                   float scale, int f16) {
    const int64_t hd8 = hd & ~(int64_t)7;
    int64_t j = 0;
    for (; j + 4 <= nb; j += 4) {
        const int64_t o0 = off + j * ks, o1 = o0 + ks, o2 = o1 + ks, o3 = o2 + ks;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < hd8; i += 8) {
            const __m256 qv = _mm256_loadu_ps(q + i);
            a0 = _mm256_fmadd_ps(qv, load8(k, o0 + i, f16), a0);
            a1 = _mm256_fmadd_ps(qv, load8(k, o1 + i, f16), a1);
            a2 = _mm256_fmadd_ps(qv, load8(k, o2 + i, f16), a2);
            a3 = _mm256_fmadd_ps(qv, load8(k, o3 + i, f16), a3);
        }
        const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        __m128 r = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (int64_t i = hd8; i < hd; i++) {
            t0 += q[i] * load1(k, o0 + i, f16);
            t1 += q[i] * load1(k, o1 + i, f16);
            t2 += q[i] * load1(k, o2 + i, f16);
            t3 += q[i] * load1(k, o3 + i, f16);
        }
        r = _mm_mul_ps(_mm_add_ps(r, _mm_setr_ps(t0, t1, t2, t3)), _mm_set1_ps(scale));
        _mm_storeu_ps(s + j, r);
    }
    for (; j < nb; j++) {
        const int64_t o = off + j * ks;
        __m256 a = _mm256_setzero_ps();
        for (int64_t i = 0; i < hd8; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(k, o + i, f16), a);
        float t = hsum256(a);
        for (int64_t i = hd8; i < hd; i++) t += q[i] * load1(k, o + i, f16);
        s[j] = t * scale;
    }
}

/* s[j] = exp(s[j] - m) in place; returns their sum. */
static float exp_block(float *s, int64_t nb, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= nb; j += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
        _mm256_storeu_ps(s + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    float l = hsum256(sum);
    for (; j < nb; j++) l += s[j] = expf(s[j] - m);
    return l;
}

static void scale_row(float *o, int64_t n, float c) {
    const __m256 vc = _mm256_set1_ps(c);
    int64_t d = 0;
    for (; d + 8 <= n; d += 8) _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(o + d), vc));
    for (; d < n; d++) o[d] *= c;
}

/* o[d] += sum_j p[j] * v[off + j*vs + d]: 32 outputs stay in registers while the block's keys stream by. */
INLINE void accumulate(float *o, const float *p, const void *v, int64_t off, int64_t vs, int64_t nb, int64_t dv,
                       int f16) {
    int64_t d = 0;
    for (; d + 32 <= dv; d += 32) {
        __m256 a0 = _mm256_loadu_ps(o + d), a1 = _mm256_loadu_ps(o + d + 8);
        __m256 a2 = _mm256_loadu_ps(o + d + 16), a3 = _mm256_loadu_ps(o + d + 24);
        for (int64_t j = 0; j < nb; j++) {
            const __m256 w = _mm256_set1_ps(p[j]);
            const int64_t r = off + j * vs + d;
            a0 = _mm256_fmadd_ps(w, load8(v, r, f16), a0);
            a1 = _mm256_fmadd_ps(w, load8(v, r + 8, f16), a1);
            a2 = _mm256_fmadd_ps(w, load8(v, r + 16, f16), a2);
            a3 = _mm256_fmadd_ps(w, load8(v, r + 24, f16), a3);
        }
        _mm256_storeu_ps(o + d, a0);
        _mm256_storeu_ps(o + d + 8, a1);
        _mm256_storeu_ps(o + d + 16, a2);
        _mm256_storeu_ps(o + d + 24, a3);
    }
    for (; d + 8 <= dv; d += 8) {
        __m256 a = _mm256_loadu_ps(o + d);
        for (int64_t j = 0; j < nb; j++) a = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), load8(v, off + j * vs + d, f16), a);
        _mm256_storeu_ps(o + d, a);
    }
    for (; d < dv; d++) {
        float a = o[d];
        for (int64_t j = 0; j < nb; j++) a += p[j] * load1(v, off + j * vs + d, f16);
        o[d] = a;
    }
}

/* Several heads at once (MLA's heads, a GQA group): each K or V vector is loaded and converted once for
 * NH heads. NH, NK, ND are literals at the call sites, so the tiles' accumulators live in registers. */
#define PMX_ATTENTION_HEADS

/* s[h * BLK + j + x] = scale * q_h . k_{j+x}, h < NH, x < NK */
INLINE void scores_tile(float *s, const float *q, int64_t hd, const void *k, int64_t off, int64_t ks, int64_t j,
                        float scale, int f16, int NH, int NK) {
    __m256 acc[4][2];
    for (int h = 0; h < NH; h++)
        for (int x = 0; x < NK; x++) acc[h][x] = _mm256_setzero_ps();
    const int64_t hd8 = hd & ~(int64_t)7, o = off + j * ks;
    for (int64_t i = 0; i < hd8; i += 8) {
        __m256 kv[2];
        for (int x = 0; x < NK; x++) kv[x] = load8(k, o + x * ks + i, f16);
        for (int h = 0; h < NH; h++) {
            const __m256 qv = _mm256_loadu_ps(q + h * hd + i);
            for (int x = 0; x < NK; x++) acc[h][x] = _mm256_fmadd_ps(qv, kv[x], acc[h][x]);
        }
    }
    for (int h = 0; h < NH; h++)
        for (int x = 0; x < NK; x++) {
            float t = hsum256(acc[h][x]);
            for (int64_t i = hd8; i < hd; i++) t += q[h * hd + i] * load1(k, o + x * ks + i, f16);
            s[h * BLK + j + x] = t * scale;
        }
}

INLINE void scores_heads(float *s, const float *q, int64_t nh, const void *k, int64_t off, int64_t ks, int64_t nb,
                         int64_t hd, float scale, int f16) {
    int64_t h = 0;
    for (; h + 4 <= nh; h += 4) {
        int64_t j = 0;
        for (; j + 2 <= nb; j += 2) scores_tile(s + h * BLK, q + h * hd, hd, k, off, ks, j, scale, f16, 4, 2);
        if (j < nb) scores_tile(s + h * BLK, q + h * hd, hd, k, off, ks, j, scale, f16, 4, 1);
    }
    for (; h < nh; h++) scores(s + h * BLK, q + h * hd, k, off, ks, nb, hd, scale, f16);
}

/* o_h[d + 8y] += sum_j p[h * BLK + j] v_j[d + 8y], h < NH, y < ND */
INLINE void accumulate_tile(float *o, int64_t dv, const float *p, const void *v, int64_t off, int64_t vs, int64_t nb,
                            int64_t d, int f16, int NH, int ND) {
    __m256 acc[4][2];
    for (int h = 0; h < NH; h++)
        for (int y = 0; y < ND; y++) acc[h][y] = _mm256_loadu_ps(o + h * dv + d + 8 * y);
    for (int64_t j = 0; j < nb; j++) {
        __m256 vv[2];
        for (int y = 0; y < ND; y++) vv[y] = load8(v, off + j * vs + d + 8 * y, f16);
        for (int h = 0; h < NH; h++) {
            const __m256 w = _mm256_broadcast_ss(p + h * BLK + j);
            for (int y = 0; y < ND; y++) acc[h][y] = _mm256_fmadd_ps(w, vv[y], acc[h][y]);
        }
    }
    for (int h = 0; h < NH; h++)
        for (int y = 0; y < ND; y++) _mm256_storeu_ps(o + h * dv + d + 8 * y, acc[h][y]);
}

INLINE void accumulate_heads(float *o, const float *p, int64_t nh, const void *v, int64_t off, int64_t vs, int64_t nb,
                             int64_t dv, int f16) {
    int64_t h = 0;
    for (; h + 4 <= nh; h += 4) {
        int64_t d = 0;
        for (; d + 16 <= dv; d += 16) accumulate_tile(o + h * dv, dv, p + h * BLK, v, off, vs, nb, d, f16, 4, 2);
        for (; d + 8 <= dv; d += 8) accumulate_tile(o + h * dv, dv, p + h * BLK, v, off, vs, nb, d, f16, 4, 1);
        for (; d < dv; d++)
            for (int64_t x = 0; x < 4; x++) {
                float a = o[(h + x) * dv + d];
                for (int64_t j = 0; j < nb; j++) a += p[(h + x) * BLK + j] * load1(v, off + j * vs + d, f16);
                o[(h + x) * dv + d] = a;
            }
    }
    for (; h < nh; h++) accumulate(o + h * dv, p + h * BLK, v, off, vs, nb, dv, f16);
}

#include "../kv_dequant.h"
#include "../../attention_online.h"

static inline float round_half(float x) { return _cvtsh_ss(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT)); }
static inline __m256 round_half8(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }

/* Rows of queries per block of the encoder attention: the 6 x 16 register tile of the GEMM (gemm.c). */
enum { ENC_R = PMX_ENCODER_ROWS };

/* c[r * ldc + j] = s[r] * sum_{k < K} a[r * lda + k] * b[k * ldb + j] for rows r < R and 16 columns j: per k two
 * loads of b and R broadcasts of a feed 2 R independent FMA chains. Both products of the attention are this tile:
 * scores = Q K^T (a: query rows, b: K transposed) and out = P V (a: weights, b: V rows). */
static inline __attribute__((always_inline)) void enc_tile(const float *a, int64_t lda, const float *b, int64_t ldb,
                                                             int64_t K, float *c, int64_t ldc, const float *s,
                                                             const int R) {
    __m256 acc[ENC_R][2];
    _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        const __m256 b0 = _mm256_loadu_ps(b + k * ldb), b1 = _mm256_loadu_ps(b + k * ldb + 8);
        _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {
            const __m256 x = _mm256_broadcast_ss(a + r * lda + k);
            acc[r][0] = _mm256_fmadd_ps(b0, x, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(b1, x, acc[r][1]);
        }
    }
    _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {
        const __m256 sr = _mm256_set1_ps(s[r]);
        _mm256_storeu_ps(c + r * ldc, _mm256_mul_ps(acc[r][0], sr));
        _mm256_storeu_ps(c + r * ldc + 8, _mm256_mul_ps(acc[r][1], sr));
    }
}

static void enc_tiles(const float *a, int64_t lda, const float *b, int64_t ldb, int64_t K, float *c, int64_t ldc,
                      const float *s, int R) {
    switch (R) {
    case 1: enc_tile(a, lda, b, ldb, K, c, ldc, s, 1); break;
    case 2: enc_tile(a, lda, b, ldb, K, c, ldc, s, 2); break;
    case 3: enc_tile(a, lda, b, ldb, K, c, ldc, s, 3); break;
    case 4: enc_tile(a, lda, b, ldb, K, c, ldc, s, 4); break;
    case 5: enc_tile(a, lda, b, ldb, K, c, ldc, s, 5); break;
    default: enc_tile(a, lda, b, ldb, K, c, ldc, s, 6); break;
    }
}

/* An encoder's attention for short sequences (BERT: tens of tokens, heads of 32 or 64), as two small GEMMs per head:
 * K transposed (8 x 8 register transposes) and V copied once, rounded to binary16 and zero-padded (keys to lp, V rows
 * to hp floats), then per block of 6 query rows the scores Q K^T in 6 x 16 tiles, a softmax per row, and P V in
 * 6 x 16 tiles over the L real keys. Rows of an output block whose head is not a multiple of 16 wide go through a
 * buffer. Scratch layout: pmx_encoder_scratch_floats (kernels.h). */
static void avx2_attention_encoder(const float *q, const float *k, const float *v, float *out, int64_t L, int64_t n_head,
                                   int64_t hd, int64_t h0, int64_t h1, float scale, float *scratch) {
    const int64_t st = n_head * hd, lp = (L + 15) / 16 * 16, hp = (hd + 15) / 16 * 16;
    float *kt = scratch, *vh = kt + hd * lp, *sc = vh + lp * hp, *ob = sc + ENC_R * lp;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int64_t L8 = L & ~(int64_t)7, hd8 = hd & ~(int64_t)7;
    float scales[ENC_R];
    for (int r = 0; r < ENC_R; r++) scales[r] = scale;
    for (int64_t h = h0; h < h1; h++) {
        const float *kh = k + h * hd, *vhd = v + h * hd;
        for (int64_t j = 0; j < L8; j += 8) /* K^T: 8 keys x 8 dimensions at a time */
            for (int64_t d = 0; d < hd8; d += 8) {
                __m256 r[8];
                _Pragma("GCC unroll 8") for (int e = 0; e < 8; e++) r[e] = round_half8(_mm256_loadu_ps(kh + (j + e) * st + d));
                pmx_transpose8(r);
                _Pragma("GCC unroll 8") for (int e = 0; e < 8; e++) _mm256_storeu_ps(kt + (d + e) * lp + j, r[e]);
            }
        for (int64_t d = 0; d < hd; d++) {
            for (int64_t j = d < hd8 ? L8 : 0; j < L; j++) kt[d * lp + j] = round_half(kh[j * st + d]);
            for (int64_t j = L; j < lp; j++) kt[d * lp + j] = 0.0f;
        }
        for (int64_t j = 0; j < L; j++) {
            const float *vj = vhd + j * st;
            float *o = vh + j * hp;
            int64_t d = 0;
            for (; d < hd8; d += 8) _mm256_storeu_ps(o + d, round_half8(_mm256_loadu_ps(vj + d)));
            for (; d < hd; d++) o[d] = round_half(vj[d]);
            for (; d < hp; d++) o[d] = 0.0f;
        }
        for (int64_t i0 = 0; i0 < L; i0 += ENC_R) {
            const int R = L - i0 < ENC_R ? (int)(L - i0) : ENC_R;
            const float *qi = q + i0 * st + h * hd;
            for (int64_t jb = 0; jb < lp; jb += 16) enc_tiles(qi, st, kt + jb, lp, hd, sc + jb, lp, scales, R);
            float inv[ENC_R];
            for (int r = 0; r < R; r++) { /* softmax of row r over its L keys; padded keys weigh 0 */
                float *s = sc + r * lp;
                __m256 vmx = _mm256_set1_ps(-INFINITY);
                for (int64_t jb = 0; jb < lp; jb += 8) {
                    const __m256 live = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(L - jb)), lane));
                    vmx = _mm256_max_ps(vmx, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_loadu_ps(s + jb), live));
                }
                const __m256 vm = _mm256_set1_ps(hmax256(vmx));
                __m256 vsum = _mm256_setzero_ps();
                for (int64_t jb = 0; jb < lp; jb += 8) {
                    const __m256 live = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(L - jb)), lane));
                    const __m256 e = _mm256_and_ps(live, exp256(_mm256_sub_ps(_mm256_loadu_ps(s + jb), vm)));
                    _mm256_storeu_ps(s + jb, e);
                    vsum = _mm256_add_ps(vsum, e);
                }
                inv[r] = 1.0f / hsum256(vsum);
            }
            float *oi = out + i0 * st + h * hd;
            if (hp == hd) {
                for (int64_t d0 = 0; d0 < hd; d0 += 16) enc_tiles(sc, lp, vh + d0, hp, L, oi + d0, st, inv, R);
            } else {
                for (int64_t d0 = 0; d0 < hp; d0 += 16) enc_tiles(sc, lp, vh + d0, hp, L, ob + d0, hp, inv, R);
                for (int r = 0; r < R; r++) memcpy(oi + r * st, ob + r * hp, sizeof(float) * (size_t)hd);
            }
        }
    }
}

void pmx_avx2_register_attention(pmx_kernels *k) {
    k->attention = pmx_attention_online;
    k->attention_encoder = avx2_attention_encoder;
}
