/* Tests for src/retrieve/prox.c against the BM25TP formula (Rasolofo &
 * Savoy, ECIR 2003), restricted to neighbouring query terms:
 *   TP = sum over neighbouring pairs min(idf_a, idf_b) * (k1 + 1) * acc / (K + acc),
 *   acc = sum of 1/d^2 over occurrences at most 5 terms apart,
 *   K = k1 * ((1 - b) + b * dl / avgdl), k1 = 1.2, b = 0.75.
 * Expected values are worked out by hand from that formula. Also the best
 * sentence: the most idf of distinct query terms that one sentence holds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "retrieve/prox.h"

/* Feed space-separated words as the chunk's terms ("|" ends a sentence, "|2"
 * one whose idf counts twice; the last sentence counts once). */
static void feed(dq_prox_state *st, const dq_prox_query *q, const char *words)
{
  dq_prox_begin(st);
  size_t pos = 0;
  for (const char *p = words; *p;) {
    while (*p == ' ') p++;
    const char *e = p;
    while (*e && *e != ' ') e++;
    if (*p == '|') dq_prox_sentence_end(st, q, e - p == 2 ? p[1] - '0' : 1);
    else if (e > p) dq_prox_term(st, q, p, (size_t)(e - p), pos++);
    p = e;
  }
  dq_prox_sentence_end(st, q, 1);
}

static double score_of(const dq_prox_query *q, const char *words, double dl, double avgdl)
{
  dq_prox_state st;
  feed(&st, q, words);
  return dq_prox_score(&st, q, dl, avgdl);
}

static dq_prox_query query(const char *a, double ia, const char *b, double ib, const char *c, double ic)
{
  dq_prox_query q;
  memset(&q, 0, sizeof q);
  const char *t[3] = { a, b, c };
  double idf[3] = { ia, ib, ic };
  for (int i = 0; i < 3 && t[i]; i++) {
    q.t[q.k] = t[i];
    q.n[q.k] = strlen(t[i]);
    q.idf[q.k++] = idf[i];
  }
  return q;
}

static void test_retrieve_prox__adjacent_pair_scores_min_idf(void **state)
{
  (void)state;
  dq_prox_query q = query("glacier", 2.0, "moraine", 3.0, NULL, 0);
  /* d = 1: acc = 1; dl = avgdl: K = 1.2; 2.2 * 1 / 2.2 = 1, times min idf 2 */
  assert_float_equal(score_of(&q, "glacier moraine", 10, 10), 2.0, 1e-12);
  /* either order */
  assert_float_equal(score_of(&q, "moraine glacier", 10, 10), 2.0, 1e-12);
}

static void test_retrieve_prox__distance_weighs_inverse_square(void **state)
{
  (void)state;
  dq_prox_query q = query("glacier", 2.0, "moraine", 3.0, NULL, 0);
  /* d = 2: acc = 1/4 -> 2 * 2.2 * 0.25 / 1.45 */
  assert_float_equal(score_of(&q, "glacier x moraine", 10, 10), 2.0 * 2.2 * 0.25 / 1.45, 1e-12);
  /* d = 5 still counts (1/25), d = 6 does not */
  assert_float_equal(score_of(&q, "glacier a b c d moraine", 10, 10), 2.0 * 2.2 * 0.04 / 1.24, 1e-12);
  assert_float_equal(score_of(&q, "glacier a b c d e moraine", 10, 10), 0.0, 0);
}

static void test_retrieve_prox__occurrences_accumulate_and_saturate(void **state)
{
  (void)state;
  dq_prox_query q = query("glacier", 2.0, "moraine", 3.0, NULL, 0);
  /* glacier-moraine (1) and moraine-glacier (1): acc = 2 -> 2 * 2.2 * 2 / 3.2 */
  assert_float_equal(score_of(&q, "glacier moraine glacier", 10, 10), 2.0 * 2.2 * 2 / 3.2, 1e-12);
  /* many adjacent pairs: below the (k1 + 1) * min idf ceiling */
  double s = score_of(&q, "glacier moraine glacier moraine glacier moraine glacier moraine", 10, 10);
  assert_true(s > 2.0 * 2.2 * 2 / 3.2 && s < 2.0 * 2.2);
}

static void test_retrieve_prox__only_query_neighbours_pair(void **state)
{
  (void)state;
  /* glacier and moraine are not neighbours in the query (lake stands between) */
  dq_prox_query q = query("glacier", 2.0, "lake", 1.5, "moraine", 3.0);
  assert_float_equal(score_of(&q, "glacier moraine", 10, 10), 0.0, 0);
  /* glacier-lake and lake-moraine, d = 1 each: min idf 1.5 twice */
  assert_float_equal(score_of(&q, "glacier lake moraine", 10, 10), 3.0, 1e-12);
}

static void test_retrieve_prox__length_normalizes(void **state)
{
  (void)state;
  dq_prox_query q = query("glacier", 2.0, "moraine", 3.0, NULL, 0);
  /* dl = 2 * avgdl: K = 1.2 * (0.25 + 1.5) = 2.1 -> 2 * 2.2 / 3.1 */
  assert_float_equal(score_of(&q, "glacier moraine", 20, 10), 2.0 * 2.2 / 3.1, 1e-12);
}

static void test_retrieve_prox__nothing_to_pair_scores_zero(void **state)
{
  (void)state;
  dq_prox_query one = query("glacier", 2.0, NULL, 0, NULL, 0);
  assert_float_equal(score_of(&one, "glacier glacier glacier", 10, 10), 0.0, 0);
  dq_prox_query q = query("glacier", 2.0, "moraine", 3.0, NULL, 0);
  assert_float_equal(score_of(&q, "", 10, 10), 0.0, 0);
  assert_float_equal(score_of(&q, "glacier glacier lake", 10, 10), 0.0, 0);
  assert_float_equal(score_of(&q, "glaciers moraines", 10, 10), 0.0, 0); /* whole terms only */
  assert_float_equal(score_of(&q, "glacier moraine", 10, 0), 0.0, 0);    /* empty index */
}

/* The best sentence's idf of a chunk given as words ("|" ends a sentence). */
static double best_sentence_of(const dq_prox_query *q, const char *words)
{
  dq_prox_state st;
  feed(&st, q, words);
  return st.best_sentence;
}

static void test_retrieve_prox__best_sentence_holds_most_idf(void **state)
{
  (void)state;
  dq_prox_query q = query("glacier", 2.0, "moraine", 3.0, "basalt", 1.5);
  /* sentences {glacier, moraine} = 5 and {basalt} = 1.5 */
  assert_float_equal(best_sentence_of(&q, "the glacier left a moraine | of basalt"), 5.0, 1e-12);
  /* {glacier} = 2 and {moraine, basalt} = 4.5 */
  assert_float_equal(best_sentence_of(&q, "the glacier | left a moraine of basalt"), 4.5, 1e-12);
  /* a term repeated in a sentence counts once; one sentence for all: 6.5 */
  assert_float_equal(best_sentence_of(&q, "glacier glacier moraine basalt moraine"), 6.5, 1e-12);
  /* far apart (no proximity) but in one sentence: still 5 */
  assert_float_equal(best_sentence_of(&q, "glacier a b c d e f g h moraine"), 5.0, 1e-12);
  /* no query term */
  assert_float_equal(best_sentence_of(&q, "rain | sun"), 0.0, 1e-12);
  /* a sentence's weight multiplies its idf: {glacier} x 2 = 4 < {moraine, basalt} = 4.5 */
  assert_float_equal(best_sentence_of(&q, "the glacier |2 left a moraine of basalt"), 4.5, 1e-12);
  /* {glacier, moraine} x 2 = 10 */
  assert_float_equal(best_sentence_of(&q, "the glacier left a moraine |2 of basalt"), 10.0, 1e-12);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_retrieve_prox__adjacent_pair_scores_min_idf),
    cmocka_unit_test(test_retrieve_prox__distance_weighs_inverse_square),
    cmocka_unit_test(test_retrieve_prox__occurrences_accumulate_and_saturate),
    cmocka_unit_test(test_retrieve_prox__only_query_neighbours_pair),
    cmocka_unit_test(test_retrieve_prox__length_normalizes),
    cmocka_unit_test(test_retrieve_prox__nothing_to_pair_scores_zero),
    cmocka_unit_test(test_retrieve_prox__best_sentence_holds_most_idf),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
