/* Pseudo-relevance feedback (RM3) over BM25 candidates; see prf.c. */
#ifndef DQ_RETRIEVE_PRF_H
#define DQ_RETRIEVE_PRF_H

#include <stddef.h>

#include "store/store.h"

/* Re-score the BM25 candidates c[0..n) (best first, dq_store_bm25 scores) with
 * a relevance model of the best of them, and sort them again best first.
 * `query` is the user's text (valid UTF-8). Scores change scale: they stay
 * comparable among the candidates only. */
int dq_prf_rerank(dq_store *s, const char *query, dq_scored *c, size_t n);

#endif
