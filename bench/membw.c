/* Memory read bandwidth: see membw.h. */
#include "membw.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

struct dq_membw {
  float *p;
  size_t n;           /* floats */
  float sink[64];     /* one result per thread, so the reads are not optimized away */
};

dq_membw *dq_membw_new(size_t bytes)
{
  dq_membw *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->n = bytes / 128 * 32; /* whole 128-byte steps */
  b->p = aligned_alloc(64, b->n * sizeof(float));
  if (!b->p) { free(b); return NULL; }
  for (size_t i = 0; i < b->n; i++) b->p[i] = (float)(i & 7); /* touch every page */
  return b;
}

void dq_membw_free(dq_membw *b)
{
  if (!b) return;
  free(b->p);
  free(b);
}

static void read_part(void *arg, int ith, int nth)
{
  dq_membw *b = arg;
  size_t steps = b->n / 32, per = steps / (size_t)nth;
  size_t lo = per * (size_t)ith * 32, hi = ith == nth - 1 ? b->n : lo + per * 32;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  for (size_t i = lo; i + 32 <= hi; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(b->p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(b->p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(b->p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(b->p + i + 24));
  }
  float t[8];
  _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  b->sink[ith % 64] = t[0] + t[7];
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double dq_membw_read(dq_membw *b, dq_pool *pool, int reps)
{
  double t[64];
  if (reps < 1) reps = 1;
  if (reps > 64) reps = 64;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    dq_pool_run(pool, read_part, b);
    t[r] = now() - t0;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp_d);
  double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
  return (double)b->n * sizeof(float) / med / 1e9;
}
