/* Exported entry points: CPU detection and ISA choice (once, at load), and the kernels, each splitting its
 * work across the pool and calling through the active dispatch table. */
#include <math.h>
#include <stddef.h>

#include "cpu.h"
#include "kernels.h"
#include "panamax.h"
#include "pool.h"

#ifndef PMX_VERSION_STRING
#define PMX_VERSION_STRING "0.0.0"
#endif

pmx_kernels pmx_k;
static uint64_t g_features;
static int32_t g_isa = PMX_ISA_SCALAR;

static const struct {
    uint64_t bit;
    const char *name;
} FEATURE_NAMES[] = {
    {PMX_CPU_SSE42, "sse4_2"},         {PMX_CPU_AVX2, "avx2"},           {PMX_CPU_FMA, "fma"},
    {PMX_CPU_F16C, "f16c"},            {PMX_CPU_AVX512F, "avx512f"},     {PMX_CPU_AVX512BW, "avx512bw"},
    {PMX_CPU_AVX512VL, "avx512vl"},    {PMX_CPU_AVX512DQ, "avx512dq"},   {PMX_CPU_AVX512_VNNI, "avx512_vnni"},
    {PMX_CPU_AVX512_BF16, "avx512_bf16"}, {PMX_CPU_AVX_VNNI, "avx_vnni"}, {PMX_CPU_NEON, "neon"},
    {PMX_CPU_DOTPROD, "dotprod"},      {PMX_CPU_I8MM, "i8mm"},           {PMX_CPU_FP16, "fp16"},
};

static const char *const ISA_NAMES[PMX_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon", "neon_dotprod"};

int32_t pmx_abi_version(void) { return PMX_ABI_VERSION; }
const char *pmx_version(void) { return PMX_VERSION_STRING; }
uint64_t pmx_cpu_features(void) { return g_features; }

const char *pmx_cpu_feature_name(uint64_t bit) {
    for (size_t i = 0; i < sizeof FEATURE_NAMES / sizeof FEATURE_NAMES[0]; i++)
        if (FEATURE_NAMES[i].bit == bit) return FEATURE_NAMES[i].name;
    return NULL;
}

const char *pmx_isa_name(int32_t isa) { return isa >= 0 && isa < PMX_ISA_COUNT ? ISA_NAMES[isa] : NULL; }

static int has(uint64_t need) { return (g_features & need) == need; }

int32_t pmx_isa_supported(int32_t isa) {
    switch (isa) {
    case PMX_ISA_SCALAR: return 1;
#if defined(__x86_64__)
    case PMX_ISA_AVX2: return has(PMX_CPU_AVX2 | PMX_CPU_FMA | PMX_CPU_F16C);
    case PMX_ISA_AVX512:
        return has(PMX_CPU_AVX2 | PMX_CPU_FMA | PMX_CPU_F16C | PMX_CPU_AVX512F | PMX_CPU_AVX512BW |
                   PMX_CPU_AVX512VL | PMX_CPU_AVX512DQ);
#endif
#if defined(__aarch64__)
    case PMX_ISA_NEON: return has(PMX_CPU_NEON);
    case PMX_ISA_NEON_DOTPROD: return has(PMX_CPU_NEON | PMX_CPU_DOTPROD);
#endif
    default: return 0;
    }
}

static int32_t best_isa(void) {
    static const int32_t preference[] = {PMX_ISA_AVX512, PMX_ISA_AVX2, PMX_ISA_NEON_DOTPROD, PMX_ISA_NEON};
    for (size_t i = 0; i < sizeof preference / sizeof preference[0]; i++)
        if (pmx_isa_supported(preference[i])) return preference[i];
    return PMX_ISA_SCALAR;
}

static void install(int32_t isa) {
    pmx_kernels k;
    switch (isa) {
#if defined(__x86_64__)
    case PMX_ISA_AVX2: pmx_kernels_avx2(&k); break;
    case PMX_ISA_AVX512: pmx_kernels_avx512(&k); break;
#endif
#if defined(__aarch64__)
    case PMX_ISA_NEON: pmx_kernels_neon(&k); break;
    case PMX_ISA_NEON_DOTPROD: pmx_kernels_neon_dotprod(&k); break;
#endif
    default: pmx_kernels_ref(&k); break;
    }
    pmx_k = k;
    g_isa = isa;
}

__attribute__((constructor)) static void pmx_init(void) {
    g_features = pmx_detect_cpu_features();
    install(best_isa());
}

int32_t pmx_force_isa(int32_t isa) {
    if (isa == PMX_ISA_AUTO) isa = best_isa();
    if (!pmx_isa_supported(isa)) return PMX_ERR_UNSUPPORTED_ISA;
    install(isa);
    return PMX_OK;
}

int32_t pmx_active_isa(void) { return g_isa; }

/* ---- kernels ---- */

struct rmsnorm_args {
    float *y;
    const float *x, *w;
    int64_t n, n_rows;
    float eps;
};

static void rmsnorm_task(void *p, int ith, int nth) {
    const struct rmsnorm_args *a = p;
    int64_t r0, r1;
    pmx_split(a->n_rows, 1, ith, nth, &r0, &r1);
    if (r0 < r1) pmx_k.rmsnorm_f32(a->y, a->x, a->w, a->n, r0, r1, a->eps);
}

int32_t pmx_rmsnorm_f32(pmx_pool *pool, float *y, const float *x, const float *w, int64_t n, int64_t n_rows,
                        float eps) {
    if (!y || !x || !w || n <= 0 || n_rows < 0 || !(eps >= 0)) return PMX_ERR_INVALID_ARG;
    struct rmsnorm_args a = {y, x, w, n, n_rows, eps};
    /* one row is too little work to wake the pool for */
    pmx_pool_run(n_rows > 1 ? pool : NULL, rmsnorm_task, &a);
    return PMX_OK;
}
