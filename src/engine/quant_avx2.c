/* Fast paths: AVX2/FMA dot products of weight rows with a quantized
 * activation, and AVX2 row dequantization (used by prefill before sgemm).
 *
 * Decode is memory-bound, so the dot products are built to read each weight
 * byte once and keep up with DRAM: the activation is quantized once per
 * mat-vec to 8-bit blocks (dq_q8a for Q8_0/Q4_0, dq_q8k for the K-quants), and
 * each weight block is multiplied in integers (maddubs: unsigned x signed
 * bytes -> int16 pairs; or VNNI dpbusd where the CPU has AVX512-VNNI/VL),
 * scaled once per block. Integer sums never overflow for valid blocks (bounds
 * noted at each kernel). Without AVX2 every entry point falls back to the
 * scalar reference of quant_ref.c, so results are the same up to float
 * summation order. */
#include "engine/isa.h" /* first: renames this file's functions in a build with DQ_DISPATCH */
#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define DQ_HAVE_AVX2 1
#include "engine/simd8.h"
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define DQ_HAVE_K512 1 /* 512-bit Q6_K kernel */
#endif
#endif
/* Q4_0 / Q5_0's four-row kernel by VBMI, GFNI and BITALG (dot_q45_4z below);
 * -DDQ_Q45_BITS=0 keeps the older one, for A/B runs. */
#ifndef DQ_Q45_BITS
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512VBMI__) && defined(__GFNI__) && \
    defined(__AVX512BITALG__)
#define DQ_Q45_BITS 1
#else
#define DQ_Q45_BITS 0
#endif
#endif

#include "engine/kernels.h"
#include "engine/quant_internal.h"

const char *dq_kernels_isa(void)
{
#if DQ_HAVE_AVX2 && DQ_Q45_BITS
  return "AVX-512 VNNI+VBMI";
#elif DQ_HAVE_AVX2 && defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return "AVX-512 VNNI";
#elif DQ_HAVE_AVX2
  return "AVX2";
#else
  return "generic C";
#endif
}

#if DQ_HAVE_AVX2

static inline int hsum_epi32(__m256i v)
{
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* Sum of u8 x s8 products in groups of four -> 8 x int32. VNNI does it in one
 * instruction without int16 saturation; maddubs+madd is the AVX2 form (the
 * callers keep |u*s| pairs below 32767). */
static inline __m256i dot_u8s8(__m256i u, __m256i s)
{
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* The same for two signed operands, as |w| * (x signed like w): exact for
 * |w| <= 128 (-128 included) and |x| <= 127, pair sums <= 32512. */
static inline __m256i dot_s8s8(__m256i w, __m256i x) { return dot_u8s8(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)); }

#if !(defined(__AVX512VNNI__) && defined(__AVX512VL__))
/* acc + pairwise int16 products summed to int32 (the K-quant kernels
 * without VNNI) */
static inline __m256i madd16_acc(__m256i acc, __m256i a, __m256i b)
{
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}
#endif

/* 16 bytes of nibbles -> 32 bytes: low nibbles are elements 0..15, high 16..31. */
static inline __m256i q4_0_unpack(const uint8_t *qs)
{
  __m128i t = _mm_loadu_si128((const __m128i *)qs);
  __m256i q = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
}

/* q (nibbles, 0..15) with the fifth bits at qh set: bit i of the
 * little-endian u32 at qh adds 16 to byte i. */
static inline __m256i q5_add_hbits(__m256i q, const uint8_t *qh)
{
  uint32_t h;
  memcpy(&h, qh, 4);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  /* the 32 bits are a byte mask as they are: kmov + masked move, where the
   * AVX2 form below takes four ops; Q5_0 is the bulk of a Q4_K_M file of a
   * small model and its mat-vec is compute-bound, so this shows in decode */
  return _mm256_or_si256(q, _mm256_maskz_mov_epi8((__mmask32)h, _mm256_set1_epi8(16)));
#else
  const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
  /* byte i = byte i/8 of h, masked to its bit i%8: 0 or 1 << (i%8) */
  const __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)h), shuf), bit);
  /* psignb turns that into 16 or 0 in one op: 16 takes the sign of v, and
   * where v is 0x80 (bit 7, negative as int8) the constant is -16, so the
   * product is 16 there too. It replaces a compare, an or and a blend: the
   * Q5_0 mat-vec is compute-bound on AVX2, and Q4_K_M decode (0.5B shape,
   * in-process A/B, 2 MiB pages, 2 threads) went 1.011, 1.029, 1.032 faster
   * in three sets of 24-40 rounds; without the fifth bits at all it is
   * 1.075, so these ops are a real part of its cost. */
  const __m256i pm16 = _mm256_set1_epi64x((long long)0xF010101010101010ull);
  return _mm256_or_si256(q, _mm256_sign_epi8(pm16, v));
#endif
}

/* One Q4_1 / Q5_0 / Q5_1 block as unsigned quants q, scale d, and the
 * affine term: value = d * q + off (off = m, or -16 d for Q5_0). */
static inline __m256i q45_block(int type, const void *row, int64_t ib, float *d, float *m, int *qoff)
{
  if (type == DQ_T_Q4_1) {
    const dq_blk_q4_1 *b = (const dq_blk_q4_1 *)row + ib;
    *d = h2f(b->d); *m = h2f(b->m); *qoff = 0;
    return q4_0_unpack(b->qs);
  }
  if (type == DQ_T_Q5_0) {
    const dq_blk_q5_0 *b = (const dq_blk_q5_0 *)row + ib;
    *d = h2f(b->d); *m = 0; *qoff = 16;
    return q5_add_hbits(q4_0_unpack(b->qs), b->qh);
  }
  const dq_blk_q5_1 *b = (const dq_blk_q5_1 *)row + ib;
  *d = h2f(b->d); *m = h2f(b->m); *qoff = 0;
  return q5_add_hbits(q4_0_unpack(b->qs), b->qh);
}

/* ---- Q4_1 / Q5_1 x q8a (Q5_0 takes the rows kernel below): sum(d(q-o)x + m x) = d*dx*sum(q qx) + (m - o d) s;
 * q <= 31 so pair sums <= 7874. Inlined per type so the branches fold. */
static inline __attribute__((always_inline)) float dot_q45(int type, const void *row, const dq_q8a *a, int64_t nb)
{
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  float corr = 0;
  int64_t ib = 0;
  for (; ib + 1 < nb; ib += 2) {
    float d0, m0, d1, m1;
    int o0, o1;
    __m256i q0 = q45_block(type, row, ib, &d0, &m0, &o0), q1 = q45_block(type, row, ib + 1, &d1, &m1, &o1);
    __m256i p0 = dot_u8s8(q0, _mm256_loadu_si256((const __m256i *)a[ib].qs));
    __m256i p1 = dot_u8s8(q1, _mm256_loadu_si256((const __m256i *)a[ib + 1].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[ib].d), _mm256_cvtepi32_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1 * a[ib + 1].d), _mm256_cvtepi32_ps(p1), acc1);
    corr += (m0 - o0 * d0) * a[ib].s + (m1 - o1 * d1) * a[ib + 1].s;
  }
  for (; ib < nb; ib++) {
    float d0, m0;
    int o0;
    __m256i q0 = q45_block(type, row, ib, &d0, &m0, &o0);
    __m256i p0 = dot_u8s8(q0, _mm256_loadu_si256((const __m256i *)a[ib].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[ib].d), _mm256_cvtepi32_ps(p0), acc0);
    corr += (m0 - o0 * d0) * a[ib].s;
  }
  return dq_hsum8_ps(_mm256_add_ps(acc0, acc1)) + corr;
}

/* The fields of super-block ib of a Q4_K or Q5_K row (qh NULL for Q4_K). */
static inline __attribute__((always_inline)) void kq_fields(int type, const void *row, int64_t ib, const uint8_t **scales,
                                                            const uint8_t **qs, const uint8_t **qh, uint16_t *d,
                                                            uint16_t *dmin)
{
  if (type == DQ_T_Q4_K) {
    const dq_blk_q4_k *b = (const dq_blk_q4_k *)row + ib;
    *scales = b->scales; *qs = b->qs; *qh = NULL; *d = b->d; *dmin = b->dmin;
  } else {
    const dq_blk_q5_k *b = (const dq_blk_q5_k *)row + ib;
    *scales = b->scales; *qs = b->qs; *qh = b->qh; *d = b->d; *dmin = b->dmin;
  }
}

/* Q4_K/Q5_K 6-bit scales and mins as 8 bytes each, computed in registers
 * (a byte-wise unpack through memory costs a store-forwarding stall per
 * block). Same mapping as dq_kq_scale_min: bytes 0-3 low scales, 4-7 low
 * mins, 8-11 the low nibbles of the upper four, whose top 2 bits sit in bits
 * 6-7 of bytes 0-3 (scales) and 4-7 (mins). */
static inline void kq_scales_u64(const uint8_t *q, uint64_t *sc, uint64_t *m)
{
  uint32_t a, b, c;
  memcpy(&a, q, 4); memcpy(&b, q + 4, 4); memcpy(&c, q + 8, 4);
  uint32_t sc_hi = (c & 0x0f0f0f0fu) | ((a >> 6) & 0x03030303u) << 4;
  uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 6) & 0x03030303u) << 4;
  *sc = (uint64_t)(a & 0x3f3f3f3fu) | (uint64_t)sc_hi << 32;
  *m = (uint64_t)(b & 0x3f3f3f3fu) | (uint64_t)m_hi << 32;
}

/* The K-quant mat-vecs go one row at a time, a single sequential stream,
 * and still gain from a software prefetch DQ_KPF bytes ahead: 2 threads,
 * whole Q4_K_M model's matrices from DRAM, 8 alternating rounds (Zen 3):
 * Q4_K rows 15.1 -> 18.0 GB/s, Q6_K 15.8 -> 17.2 (1024: 16.9 / 16.8, 3072:
 * 19.4 / 17.0, beside read bandwidth 20-22). With AVX-512 VNNI (2-core Zen
 * 5, 2026-11-29: two copies of this file in one test program, 2 threads,
 * 256 MiB of 896 x 4864 matrices from DRAM, 40 alternating passes, median
 * speed ratios against none): 1024 1.04, 2048 1.08, 3072 1.06, 4096 1.13 /
 * 1.14 / 1.16 for Q4_K (6144 and 8192 0.98 of 4096); at 4096 Q5_K 1.12,
 * Q3_K / Q2_K 1.04; Q6_K 1.00, since its 512-bit kernel (taken there)
 * had no prefetch then. Those runs were
 * in the host's usual state (reads at 40-50 GB/s); with it reading at
 * 70-80 GB/s, 8192 against 4096 gave Q4_K 1.08-1.14x, Q5_K 1.11-1.14x
 * (Q3_K / Q2_K 0.99-1.00: compute-bound at 37 GB/s), and in the usual
 * state 0.98-1.02x (ten ratios, mean 1.00), so 8192 it is: whole
 * Llama-3.2-1B-shaped Q4_K_M decode (Q4_K and Q6_K throughout), builds
 * rotating, 6 rounds each: 80.1-81.0 -> 83.2-86.3 t/s at 70-80 GB/s,
 * medians 53.7 / 54.4 t/s at 45-49 GB/s. The 512-bit Q6_K kernel, given
 * the prefetch at 8192 (scripts/ab-kernels.sh against none, 2 threads,
 * 896 x 4864 and 2048 x 8192 from DRAM): 1.05-1.10x at 46-53 GB/s,
 * 1.20-1.31x at 70-80 (4096: 1.11-1.13x there, 12288 the same as 8192);
 * whole 0.5B-shaped Q4_K_M decode (half its ffn_down matrices are Q6_K),
 * bench_engine -p 0 -n 64 -t 2 -r 5 with builds rotating: medians of 6
 * rounds 124.0 -> 125.2 t/s at 52-55 GB/s, of 4 rounds 160.1 -> 165.0 at
 * 75-78 GB/s. */
#ifndef DQ_KPF
#if defined(__AVX512VNNI__)
#define DQ_KPF 8192
#else
#define DQ_KPF 2048
#endif
#endif

/* Prefetch the `bytes` that lie DQ_KPF bytes past blk (a block of the row). */
static inline __attribute__((always_inline)) void kq_prefetch(const void *blk, size_t bytes)
{
  for (size_t j = 0; DQ_KPF && j < bytes; j += 64) _mm_prefetch((const char *)blk + DQ_KPF + j, _MM_HINT_T0);
}

/* Super-block ib of a Q4_K / Q5_K row against its activation block a: the
 * fields, the 8 scales (kq_scales_u64), the prefetch DQ_KPF bytes ahead,
 * and the mins term's 8 int32 partial sums m_j * (bsum_2j + bsum_2j+1). */
static inline __attribute__((always_inline)) __m256i kq45_block(int type, const void *row, const dq_q8k *a, int64_t ib,
                                                                const uint8_t **qs, const uint8_t **qh, uint16_t *hd,
                                                                uint16_t *hdmin, uint64_t *sc8)
{
  const uint8_t *scales;
  uint64_t m8;
  kq_fields(type, row, ib, &scales, qs, qh, hd, hdmin);
  kq_prefetch(type == DQ_T_Q4_K ? (const void *)((const dq_blk_q4_k *)row + ib) : (const void *)((const dq_blk_q5_k *)row + ib),
              type == DQ_T_Q4_K ? sizeof(dq_blk_q4_k) : sizeof(dq_blk_q5_k));
  kq_scales_u64(scales, sc8, &m8);
  const __m128i mv = _mm_cvtsi64_si128((long long)m8);
  return _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv)), _mm256_loadu_si256((const __m256i *)a->bsums));
}

/* ---- Q4_K / Q5_K x q8k. q <= 31, |x| <= 127: maddubs pair sums <= 7874
 * (no int16 saturation); madd with the 6-bit scale gives int32 sums far below
 * 2^31. The mins term is dmin * sum_j m_j * (bsum_2j + bsum_2j+1), kept in a
 * second vector accumulator so no block needs a horizontal sum. */
static inline __attribute__((always_inline)) float dot_q45_k(int type, const void *row, const dq_q8k *a, int64_t nb)
{
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones1 = _mm256_set1_epi8(1);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  /* byte shuffles giving, per 128-bit lane, int16 scale 2j four times then
   * 2j+1 four times: the layout of packs(sums of sub-block 2j, of 2j+1) */
  static const uint8_t pack_pick[4][32] __attribute__((aligned(32))) = {
#define S4(k) 2*(k), 2*(k)+1, 2*(k), 2*(k)+1, 2*(k), 2*(k)+1, 2*(k), 2*(k)+1
#define PJ(j) { S4(2*(j)), S4(2*(j)+1), S4(2*(j)), S4(2*(j)+1) }
    PJ(0), PJ(1), PJ(2), PJ(3)
#undef PJ
#undef S4
  };
#else
  /* byte shuffles broadcasting int16 scale k to all 16 lanes */
  static const uint8_t bcast[8][32] __attribute__((aligned(32))) = {
#define B(k) { 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, \
               2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1 }
    B(0), B(1), B(2), B(3), B(4), B(5), B(6), B(7)
#undef B
  };
#endif
  __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ib++) {
    const uint8_t *qs, *qh;
    uint16_t hd, hdmin;
    uint64_t sc8;
    const __m256i mins = kq45_block(type, row, a + ib, ib, &qs, &qh, &hd, &hdmin, &sc8);
    const int8_t *x = a[ib].qs;
    __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
    __m256i sumi = _mm256_setzero_si256(), sumi1 = _mm256_setzero_si256(); /* two dependency chains */
    __m256i hv = type == DQ_T_Q5_K ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    _Pragma("GCC unroll 4")
    for (int j = 0; j < 4; j++) {
      __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
      __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if (type == DQ_T_Q5_K) { /* bit 2j of qh -> bit 4 of lo, bit 2j+1 -> bit 4 of hi; then shift qh down */
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hv, ones1), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 1), ones1), 4));
        hv = _mm256_srli_epi16(hv, 2);
      }
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
      /* sums of 4 products (|.| <= 4 * 31 * 128 = 15872) packed to int16,
       * then one dpwssd with both sub-blocks' scales: three multiplies per
       * 64 quants instead of four, and one scale shuffle instead of two
       * (1 thread in cache, Zen 4: Q4_K rows 14% faster) */
      __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, _mm256_loadu_si256((const __m256i *)(x + 64 * j)));
      __m256i p1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi, _mm256_loadu_si256((const __m256i *)(x + 64 * j + 32)));
      __m256i sv = _mm256_shuffle_epi8(sc16, _mm256_load_si256((const __m256i *)pack_pick[j]));
      if (j & 1) sumi1 = _mm256_dpwssd_epi32(sumi1, _mm256_packs_epi32(p0, p1), sv);
      else sumi = _mm256_dpwssd_epi32(sumi, _mm256_packs_epi32(p0, p1), sv);
#else
      __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x + 64 * j)));
      __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x + 64 * j + 32)));
      sumi = madd16_acc(sumi, p0, _mm256_shuffle_epi8(sc16, _mm256_load_si256((const __m256i *)bcast[2 * j])));
      sumi1 = madd16_acc(sumi1, p1, _mm256_shuffle_epi8(sc16, _mm256_load_si256((const __m256i *)bcast[2 * j + 1])));
#endif
    }
    sumi = _mm256_add_epi32(sumi, sumi1);
    /* d and dmin converted and scaled together (the same single rounding as
     * h2f(d) * a.d): 6% faster in cache than one at a time */
    const __m128 dm = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)hd | (uint32_t)hdmin << 16))),
                                 _mm_set1_ps(a[ib].d));
    acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), _mm256_cvtepi32_ps(sumi), acc);
    accm = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(_mm256_castps128_ps256(dm), _mm256_set1_epi32(1)),
                           _mm256_cvtepi32_ps(mins), accm);
  }
  return dq_hsum8_ps(acc) - dq_hsum8_ps(accm);
}

#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
/* AVX-512 VNNI Q4_K / Q5_K: as dot_q45_k, but each 32 bytes of qs become
 * one 512-bit vector, [low nibbles | high nibbles] = two whole sub-blocks,
 * which lines up with 64 contiguous activation bytes, so one dpbusd covers
 * 64 quants and the activation needs no shuffling. packs of two such
 * results holds, per 128-bit lane, four sums of one sub-block and four of
 * another; one dpwssd applies their scales. Per super-block: 4 dpbusd, 2
 * packs, 2 scale shuffles, 2 dpwssd, where the 256-bit form takes twice as
 * many of each. Same |sum of 4| <= 4 * 31 * 127 bound for packs as there.
 * scripts/ab-kernels.sh against dot_q45_k (2-core Zen 5, 2026-11-29), from
 * cache: 2 threads, 896 x 4864 / 2048 x 8192, Q4_K 1.07-1.16 / 1.10-1.18x,
 * Q5_K 1.23-1.36 / 1.22-1.29x (two runs each); 1 thread, 2048 x 8192, Q4_K
 * 1.18x, Q5_K 1.39x. From DRAM at 40-46 GB/s (the
 * host's usual state, where these rows are memory-bound) 1.00-1.01x; whole
 * Llama-3.2-1B-shaped Q4_K_M decode, three alternating rounds, 68.6-70.8
 * t/s either way. */
static inline __attribute__((always_inline)) float dot_q45_kz(int type, const void *row, const dq_q8k *a, int64_t nb)
{
  /* bytes picking int16 scale s from each lane of [s0..s7 | the same]x4:
   * lanes 0, 1 of pair k hold sub-blocks 4k and 4k+2, lanes 2, 3 4k+1 and 4k+3 */
  static const uint8_t pick[2][64] __attribute__((aligned(64))) = {
#define S4(s) 2*(s), 2*(s)+1, 2*(s), 2*(s)+1, 2*(s), 2*(s)+1, 2*(s), 2*(s)+1
#define PK(k) { S4(4*(k)), S4(4*(k)+2), S4(4*(k)), S4(4*(k)+2), S4(4*(k)+1), S4(4*(k)+3), S4(4*(k)+1), S4(4*(k)+3) }
    PK(0), PK(1)
#undef PK
#undef S4
  };
  const __m512i m4 = _mm512_set1_epi8(0x0F), ones1 = _mm512_set1_epi8(1);
  const __m512i nib = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4); /* low half: low nibbles, high half: high */
  __m512 acc = _mm512_setzero_ps();
  __m256 accm = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ib++) {
    const uint8_t *qs, *qh;
    uint16_t hd, hdmin;
    uint64_t sc8;
    const __m256i mins = kq45_block(type, row, a + ib, ib, &qs, &qh, &hd, &hdmin, &sc8);
    const int8_t *x = a[ib].qs;
    const __m512i sc16 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
    const __m512i hv = type == DQ_T_Q5_K ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh))
                                         : _mm512_setzero_si512();
    __m512i p[4];
    _Pragma("GCC unroll 4")
    for (int j = 0; j < 4; j++) {
      __m512i w = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * j)));
      w = _mm512_and_si512(_mm512_srlv_epi64(w, nib), m4);
      if (type == DQ_T_Q5_K) { /* bit 2j of qh is bit 4 of the low half's quants, bit 2j+1 of the high half's */
        const __m512i sh = _mm512_add_epi64(_mm512_setr_epi64(0, 0, 0, 0, 1, 1, 1, 1), _mm512_set1_epi64(2 * j));
        w = _mm512_or_si512(w, _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(hv, sh), ones1), 4));
      }
      p[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, _mm512_loadu_si512((const void *)(x + 64 * j)));
    }
    __m512i sumi = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_packs_epi32(p[0], p[1]),
                                       _mm512_shuffle_epi8(sc16, _mm512_load_si512((const void *)pick[0])));
    sumi = _mm512_dpwssd_epi32(sumi, _mm512_packs_epi32(p[2], p[3]),
                               _mm512_shuffle_epi8(sc16, _mm512_load_si512((const void *)pick[1])));
    const __m128 dm = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)hd | (uint32_t)hdmin << 16))),
                                 _mm_set1_ps(a[ib].d));
    acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dm), _mm512_cvtepi32_ps(sumi), acc);
    accm = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(_mm256_castps128_ps256(dm), _mm256_set1_epi32(1)),
                           _mm256_cvtepi32_ps(mins), accm);
  }
  return dq_hsum8_ps(_mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1))) - dq_hsum8_ps(accm);
}
#define dot_q45_k_best dot_q45_kz
#else
#define dot_q45_k_best dot_q45_k
#endif

/* ---- Q2_K / Q3_K x q8k. Both have a scale per 16 elements and the same
 * element order (quant_internal.h): the 32 bytes qs[32h..32h+31] shifted by
 * 2j and masked are elements 32c..32c+31 of chunk c = 4h + j, whose low and
 * high 128-bit lanes are sub-blocks 2c and 2c+1. So per chunk: one maddubs
 * of the unsigned quants with the activation, and one madd with a vector
 * holding scale 2c in the low lane and 2c+1 in the high one.
 * Q3_K's quant q - 4 (hmask bit clear) enters as the unsigned q (0..7) and
 * the 4 * sum(x) it adds is taken off through bsums, once per block. Pair
 * sums <= 2 * 7 * 127 (no int16 saturation); scaled by |sc| <= 32 the block
 * total stays far below 2^31. */

/* Byte shuffles of [8 int16 scales | the same 8] giving scale 2k in the low
 * lane and 2k + 1 in the high lane. */
static const uint8_t k_q23_pick[4][32] __attribute__((aligned(32))) = {
#define P2(b) b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1
#define PK(k) { P2(4 * (k)), P2(4 * (k) + 2) }
  PK(0), PK(1), PK(2), PK(3)
#undef PK
#undef P2
};

/* sumi + the chunk sums of one 128-element half (the 2-bit parts of its 4
 * chunks; for Q3_K with the hmask bits 4h..4h+3 as bit 2) */
static inline __attribute__((always_inline)) __m256i q23_half(const int type, __m256i sumi, const uint8_t *qs,
                                                             __m256i hm, __m256i sc, const int h, const int8_t *x)
{
  const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
  const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
  _Pragma("GCC unroll 4")
  for (int j = 0; j < 4; j++) {
    __m256i qj = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
    if (type == DQ_T_Q3_K) { /* bit 4h + j of each hmask byte -> bit 2 */
      const int b = 4 * h + j;
      qj = _mm256_or_si256(qj, _mm256_and_si256(b >= 2 ? _mm256_srli_epi16(hm, b - 2) : _mm256_slli_epi16(hm, 2 - b), m4));
    }
    const __m256i p = _mm256_maddubs_epi16(qj, _mm256_loadu_si256((const __m256i *)(x + 32 * (4 * h + j))));
    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sc, _mm256_load_si256((const __m256i *)k_q23_pick[j]))));
  }
  return sumi;
}

static inline __attribute__((always_inline)) float dot_q23_k(const int type, const void *row, const dq_q8k *a, int64_t nb)
{
  __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ib++) {
    const int8_t *x = a[ib].qs;
    const __m256i bsums = _mm256_loadu_si256((const __m256i *)a[ib].bsums);
    __m256i s16, hm = _mm256_setzero_si256();
    const uint8_t *qs;
    __m256 dv; /* d_w * d_a */
    if (type == DQ_T_Q2_K) {
      const dq_blk_q2_k *b = (const dq_blk_q2_k *)row + ib;
      kq_prefetch(b, sizeof *b);
      const __m128i sb = _mm_loadu_si128((const __m128i *)b->scales), m4 = _mm_set1_epi8(0x0F);
      s16 = _mm256_cvtepu8_epi16(_mm_and_si128(sb, m4));
      const __m256i mins = _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sb, 4), m4)), bsums);
      const __m128 dm = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)b->d | (uint32_t)b->dmin << 16))),
                                   _mm_set1_ps(a[ib].d));
      accm = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(_mm256_castps128_ps256(dm), _mm256_set1_epi32(1)),
                             _mm256_cvtepi32_ps(mins), accm);
      dv = _mm256_broadcastss_ps(dm);
      qs = b->qs;
    } else {
      const dq_blk_q3_k *b = (const dq_blk_q3_k *)row + ib;
      kq_prefetch(b, sizeof *b);
      /* the 16 six-bit scales in registers, as dq_kq_q3k_scales, minus 32 */
      uint32_t a0, a1, a2;
      memcpy(&a0, b->scales, 4); memcpy(&a1, b->scales + 4, 4); memcpy(&a2, b->scales + 8, 4);
      const __m128i sv = _mm_setr_epi32((int)((a0 & 0x0f0f0f0fu) | (a2 & 0x03030303u) << 4),
                                        (int)((a1 & 0x0f0f0f0fu) | ((a2 >> 2) & 0x03030303u) << 4),
                                        (int)(((a0 >> 4) & 0x0f0f0f0fu) | ((a2 >> 4) & 0x03030303u) << 4),
                                        (int)(((a1 >> 4) & 0x0f0f0f0fu) | ((a2 >> 6) & 0x03030303u) << 4));
      s16 = _mm256_cvtepi8_epi16(_mm_sub_epi8(sv, _mm_set1_epi8(32)));
      dv = _mm256_set1_ps(h2f(b->d) * a[ib].d);
      qs = b->qs;
      hm = _mm256_loadu_si256((const __m256i *)b->hmask);
    }
    const __m256i lo = _mm256_permute2x128_si256(s16, s16, 0x00), hi = _mm256_permute2x128_si256(s16, s16, 0x11);
    __m256i sumi = q23_half(type, q23_half(type, _mm256_setzero_si256(), qs, hm, lo, 0, x), qs, hm, hi, 1, x);
    /* Q3_K: minus 4 * sum_i sc_i * bsum_i, the quants entered as q + 4 */
    if (type == DQ_T_Q3_K) sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(_mm256_madd_epi16(s16, bsums), 2));
    acc = _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(sumi), acc);
  }
  return dq_hsum8_ps(acc) - dq_hsum8_ps(accm);
}

/* ---- IQ4_NL x q8a, IQ4_XS x q8k. The 16 codebook values fit one 128-bit
 * lane, so one byte shuffle turns 32 nibbles into their values; those are
 * signed, so the product goes as |w| * (x signed like w) (|w| <= 127: pair
 * sums <= 32258, no int16 saturation). */
static inline __m256i iq4_values(const uint8_t *qs)
{
  const __m256i cb = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)dq_iq4nl_values));
  return _mm256_shuffle_epi8(cb, q4_0_unpack(qs));
}

/* Each 32-element block's pair sums scaled by its 6-bit scale in int16
 * (|ls - 32| <= 32), the super-block summed in int32, scaled once. The 8
 * scales are joined in a general register as bytes and widened once; each
 * block's is then one byte shuffle away (as in dot_q45_k). That measured the
 * same as a broadcast per block: 1 thread, rows in cache (bench_kernels
 * --resident), 7.8-8.8 GB/s, about half of Q4_K's there. It is bound by
 * vector ops: per 32 elements about 11 (nibble unpack, codebook shuffle,
 * the abs + sign its signed values need, maddubs, scale shuffle, madd, add)
 * where Q4_K takes about 10 per 64; an unsigned codebook (v + 128) would
 * drop the abs + sign but saturates maddubs (241 * 127 * 2 > 32767). Whole
 * 1.5B-shaped IQ4_XS decode (75% of its bytes IQ4_XS) still measured 18.1
 * t/s against llama.cpp's 14.0 (2026-11-27). */
static float dot_iq4_xs(const dq_blk_iq4_xs *w, const dq_q8k *a, int64_t nb)
{
  static const uint8_t bcast[8][32] __attribute__((aligned(32))) = {
#define B(k) { 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, \
               2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1, 2*k, 2*k+1 }
    B(0), B(1), B(2), B(3), B(4), B(5), B(6), B(7)
#undef B
  };
  __m256 acc = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ib++) {
    const dq_blk_iq4_xs *b = w + ib;
    kq_prefetch(b, sizeof *b);
    uint64_t ls8 = 0; /* byte j: block j's 6-bit scale */
    for (int j = 0; j < 8; j++) ls8 |= (uint64_t)dq_iq4xs_scale(b, j) << (8 * j);
    const __m256i sc16 = _mm256_broadcastsi128_si256(
        _mm_cvtepi8_epi16(_mm_sub_epi8(_mm_cvtsi64_si128((long long)ls8), _mm_set1_epi8(32))));
    __m256i sumi0 = _mm256_setzero_si256(), sumi1 = _mm256_setzero_si256(); /* two chains */
    _Pragma("GCC unroll 8")
    for (int j = 0; j < 8; j++) {
      const __m256i v = iq4_values(b->qs + 16 * j), x = _mm256_loadu_si256((const __m256i *)(a[ib].qs + 32 * j));
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(x, v)),
                                          _mm256_shuffle_epi8(sc16, _mm256_load_si256((const __m256i *)bcast[j])));
      if (j & 1) sumi1 = _mm256_add_epi32(sumi1, p);
      else sumi0 = _mm256_add_epi32(sumi0, p);
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b->d) * a[ib].d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi0, sumi1)), acc);
  }
  return dq_hsum8_ps(acc);
}

/* ---- Q6_K x q8k: q in 0..63 unsigned (the -32 is applied through bsums),
 * pair sums <= 16002; scaled by |sc| <= 128 the block total stays < 2^29. */
#if !DQ_HAVE_K512 || (defined(__AVX512VNNI__) && defined(__AVX512VL__))
/* Half h of a Q6_K block as 4 x 32 unsigned quants (0..63): q[k] holds
 * elements 128h + 32k .. +31 (the 256-bit mat-vec and the int8 GEMM's packing). */
static inline void q6k_half(const dq_blk_q6_k *b, int h, __m256i q[4])
{
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x30);
  const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
  const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
  const __m256i hv = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
  q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hv, 4), m3));
  q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hv, 2), m3));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hv, m3));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hv, 2), m3));
}
#endif

#if !DQ_HAVE_K512
/* pshufb controls: int16 word 2k to the low 128-bit lane, 2k+1 to the high */
static const uint8_t q6_pick[4][32] __attribute__((aligned(32))) = {
#define P(k) { 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, \
               4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3 }
  P(0), P(1), P(2), P(3)
#undef P
};

/* acc + pairwise int16 products summed to int32 */
static inline __m256i q6_madd_acc(__m256i acc, __m256i p, __m256i s)
{
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpwssd_epi32(acc, p, s);
#else
  return madd16_acc(acc, p, s);
#endif
}

static float dot_q6_k(const dq_blk_q6_k *w, const dq_q8k *a, int64_t nb)
{
  __m256 acc = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ib++) {
    const dq_blk_q6_k *b = w + ib;
    const int8_t *x = a[ib].qs;
    kq_prefetch(b, sizeof *b);
    __m256i sumi = _mm256_setzero_si256(), sumi1 = _mm256_setzero_si256(); /* two dependency chains */
    const __m256i sc16all = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales)); /* as sc16 below */
    /* unrolled: as a loop GCC kept q[] on the stack and branched on k & 1
     * (1 thread, in cache, Zen 3: 2x faster unrolled) */
    _Pragma("GCC unroll 2")
    for (int h = 0; h < 2; h++) {
      const __m256i sch = h ? _mm256_permute2x128_si256(sc16all, sc16all, 0x11) : _mm256_permute2x128_si256(sc16all, sc16all, 0x00);
      __m256i q[4];
      q6k_half(b, h, q);
      _Pragma("GCC unroll 4")
      for (int k = 0; k < 4; k++) {
        /* int16 pair sums (<= 16002) times the int16 scale of each half
         * (elements 0..15: scale 8h+2k, 16..31: 8h+2k+1): one shuffle of
         * this h's 8 scales, then madd (pair sums <= 2 * 16002 * 128) */
        __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(x + 128 * h + 32 * k)));
        const __m256i s = _mm256_shuffle_epi8(sch, _mm256_load_si256((const __m256i *)q6_pick[k]));
        if (k & 1) sumi1 = q6_madd_acc(sumi1, p, s);
        else sumi = q6_madd_acc(sumi, p, s);
      }
    }
    /* subtract 32 * sum_j sc[j] * bsum[j], spread over the lanes (they are
     * summed at the end anyway) */
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    __m256i tot = _mm256_sub_epi32(_mm256_add_epi32(sumi, sumi1), _mm256_slli_epi32(_mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)a[ib].bsums)), 5));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b->d) * a[ib].d), _mm256_cvtepi32_ps(tot), acc);
  }
  return dq_hsum8_ps(acc);
}
#else
/* ---- Q6_K x q8k with 512-bit vectors (AVX512-BW + VNNI) ----
 * The 256-bit kernel above is compute-bound at ~19 GB/s per thread (data in
 * cache, Zen 4), below DRAM speed: each 32 quants take two ands, two shifts
 * and an or to assemble. Here the 64 low-bit bytes of a half-block are one
 * load, and the high bits for both 32-byte halves come from one broadcast of
 * qh with per-half variable shifts, so a group of 64 quants costs five
 * 512-bit ops before the product: 30 GB/s per thread in cache, and +9% decode
 * on the 1.5B Q4_K_M shape (its Q6_K output matrix alone is 190 MB). The
 * integer sums are the same as above; only the float summation order
 * differs. The same treatment of Q4_K / Q5_K measured no faster (their
 * 256-bit form already spends fewer ops per quant; on Zen 4 a 512-bit op
 * takes a 256-bit pipe twice), so they keep theirs.
 * The 16 signed scales, one per 16 elements, as int16; vpermw puts scale
 * 8h + 4g + l in 128-bit lane l for the group g (64 elements) of half h. */
static float dot_q6_k(const dq_blk_q6_k *w, const dq_q8k *a, int64_t nb)
{
  const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(0x30);
  /* per 256-bit half of the vector: high bits for elements 0..31 of a group
   * sit at bits 0-1 (g 0) / 4-5 (g 1) of qh, for 32..63 at 2-3 / 6-7 */
  const __m512i shl01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shr23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  __m512i idx[4];
  for (int g = 0; g < 4; g++) {
    int16_t t[32];
    for (int l = 0; l < 32; l++) t[l] = (int16_t)(4 * g + l / 8);
    idx[g] = _mm512_loadu_si512((const void *)t);
  }
  __m512 acc = _mm512_setzero_ps();
  for (int64_t ib = 0; ib < nb; ib++) {
    const dq_blk_q6_k *b = w + ib;
    const int8_t *x = a[ib].qs;
    kq_prefetch(b, sizeof *b);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    const __m512i sc = _mm512_zextsi256_si512(sc16);
    __m512i sumi = _mm512_setzero_si512(), sumi1 = _mm512_setzero_si512();
    _Pragma("GCC unroll 2")
    for (int h = 0; h < 2; h++) {
      __m512i l = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
      __m512i hv = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)));
      __m512i q01 = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi16(hv, shl01), m3));
      __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                    _mm512_and_si512(_mm512_srlv_epi16(hv, shr23), m3));
      __m512i p0 = _mm512_maddubs_epi16(q01, _mm512_loadu_si512((const void *)(x + 128 * h)));
      __m512i p1 = _mm512_maddubs_epi16(q23, _mm512_loadu_si512((const void *)(x + 128 * h + 64)));
      sumi = _mm512_dpwssd_epi32(sumi, p0, _mm512_permutexvar_epi16(idx[2 * h], sc));
      sumi1 = _mm512_dpwssd_epi32(sumi1, p1, _mm512_permutexvar_epi16(idx[2 * h + 1], sc));
    }
    __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)a[ib].bsums)), 5);
    __m512i tot = _mm512_sub_epi32(_mm512_add_epi32(sumi, sumi1), _mm512_zextsi256_si512(corr));
    acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f(b->d) * a[ib].d), _mm512_cvtepi32_ps(tot), acc);
  }
  return _mm512_reduce_add_ps(acc);
}
#endif

/* ---- Q8_0 / Q4_0 / Q5_0 x q8a on several rows at once -------------------
 * Decode streams every weight byte once, and the single-row kernels above
 * spend more instructions per block on its scale (an f16 load, convert,
 * multiply and broadcast) and on the signed-by-signed trick than on the
 * product; at 896-element rows they run below DRAM speed. Here:
 *  - weights enter dpbusd as unsigned bytes u = q + o (Q8_0: q xor 0x80,
 *    o = 128; Q4_0 / Q5_0: their stored quants, o = 8 / 16), and the o *
 *    sum(x) this adds is removed through the accumulator's start value,
 *    -o * (sums of 4 activation bytes) per lane, made once per block for all
 *    rows;
 *  - up to DQ_ROWS rows share each activation load and start value, and
 *    their accumulators stay in registers (two FMA chains per row).
 * The scale is still one f16 per row and block: gathering 8 at a time (and
 * a lane permute per block) measured 30% slower on Zen 4. 1 thread, data in
 * cache, 896-element rows: Q8_0 30 -> 42 GB/s, Q5_0 15 -> 20 GB/s (but
 * Q8_0 is grouped only where rows are read again for more tokens: see
 * DQ_PF_ROW).
 * Every row is computed with the same operations in the same order whatever
 * the number of rows in the call, so results do not depend on how rows are
 * grouped (matmul's split varies with the thread count). Exact in int32:
 * |u * x| <= 255 * 127 per product, 32 per block.
 * Q4_0 / Q5_0 now take dot_q45_4z / dot_q45_z1 (AVX-512 VNNI: the same
 * start value, two blocks to a register, four short rows folded, long rows
 * one at a time) or, on AVX2 without VNNI, dot_q45_4, all below, so this
 * kernel serves Q8_0; the figures for Q5_0 here are from before. AVX2 without VNNI: dot_q45_4 folds four
 * rows' int16 sums together instead; Q8_0 stays here with maddubs + madd
 * for dpbusd, where u would reach 255 and a pair could saturate, so it
 * takes the sign trick (|w| * x signed like w, no start value; |w| <= 128);
 * one FMA chain per row (two spilled the 16 registers). 1 thread, data in
 * cache, 896-element rows, alternating with the one-row kernels on a 2-core
 * Zen 3 (per-row Q5_0 / Q4_0 then): Q5_0 8.4 -> 10.3 GB/s, Q4_0 10.1 ->
 * 12.8; whole-model Q4_K_M decode (its 896-wide matrices are Q5_0) 28.0,
 * 30.4, 30.8 -> 34.2, 34.3, 32.2 t/s (bench_engine -p 0 -n 64 -t 2). Q8_0
 * in cache 17-21 -> 20-23 GB/s; whole-model Q8_0 decode, seven alternating
 * rounds of `-p 0 -n 64 -t 2 -r 3 --bw`: median 26.5 -> 27.9 t/s, share of
 * the read bandwidth 76% -> 86%. */
#define DQ_HAVE_ROWS 1
#define DQ_ROWS 4
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#define ROWS_VNNI 1 /* Q8_0 here (dpbusd does not saturate at u = 255); Q4_0 / Q5_0 go to dot_q45_4z */
#else
#define ROWS_VNNI 0 /* Q8_0 by the sign trick here; Q4_0 / Q5_0 go to dot_q45_4 */
#endif

/* neg + the products of 4-byte groups of u (unsigned) and x (signed) */
static inline __attribute__((always_inline)) __m256i rows_mac(__m256i neg, __m256i u, __m256i x)
{
#if ROWS_VNNI
  return _mm256_dpbusd_epi32(neg, u, x);
#else
  return _mm256_add_epi32(neg, dot_u8s8(u, x));
#endif
}

static inline __attribute__((always_inline)) size_t q8a_blk_bytes(int type)
{
  return type == DQ_T_Q8_0 ? sizeof(dq_blk_q8_0) : type == DQ_T_Q4_0 ? sizeof(dq_blk_q4_0) : sizeof(dq_blk_q5_0);
}

/* The block's quants as unsigned bytes (see above) in element order. */
static inline __attribute__((always_inline)) __m256i q8a_wq(int type, const uint8_t *b)
{
  if (type == DQ_T_Q8_0)
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b + 2)), _mm256_set1_epi8((char)0x80));
  /* nibbles: low halves are elements 0..15, high halves 16..31; shift the
   * upper 128-bit lane of the broadcast by 4 */
  const uint8_t *qs = b + (type == DQ_T_Q4_0 ? 2 : 6);
  __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
  q = _mm256_and_si256(_mm256_srlv_epi64(q, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
  if (type == DQ_T_Q5_0) q = q5_add_hbits(q, b + 2); /* bit j of qh: bit 4 of element j */
  return q;
}

/* R rows side by side are R short streams (a 896-element Q8_0 row is 15
 * cache lines), too short for the hardware prefetcher to lock on, so the
 * bytes of the rows DQ_PF_HALF_GROUPS / 2 groups ahead are prefetched as
 * the blocks go by, in memory order: R * bb bytes per block step (1-thread
 * DRAM stream of 896-element Q8_0 rows: 7 GB/s without, 19 with; one row at
 * a time did 17; prefetching each row's next block instead measured 10-20%
 * slower).
 * Long rows go one at a time (dot_q8a_n): in parallel they streamed at half
 * the speed of one, with or without prefetches. Short Q8_0 rows: with AVX2
 * alone (a Zen 3) grouping was 5% faster while the weights sat in 4 KiB
 * pages, but from 2 MiB pages (engine/mapfile.h) one row at a time with the
 * prefetch of DQ_PF_ROW is faster (figures at DQ_PF_ROW), so they go one at
 * a time there. With VNNI they were grouped for a while: on a Zen 4
 * grouping measured 3-7% slower with 1 thread (no difference with 2), but on
 * a Zen 5 (2026-11-29, 0.5B-shaped Q8_0 decode, `docq bench -p 0 -n 64 -r
 * 3`, separate builds alternating, medians of 5-6 rounds, both with the
 * one-row prefetch at 3072) it was faster: 2 threads 110.8 -> 117.3 t/s, 1
 * thread 61.4 -> 63.6. With the one-row prefetch at 6144 (DQ_PF_ROW) one
 * row at a time is the faster again there, so rows that stream (decode)
 * go one at a time; rows read again for more tokens (batches of 2-11, in
 * cache) still go by four, where a row takes fewer instructions (figures
 * at DQ_PF_ROW). Longer groups (DQ_ROWS_MAX_GROUP 16384 or 32768, so the
 * 2048-wide rows of a 1B shape go by four) measured the same there, and so
 * did a 512-bit form of the four-row kernel (two rows per register, half
 * the vector ops) for Q4_K_M, while it was 3-4% slower for Q8_0. AVX2's
 * Q4_0 / Q5_0, compute-bound, are grouped whatever the length: 20% in
 * decode. */
#ifndef DQ_PF_HALF_GROUPS
#if ROWS_VNNI
/* 3 groups: Q4_0 / Q5_0 rows by four (dot_q45_4z), 2 threads from DRAM,
 * bench/ab_kernels against 2 groups (2026-11-29, Zen 5), Q5_0 / Q4_0:
 * 4864x896 1.036 / 1.054 with the host reading 65-90 GB/s, 1.000 / 1.002
 * at 45-56; 896x896 0.99 / 1.02 and 0.99 / 1.00. 4 groups: 1.045 / 1.071
 * on 4864x896 in the fast state, but 896x896 0.95 / 1.00 there and 0.98 /
 * 0.98 in the usual one. Whole 0.5B-shaped Q4_K_M decode (its 896-wide
 * matrices are Q5_0), builds rotating: 1.021 in the fast state (6 of 7
 * rounds), 1.003 in the usual one (4 of 7). IQ4_NL's four rows take the
 * same distance, unmeasured. */
#define DQ_PF_HALF_GROUPS 6
#else
/* 1.5 groups. Zen 3, 1 thread, 380 MB of 896-element rows from DRAM, 4 KiB
 * pages: Q8_0 10.0-10.3 GB/s at 1 group ahead, 9.1-9.6 at 2, 7.2-9.0 at
 * 3-16, 4.7-5.1 at 0; Q5_0 9.5 at 1, 7.3 at 2. Q8_0 now goes one row at a
 * time (DQ_PF_ROW), so this serves Q4_0 / Q5_0. Whole-model Q4_K_M decode,
 * 2 MiB pages, 2 threads, in-process A/B of 24-40 rounds against 1 group
 * (2026-11-27): 1.125 groups 1.005, 1.25 1.039 / 1.009, 1.5 1.024 / 1.017 /
 * 1.013, 2 1.023, 3 1.010: every set above 1, each within its own quartiles:
 * about 2%. Q5_0 is compute-bound there (its in-model rate is its rate
 * from cache), so the distance matters little. */
#define DQ_PF_HALF_GROUPS 3
#endif
#endif
#ifndef DQ_ROWS_MAX_GROUP
#define DQ_ROWS_MAX_GROUP 4096 /* bytes of a group of rows done side by side, at most */
#endif
/* One row at a time (Q8_0): a prefetch DQ_PF_ROW bytes ahead of the block.
 * Whole-model Q8_0 decode with the weights in 2 MiB pages, 2 threads, 16-20
 * rounds of 32 tokens alternating in one process, median speed ratios (Zen 3,
 * 2026-11-27). The 4864-element rows alone against no prefetch: 512 bytes
 * 1.028, 1024 1.043, 2048 1.075 / 1.056 / 1.024 (three sets), 3072 1.049,
 * 4096 1.053, 8192 1.024. Then the 896-element rows one at a time too, against
 * grouped by four (both with the long rows' prefetch): 1.048, 1.077, 1.051 at
 * 2048, 1.067 at 3072, 1.037 at 4096; and all one row, by distance: 3072 vs
 * 2048 1.043 / 1.022, 2560 vs 2048 1.047, 4096 vs 3072 0.963, 3584 vs 3072
 * 0.989, 2560 vs 3072 1.003. With VNNI, on a 2-core Zen 5 (AVX-512 VNNI,
 * 2026-11-29; an earlier Zen 4 was thought to keep up without it), whole
 * 0.5B-shaped Q8_0 decode, `docq bench -p 0 -n 64 -t 2 -r 3`, separate
 * builds alternating, medians of 5 rounds in t/s: none 82.4 / 85.2, 1024
 * 83.5, 2048 85.5, 3072 89.3 / 89.1, 4096 90.2, 6144 88.1, 8192 89.7: the
 * same 3072 for both at first. But those rounds ran in the host's usual
 * state (40-55 GB/s); where it reads 65-90 GB/s the rows want more.
 * bench/ab_kernels, 2 threads from DRAM, against 3072 (2026-11-29, Zen 5;
 * fast state / usual state): 896x4864 Q8_0 and Q5_0 rows, 6144: 1.085 /
 * 1.008 and 1.044 / 1.018, 4096: 1.045 / 1.008 and 1.023 / 1.015; the
 * 2048-wide rows of a 1B shape (8192x2048, 2048x8192), 6144: 1.13-1.14 /
 * 1.02, 8192: 1.15-1.19 / 1.00; a second prefetch into L2 (T1) at 8192 or
 * 12288: 1.04-1.08 / 0.96-0.97. Whole-model decode, builds rotating
 * (bench_engine -p 0 -n 64 -t 2 -r 5 --bw --mix both, and --shape
 * llama3.2-1b -n 32), 6144 against 3072: fast state 1B Q8_0 47.7 -> 53.5
 * t/s (8 of 8 rounds; 85% -> 95% of the read bandwidth), 0.5B Q8_0 1.020;
 * usual state over 16 rounds 1B Q8_0 1.013, 0.5B Q8_0 0.992 (6 of 16). At
 * 6144 the 896-wide Q8_0 rows one at a time also beat them grouped by four
 * (ab_kernels, 4864x896 and 16384x896, usual state, 38 sets: 1.048, 1.042),
 * so streamed Q8_0 rows go one at a time; for rows read again in cache
 * grouping still wins (an 8-token prefill of the 0.5B Q8_0 file, the
 * small-batch path: 222-235 t/s grouped, 182-193 one at a time, so those
 * stay grouped: dq_kq_dot_rows' streamed). This, 6144 and 3 groups ahead
 * for Q4_0 / Q5_0 (DQ_PF_HALF_GROUPS) against the kernels before, usual
 * state: 0.5B Q8_0 1.040 (7 of 7 rounds), Q4_K_M 1.044 (7 of 7), 1B Q8_0
 * 1.039 (4 of 5), 1B Q4_K_M 0.988 (2 of 5). */
#ifndef DQ_PF_ROW
#if ROWS_VNNI
#define DQ_PF_ROW 6144
#else
#define DQ_PF_ROW 3072
#endif
#endif
static inline __attribute__((always_inline)) void q8a_prefetch(const int R, const size_t bb, const uint8_t *w, size_t rb,
                                                               int64_t ib)
{
  const uint8_t *p = w + DQ_PF_HALF_GROUPS * (size_t)R * rb / 2 + (size_t)ib * (size_t)R * bb;
  for (size_t j = 0; j < (size_t)R * bb; j += 64) _mm_prefetch((const char *)p + j, _MM_HINT_T0);
}

static inline __attribute__((always_inline)) void dot_q8a_rows(const int type, const int R, const uint8_t *w,
                                                               size_t rb, const dq_q8a *a, int64_t nb, float *out)
{
  const size_t bb = q8a_blk_bytes(type);
  const __m256i off = _mm256_set1_epi8((char)(type == DQ_T_Q8_0 ? 128 : type == DQ_T_Q4_0 ? 8 : 16));
  __m256 acc0[DQ_ROWS], acc1[DQ_ROWS];
  _Pragma("GCC unroll 8")
  for (int r = 0; r < R; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();
  /* VNNI: even blocks into acc0, odd ones into acc1, two FMA chains per row;
   * AVX2's 16 registers hold one chain per row (acc1 stays 0) */
  for (int64_t ib = 0; ib < nb; ib++) {
    if (R > 1) q8a_prefetch(R, bb, w, rb, ib);
    else if (DQ_PF_ROW) _mm_prefetch((const char *)w + (size_t)ib * bb + DQ_PF_ROW, _MM_HINT_T0);
    const __m256i x = _mm256_loadu_si256((const __m256i *)a[ib].qs);
    const __m256i neg = !ROWS_VNNI && type == DQ_T_Q8_0 ? _mm256_setzero_si256()
                        : _mm256_sub_epi32(_mm256_setzero_si256(), rows_mac(_mm256_setzero_si256(), off, x));
    /* four rows: their f16 scales converted and multiplied in one vector
     * (the same single rounding as h2f(d) * a.d, so the same bits) */
    __m256 s4 = _mm256_setzero_ps();
    if (R == 4) {
      uint64_t d4 = 0;
      _Pragma("GCC unroll 4")
      for (int r = 0; r < 4; r++) {
        uint16_t d;
        memcpy(&d, w + (size_t)r * rb + (size_t)ib * bb, 2);
        d4 |= (uint64_t)d << (16 * r);
      }
      s4 = _mm256_castps128_ps256(_mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)d4)), _mm_set1_ps(a[ib].d)));
    }
    _Pragma("GCC unroll 8")
    for (int r = 0; r < R; r++) {
      const uint8_t *b = w + (size_t)r * rb + (size_t)ib * bb;
      uint16_t d;
      memcpy(&d, b, 2);
      __m256i p;
      if (!ROWS_VNNI && type == DQ_T_Q8_0) p = dot_s8s8(_mm256_loadu_si256((const __m256i *)(b + 2)), x); /* no saturation */
      else p = rows_mac(neg, q8a_wq(type, b), x);
      __m256 s = R == 4 ? _mm256_permutevar8x32_ps(s4, _mm256_set1_epi32(r)) : _mm256_set1_ps(h2f(d) * a[ib].d);
      if (ROWS_VNNI && (ib & 1)) acc1[r] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(p), acc1[r]);
      else acc0[r] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(p), acc0[r]);
    }
  }
  _Pragma("GCC unroll 8")
  for (int r = 0; r < R; r++) out[r] = dq_hsum8_ps(_mm256_add_ps(acc0[r], acc1[r]));
}

/* Four rows' maddubs results (16 int16 pair sums each) -> int32 [r0 r1 r2
 * r3] per 128-bit lane. Two rounds of unpack + add: dwords of two rows
 * interleaved and the halves added give [r0 r0 r1 r1] (word pairs of one
 * row side by side), then qwords give [r0 r0 r1 r1 r2 r2 r3 r3], and one
 * madd adds each pair. The same sums as two rounds of hadd and a madd, but
 * vphaddw costs ~2 cycles on Zen 3 where an unpack takes half of one: in an
 * L1-resident loop (896-element Q5_0 rows, 1 thread) 3.95 -> 3.72 TSC
 * ticks per row-block, with q5_add_hbits in its earlier blend form; 2
 * threads from DRAM, alternating in one process, 16.5 -> 17.3 GB/s (read
 * bandwidth 21). */
static inline __attribute__((always_inline)) __m256i fold4_rows(__m256i m0, __m256i m1, __m256i m2, __m256i m3)
{
  const __m256i u01 = _mm256_add_epi16(_mm256_unpacklo_epi32(m0, m1), _mm256_unpackhi_epi32(m0, m1));
  const __m256i u23 = _mm256_add_epi16(_mm256_unpacklo_epi32(m2, m3), _mm256_unpackhi_epi32(m2, m3));
  const __m256i v = _mm256_add_epi16(_mm256_unpacklo_epi64(u01, u23), _mm256_unpackhi_epi64(u01, u23));
  return _mm256_madd_epi16(v, _mm256_set1_epi16(1));
}

/* AVX2 without VNNI, Q4_0 / Q5_0: four rows per step, their int16 pair
 * sums folded together before any int32 or float work. maddubs gives 16
 * int16 sums of 2 products per row (|.| <= 2 * 31 * 127 = 7874); fold4_rows
 * adds them to, per 128-bit lane, 2 sums of 8 for each row (|.| <= 31496,
 * no int16 overflow) and then to int32 [r0 r1 r2 r3] per lane: the low lane
 * holds elements 0..15, the high 16..31. So one convert and one FMA per
 * block serve four rows, where the per-row form took a madd, convert, scale
 * broadcast and FMA for each. The o * sum(x)
 * term goes in float: corr += d_w * o * s, with the activation's exact
 * s = d_x * sum(x) (see dq_q8a). A row's result, (acc[r] + acc[r + 4]) -
 * corr[r], depends only on that row, so fewer rows (the tail of a call, or
 * dq_kq_dot's one) repeat the last row in the unused lanes and every row
 * comes out the same whatever the grouping. Its four f16 scales are
 * joined in a general register. 2 threads, 100 MB of 896-element rows from
 * DRAM, alternating pass by pass in one process (Zen 3): Q5_0 16.5 -> 17.7
 * GB/s, Q4_0 17.1 -> 18.6 against the per-row form (read bandwidth 24). */
static inline __attribute__((always_inline)) void dot_q45_4(const int type, const uint8_t *w, const size_t off[4],
                                                            size_t rb, const dq_q8a *a, int64_t nb, float out[4])
{
  const size_t bb = q8a_blk_bytes(type);
  const float o = type == DQ_T_Q4_0 ? 8 : 16;
  __m256 acc = _mm256_setzero_ps();
  __m128 corr = _mm_setzero_ps();
  for (int64_t ib = 0; ib < nb; ib++) {
    q8a_prefetch(DQ_ROWS, bb, w, rb, ib);
    const __m256i x = _mm256_loadu_si256((const __m256i *)a[ib].qs);
    const uint8_t *b = w + (size_t)ib * bb;
    uint16_t d0, d1, d2, d3;
    memcpy(&d0, b + off[0], 2);
    memcpy(&d1, b + off[1], 2);
    memcpy(&d2, b + off[2], 2);
    memcpy(&d3, b + off[3], 2);
    /* the four f16 scales joined in a general register and moved over once:
     * the integer pipes are idle here, where three word inserts took six
     * vector ops (Q4_K_M decode, in-process A/B, 2 MiB pages: 1.006, 1.043,
     * 1.033, 1.016 in four sets of 20-24 rounds) */
    const __m128i dv = _mm_cvtsi64_si128((long long)((uint64_t)d0 | (uint64_t)d1 << 16 | (uint64_t)d2 << 32 | (uint64_t)d3 << 48));
    const __m128 dw = _mm_cvtph_ps(dv), s = _mm_mul_ps(dw, _mm_set1_ps(a[ib].d));
    /* o (8 or 16) is a power of two, so scaling the sum once at the end
     * gives the same bits as scaling each term, and saves a multiply and a
     * broadcast per block (Q4_K_M decode, A/B as in q5_add_hbits: 1.016,
     * 1.014) */
    corr = _mm_fmadd_ps(dw, _mm_set1_ps(a[ib].s), corr);
    const __m256i m0 = _mm256_maddubs_epi16(q8a_wq(type, b + off[0]), x), m1 = _mm256_maddubs_epi16(q8a_wq(type, b + off[1]), x);
    const __m256i m2 = _mm256_maddubs_epi16(q8a_wq(type, b + off[2]), x), m3 = _mm256_maddubs_epi16(q8a_wq(type, b + off[3]), x);
    const __m256i t = fold4_rows(m0, m1, m2, m3);
    acc = _mm256_fmadd_ps(_mm256_set_m128(s, s), _mm256_cvtepi32_ps(t), acc);
  }
  corr = _mm_mul_ps(corr, _mm_set1_ps(o));
  _mm_storeu_ps(out, _mm_sub_ps(_mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)), corr));
}

#if ROWS_VNNI
/* AVX-512 VNNI, Q4_0 / Q5_0: four rows per step as in dot_q45_4, but two
 * blocks to a 512-bit vector (block ib in the low half, ib + 1 in the
 * high), so each row's unpacking and dpbusd serve 64 weights. The four
 * rows' int32 results are folded (unpacks + adds, as fold4_rows) into one
 * vector that holds, per 128-bit lane, [r0 r1 r2 r3] of half a block, and
 * one convert and one FMA against the rows' scales serve all four, where the
 * 256-bit form (dot_q8a_rows) took a scale permute, convert and FMA per row
 * and block. The o * sum(x) term is in dpbusd's start value as there, so the
 * int32 sums are exact (|sum| <= 16 * 31 * 127) and convert exactly; rows
 * that fill a group (the tail of a call, dq_kq_dot's one row) repeat the
 * last row, so a row's result does not depend on how rows are grouped. An
 * odd last block goes alone with a zero upper half (x = 0 there adds 0).
 * Measured on a 2-core Zen 5 (EPYC, 2026-11-29), 896- and 4864-element Q5_0
 * rows from cache, 1 thread (a copy of both kernels in one test program):
 * 29.5 / 30.4 GB/s (256-bit, four rows) -> 38.7 / 40.8; the fifth bits (kmov
 * + masked add) and the scales each cost about 15% of what is left.
 * bench_kernels --resident, 1 thread, 896 / 4864-element rows: Q5_0 28-30 /
 * 25 -> 38 / 36 GB/s, Q4_0 25-30 / 24 -> 35-40 / 35-39 (long rows grouped
 * then; they go one at a time now, dot_q45_z1 below). Whole 0.5B-shaped
 * Q4_K_M decode (bench_engine -p 0 -n 64 -t 2 -r 5 --bw, builds
 * alternating, four rounds):
 * 137.0, 136.6, 138.4, 138.4 -> 141.5, 143.5, 142.4, 144.1 t/s while memory
 * read at 76-80 GB/s, where Q5_0 is compute-bound; no change at 50 GB/s.
 * Eight short rows at a time (sharing the activation, start value and scale
 * conversion among eight) was tried: 1.12-1.14x for 4864 x 896 Q5_0 from
 * DRAM at 75-80 GB/s (scripts/ab-kernels.sh: two copies of this file in one
 * program, taking turns),
 * but whole Q4_K_M decode with memory at 40-50 GB/s, the host's usual state,
 * went 102.2 -> 98.8 t/s (medians of 5 rotated rounds, bench_engine -p 0
 * -n 64 -t 2 -r 5), so four it stays. */

/* Blocks ib and (if two) ib + 1 of a Q4_0 / Q5_0 row, b at block ib, as
 * unsigned quants in element order; with !two the upper half is 0. */
static inline __attribute__((always_inline)) __m512i q45_wq_pair(const int type, const uint8_t *b, const int two)
{
  const size_t bb = q8a_blk_bytes(type);
  const uint8_t *qs = b + (type == DQ_T_Q4_0 ? 2 : 6);
  const __m256i q0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
  const __m256i q1 = two ? _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qs + bb))) : _mm256_setzero_si256();
  /* low nibbles are elements 0..15 of a block, high ones 16..31 */
  __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
  q = _mm512_and_si512(_mm512_srlv_epi64(q, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4)), _mm512_set1_epi8(0x0F));
  if (type == DQ_T_Q5_0) {
    uint32_t h0, h1 = 0;
    memcpy(&h0, b + 2, 4);
    if (two) memcpy(&h1, b + bb + 2, 4);
    /* bit j of the 64-bit mask adds 16 to byte j (a masked add: one op) */
    q = _mm512_mask_add_epi8(q, (__mmask64)((uint64_t)h0 | (uint64_t)h1 << 32), q, _mm512_set1_epi8(16));
  }
  return q;
}

#if DQ_Q45_BITS
/* With VBMI, GFNI and BITALG (Zen 4/5, Ice Lake and later) a row's two
 * blocks come in with one masked load (the bytes past them read as 0 and
 * cannot fault), and vector ops alone take them apart: vpermb places the
 * quants, one affine op per 64-bit lane takes the low or the high nibbles,
 * vpshufbitqmb turns the fifth bits into the add's mask, and three word
 * permutes gather the four rows' scales; the results are the same bits as
 * q45_wq_pair and the scalar gathering. Why: the loop is bound by how many
 * ops it issues, not by one unit, and this takes about half as many per
 * row (the scalar loads, shifts and kmov of the fifth bits and scales were
 * most of them). Zen 5, 2026-11-29, against -DDQ_Q45_BITS=0:
 * scripts/ab-kernels.sh, 1 thread from cache, 896-element rows: Q5_0
 * 1.11x, Q4_0 1.22x; 2 threads from DRAM at ~40 GB/s 1.01 / 1.03x. Whole
 * 0.5B-shaped Q4_K_M decode (its 896-wide matrices are Q5_0; bench_engine
 * -p 0 -n 64 -t 2 -r 5, builds rotating, 3 rounds): 148.2-149.7 -> 155.5-156.1
 * t/s at 73-79 GB/s, 119.1-122.0 -> 116.4-123.6 (medians 121.5 / 122.4) at
 * 43-56. The long rows (dot_q45_z1) keep q45_wq_pair: 0.95-1.01x there. */
static inline __attribute__((always_inline)) __m512i q45_bytes(const int type, const uint8_t *b, const int two)
{
  const unsigned n = (unsigned)q8a_blk_bytes(type) * (two ? 2u : 1u);
  return _mm512_maskz_loadu_epi8((__mmask64)((1ull << n) - 1), b);
}

/* The quants of q45_bytes' blocks, unsigned, in element order (as q45_wq_pair). */
static inline __attribute__((always_inline)) __m512i q45_wq_bytes(const int type, const __m512i v)
{
  const int bb = (int)q8a_blk_bytes(type), qs = type == DQ_T_Q4_0 ? 2 : 6;
  /* byte k of the result: qs byte k & 15 of block k / 32 */
  const __m128i k15 = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i idx = _mm512_add_epi8(_mm512_broadcast_i32x4(k15),
                                      _mm512_inserti64x4(_mm512_set1_epi8((char)qs), _mm256_set1_epi8((char)(qs + bb)), 1));
  /* the affine op's matrix per 64-bit lane: 128-bit lanes 0, 2 keep bits
   * 0-3 (elements 0..15), lanes 1, 3 move bits 4-7 down (16..31) */
  const long long lo = 0x0102040800000000LL, hi = 0x1020408000000000LL;
  __m512i q = _mm512_gf2p8affine_epi64_epi8(_mm512_permutexvar_epi8(idx, v), _mm512_setr_epi64(lo, lo, hi, hi, lo, lo, hi, hi), 0);
  if (type == DQ_T_Q5_0) {
    /* qh of block ib is bits 16..47 of qword 0, of ib + 1 bits 0..31 of
     * qword 3 (22-byte blocks); byte k's selector picks element k's bit */
    const __m512i h = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 0, 0, 0, 3, 3, 3, 3), v);
    const __m256i e = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                                       24, 25, 26, 27, 28, 29, 30, 31);
    const __m512i sel = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_add_epi8(e, _mm256_set1_epi8(16))), e, 1);
    q = _mm512_mask_add_epi8(q, _mm512_bitshuffle_epi64_mask(h, sel), q, _mm512_set1_epi8(16));
  }
  return q;
}

/* The four rows' f16 scales as 16 halves [ib r0..r3 x 2, ib + 1 r0..r3 x 2]
 * (word 0 and word bb / 2 of each q45_bytes vector). */
static inline __attribute__((always_inline)) __m256i q45_scales4(const int type, __m512i v0, __m512i v1, __m512i v2,
                                                                 __m512i v3)
{
  const short h = (short)(q8a_blk_bytes(type) / 2);
  const __m256i i1 = _mm256_setr_epi16(0, 16, h, (short)(16 + h), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i t01 = _mm256_permutex2var_epi16(_mm512_castsi512_si256(v0), i1, _mm512_castsi512_si256(v1));
  const __m256i t23 = _mm256_permutex2var_epi16(_mm512_castsi512_si256(v2), i1, _mm512_castsi512_si256(v3));
  return _mm256_permutex2var_epi16(t01, _mm256_setr_epi16(0, 1, 16, 17, 0, 1, 16, 17, 2, 3, 18, 19, 2, 3, 18, 19), t23);
}
#endif

/* One step of dot_q45_4z: blocks ib and (if two) ib + 1 of four rows. */
static inline __attribute__((always_inline)) __m512 q45_4z_step(const int type, const uint8_t *b, const size_t off[4],
                                                                const dq_q8a *a, const int two, __m512 acc)
{
  const __m256i x0 = _mm256_loadu_si256((const __m256i *)a[0].qs);
  const __m256i x1 = two ? _mm256_loadu_si256((const __m256i *)a[1].qs) : _mm256_setzero_si256();
  const __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(x0), x1, 1);
  const __m512i o = _mm512_set1_epi8((char)(type == DQ_T_Q4_0 ? 8 : 16));
  const __m512i neg = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), o, x));
#if DQ_Q45_BITS
  const __m512i v0 = q45_bytes(type, b + off[0], two), v1 = q45_bytes(type, b + off[1], two);
  const __m512i v2 = q45_bytes(type, b + off[2], two), v3 = q45_bytes(type, b + off[3], two);
  const __m512 xd = _mm512_insertf32x8(_mm512_set1_ps(a[0].d), _mm256_set1_ps(two ? a[1].d : 0.0f), 1);
  const __m512 s = _mm512_mul_ps(_mm512_cvtph_ps(q45_scales4(type, v0, v1, v2, v3)), xd);
  const __m512i p0 = _mm512_dpbusd_epi32(neg, q45_wq_bytes(type, v0), x);
  const __m512i p1 = _mm512_dpbusd_epi32(neg, q45_wq_bytes(type, v1), x);
  const __m512i p2 = _mm512_dpbusd_epi32(neg, q45_wq_bytes(type, v2), x);
  const __m512i p3 = _mm512_dpbusd_epi32(neg, q45_wq_bytes(type, v3), x);
#else
  const size_t bb = q8a_blk_bytes(type);
  /* the rows' f16 scales, joined in general registers: [ib r0..r3, ib+1 r0..r3] */
  uint64_t d4 = 0, e4 = 0;
  _Pragma("GCC unroll 4")
  for (int r = 0; r < 4; r++) {
    uint16_t d, e = 0;
    memcpy(&d, b + off[r], 2);
    if (two) memcpy(&e, b + off[r] + bb, 2);
    d4 |= (uint64_t)d << (16 * r);
    e4 |= (uint64_t)e << (16 * r);
  }
  const __m256 xd = _mm256_setr_m128(_mm_set1_ps(a[0].d), _mm_set1_ps(two ? a[1].d : 0.0f));
  const __m256 s8 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_set_epi64x((long long)e4, (long long)d4)), xd);
  /* 128-bit lanes 0, 1 are block ib's halves, 2, 3 block ib + 1's */
  const __m512 s = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7),
                                         _mm512_castps256_ps512(s8));
  const __m512i p0 = _mm512_dpbusd_epi32(neg, q45_wq_pair(type, b + off[0], two), x);
  const __m512i p1 = _mm512_dpbusd_epi32(neg, q45_wq_pair(type, b + off[1], two), x);
  const __m512i p2 = _mm512_dpbusd_epi32(neg, q45_wq_pair(type, b + off[2], two), x);
  const __m512i p3 = _mm512_dpbusd_epi32(neg, q45_wq_pair(type, b + off[3], two), x);
#endif
  /* per 128-bit lane: [a0 b0 a1 b1] + [a2 b2 a3 b3], the same for rows 2, 3,
   * then the qword halves of those added: [a b c d] */
  const __m512i u01 = _mm512_add_epi32(_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1));
  const __m512i u23 = _mm512_add_epi32(_mm512_unpacklo_epi32(p2, p3), _mm512_unpackhi_epi32(p2, p3));
  const __m512i v = _mm512_add_epi32(_mm512_unpacklo_epi64(u01, u23), _mm512_unpackhi_epi64(u01, u23));
  return _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(v), acc);
}

/* One row, two blocks per step, a prefetch DQ_PF_ROW bytes ahead: the long
 * rows (more than DQ_ROWS_MAX_GROUP bytes in four), as Q8_0's go one at a
 * time. In-process A/B from DRAM as at dot_q45_4z (20 alternating passes,
 * 896 x 4864 Q5_0, 2048 x 8192 and 8192 x 2048 Q4_0), speed against the
 * 256-bit one-row kernel before it / against these rows four at a time
 * through dot_q45_4z: memory at 40-50 GB/s, the usual state, 1.02-1.09 /
 * 1.02-1.10; at 77 GB/s 1.16-1.22 / 0.83-0.87. Four at a time is faster
 * there, but slower than the old kernel in the usual state (0.95). */
static inline __attribute__((always_inline)) void dot_q45_z1(const int type, const uint8_t *w, const dq_q8a *a,
                                                             int64_t nb, float *out)
{
  const size_t bb = q8a_blk_bytes(type);
  const __m512i o = _mm512_set1_epi8((char)(type == DQ_T_Q4_0 ? 8 : 16));
  __m512 acc = _mm512_setzero_ps();
  for (int64_t ib = 0; ib < nb; ib += 2) {
    const int two = ib + 1 < nb;
    const uint8_t *b = w + (size_t)ib * bb;
    if (DQ_PF_ROW) _mm_prefetch((const char *)b + DQ_PF_ROW, _MM_HINT_T0);
    const __m256i x0 = _mm256_loadu_si256((const __m256i *)a[ib].qs);
    const __m256i x1 = two ? _mm256_loadu_si256((const __m256i *)a[ib + 1].qs) : _mm256_setzero_si256();
    const __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(x0), x1, 1);
    const __m512i neg = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), o, x));
    uint16_t d, e = 0;
    memcpy(&d, b, 2);
    if (two) memcpy(&e, b + bb, 2);
    /* [s(ib) x 8, s(ib + 1) x 8], each h2f(d) * a.d in one rounding */
    const __m128 s2 = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)d | (uint32_t)e << 16))),
                                 _mm_setr_ps(a[ib].d, two ? a[ib + 1].d : 0.0f, 0.0f, 0.0f));
    const __m512 s = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                           _mm512_castps128_ps512(s2));
    const __m512i p = _mm512_dpbusd_epi32(neg, q45_wq_pair(type, b, two), x);
    acc = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(p), acc);
  }
  *out = dq_hsum8_ps(_mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1)));
}

static inline __attribute__((always_inline)) void dot_q45_4z(const int type, const uint8_t *w, const size_t off[4],
                                                             size_t rb, const dq_q8a *a, int64_t nb, float out[4])
{
  const size_t bb = q8a_blk_bytes(type);
  __m512 acc = _mm512_setzero_ps();
  int64_t ib = 0;
  for (; ib + 2 <= nb; ib += 2) {
    q8a_prefetch(DQ_ROWS, bb, w, rb, ib);
    q8a_prefetch(DQ_ROWS, bb, w, rb, ib + 1);
    acc = q45_4z_step(type, w + (size_t)ib * bb, off, a + ib, 1, acc);
  }
  if (ib < nb) acc = q45_4z_step(type, w + (size_t)ib * bb, off, a + ib, 0, acc);
  const __m256 t = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
}
#define dot_q45_group dot_q45_4z
#else
#define dot_q45_group dot_q45_4
#endif

/* n_rows rows of a q8a type, DQ_ROWS at a time; the branches fold per type. */
static inline __attribute__((always_inline)) void dot_q8a_n(const int type, const uint8_t *w, size_t rb, int64_t n_rows,
                                                            const dq_q8a *a, int64_t nb, int streamed, float *out)
{
  int64_t r = 0;
  if (type != DQ_T_Q8_0) {
    /* AVX2 groups long rows too: 4864-element Q5_0 rows, 2 threads from
     * DRAM, 10.9 GB/s one at a time, 14.0 grouped (Zen 3, alternating in one
     * process). With VNNI they go one at a time (dot_q45_z1), chosen by the
     * row's length, not the stride: dq_kq_dot's one row (stride 0) must take
     * the same path as the rows of a matrix. */
#if ROWS_VNNI
    if ((size_t)nb * q8a_blk_bytes(type) * DQ_ROWS > DQ_ROWS_MAX_GROUP) {
      for (; r < n_rows; r++) dot_q45_z1(type, w + (size_t)r * rb, a, nb, out + r);
      return;
    }
#endif
    size_t off[DQ_ROWS] = { 0, rb, 2 * rb, 3 * rb };
    for (; r + DQ_ROWS <= n_rows; r += DQ_ROWS) dot_q45_group(type, w + (size_t)r * rb, off, rb, a, nb, out + r);
    if (r < n_rows) {
      const int nr = (int)(n_rows - r);
      float o4[DQ_ROWS];
      for (int k = nr; k < DQ_ROWS; k++) off[k] = (size_t)(nr - 1) * rb;
      dot_q45_group(type, w + (size_t)r * rb, off, rb, a, nb, o4);
      for (int k = 0; k < nr; k++) out[r + k] = o4[k];
    }
    return;
  }
  /* Q8_0 rows stream one at a time (DQ_PF_ROW); rows read again for more
   * tokens go by four with VNNI, where a row costs fewer instructions */
  if (streamed || !ROWS_VNNI || rb * DQ_ROWS > DQ_ROWS_MAX_GROUP) {
    for (; r < n_rows; r++) dot_q8a_rows(type, 1, w + (size_t)r * rb, rb, a, nb, out + r);
    return;
  }
  for (; r + DQ_ROWS <= n_rows; r += DQ_ROWS) dot_q8a_rows(type, DQ_ROWS, w + (size_t)r * rb, rb, a, nb, out + r);
  switch (n_rows - r) {
  case 3: dot_q8a_rows(type, 3, w + (size_t)r * rb, rb, a, nb, out + r); break;
  case 2: dot_q8a_rows(type, 2, w + (size_t)r * rb, rb, a, nb, out + r); break;
  case 1: dot_q8a_rows(type, 1, w + (size_t)r * rb, rb, a, nb, out + r); break;
  default: break;
  }
}
static void dot_q8_0_n(const uint8_t *w, size_t rb, int64_t nr, const dq_q8a *a, int64_t nb, int streamed, float *out)
{
  dot_q8a_n(DQ_T_Q8_0, w, rb, nr, a, nb, streamed, out);
}
static void dot_q4_0_n(const uint8_t *w, size_t rb, int64_t nr, const dq_q8a *a, int64_t nb, int streamed, float *out)
{
  dot_q8a_n(DQ_T_Q4_0, w, rb, nr, a, nb, streamed, out);
}
static void dot_q5_0_n(const uint8_t *w, size_t rb, int64_t nr, const dq_q8a *a, int64_t nb, int streamed, float *out)
{
  dot_q8a_n(DQ_T_Q5_0, w, rb, nr, a, nb, streamed, out);
}

/* IQ4_NL, four rows per step as dot_q45_4, sharing each activation load and
 * the convert and FMA. Its codebook values reach 127, so the products go by
 * the sign trick per row and each row's int16 pair sums (<= 32258) are
 * widened before the rows are folded (in int32: [r0 r1 r2 r3] per 128-bit
 * lane, the low lane holding elements 0..15, the high 16..31). Fewer rows
 * repeat the last one, so every row comes out the same whatever the
 * grouping. The one-row kernel it replaced, without a prefetch for rows too
 * short for the hardware's, read 896-element rows at 6.9 GB/s (2 threads,
 * DRAM, Zen 3); this one 9.5 with 1 thread (Q4_0 7.4 in the same run).
 * Whole 0.5B-shaped IQ4_XS decode (41% of its bytes IQ4_NL), three
 * alternating rounds: 38.6, 35.3, 39.1 -> 44.3, 44.7, 46.6 t/s. */
static inline __attribute__((always_inline)) void dot_iq4nl_4(const uint8_t *w, const size_t off[4], size_t rb,
                                                              const dq_q8a *a, int64_t nb, float out[4])
{
  const size_t bb = sizeof(dq_blk_iq4_nl);
  const __m256i one = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ib++) {
    q8a_prefetch(DQ_ROWS, bb, w, rb, ib);
    const __m256i x = _mm256_loadu_si256((const __m256i *)a[ib].qs);
    const uint8_t *b = w + (size_t)ib * bb;
    __m256i p[4];
    uint64_t d4 = 0;
    _Pragma("GCC unroll 4")
    for (int r = 0; r < 4; r++) {
      uint16_t d;
      memcpy(&d, b + off[r], 2);
      d4 |= (uint64_t)d << (16 * r);
      const __m256i v = iq4_values(b + off[r] + 2);
      p[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(x, v)), one);
    }
    const __m256i t01 = _mm256_add_epi32(_mm256_unpacklo_epi32(p[0], p[1]), _mm256_unpackhi_epi32(p[0], p[1]));
    const __m256i t23 = _mm256_add_epi32(_mm256_unpacklo_epi32(p[2], p[3]), _mm256_unpackhi_epi32(p[2], p[3]));
    const __m256i t = _mm256_add_epi32(_mm256_unpacklo_epi64(t01, t23), _mm256_unpackhi_epi64(t01, t23));
    const __m128 s = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)d4)), _mm_set1_ps(a[ib].d));
    acc = _mm256_fmadd_ps(_mm256_set_m128(s, s), _mm256_cvtepi32_ps(t), acc);
  }
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)));
}

static void dot_iq4_nl_n(const uint8_t *w, size_t rb, int64_t n_rows, const dq_q8a *a, int64_t nb, float *out)
{
  size_t off[DQ_ROWS] = { 0, rb, 2 * rb, 3 * rb };
  int64_t r = 0;
  for (; r + DQ_ROWS <= n_rows; r += DQ_ROWS) dot_iq4nl_4(w + (size_t)r * rb, off, rb, a, nb, out + r);
  if (r < n_rows) {
    const int nr = (int)(n_rows - r);
    float o4[DQ_ROWS];
    for (int k = nr; k < DQ_ROWS; k++) off[k] = (size_t)(nr - 1) * rb;
    dot_iq4nl_4(w + (size_t)r * rb, off, rb, a, nb, o4);
    for (int k = 0; k < nr; k++) out[r + k] = o4[k];
  }
}

static float dot_f32(const float *w, const float *x, int64_t n)
{
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
  float s = dq_hsum8_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; i++) s += w[i] * x[i];
  return s;
}

static inline __m256 load8_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 load8_bf16(const uint16_t *p)
{
  __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static float dot_f16(const uint16_t *w, const float *x, int64_t n, int bf16)
{
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 w0 = bf16 ? load8_bf16(w + i) : load8_f16(w + i);
    __m256 w1 = bf16 ? load8_bf16(w + i + 8) : load8_f16(w + i + 8);
    a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
  }
  float s = dq_hsum8_ps(_mm256_add_ps(a0, a1));
  for (; i < n; i++) s += (bf16 ? dq_bf16_to_f32(w[i]) : h2f(w[i])) * x[i];
  return s;
}

/* ---- dequantization --------------------------------------------------- */

/* y[0..8) = d * q + off for 8 bytes in the low half of b (unsigned or signed). */
static inline void st8_u8(float *y, __m128i b, __m256 d, __m256 off)
{
  _mm256_storeu_ps(y, _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), off));
}
static inline void st8_s8(float *y, __m128i b, __m256 d)
{
  _mm256_storeu_ps(y, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b))));
}
/* 32 unsigned bytes -> y[0..32) = d * q + off */
static inline void st32_u8(float *y, __m256i q, __m256 d, __m256 off)
{
  __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
  st8_u8(y, lo, d, off);
  st8_u8(y + 8, _mm_srli_si128(lo, 8), d, off);
  st8_u8(y + 16, hi, d, off);
  st8_u8(y + 24, _mm_srli_si128(hi, 8), d, off);
}

static void deq_q8_0(const dq_blk_q8_0 *b, float *y, int64_t nb)
{
  for (int64_t ib = 0; ib < nb; ib++, y += DQ_QK) {
    __m256 d = _mm256_set1_ps(h2f(b[ib].d));
    __m256i q = _mm256_loadu_si256((const __m256i *)b[ib].qs);
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    st8_s8(y, lo, d);
    st8_s8(y + 8, _mm_srli_si128(lo, 8), d);
    st8_s8(y + 16, hi, d);
    st8_s8(y + 24, _mm_srli_si128(hi, 8), d);
  }
}

static void deq_q4_0(const dq_blk_q4_0 *b, float *y, int64_t nb)
{
  for (int64_t ib = 0; ib < nb; ib++, y += DQ_QK) {
    float d = h2f(b[ib].d);
    st32_u8(y, q4_0_unpack(b[ib].qs), _mm256_set1_ps(d), _mm256_set1_ps(-8 * d));
  }
}

static void deq_q45(int type, const void *row, float *y, int64_t nb)
{
  for (int64_t ib = 0; ib < nb; ib++, y += DQ_QK) {
    float d, m;
    int o;
    __m256i q = q45_block(type, row, ib, &d, &m, &o);
    st32_u8(y, q, _mm256_set1_ps(d), _mm256_set1_ps(m - o * d));
  }
}

static void deq_q45_k(int type, const void *row, float *y, int64_t nb)
{
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int64_t ib = 0; ib < nb; ib++, y += DQ_QKK) {
    const uint8_t *scales, *qs, *qh;
    uint16_t hd, hdmin;
    kq_fields(type, row, ib, &scales, &qs, &qh, &hd, &hdmin);
    uint8_t sc[8], m[8];
    dq_kq_scale_min(scales, sc, m);
    float d = h2f(hd), dmin = h2f(hdmin);
    __m256i hv = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
      __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
      __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if (qh) {
        __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * j))), b1 = _mm256_set1_epi8((char)(2 << (2 * j)));
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hv, b0), b0), _mm256_set1_epi8(16)));
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hv, b1), b1), _mm256_set1_epi8(16)));
      }
      st32_u8(y + 64 * j, lo, _mm256_set1_ps(d * sc[2 * j]), _mm256_set1_ps(-dmin * m[2 * j]));
      st32_u8(y + 64 * j + 32, hi, _mm256_set1_ps(d * sc[2 * j + 1]), _mm256_set1_ps(-dmin * m[2 * j + 1]));
    }
  }
}

static void deq_q6_k(const dq_blk_q6_k *w, float *y, int64_t nb)
{
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x30), k32 = _mm256_set1_epi8(32);
  for (int64_t ib = 0; ib < nb; ib++, y += DQ_QKK) {
    const dq_blk_q6_k *b = w + ib;
    float d = h2f(b->d);
    for (int h = 0; h < 2; h++) {
      __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
      __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
      __m256i hv = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hv, 4), m3));
      q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hv, 2), m3));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hv, m3));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hv, 2), m3));
      for (int k = 0; k < 4; k++) {
        __m256i s = _mm256_sub_epi8(q[k], k32); /* -32..31 */
        const int8_t *sc = b->scales + 8 * h + 2 * k;
        __m256 d0 = _mm256_set1_ps(d * sc[0]), d1 = _mm256_set1_ps(d * sc[1]);
        __m128i lo = _mm256_castsi256_si128(s), hi = _mm256_extracti128_si256(s, 1);
        float *o = y + 128 * h + 32 * k;
        st8_s8(o, lo, d0);
        st8_s8(o + 8, _mm_srli_si128(lo, 8), d0);
        st8_s8(o + 16, hi, d1);
        st8_s8(o + 24, _mm_srli_si128(hi, 8), d1);
      }
    }
  }
}

static void deq_f16(const uint16_t *w, float *y, int64_t n, int bf16)
{
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, bf16 ? load8_bf16(w + i) : load8_f16(w + i));
  for (; i < n; i++) y[i] = bf16 ? dq_bf16_to_f32(w[i]) : h2f(w[i]);
}

/* ---- activation quantization (bit-identical to the reference: same
 * d = amax/127, id = 1/d, and cvtps rounds to nearest even like lrintf) --- */

static inline float hmax_ps(__m256 v)
{
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

/* 32 floats -> 32 int8 (x * id rounded) stored at q; returns their sum. */
static inline int quant32(const float *x, __m256 id, int8_t *q)
{
  __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
  __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
  __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
  __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
  int sum = hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
  /* packs interleave 128-bit lanes; the permute restores element order */
  __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256((__m256i *)q, p);
  return sum;
}

static inline float amax_n(const float *x, int n)
{
  const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), abs));
  return hmax_ps(m);
}

static void quant_q8a_fast(const float *x, dq_q8a *y, int64_t n, int s_f16)
{
  for (int64_t ib = 0; ib < n / DQ_QK; ib++, x += DQ_QK) {
    float amax = amax_n(x, DQ_QK), d = amax / 127, id = amax > 0 ? 127 / amax : 0;
    int sum = quant32(x, _mm256_set1_ps(id), y[ib].qs);
    y[ib].d = _cvtsh_ss(_cvtss_sh(d, 0));
    y[ib].s = s_f16 ? _cvtsh_ss(_cvtss_sh(d * (float)sum, 0)) : y[ib].d * (float)sum;
  }
}

static void quant_q8k_fast(const float *x, dq_q8k *y, int64_t n)
{
  for (int64_t ib = 0; ib < n / DQ_QKK; ib++, x += DQ_QKK) {
    float amax = amax_n(x, DQ_QKK), max = 0;
    if (!(amax > 0)) {
      memset(&y[ib], 0, sizeof y[ib]);
      continue;
    }
    for (int i = 0; i < DQ_QKK; i++) /* the first element of largest magnitude, as the reference */
      if (fabsf(x[i]) == amax) { max = x[i]; break; }
    float iscale = -127 / max;
    __m256 vis = _mm256_set1_ps(iscale);
    /* |iscale * x| <= 127 (+ rounding), so the int8 saturation of quant32 is the min(127, .) */
    for (int j = 0; j < DQ_QKK / 32; j++) quant32(x + 32 * j, vis, y[ib].qs + 32 * j);
    for (int j = 0; j < DQ_QKK / 32; j++) { /* bsums: sums of 16 int8 */
      __m256i q16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(y[ib].qs + 32 * j)));
      __m256i r16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(y[ib].qs + 32 * j + 16)));
      __m256i a = _mm256_madd_epi16(q16, _mm256_set1_epi16(1)), b = _mm256_madd_epi16(r16, _mm256_set1_epi16(1));
      y[ib].bsums[2 * j] = (int16_t)hsum_epi32(a);
      y[ib].bsums[2 * j + 1] = (int16_t)hsum_epi32(b);
    }
    y[ib].d = 1 / iscale;
  }
}

/* ---- int8 GEMM for 32-element blocks with one scale (prefill) ----------
 * Layout (see quant_internal.h): a row of nb blocks is cut into groups of
 * 8 blocks, the rest into groups of 4, 2 and 1. Within a group of G blocks
 * the G x 32 bytes are stored as G vectors of 8 dwords; lane l of every
 * vector belongs to block l / (8/G), so after G dpbusd steps each int32 lane
 * holds a whole block's sum (G = 8) or part of one (G < 8) and the block
 * scales are applied to 8 lanes with one cvt + mul + fma, instead of a
 * horizontal sum per block. Activations are stored as u8 (q + 128) so dpbusd
 * (u8 x s8) applies with no sign trick; the 128 * sum(w) this adds is
 * subtracted through the accumulator's start value, kept per weight row.
 * With AVX2 alone maddubs + madd stands for dpbusd: exact where no pair of
 * products can pass int16, i.e. weights of at most 32 in magnitude
 * (255 * 32 * 2 < 32767): every type but Q8_0, and those sum two steps in
 * int16 before widening (2 * 2 * 255 * 32 < 32767), one madd per two
 * maddubs. Q8_0's weights reach 128: its activations stay signed (G8_S8)
 * and the products are |w| * (x signed like w), as in its mat-vec, one
 * madd per maddubs; |x| <= 127 keeps the negation exact and 128 * 127 * 2
 * fits. On a 2-core Zen 3 that kernel (g8_q8_4x2) does 1.05-1.5x
 * dequantize + sgemm at 512 tokens and ~2x at 16 (the figures are at
 * dq_gemm8_min_tok below). */
#define DQ_HAVE_GEMM8 1
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define G8_VNNI 1
#define G8_S8(type) 0
#else
#define G8_VNNI 0
/* signed activations, sign trick: the types whose weights pass 32 in magnitude */
#define G8_S8(type) ((type) == DQ_T_Q8_0 || (type) == DQ_T_IQ4_NL || (type) == DQ_T_IQ4_XS)
#endif

static inline int g8_size(int64_t left) { return left >= 8 ? 8 : left & 4 ? 4 : left & 2 ? 2 : 1; }
static inline int g8_lane_shift(int G) { return G == 8 ? 0 : G == 4 ? 1 : G == 2 ? 2 : 3; } /* lane l: block l >> shift */
static inline int64_t g8_groups(int64_t nb) { return nb / 8 + ((nb & 4) != 0) + ((nb & 2) != 0) + (nb & 1); }

/* Store the G block vectors v as G group vectors at dst (32-byte aligned). */
static inline void g8_interleave(const __m256i *v, int G, uint8_t *dst)
{
  if (G == 8) { /* 8 x 8 dword transpose: vector j = dword j of each block */
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_castsi256_ps(v[i]);
    dq_transpose8_ps(r);
    for (int j = 0; j < 8; j++) _mm256_store_ps((float *)(void *)(dst + 32 * j), r[j]);
    return;
  }
  __m256i *o = (__m256i *)(void *)dst;
  if (G == 4) { /* 4 x 4 qword transpose: vector j = qword j of each block */
    __m256i t0 = _mm256_unpacklo_epi64(v[0], v[1]), t1 = _mm256_unpackhi_epi64(v[0], v[1]);
    __m256i t2 = _mm256_unpacklo_epi64(v[2], v[3]), t3 = _mm256_unpackhi_epi64(v[2], v[3]);
    _mm256_store_si256(o, _mm256_permute2x128_si256(t0, t2, 0x20));
    _mm256_store_si256(o + 1, _mm256_permute2x128_si256(t1, t3, 0x20));
    _mm256_store_si256(o + 2, _mm256_permute2x128_si256(t0, t2, 0x31));
    _mm256_store_si256(o + 3, _mm256_permute2x128_si256(t1, t3, 0x31));
  } else if (G == 2) { /* vector j = 16-byte half j of each block */
    _mm256_store_si256(o, _mm256_permute2x128_si256(v[0], v[1], 0x20));
    _mm256_store_si256(o + 1, _mm256_permute2x128_si256(v[0], v[1], 0x31));
  } else {
    _mm256_store_si256(o, v[0]);
  }
}

/* Super-block sb of a Q4_K / Q5_K row as its 8 sub-blocks of 32: bytes q
 * (0..31), scales d and mins m, value = d * q - m. */
static inline void g8_wgroup_k(int type, const void *row, int64_t sb, __m256i v[8], float d[8], float m[8])
{
  const uint8_t *scales, *qs, *qh;
  uint16_t hd, hdmin;
  kq_fields(type, row, sb, &scales, &qs, &qh, &hd, &hdmin);
  uint8_t sc[8], mn[8];
  dq_kq_scale_min(scales, sc, mn);
  const float dd = h2f(hd), dm = h2f(hdmin);
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  __m256i hv = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
  for (int k = 0; k < 4; k++) { /* 32 bytes: lo nibbles are sub-block 2k, hi 2k+1; bit j of qh[l] is bit 4 of element l of j */
    __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * k));
    v[2 * k] = _mm256_and_si256(q, m4);
    v[2 * k + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    if (qh) {
      v[2 * k] = _mm256_or_si256(v[2 * k], _mm256_slli_epi16(_mm256_and_si256(hv, one), 4));
      v[2 * k + 1] = _mm256_or_si256(v[2 * k + 1], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 1), one), 4));
      hv = _mm256_srli_epi16(hv, 2);
    }
  }
  for (int j = 0; j < 8; j++) {
    d[j] = dd * sc[j];
    m[j] = dm * mn[j];
  }
}

/* Block ib of a Q8_0 / Q4_0 / Q5_0 / IQ4_NL row, or 32-element block ib of
 * an IQ4_XS row, as 32 signed bytes (value = d * q). */
static inline __m256i g8_wblock(int type, const void *row, int64_t ib, float *d)
{
  if (type == DQ_T_IQ4_NL) {
    const dq_blk_iq4_nl *b = (const dq_blk_iq4_nl *)row + ib;
    *d = h2f(b->d);
    return iq4_values(b->qs);
  }
  if (type == DQ_T_IQ4_XS) { /* d * (ls - 32): an f16 times a 6-bit int, exact */
    const dq_blk_iq4_xs *b = (const dq_blk_iq4_xs *)row + ib / 8;
    const int j = (int)(ib % 8);
    *d = h2f(b->d) * (float)(dq_iq4xs_scale(b, j) - 32);
    return iq4_values(b->qs + 16 * j);
  }
  if (type == DQ_T_Q8_0) {
    const dq_blk_q8_0 *b = (const dq_blk_q8_0 *)row + ib;
    *d = h2f(b->d);
    return _mm256_loadu_si256((const __m256i *)b->qs);
  }
  if (type == DQ_T_Q4_0) {
    const dq_blk_q4_0 *b = (const dq_blk_q4_0 *)row + ib;
    *d = h2f(b->d);
    return _mm256_sub_epi8(q4_0_unpack(b->qs), _mm256_set1_epi8(8));
  }
  const dq_blk_q5_0 *b = (const dq_blk_q5_0 *)row + ib;
  *d = h2f(b->d);
  return _mm256_sub_epi8(q5_add_hbits(q4_0_unpack(b->qs), b->qh), _mm256_set1_epi8(16));
}

/* Super-block sb of a Q6_K row as 8 blocks of 32 signed bytes q - 32 and the
 * scales of their halves: d16[2j] for elements 0..15 of block j, d16[2j+1]
 * for 16..31 (d * sc: an f16 times an int8, exact in f32). */
static inline void g8_wgroup_q6k(const void *row, int64_t sb, __m256i v[8], float d16[16])
{
  const dq_blk_q6_k *b = (const dq_blk_q6_k *)row + sb;
  for (int h = 0; h < 2; h++) {
    q6k_half(b, h, v + 4 * h);
    for (int k = 0; k < 4; k++) v[4 * h + k] = _mm256_sub_epi8(v[4 * h + k], _mm256_set1_epi8(32));
  }
  const float d = h2f(b->d);
  for (int j = 0; j < 16; j++) d16[j] = d * (float)b->scales[j];
}

/* Super-block sb of a Q3_K row as 8 blocks of 32 signed bytes q - 4 (its
 * element order: see q23_half) and the scales of their halves, as Q6_K's:
 * d16[2j] for elements 0..15 of block j, d16[2j+1] for 16..31. */
static inline void g8_wgroup_q3k(const void *row, int64_t sb, __m256i v[8], float d16[16])
{
  const dq_blk_q3_k *b = (const dq_blk_q3_k *)row + sb;
  const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4), hm = _mm256_loadu_si256((const __m256i *)b->hmask);
  for (int h = 0; h < 2; h++) {
    const __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * h));
    for (int j = 0; j < 4; j++) {
      const int s = 4 * h + j; /* the hmask bit of this block */
      const __m256i hb = _mm256_and_si256(s >= 2 ? _mm256_srli_epi16(hm, s - 2) : _mm256_slli_epi16(hm, 2 - s), m4);
      v[s] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3), hb), m4);
    }
  }
  uint8_t sc[16];
  dq_kq_q3k_scales(b->scales, sc);
  const float d = h2f(b->d);
  for (int j = 0; j < 16; j++) d16[j] = d * (float)(sc[j] - 32); /* exact */
}

/* The int8 GEMM against the other paths, bench_kernels --cpu --ntok N, 1
 * thread, GFLOP/s for 4864x896 / 896x4864 (2-core Zen 4, AVX512-VNNI,
 * shared machine, load 3-5; -DDQ_G8_MIN_TOK=2 vs =1000000):
 *   Q8_0 n_tok 2: 59 / 62 vs mat-vec 43 / 66 (earlier run 52 / 59 vs 61 / 66:
 *        a wash, so 2 stays on the mat-vec, which decode shares);
 *        3: 54 / 58 vs 44 / 47 (earlier 72 / 80 vs 62 / 65);
 *        16: 132 / 144 vs sgemm 50 / 50; 512: 273 / 279 vs sgemm 89 / 90;
 *   Q4_0 n_tok 3: 49 / 54 vs 39 / 43, 512: 270 / 286 vs 86 / 90;
 *   Q5_0 n_tok 3: 46 / 50 vs 34 / 36, 512: 267 / 275 vs 94 / 89.
 * 2 threads, 512 tokens, Q8_0: 424 / 408 (CPU time).
 * Q4_K / Q5_K (Q8_K activations, as their mat-vec; 896x4864 only), int8
 * GEMM vs mat-vec: n_tok 2: 33 / 33 vs 88 / 70; 4: 58 / 60 vs 92 / 69;
 * 8: 94 / 94 vs 92 / 68; 16: 132 / 131 vs 90 / 66; 32: 155 / 151 vs sgemm
 * 65 / 64; 512: 205 / 200 vs sgemm 92 / 88. Their repacking (scales and
 * mins per sub-block) costs more per row, so they start at 8 tokens. Q6_K
 * (a scale per half block) at 512: 235 vs sgemm 99-104 (896x4864), and its
 * mat-vec is no faster per token than Q4_K's, so it starts at 8 too.
 * Those were one thread on one matrix. The whole model with 2 threads says
 * otherwise: on a 2-core Zen 5 (2026-11-29, `docq bench -p N -n 0 -t 2 -r 5`
 * on the 0.5B-shaped files, separate builds alternating, 3 rounds, t/s) the
 * direct path, which streams each weight row once for all the batch's
 * tokens, beats the GEMM's repacking up to about 11 tokens. Q8_0 file,
 * GEMM / direct: 3 tokens 86 / 155, 4 120 / 182, 6 160 / 217-240,
 * 8 204 / 240, 10 240 / 255, 12 275 / 265; so 12. Q4_K_M file (Q5_0 and
 * Q8_0 at 12), its K-quants GEMM / direct: 8 tokens 204 / 228, 12 276-290
 * / 299, 16 340-352 / 346-354; so 16. */
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#ifndef DQ_G8_MIN_TOK
#define DQ_G8_MIN_TOK 12
#endif
#ifndef DQ_G8_MIN_TOK_K
#define DQ_G8_MIN_TOK_K 16
#endif
#else
/* AVX2 alone (maddubs + madd, quant_avx2.c): bench_kernels --cpu 1 thread,
 * best of 5, int8 GEMM vs the other paths, on a 2-core Zen 3 (2026-11-27),
 * Q4_K 896x4864: 4 tokens 42-47 vs 51-67 GFLOP/s, 16: 35-59 vs 61-64, so the
 * K-quants start at 32. Q8_0 (sign trick) against dequant + sgemm, one
 * 256-row tile, 896 / 4864 inputs, median of 20-40 alternating runs
 * (2026-11-27): 16 tokens 2.2x / 2.3x, 32: 1.5x / 1.9x, 128: 1.1x / 1.5x,
 * 512: 1.05-1.3x / 1.2-1.5x; Q4_0 at 16: 2.2x. So Q8_0 / Q4_0 / Q5_0 start
 * where sgemm would, at 16. */
#ifndef DQ_G8_MIN_TOK
#define DQ_G8_MIN_TOK 16
#endif
#ifndef DQ_G8_MIN_TOK_K
#define DQ_G8_MIN_TOK_K 32
#endif
#endif

int64_t dq_gemm8_min_tok(int type) { return dq_kq_act_kind(type) == 2 ? DQ_G8_MIN_TOK_K : DQ_G8_MIN_TOK; }

int dq_gemm8_supported(int type)
{
  return type == DQ_T_Q8_0 || type == DQ_T_Q4_0 || type == DQ_T_Q5_0 || type == DQ_T_Q4_K || type == DQ_T_Q5_K ||
         type == DQ_T_Q6_K || type == DQ_T_Q3_K || type == DQ_T_IQ4_NL || type == DQ_T_IQ4_XS;
}
/* a scale per 16 elements: the kernel scales each half of a lane's block */
static int g8_halves(int type) { return type == DQ_T_Q6_K || type == DQ_T_Q3_K; }
int dq_gemm8_act_format(int type) { return dq_kq_act_kind(type) * 2 + G8_S8(type); }
static int g8_has_min(int type) { return type == DQ_T_Q4_K || type == DQ_T_Q5_K; }
size_t dq_gemm8_act_bytes(int64_t n) { int64_t nb = n / DQ_QK; return (size_t)(nb + 2 * g8_groups(nb)) * 32; }
size_t dq_gemm8_w_bytes(int64_t n) { int64_t nb = n / DQ_QK; return (size_t)(nb + 4 * g8_groups(nb)) * 32; }

void dq_gemm8_pack_w(int type, const void *row, void *dst, int64_t n)
{
  const int64_t nb = n / DQ_QK, ng = g8_groups(nb);
  uint8_t *q = dst;
  float *sd = (float *)(void *)(q + nb * 32);
  int32_t *cd = (int32_t *)(void *)(q + (nb + ng) * 32);
  float *md = (float *)(void *)(q + (nb + 2 * ng) * 32);
  if (g8_halves(type)) { /* scales of elements 0..15 in sd, 16..31 in md; their sums in cd and after md */
    int32_t *cd1 = (int32_t *)(void *)(q + (nb + 3 * ng) * 32);
    for (int64_t gi = 0; gi < ng; gi++) { /* n is a multiple of 256: every group is a super-block */
      __m256i v[8], c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
      float d16[16];
      if (type == DQ_T_Q6_K) g8_wgroup_q6k(row, gi, v, d16);
      else g8_wgroup_q3k(row, gi, v, d16);
      g8_interleave(v, 8, q + 256 * gi);
      for (int l = 0; l < 8; l++) {
        sd[8 * gi + l] = d16[2 * l];
        md[8 * gi + l] = d16[2 * l + 1];
      }
      for (int j = 0; j < 8; j++) { /* steps 0-3 are elements 0..15 of every lane's block, 4-7 are 16..31 */
        __m256i p = dot_u8s8(_mm256_set1_epi8((char)0x80), _mm256_load_si256((const __m256i *)(q + 256 * gi + 32 * j)));
        if (j < 4) c0 = _mm256_add_epi32(c0, p);
        else c1 = _mm256_add_epi32(c1, p);
      }
      _mm256_store_si256((__m256i *)(cd + 8 * gi), _mm256_sub_epi32(_mm256_setzero_si256(), c0));
      _mm256_store_si256((__m256i *)(cd1 + 8 * gi), _mm256_sub_epi32(_mm256_setzero_si256(), c1));
    }
    return;
  }
  for (int64_t gi = 0, b = 0; gi < ng; gi++) {
    const int G = g8_size(nb - b), sh = g8_lane_shift(G);
    __m256i v[8];
    float d[8], m[8] = { 0 };
    if (g8_has_min(type)) g8_wgroup_k(type, row, b / 8, v, d, m); /* n is a multiple of 256: G == 8 */
    else
      for (int i = 0; i < G; i++) v[i] = g8_wblock(type, row, b + i, &d[i]);
    g8_interleave(v, G, q + 32 * b);
    for (int l = 0; l < 8; l++) {
      sd[8 * gi + l] = d[l >> sh];
      md[8 * gi + l] = m[l >> sh] / (float)(1 << sh); /* a block's lanes share its min term (exact: a power of 2) */
    }
    __m256i c = _mm256_setzero_si256();
    for (int j = 0; !G8_S8(type) && j < G; j++)
      c = _mm256_add_epi32(c, dot_u8s8(_mm256_set1_epi8((char)0x80), _mm256_load_si256((const __m256i *)(q + 32 * (b + j)))));
    _mm256_store_si256((__m256i *)(cd + 8 * gi), _mm256_sub_epi32(_mm256_setzero_si256(), c));
    b += G;
  }
}

void dq_gemm8_pack_act(int type, const float *x, void *dst, int64_t n)
{
  const int64_t nb = n / DQ_QK, ng = g8_groups(nb);
  uint8_t *q = dst;
  float *sd = (float *)(void *)(q + nb * 32), *ss = sd + 8 * ng;
  if (dq_kq_act_kind(type) == 2) { /* Q8_K: one group per 256 elements, one scale for its 8 lanes */
    for (int64_t gi = 0; gi < ng; gi++) {
      dq_q8k a;
      __m256i v[8];
      quant_q8k_fast(x + DQ_QKK * gi, &a, DQ_QKK);
      for (int i = 0; i < 8; i++)
        v[i] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(a.qs + 32 * i)), _mm256_set1_epi8(G8_S8(type) ? 0 : (char)0x80));
      g8_interleave(v, 8, q + 256 * gi);
      for (int l = 0; l < 8; l++) {
        sd[8 * gi + l] = a.d;
        ss[8 * gi + l] = a.d * (float)(a.bsums[2 * l] + a.bsums[2 * l + 1]);
      }
    }
    return;
  }
  for (int64_t gi = 0, b = 0; gi < ng; gi++) {
    const int G = g8_size(nb - b), sh = g8_lane_shift(G);
    dq_q8a a[8];
    __m256i v[8];
    quant_q8a_fast(x + DQ_QK * b, a, DQ_QK * G, 0);
    for (int i = 0; i < G; i++)
      v[i] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)a[i].qs), _mm256_set1_epi8(G8_S8(type) ? 0 : (char)0x80));
    g8_interleave(v, G, q + 32 * b);
    for (int l = 0; l < 8; l++) {
      sd[8 * gi + l] = a[l >> sh].d;
      ss[8 * gi + l] = a[l >> sh].s;
    }
    b += G;
  }
}

/* Micro-kernel step: R weight rows x T tokens, R*T int32 and R*T float
 * accumulators (the float ones spill a little: they are touched once per
 * group). bench_kernels --cpu, 1 thread, 512 tokens, median GFLOP/s for
 * 4864x896 / 896x4864: 4x4 268-281 / 286-295, 4x3 263 / 271-275,
 * 3x4 248 / 249-253, 3x5 221-251 / 228-262, 5x3 230-246 / 227-242,
 * 2x6 231-242 / 240, 6x2 238-243 / 209-232, 2x8 231 / 238-249. Loading each
 * weight vector once into a register (the asm below) instead of letting GCC
 * fold it into all T dpbusd took 4x4 from ~225 to ~280. */
#ifndef DQ_G8_R
#define DQ_G8_R 4 /* weight rows per micro-kernel step */
#endif
#ifndef DQ_G8_T
#if G8_VNNI
#define DQ_G8_T 4 /* tokens per micro-kernel step (Q8_0, Q4_0, Q5_0) */
#else
#define DQ_G8_T 2 /* AVX2 has 16 vector registers, not 32 */
#endif
#endif
/* The K-quants' kernel (a min or a second scale per lane, applied in float)
 * does best at three tokens: 1 thread, 512 tokens, 1536x8960, a throwaway
 * driver around dq_matmul, GFLOP/s at 4x4 -> 4x3: Q4_K 220-231 -> 263-267,
 * Q5_K 231-232 -> 262-263, Q6_K 222-224 -> 256-257 (Q8_0 297 -> 289-292,
 * so it keeps 4x4). Folding the min into the main loop instead: 211-213
 * (4x4), 238-239 (4x3). */
#ifndef DQ_G8_T_K
#if G8_VNNI
#define DQ_G8_T_K 3
#else
#define DQ_G8_T_K 2
#endif
#endif
_Static_assert(DQ_G8_T_K <= DQ_G8_T, "the accumulators are sized by DQ_G8_T");

/* G dword steps of a group starting at block b, ia[r][t] += w[r] . a[t],
 * widened to int32 every step: VNNI's dpbusd, or without it Q8_0's
 * |w| * (x signed like w) (|w| <= 128 as u8; x in +-127 negates exactly). */
static inline __attribute__((always_inline)) void g8_steps1(const int R, const int T, const int G,
                                                            __m256i ia[DQ_G8_R][DQ_G8_T], const uint8_t *w, size_t ws,
                                                            const uint8_t *a, size_t as, int64_t b)
{
#pragma GCC unroll 8
  for (int j = 0; j < G; j++) {
    __m256i xv[DQ_G8_T];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) xv[t] = _mm256_load_si256((const __m256i *)(a + t * as + 32 * (b + j)));
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      __m256i wv = _mm256_load_si256((const __m256i *)(w + r * ws + 32 * (b + j)));
      __asm__("" : "+v"(wv)); /* one load per row, not one folded into each product */
#if G8_VNNI
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) ia[r][t] = _mm256_dpbusd_epi32(ia[r][t], xv[t], wv);
#else
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) ia[r][t] = _mm256_add_epi32(ia[r][t], dot_s8s8(wv, xv[t]));
#endif
    }
  }
}

#if G8_VNNI
#define g8_steps(R, T, G, ia, w, ws, a, as, b, S8) g8_steps1(R, T, G, ia, w, ws, a, as, b)
#else
#ifndef DQ_G8_S
#define DQ_G8_S 2 /* steps summed in int16: the most that cannot overflow for weights of magnitude 32 */
#endif
_Static_assert(DQ_G8_S >= 1 && DQ_G8_S <= 2, "DQ_G8_S * 2 * 255 * 32 must stay below 32768");
/* The same without VNNI: u8 activations (q + 128) x weights of magnitude <=
 * 32, DQ_G8_S steps summed in int16 per madd; or Q8_0 (S8) by g8_steps1. */
static inline __attribute__((always_inline)) void g8_steps(const int R, const int T, const int G,
                                                           __m256i ia[DQ_G8_R][DQ_G8_T], const uint8_t *w, size_t ws,
                                                           const uint8_t *a, size_t as, int64_t b, const int S8)
{
  if (S8) {
    g8_steps1(R, T, G, ia, w, ws, a, as, b);
    return;
  }
  const int S = G < DQ_G8_S ? G : DQ_G8_S;
  const __m256i one = _mm256_set1_epi16(1);
#pragma GCC unroll 8
  for (int j = 0; j < G; j += S) {
    __m256i xv[DQ_G8_S][DQ_G8_T];
#pragma GCC unroll 8
    for (int s = 0; s < S; s++)
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) xv[s][t] = _mm256_load_si256((const __m256i *)(a + t * as + 32 * (b + j + s)));
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) {
        __m256i p = _mm256_maddubs_epi16(xv[0][t], _mm256_load_si256((const __m256i *)(w + r * ws + 32 * (b + j))));
#pragma GCC unroll 8
        for (int s = 1; s < S; s++)
          p = _mm256_add_epi16(p, _mm256_maddubs_epi16(xv[s][t], _mm256_load_si256((const __m256i *)(w + r * ws + 32 * (b + j + s)))));
        ia[r][t] = _mm256_add_epi32(ia[r][t], _mm256_madd_epi16(p, one));
      }
  }
}
#endif

/* out[t * ldo + r] = dot(weight row r, activation t) for R rows x T tokens.
 * Every output is computed the same way whatever R and T are. */
static inline __attribute__((always_inline)) void g8_kernel(const int R, const int T, const int MIN, const uint8_t *w,
                                                            size_t ws, const uint8_t *a, size_t as, int64_t nb,
                                                            float *out, int64_t ldo)
{
  const int64_t ng = g8_groups(nb), nfull = nb / 8;
  const uint8_t *wsc = w + nb * 32, *wc = w + (nb + ng) * 32, *wm = w + (nb + 2 * ng) * 32, *wc1 = w + (nb + 3 * ng) * 32;
  const uint8_t *asc = a + nb * 32, *asm_ = a + (nb + ng) * 32;
  __m256 fa[DQ_G8_R][DQ_G8_T];
  __m256i ia[DQ_G8_R][DQ_G8_T];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) fa[r][t] = _mm256_setzero_ps();
  int64_t b = 0;
  for (int64_t gi = 0; gi < ng; gi++) {
    const int G = gi < nfull ? 8 : g8_size(nb - b);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      __m256i c = _mm256_load_si256((const __m256i *)(wc + r * ws + 32 * gi));
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) ia[r][t] = c;
    }
    if (MIN == 2) { /* Q6_K: a scale per half block, so the first half is scaled and the sums restart */
      g8_steps(R, T, 4, ia, w, ws, a, as, b, 0);
#pragma GCC unroll 8
      for (int r = 0; r < R; r++) {
        __m256 dw = _mm256_load_ps((const float *)(const void *)(wsc + r * ws + 32 * gi));
        __m256i c = _mm256_load_si256((const __m256i *)(wc1 + r * ws + 32 * gi));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
          __m256 dx = _mm256_load_ps((const float *)(const void *)(asc + t * as + 32 * gi));
          fa[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[r][t]), _mm256_mul_ps(dw, dx), fa[r][t]);
          ia[r][t] = c;
        }
      }
      g8_steps(R, T, 4, ia, w, ws, a, as, b + 4, 0);
    } else if (G == 8) g8_steps(R, T, 8, ia, w, ws, a, as, b, MIN == 3); /* unrolled */
    else g8_steps(R, T, G, ia, w, ws, a, as, b, MIN == 3);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      __m256 dw = _mm256_load_ps((const float *)(const void *)((MIN == 2 ? wm : wsc) + r * ws + 32 * gi));
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) {
        __m256 dx = _mm256_load_ps((const float *)(const void *)(asc + t * as + 32 * gi));
        fa[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[r][t]), _mm256_mul_ps(dw, dx), fa[r][t]);
      }
    }
    b += G;
  }
  /* - m * (dx * sum q_x) per block, in a loop of its own: inside the one
   * above it cost 30% (bench_kernels Q4_K 896x4864: 185 vs 260 GFLOP/s
   * without it), the extra live vectors spilling the accumulators */
  for (int64_t gi = 0; MIN == 1 && gi < ng; gi++) {
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      __m256 mw = _mm256_load_ps((const float *)(const void *)(wm + r * ws + 32 * gi));
#pragma GCC unroll 8
      for (int t = 0; t < T; t++)
        fa[r][t] = _mm256_fnmadd_ps(mw, _mm256_load_ps((const float *)(const void *)(asm_ + t * as + 32 * gi)), fa[r][t]);
    }
  }
  /* horizontal sums, four rows at a time: [r0 r1 r2 r3] per token */
#pragma GCC unroll 8
  for (int t = 0; t < T; t++)
#pragma GCC unroll 8
    for (int r0 = 0; r0 < R; r0 += 4) {
      __m256 z = _mm256_setzero_ps();
      __m256 f0 = fa[r0][t], f1 = r0 + 1 < R ? fa[r0 + 1][t] : z;
      __m256 f2 = r0 + 2 < R ? fa[r0 + 2][t] : z, f3 = r0 + 3 < R ? fa[r0 + 3][t] : z;
      __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(f0, f1), _mm256_hadd_ps(f2, f3));
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
      float *o = out + t * ldo + r0;
      if (R - r0 >= 4) {
        _mm_storeu_ps(o, s);
      } else {
        float tmp[4];
        _mm_storeu_ps(tmp, s);
        for (int r = 0; r < R - r0; r++) o[r] = tmp[r];
      }
    }
}

#define G8_CALL(R, T) g8_kernel(R, T, MIN, w, w_stride, a, act_stride, nb, out, ldo)
static inline __attribute__((always_inline)) void g8_kernel_any(int R, int T, const int MIN, const uint8_t *w,
                                                                size_t w_stride, const uint8_t *a, size_t act_stride,
                                                                int64_t nb, float *out, int64_t ldo)
{
  /* full steps get their own instance; the edges share small ones */
  if (R == DQ_G8_R && (MIN == 0 || MIN == 3) && T == DQ_G8_T) { G8_CALL(DQ_G8_R, DQ_G8_T); return; }
  if (R == DQ_G8_R && (MIN == 1 || MIN == 2) && T == DQ_G8_T_K) { G8_CALL(DQ_G8_R, DQ_G8_T_K); return; }
  if (R == DQ_G8_R) {
    for (int t = 0; t < T; t++, a += act_stride, out += ldo) G8_CALL(DQ_G8_R, 1);
    return;
  }
  for (int t = 0; t < T; t++, a += act_stride, out += ldo)
    for (int r = 0; r < R; r++) g8_kernel(1, 1, MIN, w + r * w_stride, w_stride, a, act_stride, nb, out + r, ldo);
}
static void g8_kernel_nomin(int R, int T, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, int64_t nb,
                            float *out, int64_t ldo)
{
  g8_kernel_any(R, T, 0, w, ws, a, as, nb, out, ldo);
}
static void g8_kernel_min(int R, int T, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, int64_t nb,
                          float *out, int64_t ldo)
{
  g8_kernel_any(R, T, 1, w, ws, a, as, nb, out, ldo);
}
static void g8_kernel_halves(int R, int T, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, int64_t nb,
                             float *out, int64_t ldo)
{
  g8_kernel_any(R, T, 2, w, ws, a, as, nb, out, ldo);
}

#if !G8_VNNI
/* Q8_0, 4 rows x 2 tokens, AVX2: |w| * (x signed like w), widened every
 * step. One step is written in asm: GCC's allocation of these 16 registers
 * spilled two of the sums (Q8_0 896 / 4864 inputs, 256 rows x 512 tokens:
 * 60-88 GFLOP/s with the spills, 80-95 without, same machine and hour). */
static void g8_q8_4x2(const uint8_t *w, size_t ws, const uint8_t *a, size_t as, int64_t nb, float *out, int64_t ldo)
{
  const int64_t ng = g8_groups(nb), nfull = nb / 8;
  const uint8_t *wsc = w + nb * 32, *asc = a + nb * 32;
  const __m256i one = _mm256_set1_epi16(1);
  __m256 f00 = _mm256_setzero_ps(), f01 = f00, f10 = f00, f11 = f00, f20 = f00, f21 = f00, f30 = f00, f31 = f00;
  int64_t b = 0;
  for (int64_t gi = 0; gi < ng; gi++) {
    const int G = gi < nfull ? 8 : g8_size(nb - b);
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (int j = 0; j < G; j++) {
      const uint8_t *ap = a + 32 * (b + j), *wp = w + 32 * (b + j);
#define G8_Q8_ROW(wrow, c0, c1)                 \
  "vmovdqa " wrow ", %%ymm2\n\t"                 \
  "vpabsb %%ymm2, %%ymm3\n\t"                    \
  "vpsignb %%ymm2, %%ymm0, %%ymm4\n\t"           \
  "vpsignb %%ymm2, %%ymm1, %%ymm5\n\t"           \
  "vpmaddubsw %%ymm4, %%ymm3, %%ymm4\n\t"        \
  "vpmaddubsw %%ymm5, %%ymm3, %%ymm5\n\t"        \
  "vpmaddwd %[one], %%ymm4, %%ymm4\n\t"          \
  "vpmaddwd %[one], %%ymm5, %%ymm5\n\t"          \
  "vpaddd %%ymm4, %[" c0 "], %[" c0 "]\n\t"     \
  "vpaddd %%ymm5, %[" c1 "], %[" c1 "]\n\t"
      __asm__("vmovdqa (%[a0]), %%ymm0\n\t"
              "vmovdqa (%[a1]), %%ymm1\n\t"
              G8_Q8_ROW("(%[w0])", "c00", "c01") G8_Q8_ROW("(%[w0],%[ws],1)", "c10", "c11")
              G8_Q8_ROW("(%[w2])", "c20", "c21") G8_Q8_ROW("(%[w2],%[ws],1)", "c30", "c31")
              : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21),
                [c30] "+x"(c30), [c31] "+x"(c31)
              : [a0] "r"(ap), [a1] "r"(ap + as), [w0] "r"(wp), [w2] "r"(wp + 2 * ws), [ws] "r"(ws), [one] "x"(one)
              : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "memory");
#undef G8_Q8_ROW
    }
    const __m256 dx0 = _mm256_load_ps((const float *)(const void *)(asc + 32 * gi));
    const __m256 dx1 = _mm256_load_ps((const float *)(const void *)(asc + as + 32 * gi));
#define G8_Q8_SCALE(r)                                                                        \
  {                                                                                           \
    const __m256 dw = _mm256_load_ps((const float *)(const void *)(wsc + r * ws + 32 * gi)); \
    f##r##0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(c##r##0), _mm256_mul_ps(dw, dx0), f##r##0); \
    f##r##1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(c##r##1), _mm256_mul_ps(dw, dx1), f##r##1); \
  }
    G8_Q8_SCALE(0) G8_Q8_SCALE(1) G8_Q8_SCALE(2) G8_Q8_SCALE(3)
#undef G8_Q8_SCALE
    b += G;
  }
  const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(f00, f10), _mm256_hadd_ps(f20, f30));
  const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(f01, f11), _mm256_hadd_ps(f21, f31));
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h0), _mm256_extractf128_ps(h0, 1)));
  _mm_storeu_ps(out + ldo, _mm_add_ps(_mm256_castps256_ps128(h1), _mm256_extractf128_ps(h1, 1)));
}

static void g8_kernel_s8(int R, int T, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, int64_t nb,
                         float *out, int64_t ldo)
{
  if (R == 4 && T == 2) g8_q8_4x2(w, ws, a, as, nb, out, ldo);
  else g8_kernel_any(R, T, 3, w, ws, a, as, nb, out, ldo);
}
#endif

void dq_gemm8_tile(int type, const void *w, size_t w_stride, int64_t n_rows, const void *act, size_t act_stride,
                   int64_t n_tok, int64_t n, float *out, int64_t ldo)
{
  const int64_t nb = n / DQ_QK;
  void (*kern)(int, int, const uint8_t *, size_t, const uint8_t *, size_t, int64_t, float *, int64_t) =
      g8_halves(type) ? g8_kernel_halves : g8_has_min(type) ? g8_kernel_min : g8_kernel_nomin;
#if !G8_VNNI
  if (G8_S8(type)) kern = g8_kernel_s8;
#endif
  const int TS = kern == g8_kernel_min || kern == g8_kernel_halves ? DQ_G8_T_K : DQ_G8_T; /* tokens per step */
  for (int64_t t0 = 0; t0 < n_tok; t0 += TS) {
    const int T = n_tok - t0 < TS ? (int)(n_tok - t0) : TS;
    const uint8_t *a = (const uint8_t *)act + (size_t)t0 * act_stride;
    for (int64_t r0 = 0; r0 < n_rows; r0 += DQ_G8_R) {
      const int R = n_rows - r0 < DQ_G8_R ? (int)(n_rows - r0) : DQ_G8_R;
      kern(R, T, (const uint8_t *)w + (size_t)r0 * w_stride, w_stride, a, act_stride, nb, out + t0 * ldo + r0, ldo);
    }
  }
}

#endif /* DQ_HAVE_AVX2 */

void dq_kq_quantize_act_fast(int type, const float *x, void *act, int64_t n)
{
#if DQ_HAVE_AVX2
  switch (dq_kq_act_kind(type)) {
  case 1: quant_q8a_fast(x, act, n, type == DQ_T_Q4_1 || type == DQ_T_Q5_1); break;
  case 2: quant_q8k_fast(x, act, n); break;
  default: break;
  }
#else
  dq_kq_quantize_act(type, x, act, n);
#endif
}

float dq_kq_dot(int type, const void *row, const float *xf, const void *act, int64_t n)
{
#if DQ_HAVE_ROWS
  float r;
  switch (type) { /* the multi-row kernels on one row, so both entry points agree bit for bit */
  case DQ_T_Q8_0: dot_q8_0_n(row, 0, 1, act, n / DQ_QK, 1, &r); return r;
  case DQ_T_Q4_0: dot_q4_0_n(row, 0, 1, act, n / DQ_QK, 1, &r); return r;
  case DQ_T_Q5_0: dot_q5_0_n(row, 0, 1, act, n / DQ_QK, 1, &r); return r;
  default: break;
  }
#endif
#if DQ_HAVE_AVX2
  switch (type) {
  case DQ_T_IQ4_NL: { /* the rows kernel on one row, as above */
    float r;
    dot_iq4_nl_n(row, 0, 1, act, n / DQ_QK, &r);
    return r;
  }
  case DQ_T_F32: return dot_f32(row, xf, n);
  case DQ_T_F16: return dot_f16(row, xf, n, 0);
  case DQ_T_BF16: return dot_f16(row, xf, n, 1);
  case DQ_T_Q4_1: return dot_q45(DQ_T_Q4_1, row, act, n / DQ_QK);
  case DQ_T_Q5_1: return dot_q45(DQ_T_Q5_1, row, act, n / DQ_QK);
  case DQ_T_Q4_K: return dot_q45_k_best(DQ_T_Q4_K, row, act, n / DQ_QKK);
  case DQ_T_Q5_K: return dot_q45_k_best(DQ_T_Q5_K, row, act, n / DQ_QKK);
  case DQ_T_Q6_K: return dot_q6_k(row, act, n / DQ_QKK);
  case DQ_T_Q2_K: return dot_q23_k(DQ_T_Q2_K, row, act, n / DQ_QKK);
  case DQ_T_Q3_K: return dot_q23_k(DQ_T_Q3_K, row, act, n / DQ_QKK);
  case DQ_T_IQ4_XS: return dot_iq4_xs(row, act, n / DQ_QKK);
  default: return 0;
  }
#else
  return dq_kq_act_kind(type) ? dq_kq_dot_act_ref(type, row, act, n) : dq_dot_row_ref(type, row, xf, n);
#endif
}

void dq_kq_dot_rows(int type, const void *w, size_t row_stride, int64_t n_rows, const float *xf, const void *act,
                    int64_t n, int streamed, float *out)
{
  (void)streamed;
#if DQ_HAVE_ROWS
  switch (type) {
  case DQ_T_Q8_0: dot_q8_0_n(w, row_stride, n_rows, act, n / DQ_QK, streamed, out); return;
  case DQ_T_Q4_0: dot_q4_0_n(w, row_stride, n_rows, act, n / DQ_QK, streamed, out); return;
  case DQ_T_Q5_0: dot_q5_0_n(w, row_stride, n_rows, act, n / DQ_QK, streamed, out); return;
  default: break;
  }
#endif
#if DQ_HAVE_AVX2
  if (type == DQ_T_IQ4_NL) {
    dot_iq4_nl_n(w, row_stride, n_rows, act, n / DQ_QK, out);
    return;
  }
#endif
  for (int64_t r = 0; r < n_rows; r++) out[r] = dq_kq_dot(type, (const uint8_t *)w + (size_t)r * row_stride, xf, act, n);
}

void dq_kq_dequant_fast(int type, const void *row, float *out, int64_t n)
{
#if DQ_HAVE_AVX2
  switch (type) {
  case DQ_T_F32: memcpy(out, row, (size_t)n * sizeof(float)); return;
  case DQ_T_F16: deq_f16(row, out, n, 0); return;
  case DQ_T_BF16: deq_f16(row, out, n, 1); return;
  case DQ_T_Q8_0: deq_q8_0(row, out, n / DQ_QK); return;
  case DQ_T_Q4_0: deq_q4_0(row, out, n / DQ_QK); return;
  case DQ_T_Q4_1: case DQ_T_Q5_0: case DQ_T_Q5_1: deq_q45(type, row, out, n / DQ_QK); return;
  case DQ_T_Q4_K: case DQ_T_Q5_K: deq_q45_k(type, row, out, n / DQ_QKK); return;
  case DQ_T_Q6_K: deq_q6_k(row, out, n / DQ_QKK); return;
  /* scalar: prefill dequantizes each weight once per batch, against n_tok
   * multiply-adds in sgemm */
  case DQ_T_Q2_K: case DQ_T_Q3_K: case DQ_T_IQ4_NL: case DQ_T_IQ4_XS: dq_dequant_row_ref(type, row, out, n); return;
  default: return;
  }
#else
  dq_dequant_row_ref(type, row, out, n);
#endif
}

void dq_dequant_row(int type, const void *row, float *out, int64_t n) { dq_kq_dequant_fast(type, row, out, n); }

#if !DQ_HAVE_GEMM8
int dq_gemm8_supported(int type) { (void)type; return 0; }
int64_t dq_gemm8_min_tok(int type) { (void)type; return INT64_MAX; }
int dq_gemm8_act_format(int type) { return dq_kq_act_kind(type) * 2; }
size_t dq_gemm8_act_bytes(int64_t n) { (void)n; return 0; }
size_t dq_gemm8_w_bytes(int64_t n) { (void)n; return 0; }
void dq_gemm8_pack_w(int type, const void *row, void *dst, int64_t n) { (void)type; (void)row; (void)dst; (void)n; }
void dq_gemm8_pack_act(int type, const float *x, void *dst, int64_t n) { (void)type; (void)x; (void)dst; (void)n; }
void dq_gemm8_tile(int type, const void *w, size_t w_stride, int64_t n_rows, const void *act, size_t act_stride,
                   int64_t n_tok, int64_t n, float *out, int64_t ldo)
{
  (void)type; (void)w; (void)w_stride; (void)n_rows; (void)act; (void)act_stride; (void)n_tok; (void)n; (void)out; (void)ldo;
}
#endif
