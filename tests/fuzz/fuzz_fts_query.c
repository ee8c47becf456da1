/* Fuzz target: arbitrary bytes as a BM25 query. The input is fed both raw
 * (dq_store_bm25 repairs UTF-8 itself) and after dq_utf8_repair; neither may
 * ever fail, whatever FTS5 syntax it holds. Also checks the MATCH expression
 * the store builds: only double-quoted strings joined by " OR ", and the
 * hits are real chunks, best first, at most k. The same input as a mentions
 * query (dq_store_mentions): its expression only quoted strings joined by
 * " AND " or " + ", no error but DOCQ_EINVAL for a query without words, and
 * documents in order (most passages first, then by path).
 *
 * One index (a few documents, including operator words and CJK) is created
 * once per process in a temporary folder and removed at exit. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "indexer/normalize.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/err.h"
#include "util/mem.h"

#define FUZZ_MAX_INPUT 4096
#define K 10

static dq_store *g_store;
static char g_dir[64];

static void cleanup(void)
{
  dq_store_close(g_store);
  DIR *d = opendir(g_dir);
  if (!d) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(g_dir);
}

static void die(const char *what)
{
  fprintf(stderr, "fuzz_fts_query: %s: %d %s\n", what, dq_err_code(), dq_err_msg());
  abort();
}

static void init(void)
{
  snprintf(g_dir, sizeof g_dir, "/tmp/docq-fuzz-fts-XXXXXX");
  if (!mkdtemp(g_dir)) die("mkdtemp");
  if (dq_store_open(&g_store, g_dir, DQ_STORE_CREATE)) die("open");
  atexit(cleanup);
  static const char *docs[] = {
    "AND OR NOT NEAR are words here, with quotes \" and stars * and carets ^",
    "column text: chunks_fts rank MATCH bm25 (parentheses) {braces} -minus +plus",
    "滚滚长江东逝水，浪花淘尽英雄。カタカナ ひらがな 한국어",
    "café naïve Straße ǅemal İstanbul ½ ﬁ ㎏ emoji 😀",
    "plain english text about search engines and tokenizers",
  };
  if (dq_store_begin(g_store)) die("begin");
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
    char path[16];
    snprintf(path, sizeof path, "/d%zu", i);
    dq_chunk c = { .text = (char *)docs[i], .text_len = strlen(docs[i]), .section = "" };
    dq_doc_row row = { .path = path };
    if (dq_store_put_doc(g_store, &row, &c, 1, NULL)) die("put");
  }
  if (dq_store_commit(g_store)) die("commit");
}

/* The expression must be `"t" OR "t" ...` (all: `"t" AND "t" + "t" ...`)
 * with quotes doubled inside. */
static void check_expr(const char *e, int all)
{
  size_t i = 0, n = strlen(e);
  for (int first = 1; i < n; first = 0) {
    if (!first) {
      if (!all && strncmp(e + i, " OR ", 4) != 0) die("expression: missing OR");
      if (all && strncmp(e + i, " AND ", 5) != 0 && strncmp(e + i, " + ", 3) != 0) die("expression: missing AND or +");
      i += all && e[i + 1] == '+' ? 3 : all ? 5 : 4;
    }
    if (e[i++] != '"') die("expression: term not quoted");
    size_t len = 0;
    for (;;) {
      if (i >= n) die("expression: unterminated quote");
      if (e[i] == '"' && e[i + 1] == '"') { i += 2; len++; continue; }
      if (e[i] == '"') { i++; break; }
      i++;
      len++;
    }
    if (len == 0) die("expression: empty term");
  }
}

typedef struct seen { uint32_t passages; char path[16]; size_t n; } seen;

static int on_mention(void *ctx, const dq_doc_row *row, uint32_t passages, const uint32_t *lines, size_t n_lines)
{
  seen *p = ctx;
  if (passages == 0) die("mentions: a document without a passage");
  if (n_lines > passages) die("mentions: more line ranges than passages");
  for (size_t i = 0; i < n_lines; i++)
    if (lines[2 * i] > lines[2 * i + 1] || (i && lines[2 * i - 2] > lines[2 * i])) die("mentions: line ranges out of order");
  if (p->n && (passages > p->passages || (passages == p->passages && strcmp(row->path, p->path) <= 0)))
    die("mentions: out of order");
  p->passages = passages;
  snprintf(p->path, sizeof p->path, "%s", row->path);
  p->n++;
  return 0;
}

static void mentions(const char *q)
{
  char *expr = NULL;
  if (dq_fts_build_all_query(q, strlen(q), &expr)) die("build all-words query");
  if (expr) check_expr(expr, 1);
  seen p = { 0 };
  int rc = dq_store_mentions(g_store, q, on_mention, &p);
  if (rc && !(rc == DOCQ_EINVAL && !expr)) die("mentions");
  if (!rc && !expr) die("mentions: no error without words");
  dq_free(expr);
}

static void query(const char *q)
{
  dq_scored hits[K];
  size_t n = 0;
  if (dq_store_bm25(g_store, q, K, hits, &n)) die("bm25");
  if (n > K) die("too many hits");
  for (size_t i = 0; i < n; i++) {
    if (i && hits[i].score > hits[i - 1].score) die("hits not best first");
    dq_chunk_row c;
    if (dq_store_chunk(g_store, hits[i].chunk_id, &c)) die("hit is not a chunk");
    dq_chunk_row_clear(&c);
  }
  char *expr = NULL;
  if (dq_fts_build_query(q, strlen(q), 64, NULL, NULL, &expr)) die("build query");
  if (expr) check_expr(expr, 0);
  else if (n) die("hits without terms");
  dq_free(expr);
  mentions(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!g_store) init();
  if (size > FUZZ_MAX_INPUT) size = FUZZ_MAX_INPUT;
  char *raw = malloc(size + 1);
  if (!raw) return 0;
  memcpy(raw, data, size);
  raw[size] = 0;
  query(raw); /* up to the first NUL, possibly invalid UTF-8 */
  char *fixed = NULL;
  size_t fn = 0;
  if (dq_utf8_repair((const char *)data, size, &fixed, &fn, NULL) == 0) {
    for (size_t i = 0; i < fn; i++)
      if (!fixed[i]) fixed[i] = ' ';
    query(fixed);
    dq_free(fixed);
  }
  free(raw);
  return 0;
}
