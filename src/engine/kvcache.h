/* A per-sequence KV cache sized to the request, with f16 / q8_0 / q4_0 rows.
 *
 * Layout (same as forward.c's f16 cache, so the f16 case is byte-compatible):
 *   k, v: (n_layer, n_ctx, n_kv_head) rows; one row = head_dim elements of the
 *   cache type = dq_type_row_bytes(type, head_dim) bytes.
 * K and V types are chosen independently (llama.cpp --cache-type-k/-v):
 * DQ_T_F16 (default), DQ_T_Q8_0, DQ_T_Q4_0, and DQ_T_F32 (exact; tests and
 * debugging). The quantized types need head_dim % 32 == 0.
 *
 * Keys are stored AFTER RoPE (as the forward pass writes them), so anything
 * that changes a key's position (context shift / eviction) must re-rotate it:
 * dq_kv_shift_k applies a pure rotation by delta positions (no YaRN mscale: the
 * cached key already carries it once). Quantized keys are dequantized, rotated
 * and requantized, as llama.cpp's K-shift does.
 *
 * Memory = n_ctx * n_layer * n_kv_head * (row_k + row_v) bytes, allocated once
 * at creation; nothing here allocates afterwards. Not thread-safe for writes;
 * concurrent reads (dq_kv_read_*) of a cache nobody writes are safe. */
#ifndef DQ_ENGINE_KVCACHE_H
#define DQ_ENGINE_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h" /* dq_ggml_type: DQ_T_F16, DQ_T_Q8_0, DQ_T_Q4_0, DQ_T_F32 */

typedef struct dq_kv {
  int n_layer, n_ctx, n_kv_head, head_dim;
  int type_k, type_v;     /* dq_ggml_type */
  size_t row_k, row_v;    /* bytes of one row (head_dim elements) */
  uint8_t *k;             /* (n_layer, n_ctx, n_kv_head) rows of type_k */
  uint8_t *v;             /* (n_layer, n_ctx, n_kv_head) rows of type_v */
  float *tmp;             /* (head_dim) scratch for dq_kv_shift_k */
} dq_kv;

/* Bytes of the K+V storage for these shapes and types (0 when a type is not
 * supported, head_dim does not fit its block size, or the size overflows). */
size_t dq_kv_bytes_for(int n_layer, int n_ctx, int n_kv_head, int head_dim, int type_k, int type_v);

/* 1 when `type` may be used for a KV cache. */
int dq_kv_type_ok(int type);

/* Parse "f16", "q8_0", "q4_0", "f32" (as llama.cpp's -ctk / -ctv); -1 if unknown. */
int dq_kv_type_from_name(const char *name);

/* Create a cache for n_ctx positions. Errors: DOCQ_EINVAL (non-positive
 * shape, unsupported type, head_dim not a multiple of 32 for q8_0/q4_0 --
 * the message says which), DOCQ_ENOMEM. *out is NULL on failure. */
int dq_kv_new(dq_kv **out, int n_layer, int n_ctx, int n_kv_head, int head_dim, int type_k, int type_v);
void dq_kv_free(dq_kv *kv);

/* Total bytes of K+V storage (the number to report). */
size_t dq_kv_bytes(const dq_kv *kv);

/* Row pointers (no bounds check beyond the asserts of the callers). */
static inline uint8_t *dq_kv_krow(const dq_kv *kv, int layer, int pos, int kvh)
{
  return kv->k + (((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * (size_t)kv->n_kv_head + (size_t)kvh) * kv->row_k;
}
static inline uint8_t *dq_kv_vrow(const dq_kv *kv, int layer, int pos, int kvh)
{
  return kv->v + (((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * (size_t)kv->n_kv_head + (size_t)kvh) * kv->row_v;
}

/* Write one position: k and v are (n_kv_head, head_dim) f32 (k already
 * rotated). Quantizes with the reference quantizers. DOCQ_EINVAL when layer or
 * pos is out of range. */
int dq_kv_write(dq_kv *kv, int layer, int pos, const float *k, const float *v);

/* Overwrite the keys of one position (k: (n_kv_head, head_dim) f32, rotated),
 * values untouched: a re-rotation from un-rotated copies (dynamic NTK). The
 * caller guarantees layer and pos are inside the cache (no checks). */
void dq_kv_write_k(dq_kv *kv, int layer, int pos, const float *k);

/* Move slots [from, from + n) of every layer to [0, n), as they are (keys stay
 * rotated at their positions: only differences of slots matter to a window
 * that slides). For a sliding-window cache that keeps the last keys. The
 * caller guarantees the range is inside the cache (no checks). */
void dq_kv_move_to_front(dq_kv *kv, int from, int n);

/* Dequantize rows pos0..pos0+n-1 of one kv head into out[n][head_dim]. The
 * caller guarantees the range is inside the cache (hot path: no checks). */
void dq_kv_read_k(const dq_kv *kv, int layer, int kvh, int pos0, int n, float *out);
void dq_kv_read_v(const dq_kv *kv, int layer, int kvh, int pos0, int n, float *out);

/* Rotate one head vector x[head_dim] in place by `delta` positions:
 * pair j (NORM: (2j, 2j+1); NEOX: (j, j + n_rot/2)) turns by delta*theta[j]
 * radians, angle and cos/sin computed in double. theta has n_rot/2 entries
 * (the effective per-pair frequencies, e.g. dq_rope_theta). Dims >= n_rot are
 * untouched. rope_mode: DQ_ROPE_NORM (0) or DQ_ROPE_NEOX (2). */
void dq_kv_rotate(float *x, int head_dim, int n_rot, int rope_mode, const float *theta, double delta);

/* Re-rotate the cached keys of positions [pos0, pos0+n) of every layer and kv
 * head by `delta` positions (a context shift: after moving a key from position
 * p to p + delta it equals a key rotated at p + delta directly, up to float
 * and quantization rounding). Errors: DOCQ_EINVAL (range, odd n_rot, n_rot >
 * head_dim, bad mode). */
int dq_kv_shift_k(dq_kv *kv, int pos0, int n, double delta, int n_rot, int rope_mode, const float *theta);

/* StreamingLLM / llama.cpp context shift in one step: of n_used cached
 * positions keep [0, n_keep) (the attention sinks), drop the n_discard after
 * them, move the rest down by n_discard and re-rotate those keys by
 * -n_discard. Returns the new number of used positions (>= 0) or DOCQ_EINVAL. */
int dq_kv_evict(dq_kv *kv, int n_used, int n_keep, int n_discard, int n_rot, int rope_mode, const float *theta);

#endif
