/* RMSNorm of every ISA against the scalar reference, single- and multi-threaded. */
#include "check.h"
#include "ref/ref.h"

int main(void) {
    pmx_pool *pool = pmx_pool_create(3);
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) {
        if (!for_each_isa_begin(isa)) continue;
        for (size_t s = 0; s < N_TAIL_SIZES; s++) {
            const int64_t n = TAIL_SIZES[s], rows = 5;
            float *x = malloc(sizeof(float) * n * rows), *w = malloc(sizeof(float) * n);
            float *y = malloc(sizeof(float) * n * rows), *r = malloc(sizeof(float) * n * rows);
            fill(x, n * rows, 3.0f);
            fill(w, n, 1.0f);
            pmx_ref_rmsnorm_f32(r, x, w, n, 0, rows, 1e-5f);
            CHECK(pmx_rmsnorm_f32(pool, y, x, w, n, rows, 1e-5f) == PMX_OK, "status");
            /* float accumulation vs double: a few ulp of the scale */
            double e = max_rel_err(y, r, n * rows);
            CHECK(e < 1e-5, "%s n=%ld err %g", pmx_isa_name(isa), (long)n, e);
            free(x), free(w), free(y), free(r);
        }
    }
    float v = 1;
    CHECK(pmx_rmsnorm_f32(NULL, &v, &v, &v, 0, 1, 1e-5f) == PMX_ERR_INVALID_ARG, "n=0 rejected");
    CHECK(pmx_rmsnorm_f32(NULL, NULL, &v, &v, 1, 1, 1e-5f) == PMX_ERR_INVALID_ARG, "null rejected");
    pmx_pool_destroy(pool);
    return finish();
}
