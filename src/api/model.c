/* The model part of docq.h: loading, describing, tokenizing, contexts and
 * plain-completion generation with streaming.
 *
 * A docq_model is an engine model (weights, hparams) plus its tokenizer and
 * chat template; immutable after load, so threads may share it. A docq_ctx
 * owns a forward state (KV cache, scratch, thread pool) for one conversation.
 *
 * Streaming invariant (docq_generate): on_token only ever receives bytes that
 * are (a) whole, valid UTF-8 characters and (b) not part of a possible stop
 * string: token pieces go through a dq_utf8_stream (a character cut between
 * tokens is held, bytes that are no UTF-8 become U+FFFD) into one buffer,
 * `emitted` marks what the caller has seen, and the tail that could still
 * become a stop string is held back until it is decided. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "docq.h"
#include "engine/chat.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "engine/sample.h"
#include "engine/tokenizer.h"
#include "indexer/normalize.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"

/* struct docq_model and struct docq_ctx are in api/model_internal.h (ask.c uses them too). */
#include "api/model_internal.h"

/* ---- model -------------------------------------------------------------------- */

/* How the file's own template stands behind the format in use: absent, or
 * there but not one docq knows (then the format is a fallback, and the user
 * may want --chat-template). */
static const char *template_note(const dq_gguf *g)
{
  const char *s;
  size_t n;
  if (dq_gguf_find(g, "tokenizer.chat_template") < 0) return " (the file has no template)";
  if (dq_gguf_get_str(g, "tokenizer.chat_template", &s, &n) == 0 && dq_chat_detect(s, n).kind != DQ_CHAT_NONE) return "";
  dq_err_clear();
  return " (a fallback: the file's template is not one docq knows; --chat-template NAME sets one)";
}

static int model_load(docq_model **out, const char *path, unsigned flags)
{
  DQ_ASSERT_ARG(out);
  *out = NULL;
  DQ_ASSERT_ARG(path);
  int rc;
  docq_model *dm = dq_calloc(1, sizeof *dm);
  if (!dm) return DOCQ_ENOMEM;
  if ((rc = dq_model_load_flags(&dm->m, path, flags)) < 0) goto fail;
  const dq_gguf *g = dm->m->gguf;
  if (dq_gguf_find(g, "tokenizer.ggml.model") >= 0) {
    rc = dq_tok_load(&dm->tok, g);
    if (rc == DOCQ_EUNSUPPORTED && (flags & DQ_LOAD_INFO)) {
      /* a tokenizer docq lacks (t5, rwkv...): the file is still described;
       * tokenizing and generating say why not */
      if (!(dm->tok_error = dq_strdup(dq_err_msg()))) {
        rc = DOCQ_ENOMEM;
        goto fail;
      }
      dq_err_clear();
      if (dm->m->has_weights && (rc = dq_model_set_run_error(dm->m, DOCQ_EUNSUPPORTED, dm->tok_error)) < 0) goto fail;
    } else if (rc < 0) {
      goto fail;
    } else if (dm->m->has_weights && dq_tok_n_vocab(dm->tok) > dm->m->hp.n_vocab) {
      rc = dq_err_set(DOCQ_ECORRUPT, "%s: the tokenizer has %d tokens but token_embd.weight only %d rows", path,
                      (int)dq_tok_n_vocab(dm->tok), dm->m->hp.n_vocab);
      goto fail;
    }
    if (dm->tok && !dm->m->has_weights) dm->m->hp.n_vocab = dq_tok_n_vocab(dm->tok);
  } else if (!dm->m->has_weights && dm->m->run_code != DOCQ_EUNSUPPORTED) {
    rc = dq_err_set(DOCQ_ECORRUPT, "%s: neither weights nor a tokenizer", path);
    goto fail;
  }
  if (dq_chat_select(&dm->chat, g, dm->tok, NULL) < 0) dm->chat.kind = DQ_CHAT_PLAIN;
  *out = dm;
  return 0;
fail:
  docq_model_free(dm);
  return rc;
}

DOCQ_API int docq_model_load(docq_model **out, const char *path)
{
  return model_load(out, path, 0);
}

DOCQ_API int docq_model_load_info(docq_model **out, const char *path)
{
  return model_load(out, path, DQ_LOAD_INFO);
}

DOCQ_API const char *docq_model_run_error(const docq_model *dm)
{
  return dm && !dm->m->has_weights ? dm->m->run_error : NULL;
}

DOCQ_API void docq_model_free(docq_model *dm)
{
  if (!dm) return;
  dq_tok_free(dm->tok);
  dq_free(dm->tok_error);
  dq_model_free(dm->m);
  dq_free(dm);
}

static void human_bytes(char *buf, size_t n, uint64_t b)
{
  if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", b / 1073741824.0);
  else if (b >= (1ull << 20)) snprintf(buf, n, "%.2f MiB", b / 1048576.0);
  else snprintf(buf, n, "%.1f KiB", b / 1024.0);
}

/* The type most weight bytes are stored in, e.g. "Q4_K" (a mix shows as "mixed: Q4_K, Q6_K"). */
static void weight_types(const dq_model *m, dq_buf *b)
{
  uint64_t bytes[DQ_T_COUNT] = {0};
  const dq_gguf *g = m->gguf;
  for (size_t i = 0; i < g->n_tensors; i++)
    if (g->tensors[i].n_dims >= 2 && g->tensors[i].type >= 0 && g->tensors[i].type < DQ_T_COUNT)
      bytes[g->tensors[i].type] += g->tensors[i].nbytes;
  int first = 1;
  for (int pass = 0; pass < DQ_T_COUNT; pass++) {
    int best = -1;
    for (int t = 0; t < DQ_T_COUNT; t++)
      if (bytes[t] && (best < 0 || bytes[t] > bytes[best])) best = t;
    if (best < 0) break;
    dq_buf_printf(b, "%s%s (%.0f%%)", first ? "" : ", ", dq_type_info_get(best)->name,
                  100.0 * (double)bytes[best] / (double)(m->weight_bytes ? m->weight_bytes : 1));
    bytes[best] = 0;
    first = 0;
  }
}

/* general.file_type as llama.cpp names it (the quantization the file was
 * made with: a Q4_K_M file also holds Q6_K and Q5_0 tensors); NULL when
 * absent or unknown. */
static const char *file_type_name(const dq_gguf *g)
{
  static const struct { uint32_t v; const char *name; } k[] = {
    {0, "all F32"},       {1, "F16"},           {2, "Q4_0"},          {3, "Q4_1"},          {7, "Q8_0"},
    {8, "Q5_0"},          {9, "Q5_1"},          {10, "Q2_K - Medium"}, {11, "Q3_K - Small"}, {12, "Q3_K - Medium"},
    {13, "Q3_K - Large"}, {14, "Q4_K - Small"}, {15, "Q4_K - Medium"}, {16, "Q5_K - Small"}, {17, "Q5_K - Medium"},
    {18, "Q6_K"},         {19, "IQ2_XXS"},      {20, "IQ2_XS"},       {21, "Q2_K - Small"}, {22, "IQ3_XS"},
    {23, "IQ3_XXS"},      {24, "IQ1_S"},        {25, "IQ4_NL"},       {26, "IQ3_S"},        {27, "IQ3_M"},
    {28, "IQ2_S"},        {29, "IQ2_M"},        {30, "IQ4_XS"},       {31, "IQ1_M"},        {32, "BF16"},
    {33, "Q4_0_4_4"},     {34, "Q4_0_4_8"},     {35, "Q4_0_8_8"},     {36, "TQ1_0 - 1.69 bpw ternary"},
    {37, "TQ2_0 - 2.06 bpw ternary"},
  };
  uint32_t v;
  if (dq_gguf_get_u32(g, "general.file_type", &v) != 0) return NULL;
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
    if (k[i].v == v) return k[i].name;
  return NULL;
}

/* The "file type" (when the file names one) and "weight types" lines. */
static void file_types(const dq_model *m, dq_buf *b)
{
  const char *ft = file_type_name(m->gguf);
  if (ft) dq_buf_printf(b, "file type:     %s\n", ft);
  dq_buf_puts(b, "weight types:  ");
  weight_types(m, b);
  dq_buf_puts(b, "\n");
}

/* msg without a leading "path: " (the file is on describe's first line). */
static const char *without_path(const char *msg, const char *path)
{
  const size_t n = strlen(path);
  return !strncmp(msg, path, n) && !strncmp(msg + n, ": ", 2) ? msg + n + 2 : msg;
}

DOCQ_API const char *docq_model_chat_template(const docq_model *dm)
{
  return dm ? dq_chat_label(&dm->chat) : "plain";
}

DOCQ_API int docq_chat_template_thinks(const char *name)
{
  dq_chat c;
  if (!name || dq_chat_by_name(&c, name) < 0) {
    dq_err_clear();
    return 0;
  }
  return (c.flags & DQ_CHAT_F_THINK) != 0;
}

DOCQ_API char *docq_model_describe(const docq_model *dm)
{
  if (!dm) return NULL;
  const dq_model *m = dm->m;
  const dq_hparams *hp = &m->hp;
  dq_buf b = {0};
  char sz[32];
  dq_buf_printf(&b, "file:          %s\n", m->gguf->path);
  dq_buf_printf(&b, "name:          %s\n", m->name);
  dq_buf_printf(&b, "architecture:  %s\n", hp->arch_name[0] ? hp->arch_name : "(none)");
  if (m->has_weights) {
    human_bytes(sz, sizeof sz, m->weight_bytes);
    dq_buf_printf(&b, "parameters:    %.2fM (%s)\n", m->n_params / 1e6, sz);
    file_types(m, &b);
    dq_buf_printf(&b, "layers:        %d\n", hp->n_layer);
    dq_buf_printf(&b, "embedding:     %d (feed-forward %d)\n", hp->n_embd, hp->n_ff);
    dq_buf_printf(&b, "heads:         %d query, %d key/value (head size %d)\n", hp->n_head, hp->n_head_kv,
                  hp->head_dim);
    dq_buf_printf(&b, "vocabulary:    %d\n", hp->n_vocab);
    dq_buf_printf(&b, "output:        %s", m->tied_output ? "tied to token_embd" : "output.weight");
    if (hp->final_softcap > 0.0f) dq_buf_printf(&b, ", logits capped at %g (c tanh(x / c))", (double)hp->final_softcap);
    dq_buf_puts(&b, "\n");
    dq_buf_printf(&b, "rms epsilon:   %g\n", (double)hp->rms_eps);
    dq_buf_printf(&b, "context:       %d (trained)\n", hp->n_ctx_train);
    /* what a context costs beside the mapped weights: K and V rows of every
     * layer per token, in the default f16 cache */
    const uint64_t kv_row = 2ull * (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim * 2u;
    /* sliding layers keep only a window and batches (of 512, the default) */
    const uint64_t n_glob = (uint64_t)(hp->n_layer - hp->n_layer_swa), kv_tok = kv_row * n_glob;
    const uint64_t kv_swa_slot = kv_row * (uint64_t)hp->n_layer_swa;
    char at4k[32], atmax[32];
    human_bytes(at4k, sizeof at4k, kv_tok * 4096 + kv_swa_slot * (uint64_t)dq_fwd_swa_slots(hp, 4096, 512));
    human_bytes(atmax, sizeof atmax,
                kv_tok * (uint64_t)hp->n_ctx_train + kv_swa_slot * (uint64_t)dq_fwd_swa_slots(hp, hp->n_ctx_train, 512));
    dq_buf_printf(&b, "kv cache:      %.1f KiB per token (f16)", kv_tok / 1024.0);
    if (hp->n_layer_swa) dq_buf_printf(&b, " in the %d global layer%s", (int)n_glob, n_glob == 1 ? "" : "s");
    if (hp->n_ctx_train > 4096) dq_buf_printf(&b, ": %s at 4096 tokens, %s", at4k, atmax);
    else dq_buf_printf(&b, ": %s", atmax);
    dq_buf_printf(&b, " at the trained %d\n", hp->n_ctx_train);
    const dq_rope_params *rp = &hp->rope;
    dq_rope r;
    dq_buf_printf(&b, "rope:          %s, %d dims, base %g, scaling %s", rp->mode == DQ_ROPE_NEOX ? "neox" : "norm",
                  rp->n_dims, (double)rp->freq_base,
                  rp->scaling == DQ_ROPE_SCALING_LINEAR && hp->rope_factor == 1.0f ? "none" : dq_rope_scaling_name(rp->scaling));
    if (rp->scaling != DQ_ROPE_SCALING_NONE && hp->rope_factor != 1.0f)
      dq_buf_printf(&b, " x%g (original context %d)", (double)hp->rope_factor, rp->n_ctx_orig);
    if (dq_rope_init(&r, rp) == 0 && r.p.ext_factor != 0.0f)
      dq_buf_printf(&b, ", yarn ramp pairs %g..%g, attention factor %.4f", (double)r.corr_low, (double)r.corr_high,
                    (double)r.mscale);
    if (rp->freq_factors) dq_buf_puts(&b, ", rope_freqs tensor");
    int nope = 0;
    for (int l = 0; l < hp->n_layer; l++) nope += m->layers[l].no_rope;
    if (nope) dq_buf_printf(&b, "; none in %d of the %d layers (NoPE)", nope, hp->n_layer);
    /* Gemma 3's sliding layers rotate with a base of their own; Gemma 2's as the others */
    const dq_rope_params *sp = &hp->rope_swa;
    if (hp->n_layer_swa && (sp->freq_base != rp->freq_base || sp->freq_scale != rp->freq_scale))
      dq_buf_printf(&b, "; base %g%s in the sliding layers", (double)sp->freq_base,
                    sp->freq_scale == 1.0f ? " without scaling" : "");
    dq_buf_puts(&b, "\n");
    if (hp->n_layer_swa || hp->attn_softcap > 0.0f) {
      dq_buf_puts(&b, "attention:     ");
      if (hp->n_layer_swa)
        dq_buf_printf(&b, "sliding window of %d tokens in %d of the %d layers", hp->n_swa, hp->n_layer_swa,
                      hp->n_layer);
      if (hp->attn_softcap > 0.0f)
        dq_buf_printf(&b, "%sscores capped at %g (c tanh(s / c))", hp->n_layer_swa ? "; " : "",
                      (double)hp->attn_softcap);
      dq_buf_puts(&b, "\n");
    }
  } else if (m->run_code == DOCQ_EUNSUPPORTED) {
    /* docq_model_load_info of weights docq cannot run: what they are, and why */
    human_bytes(sz, sizeof sz, m->weight_bytes);
    dq_buf_printf(&b, "weights:       %s in %zu tensors; docq cannot run this model\n", sz, m->gguf->n_tensors);
    dq_buf_printf(&b, "cannot run:    %s\n", without_path(m->run_error, m->gguf->path));
    file_types(m, &b);
    if (hp->n_layer) dq_buf_printf(&b, "layers:        %d\n", hp->n_layer);
    if (hp->n_embd) dq_buf_printf(&b, "embedding:     %d (feed-forward %d)\n", hp->n_embd, hp->n_ff);
    if (hp->n_ctx_train) dq_buf_printf(&b, "context:       %d (trained)\n", hp->n_ctx_train);
  } else {
    dq_buf_puts(&b, "weights:       no weights (tokenizer only)\n");
    if (hp->n_ctx_train) dq_buf_printf(&b, "context:       %d (trained)\n", hp->n_ctx_train);
  }
  if (dm->tok) {
    static const char *kinds[] = {"?", "SentencePiece BPE (llama)", "byte-level BPE (gpt2)", "WordPiece (bert)"};
    int k = dq_tok_kind(dm->tok);
    const dq_tok_special *sp = dq_tok_specials(dm->tok);
    dq_buf_printf(&b, "tokenizer:     %s, %d tokens", kinds[k >= 1 && k <= 3 ? k : 0], (int)dq_tok_n_vocab(dm->tok));
    if (dq_tok_pre_name(dm->tok)[0]) dq_buf_printf(&b, ", pre-tokenizer %s", dq_tok_pre_name(dm->tok));
    dq_buf_printf(&b, ", bos %d%s, eos %d\n", (int)sp->bos, dq_tok_add_bos(dm->tok) ? " (added)" : "", (int)sp->eos);
  } else if (dm->tok_error) {
    dq_buf_printf(&b, "tokenizer:     cannot be read: %s\n", without_path(dm->tok_error, m->gguf->path));
  } else {
    dq_buf_puts(&b, "tokenizer:     none\n");
  }
  dq_buf_printf(&b, "chat template: %s%s%s", dq_chat_label(&dm->chat), template_note(m->gguf),
                dm->chat.flags & DQ_CHAT_F_THINK ? " (the model reasons before it answers)" : "");
  if (dm->chat.default_system[0]) { /* on one line: the text's line breaks shown as \n */
    dq_buf_puts(&b, " (its system message when none is given: \"");
    for (const char *p = dm->chat.default_system; *p; p++) {
      if (*p == '\n') dq_buf_puts(&b, "\\n");
      else dq_buf_put(&b, p, 1);
    }
    dq_buf_puts(&b, "\")");
  }
  dq_buf_puts(&b, "\n");
  if (b.oom) {
    dq_buf_free(&b);
    return NULL;
  }
  return dq_buf_detach(&b);
}

/* ---- tokens --------------------------------------------------------------------- */

static int need_tok(const docq_model *dm)
{
  if (!dm->tok && dm->tok_error) return dq_err_set(DOCQ_EUNSUPPORTED, "%s", dm->tok_error);
  if (!dm->tok) return dq_err_set(DOCQ_EUNSUPPORTED, "%s: the file has no tokenizer", dm->m->gguf->path);
  return 0;
}

DOCQ_API long docq_tokenize(const docq_model *dm, const char *text, size_t len, int add_special, int32_t *ids,
                            size_t cap)
{
  DQ_ASSERT_ARG(dm);
  DQ_ASSERT_ARG(text || !len);
  DQ_ASSERT_ARG(ids || !cap);
  int rc;
  if ((rc = need_tok(dm)) < 0) return rc;
  size_t n = 0;
  if ((rc = dq_tok_encode(dm->tok, text ? text : "", len, add_special, add_special, ids, cap, &n)) < 0) return rc;
  return (long)n;
}

DOCQ_API char *docq_detokenize(const docq_model *dm, const int32_t *ids, size_t n)
{
  if (!dm || (!ids && n) || need_tok(dm) < 0) return NULL;
  char *s = NULL;
  if (dq_tok_decode(dm->tok, ids, n, 0, &s, NULL) < 0) return NULL;
  return s;
}

/* ---- contexts ------------------------------------------------------------------------ */

DOCQ_API int docq_ctx_new(docq_ctx **out, const docq_model *dm, unsigned n_ctx)
{
  docq_ctx_options o = DOCQ_CTX_OPTIONS_INIT;
  o.n_ctx = n_ctx;
  return docq_ctx_new_ext(out, dm, &o);
}

DOCQ_API int docq_ctx_options_init(docq_ctx_options *opts, unsigned int version)
{
  DQ_ASSERT_ARG(opts);
  if (version != DOCQ_CTX_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_ctx_options version %u is not supported (expected %u)", version,
                      DOCQ_CTX_OPTIONS_VERSION);
  docq_ctx_options d = DOCQ_CTX_OPTIONS_INIT;
  *opts = d;
  return 0;
}

/* The most threads a context or generation may ask for (the CLI's -t takes
 * as many; the pool starts at most 256 of them). */
#define DQ_MAX_THREADS 1024

static int check_threads(int n)
{
  if (n >= 0 && n <= DQ_MAX_THREADS) return 0;
  return dq_err_set(DOCQ_EINVAL, "n_threads %d is out of range: 0 (all cores) to %d", n, DQ_MAX_THREADS);
}

/* What every function taking a docq_ctx_options refuses first: another
 * version, values docq.h gives no meaning. */
static int check_ctx_options(const docq_ctx_options *o)
{
  if (o->version != DOCQ_CTX_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_ctx_options version %u is not supported (expected %u)", o->version,
                      DOCQ_CTX_OPTIONS_VERSION);
  if (check_threads(o->n_threads) < 0) return DOCQ_EINVAL;
  if (o->attn_window && o->attn_sinks > o->attn_window)
    return dq_err_set(DOCQ_EINVAL, "attn_sinks %u is out of range: at most attn_window (%u)", o->attn_sinks,
                      o->attn_window);
  return 0;
}

/* The public options as engine overrides (same "unset" conventions). */
static int to_overrides(const docq_ctx_options *o, dq_rope_overrides *ov)
{
  dq_rope_overrides_default(ov);
  if (!o) return 0;
  if (o->rope_scaling < DOCQ_ROPE_SCALING_FILE || o->rope_scaling > DOCQ_ROPE_SCALING_DYNAMIC_NTK)
    return dq_err_set(DOCQ_EINVAL, "unknown RoPE scaling type %d", o->rope_scaling);
  if (o->rope_scale < 0 || o->rope_freq_base < 0 || o->rope_freq_scale < 0 || !isfinite(o->rope_scale) ||
      !isfinite(o->rope_freq_base) || !isfinite(o->rope_freq_scale) || !isfinite(o->yarn_ext_factor) ||
      !isfinite(o->yarn_attn_factor) || !isfinite(o->yarn_beta_fast) || !isfinite(o->yarn_beta_slow))
    return dq_err_set(DOCQ_EINVAL, "RoPE options must be finite and not negative (rope_scale %g, freq_base %g, "
                                   "freq_scale %g)", (double)o->rope_scale, (double)o->rope_freq_base,
                      (double)o->rope_freq_scale);
  /* the engine enum mirrors the public one */
  ov->scaling = o->rope_scaling;
  ov->scale = o->rope_scale;
  ov->freq_scale = o->rope_freq_scale;
  ov->freq_base = o->rope_freq_base;
  ov->n_ctx_orig = (int)(o->yarn_orig_ctx > (1u << 22) ? (1u << 22) : o->yarn_orig_ctx);
  ov->ext_factor = o->yarn_ext_factor;
  ov->attn_factor = o->yarn_attn_factor;
  ov->beta_fast = o->yarn_beta_fast;
  ov->beta_slow = o->yarn_beta_slow;
  return 0;
}

/* A cache type name (NULL: f16) as a dq_ggml_type. */
static int kv_type_of(const char *name, const char *which, int *out)
{
  int t = name ? dq_kv_type_from_name(name) : DQ_T_F16;
  if (t < 0) return dq_err_set(DOCQ_EINVAL, "unknown %s cache type '%s' (f16, f32, q8_0, q4_0)", which, name);
  *out = t;
  return 0;
}

DOCQ_API int docq_ctx_new_ext(docq_ctx **out, const docq_model *dm, const docq_ctx_options *opts)
{
  DQ_ASSERT_ARG(out);
  *out = NULL;
  DQ_ASSERT_ARG(dm);
  docq_ctx_options defaults = DOCQ_CTX_OPTIONS_INIT;
  const docq_ctx_options *o = opts ? opts : &defaults;
  int rc, kt = DQ_T_F16, vt = DQ_T_F16;
  if ((rc = check_ctx_options(o)) < 0) return rc;
  if (!dm->m->has_weights) return dq_model_require_weights(dm->m);
  dq_rope_overrides ov;
  dq_rope_params rp;
  if ((rc = to_overrides(o, &ov)) < 0) return rc;
  if ((rc = kv_type_of(o->cache_type_k, "K", &kt)) < 0 || (rc = kv_type_of(o->cache_type_v, "V", &vt)) < 0) return rc;
  if (o->attn_sinks && !o->attn_window)
    return dq_err_set(DOCQ_EINVAL, "attention sinks (%u) need an attention window", o->attn_sinks);
  /* f16/f32 with full attention: the state's default cache of that type;
   * other types or windows: set through dq_fwd_set_attention (both tiled) */
  const int typed = kt != vt || (kt != DQ_T_F16 && kt != DQ_T_F32) || o->attn_window;
  if (o->n_ctx > (1u << 22) || o->n_batch > (1u << 22))
    return dq_err_set(DOCQ_EINVAL, "context size %u / batch %u out of range", o->n_ctx, o->n_batch);
  unsigned n_ctx = o->n_ctx ? o->n_ctx : (unsigned)dm->m->hp.n_ctx_train;
  if ((rc = dq_model_rope_params(dm->m, &ov, (int)n_ctx, &rp)) < 0) return rc;
  docq_ctx *c = dq_calloc(1, sizeof *c);
  if (!c) return DOCQ_ENOMEM;
  c->model = dm;
  c->n_ctx = n_ctx;
  c->n_threads = o->n_threads > 0 ? o->n_threads : 0;
  if (!(c->held = dq_malloc((size_t)n_ctx * sizeof *c->held))) {
    dq_free(c);
    return DOCQ_ENOMEM;
  }
  if ((rc = dq_fwd_new(&c->fwd, dm->m, (int)c->n_ctx, (int)o->n_batch, c->n_threads,
                       kt == DQ_T_F32 && !typed ? DQ_KV_F32 : DQ_KV_F16)) < 0 ||
      (rc = dq_fwd_set_rope(c->fwd, &rp)) < 0 ||
      (typed && (rc = dq_fwd_set_attention(c->fwd, kt, vt,
                                           !o->attn_window ? DQ_ATTN_CAUSAL
                                           : o->attn_lambda ? DQ_ATTN_LAMBDA : DQ_ATTN_SINKS,
                                           (int)(o->attn_window ? o->attn_window : 1), (int)o->attn_sinks)) < 0)) {
    docq_ctx_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

/* One line for a resolved RoPE (what the forward pass will use); s = the
 * factor as requested (a resolved NTK type folds it into the base). */
static void rope_line(dq_buf *b, const dq_rope *r, float s)
{
  const dq_rope_params *p = &r->p;
  const int plain = p->scaling == DQ_ROPE_SCALING_NONE || (p->scaling == DQ_ROPE_SCALING_LINEAR && s == 1.0f);
  dq_buf_puts(b, plain ? "none" : dq_rope_scaling_name(p->scaling));
  if (p->scaling == DQ_ROPE_SCALING_DYNAMIC_NTK) dq_buf_printf(b, " (alpha %g)", (double)r->dyn_alpha);
  else if (!plain) dq_buf_printf(b, " x%g", (double)s);
  dq_buf_printf(b, " (original context %d), base %g", p->n_ctx_orig, (double)p->freq_base);
  if (p->scaling == DQ_ROPE_SCALING_NTK) dq_buf_printf(b, " -> %.1f", (double)r->base);
  if (p->scaling == DQ_ROPE_SCALING_DYNAMIC_NTK) dq_buf_printf(b, " (grows past %d tokens)", p->n_ctx_orig);
  if (p->ext_factor != 0.0f)
    dq_buf_printf(b, ", ramp pairs %g..%g (beta %g/%g, ext %g)", (double)r->corr_low, (double)r->corr_high,
                  (double)p->beta_fast, (double)p->beta_slow, (double)p->ext_factor);
  if (r->mscale != 1.0f) dq_buf_printf(b, ", attention factor %.4f", (double)r->mscale);
  if (p->freq_factors) dq_buf_puts(b, ", per-pair frequency factors");
}

DOCQ_API char *docq_model_rope_describe(const docq_model *dm, const docq_ctx_options *opts)
{
  if (!dm || !dm->m->has_weights) return NULL;
  dq_rope_overrides ov;
  dq_rope_params rp;
  dq_rope r;
  if ((opts && check_ctx_options(opts) < 0) || to_overrides(opts, &ov) < 0) return NULL;
  unsigned n_ctx = opts && opts->n_ctx ? opts->n_ctx : (unsigned)dm->m->hp.n_ctx_train;
  if (dq_model_rope_params(dm->m, &ov, (int)n_ctx, &rp) < 0 || dq_rope_init(&r, &rp) < 0) return NULL;
  dq_buf b = {0};
  rope_line(&b, &r, 1.0f / rp.freq_scale);
  if (b.oom) {
    dq_buf_free(&b);
    return NULL;
  }
  return dq_buf_detach(&b);
}

DOCQ_API char *docq_ctx_describe(const docq_ctx *c)
{
  if (!c) return NULL;
  const dq_fwd *f = c->fwd;
  dq_buf b = {0};
  dq_buf_printf(&b, "context %d tokens, rope ", f->n_ctx);
  rope_line(&b, &f->rope, 1.0f / f->rope.req.freq_scale);
  if (f->kv) {
    dq_buf_printf(&b, ", cache %s/%s", dq_type_info_get(f->kv->type_k)->name, dq_type_info_get(f->kv->type_v)->name);
    if (f->attn_mask == DQ_ATTN_CAUSAL) dq_buf_puts(&b, ", attention full causal (tiled)");
    else
      dq_buf_printf(&b, ", attention %s window %d + %d sinks", f->attn_mask == DQ_ATTN_LAMBDA ? "Lambda (LM-Infinite)"
                                                                                             : "StreamingLLM",
                    f->attn_window, f->attn_sinks);
  } else {
    const char *kt = f->kv_type == DQ_KV_F32 ? "f32" : "f16";
    dq_buf_printf(&b, ", cache %s/%s, attention full causal", kt, kt);
  }
  if (b.oom) {
    dq_buf_free(&b);
    return NULL;
  }
  return dq_buf_detach(&b);
}

DOCQ_API int docq_ctx_options_fit(const docq_model *dm, size_t n_tokens, docq_ctx_options *o, char *desc,
                                  size_t desc_cap)
{
  DQ_ASSERT_ARG(dm && o);
  if (desc && desc_cap) desc[0] = 0;
  int rc;
  if ((rc = check_ctx_options(o)) < 0) return rc;
  if (!dm->m->has_weights) return dq_model_require_weights(dm->m);
  const dq_hparams *hp = &dm->m->hp;
  dq_rope_plan pl;
  rc = dq_rope_plan_for(&pl, &hp->rope, hp->rope_factor, hp->n_ctx_train,
                            hp->rope.freq_factors != NULL || hp->rope_long != NULL,
                            (int)(o->yarn_orig_ctx > (1u << 22) ? 0 : o->yarn_orig_ctx),
                            (int64_t)(n_tokens > (1u << 23) ? (1u << 23) : n_tokens));
  if (rc < 0) return rc;
  o->n_ctx = (unsigned)pl.n_ctx;
  if (pl.extended) {
    o->rope_scaling = pl.scaling; /* the engine enum mirrors the public one */
    o->rope_scale = pl.factor;
    o->rope_freq_scale = 0.0f;
    o->yarn_orig_ctx = (unsigned)pl.n_ctx_orig;
  } else {
    o->rope_scaling = pl.scaling == DQ_ROPE_SCALING_NONE ? DOCQ_ROPE_SCALING_NONE : DOCQ_ROPE_SCALING_FILE;
    o->rope_scale = 0.0f;
    o->rope_freq_scale = 0.0f;
  }
  if (desc && desc_cap) {
    if (pl.extended)
      snprintf(desc, desc_cap, "%s x%.3g (%zu tokens > original %d)", dq_rope_scaling_name(pl.scaling),
               (double)pl.factor, n_tokens, pl.n_ctx_orig);
    else if (pl.scaling == DQ_ROPE_SCALING_NONE)
      snprintf(desc, desc_cap, "none (%zu tokens fit the original %d)", n_tokens, pl.n_ctx_orig);
    else
      snprintf(desc, desc_cap, "file's %s x%g (%zu tokens fit the trained %d)", dq_rope_scaling_name(pl.scaling),
               (double)pl.factor, n_tokens, hp->n_ctx_train);
  }
  return 0;
}

DOCQ_API int docq_model_get_meta(const docq_model *dm, docq_model_meta *out)
{
  DQ_ASSERT_ARG(dm && out);
  memset(out, 0, sizeof *out);
  out->n_vocab = dm->m->hp.n_vocab;
  out->has_weights = dm->m->has_weights;
  out->n_ctx_train = dm->m->hp.n_ctx_train;
  out->n_ctx_orig = dm->m->has_weights ? dm->m->hp.rope.n_ctx_orig : dm->m->hp.n_ctx_train;
  out->bos = out->eos = -1;
  if (dm->tok) {
    const dq_tok_special *sp = dq_tok_specials(dm->tok);
    out->bos = sp->bos;
    out->eos = sp->eos;
    out->add_bos = dq_tok_add_bos(dm->tok) != 0;
  }
  return 0;
}

static int ctx_interrupted(const docq_ctx *c) { return c->interrupted || (c->also_interrupted && *c->also_interrupted); }

/* 1 when the model file shrank (dq_gguf_check's message set): reading the
 * weights now would be SIGBUS. */
static int file_cut_now(docq_ctx *c)
{
  if (dq_gguf_check(c->model->m->gguf) >= 0) return 0;
  c->file_cut = 1;
  return 1;
}

/* Before each batch of the prompt: an interrupt, or the progress callback, may stop it. */
static int ctx_stop(void *arg)
{
  docq_ctx *c = arg;
  if (ctx_interrupted(c)) return 1;
  if (c->on_prompt && c->on_prompt((size_t)c->fwd->n_past, c->prompt_total, c->prompt_payload)) {
    c->prompt_canceled = 1;
    return 1;
  }
  return file_cut_now(c); /* last, right before the weights are read */
}

/* Before each batch of docq_ctx_eval: an interrupt (no progress callback there). */
static int eval_stop(void *arg)
{
  docq_ctx *c = arg;
  return ctx_interrupted(c) || file_cut_now(c);
}

DOCQ_API void docq_ctx_set_prompt_progress(docq_ctx *c, docq_prompt_progress_cb cb, void *payload)
{
  if (!c) return;
  c->on_prompt = cb;
  c->prompt_payload = payload;
}

DOCQ_API void docq_ctx_interrupt(docq_ctx *c)
{
  if (c) c->interrupted = 1;
}

DOCQ_API int docq_ctx_eval(docq_ctx *c, const int32_t *ids, size_t n, int reset, float *logits)
{
  DQ_ASSERT_ARG(c && (ids || !n));
  c->n_held = 0; /* the cache no longer holds what docq_generate read */
  if (reset) dq_fwd_reset(c->fwd);
  if (!n) return 0;
  if (n > (size_t)c->fwd->n_ctx)
    return dq_err_set(DOCQ_EINVAL, "%zu tokens do not fit in the context of %d", n, c->fwd->n_ctx);
  /* as docq_generate: an interrupt from before the call is cleared, one
   * during it is seen between batches (a long prompt need not finish) */
  c->interrupted = 0;
  c->file_cut = 0;
  int rc = dq_fwd_eval_stop(c->fwd, ids, (int)n, logits, eval_stop, c);
  if (rc == DOCQ_ECANCELED)
    rc = c->file_cut && dq_gguf_check(c->model->m->gguf) < 0 ? DOCQ_EIO /* its message */
                                                              : dq_err_set(DOCQ_ECANCELED, "evaluation interrupted");
  return rc;
}

DOCQ_API const float *docq_ctx_logits(const docq_ctx *c) { return c ? c->fwd->logits : NULL; }

/* -log softmax(logits)[tok] as llama-perplexity computes it: max in float,
 * sum of expf terms in double. */
static double nll_of(const float *logits, int n_vocab, int32_t tok)
{
  float mx = logits[0];
  for (int i = 1; i < n_vocab; i++)
    if (logits[i] > mx) mx = logits[i];
  double sum = 0.0;
  for (int i = 0; i < n_vocab; i++) sum += expf(logits[i] - mx);
  return -((double)(logits[tok] - mx) - log(sum));
}

DOCQ_API int docq_perplexity(docq_ctx *c, const int32_t *ids, size_t n, int max_chunks,
                             int (*on_chunk)(int chunk, double running_ppl, void *payload), void *payload,
                             docq_ppl *out)
{
  DQ_ASSERT_ARG(c && out && (ids || !n));
  memset(out, 0, sizeof *out);
  dq_fwd *f = c->fwd;
  c->n_held = 0; /* every chunk rewrites the cache */
  const int N = f->n_ctx, nv = f->m->hp.n_vocab, first = N / 2;
  if (N < 4 || n < 2 * (size_t)N)
    return dq_err_set(DOCQ_EINVAL, "%zu tokens; at least 2*%d are needed for a context of %d", n, N, N);
  const dq_tok *tok = c->model->tok;
  const int32_t bos = tok && dq_tok_add_bos(tok) ? dq_tok_specials(tok)->bos : -1;
  int n_chunk = (int)(n / (size_t)N), rc = 0;
  if (max_chunks > 0 && max_chunks < n_chunk) n_chunk = max_chunks;
  /* One call per chunk: a length-dependent RoPE (dynamic NTK) then uses the
   * base of the whole chunk, as one HF forward call does. When a chunk's
   * logits would be too big, the unscored first half goes first, alone. */
  const int split = (double)N * nv * sizeof(float) > (double)(1u << 30);
  int32_t *chunk = dq_malloc((size_t)N * sizeof *chunk);
  float *logits = dq_malloc((size_t)(split ? N - first : N) * (size_t)nv * sizeof *logits);
  double nll = 0.0, nll2 = 0.0;
  long count = 0;
  if (!chunk || !logits) {
    rc = DOCQ_ENOMEM;
    goto done;
  }
  for (int ci = 0; ci < n_chunk; ci++) {
    const int32_t *src = ids + (size_t)ci * N;
    memcpy(chunk, src, (size_t)N * sizeof *chunk);
    if (bos >= 0) chunk[0] = bos; /* position 0 is never scored */
    if ((rc = dq_gguf_check(c->model->m->gguf)) < 0) goto done; /* cut while mapped: an error, not SIGBUS */
    dq_fwd_reset(f);
    const float *rows;
    if (!split) {
      if ((rc = dq_fwd_eval(f, chunk, N, logits)) < 0) goto done;
      rows = logits + (size_t)first * nv;
    } else {
      if ((rc = dq_fwd_eval(f, chunk, first, NULL)) < 0 || (rc = dq_fwd_eval(f, chunk + first, N - first, logits)) < 0)
        goto done;
      rows = logits;
    }
    for (int k = first; k < N - 1; k++) {
      int32_t t = src[k + 1];
      if (t < 0 || t >= nv) {
        rc = dq_err_set(DOCQ_EINVAL, "token id %d out of range (vocabulary %d)", t, nv);
        goto done;
      }
      double x = nll_of(rows + (size_t)(k - first) * nv, nv, t);
      nll += x;
      nll2 += x * x;
      count++;
    }
    out->chunks = ci + 1;
    if (on_chunk && on_chunk(ci, exp(nll / count), payload)) {
      rc = dq_err_set(DOCQ_ECANCELED, "perplexity stopped by the callback");
      goto done;
    }
  }
done:
  if (count > 0) {
    double mean = nll / count, var = nll2 / count - mean * mean;
    out->mean_nll = mean;
    out->ppl = exp(mean);
    out->err = var > 0 && count > 1 ? sqrt(var / (count - 1)) * out->ppl : 0.0;
    out->scored = count;
  }
  dq_free(logits);
  dq_free(chunk);
  return rc;
}

DOCQ_API void docq_ctx_free(docq_ctx *c)
{
  if (!c) return;
  dq_fwd_free(c->fwd);
  dq_free(c->held);
  dq_free(c);
}

/* ---- generation ------------------------------------------------------------------------- */

DOCQ_API int docq_gen_options_init(docq_gen_options *opts, unsigned int version)
{
  DQ_ASSERT_ARG(opts);
  if (version != DOCQ_GEN_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_gen_options version %u is not supported (expected %u)", version,
                      DOCQ_GEN_OPTIONS_VERSION);
  docq_gen_options d = DOCQ_GEN_OPTIONS_INIT;
  *opts = d;
  return 0;
}

/* 0 when v is a number in [lo, hi] ((lo, hi] with above), else DOCQ_EINVAL
 * naming the option and its range: a NaN is in no range. */
static int check_float(const char *name, float v, float lo, float hi, int above, const char *range)
{
  if ((above ? v > lo : v >= lo) && v <= hi) return 0;
  return dq_err_set(DOCQ_EINVAL, "%s %g is out of range: %s", name, (double)v, range);
}

/* The settings of o that generation cannot honour, as DOCQ_EVERSION or
 * DOCQ_EINVAL naming the option and its range (values docq.h gives no
 * meaning: a NaN or negative temperature, top_p or min_p outside [0, 1]...);
 * 0 when it can. A stop string must be valid
 * UTF-8: the text it is looked for in is (on_token's pieces are whole
 * characters), so one that is not would match inside a character and cut
 * it, or never match. */
static int check_gen_options(const docq_gen_options *o)
{
  if (o->version != DOCQ_GEN_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_gen_options version %u is not supported", o->version);
  int rc;
  if ((rc = check_float("temperature", o->temperature, 0, FLT_MAX, 0, "0 (greedy) or more")) < 0 ||
      (rc = check_float("top_p", o->top_p, 0, 1, 0, "0 to 1 (1: off)")) < 0 ||
      (rc = check_float("min_p", o->min_p, 0, 1, 0, "0 (off) to 1")) < 0 ||
      (rc = check_float("repeat_penalty", o->repeat_penalty, 0, FLT_MAX, 1, "above 0 (1: off)")) < 0)
    return rc;
  if (o->top_k < 0) return dq_err_set(DOCQ_EINVAL, "top_k %d is out of range: 0 (off) or more", o->top_k);
  if (o->repeat_last_n < 0)
    return dq_err_set(DOCQ_EINVAL, "repeat_last_n %d is out of range: 0 (no penalty) or more", o->repeat_last_n);
  if ((rc = check_threads(o->n_threads)) < 0) return rc;
  size_t n_stop = 0;
  for (const char *const *st = o->stop; st && *st; st++) n_stop++;
  for (size_t i = 0; i < n_stop; i++) {
    const char *t = o->stop[i];
    const size_t n = strlen(t);
    for (size_t at = 0, k; at < n; at += k)
      if (!(k = dq_utf8_seq(t + at, n - at, NULL)))
        return dq_err_set(DOCQ_EINVAL, "stop string %zu of %zu is not valid UTF-8 (byte 0x%02x at offset %zu): a "
                          "stop string must be whole characters", i + 1, n_stop, (unsigned)(unsigned char)t[at], at);
  }
  return 0;
}

DOCQ_API int docq_gen_options_check(const docq_gen_options *opts)
{
  DQ_ASSERT_ARG(opts);
  return check_gen_options(opts);
}

/* 1 when every score is a number: a NaN or infinity anywhere makes their
 * sum one. Eight sums side by side keep it a few microseconds for 152k
 * scores (a decode step takes milliseconds). */
static int logits_finite(const float *l, int n)
{
  float s[8] = { 0 };
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) s[k] += l[i + k] * 0.0f;
  float t = 0;
  for (; i < n; i++) t += l[i] * 0.0f;
  for (int k = 0; k < 8; k++) t += s[k];
  return t == 0.0f;
}

typedef struct gen_stream {
  dq_buf text;        /* everything generated, as valid UTF-8 */
  dq_utf8_stream utf8; /* the bytes of a character not yet complete */
  size_t emitted;     /* bytes already given to on_token */
  size_t max_stop;    /* longest stop string */
  const char *const *stop;
  const docq_gen_options *o;
} gen_stream;

/* Give the caller what is decided. final: no more text will come, so the
 * held-back tail is flushed. Returns 1 when a stop string ended the text,
 * DOCQ_ECANCELED when the callback asked to stop, else 0. */
static int stream_emit(gen_stream *s, int final)
{
  size_t len = s->text.len, safe = len, hit_at = len;
  int stopped = 0;
  for (const char *const *st = s->stop; st && *st; st++) {
    size_t sl = strlen(*st);
    if (!sl) continue;
    /* a stop string can only start at or after `emitted` (partial matches were held back) */
    const char *hit = memmem(s->text.p + s->emitted, len - s->emitted, *st, sl);
    if (hit) {
      size_t at = (size_t)(hit - s->text.p);
      if (at < hit_at) hit_at = at;
      stopped = 1;
      continue;
    }
    if (final) continue;
    for (size_t k = sl - 1 < len - s->emitted ? sl - 1 : len - s->emitted; k > 0; k--)
      if (!memcmp(s->text.p + len - k, *st, k)) {
        if (len - k < safe) safe = len - k;
        break;
      }
  }
  if (stopped) {
    /* the earliest full match ends the text: another string's partial match
     * can no longer complete, so what it held back before the hit is text */
    safe = hit_at;
    s->text.len = safe; /* the stop string and anything after it are not part of the answer */
    s->text.p[safe] = 0;
  }
  if (safe > s->emitted && s->o->on_token) {
    if (s->o->on_token(s->text.p + s->emitted, safe - s->emitted, s->o->payload))
      return dq_err_set(DOCQ_ECANCELED, "generation stopped by the on_token callback");
  }
  if (safe > s->emitted) s->emitted = safe;
  return stopped;
}

/* Prompt reuse (design.md): the tokens at the start of ids that the cache
 * holds as a fresh context would have read them, in whole batches aligned
 * at n_batch, leaving at least the last token to read (its logits are
 * needed). 0 with a length-dependent RoPE (dynamic NTK: k_raw). Sliding
 * layers whose keys moved past the prefix make dq_fwd_truncate refuse. */
static size_t reusable_prefix(const docq_ctx *c, const int32_t *ids, size_t n)
{
  const dq_fwd *f = c->fwd;
  if (!c->n_held || f->k_raw) return 0;
  const size_t lim = n - 1 < c->n_held ? n - 1 : c->n_held, nb = (size_t)f->n_batch;
  size_t p = 0;
  while (p < lim && c->held[p] == ids[p]) p++;
  return p / nb * nb;
}

/* After the prompt was read (all of it, or up to a cancelled batch): its
 * whole batches join what the next prompt may keep. The batches started at
 * c->n_held, a multiple of n_batch, so they stay aligned. */
static void hold_batches(docq_ctx *c, const int32_t *ids, size_t n_prompt)
{
  const size_t nb = (size_t)c->fwd->n_batch, done = (size_t)c->fwd->n_past < n_prompt ? (size_t)c->fwd->n_past : n_prompt;
  const size_t upto = done / nb * nb;
  if (upto > c->n_held) memcpy(c->held + c->n_held, ids + c->n_held, (upto - c->n_held) * sizeof *ids);
  c->n_held = upto;
}

DOCQ_API int docq_generate(docq_ctx *c, const char *prompt, const docq_gen_options *opts, char **out_text)
{
  if (out_text) *out_text = NULL;
  DQ_ASSERT_ARG(c);
  DQ_ASSERT_ARG(prompt);
  docq_gen_options defaults = DOCQ_GEN_OPTIONS_INIT;
  const docq_gen_options *o = opts ? opts : &defaults;
  int rc;
  if ((rc = check_gen_options(o)) < 0) return rc;
  const docq_model *dm = c->model;
  if ((rc = need_tok(dm)) < 0) return rc;
  const int nv = dm->m->hp.n_vocab;
  int32_t *ids = NULL;
  dq_sampler *smp = NULL;
  gen_stream s = {.stop = o->stop, .o = o};

  /* a different thread count needs a new pool: rebuild the state (an empty
   * cache; with another split, what it held would not be a fresh read) */
  if (o->n_threads > 0 && o->n_threads != c->n_threads) {
    dq_fwd *f;
    const dq_fwd *g = c->fwd;
    if ((rc = dq_fwd_new(&f, dm->m, (int)c->n_ctx, g->n_batch, o->n_threads, g->kv_type)) < 0) return rc;
    if ((rc = dq_fwd_set_rope(f, &g->rope.req)) < 0 ||
        (g->kv && (rc = dq_fwd_set_attention(f, g->kv->type_k, g->kv->type_v, g->attn_mask, g->attn_window,
                                              g->attn_sinks)) < 0)) {
      dq_fwd_free(f);
      return rc;
    }
    dq_fwd_free(c->fwd);
    c->fwd = f;
    c->n_threads = o->n_threads;
    c->n_held = 0;
  }
  dq_fwd *f = c->fwd;
  c->interrupted = 0;
  c->last_reused = 0;
  memset(&c->last, 0, sizeof c->last);
  c->last_prompt_s = c->last_gen_s = 0;
  double t_start = 0, t_read = 0;
  docq_stop why = DOCQ_STOP_LENGTH;
  size_t n_gen = 0;

  size_t n_prompt = 0, keep = 0, len = strlen(prompt);
  if ((rc = dq_tok_encode(dm->tok, prompt, len, 1, o->parse_special != 0, NULL, 0, &n_prompt)) < 0) goto done;
  if (n_prompt == 0) {
    rc = dq_err_set(DOCQ_EINVAL, "empty prompt (and the vocabulary adds no BOS)");
    goto done;
  }
  /* a prompt that fills the context still gets one token: the last
   * position's scores choose it, and it needs no slot of its own */
  if (n_prompt > c->n_ctx) {
    rc = dq_err_set(DOCQ_EINVAL, "prompt of %zu tokens does not fit in the context of %u", n_prompt, c->n_ctx);
    goto done;
  }
  if (!(ids = dq_malloc(n_prompt * sizeof *ids))) {
    rc = DOCQ_ENOMEM;
    goto done;
  }
  if ((rc = dq_tok_encode(dm->tok, prompt, len, 1, o->parse_special != 0, ids, n_prompt, &n_prompt)) < 0) goto done;
  keep = reusable_prefix(c, ids, n_prompt);
  if (keep == 0 || dq_fwd_truncate(f, (int)keep) < 0) {
    dq_fwd_reset(f);
    keep = 0;
  }
  c->n_held = keep; /* the batches read below extend it */
  c->last_reused = keep;

  dq_sampler_params sp = {o->temperature, o->top_k, o->top_p, o->min_p, o->repeat_penalty, o->repeat_last_n, o->seed};
  if ((rc = dq_sampler_new(&smp, nv, &sp)) < 0) goto done;
  for (size_t i = 0; i < n_prompt; i++) dq_sampler_accept(smp, ids[i]);
  for (const char *const *st = o->stop; st && *st; st++)
    if (strlen(*st) > s.max_stop) s.max_stop = strlen(*st);
  /* sized once so the token loop does not allocate in practice */
  if ((rc = dq_buf_reserve(&s.text, (size_t)(o->n_predict > 0 ? o->n_predict : 1) * 8 + 256)) < 0) goto done;

  /* an interrupt is seen between the prompt's batches, not only after it */
  c->prompt_total = n_prompt;
  c->prompt_canceled = 0;
  c->file_cut = 0;
  t_start = dq_now();
  if ((rc = dq_fwd_eval_stop(f, ids + keep, (int)(n_prompt - keep), NULL, ctx_stop, c)) == 0) t_read = dq_now();
  hold_batches(c, ids, n_prompt);
  if (rc == 0 && c->on_prompt && c->on_prompt(n_prompt, n_prompt, c->prompt_payload)) {
    c->prompt_canceled = 1;
    rc = DOCQ_ECANCELED;
  }
  if (rc < 0) {
    if (rc == DOCQ_ECANCELED && c->file_cut && dq_gguf_check(dm->m->gguf) < 0)
      rc = DOCQ_EIO; /* the file shrank: dq_gguf_check's message */
    else if (rc == DOCQ_ECANCELED)
      rc = dq_err_set(DOCQ_ECANCELED, c->prompt_canceled ? "generation canceled by the prompt progress callback"
                                                         : "generation interrupted");
    goto done;
  }
  int stopped = 0;
  for (int i = 0; i < o->n_predict && !stopped; i++) {
    if (ctx_interrupted(c)) { rc = dq_err_set(DOCQ_ECANCELED, "generation interrupted"); goto done; }
    if (!logits_finite(f->logits, nv)) { /* sampled, noise: token 0 or whatever a NaN compares as */
      rc = dq_err_set(DOCQ_ECORRUPT, "%s: the model computed scores that are not numbers (NaN or infinite) %s: its "
                      "weights are damaged", dm->m->gguf->path, n_gen ? "while answering" : "reading the prompt");
      goto done;
    }
    int32_t t = dq_sampler_sample(smp, f->logits);
    if (dq_tok_is_eog(dm->tok, t)) { why = DOCQ_STOP_EOS; break; }
    dq_sampler_accept(smp, t);
    n_gen++;
    char piece[256];
    long pl = dq_tok_piece(dm->tok, t, 0, piece, sizeof piece);
    if (pl > (long)sizeof piece) pl = (long)sizeof piece;
    if (pl > 0 && (rc = dq_utf8_stream_put(&s.utf8, piece, (size_t)pl, &s.text)) < 0) goto done;
    if ((rc = stream_emit(&s, 0)) < 0) goto done;
    stopped = rc;
    if (stopped) why = DOCQ_STOP_STRING;
    if (stopped || i + 1 == o->n_predict) break;
    if (f->n_past >= f->n_ctx) { why = DOCQ_STOP_CONTEXT; break; } /* the completion ends here */
    if ((rc = dq_gguf_check(dm->m->gguf)) < 0) goto done; /* the weights are still all there */
    if ((rc = dq_fwd_eval(f, &t, 1, NULL)) < 0) goto done;
  }
  if ((rc = dq_utf8_stream_end(&s.utf8, &s.text)) < 0 || (rc = stream_emit(&s, 1)) < 0) goto done;
  rc = 0;
  if (out_text) {
    *out_text = s.text.len ? dq_buf_detach(&s.text) : dq_strdup("");
    if (!*out_text) rc = DOCQ_ENOMEM;
  }
done:
  if (t_read > 0) {
    c->last_prompt_s = t_read - t_start;
    c->last_gen_s = dq_now() - t_read;
  }
  c->last.prompt_tokens = n_prompt;
  c->last.generated_tokens = n_gen;
  c->last.stop = rc == DOCQ_ECANCELED ? DOCQ_STOP_CANCELED : rc < 0 ? DOCQ_STOP_NONE : why;
  dq_buf_free(&s.text);
  dq_sampler_free(smp);
  dq_free(ids);
  return rc;
}

DOCQ_API int docq_ctx_last_generation(const docq_ctx *c, docq_gen_info *out)
{
  DQ_ASSERT_ARG(c && out);
  *out = c->last;
  return 0;
}

DOCQ_API size_t docq_ctx_last_reused(const docq_ctx *c) { return c ? c->last_reused : 0; }

DOCQ_API int docq_ctx_last_timings(const docq_ctx *c, double *prompt_seconds, double *gen_seconds)
{
  DQ_ASSERT_ARG(c);
  if (prompt_seconds) *prompt_seconds = c->last_prompt_s;
  if (gen_seconds) *gen_seconds = c->last_gen_s;
  return 0;
}
