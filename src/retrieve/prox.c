/* Term proximity, after BM25TP (Rasolofo & Savoy, "Term Proximity Scoring
 * for Keyword-Based Retrieval Systems", ECIR 2003): a chunk where the
 * query's words stand close together is more likely about what the query
 * says than one where they are scattered. For each pair of query terms, every
 * two occurrences at most DQ_PROX_DIST terms apart add 1/d^2 to the pair's
 * acc (d = distance in terms, counted in both reading orders), and
 *
 *   TP(d) = sum over pairs  min(idf_a, idf_b) * (k1 + 1) * acc / (K + acc),
 *   K = k1 * ((1 - b) + b * dl / avgdl),
 *
 * i.e. BM25's term part with acc for the term frequency (dq_bm25_term, the
 * store's k1 = 1.2 and b = 0.75). Unlike the paper only pairs
 * that are neighbours in the query (with function words dropped) count, as
 * in the sequential dependence model (Metzler & Croft 2005): on long queries
 * (cranfield) all pairs mostly added noise. The weight of TP against BM25 is
 * set where the re-ranking happens (prf.c), with its measurements.
 *
 * The same reading also records the chunk's best sentence: the most idf of
 * distinct query terms that one sentence holds (the caller says where
 * sentences end), which reaches past DQ_PROX_DIST. */
#include "retrieve/prox.h"

#include <string.h>

#include "store/store.h"

void dq_prox_begin(dq_prox_state *st)
{
  for (size_t i = 0; i < DQ_PROX_MAXQ; i++) {
    st->last[i] = -1;
    st->acc[i] = 0;
  }
  st->seen = 0;
  st->best_sentence = 0;
}

void dq_prox_sentence_end(dq_prox_state *st, const dq_prox_query *q, double weight)
{
  double sum = 0;
  for (size_t i = 0; i < q->k; i++)
    if (st->seen >> i & 1) sum += q->idf[i];
  sum *= weight;
  if (sum > st->best_sentence) st->best_sentence = sum;
  st->seen = 0;
}

static void near(dq_prox_state *st, size_t pair, long from, long pos)
{
  if (from < 0) return;
  long d = pos - from;
  if (d >= 1 && d <= DQ_PROX_DIST) st->acc[pair] += 1.0 / (double)(d * d);
}

void dq_prox_term(dq_prox_state *st, const dq_prox_query *q, const char *t, size_t n, size_t pos)
{
  for (size_t i = 0; i < q->k; i++) {
    if (q->n[i] != n || memcmp(q->t[i], t, n)) continue;
    if (i > 0) near(st, i - 1, st->last[i - 1], (long)pos);
    if (i + 1 < q->k) near(st, i, st->last[i + 1], (long)pos);
    st->last[i] = (long)pos;
    st->seen |= (uint32_t)1 << i;
    return; /* query terms are distinct */
  }
}

double dq_prox_score(const dq_prox_state *st, const dq_prox_query *q, double dl, double avgdl)
{
  if (q->k < 2 || avgdl <= 0) return 0;
  double sc = 0;
  for (size_t i = 0; i + 1 < q->k; i++) {
    if (st->acc[i] <= 0) continue;
    const double w = q->idf[i] < q->idf[i + 1] ? q->idf[i] : q->idf[i + 1];
    sc += dq_bm25_term(w, st->acc[i], dl, avgdl);
  }
  return sc;
}
