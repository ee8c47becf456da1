/* Memory read bandwidth: see membw.h. */
#include "membw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include <time.h>

struct dq_membw {
  float *p;
  size_t n;           /* floats */
};

typedef struct {
  const uint8_t *p;
  size_t n;           /* bytes */
  float sink[64];     /* one result per thread, so the reads are not optimized away */
} region;

dq_membw *dq_membw_new(size_t bytes)
{
  dq_membw *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  const size_t page = (size_t)2 << 20;
  b->n = bytes / page * page / sizeof(float); /* whole 2 MiB pages */
  if (!b->n) b->n = bytes / 128 * 32;
  /* aligned_alloc wants a size that is a multiple of the alignment */
  b->p = aligned_alloc(b->n * sizeof(float) % page ? 64 : page, b->n * sizeof(float));
  if (!b->p) { free(b); return NULL; }
#ifdef MADV_HUGEPAGE
  /* 2 MiB pages where the kernel grants them (transparent huge pages in
   * "madvise" mode): with 4 KiB pages the same buffer read 6-12% slower on
   * the Zen 3 VM of session 18 (24.4 vs 27.4 GB/s), a handicap of the
   * measurement, not of the memory */
  madvise(b->p, b->n * sizeof(float), MADV_HUGEPAGE);
#endif
  for (size_t i = 0; i < b->n; i++) b->p[i] = (float)(i & 7); /* touch every page */
  return b;
}

void dq_membw_free(dq_membw *b)
{
  if (!b) return;
  free(b->p);
  free(b);
}

/* Each thread reads one contiguous part, 128 bytes per step into four
 * accumulators. Integer ORs, not float adds: the weights of a model are any
 * bytes (NaNs, subnormals), and the reading must not depend on them. */
static void read_part(void *arg, int ith, int nth)
{
  region *b = arg;
  size_t steps = b->n / 128, per = steps / (size_t)nth;
  size_t lo = per * (size_t)ith * 128, hi = ith == nth - 1 ? steps * 128 : lo + per * 128;
#ifdef __AVX2__
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = lo; i < hi; i += 128) {
    a0 = _mm256_or_si256(a0, _mm256_loadu_si256((const __m256i *)(b->p + i)));
    a1 = _mm256_or_si256(a1, _mm256_loadu_si256((const __m256i *)(b->p + i + 32)));
    a2 = _mm256_or_si256(a2, _mm256_loadu_si256((const __m256i *)(b->p + i + 64)));
    a3 = _mm256_or_si256(a3, _mm256_loadu_si256((const __m256i *)(b->p + i + 96)));
  }
  const __m256i t = _mm256_or_si256(_mm256_or_si256(a0, a1), _mm256_or_si256(a2, a3));
  b->sink[ith % 64] = (float)_mm256_extract_epi32(t, 0);
#else
  /* a build without AVX2 (DOCQ_NATIVE=OFF): the compiler vectorizes these
   * 16 independent ORs with what the target has */
  uint64_t a[16] = { 0 };
  for (size_t i = lo; i < hi; i += 128) {
    uint64_t v[16];
    memcpy(v, b->p + i, sizeof v);
    for (int k = 0; k < 16; k++) a[k] |= v[k];
  }
  uint64_t t = 0;
  for (int k = 0; k < 16; k++) t |= a[k];
  b->sink[ith % 64] = (float)(uint32_t)t;
#endif
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

double dq_membw_read_bytes(const void *p, size_t bytes, dq_pool *pool, int reps)
{
  region b = { .p = p, .n = bytes / 128 * 128 };
  double t[64];
  if (reps < 1) reps = 1;
  if (reps > 64) reps = 64;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    dq_pool_run(pool, read_part, &b);
    t[r] = now() - t0;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp_d);
  double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
  return (double)b.n / med / 1e9;
}

double dq_membw_read(dq_membw *b, dq_pool *pool, int reps)
{
  return dq_membw_read_bytes(b->p, b->n * sizeof(float), pool, reps);
}
