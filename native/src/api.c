/* Exported entry points: CPU detection and ISA choice (once, at load), and the kernels, each splitting its
 * work across the pool and calling through the active dispatch table. */
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu.h"
#include "kernels.h"
#include "panamax.h"
#include "pool.h"
#include "ref/ref.h"

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
#ifdef PMX_SIMDE_AVX512
        return has(PMX_CPU_AVX2 | PMX_CPU_FMA | PMX_CPU_F16C); /* test build: AVX-512 emulated by SIMDe */
#endif
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

/* ---- types ---- */

static const struct {
    int32_t type;
    int64_t block_size, block_bytes;
} TYPES[PMX_T_COUNT] = {
    [PMX_T_F32] = {PMX_TYPE_F32, 1, 4},
    [PMX_T_F16] = {PMX_TYPE_F16, 1, 2},
    [PMX_T_BF16] = {PMX_TYPE_BF16, 1, 2},
    [PMX_T_Q8_0] = {PMX_TYPE_Q8_0, QK8_0, sizeof(block_q8_0)},
    [PMX_T_Q4_0] = {PMX_TYPE_Q4_0, QK4_0, sizeof(block_q4_0)},
    [PMX_T_Q4_K] = {PMX_TYPE_Q4_K, QK_K, sizeof(block_q4_K)},
    [PMX_T_Q6_K] = {PMX_TYPE_Q6_K, QK_K, sizeof(block_q6_K)},
    [PMX_T_Q5_0] = {PMX_TYPE_Q5_0, QK5_0, sizeof(block_q5_0)},
    [PMX_T_Q4_1] = {PMX_TYPE_Q4_1, QK4_1, sizeof(block_q4_1)},
    [PMX_T_Q5_1] = {PMX_TYPE_Q5_1, QK5_1, sizeof(block_q5_1)},
    [PMX_T_Q2_K] = {PMX_TYPE_Q2_K, QK_K, sizeof(block_q2_K)},
    [PMX_T_Q3_K] = {PMX_TYPE_Q3_K, QK_K, sizeof(block_q3_K)},
    [PMX_T_Q5_K] = {PMX_TYPE_Q5_K, QK_K, sizeof(block_q5_K)},
    [PMX_T_IQ4_NL] = {PMX_TYPE_IQ4_NL, QK4_NL, sizeof(block_iq4_nl)},
    [PMX_T_IQ4_XS] = {PMX_TYPE_IQ4_XS, QK_K, sizeof(block_iq4_xs)},
};

int pmx_type_index(int32_t type) {
    for (int i = 0; i < PMX_T_COUNT; i++)
        if (TYPES[i].type == type) return i;
    return -1;
}

int64_t pmx_type_block_size(int32_t type) {
    const int t = pmx_type_index(type);
    return t < 0 ? 0 : TYPES[t].block_size;
}

int64_t pmx_type_block_bytes(int32_t type) {
    const int t = pmx_type_index(type);
    return t < 0 ? 0 : TYPES[t].block_bytes;
}

int64_t pmx_row_bytes(int t, int64_t n) { return n / TYPES[t].block_size * TYPES[t].block_bytes; }

int64_t pmx_act_row_bytes(int t, int64_t n) {
    if (t == PMX_T_F32 || t == PMX_T_F16) return 0;
    if (t == PMX_T_BF16) return n * (int64_t)sizeof(float); /* floats rounded to BF16 (pmx_ref_prepare_bf16) */
    return pmx_type_acts_q8_K(t) ? n / QK_K * (int64_t)sizeof(block_q8_K) : n / QK8_0 * (int64_t)sizeof(block_q8_0);
}

const pmx_matmul_kernel *pmx_matmul_kernel_for(int t, int64_t batch) {
    return batch >= PMX_GEMM_MIN_BATCH && pmx_k.gemm[t].matmul ? &pmx_k.gemm[t] : &pmx_k.matmul[t];
}

int64_t pmx_kernel_act_row_bytes(const pmx_matmul_kernel *k, int t, int64_t n) {
    if (k->act_row_bytes) return k->act_row_bytes(n);
    return k->prepare ? pmx_act_row_bytes(t, n) : n * (int64_t)sizeof(float);
}

/* Type known and n a positive multiple of its block size: the index, else -1. */
static int row_type(int32_t type, int64_t n) {
    const int t = pmx_type_index(type);
    return t >= 0 && n > 0 && n % TYPES[t].block_size == 0 ? t : -1;
}

int32_t pmx_quantize(int32_t type, void *dst, const float *src, int64_t n_rows, int64_t n) {
    const int t = row_type(type, n);
    if (t < 0 || !dst || !src || n_rows < 0) return PMX_ERR_INVALID_ARG;
    const int64_t rb = pmx_row_bytes(t, n);
    for (int64_t r = 0; r < n_rows; r++) pmx_ref_quantize_row(t, (char *)dst + r * rb, src + r * n, n);
    return PMX_OK;
}

int32_t pmx_get_rows(int32_t type, float *dst, const void *src, const int32_t *ids, int64_t n, int64_t n_cols) {
    const int t = row_type(type, n_cols);
    if (t < 0 || !dst || !src || !ids || n < 0) return PMX_ERR_INVALID_ARG;
    const int64_t rb = pmx_row_bytes(t, n_cols);
    for (int64_t i = 0; i < n; i++) pmx_ref_dequantize_row(t, dst + i * n_cols, (const char *)src + ids[i] * rb, n_cols);
    return PMX_OK;
}

int32_t pmx_dequantize(int32_t type, float *dst, const void *src, int64_t n_rows, int64_t n) {
    const int t = row_type(type, n);
    if (t < 0 || !dst || !src || n_rows < 0) return PMX_ERR_INVALID_ARG;
    const int64_t rb = pmx_row_bytes(t, n);
    for (int64_t r = 0; r < n_rows; r++) pmx_ref_dequantize_row(t, dst + r * n, (const char *)src + r * rb, n);
    return PMX_OK;
}

/* ---- kernels ---- */

/* Output rows per work chunk: 16 floats fill a cache line, so threads never share a line of y. */
#define ROW_ALIGN 16
static_assert(ROW_ALIGN % PMX_PACK_ROWS == 0, "row chunks hold whole groups of packed rows");

/* Ops split by rows (or tokens): the pool for their element count, and never for one row, which one thread does
 * alone whatever its length. */
static pmx_pool *rows_pool(pmx_pool *pool, int64_t n, int64_t n_rows) {
    return n_rows > 1 ? pmx_pool_for_work(pool, pmx_work(n_rows, n, 1)) : NULL;
}

/* The arguments of every op split by rows (rmsnorm, add, layer norm, GELU): each task reads the fields it needs. */
struct rows_args {
    float *y;
    const float *x, *res, *w, *b;
    int64_t n, n_rows;
    float eps;
};

static void rmsnorm_task(void *p, int ith, int nth) {
    const struct rows_args *a = p;
    int64_t r0, r1;
    pmx_split(a->n_rows, 1, ith, nth, &r0, &r1);
    if (r0 < r1) pmx_k.rmsnorm_f32(a->y, a->x, a->w, a->n, r0, r1, a->eps);
}

int32_t pmx_rmsnorm_f32(pmx_pool *pool, float *y, const float *x, const float *w, int64_t n, int64_t n_rows,
                        float eps) {
    if (!y || !x || !w || n <= 0 || n_rows < 0 || !(eps >= 0)) return PMX_ERR_INVALID_ARG;
    struct rows_args a = {.y = y, .x = x, .w = w, .n = n, .n_rows = n_rows, .eps = eps};
    pmx_pool_run(rows_pool(pool, n, n_rows), rmsnorm_task, &a);
    return PMX_OK;
}

int64_t pmx_matmul_scratch_bytes(int32_t type, int64_t n_cols, int64_t batch) {
    const int t = row_type(type, n_cols);
    if (t < 0 || batch < 0) return -1;
    /* the need of the kernel that runs this batch (a gemm kernel may read another layout, or floats) */
    const pmx_matmul_kernel *mk = pmx_matmul_kernel_for(t, batch);
    return mk->prepare ? pmx_kernel_act_row_bytes(mk, t, n_cols) * batch : 0;
}

struct matmul_args {
    const pmx_matmul_kernel *mk;
    const void *w;
    const float *x;
    void *xa;
    int64_t n_rows, n_cols, batch, act_row_bytes;
    float *y;
    int64_t chunk_rows;      /* rows per work chunk, a multiple of ROW_ALIGN */
    int64_t col_block;       /* activation columns per pass over a chunk's rows */
    _Atomic int64_t next;    /* first row of the next chunk not yet taken */
    /* pmx_matmul_packed_ep: the epilogue and the output's parts (one part of n_rows rows otherwise) */
    pmx_matmul_ep_fn ep;     /* the kernel's own epilogue, or NULL */
    const float *bias;
    int act;
    int64_t part_rows, part_stride;
};

static void prepare_task(void *p, int ith, int nth) {
    const struct matmul_args *a = p;
    int64_t b0, b1;
    pmx_split(a->batch, 1, ith, nth, &b0, &b1);
    if (b0 < b1) a->mk->prepare(a->xa, a->x, a->n_cols, b0, b1);
}

/* Rows are dealt out in chunks from a shared counter rather than split in equal halves up front: on a machine
 * where other threads (the JIT, GC, another process) take a core now and then, a fixed split leaves the fast
 * thread waiting for the slow one at the end of every op (seen as ~7% of a 2-thread decode spent in the caller's
 * wait loop). Which thread computes a row does not change its result. */
/* Rows [r0, r1) of one part: its y is based so that the kernel's global row r lands at row r - p * part_rows of the
 * part's buffer; without the kernel's own epilogue, the epilogue runs on the rows just computed, still in cache. */
static void matmul_rows(const struct matmul_args *a, int64_t r0, int64_t r1) {
    const int64_t part = r0 / a->part_rows, ldy = a->part_rows;
    float *y = a->y + part * (a->part_stride - a->part_rows);
    const int ep = a->bias || a->act != PMX_ACT_NONE;
    for (int64_t c0 = 0; c0 < a->batch; c0 += a->col_block) {
        const int64_t cb = a->batch - c0 < a->col_block ? a->batch - c0 : a->col_block;
        const char *xa = (const char *)a->xa + c0 * a->act_row_bytes;
        if (ep && a->ep) {
            a->ep(a->w, a->n_cols, xa, cb, y + c0 * ldy, ldy, r0, r1, a->bias, a->act);
            continue;
        }
        a->mk->matmul(a->w, a->n_cols, xa, cb, y + c0 * ldy, ldy, r0, r1);
        for (int64_t c = c0; ep && c < c0 + cb; c++) {
            float *yc = y + c * ldy + r0;
            if (a->act == PMX_ACT_GELU) pmx_k.gelu_f32(yc, a->bias ? a->bias + r0 : NULL, r1 - r0, 0, 1);
            else for (int64_t r = 0; r < r1 - r0; r++) yc[r] += a->bias[r0 + r];
        }
    }
}

static void matmul_task(void *p, int ith, int nth) {
    struct matmul_args *a = p;
    (void)ith, (void)nth;
    for (;;) {
        const int64_t r0 = atomic_fetch_add_explicit(&a->next, a->chunk_rows, memory_order_relaxed);
        if (r0 >= a->n_rows) return;
        const int64_t r1 = r0 + a->chunk_rows < a->n_rows ? r0 + a->chunk_rows : a->n_rows;
        /* a chunk across parts: a call per part */
        for (int64_t r = r0; r < r1;) {
            const int64_t end = (r / a->part_rows + 1) * a->part_rows, e = end < r1 ? end : r1;
            matmul_rows(a, r, e);
            r = e;
        }
    }
}
/* About 8 chunks per thread, whole cache lines of y each. */
static int64_t matmul_chunk_rows(int64_t n_rows, int nth) {
    const int64_t want = (n_rows + 8 * (int64_t)nth - 1) / (8 * (int64_t)nth);
    return (want + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
}

/* GEMM: activation columns per pass over a chunk's rows, so that the block of prepared columns (~128 KB) stays
 * in L2 while the chunk's rows stream past it; blocks of equal size, multiples of the 4-column tiles. With all 128
 * columns of a 5632-wide Q4_0 product in one pass (~770 KB), every 4-row tile read them from L3. */
static int64_t matmul_col_block(int64_t act_row_bytes, int64_t batch) {
    const int64_t budget = 128 * 1024;
    const int64_t max_cols = budget / act_row_bytes < 4 ? 4 : budget / act_row_bytes;
    const int64_t n_blocks = (batch + max_cols - 1) / max_cols, cb = (batch + n_blocks - 1) / n_blocks;
    return (cb + 3) / 4 * 4;
}

/* pmx_matmul and pmx_matmul_packed once the kernel is chosen. */
static int32_t run_matmul_ep(pmx_pool *pool, const pmx_matmul_kernel *mk, pmx_matmul_ep_fn epf, int t, const void *w,
                             int64_t n_rows, int64_t n_cols, const float *x, int64_t batch, float *y, int64_t part_rows,
                             int64_t part_stride, const float *bias, int act, void *scratch, int64_t scratch_bytes) {
    pmx_pool *run = pmx_pool_for_work(pool, pmx_work(n_rows * n_cols, batch, 1));
    struct matmul_args a = {.mk = mk, .w = w, .x = x, .xa = (void *)x, .n_rows = n_rows, .n_cols = n_cols,
                            .batch = batch, .y = y, .chunk_rows = matmul_chunk_rows(n_rows, pmx_pool_size(run)),
                            .ep = epf, .bias = bias, .act = act, .part_rows = part_rows, .part_stride = part_stride};
    atomic_init(&a.next, 0);
    a.act_row_bytes = pmx_kernel_act_row_bytes(mk, t, n_cols);
    /* a gemm kernel blocks the columns itself */
    a.col_block = mk == &pmx_k.gemm[t] ? batch : matmul_col_block(a.act_row_bytes, batch);
    if (mk->prepare) {
        if (!scratch || scratch_bytes < a.act_row_bytes * batch) return PMX_ERR_INVALID_ARG;
        a.xa = scratch;
        pmx_pool_run(batch > 1 ? run : NULL, prepare_task, &a);
    }
    pmx_pool_run(run, matmul_task, &a);
    return PMX_OK;
}

static int32_t run_matmul(pmx_pool *pool, const pmx_matmul_kernel *mk, int t, const void *w, int64_t n_rows,
                          int64_t n_cols, const float *x, int64_t batch, float *y, void *scratch, int64_t scratch_bytes) {
    return run_matmul_ep(pool, mk, NULL, t, w, n_rows, n_cols, x, batch, y, n_rows, 0, NULL, PMX_ACT_NONE, scratch,
                         scratch_bytes);
}

int32_t pmx_matmul(pmx_pool *pool, int32_t type, const void *w, int64_t n_rows, int64_t n_cols, const float *x,
                   int64_t batch, float *y, void *scratch, int64_t scratch_bytes) {
    const int t = row_type(type, n_cols);
    if (t < 0 || !w || !x || !y || n_rows <= 0 || batch <= 0) return PMX_ERR_INVALID_ARG;
    return run_matmul(pool, pmx_matmul_kernel_for(t, batch), t, w, n_rows, n_cols, x, batch, y, scratch, scratch_bytes);
}

/* ---- interleaved (packed) weights ---- */

/* Bytes of one packed block (16 rows x one block column) per type index; 0: no packed layout. Q4_K's, Q5_K's and Q3_K's
 * carry their scales unpacked to bytes (4 bytes more per row and super-block), IQ4_XS's too (2 more), the others hold
 * exactly their rows' bytes. */
static const int64_t PACKED_BLOCK_BYTES[PMX_T_COUNT] = {
    [PMX_T_F32] = PMX_PACK_ROWS * sizeof(float), [PMX_T_BF16] = PMX_PACK_ROWS * sizeof(pmx_bf16),
    [PMX_T_Q4_0] = sizeof(block_q4_0x16), [PMX_T_Q8_0] = sizeof(block_q8_0x16),
    [PMX_T_Q4_K] = sizeof(block_q4_Kx16), [PMX_T_Q6_K] = sizeof(block_q6_Kx16),
    [PMX_T_IQ4_NL] = sizeof(block_iq4_nlx16), [PMX_T_IQ4_XS] = sizeof(block_iq4_xsx16),
    [PMX_T_Q5_K] = sizeof(block_q5_Kx16), [PMX_T_Q3_K] = sizeof(block_q3_Kx16), [PMX_T_Q2_K] = sizeof(block_q2_Kx16),
    [PMX_T_Q4_1] = sizeof(block_q4_1x16), [PMX_T_Q5_1] = sizeof(block_q5_1x16),
};

/* The type index when the interleaved layout exists for this type and shape, else -1. BF16's holds pairs of columns
 * (vdpbf16ps' operand): an even width. */
static int packed_type(int32_t type, int64_t n_rows, int64_t n_cols) {
    const int t = row_type(type, n_cols);
    return t >= 0 && PACKED_BLOCK_BYTES[t] && n_rows > 0 && n_rows % PMX_PACK_ROWS == 0 && (t != PMX_T_BF16 || n_cols % 2 == 0)
               ? t
               : -1;
}

int64_t pmx_pack_bytes(int32_t type, int64_t n_rows, int64_t n_cols) {
    const int t = packed_type(type, n_rows, n_cols);
    return t < 0 ? 0 : n_rows / PMX_PACK_ROWS * (n_cols / TYPES[t].block_size) * PACKED_BLOCK_BYTES[t];
}

int32_t pmx_pack_preferred(int32_t type) {
    const int t = pmx_type_index(type);
    return t >= 0 && pmx_k.packed_preferred[t];
}

struct pack_args {
    int t;
    void *dst;
    const void *w;
    int64_t n_cols, n_groups;
};

static void pack_task(void *p, int ith, int nth) {
    const struct pack_args *a = p;
    int64_t g0, g1;
    pmx_split(a->n_groups, 1, ith, nth, &g0, &g1);
    if (g0 < g1) pmx_ref_pack(a->t, a->dst, a->w, a->n_cols, g0, g1);
}

int32_t pmx_pack(pmx_pool *pool, int32_t type, void *dst, const void *w, int64_t n_rows, int64_t n_cols) {
    const int t = packed_type(type, n_rows, n_cols);
    if (t < 0 || !dst || !w) return PMX_ERR_INVALID_ARG;
    struct pack_args a = {t, dst, w, n_cols, n_rows / PMX_PACK_ROWS};
    pmx_pool_run(pool, pack_task, &a);
    return PMX_OK;
}

int64_t pmx_matmul_packed_scratch_bytes(int32_t type, int64_t n_cols, int64_t batch) {
    const int t = packed_type(type, PMX_PACK_ROWS, n_cols);
    if (t < 0 || batch < 0) return -1;
    return pmx_kernel_act_row_bytes(&pmx_k.packed[t], t, n_cols) * batch;
}

int32_t pmx_matmul_packed(pmx_pool *pool, int32_t type, const void *w, int64_t n_rows, int64_t n_cols, const float *x,
                          int64_t batch, float *y, void *scratch, int64_t scratch_bytes) {
    const int t = packed_type(type, n_rows, n_cols);
    if (t < 0 || !w || !x || !y || batch <= 0) return PMX_ERR_INVALID_ARG;
    return run_matmul(pool, &pmx_k.packed[t], t, w, n_rows, n_cols, x, batch, y, scratch, scratch_bytes);
}

int32_t pmx_matmul_packed_ep(pmx_pool *pool, int32_t type, const void *w, int64_t n_rows, int64_t n_cols, const float *x,
                             int64_t batch, float *y, int64_t part_rows, int64_t part_stride, const float *bias,
                             int32_t act, void *scratch, int64_t scratch_bytes) {
    const int t = packed_type(type, n_rows, n_cols);
    if (t < 0 || !w || !x || !y || batch <= 0 || part_rows <= 0 || part_rows % PMX_PACK_ROWS || n_rows % part_rows ||
        (part_rows < n_rows && part_stride < part_rows * batch) || (act != PMX_ACT_NONE && act != PMX_ACT_GELU)) {
        return PMX_ERR_INVALID_ARG;
    }
    return run_matmul_ep(pool, &pmx_k.packed[t], pmx_k.packed_ep[t], t, w, n_rows, n_cols, x, batch, y, part_rows, part_stride, bias, act,
                         scratch, scratch_bytes);
}

int32_t pmx_release_pages(const void *p, int64_t bytes) {
    if (!p || bytes < 0) return PMX_ERR_INVALID_ARG;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t b = ((uintptr_t)p + page - 1) / page * page, e = ((uintptr_t)p + (uintptr_t)bytes) / page * page;
    if (e > b && madvise((void *)b, e - b, MADV_DONTNEED) != 0) return PMX_ERR_INVALID_ARG;
    return PMX_OK;
}

struct softmax_args {
    float *x;
    int64_t n, n_rows;
};

static void softmax_task(void *p, int ith, int nth) {
    const struct softmax_args *a = p;
    int64_t r0, r1;
    pmx_split(a->n_rows, 1, ith, nth, &r0, &r1);
    if (r0 < r1) pmx_k.softmax_f32(a->x, a->n, r0, r1);
}

int32_t pmx_softmax_f32(pmx_pool *pool, float *x, int64_t n, int64_t n_rows) {
    if (!x || n <= 0 || n_rows < 0) return PMX_ERR_INVALID_ARG;
    struct softmax_args a = {x, n, n_rows};
    pmx_pool_run(rows_pool(pool, n, n_rows), softmax_task, &a);
    return PMX_OK;
}

struct binary_args {
    void (*fn)(float *y, const float *a, const float *b, int64_t i0, int64_t i1);
    float *y;
    const float *a, *b;
    int64_t n;
};

static void binary_task(void *p, int ith, int nth) {
    const struct binary_args *a = p;
    int64_t i0, i1;
    pmx_split(a->n, ROW_ALIGN, ith, nth, &i0, &i1);
    if (i0 < i1) a->fn(a->y, a->a, a->b, i0, i1);
}

/* Element-wise ops only pay for a pool wake-up on long vectors. */
#define ELEMENTWISE_PARALLEL_MIN 32768

static int32_t run_binary(pmx_pool *pool, void (*fn)(float *, const float *, const float *, int64_t, int64_t),
                          float *y, const float *a, const float *b, int64_t n) {
    if (!y || !a || !b || n < 0) return PMX_ERR_INVALID_ARG;
    struct binary_args args = {fn, y, a, b, n};
    pmx_pool_run(n >= ELEMENTWISE_PARALLEL_MIN ? pool : NULL, binary_task, &args);
    return PMX_OK;
}

int32_t pmx_silu_mul_f32(pmx_pool *pool, float *y, const float *g, const float *u, int64_t n) {
    return run_binary(pool, pmx_k.silu_mul_f32, y, g, u, n);
}

int32_t pmx_add_f32(pmx_pool *pool, float *y, const float *a, const float *b, int64_t n) {
    return run_binary(pool, pmx_k.add_f32, y, a, b, n);
}

int64_t pmx_argmax_f32(const float *x, int64_t n) { return !x || n <= 0 ? -1 : pmx_k.argmax_f32(x, n); }

int32_t pmx_topk_f32(const float *x, int64_t n, int32_t k, int32_t *idx, float *val) {
    if (!x || !idx || !val || n <= 0 || k <= 0 || k > n || n > INT32_MAX) return PMX_ERR_INVALID_ARG;
    pmx_ref_topk_f32(x, n, k, idx, val);
    return PMX_OK;
}

struct rope_task_args {
    pmx_rope_args r;
    int64_t n_tokens;
};

static void rope_task(void *p, int ith, int nth) {
    const struct rope_task_args *a = p;
    int64_t t0, t1;
    pmx_split(a->n_tokens, 1, ith, nth, &t0, &t1);
    if (t0 < t1) pmx_k.rope_f32(&a->r, t0, t1);
}

int32_t pmx_rope_f32(pmx_pool *pool, float *x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                     const int32_t *pos, int32_t mode, float freq_base, float freq_scale, float ext_factor,
                     float attn_factor, float beta_fast, float beta_slow, int32_t n_ctx_orig,
                     const float *freq_factors) {
    if (!x || !pos || n_tokens < 0 || n_heads <= 0 || head_dim <= 0 || n_rot <= 0 || n_rot > head_dim ||
        n_rot % 2 != 0 || (mode != PMX_ROPE_NORMAL && mode != PMX_ROPE_NEOX) || !(freq_base > 0) ||
        !(freq_scale > 0))
        return PMX_ERR_INVALID_ARG;
    struct rope_task_args a = {{x, n_heads, head_dim, n_rot, pos, mode, freq_base, freq_scale, ext_factor,
                                attn_factor, beta_fast, beta_slow, n_ctx_orig, freq_factors},
                               n_tokens};
    pmx_pool_run(rows_pool(pool, n_heads * n_rot, n_tokens), rope_task, &a);
    return PMX_OK;
}

struct hadamard_task_args {
    float *x;
    int64_t n, n_chunks;
};

static void hadamard_task(void *p, int ith, int nth) {
    const struct hadamard_task_args *a = p;
    int64_t c0, c1;
    pmx_split(a->n_chunks, 1, ith, nth, &c0, &c1);
    if (c0 < c1) pmx_k.hadamard_f32(a->x, a->n, c0, c1);
}

/* Below this many floats one thread does it all: waking the pool costs more than a decode step's rotation. */
#define HADAMARD_PARALLEL_MIN 65536

int32_t pmx_hadamard_f32(pmx_pool *pool, float *x, int64_t n, int64_t n_chunks) {
    if (!x || n < 2 || n > 65536 || (n & (n - 1)) != 0 || n_chunks < 0) return PMX_ERR_INVALID_ARG;
    struct hadamard_task_args a = {x, n, n_chunks};
    pmx_pool_run(n * n_chunks >= HADAMARD_PARALLEL_MIN ? pool : NULL, hadamard_task, &a);
    return PMX_OK;
}

/* Decode over a long context splits the keys across the threads (flash-decoding): each thread takes a share
 * of the keys for every head, so however few KV streams there are (MLA has one) the threads read disjoint
 * parts of the cache; a second step merges the shares. Below this many keys per thread, heads are split. */
#define ATTENTION_SPLIT_MIN_KEYS 256
/* Key shares are whole blocks of the kernels' key loops. */
#define ATTENTION_KEY_ALIGN 64
/* Queries of one sequence up to which the threads split (row, head) items rather than whole rows. */
#define VERIFY_MAX_ROWS 16

struct attention_task_args {
    pmx_attention_args a;
    int64_t n_vis;   /* split decode: keys seen by the query */
    float *part;     /* split decode: per thread, n_head rows of head_dim_v partial sums then n_head (m, l) */
    int64_t part_stride;
    int n_share;     /* split decode: shares to merge (the pool's threads) */
};

static void attention_task(void *p, int ith, int nth) {
    const struct attention_task_args *t = p;
    const pmx_attention_args *a = &t->a;
    if (t->part) {
        int64_t k0, k1;
        pmx_split(t->n_vis, ATTENTION_KEY_ALIGN, ith, nth, &k0, &k1);
        float *part = t->part + ith * t->part_stride;
        pmx_k.attention(a, 0, 0, a->n_head, k0, k1, part, part + a->n_head * a->head_dim_v);
        return;
    }
    if (a->n_q == 1) { /* short decode: whole KV groups per thread when there are enough, else heads */
        const int64_t group = a->n_head / a->n_kv_head;
        int64_t h0, h1;
        if (a->n_kv_head >= nth) {
            pmx_split(a->n_kv_head, 1, ith, nth, &h0, &h1);
            h0 *= group, h1 *= group;
        } else { /* at 4-head tiles (the widest a kernel takes at once), so results match one thread's bit for
                  * bit; a group whose size is no multiple of 4 is not cut (its tiling starts at its first head) */
            pmx_split(a->n_head, a->n_kv_head == 1 || group % 4 == 0 ? 4 : group, ith, nth, &h0, &h1);
        }
        if (h0 < h1) pmx_k.attention(a, 0, h0, h1, 0, a->n_kv, NULL, NULL);
        return;
    }
    if (a->n_q <= VERIFY_MAX_ROWS) {
        /* a few rows (a speculative verify): dealt out as (row, head unit) items, so that 3 rows on 2 threads take
         * 1.5 rows' time each, not 2 and 1; cut where the decode split above cuts, so each head's sums are the same */
        const int64_t group = a->n_head / a->n_kv_head;
        const int64_t unit = a->n_kv_head > 1 ? group : a->n_head % 4 == 0 ? 4 : a->n_head;
        const int64_t per_row = a->n_head / unit;
        for (int64_t i = ith; i < a->n_q * per_row; i += nth) {
            const int64_t h0 = i % per_row * unit;
            pmx_k.attention(a, i / per_row, h0, h0 + unit, 0, a->n_kv, NULL, NULL);
        }
        return;
    }
    /* prefill: causal work grows with the query's position, so queries are dealt out round-robin */
    for (int64_t q = ith; q < a->n_q; q += nth) pmx_k.attention(a, q, 0, a->n_head, 0, a->n_kv, NULL, NULL);
}

/* out row h = sum_p c_p part_p[h] / sum_p c_p l_p with c_p = exp(m_p - max_p m_p), shares in thread order. */
static void attention_merge_task(void *p, int ith, int nth) {
    const struct attention_task_args *t = p;
    const pmx_attention_args *a = &t->a;
    const int64_t dv = a->head_dim_v, n_part = t->part_stride;
    const int n_share = t->n_share;
    int64_t h0, h1;
    pmx_split(a->n_head, 1, ith, nth, &h0, &h1);
    for (int64_t h = h0; h < h1; h++) {
        float mx = -INFINITY, l = 0;
        for (int s = 0; s < n_share; s++) {
            const float m = t->part[s * n_part + a->n_head * dv + 2 * h];
            mx = m > mx ? m : mx;
        }
        float *o = a->out + h * dv;
        for (int64_t d = 0; d < dv; d++) o[d] = 0;
        for (int s = 0; s < n_share; s++) {
            const float *part = t->part + s * n_part, *ml = part + a->n_head * dv + 2 * h;
            if (ml[1] == 0) continue; /* a share without keys */
            const float c = expf(ml[0] - mx), *r = part + h * dv;
            l += c * ml[1];
            for (int64_t d = 0; d < dv; d++) o[d] += c * r[d];
        }
        const float inv = 1.0f / l;
        for (int64_t d = 0; d < dv; d++) o[d] *= inv;
    }
}

static int32_t run_attention(pmx_pool *pool, const pmx_attention_args *a) {
    /* (at most) every query against every key, for the key and the value products */
    pmx_pool *run = pmx_pool_for_work(pool, pmx_work(a->n_q * a->n_head, a->pos0 + a->n_q, a->head_dim + a->head_dim_v));
    const int nth = pmx_pool_size(run);
    struct attention_task_args t = {*a, 0, NULL, 0, nth};
    const int64_t n_vis = a->pos0 + 1;
    if (a->n_q == 1 && nth > 1 && n_vis >= (int64_t)nth * ATTENTION_SPLIT_MIN_KEYS) {
        t.part_stride = (a->n_head * (a->head_dim_v + 2) + 15) / 16 * 16; /* shares a cache line apart */
        t.part = pmx_pool_scratch(pool, (size_t)(nth * t.part_stride) * sizeof(float));
        t.n_vis = n_vis;
    }
    pmx_pool_run(run, attention_task, &t);
    if (t.part)
        pmx_pool_run(a->n_head > 1 ? run : NULL, attention_merge_task, &t);
    return PMX_OK;
}

/* A KV cache type's index when the attention kernels read it and every head dim is whole blocks of it, else -1. */
static int kv_type_index(int32_t type, int64_t dim_a, int64_t dim_b) {
    const int t = pmx_type_index(type);
    if (t < 0 || !pmx_kv_type_ok(t)) return -1;
    const int64_t bs = TYPES[t].block_size;
    /* a dequantized tile holds a block of keys of one head (attention_online.h) */
    if (bs > 1 && (dim_a % bs != 0 || dim_b % bs != 0 || dim_a > PMX_KV_MAX_HEAD_DIM || dim_b > PMX_KV_MAX_HEAD_DIM))
        return -1;
    return t;
}

int32_t pmx_attention(pmx_pool *pool, float *out, const float *q, int64_t n_q, int64_t pos0, int64_t n_head,
                      int64_t n_kv_head, int64_t head_dim, int64_t head_dim_v, const void *k, const void *v,
                      int32_t k_type, int32_t v_type, int64_t n_kv, float scale) {
    if (!out || !q || !k || !v || n_q <= 0 || pos0 < 0 || n_head <= 0 || n_kv_head <= 0 ||
        n_head % n_kv_head != 0 || head_dim <= 0 || head_dim_v <= 0 || pos0 + n_q > n_kv || !(scale == scale))
        return PMX_ERR_INVALID_ARG;
    const int kt = kv_type_index(k_type, head_dim, head_dim), vt = kv_type_index(v_type, head_dim_v, head_dim_v);
    if (kt < 0 || vt < 0) return PMX_ERR_INVALID_ARG;
    const pmx_attention_args a = {out,  q, n_q, pos0, n_head, n_kv_head, head_dim, head_dim_v,
                                  k,    v, n_kv_head * head_dim, n_kv_head * head_dim_v,
                                  kt, vt, n_kv, scale, NULL, 0};
    return run_attention(pool, &a);
}

int32_t pmx_attention_mla(pmx_pool *pool, float *out, const float *q, int64_t n_q, int64_t pos0, int64_t n_head,
                          int64_t kv_lora, int64_t n_rope, const void *cache, int32_t kv_type, int64_t n_kv,
                          float scale) {
    if (!out || !q || !cache || n_q <= 0 || pos0 < 0 || n_head <= 0 || kv_lora <= 0 || n_rope < 0 ||
        pos0 + n_q > n_kv || !(scale == scale))
        return PMX_ERR_INVALID_ARG;
    /* MQA: one KV head whose key is the whole row and whose value is the row's latent part */
    const int64_t row = kv_lora + n_rope;
    const int t = kv_type_index(kv_type, row, kv_lora);
    if (t < 0) return PMX_ERR_INVALID_ARG;
    const pmx_attention_args a = {out, q, n_q, pos0, n_head, 1, row, kv_lora, cache, cache, row, row,
                                  t, t, n_kv, scale, NULL, 0};
    return run_attention(pool, &a);
}

/* ---- the serving engine's paged cache ---- */

/* A batch of sequences: each row (query) of every sequence is one work item with all its heads, dealt out by an
 * atomic counter (a prefill chunk's late rows see the most keys: taken first, last row first), so ragged batches
 * of decode rows and prompt chunks balance over the threads without a plan. */
struct paged_task_args {
    pmx_attention_args a; /* the fields every sequence shares; per item q, out, n_q, pos0, n_kv, blocks are set */
    int64_t n_seq, n_rows;
    const int32_t *seq_rows, *seq_pos0, *tables, *table_start;
    atomic_llong next;
};

static void paged_task(void *p, int ith, int nth) {
    (void)ith, (void)nth;
    struct paged_task_args *t = p;
    for (;;) {
        const int64_t taken = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (taken >= t->n_rows) return;
        const int64_t r = t->n_rows - 1 - taken;
        int64_t lo = 0, hi = t->n_seq - 1; /* the sequence whose rows hold r */
        while (lo < hi) {
            const int64_t mid = (lo + hi + 1) / 2;
            if (t->seq_rows[mid] <= r) lo = mid;
            else hi = mid - 1;
        }
        pmx_attention_args a = t->a;
        const int64_t r0 = t->seq_rows[lo];
        a.q += r0 * a.n_head * a.head_dim;
        a.out += r0 * a.n_head * a.head_dim_v;
        a.n_q = t->seq_rows[lo + 1] - r0;
        a.pos0 = t->seq_pos0[lo];
        a.n_kv = a.pos0 + a.n_q;
        a.blocks = t->tables + t->table_start[lo];
        pmx_k.attention(&a, r - r0, 0, a.n_head, 0, a.n_kv, NULL, NULL);
    }
}

static int32_t run_paged(pmx_pool *pool, pmx_attention_args a, int64_t n_seq, const int32_t *seq_rows,
                         const int32_t *seq_pos0, const int32_t *tables, const int32_t *table_start) {
    if (n_seq == 1) { /* one sequence: the single-sequence driver, which splits a long decode across keys */
        a.n_q = seq_rows[1];
        a.pos0 = seq_pos0[0];
        a.n_kv = a.pos0 + a.n_q;
        a.blocks = tables + table_start[0];
        return run_attention(pool, &a);
    }
    struct paged_task_args t = {.a = a, .n_seq = n_seq, .n_rows = seq_rows[n_seq],
                                .seq_rows = seq_rows, .seq_pos0 = seq_pos0, .tables = tables,
                                .table_start = table_start};
    atomic_init(&t.next, 0);
    int64_t keys = 0; /* query-key pairs of the batch */
    for (int64_t i = 0; i < n_seq; i++) {
        const int64_t n_q = seq_rows[i + 1] - seq_rows[i];
        keys += n_q * (seq_pos0[i] + n_q);
    }
    pmx_pool_run(pmx_pool_for_work(pool, pmx_work(keys, a.n_head, a.head_dim + a.head_dim_v)), paged_task, &t);
    return PMX_OK;
}

static int paged_ok(int64_t n_seq, const int32_t *seq_rows, const int32_t *seq_pos0, const int32_t *tables,
                    const int32_t *table_start, int64_t block_size, float scale) {
    return n_seq > 0 && seq_rows && seq_pos0 && tables && table_start && block_size > 0 && scale == scale;
}

int32_t pmx_attention_paged(pmx_pool *pool, float *out, const float *q, int64_t n_seq, const int32_t *seq_rows,
                            const int32_t *seq_pos0, const int32_t *block_tables, const int32_t *table_start,
                            int64_t block_size, int64_t n_head, int64_t n_kv_head, int64_t head_dim,
                            int64_t head_dim_v, const void *k, const void *v, int32_t k_type, int32_t v_type,
                            float scale) {
    if (!out || !q || !k || !v || n_head <= 0 || n_kv_head <= 0 || n_head % n_kv_head != 0 || head_dim <= 0 ||
        head_dim_v <= 0 || !paged_ok(n_seq, seq_rows, seq_pos0, block_tables, table_start, block_size, scale))
        return PMX_ERR_INVALID_ARG;
    const int kt = kv_type_index(k_type, head_dim, head_dim), vt = kv_type_index(v_type, head_dim_v, head_dim_v);
    if (kt < 0 || vt < 0) return PMX_ERR_INVALID_ARG;
    const pmx_attention_args a = {out, q, 0, 0, n_head, n_kv_head, head_dim, head_dim_v, k, v,
                                  n_kv_head * head_dim, n_kv_head * head_dim_v, kt, vt, 0, scale, NULL, block_size};
    return run_paged(pool, a, n_seq, seq_rows, seq_pos0, block_tables, table_start);
}

int32_t pmx_attention_mla_paged(pmx_pool *pool, float *out, const float *q, int64_t n_seq, const int32_t *seq_rows,
                                const int32_t *seq_pos0, const int32_t *block_tables, const int32_t *table_start,
                                int64_t block_size, int64_t n_head, int64_t kv_lora, int64_t n_rope,
                                const void *cache, int32_t kv_type, float scale) {
    if (!out || !q || !cache || n_head <= 0 || kv_lora <= 0 || n_rope < 0 ||
        !paged_ok(n_seq, seq_rows, seq_pos0, block_tables, table_start, block_size, scale))
        return PMX_ERR_INVALID_ARG;
    const int64_t row = kv_lora + n_rope;
    const int t = kv_type_index(kv_type, row, kv_lora);
    if (t < 0) return PMX_ERR_INVALID_ARG;
    const pmx_attention_args a = {out, q, 0, 0, n_head, 1, row, kv_lora, cache, cache, row, row,
                                  t, t, 0, scale, NULL, block_size};
    return run_paged(pool, a, n_seq, seq_rows, seq_pos0, block_tables, table_start);
}

/* An encoder batch: (sequence, head) work items dealt out by an atomic counter, longest sequences first in the order
 * given (they are similar in length for embeddings); each thread's scratch a slice of the pool's (one malloc per
 * call only without a pool). */
struct encoder_args {
    float *out;
    const float *q, *k, *v;
    int64_t n_seq, n_head, head_dim;
    const int32_t *seq_rows;
    float *scratch;
    int64_t scratch_stride; /* floats per thread, a multiple of 16 */
    float scale;
    atomic_llong next;
};

static void encoder_task(void *p, int ith, int nth) {
    (void)nth;
    struct encoder_args *a = p;
    float *scratch = a->scratch + ith * a->scratch_stride;
    for (;;) {
        const int64_t item = atomic_fetch_add_explicit(&a->next, 1, memory_order_relaxed);
        if (item >= a->n_seq * a->n_head) break;
        const int64_t s = item / a->n_head, h = item % a->n_head, r0 = a->seq_rows[s], len = a->seq_rows[s + 1] - r0;
        if (len == 0) continue;
        const int64_t off = r0 * a->n_head * a->head_dim;
        pmx_k.attention_encoder(a->q + off, a->k + off, a->v + off, a->out + off, len, a->n_head, a->head_dim, h, h + 1,
                                a->scale, scratch);
    }
}

int32_t pmx_attention_encoder_f32(pmx_pool *pool, float *out, const float *q, const float *k, const float *v,
                                  int64_t n_seq, const int32_t *seq_rows, int64_t n_head, int64_t head_dim, float scale) {
    if (!out || !q || !k || !v || !seq_rows || n_seq < 0 || n_head <= 0 || head_dim <= 0 || !(scale == scale) ||
        seq_rows[0] != 0)
        return PMX_ERR_INVALID_ARG;
    int64_t max_len = 0, pairs = 0; /* query-key pairs */
    for (int64_t s = 0; s < n_seq; s++) {
        const int64_t len = (int64_t)seq_rows[s + 1] - seq_rows[s];
        if (len < 0) return PMX_ERR_INVALID_ARG;
        if (len > max_len) max_len = len;
        pairs += len * len;
    }
    if (max_len == 0) return PMX_OK;
    pmx_pool *run = n_seq * n_head > 1 ? pmx_pool_for_work(pool, pmx_work(pairs, n_head, 2 * head_dim)) : NULL;
    const int64_t stride = (pmx_encoder_scratch_floats(max_len, head_dim) + 15) / 16 * 16;
    const int nth = pmx_pool_size(run);
    if (stride > (int64_t)(SIZE_MAX / sizeof(float)) / nth) return PMX_ERR_NO_MEMORY;
    const size_t bytes = sizeof(float) * (size_t)(stride * nth);
    float *owned = NULL, *scratch = pmx_pool_scratch(pool, bytes);
    if (!scratch && !pool) scratch = owned = aligned_alloc(64, bytes);
    if (!scratch) return PMX_ERR_NO_MEMORY;
    struct encoder_args a = {.out = out, .q = q, .k = k, .v = v, .n_seq = n_seq, .n_head = n_head, .head_dim = head_dim,
                             .seq_rows = seq_rows, .scratch = scratch, .scratch_stride = stride, .scale = scale};
    atomic_init(&a.next, 0);
    pmx_pool_run(run, encoder_task, &a);
    free(owned);
    return PMX_OK;
}

int32_t pmx_kv_store(int32_t kv_type, void *cache, const int32_t *rows, const float *src, int64_t n, int64_t width) {
    const int t = pmx_type_index(kv_type);
    if (!cache || !rows || !src || n < 0 || width <= 0 || t < 0 || !pmx_kv_type_ok(t) ||
        width % TYPES[t].block_size != 0)
        return PMX_ERR_INVALID_ARG;
    /* each row quantized as it is written, as ggml's set_rows (one block = 32 values along the row) */
    const int64_t rb = pmx_row_bytes(t, width);
    for (int64_t i = 0; i < n; i++) pmx_ref_quantize_row(t, (char *)cache + rows[i] * rb, src + i * width, width);
    return PMX_OK;
}

static void add_rows_task(void *p, int ith, int nth) {
    const struct rows_args *a = p;
    int64_t r0, r1;
    pmx_split(a->n_rows, 1, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) pmx_k.add_f32(a->y + r * a->n, a->y + r * a->n, a->b, 0, a->n);
}

int32_t pmx_add_rows_f32(pmx_pool *pool, float *y, const float *b, int64_t n, int64_t n_rows) {
    if (!y || !b || n <= 0 || n_rows < 0) return PMX_ERR_INVALID_ARG;
    struct rows_args a = {.y = y, .b = b, .n = n, .n_rows = n_rows};
    pmx_pool_run(rows_pool(pool, n, n_rows), add_rows_task, &a);
    return PMX_OK;
}

static void layer_norm_task(void *p, int ith, int nth) {
    const struct rows_args *a = p;
    int64_t r0, r1;
    pmx_split(a->n_rows, 1, ith, nth, &r0, &r1);
    if (r0 < r1) pmx_k.layer_norm_f32(a->y, a->x, a->res, a->w, a->b, a->n, r0, r1, a->eps);
}

int32_t pmx_layer_norm_f32(pmx_pool *pool, float *y, const float *x, const float *res, const float *w, const float *b,
                           int64_t n, int64_t n_rows, float eps) {
    if (!y || !x || !w || !b || n <= 0 || n_rows < 0 || !(eps >= 0)) return PMX_ERR_INVALID_ARG;
    struct rows_args a = {.y = y, .x = x, .res = res, .w = w, .b = b, .n = n, .n_rows = n_rows, .eps = eps};
    pmx_pool_run(rows_pool(pool, n, n_rows), layer_norm_task, &a);
    return PMX_OK;
}

static void gelu_task(void *p, int ith, int nth) {
    const struct rows_args *a = p;
    int64_t r0, r1;
    pmx_split(a->n_rows, 1, ith, nth, &r0, &r1);
    if (r0 < r1) pmx_k.gelu_f32(a->y, a->b, a->n, r0, r1);
}

int32_t pmx_gelu_f32(pmx_pool *pool, float *x, const float *b, int64_t n, int64_t n_rows) {
    if (!x || n <= 0 || n_rows < 0) return PMX_ERR_INVALID_ARG;
    struct rows_args a = {.y = x, .b = b, .n = n, .n_rows = n_rows};
    pmx_pool_run(rows_pool(pool, n, n_rows), gelu_task, &a);
    return PMX_OK;
}

int32_t pmx_rmsnorm_strided_f32(pmx_pool *pool, float *x, const float *w, int64_t n, int64_t n_rows, int64_t stride,
                                float eps) {
    (void)pool;
    if (!x || !w || n <= 0 || n_rows < 0 || stride < n || !(eps >= 0)) return PMX_ERR_INVALID_ARG;
    for (int64_t r = 0; r < n_rows; r++) pmx_k.rmsnorm_f32(x + r * stride, x + r * stride, w, n, 0, 1, eps);
    return PMX_OK;
}

struct read_args {
    const uint8_t *p;
    int64_t bytes;
    uint64_t sums[64];
};

static void read_task(void *p, int ith, int nth) {
    struct read_args *a = p;
    int64_t b0, b1;
    pmx_split(a->bytes, 4096, ith, nth, &b0, &b1);
    /* one slot per thread, 8 apart so that no two threads write one cache line */
    if (ith < 8) a->sums[ith * 8] = b0 < b1 ? pmx_k.read_bytes(a->p, b0, b1) : 0;
}

uint64_t pmx_read_bytes(pmx_pool *pool, const void *p, int64_t bytes) {
    if (!p || bytes <= 0) return 0;
    struct read_args a = {p, bytes, {0}};
    if (pmx_pool_size(pool) > 8) pool = NULL; /* keeps the sums array small; a yardstick needs no more */
    pmx_pool_run(pool, read_task, &a);
    uint64_t sum = 0;
    for (int i = 0; i < 8; i++) sum ^= a.sums[i * 8];
    return sum;
}
