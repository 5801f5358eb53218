/* avx2 ops kernels. */
#include "avx2.h"

void pmx_avx2_register_ops(pmx_kernels *k) {
    (void)k;
}
