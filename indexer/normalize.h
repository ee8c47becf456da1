/* Unicode normalization and term segmentation, shared by everything that must
 * see text the same way: the indexer, the FTS5 tokenizer, the built-in
 * embedder and the query path. One way, used everywhere.
 *
 * Normal form: utf8proc NFKC + case folding (UTF8PROC_COMPOSE|COMPAT|CASEFOLD|
 * STABLE, IGNORE to drop default-ignorables). Invalid UTF-8 is never passed to
 * utf8proc: callers repair it first with dq_utf8_repair(). */
#ifndef DQ_INDEXER_NORMALIZE_H
#define DQ_INDEXER_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

/* Copy `s` replacing each maximal invalid UTF-8 sequence with U+FFFD (the
 * WHATWG/Unicode "maximal subpart" rule). *out is NUL-terminated, freed with
 * dq_free. *n_bad (may be NULL) gets the number of replacements. */
int dq_utf8_repair(const char *s, size_t n, char **out, size_t *out_n, size_t *n_bad);

/* Length (1..4) of the valid UTF-8 sequence at s (n > 0 bytes), or 0 when it
 * is ill-formed; then *bad (may be NULL) gets the length of its maximal
 * subpart: the bytes one U+FFFD replaces (Unicode 15, section 3.9). */
size_t dq_utf8_seq(const char *s, size_t n, size_t *bad);

/* 1 when s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int dq_utf8_valid(const char *s, size_t n);

/* Length of the UTF-8 sequence starting at s (1..4), assuming valid UTF-8. */
size_t dq_utf8_len(unsigned char c);

/* NFKC + case fold valid UTF-8 into a new NUL-terminated string (dq_free). */
int dq_normalize(const char *s, size_t n, char **out, size_t *out_n);

/* 1 for Han, Hiragana, Katakana, Hangul and CJK-compatibility code points:
 * text in these scripts has no spaces, so it is indexed as bigrams. */
int dq_is_cjk(int32_t cp);

/* Receives one index term: normalized UTF-8 bytes term[0..tn), and the byte
 * range [start, end) of the source text it came from. Return non-zero to stop
 * (dq_terms then returns that value). */
typedef int (*dq_term_cb)(void *ctx, const char *term, size_t tn, size_t start, size_t end);

/* Segment valid UTF-8 text into index terms:
 *  - each code point is NFKC-case-folded on its own (so offsets stay exact);
 *  - words: maximal runs of letters (L*), marks (M*) and digits (N*), plus
 *    '_' and inner apostrophes/periods between alphanumerics are NOT kept:
 *    punctuation and symbols separate words; words longer than 64 bytes are
 *    cut; ASCII words made of letters only are Porter-stemmed (stem.h);
 *    words made only of Latin letters, digits and diacritics lose their
 *    diacritics (NFKD without marks: "Gómez" -> "gomez", then stemmed);
 *  - CJK runs: every overlapping bigram of adjacent CJK characters, and the
 *    single character when the run is one character long.
 * Used by the FTS5 tokenizer (documents and queries), the embedder and the
 * extractive answerer. */
int dq_terms(const char *s, size_t n, dq_term_cb cb, void *ctx);

/* Names what dq_terms does; stored in each index, and changed whenever a
 * change to dq_terms gives some text different terms (the store then
 * re-tokenizes its chunks). 1: first release; 2: Latin diacritics folded. */
#define DQ_TERMS_VERSION "docq-terms-2"

/* Conservative token estimate for text without a model tokenizer: each CJK
 * character counts 1, each other word counts ceil(bytes/4) (at least 1), each
 * punctuation/symbol character counts 1. Whitespace is free. Real BPE
 * tokenizers give fewer tokens than this for English prose (checked in tests
 * against the llama-spm vocabulary). */
size_t dq_token_estimate(const char *s, size_t n);

#endif
