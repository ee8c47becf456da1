/* Tests for indexer/sentence.c: sentence splitting (English abbreviations,
 * decimals, blank lines and list lines, Chinese 。！？ with closing quotes). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "indexer/sentence.h"

typedef struct sents { char s[16][160]; int n; const char *t; } sents;

static int collect(void *ctx, size_t a, size_t b)
{
  sents *s = ctx;
  if (s->n < 16 && b - a < 160) { memcpy(s->s[s->n], s->t + a, b - a); s->s[s->n][b - a] = 0; }
  s->n++;
  return 0;
}

static void test_indexer_sentence__english_and_chinese(void **state)
{
  (void)state;
  sents s = { .t = "Dr. Smith paid 3.50 dollars. J. R. R. Tolkien wrote it!  Did he?\n\nNew paragraph\n- item one\n- item two" };
  assert_int_equal(dq_sentences(s.t, strlen(s.t), collect, &s), 0);
  assert_int_equal(s.n, 6);
  assert_string_equal(s.s[0], "Dr. Smith paid 3.50 dollars.");
  assert_string_equal(s.s[1], "J. R. R. Tolkien wrote it!");
  assert_string_equal(s.s[2], "Did he?");
  assert_string_equal(s.s[3], "New paragraph");
  assert_string_equal(s.s[4], "- item one");
  assert_string_equal(s.s[5], "- item two");
  sents z = { .t = "\xE8\xB4\xBE\xE5\xAE\x9D\xE7\x8E\x89\xE6\x9D\xA5\xE4\xBA\x86\xE3\x80\x82" /* 贾宝玉来了。 */
                   "\xE4\xBB\x96\xE8\xAF\xB4\xEF\xBC\x9A\xE2\x80\x9C\xE5\xA5\xBD\xEF\xBC\x81\xE2\x80\x9D" /* 他说：“好！” */
                   "\xE8\xB0\x81\xEF\xBC\x9F" /* 谁？ */ };
  assert_int_equal(dq_sentences(z.t, strlen(z.t), collect, &z), 0);
  assert_int_equal(z.n, 3);
  assert_string_equal(z.s[0], "\xE8\xB4\xBE\xE5\xAE\x9D\xE7\x8E\x89\xE6\x9D\xA5\xE4\xBA\x86\xE3\x80\x82");
  assert_string_equal(z.s[1], "\xE4\xBB\x96\xE8\xAF\xB4\xEF\xBC\x9A\xE2\x80\x9C\xE5\xA5\xBD\xEF\xBC\x81\xE2\x80\x9D");
}

/* A blank line ends a paragraph in a CRLF file too (every Project Gutenberg
 * book and the Chinese classics here are CRLF: a quote took in the title
 * line above it); "．" ends a Chinese sentence as "。" does (红楼梦's
 * editions), but not inside a fullwidth number. */
static void test_indexer_sentence__crlf_and_fullwidth_stop(void **state)
{
  (void)state;
  sents s = { .t = "Title line\r\n\r\nThe apple trees were pruned in March\r\nby the gardener\r\n\r\n  \r\nLast words" };
  assert_int_equal(dq_sentences(s.t, strlen(s.t), collect, &s), 0);
  assert_int_equal(s.n, 3);
  assert_string_equal(s.s[0], "Title line");
  assert_string_equal(s.s[1], "The apple trees were pruned in March\r\nby the gardener");
  assert_string_equal(s.s[2], "Last words");
  sents z = { .t = "宝玉来了\xEF\xBC\x8E黛玉笑了\xEF\xBC\x8E价格是３\xEF\xBC\x8E５元\xE3\x80\x82" };
  assert_int_equal(dq_sentences(z.t, strlen(z.t), collect, &z), 0);
  assert_int_equal(z.n, 3);
  assert_string_equal(z.s[0], "宝玉来了\xEF\xBC\x8E");
  assert_string_equal(z.s[1], "黛玉笑了\xEF\xBC\x8E");
  assert_string_equal(z.s[2], "价格是３\xEF\xBC\x8E５元\xE3\x80\x82");
}

/* Initialisms joined by dots continue a sentence (from real passages: a cut
 * there lost the answer's clause). A lower-case next word does not:
 * corpora written all in lower case (cranfield) have sentences too. */
static void test_indexer_sentence__initialisms_and_lower_case(void **state)
{
  (void)state;
  sents s = { .t = "It is listed as S.I. 2005 No. 1541 and came into force in 2006. A company of U.S. Marines "
                   "led by Lt. Greene took it back. the flow is laminar. it separates. Next one." };
  assert_int_equal(dq_sentences(s.t, strlen(s.t), collect, &s), 0);
  assert_int_equal(s.n, 5);
  assert_string_equal(s.s[0], "It is listed as S.I. 2005 No. 1541 and came into force in 2006.");
  assert_string_equal(s.s[1], "A company of U.S. Marines led by Lt. Greene took it back.");
  assert_string_equal(s.s[2], "the flow is laminar.");
  assert_string_equal(s.s[3], "it separates.");
  assert_string_equal(s.s[4], "Next one.");
}

/* Inside a quote, a line that goes on with "> " continues the paragraph
 * (it was cut at every line); an empty quote line, a list item or heading
 * inside the quote, and a callout's title line still end a unit. */
static void test_indexer_sentence__quoted_paragraphs(void **state)
{
  (void)state;
  sents s = { .t = "> [!note] Why SQLite is the source of truth\n"
                   "> The FAISS file is only a cache. It can always be rebuilt from the vectors\n"
                   "> kept in SQLite, which makes recovery simple\n"
                   ">\n"
                   "> Second paragraph of the quote\n"
                   "> - a listed point\n"
                   "\n"
                   "Outside the quote" };
  assert_int_equal(dq_sentences(s.t, strlen(s.t), collect, &s), 0);
  assert_int_equal(s.n, 7);
  assert_string_equal(s.s[0], "> [!note] Why SQLite is the source of truth");
  assert_string_equal(s.s[1], "> The FAISS file is only a cache.");
  assert_string_equal(s.s[2], "It can always be rebuilt from the vectors\n> kept in SQLite, which makes recovery simple");
  assert_string_equal(s.s[3], ">"); /* the empty quote line: nothing for a reader */
  assert_string_equal(s.s[4], "> Second paragraph of the quote");
  assert_string_equal(s.s[5], "> - a listed point");
  assert_string_equal(s.s[6], "Outside the quote");
}

static int stop_at_first(void *ctx, size_t a, size_t b)
{
  (void)a; (void)b;
  ++*(int *)ctx;
  return 7;
}

static void test_indexer_sentence__callback_stops(void **state)
{
  (void)state;
  int calls = 0;
  assert_int_equal(dq_sentences("One. Two. Three.", 16, stop_at_first, &calls), 7);
  assert_int_equal(calls, 1);
  calls = 0;
  assert_int_equal(dq_sentences("   ", 3, stop_at_first, &calls), 0); /* nothing but space: no sentence */
  assert_int_equal(calls, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_indexer_sentence__english_and_chinese),
    cmocka_unit_test(test_indexer_sentence__crlf_and_fullwidth_stop),
    cmocka_unit_test(test_indexer_sentence__quoted_paragraphs),
    cmocka_unit_test(test_indexer_sentence__initialisms_and_lower_case),
    cmocka_unit_test(test_indexer_sentence__callback_stops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
