/* Tests for src/assemble/visible.c: the text a reader of rendered Markdown
 * sees (CommonMark's rendering of links, images, code spans, raw HTML and
 * autolinks; Obsidian's [[wikilinks]]; ":::" container fences), and prose
 * that only looks like markup passing through unchanged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "assemble/assemble.h"

/* dq_md_visible(in) == want, with want_link bytes of link text (-1: any). */
static void check(const char *in, const char *want, int want_link)
{
  size_t n = strlen(in), link = 12345;
  char *out = malloc(n + 1);
  assert_non_null(out);
  size_t m = dq_md_visible(in, n, out, &link, 0);
  assert_true(m <= n);
  out[m] = 0;
  assert_string_equal(out, want);
  if (want_link >= 0) assert_int_equal((int)link, want_link);
  free(out);
}

static void test_assemble_visible__links_and_images(void **state)
{
  (void)state;
  check("More details: [Typing Props](/guide/typescript#typing-props).", "More details: Typing Props.", 12);
  check("![A diagram](img/flow.png) shows it.", "A diagram shows it.", 9);
  check("See [the spec][spec] and [x][].", "See the spec and x.", 9);
  /* a URL with one level of parentheses, as Wikipedia's */
  check("[Mercury](https://en.wikipedia.org/wiki/Mercury_(planet)) is small.", "Mercury is small.", 7);
  check("[[Tea notes]] and [[tea-2024|last year's tea]].", "Tea notes and last year's tea.", 24);
  check("![[diagram.png]]", "diagram.png", 11);
  /* a passage that starts inside a link keeps the text, not the target */
  check("Playground](https://play.vuejs.org/#eNp9U8tu2zAQ/JUFTwkSyw6aXlQ7QB85) and more.", "Playground and more.", 0);
}

/* For display, a short absolute address stays beside its link text: it may
 * be the answer ("where do I download it?"); relative targets, long ones
 * (state in base64) and image sources do not. */
static void show(const char *in, const char *want)
{
  size_t n = strlen(in);
  char out[512];
  assert_true(n < sizeof out);
  size_t m = dq_md_visible(in, n, out, NULL, 1);
  assert_true(m <= n);
  out[m] = 0;
  assert_string_equal(out, want);
}

static void test_assemble_visible__short_urls_for_display(void **state)
{
  (void)state;
  show("Get it from [the releases page](https://github.com/x/y/releases).",
       "Get it from the releases page (https://github.com/x/y/releases).");
  show("Write to [us](mailto:team@example.org) or see [the guide](/guide/intro).",
       "Write to us (mailto:team@example.org) or see the guide.");
  show("![logo](https://example.org/logo.png) Try [it](https://play.example.org/#eNqNUs2OwiAQfpWxySZ66I8mXioa97YP4LEXrNNKpEBg2tUY330pqOvJmBBgyPczP1yTb2OyocekTJirrTC0qRSejbYEB2x4LwmulQI4cOLTWbwDWKTeqkcE4I76).",
       "logo Try it.");
}

static void test_assemble_visible__html(void **state)
{
  (void)state;
  check("Typing Props <sup class=\"vt-badge ts\" /> here", "Typing Props  here", 0);
  check("a <b>bold</b> <br> move", "a bold  move", 0);
  check("x <a href=\"q?a>b\">link</a> y", "x link y", 0); /* '>' inside a quoted attribute */
  check("before <!-- a note\nover lines --> after", "before  after", 0);
  check("<VueSchoolLink href=\"x\" title=\"Free\"/>Text", "Text", 0);
  check("Mail <https://example.org/a?b=c> now", "Mail https://example.org/a?b=c now", 0);
}

static void test_assemble_visible__prose_unchanged(void **state)
{
  (void)state;
  const char *same[] = {
    "If a < b and c > d then a < d.",
    "Use x[i] for the i-th item, or [a] alone.",
    "A lone ] and [ on the line.",
    "Costs 3 < 5 <= 7; see (note).",
    "[text] (with a space) is no link.",
    "An unclosed [link](http://x.y is left as is.",
    "Plain text, 中文也一样。",
    "ratio :: 2 and a::b, and x:::y mid-line.",
    "",
  };
  for (size_t i = 0; i < sizeof same / sizeof *same; i++) check(same[i], same[i], 0);
}

static void test_assemble_visible__code_spans_kept(void **state)
{
  (void)state;
  check("Use `Map<string, T>` or `ref<T>()`.", "Use `Map<string, T>` or `ref<T>()`.", 0);
  check("Write ``[a](b)`` literally, then [c](d).", "Write ``[a](b)`` literally, then c.", 1);
  check("An odd ` backtick <b>x</b>", "An odd ` backtick x", 0);
}

static void test_assemble_visible__container_fences(void **state)
{
  (void)state;
  check(":::tip It's not recommended.", "It's not recommended.", 0);
  check("Intro.\n::: warning\nCareful.\n:::", "Intro.\nCareful.\n", 0);
}

/* Fenced code blocks, as CommonMark delimits them: "```" or "~~~" (3 or
 * more) after at most 3 spaces; closed by a fence of the same character at
 * least as long with nothing after it on its line; unclosed, to the end. */
/* Quote markers and a callout's type are drawn, not read: a bar and an
 * icon. The title and the quoted text stay; '>' inside a line is text. */
static void test_assemble_visible__quotes_and_callouts(void **state)
{
  (void)state;
  check("> [!note] Why SQLite\n> The FAISS file is a cache\n> > nested", "Why SQLite\nThe FAISS file is a cache\nnested", 0);
  check("> [!warning]- Folded title\n>\n> body", "Folded title\n\nbody", 0);
  check("  > quoted after two spaces", "quoted after two spaces", 0);
  check("[!tip] a passage cut after its quote marker", "a passage cut after its quote marker", 0);
  check("a > b and c>d stay\n x > y", "a > b and c>d stay\n x > y", 0);
  check("[!not a callout] stays", "[!not a callout] stays", 0);
}

static void test_assemble_visible__fences(void **state)
{
  (void)state;
  size_t r[4][2];
  const char *t = "Intro.\n```js\nwatch(x)\n``` not a close\n\nstill code\n```\nAfter.\n";
  assert_int_equal(dq_md_fences(t, strlen(t), r, 4), 1);
  assert_int_equal(r[0][0], 7);                         /* the "```js" line */
  assert_int_equal(r[0][1], strlen(t) - strlen("After.\n")); /* through the closing line */
  const char *u = "a\n   ~~~~\nb\n~~~\nc\n~~~~~\nd\n````\ne";
  assert_int_equal(dq_md_fences(u, strlen(u), r, 4), 2); /* "~~~" is too short to close "~~~~" */
  assert_int_equal(r[0][0], 2);
  assert_int_equal(r[0][1], strlen(u) - strlen("d\n````\ne"));
  assert_int_equal(r[1][1], strlen(u)); /* unclosed: to the end */
  assert_int_equal(dq_md_fences("``not a fence``\n    ```indented 4: no", 38, r, 4), 0);
  assert_int_equal(dq_md_fences(t, strlen(t), NULL, 0), 1); /* counting only */
}

/* Backtick runs of distinct lengths, none closed: each was searched to the
 * end of the text for a closing run, n^1.5 in all (16 MB: minutes). Runs of
 * more than 32 open no span now; 5 s is a backstop for slow machines. */
static void test_assemble_visible__unclosed_runs_fast(void **state)
{
  (void)state;
  const size_t cap = 16u << 20;
  char *s = malloc(cap), *out = malloc(cap);
  assert_non_null(s);
  assert_non_null(out);
  size_t n = 0;
  for (size_t r = 1; n + r + 1 <= cap; r++) { memset(s + n, '`', r); n += r; s[n++] = 'x'; }
  alarm(120);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t m = dq_md_visible(s, n, out, NULL, 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  alarm(0);
  double dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  print_message("%.3f s\n", dt);
  assert_true(dt < 5.0);
  assert_true(m <= n);
  free(s);
  free(out);
  /* a run longer than 32 backticks opens no code span */
  char ticks[100];
  memset(ticks, '`', 33);
  strcpy(ticks + 33, "[a](b)");
  memset(ticks + 39, '`', 33);
  ticks[72] = 0;
  char want[100];
  memset(want, '`', 33);
  strcpy(want + 33, "a");
  memset(want + 34, '`', 33);
  want[67] = 0;
  check(ticks, want, 1);
  check("``[a](b)`` stays", "``[a](b)`` stays", 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_assemble_visible__links_and_images),
    cmocka_unit_test(test_assemble_visible__short_urls_for_display),
    cmocka_unit_test(test_assemble_visible__html),
    cmocka_unit_test(test_assemble_visible__prose_unchanged),
    cmocka_unit_test(test_assemble_visible__code_spans_kept),
    cmocka_unit_test(test_assemble_visible__container_fences),
    cmocka_unit_test(test_assemble_visible__fences),
    cmocka_unit_test(test_assemble_visible__quotes_and_callouts),
    cmocka_unit_test(test_assemble_visible__unclosed_runs_fast),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
