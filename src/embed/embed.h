/* Embedders: text -> L2-normalized float vectors. One interface for the
 * built-in embedder (no model file) and the neural GGUF encoders (issue
 * "Neural embeddings"), so the indexer and the query path never know which
 * one they use. */
#ifndef DQ_EMBED_EMBED_H
#define DQ_EMBED_EMBED_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct dq_embedder dq_embedder;

typedef struct dq_embedder_vt {
  /* Embed n texts into out[n * dim], each row L2-normalized (all-zero text
   * gives a zero row). is_query selects the query-side prefix/weighting. */
  int (*embed)(dq_embedder *e, const char *const *texts, const size_t *lens, size_t n,
               int is_query, float *out);
  void (*free)(dq_embedder *e);
} dq_embedder_vt;

struct dq_embedder {
  const dq_embedder_vt *vt;
  char id[128];   /* identity recorded in the manifest, e.g. "docq-hash-v3" */
  unsigned dim;
  /* When set and non-zero, a slow embedder (GGUF) stops between its batches
   * with DOCQ_ECANCELED: one large file can take minutes to embed, and Ctrl-C
   * should not wait for all of it. NULL = never. Set by the owner of the
   * flag (the db), which outlives the embedder. */
  const atomic_int *interrupt;
};

static inline int dq_embed(dq_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                           int is_query, float *out)
{ return e->vt->embed(e, texts, lens, n, is_query, out); }
static inline void dq_embedder_free(dq_embedder *e) { if (e) e->vt->free(e); }

/* The built-in embedder: deterministic, needs no corpus statistics or files,
 * thread-safe (embed may be called from several threads at once). Its method
 * and the reasons for it are documented in src/embed/builtin.c. */
int dq_embedder_builtin(dq_embedder **out);

#endif
