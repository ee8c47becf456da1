/* The store: one index folder holding an SQLite database (WAL) and a FAISS
 * vector file. SQLite is the source of truth (documents, chunks, FTS5,
 * vectors as f16 blobs, manifest); the FAISS file is a derived, rebuildable
 * cache tied to SQLite by a version number. See docs/design.md "Store".
 *
 * Files in the folder:
 *   docq.sqlite            database (WAL mode: docq.sqlite-wal, -shm)
 *   vectors-<V>.faiss      FAISS index holding every vector with seq <= V
 *   write.lock             flock()ed by the one writer
 *
 * Only store/vec.c includes FAISS headers; only the store/ sources include sqlite3.h.
 * Thread-safety: a dq_store is used by one thread at a time. */
#ifndef DQ_STORE_STORE_H
#define DQ_STORE_STORE_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "indexer/chunk.h"

#define DQ_STORE_FORMAT_VERSION 2

typedef struct dq_store dq_store;

enum { DQ_STORE_READONLY = 0x1, DQ_STORE_CREATE = 0x2 };

/* Settings fixed when the index is created. Vectors of different embedders
 * are never mixed: opening with other settings is DOCQ_EMISMATCH. */
typedef struct dq_manifest {
  unsigned format_version;
  char embedder[128];     /* embedder identity, e.g. "docq-hash-v3" */
  unsigned dim;           /* vector dimension */
  char vec_kind[64];      /* FAISS factory string in use, e.g. "IDMap2,Flat" */
  unsigned chunk_tokens, chunk_overlap; /* 0: not chosen yet (the first index run chooses) */
  char embed_model[PATH_MAX]; /* a GGUF embedder's model file (meta embed_model), "" for the built-in one;
                                 written with the embedder, in the same transaction */
} dq_manifest;

/* Open or create the index in folder `dir`. Creates the schema, registers
 * the "docq" FTS5 tokenizer on the connection, loads the FAISS file and
 * brings it up to date with SQLite (vectors committed after the file was
 * written are added from SQLite; a missing or corrupt file is rebuilt).
 * DOCQ_ENOTFOUND when absent and not CREATE; DOCQ_EVERSION for a newer format. */
int dq_store_open(dq_store **out, const char *dir, unsigned flags);
void dq_store_close(dq_store *s);

/* The manifest; a fresh index has format_version set and embedder[0] == 0. */
int dq_store_manifest(dq_store *s, dq_manifest *out);
/* Set the manifest of an index that has no vectors yet (DOCQ_EMISMATCH otherwise
 * if embedder/dim differ). */
int dq_store_set_manifest(dq_store *s, const dq_manifest *m);

/* Free-form settings kept in the manifest table (e.g. "answer_model", the
 * path of a GGUF answer model). get: DOCQ_OK with "" when absent. */
int dq_store_meta_get(dq_store *s, const char *key, char *out, size_t cap);
int dq_store_meta_set(dq_store *s, const char *key, const char *value);

/* Switch the index to another embedder: in one transaction, every stored
 * vector is replaced by embed()ding the stored chunk text (documents are not
 * reloaded) and the manifest gets m's embedder and dimension; then the FAISS
 * index is rebuilt and written (temp file + rename), so readers see the old
 * or the new vectors, never a mix. embed() fills out[n * m->dim]. */
typedef int (*dq_store_embed_fn)(void *ctx, const char *const *texts, const size_t *lens, size_t n, float *out);
int dq_store_reembed(dq_store *s, const dq_manifest *m, dq_store_embed_fn embed, void *ctx);

/* Become the one writer: flock(write.lock). Non-blocking: DOCQ_EBUSY with a
 * message naming the folder when another process holds it. Released by close. */
int dq_store_lock_writer(dq_store *s);

/* Transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK). Everything about one
 * document is written in one transaction. */
int dq_store_begin(dq_store *s);
int dq_store_commit(dq_store *s);
int dq_store_rollback(dq_store *s);

typedef struct dq_doc_row {
  int64_t id;
  char *path;        /* file path (absolute) or in-memory id */
  char *title;
  int format;        /* dq_format */
  char hash[65];     /* hex SHA-256 of the file bytes */
  int64_t mtime;     /* seconds; 0 for in-memory documents */
  uint64_t size;     /* bytes */
  char *tags;        /* comma-separated, "" if none */
  int64_t date;      /* front-matter date (epoch seconds) or mtime; 0 unknown */
  char *meta_json;   /* NULL or a JSON object */
  uint64_t n_chunks;
  int64_t mtime_ns;  /* written by put_doc only (not read back: dq_store_doc_mtime_ns) */
} dq_doc_row;

/* Change detection: (mtime, mtime_ns, size) equal means unchanged. mtime_ns
 * is the nanoseconds of the file's mtime, or one of these. */
#define DQ_MTIME_NS_UNKNOWN (-1) /* stored by a docq that kept seconds only: compare seconds */
#define DQ_MTIME_NS_RACY (-2)    /* modified too close to its reading (a later write in the same
                                    timestamp tick would look unchanged): never equal, re-hashed next run */

void dq_doc_row_clear(dq_doc_row *r); /* frees strings, zeroes */

int dq_store_doc_by_path(dq_store *s, const char *path, dq_doc_row *out); /* DOCQ_ENOTFOUND */
/* Any document with this content hash (for rename detection). */
int dq_store_doc_by_hash(dq_store *s, const char *hash, dq_doc_row *out);
int dq_store_doc_by_id(dq_store *s, int64_t id, dq_doc_row *out);

/* Insert a document with its chunks and vectors (n_chunks * dim floats,
 * L2-normalized), replacing any document with the same path. Must run inside
 * a transaction. Sets row->id. FTS5 rows and vector rows are written in the
 * same transaction; the in-memory FAISS index is updated on commit. */
int dq_store_put_doc(dq_store *s, dq_doc_row *row, const dq_chunk *chunks, size_t n_chunks,
                     const float *vecs);

/* Move a document to a new path (rename detected by hash): no re-embedding.
 * `to` gives path, title, mtime, mtime_ns and date (what the new name gives:
 * a title from the file name); a new title re-indexes the chunks' FTS head. */
int dq_store_rename_doc(dq_store *s, int64_t id, const dq_doc_row *to);
/* Update mtime and size only (content unchanged, touched file). */
int dq_store_touch_doc(dq_store *s, int64_t id, int64_t mtime, int64_t mtime_ns, uint64_t size);
/* The stored mtime_ns of a document (writers only: the column is added by
 * dq_store_lock_writer to older indexes). */
int dq_store_doc_mtime_ns(dq_store *s, int64_t id, int64_t *out);
/* Remove a document, its chunks, FTS rows and vectors. Inside a transaction. */
int dq_store_remove_doc(dq_store *s, int64_t id);

/* Iterate documents whose path starts with prefix (NULL: all), in path order.
 * The row is valid during the callback only; return 1 to stop, or a
 * negative DOCQ_E* code to stop with that error (dq_store_docs returns it). */
typedef int (*dq_doc_iter_cb)(void *ctx, const dq_doc_row *row);
int dq_store_docs(dq_store *s, const char *prefix, dq_doc_iter_cb cb, void *ctx);

typedef struct dq_store_stats {
  uint64_t documents, chunks, vectors, text_bytes, disk_bytes;
  int64_t last_run;
} dq_store_stats;
int dq_store_stats_get(dq_store *s, dq_store_stats *out);
int dq_store_set_last_run(dq_store *s, int64_t when);

/* Write the FAISS file if it is behind SQLite: to a temporary name, fsync,
 * rename to vectors-<V>.faiss, record V in SQLite, unlink the old file.
 * Rebuilds from SQLite when removals made the in-memory index stale, and
 * switches Flat -> HNSW above DQ_STORE_HNSW_THRESHOLD vectors (recorded in
 * the manifest's vec_kind). Called at the end of an index run. */
int dq_store_sync_vectors(dq_store *s);
#define DQ_STORE_HNSW_THRESHOLD 200000

/* ---- reading ---- */

typedef struct dq_scored { int64_t chunk_id; double score; } dq_scored;

/* BM25 column weights, as FTS5's bm25(chunks_fts, text, head): a term's
 * frequency in a chunk is text hits * W_TEXT + head hits * W_HEAD (the head
 * column is the document title and the chunk's heading path), then one BM25
 * saturation over the row's total length.
 *
 * W_HEAD measured with `docq eval retrieval SET` (default hybrid; the same
 * indexes, only the weight changed), nDCG@10, text weight 1:
 *   set          no head   0.5     1.0     2.0     FTS5 BM25 (shared/README)
 *   cacm         0.4393   0.4553  0.4565  0.4547   0.426
 *   cranfield    0.3600   0.3659  0.3675  0.3722   0.350
 *   medline      0.7012   0.7011  0.7011  0.7011   0.700  (untitled: head = doc id)
 *   scifact      0.7002   0.6988  0.6937  0.6918   0.687
 *   nq           0.8643   0.8737  0.8771  0.8812   0.867
 *   squad        0.8767   0.8764  0.8765  0.8765   0.877
 *   six-set mean 0.6570   0.6619  0.6621  0.6629   0.6512
 *   cmrc2018     0.9778   0.9807  0.9818  0.9833   (Chinese; must stay >= 0.93)
 *   --mode bm25, six-set mean: 0.6546, 0.6578, 0.6586, 0.6585
 * 2.0 has the best mean (+1.8% over FTS5, +0.9% before the head column) and
 * the larger sets with titles (nq, cranfield) gain with the weight, while
 * scifact's long paper titles lose a little (still above FTS5) and squad,
 * whose chunks share one article title, does not move. */
#define DQ_BM25_W_TEXT 1.0
#define DQ_BM25_W_HEAD 2.0

/* Set the column weights of this handle's BM25 (both paths below); each must
 * be finite and > 0 (a zero weight would make a matching row score nothing). */
int dq_store_set_bm25_weights(dq_store *s, double w_text, double w_head);

/* BM25 over FTS5: `query` is plain user text. It is tokenized with the docq
 * tokenizer and each term is quoted, OR-ed together: FTS5 syntax in it never
 * errors or changes meaning. Both columns are searched, weighted as above.
 * Results best first, score = -bm25 (higher is better). *n_out <= k. */
int dq_store_bm25(dq_store *s, const char *query, size_t k, dq_scored *out, size_t *n_out);
/* The same, leaving out the query terms (as dq_terms gives them) for which
 * drop() returns 1, unless that would leave none; drop NULL: all terms. */
int dq_store_bm25_ex(dq_store *s, const char *query, int (*drop)(const char *t, size_t n), size_t k,
                     dq_scored *out, size_t *n_out);

/* BM25 as dq_store_bm25 computes it, for re-scoring outside the store:
 * idf of a term in df of n_rows chunks (clamped to 1e-6 like FTS5's), and one
 * term's part of a chunk's score. */
double dq_bm25_idf(int64_t n_rows, int64_t df);
double dq_bm25_term(double idf, double tf, double dl, double avgdl);
/* The number of indexed chunks and their mean length in terms. */
int dq_store_bm25_stats(dq_store *s, int64_t *n_rows, double *avgdl);
/* The number of chunks containing `term` (a dq_terms term, n bytes); 0 if none.
 * Costs a walk over the term's postings. */
int dq_store_term_df(dq_store *s, const char *term, size_t n, int64_t *df);

/* The same ranking through FTS5 itself (MATCH with the quoted terms, ORDER BY
 * bm25(chunks_fts, w_text, w_head)): slower; the reference dq_store_bm25 is
 * tested against. */
int dq_store_bm25_fts(dq_store *s, const char *query, size_t k, dq_scored *out, size_t *n_out);

/* The documents that mention `query` (plain user text): those with a chunk
 * holding all its words, in the text or the heading (head column), a part in
 * double quotes as a phrase (store/fts_tok.c dq_fts_build_all_query). cb gets
 * each with the number of such chunks, most first, then by path (bytewise),
 * and their line ranges (lines[2 i], lines[2 i + 1]: first and last line of
 * chunk i, in file order; n_lines fewer than passages when chunks lack line
 * numbers); row and lines are valid during the callback only, which must not use the store
 * (the statement is still reading); return 1 to stop, or a negative DOCQ_E*
 * code to stop with it. One statement: one snapshot of the index.
 * DOCQ_EINVAL when the query has no words; DOCQ_ECANCELED when interrupted. */
typedef int (*dq_mention_cb)(void *ctx, const dq_doc_row *row, uint32_t passages, const uint32_t *lines,
                             size_t n_lines);
int dq_store_mentions(dq_store *s, const char *query, dq_mention_cb cb, void *ctx);

/* k nearest chunks by inner product to the L2-normalized vector q (dim floats),
 * best first. Chunks deleted since the FAISS file was written are filtered.
 * DOCQ_EMISMATCH when the index's vectors are not of dimension dim (now:
 * another process may have re-encoded the index since the query was embedded). */
int dq_store_knn(dq_store *s, const float *q, unsigned dim, size_t k, dq_scored *out, size_t *n_out);

typedef struct dq_chunk_row {
  int64_t id, doc_id;
  uint32_t ordinal;
  uint32_t line_first, line_last;
  size_t src_start, src_end;
  size_t overlap_len;
  uint32_t n_tokens;
  char *text;     /* as written */
  char *section;
} dq_chunk_row;
void dq_chunk_row_clear(dq_chunk_row *r);
int dq_store_chunk(dq_store *s, int64_t chunk_id, dq_chunk_row *out);     /* DOCQ_ENOTFOUND */
/* The chunk with ordinal `ordinal` of document doc_id (for span merging). */
int dq_store_chunk_at(dq_store *s, int64_t doc_id, uint32_t ordinal, dq_chunk_row *out);
/* The stored vector of a chunk into out (room for dim floats; DOCQ_EMISMATCH
 * when the index's dimension is another). */
int dq_store_chunk_vector(dq_store *s, int64_t chunk_id, unsigned dim, float *out);

/* Check the invariants (used by tests and `docq status --check`): every chunk
 * has one FTS row and one vector; no FTS row or vector without a chunk; FAISS
 * (after catch-up) holds exactly the chunk ids. DOCQ_ECORRUPT with a message
 * describing the first violation. */
int dq_store_check(dq_store *s);

/* Cancellation flag checked between batches of long operations (may be NULL). */
void dq_store_set_interrupt(dq_store *s, atomic_int *flag);

#endif
