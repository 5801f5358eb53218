/* NEON streaming read: four 16-byte loads per iteration into independent accumulators. */
#include <arm_neon.h>
#include "neon.h"

uint64_t pmx_neon_read_bytes(const uint8_t *p, int64_t b0, int64_t b1) {
    uint64x2_t a0 = vdupq_n_u64(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = b0;
    for (; i + 64 <= b1; i += 64) {
        a0 = veorq_u64(a0, vreinterpretq_u64_u8(vld1q_u8(p + i)));
        a1 = veorq_u64(a1, vreinterpretq_u64_u8(vld1q_u8(p + i + 16)));
        a2 = veorq_u64(a2, vreinterpretq_u64_u8(vld1q_u8(p + i + 32)));
        a3 = veorq_u64(a3, vreinterpretq_u64_u8(vld1q_u8(p + i + 48)));
    }
    uint64x2_t a = veorq_u64(veorq_u64(a0, a1), veorq_u64(a2, a3));
    uint64_t sum = vgetq_lane_u64(a, 0) ^ vgetq_lane_u64(a, 1);
    for (; i < b1; i++) sum += p[i];
    return sum;
}
