/* A decoder-only transformer loaded from GGUF (architectures llama, qwen2, qwen3, phi3, smollm3, gemma3):
 * hyperparameters, RoPE settings and weight pointers into the memory map.
 *
 * Invariants after dq_model_load succeeds:
 *   - every weight pointer points into the GGUF map (never copied), except
 *     1-D vectors (norms, biases) stored in a type other than F32, which are
 *     converted once into `owned`;
 *   - every tensor's shape and type were checked against the hyperparameters
 *     (DOCQ_ECORRUPT / DOCQ_EUNSUPPORTED naming the tensor otherwise);
 *   - the model is immutable: any number of threads may run forward passes
 *     on it at once, each with its own dq_fwd (KV cache and scratch).
 * A tokenizer-only file (no token_embd.weight) loads with has_weights = 0;
 * the tokenizer itself is loaded by the API layer (src/api/model.c).
 * Loaded with DQ_LOAD_INFO (for `docq model info` and `docq tokenize`), a
 * file whose weights need what docq lacks (an architecture, tensor type,
 * RoPE scaling or head size) loads too, with has_weights = 0: the header,
 * the hyperparameters read before the refusal and the tokenizer stay usable,
 * and run_error says why it cannot generate. */
#ifndef DQ_ENGINE_MODEL_H
#define DQ_ENGINE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "engine/rope.h"

/* phi3: NEOX RoPE, no biases, fused attn_qkv and ffn_up (gate rows then up
 * rows) tensors, which load as views (wq/wk/wv, w_gate/w_up point into them),
 * LongRoPE factor tensors, optional sliding-window attention (n_swa). */
/* qwen3: qwen2 without biases, with an RMSNorm over each head of q and of k
 * (attn_q_norm / attn_k_norm, head_dim weights) before RoPE.
 * smollm3: llama whose every fourth layer (il % 4 == 3) has no RoPE (NoPE),
 * as llama.cpp's n_no_rope_layer_step = 4.
 * gemma3: embeddings scaled by sqrt(n_embd), q/k head norms as qwen3, queries
 * scaled before attention (q_scale), RMSNorm of each block's output before
 * the residual add (attn_post_norm, ffn_post_norm), GELU-gated FFN, NEOX
 * RoPE; sliding-window attention in the layers il % swa_period < period - 1,
 * which rotate with their own base (rope_swa) and no scaling.
 * gemma2: gemma3 without the q/k head norms, with attention logits capped
 * (attn_softcap) and the output's always (final_softcap); every other layer
 * slides (swa_period 2, window 4096 by default) and all rotate alike. */
enum dq_arch { DQ_ARCH_NONE = 0, DQ_ARCH_LLAMA = 1, DQ_ARCH_QWEN2 = 2, DQ_ARCH_PHI3 = 3, DQ_ARCH_QWEN3 = 4,
               DQ_ARCH_SMOLLM3 = 5, DQ_ARCH_GEMMA3 = 6, DQ_ARCH_GEMMA2 = 7 };

/* The FFN's gate activation. */
enum dq_act { DQ_ACT_SILU = 0, DQ_ACT_GELU = 1 /* tanh approximation, as ggml: through f16 */ };

/* A 2-D weight matrix: n_out rows of n_in elements of `type` (ggml ne0 = n_in). */
typedef struct dq_weight {
  const void *data;
  int type;
  int64_t n_in, n_out;
  const char *name;       /* tensor name, for messages */
} dq_weight;

typedef struct dq_layer {
  const float *attn_norm; /* (n_embd) */
  dq_weight wq;           /* (n_embd -> n_head*head_dim) */
  dq_weight wk;           /* (n_embd -> n_head_kv*head_dim) */
  dq_weight wv;           /* (n_embd -> n_head_kv*head_dim) */
  dq_weight wo;           /* (n_head*head_dim -> n_embd) */
  const float *bq;        /* (n_head*head_dim) qwen2 only, else NULL */
  const float *bk;        /* (n_head_kv*head_dim) */
  const float *bv;        /* (n_head_kv*head_dim) */
  const float *q_norm;    /* (head_dim) qwen3, gemma3, else NULL: RMSNorm of each query head */
  const float *k_norm;    /* (head_dim) qwen3, gemma3: of each key head */
  const float *attn_post_norm; /* (n_embd) gemma2/3, else NULL: RMSNorm of the attention output */
  int no_rope;            /* 1: q and k are not rotated in this layer (smollm3's NoPE layers) */
  int swa;                /* 1: sliding-window layer (gemma2/3): keys within n_swa, RoPE rope_swa */
  const float *ffn_norm;  /* (n_embd) */
  dq_weight w_gate;       /* (n_embd -> n_ff) */
  dq_weight w_up;         /* (n_embd -> n_ff) */
  dq_weight w_down;       /* (n_ff -> n_embd) */
  const float *ffn_post_norm; /* (n_embd) gemma2/3, else NULL: RMSNorm of the FFN output */
} dq_layer;

typedef struct dq_hparams {
  int arch;               /* dq_arch */
  char arch_name[32];     /* general.architecture as written */
  int n_vocab;
  int n_embd;
  int n_layer;
  int n_head, n_head_kv;
  int head_dim;           /* n_embd / n_head unless attention.key_length says otherwise */
  int n_ff;
  int n_ctx_train;        /* {arch}.context_length */
  int n_rot;              /* rotated dims per head */
  float rms_eps;
  int n_swa;              /* sliding-window attention: keys at distance < n_swa are seen (0: none);
                             applied in the layers marked swa (gemma2/3; phi3's is not, as llama.cpp) */
  int swa_period;         /* of every swa_period layers all but the last slide (gemma3 6, gemma2 2) */
  int n_layer_swa;        /* layers marked swa */
  dq_rope_params rope_swa; /* RoPE of the swa layers: gemma3 base rope.freq_base_swa (10000), no
                              scaling; gemma2 the file's RoPE (base rope.freq_base_swa if given) */
  float embd_scale;       /* token embeddings are multiplied by it (gemma2/3: sqrt(n_embd)); 0: not */
  float q_scale;          /* queries are multiplied by it after RoPE and attention scores are not
                             scaled again (gemma2/3, phi3: 1/sqrt(head_dim), as llama.cpp, whose f16
                             flash attention then rounds the scaled query); 0: scores scaled by 1/sqrt(head_dim) */
  int act;                /* dq_act of the FFN gate */
  float attn_softcap;     /* attention scores s = c * tanh(s / c) when > 0 (gemma2's attn_logit_softcapping) */
  float final_softcap;    /* logits = c * tanh(logits / c) when > 0 (final_logit_softcapping) */
  dq_rope_params rope;    /* as the file declares it (freq_factors -> rope_freqs tensor if any) */
  float rope_factor;      /* declared scaling factor s (1 when none) */
  const float *rope_long;  /* LongRoPE / Phi-3 rope_factors_long.weight (n_rot/2) or NULL */
  const float *rope_short; /* rope_factors_short.weight or NULL */
} dq_hparams;



typedef struct dq_model {
  dq_gguf *gguf;          /* owns the map */
  char *name;             /* general.name or the file name */
  int has_weights;        /* 1: the weights loaded and docq can run them */
  int run_code;           /* when has_weights is 0: the DOCQ_E* code and */
  char *run_error;        /* message for anyone who asks it to generate */
  dq_hparams hp;
  dq_weight tok_embd;     /* (n_embd) x n_vocab rows */
  const float *output_norm; /* (n_embd) */
  dq_weight output;       /* (n_embd -> n_vocab); == tok_embd when tied */
  int tied_output;
  dq_layer *layers;       /* (n_layer) */
  uint64_t n_params;      /* elements of all weight tensors */
  uint64_t weight_bytes;  /* bytes of all tensors */
  float **owned;          /* converted 1-D vectors */
  size_t n_owned;
} dq_model;

/* Load and validate. Errors: DOCQ_ENOTFOUND, DOCQ_EIO, DOCQ_ECORRUPT,
 * DOCQ_EUNSUPPORTED (architecture or tensor type), DOCQ_ENOMEM. */
int dq_model_load(dq_model **out, const char *path);
/* Same over a caller's GGUF buffer (must outlive the model). */
int dq_model_from_buffer(dq_model **out, const void *p, size_t n);
/* Flags for the _flags variants. DQ_LOAD_INFO: a DOCQ_EUNSUPPORTED found in
 * the weights' architecture, hyperparameters, RoPE or tensors does not fail
 * the load; it becomes run_error (see the top of this file). Damage
 * (DOCQ_ECORRUPT) still fails. */
enum { DQ_LOAD_INFO = 1 };
int dq_model_load_flags(dq_model **out, const char *path, unsigned flags);
int dq_model_from_buffer_flags(dq_model **out, const void *p, size_t n, unsigned flags);
/* Mark m as one that cannot generate (has_weights 0), for `msg` (copied),
 * e.g. a tokenizer docq lacks. Errors: DOCQ_ENOMEM. */
int dq_model_set_run_error(dq_model *m, int code, const char *msg);
/* Fail with m's run_code and run_error when m cannot generate (has_weights 0). */
int dq_model_require_weights(const dq_model *m);
void dq_model_free(dq_model *m);

/* "llama", "qwen2", "qwen3", "phi3", "smollm3", "gemma3" */
const char *dq_arch_name(int arch);

/* User overrides of the file's RoPE settings, with llama.cpp's CLI meaning
 * (rope.md §3.2). A field left at its "unset" value keeps the file's. */
typedef struct dq_rope_overrides {
  int scaling;          /* dq_rope_scaling; -1: the file's */
  float scale;          /* s (--rope-scale): freq_scale = 1/s; 0: unset */
  float freq_scale;     /* --rope-freq-scale; wins over scale; 0: unset */
  float freq_base;      /* --rope-freq-base; 0: unset */
  int n_ctx_orig;       /* --yarn-orig-ctx; 0: unset */
  float ext_factor;     /* --yarn-ext-factor; < 0: unset (auto) */
  float attn_factor;    /* --yarn-attn-factor: multiplies the file's attn_factor; <= 0: unset */
  float beta_fast;      /* --yarn-beta-fast; <= 0: unset */
  float beta_slow;      /* --yarn-beta-slow; <= 0: unset */
} dq_rope_overrides;

/* All fields unset. */
void dq_rope_overrides_default(dq_rope_overrides *o);

/* The effective RoPE parameters for a context of n_ctx tokens: the file's,
 * then the overrides (o may be NULL). LongRoPE factor tensors are picked as
 * llama.cpp does, once per context: long when n_ctx > the original context,
 * else short (a rope_freqs tensor wins over both). freq_factors in *out
 * points into the model's map. Validated with dq_rope_init: DOCQ_EINVAL with
 * a message for impossible values. */
int dq_model_rope_params(const dq_model *m, const dq_rope_overrides *o, int n_ctx, dq_rope_params *out);

#endif
