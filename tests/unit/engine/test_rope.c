/* Tests for engine/rope.c against the worked YaRN example of
 * /work/shared/docs/rope.md (Appendix A: D=64, b=1e4, s=4, L=512) and the
 * Llama-3.2 rope_freqs vector (Appendix B). The expected numbers are copied
 * from that document, which computed them independently in float64 and
 * cross-checked them against ggml's kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "docq.h"
#include "engine/rope.h"

/* Appendix A, theta'_j (YaRN) for j = 0..31. */
static const double yarn_theta[32] = {
  1.000000000e+00, 7.498942093e-01, 5.623413252e-01, 4.216965034e-01, 2.979838564e-01, 2.097753663e-01,
  1.470500281e-01, 1.025785717e-01, 7.115384615e-02, 4.903154446e-02, 3.352419439e-02, 2.270673480e-02,
  1.520325798e-02, 1.003273491e-02, 6.497559383e-03, 4.103142868e-03, 2.500000000e-03, 1.874735523e-03,
  1.405853313e-03, 1.054241259e-03, 7.905694150e-04, 5.928434264e-04, 4.445698525e-04, 3.333803580e-04,
  2.500000000e-04, 1.874735523e-04, 1.405853313e-04, 1.054241259e-04, 7.905694150e-05, 5.928434264e-05,
  4.445698525e-05, 3.333803580e-05};

static void yarn_example(dq_rope *r, int mode)
{
  dq_rope_params p;
  dq_rope_params_default(&p, 64, mode);
  p.scaling = DQ_ROPE_SCALING_YARN;
  p.freq_base = 10000.0f;
  p.freq_scale = 0.25f;
  p.n_ctx_orig = 512;
  assert_int_equal(dq_rope_init(r, &p), 0);
}

static void test_engine_rope__yarn_corr_dims_and_mscale(void **state)
{
  (void)state;
  dq_rope r;
  yarn_example(&r, DQ_ROPE_NORM);
  assert_float_equal(r.corr_low, 3.0f, 0.0f);
  assert_float_equal(r.corr_high, 16.0f, 0.0f);
  assert_float_equal(r.mscale, 1.138629436f, 1e-6f);
  assert_float_equal(r.p.ext_factor, 1.0f, 0.0f); /* auto -> 1 for YaRN */
  /* Qwen2.5 recipe from rope.md §3.4: head 64, b=1e6, L=32768 -> (11, 20) */
  float lo, hi;
  dq_rope_corr_dims(64, 32768, 1e6f, 32.0f, 1.0f, &lo, &hi);
  assert_float_equal(lo, 11.0f, 0.0f);
  assert_float_equal(hi, 20.0f, 0.0f);
  /* TinyLlama: L=2048, D=64, b=1e4 -> (8, 21) */
  dq_rope_corr_dims(64, 2048, 1e4f, 32.0f, 1.0f, &lo, &hi);
  assert_float_equal(lo, 8.0f, 0.0f);
  assert_float_equal(hi, 21.0f, 0.0f);
}

static void test_engine_rope__yarn_theta_table(void **state)
{
  (void)state;
  dq_rope r;
  yarn_example(&r, DQ_ROPE_NORM);
  for (int j = 0; j < 32; j++) {
    double got = dq_rope_theta(&r, j);
    assert_true(fabs(got - yarn_theta[j]) <= 1e-6 * yarn_theta[j]);
  }
  /* closed form inside the ramp: theta/theta' = 1/(w + (1-w)/4), w = (16-j)/13; j=7 -> 1.3 */
  assert_true(fabs(pow(10000.0, -14.0 / 64) / dq_rope_theta(&r, 7) - 1.3) < 1e-6);
}

static void test_engine_rope__yarn_cos_sin_beyond_original_context(void **state)
{
  (void)state;
  /* rope.md Appendix A: m*cos, m*sin; float64 reference and ggml-order float32. */
  static const struct { int p, j; double c64, s64, c32, s32; } t[] = {
    {1000, 0, 0.640341371, 0.941509385, 0.640341, 0.941509},
    {1000, 3, 0.853705716, 0.753434498, 0.853729, 0.753408},
    {1000, 4, -1.016479784, 0.513074889, -1.016480, 0.513075},
    {1000, 8, -0.513649927, 1.016189325, -0.513635, 1.016197},
    {1000, 15, -0.651579983, -0.933766844, -0.651581, -0.933766},
    {1000, 16, -0.912205703, 0.681438000, -0.912205, 0.681439},
    {1000, 31, 1.137996744, 0.037952638, 1.137997, 0.037953},
    {2047, 0, 0.284333144, -1.102556872, 0.284333, -1.102557},
    {2047, 3, -0.852084335, 0.755267687, -0.852058, 0.755298},
    {2047, 4, 0.997061161, 0.549860013, 0.997091, 0.549806},
    {2047, 8, 0.476870281, 1.033959249, 0.476909, 1.033942},
    {2047, 15, -0.590433912, 0.973583478, -0.590430, 0.973586},
    {2047, 16, 0.448757540, -1.046467230, 0.448756, -1.046468},
    {2047, 31, 1.135979108, 0.077643144, 1.135979, 0.077643},
  };
  dq_rope r;
  yarn_example(&r, DQ_ROPE_NEOX);
  float cs[64];
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    dq_rope_cache(&r, t[i].p, cs);
    /* ggml's float order: agrees with the float32 column to its printed precision */
    assert_true(fabs(cs[2 * t[i].j] - t[i].c32) < 2e-6);
    assert_true(fabs(cs[2 * t[i].j + 1] - t[i].s32) < 2e-6);
    /* and with float64 within the float32 angle error */
    assert_true(fabs(cs[2 * t[i].j] - t[i].c64) < 1e-4);
    assert_true(fabs(cs[2 * t[i].j + 1] - t[i].s64) < 1e-4);
  }
}

static void test_engine_rope__ext_factor_zero_is_pure_pi(void **state)
{
  (void)state;
  dq_rope_params p;
  dq_rope_params_default(&p, 64, DQ_ROPE_NORM);
  p.scaling = DQ_ROPE_SCALING_YARN;
  p.freq_scale = 0.25f;
  p.n_ctx_orig = 512;
  p.ext_factor = 0.0f;
  dq_rope r;
  assert_int_equal(dq_rope_init(&r, &p), 0);
  assert_float_equal(r.mscale, 1.0f, 0.0f);
  float cs[64];
  dq_rope_cache(&r, 1000, cs);
  /* angle(j=16, p=1000) = 1000 * 1e-2 / 4 = 2.5; norm 1 */
  assert_true(fabs(atan2(cs[33], cs[32]) - 2.5) < 1e-5);
  for (int j = 0; j < 32; j++) assert_true(fabs(hypot(cs[2 * j], cs[2 * j + 1]) - 1.0) < 1e-6);
  /* linear: every pair is theta/4 */
  p.scaling = DQ_ROPE_SCALING_LINEAR;
  p.ext_factor = -1.0f;
  assert_int_equal(dq_rope_init(&r, &p), 0);
  for (int j = 0; j < 32; j++)
    assert_true(fabs(dq_rope_theta(&r, j) - pow(10000.0, -2.0 * j / 64) / 4) < 1e-9);
  /* none ignores a declared factor */
  p.scaling = DQ_ROPE_SCALING_NONE;
  assert_int_equal(dq_rope_init(&r, &p), 0);
  assert_true(fabs(dq_rope_theta(&r, 5) - pow(10000.0, -10.0 / 64)) < 1e-9);
}

static void test_engine_rope__layouts(void **state)
{
  (void)state;
  dq_rope_params p;
  dq_rope_params_default(&p, 8, DQ_ROPE_NORM);
  dq_rope r;
  assert_int_equal(dq_rope_init(&r, &p), 0);
  float cs[8], x[10], y[10];
  for (int i = 0; i < 10; i++) x[i] = (float)(i + 1);
  /* head_dim 10 with 8 rotated dims: 8, 9 stay */
  dq_rope_cache(&r, 3, cs);
  memcpy(y, x, sizeof x);
  dq_rope_apply(&r, y, 1, 10, cs);
  for (int j = 0; j < 4; j++) {
    double th = 3.0 * pow(10000.0, -2.0 * j / 8);
    double a = x[2 * j], b = x[2 * j + 1];
    assert_true(fabs(y[2 * j] - (a * cos(th) - b * sin(th))) < 1e-5);
    assert_true(fabs(y[2 * j + 1] - (a * sin(th) + b * cos(th))) < 1e-5);
  }
  assert_float_equal(y[8], 9.0f, 0.0f);
  assert_float_equal(y[9], 10.0f, 0.0f);
  p.mode = DQ_ROPE_NEOX;
  assert_int_equal(dq_rope_init(&r, &p), 0);
  memcpy(y, x, sizeof x);
  dq_rope_apply(&r, y, 1, 10, cs);
  for (int j = 0; j < 4; j++) {
    double th = 3.0 * pow(10000.0, -2.0 * j / 8);
    double a = x[j], b = x[j + 4];
    assert_true(fabs(y[j] - (a * cos(th) - b * sin(th))) < 1e-5);
    assert_true(fabs(y[j + 4] - (a * sin(th) + b * cos(th))) < 1e-5);
  }
}

/* q.k after rotation depends only on the distance (static schemes). */
static void test_engine_rope__relative_positions(void **state)
{
  (void)state;
  dq_rope r;
  yarn_example(&r, DQ_ROPE_NEOX);
  float q[64], k[64], a[64], b[64], cs[64];
  for (int i = 0; i < 64; i++) { q[i] = sinf((float)i * 0.7f); k[i] = cosf((float)i * 1.3f); }
  double ref = 0;
  for (int t = 0; t < 3; t++) {
    int pq = 17 + 40 * t, pk = 5 + 40 * t;
    memcpy(a, q, sizeof q); memcpy(b, k, sizeof k);
    dq_rope_cache(&r, pq, cs); dq_rope_apply(&r, a, 1, 64, cs);
    dq_rope_cache(&r, pk, cs); dq_rope_apply(&r, b, 1, 64, cs);
    double d = 0;
    for (int i = 0; i < 64; i++) d += (double)a[i] * b[i];
    if (t == 0) ref = d;
    else assert_true(fabs(d - ref) < 1e-3);
  }
}

static void test_engine_rope__ntk_and_llama3(void **state)
{
  (void)state;
  assert_true(fabs(dq_rope_ntk_base(10000.0, 4.0, 64) - 41829.3659) < 1e-3);
  float ff[32];
  dq_rope_llama3_factors(ff, 64, 5e5, 32.0, 1.0, 4.0, 8192);
  for (int j = 0; j <= 14; j++) assert_float_equal(ff[j], 1.0f, 1e-6f);
  assert_float_equal(ff[15], 1.651329f, 2e-6f);
  assert_float_equal(ff[16], 3.292262f, 2e-6f);
  assert_float_equal(ff[17], 9.666729f, 2e-6f);
  for (int j = 18; j < 32; j++) assert_float_equal(ff[j], 32.0f, 1e-5f);
  /* freq factors divide theta (linear type with freq_scale 1, as llama.cpp reads rope_freqs) */
  dq_rope_params p;
  dq_rope_params_default(&p, 64, DQ_ROPE_NORM);
  p.scaling = DQ_ROPE_SCALING_LINEAR;
  p.freq_base = 5e5f;
  p.freq_factors = ff;
  dq_rope r;
  assert_int_equal(dq_rope_init(&r, &p), 0);
  assert_true(fabs(dq_rope_theta(&r, 20) - pow(5e5, -40.0 / 64) / 32.0) < 1e-9);
}

static void test_engine_rope__rejects_bad_params(void **state)
{
  (void)state;
  dq_rope_params p;
  dq_rope r;
  dq_rope_params_default(&p, 7, DQ_ROPE_NORM);
  assert_int_equal(dq_rope_init(&r, &p), DOCQ_EINVAL);
  dq_rope_params_default(&p, 64, DQ_ROPE_NORM);
  p.freq_base = 0.0f;
  assert_int_equal(dq_rope_init(&r, &p), DOCQ_EINVAL);
  dq_rope_params_default(&p, 64, DQ_ROPE_NORM);
  p.freq_scale = -1.0f;
  assert_int_equal(dq_rope_init(&r, &p), DOCQ_EINVAL);
  dq_rope_params_default(&p, 64, 1);
  assert_int_equal(dq_rope_init(&r, &p), DOCQ_EINVAL);
}

/* Static NTK-aware (rope.md §2.2): b' = b*s^(D/(D-2)); the lowest frequency is
 * interpolated by exactly s, the highest untouched; m = 1. */
static void test_engine_rope__ntk_static(void **state)
{
  (void)state;
  dq_rope_params p;
  dq_rope_params_default(&p, 64, DQ_ROPE_NORM);
  p.scaling = DQ_ROPE_SCALING_NTK;
  p.freq_scale = 0.25f;
  dq_rope r;
  assert_int_equal(dq_rope_init(&r, &p), 0);
  assert_true(fabs(r.base - 41829.3659) < 0.01); /* rope.md Appendix A */
  assert_float_equal(r.mscale, 1.0f, 0.0f);
  assert_true(fabs(dq_rope_theta(&r, 0) - 1.0) < 1e-12);
  double plain31 = pow(10000.0, -62.0 / 64);
  assert_true(fabs(dq_rope_theta(&r, 31) - plain31 / 4) < 1e-6 * plain31 / 4);
  /* the table follows the float base (the value a --rope-freq-base would carry) */
  float cs[64];
  dq_rope_cache(&r, 3000, cs);
  for (int j = 0; j < 32; j += 7) {
    double ang = 3000.0 * pow((double)r.base, -2.0 * j / 64);
    assert_true(fabs(cs[2 * j] - cos(ang)) < 2e-3 && fabs(cs[2 * j + 1] - sin(ang)) < 2e-3);
  }
  /* same as LINEAR with scale 1 and the base given directly */
  dq_rope_params q;
  dq_rope_params_default(&q, 64, DQ_ROPE_NORM);
  q.scaling = DQ_ROPE_SCALING_LINEAR;
  q.freq_base = r.base;
  dq_rope r2;
  assert_int_equal(dq_rope_init(&r2, &q), 0);
  float cs2[64];
  dq_rope_cache(&r2, 3000, cs2);
  assert_memory_equal(cs, cs2, sizeof cs);
}

/* Dynamic NTK (HF "dynamic", rope.md §2.3 and Appendix A's numbers). */
static void test_engine_rope__dynamic_ntk(void **state)
{
  (void)state;
  assert_true(fabs(dq_rope_dynamic_base(1e4, 4.0, 1024, 512, 64) - 52664.43) < 0.01);
  assert_true(fabs(dq_rope_dynamic_base(1e4, 4.0, 2048, 512, 64) - 141213.76) < 0.01);
  assert_true(fabs(dq_rope_dynamic_base(1e4, 4.0, 4096, 512, 64) - 323275.00) < 0.01);
  assert_true(fabs(dq_rope_dynamic_base(1e4, 1.0, 2048, 512, 64) - 41829.37) < 0.01);
  assert_true(dq_rope_dynamic_base(1e4, 4.0, 512, 512, 64) == 1e4);
  dq_rope_params p;
  dq_rope_params_default(&p, 64, DQ_ROPE_NEOX);
  p.scaling = DQ_ROPE_SCALING_DYNAMIC_NTK;
  p.freq_scale = 1.0f; /* alpha 1: scale = l/L */
  p.n_ctx_orig = 512;
  assert_true(dq_rope_is_dynamic(&p));
  dq_rope r;
  assert_int_equal(dq_rope_init_len(&r, &p, 300), 0);
  assert_float_equal(r.base, 10000.0f, 0.0f);     /* inside L: plain */
  assert_int_equal(dq_rope_set_len(&r, 512), 0);  /* still inside: no change */
  assert_int_equal(dq_rope_set_len(&r, 2048), 1); /* grew: base changed */
  assert_true(fabs(r.base - 41829.37) < 0.01);
  /* at l = s*L the base equals the static NTK base for s */
  dq_rope_params q = p;
  q.scaling = DQ_ROPE_SCALING_NTK;
  q.freq_scale = 0.25f;
  dq_rope rs;
  assert_int_equal(dq_rope_init(&rs, &q), 0);
  assert_float_equal(r.base, rs.base, 0.0f);
  float a[64], b[64];
  dq_rope_cache(&r, 1500, a);
  dq_rope_cache(&rs, 1500, b);
  assert_memory_equal(a, b, sizeof a);
  assert_int_equal(dq_rope_set_len(&r, 2048), 0);
  assert_int_equal(dq_rope_set_len(&r, 100), 1); /* a short sequence gets the original base back */
  assert_float_equal(r.base, 10000.0f, 0.0f);
  /* static types never move */
  assert_int_equal(dq_rope_set_len(&rs, 100000), 0);
}

/* rope.md §5.6: with s = 1 every method is plain RoPE (bit for bit except
 * YaRN's ramp blend, which rounds as ggml's does); YaRN keeps
 * pairs j <= low and is pure PI for j >= high. */
static void test_engine_rope__invariants(void **state)
{
  (void)state;
  dq_rope_params p;
  dq_rope_params_default(&p, 64, DQ_ROPE_NORM);
  dq_rope plain;
  assert_int_equal(dq_rope_init(&plain, &p), 0);
  float ref[64], cs[64];
  dq_rope_cache(&plain, 777, ref);
  const int types[] = {DQ_ROPE_SCALING_LINEAR, DQ_ROPE_SCALING_YARN, DQ_ROPE_SCALING_NTK, DQ_ROPE_SCALING_DYNAMIC_NTK};
  for (size_t i = 0; i < 4; i++) {
    dq_rope_params q = p;
    q.scaling = types[i];
    q.n_ctx_orig = 512;
    dq_rope r;
    assert_int_equal(dq_rope_init_len(&r, &q, 400), 0);
    dq_rope_cache(&r, 777, cs);
    if (types[i] != DQ_ROPE_SCALING_YARN) {
      assert_memory_equal(cs, ref, sizeof cs);
    } else {
      /* ggml's blend t*(1-w) + t*w is not exactly t in float: within rounding */
      for (int j = 0; j < 64; j++) assert_true(fabsf(cs[j] - ref[j]) < 1e-6f * 777);
    }
  }
  dq_rope y;
  yarn_example(&y, DQ_ROPE_NORM);
  for (int j = 0; j < 32; j++) {
    double t = pow(10000.0, -2.0 * j / 64);
    if (j <= 3) assert_true(fabs(dq_rope_theta(&y, j) - t) < 1e-9 * t);
    if (j >= 16) assert_true(fabs(dq_rope_theta(&y, j) - t / 4) < 1e-9 * t);
  }
  /* ||rotated pair|| = m */
  dq_rope_cache(&y, 1234, cs);
  for (int j = 0; j < 32; j++) assert_true(fabs(hypot(cs[2 * j], cs[2 * j + 1]) - 1.138629436) < 1e-5);
}

static void test_engine_rope__scaling_names(void **state)
{
  (void)state;
  for (int t = DQ_ROPE_SCALING_NONE; t <= DQ_ROPE_SCALING_DYNAMIC_NTK; t++)
    assert_int_equal(dq_rope_scaling_from_name(dq_rope_scaling_name(t)), t);
  assert_int_equal(dq_rope_scaling_from_name("dynamic"), DQ_ROPE_SCALING_DYNAMIC_NTK);
  assert_int_equal(dq_rope_scaling_from_name("su"), DQ_ROPE_SCALING_LONGROPE);
  assert_int_equal(dq_rope_scaling_from_name("bogus"), -1);
}

/* Per-request choice: no scaling when the request fits, else the smallest
 * factor that covers it. */
static void test_engine_rope__plan(void **state)
{
  (void)state;
  dq_rope_params f;
  dq_rope_plan pl;
  /* stories260K: file says linear/factor 1, context 2048; trained with 512 */
  dq_rope_params_default(&f, 8, DQ_ROPE_NORM);
  f.scaling = DQ_ROPE_SCALING_LINEAR;
  f.n_ctx_orig = 2048;
  assert_int_equal(dq_rope_plan_for(&pl, &f, 1.0f, 2048, 0, 0, 1500), 0);
  assert_int_equal(pl.scaling, DQ_ROPE_SCALING_NONE);
  assert_int_equal(pl.extended, 0);
  assert_float_equal(pl.factor, 1.0f, 0.0f);
  assert_int_equal(dq_rope_plan_for(&pl, &f, 1.0f, 2048, 0, 512, 512), 0); /* exactly L fits */
  assert_int_equal(pl.extended, 0);
  assert_int_equal(dq_rope_plan_for(&pl, &f, 1.0f, 2048, 0, 512, 1500), 0);
  assert_int_equal(pl.scaling, DQ_ROPE_SCALING_YARN);
  assert_int_equal(pl.extended, 1);
  assert_int_equal(pl.n_ctx_orig, 512);
  assert_true(pl.factor * 512.0 >= 1500.0 && pl.factor * 512.0 < 1500.01);
  assert_true(pl.n_ctx >= 1500);
  /* a YaRN file (tiny-qwen2: x4 from 1024, trained 4096) keeps its own settings inside 4096 ... */
  f.scaling = DQ_ROPE_SCALING_YARN;
  f.n_ctx_orig = 1024;
  f.freq_scale = 0.25f;
  assert_int_equal(dq_rope_plan_for(&pl, &f, 4.0f, 4096, 0, 0, 4000), 0);
  assert_int_equal(pl.scaling, DQ_ROPE_SCALING_YARN);
  assert_float_equal(pl.factor, 4.0f, 0.0f);
  assert_int_equal(pl.extended, 0);
  /* ... and stretches its own method beyond */
  assert_int_equal(dq_rope_plan_for(&pl, &f, 4.0f, 4096, 0, 0, 8192), 0);
  assert_int_equal(pl.scaling, DQ_ROPE_SCALING_YARN);
  assert_float_equal(pl.factor, 8.0f, 0.0f);
  /* a linear file is stretched linearly */
  f.scaling = DQ_ROPE_SCALING_LINEAR;
  assert_int_equal(dq_rope_plan_for(&pl, &f, 4.0f, 4096, 0, 0, 6144), 0);
  assert_int_equal(pl.scaling, DQ_ROPE_SCALING_LINEAR);
  assert_float_equal(pl.factor, 6.0f, 0.0f);
  /* per-pair factors (Llama 3.1 rope_freqs) cannot be stretched */
  assert_int_equal(dq_rope_plan_for(&pl, &f, 1.0f, 4096, 1, 0, 5000), DOCQ_EINVAL);
  assert_int_equal(dq_rope_plan_for(&pl, &f, 1.0f, 4096, 1, 0, 4096), 0);
  assert_int_equal(dq_rope_plan_for(&pl, &f, 1.0f, 4096, 0, 0, 0), DOCQ_EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_rope__yarn_corr_dims_and_mscale),
    cmocka_unit_test(test_engine_rope__yarn_theta_table),
    cmocka_unit_test(test_engine_rope__yarn_cos_sin_beyond_original_context),
    cmocka_unit_test(test_engine_rope__ext_factor_zero_is_pure_pi),
    cmocka_unit_test(test_engine_rope__layouts),
    cmocka_unit_test(test_engine_rope__relative_positions),
    cmocka_unit_test(test_engine_rope__ntk_and_llama3),
    cmocka_unit_test(test_engine_rope__rejects_bad_params),
    cmocka_unit_test(test_engine_rope__ntk_static),
    cmocka_unit_test(test_engine_rope__dynamic_ntk),
    cmocka_unit_test(test_engine_rope__invariants),
    cmocka_unit_test(test_engine_rope__scaling_names),
    cmocka_unit_test(test_engine_rope__plan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
