/* neon attention kernels. */
#include "neon.h"

void pmx_neon_register_attention(pmx_kernels *k) {
    (void)k;
}
