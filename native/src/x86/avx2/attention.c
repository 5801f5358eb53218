/* avx2 attention kernels. */
#include "avx2.h"

void pmx_avx2_register_attention(pmx_kernels *k) {
    (void)k;
}
