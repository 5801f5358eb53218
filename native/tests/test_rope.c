/* RoPE: the reference against a direct double-precision evaluation of ggml_rope_ext's formulas, and every
 * ISA against the reference, for normal/NeoX, partial rotation, linear scaling, YaRN and frequency factors
 * (Llama 3.1's rope_freqs); factors all 1 must give bit for bit what NULL gives. */
#include <string.h>
#include "check.h"
#include "ref/ref.h"

typedef struct {
    const char *name;
    int32_t mode;
    int64_t head_dim, n_rot;
    float base, freq_scale, ext_factor, attn_factor, beta_fast, beta_slow;
    int32_t n_ctx_orig;
    int factors; /* 0: freq_factors NULL; 1: Llama-3.1-like factors (see make_factors) */
} config;

static const config CONFIGS[] = {
    {"normal", PMX_ROPE_NORMAL, 64, 64, 10000, 1, 0, 1, 32, 1, 0, 0},
    {"neox", PMX_ROPE_NEOX, 128, 128, 1e6f, 1, 0, 1, 32, 1, 0, 0},
    {"normal n_rot<head_dim", PMX_ROPE_NORMAL, 80, 34, 10000, 1, 0, 1, 32, 1, 0, 0},
    {"neox n_rot<head_dim", PMX_ROPE_NEOX, 64, 40, 10000, 1, 0, 1, 32, 1, 0, 0},
    {"normal linear 0.25", PMX_ROPE_NORMAL, 128, 128, 10000, 0.25f, 0, 1, 32, 1, 0, 0},
    {"neox linear 0.25", PMX_ROPE_NEOX, 96, 96, 500000, 0.25f, 0, 1, 32, 1, 0, 0},
    {"neox yarn", PMX_ROPE_NEOX, 128, 128, 10000, 0.25f, 1, 1, 32, 1, 4096, 0},
    {"normal yarn n_rot<head_dim attn 0.9", PMX_ROPE_NORMAL, 72, 64, 10000, 0.25f, 1, 0.9f, 32, 1, 4096, 0},
    {"neox wide (cache in chunks)", PMX_ROPE_NEOX, 528, 520, 10000, 1, 0, 1, 32, 1, 0, 0},
    {"normal wide yarn", PMX_ROPE_NORMAL, 520, 520, 10000, 0.25f, 1, 1, 32, 1, 4096, 0},
    {"normal factors", PMX_ROPE_NORMAL, 64, 64, 500000, 1, 0, 1, 32, 1, 0, 1},
    {"neox factors n_rot<head_dim", PMX_ROPE_NEOX, 72, 64, 10000, 1, 0, 1, 32, 1, 0, 1},
    {"normal factors linear 0.25", PMX_ROPE_NORMAL, 128, 128, 500000, 0.25f, 0, 1, 32, 1, 0, 1},
    {"neox factors yarn", PMX_ROPE_NEOX, 128, 128, 10000, 0.25f, 1, 1, 32, 1, 4096, 1},
    {"normal wide factors yarn", PMX_ROPE_NORMAL, 520, 520, 10000, 0.25f, 1, 1, 32, 1, 4096, 1},
};
#define N_CONFIGS (sizeof CONFIGS / sizeof CONFIGS[0])

static const int32_t POS[] = {0, 1, 2, 17, 100, 1000, 4095, 4097, 12000};
#define N_TOK ((int64_t)(sizeof POS / sizeof POS[0]))
#define N_HEADS 3

/* Llama 3.1's shape: 1 for the high-frequency quarter of the pairs, 8 for the low-frequency quarter, a
 * smooth ramp in between (the factors divide the angles, so they stretch the long wavelengths). */
static void make_factors(float *ff, int64_t half) {
    for (int64_t i = 0; i < half; i++) {
        const double u = fmin(1, fmax(0, (i - half / 4.0) / (half / 2.0)));
        ff[i] = (float)(1 + 7 * u * u * (3 - 2 * u));
    }
}

/* The formulas as written: theta = pos * base^(-2i/n_rot) / ff[i], YaRN ramp between freq_scale*theta and theta
 * over the correction dims, magnitude scale attn_factor * (1 + 0.1 ln(1/freq_scale)) with YaRN. Also
 * returns per pair the exact unscaled angle, from which the test derives its bound. */
static void rope_double(const config *c, const float *ff, float *x, double *theta_e_out) {
    const int64_t half = c->n_rot / 2;
    const double ts = pow(c->base, -2.0 / (double)c->n_rot);
    const double twopi = 2 * 3.14159265358979323846;
    const double lo = fmax(0, floor(c->n_rot * log(c->n_ctx_orig / (c->beta_fast * twopi)) / (2 * log(c->base))));
    const double hi = fmin(c->n_rot - 1, ceil(c->n_rot * log(c->n_ctx_orig / (c->beta_slow * twopi)) / (2 * log(c->base))));
    const double mscale = c->attn_factor * (c->ext_factor != 0 ? 1 + 0.1 * log(1.0 / c->freq_scale) : 1);
    for (int64_t t = 0; t < N_TOK; t++)
        for (int64_t i = 0; i < half; i++) {
            const double te = POS[t] * pow(ts, (double)i) / (ff ? ff[i] : 1), ti = c->freq_scale * te;
            double th = ti;
            if (c->ext_factor != 0) {
                const double mix = (1 - fmin(1, fmax(0, (i - lo) / fmax(0.001, hi - lo)))) * c->ext_factor;
                th = ti * (1 - mix) + te * mix;
            }
            theta_e_out[t * half + i] = te;
            const double cs = cos(th) * mscale, sn = sin(th) * mscale;
            for (int64_t h = 0; h < N_HEADS; h++) {
                float *xh = x + (t * N_HEADS + h) * c->head_dim;
                const int64_t a = c->mode == PMX_ROPE_NEOX ? i : 2 * i, b = c->mode == PMX_ROPE_NEOX ? i + half : 2 * i + 1;
                const double x0 = xh[a], x1 = xh[b];
                xh[a] = (float)(x0 * cs - x1 * sn);
                xh[b] = (float)(x0 * sn + x1 * cs);
            }
        }
}

static int32_t run(pmx_pool *pool, const config *c, const float *ff, float *x) {
    return pmx_rope_f32(pool, x, N_TOK, N_HEADS, c->head_dim, c->n_rot, POS, c->mode, c->base, c->freq_scale,
                        c->ext_factor, c->attn_factor, c->beta_fast, c->beta_slow, c->n_ctx_orig, ff);
}

/* Worst |got - want| / bound over the rotated pairs, where per pair
 *   bound = mscale * (|x0| + |x1|) * (theta_err + eps_out).
 * vs_double: ggml's angle is a float running product theta *= theta_scale, so pair i carries up to
 * ~1.5 i ulp of powf and the products plus a few roundings in the YaRN mix: theta_err = (2i + 4) 2^-23 *
 * theta_extrap (one more rounding, (2i + 5), with frequency factors: the division; theta_extrap is then the
 * divided angle, and a relative error survives division unchanged); eps_out = 2^-20 covers cosf/sinf, mscale and the rotation's roundings (8 ulp).
 * ISA vs reference: the same cos/sin cache, only the rotation differs (FMA vs double then rounded):
 * theta_err = 0, eps_out = 2^-22. Dims >= n_rot must be untouched, bit for bit. */
static double compare(const config *c, const float *in, const float *got, const float *want, const double *theta_e,
                      int vs_double, const char *what) {
    const int64_t half = c->n_rot / 2;
    const double mscale = c->attn_factor * (c->ext_factor != 0 ? 1 + 0.1 * log(1.0 / c->freq_scale) : 1);
    double w = 0;
    int64_t untouched_bad = 0;
    for (int64_t t = 0; t < N_TOK; t++)
        for (int64_t h = 0; h < N_HEADS; h++) {
            const int64_t off = (t * N_HEADS + h) * c->head_dim;
            for (int64_t i = 0; i < half; i++) {
                const int64_t a = c->mode == PMX_ROPE_NEOX ? i : 2 * i, b = c->mode == PMX_ROPE_NEOX ? i + half : 2 * i + 1;
                const double te = theta_e[t * half + i];
                const double terr = vs_double ? (2.0 * i + (c->factors ? 5 : 4)) * 0x1p-23 * te : 0;
                const double bound = mscale * (fabs(in[off + a]) + fabs(in[off + b])) * (terr + (vs_double ? 0x1p-20 : 0x1p-22));
                const double e = fmax(fabs((double)got[off + a] - want[off + a]), fabs((double)got[off + b] - want[off + b]));
                const double r = e == 0 ? 0 : e / bound;
                if (!(r <= w)) w = isnan(r) ? INFINITY : r;
            }
            for (int64_t d = c->n_rot; d < c->head_dim; d++) untouched_bad += memcmp(&got[off + d], &in[off + d], 4) != 0;
        }
    CHECK(untouched_bad == 0, "%s %s: %ld dims >= n_rot changed", c->name, what, (long)untouched_bad);
    return w;
}

/* On the current ISA: factors all 1 are exactly no factors (x / 1.0f == x); real factors must matter. */
static void check_factors(const config *c, const float *ff, const float *ones, const float *in, int64_t n,
                          const char *isa) {
    float *y0 = malloc(sizeof(float) * n), *y1 = malloc(sizeof(float) * n);
    memcpy(y0, in, sizeof(float) * n), memcpy(y1, in, sizeof(float) * n);
    CHECK(run(NULL, c, NULL, y0) == PMX_OK && run(NULL, c, ones, y1) == PMX_OK, "status");
    CHECK(memcmp(y0, y1, sizeof(float) * n) == 0, "%s %s: factors all 1 differ from NULL", c->name, isa);
    if (ff) {
        memcpy(y1, in, sizeof(float) * n);
        CHECK(run(NULL, c, ff, y1) == PMX_OK, "status");
        CHECK(memcmp(y0, y1, sizeof(float) * n) != 0, "%s %s: factors had no effect", c->name, isa);
    }
    free(y0), free(y1);
}

int main(void) {
    pmx_pool *pool = pmx_pool_create(3);
    pmx_kernels ref;
    pmx_kernels_ref(&ref);
    for (size_t k = 0; k < N_CONFIGS; k++) {
        const config *c = &CONFIGS[k];
        const int64_t n = N_TOK * N_HEADS * c->head_dim, half = c->n_rot / 2;
        float *in = malloc(sizeof(float) * n), *want = malloc(sizeof(float) * n), *r = malloc(sizeof(float) * n);
        float *y = malloc(sizeof(float) * n);
        double *theta_e = malloc(sizeof(double) * N_TOK * half);
        float *ff = NULL, *ones = malloc(sizeof(float) * half);
        for (int64_t i = 0; i < half; i++) ones[i] = 1.0f;
        if (c->factors) make_factors(ff = malloc(sizeof(float) * half), half);
        fill(in, n, 2.0f);
        memcpy(want, in, sizeof(float) * n);
        rope_double(c, ff, want, theta_e);

        memcpy(r, in, sizeof(float) * n);
        pmx_force_isa(PMX_ISA_SCALAR);
        CHECK(run(NULL, c, ff, r) == PMX_OK, "status");
        check_factors(c, ff, ones, in, n, "scalar");
        double w = compare(c, in, r, want, theta_e, 1, "ref vs double");
        CHECK(w <= 1, "%s: reference vs double formula: worst %g of the bound", c->name, w);
        printf("%-38s scalar vs double: worst %.3f of the bound\n", c->name, w);

        for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) {
            if (k > 0 && !pmx_isa_supported(isa)) continue; /* named once, for the first config */
            if (!for_each_isa_begin(isa)) continue;
            check_factors(c, ff, ones, in, n, pmx_isa_name(isa));
            for (int threaded = 0; threaded < 2; threaded++) {
                memcpy(y, in, sizeof(float) * n);
                CHECK(run(threaded ? pool : NULL, c, ff, y) == PMX_OK, "status");
                w = compare(c, in, y, r, theta_e, 0, pmx_isa_name(isa));
                CHECK(w <= 1, "%s %s threaded=%d: vs reference worst %g of the bound", c->name, pmx_isa_name(isa),
                      threaded, w);
                if (threaded) printf("%-38s %s vs scalar: worst %.3f of the bound\n", c->name, pmx_isa_name(isa), w);
            }
        }
        free(in), free(want), free(r), free(y), free(theta_e), free(ff), free(ones);
    }
    /* direct ref-table call over a token sub-range leaves the other tokens alone (the split the pool uses) */
    {
        const config *c = &CONFIGS[1];
        const int64_t n = N_TOK * N_HEADS * c->head_dim, per = N_HEADS * c->head_dim;
        float *x = malloc(sizeof(float) * n), *x0 = malloc(sizeof(float) * n);
        fill(x, n, 1.0f);
        memcpy(x0, x, sizeof(float) * n);
        pmx_rope_args a = {x, N_HEADS, c->head_dim, c->n_rot, POS, c->mode, c->base, c->freq_scale, c->ext_factor,
                           c->attn_factor, c->beta_fast, c->beta_slow, c->n_ctx_orig, NULL};
        ref.rope_f32(&a, 2, 5);
        CHECK(memcmp(x, x0, sizeof(float) * 2 * per) == 0 && memcmp(x + 5 * per, x0 + 5 * per, sizeof(float) * (n - 5 * per)) == 0,
              "tokens outside [t0, t1) touched");
        free(x), free(x0);
    }
    float v = 1;
    int32_t p = 0;
    CHECK(pmx_rope_f32(NULL, &v, 1, 1, 2, 3, &p, 0, 10000, 1, 0, 1, 32, 1, 0, NULL) == PMX_ERR_INVALID_ARG, "odd n_rot rejected");
    CHECK(pmx_rope_f32(NULL, &v, 1, 1, 2, 2, &p, 1, 10000, 1, 0, 1, 32, 1, 0, NULL) == PMX_ERR_INVALID_ARG, "bad mode rejected");
    pmx_pool_destroy(pool);
    return finish();
}
