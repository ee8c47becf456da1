/* llama.cpp's float arithmetic for f32 weights (ggml_order.h).
 *
 * Found by running stories260K through ggml's own CPU operators (the graph
 * llama.cpp builds, outside this repository) and comparing every
 * intermediate tensor bit for bit; the orders below reproduce each product,
 * SiLU and logit of that run exactly. Written from how those kernels sum,
 * not from their code. */
#include "engine/isa.h" /* first: renames this file's functions in a build with DQ_DISPATCH */
#include "engine/ggml_order.h"

/* Every a*b+c below is written out: fused where ggml's kernels fuse (their
 * FMA intrinsics), separate where they round twice (their scalar tails). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <pthread.h>

#include "engine/kernels.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

enum { LANES = 8, ACCS = 4 }; /* one AVX register of floats; ggml_vec_dot_f32's accumulators */

/* tinyBLAS's hsum of one register: high half + low half, then (0+2) + (1+3). */
static float hsum_tinyblas(const float a[LANES])
{
  float h[4];
  for (int i = 0; i < 4; i++) h[i] = a[i] + a[i + 4];
  return (h[0] + h[2]) + (h[1] + h[3]);
}

/* ggml_vec_dot_f32's reduction: accumulators 0+2, 1+3, then their sum;
 * halves; then two horizontal adds, (0+1) + (2+3). */
static float hsum_vec_dot(float a[ACCS][LANES])
{
  float h[4];
  for (int e = 0; e < LANES; e++) {
    a[0][e] = a[0][e] + a[2][e];
    a[1][e] = a[1][e] + a[3][e];
  }
  for (int e = 0; e < LANES; e++) a[0][e] = a[0][e] + a[1][e];
  for (int i = 0; i < 4; i++) h[i] = a[0][i] + a[0][i + 4];
  return (h[0] + h[1]) + (h[2] + h[3]);
}

static float dot_tinyblas(const float *w, const float *x, int64_t n)
{
  float acc[LANES] = {0};
  for (int64_t l = 0; l < n; l += LANES)
    for (int e = 0; e < LANES; e++) acc[e] = fmaf(w[l + e], x[l + e], acc[e]);
  return hsum_tinyblas(acc);
}

static float dot_vec(const float *w, const float *x, int64_t n)
{
  float acc[ACCS][LANES] = {{0}};
  const int64_t np = n & ~(int64_t)(ACCS * LANES - 1);
  for (int64_t i = 0; i < np; i += ACCS * LANES)
    for (int j = 0; j < ACCS; j++)
      for (int e = 0; e < LANES; e++) acc[j][e] = fmaf(w[i + j * LANES + e], x[i + j * LANES + e], acc[j][e]);
  float s = hsum_vec_dot(acc);
  for (int64_t i = np; i < n; i++) {
    const float p = w[i] * x[i];
    s = s + p;
  }
  return s;
}

void dq_ggml_matmul_f32(const float *W, int64_t n_in, int64_t n_out, const float *x, int64_t n_tok, float *out)
{
  /* llamafile_sgemm serves prompt batches only, and only shapes its tiles divide */
  const int tinyblas = n_tok >= 2 && n_in % LANES == 0 && n_out % 4 == 0;
  for (int64_t t = 0; t < n_tok; t++)
    for (int64_t r = 0; r < n_out; r++) {
      const float *w = W + r * n_in, *xt = x + t * n_in;
      out[t * n_out + r] = tinyblas ? dot_tinyblas(w, xt, n_in) : dot_vec(w, xt, n_in);
    }
}

/* ggml_v_expf, 8-wide AVX2 variant, one lane: the range reduction and the
 * degree-5 polynomial of Arm's optimized-routines expf, then 2^n * (1 + p)
 * in one fused step. |n| > 126 takes the kernel's overflow/underflow branch,
 * approximated here by ldexpf: SiLU's e^-x never gets there for |x| < 87. */
static float v_expf(float x)
{
  const float shift = 0x1.8p23f;
  const float z = fmaf(x, 0x1.715476p+0f, shift);
  const float n = z - shift;
  const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
  const float u = b * b;
  const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                       0x1.ffffecp-1f * b);
  /* NaN or infinite x come only from broken weights (fuzz_model found
   * them): they must not reach an int conversion, which is undefined for
   * them. Clamping |n| to 300 keeps every result: 2^300 overflows a float
   * and 2^-300 underflows to 0 all the same. */
  if (isnan(n)) return n;
  if (fabsf(n) > 126.0f) return ldexpf(1.0f + j, n > 300.0f ? 300 : n < -300.0f ? -300 : (int)n);
  const float k = ldexpf(1.0f, (int)n);
  return fmaf(j, k, k);
}

#if defined(__AVX2__) && defined(__FMA__)
/* v_expf on 8 lanes, the same operations in the same order (so the same
 * bits); 0 where a lane needs the |n| > 126 branch, which the caller then
 * takes lane by lane. */
static int v_expf8(__m256 x, __m256 *out)
{
  const __m256 shift = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
  const __m256 n = _mm256_sub_ps(z, shift);
  if (_mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(126.0f), _CMP_GT_OQ)))
    return 0;
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
  /* 2^n: n sits in the low mantissa bits of z; moved to the exponent field */
  const __m256 k = _mm256_castsi256_ps(
      _mm256_add_epi32(_mm256_slli_epi32(_mm256_castps_si256(z), 23), _mm256_castps_si256(_mm256_set1_ps(1.0f))));
  *out = _mm256_fmadd_ps(j, k, k);
  return 1;
}
#endif

void dq_ggml_swiglu(float *gate, const float *up, int64_t n)
{
  const int64_t nv = n & ~(int64_t)(LANES - 1);
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  for (; i < nv; i += LANES) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    __m256 e;
    if (!v_expf8(_mm256_sub_ps(_mm256_setzero_ps(), g), &e)) { /* rare (|x| > 87): these 8 lane by lane */
      for (int l = 0; l < LANES; l++) {
        const float gl = gate[i + l], sl = gl / (1.0f + v_expf(0.0f - gl));
        gate[i + l] = sl * up[i + l];
      }
      continue;
    }
    const __m256 sg = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(sg, _mm256_loadu_ps(up + i)));
  }
#endif
  for (; i < n; i++) {
    const float g = gate[i];
    const float e = i < nv ? v_expf(0.0f - g) : expf(-g);
    const float s = g / (1.0f + e);
    gate[i] = s * up[i];
  }
}

/* GELU at every f16 value, rounded to f16: ggml's table (ggml_table_gelu_f16)
 * as an x86 build of ggml computes it. Built for the CPU it runs on (FMA),
 * the compiler contracts 1 + a x * x into one fused multiply-add, and that
 * rounding moves one entry (x = -1.999, -0.0455 instead of -0.04547): an
 * input that lands there changed a random Gemma 2's logits by up to 1e-3
 * against llama.cpp's (checked entry by entry against the table of
 * llama.cpp d32676d7's libggml-cpu: all 65536 equal). */
static uint16_t gelu_table[1 << 16];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_table_init(void)
{
  const float sqrt_2_over_pi = 0.79788456080286535587989211986876f, coef_a = 0.044715f;
  for (int i = 0; i < (1 << 16); i++) {
    const float x = dq_f16_to_f32((uint16_t)i);
    const float inner = fmaf(coef_a * x, x, 1.0f);
    gelu_table[i] = dq_f32_to_f16(0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * inner)));
  }
}

void dq_ggml_geglu(float *gate, const float *up, int64_t n)
{
  pthread_once(&gelu_once, gelu_table_init);
  for (int64_t i = 0; i < n; i++) {
    const float x = gate[i];
    if (x <= -10.0f) gate[i] = 0.0f;
    else if (x >= 10.0f) gate[i] = x * up[i];
    else gate[i] = dq_f16_to_f32(gelu_table[dq_f32_to_f16(x)]) * up[i];
  }
}
