/* CPU feature detection, done once at load: CPUID + XGETBV on x86-64, getauxval(AT_HWCAP) on aarch64. */
#ifndef PMX_CPU_H
#define PMX_CPU_H
#include <stdint.h>

uint64_t pmx_detect_cpu_features(void);

#endif
