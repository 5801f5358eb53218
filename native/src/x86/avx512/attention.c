/* avx512 attention kernels. */
#include "avx512.h"

void pmx_avx512_register_attention(pmx_kernels *k) {
    (void)k;
}
