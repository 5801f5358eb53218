/* Minimal test harness for the ctest programs: failures are counted and printed, never abort early. */
#ifndef PMX_CHECK_H
#define PMX_CHECK_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "panamax.h"

static int pmx_failures = 0;

#define CHECK(cond, ...)                                                                                  \
    do {                                                                                                  \
        if (!(cond)) {                                                                                    \
            pmx_failures++;                                                                               \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                         \
            printf(__VA_ARGS__);                                                                          \
            printf("\n");                                                                                 \
        }                                                                                                 \
    } while (0)

/* Deterministic inputs: xorshift, uniform in [-1, 1). */
static uint64_t pmx_rng_state = 0x9e3779b97f4a7c15ull;
static inline float rnd(void) {
    pmx_rng_state ^= pmx_rng_state << 13;
    pmx_rng_state ^= pmx_rng_state >> 7;
    pmx_rng_state ^= pmx_rng_state << 17;
    return (float)((pmx_rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static inline void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = rnd() * scale;
}

/* Largest |a-b| / max(1, |b|) over n values. */
static inline double max_rel_err(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i]));
        if (!(d <= m)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

/* Sizes that hit every tail of 4-, 8-, 16-, 32- and 256-wide loops. */
static const int64_t TAIL_SIZES[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1000, 4096, 4097};
#define N_TAIL_SIZES (sizeof TAIL_SIZES / sizeof TAIL_SIZES[0])

/* Every ISA other than scalar that this CPU supports is run; the ones it lacks are named, not hidden. */
static inline int for_each_isa_begin(int32_t isa) {
    if (isa == PMX_ISA_SCALAR) return 0;
    if (!pmx_isa_supported(isa)) {
        printf("note: ISA %s not supported by this CPU/build: not tested here\n", pmx_isa_name(isa));
        return 0;
    }
    if (pmx_force_isa(isa) != PMX_OK) {
        printf("FAIL: pmx_force_isa(%s) refused a supported ISA\n", pmx_isa_name(isa));
        pmx_failures++;
        return 0;
    }
    return 1;
}

/* The ISAs a test runs: scalar (the reference's own code path) first, then every other one this CPU supports, as
 * for_each_isa_begin admits them. Fills isas and returns how many. */
static inline int tested_isas(int32_t isas[PMX_ISA_COUNT]) {
    int n = 0;
    isas[n++] = PMX_ISA_SCALAR;
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++)
        if (for_each_isa_begin(isa)) isas[n++] = isa;
    return n;
}

static inline int finish(void) {
    pmx_force_isa(PMX_ISA_AUTO);
    if (pmx_failures) printf("%d failure(s)\n", pmx_failures);
    else printf("ok\n");
    return pmx_failures ? 1 : 0;
}

#endif
