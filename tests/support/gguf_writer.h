/* A small GGUF v3 writer for tests and benchmarks (not public API).
 *
 * Build a file in memory: add metadata of each type, add tensors (data is
 * copied), then serialize to a buffer or a file. Tensor data is laid out in
 * insertion order, each tensor padded to the alignment (general.alignment if
 * set with dq_gw_set_alignment, else 32), exactly like ggml's gguf writer.
 *
 * dq_gw_model() builds a random-weight llama/qwen2/qwen3/smollm3/phi3/gemma2/gemma3 model
 * with the tensor names, shapes and metadata keys llama.cpp (and its
 * converter) uses, plus a small SentencePiece-style vocabulary, so the engine
 * can load and run it.
 *
 * The low-level dq_gwb_* appenders write raw little-endian fields into a
 * dq_buf, for tests that hand-craft hostile headers.
 *
 * Errors: functions return 0 or a negative DOCQ_E* code (message set). A
 * failed add leaves the writer unchanged except for that entry. */
#ifndef DQ_TESTS_GGUF_WRITER_H
#define DQ_TESTS_GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "util/mem.h"

typedef struct dq_gw dq_gw;

dq_gw *dq_gw_new(void);
void dq_gw_free(dq_gw *w);

/* Header version to write (default 3; tests write 1, 2 or others). */
void dq_gw_set_version(dq_gw *w, uint32_t version);
/* Adds general.alignment (u32) and pads tensor data to it. */
int dq_gw_set_alignment(dq_gw *w, uint32_t alignment);

int dq_gw_add_u8(dq_gw *w, const char *key, uint8_t v);
int dq_gw_add_u32(dq_gw *w, const char *key, uint32_t v);
int dq_gw_add_i32(dq_gw *w, const char *key, int32_t v);
int dq_gw_add_u64(dq_gw *w, const char *key, uint64_t v);
int dq_gw_add_i64(dq_gw *w, const char *key, int64_t v);
int dq_gw_add_f32(dq_gw *w, const char *key, float v);
int dq_gw_add_f64(dq_gw *w, const char *key, double v);
int dq_gw_add_bool(dq_gw *w, const char *key, int v);
int dq_gw_add_str(dq_gw *w, const char *key, const char *s);
int dq_gw_add_strn(dq_gw *w, const char *key, const char *s, size_t len);
/* Array of n scalars of `elem_type` (a dq_gguf_vtype other than STRING and
 * ARRAY); `data` holds n host-endian values of that type's size. */
int dq_gw_add_arr(dq_gw *w, const char *key, int elem_type, const void *data, size_t n);
int dq_gw_add_arr_str(dq_gw *w, const char *key, const char *const *s, size_t n);
/* A kv with an arbitrary type tag and pre-encoded value bytes (hostile tests). */
int dq_gw_add_raw(dq_gw *w, const char *key, uint32_t type, const void *value, size_t n);

/* Tensor `name` of ggml `type` with n_dims (1..4) extents ne[] (ne[0] fastest).
 * `data` holds dq_type_row_bytes(type, ne[0]) * ne[1]*ne[2]*ne[3] bytes
 * (copied); NULL data writes zeros. */
int dq_gw_add_tensor(dq_gw *w, const char *name, int type, uint32_t n_dims, const int64_t *ne, const void *data);
/* Same, from f32 values quantized with dq_quantize_row_ref (types the
 * kernels support: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K). */
int dq_gw_add_tensor_f32(dq_gw *w, const char *name, int type, uint32_t n_dims, const int64_t *ne, const float *x);

/* Serialize. dq_gw_write_mem returns a dq_malloc'd buffer (free with dq_free). */
int dq_gw_write_mem(const dq_gw *w, uint8_t **out, size_t *n);
int dq_gw_write_file(const dq_gw *w, const char *path);

/* ---- random-weight models ---- */
typedef struct dq_gw_model_params {
  const char *arch;        /* "llama", "smollm3" (llama's tensors), "qwen2" (adds Q/K/V biases),
                              "qwen3" (adds Q/K head norms), "gemma3" (Q/K head norms, post-attention
                              and post-FFN norms; keys as convert_hf_to_gguf's Gemma3Model writes them:
                              key/value_length always, no rope.dimension_count,
                              tokenizer.ggml.add_space_prefix false) or "gemma2" (post-attention and
                              post-FFN norms, no Q/K head norms, never an output.weight; keys as
                              Gemma2Model writes them: gemma3's, but no rope.freq_base unless
                              rope_freq_base > 0, always attn_logit_softcapping,
                              final_logit_softcapping and attention.sliding_window, see below) or
                              "phi3" (llama's weights fused as convert_hf_to_gguf's Phi3MiniModel
                              writes them: blk.N.attn_qkv.weight = q rows, k rows, v rows, and
                              blk.N.ffn_up.weight = n_ff gate rows then n_ff up rows, no ffn_gate;
                              drawn in llama's order, so the values are those of the llama model
                              of the same parameters; rope.scaling.original_context_length always,
                              no rope.scaling.type; llama.cpp's phi3 needs n_head * head size =
                              n_embd, so leave head_dim 0) */
  int n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
  int head_dim;            /* 0: n_embd / n_head; else written as attention.key_length / value_length */
  float rms_eps;           /* 0: 1e-6 */
  float rope_freq_base;    /* 0: 10000 (llama, phi3) / 1e6 (qwen2, qwen3, gemma3: its global layers) / no key
                              (gemma2: llama.cpp then takes 10000, for every layer) */
  const char *rope_scaling_type; /* NULL: no scaling keys; "linear", "yarn", ... */
  float rope_scaling_factor;
  int rope_orig_ctx;       /* {arch}.rope.scaling.original_context_length when > 0 (with
                              rope_scaling_type only; phi3: always, n_ctx when 0, as its converter
                              writes original_max_position_embeddings) */
  int n_rot;               /* {arch}.rope.dimension_count (rotated dims of a head, even); 0: the head
                              size (gemma2/3: no key either way) */
  float rope_attn_factor;  /* {arch}.rope.scaling.attn_factor when > 0 (Phi3MiniModel writes
                              sqrt(1 + ln(n_ctx / orig) / ln(orig)) with LongRoPE factors) */
  const float *rope_factors_long;  /* when both set: rope_factors_long.weight and */
  const float *rope_factors_short; /* rope_factors_short.weight, F32, n_rot / 2 values each, first
                                      in the file as the converter yields them (LongRoPE: llama.cpp's
                                      phi3 divides pair j's frequency by long[j] when its context per
                                      sequence exceeds the original context, else by short[j]) */
  int sliding_window;      /* {arch}.attention.sliding_window when > 0 (gemma3: llama.cpp then makes
                              layers il % 6 < 5 sliding-window layers, RoPE base 10000, unscaled;
                              gemma2: the even layers, with the other layers' RoPE). gemma2: 0 writes
                              Gemma 2's 4096, < 0 no key (llama.cpp's default is 4096 too) */
  float attn_softcap;      /* gemma2: {arch}.attn_logit_softcapping c (scores c * tanh(s / c)); 0
                              writes Gemma 2's 50, < 0 no key (llama.cpp's default is 50 too) */
  float final_softcap;     /* gemma2: {arch}.final_logit_softcapping (logits c * tanh(l / c)); 0
                              writes Gemma 2's 30, < 0 no key (llama.cpp: 30). gemma3: written when
                              > 0 (its converter writes it only if config.json has it) */
  int weight_type;         /* ggml type of the 2-D layer weights */
  int embd_type;           /* token_embd.weight type; -1: weight_type */
  int output_type;         /* output.weight type; -1: weight_type */
  int tied_embeddings;     /* 1: no output.weight (the engine reuses token_embd); gemma2: always, as
                              llama.cpp's gemma2 takes no output.weight (it would be one too many) */
  float weight_std;        /* scale of the uniform random weights; 0: 0.02 */
  float embd_std;          /* scale of token_embd's uniform random values; 0: 1 */
  uint64_t seed;
  const char *tokenizer_model; /* tokenizer.ggml.model; NULL: "llama" (the vocabulary below) */
} dq_gw_model_params;

/* Defaults: a 2-layer llama with n_embd 64, 4 heads, 2 KV heads, ffn 128,
 * vocab 320, context 256, f32. */
void dq_gw_model_params_default(dq_gw_model_params *p);
/* Build (into a new writer, which the caller may extend and must free) or
 * write directly. A weight whose row length is not a multiple of the
 * requested type's block size is stored as F32 (as llama.cpp falls back). */
int dq_gw_model(dq_gw **out, const dq_gw_model_params *p);
int dq_gw_write_model(const dq_gw_model_params *p, const char *path);

/* The vocabulary dq_gw_model writes: token i's text (valid until the next
 * call from any thread; for tests only). Tokens: 0 <unk>, 1 <s>, 2 </s>,
 * then (when n_vocab >= 259) 256 byte tokens <0x00>..<0xFF>, then "▁", the
 * letters, "▁"+letter, letter pairs, ... */
const char *dq_gw_vocab_token(int i, int n_vocab);

/* ---- raw field appenders (little-endian) ---- */
int dq_gwb_u32(dq_buf *b, uint32_t v);
int dq_gwb_u64(dq_buf *b, uint64_t v);
int dq_gwb_str(dq_buf *b, const char *s); /* u64 length + bytes */

#endif
