/* The online-softmax driver of the per-ISA attention kernels, written once. An ISA's attention.c defines
 * BLK, INLINE and the four primitives below, then includes this file and registers pmx_attention_online.
 * An ISA may also define PMX_ATTENTION_HEADS and the two primitives over nh heads at once (scores_heads,
 * accumulate_heads below), so that each K/V element it loads serves several heads; else they loop over heads.
 *   scores(s, q, k, off, ks, nb, hd, scale, f16)   s[j] = scale * q . k[off + j*ks], j < nb
 *   exp_block(s, nb, m)                            s[j] = exp(s[j] - m) in place; returns their sum
 *   scale_row(o, n, c)                             o *= c
 *   accumulate(o, p, v, off, vs, nb, dv, f16)      o += sum_j p[j] * v[off + j*vs]
 * The heads of one KV group share their keys (all of them in MLA, whose cache is one latent stream): the
 * key block is the outer loop and the group's heads the inner one, so each block comes from memory once and
 * is then re-read from cache by every head. Per head the row of scores is never stored; each block updates
 * the head's running max m and sum l, and the output row itself accumulates (rescaled when m grows).
 * A quantized cache (Q8_0, Q4_0, ... BF16: every type but F32/F16) is read block of keys by block of keys: the
 * block's rows of the group are dequantized once into an L1 tile of floats that all the group's heads then read
 * (MLA: one tile is both keys and values), so no dequantized copy of the cache ever exists. The query rows are first
 * rounded through Q8_0 (BF16 for a BF16 cache), as ggml's flash attention quantizes Q for its int8 dot products with
 * quantized keys: the scores are llama.cpp's, up to float summation order. An ISA may define
 * PMX_KV_DEQUANT and kv_dequant_row(t, dst, src, n) (n values of type index t to floats, as ggml dequantizes) for
 * the types it accelerates; else the reference dequantizer runs. */
#ifndef PMX_ATTENTION_ONLINE_H
#define PMX_ATTENTION_ONLINE_H
#include <math.h>
#include <string.h>
#include "ref/ref.h"

/* Heads walking one key stream together (m and l on the stack); a larger group walks it once per 128. */
#define HEADS_MAX 128
/* Heads whose scores of one block are on the stack at once. */
#define HEADS_TILE 32
/* Floats of one dequantized tile (K, and V): a block of keys holds at least 2 keys and at most this many values. */
#define KV_TILE_FLOATS (2 * PMX_KV_MAX_HEAD_DIM)
/* Floats of the rounded query rows of the heads that walk one quantized key stream together. */
#define KV_Q_FLOATS 16384

/* How attend reads K and V: in place as floats or halves, or through the dequantized tile. */
#define KV_F32 0
#define KV_F16 1
#define KV_DQ 2

#ifndef PMX_KV_DEQUANT
INLINE void kv_dequant_row(int t, float *dst, const void *src, int64_t n) { pmx_ref_dequantize_row(t, dst, src, n); }
#endif

/* nb rows of n values of type index t, the first at element off of src and each stride elements after the previous
 * (offsets whole blocks), into dst[nb][n]. */
INLINE void kv_dequant_rows(float *dst, const void *src, int t, int64_t off, int64_t stride, int64_t nb, int64_t n) {
    for (int64_t j = 0; j < nb; j++) kv_dequant_row(t, dst + j * n, (const char *)src + pmx_row_bytes(t, off + j * stride), n);
}

#ifndef PMX_ATTENTION_HEADS
/* s[h * BLK + j] = scale * q_h . k_j for nh query rows hd apart */
INLINE void scores_heads(float *s, const float *q, int64_t nh, const void *k, int64_t off, int64_t ks, int64_t nb,
                         int64_t hd, float scale, int f16) {
    for (int64_t h = 0; h < nh; h++) scores(s + h * BLK, q + h * hd, k, off, ks, nb, hd, scale, f16);
}
/* o_h += sum_j p[h * BLK + j] v_j for nh output rows dv apart */
INLINE void accumulate_heads(float *o, const float *p, int64_t nh, const void *v, int64_t off, int64_t vs, int64_t nb,
                             int64_t dv, int f16) {
    for (int64_t h = 0; h < nh; h++) accumulate(o + h * dv, p + h * BLK, v, off, vs, nb, dv, f16);
}
#endif

INLINE void attend(const pmx_attention_args *a, int64_t t, int64_t h0, int64_t h1, int64_t k0, int64_t k1,
                   float *part, float *ml, const int kk, const int vk) {
    const int64_t hd = a->head_dim, dv = a->head_dim_v, group = a->n_head / a->n_kv_head;
    const int64_t ks = a->k_stride, vs = a->v_stride, n_vis = a->pos0 + t + 1;
    if (k1 > n_vis) k1 = n_vis;
    /* MLA over a quantized latent cache: the values are the first dv columns of the key tile */
    const int shared = kk == KV_DQ && vk == KV_DQ && a->k == a->v && ks == vs && a->k_type == a->v_type &&
                       a->n_kv_head == 1;
    /* keys per block: the dequantized tiles stay L1-sized (at least 2 keys; head dims <= PMX_KV_MAX_HEAD_DIM) */
    int64_t blk = BLK;
    if (kk == KV_DQ && 4096 / hd < blk) blk = 4096 / hd > 2 ? 4096 / hd : 2;
    if (vk == KV_DQ && !shared && 4096 / dv < blk) blk = 4096 / dv > 2 ? 4096 / dv : 2;
    const int qt = kk == KV_DQ ? pmx_kv_q_type(a->k_type) : -1;
    const int64_t hmax = qt >= 0 && KV_Q_FLOATS / hd < HEADS_MAX ? KV_Q_FLOATS / hd : HEADS_MAX;
    float s[HEADS_TILE * BLK], m[HEADS_MAX], l[HEADS_MAX];
    float ktile[kk == KV_DQ ? blk * hd : 1], vtile[vk == KV_DQ && !shared ? blk * dv : 1], qr[qt >= 0 ? hmax * hd : 1];
    for (int64_t c0 = h0; c0 < h1;) {
        const int64_t g = c0 / group;
        int64_t c1 = (g + 1) * group < h1 ? (g + 1) * group : h1;
        if (c1 > c0 + hmax) c1 = c0 + hmax;
        const int64_t nh = c1 - c0;
        const float *q = a->q + (t * a->n_head + c0) * hd;
        if (qt >= 0) {
            for (int64_t h = 0; h < nh; h++) pmx_ref_round_row(qt, qr + h * hd, q + h * hd, hd);
            q = qr;
        }
        float *o = part ? part + (c0 - h0) * dv : a->out + (t * a->n_head + c0) * dv;
        memset(o, 0, (size_t)(nh * dv) * sizeof(float));
        for (int64_t h = 0; h < nh; h++) m[h] = -INFINITY, l[h] = 0;
        for (int64_t j0 = k0, nb; j0 < k1; j0 += nb) {
            nb = k1 - j0 < blk ? k1 - j0 : blk;
            const int64_t r0 = pmx_kv_row(a, j0, &nb); /* a paged cache: the block's run of rows */
            /* where this block's keys and values are read: the cache, or its dequantized tiles */
            const void *kp = a->k, *vp = a->v;
            int64_t ko = r0 * ks + g * hd, kst = ks, vo = r0 * vs + g * dv, vst = vs;
            if (kk == KV_DQ) {
                kv_dequant_rows(ktile, a->k, a->k_type, ko, ks, nb, hd);
                kp = ktile, ko = 0, kst = hd;
            }
            if (shared) vp = ktile, vo = 0, vst = hd;
            else if (vk == KV_DQ) {
                kv_dequant_rows(vtile, a->v, a->v_type, vo, vs, nb, dv);
                vp = vtile, vo = 0, vst = dv;
            }
            for (int64_t t0 = 0; t0 < nh; t0 += HEADS_TILE) {
                const int64_t nt = nh - t0 < HEADS_TILE ? nh - t0 : HEADS_TILE;
                scores_heads(s, q + t0 * hd, nt, kp, ko, kst, nb, hd, a->scale, kk == KV_F16);
                for (int64_t h = t0; h < t0 + nt; h++) {
                    float *sh = s + (h - t0) * BLK;
                    float bm = sh[0];
                    for (int64_t j = 1; j < nb; j++) bm = sh[j] > bm ? sh[j] : bm;
                    if (bm > m[h]) {
                        /* the max grew: what was accumulated under the old max shrinks by exp(old - new) */
                        if (l[h] > 0) {
                            const float c = expf(m[h] - bm);
                            l[h] *= c;
                            scale_row(o + h * dv, dv, c);
                        }
                        m[h] = bm;
                    }
                    l[h] += exp_block(sh, nb, m[h]);
                }
                accumulate_heads(o + t0 * dv, s, nt, vp, vo, vst, nb, dv, vk == KV_F16);
            }
        }
        for (int64_t h = 0; h < nh; h++) {
            if (part) ml[2 * (c0 - h0 + h)] = m[h], ml[2 * (c0 - h0 + h) + 1] = l[h];
            else scale_row(o + h * dv, dv, 1.0f / l[h]);
        }
        c0 = c1;
    }
}

/* One copy of attend per (K kind, V kind): the kinds are literals there, so the loops carry no type branch. */
#define PMX_ATTEND(kk, vk)                                                                                         \
    static void attend_##kk##_##vk(const pmx_attention_args *a, int64_t t, int64_t h0, int64_t h1, int64_t k0,    \
                                   int64_t k1, float *part, float *ml) {                                          \
        attend(a, t, h0, h1, k0, k1, part, ml, kk, vk);                                                            \
    }
PMX_ATTEND(0, 0) PMX_ATTEND(0, 1) PMX_ATTEND(0, 2)
PMX_ATTEND(1, 0) PMX_ATTEND(1, 1) PMX_ATTEND(1, 2)
PMX_ATTEND(2, 0) PMX_ATTEND(2, 1) PMX_ATTEND(2, 2)
#undef PMX_ATTEND

static inline int kv_kind(int t) { return t == PMX_T_F32 ? KV_F32 : t == PMX_T_F16 ? KV_F16 : KV_DQ; }

static void pmx_attention_online(const pmx_attention_args *a, int64_t t, int64_t h0, int64_t h1, int64_t k0,
                                 int64_t k1, float *part, float *ml) {
    typedef void (*attend_fn)(const pmx_attention_args *, int64_t, int64_t, int64_t, int64_t, int64_t, float *, float *);
    static const attend_fn fns[3][3] = {{attend_0_0, attend_0_1, attend_0_2},
                                        {attend_1_0, attend_1_1, attend_1_2},
                                        {attend_2_0, attend_2_1, attend_2_2}};
    fns[kv_kind(a->k_type)][kv_kind(a->v_type)](a, t, h0, h1, k0, k1, part, ml);
}

#endif
