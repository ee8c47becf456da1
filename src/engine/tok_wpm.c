/* WordPiece (tokenizer.ggml.model = bert), as llama.cpp's llm_tokenizer_wpm
 * does it on a GGUF vocabulary, where a word-initial piece is stored with a
 * "▁" prefix and a continuation piece bare (the "##" of vocab.txt removed):
 *   1. normalize each code point: canonical decomposition (NFD) with the
 *      combining marks (Mn) dropped, i.e. accents stripped, then lowercase;
 *      NUL, U+FFFD and control characters are dropped;
 *   2. split into words at whitespace; every punctuation character, ASCII
 *      symbol ($+<=>^`|~) and CJK ideograph is a word by itself;
 *   3. each word, prefixed with "▁", is cut greedily into the longest pieces
 *      found in the vocabulary, left to right; if some position has no piece
 *      the whole word becomes [UNK]. */
#include <string.h>
#include <utf8proc.h>

#include "engine/tok_internal.h"
#include "util/err.h"
#include "util/mem.h"

static int is_white(uint32_t c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The CJK ranges of BERT's _is_chinese_char (0x2B920 as in the HF code). */
static int is_cjk(uint32_t c)
{
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

typedef struct wctx {
  const dq_tok *t;
  dq_i32vec *out;
  char *w;       /* "▁" + current word */
  size_t n, cap;
} wctx;

static int wput(wctx *c, const char *s, size_t k)
{
  if (c->n + k > c->cap) {
    size_t nc = c->cap ? c->cap * 2 : 64;
    while (nc < c->n + k) nc *= 2;
    char *p = dq_realloc(c->w, nc);
    if (!p) return DOCQ_ENOMEM;
    c->w = p;
    c->cap = nc;
  }
  memcpy(c->w + c->n, s, k);
  c->n += k;
  return 0;
}

/* Greedy longest match over the word in c->w (which starts with "▁"). */
static int flush(wctx *c)
{
  if (c->n <= 3) return 0; /* empty word */
  const dq_tok *t = c->t;
  size_t mark = c->out->n;
  int rc = 0;
  for (size_t i = 0; i < c->n;) {
    size_t j = c->n - i < t->max_len ? c->n : i + t->max_len;
    int32_t id = -1;
    for (; j > i; j--)
      if ((id = dq_tok_lookup(t, c->w + i, j - i)) >= 0) break;
    if (id < 0) { c->out->n = mark; break; } /* discard the word's pieces */
    if ((rc = dq_i32_push(c->out, id)) < 0) return rc;
    i = j;
  }
  if (c->out->n == mark && t->sp.unk >= 0) rc = dq_i32_push(c->out, t->sp.unk);
  c->n = 3; /* keep the "▁" */
  return rc;
}

int dq_wpm_encode(const dq_tok *t, const char *s, size_t n, dq_i32vec *out)
{
  wctx c = {t, out, NULL, 0, 0};
  int rc = wput(&c, "\xe2\x96\x81", 3);
  for (size_t o = 0; o < n && rc == 0;) {
    uint32_t cp;
    o += dq_utf8_decode((const unsigned char *)s + o, n - o, &cp);
    if (is_white(cp)) { rc = flush(&c); continue; }
    utf8proc_int32_t dec[32];
    int last = 0;
    utf8proc_ssize_t nd = utf8proc_decompose_char((utf8proc_int32_t)cp, dec, 32, UTF8PROC_DECOMPOSE, &last);
    if (nd < 1 || nd > 32) { dec[0] = (utf8proc_int32_t)cp; nd = 1; }
    for (utf8proc_ssize_t k = 0; k < nd && rc == 0; k++) {
      uint32_t d = (uint32_t)dec[k];
      int cat = utf8proc_category((utf8proc_int32_t)d);
      if (d == 0 || d == 0xFFFD || cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_CC ||
          cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS)
        continue;
      char u[4];
      size_t ul = dq_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)d), u);
      int punct = cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
      int sym = d < 0x7F && cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
      if (punct || sym || is_cjk(d)) {
        if ((rc = flush(&c)) < 0 || (rc = wput(&c, u, ul)) < 0 || (rc = flush(&c)) < 0) break;
      } else {
        rc = wput(&c, u, ul);
      }
    }
  }
  if (rc == 0) rc = flush(&c);
  dq_free(c.w);
  return rc;
}
