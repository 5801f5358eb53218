/* NEON int8 matmul kernels with the dotprod extension (vdotq_s32); compiled with +dotprod, installed only
 * when the CPU reports it. Same tiles as matmul.c (included below as a template), dots remapped to SDOT. */
#include <arm_neon.h>
#include <string.h>
#include "neon.h"

#ifndef __ARM_FEATURE_DOTPROD
#error "matmul_dotprod.c must be compiled with +dotprod"
#endif

/* SDOT sums four adjacent byte products per int32 lane: no int16 stage, so no range limit beyond int8. */
static inline int32x4_t dot32(int32x4_t acc, int8x16_t a0, int8x16_t b0, int8x16_t a1, int8x16_t b1) {
    return vdotq_s32(vdotq_s32(acc, a0, b0), a1, b1);
}
static inline int32x4_t dot32_small(int32x4_t acc, int8x16_t a0, int8x16_t b0, int8x16_t a1, int8x16_t b1) {
    return dot32(acc, a0, b0, a1, b1);
}
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }

#define PMX_NEON_MATMUL_DOTPROD
#include "matmul.c"

/* Only the int8 kernels change; the activation quantizers (prepare) stay those of plain NEON, which
 * produce the same formats. */
void pmx_neon_register_matmul_dotprod(pmx_kernels *k) {
    k->matmul[PMX_T_Q8_0].matmul = matmul_q8_0;
    k->matmul[PMX_T_Q4_0].matmul = matmul_q4_0;
    k->matmul[PMX_T_Q5_0].matmul = matmul_q5_0;
    k->matmul[PMX_T_Q4_K].matmul = matmul_q4_K;
    k->matmul[PMX_T_Q6_K].matmul = matmul_q6_K;
    k->matmul[PMX_T_Q5_K].matmul = matmul_q5_K;
    k->matmul[PMX_T_Q4_1].matmul = matmul_q4_1;
    k->matmul[PMX_T_Q5_1].matmul = matmul_q5_1;
    k->matmul[PMX_T_IQ4_NL].matmul = matmul_iq4_nl;
    k->matmul[PMX_T_Q2_K].matmul = matmul_q2_K;
    k->matmul[PMX_T_Q3_K].matmul = matmul_q3_K;
    k->matmul[PMX_T_IQ4_XS].matmul = matmul_iq4_xs;
}
