/* Lookup in the generated word list (see tokwords.h): an open-addressing
 * hash set (64 KiB of slots) over the list, built once on first use, since
 * the estimate looks up nearly every word it reads. */
#include "indexer/tokwords.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "util/hash.h"

static const char *const k_words[] = {
#include "indexer/tokwords.inc"
};

enum {
  N_WORDS = sizeof k_words / sizeof *k_words,
  SLOTS = 1 << 15, /* a power of two, under half full */
  MAX_LEN = 31     /* gen_tokwords lists no longer word */
};
_Static_assert(N_WORDS < SLOTS / 2 && N_WORDS < UINT16_MAX, "word list outgrew the hash set");

static uint16_t g_slot[SLOTS]; /* index into k_words + 1; 0 = empty */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void build(void)
{
  for (size_t i = 0; i < N_WORDS; i++) {
    size_t h = dq_hash_bytes(k_words[i], strlen(k_words[i])) & (SLOTS - 1);
    while (g_slot[h]) h = (h + 1) & (SLOTS - 1);
    g_slot[h] = (uint16_t)(i + 1);
  }
}

int dq_tokword(const char *w, size_t len)
{
  if (len == 0 || len > MAX_LEN) return 0;
  pthread_once(&g_once, build);
  for (size_t h = dq_hash_bytes(w, len) & (SLOTS - 1);; h = (h + 1) & (SLOTS - 1)) {
    const uint16_t s = g_slot[h];
    if (!s) return 0;
    const char *c = k_words[s - 1];
    if (!strncmp(c, w, len) && c[len] == 0) return 1; /* strncmp: c may be shorter than len */
  }
}
