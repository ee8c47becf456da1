/* Writes tests/data/stories260K.ggml-decode.txt: stories260K logits computed
 * by ggml's own CPU operators in the graph llama.cpp builds for a llama model
 * (f16 KV cache, flash attention), one token per step as llama.cpp decodes,
 * 1 thread. With "batch" as second argument it runs the whole prompt at once
 * instead; that run reproduces ../shared/models/stories260K.reference.txt to
 * its last printed digit on an x86 AVX2 build (no AVX-512) with llamafile's
 * sgemm on, which is how the reference was made, and it is how docq's parity
 * mode (engine/ggml_order.h) was checked operation by operation.
 *
 * Not part of the build. ggml is built outside the repo:
 *   cmake -S ggml -B ggml/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_LLAMAFILE=ON
 *   cmake --build ggml/build
 *   cc -O2 ggml_stories260k.c -Iggml/include -Lggml/build/src -lggml -lggml-base -lggml-cpu -lm \
 *      -Wl,-rpath,ggml/build/src
 *   ./a.out ../shared/models/stories260K.gguf > out.txt
 * (the header lines of the data file are written by hand). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-cpu.h"
#include "ggml.h"
#include "gguf.h"

enum { N_LAYER = 5, N_HEAD = 8, N_HEAD_KV = 4, HEAD_DIM = 8, N_VOCAB = 512, MAX_TOK = 64 };

static struct ggml_tensor *weight(struct ggml_context *w, const char *fmt, int layer)
{
  char name[128];
  snprintf(name, sizeof name, fmt, layer);
  struct ggml_tensor *t = ggml_get_tensor(w, name);
  if (!t) {
    fprintf(stderr, "no tensor %s\n", name);
    exit(1);
  }
  return t;
}

static float key_f32(struct gguf_context *g, const char *key, float dflt)
{
  const int64_t k = gguf_find_key(g, key);
  return k >= 0 ? gguf_get_val_f32(g, k) : dflt;
}

/* Evaluates toks[p0 .. p0+nt) at positions p0.., appending K and V to the
 * caches; writes nt rows of logits. */
static void eval(struct ggml_context *w, struct ggml_tensor **kc, struct ggml_tensor **vc, const int *toks, int p0,
                 int nt, float eps, float base, int n_ctx_orig, float *logits)
{
  struct ggml_init_params ip = {.mem_size = 64u << 20, .mem_buffer = NULL, .no_alloc = false};
  struct ggml_context *c = ggml_init(ip);
  struct ggml_tensor *it = ggml_new_tensor_1d(c, GGML_TYPE_I32, nt), *pos = ggml_new_tensor_1d(c, GGML_TYPE_I32, nt);
  for (int i = 0; i < nt; i++) {
    ((int32_t *)it->data)[i] = toks[p0 + i];
    ((int32_t *)pos->data)[i] = p0 + i;
  }
  const int n_kv = p0 + nt, mask_rows = (nt + 63) / 64 * 64; /* the kernel wants padded mask rows */
  struct ggml_tensor *mask = ggml_new_tensor_2d(c, GGML_TYPE_F16, n_kv, mask_rows);
  for (int r = 0; r < mask_rows; r++)
    for (int j = 0; j < n_kv; j++)
      ((ggml_fp16_t *)mask->data)[r * n_kv + j] = ggml_fp32_to_fp16(r < nt && j <= p0 + r ? 0.0f : -INFINITY);

  struct ggml_cgraph *gf = ggml_new_graph_custom(c, 2048, false);
  struct ggml_tensor *x = ggml_get_rows(c, ggml_get_tensor(w, "token_embd.weight"), it);
  const size_t row = ggml_row_size(GGML_TYPE_F16, HEAD_DIM * N_HEAD_KV);
  for (int l = 0; l < N_LAYER; l++) {
    struct ggml_tensor *cur = ggml_mul(c, ggml_rms_norm(c, x, eps), weight(w, "blk.%d.attn_norm.weight", l));
    struct ggml_tensor *q = ggml_mul_mat(c, weight(w, "blk.%d.attn_q.weight", l), cur);
    struct ggml_tensor *k = ggml_mul_mat(c, weight(w, "blk.%d.attn_k.weight", l), cur);
    struct ggml_tensor *v = ggml_mul_mat(c, weight(w, "blk.%d.attn_v.weight", l), cur);
    q = ggml_rope_ext(c, ggml_reshape_3d(c, q, HEAD_DIM, N_HEAD, nt), pos, NULL, HEAD_DIM, 0, n_ctx_orig, base, 1.0f,
                      0.0f, 1.0f, 32.0f, 1.0f);
    k = ggml_rope_ext(c, ggml_reshape_3d(c, k, HEAD_DIM, N_HEAD_KV, nt), pos, NULL, HEAD_DIM, 0, n_ctx_orig, base,
                      1.0f, 0.0f, 1.0f, 32.0f, 1.0f);
    ggml_build_forward_expand(gf, ggml_cpy(c, ggml_reshape_2d(c, k, HEAD_DIM * N_HEAD_KV, nt),
                                           ggml_view_2d(c, kc[l], HEAD_DIM * N_HEAD_KV, nt, row, (size_t)p0 * row)));
    ggml_build_forward_expand(gf, ggml_cpy(c, v, ggml_view_2d(c, vc[l], HEAD_DIM * N_HEAD_KV, nt, row, (size_t)p0 * row)));
    struct ggml_tensor *kv = ggml_view_3d(c, kc[l], HEAD_DIM, n_kv, N_HEAD_KV, row, ggml_row_size(GGML_TYPE_F16, HEAD_DIM), 0);
    struct ggml_tensor *vv = ggml_view_3d(c, vc[l], HEAD_DIM, n_kv, N_HEAD_KV, row, ggml_row_size(GGML_TYPE_F16, HEAD_DIM), 0);
    struct ggml_tensor *att = ggml_flash_attn_ext(c, ggml_permute(c, q, 0, 2, 1, 3), kv, vv, mask,
                                                  1.0f / sqrtf((float)HEAD_DIM), 0.0f, 0.0f);
    ggml_flash_attn_ext_set_prec(att, GGML_PREC_F32);
    cur = ggml_mul_mat(c, weight(w, "blk.%d.attn_output.weight", l), ggml_reshape_2d(c, att, HEAD_DIM * N_HEAD, nt));
    struct ggml_tensor *ffn_in = ggml_add(c, cur, x);
    cur = ggml_mul(c, ggml_rms_norm(c, ffn_in, eps), weight(w, "blk.%d.ffn_norm.weight", l));
    struct ggml_tensor *up = ggml_mul_mat(c, weight(w, "blk.%d.ffn_up.weight", l), cur);
    struct ggml_tensor *gate = ggml_mul_mat(c, weight(w, "blk.%d.ffn_gate.weight", l), cur);
    cur = ggml_mul_mat(c, weight(w, "blk.%d.ffn_down.weight", l), ggml_swiglu_split(c, gate, up));
    x = ggml_add(c, cur, ffn_in);
  }
  x = ggml_mul(c, ggml_rms_norm(c, x, eps), ggml_get_tensor(w, "output_norm.weight"));
  x = ggml_mul_mat(c, ggml_get_tensor(w, "output.weight"), x);
  ggml_build_forward_expand(gf, x);
  ggml_graph_compute_with_ctx(c, gf, 1);
  memcpy(logits, x->data, (size_t)nt * N_VOCAB * sizeof(float));
  ggml_free(c);
}

int main(int argc, char **argv)
{
  if (argc < 2) return 2;
  const int batch = argc > 2 && !strcmp(argv[2], "batch");
  struct ggml_context *w = NULL;
  struct gguf_init_params gp = {.no_alloc = false, .ctx = &w};
  struct gguf_context *g = gguf_init_from_file(argv[1], gp);
  if (!g) return 1;
  const float eps = key_f32(g, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  const float base = key_f32(g, "llama.rope.freq_base", 10000.0f);
  const int64_t kc_key = gguf_find_key(g, "llama.context_length");
  const int n_ctx_orig = kc_key >= 0 ? (int)gguf_get_val_u32(g, kc_key) : 2048;
  static const int prompts[2][MAX_TOK] = {
    {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426},
    {1, 274, 287, 269, 301, 425, 411, 263, 377, 267, 265, 282, 295, 433, 426, 342, 394, 261, 370, 400, 428, 426}};
  static const int lens[2] = {16, 22};
  static float logits[MAX_TOK * N_VOCAB];
  for (int pr = 0; pr < 2; pr++) {
    struct ggml_init_params cp = {.mem_size = 4u << 20, .mem_buffer = NULL, .no_alloc = false};
    struct ggml_context *cache = ggml_init(cp);
    struct ggml_tensor *kc[N_LAYER], *vc[N_LAYER];
    for (int l = 0; l < N_LAYER; l++) {
      kc[l] = ggml_new_tensor_2d(cache, GGML_TYPE_F16, HEAD_DIM * N_HEAD_KV, MAX_TOK);
      vc[l] = ggml_new_tensor_2d(cache, GGML_TYPE_F16, HEAD_DIM * N_HEAD_KV, MAX_TOK);
    }
    const int n = lens[pr];
    if (batch) eval(w, kc, vc, prompts[pr], 0, n, eps, base, n_ctx_orig, logits);
    else
      for (int p = 0; p < n; p++) eval(w, kc, vc, prompts[pr], p, 1, eps, base, n_ctx_orig, logits + (size_t)p * N_VOCAB);
    printf("tokens %d:", n);
    for (int i = 0; i < n; i++) printf(" %d", prompts[pr][i]);
    printf("\n");
    for (int i = 0; i < n; i++) {
      const float *l = logits + (size_t)i * N_VOCAB;
      int am = 0;
      for (int j = 1; j < N_VOCAB; j++)
        if (l[j] > l[am]) am = j;
      printf("pos %d argmax %d logits[0..15]:", i, am);
      for (int j = 0; j < 16; j++) printf(" %.6f", l[j]);
      printf("\n");
    }
    ggml_free(cache);
  }
  gguf_free(g);
  ggml_free(w);
  return 0;
}
