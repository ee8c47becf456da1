/* Tests for indexer/chunk.c. Besides targeted cases (sections, front matter,
 * sentence/CJK/code cuts, overlap), every chunking here goes through
 * check_chunks(), which asserts the contract on the output:
 *  - ordinals, ranges inside the file, valid UTF-8 text and clean;
 *  - estimated tokens of `text` <= n_tokens <= target (unless the chunk is one
 *    unsplittable line);
 *  - text/markdown: `text` is exactly the file bytes [src_start, src_end) and
 *    the line numbers are those of that range;
 *  - `overlap_len` bytes repeat the previous chunk's tail, and the rest starts
 *    at or after the previous chunk's end;
 *  - coverage: the chunks' texts minus overlaps hold every non-space byte of
 *    the document's indexed text, in order (text files and plain Markdown).
 * Generated documents (English, CJK without punctuation, long words, code)
 * are chunked at many targets and overlaps; real files from DOCQ_SHARED_DIR
 * (a Chinese novel, the Vue docs) when it is set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <sys/stat.h>

#include "indexer/chunk.h"
#include "indexer/normalize.h"
#include "util/err.h"
#include "util/mem.h"

/* ---- helpers -------------------------------------------------------------------- */

static size_t ws_len(const char *s, size_t n)
{
  unsigned char c = (unsigned char)s[0];
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') return 1;
  if (n >= 2 && c == 0xC2 && (unsigned char)s[1] == 0xA0) return 2;
  if (n >= 3 && c == 0xE3 && (unsigned char)s[1] == 0x80 && (unsigned char)s[2] == 0x80) return 3;
  return 0;
}

static void strip_ws(const char *s, size_t n, char *out, size_t *on)
{
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    size_t w = ws_len(s + i, n - i);
    if (w) { i += w; continue; }
    out[k++] = s[i++];
  }
  *on = k;
}

typedef struct { int coverage; int oversize_lines; } check_opts;

static void check_chunks(const char *src, size_t n, const dq_doc *d, const dq_chunk *c, size_t nc,
                         unsigned target, check_opts co)
{
  int slices = d->format != DQ_FMT_HTML && d->n_repaired == 0;
  char *cat = malloc(n + 1), *want = malloc(n + 1);
  uint32_t *nl_before = malloc((n + 1) * sizeof *nl_before); /* newlines in src[0..i) */
  size_t catn = 0;
  nl_before[0] = 0;
  for (size_t k = 0; k < n; k++) nl_before[k + 1] = nl_before[k] + (src[k] == '\n');
  for (size_t i = 0; i < nc; i++) {
    const dq_chunk *ch = &c[i];
    assert_int_equal(ch->ordinal, i);
    assert_true(ch->src_start <= ch->src_end && ch->src_end <= n);
    assert_true(ch->text_len > 0);
    assert_int_equal(strlen(ch->text), ch->text_len);
    assert_true(dq_utf8_valid(ch->text, ch->text_len));
    assert_true(dq_utf8_valid(ch->clean, ch->clean_len));
    assert_non_null(ch->section);
    size_t est = dq_token_estimate(ch->text, ch->text_len);
    if (est > target || ch->n_tokens > target) {
      if (!co.oversize_lines || memchr(ch->text + ch->overlap_len, '\n', ch->text_len - ch->overlap_len))
        fail_msg("chunk %zu: %zu estimated / %u tokens > target %u: [%s]", i, est, ch->n_tokens, target, ch->text);
    }
    assert_true(est <= ch->n_tokens || d->format == DQ_FMT_HTML);
    if (slices) {
      assert_int_equal(ch->src_end - ch->src_start, ch->text_len);
      assert_memory_equal(src + ch->src_start, ch->text, ch->text_len);
      assert_int_equal(ch->line_first, 1 + nl_before[ch->src_start]);
      assert_int_equal(ch->line_last, 1 + nl_before[ch->src_end - 1]);
    }
    assert_true(ch->overlap_len < ch->text_len);
    if (ch->overlap_len) {
      assert_true(i > 0);
      const dq_chunk *p = &c[i - 1];
      assert_true(p->text_len >= ch->overlap_len);
      assert_memory_equal(p->text + p->text_len - ch->overlap_len, ch->text, ch->overlap_len);
      if (slices) assert_true(ch->src_start + ch->overlap_len >= p->src_end);
    } else if (i > 0 && slices) {
      assert_true(ch->src_start >= c[i - 1].src_end);
    }
    size_t k;
    strip_ws(ch->text + ch->overlap_len, ch->text_len - ch->overlap_len, cat + catn, &k);
    catn += k;
  }
  if (co.coverage) {
    size_t wn;
    strip_ws(src, n, want, &wn);
    if (catn != wn || memcmp(cat, want, wn)) {
      size_t k = 0;
      while (k < catn && k < wn && cat[k] == want[k]) k++;
      fail_msg("coverage differs at %zu of %zu/%zu: [%.40s] vs [%.40s]", k, catn, wn, cat + k, want + k);
    }
  }
  free(cat);
  free(want);
  free(nl_before);
}

static void chunk_and_check(const char *src, size_t n, dq_format f, unsigned target, unsigned overlap, check_opts co,
                            size_t *n_out)
{
  dq_doc *d;
  dq_chunk *c;
  size_t nc;
  assert_int_equal(dq_load_buffer("gen", src, n, f, &d), 0);
  dq_chunk_opts o = {target, overlap, NULL, NULL};
  assert_int_equal(dq_chunk_doc(d, &o, &c, &nc), 0);
  check_chunks(src, n, d, c, nc, target, co);
  if (n_out) *n_out = nc;
  dq_chunks_free(c, nc);
  dq_doc_free(d);
}

/* ---- generated documents -------------------------------------------------------------- */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

static const char *const cjk[] = {"中", "文", "书", "天", "地", "人", "日", "月", "山", "水", "の", "カ", "한"};
static const char *const words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "index",
                                    "retrieval", "chunk", "Mr.", "e.g.", "café", "naïve", "x"};

static void gen_text(char *b, size_t cap, size_t *len, int markdown)
{
  size_t n = 0;
#define PUT(s) do { const char *s_ = (s); size_t l_ = strlen(s_); if (n + l_ < cap) { memcpy(b + n, s_, l_); n += l_; } } while (0)
  int paras = 3 + (int)rnd(25);
  for (int p = 0; p < paras; p++) {
    int kind = (int)rnd(10);
    if (markdown && kind == 0) { PUT("#"); if (rnd(2)) PUT("#"); PUT(" Heading "); PUT(words[rnd(16)]); PUT("\n\n"); continue; }
    if (markdown && kind == 1) { /* a code block, sometimes with one very long line */
      PUT("```c\n");
      int lines = 1 + (int)rnd(30);
      for (int l = 0; l < lines; l++) {
        PUT("  int v = f(x, y); /* c */");
        if (!rnd(15)) for (int k = 0; k < 60; k++) PUT(" a+b");
        PUT("\n");
      }
      PUT("```\n\n");
      continue;
    }
    if (kind == 2) { /* CJK without punctuation */
      int m = 20 + (int)rnd(400);
      for (int k = 0; k < m; k++) PUT(cjk[rnd(13)]);
    } else if (kind == 3) { /* a long word */
      int m = 10 + (int)rnd(300);
      for (int k = 0; k < m; k++) PUT(k % 7 ? "q" : "é");
    } else {
      int sentences = 1 + (int)rnd(12);
      for (int s = 0; s < sentences; s++) {
        if (rnd(5) == 0) { int m = 3 + (int)rnd(30); for (int k = 0; k < m; k++) PUT(cjk[rnd(13)]); PUT(rnd(2) ? "。" : "！"); continue; }
        int w = 1 + (int)rnd(20);
        for (int k = 0; k < w; k++) { PUT(words[rnd(16)]); PUT(k + 1 < w ? (rnd(8) ? " " : "\n") : ""); }
        PUT(rnd(3) ? ". " : rnd(2) ? "?\" " : "! ");
      }
    }
    PUT(rnd(4) ? "\n\n" : rnd(2) ? "\r\n\r\n" : "\n \t\n");
  }
#undef PUT
  b[n] = 0;
  *len = n;
}

static void test_indexer_chunk__invariants_generated(void **state)
{
  (void)state;
  static char buf[1 << 16];
  const unsigned targets[] = {4, 9, 16, 40, 128, 256}, overlaps[] = {0, 2, 5, 16};
  size_t total = 0;
  for (int seed = 1; seed <= 60; seed++) {
    rng_state = 0x9E3779B97F4A7C15ull * (uint64_t)seed;
    size_t n;
    int md = seed % 2;
    gen_text(buf, sizeof buf, &n, md);
    for (size_t t = 0; t < 6; t++) {
      for (size_t o = 0; o < 4; o++) {
        size_t nc;
        check_opts co = {!md, md};
        chunk_and_check(buf, n, md ? DQ_FMT_MARKDOWN : DQ_FMT_TEXT, targets[t], overlaps[o], co, &nc);
        total += nc;
      }
    }
  }
  assert_true(total > 1000);
}

/* ---- targeted cases -------------------------------------------------------------------- */

static dq_chunk *chunks_of(const char *s, dq_format f, unsigned target, unsigned overlap, size_t *nc, dq_doc **dout)
{
  dq_doc *d;
  dq_chunk *c;
  assert_int_equal(dq_load_buffer("t.md", s, strlen(s), f, &d), 0);
  dq_chunk_opts o = {target, overlap, NULL, NULL};
  assert_int_equal(dq_chunk_doc(d, &o, &c, nc), 0);
  check_opts co = {0, 1};
  check_chunks(s, strlen(s), d, c, *nc, target, co);
  *dout = d;
  return c;
}

static void test_indexer_chunk__headings_start_chunks(void **state)
{
  (void)state;
  size_t n;
  dq_doc *d;
  const char *s = "# A\n\nAlpha text.\n\n## A1\n\nMore alpha.\n\n# B\n## B1\n### B2\nBeta text.\n";
  dq_chunk *c = chunks_of(s, DQ_FMT_MARKDOWN, 256, 0, &n, &d);
  assert_int_equal(n, 3);
  assert_string_equal(c[0].text, "# A\n\nAlpha text.");
  assert_string_equal(c[0].section, "A");
  assert_string_equal(c[1].text, "## A1\n\nMore alpha.");
  assert_string_equal(c[1].section, "A > A1");
  /* headings with nothing between them form one tiny section chunk */
  assert_string_equal(c[2].text, "# B\n## B1\n### B2\nBeta text.");
  assert_string_equal(c[2].section, "B > B1 > B2");
  assert_string_equal(c[2].clean, "B\n\nB1\n\nB2\n\nBeta text.");
  assert_int_equal(c[2].line_first, 9);
  assert_int_equal(c[2].line_last, 12);
  dq_chunks_free(c, n);
  dq_doc_free(d);
}

static void test_indexer_chunk__front_matter_in_first_clean(void **state)
{
  (void)state;
  size_t n;
  dq_doc *d;
  const char *s = "---\ntitle: Trip Plan\ntags: [travel, '#japan']\naliases: [Itinerary]\n---\nSee [[Kyoto|the old capital]].\n";
  dq_chunk *c = chunks_of(s, DQ_FMT_MARKDOWN, 256, 0, &n, &d);
  assert_int_equal(n, 1);
  assert_string_equal(c[0].text, "See [[Kyoto|the old capital]].");
  assert_int_equal(c[0].src_start, (size_t)(strstr(s, "See") - s));
  assert_int_equal(c[0].line_first, 6);
  assert_string_equal(c[0].clean, "Trip Plan\nItinerary\ntravel japan\n\nSee the old capital.");
  dq_chunks_free(c, n);
  dq_doc_free(d);
  /* only front matter, or only whitespace: no chunks */
  const char *empty[] = {"---\ntitle: x\n---\n", "", " \n\t\n\xE3\x80\x80\n"};
  for (int i = 0; i < 3; i++) {
    c = chunks_of(empty[i], DQ_FMT_MARKDOWN, 256, 0, &n, &d);
    assert_int_equal(n, 0);
    dq_chunks_free(c, n);
    dq_doc_free(d);
  }
}

static void test_indexer_chunk__sentences_then_words(void **state)
{
  (void)state;
  char s[4096] = "";
  const char *one = "One two three four five six seven eight nine.";
  for (int i = 0; i < 12; i++) { strcat(s, one); strcat(s, " "); }
  strcat(s, "\n");
  size_t n, t = dq_token_estimate(one, strlen(one)); /* 13 */
  dq_doc *d;
  dq_chunk *c = chunks_of(s, DQ_FMT_TEXT, (unsigned)(2 * t + 1), 0, &n, &d);
  assert_int_equal(n, 6); /* two sentences a chunk */
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(c[i].n_tokens, 2 * t);
    assert_int_equal(c[i].text[c[i].text_len - 1], '.');
  }
  dq_chunks_free(c, n);
  dq_doc_free(d);
  /* one sentence larger than the target: cut between words, never inside one */
  c = chunks_of("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu", DQ_FMT_TEXT, 5, 0, &n, &d);
  assert_true(n >= 3);
  for (size_t i = 0; i < n; i++) {
    assert_true(c[i].text[0] != ' ' && c[i].text[c[i].text_len - 1] != ' ');
    if (i) assert_true(c[i].src_start > c[i - 1].src_end); /* a space between */
  }
  dq_chunks_free(c, n);
  dq_doc_free(d);
}

static void test_indexer_chunk__cjk_cut_between_characters(void **state)
{
  (void)state;
  char s[4000] = "";
  for (int i = 0; i < 1000; i++) strcat(s, i % 2 ? "文" : "中");
  size_t n;
  dq_doc *d;
  dq_chunk *c = chunks_of(s, DQ_FMT_TEXT, 50, 0, &n, &d);
  assert_int_equal(n, 20);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(c[i].text_len, 150);
    assert_int_equal(c[i].src_start, i * 150);
  }
  dq_chunks_free(c, n);
  dq_doc_free(d);
  /* CJK stops are sentence ends; the fullwidth full stop used by older texts too */
  c = chunks_of("第一句话很长很长。第二句话也很长！第三句话呢？第四句话．第五句", DQ_FMT_TEXT, 12, 0, &n, &d);
  assert_true(n >= 3);
  for (size_t i = 0; i + 1 < n; i++) {
    const char *e = c[i].text + c[i].text_len - 3;
    assert_true(!memcmp(e, "。", 3) || !memcmp(e, "！", 3) || !memcmp(e, "？", 3) || !memcmp(e, "．", 3));
  }
  dq_chunks_free(c, n);
  dq_doc_free(d);
}

/* A word longer than the target is cut at characters: "abcdefghiJk" is
 * estimated at 8 (the mixed-case rule), its longest prefix within a target of
 * 3 is "abc" (3: at most one token per letter; "abcd" is abc|d, two pieces at
 * 1.6 tokens each without a space before them, so 4), and the next chunk
 * starts with "def". Pieces of one run of letters never share a chunk, as
 * joined they would be counted by the whole run's rule (check_chunks). */
static void test_indexer_chunk__word_cut_at_characters(void **state)
{
  (void)state;
  size_t n;
  dq_doc *d;
  dq_chunk *c = chunks_of("abcdefghiJk and more", DQ_FMT_TEXT, 3, 0, &n, &d);
  assert_true(n >= 2);
  assert_string_equal(c[0].text, "abc");
  assert_int_equal(strncmp(c[1].text, "def", 3), 0);
  dq_chunks_free(c, n);
  dq_doc_free(d);
}

/* Encoded data is not words: in Markdown a base64 image inside an image
 * target is left out of the chunks (the text around it is chunked, with its
 * lines); in plain text every byte stays in some chunk. */
static void test_indexer_chunk__markdown_data_left_out(void **state)
{
  (void)state;
  const size_t data = 30000;
  char *s = malloc(data + 400);
  assert_non_null(s);
  int k = snprintf(s, 400, "# Trip\n\nWe saw the lighthouse at dawn.\n\n![photo](data:image/png;base64,");
  for (size_t i = 0; i < data; i++) s[k + i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7 + i / 5) % 64];
  snprintf(s + k + data, 400, ")\n\nThen tea in the village.\n");
  for (int f = 0; f < 2; f++) {
    dq_doc *d;
    dq_chunk *c;
    size_t nc;
    assert_int_equal(dq_load_buffer(f ? "t.txt" : "t.md", s, strlen(s), f ? DQ_FMT_TEXT : DQ_FMT_MARKDOWN, &d), 0);
    dq_chunk_opts o = {560, 0, NULL, NULL};
    assert_int_equal(dq_chunk_doc(d, &o, &c, &nc), 0);
    size_t covered = 0;
    int tea = 0, dawn = 0;
    for (size_t i = 0; i < nc; i++) {
      covered += c[i].text_len;
      if (strstr(c[i].text, "Then tea in the village.")) { tea = 1; assert_int_equal(c[i].line_last, 7); }
      if (strstr(c[i].text, "lighthouse at dawn")) dawn = 1;
    }
    assert_true(tea && dawn);
    if (f == 0) {
      assert_true(nc <= 2);
      assert_true(covered < 200); /* none of the 30,000 bytes of data */
    } else {
      assert_true(nc > 10);
      assert_true(covered >= data);
    }
    dq_chunks_free(c, nc);
    dq_doc_free(d);
  }
  free(s);
}

/* The same for data inside a longer run without spaces: link text in
 * Chinese joined to a playground URL that holds its state (vue docs). The
 * line is larger than the target, so it is cut; the base64 was cut into
 * chunks of its own, and one was a top hit for the section's heading. */
static void test_indexer_chunk__markdown_data_inside_a_link_left_out(void **state)
{
  (void)state;
  char s[2048];
  int k = snprintf(s, sizeof s, "# 动态组件\n\n有些场景会需要在两个组件间来回切换。\n\n[在演练场中查看示例](https://play.vuejs.org/#");
  for (int i = 0; i < 900; i++) s[k + i] = "eNqNVE2PmzAQ/Ssj9kArLSHbrXpwk1X31mMPvS17cIxJrICNbJMmivLfO/7AEG2j"[(i * 7 + i / 3) % 64];
  /* a heading after the link: its ")" cannot join the next paragraph's chunk */
  snprintf(s + k + 900, sizeof s - (size_t)k - 900, ")\n\n## 更多\n\n更多关于动态组件的内容。\n");
  size_t n;
  dq_doc *d;
  dq_chunk *c = chunks_of(s, DQ_FMT_MARKDOWN, 64, 0, &n, &d);
  int first = 0, last = 0, link = 0;
  for (size_t i = 0; i < n; i++) {
    first |= strstr(c[i].text, "来回切换") != NULL;
    last |= strstr(c[i].text, "更多关于") != NULL;
    link |= strstr(c[i].text, "在演练场中查看示例") != NULL;
    int word = 0; /* the link's closing ")" alone is no chunk */
    for (size_t j = 0; j < c[i].text_len; j++) word |= isalnum((unsigned char)c[i].text[j]) || (unsigned char)c[i].text[j] >= 0x80;
    if (!word) fail_msg("chunk %zu has no word: '%s'", i, c[i].text);
    for (size_t j = 0; j + 64 <= c[i].text_len; j++) { /* no 64 base64 letters in a row */
      size_t r = 0;
      while (r < 64 && strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", c[i].text[j + r]) && c[i].text[j + r]) r++;
      if (r == 64) fail_msg("chunk %zu holds base64 data: %.80s", i, c[i].text + j);
    }
  }
  assert_true(first && last && link);
  dq_chunks_free(c, n);
  dq_doc_free(d);
}

static void test_indexer_chunk__code_split_between_lines(void **state)
{
  (void)state;
  char s[8192] = "Intro.\n\n```python\n";
  for (int i = 0; i < 60; i++) { char l[64]; snprintf(l, sizeof l, "    value_%02d = compute(%d) + 1\n", i, i); strcat(s, l); }
  strcat(s, "```\n\nOutro.\n");
  size_t n;
  dq_doc *d;
  dq_chunk *c = chunks_of(s, DQ_FMT_MARKDOWN, 40, 8, &n, &d);
  assert_true(n >= 6);
  int code_chunks = 0;
  for (size_t i = 0; i < n; i++) {
    if (!strstr(c[i].text, "compute")) continue;
    code_chunks++;
    assert_int_equal(c[i].overlap_len, 0); /* code is not repeated */
    /* starts at a line start (indentation included) and ends at a line end */
    assert_true(c[i].src_start == 0 || s[c[i].src_start - 1] == '\n');
    assert_true(s[c[i].src_end] == '\n');
    assert_null(strstr(c[i].clean, "```"));
  }
  assert_true(code_chunks >= 5);
  dq_chunks_free(c, n);
  dq_doc_free(d);
}

static void test_indexer_chunk__overlap_repeats_trailing_sentences(void **state)
{
  (void)state;
  char s[8192] = "";
  for (int i = 0; i < 40; i++) {
    char l[80];
    snprintf(l, sizeof l, "Sentence number %d says something. ", i);
    strcat(s, l);
  }
  size_t n;
  dq_doc *d;
  dq_chunk *c = chunks_of(s, DQ_FMT_TEXT, 30, 12, &n, &d);
  assert_true(n > 5);
  for (size_t i = 1; i < n; i++) {
    assert_true(c[i].overlap_len > 0);
    assert_true(dq_token_estimate(c[i].text, c[i].overlap_len) <= 12);
    assert_memory_equal(c[i].text, "Sentence", 8); /* a whole sentence */
    assert_int_equal(c[i].text[c[i].overlap_len - 1], '.');
  }
  dq_chunks_free(c, n);
  dq_doc_free(d);
  /* never across a heading */
  c = chunks_of("# A\n\nFirst sentence here. Second one here.\n\n# B\n\nThird sentence here.", DQ_FMT_MARKDOWN, 8, 4, &n, &d);
  for (size_t i = 0; i < n; i++)
    if (!strncmp(c[i].text, "# B", 3)) assert_int_equal(c[i].overlap_len, 0);
  dq_chunks_free(c, n);
  dq_doc_free(d);
}

static void test_indexer_chunk__html_joins_blocks(void **state)
{
  (void)state;
  const char *s = "<h1>T</h1><p>One &amp; two.</p><p>Three.</p><h2>S</h2><p>Four.</p>";
  size_t n;
  dq_doc *d;
  dq_chunk *c = chunks_of(s, DQ_FMT_HTML, 256, 0, &n, &d);
  assert_int_equal(n, 2);
  assert_string_equal(c[0].text, "T\n\nOne & two.\n\nThree.");
  assert_int_equal(c[0].src_start, 0);
  assert_int_equal(c[0].src_end, (size_t)(strstr(s, "<h2>") - s));
  assert_string_equal(c[1].text, "S\n\nFour.");
  assert_string_equal(c[1].section, "T > S");
  assert_int_equal(c[1].src_end, strlen(s));
  dq_chunks_free(c, n);
  dq_doc_free(d);
}

static size_t count_bytes(void *ctx, const char *s, size_t n)
{
  (void)s;
  ++*(int *)ctx;
  return n;
}

static void test_indexer_chunk__custom_counter(void **state)
{
  (void)state;
  char s[4096] = "";
  for (int i = 0; i < 50; i++) strcat(s, "Some words in a sentence. ");
  dq_doc *d;
  assert_int_equal(dq_load_buffer(NULL, s, strlen(s), DQ_FMT_TEXT, &d), 0);
  int calls = 0;
  dq_chunk_opts o = {100, 0, count_bytes, &calls};
  dq_chunk *c;
  size_t n;
  assert_int_equal(dq_chunk_doc(d, &o, &c, &n), 0);
  assert_true(calls > 0);
  assert_int_equal(n, 17); /* 25 bytes a sentence, 26 with the space before: 3 a chunk (77 bytes) */
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(c[i].n_tokens, c[i].text_len);
    assert_true(c[i].text_len <= 100);
  }
  dq_chunks_free(c, n);
  dq_doc_free(d);
}

static size_t count_bytes_summed(void *ctx, const char *s, size_t n)
{
  (void)s;
  *(size_t *)ctx += n;
  return n;
}

/* A long run without a space (data, a hash) is cut at characters by probing
 * prefixes: the bytes all probes count together stay a small multiple of the
 * text (O(n log n)), not a count of half the run per probe for each of its
 * pieces (O(n^2): 256 KiB in pieces of 100 counted ~80 GB that way). */
static void test_indexer_chunk__long_run_counted_in_n_log_n(void **state)
{
  (void)state;
  enum { N = 256 * 1024 };
  char *s = malloc(N + 1);
  assert_non_null(s);
  for (size_t i = 0; i < N; i++) s[i] = (char)('a' + (i * 7 + i / 13) % 26);
  s[N] = 0;
  dq_doc *d;
  assert_int_equal(dq_load_buffer(NULL, s, N, DQ_FMT_TEXT, &d), 0);
  size_t counted = 0;
  dq_chunk_opts o = {100, 0, count_bytes_summed, &counted};
  dq_chunk *c;
  size_t n;
  assert_int_equal(dq_chunk_doc(d, &o, &c, &n), 0);
  assert_int_equal(n, (N + 99) / 100);
  assert_true(counted <= (size_t)64 * N);
  dq_chunks_free(c, n);
  dq_doc_free(d);
  free(s);
}

static void test_indexer_chunk__repaired_offsets(void **state)
{
  (void)state;
  char s[2048] = "";
  for (int i = 0; i < 20; i++) strcat(s, "Bad \xFF byte here. ");
  dq_doc *d;
  assert_int_equal(dq_load_buffer(NULL, s, strlen(s), DQ_FMT_TEXT, &d), 0);
  assert_int_equal(d->n_repaired, 20);
  dq_chunk_opts o = {12, 0, NULL, NULL};
  dq_chunk *c;
  size_t n;
  assert_int_equal(dq_chunk_doc(d, &o, &c, &n), 0);
  assert_true(n >= 5);
  for (size_t i = 0; i < n; i++) {
    /* the range is in file bytes: 2 bytes shorter per U+FFFD than the repaired text */
    size_t bad = 0;
    for (size_t k = c[i].src_start; k < c[i].src_end; k++) bad += (unsigned char)s[k] == 0xFF;
    assert_int_equal(c[i].src_end - c[i].src_start + 2 * bad, c[i].text_len);
    assert_memory_equal(s + c[i].src_start, "Bad", 3);
  }
  assert_int_equal(c[n - 1].src_end, strlen(s) - 1);
  dq_chunks_free(c, n);
  dq_doc_free(d);
}

static void test_indexer_chunk__allocation_failures(void **state)
{
  (void)state;
  const char *s = "---\ntitle: T\n---\n# H\n\nOne sentence. Two sentence. Three sentence.\n\n```\na\nb\n```\n";
  dq_doc *d;
  assert_int_equal(dq_load_buffer(NULL, s, strlen(s), DQ_FMT_MARKDOWN, &d), 0);
  dq_chunk_opts o = {4, 2, NULL, NULL};
  int ok = 0;
  for (long k = 0; k < 300 && !ok; k++) {
    dq_chunk *c = NULL;
    size_t n = 7;
    dq_mem_fail_after(k);
    int rc = dq_chunk_doc(d, &o, &c, &n);
    dq_mem_fail_after(-1);
    if (rc == 0) { ok = 1; dq_chunks_free(c, n); }
    else { assert_int_equal(rc, DOCQ_ENOMEM); assert_null(c); assert_int_equal(n, 0); }
  }
  assert_true(ok);
  dq_doc_free(d);
}

/* ---- real files ------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *n)
{
  struct stat st;
  if (stat(path, &st) != 0) return NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = malloc((size_t)st.st_size + 1);
  *n = fread(b, 1, (size_t)st.st_size, f);
  fclose(f);
  b[*n] = 0;
  return b;
}

static void test_indexer_chunk__real_files(void **state)
{
  (void)state;
  const char *sh = getenv("DOCQ_SHARED_DIR");
  if (!sh || !*sh) { print_message("DOCQ_SHARED_DIR not set: real-file checks skipped\n"); skip(); return; }
  const struct { const char *rel; dq_format f; int coverage; } files[] = {
    {"data/corpora/classics_zh/红楼梦.txt", DQ_FMT_TEXT, 1},
    {"data/corpora/gutenberg_en/pg1342.txt", DQ_FMT_TEXT, 1},
    {"data/corpora/vue_docs_en/src/guide/introduction.md", DQ_FMT_MARKDOWN, 0},
    {"data/corpora/vue_docs_zh/src/guide/essentials/reactivity-fundamentals.md", DQ_FMT_MARKDOWN, 0},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[1024];
    size_t n, nc;
    snprintf(path, sizeof path, "%s/%s", sh, files[i].rel);
    char *b = slurp(path, &n);
    if (!b) { print_message("%s missing: skipped\n", path); continue; }
    check_opts co = {files[i].coverage, files[i].f == DQ_FMT_MARKDOWN};
    chunk_and_check(b, n, files[i].f, 256, 0, co, &nc);
    assert_true(nc > (files[i].f == DQ_FMT_TEXT ? 500u : 3u));
    chunk_and_check(b, n, files[i].f, 128, 24, co, &nc);
    free(b);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_indexer_chunk__invariants_generated),
    cmocka_unit_test(test_indexer_chunk__headings_start_chunks),
    cmocka_unit_test(test_indexer_chunk__word_cut_at_characters),
    cmocka_unit_test(test_indexer_chunk__markdown_data_left_out),
    cmocka_unit_test(test_indexer_chunk__markdown_data_inside_a_link_left_out),
    cmocka_unit_test(test_indexer_chunk__front_matter_in_first_clean),
    cmocka_unit_test(test_indexer_chunk__sentences_then_words),
    cmocka_unit_test(test_indexer_chunk__cjk_cut_between_characters),
    cmocka_unit_test(test_indexer_chunk__code_split_between_lines),
    cmocka_unit_test(test_indexer_chunk__overlap_repeats_trailing_sentences),
    cmocka_unit_test(test_indexer_chunk__html_joins_blocks),
    cmocka_unit_test(test_indexer_chunk__custom_counter),
    cmocka_unit_test(test_indexer_chunk__long_run_counted_in_n_log_n),
    cmocka_unit_test(test_indexer_chunk__repaired_offsets),
    cmocka_unit_test(test_indexer_chunk__allocation_failures),
    cmocka_unit_test(test_indexer_chunk__real_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
