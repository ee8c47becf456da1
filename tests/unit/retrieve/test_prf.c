/* Tests for src/retrieve/prf.c (RM3 feedback re-ranking BM25 candidates), over a
 * real store: the words that co-occur with the query in the best chunks lift a
 * candidate that shares them above one that does not; the result is the same
 * candidates, best first; nothing changes when there is nothing to learn from
 * (fewer than two candidates, a query with no terms); of two chunks with the
 * same words, proximity puts first the one that keeps the query's words side
 * by side, and, when they are too far apart for that, the one that keeps
 * them in one sentence; for a "when" question, the one whose best sentence
 * also holds a year (indexer/qtype.h); hostile or broken query text is just
 * text. */
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

#include "retrieve/prf.h"
#include "store/store.h"
#include "util/err.h"
#include "tmpdir.h"

#define OK(expr) do { int rc_ = (expr); if (rc_ != 0) fail_msg("%s -> %d: %s", #expr, rc_, dq_err_msg()); } while (0)

typedef struct fx {
  char dir[256];
  dq_store *s;
  int64_t top, with_beta, without_beta, far, near, split, together, dated, undated;
} fx;

/* One single-chunk document; returns its chunk id. No vectors (dim 0). */
static int64_t put(fx *f, const char *path, const char *text)
{
  dq_chunk c = { 0 };
  c.text = (char *)text;
  c.text_len = strlen(text);
  c.clean = c.text;
  c.clean_len = c.text_len;
  c.section = "";
  c.line_first = 1;
  c.line_last = 1;
  dq_doc_row row = { 0 };
  row.path = (char *)path;
  row.title = (char *)path;
  snprintf(row.hash, sizeof row.hash, "%064zx", strlen(path) * 7919 + strlen(text));
  row.size = c.text_len;
  OK(dq_store_begin(f->s));
  OK(dq_store_put_doc(f->s, &row, &c, 1, NULL));
  OK(dq_store_commit(f->s));
  dq_doc_row d = { 0 };
  OK(dq_store_doc_by_path(f->s, path, &d));
  dq_chunk_row cr = { 0 };
  OK(dq_store_chunk_at(f->s, d.id, 0, &cr));
  int64_t id = cr.id;
  dq_chunk_row_clear(&cr);
  dq_doc_row_clear(&d);
  return id;
}

static int setup(void **state)
{
  fx *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/docq-prf-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  rmdir(f->dir);
  if (dq_store_open(&f->s, f->dir, DQ_STORE_CREATE)) return -1;
  dq_manifest m = { 0 };
  snprintf(m.embedder, sizeof m.embedder, "none");
  m.chunk_tokens = 256;
  if (dq_store_set_manifest(f->s, &m)) return -1;
  /* The best match for "glacier" talks about moraine. Of two weaker matches,
   * one shares that word and one has "harbor" instead (as rare: in two
   * chunks each); the first is a word longer, so plain BM25 puts it second. */
  f->top = put(f, "/top.txt", "glacier glacier glacier moraine moraine moraine");
  f->without_beta = put(f, "/plain.txt", "glacier harbor cold north valley stone river");
  f->with_beta = put(f, "/shares.txt", "glacier moraine cold north valley stone river the");
  /* The same words (the same BM25), once with basalt and obsidian side by
   * side and once six terms apart; the scattered one goes in first. */
  f->far = put(f, "/far.txt", "basalt one two three four five obsidian six");
  f->near = put(f, "/near.txt", "basalt obsidian one two three four five six");
  /* The same words again, granite and schist seven terms apart (beyond
   * proximity's window) in one sentence, or split by a full stop. */
  f->split = put(f, "/split.txt", "granite one two three. Four five six schist.");
  f->together = put(f, "/together.txt", "granite one two three four five six schist.");
  /* The same words once more; the sentence holding "lighthouse keeper
   * opened" also holds the year in one, while the other has it in its
   * second sentence. */
  f->undated = put(f, "/undated.txt", "Our lighthouse keeper opened. A quiet harbor town in 1874.");
  f->dated = put(f, "/dated.txt", "Our lighthouse keeper opened in 1874. A quiet harbor town.");
  /* Filler, so that the words above are rare (a high idf) in this index. */
  char path[64], text[128];
  for (int i = 0; i < 40; i++) {
    snprintf(path, sizeof path, "/filler/%02d.txt", i);
    snprintf(text, sizeof text, "filler page %d about %s rain sun wind and cloud %d", i, i ? "weather" : "harbor", i * 7);
    put(f, path, text);
  }
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  fx *f = *state;
  dq_store_close(f->s);
  dq_test_rm_dir(f->dir);
  free(f);
  return 0;
}

static int rank_of(const dq_scored *c, size_t n, int64_t id)
{
  for (size_t i = 0; i < n; i++)
    if (c[i].chunk_id == id) return (int)i;
  return -1;
}

static void test_retrieve_prf__cooccurring_words_lift_a_candidate(void **state)
{
  fx *f = *state;
  dq_scored c[16];
  size_t n = 0;
  OK(dq_store_bm25(f->s, "glacier", 16, c, &n));
  assert_int_equal(n, 3);
  assert_int_equal(c[0].chunk_id, f->top);
  assert_true(rank_of(c, n, f->without_beta) < rank_of(c, n, f->with_beta)); /* plain BM25 */
  OK(dq_prf_rerank(f->s, "glacier", c, n, DQ_RERANK_RM3));
  assert_int_equal(n, 3);
  assert_int_equal(c[0].chunk_id, f->top);
  assert_true(rank_of(c, n, f->with_beta) < rank_of(c, n, f->without_beta)); /* moraine, learnt from the best match, counted */
}

static void test_retrieve_prf__same_candidates_best_first(void **state)
{
  fx *f = *state;
  static const char *qs[] = { "filler weather", "glacier rain", "cloud 7 page" };
  for (size_t q = 0; q < sizeof qs / sizeof *qs; q++) {
    dq_scored c[64], before[64];
    size_t n = 0;
    OK(dq_store_bm25(f->s, qs[q], 64, c, &n));
    assert_true(n >= 2);
    memcpy(before, c, n * sizeof *c);
    OK(dq_prf_rerank(f->s, qs[q], c, n, DQ_RERANK_RM3));
    for (size_t i = 0; i < n; i++) {
      assert_true(rank_of(before, n, c[i].chunk_id) >= 0);
      if (i) assert_true(c[i - 1].score >= c[i].score);
    }
    for (size_t i = 0; i < n; i++) assert_true(rank_of(c, n, before[i].chunk_id) >= 0);
  }
}

static void test_retrieve_prf__nothing_to_learn_changes_nothing(void **state)
{
  fx *f = *state;
  dq_scored c[4] = { { 7, 3.0 }, { 5, 2.0 }, { 9, 1.0 }, { 1, 0.5 } }, want[4];
  memcpy(want, c, sizeof c);
  OK(dq_prf_rerank(f->s, "glacier", c, 1, DQ_RERANK_RM3)); /* one candidate */
  OK(dq_prf_rerank(f->s, "glacier", c, 0, DQ_RERANK_RM3));
  OK(dq_prf_rerank(f->s, "", c, 4, DQ_RERANK_RM3));        /* no query terms */
  OK(dq_prf_rerank(f->s, "  ...  !!", c, 4, DQ_RERANK_RM3));
  assert_memory_equal(c, want, sizeof c);
}

/* The two chunks BM25 ties on `query` come out with `want` first, clearly. */
static void proximity_breaks_tie(fx *f, const char *query, int64_t want)
{
  dq_scored c[16];
  size_t n = 0;
  OK(dq_store_bm25(f->s, query, 16, c, &n));
  assert_int_equal(n, 2);
  assert_float_equal(c[0].score, c[1].score, 1e-9); /* BM25 cannot tell them apart */
  OK(dq_prf_rerank(f->s, query, c, n, DQ_RERANK_PROXIMITY));
  assert_int_equal(c[0].chunk_id, want);
  assert_true(c[0].score > c[1].score + 0.1);
}

static void test_retrieve_prf__proximity_lifts_words_side_by_side(void **state)
{
  fx *f = *state;
  proximity_breaks_tie(f, "basalt obsidian", f->near);
  /* too far apart to be near, but in one sentence */
  proximity_breaks_tie(f, "granite schist", f->together);
  /* a one-word query has no pair: nothing moves */
  dq_scored d[4] = { { 7, 3.0 }, { 5, 2.0 }, { 9, 1.0 }, { 1, 0.5 } }, want[4];
  memcpy(want, d, sizeof d);
  OK(dq_prf_rerank(f->s, "basalt", d, 4, DQ_RERANK_PROXIMITY));
  assert_memory_equal(d, want, sizeof d);
}

static void test_retrieve_prf__answer_type_lifts_the_sentence_holding_one(void **state)
{
  fx *f = *state;
  proximity_breaks_tie(f, "When was our lighthouse keeper opened?", f->dated);
  /* a question that asks for no type: the two stay tied */
  dq_scored c[16];
  size_t n = 0;
  OK(dq_store_bm25(f->s, "Why was our lighthouse keeper opened?", 16, c, &n));
  assert_int_equal(n, 2);
  OK(dq_prf_rerank(f->s, "Why was our lighthouse keeper opened?", c, n, DQ_RERANK_PROXIMITY));
  assert_float_equal(c[0].score, c[1].score, 1e-9);
}

static void test_retrieve_prf__hostile_text_is_words(void **state)
{
  fx *f = *state;
  static const char *qs[] = { "\"glacier", "NEAR(glacier moraine)", "glacier AND OR NOT", "glacier* ^moraine:",
                              "glacier \xff\xfe moraine", "glacier \xe2\x82" };
  for (size_t q = 0; q < sizeof qs / sizeof *qs; q++) {
    dq_scored c[64];
    size_t n = 0;
    OK(dq_store_bm25(f->s, qs[q], 64, c, &n));
    OK(dq_prf_rerank(f->s, qs[q], c, n, DQ_RERANK_RM3 | DQ_RERANK_PROXIMITY));
    assert_true(n >= 1);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_retrieve_prf__cooccurring_words_lift_a_candidate),
    cmocka_unit_test(test_retrieve_prf__same_candidates_best_first),
    cmocka_unit_test(test_retrieve_prf__nothing_to_learn_changes_nothing),
    cmocka_unit_test(test_retrieve_prf__proximity_lifts_words_side_by_side),
    cmocka_unit_test(test_retrieve_prf__answer_type_lifts_the_sentence_holding_one),
    cmocka_unit_test(test_retrieve_prf__hostile_text_is_words),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
