/* Byte-level BPE (tokenizer.ggml.model = gpt2), as llama.cpp's
 * llm_tokenizer_bpe does it:
 *   1. the fragment is decoded to code points (invalid UTF-8 becomes U+FFFD)
 *      and split into words by the pre-tokenizer (tok_pretok.c);
 *   2. each word's UTF-8 bytes are mapped to printable code points with
 *      GPT-2's bytes_to_unicode table ("Ġ" for a space);
 *   3. the word's characters are merged pairwise, lowest merge rank first
 *      (ties to the leftmost), ranks found in a hash table built at load;
 *   4. each final symbol is its token, or else the tokens of its single bytes
 *      (those that exist).
 * With the Llama 3 and tekken pre-tokenizers a word that is itself a token is emitted
 * whole, without merging (HF's ignore_merges, as llama.cpp does too).
 * Scratch buffers grow to the longest word and are reused, so the cost is
 * O(total length * log(word length)). */
#include <string.h>

#include "engine/tok_internal.h"
#include "util/err.h"
#include "util/mem.h"

/* ---- bytes_to_unicode ------------------------------------------------------------ */

/* Printable Latin-1 bytes map to themselves; the other 68 bytes, in order, to
 * U+0100.. . */
static int byte_printable(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); }

uint32_t dq_bpe_byte_to_cp(uint8_t b)
{
  if (byte_printable(b)) return b;
  if (b <= 0x20) return 0x100 + b;                 /* 33 control bytes and space */
  if (b >= 0x7F && b <= 0xA0) return 0x121 + (b - 0x7F); /* DEL, C1, NBSP: 34 more */
  return 0x143;                                    /* 0xAD, soft hyphen */
}

int dq_bpe_cp_to_byte(uint32_t cp)
{
  if (cp < 0x100) return byte_printable(cp) ? (int)cp : -1;
  if (cp <= 0x120) return (int)(cp - 0x100);
  if (cp <= 0x142) return (int)(cp - 0x121 + 0x7F);
  if (cp == 0x143) return 0xAD;
  return -1;
}

/* ---- merging --------------------------------------------------------------------- */

typedef struct sym { int32_t prev, next; uint32_t off, n; } sym;
typedef struct bigram { int32_t rank, left; uint32_t size; } bigram;

typedef struct bpe_ctx {
  const dq_tok *t;
  const uint32_t *cp;
  dq_i32vec *out;
  char map[256][2];       /* UTF-8 of each byte's code point (always 1..2 bytes) */
  uint8_t maplen[256];
  char *w; size_t wcap;   /* the current word, byte-mapped */
  sym *sy; size_t scap;
  bigram *h; size_t hn, hcap;
} bpe_ctx;

static int before(const bigram *a, const bigram *b) { return a->rank < b->rank || (a->rank == b->rank && a->left < b->left); }

static int heap_push(bpe_ctx *c, bigram b)
{
  if (c->hn == c->hcap) {
    size_t nc = c->hcap ? c->hcap * 2 : 64, bytes;
    if (dq_mul_ovf(nc, sizeof(bigram), &bytes)) return dq_err_set(DOCQ_ENOMEM, "tokenizer: word too long");
    bigram *p = dq_realloc(c->h, bytes);
    if (!p) return DOCQ_ENOMEM;
    c->h = p;
    c->hcap = nc;
  }
  size_t i = c->hn++;
  while (i > 0 && before(&b, &c->h[(i - 1) / 2])) { c->h[i] = c->h[(i - 1) / 2]; i = (i - 1) / 2; }
  c->h[i] = b;
  return 0;
}

static bigram heap_pop(bpe_ctx *c)
{
  bigram top = c->h[0], last = c->h[--c->hn];
  size_t i = 0;
  for (;;) {
    size_t k = 2 * i + 1;
    if (k >= c->hn) break;
    if (k + 1 < c->hn && before(&c->h[k + 1], &c->h[k])) k++;
    if (!before(&c->h[k], &last)) break;
    c->h[i] = c->h[k];
    i = k;
  }
  if (c->hn) c->h[i] = last;
  return top;
}

static int try_pair(bpe_ctx *c, int32_t l, int32_t r)
{
  if (l < 0 || r < 0) return 0;
  int32_t rank = dq_tok_merge_rank(c->t, c->w + c->sy[l].off, c->sy[l].n, c->sy[r].n);
  if (rank < 0) return 0;
  return heap_push(c, (bigram){rank, l, c->sy[l].n + c->sy[r].n});
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 64, bytes;
  while (nc < need) nc *= 2;
  if (dq_mul_ovf(nc, elem, &bytes)) return dq_err_set(DOCQ_ENOMEM, "tokenizer: word too long");
  void *q = dq_realloc(*p, bytes);
  if (!q) return DOCQ_ENOMEM;
  *p = q;
  *cap = nc;
  return 0;
}

/* Merge the word c->w[0..n) and append its tokens. */
static int bpe_word(bpe_ctx *c, size_t n)
{
  const dq_tok *t = c->t;
  int rc;
  if ((rc = grow((void **)&c->sy, &c->scap, n, sizeof(sym))) < 0) return rc;
  int32_t ns = 0;
  for (size_t o = 0; o < n; ns++) {
    size_t k = dq_utf8_len_lead((unsigned char)c->w[o]);
    if (k > n - o) k = n - o;
    c->sy[ns] = (sym){ns - 1, -1, (uint32_t)o, (uint32_t)k};
    if (ns > 0) c->sy[ns - 1].next = ns;
    o += k;
  }
  c->hn = 0;
  for (int32_t i = 1; i < ns; i++)
    if ((rc = try_pair(c, i - 1, i)) < 0) return rc;
  while (c->hn) {
    bigram b = heap_pop(c);
    sym *l = &c->sy[b.left];
    if (l->next < 0) continue;
    sym *r = &c->sy[l->next];
    if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* outdated */
    int32_t rnext = r->next;
    l->n += r->n;
    r->n = 0;
    l->next = rnext;
    if (rnext >= 0) c->sy[rnext].prev = b.left;
    if ((rc = try_pair(c, l->prev, b.left)) < 0 || (rc = try_pair(c, b.left, rnext)) < 0) return rc;
  }
  for (int32_t i = 0; i >= 0 && i < ns; i = c->sy[i].next) {
    const char *s = c->w + c->sy[i].off;
    int32_t id = dq_tok_lookup(t, s, c->sy[i].n);
    if (id >= 0) {
      if ((rc = dq_i32_push(c->out, id)) < 0) return rc;
      continue;
    }
    for (uint32_t j = 0; j < c->sy[i].n; j++) {
      int32_t bt = dq_tok_lookup(t, s + j, 1);
      if (bt >= 0 && (rc = dq_i32_push(c->out, bt)) < 0) return rc;
    }
  }
  return 0;
}

/* Pre-tokenizer callback: byte-map the code points [a, b) and merge them. */
static int on_word(size_t a, size_t b, void *ctx)
{
  bpe_ctx *c = ctx;
  size_t need;
  if (dq_mul_ovf(b - a, 8, &need)) return dq_err_set(DOCQ_ENOMEM, "tokenizer: word too long");
  int rc = grow((void **)&c->w, &c->wcap, need, 1);
  if (rc < 0) return rc;
  size_t n = 0;
  for (size_t i = a; i < b; i++) {
    char u[4];
    size_t k = dq_utf8_encode(c->cp[i], u);
    for (size_t j = 0; j < k; j++) {
      unsigned char by = (unsigned char)u[j];
      memcpy(c->w + n, c->map[by], c->maplen[by]);
      n += c->maplen[by];
    }
  }
  /* Llama 3 and tekken (HF "ignore_merges"): a word that is a token is taken whole. */
  if (c->t->pre == DQ_PRE_LLAMA3 || c->t->pre == DQ_PRE_TEKKEN) {
    int32_t id = dq_tok_lookup(c->t, c->w, n);
    if (id >= 0) return dq_i32_push(c->out, id);
  }
  return bpe_word(c, n);
}

int dq_bpe_encode(const dq_tok *t, const char *s, size_t n, dq_i32vec *out)
{
  if (n == 0) return 0;
  bpe_ctx c = {.t = t, .out = out};
  for (int b = 0; b < 256; b++) c.maplen[b] = (uint8_t)dq_utf8_encode(dq_bpe_byte_to_cp((uint8_t)b), c.map[b]);
  uint32_t *cp = dq_malloc(n * sizeof(uint32_t));
  if (!cp) return DOCQ_ENOMEM;
  size_t m = 0;
  for (size_t o = 0; o < n;) o += dq_utf8_decode((const unsigned char *)s + o, n - o, &cp[m++]);
  c.cp = cp;
  int rc = dq_pretok_split(t->pre, cp, m, on_word, &c);
  dq_free(cp);
  dq_free(c.w);
  dq_free(c.sy);
  dq_free(c.h);
  return rc;
}
