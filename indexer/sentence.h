/* Splitting text into sentences. */
#ifndef DQ_INDEXER_SENTENCE_H
#define DQ_INDEXER_SENTENCE_H

#include <stddef.h>

/* Split text into sentences: calls cb with byte ranges [start, end) of each
 * (whitespace trimmed), in order. Ends: . ! ? followed by space or end (not
 * after a single letter, letters joined by dots or a common abbreviation, so
 * "U.S." and "Dr." do not end one; "3.14" has no space), closing quotes and
 * brackets kept with the
 * sentence; 。！？ and fullwidth ！？ with closing quotes; a line that starts
 * a new unit (blank line, heading, list item, table row, quote; within a
 * quote, a "> " line goes on with the paragraph as a plain line does); a run
 * of more than 800 bytes cut at a space. A non-zero return from cb stops
 * the split and is returned. */
typedef int (*dq_sentence_cb)(void *ctx, size_t start, size_t end);
int dq_sentences(const char *text, size_t n, dq_sentence_cb cb, void *ctx);

#endif
