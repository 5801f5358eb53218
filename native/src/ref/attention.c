/* Scalar reference causal GQA / MLA attention: per (query, head) an exact two-pass softmax in double (max
 * first, then weights and weighted V sum) over the keys asked for, no scores kept, no heap. The oracle for
 * every ISA; a share of the keys (part != NULL) gives its unnormalized sum, max and weight sum. K and V of any
 * KV cache type (pmx_kv_type_ok) are read as ggml dequantizes them, a chunk of a row at a time; with quantized keys
 * the query is first rounded through Q8_0 (BF16 keys: BF16), as ggml's flash attention does (pmx_kv_q_type). */
#include <math.h>
#include "panamax.h"
#include "ref.h"

/* Output dims accumulated per pass in double; wider heads take several passes over the keys (each pass
 * recomputes the same scores, so the result does not depend on this constant). Also the chunk of a cache row
 * dequantized at once (a multiple of every block size). */
#define REF_ACC_DIMS 256

/* n values of a cache row of type index t from element off (a whole block) into dst, as floats. */
static void kv_load(float *dst, const void *base, int t, int64_t off, int64_t n) {
    pmx_ref_dequantize_row(t, dst, (const char *)base + pmx_row_bytes(t, off), n);
}

static double score(const float *q, const void *k, int t, int64_t off, int64_t hd, double scale) {
    float kb[REF_ACC_DIMS];
    double s = 0;
    for (int64_t i0 = 0; i0 < hd; i0 += REF_ACC_DIMS) {
        const int64_t n = hd - i0 < REF_ACC_DIMS ? hd - i0 : REF_ACC_DIMS;
        kv_load(kb, k, t, off + i0, n);
        for (int64_t i = 0; i < n; i++) s += (double)q[i0 + i] * (double)kb[i];
    }
    return s * scale;
}

/* The cache row of key j (a paged cache maps it through the sequence's block table). */
static int64_t row(const pmx_attention_args *a, int64_t j) {
    int64_t one = 1;
    return pmx_kv_row(a, j, &one);
}

static void ref_attention(const pmx_attention_args *a, int64_t t, int64_t h0, int64_t h1, int64_t k0, int64_t k1,
                          float *part, float *ml) {
    const int64_t hd = a->head_dim, dv = a->head_dim_v, group = a->n_head / a->n_kv_head;
    const int64_t ks = a->k_stride, vs = a->v_stride, n_vis = a->pos0 + t + 1;
    const int kt = a->k_type, vt = a->v_type;
    const double scale = a->scale;
    if (k1 > n_vis) k1 = n_vis;
    double acc[REF_ACC_DIMS];
    float vb[REF_ACC_DIMS];
    const int qt = pmx_kv_q_type(kt);
    float qr[qt >= 0 ? hd : 1];
    for (int64_t h = h0; h < h1; h++) {
        const int64_t g = h / group;
        const float *q = a->q + (t * a->n_head + h) * hd;
        if (qt >= 0) {
            pmx_ref_round_row(qt, qr, q, hd);
            q = qr;
        }
        float *out = part ? part + (h - h0) * dv : a->out + (t * a->n_head + h) * dv;
        double m = -INFINITY, l = 0;
        for (int64_t j = k0; j < k1; j++) m = fmax(m, score(q, a->k, kt, row(a, j) * ks + g * hd, hd, scale));
        for (int64_t d0 = 0; d0 < dv; d0 += REF_ACC_DIMS) {
            const int64_t nd = dv - d0 < REF_ACC_DIMS ? dv - d0 : REF_ACC_DIMS;
            l = 0;
            for (int64_t d = 0; d < nd; d++) acc[d] = 0;
            for (int64_t j = k0; j < k1; j++) {
                const double w = exp(score(q, a->k, kt, row(a, j) * ks + g * hd, hd, scale) - m);
                l += w;
                kv_load(vb, a->v, vt, row(a, j) * vs + g * dv + d0, nd);
                for (int64_t d = 0; d < nd; d++) acc[d] += w * (double)vb[d];
            }
            for (int64_t d = 0; d < nd; d++) out[d0 + d] = (float)(part ? acc[d] : acc[d] / l);
        }
        if (part) ml[2 * (h - h0)] = (float)m, ml[2 * (h - h0) + 1] = (float)l;
    }
}

void pmx_ref_register_attention(pmx_kernels *k) { k->attention = ref_attention; }
