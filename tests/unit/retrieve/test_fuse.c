/* Tests for src/retrieve/fuse.c: the union of two ranked lists, weighted
 * Reciprocal Rank Fusion (k = 60) and the min-max convex combination, on
 * hand-made lists whose fused orders and scores were computed by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "retrieve/retrieve.h"
#include "util/mem.h"

enum { A = 11, B = 12, C = 13, D = 14 };

/* bm25: A B C (scores 10 6 2); vector: C A D (0.9 0.5 0.1) */
static const dq_scored k_bm25[] = { { A, 10 }, { B, 6 }, { C, 2 } };
static const dq_scored k_vec[] = { { C, 0.9 }, { A, 0.5 }, { D, 0.1 } };

static dq_cand *fused(size_t *n)
{
  dq_cand *c = NULL;
  assert_int_equal(dq_cands_union(k_bm25, 3, k_vec, 3, &c, n), 0);
  assert_int_equal(*n, 4);
  return c;
}

static void expect_order(const dq_cand *c, int64_t a, int64_t b, int64_t x, int64_t d)
{
  assert_int_equal(c[0].chunk_id, a);
  assert_int_equal(c[1].chunk_id, b);
  assert_int_equal(c[2].chunk_id, x);
  assert_int_equal(c[3].chunk_id, d);
}

static void test_retrieve_fuse__union_keeps_ranks(void **state)
{
  (void)state;
  size_t n;
  dq_cand *c = fused(&n);
  /* first-seen order: A B C from BM25, then D from the vector list */
  assert_int_equal(c[0].chunk_id, A); assert_int_equal(c[0].bm25_rank, 1); assert_int_equal(c[0].vec_rank, 2);
  assert_int_equal(c[1].chunk_id, B); assert_int_equal(c[1].bm25_rank, 2); assert_int_equal(c[1].vec_rank, 0);
  assert_false(c[1].vec_known);
  assert_int_equal(c[2].chunk_id, C); assert_int_equal(c[2].bm25_rank, 3); assert_int_equal(c[2].vec_rank, 1);
  assert_int_equal(c[3].chunk_id, D); assert_int_equal(c[3].bm25_rank, 0); assert_int_equal(c[3].vec_rank, 3);
  assert_true(c[3].vec == 0.1);
  dq_free(c);
}

static void test_retrieve_fuse__rrf_equal_weights(void **state)
{
  (void)state;
  size_t n;
  dq_cand *c = fused(&n);
  dq_fuse_rrf(c, n, 0.5, 60);
  /* A: .5/61+.5/62 = .0162612  C: .5/63+.5/61 = .0161332  B: .5/62 = .0080645  D: .5/63 = .0079365 */
  expect_order(c, A, C, B, D);
  assert_true(fabs(c[0].score - (0.5 / 61 + 0.5 / 62)) < 1e-12);
  assert_true(fabs(c[1].score - (0.5 / 63 + 0.5 / 61)) < 1e-12);
  assert_true(fabs(c[2].score - 0.5 / 62) < 1e-12);
  assert_true(fabs(c[3].score - 0.5 / 63) < 1e-12);
  dq_free(c);
}

static void test_retrieve_fuse__rrf_weight_moves_order(void **state)
{
  (void)state;
  size_t n;
  dq_cand *c = fused(&n);
  dq_fuse_rrf(c, n, 0.1, 60); /* vector list dominates: C .016341 > A .016155 > D .014286 > B .001613 */
  expect_order(c, C, A, D, B);
  dq_fuse_rrf(c, n, 1.0, 60); /* BM25 only: D scores 0, last */
  expect_order(c, A, B, C, D);
  assert_true(c[3].score == 0);
  dq_free(c);
}

static void test_retrieve_fuse__convex(void **state)
{
  (void)state;
  size_t n;
  dq_cand *c = fused(&n);
  /* min-max: bm25 A 1, B .5, C 0; vec C 1, A .5, D 0; unknown vec (B) = 0 */
  dq_fuse_convex(c, n, 0.5);
  expect_order(c, A, C, B, D);
  assert_true(fabs(c[0].score - 0.75) < 1e-12);
  assert_true(fabs(c[1].score - 0.5) < 1e-12);
  assert_true(fabs(c[2].score - 0.25) < 1e-12);
  assert_true(fabs(c[3].score - 0.0) < 1e-12);
  dq_fuse_convex(c, n, 0.2); /* A .2+.4 = .6, B .1, C .8, D 0 */
  expect_order(c, C, A, B, D);
  assert_true(fabs(c[0].score - 0.8) < 1e-12);
  dq_free(c);
}

static void test_retrieve_fuse__convex_uses_looked_up_vectors(void **state)
{
  (void)state;
  size_t n;
  dq_cand *c = fused(&n);
  /* B's vector score looked up: 0.7 -> norm (0.7-0.1)/(0.9-0.1) = .75 */
  for (size_t i = 0; i < n; i++) if (c[i].chunk_id == B) { c[i].vec = 0.7; c[i].vec_known = 1; }
  dq_fuse_convex(c, n, 0.5); /* A .75, B .25+.375 = .625, C .5, D 0 */
  expect_order(c, A, B, C, D);
  assert_true(fabs(c[1].score - 0.625) < 1e-12);
  dq_free(c);
}

static void test_retrieve_fuse__ties_and_empty(void **state)
{
  (void)state;
  dq_cand *c = NULL;
  size_t n = 9;
  assert_int_equal(dq_cands_union(NULL, 0, NULL, 0, &c, &n), 0);
  assert_int_equal(n, 0);
  dq_fuse_rrf(c, n, 0.5, 60);
  dq_fuse_convex(c, n, 0.5);
  dq_free(c);
  /* equal scores: lower chunk id first; a one-element list normalizes to 1 */
  dq_scored b[] = { { 9, 3.0 } }, v[] = { { 5, 0.4 } };
  assert_int_equal(dq_cands_union(b, 1, v, 1, &c, &n), 0);
  dq_fuse_convex(c, n, 0.5);
  assert_int_equal(c[0].chunk_id, 5);
  assert_int_equal(c[1].chunk_id, 9);
  assert_true(c[0].score == 0.5 && c[1].score == 0.5);
  dq_free(c);
}

/* When BM25 found every chunk holding a query word (bm25_all), its scores
 * are normalized from 0: its last match must not score the same 0 as a chunk
 * that holds none of the words. */
static void test_retrieve_fuse__convex_exhaustive_bm25_from_zero(void **state)
{
  (void)state;
  dq_cand *c = NULL;
  size_t n = 0;
  dq_scored b[] = { { 1, 10.0 }, { 2, 8.0 } }, v[] = { { 3, 0.30 }, { 2, 0.10 }, { 1, 0.05 } };
  assert_int_equal(dq_cands_union(b, 2, v, 3, &c, &n), 0);
  dq_fuse_convex_ex(c, n, 0.75, 0); /* 2: bm25 0 + vec .25*.2 = .05 < 3: .25 */
  assert_int_equal(c[1].chunk_id, 3);
  dq_fuse_convex_ex(c, n, 0.75, 1); /* 2: .75*.8 + .05 = .65 > 3: .25 */
  assert_int_equal(c[0].chunk_id, 1);
  assert_int_equal(c[1].chunk_id, 2);
  assert_true(fabs(c[1].score - 0.65) < 1e-12);
  assert_int_equal(c[2].chunk_id, 3);
  dq_free(c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_retrieve_fuse__union_keeps_ranks),
    cmocka_unit_test(test_retrieve_fuse__rrf_equal_weights),
    cmocka_unit_test(test_retrieve_fuse__rrf_weight_moves_order),
    cmocka_unit_test(test_retrieve_fuse__convex),
    cmocka_unit_test(test_retrieve_fuse__convex_uses_looked_up_vectors),
    cmocka_unit_test(test_retrieve_fuse__ties_and_empty),
    cmocka_unit_test(test_retrieve_fuse__convex_exhaustive_bm25_from_zero),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
