/* Reference (plain scalar) side of the kernels: f16/bf16 conversion, the type
 * table, dequantization and dot products that define what every fast path
 * must compute, the reference quantizers, and activation quantization.
 *
 * Invariants: block layouts are exactly ggml's (quant_internal.h); n is a
 * multiple of the type's block size (callers check with dq_kq_row_bytes);
 * nothing here allocates or keeps state, so everything is thread-safe.
 * The quantizers are deliberately simple (per-sub-block min/max scales, no
 * error-minimising search like ggml's make_qkx2_quants): they produce valid
 * blocks for test models and KV caches, not the best possible files. */
#include <math.h>
#include <string.h>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "engine/kernels.h"
#include "engine/quant_internal.h"

_Static_assert(sizeof(dq_blk_q8_0) == 34, "Q8_0 block");
_Static_assert(sizeof(dq_blk_q4_0) == 18, "Q4_0 block");
_Static_assert(sizeof(dq_blk_q4_1) == 20, "Q4_1 block");
_Static_assert(sizeof(dq_blk_q5_0) == 22, "Q5_0 block");
_Static_assert(sizeof(dq_blk_q5_1) == 24, "Q5_1 block");
_Static_assert(sizeof(dq_blk_q4_k) == 144, "Q4_K block");
_Static_assert(sizeof(dq_blk_q5_k) == 176, "Q5_K block");
_Static_assert(sizeof(dq_blk_q6_k) == 210, "Q6_K block");
_Static_assert(sizeof(dq_blk_q2_k) == 84, "Q2_K block");
_Static_assert(sizeof(dq_blk_q3_k) == 110, "Q3_K block");
_Static_assert(sizeof(dq_blk_iq4_nl) == 18, "IQ4_NL block");
_Static_assert(sizeof(dq_blk_iq4_xs) == 136, "IQ4_XS block");
_Static_assert(sizeof(dq_q8a) == 40, "q8a block");
_Static_assert(sizeof(dq_q8k) == 292, "q8k block");

/* ===== f16 / bf16 ======================================================== */

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Software IEEE half -> single; exact for every input. */
static float f16_to_f32_sw(uint16_t h)
{
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in f32 */
    float v = (float)mant * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31) return u2f(sign | 0x7f800000u | mant << 13);
  return u2f(sign | (exp + 112) << 23 | mant << 13);
}

/* Software single -> half, round to nearest even, overflow to inf, NaN kept quiet. */
static uint16_t f32_to_f16_sw(float f)
{
  uint32_t u = f2u(f), abs = u & 0x7fffffffu;
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
  if (abs >= 0x7f800000u) return sign | (abs > 0x7f800000u ? 0x7e00 : 0x7c00);
  if (abs >= 0x47800000u) return sign | 0x7c00; /* >= 65536: inf */
  if (abs < 0x38800000u) { /* below 2^-14: f16 subnormal; scaling by 2^24 is exact */
    float v = rintf(u2f(abs) * 16777216.0f); /* 1024 lands on the smallest normal */
    return sign | (uint16_t)v;
  }
  uint32_t e = (abs >> 23) - 112, mant = abs & 0x7fffff;
  uint32_t h = e << 10 | mant >> 13, rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* carry may reach inf: correct */
  return sign | (uint16_t)h;
}

float dq_f16_to_f32(uint16_t h)
{
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return f16_to_f32_sw(h);
#endif
}

uint16_t dq_f32_to_f16(float f)
{
#if defined(__F16C__)
  return _cvtss_sh(f, 0); /* 0 = round to nearest even */
#else
  return f32_to_f16_sw(f);
#endif
}

float dq_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

static uint16_t f32_to_bf16(float f)
{
  uint32_t u = f2u(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(u >> 16 | 0x40); /* quiet NaN */
  return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* The reference path always uses the software conversion so that it is an
 * independent check of the F16C one. */
#define F16(h) f16_to_f32_sw(h)

/* ===== type table ======================================================== */

static const struct { int type; int elems; size_t bytes; } k_types[] = {
  { DQ_T_F32, 1, 4 }, { DQ_T_F16, 1, 2 }, { DQ_T_BF16, 1, 2 },
  { DQ_T_Q8_0, DQ_QK, sizeof(dq_blk_q8_0) }, { DQ_T_Q4_0, DQ_QK, sizeof(dq_blk_q4_0) },
  { DQ_T_Q4_1, DQ_QK, sizeof(dq_blk_q4_1) }, { DQ_T_Q5_0, DQ_QK, sizeof(dq_blk_q5_0) },
  { DQ_T_Q5_1, DQ_QK, sizeof(dq_blk_q5_1) },
  { DQ_T_Q4_K, DQ_QKK, sizeof(dq_blk_q4_k) }, { DQ_T_Q5_K, DQ_QKK, sizeof(dq_blk_q5_k) },
  { DQ_T_Q6_K, DQ_QKK, sizeof(dq_blk_q6_k) },
  { DQ_T_Q2_K, DQ_QKK, sizeof(dq_blk_q2_k) }, { DQ_T_Q3_K, DQ_QKK, sizeof(dq_blk_q3_k) },
  { DQ_T_IQ4_NL, DQ_QK, sizeof(dq_blk_iq4_nl) }, { DQ_T_IQ4_XS, DQ_QKK, sizeof(dq_blk_iq4_xs) },
};

/* The IQ4 codebook, as the format defines it (ggml-common.h). */
const int8_t dq_iq4nl_values[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

static int type_index(int type)
{
  for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
    if (k_types[i].type == type) return (int)i;
  return -1;
}

int dq_kernels_supports(int type) { return type_index(type) >= 0; }
int dq_kq_block_elems(int type) { int i = type_index(type); return i < 0 ? 0 : k_types[i].elems; }
size_t dq_kq_block_bytes(int type) { int i = type_index(type); return i < 0 ? 0 : k_types[i].bytes; }

size_t dq_kq_row_bytes(int type, int64_t n)
{
  int i = type_index(type);
  if (i < 0 || n < 0 || n % k_types[i].elems) return 0;
  return (size_t)(n / k_types[i].elems) * k_types[i].bytes;
}

int dq_kq_act_kind(int type)
{
  switch (type) {
  case DQ_T_Q8_0: case DQ_T_Q4_0: case DQ_T_Q4_1: case DQ_T_Q5_0: case DQ_T_Q5_1: case DQ_T_IQ4_NL: return 1;
  case DQ_T_Q4_K: case DQ_T_Q5_K: case DQ_T_Q6_K: case DQ_T_Q2_K: case DQ_T_Q3_K: case DQ_T_IQ4_XS: return 2;
  default: return 0;
  }
}

size_t dq_kq_act_bytes(int type, int64_t n)
{
  switch (dq_kq_act_kind(type)) {
  case 1: return (size_t)(n / DQ_QK) * sizeof(dq_q8a);
  case 2: return (size_t)(n / DQ_QKK) * sizeof(dq_q8k);
  default: return 0;
  }
}

void dq_kq_quantize_act(int type, const float *x, void *act, int64_t n)
{
  switch (dq_kq_act_kind(type)) {
  case 1: dq_quantize_q8a(x, act, n, type == DQ_T_Q4_1 || type == DQ_T_Q5_1); break;
  case 2: dq_quantize_q8k(x, act, n); break;
  default: break;
  }
}

/* ===== dequantization ==================================================== */

void dq_kq_scale_min(const uint8_t q[12], uint8_t sc[8], uint8_t m[8])
{
  for (int j = 0; j < 4; j++) {
    sc[j] = q[j] & 63;
    m[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; j++) {
    sc[j] = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m[j] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

static void deq_q8_0(const dq_blk_q8_0 *b, float *y)
{
  float d = F16(b->d);
  for (int i = 0; i < DQ_QK; i++) y[i] = d * b->qs[i];
}

static void deq_q4_0(const dq_blk_q4_0 *b, float *y)
{
  float d = F16(b->d);
  for (int i = 0; i < DQ_QK / 2; i++) {
    y[i] = d * ((b->qs[i] & 0xF) - 8);
    y[i + DQ_QK / 2] = d * ((b->qs[i] >> 4) - 8);
  }
}

static uint32_t rd_u32le(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* Q4_1 / Q5_0 / Q5_1: element j (< 16) is the low nibble of qs[j], element
 * j + 16 the high nibble; for Q5 bit j of qh is element j's fifth bit. */
static void deq_q4_1(const dq_blk_q4_1 *b, float *y)
{
  float d = F16(b->d), m = F16(b->m);
  for (int i = 0; i < DQ_QK / 2; i++) {
    y[i] = d * (b->qs[i] & 0xF) + m;
    y[i + DQ_QK / 2] = d * (b->qs[i] >> 4) + m;
  }
}

static void deq_q5(const uint8_t *qs, uint32_t qh, float d, float m, int off, float *y)
{
  for (int i = 0; i < DQ_QK / 2; i++) {
    int q0 = (qs[i] & 0xF) | (int)((qh >> i) & 1) << 4;
    int q1 = (qs[i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4;
    y[i] = d * (q0 - off) + m;
    y[i + DQ_QK / 2] = d * (q1 - off) + m;
  }
}

static void deq_q4_k(const dq_blk_q4_k *b, float *y)
{
  float d = F16(b->d), dmin = F16(b->dmin);
  uint8_t sc[8], m[8];
  dq_kq_scale_min(b->scales, sc, m);
  for (int j = 0; j < 4; j++) { /* 64 elements: sub-blocks 2j (lo nibbles) and 2j+1 (hi) */
    const uint8_t *q = b->qs + 32 * j;
    float d1 = d * sc[2 * j], m1 = dmin * m[2 * j], d2 = d * sc[2 * j + 1], m2 = dmin * m[2 * j + 1];
    for (int l = 0; l < 32; l++) y[64 * j + l] = d1 * (q[l] & 0xF) - m1;
    for (int l = 0; l < 32; l++) y[64 * j + 32 + l] = d2 * (q[l] >> 4) - m2;
  }
}

static void deq_q5_k(const dq_blk_q5_k *b, float *y)
{
  float d = F16(b->d), dmin = F16(b->dmin);
  uint8_t sc[8], m[8];
  dq_kq_scale_min(b->scales, sc, m);
  for (int j = 0; j < 4; j++) {
    const uint8_t *q = b->qs + 32 * j;
    float d1 = d * sc[2 * j], m1 = dmin * m[2 * j], d2 = d * sc[2 * j + 1], m2 = dmin * m[2 * j + 1];
    for (int l = 0; l < 32; l++) {
      int hi1 = (b->qh[l] >> (2 * j)) & 1, hi2 = (b->qh[l] >> (2 * j + 1)) & 1;
      y[64 * j + l] = d1 * ((q[l] & 0xF) + 16 * hi1) - m1;
      y[64 * j + 32 + l] = d2 * ((q[l] >> 4) + 16 * hi2) - m2;
    }
  }
}

static void deq_q6_k(const dq_blk_q6_k *b, float *y)
{
  float d = F16(b->d);
  for (int h = 0; h < 2; h++) { /* two halves of 128 elements */
    const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
    const int8_t *sc = b->scales + 8 * h;
    float *o = y + 128 * h;
    for (int l = 0; l < 32; l++) {
      int is = l / 16;
      int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32;
      int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
      int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
      int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
      o[l] = d * sc[is] * q1;
      o[l + 32] = d * sc[is + 2] * q2;
      o[l + 64] = d * sc[is + 4] * q3;
      o[l + 96] = d * sc[is + 6] * q4;
    }
  }
}

/* Q3_K's 16 six-bit scales (unsigned, 0..63) in sub-block order. */
void dq_kq_q3k_scales(const uint8_t q[12], uint8_t sc[16])
{
  for (int i = 0; i < 16; i++) {
    int lo = i < 8 ? q[i] & 0xF : q[i - 8] >> 4;
    sc[i] = (uint8_t)(lo | ((q[8 + i % 4] >> (2 * (i / 4))) & 3) << 4);
  }
}

/* The 2-bit part of element e (layout in quant_internal.h). */
static inline int q2_bits(const uint8_t *qs, int e)
{
  int h = e / 128, j = (e / 32) % 4, kl = e % 32;
  return (qs[32 * h + kl] >> (2 * j)) & 3;
}

/* Q3_K's signed quant of element e: the 2 bits, minus 4 unless its hmask bit is set. */
static inline int q3_quant(const dq_blk_q3_k *b, int e)
{
  int h = e / 128, j = (e / 32) % 4;
  return q2_bits(b->qs, e) - ((b->hmask[e % 32] >> (4 * h + j)) & 1 ? 0 : 4);
}

/* As ggml: the sub-block's scale and min products first, then one multiply
 * and subtract per element. */
static void deq_q2_k(const dq_blk_q2_k *b, float *y)
{
  float d = F16(b->d), dmin = F16(b->dmin);
  for (int i = 0; i < 16; i++) {
    float dl = d * (b->scales[i] & 0xF), ml = dmin * (b->scales[i] >> 4);
    for (int l = 0; l < 16; l++) y[16 * i + l] = dl * q2_bits(b->qs, 16 * i + l) - ml;
  }
}

static void deq_q3_k(const dq_blk_q3_k *b, float *y)
{
  float d = F16(b->d);
  uint8_t sc[16];
  dq_kq_q3k_scales(b->scales, sc);
  for (int i = 0; i < 16; i++) {
    float dl = d * (sc[i] - 32);
    for (int l = 0; l < 16; l++) y[16 * i + l] = dl * q3_quant(b, 16 * i + l);
  }
}

/* 16 bytes of IQ4 nibbles scaled by d: elements 0..15 low, 16..31 high */
static void deq_iq4_32(const uint8_t *qs, float d, float *y)
{
  for (int j = 0; j < 16; j++) {
    y[j] = d * dq_iq4nl_values[qs[j] & 0xF];
    y[j + 16] = d * dq_iq4nl_values[qs[j] >> 4];
  }
}

static void deq_iq4_xs(const dq_blk_iq4_xs *b, float *y)
{
  float d = F16(b->d);
  for (int ib = 0; ib < 8; ib++) deq_iq4_32(b->qs + 16 * ib, d * (dq_iq4xs_scale(b, ib) - 32), y + 32 * ib);
}

/* Dequantize one block (blk_elems values) starting at block index `ib`. */
static void deq_block(int type, const void *row, int64_t ib, float *y)
{
  const uint8_t *p = row;
  switch (type) {
  case DQ_T_F32: memcpy(y, p + 4 * ib, 4); break;
  case DQ_T_F16: { uint16_t h; memcpy(&h, p + 2 * ib, 2); y[0] = F16(h); break; }
  case DQ_T_BF16: { uint16_t h; memcpy(&h, p + 2 * ib, 2); y[0] = dq_bf16_to_f32(h); break; }
  case DQ_T_Q8_0: deq_q8_0((const dq_blk_q8_0 *)row + ib, y); break;
  case DQ_T_Q4_0: deq_q4_0((const dq_blk_q4_0 *)row + ib, y); break;
  case DQ_T_Q4_1: deq_q4_1((const dq_blk_q4_1 *)row + ib, y); break;
  case DQ_T_Q5_0: {
    const dq_blk_q5_0 *b = (const dq_blk_q5_0 *)row + ib;
    deq_q5(b->qs, rd_u32le(b->qh), F16(b->d), 0, 16, y);
    break;
  }
  case DQ_T_Q5_1: {
    const dq_blk_q5_1 *b = (const dq_blk_q5_1 *)row + ib;
    deq_q5(b->qs, rd_u32le(b->qh), F16(b->d), F16(b->m), 0, y);
    break;
  }
  case DQ_T_Q4_K: deq_q4_k((const dq_blk_q4_k *)row + ib, y); break;
  case DQ_T_Q5_K: deq_q5_k((const dq_blk_q5_k *)row + ib, y); break;
  case DQ_T_Q6_K: deq_q6_k((const dq_blk_q6_k *)row + ib, y); break;
  case DQ_T_Q2_K: deq_q2_k((const dq_blk_q2_k *)row + ib, y); break;
  case DQ_T_Q3_K: deq_q3_k((const dq_blk_q3_k *)row + ib, y); break;
  case DQ_T_IQ4_NL: {
    const dq_blk_iq4_nl *b = (const dq_blk_iq4_nl *)row + ib;
    deq_iq4_32(b->qs, F16(b->d), y);
    break;
  }
  case DQ_T_IQ4_XS: deq_iq4_xs((const dq_blk_iq4_xs *)row + ib, y); break;
  default: break;
  }
}

void dq_dequant_row_ref(int type, const void *row, float *out, int64_t n)
{
  int be = dq_kq_block_elems(type);
  if (be <= 0) return;
  for (int64_t ib = 0; ib < n / be; ib++) deq_block(type, row, ib, out + ib * be);
}

float dq_dot_row_ref(int type, const void *row, const float *x, int64_t n)
{
  int be = dq_kq_block_elems(type);
  float tmp[DQ_QKK];
  double acc = 0; /* double: the reference should not carry f32 summation error */
  if (be <= 0) return 0;
  for (int64_t ib = 0; ib < n / be; ib++) {
    deq_block(type, row, ib, tmp);
    for (int i = 0; i < be; i++) acc += (double)tmp[i] * x[ib * be + i];
  }
  return (float)acc;
}

/* ===== activation quantization ========================================== */

/* Activations are quantized exactly as llama.cpp's CPU backend does (its
 * Q8_0 / Q8_1 / Q8_K), so an engine on these kernels reproduces llama.cpp's
 * logits for quantized models far more closely than f32 activations would:
 * q8a: d = amax/127 rounded to f16, q = rne(x * 127/amax); s = d * sum(q)
 *      (for Q4_1/Q5_1, s_f16: s = f16(d_f32 * sum), as Q8_1 stores it).
 * q8k: the element of largest magnitude maps to -127 exactly:
 *      iscale = -127/max, q = min(127, rne(iscale * x)), d = 1/iscale (f32). */
void dq_quantize_q8a(const float *x, dq_q8a *y, int64_t n, int s_f16)
{
  for (int64_t ib = 0; ib < n / DQ_QK; ib++, x += DQ_QK) {
    float amax = 0;
    for (int i = 0; i < DQ_QK; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127, id = amax > 0 ? 127 / amax : 0;
    int sum = 0;
    for (int i = 0; i < DQ_QK; i++) {
      int q = (int)lrintf(x[i] * id);
      y[ib].qs[i] = (int8_t)q;
      sum += q;
    }
    y[ib].d = F16(f32_to_f16_sw(d));
    y[ib].s = s_f16 ? F16(f32_to_f16_sw(d * (float)sum)) : y[ib].d * (float)sum;
  }
}

void dq_quantize_q8k(const float *x, dq_q8k *y, int64_t n)
{
  for (int64_t ib = 0; ib < n / DQ_QKK; ib++, x += DQ_QKK) {
    float amax = 0, max = 0;
    for (int i = 0; i < DQ_QKK; i++)
      if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    if (!(amax > 0)) {
      memset(&y[ib], 0, sizeof y[ib]);
      continue;
    }
    float iscale = -127 / max;
    for (int i = 0; i < DQ_QKK; i++) {
      int q = (int)lrintf(iscale * x[i]);
      y[ib].qs[i] = (int8_t)(q < 127 ? q : 127);
    }
    for (int j = 0; j < DQ_QKK / 16; j++) {
      int sum = 0;
      for (int i = 0; i < 16; i++) sum += y[ib].qs[16 * j + i];
      y[ib].bsums[j] = (int16_t)sum;
    }
    y[ib].d = 1 / iscale;
  }
}

/* ===== quantized-activation reference dots ============================== */

static float dot_q8_0_ref(const dq_blk_q8_0 *w, const dq_q8a *a, int64_t nb)
{
  float acc = 0;
  for (int64_t ib = 0; ib < nb; ib++) {
    int s = 0;
    for (int i = 0; i < DQ_QK; i++) s += w[ib].qs[i] * a[ib].qs[i];
    acc += F16(w[ib].d) * a[ib].d * (float)s;
  }
  return acc;
}

static float dot_q4_0_ref(const dq_blk_q4_0 *w, const dq_q8a *a, int64_t nb)
{
  float acc = 0;
  for (int64_t ib = 0; ib < nb; ib++) {
    int s = 0;
    for (int i = 0; i < DQ_QK / 2; i++)
      s += ((w[ib].qs[i] & 0xF) - 8) * a[ib].qs[i] + ((w[ib].qs[i] >> 4) - 8) * a[ib].qs[i + 16];
    acc += F16(w[ib].d) * a[ib].d * (float)s;
  }
  return acc;
}

/* Q4_1 / Q5_0 / Q5_1: d*dx*sum(q'*qx) + m*s, q' = q - offset. */
static float dot_q4_5_ref(int type, const void *row, const dq_q8a *a, int64_t nb)
{
  float acc = 0;
  for (int64_t ib = 0; ib < nb; ib++) {
    float d, m = 0;
    int off = 0;
    const uint8_t *qs;
    uint32_t qh = 0;
    if (type == DQ_T_Q4_1) {
      const dq_blk_q4_1 *b = (const dq_blk_q4_1 *)row + ib;
      d = F16(b->d); m = F16(b->m); qs = b->qs;
    } else if (type == DQ_T_Q5_0) {
      const dq_blk_q5_0 *b = (const dq_blk_q5_0 *)row + ib;
      d = F16(b->d); qs = b->qs; qh = rd_u32le(b->qh); off = 16;
    } else {
      const dq_blk_q5_1 *b = (const dq_blk_q5_1 *)row + ib;
      d = F16(b->d); m = F16(b->m); qs = b->qs; qh = rd_u32le(b->qh);
    }
    int s = 0;
    for (int i = 0; i < DQ_QK / 2; i++) {
      int q0 = (qs[i] & 0xF) | (int)((qh >> i) & 1) << 4;
      int q1 = (qs[i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4;
      s += (q0 - off) * a[ib].qs[i] + (q1 - off) * a[ib].qs[i + 16];
    }
    acc += d * a[ib].d * (float)s + m * a[ib].s;
  }
  return acc;
}

/* Q4_K / Q5_K: sum_j d*sc_j*<q_j, a_j> - dmin*m_j*sum(a_j), per 32-element sub-block j. */
static float dot_q45_k_ref(int type, const void *row, const dq_q8k *a, int64_t nb)
{
  float acc = 0;
  for (int64_t ib = 0; ib < nb; ib++) {
    const uint8_t *scales, *qs, *qh = NULL;
    uint16_t hd, hdmin;
    if (type == DQ_T_Q4_K) {
      const dq_blk_q4_k *b = (const dq_blk_q4_k *)row + ib;
      scales = b->scales; qs = b->qs; hd = b->d; hdmin = b->dmin;
    } else {
      const dq_blk_q5_k *b = (const dq_blk_q5_k *)row + ib;
      scales = b->scales; qs = b->qs; qh = b->qh; hd = b->d; hdmin = b->dmin;
    }
    uint8_t sc[8], m[8];
    dq_kq_scale_min(scales, sc, m);
    int sumq = 0, summ = 0;
    for (int j = 0; j < 8; j++) {
      int s = 0, shift = (j & 1) * 4;
      for (int l = 0; l < 32; l++) {
        int q = (qs[32 * (j / 2) + l] >> shift) & 0xF;
        if (qh) q += 16 * ((qh[l] >> j) & 1);
        s += q * a[ib].qs[32 * j + l];
      }
      sumq += sc[j] * s;
      summ += m[j] * (a[ib].bsums[2 * j] + a[ib].bsums[2 * j + 1]);
    }
    acc += a[ib].d * (F16(hd) * (float)sumq - F16(hdmin) * (float)summ);
  }
  return acc;
}

static float dot_q6_k_ref(const dq_blk_q6_k *w, const dq_q8k *a, int64_t nb)
{
  float acc = 0;
  for (int64_t ib = 0; ib < nb; ib++) {
    int q[DQ_QKK];
    for (int h = 0; h < 2; h++) {
      const uint8_t *ql = w[ib].ql + 64 * h, *qh = w[ib].qh + 32 * h;
      for (int l = 0; l < 32; l++) {
        q[128 * h + l] = (ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4;
        q[128 * h + l + 32] = (ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4;
        q[128 * h + l + 64] = (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4;
        q[128 * h + l + 96] = (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4;
      }
    }
    int s = 0;
    for (int j = 0; j < 16; j++) {
      int sj = 0;
      for (int i = 0; i < 16; i++) sj += (q[16 * j + i] - 32) * a[ib].qs[16 * j + i];
      s += w[ib].scales[j] * sj;
    }
    acc += F16(w[ib].d) * a[ib].d * (float)s;
  }
  return acc;
}

/* Q2_K: sum_i d*sc_i*<q_i, a_i> - dmin*m_i*sum(a_i), per 16-element sub-block i. */
static float dot_q2_k_ref(const dq_blk_q2_k *w, const dq_q8k *a, int64_t nb)
{
  float acc = 0;
  for (int64_t ib = 0; ib < nb; ib++) {
    int sumq = 0, summ = 0;
    for (int i = 0; i < 16; i++) {
      int s = 0;
      for (int l = 0; l < 16; l++) s += q2_bits(w[ib].qs, 16 * i + l) * a[ib].qs[16 * i + l];
      sumq += (w[ib].scales[i] & 0xF) * s;
      summ += (w[ib].scales[i] >> 4) * a[ib].bsums[i];
    }
    acc += a[ib].d * (F16(w[ib].d) * (float)sumq - F16(w[ib].dmin) * (float)summ);
  }
  return acc;
}

/* Q3_K: d * sum_i (sc_i - 32) * <q_i, a_i>, q signed in [-4, 3]. */
static float dot_q3_k_ref(const dq_blk_q3_k *w, const dq_q8k *a, int64_t nb)
{
  float acc = 0;
  for (int64_t ib = 0; ib < nb; ib++) {
    uint8_t sc[16];
    dq_kq_q3k_scales(w[ib].scales, sc);
    int sum = 0;
    for (int i = 0; i < 16; i++) {
      int s = 0;
      for (int l = 0; l < 16; l++) s += q3_quant(&w[ib], 16 * i + l) * a[ib].qs[16 * i + l];
      sum += (sc[i] - 32) * s;
    }
    acc += F16(w[ib].d) * a[ib].d * (float)sum;
  }
  return acc;
}

/* The integer dot of 32 IQ4 nibbles' codebook values with 32 activation bytes. */
static int iq4_dot32(const uint8_t *qs, const int8_t *x)
{
  int s = 0;
  for (int j = 0; j < 16; j++) s += dq_iq4nl_values[qs[j] & 0xF] * x[j] + dq_iq4nl_values[qs[j] >> 4] * x[j + 16];
  return s;
}

static float dot_iq4_nl_ref(const dq_blk_iq4_nl *w, const dq_q8a *a, int64_t nb)
{
  float acc = 0;
  for (int64_t ib = 0; ib < nb; ib++) acc += F16(w[ib].d) * a[ib].d * (float)iq4_dot32(w[ib].qs, a[ib].qs);
  return acc;
}

static float dot_iq4_xs_ref(const dq_blk_iq4_xs *w, const dq_q8k *a, int64_t nb)
{
  float acc = 0;
  for (int64_t ib = 0; ib < nb; ib++) {
    int sum = 0;
    for (int j = 0; j < 8; j++) sum += (dq_iq4xs_scale(&w[ib], j) - 32) * iq4_dot32(w[ib].qs + 16 * j, a[ib].qs + 32 * j);
    acc += F16(w[ib].d) * a[ib].d * (float)sum;
  }
  return acc;
}

float dq_kq_dot_act_ref(int type, const void *row, const void *act, int64_t n)
{
  switch (type) {
  case DQ_T_Q8_0: return dot_q8_0_ref(row, act, n / DQ_QK);
  case DQ_T_Q4_0: return dot_q4_0_ref(row, act, n / DQ_QK);
  case DQ_T_Q4_1: case DQ_T_Q5_0: case DQ_T_Q5_1: return dot_q4_5_ref(type, row, act, n / DQ_QK);
  case DQ_T_Q4_K: case DQ_T_Q5_K: return dot_q45_k_ref(type, row, act, n / DQ_QKK);
  case DQ_T_Q6_K: return dot_q6_k_ref(row, act, n / DQ_QKK);
  case DQ_T_Q2_K: return dot_q2_k_ref(row, act, n / DQ_QKK);
  case DQ_T_Q3_K: return dot_q3_k_ref(row, act, n / DQ_QKK);
  case DQ_T_IQ4_NL: return dot_iq4_nl_ref(row, act, n / DQ_QK);
  case DQ_T_IQ4_XS: return dot_iq4_xs_ref(row, act, n / DQ_QKK);
  default: return 0;
  }
}

/* ===== reference quantizers ============================================= */

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The signed value of largest magnitude among n (0 for all zeros): the
 * symmetric quantizers map it to the end of their range. */
static float signed_amax(const float *x, int n)
{
  float amax = 0, max = 0;
  for (int i = 0; i < n; i++)
    if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
  return max;
}

static void quant_q8_0(const float *x, dq_blk_q8_0 *b)
{
  float amax = 0;
  for (int i = 0; i < DQ_QK; i++) amax = fmaxf(amax, fabsf(x[i]));
  b->d = f32_to_f16_sw(amax / 127);
  float d = F16(b->d), id = d > 0 ? 1 / d : 0; /* quantize against the stored (rounded) scale */
  for (int i = 0; i < DQ_QK; i++) b->qs[i] = (int8_t)clampi((int)lrintf(x[i] * id), -127, 127);
}

/* As ggml: the value of largest magnitude maps to -8 exactly, so its sign
 * decides which end of [-8, 7] is used at full resolution. */
static void quant_q4_0(const float *x, dq_blk_q4_0 *b)
{
  b->d = f32_to_f16_sw(signed_amax(x, DQ_QK) / -8);
  float d = F16(b->d), id = d != 0 ? 1 / d : 0;
  for (int i = 0; i < DQ_QK / 2; i++) {
    int q0 = clampi((int)lrintf(x[i] * id) + 8, 0, 15);
    int q1 = clampi((int)lrintf(x[i + 16] * id) + 8, 0, 15);
    b->qs[i] = (uint8_t)(q0 | q1 << 4);
  }
}

/* Q4_1 / Q5_1: affine over the block's [min, max], q in [0, nmax]. */
static void quant_affine32(const float *x, int nmax, uint16_t *hd, uint16_t *hm, uint8_t *q)
{
  float lo = x[0], hi = x[0];
  for (int i = 1; i < DQ_QK; i++) { lo = fminf(lo, x[i]); hi = fmaxf(hi, x[i]); }
  *hd = f32_to_f16_sw((hi - lo) / nmax);
  *hm = f32_to_f16_sw(lo);
  float d = F16(*hd), m = F16(*hm), id = d > 0 ? 1 / d : 0;
  for (int i = 0; i < DQ_QK; i++) q[i] = (uint8_t)clampi((int)lrintf((x[i] - m) * id), 0, nmax);
}

static void pack_q5(const uint8_t *q, uint8_t qs[16], uint8_t qh[4])
{
  uint32_t h = 0;
  for (int i = 0; i < DQ_QK / 2; i++) {
    qs[i] = (uint8_t)((q[i] & 0xF) | (q[i + 16] & 0xF) << 4);
    h |= (uint32_t)(q[i] >> 4) << i | (uint32_t)(q[i + 16] >> 4) << (i + 16);
  }
  for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

static void quant_q4_1(const float *x, dq_blk_q4_1 *b)
{
  uint8_t q[DQ_QK];
  quant_affine32(x, 15, &b->d, &b->m, q);
  for (int i = 0; i < DQ_QK / 2; i++) b->qs[i] = (uint8_t)(q[i] | q[i + 16] << 4);
}

static void quant_q5_1(const float *x, dq_blk_q5_1 *b)
{
  uint8_t q[DQ_QK];
  quant_affine32(x, 31, &b->d, &b->m, q);
  pack_q5(q, b->qs, b->qh);
}

/* Q5_0: like Q4_0, the largest-magnitude value maps to -16 exactly. */
static void quant_q5_0(const float *x, dq_blk_q5_0 *b)
{
  b->d = f32_to_f16_sw(signed_amax(x, DQ_QK) / -16);
  float d = F16(b->d), id = d != 0 ? 1 / d : 0;
  uint8_t q[DQ_QK];
  for (int i = 0; i < DQ_QK; i++) q[i] = (uint8_t)clampi((int)lrintf(x[i] * id) + 16, 0, 31);
  pack_q5(q, b->qs, b->qh);
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32-element sub-block an
 * affine map x ~ d*sc*q - dmin*m with q in [0, nmax]; sc and m are 6-bit. The
 * scale is rounded up so that the sub-block's range always fits. */
static void quant_k_affine(const float *x, int nmax, uint16_t *hd, uint16_t *hdmin,
                           uint8_t scales[12], uint8_t *q /* 256 */)
{
  float scale[8], mn[8], max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; j++) {
    float lo = 0, hi = 0;
    for (int l = 0; l < 32; l++) { lo = fminf(lo, x[32 * j + l]); hi = fmaxf(hi, x[32 * j + l]); }
    scale[j] = (hi - lo) / nmax;
    mn[j] = -lo;
    max_scale = fmaxf(max_scale, scale[j]);
    max_min = fmaxf(max_min, mn[j]);
  }
  *hd = f32_to_f16_sw(max_scale / 63);
  *hdmin = f32_to_f16_sw(max_min / 63);
  float d = F16(*hd), dmin = F16(*hdmin);
  uint8_t sc[8], m[8];
  for (int j = 0; j < 8; j++) {
    sc[j] = (uint8_t)(d > 0 ? clampi((int)ceilf(scale[j] / d), 0, 63) : 0);
    m[j] = (uint8_t)(dmin > 0 ? clampi((int)lrintf(mn[j] / dmin), 0, 63) : 0);
  }
  memset(scales, 0, 12);
  for (int j = 0; j < 4; j++) {
    scales[j] = sc[j];
    scales[j + 4] = m[j];
  }
  for (int j = 4; j < 8; j++) {
    scales[j + 4] = (uint8_t)((sc[j] & 0xF) | (m[j] & 0xF) << 4);
    scales[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
    scales[j] |= (uint8_t)((m[j] >> 4) << 6);
  }
  for (int j = 0; j < 8; j++) {
    float ds = d * sc[j], dm = dmin * m[j], ids = ds > 0 ? 1 / ds : 0;
    for (int l = 0; l < 32; l++) q[32 * j + l] = (uint8_t)clampi((int)lrintf((x[32 * j + l] + dm) * ids), 0, nmax);
  }
}

static void quant_q4_k(const float *x, dq_blk_q4_k *b)
{
  uint8_t q[DQ_QKK];
  quant_k_affine(x, 15, &b->d, &b->dmin, b->scales, q);
  for (int j = 0; j < 4; j++)
    for (int l = 0; l < 32; l++) b->qs[32 * j + l] = (uint8_t)(q[64 * j + l] | q[64 * j + 32 + l] << 4);
}

static void quant_q5_k(const float *x, dq_blk_q5_k *b)
{
  uint8_t q[DQ_QKK];
  quant_k_affine(x, 31, &b->d, &b->dmin, b->scales, q);
  memset(b->qh, 0, sizeof b->qh);
  for (int j = 0; j < 4; j++)
    for (int l = 0; l < 32; l++) {
      uint8_t a = q[64 * j + l], c = q[64 * j + 32 + l];
      b->qs[32 * j + l] = (uint8_t)((a & 0xF) | (c & 0xF) << 4);
      b->qh[l] |= (uint8_t)((a >> 4) << (2 * j) | (c >> 4) << (2 * j + 1));
    }
}

/* Q6_K: symmetric per 16 elements, q in [-31, 31] (stored +32), 8-bit scales. */
static void quant_q6_k(const float *x, dq_blk_q6_k *b)
{
  float s[16], max_s = 0;
  for (int j = 0; j < 16; j++) {
    float amax = 0;
    for (int i = 0; i < 16; i++) amax = fmaxf(amax, fabsf(x[16 * j + i]));
    s[j] = amax / 31;
    max_s = fmaxf(max_s, s[j]);
  }
  b->d = f32_to_f16_sw(max_s / 127);
  float d = F16(b->d);
  uint8_t q[DQ_QKK];
  for (int j = 0; j < 16; j++) {
    int sc = d > 0 ? clampi((int)ceilf(s[j] / d), 0, 127) : 0;
    b->scales[j] = (int8_t)sc;
    float ds = d * sc, ids = ds > 0 ? 1 / ds : 0;
    for (int i = 0; i < 16; i++) q[16 * j + i] = (uint8_t)(clampi((int)lrintf(x[16 * j + i] * ids), -32, 31) + 32);
  }
  for (int h = 0; h < 2; h++) {
    uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
    const uint8_t *qq = q + 128 * h;
    for (int l = 0; l < 32; l++) {
      uint8_t q1 = qq[l], q2 = qq[l + 32], q3 = qq[l + 64], q4 = qq[l + 96];
      ql[l] = (uint8_t)((q1 & 0xF) | (q3 & 0xF) << 4);
      ql[l + 32] = (uint8_t)((q2 & 0xF) | (q4 & 0xF) << 4);
      qh[l] = (uint8_t)((q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
    }
  }
}

/* Store element e's 2-bit part (q & 3) in a zeroed qs. */
static void put_q2_bits(uint8_t *qs, int e, int q)
{
  int h = e / 128, j = (e / 32) % 4, kl = e % 32;
  qs[32 * h + kl] |= (uint8_t)((q & 3) << (2 * j));
}

/* Q2_K: per 16 elements an affine map x ~ d*sc*q - dmin*m, q in [0, 3], sc
 * and m 4-bit; the scale rounded up so the range always fits (as
 * quant_k_affine). */
static void quant_q2_k(const float *x, dq_blk_q2_k *b)
{
  float scale[16], mn[16], max_scale = 0, max_min = 0;
  for (int i = 0; i < 16; i++) {
    float lo = 0, hi = 0;
    for (int l = 0; l < 16; l++) { lo = fminf(lo, x[16 * i + l]); hi = fmaxf(hi, x[16 * i + l]); }
    scale[i] = (hi - lo) / 3;
    mn[i] = -lo;
    max_scale = fmaxf(max_scale, scale[i]);
    max_min = fmaxf(max_min, mn[i]);
  }
  b->d = f32_to_f16_sw(max_scale / 15);
  b->dmin = f32_to_f16_sw(max_min / 15);
  float d = F16(b->d), dmin = F16(b->dmin);
  memset(b->qs, 0, sizeof b->qs);
  for (int i = 0; i < 16; i++) {
    int sc = d > 0 ? clampi((int)ceilf(scale[i] / d), 0, 15) : 0;
    int m = dmin > 0 ? clampi((int)lrintf(mn[i] / dmin), 0, 15) : 0;
    b->scales[i] = (uint8_t)(sc | m << 4);
    float ds = d * sc, dm = dmin * m, ids = ds > 0 ? 1 / ds : 0;
    for (int l = 0; l < 16; l++) put_q2_bits(b->qs, 16 * i + l, clampi((int)lrintf((x[16 * i + l] + dm) * ids), 0, 3));
  }
}

/* Q3_K: symmetric per 16 elements, q in [-4, 3]; as Q4_0, the value of
 * largest magnitude maps to -4, so each sub-block's scale is signed (the
 * stored 6-bit scale is offset by 32). */
static void quant_q3_k(const float *x, dq_blk_q3_k *b)
{
  float f[16], amax_f = 0;
  for (int i = 0; i < 16; i++) {
    f[i] = signed_amax(x + 16 * i, 16) / -4;
    amax_f = fmaxf(amax_f, fabsf(f[i]));
  }
  b->d = f32_to_f16_sw(amax_f / 31);
  float d = F16(b->d);
  memset(b->qs, 0, sizeof b->qs);
  memset(b->hmask, 0, sizeof b->hmask);
  memset(b->scales, 0, sizeof b->scales);
  for (int i = 0; i < 16; i++) {
    int s = d > 0 ? clampi((int)lrintf(f[i] / d), -32, 31) : 0;
    int u = s + 32; /* 6 bits: low nibble in scales[i % 8] (high half for i >= 8), top 2 in scales[8 + i % 4] */
    b->scales[i % 8] |= (uint8_t)((u & 0xF) << (i < 8 ? 0 : 4));
    b->scales[8 + i % 4] |= (uint8_t)((u >> 4) << (2 * (i / 4)));
    float ds = d * s, ids = ds != 0 ? 1 / ds : 0;
    for (int l = 0; l < 16; l++) {
      int e = 16 * i + l, q = clampi((int)lrintf(x[e] * ids), -4, 3) + 4; /* 0..7: bit 2 is the hmask bit */
      put_q2_bits(b->qs, e, q);
      if (q & 4) b->hmask[e % 32] |= (uint8_t)(1 << (4 * (e / 128) + (e / 32) % 4));
    }
  }
}

/* The codebook index nearest to v (in units of the block's scale). */
static int iq4_nearest(float v)
{
  int best = 0;
  for (int k = 1; k < 16; k++)
    if (fabsf(v - dq_iq4nl_values[k]) < fabsf(v - dq_iq4nl_values[best])) best = k;
  return best;
}

/* 32 values as IQ4 nibbles against the scale d (stored already rounded). */
static void quant_iq4_32(const float *x, float d, uint8_t qs[16])
{
  float id = d != 0 ? 1 / d : 0;
  for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(iq4_nearest(x[j] * id) | iq4_nearest(x[j + 16] * id) << 4);
}

/* IQ4_NL: as Q4_0, the value of largest magnitude maps to the codebook's
 * end, -127 (no search for the error-minimising scale, unlike ggml's). */
static void quant_iq4_nl(const float *x, dq_blk_iq4_nl *b)
{
  b->d = f32_to_f16_sw(signed_amax(x, DQ_QK) / -127);
  quant_iq4_32(x, F16(b->d), b->qs);
}

/* IQ4_XS: the same per 32 elements, those scales as 6-bit multiples of d. */
static void quant_iq4_xs(const float *x, dq_blk_iq4_xs *b)
{
  float f[8], amax_f = 0;
  for (int ib = 0; ib < 8; ib++) {
    f[ib] = signed_amax(x + 32 * ib, 32) / -127;
    amax_f = fmaxf(amax_f, fabsf(f[ib]));
  }
  b->d = f32_to_f16_sw(amax_f / 31);
  float d = F16(b->d);
  b->scales_h = 0;
  memset(b->scales_l, 0, sizeof b->scales_l);
  for (int ib = 0; ib < 8; ib++) {
    int s = d > 0 ? clampi((int)lrintf(f[ib] / d), -32, 31) : 0, u = s + 32;
    b->scales_l[ib / 2] |= (uint8_t)((u & 0xF) << (4 * (ib % 2)));
    b->scales_h |= (uint16_t)((u >> 4) << (2 * ib));
    quant_iq4_32(x + 32 * ib, d * s, b->qs + 16 * ib);
  }
}

void dq_quantize_row_ref(int type, const float *x, void *out, int64_t n)
{
  uint8_t *o = out;
  switch (type) {
  case DQ_T_F32: memcpy(out, x, (size_t)n * 4); break;
  case DQ_T_F16:
    for (int64_t i = 0; i < n; i++) { uint16_t h = f32_to_f16_sw(x[i]); memcpy(o + 2 * i, &h, 2); }
    break;
  case DQ_T_BF16:
    for (int64_t i = 0; i < n; i++) { uint16_t h = f32_to_bf16(x[i]); memcpy(o + 2 * i, &h, 2); }
    break;
  case DQ_T_Q8_0: for (int64_t i = 0; i < n / DQ_QK; i++) quant_q8_0(x + DQ_QK * i, (dq_blk_q8_0 *)out + i); break;
  case DQ_T_Q4_0: for (int64_t i = 0; i < n / DQ_QK; i++) quant_q4_0(x + DQ_QK * i, (dq_blk_q4_0 *)out + i); break;
  case DQ_T_Q4_1: for (int64_t i = 0; i < n / DQ_QK; i++) quant_q4_1(x + DQ_QK * i, (dq_blk_q4_1 *)out + i); break;
  case DQ_T_Q5_0: for (int64_t i = 0; i < n / DQ_QK; i++) quant_q5_0(x + DQ_QK * i, (dq_blk_q5_0 *)out + i); break;
  case DQ_T_Q5_1: for (int64_t i = 0; i < n / DQ_QK; i++) quant_q5_1(x + DQ_QK * i, (dq_blk_q5_1 *)out + i); break;
  case DQ_T_Q4_K: for (int64_t i = 0; i < n / DQ_QKK; i++) quant_q4_k(x + DQ_QKK * i, (dq_blk_q4_k *)out + i); break;
  case DQ_T_Q5_K: for (int64_t i = 0; i < n / DQ_QKK; i++) quant_q5_k(x + DQ_QKK * i, (dq_blk_q5_k *)out + i); break;
  case DQ_T_Q6_K: for (int64_t i = 0; i < n / DQ_QKK; i++) quant_q6_k(x + DQ_QKK * i, (dq_blk_q6_k *)out + i); break;
  case DQ_T_Q2_K: for (int64_t i = 0; i < n / DQ_QKK; i++) quant_q2_k(x + DQ_QKK * i, (dq_blk_q2_k *)out + i); break;
  case DQ_T_Q3_K: for (int64_t i = 0; i < n / DQ_QKK; i++) quant_q3_k(x + DQ_QKK * i, (dq_blk_q3_k *)out + i); break;
  case DQ_T_IQ4_NL: for (int64_t i = 0; i < n / DQ_QK; i++) quant_iq4_nl(x + DQ_QK * i, (dq_blk_iq4_nl *)out + i); break;
  case DQ_T_IQ4_XS: for (int64_t i = 0; i < n / DQ_QKK; i++) quant_iq4_xs(x + DQ_QKK * i, (dq_blk_iq4_xs *)out + i); break;
  default: break;
  }
}
