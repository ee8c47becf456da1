/* Assembling the context for an answer: which retrieved passages go into the
 * prompt (packing under a token budget), in what order (edges-first by
 * default), how they are labelled for citation, and, without a model, the
 * extractive answer built from their best sentences.
 *
 * Invariants: a passage is packed whole or not at all (never cut); every
 * passage left out is counted (dq_packed.left_out, best_left_rank), none is
 * dropped silently; the prompt never exceeds the budget by the counter in
 * use (dq_token_estimate, or the model tokenizer through dq_count_fn) unless
 * the question alone does, in which case no passage is packed. */
#ifndef DQ_ASSEMBLE_ASSEMBLE_H
#define DQ_ASSEMBLE_ASSEMBLE_H

#include <stddef.h>
#include <stdint.h>

#include "docq.h"
#include "embed/embed.h"
#include "indexer/sentence.h"

enum { DQ_ORDER_EDGES = 0, DQ_ORDER_RELEVANCE = 1, DQ_ORDER_DOCUMENT = 2 };

/* A retrieved passage offered for packing; items are given best first. */
typedef struct dq_pack_item {
  const char *title, *path, *text;
  size_t text_len;
  uint32_t line_first, line_last;
  int markdown; /* text is Markdown: the answerer reads it as rendered */
} dq_pack_item;

/* ---- ordering ------------------------------------------------------------------ */

/* Edges-first (Liu et al. 2023, "Lost in the Middle", arXiv:2307.03172: models
 * use the start and the end of the context best): perm[pos] = 0-based rank of
 * the passage placed at prompt position pos. Best at the start, 2nd best at
 * the end, 3rd second, 4th second to last, ...; the weakest in the middle.
 * n = 5 -> ranks 1,3,5,4,2. */
void dq_order_edges(size_t n, size_t *perm);
/* Best first: perm[pos] = pos. */
void dq_order_relevance(size_t n, size_t *perm);
/* By path, then first line (reading order); ties by rank (ranks[i] of
 * items[i]). perm[pos] = index into items. */
int dq_order_document(const dq_pack_item *items, const size_t *ranks, size_t n, size_t *perm);

/* ---- packing ----------------------------------------------------------------------- */

/* Token counter hook: a model tokenizer; NULL = dq_token_estimate. */
typedef size_t (*dq_count_fn)(void *ctx, const char *s, size_t n);

typedef struct dq_pack_opts {
  unsigned budget;     /* tokens for the whole prompt; 0 = 2048 */
  int order;           /* DQ_ORDER_* */
  dq_count_fn count;
  void *count_ctx;
} dq_pack_opts;

typedef struct dq_packed {
  size_t n;            /* passages packed */
  size_t *item;        /* item[j]: index (rank - 1) of the passage labelled [j+1] (labels follow rank) */
  size_t *pos;         /* pos[j]: 0-based position in the prompt of the passage labelled [j+1] */
  unsigned *tokens;    /* tokens[j]: what passage [j+1] (header included) costs */
  size_t left_out;     /* passages offered but not packed */
  int best_left_rank;  /* 1-based rank of the best one left out; 0 if none */
  char *prompt;
  unsigned prompt_tokens;
} dq_packed;

/* Pack items (best first) for `question`: take passages in rank order while
 * they fit (a passage that does not fit is skipped and smaller later ones are
 * tried), label them [1..n] in rank order, place them in the prompt in the
 * requested order, each headed by "[n] title — path:first-last" ("[n]
 * path:first-last" when the passage's first line is the title); a Markdown
 * item's text goes in (and is counted) as rendered, dq_md_visible with short
 * URLs shown. The prompt states the question before the passages and repeats
 * it after them. */
int dq_pack(const char *question, const dq_pack_item *items, size_t n_items, const dq_pack_opts *o,
            dq_packed *out);
void dq_packed_free(dq_packed *p);

/* ---- extractive answers --------------------------------------------------------------- */

typedef struct dq_extract_opts {
  dq_embedder *embedder;   /* for the embedding signal; NULL = lexical only */
  size_t max_sentences;    /* 0 = 3 */
  double threshold;        /* minimum best score; < 0 = default (DQ_EXTRACT_THRESHOLD) */
} dq_extract_opts;

#define DQ_EXTRACT_THRESHOLD DOCQ_ANSWER_SCORE_FOUND /* 0.2, measured: see extract.c */

/* Build an answer from the sentences of passages[0..n) (passage j carries
 * citation label j+1) that best answer `question`: score = 0.65 * lexical
 * (IDF-weighted share of the question's content terms the sentence has, at
 * half weight those only in the passage's title or the heading above it;
 * IDF over the sentences given) + 0.35 * cosine of embeddings + a small bonus
 * for better-ranked passages, + 0.15 when the sentence holds the kind of
 * answer an English question asks for (dq_qtype). Up to max_sentences, best
 * first, each followed by " [n]"; in Markdown, a sentence that ends with a
 * colon right before a short closed fenced block (the example it
 * introduces) is followed by "\n\n" and that block as written, and the next
 * sentence by "\n\n" again. *found = 0 and *answer = "" when the best
 * score without that answer-type bonus is below the threshold. *cited (may
 * be NULL) gets n numbers: 0 for a passage not cited, else the order of its
 * first citation in the answer (1, 2, ...), from the " [n]" markers appended
 * here, never from brackets within the quoted text. *score (may be NULL)
 * gets that best score without the bonus (the evidence the gate looks at; 0
 * when no sentence shares a content term with the question). */
int dq_extract(const char *question, const dq_pack_item *passages, size_t n, const dq_extract_opts *o,
               char **answer, int *found, int *cited, double *score);
/* The same, and *quoted (may be NULL) gets n byte ranges [start, end) of
 * the passages' text: for a passage cited, from the first to the last byte
 * of what the answer quotes from it (the lines of its sentences that show
 * something as rendered: a Markdown line of markup only, an HTML comment or
 * a lone tag, or one of white space, is not quoted; a code example quoted
 * with a sentence is included); {0, 0} for a passage not cited. */
typedef struct dq_quote_range { size_t start, end; } dq_quote_range;
int dq_extract_ex(const char *question, const dq_pack_item *passages, size_t n, const dq_extract_opts *o,
                  char **answer, int *found, int *cited, double *score, dq_quote_range *quoted);

/* The passages a model's answer text[0..len) cites: the labels of its "[n]"
 * markers (as the prompt asks, 1 <= n <= n_passages) outside code spans and
 * fenced code blocks, in order of first citation, into labels (room for
 * n_passages). Returns how many, or DOCQ_ENOMEM. (cite.c) */
long dq_cite_scan(const char *text, size_t len, size_t n_passages, int *labels);

/* The visible text of Markdown s[0..n) into out (room for n bytes; the
 * result is never longer): link text without its target ("[text](url)",
 * "[text][ref]", "[[page|alias]]"); HTML tags, comments and ":::name"
 * container fences removed; autolinks without their angle brackets; code
 * spans and whatever does not parse as one of those copied as written.
 * With show_urls, a link to a short absolute address (http, https, mailto;
 * at most DQ_MD_SHOW_URL_MAX bytes) reads "text (address)", for display.
 * Returns the length written; *link_bytes (may be NULL) gets how many of
 * those bytes are link text. (visible.c) */
#define DQ_MD_SHOW_URL_MAX 100
/* The fenced code blocks of Markdown s[0..n) ("```" or "~~~" lines, up to
 * the closing fence's line, or to the end when unclosed): the first cap
 * byte ranges [start, end) into ranges; returns how many there are.
 * (visible.c) */
size_t dq_md_fences(const char *s, size_t n, size_t (*ranges)[2], size_t cap);
size_t dq_md_visible(const char *s, size_t n, char *out, size_t *link_bytes, int show_urls);
/* End of the Obsidian callout type opening s[i] ("[!note] ", "[!tip]- ": a
 * word of letters, digits, '-' or '_', the fold mark and the spaces after
 * it), or i when s[i] opens none. */
size_t dq_md_callout_end(const char *s, size_t n, size_t i);

/* A display excerpt of text[0..n) (valid UTF-8) for a query: from the
 * sentence holding the most of the query's distinct content terms (the
 * first sentence that is not a heading when none does; "... " before it when
 * text other than headings is skipped), read on with white space collapsed, as rendered when
 * `markdown` (dq_md_visible, short URLs shown); at most max bytes of text, cut on a character
 * boundary with " ..." added. *out: a new string (dq_free). (snippet.c) */
int dq_snippet(const char *text, size_t n, int markdown, const char *query, size_t max, char **out);

#define DQ_EXTRACT_STRONG 0.4     /* measured: see extract.c */
#define DQ_EXTRACT_STRONG_CJK 0.34 /* CJK questions score lower (bigram terms) */
/* 1 when an answer found with this score is a weak match: below
 * DQ_EXTRACT_STRONG, or DQ_EXTRACT_STRONG_CJK for a question with CJK
 * characters; or whatever the score when the question holds only function
 * words ("what is it?"). */
int dq_extract_weak(const char *question, double score);

#endif
