/* NEON int8 matmul kernels with the dotprod extension (vdotq_s32); compiled with +dotprod, installed
 * only when the CPU reports it. */
#include "neon.h"

void pmx_neon_register_matmul_dotprod(pmx_kernels *k) {
    (void)k;
}
