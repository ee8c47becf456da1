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

/* The level (1 or 2) of a Chinese chapter line s[a..b) (trimmed), else 0:
 * after the unit comes the end, white space or a colon, and the line holds
 * no sentence's end (第三章 讲的是如何安装。 is a sentence). */
static int zh_heading(const char *s, size_t a, size_t b)
{
  static const char *const digits[] = {"零", "〇", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十",
                                       "百", "千", "万", "两"};
  static const char *const units[] = {"回", "章", "节", "卷", "部", "篇", "集"};
  static const char *const ends[] = {"。", "！", "？", "；", "…"};
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
  int level = 0;
  for (size_t i = 0; i < sizeof units / sizeof *units && !level; i++)
    if ((k = starts(s, p, b, units[i]))) {
      p += k;
      if (p < b && !dq_is_space_at(s + p, b - p, &k) && s[p] != ':' && !starts(s, p, b, "："))
        return 0; /* 第三章讲的是...: a sentence */
      level = i >= 3 ? 1 : 2;
    }
  for (size_t q = p; level && q < b; q++)
    for (size_t i = 0; i < sizeof ends / sizeof *ends; i++)
      if (starts(s, q, b, ends[i])) return 0;
  return level;
}

/* A title after an English chapter's number: at most 12 words, the first
 * not lower case, and at most one lower-case word besides a, an, the, of,
 * and, or, to, in, on, at, for, with, by, from, as ("The Pool of Tears",
 * "Enter Ahab; to Him, Stubb.", "THE SHADOW"; not "The volume knob on the
 * amplifier was turned to eleven."). */
static int title_like(const char *s, size_t a, size_t b)
{
  static const char *const small[] = {"a", "an", "the", "of", "and", "or", "to", "in", "on", "at", "for",
                                      "with", "by", "from", "as"};
  int words = 0, lower = 0;
  for (size_t p = a; p < b;) {
    while (p < b && s[p] == ' ') p++;
    if (p >= b) break;
    size_t e = p;
    while (e < b && s[e] != ' ') e++;
    words++;
    if (s[p] >= 'a' && s[p] <= 'z') {
      if (words == 1) return 0;
      int is_small = 0;
      for (size_t i = 0; i < sizeof small / sizeof *small && !is_small; i++)
        is_small = e - p == strlen(small[i]) && !memcmp(s + p, small[i], e - p);
      lower += !is_small;
    }
    p = e;
  }
  return words <= 12 && lower <= 1;
}

/* The end of a chapter number at s[p..b): digits, an upper-case Roman
 * numeral of I V X L C holding an I, V or X ("BOOK DVD", "Letter C" are
 * none), or a number word (One to Twenty, upper case too); p when none. */
static size_t number_end(const char *s, size_t p, size_t b)
{
  static const char *const words[] = {"One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine",
                                      "Ten", "Eleven", "Twelve", "Thirteen", "Fourteen", "Fifteen", "Sixteen",
                                      "Seventeen", "Eighteen", "Nineteen", "Twenty"};
  size_t q = p;
  while (q < b && s[q] >= '0' && s[q] <= '9') q++;
  if (q > p) return q;
  int ivx = 0;
  for (; q < b && s[q] && strchr("IVXLC", s[q]); q++) ivx |= s[q] == 'I' || s[q] == 'V' || s[q] == 'X';
  if (q > p && ivx && (q == b || !((s[q] >= 'A' && s[q] <= 'Z') || (s[q] >= 'a' && s[q] <= 'z')))) return q;
  for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
    const size_t n = strlen(words[i]);
    if (b - p < n || (q = p + n, q < b && ((s[q] >= 'A' && s[q] <= 'Z') || (s[q] >= 'a' && s[q] <= 'z')))) continue;
    size_t m = 0;
    while (m < n && (s[p + m] == words[i][m] || (m && s[p + m] == words[i][m] - 32))) m++;
    if (m == n) return q;
  }
  return p;
}

/* The level (1 or 2) of an English chapter line s[a..b) (trimmed), else 0:
 * Chapter, Book, Part, Volume, Letter or Stave (capitalized or upper case)
 * and a number, then the end, or ".", ":" or a dash and a title, or a title
 * (title_like); Prologue, Epilogue, Preface or Afterword alone; a Roman
 * numeral and "." alone or before a title ("I. A SCANDAL IN BOHEMIA"). */
static int en_heading(const char *s, size_t a, size_t b)
{
  static const struct { const char *w; int level; } words[] = {
    {"Chapter", 2}, {"CHAPTER", 2}, {"Letter", 2}, {"LETTER", 2}, {"Stave", 2}, {"STAVE", 2},
    {"Book", 1}, {"BOOK", 1}, {"Part", 1}, {"PART", 1}, {"Volume", 1}, {"VOLUME", 1}};
  static const char *const alone[] = {"Prologue", "PROLOGUE", "Epilogue", "EPILOGUE", "Preface", "PREFACE",
                                      "Afterword", "AFTERWORD"};
  if (b - a > HEADING_MAX || a == b) return 0;
  const size_t len = b - a - (s[b - 1] == '.');
  for (size_t i = 0; i < sizeof alone / sizeof *alone; i++)
    if (len == strlen(alone[i]) && !memcmp(s + a, alone[i], len)) return 2;
  int level = 0;
  size_t p = a;
  for (size_t i = 0; i < sizeof words / sizeof *words && !level; i++)
    if (starts(s, a, b, words[i].w) && b - a > strlen(words[i].w) && s[a + strlen(words[i].w)] == ' ') {
      level = words[i].level;
      p = a + strlen(words[i].w) + 1;
    }
  size_t q = number_end(s, p, b);
  if (!level) { /* a Roman numeral and a full stop */
    if (q == p || !strchr("IVXLC", s[p]) || q >= b || s[q] != '.') return 0;
    level = 2;
  }
  if (q == p) return 0;
  if (q == b) return level;
  size_t t = q;
  if (s[t] == '.' || s[t] == ':') t++;
  else if (s[t] != ' ') return 0;
  while (t < b && s[t] == ' ') t++;
  if (t < b && s[t] == '-') /* a dash: -, --, an em or en dash */
    while (t < b && s[t] == '-') t++;
  else if (starts(s, t, b, "\u2014") || starts(s, t, b, "\u2013"))
    t += 3;
  while (t < b && s[t] == ' ') t++;
  return t >= b || title_like(s, t, b) ? level : 0;
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

/* A heading block at `level`: it ends the deeper one and names what follows
 * (its lines joined by one space in the section). */
static int add_heading(txt *t, int level, size_t a, size_t b, uint32_t l1, uint32_t l2)
{
  const char *s = t->d->body;
  for (int l = level; l <= 2; l++) { dq_free(t->head[l]); t->head[l] = NULL; }
  char *h = t->head[level] = dq_strndup(s + a, b - a);
  if (!h) return DOCQ_ENOMEM;
  size_t w = 0;
  for (size_t r = 0; h[r]; r++) {
    const int sp = h[r] == '\r' || h[r] == '\n' || h[r] == '\t' || h[r] == ' ';
    if (!sp) h[w++] = h[r];
    else if (w && h[w - 1] != ' ') h[w++] = ' ';
  }
  h[w] = 0;
  t->sec.len = 0;
  if (t->sec.p) t->sec.p[0] = 0;
  for (int l = 1; l <= 2; l++) {
    if (!t->head[l]) continue;
    if (t->sec.len) dq_buf_puts(&t->sec, " > ");
    dq_label_put(&t->sec, t->head[l], strlen(t->head[l]));
  }
  if (t->sec.oom) return DOCQ_ENOMEM;
  return dq_doc_add_block(t->d, DQ_BLK_HEADING, level, a, b, l1, l2, s + a, b - a, s + a, b - a,
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

/* The heading level of the trimmed line s[a..b) by either rule, for the
 * neighbours of a candidate. */
static int line_level(const char *s, size_t a, size_t b)
{
  int level = zh_heading(s, a, b);
  return level ? level : en_heading(s, a, b);
}

/* A candidate heading of `level` is an entry of a table of contents when
 * the next non-blank line (from pos) is a candidate of the same level, or
 * the line right above, [pa, pb) (pb == pa: blank or none), is: the last
 * entry before a preface. Not the line above across a blank line, which is
 * the contents' last entry above the first real chapter. */
static int in_contents(const char *s, size_t n, int level, size_t pa, size_t pb, size_t pos)
{
  size_t na, nb;
  if (pb > pa && line_level(s, pa, pb) == level) return 1;
  return next_line(s, n, pos, &na, &nb) && line_level(s, na, nb) == level;
}

/* The level of the paragraph s[a..b) of one or two lines as an English
 * heading (the second line, from b1, continues a long title: "CHAPTER 56.
 * Of the Less Erroneous Pictures of Whales, and the True" / "Pictures of
 * Whaling Scenes."), else 0. */
static int en_para_heading(const char *s, size_t a, size_t a1, size_t b1, size_t b, int lines)
{
  if (lines == 1) return en_heading(s, a, b);
  if (lines != 2 || b - a > HEADING_MAX || !(s[b1] >= 'A' && s[b1] <= 'Z') || !title_like(s, b1, b) ||
      line_level(s, b1, b)) /* two entries of a contents */
    return 0;
  return en_heading(s, a, a1);
}

static int load(txt *t)
{
  dq_doc *d = t->d;
  const char *s = d->body;
  size_t n = d->body_len, pos = 0, pstart = 0, pend = 0, p1end = 0, p2start = 0;
  size_t la = 0, lb = 0, qa = 0, qb = 0; /* the line above if not blank; the one above the paragraph */
  uint32_t line = 1, pl1 = 0, pl2 = 0;
  int in_para = 0, rc;
  for (;;) {
    const char *nl = pos < n ? memchr(s + pos, '\n', n - pos) : NULL;
    size_t eol = nl ? (size_t)(nl - s) : n;
    size_t first = pos < n ? skip_space(s, pos, eol) : n, last = first < eol ? trim_end(s, first, eol) : first;
    int zh = first < eol ? zh_heading(s, first, last) : 0;
    if (zh && in_contents(s, n, zh, la, lb, nl ? eol + 1 : n)) zh = 0;
    if (pos >= n || first == eol || zh) { /* the end, a blank line or a chapter line ends the paragraph */
      if (in_para) {
        int en = en_para_heading(s, pstart, p1end, p2start, pend, (int)(pl2 - pl1 + 1));
        if (en && in_contents(s, n, en, qa, qb, pos)) en = 0;
        rc = en ? add_heading(t, en, pstart, pend, pl1, pl2) : add_para(t, pstart, pend, pl1, pl2);
        if (rc < 0) return rc;
        in_para = 0;
      }
      if (pos >= n) break;
      if (zh && (rc = add_heading(t, zh, first, last, line, line)) < 0) return rc;
    } else {
      if (!in_para) { in_para = 1; pstart = first; p1end = last; pl1 = line; qa = la; qb = lb; }
      if (line == pl1 + 1) p2start = first;
      pend = last;
      pl2 = line;
      if (!d->title && line <= 60 && starts(s, first, last, "Title: ") && last - first > 7 &&
          !(d->title = dq_doc_strndup(d, s + first + 7, last - first - 7)))
        return DOCQ_ENOMEM;
    }
    la = first < eol ? first : 0; /* the line above the next one: none when this one is blank */
    lb = first < eol ? last : 0;
    pos = nl ? eol + 1 : n;
    line++;
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
