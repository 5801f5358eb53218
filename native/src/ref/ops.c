/* Scalar reference element-wise, reduction and RoPE kernels: the oracle for every ISA and the fallback.
 * Softmax and SiLU work in double; RoPE reproduces ggml_rope_ext's float arithmetic for the angles. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include "panamax.h"
#include "ref.h"

/* Keeps the k best seen so far in idx/val, sorted descending; a new value enters by insertion. Ties keep
 * the earlier index first because an equal value never moves ahead of one already there. */
void pmx_ref_topk_f32(const float *x, int64_t n, int32_t k, int32_t *idx, float *val) {
    int32_t filled = 0;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        if (v != v) continue; /* NaN never ranks */
        if (filled == k && !(v > val[k - 1])) continue;
        int32_t j = filled < k ? filled++ : k - 1;
        while (j > 0 && v > val[j - 1]) {
            val[j] = val[j - 1];
            idx[j] = idx[j - 1];
            j--;
        }
        val[j] = v;
        idx[j] = (int32_t)i;
    }
    for (int32_t j = filled; j < k; j++) { /* fewer than k numbers: pad with -inf, index -1 */
        val[j] = -__builtin_inff();
        idx[j] = -1;
    }
}

/* A row whose entries are all -inf (or NaN) has no defined softmax; it comes out NaN, as in ggml. */
static void ref_softmax_f32(float *x, int64_t n, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        float *xr = x + r * n;
        float mx = -INFINITY;
        for (int64_t i = 0; i < n; i++)
            if (xr[i] > mx) mx = xr[i];
        double sum = 0;
        for (int64_t i = 0; i < n; i++) sum += exp((double)xr[i] - mx);
        const double inv = 1.0 / sum;
        for (int64_t i = 0; i < n; i++) xr[i] = (float)(exp((double)xr[i] - mx) * inv);
    }
}

static void ref_silu_mul_f32(float *y, const float *g, const float *u, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
        const double gi = g[i];
        y[i] = (float)(gi / (1.0 + exp(-gi)) * u[i]);
    }
}

static float gelu_table[1 << 16];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

/* ggml_gelu_f32: the tanh approximation in float (tanh taken in double and rounded, as the Java backends do, so every
 * backend has the same table) */
static float gelu_tanh(float x) {
    const float sqrt2_over_pi = 0.79788456080286535587989211986876f, coef_a = 0.044715f;
    const float u = sqrt2_over_pi * x * (1.0f + coef_a * x * x);
    return 0.5f * x * (1.0f + (float)tanh((double)u));
}

static void gelu_table_init(void) {
    for (uint32_t h = 0; h < (1u << 16); h++) gelu_table[h] = pmx_half_to_f32(pmx_f32_to_half(gelu_tanh(pmx_half_to_f32((pmx_half)h))));
}

const float *pmx_gelu_table(void) {
    pthread_once(&gelu_once, gelu_table_init);
    return gelu_table;
}

static void ref_gelu_f32(float *x, const float *b, int64_t n, int64_t r0, int64_t r1) {
    const float *t = pmx_gelu_table();
    for (int64_t r = r0; r < r1; r++) {
        float *xr = x + r * n;
        for (int64_t i = 0; i < n; i++) {
            const float v = b ? xr[i] + b[i] : xr[i];
            xr[i] = v <= -10.0f ? 0.0f : v >= 10.0f ? v : t[pmx_f32_to_half(v)];
        }
    }
}

static void ref_layer_norm_f32(float *y, const float *x, const float *res, const float *w, const float *b, int64_t n,
                               int64_t r0, int64_t r1, float eps) {
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        if (res) {
            for (int64_t i = 0; i < n; i++) yr[i] = xr[i] + res[r * n + i];
            xr = yr;
        }
        double sum = 0;
        for (int64_t i = 0; i < n; i++) sum += xr[i];
        const float mean = (float)(sum / (double)n);
        double var = 0;
        for (int64_t i = 0; i < n; i++) {
            const float d = xr[i] - mean;
            var += (double)(d * d);
        }
        const float scale = 1.0f / sqrtf((float)(var / (double)n) + eps);
        for (int64_t i = 0; i < n; i++) {
            const float v = (xr[i] - mean) * scale;
            const float m = v * w[i];
            yr[i] = m + b[i];
        }
    }
}

/* The exact products in double with K and V rounded to binary16, the softmax in double. */
static void ref_attention_encoder(const float *q, const float *k, const float *v, float *out, int64_t L, int64_t n_head,
                                  int64_t head_dim, int64_t h0, int64_t h1, float scale, float *scratch) {
    (void)scratch;
    const int64_t st = n_head * head_dim;
    double *p = malloc(sizeof(double) * (size_t)L), *o = malloc(sizeof(double) * (size_t)head_dim);
    if (!p || !o) abort();
    for (int64_t h = h0; h < h1; h++)
        for (int64_t i = 0; i < L; i++) {
            const float *qi = q + i * st + h * head_dim;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < L; j++) {
                const float *kj = k + j * st + h * head_dim;
                double s = 0;
                for (int64_t d = 0; d < head_dim; d++) s += (double)qi[d] * pmx_half_to_f32(pmx_f32_to_half(kj[d]));
                p[j] = s * scale;
                if (p[j] > mx) mx = p[j];
            }
            for (int64_t d = 0; d < head_dim; d++) o[d] = 0;
            for (int64_t j = 0; j < L; j++) {
                const double e = exp(p[j] - mx);
                sum += e;
                const float *vj = v + j * st + h * head_dim;
                for (int64_t d = 0; d < head_dim; d++) o[d] += e * pmx_half_to_f32(pmx_f32_to_half(vj[d]));
            }
            for (int64_t d = 0; d < head_dim; d++) out[i * st + h * head_dim + d] = (float)(o[d] / sum);
        }
    free(p), free(o);
}

static void ref_add_f32(float *y, const float *a, const float *b, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) y[i] = a[i] + b[i];
}

/* Strict > keeps the first of equal maxima and never lets NaN win; an all-NaN vector gives index 0. */
static int64_t ref_argmax_f32(const float *x, int64_t n) {
    int64_t best = -1;
    float bv = 0;
    for (int64_t i = 0; i < n; i++)
        if (x[i] == x[i] && (best < 0 || x[i] > bv)) bv = x[i], best = i;
    return best < 0 ? 0 : best;
}

/* ggml_rope_yarn_corr_dim: the dimension whose wavelength spans n_ctx_orig / beta rotations. */
static float yarn_corr_dim(int n_dims, int n_ctx_orig, float beta, float base) {
    return (float)n_dims * logf((float)n_ctx_orig / (beta * 2 * 3.14159265358979323846f)) / (2 * logf(base));
}

/* Float throughout and the angle a running product, in ggml's order, so that angles (and hence outputs)
 * match llama.cpp's CPU backend to the last few ulp rather than only to the formula. */
void pmx_ref_rope_cache(const pmx_rope_args *a, int32_t pos, int64_t p0, int64_t p1, float *cos_out,
                        float *sin_out) {
    const int n_dims = (int)a->n_rot;
    const float theta_scale = powf(a->freq_base, -2.0f / (float)n_dims);
    const float lo = fmaxf(0.0f, floorf(yarn_corr_dim(n_dims, a->n_ctx_orig, a->beta_fast, a->freq_base)));
    const float hi = fminf((float)(n_dims - 1), ceilf(yarn_corr_dim(n_dims, a->n_ctx_orig, a->beta_slow, a->freq_base)));
    float mscale = a->attn_factor;
    if (a->ext_factor != 0.0f) mscale *= 1.0f + 0.1f * logf(1.0f / a->freq_scale);
    float theta = (float)pos;
    for (int64_t p = 0; p < p0; p++) theta *= theta_scale;
    for (int64_t p = p0; p < p1; p++) {
        /* frequency factors (Llama 3.1's rope_freqs) divide the extrapolated angle before the YaRN mixing */
        const float theta_extrap = a->freq_factors ? theta / a->freq_factors[p] : theta;
        const float theta_interp = a->freq_scale * theta_extrap;
        float th = theta_interp;
        if (a->ext_factor != 0.0f) {
            const float y = ((float)p - lo) / fmaxf(0.001f, hi - lo);
            const float ramp_mix = (1 - fminf(1.0f, fmaxf(0.0f, y))) * a->ext_factor;
            th = theta_interp * (1 - ramp_mix) + theta_extrap * ramp_mix;
        }
        cos_out[p - p0] = cosf(th) * mscale;
        sin_out[p - p0] = sinf(th) * mscale;
        theta *= theta_scale;
    }
}

#define ROPE_CHUNK 256 /* pairs per cos/sin cache refill: covers every common n_rot in one */

static void ref_rope_f32(const pmx_rope_args *a, int64_t t0, int64_t t1) {
    float cs[ROPE_CHUNK], sn[ROPE_CHUNK];
    const int64_t half = a->n_rot / 2;
    for (int64_t t = t0; t < t1; t++) {
        for (int64_t p0 = 0; p0 < half; p0 += ROPE_CHUNK) {
            const int64_t p1 = p0 + ROPE_CHUNK < half ? p0 + ROPE_CHUNK : half;
            pmx_ref_rope_cache(a, a->pos[t], p0, p1, cs, sn);
            for (int64_t h = 0; h < a->n_heads; h++) {
                float *x = a->x + (t * a->n_heads + h) * a->head_dim;
                for (int64_t p = p0; p < p1; p++) {
                    /* NORMAL rotates (2p, 2p+1), NEOX (p, p + n_rot/2) */
                    const int64_t i = a->mode == PMX_ROPE_NEOX ? p : 2 * p;
                    const int64_t j = a->mode == PMX_ROPE_NEOX ? p + half : 2 * p + 1;
                    const double x0 = x[i], x1 = x[j], c = cs[p - p0], s = sn[p - p0];
                    x[i] = (float)(x0 * c - x1 * s);
                    x[j] = (float)(x0 * s + x1 * c);
                }
            }
        }
    }
}

/* ggml_compute_forward_fwht: scale, then span-1, 2, 4, ... butterflies (u + v, u - v). Each output is the same sum of
 * the same terms in the same order whatever the vector width, so SIMD versions match this to the bit. */
static void ref_hadamard_f32(float *x, int64_t n, int64_t c0, int64_t c1) {
    const float scale = 1.0f / sqrtf((float)n);
    for (int64_t c = c0; c < c1; c++) {
        float *r = x + c * n;
        for (int64_t i = 0; i < n; i++) r[i] *= scale;
        for (int64_t len = 1; len < n; len <<= 1)
            for (int64_t i = 0; i < n; i += 2 * len)
                for (int64_t j = i; j < i + len; j++) {
                    const float u = r[j], v = r[j + len];
                    r[j] = u + v;
                    r[j + len] = u - v;
                }
    }
}

void pmx_ref_register_ops(pmx_kernels *k) {
    k->hadamard_f32 = ref_hadamard_f32;
    k->softmax_f32 = ref_softmax_f32;
    k->layer_norm_f32 = ref_layer_norm_f32;
    k->gelu_f32 = ref_gelu_f32;
    k->attention_encoder = ref_attention_encoder;
    k->silu_mul_f32 = ref_silu_mul_f32;
    k->add_f32 = ref_add_f32;
    k->argmax_f32 = ref_argmax_f32;
    k->rope_f32 = ref_rope_f32;
}
