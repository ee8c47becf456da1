/* Public API: docq_search and the docq_results it returns, on top of
 * dq_retrieve (src/retrieve). The results own the hit records; the docq_hit
 * array handed out borrows their strings, so getters stay valid until
 * docq_results_free. Also docq_mentions: the documents holding all of a
 * query's words, counted by the store (dq_store_mentions), with the same
 * filters as a search. */
#include <stddef.h>
#include <string.h>

#include "api/db_internal.h"
#include "assemble/assemble.h"
#include "indexer/normalize.h"
#include "retrieve/retrieve.h"
#include "util/err.h"
#include "util/mem.h"

struct docq_results {
  dq_hit_rec *recs;
  docq_hit *hits;
  size_t n;
};

DOCQ_API int docq_search_options_init(docq_search_options *opts, unsigned int version)
{
  DQ_ASSERT_ARG(opts);
  if (version != 1 && version != DOCQ_SEARCH_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_search_options version %u is not supported (this library: 1-%d)",
                      version, DOCQ_SEARCH_OPTIONS_VERSION);
  docq_search_options d = DOCQ_SEARCH_OPTIONS_INIT;
  d.version = version;
  /* a version-1 struct ends before `feedback` */
  memcpy(opts, &d, version == 1 ? offsetof(docq_search_options, feedback) : sizeof d);
  return 0;
}

static int check_version(const docq_search_options *so)
{
  if (so->version != 1 && so->version != DOCQ_SEARCH_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_search_options version %u is not supported (this library: 1-%d)",
                      so->version, DOCQ_SEARCH_OPTIONS_VERSION);
  return 0;
}

/* The document filters of so (NULL: none). */
static void filter_opts(const docq_search_options *so, dq_filter *f)
{
  memset(f, 0, sizeof *f);
  if (!so) return;
  f->prefix = so->path_prefix;
  f->glob = so->path_glob;
  f->tag = so->tag;
  f->after = so->after;
  f->before = so->before;
}

/* Stored paths are canonical: a relative or symlinked --path names the same
 * files as `docq index` and docq_remove read it. *canon (free it) is set as
 * f->prefix_dir when it differs from the prefix. */
static int filter_prefix_dir(dq_filter *f, char **canon)
{
  *canon = NULL;
  if (f->prefix && *f->prefix && !(*canon = dq_api_canonical_path(f->prefix))) return DOCQ_ENOMEM;
  if (*canon && strcmp(*canon, f->prefix) != 0) f->prefix_dir = *canon;
  return 0;
}

/* Check the options and translate them for dq_retrieve. */
static int query_opts(const docq_search_options *so, dq_query_opts *q, atomic_int *intr)
{
  docq_search_options d = DOCQ_SEARCH_OPTIONS_INIT;
  if (!so) so = &d;
  int rc = check_version(so);
  if (rc < 0) return rc;
  if ((int)so->mode < DOCQ_MODE_HYBRID || (int)so->mode > DOCQ_MODE_VECTOR)
    return dq_err_set(DOCQ_EINVAL, "search: unknown mode %d", (int)so->mode);
  if ((int)so->fusion < DOCQ_FUSION_DEFAULT || (int)so->fusion > DOCQ_FUSION_CONVEX)
    return dq_err_set(DOCQ_EINVAL, "search: unknown fusion %d", (int)so->fusion);
  if (so->bm25_weight > 1.0)
    return dq_err_set(DOCQ_EINVAL, "search: bm25_weight %g is above 1 (use 0..1, or < 0 for the default)", so->bm25_weight);
  if (so->k > 10000)
    return dq_err_set(DOCQ_EINVAL, "search: k = %u is too large (at most 10000)", so->k);
  memset(q, 0, sizeof *q);
  q->k = so->k ? so->k : 10;
  q->mode = so->mode == DOCQ_MODE_BM25 ? DQ_MODE_BM25 : so->mode == DOCQ_MODE_VECTOR ? DQ_MODE_VECTOR : DQ_MODE_HYBRID;
  q->fusion = so->fusion == DOCQ_FUSION_RRF ? DQ_FUSE_RRF : so->fusion == DOCQ_FUSION_CONVEX ? DQ_FUSE_CONVEX : 0;
  q->w_bm25 = so->bm25_weight;
  q->merge = so->merge_neighbors != 0;
  q->feedback = so->version >= 2 && !so->feedback ? -1 : 0; /* not in a version-1 struct */
  q->dedupe = 0.9;
  filter_opts(so, &q->filter);
  q->interrupt = intr;
  return 0;
}

DOCQ_API int docq_search(docq_results **out, docq_db *db, const char *query, const docq_search_options *opts)
{
  return dq_api_search(out, db, query, opts, 0);
}

int dq_api_search(docq_results **out, docq_db *db, const char *query, const docq_search_options *opts,
                  unsigned max_span_tokens)
{
  DQ_ASSERT_ARG(out);
  *out = NULL;
  DQ_ASSERT_ARG(db && db->store);
  DQ_ASSERT_ARG(query);
  dq_db_enter(db);
  dq_err_clear();
  dq_query_opts q;
  int rc = query_opts(opts, &q, &db->interrupted);
  if (rc < 0) return rc;
  q.max_span_tokens = max_span_tokens;
  docq_results *r = dq_calloc(1, sizeof *r);
  if (!r) return DOCQ_ENOMEM;
  char *canon = NULL;
  if ((rc = filter_prefix_dir(&q.filter, &canon)) < 0) goto done;
  /* Another process may re-encode the index with another embedder while
   * this runs (docq index --reembed): the search then meets vectors of the
   * new kind, and is run again with the embedder the index names now. */
  for (int attempt = 0;; attempt++) {
    if ((rc = dq_api_sync_embedder(db)) < 0) {
      if (db->embedder || q.mode != DQ_MODE_BM25) goto done;
      rc = 0; /* the index's model is missing: a keyword search needs none */
      dq_err_clear();
    }
    rc = dq_retrieve(db->store, db->embedder, query, &q, &r->recs, &r->n);
    if (rc != DOCQ_EMISMATCH || attempt == 2 || !dq_api_embedder_stale(db)) break;
  }
  if (rc < 0) goto done;
  if (!(r->hits = dq_calloc(r->n ? r->n : 1, sizeof *r->hits))) { rc = DOCQ_ENOMEM; goto done; }
  for (size_t i = 0; i < r->n; i++) {
    const dq_hit_rec *h = &r->recs[i];
    docq_hit *o = &r->hits[i];
    o->doc_id = h->doc_id;
    o->chunk_first = h->chunk_first;
    o->chunk_last = h->chunk_last;
    o->path = h->path;
    o->title = h->title;
    o->section = h->section;
    o->text = h->text;
    o->line_first = h->line_first;
    o->line_last = h->line_last;
    o->score = h->score;
    o->bm25_score = h->bm25;
    o->vector_score = h->vec;
    o->bm25_rank = h->bm25_rank;
    o->vector_rank = h->vec_rank;
    o->also_in = h->also_in;
    o->format = h->format == DQ_FMT_MARKDOWN ? "markdown" : h->format == DQ_FMT_HTML ? "html" : "text";
  }
  *out = r;
  r = NULL;
done:
  dq_free(canon);
  docq_results_free(r);
  return rc;
}

DOCQ_API size_t docq_results_count(const docq_results *r) { return r ? r->n : 0; }

int dq_api_hit_line(const docq_results *r, size_t i, size_t off, uint32_t *line)
{
  return r && i < r->n ? dq_hit_line_at(&r->recs[i], off, line) : -1;
}

DOCQ_API const docq_hit *docq_results_get(const docq_results *r, size_t i)
{
  return r && i < r->n ? &r->hits[i] : NULL;
}

DOCQ_API char *docq_hit_snippet(const docq_hit *h, const char *query, size_t max_bytes)
{
  if (!h || !h->text) return NULL;
  char *q = NULL, *out = NULL;
  size_t qn = 0;
  /* a caller's query may hold bytes that are not UTF-8; the terms want UTF-8 */
  if (query && dq_utf8_repair(query, strlen(query), &q, &qn, NULL) < 0) return NULL;
  int rc = dq_snippet(h->text, strlen(h->text), h->format && !strcmp(h->format, "markdown"), q, max_bytes, &out);
  dq_free(q);
  dq_err_clear();
  return rc < 0 ? NULL : out;
}

DOCQ_API void docq_results_free(docq_results *r)
{
  if (!r) return;
  dq_hits_free(r->recs, r->n);
  dq_free(r->hits);
  dq_free(r);
}

/* ---- mentions ------------------------------------------------------------------------ */

typedef struct mention_acc {
  const dq_filter *f;
  docq_mention_list *l;
  size_t cap;
} mention_acc;

/* Keep a document the store found if it passes the filters; the store gives
 * them in the list's order. */
static int mention_add(void *ctx, const dq_doc_row *row, uint32_t passages, const uint32_t *lines, size_t n_lines)
{
  mention_acc *a = ctx;
  if (!dq_filter_match(a->f, row)) return 0;
  docq_mention_list *l = a->l;
  if (l->n_docs == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 64;
    docq_mention *nd = dq_realloc(l->docs, nc * sizeof *nd);
    if (!nd) return DOCQ_ENOMEM;
    l->docs = nd;
    a->cap = nc;
  }
  docq_mention *m = &l->docs[l->n_docs];
  char *path = dq_strdup(row->path ? row->path : "");
  char *title = dq_strdup(row->title ? row->title : "");
  uint32_t *ln = n_lines ? dq_malloc(n_lines * 2 * sizeof *ln) : NULL;
  if (!path || !title || (n_lines && !ln)) { dq_free(path); dq_free(title); dq_free(ln); return DOCQ_ENOMEM; }
  if (n_lines) memcpy(ln, lines, n_lines * 2 * sizeof *ln);
  m->path = path;
  m->title = title;
  m->passages = passages;
  m->lines = ln;
  m->n_lines = n_lines;
  l->n_docs++;
  l->n_passages += passages;
  return 0;
}

DOCQ_API int docq_mentions(docq_mention_list **out, docq_db *db, const char *query,
                           const docq_search_options *opts)
{
  DQ_ASSERT_ARG(out);
  *out = NULL;
  DQ_ASSERT_ARG(db && db->store);
  DQ_ASSERT_ARG(query);
  dq_db_enter(db);
  dq_err_clear();
  int rc = opts ? check_version(opts) : 0;
  if (rc < 0) return rc;
  dq_filter f;
  filter_opts(opts, &f);
  char *canon = NULL;
  docq_mention_list *l = dq_calloc(1, sizeof *l);
  if (!l) return DOCQ_ENOMEM;
  mention_acc a = { &f, l, 0 };
  if ((rc = filter_prefix_dir(&f, &canon)) < 0) goto done;
  if ((rc = dq_store_mentions(db->store, query, mention_add, &a)) < 0) goto done;
  *out = l;
  l = NULL;
done:
  dq_free(canon);
  docq_mention_list_free(l);
  return rc;
}

DOCQ_API void docq_mention_list_free(docq_mention_list *list)
{
  if (!list) return;
  for (size_t i = 0; i < list->n_docs; i++) {
    dq_free((char *)list->docs[i].path);
    dq_free((char *)list->docs[i].title);
    dq_free((uint32_t *)list->docs[i].lines);
  }
  dq_free(list->docs);
  dq_free(list);
}
