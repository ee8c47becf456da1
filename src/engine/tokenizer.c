/* Tokenizer loading, validation, special-token partitioning, encode dispatch
 * and decoding. The three algorithms live in tok_spm.c, tok_bpe.c and
 * tok_wpm.c, the BPE pre-tokenizers in tok_pretok.c.
 *
 * Behaviour follows llama.cpp (llama-vocab.cpp) so ids match its output:
 *   - special tokens (CONTROL, UNKNOWN, USER_DEFINED) are cut out of the text
 *     longest first, over the whole text, before the algorithm runs; without
 *     parse_special only USER_DEFINED ones are;
 *   - a Phi-3 file (general.name containing "phi-3" or "phi3") drops the
 *     white space after its special tokens, as llama.cpp's RSTRIP attribute;
 *   - SPM puts a space before each raw fragment that starts the text or
 *     follows a special token (add_space_prefix, default on);
 *   - BOS/EOS are added per add_bos_token/add_eos_token; WordPiece always
 *     adds [CLS] ... [SEP] when add_special is set.
 * Everything read from the GGUF is validated here once, so the algorithms
 * can trust ids and lengths. */
#include "engine/tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"

#define DQ_TOK_MAX_VOCAB (1u << 24)      /* far above any real vocabulary (256k) */
#define DQ_TOK_MAX_TEXT (1u << 30)       /* total bytes of token texts */

/* ---- UTF-8 ----------------------------------------------------------------- */

size_t dq_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
  unsigned char c = s[0];
  size_t need;
  uint32_t v, min;
  if (c < 0x80) { *cp = c; return 1; }
  if (c >= 0xC2 && c <= 0xDF) { need = 2; v = c & 0x1F; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { need = 3; v = c & 0x0F; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { need = 4; v = c & 0x07; min = 0x10000; }
  else { *cp = 0xFFFD; return 1; }
  if (need > n) { *cp = 0xFFFD; return 1; }
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xC0) != 0x80) { *cp = 0xFFFD; return 1; }
    v = v << 6 | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) { *cp = 0xFFFD; return 1; }
  *cp = v;
  return need;
}

size_t dq_utf8_encode(uint32_t cp, char *out)
{
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Bytes a sequence led by c needs in all; 0 for a byte that cannot lead. */
static size_t utf8_need(unsigned char c)
{
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

static const char utf8_fffd[3] = { (char)0xEF, (char)0xBF, (char)0xBD };

/* Each byte that belongs to no whole character becomes one U+FFFD, so the
 * text comes out the same however the tokens cut it. */
static void put_fffd(dq_buf *out, size_t n)
{
  while (n--) dq_buf_put(out, utf8_fffd, 3);
}

int dq_utf8_stream_put(dq_utf8_stream *u, const char *p, size_t n, dq_buf *out)
{
  size_t i = 0;
  while (i < n) {
    if (u->n == 0) {
      /* the common case: whole characters straight from p */
      const unsigned char *q = (const unsigned char *)p + i;
      const size_t need = utf8_need(q[0]);
      if (need == 1) { dq_buf_putc(out, (char)q[0]); i++; continue; }
      if (need == 0) { put_fffd(out, 1); i++; continue; }
      if (need <= n - i) {
        uint32_t cp;
        const size_t k = dq_utf8_decode(q, need, &cp);
        if (k == need) dq_buf_put(out, q, need);
        else put_fffd(out, 1); /* the lead alone; what follows is read again */
        i += k;
        continue;
      }
    }
    /* a sequence cut by the end of p, or one held from before: gather it */
    const unsigned char c = (unsigned char)p[i];
    if (u->n > 0 && (c & 0xC0) != 0x80) {
      put_fffd(out, u->n); /* broken off: c starts afresh */
      u->n = 0;
      continue;
    }
    u->pend[u->n++] = c;
    i++;
    if (u->n == utf8_need(u->pend[0])) {
      uint32_t cp;
      const size_t k = dq_utf8_decode(u->pend, u->n, &cp);
      if (k == u->n) dq_buf_put(out, u->pend, u->n);
      else put_fffd(out, u->n); /* overlong, surrogate or past U+10FFFF */
      u->n = 0;
    }
  }
  return out->oom ? DOCQ_ENOMEM : 0;
}

int dq_utf8_stream_end(dq_utf8_stream *u, dq_buf *out)
{
  put_fffd(out, u->n);
  u->n = 0;
  return out->oom ? DOCQ_ENOMEM : 0;
}

/* ---- small containers ----------------------------------------------------- */

int dq_i32_push(dq_i32vec *v, int32_t x)
{
  if (v->oom) return DOCQ_ENOMEM;
  if (v->n == v->cap) {
    size_t nc = v->cap ? v->cap * 2 : 64, bytes;
    if (dq_mul_ovf(nc, sizeof(int32_t), &bytes)) { v->oom = 1; return dq_err_set(DOCQ_ENOMEM, "tokenizer: too many tokens"); }
    int32_t *p = dq_realloc(v->p, bytes);
    if (!p) { v->oom = 1; return DOCQ_ENOMEM; }
    v->p = p;
    v->cap = nc;
  }
  v->p[v->n++] = x;
  return 0;
}

uint64_t dq_tok_hash(const char *s, size_t n)
{
  return dq_hash_bytes(s, n);
}

static int strmap_init(dq_strmap *m, size_t n)
{
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1; /* n <= 2^24, so no overflow */
  m->slot = dq_malloc(cap * sizeof(int32_t));
  if (!m->slot) return DOCQ_ENOMEM;
  memset(m->slot, 0xff, cap * sizeof(int32_t));
  m->mask = (uint32_t)(cap - 1);
  return 0;
}

int32_t dq_tok_lookup(const dq_tok *t, const char *s, size_t n)
{
  uint32_t i = (uint32_t)dq_tok_hash(s, n) & t->vocab.mask;
  for (;;) {
    int32_t id = t->vocab.slot[i];
    if (id < 0) return -1;
    if (t->len[id] == n && memcmp(t->text + t->off[id], s, n) == 0) return id;
    i = (i + 1) & t->vocab.mask;
  }
}

/* Insert id; a text seen before now maps to the later id. */
static void vocab_insert(dq_tok *t, int32_t id)
{
  const char *s = t->text + t->off[id];
  size_t n = t->len[id];
  uint32_t i = (uint32_t)dq_tok_hash(s, n) & t->vocab.mask;
  for (;;) {
    int32_t o = t->vocab.slot[i];
    if (o < 0 || (t->len[o] == n && memcmp(t->text + t->off[o], s, n) == 0)) { t->vocab.slot[i] = id; return; }
    i = (i + 1) & t->vocab.mask;
  }
}

/* A merge's key hashes its joined bytes plus the split point, so "a bc" and "ab c" differ. */
static uint32_t merge_slot0(const dq_tok *t, const char *s, size_t nl, size_t nr)
{
  return (uint32_t)(dq_tok_hash(s, nl + nr) ^ ((uint64_t)nl * 0x9E3779B97F4A7C15ull)) & t->merges.mask;
}

int32_t dq_tok_merge_rank(const dq_tok *t, const char *s, size_t nl, size_t nr)
{
  if (!t->n_merges) return -1;
  uint32_t i = merge_slot0(t, s, nl, nr);
  for (;;) {
    int32_t r = t->merges.slot[i];
    if (r < 0) return -1;
    if (t->mleft[r] == nl && t->mlen[r] == nl + nr && memcmp(t->mtext + t->moff[r], s, nl + nr) == 0) return r;
    i = (i + 1) & t->merges.mask;
  }
}

/* First occurrence wins: the lowest rank is the one BPE must use. */
static void merge_insert(dq_tok *t, int32_t r)
{
  const char *s = t->mtext + t->moff[r];
  size_t nl = t->mleft[r], nr = t->mlen[r] - nl;
  uint32_t i = merge_slot0(t, s, nl, nr);
  for (;;) {
    int32_t o = t->merges.slot[i];
    if (o < 0) { t->merges.slot[i] = r; return; }
    if (t->mleft[o] == nl && t->mlen[o] == nl + nr && memcmp(t->mtext + t->moff[o], s, nl + nr) == 0) return;
    i = (i + 1) & t->merges.mask;
  }
}

/* ---- loading ---------------------------------------------------------------- */

/* A string-array key: kv index and count, or ENOTFOUND / ECORRUPT. */
static int str_array(const dq_gguf *g, const char *key, long *idx, uint64_t *n)
{
  long i = dq_gguf_find(g, key);
  if (i < 0) return dq_err_set(DOCQ_ENOTFOUND, "%s: no %s", g->path, key);
  if (g->kv[i].type != DQ_GGUF_ARRAY || g->kv[i].arr_type != DQ_GGUF_STRING)
    return dq_err_set(DOCQ_ECORRUPT, "%s: %s is not an array of strings", g->path, key);
  *idx = i;
  *n = g->kv[i].n;
  return 0;
}

static int load_tokens(dq_tok *t, const dq_gguf *g)
{
  long ki = -1;
  uint64_t n = 0;
  int rc = str_array(g, "tokenizer.ggml.tokens", &ki, &n);
  if (rc < 0) return rc;
  if (n == 0 || n > DQ_TOK_MAX_VOCAB)
    return dq_err_set(DOCQ_ECORRUPT, "%s: tokenizer.ggml.tokens has %llu entries", g->path, (unsigned long long)n);
  t->n_vocab = (int32_t)n;
  size_t total = 0;
  for (uint64_t i = 0; i < n; i++) {
    const char *s;
    size_t l;
    if ((rc = dq_gguf_arr_str(g, ki, i, &s, &l)) < 0) return rc;
    if (l > DQ_TOK_MAX_TEXT || dq_add_ovf(total, l + 1, &total) || total > DQ_TOK_MAX_TEXT)
      return dq_err_set(DOCQ_ECORRUPT, "%s: token texts too long", g->path);
  }
  t->text = dq_malloc(total);
  t->off = dq_malloc(n * sizeof(uint32_t));
  t->len = dq_malloc(n * sizeof(uint32_t));
  t->score = dq_calloc(n, sizeof(float));
  t->type = dq_malloc(n);
  if (!t->text || !t->off || !t->len || !t->score || !t->type) return DOCQ_ENOMEM;
  memset(t->type, DQ_TT_NORMAL, n);
  size_t o = 0;
  for (uint64_t i = 0; i < n; i++) {
    const char *s;
    size_t l;
    dq_gguf_arr_str(g, ki, i, &s, &l); /* checked above */
    memcpy(t->text + o, s, l);
    t->text[o + l] = 0;
    t->off[i] = (uint32_t)o;
    t->len[i] = (uint32_t)l;
    if (l > t->max_len) t->max_len = (uint32_t)l;
    o += l + 1;
  }
  return 0;
}

/* Optional per-token arrays: scores (F32) and token_type (I32, values 0..6). */
static int load_scores_types(dq_tok *t, const dq_gguf *g)
{
  int at;
  uint64_t n = 0;
  const void *data;
  if (dq_gguf_find(g, "tokenizer.ggml.scores") >= 0) {
    dq_gguf_get_arr(g, "tokenizer.ggml.scores", &at, &n, &data);
    if (at != DQ_GGUF_F32 || n != (uint64_t)t->n_vocab)
      return dq_err_set(DOCQ_ECORRUPT, "%s: tokenizer.ggml.scores must be %d f32 values (type %d, %llu values)",
                        g->path, t->n_vocab, at, (unsigned long long)n);
    memcpy(t->score, data, n * sizeof(float)); /* the map may be unaligned: copy bytes */
  }
  if (dq_gguf_find(g, "tokenizer.ggml.token_type") >= 0) {
    dq_gguf_get_arr(g, "tokenizer.ggml.token_type", &at, &n, &data);
    if (at != DQ_GGUF_I32 || n != (uint64_t)t->n_vocab)
      return dq_err_set(DOCQ_ECORRUPT, "%s: tokenizer.ggml.token_type must be %d i32 values (type %d, %llu values)",
                        g->path, t->n_vocab, at, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
      int32_t v;
      memcpy(&v, (const char *)data + i * 4, 4);
      if (v < DQ_TT_UNDEFINED || v > DQ_TT_BYTE)
        return dq_err_set(DOCQ_ECORRUPT, "%s: token %llu has type %d (valid: 0..6)", g->path, (unsigned long long)i, (int)v);
      t->type[i] = (uint8_t)v;
    }
  }
  return 0;
}

/* Merges "left right" (split at the first space after the first byte, as
 * llama.cpp does), stored without the space. */
static int load_merges(dq_tok *t, const dq_gguf *g)
{
  long ki = -1;
  uint64_t n = 0;
  int rc = str_array(g, "tokenizer.ggml.merges", &ki, &n);
  if (rc < 0) return rc == DOCQ_ENOTFOUND ? dq_err_set(DOCQ_ECORRUPT, "%s: BPE vocabulary without tokenizer.ggml.merges", g->path) : rc;
  if (n > DQ_TOK_MAX_VOCAB) return dq_err_set(DOCQ_ECORRUPT, "%s: %llu merges", g->path, (unsigned long long)n);
  size_t total = 1;
  for (uint64_t i = 0; i < n; i++) {
    const char *s;
    size_t l;
    if ((rc = dq_gguf_arr_str(g, ki, i, &s, &l)) < 0) return rc;
    if (l > DQ_TOK_MAX_TEXT || dq_add_ovf(total, l, &total) || total > DQ_TOK_MAX_TEXT)
      return dq_err_set(DOCQ_ECORRUPT, "%s: merge texts too long", g->path);
  }
  t->n_merges = (size_t)n;
  t->mtext = dq_malloc(total);
  t->moff = dq_malloc((n ? n : 1) * sizeof(uint32_t));
  t->mlen = dq_malloc((n ? n : 1) * sizeof(uint32_t));
  t->mleft = dq_malloc((n ? n : 1) * sizeof(uint32_t));
  if (!t->mtext || !t->moff || !t->mlen || !t->mleft || strmap_init(&t->merges, (size_t)n) < 0) return DOCQ_ENOMEM;
  size_t o = 0;
  for (uint64_t i = 0; i < n; i++) {
    const char *s;
    size_t l;
    dq_gguf_arr_str(g, ki, i, &s, &l);
    const char *sp = l > 1 ? memchr(s + 1, ' ', l - 1) : NULL;
    if (!sp || (size_t)(sp - s) + 1 >= l)
      return dq_err_set(DOCQ_ECORRUPT, "%s: merge %llu '%.*s' is not 'left right'", g->path, (unsigned long long)i,
                        (int)(l > 40 ? 40 : l), s);
    size_t nl = (size_t)(sp - s), nr = l - nl - 1;
    memcpy(t->mtext + o, s, nl);
    memcpy(t->mtext + o + nl, sp + 1, nr);
    t->mtext[o + nl + nr] = 0;
    t->moff[i] = (uint32_t)o;
    t->mleft[i] = (uint32_t)nl;
    t->mlen[i] = (uint32_t)(nl + nr);
    o += nl + nr + 1;
    merge_insert(t, (int32_t)i);
  }
  return 0;
}

/* One special id: absent keeps *id; 0xFFFFFFFF (or -1) means none; else < n_vocab. */
static int load_id(const dq_tok *t, const dq_gguf *g, const char *key, int32_t *id)
{
  long i = dq_gguf_find(g, key);
  if (i < 0) return 0;
  const dq_gguf_kv *kv = &g->kv[i];
  int64_t v;
  if (kv->type == DQ_GGUF_U32) { uint32_t u; memcpy(&u, kv->data, 4); v = u == UINT32_MAX ? -1 : (int64_t)u; }
  else if (kv->type == DQ_GGUF_I32) { int32_t s; memcpy(&s, kv->data, 4); v = s; }
  else if (kv->type == DQ_GGUF_U64 || kv->type == DQ_GGUF_I64) { memcpy(&v, kv->data, 8); if ((uint64_t)v == UINT64_MAX) v = -1; }
  else return dq_err_set(DOCQ_ECORRUPT, "%s: %s is not an integer (type %d)", g->path, key, kv->type);
  if (v < -1 || v >= t->n_vocab)
    return dq_err_set(DOCQ_ECORRUPT, "%s: %s = %lld is not a token id (vocabulary of %d)", g->path, key, (long long)v, t->n_vocab);
  *id = (int32_t)v;
  return 0;
}

static int load_flag(const dq_gguf *g, const char *key, int *flag)
{
  if (dq_gguf_find(g, key) < 0) return 0;
  return dq_gguf_get_bool(g, key, flag);
}

static int load_specials(dq_tok *t, const dq_gguf *g)
{
  dq_tok_special *sp = &t->sp;
  /* Defaults as llama.cpp has them per model type. */
  *sp = (dq_tok_special){-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
  if (t->kind == DQ_TOK_SPM) { sp->bos = 1; sp->eos = 2; sp->unk = 0; }
  if (t->kind == DQ_TOK_WPM) { sp->unk = 100; sp->cls = 101; sp->sep = 102; sp->pad = 0; sp->mask = 103; }
  int32_t *ids[] = {&sp->bos, &sp->eos, &sp->unk, &sp->sep, &sp->pad, &sp->cls, &sp->mask, &sp->eot, &sp->eom,
                    &sp->fim_pad, &sp->fim_rep, &sp->fim_sep, &sp->fim_pre, &sp->fim_suf, &sp->fim_mid};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    if (*ids[i] >= t->n_vocab) *ids[i] = -1; /* a default that does not fit this vocabulary */
  static const char *keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                               "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
                               "tokenizer.ggml.padding_token_id", "tokenizer.ggml.cls_token_id",
                               "tokenizer.ggml.mask_token_id", "tokenizer.ggml.eot_token_id",
                               "tokenizer.ggml.eom_token_id", "tokenizer.ggml.fim_pad_token_id",
                               "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id",
                               "tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
                               "tokenizer.ggml.fim_mid_token_id"};
  int rc;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if ((rc = load_id(t, g, keys[i], ids[i])) < 0) return rc;
  if (t->kind == DQ_TOK_WPM) {
    /* BERT's BOS/EOS are [CLS]/[SEP]. */
    if (dq_gguf_find(g, "tokenizer.ggml.bos_token_id") < 0) sp->bos = sp->cls;
    if (dq_gguf_find(g, "tokenizer.ggml.eos_token_id") < 0) sp->eos = sp->sep;
  }
  t->add_bos = t->kind != DQ_TOK_BPE || t->pre == DQ_PRE_LLAMA3 || t->pre == DQ_PRE_TEKKEN;
  t->add_eos = 0;
  t->add_space_prefix = t->kind == DQ_TOK_SPM;
  if ((rc = load_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos)) < 0 ||
      (rc = load_flag(g, "tokenizer.ggml.add_eos_token", &t->add_eos)) < 0 ||
      (rc = load_flag(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix)) < 0)
    return rc;
  return 0;
}

static int load_pre(dq_tok *t, const dq_gguf *g)
{
  static const struct { const char *name; int pre; } known[] = {
    {"default", DQ_PRE_GPT2}, {"gpt-2", DQ_PRE_GPT2}, {"gpt2", DQ_PRE_GPT2}, {"phi-2", DQ_PRE_GPT2},
    {"mpt", DQ_PRE_GPT2}, {"olmo", DQ_PRE_GPT2}, {"jina-es", DQ_PRE_GPT2}, {"jina-de", DQ_PRE_GPT2},
    {"llama3", DQ_PRE_LLAMA3}, {"llama-v3", DQ_PRE_LLAMA3}, {"llama-bpe", DQ_PRE_LLAMA3},
    {"falcon3", DQ_PRE_LLAMA3}, {"dbrx", DQ_PRE_LLAMA3}, {"smaug-bpe", DQ_PRE_LLAMA3},
    {"falcon-h1", DQ_PRE_LLAMA3}, {"pixtral", DQ_PRE_LLAMA3},
    {"qwen2", DQ_PRE_QWEN2}, {"deepseek-r1-qwen", DQ_PRE_QWEN2}, {"smollm", DQ_PRE_SMOLLM},
    {"gpt-4o", DQ_PRE_GPT4O}, {"llama4", DQ_PRE_GPT4O}, {"tekken", DQ_PRE_TEKKEN},
  };
  if (t->kind != DQ_TOK_BPE) return 0;
  t->pre = DQ_PRE_GPT2;
  const char *s = NULL;
  size_t n = 0;
  if (dq_gguf_find(g, "tokenizer.ggml.pre") >= 0) {
    int rc = dq_gguf_get_str(g, "tokenizer.ggml.pre", &s, &n);
    if (rc < 0) return rc;
  }
  if (n >= sizeof t->pre_name) n = sizeof t->pre_name - 1;
  if (s) memcpy(t->pre_name, s, n);
  t->pre_name[n] = 0;
  if (!s) return 0; /* old files without the key: GPT-2, as llama.cpp */
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strlen(known[i].name) == n && memcmp(known[i].name, s, n) == 0) { t->pre = known[i].pre; return 0; }
  dq_buf b = {0};
  dq_buf_printf(&b, "%s: unknown pre-tokenizer '%s': using gpt-2 (token ids may differ from the model's own tokenizer)",
                g->path, t->pre_name);
  if (b.oom) return DOCQ_ENOMEM;
  t->warning = dq_buf_detach(&b);
  dq_log(DOCQ_LOG_WARN, "%s", t->warning);
  return 0;
}

static int cmp_special(const void *a, const void *b, void *ctx)
{
  const dq_tok *t = ctx;
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  if (t->len[x] != t->len[y]) return t->len[x] > t->len[y] ? -1 : 1;
  return x < y ? -1 : x > y;
}

/* The id of the first of texts[0..n) that is a control or user-defined
 * token, or -1. */
static int32_t special_by_text(const dq_tok *t, const char *const *texts, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    int32_t id = dq_tok_lookup(t, texts[i], strlen(texts[i]));
    if (id >= 0 && (t->type[id] == DQ_TT_CONTROL || t->type[id] == DQ_TT_USER_DEFINED)) return id;
  }
  return -1;
}

/* special_by_text, and a user-defined token found so becomes a control
 * token, as llama.cpp retypes it (it warns "probably a bug in the model"):
 * then it is read as text unless special tokens are parsed (a chat prompt
 * is parsed whole, as llama.cpp's; ask defuses its passages first:
 * dq_tok_defuse), and it is written as nothing unless special tokens are
 * shown. */
static int32_t control_by_text(dq_tok *t, const char *const *texts, size_t n)
{
  const int32_t id = special_by_text(t, texts, n);
  if (id >= 0 && t->type[id] == DQ_TT_USER_DEFINED) t->type[id] = DQ_TT_CONTROL;
  return id;
}

static void eog_add(dq_tok *t, int32_t id)
{
  if (id >= 0 && !dq_tok_is_eog(t, id) && t->n_eog < sizeof t->eog / sizeof t->eog[0]) t->eog[t->n_eog++] = id;
}

/* The token with text s when it is in the EOG set, else -1. */
static int32_t eog_by_text(const dq_tok *t, const char *s)
{
  int32_t id = dq_tok_lookup(t, s, strlen(s));
  return dq_tok_is_eog(t, id) ? id : -1;
}

static void eog_remove(dq_tok *t, int32_t id)
{
  for (size_t i = 0; i < t->n_eog; i++)
    if (t->eog[i] == id) {
      t->eog[i] = t->eog[--t->n_eog];
      return;
    }
}

/* The end-of-generation set as llama.cpp's llama_vocab::impl::load builds
 * it (a model may end its text with any of these, not only with EOS): the
 * EOS, EOT and EOM ids, the FIM pad / repository / file-separator tokens
 * (from their keys, else found by text: Qwen2.5-Coder's <|fim_pad|>,
 * <|repo_name|>, <|file_sep|>), and the tokens with the texts below (Llama
 * 3's <|end_of_text|>, which its Instruct files do not name as EOS, ...).
 * Found by text only when the file marks the token control or user-defined
 * (a plain word that happens to read "</s>" ends nothing, where llama.cpp
 * would retype it), and a user-defined one becomes control (control_by_text).
 * Then llama.cpp's two
 * exceptions: gpt-oss (harmony) ends a message, not the text, with <|end|>,
 * so with <|return|> and <|call|> (or <|calls|> and <|flush|>) present it is
 * no EOG and becomes user-defined; with Gemma 4's <|tool_response> present,
 * </s> is neither EOG nor special. Runs before the special-token list is
 * built, which those type changes affect. */
static void build_eog(dq_tok *t)
{
  static const char *fim_pad[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
  static const char *fim_rep[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
  static const char *fim_sep[] = {"<|file_sep|>"};
  static const char *eog_text[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<\uff5cend\u2581of\u2581sentence\uff5c>",
    "[e~["};
  static const char *fim_pre[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\uff5cfim\u2581begin\uff5c>",
                                  "<PRE>", "\u2581<PRE>", "<|code_prefix|>", "<|prefix|>"};
  static const char *fim_suf[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\uff5cfim\u2581hole\uff5c>",
                                  "<SUF>", "\u2581<SUF>", "<|code_suffix|>", "<|suffix|>"};
  static const char *fim_mid[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\uff5cfim\u2581end\uff5c>",
                                  "<MID>", "\u2581<MID>", "<|code_middle|>", "<|middle|>"};
  dq_tok_special *sp = &t->sp;
  /* the FIM tokens: by their keys, else by text (prefix, suffix and middle
   * end nothing; they are looked for as llama.cpp does, for their type) */
  if (sp->fim_pre < 0) sp->fim_pre = control_by_text(t, fim_pre, sizeof fim_pre / sizeof *fim_pre);
  if (sp->fim_suf < 0) sp->fim_suf = control_by_text(t, fim_suf, sizeof fim_suf / sizeof *fim_suf);
  if (sp->fim_mid < 0) sp->fim_mid = control_by_text(t, fim_mid, sizeof fim_mid / sizeof *fim_mid);
  if (sp->fim_pad < 0) sp->fim_pad = control_by_text(t, fim_pad, sizeof fim_pad / sizeof *fim_pad);
  if (sp->fim_rep < 0) sp->fim_rep = control_by_text(t, fim_rep, sizeof fim_rep / sizeof *fim_rep);
  if (sp->fim_sep < 0) sp->fim_sep = control_by_text(t, fim_sep, sizeof fim_sep / sizeof *fim_sep);
  const int32_t by_id[] = {sp->eos, sp->eot, sp->eom, sp->fim_pad, sp->fim_rep, sp->fim_sep};
  for (size_t i = 0; i < sizeof by_id / sizeof *by_id; i++) eog_add(t, by_id[i]);
  for (size_t i = 0; i < sizeof eog_text / sizeof *eog_text; i++) eog_add(t, control_by_text(t, eog_text + i, 1));

  /* the exceptions look at the set: a text counts when its token is EOG */
  const int32_t end = eog_by_text(t, "<|end|>"), s_id = eog_by_text(t, "</s>");
  const int ret = eog_by_text(t, "<|return|>") >= 0, flush = eog_by_text(t, "<|flush|>") >= 0;
  const int call = eog_by_text(t, "<|call|>") >= 0 || eog_by_text(t, "<|calls|>") >= 0;
  const int tool_response = eog_by_text(t, "<|tool_response>") >= 0;
  if (end >= 0 && call && (ret || flush)) {
    eog_remove(t, end);
    t->type[end] = DQ_TT_USER_DEFINED;
  }
  if (s_id >= 0 && tool_response) {
    eog_remove(t, s_id);
    t->type[s_id] = DQ_TT_NORMAL;
  }
}

/* EOG set; special tokens for partitioning, longest first; SPM byte tokens. */
static int build_tables(dq_tok *t)
{
  build_eog(t);
  size_t ns = 0;
  for (int32_t i = 0; i < t->n_vocab; i++) {
    int ty = t->type[i];
    if ((ty == DQ_TT_CONTROL || ty == DQ_TT_UNKNOWN || ty == DQ_TT_USER_DEFINED) && t->len[i] > 0) ns++;
  }
  t->special = dq_malloc((ns ? ns : 1) * sizeof(int32_t));
  if (!t->special) return DOCQ_ENOMEM;
  for (int32_t i = 0; i < t->n_vocab; i++) {
    int ty = t->type[i];
    if ((ty == DQ_TT_CONTROL || ty == DQ_TT_UNKNOWN || ty == DQ_TT_USER_DEFINED) && t->len[i] > 0) t->special[t->n_special++] = i;
  }
  qsort_r(t->special, t->n_special, sizeof(int32_t), cmp_special, t);

  /* Word-by-word SPM is exact only if no token has "▁" after a non-"▁". */
  t->spm_word_split = 1;
  for (int32_t i = 0; i < t->n_vocab && t->spm_word_split; i++) {
    const char *s = t->text + t->off[i];
    for (uint32_t k = 1; k + 3 <= t->len[i]; k++)
      if (memcmp(s + k, "\xe2\x96\x81", 3) == 0 && (k < 3 || memcmp(s + k - 3, "\xe2\x96\x81", 3) != 0)) {
        t->spm_word_split = 0;
        break;
      }
  }

  static const char hex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; b++) {
    char s[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
    int32_t id = dq_tok_lookup(t, s, 6);
    if (id < 0) { char c = (char)b; id = dq_tok_lookup(t, &c, 1); }
    t->byte_tok[b] = id >= 0 ? id : t->sp.unk;
  }
  return 0;
}

/* 1 when s[0..n), in ASCII lower case, contains w (lower case). */
static int contains_lower(const char *s, size_t n, const char *w)
{
  const size_t k = strlen(w);
  for (size_t i = 0; i + k <= n; i++) {
    size_t j = 0;
    while (j < k && (s[i + j] >= 'A' && s[i + j] <= 'Z' ? s[i + j] + 32 : s[i + j]) == w[j]) j++;
    if (j == k) return 1;
  }
  return 0;
}

/* llama.cpp sets the RSTRIP attribute by the model's name: for a file whose
 * general.name, in lower case, contains "phi-3" or "phi3", every special
 * token and </s> drop the white space that follows them, except <unk>, <s>
 * and <|endoftext|>. Phi-3's chat prompt "<|user|>\nHi<|end|>\n" is then
 * <|user|> Hi <|end|>, the ids the model was trained on. */
static int load_rstrip(dq_tok *t, const dq_gguf *g)
{
  const char *name;
  size_t n;
  const long k = dq_gguf_find(g, "general.name");
  if (k < 0 || g->kv[k].type != DQ_GGUF_STRING || dq_gguf_get_str(g, "general.name", &name, &n) < 0) return 0;
  if (!contains_lower(name, n, "phi-3") && !contains_lower(name, n, "phi3")) return 0;
  if (!(t->rstrip = dq_calloc((size_t)t->n_vocab, 1))) return DOCQ_ENOMEM;
  for (size_t i = 0; i < t->n_special; i++) t->rstrip[t->special[i]] = 1;
  int32_t id = dq_tok_lookup(t, "</s>", 4);
  if (id >= 0) t->rstrip[id] = 1;
  static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
  for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
    if ((id = dq_tok_lookup(t, keep[i], strlen(keep[i]))) >= 0) t->rstrip[id] = 0;
  return 0;
}

int dq_tok_load(dq_tok **out, const dq_gguf *g)
{
  DQ_ASSERT_ARG(out && g);
  *out = NULL;
  int rc;
  const char *model;
  size_t mlen;
  if (dq_gguf_find(g, "tokenizer.ggml.model") < 0) return dq_err_set(DOCQ_ENOTFOUND, "%s: no tokenizer (tokenizer.ggml.model)", g->path);
  if ((rc = dq_gguf_get_str(g, "tokenizer.ggml.model", &model, &mlen)) < 0) return rc;
  int kind = 0;
  if (mlen == 5 && memcmp(model, "llama", 5) == 0) kind = DQ_TOK_SPM;
  else if (mlen == 4 && memcmp(model, "gpt2", 4) == 0) kind = DQ_TOK_BPE;
  else if (mlen == 4 && memcmp(model, "bert", 4) == 0) kind = DQ_TOK_WPM;
  else return dq_err_set(DOCQ_EUNSUPPORTED, "%s: tokenizer model '%.*s' not supported (llama, gpt2, bert)", g->path,
                         (int)(mlen > 32 ? 32 : mlen), model);
  dq_tok *t = dq_calloc(1, sizeof *t);
  if (!t) return DOCQ_ENOMEM;
  t->kind = kind;
  if ((rc = load_tokens(t, g)) < 0 || (rc = load_scores_types(t, g)) < 0 || (rc = load_pre(t, g)) < 0 ||
      (rc = load_specials(t, g)) < 0)
    goto done;
  if ((rc = strmap_init(&t->vocab, (size_t)t->n_vocab)) < 0) goto done;
  for (int32_t i = 0; i < t->n_vocab; i++) vocab_insert(t, i);
  if (kind == DQ_TOK_BPE && (rc = load_merges(t, g)) < 0) goto done;
  if ((rc = build_tables(t)) < 0 || (rc = load_rstrip(t, g)) < 0) goto done;
  *out = t;
  t = NULL;
done:
  dq_tok_free(t);
  return rc;
}

void dq_tok_free(dq_tok *t)
{
  if (!t) return;
  dq_free(t->warning);
  dq_free(t->text);
  dq_free(t->off);
  dq_free(t->len);
  dq_free(t->score);
  dq_free(t->type);
  dq_free(t->vocab.slot);
  dq_free(t->special);
  dq_free(t->rstrip);
  dq_free(t->mtext);
  dq_free(t->moff);
  dq_free(t->mlen);
  dq_free(t->mleft);
  dq_free(t->merges.slot);
  dq_free(t);
}

/* ---- getters -------------------------------------------------------------- */

int dq_tok_kind(const dq_tok *t) { return t->kind; }
int dq_tok_pre(const dq_tok *t) { return t->pre; }
const char *dq_tok_pre_name(const dq_tok *t) { return t->pre_name; }
int32_t dq_tok_n_vocab(const dq_tok *t) { return t->n_vocab; }
const dq_tok_special *dq_tok_specials(const dq_tok *t) { return &t->sp; }
int dq_tok_add_bos(const dq_tok *t) { return t->add_bos; }
int dq_tok_add_eos(const dq_tok *t) { return t->add_eos; }
const char *dq_tok_warning(const dq_tok *t) { return t->warning; }

int dq_tok_is_eog(const dq_tok *t, int32_t id)
{
  if (id < 0) return 0;
  for (size_t i = 0; i < t->n_eog; i++)
    if (t->eog[i] == id) return 1;
  return 0;
}

int32_t dq_tok_find(const dq_tok *t, const char *s, size_t len) { return s ? dq_tok_lookup(t, s, len) : -1; }

const char *dq_tok_text(const dq_tok *t, int32_t id, size_t *len)
{
  if (id < 0 || id >= t->n_vocab) return NULL;
  if (len) *len = t->len[id];
  return t->text + t->off[id];
}

int dq_tok_type(const dq_tok *t, int32_t id) { return id < 0 || id >= t->n_vocab ? -1 : t->type[id]; }
float dq_tok_score(const dq_tok *t, int32_t id) { return id < 0 || id >= t->n_vocab ? 0.0f : t->score[id]; }

/* ---- encoding ----------------------------------------------------------------- */

/* A piece of the input: raw text [off, off+len) or one special token. */
typedef struct frag { size_t off, len; int32_t id; } frag; /* id -1: raw text */

typedef struct fragvec { frag *p; size_t n, cap; } fragvec;

static int frag_push(fragvec *v, frag f)
{
  if (v->n == v->cap) {
    size_t nc = v->cap ? v->cap * 2 : 8, bytes;
    if (dq_mul_ovf(nc, sizeof(frag), &bytes)) return dq_err_set(DOCQ_ENOMEM, "tokenizer: too many fragments");
    frag *p = dq_realloc(v->p, bytes);
    if (!p) return DOCQ_ENOMEM;
    v->p = p;
    v->cap = nc;
  }
  v->p[v->n++] = f;
  return 0;
}

/* Cut every occurrence of each special token out of the raw fragments,
 * longest token first (llama.cpp's tokenizer_st_partition). Each token
 * rebuilds the fragment list once, so many occurrences cost linear time.
 * A token whose first two bytes never follow each other in the text cannot
 * occur in it and is skipped without a search: Gemma's vocabulary has
 * ~6,400 such tokens ("<unused0>", ...), whose searches took 35% of the
 * time to tokenize prose. */
static int partition(const dq_tok *t, const char *text, size_t len, int parse_special, fragvec *v)
{
  int rc = 0;
  fragvec nv = {0};
  uint64_t pairs[65536 / 64], bytes[256 / 64];
  memset(pairs, 0, sizeof pairs);
  memset(bytes, 0, sizeof bytes);
  for (size_t i = 0; i < len; i++) {
    const unsigned b = (unsigned char)text[i], p = i + 1 < len ? b << 8 | (unsigned char)text[i + 1] : 0;
    bytes[b >> 6] |= 1ull << (b & 63);
    if (i + 1 < len) pairs[p >> 6] |= 1ull << (p & 63);
  }
  if (len && (rc = frag_push(v, (frag){0, len, -1})) < 0) return rc;
  for (size_t k = 0; k < t->n_special && v->n; k++) {
    int32_t id = t->special[k];
    if (!parse_special && t->type[id] != DQ_TT_USER_DEFINED) continue;
    const char *tt = t->text + t->off[id];
    size_t tl = t->len[id];
    const unsigned b0 = (unsigned char)tt[0], p0 = tl > 1 ? b0 << 8 | (unsigned char)tt[1] : 0;
    if (!(bytes[b0 >> 6] >> (b0 & 63) & 1) || (tl > 1 && !(pairs[p0 >> 6] >> (p0 & 63) & 1))) continue;
    nv.n = 0;
    int changed = 0;
    for (size_t i = 0; i < v->n && rc == 0; i++) {
      frag f = v->p[i];
      const char *hit = f.id < 0 && f.len >= tl ? memmem(text + f.off, f.len, tt, tl) : NULL;
      if (!hit) { rc = frag_push(&nv, f); continue; }
      changed = 1;
      size_t pos = f.off, end = f.off + f.len;
      while (hit && rc == 0) {
        size_t at = (size_t)(hit - text);
        if (at > pos) rc = frag_push(&nv, (frag){pos, at - pos, -1});
        if (rc == 0) rc = frag_push(&nv, (frag){at, tl, id});
        pos = at + tl;
        if (t->rstrip && t->rstrip[id]) /* llama.cpp's isspace: ASCII white space */
          while (pos < end && (text[pos] == ' ' || (text[pos] >= '\t' && text[pos] <= '\r'))) pos++;
        hit = end - pos >= tl ? memmem(text + pos, end - pos, tt, tl) : NULL;
      }
      if (rc == 0 && pos < end) rc = frag_push(&nv, (frag){pos, end - pos, -1});
    }
    if (rc < 0) break;
    if (changed) { fragvec tmp = *v; *v = nv; nv = tmp; }
  }
  dq_free(nv.p);
  return rc;
}

/* SPM: escape spaces as U+2581, with the prefix space when asked. */
static int spm_fragment(const dq_tok *t, const char *s, size_t n, int prefix, dq_i32vec *out)
{
  size_t cap, spaces = (size_t)prefix;
  for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
  if (dq_add_ovf(n, spaces * 2 + (size_t)prefix, &cap)) return dq_err_set(DOCQ_ENOMEM, "tokenizer: text too long");
  char *e = dq_malloc(cap ? cap : 1);
  if (!e) return DOCQ_ENOMEM;
  size_t o = 0;
  if (prefix) { memcpy(e, "\xe2\x96\x81", 3); o = 3; }
  for (size_t i = 0; i < n; i++) {
    if (s[i] == ' ') { memcpy(e + o, "\xe2\x96\x81", 3); o += 3; }
    else e[o++] = s[i];
  }
  int rc = dq_spm_encode(t, e, o, out);
  dq_free(e);
  return rc;
}

int dq_tok_encode(const dq_tok *t, const char *text, size_t len, int add_special, int parse_special,
                  int32_t *ids, size_t cap, size_t *n_out)
{
  DQ_ASSERT_ARG(t && (text || len == 0) && (ids || cap == 0) && n_out);
  *n_out = 0;
  fragvec fv = {0};
  dq_i32vec out = {0};
  int rc = 0;
  if ((rc = partition(t, text, len, parse_special, &fv)) < 0) goto done;
  int32_t first = t->kind == DQ_TOK_WPM ? t->sp.cls : t->sp.bos;
  int32_t last = t->kind == DQ_TOK_WPM ? t->sp.sep : t->sp.eos;
  int want_first = add_special && (t->kind == DQ_TOK_WPM || t->add_bos) && first >= 0;
  int want_last = add_special && (t->kind == DQ_TOK_WPM || t->add_eos) && last >= 0;
  if (want_first && (rc = dq_i32_push(&out, first)) < 0) goto done;
  int prev_special = 1; /* SPM: the text start counts as "after a special token" */
  for (size_t i = 0; i < fv.n; i++) {
    frag f = fv.p[i];
    if (f.id >= 0) {
      rc = dq_i32_push(&out, f.id);
      prev_special = 1;
    } else if (t->kind == DQ_TOK_SPM) {
      rc = spm_fragment(t, text + f.off, f.len, t->add_space_prefix && prev_special, &out);
      prev_special = 0;
    } else if (t->kind == DQ_TOK_BPE) {
      rc = dq_bpe_encode(t, text + f.off, f.len, &out);
    } else {
      rc = dq_wpm_encode(t, text + f.off, f.len, &out);
    }
    if (rc < 0) goto done;
  }
  if (want_last && (rc = dq_i32_push(&out, last)) < 0) goto done;
  if (ids && out.n && cap) memcpy(ids, out.p, (out.n < cap ? out.n : cap) * sizeof(int32_t));
  *n_out = out.n;
done:
  dq_free(fv.p);
  dq_free(out.p);
  return rc;
}

/* ---- decoding ------------------------------------------------------------------- */

static int hexval(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Append to buf (within cap) and count. */
static void put(char *buf, size_t cap, size_t *n, const char *s, size_t k)
{
  if (*n < cap) memcpy(buf + *n, s, k < cap - *n ? k : cap - *n);
  *n += k;
}

long dq_tok_piece(const dq_tok *t, int32_t id, int special, char *buf, size_t cap)
{
  if (!t || id < 0 || id >= t->n_vocab) return -1;
  const char *s = t->text + t->off[id];
  size_t l = t->len[id], n = 0;
  int ty = t->type[id];
  if (ty == DQ_TT_USER_DEFINED || (special && (ty == DQ_TT_CONTROL || ty == DQ_TT_UNKNOWN))) {
    put(buf, cap, &n, s, l);
    return (long)n;
  }
  if (ty == DQ_TT_BYTE) {
    int hi, lo;
    if (l == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>' && (hi = hexval(s[3])) >= 0 && (lo = hexval(s[4])) >= 0) {
      char c = (char)(hi << 4 | lo);
      put(buf, cap, &n, &c, 1);
    }
    return (long)n;
  }
  if (ty != DQ_TT_NORMAL) return 0; /* control, unknown, unused: nothing */
  if (t->kind == DQ_TOK_BPE) {
    for (size_t i = 0; i < l;) {
      uint32_t cp;
      size_t k = dq_utf8_decode((const unsigned char *)s + i, l - i, &cp);
      int b = dq_bpe_cp_to_byte(cp);
      if (b >= 0) { char c = (char)b; put(buf, cap, &n, &c, 1); }
      else put(buf, cap, &n, s + i, k); /* not byte-level text: keep it */
      i += k;
    }
    return (long)n;
  }
  for (size_t i = 0; i < l;) { /* SPM, WordPiece: U+2581 is a space */
    if (l - i >= 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0) { put(buf, cap, &n, " ", 1); i += 3; }
    else { put(buf, cap, &n, s + i, 1); i++; }
  }
  return (long)n;
}

int dq_tok_defuse(const dq_tok *t, const char *s, size_t n, char **out, size_t *out_n)
{
  DQ_ASSERT_ARG(t && (s || !n) && out);
  *out = NULL;
  if (out_n) *out_n = 0;
  uint8_t *mark = NULL; /* mark[i]: a break goes after byte i */
  size_t n_marks = 0;
  for (size_t k = 0; k < t->n_special; k++) {
    const int32_t id = t->special[k];
    if (t->type[id] != DQ_TT_CONTROL || t->len[id] < 2) continue;
    const char *tx = t->text + t->off[id];
    const size_t tl = t->len[id];
    for (const char *p = s; n && (p = memmem(p, n - (size_t)(p - s), tx, tl)) != NULL; p += tl) {
      if (!mark && !(mark = dq_calloc(n, 1))) return DOCQ_ENOMEM;
      const size_t at = (size_t)(p - s);
      n_marks += !mark[at];
      mark[at] = 1;
    }
  }
  if (!n_marks) return 0;
  static const char zwsp[] = "\xE2\x80\x8B";
  char *o = dq_malloc(n + 3 * n_marks + 1);
  if (!o) { dq_free(mark); return DOCQ_ENOMEM; }
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    o[w++] = s[i];
    if (mark[i]) { memcpy(o + w, zwsp, 3); w += 3; }
  }
  o[w] = 0;
  dq_free(mark);
  *out = o;
  if (out_n) *out_n = w;
  return 0;
}

int dq_tok_decode(const dq_tok *t, const int32_t *ids, size_t n, int special, char **out, size_t *len)
{
  DQ_ASSERT_ARG(t && (ids || n == 0) && out);
  *out = NULL;
  if (len) *len = 0;
  dq_buf b = {0};
  int rc = 0;
  int strip = t->add_space_prefix || t->kind == DQ_TOK_WPM;
  size_t i = 0;
  if (!special && n > 0 && t->add_bos && ids[0] == t->sp.bos && t->sp.bos >= 0) i = 1;
  char small[256];
  for (; i < n; i++) {
    long k = dq_tok_piece(t, ids[i], special, small, sizeof small);
    if (k < 0) { rc = dq_err_set(DOCQ_EINVAL, "tokenizer: token id %d out of range (vocabulary of %d)", (int)ids[i], t->n_vocab); goto done; }
    const char *p = small;
    char *big = NULL;
    if ((size_t)k > sizeof small) {
      if (!(big = dq_malloc((size_t)k))) { rc = DOCQ_ENOMEM; goto done; }
      dq_tok_piece(t, ids[i], special, big, (size_t)k);
      p = big;
    }
    size_t skip = strip && b.len == 0 && k > 0 && p[0] == ' ';
    if (k > 0) strip = 0;
    rc = dq_buf_put(&b, p + skip, (size_t)k - skip);
    dq_free(big);
    if (rc < 0) goto done;
  }
  if (len) *len = b.len;
  if (!b.p) {
    b.p = dq_malloc(1);
    if (!b.p) { rc = DOCQ_ENOMEM; goto done; }
    b.p[0] = 0;
  }
  *out = b.p;
  b.p = NULL;
done:
  dq_buf_free(&b);
  return rc;
}
