/* SHA-256 (FIPS 180-4), for content hashes of indexed files. */
#ifndef DQ_UTIL_SHA256_H
#define DQ_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct dq_sha256 {
  uint32_t h[8];
  uint64_t len;        /* bytes hashed so far */
  uint8_t block[64];
  size_t fill;
} dq_sha256;

void dq_sha256_init(dq_sha256 *c);
void dq_sha256_update(dq_sha256 *c, const void *data, size_t n);
void dq_sha256_final(dq_sha256 *c, uint8_t out[32]);
/* One-shot: lower-case hex digest into hex[65] (NUL-terminated). */
void dq_sha256_hex(const void *data, size_t n, char hex[65]);

#endif
