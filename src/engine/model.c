/* Loading a decoder model (llama, qwen2, qwen3, phi3, smollm3, gemma3) from GGUF: hyperparameters from the metadata,
 * RoPE settings as the file declares them, and weight pointers into the map,
 * each checked for presence, shape and type before anything runs.
 *
 * Every message names the file and the tensor or key at fault, because a
 * user with a broken download needs to know which part is broken. */
#include "engine/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docq.h"
#include "engine/kernels.h"
#include "util/err.h"
#include "util/mem.h"

const char *dq_arch_name(int arch)
{
  switch (arch) {
  case DQ_ARCH_LLAMA: return "llama";
  case DQ_ARCH_QWEN2: return "qwen2";
  case DQ_ARCH_PHI3: return "phi3";
  case DQ_ARCH_QWEN3: return "qwen3";
  case DQ_ARCH_SMOLLM3: return "smollm3";
  case DQ_ARCH_GEMMA3: return "gemma3";
  case DQ_ARCH_GEMMA2: return "gemma2";
  default: return "none";
  }
}

/* ---- metadata ------------------------------------------------------------- */

/* "{arch}.{suffix}" into buf. */
static const char *akey(char *buf, size_t n, const dq_hparams *hp, const char *suffix)
{
  snprintf(buf, n, "%s.%s", hp->arch_name, suffix);
  return buf;
}

/* Optional u32: absent -> def; wrong type -> error (the getter set it). */
static int opt_u32(const dq_gguf *g, const char *key, uint32_t def, uint32_t *out)
{
  int rc = dq_gguf_get_u32(g, key, out);
  if (rc == DOCQ_ENOTFOUND) {
    *out = def;
    return 0;
  }
  return rc;
}

static int opt_f32(const dq_gguf *g, const char *key, float def, float *out)
{
  int rc = dq_gguf_get_f32(g, key, out);
  if (rc == DOCQ_ENOTFOUND) {
    *out = def;
    return 0;
  }
  return rc;
}

/* opt_f32 for a value that must lie in [lo, hi] (NaN never does): past that
 * the file is damaged (a NaN YaRN attention factor gave empty output, exit 0). */
static int opt_f32_in(const dq_gguf *g, const char *key, float def, float lo, float hi, float *out)
{
  int rc = opt_f32(g, key, def, out);
  if (rc < 0) return rc;
  if (!(*out >= lo && *out <= hi))
    return dq_err_set(DOCQ_ECORRUPT, "%s: '%s' = %g is out of range (%g to %g)", g->path, key, (double)*out, (double)lo,
                      (double)hi);
  return 0;
}

static int req_u32(const dq_gguf *g, const char *key, uint32_t *out)
{
  int rc = dq_gguf_get_u32(g, key, out);
  if (rc == DOCQ_ENOTFOUND) return dq_err_set(DOCQ_ECORRUPT, "%s: missing key '%s'", g->path, key);
  return rc;
}

/* A logit softcap c from `key` (absent: def); c = 0 means none. */
static int softcap_key(const dq_model *m, const char *suffix, float def, float *out)
{
  const dq_hparams *hp = &m->hp;
  char k[128];
  int rc = opt_f32(m->gguf, akey(k, sizeof k, hp, suffix), def, out);
  if (rc < 0) return rc;
  if (!(*out >= 0.0f) || !isfinite(*out))
    return dq_err_set(DOCQ_ECORRUPT, "%s: '%s' = %g is out of range", m->gguf->path, k, (double)*out);
  return 0;
}

/* Gemma 2's and 3's constants, as llama.cpp's gemma2 and gemma3 models set
 * them. */
static int gemma_hparams(dq_model *m)
{
  const dq_gguf *g = m->gguf;
  dq_hparams *hp = &m->hp;
  const int g2 = hp->arch == DQ_ARCH_GEMMA2;
  char k[128];
  uint32_t u;
  int rc;
  /* Gemma 2: every other layer slides, over 4096 tokens unless the file
   * says otherwise; Gemma 3: five of six, over the file's window */
  if (g2 && dq_gguf_find(g, akey(k, sizeof k, hp, "attention.sliding_window")) < 0) hp->n_swa = 4096;
  if ((rc = opt_u32(g, akey(k, sizeof k, hp, "attention.sliding_window_pattern"), g2 ? 2 : 6, &u)) < 0) return rc;
  if (u == 0 || u > (1u << 24))
    return dq_err_set(DOCQ_ECORRUPT, "%s: '%s' = %u is out of range", g->path, k, u);
  hp->swa_period = (int)u;
  /* llama.cpp caps Gemma 2's scores and logits whether or not the file has
   * the keys (its defaults 50 and 30), Gemma 3's logits only when it has */
  if (g2 && (rc = softcap_key(m, "attn_logit_softcapping", 50.0f, &hp->attn_softcap)) < 0) return rc;
  if ((rc = softcap_key(m, "final_logit_softcapping", g2 ? 30.0f : 0.0f, &hp->final_softcap)) < 0) return rc;
  hp->embd_scale = sqrtf((float)hp->n_embd);
  /* the 27B models (Gemma 2: 46 layers, Gemma 3: 62) scale by the width per
   * head, the others by the head size (gemma_pytorch's query_pre_attn_scalar) */
  hp->q_scale = hp->n_layer == (g2 ? 46 : 62) ? 1.0f / sqrtf((float)(hp->n_embd / hp->n_head))
                                               : 1.0f / sqrtf((float)hp->head_dim);
  hp->act = DQ_ACT_GELU;
  return 0;
}

/* Read the hyperparameters. With weights = 0 (tokenizer-only files) missing
 * sizes are tolerated: the result is only used for describing the file. */
static int load_hparams(dq_model *m, int weights)
{
  const dq_gguf *g = m->gguf;
  dq_hparams *hp = &m->hp;
  char k[128];
  const char *s;
  size_t n;
  int rc;
  uint32_t u;

  if ((rc = dq_gguf_get_str(g, "general.architecture", &s, &n)) < 0) {
    if (rc == DOCQ_ENOTFOUND && !weights) return 0;
    if (rc == DOCQ_ENOTFOUND) return dq_err_set(DOCQ_ECORRUPT, "%s: missing key 'general.architecture'", g->path);
    return rc;
  }
  /* "llama\0x" would compare as "llama" */
  if (memchr(s, 0, n)) return dq_err_set(DOCQ_ECORRUPT, "%s: 'general.architecture' holds a NUL byte", g->path);
  if (n >= sizeof hp->arch_name) n = sizeof hp->arch_name - 1;
  memcpy(hp->arch_name, s, n);
  hp->arch_name[n] = 0;
  if (!strcmp(hp->arch_name, "llama")) hp->arch = DQ_ARCH_LLAMA;
  else if (!strcmp(hp->arch_name, "qwen2")) hp->arch = DQ_ARCH_QWEN2;
  else if (!strcmp(hp->arch_name, "phi3")) hp->arch = DQ_ARCH_PHI3;
  else if (!strcmp(hp->arch_name, "qwen3")) hp->arch = DQ_ARCH_QWEN3;
  else if (!strcmp(hp->arch_name, "smollm3")) hp->arch = DQ_ARCH_SMOLLM3;
  else if (!strcmp(hp->arch_name, "gemma3")) hp->arch = DQ_ARCH_GEMMA3;
  else if (!strcmp(hp->arch_name, "gemma2")) hp->arch = DQ_ARCH_GEMMA2;
  else if (weights && (!strcmp(hp->arch_name, "bert") || !strcmp(hp->arch_name, "nomic-bert")))
    return dq_err_set(DOCQ_EUNSUPPORTED,
                      "%s: '%s' is an embedding model, not a text generator: give it to docq index --embed-model "
                      "(or docq embed)", g->path, hp->arch_name);
  else if (weights)
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: architecture '%s' is not supported (llama, qwen2, qwen3, phi3, smollm3, "
                      "gemma2, gemma3)", g->path,
                      hp->arch_name);

  if (!weights) {
    /* Best effort for `model info` on a tokenizer file. */
    if (!opt_u32(g, akey(k, sizeof k, hp, "context_length"), 0, &u)) hp->n_ctx_train = (int)u;
    return 0;
  }
  struct { const char *suffix; int *dst; } req[] = {
    {"context_length", &hp->n_ctx_train}, {"embedding_length", &hp->n_embd}, {"block_count", &hp->n_layer},
    {"feed_forward_length", &hp->n_ff}, {"attention.head_count", &hp->n_head},
  };
  for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
    if ((rc = req_u32(g, akey(k, sizeof k, hp, req[i].suffix), &u)) < 0) return rc;
    if (u == 0 || u > (1u << 24))
      return dq_err_set(DOCQ_ECORRUPT, "%s: '%s' = %u is out of range", g->path, k, u);
    *req[i].dst = (int)u;
  }
  if ((rc = opt_u32(g, akey(k, sizeof k, hp, "attention.head_count_kv"), (uint32_t)hp->n_head, &u)) < 0) return rc;
  if (u == 0 || hp->n_head % (int)u)
    return dq_err_set(DOCQ_ECORRUPT, "%s: head_count_kv %u does not divide head_count %d", g->path, u, hp->n_head);
  hp->n_head_kv = (int)u;
  /* the head size is embedding_length / head_count unless the file says
   * otherwise (Qwen3, Mistral Nemo: heads of 128 whatever the width) */
  if ((rc = opt_u32(g, akey(k, sizeof k, hp, "attention.key_length"), 0, &u)) < 0) return rc;
  if (u == 0 && hp->n_embd % hp->n_head)
    return dq_err_set(DOCQ_ECORRUPT, "%s: embedding_length %d is not a multiple of head_count %d", g->path,
                      hp->n_embd, hp->n_head);
  if (u == 0) u = (uint32_t)(hp->n_embd / hp->n_head);
  if ((uint64_t)u * (uint64_t)hp->n_head > (1u << 24))
    return dq_err_set(DOCQ_ECORRUPT, "%s: %d heads of %u are out of range", g->path, hp->n_head, u);
  hp->head_dim = (int)u;
  uint32_t vl;
  if ((rc = opt_u32(g, akey(k, sizeof k, hp, "attention.value_length"), u, &vl)) < 0) return rc;
  if (vl != u || u == 0 || u > DQ_ROPE_MAX_DIMS)
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: head sizes key %u / value %u are not supported", g->path, u, vl);
  if ((rc = opt_u32(g, akey(k, sizeof k, hp, "rope.dimension_count"), u, &u)) < 0) return rc;
  if (u == 0 || u % 2 || (int)u > hp->head_dim)
    return dq_err_set(DOCQ_ECORRUPT, "%s: rope.dimension_count %u does not fit head size %d", g->path, u,
                      hp->head_dim);
  hp->n_rot = (int)u;
  if ((rc = opt_f32_in(g, akey(k, sizeof k, hp, "attention.layer_norm_rms_epsilon"), 1e-5f, 0.0f, 1.0f, &hp->rms_eps)) < 0)
    return rc;
  if (!(hp->rms_eps > 0.0f) || !(hp->rms_eps < 1.0f))
    return dq_err_set(DOCQ_ECORRUPT, "%s: layer_norm_rms_epsilon %g is out of range", g->path, (double)hp->rms_eps);
  if ((rc = opt_u32(g, akey(k, sizeof k, hp, "attention.sliding_window"), 0, &u)) < 0) return rc;
  hp->n_swa = u > (1u << 30) ? 0 : (int)u;
  if (hp->arch == DQ_ARCH_GEMMA3 || hp->arch == DQ_ARCH_GEMMA2) return gemma_hparams(m);
  /* llama.cpp's phi3 scales the queries before the attention, not the
   * scores in it: the same in f32, not once queries are rounded to f16 */
  if (hp->arch == DQ_ARCH_PHI3) hp->q_scale = 1.0f / sqrtf((float)hp->head_dim);
  return 0;
}

/* Weights are read in place, as floats (F32) or through 16-bit fields
 * (F16, BF16, every block's scale), so they must sit at addresses those
 * allow. A file written with general.alignment 1 (legal in GGUF, unseen in
 * practice; found by fuzz_model) can break that. Each row is a whole number
 * of such units, so checking the start covers the tensor. */
static int check_in_place(const dq_model *m, const dq_gguf_tensor *t, size_t align)
{
  if ((uintptr_t)t->data % align == 0) return 0;
  return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' starts at an address not aligned to %zu bytes (the file's "
                    "general.alignment is %u); docq reads weights in place", m->gguf->path, t->name, align,
                    m->gguf->alignment);
}

/* RoPE as declared: rope.md §3.1/§3.2 defaults (base 10000, type "linear"
 * when absent with factor 1, original context = context_length). The YaRN
 * beta/ext keys are honoured when present (llama.cpp ignores them for llama
 * and qwen2; files written by its converter do not carry them). */
static int load_rope(dq_model *m)
{
  const dq_gguf *g = m->gguf;
  dq_hparams *hp = &m->hp;
  dq_rope_params *rp = &hp->rope;
  char k[128];
  const char *s;
  size_t n;
  int rc;
  uint32_t u;
  float f;

  dq_rope_params_default(rp, hp->n_rot,
                         hp->arch == DQ_ARCH_LLAMA || hp->arch == DQ_ARCH_SMOLLM3 ? DQ_ROPE_NORM : DQ_ROPE_NEOX);
  if ((rc = opt_f32_in(g, akey(k, sizeof k, hp, "rope.freq_base"), 10000.0f, 1e-3f, 1e12f, &rp->freq_base)) < 0) return rc;
  rp->scaling = DQ_ROPE_SCALING_LINEAR;
  rc = dq_gguf_get_str(g, akey(k, sizeof k, hp, "rope.scaling.type"), &s, &n);
  if (rc == 0) {
    if (n == 4 && !memcmp(s, "none", 4)) rp->scaling = DQ_ROPE_SCALING_NONE;
    else if (n == 6 && !memcmp(s, "linear", 6)) rp->scaling = DQ_ROPE_SCALING_LINEAR;
    else if (n == 4 && !memcmp(s, "yarn", 4)) rp->scaling = DQ_ROPE_SCALING_YARN;
    else if (n == 8 && !memcmp(s, "longrope", 8)) rp->scaling = DQ_ROPE_SCALING_LONGROPE;
    else
      return dq_err_set(DOCQ_EUNSUPPORTED, "%s: rope.scaling.type '%.*s' is not supported (none, linear, yarn, longrope)",
                        g->path, (int)(n > 32 ? 32 : n), s);
  } else if (rc != DOCQ_ENOTFOUND) {
    return rc;
  }
  if ((rc = opt_f32(g, akey(k, sizeof k, hp, "rope.scaling.factor"), 0.0f, &f)) < 0) return rc;
  if (f == 0.0f && (rc = opt_f32(g, akey(k, sizeof k, hp, "rope.scale_linear"), 0.0f, &f)) < 0) return rc;
  if (f < 0.0f || !isfinite(f)) return dq_err_set(DOCQ_ECORRUPT, "%s: rope scaling factor %g", g->path, (double)f);
  hp->rope_factor = f > 0.0f ? f : 1.0f;
  rp->freq_scale = 1.0f / hp->rope_factor;
  if ((rc = opt_u32(g, akey(k, sizeof k, hp, "rope.scaling.original_context_length"), (uint32_t)hp->n_ctx_train, &u)) < 0)
    return rc;
  /* 0 written in the file means unset, as llama.cpp reads it (its context
   * parameters fall back to the trained length) */
  if (u > (1u << 24)) /* as context_length; past it the int and the YaRN ramp overflow */
    return dq_err_set(DOCQ_ECORRUPT, "%s: '%s' = %u is out of range", g->path, k, u);
  rp->n_ctx_orig = u ? (int)u : hp->n_ctx_train;
  /* 0 stays "unset" (rope.c: 1), as for the betas; negative ext = auto */
  if ((rc = opt_f32_in(g, akey(k, sizeof k, hp, "rope.scaling.attn_factor"), 1.0f, 0.0f, 100.0f, &rp->attn_factor)) < 0)
    return rc;
  if ((rc = opt_f32_in(g, akey(k, sizeof k, hp, "rope.scaling.yarn_ext_factor"), -1.0f, -1e3f, 1e3f, &rp->ext_factor)) < 0)
    return rc;
  if (rp->scaling != DQ_ROPE_SCALING_YARN) rp->ext_factor = -1.0f; /* the file's ramp mix is YaRN's */
  if ((rc = opt_f32_in(g, akey(k, sizeof k, hp, "rope.scaling.yarn_beta_fast"), 32.0f, -1e6f, 1e6f, &rp->beta_fast)) < 0)
    return rc;
  if ((rc = opt_f32_in(g, akey(k, sizeof k, hp, "rope.scaling.yarn_beta_slow"), 1.0f, -1e6f, 1e6f, &rp->beta_slow)) < 0)
    return rc;

  /* Llama 3.1 style per-pair factors (one shared tensor). */
  const dq_gguf_tensor *t = dq_gguf_tensor_find(g, "rope_freqs.weight");
  if (t) {
    if (t->type != DQ_T_F32 || t->ne[0] != hp->n_rot / 2 || t->ne[1] != 1)
      return dq_err_set(DOCQ_ECORRUPT, "%s: tensor 'rope_freqs.weight' must be F32 of %d values", g->path,
                        hp->n_rot / 2);
    if ((rc = check_in_place(m, t, 4)) < 0) return rc;
    rp->freq_factors = t->data;
  }
  /* LongRoPE (Phi-3 "su"): two factor sets, chosen per context (dq_model_rope_params) */
  const char *lr[2] = {"rope_factors_long.weight", "rope_factors_short.weight"};
  const float **dst[2] = {&hp->rope_long, &hp->rope_short};
  for (int i = 0; i < 2; i++) {
    const dq_gguf_tensor *tl = dq_gguf_tensor_find(g, lr[i]);
    if (!tl) continue;
    if (tl->type != DQ_T_F32 || tl->ne[0] != hp->n_rot / 2 || tl->ne[1] != 1)
      return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' must be F32 of %d values", g->path, lr[i], hp->n_rot / 2);
    if ((rc = check_in_place(m, tl, 4)) < 0) return rc;
    *dst[i] = tl->data;
  }
  if ((hp->rope_long != NULL) != (hp->rope_short != NULL))
    return dq_err_set(DOCQ_ECORRUPT, "%s: LongRoPE needs both rope_factors_long and rope_factors_short", g->path);
  dq_rope test;
  if ((rc = dq_rope_init(&test, rp)) < 0) return dq_err_wrap("%s", g->path);
  if ((hp->arch == DQ_ARCH_GEMMA3 || hp->arch == DQ_ARCH_GEMMA2) && hp->n_swa > 0) {
    /* The sliding layers' RoPE. Gemma 3: their own base (its
     * rope_local_base_freq), unscaled. Gemma 2: the file's, base included
     * unless rope.freq_base_swa says otherwise. Either way the file's, not
     * a run's overrides, as llama.cpp takes the sliding layers' from the
     * file (its rope_freq_*_train_swa). */
    dq_rope_params *sp = &hp->rope_swa;
    float base = 10000.0f;
    if (hp->arch == DQ_ARCH_GEMMA2) {
      *sp = *rp;
      base = rp->freq_base;
    } else {
      dq_rope_params_default(sp, hp->n_rot, rp->mode);
      sp->n_ctx_orig = rp->n_ctx_orig;
    }
    if ((rc = opt_f32(g, akey(k, sizeof k, hp, "rope.freq_base_swa"), base, &sp->freq_base)) < 0) return rc;
    if ((rc = dq_rope_init(&test, sp)) < 0) return dq_err_wrap("%s: rope.freq_base_swa", g->path);
  }
  return 0;
}

void dq_rope_overrides_default(dq_rope_overrides *o)
{
  memset(o, 0, sizeof *o);
  o->scaling = -1;
  o->ext_factor = -1.0f;
}

int dq_model_rope_params(const dq_model *m, const dq_rope_overrides *o, int n_ctx, dq_rope_params *out)
{
  const dq_hparams *hp = &m->hp;
  *out = hp->rope;
  if (o) {
    if (o->scaling >= 0) out->scaling = o->scaling;
    if (o->freq_scale > 0.0f) out->freq_scale = o->freq_scale;
    else if (o->scale > 0.0f) out->freq_scale = 1.0f / o->scale;
    if (o->freq_base > 0.0f) out->freq_base = o->freq_base;
    if (o->n_ctx_orig > 0) out->n_ctx_orig = o->n_ctx_orig;
    /* the file's ramp mix is YaRN's; one given here applies to any type
     * (dq_rope_init_len), as llama.cpp's --yarn-ext-factor */
    if (out->scaling != DQ_ROPE_SCALING_YARN) out->ext_factor = -1.0f;
    if (o->ext_factor >= 0.0f) out->ext_factor = o->ext_factor;
    /* llama.cpp drops a CLI attn factor when YaRN's ramp is on; docq always
     * applies it, as a multiplier on top of the file's and YaRN's own */
    if (o->attn_factor > 0.0f) out->attn_factor *= o->attn_factor;
    if (o->beta_fast > 0.0f) out->beta_fast = o->beta_fast;
    if (o->beta_slow > 0.0f) out->beta_slow = o->beta_slow;
  }
  if (!out->freq_factors && hp->rope_long) {
    if (n_ctx <= 0) n_ctx = hp->n_ctx_train;
    out->freq_factors = n_ctx > out->n_ctx_orig ? hp->rope_long : hp->rope_short;
  }
  dq_rope r;
  if (dq_rope_init(&r, out) < 0) return dq_err_wrap("%s", m->gguf->path);
  return 0;
}

/* ---- tensors -------------------------------------------------------------- */

static const dq_gguf_tensor *find_t(const dq_model *m, char *name, size_t cap, int layer, const char *what)
{
  if (layer >= 0) snprintf(name, cap, "blk.%d.%s", layer, what);
  else snprintf(name, cap, "%s", what);
  return dq_gguf_tensor_find(m->gguf, name);
}

/* What to do instead, for the unsupported types a user may well hold. */
static const char *type_advice(int type)
{
  switch (type) {
  case DQ_T_Q4_0_4_4: case DQ_T_Q4_0_4_8: case DQ_T_Q4_0_8_8:
  case DQ_T_IQ4_NL_4_4: case DQ_T_IQ4_NL_4_8: case DQ_T_IQ4_NL_8_8:
    return " (rows interleaved for ARM kernels, a layout ggml dropped in late 2024, so current llama.cpp "
           "refuses it too): use the model's Q4_0 or Q4_K_M file";
  default: return "";
  }
}

static int get_weight(dq_model *m, dq_weight *w, int layer, const char *what, int64_t n_in, int64_t n_out,
                      int optional)
{
  char name[96];
  const dq_gguf_tensor *t = find_t(m, name, sizeof name, layer, what);
  memset(w, 0, sizeof *w);
  if (!t) {
    if (optional) return 0;
    return dq_err_set(DOCQ_ECORRUPT, "%s: missing tensor '%s'", m->gguf->path, name);
  }
  if (t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] != 1 || t->ne[3] != 1)
    return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, %lld]",
                      m->gguf->path, t->name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                      (long long)n_in, (long long)n_out);
  if (!dq_kernels_supports(t->type))
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: tensor '%s' has type %s, which docq does not support%s", m->gguf->path,
                      t->name, dq_type_info_get(t->type)->name, type_advice(t->type));
  if (dq_type_row_bytes(t->type, n_in) == 0)
    return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' rows of %lld are not whole %s blocks", m->gguf->path, t->name,
                      (long long)n_in, dq_type_info_get(t->type)->name);
  int rc = check_in_place(m, t, t->type == DQ_T_F32 ? 4 : 2);
  if (rc < 0) return rc;
  w->data = t->data;
  w->type = t->type;
  w->n_in = n_in;
  w->n_out = n_out;
  w->name = t->name;
  m->n_params += (uint64_t)n_in * (uint64_t)n_out;
  return 0;
}

/* A fused matrix (phi3: attn_qkv = q, k, v rows; ffn_up = gate, up rows)
 * as views: each part is a run of whole rows, so it is a plain dq_weight
 * whose data starts at its first row. c may be NULL (two parts). */
static int get_fused(dq_model *m, int layer, const char *what, int64_t n_in, int64_t na, int64_t nb, int64_t nc,
                     dq_weight *a, dq_weight *b, dq_weight *c)
{
  dq_weight all;
  int rc;
  if ((rc = get_weight(m, &all, layer, what, n_in, na + nb + nc, 0)) < 0) return rc;
  const size_t row = dq_type_row_bytes(all.type, n_in);
  *a = all;
  a->n_out = na;
  *b = all;
  b->data = (const uint8_t *)all.data + (size_t)na * row;
  b->n_out = nb;
  if (c) {
    *c = all;
    c->data = (const uint8_t *)all.data + (size_t)(na + nb) * row;
    c->n_out = nc;
  }
  return 0;
}

/* A 1-D f32 vector of n values; other float types are converted once. */
static int get_vec(dq_model *m, const float **out, int layer, const char *what, int64_t n, int optional)
{
  char name[96];
  const dq_gguf_tensor *t = find_t(m, name, sizeof name, layer, what);
  *out = NULL;
  if (!t) {
    if (optional) return 0;
    return dq_err_set(DOCQ_ECORRUPT, "%s: missing tensor '%s'", m->gguf->path, name);
  }
  if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1)
    return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld]", m->gguf->path,
                      t->name, (long long)t->ne[0], (long long)t->ne[1], (long long)n);
  m->n_params += (uint64_t)n;
  if (t->type == DQ_T_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
    *out = t->data;
    return 0;
  }
  if (!dq_kernels_supports(t->type) || dq_type_row_bytes(t->type, n) == 0)
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: tensor '%s' has type %s, which docq does not support here",
                      m->gguf->path, t->name, dq_type_info_get(t->type)->name);
  /* converted below: F32, F16 and BF16 by bytes, blocks through their fields */
  int rc = t->type == DQ_T_F32 || t->type == DQ_T_F16 || t->type == DQ_T_BF16 ? 0 : check_in_place(m, t, 2);
  if (rc < 0) return rc;
  float **grown = dq_realloc(m->owned, (m->n_owned + 1) * sizeof *m->owned);
  if (!grown) return DOCQ_ENOMEM;
  m->owned = grown;
  float *v = dq_malloc((size_t)n * sizeof *v);
  if (!v) return DOCQ_ENOMEM;
  m->owned[m->n_owned++] = v;
  dq_dequant_row_ref(t->type, t->data, v, n);
  *out = v;
  return 0;
}

static int load_weights(dq_model *m)
{
  const dq_hparams *hp = &m->hp;
  const int64_t d = hp->n_embd, hd = hp->head_dim, nq = (int64_t)hp->n_head * hd, nkv = (int64_t)hp->n_head_kv * hd;
  const int bias = hp->arch == DQ_ARCH_QWEN2, gemma = hp->arch == DQ_ARCH_GEMMA3 || hp->arch == DQ_ARCH_GEMMA2,
            qk_norm = hp->arch == DQ_ARCH_QWEN3 || hp->arch == DQ_ARCH_GEMMA3;
  int rc;
  const dq_gguf_tensor *te = dq_gguf_tensor_find(m->gguf, "token_embd.weight");
  if (!te) return dq_err_set(DOCQ_ECORRUPT, "%s: missing tensor 'token_embd.weight'", m->gguf->path);
  if (te->ne[1] <= 0 || te->ne[1] > (1 << 24))
    return dq_err_set(DOCQ_ECORRUPT, "%s: tensor 'token_embd.weight' has %lld rows", m->gguf->path,
                      (long long)te->ne[1]);
  m->hp.n_vocab = (int)te->ne[1];
  if ((rc = get_weight(m, &m->tok_embd, -1, "token_embd.weight", d, hp->n_vocab, 0)) < 0) return rc;
  if ((rc = get_vec(m, &m->output_norm, -1, "output_norm.weight", d, 0)) < 0) return rc;
  if ((rc = get_weight(m, &m->output, -1, "output.weight", d, hp->n_vocab, 1)) < 0) return rc;
  if (!m->output.data) {
    m->output = m->tok_embd;
    m->tied_output = 1;
  }
  /* each layer has several tensors of its own: a block_count beyond the
   * file's tensor count is a broken header, not a reason to allocate for
   * millions of layers (found by fuzz_model) */
  if ((size_t)hp->n_layer > m->gguf->n_tensors)
    return dq_err_set(DOCQ_ECORRUPT, "%s: block_count %d, but the file holds only %zu tensors", m->gguf->path,
                      hp->n_layer, m->gguf->n_tensors);
  m->layers = dq_calloc((size_t)hp->n_layer, sizeof *m->layers);
  if (!m->layers) return DOCQ_ENOMEM;
  for (int i = 0; i < hp->n_layer; i++) {
    dq_layer *L = &m->layers[i];
    char name[96];
    if (hp->arch == DQ_ARCH_PHI3 && find_t(m, name, sizeof name, i, "attn_qkv.weight")) {
      if ((rc = get_vec(m, &L->attn_norm, i, "attn_norm.weight", d, 0)) < 0 ||
          (rc = get_fused(m, i, "attn_qkv.weight", d, nq, nkv, nkv, &L->wq, &L->wk, &L->wv)) < 0 ||
          (rc = get_weight(m, &L->wo, i, "attn_output.weight", nq, d, 0)) < 0 ||
          (rc = get_vec(m, &L->ffn_norm, i, "ffn_norm.weight", d, 0)) < 0 ||
          (rc = get_fused(m, i, "ffn_up.weight", d, hp->n_ff, hp->n_ff, 0, &L->w_gate, &L->w_up, NULL)) < 0 ||
          (rc = get_weight(m, &L->w_down, i, "ffn_down.weight", hp->n_ff, d, 0)) < 0)
        return rc;
      continue;
    }
    if ((rc = get_vec(m, &L->attn_norm, i, "attn_norm.weight", d, 0)) < 0 ||
        (rc = get_weight(m, &L->wq, i, "attn_q.weight", d, nq, 0)) < 0 ||
        (rc = get_weight(m, &L->wk, i, "attn_k.weight", d, nkv, 0)) < 0 ||
        (rc = get_weight(m, &L->wv, i, "attn_v.weight", d, nkv, 0)) < 0 ||
        (rc = get_weight(m, &L->wo, i, "attn_output.weight", nq, d, 0)) < 0 ||
        (rc = get_vec(m, &L->bq, i, "attn_q.bias", nq, !bias)) < 0 ||
        (rc = get_vec(m, &L->bk, i, "attn_k.bias", nkv, !bias)) < 0 ||
        (rc = get_vec(m, &L->bv, i, "attn_v.bias", nkv, !bias)) < 0 ||
        (rc = get_vec(m, &L->ffn_norm, i, "ffn_norm.weight", d, 0)) < 0 ||
        (rc = get_weight(m, &L->w_gate, i, "ffn_gate.weight", d, hp->n_ff, 0)) < 0 ||
        (rc = get_weight(m, &L->w_up, i, "ffn_up.weight", d, hp->n_ff, 0)) < 0 ||
        (rc = get_weight(m, &L->w_down, i, "ffn_down.weight", hp->n_ff, d, 0)) < 0)
      return rc;
    L->no_rope = hp->arch == DQ_ARCH_SMOLLM3 && i % 4 == 3;
    /* only qwen3's and gemma3's graphs have them (llama.cpp's llama ignores such tensors too) */
    if (qk_norm && ((rc = get_vec(m, &L->q_norm, i, "attn_q_norm.weight", hd, 0)) < 0 ||
                    (rc = get_vec(m, &L->k_norm, i, "attn_k_norm.weight", hd, 0)) < 0))
      return rc;
    if (gemma) {
      if ((rc = get_vec(m, &L->attn_post_norm, i, "post_attention_norm.weight", d, 0)) < 0 ||
          (rc = get_vec(m, &L->ffn_post_norm, i, "post_ffw_norm.weight", d, 0)) < 0)
        return rc;
      L->swa = hp->n_swa > 0 && i % hp->swa_period < hp->swa_period - 1;
      m->hp.n_layer_swa += L->swa;
    }
  }
  /* A layer's tensors past block_count would be quietly left out, and the
   * model would run with fewer layers (a damaged header): llama.cpp refuses
   * such a file too. */
  for (size_t i = 0; i < m->gguf->n_tensors; i++) {
    const char *nm = m->gguf->tensors[i].name;
    if (strncmp(nm, "blk.", 4) || nm[4] < '0' || nm[4] > '9') continue;
    char *end;
    unsigned long l = strtoul(nm + 4, &end, 10);
    if (*end == '.' && l >= (unsigned long)hp->n_layer)
      return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' is of layer %lu, but block_count is %d",
                        m->gguf->path, nm, l, hp->n_layer);
  }
  for (size_t i = 0; i < m->gguf->n_tensors; i++) m->weight_bytes += m->gguf->tensors[i].nbytes;
  return 0;
}

/* ---- load / free ---------------------------------------------------------- */

/* What has_weights = 0 means to a caller who wants to generate: the message
 * is kept so that a context refused later says what the load found. */
int dq_model_set_run_error(dq_model *m, int code, const char *msg)
{
  char *copy = dq_strdup(msg);
  if (!copy) return DOCQ_ENOMEM;
  dq_free(m->run_error);
  m->has_weights = 0;
  m->run_code = code;
  m->run_error = copy;
  return 0;
}

static int finish_load(dq_model *m, unsigned flags)
{
  int rc;
  const dq_gguf *g = m->gguf;
  const int tensors = dq_gguf_tensor_find(g, "token_embd.weight") != NULL;
  m->has_weights = tensors;
  const char *s;
  size_t n;
  if (dq_gguf_get_str(g, "general.name", &s, &n) == 0) m->name = dq_strndup(s, n);
  else {
    const char *base = strrchr(g->path, '/');
    m->name = dq_strdup(base ? base + 1 : g->path);
  }
  if (!m->name) return DOCQ_ENOMEM;
  rc = load_hparams(m, tensors);
  if (rc == 0 && tensors) rc = load_rope(m);
  if (rc == 0 && tensors) rc = load_weights(m);
  if (rc == DOCQ_EUNSUPPORTED && tensors && (flags & DQ_LOAD_INFO)) {
    /* Keep the file describable: what was read stays, the layers do not. */
    if ((rc = dq_model_set_run_error(m, DOCQ_EUNSUPPORTED, dq_err_msg())) < 0) return rc;
    dq_err_clear();
    dq_free(m->layers);
    m->layers = NULL;
    m->weight_bytes = 0;
    for (size_t i = 0; i < g->n_tensors; i++) m->weight_bytes += g->tensors[i].nbytes;
    if (!m->hp.n_ctx_train && (rc = load_hparams(m, 0)) < 0) return rc;
    return 0;
  }
  if (rc < 0) return rc;
  if (tensors) return 0;
  for (size_t i = 0; i < g->n_tensors; i++)
    if (!strncmp(g->tensors[i].name, "blk.", 4))
      return dq_err_set(DOCQ_ECORRUPT, "%s: has layer tensors but no 'token_embd.weight'", g->path);
  if (dq_gguf_find(g, "tokenizer.ggml.tokens") < 0)
    return dq_err_set(DOCQ_ECORRUPT, "%s: neither weights nor a tokenizer", g->path);
  char msg[512];
  snprintf(msg, sizeof msg, "%s: no weights (a tokenizer-only file cannot generate)", g->path);
  return dq_model_set_run_error(m, DOCQ_EINVAL, msg);
}

int dq_model_require_weights(const dq_model *m)
{
  if (m->has_weights) return 0;
  return dq_err_set(m->run_code ? m->run_code : DOCQ_EINVAL, "%s",
                    m->run_error ? m->run_error : "the model has no weights");
}

int dq_model_load_flags(dq_model **out, const char *path, unsigned flags)
{
  *out = NULL;
  dq_model *m = dq_calloc(1, sizeof *m);
  if (!m) return DOCQ_ENOMEM;
  int rc = dq_gguf_open(&m->gguf, path);
  if (rc == 0) rc = finish_load(m, flags);
  if (rc < 0) {
    dq_model_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int dq_model_from_buffer_flags(dq_model **out, const void *p, size_t n, unsigned flags)
{
  *out = NULL;
  dq_model *m = dq_calloc(1, sizeof *m);
  if (!m) return DOCQ_ENOMEM;
  int rc = dq_gguf_from_buffer(&m->gguf, p, n);
  if (rc == 0) rc = finish_load(m, flags);
  if (rc < 0) {
    dq_model_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int dq_model_load(dq_model **out, const char *path)
{
  return dq_model_load_flags(out, path, 0);
}

int dq_model_from_buffer(dq_model **out, const void *p, size_t n)
{
  return dq_model_from_buffer_flags(out, p, n, 0);
}

void dq_model_free(dq_model *m)
{
  if (!m) return;
  for (size_t i = 0; i < m->n_owned; i++) dq_free(m->owned[i]);
  dq_free(m->owned);
  dq_free(m->layers);
  dq_free(m->name);
  dq_free(m->run_error);
  dq_gguf_close(m->gguf);
  dq_free(m);
}
