/* The index handle through <docq.h> only: choosing the embedder (a refused
 * switch leaves the index as it was), what a failed open reports. The GGUF
 * embedding model is tiny-bert from DOCQ_SHARED_DIR/models; the cases that
 * need it are skipped without it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "docq.h"
#include "tmpdir.h"

static char g_dir[64];

static int setup(void **state)
{
  (void)state;
  return dq_test_mkdtemp(g_dir, sizeof g_dir, "db");
}

static int teardown(void **state)
{
  (void)state;
  dq_test_rm_dir(g_dir);
  return 0;
}

/* DOCQ_SHARED_DIR/models/tiny-bert-f32.gguf, or skip the test. */
static void bert_path(char *out, size_t cap)
{
  const char *d = getenv("DOCQ_SHARED_DIR");
  struct stat st;
  snprintf(out, cap, "%s/models/tiny-bert-f32.gguf", d ? d : "");
  if (!d || stat(out, &st) != 0) {
    fprintf(stderr, "no %s: skipped\n", out);
    skip();
  }
}

static void add_note(docq_db *db, const char *id, const char *text)
{
  assert_int_equal(docq_add_document(db, id, NULL, text, strlen(text), "text", NULL), 0);
}

/* The embedder the index at `path` reports after a fresh open. */
static void assert_reopens_with(const char *path, const char *embedder_prefix)
{
  docq_db *db;
  int rc = docq_db_open(&db, path, 0);
  if (rc) fprintf(stderr, "reopen: %s\n", docq_error_last()->message);
  assert_int_equal(rc, 0);
  docq_stats st;
  assert_int_equal(docq_stat(db, &st), 0);
  assert_memory_equal(st.embedder, embedder_prefix, strlen(embedder_prefix));
  assert_int_equal(docq_check(db), 0);
  docq_results *r;
  assert_int_equal(docq_search(&r, db, "lighthouse", NULL), 0);
  assert_true(docq_results_count(r) >= 1);
  docq_results_free(r);
  docq_db_free(db);
}

/* A refused switch (vectors of another embedder, no DOCQ_REEMBED) changes
 * nothing: the index opens again with its own embedder. It used to record
 * the new model's path first, and the index could not be opened again. */
static void test_db__refused_embedder_switch_changes_nothing(void **state)
{
  (void)state;
  char bert[4096], path[128];
  bert_path(bert, sizeof bert);
  for (int from_gguf = 0; from_gguf < 2; from_gguf++) {
    snprintf(path, sizeof path, "%s/idx%d", g_dir, from_gguf);
    docq_db *db;
    assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_CREATE), 0);
    if (from_gguf) assert_int_equal(docq_db_set_embedder(db, bert, 0), 0);
    add_note(db, "n:1", "A lighthouse guides ships at night with a rotating beam.");
    assert_int_equal(docq_db_set_embedder(db, from_gguf ? NULL : bert, 0), DOCQ_EMISMATCH);
    assert_int_equal(docq_error_last()->code, DOCQ_EMISMATCH);
    assert_non_null(strstr(docq_error_last()->message, "refusing to mix"));
    docq_db_free(db);
    assert_reopens_with(path, from_gguf ? "gguf:" : "docq-hash-");
  }
}

static void copy_file(const char *from, const char *to)
{
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

/* An index whose embedding model was deleted still opens, writable or
 * read-only (nothing worked on it: not status, not the re-encoding its own
 * message advised): what needs the model fails with its error naming the
 * file and the way out; statistics and a keyword search work; re-encoding
 * with another embedder brings it back. (A failed open keeps its error too:
 * freeing the half-open handle synced the vectors, which cleared it.) */
static void test_db__deleted_model_opens_without_it(void **state)
{
  (void)state;
  char bert[4096], model[128], path[128];
  bert_path(bert, sizeof bert);
  snprintf(model, sizeof model, "%s/moved-bert.gguf", g_dir);
  snprintf(path, sizeof path, "%s/idx", g_dir);
  copy_file(bert, model);
  docq_db *db;
  assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_CREATE), 0);
  assert_int_equal(docq_db_set_embedder(db, model, 0), 0);
  add_note(db, "n:1", "A lighthouse guides ships at night with a rotating beam.");
  docq_db_free(db);
  assert_int_equal(unlink(model), 0);
  const unsigned flags[] = { DOCQ_OPEN_READONLY, 0 };
  for (int i = 0; i < 2; i++) {
    assert_int_equal(docq_db_open(&db, path, flags[i]), 0);
    docq_stats st;
    assert_int_equal(docq_stat(db, &st), 0);
    assert_int_equal(st.documents, 1);
    docq_results *r = NULL;
    assert_int_equal(docq_search(&r, db, "lighthouse", NULL), DOCQ_ENOTFOUND);
    assert_null(r);
    assert_int_equal(docq_error_last()->code, DOCQ_ENOTFOUND);
    assert_non_null(strstr(docq_error_last()->message, "moved-bert.gguf, which cannot be loaded"));
    assert_non_null(strstr(docq_error_last()->message, "--reembed"));
    docq_search_options so = DOCQ_SEARCH_OPTIONS_INIT;
    so.mode = DOCQ_MODE_BM25;
    assert_int_equal(docq_search(&r, db, "lighthouse", &so), 0);
    assert_int_equal(docq_results_count(r), 1);
    docq_results_free(r);
    if (flags[i] == 0) {
      assert_int_equal(docq_db_set_embedder(db, NULL, DOCQ_REEMBED), 0);
      assert_int_equal(docq_search(&r, db, "lighthouse", NULL), 0);
      assert_int_equal(docq_results_count(r), 1);
      docq_results_free(r);
    }
    docq_db_free(db);
  }
}

/* What an older handle sees of the index another handle wrote. */
static void assert_sees_vectors(docq_db *db, const char *embedder_prefix, unsigned dim)
{
  docq_search_options so = DOCQ_SEARCH_OPTIONS_INIT;
  so.mode = DOCQ_MODE_VECTOR;
  docq_results *r;
  assert_int_equal(docq_search(&r, db, "lighthouse beam", &so), 0);
  assert_true(docq_results_count(r) >= 1);
  assert_true(docq_results_get(r, 0)->vector_rank >= 1);
  docq_results_free(r);
  int rc = docq_check(db);
  if (rc) fprintf(stderr, "check: %s\n", docq_error_last()->message);
  assert_int_equal(rc, 0);
  docq_stats st;
  assert_int_equal(docq_stat(db, &st), 0);
  assert_memory_equal(st.embedder, embedder_prefix, strlen(embedder_prefix));
  assert_int_equal(st.dim, dim);
  assert_int_equal(st.vectors, st.chunks);
}

/* A handle opened on a new, empty index (read-only, or writable and idle)
 * sees the embedder and the vectors another handle wrote later: vector
 * search, check, stat and writes. It kept the empty manifest it read at the
 * open: no vector hits, a false "a vector has the wrong size" from
 * docq_check, the built-in embedder in docq_stat, and writes refused as
 * "built with embedder ''". */
static void test_db__older_handle_sees_the_first_run(void **state)
{
  (void)state;
  char bert[4096], path[128];
  const char *d = getenv("DOCQ_SHARED_DIR");
  snprintf(bert, sizeof bert, "%s/models/tiny-bert-f32.gguf", d ? d : "");
  struct stat sb;
  const int have_bert = d && stat(bert, &sb) == 0;
  for (int i = 0; i < 4; i++) {
    const int writable = i & 1, gguf = i >> 1;
    if (gguf && !have_bert) { fprintf(stderr, "no %s: the GGUF cases skipped\n", bert); break; }
    snprintf(path, sizeof path, "%s/idx%d", g_dir, i);
    docq_db *old, *db;
    assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_CREATE), 0);
    docq_db_free(db); /* a new, empty index */
    assert_int_equal(docq_db_open(&old, path, writable ? 0 : DOCQ_OPEN_READONLY), 0);
    docq_stats st;
    assert_int_equal(docq_stat(old, &st), 0);
    assert_int_equal(st.vectors, 0);

    assert_int_equal(docq_db_open(&db, path, 0), 0);
    if (gguf) assert_int_equal(docq_db_set_embedder(db, bert, 0), 0);
    add_note(db, "n:1", "A lighthouse guides ships at night with a rotating beam.");
    add_note(db, "n:2", "Green tea wants water at eighty degrees.");
    docq_db_free(db);

    assert_sees_vectors(old, gguf ? "gguf:" : "docq-hash-", gguf ? 128 : 256);
    if (writable) {
      add_note(old, "n:3", "The keeper climbs the lighthouse stairs before dusk.");
      assert_sees_vectors(old, gguf ? "gguf:" : "docq-hash-", gguf ? 128 : 256);
    }
    docq_db_free(old);
    assert_reopens_with(path, gguf ? "gguf:" : "docq-hash-");
  }
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

/* The embedder chosen before the first run of a new index: that run's
 * chunking applies (or the defaults) and docq_stat reports it. It recorded
 * chunks of 0 tokens: a chunk size given then was refused ("built with chunks
 * of 0 tokens"), and docq_stat said 0/0 of an index chunked at the defaults. */
static void test_db__embedder_first_then_chunking(void **state)
{
  (void)state;
  char bert[4096], docs[128], path[128], file[192];
  bert_path(bert, sizeof bert);
  snprintf(docs, sizeof docs, "%s/docs", g_dir);
  assert_int_equal(mkdir(docs, 0755), 0);
  snprintf(file, sizeof file, "%s/a.txt", docs);
  write_text(file, "A lighthouse guides ships at night with a rotating beam.\n");
  const unsigned tokens[] = { 200, 0 }, overlap[] = { 20, (unsigned)-1 };
  const unsigned want_tokens[] = { 200, 560 }, want_overlap[] = { 20, 0 };
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/idx%d", g_dir, i);
    docq_db *db;
    assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_CREATE), 0);
    assert_int_equal(docq_db_set_embedder(db, bert, 0), 0);
    docq_index_options o = DOCQ_INDEX_OPTIONS_INIT;
    o.chunk_tokens = tokens[i];
    o.chunk_overlap = overlap[i];
    const char *roots[] = { docs };
    int rc = docq_index_paths(db, roots, 1, &o, NULL);
    if (rc) fprintf(stderr, "index: %s\n", docq_error_last()->message);
    assert_int_equal(rc, 0);
    docq_stats st;
    assert_int_equal(docq_stat(db, &st), 0);
    assert_int_equal(st.documents, 1);
    assert_int_equal(st.chunk_tokens, want_tokens[i]);
    assert_int_equal(st.chunk_overlap, want_overlap[i]);
    /* the next run with the same settings is fine, another size is refused */
    assert_int_equal(docq_index_paths(db, roots, 1, &o, NULL), 0);
    o.chunk_tokens = 300;
    assert_int_equal(docq_index_paths(db, roots, 1, &o, NULL), DOCQ_EMISMATCH);
    docq_db_free(db);
  }
}

/* A NULL element of the paths given to index: DOCQ_EINVAL naming it, nothing
 * indexed. It crashed (realpath(NULL)). */
static void test_db__index_paths_null_element(void **state)
{
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/idx", g_dir);
  docq_db *db;
  assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_CREATE), 0);
  const char *nul[] = { g_dir, NULL };
  assert_int_equal(docq_index_paths(db, nul, 2, NULL, NULL), DOCQ_EINVAL);
  assert_string_equal(docq_error_last()->message, "paths[1] is NULL");
  docq_stats st;
  assert_int_equal(docq_stat(db, &st), 0);
  assert_int_equal(st.documents, 0);
  docq_db_free(db);
}

typedef struct stage_log { int n; docq_progress last[5]; int calls[5]; int order_ok; int prev; } stage_log;

static int log_stage(const docq_progress *p, void *payload)
{
  stage_log *l = payload;
  assert_true(p->stage >= DOCQ_STAGE_SCAN && p->stage <= DOCQ_STAGE_DONE);
  if ((int)p->stage < l->prev) l->order_ok = 0;
  l->prev = (int)p->stage;
  l->last[p->stage] = *p;
  l->calls[p->stage]++;
  l->n++;
  return 0;
}

/* Progress reports every stage docq.h lists for an index run, in order, each
 * with its final state: SCAN with the final count, LOAD with every file done,
 * STORE, DONE. It went from SCAN (its last state never delivered) to LOAD to
 * DONE: the end of a stage was not reported, STORE only when something was
 * removed. */
static void test_db__progress_reports_each_stage(void **state)
{
  (void)state;
  char docs[128], path[128], file[192];
  snprintf(docs, sizeof docs, "%s/docs", g_dir);
  snprintf(path, sizeof path, "%s/idx", g_dir);
  assert_int_equal(mkdir(docs, 0755), 0);
  for (int i = 0; i < 3; i++) {
    snprintf(file, sizeof file, "%s/f%d.txt", docs, i);
    write_text(file, "A lighthouse guides ships at night with a rotating beam.\n");
  }
  docq_db *db;
  assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_CREATE), 0);
  for (int run = 0; run < 2; run++) { /* new files, then unchanged ones */
    stage_log l = { .order_ok = 1 };
    docq_index_options o = DOCQ_INDEX_OPTIONS_INIT;
    o.progress = log_stage;
    o.payload = &l;
    const char *roots[] = { docs };
    assert_int_equal(docq_index_paths(db, roots, 1, &o, NULL), 0);
    assert_true(l.order_ok);
    assert_int_equal(l.calls[DOCQ_STAGE_EMBED], 0); /* part of LOAD, as docq.h says */
    assert_true(l.calls[DOCQ_STAGE_SCAN] >= 1);
    assert_int_equal(l.last[DOCQ_STAGE_SCAN].files_total, 3);
    assert_true(l.calls[DOCQ_STAGE_LOAD] >= 2); /* its start and its end */
    assert_int_equal(l.last[DOCQ_STAGE_LOAD].files_done, 3);
    assert_int_equal(l.last[DOCQ_STAGE_LOAD].files_total, 3);
    assert_true(l.calls[DOCQ_STAGE_STORE] >= 2);
    assert_int_equal(l.calls[DOCQ_STAGE_DONE], 1);
    assert_int_equal(l.prev, DOCQ_STAGE_DONE);
  }
  docq_db_free(db);
}

/* A second handle in the same process that writes while the first one holds
 * the writer lock: DOCQ_EBUSY saying so. The message said "being written by
 * another docq process (pid <our own pid>)". */
static void test_db__second_handle_in_process_busy(void **state)
{
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/idx", g_dir);
  docq_db *a, *b;
  assert_int_equal(docq_db_open(&a, path, DOCQ_OPEN_CREATE), 0);
  assert_int_equal(docq_db_open(&b, path, 0), 0);
  add_note(a, "n:1", "A lighthouse guides ships at night with a rotating beam.");
  const char *t = "Green tea wants water at eighty degrees.";
  assert_int_equal(docq_add_document(b, "n:2", NULL, t, strlen(t), NULL, NULL), DOCQ_EBUSY);
  assert_non_null(strstr(docq_error_last()->message, "another handle in this process"));
  assert_null(strstr(docq_error_last()->message, "another docq process"));
  docq_db_free(a); /* the lock goes with the handle */
  add_note(b, "n:2", t);
  docq_db_free(b);
}

/* bytes_read counts the bytes read: not those of an unchanged file nor of one
 * skipped as too large. It added every file's size that was not unchanged by
 * mtime, read or not. */
static void test_db__bytes_read_counts_what_was_read(void **state)
{
  (void)state;
  char docs[128], path[128], file[192], big[2048];
  snprintf(docs, sizeof docs, "%s/docs", g_dir);
  snprintf(path, sizeof path, "%s/idx", g_dir);
  assert_int_equal(mkdir(docs, 0755), 0);
  const char *small = "A lighthouse guides ships at night with a rotating beam.\n";
  snprintf(file, sizeof file, "%s/a.txt", docs);
  write_text(file, small);
  struct timeval past[2] = { { time(NULL) - 3600, 0 }, { time(NULL) - 3600, 0 } };
  assert_int_equal(utimes(file, past), 0); /* not "racy": the next run trusts its mtime, as it would an old file */
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  snprintf(file, sizeof file, "%s/big.txt", docs);
  write_text(file, big);
  docq_db *db;
  assert_int_equal(docq_db_open(&db, path, DOCQ_OPEN_CREATE), 0);
  docq_index_options o = DOCQ_INDEX_OPTIONS_INIT;
  o.max_file_bytes = 1000;
  const char *roots[] = { docs };
  docq_index_stats st;
  assert_int_equal(docq_index_paths(db, roots, 1, &o, &st), 0);
  assert_int_equal(st.added, 1);
  assert_int_equal(st.skipped, 1);
  assert_int_equal(st.bytes_read, strlen(small));
  assert_int_equal(docq_index_paths(db, roots, 1, &o, &st), 0);
  assert_int_equal(st.unchanged, 1);
  assert_int_equal(st.bytes_read, 0);
  docq_db_free(db);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_db__refused_embedder_switch_changes_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_db__deleted_model_opens_without_it, setup, teardown),
    cmocka_unit_test_setup_teardown(test_db__older_handle_sees_the_first_run, setup, teardown),
    cmocka_unit_test_setup_teardown(test_db__embedder_first_then_chunking, setup, teardown),
    cmocka_unit_test_setup_teardown(test_db__index_paths_null_element, setup, teardown),
    cmocka_unit_test_setup_teardown(test_db__progress_reports_each_stage, setup, teardown),
    cmocka_unit_test_setup_teardown(test_db__second_handle_in_process_busy, setup, teardown),
    cmocka_unit_test_setup_teardown(test_db__bytes_read_counts_what_was_read, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
