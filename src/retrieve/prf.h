/* Re-ranking the BM25 candidates: pseudo-relevance feedback (RM3) and term proximity; see prf.c. */
#ifndef DQ_RETRIEVE_PRF_H
#define DQ_RETRIEVE_PRF_H

#include <stddef.h>

#include "store/store.h"

/* What dq_prf_rerank does: */
enum {
  DQ_RERANK_RM3 = 1,       /* mix in a relevance model of the best candidates (feedback) */
  DQ_RERANK_PROXIMITY = 2  /* add the term-proximity score (prox.c) */
};

/* Re-score the BM25 candidates c[0..n) (best first, dq_store_bm25 scores) with
 * a relevance model of the best of them and/or how close they keep the
 * query's words (`what`), and sort them again best first. `query` is the
 * user's text (valid UTF-8). Scores change scale: they stay comparable among
 * the candidates only. */
int dq_prf_rerank(dq_store *s, const char *query, dq_scored *c, size_t n, unsigned what);

#endif
