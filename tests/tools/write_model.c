/* Writes a random-weight model with the test GGUF writer
 * (tests/support/gguf_writer.h), for making reference outputs with another
 * engine:
 *   cmake --build build --target write_model
 *   build/tests/write_model OUT.gguf arch=qwen3 head_dim=32 seed=7 ...
 * (arch: llama, qwen2, qwen3, smollm3, phi3, gemma2, gemma3)
 * Keys: arch, layers, embd, heads, heads_kv, head_dim, ff, vocab, ctx, seed,
 * std (weight_std), embd_std, tied (0/1), freq_base, swa (sliding_window),
 * scaling (rope_scaling_type: linear, yarn, ...) and factor
 * (rope_scaling_factor), attn_softcap and final_softcap (gemma2's
 * attn_logit_softcapping and final_logit_softcapping: 0 writes Gemma 2's 50
 * and 30, a negative value no key), rot (rope.dimension_count), orig_ctx
 * (rope.scaling.original_context_length), attn_factor
 * (rope.scaling.attn_factor), long and short (LongRoPE factors: comma-separated,
 * rot / 2 values each, both or neither); the rest are the writer's defaults
 * (dq_gw_model_params_default), f32 weights. Not part of the test run: the
 * tests that use such a reference write the same model themselves and check
 * its bytes' hash first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docq.h"
#include "gguf_writer.h"
#include "util/err.h"

/* "a,b,c" into v (at most max values); the count, or -1. */
static int parse_list(const char *s, float *v, int max)
{
  int n = 0;
  for (char *e;; s = e + 1) {
    if (n == max) return -1;
    v[n++] = strtof(s, &e);
    if (e == s) return -1;
    if (*e != ',') return *e ? -1 : n;
  }
}

int main(int argc, char **argv)
{
  static float fl[256], fs[256];
  int n_fl = 0, n_fs = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: write_model OUT.gguf [key=value ...]\n");
    return 2;
  }
  dq_gw_model_params p;
  dq_gw_model_params_default(&p);
  for (int i = 2; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq) {
      fprintf(stderr, "write_model: '%s' is not key=value\n", argv[i]);
      return 2;
    }
    *eq = 0;
    const char *k = argv[i], *v = eq + 1;
    if (!strcmp(k, "arch")) p.arch = v;
    else if (!strcmp(k, "layers")) p.n_layer = atoi(v);
    else if (!strcmp(k, "embd")) p.n_embd = atoi(v);
    else if (!strcmp(k, "heads")) p.n_head = atoi(v);
    else if (!strcmp(k, "heads_kv")) p.n_head_kv = atoi(v);
    else if (!strcmp(k, "head_dim")) p.head_dim = atoi(v);
    else if (!strcmp(k, "ff")) p.n_ff = atoi(v);
    else if (!strcmp(k, "vocab")) p.n_vocab = atoi(v);
    else if (!strcmp(k, "ctx")) p.n_ctx = atoi(v);
    else if (!strcmp(k, "seed")) p.seed = strtoull(v, NULL, 10);
    else if (!strcmp(k, "std")) p.weight_std = strtof(v, NULL);
    else if (!strcmp(k, "embd_std")) p.embd_std = strtof(v, NULL);
    else if (!strcmp(k, "tied")) p.tied_embeddings = atoi(v);
    else if (!strcmp(k, "freq_base")) p.rope_freq_base = strtof(v, NULL);
    else if (!strcmp(k, "swa")) p.sliding_window = atoi(v);
    else if (!strcmp(k, "scaling")) p.rope_scaling_type = v;
    else if (!strcmp(k, "factor")) p.rope_scaling_factor = strtof(v, NULL);
    else if (!strcmp(k, "attn_softcap")) p.attn_softcap = strtof(v, NULL);
    else if (!strcmp(k, "final_softcap")) p.final_softcap = strtof(v, NULL);
    else if (!strcmp(k, "rot")) p.n_rot = atoi(v);
    else if (!strcmp(k, "orig_ctx")) p.rope_orig_ctx = atoi(v);
    else if (!strcmp(k, "attn_factor")) p.rope_attn_factor = strtof(v, NULL);
    else if (!strcmp(k, "long") || !strcmp(k, "short")) {
      const int lg = !strcmp(k, "long");
      const int n = parse_list(v, lg ? fl : fs, 256);
      if (n < 0) {
        fprintf(stderr, "write_model: %s: a comma-separated list of at most 256 numbers\n", k);
        return 2;
      }
      *(lg ? &n_fl : &n_fs) = n;
      *(lg ? &p.rope_factors_long : &p.rope_factors_short) = lg ? fl : fs;
    }
    else {
      fprintf(stderr, "write_model: unknown key '%s'\n", k);
      return 2;
    }
  }
  const int n_rot = p.n_rot > 0 ? p.n_rot : p.head_dim > 0 ? p.head_dim : p.n_embd / (p.n_head > 0 ? p.n_head : 1);
  if ((n_fl || n_fs) && (n_fl != n_rot / 2 || n_fs != n_rot / 2)) {
    fprintf(stderr, "write_model: long and short need %d values each (rot / 2)\n", n_rot / 2);
    return 2;
  }
  if (dq_gw_write_model(&p, argv[1]) < 0) {
    fprintf(stderr, "write_model: %s\n", dq_err_msg());
    return 1;
  }
  return 0;
}
