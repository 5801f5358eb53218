/* Scalar reference matmul kernels. */
#include "ref.h"

void pmx_ref_register_matmul(pmx_kernels *k) {
    (void)k;
}
