/* Tests for indexer/normalize.c: UTF-8 repair (maximal subparts), NFKC +
 * case folding, term segmentation (words, CJK bigrams, offsets, Latin
 * diacritics folded while other scripts keep their marks). Expected values come from the Unicode standard's examples
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

/* The terms of s must be want[0..n), from the source byte ranges
 * [start[i], end[i]) unless start is NULL. */
static void expect_terms_at(const char *s, const char *const *want, const size_t *start, const size_t *end, int n)
{
  collected c = {0};
  assert_int_equal(dq_terms(s, strlen(s), collect, &c), 0);
  if (c.n != n) fail_msg("'%s': %d terms, want %d (first '%s')", s, c.n, n, c.n ? c.terms[0] : "");
  for (int i = 0; i < n; i++) {
    if (strcmp(c.terms[i], want[i])) fail_msg("'%s': term %d is '%s', want '%s'", s, i, c.terms[i], want[i]);
    if (start && (c.start[i] != start[i] || c.end[i] != end[i]))
      fail_msg("'%s': term %d from [%zu, %zu), want [%zu, %zu)", s, i, c.start[i], c.end[i], start[i], end[i]);
  }
}

static void expect_terms(const char *s, const char *const *want, int n)
{
  expect_terms_at(s, want, NULL, NULL, n);
}

static void expect_term(const char *s, const char *want)
{
  expect_terms(s, &want, 1);
}

static void test_indexer_normalize__terms_fold_latin_diacritics(void **state)
{
  (void)state;
  /* Latin words lose their diacritics (NFKD without marks), then plain ASCII
   * words are stemmed like English ones */
  expect_term("G\xC3\xB3mez", "gomez");
  expect_term("na\xC3\xAFve", "naiv");                     /* naive -> naiv */
  expect_term("CAF\xC3\x89S", "cafe");                      /* cafes -> cafe */
  expect_term("\xEF\xAC\x81nding", "find");                 /* U+FB01 ligature: finding */
  expect_term("e\xEF\xAC\x80ort", "effort");                /* U+FB00 ligature */
  expect_term("Stra\xC3\x9F" "e", "strass");                /* sz folds to ss: strasse */
  expect_term("Go\xCC\x81mez", "gomez");                    /* decomposed: o + U+0301 */
  expect_term("Nguy\xE1\xBB\x85n", "nguyen");               /* two marks on one letter */
  expect_term("Dvo\xC5\x99\xC3\xA1k", "dvorak");
  expect_term("Caf\xC3\xA9" "2", "cafe2");                  /* digits belong to the word */
  /* letters without a decomposition stay; the word is then not ASCII: not stemmed */
  expect_term("S\xC3\xB8nderg\xC3\xA5rds", "s\xC3\xB8ndergards");
  /* the same terms as the plain spelling */
  const char *want[] = { "gomez", "naiv", "cafe", "find" };
  expect_terms("gomez naive cafes finding", want, 4);
  expect_terms("G\xC3\x93MEZ, NA\xC3\x8FVE; caf\xC3\xA9s (\xEF\xAC\x81nding)", want, 4);
}

/* NFKC makes fullwidth letters (a Chinese input method's fullwidth mode) and
 * other compatibility forms plain ASCII: such a word is then stemmed as the
 * ASCII spelling is, or it never meets it ("slots" -> "slot"). */
static void test_indexer_normalize__terms_fullwidth_as_ascii(void **state)
{
  (void)state;
  expect_term("\xEF\xBD\x93\xEF\xBD\x8C\xEF\xBD\x8F\xEF\xBD\x94\xEF\xBD\x93", "slot");         /* ｓｌｏｔｓ */
  expect_term("\xEF\xBC\xB3\xEF\xBD\x8C\xEF\xBD\x8F\xEF\xBD\x94\xEF\xBD\x93", "slot");         /* Ｓｌｏｔｓ */
  expect_term("componen\xEF\xBD\x94s", "compon");                                                         /* componenｔs */
  expect_term("\xEF\xBD\x83\xEF\xBD\x81\xEF\xBD\x86\xC3\xA9\xEF\xBD\x93", "cafe");               /* ｃａｆéｓ */
  expect_term("\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x96", "2026");                         /* ２０２６ */
  expect_term("\xF0\x9D\x90\xAC\xF0\x9D\x90\xA5\xF0\x9D\x90\xA8\xF0\x9D\x90\xAD\xF0\x9D\x90\xAC", "slot"); /* bold 𝐬𝐥𝐨𝐭𝐬 */
  const char *want[] = { "compon", "pass", "fragment" };
  expect_terms("Components pass fragments", want, 3);
  expect_terms("\xEF\xBC\xA3\xEF\xBD\x8F\xEF\xBD\x8D\xEF\xBD\x90\xEF\xBD\x8F\xEF\xBD\x8E\xEF\xBD\x85\xEF\xBD\x8E\xEF\xBD\x94\xEF\xBD\x93 "
               "\xEF\xBD\x90\xEF\xBD\x81\xEF\xBD\x93\xEF\xBD\x93 "
               "\xEF\xBD\x86\xEF\xBD\x92\xEF\xBD\x81\xEF\xBD\x87\xEF\xBD\x8D\xEF\xBD\x85\xEF\xBD\x8E\xEF\xBD\x94\xEF\xBD\x93",
               want, 3);
}

static void test_indexer_normalize__terms_folded_offsets(void **state)
{
  (void)state;
  /* offsets stay those of the source text, composed or decomposed */
  const char *want[] = { "senor", "gomez", "y", "gomez" };
  const size_t start[] = { 0, 7, 14, 16 }, end[] = { 6, 13, 15, 23 };
  expect_terms_at("Se\xC3\xB1or G\xC3\xB3mez y Go\xCC\x81mez", want, start, end, 4);
}

static void test_indexer_normalize__terms_other_scripts_keep_marks(void **state)
{
  (void)state;
  expect_term("\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0", "\xD0\xBC\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0"); /* Москва -> москва */
  expect_term("\xD0\x81\xD0\xBB\xD0\xBA\xD0\xB0", "\xD1\x91\xD0\xBB\xD0\xBA\xD0\xB0");                               /* Ёлка -> ёлка, not елка */
  expect_term("\xD0\x99\xD0\xBE\xD0\xB3", "\xD0\xB9\xD0\xBE\xD0\xB3");                                               /* Йог -> йог, not иог */
  expect_term("\xCE\x91\xCE\xB8\xCE\xAE\xCE\xBD\xCE\xB1", "\xCE\xB1\xCE\xB8\xCE\xAE\xCE\xBD\xCE\xB1");               /* Αθήνα -> αθήνα (tonos kept) */
  /* Devanagari हिंदी: vowel signs and anusvara are marks */
  expect_term("\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\x82\xE0\xA4\xA6\xE0\xA5\x80", "\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\x82\xE0\xA4\xA6\xE0\xA5\x80");
  /* Thai ที่: ท + sara ii + mai ek */
  expect_term("\xE0\xB8\x97\xE0\xB8\xB5\xE0\xB9\x88", "\xE0\xB8\x97\xE0\xB8\xB5\xE0\xB9\x88");
  /* Arabic كَتَبَ with fathas */
  expect_term("\xD9\x83\xD9\x8E\xD8\xAA\xD9\x8E\xD8\xA8\xD9\x8E", "\xD9\x83\xD9\x8E\xD8\xAA\xD9\x8E\xD8\xA8\xD9\x8E");
  /* a word mixing Latin and Cyrillic letters is not only Latin: marks kept */
  expect_term("G\xC3\xB3mez\xD0\xB4", "g\xC3\xB3mez\xD0\xB4");
  /* CJK unchanged: the katakana ガギ (voiced marks) stay one composed bigram */
  expect_term("\xE3\x82\xAC\xE3\x82\xAE", "\xE3\x82\xAC\xE3\x82\xAE");
}

static void test_indexer_normalize__terms_version_named(void **state)
{
  (void)state;
  assert_string_equal(DQ_TERMS_VERSION, "docq-terms-3");
}

/* dq_has_cjk: any Han, kana or Hangul code point, invalid bytes skipped. */
static void test_indexer_normalize__has_cjk(void **state)
{
  (void)state;
  assert_false(dq_has_cjk("caf\xC3\xA9 lighthouse", 16));
  assert_true(dq_has_cjk("the \xE7\x81\xAF", 7));            /* 灯 */
  assert_true(dq_has_cjk("\xFF\xE3\x81\x82", 4));          /* invalid byte, then あ */
  assert_true(dq_has_cjk("\xED\x95\x9C", 3));               /* 한 */
  assert_false(dq_has_cjk("\xE7\x81\xAF", 2));              /* cut short: no whole character */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_indexer_normalize__repair_maximal_subparts),
    cmocka_unit_test(test_indexer_normalize__valid_rejects_overlong_and_surrogates),
    cmocka_unit_test(test_indexer_normalize__nfkc_casefold),
    cmocka_unit_test(test_indexer_normalize__has_cjk),
    cmocka_unit_test(test_indexer_normalize__terms_words_and_offsets),
    cmocka_unit_test(test_indexer_normalize__terms_cjk_bigrams),
    cmocka_unit_test(test_indexer_normalize__terms_long_cjk_run_windows),
    cmocka_unit_test(test_indexer_normalize__terms_fold_latin_diacritics),
    cmocka_unit_test(test_indexer_normalize__terms_fullwidth_as_ascii),
    cmocka_unit_test(test_indexer_normalize__terms_folded_offsets),
    cmocka_unit_test(test_indexer_normalize__terms_other_scripts_keep_marks),
    cmocka_unit_test(test_indexer_normalize__terms_version_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
