/* Tests for indexer/qtype.c: the answer type a question expects, and whether
 * a sentence holds one. (Their use: tests/unit/assemble/test_extract.c and
 * tests/unit/retrieve/test_prf.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "indexer/qtype.h"

static void test_indexer_qtype__classify(void **state)
{
  (void)state;
  static const struct { const char *q; int want; } cases[] = {
    { "When did the Normans conquer England?", DQ_QT_TIME },
    { "In what year was the treaty signed?", DQ_QT_TIME },
    { "which century saw the first printing press", DQ_QT_TIME },
    { "How many moons does Mars have?", DQ_QT_NUMBER },
    { "how long is the Nile", DQ_QT_NUMBER },
    { "What percentage of voters turned out?", DQ_QT_NUMBER },
    { "Who wrote Hamlet?", DQ_QT_NAME },
    { "To whom was the letter addressed?", DQ_QT_NAME },
    { "In what language were the classes given?", DQ_QT_NAME },
    { "Which city hosted the games?", DQ_QT_NAME },
    { "What cities hosted the games?", DQ_QT_NONE }, /* only the listed nouns */
    { "Why is the sky blue?", DQ_QT_NONE },
    { "How does photosynthesis work?", DQ_QT_NONE },
    { "What is the capital of France?", DQ_QT_NONE },
    { "sourdough starter flour", DQ_QT_NONE },
    { "", DQ_QT_NONE },
    /* 谁写了红楼梦？ / "Who is Lin Daiyu (林黛玉)?": not English -> NONE */
    { "\xE8\xB0\x81\xE5\x86\x99\xE4\xBA\x86\xE7\xBA\xA2\xE6\xA5\xBC\xE6\xA2\xA6\xEF\xBC\x9F", DQ_QT_NONE },
    { "Who is \xE6\x9E\x97\xE9\xBB\x9B\xE7\x8E\x89?", DQ_QT_NONE },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (dq_qtype(cases[i].q) != cases[i].want) fail_msg("dq_qtype(\"%s\") = %d, want %d", cases[i].q, dq_qtype(cases[i].q), cases[i].want);
}

/* in_question for the match tests: the question's only words are "hamlet" and "wrote" */
static int in_q(void *ctx, const char *w, size_t n)
{
  (void)ctx;
  char low[16];
  if (n >= sizeof low) return 0;
  for (size_t i = 0; i < n; i++) low[i] = (char)(w[i] | 0x20);
  low[n] = 0;
  return !strcmp(low, "hamlet") || !strcmp(low, "wrote");
}

static int M(int qt, const char *s) { return dq_qtype_match(qt, s, strlen(s), in_q, NULL); }

static void test_indexer_qtype__match(void **state)
{
  (void)state;
  assert_true(M(DQ_QT_TIME, "The Normans landed in 1066 at Pevensey."));
  assert_true(M(DQ_QT_TIME, "It was signed on 4 July by the delegates."));
  assert_false(M(DQ_QT_TIME, "They signed it in a great hurry, may it please you."));
  assert_false(M(DQ_QT_TIME, "Room 12 was locked."));                    /* two digits: not a year */
  assert_true(M(DQ_QT_NUMBER, "Mars has 2 moons."));
  assert_true(M(DQ_QT_NUMBER, "Mars has two small moons."));
  assert_false(M(DQ_QT_NUMBER, "Mars has small moons."));
  assert_true(M(DQ_QT_NAME, "Hamlet was written by William Shakespeare."));
  assert_false(M(DQ_QT_NAME, "Hamlet was written around then."));        /* first word, and in the question */
  assert_false(M(DQ_QT_NAME, "Many say it was Hamlet himself."));         /* the only capital is in the question */
  assert_false(M(DQ_QT_NONE, "Hamlet was written by William Shakespeare in 1600."));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_indexer_qtype__classify),
    cmocka_unit_test(test_indexer_qtype__match),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
