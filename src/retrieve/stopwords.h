/* A fixed list of function words (English, plus common Chinese function
 * characters and question bigrams) used to damp terms that carry no topic:
 * the built-in embedder weights them down and the extractive answerer ignores
 * them when measuring how much of a question a sentence covers.
 *
 * The list is part of the embedder's identity ("docq-hash-v3"): changing it
 * changes vectors, so it must only ever change together with the id. */
#ifndef DQ_RETRIEVE_STOPWORDS_H
#define DQ_RETRIEVE_STOPWORDS_H

#include <stddef.h>

/* 1 when the normalized (case-folded) term t[0..n) is a function word. */
int dq_stopword(const char *t, size_t n);

#endif
