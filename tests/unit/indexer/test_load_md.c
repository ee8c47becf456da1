/* Tests for indexer/load_md.c: YAML front matter variants, ATX and setext
 * headings and section paths, wikilinks, links and emphasis in `clean`,
 * callouts, fenced code and $$ math kept verbatim, skipped constructs, and
 * block invariants (text = exact file slice, right line numbers) on the real
 * Vue documentation tree when DOCQ_SHARED_DIR is set. Expected structure
 * follows CommonMark 0.31 (ATX/setext/fences) and Obsidian's documented
 * front matter, wikilink and callout syntax. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "indexer/loader.h"
#include "indexer/normalize.h"
#include "util/mem.h"

static dq_doc *load(const char *s)
{
  dq_doc *d = NULL;
  assert_int_equal(dq_load_buffer("note.md", s, strlen(s), DQ_FMT_MARKDOWN, &d), 0);
  return d;
}

/* Every block's text is the file slice, lines match, UTF-8 is valid. */
static void check_blocks(const char *src, size_t n, const dq_doc *d)
{
  for (size_t i = 0; i < d->n_blocks; i++) {
    const dq_block *b = &d->blocks[i];
    assert_true(b->src_start <= b->src_end && b->src_end <= n);
    assert_int_equal(b->src_end - b->src_start, b->text_len);
    assert_memory_equal(src + b->src_start, b->text, b->text_len);
    uint32_t line = 1;
    for (size_t k = 0; k < b->src_start; k++) line += src[k] == '\n';
    assert_int_equal(b->line_first, line);
    for (size_t k = b->src_start; k + 1 < b->src_end; k++) line += src[k] == '\n';
    assert_int_equal(b->line_last, line);
    assert_true(dq_utf8_valid(b->clean, b->clean_len));
    assert_int_equal(strlen(b->clean), b->clean_len);
    if (i) assert_true(b->src_start >= d->blocks[i - 1].src_end);
  }
}

/* The blocks of d are exactly want[0..n): kind, level, clean text, section. */
typedef struct { dq_block_kind k; int level; const char *clean, *section; } want_block;
static void expect_blocks(const dq_doc *d, const want_block *want, size_t n)
{
  assert_int_equal(d->n_blocks, n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(d->blocks[i].kind, want[i].k);
    assert_int_equal(d->blocks[i].level, want[i].level);
    assert_string_equal(d->blocks[i].clean, want[i].clean);
    assert_string_equal(d->blocks[i].section, want[i].section);
  }
}

static void test_indexer_load_md__front_matter_lists(void **state)
{
  (void)state;
  const char *s = "---\ntitle: \"Release notes: 2.0\"\ndate: 2024-03-01\ntags:\n  - release\n  - \"#docs\"\naliases:\n- RN2\n- Notes two\nnested:\n  title: not this\n---\nBody text.\n";
  dq_doc *d = load(s);
  assert_string_equal(d->title, "Release notes: 2.0");
  assert_string_equal(d->date, "2024-03-01");
  assert_int_equal(d->n_tags, 2);
  assert_string_equal(d->tags[0], "release");
  assert_string_equal(d->tags[1], "docs");
  assert_int_equal(d->n_aliases, 2);
  assert_string_equal(d->aliases[0], "RN2");
  assert_string_equal(d->aliases[1], "Notes two");
  assert_int_equal(d->n_blocks, 2);
  assert_int_equal(d->blocks[0].kind, DQ_BLK_FRONTMATTER);
  assert_int_equal(d->blocks[0].line_first, 1);
  assert_int_equal(d->blocks[0].line_last, 12);
  assert_string_equal(d->blocks[1].text, "Body text.");
  assert_int_equal(d->blocks[1].line_first, 13);
  check_blocks(s, strlen(s), d);
  dq_doc_free(d);
}

static void test_indexer_load_md__front_matter_inline_and_string(void **state)
{
  (void)state;
  dq_doc *d = load("---\ntags: [alpha, '#beta', \"gamma delta\"]\naliases: Just One, Really\ntitle: 'Quoted: yes'\n...\n# Heading\n");
  assert_int_equal(d->n_tags, 3);
  assert_string_equal(d->tags[0], "alpha");
  assert_string_equal(d->tags[1], "beta");
  assert_string_equal(d->tags[2], "gamma delta");
  assert_int_equal(d->n_aliases, 1); /* a single string is one alias */
  assert_string_equal(d->aliases[0], "Just One, Really");
  assert_string_equal(d->title, "Quoted: yes");
  dq_doc_free(d);
  d = load("---\ntags: #one two, three\n---\ntext");
  assert_int_equal(d->n_tags, 3);
  assert_string_equal(d->tags[0], "one");
  assert_string_equal(d->tags[1], "two");
  assert_string_equal(d->tags[2], "three");
  assert_string_equal(d->title, "note"); /* no title key, no heading: the file name */
  dq_doc_free(d);
  /* not front matter: no closing line, or not at the very start */
  d = load("---\ntitle: X\nno end");
  assert_null(d->date);
  assert_string_equal(d->title, "note");
  assert_int_equal(d->blocks[0].kind, DQ_BLK_PARA);
  dq_doc_free(d);
  d = load("\n---\ntitle: X\n---\n");
  assert_string_equal(d->title, "title: X"); /* a setext heading, as CommonMark reads it */
  dq_doc_free(d);
}

static void test_indexer_load_md__headings_and_sections(void **state)
{
  (void)state;
  const char *s = "# Guide {#guide}\n\nIntro.\n\n## Install ##\n\nSteps.\n\n### Linux\n\nApt.\n\n## 1. Usage\n\nUse it.\n\n"
                  "Setext Title\n============\n\nUnder it.\n\nSub *part*\n---\n\nLast.\n\n#NotAHeading\n\n####### seven\n";
  dq_doc *d = load(s);
  check_blocks(s, strlen(s), d);
  assert_string_equal(d->title, "Guide");
  const want_block want[] = {
    {DQ_BLK_HEADING, 1, "Guide", "Guide"},
    {DQ_BLK_PARA, 0, "Intro.", "Guide"},
    {DQ_BLK_HEADING, 2, "Install", "Guide > Install"},
    {DQ_BLK_PARA, 0, "Steps.", "Guide > Install"},
    {DQ_BLK_HEADING, 3, "Linux", "Guide > Install > Linux"},
    {DQ_BLK_PARA, 0, "Apt.", "Guide > Install > Linux"},
    {DQ_BLK_HEADING, 2, "1. Usage", "Guide > 1. Usage"},
    {DQ_BLK_PARA, 0, "Use it.", "Guide > 1. Usage"},
    {DQ_BLK_HEADING, 1, "Setext Title", "Setext Title"},
    {DQ_BLK_PARA, 0, "Under it.", "Setext Title"},
    {DQ_BLK_HEADING, 2, "Sub part", "Setext Title > Sub part"},
    {DQ_BLK_PARA, 0, "Last.", "Setext Title > Sub part"},
    {DQ_BLK_PARA, 0, "#NotAHeading", "Setext Title > Sub part"},
    {DQ_BLK_PARA, 0, "####### seven", "Setext Title > Sub part"},
  };
  expect_blocks(d, want, sizeof want / sizeof want[0]);
  assert_string_equal(d->blocks[8].text, "Setext Title\n============");
  assert_int_equal(d->blocks[8].line_last, d->blocks[8].line_first + 1);
  dq_doc_free(d);
}

static void test_indexer_load_md__inline_clean(void **state)
{
  (void)state;
  const struct { const char *in, *out; } cases[] = {
    {"See [[Target Page|the alias]] and [[Other]].", "See the alias and Other."},
    {"Embed ![[diagram.png]] and [[Page#Section]].", "Embed diagram.png and Page Section."},
    {"A [link](https://x.org/a_(b)) and ![alt text](img.png \"t\").", "A link and alt text."},
    {"**bold**, __strong__, *em*, _em_, ~~gone~~, ==mark==, `code`.", "bold, strong, em, em, gone, mark, code."},
    {"snake_case_name and 2 * 3 stay", "snake_case_name and 2 * 3 stay"},
    {"Escaped \\*stars\\* and \\[brackets\\]", "Escaped *stars* and [brackets]"},
    {"Footnote[^1] here, <span class=\"x\">inline</span> html, <https://a.b/c>.", "Footnote here, inline html, https://a.b/c."},
    {"[ref link][r1] text", "ref link text"},
    {"- [ ] task one\n- [x] done", "task one\ndone"},
    {"| a | b |\n|---|:-:|\n| 1 | 2 |", "a   b\n1   2"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *o;
    size_t n;
    assert_int_equal(dq_md_clean(cases[i].in, strlen(cases[i].in), &o, &n), 0);
    if (strcmp(o, cases[i].out)) fail_msg("case %zu: got [%s] want [%s]", i, o, cases[i].out);
    assert_int_equal(strlen(o), n);
    dq_free(o);
  }
}

/* A code span is text as written, never markup: a heading with `<script
 * setup>` in it had lost those words from its section path (an HTML tag
 * once the backticks went), and a paragraph's clean text (the vectors') too. */
static void test_indexer_load_md__code_spans_keep_text(void **state)
{
  (void)state;
  const char *s = "# Guide\n\n## Using `<script setup>` in SFCs\n\nThe `<KeepAlive>` tag and ``[a](b)`` and `` `x` ``.\n\n"
                  "### `<Transition>` **\n\n> quoted `a\n> <b>` span, `unclosed <i>x</i>\n";
  dq_doc *d = load(s);
  check_blocks(s, strlen(s), d);
  const want_block want[] = {
    {DQ_BLK_HEADING, 1, "Guide", "Guide"},
    {DQ_BLK_HEADING, 2, "Using <script setup> in SFCs", "Guide > Using <script setup> in SFCs"},
    {DQ_BLK_PARA, 0, "The <KeepAlive> tag and [a](b) and `x`.", "Guide > Using <script setup> in SFCs"},
    {DQ_BLK_HEADING, 3, "<Transition>", "Guide > Using <script setup> in SFCs > <Transition>"},
    {DQ_BLK_PARA, 0, "quoted a\n<b> span, unclosed x", "Guide > Using <script setup> in SFCs > <Transition>"},
  };
  expect_blocks(d, want, sizeof want / sizeof want[0]);
  dq_doc_free(d);
}

static void test_indexer_load_md__callouts_quotes_lists(void **state)
{
  (void)state;
  const char *s = "> [!warning]- Mind the gap\n> Trains **stop** here.\n\nPlain.\n> quoted\nlazy line\n\n- one\n- two\n  continued\n1. first\n\n:::tip Pro tip\nUse **it**.\n:::\n";
  dq_doc *d = load(s);
  check_blocks(s, strlen(s), d);
  const char *want[] = {"Mind the gap\nTrains stop here.", "Plain.", "quoted\nlazy line", "one", "two\ncontinued", "first", "Pro tip\nUse it."};
  assert_int_equal(d->n_blocks, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < d->n_blocks; i++) assert_string_equal(d->blocks[i].clean, want[i]);
  assert_string_equal(d->blocks[0].text, "> [!warning]- Mind the gap\n> Trains **stop** here.");
  dq_doc_free(d);
}

static void test_indexer_load_md__code_and_math_verbatim(void **state)
{
  (void)state;
  const char *s = "Intro\n```python\n# not a heading\n\nx = [[1]]  # **kept**\n```\n~~~~\n```\ninside\n~~~~\n$$\na^2 + b^2\n\n= c^2\n$$\n$$x$$\nText\n```\nunclosed\n\n";
  dq_doc *d = load(s);
  check_blocks(s, strlen(s), d);
  assert_int_equal(d->n_blocks, 7);
  assert_int_equal(d->blocks[0].kind, DQ_BLK_PARA);
  assert_int_equal(d->blocks[1].kind, DQ_BLK_CODE);
  assert_string_equal(d->blocks[1].text, "```python\n# not a heading\n\nx = [[1]]  # **kept**\n```");
  assert_string_equal(d->blocks[1].clean, "# not a heading\n\nx = [[1]]  # **kept**");
  assert_int_equal(d->blocks[2].kind, DQ_BLK_CODE);
  assert_string_equal(d->blocks[2].clean, "```\ninside");
  assert_int_equal(d->blocks[3].kind, DQ_BLK_MATH);
  assert_string_equal(d->blocks[3].clean, "\na^2 + b^2\n\n= c^2\n");
  assert_int_equal(d->blocks[3].line_last - d->blocks[3].line_first, 4);
  assert_int_equal(d->blocks[4].kind, DQ_BLK_MATH);
  assert_string_equal(d->blocks[4].clean, "x");
  assert_int_equal(d->blocks[5].kind, DQ_BLK_PARA); /* "Text" then an unclosed fence running to the end */
  assert_int_equal(d->blocks[6].kind, DQ_BLK_CODE);
  assert_string_equal(d->blocks[6].text, "```\nunclosed");
  dq_doc_free(d);
  d = load("a\n```\nunclosed\n\n");
  assert_int_equal(d->n_blocks, 2);
  assert_string_equal(d->blocks[1].text, "```\nunclosed");
  assert_int_equal(d->blocks[1].line_last, 3);
  dq_doc_free(d);
}

static void test_indexer_load_md__skipped_constructs(void **state)
{
  (void)state;
  const char *s = "A\n<!-- hidden\ncomment -->\nB\n%% obsidian\ncomment %%\n<script setup>\nconst x = 1\n</script>\n<style>\n.a{}\n</style>\n***\n- - -\nC";
  dq_doc *d = load(s);
  check_blocks(s, strlen(s), d);
  assert_int_equal(d->n_blocks, 3);
  assert_string_equal(d->blocks[0].clean, "A");
  assert_string_equal(d->blocks[1].clean, "B");
  assert_string_equal(d->blocks[2].clean, "C");
  dq_doc_free(d);
}

static void test_indexer_load_md__crlf_and_bom(void **state)
{
  (void)state;
  const char *s = "\xEF\xBB\xBF---\r\ntitle: Win\r\n---\r\n# Head\r\n\r\nLine one\r\nline two\r\n";
  dq_doc *d = load(s);
  check_blocks(s, strlen(s), d);
  assert_string_equal(d->title, "Win");
  assert_int_equal(d->n_blocks, 3);
  assert_string_equal(d->blocks[1].clean, "Head");
  assert_string_equal(d->blocks[2].text, "Line one\r\nline two");
  dq_doc_free(d);
}

/* The real Vue docs: every file loads, block invariants hold, sections come from headings. */
static void test_indexer_load_md__vue_docs(void **state)
{
  (void)state;
  const char *sh = getenv("DOCQ_SHARED_DIR");
  char path[1024];
  if (!sh || !*sh) { skip(); return; }
  snprintf(path, sizeof path, "%s/data/corpora/vue_docs_en/src/guide/introduction.md", sh);
  struct stat st;
  if (stat(path, &st) != 0) { skip(); return; }
  dq_doc *d;
  assert_int_equal(dq_load_file(path, NULL, &d), 0);
  assert_string_equal(d->title, "Introduction");
  int found = 0;
  for (size_t i = 0; i < d->n_blocks; i++) {
    if (d->blocks[i].kind == DQ_BLK_HEADING && !strcmp(d->blocks[i].clean, "What is Vue?")) {
      assert_string_equal(d->blocks[i].section, "Introduction > What is Vue?");
      assert_int_equal(d->blocks[i].level, 2);
      found = 1;
    }
    assert_null(strstr(d->blocks[i].clean, "{#"));
  }
  assert_true(found);
  FILE *f = fopen(path, "rb");
  char *buf = malloc((size_t)st.st_size + 1);
  assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
  fclose(f);
  check_blocks(buf, (size_t)st.st_size, d);
  free(buf);
  dq_doc_free(d);
  /* all files in two languages */
  const char *dirs[] = {"vue_docs_en/src/guide/essentials", "vue_docs_zh/src/guide/essentials", "vue_docs_en/src/api"};
  int files = 0;
  for (size_t k = 0; k < 3; k++) {
    snprintf(path, sizeof path, "%s/data/corpora/%s", sh, dirs[k]);
    DIR *dir = opendir(path);
    if (!dir) continue;
    struct dirent *de;
    while ((de = readdir(dir))) {
      if (!strstr(de->d_name, ".md")) continue;
      char p2[1400];
      snprintf(p2, sizeof p2, "%s/%s", path, de->d_name);
      assert_int_equal(dq_load_file(p2, NULL, &d), 0);
      FILE *g = fopen(p2, "rb");
      stat(p2, &st);
      char *b = malloc((size_t)st.st_size + 1);
      assert_int_equal(fread(b, 1, (size_t)st.st_size, g), (size_t)st.st_size);
      fclose(g);
      check_blocks(b, (size_t)st.st_size, d);
      assert_true(d->n_blocks > 0);
      free(b);
      dq_doc_free(d);
      files++;
    }
    closedir(dir);
  }
  assert_true(files > 20);
}

/* Text of `reps` copies of `word` after `head` and before `tail` (malloc'd). */
static char *repeat(const char *head, const char *word, size_t reps, const char *tail)
{
  size_t hl = strlen(head), wl = strlen(word), tl = strlen(tail);
  char *s = malloc(hl + wl * reps + tl + 1);
  assert_non_null(s);
  memcpy(s, head, hl);
  for (size_t i = 0; i < reps; i++) memcpy(s + hl + i * wl, word, wl);
  memcpy(s + hl + wl * reps, tail, tl + 1);
  return s;
}

/* An 800 KB heading line: its block keeps the text, but the section path
 * (stored with every chunk under it) and the title are cut to a label, so
 * the index grows with the file, not with the square of the heading. */
static void test_indexer_load_md__long_heading_capped(void **state)
{
  (void)state;
  char *s = repeat("# ", "heading ", 100000, "\n\n## Sub \xC3\xA9t\xC3\xA9\n\nbody text\n");
  dq_doc *d = load(s);
  check_blocks(s, strlen(s), d);
  assert_true(strlen(d->title) <= DQ_LABEL_MAX + 3);
  assert_non_null(strstr(d->title, "heading heading"));
  assert_string_equal(d->title + strlen(d->title) - 3, "\xE2\x80\xA6");
  size_t total = 0;
  for (size_t i = 0; i < d->n_blocks; i++) {
    assert_true(strlen(d->blocks[i].section) <= 2 * (DQ_LABEL_MAX + 3) + 3);
    assert_true(dq_utf8_valid(d->blocks[i].section, strlen(d->blocks[i].section)));
    total += d->blocks[i].clean_len;
  }
  assert_true(total >= 800000); /* the heading's words are all still indexed */
  /* the section path still starts with the title and ends with the short heading */
  const char *last = d->blocks[d->n_blocks - 1].section;
  assert_memory_equal(last, d->title, strlen(d->title));
  assert_string_equal(last + strlen(last) - 12, " > Sub \xC3\xA9t\xC3\xA9");
  dq_doc_free(d);
  free(s);
  /* a long word without spaces is cut at a character boundary */
  s = repeat("# ", "\xC3\xA9", 1000, "\n\nbody\n");
  d = load(s);
  assert_true(strlen(d->title) <= DQ_LABEL_MAX + 3);
  assert_true(dq_utf8_valid(d->title, strlen(d->title)));
  assert_true(dq_utf8_valid(d->blocks[1].section, strlen(d->blocks[1].section)));
  dq_doc_free(d);
  free(s);
}

/* YAML's quoted scalars (YAML 1.2, 7.3): double-quoted ones take escapes,
 * single-quoted ones write a quote as ''. Bad or cut escapes stay as written. */
static void test_indexer_load_md__front_matter_escapes(void **state)
{
  (void)state;
  dq_doc *d = load("---\ntitle: \"The \\\"Best\\\" Practices: a\\\\b \\u00e9t\\u00E9 \\U0001F600 \\ud83d\\ude00\\tend\"\n"
                   "date: '2024-01-02'\ntags: [\"a\\\"b\", 'it''s', \"c,d\"]\naliases:\n  - 'It''s done'\n  - \"x\\ny\"\n---\nbody\n");
  assert_string_equal(d->title, "The \"Best\" Practices: a\\b \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80 \xF0\x9F\x98\x80\tend");
  assert_string_equal(d->date, "2024-01-02");
  assert_int_equal(d->n_tags, 3);
  assert_string_equal(d->tags[0], "a\"b");
  assert_string_equal(d->tags[1], "it's");
  assert_string_equal(d->tags[2], "c,d");
  assert_int_equal(d->n_aliases, 2);
  assert_string_equal(d->aliases[0], "It's done");
  assert_string_equal(d->aliases[1], "x\ny");
  dq_doc_free(d);
  d = load("---\ntitle: 'It''s done'\n---\nx\n");
  assert_string_equal(d->title, "It's done");
  dq_doc_free(d);
  /* plain scalars are as written; bad, cut and NUL escapes are safe */
  d = load("---\ntitle: a \\\" b ''\n---\nx\n");
  assert_string_equal(d->title, "a \\\" b ''");
  dq_doc_free(d);
  d = load("---\ntitle: \"\\q \\x4 \\u12 \\ud800 \\U00110000 \\0x \\\"\n---\nx\n");
  assert_string_equal(d->title, "\\q \\x4 \\u12 \xEF\xBF\xBD \\U00110000 x \\");
  dq_doc_free(d);
  d = load("---\ntags: \"x\\ty z\"\n---\nx\n"); /* a quoted string of tags: decoded, then split */
  assert_int_equal(d->n_tags, 3);
  assert_string_equal(d->tags[1], "y");
  dq_doc_free(d);
}

static double now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Unclosed brackets on one long line: each opener used to search to the end
 * of the line (or paragraph) for its closer, so 1 MB of "[[wiki|" took 80 s
 * and 2 MB would take minutes. Linear, each 2 MB line loads in well under a
 * second; 10 s is a backstop for slow machines and sanitizers, and the alarm
 * ends a quadratic run instead of waiting for it. */
static void test_indexer_load_md__unclosed_brackets_linear(void **state)
{
  (void)state;
  const char *pats[] = {"[[wiki|", "![[embed ", "[a](x ", "[a][", "[", "[a]((", "[b [c] "};
  alarm(120);
  for (size_t p = 0; p < sizeof pats / sizeof pats[0]; p++) {
    char *s = repeat("", pats[p], (2u << 20) / strlen(pats[p]), "\n");
    double t0 = now();
    dq_doc *d = load(s);
    double dt = now() - t0;
    print_message("%-10s %.3f s\n", pats[p], dt);
    assert_true(dt < 10.0);
    assert_int_equal(d->n_blocks, 1);
    assert_true(d->blocks[0].clean_len > 0);
    dq_doc_free(d);
    free(s);
  }
  alarm(0);
  /* closed ones after many unclosed: still read as links */
  dq_doc *d = load("[a [b [c ( [x](http://e.com) [[page|alias]] [t][r] (\n");
  assert_string_equal(d->blocks[0].clean, "[a [b [c ( x alias t (");
  dq_doc_free(d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_indexer_load_md__front_matter_lists),
    cmocka_unit_test(test_indexer_load_md__front_matter_inline_and_string),
    cmocka_unit_test(test_indexer_load_md__headings_and_sections),
    cmocka_unit_test(test_indexer_load_md__inline_clean),
    cmocka_unit_test(test_indexer_load_md__code_spans_keep_text),
    cmocka_unit_test(test_indexer_load_md__callouts_quotes_lists),
    cmocka_unit_test(test_indexer_load_md__code_and_math_verbatim),
    cmocka_unit_test(test_indexer_load_md__skipped_constructs),
    cmocka_unit_test(test_indexer_load_md__crlf_and_bom),
    cmocka_unit_test(test_indexer_load_md__vue_docs),
    cmocka_unit_test(test_indexer_load_md__long_heading_capped),
    cmocka_unit_test(test_indexer_load_md__front_matter_escapes),
    cmocka_unit_test(test_indexer_load_md__unclosed_brackets_linear),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
