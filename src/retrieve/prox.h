/* Term proximity: how close a chunk keeps the query's neighbouring words; see prox.c. */
#ifndef DQ_RETRIEVE_PROX_H
#define DQ_RETRIEVE_PROX_H

#include <stddef.h>
#include <stdint.h>

/* Query words beyond this many distinct content terms take no part. */
#define DQ_PROX_MAXQ 32
/* Occurrences further apart than this (in terms) do not count. */
#define DQ_PROX_DIST 5

/* The query's distinct content terms (dq_terms terms, function words
 * aside) in the order they first appear, with their BM25 idf. The term bytes
 * are borrowed. */
typedef struct dq_prox_query {
  const char *t[DQ_PROX_MAXQ];
  size_t n[DQ_PROX_MAXQ];
  double idf[DQ_PROX_MAXQ];
  size_t k;
} dq_prox_query;

/* What one chunk's reading has gathered; dq_prox_begin before its first term. */
typedef struct dq_prox_state {
  long last[DQ_PROX_MAXQ];   /* position of the term's latest occurrence; -1 = none yet */
  double acc[DQ_PROX_MAXQ];  /* acc[i]: closeness of query terms i and i + 1 */
  uint32_t seen;             /* query terms met in the current sentence (bit i: term i) */
  double best_sentence;      /* the most idf of query terms one sentence has held */
} dq_prox_state;

void dq_prox_begin(dq_prox_state *st);
/* The chunk's term at position pos (0, 1, 2, ... in reading order). */
void dq_prox_term(dq_prox_state *st, const dq_prox_query *q, const char *t, size_t n, size_t pos);
/* A sentence of the chunk ends here (call it also after the last term). The
 * idf of the query terms it held counts `weight` times toward best_sentence
 * (the re-ranking gives more to a sentence that also holds the kind of answer
 * the question asks for). */
void dq_prox_sentence_end(dq_prox_state *st, const dq_prox_query *q, double weight);
/* The chunk's proximity score: 0 when no neighbouring pair of query terms
 * stands within DQ_PROX_DIST; dl is the chunk's length in terms. */
double dq_prox_score(const dq_prox_state *st, const dq_prox_query *q, double dl, double avgdl);

#endif
