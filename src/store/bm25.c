/* BM25 over the FTS5 index without FTS5's ranking function (dq_store_bm25).
 *
 * `MATCH ... ORDER BY rank` calls FTS5's bm25() once for every matching row,
 * and each call asks FTS5 for the row's size and its phrase instances: on
 * 163k chunks a 12-word question took ~100 ms, a 3-word one ~50 ms, while
 * reading the same postings takes ~2 ms per common term. So the scoring is
 * done here, with FTS5's own formula and statistics:
 *
 *   score(d) = sum over query terms t (repeats count again) of
 *              idf(t) * f(t,d) * (k1 + 1) / (f(t,d) + k1 * (1 - b + b * |d| / avgdl))
 *   f(t,d)   = sum over columns c of w_c * tf(t,d,c)   (text, head; bm25()'s weights)
 *   |d|      = the row's length in terms, all columns, unweighted; avgdl its mean
 *   idf(t)   = ln((N - df(t) + 0.5) / (df(t) + 0.5)), or 1e-6 when that is <= 0
 *   df(t)    = rows with t in any column
 *   k1 = 1.2, b = 0.75
 *
 * i.e. one saturation over the weighted frequencies, as FTS5's bm25() does
 * for a table of several columns (not a BM25 per column). The postings of
 * each term are read inside FTS5 by an auxiliary function (docq_postings:
 * xQueryPhrase over the term, its instances by column). Reading them
 * through fts5vocab's "instance" table cost a row of SQLite's VM per
 * occurrence: whole searches took 32 ms at 100k chunks and 243-268 ms at 1M
 * that way, 19 ms and 70-82 ms this way (bench/bench_search.c). The lengths
 * |d| come from FTS5's docsize table (one varint per column), cached per
 * store handle (4 bytes per chunk id) and reloaded when the database changed (PRAGMA data_version for
 * other connections, sqlite3_total_changes64 for this one). Scores equal
 * FTS5's bm25() up to rounding; dq_store_bm25_fts (the MATCH query) is kept
 * as the reference the tests compare with.
 *
 * Terms in more than half of the chunks ("the", "的") have idf clamped to
 * 1e-6, so they change no ranking but cost the longest postings: they are
 * read only when the other terms match fewer than k chunks. A term's
 * document frequency is counted while its postings are read (fts5vocab's
 * "row" table would read them a second time to count); once a term is seen
 * to be common it is remembered until the index changes. */
#include "store/store_int.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>

#include "indexer/normalize.h"
#include "util/err.h"
#include "util/hash.h"
#include "util/mem.h"

#define BM25_K1 1.2
#define BM25_B 0.75
#define BM25_MAX_TERMS 64
#define BM25_TERM_BYTES 64 /* dq_terms never emits longer terms */

struct dq_bm25_cache {
  uint32_t *dl;        /* chunk length in terms, by chunk id (0 = no such chunk) */
  double *acc;         /* score accumulator, by chunk id; zero between queries */
  int64_t cap;         /* ids 0..cap-1 */
  int64_t n_rows;
  double avgdl;
  int64_t data_version, changes;
  int valid;
  int64_t *touched;    /* ids with acc != 0 */
  size_t n_touched, cap_touched;
  struct posting { int64_t id; double f; } *post; /* one term's postings, f weighted */
  size_t cap_post;
  dq_buf common;       /* terms known to be in more than half of the chunks, NUL-separated */
  struct df_ent { uint32_t n; int64_t df; char t[BM25_TERM_BYTES]; } *dfc; /* term -> df; n = 0: free */
  size_t dfc_n;
};

/* Document frequencies seen so far (query terms while their postings are
 * read, feedback terms looked up by retrieve/prf.c), until the index
 * changes: fts5vocab counts a term by walking its whole doclist, 1-5 ms for a
 * frequent term over 1M chunks, and a session's questions share many terms.
 * Open addressing; emptied when 70% full. */
#define DF_SLOTS 16384

static int df_find(const dq_bm25_cache *c, const char *t, size_t n, int64_t *df)
{
  if (!c->dfc || n == 0 || n > BM25_TERM_BYTES) return 0;
  for (size_t j = dq_hash_bytes(t, n) & (DF_SLOTS - 1);; j = (j + 1) & (DF_SLOTS - 1)) {
    const struct df_ent *e = &c->dfc[j];
    if (!e->n) return 0;
    if (e->n == n && !memcmp(e->t, t, n)) { *df = e->df; return 1; }
  }
}

static void df_put(dq_bm25_cache *c, const char *t, size_t n, int64_t df)
{
  if (n == 0 || n > BM25_TERM_BYTES) return;
  if (!c->dfc && !(c->dfc = dq_calloc(DF_SLOTS, sizeof *c->dfc))) return; /* a cache: fine without */
  if (c->dfc_n * 10 >= DF_SLOTS * 7) {
    memset(c->dfc, 0, DF_SLOTS * sizeof *c->dfc);
    c->dfc_n = 0;
  }
  size_t j = dq_hash_bytes(t, n) & (DF_SLOTS - 1);
  for (; c->dfc[j].n; j = (j + 1) & (DF_SLOTS - 1))
    if (c->dfc[j].n == n && !memcmp(c->dfc[j].t, t, n)) { c->dfc[j].df = df; return; }
  c->dfc[j].n = (uint32_t)n;
  c->dfc[j].df = df;
  memcpy(c->dfc[j].t, t, n);
  c->dfc_n++;
}

void dq_bm25_cache_free(dq_bm25_cache *c)
{
  if (!c) return;
  dq_free(c->dl);
  dq_free(c->acc);
  dq_free(c->touched);
  dq_free(c->post);
  dq_buf_free(&c->common);
  dq_free(c->dfc);
  dq_free(c);
}

/* An SQLite varint (as FTS5 writes the docsize blob): *n bytes used, 0 on a
 * truncated value. */
static uint64_t get_varint(const unsigned char *p, size_t len, size_t *n)
{
  uint64_t v = 0;
  for (size_t i = 0; i < len && i < 9; i++) {
    if (i == 8) { *n = 9; return (v << 8) | p[i]; }
    v = (v << 7) | (p[i] & 0x7f);
    if (!(p[i] & 0x80)) { *n = i + 1; return v; }
  }
  *n = 0;
  return 0;
}

static int read_i64(dq_store *s, int which, int64_t *out)
{
  sqlite3_stmt *st = dq_stmt(s, which);
  if (!st) return dq_err_code();
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
  rc = rc == SQLITE_ROW ? 0 : dq_sql_fail(s, rc, "read statistics");
  dq_stmt_done(st);
  return rc;
}

/* What is read together must come from one state of the database: another
 * connection (an indexer beside a search) may commit between two
 * statements, and then the lengths would miss chunks of the largest id read
 * just before, or the postings name chunks the cached lengths do not know:
 * both look like a corrupt index. So the cache refresh, and a search with
 * it, read outside a transaction in one read transaction of their own (WAL:
 * a snapshot; writers go on meanwhile). */
static int read_begin(dq_store *s, int *began)
{
  *began = 0;
  if (!sqlite3_get_autocommit(s->db)) return 0; /* the caller's transaction is the snapshot */
  int rc = dq_exec(s, "BEGIN");
  if (rc < 0) return rc;
  *began = 1;
  return 0;
}

static void read_end(dq_store *s, int began)
{
  if (began && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* nothing was written: only the snapshot ends */
}

static int cache_load(dq_store *s, dq_bm25_cache *c, int64_t dv, int64_t changes);

/* Make s->bm the lengths of the current database state. */
static int cache_refresh(dq_store *s)
{
  dq_bm25_cache *c = s->bm;
  if (!c && !(c = s->bm = dq_calloc(1, sizeof *c))) return DOCQ_ENOMEM;
  int64_t dv = 0, changes = sqlite3_total_changes64(s->db);
  int rc = read_i64(s, ST_DATA_VERSION, &dv);
  if (rc) return rc;
  if (c->valid && dv == c->data_version && changes == c->changes) return 0;
  int began = 0;
  if ((rc = read_begin(s, &began)) < 0) return rc;
  rc = cache_load(s, c, dv, changes);
  read_end(s, began);
  return rc;
}

/* cache_refresh's reading, in one read transaction. */
static int cache_load(dq_store *s, dq_bm25_cache *c, int64_t dv, int64_t changes)
{
  int rc;
  c->valid = 0;
  int64_t max_id = 0;
  if ((rc = read_i64(s, ST_FTS_MAX_ID, &max_id))) return rc;
  int64_t cap = max_id + 1;
  if (cap > c->cap) {
    uint32_t *dl = dq_realloc(c->dl, (size_t)cap * sizeof *dl);
    if (!dl) return DOCQ_ENOMEM;
    c->dl = dl;
    double *acc = dq_realloc(c->acc, (size_t)cap * sizeof *acc);
    if (!acc) return DOCQ_ENOMEM;
    c->acc = acc;
    c->cap = cap;
  }
  memset(c->dl, 0, (size_t)c->cap * sizeof *c->dl);
  memset(c->acc, 0, (size_t)c->cap * sizeof *c->acc);
  c->n_touched = 0;
  sqlite3_stmt *st = dq_stmt(s, ST_FTS_DOCSIZE);
  if (!st) return dq_err_code();
  int64_t rows = 0;
  double total = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    const unsigned char *sz = sqlite3_column_blob(st, 1);
    size_t len = (size_t)sqlite3_column_bytes(st, 1), at = 0, used = 0;
    uint64_t v = 0;
    for (int col = 0; col < DQ_FTS_COLUMNS && sz; col++) { /* the row's length: all columns */
      v += get_varint(sz + at, len - at, &used);
      if (!used) break;
      at += used;
    }
    if (!used || id < 0 || id >= c->cap || v > UINT32_MAX) {
      dq_stmt_done(st);
      return dq_err_set(DOCQ_ECORRUPT, "index %s: full-text size of chunk %lld is unreadable", s->dir, (long long)id);
    }
    c->dl[id] = (uint32_t)v;
    total += (double)v;
    rows++;
  }
  rc = rc == SQLITE_DONE ? 0 : dq_sql_fail(s, rc, "read full-text sizes");
  dq_stmt_done(st);
  if (rc) return rc;
  c->common.len = 0; /* document frequencies changed */
  if (c->dfc) memset(c->dfc, 0, DF_SLOTS * sizeof *c->dfc);
  c->dfc_n = 0;
  c->n_rows = rows;
  c->avgdl = rows ? total / (double)rows : 1.0;
  if (c->avgdl <= 0) c->avgdl = 1.0;
  c->data_version = dv;
  c->changes = changes;
  c->valid = 1;
  return 0;
}

typedef struct qterm { char t[BM25_TERM_BYTES]; size_t n; int mult; int common; } qterm;
typedef struct qterms { qterm v[BM25_MAX_TERMS]; size_t n, total; } qterms;

static int collect(void *ctx, const char *term, size_t n, size_t start, size_t end)
{
  (void)start;
  (void)end;
  qterms *q = ctx;
  if (q->total >= BM25_MAX_TERMS) return 1; /* enough: stop dq_terms */
  q->total++;
  if (n > BM25_TERM_BYTES) n = BM25_TERM_BYTES;
  for (size_t i = 0; i < q->n; i++)
    if (q->v[i].n == n && memcmp(q->v[i].t, term, n) == 0) { q->v[i].mult++; return 0; }
  memcpy(q->v[q->n].t, term, n);
  q->v[q->n].n = n;
  q->v[q->n].mult = 1;
  q->n++;
  return 0;
}

static int touch(dq_bm25_cache *c, int64_t id)
{
  if (c->n_touched == c->cap_touched) {
    size_t nc = c->cap_touched ? c->cap_touched * 2 : 4096;
    int64_t *nt = dq_realloc(c->touched, nc * sizeof *nt);
    if (!nt) return DOCQ_ENOMEM;
    c->touched = nt;
    c->cap_touched = nc;
  }
  c->touched[c->n_touched++] = id;
  return 0;
}

static int known_common(const dq_bm25_cache *c, const qterm *t)
{
  for (size_t i = 0; i < c->common.len;) {
    size_t l = strlen(c->common.p + i);
    if (l == t->n && memcmp(c->common.p + i, t->t, l) == 0) return 1;
    i += l + 1;
  }
  return 0;
}

/* One term's postings, read inside FTS5 (docq_postings below). */
typedef struct post_req {
  dq_bm25_cache *c;
  double w[2];     /* column weights: text, head */
  int stop_common; /* abandon once the term is in more than half of the chunks */
  size_t df;       /* rows read so far: c->post[0..df) */
  int called, abandoned, oom;
} post_req;

/* xQueryPhrase's callback: one row containing the term. */
static int post_row(const Fts5ExtensionApi *api, Fts5Context *fc, void *user)
{
  post_req *r = user;
  dq_bm25_cache *c = r->c;
  if (r->stop_common && (int64_t)(r->df + 1) * 2 > c->n_rows) {
    r->abandoned = 1;
    return SQLITE_DONE;
  }
  Fts5PhraseIter it;
  int col = -1, off = 0;
  double f = 0;
  int rc = api->xPhraseFirst(fc, 0, &it, &col, &off);
  if (rc != SQLITE_OK) return rc;
  for (; col >= 0; api->xPhraseNext(fc, &it, &col, &off)) f += r->w[col == 1];
  if (r->df == c->cap_post) {
    size_t nc = c->cap_post ? c->cap_post * 2 : 4096;
    struct posting *np = dq_realloc(c->post, nc * sizeof *np);
    if (!np) { r->oom = 1; return SQLITE_NOMEM; }
    c->post = np;
    c->cap_post = nc;
  }
  c->post[r->df].id = api->xRowid(fc);
  c->post[r->df].f = f;
  r->df++;
  return SQLITE_OK;
}

/* docq_postings(chunks_fts, req): an FTS5 auxiliary function. Called on the
 * first row of `MATCH '"\x01term"'`, it walks every row of that one phrase
 * with xQueryPhrase and appends (chunk id, weighted frequency) to the
 * request, without a row of SQLite's VM per posting. */
static void postings_fn(const Fts5ExtensionApi *api, Fts5Context *fc, sqlite3_context *ctx, int nv, sqlite3_value **v)
{
  post_req *r = nv == 1 ? sqlite3_value_pointer(v[0], "docq_postings") : NULL;
  if (!r) {
    sqlite3_result_error(ctx, "docq_postings is internal to docq", -1);
    return;
  }
  if (r->called) return;
  r->called = 1;
  int rc = api->xQueryPhrase(fc, 0, r, post_row);
  if (rc != SQLITE_OK) sqlite3_result_error_code(ctx, rc);
}

int dq_bm25_register(fts5_api *api)
{
  return api->xCreateFunction(api, "docq_postings", NULL, postings_fn, NULL);
}

/* Add one term's contribution to every chunk containing it. The postings are
 * read once, counting the term's document frequency as they come; with
 * `stop_common`, a term found in more than half of the chunks is abandoned
 * there, remembered as common (*common = 1) and left for the second pass. */
static int score_term(dq_store *s, qterm *t, int stop_common)
{
  dq_bm25_cache *c = s->bm;
  if (t->n == 0) return 0; /* dq_terms emits none; an empty phrase would match nothing anyway */
  char expr[2 * BM25_TERM_BYTES + 4];
  size_t e = 0;
  expr[e++] = '"';
  expr[e++] = '\x01'; /* the tokenizer's literal-term mark (fts_tok.c) */
  for (size_t i = 0; i < t->n; i++) {
    if (t->t[i] == '"') expr[e++] = '"';
    expr[e++] = t->t[i];
  }
  expr[e++] = '"';
  sqlite3_stmt *st = dq_stmt(s, ST_TERM_POSTINGS);
  if (!st) return dq_err_code();
  post_req r = { c, { s->bm25_w[0], s->bm25_w[1] }, stop_common, 0, 0, 0, 0 };
  sqlite3_bind_pointer(st, 1, &r, "docq_postings", NULL);
  sqlite3_bind_text(st, 2, expr, (int)e, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int out = r.oom ? DOCQ_ENOMEM : rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : dq_sql_fail(s, rc, "read postings");
  dq_stmt_done(st);
  if (out) return out;
  size_t df = r.df;
  if (r.abandoned) {
    t->common = 1;
    if (dq_buf_put(&c->common, t->t, t->n) < 0 || dq_buf_putc(&c->common, 0) < 0) return DOCQ_ENOMEM;
    return 0;
  }
  df_put(c, t->t, t->n, (int64_t)df);
  double idf = log(((double)c->n_rows - (double)df + 0.5) / ((double)df + 0.5));
  if (idf <= 0) idf = 1e-6;
  idf *= t->mult;
  for (size_t i = 0; i < df; i++) {
    int64_t id = c->post[i].id;
    if (id < 0 || id >= c->cap)
      return dq_err_set(DOCQ_ECORRUPT, "index %s: chunk %lld has postings but no size", s->dir, (long long)id);
    double f = c->post[i].f, dl = c->dl[id] ? (double)c->dl[id] : c->avgdl;
    if (c->acc[id] == 0 && (out = touch(c, id)) < 0) return out; /* weights > 0: a hit adds > 0 */
    c->acc[id] += idf * f * (BM25_K1 + 1) / (f + BM25_K1 * (1 - BM25_B + BM25_B * dl / c->avgdl));
  }
  return 0;
}

/* Best k of the touched chunks into out (a min-heap of size k, then sorted),
 * and the accumulators cleared. Ties: the smaller chunk id first. */
static int better(const dq_scored *a, const dq_scored *b)
{
  return a->score > b->score || (a->score == b->score && a->chunk_id < b->chunk_id);
}

static size_t take_top(dq_bm25_cache *c, size_t k, dq_scored *out)
{
  size_t n = 0;
  for (size_t i = 0; i < c->n_touched; i++) {
    dq_scored x = { c->touched[i], c->acc[c->touched[i]] };
    c->acc[c->touched[i]] = 0;
    if (n < k) { /* sift up: out[0] is the worst kept */
      size_t j = n++;
      out[j] = x;
      while (j > 0 && better(&out[(j - 1) / 2], &out[j])) {
        dq_scored t = out[j]; out[j] = out[(j - 1) / 2]; out[(j - 1) / 2] = t;
        j = (j - 1) / 2;
      }
    } else if (better(&x, &out[0])) { /* replace the worst, sift down */
      out[0] = x;
      for (size_t j = 0;;) {
        size_t l = 2 * j + 1, r = l + 1, w = j;
        if (l < n && better(&out[w], &out[l])) w = l;
        if (r < n && better(&out[w], &out[r])) w = r;
        if (w == j) break;
        dq_scored t = out[j]; out[j] = out[w]; out[w] = t;
        j = w;
      }
    }
  }
  c->n_touched = 0;
  for (size_t i = 1; i < n; i++) /* best first */
    for (size_t j = i; j > 0 && better(&out[j], &out[j - 1]); j--) {
      dq_scored t = out[j]; out[j] = out[j - 1]; out[j - 1] = t;
    }
  return n;
}

int dq_store_set_bm25_weights(dq_store *s, double w_text, double w_head)
{
  DQ_ASSERT_ARG(s);
  if (!(isfinite(w_text) && w_text > 0 && isfinite(w_head) && w_head > 0))
    return dq_err_set(DOCQ_EINVAL, "BM25 column weights must be finite and > 0 (got %g, %g)", w_text, w_head);
  s->bm25_w[0] = w_text;
  s->bm25_w[1] = w_head;
  return 0;
}

int dq_store_bm25(dq_store *s, const char *query, size_t k, dq_scored *out, size_t *n_out)
{
  return dq_store_bm25_ex(s, query, NULL, k, out, n_out);
}

int dq_store_bm25_ex(dq_store *s, const char *query, int (*drop)(const char *t, size_t n), size_t k,
                     dq_scored *out, size_t *n_out)
{
  DQ_ASSERT_ARG(s && query && n_out && (out || k == 0));
  *n_out = 0;
  if (k == 0) return 0;
  char *clean = NULL;
  size_t cn = 0;
  int began = 0;
  qterms *q = dq_calloc(1, sizeof *q);
  if (!q) return DOCQ_ENOMEM;
  int rc = dq_utf8_repair(query, strlen(query), &clean, &cn, NULL);
  if (rc < 0) goto done;
  if ((rc = dq_terms(clean, cn, collect, q)) < 0) goto done;
  if (drop) { /* the terms the caller leaves out, unless that leaves none */
    size_t m = 0;
    for (size_t i = 0; i < q->n; i++) if (!drop(q->v[i].t, q->v[i].n)) q->v[m++] = q->v[i];
    if (m) q->n = m;
  }
  if ((rc = read_begin(s, &began)) < 0) goto done;
  if ((rc = cache_refresh(s)) < 0) goto done;
  dq_bm25_cache *c = s->bm;
  for (size_t i = 0; i < q->n; i++) q->v[i].common = known_common(c, &q->v[i]);
  /* Pass 1: the terms in at most half of the chunks; pass 2, only when
   * those matched fewer than k chunks: the common ones too. */
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && c->n_touched >= k) break;
    for (size_t i = 0; i < q->n; i++) {
      if (q->v[i].common != pass) continue;
      if (s->interrupt && *s->interrupt) {
        rc = dq_err_set(DOCQ_ECANCELED, "search interrupted");
        goto done;
      }
      if ((rc = score_term(s, &q->v[i], pass == 0)) < 0) goto done;
    }
  }
  *n_out = take_top(c, k, out);
done:
  read_end(s, began);
  if (rc < 0 && s->bm) { /* leave the accumulators clean */
    for (size_t i = 0; i < s->bm->n_touched; i++) s->bm->acc[s->bm->touched[i]] = 0;
    s->bm->n_touched = 0;
  }
  dq_free(clean);
  dq_free(q);
  return rc < 0 ? rc : 0;
}

/* ---- the formula, for re-scoring outside the store (retrieve/prf.c) ---- */

double dq_bm25_idf(int64_t n_rows, int64_t df)
{
  double idf = log(((double)n_rows - (double)df + 0.5) / ((double)df + 0.5));
  return idf <= 0 ? 1e-6 : idf;
}

double dq_bm25_term(double idf, double tf, double dl, double avgdl)
{
  return idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * dl / avgdl));
}

int dq_store_bm25_stats(dq_store *s, int64_t *n_rows, double *avgdl)
{
  int rc = cache_refresh(s);
  if (rc < 0) return rc;
  *n_rows = s->bm->n_rows;
  *avgdl = s->bm->avgdl;
  return 0;
}

int dq_store_term_df(dq_store *s, const char *term, size_t n, int64_t *df)
{
  int rc = cache_refresh(s);
  if (rc < 0) return rc;
  if (df_find(s->bm, term, n, df)) return 0;
  sqlite3_stmt *st = dq_stmt(s, ST_TERM_DF);
  if (!st) return dq_err_code();
  sqlite3_bind_text(st, 1, term, (int)n, SQLITE_STATIC);
  rc = sqlite3_step(st);
  *df = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : dq_sql_fail(s, rc, "term frequency");
  dq_stmt_done(st);
  if (rc == 0) df_put(s->bm, term, n, *df);
  return rc;
}
