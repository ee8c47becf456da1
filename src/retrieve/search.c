/* dq_retrieve: the whole search over a store (see retrieve.h).
 *
 *   query -> BM25 top-N (FTS5)  \
 *                                 fuse -> pick chunks in fused order (filters)
 *   query -> embed -> kNN top-N /        -> merge neighbours -> collapse duplicates -> k hits
 *
 * (In the default convex fusion the kNN search runs only when BM25 finds
 * fewer than N chunks; otherwise the embedding scores the BM25 candidates.)
 *
 * N is max(100, 3k), larger when filters are set (filters are applied after
 * ranking, so a restrictive filter needs a deeper pool). Picking stops as soon
 * as the picked chunks form k spans; if collapsing duplicates leaves fewer
 * than k, more are picked.
 *
 * Default fusion, chosen with `docq eval retrieval` on the shared sets (see
 * the figures below dq_default_fusion). */
#include "retrieve/retrieve.h"

#include <math.h>
#include <string.h>

#include "retrieve/prf.h"
#include "retrieve/stopwords.h"

#include "util/err.h"
#include "util/mem.h"

/* Measured with `docq eval retrieval` (nDCG@10; docq-hash-v1 rho=2, 256-token chunks):
 *
 *                 bm25    vector  convex .75  rrf .5   (convex .6 / .9, earlier embedder)
 *   cranfield    0.3225   0.2387   0.3302    0.2986    0.3305 / 0.3264
 *   medline      0.6895   0.5132   0.6821    0.6605    0.6781 / 0.6713
 *   cacm         0.3664   0.2359   0.3671    0.3077    0.3425 / 0.3693
 *   scifact      0.6492   0.4016   0.6502    0.5489
 *
 * The built-in vectors are much weaker than BM25 here, so rank fusion (which
 * gives both lists equal say) loses 3-10 points, while the convex combination
 * with BM25 at 0.75 (and the vector score looked up for every BM25 candidate)
 * keeps BM25's ranking and lets sub-word similarity break its near-ties: it
 * is at or above BM25 on three of four sets. Hence the default. */
/* Re-ranking (retrieve/prf.c) re-scores the first BM25 candidates before
 * fusion, in every mode but vector: term proximity (prox.c, always) and
 * pseudo-relevance feedback (RM3, unless --no-feedback). `docq eval
 * retrieval` (nDCG@10, default hybrid, full query sets, 2026-11-26).
 * "Before": hybrid on 2026-11-25; "fb": with the heading column (store.h
 * DQ_BM25_W_HEAD), feedback and 560-token chunks; "prox": fb plus BM25TP
 * proximity (weight 0.5, neighbouring query terms); "now": prox plus the
 * best sentence's query-term idf (prf.c PRF_NU 1); "no fb": now without
 * feedback.
 *
 *                 FTS5 BM25   before     fb      prox      now     now, no fb
 *   cacm            0.426     0.4393   0.4590   0.4614   0.4760     0.4793
 *   cranfield       0.350     0.3600   0.3882   0.3878   0.3861     0.3781
 *   medline         0.700     0.7012   0.7286   0.7253   0.7309     0.7144
 *   scifact         0.687     0.7002   0.6932   0.6967   0.6948     0.6970
 *   nq              0.867     0.8643   0.8799   0.8802   0.8824     0.8831
 *   squad           0.877     0.8767   0.8763   0.8799   0.8858     0.8918
 *   cmrc2018   (trigram 0.936) 0.9778  0.9832   0.9826   0.9826       -
 *
 * Six-set English mean: FTS5 0.6512, before 0.6570, fb 0.6709 (+3.03%), prox
 * 0.6719 (+3.18%), now 0.6760 (+3.81%), now without feedback 0.6740 (+3.50%).
 * Feedback lifts the topical sets with many relevant documents per query
 * (cacm, cranfield, medline: +1.5 to +4%); on the known-item sets (nq,
 * squad) a clear best chunk takes nearly all the feedback weight and little
 * moves; scifact (one or two relevant abstracts per claim) and nq lose about
 * 0.1 point. Tried: lambda 0.9 / 0.7, 5 feedback chunks, 10 terms (each
 * better on one set, worse in sum); re-scoring 30, 50 or 100 candidates, or
 * running the expanded query over the whole index: the same within 0.002.
 * Proximity helps where questions repeat the passage's phrasing (squad
 * +0.4 point, and answer-in-context at 2048 tokens 96.2% -> 96.4%); its
 * weight: 0.5 -> mean 0.6719, 1 -> 0.6699, 2 -> 0.6683 (squad rising to
 * 0.8839 as cranfield and medline fall); all query-term pairs instead of
 * neighbours: 0.6718, with cranfield lower; window 3 instead of 5: 0.6718.
 * The best sentence (a question is answered by one sentence that holds most
 * of its words): nu 0.5 -> mean 0.6745, 1 -> 0.6764, 2 -> 0.6765 (cranfield
 * and scifact falling); squad answer-in-context 96.4% -> 96.7% (nu 1), 96.8%
 * (2), 96.7% (4); cmrc2018 unchanged. Those runs ended sentences at . ! ?
 * and blank lines; the table's "now" column uses the answerer's splitter
 * (indexer/sentence.c, which keeps "Dr." and "U.S." inside a sentence).
 * Then the answer type in the best sentence (prf.c PRF_TAU, 2026-11-26 session 6):
 * tau 1 -> cacm 0.4760, cranfield 0.3863, medline 0.7309, scifact 0.6948,
 * nq 0.8825, squad 0.8879 (mean 0.6764, +3.88%); squad answer-in-context at
 * 2048 tokens: 346 misses -> 342 (tau 0.5), 338 (1), 339 (2); nq unchanged
 * at 97.1%. Then "what city / language / team / name ..." typed as names
 * (indexer/qtype.c): squad 335 misses; nq 0.8824, squad 0.8880, mean 0.6764.
 * Tried the same day: the type bonus without the name type, 340 misses;
 * "where" as a name, 338 (nq's answers worse); the Snowball English
 * (Porter2) stemmer instead of Porter, through libstemmer, 345. */
const int dq_default_fusion = DQ_FUSE_CONVEX;
const double dq_default_w_rrf = 0.5;
const double dq_default_w_convex = 0.75;

/* A Chinese question's function bigrams ("什么", "哪个", "是谁", "的是" ...,
 * retrieve/stopwords.c) are left out of the BM25 query. Unlike English
 * function words, which are in more than half of the chunks and so score
 * nothing (store/bm25.c clamps their idf), these are rare enough in prose to
 * get a real idf, and a question's 什么 then ranks any chunk that happens to
 * ask or say 什么 -- dialogue, a FAQ -- above the passage with the answer.
 * `docq eval retrieval` on cmrc2018 (first 500 questions, default hybrid):
 * nDCG@10 0.9872 -> 0.9939, MRR@10 0.9830 -> 0.9918; the English sets are
 * unchanged (no term is dropped). Leaving English function words out too was
 * tried: mixed (cranfield +0.006, squad +0.003, cacm -0.008). */
static int cjk_function_term(const char *t, size_t n)
{
  return n > 0 && (unsigned char)t[0] >= 0x80 && dq_stopword(t, n);
}

typedef struct doc_cache {
  int64_t id;
  int pass;
  int format; /* dq_format */
  char *path, *title;
} doc_cache;

typedef struct picker {
  dq_store *s;
  const dq_filter *f;
  doc_cache *docs; size_t n_docs, cap_docs;
  dq_picked *p; size_t n, cap;
  size_t spans; /* spans the picked chunks form (chunks, when not merging) */
  int merge;
} picker;

static void picker_free(picker *pk)
{
  for (size_t i = 0; i < pk->n_docs; i++) { dq_free(pk->docs[i].path); dq_free(pk->docs[i].title); }
  dq_free(pk->docs);
  for (size_t i = 0; i < pk->n; i++) dq_chunk_row_clear(&pk->p[i].row);
  dq_free(pk->p);
}

/* The cached document entry for id, loading it (and applying the filter). */
static int doc_get(picker *pk, int64_t id, doc_cache **out)
{
  for (size_t i = 0; i < pk->n_docs; i++)
    if (pk->docs[i].id == id) { *out = &pk->docs[i]; return 0; }
  if (pk->n_docs == pk->cap_docs) {
    size_t nc = pk->cap_docs ? pk->cap_docs * 2 : 32;
    doc_cache *nd = dq_realloc(pk->docs, nc * sizeof *nd);
    if (!nd) return DOCQ_ENOMEM;
    pk->docs = nd;
    pk->cap_docs = nc;
  }
  dq_doc_row row = {0};
  int rc = dq_store_doc_by_id(pk->s, id, &row);
  if (rc < 0) return rc;
  doc_cache *d = &pk->docs[pk->n_docs];
  d->id = id;
  d->pass = dq_filter_match(pk->f, &row);
  d->format = row.format;
  d->path = dq_strdup(row.path ? row.path : "");
  d->title = dq_strdup(row.title ? row.title : "");
  dq_doc_row_clear(&row);
  if (!d->path || !d->title) { dq_free(d->path); dq_free(d->title); return DOCQ_ENOMEM; }
  pk->n_docs++;
  *out = d;
  return 0;
}

/* Pick candidate c (fused rank `rank`) if its document passes the filters. */
static int pick(picker *pk, const dq_cand *c, int rank)
{
  dq_chunk_row row = {0};
  int rc = dq_store_chunk(pk->s, c->chunk_id, &row);
  if (rc == DOCQ_ENOTFOUND) { dq_err_clear(); return 0; } /* deleted meanwhile */
  if (rc < 0) return rc;
  doc_cache *d = NULL;
  if ((rc = doc_get(pk, row.doc_id, &d)) < 0 || !d->pass) {
    dq_chunk_row_clear(&row);
    if (rc == DOCQ_ENOTFOUND) { dq_err_clear(); rc = 0; }
    return rc;
  }
  if (pk->n == pk->cap) {
    size_t nc = pk->cap ? pk->cap * 2 : 32;
    dq_picked *np = dq_realloc(pk->p, nc * sizeof *np);
    if (!np) { dq_chunk_row_clear(&row); return DOCQ_ENOMEM; }
    pk->p = np;
    pk->cap = nc;
  }
  /* A chunk next to one picked chunk extends its span; between two it joins them. */
  int adjacent = 0;
  for (size_t i = 0; i < pk->n; i++)
    if (pk->p[i].row.doc_id == row.doc_id &&
        (pk->p[i].row.ordinal + 1 == row.ordinal || row.ordinal + 1 == pk->p[i].row.ordinal))
      adjacent++;
  pk->spans = pk->merge ? pk->spans + 1 - (size_t)adjacent : pk->n + 1;
  pk->p[pk->n].row = row;
  pk->p[pk->n].cand = c;
  pk->p[pk->n].rank = rank;
  pk->n++;
  return 0;
}

static int embed_query(dq_embedder *e, const char *q, float **out, int *nonzero)
{
  *out = dq_calloc(e->dim, sizeof **out);
  if (!*out) return DOCQ_ENOMEM;
  size_t len = strlen(q);
  int rc = dq_embed(e, &q, &len, 1, 1, *out);
  if (rc < 0) return rc;
  *nonzero = 0;
  for (unsigned i = 0; i < e->dim; i++) if ((*out)[i] != 0.0f) { *nonzero = 1; break; }
  return 0;
}

/* Vector scores of BM25-only candidates, so the convex fusion compares every
 * candidate on both signals instead of treating "not in the kNN top-N" as 0. */
static int fill_vectors(dq_store *s, const float *q, unsigned dim, dq_cand *c, size_t n, float *tmp)
{
  for (size_t i = 0; i < n; i++) {
    if (c[i].vec_known) continue;
    int rc = dq_store_chunk_vector(s, c[i].chunk_id, dim, tmp);
    if (rc == DOCQ_ENOTFOUND) { dq_err_clear(); continue; }
    if (rc < 0) return rc;
    double d = 0;
    for (unsigned j = 0; j < dim; j++) d += (double)q[j] * tmp[j];
    c[i].vec = d;
    c[i].vec_known = 1;
  }
  return 0;
}

static int cancelled(const dq_query_opts *o)
{
  return o->interrupt && *o->interrupt;
}

int dq_retrieve(dq_store *s, dq_embedder *e, const char *query, const dq_query_opts *o,
                dq_hit_rec **out, size_t *n_out)
{
  *out = NULL;
  *n_out = 0;
  size_t k = o->k ? o->k : 10;
  int filt = dq_filter_active(&o->filter);
  size_t pool = 3 * k > 100 ? 3 * k : 100;
  if (filt) pool = 20 * k > 1000 ? 20 * k : 1000;
  int rc = 0;
  dq_scored *lb = NULL, *lv = NULL;
  size_t nb = 0, nv = 0, nc = 0, nh = 0;
  dq_cand *c = NULL;
  float *qv = NULL, *tmp = NULL;
  dq_hit_rec *hits = NULL;
  picker pk = { .s = s, .f = &o->filter, .merge = o->merge };
  dq_shingle_memo memo = {0}; /* spans tokenized once across picking rounds */
  int qv_nonzero = 0;

  if (!(lb = dq_calloc(pool, sizeof *lb)) || !(lv = dq_calloc(pool, sizeof *lv))) { rc = DOCQ_ENOMEM; goto done; }
  if (o->mode != DQ_MODE_VECTOR && (rc = dq_store_bm25_ex(s, query, cjk_function_term, pool, lb, &nb)) < 0) goto done;
  if (o->mode != DQ_MODE_VECTOR &&
      (rc = dq_prf_rerank(s, query, lb, nb, DQ_RERANK_PROXIMITY | (o->feedback >= 0 ? DQ_RERANK_RM3 : 0u))) < 0)
    goto done;
  if (cancelled(o)) { rc = dq_err_set(DOCQ_ECANCELED, "search interrupted"); goto done; }
  int fusion = o->fusion ? o->fusion : dq_default_fusion;
  double w_convex = o->w_bm25 >= 0 ? o->w_bm25 : dq_default_w_convex;
  if (o->mode != DQ_MODE_BM25) {
    if ((rc = embed_query(e, query, &qv, &qv_nonzero)) < 0) goto done;
    /* The convex fusion looks up the vector score of every BM25 candidate
     * (fill_vectors); a chunk only the kNN search finds has BM25 part 0, so
     * with BM25 at 0.75 it rarely reaches the top k while BM25 fills the pool:
     * measured without the kNN search then, nDCG@10 moved only on cacm
     * (0.4398 -> 0.4393), and the search lost FAISS's scan of every vector
     * (a quarter of its time on 163k chunks). So kNN runs only when BM25
     * found fewer than `pool` chunks, e.g. for words the index lacks (or
     * when a lower BM25 weight is asked for). */
    int need_knn = o->mode == DQ_MODE_VECTOR || fusion != DQ_FUSE_CONVEX || nb < pool || w_convex < dq_default_w_convex;
    if (qv_nonzero && need_knn && (rc = dq_store_knn(s, qv, e->dim, pool, lv, &nv)) < 0) goto done;
    /* a chunk at or below cosine 0 is no neighbour, only the rest of a
     * small index: "zebras" listed a fox sentence at score 0 */
    while (nv > 0 && !(lv[nv - 1].score > 0)) nv--;
  }
  if (cancelled(o)) { rc = dq_err_set(DOCQ_ECANCELED, "search interrupted"); goto done; }
  if ((rc = dq_cands_union(lb, nb, lv, nv, &c, &nc)) < 0) goto done;

  if (o->mode == DQ_MODE_BM25) {
    for (size_t i = 0; i < nc; i++) c[i].score = c[i].bm25;
    dq_cands_sort(c, nc);
  } else if (o->mode == DQ_MODE_VECTOR) {
    for (size_t i = 0; i < nc; i++) c[i].score = c[i].vec;
    dq_cands_sort(c, nc);
  } else {
    if (fusion == DQ_FUSE_CONVEX) {
      double w = w_convex;
      if (qv_nonzero) {
        if (!(tmp = dq_malloc(e->dim * sizeof *tmp))) { rc = DOCQ_ENOMEM; goto done; }
        if ((rc = fill_vectors(s, qv, e->dim, c, nc, tmp)) < 0) goto done;
      }
      dq_fuse_convex_ex(c, nc, w, nb < pool);
    } else {
      double w = o->w_bm25 >= 0 ? o->w_bm25 : dq_default_w_rrf;
      dq_fuse_rrf(c, nc, w, DQ_RRF_K);
    }
  }

  /* Pick chunks until they form k passages that survive duplicate collapse. */
  size_t next = 0, target = k;
  for (;;) {
    while (next < nc && pk.spans < target) {
      if ((next & 15) == 0 && cancelled(o)) { rc = dq_err_set(DOCQ_ECANCELED, "search interrupted"); goto done; }
      if ((rc = pick(&pk, &c[next], (int)next + 1)) < 0) goto done;
      next++;
    }
    dq_hits_free(hits, nh);
    hits = NULL; nh = 0;
    if (o->merge) {
      if ((rc = dq_spans_merge(pk.p, pk.n, o->max_span_tokens, &hits, &nh)) < 0) goto done;
    } else {
      /* one hit per chunk: merge each chunk on its own */
      if (!(hits = dq_calloc(pk.n ? pk.n : 1, sizeof *hits))) { rc = DOCQ_ENOMEM; goto done; }
      for (size_t i = 0; i < pk.n; i++) {
        dq_hit_rec *one = NULL; size_t n1 = 0;
        if ((rc = dq_spans_merge(&pk.p[i], 1, 0, &one, &n1)) < 0) goto done;
        hits[nh++] = one[0];
        dq_free(one);
      }
      /* dq_spans_merge on single chunks keeps them unsorted: order by rank */
      for (size_t i = 1; i < nh; i++)
        for (size_t j = i; j > 0 && hits[j].rank < hits[j - 1].rank; j--) {
          dq_hit_rec t = hits[j]; hits[j] = hits[j - 1]; hits[j - 1] = t;
        }
    }
    for (size_t i = 0; i < nh; i++) {
      doc_cache *d = NULL;
      if ((rc = doc_get(&pk, hits[i].doc_id, &d)) < 0) goto done;
      if (!(hits[i].path = dq_strdup(d->path)) || !(hits[i].title = dq_strdup(d->title))) { rc = DOCQ_ENOMEM; goto done; }
      hits[i].format = d->format;
      if (d->format == DQ_FMT_HTML) { /* extracted text: its offsets are not the file's */
        dq_free(hits[i].segs);
        hits[i].segs = NULL;
        hits[i].n_segs = 0;
      }
    }
    if ((rc = dq_hits_dedupe(hits, &nh, o->dedupe, &memo)) < 0) goto done;
    if (nh >= k || next >= nc) break;
    target += k - nh;
  }
  if (nh > k) {
    for (size_t i = k; i < nh; i++) dq_hit_rec_clear(&hits[i]);
    nh = k;
  }
  *out = hits;
  *n_out = nh;
  hits = NULL;
  nh = 0;
done:
  dq_hits_free(hits, nh);
  dq_shingle_memo_free(&memo);
  picker_free(&pk);
  dq_free(lb);
  dq_free(lv);
  dq_free(c);
  dq_free(qv);
  dq_free(tmp);
  return rc;
}
