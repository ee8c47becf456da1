/* Tests for engine/model.c + engine/forward.c.
 *
 * Parity against llama.cpp (files in $DOCQ_SHARED_DIR/models, see SOURCE.md):
 *   - stories260K (f32): logits at every prompt position, argmax, 48 greedy
 *     tokens for two prompts;
 *   - tiny-qwen2 Q8_0 / Q4_0 / Q4_K_M / Q6_K (qwen2, NEOX RoPE, biases, GQA,
 *     YaRN declared in the file): logits judged by the quantization yardstick
 *     (distance between the reference's quantized and f32 blocks), argmax
 *     wherever the reference's top-2 gap exceeds it, short prompt and the
 *     1700-token prompt beyond the original context (n_ctx 2048).
 * Self-consistency on random models from tests/support/gguf_writer (no shared
 * files needed): batched prefill == token-by-token decode, threads == 1
 * thread; validation errors name the tensor or key. */
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
#include "engine/ggml_order.h"
#include "engine/kernels.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "gguf_writer.h"
#include "util/err.h"
#include "util/mem.h"

/* ---- reference file parsing ------------------------------------------------ */

#define MAXPOS 32
typedef struct ref_block {
  char file[64], prompt[16];
  char text[256];            /* the prompt text, when given inline */
  int n_tok, n_listed;       /* ids in the prompt; ids printed (a long prompt's list is cut) */
  int32_t *toks;             /* malloc'd */
  int n_pos;
  int pos[MAXPOS], argmax[MAXPOS];
  int top_id[MAXPOS][5];
  float top_logit[MAXPOS][5];
  float logits8[MAXPOS][8];
  int n_greedy;
  int32_t greedy[64];
} ref_block;

/* The shared folder when it exists (a user's clone may not have it: skip). */
static const char *shared_dir(void)
{
  const char *d = getenv("DOCQ_SHARED_DIR");
  char probe[1024];
  if (!d || !*d) return NULL;
  snprintf(probe, sizeof probe, "%s/models", d);
  return access(probe, R_OK) == 0 ? d : NULL;
}

static char *slurp(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
  s[n] = 0;
  fclose(f);
  return s;
}

/* Parse every "## <file> prompt=<p>" / "# prompt" block of a reference file. */
static int parse_ref(const char *path, ref_block *out, int max)
{
  char *s = slurp(path);
  if (!s) return -1;
  int n = -1;
  for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
    if (!strncmp(line, "## ", 3) || !strncmp(line, "# prompt", 8)) {
      if (++n >= max) break;
      memset(&out[n], 0, sizeof out[n]);
      if (line[1] == '#') {
        sscanf(line + 3, "%63s prompt=%15[^ ]", out[n].file, out[n].prompt);
      } else {
        snprintf(out[n].file, sizeof out[n].file, "stories260K.gguf");
        snprintf(out[n].prompt, sizeof out[n].prompt, "p%d", n);
      }
      const char *t = strstr(line, "): ");
      if (t) snprintf(out[n].text, sizeof out[n].text, "%s", t + 3);
    } else if (n >= 0 && !strncmp(line, "tokens ", 7)) {
      char *p = line + 7;
      out[n].n_tok = (int)strtol(p, &p, 10);
      out[n].toks = malloc(sizeof(int32_t) * (size_t)out[n].n_tok);
      p++;
      for (int i = 0; i < out[n].n_tok; i++) {
        char *e;
        out[n].toks[i] = (int32_t)strtol(p, &e, 10);
        if (e == p) break;
        out[n].n_listed++;
        p = e;
      }
    } else if (n >= 0 && !strncmp(line, "pos ", 4) && out[n].n_pos < MAXPOS) {
      int k = out[n].n_pos++;
      char *p = line + 4;
      out[n].pos[k] = (int)strtol(p, &p, 10);
      char *top = strstr(p, "top5 "), *am = strstr(p, "argmax "), *lg = strstr(p, "]: ");
      if (top) {
        p = top + 5;
        for (int i = 0; i < 5; i++) {
          out[n].top_id[k][i] = (int)strtol(p, &p, 10);
          out[n].top_logit[k][i] = strtof(p + 1, &p);
        }
        out[n].argmax[k] = out[n].top_id[k][0];
      } else if (am) {
        out[n].argmax[k] = atoi(am + 7);
        out[n].top_id[k][0] = -1;
      }
      p = lg + 3;
      for (int i = 0; i < 8; i++) out[n].logits8[k][i] = strtof(p, &p);
    } else if (n >= 0 && !strncmp(line, "greedy:", 7)) {
      char *p = line + 7;
      while (out[n].n_greedy < 64) {
        char *e;
        long v = strtol(p, &e, 10);
        if (e == p) break;
        out[n].greedy[out[n].n_greedy++] = (int32_t)v;
        p = e;
      }
    }
  }
  free(s);
  return n + 1;
}

static void free_refs(ref_block *r, int n)
{
  for (int i = 0; i < n; i++) free(r[i].toks);
}

static int argmax(const float *x, int n)
{
  int b = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[b]) b = i;
  return b;
}

/* Token ids of the reference prompt with the file's own tokenizer, checked
 * against the ids the reference lists; returns all ids (malloc'd). */
static int32_t *tokenize_ref(const dq_model *m, const ref_block *r, int *n_out)
{
  dq_tok *tok;
  assert_int_equal(dq_tok_load(&tok, m->gguf), 0);
  char *text = NULL;
  size_t len;
  if (r->text[0]) {
    text = strdup(r->text);
  } else {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/long_prompt.txt", shared_dir());
    text = slurp(path);
  }
  assert_non_null(text);
  len = strlen(text);
  size_t n = 0;
  assert_int_equal(dq_tok_encode(tok, text, len, 1, 0, NULL, 0, &n), 0);
  int32_t *ids = malloc(sizeof(int32_t) * (n ? n : 1));
  assert_int_equal(dq_tok_encode(tok, text, len, 1, 0, ids, n, &n), 0);
  assert_int_equal((int)n, r->n_tok);
  for (int i = 0; i < r->n_listed; i++) assert_int_equal(ids[i], r->toks[i]);
  free(text);
  dq_tok_free(tok);
  *n_out = (int)n;
  return ids;
}

static dq_model *load_shared(const char *name)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/models/%s", shared_dir(), name);
  dq_model *m = NULL;
  int rc = dq_model_load(&m, path);
  if (rc) fprintf(stderr, "load %s: %s\n", path, dq_err_msg());
  assert_int_equal(rc, 0);
  return m;
}

/* ---- stories260K ------------------------------------------------------------- */

static void test_engine_forward__stories260k_parity(void **state)
{
  (void)state;
  if (!shared_dir()) skip();
  char path[1024];
  snprintf(path, sizeof path, "%s/models/stories260K.reference.txt", shared_dir());
  ref_block ref[4];
  int nref = parse_ref(path, ref, 4);
  assert_int_equal(nref, 2);
  dq_model *m = load_shared("stories260K.gguf");
  assert_int_equal(m->hp.arch, DQ_ARCH_LLAMA);
  assert_int_equal(m->hp.n_vocab, 512);
  assert_int_equal(m->hp.n_head_kv, 4);
  assert_int_equal(m->tied_output, 0);
  const int nv = m->hp.n_vocab;

  /* path 0: llama.cpp's rounding order (DQ_KV_F16_GGML), 1: the default tiled attention
   * mode 0: token by token (decode path), 1: batched prefill */
  for (int path_mode = 0; path_mode < 4; path_mode++) {
    const int tiled = path_mode / 2, mode = path_mode % 2;
    for (int b = 0; b < nref; b++) {
      const ref_block *r = &ref[b];
      int n_ids;
      int32_t *ids = tokenize_ref(m, r, &n_ids);
      free(ids);
      dq_fwd *f;
      assert_int_equal(dq_fwd_new(&f, m, 512, 512, mode ? 2 : 1, tiled ? DQ_KV_F16 : DQ_KV_F16_GGML), 0);
      float *all = malloc(sizeof(float) * (size_t)r->n_tok * nv);
      if (mode == 0)
        for (int i = 0; i < r->n_tok; i++) assert_int_equal(dq_fwd_eval(f, r->toks + i, 1, all + (size_t)i * nv), 0);
      else
        assert_int_equal(dq_fwd_eval(f, r->toks, r->n_tok, all), 0);
      double max_err = 0;
      int within = 0;
      for (int k = 0; k < r->n_pos; k++) {
        const float *lg = all + (size_t)r->pos[k] * nv;
        assert_int_equal(argmax(lg, nv), r->argmax[k]);
        double e = 0;
        for (int i = 0; i < 8; i++) e = fmax(e, fabs(lg[i] - r->logits8[k][i]));
        within += e <= 1e-4;
        max_err = fmax(max_err, e);
      }
      if (r->n_pos) {
        fprintf(stderr, "stories260K %s %s: %d/%d positions within 1e-4, max |dlogit| %.2e\n",
                tiled ? "tiled" : "llama.cpp order", mode ? "batched" : "token-by-token", within, r->n_pos, max_err);
        /* The reference is llama.cpp's whole-prompt batch (1 thread, f16
         * cache, flash attention), and the issue asks for 1e-4. In
         * llama.cpp's order (DQ_KV_F16_GGML: ggml_order.h for the f32
         * products and SiLU, the f16 query and V accumulator in attention)
         * the batch reproduces it to print precision at every position.
         * Token by token, llama.cpp itself takes other product orders
         * (ggml_vec_dot_f32, not tinyBLAS), and its f16 roundings turn those
         * last bits into ~1e-3 from position 4 on; the same happens here, so
         * that mode is held to the f16-flip bound only. The tiled path keeps
         * the query and the accumulator in f32: nearer the exact (all-f32)
         * logits than llama.cpp is (9.3e-3 vs 1.6e-2 here), hence 6e-3 from
         * llama.cpp's (see forward.c, use_tiled). */
        if (!tiled && mode == 1) {
          assert_int_equal(within, r->n_pos);
          assert_true(max_err <= 2e-6);
        }
        assert_true(max_err < (tiled ? 1e-2 : 2e-3));
      }
      for (int g = 0; g < r->n_greedy; g++) {
        int32_t t = argmax(f->logits, nv);
        assert_int_equal(t, r->greedy[g]);
        assert_int_equal(dq_fwd_eval(f, &t, 1, NULL), 0);
      }
      free(all);
      dq_fwd_free(f);
    }
  }
  dq_model_free(m);
  free_refs(ref, nref);
}

/* m against a file of logits per position (16 per position, n_prompts
 * prompts, n_pos positions in all): each prompt run token by token and/or
 * batched (modes: bit 0 token by token, bit 1 batched) on a cache of kv_type,
 * every listed logit within tol and every argmax equal. */
static void check_logits_batch(const char *file, const dq_model *m, int kv_type, int modes, double tol,
                               const char *label, int want_prompts, int want_pos, int n_batch)
{
  const char *src = getenv("DOCQ_SOURCE_DIR");
  if (!src) skip();
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/data/%s", src, file);
  char *text = slurp(path);
  assert_non_null(text);
  const int nv = m->hp.n_vocab;
  int n_prompts = 0, n_checked = 0;
  char *save = NULL;
  char *line = strtok_r(text, "\n", &save);
  while (line) {
    if (strncmp(line, "tokens ", 7)) {
      line = strtok_r(NULL, "\n", &save);
      continue;
    }
    char *p = line + 7;
    const int n = (int)strtol(p, &p, 10);
    assert_true(n > 0 && n <= 64);
    int32_t toks[64];
    p++;
    for (int i = 0; i < n; i++) toks[i] = (int32_t)strtol(p, &p, 10);
    float want[64][16];
    int want_argmax[64];
    for (int i = 0; i < n; i++) {
      line = strtok_r(NULL, "\n", &save);
      assert_non_null(line);
      assert_int_equal(strncmp(line, "pos ", 4), 0);
      assert_int_equal(atoi(line + 4), i);
      want_argmax[i] = atoi(strstr(line, "argmax ") + 7);
      p = strstr(line, "]: ") + 3;
      for (int j = 0; j < 16; j++) want[i][j] = strtof(p, &p);
    }
    for (int mode = 0; mode < 2; mode++) {
      if (!(modes >> mode & 1)) continue;
      dq_fwd *f;
      assert_int_equal(dq_fwd_new(&f, m, 512, n_batch, 1, kv_type), 0);
      float *all = malloc(sizeof(float) * (size_t)n * nv);
      if (mode == 0)
        for (int i = 0; i < n; i++) assert_int_equal(dq_fwd_eval(f, toks + i, 1, all + (size_t)i * nv), 0);
      else
        assert_int_equal(dq_fwd_eval(f, toks, n, all), 0);
      double max_err = 0;
      for (int i = 0; i < n; i++) {
        assert_int_equal(argmax(all + (size_t)i * nv, nv), want_argmax[i]);
        for (int j = 0; j < 16; j++) max_err = fmax(max_err, fabs(all[(size_t)i * nv + j] - want[i][j]));
      }
      fprintf(stderr, "%s, prompt %d %s: %d positions, max |dlogit| %.2e\n", label, n_prompts,
              mode ? "batched" : "token-by-token", n, max_err);
      assert_true(max_err <= tol);
      free(all);
      dq_fwd_free(f);
    }
    n_checked += n;
    n_prompts++;
    line = strtok_r(NULL, "\n", &save);
  }
  assert_int_equal(n_prompts, want_prompts);
  assert_int_equal(n_checked, want_pos);
  free(text);
}

static void check_logits(const char *file, const dq_model *m, int kv_type, int modes, double tol, const char *label,
                         int want_prompts, int want_pos)
{
  check_logits_batch(file, m, kv_type, modes, tol, label, want_prompts, want_pos, 512);
}

/* stories260K (../shared) against such a file: two prompts, 38 positions. */
static void check_logit_file(const char *file, int kv_type, int modes, double tol, const char *label)
{
  if (!shared_dir()) skip();
  dq_model *m = load_shared("stories260K.gguf");
  char what[128];
  snprintf(what, sizeof what, "stories260K %s", label);
  check_logits(file, m, kv_type, modes, tol, what, 2, 38);
  dq_model_free(m);
}

/* The same model against llama.cpp run in all-f32 arithmetic (f32 KV cache, no
 * flash attention; tests/data/stories260K.f32.llama-cpp.txt, made by
 * tests/tools/llama_cpp_logits.cpp). Without f16 roundings in attention the
 * logits are well conditioned, so the 1e-4 holds at every position in
 * both the batched and the token-by-token path (measured 5e-6 to 8e-6). */
static void test_engine_forward__stories260k_f32_llamacpp(void **state)
{
  (void)state;
  check_logit_file("stories260K.f32.llama-cpp.txt", DQ_KV_F32, 3, 1e-4, "f32 vs llama.cpp f32");
}

/* llama.cpp's decode path (one token per step: ggml_vec_dot_f32 products, not
 * tinyBLAS) with its f16 cache and flash attention, from ggml's own operators
 * (tests/data/stories260K.ggml-decode.txt, tests/tools/ggml_stories260k.c).
 * Its f16 roundings put it 1e-3 from the batched reference, and the parity
 * mode follows it there to the printed digit, at all 38 positions. */
static void test_engine_forward__stories260k_ggml_decode(void **state)
{
  (void)state;
  check_logit_file("stories260K.ggml-decode.txt", DQ_KV_F16_GGML, 1, 2e-6, "parity mode vs ggml decode");
}

/* ---- written models against llama.cpp ------------------------------------------------ */

/* Random-weight models written by the test writer (the same as
 * tests/tools/write_model.c writes) against llama.cpp's all-f32 logits on
 * them (tests/data/<arch>-random.f32.llama-cpp.txt; see their headers). */
static uint64_t fnv1a64(const uint8_t *b, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* Write p's model, check its bytes are those the reference was computed on
 * (a change to the writer needs the reference made again), load it. *buf
 * holds the bytes the model reads (dq_free after the model). */
static dq_model *written_model(const dq_gw_model_params *p, size_t want_n, uint64_t want_hash, uint8_t **buf)
{
  dq_gw *w;
  size_t n;
  assert_int_equal(dq_gw_model(&w, p), 0);
  assert_int_equal(dq_gw_write_mem(w, buf, &n), 0);
  dq_gw_free(w);
  assert_int_equal(n, want_n);
  assert_true(fnv1a64(*buf, n) == want_hash);
  dq_model *m;
  int rc = dq_model_from_buffer(&m, *buf, n);
  if (rc) fprintf(stderr, "load %s model: %s\n", p->arch, dq_err_msg());
  assert_int_equal(rc, 0);
  return m;
}

/* The parity mode against llama.cpp's own f16-cache flash-attention run
 * (tests/data/<model>.f16-fa.llama-cpp.txt, tests/tools/llama_cpp_logits.cpp
 * --fa), batched as that run was: equal to the file's printed digits, 2e-6.
 * Token by token it lands ~3e-4 away: there a query rounded to f16 comes
 * from a product summed in another order. */
static void check_fa(const char *fa_file, const dq_model *m, const char *name, int want_pos)
{
  char label[96];
  snprintf(label, sizeof label, "%s llama.cpp order vs llama.cpp f16 flash attention", name);
  check_logits(fa_file, m, DQ_KV_F16_GGML, 2, 2e-6, label, 2, want_pos);
}

/* qwen3 (RMSNorm of each query and key head before RoPE, no biases, head size
 * from attention.key_length: 32, not embedding / heads = 16, as in real Qwen3
 * files) against llama.cpp, batched and token by token; then the default f16
 * tiled cache. */
static void test_engine_forward__qwen3_llamacpp(void **state)
{
  (void)state;
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  p.arch = "qwen3";
  p.head_dim = 32;
  p.weight_std = 0.25f;
  p.seed = 25;
  uint8_t *buf;
  dq_model *m = written_model(&p, 568096, 0xb52d876cf0d53234ull, &buf);
  assert_int_equal(m->hp.arch, DQ_ARCH_QWEN3);
  assert_int_equal(m->hp.head_dim, 32);
  assert_int_equal(m->hp.rope.mode, DQ_ROPE_NEOX);
  assert_non_null(m->layers[1].q_norm);
  assert_non_null(m->layers[1].k_norm);
  assert_null(m->layers[1].bq);
  check_logits("qwen3-random.f32.llama-cpp.txt", m, DQ_KV_F32, 3, 3e-5, "qwen3 f32 vs llama.cpp f32", 2, 52);
  check_logits("qwen3-random.f32.llama-cpp.txt", m, DQ_KV_F16, 3, 2e-2, "qwen3 f16 tiled vs llama.cpp f32", 2, 52);
  check_fa("qwen3-random.f16-fa.llama-cpp.txt", m, "qwen3", 52);
  dq_model_free(m);
  dq_free(buf);
}

/* smollm3: llama (NORM RoPE) whose fourth layer is not rotated at all. */
static void test_engine_forward__smollm3_llamacpp(void **state)
{
  (void)state;
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  p.arch = "smollm3";
  p.n_layer = 4;
  p.weight_std = 0.25f;
  p.seed = 33;
  uint8_t *buf;
  dq_model *m = written_model(&p, 765984, 0x046cd5c53b84b93cull, &buf);
  assert_int_equal(m->hp.arch, DQ_ARCH_SMOLLM3);
  assert_int_equal(m->hp.rope.mode, DQ_ROPE_NORM);
  for (int l = 0; l < 4; l++) assert_int_equal(m->layers[l].no_rope, l == 3);
  check_logits("smollm3-random.f32.llama-cpp.txt", m, DQ_KV_F32, 3, 3e-5, "smollm3 f32 vs llama.cpp f32", 2, 52);
  check_fa("smollm3-random.f16-fa.llama-cpp.txt", m, "smollm3", 52);
  /* dynamic NTK rotates every cached key afresh when the length grows past
   * the original context; a NoPE layer's keys were never rotated and stay so */
  dq_fwd *f;
  assert_int_equal(dq_fwd_new(&f, m, 256, 32, 1, DQ_KV_F32), 0);
  dq_rope_params rp = m->hp.rope;
  rp.scaling = DQ_ROPE_SCALING_DYNAMIC_NTK;
  rp.freq_scale = 1.0f;
  rp.n_ctx_orig = 32;
  assert_int_equal(dq_fwd_set_rope(f, &rp), 0);
  assert_non_null(f->k_raw);
  int32_t toks[80];
  for (int i = 0; i < 80; i++) toks[i] = 3 + (i * 37) % (m->hp.n_vocab - 3);
  assert_int_equal(dq_fwd_eval(f, toks, 40, NULL), 0);
  assert_int_equal(dq_fwd_eval(f, toks + 40, 40, NULL), 0); /* the base changes: re-rotation */
  const size_t nkv = (size_t)m->hp.n_head_kv * m->hp.head_dim;
  for (int l = 0; l < 4; l++)
    for (int pos = 1; pos < 80; pos++) { /* position 0 is not rotated by any base */
      const size_t off = ((size_t)l * 256 + (size_t)pos) * nkv;
      const int same = !memcmp(f->k_raw + off, (const float *)f->kv->k + off, nkv * sizeof(float));
      if (same != (l == 3)) fail_msg("layer %d position %d: cached key %s its un-rotated copy", l, pos,
                                     same ? "equals" : "differs from");
    }
  dq_fwd_free(f);
  dq_model_free(m);
  dq_free(buf);
}

/* A reference (2 prompts, 60 positions) in every mode, token by token and
 * batched: the f32 cache (tol_f32), the same in batches of 3, the f16 tiled
 * cache (the usual 2e-2) and the parity mode (tol_ggml). */
static void check_modes(const char *file, const dq_model *m, const char *name, double tol_f32, double tol_ggml)
{
  char label[96];
  snprintf(label, sizeof label, "%s f32 vs llama.cpp f32", name);
  check_logits(file, m, DQ_KV_F32, 3, tol_f32, label, 2, 60);
  snprintf(label, sizeof label, "%s f16 tiled vs llama.cpp f32", name);
  check_logits(file, m, DQ_KV_F16, 3, 2e-2, label, 2, 60);
  snprintf(label, sizeof label, "%s f32, batches of 3", name);
  check_logits_batch(file, m, DQ_KV_F32, 3, tol_f32, label, 2, 60, 3);
  snprintf(label, sizeof label, "%s llama.cpp order vs llama.cpp f32", name);
  check_logits(file, m, DQ_KV_F16_GGML, 3, tol_ggml, label, 2, 60);
}

/* A gemma2/3 reference (window 8) in every mode, the parity mode's window and
 * score cap being code paths of their own. Batches of 3 make the sliding
 * layers' cache 7 + 2 * 3 = 13 slots, so its last 7 keys move to the front
 * every 6 tokens or so; n_swa of the layers slide. */
static void gemma_check(const char *file, const char *fa_file, const dq_model *m, const char *name, int n_swa)
{
  check_modes(file, m, name, 1e-3, 2e-2);
  check_fa(fa_file, m, name, 60);
  dq_fwd *f;
  assert_int_equal(dq_fwd_new(&f, m, 512, 3, 1, DQ_KV_F32), 0);
  assert_int_equal(f->kv_swa->n_ctx, 13);
  assert_int_equal(f->kv_swa->n_layer, n_swa);
  assert_int_equal(f->kv->n_layer, m->hp.n_layer - n_swa);
  dq_fwd_free(f);
}

/* gemma3: embeddings times sqrt(n_embd), RMSNorm of each query and key head,
 * queries scaled by 1/sqrt(head_dim), post-attention and post-FFN norms,
 * GELU-gated FFN, output tied to token_embd. Layers 0-4 attend to a sliding
 * window of 8 positions with RoPE base 10000, unscaled; layer 5 to everything,
 * with the file's base and linear scaling x8. Both prompts (20 and 40 tokens)
 * run past the window. llama.cpp rounds GELU's input to f16 and reads an f16
 * table: an input one float ulp away can round to the neighbouring half and
 * move the logits by ~4e-4 (llama.cpp's own token-by-token decode differs
 * from its batched reference by 4.7e-4; a correct double-precision forward
 * with the same table by 2.5e-4, with the exact tanh GELU by 1.9e-3), so the
 * f32 bound is 1e-3, not qwen3's 3e-5. */
static void test_engine_forward__gemma3_llamacpp(void **state)
{
  (void)state;
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  p.arch = "gemma3";
  p.n_layer = 6;
  p.head_dim = 32;
  p.sliding_window = 8;
  p.rope_scaling_type = "linear";
  p.rope_scaling_factor = 8.0f;
  p.tied_embeddings = 1;
  p.weight_std = 0.25f;
  p.embd_std = 0.3f;
  p.seed = 26;
  uint8_t *buf;
  dq_model *m = written_model(&p, 1282144, 0x7434bfe767e69734ull, &buf);
  assert_int_equal(m->hp.n_layer, 6);
  assert_int_equal(m->hp.head_dim, 32);
  assert_int_equal(m->hp.rope.mode, DQ_ROPE_NEOX);
  assert_true(m->tied_output);
  assert_non_null(m->layers[5].q_norm);
  assert_non_null(m->layers[5].k_norm);
  gemma_check("gemma3-random.f32.llama-cpp.txt", "gemma3-random.f16-fa.llama-cpp.txt", m, "gemma3", 5);
  dq_model_free(m);
  dq_free(buf);
}

/* gemma2: gemma3's block (embeddings times sqrt(n_embd), queries scaled by
 * 1/sqrt(head_dim), post-attention and post-FFN norms, GELU-gated FFN, output
 * tied) without the query and key head norms, with attention scores capped
 * (c tanh(s / c), c = 2 here) before the softmax and the logits capped at 5.
 * The even layers attend to a window of 8 positions, the odd ones to
 * everything, all with RoPE base 10000 (the file has no rope keys, as
 * Gemma2Model writes none). The reference moves by 2.4 without the score cap,
 * by 2.9 without the window and by 1.0 without the logit cap (see its
 * header), so each bound below is far inside what a missing step costs. The
 * f32 bound is gemma3's, for the same reason: llama.cpp's GEGLU goes through
 * an f16 table (its own token-by-token run differs from its batch by 5.2e-4,
 * a double-precision forward with the same table by 4.5e-4, one with the
 * exact tanh GELU by 1.5e-3). The f16 modes' bound is gemma3's 2e-2; they
 * land at 2e-3 to 5e-3, well inside the reference's smallest top-2 gap
 * (0.029), so the seed was chosen for that gap and every argmax is checked. */
static void test_engine_forward__gemma2_llamacpp(void **state)
{
  (void)state;
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  p.arch = "gemma2";
  p.n_layer = 6;
  p.head_dim = 32;
  p.sliding_window = 8;
  p.attn_softcap = 2.0f;
  p.final_softcap = 5.0f;
  p.tied_embeddings = 1;
  p.weight_std = 0.25f;
  p.embd_std = 0.3f;
  p.seed = 44;
  uint8_t *buf;
  dq_model *m = written_model(&p, 1279872, 0xd47dff6c3ff5208bull, &buf);
  assert_int_equal(m->hp.arch, DQ_ARCH_GEMMA2);
  assert_int_equal(m->hp.n_layer, 6);
  assert_int_equal(m->hp.head_dim, 32);
  assert_int_equal(m->hp.rope.mode, DQ_ROPE_NEOX);
  assert_true(m->tied_output);
  assert_int_equal(m->hp.n_swa, 8);
  assert_int_equal(m->hp.n_layer_swa, 3);
  for (int l = 0; l < 6; l++) {
    assert_null(m->layers[l].q_norm);
    assert_null(m->layers[l].k_norm);
    assert_non_null(m->layers[l].attn_post_norm);
    assert_non_null(m->layers[l].ffn_post_norm);
    assert_int_equal(m->layers[l].swa, l % 2 == 0);
  }
  assert_true(m->hp.attn_softcap == 2.0f);
  assert_true(m->hp.final_softcap == 5.0f);
  gemma_check("gemma2-random.f32.llama-cpp.txt", "gemma2-random.f16-fa.llama-cpp.txt", m, "gemma2", 3);
  dq_model_free(m);
  dq_free(buf);
}

/* phi3 as llama.cpp's phi3 graph runs it: llama's block with fused attn_qkv
 * (q, k, v rows) and ffn_up (gate rows, then up rows, split by its SwiGLU),
 * NEOX RoPE whose frequencies are divided by LongRoPE factors (long when the
 * context exceeds rope.scaling.original_context_length, else short) and
 * whose cos/sin are scaled by rope.scaling.attn_factor (rotated dims only),
 * queries scaled by 1/sqrt(head size), attention.sliding_window ignored. */

/* A Phi-4-mini-like model (tests/data/phi3-random.f32.llama-cpp.txt): 3/4 of
 * each head rotated (24 of 32 dims, as Phi-4-mini's 96 of 128), GQA (4 query
 * heads, 2 key/value heads), output tied to token_embd (no output.weight, as
 * in Phi-4-mini's file), original context 256 < 512, so the long factors
 * rotate, and the converter's attn_factor sqrt(1 + ln(4096 / 256) / ln 256) =
 * 1.2247449. The reference moves by 10.6 with the factor sets swapped, by 5.4
 * with attn_factor 1, by 11.4 with every dim rotated (see its header). */
static const float phi3_long_a[12] = {1.1f, 1.25f, 1.5f, 2, 2.5f, 3, 4, 6, 8, 12, 16, 24};
static const float phi3_short_a[12] = {1, 1, 1.05f, 1.1f, 1.1f, 1.2f, 1.25f, 1.3f, 1.5f, 1.6f, 1.8f, 2};

static void phi3_params(dq_gw_model_params *p)
{
  dq_gw_model_params_default(p);
  p->arch = "phi3";
  p->n_embd = 128; /* llama.cpp's phi3 needs n_head * head size = n_embd */
  p->n_ff = 192;
  p->weight_std = 0.25f;
}

/* Write p's model (its bytes checked against n and hash), check it was read
 * as written (head size 32, p's rotated dims, key/value heads, original
 * context, attn_factor, tied output; no layer sliding, whatever the window),
 * then docq against the reference in all its modes; want_long: which factor set
 * 512 tokens of context must take (check_logits runs with n_ctx 512, as the
 * reference: llama.cpp compares its n_ctx_seq 512 with the original context).
 * The f32 paths are held to qwen3's 3e-5 (measured 1.6e-5 and 8.6e-6 here,
 * with logits up to 10 and 12). The f16 tiled cache gets the usual 2e-2
 * (measured 8.7e-3 and 4.2e-3). The parity mode rounds as llama.cpp's f16
 * flash attention does, so its distance to these all-f32 logits is that of
 * llama.cpp's own f16-cache flash-attention run (2.7e-2 and 1.0e-2 on these
 * models, see the headers): tol_ggml. It is held to that run itself, fa_file,
 * batched as the run was, at the file's printed precision (5e-7 and 9.5e-7
 * measured; 1.2e-2 and 9.2e-3 when the queries are not scaled before they
 * are rounded to f16, as phi3's graph scales them). The argmax is checked
 * everywhere (top-2 gaps >= 0.050 and 0.029). */
static void phi3_run(const dq_gw_model_params *p, size_t n, uint64_t hash, const char *file, const char *fa_file,
                     int want_long, double tol_ggml, const char *name)
{
  uint8_t *buf;
  dq_model *m = written_model(p, n, hash, &buf);
  const dq_hparams *hp = &m->hp;
  assert_int_equal(hp->arch, DQ_ARCH_PHI3);
  assert_int_equal(hp->head_dim, 32);
  assert_int_equal(hp->n_rot, p->n_rot ? p->n_rot : 32);
  assert_int_equal(hp->n_head_kv, p->n_head_kv);
  assert_int_equal(hp->rope.mode, DQ_ROPE_NEOX);
  assert_int_equal(hp->rope.n_ctx_orig, p->rope_orig_ctx);
  assert_true(hp->rope.attn_factor == p->rope_attn_factor);
  assert_int_equal(m->tied_output, p->tied_embeddings);
  assert_int_equal(hp->n_swa, p->sliding_window);
  assert_int_equal(hp->n_layer_swa, 0);
  for (int l = 0; l < hp->n_layer; l++) assert_false(m->layers[l].swa);
  dq_rope_params rp;
  assert_int_equal(dq_model_rope_params(m, NULL, 512, &rp), 0);
  assert_ptr_equal(rp.freq_factors, want_long ? hp->rope_long : hp->rope_short);
  check_modes(file, m, name, 3e-5, tol_ggml);
  check_fa(fa_file, m, name, 60);
  dq_model_free(m);
  dq_free(buf);
}

static void test_engine_forward__phi3_llamacpp(void **state)
{
  (void)state;
  dq_gw_model_params p;
  phi3_params(&p);
  p.n_ctx = 4096;
  p.rope_orig_ctx = 256;
  p.n_rot = 24;
  p.rope_attn_factor = 1.2247449f;
  p.rope_factors_long = phi3_long_a;
  p.rope_factors_short = phi3_short_a;
  p.sliding_window = 262144;
  p.tied_embeddings = 1;
  p.weight_std = 0.2f;
  p.embd_std = 0.5f;
  p.seed = 53;
  phi3_run(&p, 1158336, 0xa7dc66f5f898637eull, "phi3-random.f32.llama-cpp.txt", "phi3-random.f16-fa.llama-cpp.txt", 1,
           4e-2, "phi3");
}

/* A Phi-3-mini-128k-like model (tests/data/phi3-short-random.f32.llama-cpp.txt):
 * every dim rotated, 4 key/value heads for 4 query heads, an output.weight
 * of its own, original context 4096 >= 512, so the short factors rotate,
 * attn_factor sqrt(1 + ln(131072 / 4096) / ln 4096) = 1.1902381, and a
 * sliding_window of 16 that llama.cpp's phi3 ignores (the reference is
 * bit-identical without the key) while both prompts run past it. The
 * reference moves by 7.2 with the factor sets swapped, by 3.7 with
 * attn_factor 1, by 9.6 with 24 of 32 dims rotated. */
static const float phi3_long_b[16] = {1.1f, 1.2f, 1.4f, 1.7f, 2, 2.5f, 3, 4, 5, 7, 9, 12, 16, 20, 25, 32};
static const float phi3_short_b[16] = {1, 1.02f, 1.05f, 1.1f, 1.1f, 1.15f, 1.2f, 1.3f, 1.4f, 1.5f, 1.6f, 1.8f, 2, 2.2f, 2.5f, 3};

static void test_engine_forward__phi3_short_factors_llamacpp(void **state)
{
  (void)state;
  dq_gw_model_params p;
  phi3_params(&p);
  p.n_head_kv = 4;
  p.n_ctx = 131072;
  p.rope_orig_ctx = 4096;
  p.rope_attn_factor = 1.1902381f;
  p.rope_factors_long = phi3_long_b;
  p.rope_factors_short = phi3_short_b;
  p.sliding_window = 16;
  p.weight_std = 0.15f;
  p.seed = 59;
  phi3_run(&p, 1453312, 0xe5f508453f154617ull, "phi3-short-random.f32.llama-cpp.txt",
           "phi3-short-random.f16-fa.llama-cpp.txt", 0, 2e-2, "phi3 short factors");
}

/* ---- tiny-qwen2 --------------------------------------------------------------- */

static const ref_block *find_ref(const ref_block *r, int n, const char *file, const char *prompt)
{
  for (int i = 0; i < n; i++)
    if (!strcmp(r[i].file, file) && !strncmp(r[i].prompt, prompt, strlen(prompt))) return &r[i];
  return NULL;
}

static void qwen2_parity(const char *file)
{
  if (!shared_dir()) skip();
  char path[1024];
  snprintf(path, sizeof path, "%s/models/tiny-qwen2.reference.txt", shared_dir());
  static ref_block ref[16];
  int nref = parse_ref(path, ref, 16);
  assert_int_equal(nref, 10);
  dq_model *m = load_shared(file);
  assert_int_equal(m->hp.arch, DQ_ARCH_QWEN2);
  assert_int_equal(m->hp.rope.scaling, DQ_ROPE_SCALING_YARN);
  assert_int_equal(m->hp.rope.mode, DQ_ROPE_NEOX);
  assert_int_equal(m->hp.rope.n_ctx_orig, 1024);
  assert_non_null(m->layers[0].bq);
  const int nv = m->hp.n_vocab;
  const char *prompts[] = {"short", "long_prompt"};
  for (int pi = 0; pi < 2; pi++) {
    const ref_block *rq = find_ref(ref, nref, file, prompts[pi]);
    const ref_block *rf = find_ref(ref, nref, "tiny-qwen2-f32.gguf", prompts[pi]);
    assert_non_null(rq);
    assert_non_null(rf);
    assert_int_equal(rq->n_pos, rf->n_pos);
    int n_ids;
    int32_t *ids = tokenize_ref(m, rq, &n_ids); /* ids exact (all 1700 for the long prompt) */
    /* the yardstick: how far this quantization moves llama.cpp's own logits */
    double yard = 0;
    for (int k = 0; k < rq->n_pos; k++)
      for (int i = 0; i < 8; i++) yard = fmax(yard, fabs(rq->logits8[k][i] - rf->logits8[k][i]));
    dq_fwd *f;
    assert_int_equal(dq_fwd_new(&f, m, 2048, 512, 2, DQ_KV_F16), 0);
    const int first = rq->pos[0];
    const int n_last = rq->n_tok - first;
    float *all = malloc(sizeof(float) * (size_t)n_last * nv);
    if (first > 0) assert_int_equal(dq_fwd_eval(f, ids, first, NULL), 0);
    assert_int_equal(dq_fwd_eval(f, ids + first, n_last, all), 0);
    free(ids);
    double max_err = 0;
    int checked = 0;
    for (int k = 0; k < rq->n_pos; k++) {
      const float *lg = all + (size_t)(rq->pos[k] - first) * nv;
      for (int i = 0; i < 8; i++) max_err = fmax(max_err, fabs(lg[i] - rq->logits8[k][i]));
      for (int i = 0; i < 5; i++) max_err = fmax(max_err, fabs(lg[rq->top_id[k][i]] - rq->top_logit[k][i]));
      if (rq->top_logit[k][0] - rq->top_logit[k][1] > yard) {
        assert_int_equal(argmax(lg, nv), rq->argmax[k]);
        checked++;
      }
    }
    int same_greedy = 0;
    for (int g = 0; g < rq->n_greedy; g++) {
      int32_t t = argmax(f->logits, nv);
      if (t != rq->greedy[g]) break;
      same_greedy++;
      assert_int_equal(dq_fwd_eval(f, &t, 1, NULL), 0);
    }
    fprintf(stderr, "%s %s: max |dlogit| %.4f (yardstick %.4f), argmax checked at %d/%d, greedy %d/%d\n", file,
            prompts[pi], max_err, yard, checked, rq->n_pos, same_greedy, rq->n_greedy);
    assert_true(max_err <= yard);
    free(all);
    dq_fwd_free(f);
  }
  dq_model_free(m);
  free_refs(ref, nref);
}

static void test_engine_forward__qwen2_q8_0_parity(void **state) { (void)state; qwen2_parity("tiny-qwen2-q8_0.gguf"); }
static void test_engine_forward__qwen2_q4_0_parity(void **state) { (void)state; qwen2_parity("tiny-qwen2-q4_0.gguf"); }
static void test_engine_forward__qwen2_q4_k_m_parity(void **state) { (void)state; qwen2_parity("tiny-qwen2-q4_k_m.gguf"); }
static void test_engine_forward__qwen2_q6_k_parity(void **state) { (void)state; qwen2_parity("tiny-qwen2-q6_k.gguf"); }

/* ---- random models: self-consistency ---------------------------------------------- */

static dq_model *random_model(const dq_gw_model_params *p, uint8_t **buf)
{
  dq_gw *w;
  size_t n;
  assert_int_equal(dq_gw_model(&w, p), 0);
  assert_int_equal(dq_gw_write_mem(w, buf, &n), 0);
  dq_gw_free(w);
  dq_model *m;
  int rc = dq_model_from_buffer(&m, *buf, n);
  if (rc) fprintf(stderr, "%s\n", dq_err_msg());
  assert_int_equal(rc, 0);
  return m;
}

static void consistency(const char *arch, int weight_type, int tied, int kv_type, double tol)
{
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  p.arch = arch;
  p.n_embd = 256;
  p.n_ff = 512;
  p.n_head = 4;
  p.n_head_kv = 2;
  p.weight_type = weight_type;
  p.tied_embeddings = tied;
  p.seed = 11;
  uint8_t *buf;
  dq_model *m = random_model(&p, &buf);
  assert_int_equal(m->tied_output, tied);
  const int nv = m->hp.n_vocab, n = 37;
  int32_t toks[37];
  for (int i = 0; i < n; i++) toks[i] = (int32_t)((i * 7919 + 3) % nv);
  float *a = malloc(sizeof(float) * n * nv), *b = malloc(sizeof(float) * n * nv);
  dq_fwd *f1, *f2;
  /* batch of 16: the prompt is split into 16 + 16 + 5 */
  assert_int_equal(dq_fwd_new(&f1, m, 64, 16, 2, kv_type), 0);
  assert_int_equal(dq_fwd_new(&f2, m, 64, 1, 1, kv_type), 0);
  assert_int_equal(dq_fwd_eval(f1, toks, n, a), 0);
  for (int i = 0; i < n; i++) assert_int_equal(dq_fwd_eval(f2, toks + i, 1, b + (size_t)i * nv), 0);
  double e = 0, mag = 0;
  for (size_t i = 0; i < (size_t)n * nv; i++) {
    e = fmax(e, fabs(a[i] - b[i]));
    mag = fmax(mag, fabs(b[i]));
  }
  assert_true(mag > 0.01); /* not a degenerate all-zero model */
  assert_true(e <= tol * fmax(1.0, mag));
  /* full context: one more token does not fit */
  dq_fwd_reset(f2);
  int32_t many[65] = {0};
  assert_int_equal(dq_fwd_eval(f2, many, 65, NULL), DOCQ_EINVAL);
  int32_t bad = nv;
  assert_int_equal(dq_fwd_eval(f2, &bad, 1, NULL), DOCQ_EINVAL);
  dq_fwd_free(f1);
  dq_fwd_free(f2);
  free(a);
  free(b);
  dq_model_free(m);
  dq_free(buf);
}

/* dq_fwd_eval_stop asks before each batch: a stop after two batches of 16
 * leaves exactly those 32 tokens in the cache, and what was computed is what
 * an uninterrupted run computes (the next batches continue it exactly). */
static int stop_after(void *arg)
{
  int *calls = arg;
  return (*calls)++ >= 2;
}

static void test_engine_forward__eval_stops_between_batches(void **state)
{
  (void)state;
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  p.seed = 5;
  uint8_t *buf;
  dq_model *m = random_model(&p, &buf);
  const int nv = m->hp.n_vocab, n = 50;
  int32_t toks[50];
  for (int i = 0; i < n; i++) toks[i] = (int32_t)((i * 31 + 7) % nv);
  dq_fwd *f, *g;
  assert_int_equal(dq_fwd_new(&f, m, 64, 16, 1, DQ_KV_F16), 0);
  assert_int_equal(dq_fwd_new(&g, m, 64, 16, 1, DQ_KV_F16), 0);
  int calls = 0;
  assert_int_equal(dq_fwd_eval_stop(f, toks, n, NULL, stop_after, &calls), DOCQ_ECANCELED);
  assert_int_equal(f->n_past, 32);
  assert_non_null(strstr(dq_err_msg(), "interrupted after 32 of 50 tokens"));
  assert_int_equal(dq_fwd_eval(f, toks + 32, n - 32, NULL), 0);
  assert_int_equal(dq_fwd_eval_stop(g, toks, n, NULL, NULL, NULL), 0);
  assert_memory_equal(f->logits, g->logits, sizeof(float) * (size_t)nv);
  dq_fwd_free(f);
  dq_fwd_free(g);
  dq_model_free(m);
  dq_free(buf);
}

static void test_engine_forward__batch_equals_decode(void **state)
{
  (void)state;
  /* f32 weights + f32 cache: only summation order differs (BLAS vs dot) */
  consistency("llama", DQ_T_F32, 0, DQ_KV_F32, 1e-4);
  consistency("qwen2", DQ_T_F32, 1, DQ_KV_F32, 1e-4);
  /* quantized weights: prefill dequantizes exactly, decode quantizes the
   * activations to 8 bits, so they differ by that much */
  consistency("llama", DQ_T_Q8_0, 1, DQ_KV_F16, 2e-2);
  consistency("qwen2", DQ_T_Q4_K, 0, DQ_KV_F16, 5e-2);
  consistency("llama", DQ_T_Q3_K, 1, DQ_KV_F16, 5e-2);
  consistency("qwen2", DQ_T_Q2_K, 0, DQ_KV_F16, 5e-2);
}

/* What llama.cpp's gemma2 takes when a key is missing, and the cases the
 * reference above does not reach: caps 50 and 30 and a window of 4096 when
 * the file has none of those keys; the sliding layers rotate as the others
 * (a base in the file holds for both) unless rope.freq_base_swa is given;
 * the 46-layer 27B scales queries by 1/sqrt(n_embd / n_head), not by
 * 1/sqrt(head_dim). */
static void test_engine_forward__gemma2_defaults(void **state)
{
  (void)state;
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  p.arch = "gemma2";
  p.n_layer = 4;
  p.n_embd = 32;
  p.n_head = 2;
  p.n_head_kv = 1;
  p.head_dim = 8; /* n_embd / n_head = 16 */
  p.n_ff = 64;
  p.attn_softcap = -1.0f; /* no keys */
  p.final_softcap = -1.0f;
  p.sliding_window = -1;
  uint8_t *buf;
  dq_model *m = random_model(&p, &buf);
  assert_true(m->hp.attn_softcap == 50.0f);
  assert_true(m->hp.final_softcap == 30.0f);
  assert_int_equal(m->hp.n_swa, 4096);
  assert_int_equal(m->hp.n_layer_swa, 2);
  assert_true(m->layers[0].swa && !m->layers[1].swa && m->layers[2].swa && !m->layers[3].swa);
  assert_true(m->hp.rope.freq_base == 10000.0f);
  assert_true(m->hp.rope_swa.freq_base == 10000.0f);
  assert_true(fabsf(m->hp.q_scale - 1.0f / sqrtf(8.0f)) < 1e-7f);
  dq_model_free(m);
  dq_free(buf);

  /* the converter's own values: the same caps and window, written */
  p.attn_softcap = p.final_softcap = 0.0f;
  p.sliding_window = 0;
  m = random_model(&p, &buf);
  assert_true(m->hp.attn_softcap == 50.0f);
  assert_true(m->hp.final_softcap == 30.0f);
  assert_int_equal(m->hp.n_swa, 4096);
  dq_model_free(m);
  dq_free(buf);

  /* a base in the file: the sliding layers take it too (Gemma 3's keep 10000) */
  p.rope_freq_base = 1e6f;
  m = random_model(&p, &buf);
  assert_true(m->hp.rope.freq_base == 1e6f);
  assert_true(m->hp.rope_swa.freq_base == 1e6f);
  dq_model_free(m);
  dq_free(buf);

  /* ... unless they have their own */
  dq_gw *w;
  size_t n;
  assert_int_equal(dq_gw_model(&w, &p), 0);
  assert_int_equal(dq_gw_add_f32(w, "gemma2.rope.freq_base_swa", 5000.0f), 0);
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  dq_gw_free(w);
  assert_int_equal(dq_model_from_buffer(&m, buf, n), 0);
  assert_true(m->hp.rope.freq_base == 1e6f);
  assert_true(m->hp.rope_swa.freq_base == 5000.0f);
  dq_model_free(m);
  dq_free(buf);

  /* Gemma 2 27B's query scale */
  p.n_layer = 46;
  m = random_model(&p, &buf);
  assert_int_equal(m->hp.n_layer_swa, 23);
  assert_true(fabsf(m->hp.q_scale - 0.25f) < 1e-7f);
  dq_model_free(m);
  dq_free(buf);
}

/* ---- validation ------------------------------------------------------------------ */

/* Patch the u32 value of metadata key `key` in a serialized GGUF buffer. */
static void patch_u32(uint8_t *buf, size_t n, const char *key, uint32_t v)
{
  size_t kl = strlen(key);
  for (size_t i = 8; i + kl + 8 <= n; i++)
    if (!memcmp(buf + i, key, kl) && buf[i - 8] == kl) {
      uint8_t *p = buf + i + kl + 4; /* after the type tag */
      for (int b = 0; b < 4; b++) p[b] = (uint8_t)(v >> (8 * b));
      return;
    }
  fail_msg("key %s not found", key);
}

/* Loading buf must fail with `code` and a message containing `what` (and
 * leave no model); buf is freed. */
/* The load fails with `code`, naming `what`. Loaded for description
 * (DQ_LOAD_INFO), damage fails the same, while a file that is only beyond
 * docq (DOCQ_EUNSUPPORTED) loads without weights, keeps the reason, and
 * gives it again, with its code, to whoever asks the model to generate. */
static void load_fails(uint8_t *buf, size_t n, int code, const char *what)
{
  dq_model *m = (dq_model *)1;
  assert_int_equal(dq_model_from_buffer(&m, buf, n), code);
  assert_null(m);
  if (!strstr(dq_err_msg(), what)) fail_msg("error '%s' does not name '%s'", dq_err_msg(), what);
  if (code != DOCQ_EUNSUPPORTED) {
    m = (dq_model *)1;
    assert_int_equal(dq_model_from_buffer_flags(&m, buf, n, DQ_LOAD_INFO), code);
    assert_null(m);
    if (!strstr(dq_err_msg(), what)) fail_msg("info load: error '%s' does not name '%s'", dq_err_msg(), what);
  } else {
    assert_int_equal(dq_model_from_buffer_flags(&m, buf, n, DQ_LOAD_INFO), 0);
    assert_int_equal(m->has_weights, 0);
    assert_null(m->layers);
    assert_non_null(m->run_error);
    if (!strstr(m->run_error, what)) fail_msg("run_error '%s' does not name '%s'", m->run_error, what);
    dq_fwd *f = (dq_fwd *)1;
    assert_int_equal(dq_fwd_new(&f, m, 16, 0, 1, DQ_KV_F16), DOCQ_EUNSUPPORTED);
    assert_null(f);
    assert_string_equal(dq_err_msg(), m->run_error);
    dq_model_free(m);
  }
  dq_free(buf);
}

static void test_engine_forward__validation_names_the_problem(void **state)
{
  (void)state;
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  dq_gw *w;
  uint8_t *buf;
  size_t n;
  dq_model *m;
  assert_int_equal(dq_gw_model(&w, &p), 0);
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  patch_u32(buf, n, "llama.feed_forward_length", (uint32_t)p.n_ff + 32);
  load_fails(buf, n, DOCQ_ECORRUPT, "blk.0.ffn_gate.weight");
  /* a block_count far beyond the file's tensors fails before any
   * allocation for that many layers */
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  patch_u32(buf, n, "llama.block_count", 1u << 22);
  load_fails(buf, n, DOCQ_ECORRUPT, "block_count 4194304");
  /* one fewer than the file's layers: refused, not run with the last layer
   * left out (llama.cpp refuses it too) */
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  patch_u32(buf, n, "llama.block_count", (uint32_t)p.n_layer - 1);
  load_fails(buf, n, DOCQ_ECORRUPT, "tensor 'blk.1.");
  /* head_count_kv that does not divide head_count */
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  patch_u32(buf, n, "llama.attention.head_count_kv", 3);
  load_fails(buf, n, DOCQ_ECORRUPT, "head_count_kv");
  /* an original context past any context length (as an int it was
   * negative, and the YaRN ramp NaN); 4096 loads */
  assert_int_equal(dq_gw_add_u32(w, "llama.rope.scaling.original_context_length", 4096), 0);
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  assert_int_equal(dq_model_from_buffer(&m, buf, n), 0);
  assert_int_equal(m->hp.rope.n_ctx_orig, 4096);
  dq_model_free(m);
  patch_u32(buf, n, "llama.rope.scaling.original_context_length", 0xffffffffu);
  load_fails(buf, n, DOCQ_ECORRUPT, "original_context_length' = 4294967295 is out of range");
  /* float settings out of range or NaN: damage, named (a NaN or huge
   * attention factor ran, and wrote empty tokens) */
  {
    static const struct { const char *key; float v; } bad[] = {
      { "llama.rope.scaling.attn_factor", -1.0f }, { "llama.rope.scaling.attn_factor", 1e30f },
      { "llama.rope.scaling.attn_factor", NAN }, { "llama.rope.freq_base", 0.0f },
      { "llama.rope.freq_base", INFINITY }, { "llama.attention.layer_norm_rms_epsilon", NAN },
      { "llama.rope.scaling.yarn_beta_fast", NAN },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
      dq_gw *wf;
      assert_int_equal(dq_gw_model(&wf, &p), 0);
      if (strstr(bad[i].key, "scaling")) assert_int_equal(dq_gw_add_f32(wf, bad[i].key, 1.0f), 0);
      assert_int_equal(dq_gw_write_mem(wf, &buf, &n), 0);
      uint32_t bits;
      memcpy(&bits, &bad[i].v, 4);
      patch_u32(buf, n, bad[i].key, bits);
      load_fails(buf, n, DOCQ_ECORRUPT, bad[i].key + 6);
      dq_gw_free(wf);
    }
  }
  /* a rope_freqs tensor of the wrong length */
  float ff[3] = {1, 1, 1};
  int64_t ne[1] = {3};
  assert_int_equal(dq_gw_add_tensor_f32(w, "rope_freqs.weight", DQ_T_F32, 1, ne, ff), 0);
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  load_fails(buf, n, DOCQ_ECORRUPT, "rope_freqs.weight");
  dq_gw_free(w);

  /* an unsupported architecture */
  w = dq_gw_new();
  assert_int_equal(dq_gw_add_str(w, "general.architecture", "mamba"), 0);
  int64_t ne2[2] = {32, 8};
  assert_int_equal(dq_gw_add_tensor(w, "token_embd.weight", DQ_T_F32, 2, ne2, NULL), 0);
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  load_fails(buf, n, DOCQ_EUNSUPPORTED, "mamba");
  dq_gw_free(w);

  /* a name with a NUL inside: "llama\0x" is not llama */
  w = dq_gw_new();
  assert_int_equal(dq_gw_add_str(w, "general.architecture", "llama@x"), 0);
  assert_int_equal(dq_gw_add_tensor(w, "token_embd.weight", DQ_T_F32, 2, ne2, NULL), 0);
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  uint8_t *at = memmem(buf, n, "llama@x", 7);
  assert_non_null(at);
  at[5] = 0;
  load_fails(buf, n, DOCQ_ECORRUPT, "holds a NUL byte");
  dq_gw_free(w);

  /* a type GGUF files may hold but the kernels cannot compute with: the
   * file parses, and the load names the tensor and the type */
  dq_gw_model_params_default(&p);
  p.n_embd = 256;
  p.n_ff = 512;
  p.n_head = 4;
  p.n_head_kv = 2;
  p.tied_embeddings = 1;
  assert_int_equal(dq_gw_model(&w, &p), 0);
  int64_t ne3[2] = {p.n_embd, p.n_vocab};
  assert_int_equal(dq_gw_add_tensor(w, "output.weight", DQ_T_IQ2_XXS, 2, ne3, NULL), 0);
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  load_fails(buf, n, DOCQ_EUNSUPPORTED, "tensor 'output.weight' has type iq2_xxs, which docq does not support");
  dq_gw_free(w);
  /* an ARM-interleaved Q4_0 of 2024 is named as that, with what to use instead */
  assert_int_equal(dq_gw_model(&w, &p), 0);
  assert_int_equal(dq_gw_add_tensor(w, "output.weight", DQ_T_Q4_0_4_4, 2, ne3, NULL), 0);
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  load_fails(buf, n, DOCQ_EUNSUPPORTED,
             "tensor 'output.weight' has type q4_0_4x4, which docq does not support (rows interleaved for ARM kernels");
  dq_gw_free(w);

  /* a tokenizer-only file loads, but cannot run */
  w = dq_gw_new();
  const char *toks[3] = {"<unk>", "<s>", "</s>"};
  assert_int_equal(dq_gw_add_str(w, "general.architecture", "llama"), 0);
  assert_int_equal(dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, 3), 0);
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  assert_int_equal(dq_model_from_buffer(&m, buf, n), 0);
  assert_int_equal(m->has_weights, 0);
  dq_fwd *f;
  assert_int_equal(dq_fwd_new(&f, m, 16, 0, 1, DQ_KV_F16), DOCQ_EINVAL);
  assert_non_null(strstr(dq_err_msg(), "no weights"));
  dq_model_free(m);
  dq_free(buf);
  dq_gw_free(w);
}

/* YaRN declared in the file is what the model's RoPE uses (rope.md Appendix A). */
static void test_engine_forward__rope_from_metadata(void **state)
{
  (void)state;
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  p.arch = "qwen2";
  p.n_embd = 256;
  p.n_head = 4;
  p.n_head_kv = 2; /* head_dim 64 */
  p.rope_freq_base = 10000.0f;
  p.rope_scaling_type = "yarn";
  p.rope_scaling_factor = 4.0f;
  p.rope_orig_ctx = 512;
  uint8_t *buf;
  dq_model *m = random_model(&p, &buf);
  dq_rope r;
  assert_int_equal(dq_rope_init(&r, &m->hp.rope), 0);
  assert_int_equal(r.p.mode, DQ_ROPE_NEOX);
  assert_float_equal(r.corr_low, 3.0f, 0.0f);
  assert_float_equal(r.corr_high, 16.0f, 0.0f);
  assert_float_equal(r.mscale, 1.138629436f, 1e-6f);
  assert_true(fabs(dq_rope_theta(&r, 7) - 1.025785717e-01) < 1e-8);
  dq_model_free(m);
  dq_free(buf);

  /* original_context_length written as 0 means unset, as in llama.cpp
   * (llama-context.cpp: n_ctx_orig_yarn 0 falls back to n_ctx_train): the
   * ramp is then rope.md's for L = context_length = 256, pairs
   * floor(64 ln(256 / (32 * 2 pi)) / (2 ln 10000)) = 0 to
   * ceil(64 ln(256 / (2 pi)) / (2 ln 10000)) = 13 */
  p.n_ctx = 256;
  dq_gw *w;
  size_t n;
  assert_int_equal(dq_gw_model(&w, &p), 0);
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  dq_gw_free(w);
  patch_u32(buf, n, "qwen2.rope.scaling.original_context_length", 0);
  assert_int_equal(dq_model_from_buffer(&m, buf, n), 0);
  assert_int_equal(m->hp.rope.n_ctx_orig, 256);
  assert_int_equal(dq_rope_init(&r, &m->hp.rope), 0);
  assert_float_equal(r.corr_low, 0.0f, 0.0f);
  assert_float_equal(r.corr_high, 13.0f, 0.0f);
  dq_model_free(m);
  dq_free(buf);
}

/* dq_ggml_swiglu: x / (1 + e^-x) * up. Its 8-wide groups go lane by lane
 * (the scalar form of the same vector e^x) when one lane is out of the
 * fast range (|x| > 87), so a value must come out with the same bits in
 * either kind of group; and it must agree with the C library's expf to a
 * few ulp. The last n % 8 values use expf itself. */
static void test_engine_forward__swiglu_groups_agree(void **state)
{
  (void)state;
  enum { P = 1024, N = 16 * P + 5 }; /* P pairs of groups */
  static float g[N], u[N], out[N];
  unsigned seed = 7;
  for (int i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    g[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 40.0f; /* -20..20 */
    u[i] = 0.5f + (float)(i % 7) * 0.25f;
  }
  for (int p = 0; p < P; p++) { /* groups 2p and 2p+1 hold the same lanes 0..6; lane 7 of 2p is out of range */
    for (int i = 0; i < 7; i++) {
      g[16 * p + 8 + i] = g[16 * p + i];
      u[16 * p + 8 + i] = u[16 * p + i];
    }
    g[16 * p + 7] = 100.0f;
  }
  memcpy(out, g, sizeof out);
  dq_ggml_swiglu(out, u, N);
  for (int p = 0; p < P; p++) {
    for (int i = 0; i < 7; i++) assert_memory_equal(&out[16 * p + i], &out[16 * p + 8 + i], sizeof(float));
    assert_true(out[16 * p + 7] == 100.0f * u[16 * p + 7]); /* e^-100 vanishes next to 1 */
  }
  for (int i = 0; i < N; i++) {
    const double want = (double)g[i] / (1.0 + exp(-(double)g[i])) * u[i];
    if (!(fabs(out[i] - want) <= 4e-7 * fabs(want) + 1e-30))
      fail_msg("swiglu[%d] (x = %.9g): %.9g vs %.9g", i, g[i], out[i], want);
  }
}

/* dq_ggml_geglu's GELU table against ggml's own (ggml_table_gelu_f16 of
 * llama.cpp d32676d7's libggml-cpu, x86-64 AVX2 build): the 37376 f16
 * inputs in (-10, 10), where the table is read, hashed in order (FNV-1a 64
 * over the little-endian halves). The entry at 0xBFFF (x = -1.999) is the one
 * an FMA build rounds differently from an unfused formula: 0xA9D3. */
static void test_engine_forward__geglu_table_is_ggmls(void **state)
{
  (void)state;
  static uint16_t tab[1 << 16];
  size_t n = 0;
  for (int i = 0; i < (1 << 16); i++) {
    const float x = dq_f16_to_f32((uint16_t)i);
    if (!(x > -10.0f && x < 10.0f)) continue;
    float g = x, one = 1.0f;
    dq_ggml_geglu(&g, &one, 1);
    tab[n] = dq_f32_to_f16(g);
    assert_true(dq_f16_to_f32(tab[n]) == g); /* a table value, times 1 */
    if (i == 0xBFFF) assert_int_equal(tab[n], 0xA9D3);
    n++;
  }
  assert_int_equal(n, 37376);
  assert_true(fnv1a64((const uint8_t *)tab, n * sizeof *tab) == 0xc6e6387bbbd264faull);
}

int main(void)
{
  if (!shared_dir()) fprintf(stderr, "DOCQ_SHARED_DIR not set: parity tests against /work/shared are skipped\n");
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_forward__swiglu_groups_agree),
    cmocka_unit_test(test_engine_forward__geglu_table_is_ggmls),
    cmocka_unit_test(test_engine_forward__stories260k_parity),
    cmocka_unit_test(test_engine_forward__stories260k_f32_llamacpp),
    cmocka_unit_test(test_engine_forward__stories260k_ggml_decode),
    cmocka_unit_test(test_engine_forward__qwen3_llamacpp),
    cmocka_unit_test(test_engine_forward__smollm3_llamacpp),
    cmocka_unit_test(test_engine_forward__gemma3_llamacpp),
    cmocka_unit_test(test_engine_forward__gemma2_llamacpp),
    cmocka_unit_test(test_engine_forward__gemma2_defaults),
    cmocka_unit_test(test_engine_forward__phi3_llamacpp),
    cmocka_unit_test(test_engine_forward__phi3_short_factors_llamacpp),
    cmocka_unit_test(test_engine_forward__qwen2_q8_0_parity),
    cmocka_unit_test(test_engine_forward__qwen2_q4_0_parity),
    cmocka_unit_test(test_engine_forward__qwen2_q4_k_m_parity),
    cmocka_unit_test(test_engine_forward__qwen2_q6_k_parity),
    cmocka_unit_test(test_engine_forward__batch_equals_decode),
    cmocka_unit_test(test_engine_forward__eval_stops_between_batches),
    cmocka_unit_test(test_engine_forward__validation_names_the_problem),
    cmocka_unit_test(test_engine_forward__rope_from_metadata),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
