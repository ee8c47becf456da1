/* Tests for engine/attn.c: the tiled online-softmax attention against a naive
 * reference written independently here (every score of a query row, softmax,
 * weighted sum, all in double, visibility rules spelled out from their
 * definitions), at lengths 1, 7, 64, 65, 300, 1000 and 4096 (tile edges and
 * the split-KV decode path), GQA ratios 1, 3, 4, 7, head dims that do and do
 * not fill the vector loops, causal prefill / chunked prefill / decode, f32,
 * f16, q8_0 and q4_0 caches; StreamingLLM sink windows and LM-Infinite's
 * Lambda mask (the reference scores far global keys with the pre-RoPE key at
 * position 0 against the query rotated to max_dist, as LM-Infinite does, via
 * engine/rope.c); Gemma 2's score cap (c tanh(s / c) before the softmax);
 * results for 1, 2 and 3 threads must be bit-identical. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "docq.h"
#include "engine/attn.h"
#include "engine/kernels.h"
#include "engine/kvcache.h"
#include "engine/rope.h"
#include "util/err.h"

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static float frand(void) /* uniform in [-1, 1) */
{
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(rng_state >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static dq_pool *pool2, *pool3;

static int setup(void **state)
{
  (void)state;
  return dq_pool_new(&pool2, 2) < 0 || dq_pool_new(&pool3, 3) < 0;
}

static int teardown(void **state)
{
  (void)state;
  dq_pool_free(pool2);
  dq_pool_free(pool3);
  return 0;
}

/* A cache of n positions (layer 1 of 2 is used, layer 0 holds other data so
 * a wrong layer offset shows), queries for all n positions. With `rope`, the
 * random vectors are pre-RoPE (q0/k0) and cache/queries hold them rotated at
 * their positions. */
typedef struct fx {
  int n, nh, nkv, hd, tk, tv;
  dq_kv *kv;
  float *q;      /* (n, nh, hd) as given to attention (rotated when rope) */
  float *k, *v;  /* (n, nkv, hd) f32 originals (k rotated when rope) */
  float *q0, *k0; /* pre-RoPE originals (rope only) */
  double *kd, *vd; /* (n, nkv, hd) what the cache holds, dequantized by the reference kernels */
  const dq_rope *rope;
} fx;

static void fx_init(fx *f, int n, int nh, int nkv, int hd, int tk, int tv, const dq_rope *rope)
{
  memset(f, 0, sizeof *f);
  f->n = n, f->nh = nh, f->nkv = nkv, f->hd = hd, f->tk = tk, f->tv = tv, f->rope = rope;
  const size_t nq = (size_t)n * nh * hd, nk = (size_t)n * nkv * hd;
  f->q = malloc(nq * sizeof(float));
  f->k = malloc(nk * sizeof(float));
  f->v = malloc(nk * sizeof(float));
  f->q0 = malloc(nq * sizeof(float));
  f->k0 = malloc(nk * sizeof(float));
  f->kd = malloc(nk * sizeof(double));
  f->vd = malloc(nk * sizeof(double));
  float *junk = malloc(nk * sizeof(float)), row[512], cs[512];
  assert_int_equal(dq_kv_new(&f->kv, 2, n + 3, nkv, hd, tk, tv), 0);
  for (size_t i = 0; i < nq; i++) f->q[i] = f->q0[i] = 3.0f * frand(); /* peaky softmax */
  for (size_t i = 0; i < nk; i++) {
    f->k[i] = f->k0[i] = frand();
    f->v[i] = frand();
    junk[i] = 100.0f;
  }
  for (int p = 0; p < n; p++) {
    if (rope) {
      dq_rope_cache(rope, p, cs);
      dq_rope_apply(rope, f->q + (size_t)p * nh * hd, nh, hd, cs);
      dq_rope_apply(rope, f->k + (size_t)p * nkv * hd, nkv, hd, cs);
    }
    assert_int_equal(dq_kv_write(f->kv, 1, p, f->k + (size_t)p * nkv * hd, f->v + (size_t)p * nkv * hd), 0);
    assert_int_equal(dq_kv_write(f->kv, 0, p, junk + (size_t)p * nkv * hd, junk), 0);
    for (int h = 0; h < nkv; h++) {
      dq_dequant_row_ref(tk, dq_kv_krow(f->kv, 1, p, h), row, hd);
      for (int d = 0; d < hd; d++) f->kd[((size_t)p * nkv + h) * hd + d] = row[d];
      dq_dequant_row_ref(tv, dq_kv_vrow(f->kv, 1, p, h), row, hd);
      for (int d = 0; d < hd; d++) f->vd[((size_t)p * nkv + h) * hd + d] = row[d];
    }
  }
  /* slots beyond n hold garbage a correct causal mask never reads */
  for (int p = n; p < n + 3; p++) assert_int_equal(dq_kv_write(f->kv, 1, p, junk, junk), 0);
  free(junk);
}

static void fx_free(fx *f)
{
  dq_kv_free(f->kv);
  free(f->q), free(f->k), free(f->v), free(f->q0), free(f->k0), free(f->kd), free(f->vd);
}

/* The reference. exact = 0: keys/values as the cache holds them (isolates
 * the attention algorithm); exact = 1: the f32 originals (measures the cache
 * type's error). */
static void naive(const fx *f, const dq_attn_params *p, int pos0, int n_q, int exact, double *out)
{
  const int hd = f->hd, gqa = f->nh / f->nkv;
  const double scale = p->scale > 0 ? p->scale : 1.0 / sqrt((double)hd);
  const int max_dist = p->max_dist ? p->max_dist : p->window;
  double *s = malloc(sizeof(double) * (size_t)(pos0 + n_q));
  float qcap[512], cs[512];
  for (int i = 0; i < n_q; i++)
    for (int h = 0; h < f->nh; h++) {
      const int qs = pos0 + i, kvh = h / gqa;
      const float *qv = f->q + ((size_t)qs * f->nh + h) * hd;
      if (p->mask == DQ_ATTN_LAMBDA) { /* LM-Infinite: pre-RoPE query rotated to the limit distance */
        memcpy(qcap, f->q0 + ((size_t)qs * f->nh + h) * hd, sizeof(float) * hd);
        dq_rope_cache(f->rope, max_dist, cs);
        dq_rope_apply(f->rope, qcap, 1, hd, cs);
      }
      double mx = -INFINITY;
      for (int j = 0; j <= qs; j++) {
        const int recent = qs - j < p->window;
        int vis = 1, far_global = 0;
        if (p->mask == DQ_ATTN_SINKS) vis = j < p->n_sinks || recent;
        if (p->mask == DQ_ATTN_LAMBDA) {
          far_global = !recent && j < p->n_sinks;
          vis = recent || far_global;
        }
        s[j] = -INFINITY;
        if (!vis) continue;
        double dot = 0;
        const size_t ko = ((size_t)j * f->nkv + kvh) * hd;
        for (int d = 0; d < hd; d++) {
          if (far_global) dot += (double)qcap[d] * f->k0[ko + d]; /* key un-rotated: position 0 */
          else dot += (double)qv[d] * (exact ? (double)f->k[ko + d] : f->kd[ko + d]);
        }
        s[j] = dot * scale;
        if (p->softcap > 0) s[j] = p->softcap * tanh(s[j] / p->softcap);
        if (s[j] > mx) mx = s[j];
      }
      double sum = 0;
      for (int j = 0; j <= qs; j++) sum += s[j] = s[j] == -INFINITY ? 0 : exp(s[j] - mx);
      double *o = out + ((size_t)i * f->nh + h) * hd;
      for (int d = 0; d < hd; d++) o[d] = 0;
      for (int j = 0; j <= qs; j++) {
        if (s[j] == 0) continue;
        const size_t vo = ((size_t)j * f->nkv + kvh) * hd;
        for (int d = 0; d < hd; d++) o[d] += s[j] / sum * (exact ? (double)f->v[vo + d] : f->vd[vo + d]);
      }
    }
  free(s);
}

/* Run with 1, 2 and 3 threads (bit-identical), compare with the reference;
 * returns the max abs error. */
static double check(const fx *f, const dq_attn_params *p0, int pos0, int n_q, int exact)
{
  dq_attn_params p = *p0;
  p.n_threads = 3;
  dq_attn *a = NULL;
  assert_int_equal(dq_attn_new(&a, &p), 0);
  const size_t no = (size_t)n_q * f->nh * f->hd;
  float *o1 = malloc(no * sizeof(float)), *o2 = malloc(no * sizeof(float)), *o3 = malloc(no * sizeof(float));
  double *ref = malloc(no * sizeof(double));
  const float *q = f->q + (size_t)pos0 * f->nh * f->hd;
  assert_int_equal(dq_attn_run(a, NULL, f->kv, 1, q, n_q, pos0, o1), 0);
  assert_int_equal(dq_attn_run(a, pool2, f->kv, 1, q, n_q, pos0, o2), 0);
  assert_int_equal(dq_attn_run(a, pool3, f->kv, 1, q, n_q, pos0, o3), 0);
  assert_memory_equal(o1, o2, no * sizeof(float));
  assert_memory_equal(o1, o3, no * sizeof(float));
  naive(f, &p, pos0, n_q, exact, ref);
  double worst = 0;
  for (size_t i = 0; i < no; i++) {
    assert_true(isfinite(o1[i]));
    worst = fmax(worst, fabs(o1[i] - ref[i]));
  }
  free(o1), free(o2), free(o3), free(ref);
  dq_attn_free(a);
  return worst;
}

/* prefill of everything, chunked prefill of the second part, decode of the last */
static void three_ways(const fx *f, const dq_attn_params *p, double tol)
{
  const int n = f->n;
  assert_true(check(f, p, 0, n, 0) < tol);
  if (n > 2) assert_true(check(f, p, n / 3, n - n / 3, 0) < tol);
  assert_true(check(f, p, n - 1, 1, 0) < tol);
}

static void test_engine_attn__tiled_equals_naive_lengths(void **state)
{
  (void)state;
  static const int lens[] = {1, 7, 64, 65, 300, 1000};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    fx f;
    fx_init(&f, lens[i], 6, 2, 64, DQ_T_F16, DQ_T_F16, NULL);
    dq_attn_params p;
    dq_attn_params_default(&p, 6, 2, 64);
    three_ways(&f, &p, 2e-5);
    fx_free(&f);
  }
}

static void test_engine_attn__long_4096_prefill_tail_and_decode(void **state)
{
  (void)state;
  fx f;
  fx_init(&f, 4096, 14, 2, 64, DQ_T_F16, DQ_T_F16, NULL); /* Qwen2.5-0.5B layer shape */
  dq_attn_params p;
  dq_attn_params_default(&p, 14, 2, 64);
  assert_true(check(&f, &p, 4096 - 70, 70, 0) < 2e-5);
  assert_true(check(&f, &p, 4095, 1, 0) < 2e-5);  /* 16-way split-KV */
  assert_true(check(&f, &p, 2000, 1, 0) < 2e-5);
  fx_free(&f);
}

static void test_engine_attn__gqa_ratios_and_head_dims(void **state)
{
  (void)state;
  static const struct { int nh, nkv, hd, n; float scale; } cfg[] = {
    {4, 4, 32, 130, 0}, {6, 2, 96, 129, 0}, {14, 2, 64, 200, 0.2f}, {4, 1, 128, 97, 0},
    {3, 3, 20, 70, 0},  /* head dim not a multiple of 8: scalar tails */
    {8, 1, 18, 65, 0.5f}};
  for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++)
    for (int f16 = 0; f16 < 2; f16++) { /* and each with an f16 cache (the default), which decodes its own way */
      const int tk = f16 || cfg[i].hd % 32 ? DQ_T_F16 : DQ_T_Q8_0;
      const int tv = f16 ? DQ_T_F16 : cfg[i].hd % 32 ? DQ_T_F32 : DQ_T_Q4_0;
      fx f;
      fx_init(&f, cfg[i].n, cfg[i].nh, cfg[i].nkv, cfg[i].hd, tk, tv, NULL);
      dq_attn_params p;
      dq_attn_params_default(&p, cfg[i].nh, cfg[i].nkv, cfg[i].hd);
      p.scale = cfg[i].scale;
      three_ways(&f, &p, 2e-5);
      fx_free(&f);
    }
}

/* Each cache type: the algorithm is exact on what the cache holds (tight),
 * and the output error against the f32 originals is bounded by type. */
static void test_engine_attn__cache_types(void **state)
{
  (void)state;
  static const struct { int t; double tol; } ty[] = {
    {DQ_T_F32, 2e-6}, {DQ_T_F16, 2e-3}, {DQ_T_Q8_0, 1.5e-2}, {DQ_T_Q4_0, 0.15}};
  double prev = 0;
  for (size_t i = 0; i < sizeof ty / sizeof ty[0]; i++) {
    fx f;
    fx_init(&f, 300, 8, 2, 64, ty[i].t, ty[i].t, NULL);
    dq_attn_params p;
    dq_attn_params_default(&p, 8, 2, 64);
    three_ways(&f, &p, 2e-5);
    const double err = check(&f, &p, 0, 300, 1);
    assert_true(err < ty[i].tol);
    assert_true(err >= prev); /* coarser type, larger error */
    prev = err;
    fx_free(&f);
  }
}

static void test_engine_attn__sink_windows(void **state)
{
  (void)state;
  static const struct { int n, sinks, window; } cfg[] = {
    {300, 4, 16}, {300, 0, 1}, {1000, 10, 100}, {200, 4, 64}, {200, 70, 30}, {65, 4, 200}};
  for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
    fx f;
    fx_init(&f, cfg[i].n, 6, 2, 64, DQ_T_F16, DQ_T_Q8_0, NULL);
    dq_attn_params p;
    dq_attn_params_default(&p, 6, 2, 64);
    p.mask = DQ_ATTN_SINKS;
    p.n_sinks = cfg[i].sinks;
    p.window = cfg[i].window;
    three_ways(&f, &p, 2e-5);
    fx_free(&f);
  }
}

static void test_engine_attn__lambda_distance_cap(void **state)
{
  (void)state;
  static const struct { int mode, n, global, window, max_dist; } cfg[] = {
    {DQ_ROPE_NEOX, 300, 5, 32, 0}, {DQ_ROPE_NORM, 300, 5, 32, 0}, {DQ_ROPE_NEOX, 1000, 100, 128, 0},
    {DQ_ROPE_NORM, 200, 70, 30, 45}, {DQ_ROPE_NEOX, 100, 4, 200, 0}};
  for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
    dq_rope_params rp;
    dq_rope r;
    dq_rope_params_default(&rp, 64, cfg[i].mode);
    rp.freq_base = 10000.0f;
    assert_int_equal(dq_rope_init(&r, &rp), 0);
    float theta[32];
    for (int j = 0; j < 32; j++) theta[j] = (float)dq_rope_theta(&r, j);
    fx f;
    fx_init(&f, cfg[i].n, 6, 2, 64, DQ_T_F32, DQ_T_F16, &r);
    dq_attn_params p;
    dq_attn_params_default(&p, 6, 2, 64);
    p.mask = DQ_ATTN_LAMBDA;
    p.n_sinks = cfg[i].global;
    p.window = cfg[i].window;
    p.max_dist = cfg[i].max_dist;
    p.n_rot = 64;
    p.rope_mode = cfg[i].mode;
    p.theta = theta;
    /* float32 RoPE tables (ggml order) vs the double rotation in attn.c */
    three_ways(&f, &p, 3e-4);
    /* the cap matters: scoring far global keys at their true distance (the
     * sink mask) gives a clearly different answer */
    if (cfg[i].n > cfg[i].window + 1) {
      dq_attn_params ps = p;
      ps.mask = DQ_ATTN_SINKS;
      double *ref = malloc(sizeof(double) * 6 * 64);
      naive(&f, &ps, cfg[i].n - 1, 1, 0, ref);
      double *lam = malloc(sizeof(double) * 6 * 64), diff = 0;
      naive(&f, &p, cfg[i].n - 1, 1, 0, lam);
      for (int d = 0; d < 6 * 64; d++) diff = fmax(diff, fabs(ref[d] - lam[d]));
      assert_true(diff > 1e-2);
      free(ref), free(lam);
    }
    fx_free(&f);
  }
}

/* A softcap c replaces each score s = scale * q.k by c tanh(s / c) before the
 * softmax (Gemma 2; ggml's flash attention folds 1/c into the scale). The
 * scale here makes the scores' spread ~3 times the cap of 2, so most of them
 * are bent: ignoring the cap moves the output by far more than the tolerance
 * (checked against the reference without it). Causal prefill, chunked
 * prefill and decode (tile edges; 600 and 1000 keys for split-KV decodes),
 * f16 and f32 caches, GQA, and the sink window mask. */
static void test_engine_attn__softcap(void **state)
{
  (void)state;
  static const struct { int n, nh, nkv, hd, t, mask, sinks, window; } cfg[] = {
    {65, 4, 2, 32, DQ_T_F16, DQ_ATTN_CAUSAL, 0, 0},   {300, 6, 2, 64, DQ_T_F32, DQ_ATTN_CAUSAL, 0, 0},
    {1000, 4, 1, 64, DQ_T_F16, DQ_ATTN_CAUSAL, 0, 0}, {600, 4, 4, 64, DQ_T_F32, DQ_ATTN_CAUSAL, 0, 0},
    {7, 3, 3, 20, DQ_T_F16, DQ_ATTN_CAUSAL, 0, 0},    {300, 6, 2, 64, DQ_T_F16, DQ_ATTN_SINKS, 4, 16},
    {200, 6, 2, 64, DQ_T_F32, DQ_ATTN_SINKS, 70, 30}};
  for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
    fx f;
    fx_init(&f, cfg[i].n, cfg[i].nh, cfg[i].nkv, cfg[i].hd, cfg[i].t, cfg[i].t, NULL);
    dq_attn_params p;
    dq_attn_params_default(&p, cfg[i].nh, cfg[i].nkv, cfg[i].hd);
    p.scale = 3.0f / sqrtf((float)cfg[i].hd); /* q . k has spread ~sqrt(hd): scores ~3 */
    p.softcap = 2.0f;
    p.mask = cfg[i].mask;
    p.n_sinks = cfg[i].sinks;
    p.window = cfg[i].window;
    three_ways(&f, &p, 2e-5);
    const int n = f.n;
    if (n > 500) { /* decode inside the cache too: another split of the keys */
      assert_true(check(&f, &p, n / 2, 1, 0) < 2e-5);
      assert_true(check(&f, &p, 64, 1, 0) < 2e-5);
    }
    /* the cap matters: the same queries without it give another answer, in
     * the last rows of the batch and in the last token's decode */
    dq_attn_params pu = p;
    pu.softcap = 0.0f;
    const int n_q = n < 16 ? n : 16;
    const size_t no = (size_t)n_q * f.nh * f.hd;
    double *capped = malloc(sizeof(double) * no), *plain = malloc(sizeof(double) * no), diff = 0, diff_last = 0;
    naive(&f, &p, n - n_q, n_q, 0, capped);
    naive(&f, &pu, n - n_q, n_q, 0, plain);
    for (size_t j = 0; j < no; j++) diff = fmax(diff, fabs(capped[j] - plain[j]));
    for (size_t j = no - (size_t)f.nh * f.hd; j < no; j++) diff_last = fmax(diff_last, fabs(capped[j] - plain[j]));
    assert_true(diff > 0.1);
    assert_true(diff_last > 1e-2);
    free(capped), free(plain);
    fx_free(&f);
  }
  /* a cap must be a positive number, or 0 for none */
  dq_attn_params p;
  dq_attn *a = (dq_attn *)1;
  dq_attn_params_default(&p, 4, 2, 32);
  p.softcap = -2.0f;
  assert_int_equal(dq_attn_new(&a, &p), DOCQ_EINVAL);
  assert_null(a);
  p.softcap = NAN;
  assert_int_equal(dq_attn_new(&a, &p), DOCQ_EINVAL);
}

static void test_engine_attn__errors_and_scratch_size(void **state)
{
  (void)state;
  dq_attn_params p;
  dq_attn *a = (dq_attn *)1;
  dq_attn_params_default(&p, 14, 4, 64);
  assert_int_equal(dq_attn_new(&a, &p), DOCQ_EINVAL);
  assert_null(a);
  dq_attn_params_default(&p, 14, 2, 64);
  p.mask = DQ_ATTN_SINKS;
  assert_int_equal(dq_attn_new(&a, &p), DOCQ_EINVAL); /* window 0 */
  p.mask = DQ_ATTN_LAMBDA;
  p.window = 16;
  assert_int_equal(dq_attn_new(&a, &p), DOCQ_EINVAL); /* no theta */
  assert_non_null(strstr(dq_err_msg(), "theta"));
  dq_attn_params_default(&p, 14, 2, 64);
  p.n_threads = 2;
  assert_int_equal(dq_attn_new(&a, &p), 0);
  /* Qwen2.5-0.5B layer: scratch well under a megabyte, whatever the context */
  assert_true(dq_attn_scratch_bytes(a) < 512 * 1024);
  dq_kv *kv = NULL;
  float q[14 * 64] = {0}, o[14 * 64];
  assert_int_equal(dq_kv_new(&kv, 1, 8, 2, 64, DQ_T_F16, DQ_T_F16), 0);
  assert_int_equal(dq_attn_run(a, pool3, kv, 0, q, 1, 0, o), DOCQ_EINVAL); /* pool larger than scratch */
  assert_int_equal(dq_attn_run(a, pool2, kv, 0, q, 1, 8, o), DOCQ_EINVAL); /* past the cache */
  assert_int_equal(dq_attn_run(a, pool2, kv, 1, q, 1, 0, o), DOCQ_EINVAL); /* no such layer */
  assert_int_equal(dq_attn_run(a, pool2, kv, 0, q, 1, 7, o), 0);
  dq_kv_free(kv);
  assert_int_equal(dq_kv_new(&kv, 1, 8, 2, 32, DQ_T_F16, DQ_T_F16), 0);
  assert_int_equal(dq_attn_run(a, NULL, kv, 0, q, 1, 0, o), DOCQ_EINVAL); /* head dim mismatch */
  dq_kv_free(kv);
  dq_attn_free(a);
  dq_attn_free(NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_attn__tiled_equals_naive_lengths),
    cmocka_unit_test(test_engine_attn__long_4096_prefill_tail_and_decode),
    cmocka_unit_test(test_engine_attn__gqa_ratios_and_head_dims),
    cmocka_unit_test(test_engine_attn__cache_types),
    cmocka_unit_test(test_engine_attn__sink_windows),
    cmocka_unit_test(test_engine_attn__lambda_distance_cap),
    cmocka_unit_test(test_engine_attn__softcap),
    cmocka_unit_test(test_engine_attn__errors_and_scratch_size),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
