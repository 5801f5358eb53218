/* avx512 ops kernels. */
#include "avx512.h"

void pmx_avx512_register_ops(pmx_kernels *k) {
    (void)k;
}
