/* CPU feature detection. x86 features count only when the OS saves their register state (XGETBV):
 * a CPU with AVX-512 under a kernel or hypervisor that did not enable ZMM state must not run AVX-512. */
#include "cpu.h"
#include "panamax.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

uint64_t pmx_detect_cpu_features(void) {
    uint32_t a, b, c, d;
    uint64_t f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int sse42 = (c >> 20) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (sse42) f |= PMX_CPU_SSE42;
    if (!osxsave || !avx) return f;
    const uint64_t xcr0 = xgetbv0();
    const int os_avx = (xcr0 & 0x6) == 0x6;            /* XMM + YMM state */
    const int os_avx512 = (xcr0 & 0xe6) == 0xe6;       /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (!os_avx) return f;
    if (fma) f |= PMX_CPU_FMA;
    if (f16c) f |= PMX_CPU_F16C;
    if (__get_cpuid_max(0, 0) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    const uint32_t b7 = b, c7 = c;
    if ((b7 >> 5) & 1) f |= PMX_CPU_AVX2;
    if (os_avx512) {
        if ((b7 >> 16) & 1) f |= PMX_CPU_AVX512F;
        if ((b7 >> 17) & 1) f |= PMX_CPU_AVX512DQ;
        if ((b7 >> 30) & 1) f |= PMX_CPU_AVX512BW;
        if ((b7 >> 31) & 1) f |= PMX_CPU_AVX512VL;
        if ((c7 >> 11) & 1) f |= PMX_CPU_AVX512_VNNI;
    }
    __cpuid_count(7, 1, a, b, c, d);
    if ((a >> 4) & 1) f |= PMX_CPU_AVX_VNNI;
    if (os_avx512 && ((a >> 5) & 1)) f |= PMX_CPU_AVX512_BF16;
    return f;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_FPHP
#define HWCAP_FPHP (1 << 9)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif

uint64_t pmx_detect_cpu_features(void) {
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    uint64_t f = 0;
    if (hw & HWCAP_ASIMD) f |= PMX_CPU_NEON;
    if (hw & HWCAP_ASIMDDP) f |= PMX_CPU_DOTPROD;
    if ((hw & HWCAP_FPHP) && (hw & HWCAP_ASIMDHP)) f |= PMX_CPU_FP16;
    if (hw2 & HWCAP2_I8MM) f |= PMX_CPU_I8MM;
    return f;
}

#else
uint64_t pmx_detect_cpu_features(void) { return 0; }
#endif
