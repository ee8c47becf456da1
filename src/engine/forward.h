/* The forward pass of a llama / qwen2 decoder over a KV cache.
 *
 * A dq_fwd is one sequence's state: its KV cache, its position and all
 * scratch memory, sized once in dq_fwd_new so that evaluating tokens never
 * allocates. The model it runs is shared and read-only. Prompts are
 * evaluated in batches of up to n_batch tokens (weights streamed once per
 * batch: matrix-matrix products), generation one token at a time.
 * Not thread-safe: one thread at a time per dq_fwd (it uses its own pool). */
#ifndef DQ_ENGINE_FORWARD_H
#define DQ_ENGINE_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/attn.h"
#include "engine/kernels.h"
#include "engine/kvcache.h"
#include "engine/model.h"
#include "engine/rope.h"

/* The cache of dq_fwd_new. F16 / F32: the typed cache (kvcache.h) read by
 * the tiled attention (attn.h), the default. F16_GGML: a plain f16 cache read
 * one (token, head) at a time in llama.cpp's CPU flash-attention rounding
 * order (query rounded to f16, V accumulated in f16), and for f32 weights
 * llama.cpp's product orders and SiLU (ggml_order.h): the parity mode, equal
 * to llama.cpp's logits bit for bit on stories260K; slower (2-3x at 4k-32k
 * tokens, scalar products), and dq_fwd_set_attention replaces it by a typed
 * cache. */
enum dq_kv_type { DQ_KV_F16 = 0, DQ_KV_F32 = 1, DQ_KV_F16_GGML = 2 };

typedef struct dq_fwd {
  const dq_model *m;
  int n_ctx;            /* KV cache capacity in tokens */
  int n_batch;          /* max tokens per internal step */
  int kv_type;          /* dq_kv_type as asked */
  int n_past;           /* tokens in the cache */
  dq_rope rope;
  dq_rope rope_swa;     /* the sliding-window layers' RoPE (hp.rope_swa), when the model has such layers */
  dq_pool *pool;        /* owned; NULL = single thread */
  int n_threads;
  void *kc, *vc;        /* simple path only (DQ_KV_F16_GGML), else NULL:
                           (n_layer, n_ctx, n_head_kv*head_dim) rotated keys / values */
  float *x;             /* (n_batch, n_embd) residual stream */
  float *xb;            /* (n_batch, n_embd) normalized input of a block */
  float *q;             /* (n_batch, n_head*head_dim) */
  float *k, *v;         /* (n_batch, n_head_kv*head_dim) */
  float *att;           /* (n_batch, n_head*head_dim) attention output */
  float *xo;            /* (n_batch, n_embd) block output */
  float *hg, *hu;       /* (n_batch, n_ff) gate and up projections */
  float *cs;            /* (n_batch, n_rot) cos/sin tables */
  float *cs_swa;        /* (n_batch, n_rot) those of rope_swa, or NULL */
  float *logits;        /* (n_vocab) of the last evaluated token */
  void *mm_scratch;     /* dq_matmul scratch, the max over all weights */
  float *k_raw;         /* (n_layer, n_ctx, n_head_kv*head_dim) keys before RoPE; only for a
                           length-dependent RoPE (dynamic NTK), else NULL */
  dq_kv *kv;            /* typed cache of the tiled path (the default), NULL on the simple path; with
                           sliding layers it holds the other layers only */
  dq_kv *kv_swa;        /* tiled path: the sliding layers' cache, NULL without such layers: W - 1 +
                           2 n_batch slots (at most n_ctx), slot = position - swa_base */
  int swa_base;         /* the position in slot 0 of kv_swa: when a batch would not fit, the last
                           W - 1 keys move to the front (dq_kv_move_to_front) */
  int *kv_layer;        /* (n_layer) each layer's index in kv or kv_swa */
  dq_attn *attn;        /* tiled attention, NULL on the simple path */
  dq_attn *attn_swa;    /* tiled attention of the sliding-window layers (their window, whatever the
                           mask asked for the others), NULL without such layers or on the simple path */
  int attn_mask, attn_window, attn_sinks; /* of the tiled path (causal, 1, 0 by default) */
} dq_fwd;

/* A state for n_ctx tokens (0: the model's training context). n_batch <= 0:
 * 512. n_threads <= 0: all cores. kv_type: enum dq_kv_type (F16 and F32: the
 * tiled attention over a typed cache of that type). RoPE: the file's, for
 * n_ctx (dq_model_rope_params without overrides: LongRoPE's long factors
 * when n_ctx exceeds the original context). Errors: DOCQ_EINVAL (a
 * tokenizer-only model: "no weights"), DOCQ_ENOMEM. */
int dq_fwd_new(dq_fwd **out, const dq_model *m, int n_ctx, int n_batch, int n_threads, int kv_type);
void dq_fwd_free(dq_fwd *f);

/* Slots of the sliding layers' cache (dq_fwd.kv_swa) for a state of n_ctx
 * tokens in batches of n_batch: W - 1 + 2 n_batch, at most
 * n_ctx; 0 for a model without sliding layers. */
int dq_fwd_swa_slots(const dq_hparams *hp, int n_ctx, int n_batch);

/* Replace the RoPE settings (the file's by default) before evaluating
 * anything: p as for dq_rope_init (e.g. from dq_model_rope_params). A
 * length-dependent type (dynamic NTK) also keeps the un-rotated keys so the
 * cache is re-rotated whenever the base changes: keys and queries then always
 * share one base, the one for the current length (rope.md §2.3). Resets the
 * cache. Errors: DOCQ_EINVAL (parameters; message), DOCQ_EUNSUPPORTED (dynamic
 * NTK with the Lambda mask, whose key un-rotation needs fixed frequencies),
 * DOCQ_ENOMEM. */
int dq_fwd_set_rope(dq_fwd *f, const dq_rope_params *p);

/* Choose the typed KV cache (engine/kvcache.h: DQ_T_F16, DQ_T_F32, DQ_T_Q8_0,
 * DQ_T_Q4_0 for K and V independently) and the mask of the tiled attention
 * (engine/attn.h): `mask` (DQ_ATTN_CAUSAL / SINKS / LAMBDA), `window` recent
 * tokens and `n_sinks` first tokens, instead of the default (cache of the
 * dq_fwd_new type, full causal). Call after dq_fwd_set_rope (the Lambda mask
 * needs the RoPE frequencies); resets the cache. A length-dependent RoPE
 * (dynamic NTK) with the Lambda mask is not supported (DOCQ_EUNSUPPORTED).
 * Errors: DOCQ_EINVAL (types, shapes; message), DOCQ_ENOMEM. */
int dq_fwd_set_attention(dq_fwd *f, int type_k, int type_v, int mask, int window, int n_sinks);

/* Forget the cache (a new sequence). */
void dq_fwd_reset(dq_fwd *f);

/* Keep the first n tokens of the cache and forget the rest: the next
 * evaluation goes on at position n. Returns 0, or DOCQ_EINVAL when n is
 * not in [0, n_past] or the sliding layers' cache no longer holds the keys
 * a token at position n would see (they moved out: swa_base); the state is
 * unchanged then. */
int dq_fwd_truncate(dq_fwd *f, int n);

/* Evaluate n tokens at positions n_past..n_past+n-1 and append them to the
 * cache. f->logits then holds the last token's logits; when all_logits is not
 * NULL it receives (n, n_vocab) logits of every token. Errors: DOCQ_EINVAL
 * (context full, token id out of range; nothing is appended then). */
int dq_fwd_eval(dq_fwd *f, const int32_t *toks, int n, float *all_logits);
/* The same, asking stop(stop_arg) before each batch of n_batch tokens: a
 * non-zero answer returns DOCQ_ECANCELED, with the batches done so far in the
 * cache (a long prompt can be interrupted). stop may be NULL. */
int dq_fwd_eval_stop(dq_fwd *f, const int32_t *toks, int n, float *all_logits, int (*stop)(void *), void *stop_arg);

#endif
