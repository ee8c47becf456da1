/* Internals shared by the store's files (sql.c, fts_tok.c, vec.c); nothing
 * outside src/store/ includes this header.
 *
 * dq_vec hides FAISS behind plain C types so that FAISS's unprefixed enums
 * (OK, METRIC_L2, ...) stay inside vec.c. A dq_vec is always an ID-mapped
 * inner-product index whose ids are chunk ids. */
#ifndef DQ_STORE_STORE_INT_H
#define DQ_STORE_STORE_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

typedef struct dq_vec dq_vec;

/* Columns of chunks_fts: text, head (sql.c FTS_SCHEMA). */
#define DQ_FTS_COLUMNS 2

/* Prepared statements, prepared once on first use and kept in the store. */
enum {
  ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_META_GET, ST_META_SET, ST_VERSION_BUMP,
  ST_DOC_BY_PATH, ST_DOC_BY_HASH, ST_DOC_BY_ID, ST_DOC_ID_BY_PATH, ST_DOC_INSERT,
  ST_CHUNK_INSERT, ST_FTS_INSERT, ST_VEC_INSERT, ST_DOC_CHUNKS, ST_FTS_DELETE,
  ST_VEC_DELETE_DOC, ST_CHUNK_DELETE_DOC, ST_DOC_DELETE, ST_DOC_RENAME, ST_DOC_TOUCH,
  ST_BM25, ST_VEC_EXISTS, ST_CHUNK_GET, ST_CHUNK_AT, ST_CHUNK_VEC, ST_VEC_SINCE,
  ST_VEC_COUNT, ST_VEC_IDS, ST_TERM_DF, ST_CHUNK_COUNT, ST_DATA_VERSION, ST_FTS_MAX_ID,
  ST_FTS_DOCSIZE, ST_TERM_POSTINGS, ST_DOC_MTIME_NS, ST_DOC_TITLE, ST_DOC_CHUNK_IDS,
  ST_MENTIONS, ST_COUNT
};

/* A chunk removed by this process: its vector may sit in the FAISS index. */
typedef struct dq_removed { int64_t id, seq; } dq_removed;

/* bm25.c: chunk lengths and score accumulators, per store handle. */
typedef struct dq_bm25_cache dq_bm25_cache;
void dq_bm25_cache_free(dq_bm25_cache *c);
/* Register the FTS5 auxiliary function bm25.c reads postings with; an SQLite code. */
int dq_bm25_register(fts5_api *api);

struct dq_store {
  sqlite3 *db;
  char *dir, *db_path;
  unsigned flags;             /* DQ_STORE_* */
  int lock_fd;                /* write.lock, flock()ed; -1 unless writer */
  atomic_int *interrupt;    /* may be NULL */
  sqlite3_stmt *st[ST_COUNT];
  dq_manifest man;            /* as of man_data_version (dq_manifest_refresh) */
  int64_t man_data_version;   /* PRAGMA data_version when man was read */
  int man_loaded;
  dq_bm25_cache *bm;          /* NULL until the first dq_store_bm25 */
  double bm25_w[2];           /* column weights: text, head */

  /* Vectors. Invariant after dq_vsync_refresh: vec holds every vector of
   * SQLite with seq <= mem_seq, plus n_stale ids whose chunks are gone (only
   * an index that cannot remove ids has stale ones). */
  dq_vec *vec;                /* NULL when man.dim == 0 (or after a failed catch-up) */
  int64_t mem_seq;
  int64_t file_seq;           /* faiss_version: what the FAISS file on disk holds */
  size_t n_stale;
  int vec_dirty;              /* memory differs from the file by more than newer vectors */
  int vec_broken;             /* rebuild needed before use */
  int vec_pending;            /* the FAISS file is not loaded yet: the first dq_vsync_refresh loads it */
  int check_snapshot;         /* dq_store_check's read transaction is open: nothing of ours is
                               * uncommitted, so vsync may refresh inside it */
  dq_removed *rm_txn;  size_t n_rm_txn, cap_rm_txn;   /* removed in the open transaction */
  dq_removed *rm_done; size_t n_rm_done, cap_rm_done; /* committed, not yet applied */
};

/* sql.c helpers used by vsync.c */
sqlite3_stmt *dq_stmt(dq_store *s, int which);
int dq_sql_fail(dq_store *s, int src, const char *what);
void dq_stmt_done(sqlite3_stmt *st);
int dq_meta_get_i64(dq_store *s, const char *key, int64_t *out);
int dq_meta_get_text(dq_store *s, const char *key, char *out, size_t cap);
int dq_meta_set_i64(dq_store *s, const char *key, int64_t v);
int dq_meta_set_text(dq_store *s, const char *key, const char *v);
int dq_exec(dq_store *s, const char *sql);
int dq_store_writable(dq_store *s);
int dq_manifest_refresh(dq_store *s);     /* reread the manifest if another connection committed */
/* A stored vector of nb bytes where dim values were expected: DOCQ_EMISMATCH
 * "changed meanwhile" when the index's committed dimension is now nb / 2
 * (another process re-encoded it), else DOCQ_ECORRUPT. */
int dq_store_vec_size_error(dq_store *s, int64_t chunk_id, size_t nb, unsigned dim);
int dq_store_vec_dim_is(const dq_store *s, unsigned dim); /* 0, or DOCQ_EMISMATCH: the caller's vectors are of another dimension */
int dq_interrupted(const dq_store *s);

/* vsync.c: the store's vector cache */
int dq_vsync_open(dq_store *s);           /* on open: the file is loaded on first use */
int dq_vsync_refresh(dq_store *s);        /* load if pending, catch up with SQLite, apply removals */
int dq_vsync_reconcile(dq_store *s);      /* find ids whose chunks are gone */
int dq_vsync_reset(dq_store *s);          /* manifest changed: new empty index */
void dq_vsync_forget(dq_store *s);        /* another connection changed the manifest: load anew on next use */
int dq_vsync_check(dq_store *s);          /* FAISS ids == chunk ids (+ stale) */

/* ---- fts_tok.c ---- */

/* Register the "docq" FTS5 tokenizer (dq_terms) on connection db. */
int dq_fts_register(sqlite3 *db);

/* Decides whether a query term is used: 1 keep, 0 drop, < 0 error. */
typedef int (*dq_fts_keep_fn)(void *ctx, const char *term, size_t n);

/* Build the MATCH expression for plain user text: every dq_terms term of
 * `query` quoted ("..." with " doubled) and OR-ed; at most `max_terms`
 * terms (repeats kept: they weight bm25); `keep` (may be NULL) filters terms. *out is NULL when no
 * term is left. Free with dq_free. */
int dq_fts_build_query(const char *query, size_t n, size_t max_terms, dq_fts_keep_fn keep, void *keep_ctx, char **out);
/* Build the MATCH expression of "mentions" (every word of `query` in one
 * row): each dq_terms term quoted as above, AND-ed; the terms of a part in
 * double quotes (an unbalanced quote: to the end) joined by FTS5's "+" into
 * a phrase. No term is dropped or capped. *out is NULL when the query has
 * no words. Free with dq_free. */
int dq_fts_build_all_query(const char *query, size_t n, char **out);

/* ---- vec.c ---- */

/* A new empty index from a factory string ("IDMap2,Flat", "IDMap2,HNSW32"). */
int dq_vec_new(dq_vec **out, const char *kind, unsigned dim);
/* Load a FAISS file written by dq_vec_save with this size and checksum;
 * DOCQ_ECORRUPT when it does not match them, is not an IDMap2 index, not
 * inner product or of another dimension; DOCQ_ENOTFOUND when absent. */
int dq_vec_load(dq_vec **out, const char *path, unsigned dim, uint64_t size, uint64_t sum);
void dq_vec_free(dq_vec *v);

size_t dq_vec_count(const dq_vec *v);
/* 1 when ids can be removed (Flat); HNSW cannot. */
int dq_vec_can_remove(const dq_vec *v);
int dq_vec_add(dq_vec *v, size_t n, const float *x, const int64_t *ids);
/* Remove ids (absent ids are ignored); *n_removed may be NULL. */
int dq_vec_remove(dq_vec *v, const int64_t *ids, size_t n, size_t *n_removed);
/* Top k by inner product; *n_out hits (ids, scores), best first. */
int dq_vec_search(dq_vec *v, const float *q, size_t k, int64_t *ids, float *scores, size_t *n_out);
/* The ids held, borrowed (valid until the next change). */
int dq_vec_ids(dq_vec *v, const int64_t **ids, size_t *n);
/* Write to tmp_path, fsync, rename to path, fsync the folder `dir`.
 * *size and *sum get the file's size and checksum (for dq_vec_load). */
int dq_vec_save(dq_vec *v, const char *tmp_path, const char *path, const char *dir, uint64_t *size, uint64_t *sum);

/* ---- f16 (sql.c) ---- */

uint16_t dq_store_f32_to_f16(float f);
float dq_store_f16_to_f32(uint16_t h);

#endif
