/* Plain text loader: paragraphs are runs of non-blank lines; a blank line is
 * one holding only whitespace (ASCII, U+00A0, U+3000: Chinese novels indent
 * and separate paragraphs with ideographic spaces).
 *
 * Invariant: a block's range starts at its first non-space byte and ends
 * after its last non-space byte, so `text` is the exact body slice and
 * `clean` is the same string (plain text has no markup). */
#include "indexer/loader.h"

#include <string.h>

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

int dq_load_txt(dq_doc *d)
{
  const char *s = d->body;
  size_t n = d->body_len, pos = 0, pstart = 0, pend = 0;
  uint32_t line = 1, pl1 = 0, pl2 = 0;
  int in_para = 0, rc;
  while (pos < n) {
    const char *nl = memchr(s + pos, '\n', n - pos);
    size_t eol = nl ? (size_t)(nl - s) : n;
    size_t first = skip_space(s, pos, eol);
    if (first == eol) { /* blank line: ends the paragraph */
      if (in_para) {
        if ((rc = dq_doc_add_block(d, DQ_BLK_PARA, 0, pstart, pend, pl1, pl2, s + pstart, pend - pstart,
                                   s + pstart, pend - pstart, "")) < 0) return rc;
        in_para = 0;
      }
    } else {
      if (!in_para) { in_para = 1; pstart = first; pl1 = line; }
      pend = trim_end(s, first, eol);
      pl2 = line;
    }
    pos = nl ? eol + 1 : n;
    line++;
  }
  if (in_para && (rc = dq_doc_add_block(d, DQ_BLK_PARA, 0, pstart, pend, pl1, pl2, s + pstart, pend - pstart,
                                        s + pstart, pend - pstart, "")) < 0) return rc;
  return 0;
}
