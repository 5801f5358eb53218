/* CPU detection and ISA forcing: the chosen ISA is supported, every unsupported one is refused. */
#include <string.h>
#include "check.h"

int main(void) {
    const uint64_t f = pmx_cpu_features();
    printf("features:");
    for (int b = 0; b < 64; b++)
        if (f & (1ull << b)) printf(" %s", pmx_cpu_feature_name(1ull << b));
    printf("\nactive isa: %s\n", pmx_isa_name(pmx_active_isa()));

    CHECK(pmx_abi_version() == PMX_ABI_VERSION, "abi %d", pmx_abi_version());
    CHECK(pmx_isa_supported(pmx_active_isa()), "active isa unsupported");
    CHECK(pmx_isa_supported(PMX_ISA_SCALAR), "scalar must always be supported");
    for (int b = 0; b < 64; b++)
        if (f & (1ull << b)) CHECK(pmx_cpu_feature_name(1ull << b) != NULL, "bit %d has no name", b);
    const int32_t best = pmx_active_isa();
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) {
        const int32_t rc = pmx_force_isa(isa);
        if (pmx_isa_supported(isa)) {
            CHECK(rc == PMX_OK && pmx_active_isa() == isa, "forcing supported %s", pmx_isa_name(isa));
        } else {
            CHECK(rc == PMX_ERR_UNSUPPORTED_ISA, "forcing unsupported %s gave %d", pmx_isa_name(isa), rc);
            CHECK(pmx_active_isa() != isa, "unsupported %s became active", pmx_isa_name(isa));
        }
    }
    CHECK(pmx_force_isa(PMX_ISA_COUNT) == PMX_ERR_UNSUPPORTED_ISA, "out of range isa");
    CHECK(pmx_force_isa(PMX_ISA_AUTO) == PMX_OK && pmx_active_isa() == best, "auto restores best");
    CHECK(pmx_isa_name(-5) == NULL && pmx_isa_name(PMX_ISA_COUNT) == NULL, "names of unknown isas");
#if defined(__x86_64__)
    CHECK(!pmx_isa_supported(PMX_ISA_NEON), "neon on x86");
    if (f & PMX_CPU_AVX2) CHECK(best == PMX_ISA_AVX2 || best == PMX_ISA_AVX512, "avx2 cpu chose %s", pmx_isa_name(best));
#endif
#if defined(__aarch64__)
    CHECK(!pmx_isa_supported(PMX_ISA_AVX2), "avx2 on arm");
    CHECK(f & PMX_CPU_NEON, "aarch64 without neon");
#endif
    /* the bandwidth yardstick reads every byte: a single non-zero byte anywhere changes the checksum */
    static uint8_t buf[100003];
    pmx_pool *pool = pmx_pool_create(3);
    for (int32_t isa = 0; isa < PMX_ISA_COUNT; isa++) {
        if (isa != PMX_ISA_SCALAR && !for_each_isa_begin(isa)) continue;
        if (isa == PMX_ISA_SCALAR) pmx_force_isa(isa);
        const int64_t probes[] = {0, 1, 4095, 4096, 50000, 99999, 100002};
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
            memset(buf, 0, sizeof buf);
            CHECK(pmx_read_bytes(pool, buf, sizeof buf) == 0, "%s zeros", pmx_isa_name(isa));
            buf[probes[i]] = 1;
            CHECK(pmx_read_bytes(pool, buf, sizeof buf) != 0, "%s byte %ld unseen", pmx_isa_name(isa), (long)probes[i]);
            CHECK(pmx_read_bytes(NULL, buf, sizeof buf) != 0, "%s byte %ld unseen (1 thread)", pmx_isa_name(isa), (long)probes[i]);
        }
    }
    pmx_pool_destroy(pool);
    return finish();
}
