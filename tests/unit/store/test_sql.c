/* Tests for the store (src/store/): schema and manifest, documents and
 * chunks with the invariant check, FTS5 with hostile queries, CJK, Latin
 * diacritics and query words stemmed once, an index of an older tokenizer
 * rebuilt on a writable open, kNN against brute force, crash recovery of the
 * FAISS file (catch-up, missing, corrupt, killed writer), the writer lock and
 * a reader running beside a writer. Each test works in its own temporary
 * folder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "indexer/normalize.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/err.h"
#include "util/mem.h"

#include "index_sql.h"
#include "tmpdir.h"

#define DIM 16

typedef struct fixture {
  char dir[256];
} fixture;

static int setup(void **state)
{
  fixture *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/docq-store-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  /* the store creates the folder itself: start from a missing one */
  rmdir(f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  fixture *f = *state;
  dq_test_rm_dir(f->dir);
  free(f);
  return 0;
}

#define OK(expr) do { int rc_ = (expr); if (rc_ != 0) fail_msg("%s -> %d: %s", #expr, rc_, dq_err_msg()); } while (0)

/* Deterministic pseudo-random unit vectors (xorshift). */
static uint64_t rng = 88172645463325252ull;
static double rnd(void)
{
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}
static void unit_vec(float *v, unsigned dim)
{
  double n = 0;
  for (unsigned i = 0; i < dim; i++) { v[i] = (float)(rnd() * 2 - 1); n += v[i] * v[i]; }
  for (unsigned i = 0; i < dim; i++) v[i] = (float)(v[i] / sqrt(n));
}

static dq_store *open_new(fixture *f)
{
  dq_store *s = NULL;
  OK(dq_store_open(&s, f->dir, DQ_STORE_CREATE));
  dq_manifest m = { 0 };
  snprintf(m.embedder, sizeof m.embedder, "test-emb");
  m.dim = DIM;
  m.chunk_tokens = 256;
  OK(dq_store_set_manifest(s, &m));
  return s;
}

/* Put a document titled `title` whose chunks are the given texts under the
 * given heading paths (sections may be NULL: none); vectors random unless vecs. */
static int64_t put_titled(dq_store *s, const char *path, const char *title, const char *const *texts,
                          const char *const *sections, size_t n, float *vecs_out)
{
  dq_chunk *c = calloc(n ? n : 1, sizeof *c);
  float *v = calloc((n ? n : 1) * DIM, sizeof *v);
  for (size_t i = 0; i < n; i++) {
    c[i].ordinal = (uint32_t)i;
    c[i].text = (char *)texts[i];
    c[i].text_len = strlen(texts[i]);
    c[i].section = (char *)(sections ? sections[i] : "");
    c[i].line_first = c[i].line_last = (uint32_t)i + 1;
    unit_vec(v + i * DIM, DIM);
  }
  if (vecs_out) memcpy(vecs_out, v, n * DIM * sizeof *v);
  dq_doc_row row = { 0 };
  row.path = (char *)path;
  row.title = (char *)title;
  snprintf(row.hash, sizeof row.hash, "%064x", (unsigned)strlen(path));
  row.size = 100;
  OK(dq_store_begin(s));
  OK(dq_store_put_doc(s, &row, c, n, v));
  OK(dq_store_commit(s));
  free(c);
  free(v);
  return row.id;
}

/* Put a document titled "title" whose chunks are the given texts. */
static int64_t put(dq_store *s, const char *path, const char *const *texts, size_t n, float *vecs_out)
{
  return put_titled(s, path, "title", texts, NULL, n, vecs_out);
}

/* Put a document of one chunk. */
static int64_t put1(dq_store *s, const char *path, const char *text)
{
  return put(s, path, &text, 1, NULL);
}

static void remove_path(dq_store *s, const char *path)
{
  dq_doc_row r;
  OK(dq_store_doc_by_path(s, path, &r));
  OK(dq_store_begin(s));
  OK(dq_store_remove_doc(s, r.id));
  OK(dq_store_commit(s));
  dq_doc_row_clear(&r);
}

static size_t bm25(dq_store *s, const char *q, dq_scored *out, size_t k)
{
  size_t n = 99;
  int rc = dq_store_bm25(s, q, k, out, &n);
  if (rc) fail_msg("bm25 '%s' -> %d: %s", q, rc, dq_err_msg());
  return n;
}

/* The document id of chunk `cid`. */
static int64_t doc_of(dq_store *s, int64_t cid)
{
  dq_chunk_row r;
  OK(dq_store_chunk(s, cid, &r));
  int64_t d = r.doc_id;
  dq_chunk_row_clear(&r);
  return d;
}

/* BM25 for q finds one chunk of each of the documents docs[0..n), no other. */
static void expect_docs(dq_store *s, const char *q, const int64_t *docs, size_t n)
{
  dq_scored h[8];
  size_t got = bm25(s, q, h, 8);
  if (got != n) fail_msg("bm25 '%s': %zu hits, want %zu", q, got, n);
  for (size_t i = 0; i < n; i++) {
    int64_t d = doc_of(s, h[i].chunk_id);
    size_t j = 0, k = 0;
    while (j < n && docs[j] != d) j++;
    while (k < i && doc_of(s, h[k].chunk_id) != d) k++;
    if (j == n || k < i) fail_msg("bm25 '%s': hit %zu is document %lld", q, i, (long long)d);
  }
}

#define EXPECT_DOCS(s, q, ...) expect_docs(s, q, (const int64_t[]){ __VA_ARGS__ }, sizeof((const int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t))
#define EXPECT_NONE(s, q) expect_docs(s, q, NULL, 0)

/* The store holds this many documents, chunks and vectors. */
static void expect_counts(dq_store *s, uint64_t docs, uint64_t chunks, uint64_t vectors)
{
  dq_store_stats st;
  OK(dq_store_stats_get(s, &st));
  assert_int_equal(st.documents, docs);
  assert_int_equal(st.chunks, chunks);
  assert_int_equal(st.vectors, vectors);
}

/* The value of meta key `key` read with plain SQLite; "(none)" when absent. */
static void meta_raw(const char *dir, const char *key, char *out, size_t cap)
{
  assert_int_equal(dq_test_sql_value(dir, "SELECT value FROM meta WHERE key = ?1", key, out, cap), SQLITE_OK);
}

/* The current FAISS file name from meta, "" if none. */
static void faiss_file(const char *dir, char *out, size_t cap)
{
  char v[256];
  meta_raw(dir, "faiss_file", v, sizeof v);
  if (!strcmp(v, "(none)")) out[0] = 0;
  else snprintf(out, cap, "%s/%s", dir, v);
}

/* ---- schema, manifest ------------------------------------------------------------ */

static void test_store_sql__create_open_reopen(void **state)
{
  fixture *f = *state;
  dq_store *s = NULL;
  assert_int_equal(dq_store_open(&s, f->dir, 0), DOCQ_ENOTFOUND);
  assert_null(s);
  assert_int_equal(dq_store_open(&s, f->dir, DQ_STORE_READONLY), DOCQ_ENOTFOUND);
  OK(dq_store_open(&s, f->dir, DQ_STORE_CREATE));
  dq_manifest m;
  OK(dq_store_manifest(s, &m));
  assert_int_equal(m.format_version, DQ_STORE_FORMAT_VERSION);
  assert_int_equal(m.embedder[0], 0);
  assert_int_equal(m.dim, 0);
  /* chunks without vectors are fine before a manifest */
  dq_chunk c = { .text = "plain words", .text_len = 11, .section = "" };
  dq_doc_row row = { .path = "/a.txt" };
  OK(dq_store_begin(s));
  OK(dq_store_put_doc(s, &row, &c, 1, NULL));
  OK(dq_store_commit(s));
  OK(dq_store_check(s));
  dq_store_close(s);

  char p[512];
  struct stat st;
  snprintf(p, sizeof p, "%s/docq.sqlite", f->dir);
  assert_int_equal(stat(p, &st), 0);
  OK(dq_store_open(&s, f->dir, 0));
  dq_scored hits[4];
  assert_int_equal(bm25(s, "WORDS", hits, 4), 1);
  dq_manifest m2 = { 0 };
  snprintf(m2.embedder, sizeof m2.embedder, "e1");
  m2.dim = 8;
  OK(dq_store_set_manifest(s, &m2));
  dq_store_close(s);
  OK(dq_store_open(&s, f->dir, DQ_STORE_READONLY));
  OK(dq_store_manifest(s, &m));
  assert_string_equal(m.embedder, "e1");
  assert_int_equal(m.dim, 8);
  assert_string_equal(m.vec_kind, "IDMap2,Flat"); /* exact over f16, like the stored vectors */
  /* a read-only store refuses writes */
  assert_int_equal(dq_store_begin(s), DOCQ_EINVAL);
  assert_int_equal(dq_store_lock_writer(s), DOCQ_EINVAL);
  dq_store_close(s);
}

static void test_store_sql__format_version_mismatch(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  dq_store_close(s);
  char sql[128];
  snprintf(sql, sizeof sql, "UPDATE meta SET value = %d WHERE key = 'format_version'", DQ_STORE_FORMAT_VERSION + 1);
  assert_int_equal(dq_test_sql_exec(f->dir, sql), SQLITE_OK);
  assert_int_equal(dq_store_open(&s, f->dir, 0), DOCQ_EVERSION);
  assert_null(s);
  assert_non_null(strstr(dq_err_msg(), "newer docq"));
  assert_non_null(strstr(dq_err_msg(), f->dir));
  assert_int_equal(dq_test_sql_exec(f->dir, "UPDATE meta SET value = 0 WHERE key = 'format_version'"), SQLITE_OK);
  assert_int_equal(dq_store_open(&s, f->dir, DQ_STORE_READONLY), DOCQ_EVERSION);
  assert_non_null(strstr(dq_err_msg(), "docq index"));
}

static void test_store_sql__not_a_docq_index(void **state)
{
  fixture *f = *state;
  mkdir(f->dir, 0777);
  assert_int_equal(dq_test_sql_exec(f->dir, "CREATE TABLE foo(x)"), SQLITE_OK);
  dq_store *s = NULL;
  assert_int_equal(dq_store_open(&s, f->dir, DQ_STORE_CREATE), DOCQ_ECORRUPT);
}

static void test_store_sql__manifest_mismatch(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  dq_manifest m;
  OK(dq_store_manifest(s, &m));
  /* no vectors yet: the embedder may still change */
  dq_manifest other = m;
  snprintf(other.embedder, sizeof other.embedder, "other");
  OK(dq_store_set_manifest(s, &other));
  OK(dq_store_set_manifest(s, &m));
  const char *t[] = { "one chunk" };
  put(s, "/doc", t, 1, NULL);
  assert_int_equal(dq_store_set_manifest(s, &other), DOCQ_EMISMATCH);
  assert_non_null(strstr(dq_err_msg(), "test-emb"));
  other = m;
  other.dim = DIM * 2;
  assert_int_equal(dq_store_set_manifest(s, &other), DOCQ_EMISMATCH);
  /* same embedder, other chunker settings: recorded */
  other = m;
  other.chunk_tokens = 128;
  OK(dq_store_set_manifest(s, &other));
  dq_store_close(s);
  OK(dq_store_open(&s, f->dir, 0));
  OK(dq_store_manifest(s, &m));
  assert_int_equal(m.chunk_tokens, 128);
  assert_string_equal(m.embedder, "test-emb");
  OK(dq_store_check(s));
  dq_store_close(s);
}

/* ---- documents ---------------------------------------------------------------------- */

static int count_docs(void *ctx, const dq_doc_row *r)
{
  int *n = ctx;
  assert_non_null(r->path);
  (*n)++;
  return 0;
}

/* A callback that fails at its second row, as one whose allocation fails
 * does (api/db.c collect_id: DOCQ_ENOMEM), or stops there (1). */
static int fail_second(void *ctx, const dq_doc_row *r)
{
  int *n = ctx;
  (void)r;
  return ++n[0] == 2 ? n[1] : 0;
}

static void test_store_sql__put_replace_remove_rename(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *a[] = { "The quick brown fox", "jumps over the lazy dog", "and runs away" };
  float va[3 * DIM];
  int64_t id = put(s, "/notes/a.md", a, 3, va);
  const char *b[] = { "Another document about cats" };
  put(s, "/notes/b.md", b, 1, NULL);
  put(s, "/other/c.md", b, 1, NULL);
  OK(dq_store_check(s));

  dq_doc_row r;
  OK(dq_store_doc_by_path(s, "/notes/a.md", &r));
  assert_int_equal(r.id, id);
  assert_int_equal(r.n_chunks, 3);
  assert_string_equal(r.title, "title");
  dq_doc_row_clear(&r);
  assert_int_equal(dq_store_doc_by_path(s, "/nope", &r), DOCQ_ENOTFOUND);

  dq_chunk_row c;
  OK(dq_store_chunk_at(s, id, 1, &c));
  assert_string_equal(c.text, "jumps over the lazy dog");
  assert_int_equal(c.line_first, 2);
  float v[DIM];
  OK(dq_store_chunk_vector(s, c.id, DIM, v));
  for (int i = 0; i < DIM; i++) assert_true(fabsf(v[i] - va[DIM + i]) < 1e-3f); /* f16 precision */
  dq_chunk_row_clear(&c);

  int n = 0;
  OK(dq_store_docs(s, "/notes/", count_docs, &n));
  assert_int_equal(n, 2);
  n = 0;
  OK(dq_store_docs(s, NULL, count_docs, &n));
  assert_int_equal(n, 3);
  /* a callback's error is the listing's: docq_remove of a folder whose
   * listing ran out of memory removed what it had and reported success */
  int fs[2] = {0, DOCQ_ENOMEM};
  assert_int_equal(dq_store_docs(s, NULL, fail_second, fs), DOCQ_ENOMEM);
  assert_int_equal(fs[0], 2);
  int stop[2] = {0, 1}; /* a stop is no error */
  OK(dq_store_docs(s, NULL, fail_second, stop));
  assert_int_equal(stop[0], 2);

  /* replace: the old text disappears from FTS, the new one is found */
  dq_scored h[8];
  assert_int_equal(bm25(s, "lazy", h, 8), 1);
  const char *a2[] = { "A completely new text about zebras" };
  int64_t id2 = put(s, "/notes/a.md", a2, 1, NULL);
  assert_true(id2 != id);
  assert_int_equal(bm25(s, "lazy", h, 8), 0);
  assert_int_equal(bm25(s, "zebras", h, 8), 1);
  assert_int_equal(doc_of(s, h[0].chunk_id), id2);
  OK(dq_store_check(s));

  /* rename and touch keep chunks and vectors */
  dq_doc_row to = { .path = "/moved/a.md", .title = "title", .mtime = 42, .mtime_ns = 5 };
  OK(dq_store_rename_doc(s, id2, &to));
  to.path = "/notes/b.md";
  assert_int_equal(dq_store_rename_doc(s, id2, &to), DOCQ_EINVAL);
  OK(dq_store_touch_doc(s, id2, 77, 123456789, 1234));
  OK(dq_store_doc_by_path(s, "/moved/a.md", &r));
  assert_int_equal(r.id, id2);
  assert_int_equal(r.mtime, 77);
  assert_int_equal(r.size, 1234);
  dq_doc_row_clear(&r);
  int64_t ns = 0;
  OK(dq_store_doc_mtime_ns(s, id2, &ns));
  assert_int_equal(ns, 123456789);
  assert_int_equal(bm25(s, "zebras", h, 8), 1);

  /* remove */
  remove_path(s, "/moved/a.md");
  assert_int_equal(bm25(s, "zebras", h, 8), 0);
  assert_int_equal(dq_store_doc_by_id(s, id2, &r), DOCQ_ENOTFOUND);
  OK(dq_store_begin(s));
  assert_int_equal(dq_store_remove_doc(s, id2), DOCQ_ENOTFOUND);
  OK(dq_store_rollback(s));
  /* a rolled-back put leaves nothing */
  OK(dq_store_begin(s));
  dq_chunk ch = { .text = "rolled back words", .text_len = 17, .section = "" };
  dq_doc_row row = { .path = "/rb" };
  float rv[DIM];
  unit_vec(rv, DIM);
  OK(dq_store_put_doc(s, &row, &ch, 1, rv));
  OK(dq_store_rollback(s));
  assert_int_equal(bm25(s, "rolled", h, 8), 0);
  /* put outside a transaction is refused */
  assert_int_equal(dq_store_put_doc(s, &row, &ch, 1, rv), DOCQ_EINVAL);
  OK(dq_store_check(s));

  dq_store_stats st;
  OK(dq_store_stats_get(s, &st));
  assert_int_equal(st.documents, 2);
  assert_int_equal(st.chunks, 2);
  assert_int_equal(st.vectors, 2);
  assert_true(st.disk_bytes > 0);
  OK(dq_store_set_last_run(s, 1700000000));
  OK(dq_store_stats_get(s, &st));
  assert_int_equal(st.last_run, 1700000000);
  dq_store_close(s);
}

/* File names are raw bytes: one starting with 0xFF (Latin-1 'ÿ', any
 * invalid UTF-8) is under its folder like any other, and a prefix of 0xFF
 * bytes still lists what follows it. */
static void test_store_sql__docs_under_prefix_any_bytes(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  put1(s, "/notes/\xff" "file.txt", "walruses");
  put1(s, "/notes/\xff\xff", "seals");
  put1(s, "/notes/plain.txt", "otters");
  put1(s, "/notes0/after.txt", "not under /notes/");
  put1(s, "/notes.txt", "not under /notes/ either");
  int n = 0;
  OK(dq_store_docs(s, "/notes/", count_docs, &n));
  assert_int_equal(n, 3);
  n = 0;
  OK(dq_store_docs(s, "/notes/\xff", count_docs, &n));
  assert_int_equal(n, 2);
  n = 0;
  OK(dq_store_docs(s, "/notes/\xff\xff", count_docs, &n));
  assert_int_equal(n, 1);
  dq_store_close(s);
}

/* A full disk while the FAISS file is written says so in the words SQLite's
 * full disk gets (the CLI gives its advice on them), not "No space left on
 * device" alone. The temporary name is a link to /dev/full (whose writes fail
 * with ENOSPC); the failed save removes the link, not the device. */
static void test_store_sql__faiss_full_disk_message(void **state)
{
  fixture *f = *state;
  struct stat sb;
  if (stat("/dev/full", &sb) != 0) { print_message("no /dev/full: skipped\n"); return; }
  assert_int_equal(mkdir(f->dir, 0777), 0);
  dq_vec *v = NULL;
  OK(dq_vec_new(&v, "IDMap2,Flat", DIM));
  float x[256 * DIM];
  int64_t ids[256];
  for (int i = 0; i < 256; i++) { unit_vec(x + i * DIM, DIM); ids[i] = i + 1; } /* 16 KiB: more than a stdio buffer */
  OK(dq_vec_add(v, 256, x, ids));
  char tmp[512], dst[512];
  snprintf(tmp, sizeof tmp, "%s/vectors.faiss.tmp", f->dir);
  snprintf(dst, sizeof dst, "%s/vectors.faiss", f->dir);
  assert_int_equal(symlink("/dev/full", tmp), 0);
  uint64_t size = 0, sum = 0;
  assert_int_equal(dq_vec_save(v, tmp, dst, f->dir, &size, &sum), DOCQ_EIO);
  assert_non_null(strstr(dq_err_msg(), "no space left on the disk holding the index"));
  assert_non_null(strstr(dq_err_msg(), "search still works"));
  assert_int_equal(stat("/dev/full", &sb), 0);
  assert_int_equal(stat(dst, &sb), -1);
  dq_vec_free(v);
}

/* A rename gives the document what its new name gives: a title taken from
 * the file name changes, and with it the FTS head of every chunk, so the
 * old name's words no longer match (a fresh index would not have them). */
static void test_store_sql__rename_retitles(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *texts[] = { "meeting notes about the budget", "second part of the notes" };
  int64_t id = put_titled(s, "/c/draft-zeppelin.txt", "draft-zeppelin", texts, NULL, 2, NULL);
  dq_scored h[8];
  assert_int_equal(bm25(s, "zeppelin", h, 8), 2);
  dq_doc_row to = { .path = "/c/final-review.txt", .title = "final-review", .mtime = 9, .mtime_ns = 1, .date = 9 };
  OK(dq_store_begin(s));
  OK(dq_store_rename_doc(s, id, &to));
  OK(dq_store_commit(s));
  assert_int_equal(bm25(s, "zeppelin", h, 8), 0);
  assert_int_equal(bm25(s, "review", h, 8), 2);
  dq_doc_row r;
  OK(dq_store_doc_by_id(s, id, &r));
  assert_string_equal(r.title, "final-review");
  assert_string_equal(r.path, "/c/final-review.txt");
  dq_doc_row_clear(&r);
  OK(dq_store_check(s));
  dq_store_close(s);
}

/* Vectors of DIM / 2 values, as another embedder gives. */
static int half_dim_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n, float *out)
{
  (void)ctx; (void)texts; (void)lens;
  for (size_t i = 0; i < n * (DIM / 2); i++) out[i] = 0.25f;
  return 0;
}

/* A reader whose manifest is from before another connection re-encoded the
 * index meets vectors of the new size: "changed meanwhile" (DOCQ_EMISMATCH,
 * which a search answers by running again), not damage (DOCQ_ECORRUPT);
 * a vector of a size no manifest names is damage still. */
static void test_store_sql__reencoded_meanwhile(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  put1(s, "/c/a.md", "alpha beta gamma");
  dq_store *r = NULL;
  OK(dq_store_open(&r, f->dir, DQ_STORE_READONLY));
  float v[DIM];
  OK(dq_store_chunk_vector(r, 1, DIM, v));
  dq_manifest m;
  OK(dq_store_manifest(s, &m));
  snprintf(m.embedder, sizeof m.embedder, "test-emb-half");
  m.dim = DIM / 2;
  OK(dq_store_lock_writer(s));
  OK(dq_store_reembed(s, &m, half_dim_embed, NULL));
  assert_int_equal(dq_store_chunk_vector(r, 1, DIM, v), DOCQ_EMISMATCH);
  assert_non_null(strstr(dq_err_msg(), "changed meanwhile"));
  assert_int_equal(dq_store_vec_size_error(r, 1, 7, DIM), DOCQ_ECORRUPT);
  dq_store_close(r);
  dq_store_close(s);
}

static void test_store_sql__check_detects_violations(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *t[] = { "alpha beta", "gamma delta" };
  put(s, "/x", t, 2, NULL);
  OK(dq_store_check(s));
  dq_store_close(s);

  /* a vector row gone */
  assert_int_equal(dq_test_sql_exec(f->dir, "DELETE FROM vecs WHERE chunk_id = (SELECT min(chunk_id) FROM vecs)"), SQLITE_OK);
  OK(dq_store_open(&s, f->dir, 0));
  assert_int_equal(dq_store_check(s), DOCQ_ECORRUPT);
  assert_non_null(strstr(dq_err_msg(), "no vector"));
  dq_store_close(s);

  /* chunk text changed behind FTS's back: the integrity check sees it */
  dq_test_rm_dir(f->dir);
  s = open_new(f);
  put(s, "/x", t, 2, NULL);
  dq_store_close(s);
  assert_int_equal(dq_test_sql_exec(f->dir, "UPDATE chunks SET text = 'something else' WHERE ordinal = 0"), SQLITE_OK);
  OK(dq_store_open(&s, f->dir, 0));
  assert_int_equal(dq_store_check(s), DOCQ_ECORRUPT);
  assert_non_null(strstr(dq_err_msg(), "full-text"));
  dq_store_close(s);
  OK(dq_store_open(&s, f->dir, DQ_STORE_READONLY)); /* the read-only check sees it too */
  assert_int_equal(dq_store_check(s), DOCQ_ECORRUPT);
  assert_non_null(strstr(dq_err_msg(), "full-text"));
  dq_store_close(s);

  /* a chunk without its FTS row */
  dq_test_rm_dir(f->dir);
  s = open_new(f);
  put(s, "/x", t, 2, NULL);
  dq_store_close(s);
  assert_int_equal(dq_test_sql_exec(f->dir, "INSERT INTO chunks(doc_id, ordinal, text) VALUES(1, 2, 'sneaked in');"
                                    "UPDATE docs SET n_chunks = 3;"
                                    "INSERT INTO vecs SELECT max(id), 1, (SELECT v FROM vecs LIMIT 1) FROM chunks"), SQLITE_OK);
  OK(dq_store_open(&s, f->dir, DQ_STORE_READONLY));
  assert_int_equal(dq_store_check(s), DOCQ_ECORRUPT);
  assert_non_null(strstr(dq_err_msg(), "no full-text row"));
  dq_store_close(s);

  /* wrong chunk count on a document */
  dq_test_rm_dir(f->dir);
  s = open_new(f);
  put(s, "/x", t, 2, NULL);
  dq_store_close(s);
  assert_int_equal(dq_test_sql_exec(f->dir, "UPDATE docs SET n_chunks = 5"), SQLITE_OK);
  OK(dq_store_open(&s, f->dir, 0));
  assert_int_equal(dq_store_check(s), DOCQ_ECORRUPT);
  dq_store_close(s);
}

/* ---- full-text search ----------------------------------------------------------------- */

static void test_store_sql__fts_hostile_queries(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *d1[] = { "unbalanced quotes and operators: AND OR NOT near the column" };
  const char *d2[] = { "term col x a b c plain" };
  const char *d3[] = { "nothing matches here except zzz" };
  int64_t id1 = put(s, "/1", d1, 1, NULL);
  int64_t id2 = put(s, "/2", d2, 1, NULL);
  put(s, "/3", d3, 1, NULL);
  static const char *hostile[] = {
    "\"unbalanced", "AND OR NOT", "NEAR(a b)", "NEAR(a b, 2)", "col:term", "a* -b ^c", "(x", "x)", "\"\"", "\"",
    "''", "*", "-", "^", ":", "(", ")", "+", "{col}: x", "text:zzz", "chunks_fts:zzz", "rank:1", "AND", "OR", "NOT",
    "\"a\" AND \"b\"", "a OR", "OR a", "NOT x", "x NOT", "a AND (b OR", "\\", "%", "_", ";DROP TABLE chunks;--",
    "\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80 zzz", "中文", "\xff\xfe invalid", "\xC0\xAF", "",
    "   ", "a\"b\"c", "near/3", "NEAR", "x NEAR y", "x + y", "x^y", "\"x\" \"y\"", "col : x", "zzz*",
  };
  dq_scored h[8];
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) bm25(s, hostile[i], h, 8);

  /* meaning: operators are plain words, OR-ed */
  assert_int_equal(bm25(s, "\"unbalanced", h, 8), 1);
  assert_int_equal(h[0].chunk_id, id1);
  assert_int_equal(bm25(s, "AND OR NOT", h, 8), 1); /* the words themselves (case folded) */
  assert_int_equal(bm25(s, "NEAR(a b)", h, 8), 2);   /* near | a | b */
  assert_int_equal(bm25(s, "col:term", h, 8), 1);    /* col | term ("column" is no match) */
  assert_int_equal(h[0].chunk_id, id2);
  assert_int_equal(bm25(s, "a* -b ^c", h, 8), 1);    /* a | b | c, no prefix, no negation */
  assert_int_equal(h[0].chunk_id, id2);
  assert_int_equal(bm25(s, "zzz NOT zzz", h, 8), 2);  /* "not" is a word; NOT does not exclude */
  assert_int_equal(bm25(s, "zzz*", h, 8), 1);
  assert_int_equal(bm25(s, "zz*", h, 8), 0);          /* no prefix queries */
  assert_int_equal(bm25(s, "text:zzz", h, 8), 1);     /* no column filter */
  /* no terms: no results, no error */
  assert_int_equal(bm25(s, "\"\"", h, 8), 0);
  assert_int_equal(bm25(s, "", h, 8), 0);
  assert_int_equal(bm25(s, "(", h, 8), 0);
  assert_int_equal(bm25(s, "\xF0\x9F\x98\x80", h, 8), 0);
  /* best first, k respected */
  assert_int_equal(bm25(s, "x zzz plain", h, 1), 1);
  size_t n = bm25(s, "plain col x zzz", h, 8);
  assert_int_equal(n, 2);
  assert_int_equal(h[0].chunk_id, id2);
  assert_true(h[0].score >= h[1].score);
  dq_store_close(s);
}

static void test_store_sql__fts_common_terms(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *common[] = { "the common word" };
  const char *rare[] = { "the common word and a rare one" };
  for (int i = 0; i < 8; i++) {
    char p[16];
    snprintf(p, sizeof p, "/c%d", i);
    put(s, p, common, 1, NULL);
  }
  int64_t r = put(s, "/rare", rare, 1, NULL);
  dq_scored h[8];
  /* "the" is in every chunk: skipped while "rare" finds k hits ... */
  assert_int_equal(bm25(s, "the rare", h, 1), 1);
  assert_int_equal(doc_of(s, h[0].chunk_id), r);
  /* ... but used when it does not, so the answer is the full query's */
  assert_int_equal(bm25(s, "the rare", h, 5), 5);
  assert_int_equal(doc_of(s, h[0].chunk_id), r);
  assert_int_equal(bm25(s, "the", h, 8), 8);
  dq_store_close(s);
}

/* dq_store_term_df counts the chunks holding a term (in either column), the
 * same whether it was seen by a BM25 query, looked up before, or neither;
 * and it follows writes (its cache is emptied when the index changes). */
static void test_store_sql__term_df_follows_writes(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  put1(s, "/a", "glacier moraine");
  put1(s, "/b", "glacier harbor");
  put1(s, "/c", "harbor only");
  int64_t df = -1;
  OK(dq_store_term_df(s, "glacier", 7, &df)); /* not seen yet: counted by FTS5 */
  assert_int_equal(df, 2);
  OK(dq_store_term_df(s, "glacier", 7, &df)); /* again: remembered */
  assert_int_equal(df, 2);
  dq_scored h[4];
  assert_int_equal(bm25(s, "harbor", h, 4), 2); /* counted while scoring */
  OK(dq_store_term_df(s, "harbor", 6, &df));
  assert_int_equal(df, 2);
  OK(dq_store_term_df(s, "absent", 6, &df));
  assert_int_equal(df, 0);
  put1(s, "/d", "glacier glacier");
  OK(dq_store_term_df(s, "glacier", 7, &df));
  assert_int_equal(df, 3);
  remove_path(s, "/b");
  OK(dq_store_term_df(s, "glacier", 7, &df));
  assert_int_equal(df, 2);
  OK(dq_store_term_df(s, "harbor", 6, &df));
  assert_int_equal(df, 1);
  int64_t n_rows = 0;
  double avgdl = 0;
  OK(dq_store_bm25_stats(s, &n_rows, &avgdl));
  assert_int_equal(n_rows, 3);
  assert_true(avgdl > 0);
  dq_store_close(s);
}

/* dq_store_bm25 (scored outside FTS5) against FTS5's own bm25() ranking on
 * a random corpus: words of a Zipf-like vocabulary (the commonest in most
 * chunks, so the common-term fallback runs), chunks of varied length with
 * titles and heading paths of their own (the head column), queries with
 * repeated words, under several column weights; then the lengths cache must
 * follow writes made through this handle and through another one. */
static void same_ranking(dq_store *s, const char *q, size_t k)
{
  dq_scored a[64], b[64];
  size_t na = 0, nb = 0;
  OK(dq_store_bm25(s, q, k, a, &na));
  OK(dq_store_bm25_fts(s, q, k, b, &nb));
  assert_int_equal(na, nb);
  for (size_t i = 0; i < na; i++) {
    if (fabs(a[i].score - b[i].score) > 1e-9) fail_msg("'%s' hit %zu: %.12f vs FTS5 %.12f", q, i, a[i].score, b[i].score);
    int found = 0; /* ties may come in any order */
    for (size_t j = 0; j < nb; j++) found |= b[j].chunk_id == a[i].chunk_id && fabs(b[j].score - a[i].score) <= 1e-9;
    if (!found && i + 1 < na) fail_msg("'%s' hit %zu: chunk %lld not in FTS5's list", q, i, (long long)a[i].chunk_id);
  }
}

static void test_store_sql__bm25_matches_fts5(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  static const char *words[] = { "the", "of", "river", "stone", "bridge", "lantern", "harbor", "copper",
                                 "meadow", "signal", "orchard", "glacier", "timber", "violet", "quarry", "ember" };
  uint32_t x = 12345;
  char text[4096], title[64], section[64], path[32];
  for (int d = 0; d < 300; d++) {
    size_t len = 0, n_words = 5 + (size_t)(d * 7 % 120);
    for (size_t w = 0; w < n_words; w++) {
      x ^= x << 13; x ^= x >> 17; x ^= x << 5;
      size_t r = x % 1000, i = r < 500 ? 0 : r < 700 ? 1 : 2 + (r % 14); /* "the" in most chunks */
      len += (size_t)snprintf(text + len, sizeof text - len, "%s ", words[i]);
    }
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    snprintf(title, sizeof title, "%s %s", words[2 + x % 14], words[2 + (x >> 8) % 14]);
    snprintf(section, sizeof section, "%s > %s", d % 3 ? "" : words[2 + (x >> 16) % 14], words[2 + (x >> 20) % 14]);
    const char *t = text, *sec = d % 2 ? section : "";
    snprintf(path, sizeof path, "/r%d", d);
    put_titled(s, path, d % 5 ? title : "", &t, &sec, 1, NULL);
  }
  const char *queries[] = { "the", "the of", "river", "river river stone", "the glacier ember", "lantern of the harbor",
                            "copper meadow signal orchard timber violet quarry", "nothing matches this", "The RIVER" };
  const double weights[][2] = { { DQ_BM25_W_TEXT, DQ_BM25_W_HEAD }, { 1, 1 }, { 1, 3 }, { 0.7, 0.25 } };
  for (size_t w = 0; w < sizeof weights / sizeof weights[0]; w++) {
    OK(dq_store_set_bm25_weights(s, weights[w][0], weights[w][1]));
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
      same_ranking(s, queries[i], 10);
      same_ranking(s, queries[i], 64);
    }
  }
  OK(dq_store_set_bm25_weights(s, DQ_BM25_W_TEXT, DQ_BM25_W_HEAD));
  /* a reader's cached lengths follow the writer's commits (another
   * connection), and the writer's follow its own */
  dq_store *r = NULL;
  OK(dq_store_open(&r, f->dir, DQ_STORE_READONLY));
  dq_scored h[4];
  assert_int_equal(bm25(r, "zeppelin", h, 4), 0);
  same_ranking(r, "the river", 10);
  put1(s, "/new1", "zeppelin river");
  assert_int_equal(bm25(s, "zeppelin", h, 4), 1);
  assert_int_equal(bm25(r, "zeppelin", h, 4), 1);
  same_ranking(s, "zeppelin river", 10);
  same_ranking(r, "zeppelin the river", 10);
  put1(s, "/new2", "zeppelin zeppelin");
  assert_int_equal(bm25(r, "zeppelin", h, 4), 2);
  same_ranking(r, "zeppelin the river", 10);
  dq_store_close(r);
  dq_store_close(s);
}

/* The head column holds the document title and the chunk's heading path:
 * words found only there find the chunk; the title is not repeated when the
 * path starts with it; replacing a document re-indexes its head and removing
 * it leaves no trace (FTS5's integrity-check in dq_store_check). */
static void test_store_sql__fts_head_column(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *t1[] = { "Replace the wick every month.", "Trim it before lighting." };
  const char *sec1[] = { "Maintenance > Lamps", "" };
  int64_t a = put_titled(s, "/keeper.md", "Lighthouse keeping", t1, sec1, 2, NULL);
  const char *t2[] = { "Run make install." };
  const char *sec2[] = { "Guide > Install steps" };
  int64_t b = put_titled(s, "/guide.md", "Guide", t2, sec2, 1, NULL);
  dq_scored h[8];
  assert_int_equal(bm25(s, "lighthouse", h, 8), 2); /* the title: both chunks */
  assert_int_equal(doc_of(s, h[0].chunk_id), a);
  assert_int_equal(doc_of(s, h[1].chunk_id), a);
  assert_int_equal(bm25(s, "lamps", h, 8), 1); /* the heading path: the first chunk only */
  dq_chunk_row r;
  OK(dq_store_chunk(s, h[0].chunk_id, &r));
  assert_int_equal(r.doc_id, a);
  assert_int_equal(r.ordinal, 0);
  dq_chunk_row_clear(&r);
  EXPECT_DOCS(s, "maintenance", a);
  EXPECT_DOCS(s, "install", b);
  EXPECT_DOCS(s, "steps", b);
  char v[128];
  assert_int_equal(dq_test_sql_value(f->dir, "SELECT head FROM chunks_src WHERE doc_id = ?1 ORDER BY id LIMIT 1", "2", v, sizeof v), SQLITE_OK);
  assert_string_equal(v, "Guide > Install steps"); /* the title once */
  assert_int_equal(dq_test_sql_value(f->dir, "SELECT head FROM chunks_src WHERE doc_id = ?1 ORDER BY id LIMIT 1", "1", v, sizeof v), SQLITE_OK);
  assert_string_equal(v, "Lighthouse keeping\nMaintenance > Lamps");
  OK(dq_store_check(s));

  /* a new title replaces the old one in the index */
  put_titled(s, "/keeper.md", "Harbour lights", t1, NULL, 2, NULL);
  EXPECT_NONE(s, "lighthouse");
  EXPECT_NONE(s, "lamps");
  assert_int_equal(bm25(s, "harbour", h, 8), 2);
  OK(dq_store_check(s));
  remove_path(s, "/keeper.md");
  EXPECT_NONE(s, "harbour");
  EXPECT_NONE(s, "wick");
  OK(dq_store_check(s));
  dq_store_close(s);
  OK(dq_store_open(&s, f->dir, DQ_STORE_READONLY)); /* the reader's digest covers both columns */
  OK(dq_store_check(s));
  dq_store_close(s);
}

/* Column weights decide between a word in the head and the same word in the
 * text of a row as long; bad weights are refused. */
static void test_store_sql__bm25_head_weight(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *ta[] = { "alpha beta gamma delta" }, *tb[] = { "zephyr beta gamma delta" };
  int64_t a = put_titled(s, "/a", "zephyr", ta, NULL, 1, NULL);
  int64_t b = put_titled(s, "/b", "other", tb, NULL, 1, NULL);
  for (int i = 0; i < 4; i++) { /* more rows, so that "zephyr" has a positive idf */
    const char *t[] = { "filler words only here" };
    char path[16];
    snprintf(path, sizeof path, "/f%d", i);
    put_titled(s, path, "filler", t, NULL, 1, NULL);
  }
  dq_scored h[8], r[8];
  size_t n = 0;
  OK(dq_store_set_bm25_weights(s, 1, 4));
  assert_int_equal(bm25(s, "zephyr", h, 8), 2);
  assert_int_equal(doc_of(s, h[0].chunk_id), a);
  assert_true(h[0].score > h[1].score);
  OK(dq_store_bm25_fts(s, "zephyr", 8, r, &n));
  assert_int_equal(n, 2);
  assert_int_equal(doc_of(s, r[0].chunk_id), a);
  OK(dq_store_set_bm25_weights(s, 1, 0.25));
  assert_int_equal(bm25(s, "zephyr", h, 8), 2);
  assert_int_equal(doc_of(s, h[0].chunk_id), b);
  assert_true(h[0].score > h[1].score);
  OK(dq_store_bm25_fts(s, "zephyr", 8, r, &n));
  assert_int_equal(doc_of(s, r[0].chunk_id), b);
  OK(dq_store_set_bm25_weights(s, 1, 1)); /* equal weights, equal lengths: a tie */
  assert_int_equal(bm25(s, "zephyr", h, 8), 2);
  assert_true(fabs(h[0].score - h[1].score) < 1e-12);
  assert_int_equal(dq_store_set_bm25_weights(s, 1, 0), DOCQ_EINVAL);
  assert_int_equal(dq_store_set_bm25_weights(s, -1, 1), DOCQ_EINVAL);
  assert_int_equal(dq_store_set_bm25_weights(s, 1, NAN), DOCQ_EINVAL);
  assert_int_equal(dq_store_set_bm25_weights(s, INFINITY, 1), DOCQ_EINVAL);
  assert_int_equal(bm25(s, "zephyr", h, 8), 2); /* refused weights changed nothing */
  assert_true(fabs(h[0].score - h[1].score) < 1e-12);
  dq_store_close(s);
}

static void test_store_sql__fts_cjk_bigrams(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *zh[] = { "滚滚长江东逝水，浪花淘尽英雄。是非成败转头空，青山依旧在，几度夕阳红。" };
  const char *zh2[] = { "话说天下大势，分久必合，合久必分。" };
  const char *en[] = { "Vue components are reusable instances" };
  int64_t d1 = put(s, "/zh1", zh, 1, NULL);
  int64_t d2 = put(s, "/zh2", zh2, 1, NULL);
  put(s, "/en", en, 1, NULL);
  dq_scored h[8];
  assert_int_equal(bm25(s, "长江", h, 8), 1);
  assert_int_equal(doc_of(s, h[0].chunk_id), d1);
  assert_int_equal(bm25(s, "夕阳红", h, 8), 1);
  assert_int_equal(doc_of(s, h[0].chunk_id), d1);
  assert_int_equal(bm25(s, "天下大势", h, 8), 1);
  assert_int_equal(doc_of(s, h[0].chunk_id), d2);
  assert_int_equal(bm25(s, "英雄是谁", h, 8), 1); /* one matching bigram among three */
  assert_int_equal(bm25(s, "北京", h, 8), 0);
  /* full-width Latin is NFKC-folded: "ＶＵＥ" finds "Vue" */
  assert_int_equal(bm25(s, "\xEF\xBC\xB6\xEF\xBC\xB5\xEF\xBC\xA5", h, 8), 1);
  dq_store_close(s);
}

static void test_store_sql__fts_query_words_not_restemmed(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  /* Porter is not idempotent: commissioner -> commission -> commiss. The query
   * must match the word's own stem, not the stem of its stem. */
  int64_t a = put1(s, "/1", "the commissioner spoke");
  int64_t b = put1(s, "/2", "a commission was formed");
  int64_t c = put1(s, "/3", "it was commissioned");
  EXPECT_DOCS(s, "commissioner", a);
  EXPECT_DOCS(s, "Commissioner", a);
  EXPECT_DOCS(s, "commission", b, c);
  EXPECT_DOCS(s, "commissioned", b, c);
  dq_store_close(s);
}

/* Terms of a string, appended to a buffer separated by '\n'. */
typedef struct termbuf { char b[4096]; size_t n; int count; } termbuf;

static int add_term(void *ctx, const char *t, size_t n, size_t start, size_t end)
{
  (void)start; (void)end;
  termbuf *tb = ctx;
  assert_true(tb->n + n + 2 < sizeof tb->b);
  memcpy(tb->b + tb->n, t, n);
  tb->n += n;
  tb->b[tb->n++] = '\n';
  tb->b[tb->n] = 0;
  tb->count++;
  return 0;
}

static void test_store_sql__fts_query_strings_are_single_tokens(void **state)
{
  (void)state;
  /* FTS5 tokenizes each quoted string of the MATCH expression again: each must
   * give exactly one term, and together the query's own terms in order. */
  char long_word[101];
  memset(long_word, 'k', 100);
  long_word[100] = 0;
  char long_accented[2 * 45 + 1];
  for (int i = 0; i < 45; i++) memcpy(long_accented + 2 * i, "\xC3\xA9", 2);
  long_accented[90] = 0;
  const char *queries[] = {
    "commissioner", "Commissioners generalization", "running runner runs", "conditional relational",
    "G\xC3\xB3mez na\xC3\xAFve CAF\xC3\x89S \xEF\xAC\x81nding Stra\xC3\x9F" "e Go\xCC\x81mez",
    "don't x*y-z \"AND\" NEAR(a b) col:term", "hopefulness adjustable effective agreed",
    "\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0 \xCE\x91\xCE\xB8\xCE\xAE\xCE\xBD\xCE\xB1",
    "\xE6\xBB\x9A\xE6\xBB\x9A\xE9\x95\xBF\xE6\xB1\x9F vue\xE7\xBB\x84\xE4\xBB\xB6 \xE6\x88\x91",
    "fts5 2024 abc123 \xEF\xBC\xB6\xEF\xBC\xB5\xEF\xBC\xA5", long_word, long_accented,
    /* \x01 first in a quoted string makes it a literal term (bm25.c's
     * postings reader): a user's \x01 must never get there */
    "\x01" "commissioner \x01\x01" "runs",
  };
  for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
    termbuf want = { .n = 0 }, got = { .n = 0 };
    assert_int_equal(dq_terms(queries[q], strlen(queries[q]), add_term, &want), 0);
    char *e = NULL;
    OK(dq_fts_build_query(queries[q], strlen(queries[q]), 64, NULL, NULL, &e));
    assert_non_null(e);
    /* "t" OR "t" ... with quotes doubled inside */
    const char *p = e;
    for (int first = 1; *p; first = 0) {
      if (!first) {
        if (strncmp(p, " OR ", 4)) fail_msg("'%s': expression '%s' not OR-ed", queries[q], e);
        p += 4;
      }
      if (*p++ != '"') fail_msg("'%s': expression '%s' not quoted", queries[q], e);
      char str[512];
      size_t n = 0;
      for (;; p++) {
        if (!*p) fail_msg("'%s': unterminated quote in '%s'", queries[q], e);
        assert_true(n < sizeof str - 1);
        if (p[0] == '"' && p[1] == '"') { str[n++] = '"'; p++; continue; }
        if (*p == '"') { p++; break; }
        str[n++] = *p;
      }
      str[n] = 0;
      int before = got.count;
      assert_int_equal(dq_terms(str, n, add_term, &got), 0);
      if (got.count != before + 1)
        fail_msg("'%s': the quoted string \"%s\" gives %d tokens, not one", queries[q], str, got.count - before);
    }
    if (strcmp(want.b, got.b)) fail_msg("'%s': query terms\n%sbut the expression '%s' matches\n%s", queries[q], want.b, e, got.b);
    dq_free(e);
  }
}

static void test_store_sql__fts_query_quotes_surface_text(void **state)
{
  (void)state;
  /* each word as written in the query, quoted: FTS5 stems it once */
  static const char *cases[][2] = {
    { "Commissioner", "\"Commissioner\"" },
    { "the  Commissioners, runs!", "\"the\" OR \"Commissioners\" OR \"runs\"" },
    { "G\xC3\xB3mez na\xC3\xAFve", "\"G\xC3\xB3mez\" OR \"na\xC3\xAFve\"" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *e = NULL;
    OK(dq_fts_build_query(cases[i][0], strlen(cases[i][0]), 64, NULL, NULL, &e));
    assert_non_null(e);
    assert_string_equal(e, cases[i][1]);
    dq_free(e);
  }
}

/* The all-words query (mentions): words quoted as written and AND-ed, a
 * quoted part a phrase of "+"-joined words, an unbalanced quote to the end,
 * operators plain words, nothing without a word. */
static void test_store_sql__fts_all_query(void **state)
{
  (void)state;
  static const char *cases[][2] = {
    { "crash recovery", "\"crash\" AND \"recovery\"" },
    { "\"Crash Recovery\" log", "\"Crash\" + \"Recovery\" AND \"log\"" },
    { "log \"crash recovery", "\"log\" AND \"crash\" + \"recovery\"" }, /* unbalanced: to the end */
    { "\"a\" \"b c\" d\"e f\"", "\"a\" AND \"b\" + \"c\" AND \"d\" AND \"e\" + \"f\"" },
    { "NEAR(x, 2) OR y* -z ^w col:v", "\"NEAR\" AND \"x\" AND \"2\" AND \"OR\" AND \"y\" AND \"z\" AND \"w\" AND \"col\" AND \"v\"" },
    { "the the", "\"the\" AND \"the\"" },
    { "\"\xE4\xB8\x9C\xE4\xBA\xAC\xE5\xA4\xA7\xE5\xAD\xA6\"", /* a quoted CJK run: its bigrams in a row */
      "\"\xE4\xB8\x9C\xE4\xBA\xAC\" + \"\xE4\xBA\xAC\xE5\xA4\xA7\" + \"\xE5\xA4\xA7\xE5\xAD\xA6\"" },
    { "\x01" "commissioner", "\"commissioner\"" }, /* never a literal-term string (bm25.c) */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *e = NULL;
    OK(dq_fts_build_all_query(cases[i][0], strlen(cases[i][0]), &e));
    assert_non_null(e);
    assert_string_equal(e, cases[i][1]);
    dq_free(e);
  }
  static const char *wordless[] = { "", "   ", "!!!", "\"\"", "\"", "( ) * ^ : -", "\xF0\x9F\x98\x80" };
  for (size_t i = 0; i < sizeof wordless / sizeof wordless[0]; i++) {
    char *e = (char *)"x";
    OK(dq_fts_build_all_query(wordless[i], strlen(wordless[i]), &e));
    assert_null(e);
  }
}

typedef struct mention_rows { char path[8][32]; uint32_t n[8]; size_t count; } mention_rows;

static int collect_mention(void *ctx, const dq_doc_row *row, uint32_t passages, const uint32_t *lines, size_t n_lines)
{
  mention_rows *m = ctx;
  assert_true(m->count < 8);
  assert_true(n_lines <= passages);
  for (size_t i = 0; i < n_lines; i++) { /* each chunk's range, in file order */
    assert_true(lines[2 * i] <= lines[2 * i + 1]);
    if (i) assert_true(lines[2 * i - 2] <= lines[2 * i]);
  }
  snprintf(m->path[m->count], sizeof m->path[0], "%s", row->path);
  m->n[m->count++] = passages;
  return 0;
}

static mention_rows mentions(dq_store *s, const char *q)
{
  mention_rows m = { .count = 0 };
  int rc = dq_store_mentions(s, q, collect_mention, &m);
  if (rc) fail_msg("mentions '%s' -> %d: %s", q, rc, dq_err_msg());
  return m;
}

/* dq_store_mentions: documents with a chunk holding every word (text and
 * heading together), counted, most first then by path; phrases in order;
 * hostile text never an error; a query without words is DOCQ_EINVAL. */
static void test_store_sql__mentions(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *a[] = { "The crash ended the run.", "Recovery came later.", "After the crash the recovery was quick." };
  const char *b[] = { "Crash recovery is tested.", "A crash needs recovery time." };
  const char *c[] = { "Nothing crashed here." };
  const char *csec[] = { "Recovery" };
  put(s, "/b", b, 2, NULL);
  put(s, "/a", a, 3, NULL);
  put_titled(s, "/c", "", c, csec, 1, NULL);
  mention_rows m = mentions(s, "crash recovery");
  assert_int_equal(m.count, 3);
  assert_string_equal(m.path[0], "/b"); /* 2 passages, then 1 each by path */
  assert_int_equal(m.n[0], 2);
  assert_string_equal(m.path[1], "/a");
  assert_int_equal(m.n[1], 1);
  assert_string_equal(m.path[2], "/c"); /* "crashed" in the text, "Recovery" in the heading */
  m = mentions(s, "\"crash recovery\"");
  assert_int_equal(m.count, 1);
  assert_string_equal(m.path[0], "/b");
  assert_int_equal(m.n[0], 1);
  m = mentions(s, "\"recovery crash\"");
  assert_int_equal(m.count, 0);
  m = mentions(s, "the crash"); /* every word counts */
  assert_int_equal(m.count, 1);
  assert_string_equal(m.path[0], "/a");
  assert_int_equal(m.n[0], 2);
  m = mentions(s, "crash OR zzz");
  assert_int_equal(m.count, 0);
  static const char *hostile[] = { "NEAR(crash recovery)", "crash NOT recovery", "crash*", "text:crash", "\"crash",
                                   "crash\" AND (", "{text head}: crash", "^crash +recovery -x" };
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) mentions(s, hostile[i]);
  assert_int_equal(mentions(s, "^crash +recovery").count, 3);
  assert_int_equal(dq_store_mentions(s, "!!!", collect_mention, &m), DOCQ_EINVAL);
  assert_non_null(strstr(dq_err_msg(), "no words"));
  /* a long query is one expression too */
  char *many = malloc(8 * 5000 + 1);
  size_t n = 0;
  for (int i = 0; i < 5000; i++) n += (size_t)sprintf(many + n, i % 2 ? "w%d " : "\"w%d ", i);
  assert_int_equal(mentions(s, many).count, 0);
  free(many);
  dq_store_close(s);
}

static void test_store_sql__fts_latin_diacritics_folded(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  int64_t a = put1(s, "/1", "Se\xC3\xB1or G\xC3\xB3mez arrived");
  int64_t b = put1(s, "/2", "the gomez file is naive");
  int64_t c = put1(s, "/3", "\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0 and \xD0\x81\xD0\xBB\xD0\xBA\xD0\xB0"); /* Москва and Ёлка */
  /* "Gómez" is found by "gomez" and "gomez" by "Gómez", in any case */
  EXPECT_DOCS(s, "gomez", a, b);
  EXPECT_DOCS(s, "G\xC3\xB3mez", a, b);
  EXPECT_DOCS(s, "G\xC3\x93MEZ", a, b);
  EXPECT_DOCS(s, "senor", a);
  EXPECT_DOCS(s, "na\xC3\xAFve", b);
  EXPECT_NONE(s, "na\xC3\xAFvet\xC3\xA9"); /* another word */
  /* Cyrillic keeps its marks: ё is not е */
  EXPECT_DOCS(s, "\xD0\xBC\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0", c);
  EXPECT_DOCS(s, "\xD1\x91\xD0\xBB\xD0\xBA\xD0\xB0", c);
  EXPECT_NONE(s, "\xD0\xB5\xD0\xBB\xD0\xBA\xD0\xB0");
  dq_store_close(s);
}

/* Chunks whose full-text row matches the FTS5 expression, with plain SQLite. */
static int fts_count(const char *dir, const char *match)
{
  char v[32];
  assert_int_equal(dq_test_sql_value(dir, "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?1", match, v, sizeof v), SQLITE_OK);
  return atoi(v);
}

/* An index made with another segmentation: `stale_sql` (run with the
 * tokenizer registered) changes its meta and FTS rows; then `stale_hits`
 * chunks match "gomez". Read-only it is refused; writable, its full-text
 * index is rebuilt from the chunk text. */
static void tokenizer_migration(fixture *f, const char *stale_sql, int stale_hits)
{
  dq_store *s = open_new(f);
  char v[128];
  OK(dq_store_meta_get(s, "tokenizer", v, sizeof v));
  assert_string_equal(v, DQ_TERMS_VERSION);
  const char *t1[] = { "Se\xC3\xB1or G\xC3\xB3mez arrived", "caf\xC3\xA9 na\xC3\xAFve" };
  const char *t2[] = { "plain words" };
  int64_t a = put(s, "/a", t1, 2, NULL);
  int64_t b = put(s, "/b", t2, 1, NULL);
  dq_store_close(s);
  meta_raw(f->dir, "tokenizer", v, sizeof v);
  assert_string_equal(v, DQ_TERMS_VERSION);

  assert_int_equal(fts_count(f->dir, "gomez"), 1);
  assert_int_equal(dq_test_sql_exec(f->dir, stale_sql), SQLITE_OK);
  assert_int_equal(fts_count(f->dir, "gomez"), stale_hits);
  assert_int_equal(dq_store_open(&s, f->dir, DQ_STORE_READONLY), DOCQ_EVERSION);
  assert_null(s);
  assert_non_null(strstr(dq_err_msg(), "docq index"));
  meta_raw(f->dir, "tokenizer", v, sizeof v); /* the reader changed nothing */
  assert_string_not_equal(v, DQ_TERMS_VERSION);

  OK(dq_store_open(&s, f->dir, 0));
  OK(dq_store_meta_get(s, "tokenizer", v, sizeof v));
  assert_string_equal(v, DQ_TERMS_VERSION);
  EXPECT_DOCS(s, "gomez", a);
  EXPECT_DOCS(s, "cafe naive", a);
  EXPECT_DOCS(s, "words", b);
  OK(dq_store_check(s));
  dq_store_close(s);
  assert_int_equal(fts_count(f->dir, "gomez"), 1); /* committed */
  OK(dq_store_open(&s, f->dir, 0));
  dq_store_stats st;
  OK(dq_store_stats_get(s, &st));
  assert_int_equal(st.chunks, 3);
  assert_int_equal(st.vectors, 3);
  dq_store_close(s);
  meta_raw(f->dir, "tokenizer", v, sizeof v);
  assert_string_equal(v, DQ_TERMS_VERSION);
  OK(dq_store_open(&s, f->dir, DQ_STORE_READONLY)); /* migrated: readers welcome */
  EXPECT_DOCS(s, "G\xC3\xB3mez", a);
  OK(dq_store_check(s));
  dq_store_close(s);
}

static void test_store_sql__tokenizer_migration_old_version(void **state)
{
  /* made by docq-terms-1, with a full-text index that no longer matches the chunks */
  tokenizer_migration(*state, "UPDATE meta SET value = 'docq-terms-1' WHERE key = 'tokenizer';"
                              "INSERT INTO chunks_fts(chunks_fts) VALUES('delete-all');", 0);
}

static void test_store_sql__tokenizer_migration_no_version(void **state)
{
  /* made by a docq older than the key */
  tokenizer_migration(*state, "DELETE FROM meta WHERE key = 'tokenizer';"
                              "INSERT INTO chunks_fts(chunks_fts) VALUES('delete-all');", 0);
}

static void test_store_sql__tokenizer_migration_meta_only(void **state)
{
  /* only the meta row says another segmentation; the FTS rows are this one's */
  tokenizer_migration(*state, "UPDATE meta SET value = 'docq-terms-1' WHERE key = 'tokenizer'", 1);
}

/* An index of format 1 (text-only full-text table over chunks, as docq made
 * them before the head column; here also of an older segmentation): a
 * reader is refused and changes nothing; a writer rebuilds the full-text
 * index with both columns, and every chunk, vector and document stays. */
static void test_store_sql__format_1_migrated(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *t1[] = { "Se\xC3\xB1or G\xC3\xB3mez arrived", "the wick burns" };
  const char *s1[] = { "Arrivals", "Lamps > Wicks" };
  const char *t2[] = { "plain words" };
  int64_t a = put_titled(s, "/a.md", "Harbour log", t1, s1, 2, NULL);
  int64_t b = put_titled(s, "/b.txt", "b", t2, NULL, 1, NULL);
  dq_store_close(s);
  assert_int_equal(dq_test_sql_exec(f->dir, "DROP TABLE chunks_fts; DROP VIEW chunks_src;"
                                    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='id', tokenize='docq');"
                                    "INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild');"
                                    "UPDATE meta SET value = 1 WHERE key = 'format_version';"
                                    "UPDATE meta SET value = 'docq-terms-1' WHERE key = 'tokenizer';"), SQLITE_OK);
  assert_int_equal(fts_count(f->dir, "gomez"), 1);
  assert_int_equal(fts_count(f->dir, "harbour"), 0);

  assert_int_equal(dq_store_open(&s, f->dir, DQ_STORE_READONLY), DOCQ_EVERSION);
  assert_null(s);
  assert_non_null(strstr(dq_err_msg(), "docq index"));
  char v[128];
  meta_raw(f->dir, "format_version", v, sizeof v); /* the reader changed nothing */
  assert_string_equal(v, "1");

  OK(dq_store_open(&s, f->dir, 0));
  dq_manifest m;
  OK(dq_store_manifest(s, &m));
  assert_int_equal(m.format_version, DQ_STORE_FORMAT_VERSION);
  EXPECT_DOCS(s, "gomez", a);
  EXPECT_DOCS(s, "wick", a);
  EXPECT_DOCS(s, "words", b);
  dq_scored h[8];
  assert_int_equal(bm25(s, "harbour", h, 8), 2); /* the title, now in the head column: both chunks */
  assert_int_equal(doc_of(s, h[0].chunk_id), a);
  assert_int_equal(doc_of(s, h[1].chunk_id), a);
  assert_int_equal(bm25(s, "arrivals", h, 8), 1); /* the heading paths */
  assert_int_equal(bm25(s, "wicks", h, 8), 1);
  same_ranking(s, "harbour wick plain", 8);
  OK(dq_store_check(s));
  expect_counts(s, 2, 3, 3);
  dq_store_close(s);
  snprintf(v, sizeof v, "%d", DQ_STORE_FORMAT_VERSION);
  char got[128];
  meta_raw(f->dir, "format_version", got, sizeof got);
  assert_string_equal(got, v);
  meta_raw(f->dir, "tokenizer", got, sizeof got);
  assert_string_equal(got, DQ_TERMS_VERSION);
  assert_int_equal(fts_count(f->dir, "harbour"), 2); /* committed */
  OK(dq_store_open(&s, f->dir, DQ_STORE_READONLY)); /* migrated: readers welcome */
  assert_int_equal(bm25(s, "harbour", h, 8), 2);
  OK(dq_store_check(s));
  dq_store_close(s);
}

/* ---- vectors -------------------------------------------------------------------------------- */

/* The reference for IEEE binary16 (round to nearest even): the compiler's
 * _Float16 where it has one (GCC 12+, clang 15+ on x86-64), else the CPU's
 * F16C conversions (clang 14 has no _Float16 on x86-64). */
#if defined(__FLT16_MANT_DIG__)
static int ref_f16_available(void) { return 1; }
static uint16_t ref_f32_to_f16(float x)
{
  _Float16 h = (_Float16)x;
  uint16_t u;
  memcpy(&u, &h, 2);
  return u;
}
static float ref_f16_to_f32(uint16_t u)
{
  _Float16 h;
  memcpy(&h, &u, 2);
  return (float)h;
}
#elif defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
static int ref_f16_available(void)
{
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
__attribute__((target("f16c"))) static uint16_t ref_f32_to_f16(float x)
{
  return (uint16_t)_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
}
__attribute__((target("f16c"))) static float ref_f16_to_f32(uint16_t u) { return _cvtsh_ss(u); }
#else
static int ref_f16_available(void) { return 0; }
static uint16_t ref_f32_to_f16(float x) { (void)x; return 0; }
static float ref_f16_to_f32(uint16_t u) { (void)u; return 0; }
#endif

/* Round through f16 as the store does, for the brute-force reference. */
static float f16_round(float x) { return ref_f16_to_f32(ref_f32_to_f16(x)); }

static void knn_vs_brute_force(fixture *f, const char *kind)
{
  if (!ref_f16_available()) skip();
  dq_store *s = open_new(f);
  if (kind) {
    dq_manifest m;
    OK(dq_store_manifest(s, &m));
    snprintf(m.vec_kind, sizeof m.vec_kind, "%s", kind);
    snprintf(m.embedder, sizeof m.embedder, "other"); /* a new embedder resets the kind */
    OK(dq_store_set_manifest(s, &m));
    OK(dq_store_manifest(s, &m));
    assert_string_equal(m.vec_kind, kind);
  }
  enum { NDOC = 40, PER = 25, N = NDOC * PER };
  float *all = malloc(N * DIM * sizeof *all);
  int64_t *cid = malloc(N * sizeof *cid);
  const char *texts[PER];
  for (int i = 0; i < PER; i++) texts[i] = "filler text";
  for (int d = 0; d < NDOC; d++) {
    char path[32];
    snprintf(path, sizeof path, "/doc%d", d);
    int64_t id = put(s, path, texts, PER, all + (size_t)d * PER * DIM);
    for (int i = 0; i < PER; i++) {
      dq_chunk_row c;
      OK(dq_store_chunk_at(s, id, (uint32_t)i, &c));
      cid[d * PER + i] = c.id;
      dq_chunk_row_clear(&c);
    }
  }
  for (int q = 0; q < 20; q++) {
    float qv[DIM];
    unit_vec(qv, DIM);
    dq_scored h[10];
    size_t n;
    OK(dq_store_knn(s, qv, DIM, 10, h, &n));
    assert_int_equal(n, 10);
    /* brute force over the f16-rounded vectors */
    double best[10];
    int64_t bid[10];
    for (int j = 0; j < 10; j++) { best[j] = -1e9; bid[j] = -1; }
    for (int i = 0; i < N; i++) {
      double dot = 0;
      for (int j = 0; j < DIM; j++) dot += (double)f16_round(all[i * DIM + j]) * qv[j];
      int p = 10;
      while (p > 0 && dot > best[p - 1]) p--;
      if (p == 10) continue;
      memmove(best + p + 1, best + p, (size_t)(9 - p) * sizeof *best);
      memmove(bid + p + 1, bid + p, (size_t)(9 - p) * sizeof *bid);
      best[p] = dot;
      bid[p] = cid[i];
    }
    for (int j = 0; j < 10; j++) {
      assert_true(fabs(h[j].score - best[j]) < 1e-4);
      if (j == 0 || fabs(best[j] - best[j - 1]) > 1e-5) assert_int_equal(h[j].chunk_id, bid[j]);
    }
  }
  /* k larger than the index */
  float qv[DIM];
  unit_vec(qv, DIM);
  dq_scored *big = malloc((N + 10) * sizeof *big);
  size_t n;
  OK(dq_store_knn(s, qv, DIM, N + 10, big, &n));
  assert_int_equal(n, N);
  free(big);
  free(all);
  free(cid);
  OK(dq_store_check(s));
  dq_store_close(s);
}

static void test_store_sql__knn_matches_brute_force(void **state)
{
  knn_vs_brute_force(*state, NULL);
}

static void test_store_sql__knn_flat_matches_brute_force(void **state)
{
  knn_vs_brute_force(*state, "IDMap2,Flat");
}

static void test_store_sql__f16_matches_hardware(void **state)
{
  (void)state;
  /* The compiler's or the CPU's binary16 is the reference (ref_f16_*). Every
   * half value round-trips; floats round like the reference. */
  extern uint16_t dq_store_f32_to_f16(float f);
  extern float dq_store_f16_to_f32(uint16_t h);
  if (!ref_f16_available()) skip();
  for (uint32_t h = 0; h < 65536; h++) {
    uint16_t hh = (uint16_t)h;
    float want = ref_f16_to_f32(hh), got = dq_store_f16_to_f32(hh);
    if (isnan(want)) { assert_true(isnan(got)); continue; }
    assert_memory_equal(&want, &got, 4);
    assert_int_equal(dq_store_f32_to_f16(want), hh);
  }
  for (int i = 0; i < 200000; i++) {
    uint32_t bits = (uint32_t)(rnd() * 4294967295.0);
    float x;
    memcpy(&x, &bits, 4);
    if (isnan(x)) continue;
    assert_int_equal(dq_store_f32_to_f16(x), ref_f32_to_f16(x));
  }
}

/* ---- crash safety ------------------------------------------------------------------------------- */

/* The invariants hold (FAISS ids == chunk ids after catch-up included). */
static void assert_all_findable(dq_store *s)
{
  OK(dq_store_check(s));
}

/* 1 when kNN with a chunk's own vector returns that chunk first. */
static size_t knn_self(dq_store *s, int64_t cid)
{
  float v[DIM];
  OK(dq_store_chunk_vector(s, cid, DIM, v));
  dq_scored h[1];
  size_t n;
  OK(dq_store_knn(s, v, DIM, 1, h, &n));
  return n == 1 && h[0].chunk_id == cid;
}

static int64_t first_chunk(dq_store *s, const char *path)
{
  dq_doc_row r;
  OK(dq_store_doc_by_path(s, path, &r));
  dq_chunk_row c;
  OK(dq_store_chunk_at(s, r.id, 0, &c));
  int64_t id = c.id;
  dq_chunk_row_clear(&c);
  dq_doc_row_clear(&r);
  return id;
}

static void test_store_sql__catch_up_after_unsynced_writes(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *t[] = { "first", "second" };
  put(s, "/a", t, 2, NULL);
  const char *keep[] = { "kept" };
  put(s, "/keep", keep, 1, NULL);
  OK(dq_store_sync_vectors(s));
  char file1[512];
  faiss_file(f->dir, file1, sizeof file1);
  assert_int_equal(access(file1, R_OK), 0);
  /* Proof that open loads the file instead of rebuilding: change the stored
   * vector of /keep behind the store's back; the file still has the old one. */
  int64_t kid = first_chunk(s, "/keep");
  float kv[DIM];
  OK(dq_store_chunk_vector(s, kid, DIM, kv));
  /* committed after the file was written, never synced */
  put(s, "/b", t, 2, NULL);
  put(s, "/c", t, 2, NULL);
  remove_path(s, "/a");
  dq_store_close(s);
  char sql[128];
  snprintf(sql, sizeof sql, "UPDATE vecs SET v = (SELECT v FROM vecs WHERE chunk_id != %lld LIMIT 1) WHERE chunk_id = %lld",
           (long long)kid, (long long)kid);
  assert_int_equal(dq_test_sql_exec(f->dir, sql), SQLITE_OK);

  OK(dq_store_open(&s, f->dir, 0));
  dq_scored kh[1];
  size_t kn;
  OK(dq_store_knn(s, kv, DIM, 1, kh, &kn));
  assert_int_equal(kn, 1);
  assert_int_equal(kh[0].chunk_id, kid);
  assert_true(kh[0].score > 0.999);
  /* forget the file: the rebuild from SQLite makes both agree again */
  dq_store_close(s);
  assert_int_equal(dq_test_sql_exec(f->dir, "DELETE FROM meta WHERE key = 'faiss_file'"), SQLITE_OK);
  OK(dq_store_open(&s, f->dir, 0));
  dq_store_close(s);
  OK(dq_store_open(&s, f->dir, 0));
  assert_all_findable(s);
  assert_true(knn_self(s, first_chunk(s, "/b")));
  assert_true(knn_self(s, first_chunk(s, "/c")));
  OK(dq_store_sync_vectors(s));
  char file2[512];
  faiss_file(f->dir, file2, sizeof file2);
  assert_string_not_equal(file1, file2);
  assert_int_not_equal(access(file1, F_OK), 0); /* old file unlinked */
  assert_int_equal(access(file2, R_OK), 0);
  dq_store_close(s);
  OK(dq_store_open(&s, f->dir, DQ_STORE_READONLY));
  assert_all_findable(s);
  dq_store_close(s);
}

/* Saving the vectors with each allocation failing in turn: out of memory,
 * never an I/O error about a file named "" (the file names were built into
 * a buffer whose allocation failed, and "" passed as a name), and the save
 * done once memory is back. */
static void test_store_sql__sync_vectors_out_of_memory(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *t[] = { "first", "second" };
  put(s, "/a", t, 2, NULL);
  int rc = -1;
  for (long k = 0; k < 10000 && rc; k++) {
    dq_mem_fail_after(k);
    rc = dq_store_sync_vectors(s);
    dq_mem_fail_after(-1);
    if (rc && rc != DOCQ_ENOMEM) fail_msg("allocation %ld failing: %d %s", k, rc, dq_err_msg());
  }
  assert_int_equal(rc, 0);
  char file[512];
  faiss_file(f->dir, file, sizeof file);
  assert_int_equal(access(file, R_OK), 0);
  dq_store_close(s);
}

static void test_store_sql__killed_writer_loses_nothing_committed(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *t[] = { "before the crash" };
  put(s, "/a", t, 1, NULL);
  OK(dq_store_sync_vectors(s));
  dq_store_close(s);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dq_store *w = NULL;
    if (dq_store_open(&w, f->dir, 0)) _exit(1);
    const char *u[] = { "committed then killed" };
    put(w, "/b", u, 1, NULL);
    remove_path(w, "/a");
    /* an open transaction at the moment of the kill must vanish */
    dq_store_begin(w);
    dq_chunk c = { .text = "uncommitted words", .text_len = 17, .section = "" };
    dq_doc_row row = { .path = "/c" };
    float v[DIM];
    unit_vec(v, DIM);
    dq_store_put_doc(w, &row, &c, 1, v);
    raise(SIGKILL);
    _exit(2);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  OK(dq_store_open(&s, f->dir, 0));
  OK(dq_store_lock_writer(s)); /* the dead writer's lock is gone */
  dq_scored h[4];
  assert_int_equal(bm25(s, "killed", h, 4), 1);
  assert_int_equal(bm25(s, "uncommitted", h, 4), 0);
  assert_int_equal(bm25(s, "before", h, 4), 0);
  assert_true(knn_self(s, first_chunk(s, "/b")));
  OK(dq_store_check(s));
  dq_store_close(s);
}

static void test_store_sql__missing_faiss_file_rebuilt(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *t[] = { "one", "two", "three" };
  put(s, "/a", t, 3, NULL);
  put(s, "/b", t, 3, NULL);
  OK(dq_store_sync_vectors(s));
  dq_store_close(s);
  char file[512];
  faiss_file(f->dir, file, sizeof file);
  assert_int_equal(unlink(file), 0);
  OK(dq_store_open(&s, f->dir, DQ_STORE_READONLY)); /* a reader rebuilds in memory only */
  assert_all_findable(s);
  assert_true(knn_self(s, first_chunk(s, "/b")));
  dq_store_close(s);
  assert_int_not_equal(access(file, F_OK), 0);
  OK(dq_store_open(&s, f->dir, 0));
  OK(dq_store_sync_vectors(s)); /* the writer writes it again */
  dq_store_close(s);
  assert_int_equal(access(file, R_OK), 0);
}

static void test_store_sql__corrupt_faiss_file_rebuilt(void **state)
{
  fixture *f = *state;
  dq_store *s = open_new(f);
  const char *t[] = { "one", "two", "three" };
  put(s, "/a", t, 3, NULL);
  OK(dq_store_sync_vectors(s));
  dq_store_close(s);
  char file[512];
  faiss_file(f->dir, file, sizeof file);
  struct stat st;
  assert_int_equal(stat(file, &st), 0);
  /* truncated at several offsets, then garbage */
  off_t cuts[] = { 0, 4, 20, st.st_size / 2, st.st_size - 1 };
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    assert_int_equal(truncate(file, cuts[i]), 0);
    OK(dq_store_open(&s, f->dir, 0));
    assert_all_findable(s);
    assert_true(knn_self(s, first_chunk(s, "/a")));
    OK(dq_store_sync_vectors(s));
    dq_store_close(s);
    assert_int_equal(stat(file, &st), 0);
  }
  FILE *fp = fopen(file, "r+b");
  assert_non_null(fp);
  fseek(fp, 8, SEEK_SET);
  for (int i = 0; i < 64; i++) fputc(0xA5, fp);
  fclose(fp);
  OK(dq_store_open(&s, f->dir, 0));
  assert_all_findable(s);
  dq_store_close(s);
}

/* Commit 2100 one-chunk documents "/d0".. in one transaction: more than one
 * catch-up batch (CATCHUP_BATCH 2048) for a reader to add. */
static void put_2100(dq_store *w)
{
  OK(dq_store_begin(w));
  for (int i = 0; i < 2100; i++) {
    char p[32];
    snprintf(p, sizeof p, "/d%d", i);
    dq_chunk c = { .text = "x", .text_len = 1, .section = "" };
    dq_doc_row row = { .path = p };
    float v[DIM];
    unit_vec(v, DIM);
    OK(dq_store_put_doc(w, &row, &c, 1, v));
  }
  OK(dq_store_commit(w));
}

/* A kNN search on r cancelled by *flag (set), then the same search without it. */
static void knn_cancelled_then_done(dq_store *r, atomic_int *flag)
{
  float q[DIM];
  unit_vec(q, DIM);
  dq_scored h[3];
  size_t n;
  assert_int_equal(dq_store_knn(r, q, DIM, 3, h, &n), DOCQ_ECANCELED);
  *flag = 0;
  OK(dq_store_knn(r, q, DIM, 3, h, &n));
  assert_int_equal(n, 3);
}

static void test_store_sql__interrupt_stops_catch_up(void **state)
{
  fixture *f = *state;
  dq_store *w = open_new(f), *r = NULL;
  const char *t[] = { "x" };
  put(w, "/first", t, 1, NULL);
  OK(dq_store_open(&r, f->dir, DQ_STORE_READONLY));
  atomic_int flag = 1;
  dq_store_set_interrupt(r, &flag);
  put_2100(w);
  knn_cancelled_then_done(r, &flag); /* the second rebuilt from SQLite */
  OK(dq_store_check(r));
  assert_true(knn_self(r, first_chunk(r, "/d2050")));
  dq_store_close(r);
  dq_store_close(w);
}

/* Interrupted while its first kNN search loads the FAISS file and catches up:
 * the next search loads the file again (memory then differs from the file
 * only by newer vectors) instead of rebuilding everything from SQLite. */
static void test_store_sql__interrupted_load_loads_again(void **state)
{
  fixture *f = *state;
  dq_store *w = open_new(f), *r = NULL;
  const char *t[] = { "x" };
  put(w, "/first", t, 1, NULL);
  OK(dq_store_sync_vectors(w));
  put_2100(w);
  OK(dq_store_open(&r, f->dir, DQ_STORE_READONLY));
  atomic_int flag = 1;
  dq_store_set_interrupt(r, &flag);
  knn_cancelled_then_done(r, &flag);
  assert_int_equal(r->vec_dirty, 0); /* the file, caught up; a rebuild would differ from it */
  OK(dq_store_check(r));
  assert_true(knn_self(r, first_chunk(r, "/first")));
  dq_store_close(r);
  dq_store_close(w);
}

/* ---- concurrency ----------------------------------------------------------------------------------- */

static void test_store_sql__second_writer_busy(void **state)
{
  fixture *f = *state;
  dq_store *a = open_new(f), *b = NULL;
  OK(dq_store_open(&b, f->dir, 0));
  /* open_new took the lock (set_manifest writes); flock is per open file
   * description, so a second open in this process conflicts like a process would */
  assert_int_equal(dq_store_lock_writer(b), DOCQ_EBUSY);
  char want[64];
  snprintf(want, sizeof want, "(pid %ld)", (long)getpid());
  assert_non_null(strstr(dq_err_msg(), want));
  assert_non_null(strstr(dq_err_msg(), f->dir));
  assert_int_equal(dq_store_begin(b), DOCQ_EBUSY);
  assert_int_equal(dq_store_sync_vectors(b), DOCQ_EBUSY);
  /* reading still works */
  dq_scored h[2];
  assert_int_equal(bm25(b, "anything", h, 2), 0);
  dq_store_close(a);
  OK(dq_store_lock_writer(b));
  dq_store_close(b);

  /* another process */
  OK(dq_store_open(&a, f->dir, 0));
  OK(dq_store_lock_writer(a));
  pid_t pid = fork();
  if (pid == 0) {
    dq_store *c = NULL;
    if (dq_store_open(&c, f->dir, 0)) _exit(3);
    int rc = dq_store_lock_writer(c);
    dq_store_close(c);
    _exit(rc == DOCQ_EBUSY ? 0 : 4);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  dq_store_close(a);
}

static void test_store_sql__reader_beside_writer(void **state)
{
  fixture *f = *state;
  dq_store *w = open_new(f), *r = NULL;
  const char *t1[] = { "apples and pears" };
  put(w, "/1", t1, 1, NULL);
  OK(dq_store_sync_vectors(w));
  const char *t2[] = { "bananas unsynced" };
  put(w, "/2", t2, 1, NULL);
  OK(dq_store_open(&r, f->dir, DQ_STORE_READONLY));
  dq_scored h[4];
  assert_int_equal(bm25(r, "bananas", h, 4), 1);
  assert_true(knn_self(r, first_chunk(r, "/2")));
  /* the writer goes on; the reader sees the new commits */
  const char *t3[] = { "cherries later" };
  put(w, "/3", t3, 1, NULL);
  assert_int_equal(bm25(r, "cherries", h, 4), 1);
  assert_true(knn_self(r, first_chunk(r, "/3")));
  /* a removal by the writer: the reader's kNN filters the dead chunk */
  int64_t gone = first_chunk(r, "/1");
  float v[DIM];
  OK(dq_store_chunk_vector(r, gone, DIM, v));
  remove_path(w, "/1");
  size_t n;
  OK(dq_store_knn(r, v, DIM, 3, h, &n));
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) assert_int_not_equal(h[i].chunk_id, gone);
  OK(dq_store_sync_vectors(w));
  OK(dq_store_check(w));
  dq_store_close(w);
  OK(dq_store_knn(r, v, DIM, 3, h, &n));
  assert_int_equal(n, 2);
  dq_store_close(r);
}

/* A reader that finds docq.sqlite finds an index in it: a search started
 * while the first `docq index` begins must not see the file before its
 * schema (CI once saw "no docq index" there). A child process creates
 * indexes one after another; the parent opens each for reading as soon as
 * its file shows. */
static void test_store_sql__reader_never_sees_a_half_created_index(void **state)
{
  fixture *f = *state;
  enum { N = 30 };
  assert_int_equal(mkdir(f->dir, 0777), 0);
  pid_t pid = fork();
  if (pid == 0) {
    for (int i = 0; i < N; i++) {
      char d[300];
      snprintf(d, sizeof d, "%s/%d", f->dir, i);
      dq_store *w = NULL;
      if (dq_store_open(&w, d, DQ_STORE_CREATE)) _exit(3);
      dq_store_close(w);
    }
    _exit(0);
  }
  int opened = 0, status = 0, child_done = 0;
  char first_error[512] = "";
  for (int i = 0; i < N; i++) {
    char d[300], db[320];
    snprintf(d, sizeof d, "%s/%d", f->dir, i);
    snprintf(db, sizeof db, "%s/docq.sqlite", d);
    struct stat st;
    /* until the file shows, or the child has ended (then it shows or never will) */
    for (long spin = 0; stat(db, &st) != 0 && !child_done; spin++)
      if (spin % 4096 == 4095) child_done = waitpid(pid, &status, WNOHANG) == pid;
    dq_store *r = NULL;
    int rc = dq_store_open(&r, d, DQ_STORE_READONLY);
    if (rc && !*first_error) snprintf(first_error, sizeof first_error, "index %d: %s", i, dq_err_msg());
    opened += rc == 0;
    dq_store_close(r);
  }
  if (!child_done) waitpid(pid, &status, 0); /* before failing: the child must not outlive the folder */
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  if (opened != N) fail_msg("%d of %d indexes could not be read as soon as their file showed; first: %s", N - opened, N, first_error);
}

/* A temporary index file left by a creator that died (create_db_file) is
 * cleared by the next writer: a second name of docq.sqlite always, other
 * left-overs only when their pid is gone and they are over a minute old. */
static void touch_file(const char *dir, const char *name, int age_s)
{
  char p[400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *fp = fopen(p, "w");
  assert_non_null(fp);
  fputs("x", fp);
  fclose(fp);
  const struct timespec t[2] = { { time(NULL) - age_s, 0 }, { time(NULL) - age_s, 0 } };
  assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
}

static int file_exists(const char *dir, const char *name)
{
  char p[400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  struct stat st;
  return lstat(p, &st) == 0;
}

static void test_store_sql__writer_clears_a_dead_creators_temporary(void **state)
{
  fixture *f = *state;
  dq_store *s = NULL;
  OK(dq_store_open(&s, f->dir, DQ_STORE_CREATE));
  dq_store_close(s);
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  assert_int_equal(waitpid(dead, NULL, 0), dead);
  char linked[64], old[64], old_wal[64], fresh[64], alive[64], other[64], db[320], p[400];
  snprintf(linked, sizeof linked, "docq.sqlite.new-%ld", (long)getppid()); /* alive, but the same file */
  snprintf(old, sizeof old, "docq.sqlite.new-%ld", (long)dead);
  snprintf(old_wal, sizeof old_wal, "docq.sqlite.new-%ld-wal", (long)dead);
  snprintf(fresh, sizeof fresh, "docq.sqlite.new-%ld-shm", (long)dead);
  snprintf(alive, sizeof alive, "docq.sqlite.new-%ld", (long)getppid());
  snprintf(other, sizeof other, "docq.sqlite.new-%ldx", (long)dead);
  snprintf(db, sizeof db, "%s/docq.sqlite", f->dir);
  snprintf(p, sizeof p, "%s/%s", f->dir, linked);
  assert_int_equal(link(db, p), 0);
  touch_file(f->dir, old, 3600);
  touch_file(f->dir, old_wal, 3600);
  touch_file(f->dir, fresh, 5);
  touch_file(f->dir, other, 3600);
  /* readers leave everything as it is */
  OK(dq_store_open(&s, f->dir, DQ_STORE_READONLY));
  dq_store_close(s);
  assert_true(file_exists(f->dir, linked) && file_exists(f->dir, old) && file_exists(f->dir, old_wal));
  OK(dq_store_open(&s, f->dir, 0));
  OK(dq_store_lock_writer(s));
  assert_false(file_exists(f->dir, linked));
  assert_false(file_exists(f->dir, old));
  assert_false(file_exists(f->dir, old_wal));
  assert_true(file_exists(f->dir, fresh)); /* may still be in creation */
  assert_true(file_exists(f->dir, other)); /* not a name docq makes */
  assert_true(file_exists(f->dir, "docq.sqlite"));
  OK(dq_store_check(s));
  dq_store_close(s);
  /* a live pid's file stays however old it is */
  touch_file(f->dir, alive, 3600);
  OK(dq_store_open(&s, f->dir, 0));
  OK(dq_store_lock_writer(s));
  assert_true(file_exists(f->dir, alive));
  dq_store_close(s);
}

static void test_store_sql__hnsw_kind(void **state)
{
  fixture *f = *state;
  dq_store *s = NULL;
  OK(dq_store_open(&s, f->dir, DQ_STORE_CREATE));
  dq_manifest m = { 0 };
  snprintf(m.embedder, sizeof m.embedder, "e");
  snprintf(m.vec_kind, sizeof m.vec_kind, "IDMap2,HNSW32");
  m.dim = DIM;
  OK(dq_store_set_manifest(s, &m));
  const char *t[] = { "a", "b", "c", "d" };
  for (int i = 0; i < 50; i++) {
    char p[16];
    snprintf(p, sizeof p, "/h%d", i);
    put(s, p, t, 4, NULL);
  }
  OK(dq_store_sync_vectors(s));
  int64_t gone = first_chunk(s, "/h7");
  float v[DIM];
  OK(dq_store_chunk_vector(s, gone, DIM, v));
  remove_path(s, "/h7");
  dq_scored h[5];
  size_t n;
  OK(dq_store_knn(s, v, DIM, 5, h, &n)); /* HNSW cannot remove: filtered */
  assert_int_equal(n, 5);
  for (size_t i = 0; i < n; i++) assert_int_not_equal(h[i].chunk_id, gone);
  OK(dq_store_check(s));
  assert_true(knn_self(s, first_chunk(s, "/h8")));
  dq_store_close(s);
  OK(dq_store_open(&s, f->dir, 0));
  OK(dq_store_manifest(s, &m));
  assert_string_equal(m.vec_kind, "IDMap2,HNSW32");
  OK(dq_store_check(s));
  OK(dq_store_knn(s, v, DIM, 5, h, &n));
  for (size_t i = 0; i < n; i++) assert_int_not_equal(h[i].chunk_id, gone);
  dq_store_close(s);
}

/* Opening an index does not read its FAISS file: BM25 and the vectors
 * stored in SQLite answer without it (a CLI process on a 1M-chunk index
 * would spend seconds loading it). The first write (the writer lock catches
 * up), kNN search or check loads it; removals are then counted once, also by
 * an index that cannot remove ids (HNSW: they stay as stale ids). */
static void vectors_loaded_on_first_use(fixture *f, const char *kind)
{
  dq_store *s = NULL;
  OK(dq_store_open(&s, f->dir, DQ_STORE_CREATE));
  dq_manifest m = { 0 };
  snprintf(m.embedder, sizeof m.embedder, "e");
  snprintf(m.vec_kind, sizeof m.vec_kind, "%s", kind);
  m.dim = DIM;
  OK(dq_store_set_manifest(s, &m));
  const char *t[] = { "a", "b", "c" };
  for (int i = 0; i < 20; i++) {
    char p[16];
    snprintf(p, sizeof p, "/h%d", i);
    put(s, p, t, 3, NULL);
  }
  OK(dq_store_sync_vectors(s));
  dq_store_close(s);

  OK(dq_store_open(&s, f->dir, 0));
  assert_null(s->vec);
  dq_scored h[5];
  size_t n = 0;
  OK(dq_store_bm25(s, "b", 5, h, &n));
  assert_int_equal(n, 5);
  int64_t gone = first_chunk(s, "/h3");
  float v[DIM];
  OK(dq_store_chunk_vector(s, gone, DIM, v));
  assert_null(s->vec); /* still not loaded */
  remove_path(s, "/h3"); /* loads it */
  assert_non_null(s->vec);
  OK(dq_store_check(s)); /* the FAISS ids are the chunks', stale ones counted once */
  OK(dq_store_knn(s, v, DIM, 5, h, &n));
  assert_int_equal(n, 5);
  for (size_t i = 0; i < n; i++) assert_int_not_equal(h[i].chunk_id, gone);
  assert_true(knn_self(s, first_chunk(s, "/h8")));
  OK(dq_store_sync_vectors(s));
  dq_store_close(s);
  OK(dq_store_open(&s, f->dir, DQ_STORE_READONLY));
  OK(dq_store_check(s));
  dq_store_close(s);
}

static void test_store_sql__vectors_loaded_on_first_use_flat(void **state)
{
  vectors_loaded_on_first_use(*state, "IDMap2,Flat");
}

static void test_store_sql__vectors_loaded_on_first_use_hnsw(void **state)
{
  vectors_loaded_on_first_use(*state, "IDMap2,HNSW32");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_store_sql__create_open_reopen, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__term_df_follows_writes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__format_version_mismatch, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__not_a_docq_index, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__manifest_mismatch, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__put_replace_remove_rename, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__docs_under_prefix_any_bytes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__rename_retitles, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__reencoded_meanwhile, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__faiss_full_disk_message, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__check_detects_violations, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__fts_hostile_queries, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__fts_common_terms, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__fts_head_column, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__bm25_head_weight, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__fts_cjk_bigrams, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__bm25_matches_fts5, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__fts_query_words_not_restemmed, setup, teardown),
    cmocka_unit_test(test_store_sql__fts_query_strings_are_single_tokens),
    cmocka_unit_test(test_store_sql__fts_query_quotes_surface_text),
    cmocka_unit_test(test_store_sql__fts_all_query),
    cmocka_unit_test_setup_teardown(test_store_sql__mentions, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__fts_latin_diacritics_folded, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__tokenizer_migration_old_version, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__tokenizer_migration_no_version, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__tokenizer_migration_meta_only, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__format_1_migrated, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__knn_matches_brute_force, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__knn_flat_matches_brute_force, setup, teardown),
    cmocka_unit_test(test_store_sql__f16_matches_hardware),
    cmocka_unit_test_setup_teardown(test_store_sql__catch_up_after_unsynced_writes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__sync_vectors_out_of_memory, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__killed_writer_loses_nothing_committed, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__missing_faiss_file_rebuilt, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__corrupt_faiss_file_rebuilt, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__vectors_loaded_on_first_use_flat, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__interrupted_load_loads_again, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__vectors_loaded_on_first_use_hnsw, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__interrupt_stops_catch_up, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__second_writer_busy, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__reader_never_sees_a_half_created_index, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__writer_clears_a_dead_creators_temporary, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__reader_beside_writer, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_sql__hnsw_kind, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
