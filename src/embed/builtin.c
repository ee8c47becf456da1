/* The built-in embedder "docq-hash-v3": feature hashing of the same terms the
 * index sees (dq_terms), so docq can do hybrid retrieval with no model file,
 * no download and no corpus statistics.
 *
 * Method (per text):
 *   1. Segment with dq_terms (NFKC + case fold; Latin words; CJK bigrams).
 *   2. Count distinct features in a small open-addressing table:
 *        - every word (unigram);
 *        - CJK bigrams as dq_terms gives them, plus each CJK character as a
 *          unigram (bigrams carry words, unigrams give recall when a bigram
 *          of the question is split differently in the passage);
 *   3. Weight each feature by a sublinear term frequency 1 + ln(tf) (a word
 *      repeated ten times is not ten times as telling) times a fixed kind
 *      weight; function words (retrieve/stopwords.h) are damped, not dropped,
 *      since there is no IDF to do it: the embedder is stateless by design so
 *      that the same text always gives the same vector and incremental
 *      indexing never needs to refit anything.
 *   4. Each Latin word of 4+ characters also contributes its character
 *      n-grams (3..5 code points of "<word>", with boundary markers). These
 *      give the morphology that docq's non-stemming BM25 lacks: "compressible"
 *      and "compression" share "<com", "comp", "mpre", "press" ... The n-grams
 *      of one word share an energy budget (each gets sqrt(rho / m) of the
 *      word's weight, m = its number of n-grams), so long words do not drown
 *      short ones.
 *   5. Project with the hashing trick: bucket = hash mod dim, sign = a hash
 *      bit (the signed variant keeps inner products unbiased, Weinberger et
 *      al. 2009), then L2-normalize. Empty text gives a zero vector.
 *
 * Why this and not a learned model: it ships inside the library, costs a few
 * microseconds per chunk (tens of MB/s on one core), is deterministic across
 * machines (only integer hashing and float sums in a fixed order), and what
 * it adds to BM25 (sub-word overlap, CJK unigram recall, a smooth score) is
 * exactly what the fusion in src/retrieve needs. Neural GGUF encoders plug in
 * behind the same interface (embed.h).
 *
 * v2 (from v1): the terms are docq-terms-2's, where Latin words lose their
 * diacritics; v3: docq-terms-3's, where fullwidth forms of ASCII words are
 * stemmed. An index made with an older version is re-encoded when a writer
 * opens it.
 *
 * Invariants: no global mutable state (thread-safe); every row is either all
 * zero or has L2 norm 1; feature weights and hashing are part of the id:
 * change them and the id must change (indexes record it and refuse to mix). */
#include "embed/embed.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "indexer/normalize.h"
#include "retrieve/stopwords.h"
#include "util/err.h"
#include "util/mem.h"

#define DQ_HASH_ID "docq-hash-v3"
#define DQ_HASH_DIM 256 /* power of two: bucket = hash & (dim - 1) */

/* Kind weights: fixed, part of the id. */
#define W_WORD 1.0f      /* a Latin word or number */
#define W_STOP 0.15f     /* a function word (either script) */
#define W_NGRAM_RHO 2.0f /* energy of a word's n-grams relative to the word (measured: 0.5/1/2/4) */
#define W_CJK_BI 1.0f    /* a CJK bigram */
#define W_CJK_UNI 0.5f   /* a CJK character */
#define NGRAM_MIN_CHARS 4

enum { K_WORD = 0, K_PLAIN = 1 }; /* K_WORD: Latin word that also yields n-grams */

/* Seeds keep feature families apart (the word "ab" and the n-gram "ab" differ). */
#define SEED_WORD 0x9E3779B97F4A7C15ull
#define SEED_NGRAM 0xC2B2AE3D27D4EB4Full
#define SEED_CJK 0x165667B19E3779F9ull

typedef struct feat {
  uint64_t h;        /* 0 = empty slot */
  uint32_t count;
  uint32_t word_off; /* K_WORD: bytes in the arena */
  uint8_t word_len;
  uint8_t kind;
  float w;           /* kind weight */
} feat;

typedef struct scratch {
  feat *tab; size_t cap, used;
  dq_buf arena;      /* normalized bytes of K_WORD features */
  char pend[8]; size_t pend_len; size_t pend_start; /* CJK: 2nd char of the last bigram */
  int oom;
} scratch;

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 0x100000001B3ull; }
  return h;
}

/* MurmurHash3's finalizer: spreads FNV's weak low bits over all 64. */
static uint64_t fmix64(uint64_t k)
{
  k ^= k >> 33; k *= 0xFF51AFD7ED558CCDull;
  k ^= k >> 33; k *= 0xC4CEB9FE1A85EC53ull;
  k ^= k >> 33;
  return k ? k : 1; /* 0 marks an empty slot */
}

static int tab_grow(scratch *sc)
{
  size_t ncap = sc->cap ? sc->cap * 2 : 512;
  feat *nt = dq_calloc(ncap, sizeof *nt);
  if (!nt) return DOCQ_ENOMEM;
  for (size_t i = 0; i < sc->cap; i++) {
    if (!sc->tab[i].h) continue;
    size_t j = sc->tab[i].h & (ncap - 1);
    while (nt[j].h) j = (j + 1) & (ncap - 1);
    nt[j] = sc->tab[i];
  }
  dq_free(sc->tab);
  sc->tab = nt;
  sc->cap = ncap;
  return 0;
}

/* Count one occurrence of feature h; a new K_WORD feature copies its bytes. */
static int add_feat(scratch *sc, uint64_t h, int kind, float w, const char *t, size_t n)
{
  if ((sc->used + 1) * 2 > sc->cap && tab_grow(sc)) return DOCQ_ENOMEM;
  size_t j = h & (sc->cap - 1);
  while (sc->tab[j].h && sc->tab[j].h != h) j = (j + 1) & (sc->cap - 1);
  feat *f = &sc->tab[j];
  if (f->h) { f->count++; return 0; }
  f->h = h; f->count = 1; f->kind = (uint8_t)kind; f->w = w;
  if (kind == K_WORD) {
    f->word_off = (uint32_t)sc->arena.len;
    f->word_len = (uint8_t)n;
    if (dq_buf_put(&sc->arena, t, n)) return DOCQ_ENOMEM;
  }
  sc->used++;
  return 0;
}

static int add_cjk_char(scratch *sc, const char *c, size_t n)
{
  int stop = dq_stopword(c, n);
  return add_feat(sc, fmix64(fnv1a(SEED_CJK ^ 1, c, n)), K_PLAIN, stop ? W_STOP : W_CJK_UNI, NULL, 0);
}

/* Flush the pending last character of a finished CJK run. */
static int flush_pending(scratch *sc)
{
  int rc = 0;
  if (sc->pend_len) rc = add_cjk_char(sc, sc->pend, sc->pend_len);
  sc->pend_len = 0;
  return rc;
}

static int on_term(void *ctx, const char *t, size_t n, size_t start, size_t end)
{
  scratch *sc = ctx;
  unsigned char c0 = (unsigned char)t[0];
  size_t l0 = dq_utf8_len(c0);
  int32_t cp = 0;
  /* Decode the first code point to tell CJK terms from words. */
  if (l0 == 1) cp = c0;
  else if (l0 <= n) {
    cp = c0 & (0xFF >> (l0 + 1));
    for (size_t i = 1; i < l0; i++) cp = (cp << 6) | ((unsigned char)t[i] & 0x3F);
  }
  if (cp >= 0x80 && dq_is_cjk(cp)) {
    /* A new run starts unless this bigram begins where the pending char began. */
    if (sc->pend_len && start != sc->pend_start && flush_pending(sc)) return DOCQ_ENOMEM;
    sc->pend_len = 0;
    int stop = dq_stopword(t, n);
    if (add_feat(sc, fmix64(fnv1a(SEED_CJK, t, n)), K_PLAIN, stop ? W_STOP : W_CJK_BI, NULL, 0)) return DOCQ_ENOMEM;
    if (l0 >= n) return add_cjk_char(sc, t, n); /* lone character */
    if (add_cjk_char(sc, t, l0)) return DOCQ_ENOMEM;
    /* Remember the second character: counted once its run is known to end. */
    if (n - l0 <= sizeof sc->pend) {
      memcpy(sc->pend, t + l0, n - l0);
      sc->pend_len = n - l0;
      sc->pend_start = start + (end - start) - (n - l0); /* source offset of char 2 */
      /* Source and normalized lengths agree for the common (already NFKC)
       * case; if they do not, the run check above only flushes one char early,
       * which changes nothing but the order of counting. */
    }
    return 0;
  }
  if (sc->pend_len && flush_pending(sc)) return DOCQ_ENOMEM;
  int stop = dq_stopword(t, n);
  int ascii_digits = 1;
  size_t chars = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    if ((c & 0xC0) != 0x80) chars++;
    if (c < '0' || c > '9') ascii_digits = 0;
  }
  int kind = (!stop && !ascii_digits && chars >= NGRAM_MIN_CHARS) ? K_WORD : K_PLAIN;
  return add_feat(sc, fmix64(fnv1a(SEED_WORD, t, n)), kind, stop ? W_STOP : W_WORD, t, n);
}

static inline void put(float *acc, unsigned mask, uint64_t h, float w)
{
  acc[h & mask] += (h >> 63) ? -w : w;
}

/* Add the n-grams of word w[0..n) (valid UTF-8) with total energy rho * ww^2. */
static void add_ngrams(float *acc, unsigned mask, const char *w, size_t n, float ww)
{
  /* offsets of code points in "<" w ">" (the markers are one byte each) */
  uint8_t off[72];
  char buf[72];
  size_t m = 0, len = 0;
  buf[len++] = '<';
  off[m++] = 0;
  for (size_t i = 0; i < n; ) {
    size_t k = dq_utf8_len((unsigned char)w[i]);
    if (k > n - i) k = n - i;
    off[m++] = (uint8_t)len;
    memcpy(buf + len, w + i, k);
    len += k; i += k;
  }
  off[m++] = (uint8_t)len;
  buf[len++] = '>';
  off[m] = (uint8_t)len; /* m code points, off[m] = end */
  size_t count = 0;
  for (size_t g = 3; g <= 5; g++) if (m >= g) count += m - g + 1;
  if (!count) return;
  float gw = ww * sqrtf(W_NGRAM_RHO / (float)count);
  for (size_t i = 0; i + 3 <= m; i++) {
    uint64_t h = fnv1a(SEED_NGRAM, buf + off[i], off[i + 2] - off[i]);
    for (size_t g = 3; g <= 5 && i + g <= m; g++) {
      h = fnv1a(h, buf + off[i + g - 1], off[i + g] - off[i + g - 1]);
      put(acc, mask, fmix64(h ^ g), gw);
    }
  }
}

static int embed_one(scratch *sc, const char *text, size_t len, unsigned dim, float *out)
{
  sc->used = 0;
  sc->arena.len = 0;
  sc->pend_len = 0;
  if (sc->cap) memset(sc->tab, 0, sc->cap * sizeof *sc->tab);
  memset(out, 0, dim * sizeof *out);
  if (!text || !len) return 0;
  int rc = dq_terms(text, len, on_term, sc);
  if (!rc) rc = flush_pending(sc);
  if (rc) return rc < 0 ? rc : DOCQ_ENOMEM;
  unsigned mask = dim - 1;
  for (size_t i = 0; i < sc->cap; i++) {
    const feat *f = &sc->tab[i];
    if (!f->h) continue;
    float w = f->w * (1.0f + logf((float)f->count));
    put(out, mask, f->h, w);
    if (f->kind == K_WORD) add_ngrams(out, mask, sc->arena.p + f->word_off, f->word_len, w);
  }
  double ss = 0;
  for (unsigned i = 0; i < dim; i++) ss += (double)out[i] * out[i];
  if (ss > 0) {
    float inv = (float)(1.0 / sqrt(ss));
    for (unsigned i = 0; i < dim; i++) out[i] *= inv;
  }
  return 0;
}

static int builtin_embed(dq_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                         int is_query, float *out)
{
  (void)is_query; /* queries and passages are embedded alike: symmetric features */
  scratch sc = {0};
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = texts[i] ? (lens ? lens[i] : strlen(texts[i])) : 0;
    if ((rc = embed_one(&sc, texts[i], len, e->dim, out + i * e->dim)) < 0) {
      if (dq_err_code() != rc) dq_err_set(rc, "embedding text %zu of %zu failed", i + 1, n);
      break;
    }
  }
  dq_free(sc.tab);
  dq_buf_free(&sc.arena);
  return rc;
}

static void builtin_free(dq_embedder *e) { dq_free(e); }

static const dq_embedder_vt builtin_vt = { builtin_embed, builtin_free };

int dq_embedder_builtin(dq_embedder **out)
{
  *out = NULL;
  dq_embedder *e = dq_calloc(1, sizeof *e);
  if (!e) return DOCQ_ENOMEM;
  e->vt = &builtin_vt;
  snprintf(e->id, sizeof e->id, "%s", DQ_HASH_ID);
  e->dim = DQ_HASH_DIM;
  *out = e;
  return 0;
}
