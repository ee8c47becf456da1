/* The BERT-family encoder: loading ("bert", "nomic-bert") and the batched
 * forward pass with pooling. Tokenization, prefixes and windows live in
 * bert_embed.c.
 *
 * Forward pass over a batch of T tokens from n_seq sequences packed back to
 * back (no padding; each sequence attends only to itself), following
 * llama.cpp's llm_build_bert:
 *   x = LN_emb(tok_embd[id] + token_types[0] + position_embd[pos])   (nomic: no position_embd)
 *   per layer:
 *     q,k,v = x Wq + bq, x Wk + bk, x Wv + bv   (nomic: one x Wqkv, no biases, NEOX RoPE on q,k)
 *     a = softmax(q k^T / sqrt(dh)) v  per sequence and head
 *     x = LN_1(a Wo + bo + x)
 *     f = GELU(x Wup + bup) Wdown + bdown   (nomic: (SiLU(x Wgate) * x Wup) Wdown)
 *     x = LN_2(f + x)
 *   pooled = mean / first / last row of x over each sequence.
 * Every matrix product over weights covers all T tokens of the batch
 * (dq_matmul, which uses OpenBLAS sgemm for prefill-sized inputs; the tokens
 * are split between the pool's threads, see matmul()); the attention of each
 * (sequence, head) pair is one work item; row-wise steps (bias, residual,
 * LayerNorm, activation) are split over tokens.
 *
 * GELU is the tanh approximation evaluated as ggml does it on CPU: a table
 * indexed by the f16-rounded input (exact x above 10, 0 below -10). The
 * reference vectors in shared/models/tiny-bert.reference.txt come from that
 * implementation; the erf form differs from it by up to ~1e-3 per activation.
 *
 * Invariants: a loaded dq_bert only points into the (immutable) GGUF map and
 * owns f32 copies of its 1-D vectors; encode never allocates (all scratch is
 * in the dq_bert_ws, sized at creation). */
#include "engine/isa.h" /* first: renames this file's functions in a build with DQ_DISPATCH */
#include "embed/bert.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DQ_BERT_AVX2 1
#endif

#include "util/err.h"
#include "util/mem.h"

/* ===== model ========================================================== */

typedef struct wmat {
  int type;          /* ggml type */
  const void *data;  /* n_out rows of n_in (in the map) */
  int64_t n_in, n_out;
} wmat;

typedef struct bert_layer {
  wmat wq, wk, wv;   /* bert: (d rows of d) each */
  wmat wqkv;         /* nomic: (3d rows of d) */
  wmat wo;           /* (d rows of d) */
  wmat up, gate;     /* (ff rows of d); gate only for nomic */
  wmat down;         /* (d rows of ff) */
  float *bq, *bk, *bv, *bqkv, *bo, *bup, *bdown; /* biases, NULL when absent */
  float *ln1_w, *ln1_b; /* attn_output_norm (d) */
  float *ln2_w, *ln2_b; /* layer_output_norm (d) */
} bert_layer;

struct dq_bert {
  dq_bert_hparams hp;
  const dq_gguf_tensor *tok_embd;  /* (n_vocab rows of d) */
  const dq_gguf_tensor *pos_embd;  /* (n_pos rows of d); NULL for nomic */
  float *type0;                    /* token_types row 0 (d), NULL when absent */
  float *emb_ln_w, *emb_ln_b;      /* token_embd_norm (d) */
  bert_layer *layers;              /* (n_layer) */
  float **owned; size_t n_owned, cap_owned; /* every f32 vector copy */
};

const dq_bert_hparams *dq_bert_hparams_of(const dq_bert *m) { return &m->hp; }

static int keep(dq_bert *m, float *p)
{
  if (m->n_owned == m->cap_owned) {
    size_t cap = m->cap_owned ? m->cap_owned * 2 : 64;
    float **q = dq_realloc(m->owned, cap * sizeof *q);
    if (!q) return DOCQ_ENOMEM;
    m->owned = q;
    m->cap_owned = cap;
  }
  m->owned[m->n_owned++] = p;
  return 0;
}

/* A 1-D vector of n elements (any dequantizable type) copied to f32.
 * Absent and !required: *out = NULL. */
static int load_vec(dq_bert *m, const dq_gguf *g, const char *name, int64_t n, int required, float **out)
{
  *out = NULL;
  const dq_gguf_tensor *t = dq_gguf_tensor_find(g, name);
  if (!t) return required ? dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' missing", g->path, name) : 0;
  if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1)
    return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' has shape %lld x %lld, expected %lld", g->path, name,
                      (long long)t->ne[0], (long long)t->ne[1], (long long)n);
  if (!dq_kernels_supports(t->type) || dq_type_row_bytes(t->type, n) == 0)
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: tensor '%s' has type %s", g->path, name, dq_type_info_get(t->type)->name);
  float *v = dq_malloc((size_t)n * sizeof *v);
  if (!v) return DOCQ_ENOMEM;
  if (keep(m, v) < 0) { dq_free(v); return DOCQ_ENOMEM; }
  dq_dequant_row(t->type, t->data, v, n);
  *out = v;
  return 0;
}

/* A matrix of n_out rows of n_in elements usable by dq_matmul. */
static const dq_gguf_tensor *find_mat(const dq_gguf *g, const char *name, int64_t n_in, int64_t n_out, int required, int *rc)
{
  *rc = 0;
  const dq_gguf_tensor *t = dq_gguf_tensor_find(g, name);
  if (!t) {
    if (required) *rc = dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' missing", g->path, name);
    return NULL;
  }
  if (t->ne[0] != n_in || (n_out >= 0 && t->ne[1] != n_out) || t->ne[2] != 1 || t->ne[3] != 1) {
    *rc = dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' has shape %lld x %lld, expected %lld x %lld", g->path, name,
                     (long long)t->ne[0], (long long)t->ne[1], (long long)n_in, (long long)n_out);
    return NULL;
  }
  if (!dq_kernels_supports(t->type) || dq_type_row_bytes(t->type, n_in) == 0) {
    *rc = dq_err_set(DOCQ_EUNSUPPORTED, "%s: tensor '%s' has type %s, which docq cannot compute with", g->path,
                     name, dq_type_info_get(t->type)->name);
    return NULL;
  }
  return t;
}

static int load_mat(const dq_gguf *g, const char *name, int64_t n_in, int64_t n_out, int required, wmat *w)
{
  int rc;
  memset(w, 0, sizeof *w);
  const dq_gguf_tensor *t = find_mat(g, name, n_in, n_out, required, &rc);
  if (!t) return rc;
  w->type = t->type;
  w->data = t->data;
  w->n_in = n_in;
  w->n_out = t->ne[1];
  return 0;
}

static int get_u32_key(const dq_gguf *g, const char *arch, const char *suffix, uint32_t *v, int required)
{
  char key[128];
  snprintf(key, sizeof key, "%s.%s", arch, suffix);
  int rc = dq_gguf_get_u32(g, key, v);
  if (rc == DOCQ_ENOTFOUND && !required) { dq_err_clear(); return 1; }
  if (rc == DOCQ_ENOTFOUND) return dq_err_set(DOCQ_ECORRUPT, "%s: key '%s' missing", g->path, key);
  return rc;
}

static int load_hparams(dq_bert_hparams *hp, const dq_gguf *g, const char *arch)
{
  uint32_t d, nl, nh, ff, ctx, pool;
  int rc;
  if ((rc = get_u32_key(g, arch, "embedding_length", &d, 1)) < 0) return rc;
  if ((rc = get_u32_key(g, arch, "block_count", &nl, 1)) < 0) return rc;
  if ((rc = get_u32_key(g, arch, "attention.head_count", &nh, 1)) < 0) return rc;
  if ((rc = get_u32_key(g, arch, "feed_forward_length", &ff, 1)) < 0) return rc;
  if ((rc = get_u32_key(g, arch, "context_length", &ctx, 1)) < 0) return rc;
  if ((rc = get_u32_key(g, arch, "pooling_type", &pool, 0)) < 0) return rc;
  hp->pooling_file = rc == 1 ? -1 : (int)pool;
  /* limits keep every size product below 2^31 elements per row/matrix */
  if (d == 0 || d > 16384 || nl == 0 || nl > 256 || nh == 0 || d % nh || ff == 0 || ff > 65536 || ctx < 2)
    return dq_err_set(DOCQ_ECORRUPT, "%s: implausible sizes (embd %u, layers %u, heads %u, ffn %u, ctx %u)", g->path,
                      d, nl, nh, ff, ctx);
  hp->n_embd = (int)d;
  hp->n_layer = (int)nl;
  hp->n_head = (int)nh;
  hp->n_head_dim = (int)(d / nh);
  hp->n_ff = (int)ff;
  hp->n_ctx = ctx > 1u << 16 ? 1 << 16 : (int)ctx;
  hp->pooling = hp->pooling_file == DQ_BERT_POOL_CLS || hp->pooling_file == DQ_BERT_POOL_LAST ? hp->pooling_file
                                                                                            : DQ_BERT_POOL_MEAN;
  char key[128];
  snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", arch);
  hp->norm_eps = 1e-12f;
  if ((rc = dq_gguf_get_f32(g, key, &hp->norm_eps)) < 0 && rc != DOCQ_ENOTFOUND) return rc;
  int causal = 0;
  snprintf(key, sizeof key, "%s.attention.causal", arch);
  if ((rc = dq_gguf_get_bool(g, key, &causal)) < 0 && rc != DOCQ_ENOTFOUND) return rc;
  if (causal) return dq_err_set(DOCQ_EUNSUPPORTED, "%s: causal attention in an encoder is not supported", g->path);
  hp->rope_base = 10000.0f;
  snprintf(key, sizeof key, "%s.rope.freq_base", arch);
  if ((rc = dq_gguf_get_f32(g, key, &hp->rope_base)) < 0 && rc != DOCQ_ENOTFOUND) return rc;
  uint32_t nrot = (uint32_t)hp->n_head_dim;
  if ((rc = get_u32_key(g, arch, "rope.dimension_count", &nrot, 0)) < 0) return rc;
  if (nrot == 0 || nrot > (uint32_t)hp->n_head_dim || nrot % 2)
    return dq_err_set(DOCQ_ECORRUPT, "%s: rope.dimension_count %u does not fit head size %d", g->path, nrot,
                      hp->n_head_dim);
  hp->n_rot = (int)nrot;
  dq_err_clear();
  return 0;
}

static int load_layer(dq_bert *m, const dq_gguf *g, int il, bert_layer *L)
{
  const dq_bert_hparams *hp = &m->hp;
  int64_t d = hp->n_embd, ff = hp->n_ff;
  char nm[96];
  int rc;
#define NM(s) (snprintf(nm, sizeof nm, "blk.%d.%s", il, s), nm)
  if (hp->arch == DQ_BERT_ARCH_NOMIC) {
    if ((rc = load_mat(g, NM("attn_qkv.weight"), d, 3 * d, 1, &L->wqkv)) < 0) return rc;
    if ((rc = load_vec(m, g, NM("attn_qkv.bias"), 3 * d, 0, &L->bqkv)) < 0) return rc;
    if ((rc = load_mat(g, NM("ffn_gate.weight"), d, ff, 1, &L->gate)) < 0) return rc;
  } else {
    if ((rc = load_mat(g, NM("attn_q.weight"), d, d, 1, &L->wq)) < 0) return rc;
    if ((rc = load_mat(g, NM("attn_k.weight"), d, d, 1, &L->wk)) < 0) return rc;
    if ((rc = load_mat(g, NM("attn_v.weight"), d, d, 1, &L->wv)) < 0) return rc;
    if ((rc = load_vec(m, g, NM("attn_q.bias"), d, 0, &L->bq)) < 0) return rc;
    if ((rc = load_vec(m, g, NM("attn_k.bias"), d, 0, &L->bk)) < 0) return rc;
    if ((rc = load_vec(m, g, NM("attn_v.bias"), d, 0, &L->bv)) < 0) return rc;
  }
  if ((rc = load_mat(g, NM("attn_output.weight"), d, d, 1, &L->wo)) < 0) return rc;
  if ((rc = load_vec(m, g, NM("attn_output.bias"), d, 0, &L->bo)) < 0) return rc;
  if ((rc = load_vec(m, g, NM("attn_output_norm.weight"), d, 1, &L->ln1_w)) < 0) return rc;
  if ((rc = load_vec(m, g, NM("attn_output_norm.bias"), d, 1, &L->ln1_b)) < 0) return rc;
  if ((rc = load_mat(g, NM("ffn_up.weight"), d, ff, 1, &L->up)) < 0) return rc;
  if ((rc = load_vec(m, g, NM("ffn_up.bias"), ff, 0, &L->bup)) < 0) return rc;
  if ((rc = load_mat(g, NM("ffn_down.weight"), ff, d, 1, &L->down)) < 0) return rc;
  if ((rc = load_vec(m, g, NM("ffn_down.bias"), d, 0, &L->bdown)) < 0) return rc;
  if ((rc = load_vec(m, g, NM("layer_output_norm.weight"), d, 1, &L->ln2_w)) < 0) return rc;
  if ((rc = load_vec(m, g, NM("layer_output_norm.bias"), d, 1, &L->ln2_b)) < 0) return rc;
#undef NM
  return 0;
}

int dq_bert_load(dq_bert **out, const dq_gguf *g)
{
  int rc = 0;
  dq_bert *m = NULL;
  const char *arch;
  size_t alen;
  *out = NULL;
  if ((rc = dq_gguf_get_str(g, "general.architecture", &arch, &alen)) < 0) goto done;
  char a[32];
  if (alen >= sizeof a) alen = sizeof a - 1;
  memcpy(a, arch, alen);
  a[alen] = 0;
  if (!(m = dq_calloc(1, sizeof *m))) { rc = DOCQ_ENOMEM; goto done; }
  if (!strcmp(a, "bert")) m->hp.arch = DQ_BERT_ARCH_BERT;
  else if (!strcmp(a, "nomic-bert")) m->hp.arch = DQ_BERT_ARCH_NOMIC;
  else { rc = dq_err_set(DOCQ_EUNSUPPORTED, "%s: architecture '%s' is not a supported encoder (bert, nomic-bert)", g->path, a); goto done; }
  if ((rc = load_hparams(&m->hp, g, a)) < 0) goto done;
  dq_bert_hparams *hp = &m->hp;
  int64_t d = hp->n_embd;
  m->tok_embd = find_mat(g, "token_embd.weight", d, -1, 1, &rc);
  if (!m->tok_embd) goto done;
  if (m->tok_embd->ne[1] < 1 || m->tok_embd->ne[1] > INT32_MAX) {
    rc = dq_err_set(DOCQ_ECORRUPT, "%s: token_embd.weight has %lld rows", g->path, (long long)m->tok_embd->ne[1]);
    goto done;
  }
  hp->n_vocab = (int)m->tok_embd->ne[1];
  if (hp->arch == DQ_BERT_ARCH_BERT) {
    m->pos_embd = find_mat(g, "position_embd.weight", d, -1, 1, &rc);
    if (!m->pos_embd) goto done;
    if (m->pos_embd->ne[1] < hp->n_ctx) hp->n_ctx = (int)m->pos_embd->ne[1];
    if (hp->n_ctx < 2) { rc = dq_err_set(DOCQ_ECORRUPT, "%s: position_embd.weight has too few rows", g->path); goto done; }
  }
  const dq_gguf_tensor *tt = find_mat(g, "token_types.weight", d, -1, 0, &rc);
  if (rc < 0) goto done;
  if (tt) {
    if (!(m->type0 = dq_malloc((size_t)d * sizeof(float))) || keep(m, m->type0) < 0) {
      dq_free(m->type0); m->type0 = NULL; rc = DOCQ_ENOMEM; goto done;
    }
    dq_dequant_row(tt->type, tt->data, m->type0, d); /* row 0: "sentence A", as llama.cpp */
  }
  if ((rc = load_vec(m, g, "token_embd_norm.weight", d, 1, &m->emb_ln_w)) < 0) goto done;
  if ((rc = load_vec(m, g, "token_embd_norm.bias", d, 1, &m->emb_ln_b)) < 0) goto done;
  if (!(m->layers = dq_calloc((size_t)hp->n_layer, sizeof *m->layers))) { rc = DOCQ_ENOMEM; goto done; }
  for (int il = 0; il < hp->n_layer; il++)
    if ((rc = load_layer(m, g, il, &m->layers[il])) < 0) goto done;
  *out = m;
  m = NULL;
done:
  dq_bert_free(m);
  return rc;
}

void dq_bert_free(dq_bert *m)
{
  if (!m) return;
  for (size_t i = 0; i < m->n_owned; i++) dq_free(m->owned[i]);
  dq_free(m->owned);
  dq_free(m->layers);
  dq_free(m);
}

/* ===== elementwise kernels ============================================ */

static float g_gelu_tab[65536]; /* GELU(tanh) of every f16 value, rounded to f16 as ggml stores it */
static pthread_once_t g_gelu_once = PTHREAD_ONCE_INIT;

static float gelu_tanh(float x)
{
  const float k = 0.79788456080286535588f; /* sqrt(2/pi) */
  return 0.5f * x * (1.0f + tanhf(k * x * (1.0f + 0.044715f * x * x)));
}

static void gelu_init(void)
{
  for (uint32_t i = 0; i < 65536; i++)
    g_gelu_tab[i] = dq_f16_to_f32(dq_f32_to_f16(gelu_tanh(dq_f16_to_f32((uint16_t)i))));
}

static inline float gelu(float x)
{
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return g_gelu_tab[dq_f32_to_f16(x)];
}

#ifdef DQ_BERT_AVX2
/* e^x for 8 floats: x = n ln2 + r, |r| <= ln2/2, e^r by a degree-6 polynomial
 * (Cephes expf coefficients), 2^n put in the exponent. Relative error ~2e-7;
 * inputs are clamped to [-87.3, 88.3] so 2^n stays a normal float. */
static inline __m256 v_exp(__m256 x)
{
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3f)), _mm256_set1_ps(-87.3f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#endif

/* In-place softmax of s[0..n). */
static void softmax(float *s, int n)
{
  float mx = s[0];
  for (int i = 1; i < n; i++) mx = s[i] > mx ? s[i] : mx;
  float sum = 0.0f;
  int i = 0;
#ifdef DQ_BERT_AVX2
  __m256 vm = _mm256_set1_ps(mx), vs = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m256 e = v_exp(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
    _mm256_storeu_ps(s + i, e);
    vs = _mm256_add_ps(vs, e);
  }
  float tmp[8];
  _mm256_storeu_ps(tmp, vs);
  for (int j = 0; j < 8; j++) sum += tmp[j];
#endif
  for (; i < n; i++) { s[i] = expf(s[i] - mx); sum += s[i]; }
  float inv = 1.0f / sum;
  for (i = 0; i < n; i++) s[i] *= inv;
}

/* y = LN(x) * w + b over n elements, as ggml_norm (mean, then the mean of
 * squared deviations, both accumulated in double). y may alias x. */
static void layer_norm(const float *x, float *y, const float *w, const float *b, int n, float eps)
{
  double sum = 0.0;
  for (int i = 0; i < n; i++) sum += x[i];
  float mean = (float)(sum / n);
  double sum2 = 0.0;
  for (int i = 0; i < n; i++) { float v = x[i] - mean; sum2 += (double)(v * v); }
  float scale = 1.0f / sqrtf((float)(sum2 / n) + eps);
  for (int i = 0; i < n; i++) y[i] = (x[i] - mean) * scale * w[i] + b[i];
}

/* ===== workspace ====================================================== */

struct dq_bert_ws {
  int max_tokens, max_seq, nth;
  float *x;      /* (max_tokens, d) hidden states */
  float *qkv;    /* (max_tokens, 3d) bert: q | k | v blocks of (T, d); nomic: rows of [q k v] */
  float *att;    /* (max_tokens, d) attention output before Wo */
  float *tmp;    /* (max_tokens, d) */
  float *ff;     /* (max_tokens, ff) */
  float *gate;   /* (max_tokens, ff) nomic only */
  void *mm;      /* dq_matmul scratch for weight products: one pooled call, or nth token-split calls */
  size_t mm_size;
  size_t mm_thread; /* bytes of one thread's part in the token-split mode */
  float *heads;  /* per thread: Qh, Kh, Oh (max_seq, dh), Vt (dh, max_seq), S (max_seq, max_seq), scratch */
  size_t head_stride; /* floats per thread */
  size_t head_mm_off; /* floats into a thread's block where its matmul scratch starts */
  float *rope_cs; /* nomic: (max_seq, n_rot/2) cos, then the same of sin */
  int *seq_start; /* (max_tokens + 1) */
};

static size_t mm_need(const wmat *w, int64_t n_tok, int nth)
{
  return w->data ? dq_matmul_scratch_size(w->type, w->n_in, w->n_out, n_tok, nth) : 0;
}

int dq_bert_ws_new(dq_bert_ws **out, const dq_bert *m, int max_tokens, int max_seq, int n_threads)
{
  const dq_bert_hparams *hp = &m->hp;
  int rc = 0;
  *out = NULL;
  if (max_seq > hp->n_ctx) max_seq = hp->n_ctx;
  if (max_tokens < 1 || max_seq < 1 || max_tokens > (1 << 20))
    return dq_err_set(DOCQ_EINVAL, "bert: bad workspace size (%d tokens, sequences of %d)", max_tokens, max_seq);
  if (max_seq > max_tokens) max_seq = max_tokens;
  dq_bert_ws *w = dq_calloc(1, sizeof *w);
  if (!w) return DOCQ_ENOMEM;
  w->max_tokens = max_tokens;
  w->max_seq = max_seq;
  w->nth = n_threads < 1 ? 1 : n_threads;
  size_t T = (size_t)max_tokens, d = (size_t)hp->n_embd, ff = (size_t)hp->n_ff, dh = (size_t)hp->n_head_dim;
  size_t L = (size_t)max_seq;
  for (int il = 0; il < hp->n_layer; il++) {
    const bert_layer *ly = &m->layers[il];
    const wmat *ws[] = { &ly->wq, &ly->wk, &ly->wv, &ly->wqkv, &ly->wo, &ly->up, &ly->gate, &ly->down };
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
      size_t s = mm_need(ws[i], (int64_t)T, w->nth);
      if (s > w->mm_size) w->mm_size = s;
      for (int64_t nt = 1; nt <= 16; nt++) {
        s = mm_need(ws[i], nt, 1);
        if (s > w->mm_thread) w->mm_thread = s;
      }
      s = mm_need(ws[i], (int64_t)T, 1);
      if (s > w->mm_thread) w->mm_thread = s;
    }
  }
  /* attention products are single-threaded F32 dq_matmul calls of up to L tokens;
   * their scratch size depends on the path (below / above the BLAS threshold) */
  w->mm_thread = (w->mm_thread + 63) & ~(size_t)63;
  if (w->mm_thread * (size_t)w->nth > w->mm_size) w->mm_size = w->mm_thread * (size_t)w->nth;
  size_t hs = 0;
  for (int64_t nt = 1; nt <= 8; nt++) {
    size_t a = dq_matmul_scratch_size(DQ_T_F32, (int64_t)dh, (int64_t)L, nt, 1);
    size_t b = dq_matmul_scratch_size(DQ_T_F32, (int64_t)L, (int64_t)dh, nt, 1);
    hs = a > hs ? a : hs;
    hs = b > hs ? b : hs;
  }
  size_t a = dq_matmul_scratch_size(DQ_T_F32, (int64_t)dh, (int64_t)L, (int64_t)L, 1);
  size_t b = dq_matmul_scratch_size(DQ_T_F32, (int64_t)L, (int64_t)dh, (int64_t)L, 1);
  hs = a > hs ? a : hs;
  hs = b > hs ? b : hs;
  w->head_mm_off = 4 * L * dh + L * L;
  w->head_stride = w->head_mm_off + (hs + sizeof(float) - 1) / sizeof(float) + 16;
  if (w->head_stride < d) w->head_stride = d; /* the embedding step borrows a row per thread */
  int nomic = hp->arch == DQ_BERT_ARCH_NOMIC;
  if (!(w->x = dq_malloc(T * d * sizeof(float))) || !(w->qkv = dq_malloc(3 * T * d * sizeof(float))) ||
      !(w->att = dq_malloc(T * d * sizeof(float))) || !(w->tmp = dq_malloc(T * d * sizeof(float))) ||
      !(w->ff = dq_malloc(T * ff * sizeof(float))) || (nomic && !(w->gate = dq_malloc(T * ff * sizeof(float)))) ||
      !(w->mm = dq_malloc(w->mm_size ? w->mm_size : 1)) ||
      !(w->heads = dq_malloc((size_t)w->nth * w->head_stride * sizeof(float))) ||
      !(w->seq_start = dq_malloc((T + 1) * sizeof(int)))) {
    rc = DOCQ_ENOMEM;
    goto done;
  }
  if (nomic) {
    size_t half = (size_t)hp->n_rot / 2;
    if (!(w->rope_cs = dq_malloc(2 * L * half * sizeof(float)))) { rc = DOCQ_ENOMEM; goto done; }
    for (size_t p = 0; p < L; p++)
      for (size_t i = 0; i < half; i++) {
        /* NEOX RoPE: pair (i, i + n_rot/2) turns by p * base^(-2i/n_rot) */
        double th = (double)p * pow((double)hp->rope_base, -2.0 * (double)i / (double)hp->n_rot);
        w->rope_cs[p * half + i] = (float)cos(th);
        w->rope_cs[L * half + p * half + i] = (float)sin(th);
      }
  }
  *out = w;
  w = NULL;
done:
  dq_bert_ws_free(w);
  return rc;
}

void dq_bert_ws_free(dq_bert_ws *w)
{
  if (!w) return;
  dq_free(w->x); dq_free(w->qkv); dq_free(w->att); dq_free(w->tmp); dq_free(w->ff); dq_free(w->gate);
  dq_free(w->mm); dq_free(w->heads); dq_free(w->rope_cs); dq_free(w->seq_start);
  dq_free(w);
}

/* ===== forward pass =================================================== */

typedef struct fwd {
  const dq_bert *m;
  dq_bert_ws *w;
  const int32_t *ids;
  const int *seq_len;
  int n_seq, T;
  const bert_layer *ly;
  const float *q, *k, *v; /* first element of q/k/v of token 0 */
  size_t qkv_stride;      /* floats between tokens */
  atomic_int next;        /* attention work items */
} fwd;

static void split(int n, int ith, int nth, int *a, int *b)
{
  *a = (int)((int64_t)n * ith / nth);
  *b = (int)((int64_t)n * (ith + 1) / nth);
}

static void job_embed(void *arg, int ith, int nth)
{
  fwd *f = arg;
  const dq_bert *m = f->m;
  int d = m->hp.n_embd, t0, t1;
  split(f->n_seq, ith, nth, &t0, &t1);
  float *row = f->w->heads + (size_t)ith * f->w->head_stride; /* free during the embedding step */
  const dq_gguf_tensor *te = m->tok_embd, *pe = m->pos_embd;
  size_t te_row = dq_type_row_bytes(te->type, d), pe_row = pe ? dq_type_row_bytes(pe->type, d) : 0;
  for (int s = t0; s < t1; s++) {
    int start = f->w->seq_start[s];
    for (int p = 0; p < f->seq_len[s]; p++) {
      int t = start + p;
      float *x = f->w->x + (size_t)t * d;
      dq_dequant_row(te->type, (const uint8_t *)te->data + (size_t)f->ids[t] * te_row, x, d);
      if (m->type0)
        for (int i = 0; i < d; i++) x[i] += m->type0[i];
      if (pe) {
        dq_dequant_row(pe->type, (const uint8_t *)pe->data + (size_t)p * pe_row, row, d);
        for (int i = 0; i < d; i++) x[i] += row[i];
      }
      layer_norm(x, x, m->emb_ln_w, m->emb_ln_b, d, m->hp.norm_eps);
    }
  }
}

/* Copy head h of token rows [t0, t0+L) from src (stride floats apart) into
 * dst (L, dh), adding the bias and scaling. */
static void gather_head(float *dst, const float *src, size_t stride, const float *bias, int h, int dh, int L,
                        float scale)
{
  for (int i = 0; i < L; i++) {
    const float *s = src + (size_t)i * stride + (size_t)h * dh;
    float *o = dst + (size_t)i * dh;
    if (bias)
      for (int j = 0; j < dh; j++) o[j] = (s[j] + bias[h * dh + j]) * scale;
    else
      for (int j = 0; j < dh; j++) o[j] = s[j] * scale;
  }
}

static void rope_neox(float *hd, int L, int dh, int n_rot, const float *cs, int max_seq)
{
  int half = n_rot / 2;
  const float *c = cs, *sn = cs + (size_t)max_seq * half;
  for (int p = 0; p < L; p++) {
    float *v = hd + (size_t)p * dh;
    for (int i = 0; i < half; i++) {
      float x0 = v[i], x1 = v[i + half], co = c[p * half + i], si = sn[p * half + i];
      v[i] = x0 * co - x1 * si;
      v[i + half] = x0 * si + x1 * co;
    }
  }
}

static void job_attention(void *arg, int ith, int nth)
{
  fwd *f = arg;
  (void)nth;
  const dq_bert_hparams *hp = &f->m->hp;
  const bert_layer *ly = f->ly;
  dq_bert_ws *w = f->w;
  int dh = hp->n_head_dim, nh = hp->n_head, d = hp->n_embd;
  size_t Lm = (size_t)w->max_seq;
  float *base = w->heads + (size_t)ith * w->head_stride;
  float *Qh = base, *Kh = Qh + Lm * dh, *Oh = Kh + Lm * dh, *Vt = Oh + Lm * dh, *S = Vt + Lm * dh;
  void *scr = base + w->head_mm_off;
  const float scale = 1.0f / sqrtf((float)dh);
  const float *bq = ly->bqkv ? ly->bqkv : ly->bq;
  const float *bk = ly->bqkv ? ly->bqkv + d : ly->bk;
  const float *bv = ly->bqkv ? ly->bqkv + 2 * d : ly->bv;
  for (;;) {
    int item = atomic_fetch_add_explicit(&f->next, 1, memory_order_relaxed);
    if (item >= f->n_seq * nh) break;
    int s = item / nh, h = item % nh, L = f->seq_len[s], t0 = w->seq_start[s];
    size_t off = (size_t)t0 * f->qkv_stride;
    gather_head(Qh, f->q + off, f->qkv_stride, bq, h, dh, L, scale);
    gather_head(Kh, f->k + off, f->qkv_stride, bk, h, dh, L, 1.0f);
    if (hp->arch == DQ_BERT_ARCH_NOMIC) {
      rope_neox(Qh, L, dh, hp->n_rot, w->rope_cs, w->max_seq);
      rope_neox(Kh, L, dh, hp->n_rot, w->rope_cs, w->max_seq);
    }
    for (int i = 0; i < L; i++) { /* V transposed: (dh rows of L) */
      const float *sv = f->v + off + (size_t)i * f->qkv_stride + (size_t)h * dh;
      for (int j = 0; j < dh; j++) Vt[(size_t)j * L + i] = sv[j] + (bv ? bv[h * dh + j] : 0.0f);
    }
    dq_matmul(NULL, DQ_T_F32, Kh, dh, L, Qh, L, S, scr);   /* S (L, L) = Q K^T / sqrt(dh) */
    for (int i = 0; i < L; i++) softmax(S + (size_t)i * L, L);
    dq_matmul(NULL, DQ_T_F32, Vt, L, dh, S, L, Oh, scr);   /* O (L, dh) = P V */
    for (int i = 0; i < L; i++)
      memcpy(w->att + (size_t)(t0 + i) * d + (size_t)h * dh, Oh + (size_t)i * dh, (size_t)dh * sizeof(float));
  }
}

/* x = LN(tmp + bias + x) with the given norm: the residual step after the
 * attention output (ln1) and after the FFN (ln2). */
typedef struct { fwd *f; const float *bias, *lw, *lb; } resid_arg;

static void job_resid_norm(void *arg, int ith, int nth)
{
  resid_arg *r = arg;
  fwd *f = r->f;
  int d = f->m->hp.n_embd, t0, t1;
  split(f->T, ith, nth, &t0, &t1);
  for (int t = t0; t < t1; t++) {
    float *x = f->w->x + (size_t)t * d, *y = f->w->tmp + (size_t)t * d;
    if (r->bias)
      for (int i = 0; i < d; i++) y[i] += r->bias[i] + x[i];
    else
      for (int i = 0; i < d; i++) y[i] += x[i];
    layer_norm(y, x, r->lw, r->lb, d, f->m->hp.norm_eps);
  }
}

/* u = GELU(u + b) over n values (b may be NULL). */
static void gelu_row(float *u, const float *b, int n)
{
  int i = 0;
#if defined(DQ_BERT_AVX2) && defined(__F16C__)
  const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(u + i);
    if (b) x = _mm256_add_ps(x, _mm256_loadu_ps(b + i));
    __m256i idx = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256 g = _mm256_i32gather_ps(g_gelu_tab, idx, 4);
    g = _mm256_blendv_ps(g, x, _mm256_cmp_ps(x, hi, _CMP_GE_OQ));
    g = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LE_OQ), g);
    _mm256_storeu_ps(u + i, g);
  }
#endif
  for (; i < n; i++) u[i] = gelu(b ? u[i] + b[i] : u[i]);
}

/* u = (u + b) * SiLU(g) over n values (b may be NULL). */
static void swiglu_row(float *u, const float *b, const float *g, int n)
{
  int i = 0;
#ifdef DQ_BERT_AVX2
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(u + i), gv = _mm256_loadu_ps(g + i);
    if (b) x = _mm256_add_ps(x, _mm256_loadu_ps(b + i));
    __m256 e = v_exp(_mm256_sub_ps(_mm256_setzero_ps(), gv));
    _mm256_storeu_ps(u + i, _mm256_div_ps(_mm256_mul_ps(x, gv), _mm256_add_ps(one, e)));
  }
#endif
  for (; i < n; i++) {
    float ui = b ? u[i] + b[i] : u[i];
    u[i] = ui * g[i] / (1.0f + expf(-g[i]));
  }
}

static void job_ffn_act(void *arg, int ith, int nth)
{
  fwd *f = arg;
  int n = f->m->hp.n_ff, t0, t1;
  split(f->T, ith, nth, &t0, &t1);
  for (int t = t0; t < t1; t++) {
    float *u = f->w->ff + (size_t)t * n;
    if (f->m->hp.arch == DQ_BERT_ARCH_NOMIC) swiglu_row(u, f->ly->bup, f->w->gate + (size_t)t * n, n);
    else gelu_row(u, f->ly->bup, n);
  }
}

#ifndef MM_SLICE
#define MM_SLICE 256 /* measured on the MiniLM shape: 128-512 are close, unsliced 5-20% slower */
#endif
typedef struct { dq_bert_ws *w; const wmat *W; const float *x; int T; float *out; } mm_arg;

static void job_mm_split(void *arg, int ith, int nth)
{
  mm_arg *a = arg;
  const wmat *W = a->W;
  int t0, t1;
  split(a->T, ith, nth, &t0, &t1);
  /* in slices of MM_SLICE tokens: a slice's activations stay in L2 while
   * every tile of W is multiplied with them */
  for (int s = t0; s < t1; s += MM_SLICE) {
    int n = t1 - s < MM_SLICE ? t1 - s : MM_SLICE;
    dq_matmul(NULL, W->type, W->data, W->n_in, W->n_out, a->x + (size_t)s * W->n_in, n,
              a->out + (size_t)s * W->n_out, (uint8_t *)a->w->mm + (size_t)ith * a->w->mm_thread);
  }
}

/* out (T, n_out) = x (T, n_in) W^T. With many tokens per thread, each thread
 * multiplies its own tokens by all of W (single-threaded dq_matmul, in
 * MM_SLICE-token slices): the threads finish together whatever n_out is,
 * where splitting W's rows into fixed tiles leaves one thread idle for part
 * of a 384-row product. With few tokens, dq_matmul splits W's rows so W is
 * read (and dequantized) once. */
#define SPLIT_MIN_TOKENS 64 /* tokens per thread from which the token split is used */
static void matmul(dq_pool *pool, dq_bert_ws *w, const wmat *W, const float *x, int T, float *out)
{
  int nth = dq_pool_size(pool);
  if (T >= SPLIT_MIN_TOKENS * nth) {
    mm_arg a = { w, W, x, T, out };
    dq_pool_run(pool, job_mm_split, &a);
    return;
  }
  dq_matmul(pool, W->type, W->data, W->n_in, W->n_out, x, T, out, w->mm);
}

static void pool_out(const fwd *f, float *out)
{
  const dq_bert_hparams *hp = &f->m->hp;
  int d = hp->n_embd;
  for (int s = 0; s < f->n_seq; s++) {
    int L = f->seq_len[s], t0 = f->w->seq_start[s];
    float *o = out + (size_t)s * d;
    const float *x = f->w->x + (size_t)t0 * d;
    if (hp->pooling == DQ_BERT_POOL_CLS) {
      memcpy(o, x, (size_t)d * sizeof *o);
    } else if (hp->pooling == DQ_BERT_POOL_LAST) {
      memcpy(o, x + (size_t)(L - 1) * d, (size_t)d * sizeof *o);
    } else {
      for (int i = 0; i < d; i++) o[i] = 0.0f;
      for (int p = 0; p < L; p++)
        for (int i = 0; i < d; i++) o[i] += x[(size_t)p * d + i];
      float inv = 1.0f / (float)L;
      for (int i = 0; i < d; i++) o[i] *= inv;
    }
  }
}

int dq_bert_encode(const dq_bert *m, dq_bert_ws *w, dq_pool *pool, const int32_t *ids, const int *seq_len,
                   int n_seq, float *out)
{
  const dq_bert_hparams *hp = &m->hp;
  if (n_seq <= 0) return 0;
  if (dq_pool_size(pool) > w->nth)
    return dq_err_set(DOCQ_EINVAL, "bert: pool of %d threads, workspace sized for %d", dq_pool_size(pool), w->nth);
  int T = 0;
  for (int s = 0; s < n_seq; s++) {
    if (seq_len[s] < 1 || seq_len[s] > w->max_seq)
      return dq_err_set(DOCQ_EINVAL, "bert: sequence of %d tokens (1..%d allowed)", seq_len[s], w->max_seq);
    if (seq_len[s] > w->max_tokens - T)
      return dq_err_set(DOCQ_EINVAL, "bert: batch longer than the workspace (%d tokens)", w->max_tokens);
    w->seq_start[s] = T;
    T += seq_len[s];
  }
  w->seq_start[n_seq] = T;
  for (int t = 0; t < T; t++)
    if (ids[t] < 0 || ids[t] >= hp->n_vocab)
      return dq_err_set(DOCQ_EINVAL, "bert: token id %d out of range (vocabulary of %d)", (int)ids[t], hp->n_vocab);
  pthread_once(&g_gelu_once, gelu_init);

  fwd f = { .m = m, .w = w, .ids = ids, .seq_len = seq_len, .n_seq = n_seq, .T = T };
  size_t d = (size_t)hp->n_embd;
  dq_pool_run(pool, job_embed, &f);
  for (int il = 0; il < hp->n_layer; il++) {
    const bert_layer *ly = &m->layers[il];
    f.ly = ly;
    if (ly->wqkv.data) {
      matmul(pool, w, &ly->wqkv, w->x, T, w->qkv);
      f.q = w->qkv; f.k = w->qkv + d; f.v = w->qkv + 2 * d;
      f.qkv_stride = 3 * d;
    } else {
      float *q = w->qkv, *k = q + (size_t)T * d, *v = k + (size_t)T * d;
      matmul(pool, w, &ly->wq, w->x, T, q);
      matmul(pool, w, &ly->wk, w->x, T, k);
      matmul(pool, w, &ly->wv, w->x, T, v);
      f.q = q; f.k = k; f.v = v;
      f.qkv_stride = d;
    }
    atomic_store(&f.next, 0);
    dq_pool_run(pool, job_attention, &f);
    matmul(pool, w, &ly->wo, w->att, T, w->tmp);
    resid_arg r1 = { &f, ly->bo, ly->ln1_w, ly->ln1_b };
    dq_pool_run(pool, job_resid_norm, &r1);
    matmul(pool, w, &ly->up, w->x, T, w->ff);
    if (ly->gate.data) matmul(pool, w, &ly->gate, w->x, T, w->gate);
    dq_pool_run(pool, job_ffn_act, &f);
    matmul(pool, w, &ly->down, w->ff, T, w->tmp);
    resid_arg r2 = { &f, ly->bdown, ly->ln2_w, ly->ln2_b };
    dq_pool_run(pool, job_resid_norm, &r2);
  }
  pool_out(&f, out);
  return 0;
}
