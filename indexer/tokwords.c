/* Lookup in the generated lists (see tokwords.h): an open-addressing hash
 * set over each list, built once on first use, since the estimate looks up
 * nearly every word it reads. */
#include "indexer/tokwords.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "util/hash.h"

static const char *const k_words[] = {
#include "indexer/tokwords.inc"
};
static const char *const k_pieces[] = {
#include "indexer/tokpieces.inc"
};

enum {
  N_WORDS = sizeof k_words / sizeof *k_words,
  N_PIECES = sizeof k_pieces / sizeof *k_pieces,
  WORD_SLOTS = 1 << 15, /* powers of two, each set under half full */
  PIECE_SLOTS = 1 << 14,
  MAX_LEN = 31 /* gen_tokwords lists nothing longer */
};
_Static_assert(N_WORDS < WORD_SLOTS / 2 && N_PIECES < PIECE_SLOTS / 2, "a list outgrew its hash set");

typedef struct set {
  const char *const *list;
  size_t n, mask;
  uint16_t *slot; /* index into list + 1; 0 = empty */
} set;

static uint16_t g_word_slot[WORD_SLOTS], g_piece_slot[PIECE_SLOTS];
static set g_words = {k_words, N_WORDS, WORD_SLOTS - 1, g_word_slot};
static set g_pieces = {k_pieces, N_PIECES, PIECE_SLOTS - 1, g_piece_slot};
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void fill(set *s)
{
  for (size_t i = 0; i < s->n; i++) {
    size_t h = dq_hash_bytes(s->list[i], strlen(s->list[i])) & s->mask;
    while (s->slot[h]) h = (h + 1) & s->mask;
    s->slot[h] = (uint16_t)(i + 1);
  }
}

static void build(void)
{
  fill(&g_words);
  fill(&g_pieces);
}

static int find(const set *s, const char *w, size_t len)
{
  if (len == 0 || len > MAX_LEN) return 0;
  pthread_once(&g_once, build);
  for (size_t h = dq_hash_bytes(w, len) & s->mask;; h = (h + 1) & s->mask) {
    const uint16_t i = s->slot[h];
    if (!i) return 0;
    const char *c = s->list[i - 1];
    if (!strncmp(c, w, len) && c[len] == 0) return 1; /* strncmp: c may be shorter than len */
  }
}

int dq_tokword(const char *w, size_t len) { return find(&g_words, w, len); }

int dq_tokpiece(const char *w, size_t len) { return find(&g_pieces, w, len); }
