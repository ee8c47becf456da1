/* Tests for engine/kvcache.c: sizes against the published table of
 * /work/shared/docs/rope.md §6.3 (Qwen2.5-0.5B KV bytes per type), refusal of
 * head dims the block types cannot hold, quantization round-trip error bounds
 * derived from the block formats (q8_0: d = amax/127 stored as f16; q4_0:
 * d = -max/8, 16 levels), the row layout, and the shift rule: a key rotated at
 * position p (by engine/rope.c, independently of this module) and then
 * shifted by delta equals the key rotated at p + delta directly, for NORM and
 * NEOX layouts and with YaRN (whose cos/sin magnitude must not be applied a
 * second time on a shift). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "docq.h"
#include "engine/kernels.h"
#include "engine/kvcache.h"
#include "engine/rope.h"
#include "util/err.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void) /* uniform in [-1, 1) */
{
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(rng_state >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static void test_engine_kvcache__sizes_match_published_table(void **state)
{
  (void)state;
  const size_t MiB = 1024 * 1024;
  /* Qwen2.5-0.5B: 24 layers, 2 KV heads, head 64; 32k tokens (rope.md §6.3). */
  assert_int_equal(dq_kv_bytes_for(24, 32768, 2, 64, DQ_T_F16, DQ_T_F16), 384 * MiB);
  assert_int_equal(dq_kv_bytes_for(24, 32768, 2, 64, DQ_T_Q8_0, DQ_T_Q8_0), 204 * MiB);
  assert_int_equal(dq_kv_bytes_for(24, 32768, 2, 64, DQ_T_Q4_0, DQ_T_Q4_0), 108 * MiB);
  /* Llama-3.2-1B mixed: K q8_0 + V f16 at 32k = 272 + 512 MiB. */
  assert_int_equal(dq_kv_bytes_for(16, 32768, 8, 64, DQ_T_Q8_0, DQ_T_F16), 784 * MiB);
  /* Sized to the request: a real cache reports the same formula. */
  dq_kv *kv = NULL;
  assert_int_equal(dq_kv_new(&kv, 3, 100, 2, 64, DQ_T_Q4_0, DQ_T_F16), 0);
  assert_int_equal(dq_kv_bytes(kv), (size_t)3 * 100 * 2 * (36 + 128));
  dq_kv_free(kv);
  dq_kv_free(NULL);
  assert_int_equal(dq_kv_bytes_for(24, 32768, 2, 64, DQ_T_Q4_K, DQ_T_F16), 0);
}

static void test_engine_kvcache__refuses_bad_shapes_and_types(void **state)
{
  (void)state;
  dq_kv *kv = (dq_kv *)1;
  assert_int_equal(dq_kv_new(&kv, 2, 16, 2, 48, DQ_T_Q8_0, DQ_T_F16), DOCQ_EINVAL);
  assert_null(kv);
  assert_non_null(strstr(dq_err_msg(), "head_dim a multiple of 32"));
  assert_non_null(strstr(dq_err_msg(), "q8_0"));
  assert_int_equal(dq_kv_new(&kv, 2, 16, 2, 48, DQ_T_F16, DQ_T_Q4_0), DOCQ_EINVAL);
  assert_non_null(strstr(dq_err_msg(), "V type q4_0"));
  assert_int_equal(dq_kv_new(&kv, 2, 16, 2, 64, DQ_T_Q6_K, DQ_T_F16), DOCQ_EINVAL);
  assert_non_null(strstr(dq_err_msg(), "not supported"));
  assert_int_equal(dq_kv_new(&kv, 2, 0, 2, 64, DQ_T_F16, DQ_T_F16), DOCQ_EINVAL);
  /* f16 takes any head dim. */
  assert_int_equal(dq_kv_new(&kv, 2, 16, 2, 48, DQ_T_F16, DQ_T_F16), 0);
  float k[96] = {0}, v[96] = {0};
  assert_int_equal(dq_kv_write(kv, 2, 0, k, v), DOCQ_EINVAL);
  assert_int_equal(dq_kv_write(kv, 0, 16, k, v), DOCQ_EINVAL);
  assert_int_equal(dq_kv_write(kv, 1, 15, k, v), 0);
  assert_int_equal(dq_kv_evict(kv, 10, 4, 7, 48, DQ_ROPE_NORM, k), DOCQ_EINVAL);
  assert_int_equal(dq_kv_shift_k(kv, 10, 7, 1.0, 48, DQ_ROPE_NORM, k), DOCQ_EINVAL);
  assert_int_equal(dq_kv_shift_k(kv, 0, 7, 1.0, 50, DQ_ROPE_NORM, k), DOCQ_EINVAL);
  dq_kv_free(kv);
  assert_int_equal(dq_kv_type_from_name("q8_0"), DQ_T_Q8_0);
  assert_int_equal(dq_kv_type_from_name("q4_0"), DQ_T_Q4_0);
  assert_int_equal(dq_kv_type_from_name("f16"), DQ_T_F16);
  assert_int_equal(dq_kv_type_from_name("q5_k"), -1);
}

/* Max |x - deq(x)| per 32-block against the format's bound, and the layout:
 * row (layer, pos, head) is found where dq_kv_read_* reads it. */
static void roundtrip(int type, double rel_bound_of_amax, double f16_rel)
{
  const int L = 2, N = 40, H = 3, HD = 64;
  dq_kv *kv = NULL;
  assert_int_equal(dq_kv_new(&kv, L, N, H, HD, type, type), 0);
  float *k = malloc(sizeof(float) * L * N * H * HD), *v = malloc(sizeof(float) * L * N * H * HD);
  float *out = malloc(sizeof(float) * N * HD);
  for (int i = 0; i < L * N * H * HD; i++) {
    k[i] = frand() * (1.0f + (float)(i % 7)); /* blocks of different scales */
    v[i] = frand() * 0.01f;
  }
  for (int l = 0; l < L; l++)
    for (int p = 0; p < N; p++)
      assert_int_equal(dq_kv_write(kv, l, p, k + ((size_t)l * N + p) * H * HD, v + ((size_t)l * N + p) * H * HD), 0);
  double worst = 0.0;
  for (int l = 0; l < L; l++)
    for (int h = 0; h < H; h++)
      for (int which = 0; which < 2; which++) {
        if (which) dq_kv_read_v(kv, l, h, 0, N, out);
        else dq_kv_read_k(kv, l, h, 0, N, out);
        const float *src = which ? v : k;
        for (int p = 0; p < N; p++)
          for (int b = 0; b < HD; b += 32) {
            const float *x = src + (((size_t)l * N + p) * H + h) * HD + b, *y = out + (size_t)p * HD + b;
            double amax = 0.0, err = 0.0;
            for (int i = 0; i < 32; i++) {
              amax = fmax(amax, fabs(x[i]));
              if (f16_rel > 0) assert_true(fabs(x[i] - y[i]) <= f16_rel * fabs(x[i]) + 1e-7);
              err = fmax(err, fabs((double)x[i] - y[i]));
            }
            if (rel_bound_of_amax > 0) assert_true(err <= rel_bound_of_amax * amax + 1e-12);
            worst = fmax(worst, amax > 0 ? err / amax : 0);
          }
      }
  /* The bound is not vacuous: the worst block comes close to it. */
  if (rel_bound_of_amax > 0) assert_true(worst > 0.3 * rel_bound_of_amax);
  free(k);
  free(v);
  free(out);
  dq_kv_free(kv);
}

static void test_engine_kvcache__roundtrip_error_bounds(void **state)
{
  (void)state;
  roundtrip(DQ_T_F32, 0, 0);
  roundtrip(DQ_T_F16, 0, 1.0 / 2048); /* round to nearest of an 11-bit significand */
  /* q8_0: |err| <= d/2 + 127 |d - f16(d)|, d = amax/127 */
  roundtrip(DQ_T_Q8_0, (0.5 + 127.0 / 2048) / 127.0, 0);
  /* q4_0: d = max/-8; the level +8d is clamped to 7d, so |err| <= |d| (+ f16 of d) */
  roundtrip(DQ_T_Q4_0, (1.0 + 8.0 / 2048) / 8.0, 0);
}

/* An F16 cache holds each value rounded to the nearest half, ties to the
 * even significand, overflow to infinity (IEEE 754), whatever conversion the
 * build uses. The oracle: the value of every finite half, decoded from its
 * fields, and a search between the two neighbours of |x|. */
static double half_value(unsigned h) /* h < 0x7c00 */
{
  const unsigned e = h >> 10, m = h & 0x3ff;
  return e ? ldexp(1024.0 + m, (int)e - 25) : ldexp((double)m, -24);
}

static uint16_t half_nearest(float x)
{
  const double a = fabs((double)x);
  const unsigned sign = signbit(x) ? 0x8000u : 0u;
  if (a >= 65520.0) return (uint16_t)(sign | 0x7c00); /* halfway to 2^16 and above: inf */
  unsigned lo = 0, hi = 0x7bff; /* largest finite half with value <= a */
  while (lo < hi) {
    const unsigned mid = (lo + hi + 1) / 2;
    if (half_value(mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  unsigned h = lo;
  if (lo < 0x7bff) {
    const double dlo = a - half_value(lo), dhi = half_value(lo + 1) - a;
    if (dhi < dlo || (dhi == dlo && (lo & 1))) h = lo + 1;
  }
  return (uint16_t)(sign | h);
}

static void test_engine_kvcache__f16_rows_round_to_nearest_even(void **state)
{
  (void)state;
  enum { H = 2, HD = 64, N = 40 };
  dq_kv *kv;
  assert_int_equal(dq_kv_new(&kv, 1, N, H, HD, DQ_T_F16, DQ_T_F16), 0);
  float *x = malloc(sizeof(float) * N * H * HD * 2);
  assert_non_null(x);
  uint64_t r = 0x9e3779b97f4a7c15ull;
  int ties = 0;
  for (int i = 0; i < N * H * HD * 2; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    const unsigned h = (unsigned)(r >> 20) % 0x7bff, kind = (unsigned)(r >> 40) % 4;
    const float s = (r >> 63) ? -1.0f : 1.0f;
    if (kind == 0) { /* exactly halfway between two halves (both parities of the lower one) */
      x[i] = s * (float)((half_value(h) + half_value(h + 1)) / 2);
      ties++;
    } else if (kind == 1) { /* a random float's bits over the whole half range and a little past it */
      x[i] = s * ldexpf((float)((r >> 8) & 0xffffff) / 16777216.0f + 0.5f, (int)((r >> 32) % 45) - 28);
    } else if (kind == 2) { /* a half's value nudged by one float ulp either way */
      x[i] = s * nextafterf((float)half_value(h), (r >> 1) & 1 ? INFINITY : 0.0f);
    } else { /* exact halves */
      x[i] = s * (float)half_value(h);
    }
  }
  const float edge[] = {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, -1e30f, 5.9604645e-8f, 2.9802322e-8f,
                        2.9802326e-8f, 6.1035156e-5f, 6.103515e-5f};
  memcpy(x, edge, sizeof edge);
  for (int p = 0; p < N; p++)
    assert_int_equal(dq_kv_write(kv, 0, p, x + (size_t)p * H * HD, x + (size_t)(N + p) * H * HD), 0);
  for (int p = 0; p < N; p++)
    for (int h = 0; h < H; h++)
      for (int which = 0; which < 2; which++) {
        const uint8_t *row = which ? dq_kv_vrow(kv, 0, p, h) : dq_kv_krow(kv, 0, p, h);
        const float *src = x + ((size_t)(which ? N + p : p) * H + h) * HD;
        for (int i = 0; i < HD; i++) {
          uint16_t got;
          memcpy(&got, row + 2 * i, 2);
          if (got != half_nearest(src[i])) print_error("%.9g: got %04x, want %04x\n", src[i], got, half_nearest(src[i]));
          assert_int_equal(got, half_nearest(src[i]));
        }
      }
  assert_true(ties > 100);
  free(x);
  dq_kv_free(kv);
}

/* Keys rotated at p with engine/rope.c, shifted here by delta, against keys
 * rotated at p + delta by engine/rope.c. */
static void shift_case(int mode, int scaling, int type, float tol)
{
  const int HD = 64, H = 2, N = 24;
  dq_rope_params rp;
  dq_rope r;
  dq_rope_params_default(&rp, HD, mode);
  rp.freq_base = 10000.0f;
  if (scaling == DQ_ROPE_SCALING_YARN) {
    rp.scaling = DQ_ROPE_SCALING_YARN;
    rp.freq_scale = 0.25f;
    rp.n_ctx_orig = 512;
  }
  assert_int_equal(dq_rope_init(&r, &rp), 0);
  float theta[32], cs[64];
  for (int j = 0; j < 32; j++) theta[j] = (float)dq_rope_theta(&r, j);
  dq_kv *kv = NULL;
  assert_int_equal(dq_kv_new(&kv, 2, N, H, HD, type, DQ_T_F16), 0);
  float k0[2 * 64], kr[2 * 64], v[2 * 64] = {0}, got[64];
  float *orig = malloc(sizeof(float) * N * H * HD);
  const int p0 = 1000, delta = -997; /* a long-generation eviction: 1000+ -> 3+ */
  for (int p = 0; p < N; p++) {
    for (int i = 0; i < H * HD; i++) orig[(size_t)p * H * HD + i] = k0[i] = frand();
    memcpy(kr, k0, sizeof kr);
    dq_rope_cache(&r, p0 + p, cs);
    dq_rope_apply(&r, kr, H, HD, cs);
    for (int l = 0; l < 2; l++) assert_int_equal(dq_kv_write(kv, l, p, kr, v), 0);
  }
  /* shift 20 positions starting at slot 2 */
  assert_int_equal(dq_kv_shift_k(kv, 2, 20, delta, HD, mode, theta), 0);
  double worst = 0;
  for (int p = 0; p < N; p++) {
    memcpy(kr, orig + (size_t)p * H * HD, sizeof kr);
    const int moved = p >= 2 && p < 22;
    dq_rope_cache(&r, p0 + p + (moved ? delta : 0), cs);
    dq_rope_apply(&r, kr, H, HD, cs);
    for (int l = 0; l < 2; l++)
      for (int h = 0; h < H; h++) {
        dq_kv_read_k(kv, l, h, p, 1, got);
        for (int i = 0; i < HD; i++) worst = fmax(worst, fabs(got[i] - kr[h * HD + i]));
      }
  }
  assert_true(worst < tol);
  free(orig);
  dq_kv_free(kv);
}

static void test_engine_kvcache__shift_equals_direct_rotation(void **state)
{
  (void)state;
  /* float32 angles at p ~ 1000 differ from the exact ones by ~1e-4 rad (rope.md §1.4) */
  shift_case(DQ_ROPE_NORM, DQ_ROPE_SCALING_NONE, DQ_T_F32, 2e-4f);
  shift_case(DQ_ROPE_NEOX, DQ_ROPE_SCALING_NONE, DQ_T_F32, 2e-4f);
  /* YaRN: |cos/sin| = 1.1386; a second mscale on the shift would be off by ~0.14 */
  shift_case(DQ_ROPE_NORM, DQ_ROPE_SCALING_YARN, DQ_T_F32, 3e-4f);
  shift_case(DQ_ROPE_NEOX, DQ_ROPE_SCALING_YARN, DQ_T_F32, 3e-4f);
  shift_case(DQ_ROPE_NEOX, DQ_ROPE_SCALING_NONE, DQ_T_F16, 3e-3f);
  /* q8_0: requantization after the rotation: about one step (amax/127) */
  shift_case(DQ_ROPE_NEOX, DQ_ROPE_SCALING_NONE, DQ_T_Q8_0, 2.2f / 127);
}

/* Evict the middle (StreamingLLM): kept sinks untouched, the tail moved down
 * and re-rotated to its new slot, V moved unchanged. */
static void test_engine_kvcache__evict_moves_and_rerotates(void **state)
{
  (void)state;
  const int HD = 32, H = 2, N = 50, KEEP = 4, DISC = 11, USED = 40;
  dq_rope_params rp;
  dq_rope r;
  dq_rope_params_default(&rp, HD, DQ_ROPE_NEOX);
  rp.freq_base = 1e6f;
  assert_int_equal(dq_rope_init(&r, &rp), 0);
  float theta[16], cs[32];
  for (int j = 0; j < 16; j++) theta[j] = (float)dq_rope_theta(&r, j);
  dq_kv *kv = NULL;
  assert_int_equal(dq_kv_new(&kv, 3, N, H, HD, DQ_T_F32, DQ_T_F16), 0);
  float *k0 = malloc(sizeof(float) * USED * H * HD), *v = malloc(sizeof(float) * USED * H * HD);
  for (int p = 0; p < USED; p++) {
    float kr[64];
    for (int i = 0; i < H * HD; i++) {
      k0[(size_t)p * H * HD + i] = kr[i] = frand();
      v[(size_t)p * H * HD + i] = frand();
    }
    dq_rope_cache(&r, p, cs);
    dq_rope_apply(&r, kr, H, HD, cs);
    for (int l = 0; l < 3; l++) assert_int_equal(dq_kv_write(kv, l, p, kr, v + (size_t)p * H * HD), 0);
  }
  assert_int_equal(dq_kv_evict(kv, USED, KEEP, DISC, HD, DQ_ROPE_NEOX, theta), USED - DISC);
  for (int slot = 0; slot < USED - DISC; slot++) {
    const int src = slot < KEEP ? slot : slot + DISC;
    float kr[64], got[32];
    memcpy(kr, k0 + (size_t)src * H * HD, sizeof kr);
    dq_rope_cache(&r, slot, cs);
    dq_rope_apply(&r, kr, H, HD, cs);
    for (int l = 0; l < 3; l++)
      for (int h = 0; h < H; h++) {
        dq_kv_read_k(kv, l, h, slot, 1, got);
        for (int i = 0; i < HD; i++) assert_float_equal(got[i], kr[h * HD + i], 1e-5f);
        dq_kv_read_v(kv, l, h, slot, 1, got);
        for (int i = 0; i < HD; i++)
          assert_float_equal(got[i], dq_f16_to_f32(dq_f32_to_f16(v[((size_t)src * H + h) * HD + i])), 0.0f);
      }
  }
  assert_int_equal(dq_kv_evict(kv, 29, 4, 0, HD, DQ_ROPE_NEOX, theta), 29);
  free(k0);
  free(v);
  dq_kv_free(kv);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_kvcache__sizes_match_published_table),
    cmocka_unit_test(test_engine_kvcache__refuses_bad_shapes_and_types),
    cmocka_unit_test(test_engine_kvcache__roundtrip_error_bounds),
    cmocka_unit_test(test_engine_kvcache__f16_rows_round_to_nearest_even),
    cmocka_unit_test(test_engine_kvcache__shift_equals_direct_rotation),
    cmocka_unit_test(test_engine_kvcache__evict_moves_and_rerotates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
