/* The public API through <docq.h> only: options versions, errors, documents
 * from memory (add, replace, list, remove), statistics, search and ask. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "docq.h"

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
  docq_results_free(r);

  docq_answer *ans;
  assert_int_equal(docq_ask(&ans, db, "What temperature for green tea?", NULL), 0);
  assert_true(docq_answer_found(ans));
  assert_non_null(strstr(docq_answer_text(ans), "eighty"));
  assert_true(docq_answer_prompt_tokens(ans) <= docq_answer_budget(ans));
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

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_api__versions_and_errors),
    cmocka_unit_test_setup_teardown(test_api__documents_from_memory, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
