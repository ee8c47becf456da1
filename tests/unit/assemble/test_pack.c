/* Tests for src/assemble/order.c and pack.c: the exact edges-first
 * permutation for 1..10 passages (Liu et al. 2023), document order, and
 * packing: budget never exceeded, whole passages only, skipped passages
 * counted with the best left-out rank, labels follow rank, headers carry
 * title and path:lines, the question comes before and after the passages,
 * and the token-count hook is used. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assemble/assemble.h"
#include "indexer/normalize.h"
#include "util/mem.h"

static void test_assemble_pack__edges_first_exact(void **state)
{
  (void)state;
  /* expected 1-based ranks by position, n = 1..10 */
  static const int want[10][10] = {
    {1},
    {1, 2},
    {1, 3, 2},
    {1, 3, 4, 2},
    {1, 3, 5, 4, 2},
    {1, 3, 5, 6, 4, 2},
    {1, 3, 5, 7, 6, 4, 2},
    {1, 3, 5, 7, 8, 6, 4, 2},
    {1, 3, 5, 7, 9, 8, 6, 4, 2},
    {1, 3, 5, 7, 9, 10, 8, 6, 4, 2},
  };
  size_t perm[10];
  for (size_t n = 1; n <= 10; n++) {
    dq_order_edges(n, perm);
    for (size_t i = 0; i < n; i++) assert_int_equal((int)perm[i] + 1, want[n - 1][i]);
  }
  dq_order_edges(0, perm); /* no-op */
  dq_order_relevance(4, perm);
  for (size_t i = 0; i < 4; i++) assert_int_equal(perm[i], i);
}

static void test_assemble_pack__document_order(void **state)
{
  (void)state;
  dq_pack_item it[4] = {
    { .path = "b.md", .line_first = 30 },
    { .path = "a.md", .line_first = 50 },
    { .path = "b.md", .line_first = 2 },
    { .path = "a.md", .line_first = 7 },
  };
  size_t ranks[4] = { 0, 1, 2, 3 }, perm[4];
  assert_int_equal(dq_order_document(it, ranks, 4, perm), 0);
  assert_int_equal(perm[0], 3); /* a.md:7 */
  assert_int_equal(perm[1], 1); /* a.md:50 */
  assert_int_equal(perm[2], 2); /* b.md:2 */
  assert_int_equal(perm[3], 0); /* b.md:30 */
}

/* A passage of `words` words of 7 lower-case letters, 2 estimated tokens
 * each ("wcbxaje ": tag and index spelled in letters, as digits cost more). */
static char *text_of(int words, int tag)
{
  char *t = malloc((size_t)words * 12 + 1);
  size_t n = 0;
  for (int i = 0; i < words; i++) {
    int k = i % 1000;
    n += (size_t)sprintf(t + n, "w%c%cx%c%c%c ", 'a' + tag / 10 % 10, 'a' + tag % 10, 'a' + k / 100, 'a' + k / 10 % 10,
                         'a' + k % 10);
  }
  t[n] = 0;
  return t;
}

static void test_assemble_pack__budget_and_left_out(void **state)
{
  (void)state;
  /* sizes (in words) by rank: big ones that cannot all fit */
  int words[6] = { 100, 400, 100, 60, 500, 10 };
  dq_pack_item it[6];
  char *texts[6];
  char path[6][32], title[6][32];
  for (int i = 0; i < 6; i++) {
    texts[i] = text_of(words[i], i);
    snprintf(path[i], sizeof path[i], "docs/f%d.md", i);
    snprintf(title[i], sizeof title[i], "Title %d", i);
    it[i] = (dq_pack_item){ title[i], path[i], texts[i], strlen(texts[i]), (uint32_t)(10 * i + 1), (uint32_t)(10 * i + 9), 0 };
  }
  const char *q = "which passages fit?";
  for (unsigned budget = 100; budget <= 4000; budget += 150) {
    dq_packed p;
    dq_pack_opts o = { budget, DQ_ORDER_EDGES, NULL, NULL };
    assert_int_equal(dq_pack(q, it, 6, &o, &p), 0);
    size_t counted = dq_token_estimate(p.prompt, strlen(p.prompt));
    assert_int_equal(counted, p.prompt_tokens);
    assert_true(p.prompt_tokens <= budget);
    assert_int_equal(p.n + p.left_out, 6); /* nothing silently dropped */
    /* packed in rank order; each packed passage appears whole, with its header */
    unsigned sum = 0;
    int first_left = 0;
    size_t j = 0;
    for (size_t i = 0; i < 6; i++) {
      if (j < p.n && p.item[j] == i) {
        char head[96];
        snprintf(head, sizeof head, "[%zu] Title %zu \xE2\x80\x94 docs/f%zu.md:%zu-%zu\n", j + 1, i, i, 10 * i + 1, 10 * i + 9);
        const char *h = strstr(p.prompt, head);
        assert_non_null(h);
        assert_memory_equal(h + strlen(head), texts[i], strlen(texts[i]) - 1); /* trailing space trimmed */
        sum += p.tokens[j];
        j++;
      } else if (!first_left) first_left = (int)i + 1;
    }
    assert_int_equal(j, p.n);
    assert_int_equal(p.best_left_rank, first_left);
    assert_true(sum <= p.prompt_tokens);
    /* question first and last */
    assert_non_null(strstr(p.prompt, "Question: which passages fit?\n"));
    const char *tail = "Question: which passages fit?\nAnswer:";
    assert_string_equal(p.prompt + strlen(p.prompt) - strlen(tail), tail);
    /* positions are a permutation following edges-first */
    size_t perm[6];
    dq_order_edges(p.n, perm);
    for (size_t pos = 0; pos < p.n; pos++) assert_int_equal(p.pos[perm[pos]], pos);
    dq_packed_free(&p);
  }
  for (int i = 0; i < 6; i++) free(texts[i]);
}

static void test_assemble_pack__skip_then_smaller(void **state)
{
  (void)state;
  char *a = text_of(50, 1), *b = text_of(600, 2), *c = text_of(40, 3);
  dq_pack_item it[3] = {
    { "A", "a.md", a, strlen(a), 1, 5, 0 },
    { "B", "b.md", b, strlen(b), 1, 50, 0 },
    { "C", "c.md", c, strlen(c), 3, 4, 0 },
  };
  dq_packed p;
  dq_pack_opts o = { 600, DQ_ORDER_RELEVANCE, NULL, NULL };
  assert_int_equal(dq_pack("q?", it, 3, &o, &p), 0);
  assert_int_equal(p.n, 2);
  assert_int_equal(p.item[0], 0);
  assert_int_equal(p.item[1], 2); /* B skipped, C (rank 3) labelled [2] */
  assert_int_equal(p.left_out, 1);
  assert_int_equal(p.best_left_rank, 2);
  assert_non_null(strstr(p.prompt, "[2] C \xE2\x80\x94 c.md:3-4\n"));
  assert_null(strstr(p.prompt, "b.md"));
  dq_packed_free(&p);
  /* a budget below the question alone: nothing packed, everything counted */
  o.budget = 3;
  assert_int_equal(dq_pack("a question that is longer than three tokens", it, 3, &o, &p), 0);
  assert_int_equal(p.n, 0);
  assert_int_equal(p.left_out, 3);
  assert_int_equal(p.best_left_rank, 1);
  dq_packed_free(&p);
  free(a); free(b); free(c);
}

/* A counter that charges one token per byte: the hook must be used. */
static size_t per_byte(void *ctx, const char *s, size_t n)
{
  (void)s;
  (*(int *)ctx)++;
  return n;
}

static void test_assemble_pack__count_hook(void **state)
{
  (void)state;
  char *a = text_of(30, 1);
  dq_pack_item it[2] = { { "A", "a.md", a, strlen(a), 1, 2, 0 }, { "B", "b.md", "short text", 10, 1, 1, 0 } };
  int calls = 0;
  dq_packed p;
  dq_pack_opts o = { 200, DQ_ORDER_EDGES, per_byte, &calls };
  assert_int_equal(dq_pack("q?", it, 2, &o, &p), 0);
  assert_true(calls > 0);
  assert_int_equal(p.prompt_tokens, strlen(p.prompt));
  assert_true(p.prompt_tokens <= 200);
  assert_int_equal(p.n, 1); /* the 300-byte passage does not fit in 200 "tokens" */
  assert_int_equal(p.item[0], 1);
  assert_int_equal(p.best_left_rank, 1);
  dq_packed_free(&p);
  free(a);
}

/* A passage that opens with its document's title (a heading, or the title
 * line the eval sets put first) is headed by its path alone; a title that is
 * only a prefix of the first line is still named. */
static void test_assemble_pack__title_not_repeated(void **state)
{
  (void)state;
  const char *t1 = "# Setup\nInstall it first.", *t2 = "Setup\n\nbody", *t3 = "Setup guide\nbody";
  dq_pack_item it[3] = {
    { "Setup", "a.md", t1, strlen(t1), 1, 2, 0 },
    { "Setup", "b.txt", t2, strlen(t2), 1, 3, 0 },
    { "Setup", "c.md", t3, strlen(t3), 4, 5, 0 },
  };
  dq_packed p;
  dq_pack_opts o = { 500, DQ_ORDER_RELEVANCE, NULL, NULL };
  assert_int_equal(dq_pack("q?", it, 3, &o, &p), 0);
  assert_int_equal(p.n, 3);
  assert_non_null(strstr(p.prompt, "[1] a.md:1-2\n# Setup\nInstall it first.\n\n"));
  assert_non_null(strstr(p.prompt, "[2] b.txt:1-3\nSetup\n\nbody\n\n"));
  assert_non_null(strstr(p.prompt, "[3] Setup \xE2\x80\x94 c.md:4-5\nSetup guide\n"));
  dq_packed_free(&p);
}

/* A Markdown passage goes into the prompt as rendered: its line range and
 * label as before, the text without link targets too long to help (a
 * playground URL holding its state) or relative ones, and HTML tags; a
 * short absolute URL stays; lines the removed tags leave empty collapse.
 * Counted as rendered, so it fits where the raw text would not. Plain text
 * goes in as written. */
static void test_assemble_pack__markdown_rendered(void **state)
{
  (void)state;
  char md[2400];
  int k = snprintf(md, sizeof md, "Transitions animate entering elements. <sup class=\"badge\" />\n\n"
                                  "[Try it in the Playground](https://play.vuejs.org/#eN");
  for (int i = 0; i < 1800; i++) md[k++] = (char)('A' + i % 26);
  snprintf(md + k, sizeof md - (size_t)k, ") or read [the guide](/guide/transition) and [the RFC](https://github.com/vuejs/rfcs).");
  dq_pack_item it = { "Transition", "transition.md", md, strlen(md), 7, 9, 1 };
  dq_packed p;
  dq_pack_opts o = { 300, DQ_ORDER_EDGES, NULL, NULL };
  assert_int_equal(dq_pack("How do I animate?", &it, 1, &o, &p), 0);
  assert_int_equal(p.n, 1);
  assert_true(p.prompt_tokens <= 300);
  assert_non_null(strstr(p.prompt, "[1] Transition \xE2\x80\x94 transition.md:7-9\n"
                                   "Transitions animate entering elements. \n\nTry it in the Playground or read the guide "
                                   "and the RFC (https://github.com/vuejs/rfcs)."));
  assert_null(strstr(p.prompt, "play.vuejs.org"));
  assert_null(strstr(p.prompt, "<sup"));
  dq_packed_free(&p);
  /* lines left empty by removed tags become one blank line */
  const char *divs = "First.\n\n<div class=\"composition-api\">\n\nSecond.\n\n</div>\n<div class=\"options-api\">\n\n  Third.";
  dq_pack_item d = { "D", "d.md", divs, strlen(divs), 1, 9, 1 };
  assert_int_equal(dq_pack("q?", &d, 1, &o, &p), 0);
  assert_non_null(strstr(p.prompt, "d.md:1-9\nFirst.\n\nSecond.\n\n  Third.\n\n"));
  dq_packed_free(&p);
  it.markdown = 0; /* as written, the URL alone is over the budget */
  assert_int_equal(dq_pack("How do I animate?", &it, 1, &o, &p), 0);
  assert_int_equal(p.n, 0);
  assert_int_equal(p.left_out, 1);
  dq_packed_free(&p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_assemble_pack__edges_first_exact),
    cmocka_unit_test(test_assemble_pack__document_order),
    cmocka_unit_test(test_assemble_pack__budget_and_left_out),
    cmocka_unit_test(test_assemble_pack__skip_then_smaller),
    cmocka_unit_test(test_assemble_pack__count_hook),
    cmocka_unit_test(test_assemble_pack__title_not_repeated),
    cmocka_unit_test(test_assemble_pack__markdown_rendered),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
