/* Tests for the GGUF BERT-family embedder (src/embed/bert.c, bert_embed.c).
 *
 * Against outside references (need $DOCQ_SHARED_DIR; without it the other
 * tests still run and the program then exits 77 so ctest shows the skip):
 *   - tiny-bert-{f32,f16}.gguf vectors vs llama.cpp's (models/tiny-bert.reference.txt): cosine > 0.999;
 *   - token ids fed to the model vs llama.cpp's WordPiece ids for every test
 *     string of vocab/ggml-vocab-bert-bge.gguf.{inp,out} (same vocabulary), wrapped in [CLS] ... [SEP].
 * Against a naive double-precision forward pass written here from the
 * architecture description (loops, no batching, no BLAS), on random-weight
 * models this file writes: bert (mean / CLS / last pooling), nomic-bert
 * (combined QKV, NEOX RoPE, SwiGLU), and quantized weights (F16, Q8_0, Q4_K).
 * Behaviour: batch == one by one (packed sequences of different lengths),
 * empty text -> zero row, windows and truncation for long inputs (with the
 * warning logged), prefixes per family and their override, the id, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed/bert.h"
#include "engine/tokenizer.h"
#include "support/gguf_writer.h"
#include "util/err.h"
#include "util/mem.h"

static const char *shared_dir(void)
{
  const char *d = getenv("DOCQ_SHARED_DIR");
  if (!d || !*d) return NULL;
  char p[4096];
  snprintf(p, sizeof p, "%s/models/tiny-bert-f32.gguf", d);
  return access(p, R_OK) == 0 ? d : NULL;
}

static double cosine(const float *a, const float *b, int n)
{
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
  return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* ===== a random-weight encoder, kept in memory for the naive forward ===== */

static const char *const g_words[] = {
  "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "a", "hello", "world",
  "query", ":", "passage", "search", "_", "document", ".", ",", "!", "?", "fox", "jumps", "over", "lazy", "brown",
  "quick", "##s", "##ing", "##ed", "docq", "index", "long", "text",
};
#define N_WORDS (sizeof g_words / sizeof g_words[0])

typedef struct tmodel {
  int nomic, n_layer, d, n_head, ff, n_ctx, n_vocab, pooling, wtype;
  float *tok, *pos, *types, *eln_w, *eln_b; /* (V,d) (ctx,d) (2,d) (d) (d) */
  struct tlayer {
    float *wq, *wk, *wv, *bq, *bk, *bv, *wqkv; /* (d,d) x3, (d) x3, (3d,d) */
    float *wo, *bo, *l1w, *l1b, *up, *bup, *gate, *down, *bdown, *l2w, *l2b;
  } *L;
  char vocab[512][16];
  float rope_base;
} tmodel;

static uint64_t g_rng;
static float frand(float a) /* uniform in [-a, a] */
{
  g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
  return a * (2.0f * (float)((g_rng >> 40) & 0xffffff) / 16777216.0f - 1.0f);
}
static float *rnd(size_t n, float a, float center)
{
  float *p = malloc(n * sizeof *p);
  for (size_t i = 0; i < n; i++) p[i] = center + frand(a);
  return p;
}

static void tm_free(tmodel *m)
{
  free(m->tok); free(m->pos); free(m->types); free(m->eln_w); free(m->eln_b);
  for (int l = 0; m->L && l < m->n_layer; l++) {
    struct tlayer *y = &m->L[l];
    float *ps[] = { y->wq, y->wk, y->wv, y->bq, y->bk, y->bv, y->wqkv, y->wo, y->bo, y->l1w, y->l1b, y->up, y->bup,
                    y->gate, y->down, y->bdown, y->l2w, y->l2b };
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
  }
  free(m->L);
  memset(m, 0, sizeof *m);
}

/* Flags for broken files. */
enum { TM_OK = 0, TM_NO_FFN_DOWN = 1, TM_CAUSAL = 2, TM_NO_NAME = 4 };

static void tm_init(tmodel *m, int nomic, int d, int n_head, int ff, int n_layer, int n_ctx, int pooling, int wtype,
                    uint64_t seed)
{
  memset(m, 0, sizeof *m);
  g_rng = seed * 0x9E3779B97F4A7C15ull + 1;
  m->nomic = nomic; m->d = d; m->n_head = n_head; m->ff = ff; m->n_layer = n_layer; m->n_ctx = n_ctx;
  m->pooling = pooling; m->wtype = wtype; m->rope_base = 1000.0f;
  /* stored as llama.cpp's converter writes WordPiece vocabularies: a word
   * start as "\u2581word", a continuation "##xy" as "xy" */
  int v = 0;
  for (size_t i = 0; i < N_WORDS; i++) {
    const char *w = g_words[i];
    if (w[0] == '[') snprintf(m->vocab[v++], 16, "%s", w);
    else if (!strncmp(w, "##", 2)) snprintf(m->vocab[v++], 16, "%s", w + 2);
    else snprintf(m->vocab[v++], 16, "\xe2\x96\x81%s", w);
  }
  for (char c = 'b'; c <= 'z'; c++) snprintf(m->vocab[v++], 16, "\xe2\x96\x81%c", c);
  for (char c = 'a'; c <= 'z'; c++)
    if (c != 's') snprintf(m->vocab[v++], 16, "%c", c);
  m->n_vocab = v;
  size_t D = (size_t)d;
  float ws = 1.0f / sqrtf((float)d) * 1.5f;
  m->tok = rnd((size_t)v * D, 1.0f, 0); m->pos = rnd((size_t)n_ctx * D, 0.3f, 0); m->types = rnd(2 * D, 0.3f, 0);
  m->eln_w = rnd(D, 0.2f, 1.0f); m->eln_b = rnd(D, 0.1f, 0);
  m->L = calloc((size_t)n_layer, sizeof *m->L);
  for (int l = 0; l < n_layer; l++) {
    struct tlayer *y = &m->L[l];
    if (nomic) {
      y->wqkv = rnd(3 * D * D, ws, 0);
      y->gate = rnd((size_t)ff * D, ws, 0);
    } else {
      y->wq = rnd(D * D, ws, 0); y->wk = rnd(D * D, ws, 0); y->wv = rnd(D * D, ws, 0);
      y->bq = rnd(D, 0.1f, 0); y->bk = rnd(D, 0.1f, 0); y->bv = rnd(D, 0.1f, 0);
      y->bo = rnd(D, 0.1f, 0); y->bup = rnd((size_t)ff, 0.1f, 0); y->bdown = rnd(D, 0.1f, 0);
    }
    y->wo = rnd(D * D, ws, 0);
    y->up = rnd((size_t)ff * D, ws, 0);
    y->down = rnd(D * (size_t)ff, 1.0f / sqrtf((float)ff) * 1.5f, 0);
    y->l1w = rnd(D, 0.2f, 1.0f); y->l1b = rnd(D, 0.1f, 0); y->l2w = rnd(D, 0.2f, 1.0f); y->l2b = rnd(D, 0.1f, 0);
  }
}

static void add_t(dq_gw *w, const char *name, int type, int64_t n0, int64_t n1, const float *x)
{
  int64_t ne[2] = { n0, n1 };
  if (x) assert_int_equal(dq_gw_add_tensor_f32(w, name, type, n1 > 1 ? 2 : 1, ne, x), 0);
}

static void tm_write(const tmodel *m, const char *path, const char *name, int flags)
{
  const char *arch = m->nomic ? "nomic-bert" : "bert";
  char k[128];
  dq_gw *w = dq_gw_new();
  assert_non_null(w);
  dq_gw_add_str(w, "general.architecture", arch);
  if (!(flags & TM_NO_NAME)) dq_gw_add_str(w, "general.name", name);
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", arch, s), k)
  dq_gw_add_u32(w, KEY("context_length"), (uint32_t)m->n_ctx);
  dq_gw_add_u32(w, KEY("embedding_length"), (uint32_t)m->d);
  dq_gw_add_u32(w, KEY("block_count"), (uint32_t)m->n_layer);
  dq_gw_add_u32(w, KEY("feed_forward_length"), (uint32_t)m->ff);
  dq_gw_add_u32(w, KEY("attention.head_count"), (uint32_t)m->n_head);
  dq_gw_add_f32(w, KEY("attention.layer_norm_epsilon"), 1e-12f);
  dq_gw_add_bool(w, KEY("attention.causal"), (flags & TM_CAUSAL) != 0);
  dq_gw_add_u32(w, KEY("pooling_type"), (uint32_t)m->pooling);
  if (m->nomic) dq_gw_add_f32(w, KEY("rope.freq_base"), m->rope_base);
#undef KEY
  const char *toks[512];
  int32_t types[512];
  for (int i = 0; i < m->n_vocab; i++) { toks[i] = m->vocab[i]; types[i] = i < 5 ? 3 : 1; }
  dq_gw_add_str(w, "tokenizer.ggml.model", "bert");
  dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, (size_t)m->n_vocab);
  dq_gw_add_arr(w, "tokenizer.ggml.token_type", DQ_GGUF_I32, types, (size_t)m->n_vocab);
  dq_gw_add_u32(w, "tokenizer.ggml.unknown_token_id", 1);
  dq_gw_add_u32(w, "tokenizer.ggml.seperator_token_id", 3);
  dq_gw_add_u32(w, "tokenizer.ggml.padding_token_id", 0);
  dq_gw_add_u32(w, "tokenizer.ggml.cls_token_id", 2);
  dq_gw_add_u32(w, "tokenizer.ggml.mask_token_id", 4);
  int64_t d = m->d, ff = m->ff;
  add_t(w, "token_embd.weight", m->wtype == DQ_T_F32 ? DQ_T_F32 : DQ_T_F16, d, m->n_vocab, m->tok);
  add_t(w, "token_types.weight", DQ_T_F32, d, 2, m->types);
  if (!m->nomic) add_t(w, "position_embd.weight", DQ_T_F32, d, m->n_ctx, m->pos);
  add_t(w, "token_embd_norm.weight", DQ_T_F32, d, 1, m->eln_w);
  add_t(w, "token_embd_norm.bias", DQ_T_F32, d, 1, m->eln_b);
  for (int l = 0; l < m->n_layer; l++) {
    const struct tlayer *y = &m->L[l];
    char n[64];
#define T(s, type, a, b, x) (snprintf(n, sizeof n, "blk.%d.%s", l, s), add_t(w, n, type, a, b, x))
    T("attn_qkv.weight", m->wtype, d, 3 * d, y->wqkv);
    T("attn_q.weight", m->wtype, d, d, y->wq); T("attn_q.bias", DQ_T_F32, d, 1, y->bq);
    T("attn_k.weight", m->wtype, d, d, y->wk); T("attn_k.bias", DQ_T_F32, d, 1, y->bk);
    T("attn_v.weight", m->wtype, d, d, y->wv); T("attn_v.bias", DQ_T_F32, d, 1, y->bv);
    T("attn_output.weight", m->wtype, d, d, y->wo); T("attn_output.bias", DQ_T_F32, d, 1, y->bo);
    T("attn_output_norm.weight", DQ_T_F32, d, 1, y->l1w); T("attn_output_norm.bias", DQ_T_F32, d, 1, y->l1b);
    T("ffn_up.weight", m->wtype, d, ff, y->up); T("ffn_up.bias", DQ_T_F32, ff, 1, y->bup);
    T("ffn_gate.weight", m->wtype, d, ff, y->gate);
    if (!(flags & TM_NO_FFN_DOWN) || l == 0) T("ffn_down.weight", m->wtype, ff, d, y->down);
    T("ffn_down.bias", DQ_T_F32, d, 1, y->bdown);
    T("layer_output_norm.weight", DQ_T_F32, d, 1, y->l2w); T("layer_output_norm.bias", DQ_T_F32, d, 1, y->l2b);
#undef T
  }
  assert_int_equal(dq_gw_write_file(w, path), 0);
  dq_gw_free(w);
}

/* ===== naive forward pass (double precision, straight from the description) ===== */

static void lin(const float *W, const float *b, const double *x, int n_in, int n_out, double *y)
{
  for (int o = 0; o < n_out; o++) {
    double s = b ? b[o] : 0.0;
    for (int i = 0; i < n_in; i++) s += (double)W[(size_t)o * n_in + i] * x[i];
    y[o] = s;
  }
}

static void ln(double *x, const float *w, const float *b, int n)
{
  double mu = 0, var = 0;
  for (int i = 0; i < n; i++) mu += x[i];
  mu /= n;
  for (int i = 0; i < n; i++) var += (x[i] - mu) * (x[i] - mu);
  var /= n;
  for (int i = 0; i < n; i++) x[i] = (x[i] - mu) / sqrt(var + 1e-12) * w[i] + b[i];
}

static void rope(double *v, int p, int dh, double base) /* NEOX: pairs (i, i + dh/2) */
{
  for (int i = 0; i < dh / 2; i++) {
    double th = p * pow(base, -2.0 * i / dh), x0 = v[i], x1 = v[i + dh / 2];
    v[i] = x0 * cos(th) - x1 * sin(th);
    v[i + dh / 2] = x0 * sin(th) + x1 * cos(th);
  }
}

static void naive_embed(const tmodel *m, const int32_t *ids, int L, float *out)
{
  int d = m->d, ff = m->ff, nh = m->n_head, dh = d / nh;
  double *x = calloc((size_t)L * d, sizeof *x), *q = calloc((size_t)L * d, sizeof *q);
  double *k = calloc((size_t)L * d, sizeof *k), *v = calloc((size_t)L * d, sizeof *v);
  double *a = calloc((size_t)L * d, sizeof *a), *t = calloc((size_t)3 * d + ff * 2, sizeof *t);
  double *s = calloc((size_t)L, sizeof *s);
  for (int p = 0; p < L; p++) {
    for (int i = 0; i < d; i++)
      x[p * d + i] = (double)m->tok[(size_t)ids[p] * d + i] + m->types[i] + (m->nomic ? 0.0 : m->pos[(size_t)p * d + i]);
    ln(x + p * d, m->eln_w, m->eln_b, d);
  }
  for (int l = 0; l < m->n_layer; l++) {
    const struct tlayer *y = &m->L[l];
    for (int p = 0; p < L; p++) {
      if (m->nomic) {
        lin(y->wqkv, NULL, x + p * d, d, 3 * d, t);
        memcpy(q + p * d, t, d * sizeof *t); memcpy(k + p * d, t + d, d * sizeof *t); memcpy(v + p * d, t + 2 * d, d * sizeof *t);
        for (int h = 0; h < nh; h++) { rope(q + p * d + h * dh, p, dh, m->rope_base); rope(k + p * d + h * dh, p, dh, m->rope_base); }
      } else {
        lin(y->wq, y->bq, x + p * d, d, d, q + p * d);
        lin(y->wk, y->bk, x + p * d, d, d, k + p * d);
        lin(y->wv, y->bv, x + p * d, d, d, v + p * d);
      }
    }
    for (int h = 0; h < nh; h++)
      for (int p = 0; p < L; p++) {
        double mx = -1e300, sum = 0;
        for (int r = 0; r < L; r++) {
          double dot = 0;
          for (int j = 0; j < dh; j++) dot += q[p * d + h * dh + j] * k[r * d + h * dh + j];
          s[r] = dot / sqrt((double)dh);
          mx = s[r] > mx ? s[r] : mx;
        }
        for (int r = 0; r < L; r++) { s[r] = exp(s[r] - mx); sum += s[r]; }
        for (int j = 0; j < dh; j++) {
          double o = 0;
          for (int r = 0; r < L; r++) o += s[r] / sum * v[r * d + h * dh + j];
          a[p * d + h * dh + j] = o;
        }
      }
    for (int p = 0; p < L; p++) {
      double *xp = x + p * d, *u = t, *g = t + ff, *o = t + 2 * ff;
      lin(y->wo, y->bo, a + p * d, d, d, o);
      for (int i = 0; i < d; i++) xp[i] += o[i];
      ln(xp, y->l1w, y->l1b, d);
      lin(y->up, y->bup, xp, d, ff, u);
      if (m->nomic) {
        lin(y->gate, NULL, xp, d, ff, g);
        for (int i = 0; i < ff; i++) u[i] *= g[i] / (1.0 + exp(-g[i]));
      } else {
        for (int i = 0; i < ff; i++) u[i] = 0.5 * u[i] * (1.0 + tanh(sqrt(2.0 / M_PI) * (u[i] + 0.044715 * pow(u[i], 3))));
      }
      lin(y->down, y->bdown, u, ff, d, o);
      for (int i = 0; i < d; i++) xp[i] += o[i];
      ln(xp, y->l2w, y->l2b, d);
    }
  }
  double nrm = 0;
  for (int i = 0; i < d; i++) {
    double o = 0;
    if (m->pooling == DQ_BERT_POOL_CLS) o = x[i];
    else if (m->pooling == DQ_BERT_POOL_LAST) o = x[(L - 1) * d + i];
    else { for (int p = 0; p < L; p++) o += x[p * d + i]; o /= L; }
    out[i] = (float)o;
    nrm += o * o;
  }
  for (int i = 0; i < d; i++) out[i] = (float)(out[i] / sqrt(nrm));
  free(x); free(q); free(k); free(v); free(a); free(t); free(s);
}

static char g_tmp[64];
static const char *tmp_path(void)
{
  snprintf(g_tmp, sizeof g_tmp, "/tmp/docq-test-bert-XXXXXX");
  int fd = mkstemp(g_tmp);
  assert_true(fd >= 0);
  close(fd);
  return g_tmp;
}

/* Embed `text` with a model written from m and compare with the naive pass. */
static double naive_vs_embedder(const tmodel *m, const char *name, const char *text)
{
  char path[64];
  snprintf(path, sizeof path, "%s", tmp_path());
  tm_write(m, path, name, TM_OK);
  dq_embedder *e = NULL;
  assert_int_equal(dq_embedder_gguf(&e, path, 2), 0);
  int32_t *ids = NULL;
  size_t n = 0;
  assert_int_equal(dq_embedder_gguf_tokens(e, text, strlen(text), 0, &ids, &n), 0);
  assert_true(n >= 3);
  float *a = malloc((size_t)m->d * sizeof *a), *b = malloc((size_t)m->d * sizeof *b);
  naive_embed(m, ids, (int)n, a);
  assert_int_equal(dq_embed(e, &text, NULL, 1, 0, b), 0);
  double c = cosine(a, b, m->d);
  free(a); free(b); dq_free(ids);
  dq_embedder_free(e);
  unlink(path);
  return c;
}

static const char *g_text = "The quick brown fox jumps over the lazy dog. Hello, world! docq indexes long text";

static void test_embed_bert__matches_naive_bert(void **state)
{
  (void)state;
  static const int pools[] = { DQ_BERT_POOL_MEAN, DQ_BERT_POOL_CLS, DQ_BERT_POOL_LAST, DQ_BERT_POOL_NONE };
  for (int i = 0; i < 4; i++) {
    tmodel m;
    tm_init(&m, 0, 64, 4, 128, 2, 64, pools[i], DQ_T_F32, 11 + i);
    double c = naive_vs_embedder(&m, "test-bert", g_text);
    tm_free(&m);
    if (c < 0.9999) fail_msg("pooling %d: cosine %.6f to the naive forward pass", pools[i], c);
  }
}

static void test_embed_bert__matches_naive_nomic(void **state)
{
  (void)state;
  tmodel m;
  tm_init(&m, 1, 64, 4, 96, 2, 64, DQ_BERT_POOL_MEAN, DQ_T_F32, 21);
  double c = naive_vs_embedder(&m, "test-nomic", g_text);
  tm_free(&m);
  if (c < 0.9999) fail_msg("nomic-bert: cosine %.6f to the naive forward pass", c);
}

static void test_embed_bert__quantized_weights(void **state)
{
  (void)state;
  /* K-quants need rows of 256: d = 256, ffn 512 */
  static const int types[] = { DQ_T_F16, DQ_T_Q8_0, DQ_T_Q4_K, DQ_T_Q6_K };
  static const double min_cos[] = { 0.9999, 0.999, 0.98, 0.995 };
  for (int i = 0; i < 4; i++) {
    tmodel m;
    tm_init(&m, i % 2, 256, 4, 512, 2, 32, DQ_BERT_POOL_MEAN, types[i], 31);
    double c = naive_vs_embedder(&m, "test-quant", g_text);
    tm_free(&m);
    if (c < min_cos[i]) fail_msg("weights %s: cosine %.6f to the f32 naive pass", dq_type_info_get(types[i])->name, c);
  }
}

/* ===== behaviour on a small model ===== */

static tmodel g_m;
static char g_path[64];
static dq_embedder *g_e;

static int setup(void **state)
{
  (void)state;
  tm_init(&g_m, 0, 64, 4, 128, 2, 16, DQ_BERT_POOL_MEAN, DQ_T_F32, 5);
  snprintf(g_path, sizeof g_path, "%s", tmp_path());
  tm_write(&g_m, g_path, "test-small", TM_OK);
  return dq_embedder_gguf(&g_e, g_path, 2);
}

static int teardown(void **state)
{
  (void)state;
  dq_embedder_free(g_e);
  unlink(g_path);
  tm_free(&g_m);
  return 0;
}

static void test_embed_bert__batch_equals_single(void **state)
{
  (void)state;
  static const char *const base[] = { "hello", "the cat sat on the mat.", "", "a dog!",
                                      "quick brown fox jumps over the lazy dog", "docq",
                                      "search the document, then the passage" };
  /* 5 rounds of 7: over 128 tokens in one call, so the batch takes the
   * token-split products while each single text takes the row-split ones */
  const char *texts[35];
  char buf[35][96];
  size_t n = 35;
  for (size_t i = 0; i < n; i++) {
    const char *b = base[i % 7];
    snprintf(buf[i], sizeof buf[i], "%s%s%s", b, *b && i >= 7 ? " " : "", *b ? (const char *[]){ "", "cat", "the dog", "long text", "over" }[i / 7] : "");
    texts[i] = buf[i];
  }
  unsigned d = g_e->dim;
  float *all = malloc(n * d * sizeof *all), *one = malloc(d * sizeof *one);
  assert_int_equal(dq_embed(g_e, texts, NULL, n, 0, all), 0);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(dq_embed(g_e, &texts[i], NULL, 1, 0, one), 0);
    double nrm = 0;
    for (unsigned j = 0; j < d; j++) {
      assert_true(fabsf(all[i * d + j] - one[j]) < 1e-5f);
      nrm += (double)one[j] * one[j];
    }
    if (*texts[i]) assert_true(fabs(nrm - 1.0) < 1e-5);
    else assert_true(nrm == 0.0); /* no tokens: zero row */
  }
  /* different texts differ; lens are honoured */
  assert_true(cosine(all, all + d, (int)d) < 0.999);
  size_t len = 5;
  const char *t = "hello world";
  assert_int_equal(dq_embed(g_e, &t, &len, 1, 0, one), 0);
  assert_true(cosine(one, all, (int)d) > 0.99999);
  free(all); free(one);
}

/* The owner's interrupt flag stops an embedding between batches with
 * DOCQ_ECANCELED and a zero output; cleared, the same call embeds as before. */
static void test_embed_bert__interrupt_flag(void **state)
{
  (void)state;
  const char *texts[] = { "hello", "the cat sat on the mat." };
  unsigned d = g_e->dim;
  float *a = malloc(2 * d * sizeof *a), *b = malloc(2 * d * sizeof *b);
  assert_int_equal(dq_embed(g_e, texts, NULL, 2, 0, a), 0);
  atomic_int flag = 1;
  g_e->interrupt = &flag;
  for (unsigned j = 0; j < 2 * d; j++) b[j] = 1.0f;
  assert_int_equal(dq_embed(g_e, texts, NULL, 2, 0, b), DOCQ_ECANCELED);
  for (unsigned j = 0; j < 2 * d; j++) assert_true(b[j] == 0.0f);
  flag = 0;
  assert_int_equal(dq_embed(g_e, texts, NULL, 2, 0, b), 0);
  assert_memory_equal(a, b, 2 * d * sizeof *a);
  g_e->interrupt = NULL;
  free(a); free(b);
}

static char g_log[4096];
static void on_log(int level, const char *msg, void *payload)
{
  (void)payload;
  if (level == DOCQ_LOG_WARN) snprintf(g_log + strlen(g_log), sizeof g_log - strlen(g_log), "%s\n", msg);
}

/* A text of 40 tokens in a 16-token model: 3 balanced windows of 14/13/13
 * text tokens; the result must be the token-weighted mean of the windows'
 * mean-pooled vectors, computed here with dq_bert_encode directly. */
static void test_embed_bert__long_input_windows(void **state)
{
  (void)state;
  char text[512] = "";
  for (int i = 0; i < 40; i++) strcat(text, i % 2 ? "cat " : "dog ");
  unsigned d = g_e->dim;
  float *v = malloc(d * sizeof *v), *w3 = malloc(3 * d * sizeof *w3), *ref = calloc(d, sizeof *ref);
  g_log[0] = 0;
  docq_set_log(on_log, DOCQ_LOG_WARN, NULL);
  const char *t = text;
  assert_int_equal(dq_embed(g_e, &t, NULL, 1, 0, v), 0);
  assert_non_null(strstr(g_log, "40 tokens"));
  assert_non_null(strstr(g_log, "averaging 3 windows"));

  dq_gguf *g;
  dq_bert *m;
  dq_bert_ws *ws;
  assert_int_equal(dq_gguf_open(&g, g_path), 0);
  assert_int_equal(dq_bert_load(&m, g), 0);
  assert_int_equal(dq_bert_ws_new(&ws, m, 64, 16, 1), 0);
  int32_t ids[64];
  int lens[3] = { 15, 15, 16 }, k = 0; /* windows of 13, 13, 14 tokens + CLS/SEP */
  int32_t cat = 6, dog = 10;
  for (int w = 0, tok = 0; w < 3; w++) {
    ids[k++] = 2;
    for (int j = 0; j < lens[w] - 2; j++, tok++) ids[k++] = tok % 2 ? cat : dog;
    ids[k++] = 3;
  }
  assert_int_equal(dq_bert_encode(m, ws, NULL, ids, lens, 3, w3), 0);
  double nrm = 0;
  for (unsigned j = 0; j < d; j++) {
    for (int w = 0; w < 3; w++) ref[j] += (float)lens[w] * w3[w * d + j];
    nrm += (double)ref[j] * ref[j];
  }
  for (unsigned j = 0; j < d; j++) ref[j] = (float)(ref[j] / sqrt(nrm));
  assert_true(cosine(ref, v, (int)d) > 0.99999);

  /* truncation: the first window alone, also with a warning */
  g_log[0] = 0;
  assert_int_equal(dq_embedder_gguf_set_long_mode(g_e, DQ_BERT_LONG_TRUNCATE), 0);
  assert_int_equal(dq_embed(g_e, &t, NULL, 1, 0, v), 0);
  assert_non_null(strstr(g_log, "truncated to 14"));
  int one = 16;
  k = 0;
  ids[k++] = 2;
  for (int j = 0; j < 14; j++) ids[k++] = j % 2 ? cat : dog;
  ids[k++] = 3;
  assert_int_equal(dq_bert_encode(m, ws, NULL, ids, &one, 1, ref), 0);
  assert_true(cosine(ref, v, (int)d) > 0.99999);
  assert_int_equal(dq_embedder_gguf_set_long_mode(g_e, DQ_BERT_LONG_WINDOWS), 0);
  docq_set_log(NULL, DOCQ_LOG_WARN, NULL);

  /* encode rejects what it cannot run */
  ids[0] = 100000;
  assert_int_equal(dq_bert_encode(m, ws, NULL, ids, &one, 1, ref), DOCQ_EINVAL);
  int too_long = 17;
  assert_int_equal(dq_bert_encode(m, ws, NULL, ids, &too_long, 1, ref), DOCQ_EINVAL);
  dq_bert_ws_free(ws);
  dq_bert_free(m);
  dq_gguf_close(g);
  free(v); free(w3); free(ref);
}

static void test_embed_bert__prefix_detection(void **state)
{
  (void)state;
  static const struct { const char *name, *q, *p; } cases[] = {
    { "bge-small-en-v1.5", "Represent this sentence for searching relevant passages: ", "" },
    { "Bge Small En v1.5", "Represent this sentence for searching relevant passages: ", "" },
    { "bge-base-en", "Represent this sentence for searching relevant passages: ", "" },
    { "bge-large-zh-v1.5", "\xe4\xb8\xba\xe8\xbf\x99\xe4\xb8\xaa\xe5\x8f\xa5\xe5\xad\x90\xe7\x94\x9f\xe6\x88\x90\xe8\xa1\xa8\xe7\xa4\xba\xe4\xbb\xa5\xe7\x94\xa8\xe4\xba\x8e\xe6\xa3\x80\xe7\xb4\xa2\xe7\x9b\xb8\xe5\x85\xb3\xe6\x96\x87\xe7\xab\xa0\xef\xbc\x9a", "" },
    { "bge-m3", "", "" },
    { "multilingual-e5-small", "query: ", "passage: " },
    { "e5-base-v2", "query: ", "passage: " },
    { "nomic-embed-text-v1.5", "search_query: ", "search_document: " },
    { "mxbai-embed-large-v1", "Represent this sentence for searching relevant passages: ", "" },
    { "all-MiniLM-L6-v2", "", "" },
    { "gte-small", "", "" },
    { "some-e50-model", "", "" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *q, *p;
    dq_bert_default_prefixes(cases[i].name, &q, &p);
    if (strcmp(q, cases[i].q) || strcmp(p, cases[i].p)) fail_msg("%s: got '%s' / '%s'", cases[i].name, q, p);
  }
}

static void test_embed_bert__prefixes_and_id(void **state)
{
  (void)state;
  /* the small model has no family: no prefixes, id = gguf:<name>:<64 hex> */
  assert_string_equal(dq_embedder_gguf_prefix(g_e, 1), "");
  const char *id0 = g_e->id;
  assert_int_equal(strncmp(id0, "gguf:test-small:", 16), 0);
  assert_int_equal(strlen(id0), 16 + 64);
  for (int i = 16; i < 80; i++) assert_non_null(strchr("0123456789abcdef", id0[i]));
  assert_int_equal(g_e->dim, 64);
  char saved[128];
  snprintf(saved, sizeof saved, "%s", id0);

  const char *t = "the cat sat";
  float a[64], b[64];
  assert_int_equal(dq_embed(g_e, &t, NULL, 1, 1, a), 0);
  assert_int_equal(dq_embedder_gguf_set_prefixes(g_e, "search_query: ", "search_document: "), 0);
  assert_string_equal(dq_embedder_gguf_prefix(g_e, 1), "search_query: ");
  assert_string_not_equal(g_e->id, saved); /* marked: other vectors */
  assert_int_equal(strncmp(g_e->id, saved, strlen(saved)), 0);
  int32_t *ids;
  size_t n;
  assert_int_equal(dq_embedder_gguf_tokens(g_e, t, strlen(t), 1, &ids, &n), 0);
  /* [CLS] search _ query : the cat sat [SEP] */
  static const int32_t want[] = { 2, 17, 18, 14, 15, 5, 6, 7, 3 };
  assert_int_equal(n, 9);
  assert_memory_equal(ids, want, sizeof want);
  dq_free(ids);
  assert_int_equal(dq_embed(g_e, &t, NULL, 1, 1, b), 0);
  assert_true(cosine(a, b, 64) < 0.9999);
  assert_int_equal(dq_embed(g_e, &t, NULL, 1, 0, a), 0); /* passage side differs from query side */
  assert_true(cosine(a, b, 64) < 0.9999);
  assert_int_equal(dq_embedder_gguf_set_prefixes(g_e, NULL, NULL), 0);
  assert_string_equal(g_e->id, saved);

  /* a family from the name: e5 prefixes; no general.name: the file name */
  tmodel m;
  tm_init(&m, 0, 32, 2, 64, 1, 16, DQ_BERT_POOL_MEAN, DQ_T_F32, 7);
  char path[96];
  snprintf(path, sizeof path, "%s", tmp_path());
  tm_write(&m, path, "multilingual-e5-small", TM_OK);
  dq_embedder *e;
  assert_int_equal(dq_embedder_gguf(&e, path, 1), 0);
  assert_string_equal(dq_embedder_gguf_prefix(e, 1), "query: ");
  assert_string_equal(dq_embedder_gguf_prefix(e, 0), "passage: ");
  assert_int_equal(strncmp(e->id, "gguf:multilingual-e5-small:", 27), 0);
  char id_e5[128];
  snprintf(id_e5, sizeof id_e5, "%s", e->id + 27);
  dq_embedder_free(e);
  tm_write(&m, path, "", TM_NO_NAME);
  assert_int_equal(dq_embedder_gguf(&e, path, 1), 0);
  char want_id[128];
  const char *base = strrchr(path, '/') + 1;
  snprintf(want_id, sizeof want_id, "gguf:%s:", base);
  assert_int_equal(strncmp(e->id, want_id, strlen(want_id)), 0);
  assert_string_not_equal(e->id + strlen(want_id), id_e5); /* other bytes, other hash */
  dq_embedder_free(e);
  unlink(path);
  tm_free(&m);
}

static void test_embed_bert__errors(void **state)
{
  (void)state;
  tmodel m;
  char path[64];
  dq_embedder *e = (dq_embedder *)1;
  snprintf(path, sizeof path, "%s", tmp_path());
  tm_init(&m, 0, 32, 2, 64, 2, 16, DQ_BERT_POOL_MEAN, DQ_T_F32, 9);
  tm_write(&m, path, "broken", TM_NO_FFN_DOWN);
  assert_int_equal(dq_embedder_gguf(&e, path, 1), DOCQ_ECORRUPT);
  assert_null(e);
  assert_non_null(strstr(dq_err_msg(), "blk.1.ffn_down.weight"));
  tm_write(&m, path, "causal", TM_CAUSAL);
  assert_int_equal(dq_embedder_gguf(&e, path, 1), DOCQ_EUNSUPPORTED);
  tm_free(&m);
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  assert_int_equal(dq_gw_write_model(&p, path), 0);
  assert_int_equal(dq_embedder_gguf(&e, path, 1), DOCQ_EUNSUPPORTED);
  assert_non_null(strstr(dq_err_msg(), "llama"));
  unlink(path);
  assert_int_equal(dq_embedder_gguf(&e, "/nonexistent/model.gguf", 1), DOCQ_ENOTFOUND);
  assert_int_equal(dq_embedder_gguf_set_prefixes(NULL, "", ""), DOCQ_EINVAL);
}

/* Every allocation of load and embed failing in turn: DOCQ_ENOMEM (or
 * success once the failure point is past the end), never a crash or a leak
 * (the sanitizer build checks the latter). */
static void test_embed_bert__allocation_failures(void **state)
{
  (void)state;
  const char *texts[] = { "the cat sat on the mat", "hello world", "" };
  float out[3 * 64];
  int ok = 0;
  for (long k = 0; k < 400 && !ok; k++) {
    dq_embedder *e = NULL;
    dq_mem_fail_after(k);
    int rc = dq_embedder_gguf(&e, g_path, 2);
    if (rc == 0) rc = dq_embed(e, texts, NULL, 3, 1, out);
    dq_mem_fail_after(-1);
    if (rc != 0) assert_int_equal(rc, DOCQ_ENOMEM);
    else ok = 1;
    dq_embedder_free(e);
  }
  assert_true(ok);
}

/* ===== parity with llama.cpp (shared files) ===== */

static void parity(const char *file)
{
  const char *dir = shared_dir();
  if (!dir) skip();
  char path[4096], line[16384];
  snprintf(path, sizeof path, "%s/models/tiny-bert.reference.txt", dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  snprintf(path, sizeof path, "%s/models/%s", dir, file);
  dq_embedder *e;
  assert_int_equal(dq_embedder_gguf(&e, path, 2), 0);
  assert_int_equal(e->dim, 128);
  char sent[8][256];
  float ref[8][128], got[8 * 128];
  int n = 0, want = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "## ", 3)) {
      const char *s = strstr(line, "L2-normalized: ");
      want = strstr(line, file) != NULL && s && n < 8;
      if (want) { snprintf(sent[n], sizeof sent[n], "%s", s + 15); sent[n][strcspn(sent[n], "\n")] = 0; }
    } else if (want && !strncmp(line, "embedding 0:", 12)) {
      char *p = line + 12;
      for (int i = 0; i < 128; i++) ref[n][i] = strtof(p, &p);
      n++;
      want = 0;
    }
  }
  fclose(f);
  assert_int_equal(n, 3);
  const char *texts[8];
  for (int i = 0; i < n; i++) texts[i] = sent[i];
  assert_int_equal(dq_embed(e, texts, NULL, (size_t)n, 0, got), 0); /* all in one batch */
  for (int i = 0; i < n; i++) {
    double c = cosine(got + i * 128, ref[i], 128);
    if (c < 0.999) fail_msg("%s '%s': cosine %.6f to llama.cpp", file, sent[i], c);
  }
  dq_embedder_free(e);
}

static void test_embed_bert__parity_f32(void **state) { (void)state; parity("tiny-bert-f32.gguf"); }
static void test_embed_bert__parity_f16(void **state) { (void)state; parity("tiny-bert-f16.gguf"); }

static char *slurp(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)sz + 1);
  *n = fread(b, 1, (size_t)sz, f);
  b[*n] = 0;
  fclose(f);
  return b;
}

static void test_embed_bert__token_ids_match_llama_cpp(void **state)
{
  (void)state;
  const char *dir = shared_dir();
  if (!dir) skip();
  char path[4096];
  snprintf(path, sizeof path, "%s/models/tiny-bert-f32.gguf", dir);
  dq_embedder *e;
  assert_int_equal(dq_embedder_gguf(&e, path, 1), 0);
  int32_t *ids;
  size_t n;
  const char *hw = "Hello world";
  assert_int_equal(dq_embedder_gguf_tokens(e, hw, strlen(hw), 0, &ids, &n), 0);
  static const int32_t want[] = { 101, 7592, 2088, 102 }; /* bert-base-uncased ids, as llama.cpp gives */
  assert_int_equal(n, 4);
  assert_memory_equal(ids, want, sizeof want);
  dq_free(ids);

  size_t ni, no;
  snprintf(path, sizeof path, "%s/vocab/ggml-vocab-bert-bge.gguf.inp", dir);
  char *inp = slurp(path, &ni);
  snprintf(path, sizeof path, "%s/vocab/ggml-vocab-bert-bge.gguf.out", dir);
  char *out = slurp(path, &no);
  assert_non_null(inp);
  assert_non_null(out);
  const char *sep = "\n__ggml_vocab_test__\n";
  char *s = inp, *o = out;
  int checked = 0;
  while (*s && *o) {
    char *end = strstr(s, sep);
    size_t len = end ? (size_t)(end - s) : strlen(s);
    char *oe = strchr(o, '\n');
    if (oe) *oe = 0;
    int32_t ref[1024];
    size_t nr = 0;
    for (char *p = o; *p && nr < 1024;) {
      char *q;
      long v = strtol(p, &q, 10);
      if (q == p) break;
      ref[nr++] = (int32_t)v;
      p = q;
    }
    assert_int_equal(dq_embedder_gguf_tokens(e, s, len, 0, &ids, &n), 0);
    if (nr == 0) {
      assert_int_equal(n, 0);
    } else if (nr + 2 <= 512) {
      if (n != nr + 2 || ids[0] != 101 || ids[n - 1] != 102 || memcmp(ids + 1, ref, nr * sizeof *ref))
        fail_msg("test string %d ('%.*s'): %zu ids, want %zu", checked, (int)(len > 40 ? 40 : len), s, n, nr + 2);
    }
    dq_free(ids);
    checked++;
    if (!end || !oe) break;
    s = end + strlen(sep);
    o = oe + 1;
  }
  assert_true(checked > 20);
  free(inp);
  free(out);
  dq_embedder_free(e);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_embed_bert__matches_naive_bert),
    cmocka_unit_test(test_embed_bert__matches_naive_nomic),
    cmocka_unit_test(test_embed_bert__quantized_weights),
    cmocka_unit_test(test_embed_bert__batch_equals_single),
    cmocka_unit_test(test_embed_bert__long_input_windows),
    cmocka_unit_test(test_embed_bert__interrupt_flag),
    cmocka_unit_test(test_embed_bert__prefix_detection),
    cmocka_unit_test(test_embed_bert__prefixes_and_id),
    cmocka_unit_test(test_embed_bert__errors),
    cmocka_unit_test(test_embed_bert__allocation_failures),
    cmocka_unit_test(test_embed_bert__parity_f32),
    cmocka_unit_test(test_embed_bert__parity_f16),
    cmocka_unit_test(test_embed_bert__token_ids_match_llama_cpp),
  };
  int failed = cmocka_run_group_tests(tests, setup, teardown);
  if (failed) return failed;
  if (!shared_dir()) {
    fprintf(stderr, "DOCQ_SHARED_DIR not set (or no models/tiny-bert-f32.gguf in it): parity with llama.cpp was "
                    "skipped\n");
    return 77;
  }
  return 0;
}
