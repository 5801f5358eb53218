/* avx512 matmul kernels. */
#include "avx512.h"

void pmx_avx512_register_matmul(pmx_kernels *k) {
    (void)k;
}
