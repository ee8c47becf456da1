/* Tests for indexer/normalize.c: UTF-8 repair (maximal subparts), NFKC +
 * case folding, term segmentation (words, CJK bigrams, offsets) and the
 * token estimate. Expected values come from the Unicode standard's examples
 * (section 3.9, Table 3-8) and from utf8proc's documented behaviour. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/normalize.h"
#include "util/mem.h"

typedef struct { char terms[64][80]; size_t start[64], end[64]; int n; } collected;

static int collect(void *ctx, const char *t, size_t n, size_t s, size_t e)
{
  collected *c = ctx;
  if (c->n >= 64) return 1;
  assert_true(n < 80);
  memcpy(c->terms[c->n], t, n);
  c->terms[c->n][n] = 0;
  c->start[c->n] = s;
  c->end[c->n] = e;
  c->n++;
  return 0;
}

static void test_indexer_normalize__repair_maximal_subparts(void **state)
{
  (void)state;
  /* Unicode 15 Table 3-8: "61 F1 80 80 E1 80 C2 62 80 63 80 BF 64" -> a FFFD FFFD FFFD FFFD b FFFD c FFFD FFFD d */
  const char in[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  char *out; size_t n, bad;
  assert_int_equal(dq_utf8_repair(in, sizeof in - 1, &out, &n, &bad), 0);
  assert_int_equal(bad, 6); /* F1 80 80 | E1 80 | C2 | 80 | 80 | BF */
  assert_string_equal(out, "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d");
  assert_true(dq_utf8_valid(out, n));
  dq_free(out);
}

static void test_indexer_normalize__valid_rejects_overlong_and_surrogates(void **state)
{
  (void)state;
  assert_false(dq_utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
  assert_false(dq_utf8_valid("\xED\xA0\x80", 3));     /* surrogate D800 */
  assert_false(dq_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
  assert_false(dq_utf8_valid("\xE4\xB8", 2));         /* truncated */
  assert_true(dq_utf8_valid("\xE4\xB8\xAD\xF0\x9F\x98\x80", 7));
}

static void test_indexer_normalize__nfkc_casefold(void **state)
{
  (void)state;
  char *out; size_t n;
  /* fullwidth "ＡＢＣ" -> "abc"; "ﬁ" ligature -> "fi"; "Straße" -> "strasse" (full case folding) */
  assert_int_equal(dq_normalize("\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3", 9, &out, &n), 0);
  assert_string_equal(out, "abc");
  dq_free(out);
  assert_int_equal(dq_normalize("\xEF\xAC\x81le Stra\xC3\x9F" "e", 13, &out, &n), 0);
  assert_string_equal(out, "file strasse");
  dq_free(out);
  /* e + combining acute composes to U+00E9 */
  assert_int_equal(dq_normalize("Ce\xCC\x81", 4, &out, &n), 0);
  assert_string_equal(out, "c\xC3\xA9");
  dq_free(out);
}

static void test_indexer_normalize__terms_words_and_offsets(void **state)
{
  (void)state;
  collected c = {0};
  const char *s = "Hello, WORLD! FTS5 \"AND\" x*y-z don't";
  assert_int_equal(dq_terms(s, strlen(s), collect, &c), 0);
  const char *want[] = {"hello", "world", "fts5", "and", "x", "y", "z", "don", "t"};
  assert_int_equal(c.n, 9);
  for (int i = 0; i < 9; i++) assert_string_equal(c.terms[i], want[i]);
  assert_int_equal(c.start[1], 7);
  assert_int_equal(c.end[1], 12);
}

static void test_indexer_normalize__terms_cjk_bigrams(void **state)
{
  (void)state;
  collected c = {0};
  /* "中文检索 vue组件。我" -> 中文 文检 检索 | vue | 组件 | 我 */
  const char *s = "\xE4\xB8\xAD\xE6\x96\x87\xE6\xA3\x80\xE7\xB4\xA2 vue\xE7\xBB\x84\xE4\xBB\xB6\xE3\x80\x82\xE6\x88\x91";
  assert_int_equal(dq_terms(s, strlen(s), collect, &c), 0);
  assert_int_equal(c.n, 6);
  assert_string_equal(c.terms[0], "\xE4\xB8\xAD\xE6\x96\x87");
  assert_string_equal(c.terms[1], "\xE6\x96\x87\xE6\xA3\x80");
  assert_string_equal(c.terms[2], "\xE6\xA3\x80\xE7\xB4\xA2");
  assert_string_equal(c.terms[3], "vue");
  assert_string_equal(c.terms[4], "\xE7\xBB\x84\xE4\xBB\xB6");
  assert_string_equal(c.terms[5], "\xE6\x88\x91");
  assert_int_equal(c.start[1], 3);
  assert_int_equal(c.end[1], 9);
}

static int count_cb(void *ctx, const char *t, size_t n, size_t s, size_t e)
{
  (void)t; (void)n; (void)s; (void)e;
  (*(size_t *)ctx)++;
  return 0;
}

static void test_indexer_normalize__terms_long_cjk_run_windows(void **state)
{
  (void)state;
  /* 1000 CJK chars -> exactly 999 bigrams, across the internal window edges */
  size_t n = 1000 * 3;
  char *s = malloc(n);
  for (size_t i = 0; i < 1000; i++) memcpy(s + 3 * i, i % 2 ? "\xE4\xB8\xAD" : "\xE6\x96\x87", 3);
  size_t count = 0;
  assert_int_equal(dq_terms(s, n, count_cb, &count), 0);
  assert_int_equal(count, 999);
  free(s);
}

static void test_indexer_normalize__token_estimate(void **state)
{
  (void)state;
  assert_int_equal(dq_token_estimate("", 0), 0);
  assert_int_equal(dq_token_estimate("the cat", 7), 2);
  assert_int_equal(dq_token_estimate("information!", 12), 4); /* 11 bytes -> 3, '!' -> 1 */
  assert_int_equal(dq_token_estimate("\xE4\xB8\xAD\xE6\x96\x87", 6), 2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_indexer_normalize__repair_maximal_subparts),
    cmocka_unit_test(test_indexer_normalize__valid_rejects_overlong_and_surrogates),
    cmocka_unit_test(test_indexer_normalize__nfkc_casefold),
    cmocka_unit_test(test_indexer_normalize__terms_words_and_offsets),
    cmocka_unit_test(test_indexer_normalize__terms_cjk_bigrams),
    cmocka_unit_test(test_indexer_normalize__terms_long_cjk_run_windows),
    cmocka_unit_test(test_indexer_normalize__token_estimate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
