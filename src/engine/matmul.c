/* dq_matmul: out[n_tok][n_out] = x[n_tok][n_in] @ W^T over any supported
 * weight type, threaded over output rows with a dq_pool.
 *
 * Three paths, chosen by type and batch size (use_gemm8(), use_blas(), from
 * bench/bench_kernels.c):
 *  - decode and small batches: the activations are
 *    quantized once (quant_internal.h) and every weight row is dotted with
 *    all n_tok activations while it is in L1, so W is streamed from memory
 *    once per call. Rows are handed out in ~32 KiB chunks through an atomic
 *    counter, which keeps both cores busy even when one is slowed by another
 *    process. dq_matmul_multi does several matrices that share the input
 *    (Q/K/V, gate/up) in one pool run with one quantized activation per
 *    activation format: fewer runs per token, each a wake-up and a wait.
 *  - prefill of Q8_0 / Q4_0 / Q5_0 / Q3_K / Q4_K / Q5_K / Q6_K / IQ4_NL /
 *    IQ4_XS where the int8 GEMM is
 *    built (AVX512-VNNI from 12 or 16 tokens; AVX2 alone from 16 or 32, see
 *    dq_gemm8_min_tok in quant_avx2.c): the activations are quantized once to int8 blocks
 *    (as decode does, so prefill and decode agree), then each thread repacks
 *    a tile of weight rows (quant_internal.h) and multiplies it with all
 *    tokens in integers: 2.2-3x the GFLOP/s of dequant + sgemm at 512.
 *  - other prefill (larger batches): each thread dequantizes a tile of
 *    DQ_TILE_ROWS weight rows to f32 in its own part of the scratch and calls
 *    single-threaded OpenBLAS sgemm for that tile against all tokens. For a
 *    quantized type the activations are first rounded as its mat-vec rounds
 *    them (8-bit blocks, then back to f32: round_act()), so prefill computes
 *    what decode and llama.cpp compute (Q2_K, Q4_1, Q5_1 take this path). OpenBLAS
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

#ifndef DQ_G8_TILE
#define DQ_G8_TILE 64 /* max weight rows repacked per claim in the int8 GEMM */
#endif

static int use_gemm8(int type, int64_t n_tok)
{
  return dq_gemm8_supported(type) && n_tok >= dq_gemm8_min_tok(type);
}

static int resolve_threads(int n_threads)
{
  if (n_threads > 0) return n_threads;
  long nc = sysconf(_SC_NPROCESSORS_ONLN);
  return nc > 0 ? (int)nc : 1;
}

/* Smallest n_tok that leaves the direct (mat-vec) path for a type. */
static int64_t blas_min_tok(int type)
{
  int64_t n = 1;
  while (!use_blas(type, n) && !use_gemm8(type, n)) n++;
  return n;
}

/* Rows per int8 GEMM tile: ~8 tiles per matrix so both threads get work on
 * small ones (K/V: 128 rows), a multiple of 16, at most DQ_G8_TILE; depends
 * on n_out only. */
static int64_t g8_tile_rows(int64_t n_out)
{
  int64_t per = ((n_out + 7) / 8 + 15) / 16 * 16;
  return per < DQ_G8_TILE ? per : DQ_G8_TILE;
}

static size_t g8_scratch(int64_t n_in, int64_t n_tok, int n_threads)
{
  return align_up(dq_gemm8_act_bytes(n_in) * (size_t)n_tok) + dq_gemm8_w_bytes(n_in) * DQ_G8_TILE * (size_t)n_threads;
}

/* Enough for every batch size up to n_tok, so a caller may size the scratch
 * once for its largest batch: the direct path needs n_tok quantized
 * activations (used only below the BLAS threshold), the BLAS path one f32
 * tile per thread (and, for a quantized type, the rounded activations). */
size_t dq_matmul_scratch_size(int type, int64_t n_in, int64_t n_out, int64_t n_tok, int n_threads)
{
  (void)n_out;
  if (!dq_kq_row_bytes(type, n_in) || n_tok <= 0) return 0; /* unsupported type or n_in not a block multiple */
  int64_t thr = blas_min_tok(type), direct_tok = n_tok < thr ? n_tok : thr - 1;
  size_t direct = align_up(dq_kq_act_bytes(type, n_in)) * (size_t)direct_tok, tiles = 0;
  int64_t blas_tok = use_gemm8(type, n_tok) ? dq_gemm8_min_tok(type) - 1 : n_tok; /* the largest batch that may take sgemm */
  if (blas_tok >= thr && use_blas(type, blas_tok) && type != DQ_T_F32) {
    tiles = align_up((size_t)DQ_TILE_ROWS * (size_t)n_in * sizeof(float)) * (size_t)resolve_threads(n_threads);
    if (dq_kq_act_kind(type)) tiles += (size_t)blas_tok * (size_t)n_in * sizeof(float); /* round_act's rows */
  }
  if (use_gemm8(type, n_tok)) {
    size_t g8 = g8_scratch(n_in, n_tok, resolve_threads(n_threads));
    if (g8 > tiles) tiles = g8;
  }
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
  float *xr;         /* prefill of a quantized type: x rounded as its activations (n_tok x n_in) */
  int64_t tile_rows; /* <= DQ_TILE_ROWS */
  size_t tile_stride; /* floats */
  atomic_llong next; /* next unclaimed tile */
} mm_ctx;

/* Decode: up to DQ_MM_MAX matrices sharing one input are one parallel region
 * (Q/K/V, gate/up), so a token costs ~4 pool runs per layer instead of 7. */
#define DQ_MM_MAX 4
#define DQ_MM_PARTS 16 /* threads with a run of their own; with more, one shared run */
#define DQ_MM_ROWS 16 /* weight rows per dq_kq_dot_rows call in the mat-vec */
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
  atomic_llong next; /* the int8 GEMM's claims (compute-bound: one shared counter) */
  /* Mat-vec: the chunks (over all matrices, in order) start cut into n_part
   * contiguous runs, one per thread; a thread claims the chunks of its own
   * run in order, then helps with the others' (see mm_rows). */
  int n_part;
  struct {
    _Alignas(64) atomic_llong next; /* next unclaimed chunk of the run */
    int64_t end;
  } part[DQ_MM_PARTS];
} mmv_ctx;

/* The matrix that claim k falls in. */
static int mm_find(const mmv_ctx *c, int64_t k)
{
  int i = 0;
  while (i + 1 < c->n_mat && k >= c->m[i + 1].first) i++;
  return i;
}

/* Claim k: its rows of one matrix against every token. */
static void mm_chunk(mmv_ctx *c, int64_t k)
{
  const int i = mm_find(c, k);
  const int type = c->m[i].type;
  const int64_t n_out = c->m[i].n_out, r0 = (k - c->m[i].first) * c->m[i].chunk;
  const int64_t r1 = r0 + c->m[i].chunk < n_out ? r0 + c->m[i].chunk : n_out;
  const size_t rb = c->m[i].row_bytes;
  float *out = c->m[i].out;
  /* a few rows at a time against every token, so the rows stay in L1; with
   * one token each row is read once (streamed: see dq_kq_dot_rows) */
  for (int64_t r = r0; r < r1; r += DQ_MM_ROWS) {
    const int64_t nr = r1 - r < DQ_MM_ROWS ? r1 - r : DQ_MM_ROWS;
    for (int64_t t = 0; t < c->n_tok; t++)
      dq_kq_dot_rows(type, c->m[i].W + (size_t)r * rb, rb, nr, c->x + t * c->n_in,
                     c->m[i].act + (size_t)t * c->act_stride, c->n_in, c->n_tok == 1, out + t * n_out + r);
  }
}

/* Each thread streams a contiguous run of the weights: its own part of the
 * chunks, claimed in order through the part's counter; then it takes
 * unclaimed chunks from the other parts, so on a loaded machine a
 * descheduled thread leaves at most one chunk for the others to wait for.
 * ~8 chunks per thread of 16-128 KiB keep that wait to microseconds.
 * Before, all threads claimed from one counter, so two threads' streams
 * interleaved every chunk: DRAM served them worse. One Q8_0 mat-vec of
 * 139 MB (a throwaway driver, 2 threads, alternating with the read
 * measurement), share of the read bandwidth in the host's usual / fast mode:
 * 91% / 64% with the shared counter, 97% / 76% with runs; whole-model
 * figures in bench/bench_engine.c. */
static void mm_rows(void *arg, int ith, int nth)
{
  mmv_ctx *c = arg;
  (void)nth;
  for (int p = 0; p < c->n_part; p++) {
    const int j = (ith + p) % c->n_part;
    for (;;) {
      const int64_t k = atomic_fetch_add_explicit(&c->part[j].next, 1, memory_order_relaxed);
      if (k >= c->part[j].end) break;
      mm_chunk(c, k);
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

/* Token rows of x rounded to the type's 8-bit activation blocks and back
 * (value = d * q: what the quantized dot products multiply), 256 elements
 * (a q8k block, or 8 q8a blocks) at a time through a buffer on the stack.
 * Rows are claimed through c->next; each is the same whatever thread takes it. */
static void round_act(void *arg, int ith, int nth)
{
  mm_ctx *c = arg;
  (void)ith;
  (void)nth;
  union { dq_q8k k; dq_q8a a[DQ_QKK / DQ_QK]; } q;
  const int kind = dq_kq_act_kind(c->type);
  for (;;) {
    int64_t t = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
    if (t >= c->n_tok) break;
    const float *x = c->x + t * c->n_in;
    float *y = c->xr + t * c->n_in;
    for (int64_t i = 0; i < c->n_in; i += DQ_QKK) {
      const int64_t n = c->n_in - i < DQ_QKK ? c->n_in - i : DQ_QKK; /* q8a rows: a multiple of 32 */
      dq_kq_quantize_act_fast(c->type, x + i, &q, n);
      if (kind == 2)
        for (int64_t j = 0; j < n; j++) y[i + j] = q.k.d * (float)q.k.qs[j];
      else
        for (int64_t j = 0; j < n; j++) y[i + j] = q.a[j / DQ_QK].d * (float)q.a[j / DQ_QK].qs[j % DQ_QK];
    }
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
  if (dq_kq_act_kind(type)) { /* after the tiles (dq_matmul_scratch_size) */
    c.xr = c.tiles + c.tile_stride * (size_t)dq_pool_size(pool);
    dq_pool_run(pool, round_act, &c);
    atomic_store_explicit(&c.next, 0, memory_order_relaxed);
    c.x = c.xr;
  }
  /* small matrices (attention K/V: 128 rows) are cut in up to 8 tiles so every
   * thread gets work; the split depends on n_out only, never on the thread
   * count, so results are identical for any pool size */
  int64_t per = n_in >= 2048 ? (n_out + 3) / 4 : (n_out + 7) / 8; /* long rows: every sgemm call repacks all of x, so fewer, taller tiles */
  per = (per + 15) / 16 * 16;
  c.tile_rows = per < DQ_TILE_ROWS ? per : DQ_TILE_ROWS;
  dq_pool_run(pool, mm_tiles, &c);
}

/* int8 GEMM over up to DQ_MM_MAX matrices sharing x: the activations are
 * quantized once (one pool run over token rows), then tiles of every matrix
 * are claimed through one counter (a second run): each thread repacks a tile
 * into its own part of the scratch and multiplies it with all tokens. */
typedef struct {
  mmv_ctx mm;        /* the matrices; chunk = rows per tile, n_chunks = tiles in all */
  uint8_t *act, *wbuf; /* packed activations; per-thread weight tiles */
  size_t w_stride, wbuf_stride;
} g8_ctx;

#define DQ_G8_QROWS 8 /* token rows per claim when quantizing */

static void g8_quant(void *arg, int ith, int nth)
{
  g8_ctx *c = arg;
  (void)ith; (void)nth;
  for (;;) {
    int64_t k = atomic_fetch_add_explicit(&c->mm.next, 1, memory_order_relaxed) * DQ_G8_QROWS;
    if (k >= c->mm.n_tok) break;
    int64_t k1 = k + DQ_G8_QROWS < c->mm.n_tok ? k + DQ_G8_QROWS : c->mm.n_tok;
    for (int64_t t = k; t < k1; t++)
      dq_gemm8_pack_act(c->mm.m[0].type, c->mm.x + t * c->mm.n_in, c->act + (size_t)t * c->mm.act_stride, c->mm.n_in);
  }
}

static void g8_tiles(void *arg, int ith, int nth)
{
  g8_ctx *c = arg;
  const mmv_ctx *mm = &c->mm;
  (void)nth;
  uint8_t *buf = c->wbuf + (size_t)ith * c->wbuf_stride;
  for (;;) {
    int64_t k = atomic_fetch_add_explicit(&c->mm.next, 1, memory_order_relaxed);
    if (k >= mm->n_chunks) break;
    const int i = mm_find(mm, k);
    const int64_t n_out = mm->m[i].n_out, tr = mm->m[i].chunk, r0 = (k - mm->m[i].first) * tr;
    const int64_t nr = n_out - r0 < tr ? n_out - r0 : tr;
    for (int64_t r = 0; r < nr; r++)
      dq_gemm8_pack_w(mm->m[i].type, mm->m[i].W + (size_t)(r0 + r) * mm->m[i].row_bytes, buf + (size_t)r * c->w_stride, mm->n_in);
    dq_gemm8_tile(mm->m[i].type, buf, c->w_stride, nr, c->act, mm->act_stride, mm->n_tok, mm->n_in, mm->m[i].out + r0, n_out);
  }
}

/* Products i with use_gemm8 (mask bit i) of a dq_matmul_multi call, all of
 * one activation format (dq_gemm8_act_format). */
static void matmul_gemm8(dq_pool *pool, unsigned mask, int n_mat, const int *types, const void *const *Ws,
                         const int64_t *n_outs, float *const *outs, int64_t n_in, const float *x, int64_t n_tok, uint8_t *s)
{
  g8_ctx c = { .mm = { .n_in = n_in, .n_tok = n_tok, .x = x } };
  mmv_ctx *mm = &c.mm;
  for (int i = 0; i < n_mat; i++) {
    if (!(mask >> i & 1) || n_outs[i] <= 0) continue;
    int k = mm->n_mat++;
    mm->m[k].type = types[i];
    mm->m[k].W = Ws[i];
    mm->m[k].row_bytes = dq_kq_row_bytes(types[i], n_in);
    mm->m[k].n_out = n_outs[i];
    mm->m[k].out = outs[i];
    mm->m[k].chunk = g8_tile_rows(n_outs[i]);
    mm->m[k].first = mm->n_chunks;
    mm->n_chunks += (n_outs[i] + mm->m[k].chunk - 1) / mm->m[k].chunk;
  }
  if (!mm->n_mat) return;
  c.act = s;
  mm->act_stride = dq_gemm8_act_bytes(n_in);
  c.w_stride = dq_gemm8_w_bytes(n_in);
  c.wbuf = s + align_up(mm->act_stride * (size_t)n_tok);
  c.wbuf_stride = c.w_stride * DQ_G8_TILE;
  atomic_init(&mm->next, 0);
  dq_pool_run(pool, g8_quant, &c);
  atomic_store_explicit(&mm->next, 0, memory_order_relaxed);
  dq_pool_run(pool, g8_tiles, &c);
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
    if (use_blas(types[i], n_tok) || use_gemm8(types[i], n_tok)) direct = 0;
  }
  if (!direct) { /* prefill: the int8 GEMM products share one run; sgemm ones gain nothing from it */
    unsigned g8 = 0;
    int fmt = -1; /* the first GEMM product's activation format: the others of that format share its run */
    for (int i = 0; i < n_mat && i < DQ_MM_MAX; i++)
      if (use_gemm8(types[i], n_tok) && dq_kq_row_bytes(types[i], n_in)) {
        if (fmt < 0) fmt = dq_gemm8_act_format(types[i]);
        if (dq_gemm8_act_format(types[i]) == fmt) g8 |= 1u << i;
      }
    if (g8) matmul_gemm8(pool, g8, n_mat, types, Ws, n_outs, outs, n_in, x, n_tok, s);
    for (int i = 0; i < n_mat; i++)
      if (n_outs[i] > 0 && dq_kq_row_bytes(types[i], n_in) && !(i < DQ_MM_MAX && (g8 >> i & 1))) {
        if (use_gemm8(types[i], n_tok)) matmul_gemm8(pool, 1, 1, types + i, Ws + i, n_outs + i, outs + i, n_in, x, n_tok, s);
        else if (use_blas(types[i], n_tok)) matmul_blas(pool, types[i], Ws[i], n_in, n_outs[i], x, n_tok, outs[i], s);
        else dq_matmul_multi(pool, 1, types + i, Ws + i, n_outs + i, outs + i, n_in, x, n_tok, scratch);
      }
    return;
  }
  mmv_ctx c = { .n_mat = n_mat, .n_in = n_in, .n_tok = n_tok, .x = x };
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
  const int nth = dq_pool_size(pool);
  c.n_part = nth <= DQ_MM_PARTS ? nth : 1;
  for (int j = 0; j < c.n_part; j++) {
    atomic_init(&c.part[j].next, c.n_chunks * j / c.n_part);
    c.part[j].end = c.n_chunks * (j + 1) / c.n_part;
  }
  if (c.n_chunks) dq_pool_run(pool, mm_rows, &c);
}

void dq_matmul(dq_pool *pool, int type, const void *W, int64_t n_in, int64_t n_out,
               const float *x, int64_t n_tok, float *out, void *scratch)
{
  if (n_out <= 0 || n_tok <= 0) return;
  dq_matmul_multi(pool, 1, &type, &W, &n_out, &out, n_in, x, n_tok, scratch);
}
