/* The transformer forward pass (llama2.c style: one linear function per
 * step, every buffer preallocated in dq_fwd_new).
 *
 * x = token embeddings (* embd_scale: gemma2/3). Per layer, for a batch of T
 * tokens at positions n_past..n_past+T-1:
 *   xb = rmsnorm(x) * attn_norm
 *   q, k, v = xb Wq (+bq), xb Wk (+bk), xb Wv (+bv)      (T-row matmuls)
 *   q, k = rmsnorm(each head) * q_norm, k_norm           (qwen3, gemma3)
 *   rope(q), rope(k) (not in smollm3's NoPE layers; gemma3's sliding layers
 *   with rope_swa); q *= q_scale (gemma2/3, phi3); k, v -> cache[pos]
 *   att = softmax(q k^T / sqrt(hd), causal) v            (GQA: head h reads kv head h / (n_head/n_head_kv);
 *                                                         gemma2/3: no 1/sqrt(hd), a window in sliding layers;
 *                                                         gemma2: scores capped, c * tanh(s / c))
 *   x += att Wo                                          (gemma2/3: rmsnorm(att Wo) * attn_post_norm)
 *   xb = rmsnorm(x) * ffn_norm
 *   x += (silu(xb Wgate) * (xb Wup)) Wdown               (gemma2/3: gelu, and the sum's rmsnorm * ffn_post_norm)
 * then logits = rmsnorm(x) * output_norm Wout for the rows asked for (gemma2,
 * gemma3 with final_logit_softcapping: c * tanh(logits / c)).
 *
 * Numerics follow ggml where it matters for parity: RMS and softmax sums in
 * double, SiLU as x / (1 + e^-x) with ggml's vector e^x (ggml_order.h),
 * RoPE angles in ggml's float order. The parity mode (DQ_KV_F16_GGML) goes
 * further, to llama.cpp's bits for f32 weights: its product orders
 * (ggml_order.h) and its f16 attention (attention_worker). */
#include "engine/forward.h"

/* Parity with llama.cpp depends on rounding: no implicit a*b+c fusion here
 * (the build's gnu11 mode would otherwise contract to FMA). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define DQ_FWD_AVX2 1
#endif

#include "docq.h"
#include "engine/ggml_order.h"
#include "util/err.h"
#include "util/mem.h"

/* dq_matmul_multi (fused products sharing one input) is declared in kernels.h. */

/* ---- small vector helpers ------------------------------------------------- */

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
  double ss = 0.0;
  for (int i = 0; i < n; i++) ss += (double)(x[i] * x[i]); /* float product, double sum: as ggml */
  const float scale = 1.0f / sqrtf((float)(ss / n) + eps);
  for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

/* Qwen3's normalization of each head of q or k, in place: n_heads rows of hd
 * (rmsnorm reads x[i] before it writes out[i], so out may be x). */
static void head_norms(float *x, const float *w, int n_heads, int hd, float eps)
{
  for (int h = 0; h < n_heads; h++) rmsnorm(x + (size_t)h * hd, x + (size_t)h * hd, w, hd, eps);
}

/* ---- setup ----------------------------------------------------------------- */

int dq_fwd_swa_slots(const dq_hparams *hp, int n_ctx, int n_batch)
{
  if (!hp->n_layer_swa) return 0;
  /* a window's keys plus a batch, and a batch more, so that keys move to
   * the front once per n_batch tokens at most, not at every decode step:
   * W - 1 rows per sliding layer per n_batch tokens, against n_batch * W
   * scores for their attention */
  const int64_t cap = (int64_t)hp->n_swa - 1 + 2 * (int64_t)n_batch;
  return cap < n_ctx ? (int)cap : n_ctx;
}

static int use_default_tiled(dq_fwd *f);
static int use_simple(dq_fwd *f);

static size_t mm_scratch(const dq_weight *w, int n_tok, int nt)
{
  return dq_matmul_scratch_size(w->type, w->n_in, w->n_out, n_tok, nt);
}

int dq_fwd_new(dq_fwd **out, const dq_model *m, int n_ctx, int n_batch, int n_threads, int kv_type)
{
  *out = NULL;
  int rc = dq_model_require_weights(m);
  if (rc < 0) return rc;
  const dq_hparams *hp = &m->hp;
  if (n_ctx <= 0) n_ctx = hp->n_ctx_train;
  if (n_ctx <= 0 || n_ctx > (1 << 22)) return dq_err_set(DOCQ_EINVAL, "context size %d out of range", n_ctx);
  if (n_batch <= 0) n_batch = 512;
  if (n_batch > n_ctx) n_batch = n_ctx;
  dq_fwd *f = dq_calloc(1, sizeof *f);
  if (!f) return DOCQ_ENOMEM;
  f->m = m;
  f->n_ctx = n_ctx;
  f->n_batch = n_batch;
  f->kv_type = kv_type == DQ_KV_F32 || kv_type == DQ_KV_F16_GGML ? kv_type : DQ_KV_F16;
  /* the file's RoPE for this context: LongRoPE's factor set depends on it */
  dq_rope_params rp;
  if ((rc = dq_model_rope_params(m, NULL, n_ctx, &rp)) < 0 || (rc = dq_rope_init(&f->rope, &rp)) < 0) goto fail;
  if (hp->n_layer_swa && (rc = dq_rope_init(&f->rope_swa, &hp->rope_swa)) < 0) goto fail;
  if (n_threads != 1) {
    if ((rc = dq_pool_new(&f->pool, n_threads)) < 0) goto fail;
  }
  f->n_threads = dq_pool_size(f->pool);

  const size_t d = (size_t)hp->n_embd, nq = (size_t)hp->n_head * hp->head_dim,
               nkv = (size_t)hp->n_head_kv * hp->head_dim, B = (size_t)n_batch;
  f->x = dq_malloc(B * d * sizeof(float));
  f->xb = dq_malloc(B * d * sizeof(float));
  f->xo = dq_malloc(B * d * sizeof(float));
  f->q = dq_malloc(B * nq * sizeof(float));
  f->att = dq_malloc(B * nq * sizeof(float));
  f->k = dq_malloc(B * nkv * sizeof(float));
  f->v = dq_malloc(B * nkv * sizeof(float));
  f->hg = dq_malloc(B * (size_t)hp->n_ff * sizeof(float));
  f->hu = dq_malloc(B * (size_t)hp->n_ff * sizeof(float));
  f->cs = dq_malloc(B * (size_t)hp->n_rot * sizeof(float));
  if (hp->n_layer_swa && !(f->cs_swa = dq_malloc(B * (size_t)hp->n_rot * sizeof(float)))) {
    rc = DOCQ_ENOMEM;
    goto fail;
  }
  f->logits = dq_malloc((size_t)hp->n_vocab * sizeof(float));
  f->kv_layer = dq_malloc((size_t)hp->n_layer * sizeof *f->kv_layer);
  if (!f->kv_layer) {
    rc = DOCQ_ENOMEM;
    goto fail;
  }
  /* the typed caches' layers: sliding ones in kv_swa, the others in kv */
  for (int l = 0, n_glob = 0, n_swa = 0; l < hp->n_layer; l++) f->kv_layer[l] = m->layers[l].swa ? n_swa++ : n_glob++;
  if (!f->x || !f->xb || !f->xo || !f->q || !f->att || !f->k || !f->v || !f->hg || !f->hu ||
      !f->cs || !f->logits) {
    rc = DOCQ_ENOMEM;
    goto fail;
  }
  size_t need = mm_scratch(&m->output, n_batch, f->n_threads);
  for (int l = 0; l < hp->n_layer; l++) {
    const dq_layer *L = &m->layers[l];
    const dq_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
      size_t s = mm_scratch(ws[i], n_batch, f->n_threads);
      if (s > need) need = s;
    }
    /* the fused Q/K/V and gate/up products of eval_batch */
    const int qkv[] = {L->wq.type, L->wk.type, L->wv.type}, gu[] = {L->w_gate.type, L->w_up.type};
    size_t s3 = dq_matmul_multi_scratch_size(3, qkv, hp->n_embd, n_batch, f->n_threads),
           s2 = dq_matmul_multi_scratch_size(2, gu, hp->n_embd, n_batch, f->n_threads);
    if (s3 > need) need = s3;
    if (s2 > need) need = s2;
  }
  f->mm_scratch = dq_malloc(need ? need : 1);
  if (!f->mm_scratch) {
    rc = DOCQ_ENOMEM;
    goto fail;
  }
  if ((rc = f->kv_type == DQ_KV_F16_GGML ? use_simple(f) : use_default_tiled(f)) < 0) goto fail;
  *out = f;
  return 0;
fail:
  dq_fwd_free(f);
  return rc;
}

void dq_fwd_free(dq_fwd *f)
{
  if (!f) return;
  dq_pool_free(f->pool);
  void *bufs[] = {f->kc, f->vc, f->x, f->xb, f->xo, f->q, f->att, f->k, f->v, f->hg, f->hu, f->cs,
                  f->cs_swa, f->logits, f->mm_scratch, f->k_raw, f->kv_layer};
  dq_kv_free(f->kv);
  dq_kv_free(f->kv_swa);
  dq_attn_free(f->attn);
  dq_attn_free(f->attn_swa);
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) dq_free(bufs[i]);
  dq_free(f);
}

void dq_fwd_reset(dq_fwd *f)
{
  f->n_past = 0;
  f->swa_base = 0;
}

int dq_fwd_truncate(dq_fwd *f, int n)
{
  if (n < 0 || n > f->n_past)
    return dq_err_set(DOCQ_EINVAL, "cannot keep %d tokens of a cache holding %d", n, f->n_past);
  if (f->kv_swa) {
    /* a query at position n sees keys back to n - (W - 1); the slots before
     * swa_base were overwritten by swa_make_room */
    const int lo = n - (f->m->hp.n_swa - 1) > 0 ? n - (f->m->hp.n_swa - 1) : 0;
    if (n > 0 && lo < f->swa_base)
      return dq_err_set(DOCQ_EINVAL, "the sliding-window cache no longer holds the keys before position %d", n);
    /* they may sit at other slots than after a fresh run of n tokens: the
     * window compares slots only (see swa_make_room), so that changes no
     * number */
    if (n == 0) f->swa_base = 0;
  }
  f->n_past = n;
  return 0;
}

/* ---- the two attention paths ------------------------------------------------ */

/* Replace whichever cache the state had by the given one (an empty cache). */
static void set_caches(dq_fwd *f, dq_kv *kv, dq_kv *kv_swa, dq_attn *at, dq_attn *at_swa, void *kc, void *vc)
{
  dq_kv_free(f->kv);
  dq_kv_free(f->kv_swa);
  f->kv_swa = kv_swa;
  f->swa_base = 0;
  dq_attn_free(f->attn);
  dq_attn_free(f->attn_swa);
  dq_free(f->kc);
  dq_free(f->vc);
  f->kv = kv;
  f->attn = at;
  f->attn_swa = at_swa;
  f->kc = kc;
  f->vc = vc;
  f->n_past = 0;
}

/* Default: the typed cache (kvcache.c) and the tiled online-softmax attention
 * (attn.c), chosen over the llama.cpp-order path below because its attention
 * is 2-3x faster at 4k-32k tokens with scratch independent of the context
 * (bench/bench_attn.c, bench_longctx.c), and it is nearer the exact result:
 * on stories260K (f32 weights, 16 / 400 random tokens) the max |dlogit| from
 * an all-f32 run is 9.3e-3 / 2.9e-2 with an f16 cache, against 1.6e-2 /
 * 3.9e-2 in llama.cpp's order, which rounds the query to f16 and accumulates
 * V in f16 (measured before the parity mode also took llama.cpp's product
 * orders; the f16 roundings dominate). The price: llama.cpp's own logits are
 * 6.1e-3 away on the reference prompt, which DQ_KV_F16_GGML reproduces to
 * the printed digit (tests/unit/engine/test_forward.c). */
static int use_tiled(dq_fwd *f, int type_k, int type_v, int mask, int window, int n_sinks)
{
  const dq_hparams *hp = &f->m->hp;
  int rc;
  dq_attn_params ap;
  dq_attn_params_default(&ap, hp->n_head, hp->n_head_kv, hp->head_dim);
  float theta[DQ_ROPE_MAX_DIMS / 2];
  for (int j = 0; j < hp->n_rot / 2; j++) theta[j] = (float)dq_rope_theta(&f->rope, j);
  ap.n_threads = f->n_threads;
  if (hp->q_scale > 0.0f) ap.scale = 1.0f; /* the queries carry it */
  ap.softcap = hp->attn_softcap;
  ap.mask = mask;
  ap.window = window;
  ap.n_sinks = n_sinks;
  ap.n_rot = hp->n_rot;
  ap.rope_mode = f->rope.p.mode;
  ap.theta = theta;
  dq_kv *kv = NULL, *kv_swa = NULL;
  dq_attn *at = NULL, *at_swa = NULL;
  /* at least one layer, also where every layer slides (fewer layers than one period) */
  const int n_glob = hp->n_layer - hp->n_layer_swa > 0 ? hp->n_layer - hp->n_layer_swa : 1;
  if ((rc = dq_kv_new(&kv, n_glob, f->n_ctx, hp->n_head_kv, hp->head_dim, type_k, type_v)) < 0) return rc;
  if (hp->n_layer_swa) {
    if ((rc = dq_kv_new(&kv_swa, hp->n_layer_swa, dq_fwd_swa_slots(hp, f->n_ctx, f->n_batch), hp->n_head_kv,
                        hp->head_dim, type_k, type_v)) < 0) {
      dq_kv_free(kv);
      return rc;
    }
  }
  if ((rc = dq_attn_new(&at, &ap)) < 0) {
    dq_kv_free(kv);
    dq_kv_free(kv_swa);
    return rc;
  }
  if (hp->n_layer_swa) {
    /* the sliding layers keep their own window: the last n_swa keys, as
     * llama.cpp masks them (p1 - p0 >= n_swa is hidden) */
    dq_attn_params sp = ap;
    sp.mask = DQ_ATTN_SINKS;
    sp.n_sinks = 0;
    sp.window = hp->n_swa;
    sp.theta = NULL;
    if ((rc = dq_attn_new(&at_swa, &sp)) < 0) {
      dq_attn_free(at);
      dq_kv_free(kv);
      dq_kv_free(kv_swa);
      return rc;
    }
  }
  set_caches(f, kv, kv_swa, at, at_swa, NULL, NULL);
  f->attn_mask = mask;
  f->attn_window = window;
  f->attn_sinks = n_sinks;
  return 0;
}

static int use_default_tiled(dq_fwd *f)
{
  const int t = f->kv_type == DQ_KV_F32 ? DQ_T_F32 : DQ_T_F16;
  return use_tiled(f, t, t, DQ_ATTN_CAUSAL, 1, 0);
}

/* The simple path (DQ_KV_F16_GGML only): a plain f16 cache and
 * attention_worker, one (token, head) at a time in llama.cpp's CPU
 * flash-attention rounding order. Kept for what the tiled path cannot serve:
 * logits equal to llama.cpp's (the parity tests). */
static int use_simple(dq_fwd *f)
{
  const dq_hparams *hp = &f->m->hp;
  size_t kv_elems, kv_bytes;
  if (dq_mul_ovf((size_t)hp->n_layer * (size_t)f->n_ctx, (size_t)hp->n_head_kv * hp->head_dim, &kv_elems) ||
      dq_mul_ovf(kv_elems, sizeof(uint16_t), &kv_bytes))
    return dq_err_set(DOCQ_ENOMEM, "KV cache for %d tokens is too large", f->n_ctx);
  void *kc = dq_malloc(kv_bytes), *vc = dq_malloc(kv_bytes);
  if (!kc || !vc) {
    dq_free(kc);
    dq_free(vc);
    return DOCQ_ENOMEM;
  }
  set_caches(f, NULL, NULL, NULL, NULL, kc, vc);
  return 0;
}

int dq_fwd_set_attention(dq_fwd *f, int type_k, int type_v, int mask, int window, int n_sinks)
{
  if (f->k_raw && mask == DQ_ATTN_LAMBDA)
    return dq_err_set(DOCQ_EUNSUPPORTED, "dynamic NTK changes the frequencies the Lambda mask needs fixed");
  return use_tiled(f, type_k, type_v, mask, window, n_sinks);
}

int dq_fwd_set_rope(dq_fwd *f, const dq_rope_params *p)
{
  dq_rope r;
  int rc;
  if ((rc = dq_rope_init_len(&r, p, 0)) < 0) return rc;
  if (p->n_dims != f->m->hp.n_rot)
    return dq_err_set(DOCQ_EINVAL, "rope: %d rotated dims, the model has %d", p->n_dims, f->m->hp.n_rot);
  const int dynamic = dq_rope_is_dynamic(p);
  if (dynamic && f->attn && f->attn_mask == DQ_ATTN_LAMBDA)
    return dq_err_set(DOCQ_EUNSUPPORTED, "dynamic NTK changes the frequencies the Lambda mask needs fixed");
  dq_free(f->k_raw);
  f->k_raw = NULL;
  if (dynamic) {
    const dq_hparams *hp = &f->m->hp;
    size_t n;
    if (dq_mul_ovf((size_t)hp->n_layer * (size_t)f->n_ctx, (size_t)hp->n_head_kv * hp->head_dim * sizeof(float), &n))
      return dq_err_set(DOCQ_ENOMEM, "un-rotated key cache for %d tokens is too large", f->n_ctx);
    if (!(f->k_raw = dq_malloc(n))) return DOCQ_ENOMEM;
  }
  /* in place, so the resolved params' freq_factors point at this copy's ff */
  if ((rc = dq_rope_init_len(&f->rope, p, 0)) < 0) return rc;
  f->n_past = 0;
  return 0;
}

/* ---- attention: the simple path (DQ_KV_F16_GGML) ------------------------------ */

/* This attention follows llama.cpp's CPU flash-attention kernel (one query at a
 * time, online softmax over the cache in position order), because parity
 * with its logits depends on where rounding happens: with an f16 cache the
 * query is rounded to f16 and the weighted sum of V is accumulated in f16,
 * exactly as that kernel does; with an f32 cache everything stays f32. No
 * score buffer is needed, so the cost per token is O(n_past) with O(head_dim)
 * state. */
typedef struct att_job {
  dq_fwd *f;
  int layer, n_tok, pos0;
} att_job;

#ifdef DQ_FWD_AVX2
static inline __m256 ld_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline void st_f16(uint16_t *p, __m256 v)
{
  _mm_storeu_si128((__m128i *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#endif

/* q (already f16-rounded, as f32) . k (f16): ggml's order: a 32-wide body in
 * four accumulators, the tail summed in double. */
static float dot_att_f16(const float *q, const uint16_t *k, int n)
{
  int i = 0;
  double sum = 0.0;
#ifdef DQ_FWD_AVX2
  const int np = n & ~31;
  if (np) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (; i < np; i += 32) {
      a0 = _mm256_fmadd_ps(ld_f16(k + i), _mm256_loadu_ps(q + i), a0);
      a1 = _mm256_fmadd_ps(ld_f16(k + i + 8), _mm256_loadu_ps(q + i + 8), a1);
      a2 = _mm256_fmadd_ps(ld_f16(k + i + 16), _mm256_loadu_ps(q + i + 16), a2);
      a3 = _mm256_fmadd_ps(ld_f16(k + i + 24), _mm256_loadu_ps(q + i + 24), a3);
    }
    a0 = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    h = _mm_hadd_ps(h, h);
    h = _mm_hadd_ps(h, h);
    sum = _mm_cvtss_f32(h);
  }
#else
  /* The same order without AVX2 (the references come from an x86 build of
   * ggml, whatever this build's target): 4 x 8 fused lanes, accumulators
   * (0+2) + (1+3), halves, then two horizontal adds. */
  const int np = n & ~31;
  if (np) {
    float a[4][8] = { { 0 } }, h[4];
    for (; i < np; i += 32)
      for (int j = 0; j < 4; j++)
        for (int e = 0; e < 8; e++) a[j][e] = fmaf(dq_f16_to_f32(k[i + 8 * j + e]), q[i + 8 * j + e], a[j][e]);
    for (int e = 0; e < 8; e++) a[0][e] = (a[0][e] + a[2][e]) + (a[1][e] + a[3][e]);
    for (int e = 0; e < 4; e++) h[e] = a[0][e] + a[0][e + 4];
    sum = (h[0] + h[1]) + (h[2] + h[3]);
  }
#endif
  for (; i < n; i++) sum += (double)(dq_f16_to_f32(k[i]) * q[i]);
  return (float)sum;
}

/* acc (f16) = acc * s */
static void scale_f16(uint16_t *acc, float s, int n)
{
  int i = 0;
#ifdef DQ_FWD_AVX2
  __m256 vs = _mm256_set1_ps(s);
  for (const int np = n & ~31; i < np; i += 8) st_f16(acc + i, _mm256_mul_ps(ld_f16(acc + i), vs));
#endif
  for (; i < n; i++) acc[i] = dq_f32_to_f16(dq_f16_to_f32(acc[i]) * s);
}

/* acc (f16) += v (f16) * s */
static void mad_f16(uint16_t *acc, const uint16_t *v, float s, int n)
{
  int i = 0;
#ifdef DQ_FWD_AVX2
  __m256 vs = _mm256_set1_ps(s);
  for (const int np = n & ~31; i < np; i += 8) st_f16(acc + i, _mm256_fmadd_ps(ld_f16(v + i), vs, ld_f16(acc + i)));
#else
  for (const int np = n & ~31; i < np; i++) /* fused in the body, as the AVX2 kernel */
    acc[i] = dq_f32_to_f16(fmaf(dq_f16_to_f32(v[i]), s, dq_f16_to_f32(acc[i])));
#endif
  for (; i < n; i++) {
    volatile float prod = dq_f16_to_f32(v[i]) * s; /* unfused, as ggml's scalar tail */
    acc[i] = dq_f32_to_f16(dq_f16_to_f32(acc[i]) + prod);
  }
}

/* With a softcap c (> 0), scores are c * tanhf(dot * (scale / c)), as
 * ggml's flash attention folds the cap into the scale. */
static void attend_f16(const float *q, const uint16_t *K, const uint16_t *V, size_t stride, int n_pos, int hd,
                       float scale, float cap, float *out)
{
  float qh[DQ_ROPE_MAX_DIMS];
  uint16_t acc[DQ_ROPE_MAX_DIMS];
  for (int i = 0; i < hd; i++) {
    qh[i] = dq_f16_to_f32(dq_f32_to_f16(q[i]));
    acc[i] = 0;
  }
  float M = -INFINITY, S = 0.0f;
  for (int p = 0; p < n_pos; p++) {
    float s = dot_att_f16(qh, K + (size_t)p * stride, hd) * (cap > 0.0f ? scale / cap : scale);
    if (cap > 0.0f) s = cap * tanhf(s);
    float ms = 1.0f, vs = 1.0f;
    if (s > M) {
      const float Mold = M;
      M = s;
      ms = expf(Mold - M);
      scale_f16(acc, ms, hd);
    } else {
      vs = expf(s - M);
    }
    mad_f16(acc, V + (size_t)p * stride, vs, hd);
    S = fmaf(S, ms, vs); /* fused: llama.cpp's build contracts S*ms + vs to one FMA */
  }
  const float inv = S == 0.0f ? 0.0f : 1.0f / S;
  for (int i = 0; i < hd; i++) out[i] = dq_f16_to_f32(acc[i]) * inv;
}

/* Work items (token t, head h) are dealt round-robin so threads get a mix of
 * short and long causal spans. */
static void attention_worker(void *ctx, int ith, int nth)
{
  const att_job *j = ctx;
  dq_fwd *f = j->f;
  const dq_hparams *hp = &f->m->hp;
  const int hd = hp->head_dim, nh = hp->n_head, gqa = hp->n_head / hp->n_head_kv;
  const size_t nq = (size_t)nh * hd, nkv = (size_t)hp->n_head_kv * hd;
  const size_t layer_off = (size_t)j->layer * (size_t)f->n_ctx * nkv;
  const float scale = hp->q_scale > 0.0f ? 1.0f : 1.0f / sqrtf((float)hd);
  const int window = f->m->layers[j->layer].swa ? hp->n_swa : 0;
  const int items = j->n_tok * nh;
  for (int it = ith; it < items; it += nth) {
    const int t = it / nh, h = it % nh, n_pos = j->pos0 + t + 1;
    const int first = window && n_pos > window ? n_pos - window : 0; /* a sliding layer's oldest key */
    const size_t off = layer_off + (size_t)first * nkv + (size_t)(h / gqa) * hd;
    const float *qv = f->q + (size_t)t * nq + (size_t)h * hd;
    float *o = f->att + (size_t)t * nq + (size_t)h * hd;
    attend_f16(qv, (const uint16_t *)f->kc + off, (const uint16_t *)f->vc + off, nkv, n_pos - first, hd, scale,
               hp->attn_softcap, o);
  }
}

static void store_kv(dq_fwd *f, int layer, int pos, const float *k, const float *v)
{
  const dq_hparams *hp = &f->m->hp;
  const size_t nkv = (size_t)hp->n_head_kv * hp->head_dim;
  const size_t off = ((size_t)layer * (size_t)f->n_ctx + (size_t)pos) * nkv;
  uint16_t *kd = (uint16_t *)f->kc + off, *vd = (uint16_t *)f->vc + off;
  for (size_t i = 0; i < nkv; i++) {
    kd[i] = dq_f32_to_f16(k[i]);
    vd[i] = dq_f32_to_f16(v[i]);
  }
}

/* ---- the pass ----------------------------------------------------------------- */

/* The parity mode (DQ_KV_F16_GGML) sums f32 products in llama.cpp's order
 * (ggml_order.h); every other type and mode uses the fast kernels. */
static int ggml_f32(const dq_fwd *f, const dq_weight *w)
{
  return f->kv_type == DQ_KV_F16_GGML && w->type == DQ_T_F32;
}

static void matmul(dq_fwd *f, const dq_weight *w, const float *x, int n_tok, float *out)
{
  if (ggml_f32(f, w)) {
    dq_ggml_matmul_f32(w->data, w->n_in, w->n_out, x, n_tok, out);
    return;
  }
  dq_matmul(f->pool, w->type, w->data, w->n_in, w->n_out, x, n_tok, out, f->mm_scratch);
}

/* Products sharing one input in one parallel region: a decode step is ~100
 * short pool runs, and each costs a wake-up (more on a loaded machine). */
static void matmul3(dq_fwd *f, const dq_weight *a, const dq_weight *b, const dq_weight *c, const float *x, int n_tok,
                    float *oa, float *ob, float *oc)
{
  const int types[] = {a->type, b->type, c ? c->type : 0};
  const void *ws[] = {a->data, b->data, c ? c->data : NULL};
  if (ggml_f32(f, a) && ggml_f32(f, b) && (!c || ggml_f32(f, c))) {
    matmul(f, a, x, n_tok, oa);
    matmul(f, b, x, n_tok, ob);
    if (c) matmul(f, c, x, n_tok, oc);
    return;
  }
  const int64_t n_outs[] = {a->n_out, b->n_out, c ? c->n_out : 0};
  float *outs[] = {oa, ob, oc};
  dq_matmul_multi(f->pool, c ? 3 : 2, types, ws, n_outs, outs, a->n_in, x, n_tok, f->mm_scratch);
}

/* Decode: name the next product's weights to the pool (dq_pool_hint), so
 * its waiting worker fetches the start of its share through the serial
 * steps before that product. */
static void hint_next(dq_fwd *f, const dq_weight *a, const dq_weight *b, const dq_weight *c)
{
  const dq_weight *ws[3] = {a, b, c};
  const void *ptrs[3];
  size_t lens[3];
  int n = 0;
  for (int i = 0; i < 3; i++)
    if (ws[i] && !ggml_f32(f, ws[i])) {
      ptrs[n] = ws[i]->data;
      lens[n++] = dq_type_row_bytes(ws[i]->type, ws[i]->n_in) * (size_t)ws[i]->n_out;
    }
  if (n) dq_pool_hint(f->pool, n, ptrs, lens);
}

static void add_bias(float *y, const float *b, int n_tok, int n)
{
  if (!b) return;
  for (int t = 0; t < n_tok; t++)
    for (int i = 0; i < n; i++) y[(size_t)t * n + i] += b[i];
}

/* hg = act(hg) * hu for T tokens: the gated FFN's activation, SiLU with
 * llama.cpp's vector e^x or GELU through ggml's table (ggml_order.h),
 * tokens shared among the pool's threads when there are several */
typedef struct {
  void (*act)(float *gate, const float *up, int64_t n);
  float *hg;
  const float *hu;
  int64_t nff;
  int T;
} gated_job;

static void gated_worker(void *ctx, int ith, int nth)
{
  const gated_job *j = ctx;
  for (int t = ith; t < j->T; t += nth) j->act(j->hg + (size_t)t * j->nff, j->hu + (size_t)t * j->nff, j->nff);
}

static void gated_act(dq_fwd *f, int T)
{
  gated_job job = { f->m->hp.act == DQ_ACT_GELU ? dq_ggml_geglu : dq_ggml_swiglu, f->hg, f->hu, f->m->hp.n_ff, T };
  if (T < 4) gated_worker(&job, 0, 1); /* decode: a pool run costs more than the work */
  else dq_pool_run(f->pool, gated_worker, &job);
}

/* logits = c * tanh(logits / c) (final_logit_softcapping; c <= 0: none), in
 * ggml's steps: scale, tanh, scale. */
static void softcap(float *logits, size_t n, float c)
{
  if (!(c > 0.0f)) return;
  const float inv = 1.0f / c;
  for (size_t i = 0; i < n; i++) logits[i] = tanhf(logits[i] * inv) * c;
}

/* Room in the sliding layers' cache for T more tokens: when they would run
 * past its end, the last W - 1 keys (all a coming query can see) move to the
 * front. Keys stay rotated at their true positions, and a window only
 * compares slots, so nothing else changes. */
static void swa_make_room(dq_fwd *f, int T)
{
  dq_kv *kv = f->kv_swa;
  if (f->n_past + T - f->swa_base <= kv->n_ctx) return;
  int keep = f->n_past - (f->m->hp.n_swa - 1);
  if (keep < f->swa_base) keep = f->swa_base;
  dq_kv_move_to_front(kv, keep - f->swa_base, f->n_past - keep);
  f->swa_base = keep;
}

/* One batch of T <= n_batch tokens (already validated). */
static void eval_batch(dq_fwd *f, const int32_t *toks, int T, float *all_logits)
{
  const dq_model *m = f->m;
  const dq_hparams *hp = &m->hp;
  const int d = hp->n_embd, hd = hp->head_dim, nq = hp->n_head * hd, nkv = hp->n_head_kv * hd;
  const int pos0 = f->n_past;
  const size_t emb_row = dq_type_row_bytes(m->tok_embd.type, d);

  for (int t = 0; t < T; t++) {
    float *xt = f->x + (size_t)t * d;
    dq_dequant_row(m->tok_embd.type, (const uint8_t *)m->tok_embd.data + (size_t)toks[t] * emb_row, xt, d);
    if (hp->embd_scale > 0.0f)
      for (int i = 0; i < d; i++) xt[i] *= hp->embd_scale;
    dq_rope_cache(&f->rope, pos0 + t, f->cs + (size_t)t * hp->n_rot);
    if (f->cs_swa) dq_rope_cache(&f->rope_swa, pos0 + t, f->cs_swa + (size_t)t * hp->n_rot);
  }
  if (f->kv_swa) swa_make_room(f, T);
  for (int l = 0; l < hp->n_layer; l++) {
    const dq_layer *L = &m->layers[l];
    /* the layer's typed cache and the position of its slot 0 */
    dq_kv *kv = L->swa && f->kv_swa ? f->kv_swa : f->kv;
    const int li = f->kv_layer[l], base = L->swa && f->kv_swa ? f->swa_base : 0;
    for (int t = 0; t < T; t++) rmsnorm(f->xb + (size_t)t * d, f->x + (size_t)t * d, L->attn_norm, d, hp->rms_eps);
    matmul3(f, &L->wq, &L->wk, &L->wv, f->xb, T, f->q, f->k, f->v);
    if (T == 1) hint_next(f, &L->wo, NULL, NULL);
    add_bias(f->q, L->bq, T, nq);
    add_bias(f->k, L->bk, T, nkv);
    add_bias(f->v, L->bv, T, nkv);
    if (L->q_norm) head_norms(f->q, L->q_norm, T * hp->n_head, hd, hp->rms_eps);
    if (L->k_norm) head_norms(f->k, L->k_norm, T * hp->n_head_kv, hd, hp->rms_eps);
    if (f->k_raw) /* dynamic NTK: keep the keys before RoPE for later re-rotation */
      memcpy(f->k_raw + ((size_t)l * f->n_ctx + (size_t)pos0) * nkv, f->k, (size_t)T * nkv * sizeof(float));
    const dq_rope *rope = L->swa ? &f->rope_swa : &f->rope;
    for (int t = 0; t < T; t++) {
      const float *cs = (L->swa ? f->cs_swa : f->cs) + (size_t)t * hp->n_rot;
      float *qt = f->q + (size_t)t * nq;
      if (!L->no_rope) {
        dq_rope_apply(rope, qt, hp->n_head, hd, cs);
        dq_rope_apply(rope, f->k + (size_t)t * nkv, hp->n_head_kv, hd, cs);
      }
      if (hp->q_scale > 0.0f)
        for (int i = 0; i < nq; i++) qt[i] *= hp->q_scale;
      if (kv) dq_kv_write(kv, li, pos0 + t - base, f->k + (size_t)t * nkv, f->v + (size_t)t * nkv);
      else store_kv(f, l, pos0 + t, f->k + (size_t)t * nkv, f->v + (size_t)t * nkv);
    }
    att_job job = {f, l, T, pos0};
    /* a decode step over a short cache is a few microseconds of work: waking
     * the pool for it costs more than it saves */
    const int small = (int64_t)T * hp->n_head * (pos0 + T) * hd < (1 << 18);
    if (f->attn) /* shapes checked at setup; results do not depend on the thread count */
      dq_attn_run(L->swa ? f->attn_swa : f->attn, small ? NULL : f->pool, kv, li, f->q, T, pos0 - base, f->att);
    else if (small) attention_worker(&job, 0, 1);
    else dq_pool_run(f->pool, attention_worker, &job);
    matmul(f, &L->wo, f->att, T, f->xo);
    if (T == 1) hint_next(f, &L->w_gate, &L->w_up, NULL);
    if (L->attn_post_norm)
      for (int t = 0; t < T; t++) rmsnorm(f->xo + (size_t)t * d, f->xo + (size_t)t * d, L->attn_post_norm, d, hp->rms_eps);
    for (size_t i = 0; i < (size_t)T * d; i++) f->x[i] += f->xo[i];

    for (int t = 0; t < T; t++) rmsnorm(f->xb + (size_t)t * d, f->x + (size_t)t * d, L->ffn_norm, d, hp->rms_eps);
    matmul3(f, &L->w_gate, &L->w_up, NULL, f->xb, T, f->hg, f->hu, NULL);
    if (T == 1) hint_next(f, &L->w_down, NULL, NULL);
    gated_act(f, T);
    matmul(f, &L->w_down, f->hg, T, f->xo);
    if (T == 1) {
      const dq_layer *N = l + 1 < hp->n_layer ? &m->layers[l + 1] : NULL;
      if (N) hint_next(f, &N->wq, &N->wk, &N->wv);
      else hint_next(f, &m->output, NULL, NULL);
    }
    if (L->ffn_post_norm)
      for (int t = 0; t < T; t++) rmsnorm(f->xo + (size_t)t * d, f->xo + (size_t)t * d, L->ffn_post_norm, d, hp->rms_eps);
    for (size_t i = 0; i < (size_t)T * d; i++) f->x[i] += f->xo[i];
  }
  if (all_logits) {
    for (int t = 0; t < T; t++) rmsnorm(f->xb + (size_t)t * d, f->x + (size_t)t * d, m->output_norm, d, hp->rms_eps);
    matmul(f, &m->output, f->xb, T, all_logits);
    softcap(all_logits, (size_t)T * hp->n_vocab, hp->final_softcap);
    memcpy(f->logits, all_logits + (size_t)(T - 1) * hp->n_vocab, (size_t)hp->n_vocab * sizeof(float));
  } else {
    rmsnorm(f->xb, f->x + (size_t)(T - 1) * d, m->output_norm, d, hp->rms_eps);
    matmul(f, &m->output, f->xb, 1, f->logits);
    softcap(f->logits, (size_t)hp->n_vocab, hp->final_softcap);
    /* the next token starts with layer 0's q/k/v, after sampling */
    if (T == 1) hint_next(f, &m->layers[0].wq, &m->layers[0].wk, &m->layers[0].wv);
  }
  f->n_past += T;
}

/* Dynamic NTK: the base for the length after this call (HF computes it per
 * forward call from the last position + 1); when it changed, every cached key
 * is rotated afresh from its un-rotated copy, so old keys and new queries use
 * the same base. Exact (no drift): each rotation starts from the raw key. */
static void rerotate_cache(dq_fwd *f)
{
  const dq_hparams *hp = &f->m->hp;
  const size_t nkv = (size_t)hp->n_head_kv * hp->head_dim;
  for (int p = 0; p < f->n_past; p++) {
    dq_rope_cache(&f->rope, p, f->cs);
    for (int l = 0; l < hp->n_layer; l++) {
      /* NoPE keys were never rotated; a sliding layer's RoPE does not grow */
      if (f->m->layers[l].no_rope || f->m->layers[l].swa) continue;
      const size_t off = ((size_t)l * (size_t)f->n_ctx + (size_t)p) * nkv;
      memcpy(f->k, f->k_raw + off, nkv * sizeof(float));
      dq_rope_apply(&f->rope, f->k, hp->n_head_kv, hp->head_dim, f->cs);
      if (f->kv) {
        dq_kv_write_k(f->kv, f->kv_layer[l], p, f->k);
      } else {
        uint16_t *kd = (uint16_t *)f->kc + off;
        for (size_t i = 0; i < nkv; i++) kd[i] = dq_f32_to_f16(f->k[i]);
      }
    }
  }
}

int dq_fwd_eval(dq_fwd *f, const int32_t *toks, int n, float *all_logits)
{
  return dq_fwd_eval_stop(f, toks, n, all_logits, NULL, NULL);
}

int dq_fwd_eval_stop(dq_fwd *f, const int32_t *toks, int n, float *all_logits, int (*stop)(void *), void *stop_arg)
{
  const int nv = f->m->hp.n_vocab;
  if (n <= 0) return dq_err_set(DOCQ_EINVAL, "no tokens to evaluate");
  if (n > f->n_ctx - f->n_past)
    return dq_err_set(DOCQ_EINVAL, "context full: %d tokens in cache, %d more do not fit in %d", f->n_past, n,
                      f->n_ctx);
  for (int i = 0; i < n; i++)
    if (toks[i] < 0 || toks[i] >= nv) return dq_err_set(DOCQ_EINVAL, "token id %d out of range (vocabulary %d)", toks[i], nv);
  if (f->k_raw && dq_rope_set_len(&f->rope, (int64_t)f->n_past + n) && f->n_past > 0) rerotate_cache(f);
  for (int i = 0; i < n; i += f->n_batch) {
    if (stop && stop(stop_arg)) return dq_err_set(DOCQ_ECANCELED, "interrupted after %d of %d tokens", i, n);
    int T = n - i < f->n_batch ? n - i : f->n_batch;
    eval_batch(f, toks + i, T, all_logits ? all_logits + (size_t)i * nv : NULL);
  }
  return 0;
}
