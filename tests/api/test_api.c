/* The public API through <docq.h> only: options versions, errors, documents
 * from memory (add, replace, list, remove), statistics, search and ask, and
 * an index of an older built-in embedder re-encoded on a writable open
 * (plain SQLite edits its manifest to make it one), and files deleted while a
 * run is under way, and generation interrupted; documents that mention a
 * query (docq_mentions). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docq.h"
#include "gguf_writer.h"
#include "index_sql.h"

static char g_dir[64];

static int setup(void **state)
{
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/docq-api-XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_api__versions_and_errors(void **state)
{
  (void)state;
  assert_int_equal(docq_version_number(), DOCQ_VERSION_NUMBER);
  assert_string_equal(docq_version(), DOCQ_VERSION_STRING);
  docq_index_options o;
  assert_int_equal(docq_index_options_init(&o, 999), DOCQ_EVERSION);
  assert_non_null(docq_error_last());
  assert_int_equal(docq_error_last()->code, DOCQ_EVERSION);
  assert_non_null(strstr(docq_error_last()->message, "999"));
  assert_int_equal(docq_index_options_init(&o, DOCQ_INDEX_OPTIONS_VERSION), 0);
  assert_int_equal(o.max_file_bytes, 64u << 20);
  docq_db *db = (docq_db *)1;
  assert_int_equal(docq_db_open(&db, "/nonexistent/dir/x", DOCQ_OPEN_READONLY), DOCQ_ENOTFOUND);
  assert_null(db);
  docq_free(NULL);
  docq_db_free(NULL);
  docq_results_free(NULL);
  docq_answer_free(NULL);
  assert_string_equal(docq_strerror(DOCQ_EBUSY), "busy");
  assert_string_equal(docq_strerror(-12345), "error"); /* unknown negatives read as DOCQ_ERROR */
}

typedef struct listed { int n; char paths[8][64]; char titles[8][64]; } listed;

static int on_doc(const docq_doc_info *d, void *p)
{
  listed *l = p;
  if (l->n < 8) {
    snprintf(l->paths[l->n], 64, "%s", d->path);
    snprintf(l->titles[l->n], 64, "%s", d->title);
  }
  l->n++;
  return 0;
}

static void test_api__documents_from_memory(void **state)
{
  (void)state;
  docq_db *db;
  char path[128];
  snprintf(path, sizeof path, "%s/idx", g_dir);
  assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_CREATE), 0);
  const char *a = "# Lighthouses\n\nA lighthouse guides ships at night with a rotating beam.";
  const char *b = "Tea notes. Green tea wants water at eighty degrees.";
  assert_int_equal(docq_add_document(db, "note:1", "Light", a, strlen(a), "markdown", "{\"k\":1}"), 0);
  assert_int_equal(docq_add_document(db, "note:2", NULL, b, strlen(b), NULL, NULL), 0);
  assert_int_equal(docq_add_document(db, "note:3", NULL, b, strlen(b), "pdf", NULL), DOCQ_EINVAL);
  /* replacing keeps one document */
  assert_int_equal(docq_add_document(db, "note:2", "Tea", b, strlen(b), "text", NULL), 0);
  docq_stats st;
  assert_int_equal(docq_stat(db, &st), 0);
  assert_int_equal(st.documents, 2);
  assert_true(st.chunks >= 2);
  assert_int_equal(st.vectors, st.chunks);
  listed l = {0};
  assert_int_equal(docq_list_documents(db, NULL, on_doc, &l), 0);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.paths[0], "note:1");
  assert_string_equal(l.titles[0], "Light");
  assert_string_equal(l.titles[1], "Tea");

  docq_results *r;
  assert_int_equal(docq_search(&r, db, "lighthouses beam \"AND NEAR(", NULL), 0);
  assert_true(docq_results_count(r) >= 1);
  assert_string_equal(docq_results_get(r, 0)->path, "note:1");
  assert_null(docq_results_get(r, 999));
  /* the document's format, and a snippet from where the query's words are
   * (the heading is the hit's section, not its snippet) */
  assert_string_equal(docq_results_get(r, 0)->format, "markdown");
  char *snip = docq_hit_snippet(docq_results_get(r, 0), "rotating beam", 200);
  assert_non_null(snip);
  assert_string_equal(snip, "A lighthouse guides ships at night with a rotating beam.");
  docq_free(snip);
  snip = docq_hit_snippet(docq_results_get(r, 0), "\xff\xfe beam", 12); /* not UTF-8: repaired */
  assert_non_null(snip);
  assert_string_equal(snip, "A lighthouse ...");
  docq_free(snip);
  assert_null(docq_hit_snippet(NULL, "x", 10));
  docq_results_free(r);
  assert_int_equal(docq_search(&r, db, "green tea water", NULL), 0);
  assert_string_equal(docq_results_get(r, 0)->format, "text");
  docq_results_free(r);

  docq_answer *ans;
  assert_int_equal(docq_ask(&ans, db, "What temperature for green tea?", NULL), 0);
  assert_true(docq_answer_found(ans));
  assert_non_null(strstr(docq_answer_text(ans), "eighty"));
  /* found means the evidence passed the gate */
  assert_true(docq_answer_score(ans) >= DOCQ_ANSWER_SCORE_FOUND && docq_answer_score(ans) <= 1.0);
  assert_int_equal(docq_answer_weak(ans), docq_answer_score(ans) < 0.4);
  /* what it cites: packed passages, each marked " [n]" in the text */
  assert_true(docq_answer_citations(ans) >= 1 && docq_answer_citations(ans) <= docq_answer_passages(ans));
  for (size_t i = 0; i < docq_answer_citations(ans); i++) {
    char mark[32];
    snprintf(mark, sizeof mark, " [%d]", docq_answer_citation(ans, i));
    assert_non_null(docq_answer_passage(ans, (size_t)docq_answer_citation(ans, i) - 1));
    assert_non_null(strstr(docq_answer_text(ans), mark));
  }
  assert_int_equal(docq_answer_citation(ans, docq_answer_citations(ans)), 0);
  assert_int_equal(docq_answer_citations(NULL), 0);
  assert_true(docq_answer_prompt_tokens(ans) <= docq_answer_budget(ans));
  docq_gen_info gi;
  assert_int_equal(docq_answer_generation(ans, &gi), 0);
  assert_int_equal(gi.stop, DOCQ_STOP_NONE); /* extractive: nothing generated */
  assert_int_equal(gi.generated_tokens, 0);
  docq_answer_free(ans);

  uint64_t n = 0;
  assert_int_equal(docq_remove(db, "note:1", &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(docq_remove(db, "note:1", &n), DOCQ_ENOTFOUND);
  assert_int_equal(docq_check(db), 0);
  assert_int_equal(docq_stat(db, &st), 0);
  assert_int_equal(st.documents, 1);
  docq_db_free(db);

  /* a second handle sees the committed state; read-only cannot write */
  assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_READONLY), 0);
  assert_int_equal(docq_stat(db, &st), 0);
  assert_int_equal(st.documents, 1);
  assert_int_equal(docq_add_document(db, "x", NULL, "y", 1, NULL, NULL), DOCQ_EINVAL);
  docq_db_free(db);
}

static void write_file(const char *dir, const char *name, const char *text)
{
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* A new index (g_dir/idx) of files written into g_dir/src: name, text pairs. */
static docq_db *index_new(const char *const *files, size_t n_files)
{
  char src[128], idx[128];
  snprintf(src, sizeof src, "%s/src", g_dir);
  snprintf(idx, sizeof idx, "%s/idx", g_dir);
  assert_int_equal(mkdir(src, 0777), 0);
  for (size_t i = 0; i + 1 < 2 * n_files; i += 2) write_file(src, files[i], files[i + 1]);
  const char *paths[] = { src };
  docq_db *db;
  assert_int_equal(docq_db_open(&db, idx, DOCQ_OPEN_CREATE), 0);
  assert_int_equal(docq_index_paths(db, paths, 1, NULL, NULL), 0);
  return db;
}

/* docq_ask options answering with model m, greedy, in at most n tokens. */
static void greedy_ask_options(docq_ask_options *ao, const docq_model *m, int n)
{
  assert_int_equal(docq_ask_options_init(ao, DOCQ_ASK_OPTIONS_VERSION), 0);
  ao->model = m;
  ao->gen.temperature = 0;
  ao->gen.n_predict = n;
}

/* The one-document index the tests that answer with a model ask of. */
static docq_db *tea_db(void)
{
  static const char *const files[] = { "tea.txt", "Green tea is brewed with water at eighty degrees, not boiling.\n" };
  return index_new(files, 1);
}

/* The path and vector score of the best vector-only hit for `q`. */
static double vector_top(docq_db *db, const char *q, char *path, size_t cap)
{
  docq_search_options o = DOCQ_SEARCH_OPTIONS_INIT;
  o.mode = DOCQ_MODE_VECTOR;
  o.k = 1;
  docq_results *r;
  assert_int_equal(docq_search(&r, db, q, &o), 0);
  assert_int_equal(docq_results_count(r), 1);
  const docq_hit *h = docq_results_get(r, 0);
  snprintf(path, cap, "%s", h->path);
  double sc = h->vector_score;
  docq_results_free(r);
  return sc;
}

static void test_api__old_builtin_embedder_reencoded(void **state)
{
  (void)state;
  char src[128], idx[128], ref[128];
  snprintf(src, sizeof src, "%s/src", g_dir);
  snprintf(idx, sizeof idx, "%s/idx", g_dir);
  snprintf(ref, sizeof ref, "%s/ref", g_dir);
  assert_int_equal(mkdir(src, 0777), 0);
  write_file(src, "bread.md", "# Bread\n\nSourdough bread is baked at 250 degrees in a covered pot.\n");
  write_file(src, "tea.txt", "Green tea is brewed with water at eighty degrees, not boiling.\n");
  write_file(src, "garden.md", "# Garden\n\nTomatoes need sun and water every morning in the summer.\n");
  const char *paths[] = { src };

  docq_db *db;
  docq_stats st;
  assert_int_equal(docq_db_open(&db, idx, DOCQ_OPEN_CREATE), 0);
  assert_int_equal(docq_index_paths(db, paths, 1, NULL, NULL), 0);
  assert_int_equal(docq_stat(db, &st), 0);
  assert_string_equal(st.embedder, "docq-hash-v3");
  uint64_t chunks = st.chunks, vectors = st.vectors;
  assert_int_equal(chunks, 3);
  assert_int_equal(vectors, chunks);
  docq_db_free(db);

  /* the same folder indexed afresh: what the re-encoded vectors must give */
  char want_path[256], got_path[256];
  assert_int_equal(docq_db_open(&db, ref, DOCQ_OPEN_CREATE), 0);
  assert_int_equal(docq_index_paths(db, paths, 1, NULL, NULL), 0);
  double want = vector_top(db, "green tea water temperature", want_path, sizeof want_path);
  docq_db_free(db);
  assert_non_null(strstr(want_path, "tea.txt"));

  /* make it an index of the previous built-in embedder: its id, and vectors
   * that are not this embedder's (all the same; the FAISS file forgotten so
   * that only re-encoding can bring the right ones back) */
  assert_int_equal(dq_test_sql_exec(idx, "UPDATE meta SET value = 'docq-hash-v1' WHERE key = 'embedder';"
                                         "UPDATE vecs SET v = (SELECT v FROM vecs ORDER BY chunk_id LIMIT 1);"
                                         "DELETE FROM meta WHERE key = 'faiss_file'"), 0);

  /* read-only: refused, telling what to do */
  db = (docq_db *)1;
  assert_int_equal(docq_db_open(&db, idx, DOCQ_OPEN_READONLY), DOCQ_EMISMATCH);
  assert_null(db);
  assert_int_equal(docq_error_last()->code, DOCQ_EMISMATCH);
  assert_non_null(strstr(docq_error_last()->message, "docq index"));

  /* writable: re-encoded from the stored chunk text */
  assert_int_equal(docq_db_open(&db, idx, 0), 0);
  assert_int_equal(docq_stat(db, &st), 0);
  assert_string_equal(st.embedder, "docq-hash-v3");
  assert_int_equal(st.chunks, chunks);
  assert_int_equal(st.vectors, vectors);
  assert_int_equal(st.documents, 3);
  assert_int_equal(docq_check(db), 0);
  double got = vector_top(db, "green tea water temperature", got_path, sizeof got_path);
  assert_string_equal(got_path, want_path);
  assert_true(got > want - 1e-6 && got < want + 1e-6);
  docq_results *r;
  assert_int_equal(docq_search(&r, db, "sourdough bread", NULL), 0);
  assert_true(docq_results_count(r) >= 1);
  assert_non_null(strstr(docq_results_get(r, 0)->path, "bread.md"));
  docq_results_free(r);
  docq_db_free(db);

  /* done once: readers open it now */
  assert_int_equal(docq_db_open(&db, idx, DOCQ_OPEN_READONLY), 0);
  assert_int_equal(docq_stat(db, &st), 0);
  assert_string_equal(st.embedder, "docq-hash-v3");
  assert_int_equal(st.vectors, vectors);
  got = vector_top(db, "green tea water temperature", got_path, sizeof got_path);
  assert_string_equal(got_path, want_path);
  assert_int_equal(docq_check(db), 0);
  docq_db_free(db);
}

/* docq_mentions: every document with a passage holding all the words,
 * counted, most first then by path; only the filters of the options count;
 * an empty index is an empty list, a query without words DOCQ_EINVAL. */
static void test_api__mentions(void **state)
{
  (void)state;
  docq_db *db;
  char path[128];
  snprintf(path, sizeof path, "%s/idx", g_dir);
  assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_CREATE), 0);
  docq_mention_list *l = (docq_mention_list *)1;
  assert_int_equal(docq_mentions(&l, db, "lighthouse", NULL), 0);
  assert_int_equal(l->n_docs, 0);
  assert_int_equal(l->n_passages, 0);
  docq_mention_list_free(l);
  const char *a = "A lighthouse keeper trims the wick.";
  const char *b = "The keeper of the lighthouse sleeps by day.";
  const char *c = "Ships pass the lighthouse; no keeper lives there.";
  assert_int_equal(docq_add_document(db, "note:b", "B", b, strlen(b), NULL, NULL), 0);
  assert_int_equal(docq_add_document(db, "note:a", "A", a, strlen(a), NULL, NULL), 0);
  assert_int_equal(docq_add_document(db, "other:c", NULL, c, strlen(c), NULL, NULL), 0);
  assert_int_equal(docq_mentions(&l, db, "Keepers LIGHTHOUSE", NULL), 0);
  assert_int_equal(l->n_docs, 3);
  assert_int_equal(l->n_passages, 3);
  assert_string_equal(l->docs[0].path, "note:a"); /* one passage each: by path */
  assert_string_equal(l->docs[0].title, "A");
  assert_int_equal(l->docs[0].passages, 1);
  assert_string_equal(l->docs[1].path, "note:b");
  assert_string_equal(l->docs[2].path, "other:c");
  docq_mention_list_free(l);
  docq_search_options so;
  assert_int_equal(docq_search_options_init(&so, DOCQ_SEARCH_OPTIONS_VERSION), 0);
  so.path_prefix = "note:";
  so.mode = (docq_mode)99; /* not a filter: not looked at */
  assert_int_equal(docq_mentions(&l, db, "\"lighthouse keeper\"", &so), 0);
  assert_int_equal(l->n_docs, 1);
  assert_string_equal(l->docs[0].path, "note:a");
  docq_mention_list_free(l);
  l = (docq_mention_list *)1;
  assert_int_equal(docq_mentions(&l, db, "!!! \"\"", NULL), DOCQ_EINVAL);
  assert_null(l);
  assert_non_null(strstr(docq_error_last()->message, "no words"));
  assert_int_equal(docq_mentions(&l, db, NULL, NULL), DOCQ_EINVAL);
  assert_int_equal(docq_mentions(&l, NULL, "x", NULL), DOCQ_EINVAL);
  assert_int_equal(docq_mentions(NULL, db, "x", NULL), DOCQ_EINVAL);
  docq_mention_list_free(NULL);
  docq_db_free(db);
}

/* Search options version 2 added `feedback`: a caller built against version
 * 1 passes the shorter struct and still searches (with the default); ask
 * options embed the search options, so their version 1 is refused. */
static void test_api__search_options_versions(void **state)
{
  (void)state;
  static const char *const files[] = {
    "glacier.md", "# Glaciers\n\nA glacier leaves a moraine of rock where its ice melts.\n",
    "harbor.md", "# Harbors\n\nThe glacier carved this harbor; ships now shelter there.\n",
  };
  docq_db *db = index_new(files, 2);

  docq_search_options v2;
  assert_int_equal(docq_search_options_init(&v2, DOCQ_SEARCH_OPTIONS_VERSION), 0);
  assert_int_equal(v2.feedback, 1);
  const size_t v1_size = offsetof(docq_search_options, feedback);
  docq_search_options *v1 = malloc(v1_size); /* exactly what a version-1 caller has */
  assert_int_equal(docq_search_options_init(v1, 1), 0);
  unsigned int ver = 0, k = 0; /* read as bytes: the object is shorter than the struct */
  memcpy(&ver, (char *)v1 + offsetof(docq_search_options, version), sizeof ver);
  memcpy(&k, (char *)v1 + offsetof(docq_search_options, k), sizeof k);
  assert_int_equal(ver, 1);
  assert_int_equal(k, 10);
  docq_results *r = NULL;
  assert_int_equal(docq_search(&r, db, "glacier moraine", v1), 0);
  assert_true(docq_results_count(r) >= 1);
  docq_results_free(r);
  free(v1);
  for (int fb = 0; fb < 2; fb++) {
    v2.feedback = fb;
    assert_int_equal(docq_search(&r, db, "glacier moraine", &v2), 0);
    assert_true(docq_results_count(r) >= 1);
    assert_non_null(strstr(docq_results_get(r, 0)->path, "glacier.md"));
    docq_results_free(r);
  }
  docq_ask_options ao;
  assert_int_equal(docq_ask_options_init(&ao, 1), DOCQ_EVERSION);
  assert_int_equal(docq_ask_options_init(&ao, DOCQ_ASK_OPTIONS_VERSION), 0);
  assert_int_equal(ao.search.feedback, 1);
  assert_null(ao.tokenizer);
  /* a version-2 caller's struct ends before `tokenizer`: sized exactly, so
   * ASan sees any read or write past it */
  docq_ask_options *a2 = malloc(offsetof(docq_ask_options, tokenizer));
  assert_non_null(a2);
  assert_int_equal(docq_ask_options_init(a2, 2), 0);
  unsigned a2v = 0;
  memcpy(&a2v, a2, sizeof a2v);
  assert_int_equal(a2v, 2);
  docq_answer *ans = NULL;
  assert_int_equal(docq_ask(&ans, db, "glacier moraine", a2), 0);
  assert_true(docq_answer_passages(ans) >= 1);
  docq_answer_free(ans);
  free(a2);
  /* a version-3 caller's struct ends before `chat_template` */
  assert_null(ao.chat_template);
  docq_ask_options *a3 = malloc(offsetof(docq_ask_options, chat_template));
  assert_non_null(a3);
  assert_int_equal(docq_ask_options_init(a3, 3), 0);
  assert_int_equal(docq_ask(&ans, db, "glacier moraine", a3), 0);
  assert_true(docq_answer_passages(ans) >= 1);
  docq_answer_free(ans);
  free(a3);
  assert_int_equal(docq_ask_options_init(&ao, DOCQ_ASK_OPTIONS_VERSION + 1), DOCQ_EVERSION);
  docq_db_free(db);
}

/* A file deleted while a run is under way, after the walk saw it: the run
 * goes on and says so; an indexed earlier version of it is removed, not
 * left behind as if the file were still there. */
/* 30 files f00..f29 written into g_dir/src and indexed into g_dir/idx. */
static docq_db *thirty_files_indexed(char *src, size_t cap)
{
  char idx[128], name[32], text[128];
  snprintf(src, cap, "%s/src", g_dir);
  snprintf(idx, sizeof idx, "%s/idx", g_dir);
  assert_int_equal(mkdir(src, 0777), 0);
  for (int i = 0; i < 30; i++) {
    snprintf(name, sizeof name, "f%02d.txt", i);
    snprintf(text, sizeof text, "Note %d: the lighthouse keeper counted %d ships in the fog.\n", i, i * 7);
    write_file(src, name, text);
  }
  const char *paths[] = { src };
  docq_db *db;
  assert_int_equal(docq_db_open(&db, idx, DOCQ_OPEN_CREATE), 0);
  assert_int_equal(docq_index_paths(db, paths, 1, NULL, NULL), 0);
  return db;
}

typedef struct {
  char victim_new[256], victim_old[256];
  int deleted, n_skipped, n_removed;
  char reason[256];
} mid_delete;

static void on_file_mid_delete(const char *path, docq_file_status s, const char *reason, void *p)
{
  mid_delete *m = p;
  if (!m->deleted) { /* the first file done: the victims are far behind in the queue */
    m->deleted = 1;
    assert_int_equal(unlink(m->victim_new), 0);
    assert_int_equal(unlink(m->victim_old), 0);
  }
  if (s == DOCQ_FILE_SKIPPED) {
    m->n_skipped++;
    snprintf(m->reason, sizeof m->reason, "%s: %s", path, reason ? reason : "");
  }
  if (s == DOCQ_FILE_REMOVED) m->n_removed++;
}

static void test_api__file_deleted_mid_index(void **state)
{
  (void)state;
  char src[128];
  docq_db *db = thirty_files_indexed(src, sizeof src); /* f28 is indexed */
  const char *paths[] = { src };

  /* f28 is edited (so this run would reload it), f29 is new; both go mid-run */
  write_file(src, "f28.txt", "Note 28, edited: the keeper saw a whale.\n");
  write_file(src, "f30.txt", "Note 30: a new file, deleted before its turn.\n");
  struct stat sb;
  assert_int_equal(stat(src, &sb), 0);
  mid_delete m = {0};
  snprintf(m.victim_new, sizeof m.victim_new, "%s/f30.txt", src);
  snprintf(m.victim_old, sizeof m.victim_old, "%s/f28.txt", src);
  docq_index_options o = DOCQ_INDEX_OPTIONS_INIT;
  o.on_file = on_file_mid_delete;
  o.payload = &m;
  docq_index_stats st;
  assert_int_equal(docq_index_paths(db, paths, 1, &o, &st), 0);
  assert_true(m.deleted);
  assert_int_equal(docq_check(db), 0);
  docq_stats ds;
  assert_int_equal(docq_stat(db, &ds), 0);
  assert_int_equal(ds.documents, 29); /* f00..f27 and f29: neither victim is left */
  assert_int_equal(st.added, 0);
  assert_int_equal(st.updated, 0);
  assert_int_equal(st.unchanged, 29);
  /* the new file: skipped, saying why; the indexed one: removed */
  assert_int_equal(st.skipped, 1);
  assert_int_equal(m.n_skipped, 1);
  assert_non_null(strstr(m.reason, "f30.txt"));
  assert_non_null(strstr(m.reason, "disappeared"));
  assert_int_equal(st.removed, 1);
  assert_int_equal(m.n_removed, 1);
  docq_results *res;
  docq_search_options so = DOCQ_SEARCH_OPTIONS_INIT;
  assert_int_equal(docq_search(&res, db, "keeper whale", &so), 0);
  for (size_t i = 0; i < docq_results_count(res); i++) assert_null(strstr(docq_results_get(res, i)->path, "f28"));
  docq_results_free(res);
  docq_db_free(db);
}

typedef struct { char fifo_path[256]; int swapped, n_skipped; char reason[256]; } fifo_swap;

static void on_file_fifo_swap(const char *path, docq_file_status s, const char *reason, void *p)
{
  fifo_swap *f = p;
  if (!f->swapped) { /* the first file done: the worker has not reached the last one */
    f->swapped = 1;
    assert_int_equal(unlink(f->fifo_path), 0);
    assert_int_equal(mkfifo(f->fifo_path, 0600), 0);
  }
  if (s == DOCQ_FILE_SKIPPED) {
    f->n_skipped++;
    snprintf(f->reason, sizeof f->reason, "%s", reason ? reason : "");
  }
  (void)path;
}

/* A file replaced by a FIFO after the walk saw it (edited, so it is read):
 * opening it must not wait for a writer that never comes. It is skipped as
 * not a regular file, and its old document goes (its text is not there). */
static void test_api__file_replaced_by_fifo_mid_index(void **state)
{
  (void)state;
  char src[128];
  docq_db *db = thirty_files_indexed(src, sizeof src);
  write_file(src, "f29.txt", "Note 29, edited.\n");
  fifo_swap f = {0};
  snprintf(f.fifo_path, sizeof f.fifo_path, "%s/f29.txt", src);
  docq_index_options o = DOCQ_INDEX_OPTIONS_INIT;
  o.on_file = on_file_fifo_swap;
  o.payload = &f;
  docq_index_stats st;
  const char *paths[] = { src };
  alarm(60); /* the old code waited forever */
  assert_int_equal(docq_index_paths(db, paths, 1, &o, &st), 0);
  alarm(0);
  assert_true(f.swapped);
  assert_int_equal(f.n_skipped, 1);
  assert_non_null(strstr(f.reason, "not a regular file"));
  assert_int_equal(st.removed, 1);
  assert_int_equal(docq_check(db), 0);
  docq_db_free(db);
}

typedef struct { docq_db *db; int n_removed; } stop_removing;

static void on_file_stop_removing(const char *path, docq_file_status s, const char *reason, void *p)
{
  stop_removing *x = p;
  (void)path;
  (void)reason;
  if (s == DOCQ_FILE_REMOVED && x->n_removed++ == 0) docq_interrupt(x->db);
}

/* Ctrl-C while deleted files are being removed stops the run there, as a
 * cancel: each removal is its own transaction, so what was removed stays
 * removed and the next run removes the rest. */
static void test_api__interrupt_while_removing(void **state)
{
  (void)state;
  char src[128], p[256];
  docq_db *db = thirty_files_indexed(src, sizeof src);
  for (int i = 0; i < 20; i++) {
    snprintf(p, sizeof p, "%s/f%02d.txt", src, i);
    assert_int_equal(unlink(p), 0);
  }
  stop_removing x = { db, 0 };
  docq_index_options o = DOCQ_INDEX_OPTIONS_INIT;
  o.on_file = on_file_stop_removing;
  o.payload = &x;
  docq_index_stats st;
  const char *paths[] = { src };
  assert_int_equal(docq_index_paths(db, paths, 1, &o, &st), DOCQ_ECANCELED);
  assert_int_equal(st.removed, 1);
  assert_int_equal(docq_check(db), 0);
  docq_stats ds;
  assert_int_equal(docq_stat(db, &ds), 0);
  assert_int_equal(ds.documents, 29);
  assert_int_equal(docq_index_paths(db, paths, 1, NULL, &st), 0);
  assert_int_equal(st.removed, 19);
  assert_int_equal(docq_stat(db, &ds), 0);
  assert_int_equal(ds.documents, 10);
  docq_db_free(db);
}

/* A random-weight GGUF from the test writer (its text is noise), loaded. */
static docq_model *random_model(void)
{
  char model_path[128];
  snprintf(model_path, sizeof model_path, "%s/m.gguf", g_dir);
  dq_gw_model_params mp;
  dq_gw_model_params_default(&mp);
  mp.n_ctx = 4096;
  mp.seed = 3;
  assert_int_equal(dq_gw_write_model(&mp, model_path), 0);
  docq_model *m = NULL;
  assert_int_equal(docq_model_load(&m, model_path), 0);
  return m;
}

/* The thread-safety docq.h states: one loaded model shared by threads, each
 * with its own context, generating at the same time, gives every thread what
 * it gets alone (greedy, so the text is a function of the prompt), and
 * tokenizing on the shared model meanwhile agrees too. Half the contexts
 * run their own pool of two threads (make tsan checks this for races). */
#define SHARE_THREADS 4
typedef struct {
  const docq_model *m;
  const char *prompt;
  char *text;    /* generated */
  long n_tok;    /* docq_tokenize of the prompt */
  int n_threads; /* of the context's kernel pool */
  int rc;
} share_job;

static void *share_worker(void *p)
{
  share_job *j = p;
  docq_ctx *c = NULL;
  if ((j->rc = docq_ctx_new(&c, j->m, 128)) != 0) return NULL;
  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.temperature = 0;
  o.n_predict = 24;
  o.n_threads = j->n_threads;
  for (int rep = 0; rep < 3 && !j->rc; rep++) { /* overlap more than one run */
    docq_free(j->text);
    j->text = NULL;
    j->rc = docq_generate(c, j->prompt, &o, &j->text);
    j->n_tok = docq_tokenize(j->m, j->prompt, strlen(j->prompt), 1, NULL, 0);
  }
  docq_ctx_free(c);
  return NULL;
}

static void test_api__model_shared_by_threads(void **state)
{
  (void)state;
  docq_model *m = random_model();
  static const char *prompts[SHARE_THREADS] = { "the ab ba", "ba ba the", "ab", "the the ab ba ab" };
  share_job alone[SHARE_THREADS], together[SHARE_THREADS];
  for (int i = 0; i < SHARE_THREADS; i++) {
    const int nt = 1 + i % 2; /* half the contexts run a pool of two threads */
    alone[i] = (share_job){ m, prompts[i], NULL, 0, nt, 0 };
    share_worker(&alone[i]);
    assert_int_equal(alone[i].rc, 0);
    together[i] = (share_job){ m, prompts[i], NULL, 0, nt, 0 };
  }
  /* the prompts lead to different texts, so a thread given another's state would show */
  assert_string_not_equal(alone[0].text, alone[1].text);
  pthread_t t[SHARE_THREADS];
  for (int i = 0; i < SHARE_THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, share_worker, &together[i]), 0);
  for (int i = 0; i < SHARE_THREADS; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
  for (int i = 0; i < SHARE_THREADS; i++) {
    assert_int_equal(together[i].rc, 0);
    assert_string_equal(together[i].text, alone[i].text);
    assert_int_equal(together[i].n_tok, alone[i].n_tok);
    docq_free(alone[i].text);
    docq_free(together[i].text);
  }
  docq_model_free(m);
}

/* docq_ctx_last_generation: why and after how many tokens the last
 * completion ended (length, a stop string, a full context), with the prompt's
 * count as tokenizing it with BOS (as the file says) gives. */
static void test_api__generation_stop_reasons(void **state)
{
  (void)state;
  docq_model *m = random_model();
  docq_model_meta meta;
  assert_int_equal(docq_model_get_meta(m, &meta), 0);
  const char *prompt = "the ab ba";
  const long plain = docq_tokenize(m, prompt, strlen(prompt), 0, NULL, 0);
  assert_true(plain > 0);
  const size_t n_prompt = (size_t)plain + (meta.add_bos && meta.bos >= 0 ? 1 : 0);

  docq_ctx *c;
  assert_int_equal(docq_ctx_new(&c, m, 256), 0);
  docq_gen_info gi;
  assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
  assert_int_equal(gi.stop, DOCQ_STOP_NONE);
  assert_int_equal(gi.generated_tokens, 0);

  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.temperature = 0;
  o.n_predict = 10;
  char *t10 = NULL;
  assert_int_equal(docq_generate(c, prompt, &o, &t10), 0);
  assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
  assert_int_equal(gi.stop, DOCQ_STOP_LENGTH);
  assert_int_equal(gi.generated_tokens, 10);
  assert_int_equal(gi.prompt_tokens, n_prompt);

  /* the same greedy text as a stop string: met at its tenth token */
  const char *stops[] = { t10, NULL };
  o.n_predict = 40;
  o.stop = stops;
  char *text = NULL;
  assert_int_equal(docq_generate(c, prompt, &o, &text), 0);
  assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
  assert_int_equal(gi.stop, DOCQ_STOP_STRING);
  assert_int_equal(gi.generated_tokens, 10);
  assert_string_equal(text, ""); /* the text stops before the stop string */
  docq_free(text);
  docq_free(t10);
  docq_ctx_free(c);

  /* a context of 16: it fills; the last token, sampled from the full
   * context's logits, is still given */
  assert_int_equal(docq_ctx_new(&c, m, 16), 0);
  o.stop = NULL;
  o.n_predict = 100;
  assert_int_equal(docq_generate(c, prompt, &o, NULL), 0);
  assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
  assert_int_equal(gi.stop, DOCQ_STOP_CONTEXT);
  assert_int_equal(gi.prompt_tokens + gi.generated_tokens, 16 + 1);
  docq_ctx_free(c);

  /* a prompt that fills the context exactly still gets its one token (the
   * rule above: it is sampled, never read back); one token more is refused */
  assert_int_equal(docq_ctx_new(&c, m, (unsigned)n_prompt), 0);
  assert_int_equal(docq_generate(c, prompt, &o, NULL), 0);
  assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
  assert_int_equal(gi.stop, DOCQ_STOP_CONTEXT);
  assert_int_equal(gi.generated_tokens, 1);
  docq_ctx_free(c);
  assert_int_equal(docq_ctx_new(&c, m, (unsigned)n_prompt - 1), 0);
  assert_int_equal(docq_generate(c, prompt, &o, NULL), DOCQ_EINVAL);
  assert_non_null(strstr(docq_error_last()->message, "does not fit in the context"));
  docq_ctx_free(c);
  docq_model_free(m);
}

/* Every function taking a docq_ctx_options refuses a version other than
 * this header's (a struct from another header has another layout), as
 * docq_ctx_new_ext does: docq_model_rope_describe with NULL and
 * DOCQ_EVERSION, docq_ctx_options_fit with DOCQ_EVERSION and the struct as
 * it was. */
static void test_api__ctx_options_versions(void **state)
{
  (void)state;
  docq_model *m = random_model();
  docq_ctx_options o = DOCQ_CTX_OPTIONS_INIT;
  o.rope_scaling = DOCQ_ROPE_SCALING_LINEAR;
  o.rope_scale = 2;
  char *d = docq_model_rope_describe(m, &o);
  assert_non_null(d);
  docq_free(d);
  static const unsigned bad[] = {0, DOCQ_CTX_OPTIONS_VERSION + 1, 99};
  for (size_t i = 0; i < 3; i++) {
    o.version = bad[i];
    docq_ctx *c = (docq_ctx *)1;
    assert_int_equal(docq_ctx_new_ext(&c, m, &o), DOCQ_EVERSION);
    assert_null(c);
    assert_null(docq_model_rope_describe(m, &o));
    assert_int_equal(docq_error_last()->code, DOCQ_EVERSION);
    docq_ctx_options before = o;
    char desc[64] = "x";
    assert_int_equal(docq_ctx_options_fit(m, 100000, &o, desc, sizeof desc), DOCQ_EVERSION);
    assert_memory_equal(&o, &before, sizeof o);
  }
  docq_model_free(m);
}

/* Options docq.h gives no meaning (a NaN or negative temperature, top_p or
 * min_p outside [0, 1], a penalty of 0, negative counts, absurd thread
 * counts, more sinks than the window) are refused with DOCQ_EINVAL naming
 * the option and its range, by docq_gen_options_check, docq_generate and
 * docq_ctx_new_ext; the edges of each range are taken. */
static void test_api__options_out_of_range(void **state)
{
  (void)state;
  docq_model *m = random_model();
  docq_ctx *c;
  assert_int_equal(docq_ctx_new(&c, m, 64), 0);
  typedef struct { const char *name; float temp, top_p, min_p, pen; int top_k, last_n, threads; } gcase;
  const float nan = NAN;
  const float inf = INFINITY;
  const gcase bad[] = {
    {"temperature", -1, 0.9f, 0.05f, 1, 40, 64, 0}, {"temperature", nan, 0.9f, 0.05f, 1, 40, 64, 0},
    {"temperature", inf, 0.9f, 0.05f, 1, 40, 64, 0}, {"top_p", 0.7f, 2, 0.05f, 1, 40, 64, 0},
    {"top_p", 0.7f, -1, 0.05f, 1, 40, 64, 0}, {"top_p", 0.7f, nan, 0.05f, 1, 40, 64, 0},
    {"min_p", 0.7f, 0.9f, 5, 1, 40, 64, 0}, {"min_p", 0.7f, 0.9f, -0.1f, 1, 40, 64, 0},
    {"repeat_penalty", 0.7f, 0.9f, 0.05f, 0, 40, 64, 0}, {"repeat_penalty", 0.7f, 0.9f, 0.05f, -1, 40, 64, 0},
    {"repeat_penalty", 0.7f, 0.9f, 0.05f, nan, 40, 64, 0}, {"top_k", 0.7f, 0.9f, 0.05f, 1, -3, 64, 0},
    {"repeat_last_n", 0.7f, 0.9f, 0.05f, 1, 40, -5, 0}, {"n_threads", 0.7f, 0.9f, 0.05f, 1, 40, 64, -2},
    {"n_threads", 0.7f, 0.9f, 0.05f, 1, 40, 64, 100000},
  };
  const gcase good[] = {{"edges", 0, 0, 0, 0.001f, 0, 0, 1}, {"edges", 100, 1, 1, 100, 100000, 100000, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad + 2; i++) {
    const gcase *g = i < sizeof bad / sizeof *bad ? &bad[i] : &good[i - sizeof bad / sizeof *bad];
    docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
    o.n_predict = 2;
    o.temperature = g->temp;
    o.top_p = g->top_p;
    o.min_p = g->min_p;
    o.repeat_penalty = g->pen;
    o.top_k = g->top_k;
    o.repeat_last_n = g->last_n;
    o.n_threads = g->threads;
    const int want = i < sizeof bad / sizeof *bad ? DOCQ_EINVAL : 0;
    assert_int_equal(docq_gen_options_check(&o), want);
    if (want && (!strstr(docq_error_last()->message, g->name) || !strstr(docq_error_last()->message, "out of range")))
      fail_msg("case %zu: message '%s' does not name %s", i, docq_error_last()->message, g->name);
    char *text = NULL;
    if (docq_generate(c, "the ab ba", &o, &text) != want) fail_msg("case %zu (%s): docq_generate did not refuse", i, g->name);
    docq_free(text);
  }
  docq_ctx_free(c);

  docq_ctx_options co = DOCQ_CTX_OPTIONS_INIT;
  co.n_ctx = 64;
  const struct { int threads; unsigned window, sinks; const char *name; } cb[] = {
    {-4, 0, 0, "n_threads"}, {100000, 0, 0, "n_threads"}, {0, 8, 100, "attn_sinks"}, {0, 8, 9, "attn_sinks"}};
  for (size_t i = 0; i < sizeof cb / sizeof *cb; i++) {
    co.n_threads = cb[i].threads;
    co.attn_window = cb[i].window;
    co.attn_sinks = cb[i].sinks;
    c = (docq_ctx *)1;
    assert_int_equal(docq_ctx_new_ext(&c, m, &co), DOCQ_EINVAL);
    assert_null(c);
    if (!strstr(docq_error_last()->message, cb[i].name)) fail_msg("ctx case %zu: '%s'", i, docq_error_last()->message);
  }
  co.n_threads = 2;
  co.attn_window = 8;
  co.attn_sinks = 8;
  assert_int_equal(docq_ctx_new_ext(&c, m, &co), 0);
  docq_ctx_free(c);
  docq_model_free(m);
}

/* A stop string must be valid UTF-8 (docq.h): one that is not would match
 * inside a character of the text and cut it (a lone lead byte on stdout).
 * Refused with DOCQ_EINVAL naming it, before the prompt is read. */
static void test_api__generation_refuses_stop_not_utf8(void **state)
{
  (void)state;
  docq_model *m = random_model();
  docq_ctx *c;
  assert_int_equal(docq_ctx_new(&c, m, 64), 0);
  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.n_predict = 4;
  static const char *bad[][3] = {{"ok", "\x94\xb9", NULL}, {"\xe6", NULL, NULL}, {"a\xc0\x80", NULL, NULL}};
  static const char *names[] = {"stop string 2 of 2 ", "stop string 1 of 1 ", "stop string 1 of 1 "};
  for (size_t i = 0; i < 3; i++) {
    o.stop = bad[i];
    char *text = (char *)1;
    assert_int_equal(docq_generate(c, "the ab ba", &o, &text), DOCQ_EINVAL);
    assert_null(text);
    const char *msg = docq_error_last()->message;
    if (!strstr(msg, names[i]) || !strstr(msg, "UTF-8")) fail_msg("case %zu: message '%s'", i, msg);
  }
  static const char *good[] = {"\xe6\x94\xb9", "", "z", NULL}; /* 改; an empty one is ignored */
  o.stop = good;
  assert_int_equal(docq_generate(c, "the ab ba", &o, NULL), 0);
  docq_ctx_free(c);
  docq_model_free(m);
}

/* docq.h: on_token gets whole UTF-8 characters, and a byte the model emits
 * that belongs to no valid character comes as U+FFFD. The random model's
 * vocabulary has the 256 byte tokens, so sampling at a high temperature
 * emits broken sequences, lone continuation bytes and 0xff alike. */
static int utf8_valid(const unsigned char *s, size_t n)
{
  for (size_t i = 0; i < n;) {
    const unsigned c = s[i];
    const size_t k = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!k || k > n - i) return 0;
    for (size_t j = 1; j < k; j++)
      if ((s[i + j] & 0xC0) != 0x80) return 0;
    if (k == 3 && ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F))) return 0;
    if (k == 4 && ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))) return 0;
    i += k;
  }
  return 1;
}

typedef struct { char all[4096]; size_t len; int chunks, bad; } utf8_seen;

static int on_token_utf8(const char *t, size_t n, void *p)
{
  utf8_seen *u = p;
  u->chunks++;
  u->bad += !utf8_valid((const unsigned char *)t, n);
  if (u->len + n < sizeof u->all) {
    memcpy(u->all + u->len, t, n);
    u->len += n;
  }
  return 0;
}

static void test_api__generation_streams_valid_utf8(void **state)
{
  (void)state;
  docq_model *m = random_model();
  docq_ctx *c;
  assert_int_equal(docq_ctx_new(&c, m, 256), 0);
  int replaced = 0;
  for (unsigned seed = 1; seed <= 8; seed++) {
    docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
    o.temperature = 3.0f;
    o.top_k = 0;
    o.top_p = 1.0f;
    o.min_p = 0.0f;
    o.n_predict = 48;
    o.seed = seed;
    utf8_seen u = { .len = 0 };
    o.on_token = on_token_utf8;
    o.payload = &u;
    char *text = NULL;
    assert_int_equal(docq_generate(c, "the ab ba", &o, &text), 0);
    if (u.bad) fail_msg("seed %u: %d of %d streamed pieces are not valid UTF-8", seed, u.bad, u.chunks);
    assert_true(utf8_valid((const unsigned char *)text, strlen(text)));
    assert_int_equal(strlen(text), u.len); /* the stream is the text */
    assert_memory_equal(text, u.all, u.len);
    replaced += strstr(text, "\xef\xbf\xbd") != NULL;
    docq_free(text);
  }
  assert_true(replaced > 0); /* the model did emit bytes that are no UTF-8 */
  docq_ctx_free(c);
  docq_model_free(m);
}

/* A model whose numbers are not numbers (damaged weights: here infinite
 * token embeddings) fails, naming the file, instead of "generating" token 0
 * or noise with success. */
static void test_api__generation_refuses_nan_scores(void **state)
{
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/nan.gguf", g_dir);
  dq_gw_model_params mp;
  dq_gw_model_params_default(&mp);
  mp.embd_type = 0; /* F32 */
  mp.embd_std = INFINITY;
  assert_int_equal(dq_gw_write_model(&mp, path), 0);
  docq_model *m = NULL;
  assert_int_equal(docq_model_load(&m, path), 0);
  docq_ctx *c;
  assert_int_equal(docq_ctx_new(&c, m, 64), 0);
  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.temperature = 0;
  o.n_predict = 4;
  char *text = NULL;
  assert_int_equal(docq_generate(c, "the ab ba", &o, &text), DOCQ_ECORRUPT);
  assert_null(text);
  assert_non_null(strstr(docq_error_last()->message, "not numbers"));
  assert_non_null(strstr(docq_error_last()->message, "nan.gguf"));
  docq_ctx_free(c);
  docq_model_free(m);
}

/* Interrupting generation through the public API: docq_ctx_interrupt from
 * the token callback stops docq_generate (DOCQ_ECANCELED) before the next
 * token; the request is cleared when the next completion starts; and
 * docq_interrupt(db) stops docq_ask's model answer the same way. The model
 * is a random-weight GGUF from the test writer (its text is noise). */
typedef struct { docq_ctx *c; docq_db *db; int n; } gen_count;

static int on_token_interrupt(const char *s, size_t n, void *p)
{
  (void)s; (void)n;
  gen_count *g = p;
  if (++g->n == 3) {
    if (g->c) docq_ctx_interrupt(g->c);
    if (g->db) docq_interrupt(g->db);
  }
  return 0;
}

static int on_token_count(const char *s, size_t n, void *p)
{
  (void)s; (void)n;
  ((gen_count *)p)->n++;
  return 0;
}

/* on_token_interrupt that also keeps what was streamed */
typedef struct { gen_count g; char *buf; size_t len; } gen_keep;

static int on_token_interrupt_keep(const char *s, size_t n, void *p)
{
  gen_keep *k = p;
  if (k->len + n < 256) {
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    k->buf[k->len] = 0;
  }
  return on_token_interrupt(s, n, &k->g);
}

static void test_api__generation_interrupted(void **state)
{
  (void)state;
  docq_model *m = random_model();
  docq_ctx *c;
  assert_int_equal(docq_ctx_new(&c, m, 256), 0);
  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.temperature = 0;
  o.n_predict = 40;
  o.stop = NULL;
  gen_count g = { c, NULL, 0 };
  o.on_token = on_token_interrupt;
  o.payload = &g;
  char *text = NULL;
  assert_int_equal(docq_generate(c, "the ab ba", &o, &text), DOCQ_ECANCELED);
  assert_int_equal(g.n, 3);
  assert_null(text);
  docq_gen_info gi;
  assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
  assert_int_equal(gi.stop, DOCQ_STOP_CANCELED);
  /* the next completion starts clean */
  gen_count h = { NULL, NULL, 0 };
  o.on_token = on_token_count;
  o.payload = &h;
  assert_int_equal(docq_generate(c, "the ab ba", &o, &text), 0);
  assert_true(h.n > 3);
  docq_free(text);
  docq_ctx_free(c);

  /* docq_ask with the model, interrupted through its db */
  docq_db *db = tea_db();
  docq_ask_options ao;
  greedy_ask_options(&ao, m, 40);
  gen_count k = { NULL, db, 0 };
  ao.gen.on_token = on_token_interrupt;
  ao.gen.payload = &k;
  docq_answer *a = (docq_answer *)1;
  assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), DOCQ_ECANCELED);
  assert_int_equal(k.n, 3);
  assert_non_null(strstr(docq_error_last()->message, "ask interrupted"));
  assert_null(a);

  /* keep_interrupted: the same stop is a result, the answer as far as it
   * got (exactly the 3 pieces streamed) with its passages */
  char streamed[256] = "";
  ao.keep_interrupted = 1;
  ao.gen.on_token = on_token_interrupt_keep;
  gen_keep kk = { { NULL, db, 0 }, streamed, 0 };
  ao.gen.payload = &kk;
  assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), 0);
  assert_non_null(a);
  assert_int_equal(kk.g.n, 3);
  assert_string_equal(docq_answer_text(a), streamed);
  assert_true(strlen(streamed) > 0);
  assert_true(docq_answer_passages(a) > 0);
  for (size_t i = 0; i < docq_answer_citations(a); i++) { /* a model's markers: for passages it was given */
    const docq_passage *cp = docq_answer_passage(a, (size_t)docq_answer_citation(a, i) - 1);
    assert_non_null(cp);
    uint32_t l1 = 0, l2 = 0; /* its text is no quote: the passage's lines */
    assert_int_equal(docq_answer_citation_lines(a, i, &l1, &l2), 0);
    assert_int_equal(l1, cp->hit->line_first);
    assert_int_equal(l2, cp->hit->line_last);
  }
  assert_int_equal(docq_answer_generation(a, &gi), 0);
  assert_int_equal(gi.stop, DOCQ_STOP_CANCELED);
  assert_int_equal(gi.generated_tokens, 3);
  /* what the model read: docq's system message and the packed prompt in it */
  assert_non_null(strstr(docq_answer_model_prompt(a), "You answer questions using only the numbered passages"));
  assert_non_null(strstr(docq_answer_model_prompt(a), docq_answer_prompt(a)));
  docq_answer_free(a);
  docq_db_free(db);
  docq_model_free(m);
}

/* A passage that quotes a control token's text ("</s>" in the written
 * model's vocabulary) reaches the model as text: the chat prompt is
 * tokenized whole with special tokens parsed, so it is broken by U+200B
 * there (dq_tok_defuse), not read as the end of the text. */
static void test_api__ask_passage_quoting_control_token(void **state)
{
  (void)state;
  docq_model *m = random_model();
  static const char *const files[] = { "tea.txt", "Green tea is brewed at eighty degrees. A note ends with </s> here.\n" };
  docq_db *db = index_new(files, 1);
  docq_ask_options ao;
  greedy_ask_options(&ao, m, 2);
  docq_answer *a = NULL;
  assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), 0);
  assert_non_null(strstr(docq_answer_prompt(a), "ends with </s> here")); /* the packed text as written */
  const char *mp = docq_answer_model_prompt(a);
  assert_non_null(strstr(mp, "ends with <\xE2\x80\x8B/s> here"));
  assert_null(strstr(mp, "</s>"));
  docq_answer_free(a);
  docq_db_free(db);
  docq_model_free(m);
}

/* docq.h: docq_ctx_interrupt and docq_interrupt may be called from any
 * thread. Here another thread calls them while a callback of the running call
 * holds it at a known point (the first token, the first file), so the stop
 * lands at that point and the counts are exact: generation ends after that
 * token, ask's answer the same way, and indexing after that file, keeping it
 * (a second run adds only the rest). The hold and the release use relaxed
 * atomics on purpose: they order nothing, so under ThreadSanitizer (make
 * tsan) an interrupt flag written and read without atomics shows up here as
 * a data race, as it would in an application. (On x86 the store is seen at
 * once; the counts stay exact.) */
typedef struct {
  docq_ctx *c;
  docq_db *db;
  atomic_int reached; /* the callback waits here for the other thread */
  atomic_int sent;    /* the other thread has interrupted */
  int calls;
  int timed_out;
} xstop;

static void xstop_hold(xstop *x)
{
  if (++x->calls != 1) return;
  atomic_store_explicit(&x->reached, 1, memory_order_relaxed);
  for (int i = 0; i < 20000 && !atomic_load_explicit(&x->sent, memory_order_relaxed); i++) usleep(500); /* <= 10 s */
  if (!atomic_load_explicit(&x->sent, memory_order_relaxed)) x->timed_out = 1;
}

static int xstop_on_token(const char *s, size_t n, void *p)
{
  (void)s; (void)n;
  xstop_hold(p);
  return 0;
}

static void xstop_on_file(const char *path, docq_file_status st, const char *reason, void *p)
{
  (void)path; (void)reason;
  if (st == DOCQ_FILE_ADDED) xstop_hold(p);
}

static void *xstop_thread(void *p)
{
  xstop *x = p;
  for (int i = 0; i < 20000 && !atomic_load_explicit(&x->reached, memory_order_relaxed); i++) usleep(500);
  if (x->c) docq_ctx_interrupt(x->c);
  if (x->db) docq_interrupt(x->db);
  atomic_store_explicit(&x->sent, 1, memory_order_relaxed);
  return NULL;
}

static int xstop_run_generate(docq_ctx *c, const char *prompt, docq_gen_options *o, xstop *x)
{
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, xstop_thread, x), 0);
  char *text = NULL;
  int rc = docq_generate(c, prompt, o, &text);
  assert_int_equal(pthread_join(t, NULL), 0);
  docq_free(text);
  return rc;
}

/* docq_ctx_eval stops at docq_ctx_interrupt between its batches (bench -d
 * read a prompt of thousands of tokens deaf to Ctrl-C). A thread interrupts
 * without pause while a prompt of 63 batches is read, so the stop is certain
 * whatever the timing; once it stops, the same call reads the whole prompt. */
typedef struct { docq_ctx *c; atomic_int done; } hammer;
static void *hammer_thread(void *p)
{
  hammer *h = p;
  while (!atomic_load(&h->done)) { docq_ctx_interrupt(h->c); sched_yield(); }
  return NULL;
}

static void test_api__ctx_eval_interrupted(void **state)
{
  (void)state;
  docq_model *m = random_model();
  docq_ctx_options co = DOCQ_CTX_OPTIONS_INIT;
  co.n_ctx = 512;
  co.n_batch = 8;
  docq_ctx *c = NULL;
  assert_int_equal(docq_ctx_new_ext(&c, m, &co), 0);
  int32_t ids[500];
  for (int i = 0; i < 500; i++) ids[i] = 3 + i % 50;
  hammer h = { .c = c };
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, hammer_thread, &h), 0);
  int rc = docq_ctx_eval(c, ids, 500, 1, NULL);
  atomic_store(&h.done, 1);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(rc, DOCQ_ECANCELED);
  assert_non_null(strstr(docq_error_last()->message, "interrupted"));
  docq_ctx_interrupt(c); /* from before the call: cleared, as for docq_generate */
  assert_int_equal(docq_ctx_eval(c, ids, 500, 1, NULL), 0);
  docq_ctx_free(c);
  docq_model_free(m);
}

static void test_api__interrupt_from_another_thread(void **state)
{
  (void)state;
  docq_model *m = random_model();
  docq_ctx *c;
  assert_int_equal(docq_ctx_new(&c, m, 512), 0);
  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.temperature = 0;
  o.n_predict = 200;
  o.stop = NULL;
  o.n_threads = 2; /* the kernel pool runs meanwhile */
  o.on_token = xstop_on_token;
  xstop x = { .c = c };
  o.payload = &x;
  assert_int_equal(xstop_run_generate(c, "the ab ba", &o, &x), DOCQ_ECANCELED);
  assert_false(x.timed_out);
  assert_int_equal(x.calls, 1);
  docq_gen_info gi;
  assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
  assert_int_equal(gi.stop, DOCQ_STOP_CANCELED);
  docq_ctx_free(c);

  /* docq_ask's answer, stopped through its db */
  docq_db *db = tea_db();
  docq_ask_options ao;
  greedy_ask_options(&ao, m, 200);
  ao.gen.n_threads = 2;
  xstop y = { .db = db };
  ao.gen.on_token = xstop_on_token;
  ao.gen.payload = &y;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, xstop_thread, &y), 0);
  docq_answer *a = NULL;
  int rc = docq_ask(&a, db, "How hot is the water for green tea?", &ao);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(rc, DOCQ_ECANCELED);
  docq_answer_free(a);
  assert_false(y.timed_out);
  assert_int_equal(y.calls, 1);
  docq_db_free(db);
  docq_model_free(m);

  /* indexing, stopped after its first file, which stays committed */
  char src[160], idx[160];
  snprintf(src, sizeof src, "%s/more", g_dir);
  snprintf(idx, sizeof idx, "%s/more-idx", g_dir);
  assert_int_equal(mkdir(src, 0777), 0);
  for (int i = 0; i < 6; i++) {
    char name[32], text[96];
    snprintf(name, sizeof name, "f%d.txt", i);
    snprintf(text, sizeof text, "File number %d says that kettles boil water at one hundred degrees.\n", i);
    write_file(src, name, text);
  }
  assert_int_equal(docq_db_open(&db, idx, DOCQ_OPEN_CREATE), 0);
  docq_index_options io = DOCQ_INDEX_OPTIONS_INIT;
  xstop z = { .db = db };
  io.on_file = xstop_on_file;
  io.payload = &z;
  const char *paths[] = { src };
  docq_index_stats st;
  assert_int_equal(pthread_create(&t, NULL, xstop_thread, &z), 0);
  rc = docq_index_paths(db, paths, 1, &io, &st);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(rc, DOCQ_ECANCELED);
  assert_false(z.timed_out);
  assert_int_equal(z.calls, 1);
  assert_int_equal(docq_index_paths(db, paths, 1, NULL, &st), 0);
  assert_int_equal(st.added, 5);
  assert_int_equal(st.unchanged, 1);
  docq_db_free(db);
}

/* docq.h: distinct handles may be used on different threads at once. One
 * thread indexes 40 files through a writable handle while this one searches
 * the same index through a read-only handle, over and over; then all files
 * change and are indexed again (their old chunks removed, new ones added)
 * under the same searches. Every search succeeds with hits from the corpus,
 * and afterwards the reader finds each file by its new word and none by its
 * old one. make tsan runs it for races in the library's shared state (SQLite
 * is built serialized; FAISS's flat search runs on the caller's thread at
 * this size). */
typedef struct { docq_db *db; const char *src; int rc; docq_index_stats st; atomic_int done; } index_job;

static void *index_thread(void *p)
{
  index_job *j = p;
  const char *paths[] = { j->src };
  j->rc = docq_index_paths(j->db, paths, 1, NULL, &j->st);
  atomic_store(&j->done, 1);
  return NULL;
}

enum { TWO_FILES = 40 };

static void write_marked(const char *src, const char *marker)
{
  for (int i = 0; i < TWO_FILES; i++) {
    char name[32], text[200];
    snprintf(name, sizeof name, "f%02d.txt", i);
    snprintf(text, sizeof text, "Note %d: kettles boil water quickly. The marker word here is zq%d%s.\n\n"
             "A second paragraph about tea and water temperature.\n", i, i, marker);
    write_file(src, name, text);
  }
}

/* Index src through w on another thread while searching through r; returns
 * the searches that failed or named a file outside src. */
static int search_while_indexing(docq_db *w, docq_db *r, const char *src, docq_index_stats *st)
{
  index_job j = { .db = w, .src = src };
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, index_thread, &j), 0);
  docq_search_options so = DOCQ_SEARCH_OPTIONS_INIT;
  so.k = 5;
  int searches = 0, bad = 0;
  while (!atomic_load(&j.done) || searches < 3) {
    docq_results *res = NULL;
    int rc = docq_search(&res, r, "kettles boil water", &so);
    if (rc != 0) { bad++; fprintf(stderr, "search %d: rc %d %s\n", searches, rc, docq_error_last()->message); }
    for (size_t i = 0; res && i < docq_results_count(res); i++)
      if (strncmp(docq_results_get(res, i)->path, src, strlen(src)) != 0) bad++;
    docq_results_free(res);
    searches++;
  }
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(j.rc, 0);
  *st = j.st;
  return bad;
}

/* The number of files whose marker word zq<i><marker> finds them (BM25). */
static int found_by_marker(docq_db *r, const char *marker)
{
  docq_search_options so = DOCQ_SEARCH_OPTIONS_INIT;
  so.k = 1;
  so.mode = DOCQ_MODE_BM25;
  int found = 0;
  for (int i = 0; i < TWO_FILES; i += 13) {
    char q[32], want[32];
    snprintf(q, sizeof q, "zq%d%s", i, marker);
    snprintf(want, sizeof want, "/f%02d.txt", i);
    docq_results *res = NULL;
    assert_int_equal(docq_search(&res, r, q, &so), 0);
    if (docq_results_count(res) == 1) {
      const char *path = docq_results_get(res, 0)->path;
      assert_string_equal(path + strlen(path) - strlen(want), want);
      found++;
    }
    docq_results_free(res);
  }
  return found;
}

static void test_api__index_and_search_on_two_threads(void **state)
{
  (void)state;
  char src[160], idx[160];
  snprintf(src, sizeof src, "%s/two", g_dir);
  snprintf(idx, sizeof idx, "%s/two-idx", g_dir);
  assert_int_equal(mkdir(src, 0777), 0);
  write_marked(src, "word");
  docq_db *w, *r;
  assert_int_equal(docq_db_open(&w, idx, DOCQ_OPEN_CREATE), 0);
  assert_int_equal(docq_db_open(&r, idx, DOCQ_OPEN_READONLY), 0);
  docq_index_stats st;
  assert_int_equal(search_while_indexing(w, r, src, &st), 0);
  assert_int_equal(st.added, TWO_FILES);
  assert_int_equal(found_by_marker(r, "word"), 4); /* files 0, 13, 26, 39 */

  write_marked(src, "changed"); /* another size, so every file is read again */
  assert_int_equal(search_while_indexing(w, r, src, &st), 0);
  assert_int_equal(st.updated, TWO_FILES);
  assert_int_equal(found_by_marker(r, "changed"), 4);
  assert_int_equal(found_by_marker(r, "word"), 0);
  docq_db_free(r);
  docq_db_free(w);
}

/* The budget docq_ask packs under with a model: what the model's context
 * leaves after the answer and the chat template, but by default at most
 * 4096 tokens (a 32k-context model would otherwise get a prompt of every
 * retrieved passage: minutes of prefill on a laptop); a budget given in the
 * options is used as given. */
static docq_answer *ask_with(docq_db *db, const docq_model *m, unsigned budget)
{
  docq_ask_options ao;
  greedy_ask_options(&ao, m, 4);
  ao.budget_tokens = budget;
  docq_answer *a = NULL;
  assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), 0);
  return a;
}

/* docq_ask_options.chat_template: the answer is asked in the named format
 * (docq_answer_context says which; the prompt's token count changes with
 * it); an unknown name is DOCQ_EINVAL before any work. */
static void test_api__ask_chat_template(void **state)
{
  (void)state;
  docq_db *db = tea_db();
  docq_model *m = random_model();
  size_t counts[3];
  const char *names[] = { NULL, "llama3", "phi3" };
  for (int i = 0; i < 3; i++) {
    docq_ask_options ao;
    greedy_ask_options(&ao, m, 2);
    ao.chat_template = names[i];
    docq_answer *a = NULL;
    assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), 0);
    char want[64];
    snprintf(want, sizeof want, "; chat template %s", names[i] ? names[i] : "plain"); /* the writer's file has none */
    assert_non_null(strstr(docq_answer_context(a), want));
    docq_gen_info gi;
    assert_int_equal(docq_answer_generation(a, &gi), 0);
    counts[i] = gi.prompt_tokens;
    docq_answer_free(a);
  }
  assert_true(counts[0] != counts[1] && counts[1] != counts[2]);
  docq_ask_options ao;
  assert_int_equal(docq_ask_options_init(&ao, DOCQ_ASK_OPTIONS_VERSION), 0);
  ao.model = m;
  ao.chat_template = "jinja";
  docq_answer *a = NULL;
  assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), DOCQ_EINVAL);
  assert_null(a);
  assert_non_null(strstr(docq_error_last()->message, "'jinja' unknown"));
  docq_model_free(m);
  docq_db_free(db);
}

/* What a streaming callback received. */
typedef struct text_sink {
  char buf[4096];
  size_t len;
  int calls;
} text_sink;

static int sink_text(const char *s, size_t n, void *p)
{
  text_sink *k = p;
  k->calls++;
  if (k->len + n < sizeof k->buf) {
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    k->buf[k->len] = 0;
  }
  return 0;
}

/* A reasoning model's thinking (docq_ask_options.on_reasoning, version 6).
 * With a template that opens the think block in the prompt (deepseek-r1,
 * chatml-think), all the model writes before "</think>" is thinking. The
 * random test model never writes "</think>", so within n_predict its whole
 * text is thinking: it reaches on_reasoning and docq_answer_reasoning, never
 * gen.on_token or docq_answer_text, and the answer is marked unfinished.
 * With a template that opens none, nothing is taken for thinking. A
 * version-5 caller (no on_reasoning) is still answered. */
static void test_api__ask_reasoning(void **state)
{
  (void)state;
  docq_db *db = tea_db();
  docq_model *m = random_model();
  const char *names[] = { "deepseek-r1", "chatml-think", "chatml" };
  for (int i = 0; i < 3; i++) {
    docq_ask_options ao;
    greedy_ask_options(&ao, m, 8);
    assert_null(ao.on_reasoning);
    ao.chat_template = names[i];
    text_sink think = {0}, answer = {0};
    ao.on_reasoning = sink_text;
    ao.reasoning_payload = &think;
    ao.gen.on_token = sink_text;
    ao.gen.payload = &answer;
    docq_answer *a = NULL;
    assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), 0);
    char want[64];
    snprintf(want, sizeof want, "; chat template %s", names[i]);
    assert_non_null(strstr(docq_answer_context(a), want));
    docq_gen_info gi;
    assert_int_equal(docq_answer_generation(a, &gi), 0);
    assert_int_equal(gi.stop, DOCQ_STOP_LENGTH);
    if (i < 2) {
      assert_int_equal(answer.calls, 0);
      assert_string_equal(docq_answer_text(a), "");
      assert_string_equal(docq_answer_reasoning(a), think.buf);
      assert_int_equal(docq_answer_unfinished_reasoning(a), 1);
    } else {
      assert_int_equal(think.calls, 0);
      assert_string_equal(docq_answer_reasoning(a), "");
      assert_string_equal(docq_answer_text(a), answer.buf);
      assert_true(answer.len > 0);
      assert_int_equal(docq_answer_unfinished_reasoning(a), 0);
    }
    docq_answer_free(a);
  }
  /* which templates reason first; the writer's file has none */
  assert_string_equal(docq_model_chat_template(m), "plain");
  assert_int_equal(docq_chat_template_thinks("deepseek-r1"), 1);
  assert_int_equal(docq_chat_template_thinks("chatml-think"), 1);
  assert_int_equal(docq_chat_template_thinks("qwen3"), 0);
  assert_int_equal(docq_chat_template_thinks("deepseek"), 0);
  assert_int_equal(docq_chat_template_thinks("jinja"), 0);
  assert_int_equal(docq_chat_template_thinks(NULL), 0);
  {
    /* a file whose template opens the block: recognized and described */
    char path[160];
    snprintf(path, sizeof path, "%s/r1.gguf", g_dir);
    dq_gw_model_params mp;
    dq_gw_model_params_default(&mp);
    dq_gw *w;
    assert_int_equal(dq_gw_model(&w, &mp), 0);
    assert_int_equal(dq_gw_add_str(w, "tokenizer.chat_template",
                                   "{{'<\uff5cUser\uff5c>' + c}}{{'<\uff5cAssistant\uff5c><think>\\n'}}"), 0);
    assert_int_equal(dq_gw_write_file(w, path), 0);
    dq_gw_free(w);
    docq_model *r1 = NULL;
    assert_int_equal(docq_model_load(&r1, path), 0);
    assert_string_equal(docq_model_chat_template(r1), "deepseek-r1");
    char *d = docq_model_describe(r1);
    assert_non_null(strstr(d, "chat template: deepseek-r1 (the model reasons before it answers)\n"));
    docq_free(d);
    docq_model_free(r1);
    /* a template docq does not know is named as such: the format in use is a
     * fallback (it read "plain", as for a file without one) */
    assert_int_equal(dq_gw_model(&w, &mp), 0);
    assert_int_equal(dq_gw_add_str(w, "tokenizer.chat_template", "{% for m in messages %}<<{{ m.content }}>>{% endfor %}"), 0);
    assert_int_equal(dq_gw_write_file(w, path), 0);
    dq_gw_free(w);
    assert_int_equal(docq_model_load(&r1, path), 0);
    d = docq_model_describe(r1);
    assert_non_null(strstr(d, "chat template: plain (a fallback: the file's template is not one docq knows"));
    docq_free(d);
    docq_model_free(r1);
  }
  /* a version-5 caller's struct ends before on_reasoning */
  const size_t v5_size = offsetof(docq_ask_options, on_reasoning);
  docq_ask_options *v5 = malloc(v5_size);
  assert_non_null(v5);
  assert_int_equal(docq_ask_options_init(v5, 5), 0);
  docq_ask_options tmp;
  memcpy(&tmp, v5, v5_size);
  tmp.model = m;
  tmp.gen.temperature = 0;
  tmp.gen.n_predict = 2;
  tmp.chat_template = "deepseek-r1";
  memcpy(v5, &tmp, v5_size);
  docq_answer *a = NULL;
  assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", v5), 0);
  assert_int_equal(docq_answer_unfinished_reasoning(a), 1);
  docq_answer_free(a);
  free(v5);
  docq_model_free(m);
  docq_db_free(db);
}

/* docq_db_set_answer_model / docq_db_answer_model: recorded absolute, kept
 * across opens, forgotten with NULL; a missing file, a read-only index and a
 * short buffer are refused. */
static void test_api__answer_model_setting(void **state)
{
  (void)state;
  docq_db *db = tea_db();
  char got[PATH_MAX], want[PATH_MAX], rel[PATH_MAX + 8];
  assert_int_equal(docq_db_answer_model(db, got, sizeof got), 0);
  assert_string_equal(got, "");
  docq_model_free(random_model()); /* writes g_dir/m.gguf */
  snprintf(want, sizeof want, "%s/m.gguf", g_dir);
  char cwd[PATH_MAX];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(g_dir), 0);
  snprintf(rel, sizeof rel, "./m.gguf");
  assert_int_equal(docq_db_set_answer_model(db, rel), 0); /* relative: stored absolute */
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(docq_db_answer_model(db, got, sizeof got), 0);
  char real[PATH_MAX];
  assert_non_null(realpath(want, real));
  assert_string_equal(got, real);
  char tiny[4];
  assert_int_equal(docq_db_answer_model(db, tiny, sizeof tiny), DOCQ_EINVAL);
  snprintf(rel, sizeof rel, "%s/missing.gguf", g_dir);
  assert_int_equal(docq_db_set_answer_model(db, rel), DOCQ_ENOTFOUND);
  assert_int_equal(docq_db_set_answer_model(db, g_dir), DOCQ_EINVAL); /* a folder */
  docq_db_free(db);

  char idx[128];
  snprintf(idx, sizeof idx, "%s/idx", g_dir);
  assert_int_equal(docq_db_open(&db, idx, DOCQ_OPEN_READONLY), 0);
  assert_int_equal(docq_db_answer_model(db, got, sizeof got), 0);
  assert_string_equal(got, real); /* kept across opens */
  assert_int_equal(docq_db_set_answer_model(db, NULL), DOCQ_EINVAL); /* read-only */
  docq_db_free(db);
  assert_int_equal(docq_db_open(&db, idx, 0), 0);
  assert_int_equal(docq_db_set_answer_model(db, NULL), 0);
  assert_int_equal(docq_db_answer_model(db, got, sizeof got), 0);
  assert_string_equal(got, "");
  docq_db_free(db);
}

static void test_api__ask_budget_from_model(void **state)
{
  (void)state;
  docq_db *db = tea_db();
  const int ctxs[] = { 32768, 2048 };
  for (int i = 0; i < 2; i++) {
    char model_path[128];
    snprintf(model_path, sizeof model_path, "%s/ctx%d.gguf", g_dir, ctxs[i]);
    dq_gw_model_params mp;
    dq_gw_model_params_default(&mp);
    mp.n_ctx = ctxs[i];
    mp.seed = 5;
    assert_int_equal(dq_gw_write_model(&mp, model_path), 0);
    docq_model *m;
    assert_int_equal(docq_model_load(&m, model_path), 0);
    docq_answer *a = ask_with(db, m, 0);
    if (ctxs[i] == 32768) assert_int_equal(docq_answer_budget(a), 4096);
    else assert_true(docq_answer_budget(a) > 1024 && docq_answer_budget(a) < 2048 - 4); /* the context minus answer and template */
    assert_true(docq_answer_prompt_tokens(a) <= docq_answer_budget(a));
    /* the model's answer ended at n_predict (4; random weights rarely end a text sooner) */
    docq_gen_info gi;
    assert_int_equal(docq_answer_generation(a, &gi), 0);
    assert_true((gi.stop == DOCQ_STOP_LENGTH && gi.generated_tokens == 4) ||
                (gi.stop == DOCQ_STOP_EOS && gi.generated_tokens < 4));
    assert_true(gi.prompt_tokens > docq_answer_prompt_tokens(a)); /* the passages, plus question and template */
    docq_answer_free(a);
    if (ctxs[i] == 32768) { /* asked for: more than the default */
      a = ask_with(db, m, 6000);
      assert_int_equal(docq_answer_budget(a), 6000);
      docq_answer_free(a);
    }
    docq_model_free(m);
  }
  docq_db_free(db);
}

/* The text of an answer not found, as docq.h says for docq_answer_text:
 * "" when nothing relevant was found (extractive); a sentence when passages
 * were found but none fits the budget (with or without a model); with a
 * model, "No passage ..." when nothing was retrieved. */
static void test_api__answer_not_found_text(void **state)
{
  (void)state;
  docq_db *db = tea_db();
  docq_model *m = random_model();
  for (int with_model = 0; with_model < 2; with_model++) {
    docq_ask_options ao;
    greedy_ask_options(&ao, with_model ? m : NULL, 2);
    docq_answer *a = NULL;
    if (!with_model) { /* retrieved, but no sentence answers */
      assert_int_equal(docq_ask(&a, db, "Who painted the ceiling of the chapel?", &ao), 0);
      assert_false(docq_answer_found(a));
      assert_string_equal(docq_answer_text(a), "");
      docq_answer_free(a);
    }
    ao.search.path_prefix = "/no/such/folder"; /* nothing retrieved */
    assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), 0);
    assert_false(docq_answer_found(a));
    assert_int_equal(docq_answer_passages(a), 0);
    assert_string_equal(docq_answer_text(a), with_model ? "No passage in the index answers this question." : "");
    docq_answer_free(a);
    ao.search.path_prefix = NULL;
    ao.budget_tokens = 1; /* found, but none fits */
    assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), 0);
    assert_false(docq_answer_found(a));
    size_t left = 0;
    docq_answer_left_out(a, &left, NULL);
    assert_true(docq_answer_passages(a) == 0 && left > 0);
    assert_non_null(strstr(docq_answer_text(a), "passages found fits the 1-token budget beside the question"));
    assert_int_equal(strncmp(docq_answer_text(a), "None of the ", 12), 0);
    docq_answer_free(a);
  }
  docq_model_free(m);
  docq_db_free(db);
}

/* gen.n_predict 0 is the default answer length for docq_ask: the context
 * is sized for 256 tokens and up to 256 are generated, not none. */
static void test_api__ask_default_answer_length(void **state)
{
  (void)state;
  docq_db *db = tea_db();
  docq_model *m = random_model();
  unsigned budget[2];
  for (int i = 0; i < 2; i++) {
    docq_ask_options ao;
    greedy_ask_options(&ao, m, i ? 256 : 0);
    docq_answer *a = NULL;
    assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), 0);
    budget[i] = docq_answer_budget(a);
    docq_gen_info gi;
    assert_int_equal(docq_answer_generation(a, &gi), 0);
    assert_true(gi.generated_tokens > 0);
    assert_true((gi.stop == DOCQ_STOP_LENGTH && gi.generated_tokens == 256) || gi.stop == DOCQ_STOP_EOS);
    docq_answer_free(a);
  }
  assert_int_equal(budget[0], budget[1]);
  docq_model_free(m);
  docq_db_free(db);
}

/* docq_model_load_info: a model whose weights docq cannot run (here its
 * output matrix is IQ2_XXS) is refused by docq_model_load, but loads for
 * description and tokenizing; whoever asks it to generate is told why. */
static void test_api__model_load_info(void **state)
{
  (void)state;
  char ok_path[128], bad_path[128];
  snprintf(ok_path, sizeof ok_path, "%s/ok.gguf", g_dir);
  snprintf(bad_path, sizeof bad_path, "%s/iq2.gguf", g_dir);
  dq_gw_model_params mp;
  dq_gw_model_params_default(&mp);
  mp.n_embd = 256;
  mp.n_ff = 512;
  mp.tied_embeddings = 1;
  assert_int_equal(dq_gw_write_model(&mp, ok_path), 0);
  dq_gw *w;
  assert_int_equal(dq_gw_model(&w, &mp), 0);
  const int64_t ne[2] = {mp.n_embd, mp.n_vocab};
  assert_int_equal(dq_gw_add_tensor(w, "output.weight", DQ_T_IQ2_XXS, 2, ne, NULL), 0);
  assert_int_equal(dq_gw_write_file(w, bad_path), 0);
  dq_gw_free(w);
  const char *why = "tensor 'output.weight' has type iq2_xxs, which docq does not support";

  docq_model *ok, *bad = (docq_model *)1;
  assert_int_equal(docq_model_load(&bad, bad_path), DOCQ_EUNSUPPORTED);
  assert_null(bad);
  assert_non_null(strstr(docq_error_last()->message, why));
  assert_int_equal(docq_model_load_info(&bad, bad_path), 0);
  assert_int_equal(docq_model_load(&ok, ok_path), 0);

  /* why, and what the file holds */
  assert_null(docq_model_run_error(ok));
  const char *err = docq_model_run_error(bad);
  assert_non_null(err);
  assert_non_null(strstr(err, bad_path));
  assert_non_null(strstr(err, why));
  docq_model_meta meta;
  assert_int_equal(docq_model_get_meta(bad, &meta), 0);
  assert_int_equal(meta.has_weights, 0);
  assert_int_equal(meta.n_vocab, mp.n_vocab);
  assert_int_equal(meta.n_ctx_train, mp.n_ctx);
  char *d = docq_model_describe(bad);
  assert_non_null(d);
  char want[256];
  snprintf(want, sizeof want, "cannot run:    %s\n", why);
  if (!strstr(d, want) || !strstr(d, "docq cannot run this model") || !strstr(d, "iq2_xxs (") ||
      !strstr(d, "layers:        2\n") || !strstr(d, "embedding:     256 (feed-forward 512)\n"))
    fail_msg("description of an unrunnable model:\n%s", d);
  docq_free(d);

  /* its tokenizer is the file's */
  const char *text = "the cat sat";
  int32_t a[64], b[64];
  long na = docq_tokenize(ok, text, strlen(text), 1, a, 64), nb = docq_tokenize(bad, text, strlen(text), 1, b, 64);
  assert_true(na > 2 && na <= 64);
  assert_int_equal(nb, na);
  assert_memory_equal(a, b, (size_t)na * sizeof *a);

  /* generating is refused with the reason, at every door */
  docq_ctx *c = (docq_ctx *)1;
  assert_int_equal(docq_ctx_new(&c, bad, 0), DOCQ_EUNSUPPORTED);
  assert_null(c);
  assert_string_equal(docq_error_last()->message, err);
  docq_ctx_options co;
  assert_int_equal(docq_ctx_options_init(&co, DOCQ_CTX_OPTIONS_VERSION), 0);
  assert_int_equal(docq_ctx_options_fit(bad, 100, &co, NULL, 0), DOCQ_EUNSUPPORTED);
  docq_db *db = tea_db();
  docq_ask_options ao;
  assert_int_equal(docq_ask_options_init(&ao, DOCQ_ASK_OPTIONS_VERSION), 0);
  ao.model = bad;
  docq_answer *ans = NULL;
  assert_int_equal(docq_ask(&ans, db, "How hot is the water for green tea?", &ao), DOCQ_EUNSUPPORTED);
  assert_null(ans);
  assert_non_null(strstr(docq_error_last()->message, why));
  /* as the counting tokenizer of an extractive answer it serves */
  ao.model = NULL;
  ao.tokenizer = bad;
  assert_int_equal(docq_ask(&ans, db, "How hot is the water for green tea?", &ao), 0);
  assert_true(docq_answer_prompt_tokens(ans) > 0);
  docq_answer_free(ans);
  docq_db_free(db);

  /* a tokenizer docq lacks (here 't5'): refused by docq_model_load; described
   * by docq_model_load_info, and tokenizing and generating say why not */
  char t5_path[128];
  snprintf(t5_path, sizeof t5_path, "%s/t5.gguf", g_dir);
  dq_gw_model_params tp = mp;
  tp.tokenizer_model = "t5";
  assert_int_equal(dq_gw_write_model(&tp, t5_path), 0);
  docq_model *t5 = (docq_model *)1;
  assert_int_equal(docq_model_load(&t5, t5_path), DOCQ_EUNSUPPORTED);
  assert_null(t5);
  const char *twhy = "tokenizer model 't5' not supported";
  assert_non_null(strstr(docq_error_last()->message, twhy));
  assert_int_equal(docq_model_load_info(&t5, t5_path), 0);
  assert_non_null(docq_model_run_error(t5));
  assert_non_null(strstr(docq_model_run_error(t5), twhy));
  d = docq_model_describe(t5);
  assert_non_null(d);
  snprintf(want, sizeof want, "tokenizer:     cannot be read: %s", twhy);
  if (!strstr(d, want) || !strstr(d, "layers:        2\n")) fail_msg("description with a t5 tokenizer:\n%s", d);
  docq_free(d);
  assert_int_equal(docq_tokenize(t5, text, strlen(text), 1, a, 64), DOCQ_EUNSUPPORTED);
  assert_non_null(strstr(docq_error_last()->message, twhy));
  assert_int_equal(docq_ctx_new(&c, t5, 0), DOCQ_EUNSUPPORTED);
  assert_non_null(strstr(docq_error_last()->message, twhy));
  docq_model_free(t5);

  /* a runnable file loads the same either way */
  docq_model *ok2;
  assert_int_equal(docq_model_load_info(&ok2, ok_path), 0);
  assert_null(docq_model_run_error(ok2));
  char *d1 = docq_model_describe(ok), *d2 = docq_model_describe(ok2);
  assert_string_equal(d1, d2);
  docq_free(d1);
  docq_free(d2);
  docq_model_free(ok2);
  docq_model_free(ok);
  docq_model_free(bad);
}

/* docq_ctx_set_prompt_progress and docq_ask_options.on_prompt, as docq.h
 * states them: called before each batch of the prompt (first with done = 0)
 * and once with done = total, the prompt's token count, before any token of
 * the answer; non-zero cancels with DOCQ_ECANCELED. */
typedef struct {
  size_t calls, last_done, total;
  int bad_order;      /* done went down, total changed, or a call came after a token */
  int tokens;         /* on_token calls */
  size_t cancel_at;   /* return 1 at this call (1-based); 0: never */
} prompt_seen;

static int on_prompt_seen(size_t done, size_t total, void *p)
{
  prompt_seen *s = p;
  if (s->tokens || (s->calls && (done < s->last_done || total != s->total)) || (!s->calls && done != 0)) s->bad_order = 1;
  s->calls++;
  s->last_done = done;
  s->total = total;
  return s->cancel_at && s->calls == s->cancel_at;
}

static int on_token_seen(const char *t, size_t n, void *p)
{
  (void)t; (void)n;
  ((prompt_seen *)p)->tokens++;
  return 0;
}

static void test_api__prompt_progress(void **state)
{
  (void)state;
  docq_model *m = random_model();
  char prompt[4096] = "";
  for (int i = 0; i < 150; i++) strcat(prompt, "the cab sat ");
  const long n_plain = docq_tokenize(m, prompt, strlen(prompt), 1, NULL, 0);
  assert_true(n_plain > 1200 && n_plain < 4000); /* three batches of 512 or more */
  docq_ctx *c;
  assert_int_equal(docq_ctx_new(&c, m, 4096), 0);
  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.temperature = 0;
  o.n_predict = 3;
  o.on_token = on_token_seen;
  docq_gen_info gi;

  prompt_seen s = {0};
  o.payload = &s;
  docq_ctx_set_prompt_progress(c, on_prompt_seen, &s);
  assert_int_equal(docq_generate(c, prompt, &o, NULL), 0);
  assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
  assert_int_equal(s.bad_order, 0);
  assert_int_equal(s.total, gi.prompt_tokens);
  assert_int_equal(s.total, (size_t)n_plain);
  assert_int_equal(s.last_done, s.total);
  assert_int_equal(s.calls, (s.total + 511) / 512 + 1); /* each batch of 512, then the end */
  assert_true(s.tokens > 0);

  /* cancelled in the middle, and at the very end: no token comes */
  for (size_t at = 2; at <= 2 + (s.total + 511) / 512 - 1; at += (s.total + 511) / 512 - 1) {
    prompt_seen k = {.cancel_at = at};
    o.payload = &k;
    docq_ctx_set_prompt_progress(c, on_prompt_seen, &k);
    assert_int_equal(docq_ctx_eval(c, NULL, 0, 1, NULL), 0); /* empty: the prompt is read whole again */
    assert_int_equal(docq_generate(c, prompt, &o, NULL), DOCQ_ECANCELED);
    assert_non_null(strstr(docq_error_last()->message, "prompt progress"));
    assert_int_equal(k.calls, at);
    assert_int_equal(k.tokens, 0);
    assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
    assert_int_equal(gi.stop, DOCQ_STOP_CANCELED);
    assert_int_equal(gi.generated_tokens, 0);
  }
  /* cleared: no more calls */
  prompt_seen none = {0};
  o.payload = &none;
  docq_ctx_set_prompt_progress(c, NULL, NULL);
  assert_int_equal(docq_generate(c, prompt, &o, NULL), 0);
  assert_int_equal(none.calls, 0);
  assert_true(none.tokens > 0);
  docq_ctx_free(c);

  /* docq_ask: the reading of its packed prompt, through the options */
  docq_db *db = tea_db();
  docq_ask_options ao;
  greedy_ask_options(&ao, m, 2);
  assert_null(ao.on_prompt);
  prompt_seen a = {0};
  ao.on_prompt = on_prompt_seen;
  ao.prompt_payload = &a;
  docq_answer *ans = NULL;
  assert_int_equal(docq_ask(&ans, db, "How hot is the water for green tea?", &ao), 0);
  assert_int_equal(docq_answer_generation(ans, &gi), 0);
  assert_int_equal(a.bad_order, 0);
  assert_true(a.calls >= 2);
  assert_int_equal(a.total, gi.prompt_tokens);
  assert_int_equal(a.last_done, a.total);
  docq_answer_free(ans);
  a = (prompt_seen){.cancel_at = 1};
  assert_int_equal(docq_ask(&ans, db, "How hot is the water for green tea?", &ao), DOCQ_ECANCELED);
  assert_null(ans);
  /* a version-4 caller's struct ends before on_prompt: still answered */
  const size_t v4_size = offsetof(docq_ask_options, on_prompt);
  docq_ask_options *v4 = malloc(v4_size);
  assert_non_null(v4);
  assert_int_equal(docq_ask_options_init(v4, 4), 0);
  docq_ask_options tmp; /* the fields as a version-4 caller sets them */
  memcpy(&tmp, v4, v4_size);
  tmp.model = m;
  tmp.gen.temperature = 0;
  tmp.gen.n_predict = 2;
  memcpy(v4, &tmp, v4_size);
  assert_int_equal(docq_ask(&ans, db, "How hot is the water for green tea?", v4), 0);
  assert_int_equal(docq_answer_generation(ans, &gi), 0);
  assert_true(gi.prompt_tokens > 0);
  docq_answer_free(ans);
  free(v4);
  docq_db_free(db);
  docq_model_free(m);
}

static double mono_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* docq_ctx_last_timings / docq_answer_timings: zeros before a generation;
 * then the prompt's reading and the writing, each positive, together within
 * the call's wall time; zeros again when the generation stopped in its
 * prompt; zeros for an extractive answer. */
static void test_api__timings(void **state)
{
  (void)state;
  docq_model *m = random_model();
  docq_ctx *c;
  assert_int_equal(docq_ctx_new(&c, m, 2048), 0);
  double ps = -1, gs = -1;
  assert_int_equal(docq_ctx_last_timings(c, &ps, &gs), 0);
  assert_true(ps == 0 && gs == 0);
  char prompt[8192] = "";
  for (int i = 0; i < 120; i++) strcat(prompt, "the cab sat ");
  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.temperature = 0;
  o.n_predict = 16;
  const double t0 = mono_now();
  assert_int_equal(docq_generate(c, prompt, &o, NULL), 0);
  const double wall = mono_now() - t0;
  assert_int_equal(docq_ctx_last_timings(c, &ps, &gs), 0);
  assert_true(ps > 0 && gs > 0);
  assert_true(ps + gs <= wall);
  assert_int_equal(docq_ctx_last_timings(c, NULL, NULL), 0);
  /* stopped while reading the prompt: no timings */
  prompt_seen k = {.cancel_at = 2};
  docq_ctx_set_prompt_progress(c, on_prompt_seen, &k);
  assert_int_equal(docq_ctx_eval(c, NULL, 0, 1, NULL), 0); /* empty: else the prompt's first batches are kept */
  assert_int_equal(docq_generate(c, prompt, &o, NULL), DOCQ_ECANCELED);
  assert_int_equal(docq_ctx_last_timings(c, &ps, &gs), 0);
  assert_true(ps == 0 && gs == 0);
  docq_ctx_free(c);

  docq_db *db = tea_db();
  docq_ask_options ao;
  greedy_ask_options(&ao, m, 4);
  docq_answer *a = NULL;
  assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), 0);
  assert_int_equal(docq_answer_timings(a, &ps, &gs), 0);
  assert_true(ps > 0 && gs > 0);
  docq_answer_free(a);
  ao.model = NULL; /* extractive */
  assert_int_equal(docq_ask(&a, db, "How hot is the water for green tea?", &ao), 0);
  assert_int_equal(docq_answer_timings(a, &ps, &gs), 0);
  assert_true(ps == 0 && gs == 0);
  docq_answer_free(a);
  docq_db_free(db);
  docq_model_free(m);
}

/* Truncating from the progress callback, after the first batch. */
static int cut_at_second_batch(size_t done, size_t total, void *p)
{
  (void)total;
  if (done > 0 && truncate((const char *)p, 4096) != 0) fail_msg("truncate failed");
  return 0;
}

/* Truncating from the token callback, after the first token. */
static int cut_at_first_token(const char *t, size_t n, void *p)
{
  (void)t; (void)n;
  if (truncate((const char *)p, 4096) != 0) fail_msg("truncate failed");
  return 0;
}

/* A model file cut while it is mapped (a download written over it in place,
 * cp onto it): reading the lost pages would raise SIGBUS, so generation
 * checks the file before each batch of the prompt and each token, and ends
 * with DOCQ_EIO naming the file: before the prompt, in the middle of it,
 * between tokens, and for docq_perplexity. The process lives on. */
static void test_api__model_file_cut_while_mapped(void **state)
{
  (void)state;
  char path[160];
  snprintf(path, sizeof path, "%s/cut.gguf", g_dir);
  dq_gw_model_params mp;
  dq_gw_model_params_default(&mp);
  mp.n_ctx = 4096;
  mp.seed = 5;
  assert_int_equal(dq_gw_write_model(&mp, path), 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  char prompt[8192] = "";
  for (int i = 0; i < 120; i++) strcat(prompt, "the cab sat ");
  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.temperature = 0;
  o.n_predict = 4;
  for (int where = 0; where < 4; where++) {
    assert_int_equal(dq_gw_write_model(&mp, path), 0); /* whole again */
    docq_model *m = NULL;
    assert_int_equal(docq_model_load(&m, path), 0);
    docq_ctx *c;
    assert_int_equal(docq_ctx_new(&c, m, where == 2 ? 256 : 2048), 0); /* perplexity: chunks of 256 */
    assert_int_equal(docq_generate(c, "the cab", &o, NULL), 0);
    int rc;
    if (where == 0) { /* between two generations */
      assert_int_equal(truncate(path, st.st_size / 2), 0);
      rc = docq_generate(c, "the cab", &o, NULL);
    } else if (where == 1) { /* while the prompt is read (1400 tokens: three batches) */
      docq_ctx_set_prompt_progress(c, cut_at_second_batch, path);
      rc = docq_generate(c, prompt, &o, NULL);
    } else if (where == 3) { /* between two tokens */
      docq_gen_options ot = o;
      ot.on_token = cut_at_first_token;
      ot.payload = path;
      rc = docq_generate(c, "the cab", &ot, NULL);
    } else {
      int32_t ids[600];
      long n = docq_tokenize(m, prompt, strlen(prompt), 1, ids, 600);
      assert_true(n >= 600);
      docq_ppl ppl;
      assert_int_equal(docq_perplexity(c, ids, 600, 0, NULL, NULL, &ppl), 0);
      assert_int_equal(truncate(path, 100000), 0);
      rc = docq_perplexity(c, ids, 600, 0, NULL, NULL, &ppl);
    }
    assert_int_equal(rc, DOCQ_EIO);
    assert_non_null(strstr(docq_error_last()->message, "cut.gguf: the file was cut to"));
    docq_gen_info gi;
    assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
    docq_ctx_free(c);
    docq_model_free(m);
  }
}

/* Ask `q` of the document `id` only (no model): something is found, the
 * first citation's passage is that document's, and its lines are returned
 * with docq_answer_citation_lines's result; *merged says whether the
 * passage joins several chunks. */
static int cited_lines(docq_db *db, const char *id, const char *q, uint32_t *l1, uint32_t *l2, const docq_hit **hit,
                       docq_answer **out, int *merged)
{
  docq_ask_options ao;
  assert_int_equal(docq_ask_options_init(&ao, DOCQ_ASK_OPTIONS_VERSION), 0);
  ao.search.path_prefix = id;
  ao.search.mode = DOCQ_MODE_BM25;
  assert_int_equal(docq_ask(out, db, q, &ao), 0);
  assert_true(docq_answer_found(*out));
  assert_true(docq_answer_citations(*out) >= 1);
  const docq_passage *p = docq_answer_passage(*out, (size_t)docq_answer_citation(*out, 0) - 1);
  assert_non_null(p);
  assert_string_equal(p->hit->path, id);
  *hit = p->hit;
  if (merged) *merged = p->hit->chunk_first != p->hit->chunk_last;
  return docq_answer_citation_lines(*out, 0, l1, l2);
}

/* An extractive answer cites the lines of the sentences it quotes, counted
 * in the document as written: in a passage joining two chunks, with CRLF line
 * ends, in Markdown with markup on the quoted line and a comment above it;
 * the passage's whole range where its text is not the file's (HTML). */
static void test_api__citation_lines(void **state)
{
  (void)state;
  docq_db *db;
  char path[128];
  snprintf(path, sizeof path, "%s/idx", g_dir);
  assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_CREATE), 0);

  /* 1. plain text of 90 lines in paragraphs of 5 (a blank line after each,
   * lines 6, 12, 18, ...): the answer is line 76 and 77, in the second
   * chunk of the document's passage */
  char *txt = malloc(32768);
  assert_non_null(txt);
  txt[0] = 0;
  for (int line = 1; line <= 90; line++) {
    char l[200];
    if (line % 6 == 0) snprintf(l, sizeof l, "\n");
    else if (line == 76) snprintf(l, sizeof l, "In the spring of 1887 the keeper Marta Quill painted the lighthouse\n");
    else if (line == 77) snprintf(l, sizeof l, "tower a bright shade of red.\n");
    else snprintf(l, sizeof l, "Entry %d of the harbour log records routine weather, tide heights and ferry crossings.\n", line);
    strcat(txt, l);
  }
  assert_int_equal(docq_add_document(db, "log:harbour", "Harbour log", txt, strlen(txt), "text", NULL), 0);
  /* 2. the same with CRLF line ends: the answer is lines 6-7 */
  const char *crlf = "Tide table\r\n\r\nHigh water comes twice a day.\r\nFerries wait for it.\r\n\r\n"
                     "The old beacon on the north pier was lit by the keeper\r\nRosa Vane every night until 1952.\r\n"
                     "\r\nNothing else happened.\r\n";
  assert_int_equal(docq_add_document(db, "log:crlf", NULL, crlf, strlen(crlf), "text", NULL), 0);
  /* 3. Markdown: front matter (lines 1-3), a heading (5), a comment (9) on
   * the line above the answer, link and emphasis on the quoted lines 10-11 */
  const char *md = "---\ntitle: Towers\n---\n\n# The granite tower\n\nSome words about harbours and boats.\n\n"
                   "<!-- checked in the city archive -->\n"
                   "The [granite tower](https://example.com/tower) was *built* by the\n"
                   "masons of Genoa in 1421.\n\nMore about the sea.\n";
  assert_int_equal(docq_add_document(db, "note:towers", NULL, md, strlen(md), "markdown", NULL), 0);
  /* 4. HTML: the text is extracted from the markup, its lines are not the file's */
  const char *html = "<html><head><title>Bridges</title></head><body>\n<p>Some words.</p>\n"
                     "<p>The iron bridge over the river was\nriveted by the workers of Coalbrookdale in 1779.</p>\n"
                     "<p>More words.</p>\n</body></html>\n";
  assert_int_equal(docq_add_document(db, "web:bridges", NULL, html, strlen(html), "html", NULL), 0);

  docq_answer *a;
  const docq_hit *h;
  uint32_t l1 = 0, l2 = 0;
  int merged = 0;
  assert_int_equal(cited_lines(db, "log:harbour", "Who painted the lighthouse tower red?", &l1, &l2, &h, &a, &merged), 1);
  assert_true(merged); /* a passage of two chunks or more */
  /* the quoted lines lie in a later chunk of the passage than its first:
   * the chunks on their own (no merging) say where each starts */
  docq_search_options so = DOCQ_SEARCH_OPTIONS_INIT;
  so.merge_neighbors = 0;
  so.path_prefix = "log:harbour";
  so.k = 50;
  docq_results *r;
  assert_int_equal(docq_search(&r, db, "harbour log lighthouse", &so), 0);
  int later = 0;
  for (size_t i = 0; i < docq_results_count(r); i++) {
    const docq_hit *c = docq_results_get(r, i);
    if (c->line_first <= 76 && c->line_last >= 77 && c->chunk_first > h->chunk_first && c->chunk_first <= h->chunk_last &&
        c->line_first > h->line_first)
      later = 1;
  }
  docq_results_free(r);
  assert_true(later);
  assert_int_equal(l1, 76);
  assert_int_equal(l2, 77);
  /* the passage's range stays on the hit */
  assert_true(h->line_last - h->line_first > 30);
  assert_int_equal(docq_answer_citation_lines(a, docq_answer_citations(a), &l1, &l2), DOCQ_EINVAL);
  assert_int_equal(l1, 0);
  assert_int_equal(l2, 0);
  assert_int_equal(docq_answer_citation_lines(NULL, 0, NULL, NULL), DOCQ_EINVAL);
  docq_answer_free(a);

  assert_int_equal(cited_lines(db, "log:crlf", "Who lit the old beacon on the north pier?", &l1, &l2, &h, &a, NULL), 1);
  assert_int_equal(l1, 6);
  assert_int_equal(l2, 7);
  docq_answer_free(a);

  assert_int_equal(cited_lines(db, "note:towers", "Who built the granite tower?", &l1, &l2, &h, &a, NULL), 1);
  assert_non_null(strstr(docq_answer_text(a), "masons of Genoa"));
  assert_int_equal(l1, 10);
  assert_int_equal(l2, 11);
  docq_answer_free(a);

  assert_int_equal(cited_lines(db, "web:bridges", "Who riveted the iron bridge over the river?", &l1, &l2, &h, &a, NULL), 0);
  assert_non_null(strstr(docq_answer_text(a), "Coalbrookdale"));
  assert_int_equal(l1, h->line_first);
  assert_int_equal(l2, h->line_last);
  docq_answer_free(a);
  free(txt);
  docq_db_free(db);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_api__versions_and_errors),
    cmocka_unit_test_setup_teardown(test_api__documents_from_memory, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__citation_lines, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__old_builtin_embedder_reencoded, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__mentions, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__search_options_versions, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__file_deleted_mid_index, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__file_replaced_by_fifo_mid_index, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__interrupt_while_removing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__generation_interrupted, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__interrupt_from_another_thread, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__ctx_eval_interrupted, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__index_and_search_on_two_threads, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__generation_stop_reasons, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__generation_refuses_stop_not_utf8, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__ctx_options_versions, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__options_out_of_range, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__generation_streams_valid_utf8, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__generation_refuses_nan_scores, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__model_shared_by_threads, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__ask_budget_from_model, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__ask_default_answer_length, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__answer_not_found_text, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__ask_chat_template, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__ask_passage_quoting_control_token, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__ask_reasoning, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__timings, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__model_file_cut_while_mapped, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__answer_model_setting, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__model_load_info, setup, teardown),
    cmocka_unit_test_setup_teardown(test_api__prompt_progress, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
