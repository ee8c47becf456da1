/* Memory-lean attention over a dq_kv cache: tiled, online softmax
 * (flash-attention style), grouped-query, multi-threaded, with optional
 * attention windows (StreamingLLM sinks, LM-Infinite Lambda-shaped).
 *
 * What it computes, for every query token i (cache slot / position
 * s_i = pos0 + i) and query head h (kv head h / (n_head / n_kv_head)):
 *   out[i][h] = sum_j softmax_j(scale * q[i][h] . k[j]) v[j]
 * (with a softcap c, softmax_j(c * tanh(scale * q[i][h] . k[j] / c))),
 * over the keys j visible to s_i (see enum dq_attn_mask). No score matrix is
 * ever formed: keys/values are dequantized one tile (DQ_ATTN_TILE positions
 * of one kv head) at a time into per-thread scratch and folded into a running
 * (max, sum, accumulator) per query row. Scratch is allocated once in
 * dq_attn_new and does not depend on the context length; dq_attn_run never
 * allocates.
 *
 * Work decomposition: an item is (block of query tokens, kv head), so one
 * dequantized tile serves every query head of the group and every token of
 * the block; items are handed out through an atomic counter, longest (latest)
 * blocks first. With few items (decode: one query token) the key range is
 * also split across threads and the partial (max, sum, acc) are merged after
 * the run (split-KV), so decode uses every thread. Each item is computed by
 * one thread in a fixed order and the split depends only on the length, so
 * results are bit-identical for any thread count.
 *
 * Positions: keys are cached post-RoPE at slot == position (slot j holds the
 * key rotated at position j). After a StreamingLLM eviction (dq_kv_evict) the
 * kept keys are re-rotated to their new slots, so slot == position still
 * holds (positions are cache slots, as in StreamingLLM).
 *
 * Thread-safety: a dq_attn is used by one caller at a time (its scratch);
 * the cache is only read.
 *
 * Use from the forward pass (engine/forward.c), per sequence:
 *   dq_kv_new(&kv, n_layer, n_ctx, n_head_kv, head_dim, type_k, type_v);
 *   dq_attn_params_default(&ap, n_head, n_head_kv, head_dim);
 *   ap.n_threads = dq_pool_size(pool);  dq_attn_new(&attn, &ap);
 * per layer of a batch of T tokens at positions pos0..pos0+T-1, after RoPE:
 *   for t: dq_kv_write(kv, layer, pos0 + t, k + t*nkv, v + t*nkv);
 *   dq_attn_run(attn, pool, kv, layer, q, T, pos0, att);   (replaces attention_worker)
 * StreamingLLM generation past n_ctx: when the cache is full,
 *   n_past = dq_kv_evict(kv, n_past, n_keep, n_discard, n_rot, mode, theta)
 * with theta[j] = dq_rope_theta(&rope, j), and continue at position n_past
 * (RoPE of new tokens at their slot). */
#ifndef DQ_ENGINE_ATTN_H
#define DQ_ENGINE_ATTN_H

#include <stddef.h>
#include <stdint.h>

#include "engine/kernels.h"
#include "engine/kvcache.h"

#define DQ_ATTN_TILE 64      /* key/value positions per tile */
#define DQ_ATTN_MAX_SPLIT 16 /* max key-range splits per item (decode) */

enum dq_attn_mask {
  /* Query at slot s sees keys 0..s. */
  DQ_ATTN_CAUSAL = 0,
  /* StreamingLLM: keys [0, n_sinks) (attention sinks) plus the `window` most
   * recent keys (s-window, s] (the query's own key included); true positions. */
  DQ_ATTN_SINKS = 1,
  /* LM-Infinite Lambda-shaped: the `window` most recent keys at their true
   * distance, plus the n_sinks "global" keys [0, n_sinks) that lie outside
   * the window, each seen at distance exactly max_dist (the distance cap).
   * Because keys are cached post-RoPE, the capped score is computed as
   *   q_cap . k0_j,  q_cap = R(max_dist - s) q_s,  k0_j = R(-j) k_j
   * i.e. the global keys are un-rotated back to position 0 (in the tile
   * scratch, the cache is untouched) and the query is rotated to position
   * max_dist: exactly LM-Infinite's rule (global keys un-rotated at 0, query
   * at the limit distance). Needs the RoPE frequencies (theta, n_rot,
   * rope_mode) of the cached keys. */
  DQ_ATTN_LAMBDA = 2
};

typedef struct dq_attn_params {
  int n_head;        /* query heads */
  int n_kv_head;     /* kv heads; n_head % n_kv_head == 0 */
  int head_dim;      /* <= 512 */
  int n_threads;     /* the largest pool size dq_attn_run will be given (<= 0: 1) */
  float scale;       /* logit scale; 0: 1/sqrt(head_dim). YaRN's magnitude is in RoPE's cos/sin, not here */
  float softcap;     /* c > 0: scores s = scale * q.k become c * tanh(s / c) before the softmax (Gemma 2); 0: none */
  int mask;          /* enum dq_attn_mask */
  int n_sinks;       /* SINKS: sink tokens; LAMBDA: global tokens (>= 0) */
  int window;        /* SINKS / LAMBDA: recent tokens visible, >= 1 */
  int max_dist;      /* LAMBDA: distance at which far global keys are seen; 0: window */
  int n_rot;         /* LAMBDA: rotated dims per head (even, <= head_dim) */
  int rope_mode;     /* LAMBDA: DQ_ROPE_NORM or DQ_ROPE_NEOX */
  const float *theta; /* LAMBDA: n_rot/2 effective per-pair frequencies (dq_rope_theta); copied */
} dq_attn_params;

typedef struct dq_attn dq_attn;

/* Defaults: causal, scale 0 (1/sqrt(head_dim)), one thread. */
void dq_attn_params_default(dq_attn_params *p, int n_head, int n_kv_head, int head_dim);

/* Create an attention context with all scratch for p->n_threads threads.
 * Errors: DOCQ_EINVAL (shapes, mask options; message names the field),
 * DOCQ_ENOMEM. *out is NULL on failure. */
int dq_attn_new(dq_attn **out, const dq_attn_params *p);
void dq_attn_free(dq_attn *a);

/* Bytes of scratch held by the context (independent of the context length). */
size_t dq_attn_scratch_bytes(const dq_attn *a);

/* Attention of n_q query tokens at positions pos0..pos0+n_q-1 of one layer.
 * q:   (n_q, n_head, head_dim) f32, RoPE applied at their positions.
 * kv:  keys/values of slots [0, pos0+n_q) of `layer` already written (write
 *      the batch's own keys before calling, as in a causal prefill).
 * out: (n_q, n_head, head_dim) f32.
 * pool may be NULL (single thread); dq_pool_size(pool) must be <=
 * p->n_threads. Prefill: n_q > 1; decode: n_q == 1. A query whose visible set
 * is empty cannot happen (its own key is always visible).
 * Errors: DOCQ_EINVAL (shapes do not match the cache, range outside it, pool
 * too large). */
int dq_attn_run(dq_attn *a, dq_pool *pool, const dq_kv *kv, int layer, const float *q, int n_q, int pos0,
                float *out);

#endif
