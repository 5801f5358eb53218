/* The scalar reference table: every kernel exists here, in portable C. */
#include "ref.h"

static uint64_t read_bytes(const uint8_t *p, int64_t b0, int64_t b1) {
    uint64_t sum = 0;
    for (int64_t i = b0; i < b1; i++) sum += p[i];
    return sum;
}

void pmx_kernels_ref(pmx_kernels *k) {
    *k = (pmx_kernels){0};
    k->rmsnorm_f32 = pmx_ref_rmsnorm_f32;
    k->read_bytes = read_bytes;
    pmx_ref_register_matmul(k);
    pmx_ref_register_packed(k);
    pmx_ref_register_ops(k);
    pmx_ref_register_attention(k);
}
