/* Pseudo-relevance feedback: RM3 (Lavrenko & Croft 2001, relevance models;
 * "RM3" as in Abdul-Jaleel et al., UMass at TREC 2004) as a re-ranking of the
 * BM25 candidates.
 *
 *   1. The FB best BM25 chunks are taken as relevant, chunk d weighted
 *      w(d) = exp(s(d) - s_max) / Z: a clear winner dominates (a known-item
 *      query drifts little), a flat head spreads the weight.
 *   2. Relevance model: P(t) = sum_d w(d) * tf(t,d) / |d| over those chunks'
 *      terms (dq_terms, as indexed), function words aside. The NT heaviest
 *      terms form the model, normalized to sum 1 over those NT; terms in more
 *      than about a quarter of the chunks (BM25 idf <= 1) then score nothing.
 *   3. New score of a candidate: lambda * s(d) / |q| + (1 - lambda) *
 *      sum_e P(e) * bm25(e, d), i.e. BM25 of the query mixed with the model,
 *      each part a distribution over terms as in RM3.
 *
 * Only the first RERANK candidates are re-scored (their text is tokenized
 * here), the rest keep lambda * s / |q|. With the feedback terms run as a new
 * full query instead, nDCG@10 was the same on all six English sets (the
 * expansion reorders, it rarely brings new chunks into the top 10), and the
 * cost would grow with the index; here it is bounded by RERANK chunk reads
 * and NT document-frequency lookups.
 *
 * The same reading of the candidates gives their term-proximity score
 * (prox.c): BM25TP over neighbouring query terms, plus PRF_NU times the idf
 * of the query terms that the chunk's best sentence holds together (a
 * question is usually answered by one sentence that has most of its words,
 * not by a chunk that scatters them), added to BM25 with weight PRF_MU
 * before the mixing above. Sentences are the answerer's (indexer/sentence.h).
 * A sentence that also holds the kind of answer an English question asks
 * for (indexer/qtype.h: a year for "when", a number for "how many", a name
 * the question lacks for "who") counts 1 + PRF_TAU times: of two sentences
 * that repeat the question, the one that answers it is the better evidence.
 *
 * Settings (FB 10, NT 20, lambda 0.85, mu 0.5, nu 1, tau 1) and the measurements
 * behind them are in the comment above dq_prf_rerank's caller
 * (retrieve/search.c). */
#include "retrieve/prf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/normalize.h"
#include "indexer/qtype.h"
#include "indexer/sentence.h"
#include "retrieve/prox.h"
#include "retrieve/stopwords.h"
#include "util/err.h"
#include "util/hash.h"
#include "util/mem.h"

#define PRF_FB 10
#define PRF_NT 20
#define PRF_LAMBDA 0.85
#define PRF_RERANK 50
#define PRF_MU 0.5
#define PRF_NU 1.0
#define PRF_TAU 1.0

/* ---- a term -> slot hash (open addressing, terms in one arena) ---- */

typedef struct term_ent {
  size_t off;   /* in arena; SIZE_MAX = empty */
  uint32_t len;
  uint32_t tf;  /* count in the chunk being read */
  double rm;    /* relevance-model weight */
} term_ent;

typedef struct term_map {
  term_ent *e;
  size_t cap, n;
  dq_buf arena;
} term_map;

static int map_init(term_map *m, size_t cap)
{
  memset(m, 0, sizeof *m);
  if (!(m->e = dq_malloc(cap * sizeof *m->e))) return DOCQ_ENOMEM;
  for (size_t i = 0; i < cap; i++) m->e[i].off = SIZE_MAX;
  m->cap = cap;
  return 0;
}

static void map_free(term_map *m)
{
  dq_free(m->e);
  dq_buf_free(&m->arena);
}

static int map_grow(term_map *m)
{
  term_map g;
  int rc = map_init(&g, m->cap * 2);
  if (rc) return rc;
  for (size_t i = 0; i < m->cap; i++) {
    if (m->e[i].off == SIZE_MAX) continue;
    const char *t = m->arena.p + m->e[i].off;
    size_t j = dq_hash_bytes(t, m->e[i].len) & (g.cap - 1);
    while (g.e[j].off != SIZE_MAX) j = (j + 1) & (g.cap - 1);
    g.e[j] = m->e[i];
  }
  dq_free(m->e);
  m->e = g.e;
  m->cap = g.cap;
  return 0;
}

/* The entry of term t, added when absent (NULL on ENOMEM). */
static term_ent *map_get(term_map *m, const char *t, size_t n, int add)
{
  if (add && (m->n + 1) * 2 > m->cap && map_grow(m)) return NULL;
  size_t j = dq_hash_bytes(t, n) & (m->cap - 1);
  for (;; j = (j + 1) & (m->cap - 1)) {
    term_ent *e = &m->e[j];
    if (e->off == SIZE_MAX) break;
    if (e->len == n && !memcmp(m->arena.p + e->off, t, n)) return e;
  }
  if (!add) return NULL;
  term_ent *e = &m->e[j];
  size_t off = m->arena.len;
  if (dq_buf_put(&m->arena, t, n) < 0) return NULL;
  e->off = off;
  e->len = (uint32_t)n;
  e->tf = 0;
  e->rm = 0;
  m->n++;
  return e;
}

/* ---- reading chunks ---- */

/* Where the chunk's sentences end (indexer/sentence.h), for proximity's best
 * sentence, and whether each holds the kind of answer the question asks for
 * (indexer/qtype.h). */
typedef struct sent_ends {
  size_t *end;
  unsigned char *typed;
  size_t n, cap;
  int oom;
  const char *text;        /* the chunk */
  int qt;                  /* the question's answer type */
  const dq_prox_query *q;  /* its content terms */
} sent_ends;

typedef struct word_match {
  const dq_prox_query *q;
  int hit;
} word_match;

static int match_term(void *ctx, const char *t, size_t n, size_t start, size_t end)
{
  (void)start;
  (void)end;
  word_match *m = ctx;
  if (dq_stopword(t, n)) { m->hit = 1; return 1; }
  for (size_t i = 0; i < m->q->k; i++)
    if (m->q->n[i] == n && !memcmp(m->q->t[i], t, n)) { m->hit = 1; return 1; }
  return 0;
}

/* dq_qtype_match's question test: the word's term is one of the question's
 * content terms, or a function word (a capitalized "The" is no name). */
static int in_question(void *ctx, const char *w, size_t n)
{
  word_match m = { ctx, 0 };
  dq_terms(w, n, match_term, &m);
  return m.hit;
}

static int on_sentence(void *ctx, size_t start, size_t end)
{
  sent_ends *e = ctx;
  if (e->n == e->cap) {
    size_t nc = e->cap ? 2 * e->cap : 32;
    size_t *ne = dq_realloc(e->end, nc * sizeof *ne);
    if (ne) e->end = ne;
    unsigned char *nt = ne ? dq_realloc(e->typed, nc) : NULL;
    if (!nt) { e->oom = 1; return 1; }
    e->typed = nt;
    e->cap = nc;
  }
  e->typed[e->n] = e->qt != DQ_QT_NONE &&
                   dq_qtype_match(e->qt, e->text + start, end - start, in_question, (void *)e->q);
  e->end[e->n++] = end;
  return 0;
}

/* The weight of sentence i's idf in the best sentence. */
static double sentence_weight(const sent_ends *e, size_t i)
{
  return i < e->n && e->typed[i] ? 1.0 + PRF_TAU : 1.0;
}

typedef struct count_ctx {
  const sent_ends *ends;  /* where the chunk's sentences end (with proximity) */
  size_t next_end;        /* the first of ends not yet passed */
  term_map *m;            /* NULL: no counts wanted (proximity alone) */
  size_t dl;
  int oom;
  const dq_prox_query *q; /* NULL: no proximity */
  dq_prox_state px;
} count_ctx;

static int count_term(void *ctx, const char *t, size_t n, size_t start, size_t end)
{
  count_ctx *c = ctx;
  (void)end;
  if (c->q && c->next_end < c->ends->n && start >= c->ends->end[c->next_end]) {
    dq_prox_sentence_end(&c->px, c->q, sentence_weight(c->ends, c->next_end));
    while (c->next_end < c->ends->n && start >= c->ends->end[c->next_end]) c->next_end++;
  }
  if (c->m) {
    term_ent *e = map_get(c->m, t, n, 1);
    if (!e) { c->oom = 1; return 1; }
    e->tf++;
  }
  if (c->q) dq_prox_term(&c->px, c->q, t, n, c->dl);
  c->dl++;
  return 0;
}

/* Term counts of one chunk into a fresh map (none when m is NULL); *dl its
 * length in terms; *px its proximity score for the query terms q (0 when q
 * is NULL): BM25TP plus PRF_NU times the idf its best sentence holds. */
static int chunk_terms(dq_store *s, int64_t id, term_map *m, size_t *dl, const dq_prox_query *q, int qt,
                       double avgdl, double *px)
{
  dq_chunk_row row = {0};
  int rc = dq_store_chunk(s, id, &row);
  if (rc < 0) return rc;
  sent_ends ends = { .text = row.text, .qt = qt, .q = q };
  if (m && (rc = map_init(m, 256)) < 0) goto done;
  if (q) {
    dq_sentences(row.text, strlen(row.text), on_sentence, &ends);
    if (ends.oom) { rc = DOCQ_ENOMEM; goto done; }
  }
  count_ctx c = { .ends = &ends, .m = m, .q = q };
  dq_prox_begin(&c.px);
  rc = dq_terms(row.text, strlen(row.text), count_term, &c);
  if (c.oom) rc = DOCQ_ENOMEM;
  else if (rc > 0) rc = 0;
  *dl = c.dl;
  if (q) dq_prox_sentence_end(&c.px, q, sentence_weight(&ends, c.next_end));
  *px = q ? dq_prox_score(&c.px, q, (double)c.dl, avgdl) + PRF_NU * c.px.best_sentence : 0;
done:
  dq_free(ends.end);
  dq_free(ends.typed);
  dq_chunk_row_clear(&row);
  return rc < 0 ? rc : 0;
}

/* The query read once: its length in terms and its distinct content terms
 * (offsets into arena while it may still move). */
typedef struct query_ctx {
  size_t n;
  dq_prox_query q;
  size_t off[DQ_PROX_MAXQ];
  dq_buf arena;
} query_ctx;

static int count_query(void *ctx, const char *t, size_t n, size_t start, size_t end)
{
  (void)start;
  (void)end;
  query_ctx *c = ctx;
  c->n++;
  if (c->q.k >= DQ_PROX_MAXQ || dq_stopword(t, n)) return 0;
  for (size_t i = 0; i < c->q.k; i++)
    if (c->q.n[i] == n && !memcmp(c->arena.p + c->off[i], t, n)) return 0;
  c->off[c->q.k] = c->arena.len;
  if (dq_buf_put(&c->arena, t, n) < 0) return 1;
  c->q.n[c->q.k++] = n;
  return 0;
}

typedef struct exp_term {
  const char *t;
  size_t n;
  double w, idf;
} exp_term;

/* A model term for sorting: heaviest first, ties by bytes (the hash
 * table's order must not decide which terms are kept). */
typedef struct rm_term {
  double rm;
  const char *t;
  size_t n;
} rm_term;

static int by_rm_desc(const void *a, const void *b)
{
  const rm_term *x = a, *y = b;
  if (x->rm != y->rm) return x->rm < y->rm ? 1 : -1;
  int c = memcmp(x->t, y->t, x->n < y->n ? x->n : y->n);
  return c ? c : (x->n > y->n) - (x->n < y->n);
}

static int by_score_desc(const void *a, const void *b)
{
  const dq_scored *x = a, *y = b;
  if (x->score != y->score) return x->score < y->score ? 1 : -1;
  return x->chunk_id < y->chunk_id ? -1 : x->chunk_id > y->chunk_id;
}

int dq_prf_rerank(dq_store *s, const char *query, dq_scored *c, size_t n, unsigned what)
{
  if (n < 2 || !(what & (DQ_RERANK_RM3 | DQ_RERANK_PROXIMITY))) return 0;
  size_t cn = 0;
  char *clean = NULL;
  query_ctx qc;
  memset(&qc, 0, sizeof qc);
  int rc = dq_utf8_repair(query, strlen(query), &clean, &cn, NULL);
  if (rc >= 0) rc = dq_terms(clean, cn, count_query, &qc);
  const int qt = rc >= 0 ? dq_qtype(clean) : DQ_QT_NONE;
  dq_free(clean);
  if (qc.arena.oom) rc = DOCQ_ENOMEM;
  const size_t qn = qc.n;
  int64_t n_rows = 0;
  double avgdl = 0;
  if (rc >= 0 && qn > 0) rc = dq_store_bm25_stats(s, &n_rows, &avgdl);
  if (rc < 0 || qn == 0 || n_rows <= 0 || avgdl <= 0) {
    dq_buf_free(&qc.arena);
    return rc < 0 ? rc : 0;
  }
  const dq_prox_query *pq = NULL;
  if ((what & DQ_RERANK_PROXIMITY) && qc.q.k >= 2) {
    for (size_t i = 0; i < qc.q.k && rc >= 0; i++) {
      int64_t df = 0;
      qc.q.t[i] = qc.arena.p + qc.off[i];
      rc = dq_store_term_df(s, qc.q.t[i], qc.q.n[i], &df);
      qc.q.idf[i] = dq_bm25_idf(n_rows, df);
    }
    if (rc < 0) { dq_buf_free(&qc.arena); return rc; }
    pq = &qc.q;
  }
  const int rm3 = (what & DQ_RERANK_RM3) != 0;
  if (!rm3 && !pq) { dq_buf_free(&qc.arena); return 0; }

  const size_t fb = n < PRF_FB ? n : PRF_FB, nr = n < PRF_RERANK ? n : PRF_RERANK;
  term_map rm, *docs = dq_calloc(nr, sizeof *docs);
  size_t *dl = dq_calloc(nr, sizeof *dl);
  double *px = dq_calloc(nr, sizeof *px), wsum = 0;
  rm_term *order = NULL;
  exp_term ex[PRF_NT];
  size_t n_ex = 0;
  memset(&rm, 0, sizeof rm);
  if (!docs || !dl || !px || (rm3 && (rc = map_init(&rm, 1024)) < 0)) {
    if (rc >= 0) rc = DOCQ_ENOMEM;
    goto done;
  }

  /* 1-2: the relevance model of the feedback chunks */
  double z = 0;
  for (size_t i = 0; i < fb; i++) z += exp(c[i].score - c[0].score);
  for (size_t i = 0; i < nr; i++) {
    if ((rc = chunk_terms(s, c[i].chunk_id, rm3 ? &docs[i] : NULL, &dl[i], pq, qt, avgdl, &px[i])) < 0) {
      if (rc != DOCQ_ENOTFOUND) goto done;
      dq_err_clear(); /* deleted meanwhile: scores as an empty chunk */
      rc = 0;
    }
    if (!rm3 || i >= fb || !dl[i]) continue;
    const double w = exp(c[i].score - c[0].score) / z;
    for (size_t j = 0; j < docs[i].cap; j++) {
      const term_ent *e = &docs[i].e[j];
      if (e->off == SIZE_MAX) continue;
      term_ent *r = map_get(&rm, docs[i].arena.p + e->off, e->len, 1);
      if (!r) { rc = DOCQ_ENOMEM; goto done; }
      r->rm += w * e->tf / (double)dl[i];
    }
  }
  if (!rm3) goto rescore;
  if (!(order = dq_malloc((rm.n ? rm.n : 1) * sizeof *order))) { rc = DOCQ_ENOMEM; goto done; }
  size_t no = 0;
  for (size_t j = 0; j < rm.cap; j++)
    if (rm.e[j].off != SIZE_MAX) order[no++] = (rm_term){ rm.e[j].rm, rm.arena.p + rm.e[j].off, rm.e[j].len };
  qsort(order, no, sizeof *order, by_rm_desc);
  /* The model is its NT heaviest terms (function words aside), normalized
   * over those NT. A term in too many chunks keeps its share of the mass but
   * scores nothing: renormalizing over the survivors instead would hand a
   * whole model to the stray words of weak feedback chunks when the best
   * chunks' own words are all common (a tiny or repetitive index). */
  for (size_t i = 0, kept = 0; i < no && kept < PRF_NT; i++) {
    const char *t = order[i].t;
    const size_t tn = order[i].n;
    if (dq_stopword(t, tn)) continue;
    kept++;
    wsum += order[i].rm;
    int64_t df = 0;
    if ((rc = dq_store_term_df(s, t, tn, &df)) < 0) goto done;
    const double idf = dq_bm25_idf(n_rows, df);
    if (idf <= 1.0) continue; /* in more than ~a quarter of the chunks */
    ex[n_ex++] = (exp_term){ t, tn, order[i].rm, idf };
  }
  if (n_ex == 0 || wsum <= 0) {
    if (!pq) goto done;
    n_ex = 0; /* proximity alone */
  }

rescore:
  /* 3: re-score: BM25 plus proximity, mixed with the relevance model's BM25
   * when there is one */
  for (size_t i = 0; i < n; i++) {
    const double base = c[i].score + (i < nr ? PRF_MU * px[i] : 0);
    if (n_ex == 0) {
      c[i].score = base;
      continue;
    }
    double sc = PRF_LAMBDA * base / (double)qn;
    if (i < nr && dl[i]) {
      double e_sc = 0;
      for (size_t k = 0; k < n_ex; k++) {
        const term_ent *e = map_get(&docs[i], ex[k].t, ex[k].n, 0);
        if (e) e_sc += ex[k].w / wsum * dq_bm25_term(ex[k].idf, e->tf, (double)dl[i], avgdl);
      }
      sc += (1.0 - PRF_LAMBDA) * e_sc;
    }
    c[i].score = sc;
  }
  qsort(c, n, sizeof *c, by_score_desc);
done:
  for (size_t i = 0; docs && i < nr; i++) map_free(&docs[i]);
  dq_free(docs);
  dq_free(dl);
  dq_free(px);
  dq_buf_free(&qc.arena);
  dq_free(order);
  map_free(&rm);
  return rc < 0 ? rc : 0;
}
