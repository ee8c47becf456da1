/* The "docq" FTS5 tokenizer and the safe query builder.
 *
 * The tokenizer is dq_terms (NFKC + case fold, words by Unicode category, CJK
 * as overlapping bigrams) behind the FTS5 v1 tokenizer interface, so that
 * documents, queries and the embedder all see text the same way. Offsets
 * given to FTS5 are byte offsets into the text FTS5 passed in (dq_terms'
 * start/end), which keeps highlight()/snippet() aligned with chunks.text.
 *
 * The query builder turns plain user text into a MATCH expression that can
 * never be an FTS5 syntax error and never carries operators: each term is a
 * double-quoted string ("" for a quote inside), terms are OR-ed. */
#include "store/store_int.h"

#include <limits.h>
#include <sqlite3.h>
#include <string.h>

#include "indexer/normalize.h"
#include "util/err.h"
#include "util/mem.h"

/* ---- tokenizer ------------------------------------------------------------ */

/* The tokenizer has no state: one static instance serves every table. */
static int tok_create(void *user, const char **argv, int argc, Fts5Tokenizer **out)
{
  (void)user;
  (void)argv;
  if (argc != 0) return SQLITE_ERROR; /* "docq" takes no options */
  static char instance;
  *out = (Fts5Tokenizer *)&instance;
  return SQLITE_OK;
}

static void tok_delete(Fts5Tokenizer *t) { (void)t; }

typedef struct tok_ctx {
  void *fts_ctx;
  int (*xToken)(void *, int, const char *, int, int, int);
} tok_ctx;

static int tok_emit(void *ctx, const char *term, size_t tn, size_t start, size_t end)
{
  tok_ctx *c = ctx;
  /* FTS5 passes at most INT_MAX bytes, so offsets fit; the term is <= 64 bytes. */
  return c->xToken(c->fts_ctx, 0, term, (int)tn, (int)start, (int)end);
}

static int tok_tokenize(Fts5Tokenizer *t, void *fts_ctx, int flags, const char *text, int n,
                        int (*xToken)(void *, int, const char *, int, int, int))
{
  (void)t;
  (void)flags; /* documents and queries are tokenized alike */
  if (!text || n <= 0) return SQLITE_OK;
  tok_ctx c = { fts_ctx, xToken };
  int rc = dq_terms(text, (size_t)n, tok_emit, &c);
  /* dq_terms returns either what xToken returned (an SQLite code >= 0) or
   * its own negative DOCQ_E* code (out of memory). */
  if (rc < 0) return rc == DOCQ_ENOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
  return rc;
}

int dq_fts_register(sqlite3 *db)
{
  fts5_api *api = NULL;
  sqlite3_stmt *st = NULL;
  int rc = 0;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK) {
    rc = dq_err_set(DOCQ_EUNSUPPORTED, "sqlite: FTS5 is not available: %s", sqlite3_errmsg(db));
    goto done;
  }
  sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
  sqlite3_step(st);
  if (!api || api->iVersion < 2) {
    rc = dq_err_set(DOCQ_EUNSUPPORTED, "sqlite: FTS5 API version 2 or later is needed");
    goto done;
  }
  static fts5_tokenizer tok = { tok_create, tok_delete, tok_tokenize };
  if (api->xCreateTokenizer(api, "docq", NULL, &tok, NULL) != SQLITE_OK)
    rc = dq_err_set(DOCQ_ERROR, "sqlite: cannot register the docq tokenizer: %s", sqlite3_errmsg(db));
done:
  sqlite3_finalize(st);
  return rc;
}

/* ---- query builder ------------------------------------------------------- */

typedef struct qb {
  dq_buf out;
  size_t n_terms, max_terms;
  /* Terms already written, as offsets into out (each "..." spans [a, b)). */
  size_t starts[256], ends[256];
  dq_fts_keep_fn keep;
  void *keep_ctx;
} qb;

/* 1 when the quoted form of term is already in the expression. */
static int qb_has(const qb *q, const char *quoted, size_t qn)
{
  for (size_t i = 0; i < q->n_terms; i++)
    if (q->ends[i] - q->starts[i] == qn && memcmp(q->out.p + q->starts[i], quoted, qn) == 0) return 1;
  return 0;
}

static int qb_add_quoted(qb *q, const char *term, size_t tn)
{
  if (q->n_terms >= q->max_terms) return 1; /* enough: stop dq_terms */
  dq_buf t = { 0 };
  dq_buf_putc(&t, '"');
  for (size_t i = 0; i < tn; i++) {
    if (term[i] == '"') dq_buf_putc(&t, '"');
    dq_buf_putc(&t, term[i]);
  }
  dq_buf_putc(&t, '"');
  if (t.oom) { dq_buf_free(&t); return DOCQ_ENOMEM; }
  /* A repeated query word is kept repeated: FTS5's bm25 sums over the OR-ed
   * phrases, so repetition weights the words a long question stresses
   * (measured with FTS5 porter BM25 on cacm: 0.426 deduplicated, 0.461 not). */
  int keep = 1;
  if (!qb_has(q, t.p, t.len) && q->keep && (keep = q->keep(q->keep_ctx, term, tn)) < 0) {
    dq_buf_free(&t);
    return keep;
  }
  if (keep) {
    if (q->n_terms) dq_buf_puts(&q->out, " OR ");
    size_t a = q->out.len;
    dq_buf_put(&q->out, t.p, t.len);
    q->starts[q->n_terms] = a;
    q->ends[q->n_terms] = q->out.len;
    q->n_terms++;
  }
  dq_buf_free(&t);
  return q->out.oom ? DOCQ_ENOMEM : 0;
}

static int qb_sub(void *ctx, const char *term, size_t tn, size_t start, size_t end)
{
  (void)start;
  (void)end;
  return qb_add_quoted(ctx, term, tn);
}

/* A first-pass term goes through dq_terms once more: FTS5 tokenizes the
 * quoted string again, and a term that does not map to itself (e.g. "½" ->
 * "1⁄2" -> "1", "2") would silently become a phrase. Adding the second-pass
 * terms instead keeps every quoted string a single token. */
static int qb_term(void *ctx, const char *term, size_t tn, size_t start, size_t end)
{
  (void)start;
  (void)end;
  qb *q = ctx;
  return dq_terms(term, tn, qb_sub, q);
}

int dq_fts_build_query(const char *query, size_t n, size_t max_terms, dq_fts_keep_fn keep, void *keep_ctx, char **out)
{
  *out = NULL;
  qb q;
  memset(&q, 0, sizeof q);
  q.keep = keep;
  q.keep_ctx = keep_ctx;
  q.max_terms = max_terms < 256 ? max_terms : 256;
  char *clean = NULL;
  size_t cn = 0;
  int rc = dq_utf8_repair(query ? query : "", query ? n : 0, &clean, &cn, NULL);
  if (rc < 0) goto done;
  rc = dq_terms(clean, cn, qb_term, &q);
  if (rc < 0) goto done;
  rc = 0;
  if (q.n_terms) *out = dq_buf_detach(&q.out);
done:
  dq_free(clean);
  dq_buf_free(&q.out);
  return rc;
}
