/* Retrieval: BM25 (FTS5) and kNN (FAISS) rankings fused into one, then turned
 * into passages: neighbouring chunks of a document merged into one span,
 * near-duplicate passages from different files collapsed into one hit that
 * keeps every source, and document filters applied.
 *
 * The pure parts (fusion, span merging, duplicate collapse, filters) work on
 * plain arrays so they can be tested without an index; dq_retrieve() runs the
 * whole thing over a dq_store.
 *
 * Invariants: outputs are ordered best first with deterministic tie-breaking
 * (lower chunk id first), so the same index and query always give the same
 * hits; every hit owns its strings (freed by dq_hits_free). */
#ifndef DQ_RETRIEVE_RETRIEVE_H
#define DQ_RETRIEVE_RETRIEVE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "embed/embed.h"
#include "store/store.h"

/* ---- fusion ---------------------------------------------------------------- */

/* One chunk found by either ranker. */
typedef struct dq_cand {
  int64_t chunk_id;
  double score;            /* fused (higher is better) */
  double bm25, vec;        /* raw scores: -bm25 (higher better), inner product */
  int bm25_rank, vec_rank; /* 1-based; 0 = not in that list */
  int vec_known;           /* vec holds a real score (in the list, or looked up) */
} dq_cand;

/* The union of the two ranked lists (each best first, no duplicate ids
 * within a list), in first-seen order. *out is dq_malloc'd. */
int dq_cands_union(const dq_scored *bm25, size_t nb, const dq_scored *vec, size_t nv,
                   dq_cand **out, size_t *n_out);

/* Weighted Reciprocal Rank Fusion (Cormack et al. 2009):
 *   score = w / (k + bm25_rank) + (1 - w) / (k + vec_rank)
 * with a term dropped when the chunk is absent from that list. Sorts best first. */
void dq_fuse_rrf(dq_cand *c, size_t n, double w_bm25, double k);

/* Convex combination of min-max normalized scores:
 *   score = w * norm(bm25) + (1 - w) * norm(vec)
 * Each signal is scaled to [0,1] over the values known for it; a chunk
 * missing from the BM25 list scores 0 there (it ranked below the list), and
 * one without a known vector score scores 0 there. Sorts best first. */
void dq_fuse_convex(dq_cand *c, size_t n, double w_bm25);
/* The same; bm25_all = 1 says the BM25 list holds every chunk matching a
 * query term, so BM25 scores are normalized from 0 instead of from the
 * list's minimum. */
void dq_fuse_convex_ex(dq_cand *c, size_t n, double w_bm25, int bm25_all);

/* Sort best first by score, ties by chunk id. */
void dq_cands_sort(dq_cand *c, size_t n);

/* ---- passages ------------------------------------------------------------------ */

/* Where a part of a passage's text lies in its file: text[off, off + len)
 * is a chunk's text as written (after the overlap it repeats), starting on
 * file line `line`; the file's lines are its '\n's, as the chunker counts
 * them. The white space joining two chunks belongs to no part. */
typedef struct dq_span_seg { size_t off, len; uint32_t line; } dq_span_seg;

/* A retrieved passage: one chunk or a span of neighbouring chunks. */
typedef struct dq_hit_rec {
  int64_t doc_id;
  int64_t chunk_first, chunk_last;
  uint32_t ord_first, ord_last;
  uint32_t line_first, line_last;
  char *path, *title, *section;
  int format;                    /* the document's dq_format */
  char *text; size_t text_len;   /* as written; overlap between merged chunks removed */
  char *also_in;                 /* '\n'-separated paths of collapsed duplicates, "" if none */
  double score, bm25, vec;       /* best member's scores */
  int bm25_rank, vec_rank;       /* best (smallest non-zero) over the members */
  int rank;                      /* 1-based position of the best member in the fused list */
  dq_span_seg *segs; size_t n_segs; /* the chunks' parts of text, in order; none when the text
                                     * is not the file's bytes (HTML: extracted text) */
} dq_hit_rec;

/* The file line of byte off of h->text: 0 with *line set when off lies in
 * one of its chunks' parts (dq_span_seg), -1 when it does not (joining
 * white space, past the end, a hit without parts). */
int dq_hit_line_at(const dq_hit_rec *h, size_t off, uint32_t *line);

void dq_hit_rec_clear(dq_hit_rec *h);
void dq_hits_free(dq_hit_rec *h, size_t n);

/* A chunk chosen for output, with what the span merge needs. */
typedef struct dq_picked {
  dq_chunk_row row;  /* owned: text and section */
  const dq_cand *cand;
  int rank;          /* 1-based position in the fused list */
} dq_picked;

/* Merge picked chunks (any order) into spans: chunks of one document with
 * consecutive ordinals become one hit whose text is the first chunk's text
 * followed by each next chunk's text minus its overlap_len leading bytes,
 * whose lines are the union, and whose scores are those of its best member.
 * With max_tokens, no span holds chunks whose stored token counts sum to
 * more (unless one chunk alone does): a longer run becomes several spans,
 * the first around its best-ranked chunk. 0 = no limit. Output ordered by
 * best member rank. path/title are left NULL for the caller. Reorders p (by
 * document and ordinal); the rows stay the caller's. */
int dq_spans_merge(dq_picked *p, size_t n, unsigned max_tokens, dq_hit_rec **out, size_t *n_out);

/* Shingle sets of spans already compared, for calls of dq_hits_dedupe on a
 * growing list of hits (search collapses again after picking more chunks):
 * a span (document, first and last chunk) is tokenized once. Zero-initialize;
 * dq_shingle_memo_free when done. */
typedef struct dq_shingle_memo {
  struct dq_shingle_ent *e;
  size_t n, cap;
} dq_shingle_memo;
void dq_shingle_memo_free(dq_shingle_memo *m);

/* Collapse near-duplicates: a hit whose text is identical to, or shares more
 * than `threshold` (Jaccard, over hashed 3-term shingles) with, a better hit
 * of another document is removed and its path appended to the better hit's
 * also_in. Order is kept; *n shrinks. memo may be NULL. */
int dq_hits_dedupe(dq_hit_rec *h, size_t *n, double threshold, dq_shingle_memo *memo);

/* Jaccard similarity of the 3-term shingle sets of two texts (terms from
 * dq_terms; texts of fewer than 3 terms use their term sets). */
double dq_shingle_jaccard(const char *a, size_t na, const char *b, size_t nb);

/* ---- filters --------------------------------------------------------------------- */

typedef struct dq_filter {
  const char *prefix;   /* path prefix, NULL = any */
  const char *prefix_dir; /* the prefix as a file or folder on disk (canonical):
                           * that path and paths under it match too; NULL = none */
  const char *glob;     /* fnmatch(3) pattern on the path, NULL = any */
  const char *tag;      /* front-matter tag (case-insensitive), NULL = any */
  int64_t after, before;/* date in [after, before); 0 = open */
} dq_filter;

int dq_filter_active(const dq_filter *f);
/* 1 when the document passes every filter. */
int dq_filter_match(const dq_filter *f, const dq_doc_row *d);

/* ---- the whole search -------------------------------------------------------------- */

enum { DQ_MODE_HYBRID = 0, DQ_MODE_BM25 = 1, DQ_MODE_VECTOR = 2 };
enum { DQ_FUSE_RRF = 1, DQ_FUSE_CONVEX = 2 };

/* Defaults chosen by measurement with `docq eval` (see retrieve/search.c). */
extern const int dq_default_fusion;
extern const double dq_default_w_rrf, dq_default_w_convex;
#define DQ_RRF_K 60.0

typedef struct dq_query_opts {
  size_t k;            /* passages wanted */
  int mode;            /* DQ_MODE_* */
  int fusion;          /* DQ_FUSE_*; 0 = default */
  double w_bm25;       /* < 0 = default for the fusion */
  int merge;           /* merge neighbouring chunks */
  unsigned max_span_tokens; /* with merge: a span's chunks hold at most this many tokens; 0 = no limit */
  int feedback;        /* pseudo-relevance feedback (retrieve/prf.c): 0 default, < 0 off */
  double dedupe;       /* Jaccard threshold; <= 0 disables (default 0.9) */
  dq_filter filter;
  atomic_int *interrupt; /* may be NULL */
} dq_query_opts;

/* Run a search: BM25 and/or kNN (query embedded with `e`), fuse, pick chunks
 * in fused order (filters applied), merge spans, collapse duplicates, return
 * up to k hits. DOCQ_ECANCELED when *interrupt becomes non-zero. */
int dq_retrieve(dq_store *s, dq_embedder *e, const char *query, const dq_query_opts *o,
                dq_hit_rec **out, size_t *n_out);

#endif
