/* Tests for perplexity (docq_perplexity, llama-perplexity's protocol), the
 * per-context RoPE options and dynamic NTK's cache consistency, on
 * stories260K ($DOCQ_SHARED_DIR/models; exit 77 without it).
 *
 * The PPL check is a hand computation from the model's own logits: the
 * chunks are evaluated here through the public API, the log-softmax is done
 * in long double, and the protocol's choices (BOS replacing the first token,
 * only positions N/2 .. N-2 scored, token-weighted mean, llama.cpp's error
 * formula) are applied independently of src/api/model.c. */
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

#include "docq.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "engine/rope.h"
#include "gguf_writer.h"

static char g_model[1024];

static const char *TEXT =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
  "One day, she saw a big, red ball. She ran to get it, but a dog took it first. Lily was sad. "
  "Then her mom came and gave her a new ball. Lily smiled and said thank you to her mom.";

static int cancel_after_first(int chunk, double running, void *payload)
{
  (void)running;
  (void)payload;
  return chunk >= 0;
}

static void test_engine_ppl__matches_hand_computation(void **state)
{
  (void)state;
  docq_model *m = NULL;
  assert_int_equal(docq_model_load(&m, g_model), 0);
  docq_model_meta meta;
  assert_int_equal(docq_model_get_meta(m, &meta), 0);
  assert_int_equal(meta.add_bos, 1);
  assert_int_equal(meta.bos, 1);
  int32_t ids[256];
  long n = docq_tokenize(m, TEXT, strlen(TEXT), 0, ids + 1, 255);
  assert_true(n > 60 && n < 255);
  ids[0] = meta.bos;
  n += 1;
  const int N = 16;
  docq_ctx_options o;
  assert_int_equal(docq_ctx_options_init(&o, DOCQ_CTX_OPTIONS_VERSION), 0);
  o.n_ctx = N;
  o.n_threads = 1;
  o.cache_type_k = o.cache_type_v = "f32";
  docq_ctx *c = NULL;
  assert_int_equal(docq_ctx_new_ext(&c, m, &o), 0);
  docq_ppl r;
  assert_int_equal(docq_perplexity(c, ids, (size_t)n, 0, NULL, NULL, &r), 0);

  const int n_chunk = (int)(n / N), nv = meta.n_vocab;
  float *lg = malloc((size_t)N * nv * sizeof *lg);
  assert_non_null(lg);
  long double s = 0, s2 = 0;
  long cnt = 0;
  for (int ci = 0; ci < n_chunk; ci++) {
    int32_t chunk[16];
    memcpy(chunk, ids + ci * N, sizeof chunk);
    chunk[0] = meta.bos;
    assert_int_equal(docq_ctx_eval(c, chunk, N, 1, lg), 0);
    for (int k = N / 2; k <= N - 2; k++) {
      const float *row = lg + (size_t)k * nv;
      long double mx = row[0], z = 0;
      for (int i = 1; i < nv; i++) mx = row[i] > mx ? row[i] : mx;
      for (int i = 0; i < nv; i++) z += expl((long double)row[i] - mx);
      long double x = -(((long double)row[ids[ci * N + k + 1]] - mx) - logl(z));
      s += x;
      s2 += x * x;
      cnt++;
    }
  }
  assert_int_equal(r.chunks, n_chunk);
  assert_int_equal(r.scored, cnt);
  assert_int_equal(cnt, (long)n_chunk * (N - 1 - N / 2)); /* 7 per chunk of 16 */
  long double mean = s / cnt, ppl = expl(mean);
  long double err = sqrtl((s2 / cnt - mean * mean) / (cnt - 1)) * ppl;
  assert_true(fabs(r.mean_nll - (double)mean) < 1e-6);
  assert_true(fabs(r.ppl - (double)ppl) < 1e-6 * (double)ppl);
  assert_true(fabs(r.err - (double)err) < 1e-5 * (double)err);
  /* a plausible value for a trained model on its own kind of text */
  assert_true(r.ppl > 1.0 && r.ppl < 20.0);

  /* scoring the first token of each chunk, or not replacing it with BOS,
   * would give another number: the protocol choices are visible */
  assert_int_equal(docq_perplexity(c, ids, (size_t)n, 2, NULL, NULL, &r), 0);
  assert_int_equal(r.chunks, 2);
  assert_int_equal(r.scored, 14);
  assert_int_equal(docq_perplexity(c, ids, (size_t)n, 0, cancel_after_first, NULL, &r), DOCQ_ECANCELED);
  assert_int_equal(r.chunks, 1);
  assert_int_equal(docq_perplexity(c, ids, 2 * N - 1, 0, NULL, NULL, &r), DOCQ_EINVAL);
  free(lg);
  docq_ctx_free(c);
  docq_model_free(m);
}

/* Options: validation, and the effective settings they describe. */
static void test_engine_ppl__ctx_options(void **state)
{
  (void)state;
  docq_model *m = NULL;
  assert_int_equal(docq_model_load(&m, g_model), 0);
  docq_ctx_options o;
  docq_ctx *c = NULL;
  assert_int_equal(docq_ctx_options_init(&o, 999), DOCQ_EVERSION);
  assert_int_equal(docq_ctx_options_init(&o, DOCQ_CTX_OPTIONS_VERSION), 0);
  o.rope_scaling = 17;
  assert_int_equal(docq_ctx_new_ext(&c, m, &o), DOCQ_EINVAL);
  o.rope_scaling = DOCQ_ROPE_SCALING_FILE;
  o.cache_type_k = "q9";
  assert_int_equal(docq_ctx_new_ext(&c, m, &o), DOCQ_EINVAL);
  o.cache_type_k = NULL;
  o.rope_freq_base = -1.0f;
  assert_int_equal(docq_ctx_new_ext(&c, m, &o), DOCQ_EINVAL);
  assert_null(c);

  /* YaRN x4 from 512 on an 8-dim head: ramp 0..2, m = 0.1 ln 4 + 1 */
  assert_int_equal(docq_ctx_options_init(&o, DOCQ_CTX_OPTIONS_VERSION), 0);
  o.n_ctx = 2048;
  o.rope_scaling = DOCQ_ROPE_SCALING_YARN;
  o.rope_scale = 4.0f;
  o.yarn_orig_ctx = 512;
  char *d = docq_model_rope_describe(m, &o);
  assert_non_null(d);
  assert_non_null(strstr(d, "yarn x4 (original context 512)"));
  assert_non_null(strstr(d, "attention factor 1.1386"));
  docq_free(d);
  /* freq_scale wins over rope_scale (llama.cpp) */
  o.rope_freq_scale = 0.5f;
  d = docq_model_rope_describe(m, &o);
  assert_non_null(strstr(d, "yarn x2 "));
  docq_free(d);
  /* NTK: base 1e4 * 4^(8/6) */
  o.rope_freq_scale = 0;
  o.rope_scaling = DOCQ_ROPE_SCALING_NTK;
  d = docq_model_rope_describe(m, &o);
  assert_non_null(strstr(d, "ntk x4"));
  assert_non_null(strstr(d, "-> 63496.0"));
  docq_free(d);
  /* the file as it is */
  d = docq_model_rope_describe(m, NULL);
  assert_non_null(strstr(d, "none (original context 2048), base 10000"));
  docq_free(d);

  /* per-request choice: fits -> none; beyond the given original -> YaRN with
   * the smallest factor; the context built from it says so */
  char why[160];
  assert_int_equal(docq_ctx_options_init(&o, DOCQ_CTX_OPTIONS_VERSION), 0);
  o.yarn_orig_ctx = 512;
  assert_int_equal(docq_ctx_options_fit(m, 400, &o, why, sizeof why), 0);
  assert_int_equal(o.rope_scaling, DOCQ_ROPE_SCALING_NONE);
  assert_int_equal(o.n_ctx, 400);
  assert_string_equal(why, "none (400 tokens fit the original 512)");
  assert_int_equal(docq_ctx_options_fit(m, 1500, &o, why, sizeof why), 0);
  assert_int_equal(o.rope_scaling, DOCQ_ROPE_SCALING_YARN);
  assert_true(o.rope_scale * 512.0 >= 1500.0 && o.rope_scale < 2.93f);
  assert_int_equal(o.n_ctx, 1500);
  assert_string_equal(why, "yarn x2.93 (1500 tokens > original 512)");
  assert_int_equal(docq_ctx_new_ext(&c, m, &o), 0);
  d = docq_ctx_describe(c);
  assert_non_null(strstr(d, "context 1500 tokens, rope yarn x2.92"));
  docq_free(d);
  docq_ctx_free(c);
  docq_model_free(m);
}

/* Dynamic NTK: inside the original context it is plain RoPE (same logits);
 * after the length grows, every cached key is rotated with the current base,
 * i.e. equals its un-rotated copy rotated now (not under the old base). */
static void test_engine_ppl__dynamic_ntk_cache_consistent(void **state)
{
  (void)state;
  dq_model *m = NULL;
  assert_int_equal(dq_model_load(&m, g_model), 0);
  const dq_hparams *hp = &m->hp;
  const int L = 64, n_ctx = 256, nv = hp->n_vocab;
  int32_t toks[200];
  for (int i = 0; i < 200; i++) toks[i] = 3 + (i * 37) % (nv - 3);
  toks[0] = 1;
  dq_fwd *a = NULL, *b = NULL;
  assert_int_equal(dq_fwd_new(&a, m, n_ctx, 32, 1, DQ_KV_F32), 0);
  assert_int_equal(dq_fwd_new(&b, m, n_ctx, 32, 1, DQ_KV_F32), 0);
  dq_rope_params p = hp->rope;
  p.scaling = DQ_ROPE_SCALING_DYNAMIC_NTK;
  p.freq_scale = 1.0f;
  p.n_ctx_orig = L;
  assert_int_equal(dq_fwd_set_rope(b, &p), 0);
  assert_non_null(b->k_raw);
  assert_null(a->k_raw);
  /* inside L: bit-identical to the file's (plain) RoPE */
  assert_int_equal(dq_fwd_eval(a, toks, 40, NULL), 0);
  assert_int_equal(dq_fwd_eval(b, toks, 40, NULL), 0);
  assert_memory_equal(a->logits, b->logits, (size_t)nv * sizeof(float));
  /* grow past L in two steps; the base changes at each */
  assert_int_equal(dq_fwd_eval(b, toks + 40, 60, NULL), 0); /* length 100 */
  float base100 = b->rope.base;
  assert_true(base100 > hp->rope.freq_base);
  assert_int_equal(dq_fwd_eval(b, toks + 100, 1, NULL), 0); /* length 101 */
  assert_true(b->rope.base > base100);
  const size_t nkv = (size_t)hp->n_head_kv * hp->head_dim;
  float k[512], cs[512];
  dq_rope old;
  dq_rope_params po = p;
  assert_int_equal(dq_rope_init_len(&old, &po, 100), 0);
  int stale_differs = 0;
  for (int l = 0; l < hp->n_layer; l++)
    for (int pos = 0; pos < 101; pos++) {
      const size_t off = ((size_t)l * n_ctx + pos) * nkv;
      memcpy(k, b->k_raw + off, nkv * sizeof(float));
      dq_rope_cache(&b->rope, pos, cs);
      dq_rope_apply(&b->rope, k, hp->n_head_kv, hp->head_dim, cs);
      assert_memory_equal(k, (const float *)b->kv->k + off, nkv * sizeof(float));
      /* what a post-RoPE cache without re-rotation would hold */
      memcpy(k, b->k_raw + off, nkv * sizeof(float));
      dq_rope_cache(&old, pos, cs);
      dq_rope_apply(&old, k, hp->n_head_kv, hp->head_dim, cs);
      stale_differs |= memcmp(k, (const float *)b->kv->k + off, nkv * sizeof(float)) != 0;
    }
  assert_true(stale_differs);
  /* a short sequence afterwards gets the original base back: same logits as plain */
  dq_fwd_reset(a);
  dq_fwd_reset(b);
  assert_int_equal(dq_fwd_eval(a, toks, 30, NULL), 0);
  assert_int_equal(dq_fwd_eval(b, toks, 30, NULL), 0);
  assert_memory_equal(a->logits, b->logits, (size_t)nv * sizeof(float));
  dq_fwd_free(a);
  dq_fwd_free(b);
  dq_model_free(m);
}

/* phi3 = qwen2 without biases, with fused attn_qkv (q, k, v rows) and ffn_up
 * (gate rows, then up rows, as ggml_swiglu splits it) tensors, and LongRoPE
 * factor tensors chosen per context. A phi3 file is written from the
 * weights of a random qwen2 model; with the qwen2 biases dropped both must
 * give identical logits. */
static void test_engine_ppl__phi3_fused_tensors_and_longrope(void **state)
{
  (void)state;
  dq_gw_model_params mp;
  dq_gw_model_params_default(&mp);
  mp.arch = "qwen2";
  mp.n_embd = 64;
  mp.n_head = 4;
  mp.n_head_kv = 2;
  mp.n_ff = 96;
  mp.n_vocab = 320;
  mp.n_ctx = 256;
  mp.weight_type = DQ_T_F32;
  mp.seed = 7;
  uint8_t *qbuf = NULL, *pbuf = NULL;
  size_t qn = 0, pn = 0;
  dq_gw *w = NULL;
  assert_int_equal(dq_gw_model(&w, &mp), 0);
  assert_int_equal(dq_gw_write_mem(w, &qbuf, &qn), 0);
  dq_gw_free(w);
  dq_model *q = NULL, *ph = NULL;
  assert_int_equal(dq_model_from_buffer(&q, qbuf, qn), 0);
  const dq_hparams *hp = &q->hp;
  const int64_t d = hp->n_embd, hd = hp->head_dim, nq = hp->n_head * hd, nkv = hp->n_head_kv * hd, ff = hp->n_ff;

  assert_non_null(w = dq_gw_new());
  assert_int_equal(dq_gw_add_str(w, "general.architecture", "phi3"), 0);
  assert_int_equal(dq_gw_add_u32(w, "phi3.context_length", 256), 0);
  assert_int_equal(dq_gw_add_u32(w, "phi3.embedding_length", (uint32_t)d), 0);
  assert_int_equal(dq_gw_add_u32(w, "phi3.block_count", (uint32_t)hp->n_layer), 0);
  assert_int_equal(dq_gw_add_u32(w, "phi3.feed_forward_length", (uint32_t)ff), 0);
  assert_int_equal(dq_gw_add_u32(w, "phi3.attention.head_count", (uint32_t)hp->n_head), 0);
  assert_int_equal(dq_gw_add_u32(w, "phi3.attention.head_count_kv", (uint32_t)hp->n_head_kv), 0);
  assert_int_equal(dq_gw_add_f32(w, "phi3.attention.layer_norm_rms_epsilon", hp->rms_eps), 0);
  assert_int_equal(dq_gw_add_f32(w, "phi3.rope.freq_base", hp->rope.freq_base), 0);
  assert_int_equal(dq_gw_add_u32(w, "phi3.rope.scaling.original_context_length", 64), 0);
  int64_t ne[2] = {d, hp->n_vocab};
  assert_int_equal(dq_gw_add_tensor(w, "token_embd.weight", DQ_T_F32, 2, ne, q->tok_embd.data), 0);
  ne[1] = 1;
  assert_int_equal(dq_gw_add_tensor(w, "output_norm.weight", DQ_T_F32, 1, ne, q->output_norm), 0);
  ne[1] = hp->n_vocab;
  assert_int_equal(dq_gw_add_tensor(w, "output.weight", DQ_T_F32, 2, ne, q->output.data), 0);
  float *buf = malloc((size_t)(nq + 2 * nkv + 2 * ff) * (size_t)(d > ff ? d : ff) * sizeof(float));
  assert_non_null(buf);
  char nm[96];
  for (int l = 0; l < hp->n_layer; l++) {
    const dq_layer *L = &q->layers[l];
    ne[0] = d;
    ne[1] = 1;
    snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", l);
    assert_int_equal(dq_gw_add_tensor(w, nm, DQ_T_F32, 1, ne, L->attn_norm), 0);
    snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", l);
    assert_int_equal(dq_gw_add_tensor(w, nm, DQ_T_F32, 1, ne, L->ffn_norm), 0);
    memcpy(buf, L->wq.data, (size_t)(nq * d) * sizeof(float));
    memcpy(buf + nq * d, L->wk.data, (size_t)(nkv * d) * sizeof(float));
    memcpy(buf + (nq + nkv) * d, L->wv.data, (size_t)(nkv * d) * sizeof(float));
    ne[1] = nq + 2 * nkv;
    snprintf(nm, sizeof nm, "blk.%d.attn_qkv.weight", l);
    assert_int_equal(dq_gw_add_tensor(w, nm, DQ_T_F32, 2, ne, buf), 0);
    ne[0] = nq;
    ne[1] = d;
    snprintf(nm, sizeof nm, "blk.%d.attn_output.weight", l);
    assert_int_equal(dq_gw_add_tensor(w, nm, DQ_T_F32, 2, ne, L->wo.data), 0);
    memcpy(buf, L->w_gate.data, (size_t)(ff * d) * sizeof(float));
    memcpy(buf + ff * d, L->w_up.data, (size_t)(ff * d) * sizeof(float));
    ne[0] = d;
    ne[1] = 2 * ff;
    snprintf(nm, sizeof nm, "blk.%d.ffn_up.weight", l);
    assert_int_equal(dq_gw_add_tensor(w, nm, DQ_T_F32, 2, ne, buf), 0);
    ne[0] = ff;
    ne[1] = d;
    snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l);
    assert_int_equal(dq_gw_add_tensor(w, nm, DQ_T_F32, 2, ne, L->w_down.data), 0);
  }
  /* LongRoPE factors: short = 1 (plain), long = 2 on every pair (= PI x2) */
  float fs[64], fl[64];
  for (int j = 0; j < hp->n_rot / 2; j++) {
    fs[j] = 1.0f;
    fl[j] = 2.0f;
  }
  ne[0] = hp->n_rot / 2;
  ne[1] = 1;
  assert_int_equal(dq_gw_add_tensor(w, "rope_factors_short.weight", DQ_T_F32, 1, ne, fs), 0);
  assert_int_equal(dq_gw_add_tensor(w, "rope_factors_long.weight", DQ_T_F32, 1, ne, fl), 0);
  assert_int_equal(dq_gw_write_mem(w, &pbuf, &pn), 0);
  dq_gw_free(w);
  free(buf);
  assert_int_equal(dq_model_from_buffer(&ph, pbuf, pn), 0);
  assert_int_equal(ph->hp.arch, DQ_ARCH_PHI3);
  assert_int_equal(ph->hp.rope.mode, DQ_ROPE_NEOX);
  assert_non_null(ph->hp.rope_long);

  /* qwen2 with its biases dropped is the phi3 computation */
  for (int l = 0; l < hp->n_layer; l++) q->layers[l].bq = q->layers[l].bk = q->layers[l].bv = NULL;
  int32_t toks[40];
  for (int i = 0; i < 40; i++) toks[i] = (i * 53 + 11) % hp->n_vocab;
  dq_fwd *a = NULL, *b = NULL;
  assert_int_equal(dq_fwd_new(&a, q, 64, 16, 1, DQ_KV_F32), 0);
  assert_int_equal(dq_fwd_new(&b, ph, 64, 16, 1, DQ_KV_F32), 0);
  dq_rope_params rp;
  assert_int_equal(dq_model_rope_params(ph, NULL, 64, &rp), 0);
  assert_ptr_equal(rp.freq_factors, ph->hp.rope_short); /* n_ctx <= original: short */
  assert_int_equal(dq_fwd_set_rope(b, &rp), 0);
  assert_int_equal(dq_fwd_eval(a, toks, 40, NULL), 0);
  assert_int_equal(dq_fwd_eval(b, toks, 40, NULL), 0);
  assert_memory_equal(a->logits, b->logits, (size_t)hp->n_vocab * sizeof(float));

  /* a context beyond the original 64 takes the long factors: here they
   * halve every frequency, i.e. linear x2 on the qwen2 twin */
  assert_int_equal(dq_model_rope_params(ph, NULL, 128, &rp), 0);
  assert_ptr_equal(rp.freq_factors, ph->hp.rope_long);
  assert_int_equal(dq_fwd_set_rope(b, &rp), 0);
  dq_rope_params lin = q->hp.rope;
  lin.scaling = DQ_ROPE_SCALING_LINEAR;
  lin.freq_scale = 0.5f;
  assert_int_equal(dq_fwd_set_rope(a, &lin), 0);
  assert_int_equal(dq_fwd_eval(a, toks, 40, NULL), 0);
  assert_int_equal(dq_fwd_eval(b, toks, 40, NULL), 0);
  for (int i = 0; i < hp->n_vocab; i++) assert_true(fabsf(a->logits[i] - b->logits[i]) < 1e-4f);
  dq_fwd_free(a);
  dq_fwd_free(b);
  dq_model_free(ph);
  dq_model_free(q);
  dq_free(pbuf);
  dq_free(qbuf);
}

int main(void)
{
  const char *d = getenv("DOCQ_SHARED_DIR");
  if (!d || !*d) {
    fprintf(stderr, "DOCQ_SHARED_DIR not set: the perplexity tests need models/stories260K.gguf\n");
    return 77;
  }
  snprintf(g_model, sizeof g_model, "%s/models/stories260K.gguf", d);
  if (access(g_model, R_OK) != 0) {
    fprintf(stderr, "%s is missing: skipping\n", g_model);
    return 77;
  }
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_ppl__matches_hand_computation),
    cmocka_unit_test(test_engine_ppl__ctx_options),
    cmocka_unit_test(test_engine_ppl__dynamic_ntk_cache_consistent),
    cmocka_unit_test(test_engine_ppl__phi3_fused_tensors_and_longrope),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
