/* Tests for src/retrieve/search.c (dq_retrieve) over a real store filled by
 * hand with the built-in embedder: hostile query text is never FTS5 syntax,
 * every mode finds the right chunk, neighbouring chunks come back as one
 * span without the overlap twice, a copy of a passage in another file is
 * collapsed into also_in, the path filter applies, and the interrupt flag
 * cancels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed/embed.h"
#include "retrieve/retrieve.h"
#include "store/store.h"
#include "util/err.h"
#include "util/mem.h"
#include "tmpdir.h"

typedef struct fx { char dir[256]; dq_store *s; dq_embedder *e; } fx;

#define OK(expr) do { int rc_ = (expr); if (rc_ != 0) fail_msg("%s -> %d: %s", #expr, rc_, dq_err_msg()); } while (0)

/* A document whose chunks are texts[] (overlaps[i] leading bytes of chunk i repeat chunk i-1). */
static void put(fx *f, const char *path, const char *const *texts, const size_t *overlaps, size_t n)
{
  dq_chunk *c = calloc(n, sizeof *c);
  float *v = calloc(n * f->e->dim, sizeof *v);
  size_t *lens = calloc(n, sizeof *lens);
  for (size_t i = 0; i < n; i++) {
    c[i].ordinal = (uint32_t)i;
    c[i].text = (char *)texts[i];
    c[i].text_len = lens[i] = strlen(texts[i]);
    c[i].clean = c[i].text;
    c[i].clean_len = c[i].text_len;
    c[i].section = "";
    c[i].overlap_len = overlaps ? overlaps[i] : 0;
    c[i].line_first = (uint32_t)(10 * i + 1);
    c[i].line_last = (uint32_t)(10 * i + 12);
  }
  OK(dq_embed(f->e, texts, lens, n, 0, v));
  dq_doc_row row = { 0 };
  row.path = (char *)path;
  row.title = (char *)path;
  snprintf(row.hash, sizeof row.hash, "%064zx", strlen(path) * 7919 + n);
  row.size = 100;
  OK(dq_store_begin(f->s));
  OK(dq_store_put_doc(f->s, &row, c, n, v));
  OK(dq_store_commit(f->s));
  free(c); free(v); free(lens);
}

static const char *k_router[] = {
  "The router maps each URL to a component. ",
  "to a component. Navigation guards run before every route change and can cancel it. ",
  "Lazy loading splits each route into its own chunk so the first page loads faster.",
};
static const size_t k_router_overlap[] = { 0, 16, 0 };

static int setup(void **state)
{
  fx *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/docq-retrieve-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  rmdir(f->dir);
  if (dq_embedder_builtin(&f->e)) return -1;
  if (dq_store_open(&f->s, f->dir, DQ_STORE_CREATE)) return -1;
  dq_manifest m = { 0 };
  snprintf(m.embedder, sizeof m.embedder, "%s", f->e->id);
  m.dim = f->e->dim;
  m.chunk_tokens = 256;
  if (dq_store_set_manifest(f->s, &m)) return -1;
  put(f, "/docs/guide/router.md", k_router, k_router_overlap, 3);
  const char *state_txt[] = { "Reactive state lives in ref and reactive objects; computed properties derive from it." };
  put(f, "/docs/guide/state.md", state_txt, NULL, 1);
  const char *copy[] = { "Lazy loading splits each route into its own chunk so the first page loads faster." };
  put(f, "/mirror/router-copy.md", copy, NULL, 1);
  const char *odd[] = { "Operators AND OR NOT NEAR are words here, like quotes \" and stars * and carets ^." };
  put(f, "/notes/syntax.txt", odd, NULL, 1);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  fx *f = *state;
  dq_store_close(f->s);
  dq_embedder_free(f->e);
  dq_test_rm_dir(f->dir);
  free(f);
  return 0;
}

static dq_query_opts opts(size_t k, int mode)
{
  dq_query_opts o;
  memset(&o, 0, sizeof o);
  o.k = k;
  o.mode = mode;
  o.w_bm25 = -1;
  o.merge = 1;
  o.dedupe = 0.9;
  return o;
}

static void test_retrieve_search__hostile_queries_are_words(void **state)
{
  fx *f = *state;
  static const char *qs[] = { "\"unbalanced quotes", "NEAR(operators words)", "AND OR NOT", "syntax:stars",
                              "carets ^ * :", "(((", "-", "" };
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    for (int mode = 0; mode < 3; mode++) {
      dq_hit_rec *h = NULL;
      size_t n = 0;
      dq_query_opts o = opts(5, mode);
      int rc = dq_retrieve(f->s, f->e, qs[i], &o, &h, &n);
      if (rc) fail_msg("query '%s' mode %d: %d %s", qs[i], mode, rc, dq_err_msg());
      if (i < 5 && mode == DQ_MODE_BM25) {
        if (n < 1) fail_msg("query '%s' found nothing", qs[i]);
        assert_string_equal(h[0].path, "/notes/syntax.txt");
      }
      if (!*qs[i] || !strcmp(qs[i], "-") || !strcmp(qs[i], "(((")) assert_int_equal(n, 0);
      dq_hits_free(h, n);
    }
  }
}

static void test_retrieve_search__modes_find_and_merge(void **state)
{
  fx *f = *state;
  for (int mode = 0; mode < 3; mode++) {
    dq_hit_rec *h = NULL;
    size_t n = 0;
    dq_query_opts o = opts(3, mode);
    OK(dq_retrieve(f->s, f->e, "router component navigation guards", &o, &h, &n));
    assert_true(n >= 1);
    assert_string_equal(h[0].path, "/docs/guide/router.md");
    if (h[0].ord_first == 0 && h[0].ord_last >= 1) {
      /* chunks 0 and 1 merged: the 16-byte overlap appears once, lines united */
      const char *want = "The router maps each URL to a component. Navigation guards run before every "
                         "route change and can cancel it. ";
      assert_memory_equal(h[0].text, want, strlen(want));
      assert_int_equal(h[0].line_first, 1);
      assert_int_equal(h[0].line_last, 10 * h[0].ord_last + 12);
    }
    dq_hits_free(h, n);
  }
  /* hybrid with a deep pool: both router chunks score, so they must merge */
  dq_hit_rec *h = NULL;
  size_t n = 0;
  dq_query_opts o = opts(2, DQ_MODE_BM25);
  OK(dq_retrieve(f->s, f->e, "component guards", &o, &h, &n));
  assert_true(n >= 1);
  assert_int_equal(h[0].ord_first, 0);
  assert_int_equal(h[0].ord_last, 1);
  assert_non_null(strstr(h[0].text, "URL to a component. Navigation"));
  assert_null(strstr(h[0].text, "component. to a component"));
  dq_hits_free(h, n);
  o.merge = 0;
  OK(dq_retrieve(f->s, f->e, "component guards", &o, &h, &n));
  assert_int_equal(n, 2);
  assert_int_equal(h[0].chunk_first, h[0].chunk_last);
  dq_hits_free(h, n);
}

static void test_retrieve_search__duplicates_and_filters(void **state)
{
  fx *f = *state;
  dq_hit_rec *h = NULL;
  size_t n = 0;
  dq_query_opts o = opts(5, DQ_MODE_HYBRID);
  o.merge = 0; /* chunk against chunk (a merged span would be more than the copy) */
  OK(dq_retrieve(f->s, f->e, "lazy loading first page faster", &o, &h, &n));
  assert_true(n >= 1);
  /* the copy in /mirror is collapsed into the best hit, whichever file won */
  int found = 0;
  for (size_t i = 0; i < n; i++) {
    if (strstr(h[i].text, "Lazy loading")) {
      found++;
      assert_true(!strcmp(h[i].also_in, "/mirror/router-copy.md") || !strcmp(h[i].also_in, "/docs/guide/router.md"));
    }
  }
  assert_int_equal(found, 1);
  dq_hits_free(h, n);
  o.filter.prefix = "/mirror/";
  OK(dq_retrieve(f->s, f->e, "lazy loading first page faster", &o, &h, &n));
  assert_int_equal(n, 1);
  assert_string_equal(h[0].path, "/mirror/router-copy.md");
  assert_string_equal(h[0].also_in, "");
  dq_hits_free(h, n);
  o.filter.prefix = NULL;
  o.filter.glob = "*.txt";
  OK(dq_retrieve(f->s, f->e, "router component", &o, &h, &n));
  for (size_t i = 0; i < n; i++) assert_string_equal(h[i].path, "/notes/syntax.txt");
  dq_hits_free(h, n);
}

static void test_retrieve_search__interrupt(void **state)
{
  fx *f = *state;
  atomic_int flag = 1;
  dq_hit_rec *h = NULL;
  size_t n = 0;
  dq_query_opts o = opts(5, DQ_MODE_HYBRID);
  o.interrupt = &flag;
  assert_int_equal(dq_retrieve(f->s, f->e, "router", &o, &h, &n), DOCQ_ECANCELED);
  assert_null(h);
  assert_int_equal(n, 0);
}

/* A Chinese question's function bigrams (什么, 是什 ..., the stop list's)
 * are left out of the BM25 query: they match every question and no answer,
 * and a chunk that happens to say 什么 three times must not outrank the one
 * with the question's content word. A question of function words only keeps
 * them (else it would find nothing). */
static void test_retrieve_search__chinese_question_words(void **state)
{
  fx *f = *state;
  const char *talk[] = { "他问校长：这是什么？为什么不可以？什么时候回来？" };
  put(f, "/zh/talk.md", talk, NULL, 1);
  const char *wall[] = { "长城全长两万多公里，是古代中国北方的防御工程。" };
  put(f, "/zh/wall.md", wall, NULL, 1);
  dq_hit_rec *h = NULL;
  size_t n = 0;
  dq_query_opts o = opts(3, DQ_MODE_BM25);
  OK(dq_retrieve(f->s, f->e, "长城是什么？", &o, &h, &n));
  assert_true(n >= 1);
  assert_string_equal(h[0].path, "/zh/wall.md");
  for (size_t i = 0; i < n; i++) assert_string_not_equal(h[i].path, "/zh/talk.md");
  dq_hits_free(h, n);
  OK(dq_retrieve(f->s, f->e, "是什么？", &o, &h, &n));
  assert_true(n >= 1);
  assert_string_equal(h[0].path, "/zh/talk.md");
  dq_hits_free(h, n);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_retrieve_search__hostile_queries_are_words),
    cmocka_unit_test(test_retrieve_search__modes_find_and_merge),
    cmocka_unit_test(test_retrieve_search__duplicates_and_filters),
    cmocka_unit_test(test_retrieve_search__chinese_question_words),
    cmocka_unit_test(test_retrieve_search__interrupt),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
