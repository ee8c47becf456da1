/* Tests for src/assemble/cite.c: the passages a model's answer cites are its
 * "[n]" markers for passages it was given, in order of first citation, and
 * never a bracket inside code it quotes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "assemble/assemble.h"

/* The labels `text` cites among n passages, as "1,3" ("" for none). */
static const char *cites(const char *text, size_t n)
{
  static char out[256];
  int labels[64];
  assert_true(n <= 64);
  long k = dq_cite_scan(text, strlen(text), n, labels);
  assert_true(k >= 0 && (size_t)k <= n);
  out[0] = 0;
  for (long i = 0; i < k; i++)
    snprintf(out + strlen(out), sizeof out - strlen(out), "%s%d", i ? "," : "", labels[i]);
  return out;
}

static void test_assemble_cite__markers_in_order(void **state)
{
  (void)state;
  assert_string_equal(cites("The index is rebuilt [2]. SQLite keeps the vectors [1][2].", 3), "2,1");
  assert_string_equal(cites("No citation here.", 3), "");
  assert_string_equal(cites("", 3), "");
  assert_string_equal(cites("[3]", 3), "3");
  /* only passages that were given: none of 0, 4 or an overlong number */
  assert_string_equal(cites("See [0], [4] and [99999999999999999999999].", 3), "");
  /* only the form the prompt asks for */
  assert_string_equal(cites("See [ 1], [1 ], [+1], [1a], [-1] and [1.", 3), "");
}

static void test_assemble_cite__not_inside_code(void **state)
{
  (void)state;
  /* a code span: an array index, not a citation */
  assert_string_equal(cites("Write `zorklist[2]` in the console [1].", 3), "1");
  assert_string_equal(cites("Use ``a[`2`]`` as shown [3].", 3), "3");
  /* an unclosed backtick is plain text */
  assert_string_equal(cites("A lone ` before [2].", 3), "2");
  /* a fenced block, closed or running to the end */
  assert_string_equal(cites("Like this [1]:\n\n```c\nargv[2] = x;\n```\n\nThen [3].", 3), "1,3");
  assert_string_equal(cites("Like this:\n\n~~~\nitems[2]\n", 3), "");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_assemble_cite__markers_in_order),
    cmocka_unit_test(test_assemble_cite__not_inside_code),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
