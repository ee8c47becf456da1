/* SentencePiece BPE (tokenizer.ggml.model = llama), as llama.cpp's
 * llm_tokenizer_spm does it:
 *   1. the text (spaces already U+2581) is cut into UTF-8 characters, judged by
 *      the lead byte only (a stray continuation byte is its own symbol);
 *   2. every adjacent pair whose concatenation is a token is a candidate; the
 *      candidate with the highest score is merged first, ties going to the
 *      leftmost; stale candidates (a side already merged) are skipped;
 *   3. each final symbol is its token, or else one byte-fallback token <0xNN>
 *      per byte (unk when the vocabulary has none).
 * Symbols form a doubly linked list over one array; the candidates sit in a
 * binary heap, so a text of n characters costs O(n log n). */
#include <string.h>

#include "engine/tok_internal.h"
#include "util/err.h"
#include "util/mem.h"

typedef struct sym { int32_t prev, next; uint32_t off, n; } sym; /* n == 0: merged away */
typedef struct bigram { float score; int32_t left, right; uint32_t size; } bigram;

typedef struct heap { bigram *p; size_t n, cap; } heap;

/* a goes before b: higher score, then smaller left index. */
static int before(const bigram *a, const bigram *b)
{
  return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(heap *h, bigram b)
{
  if (h->n == h->cap) {
    size_t nc = h->cap ? h->cap * 2 : 64, bytes;
    if (dq_mul_ovf(nc, sizeof(bigram), &bytes)) return dq_err_set(DOCQ_ENOMEM, "tokenizer: text too long");
    bigram *p = dq_realloc(h->p, bytes);
    if (!p) return DOCQ_ENOMEM;
    h->p = p;
    h->cap = nc;
  }
  size_t i = h->n++;
  while (i > 0) {
    size_t up = (i - 1) / 2;
    if (!before(&b, &h->p[up])) break;
    h->p[i] = h->p[up];
    i = up;
  }
  h->p[i] = b;
  return 0;
}

static bigram heap_pop(heap *h)
{
  bigram top = h->p[0], last = h->p[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && before(&h->p[c + 1], &h->p[c])) c++;
    if (!before(&h->p[c], &last)) break;
    h->p[i] = h->p[c];
    i = c;
  }
  if (h->n) h->p[i] = last;
  return top;
}

static int try_pair(const dq_tok *t, const char *s, const sym *sy, int32_t l, int32_t r, heap *h)
{
  if (l < 0 || r < 0) return 0;
  uint32_t size = sy[l].n + sy[r].n;
  int32_t id = dq_tok_lookup(t, s + sy[l].off, size);
  if (id < 0) return 0;
  return heap_push(h, (bigram){t->score[id], l, r, size});
}

static int is_space_mark(const char *s) { return memcmp(s, "\xe2\x96\x81", 3) == 0; }

/* Merge one segment s[0..n) using the caller's scratch; append its tokens. */
static int spm_segment(const dq_tok *t, const char *s, size_t n, sym *sy, heap *h, dq_i32vec *out)
{
  int rc = 0;
  int32_t ns = 0;
  h->n = 0;
  for (size_t o = 0; o < n; ns++) {
    size_t k = dq_utf8_len_lead((unsigned char)s[o]);
    if (k > n - o) k = n - o;
    sy[ns] = (sym){ns - 1, -1, (uint32_t)o, (uint32_t)k};
    if (ns > 0) sy[ns - 1].next = ns;
    o += k;
  }
  for (int32_t i = 1; i < ns; i++)
    if ((rc = try_pair(t, s, sy, i - 1, i, h)) < 0) return rc;
  while (h->n) {
    bigram b = heap_pop(h);
    sym *l = &sy[b.left], *r = &sy[b.right];
    if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0) sy[r->next].prev = b.left;
    if ((rc = try_pair(t, s, sy, l->prev, b.left, h)) < 0 || (rc = try_pair(t, s, sy, b.left, l->next, h)) < 0) return rc;
  }
  for (int32_t i = 0; i >= 0 && i < ns; i = sy[i].next) {
    int32_t id = dq_tok_lookup(t, s + sy[i].off, sy[i].n);
    if (id >= 0) {
      if ((rc = dq_i32_push(out, id)) < 0) return rc;
      continue;
    }
    for (uint32_t j = 0; j < sy[i].n; j++) {
      int32_t bt = t->byte_tok[(unsigned char)s[sy[i].off + j]];
      if (bt >= 0 && (rc = dq_i32_push(out, bt)) < 0) return rc;
    }
  }
  return 0;
}

/* When no token has a U+2581 preceded by something other than U+2581
 * (t->spm_word_split, checked at load), no candidate pair can ever span the
 * start of a word ("▁" after a non-"▁"), so the words are merged one at a
 * time with small heaps: same result as one pass over the whole text, but
 * cache-friendly (1 MB: ~0.1 s instead of ~1 s). */
int dq_spm_encode(const dq_tok *t, const char *s, size_t n, dq_i32vec *out)
{
  if (n == 0) return 0;
  if (n > UINT32_MAX / 2) return dq_err_set(DOCQ_EINVAL, "tokenizer: text of %zu bytes too long", n);
  int rc = 0;
  heap h = {0};
  sym *sy = dq_malloc(n * sizeof(sym));
  if (!sy) return DOCQ_ENOMEM;
  size_t a = 0;
  for (size_t p = 1; p <= n && rc == 0; p++) {
    int cut = p == n;
    if (!cut && t->spm_word_split && n - p >= 3 && is_space_mark(s + p) && !(p >= 3 && is_space_mark(s + p - 3))) cut = 1;
    if (!cut) continue;
    rc = spm_segment(t, s + a, p - a, sy, &h, out);
    a = p;
  }
  dq_free(sy);
  dq_free(h.p);
  return rc;
}
