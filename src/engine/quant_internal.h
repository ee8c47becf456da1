/* Private to the kernel files (quant_ref.c, quant_avx2.c, matmul.c): ggml's
 * block layouts, the 8-bit activation blocks used by the quantized dot
 * products, and the per-type fast-path entry points.
 *
 * Layouts are byte-exact copies of ggml's (checked by static asserts and by
 * the tests against real GGUF files): every block starts with the fields
 * listed, no padding, little-endian f16 scales. Weight rows inside a GGUF
 * tensor are only 2-byte aligned in general (34- and 18-byte blocks), which
 * is all these structs need. */
#ifndef DQ_ENGINE_QUANT_INTERNAL_H
#define DQ_ENGINE_QUANT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h" /* enum dq_ggml_type */

#define DQ_QK 32   /* elements per Q8_0 / Q4_0 block */
#define DQ_QKK 256 /* elements per K-quant super-block */

typedef struct { uint16_t d; int8_t qs[DQ_QK]; } dq_blk_q8_0;             /* 34 bytes */
typedef struct { uint16_t d; uint8_t qs[DQ_QK / 2]; } dq_blk_q4_0;        /* 18 bytes */
/* Q4_1 / Q5_0 / Q5_1 are not K-quants but appear in K-quant files: llama.cpp
 * falls back to them for tensors whose rows are not a multiple of 256
 * (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0), e.g. most of Qwen2.5-0.5B (896). */
typedef struct { uint16_t d, m; uint8_t qs[DQ_QK / 2]; } dq_blk_q4_1;     /* 20 bytes: d*q + m */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[DQ_QK / 2]; } dq_blk_q5_0; /* 22: d*(q-16); bit j of qh (LE u32) is bit 4 of element j */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[DQ_QK / 2]; } dq_blk_q5_1; /* 24: d*q + m */
typedef struct {
  uint16_t d, dmin;        /* super-block scale for scales / for mins */
  uint8_t scales[12];      /* 8 x (6-bit scale, 6-bit min), packed */
  uint8_t qs[DQ_QKK / 2];  /* 4-bit quants: per 64 elements, 32 bytes (lo nibble: first 32, hi: next 32) */
} dq_blk_q4_k;             /* 144 bytes */
typedef struct {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[DQ_QKK / 8];  /* 5th bit: element l of sub-block j is bit j of qh[l] */
  uint8_t qs[DQ_QKK / 2];
} dq_blk_q5_k;             /* 176 bytes */
/* Q2_K and Q3_K (Q2_K / Q3_K_S/M/L files): 16 sub-blocks of 16 elements.
 * Element e = 128 h + 32 j + 16 k + l (h < 2, j < 4, k < 2, l < 16) has its
 * two low bits at bits 2j..2j+1 of qs[32 h + 16 k + l], and its sub-block is
 * e / 16. Q2_K: d * sc * q - dmin * m, sc / m the low / high nibble of
 * scales[e / 16]. Q3_K: d * (sc - 32) * (q - 4 + 4 * hbit), hbit = bit 4h + j
 * of hmask[16 k + l]; sc is 6 bits: low nibble of scales[i] (i < 8) or high
 * nibble of scales[i - 8], high two bits at bits 2(i / 4).. of scales[8 + i % 4]. */
typedef struct {
  uint8_t scales[DQ_QKK / 16]; /* low nibble: scale, high: min */
  uint8_t qs[DQ_QKK / 4];
  uint16_t d, dmin;
} dq_blk_q2_k;             /* 84 bytes */
typedef struct {
  uint8_t hmask[DQ_QKK / 8];
  uint8_t qs[DQ_QKK / 4];
  uint8_t scales[12];
  uint16_t d;
} dq_blk_q3_k;             /* 110 bytes */
/* IQ4_NL / IQ4_XS: 4-bit indices into a fixed non-uniform codebook
 * (dq_iq4nl_values, ggml's kvalues_iq4nl); nibbles as Q4_0's (the low ones
 * are elements 0..15 of a 32-element block, the high ones 16..31). IQ4_NL
 * (the fallback for rows that are not whole 256-element blocks in IQ4_XS
 * files, and in Q2_K / Q3_K files made before March 2026): d * v[q]. IQ4_XS: 8 blocks of 32, block ib scaled by
 * d * (ls - 32), ls 6 bits: low nibble of scales_l[ib / 2] (high half for
 * odd ib), high two bits at bits 2ib.. of scales_h. */
typedef struct { uint16_t d; uint8_t qs[DQ_QK / 2]; } dq_blk_iq4_nl; /* 18 bytes */
typedef struct {
  uint16_t d, scales_h;
  uint8_t scales_l[DQ_QKK / 64];
  uint8_t qs[DQ_QKK / 2];
} dq_blk_iq4_xs;           /* 136 bytes */
extern const int8_t dq_iq4nl_values[16];
/* IQ4_XS's 6-bit scale of 32-element block ib (0..63, offset 32). */
static inline int dq_iq4xs_scale(const dq_blk_iq4_xs *b, int ib)
{
  return ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | ((b->scales_h >> (2 * ib)) & 3) << 4;
}
typedef struct {
  uint8_t ql[DQ_QKK / 2];  /* low 4 bits */
  uint8_t qh[DQ_QKK / 4];  /* high 2 bits */
  int8_t scales[DQ_QKK / 16];
  uint16_t d;
} dq_blk_q6_k;             /* 210 bytes */

/* Activation blocks (never stored in files). q8a pairs with Q8_0 / Q4_0
 * weights: s = d * sum(qs) lets Q4_0's "-8" offset be applied once per block.
 * q8k pairs with the K-quants (same idea as ggml's Q8_K): bsums are the sums
 * of each 16 quants so the K-quant mins / Q6_K's "-32" need no per-element work. */
typedef struct { float d; float s; int8_t qs[DQ_QK]; } dq_q8a;            /* 40 bytes */
typedef struct { float d; int8_t qs[DQ_QKK]; int16_t bsums[DQ_QKK / 16]; } dq_q8k; /* 292 bytes */

/* Elements per block and bytes per block for the supported types (0 when
 * unsupported). Independent of gguf.c's table so the kernels stand alone. */
int dq_kq_block_elems(int type);
size_t dq_kq_block_bytes(int type);
/* Bytes of a row of n elements, 0 when unsupported or n not a block multiple. */
size_t dq_kq_row_bytes(int type, int64_t n);

/* Unpack Q4_K / Q5_K 6-bit scales and mins for the 8 sub-blocks. */
void dq_kq_scale_min(const uint8_t q[12], uint8_t sc[8], uint8_t m[8]);
/* Unpack Q3_K's 16 6-bit scales (0..63, offset 32) in sub-block order. */
void dq_kq_q3k_scales(const uint8_t q[12], uint8_t sc[16]);

/* Activation quantization (n multiple of 32 / 256), as llama.cpp's CPU
 * backend does it (see quant_ref.c); s_f16: round s to f16 (its Q8_1). */
void dq_quantize_q8a(const float *x, dq_q8a *y, int64_t n, int s_f16);
void dq_quantize_q8k(const float *x, dq_q8k *y, int64_t n);

/* Which activation format a type's dot product wants: 0 = f32 (F32/F16/BF16),
 * 1 = q8a (32-element types), 2 = q8k (K-quants). */
int dq_kq_act_kind(int type);
/* Bytes of the quantized activation for n elements of a type (0 for f32). */
size_t dq_kq_act_bytes(int type, int64_t n);
/* Quantize x for `type` into act (dq_kq_act_bytes bytes); no-op for f32 kinds.
 * The fast version gives bit-identical blocks. */
void dq_kq_quantize_act(int type, const float *x, void *act, int64_t n);
void dq_kq_quantize_act_fast(int type, const float *x, void *act, int64_t n);

/* Fast dot product of one weight row with a prepared activation: xf is the
 * f32 vector (used by F32/F16/BF16), act the quantized one (others). */
float dq_kq_dot(int type, const void *row, const float *xf, const void *act, int64_t n);
/* out[r] = dq_kq_dot of row r for n_rows rows row_stride bytes apart, with
 * the same result for every row as dq_kq_dot (bit for bit); faster where a
 * kernel shares the activation between several rows. streamed: the rows are
 * read this once (decode: from memory), so kernels pick the form that reads
 * memory best; 0 when the caller runs them again for more tokens while they
 * sit in cache, where the form with fewer instructions per row wins. */
void dq_kq_dot_rows(int type, const void *w, size_t row_stride, int64_t n_rows, const float *xf, const void *act,
                    int64_t n, int streamed, float *out);
/* Reference versions of the quantized-activation dot products: exact integer
 * arithmetic per block, so the fast paths must match them to float rounding. */
float dq_kq_dot_act_ref(int type, const void *row, const void *act, int64_t n);

/* Fast dequantization of one row (falls back to the reference without AVX2). */
void dq_kq_dequant_fast(int type, const void *row, float *out, int64_t n);

/* int8 GEMM for prefill (quant_avx2.c; built where the compiler targets
 * AVX2: dpbusd with AVX512-VNNI + VL, else maddubs + madd, the same integer
 * sums; where dq_gemm8_supported() is 0 the rest no-ops).
 * Weights of Q8_0 / Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K / Q3_K / IQ4_NL / IQ4_XS, seen as 32-element
 * blocks with value = d * int8 - m (the type's offset applied; m is the
 * K-quants' sub-block min, else 0; Q6_K has a scale per 16 elements, so its
 * blocks have two: see below), and activations quantized as the type's mat-vec
 * does (dq_kq_quantize_act: q8a, or q8k for the K-quants, whose one scale
 * per 256 fills the 8 lanes of a group; so prefill and decode round alike)
 * are repacked so one vector lane accumulates a whole block: a row of nb
 * blocks is cut into groups of 8 blocks, then 4, 2, 1 for the rest; a group
 * of G blocks is G vectors of 32 bytes whose dword lane l belongs to block
 * l / (8 / G). Packed rows (32-byte aligned, the sizes below, both multiples
 * of 32), per group 8 f32 / int32 lane values after the nb*32 bytes of q:
 *   activation: q + 128 (u8); lane scales d; lane sums s = d * sum(q);
 *   weight:     q (s8); lane scales d; -128 * (sum of the lane's weight
 *               bytes) as int32; lane mins m / (8 / G); one more vector.
 *   Q8_0 without VNNI: activation q (s8) and a weight start value of 0:
 *               its weights reach 128, too large for maddubs against u8
 *               bytes, so the kernel forms |w| * (q signed like w).
 *   Q6_K weight: q - 32 (s8); lane scales of elements 0..15 of the lane's
 *               block (the first 4 dword steps); their -128 * sums; the
 *               scales of elements 16..31 (steps 4-7); their -128 * sums.
 *               The kernel scales the integer sums after step 4 and again
 *               after step 8. Q3_K the same with q - 4 and d * (sc - 32).
 *   IQ4_NL / IQ4_XS weight: the codebook values (s8, up to 127 in
 *               magnitude: without VNNI signed activations, as Q8_0);
 *               IQ4_XS's lane scale is d * (ls - 32).
 * The integer sum of each block is exact, so a product equals
 * dq_kq_dot_act_ref on the same activation up to float summation order. */
int dq_gemm8_supported(int type);
/* Smallest batch for which dq_matmul takes the int8 GEMM on a type it
 * supports (measured per instruction set: quant_avx2.c). */
int64_t dq_gemm8_min_tok(int type);
/* Types with equal values here can share one packed activation
 * (dq_gemm8_pack_act) in the same GEMM run. */
int dq_gemm8_act_format(int type);
size_t dq_gemm8_act_bytes(int64_t n);
size_t dq_gemm8_w_bytes(int64_t n);
/* Quantize one activation row x[n] for weights of `type` (n a multiple of
 * its block) into dst; K-quants and the others need their own packing. */
void dq_gemm8_pack_act(int type, const float *x, void *dst, int64_t n);
/* Repack one weight row of `type` (n elements) into dst. */
void dq_gemm8_pack_w(int type, const void *row, void *dst, int64_t n);
/* out[t * ldo + r] = row r . activation t for r < n_rows, t < n_tok, from
 * rows of `type` packed w_stride / act_stride bytes apart (multiples of 32). */
void dq_gemm8_tile(int type, const void *w, size_t w_stride, int64_t n_rows, const void *act, size_t act_stride,
                   int64_t n_tok, int64_t n, float *out, int64_t ldo);

#endif
