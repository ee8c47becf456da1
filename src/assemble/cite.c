/* Citations in a model's answer (see assemble.h, dq_cite_scan).
 *
 * The prompt asks the model to cite the numbered passages as [n], so that
 * is the only form read, and only for a passage it was given: "[7]" with
 * five passages cites nothing. Code the model quotes (a code span or a
 * fenced block) is skipped: "`argv[1]`" or "items[2]" inside an example is
 * an index into an array, not a citation. (An extractive answer needs none
 * of this: dq_extract knows which passages it quoted.) */
#include "assemble/assemble.h"

#include <string.h>

#include "util/err.h"
#include "util/mem.h"

/* The end of the code span opening with the run of `ticks` backticks at
 * s[i] (just past its closing run of as many backticks), or i when none
 * closes it before `end` (the backticks are then plain text). */
static size_t code_span_end(const char *s, size_t i, size_t ticks, size_t end)
{
  for (size_t j = i + ticks; j < end;) {
    if (s[j] != '`') { j++; continue; }
    size_t k = j;
    while (k < end && s[k] == '`') k++;
    if (k - j == ticks) return k;
    j = k;
  }
  return i;
}

/* The label of a marker "[n]" at s[i] (1..n_passages), else 0; *next gets
 * the byte after it. */
static int marker_at(const char *s, size_t i, size_t end, size_t n_passages, size_t *next)
{
  size_t j = i + 1, v = 0;
  while (j < end && s[j] >= '0' && s[j] <= '9' && v <= n_passages) v = v * 10 + (size_t)(s[j++] - '0');
  if (j == i + 1 || j >= end || s[j] != ']' || v < 1 || v > n_passages) return 0;
  *next = j + 1;
  return (int)v;
}

/* Adds the markers of s[start, end), text outside fenced blocks, to
 * labels[0..*n) (first citations only). */
static void scan_prose(const char *s, size_t start, size_t end, size_t n_passages, int *labels, size_t *n)
{
  for (size_t i = start; i < end;) {
    if (s[i] == '`') {
      size_t k = i;
      while (k < end && s[k] == '`') k++;
      const size_t e = code_span_end(s, i, k - i, end);
      i = e > i ? e : k;
      continue;
    }
    size_t next = i + 1;
    const int v = s[i] == '[' ? marker_at(s, i, end, n_passages, &next) : 0;
    if (v) {
      size_t j = 0;
      while (j < *n && labels[j] != v) j++;
      if (j == *n) labels[(*n)++] = v;
    }
    i = next;
  }
}

long dq_cite_scan(const char *text, size_t len, size_t n_passages, int *labels)
{
  size_t n = 0;
  const size_t nfr = dq_md_fences(text, len, NULL, 0);
  size_t (*fr)[2] = nfr ? dq_malloc(nfr * sizeof *fr) : NULL;
  if (nfr && !fr) return dq_err_set(DOCQ_ENOMEM, "ask: out of memory");
  if (nfr) dq_md_fences(text, len, fr, nfr);
  size_t pos = 0;
  for (size_t r = 0; r <= nfr; r++) { /* the prose before each block, then after the last */
    const size_t stop = r < nfr ? fr[r][0] : len;
    if (stop > pos) scan_prose(text, pos, stop, n_passages, labels, &n);
    if (r < nfr) pos = fr[r][1];
  }
  dq_free(fr);
  return (long)n;
}
