/* libFuzzer harness: pmx_attention, pmx_attention_paged, pmx_attention_mla and pmx_attention_mla_paged against the
 * scalar reference, and each paged form against the contiguous one over the same keys. Shapes within panamax.h's
 * contract: KV cache types, head dims whole blocks, n_head a multiple of n_kv_head, pos0 + n_q <= n_kv, scale not NaN;
 * paged: seq_rows from 0 ascending with at least one row per sequence, every block-table entry the sequence reaches
 * inside the pool (entries may repeat). Caches: raw bytes (anything a file or a bug can leave there) or quantized from
 * floats; results are compared only for well-behaved inputs (floats in a range, a normal scale). */
#include "fuzz.h"

#define MAX_SEQ 3

/* rows of width elements of type (from floats, or raw bytes) */
static void *cache_rows(reader *r, int32_t type, int64_t rows, int64_t width, int raw) {
    const int64_t bytes = row_bytes(type, width) * rows;
    void *c = buf(bytes);
    if (raw) {
        fill_bytes(r, c, bytes);
    } else {
        float *f = buf(4 * rows * width);
        fill_floats(r, f, rows * width, 0, 2.0f);
        pmx_quantize(type, c, f, rows, width);
        free(f);
    }
    return c;
}

static int64_t block_dim(reader *r, int32_t type, int64_t max_blocks) {
    const int64_t bs = pmx_type_block_size(type);
    return bs == 1 ? pick(r, 1, 80) : bs * pick(r, 1, max_blocks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size, 0};
    const unsigned flags = u8(&r); /* 1: MLA, 2: raw caches, 4: raw q and scale, 8: pool, 16: AVX2 */
    const int raw = (flags & 6) != 0;
    const int32_t isa = (flags & 16) && pmx_isa_supported(PMX_ISA_AVX2) ? PMX_ISA_AVX2 : PMX_ISA_AUTO;
    pmx_pool *pool = (flags & 8) ? fuzz_pool() : NULL;
    const int mla = flags & 1;
    const int32_t kt = KV_TYPES[u8(&r) % COUNT(KV_TYPES)], vt = mla ? kt : KV_TYPES[u8(&r) % COUNT(KV_TYPES)];
    int64_t hd, hdv, n_kv_head, n_head, kv_lora = 0, n_rope = 0;
    if (mla) {
        kv_lora = block_dim(&r, kt, 4);
        n_rope = pmx_type_block_size(kt) == 1 ? pick(&r, 0, 64) : pmx_type_block_size(kt) * pick(&r, 0, 2);
        hd = kv_lora + n_rope;
        hdv = kv_lora;
        n_kv_head = 1;
        n_head = pick(&r, 1, 8);
    } else {
        hd = block_dim(&r, kt, 4);
        hdv = block_dim(&r, vt, 4);
        n_kv_head = pick(&r, 1, 3);
        n_head = n_kv_head * pick(&r, 1, 4);
    }
    /* sequences: lengths n_kv[s], queries the last n_q[s] positions */
    const int64_t n_seq = pick(&r, 1, MAX_SEQ), block = pick(&r, 1, 8);
    int64_t n_kv[MAX_SEQ], n_q[MAX_SEQ], total_q = 0, max_kv = 0;
    for (int64_t s = 0; s < n_seq; s++) {
        n_kv[s] = pick(&r, 1, 40);
        n_q[s] = pick(&r, 1, n_kv[s] < 6 ? n_kv[s] : 6);
        total_q += n_q[s];
        max_kv = n_kv[s] > max_kv ? n_kv[s] : max_kv;
    }
    float scale = 1.0f / sqrtf((float)hd);
    if (flags & 4) {
        fill_bytes(&r, &scale, 4);
        if (isnan(scale)) scale = 0.5f; /* the contract: not NaN */
    }
    /* one contiguous cache per sequence's keys: the first max_kv rows of k/v (sequences share a prefix) */
    const int64_t krow = mla ? hd : n_kv_head * hd, vrow = n_kv_head * hdv;
    void *k = cache_rows(&r, kt, max_kv, krow, flags & 2), *v = mla ? NULL : cache_rows(&r, vt, max_kv, vrow, flags & 2);
    float *q = buf(4 * total_q * n_head * hd);
    fill_floats(&r, q, total_q * n_head * hd, flags & 4, 2.0f);
    const int64_t out_n = total_q * n_head * hdv;
    float *want = buf(4 * out_n), *ref = buf(4 * out_n), *got = buf(4 * out_n);

    /* contiguous, per sequence: the scalar reference, then the ISA in use */
    for (int pass = 0; pass < 2; pass++) {
        pmx_force_isa(pass == 0 ? PMX_ISA_SCALAR : isa);
        float *o = pass == 0 ? ref : want;
        for (int64_t s = 0, row = 0; s < n_seq; row += n_q[s], s++) {
            const int64_t pos0 = n_kv[s] - n_q[s];
            const int32_t st = mla ? pmx_attention_mla(pass ? pool : NULL, o + row * n_head * hdv, q + row * n_head * hd,
                                                       n_q[s], pos0, n_head, kv_lora, n_rope, k, kt, n_kv[s], scale)
                                   : pmx_attention(pass ? pool : NULL, o + row * n_head * hdv, q + row * n_head * hd,
                                                   n_q[s], pos0, n_head, n_kv_head, hd, hdv, k, v, kt, vt, n_kv[s], scale);
            if (st != PMX_OK) FUZZ_FAIL("attention refused a valid shape");
        }
    }
    char what[128];
    snprintf(what, sizeof what, "%s %s k %d v %d hd %ld/%ld heads %ld/%ld", pmx_isa_name(pmx_active_isa()),
             mla ? "mla" : "attention", kt, vt, (long)hd, (long)hdv, (long)n_head, (long)n_kv_head);
    if (!raw) compare(what, want, ref, NULL, out_n, 1e-4);

    /* paged: the same keys scattered over a pool of blocks in a shuffled order (some blocks unused) */
    int64_t need = 0, table_len = 0;
    int32_t seq_rows[MAX_SEQ + 1], seq_pos0[MAX_SEQ], table_start[MAX_SEQ];
    seq_rows[0] = 0;
    for (int64_t s = 0; s < n_seq; s++) {
        seq_rows[s + 1] = (int32_t)(seq_rows[s] + n_q[s]);
        seq_pos0[s] = (int32_t)(n_kv[s] - n_q[s]);
        table_start[s] = (int32_t)table_len;
        table_len += (n_kv[s] + block - 1) / block;
    }
    need = table_len;
    const int64_t n_blocks = need + pick(&r, 0, 3);
    int32_t *perm = buf(4 * n_blocks), *tables = buf(4 * table_len);
    for (int64_t i = 0; i < n_blocks; i++) perm[i] = (int32_t)i;
    for (int64_t i = n_blocks - 1; i > 0; i--) {
        const int64_t j = pick(&r, 0, i);
        const int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int64_t i = 0; i < table_len; i++) tables[i] = perm[i];
    const int64_t kb = row_bytes(kt, krow), vb = row_bytes(vt, vrow), pool_rows = n_blocks * block;
    uint8_t *pk = buf(kb * pool_rows), *pv = mla ? NULL : buf(vb * pool_rows);
    memset(pk, 0x7F, (size_t)(kb * pool_rows)); /* unused rows: NaN-ish garbage that must not be read */
    if (pv) memset(pv, 0x7F, (size_t)(vb * pool_rows));
    for (int64_t s = 0; s < n_seq; s++) {
        for (int64_t j = 0; j < n_kv[s]; j++) {
            const int64_t row = (int64_t)tables[table_start[s] + j / block] * block + j % block;
            memcpy(pk + row * kb, (const uint8_t *)k + j * kb, (size_t)kb);
            if (pv) memcpy(pv + row * vb, (const uint8_t *)v + j * vb, (size_t)vb);
        }
    }
    pmx_force_isa(isa);
    const int32_t st = mla ? pmx_attention_mla_paged(pool, got, q, n_seq, seq_rows, seq_pos0, tables, table_start, block,
                                                     n_head, kv_lora, n_rope, pk, kt, scale)
                           : pmx_attention_paged(pool, got, q, n_seq, seq_rows, seq_pos0, tables, table_start, block,
                                                 n_head, n_kv_head, hd, hdv, pk, pv, kt, vt, scale);
    if (st != PMX_OK) FUZZ_FAIL("paged attention refused a valid batch");
    snprintf(what, sizeof what, "paged vs contiguous %s k %d v %d block %ld seqs %ld", mla ? "mla" : "attention", kt, vt,
             (long)block, (long)n_seq);
    if (!raw) compare(what, got, want, NULL, out_n, 1e-4);
    pmx_force_isa(PMX_ISA_AUTO);
    free(perm);
    free(tables);
    free(pk);
    free(pv);
    free(k);
    free(v);
    free(q);
    free(want);
    free(ref);
    free(got);
    return 0;
}
