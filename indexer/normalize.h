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
/* 1 when s[0..n) holds such a code point (invalid bytes are skipped). */
int dq_has_cjk(const char *s, size_t n);

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
 *    a word that NFKC makes ASCII (fullwidth "ｓｌｏｔｓ") is stemmed too;
 *  - CJK runs: every overlapping bigram of adjacent CJK characters, and the
 *    single character when the run is one character long.
 * Used by the FTS5 tokenizer (documents and queries), the embedder and the
 * extractive answerer. */
int dq_terms(const char *s, size_t n, dq_term_cb cb, void *ctx);

/* Names what dq_terms does; stored in each index, and changed whenever a
 * change to dq_terms gives some text different terms (the store then
 * re-tokenizes its chunks). 1: first release; 2: Latin diacritics folded;
 * 3: compatibility forms of ASCII words (fullwidth) stemmed as ASCII. */
#define DQ_TERMS_VERSION "docq-terms-3"

/* Conservative token estimate for text without a model tokenizer, meant to
 * be at least the true count of the tokenizers users run: Llama 3, Qwen2 and
 * Llama-2/Mistral/TinyLlama SentencePiece. A rule per character class, summed
 * in quarter tokens and rounded up once (so cutting a text at white space
 * never gives pieces whose estimates sum to less than the whole):
 *  - a run of ASCII letters right after a space that real tokenizers keep
 *    whole (indexer/tokwords.h: "the", "government", "Paris"): 1;
 *  - any other run of letters: its pieces, cut by greedy longest match from
 *    the whole words (first piece, after a space) and the pieces inside words
 *    both Llama-2's and GPT-2's vocabularies hold (tokwords.h: "chloroplasts"
 *    is ch|lor|op|last|s), times 1.05 after a space and 1.6 elsewhere (at the
 *    start of a line, after "(" or "-", where SentencePiece has no "▁" and
 *    cuts finer; and never less than after a space), but never more than 1
 *    per letter (every tokenizer has a token for each ASCII letter: "s" in
 *    "Paris's" is 1); with an upper-case letter after the first (ALLCAPS,
 *    camelCase, base64) or more than 64 letters (data, not a word):
 *    ceil(L / 1.5);
 *  - a run of d ASCII digits: d + 1 (digits are split one by one);
 *  - ASCII punctuation, '\n', '\t', '\r': 1 each; spaces are free;
 *  - a CJK character: 1; another non-ASCII letter, mark or digit: 2;
 *  - a non-ASCII symbol or punctuation mark: 1.5 + 0.25 per UTF-8 byte.
 * Measured with bench/bench_tokest over 13.5k passages (nq, squad, scifact,
 * gutenberg_en and vue_docs_en chunks; cmrc2018, classics_zh, vue_docs_zh),
 * true/estimate per passage (2026-11-27, session 13):
 *   English  Llama-2 SPM       mean 0.90, p99 0.98, max 1.03
 *                              (squad 0.93 / 0.98; a word's cost by its
 *                              length gave mean 0.83, p99 0.98, max 1.09, and
 *                              0.88 with the whole-word list: 8% and 2%
 *                              fewer passages fit)
 *            GPT-2 vocabulary with the Llama 3 / Qwen2 pre-tokenizers
 *                              mean 0.80-0.82, p99 0.95
 *   Chinese  as before the word list (it changes only ASCII words):
 *            Llama 3           mean 0.76, p99 0.98, max 1.14
 *            Qwen2             mean 0.66, p99 0.85, max 0.89
 * (the real Llama 3 and Qwen2 vocabularies are not in shared/: the Chinese
 * rows come from their published tokenizer files, counted outside docq in an
 * earlier session; their English counts are below GPT-2's.)
 * Not conservative, by design (covering them would nearly double every other
 * count): Chinese with Llama-2 SPM (byte fallback: mean 1.20, p99 1.66) and
 * with GPT-2's vocabulary (mean 1.63, p99 2.0), and indented code with
 * GPT-2's vocabulary, which has no tokens for runs of spaces (max 1.7; the
 * Vue docs' p99 is 1.02 there). */
size_t dq_token_estimate(const char *s, size_t n);

#endif
