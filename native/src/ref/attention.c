/* Scalar reference attention kernels. */
#include "ref.h"

void pmx_ref_register_attention(pmx_kernels *k) {
    (void)k;
}
