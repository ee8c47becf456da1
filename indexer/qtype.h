/* Expected answer types of English questions: what kind of answer a
 * question asks for, and whether a sentence holds one (qtype.c). Used by the
 * re-ranking's best sentence (retrieve/prf.c) and the extractive answerer
 * (assemble/extract.c). */
#ifndef DQ_INDEXER_QTYPE_H
#define DQ_INDEXER_QTYPE_H

#include <stddef.h>

/* Expected answer type of an English question: "when ...", "what
 * year ..." -> TIME; "how many/much/long ...", "what percentage ..." ->
 * NUMBER; "who/whom/whose ...", "what city/country/language/team/name ..."
 * (and a few more such nouns) -> NAME; anything else, and any question with
 * non-ASCII text, -> NONE. */
enum { DQ_QT_NONE = 0, DQ_QT_TIME = 1, DQ_QT_NUMBER = 2, DQ_QT_NAME = 3 };
int dq_qtype(const char *question);
/* 1 when sentence s[0..n) holds an answer of type qt: TIME a 3-4 digit year or
 * a capitalized month name; NUMBER a digit or a number word; NAME a
 * capitalized word, not the sentence's first, for which in_question(ctx,
 * word, len) is 0. */
typedef int (*dq_in_question_fn)(void *ctx, const char *word, size_t n);
int dq_qtype_match(int qt, const char *s, size_t n, dq_in_question_fn in_question, void *ctx);

#endif
