/* Scalar reference causal GQA / MLA attention: per (query, head) an exact two-pass softmax in double (max
 * first, then weights and weighted V sum) over the keys asked for, no scores kept, no heap. The oracle for
 * every ISA; a share of the keys (part != NULL) gives its unnormalized sum, max and weight sum. */
#include <math.h>
#include "panamax.h"
#include "ref.h"

/* Output dims accumulated per pass in double; wider heads take several passes over the keys (each pass
 * recomputes the same scores, so the result does not depend on this constant). */
#define REF_ACC_DIMS 256

/* f16 is a literal at each call of attend(): two copies without a branch in the loops. */
#define INLINE static inline __attribute__((always_inline))

INLINE double kv_elem(const void *p, int64_t i, int f16) {
    return f16 ? (double)pmx_half_to_f32(((const pmx_half *)p)[i]) : (double)((const float *)p)[i];
}

INLINE double score(const float *q, const void *k, int64_t off, int64_t hd, int f16, double scale) {
    double s = 0;
    for (int64_t i = 0; i < hd; i++) s += (double)q[i] * kv_elem(k, off + i, f16);
    return s * scale;
}

/* The cache row of key j (a paged cache maps it through the sequence's block table). */
INLINE int64_t row(const pmx_attention_args *a, int64_t j) {
    int64_t one = 1;
    return pmx_kv_row(a, j, &one);
}

INLINE void attend(const pmx_attention_args *a, int64_t t, int64_t h0, int64_t h1, int64_t k0, int64_t k1,
                   float *part, float *ml, int f16) {
    const int64_t hd = a->head_dim, dv = a->head_dim_v, group = a->n_head / a->n_kv_head;
    const int64_t ks = a->k_stride, vs = a->v_stride, n_vis = a->pos0 + t + 1;
    const double scale = a->scale;
    if (k1 > n_vis) k1 = n_vis;
    double acc[REF_ACC_DIMS];
    for (int64_t h = h0; h < h1; h++) {
        const int64_t g = h / group;
        const float *q = a->q + (t * a->n_head + h) * hd;
        float *out = part ? part + (h - h0) * dv : a->out + (t * a->n_head + h) * dv;
        double m = -INFINITY, l = 0;
        for (int64_t j = k0; j < k1; j++) m = fmax(m, score(q, a->k, row(a, j) * ks + g * hd, hd, f16, scale));
        for (int64_t d0 = 0; d0 < dv; d0 += REF_ACC_DIMS) {
            const int64_t nd = dv - d0 < REF_ACC_DIMS ? dv - d0 : REF_ACC_DIMS;
            l = 0;
            for (int64_t d = 0; d < nd; d++) acc[d] = 0;
            for (int64_t j = k0; j < k1; j++) {
                const double w = exp(score(q, a->k, row(a, j) * ks + g * hd, hd, f16, scale) - m);
                l += w;
                const int64_t vo = row(a, j) * vs + g * dv + d0;
                for (int64_t d = 0; d < nd; d++) acc[d] += w * kv_elem(a->v, vo + d, f16);
            }
            for (int64_t d = 0; d < nd; d++) out[d0 + d] = (float)(part ? acc[d] : acc[d] / l);
        }
        if (part) ml[2 * (h - h0)] = (float)m, ml[2 * (h - h0) + 1] = (float)l;
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

static void ref_attention(const pmx_attention_args *a, int64_t t, int64_t h0, int64_t h1, int64_t k0, int64_t k1,
                          float *part, float *ml) {
    (a->kv_type == PMX_TYPE_F16 ? attention_f16 : attention_f32)(a, t, h0, h1, k0, k1, part, ml);
}

void pmx_ref_register_attention(pmx_kernels *k) { k->attention = ref_attention; }
