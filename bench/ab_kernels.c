/* ab_kernels: the decode mat-vec of two builds of src/engine/quant_avx2.c in
 * one program, taking turns pass by pass (scripts/ab-kernels.sh builds it).
 *
 * Why: on a shared host the memory bandwidth moves between states from one
 * minute to the next (a 2-core Zen 5, 2026-11-29: ~40-50 and ~75-80 GB/s
 * with 2 threads), so two binaries run one after the other compare states as
 * much as code, and a kernel change of a few percent drowns. Here both
 * copies stream the same matrices in turns of a few milliseconds; the
 * figure is the median of the passes' speed ratios B / A, with quartiles,
 * and the read bandwidth is taken before and after, so the state is known.
 *
 * A is DOCQ_AB_BASE_SRC (another revision's quant_avx2.c, or the tree's)
 * compiled with DOCQ_AB_A_FLAGS; B the tree's file with DOCQ_AB_B_FLAGS. Each
 * is compiled with DQ_ISA_SUFFIX (engine/isa.h), so their entry points are
 * dq_kq_dot_rows_ab_a / _ab_b. Both see this build's flags (-march=native).
 *
 * usage: ab_kernels [--types q5_0,q4_k] [--shapes 4864x896,896x4864]
 *                   [--passes 40] [--threads 2] [--resident]
 * Shapes are n_out x n_in, as bench_kernels prints them (4864x896: 896-wide
 * rows, as gate / up; 896x4864: long rows, as down). Matrices are cycled
 * through >= 256 MiB of copies (DRAM); --resident keeps one (cache). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels.h"
#include "engine/quant_internal.h"
#include "membw.h"
#include "qwen_shape.h" /* dq_bench_now */

typedef void (*dot_rows_fn)(int type, const void *w, size_t row_stride, int64_t n_rows, const float *xf,
                            const void *act, int64_t n, int streamed, float *out);
void dq_kq_dot_rows_ab_a(int type, const void *w, size_t row_stride, int64_t n_rows, const float *xf,
                         const void *act, int64_t n, int streamed, float *out);
void dq_kq_dot_rows_ab_b(int type, const void *w, size_t row_stride, int64_t n_rows, const float *xf,
                         const void *act, int64_t n, int streamed, float *out);

static const struct { const char *name; int type; } k_types[] = {
  { "q8_0", DQ_T_Q8_0 }, { "q4_0", DQ_T_Q4_0 }, { "q5_0", DQ_T_Q5_0 }, { "q4_k", DQ_T_Q4_K },
  { "q5_k", DQ_T_Q5_K }, { "q6_k", DQ_T_Q6_K }, { "q2_k", DQ_T_Q2_K }, { "q3_k", DQ_T_Q3_K },
};

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static uint64_t g_rng = 88172645463325252ull;
static float rnd(void)
{
  g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
  return (float)((int32_t)(g_rng >> 32)) * (1.0f / 2147483648.0f);
}

static void *xalloc(size_t n)
{
  void *p = aligned_alloc(64, (n + 63) / 64 * 64);
  if (!p) { fprintf(stderr, "ab_kernels: out of memory (%zu bytes)\n", n); exit(1); }
  return p;
}

/* The mat-vec of every copy, each copy's rows split evenly (in fours) among
 * the threads. One pool run per pass and no barrier between copies: the
 * kernels' own speed, not the pool's wake-ups (bench_kernels has those). */
typedef struct {
  dot_rows_fn fn;
  int type;
  const uint8_t *w;
  size_t rb;
  int64_t n_in, n_out;
  int copies;
  const float *x;
  const void *act;
  float *out;
} job;

static void job_run(void *ctx, int ith, int nth)
{
  const job *j = ctx;
  int64_t per = ((j->n_out + nth - 1) / nth + 3) / 4 * 4, r0 = ith * per, r1 = r0 + per;
  if (r1 > j->n_out) r1 = j->n_out;
  const size_t mb = j->rb * (size_t)j->n_out;
  for (int c = 0; c < j->copies && r0 < r1; c++)
    j->fn(j->type, j->w + (size_t)c * mb + (size_t)r0 * j->rb, j->rb, r1 - r0, j->x, j->act, j->n_in, 1, j->out + r0);
}

/* One pass over every copy with fn; seconds. */
static double pass(dq_pool *pool, job *j, dot_rows_fn fn)
{
  j->fn = fn;
  double t0 = dq_bench_now();
  dq_pool_run(pool, job_run, j);
  return dq_bench_now() - t0;
}

static void ab(dq_pool *pool, dq_membw *bw, const char *tn, int type, int64_t n_out, int64_t n_in, int passes,
               int resident)
{
  const size_t rb = dq_kq_row_bytes(type, n_in), mb = rb * (size_t)n_out;
  if (!rb) {
    fprintf(stderr, "ab_kernels: %s %lldx%lld skipped: rows of %lld elements are not whole blocks\n", tn,
            (long long)n_out, (long long)n_in, (long long)n_in);
    return;
  }
  int copies = resident ? 1 : (int)((((size_t)256 << 20) + mb - 1) / mb);
  uint8_t *w = xalloc(mb * (size_t)copies);
  float *x = xalloc(sizeof(float) * (size_t)n_in), *out = xalloc(sizeof(float) * (size_t)n_out);
  for (int64_t r = 0; r < n_out; r++) {
    for (int64_t i = 0; i < n_in; i++) x[i] = 0.05f * rnd();
    dq_quantize_row_ref(type, x, w + (size_t)r * rb, n_in);
  }
  for (int c = 1; c < copies; c++) memcpy(w + (size_t)c * mb, w, mb);
  for (int64_t i = 0; i < n_in; i++) x[i] = rnd();
  void *act = xalloc(dq_kq_act_bytes(type, n_in) + 64);
  dq_kq_quantize_act(type, x, act, n_in);
  job j = { NULL, type, w, rb, n_in, n_out, copies, x, act, out };

  const double bw0 = dq_membw_read(bw, pool, 3);
  for (int i = 0; i < 2; i++) {
    pass(pool, &j, dq_kq_dot_rows_ab_a);
    pass(pool, &j, dq_kq_dot_rows_ab_b);
  }
  double *ta = xalloc(sizeof(double) * (size_t)passes), *tb = xalloc(sizeof(double) * (size_t)passes);
  double *ratio = xalloc(sizeof(double) * (size_t)passes);
  for (int i = 0; i < passes; i++) { /* who goes first alternates too */
    if (i & 1) {
      tb[i] = pass(pool, &j, dq_kq_dot_rows_ab_b);
      ta[i] = pass(pool, &j, dq_kq_dot_rows_ab_a);
    } else {
      ta[i] = pass(pool, &j, dq_kq_dot_rows_ab_a);
      tb[i] = pass(pool, &j, dq_kq_dot_rows_ab_b);
    }
    ratio[i] = ta[i] / tb[i];
  }
  const double bw1 = dq_membw_read(bw, pool, 3);
  qsort(ta, (size_t)passes, sizeof *ta, cmp_d);
  qsort(tb, (size_t)passes, sizeof *tb, cmp_d);
  qsort(ratio, (size_t)passes, sizeof *ratio, cmp_d);
  const double gb = (double)mb * copies / 1e9;
  printf("%-5s %6lldx%-6lld read %5.1f/%5.1f GB/s  A %6.2f GB/s  B %6.2f GB/s  speed B/A %.3f [%.3f %.3f]%s\n", tn,
         (long long)n_out, (long long)n_in, bw0, bw1, gb / ta[passes / 2], gb / tb[passes / 2], ratio[passes / 2],
         ratio[passes / 4], ratio[(3 * passes) / 4], resident ? " (resident)" : "");
  fflush(stdout);
  free(ta); free(tb); free(ratio); free(act); free(x); free(out); free(w);
}

int main(int argc, char **argv)
{
  const char *types = "q8_0,q5_0,q4_k,q6_k", *shapes = "4864x896,896x4864";
  int passes = 40, threads = 2, resident = 0;
  for (int i = 1; i < argc; i++) {
    const int more = i + 1 < argc;
    if (!strcmp(argv[i], "--types") && more) types = argv[++i];
    else if (!strcmp(argv[i], "--shapes") && more) shapes = argv[++i];
    else if (!strcmp(argv[i], "--passes") && more) passes = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && more) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--resident")) resident = 1;
    else {
      fprintf(stderr, "usage: ab_kernels [--types q5_0,q4_k] [--shapes 4864x896,896x4864] [--passes 40] "
                      "[--threads 2] [--resident]\n");
      return 2;
    }
  }
  if (passes < 4 || passes > 10000 || threads < 1) {
    fprintf(stderr, "ab_kernels: --passes 4..10000 and --threads >= 1\n");
    return 2;
  }
  dq_pool *pool;
  dq_membw *bw = dq_membw_new((size_t)256 << 20);
  if (dq_pool_new(&pool, threads) || !bw) {
    fprintf(stderr, "ab_kernels: cannot start %d threads or allocate 256 MiB\n", threads);
    return 1;
  }
  char tl[256];
  snprintf(tl, sizeof tl, "%s", types);
  for (char *tn = strtok(tl, ","); tn; tn = strtok(NULL, ",")) {
    int type = -1;
    for (size_t k = 0; k < sizeof k_types / sizeof k_types[0]; k++)
      if (!strcmp(tn, k_types[k].name)) type = k_types[k].type;
    if (type < 0) {
      fprintf(stderr, "ab_kernels: unknown type %s\n", tn);
      return 2;
    }
    for (const char *s = shapes; *s;) {
      long long n_out, n_in;
      int used = 0;
      if (sscanf(s, "%lldx%lld%n", &n_out, &n_in, &used) != 2 || n_out < 1 || n_in < 1) {
        fprintf(stderr, "ab_kernels: shapes are n_out x n_in, as 4864x896: %s\n", s);
        return 2;
      }
      ab(pool, bw, tn, type, n_out, n_in, passes, resident);
      s += used;
      if (*s == ',') s++;
    }
  }
  dq_membw_free(bw);
  dq_pool_free(pool);
  return 0;
}
