/* avx2 matmul kernels. */
#include "avx2.h"

void pmx_avx2_register_matmul(pmx_kernels *k) {
    (void)k;
}
