/* Tests for engine/sample.c: the PRNG against the published reference
 * outputs of splitmix64 and xoshiro256**, greedy selection and ties, each
 * truncation stage, the temperature law (p^(1/T)) and draw frequencies, and
 * every draw against a reference that sorts the whole vocabulary. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docq.h"
#include "engine/sample.h"

static dq_sampler_params defaults(void)
{
  dq_sampler_params p = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                         .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 1};
  return p;
}

static void test_engine_sample__rng_reference_vectors(void **state)
{
  (void)state;
  /* xoshiro256** with state {1,2,3,4}: outputs of the reference implementation. */
  dq_rng r = {{1, 2, 3, 4}};
  assert_true(dq_rng_next(&r) == 11520u);
  assert_true(dq_rng_next(&r) == 0u);
  assert_true(dq_rng_next(&r) == 1509978240u);
  assert_true(dq_rng_next(&r) == 1215971899390074240ull);
  /* seeding: splitmix64 from 0 yields 0xe220a8397b1dcdaf first */
  dq_rng_seed(&r, 0);
  assert_true(r.s[0] == 0xe220a8397b1dcdafull);
  for (int i = 0; i < 1000; i++) {
    float f = dq_rng_float(&r);
    assert_true(f >= 0.0f && f < 1.0f);
  }
}

static void test_engine_sample__greedy_and_ties(void **state)
{
  (void)state;
  dq_sampler_params p = defaults();
  p.temperature = 0.0f;
  dq_sampler *s;
  assert_int_equal(dq_sampler_new(&s, 5, &p), 0);
  float l[5] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
  assert_int_equal(dq_sampler_sample(s, l), 1); /* tie 1/3 -> lowest id */
  assert_float_equal(l[1], 3.0f, 0.0f);          /* logits not modified */
  dq_sampler_free(s);
}

static void test_engine_sample__repeat_penalty(void **state)
{
  (void)state;
  dq_sampler_params p = defaults();
  p.temperature = 0.0f;
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  dq_sampler *s;
  assert_int_equal(dq_sampler_new(&s, 4, &p), 0);
  float l[4] = {3.0f, 2.0f, -1.0f, 1.9f};
  assert_int_equal(dq_sampler_sample(s, l), 0);
  dq_sampler_accept(s, 0);
  dq_sampler_accept(s, 0); /* twice: penalized once (3 -> 1.5) */
  assert_int_equal(dq_sampler_sample(s, l), 1);
  dq_sampler_accept(s, 1);  /* window 2: now {0, 1} -> 1.5, 1.0; 3 wins with 1.9 */
  assert_int_equal(dq_sampler_sample(s, l), 3);
  dq_sampler_accept(s, 3);
  dq_sampler_accept(s, 2);  /* window {3, 2}: 0 is free again */
  assert_int_equal(dq_sampler_sample(s, l), 0);
  dq_sampler_free(s);
}

/* The repetition penalty over a long window: the penalized logits are, bit
 * for bit, the definition's (each distinct token of the last repeat_last_n
 * accepted ones once: divided when positive, multiplied when negative), and
 * a draw takes time linear in the window (it was quadratic: a window of
 * 262,144 tokens took seconds a draw). */
static void test_engine_sample__repeat_penalty_long_window(void **state)
{
  (void)state;
  enum { N = 3000, W = 1000, BIG = 1 << 18 };
  float *l = malloc(BIG * sizeof *l), *want = malloc(N * sizeof *want);
  int32_t *hist = malloc(BIG * sizeof *hist);
  char *done = malloc(N);
  dq_rng r;
  dq_rng_seed(&r, 3);
  for (int i = 0; i < N; i++) l[i] = (float)((int)(dq_rng_next(&r) % 2001) - 1000) / 97.0f;
  dq_sampler_params p = defaults();
  p.temperature = 0.0f;
  p.repeat_penalty = 1.37f;
  p.repeat_last_n = W;
  dq_sampler *s;
  assert_int_equal(dq_sampler_new(&s, N, &p), 0);
  int n_hist = 0;
  for (int step = 0; step < 30; step++) {
    const int add = 1 + (int)(dq_rng_next(&r) % 400); /* tokens from a small set: many repeats */
    for (int i = 0; i < add; i++) {
      hist[n_hist] = (int32_t)(dq_rng_next(&r) % (step % 2 ? 50 : N));
      dq_sampler_accept(s, hist[n_hist++]);
    }
    memcpy(want, l, N * sizeof *want);
    memset(done, 0, N);
    for (int i = n_hist > W ? n_hist - W : 0; i < n_hist; i++) {
      const int32_t t = hist[i];
      if (done[t]++) continue;
      want[t] = want[t] > 0 ? want[t] / p.repeat_penalty : want[t] * p.repeat_penalty;
    }
    dq_sampler_sample(s, l);
    assert_memory_equal(s->penalized, want, N * sizeof *want);
  }
  dq_sampler_free(s);

  /* a window of 2^18 distinct tokens */
  for (int i = 0; i < BIG; i++) l[i] = (float)(i % 1000) / 100.0f;
  p.repeat_last_n = BIG;
  assert_int_equal(dq_sampler_new(&s, BIG, &p), 0);
  for (int i = 0; i < BIG; i++) dq_sampler_accept(s, i);
  clock_t t0 = clock();
  for (int i = 0; i < 2; i++) dq_sampler_sample(s, l);
  const double sec = (double)(clock() - t0) / CLOCKS_PER_SEC;
  /* a guard against the quadratic search (38 s here), not a speed test: that is bench's */
  if (sec > 10.0) fail_msg("2 draws with a window of %d tokens took %.2f s of CPU time", BIG, sec);
  dq_sampler_free(s);
  free(done);
  free(hist);
  free(want);
  free(l);
}

/* Draw many times; fill freq[n]. */
static void draw(dq_sampler *s, const float *l, int n, int times, double *freq)
{
  memset(freq, 0, sizeof(double) * n);
  for (int i = 0; i < times; i++) {
    int t = dq_sampler_sample(s, l);
    assert_true(t >= 0 && t < n);
    freq[t] += 1.0 / times;
  }
}

static void test_engine_sample__frequencies_and_temperature(void **state)
{
  (void)state;
  float l[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
  double f[3];
  dq_sampler_params p = defaults();
  dq_sampler *s;
  assert_int_equal(dq_sampler_new(&s, 3, &p), 0);
  draw(s, l, 3, 200000, f);
  assert_true(fabs(f[0] - 0.5) < 0.01 && fabs(f[1] - 0.3) < 0.01 && fabs(f[2] - 0.2) < 0.01);
  dq_sampler_free(s);
  /* T = 0.5: p ~ p^2 -> 25/38, 9/38, 4/38 */
  p.temperature = 0.5f;
  assert_int_equal(dq_sampler_new(&s, 3, &p), 0);
  draw(s, l, 3, 200000, f);
  assert_true(fabs(f[0] - 25.0 / 38) < 0.01 && fabs(f[1] - 9.0 / 38) < 0.01 && fabs(f[2] - 4.0 / 38) < 0.01);
  dq_sampler_free(s);
}

static void test_engine_sample__truncations(void **state)
{
  (void)state;
  float l[4] = {logf(0.4f), logf(0.3f), logf(0.2f), logf(0.1f)};
  double f[4];
  dq_sampler *s;
  dq_sampler_params p = defaults();
  p.top_k = 2; /* renormalized 4/7, 3/7 */
  assert_int_equal(dq_sampler_new(&s, 4, &p), 0);
  draw(s, l, 4, 100000, f);
  assert_true(f[2] == 0 && f[3] == 0 && fabs(f[0] - 4.0 / 7) < 0.01);
  dq_sampler_free(s);
  p = defaults();
  p.top_p = 0.75f; /* 0.4 + 0.3 = 0.7 < 0.75 -> keep three */
  assert_int_equal(dq_sampler_new(&s, 4, &p), 0);
  draw(s, l, 4, 100000, f);
  assert_true(f[3] == 0 && f[2] > 0.2 && fabs(f[0] - 4.0 / 9) < 0.01);
  dq_sampler_free(s);
  p = defaults();
  p.min_p = 0.6f; /* keep p >= 0.24: ids 0, 1 */
  assert_int_equal(dq_sampler_new(&s, 4, &p), 0);
  draw(s, l, 4, 100000, f);
  assert_true(f[2] == 0 && f[3] == 0 && f[1] > 0.3);
  dq_sampler_free(s);
}

/* top-k on a large vocabulary keeps exactly the k best (quickselect vs sort). */
static void test_engine_sample__top_k_large_vocab(void **state)
{
  (void)state;
  enum { N = 50000, K = 40 };
  float *l = malloc(N * sizeof *l);
  dq_rng r;
  dq_rng_seed(&r, 7);
  for (int i = 0; i < N; i++) l[i] = (float)(dq_rng_next(&r) % 1000) / 100.0f; /* many ties */
  float *sorted = malloc(N * sizeof *sorted);
  memcpy(sorted, l, N * sizeof *l);
  for (int i = 0; i < K + 1; i++) /* partial selection sort: K-th largest */
    for (int j = i + 1; j < N; j++)
      if (sorted[j] > sorted[i]) { float t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t; }
  float kth = sorted[K - 1];
  dq_sampler_params p = defaults();
  p.top_k = K;
  p.temperature = 5.0f; /* flat: every kept candidate is drawn */
  dq_sampler *s;
  assert_int_equal(dq_sampler_new(&s, N, &p), 0);
  for (int i = 0; i < 3000; i++) assert_true(l[dq_sampler_sample(s, l)] >= kth);
  dq_sampler_free(s);
  free(sorted);
  free(l);
}

static void test_engine_sample__seed_reproducible(void **state)
{
  (void)state;
  float l[16];
  for (int i = 0; i < 16; i++) l[i] = (float)i * 0.1f;
  dq_sampler_params p = defaults();
  dq_sampler *a, *b, *c;
  assert_int_equal(dq_sampler_new(&a, 16, &p), 0);
  assert_int_equal(dq_sampler_new(&b, 16, &p), 0);
  p.seed = 2;
  assert_int_equal(dq_sampler_new(&c, 16, &p), 0);
  int same = 1, differ = 0;
  for (int i = 0; i < 64; i++) {
    int x = dq_sampler_sample(a, l), y = dq_sampler_sample(b, l), z = dq_sampler_sample(c, l);
    same &= x == y;
    differ |= x != z;
  }
  assert_true(same && differ);
  dq_sampler_free(a);
  dq_sampler_free(b);
  dq_sampler_free(c);
}

/* The probabilities of each token from the definitions, in double: sort by
 * logit; top-k (0 or >= n: off); top-p over the softmax of the top-k
 * survivors (the smallest prefix reaching top_p); min-p (p_i >= min_p *
 * p_max); softmax at the temperature. The auditor's ref.py, which matched
 * llama.cpp's sampler chain. */
static void definition_probs(const float *l, int n, int top_k, double top_p, double min_p, double temp, double *out)
{
  int order[16];
  for (int i = 0; i < n; i++) order[i] = i;
  for (int i = 0; i < n; i++) /* insertion sort, descending */
    for (int j = i; j > 0 && l[order[j]] > l[order[j - 1]]; j--) { int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t; }
  int m = top_k > 0 && top_k < n ? top_k : n;
  double e[16], z = 0;
  for (int i = 0; i < m; i++) z += e[i] = exp((double)l[order[i]] - l[order[0]]);
  if (top_p < 1) {
    double cum = 0;
    for (int i = 0; i < m; i++)
      if ((cum += e[i] / z) >= top_p) { m = i + 1; break; }
  }
  if (min_p > 0) {
    int keep = 1;
    while (keep < m && e[keep] >= min_p * e[0]) keep++;
    m = keep;
  }
  double zt = 0;
  memset(out, 0, sizeof(double) * (size_t)n);
  for (int i = 0; i < m; i++) zt += out[order[i]] = exp(((double)l[order[i]] - l[order[0]]) / temp);
  for (int i = 0; i < m; i++) out[order[i]] /= zt;
}

/* With top-k off (0, or the whole vocabulary) the stages keep their order
 * penalties -> top-k -> top-p -> min-p -> temperature: top-p sees the whole
 * distribution, not one renormalized over min-p's survivors (min-p ran
 * first there: with top-p 0.9 and min-p 0.1 on these logits token 3, 13% in
 * the documented order, was never drawn). */
static void test_engine_sample__top_p_then_min_p_without_top_k(void **state)
{
  (void)state;
  enum { N = 8, DRAWS = 200000 };
  static const float l[N] = {3.0f, 2.5f, 2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -3.0f};
  static const struct { float temp, top_p, min_p; } cases[] = {
    {1.0f, 0.9f, 0.1f}, {2.0f, 0.9f, 0.1f}, {0.7f, 0.95f, 0.05f}, {1.5f, 0.8f, 0.2f}, {1.0f, 0.99f, 0.01f},
    {1.0f, 1.0f, 0.1f}, {1.0f, 0.9f, 0.0f},
  };
  for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
    for (int k = 0; k <= N; k += N) {
      dq_sampler_params p = defaults();
      p.top_k = k;
      p.temperature = cases[ci].temp;
      p.top_p = cases[ci].top_p;
      p.min_p = cases[ci].min_p;
      p.seed = 5 + ci;
      double want[N], got[N];
      definition_probs(l, N, k, cases[ci].top_p, cases[ci].min_p, cases[ci].temp, want);
      dq_sampler *s;
      assert_int_equal(dq_sampler_new(&s, N, &p), 0);
      draw(s, l, N, DRAWS, got);
      dq_sampler_free(s);
      for (int i = 0; i < N; i++) /* 5e-3: over 4 standard errors at 200k draws */
        if ((want[i] == 0) != (got[i] == 0) || fabs(want[i] - got[i]) > 5e-3)
          fail_msg("case %zu, top-k %d: token %d drawn %.4f of the time, by the definitions %.4f", ci, k, i, got[i],
                   want[i]);
    }
}

/* ---- a reference sampler, written from sample.h's contract: penalties
 * (once per distinct recent token), then the whole vocabulary sorted by
 * logit (ties: lower id first), then top-k, top-p and min-p as prefix cuts
 * of that order, then temperature, then one draw u in [0, 1) (the top 24
 * bits of one PRNG output) taken at the first cumulative probability above
 * u. It sorts everything, so it checks the sampler's one-pass selections. */
typedef struct { int id; float l; float p; } ref_cand;

static int ref_cmp(const void *a, const void *b)
{
  const ref_cand *x = a, *y = b;
  if (x->l != y->l) return x->l < y->l ? 1 : -1;
  return (x->id > y->id) - (x->id < y->id);
}

static void ref_softmax(ref_cand *c, int n, float t)
{
  double sum = 0;
  for (int i = 0; i < n; i++) {
    c[i].p = expf((c[i].l - c[0].l) / t);
    sum += c[i].p;
  }
  for (int i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

static int ref_sample(const dq_sampler_params *p, dq_rng *rng, const float *logits, int n, const int *recent,
                      int n_recent, ref_cand *c)
{
  for (int i = 0; i < n; i++) c[i] = (ref_cand){ i, logits[i], 0 };
  for (int r = 0; r < n_recent && p->repeat_penalty != 1.0f; r++) {
    int dup = 0;
    for (int q = 0; q < r; q++) dup |= recent[q] == recent[r];
    if (!dup) c[recent[r]].l = c[recent[r]].l > 0 ? c[recent[r]].l / p->repeat_penalty : c[recent[r]].l * p->repeat_penalty;
  }
  qsort(c, (size_t)n, sizeof *c, ref_cmp);
  if (p->temperature <= 0) return c[0].id;
  if (p->top_k > 0 && p->top_k < n) n = p->top_k;
  if (p->top_p < 1.0f) {
    ref_softmax(c, n, 1.0f);
    double cum = 0;
    for (int i = 0; i < n; i++)
      if ((cum += c[i].p) >= p->top_p) {
        n = i + 1;
        break;
      }
  }
  if (p->min_p > 0.0f) {
    ref_softmax(c, n, 1.0f);
    int keep = 1;
    while (keep < n && c[keep].p >= p->min_p * c[0].p) keep++;
    n = keep;
  }
  ref_softmax(c, n, p->temperature);
  float u = dq_rng_float(rng), cum = 0;
  for (int i = 0; i < n; i++)
    if (u < (cum += c[i].p)) return c[i].id;
  return c[n - 1].id;
}

/* The sampler draws exactly the reference's tokens: logits with many ties
 * (so the lower-id rule decides which of equal logits survive a cut), k from
 * 1 to n - 1, with and without top-p, min-p and a repetition penalty. */
static void test_engine_sample__matches_full_sort_reference(void **state)
{
  (void)state;
  enum { N = 3000, STEPS = 40 };
  static const int ks[] = { 1, 2, 7, 40, 41, 999, N - 1, 0 };
  float *l = malloc(N * sizeof *l);
  ref_cand *c = malloc(N * sizeof *c);
  dq_rng gen;
  dq_rng_seed(&gen, 11);
  int checked = 0;
  for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
    for (int variant = 0; variant < 4; variant++) {
      dq_sampler_params p = defaults();
      p.top_k = ks[ki];
      p.seed = 100 + ki * 4 + (uint64_t)variant;
      p.temperature = variant == 3 ? 0.0f : 0.8f;
      p.top_p = variant == 1 ? 0.9f : 1.0f;
      p.min_p = variant == 2 ? 0.05f : 0.0f;
      p.repeat_penalty = variant >= 2 ? 1.3f : 1.0f;
      p.repeat_last_n = 8;
      dq_sampler *s;
      assert_int_equal(dq_sampler_new(&s, N, &p), 0);
      dq_rng ref;
      dq_rng_seed(&ref, p.seed);
      int recent[8], n_recent = 0, head = 0;
      for (int step = 0; step < STEPS; step++) {
        /* few distinct values: ties at every cut; some steps all equal */
        int levels = step % 5 == 4 ? 1 : 2 + (int)(dq_rng_next(&gen) % 60);
        for (int i = 0; i < N; i++) l[i] = (float)(int)(dq_rng_next(&gen) % (uint64_t)levels) * 0.25f - 3.0f;
        int want = ref_sample(&p, &ref, l, N, recent, n_recent, c);
        int got = dq_sampler_sample(s, l);
        if (got != want) fail_msg("k %d variant %d step %d: sampled %d, the reference %d", p.top_k, variant, step, got, want);
        dq_sampler_accept(s, got);
        recent[head] = got;
        head = (head + 1) % 8;
        if (n_recent < 8) n_recent++;
        checked++;
      }
      dq_sampler_free(s);
    }
  assert_int_equal(checked, 8 * 4 * STEPS);
  free(c);
  free(l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_sample__rng_reference_vectors),
    cmocka_unit_test(test_engine_sample__greedy_and_ties),
    cmocka_unit_test(test_engine_sample__repeat_penalty),
    cmocka_unit_test(test_engine_sample__repeat_penalty_long_window),
    cmocka_unit_test(test_engine_sample__frequencies_and_temperature),
    cmocka_unit_test(test_engine_sample__truncations),
    cmocka_unit_test(test_engine_sample__top_k_large_vocab),
    cmocka_unit_test(test_engine_sample__seed_reproducible),
    cmocka_unit_test(test_engine_sample__matches_full_sort_reference),
    cmocka_unit_test(test_engine_sample__top_p_then_min_p_without_top_k),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
