/* AVX-512 streaming read: four 64-byte loads per iteration into independent accumulators. */
#include "avx512.h"
#include "simd.h"

uint64_t pmx_avx512_read_bytes(const uint8_t *p, int64_t b0, int64_t b1) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = b0;
    for (; i + 256 <= b1; i += 256) {
        a0 = _mm512_xor_si512(a0, _mm512_loadu_si512((const void *)(p + i)));
        a1 = _mm512_xor_si512(a1, _mm512_loadu_si512((const void *)(p + i + 64)));
        a2 = _mm512_xor_si512(a2, _mm512_loadu_si512((const void *)(p + i + 128)));
        a3 = _mm512_xor_si512(a3, _mm512_loadu_si512((const void *)(p + i + 192)));
    }
    __m512i a = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
    uint64_t lanes[8];
    _mm512_storeu_si512((void *)lanes, a);
    uint64_t sum = 0;
    for (int l = 0; l < 8; l++) sum ^= lanes[l];
    for (; i < b1; i++) sum += p[i];
    return sum;
}
