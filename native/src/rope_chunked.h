/* The RoPE driver of the per-ISA kernels, written once. cos/sin come from the shared scalar cache
 * (pmx_ref_rope_cache, ggml's exact angles) once per token and chunk of pairs; only the rotation, repeated
 * for every head, is vectorized. An ISA's ops.c defines two primitives, each rotating a prefix of the np
 * pairs and returning how many it did (the driver finishes the rest in scalar code):
 *   rotate_halves(x0, x1, cs, sn, np)   NeoX: pair p is (x0[p], x1[p])
 *   rotate_pairs(xp, cc, ss, np)        normal: pair p is (xp[2p], xp[2p+1]); with cc = (c, c) and
 *                                       ss = (-s, s) per pair, y = x*cc + swap(x)*ss
 * then includes this file and registers pmx_rope_chunked. */
#ifndef PMX_ROPE_CHUNKED_H
#define PMX_ROPE_CHUNKED_H
#include "ref/ref.h"

#define ROPE_CHUNK 256

static void pmx_rope_chunked(const pmx_rope_args *a, int64_t t0, int64_t t1) {
    float cs[ROPE_CHUNK], sn[ROPE_CHUNK], cc[2 * ROPE_CHUNK], ss[2 * ROPE_CHUNK];
    const int64_t half = a->n_rot / 2;
    const int neox = a->mode == PMX_ROPE_NEOX;
    for (int64_t t = t0; t < t1; t++) {
        for (int64_t p0 = 0; p0 < half; p0 += ROPE_CHUNK) {
            const int64_t p1 = p0 + ROPE_CHUNK < half ? p0 + ROPE_CHUNK : half, np = p1 - p0;
            pmx_ref_rope_cache(a, a->pos[t], p0, p1, cs, sn);
            if (!neox)
                for (int64_t p = 0; p < np; p++) cc[2 * p] = cc[2 * p + 1] = cs[p], ss[2 * p] = -sn[p], ss[2 * p + 1] = sn[p];
            for (int64_t h = 0; h < a->n_heads; h++) {
                float *xh = a->x + (t * a->n_heads + h) * a->head_dim;
                if (neox) {
                    float *x0 = xh + p0, *x1 = xh + half + p0;
                    for (int64_t p = rotate_halves(x0, x1, cs, sn, np); p < np; p++) {
                        const float v0 = x0[p], v1 = x1[p];
                        x0[p] = v0 * cs[p] - v1 * sn[p];
                        x1[p] = v0 * sn[p] + v1 * cs[p];
                    }
                } else {
                    float *xp = xh + 2 * p0;
                    for (int64_t p = rotate_pairs(xp, cc, ss, np); p < np; p++) {
                        const float v0 = xp[2 * p], v1 = xp[2 * p + 1];
                        xp[2 * p] = v0 * cs[p] - v1 * sn[p];
                        xp[2 * p + 1] = v0 * sn[p] + v1 * cs[p];
                    }
                }
            }
        }
    }
}

#endif
