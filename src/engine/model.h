/* A decoder-only transformer loaded from GGUF (architectures llama and qwen2):
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
 * the tokenizer itself is loaded by the API layer (src/api/model.c). */
#ifndef DQ_ENGINE_MODEL_H
#define DQ_ENGINE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "engine/rope.h"

enum dq_arch { DQ_ARCH_NONE = 0, DQ_ARCH_LLAMA = 1, DQ_ARCH_QWEN2 = 2 };

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
  const float *ffn_norm;  /* (n_embd) */
  dq_weight w_gate;       /* (n_embd -> n_ff) */
  dq_weight w_up;         /* (n_embd -> n_ff) */
  dq_weight w_down;       /* (n_ff -> n_embd) */
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
  dq_rope_params rope;    /* as the file declares it (freq_factors -> rope_freqs tensor if any) */
  float rope_factor;      /* declared scaling factor s (1 when none) */
} dq_hparams;

typedef struct dq_model {
  dq_gguf *gguf;          /* owns the map */
  char *name;             /* general.name or the file name */
  int has_weights;
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
void dq_model_free(dq_model *m);

/* "llama", "qwen2" */
const char *dq_arch_name(int arch);

#endif
