/* A 64-bit hash of a byte string for open-addressing tables: FNV-1a, then
 * MurmurHash3's finalizer, so the low bits (the slot index under a mask)
 * depend on every byte. */
#ifndef DQ_UTIL_HASH_H
#define DQ_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t dq_hash_bytes(const void *p, size_t n)
{
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

#endif
