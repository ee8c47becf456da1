/* The SQLite side of the store: schema, manifest, writer lock, transactions,
 * documents, chunks, BM25 search and the invariant check.
 *
 * Schema (format DQ_STORE_FORMAT_VERSION):
 *   meta(key, value)       manifest and bookkeeping (format_version, embedder,
 *                          dim, vec_kind, chunk_tokens, chunk_overlap,
 *                          vec_version, faiss_version, faiss_file, last_run)
 *   docs                   one row per document, path UNIQUE
 *   chunks                 text as written + source offsets; AUTOINCREMENT so
 *                          a chunk id is never reused (FAISS may still hold
 *                          the vector of a deleted id)
 *   chunks_src             view: chunk id, doc_id, text and heading context
 *                          (document title + heading path), see FTS_SCHEMA
 *   chunks_fts             FTS5 (text, head), external content = chunks_src,
 *                          tokenizer docq
 *   vecs(chunk_id, seq, v) f16 vectors; seq = vec_version of the transaction
 *                          that wrote them (catch-up key for FAISS)
 *
 * Invariants: every chunk has its FTS row and (when dim > 0) one vector; FTS
 * rows are deleted with the 'delete' command and the old text and head
 * before the chunk and document rows go; vec_version grows by one per document change, inside the
 * same transaction. Durability: WAL + synchronous=NORMAL, so a committed
 * transaction survives a killed process (not a power cut). */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "indexer/normalize.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

#define DQ_BM25_MAX_TERMS 64

/* Exact inner product over f32 vectors. SQfp16 halves the file, but Debian's
 * generic FAISS build scans fp16 codes with scalar code: 410 ms p50 at 163k
 * chunks against a BLAS-scored Flat scan (see vec.c); with 512-token chunks
 * the index still stays under 4x the text. */
#define DQ_DEFAULT_VEC_KIND "IDMap2,Flat"

/* The full-text index has two columns: the chunk text as written, and its
 * heading context ("head"): the document title and the chunk's heading path
 * (chunks.section), the title left out when the path already starts with it
 * (a Markdown H1 is usually both). Both come from chunks_src, a view over
 * chunks and docs, which is the FTS5 content table: inserts, 'rebuild' and
 * FTS5's integrity-check all read the same composition. A document's title
 * therefore only changes together with its chunks (dq_store_put_doc) or by
 * a rename, which re-indexes its chunks' FTS rows (dq_store_rename_doc). */
#define FTS_SCHEMA                                                                                              \
  "CREATE VIEW chunks_src AS SELECT c.id AS id, c.doc_id AS doc_id, c.text AS text,"                            \
  " CASE WHEN coalesce(d.title, '') = '' THEN coalesce(c.section, '')"                                          \
  "      WHEN coalesce(c.section, '') = '' THEN d.title"                                                        \
  "      WHEN c.section = d.title OR substr(c.section, 1, length(d.title) + 3) = d.title || ' > ' THEN c.section" \
  "      ELSE d.title || char(10) || c.section END AS head"                                                     \
  " FROM chunks c JOIN docs d ON d.id = c.doc_id;"                                                              \
  "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, head, content='chunks_src', content_rowid='id', tokenize='docq');"

static const char *const SCHEMA =
  "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
  "CREATE TABLE docs(id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE, title TEXT,"
  " format INTEGER NOT NULL DEFAULT 0, hash TEXT NOT NULL DEFAULT '', mtime INTEGER NOT NULL DEFAULT 0,"
  " size INTEGER NOT NULL DEFAULT 0, tags TEXT NOT NULL DEFAULT '', date INTEGER NOT NULL DEFAULT 0,"
  " meta_json TEXT, n_chunks INTEGER NOT NULL DEFAULT 0, mtime_ns INTEGER NOT NULL DEFAULT -1);"
  "CREATE INDEX docs_hash ON docs(hash);"
  "CREATE TABLE chunks(id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id INTEGER NOT NULL, ordinal INTEGER NOT NULL,"
  " line_first INTEGER, line_last INTEGER, src_start INTEGER, src_end INTEGER, overlap_len INTEGER,"
  " n_tokens INTEGER, section TEXT, text TEXT NOT NULL);"
  "CREATE UNIQUE INDEX chunks_doc ON chunks(doc_id, ordinal);"
  FTS_SCHEMA
  "CREATE TABLE vecs(chunk_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, v BLOB NOT NULL);"
  "CREATE INDEX vecs_seq ON vecs(seq);";

#define DOC_COLS "id, path, title, format, hash, mtime, size, tags, date, meta_json, n_chunks"
#define CHUNK_COLS "id, doc_id, ordinal, line_first, line_last, src_start, src_end, overlap_len, n_tokens, text, section"

static const char *const SQL[ST_COUNT] = {
  [ST_BEGIN] = "BEGIN IMMEDIATE",
  [ST_COMMIT] = "COMMIT",
  [ST_ROLLBACK] = "ROLLBACK",
  [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
  [ST_META_SET] = "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
  [ST_VERSION_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'vec_version' RETURNING value",
  [ST_DOC_BY_PATH] = "SELECT " DOC_COLS " FROM docs WHERE path = ?1",
  [ST_DOC_BY_HASH] = "SELECT " DOC_COLS " FROM docs WHERE hash = ?1 ORDER BY id LIMIT 1",
  [ST_DOC_BY_ID] = "SELECT " DOC_COLS " FROM docs WHERE id = ?1",
  [ST_DOC_ID_BY_PATH] = "SELECT id FROM docs WHERE path = ?1",
  [ST_DOC_INSERT] = "INSERT INTO docs(path, title, format, hash, mtime, size, tags, date, meta_json, n_chunks, mtime_ns)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
  [ST_CHUNK_INSERT] = "INSERT INTO chunks(doc_id, ordinal, line_first, line_last, src_start, src_end, overlap_len,"
                      " n_tokens, section, text) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
  [ST_FTS_INSERT] = "INSERT INTO chunks_fts(rowid, text, head) SELECT id, text, head FROM chunks_src WHERE id = ?1",
  [ST_VEC_INSERT] = "INSERT INTO vecs(chunk_id, seq, v) VALUES(?1, ?2, ?3)",
  [ST_DOC_CHUNKS] = "SELECT c.id, c.text, v.seq, c.head FROM chunks_src c LEFT JOIN vecs v ON v.chunk_id = c.id WHERE c.doc_id = ?1",
  [ST_FTS_DELETE] = "INSERT INTO chunks_fts(chunks_fts, rowid, text, head) VALUES('delete', ?1, ?2, ?3)",
  [ST_VEC_DELETE_DOC] = "DELETE FROM vecs WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id = ?1)",
  [ST_CHUNK_DELETE_DOC] = "DELETE FROM chunks WHERE doc_id = ?1",
  [ST_DOC_DELETE] = "DELETE FROM docs WHERE id = ?1",
  [ST_DOC_RENAME] = "UPDATE docs SET path = ?2, mtime = ?3, mtime_ns = ?4, title = ?5, date = ?6 WHERE id = ?1",
  [ST_DOC_TOUCH] = "UPDATE docs SET mtime = ?2, size = ?3, mtime_ns = ?4 WHERE id = ?1",
  [ST_DOC_MTIME_NS] = "SELECT mtime_ns FROM docs WHERE id = ?1",
  [ST_DOC_TITLE] = "SELECT title FROM docs WHERE id = ?1",
  [ST_DOC_CHUNK_IDS] = "SELECT id FROM chunks WHERE doc_id = ?1",
  /* FTS5 first (CROSS JOIN fixes the order): only the matching rows are
   * looked up, counted per document, then joined to their documents */
  [ST_MENTIONS] = "SELECT " DOC_COLS ", m.n, m.lines FROM (SELECT c.doc_id AS did, count(*) AS n,"
                  " group_concat(c.line_first || '-' || c.line_last, ',') AS lines FROM chunks_fts"
                  " CROSS JOIN chunks c ON c.id = chunks_fts.rowid WHERE chunks_fts MATCH ?1 GROUP BY c.doc_id) AS m"
                  " CROSS JOIN docs ON docs.id = m.did ORDER BY m.n DESC, docs.path",
  [ST_BM25] = "SELECT rowid, bm25(chunks_fts, ?3, ?4) AS score FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY score LIMIT ?2",
  [ST_VEC_EXISTS] = "SELECT 1 FROM vecs WHERE chunk_id = ?1",
  [ST_CHUNK_GET] = "SELECT " CHUNK_COLS " FROM chunks WHERE id = ?1",
  [ST_CHUNK_AT] = "SELECT " CHUNK_COLS " FROM chunks WHERE doc_id = ?1 AND ordinal = ?2",
  [ST_CHUNK_VEC] = "SELECT v FROM vecs WHERE chunk_id = ?1",
  [ST_VEC_SINCE] = "SELECT chunk_id, seq, v FROM vecs WHERE seq > ?1 ORDER BY seq",
  [ST_VEC_COUNT] = "SELECT count(*) FROM vecs",
  [ST_VEC_IDS] = "SELECT chunk_id FROM vecs ORDER BY chunk_id",
  [ST_TERM_DF] = "SELECT doc FROM temp.docq_vocab WHERE term = ?1",
  [ST_CHUNK_COUNT] = "SELECT count(*) FROM chunks",
  [ST_DATA_VERSION] = "PRAGMA data_version",
  [ST_FTS_MAX_ID] = "SELECT coalesce(max(id), 0) FROM chunks_fts_docsize",
  [ST_FTS_DOCSIZE] = "SELECT id, sz FROM chunks_fts_docsize",
  [ST_TERM_POSTINGS] = "SELECT docq_postings(chunks_fts, ?1) FROM chunks_fts WHERE chunks_fts MATCH ?2 LIMIT 1",
};

/* ---- small helpers ----------------------------------------------------------- */

static int map_sqlite(int rc)
{
  switch (rc & 0xff) {
  case SQLITE_NOMEM: return DOCQ_ENOMEM;
  case SQLITE_BUSY: case SQLITE_LOCKED: return DOCQ_EBUSY;
  case SQLITE_CORRUPT: case SQLITE_NOTADB: return DOCQ_ECORRUPT;
  case SQLITE_IOERR: case SQLITE_FULL: case SQLITE_CANTOPEN: case SQLITE_READONLY: return DOCQ_EIO;
  case SQLITE_INTERRUPT: return DOCQ_ECANCELED;
  default: return DOCQ_ERROR;
  }
}

/* A full disk shows as SQLITE_FULL on a write, or as an I/O error when it is
 * the shared-memory file that cannot grow; the OS error tells them apart. */
static int disk_full(dq_store *s, int src)
{
  return (src & 0xff) == SQLITE_FULL || ((src & 0xff) == SQLITE_IOERR && sqlite3_system_errno(s->db) == ENOSPC);
}

static int damaged(int src) { return (src & 0xff) == SQLITE_CORRUPT || (src & 0xff) == SQLITE_NOTADB; }

/* Copy SQLite's message now: the next call on the connection replaces it.
 * A full disk is said in words a user acts on, not as "database or disk is
 * full" or "disk I/O error". */
int dq_sql_fail(dq_store *s, int src, const char *what)
{
  if (disk_full(s, src))
    return dq_err_set(DOCQ_EIO, "no space left on the disk holding the index (%s; sqlite: %s)", s->db_path, what);
  /* A damaged file cannot be repaired from here, but the index is only a
   * copy of the documents: say so, and how to get it back. */
  if (damaged(src))
    return dq_err_set(DOCQ_ECORRUPT, "index %s is damaged (%s: %s); your documents are not affected: "
                      "delete the folder %s and run `docq index` again to rebuild it", s->dir, s->db_path,
                      sqlite3_errmsg(s->db), s->dir);
  return dq_err_set(map_sqlite(src), "sqlite: %s: %s (%s)", what, sqlite3_errmsg(s->db), s->db_path);
}

sqlite3_stmt *dq_stmt(dq_store *s, int which)
{
  if (!s->st[which] && sqlite3_prepare_v3(s->db, SQL[which], -1, SQLITE_PREPARE_PERSISTENT, &s->st[which], NULL) != SQLITE_OK) {
    dq_sql_fail(s, sqlite3_errcode(s->db), SQL[which]);
    s->st[which] = NULL;
  }
  return s->st[which];
}

void dq_stmt_done(sqlite3_stmt *st)
{
  if (!st) return;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

/* Run a statement that returns no rows (or whose rows are ignored). */
static int run(dq_store *s, sqlite3_stmt *st, const char *what)
{
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
  int out = rc == SQLITE_DONE ? 0 : dq_sql_fail(s, rc, what);
  dq_stmt_done(st);
  return out;
}

int dq_exec(dq_store *s, const char *sql)
{
  char *msg = NULL;
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
  int out = rc == SQLITE_OK ? 0 : dq_sql_fail(s, rc, sql);
  sqlite3_free(msg);
  return out;
}

int dq_interrupted(const dq_store *s) { return s->interrupt && *s->interrupt; }

static int in_txn(const dq_store *s) { return !sqlite3_get_autocommit(s->db); }

/* The cached statements (dq_stmt) of the connection. */
static void finalize_statements(dq_store *s)
{
  for (int i = 0; i < ST_COUNT; i++) {
    sqlite3_finalize(s->st[i]);
    s->st[i] = NULL;
  }
}

static char *path_join(const char *dir, const char *name)
{
  dq_buf b = { 0 };
  dq_buf_printf(&b, "%s/%s", dir, name);
  return b.oom ? (dq_buf_free(&b), NULL) : dq_buf_detach(&b);
}

/* ---- meta ------------------------------------------------------------------------ */

/* 1 found, 0 absent, < 0 error. The statement is left on the row for the caller. */
static int meta_find(dq_store *s, const char *key, sqlite3_stmt **out)
{
  sqlite3_stmt *st = dq_stmt(s, ST_META_GET);
  *out = st;
  if (!st) return dq_err_code();
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) return 1;
  int out_rc = rc == SQLITE_DONE ? 0 : dq_sql_fail(s, rc, "read meta");
  dq_stmt_done(st);
  return out_rc;
}

int dq_meta_get_i64(dq_store *s, const char *key, int64_t *out)
{
  sqlite3_stmt *st;
  *out = 0;
  int rc = meta_find(s, key, &st);
  if (rc <= 0) return rc;
  *out = sqlite3_column_int64(st, 0);
  dq_stmt_done(st);
  return 0;
}

int dq_meta_get_text(dq_store *s, const char *key, char *out, size_t cap)
{
  sqlite3_stmt *st;
  out[0] = 0;
  int rc = meta_find(s, key, &st);
  if (rc <= 0) return rc;
  const char *t = (const char *)sqlite3_column_text(st, 0);
  snprintf(out, cap, "%s", t ? t : "");
  dq_stmt_done(st);
  return 0;
}

int dq_meta_set_i64(dq_store *s, const char *key, int64_t v)
{
  sqlite3_stmt *st = dq_stmt(s, ST_META_SET);
  if (!st) return dq_err_code();
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, v);
  return run(s, st, "write meta");
}

int dq_meta_set_text(dq_store *s, const char *key, const char *v)
{
  sqlite3_stmt *st = dq_stmt(s, ST_META_SET);
  if (!st) return dq_err_code();
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
  return run(s, st, "write meta");
}

static int load_manifest(dq_store *s)
{
  int64_t v = 0;
  int rc;
  dq_manifest *m = &s->man;
  memset(m, 0, sizeof *m);
  m->format_version = DQ_STORE_FORMAT_VERSION;
  if ((rc = dq_meta_get_text(s, "embedder", m->embedder, sizeof m->embedder)) < 0) return rc;
  if ((rc = dq_meta_get_text(s, "vec_kind", m->vec_kind, sizeof m->vec_kind)) < 0) return rc;
  if ((rc = dq_meta_get_i64(s, "dim", &v)) < 0) return rc;
  if (v < 0 || v > 65536) return dq_err_set(DOCQ_ECORRUPT, "index %s: vector dimension %lld out of range", s->dir, (long long)v);
  m->dim = (unsigned)v;
  if ((rc = dq_meta_get_i64(s, "chunk_tokens", &v)) < 0) return rc;
  m->chunk_tokens = (unsigned)v;
  if ((rc = dq_meta_get_i64(s, "chunk_overlap", &v)) < 0) return rc;
  m->chunk_overlap = (unsigned)v;
  if ((rc = dq_meta_get_text(s, "embed_model", m->embed_model, sizeof m->embed_model)) < 0) return rc;
  if (!m->vec_kind[0]) snprintf(m->vec_kind, sizeof m->vec_kind, "%s", DQ_DEFAULT_VEC_KIND);
  return 0;
}

/* load_manifest, remembering the database's data_version it was read at. */
static int manifest_load_at_version(dq_store *s)
{
  sqlite3_stmt *st = dq_stmt(s, ST_DATA_VERSION);
  if (!st) return dq_err_code();
  int src = sqlite3_step(st);
  int64_t dv = sqlite3_column_int64(st, 0);
  dq_stmt_done(st);
  if (src != SQLITE_ROW) return dq_sql_fail(s, src, "read data_version");
  if (dv == s->man_data_version && s->man_loaded) return 0;
  dq_manifest old = s->man;
  int rc = load_manifest(s);
  if (rc < 0) { s->man = old; return rc; }
  s->man_data_version = dv; /* read first: a commit in between only makes us read again */
  s->man_loaded = 1;
  if (old.dim != s->man.dim || strcmp(old.embedder, s->man.embedder) != 0) dq_vsync_forget(s);
  return 0;
}

/* The manifest may have been changed by another connection since this one
 * read it: the first index run sets the embedder of a new index, a
 * --reembed another dimension. PRAGMA data_version changes only with other
 * connections' commits, so the common case costs one pragma. Inside this
 * connection's own write transaction s->man is what it wrote. */
int dq_manifest_refresh(dq_store *s)
{
  if (!sqlite3_get_autocommit(s->db) && !s->check_snapshot) return 0;
  return manifest_load_at_version(s);
}

/* ---- open / close --------------------------------------------------------------- */

/* Create the schema unless another process did it first. */
static int ensure_schema(dq_store *s)
{
  int rc = 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'meta'), (SELECT count(*) FROM sqlite_master)", -1, &st, NULL) != SQLITE_OK)
    return dq_sql_fail(s, sqlite3_errcode(s->db), "read schema");
  int step = sqlite3_step(st);
  int has_meta = step == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
  int n_objects = step == SQLITE_ROW ? sqlite3_column_int(st, 1) : 0;
  if (step != SQLITE_ROW) rc = dq_sql_fail(s, step, "read schema");
  sqlite3_finalize(st);
  if (rc || has_meta) return rc;
  if (n_objects > 0) return dq_err_set(DOCQ_ECORRUPT, "%s is an SQLite database but not a docq index", s->db_path);
  if (s->flags & DQ_STORE_READONLY) return dq_err_set(DOCQ_ENOTFOUND, "no docq index in %s (run `docq index` first)", s->dir);
  if ((rc = dq_exec(s, "BEGIN IMMEDIATE")) < 0) return rc;
  /* Re-check under the write lock: a concurrent opener may have won. */
  if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master WHERE name = 'meta'", -1, &st, NULL) != SQLITE_OK) {
    rc = dq_sql_fail(s, sqlite3_errcode(s->db), "read schema");
    goto done;
  }
  has_meta = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  if (!has_meta) {
    if ((rc = dq_exec(s, SCHEMA)) < 0) goto done;
    if ((rc = dq_meta_set_i64(s, "format_version", DQ_STORE_FORMAT_VERSION)) < 0) goto done;
    if ((rc = dq_meta_set_i64(s, "vec_version", 0)) < 0) goto done;
    if ((rc = dq_meta_set_i64(s, "faiss_version", 0)) < 0) goto done;
    if ((rc = dq_meta_set_text(s, "faiss_file", "")) < 0) goto done;
    if ((rc = dq_meta_set_i64(s, "last_run", 0)) < 0) goto done;
    if ((rc = dq_meta_set_text(s, "tokenizer", DQ_TERMS_VERSION)) < 0) goto done;
  }
  rc = dq_exec(s, "COMMIT");
done:
  if (rc) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* Format 1 indexed the chunk text alone (FTS5 column "text" over chunks).
 * Format 2 adds the heading column: a writer drops the old full-text table,
 * creates the view and the new table and re-tokenizes every chunk from what
 * is stored (FTS5 'rebuild'), in one transaction; docs, chunks and vectors
 * are not touched, so nothing is reloaded or re-embedded. The rebuild uses
 * the current segmentation, so the tokenizer version is brought up to date
 * with it. */
static int migrate_from_1(dq_store *s)
{
  int rc = dq_exec(s, "BEGIN IMMEDIATE");
  if (rc < 0) return rc;
  int64_t v = 0;
  if ((rc = dq_meta_get_i64(s, "format_version", &v)) < 0) goto done; /* a concurrent opener may have won */
  if (v == 1) {
    dq_log(DOCQ_LOG_INFO, "index %s: adding the heading column to the full-text index (format 1 -> %d)", s->dir,
           DQ_STORE_FORMAT_VERSION);
    if ((rc = dq_exec(s, "DROP TABLE chunks_fts;" FTS_SCHEMA)) < 0) goto done;
    if ((rc = dq_exec(s, "INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild')")) < 0) goto done;
    if ((rc = dq_meta_set_i64(s, "format_version", DQ_STORE_FORMAT_VERSION)) < 0) goto done;
    if ((rc = dq_meta_set_text(s, "tokenizer", DQ_TERMS_VERSION)) < 0) goto done;
  }
  rc = dq_exec(s, "COMMIT");
done:
  if (rc) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static int check_format(dq_store *s)
{
  int64_t v = 0;
  int rc = dq_meta_get_i64(s, "format_version", &v);
  if (rc < 0) return rc;
  if (v == DQ_STORE_FORMAT_VERSION) return 0;
  if (v > DQ_STORE_FORMAT_VERSION)
    return dq_err_set(DOCQ_EVERSION, "index %s has format %lld, made by a newer docq (this one reads format %d): "
                      "upgrade docq, or delete the folder and run `docq index` again", s->dir, (long long)v, DQ_STORE_FORMAT_VERSION);
  if (v == 1 && (s->flags & DQ_STORE_READONLY))
    return dq_err_set(DOCQ_EVERSION, "index %s has format 1 (this docq reads format %d): "
                      "run `docq index` on it once to update it", s->dir, DQ_STORE_FORMAT_VERSION);
  if (v == 1) return migrate_from_1(s);
  return dq_err_set(DOCQ_EVERSION, "index %s has old format %lld (this docq reads format %d): "
                    "delete the folder and run `docq index` again to re-create it", s->dir, (long long)v, DQ_STORE_FORMAT_VERSION);
}

/* The full-text index holds terms as dq_terms made them when each chunk was
 * written. When segmentation changes (DQ_TERMS_VERSION), the terms of old
 * chunks would no longer meet the terms of new queries, so a writer
 * re-tokenizes every chunk from chunks.text in one transaction (FTS5
 * 'rebuild'; nothing is reloaded from the documents); a reader cannot, and
 * says what to run. */
static int check_tokenizer(dq_store *s)
{
  char v[64] = "";
  int rc = dq_meta_get_text(s, "tokenizer", v, sizeof v);
  if (rc < 0) return rc;
  if (!strcmp(v, DQ_TERMS_VERSION)) return 0;
  if (s->flags & DQ_STORE_READONLY)
    return dq_err_set(DOCQ_EVERSION, "index %s was tokenized by an older docq (%s; this one uses %s): "
                      "run `docq index` on it once to update it", s->dir, *v ? v : "docq-terms-1", DQ_TERMS_VERSION);
  if ((rc = dq_exec(s, "BEGIN IMMEDIATE")) < 0) return rc;
  if ((rc = dq_meta_get_text(s, "tokenizer", v, sizeof v)) < 0) goto done; /* a concurrent opener may have won */
  if (strcmp(v, DQ_TERMS_VERSION) != 0) {
    dq_log(DOCQ_LOG_INFO, "index %s: re-tokenizing the stored chunks for %s", s->dir, DQ_TERMS_VERSION);
    if ((rc = dq_exec(s, "INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild')")) < 0) goto done;
    if ((rc = dq_meta_set_text(s, "tokenizer", DQ_TERMS_VERSION)) < 0) goto done;
  }
  rc = dq_exec(s, "COMMIT");
done:
  if (rc) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static int open_dir(const char *dir, unsigned flags)
{
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return dq_err_set(DOCQ_EINVAL, "index %s is not a folder", dir);
    return 0;
  }
  if (errno != ENOENT) return dq_err_set(DOCQ_EIO, "cannot access index %s: %s", dir, strerror(errno));
  if (!(flags & DQ_STORE_CREATE) || (flags & DQ_STORE_READONLY))
    return dq_err_set(DOCQ_ENOTFOUND, "no docq index at %s (folder does not exist)", dir);
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) return dq_err_set(DOCQ_EIO, "cannot create index folder %s: %s", dir, strerror(errno));
  return 0;
}

/* "file:" URI of an index on a read-only medium (a CD, a read-only mount, a
 * folder we may not write): immutable=1 tells SQLite nobody changes it, so a
 * reader needs neither locks nor the -shm file WAL mode would create next to
 * it. Bytes outside the URI's unreserved set are percent-encoded. */
static char *immutable_uri(const char *path)
{
  dq_buf b = {0};
  dq_buf_puts(&b, "file:");
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("/-._~", *p))
      dq_buf_putc(&b, (char)*p);
    else
      dq_buf_printf(&b, "%%%02X", *p);
  }
  dq_buf_puts(&b, "?immutable=1");
  if (b.oom) { dq_buf_free(&b); return NULL; }
  return dq_buf_detach(&b);
}

/* A left-over WAL (a writer that did not close) holds commits an immutable
 * open would not see: then the normal read-only open is tried, and its error. */
static int wal_left_over(const char *dir)
{
  struct stat st;
  char *wal = path_join(dir, "docq.sqlite-wal");
  int left = wal && stat(wal, &st) == 0 && st.st_size > 0;
  dq_free(wal);
  return left;
}

/* Can this process create files in dir (the -wal / -shm files of WAL mode)? */
static int dir_writable(const char *dir) { return access(dir, W_OK) == 0; }

/* A new index file shows under its name with its schema already in it, so a
 * reader that finds docq.sqlite (a search started while the first `docq
 * index` begins) never finds it empty: the file is made under a name of this
 * process and hard-linked into place, which fails if another creator was
 * first (its file is then used). Where the file system has no hard links the
 * file is made in place, as before: a reader may then briefly see it empty. */
static void remove_db_files(const char *dir, const char *name)
{
  static const char *const suffix[] = { "", "-wal", "-shm" };
  for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
    char n[96];
    snprintf(n, sizeof n, "%s%s", name, suffix[i]);
    char *p = path_join(dir, n);
    if (p) unlink(p);
    dq_free(p);
  }
}

static int create_db_file(dq_store *s)
{
  char name[64];
  snprintf(name, sizeof name, "docq.sqlite.new-%ld", (long)getpid());
  char *tmp = path_join(s->dir, name);
  if (!tmp) return DOCQ_ENOMEM;
  /* Left by a crashed process that had this pid: a stale -wal next to the
   * new file would be read into it. */
  remove_db_files(s->dir, name);
  int rc = 0;
  int src = sqlite3_open_v2(tmp, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (src != SQLITE_OK) rc = s->db ? dq_sql_fail(s, src, "create") : dq_err_set(DOCQ_ENOMEM, "sqlite: cannot create %s", tmp);
  if (!rc) sqlite3_extended_result_codes(s->db, 1);
  if (!rc) rc = dq_fts_register(s->db);
  if (!rc) rc = dq_exec(s, "PRAGMA journal_mode=WAL");
  if (!rc) rc = ensure_schema(s);
  /* The meta setters cached statements on this connection. Closing the
   * last connection checkpoints the WAL into the file and removes it: the
   * linked file holds the whole schema. */
  finalize_statements(s);
  if (sqlite3_close(s->db) != SQLITE_OK && !rc) rc = dq_err_set(DOCQ_EIO, "cannot close new index file %s", tmp);
  s->db = NULL;
  if (!rc && link(tmp, s->db_path) != 0 && errno != EEXIST) {
    if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == EMLINK || errno == ENOSYS)
      dq_log(DOCQ_LOG_DEBUG, "index %s: no hard links here (%s), creating docq.sqlite in place", s->dir, strerror(errno));
    else if (errno == ENOSPC || errno == EDQUOT)
      rc = dq_err_set(DOCQ_EIO, "no space left on the disk holding the index (%s)", s->db_path);
    else
      rc = dq_err_set(DOCQ_EIO, "cannot create index %s: %s", s->db_path, strerror(errno));
  }
  remove_db_files(s->dir, name); /* its -wal and -shm remain only if the close failed */
  dq_free(tmp);
  return rc;
}

int dq_store_open(dq_store **out, const char *dir, unsigned flags)
{
  DQ_ASSERT_ARG(out && dir && *dir);
  *out = NULL;
  int rc = open_dir(dir, flags);
  if (rc) return rc;
  dq_store *s = dq_calloc(1, sizeof *s);
  if (!s) return DOCQ_ENOMEM;
  s->lock_fd = -1;
  s->flags = flags;
  s->bm25_w[0] = DQ_BM25_W_TEXT;
  s->bm25_w[1] = DQ_BM25_W_HEAD;
  s->dir = dq_strdup(dir);
  s->db_path = path_join(dir, "docq.sqlite");
  if (!s->dir || !s->db_path) { rc = DOCQ_ENOMEM; goto done; }

  struct stat sb;
  const int exists = stat(s->db_path, &sb) == 0;
  if (!exists && !(flags & DQ_STORE_CREATE)) {
    rc = dq_err_set(DOCQ_ENOTFOUND, "no docq index in %s (run `docq index` first)", dir);
    goto done;
  }
  const int writable = dir_writable(dir);
  if (!(flags & DQ_STORE_READONLY) && !writable) {
    rc = dq_err_set(DOCQ_EIO, "index %s cannot be written (%s): indexing needs to write there; search and ask can "
                              "still read it", dir, strerror(errno));
    goto done;
  }
  if (!exists && !(flags & DQ_STORE_READONLY) && (rc = create_db_file(s)) < 0) goto done;
  int oflags = SQLITE_OPEN_NOMUTEX | ((flags & DQ_STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  char *uri = NULL;
  if ((flags & DQ_STORE_READONLY) && !writable && !wal_left_over(dir)) {
    if (!(uri = immutable_uri(s->db_path))) { rc = DOCQ_ENOMEM; goto done; }
    oflags |= SQLITE_OPEN_URI;
  }
  int src = sqlite3_open_v2(uri ? uri : s->db_path, &s->db, oflags, NULL);
  dq_free(uri);
  if (src != SQLITE_OK) {
    rc = s->db ? dq_sql_fail(s, src, "open") : dq_err_set(DOCQ_ENOMEM, "sqlite: cannot open %s", s->db_path);
    goto done;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, 10000);
  if ((rc = dq_fts_register(s->db)) < 0) goto done;
  if (!(flags & DQ_STORE_READONLY) && (rc = dq_exec(s, "PRAGMA journal_mode=WAL")) < 0) goto done;
  /* WAL + NORMAL: a commit is in the WAL (OS page cache) before COMMIT
   * returns, so killing the process never loses it; only power loss can. */
  if ((rc = dq_exec(s, "PRAGMA synchronous=NORMAL")) < 0) goto done;
  /* FTS5 merges segments on every commit (one per document): a page cache
   * larger than the default 2 MiB keeps them in memory. */
  if ((rc = dq_exec(s, "PRAGMA cache_size=-65536")) < 0) goto done;
  if ((rc = ensure_schema(s)) < 0) goto done;
  if ((rc = check_format(s)) < 0) goto done;
  if ((rc = check_tokenizer(s)) < 0) goto done;
  if ((rc = manifest_load_at_version(s)) < 0) goto done;
  /* Term document frequencies for dq_store_bm25 (temp: fine when read-only). */
  if ((rc = dq_exec(s, "CREATE VIRTUAL TABLE temp.docq_vocab USING fts5vocab(main, chunks_fts, row)")) < 0) goto done;
  rc = dq_vsync_open(s);
done:
  if (rc) dq_store_close(s);
  else *out = s;
  return rc;
}

void dq_store_close(dq_store *s)
{
  if (!s) return;
  finalize_statements(s);
  dq_bm25_cache_free(s->bm);
  if (s->db) {
    if (in_txn(s)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close_v2(s->db);
  }
  if (s->lock_fd >= 0) {
    /* Clear the pid first so a stale file never names a live process. */
    if (ftruncate(s->lock_fd, 0) != 0) {}
    close(s->lock_fd);
  }
  dq_vec_free(s->vec);
  dq_free(s->rm_txn);
  dq_free(s->rm_done);
  dq_free(s->dir);
  dq_free(s->db_path);
  dq_free(s);
}

void dq_store_set_interrupt(dq_store *s, atomic_int *flag)
{
  if (s) s->interrupt = flag;
}

/* ---- writer lock / transactions ----------------------------------------------------- */

/* What a creator that died left of its temporary file (create_db_file),
 * cleared by the next writer. A second name of docq.sqlite itself (a crash
 * between the link and the unlink) is always safe to drop. Anything else
 * goes only when its pid is gone and it is over a minute old: a creator in
 * another pid namespace may look dead from here, but creating takes
 * milliseconds. */
static void remove_stale_new_files(const dq_store *s)
{
  static const char prefix[] = "docq.sqlite.new-";
  DIR *d = opendir(s->dir);
  if (!d) return;
  struct stat db;
  const int have_db = stat(s->db_path, &db) == 0;
  const struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0) continue;
    char *end = NULL;
    const long pid = strtol(e->d_name + sizeof prefix - 1, &end, 10);
    if (end == e->d_name + sizeof prefix - 1 || pid <= 0) continue;
    if (*end && strcmp(end, "-wal") != 0 && strcmp(end, "-shm") != 0) continue;
    char *p = path_join(s->dir, e->d_name);
    struct stat st;
    if (p && lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
      const int second_name = have_db && st.st_dev == db.st_dev && st.st_ino == db.st_ino;
      const int dead = pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
      if (second_name || (dead && time(NULL) - st.st_mtime > 60)) {
        if (unlink(p) == 0) dq_log(DOCQ_LOG_DEBUG, "index %s: removed %s, left by a creator that stopped", s->dir, e->d_name);
      }
    }
    dq_free(p);
  }
  closedir(d);
}

/* Indexes written before docq kept nanoseconds have no docs.mtime_ns: a
 * writer adds it (a schema change only, no rewrite), its rows -1
 * (DQ_MTIME_NS_UNKNOWN: compared by seconds, as before). Readers never read
 * it, so older docq versions and read-only openers are unaffected. */
static int add_mtime_ns_column(dq_store *s)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM pragma_table_info('docs') WHERE name = 'mtime_ns'", -1, &st, NULL) != SQLITE_OK)
    return dq_sql_fail(s, sqlite3_errcode(s->db), "read schema");
  int src = sqlite3_step(st), has = src == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
  int rc = src == SQLITE_ROW ? 0 : dq_sql_fail(s, src, "read schema");
  sqlite3_finalize(st);
  if (rc || has) return rc;
  return dq_exec(s, "ALTER TABLE docs ADD COLUMN mtime_ns INTEGER NOT NULL DEFAULT -1");
}

int dq_store_lock_writer(dq_store *s)
{
  DQ_ASSERT_ARG(s);
  if (s->flags & DQ_STORE_READONLY) return dq_err_set(DOCQ_EINVAL, "index %s was opened read-only", s->dir);
  if (s->lock_fd >= 0) return 0;
  char *path = path_join(s->dir, "write.lock");
  if (!path) return DOCQ_ENOMEM;
  int rc = 0;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) {
    rc = dq_err_set(DOCQ_EIO, "cannot open %s: %s", path, strerror(errno));
    goto done;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      char buf[32] = { 0 };
      ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
      long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
      /* A writer keeps the lock from its first write until it closes the
       * index, so it may be idle: "held", not "being written". */
      if (pid == (long)getpid())
        rc = dq_err_set(DOCQ_EBUSY, "index %s is held for writing by another handle in this process (pid %ld), "
                        "which keeps the lock until it is freed (docq_db_free): write through that handle, or free it first",
                        s->dir, pid);
      else if (pid > 0) rc = dq_err_set(DOCQ_EBUSY, "index %s is held for writing by another docq process (pid %ld)", s->dir, pid);
      else rc = dq_err_set(DOCQ_EBUSY, "index %s is held for writing by another docq process", s->dir);
    } else {
      rc = dq_err_set(DOCQ_EIO, "cannot lock %s: %s", path, strerror(errno));
    }
    close(fd);
    goto done;
  }
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {} /* the pid is a courtesy */
  s->lock_fd = fd;
  remove_stale_new_files(s);
  if ((rc = add_mtime_ns_column(s)) < 0) goto done;
  /* Another writer may have changed the index since we opened it. */
  if ((rc = dq_vsync_refresh(s)) < 0) goto done;
  rc = dq_vsync_reconcile(s);
done:
  dq_free(path);
  return rc;
}

/* Every write needs the writer lock: the FAISS file must have one owner. */
int dq_store_writable(dq_store *s)
{
  if (s->flags & DQ_STORE_READONLY) return dq_err_set(DOCQ_EINVAL, "index %s was opened read-only", s->dir);
  return s->lock_fd >= 0 ? 0 : dq_store_lock_writer(s);
}

int dq_store_begin(dq_store *s)
{
  DQ_ASSERT_ARG(s);
  int rc = dq_store_writable(s);
  if (rc) return rc;
  if (in_txn(s)) return dq_err_set(DOCQ_EINVAL, "index %s: a transaction is already open", s->dir);
  sqlite3_stmt *st = dq_stmt(s, ST_BEGIN);
  if (!st) return dq_err_code();
  s->n_rm_txn = 0;
  return run(s, st, "begin");
}

static int rm_append(dq_removed **a, size_t *n, size_t *cap, const dq_removed *src, size_t k)
{
  if (k == 0) return 0;
  if (*n + k > *cap) {
    size_t nc = *cap ? *cap : 64;
    while (nc < *n + k) nc *= 2;
    dq_removed *p = dq_realloc(*a, nc * sizeof *p);
    if (!p) return DOCQ_ENOMEM;
    *a = p;
    *cap = nc;
  }
  memcpy(*a + *n, src, k * sizeof *src);
  *n += k;
  return 0;
}

int dq_store_commit(dq_store *s)
{
  DQ_ASSERT_ARG(s);
  if (!in_txn(s)) return dq_err_set(DOCQ_EINVAL, "index %s: commit without a transaction", s->dir);
  sqlite3_stmt *st = dq_stmt(s, ST_COMMIT);
  if (!st) return dq_err_code();
  int rc = run(s, st, "commit");
  if (rc) {
    if (in_txn(s)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->n_rm_txn = 0;
    return rc;
  }
  /* The FAISS index learns about removals lazily (dq_vsync_refresh). */
  rc = rm_append(&s->rm_done, &s->n_rm_done, &s->cap_rm_done, s->rm_txn, s->n_rm_txn);
  if (rc) s->vec_broken = 1; /* cannot track them: rebuild on next use */
  s->n_rm_txn = 0;
  return 0;
}

int dq_store_rollback(dq_store *s)
{
  DQ_ASSERT_ARG(s);
  s->n_rm_txn = 0;
  if (!in_txn(s)) return 0;
  sqlite3_stmt *st = dq_stmt(s, ST_ROLLBACK);
  if (!st) return dq_err_code();
  return run(s, st, "rollback");
}

/* ---- manifest ---------------------------------------------------------------------------- */

int dq_store_manifest(dq_store *s, dq_manifest *out)
{
  DQ_ASSERT_ARG(s && out);
  int rc = dq_manifest_refresh(s);
  if (rc < 0) return rc;
  *out = s->man;
  return 0;
}

static int write_manifest(dq_store *s, const dq_manifest *m)
{
  int rc;
  if ((rc = dq_meta_set_text(s, "embedder", m->embedder)) < 0) return rc;
  if ((rc = dq_meta_set_i64(s, "dim", m->dim)) < 0) return rc;
  if ((rc = dq_meta_set_text(s, "vec_kind", m->vec_kind)) < 0) return rc;
  if ((rc = dq_meta_set_i64(s, "chunk_tokens", m->chunk_tokens)) < 0) return rc;
  if ((rc = dq_meta_set_i64(s, "chunk_overlap", m->chunk_overlap)) < 0) return rc;
  return dq_meta_set_text(s, "embed_model", m->embed_model);
}

static int count_vecs(dq_store *s, int64_t *n)
{
  sqlite3_stmt *st = dq_stmt(s, ST_VEC_COUNT);
  if (!st) return dq_err_code();
  int rc = sqlite3_step(st);
  *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  int out = rc == SQLITE_ROW ? 0 : dq_sql_fail(s, rc, "count vectors");
  dq_stmt_done(st);
  return out;
}

int dq_store_set_manifest(dq_store *s, const dq_manifest *m)
{
  DQ_ASSERT_ARG(s && m);
  DQ_ASSERT_ARG(memchr(m->embedder, 0, sizeof m->embedder) && memchr(m->vec_kind, 0, sizeof m->vec_kind));
  DQ_ASSERT_ARG(m->dim <= 65536);
  int rc = dq_store_writable(s);
  if (rc) return rc;
  dq_manifest nm = *m;
  nm.format_version = DQ_STORE_FORMAT_VERSION;
  if (!nm.vec_kind[0]) snprintf(nm.vec_kind, sizeof nm.vec_kind, "%s", DQ_DEFAULT_VEC_KIND);
  int same_vectors = nm.dim == s->man.dim && strcmp(nm.embedder, s->man.embedder) == 0;
  int own_txn = !in_txn(s);
  if (own_txn && (rc = dq_store_begin(s)) < 0) return rc;
  if (!same_vectors) {
    int64_t n = 0;
    if ((rc = count_vecs(s, &n)) < 0) goto done;
    if (n > 0) {
      rc = dq_err_set(DOCQ_EMISMATCH, "index %s was built with embedder '%s' (dimension %u), not '%s' (dimension %u): "
                      "use the same embedder, or delete the folder and index again", s->dir, s->man.embedder,
                      s->man.dim, nm.embedder, nm.dim);
      goto done;
    }
  } else {
    /* The vector index kind is the store's business once vectors exist. */
    snprintf(nm.vec_kind, sizeof nm.vec_kind, "%s", s->man.vec_kind);
  }
  if ((rc = write_manifest(s, &nm)) < 0) goto done;
  if (own_txn && (rc = dq_store_commit(s)) < 0) goto done;
  own_txn = 0;
  if (!same_vectors || strcmp(nm.vec_kind, s->man.vec_kind) != 0) {
    s->man = nm;
    rc = dq_vsync_reset(s);
  } else {
    s->man = nm;
  }
done:
  if (rc && own_txn) dq_store_rollback(s);
  if (rc && !own_txn && !in_txn(s)) load_manifest(s);
  return rc;
}

/* ---- documents ------------------------------------------------------------------------------ */

void dq_doc_row_clear(dq_doc_row *r)
{
  if (!r) return;
  dq_free(r->path);
  dq_free(r->title);
  dq_free(r->tags);
  dq_free(r->meta_json);
  memset(r, 0, sizeof *r);
}

/* Fill r from a DOC_COLS row; `copy` duplicates strings, else they are borrowed. */
static int doc_from_row(sqlite3_stmt *st, dq_doc_row *r, int copy)
{
  memset(r, 0, sizeof *r);
  r->id = sqlite3_column_int64(st, 0);
  const char *path = (const char *)sqlite3_column_text(st, 1);
  const char *title = (const char *)sqlite3_column_text(st, 2);
  r->format = sqlite3_column_int(st, 3);
  const char *hash = (const char *)sqlite3_column_text(st, 4);
  snprintf(r->hash, sizeof r->hash, "%s", hash ? hash : "");
  r->mtime = sqlite3_column_int64(st, 5);
  r->size = (uint64_t)sqlite3_column_int64(st, 6);
  const char *tags = (const char *)sqlite3_column_text(st, 7);
  r->date = sqlite3_column_int64(st, 8);
  const char *meta = (const char *)sqlite3_column_text(st, 9);
  r->n_chunks = (uint64_t)sqlite3_column_int64(st, 10);
  if (!copy) {
    r->path = (char *)(path ? path : "");
    r->title = (char *)title;
    r->tags = (char *)(tags ? tags : "");
    r->meta_json = (char *)meta;
    return 0;
  }
  r->path = dq_strdup(path ? path : "");
  r->title = title ? dq_strdup(title) : NULL;
  r->tags = dq_strdup(tags ? tags : "");
  r->meta_json = meta ? dq_strdup(meta) : NULL;
  if (!r->path || !r->tags || (title && !r->title) || (meta && !r->meta_json)) {
    dq_doc_row_clear(r);
    return DOCQ_ENOMEM;
  }
  return 0;
}

static int doc_get(dq_store *s, int which, const char *text, int64_t id, dq_doc_row *out, const char *what)
{
  DQ_ASSERT_ARG(s && out);
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = dq_stmt(s, which);
  if (!st) return dq_err_code();
  if (text) sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
  else sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st), out_rc;
  if (rc == SQLITE_ROW) out_rc = doc_from_row(st, out, 1);
  else if (rc == SQLITE_DONE && text) out_rc = dq_err_set(DOCQ_ENOTFOUND, "no document with %s %s in %s", what, text, s->dir);
  else if (rc == SQLITE_DONE) out_rc = dq_err_set(DOCQ_ENOTFOUND, "no document with id %lld in %s", (long long)id, s->dir);
  else out_rc = dq_sql_fail(s, rc, "read document");
  dq_stmt_done(st);
  return out_rc;
}

int dq_store_doc_by_path(dq_store *s, const char *path, dq_doc_row *out)
{
  DQ_ASSERT_ARG(path);
  return doc_get(s, ST_DOC_BY_PATH, path, 0, out, "path");
}

int dq_store_doc_by_hash(dq_store *s, const char *hash, dq_doc_row *out)
{
  DQ_ASSERT_ARG(hash);
  return doc_get(s, ST_DOC_BY_HASH, hash, 0, out, "hash");
}

int dq_store_doc_by_id(dq_store *s, int64_t id, dq_doc_row *out) { return doc_get(s, ST_DOC_BY_ID, NULL, id, out, "id"); }

/* Bump vec_version inside the open transaction; *seq gets the new value. */
static int bump_version(dq_store *s, int64_t *seq)
{
  sqlite3_stmt *st = dq_stmt(s, ST_VERSION_BUMP);
  if (!st) return dq_err_code();
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *seq = sqlite3_column_int64(st, 0);
    rc = sqlite3_step(st);
  } else if (rc == SQLITE_DONE) {
    dq_stmt_done(st);
    return dq_err_set(DOCQ_ECORRUPT, "index %s: meta has no vec_version", s->dir);
  }
  int out = rc == SQLITE_DONE ? 0 : dq_sql_fail(s, rc, "bump vec_version");
  dq_stmt_done(st);
  return out;
}

static int need_txn(dq_store *s, const char *what)
{
  if (!in_txn(s)) return dq_err_set(DOCQ_EINVAL, "%s: no transaction is open on %s", what, s->dir);
  return 0;
}

/* Delete a document's FTS rows (with the old text, as external content
 * requires), vectors, chunks and row. Records removed vector ids for FAISS. */
static int remove_doc(dq_store *s, int64_t id)
{
  sqlite3_stmt *it = dq_stmt(s, ST_DOC_CHUNKS), *del = dq_stmt(s, ST_FTS_DELETE), *st;
  if (!it || !del) return dq_err_code();
  int rc = 0, src;
  size_t n_chunks = 0;
  sqlite3_bind_int64(it, 1, id);
  while ((src = sqlite3_step(it)) == SQLITE_ROW) {
    dq_removed r = { sqlite3_column_int64(it, 0), sqlite3_column_type(it, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(it, 2) };
    sqlite3_bind_int64(del, 1, r.id);
    sqlite3_bind_value(del, 2, sqlite3_column_value(it, 1));
    sqlite3_bind_value(del, 3, sqlite3_column_value(it, 3));
    if ((rc = run(s, del, "delete FTS row")) < 0) break;
    if (r.seq >= 0 && (rc = rm_append(&s->rm_txn, &s->n_rm_txn, &s->cap_rm_txn, &r, 1)) < 0) break;
    n_chunks++;
  }
  if (!rc && src != SQLITE_DONE) rc = dq_sql_fail(s, src, "read chunks");
  dq_stmt_done(it);
  if (rc) return rc;
  int which[] = { ST_VEC_DELETE_DOC, ST_CHUNK_DELETE_DOC, ST_DOC_DELETE };
  for (int i = 0; i < 3; i++) {
    if (!(st = dq_stmt(s, which[i]))) return dq_err_code();
    sqlite3_bind_int64(st, 1, id);
    if ((rc = run(s, st, "delete document")) < 0) return rc;
  }
  if (sqlite3_changes(s->db) == 0) return dq_err_set(DOCQ_ENOTFOUND, "no document with id %lld in %s", (long long)id, s->dir);
  int64_t seq;
  return n_chunks ? bump_version(s, &seq) : 0;
}

int dq_store_remove_doc(dq_store *s, int64_t id)
{
  DQ_ASSERT_ARG(s);
  int rc = need_txn(s, "remove document");
  return rc ? rc : remove_doc(s, id);
}

static int find_doc_id(dq_store *s, const char *path, int64_t *id)
{
  sqlite3_stmt *st = dq_stmt(s, ST_DOC_ID_BY_PATH);
  if (!st) return dq_err_code();
  sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), out = 0;
  *id = 0;
  if (rc == SQLITE_ROW) { *id = sqlite3_column_int64(st, 0); out = 1; }
  else if (rc != SQLITE_DONE) out = dq_sql_fail(s, rc, "find document");
  dq_stmt_done(st);
  return out;
}

static int insert_chunk(dq_store *s, int64_t doc_id, const dq_chunk *c, int64_t *cid)
{
  sqlite3_stmt *st = dq_stmt(s, ST_CHUNK_INSERT), *fts = dq_stmt(s, ST_FTS_INSERT);
  if (!st || !fts) return dq_err_code();
  if (c->text_len > INT32_MAX) return dq_err_set(DOCQ_EINVAL, "chunk of %zu bytes is too large", c->text_len);
  const char *text = c->text ? c->text : "";
  int tn = c->text ? (int)c->text_len : 0;
  sqlite3_bind_int64(st, 1, doc_id);
  sqlite3_bind_int64(st, 2, c->ordinal);
  sqlite3_bind_int64(st, 3, c->line_first);
  sqlite3_bind_int64(st, 4, c->line_last);
  sqlite3_bind_int64(st, 5, (int64_t)c->src_start);
  sqlite3_bind_int64(st, 6, (int64_t)c->src_end);
  sqlite3_bind_int64(st, 7, (int64_t)c->overlap_len);
  sqlite3_bind_int64(st, 8, c->n_tokens);
  sqlite3_bind_text(st, 9, c->section ? c->section : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 10, text, tn, SQLITE_STATIC);
  int rc = run(s, st, "insert chunk");
  if (rc) return rc;
  *cid = sqlite3_last_insert_rowid(s->db);
  sqlite3_bind_int64(fts, 1, *cid);
  return run(s, fts, "index chunk text");
}

static int insert_vec(dq_store *s, int64_t cid, int64_t seq, const float *v, uint16_t *h)
{
  sqlite3_stmt *st = dq_stmt(s, ST_VEC_INSERT);
  if (!st) return dq_err_code();
  for (unsigned j = 0; j < s->man.dim; j++) {
    if (!isfinite(v[j])) return dq_err_set(DOCQ_EINVAL, "vector of chunk %lld has a NaN or infinite value", (long long)cid);
    h[j] = dq_store_f32_to_f16(v[j]);
  }
  sqlite3_bind_int64(st, 1, cid);
  sqlite3_bind_int64(st, 2, seq);
  sqlite3_bind_blob(st, 3, h, (int)(s->man.dim * sizeof *h), SQLITE_STATIC);
  return run(s, st, "insert vector");
}

int dq_store_meta_get(dq_store *s, const char *key, char *out, size_t cap)
{
  DQ_ASSERT_ARG(s && key && out && cap);
  out[0] = 0;
  return dq_meta_get_text(s, key, out, cap) < 0 ? dq_err_code() : 0;
}

int dq_store_meta_set(dq_store *s, const char *key, const char *value)
{
  DQ_ASSERT_ARG(s && key && value);
  int rc = dq_store_writable(s);
  return rc ? rc : dq_meta_set_text(s, key, value) < 0 ? dq_err_code() : 0;
}

/* Re-encode one batch of chunk texts and insert their vectors. */
static int reembed_batch(dq_store *s, int64_t seq, const int64_t *ids, char **texts, size_t *lens, size_t n,
                         dq_store_embed_fn embed, void *ctx, float *vecs, uint16_t *h)
{
  int rc = embed(ctx, (const char *const *)texts, lens, n, vecs);
  for (size_t i = 0; !rc && i < n; i++) rc = insert_vec(s, ids[i], seq, vecs + i * s->man.dim, h);
  return rc < 0 ? rc : 0;
}

int dq_store_reembed(dq_store *s, const dq_manifest *m, dq_store_embed_fn embed, void *ctx)
{
  DQ_ASSERT_ARG(s && m && embed && m->dim > 0 && m->dim <= 65536);
  enum { BATCH = 64 };
  int rc = dq_store_writable(s);
  if (rc) return rc;
  if (in_txn(s)) return dq_err_set(DOCQ_EINVAL, "index %s: reembed inside a transaction", s->dir);
  dq_manifest old = s->man, nm = *m;
  nm.format_version = DQ_STORE_FORMAT_VERSION;
  snprintf(nm.vec_kind, sizeof nm.vec_kind, "%s", old.vec_kind[0] ? old.vec_kind : DQ_DEFAULT_VEC_KIND);
  int64_t ids[BATCH], seq = 0;
  char *texts[BATCH] = {0};
  size_t lens[BATCH], n = 0;
  float *vecs = dq_malloc((size_t)BATCH * nm.dim * sizeof *vecs);
  uint16_t *h = dq_malloc(nm.dim * sizeof *h);
  sqlite3_stmt *st = NULL;
  if (!vecs || !h) { rc = DOCQ_ENOMEM; goto done; }
  if ((rc = dq_store_begin(s)) < 0) goto done;
  if ((rc = dq_exec(s, "DELETE FROM vecs")) < 0) goto fail;
  if ((rc = write_manifest(s, &nm)) < 0) goto fail;
  s->man = nm;
  if ((rc = bump_version(s, &seq)) < 0) goto fail;
  if (sqlite3_prepare_v2(s->db, "SELECT id, text FROM chunks ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
    rc = dq_sql_fail(s, sqlite3_errcode(s->db), "read chunks");
    goto fail;
  }
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    if (dq_interrupted(s)) { rc = dq_err_set(DOCQ_ECANCELED, "re-embedding interrupted: the index keeps its old vectors"); goto fail; }
    ids[n] = sqlite3_column_int64(st, 0);
    const char *t = (const char *)sqlite3_column_text(st, 1);
    lens[n] = (size_t)sqlite3_column_bytes(st, 1);
    texts[n] = dq_strndup(t ? t : "", t ? lens[n] : 0);
    if (!texts[n]) { rc = DOCQ_ENOMEM; goto fail; }
    if (++n == BATCH) {
      rc = reembed_batch(s, seq, ids, texts, lens, n, embed, ctx, vecs, h);
      for (size_t i = 0; i < n; i++) { dq_free(texts[i]); texts[i] = NULL; }
      n = 0;
      if (rc) goto fail;
    }
  }
  if (src != SQLITE_DONE) { rc = dq_sql_fail(s, src, "read chunks"); goto fail; }
  if (n && (rc = reembed_batch(s, seq, ids, texts, lens, n, embed, ctx, vecs, h)) < 0) goto fail;
  sqlite3_finalize(st);
  st = NULL;
  if ((rc = dq_store_commit(s)) < 0) goto fail;
  /* New vectors are committed: rebuild FAISS from them and write the file. */
  if ((rc = dq_vsync_reset(s)) < 0) goto done;
  rc = dq_store_sync_vectors(s);
  goto done;
fail:
  sqlite3_finalize(st);
  st = NULL;
  if (in_txn(s)) dq_store_rollback(s);
  s->man = old;
done:
  for (size_t i = 0; i < n; i++) dq_free(texts[i]);
  sqlite3_finalize(st);
  dq_free(vecs);
  dq_free(h);
  return rc < 0 ? rc : 0;
}

int dq_store_put_doc(dq_store *s, dq_doc_row *row, const dq_chunk *chunks, size_t n_chunks, const float *vecs)
{
  DQ_ASSERT_ARG(s && row && row->path && (chunks || n_chunks == 0));
  int rc = need_txn(s, "put document");
  if (rc) return rc;
  unsigned dim = s->man.dim;
  if (n_chunks && dim && !vecs) return dq_err_set(DOCQ_EINVAL, "put document %s: vectors missing (dimension %u)", row->path, dim);
  if (n_chunks && !dim && vecs) return dq_err_set(DOCQ_EINVAL, "put document %s: vectors given but the index has no manifest", row->path);
  uint16_t *h = NULL;
  int64_t old_id = 0, seq = 0;
  if ((rc = find_doc_id(s, row->path, &old_id)) < 0) goto done;
  if (rc == 1 && (rc = remove_doc(s, old_id)) < 0) goto done;
  if ((rc = bump_version(s, &seq)) < 0) goto done;
  sqlite3_stmt *st = dq_stmt(s, ST_DOC_INSERT);
  if (!st) { rc = dq_err_code(); goto done; }
  sqlite3_bind_text(st, 1, row->path, -1, SQLITE_STATIC);
  if (row->title) sqlite3_bind_text(st, 2, row->title, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, row->format);
  sqlite3_bind_text(st, 4, row->hash, (int)strnlen(row->hash, sizeof row->hash), SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, row->mtime);
  sqlite3_bind_int64(st, 6, (int64_t)row->size);
  sqlite3_bind_text(st, 7, row->tags ? row->tags : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 8, row->date);
  if (row->meta_json) sqlite3_bind_text(st, 9, row->meta_json, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 10, (int64_t)n_chunks);
  sqlite3_bind_int64(st, 11, row->mtime_ns);
  if ((rc = run(s, st, "insert document")) < 0) goto done;
  int64_t doc_id = sqlite3_last_insert_rowid(s->db);
  if (dim && !(h = dq_malloc(dim * sizeof *h))) { rc = DOCQ_ENOMEM; goto done; }
  for (size_t i = 0; i < n_chunks; i++) {
    int64_t cid = 0;
    if ((i & 255) == 255 && dq_interrupted(s)) { rc = dq_err_set(DOCQ_ECANCELED, "interrupted"); goto done; }
    if ((rc = insert_chunk(s, doc_id, &chunks[i], &cid)) < 0) goto done;
    if (dim && (rc = insert_vec(s, cid, seq, vecs + i * dim, h)) < 0) goto done;
  }
  row->id = doc_id;
  row->n_chunks = n_chunks;
done:
  dq_free(h);
  return rc < 0 ? rc : 0;
}

/* 1 when document id's stored title differs from title. */
static int title_differs(dq_store *s, int64_t id, const char *title, int *out)
{
  sqlite3_stmt *st = dq_stmt(s, ST_DOC_TITLE);
  if (!st) return dq_err_code();
  sqlite3_bind_int64(st, 1, id);
  int src = sqlite3_step(st), rc = 0;
  if (src == SQLITE_ROW) {
    const char *old = (const char *)sqlite3_column_text(st, 0);
    *out = strcmp(old ? old : "", title ? title : "") != 0;
  } else if (src == SQLITE_DONE) {
    rc = dq_err_set(DOCQ_ENOTFOUND, "no document with id %lld in %s", (long long)id, s->dir);
  } else {
    rc = dq_sql_fail(s, src, "read title");
  }
  dq_stmt_done(st);
  return rc;
}

/* Delete (del = 1) or insert the FTS rows of a document's chunks: the head
 * column holds the title, so a new title means re-indexing them, the old
 * rows deleted with the old head (external content) before it changes. */
static int fts_rows_of_doc(dq_store *s, int64_t id, int del)
{
  sqlite3_stmt *it = dq_stmt(s, del ? ST_DOC_CHUNKS : ST_DOC_CHUNK_IDS);
  sqlite3_stmt *w = dq_stmt(s, del ? ST_FTS_DELETE : ST_FTS_INSERT);
  if (!it || !w) return dq_err_code();
  int rc = 0, src;
  sqlite3_bind_int64(it, 1, id);
  while ((src = sqlite3_step(it)) == SQLITE_ROW) {
    sqlite3_bind_int64(w, 1, sqlite3_column_int64(it, 0));
    if (del) {
      sqlite3_bind_value(w, 2, sqlite3_column_value(it, 1));
      sqlite3_bind_value(w, 3, sqlite3_column_value(it, 3));
    }
    if ((rc = run(s, w, del ? "delete FTS row" : "index chunk text")) < 0) break;
  }
  if (!rc && src != SQLITE_DONE) rc = dq_sql_fail(s, src, "read chunks");
  dq_stmt_done(it);
  return rc;
}

int dq_store_rename_doc(dq_store *s, int64_t id, const dq_doc_row *to)
{
  DQ_ASSERT_ARG(s && to && to->path);
  int rc = dq_store_writable(s);
  if (rc) return rc;
  int64_t other = 0;
  if ((rc = find_doc_id(s, to->path, &other)) < 0) return rc;
  if (rc == 1 && other != id) return dq_err_set(DOCQ_EINVAL, "cannot rename document %lld to %s: that path is already indexed", (long long)id, to->path);
  int retitle = 0;
  if ((rc = title_differs(s, id, to->title, &retitle)) < 0) return rc;
  if (retitle && (rc = fts_rows_of_doc(s, id, 1)) < 0) return rc;
  sqlite3_stmt *st = dq_stmt(s, ST_DOC_RENAME);
  if (!st) return dq_err_code();
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, to->path, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, to->mtime);
  sqlite3_bind_int64(st, 4, to->mtime_ns);
  if (to->title) sqlite3_bind_text(st, 5, to->title, -1, SQLITE_STATIC);
  else sqlite3_bind_null(st, 5);
  sqlite3_bind_int64(st, 6, to->date);
  if ((rc = run(s, st, "rename document")) < 0) return rc;
  if (sqlite3_changes(s->db) == 0) return dq_err_set(DOCQ_ENOTFOUND, "no document with id %lld in %s", (long long)id, s->dir);
  return retitle ? fts_rows_of_doc(s, id, 0) : 0;
}

int dq_store_touch_doc(dq_store *s, int64_t id, int64_t mtime, int64_t mtime_ns, uint64_t size)
{
  DQ_ASSERT_ARG(s);
  int rc = dq_store_writable(s);
  if (rc) return rc;
  sqlite3_stmt *st = dq_stmt(s, ST_DOC_TOUCH);
  if (!st) return dq_err_code();
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, mtime);
  sqlite3_bind_int64(st, 3, (int64_t)size);
  sqlite3_bind_int64(st, 4, mtime_ns);
  if ((rc = run(s, st, "touch document")) < 0) return rc;
  if (sqlite3_changes(s->db) == 0) return dq_err_set(DOCQ_ENOTFOUND, "no document with id %lld in %s", (long long)id, s->dir);
  return 0;
}

int dq_store_doc_mtime_ns(dq_store *s, int64_t id, int64_t *out)
{
  DQ_ASSERT_ARG(s && out);
  int rc = dq_store_writable(s);
  if (rc) return rc;
  sqlite3_stmt *st = dq_stmt(s, ST_DOC_MTIME_NS);
  if (!st) return dq_err_code();
  sqlite3_bind_int64(st, 1, id);
  int src = sqlite3_step(st);
  *out = DQ_MTIME_NS_UNKNOWN;
  if (src == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
  else if (src == SQLITE_DONE) rc = dq_err_set(DOCQ_ENOTFOUND, "no document with id %lld in %s", (long long)id, s->dir);
  else rc = dq_sql_fail(s, src, "read mtime");
  dq_stmt_done(st);
  return rc;
}

/* The smallest byte string above every string starting with prefix[0..n):
 * the prefix with trailing 0xFF bytes dropped and its last byte raised by
 * one (file names are raw bytes: 0xFF may follow the prefix, so appending
 * 0xFF is no bound). *len_out = 0 when there is none (the prefix is all
 * 0xFF): then every string from the prefix on qualifies. */
static char *prefix_upper_bound(const char *prefix, size_t n, size_t *len_out)
{
  while (n > 0 && (unsigned char)prefix[n - 1] == 0xFF) n--;
  *len_out = n;
  char *upper = dq_malloc(n + 1);
  if (!upper) return NULL;
  memcpy(upper, prefix, n);
  upper[n] = 0;
  if (n) upper[n - 1] = (char)((unsigned char)upper[n - 1] + 1);
  return upper;
}

int dq_store_docs(dq_store *s, const char *prefix, dq_doc_iter_cb cb, void *ctx)
{
  DQ_ASSERT_ARG(s && cb);
  /* Prepared per call (not cached) so a callback may itself list documents.
   * SQLite compares text with memcmp, so a prefix is a range of paths. */
  sqlite3_stmt *st = NULL;
  char *upper = NULL;
  size_t n_upper = 0;
  int rc = 0, src;
  if (prefix && *prefix && !(upper = prefix_upper_bound(prefix, strlen(prefix), &n_upper))) return DOCQ_ENOMEM;
  const char *sql = !(prefix && *prefix) ? "SELECT " DOC_COLS " FROM docs ORDER BY path"
                    : n_upper ? "SELECT " DOC_COLS " FROM docs WHERE path >= ?1 AND path < ?2 ORDER BY path"
                              : "SELECT " DOC_COLS " FROM docs WHERE path >= ?1 ORDER BY path";
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
    dq_free(upper);
    return dq_sql_fail(s, sqlite3_errcode(s->db), "list documents");
  }
  if (prefix && *prefix) {
    sqlite3_bind_text(st, 1, prefix, (int)strlen(prefix), SQLITE_STATIC);
    if (n_upper) sqlite3_bind_text(st, 2, upper, (int)n_upper, SQLITE_STATIC);
  }
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    dq_doc_row r;
    doc_from_row(st, &r, 0);
    int cr = cb(ctx, &r);
    if (cr) { /* > 0: the caller stops; < 0: its error, which the caller must see */
      if (cr < 0) rc = cr;
      break;
    }
  }
  if (rc == 0 && src != SQLITE_ROW && src != SQLITE_DONE) rc = dq_sql_fail(s, src, "list documents");
  sqlite3_finalize(st);
  dq_free(upper);
  return rc;
}

/* ---- statistics ------------------------------------------------------------------------------ */

static int64_t disk_usage(const char *dir)
{
  int64_t total = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
  }
  closedir(d);
  return total;
}

int dq_store_stats_get(dq_store *s, dq_store_stats *out)
{
  DQ_ASSERT_ARG(s && out);
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = NULL;
  int rc = 0;
  if (sqlite3_prepare_v2(s->db, "SELECT (SELECT count(*) FROM docs), (SELECT count(*) FROM chunks), (SELECT count(*) FROM vecs),"
                         " (SELECT coalesce(sum(size), 0) FROM docs)", -1, &st, NULL) != SQLITE_OK)
    return dq_sql_fail(s, sqlite3_errcode(s->db), "statistics");
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    out->documents = (uint64_t)sqlite3_column_int64(st, 0);
    out->chunks = (uint64_t)sqlite3_column_int64(st, 1);
    out->vectors = (uint64_t)sqlite3_column_int64(st, 2);
    out->text_bytes = (uint64_t)sqlite3_column_int64(st, 3);
  } else {
    rc = dq_sql_fail(s, src, "statistics");
  }
  sqlite3_finalize(st);
  if (rc) return rc;
  out->disk_bytes = (uint64_t)disk_usage(s->dir);
  return dq_meta_get_i64(s, "last_run", &out->last_run);
}

int dq_store_set_last_run(dq_store *s, int64_t when)
{
  DQ_ASSERT_ARG(s);
  int rc = dq_store_writable(s);
  return rc ? rc : dq_meta_set_i64(s, "last_run", when);
}

/* ---- reading chunks ------------------------------------------------------------------------------ */

void dq_chunk_row_clear(dq_chunk_row *r)
{
  if (!r) return;
  dq_free(r->text);
  dq_free(r->section);
  memset(r, 0, sizeof *r);
}

static int chunk_get(dq_store *s, sqlite3_stmt *st, dq_chunk_row *out, const char *what)
{
  int rc = sqlite3_step(st), out_rc = 0;
  if (rc == SQLITE_ROW) {
    out->id = sqlite3_column_int64(st, 0);
    out->doc_id = sqlite3_column_int64(st, 1);
    out->ordinal = (uint32_t)sqlite3_column_int64(st, 2);
    out->line_first = (uint32_t)sqlite3_column_int64(st, 3);
    out->line_last = (uint32_t)sqlite3_column_int64(st, 4);
    out->src_start = (size_t)sqlite3_column_int64(st, 5);
    out->src_end = (size_t)sqlite3_column_int64(st, 6);
    out->overlap_len = (size_t)sqlite3_column_int64(st, 7);
    out->n_tokens = (uint32_t)sqlite3_column_int64(st, 8);
    const char *t = (const char *)sqlite3_column_text(st, 9);
    out->text = dq_strndup(t ? t : "", t ? (size_t)sqlite3_column_bytes(st, 9) : 0);
    const char *sec = (const char *)sqlite3_column_text(st, 10);
    out->section = dq_strdup(sec ? sec : "");
    if (!out->text || !out->section) {
      dq_chunk_row_clear(out);
      out_rc = DOCQ_ENOMEM;
    }
  } else if (rc == SQLITE_DONE) {
    out_rc = dq_err_set(DOCQ_ENOTFOUND, "no chunk %s in %s", what, s->dir);
  } else {
    out_rc = dq_sql_fail(s, rc, "read chunk");
  }
  dq_stmt_done(st);
  return out_rc;
}

int dq_store_chunk(dq_store *s, int64_t chunk_id, dq_chunk_row *out)
{
  DQ_ASSERT_ARG(s && out);
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = dq_stmt(s, ST_CHUNK_GET);
  if (!st) return dq_err_code();
  sqlite3_bind_int64(st, 1, chunk_id);
  char what[32];
  snprintf(what, sizeof what, "%lld", (long long)chunk_id);
  return chunk_get(s, st, out, what);
}

int dq_store_chunk_at(dq_store *s, int64_t doc_id, uint32_t ordinal, dq_chunk_row *out)
{
  DQ_ASSERT_ARG(s && out);
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = dq_stmt(s, ST_CHUNK_AT);
  if (!st) return dq_err_code();
  sqlite3_bind_int64(st, 1, doc_id);
  sqlite3_bind_int64(st, 2, ordinal);
  char what[64];
  snprintf(what, sizeof what, "%u of document %lld", ordinal, (long long)doc_id);
  return chunk_get(s, st, out, what);
}

int dq_store_vec_dim_is(const dq_store *s, unsigned dim)
{
  if (s->man.dim == dim) return 0;
  return dq_err_set(DOCQ_EMISMATCH, "index %s: its embedder changed meanwhile (vectors of dimension %u, not %u); search again",
                    s->dir, s->man.dim, dim);
}

int dq_store_vec_size_error(dq_store *s, int64_t chunk_id, size_t nb, unsigned dim)
{
  /* the manifest as committed now, not as cached: a re-encoding by another
   * process between two reads is no damage */
  int64_t now = 0;
  if (dq_meta_get_i64(s, "dim", &now) == 0 && now > 0 && (size_t)now * 2 == nb && (uint64_t)now != dim)
    return dq_err_set(DOCQ_EMISMATCH, "index %s: its embedder changed meanwhile (vectors of dimension %lld, not %u); search again",
                      s->dir, (long long)now, dim);
  return dq_err_set(DOCQ_ECORRUPT, "index %s: vector of chunk %lld has %zu bytes, expected %u", s->dir, (long long)chunk_id,
                    nb, dim * 2);
}

int dq_store_chunk_vector(dq_store *s, int64_t chunk_id, unsigned dim, float *out)
{
  DQ_ASSERT_ARG(s && out);
  if (!s->man.dim) return dq_err_set(DOCQ_ENOTFOUND, "index %s has no vectors", s->dir);
  int rc0 = dq_store_vec_dim_is(s, dim);
  if (rc0) return rc0;
  sqlite3_stmt *st = dq_stmt(s, ST_CHUNK_VEC);
  if (!st) return dq_err_code();
  sqlite3_bind_int64(st, 1, chunk_id);
  int rc = sqlite3_step(st), out_rc = 0;
  if (rc == SQLITE_ROW) {
    const uint8_t *b = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if (n != (size_t)s->man.dim * 2 || !b) {
      out_rc = dq_store_vec_size_error(s, chunk_id, n, s->man.dim);
    } else {
      for (unsigned j = 0; j < s->man.dim; j++) out[j] = dq_store_f16_to_f32((uint16_t)(b[2 * j] | b[2 * j + 1] << 8));
    }
  } else if (rc == SQLITE_DONE) {
    out_rc = dq_err_set(DOCQ_ENOTFOUND, "no vector for chunk %lld in %s", (long long)chunk_id, s->dir);
  } else {
    out_rc = dq_sql_fail(s, rc, "read vector");
  }
  dq_stmt_done(st);
  return out_rc;
}

/* ---- BM25 ---------------------------------------------------------------------------------------- */

typedef struct df_ctx { dq_store *s; int64_t n_rows; } df_ctx;

/* Keep a term unless more than half of the chunks contain it. FTS5's bm25
 * IDF, log((N - n + 0.5) / (n + 0.5)), is clamped to 1e-6 above N/2, so such
 * a term ("the", "的") adds nothing to any score, yet makes FTS5 visit nearly
 * every row (140 ms -> 20 ms on 100k chunks for "the whale and the sea").
 * A quarter was tried first: it cost cranfield nDCG@10 0.340 -> 0.332. */
static int keep_term(void *ctx, const char *term, size_t n)
{
  df_ctx *d = ctx;
  sqlite3_stmt *st = dq_stmt(d->s, ST_TERM_DF);
  if (!st) return dq_err_code();
  sqlite3_bind_text(st, 1, term, (int)n, SQLITE_STATIC);
  int rc = sqlite3_step(st), keep = 1;
  if (rc == SQLITE_ROW) keep = sqlite3_column_int64(st, 0) * 2 <= d->n_rows;
  else if (rc != SQLITE_DONE) keep = dq_sql_fail(d->s, rc, "term frequency");
  dq_stmt_done(st);
  return keep;
}

/* One FTS5 query; *n_out hits. */
static int bm25_run(dq_store *s, const char *expr, size_t k, dq_scored *out, size_t *n_out)
{
  sqlite3_stmt *st = dq_stmt(s, ST_BM25);
  if (!st) return dq_err_code();
  sqlite3_bind_text(st, 1, expr, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, k > INT64_MAX ? INT64_MAX : (int64_t)k);
  sqlite3_bind_double(st, 3, s->bm25_w[0]);
  sqlite3_bind_double(st, 4, s->bm25_w[1]);
  int src = SQLITE_DONE, rc = 0;
  size_t n = 0;
  while (n < k && (src = sqlite3_step(st)) == SQLITE_ROW) {
    out[n].chunk_id = sqlite3_column_int64(st, 0);
    out[n].score = -sqlite3_column_double(st, 1); /* FTS5's bm25 is lower-is-better */
    n++;
  }
  if (n < k && src != SQLITE_DONE) rc = dq_sql_fail(s, src, "full-text search");
  else *n_out = n;
  dq_stmt_done(st);
  return rc;
}

int dq_store_bm25_fts(dq_store *s, const char *query, size_t k, dq_scored *out, size_t *n_out)
{
  DQ_ASSERT_ARG(s && query && n_out && (out || k == 0));
  *n_out = 0;
  if (k == 0) return 0;
  char *expr = NULL, *full = NULL;
  df_ctx d = { s, 0 };
  int rc = 0;
  size_t qn = strlen(query);
  sqlite3_stmt *st = dq_stmt(s, ST_CHUNK_COUNT);
  if (!st) return dq_err_code();
  if ((rc = sqlite3_step(st)) == SQLITE_ROW) d.n_rows = sqlite3_column_int64(st, 0);
  rc = rc == SQLITE_ROW ? 0 : dq_sql_fail(s, rc, "count chunks");
  dq_stmt_done(st);
  if (rc) return rc;
  /* First without the very common terms; when that finds fewer than k hits,
   * the full query runs, so common words still find something. */
  if ((rc = dq_fts_build_query(query, qn, DQ_BM25_MAX_TERMS, keep_term, &d, &expr)) < 0) goto done;
  if ((rc = dq_fts_build_query(query, qn, DQ_BM25_MAX_TERMS, NULL, NULL, &full)) < 0) goto done;
  if (!full) goto done; /* no terms: no results */
  size_t n = 0;
  if (expr && strcmp(expr, full) != 0 && (rc = bm25_run(s, expr, k, out, &n)) < 0) goto done;
  if (n == k) *n_out = n;
  else rc = bm25_run(s, full, k, out, n_out);
done:
  dq_free(expr);
  dq_free(full);
  return rc;
}

/* qsort order of (first, last) line pairs */
static int cmp_line_range(const void *a, const void *b)
{
  const uint32_t *x = a, *y = b;
  return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] < y[1] ? -1 : x[1] > y[1];
}

int dq_store_mentions(dq_store *s, const char *query, dq_mention_cb cb, void *ctx)
{
  DQ_ASSERT_ARG(s && query && cb);
  char *expr = NULL;
  int rc = dq_fts_build_all_query(query, strlen(query), &expr);
  if (rc < 0) return rc;
  if (!expr)
    return dq_err_set(DOCQ_EINVAL, "mentions: the query has no words to look for (only punctuation, symbols or"
                      " white space); give at least one word");
  sqlite3_stmt *st = dq_stmt(s, ST_MENTIONS);
  if (!st) { dq_free(expr); return dq_err_code(); }
  sqlite3_bind_text(st, 1, expr, -1, SQLITE_STATIC);
  /* One statement reads postings, chunks and documents: one snapshot, so a
   * writer's commit cannot make the counts disagree with the documents. */
  int src;
  uint32_t *lines = NULL;
  size_t cap = 0;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    if (dq_interrupted(s)) { rc = dq_err_set(DOCQ_ECANCELED, "interrupted"); break; }
    dq_doc_row r;
    doc_from_row(st, &r, 0);
    int64_t n = sqlite3_column_int64(st, 11);
    /* "first-last,first-last,..." of the chunks (group_concat's order is
     * not defined: sorted here); a chunk without lines is left out */
    const char *g = (const char *)sqlite3_column_text(st, 12);
    size_t n_lines = 0;
    for (const char *p = g; p && *p;) {
      char *e1, *e2;
      unsigned long a = strtoul(p, &e1, 10);
      if (*e1 != '-') break;
      unsigned long b = strtoul(e1 + 1, &e2, 10);
      if (n_lines == cap) {
        size_t nc = cap ? cap * 2 : 64;
        uint32_t *nl = dq_realloc(lines, nc * 2 * sizeof *nl);
        if (!nl) { rc = DOCQ_ENOMEM; break; }
        lines = nl;
        cap = nc;
      }
      lines[2 * n_lines] = a > UINT32_MAX ? UINT32_MAX : (uint32_t)a;
      lines[2 * n_lines + 1] = b > UINT32_MAX ? UINT32_MAX : (uint32_t)b;
      n_lines++;
      p = *e2 == ',' ? e2 + 1 : e2;
      if (*e2 != ',') break;
    }
    if (rc) break;
    if (n_lines > 1) qsort(lines, n_lines, 2 * sizeof *lines, cmp_line_range);
    int cr = cb(ctx, &r, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n, lines, n_lines);
    if (cr) {
      if (cr < 0) rc = cr;
      break;
    }
  }
  if (rc == 0 && src != SQLITE_ROW && src != SQLITE_DONE) rc = dq_sql_fail(s, src, "find the documents that mention a query");
  dq_stmt_done(st);
  dq_free(lines);
  dq_free(expr);
  return rc;
}

/* ---- invariant check ---------------------------------------------------------------------------------- */

/* Run a query returning one integer; a row with a non-zero first value is
 * reported as `violation` (the value is passed to the format). */
static int check_zero(dq_store *s, const char *sql, const char *violation)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return dq_sql_fail(s, sqlite3_errcode(s->db), sql);
  sqlite3_bind_int64(st, 1, (int64_t)s->man.dim * 2);
  int rc = sqlite3_step(st), out = 0;
  if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) != 0)
    out = dq_err_set(DOCQ_ECORRUPT, "index %s: %s (%lld)", s->dir, violation, (long long)sqlite3_column_int64(st, 0));
  else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    out = dq_sql_fail(s, rc, "check");
  sqlite3_finalize(st);
  return out;
}

/* Order-independent digest of (row, column, position, term) token
 * instances: the sum of a mix of the four, so FTS5's instances and a
 * re-tokenization of chunks_src can be compared without sorting. Column 0 is
 * the text, 1 the head. */
static uint64_t inst_mix(int64_t row, int col, int64_t pos, const char *term, size_t n)
{
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)term[i]) * 1099511628211ull;
  h ^= (uint64_t)row * 0x9E3779B97F4A7C15ull + (uint64_t)pos * 0xC2B2AE3D27D4EB4Full + (uint64_t)col * 0x165667B19E3779F9ull;
  h *= 0xD6E8FEB86659FD93ull;
  return h ^ h >> 32;
}

typedef struct digest_ctx { int64_t row, pos; int col; uint64_t sum; } digest_ctx;

static int digest_term(void *ctx, const char *term, size_t tn, size_t start, size_t end)
{
  (void)start;
  (void)end;
  digest_ctx *d = ctx;
  d->sum += inst_mix(d->row, d->col, d->pos++, term, tn);
  return 0;
}

/* Compare FTS5's token instances with a fresh tokenization of every chunk
 * (read-only connections cannot run FTS5's integrity-check, an INSERT). */
static int check_fts_digest(dq_store *s)
{
  int rc = dq_exec(s, "CREATE VIRTUAL TABLE IF NOT EXISTS temp.docq_inst USING fts5vocab(main, chunks_fts, instance)");
  if (rc < 0) return rc;
  sqlite3_stmt *st = NULL;
  uint64_t fts = 0;
  digest_ctx d = { 0, 0, 0, 0 };
  int src;
  if (sqlite3_prepare_v2(s->db, "SELECT term, doc, col = 'head', offset FROM temp.docq_inst", -1, &st, NULL) != SQLITE_OK)
    return dq_sql_fail(s, sqlite3_errcode(s->db), "read full-text instances");
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    fts += inst_mix(sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2), sqlite3_column_int64(st, 3), t ? t : "",
                    (size_t)sqlite3_column_bytes(st, 0));
  }
  sqlite3_finalize(st);
  if (src != SQLITE_DONE) return dq_sql_fail(s, src, "read full-text instances");
  if (sqlite3_prepare_v2(s->db, "SELECT id, text, head FROM chunks_src", -1, &st, NULL) != SQLITE_OK)
    return dq_sql_fail(s, sqlite3_errcode(s->db), "read chunks");
  while (rc >= 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
    d.row = sqlite3_column_int64(st, 0);
    for (d.col = 0; d.col < 2 && rc >= 0; d.col++) {
      d.pos = 0;
      const char *t = (const char *)sqlite3_column_text(st, 1 + d.col);
      if (t) rc = dq_terms(t, (size_t)sqlite3_column_bytes(st, 1 + d.col), digest_term, &d);
    }
  }
  sqlite3_finalize(st);
  if (rc < 0) return rc;
  if (src != SQLITE_DONE) return dq_sql_fail(s, src, "read chunks");
  if (fts != d.sum) return dq_err_set(DOCQ_ECORRUPT, "index %s: full-text index does not match the chunks' text", s->dir);
  return 0;
}

/* Every chunk has exactly one FTS row holding its tokens. A writable
 * connection runs FTS5's integrity-check, which re-tokenizes chunks.text and
 * compares with the index; a read-only one compares row ids and a digest of
 * all token instances. */
static int check_fts(dq_store *s)
{
  int rc;
  if ((rc = check_zero(s, "SELECT coalesce((SELECT c.id FROM chunks c LEFT JOIN chunks_fts_docsize d ON d.id = c.id WHERE d.id IS NULL LIMIT 1), 0)",
                       "a chunk has no full-text row; chunk id")) < 0)
    return rc;
  if ((rc = check_zero(s, "SELECT coalesce((SELECT d.id FROM chunks_fts_docsize d LEFT JOIN chunks c ON c.id = d.id WHERE c.id IS NULL LIMIT 1), 0)",
                       "a full-text row has no chunk; row id")) < 0)
    return rc;
  /* integrity-check is an INSERT: in the check's read transaction it would
   * fail (busy, not corrupt) once another writer committed; the writer's
   * lock guarantees none can. */
  if ((s->flags & DQ_STORE_READONLY) || s->lock_fd < 0) return check_fts_digest(s);
  char *msg = NULL;
  int src = sqlite3_exec(s->db, "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)", NULL, NULL, &msg);
  if (src != SQLITE_OK) {
    rc = dq_err_set(DOCQ_ECORRUPT, "index %s: full-text index does not match the chunks: %s", s->dir, msg ? msg : sqlite3_errstr(src));
    sqlite3_free(msg);
    return rc;
  }
  return 0;
}

static int check_all(dq_store *s)
{
  int rc = dq_manifest_refresh(s); /* the dimension the vectors are checked against */
  if (rc < 0) return rc;
  static const struct { const char *sql, *what; } checks[] = {
    { "SELECT coalesce((SELECT c.id FROM chunks c LEFT JOIN docs d ON d.id = c.doc_id WHERE d.id IS NULL LIMIT 1), 0)",
      "a chunk belongs to no document; chunk id" },
    { "SELECT coalesce((SELECT d.id FROM docs d WHERE d.n_chunks != (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id) LIMIT 1), 0)",
      "a document's chunk count is wrong; document id" },
    { "SELECT coalesce((SELECT v.chunk_id FROM vecs v LEFT JOIN chunks c ON c.id = v.chunk_id WHERE c.id IS NULL LIMIT 1), 0)",
      "a vector has no chunk; chunk id" },
    { "SELECT coalesce((SELECT chunk_id FROM vecs WHERE length(v) != ?1 LIMIT 1), 0)",
      "a vector has the wrong size; chunk id" },
    { "SELECT count(*) FROM vecs WHERE seq > (SELECT value FROM meta WHERE key = 'vec_version')",
      "vectors are newer than vec_version; count" },
  };
  for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
    if ((rc = check_zero(s, checks[i].sql, checks[i].what)) < 0) return rc;
  if (s->man.dim > 0) {
    rc = check_zero(s, "SELECT coalesce((SELECT c.id FROM chunks c LEFT JOIN vecs v ON v.chunk_id = c.id WHERE v.chunk_id IS NULL LIMIT 1), 0)",
                    "a chunk has no vector; chunk id");
  } else {
    rc = check_zero(s, "SELECT count(*) FROM vecs", "vectors stored but the manifest has no dimension; count");
  }
  if (rc < 0) return rc;
  if ((rc = check_fts(s)) < 0) return rc;
  return dq_vsync_check(s);
}

/* All of the check reads one snapshot (one read transaction; WAL lets an
 * index run go on meanwhile): statement by statement, a commit in between
 * made the full text and the chunks disagree, a false "corrupt" whenever
 * `docq status --check` ran beside `docq index`. */
int dq_store_check(dq_store *s)
{
  DQ_ASSERT_ARG(s);
  if (!sqlite3_get_autocommit(s->db)) return check_all(s); /* the caller's transaction */
  int rc = dq_exec(s, "BEGIN");
  if (rc < 0) return rc;
  s->check_snapshot = 1;
  rc = check_all(s);
  s->check_snapshot = 0;
  if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* a read transaction: only the snapshot ends */
  return rc;
}
