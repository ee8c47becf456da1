/* dq_embedder_gguf: a GGUF BERT-family encoder (bert.c) behind the docq
 * embedder interface (embed.h).
 *
 * Per text: tokens = prefix tokens + WordPiece tokens of the text (no
 * specials), then one or more windows [CLS] prefix chunk [SEP] of at most the
 * model's context. A text longer than one window is either split into
 * balanced windows whose pooled vectors are averaged (weighted by window
 * length for mean pooling, which makes it the mean over all window tokens) or
 * truncated to the first window; both are logged as warnings, never silent.
 * Windows of all texts of one call are packed into batches of up to
 * BATCH_TOKENS tokens and encoded together, so every weight product runs
 * over hundreds of tokens at once. Each output row is L2-normalized; a text
 * with no tokens at all (empty, only whitespace) gives a zero row, as the
 * built-in embedder does, so it never matches anything.
 *
 * Prefixes: model families trained with instructions get them by default
 * (dq_bert_default_prefixes); dq_embedder_gguf_set_prefixes overrides them and
 * marks the id so indexes built with other prefixes are not mixed.
 *
 * Thread-safety: one mutex serializes embed calls (the pool and workspace are
 * per embedder); the model, tokenizer and map are immutable. */
#include "embed/bert.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/sha256.h"

#define BATCH_TOKENS 2048   /* tokens per forward batch (at least one full window) */
#define MAX_WINDOW 2048     /* longest window even when the model allows more: attention
                             * scratch grows with its square (nomic-embed: 8192 -> 256 MiB/thread) */

/* Tokens per window: the model's context, capped at MAX_WINDOW. */
static int window_of(const dq_bert *m)
{
  int n = dq_bert_hparams_of(m)->n_ctx;
  return n < MAX_WINDOW ? n : MAX_WINDOW;
}
#define ID_HASH_BYTES (1u << 20)

typedef struct gguf_emb {
  dq_embedder base;          /* first: the vt dispatches on it */
  dq_gguf *g;
  dq_tok *tok;
  dq_bert *m;
  dq_pool *pool;
  dq_bert_ws *ws;            /* created on first use */
  pthread_mutex_t mu;
  int32_t cls, sep;
  int long_mode;
  char *prefix[2];           /* [0] passage, [1] query; never NULL */
  int32_t *pids[2];          /* their tokens */
  size_t npids[2];
  const char *def_prefix[2]; /* the family's defaults (static strings) */
  char base_id[128];         /* id without a prefix marker */
} gguf_emb;

static const dq_embedder_vt g_vt;

int dq_embedder_is_gguf(const dq_embedder *e) { return e && e->vt == &g_vt; }

/* ===== prefixes ======================================================= */

#define BGE_EN_QUERY "Represent this sentence for searching relevant passages: "
#define BGE_ZH_QUERY "\xe4\xb8\xba\xe8\xbf\x99\xe4\xb8\xaa\xe5\x8f\xa5\xe5\xad\x90\xe7\x94\x9f\xe6\x88\x90\xe8\xa1\xa8" \
                     "\xe7\xa4\xba\xe4\xbb\xa5\xe7\x94\xa8\xe4\xba\x8e\xe6\xa3\x80\xe7\xb4\xa2\xe7\x9b\xb8\xe5\x85\xb3" \
                     "\xe6\x96\x87\xe7\xab\xa0\xef\xbc\x9a" /* 为这个句子生成表示以用于检索相关文章： */

/* Lower-case, with ' ' and '_' as '-', so "Bge Small En v1.5" reads as "bge-small-en-v1.5". */
static void canon_name(const char *s, char *out, size_t cap)
{
  size_t i = 0;
  for (; s && *s && i + 1 < cap; s++) {
    char c = (char)tolower((unsigned char)*s);
    out[i++] = c == ' ' || c == '_' ? '-' : c;
  }
  out[i] = 0;
}

/* 1 when `word` occurs in s delimited by '-', '.', '/' or the ends. */
static int has_part(const char *s, const char *word)
{
  size_t n = strlen(word);
  for (const char *p = strstr(s, word); p; p = strstr(p + 1, word)) {
    int left = p == s || strchr("-./", p[-1]);
    int right = p[n] == 0 || strchr("-./", p[n]);
    if (left && right) return 1;
  }
  return 0;
}

/* Returns 1 when a family was recognized. */
static int detect_prefixes(const char *name, const char **q, const char **p)
{
  char c[256];
  canon_name(name, c, sizeof c);
  *q = *p = "";
  if (strstr(c, "nomic")) { *q = "search_query: "; *p = "search_document: "; return 1; }
  if (has_part(c, "e5")) { *q = "query: "; *p = "passage: "; return 1; }
  if (strstr(c, "bge")) {
    if (has_part(c, "m3")) return 1; /* bge-m3: no instruction */
    if (has_part(c, "zh")) { *q = BGE_ZH_QUERY; return 1; }
    if (has_part(c, "en")) { *q = BGE_EN_QUERY; return 1; }
    return 0;
  }
  if (strstr(c, "mxbai-embed") || strstr(c, "arctic-embed")) { *q = BGE_EN_QUERY; return 1; }
  return 0;
}

void dq_bert_default_prefixes(const char *name, const char **query, const char **passage)
{
  detect_prefixes(name, query, passage);
}

static int set_prefix(gguf_emb *e, int which, const char *s)
{
  char *copy = dq_strdup(s ? s : "");
  if (!copy) return DOCQ_ENOMEM;
  size_t len = strlen(copy), n = 0;
  int32_t *ids = NULL;
  int rc = dq_tok_encode(e->tok, copy, len, 0, 0, NULL, 0, &n);
  if (rc < 0) goto fail;
  if (n && !(ids = dq_malloc(n * sizeof *ids))) { rc = DOCQ_ENOMEM; goto fail; }
  if (n && (rc = dq_tok_encode(e->tok, copy, len, 0, 0, ids, n, &n)) < 0) goto fail;
  dq_free(e->prefix[which]);
  dq_free(e->pids[which]);
  e->prefix[which] = copy;
  e->pids[which] = ids;
  e->npids[which] = n;
  return 0;
fail:
  dq_free(copy);
  dq_free(ids);
  return rc;
}

/* base_id, plus ":p<8 hex>" of the prefixes when they are not the defaults. */
static void update_id(gguf_emb *e)
{
  snprintf(e->base.id, sizeof e->base.id, "%s", e->base_id);
  if (!strcmp(e->prefix[0], e->def_prefix[0]) && !strcmp(e->prefix[1], e->def_prefix[1])) return;
  dq_sha256 c;
  uint8_t h[32];
  dq_sha256_init(&c);
  dq_sha256_update(&c, e->prefix[1], strlen(e->prefix[1]) + 1);
  dq_sha256_update(&c, e->prefix[0], strlen(e->prefix[0]) + 1);
  dq_sha256_final(&c, h);
  size_t n = strlen(e->base.id);
  snprintf(e->base.id + n, sizeof e->base.id - n, ":p%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
}

int dq_embedder_gguf_set_prefixes(dq_embedder *base, const char *query, const char *passage)
{
  DQ_ASSERT_ARG(dq_embedder_is_gguf(base));
  gguf_emb *e = (gguf_emb *)base;
  pthread_mutex_lock(&e->mu);
  int rc = set_prefix(e, 1, query);
  if (rc == 0) rc = set_prefix(e, 0, passage);
  if (rc == 0) update_id(e);
  pthread_mutex_unlock(&e->mu);
  return rc;
}

const char *dq_embedder_gguf_prefix(const dq_embedder *base, int is_query)
{
  if (!dq_embedder_is_gguf(base)) return "";
  return ((const gguf_emb *)base)->prefix[is_query ? 1 : 0];
}

int dq_embedder_gguf_set_long_mode(dq_embedder *base, int mode)
{
  DQ_ASSERT_ARG(dq_embedder_is_gguf(base));
  DQ_ASSERT_ARG(mode == DQ_BERT_LONG_WINDOWS || mode == DQ_BERT_LONG_TRUNCATE);
  ((gguf_emb *)base)->long_mode = mode;
  return 0;
}

/* ===== embedding ====================================================== */

typedef struct win {
  size_t text;     /* index of the text */
  size_t off;      /* first token in the flat id array */
  int len;         /* tokens, specials included */
} win;

typedef struct plan {
  int32_t *ids; size_t n_ids, cap_ids;
  win *w; size_t n_w, cap_w;
} plan;

static int plan_push_ids(plan *p, const int32_t *ids, size_t n)
{
  size_t need;
  if (n == 0) return 0; /* ids may be NULL (no prefix) */
  if (dq_add_ovf(p->n_ids, n, &need)) return dq_err_set(DOCQ_ENOMEM, "embed: too many tokens");
  if (need > p->cap_ids) {
    size_t cap = p->cap_ids ? p->cap_ids : 1024, bytes;
    while (cap < need) cap *= 2;
    if (dq_mul_ovf(cap, sizeof(int32_t), &bytes)) return dq_err_set(DOCQ_ENOMEM, "embed: too many tokens");
    int32_t *q = dq_realloc(p->ids, bytes);
    if (!q) return DOCQ_ENOMEM;
    p->ids = q;
    p->cap_ids = cap;
  }
  memcpy(p->ids + p->n_ids, ids, n * sizeof *ids);
  p->n_ids = need;
  return 0;
}

static int plan_push_win(plan *p, size_t text, size_t off, int len)
{
  if (p->n_w == p->cap_w) {
    size_t cap = p->cap_w ? p->cap_w * 2 : 64;
    win *q = dq_realloc(p->w, cap * sizeof *q);
    if (!q) return DOCQ_ENOMEM;
    p->w = q;
    p->cap_w = cap;
  }
  p->w[p->n_w++] = (win){ text, off, len };
  return 0;
}

/* Tokenize text into *ids (grown as needed, *cap its capacity). */
static int tokenize(const gguf_emb *e, const char *text, size_t len, int32_t **ids, size_t *cap, size_t *n)
{
  int rc = dq_tok_encode(e->tok, text, len, 0, 0, *ids, *cap, n);
  if (rc < 0 || *n <= *cap) return rc;
  int32_t *q = dq_realloc(*ids, *n * sizeof *q);
  if (!q) return DOCQ_ENOMEM;
  *ids = q;
  *cap = *n;
  return dq_tok_encode(e->tok, text, len, 0, 0, *ids, *cap, n);
}

/* Add the windows of one text (its tokens in t[0..nt)) to the plan. */
static int plan_text(gguf_emb *e, plan *p, size_t ti, const int32_t *t, size_t nt, int is_query)
{
  const int32_t *pre = e->pids[is_query ? 1 : 0];
  size_t npre = e->npids[is_query ? 1 : 0];
  size_t n_ctx = (size_t)window_of(e->m);
  if (npre + 3 > n_ctx)
    return dq_err_set(DOCQ_EINVAL, "embed: the %s prefix (%zu tokens) leaves no room in the %zu-token window",
                      is_query ? "query" : "passage", npre, n_ctx);
  size_t room = n_ctx - 2 - npre;
  size_t k = (nt + room - 1) / room;
  if (k > 1) {
    if (e->long_mode == DQ_BERT_LONG_TRUNCATE) {
      dq_log(DOCQ_LOG_WARN, "embed: text %zu has %zu tokens, more than the model's %zu-token window: truncated to %zu",
             ti, nt, n_ctx, room);
      k = 1;
      nt = room;
    } else {
      dq_log(DOCQ_LOG_WARN, "embed: text %zu has %zu tokens, more than the model's %zu-token window: "
             "averaging %zu windows", ti, nt, n_ctx, k);
    }
  }
  int rc;
  for (size_t i = 0; i < k; i++) {
    /* balanced windows: sizes differ by at most one token */
    size_t a = nt * i / k, b = nt * (i + 1) / k, off = p->n_ids;
    if ((rc = plan_push_ids(p, &e->cls, 1)) < 0 || (rc = plan_push_ids(p, pre, npre)) < 0 ||
        (rc = plan_push_ids(p, t + a, b - a)) < 0 || (rc = plan_push_ids(p, &e->sep, 1)) < 0)
      return rc;
    if ((rc = plan_push_win(p, ti, off, (int)(b - a + npre + 2))) < 0) return rc;
  }
  return 0;
}

static int ensure_ws(gguf_emb *e)
{
  if (e->ws) return 0;
  int n_ctx = window_of(e->m);
  return dq_bert_ws_new(&e->ws, e->m, n_ctx > BATCH_TOKENS ? n_ctx : BATCH_TOKENS, n_ctx, dq_pool_size(e->pool));
}

/* Encode the windows in batches and add each pooled vector into its text's row. */
static int run_plan(gguf_emb *e, const plan *p, float *out)
{
  const dq_bert_hparams *hp = dq_bert_hparams_of(e->m);
  size_t d = (size_t)hp->n_embd;
  int rc = 0;
  int *lens = NULL;
  float *pooled = NULL;
  int max_tok = BATCH_TOKENS > window_of(e->m) ? BATCH_TOKENS : window_of(e->m);
  if (!(lens = dq_malloc((size_t)max_tok * sizeof *lens)) || !(pooled = dq_malloc((size_t)max_tok * d * sizeof *pooled))) {
    rc = DOCQ_ENOMEM;
    goto done;
  }
  for (size_t w0 = 0; w0 < p->n_w;) {
    if (e->base.interrupt && atomic_load(e->base.interrupt)) {
      rc = dq_err_set(DOCQ_ECANCELED, "embedding interrupted");
      goto done;
    }
    size_t w1 = w0;
    int tot = 0;
    while (w1 < p->n_w && tot + p->w[w1].len <= max_tok) { lens[w1 - w0] = p->w[w1].len; tot += p->w[w1].len; w1++; }
    if ((rc = dq_bert_encode(e->m, e->ws, e->pool, p->ids + p->w[w0].off, lens, (int)(w1 - w0), pooled)) < 0)
      goto done;
    for (size_t i = w0; i < w1; i++) {
      float wt = hp->pooling == DQ_BERT_POOL_MEAN ? (float)p->w[i].len : 1.0f;
      float *o = out + p->w[i].text * d;
      const float *v = pooled + (i - w0) * d;
      for (size_t j = 0; j < d; j++) o[j] += wt * v[j];
    }
    w0 = w1;
  }
done:
  dq_free(lens);
  dq_free(pooled);
  return rc;
}

static int gguf_embed(dq_embedder *base, const char *const *texts, const size_t *lens, size_t n, int is_query,
                      float *out)
{
  gguf_emb *e = (gguf_emb *)base;
  size_t d = e->base.dim, cap = 0, nt = 0;
  int32_t *tk = NULL;
  plan p = { 0 };
  int rc = 0;
  if (n == 0) return 0;
  if (!texts || !out) return dq_err_set(DOCQ_EINVAL, "embed: NULL texts or output");
  pthread_mutex_lock(&e->mu);
  memset(out, 0, n * d * sizeof *out);
  if ((rc = ensure_ws(e)) < 0) goto done;
  for (size_t i = 0; i < n; i++) {
    size_t len = texts[i] ? (lens ? lens[i] : strlen(texts[i])) : 0;
    if (len && (rc = tokenize(e, texts[i], len, &tk, &cap, &nt)) < 0) goto done;
    if (len && nt && (rc = plan_text(e, &p, i, tk, nt, is_query)) < 0) goto done;
  }
  /* the model file cut while mapped (engine/gguf.h): an error, not SIGBUS */
  if ((rc = dq_gguf_check(e->g)) < 0 || (rc = run_plan(e, &p, out)) < 0) goto done;
  for (size_t i = 0; i < n; i++) {
    float *o = out + i * d;
    double s = 0.0;
    for (size_t j = 0; j < d; j++) s += (double)o[j] * o[j];
    if (s > 0.0) {
      float inv = (float)(1.0 / sqrt(s));
      for (size_t j = 0; j < d; j++) o[j] *= inv;
    }
  }
done:
  if (rc < 0) memset(out, 0, n * d * sizeof *out);
  pthread_mutex_unlock(&e->mu);
  dq_free(tk);
  dq_free(p.ids);
  dq_free(p.w);
  return rc;
}

int dq_embedder_gguf_tokens(dq_embedder *base, const char *text, size_t len, int is_query, int32_t **ids, size_t *n)
{
  DQ_ASSERT_ARG(ids && n);
  *ids = NULL;
  *n = 0;
  DQ_ASSERT_ARG(dq_embedder_is_gguf(base) && (text || !len));
  gguf_emb *e = (gguf_emb *)base;
  size_t cap = 0, nt = 0;
  int32_t *tk = NULL;
  plan p = { 0 };
  pthread_mutex_lock(&e->mu);
  int rc = len ? tokenize(e, text, len, &tk, &cap, &nt) : 0;
  if (rc == 0 && nt) rc = plan_text(e, &p, 0, tk, nt, is_query);
  pthread_mutex_unlock(&e->mu);
  dq_free(tk);
  if (rc == 0 && p.n_w) {
    *ids = p.ids;
    *n = (size_t)p.w[0].len;
    p.ids = NULL;
  }
  dq_free(p.ids);
  dq_free(p.w);
  return rc;
}

static void gguf_free(dq_embedder *base)
{
  gguf_emb *e = (gguf_emb *)base;
  if (!e) return;
  dq_bert_ws_free(e->ws);
  dq_pool_free(e->pool);
  dq_bert_free(e->m);
  dq_tok_free(e->tok);
  dq_gguf_close(e->g);
  for (int i = 0; i < 2; i++) { dq_free(e->prefix[i]); dq_free(e->pids[i]); }
  pthread_mutex_destroy(&e->mu);
  dq_free(e);
}

static const dq_embedder_vt g_vt = { gguf_embed, gguf_free };

/* ===== loading ======================================================== */

/* general.name, else the file name without folders and ".gguf". */
static void model_name(const dq_gguf *g, const char *path, char *out, size_t cap)
{
  const char *s;
  size_t n;
  if (dq_gguf_get_str(g, "general.name", &s, &n) == 0 && n > 0) {
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = 0;
  } else {
    dq_err_clear();
    const char *b = strrchr(path, '/');
    snprintf(out, cap, "%s", b ? b + 1 : path);
    n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".gguf")) out[n - 5] = 0;
  }
  for (char *c = out; *c; c++) /* ':' separates the id's fields; control bytes do not belong in it */
    if (*c == ':' || (unsigned char)*c < 0x20) *c = '_';
}

int dq_embedder_gguf(dq_embedder **out, const char *path, int n_threads)
{
  gguf_emb *e = NULL;
  int rc = 0;
  DQ_ASSERT_ARG(out);
  *out = NULL;
  DQ_ASSERT_ARG(path);
  if (!(e = dq_calloc(1, sizeof *e))) return DOCQ_ENOMEM;
  e->base.vt = &g_vt;
  pthread_mutex_init(&e->mu, NULL);
  if ((rc = dq_gguf_open(&e->g, path)) < 0) goto done;
  if ((rc = dq_bert_load(&e->m, e->g)) < 0) goto done;
  if ((rc = dq_tok_load(&e->tok, e->g)) < 0) goto done;
  if (dq_tok_kind(e->tok) != DQ_TOK_WPM) {
    rc = dq_err_set(DOCQ_EUNSUPPORTED, "%s: encoder with a non-WordPiece tokenizer is not supported", path);
    goto done;
  }
  const dq_tok_special *sp = dq_tok_specials(e->tok);
  e->cls = sp->cls >= 0 ? sp->cls : sp->bos;
  e->sep = sp->sep >= 0 ? sp->sep : sp->eos;
  int nv = dq_bert_hparams_of(e->m)->n_vocab;
  if (e->cls < 0 || e->sep < 0 || e->cls >= nv || e->sep >= nv || dq_tok_n_vocab(e->tok) > nv) {
    rc = dq_err_set(DOCQ_ECORRUPT, "%s: [CLS]/[SEP] missing or vocabulary (%d) larger than token_embd (%d)", path,
                    (int)dq_tok_n_vocab(e->tok), nv);
    goto done;
  }
  if ((rc = dq_pool_new(&e->pool, n_threads)) < 0) goto done;

  char name[48];
  model_name(e->g, path, name, sizeof name);
  const char *b = strrchr(path, '/');
  if (!detect_prefixes(name, &e->def_prefix[1], &e->def_prefix[0]))
    detect_prefixes(b ? b + 1 : path, &e->def_prefix[1], &e->def_prefix[0]);
  if ((rc = set_prefix(e, 0, e->def_prefix[0])) < 0 || (rc = set_prefix(e, 1, e->def_prefix[1])) < 0) goto done;

  /* identity: the name for people, a hash of the header region (metadata and
   * the first weights) plus the size for machines; reading 1 MiB keeps it
   * cheap for large files while any re-quantization or edit changes it */
  dq_sha256 c;
  uint8_t h[32], sz[8];
  size_t nb = e->g->size < ID_HASH_BYTES ? e->g->size : ID_HASH_BYTES;
  for (int i = 0; i < 8; i++) sz[i] = (uint8_t)((uint64_t)e->g->size >> (8 * i));
  dq_sha256_init(&c);
  dq_sha256_update(&c, e->g->base, nb);
  dq_sha256_update(&c, sz, sizeof sz);
  dq_sha256_final(&c, h);
  int k = snprintf(e->base_id, sizeof e->base_id, "gguf:%s:", name);
  for (int i = 0; i < 32 && k + 3 <= (int)sizeof e->base_id; i++) k += snprintf(e->base_id + k, 3, "%02x", h[i]);
  update_id(e);
  e->base.dim = (unsigned)dq_bert_hparams_of(e->m)->n_embd;
  *out = &e->base;
  e = NULL;
done:
  if (e) gguf_free(&e->base);
  return rc;
}
