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
 * the head's running max m and sum l, and the output row itself accumulates (rescaled when m grows). */
#ifndef PMX_ATTENTION_ONLINE_H
#define PMX_ATTENTION_ONLINE_H
#include <math.h>
#include <string.h>

/* Heads walking one key stream together (m and l on the stack); a larger group walks it once per 128. */
#define HEADS_MAX 128
/* Heads whose scores of one block are on the stack at once. */
#define HEADS_TILE 32

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
                   float *part, float *ml, int f16) {
    const int64_t hd = a->head_dim, dv = a->head_dim_v, group = a->n_head / a->n_kv_head;
    const int64_t ks = a->k_stride, vs = a->v_stride, n_vis = a->pos0 + t + 1;
    if (k1 > n_vis) k1 = n_vis;
    float s[HEADS_TILE * BLK], m[HEADS_MAX], l[HEADS_MAX];
    for (int64_t c0 = h0; c0 < h1;) {
        const int64_t g = c0 / group;
        int64_t c1 = (g + 1) * group < h1 ? (g + 1) * group : h1;
        if (c1 > c0 + HEADS_MAX) c1 = c0 + HEADS_MAX;
        const int64_t nh = c1 - c0;
        const float *q = a->q + (t * a->n_head + c0) * hd;
        float *o = part ? part + (c0 - h0) * dv : a->out + (t * a->n_head + c0) * dv;
        memset(o, 0, (size_t)(nh * dv) * sizeof(float));
        for (int64_t h = 0; h < nh; h++) m[h] = -INFINITY, l[h] = 0;
        for (int64_t j0 = k0, nb; j0 < k1; j0 += nb) {
            nb = k1 - j0 < BLK ? k1 - j0 : BLK;
            const int64_t r0 = pmx_kv_row(a, j0, &nb); /* a paged cache: the block's run of rows */
            for (int64_t t0 = 0; t0 < nh; t0 += HEADS_TILE) {
                const int64_t nt = nh - t0 < HEADS_TILE ? nh - t0 : HEADS_TILE;
                scores_heads(s, q + t0 * hd, nt, a->k, r0 * ks + g * hd, ks, nb, hd, a->scale, f16);
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
                accumulate_heads(o + t0 * dv, s, nt, a->v, r0 * vs + g * dv, vs, nb, dv, f16);
            }
        }
        for (int64_t h = 0; h < nh; h++) {
            if (part) ml[2 * (c0 - h0 + h)] = m[h], ml[2 * (c0 - h0 + h) + 1] = l[h];
            else scale_row(o + h * dv, dv, 1.0f / l[h]);
        }
        c0 = c1;
    }
}

static void attention_f16(const pmx_attention_args *a, int64_t t, int64_t h0, int64_t h1, int64_t k0, int64_t k1,
                          float *part, float *ml) {
    attend(a, t, h0, h1, k0, k1, part, ml, 1);
}
static void attention_f32(const pmx_attention_args *a, int64_t t, int64_t h0, int64_t h1, int64_t k0, int64_t k1,
                          float *part, float *ml) {
    attend(a, t, h0, h1, k0, k1, part, ml, 0);
}

/* f16 is a literal in each wrapper, so the primitives compile once per cache type without a branch. */
static void pmx_attention_online(const pmx_attention_args *a, int64_t t, int64_t h0, int64_t h1, int64_t k0,
                                 int64_t k1, float *part, float *ml) {
    (a->kv_type == PMX_TYPE_F16 ? attention_f16 : attention_f32)(a, t, h0, h1, k0, k1, part, ml);
}

#endif
