/* Public API: versions, opening an index, documents and statistics.
 * (Indexing is in index.c, search in search.c, answers in ask.c, models in
 * model.c.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <limits.h>

#include "api/db_internal.h"
#include "embed/bert.h"
#include "engine/kernels.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

DOCQ_API int docq_version_number(void) { return DOCQ_VERSION_NUMBER; }
DOCQ_API const char *docq_version(void) { return DOCQ_VERSION_STRING; }
DOCQ_API const char *docq_kernels(void) { return dq_kernels_isa(); }
DOCQ_API void docq_free(void *p) { dq_free(p); }

DOCQ_API int docq_index_options_init(docq_index_options *opts, unsigned int version)
{
  DQ_ASSERT_ARG(opts);
  if (version != DOCQ_INDEX_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_index_options version %u is not supported (this library: %d)",
                      version, DOCQ_INDEX_OPTIONS_VERSION);
  docq_index_options d = DOCQ_INDEX_OPTIONS_INIT;
  *opts = d;
  return 0;
}

static int reembed_cb(void *ctx, const char *const *texts, const size_t *lens, size_t n, float *out)
{
  return dq_embed(ctx, texts, lens, n, 0, out);
}

/* The index's GGUF embedder cannot be used (rc, the message set): keep why,
 * with `advice`, for the calls that need it; DQ_EMBEDDER_MISSING. */
static int embedder_unusable(docq_db *db, int rc, const char *advice)
{
  db->embedder_rc = rc;
  snprintf(db->embedder_err, sizeof db->embedder_err, "%s%s; a keyword search (--mode bm25) works meanwhile",
           dq_err_msg(), advice);
  return DQ_EMBEDDER_MISSING;
}

/* The embedder the manifest names: the GGUF model it records (embed_model)
 * when the id says "gguf:", else the built-in one (also for a new index). */
static int make_embedder(docq_db *db)
{
  dq_manifest m;
  int rc = dq_store_manifest(db->store, &m);
  if (rc) return rc;
  dq_embedder *e = NULL;
  if (!strncmp(m.embedder, "gguf:", 5)) {
    rc = dq_embedder_gguf(&e, m.embed_model, 0);
    if (rc) {
      if (rc == DOCQ_ENOMEM) return rc;
      dq_err_wrap("index %s uses the embedding model %s, which cannot be loaded", db->path, m.embed_model);
      return embedder_unusable(db, rc, ". Put the file back, or re-encode the index with another model: docq index "
                                       "--reembed --embed-model FILE (or --builtin-embedder)");
    }
  } else {
    rc = dq_embedder_builtin(&e);
    if (rc) return rc;
  }
  e->interrupt = &db->interrupted; /* a GGUF model's long embedding stops at Ctrl-C */
  int stale = m.embedder[0] && (strcmp(m.embedder, e->id) != 0 || m.dim != e->dim);
  if (stale && !strncmp(m.embedder, "docq-hash-", 10) && !strncmp(e->id, "docq-hash-", 10) &&
      !(db->flags & DOCQ_OPEN_READONLY)) {
    /* The built-in embedder changed with this docq: a writer re-encodes the
     * stored chunks at once (one transaction, as --reembed), since there is
     * no old version to keep using. */
    dq_log(DOCQ_LOG_INFO, "index %s: re-encoding the stored chunks with %s (was %s)", db->path, e->id, m.embedder);
    snprintf(m.embedder, sizeof m.embedder, "%s", e->id);
    m.dim = e->dim;
    if ((rc = dq_store_lock_writer(db->store)) == 0) rc = dq_store_reembed(db->store, &m, reembed_cb, e);
    if (rc) { dq_embedder_free(e); return rc; }
    stale = 0;
  }
  if (stale) {
    rc = dq_err_set(DOCQ_EMISMATCH,
                    "index %s was built with embedder '%s' (dim %u), but the embedder at hand is '%s' (dim %u): "
                    "if the model file changed, run `docq index --reembed --embed-model FILE` to re-encode the "
                    "stored chunks; if docq's built-in embedder changed, run `docq index` once, which updates the index",
                    db->path, m.embedder, m.dim, e->id, e->dim);
    dq_embedder_free(e);
    /* a model file that changed: the index opens without it, so the re-encoding can run */
    return strncmp(m.embedder, "gguf:", 5) ? rc : embedder_unusable(db, rc, "");
  }
  db->embedder = e;
  return 0;
}

/* The saved reason the index's model cannot be used, with what to do. */
static int embedder_missing(docq_db *db) { return dq_err_set(db->embedder_rc, "%s", db->embedder_err); }

/* 1 when manifest m names another embedder than db holds (db->embedder set). */
static int names_other_embedder(const docq_db *db, const dq_manifest *m)
{
  return m->embedder[0] && (strcmp(m->embedder, db->embedder->id) != 0 || m->dim != db->embedder->dim);
}

int dq_api_embedder_stale(docq_db *db)
{
  dq_manifest m;
  return db->embedder && dq_store_manifest(db->store, &m) == 0 && names_other_embedder(db, &m);
}

int dq_api_sync_embedder(docq_db *db)
{
  if (!db->embedder) { /* the model was missing: back now? */
    int rc = make_embedder(db);
    return rc == DQ_EMBEDDER_MISSING ? embedder_missing(db) : rc;
  }
  dq_manifest m;
  int rc = dq_store_manifest(db->store, &m); /* rereads it if another connection committed */
  if (rc) return rc;
  if (!names_other_embedder(db, &m)) return 0;
  dq_embedder *old = db->embedder;
  if ((rc = make_embedder(db)) == DQ_EMBEDDER_MISSING) return embedder_missing(db); /* db->embedder is still the old one */
  if (rc < 0) return rc;
  dq_embedder_free(old);
  return 0;
}

DOCQ_API int docq_db_set_embedder(docq_db *db, const char *model_path, unsigned flags)
{
  DQ_ASSERT_ARG(db);
  dq_db_enter(db);
  if (db->flags & DOCQ_OPEN_READONLY) return dq_err_set(DOCQ_EINVAL, "index %s is open read-only", db->path);
  int rc = dq_store_lock_writer(db->store);
  if (!rc) rc = dq_api_sync_embedder(db); /* what the index holds now, whoever chose it */
  if (rc && !db->embedder && rc != DOCQ_ENOMEM) rc = 0; /* its model is missing: choosing another is the way out */
  if (rc) return rc;
  dq_embedder *e = NULL;
  char abs[PATH_MAX] = "";
  if (model_path) {
    if (!realpath(model_path, abs)) return dq_err_set(DOCQ_ENOTFOUND, "%s: %s", model_path, strerror(errno));
    rc = dq_embedder_gguf(&e, abs, 0);
  } else {
    rc = dq_embedder_builtin(&e);
  }
  if (rc) return rc;
  e->interrupt = &db->interrupted;
  if (db->embedder && !strcmp(e->id, db->embedder->id) && e->dim == db->embedder->dim) { /* nothing changes */
    dq_embedder_free(e);
    return 0;
  }
  dq_manifest m;
  dq_store_stats st;
  if ((rc = dq_store_manifest(db->store, &m)) || (rc = dq_store_stats_get(db->store, &st))) goto done;
  if (st.vectors && st.chunks && !(flags & DOCQ_REEMBED)) { /* refused before anything is written */
    rc = dq_err_set(DOCQ_EMISMATCH,
                    "index %s holds %llu vectors from embedder '%s'; refusing to mix them with '%s'. "
                    "Re-run with --reembed to re-encode the stored chunks with the new embedder "
                    "(documents are not reloaded), or use another index folder",
                    db->path, (unsigned long long)st.vectors, m.embedder, e->id);
    goto done;
  }
  /* The model path is part of the manifest: written with the embedder's id
   * in one transaction, so a failure or a crash leaves the index as it was. */
  snprintf(m.embedder, sizeof m.embedder, "%s", e->id);
  snprintf(m.embed_model, sizeof m.embed_model, "%s", abs);
  m.dim = e->dim;
  if (st.vectors == 0 || st.chunks == 0) rc = dq_store_set_manifest(db->store, &m);
  else rc = dq_store_reembed(db->store, &m, reembed_cb, e);
done:
  if (rc) { dq_embedder_free(e); return rc; }
  dq_embedder_free(db->embedder);
  db->embedder = e;
  return 0;
}

DOCQ_API int docq_db_set_answer_model(docq_db *db, const char *model_path)
{
  DQ_ASSERT_ARG(db);
  dq_db_enter(db);
  if (db->flags & DOCQ_OPEN_READONLY) return dq_err_set(DOCQ_EINVAL, "index %s is open read-only", db->path);
  char abs[PATH_MAX] = "";
  if (model_path && *model_path) {
    struct stat st;
    if (!realpath(model_path, abs)) return dq_err_set(DOCQ_ENOTFOUND, "%s: %s", model_path, strerror(errno));
    if (stat(abs, &st) != 0 || !S_ISREG(st.st_mode)) return dq_err_set(DOCQ_EINVAL, "%s: not a regular file", model_path);
  }
  int rc = dq_store_lock_writer(db->store);
  if (rc) return rc;
  return dq_store_meta_set(db->store, "answer_model", abs);
}

DOCQ_API int docq_db_answer_model(docq_db *db, char *out, size_t cap)
{
  DQ_ASSERT_ARG(db && out && cap);
  char path[PATH_MAX];
  int rc = dq_store_meta_get(db->store, "answer_model", path, sizeof path);
  if (rc) return rc;
  if (strlen(path) >= cap) return dq_err_set(DOCQ_EINVAL, "answer model path longer than %zu bytes", cap - 1);
  memcpy(out, path, strlen(path) + 1);
  return 0;
}

/* Close and free without writing anything (the thread's error is kept). */
static void db_release(docq_db *db)
{
  dq_store_close(db->store);
  dq_embedder_free(db->embedder);
  dq_free(db->path);
  dq_free(db);
}

DOCQ_API int docq_db_open(docq_db **out, const char *path, unsigned flags)
{
  DQ_ASSERT_ARG(out);
  *out = NULL;
  DQ_ASSERT_ARG(path && *path);
  dq_err_clear();
  docq_db *db = dq_calloc(1, sizeof *db);
  if (!db) return DOCQ_ENOMEM;
  db->flags = flags;
  db->path = dq_strdup(path);
  if (!db->path) { dq_free(db); return DOCQ_ENOMEM; }
  unsigned sflags = 0;
  if (flags & DOCQ_OPEN_READONLY) sflags |= DQ_STORE_READONLY;
  if (flags & DOCQ_OPEN_CREATE) sflags |= DQ_STORE_CREATE;
  int rc = dq_store_open(&db->store, path, sflags);
  if (!rc && (rc = make_embedder(db)) == DQ_EMBEDDER_MISSING) {
    rc = 0; /* opened without it: status, rm, a keyword search and a re-encoding still work */
    dq_log(DOCQ_LOG_WARN, "%s", db->embedder_err);
  }
  if (!rc) dq_store_set_interrupt(db->store, &db->interrupted);
  if (rc) { db_release(db); return rc; } /* not docq_db_free: its FAISS sync would replace the error */
  *out = db;
  return 0;
}

DOCQ_API void docq_db_free(docq_db *db)
{
  if (!db) return;
  /* Bring the FAISS file up to date with what this handle committed (cheap
   * when nothing changed; a failure here loses nothing: the next open
   * catches up from SQLite). */
  if (db->store && !(db->flags & DOCQ_OPEN_READONLY)) {
    int rc = dq_store_sync_vectors(db->store);
    (void)rc;
  }
  db_release(db);
}

/* A lock-free atomic store is async-signal-safe; a locked one would not be. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "docq_interrupt needs a lock-free atomic int");

DOCQ_API void docq_interrupt(docq_db *db)
{
  if (db) db->interrupted = 1;
}

/* Bytes used by the files of the index folder. */
static uint64_t folder_bytes(const char *dir)
{
  uint64_t total = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  char p[PATH_MAX];
  struct stat st;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
  }
  closedir(d);
  return total;
}

DOCQ_API int docq_stat(docq_db *db, docq_stats *out)
{
  DQ_ASSERT_ARG(db && out);
  dq_db_enter(db);
  dq_store_stats s;
  dq_manifest m;
  int rc = dq_api_sync_embedder(db);
  if (rc && !db->embedder && rc != DOCQ_ENOMEM) rc = 0, dq_err_clear(); /* its model is missing: the figures are there */
  if (!rc) rc = dq_store_stats_get(db->store, &s);
  if (!rc) rc = dq_store_manifest(db->store, &m);
  if (rc) return rc;
  memset(out, 0, sizeof *out);
  out->documents = s.documents;
  out->chunks = s.chunks;
  out->vectors = s.vectors;
  out->text_bytes = s.text_bytes;
  out->index_bytes = folder_bytes(db->path);
  out->last_run = s.last_run;
  snprintf(db->embedder_id, sizeof db->embedder_id, "%s", m.embedder[0] || !db->embedder ? m.embedder : db->embedder->id);
  snprintf(db->vec_kind, sizeof db->vec_kind, "%s", m.vec_kind);
  out->dim = m.dim || !db->embedder ? m.dim : db->embedder->dim;
  out->embedder = db->embedder_id;
  out->vector_index = db->vec_kind;
  out->format_version = m.format_version;
  out->chunk_tokens = m.chunk_tokens;
  out->chunk_overlap = m.chunk_overlap;
  if (!m.chunk_tokens && s.chunks) { /* recorded as 0 by an older docq: its chunks were made at the defaults */
    out->chunk_tokens = DQ_CHUNK_DEFAULT_TOKENS;
    out->chunk_overlap = DQ_CHUNK_DEFAULT_OVERLAP;
  }
  return 0;
}

DOCQ_API int docq_check(docq_db *db)
{
  DQ_ASSERT_ARG(db);
  dq_db_enter(db);
  return dq_store_check(db->store);
}

static const char *format_name(int f)
{
  switch (f) {
  case DQ_FMT_MARKDOWN: return "markdown";
  case DQ_FMT_HTML: return "html";
  default: return "text";
  }
}

typedef struct list_ctx { docq_doc_cb cb; void *payload; int stopped; } list_ctx;

static int list_one(void *vctx, const dq_doc_row *r)
{
  list_ctx *c = vctx;
  docq_doc_info info = {
    .id = r->id, .path = r->path, .title = r->title ? r->title : "", .format = format_name(r->format),
    .bytes = r->size, .chunks = r->n_chunks, .mtime = r->mtime, .tags = r->tags ? r->tags : "",
  };
  if (c->cb(&info, c->payload)) { c->stopped = 1; return 1; }
  return 0;
}

DOCQ_API int docq_list_documents(docq_db *db, const char *prefix, docq_doc_cb cb, void *payload)
{
  DQ_ASSERT_ARG(db && cb);
  dq_db_enter(db);
  list_ctx c = {cb, payload, 0};
  int rc = dq_store_docs(db->store, prefix, list_one, &c);
  if (c.stopped) return dq_err_set(DOCQ_ECANCELED, "listing stopped by the callback");
  return rc;
}

typedef struct ids_ctx { int64_t *ids; size_t n, cap; } ids_ctx;

static int collect_id(void *vctx, const dq_doc_row *r)
{
  ids_ctx *c = vctx;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    int64_t *p = dq_realloc(c->ids, cap * sizeof *p);
    if (!p) return DOCQ_ENOMEM;
    c->ids = p;
    c->cap = cap;
  }
  c->ids[c->n++] = r->id;
  return 0;
}

char *dq_api_canonical_path(const char *path)
{
  char buf[PATH_MAX], dir[PATH_MAX];
  if (realpath(path, buf)) return dq_strdup(buf);
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  if (n == 0 || n >= sizeof dir) return dq_strdup(path);
  memcpy(dir, path, n);
  dir[n] = 0;
  char *slash = strrchr(dir, '/');
  const char *base = slash ? slash + 1 : dir, *parent = ".";
  if (slash == dir) parent = "/";
  else if (slash) { *slash = 0; parent = dir; }
  if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || !realpath(parent, buf)) return dq_strdup(path);
  dq_buf b = {0};
  dq_buf_printf(&b, "%s/%s", strcmp(buf, "/") ? buf : "", base);
  if (b.oom) { dq_buf_free(&b); return NULL; }
  return dq_buf_detach(&b);
}

DOCQ_API int docq_remove(docq_db *db, const char *path, uint64_t *n_removed)
{
  DQ_ASSERT_ARG(db && path);
  dq_db_enter(db);
  if (n_removed) *n_removed = 0;
  if (db->flags & DOCQ_OPEN_READONLY) return dq_err_set(DOCQ_EINVAL, "index %s is open read-only", db->path);
  int rc = dq_store_lock_writer(db->store);
  if (rc) return rc;
  char *p = dq_api_canonical_path(path);
  if (!p) return DOCQ_ENOMEM;
  ids_ctx c = {0};
  dq_doc_row row = {0};
  if (dq_store_doc_by_path(db->store, p, &row) == 0) {
    rc = collect_id(&c, &row);
    dq_doc_row_clear(&row);
  } else if (dq_store_doc_by_path(db->store, path, &row) == 0) { /* in-memory id */
    rc = collect_id(&c, &row);
    dq_doc_row_clear(&row);
  } else {
    /* a folder: everything under "<p>/" */
    size_t n = strlen(p);
    char *prefix = dq_malloc(n + 2);
    if (!prefix) { dq_free(p); return DOCQ_ENOMEM; }
    memcpy(prefix, p, n);
    prefix[n] = '/';
    prefix[n + 1] = 0;
    if (n && p[n - 1] == '/') prefix[n] = 0;
    rc = dq_store_docs(db->store, prefix, collect_id, &c);
    dq_free(prefix);
  }
  if (!rc && c.n == 0) rc = dq_err_set(DOCQ_ENOTFOUND, "%s: no such document in the index", path);
  for (size_t i = 0; !rc && i < c.n; i++) {
    /* each removal is its own transaction: Ctrl-C stops between them */
    if (db->interrupted) {
      rc = dq_err_set(DOCQ_ECANCELED, "interrupted after removing %zu of %zu documents; run it again to remove the rest",
                      i, c.n);
      break;
    }
    rc = dq_store_begin(db->store);
    if (!rc) rc = dq_store_remove_doc(db->store, c.ids[i]);
    if (!rc) rc = dq_store_commit(db->store);
    else dq_store_rollback(db->store);
    if (!rc && n_removed) (*n_removed)++;
  }
  if (rc == DOCQ_ECANCELED) dq_store_sync_vectors(db->store); /* what was removed stays removed; keep the error */
  else if (!rc) rc = dq_store_sync_vectors(db->store);
  dq_free(c.ids);
  dq_free(p);
  return rc;
}
