/* bench_kernels: throughput of dq_matmul per weight type, for the shapes of a
 * Qwen2.5-0.5B-like model (n_embd 896, n_ff 4864, vocab 151936).
 *
 *   decode  (n_tok 1):   GB/s of weight bytes streamed. Several copies of the
 *                        matrix are cycled (>= 256 MiB in all) so the numbers
 *                        are DRAM numbers, not L3 ones, as in a real model.
 *   prefill (n_tok 512): GFLOP/s (2 * n_in * n_out * n_tok per call).
 * References on the same machine: a plain AVX2 read of a 256 MiB buffer
 * (memory bandwidth), OpenBLAS sgemm on f32 weights with 1 and 2 of its
 * own threads, and (AVX512-VNNI builds) the register-only peak of the int8
 * dot instruction per thread, the ceiling of the Q8_0 / Q4_0 / Q5_0 int8
 * GEMM that dq_matmul uses for their prefill (2 ops per multiply-add, as
 * GFLOP/s counts them). --resident keeps one copy of each decode matrix:
 * the layer shapes (2-4 MiB) then sit in L2/L3 after the first call, so
 * they show the kernels' compute rate, the ceiling of their decode where it
 * is below the DRAM figure (the vocabulary matrix does not fit). Every
 * figure is the median of repeated runs. To compare dq_matmul's paths at
 * one batch size, build with -DDQ_G8_MIN_TOK=1000000 (no int8 GEMM) or
 * -DDQ_BLAS_MIN_TOK=N.
 *
 * usage: bench_kernels [--reps N] [--types q8_0,q4_0,...] [--threads 1,2]
 *                      [--no-vocab] [--no-prefill] [--no-decode] [--cpu] [--ntok N]
 *                      [--resident] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <immintrin.h>

#include "engine/kernels.h"
#include "engine/quant_internal.h"
#include "membw.h"

/* --cpu: time by process CPU time divided by the thread count instead of wall
 * time. On a shared machine this estimates what the code does when it has
 * the cores to itself (spin-waiting is counted, preemption is not). */
static int g_cpu_clock;
static int g_resident; /* --resident: one copy of each decode matrix */
static int g_nthreads = 1;
static double now_s(void)
{
  struct timespec ts;
  if (g_cpu_clock) {
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (ts.tv_sec + ts.tv_nsec * 1e-9) / g_nthreads;
  }
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double g_best; /* fastest run of the last median() call: less sensitive to other processes */
static double median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  g_best = v[0];
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t g_rng = 88172645463325252ull;
static float rnd(void)
{
  g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
  return (float)((int32_t)(g_rng >> 32)) * (1.0f / 2147483648.0f);
}

static struct { const char *name; int type; } k_types[] = {
  { "q8_0", DQ_T_Q8_0 }, { "q4_0", DQ_T_Q4_0 }, { "q5_0", DQ_T_Q5_0 }, { "q5_1", DQ_T_Q5_1 },
  { "q4_k", DQ_T_Q4_K }, { "q5_k", DQ_T_Q5_K }, { "q6_k", DQ_T_Q6_K },
  { "q2_k", DQ_T_Q2_K }, { "q3_k", DQ_T_Q3_K }, { "iq4_nl", DQ_T_IQ4_NL }, { "iq4_xs", DQ_T_IQ4_XS },
  { "f16", DQ_T_F16 }, { "bf16", DQ_T_BF16 }, { "f32", DQ_T_F32 },
};
#define N_TYPES ((int)(sizeof k_types / sizeof k_types[0]))

static uint8_t *make_matrix(int type, int64_t n_in, int64_t n_out)
{
  size_t rb = dq_kq_row_bytes(type, n_in);
  uint8_t *w = aligned_alloc(64, (rb * (size_t)n_out + 63) / 64 * 64);
  float *tmp = malloc(sizeof(float) * (size_t)n_in);
  if (!w || !tmp) { fprintf(stderr, "out of memory\n"); exit(1); }
  for (int64_t r = 0; r < n_out; r++) {
    for (int64_t i = 0; i < n_in; i++) tmp[i] = 0.05f * rnd();
    dq_quantize_row_ref(type, tmp, w + (size_t)r * rb, n_in);
  }
  free(tmp);
  return w;
}

/* Read bandwidth of this machine with the pool's threads, GB/s (membw.c). */
static double mem_bandwidth(dq_pool *pool, int reps)
{
  dq_membw *b = dq_membw_new((size_t)256 << 20);
  if (!b) { fprintf(stderr, "out of memory\n"); exit(1); }
  double gbs = dq_membw_read(b, pool, reps);
  dq_membw_free(b);
  return gbs;
}

/* Cost of one dq_pool_run with an empty task: the fixed overhead each of the
 * ~170 matmuls of a decode step pays. */
static void empty_fn(void *ctx, int ith, int nth) { (void)ctx; (void)ith; (void)nth; }
static void bench_pool(dq_pool *pool, int reps)
{
  double *t = malloc(sizeof(double) * (size_t)reps);
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    for (int i = 0; i < 10000; i++) dq_pool_run(pool, empty_fn, NULL);
    t[r] = (now_s() - t0) / 10000;
  }
  double med = median(t, reps);
  printf("pool    empty run, %d threads: %.2f us (best %.2f)\n", dq_pool_size(pool), med * 1e6, g_best * 1e6);
  free(t);
}

static void bench_decode(dq_pool *pool, int type, const char *tn, int64_t n_in, int64_t n_out, int reps)
{
  size_t bytes = dq_kq_row_bytes(type, n_in) * (size_t)n_out;
  int copies = (int)((((size_t)256 << 20) + bytes - 1) / bytes);
  if (copies > 64) copies = 64;
  if (copies < 1 || g_resident) copies = 1;
  uint8_t **w = malloc(sizeof(*w) * (size_t)copies);
  for (int i = 0; i < copies; i++) w[i] = make_matrix(type, n_in, n_out);
  float *x = malloc(sizeof(float) * (size_t)n_in), *out = malloc(sizeof(float) * (size_t)n_out);
  for (int64_t i = 0; i < n_in; i++) x[i] = rnd();
  size_t ss = dq_matmul_scratch_size(type, n_in, n_out, 1, dq_pool_size(pool));
  void *scratch = malloc(ss);
  int n_runs = reps * copies < 20 ? 20 : reps * copies;
  double *t = malloc(sizeof(double) * (size_t)n_runs);
  for (int i = 0; i < copies; i++) dq_matmul(pool, type, w[i], n_in, n_out, x, 1, out, scratch); /* warm up */
  for (int r = 0; r < n_runs; r++) {
    double t0 = now_s();
    dq_matmul(pool, type, w[r % copies], n_in, n_out, x, 1, out, scratch);
    t[r] = now_s() - t0;
  }
  double med = median(t, n_runs);
  printf("decode  %-5s %6lldx%-5lld threads %d  %7.1f us  %6.2f GB/s  (best %6.2f; %d copies, %.0f MiB)\n", tn,
         (long long)n_out, (long long)n_in, dq_pool_size(pool), med * 1e6, bytes / med / 1e9, bytes / g_best / 1e9,
         copies, bytes * copies / 1048576.0);
  fflush(stdout);
  for (int i = 0; i < copies; i++) free(w[i]);
  free(w); free(x); free(out); free(scratch); free(t);
}

static void bench_prefill(dq_pool *pool, int type, const char *tn, int64_t n_in, int64_t n_out, int64_t n_tok, int reps)
{
  uint8_t *w = make_matrix(type, n_in, n_out);
  float *x = malloc(sizeof(float) * (size_t)(n_in * n_tok)), *out = malloc(sizeof(float) * (size_t)(n_out * n_tok));
  for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = rnd();
  size_t ss = dq_matmul_scratch_size(type, n_in, n_out, n_tok, dq_pool_size(pool));
  void *scratch = malloc(ss);
  double *t = malloc(sizeof(double) * (size_t)reps);
  dq_matmul(pool, type, w, n_in, n_out, x, n_tok, out, scratch);
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    dq_matmul(pool, type, w, n_in, n_out, x, n_tok, out, scratch);
    t[r] = now_s() - t0;
  }
  double med = median(t, reps);
  printf("prefill %-5s %6lldx%-5lld threads %d  n_tok %lld  %8.2f ms  %6.1f GFLOP/s  (best %6.1f)\n", tn, (long long)n_out,
         (long long)n_in, dq_pool_size(pool), (long long)n_tok, med * 1e3, 2.0 * n_in * n_out * n_tok / med / 1e9,
         2.0 * n_in * n_out * n_tok / g_best / 1e9);
  fflush(stdout);
  free(w); free(x); free(out); free(scratch); free(t);
}

static void bench_sgemm(int blas_threads, int64_t n_in, int64_t n_out, int64_t n_tok, int reps)
{
  float *w = malloc(sizeof(float) * (size_t)(n_in * n_out)), *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
  float *out = malloc(sizeof(float) * (size_t)(n_out * n_tok));
  for (int64_t i = 0; i < n_in * n_out; i++) w[i] = rnd();
  for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = rnd();
  openblas_set_num_threads(blas_threads);
  double *t = malloc(sizeof(double) * (size_t)reps);
  for (int r = -1; r < reps; r++) {
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_tok, (int)n_out, (int)n_in, 1.0f, x, (int)n_in,
                w, (int)n_in, 0.0f, out, (int)n_out);
    if (r >= 0) t[r] = now_s() - t0;
  }
  openblas_set_num_threads(1); /* what dq_matmul expects */
  double med = median(t, reps);
  printf("sgemm   f32   %6lldx%-5lld blas threads %d  n_tok %lld  %8.2f ms  %6.1f GFLOP/s  (best %6.1f; OpenBLAS reference)\n",
         (long long)n_out, (long long)n_in, blas_threads, (long long)n_tok, med * 1e3, 2.0 * n_in * n_out * n_tok / med / 1e9,
         2.0 * n_in * n_out * n_tok / g_best / 1e9);
  fflush(stdout);
  free(w); free(x); free(out); free(t);
}

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
/* Peak of vpdpbusd on 256-bit registers: 12 independent accumulators. */
static void vnni_fn(void *arg, int ith, int nth)
{
  int *sink = arg;
  (void)nth;
  __m256i a[12], x = _mm256_set1_epi8(3), w = _mm256_set1_epi8(-2);
  for (int i = 0; i < 12; i++) a[i] = _mm256_set1_epi32(i);
  for (long k = 0; k < 20000000; k++) {
    for (int i = 0; i < 12; i++) a[i] = _mm256_dpbusd_epi32(a[i], x, w);
    __asm__ volatile("" : "+v"(x), "+v"(w));
  }
  for (int i = 1; i < 12; i++) a[0] = _mm256_add_epi32(a[0], a[i]);
  sink[ith % 64] = _mm256_extract_epi32(a[0], 0);
}

static void bench_vnni_peak(dq_pool *pool, int reps)
{
  int sink[64];
  double *t = malloc(sizeof(double) * (size_t)reps);
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    dq_pool_run(pool, vnni_fn, sink);
    t[r] = now_s() - t0;
  }
  double ops = 20000000.0 * 12 * 32 * 2 * dq_pool_size(pool), med = median(t, reps);
  printf("int8    vpdpbusd peak, %d threads: %6.1f GFLOP/s (best %6.1f; the int8 GEMM's ceiling)\n", dq_pool_size(pool),
         ops / med / 1e9, ops / g_best / 1e9);
  free(t);
}
#endif

int main(int argc, char **argv)
{
  int reps = 7, do_vocab = 1, do_prefill = 1, do_decode = 1;
  int64_t n_tok = 512;
  const char *types = "q8_0,q4_0,q5_0,q4_k,q5_k,q6_k,f16", *threads = "1,2";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--types") && i + 1 < argc) types = argv[++i];
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = argv[++i];
    else if (!strcmp(argv[i], "--no-vocab")) do_vocab = 0;
    else if (!strcmp(argv[i], "--no-prefill")) do_prefill = 0;
    else if (!strcmp(argv[i], "--no-decode")) do_decode = 0;
    else if (!strcmp(argv[i], "--cpu")) g_cpu_clock = 1;
    else if (!strcmp(argv[i], "--resident")) g_resident = 1;
    else if (!strcmp(argv[i], "--ntok") && i + 1 < argc) n_tok = atoi(argv[++i]);
    else { fprintf(stderr, "usage: %s [--reps N] [--types a,b] [--threads 1,2] [--no-vocab] [--no-prefill] [--no-decode] [--cpu] [--ntok N] [--resident]\n", argv[0]); return 2; }
  }
  if (reps < 1) reps = 1;
  const int64_t shapes[3][2] = { { 896, 4864 }, { 4864, 896 }, { 896, 151936 } }; /* n_in, n_out */
  const char *tp = threads;
  while (*tp) {
    int nt = atoi(tp);
    dq_pool *pool;
    if (nt < 1 || dq_pool_new(&pool, nt)) return 1;
    g_nthreads = nt;
    printf("== %d thread(s): memory read bandwidth %.2f GB/s\n", nt, mem_bandwidth(pool, reps));
    bench_pool(pool, reps);
    for (int k = 0; k < N_TYPES; k++) {
      const char *hit = strstr(types, k_types[k].name);
      size_t ln = strlen(k_types[k].name);
      if (!hit || (hit[ln] && hit[ln] != ',') || (hit != types && hit[-1] != ',')) continue;
      for (int s = 0; s < 3; s++) {
        int64_t n_in = shapes[s][0], n_out = shapes[s][1];
        if (!dq_kq_row_bytes(k_types[k].type, n_in)) continue; /* K-quants need n_in % 256 == 0 */
        if (s == 2 && !do_vocab) continue;
        if (do_decode) bench_decode(pool, k_types[k].type, k_types[k].name, n_in, n_out, reps);
        if (do_prefill && s < 2) bench_prefill(pool, k_types[k].type, k_types[k].name, n_in, n_out, n_tok, reps);
      }
    }
    if (do_prefill) {
      for (int s = 0; s < 2; s++) bench_sgemm(nt, shapes[s][0], shapes[s][1], n_tok, reps);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
      bench_vnni_peak(pool, reps);
#endif
    }
    dq_pool_free(pool);
    tp = strchr(tp, ',');
    if (!tp) break;
    tp++;
  }
  return 0;
}
