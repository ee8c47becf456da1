/* cli/jsonl.c from its header's contract: flat objects, one per line; string,
 * number and string-array members kept; nested values validated and skipped;
 * every escape decoded (surrogate pairs joined, a lone one U+FFFD); every
 * failure a reason naming the byte offset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cli/jsonl.h"

static int parse(const char *s, json_obj *o, char *err)
{
  err[0] = 0;
  return json_obj_parse(s, strlen(s), o, err, 256);
}

static void test_cli_jsonl__members_kept_and_skipped(void **state)
{
  (void)state;
  json_obj o;
  char err[256];
  assert_int_equal(parse(" {\"_id\": \"q1\", \"score\": -1.5e3, \"answers\": [\"a\", \"b\"], \"empty\": [],"
                         " \"meta\": {\"x\": [1, {\"y\": null}]}, \"nums\": [1, 2], \"t\": true}\r\n", &o, err), 0);
  assert_string_equal(json_obj_str(&o, "_id"), "q1");
  assert_string_equal(json_obj_str(&o, "score"), "-1.5e3");
  const json_member *a = json_obj_get(&o, "answers");
  assert_non_null(a);
  assert_int_equal(a->n_arr, 2);
  assert_string_equal(a->arr[0], "a");
  assert_string_equal(a->arr[1], "b");
  a = json_obj_get(&o, "empty");
  assert_non_null(a);
  assert_int_equal(a->n_arr, 0);
  /* nested objects and non-string arrays: validated, no value kept */
  assert_null(json_obj_str(&o, "meta"));
  assert_null(json_obj_str(&o, "nums"));
  assert_null(json_obj_get(&o, "nums") ? json_obj_get(&o, "nums")->arr : NULL);
  assert_null(json_obj_get(&o, "missing"));
  json_obj_free(&o);
}

static void test_cli_jsonl__escapes(void **state)
{
  (void)state;
  json_obj o;
  char err[256];
  assert_int_equal(parse("{\"t\": \"tab\\there \\\"q\\\" \\\\ \\/ \\n\", \"u\": \"\\u00e9\\u4e2d\\ud83d\\ude00\","
                         " \"lone\": \"a\\ud800b\\udc00\", \"nul\": \"x\\u0000y\"}", &o, err), 0);
  assert_string_equal(json_obj_str(&o, "t"), "tab\there \"q\" \\ / \n");
  assert_string_equal(json_obj_str(&o, "u"), "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"); /* é 中 😀 */
  assert_string_equal(json_obj_str(&o, "lone"), "a\xef\xbf\xbd" "b\xef\xbf\xbd");  /* U+FFFD twice */
  const json_member *m = json_obj_get(&o, "nul");
  assert_int_equal(m->str_len, 3);
  assert_memory_equal(m->str, "x\0y", 3);
  json_obj_free(&o);
}

static void test_cli_jsonl__errors_name_the_byte(void **state)
{
  (void)state;
  static const char *const bad[] = {
    "",                                   /* nothing */
    "[1]",                                /* not an object */
    "{\"a\": 1",                          /* unterminated */
    "{\"a\" 1}",                          /* no colon */
    "{\"a\": [\"x\" \"y\"]}",             /* string array without a comma (once gave no reason) */
    "{\"a\": [\"x\"",                     /* string array unterminated */
    "{\"a\": \"\\u12\"}",                 /* short \u escape */
    "{\"a\": \"\\q\"}",                   /* unknown escape */
    "{\"a\": 1} x",                       /* trailing data */
    "{\"a\": tru}",                       /* bad literal */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_obj o;
    char err[256];
    if (parse(bad[i], &o, err) == 0) fail_msg("accepted: %s", bad[i]);
    if (!strstr(err, " at byte ")) fail_msg("no offset for %s: [%s]", bad[i], err);
  }
  /* nesting is capped */
  char deep[400] = "{\"a\": ";
  for (int i = 0; i < 100; i++) strcat(deep, "[");
  for (int i = 0; i < 100; i++) strcat(deep, "]");
  strcat(deep, "}");
  json_obj o;
  char err[256];
  assert_int_equal(parse(deep, &o, err), -1);
  assert_non_null(strstr(err, "nesting too deep"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cli_jsonl__members_kept_and_skipped),
    cmocka_unit_test(test_cli_jsonl__escapes),
    cmocka_unit_test(test_cli_jsonl__errors_name_the_byte),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
