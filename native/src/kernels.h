/* The dispatch table: one function pointer per kernel, filled once per ISA. Kernels here are
 * single-threaded over a range (rows, tokens, items); api.c checks arguments and splits the range across
 * the pool. Every ISA starts from the scalar reference table (ref/) and overrides what it accelerates,
 * area by area: pmx_<isa>_register_<area>() in <isa dir>/<area>.c. */
#ifndef PMX_KERNELS_H
#define PMX_KERNELS_H
#include <stdint.h>
#include "blocks.h"

/* Dense index of the supported types, for tables. */
enum {
    PMX_T_F32, PMX_T_F16, PMX_T_BF16, PMX_T_Q8_0, PMX_T_Q4_0, PMX_T_Q4_K, PMX_T_Q6_K, PMX_T_Q5_0,
    PMX_T_Q4_1, PMX_T_Q5_1, PMX_T_Q2_K, PMX_T_Q3_K, PMX_T_Q5_K, PMX_T_IQ4_NL, PMX_T_IQ4_XS, PMX_T_COUNT
};
/* Whether the int8 kernels of a type read Q8_K activations (256-wide super-blocks with block sums): the K-quants
 * and IQ4_XS; the other quantized types read Q8_0 blocks. */
static inline int pmx_type_acts_q8_K(int t) {
    return t == PMX_T_Q4_K || t == PMX_T_Q6_K || t == PMX_T_Q2_K || t == PMX_T_Q3_K || t == PMX_T_Q5_K || t == PMX_T_IQ4_XS;
}
/* PMX_T_* of a PMX_TYPE_* value, or -1. */
int pmx_type_index(int32_t type);

/* y[b * ldy + r] = W[r] . act[b] for r in [r0, r1), b in [0, batch) (see pmx_matmul_kernel.matmul). */
typedef void (*pmx_matmul_fn)(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy, int64_t r0,
                              int64_t r1);

typedef struct pmx_matmul_kernel {
    /* Activation rows [b0, b1) of x (n floats each) into xa, whose rows are act_row_bytes(n) apart (the
     * format: Q8_0 blocks, or block_q8_K where pmx_type_acts_q8_K). NULL: the kernel reads x as floats. */
    void (*prepare)(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1);
    /* y[b * ldy + r] = W[r] . act[b] for r in [r0, r1), b in [0, batch). W rows are row_bytes(n) apart. */
    pmx_matmul_fn matmul;
    /* Bytes of a prepared row when prepare writes its own layout rather than the type's standard blocks
     * (pmx_act_row_bytes); NULL: the standard. */
    int64_t (*act_row_bytes)(int64_t n);
} pmx_matmul_kernel;

/* A packed kernel's matmul, then y = act(y + bias[r]) (bias NULL: none; act PMX_ACT_*) on each tile while it is hot,
 * the same bits as pmx_add_rows_f32 and pmx_gelu_f32 after the product. */
typedef void (*pmx_matmul_ep_fn)(const void *w, int64_t n, const void *xa, int64_t batch, float *y, int64_t ldy,
                                 int64_t r0, int64_t r1, const float *bias, int act);

typedef struct pmx_rope_args {
    float *x;
    int64_t n_heads, head_dim, n_rot;
    const int32_t *pos;
    int32_t mode;
    float freq_base, freq_scale, ext_factor, attn_factor, beta_fast, beta_slow;
    int32_t n_ctx_orig;
    const float *freq_factors; /* n_rot/2 divisors of the pairs' extrapolated angles, or NULL (all 1) */
} pmx_rope_args;

typedef struct pmx_attention_args {
    float *out;
    const float *q;
    int64_t n_q, pos0, n_head, n_kv_head, head_dim, head_dim_v;
    const void *k, *v;
    /* elements from one token's K (V) row to the next's; KV head g starts at g * head_dim (g * head_dim_v) */
    int64_t k_stride, v_stride;
    /* Storage of K and V as type indices (PMX_T_*): F32 and F16 are read in place; the other KV cache types
     * (pmx_kv_type_ok) block by block through a dequantizer, their head dims whole blocks (32 values). */
    int32_t k_type, v_type;
    int64_t n_kv;
    float scale;
    /* Paged cache (the serving engine's): NULL, or key j of the sequence sits in cache row
     * blocks[j / block_size] * block_size + j % block_size (pmx_kv_row); key loops never cross a block. */
    const int32_t *blocks;
    int64_t block_size;
} pmx_attention_args;

/* 1 when the attention kernels read a cache of this type index: llama.cpp's cache types (-ctk/-ctv). */
static inline int pmx_kv_type_ok(int t) {
    return t == PMX_T_F32 || t == PMX_T_F16 || t == PMX_T_BF16 || t == PMX_T_Q8_0 || t == PMX_T_Q4_0 ||
           t == PMX_T_Q4_1 || t == PMX_T_Q5_0 || t == PMX_T_Q5_1 || t == PMX_T_IQ4_NL;
}

/* The type index a query row is rounded through before its dot products with keys of type index t, as ggml's flash
 * attention converts Q to K's vec_dot_type: Q8_0 for the block types (their int8 dot products; Q8_1 for Q4_1/Q5_1 has
 * the same values), BF16 for BF16; -1 for F32 and F16 (the query stays float). */
static inline int pmx_kv_q_type(int t) {
    return t == PMX_T_F32 || t == PMX_T_F16 ? -1 : t == PMX_T_BF16 ? PMX_T_BF16 : PMX_T_Q8_0;
}

/* The cache row of key j, and in *run how many keys from j on (at most *run) sit in consecutive rows. */
static inline int64_t pmx_kv_row(const pmx_attention_args *a, int64_t j, int64_t *run) {
    if (!a->blocks) return j;
    const int64_t bs = a->block_size, in = j % bs;
    if (*run > bs - in) *run = bs - in;
    return (int64_t)a->blocks[j / bs] * bs + in;
}

/* Batches from this size take the table's gemm entry of a type when it has one. */
#define PMX_GEMM_MIN_BATCH 32

typedef struct pmx_kernels {
    pmx_matmul_kernel matmul[PMX_T_COUNT];
    /* For prompt-sized batches (>= PMX_GEMM_MIN_BATCH), a kernel that beats matmul there (e.g. a float-panel GEMM
     * that reads the activations as floats: prepare NULL); matmul NULL: matmul takes every batch. */
    pmx_matmul_kernel gemm[PMX_T_COUNT];
    /* Weights in the interleaved layout of pmx_pack (block_q4_0x16 / block_q8_0x16 / block_q4_Kx16 / block_q6_Kx16 groups
     * of PMX_PACK_ROWS rows, rows [r0, r1) multiples of it) against block_q8_0s (Q4_0, Q8_0) or block_q8_K (K-quants)
     * activations; every ISA has them (the reference's at least), packed_preferred says where they are the fast path. */
    pmx_matmul_kernel packed[PMX_T_COUNT];
    uint8_t packed_preferred[PMX_T_COUNT];
    /* packed[t].matmul with its epilogue (pmx_matmul_packed_ep); NULL: the driver runs the epilogue per chunk of rows */
    pmx_matmul_ep_fn packed_ep[PMX_T_COUNT];
    /* rows [r0, r1) of an n-wide row-major matrix */
    void (*rmsnorm_f32)(float *y, const float *x, const float *w, int64_t n, int64_t r0, int64_t r1, float eps);
    void (*softmax_f32)(float *x, int64_t n, int64_t r0, int64_t r1);
    /* rows [r0, r1) of n floats: y = norm(x + res) * w + b, ggml_norm (mean and variance summed in double) then
     * ggml_mul and ggml_add, res NULL: none; y may be x or res */
    void (*layer_norm_f32)(float *y, const float *x, const float *res, const float *w, const float *b, int64_t n,
                           int64_t r0, int64_t r1, float eps);
    /* An encoder's attention, one sequence of L rows (row stride n_head * head_dim floats in q, k, v and out), heads
     * [h0, h1): out = softmax(scale * q k^T) v over all L rows (no mask), K and V rounded to binary16 first as the
     * F16 cache of llama.cpp's flash attention stores them. scratch: pmx_encoder_scratch_floats(L, head_dim). */
    void (*attention_encoder)(const float *q, const float *k, const float *v, float *out, int64_t L, int64_t n_head,
                              int64_t head_dim, int64_t h0, int64_t h1, float scale, float *scratch);
    /* rows [r0, r1) of n floats, in place: x = gelu(x + b), b NULL: none; ggml_vec_gelu_f32 with GGML_GELU_FP16 (0 at
     * or below -10, identity at or above 10, else the binary16 table pmx_gelu_table of the tanh form) */
    void (*gelu_f32)(float *x, const float *b, int64_t n, int64_t r0, int64_t r1);
    /* elements [i0, i1) */
    void (*silu_mul_f32)(float *y, const float *g, const float *u, int64_t i0, int64_t i1);
    void (*add_f32)(float *y, const float *a, const float *b, int64_t i0, int64_t i1);
    /* whole vector, single-threaded */
    int64_t (*argmax_f32)(const float *x, int64_t n);
    /* tokens [t0, t1) */
    void (*rope_f32)(const pmx_rope_args *a, int64_t t0, int64_t t1);
    /* chunks [c0, c1) of n floats (n a power of 2), in place: the orthonormal Walsh-Hadamard transform, as ggml's
     * fwht (x scaled by 1/sqrt(n) first, then butterflies of span 1, 2, 4, ...: every ISA gives the same bits) */
    void (*hadamard_f32)(float *x, int64_t n, int64_t c0, int64_t c1);
    /* Query t, heads [h0, h1), keys [k0, k1) clipped to the pos0 + t + 1 keys that t sees. Heads of one KV
     * group walk each block of keys together, so the block is read from memory once for all of them.
     * part == NULL: the normalized output rows into out. Else (a share of the keys, merged by the caller):
     * the unnormalized rows sum_j exp(s_j - m) v_j into part + (h - h0) * head_dim_v, and ml[2 (h - h0)] = m
     * (the max score), ml[2 (h - h0) + 1] = sum_j exp(s_j - m); no key: m = -inf, sum 0, row 0. */
    void (*attention)(const pmx_attention_args *a, int64_t t, int64_t h0, int64_t h1, int64_t k0, int64_t k1,
                      float *part, float *ml);
    /* checksum of bytes [b0, b1) of p: a plain streaming read, the bandwidth yardstick */
    uint64_t (*read_bytes)(const uint8_t *p, int64_t b0, int64_t b1);
} pmx_kernels;

/* Floats of attention_encoder's scratch for a sequence of L rows: K transposed (L rounded up to 16 keys) and V of
 * one head (rows of head_dim rounded up to 16), and for a block of PMX_ENCODER_ROWS query rows their scores and
 * an output buffer. */
#define PMX_ENCODER_ROWS 6
static inline int64_t pmx_encoder_scratch_floats(int64_t L, int64_t head_dim) {
    const int64_t lp = (L + 15) / 16 * 16, hp = (head_dim + 15) / 16 * 16;
    return head_dim * lp + lp * hp + PMX_ENCODER_ROWS * (lp + hp);
}

/* Bytes of a standard prepared activation row for a weight type (Q8_0 or Q8_K blocks; BF16: floats rounded to BF16; 0:
 * floats, no prepare). */
int64_t pmx_act_row_bytes(int type_index, int64_t n);
/* Bytes of one activation row as kernel k of type index t reads it: its own layout, the standard blocks, or floats. */
int64_t pmx_kernel_act_row_bytes(const pmx_matmul_kernel *k, int type_index, int64_t n);
/* The kernel for a batch of this size: gemm[t] from PMX_GEMM_MIN_BATCH when present, else matmul[t]. */
const pmx_matmul_kernel *pmx_matmul_kernel_for(int type_index, int64_t batch);
/* Bytes of one weight row of n elements. */
int64_t pmx_row_bytes(int type_index, int64_t n);

/* BF16 weights' standard activations (every ISA's matmul and gemm prepare, as ggml's vec_dot_type for BF16 is BF16):
 * rows [b0, b1) of x with each float rounded to BF16 (pmx_f32_to_bf16) and kept as a float, which the float kernels
 * read as they are. */
void pmx_ref_prepare_bf16(void *xa, const float *x, int64_t n, int64_t b0, int64_t b1);

void pmx_kernels_ref(pmx_kernels *k);
#if defined(__x86_64__)
void pmx_kernels_avx2(pmx_kernels *k);
void pmx_kernels_avx512(pmx_kernels *k);
#endif
#if defined(__aarch64__)
void pmx_kernels_neon(pmx_kernels *k);
void pmx_kernels_neon_dotprod(pmx_kernels *k);
#endif

/* The active table (api.c). */
extern pmx_kernels pmx_k;

#endif
