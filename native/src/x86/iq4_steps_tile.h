/* The IQ4_NL / IQ4_XS steps tile (Q4_0's prepared 8-block steps): the order of the steps over a row, shared by the
 * AVX2 (maddubs) and AVX-512 VNNI (vpdpbusd) kernels. Included after the includer defines, always inline:
 *   iq4_step(w, rb, xa, xb, so, i, acc, R, C, P, kind)     one step of 2P blocks from block i (S_IQ4_XS: super-block i,
 *                                                          P = 4), the columns' prepared step at byte so, into acc
 *   iq4_store(acc, y, ldy, R, C)                           the tile's R x C sums into y
 *   iq4_nl_odd_block(w, rb, xa, xb, so, i, y, ldy, R, C)   IQ4_NL's last odd block i (a plain block_q8_0 at byte so of
 *                                                          the activations), added into y */
#ifndef PMX_X86_IQ4_STEPS_TILE_H
#define PMX_X86_IQ4_STEPS_TILE_H

/* Weight rows [0, R) against columns [0, C): IQ4_XS one step per super-block; IQ4_NL steps of 8 blocks, then 4 and 2,
 * a last odd block on its own. */
static inline __attribute__((always_inline)) void iq4_steps_tile(const char *w, int64_t rb, const char *xa, int64_t xb,
                                                                 int64_t n, float *y, int64_t ldy, const int R,
                                                                 const int C, const int kind) {
    const int64_t sb = 4 * 64 + 64; /* bytes of an 8-block step */
    __m256 acc[4][4];
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    if (kind == S_IQ4_XS) {
        for (int64_t i = 0; i < n / QK_K; i++) iq4_step(w, rb, xa, xb, i * sb, i, acc, R, C, 4, kind);
        iq4_store(acc, y, ldy, R, C);
        return;
    }
    const int64_t nb = n / QK8_0;
    int64_t i = 0, so = 0;
    for (; i + 8 <= nb; i += 8, so += sb) iq4_step(w, rb, xa, xb, so, i, acc, R, C, 4, kind);
    if (i + 4 <= nb) {
        iq4_step(w, rb, xa, xb, so, i, acc, R, C, 2, kind);
        i += 4, so += 2 * 64 + 64;
    }
    if (i + 2 <= nb) {
        iq4_step(w, rb, xa, xb, so, i, acc, R, C, 1, kind);
        i += 2, so += 64 + 64;
    }
    iq4_store(acc, y, ldy, R, C);
    if (i < nb) iq4_nl_odd_block(w, rb, xa, xb, so, i, y, ldy, R, C);
}
#endif
