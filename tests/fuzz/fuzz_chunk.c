/* Fuzz target: the chunker's contract on arbitrary text. Input: byte 0 picks
 * the format, byte 1 the target (1..64 tokens), byte 2 the overlap (0..15);
 * the rest is the document. Checks (abort on failure): valid UTF-8 chunks,
 * estimated tokens within n_tokens and the target (unless one code point or
 * one unsplittable line), exact file slices and line numbers for text/markdown, overlaps that
 * repeat the previous chunk's tail, and, for plain text, that the chunks
 * minus overlaps hold every non-space byte of the document in order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/chunk.h"
#include "indexer/normalize.h"

#define MAX_INPUT (128u << 10)

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static size_t ws(const uint8_t *s, size_t n)
{
  if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v') return 1;
  if (n >= 2 && s[0] == 0xC2 && s[1] == 0xA0) return 2;
  if (n >= 3 && s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) return 3;
  return 0;
}

/* Is s[0..n) exactly one UTF-8 code point (the chunks are valid UTF-8)? */
static int one_code_point(const uint8_t *s, size_t n)
{
  size_t len = s[0] < 0x80 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
  return n == len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 3 || size > MAX_INPUT) return 0;
  dq_format f = (dq_format)(data[0] % 3);
  unsigned target = 1u + data[1] % 64, overlap = data[2] % 16u;
  const uint8_t *s = data + 3;
  size_t n = size - 3;
  dq_doc *d = NULL;
  if (dq_load_buffer("fuzz", (const char *)s, n, f, &d) != 0) return 0;
  dq_chunk_opts o = {target, overlap, NULL, NULL};
  dq_chunk *c = NULL;
  size_t nc = 0;
  if (dq_chunk_doc(d, &o, &c, &nc) != 0) { dq_doc_free(d); return 0; }
  int slices = f != DQ_FMT_HTML && !d->n_repaired;
  uint8_t *cat = malloc(n + 1);
  size_t catn = 0;
  for (size_t i = 0; i < nc; i++) {
    const dq_chunk *ch = &c[i];
    CHECK(ch->ordinal == i && ch->src_start <= ch->src_end && ch->src_end <= n);
    CHECK(dq_utf8_valid(ch->text, ch->text_len) && dq_utf8_valid(ch->clean, ch->clean_len));
    size_t est = dq_token_estimate(ch->text, ch->text_len);
    /* Over the target only when nothing smaller exists: one code point (a
     * U+FFFD costs 3 against a target of 1) or one code line (markdown
     * fence, html pre). */
    if (est > target || ch->n_tokens > target)
      CHECK(one_code_point((const uint8_t *)ch->text, ch->text_len) ||
            (f != DQ_FMT_TEXT && !memchr(ch->text, '\n', ch->text_len)));
    if (f != DQ_FMT_HTML) CHECK(est <= ch->n_tokens);
    CHECK(ch->overlap_len < ch->text_len);
    if (ch->overlap_len) {
      CHECK(i > 0 && c[i - 1].text_len >= ch->overlap_len);
      CHECK(!memcmp(c[i - 1].text + c[i - 1].text_len - ch->overlap_len, ch->text, ch->overlap_len));
    }
    if (slices) {
      CHECK(ch->text_len == ch->src_end - ch->src_start && !memcmp(s + ch->src_start, ch->text, ch->text_len));
      uint32_t line = 1;
      for (size_t k = 0; k < ch->src_start; k++) line += s[k] == '\n';
      CHECK(ch->line_first == line);
      for (size_t k = ch->src_start; k + 1 < ch->src_end; k++) line += s[k] == '\n';
      CHECK(ch->line_last == line);
      if (i) CHECK(ch->src_start + ch->overlap_len >= c[i - 1].src_end);
    }
    const uint8_t *t = (const uint8_t *)ch->text;
    for (size_t k = ch->overlap_len; k < ch->text_len;) {
      size_t w = ws(t + k, ch->text_len - k);
      if (w) { k += w; continue; }
      if (catn < n) cat[catn] = t[k];
      catn++;
      k++;
    }
  }
  if (f == DQ_FMT_TEXT && slices) { /* coverage */
    size_t k = 0;
    for (size_t i = 0; i < n;) {
      size_t w = ws(s + i, n - i);
      if (w) { i += w; continue; }
      CHECK(k < catn && cat[k] == s[i]);
      k++;
      i++;
    }
    CHECK(k == catn);
  }
  free(cat);
  dq_chunks_free(c, nc);
  dq_doc_free(d);
  return 0;
}
