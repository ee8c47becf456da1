/* English stemming (Porter 1980), applied by dq_terms to lower-case ASCII
 * words so documents and queries meet on stems ("connected", "connection"
 * -> "connect"). */
#ifndef DQ_INDEXER_STEM_H
#define DQ_INDEXER_STEM_H

#include <stddef.h>

/* Stem s[0..n) in place; returns the new length (<= n). Words with anything
 * but a-z, and words of one or two letters, are returned unchanged. */
size_t dq_porter_stem(char *s, size_t n);

#endif
