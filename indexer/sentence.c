/* Sentences of plain or Markdown text, for the extractive answerer (which
 * quotes them) and the re-ranking (which looks for the sentence holding most
 * of a question). See sentence.h. */
#include "indexer/sentence.h"

#include <string.h>

#define LONG_SENTENCE 800

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* '.' at i ends an abbreviation: a single letter ("J. Smith"), letters
 * joined by dots ("U.S. Marines", "S.I. 2005": split there, the sentence
 * would lose the rest of its clause; an initialism that does end a sentence
 * only joins two sentences into one), or a common short form. */
static int abbrev_before(const char *t, size_t start, size_t i)
{
  static const char *const k[] = {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "fig", "no", "jr",
                                  "sr", "prof", "lt", "col", "gen", "capt", "sgt", "gov", "sen", "rev", "mt", "ft",
                                  "approx", "cf", "al", "vol", "pp", "jan", "feb", "aug", "sept", "oct", "nov", "dec"};
  size_t b = i;
  while (b > start && !is_space((unsigned char)t[b - 1]) && t[b - 1] != '(') b--;
  size_t len = i - b;
  if (len == 1 && is_letter(t[b])) return 1;
  if (len >= 3 && len % 2 == 1) {
    size_t m = 0;
    while (m < len && (m % 2 ? t[b + m] == '.' : is_letter(t[b + m]))) m++;
    if (m == len) return 1;
  }
  for (size_t j = 0; j < sizeof k / sizeof k[0]; j++) {
    size_t kl = strlen(k[j]);
    if (kl != len) continue;
    size_t m = 0;
    while (m < kl && (t[b + m] | 0x20) == k[j][m]) m++;
    if (m == kl) return 1;
  }
  return 0;
}

/* Length of a CJK sentence end at t+i (。！？ or fullwidth ！？), plus closing quotes; 0 if none. */
static size_t cjk_end(const unsigned char *t, size_t i, size_t n)
{
  size_t k = 0;
  if (i + 3 <= n) {
    if (t[i] == 0xE3 && t[i + 1] == 0x80 && t[i + 2] == 0x82) k = 3;                       /* 。 */
    else if (t[i] == 0xEF && t[i + 1] == 0xBC && (t[i + 2] == 0x81 || t[i + 2] == 0x9F)) k = 3; /* ！ ？ */
    /* ． (U+FF0E), the full stop of some editions (红楼梦), unless a
     * fullwidth digit follows (３．１４) */
    else if (t[i] == 0xEF && t[i + 1] == 0xBC && t[i + 2] == 0x8E &&
             !(i + 6 <= n && t[i + 3] == 0xEF && t[i + 4] == 0xBC && t[i + 5] >= 0x90 && t[i + 5] <= 0x99))
      k = 3;
  }
  if (!k) return 0;
  /* closing ” 」 』 */
  while (i + k + 3 <= n && ((t[i + k] == 0xE2 && t[i + k + 1] == 0x80 && t[i + k + 2] == 0x9D) ||
                            (t[i + k] == 0xE3 && t[i + k + 1] == 0x80 && (t[i + k + 2] == 0x8D || t[i + k + 2] == 0x8F))))
    k += 3;
  return k;
}

/* '\n' at t+i, or the "\r\n" of a CRLF file: a line's end. */
static int eol_at(const char *t, size_t i, size_t n) { return t[i] == '\n' || (t[i] == '\r' && i + 1 < n && t[i + 1] == '\n'); }

/* A line starting at t+i that begins a new unit: heading, list item, table
 * row, quote, or a blank line (a paragraph's end, also in a CRLF file). */
static int block_line(const char *t, size_t i, size_t n)
{
  while (i < n && (t[i] == ' ' || t[i] == '\t')) i++;
  if (i >= n) return 0;
  char c = t[i];
  if (c == '#' || c == '|' || c == '>' || eol_at(t, i, n)) return 1;
  if ((c == '-' || c == '*' || c == '+') && i + 1 < n && t[i + 1] == ' ') return 1;
  size_t d = i;
  while (d < n && t[d] >= '0' && t[d] <= '9') d++;
  return d > i && d + 1 < n && (t[d] == '.' || t[d] == ')') && t[d + 1] == ' ';
}

/* Past the quote markers ("> ", "> > ") opening the line at t+i; i when it
 * has none. */
static size_t skip_quote(const char *t, size_t i, size_t n)
{
  size_t j = i;
  while (j < n && (t[j] == ' ' || t[j] == '\t')) j++;
  if (j >= n || t[j] != '>') return i;
  while (j < n && (t[j] == '>' || t[j] == ' ' || t[j] == '\t')) j++;
  return j;
}

/* The line at t+i, after the line at t+line, begins a new unit. Inside a
 * quote (both lines open with "> ") a line continues the paragraph, as it
 * does outside one, unless what follows its markers begins a unit itself,
 * it or the line before is an empty quote line, or the line before is an
 * Obsidian callout's title ("> [!note] Title"). */
static int new_unit(const char *t, size_t line, size_t i, size_t n)
{
  if (!block_line(t, i, n)) return 0;
  const size_t a = skip_quote(t, line, n), b = skip_quote(t, i, n);
  if (a == line || b == i) return 1;
  if (a >= n || eol_at(t, a, n) || (a + 1 < n && t[a] == '[' && t[a + 1] == '!')) return 1;
  return b >= n || eol_at(t, b, n) || block_line(t, b, n);
}

static int emit(const char *t, size_t s, size_t e, dq_sentence_cb cb, void *ctx)
{
  while (s < e && is_space((unsigned char)t[s])) s++;
  while (e > s && is_space((unsigned char)t[e - 1])) e--;
  return e > s ? cb(ctx, s, e) : 0;
}

int dq_sentences(const char *text, size_t n, dq_sentence_cb cb, void *ctx)
{
  const unsigned char *t = (const unsigned char *)text;
  size_t start = 0, i = 0, line = 0; /* line: where the line holding t[i] starts */
  int rc = 0;
  while (i < n && !rc) {
    unsigned char c = t[i];
    size_t end = 0;
    if (c == '.' || c == '!' || c == '?') {
      size_t j = i + 1;
      while (j < n && (t[j] == '"' || t[j] == '\'' || t[j] == ')' || t[j] == ']')) j++;
      if ((j >= n || is_space(t[j])) && !(c == '.' && abbrev_before(text, start, i))) end = j;
    } else if (c >= 0xE3) {
      size_t k = cjk_end(t, i, n);
      if (k) end = i + k;
    } else if (c == '\n' && new_unit(text, line, i + 1, n)) {
      end = i + 1;
    } else if (is_space(c) && i - start > LONG_SENTENCE) {
      end = i; /* run-on text (tables, lists without punctuation): cut at a space */
    }
    if (c == '\n') line = i + 1;
    if (end) {
      rc = emit(text, start, end, cb, ctx);
      start = i = end;
      continue;
    }
    i++;
  }
  if (!rc) rc = emit(text, start, n, cb, ctx);
  return rc;
}
