/* Pre-tokenizers of byte-level BPE: the split regexes of GPT-2, Llama 3,
 * Qwen2 and SmolLM written out by hand as scanners over code points, with
 * Unicode categories from utf8proc (no regex engine). Each scanner tries the
 * regex's alternatives in order at the current position, exactly as a
 * leftmost-first regex engine would, and emits the match:
 *
 *   GPT-2:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *           | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   Qwen2:  the Llama 3 expression with \p{N} instead of \p{N}{1,3}
 *   SmolLM: \p{N} isolated first, then the GPT-2 expression on the rest
 *   GPT-4o, tekken: as llama.cpp rewrites them (split_o200k, below)
 *
 * \s is the Unicode White_Space set (the one llama.cpp uses), \p{L} the
 * categories Lu Ll Lt Lm Lo, \p{N} Nd Nl No. A code point matched by no
 * alternative becomes a word by itself. Past the end of the range a code
 * point has no flags, which is how the lookaheads see "end of text". */
#include <utf8proc.h>

#include "engine/tok_internal.h"

enum { F_LETTER = 1, F_NUMBER = 2, F_SPACE = 4, F_ANY = 8 };
#define OUT_OF_RANGE 0xFFFFFFFFu

static int is_white(uint32_t c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static unsigned cp_flags(uint32_t c)
{
  if (c < 0x80) {
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return F_ANY | F_LETTER;
    if (c >= '0' && c <= '9') return F_ANY | F_NUMBER;
    return F_ANY | (is_white(c) ? F_SPACE : 0);
  }
  unsigned f = F_ANY | (is_white(c) ? F_SPACE : 0);
  /* CJK Extension I came with Unicode 15.1, after utf8proc 2.8's 15.0;
   * llama.cpp's table has its 622 ideographs as letters (Lo) */
  if (c >= 0x2EBF0 && c <= 0x2EE5D) return f | F_LETTER;
  switch (utf8proc_category((utf8proc_int32_t)c)) {
  case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    f |= F_LETTER; break;
  case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
    f |= F_NUMBER; break;
  default: break;
  }
  return f;
}

typedef struct scan {
  const uint32_t *cp;
  size_t beg, end, prev; /* range and end of the last emitted word */
  dq_pretok_emit emit;
  void *ctx;
  int rc;
} scan;

static uint32_t cpt(const scan *s, size_t i) { return i >= s->beg && i < s->end ? s->cp[i] : OUT_OF_RANGE; }
static unsigned flg(const scan *s, size_t i) { return i >= s->beg && i < s->end ? cp_flags(s->cp[i]) : 0; }

/* Emit [prev, e) if non-empty; returns its length. */
static size_t add(scan *s, size_t e)
{
  size_t n = e - s->prev;
  if (n > 0 && s->rc == 0) s->rc = s->emit(s->prev, e, s->ctx);
  s->prev = e;
  return n;
}

static uint32_t lower(uint32_t c) { return (uint32_t)utf8proc_tolower((utf8proc_int32_t)c); }

/* 's 't 're 've 'm 'll 'd at pos (case-insensitive when ci); length or 0. */
static size_t contraction(const scan *s, size_t pos, int ci)
{
  if (cpt(s, pos) != '\'' || pos + 1 >= s->end) return 0;
  uint32_t a = cpt(s, pos + 1), b = pos + 2 < s->end ? cpt(s, pos + 2) : OUT_OF_RANGE;
  if (ci) { a = lower(a); b = b == OUT_OF_RANGE ? b : lower(b); }
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

/* \s+(?!\S) then \s+ at pos; 0 when pos is not whitespace. */
static size_t spaces(const scan *s, size_t pos)
{
  size_t k = 0;
  while (flg(s, pos + k) & F_SPACE) k++;
  if (k > 1 && cpt(s, pos + k) != OUT_OF_RANGE) return k - 1; /* leave one space for the next word */
  return k;
}

static void split_gpt2(scan *s)
{
  for (size_t pos = s->beg; pos < s->end && s->rc == 0;) {
    uint32_t c = cpt(s, pos);
    size_t k = contraction(s, pos, 0);
    if (k) { pos += add(s, pos + k); continue; }
    unsigned f2 = c == ' ' ? flg(s, pos + 1) : flg(s, pos);
    if (f2 & (F_LETTER | F_NUMBER)) { /* ' ?\p{L}+' or ' ?\p{N}+' */
      unsigned cls = f2 & F_LETTER ? F_LETTER : F_NUMBER;
      pos += c == ' ';
      while (flg(s, pos) & cls) pos++;
      add(s, pos);
      continue;
    }
    if ((f2 & F_ANY) && !(f2 & F_SPACE)) { /* ' ?[^\s\p{L}\p{N}]+' */
      pos += c == ' ';
      for (unsigned f = flg(s, pos); (f & F_ANY) && !(f & (F_SPACE | F_LETTER | F_NUMBER)); f = flg(s, ++pos)) {}
      add(s, pos);
      continue;
    }
    k = spaces(s, pos);
    pos += k ? k : 1;
    add(s, pos);
  }
}

static void split_llama3(scan *s, size_t max_digits)
{
  for (size_t pos = s->beg; pos < s->end && s->rc == 0;) {
    uint32_t c = cpt(s, pos);
    unsigned f = flg(s, pos);
    size_t k = contraction(s, pos, 1);
    if (k) { pos += add(s, pos + k); continue; }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c != '\r' && c != '\n' && !(f & F_NUMBER) && ((f & F_LETTER) || (flg(s, pos + 1) & F_LETTER))) {
      pos++;
      while (flg(s, pos) & F_LETTER) pos++;
      add(s, pos);
      continue;
    }
    /* \p{N}{1,max_digits}: a run of digits comes out in groups */
    if (f & F_NUMBER) {
      size_t ini = pos;
      while (flg(s, pos) & F_NUMBER) {
        if (++pos - ini >= max_digits) { add(s, pos); ini = pos; }
      }
      add(s, pos);
      continue;
    }
    /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
    unsigned f2 = c == ' ' ? flg(s, pos + 1) : f;
    if ((f2 & F_ANY) && !(f2 & (F_SPACE | F_LETTER | F_NUMBER))) {
      pos += c == ' ';
      while ((f2 & F_ANY) && !(f2 & (F_SPACE | F_LETTER | F_NUMBER))) f2 = flg(s, ++pos);
      while (cpt(s, pos) == '\r' || cpt(s, pos) == '\n') pos++;
      add(s, pos);
      continue;
    }
    /* \s*[\r\n]+ ends after the last \r or \n of the whitespace run */
    size_t n_ws = 0, last_rn = 0;
    while (flg(s, pos + n_ws) & F_SPACE) {
      uint32_t c2 = cpt(s, pos + n_ws);
      if (c2 == '\r' || c2 == '\n') last_rn = pos + n_ws + 1;
      n_ws++;
    }
    if (last_rn > 0) { pos = last_rn; add(s, pos); continue; }
    k = spaces(s, pos);
    pos += k ? k : 1;
    add(s, pos);
  }
}

/* GPT-4o (o200k) and tekken. llama.cpp runs their letter alternatives as
 *   [^\r\n\p{L}\p{N}]?((?=\p{L})[^a-z])*((?=\p{L})[^A-Z])+C?
 *  |[^\r\n\p{L}\p{N}]?((?=\p{L})[^a-z])+((?=\p{L})[^A-Z])*C?
 * (C: (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]), GPT-4o only)
 * on text whose non-ASCII code points it first collapses to one byte per
 * category, so a non-ASCII letter counts as both "upper" ([^a-z]) and
 * "lower" ([^A-Z]) and marks (\p{M}) are not letters; then
 *   \p{N}{1,max_digits}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * The letter part as a backtracking engine resolves it, from q (after the
 * optional prefix): the "upper" run U (A-Z and non-ASCII letters) is taken
 * whole; if an a-z letter follows, the word is U plus the following run of
 * a-z and non-ASCII letters; else the engine gives U back letter by letter
 * until a non-ASCII letter can start the "lower" run, and the word ends
 * after that letter; with none (U all A-Z) the first alternative fails and
 * the second takes U alone. */
static int is_ascii_lower(uint32_t c) { return c >= 'a' && c <= 'z'; }

static size_t word_o200k(const scan *s, size_t q)
{
  size_t r = q;
  while ((flg(s, r) & F_LETTER) && !is_ascii_lower(cpt(s, r))) r++;
  if (is_ascii_lower(cpt(s, r))) {
    while ((flg(s, r) & F_LETTER) && (cpt(s, r) >= 0x80 || is_ascii_lower(cpt(s, r)))) r++;
    return r;
  }
  for (size_t k = r; k > q; k--)
    if (cpt(s, k - 1) >= 0x80) return k; /* the last non-ASCII letter of U ends the word */
  return r;
}

/* (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]) at pos, ASCII
 * letters only; its length or 0. */
static size_t contraction_ascii(const scan *s, size_t pos)
{
  if (cpt(s, pos) != '\'') return 0;
  const uint32_t a = cpt(s, pos + 1) | 0x20, b = cpt(s, pos + 2) | 0x20;
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

static void split_o200k(scan *s, size_t max_digits, int contractions)
{
  for (size_t pos = s->beg; pos < s->end && s->rc == 0;) {
    const uint32_t c = cpt(s, pos);
    const unsigned f = flg(s, pos);
    /* the letter alternatives, with their optional [^\r\n\p{L}\p{N}] prefix */
    size_t q = pos;
    if (!(f & (F_LETTER | F_NUMBER)) && c != '\r' && c != '\n' && (flg(s, pos + 1) & F_LETTER)) q = pos + 1;
    if (flg(s, q) & F_LETTER) {
      size_t e = word_o200k(s, q);
      if (contractions) e += contraction_ascii(s, e);
      pos += add(s, e);
      continue;
    }
    if (f & F_NUMBER) { /* \p{N}{1,max_digits} */
      size_t e = pos;
      while (e - pos < max_digits && (flg(s, e) & F_NUMBER)) e++;
      pos += add(s, e);
      continue;
    }
    /* ' ?[^\s\p{L}\p{N}]+[\r\n/]*' */
    unsigned f2 = c == ' ' ? flg(s, pos + 1) : f;
    if ((f2 & F_ANY) && !(f2 & (F_SPACE | F_LETTER | F_NUMBER))) {
      pos += c == ' ';
      while ((f2 & F_ANY) && !(f2 & (F_SPACE | F_LETTER | F_NUMBER))) f2 = flg(s, ++pos);
      while (cpt(s, pos) == '\r' || cpt(s, pos) == '\n' || cpt(s, pos) == '/') pos++;
      add(s, pos);
      continue;
    }
    /* \s*[\r\n]+ ends after the last \r or \n of the whitespace run */
    size_t n_ws = 0, last_rn = 0;
    while (flg(s, pos + n_ws) & F_SPACE) {
      const uint32_t c2 = cpt(s, pos + n_ws);
      if (c2 == '\r' || c2 == '\n') last_rn = pos + n_ws + 1;
      n_ws++;
    }
    if (last_rn > 0) { pos = last_rn; add(s, pos); continue; }
    size_t k = spaces(s, pos);
    pos += k ? k : 1;
    add(s, pos);
  }
}

int dq_pretok_split(int pre, const uint32_t *cp, size_t n, dq_pretok_emit emit, void *ctx)
{
  scan s = {cp, 0, n, 0, emit, ctx, 0};
  switch (pre) {
  case DQ_PRE_LLAMA3: split_llama3(&s, 3); break;
  case DQ_PRE_QWEN2: split_llama3(&s, 1); break;
  case DQ_PRE_GPT4O: split_o200k(&s, 3, 1); break;
  case DQ_PRE_TEKKEN: split_o200k(&s, 1, 0); break;
  case DQ_PRE_SMOLLM:
    /* Each digit is a piece of its own; GPT-2 runs on what lies between. */
    for (size_t i = 0; i <= n && s.rc == 0; i++) {
      if (i < n && !(cp_flags(cp[i]) & F_NUMBER)) continue;
      if (i > s.prev) { s.beg = s.prev; s.end = i; split_gpt2(&s); }
      if (i < n) { s.beg = i; s.end = i + 1; add(&s, i + 1); }
    }
    break;
  default: split_gpt2(&s); break;
  }
  return s.rc;
}
