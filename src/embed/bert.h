/* GGUF BERT-family text encoders ("bert", "nomic-bert") as docq embedders.
 *
 * Two layers:
 *   - dq_bert: a loaded encoder (hyper-parameters + weights memory-mapped
 *     from the GGUF, tensor names as llama.cpp's converter writes them) and
 *     dq_bert_encode(), which runs a batch of token sequences through it and
 *     pools each sequence into one vector. Immutable once loaded.
 *   - dq_embedder_gguf(): the dq_embedder (embed/embed.h) built on it:
 *     WordPiece tokenization, [CLS]/[SEP], query/passage prefixes of the
 *     model family, windows for inputs longer than the context, batching and
 *     L2 normalization.
 *
 * The forward pass follows llama.cpp (llm_build_bert) so that vectors agree
 * with it (cosine > 0.999 on the shared fixtures): post-LayerNorm blocks,
 * tanh-approximated GELU looked up on the f16-rounded input as ggml does,
 * token type 0 for every token, pooling from {arch}.pooling_type. */
#ifndef DQ_EMBED_BERT_H
#define DQ_EMBED_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "embed/embed.h"
#include "engine/gguf.h"
#include "engine/kernels.h"

/* Pooling types, numbered as llama.cpp's enum llama_pooling_type. */
enum dq_bert_pool {
  DQ_BERT_POOL_NONE = 0, /* not a sentence embedding: docq falls back to mean */
  DQ_BERT_POOL_MEAN = 1,
  DQ_BERT_POOL_CLS = 2,
  DQ_BERT_POOL_LAST = 3
};

enum dq_bert_arch { DQ_BERT_ARCH_BERT = 1, DQ_BERT_ARCH_NOMIC = 2 };

typedef struct dq_bert_hparams {
  int arch;          /* enum dq_bert_arch */
  int n_vocab;       /* rows of token_embd */
  int n_embd;        /* hidden width d */
  int n_layer;
  int n_head;
  int n_head_dim;    /* d / n_head */
  int n_ff;          /* FFN width */
  int n_ctx;         /* longest sequence (context_length, capped by position_embd rows) */
  int pooling;       /* enum dq_bert_pool actually used (NONE/unknown -> MEAN) */
  int pooling_file;  /* {arch}.pooling_type as written, -1 when absent */
  float norm_eps;    /* LayerNorm epsilon */
  float rope_base;   /* nomic-bert: RoPE frequency base */
  int n_rot;         /* nomic-bert: rotated dimensions per head */
} dq_bert_hparams;

typedef struct dq_bert dq_bert;

/* Load the encoder from an open GGUF (which must outlive the result).
 * Errors: DOCQ_EUNSUPPORTED (another architecture, causal attention, a weight
 * type the kernels lack), DOCQ_ECORRUPT (missing key or tensor, wrong shape),
 * DOCQ_ENOMEM. */
int dq_bert_load(dq_bert **out, const dq_gguf *g);
void dq_bert_free(dq_bert *m);
const dq_bert_hparams *dq_bert_hparams_of(const dq_bert *m);

/* Scratch memory for encoding batches: sized for up to max_tokens tokens in
 * total and sequences of up to max_seq tokens, for a pool of n_threads. One
 * workspace serves one encode call at a time. */
typedef struct dq_bert_ws dq_bert_ws;
int dq_bert_ws_new(dq_bert_ws **out, const dq_bert *m, int max_tokens, int max_seq, int n_threads);
void dq_bert_ws_free(dq_bert_ws *w);

/* Encode n_seq sequences packed one after another in ids (sequence i has
 * seq_len[i] tokens, special tokens included) and write each one's pooled,
 * NOT normalized vector to out[i * n_embd]. Sequences attend only to their
 * own tokens (the packed layout needs no padding, so none can leak into
 * attention or pooling). pool may be NULL.
 * Errors: DOCQ_EINVAL (a token id out of range, a sequence empty or longer
 * than n_ctx or than the workspace allows). */
int dq_bert_encode(const dq_bert *m, dq_bert_ws *w, dq_pool *pool, const int32_t *ids,
                   const int *seq_len, int n_seq, float *out);

/* ---- the embedder ---- */

/* Load a GGUF encoder as a dq_embedder. id = "gguf:<general.name or file
 * name>:<sha256 of the file's first 1 MiB followed by its size as u64 LE>",
 * dim = n_embd. n_threads <= 0: all cores. The embedder serializes calls
 * (a mutex), so it may be shared between threads.
 * Errors: those of dq_gguf_open, dq_tok_load and dq_bert_load. */
int dq_embedder_gguf(dq_embedder **out, const char *path, int n_threads);

/* 1 when e was made by dq_embedder_gguf. */
int dq_embedder_is_gguf(const dq_embedder *e);

/* Override the query and passage prefixes (NULL or "" for none). Each prefix
 * is tokenized on its own and put before the text's tokens. The id gains a
 * ":p<hash>" suffix when they differ from the family's defaults, so an index
 * built with other prefixes is not mixed with this one. DOCQ_EINVAL when e is
 * not a GGUF embedder. */
int dq_embedder_gguf_set_prefixes(dq_embedder *e, const char *query, const char *passage);
/* The prefixes in use (never NULL). */
const char *dq_embedder_gguf_prefix(const dq_embedder *e, int is_query);

/* Inputs longer than the model's window (its context_length, at most 2048
 * tokens including [CLS], the prefix and [SEP]): DQ_BERT_LONG_WINDOWS (default)
 * embeds consecutive windows and averages them (token-weighted for mean
 * pooling); DQ_BERT_LONG_TRUNCATE keeps the first window. Either way a
 * warning goes through dq_log. */
enum { DQ_BERT_LONG_WINDOWS = 0, DQ_BERT_LONG_TRUNCATE = 1 };
int dq_embedder_gguf_set_long_mode(dq_embedder *e, int mode);

/* The token ids the embedder feeds the model for one text: [CLS] prefix
 * text [SEP] of the first window (for checking tokenization and debugging).
 * *ids is dq_malloc'd (free with dq_free); a text without tokens gives n = 0. */
int dq_embedder_gguf_tokens(dq_embedder *e, const char *text, size_t len, int is_query, int32_t **ids, size_t *n);

/* The model family's default prefixes detected from a model name (general.name
 * or file name): e5 "query: "/"passage: ", bge-*-en and mxbai/arctic-embed the
 * retrieval instruction for queries, bge-*-zh its Chinese instruction, nomic
 * "search_query: "/"search_document: "; otherwise none. */
void dq_bert_default_prefixes(const char *name, const char **query, const char **passage);

#endif
