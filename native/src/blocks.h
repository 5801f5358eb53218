/* ggml's block formats, bit-exact (a GGUF file's tensors are used in place), and the half-precision
 * conversions every ISA's scalar tails share. */
#ifndef PMX_BLOCKS_H
#define PMX_BLOCKS_H
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint16_t pmx_half; /* IEEE binary16 bits */
typedef uint16_t pmx_bf16; /* bfloat16 bits */

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK4_NL 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { pmx_half d; uint8_t qs[QK4_0 / 2]; } block_q4_0;       /* x = (q - 8) * d, low nibbles first */
typedef struct { pmx_half d; int8_t qs[QK8_0]; } block_q8_0;            /* x = q * d */
typedef struct {                                                        /* x = (q - 16) * d, q = 5 bits */
    pmx_half d;
    uint8_t qh[4];                                                      /* bit j: 5th bit of element j (little-endian u32) */
    uint8_t qs[QK5_0 / 2];                                              /* low nibbles: elements 0..15, high: 16..31 */
} block_q5_0;
typedef struct { pmx_half d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;    /* x = q * d + m, nibbles as Q4_0's */
typedef struct {                                                        /* x = q * d + m, q = 5 bits, */
    pmx_half d, m;                                                      /* qh and qs as Q5_0's */
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
typedef struct { pmx_half d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;  /* x = d * kvalues_iq4nl[q], nibbles as Q4_0's */
typedef struct {                                                        /* 16 sub-blocks of 16: x = d*(sc & 15) * q */
    uint8_t scales[QK_K / 16];                                          /*   - dmin*(sc >> 4), q = 2 bits */
    uint8_t qs[QK_K / 4];                                               /* per 128: byte l holds elements l, l + 32, */
    pmx_half d, dmin;                                                   /* l + 64, l + 96 (bits 0-1, 2-3, 4-5, 6-7) */
} block_q2_K;
typedef struct {                                                        /* 16 sub-blocks of 16: x = d * (sc - 32) * (q - 4) */
    uint8_t hmask[QK_K / 8];                                            /* bit k of byte l: 3rd bit of element 32k + l */
    uint8_t qs[QK_K / 4];                                               /* low 2 bits, packed as Q2_K's */
    uint8_t scales[12];                                                 /* 6-bit scales: low nibbles in bytes 0..7, */
    pmx_half d;                                                         /* top 2 bits in bytes 8..11 */
} block_q3_K;
typedef struct {                                                        /* 8 sub-blocks of 32: x = q * d*sc - dmin*m */
    pmx_half d, dmin;                                                   /* q = 5 bits; scales packed as Q4_K's */
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];                                               /* bit 2p / 2p + 1 of byte l: 5th bit of */
    uint8_t qs[QK_K / 2];                                               /* element 64p + l / 64p + 32 + l */
} block_q5_K;
typedef struct {                                                        /* 8 sub-blocks of 32: x = d * (ls - 32) * */
    pmx_half d;                                                         /* kvalues_iq4nl[q], ls = 6 bits: low nibble */
    uint16_t scales_h;                                                  /* in scales_l, top 2 bits in scales_h */
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];                                               /* 16 bytes per sub-block, as IQ4_NL's */
} block_iq4_xs;
typedef struct {                                                        /* 8 sub-blocks of 32: x = q * d*sc - dmin*m */
    pmx_half d, dmin;
    uint8_t scales[K_SCALE_SIZE];                                       /* 6-bit scales and mins, packed */
    uint8_t qs[QK_K / 2];
} block_q4_K;
typedef struct {                                                        /* 16 sub-blocks of 16: x = d * sc * (q - 32) */
    uint8_t ql[QK_K / 2];                                               /* low 4 bits */
    uint8_t qh[QK_K / 4];                                               /* high 2 bits */
    int8_t scales[QK_K / 16];
    pmx_half d;
} block_q6_K;
typedef struct {                                                        /* activations for K-quant dot products */
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];                                           /* sums of each 16 qs */
} block_q8_K;

/* Interleaved layouts (pmx_pack): PMX_PACK_ROWS weight rows side by side, one block column after another, so that one
 * 64-byte load holds 4 consecutive quants of each of 16 rows: a vpdpbusd operand whose 16 int32 lanes are the 16 rows'
 * dot products (no horizontal sums, one weight stream per 16 rows). The same bytes as the rows, placed differently. */
#define PMX_PACK_ROWS 16
typedef struct {                                                        /* Q4_0, one block of 16 rows */
    pmx_half d[PMX_PACK_ROWS];                                          /* the rows' scales */
    uint8_t qs[4][PMX_PACK_ROWS][4];                                    /* [s][r][j]: qs[4s + j] of row r: low nibble */
} block_q4_0x16;                                                        /* element 4s + j, high nibble 16 + 4s + j */
typedef struct {                                                        /* Q8_0, one block of 16 rows */
    pmx_half d[PMX_PACK_ROWS];
    uint8_t qs[8][PMX_PACK_ROWS][4];                                    /* [s][r][j]: qs[4s + j] of row r, + 128 */
} block_q8_0x16;                                                        /* (q ^ 0x80: vpdpbusd's unsigned operand) */
typedef struct {                                                        /* Q4_K, one super-block of 16 rows */
    pmx_half d[PMX_PACK_ROWS], dmin[PMX_PACK_ROWS];
    uint8_t sc[QK_K / 32][PMX_PACK_ROWS], m[QK_K / 32][PMX_PACK_ROWS];   /* 6-bit scale, min of sub-block j, row r */
    uint8_t qs[4][8][PMX_PACK_ROWS][4];                                 /* [p][s][r][j]: qs[32p + 4s + j] of row r: */
} block_q4_Kx16;                                                        /* low nibble sub-block 2p, high 2p + 1 */
typedef struct {                                                        /* Q6_K, one super-block of 16 rows */
    pmx_half d[PMX_PACK_ROWS];
    int8_t sc[QK_K / 16][PMX_PACK_ROWS];                                /* scale of sub-block j (16 values), row r */
    uint8_t q[2][8][3][PMX_PACK_ROWS][4];                               /* [h][s][0 / 1][r][j]: ql[64h + 32b + 4s + j] */
} block_q6_Kx16;                                                        /* (b = 0 / 1), [h][s][2][r][j]: qh[32h + 4s + j] */
/* IQ4_NL, one block of 16 rows: Q4_0's layout (a block_iq4_nl holds d and its nibbles where a block_q4_0 does) */
typedef block_q4_0x16 block_iq4_nlx16;
typedef struct {                                                        /* IQ4_XS, one super-block of 16 rows */
    pmx_half d[PMX_PACK_ROWS];
    int8_t sc[QK_K / 32][PMX_PACK_ROWS];                                /* ls - 32 of sub-block j, row r */
    uint8_t qs[QK_K / 32][4][PMX_PACK_ROWS][4];                         /* [j][s][r][k]: qs[16j + 4s + k] of row r: */
} block_iq4_xsx16;                                                      /* low nibble element 32j + 4s + k, high + 16 */
/* Q5_K and Q3_K, packed: the quants re-cut (the same bits per weight) so that a 64-byte load of 16 rows decodes with
 * one or two operations per vpdpbusd operand, some values left shifted (times 8 or 32) where that saves a shift (the
 * kernels scale those sub-blocks' sums down again). Accessors: ref/packed.c's q5_Kx16_value, q3_Kx16_value. */
typedef struct {                                                        /* Q5_K, one super-block of 16 rows */
    pmx_half d[PMX_PACK_ROWS], dmin[PMX_PACK_ROWS];                     /* Q4_K's head, then the low 2 bits of the */
    uint8_t sc[QK_K / 32][PMX_PACK_ROWS], m[QK_K / 32][PMX_PACK_ROWS];   /* "hi" values (one sequential stream) */
    uint8_t qh[8][PMX_PACK_ROWS][4];                                    /* [s][r][]: 32 bits; bits 0-1 of pair p's hi */
                                                                        /* value j at bits 8j + 3 + 2p, 8j + 4 + 2p mod */
                                                                        /* 32 (a rotate right by 2p: bits 3-4 of byte j) */
    uint8_t qs[4][8][PMX_PACK_ROWS][4];                                 /* [p][s][r][j]: lo value (element 64p + 4s + j, */
} block_q5_Kx16;                                                        /* 5 bits) | hi (64p + 32 + 4s + j) >> 2 << 5 */
typedef struct {                                                        /* Q3_K, one super-block of 16 rows */
    pmx_half d[PMX_PACK_ROWS];
    int8_t sc[QK_K / 16][PMX_PACK_ROWS];                                /* sc - 32 of sub-block j (16 values), row r */
    uint8_t q[2][4][3][PMX_PACK_ROWS][4];                               /* [h][s][v][r][k]: the unsigned 3-bit values */
} block_q3_Kx16;                                                        /* (q + 4) of elements 16(8h + m) + 4s + k: */
                                                                        /* m = v at bits 0-2 of byte v, m = 3 + v at */
                                                                        /* bits 5-7; m = 6: bits 3-4 of byte 0 and bit */
                                                                        /* 3 of byte 2, m = 7: bits 3-4 of byte 1, bit 4 */
typedef struct {                                                        /* Q2_K, one super-block of 16 rows */
    pmx_half d[PMX_PACK_ROWS], dmin[PMX_PACK_ROWS];
    uint8_t sc[QK_K / 16][PMX_PACK_ROWS];                               /* scales[j] of row r (scale | min << 4) */
    uint8_t qs[2][8][PMX_PACK_ROWS][4];                                 /* [n][s][r][j]: qs[32n + 4s + j] of row r */
} block_q2_Kx16;
typedef struct {                                                        /* Q4_1, one block of 16 rows: Q4_0's */
    pmx_half d[PMX_PACK_ROWS], m[PMX_PACK_ROWS];                        /* layout with the rows' minimums */
    uint8_t qs[4][PMX_PACK_ROWS][4];
} block_q4_1x16;
typedef struct {                                                        /* Q5_1, one block of 16 rows */
    pmx_half d[PMX_PACK_ROWS], m[PMX_PACK_ROWS];
    uint8_t qh[PMX_PACK_ROWS][4];                                       /* [r][k]: bit s = 5th bit of element 4s + k, */
    uint8_t qs[4][PMX_PACK_ROWS][4];                                    /* bit 4 + s: of 16 + 4s + k (s < 4) */
} block_q5_1x16;
typedef struct {                                                        /* a Q8_0 activation block for the packed */
    int8_t qs[QK8_0];                                                   /* kernels: ggml's Q8_0 quants, */
    float d;                                                            /* the scale as a float, */
    int32_t sum;                                                        /* -offset * sum(qs): the weights' offset */
} block_q8_0s;                                                          /* (Q4_0: 8, packed Q8_0: 128) taken off; */
                                                                        /* Q4_1, Q5_1: + sum(qs), their minimums' */

static_assert(sizeof(block_q4_0x16) == PMX_PACK_ROWS * 18, "block_q4_0x16 size");
static_assert(sizeof(block_q8_0x16) == PMX_PACK_ROWS * 34, "block_q8_0x16 size");
static_assert(sizeof(block_q8_0s) == 40, "block_q8_0s size");
static_assert(sizeof(block_q4_Kx16) == PMX_PACK_ROWS * 144 + 64, "block_q4_Kx16 size: the scales unpacked to bytes");
static_assert(sizeof(block_q6_Kx16) == PMX_PACK_ROWS * 210, "block_q6_Kx16 size");
static_assert(sizeof(block_iq4_xsx16) == PMX_PACK_ROWS * 136 + 32, "block_iq4_xsx16 size: the scales unpacked to bytes");
static_assert(sizeof(block_q5_Kx16) == PMX_PACK_ROWS * 176 + 64, "block_q5_Kx16 size: the scales unpacked to bytes");
static_assert(offsetof(block_q5_Kx16, m) == offsetof(block_q4_Kx16, m), "Q5_K's packed head is Q4_K's");
static_assert(sizeof(block_q3_Kx16) == PMX_PACK_ROWS * 110 + 64, "block_q3_Kx16 size: the scales unpacked to bytes");
static_assert(sizeof(block_q2_Kx16) == PMX_PACK_ROWS * 84, "block_q2_Kx16 size");
static_assert(sizeof(block_q4_1x16) == PMX_PACK_ROWS * 20, "block_q4_1x16 size");
static_assert(sizeof(block_q5_1x16) == PMX_PACK_ROWS * 24, "block_q5_1x16 size");
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");
static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");
static_assert(offsetof(block_q2_K, d) == 80 && offsetof(block_q3_K, d) == 108 && offsetof(block_q5_K, qh) == 16 &&
                  offsetof(block_q5_1, qh) == 4 && offsetof(block_iq4_xs, qs) == 8,
              "field offsets as ggml's");

/* IQ4_NL's and IQ4_XS's 16 non-linear levels (ggml's kvalues_iq4nl) */
static const int8_t pmx_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

static inline float pmx_f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t pmx_bits_from_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* binary16 -> float, exact for every input (subnormals, inf, NaN). */
static inline float pmx_half_to_f32(pmx_half h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        float f = (float)man * 5.9604644775390625e-08f;
        return pmx_f32_from_bits(pmx_bits_from_f32(f) | sign);
    }
    if (exp == 31) return pmx_f32_from_bits(sign | 0x7f800000u | (man << 13));
    return pmx_f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

/* float -> binary16, round to nearest even, as ggml's GGML_FP32_TO_FP16 (and F16C) do. */
static inline pmx_half pmx_f32_to_half(float f) {
    const uint32_t x = pmx_bits_from_f32(f);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (pmx_half)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
    if (ax >= 0x477ff000u) return (pmx_half)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) {
        /* result is subnormal or zero: scale into integer units of 2^-24 and round to nearest even */
        const float v = pmx_f32_from_bits(ax) * 16777216.0f;
        uint32_t q = (uint32_t)v;
        const float rem = v - (float)q;
        if (rem > 0.5f || (rem == 0.5f && (q & 1))) q++;
        return (pmx_half)(sign | q);
    }
    const uint32_t mant_odd = (ax >> 13) & 1;
    const uint32_t r = ax + 0xfff + mant_odd; /* round to nearest even at bit 13 */
    return (pmx_half)(sign | ((r - 0x38000000u) >> 13));
}

static inline float pmx_bf16_to_f32(pmx_bf16 h) { return pmx_f32_from_bits((uint32_t)h << 16); }

/* float -> bfloat16 as ggml_compute_fp32_to_bf16: NaN stays a quiet NaN, else round to nearest even. */
static inline pmx_bf16 pmx_f32_to_bf16(float f) {
    const uint32_t u = pmx_bits_from_f32(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (pmx_bf16)((u >> 16) | 64);
    return (pmx_bf16)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

#endif
