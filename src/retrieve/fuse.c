/* Rank fusion of the BM25 and kNN lists (see retrieve.h).
 *
 * RRF needs only ranks, so it is immune to the two scores living on different
 * scales; the convex combination uses the scores themselves, which keeps the
 * information of how much better the first hit is than the tenth. Which one
 * docq uses by default is decided by measurement (retrieve/search.c). */
#include "retrieve/retrieve.h"

#include <stdlib.h>

#include "util/err.h"
#include "util/mem.h"

int dq_cands_union(const dq_scored *bm25, size_t nb, const dq_scored *vec, size_t nv,
                   dq_cand **out, size_t *n_out)
{
  *out = NULL;
  *n_out = 0;
  size_t cap = nb + nv;
  dq_cand *c = dq_calloc(cap ? cap : 1, sizeof *c);
  if (!c) return DOCQ_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < nb; i++) {
    c[n].chunk_id = bm25[i].chunk_id;
    c[n].bm25 = bm25[i].score;
    c[n].bm25_rank = (int)i + 1;
    n++;
  }
  /* The lists hold at most a few hundred ids: a linear probe per vector hit
   * is cheaper than building a hash table. */
  for (size_t j = 0; j < nv; j++) {
    size_t i = 0;
    for (; i < nb; i++) if (c[i].chunk_id == vec[j].chunk_id) break;
    if (i == nb) { i = n++; c[i].chunk_id = vec[j].chunk_id; }
    c[i].vec = vec[j].score;
    c[i].vec_rank = (int)j + 1;
    c[i].vec_known = 1;
  }
  *out = c;
  *n_out = n;
  return 0;
}

static int cmp_cand(const void *a, const void *b)
{
  const dq_cand *x = a, *y = b;
  if (x->score > y->score) return -1;
  if (x->score < y->score) return 1;
  return (x->chunk_id > y->chunk_id) - (x->chunk_id < y->chunk_id);
}

void dq_cands_sort(dq_cand *c, size_t n)
{
  if (n > 1) qsort(c, n, sizeof *c, cmp_cand);
}

void dq_fuse_rrf(dq_cand *c, size_t n, double w, double k)
{
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    if (c[i].bm25_rank) s += w / (k + c[i].bm25_rank);
    if (c[i].vec_rank) s += (1.0 - w) / (k + c[i].vec_rank);
    c[i].score = s;
  }
  dq_cands_sort(c, n);
}

void dq_fuse_convex(dq_cand *c, size_t n, double w)
{
  dq_fuse_convex_ex(c, n, w, 0);
}

void dq_fuse_convex_ex(dq_cand *c, size_t n, double w, int bm25_all)
{
  double bmin = 0, bmax = 0, vmin = 0, vmax = 0;
  int bset = 0, vset = 0;
  for (size_t i = 0; i < n; i++) {
    if (c[i].bm25_rank) {
      if (!bset || c[i].bm25 < bmin) bmin = c[i].bm25;
      if (!bset || c[i].bm25 > bmax) bmax = c[i].bm25;
      bset = 1;
    }
    if (c[i].vec_known) {
      if (!vset || c[i].vec < vmin) vmin = c[i].vec;
      if (!vset || c[i].vec > vmax) vmax = c[i].vec;
      vset = 1;
    }
  }
  /* When the BM25 list holds every chunk that has a query term (it was not
   * cut at the pool size), a chunk absent from it scores 0, not "below the
   * last one": normalizing from the list's own minimum would give its last
   * match the same 0 as a chunk without any query word, and with only a few
   * matches (a rare name) rank them by the vector score alone, below
   * kNN-only chunks. */
  if (bm25_all && bset && bmin > 0) bmin = 0;
  /* A list whose scores are all equal carries no ordering: each of its
   * members gets 1 (it was found), absent ones 0. */
  for (size_t i = 0; i < n; i++) {
    double nb = 0, nv = 0;
    if (c[i].bm25_rank) nb = bmax > bmin ? (c[i].bm25 - bmin) / (bmax - bmin) : 1.0;
    if (c[i].vec_known) nv = vmax > vmin ? (c[i].vec - vmin) / (vmax - vmin) : 1.0;
    c[i].score = w * nb + (1.0 - w) * nv;
  }
  dq_cands_sort(c, n);
}
