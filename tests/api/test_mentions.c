/* docq_mentions through <docq.h> only: which documents mention a query, and
 * in how many of their passages. A corpus of small hand-written files
 * (Markdown and plain text, English and Chinese) is indexed once; every
 * expected list below is counted by construction from those files:
 *  - a .txt file of one sentence is one passage (chunk);
 *  - a Markdown section (a heading and its paragraph) is one passage, a
 *    heading without text of its own goes with the section under it;
 *  - front matter (title, tags, date) is not passage text, and no word any
 *    query asks for is in a title, a file name, a tag or front matter.
 * The setup checks the resulting document and chunk counts (46 and 66)
 * with docq_stat, so a different chunking is reported as such and not as a
 * wrong answer of docq_mentions.
 *
 * Expected order: most passages first, then path by strcmp (P24.txt before
 * big.md before n01.txt before p25.txt; coast/... before cove.txt). The
 * document with most passages, coast/watch.md, is not first by path. */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "docq.h"
#include "tmpdir.h"

static char g_dir[64];
static char g_src[128];
static docq_db *g_db;

static void write_file(const char *rel, const char *text)
{
  char p[512];
  snprintf(p, sizeof p, "%s/%s", g_src, rel);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static void set_mtime(const char *rel, time_t t)
{
  char p[512];
  snprintf(p, sizeof p, "%s/%s", g_src, rel);
  struct timeval tv[2] = { { t, 0 }, { t, 0 } };
  assert_int_equal(utimes(p, tv), 0);
}

/* 2022-01-01T12:00:00Z */
#define COVE_MTIME ((time_t)1641038400)
/* 2021-01-01T00:00:00Z, 2022-06-01T00:00:00Z */
#define T_2021_01_01 ((int64_t)1609459200)
#define T_2022_06_01 ((int64_t)1654041600)

static void write_corpus(void)
{
  char p[512];
  snprintf(p, sizeof p, "%s/coast", g_src);
  assert_int_equal(mkdir(p, 0777), 0);
  snprintf(p, sizeof p, "%s/many", g_src);
  assert_int_equal(mkdir(p, 0777), 0);

  /* "lighthouse keeper" in North, South, East (3 passages); "and" only in
   * North, "not" only in South, "near" only in East. */
  write_file("coast/watch.md",
             "---\ntitle: Beacon log\ntags: [coast]\ndate: 2020-05-01\n---\n"
             "## North\n\nThe lighthouse keeper and his dog climbed the north stairs.\n\n"
             "## South\n\nA keeper of the old lighthouse did not paint the south wall.\n\n"
             "## West\n\nNobody lives on the west cliff.\n\n"
             "## East\n\nThe lighthouse keeper sleeps near the east door.\n");
  /* both words in Morning and Evening (2), lighthouse alone in Night */
  write_file("coast/dune.md",
             "---\ntitle: Sand diary\ndate: 2023-03-01\n---\n"
             "## Morning\n\nA lighthouse keeper walked over the dunes.\n\n"
             "## Evening\n\nThe keeper lit the lighthouse lamp at dusk.\n\n"
             "## Night\n\nStars above the lighthouse.\n");
  /* both words in Quay (1), lighthouse alone in Market */
  write_file("coast/harbor.md",
             "---\ntitle: Zephyr wharf\ntags: [coast, port]\ndate: 2021-07-15\n---\n"
             "## Quay\n\nThe lighthouse keeper counted boats.\n\n"
             "## Market\n\nFish were sold under the lighthouse.\n");
  write_file("cove.txt", "Every lighthouse keeper knows the tide tables.\n");
  set_mtime("cove.txt", COVE_MTIME);
  /* the two words, but in different passages: not a mention of both */
  write_file("split.md", "## Tower\n\nThe lighthouse was white.\n\n## Hut\n\nThe keeper was asleep.\n");
  write_file("solo.txt", "The lighthouse stood empty.\n");
  write_file("ember.txt", "A lighthouse or a comet? Nobody knew.\n");
  write_file("flint.txt", "The lighthouse saw a comet.\n");
  write_file("lamp.txt", "The light of the lamp.\n");

  write_file("m1.txt", "She mentions the comet often.\n");
  write_file("m2.txt", "The comet was mentioned twice.\n");
  write_file("m3.txt", "MENTION OF A COMET IN CAPITALS.\n");
  write_file("m4.txt", "A mention without the other word.\n");
  write_file("accent.txt", "Un caf\xc3\xa9 cr\xc3\xa8me \xc3\xa0 Paris.\n");

  write_file("crash1.md", "Crash recovery is automatic.\n");
  write_file("crash2.txt", "Recovery after a crash takes minutes.\n");

  /* zh1: 数据库崩溃恢复很快。 (the run 崩溃恢复)
   * zh2: 恢复崩溃的数据库需要时间。 (恢复 and 崩溃, no 溃恢)
   * zh3: 系统崩溃了，溃恢两字不成词，恢复要等。 (崩溃, 溃恢, 恢复 apart) */
  write_file("zh1.txt", "\xe6\x95\xb0\xe6\x8d\xae\xe5\xba\x93\xe5\xb4\xa9\xe6\xba\x83\xe6\x81\xa2\xe5\xa4\x8d"
                        "\xe5\xbe\x88\xe5\xbf\xab\xe3\x80\x82\n");
  write_file("zh2.md", "\xe6\x81\xa2\xe5\xa4\x8d\xe5\xb4\xa9\xe6\xba\x83\xe7\x9a\x84\xe6\x95\xb0\xe6\x8d\xae"
                       "\xe5\xba\x93\xe9\x9c\x80\xe8\xa6\x81\xe6\x97\xb6\xe9\x97\xb4\xe3\x80\x82\n");
  write_file("zh3.txt", "\xe7\xb3\xbb\xe7\xbb\x9f\xe5\xb4\xa9\xe6\xba\x83\xe4\xba\x86\xef\xbc\x8c"
                        "\xe6\xba\x83\xe6\x81\xa2\xe4\xb8\xa4\xe5\xad\x97\xe4\xb8\x8d\xe6\x88\x90\xe8\xaf\x8d\xef\xbc\x8c"
                        "\xe6\x81\xa2\xe5\xa4\x8d\xe8\xa6\x81\xe7\xad\x89\xe3\x80\x82\n");

  /* three passages: Moraine, Moraine > Survey (ice, and moraine only in
   * its heading path), Camp (ice) */
  write_file("field.md",
             "---\ntitle: Field book\n---\n"
             "# Moraine\n\nThe first paragraph tells of rocks and gravel.\n\n"
             "## Survey\n\nThe ice moved forty meters.\n\n"
             "# Camp\n\nTents stood on the ice.\n");

  /* many/big.md: 12 passages with "walrus" (Part 5 has it three times), no "the" */
  char big[4096];
  size_t n = (size_t)snprintf(big, sizeof big, "---\ntitle: Tusk tally\n---\n");
  for (int i = 1; i <= 12; i++)
    n += (size_t)snprintf(big + n, sizeof big - n, "## Part %d\n\n%s sighting %d.\n\n", i,
                          i == 5 ? "Walrus, walrus, walrus" : "Walrus", i);
  write_file("many/big.md", big);
  /* many/n01..n23.txt, P24.txt, p25.txt: one passage each; odd numbers
   * with "the". Their texts are the same on purpose: a ranked search
   * collapses near-duplicates into one hit, a list of mentions does not. */
  for (int i = 1; i <= 25; i++) {
    char name[64];
    if (i == 24) snprintf(name, sizeof name, "many/P24.txt");
    else if (i == 25) snprintf(name, sizeof name, "many/p25.txt");
    else snprintf(name, sizeof name, "many/n%02d.txt", i);
    write_file(name, i % 2 ? "The walrus swims.\n" : "A walrus sleeps.\n");
  }
}

#define N_DOCS 46
#define N_CHUNKS 66

static int group_setup(void **state)
{
  (void)state;
  if (dq_test_mkdtemp(g_dir, sizeof g_dir, "mentions")) return -1;
  snprintf(g_src, sizeof g_src, "%s/src", g_dir);
  if (mkdir(g_src, 0777)) return -1;
  write_corpus();
  char idx[128];
  snprintf(idx, sizeof idx, "%s/idx", g_dir);
  const char *paths[] = { g_src };
  if (docq_db_open(&g_db, idx, DOCQ_OPEN_CREATE)) return -1;
  if (docq_index_paths(g_db, paths, 1, NULL, NULL)) return -1;
  docq_stats st;
  if (docq_stat(g_db, &st)) return -1;
  if (st.documents != N_DOCS || st.chunks != N_CHUNKS) {
    fprintf(stderr, "the corpus is not chunked as this test assumes: %llu documents, %llu chunks (want %d, %d)\n",
            (unsigned long long)st.documents, (unsigned long long)st.chunks, N_DOCS, N_CHUNKS);
    return -1;
  }
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  docq_db_free(g_db);
  g_db = NULL;
  dq_test_rm_dir(g_dir);
  return 0;
}

/* ---- checking a list ------------------------------------------------------------------ */

typedef struct want {
  const char *rel; /* path under g_src */
  unsigned passages;
} want;

typedef struct title_find {
  const char *path;
  char title[256];
  int found;
} title_find;

static int title_cb(const docq_doc_info *info, void *payload)
{
  title_find *t = payload;
  if (!strcmp(info->path, t->path)) {
    snprintf(t->title, sizeof t->title, "%s", info->title ? info->title : "");
    t->found++;
  }
  return 0;
}

static void print_list(const char *query, const docq_mention_list *l)
{
  fprintf(stderr, "docq_mentions(%s): %zu documents, %llu passages\n", query, l->n_docs,
          (unsigned long long)l->n_passages);
  for (size_t i = 0; i < l->n_docs; i++)
    fprintf(stderr, "  %u %s (%s)\n", l->docs[i].passages, l->docs[i].path ? l->docs[i].path : "(null)",
            l->docs[i].title ? l->docs[i].title : "(null)");
}

/* docq_mentions(query, opts) on g_db gives exactly `w` (n entries), in that
 * order; n_passages is their sum and each title is the document's. */
static void expect_in(docq_db *db, const char *query, const docq_search_options *opts, const want *w, size_t n)
{
  docq_mention_list *l = (docq_mention_list *)1;
  int rc = docq_mentions(&l, db, query, opts);
  if (rc) fprintf(stderr, "docq_mentions(%s): %d %s\n", query, rc, docq_error_last()->message);
  assert_int_equal(rc, 0);
  assert_non_null(l);
  assert_true(l != (docq_mention_list *)1);
  int same = l->n_docs == n;
  uint64_t sum_want = 0, sum_got = 0;
  for (size_t i = 0; i < n; i++) sum_want += w[i].passages;
  for (size_t i = 0; same && i < n; i++) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_src, w[i].rel);
    same = l->docs[i].path && !strcmp(l->docs[i].path, p) && l->docs[i].passages == w[i].passages;
  }
  if (!same || l->n_passages != sum_want) {
    print_list(query, l);
    fprintf(stderr, "wanted %zu documents, %llu passages:\n", n, (unsigned long long)sum_want);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "  %u %s/%s\n", w[i].passages, g_src, w[i].rel);
  }
  assert_true(same);
  for (size_t i = 0; i < l->n_docs; i++) {
    sum_got += l->docs[i].passages;
    assert_true(l->docs[i].passages >= 1);
    /* the title is the document's own (docq_list_documents), "" if none */
    assert_non_null(l->docs[i].title);
    title_find t = { l->docs[i].path, "", 0 };
    assert_int_equal(docq_list_documents(db, NULL, title_cb, &t), 0);
    assert_int_equal(t.found, 1);
    assert_string_equal(l->docs[i].title, t.title);
  }
  assert_int_equal(l->n_passages, sum_want);
  assert_int_equal(l->n_passages, sum_got);
  docq_mention_list_free(l);
}

static void expect(const char *query, const docq_search_options *opts, const want *w, size_t n)
{
  expect_in(g_db, query, opts, w, n);
}

#define EXPECT(q, opts, ...)                                                            \
  do {                                                                                  \
    static const want w_[] = { __VA_ARGS__ };                                           \
    expect((q), (opts), w_, sizeof w_ / sizeof w_[0]);                                  \
  } while (0)
#define EXPECT_NONE(q, opts) expect((q), (opts), NULL, 0)

/* "lighthouse keeper" in one passage: watch.md 3 (North, South, East), dune 2
 * (Morning, Evening), harbor 1 (Quay), cove 1; not split.md (the words in
 * two passages), not solo/ember/flint.txt (lighthouse alone). Ties of 1 in
 * path order: coast/harbor.md < cove.txt. */
#define LIGHTHOUSE_KEEPER \
  { "coast/watch.md", 3 }, { "coast/dune.md", 2 }, { "coast/harbor.md", 1 }, { "cove.txt", 1 }

/* ---- tests ------------------------------------------------------------------------------- */

/* All of the words, in one passage, in any order; exact counts and order. */
static void test_mentions__all_words_in_one_passage(void **state)
{
  (void)state;
  EXPECT("lighthouse keeper", NULL, LIGHTHOUSE_KEEPER);
  EXPECT("keeper lighthouse", NULL, LIGHTHOUSE_KEEPER);
  EXPECT("  keeper   lighthouse  ", NULL, LIGHTHOUSE_KEEPER);
  /* one word: every passage that holds it; ties at 3 (dune before watch)
   * and at 1 by path */
  EXPECT("lighthouse", NULL,
         { "coast/dune.md", 3 }, { "coast/watch.md", 3 }, { "coast/harbor.md", 2 }, { "cove.txt", 1 },
         { "ember.txt", 1 }, { "flint.txt", 1 }, { "solo.txt", 1 }, { "split.md", 1 });
  EXPECT("keeper", NULL,
         { "coast/watch.md", 3 }, { "coast/dune.md", 2 }, { "coast/harbor.md", 1 }, { "cove.txt", 1 },
         { "split.md", 1 });
  /* three words: only watch.md's North holds "dog" with both */
  EXPECT("lighthouse keeper dog", NULL, { "coast/watch.md", 1 });
  /* a word no document has: nothing, not an error */
  EXPECT_NONE("lighthouse zeppelin", NULL);
  EXPECT_NONE("zeppelin", NULL);
}

/* No top-k: 26 documents (more than search's 10 or ask's 20), 37 passages;
 * a passage with the word three times counts once. */
static void test_mentions__all_documents_no_top_k(void **state)
{
  (void)state;
  EXPECT("walrus", NULL,
         { "many/big.md", 12 }, { "many/P24.txt", 1 }, { "many/n01.txt", 1 }, { "many/n02.txt", 1 },
         { "many/n03.txt", 1 }, { "many/n04.txt", 1 }, { "many/n05.txt", 1 }, { "many/n06.txt", 1 },
         { "many/n07.txt", 1 }, { "many/n08.txt", 1 }, { "many/n09.txt", 1 }, { "many/n10.txt", 1 },
         { "many/n11.txt", 1 }, { "many/n12.txt", 1 }, { "many/n13.txt", 1 }, { "many/n14.txt", 1 },
         { "many/n15.txt", 1 }, { "many/n16.txt", 1 }, { "many/n17.txt", 1 }, { "many/n18.txt", 1 },
         { "many/n19.txt", 1 }, { "many/n20.txt", 1 }, { "many/n21.txt", 1 }, { "many/n22.txt", 1 },
         { "many/n23.txt", 1 }, { "many/p25.txt", 1 });
  /* k and the ranking settings of opts are not used */
  docq_search_options o = DOCQ_SEARCH_OPTIONS_INIT;
  o.k = 1;
  o.mode = DOCQ_MODE_VECTOR;
  o.merge_neighbors = 1;
  EXPECT("lighthouse", &o,
         { "coast/dune.md", 3 }, { "coast/watch.md", 3 }, { "coast/harbor.md", 2 }, { "cove.txt", 1 },
         { "ember.txt", 1 }, { "flint.txt", 1 }, { "solo.txt", 1 }, { "split.md", 1 });
  docq_mention_list *l = NULL;
  assert_int_equal(docq_mentions(&l, g_db, "walrus", &o), 0);
  assert_int_equal(l->n_docs, 26);
  assert_int_equal(l->n_passages, 37);
  docq_mention_list_free(l);
}

/* Each document's line ranges (docq.h: first and last line of each passage,
 * in file order) checked against the file itself, as grep -n would: every
 * line holding the word lies in a range, and every range holds one (no
 * heading or title here has the word). */
static void test_mentions__line_ranges_hold_the_words(void **state)
{
  (void)state;
  docq_mention_list *l = NULL;
  assert_int_equal(docq_mentions(&l, g_db, "walrus", NULL), 0);
  assert_int_equal(l->n_docs, 26);
  for (size_t d = 0; d < l->n_docs; d++) {
    const docq_mention *m = &l->docs[d];
    assert_int_equal(m->n_lines, m->passages);
    int has[64] = { 0 }, n_file_lines = 0;
    FILE *f = fopen(m->path, "r");
    assert_non_null(f);
    char line[512];
    while (fgets(line, sizeof line, f) && n_file_lines < 63) {
      n_file_lines++;
      for (char *c = line; *c; c++) *c = (char)tolower((unsigned char)*c);
      has[n_file_lines] = strstr(line, "walrus") != NULL;
    }
    fclose(f);
    for (size_t i = 0; i < m->n_lines; i++) {
      const uint32_t a = m->lines[2 * i], b = m->lines[2 * i + 1];
      assert_true(a >= 1 && a <= b && b <= (uint32_t)n_file_lines);
      if (i) assert_true(m->lines[2 * i - 2] < a);
      int found = 0;
      for (uint32_t k = a; k <= b; k++) found |= has[k];
      if (!found) fail_msg("%s: lines %u-%u hold no walrus", m->path, a, b);
    }
    for (int k = 1; k <= n_file_lines; k++) {
      if (!has[k]) continue;
      int in = 0;
      for (size_t i = 0; i < m->n_lines; i++) in |= (uint32_t)k >= m->lines[2 * i] && (uint32_t)k <= m->lines[2 * i + 1];
      if (!in) fail_msg("%s: line %d has walrus but is in no range", m->path, k);
    }
  }
  docq_mention_list_free(l);
}

/* Stop words count: "the" is required (the odd-numbered files and p25). */
static void test_mentions__stop_words_count(void **state)
{
  (void)state;
  EXPECT("the walrus", NULL,
         { "many/n01.txt", 1 }, { "many/n03.txt", 1 }, { "many/n05.txt", 1 }, { "many/n07.txt", 1 },
         { "many/n09.txt", 1 }, { "many/n11.txt", 1 }, { "many/n13.txt", 1 }, { "many/n15.txt", 1 },
         { "many/n17.txt", 1 }, { "many/n19.txt", 1 }, { "many/n21.txt", 1 }, { "many/n23.txt", 1 },
         { "many/p25.txt", 1 });
  /* of "lighthouse" passages, "was" only in split's Tower */
  EXPECT("lighthouse was", NULL, { "split.md", 1 });
}

/* Stemming and case folding, accents: mention/mentions/mentioned/MENTION;
 * m4.txt has "mention" but no comet. */
static void test_mentions__stems_case_accents(void **state)
{
  (void)state;
  EXPECT("mention comet", NULL, { "m1.txt", 1 }, { "m2.txt", 1 }, { "m3.txt", 1 });
  EXPECT("Mentioned COMETS", NULL, { "m1.txt", 1 }, { "m2.txt", 1 }, { "m3.txt", 1 });
  EXPECT("MENTIONS", NULL, { "m1.txt", 1 }, { "m2.txt", 1 }, { "m3.txt", 1 }, { "m4.txt", 1 });
  EXPECT("LightHouses KEEPERS", NULL, LIGHTHOUSE_KEEPER);
  EXPECT("cafe creme", NULL, { "accent.txt", 1 });
  EXPECT("CAF\xc3\x89 Cr\xc3\xa8me", NULL, { "accent.txt", 1 });
}

/* A heading holds words of its passage: Survey's passage has "moraine" only
 * in its heading path (Moraine > Survey). */
static void test_mentions__heading_words(void **state)
{
  (void)state;
  EXPECT("moraine ice", NULL, { "field.md", 1 });
  EXPECT("ice", NULL, { "field.md", 2 });
  EXPECT("moraine", NULL, { "field.md", 2 });
  EXPECT("survey", NULL, { "field.md", 1 });
}

/* Quoted phrases: adjacent and in order, in one passage. */
static void test_mentions__phrases(void **state)
{
  (void)state;
  EXPECT("crash recovery", NULL, { "crash1.md", 1 }, { "crash2.txt", 1 });
  EXPECT("\"crash recovery\"", NULL, { "crash1.md", 1 });
  EXPECT("\"Crash Recovery\"", NULL, { "crash1.md", 1 });
  EXPECT_NONE("\"recovery crash\"", NULL);
  EXPECT("\"recovery after\"", NULL, { "crash2.txt", 1 });
  EXPECT("automatic \"crash recovery\"", NULL, { "crash1.md", 1 });
  EXPECT_NONE("minutes \"crash recovery\"", NULL);
  /* an unbalanced quote runs to the end of the query */
  EXPECT("\"crash recovery", NULL, { "crash1.md", 1 });
  EXPECT("automatic \"crash recovery", NULL, { "crash1.md", 1 });
  /* a phrase changes the counts: "lighthouse keeper" adjacent in watch.md's
   * North and East, dune's Morning, harbor's Quay, cove */
  EXPECT("\"lighthouse keeper\"", NULL,
         { "coast/watch.md", 2 }, { "coast/dune.md", 1 }, { "coast/harbor.md", 1 }, { "cove.txt", 1 });
  EXPECT_NONE("\"keeper lighthouse\"", NULL);
}

/* Chinese: character pairs; a quoted run is that run. 崩溃恢复: zh1 holds the
 * run; zh3 holds its pairs 崩溃, 溃恢, 恢复 apart; zh2 lacks 溃恢. */
#define ZH_RUN "\xe5\xb4\xa9\xe6\xba\x83\xe6\x81\xa2\xe5\xa4\x8d" /* 崩溃恢复 */
#define ZH_RECOVER "\xe6\x81\xa2\xe5\xa4\x8d"                    /* 恢复 */
#define ZH_DB "\xe6\x95\xb0\xe6\x8d\xae\xe5\xba\x93"               /* 数据库 */
static void test_mentions__chinese(void **state)
{
  (void)state;
  EXPECT("\"" ZH_RUN "\"", NULL, { "zh1.txt", 1 });
  EXPECT(ZH_RUN, NULL, { "zh1.txt", 1 }, { "zh3.txt", 1 });
  EXPECT(ZH_RECOVER, NULL, { "zh1.txt", 1 }, { "zh2.md", 1 }, { "zh3.txt", 1 });
  EXPECT(ZH_DB, NULL, { "zh1.txt", 1 }, { "zh2.md", 1 });
  EXPECT(ZH_DB " \"" ZH_RUN "\"", NULL, { "zh1.txt", 1 });
  EXPECT("\"" ZH_RUN, NULL, { "zh1.txt", 1 });
}

/* FTS5 syntax is never syntax: operators are plain words (all required),
 * the rest is ignored punctuation. */
static void test_mentions__fts5_syntax_is_text(void **state)
{
  (void)state;
  /* "and" only in watch.md's North, "not" only in its South, "near" only in
   * its East, "or" only in ember.txt (flint.txt has lighthouse and comet
   * without "or") */
  EXPECT("lighthouse AND keeper", NULL, { "coast/watch.md", 1 });
  EXPECT("AND", NULL, { "coast/watch.md", 1 }, { "field.md", 1 }); /* and field's "rocks and gravel" */
  EXPECT("lighthouse NOT keeper", NULL, { "coast/watch.md", 1 });
  EXPECT("NOT lighthouse", NULL, { "coast/watch.md", 1 });
  EXPECT("NEAR(lighthouse keeper)", NULL, { "coast/watch.md", 1 });
  EXPECT("lighthouse NEAR keeper", NULL, { "coast/watch.md", 1 });
  EXPECT("lighthouse OR comet", NULL, { "ember.txt", 1 });
  EXPECT("OR", NULL, { "ember.txt", 1 });
  /* '*' is no prefix: "light" only in lamp.txt, not lighthouse */
  EXPECT("light*", NULL, { "lamp.txt", 1 });
  EXPECT("light *", NULL, { "lamp.txt", 1 });
  /* ':' is no column filter: "text" is a word no document has */
  EXPECT_NONE("text:lighthouse", NULL);
  /* punctuation of FTS5 around the two words: the plain query's answer */
  static const char *const same[] = {
    "^lighthouse keeper", "lighthouse ^keeper", "keeper:lighthouse",
    "(lighthouse keeper)", "(lighthouse keeper", "lighthouse keeper)", "((lighthouse) (keeper))",
    "lighthouse -keeper", "-lighthouse keeper", "lighthouse + keeper", "lighthouse\" keeper",
    "lighthouse keeper\"", "{lighthouse keeper}", "{lighthouse}: keeper", "lighthouse, keeper!",
    "\"\" lighthouse keeper", "- lighthouse : keeper ^", "lighthouse* keeper*",
  };
  for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) EXPECT(same[i], NULL, LIGHTHOUSE_KEEPER);
  /* never an error, whatever the syntax */
  static const char *const odd[] = {
    "NEAR(lighthouse keeper, 5)", "lighthouse NEAR/2 keeper", "AND OR NOT", "OR OR OR", "NOT",
    "\"unbalanced", "a\"b\"c\"d", "col:", ":lighthouse", "lighthouse^", "* lighthouse",
    ")))) keeper", "lighthouse - - -", "rowid:1", "docq:keeper", "{} keeper", "NEAR(", "\"NEAR(\" keeper",
  };
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    docq_mention_list *l = (docq_mention_list *)1;
    int rc = docq_mentions(&l, g_db, odd[i], NULL);
    if (rc) fprintf(stderr, "docq_mentions(%s): %d %s\n", odd[i], rc, docq_error_last()->message);
    assert_int_equal(rc, 0);
    assert_non_null(l);
    uint64_t sum = 0;
    for (size_t j = 0; j < l->n_docs; j++) sum += l->docs[j].passages;
    assert_int_equal(l->n_passages, sum);
    docq_mention_list_free(l);
  }
}

/* A query without any word, and NULL arguments: DOCQ_EINVAL, *out NULL. */
static void test_mentions__no_words_is_an_error(void **state)
{
  (void)state;
  static const char *const none[] = { "", "   ", "!!!", "\"", "\"\"", "()", "-*^:", "( ) \" ^ * : -", "\t\n", "?!.,;",
                                      "*", "(((", "{}:", "+ - ^" };
  for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
    docq_mention_list *l = (docq_mention_list *)1;
    assert_int_equal(docq_mentions(&l, g_db, none[i], NULL), DOCQ_EINVAL);
    assert_null(l);
    assert_int_equal(docq_error_last()->code, DOCQ_EINVAL);
  }
  docq_mention_list *l = (docq_mention_list *)1;
  assert_int_equal(docq_mentions(&l, g_db, NULL, NULL), DOCQ_EINVAL);
  assert_null(l);
  l = (docq_mention_list *)1;
  assert_int_equal(docq_mentions(&l, NULL, "lighthouse", NULL), DOCQ_EINVAL);
  assert_null(l);
  assert_int_equal(docq_mentions(NULL, g_db, "lighthouse", NULL), DOCQ_EINVAL);
  docq_mention_list_free(NULL); /* freeing NULL is a no-op (docq.h's conventions) */
  /* the handle still works after the errors */
  EXPECT("lighthouse keeper", NULL, LIGHTHOUSE_KEEPER);
}

/* The filters of search: path prefix, glob, tag, date range. Dates: watch.md
 * 2020-05-01, harbor 2021-07-15, dune 2023-03-01 (front matter), cove.txt
 * mtime 2022-01-01T12:00Z. */
static void test_mentions__filters(void **state)
{
  (void)state;
  char prefix[256];
  docq_search_options o = DOCQ_SEARCH_OPTIONS_INIT;

  snprintf(prefix, sizeof prefix, "%s/coast", g_src);
  o.path_prefix = prefix;
  EXPECT("lighthouse keeper", &o, { "coast/watch.md", 3 }, { "coast/dune.md", 2 }, { "coast/harbor.md", 1 });
  snprintf(prefix, sizeof prefix, "%s/cove", g_src); /* a prefix of a path: cove.txt */
  EXPECT("lighthouse keeper", &o, { "cove.txt", 1 });
  snprintf(prefix, sizeof prefix, "%s/many", g_src);
  EXPECT_NONE("lighthouse keeper", &o);
  EXPECT("the walrus", &o,
         { "many/n01.txt", 1 }, { "many/n03.txt", 1 }, { "many/n05.txt", 1 }, { "many/n07.txt", 1 },
         { "many/n09.txt", 1 }, { "many/n11.txt", 1 }, { "many/n13.txt", 1 }, { "many/n15.txt", 1 },
         { "many/n17.txt", 1 }, { "many/n19.txt", 1 }, { "many/n21.txt", 1 }, { "many/n23.txt", 1 },
         { "many/p25.txt", 1 });

  o = (docq_search_options)DOCQ_SEARCH_OPTIONS_INIT;
  o.path_glob = "*.txt";
  EXPECT("lighthouse keeper", &o, { "cove.txt", 1 });
  EXPECT("lighthouse", &o, { "cove.txt", 1 }, { "ember.txt", 1 }, { "flint.txt", 1 }, { "solo.txt", 1 });
  o.path_glob = "*.md";
  EXPECT("lighthouse", &o, { "coast/dune.md", 3 }, { "coast/watch.md", 3 }, { "coast/harbor.md", 2 },
         { "split.md", 1 });
  o.path_glob = "coast/*.md";
  EXPECT("lighthouse keeper", &o, { "coast/watch.md", 3 }, { "coast/dune.md", 2 }, { "coast/harbor.md", 1 });
  o.path_glob = "many/n1*.txt";
  EXPECT("walrus", &o,
         { "many/n10.txt", 1 }, { "many/n11.txt", 1 }, { "many/n12.txt", 1 }, { "many/n13.txt", 1 },
         { "many/n14.txt", 1 }, { "many/n15.txt", 1 }, { "many/n16.txt", 1 }, { "many/n17.txt", 1 },
         { "many/n18.txt", 1 }, { "many/n19.txt", 1 });

  o = (docq_search_options)DOCQ_SEARCH_OPTIONS_INIT;
  o.tag = "coast";
  EXPECT("lighthouse keeper", &o, { "coast/watch.md", 3 }, { "coast/harbor.md", 1 });
  EXPECT("lighthouse", &o, { "coast/watch.md", 3 }, { "coast/harbor.md", 2 });
  o.tag = "port";
  EXPECT("lighthouse keeper", &o, { "coast/harbor.md", 1 });
  o.tag = "nosuchtag";
  EXPECT_NONE("lighthouse keeper", &o);

  o = (docq_search_options)DOCQ_SEARCH_OPTIONS_INIT;
  o.after = T_2021_01_01;
  EXPECT("lighthouse keeper", &o, { "coast/dune.md", 2 }, { "coast/harbor.md", 1 }, { "cove.txt", 1 });
  o.after = 0;
  o.before = T_2022_06_01;
  EXPECT("lighthouse keeper", &o, { "coast/watch.md", 3 }, { "coast/harbor.md", 1 }, { "cove.txt", 1 });
  o.after = T_2021_01_01;
  EXPECT("lighthouse keeper", &o, { "coast/harbor.md", 1 }, { "cove.txt", 1 });
  /* filters together: the tag and the range */
  o.tag = "coast";
  EXPECT("lighthouse keeper", &o, { "coast/harbor.md", 1 });
}

/* An index without documents gives an empty list, not an error: a new
 * index, and one of an empty folder. */
static void test_mentions__empty_index(void **state)
{
  (void)state;
  /* under the group's folder, which its teardown removes also after a failure */
  char dir[128], idx[160], empty[160];
  snprintf(dir, sizeof dir, "%s/empty", g_dir);
  assert_int_equal(mkdir(dir, 0777), 0);
  snprintf(idx, sizeof idx, "%s/idx", dir);
  snprintf(empty, sizeof empty, "%s/nothing", dir);
  assert_int_equal(mkdir(empty, 0777), 0);
  for (int run = 0; run < 2; run++) {
    docq_db *db;
    assert_int_equal(docq_db_open(&db, idx, DOCQ_OPEN_CREATE), 0);
    if (run) {
      const char *paths[] = { empty };
      assert_int_equal(docq_index_paths(db, paths, 1, NULL, NULL), 0);
    }
    docq_mention_list *l = (docq_mention_list *)1;
    int rc = docq_mentions(&l, db, "lighthouse keeper", NULL);
    if (rc) fprintf(stderr, "docq_mentions on an empty index: %d %s\n", rc, docq_error_last()->message);
    assert_int_equal(rc, 0);
    assert_non_null(l);
    assert_true(l != (docq_mention_list *)1);
    assert_int_equal(l->n_docs, 0);
    assert_int_equal(l->n_passages, 0);
    docq_mention_list_free(l);
    /* a query without words is still an error there */
    l = (docq_mention_list *)1;
    assert_int_equal(docq_mentions(&l, db, "!!!", NULL), DOCQ_EINVAL);
    assert_null(l);
    docq_db_free(db);
  }
  /* read-only too */
  docq_db *db;
  assert_int_equal(docq_db_open(&db, idx, DOCQ_OPEN_READONLY), 0);
  expect_in(db, "lighthouse", NULL, NULL, 0);
  docq_db_free(db);
}

/* A document removed or edited is seen at once: the counts follow the
 * index, on a read-only handle as well. */
static void test_mentions__follows_changes(void **state)
{
  (void)state;
  char dir[128], src[160], idx[160], p[256];
  snprintf(dir, sizeof dir, "%s/changes", g_dir);
  assert_int_equal(mkdir(dir, 0777), 0);
  snprintf(src, sizeof src, "%s/src", dir);
  snprintf(idx, sizeof idx, "%s/idx", dir);
  assert_int_equal(mkdir(src, 0777), 0);
  const char *paths[] = { src };
  snprintf(p, sizeof p, "%s/a.txt", src);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs("The otter swims in the river.\n", f);
  assert_int_equal(fclose(f), 0);
  snprintf(p, sizeof p, "%s/b.txt", src);
  f = fopen(p, "w");
  assert_non_null(f);
  fputs("An otter sleeps by the river.\n", f);
  assert_int_equal(fclose(f), 0);
  docq_db *db;
  assert_int_equal(docq_db_open(&db, idx, DOCQ_OPEN_CREATE), 0);
  assert_int_equal(docq_index_paths(db, paths, 1, NULL, NULL), 0);
  docq_mention_list *l;
  assert_int_equal(docq_mentions(&l, db, "otter river", NULL), 0);
  assert_int_equal(l->n_docs, 2);
  assert_int_equal(l->n_passages, 2);
  docq_mention_list_free(l);
  assert_int_equal(docq_remove(db, p, NULL), 0); /* b.txt */
  docq_db *ro;
  assert_int_equal(docq_db_open(&ro, idx, DOCQ_OPEN_READONLY), 0);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(docq_mentions(&l, i ? ro : db, "otter river", NULL), 0);
    assert_int_equal(l->n_docs, 1);
    assert_int_equal(l->n_passages, 1);
    snprintf(p, sizeof p, "%s/a.txt", src);
    assert_string_equal(l->docs[0].path, p);
    assert_int_equal(l->docs[0].passages, 1);
    docq_mention_list_free(l);
  }
  docq_db_free(ro);
  docq_db_free(db);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mentions__all_words_in_one_passage),
    cmocka_unit_test(test_mentions__all_documents_no_top_k),
    cmocka_unit_test(test_mentions__line_ranges_hold_the_words),
    cmocka_unit_test(test_mentions__stop_words_count),
    cmocka_unit_test(test_mentions__stems_case_accents),
    cmocka_unit_test(test_mentions__heading_words),
    cmocka_unit_test(test_mentions__phrases),
    cmocka_unit_test(test_mentions__chinese),
    cmocka_unit_test(test_mentions__fts5_syntax_is_text),
    cmocka_unit_test(test_mentions__no_words_is_an_error),
    cmocka_unit_test(test_mentions__filters),
    cmocka_unit_test(test_mentions__empty_index),
    cmocka_unit_test(test_mentions__follows_changes),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
