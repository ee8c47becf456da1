/* GGUF v3 writer for tests (see gguf_writer.h).
 *
 * Metadata is serialized as it is added (into `kvs`), so the writer keeps no
 * per-kv structs and will happily write duplicate keys: hostile tests need
 * that. Tensors keep their own copy of the data; offsets are assigned at
 * write time in insertion order, each padded to the alignment, which is what
 * ggml's writer does and what the reader's overlap check expects. */
#include "gguf_writer.h"

/* The random weights must be the same bits in every build: a reference made
 * by another engine on a written model (tests/data/qwen3-random.*) holds only
 * for those bytes, and center + scale * u fused into one FMA rounds once
 * where the unfused form rounds twice. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include "engine/kernels.h"
#include "util/err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct gw_tensor {
  char *name;
  int type;
  uint32_t n_dims;
  int64_t ne[4];
  uint8_t *data;
  size_t nbytes;
} gw_tensor;

struct dq_gw {
  uint32_t version, alignment;
  uint64_t n_kv;
  dq_buf kvs;             /* serialized kv entries */
  gw_tensor *t;
  size_t n_t, cap_t;
};

/* ===== raw appenders ===== */

int dq_gwb_u32(dq_buf *b, uint32_t v)
{
  uint8_t p[4];
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
  return dq_buf_put(b, p, 4);
}

int dq_gwb_u64(dq_buf *b, uint64_t v)
{
  uint8_t p[8];
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
  return dq_buf_put(b, p, 8);
}

static int gwb_strn(dq_buf *b, const char *s, size_t n)
{
  int rc = dq_gwb_u64(b, n);
  return rc < 0 ? rc : dq_buf_put(b, s, n);
}

int dq_gwb_str(dq_buf *b, const char *s) { return gwb_strn(b, s, strlen(s)); }

/* ===== writer ===== */

dq_gw *dq_gw_new(void)
{
  dq_gw *w = dq_calloc(1, sizeof *w);
  if (w) {
    w->version = 3;
    w->alignment = 32;
  }
  return w;
}

void dq_gw_free(dq_gw *w)
{
  if (!w) return;
  for (size_t i = 0; i < w->n_t; i++) {
    dq_free(w->t[i].name);
    dq_free(w->t[i].data);
  }
  dq_free(w->t);
  dq_buf_free(&w->kvs);
  dq_free(w);
}

void dq_gw_set_version(dq_gw *w, uint32_t version) { w->version = version; }

int dq_gw_set_alignment(dq_gw *w, uint32_t alignment)
{
  int rc = dq_gw_add_u32(w, "general.alignment", alignment);
  if (rc == 0) w->alignment = alignment;
  return rc;
}

static size_t scalar_size(int t)
{
  switch (t) {
  case DQ_GGUF_U8: case DQ_GGUF_I8: case DQ_GGUF_BOOL: return 1;
  case DQ_GGUF_U16: case DQ_GGUF_I16: return 2;
  case DQ_GGUF_U32: case DQ_GGUF_I32: case DQ_GGUF_F32: return 4;
  case DQ_GGUF_U64: case DQ_GGUF_I64: case DQ_GGUF_F64: return 8;
  default: return 0;
  }
}

/* Append host-endian scalars as little-endian. */
static int put_scalars(dq_buf *b, int type, const void *data, size_t n)
{
  size_t sz = scalar_size(type);
  const uint8_t *p = data;
  for (size_t i = 0; i < n; i++) {
    uint64_t v = 0;
    if (sz == 1) v = p[i];
    else if (sz == 2) { uint16_t x; memcpy(&x, p + 2 * i, 2); v = x; }
    else if (sz == 4) { uint32_t x; memcpy(&x, p + 4 * i, 4); v = x; }
    else { memcpy(&v, p + 8 * i, 8); }
    uint8_t le[8];
    for (size_t j = 0; j < sz; j++) le[j] = (uint8_t)(v >> (8 * j));
    if (dq_buf_put(b, le, sz) < 0) return DOCQ_ENOMEM;
  }
  return 0;
}

/* Key + type + value, appended atomically (rolled back on failure). */
static int add_kv(dq_gw *w, const char *key, uint32_t type, int elem_type, const void *data, size_t n)
{
  size_t mark = w->kvs.len;
  int rc = dq_gwb_str(&w->kvs, key);
  if (rc == 0) rc = dq_gwb_u32(&w->kvs, type);
  if (rc == 0 && type == DQ_GGUF_ARRAY) {
    rc = dq_gwb_u32(&w->kvs, (uint32_t)elem_type);
    if (rc == 0) rc = dq_gwb_u64(&w->kvs, n);
    if (rc == 0 && elem_type == DQ_GGUF_STRING) {
      const char *const *s = data;
      for (size_t i = 0; i < n && rc == 0; i++) rc = dq_gwb_str(&w->kvs, s[i]);
    } else if (rc == 0) {
      rc = put_scalars(&w->kvs, elem_type, data, n);
    }
  } else if (rc == 0 && type == DQ_GGUF_STRING) {
    rc = gwb_strn(&w->kvs, data, n);
  } else if (rc == 0) {
    rc = put_scalars(&w->kvs, (int)type, data, 1);
  }
  if (rc < 0) {
    w->kvs.len = mark;
    w->kvs.oom = 0;
    return DOCQ_ENOMEM;
  }
  w->n_kv++;
  return 0;
}

int dq_gw_add_u8(dq_gw *w, const char *key, uint8_t v) { return add_kv(w, key, DQ_GGUF_U8, 0, &v, 1); }
int dq_gw_add_u32(dq_gw *w, const char *key, uint32_t v) { return add_kv(w, key, DQ_GGUF_U32, 0, &v, 1); }
int dq_gw_add_i32(dq_gw *w, const char *key, int32_t v) { return add_kv(w, key, DQ_GGUF_I32, 0, &v, 1); }
int dq_gw_add_u64(dq_gw *w, const char *key, uint64_t v) { return add_kv(w, key, DQ_GGUF_U64, 0, &v, 1); }
int dq_gw_add_i64(dq_gw *w, const char *key, int64_t v) { return add_kv(w, key, DQ_GGUF_I64, 0, &v, 1); }
int dq_gw_add_f32(dq_gw *w, const char *key, float v) { return add_kv(w, key, DQ_GGUF_F32, 0, &v, 1); }
int dq_gw_add_f64(dq_gw *w, const char *key, double v) { return add_kv(w, key, DQ_GGUF_F64, 0, &v, 1); }
int dq_gw_add_bool(dq_gw *w, const char *key, int v)
{
  uint8_t b = v != 0;
  return add_kv(w, key, DQ_GGUF_BOOL, 0, &b, 1);
}
int dq_gw_add_strn(dq_gw *w, const char *key, const char *s, size_t len) { return add_kv(w, key, DQ_GGUF_STRING, 0, s, len); }
int dq_gw_add_str(dq_gw *w, const char *key, const char *s) { return dq_gw_add_strn(w, key, s, strlen(s)); }

int dq_gw_add_arr(dq_gw *w, const char *key, int elem_type, const void *data, size_t n)
{
  if (scalar_size(elem_type) == 0) return dq_err_set(DOCQ_EINVAL, "gguf writer: bad array element type %d", elem_type);
  return add_kv(w, key, DQ_GGUF_ARRAY, elem_type, data, n);
}

int dq_gw_add_arr_str(dq_gw *w, const char *key, const char *const *s, size_t n)
{
  return add_kv(w, key, DQ_GGUF_ARRAY, DQ_GGUF_STRING, s, n);
}

int dq_gw_add_raw(dq_gw *w, const char *key, uint32_t type, const void *value, size_t n)
{
  size_t mark = w->kvs.len;
  if (dq_gwb_str(&w->kvs, key) < 0 || dq_gwb_u32(&w->kvs, type) < 0 || dq_buf_put(&w->kvs, value, n) < 0) {
    w->kvs.len = mark;
    w->kvs.oom = 0;
    return DOCQ_ENOMEM;
  }
  w->n_kv++;
  return 0;
}

/* Byte size of a tensor, or 0 when the shape does not suit the type. */
static size_t tensor_bytes(int type, uint32_t n_dims, const int64_t *ne, int64_t full[4])
{
  size_t nb;
  if (n_dims < 1 || n_dims > 4) return 0;
  for (uint32_t j = 0; j < 4; j++) {
    full[j] = j < n_dims ? ne[j] : 1;
    if (full[j] < 1) return 0;
  }
  nb = dq_type_row_bytes(type, full[0]);
  for (int j = 1; j < 4 && nb; j++)
    if (dq_mul_ovf(nb, (size_t)full[j], &nb)) return 0;
  return nb;
}

static int add_tensor_owned(dq_gw *w, const char *name, int type, uint32_t n_dims, const int64_t ne[4], uint8_t *data, size_t nbytes)
{
  if (w->n_t == w->cap_t) {
    size_t cap = w->cap_t ? 2 * w->cap_t : 16;
    gw_tensor *t = dq_realloc(w->t, cap * sizeof *t);
    if (!t) { dq_free(data); return DOCQ_ENOMEM; }
    w->t = t;
    w->cap_t = cap;
  }
  gw_tensor *t = &w->t[w->n_t];
  t->name = dq_strdup(name);
  if (!t->name) { dq_free(data); return DOCQ_ENOMEM; }
  t->type = type;
  t->n_dims = n_dims;
  memcpy(t->ne, ne, sizeof t->ne);
  t->data = data;
  t->nbytes = nbytes;
  w->n_t++;
  return 0;
}

int dq_gw_add_tensor(dq_gw *w, const char *name, int type, uint32_t n_dims, const int64_t *ne, const void *data)
{
  int64_t full[4];
  size_t nb = tensor_bytes(type, n_dims, ne, full);
  if (nb == 0) return dq_err_set(DOCQ_EINVAL, "gguf writer: tensor '%s': shape does not suit type %d", name, type);
  uint8_t *copy = data ? dq_malloc(nb) : dq_calloc(1, nb);
  if (!copy) return DOCQ_ENOMEM;
  if (data) memcpy(copy, data, nb);
  return add_tensor_owned(w, name, type, n_dims, full, copy, nb);
}

int dq_gw_add_tensor_f32(dq_gw *w, const char *name, int type, uint32_t n_dims, const int64_t *ne, const float *x)
{
  int64_t full[4];
  size_t nb = tensor_bytes(type, n_dims, ne, full);
  if (nb == 0 || !dq_kernels_supports(type))
    return dq_err_set(DOCQ_EINVAL, "gguf writer: tensor '%s': cannot quantize to type %d with this shape", name, type);
  uint8_t *q = dq_malloc(nb);
  if (!q) return DOCQ_ENOMEM;
  size_t row = dq_type_row_bytes(type, full[0]);
  int64_t rows = full[1] * full[2] * full[3];
  for (int64_t r = 0; r < rows; r++) dq_quantize_row_ref(type, x + r * full[0], q + (size_t)r * row, full[0]);
  return add_tensor_owned(w, name, type, n_dims, full, q, nb);
}

static size_t pad_to(size_t x, size_t a) { return (a - x % a) % a; }

int dq_gw_write_mem(const dq_gw *w, uint8_t **out, size_t *n)
{
  dq_buf b = {0};
  static const uint8_t zeros[256];
  int rc = 0;
  *out = NULL;
  *n = 0;
  dq_buf_put(&b, "GGUF", 4);
  dq_gwb_u32(&b, w->version);
  dq_gwb_u64(&b, w->n_t);
  dq_gwb_u64(&b, w->n_kv);
  dq_buf_put(&b, w->kvs.p, w->kvs.len);
  uint64_t off = 0;
  for (size_t i = 0; i < w->n_t; i++) {
    const gw_tensor *t = &w->t[i];
    dq_gwb_str(&b, t->name);
    dq_gwb_u32(&b, t->n_dims);
    for (uint32_t j = 0; j < t->n_dims; j++) dq_gwb_u64(&b, (uint64_t)t->ne[j]);
    dq_gwb_u32(&b, (uint32_t)t->type);
    dq_gwb_u64(&b, off);
    off += t->nbytes + pad_to(t->nbytes, w->alignment);
  }
  for (size_t p = pad_to(b.len, w->alignment); p > 0;) {
    size_t k = p < sizeof zeros ? p : sizeof zeros;
    dq_buf_put(&b, zeros, k);
    p -= k;
  }
  for (size_t i = 0; i < w->n_t; i++) {
    dq_buf_put(&b, w->t[i].data, w->t[i].nbytes);
    for (size_t p = pad_to(w->t[i].nbytes, w->alignment); p > 0;) {
      size_t k = p < sizeof zeros ? p : sizeof zeros;
      dq_buf_put(&b, zeros, k);
      p -= k;
    }
  }
  if (b.oom) {
    rc = DOCQ_ENOMEM;
    dq_buf_free(&b);
    return rc;
  }
  *n = b.len;
  *out = (uint8_t *)dq_buf_detach(&b);
  return *out ? 0 : DOCQ_ENOMEM;
}

int dq_gw_write_file(const dq_gw *w, const char *path)
{
  uint8_t *p;
  size_t n;
  int rc = dq_gw_write_mem(w, &p, &n);
  if (rc < 0) return rc;
  FILE *f = fopen(path, "wb");
  if (!f) rc = dq_err_set(DOCQ_EIO, "%s: cannot create", path);
  else {
    if (fwrite(p, 1, n, f) != n) rc = dq_err_set(DOCQ_EIO, "%s: write failed", path);
    if (fclose(f) != 0 && rc == 0) rc = dq_err_set(DOCQ_EIO, "%s: close failed", path);
  }
  dq_free(p);
  return rc;
}

/* ===== random-weight models ===== */

void dq_gw_model_params_default(dq_gw_model_params *p)
{
  memset(p, 0, sizeof *p);
  p->arch = "llama";
  p->n_layer = 2;
  p->n_embd = 64;
  p->n_head = 4;
  p->n_head_kv = 2;
  p->n_ff = 128;
  p->n_vocab = 320;
  p->n_ctx = 256;
  p->weight_type = DQ_T_F32;
  p->embd_type = -1;
  p->output_type = -1;
  p->seed = 1234;
}

/* Token text. Normal tokens enumerate strings over a fixed alphabet by
 * length: for each length L, all L-strings, then all "▁"+L-strings. */
static const char gw_alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-";
#define GW_NALPHA (sizeof gw_alpha - 1)

const char *dq_gw_vocab_token(int i, int n_vocab)
{
  static _Thread_local char buf[64];
  int first_normal = n_vocab >= 259 ? 259 : 3;
  if (i == 0) return "<unk>";
  if (i == 1) return "<s>";
  if (i == 2) return "</s>";
  if (i < first_normal) {
    snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
    return buf;
  }
  long k = i - first_normal;
  if (k == 0) return "\xe2\x96\x81"; /* U+2581, SentencePiece's space */
  k--;
  long count = GW_NALPHA;
  int len = 1;
  while (k >= 2 * count && len < 8) {
    k -= 2 * count;
    count *= (long)GW_NALPHA;
    len++;
  }
  char *o = buf;
  if (k >= count) {
    memcpy(o, "\xe2\x96\x81", 3);
    o += 3;
    k -= count;
  }
  char tmp[16];
  for (int j = len - 1; j >= 0; j--) {
    tmp[j] = gw_alpha[k % (long)GW_NALPHA];
    k /= (long)GW_NALPHA;
  }
  memcpy(o, tmp, (size_t)len);
  o[len] = 0;
  return buf;
}

static uint64_t splitmix(uint64_t *s)
{
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float urand(uint64_t *s) { return (float)((splitmix(s) >> 40) * (1.0 / 8388608.0)) - 1.0f; }

/* Add a tensor of random values: center + scale * U(-1,1), stored as `type`
 * (F32 when the row length does not fit the type's blocks). */
static int add_random(dq_gw *w, uint64_t *rng, const char *name, int type, int64_t ne0, int64_t ne1, float center, float scale)
{
  int64_t ne[2] = {ne0, ne1};
  size_t n = (size_t)(ne0 * ne1);
  float *x = dq_malloc(n * sizeof *x);
  if (!x) return DOCQ_ENOMEM;
  for (size_t i = 0; i < n; i++) x[i] = center + scale * urand(rng);
  if (dq_type_row_bytes(type, ne0) == 0 || !dq_kernels_supports(type)) type = DQ_T_F32;
  int rc = dq_gw_add_tensor_f32(w, name, type, ne1 > 1 ? 2 : 1, ne, x);
  dq_free(x);
  return rc;
}

static int add_vocab(dq_gw *w, int n_vocab, const char *model)
{
  int rc = DOCQ_ENOMEM;
  const char **tok = dq_calloc((size_t)n_vocab, sizeof *tok);
  float *score = dq_calloc((size_t)n_vocab, sizeof *score);
  int32_t *ttype = dq_calloc((size_t)n_vocab, sizeof *ttype);
  if (!tok || !score || !ttype) goto cleanup;
  for (int i = 0; i < n_vocab; i++) {
    tok[i] = dq_strdup(dq_gw_vocab_token(i, n_vocab));
    if (!tok[i]) goto cleanup;
    int byte_tok = n_vocab >= 259 && i >= 3 && i < 259;
    ttype[i] = i == 0 ? 2 : i < 3 ? 3 : byte_tok ? 6 : 1; /* UNKNOWN, CONTROL, BYTE, NORMAL */
    score[i] = i < 3 || byte_tok ? 0.0f : -0.01f * (float)i;
  }
  if ((rc = dq_gw_add_str(w, "tokenizer.ggml.model", model ? model : "llama")) < 0 ||
      (rc = dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", tok, (size_t)n_vocab)) < 0 ||
      (rc = dq_gw_add_arr(w, "tokenizer.ggml.scores", DQ_GGUF_F32, score, (size_t)n_vocab)) < 0 ||
      (rc = dq_gw_add_arr(w, "tokenizer.ggml.token_type", DQ_GGUF_I32, ttype, (size_t)n_vocab)) < 0 ||
      (rc = dq_gw_add_u32(w, "tokenizer.ggml.bos_token_id", 1)) < 0 ||
      (rc = dq_gw_add_u32(w, "tokenizer.ggml.eos_token_id", 2)) < 0 ||
      (rc = dq_gw_add_u32(w, "tokenizer.ggml.unknown_token_id", 0)) < 0 ||
      (rc = dq_gw_add_bool(w, "tokenizer.ggml.add_bos_token", 1)) < 0 ||
      (rc = dq_gw_add_bool(w, "tokenizer.ggml.add_eos_token", 0)) < 0)
    goto cleanup;
  rc = 0;
cleanup:
  if (tok)
    for (int i = 0; i < n_vocab; i++) dq_free((void *)tok[i]);
  dq_free(tok);
  dq_free(score);
  dq_free(ttype);
  return rc;
}

/* Model families: which tensors and keys beyond llama's. */
enum { GW_LLAMA, GW_QWEN2, GW_QWEN3, GW_GEMMA3, GW_GEMMA2, GW_PHI3 };

/* The head size the model is written with. */
static int64_t head_dim(const dq_gw_model_params *p)
{
  return p->head_dim > 0 ? p->head_dim : p->n_embd / p->n_head;
}

static int add_hparams(dq_gw *w, const dq_gw_model_params *p, int fam)
{
  char k[128];
  const char *a = p->arch;
  int rc = 0;
#define KEY(suffix) (snprintf(k, sizeof k, "%s." suffix, a), k)
  if ((rc = dq_gw_add_str(w, "general.architecture", a)) < 0 || (rc = dq_gw_add_str(w, "general.name", "docq-test-random")) < 0 ||
      (rc = dq_gw_add_u32(w, KEY("context_length"), (uint32_t)p->n_ctx)) < 0 ||
      (rc = dq_gw_add_u32(w, KEY("embedding_length"), (uint32_t)p->n_embd)) < 0 ||
      (rc = dq_gw_add_u32(w, KEY("block_count"), (uint32_t)p->n_layer)) < 0 ||
      (rc = dq_gw_add_u32(w, KEY("feed_forward_length"), (uint32_t)p->n_ff)) < 0 ||
      (rc = dq_gw_add_u32(w, KEY("attention.head_count"), (uint32_t)p->n_head)) < 0 ||
      (rc = dq_gw_add_u32(w, KEY("attention.head_count_kv"), (uint32_t)p->n_head_kv)) < 0 ||
      (rc = dq_gw_add_f32(w, KEY("attention.layer_norm_rms_epsilon"), p->rms_eps > 0 ? p->rms_eps : 1e-6f)) < 0)
    return rc;
  /* Gemma2's converter writes no RoPE key at all (its set_gguf_parameters
   * does not call the base class's, which would write rope_theta): llama.cpp
   * then rotates with base 10000 */
  const float base = p->rope_freq_base > 0 ? p->rope_freq_base : fam != GW_LLAMA && fam != GW_PHI3 ? 1e6f : 10000.0f;
  if ((fam != GW_GEMMA2 || p->rope_freq_base > 0) && (rc = dq_gw_add_f32(w, KEY("rope.freq_base"), base)) < 0) return rc;
  /* Gemma's converters write no rope.dimension_count (llama.cpp: the head
   * size) but always the head size (its default being 256, not n_embd/n_head) */
  const int gemma = fam == GW_GEMMA3 || fam == GW_GEMMA2;
  if (!gemma && (rc = dq_gw_add_u32(w, KEY("rope.dimension_count"), (uint32_t)(p->n_rot > 0 ? p->n_rot : head_dim(p)))) < 0)
    return rc;
  if ((p->head_dim > 0 || gemma) &&
      ((rc = dq_gw_add_u32(w, KEY("attention.key_length"), (uint32_t)head_dim(p))) < 0 ||
       (rc = dq_gw_add_u32(w, KEY("attention.value_length"), (uint32_t)head_dim(p))) < 0))
    return rc;
  if (fam == GW_GEMMA2) {
    /* what Gemma2Model copies from config.json (2B/9B/27B all have 50, 30 and
     * 4096); a negative value leaves the key out, to test llama.cpp's defaults */
    const float ac = p->attn_softcap == 0 ? 50.0f : p->attn_softcap;
    const float fc = p->final_softcap == 0 ? 30.0f : p->final_softcap;
    const int swa = p->sliding_window == 0 ? 4096 : p->sliding_window;
    if ((ac > 0 && (rc = dq_gw_add_f32(w, KEY("attn_logit_softcapping"), ac)) < 0) ||
        (fc > 0 && (rc = dq_gw_add_f32(w, KEY("final_logit_softcapping"), fc)) < 0) ||
        (swa > 0 && (rc = dq_gw_add_u32(w, KEY("attention.sliding_window"), (uint32_t)swa)) < 0))
      return rc;
  } else {
    if (fam == GW_GEMMA3 && p->final_softcap > 0 &&
        (rc = dq_gw_add_f32(w, KEY("final_logit_softcapping"), p->final_softcap)) < 0)
      return rc;
    if (p->sliding_window > 0 && (rc = dq_gw_add_u32(w, KEY("attention.sliding_window"), (uint32_t)p->sliding_window)) < 0)
      return rc;
  }
  if (p->rope_scaling_type) {
    if ((rc = dq_gw_add_str(w, KEY("rope.scaling.type"), p->rope_scaling_type)) < 0 ||
        (rc = dq_gw_add_f32(w, KEY("rope.scaling.factor"), p->rope_scaling_factor)) < 0)
      return rc;
    if (p->rope_orig_ctx > 0 && (rc = dq_gw_add_u32(w, KEY("rope.scaling.original_context_length"), (uint32_t)p->rope_orig_ctx)) < 0)
      return rc;
  } else if (fam == GW_PHI3 &&
             (rc = dq_gw_add_u32(w, KEY("rope.scaling.original_context_length"),
                                 (uint32_t)(p->rope_orig_ctx > 0 ? p->rope_orig_ctx : p->n_ctx))) < 0) {
    return rc;
  }
  if (p->rope_attn_factor > 0 && (rc = dq_gw_add_f32(w, KEY("rope.scaling.attn_factor"), p->rope_attn_factor)) < 0) return rc;
#undef KEY
  if ((rc = dq_gw_add_u32(w, "general.quantization_version", 2)) < 0) return rc;
  return 0;
}

static int add_layer(dq_gw *w, uint64_t *rng, const dq_gw_model_params *p, int il, int fam)
{
  char nm[96];
  const int64_t E = p->n_embd, hd = head_dim(p), Q = hd * p->n_head, kv = hd * p->n_head_kv, F = p->n_ff;
  const int bias = fam == GW_QWEN2, qk_norm = fam == GW_QWEN3 || fam == GW_GEMMA3,
            post_norm = fam == GW_GEMMA3 || fam == GW_GEMMA2;
  const float s = p->weight_std > 0 ? p->weight_std : 0.02f;
  const int wt = p->weight_type;
  int rc = 0;
#define NM(x) (snprintf(nm, sizeof nm, "blk.%d." x, il), nm)
  /* shapes as llama.cpp: {n_in, n_out} with n_in = ne[0] */
  if (fam == GW_PHI3) {
    /* llama's draws in llama's order, q/k/v and gate/up each in one tensor */
    if ((rc = add_random(w, rng, NM("attn_norm.weight"), DQ_T_F32, E, 1, 1.0f, 0.1f)) < 0 ||
        (rc = add_random(w, rng, NM("attn_qkv.weight"), wt, E, Q + 2 * kv, 0, s)) < 0 || /* q, k, v rows */
        (rc = add_random(w, rng, NM("attn_output.weight"), wt, Q, E, 0, s)) < 0 ||
        (rc = add_random(w, rng, NM("ffn_norm.weight"), DQ_T_F32, E, 1, 1.0f, 0.1f)) < 0 ||
        (rc = add_random(w, rng, NM("ffn_up.weight"), wt, E, 2 * F, 0, s)) < 0 || /* gate rows, then up rows */
        (rc = add_random(w, rng, NM("ffn_down.weight"), wt, F, E, 0, s)) < 0)
      return rc;
    return 0;
  }
  if ((rc = add_random(w, rng, NM("attn_norm.weight"), DQ_T_F32, E, 1, 1.0f, 0.1f)) < 0 ||
      (rc = add_random(w, rng, NM("attn_q.weight"), wt, E, Q, 0, s)) < 0 ||       /* (n_embd, n_head*hd) */
      (rc = add_random(w, rng, NM("attn_k.weight"), wt, E, kv, 0, s)) < 0 ||      /* (n_embd, n_head_kv*hd) */
      (rc = add_random(w, rng, NM("attn_v.weight"), wt, E, kv, 0, s)) < 0)
    return rc;
  if (bias && ((rc = add_random(w, rng, NM("attn_q.bias"), DQ_T_F32, Q, 1, 0, s)) < 0 ||
               (rc = add_random(w, rng, NM("attn_k.bias"), DQ_T_F32, kv, 1, 0, s)) < 0 ||
               (rc = add_random(w, rng, NM("attn_v.bias"), DQ_T_F32, kv, 1, 0, s)) < 0))
    return rc;
  /* spread around 1 as in trained Qwen3 files, so that a missing norm shows
   * (Gemma3's converter stores 1 + w, so its norms are around 1 too) */
  if (qk_norm && ((rc = add_random(w, rng, NM("attn_q_norm.weight"), DQ_T_F32, hd, 1, 1.0f, 0.5f)) < 0 ||
                  (rc = add_random(w, rng, NM("attn_k_norm.weight"), DQ_T_F32, hd, 1, 1.0f, 0.5f)) < 0))
    return rc;
  if ((rc = add_random(w, rng, NM("attn_output.weight"), wt, Q, E, 0, s)) < 0) return rc;
  /* gemma2/3: RMSNorm of the attention output before the residual add */
  if (post_norm && (rc = add_random(w, rng, NM("post_attention_norm.weight"), DQ_T_F32, E, 1, 1.0f, 0.1f)) < 0) return rc;
  if ((rc = add_random(w, rng, NM("ffn_norm.weight"), DQ_T_F32, E, 1, 1.0f, 0.1f)) < 0 ||
      (rc = add_random(w, rng, NM("ffn_gate.weight"), wt, E, F, 0, s)) < 0 ||     /* (n_embd, n_ff) */
      (rc = add_random(w, rng, NM("ffn_up.weight"), wt, E, F, 0, s)) < 0 ||
      (rc = add_random(w, rng, NM("ffn_down.weight"), wt, F, E, 0, s)) < 0)       /* (n_ff, n_embd) */
    return rc;
  /* gemma2/3: and of the FFN output */
  if (post_norm && (rc = add_random(w, rng, NM("post_ffw_norm.weight"), DQ_T_F32, E, 1, 1.0f, 0.1f)) < 0) return rc;
#undef NM
  return 0;
}

/* llama.cpp's LLAMA_FTYPE_MOSTLY_* for a uniform weight type (informative only). */
static uint32_t file_type(int t)
{
  switch (t) {
  case DQ_T_F16: return 1;
  case DQ_T_Q4_0: return 2;
  case DQ_T_Q8_0: return 7;
  case DQ_T_Q4_K: return 15;
  case DQ_T_Q5_K: return 17;
  case DQ_T_Q6_K: return 18;
  case DQ_T_Q2_K: return 10;
  case DQ_T_Q3_K: return 11; /* Q3_K - Small: all Q3_K */
  case DQ_T_IQ4_NL: return 25;
  case DQ_T_IQ4_XS: return 30;
  case DQ_T_BF16: return 32;
  default: return 0;
  }
}

int dq_gw_model(dq_gw **out, const dq_gw_model_params *p)
{
  int rc;
  dq_gw *w = NULL;
  *out = NULL;
  if (!p || !p->arch || p->n_layer < 1 || p->n_embd < 1 || p->n_head < 1 || p->n_head_kv < 1 ||
      (p->head_dim <= 0 && p->n_embd % p->n_head) || p->n_head % p->n_head_kv || p->n_ff < 1 || p->n_vocab < 3 ||
      p->n_ctx < 1 || p->n_rot < 0 || p->n_rot % 2 || p->n_rot > head_dim(p) ||
      (!p->rope_factors_long) != (!p->rope_factors_short))
    return dq_err_set(DOCQ_EINVAL, "gguf writer: bad model parameters");
  const int fam = !strcmp(p->arch, "qwen2")    ? GW_QWEN2
                  : !strcmp(p->arch, "qwen3")  ? GW_QWEN3
                  : !strcmp(p->arch, "gemma3") ? GW_GEMMA3
                  : !strcmp(p->arch, "gemma2") ? GW_GEMMA2
                  : !strcmp(p->arch, "phi3")   ? GW_PHI3
                                               : GW_LLAMA;
  if (fam == GW_LLAMA && strcmp(p->arch, "llama") && strcmp(p->arch, "smollm3")) /* smollm3: llama's tensors */
    return dq_err_set(DOCQ_EUNSUPPORTED, "gguf writer: arch '%s' (llama, qwen2, qwen3, smollm3, phi3, gemma2, gemma3)", p->arch);
  uint64_t rng = p->seed;
  const float s = p->weight_std > 0 ? p->weight_std : 0.02f;
  const int et = p->embd_type >= 0 ? p->embd_type : p->weight_type;
  const int ot = p->output_type >= 0 ? p->output_type : p->weight_type;
  if (!(w = dq_gw_new())) return DOCQ_ENOMEM;
  if ((rc = add_hparams(w, p, fam)) < 0 || (rc = add_vocab(w, p->n_vocab, p->tokenizer_model)) < 0) goto cleanup;
  /* Gemma's converters, after their SentencePiece vocabulary */
  if ((fam == GW_GEMMA3 || fam == GW_GEMMA2) && (rc = dq_gw_add_bool(w, "tokenizer.ggml.add_space_prefix", 0)) < 0) goto cleanup;
  if ((rc = dq_gw_add_u32(w, "general.file_type", file_type(p->weight_type))) < 0) goto cleanup;
  if (p->rope_factors_long) {
    const int64_t ne[1] = {(p->n_rot > 0 ? p->n_rot : head_dim(p)) / 2};
    if ((rc = dq_gw_add_tensor(w, "rope_factors_long.weight", DQ_T_F32, 1, ne, p->rope_factors_long)) < 0 ||
        (rc = dq_gw_add_tensor(w, "rope_factors_short.weight", DQ_T_F32, 1, ne, p->rope_factors_short)) < 0)
      goto cleanup;
  }
  /* Embeddings have a wider spread than layer weights so logits vary. */
  if ((rc = add_random(w, &rng, "token_embd.weight", et, p->n_embd, p->n_vocab, 0, p->embd_std > 0 ? p->embd_std : 1.0f)) < 0)
    goto cleanup; /* (n_embd, n_vocab) */
  for (int il = 0; il < p->n_layer; il++)
    if ((rc = add_layer(w, &rng, p, il, fam)) < 0) goto cleanup;
  if ((rc = add_random(w, &rng, "output_norm.weight", DQ_T_F32, p->n_embd, 1, 1.0f, 0.1f)) < 0) goto cleanup;
  /* Gemma 2's converter drops lm_head: the output is always token_embd */
  if (!p->tied_embeddings && fam != GW_GEMMA2 && (rc = add_random(w, &rng, "output.weight", ot, p->n_embd, p->n_vocab, 0, s * 4)) < 0) goto cleanup;
cleanup:
  if (rc < 0) dq_gw_free(w);
  else *out = w;
  return rc;
}

int dq_gw_write_model(const dq_gw_model_params *p, const char *path)
{
  dq_gw *w;
  int rc = dq_gw_model(&w, p);
  if (rc < 0) return rc;
  rc = dq_gw_write_file(w, path);
  dq_gw_free(w);
  return rc;
}
