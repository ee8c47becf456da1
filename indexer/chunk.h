/* Chunking along the document's structure: front matter, headings,
 * paragraphs, then sentences (. ! ? and 。！？；…), then words as a last
 * resort. Sizes are in tokens (dq_token_estimate, or a model tokenizer's
 * count through `count_tokens`). A chunk never splits a UTF-8 sequence, a
 * code-block line or a CJK character; a chunk never spans two sections
 * (a heading starts a new chunk) unless the section is tiny. */
#ifndef DQ_INDEXER_CHUNK_H
#define DQ_INDEXER_CHUNK_H

#include "indexer/loader.h"

typedef struct dq_chunk_opts {
  unsigned target_tokens;   /* aim for this many tokens; default DQ_CHUNK_DEFAULT_TOKENS */
  unsigned overlap_tokens;  /* repeat about this many tokens of the previous chunk */
  /* Optional exact counter (a model tokenizer); NULL = dq_token_estimate. */
  size_t (*count_tokens)(void *ctx, const char *s, size_t n);
  void *count_ctx;
} dq_chunk_opts;

/* 512 measured against 256 (docq eval, nDCG@10 hybrid): scifact 0.668->0.690,
 * medline 0.716->0.730, cranfield 0.339->0.343, cacm 0.403->0.384; half the vectors
 * (index 3.4x the text with f32 FAISS vectors instead of 4.5x, and faster search).
 * That was in the units of the earlier estimate; the conservative one counts
 * English ~9% higher (mean true/estimate 0.904 -> 0.827 against Llama-2 SPM),
 * so the same chunk length is now 560: at 512 in the new units scifact lost
 * 0.7002 -> 0.6928 (smaller chunks), at 560 0.6998. Models with a 512-token
 * window (BERT-style embedders) truncate the longest chunks, with a warning. */
#define DQ_CHUNK_DEFAULT_TOKENS 560
#define DQ_CHUNK_DEFAULT_OVERLAP 0

typedef struct dq_chunk {
  uint32_t ordinal;            /* 0-based position in the document */
  size_t src_start, src_end;   /* byte range in the original file (overlap included) */
  uint32_t line_first, line_last;
  char *section;               /* heading path, "" if none */
  char *text; size_t text_len; /* as written, for citations */
  size_t overlap_len;          /* leading bytes of `text` repeated from the previous chunk */
  char *clean; size_t clean_len; /* what the index sees (before normalization) */
  uint32_t n_tokens;
} dq_chunk;

int dq_chunk_doc(const dq_doc *d, const dq_chunk_opts *o, dq_chunk **out, size_t *n_out);
void dq_chunks_free(dq_chunk *c, size_t n);

#endif
