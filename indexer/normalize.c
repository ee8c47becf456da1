/* Unicode normalization and term segmentation (see normalize.h).
 *
 * Invariants: dq_terms and dq_normalize only ever see valid UTF-8 (callers
 * repair first); every term handed to a callback is NFKC + case folded; the
 * offsets reported always fall on code point boundaries of the input.
 *
 * Speed matters here: dq_terms runs over every byte indexed (FTS5 tokenizer
 * and embedder), so ASCII takes a table-driven fast path and utf8proc is
 * called only for words that contain non-ASCII characters. */
#include "indexer/normalize.h"

#include <string.h>
#include <utf8proc.h>

#include "indexer/stem.h"
#include "indexer/tokwords.h"
#include "util/err.h"
#include "util/mem.h"

#define DQ_MAX_WORD 64 /* bytes; longer words are cut (keeps FTS terms sane) */

/* ---- UTF-8 validation and repair ------------------------------------------ */

size_t dq_utf8_len(unsigned char c)
{
  if (c < 0x80) return 1;
  if (c >= 0xF0) return 4;
  if (c >= 0xE0) return 3;
  if (c >= 0xC0) return 2;
  return 1;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid. For an
 * invalid one, *bad gets the length of its maximal subpart (>= 1): the bytes
 * one U+FFFD replaces (Unicode 15, section 3.9, "U+FFFD substitution of
 * maximal subparts"). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
  unsigned char c = s[0];
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
  else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
  else { *bad = 1; return 0; }
  size_t i = 1;
  for (; i <= need; i++) {
    if (i >= n) { *bad = i; return 0; }
    unsigned char b = s[i];
    unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
    if (b < l || b > h) { *bad = i; return 0; }
  }
  return need + 1;
}

size_t dq_utf8_seq(const char *s, size_t n, size_t *bad)
{
  size_t b = 1;
  size_t k = n ? utf8_seq((const unsigned char *)s, n, &b) : 0;
  if (bad) *bad = k ? 0 : b;
  return k;
}

int dq_utf8_valid(const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, bad;
  while (i < n) {
    if (p[i] < 0x80) { i++; continue; }
    size_t k = utf8_seq(p + i, n - i, &bad);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

int dq_utf8_repair(const char *s, size_t n, char **out, size_t *out_n, size_t *n_bad)
{
  const unsigned char *p = (const unsigned char *)s;
  dq_buf b = {0};
  size_t i = 0, run = 0, bad_count = 0, bad;
  *out = NULL;
  if (dq_buf_reserve(&b, n)) return DOCQ_ENOMEM;
  while (i < n) {
    size_t k = p[i] < 0x80 ? 1 : utf8_seq(p + i, n - i, &bad);
    if (k) { i += k; run += k; continue; }
    dq_buf_put(&b, p + i - run, run);
    dq_buf_put(&b, "\xEF\xBF\xBD", 3);
    run = 0;
    i += bad;
    bad_count++;
  }
  dq_buf_put(&b, p + i - run, run);
  if (b.oom) { dq_buf_free(&b); return DOCQ_ENOMEM; }
  if (out_n) *out_n = b.len;
  if (n_bad) *n_bad = bad_count;
  *out = dq_buf_detach(&b);
  return *out ? 0 : DOCQ_ENOMEM;
}

/* ---- normalization ---------------------------------------------------------- */

#define DQ_NORM_OPTS (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE)

/* Map valid UTF-8 through utf8proc with `opts` into a new string (dq_free). */
static int map_utf8(const char *s, size_t n, int opts, char **out, size_t *out_n)
{
  utf8proc_uint8_t *dst = NULL;
  *out = NULL;
  utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst, (utf8proc_option_t)opts);
  if (r < 0) {
    if (r == UTF8PROC_ERROR_NOMEM) return dq_err_set(DOCQ_ENOMEM, "out of memory normalizing text");
    return dq_err_set(DOCQ_EINVAL, "cannot normalize text: %s", utf8proc_errmsg(r));
  }
  /* utf8proc allocates with malloc; dq_free is free(), so ownership passes as is. */
  *out = (char *)dst;
  if (out_n) *out_n = (size_t)r;
  return 0;
}

int dq_normalize(const char *s, size_t n, char **out, size_t *out_n)
{
  return map_utf8(s, n, DQ_NORM_OPTS, out, out_n);
}

/* NFKD + case fold without combining marks: the diacritic-free form. */
#define DQ_FOLD_OPTS (UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | \
                      UTF8PROC_IGNORE | UTF8PROC_STRIPMARK)

/* ---- segmentation ------------------------------------------------------------- */

int dq_is_cjk(int32_t c)
{
  return (c >= 0x4E00 && c <= 0x9FFF) ||   /* CJK Unified Ideographs */
         (c >= 0x3400 && c <= 0x4DBF) ||   /* Extension A */
         (c >= 0x20000 && c <= 0x3134F) || /* Extensions B..G */
         (c >= 0xF900 && c <= 0xFAFF) ||   /* Compatibility Ideographs */
         (c >= 0x3040 && c <= 0x30FF) ||   /* Hiragana, Katakana */
         (c >= 0x31F0 && c <= 0x31FF) ||   /* Katakana Phonetic Extensions */
         (c >= 0xAC00 && c <= 0xD7AF) ||   /* Hangul Syllables */
         (c >= 0x1100 && c <= 0x11FF) ||   /* Hangul Jamo */
         (c >= 0x3130 && c <= 0x318F) ||   /* Hangul Compatibility Jamo */
         c == 0x3005 || c == 0x3007;       /* 々 〇 */
}

/* ASCII classes: 1 = letter/digit (word char), 0 = separator. */
static const unsigned char ascii_word[128] = {
  ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
  ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
  ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
  ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
  ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
  ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
  ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

enum { CL_SEP = 0, CL_WORD = 1, CL_CJK = 2 };

static int cp_class(int32_t c)
{
  if (c < 128) return ascii_word[c] ? CL_WORD : CL_SEP;
  if (dq_is_cjk(c)) return CL_CJK;
  switch (utf8proc_category(c)) {
  case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
  case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
  case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
    return CL_WORD;
  default:
    return CL_SEP;
  }
}

/* Decode one code point of valid UTF-8 at s (n > 0 bytes left). */
static size_t decode(const unsigned char *s, size_t n, int32_t *cp)
{
  if (s[0] < 0x80) { *cp = s[0]; return 1; }
  utf8proc_int32_t c;
  utf8proc_ssize_t k = utf8proc_iterate(s, (utf8proc_ssize_t)n, &c);
  if (k <= 0) { *cp = 0xFFFD; return 1; } /* invalid input: step one byte, never stall */
  *cp = c;
  return (size_t)k;
}

int dq_has_cjk(const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    int32_t c;
    i += decode(p + i, n - i, &c);
    if (dq_is_cjk(c)) return 1;
  }
  return 0;
}

/* 1 when every code point of the word is a Latin letter or digit, a
 * combining diacritic (U+0300..U+036F), a Latin ligature (U+FB00..U+FB06)
 * or a fullwidth ASCII form (U+FF01..U+FF5E, what a Chinese or Japanese
 * input method types in fullwidth mode): the words whose diacritics fold. */
static int latin_word(const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    int32_t c;
    i += decode(p + i, n - i, &c);
    if (!(c < 0x250 || (c >= 0x300 && c <= 0x36F) || (c >= 0x1E00 && c <= 0x1EFF) ||
          (c >= 0xFB00 && c <= 0xFB06) || (c >= 0xFF01 && c <= 0xFF5E))) return 0;
  }
  return 1;
}

/* Emit one word s[start..end): ASCII is lower-cased in place into a small
 * buffer; anything else goes through utf8proc (NFKC + case fold). */
static int emit_word(const char *s, size_t start, size_t end, int ascii, dq_term_cb cb, void *ctx)
{
  size_t n = end - start;
  if (ascii) {
    char w[DQ_MAX_WORD];
    if (n > DQ_MAX_WORD) n = DQ_MAX_WORD;
    for (size_t i = 0; i < n; i++) {
      char c = s[start + i];
      w[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    /* English words meet on their stems (letters only; see stem.c) */
    n = dq_porter_stem(w, n);
    return cb(ctx, w, n, start, end);
  }
  char *norm = NULL;
  size_t nn = 0;
  /* Latin letters meet without their diacritics ("Gómez" = "gomez", as a
   * user types it; SQLite's unicode61 folds the same way). Other scripts keep
   * their marks: there they are letters, not accents. What is plain ASCII
   * afterwards (that, or a compatibility form of ASCII: fullwidth "ｓｌｏｔｓ",
   * mathematical bold) is stemmed like any English word, so it meets the
   * word as typed in ASCII. */
  int latin = latin_word(s + start, n);
  if (map_utf8(s + start, n, latin ? DQ_FOLD_OPTS : DQ_NORM_OPTS, &norm, &nn)) return DOCQ_ENOMEM;
  size_t i = 0;
  while (i < nn && (unsigned char)norm[i] < 0x80) i++;
  if (nn > 0 && i == nn && nn <= DQ_MAX_WORD) {
    nn = dq_porter_stem(norm, nn);
    int rc = cb(ctx, norm, nn, start, end);
    free(norm);
    return rc;
  }
  int rc = 0;
  if (nn > 0) {
    if (nn > DQ_MAX_WORD) { /* cut on a code point boundary */
      nn = DQ_MAX_WORD;
      while (nn > 0 && ((unsigned char)norm[nn] & 0xC0) == 0x80) nn--;
    }
    rc = cb(ctx, norm, nn, start, end);
  }
  free(norm);
  return rc;
}

/* Emit the CJK run whose code points start at offsets off[0..k) (off[k] = end). */
static int emit_cjk(const char *s, const size_t *off, size_t k, dq_term_cb cb, void *ctx)
{
  int rc = 0;
  if (k == 1) {
    char *norm = NULL; size_t nn = 0;
    if (dq_normalize(s + off[0], off[1] - off[0], &norm, &nn)) return DOCQ_ENOMEM;
    if (nn) rc = cb(ctx, norm, nn, off[0], off[1]);
    free(norm);
    return rc;
  }
  for (size_t i = 0; i + 1 < k && !rc; i++) {
    const char *a = s + off[i];
    size_t len = off[i + 2] - off[i];
    /* Most CJK code points are already NFKC (compatibility ideographs are
     * not): normalize only when needed. */
    int need = 0;
    int32_t c1, c2;
    size_t l1 = decode((const unsigned char *)a, len, &c1);
    decode((const unsigned char *)a + l1, len - l1, &c2);
    if ((c1 >= 0xF900 && c1 <= 0xFAFF) || (c2 >= 0xF900 && c2 <= 0xFAFF) ||
        (c1 >= 0x3040 && c1 <= 0x30FF) || (c2 >= 0x3040 && c2 <= 0x30FF) ||
        (c1 >= 0xAC00 && c1 <= 0xD7AF) || (c2 >= 0xAC00 && c2 <= 0xD7AF))
      need = 1;
    if (!need) { rc = cb(ctx, a, len, off[i], off[i + 2]); continue; }
    char *norm = NULL; size_t nn = 0;
    if (dq_normalize(a, len, &norm, &nn)) return DOCQ_ENOMEM;
    if (nn) rc = cb(ctx, norm, nn, off[i], off[i + 2]);
    free(norm);
  }
  return rc;
}

int dq_terms(const char *s, size_t n, dq_term_cb cb, void *ctx)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  int rc = 0;
  /* CJK runs are emitted in windows: bigrams only need the previous code
   * point, so a long run is processed in slices of at most CJK_WIN. */
  enum { CJK_WIN = 256 };
  size_t off[CJK_WIN + 1];
  while (i < n && !rc) {
    int32_t cp;
    size_t k = decode(p + i, n - i, &cp);
    int cl = cp_class(cp);
    if (cl == CL_SEP) { i += k; continue; }
    if (cl == CL_WORD) {
      size_t start = i;
      int ascii = 1;
      while (i < n) {
        k = decode(p + i, n - i, &cp);
        if (cp_class(cp) != CL_WORD) break;
        if (cp >= 128) ascii = 0;
        i += k;
      }
      rc = emit_word(s, start, i, ascii, cb, ctx);
      continue;
    }
    /* CJK run */
    size_t m = 0;
    int first_window = 1;
    while (i < n) {
      k = decode(p + i, n - i, &cp);
      if (cp_class(cp) != CL_CJK) break;
      off[m++] = i;
      i += k;
      if (m == CJK_WIN) {
        off[m] = i;
        rc = emit_cjk(s, off, m, cb, ctx); /* m >= 2: bigrams only */
        if (rc) break;
        /* keep the last code point so the bigram across the window edge is emitted */
        off[0] = off[m - 1];
        m = 1;
        first_window = 0;
      }
    }
    if (rc) break;
    off[m] = i;
    if (m >= 2) rc = emit_cjk(s, off, m, cb, ctx);
    else if (m == 1 && first_window) rc = emit_cjk(s, off, 1, cb, ctx);
  }
  return rc;
}

/* ---- token estimate ---------------------------------------------------------------- */

/* Costs in quarter tokens (the sum is rounded up once, at the end, so the
 * estimate of a text cut at white space never exceeds the sum of its pieces).
 * Fitted by bench/bench_tokest and the measurements in normalize.h. */
enum {
  TQ_PUNCT = 4,        /* an ASCII punctuation or control character */
  TQ_NEWLINE = 4,      /* SentencePiece spends a byte token on each '\n' */
  TQ_TAB = 4,          /* '\t', '\r' */
  TQ_DIGIT = 4,        /* Llama-2 SPM and Qwen2 split numbers into single digits, */
  TQ_DIGIT_RUN = 4,    /* plus a piece for the space or sign before the number */
  TQ_OTHER_LETTER = 8, /* a non-ASCII letter, mark or digit outside CJK */
  TQ_CJK = 4,          /* one CJK character */
  TQ_SYMBOL = 6,       /* a non-ASCII symbol or punctuation mark ("，", "—", ...) */
  TQ_SYMBOL_BYTE = 1,  /* and per UTF-8 byte of it (byte fallback for rare ones) */
  /* A word not in the whole-word list costs its pieces (tokwords.h) plus a
   * margin: 5% after a space; 60% elsewhere (after a newline, "(", "-"),
   * where SentencePiece has no "▁" to start it and cuts it finer. */
  TQ_PIECE_PERCENT = 105,
  TQ_PIECE_PERCENT_UNSPACED = 160
};

static int is_ascii_alpha(unsigned c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_ascii_upper(unsigned c) { return c >= 'A' && c <= 'Z'; }

enum {
  MAX_PIECE = 31,       /* tokwords.h lists nothing longer */
  MAX_WORD_LETTERS = 64 /* "antidisestablishmentarianism" has 28 */
};

/* Pieces of a run of letters: greedy longest match, the first piece from
 * the whole-word list when a space precedes it, the others from the inner
 * pieces; a letter that starts no piece is a token of its own. */
static size_t n_pieces(const unsigned char *w, size_t len, int after_space)
{
  size_t n = 0;
  for (size_t i = 0; i < len; n++) {
    size_t j = len - i < MAX_PIECE ? len - i : MAX_PIECE;
    const int first = after_space && i == 0;
    for (; j > 1; j--)
      if (first ? dq_tokword((const char *)w + i, j) : dq_tokpiece((const char *)w + i, j)) break;
    i += j;
  }
  return n;
}

/* Quarter tokens of a run of `len` ASCII letters; after_space: a space
 * stands right before it. A word tokenizers keep whole (tokwords.h) is one
 * token, but only after a space: at the start of a text or a line, or after
 * punctuation, SentencePiece reads it without its "▁" and may split it, and
 * a piece cut at white space must never cost less than the same words inside
 * the whole text. Other words cost their pieces plus the margin above.
 * ALLCAPS, camelCase and base64 split far more: two letters in three. */
static size_t letters_quarters(const unsigned char *w, size_t len, int after_space)
{
  /* Longer than any word (data, a hash): charged like base64, which also
   * keeps the cost of a long run linear with a small constant. */
  if (len > MAX_WORD_LETTERS) return 4 * ((2 * len + 2) / 3);
  size_t n = n_pieces(w, len, after_space), percent = TQ_PIECE_PERCENT;
  if (after_space && n == 1) return 4; /* a listed word (its first lookup), or one letter */
  size_t upper_after_first = 0;
  for (size_t k = 1; k < len; k++) upper_after_first += is_ascii_upper(w[k]);
  if (upper_after_first) return 4 * ((2 * len + 2) / 3);
  if (!after_space) {
    const size_t n_spaced = n_pieces(w, len, 1); /* never less than after a space */
    if (n_spaced > n) n = n_spaced;
    percent = TQ_PIECE_PERCENT_UNSPACED;
  }
  const size_t q = (4 * n * percent + 99) / 100;
  return q < 4 * len ? q : 4 * len; /* no tokenizer spends more than a token on an ASCII letter */
}

size_t dq_token_estimate(const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, quarters = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c == ' ') { i++; continue; }
    if (c == '\n') { quarters += TQ_NEWLINE; i++; continue; }
    if (c == '\t' || c == '\r') { quarters += TQ_TAB; i++; continue; }
    if (is_ascii_alpha(c)) {
      size_t start = i;
      while (i < n && is_ascii_alpha(p[i])) i++;
      quarters += letters_quarters(p + start, i - start, start > 0 && p[start - 1] == ' ');
      continue;
    }
    if (c >= '0' && c <= '9') {
      size_t start = i;
      while (i < n && p[i] >= '0' && p[i] <= '9') i++;
      quarters += TQ_DIGIT_RUN + TQ_DIGIT * (i - start);
      continue;
    }
    if (c < 128) { quarters += TQ_PUNCT; i++; continue; }
    int32_t cp;
    size_t k = decode(p + i, n - i, &cp);
    int cl = cp_class(cp);
    if (cl == CL_CJK) quarters += TQ_CJK;
    else if (cl == CL_WORD) quarters += TQ_OTHER_LETTER;
    else quarters += TQ_SYMBOL + TQ_SYMBOL_BYTE * k;
    i += k;
  }
  return (quarters + 3) / 4;
}
