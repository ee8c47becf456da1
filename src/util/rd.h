/* Bounds-checked reader over untrusted bytes (GGUF files, vocabularies, saved
 * indexes). A read of n bytes succeeds only when n <= len - off; on failure the
 * reader records the error and every later read fails too (sticky), so parsers
 * can read a run of fields and check once. */
#ifndef DQ_UTIL_RD_H
#define DQ_UTIL_RD_H

#include <stddef.h>
#include <stdint.h>

typedef struct dq_rd {
  const uint8_t *p;
  size_t len, off;
  int failed;
} dq_rd;

static inline void dq_rd_init(dq_rd *r, const void *p, size_t len) { r->p = p; r->len = len; r->off = 0; r->failed = 0; }
static inline size_t dq_rd_remain(const dq_rd *r) { return r->failed ? 0 : r->len - r->off; }

/* Return a pointer to the next n bytes and advance, or NULL (and mark failed). */
static inline const uint8_t *dq_rd_take(dq_rd *r, size_t n)
{
  if (r->failed || n > r->len - r->off) { r->failed = 1; return NULL; }
  const uint8_t *q = r->p + r->off;
  r->off += n;
  return q;
}

/* Little-endian scalar reads; 0 on failure (check r->failed). */
static inline uint8_t dq_rd_u8(dq_rd *r) { const uint8_t *q = dq_rd_take(r, 1); return q ? q[0] : 0; }
static inline uint16_t dq_rd_u16(dq_rd *r) { const uint8_t *q = dq_rd_take(r, 2); return q ? (uint16_t)(q[0] | q[1] << 8) : 0; }
static inline uint32_t dq_rd_u32(dq_rd *r)
{
  const uint8_t *q = dq_rd_take(r, 4);
  return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24 : 0;
}
static inline uint64_t dq_rd_u64(dq_rd *r)
{
  uint64_t lo = dq_rd_u32(r), hi = dq_rd_u32(r);
  return lo | hi << 32;
}

#endif
