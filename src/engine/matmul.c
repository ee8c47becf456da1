/* dq_matmul: out[n_tok][n_out] = x[n_tok][n_in] @ W^T over any supported
 * weight type, threaded over output rows with a dq_pool.
 *
 * Two paths, chosen by batch size (use_blas(), from bench/bench_kernels.c):
 *  - decode and small batches: the activations are
 *    quantized once (quant_internal.h) and every weight row is dotted with
 *    all n_tok activations while it is in L1, so W is streamed from memory
 *    once per call. Rows are handed out in ~32 KiB chunks through an atomic
 *    counter, which keeps both cores busy even when one is slowed by another
 *    process. dq_matmul_multi does several matrices that share the input
 *    (Q/K/V, gate/up) in one pool run with one quantized activation per
 *    activation format: fewer runs per token, each a wake-up and a wait.
 *  - prefill (larger batches): each thread dequantizes a tile of
 *    DQ_TILE_ROWS weight rows to f32 in its own part of the scratch and calls
 *    single-threaded OpenBLAS sgemm for that tile against all tokens. OpenBLAS
 *    is pinned to one thread (openblas_set_num_threads(1), once) so its own
 *    threads never compete with the pool's. F32 weights skip the dequant.
 * Scratch: the caller sizes it with dq_matmul_scratch_size() for the pool it
 * will pass (n_threads = dq_pool_size(pool)) and its largest batch (the size
 * covers every smaller n_tok too), so the token loop never allocates. The
 * scratch need not be aligned. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "engine/kernels.h"
#include "engine/quant_internal.h"

#ifndef DQ_TILE_ROWS
#define DQ_TILE_ROWS 256    /* max rows of W per sgemm call (128..1024 measured within ~10%) */
#endif
#define DQ_ALIGN 64
#ifndef DQ_MM_CHUNK_MAX
#define DQ_MM_CHUNK_MAX (128u << 10) /* weight bytes per claim in the mat-vec, at most */
#endif

void openblas_set_num_threads(int num_threads); /* OpenBLAS extension; declared here to not depend on its cblas.h */

static size_t align_up(size_t v) { return (v + DQ_ALIGN - 1) & ~(size_t)(DQ_ALIGN - 1); }

/* Batch size from which dequant + sgemm beats the quantized kernels, measured
 * with bench_kernels --ntok on this 2-core Zen 4 (1 thread, CPU time): Q8_0
 * 896x4864: 56 vs 13 GFLOP/s at 2 tokens, 50 vs 56 at 16, 53 vs 70 at 32;
 * Q4_K keeps up with sgemm longer (its integer kernel does 65 GFLOP/s). */
static int use_blas(int type, int64_t n_tok)
{
#ifdef DQ_BLAS_MIN_TOK
  return n_tok >= DQ_BLAS_MIN_TOK; /* benchmarking override */
#else
  switch (dq_kq_act_kind(type)) {
  case 0: return n_tok >= 4;  /* f32 activations: plain FMA per token gains nothing from batching */
  case 1: return n_tok >= 16;
  default: return n_tok >= 32;
  }
#endif
}

static int resolve_threads(int n_threads)
{
  if (n_threads > 0) return n_threads;
  long nc = sysconf(_SC_NPROCESSORS_ONLN);
  return nc > 0 ? (int)nc : 1;
}

/* The threshold of use_blas() for a type: smallest n_tok that takes sgemm. */
static int64_t blas_min_tok(int type)
{
  int64_t n = 1;
  while (!use_blas(type, n)) n++;
  return n;
}

/* Enough for every batch size up to n_tok, so a caller may size the scratch
 * once for its largest batch: the direct path needs n_tok quantized
 * activations (used only below the BLAS threshold), the BLAS path one f32
 * tile per thread. */
size_t dq_matmul_scratch_size(int type, int64_t n_in, int64_t n_out, int64_t n_tok, int n_threads)
{
  (void)n_out;
  if (!dq_kq_row_bytes(type, n_in) || n_tok <= 0) return 0; /* unsupported type or n_in not a block multiple */
  int64_t thr = blas_min_tok(type), direct_tok = n_tok < thr ? n_tok : thr - 1;
  size_t direct = align_up(dq_kq_act_bytes(type, n_in)) * (size_t)direct_tok, tiles = 0;
  if (n_tok >= thr && type != DQ_T_F32)
    tiles = align_up((size_t)DQ_TILE_ROWS * (size_t)n_in * sizeof(float)) * (size_t)resolve_threads(n_threads);
  return DQ_ALIGN /* room to align the caller's pointer */ + (direct > tiles ? direct : tiles);
}

typedef struct {
  int type;
  const uint8_t *W;
  size_t row_bytes;
  int64_t n_in, n_out, n_tok;
  const float *x;
  float *out;
  uint8_t *act;      /* n_tok quantized activations, act_stride apart */
  size_t act_stride;
  float *tiles;      /* prefill: per-thread dequant tiles */
  int64_t tile_rows; /* <= DQ_TILE_ROWS */
  size_t tile_stride; /* floats */
  atomic_llong next; /* next unclaimed tile */
} mm_ctx;

/* Decode: up to DQ_MM_MAX matrices sharing one input are one parallel region
 * (Q/K/V, gate/up), so a token costs ~4 pool runs per layer instead of 7. */
#define DQ_MM_MAX 4
typedef struct {
  int n_mat;
  struct {
    int type;
    const uint8_t *W;
    size_t row_bytes;
    int64_t n_out, chunk, first; /* rows per claim; index of its first chunk */
    float *out;
    const uint8_t *act;
  } m[DQ_MM_MAX];
  int64_t n_in, n_tok, n_chunks;
  const float *x;
  size_t act_stride;
  atomic_llong next; /* next unclaimed chunk over all matrices */
} mmv_ctx;

/* Chunks are claimed through one atomic counter, so whichever thread is
 * running takes the next one: on a loaded machine a descheduled thread
 * leaves at most one chunk for the other to wait for. ~32 KiB of weights
 * per chunk keeps that wait short (a few microseconds) while the counter is
 * touched rarely enough to not matter; rows stay contiguous per chunk so the
 * hardware prefetcher streams them. */
static void mm_rows(void *arg, int ith, int nth)
{
  mmv_ctx *c = arg;
  (void)ith; (void)nth;
  for (;;) {
    int64_t k = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
    if (k >= c->n_chunks) break;
    int i = 0;
    while (i + 1 < c->n_mat && k >= c->m[i + 1].first) i++;
    const int type = c->m[i].type;
    const int64_t n_out = c->m[i].n_out, r0 = (k - c->m[i].first) * c->m[i].chunk;
    const int64_t r1 = r0 + c->m[i].chunk < n_out ? r0 + c->m[i].chunk : n_out;
    const size_t rb = c->m[i].row_bytes;
    float *out = c->m[i].out;
    for (int64_t r = r0; r < r1; r++) {
      const uint8_t *row = c->m[i].W + (size_t)r * rb;
      for (int64_t t = 0; t < c->n_tok; t++)
        out[t * n_out + r] = dq_kq_dot(type, row, c->x + t * c->n_in, c->m[i].act + (size_t)t * c->act_stride, c->n_in);
    }
  }
}

/* Activation variant of a type: act kind plus Q8_1-style f16 sums (Q4_1,
 * Q5_1). Matrices with the same variant share one quantized activation. */
static int act_variant(int type) { return dq_kq_act_kind(type) * 2 + (type == DQ_T_Q4_1 || type == DQ_T_Q5_1); }

static void mm_tiles(void *arg, int ith, int nth)
{
  mm_ctx *c = arg;
  (void)nth;
  float *buf = c->tiles + (size_t)ith * c->tile_stride;
  int64_t tr = c->tile_rows, n_tiles = (c->n_out + tr - 1) / tr;
  for (;;) {
    int64_t t = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
    if (t >= n_tiles) break;
    int64_t r0 = t * tr, nr = c->n_out - r0 < tr ? c->n_out - r0 : tr;
    const float *wt;
    if (c->type == DQ_T_F32) {
      wt = (const float *)(const void *)(c->W + (size_t)r0 * c->row_bytes);
    } else {
      for (int64_t r = 0; r < nr; r++)
        dq_kq_dequant_fast(c->type, c->W + (size_t)(r0 + r) * c->row_bytes, buf + r * c->n_in, c->n_in);
      wt = buf;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)c->n_tok, (int)nr, (int)c->n_in, 1.0f,
                c->x, (int)c->n_in, wt, (int)c->n_in, 0.0f, c->out + r0, (int)c->n_out);
  }
}

static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }

/* Prefill path for one matrix: per-thread dequantized tiles and sgemm. */
static void matmul_blas(dq_pool *pool, int type, const void *W, int64_t n_in, int64_t n_out, const float *x,
                        int64_t n_tok, float *out, uint8_t *s)
{
  mm_ctx c = {
    .type = type, .W = W, .row_bytes = dq_kq_row_bytes(type, n_in),
    .n_in = n_in, .n_out = n_out, .n_tok = n_tok, .x = x, .out = out,
  };
  atomic_init(&c.next, 0);
  pthread_once(&g_blas_once, blas_single_thread);
  c.tiles = (float *)(void *)s;
  c.tile_stride = align_up((size_t)DQ_TILE_ROWS * (size_t)n_in * sizeof(float)) / sizeof(float);
  /* small matrices (attention K/V: 128 rows) are cut in up to 8 tiles so every
   * thread gets work; the split depends on n_out only, never on the thread
   * count, so results are identical for any pool size */
  int64_t per = n_in >= 2048 ? (n_out + 3) / 4 : (n_out + 7) / 8; /* long rows: every sgemm call repacks all of x, so fewer, taller tiles */
  per = (per + 15) / 16 * 16;
  c.tile_rows = per < DQ_TILE_ROWS ? per : DQ_TILE_ROWS;
  dq_pool_run(pool, mm_tiles, &c);
}

size_t dq_matmul_multi_scratch_size(int n_mat, const int *types, int64_t n_in, int64_t n_tok, int n_threads)
{
  size_t need = 0, stride = 0;
  int64_t dt = n_tok, n_var = 0;
  if (n_mat <= 0 || n_mat > DQ_MM_MAX || n_tok <= 0) return 0;
  for (int i = 0; i < n_mat; i++) {
    size_t s = dq_matmul_scratch_size(types[i], n_in, 1, n_tok, n_threads);
    if (!s) return 0;
    if (s > need) need = s;
    size_t ab = align_up(dq_kq_act_bytes(types[i], n_in));
    if (ab > stride) stride = ab;
    int64_t thr = blas_min_tok(types[i]);
    if (thr - 1 < dt) dt = thr - 1;
    int shared = 0;
    for (int j = 0; j < i; j++) shared |= act_variant(types[j]) == act_variant(types[i]);
    n_var += !shared;
  }
  /* the fused path (taken only below every type's sgemm threshold) keeps one
   * activation per distinct variant, all at the largest stride */
  size_t direct = DQ_ALIGN + stride * (size_t)n_var * (size_t)dt;
  return need > direct ? need : direct;
}

void dq_matmul_multi(dq_pool *pool, int n_mat, const int *types, const void *const *Ws, const int64_t *n_outs,
                     float *const *outs, int64_t n_in, const float *x, int64_t n_tok, void *scratch)
{
  if (n_tok <= 0 || n_mat <= 0) return;
  uint8_t *s = (uint8_t *)align_up((uintptr_t)scratch);
  int direct = n_mat <= DQ_MM_MAX;
  for (int i = 0; i < n_mat; i++) {
    if (!dq_kq_row_bytes(types[i], n_in)) { /* unsupported type or bad n_in: callers check at load; never leave garbage */
      if (n_outs[i] > 0) memset(outs[i], 0, sizeof(float) * (size_t)n_outs[i] * (size_t)n_tok);
      direct = 0;
    }
    if (use_blas(types[i], n_tok)) direct = 0;
  }
  if (!direct) { /* prefill: big products gain nothing from sharing a run */
    for (int i = 0; i < n_mat; i++)
      if (n_outs[i] > 0 && dq_kq_row_bytes(types[i], n_in)) {
        if (use_blas(types[i], n_tok)) matmul_blas(pool, types[i], Ws[i], n_in, n_outs[i], x, n_tok, outs[i], s);
        else dq_matmul_multi(pool, 1, types + i, Ws + i, n_outs + i, outs + i, n_in, x, n_tok, scratch);
      }
    return;
  }
  mmv_ctx c = { .n_mat = n_mat, .n_in = n_in, .n_tok = n_tok, .x = x };
  atomic_init(&c.next, 0);
  size_t act_off = 0;
  c.act_stride = 0;
  for (int i = 0; i < n_mat; i++) {
    size_t ab = align_up(dq_kq_act_bytes(types[i], n_in));
    if (ab > c.act_stride) c.act_stride = ab;
  }
  /* ~8 claims per thread, 16..128 KiB each: big enough that each thread
   * streams long runs of rows (a jump every few KiB costs the prefetcher
   * its ramp-up), small enough that a thread descheduled mid-chunk leaves
   * the other only a short wait */
  size_t total = 0, cb;
  for (int i = 0; i < n_mat; i++) total += dq_kq_row_bytes(types[i], n_in) * (size_t)(n_outs[i] > 0 ? n_outs[i] : 0);
  cb = total / (8u * (size_t)dq_pool_size(pool));
  cb = cb < (16u << 10) ? (16u << 10) : cb > DQ_MM_CHUNK_MAX ? DQ_MM_CHUNK_MAX : cb;
  for (int i = 0; i < n_mat; i++) {
    const size_t rb = dq_kq_row_bytes(types[i], n_in);
    int64_t chunk = (int64_t)(cb / rb);
    c.m[i].type = types[i];
    c.m[i].W = Ws[i];
    c.m[i].row_bytes = rb;
    c.m[i].n_out = n_outs[i] > 0 ? n_outs[i] : 0;
    c.m[i].out = outs[i];
    c.m[i].chunk = chunk < 8 ? 8 : chunk;
    c.m[i].first = c.n_chunks;
    c.n_chunks += (c.m[i].n_out + c.m[i].chunk - 1) / c.m[i].chunk;
    c.m[i].act = NULL;
    for (int j = 0; j < i; j++)
      if (act_variant(types[j]) == act_variant(types[i])) c.m[i].act = c.m[j].act;
    if (!c.m[i].act) {
      uint8_t *a = s + act_off;
      for (int64_t t = 0; t < n_tok; t++) dq_kq_quantize_act_fast(types[i], x + t * n_in, a + (size_t)t * c.act_stride, n_in);
      c.m[i].act = a;
      act_off += c.act_stride * (size_t)n_tok;
    }
  }
  if (c.n_chunks) dq_pool_run(pool, mm_rows, &c);
}

void dq_matmul(dq_pool *pool, int type, const void *W, int64_t n_in, int64_t n_out,
               const float *x, int64_t n_tok, float *out, void *scratch)
{
  if (n_out <= 0 || n_tok <= 0) return;
  dq_matmul_multi(pool, 1, &type, &W, &n_out, &out, n_in, x, n_tok, scratch);
}
