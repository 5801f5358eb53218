/* libFuzzer harness: pmx_moe_ffn (as stored and packed experts) against the scalar reference. Contract (panamax.h):
 * n_tok, n_embd, n_ff, n_expert, n_used >= 1; n_embd whole blocks of the gate and up types, n_ff of the down type;
 * every id in [0, n_expert). Java does not require n_used <= n_expert nor distinct ids within a token: neither does
 * this harness. Packed bits only for types and row counts with a packed layout (pmx_pack_bytes > 0). */
#include "fuzz.h"

static int64_t lcm_block(int32_t a, int32_t b) {
    const int64_t x = pmx_type_block_size(a), y = pmx_type_block_size(b);
    return x > y ? x : y; /* block sizes are 1, 32 or 256: the larger is a multiple of the smaller */
}

/* n_expert stacked rows x cols matrices of type; packed when asked and possible (*packed_bit set then) */
static void *experts(reader *r, int32_t type, int64_t n_expert, int64_t rows, int64_t cols, int raw, int want_packed,
                     int *packed_bit, int bit, pmx_pool *pool) {
    const int64_t bytes = row_bytes(type, cols) * rows * n_expert;
    void *w = buf(bytes);
    if (raw) {
        fill_bytes(r, w, bytes);
    } else {
        float *f = buf(4 * rows * cols * n_expert);
        fill_floats(r, f, rows * cols * n_expert, 0, 0.5f);
        pmx_quantize(type, w, f, rows * n_expert, cols);
        free(f);
    }
    const int64_t pb = want_packed ? pmx_pack_bytes(type, rows * n_expert, cols) : 0;
    if (pb <= 0) return w;
    void *p = buf(pb);
    if (pmx_pack(pool, type, p, w, rows * n_expert, cols) != PMX_OK) FUZZ_FAIL("pack failed");
    free(w);
    *packed_bit |= bit;
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size, 0};
    const unsigned flags = u8(&r); /* 1: raw weights, 2: raw activations, 4: pool, 8: packed, 16: AVX2 */
    const int32_t gt = WEIGHT_TYPES[u8(&r) % COUNT(WEIGHT_TYPES)], ut = WEIGHT_TYPES[u8(&r) % COUNT(WEIGHT_TYPES)];
    const int32_t dt = WEIGHT_TYPES[u8(&r) % COUNT(WEIGHT_TYPES)];
    const int64_t eb = lcm_block(gt, ut), fb = pmx_type_block_size(dt);
    const int64_t n_embd = eb == 1 ? pick(&r, 1, 96) : eb * pick(&r, 1, eb == 256 ? 2 : 4);
    const int64_t n_ff = (flags & 8) ? 16 * pick(&r, 1, 4) * (fb == 256 ? 16 : fb == 32 ? 2 : 1)
                                     : (fb == 1 ? pick(&r, 1, 96) : fb * pick(&r, 1, fb == 256 ? 2 : 4));
    const int64_t n_expert = pick(&r, 1, 8), n_used = pick(&r, 1, 4), n_tok = pick(&r, 1, 12);
    const int32_t isa = (flags & 16) && pmx_isa_supported(PMX_ISA_AVX2) ? PMX_ISA_AVX2 : PMX_ISA_AUTO;
    pmx_pool *pool = (flags & 4) ? fuzz_pool() : NULL;
    int packed = 0;
    void *gate = experts(&r, gt, n_expert, n_ff, n_embd, flags & 1, flags & 8, &packed, PMX_MOE_GATE_PACKED, pool);
    void *up = experts(&r, ut, n_expert, n_ff, n_embd, flags & 1, flags & 8, &packed, PMX_MOE_UP_PACKED, pool);
    void *down = experts(&r, dt, n_expert, n_embd, n_ff, flags & 1, flags & 8, &packed, PMX_MOE_DOWN_PACKED, pool);
    float *x = buf(4 * n_tok * n_embd), *w = buf(4 * n_tok * n_used);
    int32_t *ids = buf(4 * n_tok * n_used);
    fill_floats(&r, x, n_tok * n_embd, flags & 2, 1.0f);
    fill_floats(&r, w, n_tok * n_used, flags & 2, 1.0f);
    for (int64_t i = 0; i < n_tok * n_used; i++) ids[i] = (int32_t)pick(&r, 0, n_expert - 1);
    float *got = buf(4 * n_tok * n_embd), *ref = buf(4 * n_tok * n_embd);
    pmx_force_isa(PMX_ISA_SCALAR);
    if (pmx_moe_ffn(NULL, ref, x, n_tok, n_embd, n_ff, n_expert, n_used, ids, w, gt, gate, ut, up, dt, down, packed) != PMX_OK) {
        FUZZ_FAIL("reference moe refused a valid shape");
    }
    pmx_force_isa(isa);
    if (pmx_moe_ffn(pool, got, x, n_tok, n_embd, n_ff, n_expert, n_used, ids, w, gt, gate, ut, up, dt, down, packed) != PMX_OK) {
        FUZZ_FAIL("moe refused a valid shape");
    }
    /* well-behaved inputs only: the int8 activations of two chained products make the error relative to the scale */
    if (!(flags & 3)) {
        double amax = 0;
        /* not fmax(): aarch64 gcc 12 stops with an internal error vectorizing that reduction (the replay builds it) */
        for (int64_t i = 0; i < n_tok * n_embd; i++) {
            const double a = fabs((double)ref[i]);
            if (a > amax) amax = a;
        }
        double *bound = buf(8 * n_tok * n_embd);
        for (int64_t i = 0; i < n_tok * n_embd; i++) bound[i] = amax * 10;
        char what[128];
        snprintf(what, sizeof what, "%s moe gate %d up %d down %d embd %ld ff %ld experts %ld/%ld packed %d",
                 pmx_isa_name(pmx_active_isa()), gt, ut, dt, (long)n_embd, (long)n_ff, (long)n_used, (long)n_expert, packed);
        compare(what, got, ref, bound, n_tok * n_embd, 1e-2);
        free(bound);
    }
    pmx_force_isa(PMX_ISA_AUTO);
    free(gate);
    free(up);
    free(down);
    free(x);
    free(w);
    free(ids);
    free(got);
    free(ref);
    return 0;
}
