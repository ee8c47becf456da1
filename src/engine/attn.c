/* Tiled online-softmax attention over a dq_kv cache (see attn.h).
 *
 * Per item (block of bq query tokens x one kv head = R rows of query vectors)
 * and per key tile of DQ_ATTN_TILE positions:
 *   1. dequantize the K rows into `rowbuf` and transpose them to kt[d][TILE]
 *      (so the scores of one query against the whole tile are TILE/8 vector
 *      accumulators and no horizontal sums), dequantize V rows into vt;
 *   2. for each row: s = scale * q . k (then c tanh(s / c) with a softcap
 *      c; masked outside the row's visible intervals), m' = max(m, max s),
 *      acc = acc * e^(m - m') + sum p_j v_j with p_j = e^(s_j - m'),
 *      l = l * e^(m - m') + sum p_j.
 * Tiles no row of the item can see are skipped without being read (causal:
 * half of the square; windows: all but the sinks and the recent band).
 * Invariants: scratch sizes depend only on (head_dim, rows per item,
 * threads); columns of a partial tile beyond the visible range are masked
 * (their p is exactly 0) and the PV loop stops at the last visible column, so
 * stale scratch never reaches a result. */
#include "engine/isa.h" /* first: renames this file's functions in a build with DQ_DISPATCH */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include "engine/simd8.h"
#define DQ_ATTN_AVX2 1
#endif

#include "engine/attn.h"
#include "engine/rope.h"
#include "util/err.h"
#include "util/mem.h"

#define TILE DQ_ATTN_TILE
/* Query rows (tokens x heads of a group) sharing one dequantized, transposed
 * K tile: the dequantize and transpose are paid once per tile for all of
 * them. bench_attn --lens 4096,16384 (Qwen2.5-0.5B layer, 2 threads):
 * prefill 0.268 / 4.39 s at 32 rows, 0.213 / 3.45 s at 128. Then rows four
 * at a time (row_update4) across tokens (row_batch): 0.208 -> 0.191 s at
 * 4096 (back to back, twice); bench_engine pp4096 0.5B Q8_0 311 -> 323-328
 * tokens/s. */
#define ROWS_TARGET 128
/* A batch of at most this many rows (decode, short batches) is split along
 * the keys instead, so both cores get work; the partials are kept for these
 * rows only. */
#define SPLIT_ROWS 32

typedef struct scratch {
  float *rowbuf; /* (TILE, hd) dequantized K rows before the transpose */
  float *kt;     /* (hd, TILE) transposed K tile */
  float *vt;     /* (TILE, hd) V tile */
  float *acc;    /* (rmax, hd) running numerators */
  float *m, *l;  /* (rmax) running max and denominator */
  float *s;      /* (4, TILE) scores of one to four rows */
  float *qc;     /* (rmax, hd) LAMBDA: queries rotated to the capped distance */
  float *cs;     /* (n_rot) LAMBDA: cos/sin of one query's rotation */
} scratch;

struct dq_attn {
  dq_attn_params p;
  float theta[DQ_ROPE_MAX_DIMS / 2];
  float *unrot;  /* (n_sinks, n_rot) LAMBDA: cos/sin of -j*theta, turning global key j back to position 0 */
  int gqa;       /* query heads per kv head */
  int bq;        /* query tokens per item */
  int rmax;      /* bq * gqa */
  int rsplit;    /* rows of a batch that may be split along the keys (its partials' stride) */
  int nth;       /* scratch sets */
  float scale;
  scratch *ts;   /* (nth) */
  float *part;   /* (DQ_ATTN_MAX_SPLIT, n_kv_head, rmax, hd + 2) split-KV partials: acc, m, l */
  size_t bytes;
  /* the current run (set by dq_attn_run, read by the workers) */
  const dq_kv *kv;
  int layer, n_q, pos0, n_blocks, n_split, n_items;
  const float *q;
  float *out;
  atomic_int next;
};

/* ---- small kernels ----------------------------------------------------------- */

#ifdef DQ_ATTN_AVX2
/* e^x for x in float range: 2^n * P(r), x = n ln2 + r, |r| <= ln2/2, with the
 * Cephes minimax coefficients for expf (relative error ~2e-7); x <= -87.3
 * gives ~1e-38 (callers zero masked lanes explicitly). */
static inline __m256 exp256(__m256 x)
{
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}
#endif

/* s[0..TILE) = scale * q . kt[:, j]. The accumulators are named variables:
 * GCC keeps a __m256 array in memory (a load+store per FMA, 3x slower). */
static void tile_scores(const float *q, const float *kt, int hd, float scale, float *s)
{
#ifdef DQ_ATTN_AVX2
  _Static_assert(TILE == 64, "tile_scores holds 64 columns in 8 registers");
  __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  for (int d = 0; d < hd; d++) {
    const __m256 qd = _mm256_broadcast_ss(q + d);
    const float *kr = kt + (size_t)d * TILE;
    c0 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kr + 0), c0);
    c1 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kr + 8), c1);
    c2 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kr + 16), c2);
    c3 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kr + 24), c3);
    c4 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kr + 32), c4);
    c5 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kr + 40), c5);
    c6 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kr + 48), c6);
    c7 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kr + 56), c7);
  }
  const __m256 vs = _mm256_set1_ps(scale);
  _mm256_storeu_ps(s + 0, _mm256_mul_ps(c0, vs));
  _mm256_storeu_ps(s + 8, _mm256_mul_ps(c1, vs));
  _mm256_storeu_ps(s + 16, _mm256_mul_ps(c2, vs));
  _mm256_storeu_ps(s + 24, _mm256_mul_ps(c3, vs));
  _mm256_storeu_ps(s + 32, _mm256_mul_ps(c4, vs));
  _mm256_storeu_ps(s + 40, _mm256_mul_ps(c5, vs));
  _mm256_storeu_ps(s + 48, _mm256_mul_ps(c6, vs));
  _mm256_storeu_ps(s + 56, _mm256_mul_ps(c7, vs));
#else
  for (int j = 0; j < TILE; j++) s[j] = 0.0f;
  for (int d = 0; d < hd; d++) {
    const float qd = q[d], *kr = kt + (size_t)d * TILE;
    for (int j = 0; j < TILE; j++) s[j] += qd * kr[j];
  }
  for (int j = 0; j < TILE; j++) s[j] *= scale;
#endif
}

/* s[j] = exp(s[j] - mx) for j in [lo, hi) with masked (-inf) entries -> 0;
 * returns their sum. Entries outside [lo, hi) are not used afterwards. */
static float tile_exp(float *s, int lo, int hi, float mx)
{
  float sum = 0.0f;
  int j = lo;
#ifdef DQ_ATTN_AVX2
  const __m256 vm = _mm256_set1_ps(mx), ninf = _mm256_set1_ps(-INFINITY);
  __m256 vsum = _mm256_setzero_ps();
  for (; j + 8 <= hi; j += 8) {
    const __m256 x = _mm256_loadu_ps(s + j);
    const __m256 keep = _mm256_cmp_ps(x, ninf, _CMP_NEQ_OQ);
    const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(x, vm)), keep);
    _mm256_storeu_ps(s + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float t[8];
  _mm256_storeu_ps(t, vsum);
  for (int i = 0; i < 8; i++) sum += t[i];
#endif
  for (; j < hi; j++) {
    s[j] = s[j] == -INFINITY ? 0.0f : expf(s[j] - mx);
    sum += s[j];
  }
  return sum;
}

/* acc[hd] = acc * corr + sum_{j in [lo, hi)} p[j] * vt[j] */
static void tile_pv(float *acc, float corr, const float *p, const float *vt, int lo, int hi, int hd)
{
  int d0 = 0;
#ifdef DQ_ATTN_AVX2
  const __m256 vc = _mm256_set1_ps(corr);
  for (; d0 + 64 <= hd; d0 += 64) { /* named accumulators, see tile_scores */
    __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0), vc), a1 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 8), vc);
    __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 16), vc), a3 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 24), vc);
    __m256 a4 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 32), vc), a5 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 40), vc);
    __m256 a6 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 48), vc), a7 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 56), vc);
    for (int j = lo; j < hi; j++) {
      const __m256 pj = _mm256_broadcast_ss(p + j);
      const float *vr = vt + (size_t)j * hd + d0;
      a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 0), a0);
      a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 8), a1);
      a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 16), a2);
      a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 24), a3);
      a4 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 32), a4);
      a5 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 40), a5);
      a6 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 48), a6);
      a7 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 56), a7);
    }
    _mm256_storeu_ps(acc + d0, a0);
    _mm256_storeu_ps(acc + d0 + 8, a1);
    _mm256_storeu_ps(acc + d0 + 16, a2);
    _mm256_storeu_ps(acc + d0 + 24, a3);
    _mm256_storeu_ps(acc + d0 + 32, a4);
    _mm256_storeu_ps(acc + d0 + 40, a5);
    _mm256_storeu_ps(acc + d0 + 48, a6);
    _mm256_storeu_ps(acc + d0 + 56, a7);
  }
  for (; d0 + 32 <= hd; d0 += 32) {
    __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0), vc), a1 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 8), vc);
    __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 16), vc), a3 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 24), vc);
    for (int j = lo; j < hi; j++) {
      const __m256 pj = _mm256_broadcast_ss(p + j);
      const float *vr = vt + (size_t)j * hd + d0;
      a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 0), a0);
      a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 8), a1);
      a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 16), a2);
      a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 24), a3);
    }
    _mm256_storeu_ps(acc + d0, a0);
    _mm256_storeu_ps(acc + d0 + 8, a1);
    _mm256_storeu_ps(acc + d0 + 16, a2);
    _mm256_storeu_ps(acc + d0 + 24, a3);
  }
  for (; d0 + 8 <= hd; d0 += 8) {
    __m256 a = _mm256_mul_ps(_mm256_loadu_ps(acc + d0), vc);
    for (int j = lo; j < hi; j++)
      a = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(vt + (size_t)j * hd + d0), a);
    _mm256_storeu_ps(acc + d0, a);
  }
#endif
  if (d0 == hd) return;
  for (int d = d0; d < hd; d++) acc[d] *= corr;
  for (int j = lo; j < hi; j++) {
    const float pj = p[j], *vr = vt + (size_t)j * hd;
    for (int d = d0; d < hd; d++) acc[d] += pj * vr[d];
  }
}

/* Rotate x by a cos/sin table (cs[2j], cs[2j+1] for pair j) in layout `mode`. */
static void rotate_cs(float *x, const float *cs, int n_rot, int mode)
{
  const int half = n_rot / 2;
  for (int j = 0; j < half; j++) {
    const int ia = mode == DQ_ROPE_NEOX ? j : 2 * j, ib = mode == DQ_ROPE_NEOX ? j + half : 2 * j + 1;
    const float c = cs[2 * j], s = cs[2 * j + 1], x0 = x[ia], x1 = x[ib];
    x[ia] = x0 * c - x1 * s;
    x[ib] = x0 * s + x1 * c;
  }
}

static void cs_for_delta(float *cs, const float *theta, int n_rot, double delta)
{
  for (int j = 0; j < n_rot / 2; j++) {
    const double a = delta * (double)theta[j];
    cs[2 * j] = (float)cos(a);
    cs[2 * j + 1] = (float)sin(a);
  }
}

/* The factor e^(m_old - m_new) a row's accumulator needs when its running
 * max moves from m_old to m_new (0 before the first visible key). The max
 * rarely moves after the first tiles, and e^0 is 1 exactly: no expf then. */
static inline float rescale(float m_old, float m_new)
{
  return m_old == -INFINITY ? 0.0f : m_old == m_new ? 1.0f : expf(m_old - m_new);
}

/* ---- visibility ---------------------------------------------------------------- */

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

/* The keys a query at slot qs sees with its plain score: [a0, a1) and [b0, b1)
 * (disjoint, possibly empty), and for LAMBDA the capped global keys [c0, c1). */
typedef struct vis { int a0, a1, b0, b1, c1; } vis;

static vis visible(const dq_attn_params *p, int qs)
{
  vis v = {0, 0, 0, qs + 1, 0};
  if (p->mask == DQ_ATTN_CAUSAL) return v;
  const int w0 = imax(0, qs - p->window + 1);
  v.b0 = w0;
  if (p->mask == DQ_ATTN_SINKS)
    v.a1 = imin(p->n_sinks, w0);
  else
    v.c1 = imin(p->n_sinks, w0);
  return v;
}

/* ---- one item -------------------------------------------------------------- */

/* kt[d][j] = rows[j][d] for j < nk, d < hd (8x8 register blocks when possible). */
static void transpose(const float *rows, float *kt, int nk, int hd)
{
  int j0 = 0;
#ifdef DQ_ATTN_AVX2
  if (hd % 8 == 0)
    for (; j0 + 8 <= nk; j0 += 8)
      for (int d0 = 0; d0 < hd; d0 += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(rows + (size_t)(j0 + i) * hd + d0);
        dq_transpose8_ps(r);
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(kt + (size_t)(d0 + i) * TILE + j0, r[i]);
      }
#endif
  for (int j = j0; j < nk; j++)
    for (int d = 0; d < hd; d++) kt[(size_t)d * TILE + j] = rows[(size_t)j * hd + d];
}

/* Gemma 2's logit softcap, s = c * tanh(s / c), on scores [lo, hi). With
 * AVX2, tanh |y| = (1 - e) / (1 + e), e = e^(-2|y|) (exp256), sign copied:
 * an absolute error of a few 1e-8 in tanh, c times that in a score, where
 * tanhf per score made a capped prefill 3.4x slower than an uncapped one
 * (bench_attn --lens 4096 --softcap 50: 0.36 -> 1.2-1.35 s). */
static void cap_scores(const dq_attn *a, float *s, int lo, int hi)
{
  const float c = a->p.softcap;
  if (!(c > 0.0f)) return;
  const float inv = 1.0f / c;
  int j = lo;
#ifdef DQ_ATTN_AVX2
  const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), m2inv = _mm256_set1_ps(-2.0f * inv),
               vc = _mm256_set1_ps(c);
  for (; j + 8 <= hi; j += 8) {
    const __m256 x = _mm256_loadu_ps(s + j);
    const __m256 e = exp256(_mm256_mul_ps(_mm256_andnot_ps(sign, x), m2inv));
    const __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_or_ps(t, _mm256_and_ps(x, sign)), vc));
  }
#endif
  for (; j < hi; j++) s[j] = tanhf(s[j] * inv) * c;
}

/* Load tile [k0, k0+nk) of kv head kvh; `unrot` (LAMBDA) turns key j back to
 * position 0 with the precomputed table. */
static void load_tile(const dq_attn *a, scratch *w, int kvh, int k0, int nk, int unrot)
{
  const int hd = a->p.head_dim;
  dq_kv_read_k(a->kv, a->layer, kvh, k0, nk, w->rowbuf);
  dq_kv_read_v(a->kv, a->layer, kvh, k0, nk, w->vt);
  if (unrot)
    for (int j = 0; j < nk; j++)
      rotate_cs(w->rowbuf + (size_t)j * hd, a->unrot + (size_t)(k0 + j) * a->p.n_rot, a->p.n_rot, a->p.rope_mode);
  transpose(w->rowbuf, w->kt, nk, hd);
}

/* Fold tile columns [x0,x1) u [y0,y1) (tile-relative, x1 <= y0 or empty) of
 * one query row into its running state. */
/* Mask a row's scores outside its visible columns, fold the tile's maximum
 * into the row's running max, turn s into p = e^(s - m) and update the
 * denominator; returns the factor e^(m_old - m_new) the accumulator needs. */
static float row_softmax(const dq_attn *a, scratch *w, int r, float *s, int x0, int x1, int y0, int y1, int lo, int hi)
{
  float mx = -INFINITY;
  cap_scores(a, s, lo, hi);
  if (x0 >= x1 && y0 == 0 && y1 == TILE) { /* whole tile visible: the common case */
#ifdef DQ_ATTN_AVX2
    __m256 vm = _mm256_loadu_ps(s);
    for (int j = 8; j < TILE; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(s + j));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    mx = _mm_cvtss_f32(h);
#else
    for (int j = 0; j < TILE; j++) mx = s[j] > mx ? s[j] : mx;
#endif
  } else {
    for (int j = lo; j < hi; j++) {
      if ((j >= x1 || j < x0) && (j >= y1 || j < y0)) s[j] = -INFINITY;
      else if (s[j] > mx) mx = s[j];
    }
  }
  const float m_old = w->m[r], m_new = mx > m_old ? mx : m_old;
  const float corr = rescale(m_old, m_new);
  const float sum = tile_exp(s, lo, hi, m_new);
  w->l[r] = w->l[r] * corr + sum;
  w->m[r] = m_new;
  return corr;
}

/* Fold tile columns [x0,x1) u [y0,y1) (tile-relative, x1 <= y0 or empty) of
 * one query row into its running state. */
static void row_update(const dq_attn *a, scratch *w, int r, const float *q, int x0, int x1, int y0, int y1)
{
  const int hd = a->p.head_dim;
  const int lo = x0 < x1 ? x0 : y0, hi = y0 < y1 ? y1 : x1;
  tile_scores(q, w->kt, hd, a->scale, w->s);
  const float corr = row_softmax(a, w, r, w->s, x0, x1, y0, y1, lo, hi);
  tile_pv(w->acc + (size_t)r * hd, corr, w->s, w->vt, lo, hi, hd);
}

/* Two rows with the same visible columns (see row_batch): every K
 * and V load feeds two FMAs, which is what bounds the single-row kernels. */
static void row_update2(const dq_attn *a, scratch *w, int r, const float *qa, const float *qb, int x0, int x1,
                        int y0, int y1)
{
#ifdef DQ_ATTN_AVX2
  const int hd = a->p.head_dim;
  if (hd % 32 == 0) {
    const int lo = x0 < x1 ? x0 : y0, hi = y0 < y1 ? y1 : x1;
    float *sa = w->s, *sb = w->s + TILE;
    const __m256 vs = _mm256_set1_ps(a->scale);
    for (int c = 0; c < TILE; c += 32) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      for (int d = 0; d < hd; d++) {
        const float *kr = w->kt + (size_t)d * TILE + c;
        const __m256 k0 = _mm256_loadu_ps(kr), k1 = _mm256_loadu_ps(kr + 8), k2 = _mm256_loadu_ps(kr + 16),
                     k3 = _mm256_loadu_ps(kr + 24);
        const __m256 qda = _mm256_broadcast_ss(qa + d), qdb = _mm256_broadcast_ss(qb + d);
        a0 = _mm256_fmadd_ps(qda, k0, a0), a1 = _mm256_fmadd_ps(qda, k1, a1);
        a2 = _mm256_fmadd_ps(qda, k2, a2), a3 = _mm256_fmadd_ps(qda, k3, a3);
        b0 = _mm256_fmadd_ps(qdb, k0, b0), b1 = _mm256_fmadd_ps(qdb, k1, b1);
        b2 = _mm256_fmadd_ps(qdb, k2, b2), b3 = _mm256_fmadd_ps(qdb, k3, b3);
      }
      _mm256_storeu_ps(sa + c, _mm256_mul_ps(a0, vs)), _mm256_storeu_ps(sa + c + 8, _mm256_mul_ps(a1, vs));
      _mm256_storeu_ps(sa + c + 16, _mm256_mul_ps(a2, vs)), _mm256_storeu_ps(sa + c + 24, _mm256_mul_ps(a3, vs));
      _mm256_storeu_ps(sb + c, _mm256_mul_ps(b0, vs)), _mm256_storeu_ps(sb + c + 8, _mm256_mul_ps(b1, vs));
      _mm256_storeu_ps(sb + c + 16, _mm256_mul_ps(b2, vs)), _mm256_storeu_ps(sb + c + 24, _mm256_mul_ps(b3, vs));
    }
    const __m256 ca = _mm256_set1_ps(row_softmax(a, w, r, sa, x0, x1, y0, y1, lo, hi));
    const __m256 cb = _mm256_set1_ps(row_softmax(a, w, r + 1, sb, x0, x1, y0, y1, lo, hi));
    float *acca = w->acc + (size_t)r * hd, *accb = acca + hd;
    for (int d0 = 0; d0 < hd; d0 += 32) {
      __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acca + d0), ca), a1 = _mm256_mul_ps(_mm256_loadu_ps(acca + d0 + 8), ca);
      __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acca + d0 + 16), ca), a3 = _mm256_mul_ps(_mm256_loadu_ps(acca + d0 + 24), ca);
      __m256 b0 = _mm256_mul_ps(_mm256_loadu_ps(accb + d0), cb), b1 = _mm256_mul_ps(_mm256_loadu_ps(accb + d0 + 8), cb);
      __m256 b2 = _mm256_mul_ps(_mm256_loadu_ps(accb + d0 + 16), cb), b3 = _mm256_mul_ps(_mm256_loadu_ps(accb + d0 + 24), cb);
      for (int j = lo; j < hi; j++) {
        const float *vr = w->vt + (size_t)j * hd + d0;
        const __m256 v0 = _mm256_loadu_ps(vr), v1 = _mm256_loadu_ps(vr + 8), v2 = _mm256_loadu_ps(vr + 16),
                     v3 = _mm256_loadu_ps(vr + 24);
        const __m256 pa = _mm256_broadcast_ss(sa + j), pb = _mm256_broadcast_ss(sb + j);
        a0 = _mm256_fmadd_ps(pa, v0, a0), a1 = _mm256_fmadd_ps(pa, v1, a1);
        a2 = _mm256_fmadd_ps(pa, v2, a2), a3 = _mm256_fmadd_ps(pa, v3, a3);
        b0 = _mm256_fmadd_ps(pb, v0, b0), b1 = _mm256_fmadd_ps(pb, v1, b1);
        b2 = _mm256_fmadd_ps(pb, v2, b2), b3 = _mm256_fmadd_ps(pb, v3, b3);
      }
      _mm256_storeu_ps(acca + d0, a0), _mm256_storeu_ps(acca + d0 + 8, a1);
      _mm256_storeu_ps(acca + d0 + 16, a2), _mm256_storeu_ps(acca + d0 + 24, a3);
      _mm256_storeu_ps(accb + d0, b0), _mm256_storeu_ps(accb + d0 + 8, b1);
      _mm256_storeu_ps(accb + d0 + 16, b2), _mm256_storeu_ps(accb + d0 + 24, b3);
    }
    return;
  }
#endif
  row_update(a, w, r, qa, x0, x1, y0, y1);
  row_update(a, w, r + 1, qb, x0, x1, y0, y1);
}

#if defined(DQ_ATTN_AVX2) && defined(__AVX512F__)
#define DQ_ATTN_ROWS4 1
/* Four rows r..r+3 with the same visible columns (heads of one token, or of
 * neighbouring tokens), queries q[0..4): every loaded K or V vector feeds
 * four FMAs (row_update2: two). The 16 accumulators + 4 loads + 4
 * broadcasts need AVX-512's 32 vector registers (256-bit ones: on Zen 4 a
 * 512-bit FMA holds both 256-bit pipes, measured 7% slower than this).
 * Each row's sums run in the same order as in row_update, so a row's result
 * does not depend on the kernel that computed it. */
static void row_update4(const dq_attn *a, scratch *w, int r, const float *const *q, int x0, int x1, int y0, int y1)
{
  const int hd = a->p.head_dim;
  const int lo = x0 < x1 ? x0 : y0, hi = y0 < y1 ? y1 : x1;
  const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
  float *s0 = w->s, *s1 = s0 + TILE, *s2 = s1 + TILE, *s3 = s2 + TILE;
  const __m256 vs = _mm256_set1_ps(a->scale);
#define FMA4(x, b, y0_, y1_, y2_, y3_)                                                                     \
  y0_ = _mm256_fmadd_ps(b, x##0, y0_), y1_ = _mm256_fmadd_ps(b, x##1, y1_), y2_ = _mm256_fmadd_ps(b, x##2, y2_), \
  y3_ = _mm256_fmadd_ps(b, x##3, y3_)
  for (int c = 0; c < TILE; c += 32) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (int d = 0; d < hd; d++) {
      const float *kr = w->kt + (size_t)d * TILE + c;
      const __m256 k0 = _mm256_loadu_ps(kr), k1 = _mm256_loadu_ps(kr + 8), k2 = _mm256_loadu_ps(kr + 16),
                   k3 = _mm256_loadu_ps(kr + 24);
      const __m256 b0 = _mm256_broadcast_ss(q0 + d), b1 = _mm256_broadcast_ss(q1 + d),
                   b2 = _mm256_broadcast_ss(q2 + d), b3 = _mm256_broadcast_ss(q3 + d);
      FMA4(k, b0, a00, a01, a02, a03);
      FMA4(k, b1, a10, a11, a12, a13);
      FMA4(k, b2, a20, a21, a22, a23);
      FMA4(k, b3, a30, a31, a32, a33);
    }
#define ST4(s, y0_, y1_, y2_, y3_)                                                                          \
  _mm256_storeu_ps(s + c, _mm256_mul_ps(y0_, vs)), _mm256_storeu_ps(s + c + 8, _mm256_mul_ps(y1_, vs)),     \
    _mm256_storeu_ps(s + c + 16, _mm256_mul_ps(y2_, vs)), _mm256_storeu_ps(s + c + 24, _mm256_mul_ps(y3_, vs))
    ST4(s0, a00, a01, a02, a03);
    ST4(s1, a10, a11, a12, a13);
    ST4(s2, a20, a21, a22, a23);
    ST4(s3, a30, a31, a32, a33);
#undef ST4
  }
  const __m256 c0 = _mm256_set1_ps(row_softmax(a, w, r, s0, x0, x1, y0, y1, lo, hi));
  const __m256 c1 = _mm256_set1_ps(row_softmax(a, w, r + 1, s1, x0, x1, y0, y1, lo, hi));
  const __m256 c2 = _mm256_set1_ps(row_softmax(a, w, r + 2, s2, x0, x1, y0, y1, lo, hi));
  const __m256 c3 = _mm256_set1_ps(row_softmax(a, w, r + 3, s3, x0, x1, y0, y1, lo, hi));
  float *o0 = w->acc + (size_t)r * hd, *o1 = o0 + hd, *o2 = o1 + hd, *o3 = o2 + hd;
  for (int d0 = 0; d0 < hd; d0 += 32) {
#define LD4(o, c, y0_, y1_, y2_, y3_)                                                                        \
  __m256 y0_ = _mm256_mul_ps(_mm256_loadu_ps(o + d0), c), y1_ = _mm256_mul_ps(_mm256_loadu_ps(o + d0 + 8), c), \
         y2_ = _mm256_mul_ps(_mm256_loadu_ps(o + d0 + 16), c), y3_ = _mm256_mul_ps(_mm256_loadu_ps(o + d0 + 24), c)
    LD4(o0, c0, e00, e01, e02, e03);
    LD4(o1, c1, e10, e11, e12, e13);
    LD4(o2, c2, e20, e21, e22, e23);
    LD4(o3, c3, e30, e31, e32, e33);
#undef LD4
    for (int j = lo; j < hi; j++) {
      const float *vr = w->vt + (size_t)j * hd + d0;
      const __m256 v0 = _mm256_loadu_ps(vr), v1 = _mm256_loadu_ps(vr + 8), v2 = _mm256_loadu_ps(vr + 16),
                   v3 = _mm256_loadu_ps(vr + 24);
      const __m256 p0 = _mm256_broadcast_ss(s0 + j), p1 = _mm256_broadcast_ss(s1 + j), p2 = _mm256_broadcast_ss(s2 + j),
                   p3 = _mm256_broadcast_ss(s3 + j);
      FMA4(v, p0, e00, e01, e02, e03);
      FMA4(v, p1, e10, e11, e12, e13);
      FMA4(v, p2, e20, e21, e22, e23);
      FMA4(v, p3, e30, e31, e32, e33);
    }
#define SV4(o, y0_, y1_, y2_, y3_)                                                                           \
  _mm256_storeu_ps(o + d0, y0_), _mm256_storeu_ps(o + d0 + 8, y1_), _mm256_storeu_ps(o + d0 + 16, y2_),      \
    _mm256_storeu_ps(o + d0 + 24, y3_)
    SV4(o0, e00, e01, e02, e03);
    SV4(o1, e10, e11, e12, e13);
    SV4(o2, e20, e21, e22, e23);
    SV4(o3, e30, e31, e32, e33);
#undef SV4
  }
#undef FMA4
}
#endif

#ifdef DQ_ATTN_AVX2
/* s[0..4) = scale * (the sums of a0, a1, a2, a3's lanes) */
static inline void fold4(__m256 a0, __m256 a1, __m256 a2, __m256 a3, float scale, float *s)
{
  /* [k0 k1 k0 k1 | ..] then [k0 k1 k2 k3 | k0 k1 k2 k3]: add the halves */
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  const __m128 t = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  _mm_storeu_ps(s, _mm_mul_ps(t, _mm_set1_ps(scale)));
}

/* s[0..n) = scale * q . kf[j] (rows of hd, a multiple of 32 here), four keys
 * at a time, 512-bit where the build has AVX-512 */
#ifdef __AVX512F__
typedef __m512 vscore;
#define VS_W 16
#define VS_LOAD _mm512_loadu_ps
#define VS_FMA _mm512_fmadd_ps
#define VS_ZERO _mm512_setzero_ps
#define VS_HALF(x) _mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1))
#else
typedef __m256 vscore;
#define VS_W 8
#define VS_LOAD _mm256_loadu_ps
#define VS_FMA _mm256_fmadd_ps
#define VS_ZERO _mm256_setzero_ps
#define VS_HALF(x) (x)
#endif
static void scores_f32(const float *q, const float *kf, int hd, int n, float scale, float *s)
{
  for (int j = 0; j < n; j += 4) { /* past n: stale but finite rows, scores unused */
    const float *k0 = kf + (size_t)j * hd, *k1 = k0 + hd, *k2 = k1 + hd, *k3 = k2 + hd;
    vscore a0 = VS_ZERO(), a1 = VS_ZERO(), a2 = VS_ZERO(), a3 = VS_ZERO();
    for (int d = 0; d < hd; d += VS_W) {
      const vscore qd = VS_LOAD(q + d);
      a0 = VS_FMA(qd, VS_LOAD(k0 + d), a0);
      a1 = VS_FMA(qd, VS_LOAD(k1 + d), a1);
      a2 = VS_FMA(qd, VS_LOAD(k2 + d), a2);
      a3 = VS_FMA(qd, VS_LOAD(k3 + d), a3);
    }
    fold4(VS_HALF(a0), VS_HALF(a1), VS_HALF(a2), VS_HALF(a3), scale, s + j);
  }
}
#undef VS_W
#undef VS_LOAD
#undef VS_FMA
#undef VS_ZERO
#undef VS_HALF

/* acc[0..hd) = acc * corr + sum_{j < n} p[j] vf[j], 64 columns at a time in
 * registers (with AVX2, a last 32 alone: Phi-3's 96) */
static void pv_f32(float *acc, float corr, const float *p, const float *vf, int n, int hd)
{
  const __m256 vc = _mm256_set1_ps(corr);
  int d0 = 0;
#ifdef __AVX512F__
  const __m512 vz = _mm512_set1_ps(corr);
  for (; d0 + 64 <= hd; d0 += 64) {
    __m512 a0 = _mm512_mul_ps(_mm512_loadu_ps(acc + d0), vz), a1 = _mm512_mul_ps(_mm512_loadu_ps(acc + d0 + 16), vz);
    __m512 a2 = _mm512_mul_ps(_mm512_loadu_ps(acc + d0 + 32), vz), a3 = _mm512_mul_ps(_mm512_loadu_ps(acc + d0 + 48), vz);
    for (int j = 0; j < n; j++) {
      const __m512 pj = _mm512_set1_ps(p[j]);
      const float *vr = vf + (size_t)j * hd + d0;
#define F(i, x) x = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vr + 16 * (i)), x)
      F(0, a0); F(1, a1); F(2, a2); F(3, a3);
#undef F
    }
    _mm512_storeu_ps(acc + d0, a0), _mm512_storeu_ps(acc + d0 + 16, a1);
    _mm512_storeu_ps(acc + d0 + 32, a2), _mm512_storeu_ps(acc + d0 + 48, a3);
  }
#endif
  for (; d0 + 64 <= hd; d0 += 64) {
    __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0), vc), a1 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 8), vc);
    __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 16), vc), a3 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 24), vc);
    __m256 a4 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 32), vc), a5 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 40), vc);
    __m256 a6 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 48), vc), a7 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 56), vc);
    for (int j = 0; j < n; j++) {
      const __m256 pj = _mm256_broadcast_ss(p + j);
      const float *vr = vf + (size_t)j * hd + d0;
#define F(i, x) x = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 8 * (i)), x)
      F(0, a0); F(1, a1); F(2, a2); F(3, a3); F(4, a4); F(5, a5); F(6, a6); F(7, a7);
#undef F
    }
    _mm256_storeu_ps(acc + d0, a0), _mm256_storeu_ps(acc + d0 + 8, a1);
    _mm256_storeu_ps(acc + d0 + 16, a2), _mm256_storeu_ps(acc + d0 + 24, a3);
    _mm256_storeu_ps(acc + d0 + 32, a4), _mm256_storeu_ps(acc + d0 + 40, a5);
    _mm256_storeu_ps(acc + d0 + 48, a6), _mm256_storeu_ps(acc + d0 + 56, a7);
  }
  if (d0 < hd) { /* hd is a multiple of 32 here: one block of 32 left (Phi-3: 96) */
    __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0), vc), a1 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 8), vc);
    __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 16), vc), a3 = _mm256_mul_ps(_mm256_loadu_ps(acc + d0 + 24), vc);
    for (int j = 0; j < n; j++) {
      const __m256 pj = _mm256_broadcast_ss(p + j);
      const float *vr = vf + (size_t)j * hd + d0;
#define F(i, x) x = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 8 * (i)), x)
      F(0, a0); F(1, a1); F(2, a2); F(3, a3);
#undef F
    }
    _mm256_storeu_ps(acc + d0, a0), _mm256_storeu_ps(acc + d0 + 8, a1);
    _mm256_storeu_ps(acc + d0 + 16, a2), _mm256_storeu_ps(acc + d0 + 24, a3);
  }
}

/* max of s[0..n) (a chain of scalar compares cost ~2 cycles per key) */
static float max_f32(const float *s, int n)
{
  __m256 m8 = _mm256_set1_ps(-INFINITY);
  int j = 0;
  for (; j + 8 <= n; j += 8) m8 = _mm256_max_ps(m8, _mm256_loadu_ps(s + j));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float mx = _mm_cvtss_f32(m4);
  for (; j < n; j++) mx = s[j] > mx ? s[j] : mx;
  return mx;
}

/* n f16 rows of hd (stride `stride` halves) to f32 rows of hd at out */
static void rows_f16_to_f32(const uint16_t *src, size_t stride, int n, int hd, float *out)
{
  for (int j = 0; j < n; j++)
    for (int d = 0; d < hd; d += 8)
      _mm256_storeu_ps(out + (size_t)j * hd + d,
                       _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + (size_t)j * stride + d))));
}

/* Decode against an f16 cache under the plain causal mask: one query token,
 * so a tile would be shared by only the group's gqa rows, too few to repay
 * transposing it. The rows of one kv head instead share each chunk of TILE
 * keys converted to f32 once (kf, vf: rows as in the cache); each row scores
 * four keys at a time (their sums folded by three hadds, where a sum per key
 * took five ops on the critical path), folds them into its running softmax,
 * and adds the values with its accumulator in registers (512-bit where the
 * build has AVX-512). Before, each row converted the f16 keys and values
 * itself. bench_attn decode, Qwen2.5-0.5B layer (7 rows per kv head), 2
 * threads, the two builds alternating twice (Zen 5, 2026-11-30): 512 keys
 * 21 -> 18 us, 4096 0.160-0.171 -> 0.133-0.134 ms, 16384 0.546-0.561 ->
 * 0.471-0.473 ms; 1 thread at 4096 0.29-0.30 -> 0.23 ms. At 64 keys both
 * take 2-4 us (the timer's grain). */
/* The gqa query rows of kv head kvh (q: row 0, head stride hd; state rows
 * 0..gqa-1 of w) against keys [k0, k1). */
static void decode_group_f16(const dq_attn *a, scratch *w, const float *q, int kvh, int k0, int k1)
{
  const dq_kv *kv = a->kv;
  const int hd = a->p.head_dim;
  const size_t ks = (size_t)kv->n_kv_head * kv->row_k / 2, vs = (size_t)kv->n_kv_head * kv->row_v / 2; /* in f16 */
  float *kf = w->rowbuf, *vf = w->vt, *s = w->s;
  for (int c0 = k0; c0 < k1; c0 += TILE) {
    const int n = imin(TILE, k1 - c0);
    rows_f16_to_f32((const uint16_t *)dq_kv_krow(kv, a->layer, c0, kvh), ks, n, hd, kf);
    rows_f16_to_f32((const uint16_t *)dq_kv_vrow(kv, a->layer, c0, kvh), vs, n, hd, vf);
    for (int r = 0; r < a->gqa; r++) {
      scores_f32(q + (size_t)r * hd, kf, hd, n, a->scale, s);
      cap_scores(a, s, 0, n);
      float mx = max_f32(s, n);
      const float m_old = w->m[r], m_new = mx > m_old ? mx : m_old;
      const float corr = rescale(m_old, m_new);
      w->l[r] = w->l[r] * corr + tile_exp(s, 0, n, m_new);
      w->m[r] = m_new;
      pv_f32(w->acc + (size_t)r * hd, corr, s, vf, n, hd);
    }
  }
}
#endif

/* Rows waiting for a tile, consecutive (r0 ..) and with the same visible
 * columns, so they can go through the multi-row kernels together: the heads
 * of one token, and across tokens (a block's tokens all see the whole of
 * most tiles), so that an odd group size (Qwen2.5-0.5B: 7 heads per kv head)
 * does not leave a row to the one-row kernel per token. */
typedef struct row_batch {
  int r0, n;
  int x0, x1, y0, y1;
  const float *q[4];
} row_batch;

static void batch_flush(const dq_attn *a, scratch *w, row_batch *b)
{
  int i = 0;
#ifdef DQ_ATTN_ROWS4
  if (b->n == 4 && a->p.head_dim % 32 == 0) {
    row_update4(a, w, b->r0, b->q, b->x0, b->x1, b->y0, b->y1);
    i = 4;
  }
#endif
  for (; i + 2 <= b->n; i += 2) row_update2(a, w, b->r0 + i, b->q[i], b->q[i + 1], b->x0, b->x1, b->y0, b->y1);
  if (i < b->n) row_update(a, w, b->r0 + i, b->q[i], b->x0, b->x1, b->y0, b->y1);
  b->n = 0;
}

/* Add the gqa heads of token t (rows t*gqa ..), queries at q (head stride
 * hd), with visible tile columns [x0,x1) u [y0,y1). */
static void batch_token(const dq_attn *a, scratch *w, row_batch *b, int t, const float *q, int x0, int x1, int y0,
                        int y1)
{
  if (b->n && (b->x0 != x0 || b->x1 != x1 || b->y0 != y0 || b->y1 != y1)) batch_flush(a, w, b);
  for (int g = 0; g < a->gqa; g++) {
    if (b->n == 0) {
      b->r0 = t * a->gqa + g;
      b->x0 = x0, b->x1 = x1, b->y0 = y0, b->y1 = y1;
    }
    b->q[b->n++] = q + (size_t)g * a->p.head_dim;
    if (b->n == 4) batch_flush(a, w, b);
  }
}

static void run_item(dq_attn *a, scratch *w, int blk, int kvh, int sp)
{
  const dq_attn_params *p = &a->p;
  const int hd = p->head_dim, gqa = a->gqa;
  const int t0 = blk * a->bq, nt = imin(a->bq, a->n_q - t0), R = nt * gqa;
  const int kend = a->pos0 + t0 + nt; /* one past the last visible slot of the block */
  const int ntiles = (kend + TILE - 1) / TILE;
  int ta = (int)((int64_t)sp * ntiles / a->n_split);
  const int tb = (int)((int64_t)(sp + 1) * ntiles / a->n_split);

  for (int r = 0; r < R; r++) {
    w->m[r] = -INFINITY;
    w->l[r] = 0.0f;
  }
  memset(w->acc, 0, (size_t)R * hd * sizeof(float));

#define QROW(t, g) (a->q + ((size_t)(t0 + (t)) * p->n_head + (size_t)kvh * gqa + (g)) * hd)

  /* LAMBDA: far global keys, scored with the query turned to distance max_dist. */
  if (p->mask == DQ_ATTN_LAMBDA && sp == 0) {
    int cmax = 0;
    for (int t = 0; t < nt; t++) cmax = imax(cmax, visible(p, a->pos0 + t0 + t).c1);
    if (cmax > 0) {
      for (int t = 0; t < nt; t++) {
        const int qs = a->pos0 + t0 + t;
        if (visible(p, qs).c1 == 0) continue;
        cs_for_delta(w->cs, a->theta, p->n_rot, (double)p->max_dist - qs);
        for (int g = 0; g < gqa; g++) {
          float *qc = w->qc + ((size_t)t * gqa + g) * hd;
          memcpy(qc, QROW(t, g), (size_t)hd * sizeof(float));
          rotate_cs(qc, w->cs, p->n_rot, p->rope_mode);
        }
      }
      for (int k0 = 0; k0 < cmax; k0 += TILE) {
        const int nk = imin(TILE, cmax - k0);
        load_tile(a, w, kvh, k0, nk, 1);
        row_batch b = {0};
        for (int t = 0; t < nt; t++) {
          const int c1 = imin(visible(p, a->pos0 + t0 + t).c1 - k0, nk);
          if (c1 <= 0) continue;
          batch_token(a, w, &b, t, w->qc + (size_t)t * gqa * hd, 0, c1, c1, c1);
        }
        batch_flush(a, w, &b);
      }
    }
  }

#ifdef DQ_ATTN_AVX2
  if (nt == 1 && p->mask == DQ_ATTN_CAUSAL && a->kv->type_k == DQ_T_F16 && a->kv->type_v == DQ_T_F16 && hd % 32 == 0) {
    decode_group_f16(a, w, QROW(0, 0), kvh, ta * TILE, imin(tb * TILE, kend));
    ta = tb; /* done: skip the tiles */
  }
#endif
  for (int ti = ta; ti < tb; ti++) {
    const int k0 = ti * TILE, nk = imin(TILE, kend - k0);
    int loaded = 0;
    row_batch b = {0};
    for (int t = 0; t < nt; t++) {
      const vis v = visible(p, a->pos0 + t0 + t);
      const int x0 = imax(v.a0 - k0, 0), x1 = imin(v.a1 - k0, nk);
      const int y0 = imax(v.b0 - k0, 0), y1 = imin(v.b1 - k0, nk);
      if (x0 >= x1 && y0 >= y1) continue;
      if (!loaded) {
        load_tile(a, w, kvh, k0, nk, 0);
        loaded = 1;
      }
      batch_token(a, w, &b, t, QROW(t, 0), x0 < x1 ? x0 : 0, x0 < x1 ? x1 : 0, y0 < y1 ? y0 : nk, y0 < y1 ? y1 : nk);
    }
    batch_flush(a, w, &b);
  }
#undef QROW

  for (int r = 0; r < R; r++) {
    const int t = r / gqa, g = r % gqa;
    const float *acc = w->acc + (size_t)r * hd;
    if (a->n_split == 1) {
      float *o = a->out + ((size_t)(t0 + t) * p->n_head + (size_t)kvh * gqa + g) * hd;
      const float inv = w->l[r] > 0.0f ? 1.0f / w->l[r] : 0.0f;
      for (int d = 0; d < hd; d++) o[d] = acc[d] * inv;
    } else {
      float *pp = a->part + (((size_t)sp * p->n_kv_head + kvh) * a->rsplit + r) * (size_t)(hd + 2);
      memcpy(pp, acc, (size_t)hd * sizeof(float));
      pp[hd] = w->m[r];
      pp[hd + 1] = w->l[r];
    }
  }
}

static void worker(void *ctx, int ith, int nth)
{
  dq_attn *a = ctx;
  scratch *w = &a->ts[ith];
  (void)nth;
  const int per_block = a->p.n_kv_head * a->n_split;
  for (;;) {
    const int it = atomic_fetch_add_explicit(&a->next, 1, memory_order_relaxed);
    if (it >= a->n_items) break;
    const int rem = it % per_block;
    run_item(a, w, a->n_blocks - 1 - it / per_block, rem / a->n_split, rem % a->n_split);
  }
}

/* Merge split-KV partials (one block: t0 = 0) into out. */
static void merge_splits(dq_attn *a)
{
  const int hd = a->p.head_dim, gqa = a->gqa, R = a->n_q * gqa;
  for (int kvh = 0; kvh < a->p.n_kv_head; kvh++)
    for (int r = 0; r < R; r++) {
      float M = -INFINITY, L = 0.0f;
      for (int sp = 0; sp < a->n_split; sp++) {
        const float m = a->part[(((size_t)sp * a->p.n_kv_head + kvh) * a->rsplit + r) * (size_t)(hd + 2) + hd];
        if (m > M) M = m;
      }
      float *o = a->out + ((size_t)(r / gqa) * a->p.n_head + (size_t)kvh * gqa + r % gqa) * hd;
      memset(o, 0, (size_t)hd * sizeof(float));
      for (int sp = 0; sp < a->n_split; sp++) {
        const float *pp = a->part + (((size_t)sp * a->p.n_kv_head + kvh) * a->rsplit + r) * (size_t)(hd + 2);
        if (pp[hd] == -INFINITY) continue; /* this split saw none of the row's keys */
        const float f = expf(pp[hd] - M);
        L += pp[hd + 1] * f;
        for (int d = 0; d < hd; d++) o[d] += pp[d] * f;
      }
      const float inv = L > 0.0f ? 1.0f / L : 0.0f;
      for (int d = 0; d < hd; d++) o[d] *= inv;
    }
}

/* ---- lifecycle ----------------------------------------------------------------- */

void dq_attn_params_default(dq_attn_params *p, int n_head, int n_kv_head, int head_dim)
{
  memset(p, 0, sizeof *p);
  p->n_head = n_head;
  p->n_kv_head = n_kv_head;
  p->head_dim = head_dim;
  p->n_threads = 1;
  p->mask = DQ_ATTN_CAUSAL;
  p->rope_mode = DQ_ROPE_NORM;
}

static int check_params(const dq_attn_params *p)
{
  if (p->n_head <= 0 || p->n_kv_head <= 0 || p->n_head % p->n_kv_head)
    return dq_err_set(DOCQ_EINVAL, "attention: %d query heads are not a multiple of %d kv heads", p->n_head,
                      p->n_kv_head);
  if (p->head_dim <= 0 || p->head_dim > DQ_ROPE_MAX_DIMS)
    return dq_err_set(DOCQ_EINVAL, "attention: head_dim %d outside 1..%d", p->head_dim, DQ_ROPE_MAX_DIMS);
  if (p->mask < DQ_ATTN_CAUSAL || p->mask > DQ_ATTN_LAMBDA)
    return dq_err_set(DOCQ_EINVAL, "attention: unknown mask %d", p->mask);
  if (p->scale < 0.0f || !isfinite(p->scale)) return dq_err_set(DOCQ_EINVAL, "attention: bad scale");
  if (!(p->softcap >= 0.0f) || !isfinite(p->softcap)) return dq_err_set(DOCQ_EINVAL, "attention: bad softcap");
  if (p->mask == DQ_ATTN_CAUSAL) return 0;
  if (p->window < 1 || p->n_sinks < 0)
    return dq_err_set(DOCQ_EINVAL, "attention: window %d must be >= 1 and sinks %d >= 0", p->window, p->n_sinks);
  if (p->mask == DQ_ATTN_LAMBDA) {
    if (p->max_dist < 0) return dq_err_set(DOCQ_EINVAL, "attention: max_dist %d < 0", p->max_dist);
    if (!p->theta || p->n_rot <= 0 || p->n_rot % 2 || p->n_rot > p->head_dim)
      return dq_err_set(DOCQ_EINVAL, "attention: Lambda mask needs theta and an even n_rot <= head_dim (got %d)",
                        p->n_rot);
    if (p->rope_mode != DQ_ROPE_NORM && p->rope_mode != DQ_ROPE_NEOX)
      return dq_err_set(DOCQ_EINVAL, "attention: unknown rope mode %d", p->rope_mode);
  }
  return 0;
}

int dq_attn_new(dq_attn **out, const dq_attn_params *p)
{
  int rc;
  dq_attn *a = NULL;
  DQ_ASSERT_ARG(out && p);
  *out = NULL;
  if ((rc = check_params(p)) < 0) return rc;
  if (!(a = dq_calloc(1, sizeof *a))) return DOCQ_ENOMEM;
  a->p = *p;
  a->p.theta = NULL;
  if (a->p.mask == DQ_ATTN_LAMBDA) {
    memcpy(a->theta, p->theta, (size_t)(p->n_rot / 2) * sizeof(float));
    if (a->p.max_dist == 0) a->p.max_dist = p->window;
  }
  a->nth = p->n_threads > 0 ? p->n_threads : 1;
  a->gqa = p->n_head / p->n_kv_head;
  a->bq = imax(1, ROWS_TARGET / a->gqa);
  a->rmax = a->bq * a->gqa;
  a->rsplit = imin(a->rmax, imax(1, SPLIT_ROWS / a->gqa) * a->gqa);
  a->scale = p->scale > 0.0f ? p->scale : 1.0f / sqrtf((float)p->head_dim);
  const size_t hd = (size_t)p->head_dim, R = (size_t)a->rmax;
  const size_t per_thread = 3 * TILE * hd + 2 * R * hd + 2 * R + 4 * TILE + hd;
  const size_t n_part = (size_t)DQ_ATTN_MAX_SPLIT * p->n_kv_head * (size_t)a->rsplit * (hd + 2);
  const size_t n_unrot = a->p.mask == DQ_ATTN_LAMBDA ? (size_t)p->n_sinks * (size_t)p->n_rot : 0;
  if (!(a->ts = dq_calloc((size_t)a->nth, sizeof *a->ts)) || !(a->part = dq_calloc(n_part, sizeof(float))) ||
      (n_unrot && !(a->unrot = dq_malloc(n_unrot * sizeof(float))))) {
    rc = DOCQ_ENOMEM;
    goto done;
  }
  for (int i = 0; i < a->nth; i++) {
    float *b = dq_calloc(per_thread, sizeof(float));
    if (!b) {
      rc = DOCQ_ENOMEM;
      goto done;
    }
    scratch *w = &a->ts[i];
    w->rowbuf = b;
    w->kt = w->rowbuf + TILE * hd;
    w->vt = w->kt + TILE * hd;
    w->acc = w->vt + TILE * hd;
    w->qc = w->acc + R * hd;
    w->m = w->qc + R * hd;
    w->l = w->m + R;
    w->s = w->l + R;
    w->cs = w->s + 4 * TILE;
  }
  for (int j = 0; j < (int)(n_unrot ? p->n_sinks : 0); j++)
    cs_for_delta(a->unrot + (size_t)j * p->n_rot, a->theta, p->n_rot, -(double)j);
  a->bytes = sizeof *a + (size_t)a->nth * (sizeof(scratch) + per_thread * sizeof(float)) +
             (n_part + n_unrot) * sizeof(float);
  *out = a;
  a = NULL;
done:
  dq_attn_free(a);
  return rc;
}

void dq_attn_free(dq_attn *a)
{
  if (!a) return;
  if (a->ts)
    for (int i = 0; i < a->nth; i++) dq_free(a->ts[i].rowbuf);
  dq_free(a->ts);
  dq_free(a->part);
  dq_free(a->unrot);
  dq_free(a);
}

size_t dq_attn_scratch_bytes(const dq_attn *a) { return a ? a->bytes : 0; }

int dq_attn_run(dq_attn *a, dq_pool *pool, const dq_kv *kv, int layer, const float *q, int n_q, int pos0,
                float *out)
{
  DQ_ASSERT_ARG(a && kv && q && out);
  const int nth = pool ? dq_pool_size(pool) : 1;
  if (kv->n_kv_head != a->p.n_kv_head || kv->head_dim != a->p.head_dim)
    return dq_err_set(DOCQ_EINVAL, "attention: cache has %d kv heads of %d, expected %d of %d", kv->n_kv_head,
                      kv->head_dim, a->p.n_kv_head, a->p.head_dim);
  if (layer < 0 || layer >= kv->n_layer || n_q <= 0 || pos0 < 0 || n_q > kv->n_ctx - pos0)
    return dq_err_set(DOCQ_EINVAL, "attention: layer %d, queries [%d, %d) outside the cache (%d layers, %d slots)",
                      layer, pos0, pos0 + n_q, kv->n_layer, kv->n_ctx);
  if (nth > a->nth)
    return dq_err_set(DOCQ_EINVAL, "attention: pool of %d threads, scratch for %d", nth, a->nth);
  a->kv = kv;
  a->layer = layer;
  a->q = q;
  a->n_q = n_q;
  a->pos0 = pos0;
  a->out = out;
  a->n_blocks = (n_q + a->bq - 1) / a->bq;
  a->n_split = 1;
  const int ntiles = (pos0 + n_q + TILE - 1) / TILE;
  const int items = a->n_blocks * a->p.n_kv_head;
  /* The split depends on the length only, never on the pool size, so results
   * are bit-identical for every thread count. 4+ tiles per split keep the
   * merge cost negligible. */
  if (a->n_blocks == 1 && n_q * a->gqa <= a->rsplit) a->n_split = imax(1, imin(DQ_ATTN_MAX_SPLIT, ntiles / 4));
  a->n_items = items * a->n_split;
  atomic_store(&a->next, 0);
  if (pool)
    dq_pool_run(pool, worker, a);
  else
    worker(a, 0, 1);
  if (a->n_split > 1) merge_splits(a);
  return 0;
}
