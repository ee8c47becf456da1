/* Tests for src/retrieve/span.c and stopwords.c: neighbouring chunks merged
 * into one span (overlap not repeated, line ranges united, best member's
 * rank and scores), near-duplicate passages of other files collapsed with
 * their paths kept, document filters, and the stopword table's order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "retrieve/retrieve.h"
#include "retrieve/stopwords.h"
#include "util/mem.h"

static dq_picked mk(int64_t id, int64_t doc, uint32_t ord, const char *text, size_t overlap, uint32_t l0, uint32_t l1,
                    int rank, const dq_cand *c)
{
  dq_picked p;
  memset(&p, 0, sizeof p);
  p.row.id = id;
  p.row.doc_id = doc;
  p.row.ordinal = ord;
  p.row.text = dq_strdup(text);
  p.row.section = dq_strdup(ord == 5 ? "Later" : "Intro");
  p.row.overlap_len = overlap;
  p.row.line_first = l0;
  p.row.line_last = l1;
  p.rank = rank;
  p.cand = c;
  return p;
}

static void row_free(dq_picked *p)
{
  dq_free(p->row.text);
  dq_free(p->row.section);
}

static void test_retrieve_span__merge_neighbours(void **state)
{
  (void)state;
  dq_cand c[5] = {
    { .chunk_id = 101, .score = 0.9, .bm25_rank = 3, .vec_rank = 0 },
    { .chunk_id = 102, .score = 0.8, .bm25_rank = 0, .vec_rank = 1 },
    { .chunk_id = 200, .score = 0.7, .bm25_rank = 1 },
    { .chunk_id = 100, .score = 0.5, .bm25_rank = 7, .vec_rank = 4 },
    { .chunk_id = 105, .score = 0.4, .bm25_rank = 9 },
  };
  /* document 1: chunks 0,1,2 adjacent (picked out of order), chunk 5 apart; document 2: one chunk.
   * Chunk 1 repeats "Gamma delta. " (13 bytes) of chunk 0; chunk 2 repeats "Zeta. " (6 bytes). */
  dq_picked p[5] = {
    mk(101, 1, 1, "Gamma delta. Epsilon. Zeta. ", 13, 3, 5, 1, &c[0]),
    mk(102, 1, 2, "Zeta. Eta theta.", 6, 5, 7, 2, &c[1]),
    mk(200, 2, 0, "Other document.", 0, 1, 1, 3, &c[2]),
    mk(100, 1, 0, "Alpha beta. Gamma delta. ", 0, 1, 3, 4, &c[3]),
    mk(105, 1, 5, "Far away.", 0, 20, 22, 5, &c[4]),
  };
  dq_hit_rec *h = NULL;
  size_t n = 0;
  assert_int_equal(dq_spans_merge(p, 5, 0, &h, &n), 0);
  assert_int_equal(n, 3);
  /* ordered by best member rank: span (rank 1), doc 2 (rank 3), chunk 5 (rank 5) */
  assert_int_equal(h[0].doc_id, 1);
  assert_string_equal(h[0].text, "Alpha beta. Gamma delta. Epsilon. Zeta. Eta theta.");
  assert_int_equal(h[0].text_len, strlen(h[0].text));
  assert_int_equal(h[0].chunk_first, 100);
  assert_int_equal(h[0].chunk_last, 102);
  assert_int_equal(h[0].ord_first, 0);
  assert_int_equal(h[0].ord_last, 2);
  assert_int_equal(h[0].line_first, 1);
  assert_int_equal(h[0].line_last, 7);
  assert_int_equal(h[0].rank, 1);
  assert_true(h[0].score == 0.9);
  assert_int_equal(h[0].bm25_rank, 3); /* best over members: 3 (101), 7 (100) */
  assert_int_equal(h[0].vec_rank, 1);  /* 102 */
  assert_string_equal(h[0].section, "Intro");
  assert_string_equal(h[0].also_in, "");
  assert_int_equal(h[1].doc_id, 2);
  assert_string_equal(h[1].text, "Other document.");
  assert_int_equal(h[2].chunk_first, 105);
  assert_int_equal(h[2].line_first, 20);
  assert_int_equal(h[2].line_last, 22);
  assert_string_equal(h[2].section, "Later");
  dq_hits_free(h, n);
  for (int i = 0; i < 5; i++) row_free(&p[i]);
}

static void test_retrieve_span__overlap_never_splits_utf8(void **state)
{
  (void)state;
  /* a (corrupt) overlap ending inside "é" must not leave half a character */
  dq_picked p[2] = {
    mk(1, 1, 0, "caf\xC3\xA9 ", 0, 1, 1, 1, NULL),
    mk(2, 1, 1, "\xC3\xA9 au lait", 1, 1, 2, 2, NULL),
  };
  dq_hit_rec *h = NULL;
  size_t n = 0;
  assert_int_equal(dq_spans_merge(p, 2, 0, &h, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(h[0].text, "caf\xC3\xA9  au lait");
  dq_hits_free(h, n);
  for (int i = 0; i < 2; i++) row_free(&p[i]);
}

/* Chunks cut at a heading or a paragraph have no overlap, and their stored
 * texts are trimmed: the span puts back the white space their lines imply. */
static void test_retrieve_span__join_without_overlap(void **state)
{
  (void)state;
  dq_picked p[4] = {
    mk(1, 1, 0, "## Tomatoes\nWater them.", 0, 9, 10, 1, NULL),
    mk(2, 1, 1, "## Beans\nGive them poles.", 0, 12, 13, 2, NULL), /* line 11 is blank */
    mk(3, 1, 2, "Pick the pods young.", 0, 14, 14, 3, NULL),     /* the next line */
    mk(4, 1, 3, "Then rest.", 0, 14, 14, 4, NULL),               /* the same line */
  };
  dq_hit_rec *h = NULL;
  size_t n = 0;
  assert_int_equal(dq_spans_merge(p, 4, 0, &h, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(h[0].text, "## Tomatoes\nWater them.\n\n## Beans\nGive them poles.\nPick the pods young. Then rest.");
  assert_int_equal(h[0].text_len, strlen(h[0].text));
  dq_hits_free(h, n);
  for (int i = 0; i < 4; i++) row_free(&p[i]);
}

/* ask caps a span at half its budget: a long run of picked chunks becomes
 * spans around its best-ranked ones, each within the cap. */
static void test_retrieve_span__cap_splits_long_runs(void **state)
{
  (void)state;
  static const char *const text[5] = {"A.", "B.", "C.", "D.", "E."};
  static const int rank[5] = {3, 5, 1, 2, 4};
  dq_picked p[5];
  for (int cap = 0; cap < 2; cap++) {
    for (uint32_t i = 0; i < 5; i++) {
      p[i] = mk(10 + i, 1, i, text[i], 0, 2 * i + 1, 2 * i + 1, rank[i], NULL);
      p[i].row.n_tokens = i == 4 ? 900 : 300; /* E alone is over the cap */
    }
    dq_hit_rec *h = NULL;
    size_t n = 0;
    assert_int_equal(dq_spans_merge(p, 5, cap ? 700 : 0, &h, &n), 0);
    if (!cap) {
      assert_int_equal(n, 1);
      assert_string_equal(h[0].text, "A.\n\nB.\n\nC.\n\nD.\n\nE.");
    } else {
      /* C (rank 1) grows by its better neighbour D (rank 2) to 600; B or E
       * would pass 700. Then A+B (600) before it, and E on its own. */
      assert_int_equal(n, 3);
      assert_string_equal(h[0].text, "C.\n\nD.");
      assert_int_equal(h[0].rank, 1);
      assert_int_equal(h[0].line_first, 5);
      assert_int_equal(h[0].line_last, 7);
      assert_string_equal(h[1].text, "A.\n\nB.");
      assert_int_equal(h[1].rank, 3);
      assert_string_equal(h[2].text, "E.");
      assert_int_equal(h[2].rank, 4);
    }
    dq_hits_free(h, n);
    for (int i = 0; i < 5; i++) row_free(&p[i]);
  }
}

static dq_hit_rec hit(int64_t doc, const char *path, const char *text)
{
  dq_hit_rec h;
  memset(&h, 0, sizeof h);
  h.doc_id = doc;
  h.path = dq_strdup(path);
  h.text = dq_strdup(text);
  h.text_len = strlen(text);
  h.also_in = dq_strdup("");
  return h;
}

static void test_retrieve_span__collapse_near_duplicates(void **state)
{
  (void)state;
  const char *base = "The Vue router maps each URL path to a component and renders it inside the router view, "
                     "keeping navigation state in the history of the browser so back and forward buttons work.";
  char near[512];
  snprintf(near, sizeof near, "%s", base);
  /* change one word near the end: >90% of 3-term shingles shared */
  char *w = strstr(near, "forward");
  memcpy(w, "FORWARD", 7);
  dq_hit_rec h[5] = {
    hit(1, "docs/en/router.md", base),
    hit(2, "docs/other.md", "Something else entirely about reactive state and computed properties in components."),
    hit(3, "mirror/en/router.md", base),   /* identical: collapsed into 1 */
    hit(4, "copy/router.md", near),        /* near-identical: collapsed into 1 */
    hit(1, "docs/en/router.md", base),     /* same document again: not a cross-file duplicate */
  };
  assert_true(dq_shingle_jaccard(base, strlen(base), near, strlen(near)) > 0.9);
  assert_true(dq_shingle_jaccard(base, strlen(base), h[1].text, h[1].text_len) < 0.1);
  size_t n = 5;
  assert_int_equal(dq_hits_dedupe(h, &n, 0.9, NULL), 0);
  assert_int_equal(n, 3);
  assert_string_equal(h[0].path, "docs/en/router.md");
  assert_string_equal(h[0].also_in, "mirror/en/router.md\ncopy/router.md");
  assert_string_equal(h[1].path, "docs/other.md");
  assert_string_equal(h[1].also_in, "");
  assert_int_equal(h[2].doc_id, 1);
  for (size_t i = 0; i < n; i++) dq_hit_rec_clear(&h[i]);
}

/* A hit whose text has no terms at all (a chunk of only ")") has an empty
 * shingle set: compared, never sorted from NULL (UBSan stopped the search). */
static void test_retrieve_span__text_without_terms(void **state)
{
  (void)state;
  dq_hit_rec h[3] = { hit(1, "docs/a.md", ")"), hit(2, "docs/b.md", ")"),
                      hit(3, "docs/c.md", "A text with some words in it.") };
  assert_true(dq_shingle_jaccard(")", 1, "A text with some words in it.", 29) == 0.0);
  size_t n = 3;
  assert_int_equal(dq_hits_dedupe(h, &n, 0.9, NULL), 0);
  assert_true(n >= 2);
  for (size_t i = 0; i < n; i++) dq_hit_rec_clear(&h[i]);
}

/* The memo keeps each span's shingles across calls on a growing list (as
 * search's picking rounds do) and changes no result. */
static void test_retrieve_span__collapse_with_memo(void **state)
{
  (void)state;
  const char *base = "Lighthouse keepers trimmed the wicks every evening and polished the great lens until it shone.";
  const char *near = "Lighthouse keepers trimmed the wicks every evening and polished the great lens until it shone!!";
  const char *other = "Sourdough bread is baked at 250 degrees in a covered pot after a long cold rise.";
  dq_shingle_memo memo = {0};
  for (int round = 0; round < 2; round++) {
    /* round 0: three spans; round 1: the same three plus two more */
    const char *texts[5] = { base, other, near, "Green tea wants water at eighty degrees, never boiling.", base };
    const char *paths[5] = { "a.md", "b.md", "c.md", "d.md", "e.md" };
    size_t m = round ? 5 : 3, n = m, n_plain = m;
    dq_hit_rec h[5], plain[5];
    for (size_t i = 0; i < m; i++) {
      h[i] = hit((int64_t)i + 1, paths[i], texts[i]);
      h[i].chunk_first = h[i].chunk_last = 10 * ((int64_t)i + 1);
      plain[i] = hit((int64_t)i + 1, paths[i], texts[i]);
      plain[i].chunk_first = plain[i].chunk_last = h[i].chunk_first;
    }
    assert_int_equal(dq_hits_dedupe(h, &n, 0.8, &memo), 0);
    assert_int_equal(dq_hits_dedupe(plain, &n_plain, 0.8, NULL), 0);
    assert_int_equal(memo.n, m);
    assert_int_equal(n, n_plain);
    for (size_t i = 0; i < n; i++) {
      assert_string_equal(h[i].path, plain[i].path);
      assert_string_equal(h[i].also_in, plain[i].also_in);
    }
    assert_int_equal(n, round ? 3 : 2);
    assert_string_equal(h[0].also_in, round ? "c.md\ne.md" : "c.md");
    for (size_t i = 0; i < n; i++) { dq_hit_rec_clear(&h[i]); dq_hit_rec_clear(&plain[i]); }
  }
  dq_shingle_memo_free(&memo);
  assert_int_equal(memo.n, 0);
}

static void test_retrieve_span__filters(void **state)
{
  (void)state;
  dq_doc_row d;
  memset(&d, 0, sizeof d);
  d.path = "/notes/vue/guide/intro.md";
  d.tags = "vue, Guide,beginner";
  d.date = 1700000000; /* 2023-11-14 */
  dq_filter f;
  memset(&f, 0, sizeof f);
  assert_false(dq_filter_active(&f));
  assert_true(dq_filter_match(&f, &d));
  f.prefix = "/notes/vue/";
  assert_true(dq_filter_active(&f));
  assert_true(dq_filter_match(&f, &d));
  f.prefix = "/notes/react/";
  assert_false(dq_filter_match(&f, &d));
  f.prefix = NULL;
  f.glob = "*/guide/*.md";
  assert_true(dq_filter_match(&f, &d));
  f.glob = "*.html";
  assert_false(dq_filter_match(&f, &d));
  f.glob = NULL;
  f.tag = "guide"; /* case-insensitive, spaces around commas ignored */
  assert_true(dq_filter_match(&f, &d));
  f.tag = "#beginner";
  assert_true(dq_filter_match(&f, &d));
  f.tag = "gui";
  assert_false(dq_filter_match(&f, &d));
  f.tag = NULL;
  f.after = 1690000000;
  f.before = 1700000001;
  assert_true(dq_filter_match(&f, &d));
  f.before = 1700000000; /* [after, before): the end is excluded */
  assert_false(dq_filter_match(&f, &d));
  f.before = 0;
  d.date = 0; /* undated documents never satisfy a date range */
  assert_false(dq_filter_match(&f, &d));
}

static void test_retrieve_span__stopwords(void **state)
{
  (void)state;
  assert_true(dq_stopword("the", 3));
  assert_true(dq_stopword("what", 4));
  assert_true(dq_stopword("\xE4\xBB\x80\xE4\xB9\x88", 6)); /* 什么 */
  assert_true(dq_stopword("\xE7\x9A\x84", 3));             /* 的 */
  assert_false(dq_stopword("theory", 6));
  assert_false(dq_stopword("th", 2));
  assert_false(dq_stopword("", 0));
  assert_false(dq_stopword("\xE8\xB4\xBE\xE5\xAE\x9D", 6)); /* 贾宝 */
}

/* Each byte of a merged span's text maps to the line of its file it is on:
 * a chunk's part starts on the chunk's first line, after the lines of the
 * overlap it repeats; the white space that joins two chunks is on no line. */
static void test_retrieve_span__line_of_each_byte(void **state)
{
  (void)state;
  /* the file:
   *   1 Alpha beta.
   *   2 Gamma delta.
   *   3 Epsilon.
   *   4
   *   5 Zeta.
   *   6
   *   7
   *   8 Eta theta.
   * chunk 0 = lines 1-2; chunk 1 = lines 2-5, repeating "Gamma delta.\n"
   * (13 bytes) of chunk 0; chunk 2 = line 8, joined by a blank line */
  dq_picked p[3] = {
    mk(1, 1, 0, "Alpha beta.\nGamma delta.\n", 0, 1, 2, 1, NULL),
    mk(2, 1, 1, "Gamma delta.\nEpsilon.\n\nZeta.", 13, 2, 5, 2, NULL),
    mk(3, 1, 2, "Eta theta.", 0, 8, 8, 3, NULL),
  };
  dq_hit_rec *h = NULL;
  size_t n = 0;
  assert_int_equal(dq_spans_merge(p, 3, 0, &h, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(h[0].text, "Alpha beta.\nGamma delta.\nEpsilon.\n\nZeta.\n\nEta theta.");
  static const struct { const char *word; uint32_t line; } want[] = {
    {"Alpha", 1}, {"Gamma", 2}, {"Epsilon", 3}, {"Zeta", 5}, {"Eta theta", 8}, {"theta.", 8},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const char *at = strstr(h[0].text, want[i].word);
    assert_non_null(at);
    uint32_t line = 0;
    assert_int_equal(dq_hit_line_at(&h[0], (size_t)(at - h[0].text), &line), 0);
    assert_int_equal(line, want[i].line);
  }
  /* the last byte of the text, and "\n\n" between chunks 1 and 2: no line */
  uint32_t line = 77;
  assert_int_equal(dq_hit_line_at(&h[0], h[0].text_len - 1, &line), 0);
  assert_int_equal(line, 8);
  const size_t join = (size_t)(strstr(h[0].text, "Zeta.") - h[0].text) + 5;
  assert_int_equal(dq_hit_line_at(&h[0], join, &line), -1);
  assert_int_equal(dq_hit_line_at(&h[0], join + 1, &line), -1);
  assert_int_equal(dq_hit_line_at(&h[0], h[0].text_len, &line), -1);
  dq_hits_free(h, n);
  for (int i = 0; i < 3; i++) row_free(&p[i]);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_retrieve_span__merge_neighbours),
    cmocka_unit_test(test_retrieve_span__line_of_each_byte),
    cmocka_unit_test(test_retrieve_span__overlap_never_splits_utf8),
    cmocka_unit_test(test_retrieve_span__join_without_overlap),
    cmocka_unit_test(test_retrieve_span__cap_splits_long_runs),
    cmocka_unit_test(test_retrieve_span__collapse_near_duplicates),
    cmocka_unit_test(test_retrieve_span__text_without_terms),
    cmocka_unit_test(test_retrieve_span__collapse_with_memo),
    cmocka_unit_test(test_retrieve_span__filters),
    cmocka_unit_test(test_retrieve_span__stopwords),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
