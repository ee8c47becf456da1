/* Tests for the built-in embedder (src/embed/builtin.c): determinism, unit
 * norm, zero vector for empty text, batch == one-by-one, and retrieval-shaped
 * properties: a paraphrase with shared morphology is closer than unrelated
 * text (English and Chinese), function words matter less than content words. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "embed/embed.h"
#include "util/mem.h"

static dq_embedder *g_e;

static int setup(void **state) { (void)state; return dq_embedder_builtin(&g_e); }
static int teardown(void **state) { (void)state; dq_embedder_free(g_e); return 0; }

static void emb(const char *s, float *v)
{
  size_t n = strlen(s);
  assert_int_equal(dq_embed(g_e, &s, &n, 1, 0, v), 0);
}

static double dot(const float *a, const float *b, unsigned d)
{
  double s = 0;
  for (unsigned i = 0; i < d; i++) s += (double)a[i] * b[i];
  return s;
}

static void test_embed_builtin__identity(void **state)
{
  (void)state;
  assert_string_equal(g_e->id, "docq-hash-v3");
  assert_int_equal(g_e->dim, 256);
}

static void test_embed_builtin__deterministic_and_normalized(void **state)
{
  (void)state;
  unsigned d = g_e->dim;
  float *a = calloc(d, sizeof *a), *b = calloc(d, sizeof *b);
  emb("The quick brown fox jumps over the lazy dog.", a);
  emb("The quick brown fox jumps over the lazy dog.", b);
  assert_memory_equal(a, b, d * sizeof *a);
  assert_true(fabs(dot(a, a, d) - 1.0) < 1e-5);
  /* case and compatibility forms normalize away (NFKC + case fold) */
  emb("THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.", b);
  assert_true(dot(a, b, d) > 0.9999);
  free(a); free(b);
}

static void test_embed_builtin__empty_is_zero(void **state)
{
  (void)state;
  unsigned d = g_e->dim;
  float *a = calloc(d, sizeof *a);
  a[0] = 7;
  emb("", a);
  for (unsigned i = 0; i < d; i++) assert_true(a[i] == 0.0f);
  emb("  ... !!! ", a);
  for (unsigned i = 0; i < d; i++) assert_true(a[i] == 0.0f);
  free(a);
}

static void test_embed_builtin__batch_equals_single(void **state)
{
  (void)state;
  unsigned d = g_e->dim;
  const char *t[3] = { "alpha beta gamma", "", "红楼梦是一部小说" };
  size_t l[3] = { strlen(t[0]), 0, strlen(t[2]) };
  float *batch = calloc(3 * d, sizeof *batch), *one = calloc(d, sizeof *one);
  assert_int_equal(dq_embed(g_e, t, l, 3, 1, batch), 0);
  for (int i = 0; i < 3; i++) {
    emb(t[i], one);
    assert_memory_equal(batch + i * d, one, d * sizeof *one);
  }
  free(batch); free(one);
}

/* Morphology: "compressible flow" should be closer to a passage about
 * compression of gas flows than to one about baking bread, even though the
 * exact word "compressible" never appears in the relevant passage. */
static void test_embed_builtin__morphology_ranks_related_higher(void **state)
{
  (void)state;
  unsigned d = g_e->dim;
  float *q = calloc(d, sizeof *q), *rel = calloc(d, sizeof *rel), *unrel = calloc(d, sizeof *unrel);
  emb("compressible flows", q);
  emb("The compression of a gas flowing through a nozzle raises its density.", rel);
  emb("Knead the dough, let it rise for an hour and bake the bread until golden.", unrel);
  double sr = dot(q, rel, d), su = dot(q, unrel, d);
  assert_true(sr > su + 0.1);
  assert_true(sr > 0.1);
  free(q); free(rel); free(unrel);
}

static void test_embed_builtin__chinese(void **state)
{
  (void)state;
  unsigned d = g_e->dim;
  float *q = calloc(d, sizeof *q), *rel = calloc(d, sizeof *rel), *unrel = calloc(d, sizeof *unrel);
  emb("贾宝玉住在哪里？", q);
  emb("贾宝玉搬进了大观园的怡红院居住。", rel);
  emb("诸葛亮在赤壁之战中借东风，帮助孙刘联军击败曹操。", unrel);
  double sr = dot(q, rel, d), su = dot(q, unrel, d);
  assert_true(sr > su + 0.2);
  free(q); free(rel); free(unrel);
}

/* Sharing only function words must count for much less than sharing one
 * content word. */
static void test_embed_builtin__function_words_damped(void **state)
{
  (void)state;
  unsigned d = g_e->dim;
  float *q = calloc(d, sizeof *q), *a = calloc(d, sizeof *a), *b = calloc(d, sizeof *b);
  emb("what is the boiling point of water", q);
  emb("what is the name of the first of these", a);  /* only function words shared */
  emb("water", b);                                   /* one content word shared */
  assert_true(dot(q, b, d) > dot(q, a, d));
  free(q); free(a); free(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_embed_builtin__identity),
    cmocka_unit_test(test_embed_builtin__deterministic_and_normalized),
    cmocka_unit_test(test_embed_builtin__empty_is_zero),
    cmocka_unit_test(test_embed_builtin__batch_equals_single),
    cmocka_unit_test(test_embed_builtin__morphology_ranks_related_higher),
    cmocka_unit_test(test_embed_builtin__chinese),
    cmocka_unit_test(test_embed_builtin__function_words_damped),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
