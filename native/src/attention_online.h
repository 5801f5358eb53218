/* The online-softmax driver of the per-ISA attention kernels, written once. An ISA's attention.c defines
 * BLK, INLINE and the four primitives below, then includes this file and registers pmx_attention_online:
 *   scores(s, q, k, off, ks, nb, hd, scale, f16)   s[j] = scale * q . k[off + j*ks], j < nb
 *   exp_block(s, nb, m)                            s[j] = exp(s[j] - m) in place; returns their sum
 *   scale_row(o, n, c)                             o *= c
 *   accumulate(o, p, v, off, vs, nb, dv, f16)      o += sum_j p[j] * v[off + j*vs]
 * Per work item (query, head): the row of scores is never stored; each block of BLK keys updates the
 * running max m and sum l, and the output row itself accumulates (rescaled when m grows). */
#ifndef PMX_ATTENTION_ONLINE_H
#define PMX_ATTENTION_ONLINE_H
#include <math.h>
#include <string.h>

INLINE void attend(const pmx_attention_args *a, int64_t i0, int64_t i1, int f16) {
    const int64_t hd = a->head_dim, dv = a->head_dim_v, group = a->n_head / a->n_kv_head;
    const int64_t ks = a->n_kv_head * hd, vs = a->n_kv_head * dv;
    float s[BLK];
    for (int64_t it = i0; it < i1; it++) {
        const int64_t t = it / a->n_head, g = it % a->n_head / group, n_vis = a->pos0 + t + 1;
        const float *q = a->q + it * hd;
        float *out = a->out + it * dv;
        memset(out, 0, (size_t)dv * sizeof(float));
        float m = -INFINITY, l = 0;
        for (int64_t j0 = 0; j0 < n_vis; j0 += BLK) {
            const int64_t nb = n_vis - j0 < BLK ? n_vis - j0 : BLK;
            scores(s, q, a->k, j0 * ks + g * hd, ks, nb, hd, a->scale, f16);
            float bm = s[0];
            for (int64_t j = 1; j < nb; j++) bm = s[j] > bm ? s[j] : bm;
            if (bm > m) {
                /* the max grew: what was accumulated under the old max shrinks by exp(old - new) */
                if (l > 0) {
                    const float c = expf(m - bm);
                    l *= c;
                    scale_row(out, dv, c);
                }
                m = bm;
            }
            l += exp_block(s, nb, m);
            accumulate(out, s, a->v, j0 * vs + g * dv, vs, nb, dv, f16);
        }
        scale_row(out, dv, 1.0f / l);
    }
}

static void attention_f16(const pmx_attention_args *a, int64_t i0, int64_t i1) { attend(a, i0, i1, 1); }
static void attention_f32(const pmx_attention_args *a, int64_t i0, int64_t i1) { attend(a, i0, i1, 0); }

/* f16 is a literal in each wrapper, so the primitives compile once per cache type without a branch. */
static void pmx_attention_online(const pmx_attention_args *a, int64_t i0, int64_t i1) {
    (a->kv_type == PMX_TYPE_F16 ? attention_f16 : attention_f32)(a, i0, i1);
}

#endif
