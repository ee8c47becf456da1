/* The "docq" FTS5 tokenizer and the safe query builder.
 *
 * The tokenizer is dq_terms (NFKC + case fold, words by Unicode category, CJK
 * as overlapping bigrams) behind the FTS5 v1 tokenizer interface, so that
 * documents, queries and the embedder all see text the same way. Offsets
 * given to FTS5 are byte offsets into the text FTS5 passed in (dq_terms'
 * start/end), which keeps highlight()/snippet() aligned with chunks.text.
 *
 * The query builders turn plain user text into a MATCH expression that can
 * never be an FTS5 syntax error and never carries the user's operators: each
 * term is a double-quoted string ("" for a quote inside); the ranked search's
 * terms are OR-ed, the mentions query's AND-ed (its quoted parts phrases). */
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
  if (!text || n <= 0) return SQLITE_OK;
  /* A query string that starts with \x01 is one literal term, written by
   * store/bm25.c to read a term's postings: terms are already normalized and
   * stemmed, and stemming is not idempotent. User text never reaches MATCH
   * with a control character first: the query builder below quotes word
   * runs only. Otherwise documents and queries are tokenized alike. */
  if ((flags & FTS5_TOKENIZE_QUERY) && n > 1 && text[0] == '\x01')
    return xToken(fts_ctx, 0, text + 1, n - 1, 0, n);
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
  else if (dq_bm25_register(api) != SQLITE_OK)
    rc = dq_err_set(DOCQ_ERROR, "sqlite: cannot register docq's postings reader: %s", sqlite3_errmsg(db));
done:
  sqlite3_finalize(st);
  return rc;
}

/* ---- query builder ------------------------------------------------------- */

/* Each query word is written as the quoted *surface* text it came from, not
 * as its term: FTS5 runs the tokenizer over the quoted string itself, and
 * stemming is not idempotent ("commissioner" -> "commission" -> "commiss"),
 * so a quoted term would be stemmed a second time and match other words.
 * A maximal word run of the query tokenizes, on its own, to exactly the term
 * it gave in context (words are split on the raw code points before any
 * normalization; a CJK bigram's two characters give that bigram), so every
 * quoted string is one FTS5 token. */
typedef struct qb {
  const char *src; /* the repaired query; dq_terms offsets point into it */
  dq_buf out;
  dq_buf seen; /* terms already considered, each followed by a NUL */
  size_t n_terms, max_terms;
  dq_fts_keep_fn keep;
  void *keep_ctx;
} qb;

/* src[start..end) as one FTS5 string: double-quoted, a quote inside doubled. */
static void put_quoted(dq_buf *out, const char *src, size_t start, size_t end)
{
  dq_buf_putc(out, '"');
  for (size_t i = start; i < end; i++) {
    if (src[i] == '"') dq_buf_putc(out, '"');
    dq_buf_putc(out, src[i]);
  }
  dq_buf_putc(out, '"');
}

/* 1 when term was already kept, 0 when new, -1 when it was dropped. */
static int qb_seen(const qb *q, const char *term, size_t tn)
{
  for (size_t i = 0; i < q->seen.len;) {
    size_t l = strlen(q->seen.p + i + 1);
    if (l == tn && memcmp(q->seen.p + i + 1, term, tn) == 0) return q->seen.p[i] == 'k' ? 1 : -1;
    i += l + 2;
  }
  return 0;
}

static int qb_term(void *ctx, const char *term, size_t tn, size_t start, size_t end)
{
  qb *q = ctx;
  if (q->n_terms >= q->max_terms) return 1; /* enough: stop dq_terms */
  /* A repeated query word is kept repeated: FTS5's bm25 sums over the OR-ed
   * phrases, so repetition weights the words a long question stresses
   * (measured with FTS5 porter BM25 on cacm: 0.426 deduplicated, 0.461 not). */
  int keep = qb_seen(q, term, tn);
  if (keep == 0) {
    keep = q->keep ? q->keep(q->keep_ctx, term, tn) : 1;
    if (keep < 0) return keep;
    dq_buf_putc(&q->seen, keep ? 'k' : 'd');
    dq_buf_put(&q->seen, term, tn);
    dq_buf_putc(&q->seen, '\0');
    if (!keep) keep = -1;
  }
  if (keep > 0) {
    if (q->n_terms) dq_buf_puts(&q->out, " OR ");
    put_quoted(&q->out, q->src, start, end);
    q->n_terms++;
  }
  return q->out.oom || q->seen.oom ? DOCQ_ENOMEM : 0;
}

int dq_fts_build_query(const char *query, size_t n, size_t max_terms, dq_fts_keep_fn keep, void *keep_ctx, char **out)
{
  *out = NULL;
  qb q;
  memset(&q, 0, sizeof q);
  q.keep = keep;
  q.keep_ctx = keep_ctx;
  q.max_terms = max_terms;
  char *clean = NULL;
  size_t cn = 0;
  int rc = dq_utf8_repair(query ? query : "", query ? n : 0, &clean, &cn, NULL);
  if (rc < 0) goto done;
  q.src = clean;
  rc = dq_terms(clean, cn, qb_term, &q);
  if (rc < 0) goto done;
  rc = 0;
  if (q.n_terms) *out = dq_buf_detach(&q.out);
done:
  dq_free(clean);
  dq_buf_free(&q.out);
  dq_buf_free(&q.seen);
  return rc;
}

/* ---- all-words query (mentions) --------------------------------------------- */

/* Every word of the query must be in the row (FTS5's AND is per row, over
 * both columns: a passage's text and its heading count together); a part in
 * double quotes is a phrase, its words adjacent and in order within one
 * column. Each word is quoted as its surface text, as above; a phrase is
 * written with FTS5's "+" between its quoted words ("crash" + "recovery"),
 * so no user text other than one word's ever reaches the tokenizer as a
 * string. A quoted CJK run is its bigrams in a row: that run of characters. */
typedef struct aq {
  const char *src; /* the part being read; dq_terms offsets point into it */
  dq_buf out;
  size_t n_terms;  /* terms written so far (all parts) */
  int phrase;      /* the part is inside quotes */
  size_t part_terms; /* terms written of this part */
} aq;

static int aq_term(void *ctx, const char *term, size_t tn, size_t start, size_t end)
{
  (void)term;
  (void)tn;
  aq *q = ctx;
  if (q->n_terms) dq_buf_puts(&q->out, q->phrase && q->part_terms ? " + " : " AND ");
  put_quoted(&q->out, q->src, start, end);
  q->n_terms++;
  q->part_terms++;
  return q->out.oom ? DOCQ_ENOMEM : 0;
}

int dq_fts_build_all_query(const char *query, size_t n, char **out)
{
  *out = NULL;
  aq q;
  memset(&q, 0, sizeof q);
  char *clean = NULL;
  size_t cn = 0;
  int rc = dq_utf8_repair(query ? query : "", query ? n : 0, &clean, &cn, NULL);
  if (rc < 0) goto done;
  /* Split at the double quotes, parts alternating outside / inside; an
   * unbalanced quote's part runs to the end. A quote separates words in
   * dq_terms, so reading part by part gives the terms of the whole. */
  for (size_t pos = 0; pos <= cn; q.phrase = !q.phrase) {
    const char *e = memchr(clean + pos, '"', cn - pos);
    size_t end = e ? (size_t)(e - clean) : cn;
    q.src = clean + pos;
    q.part_terms = 0;
    if ((rc = dq_terms(q.src, end - pos, aq_term, &q)) < 0) goto done;
    pos = end + 1;
  }
  rc = 0;
  if (q.n_terms) *out = dq_buf_detach(&q.out);
done:
  dq_free(clean);
  dq_buf_free(&q.out);
  return rc;
}
