/* Tests for src/assemble/snippet.c: a result's excerpt starts at the sentence
 * holding most of the query's words (as the index matches them: stems, case),
 * skips headings, marks skipped text with "... ", shows Markdown as rendered,
 * collapses white space, and stays within its byte limit without cutting a
 * character. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "assemble/assemble.h"
#include "util/mem.h"

static char *snip(const char *text, int md, const char *query, size_t max)
{
  char *out = NULL;
  assert_int_equal(dq_snippet(text, strlen(text), md, query, max, &out), 0);
  assert_non_null(out);
  return out;
}

static void test_assemble_snippet__starts_where_the_query_is(void **state)
{
  (void)state;
  const char *t = "Bread keeps for days. Rye flour ferments fast.\n\nA sourdough starter is fed with flour and water "
                  "daily. It smells sour.";
  char *s = snip(t, 0, "How do I feed a SOURDOUGH starter?", 200);
  assert_string_equal(s, "... A sourdough starter is fed with flour and water daily. It smells sour.");
  dq_free(s);
  /* stems count: "fermenting" finds "ferments" */
  s = snip(t, 0, "fermenting rye", 200);
  assert_string_equal(s, "... Rye flour ferments fast. A sourdough starter is fed with flour and water daily. It smells sour.");
  dq_free(s);
  /* no query, or none of its words: from the start */
  s = snip(t, 0, NULL, 21);
  assert_string_equal(s, "Bread keeps for days. ...");
  dq_free(s);
  s = snip(t, 0, "glaciers", 21);
  assert_string_equal(s, "Bread keeps for days. ...");
  dq_free(s);
}

static void test_assemble_snippet__headings_and_markdown(void **state)
{
  (void)state;
  const char *t = "## Props {#props}\n\nSee the [props guide](/guide/components/props#declaring) "
                  "<sup class=\"badge\" />.\nProps are declared with `defineProps()`.";
  /* the heading is skipped without "... "; the link shows its text only */
  char *s = snip(t, 1, "guide", 200);
  assert_string_equal(s, "See the props guide . Props are declared with `defineProps()`.");
  dq_free(s);
  s = snip(t, 1, "declared props", 200);
  assert_string_equal(s, "... Props are declared with `defineProps()`.");
  dq_free(s);
  /* the same bytes as plain text keep their markup */
  s = snip(t, 0, "guide", 200);
  assert_non_null(strstr(s, "[props guide](/guide/components/props#declaring)"));
  dq_free(s);
}

static void test_assemble_snippet__limit_and_characters(void **state)
{
  (void)state;
  /* 灯塔 (6 bytes) x 10: a 13-byte limit keeps two whole characters */
  const char *t = "\xE7\x81\xAF\xE5\xA1\x94\xE7\x81\xAF\xE5\xA1\x94\xE7\x81\xAF\xE5\xA1\x94\xE7\x81\xAF\xE5\xA1\x94";
  char *s = snip(t, 0, NULL, 13);
  assert_string_equal(s, "\xE7\x81\xAF\xE5\xA1\x94\xE7\x81\xAF\xE5\xA1\x94 ...");
  dq_free(s);
  s = snip("  a \n\n\t b  ", 0, NULL, 100);
  assert_string_equal(s, "a b");
  dq_free(s);
  s = snip("", 1, "x", 100);
  assert_string_equal(s, "");
  dq_free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_assemble_snippet__starts_where_the_query_is),
    cmocka_unit_test(test_assemble_snippet__headings_and_markdown),
    cmocka_unit_test(test_assemble_snippet__limit_and_characters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
