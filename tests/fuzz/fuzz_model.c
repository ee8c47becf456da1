/* Fuzz target for the model loader and the forward pass: any bytes go to
 * dq_model_from_buffer, which must fail with an error code and a message, or
 * give a model whose hyperparameters, tensor shapes and RoPE settings the
 * engine can run. A model that loads then runs: dq_fwd_new (16-token
 * context, batches of 4), a prompt of 6 tokens (two batches, so both the
 * batched and the one-token paths), 2 decoded tokens, each the choice of a
 * sampler over the logits before it (greedy, then temperature with top-k,
 * top-p, min-p and a repetition penalty: broken weights give NaN or
 * infinite logits, and the choice must still be a token id), and the RoPE
 * parameters for a context far past the trained one. fuzz_gguf
 * covers the GGUF reader itself; this covers what the loader builds on it
 * (hyperparameter keys of the wrong type or out of range, shapes that
 * disagree, RoPE scaling values, tied or missing outputs), and that a load
 * for description (DQ_LOAD_INFO) agrees with it (info_load).
 *
 * Resource caps: inputs above 1 MiB are ignored, and a model that loads
 * but would cost more than DQ_FUZZ_MAX_MACS multiply-adds per token (or
 * has more than 64 layers) is freed without running: the fuzzer should
 * spend its time on shapes, not on arithmetic.
 *
 * The input is copied to a 64-byte aligned buffer first, as a file's
 * mapping is page-aligned (the reader checks tensor offsets relative to the
 * file's start).
 *
 * The seed corpus (tests/fuzz/corpus/model/) holds tiny models of each
 * architecture (phi3 with LongRoPE factors, with and without a sliding
 * window) and 32-element weight type, and copies with one hyperparameter
 * set to an edge value, or a tensor's type set to one docq does not run.
 * Rewrite it with:
 *   gcc -std=c11 -D_GNU_SOURCE -DFUZZ_MODEL_WRITE_CORPUS -I. -Isrc -Iinclude -Itests \
 *     tests/fuzz/fuzz_model.c tests/support/gguf_writer.c build/libdocq.a \
 *     -lsqlite3 -lutf8proc -lfaiss_c -lfaiss -lopenblas -lgomp -lstdc++ -lm -lpthread \
 *     -o /tmp/gen_model && /tmp/gen_model tests/fuzz/corpus/model
 * (with -L for libfaiss_c where the setup step built it, .deps/lib). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/forward.h"
#include "engine/model.h"
#include "engine/sample.h"
#include "util/err.h"

#define DQ_FUZZ_MAX_INPUT ((size_t)1 << 20)
#define DQ_FUZZ_MAX_MACS 4000000.0

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile float sink;

/* Multiply-adds of one token through the model, from the loaded shapes. */
static double macs_per_token(const dq_model *m)
{
  double s = (double)m->output.n_in * (double)m->output.n_out;
  for (int l = 0; l < m->hp.n_layer; l++) {
    const dq_layer *L = &m->layers[l];
    const dq_weight *w[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    for (int i = 0; i < 7; i++) s += (double)w[i]->n_in * (double)w[i]->n_out;
  }
  return s;
}

static void run_model(const dq_model *m)
{
  const int nv = m->hp.n_vocab;
  dq_fwd *f;
  if (dq_fwd_new(&f, m, 16, 4, 1, DQ_KV_F16) < 0) {
    if (!dq_err_msg()[0]) abort(); /* every failure says why */
    return;
  }
  const int32_t prompt[6] = {0, 1 % nv, 2 % nv, nv - 1, 3 % nv, nv / 2};
  const dq_sampler_params sp[2] = {
    {.temperature = 0, .top_p = 1, .repeat_penalty = 1},
    {.temperature = 0.8f, .top_k = 5, .top_p = 0.9f, .min_p = 0.05f, .repeat_penalty = 1.1f, .repeat_last_n = 4, .seed = 7},
  };
  if (dq_fwd_eval(f, prompt, 6, NULL) == 0) {
    const float *logits = f->logits; /* the last token's */
    for (int i = 0; i < 2; i++) {
      dq_sampler *s;
      if (dq_sampler_new(&s, nv, &sp[i]) < 0) break;
      for (int j = 0; j < 6; j++) dq_sampler_accept(s, prompt[j]);
      const int32_t t = dq_sampler_sample(s, logits);
      dq_sampler_free(s);
      if (t < 0 || t >= nv) abort(); /* a sampler's choice is a token */
      if (dq_fwd_eval(f, &t, 1, NULL) < 0) break;
      sink += logits[0] + logits[nv - 1];
    }
  }
  dq_fwd_free(f);
}

/* The same bytes loaded for description (DQ_LOAD_INFO) against the plain
 * load's result rc / m: a file the plain load took loads the same; a
 * refusal for what docq lacks (DOCQ_EUNSUPPORTED, past the GGUF reader)
 * becomes a model without weights whose run_error is that refusal and
 * which no forward pass accepts; any other failure fails the same. */
static void info_load(const uint8_t *buf, size_t size, int rc, const dq_model *m)
{
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", dq_err_msg());
  dq_model *mi = NULL;
  const int ri = dq_model_from_buffer_flags(&mi, buf, size, DQ_LOAD_INFO);
  if (rc == 0) {
    if (ri != 0 || mi->has_weights != m->has_weights || mi->hp.n_vocab != m->hp.n_vocab) abort();
  } else if (ri == 0) {
    if (rc != DOCQ_EUNSUPPORTED || mi->has_weights || !mi->run_error || strncmp(mi->run_error, msg, sizeof msg - 1))
      abort();
    dq_fwd *f;
    if (dq_fwd_new(&f, mi, 16, 4, 1, DQ_KV_F16) != DOCQ_EUNSUPPORTED || f) abort();
  } else if (ri != rc || mi || strncmp(dq_err_msg(), msg, sizeof msg - 1)) {
    abort();
  }
  dq_model_free(mi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > DQ_FUZZ_MAX_INPUT) return 0;
  uint8_t *buf = aligned_alloc(64, (size + 63) / 64 * 64 + 64);
  if (!buf) return 0;
  memcpy(buf, data, size);
  dq_model *m = NULL;
  const int rc = dq_model_from_buffer(&m, buf, size);
  if (rc < 0 && (m || !dq_err_msg()[0])) abort(); /* no model, and a message */
  info_load(buf, size, rc, m);
  if (rc < 0) {
    free(buf);
    return 0;
  }
  if (m->has_weights && m->hp.n_layer <= 64 && macs_per_token(m) <= DQ_FUZZ_MAX_MACS) {
    dq_rope_params rp;
    if (dq_model_rope_params(m, NULL, 1 << 20, &rp) < 0 && !dq_err_msg()[0]) abort();
    run_model(m);
  }
  dq_model_free(m);
  free(buf);
  return 0;
}

#ifdef FUZZ_MODEL_WRITE_CORPUS
#include "support/gguf_writer.h"
#include "util/mem.h"

static const char *outdir;

static void save(const char *name, const uint8_t *p, size_t n)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", outdir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) { fprintf(stderr, "%s: write failed\n", path); exit(1); }
  if (n >= 65536) { fprintf(stderr, "%s: %zu bytes, over the 64 KiB seed limit\n", path, n); exit(1); }
}

/* The value bytes of metadata key `key` (after its type tag), or NULL. */
static uint8_t *find_value(uint8_t *buf, size_t n, const char *key)
{
  size_t kl = strlen(key);
  for (size_t i = 8; i + kl + 8 <= n; i++)
    if (!memcmp(buf + i, key, kl) && buf[i - 8] == kl && buf[i - 7] == 0) return buf + i + kl + 4;
  return NULL;
}

/* The type field of tensor `tensor`'s info (after its name, n_dims and
 * dims), or NULL. */
static uint8_t *find_type(uint8_t *buf, size_t n, const char *tensor)
{
  size_t tl = strlen(tensor);
  for (size_t i = 8; i + tl + 4 <= n; i++)
    if (!memcmp(buf + i, tensor, tl) && buf[i - 8] == tl && buf[i - 7] == 0) {
      uint32_t nd = buf[i + tl];
      if (i + tl + 4 + 8 * nd + 4 <= n) return buf + i + tl + 4 + 8 * nd;
    }
  return NULL;
}

static void put32(uint8_t *p, uint32_t v)
{
  for (int b = 0; b < 4; b++) p[b] = (uint8_t)(v >> (8 * b));
}

/* One tiny model (1 layer, n_embd 32, 2 heads, 1 KV head, vocab 64) written whole,
 * then, if `key` is set, a copy with that key's 32-bit value replaced. */
static void model(const char *name, const char *arch, int type, int tied, const char *rope, const char *key, uint32_t v)
{
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  p.arch = arch;
  p.weight_type = type;
  p.embd_type = type == DQ_T_F32 ? -1 : DQ_T_Q8_0;
  p.output_type = -1;
  p.tied_embeddings = tied;
  p.n_layer = 1;
  p.n_embd = 32;
  p.n_head = 2;
  p.n_head_kv = 1;
  p.n_ff = 64;
  p.n_vocab = 64;
  p.n_ctx = 64;
  if (rope) {
    p.rope_scaling_type = rope;
    p.rope_scaling_factor = 4;
    p.rope_orig_ctx = 16;
  }
  dq_gw *w;
  uint8_t *buf;
  size_t n;
  if (dq_gw_model(&w, &p) < 0 || dq_gw_write_mem(w, &buf, &n) < 0) {
    fprintf(stderr, "%s: %s\n", name, dq_err_msg());
    exit(1);
  }
  if (key) {
    uint8_t *val = !strncmp(key, "type:", 5) ? find_type(buf, n, key + 5) : find_value(buf, n, key);
    if (!val) { fprintf(stderr, "%s: key %s not found\n", name, key); exit(1); }
    put32(val, v);
  }
  save(name, buf, n);
  dq_free(buf);
  dq_gw_free(w);
}

/* A tiny phi3 model (the writer knows llama and qwen2 only): fused
 * attn_qkv and ffn_up, LongRoPE factor tensors, and a sliding window when
 * swa > 0. Random weights in Q8_0, norms and factors in F32. */
static void phi3(const char *name, int swa)
{
  enum { D = 32, NH = 2, NKV = 1, HD = D / NH, FF = 64, NV = 64 };
  static float buf[(NH + 2 * NKV) * HD * FF * 2];
  uint32_t r = 12345;
  for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++) {
    r = r * 1664525u + 1013904223u;
    buf[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 0.1f;
  }
  float ones[D], fac[HD / 2];
  for (int i = 0; i < D; i++) ones[i] = 1.0f;
  for (int i = 0; i < HD / 2; i++) fac[i] = 1.0f + (float)i;
  dq_gw *w = dq_gw_new();
  int rc = !w;
  rc |= dq_gw_add_str(w, "general.architecture", "phi3");
  rc |= dq_gw_add_u32(w, "phi3.context_length", 256);
  rc |= dq_gw_add_u32(w, "phi3.embedding_length", D);
  rc |= dq_gw_add_u32(w, "phi3.block_count", 1);
  rc |= dq_gw_add_u32(w, "phi3.feed_forward_length", FF);
  rc |= dq_gw_add_u32(w, "phi3.attention.head_count", NH);
  rc |= dq_gw_add_u32(w, "phi3.attention.head_count_kv", NKV);
  rc |= dq_gw_add_f32(w, "phi3.attention.layer_norm_rms_epsilon", 1e-5f);
  rc |= dq_gw_add_f32(w, "phi3.rope.freq_base", 10000.0f);
  rc |= dq_gw_add_u32(w, "phi3.rope.scaling.original_context_length", 64);
  rc |= dq_gw_add_f32(w, "phi3.rope.scaling.attn_factor", 1.19f);
  if (swa) rc |= dq_gw_add_u32(w, "phi3.attention.sliding_window", (uint32_t)swa);
  const int64_t emb[2] = {D, NV}, vec[1] = {D}, fv[1] = {HD / 2}, qkv[2] = {D, (NH + 2 * NKV) * HD},
                out[2] = {NH * HD, D}, up[2] = {D, 2 * FF}, down[2] = {FF, D};
  rc |= dq_gw_add_tensor_f32(w, "token_embd.weight", DQ_T_Q8_0, 2, emb, buf);
  rc |= dq_gw_add_tensor_f32(w, "output_norm.weight", DQ_T_F32, 1, vec, ones);
  rc |= dq_gw_add_tensor_f32(w, "output.weight", DQ_T_Q8_0, 2, emb, buf + 7);
  rc |= dq_gw_add_tensor_f32(w, "rope_factors_long.weight", DQ_T_F32, 1, fv, fac);
  rc |= dq_gw_add_tensor_f32(w, "rope_factors_short.weight", DQ_T_F32, 1, fv, ones);
  rc |= dq_gw_add_tensor_f32(w, "blk.0.attn_norm.weight", DQ_T_F32, 1, vec, ones);
  rc |= dq_gw_add_tensor_f32(w, "blk.0.ffn_norm.weight", DQ_T_F32, 1, vec, ones);
  rc |= dq_gw_add_tensor_f32(w, "blk.0.attn_qkv.weight", DQ_T_Q8_0, 2, qkv, buf + 11);
  rc |= dq_gw_add_tensor_f32(w, "blk.0.attn_output.weight", DQ_T_Q8_0, 2, out, buf + 13);
  rc |= dq_gw_add_tensor_f32(w, "blk.0.ffn_up.weight", DQ_T_Q8_0, 2, up, buf + 17);
  rc |= dq_gw_add_tensor_f32(w, "blk.0.ffn_down.weight", DQ_T_Q8_0, 2, down, buf + 19);
  uint8_t *o;
  size_t n;
  if (rc || dq_gw_write_mem(w, &o, &n) < 0) {
    fprintf(stderr, "%s: %s\n", name, dq_err_msg());
    exit(1);
  }
  save(name, o, n);
  dq_free(o);
  dq_gw_free(w);
}

int main(int argc, char **argv)
{
  if (argc != 2) { fprintf(stderr, "usage: %s DIR\n", argv[0]); return 2; }
  outdir = argv[1];
  /* valid models: the 32-element block types (K-quants need rows of 256) */
  model("llama_f32.gguf", "llama", DQ_T_F32, 0, NULL, NULL, 0);
  model("llama_f16_tied.gguf", "llama", DQ_T_F16, 1, NULL, NULL, 0);
  model("llama_bf16.gguf", "llama", DQ_T_BF16, 0, "linear", NULL, 0);
  model("llama_q8_0.gguf", "llama", DQ_T_Q8_0, 0, NULL, NULL, 0);
  model("qwen2_q4_0_yarn.gguf", "qwen2", DQ_T_Q4_0, 0, "yarn", NULL, 0);
  model("qwen2_q5_0_tied.gguf", "qwen2", DQ_T_Q5_0, 1, NULL, NULL, 0);
  model("qwen2_q4_1.gguf", "qwen2", DQ_T_Q4_1, 0, NULL, NULL, 0);
  model("llama_q5_1.gguf", "llama", DQ_T_Q5_1, 0, "yarn", NULL, 0);
  model("qwen2_iq4_nl.gguf", "qwen2", DQ_T_IQ4_NL, 0, NULL, NULL, 0);
  phi3("phi3_longrope_q8_0.gguf", 0);
  phi3("phi3_longrope_swa.gguf", 4);
  /* one hyperparameter at an edge (u32 fields; f32 ones as raw bits) */
  model("edge_head_count_0.gguf", "llama", DQ_T_Q8_0, 0, NULL, "llama.attention.head_count", 0);
  model("edge_head_count_kv_0.gguf", "llama", DQ_T_Q8_0, 0, NULL, "llama.attention.head_count_kv", 0);
  model("edge_block_count_big.gguf", "qwen2", DQ_T_Q8_0, 0, NULL, "qwen2.block_count", 1u << 30);
  model("edge_embedding_length_odd.gguf", "llama", DQ_T_F32, 0, NULL, "llama.embedding_length", 63);
  model("edge_rope_dims_big.gguf", "llama", DQ_T_F32, 0, NULL, "llama.rope.dimension_count", 4096);
  model("edge_rope_dims_odd.gguf", "qwen2", DQ_T_Q8_0, 0, NULL, "qwen2.rope.dimension_count", 7);
  model("edge_context_length_0.gguf", "llama", DQ_T_Q8_0, 0, NULL, "llama.context_length", 0);
  model("edge_freq_base_nan.gguf", "llama", DQ_T_Q8_0, 0, NULL, "llama.rope.freq_base", 0x7fc00000u);
  model("edge_freq_base_neg.gguf", "qwen2", DQ_T_Q8_0, 0, NULL, "qwen2.rope.freq_base", 0xbf800000u);
  model("edge_rms_eps_inf.gguf", "llama", DQ_T_F32, 0, NULL, "llama.attention.layer_norm_rms_epsilon", 0x7f800000u);
  model("edge_yarn_factor_0.gguf", "qwen2", DQ_T_Q4_0, 0, "yarn", "qwen2.rope.scaling.factor", 0);
  model("edge_yarn_factor_nan.gguf", "qwen2", DQ_T_Q4_0, 0, "yarn", "qwen2.rope.scaling.factor", 0x7fc00000u);
  model("edge_yarn_orig_ctx_0.gguf", "qwen2", DQ_T_Q4_0, 0, "yarn", "qwen2.rope.scaling.original_context_length", 0);
  model("edge_ffn_length_big.gguf", "llama", DQ_T_F32, 0, NULL, "llama.feed_forward_length", 0xffffffffu);
  model("edge_vocab_bos_big.gguf", "llama", DQ_T_F32, 0, NULL, "tokenizer.ggml.bos_token_id", 1u << 31);
  /* a type docq knows but cannot compute with (MXFP4's 17-byte blocks fit in
   * Q8_0's 34): the plain load refuses it, the load for description takes it */
  model("unsupported_type_mxfp4.gguf", "llama", DQ_T_Q8_0, 0, NULL, "type:blk.0.ffn_down.weight", DQ_T_MXFP4);
  return 0;
}
#endif
