/* Passage orders for the prompt (see assemble.h). Orders are permutations
 * from prompt position to rank, so packing (which decides *what* goes in, by
 * rank) and ordering (*where* it goes) stay independent. */
#include "assemble/assemble.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/mem.h"

void dq_order_edges(size_t n, size_t *perm)
{
  /* Rank r (0-based) goes to the front half when even, the back half when
   * odd, each half filling towards the middle. */
  size_t front = 0, back = n;
  for (size_t r = 0; r < n; r++) {
    if (r % 2 == 0) perm[front++] = r;
    else perm[--back] = r;
  }
}

void dq_order_relevance(size_t n, size_t *perm)
{
  for (size_t i = 0; i < n; i++) perm[i] = i;
}

typedef struct doc_key { const dq_pack_item *it; size_t rank; } doc_key;

static int cmp_doc(const void *a, const void *b)
{
  const doc_key *x = a, *y = b;
  int c = strcmp(x->it->path ? x->it->path : "", y->it->path ? y->it->path : "");
  if (c) return c;
  if (x->it->line_first != y->it->line_first) return x->it->line_first < y->it->line_first ? -1 : 1;
  return (x->rank > y->rank) - (x->rank < y->rank);
}

int dq_order_document(const dq_pack_item *items, const size_t *ranks, size_t n, size_t *perm)
{
  doc_key *k = dq_malloc((n ? n : 1) * sizeof *k);
  if (!k) return DOCQ_ENOMEM;
  for (size_t i = 0; i < n; i++) { k[i].it = &items[i]; k[i].rank = ranks[i]; }
  qsort(k, n, sizeof *k, cmp_doc);
  for (size_t i = 0; i < n; i++) perm[i] = (size_t)(k[i].it - items);
  dq_free(k);
  return 0;
}
