/* Fuzz target for the GGUF reader: any bytes go to dq_gguf_from_buffer, which
 * must either fail with an error code or return a parse whose every pointer
 * is safe to read. On success the target reads back everything a model
 * loader would: each key through every typed getter, each string of every
 * string array, the first and last byte of each tensor, and looks each
 * tensor up by name. Inputs above 4 MiB are ignored (resource cap), as are
 * string arrays beyond the first 100000 elements read back. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

static void touch_kv(const dq_gguf *g, long i)
{
  const dq_gguf_kv *kv = &g->kv[i];
  uint32_t u32;
  uint64_t u64;
  int32_t i32;
  float f;
  int b, at;
  const char *s;
  size_t len;
  uint64_t n;
  const void *p;
  if (dq_gguf_get_u32(g, kv->key, &u32) == 0) sink += u32;
  if (dq_gguf_get_u64(g, kv->key, &u64) == 0) sink += (unsigned)u64;
  if (dq_gguf_get_i32(g, kv->key, &i32) == 0) sink += (unsigned)i32;
  if (dq_gguf_get_f32(g, kv->key, &f) == 0) sink += f > 0;
  if (dq_gguf_get_bool(g, kv->key, &b) == 0) sink += (unsigned)b;
  if (dq_gguf_get_str(g, kv->key, &s, &len) == 0 && len) sink += (unsigned char)s[0] + (unsigned char)s[len - 1];
  if (dq_gguf_get_arr(g, kv->key, &at, &n, &p) == 0 && at == DQ_GGUF_STRING) {
    for (uint64_t j = 0; j < n && j < 100000; j++)
      if (dq_gguf_arr_str(g, i, j, &s, &len) == 0 && len) sink += (unsigned char)s[0] + (unsigned char)s[len - 1];
  } else if (kv->type == DQ_GGUF_ARRAY && kv->n) {
    sink += kv->data[0];
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  dq_gguf *g;
  if (size > (4u << 20)) return 0;
  if (dq_gguf_from_buffer(&g, data, size) < 0) return 0;
  for (size_t i = 0; i < g->n_kv; i++) {
    touch_kv(g, (long)i);
    if (dq_gguf_find(g, g->kv[i].key) != (long)i) __builtin_trap(); /* keys are unique */
  }
  for (size_t i = 0; i < g->n_tensors; i++) {
    const dq_gguf_tensor *t = &g->tensors[i];
    const uint8_t *d = t->data;
    sink += d[0] + d[t->nbytes - 1];
    if (dq_gguf_tensor_find(g, t->name) != t) __builtin_trap(); /* names are unique */
    if (dq_type_row_bytes(t->type, t->ne[0]) == 0) __builtin_trap();
  }
  dq_gguf_close(g);
  return 0;
}
