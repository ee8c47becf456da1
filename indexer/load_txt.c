/* Plain text loader: paragraphs are runs of non-blank lines; a blank line is
 * one holding only whitespace (ASCII, U+00A0, U+3000: Chinese novels indent
 * and separate paragraphs with ideographic spaces).
 *
 * Books in plain text mark their chapters with lines of their own, which
 * become headings (the section of what follows, and where a chunk starts):
 *   - a line "第五十二回 诸葛亮智辞鲁肃 赵子龙计取桂阳": 第, a number (Chinese
 *     numerals or digits), one of 回章节卷部篇集, then the end of the line or
 *     white space and a title. Line by line, since such novels run the
 *     heading straight into the text; not when the next non-blank line is
 *     one too (a table of contents).
 *   - a paragraph of one line "CHAPTER 1. Loomings.", "Chapter 3", "BOOK II",
 *     "Part 2 — The Return": Chapter, Book, Part, Volume, Letter or Stave
 *     (capitalized or upper case), a number (digits or upper-case Roman),
 *     then the end, or ".", ":", a dash or a capitalized title ("Chapter 3
 *     covers the basics" is a sentence). A table of contents is one
 *     paragraph of such lines, so it is not taken.
 * Books, parts, volumes (卷部篇集) are level 1, chapters level 2.
 * A "Title: ..." line among the first 60 (Project Gutenberg's header) names
 * the document; else the file name does (loader.c), never a chapter.
 *
 * Invariant: a block's range starts at its first non-space byte and ends
 * after its last non-space byte, so `text` is the exact body slice and
 * `clean` is the same string (plain text has no markup). */
#include "indexer/loader.h"

#include <string.h>

#include "util/err.h"
#include "util/mem.h"

/* Index just past the leading whitespace of s[a..b), and just before its trailing whitespace. */
static size_t skip_space(const char *s, size_t a, size_t b)
{
  size_t k;
  while (a < b && dq_is_space_at(s + a, b - a, &k)) a += k;
  return a;
}

static size_t trim_end(const char *s, size_t a, size_t b)
{
  while (b > a) {
    unsigned char c = (unsigned char)s[b - 1];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') { b--; continue; }
    if (b - a >= 3 && c == 0x80 && (unsigned char)s[b - 2] == 0x80 && (unsigned char)s[b - 3] == 0xE3) { b -= 3; continue; }
    if (b - a >= 2 && c == 0xA0 && (unsigned char)s[b - 2] == 0xC2) { b -= 2; continue; }
    break;
  }
  return b;
}

/* Longest heading line taken, in bytes (40 CJK characters, or a title). */
#define HEADING_MAX 120

/* s[a..) starts with the UTF-8 string u: its length, else 0. */
static size_t starts(const char *s, size_t a, size_t b, const char *u)
{
  size_t n = strlen(u);
  return b - a >= n && !memcmp(s + a, u, n) ? n : 0;
}

/* The level (1 or 2) of a Chinese chapter line s[a..b) (trimmed), else 0. */
static int zh_heading(const char *s, size_t a, size_t b)
{
  static const char *const digits[] = {"零", "〇", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十",
                                       "百", "千", "万", "两"};
  static const char *const units[] = {"回", "章", "节", "卷", "部", "篇", "集"};
  size_t k;
  if (b - a > HEADING_MAX || !(k = starts(s, a, b, "第"))) return 0;
  size_t p = a + k, nd = 0;
  for (;;) {
    if (p < b && s[p] >= '0' && s[p] <= '9') { p++; nd++; continue; }
    size_t m = 0;
    for (size_t i = 0; i < sizeof digits / sizeof *digits && !m; i++) m = starts(s, p, b, digits[i]);
    if (!m) break;
    p += m;
    nd++;
  }
  if (nd == 0 || nd > 10) return 0;
  for (size_t i = 0; i < sizeof units / sizeof *units; i++)
    if ((k = starts(s, p, b, units[i]))) {
      p += k;
      if (p < b && !dq_is_space_at(s + p, b - p, &k)) return 0; /* 第三章讲的是...: a sentence */
      return i >= 3 ? 1 : 2;
    }
  return 0;
}

/* The level (1 or 2) of an English chapter line s[a..b) (trimmed), else 0. */
static int en_heading(const char *s, size_t a, size_t b)
{
  static const struct { const char *w; int level; } words[] = {
    {"Chapter", 2}, {"CHAPTER", 2}, {"Letter", 2}, {"LETTER", 2}, {"Stave", 2}, {"STAVE", 2},
    {"Book", 1}, {"BOOK", 1}, {"Part", 1}, {"PART", 1}, {"Volume", 1}, {"VOLUME", 1}};
  if (b - a > HEADING_MAX) return 0;
  int level = 0;
  size_t p = a;
  for (size_t i = 0; i < sizeof words / sizeof *words && !level; i++)
    if (starts(s, a, b, words[i].w) && b - a > strlen(words[i].w) && s[a + strlen(words[i].w)] == ' ') {
      level = words[i].level;
      p = a + strlen(words[i].w) + 1;
    }
  if (!level) return 0;
  size_t q = p;
  while (q < b && s[q] >= '0' && s[q] <= '9') q++;
  if (q == p)
    while (q < b && s[q] && strchr("IVXLCDM", s[q])) q++;
  if (q == p) return 0;
  if (q == b) return level;
  const char c = s[q];
  if (c == '.' || c == ':') return level;
  if (c != ' ') return 0;
  const unsigned char d = (unsigned char)(q + 1 < b ? s[q + 1] : 0);
  if ((d >= 'A' && d <= 'Z') || d == '-' || d == '"' || d == '\'' || d >= 0x80) return level; /* a title, a dash */
  return 0;
}

int dq_txt_heading(const char *s, size_t n)
{
  int level = zh_heading(s, 0, n);
  return level ? level : en_heading(s, 0, n);
}

typedef struct txt {
  dq_doc *d;
  char *head[3];  /* the open book (1) and chapter (2) */
  dq_buf sec;
} txt;

/* A heading block at `level`: it ends the deeper one and names what follows. */
static int add_heading(txt *t, int level, size_t a, size_t b, uint32_t line)
{
  const char *s = t->d->body;
  for (int l = level; l <= 2; l++) { dq_free(t->head[l]); t->head[l] = NULL; }
  if (!(t->head[level] = dq_strndup(s + a, b - a))) return DOCQ_ENOMEM;
  t->sec.len = 0;
  if (t->sec.p) t->sec.p[0] = 0;
  for (int l = 1; l <= 2; l++) {
    if (!t->head[l]) continue;
    if (t->sec.len) dq_buf_puts(&t->sec, " > ");
    dq_label_put(&t->sec, t->head[l], strlen(t->head[l]));
  }
  if (t->sec.oom) return DOCQ_ENOMEM;
  return dq_doc_add_block(t->d, DQ_BLK_HEADING, level, a, b, line, line, s + a, b - a, s + a, b - a,
                          dq_buf_cstr(&t->sec));
}

static int add_para(txt *t, size_t a, size_t b, uint32_t l1, uint32_t l2)
{
  const char *s = t->d->body;
  return dq_doc_add_block(t->d, DQ_BLK_PARA, 0, a, b, l1, l2, s + a, b - a, s + a, b - a, dq_buf_cstr(&t->sec));
}

/* The trimmed range of the next non-blank line from pos, 0 when none. */
static int next_line(const char *s, size_t n, size_t pos, size_t *a, size_t *b)
{
  while (pos < n) {
    const char *nl = memchr(s + pos, '\n', n - pos);
    size_t eol = nl ? (size_t)(nl - s) : n, first = skip_space(s, pos, eol);
    if (first < eol) {
      *a = first;
      *b = trim_end(s, first, eol);
      return 1;
    }
    pos = nl ? eol + 1 : n;
  }
  return 0;
}

static int load(txt *t)
{
  dq_doc *d = t->d;
  const char *s = d->body;
  size_t n = d->body_len, pos = 0, pstart = 0, pend = 0;
  uint32_t line = 1, pl1 = 0, pl2 = 0;
  int in_para = 0, rc;
  while (pos < n) {
    const char *nl = memchr(s + pos, '\n', n - pos);
    size_t eol = nl ? (size_t)(nl - s) : n;
    size_t first = skip_space(s, pos, eol), last = trim_end(s, first, eol);
    size_t na, nb;
    int zh = first < eol ? zh_heading(s, first, last) : 0;
    if (zh && next_line(s, n, nl ? eol + 1 : n, &na, &nb) && zh_heading(s, na, nb)) zh = 0; /* contents */
    if (first == eol || zh) { /* a blank line or a chapter line ends the paragraph */
      if (in_para) {
        int en = pl1 == pl2 ? en_heading(s, pstart, pend) : 0;
        rc = en ? add_heading(t, en, pstart, pend, pl1) : add_para(t, pstart, pend, pl1, pl2);
        if (rc < 0) return rc;
        in_para = 0;
      }
      if (zh && (rc = add_heading(t, zh, first, last, line)) < 0) return rc;
    } else {
      if (!in_para) { in_para = 1; pstart = first; pl1 = line; }
      pend = last;
      pl2 = line;
      if (!d->title && line <= 60 && starts(s, first, last, "Title: ") && last - first > 7 &&
          !(d->title = dq_doc_strndup(d, s + first + 7, last - first - 7)))
        return DOCQ_ENOMEM;
    }
    pos = nl ? eol + 1 : n;
    line++;
  }
  if (in_para) {
    int en = pl1 == pl2 ? en_heading(s, pstart, pend) : 0;
    rc = en ? add_heading(t, en, pstart, pend, pl1) : add_para(t, pstart, pend, pl1, pl2);
    if (rc < 0) return rc;
  }
  return 0;
}

int dq_load_txt(dq_doc *d)
{
  txt t = {.d = d};
  int rc = load(&t);
  for (int l = 0; l < 3; l++) dq_free(t.head[l]);
  dq_buf_free(&t.sec);
  return rc;
}
