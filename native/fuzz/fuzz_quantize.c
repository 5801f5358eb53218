/* libFuzzer harness: pmx_quantize / pmx_dequantize of every type (floats of any bit pattern, quantized rows of any
 * bytes), pmx_get_rows (must equal the dequantized rows, for the ISA in use) and pmx_kv_store of the KV cache types
 * (must write the bytes pmx_quantize writes, into exactly the rows named). Contract: n a positive multiple of the
 * block, n_rows >= 0; get_rows' ids in [0, n_rows); kv_store's rows inside the cache, width whole blocks. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size, 0};
    const int32_t type = WEIGHT_TYPES[u8(&r) % COUNT(WEIGHT_TYPES)];
    const unsigned flags = u8(&r); /* 1: raw float bits, 2: raw quantized bytes, 4: AVX2 */
    const int64_t bs = pmx_type_block_size(type);
    const int64_t n = bs == 1 ? pick(&r, 1, 200) : bs * pick(&r, 1, bs == 256 ? 3 : 10);
    const int64_t n_rows = pick(&r, 0, 6);
    const int64_t rb = row_bytes(type, n);
    float *x = buf(4 * n_rows * n), *back = buf(4 * n_rows * n);
    uint8_t *q = buf(rb * n_rows), *q2 = buf(rb * n_rows);
    fill_floats(&r, x, n_rows * n, flags & 1, 1e3f);
    if (pmx_quantize(type, q, x, n_rows, n) != PMX_OK) FUZZ_FAIL("quantize refused type %d n %ld", type, (long)n);
    if (pmx_quantize(type, q2, x, n_rows, n) != PMX_OK || memcmp(q, q2, (size_t)(rb * n_rows)) != 0) {
        FUZZ_FAIL("quantize of type %d is not deterministic", type);
    }
    if (flags & 2) fill_bytes(&r, q, rb * n_rows);
    if (pmx_dequantize(type, back, q, n_rows, n) != PMX_OK) FUZZ_FAIL("dequantize refused type %d n %ld", type, (long)n);

    /* get_rows of the active ISA: the same floats as dequantize, bit for bit */
    if (n_rows > 0) {
        const int32_t isa = (flags & 4) && pmx_isa_supported(PMX_ISA_AVX2) ? PMX_ISA_AVX2 : PMX_ISA_AUTO;
        pmx_force_isa(isa);
        const int64_t n_ids = pick(&r, 0, 8);
        int32_t *ids = buf(4 * n_ids);
        for (int64_t i = 0; i < n_ids; i++) ids[i] = (int32_t)pick(&r, 0, n_rows - 1);
        float *g = buf(4 * n_ids * n);
        if (pmx_get_rows(type, g, q, ids, n_ids, n) != PMX_OK) FUZZ_FAIL("get_rows failed");
        for (int64_t i = 0; i < n_ids; i++) {
            if (memcmp(g + i * n, back + (int64_t)ids[i] * n, 4 * (size_t)n) != 0) {
                FUZZ_FAIL("%s get_rows type %d row %d differs from dequantize", pmx_isa_name(pmx_active_isa()), type, ids[i]);
            }
        }
        free(g);
        free(ids);
        pmx_force_isa(PMX_ISA_AUTO);
    }

    /* kv_store: each source row quantized into the named cache row, other rows untouched */
    int is_kv = 0;
    for (int i = 0; i < COUNT(KV_TYPES); i++) is_kv |= KV_TYPES[i] == type;
    if (is_kv && n_rows > 0) {
        const int64_t cache_rows = pick(&r, 1, 8);
        uint8_t *cache = buf(rb * cache_rows), *want = buf(rb * cache_rows);
        memset(cache, 0xA5, (size_t)(rb * cache_rows));
        memset(want, 0xA5, (size_t)(rb * cache_rows));
        int32_t *rows = buf(4 * n_rows);
        for (int64_t i = 0; i < n_rows; i++) {
            rows[i] = (int32_t)pick(&r, 0, cache_rows - 1);
            pmx_quantize(type, want + rows[i] * rb, x + i * n, 1, n); /* a later row to the same place wins */
        }
        if (pmx_kv_store(type, cache, rows, x, n_rows, n) != PMX_OK) FUZZ_FAIL("kv_store failed");
        if (memcmp(cache, want, (size_t)(rb * cache_rows)) != 0) FUZZ_FAIL("kv_store type %d differs from pmx_quantize", type);
        free(rows);
        free(cache);
        free(want);
    }
    free(x);
    free(back);
    free(q);
    free(q2);
    return 0;
}
