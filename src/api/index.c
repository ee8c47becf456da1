/* Public API: indexing (docq_index_paths, docq_add_document).
 *
 * The pipeline, per run:
 *   1. walk the roots into a sorted file list (skips reported);
 *   2. classify each file against the store: (mtime, size) unchanged -> done
 *      without reading; documents under a root whose file is gone are
 *      "vanished" (candidates for rename, else removed at the end);
 *   3. a worker thread prepares the changed files in order: read, SHA-256,
 *      and -- unless the hash shows a touch or a rename -- load, chunk and
 *      embed; the calling thread commits each prepared file in its own SQL
 *      transaction (the store is single-threaded), so two cores overlap the
 *      CPU work with the writes;
 *   4. vanished documents nobody claimed are removed; the FAISS file is
 *      synced once at the end (the store catches up after a crash).
 * Every committed file is durable on its own: an interruption, Ctrl-C or
 * kill -9 loses at most the file in flight, and the next run finishes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/db_internal.h"
#include "indexer/chunk.h"
#include "indexer/loader.h"
#include "indexer/normalize.h"
#include "indexer/walk.h"
#include "util/err.h"
#include "util/log.h"
#include "util/clock.h"
#include "util/mem.h"
#include "util/sha256.h"

/* ---- small helpers -------------------------------------------------------- */

static void json_escape(dq_buf *b, const char *s)
{
  dq_buf_putc(b, '"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { dq_buf_putc(b, '\\'); dq_buf_putc(b, (char)c); }
    else if (c < 0x20) dq_buf_printf(b, "\\u%04x", c);
    else dq_buf_putc(b, (char)c);
  }
  dq_buf_putc(b, '"');
}

/* "YYYY-MM-DD..." -> epoch seconds (UTC midnight); 0 when not a date. */
static int64_t parse_date(const char *s)
{
  int y, m, d;
  if (!s || sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 || d > 31) return 0;
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  const time_t t = timegm(&tm);
  /* a day its month does not have (2026-02-31) is no date, not March 3rd */
  struct tm back;
  if (!gmtime_r(&t, &back) || back.tm_mday != d || back.tm_mon != m - 1) return 0;
  return (int64_t)t;
}

/* Read a whole file with a size limit. Messages name the file. The path
 * was a regular file when the walk saw it, but may be a FIFO or a device by
 * now: O_NONBLOCK keeps open() from waiting for a FIFO's writer, and fstat
 * then refuses what is not a regular file (regular files ignore the flag). */
static int read_file(const char *path, uint64_t max_bytes, char **out, size_t *n_out)
{
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return dq_err_set(DOCQ_ENOTFOUND, "%s: file disappeared while indexing", path);
    return dq_err_set(DOCQ_EIO, "%s: cannot open: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > max_bytes) {
    close(fd);
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: too large (%.1f MiB > %.1f MiB limit)", path,
                      st.st_size / 1048576.0, max_bytes / 1048576.0);
  }
  size_t cap = (size_t)st.st_size, n = 0;
  char *buf = dq_malloc(cap + 1);
  if (!buf) { close(fd); return DOCQ_ENOMEM; }
  for (;;) {
    if (n == cap) { /* the file grew while we read it: read what the limit allows */
      if (cap >= max_bytes) break;
      size_t ncap = cap * 2 + 4096;
      if (ncap > max_bytes) ncap = (size_t)max_bytes;
      char *p = dq_realloc(buf, ncap + 1);
      if (!p) { dq_free(buf); close(fd); return DOCQ_ENOMEM; }
      buf = p;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      dq_free(buf);
      close(fd);
      return dq_err_set(DOCQ_EIO, "%s: read error: %s", path, strerror(e));
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  *out = buf;
  *n_out = n;
  return 0;
}

/* ---- prepared documents ----------------------------------------------------- */

typedef enum { PREP_NEW = 0, PREP_TOUCH, PREP_RENAME, PREP_SKIP } prep_kind;

typedef struct file_item {
  char *path;
  uint64_t size;
  int64_t mtime, mtime_ns; /* as the walk saw them */
  int64_t read_at_ns;      /* wall clock when the worker began reading it */
  uint64_t n_read;         /* bytes the worker read (0: not read: too large, gone, ...) */
  int64_t old_id;        /* existing document at this path, or 0 */
  char old_hash[65];
  /* filled by the worker */
  prep_kind kind;
  char hash[65];
  int64_t rename_from;   /* vanished document with the same hash */
  dq_doc *doc;
  dq_chunk *chunks; size_t n_chunks;
  float *vecs;
  int err;               /* a skip: code and message */
  char *errmsg;
  int ready;
} file_item;

/* A stored document the walk did not list: deleted (why NULL) or excluded
 * now (why says how); removed at the end unless a renamed file claims it. */
typedef struct vanished { int64_t id; char hash[65]; int format; char *path; const char *why; int claimed; } vanished;

typedef struct run {
  docq_db *db;
  const docq_index_options *o;
  dq_chunk_opts copts;
  uint64_t max_bytes;
  file_item *items; size_t n_items, cap_items;
  vanished *gone; size_t n_gone, cap_gone;
  char **unread; size_t n_unread, cap_unread; /* paths the walk could not read, sorted */
  int unread_oom;
  /* worker hand-off */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t next_prepare;   /* worker's next item */
  size_t next_commit;    /* main's next item */
  int stop;
  docq_index_stats st;
  docq_progress prog;
  double last_progress;
} run;

static void item_clear_work(file_item *it)
{
  dq_doc_free(it->doc);
  it->doc = NULL;
  dq_chunks_free(it->chunks, it->n_chunks);
  it->chunks = NULL;
  it->n_chunks = 0;
  dq_free(it->vecs);
  it->vecs = NULL;
}

static void item_free(file_item *it)
{
  item_clear_work(it);
  dq_free(it->path);
  dq_free(it->errmsg);
}

/* A vanished document this file is a rename of: the same bytes, read as the
 * same format (a .txt renamed .md is re-chunked as Markdown, not renamed). */
static vanished *find_gone_by_hash(run *r, const char *hash, int format)
{
  for (size_t i = 0; i < r->n_gone; i++)
    if (!r->gone[i].claimed && r->gone[i].format == format && strcmp(r->gone[i].hash, hash) == 0) return &r->gone[i];
  return NULL;
}

/* Claim a vanished document for `it` (loaded, not yet chunked): 1 when it is
 * a rename, committed without re-chunking or re-embedding. */
static int claim_rename(run *r, file_item *it)
{
  pthread_mutex_lock(&r->mu);
  vanished *g = it->old_id ? NULL : find_gone_by_hash(r, it->hash, (int)it->doc->format);
  if (g) { g->claimed = 1; it->rename_from = g->id; it->kind = PREP_RENAME; }
  pthread_mutex_unlock(&r->mu);
  return g != NULL;
}

static int64_t wall_ns(void)
{
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* What to store as mtime_ns. A file modified less than 2 s before it was read
 * might be written again within the same timestamp tick (coarse clocks, FAT's
 * 2 s, a jiffy on Linux) with the same size: its stamp would not change. Such
 * a file is stored RACY, so the next run hashes it again (as git does). */
#define DQ_RACY_NS 2000000000LL
static int64_t stamp_to_store(const file_item *it)
{
  int64_t m = it->mtime * 1000000000 + it->mtime_ns;
  return m + DQ_RACY_NS > it->read_at_ns ? DQ_MTIME_NS_RACY : it->mtime_ns;
}

/* Chunk and embed a loaded document into `it`. Thread-safe (no store access). */
static int chunk_and_embed(run *r, file_item *it)
{
  int rc = dq_chunk_doc(it->doc, &r->copts, &it->chunks, &it->n_chunks);
  if (rc || it->n_chunks == 0) return rc;
  dq_embedder *e = r->db->embedder;
  size_t bytes;
  if (dq_mul_ovf(it->n_chunks, (size_t)e->dim * sizeof(float), &bytes)) return dq_err_set(DOCQ_ENOMEM, "too many chunks");
  it->vecs = dq_malloc(bytes);
  const char **texts = dq_malloc(it->n_chunks * sizeof *texts);
  size_t *lens = dq_malloc(it->n_chunks * sizeof *lens);
  if (!it->vecs || !texts || !lens) { dq_free(texts); dq_free(lens); return DOCQ_ENOMEM; }
  for (size_t i = 0; i < it->n_chunks; i++) { texts[i] = it->chunks[i].clean; lens[i] = it->chunks[i].clean_len; }
  rc = dq_embed(e, texts, lens, it->n_chunks, 0, it->vecs);
  dq_free(texts);
  dq_free(lens);
  return rc;
}

/* Load (from memory, format given), chunk and embed. */
static int prepare_text(run *r, file_item *it, const char *name, const char *data, size_t n, dq_format fmt)
{
  int rc = dq_load_buffer(name, data, n, fmt, &it->doc);
  return rc ? rc : chunk_and_embed(r, it);
}

/* Ctrl-C between the worker's stages: the main thread stops waiting for it
 * at once, and joins it when its current stage ends. */
static int worker_interrupted(const run *r)
{
  return r->db->interrupted ? dq_err_set(DOCQ_ECANCELED, "indexing interrupted") : 0;
}

/* The worker's job for one file. Errors become skips with a reason. */
static void prepare_file(run *r, file_item *it)
{
  char *data = NULL;
  size_t n = 0;
  it->read_at_ns = wall_ns();
  int rc = read_file(it->path, r->max_bytes, &data, &n);
  it->n_read = n;
  if (!rc) rc = worker_interrupted(r);
  if (!rc) {
    dq_sha256_hex(data, n, it->hash);
    if (it->old_id && strcmp(it->hash, it->old_hash) == 0) {
      it->kind = PREP_TOUCH;
    } else {
      /* the loader's file rules: binary and non-UTF-8 unknown files are
       * skipped; a rename is loaded too, for what its new name gives (title, format) */
      rc = dq_load_file_bytes(it->path, data, n, &it->doc);
      if (!rc) rc = worker_interrupted(r);
      if (!rc && !claim_rename(r, it)) rc = chunk_and_embed(r, it);
    }
  }
  dq_free(data);
  if (rc) {
    item_clear_work(it);
    it->kind = PREP_SKIP;
    it->err = rc;
    it->errmsg = dq_strdup(dq_err_msg());
  }
}

/* Wait (mu held) until item `it` is prepared or Ctrl-C comes: 0 or
 * DOCQ_ECANCELED. The worker may be busy with a large file for seconds. */
static int wait_prepared(run *r, const file_item *it)
{
  while (!it->ready) {
    if (r->db->interrupted) return dq_err_set(DOCQ_ECANCELED, "indexing interrupted");
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100 * 1000000L;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&r->cv, &r->mu, &until);
  }
  return 0;
}

static void *worker_main(void *arg)
{
  run *r = arg;
  for (;;) {
    pthread_mutex_lock(&r->mu);
    /* stay at most 4 files ahead of the committer, to bound memory */
    while (!r->stop && r->next_prepare < r->n_items && r->next_prepare >= r->next_commit + 4)
      pthread_cond_wait(&r->cv, &r->mu);
    if (r->stop || r->next_prepare >= r->n_items) { pthread_mutex_unlock(&r->mu); break; }
    file_item *it = &r->items[r->next_prepare++];
    pthread_mutex_unlock(&r->mu);
    if (it->kind != PREP_SKIP) prepare_file(r, it);
    pthread_mutex_lock(&r->mu);
    it->ready = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
  }
  return NULL;
}

/* ---- committing -------------------------------------------------------------- */

static void report(run *r, const char *path, docq_file_status s, const char *reason)
{
  if (r->o->on_file) r->o->on_file(path, s, reason, r->o->payload);
}

static int progress(run *r, int force)
{
  if (r->db->interrupted) return dq_err_set(DOCQ_ECANCELED, "indexing interrupted");
  if (!r->o->progress) return 0;
  double t = dq_now();
  if (!force && t - r->last_progress < 0.1) return 0;
  r->last_progress = t;
  if (r->o->progress(&r->prog, r->o->payload))
    return dq_err_set(DOCQ_ECANCELED, "indexing canceled by the progress callback");
  return 0;
}

/* A stage ends: its last state is reported whatever the 100 ms throttle
 * says, then the next stage's start (an app shows every stage, however
 * short). Nothing is reported after a failure (rc). */
static int next_stage(run *r, int rc, docq_stage next)
{
  if (!rc) rc = progress(r, 1);
  r->prog.stage = next;
  if (!rc) rc = progress(r, 1);
  return rc;
}

static int join_tags(const dq_doc *d, char **out)
{
  dq_buf b = {0};
  for (size_t i = 0; i < d->n_tags; i++) {
    if (i) dq_buf_putc(&b, ',');
    dq_buf_puts(&b, d->tags[i]);
  }
  if (b.oom) { dq_buf_free(&b); return DOCQ_ENOMEM; }
  *out = dq_buf_detach(&b);
  return *out ? 0 : DOCQ_ENOMEM;
}

static int aliases_json(const dq_doc *d, const char *extra_json, char **out)
{
  *out = NULL;
  if (!d->n_aliases && !extra_json) return 0;
  if (!d->n_aliases) { *out = dq_strdup(extra_json); return *out ? 0 : DOCQ_ENOMEM; }
  dq_buf b = {0};
  dq_buf_puts(&b, "{\"aliases\":[");
  for (size_t i = 0; i < d->n_aliases; i++) {
    if (i) dq_buf_putc(&b, ',');
    json_escape(&b, d->aliases[i]);
  }
  dq_buf_puts(&b, "]");
  if (extra_json) { dq_buf_puts(&b, ",\"metadata\":"); dq_buf_puts(&b, extra_json); }
  dq_buf_puts(&b, "}");
  if (b.oom) { dq_buf_free(&b); return DOCQ_ENOMEM; }
  *out = dq_buf_detach(&b);
  return 0;
}

/* A document's date: its front matter's, else the file's mtime. */
static int64_t doc_date(const dq_doc *doc, int64_t mtime)
{
  int64_t d = parse_date(doc->date);
  return d ? d : mtime;
}

/* Write one loaded document (replacing any at the same path) in one transaction. */
static int store_doc(docq_db *db, const char *path, const char *hash, int64_t mtime, int64_t mtime_ns, uint64_t size,
                     const dq_doc *doc, const dq_chunk *chunks, size_t n_chunks, const float *vecs,
                     const char *meta_json)
{
  dq_doc_row row = {0};
  row.path = (char *)path;
  row.title = doc->title;
  row.format = doc->format;
  snprintf(row.hash, sizeof row.hash, "%s", hash);
  row.mtime = mtime;
  row.mtime_ns = mtime_ns;
  row.size = size;
  row.date = doc_date(doc, mtime);
  int rc = join_tags(doc, &row.tags);
  if (!rc) rc = aliases_json(doc, meta_json, &row.meta_json);
  if (!rc) rc = dq_store_begin(db->store);
  if (!rc) {
    rc = dq_store_put_doc(db->store, &row, chunks, n_chunks, vecs);
    if (!rc) rc = dq_store_commit(db->store);
    else dq_store_rollback(db->store);
  }
  dq_free(row.tags);
  dq_free(row.meta_json);
  return rc;
}

static int in_txn(docq_db *db, int rc)
{
  if (!rc) return dq_store_commit(db->store);
  dq_store_rollback(db->store);
  return rc;
}

/* An indexed file that can no longer be indexed (binary now, too large, no
 * longer a regular file): its old text is no longer in it, so search must not
 * cite it. The skip says so; a read error (EIO) keeps the document instead,
 * as the file may come back as it was. */
static int remove_unindexable(run *r, file_item *it)
{
  docq_db *db = r->db;
  int rc = dq_store_begin(db->store);
  if (!rc) rc = in_txn(db, dq_store_remove_doc(db->store, it->old_id));
  if (rc) return rc;
  char why[1024];
  snprintf(why, sizeof why, "%s; its earlier version was removed from the index", it->errmsg ? it->errmsg : "skipped");
  r->st.skipped++;
  r->st.removed++;
  report(r, it->path, DOCQ_FILE_SKIPPED, why);
  report(r, it->path, DOCQ_FILE_REMOVED, NULL);
  dq_log(DOCQ_LOG_WARN, "%s", why);
  return 0;
}

static int commit_item(run *r, file_item *it)
{
  docq_db *db = r->db;
  int rc = 0;
  switch (it->kind) {
  case PREP_SKIP:
    /* the worker saw Ctrl-C while preparing it: not the file's fault */
    if (it->err == DOCQ_ECANCELED) return dq_err_set(DOCQ_ECANCELED, "indexing interrupted");
    if (it->err == DOCQ_ENOTFOUND && it->old_id && r->o->remove_missing) {
      /* Indexed before, deleted after the walk saw it: gone now, as if it had
       * vanished before the run (not left behind until the next one). */
      rc = dq_store_begin(db->store);
      if (!rc) rc = in_txn(db, dq_store_remove_doc(db->store, it->old_id));
      if (!rc) { r->st.removed++; report(r, it->path, DOCQ_FILE_REMOVED, NULL); }
      return rc;
    }
    if (it->err == DOCQ_EUNSUPPORTED && it->old_id && r->o->remove_missing)
      return remove_unindexable(r, it);
    r->st.skipped++;
    report(r, it->path, DOCQ_FILE_SKIPPED, it->errmsg ? it->errmsg : "skipped");
    dq_log(DOCQ_LOG_WARN, "%s", it->errmsg ? it->errmsg : it->path);
    return 0;
  case PREP_TOUCH:
    rc = dq_store_begin(db->store);
    if (!rc) rc = in_txn(db, dq_store_touch_doc(db->store, it->old_id, it->mtime, stamp_to_store(it), it->size));
    if (!rc) { r->st.unchanged++; report(r, it->path, DOCQ_FILE_UNCHANGED, NULL); }
    return rc;
  case PREP_RENAME: {
    /* what the new name gives, as a fresh index would have it */
    dq_doc_row to = {0};
    to.path = it->path;
    to.title = it->doc->title;
    to.mtime = it->mtime;
    to.mtime_ns = stamp_to_store(it);
    to.date = doc_date(it->doc, it->mtime);
    rc = dq_store_begin(db->store);
    if (!rc) rc = in_txn(db, dq_store_rename_doc(db->store, it->rename_from, &to));
    if (!rc) { r->st.renamed++; report(r, it->path, DOCQ_FILE_RENAMED, NULL); }
    return rc;
  }
  case PREP_NEW:
    break;
  }
  rc = store_doc(db, it->path, it->hash, it->mtime, stamp_to_store(it), it->size, it->doc, it->chunks, it->n_chunks,
                 it->vecs, NULL);
  if (rc) return rc;
  r->st.chunks_added += it->n_chunks;
  r->prog.chunks_done += it->n_chunks;
  if (it->old_id) { r->st.updated++; report(r, it->path, DOCQ_FILE_UPDATED, NULL); }
  else { r->st.added++; report(r, it->path, DOCQ_FILE_ADDED, NULL); }
  if (it->doc->n_repaired) {
    char why[128];
    snprintf(why, sizeof why, "invalid UTF-8 replaced with U+FFFD (%zu sequences)", it->doc->n_repaired);
    r->st.repaired++;
    report(r, it->path, DOCQ_FILE_REPAIRED, why);
    dq_log(DOCQ_LOG_WARN, "%s: %s", it->path, why);
  }
  return 0;
}

/* ---- walking and classifying ------------------------------------------------------ */

static int on_walk_file(void *ctx, const dq_walk_file *f)
{
  run *r = ctx;
  if (r->n_items == r->cap_items) {
    size_t cap = r->cap_items ? r->cap_items * 2 : 256;
    file_item *p = dq_realloc(r->items, cap * sizeof *p);
    if (!p) return DOCQ_ENOMEM;
    r->items = p;
    r->cap_items = cap;
  }
  file_item *it = &r->items[r->n_items];
  memset(it, 0, sizeof *it);
  it->path = dq_strdup(f->path);
  if (!it->path) return DOCQ_ENOMEM;
  it->size = f->size;
  it->mtime = f->mtime;
  it->mtime_ns = f->mtime_ns;
  r->n_items++;
  r->prog.files_total = r->n_items;
  r->prog.bytes_total += f->size;
  return progress(r, 0);
}

static void on_walk_skip(void *ctx, const char *path, const char *reason)
{
  run *r = ctx;
  r->st.skipped++;
  report(r, path, DOCQ_FILE_SKIPPED, reason);
}

static void on_walk_unread(void *ctx, const char *path)
{
  run *r = ctx;
  if (r->n_unread == r->cap_unread) {
    size_t cap = r->cap_unread ? r->cap_unread * 2 : 16;
    char **p = dq_realloc(r->unread, cap * sizeof *p);
    if (!p) { r->unread_oom = 1; return; }
    r->unread = p;
    r->cap_unread = cap;
  }
  char *copy = dq_strdup(path);
  if (!copy) { r->unread_oom = 1; return; }
  r->unread[r->n_unread++] = copy;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int has_unread(const run *r, const char *path)
{
  size_t lo = 0, hi = r->n_unread;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(r->unread[mid], path);
    if (!c) return 1;
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  return 0;
}

/* Is path, or a folder above it, one the walk could not read? */
static int under_unread(const run *r, const char *path)
{
  if (!r->n_unread) return 0;
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n >= sizeof buf) return 0;
  memcpy(buf, path, n + 1);
  for (size_t i = n; i > 0; i--) {
    if (i < n && buf[i] != '/') continue;
    buf[i] = 0;
    if (has_unread(r, buf)) return 1;
  }
  return 0;
}

static int cmp_item(const void *a, const void *b)
{
  return strcmp(((const file_item *)a)->path, ((const file_item *)b)->path);
}

static int find_item(const run *r, const char *path)
{
  size_t lo = 0, hi = r->n_items;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(r->items[mid].path, path);
    if (!c) return 1;
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  return 0;
}

/* A stored document under a walked folder that the walk did not list: is it
 * confirmed gone? Deleted (ENOENT, ENOTDIR: *why NULL), or still there but
 * excluded now (ignored, hidden, no longer a regular file: *why says so) is
 * gone; anything else (EACCES on a folder above it, EIO) is not confirmed,
 * and a document is never removed on an error. */
static int confirmed_gone(const char *path, const char **why)
{
  struct stat st;
  *why = NULL;
  if (stat(path, &st) != 0) return errno == ENOENT || errno == ENOTDIR;
  *why = S_ISREG(st.st_mode) ? "excluded now (.docqignore, a hidden folder or a docq index folder above it)"
                             : "no longer a regular file";
  return 1;
}

static int collect_gone(void *ctx, const dq_doc_row *row)
{
  run *r = ctx;
  if (row->mtime == 0 && row->path[0] != '/') return 0; /* in-memory document */
  if (find_item(r, row->path)) return 0;
  if (under_unread(r, row->path)) return 0; /* could not be read this time: kept */
  const char *why;
  if (!confirmed_gone(row->path, &why)) return 0;
  if (r->n_gone == r->cap_gone) {
    size_t cap = r->cap_gone ? r->cap_gone * 2 : 64;
    vanished *p = dq_realloc(r->gone, cap * sizeof *p);
    if (!p) return DOCQ_ENOMEM;
    r->gone = p;
    r->cap_gone = cap;
  }
  vanished *g = &r->gone[r->n_gone];
  memset(g, 0, sizeof *g);
  g->id = row->id;
  snprintf(g->hash, sizeof g->hash, "%s", row->hash);
  g->format = row->format;
  g->why = why;
  g->path = dq_strdup(row->path);
  if (!g->path) return DOCQ_ENOMEM;
  r->n_gone++;
  return 0;
}

/* Which stored documents are unchanged, which need work. */
static int classify(run *r)
{
  for (size_t i = 0; i < r->n_items; i++) {
    file_item *it = &r->items[i];
    dq_doc_row row = {0};
    int rc = dq_store_doc_by_path(r->db->store, it->path, &row);
    if (rc == DOCQ_ENOTFOUND) { dq_err_clear(); continue; }
    if (rc) return rc;
    it->old_id = row.id;
    snprintf(it->old_hash, sizeof it->old_hash, "%s", row.hash);
    int64_t ns;
    rc = dq_store_doc_mtime_ns(r->db->store, row.id, &ns);
    if (rc) { dq_doc_row_clear(&row); return rc; }
    if (row.mtime == it->mtime && row.size == it->size && (ns == it->mtime_ns || ns == DQ_MTIME_NS_UNKNOWN)) {
      it->kind = PREP_SKIP; /* reuse SKIP to mean "no work"; errmsg NULL marks unchanged */
      it->ready = 1;
    }
    dq_doc_row_clear(&row);
  }
  return 0;
}

static int check_manifest(run *r)
{
  docq_db *db = r->db;
  dq_manifest m;
  int rc = dq_api_sync_embedder(db); /* another handle may have chosen it since the open */
  if (!rc) rc = dq_store_manifest(db->store, &m);
  if (rc) return rc;
  unsigned want_tokens = r->o->chunk_tokens ? r->o->chunk_tokens : 0;
  unsigned want_overlap = r->o->chunk_overlap != (unsigned)-1 ? r->o->chunk_overlap : (unsigned)-1;
  if (!m.embedder[0] || !m.chunk_tokens) {
    /* The first run chooses the chunking, also when docq_db_set_embedder
     * chose the embedder before it. Chunks already there (a docq that
     * recorded 0) were made at the defaults. */
    dq_store_stats st;
    if ((rc = dq_store_stats_get(db->store, &st))) return rc;
    if (!m.embedder[0]) {
      snprintf(m.embedder, sizeof m.embedder, "%s", db->embedder->id);
      m.dim = db->embedder->dim;
    }
    m.chunk_tokens = want_tokens && !st.chunks ? want_tokens : DQ_CHUNK_DEFAULT_TOKENS;
    m.chunk_overlap = want_overlap != (unsigned)-1 && !st.chunks ? want_overlap : DQ_CHUNK_DEFAULT_OVERLAP;
    if (m.chunk_overlap >= m.chunk_tokens) /* each chunk would repeat the last one whole */
      return dq_err_set(DOCQ_EINVAL, "chunk overlap (%u tokens) must be smaller than the chunk size (%u tokens)",
                        m.chunk_overlap, m.chunk_tokens);
    rc = dq_store_set_manifest(db->store, &m);
    if (rc) return rc;
  }
  if ((want_tokens && want_tokens != m.chunk_tokens) ||
             (want_overlap != (unsigned)-1 && want_overlap != m.chunk_overlap)) {
    return dq_err_set(DOCQ_EMISMATCH,
                      "index %s was built with chunks of %u tokens (overlap %u); to change the chunking, "
                      "delete the index folder and index again",
                      db->path, m.chunk_tokens, m.chunk_overlap);
  }
  r->copts.target_tokens = m.chunk_tokens;
  r->copts.overlap_tokens = m.chunk_overlap;
  return 0;
}

/* Canonical absolute path of a root; DOCQ_ENOTFOUND names it, and says how
 * to remove it when it is a document deleted since it was indexed. */
static int canonical_root(docq_db *db, const char *p, char **out)
{
  char buf[PATH_MAX];
  if (realpath(p, buf)) {
    *out = dq_strdup(buf);
    return *out ? 0 : DOCQ_ENOMEM;
  }
  const int e = errno;
  char *abs = dq_api_canonical_path(p);
  dq_doc_row row = {0};
  int indexed = abs && dq_store_doc_by_path(db->store, abs, &row) == 0;
  if (indexed) dq_doc_row_clear(&row);
  int rc = indexed ? dq_err_set(DOCQ_ENOTFOUND, "%s: %s, but it is still in the index; `docq rm %s` removes it", p,
                                strerror(e), abs)
                   : dq_err_set(DOCQ_ENOTFOUND, "%s: %s", p, strerror(e));
  dq_free(abs);
  return rc;
}

DOCQ_API int docq_index_paths(docq_db *db, const char *const *paths, size_t n_paths,
                              const docq_index_options *opts, docq_index_stats *stats)
{
  DQ_ASSERT_ARG(db);
  DQ_ASSERT_ARG(paths || n_paths == 0);
  for (size_t i = 0; i < n_paths; i++)
    if (!paths[i]) return dq_err_set(DOCQ_EINVAL, "paths[%zu] is NULL", i);
  dq_db_enter(db);
  docq_index_options defaults = DOCQ_INDEX_OPTIONS_INIT;
  if (!opts) opts = &defaults;
  if (opts->version != DOCQ_INDEX_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_index_options version %u is not supported", opts->version);
  if (db->flags & DOCQ_OPEN_READONLY) return dq_err_set(DOCQ_EINVAL, "index %s is open read-only", db->path);
  if (stats) memset(stats, 0, sizeof *stats);

  run r;
  memset(&r, 0, sizeof r);
  r.db = db;
  r.o = opts;
  r.max_bytes = opts->max_file_bytes ? opts->max_file_bytes : (64u << 20);
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cv, NULL);
  double t0 = dq_now();
  char **roots = NULL;
  pthread_t worker;
  int worker_started = 0;

  int rc = dq_store_lock_writer(db->store);
  if (!rc) rc = check_manifest(&r);
  if (!rc) {
    roots = dq_calloc(n_paths ? n_paths : 1, sizeof *roots);
    if (!roots) rc = DOCQ_ENOMEM;
  }
  for (size_t i = 0; !rc && i < n_paths; i++) rc = canonical_root(db, paths[i], &roots[i]);

  /* 1. walk */
  r.prog.stage = DOCQ_STAGE_SCAN;
  dq_walk_cbs cbs = {on_walk_file, on_walk_skip, &r, on_walk_unread};
  for (size_t i = 0; !rc && i < n_paths; i++) rc = dq_walk(roots[i], &cbs);
  if (!rc && r.unread_oom) rc = DOCQ_ENOMEM;
  if (!rc && r.n_unread > 1) qsort(r.unread, r.n_unread, sizeof *r.unread, cmp_str);
  if (!rc && r.n_items > 1) qsort(r.items, r.n_items, sizeof *r.items, cmp_item);
  /* drop duplicates (overlapping roots) */
  if (!rc && r.n_items > 1) {
    size_t w = 1;
    for (size_t i = 1; i < r.n_items; i++) {
      if (strcmp(r.items[i].path, r.items[w - 1].path) == 0) { item_free(&r.items[i]); continue; }
      r.items[w++] = r.items[i];
    }
    r.n_items = w;
    r.prog.files_total = w;
  }

  /* 2. classify; vanished documents under folder roots */
  if (!rc) rc = classify(&r);
  for (size_t i = 0; !rc && i < n_paths; i++) {
    struct stat st;
    if (!opts->remove_missing || stat(roots[i], &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    size_t n = strlen(roots[i]);
    char *prefix = dq_malloc(n + 2);
    if (!prefix) { rc = DOCQ_ENOMEM; break; }
    memcpy(prefix, roots[i], n);
    if (n == 1) prefix[1] = 0; else { prefix[n] = '/'; prefix[n + 1] = 0; }
    rc = dq_store_docs(db->store, prefix, collect_gone, &r);
    dq_free(prefix);
  }

  /* 3. prepare (worker) and commit (here), in order */
  rc = next_stage(&r, rc, DOCQ_STAGE_LOAD);
  if (!rc && r.n_items) {
    if (pthread_create(&worker, NULL, worker_main, &r) != 0)
      rc = dq_err_set(DOCQ_ERROR, "cannot start the indexing thread");
    else
      worker_started = 1;
  }
  while (!rc && r.next_commit < r.n_items) {
    file_item *it = &r.items[r.next_commit];
    pthread_mutex_lock(&r.mu);
    rc = wait_prepared(&r, it);
    pthread_mutex_unlock(&r.mu);
    if (rc) break;
    r.prog.current_path = it->path;
    if (it->kind == PREP_SKIP && !it->errmsg) {
      r.st.unchanged++;
      report(&r, it->path, DOCQ_FILE_UNCHANGED, NULL);
    } else {
      rc = commit_item(&r, it);
      if (rc && rc != DOCQ_ECANCELED) {
        /* say which file the run stopped at (the store's message names the index) */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", dq_err_msg());
        dq_err_set(rc, "%s: not stored: %s", it->path, msg);
      }
    }
    r.st.bytes_read += it->n_read;
    item_clear_work(it);
    r.prog.files_done++;
    r.prog.bytes_done += it->size;
    pthread_mutex_lock(&r.mu);
    r.next_commit++;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    if (!rc) rc = progress(&r, 0);
  }
  if (worker_started) {
    pthread_mutex_lock(&r.mu);
    r.stop = 1;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    pthread_join(worker, NULL);
  }

  /* 4. remove what vanished and was not renamed; sync FAISS */
  rc = next_stage(&r, rc, DOCQ_STAGE_STORE);
  r.prog.current_path = NULL;
  for (size_t i = 0; !rc && i < r.n_gone; i++) {
    if (r.gone[i].claimed) continue;
    if ((rc = progress(&r, 0)) != 0) break; /* each removal is its own transaction: stop between them */
    rc = dq_store_begin(db->store);
    if (!rc) rc = in_txn(db, dq_store_remove_doc(db->store, r.gone[i].id));
    if (!rc) { r.st.removed++; report(&r, r.gone[i].path, DOCQ_FILE_REMOVED, r.gone[i].why); }
  }
  {
    /* Sync even after a failure or cancel: what was committed stays, and
     * the FAISS file should not lag further than it must. Keep the first error. */
    int saved = rc;
    char msg[1024];
    if (saved) snprintf(msg, sizeof msg, "%s", dq_err_msg());
    int rc2 = dq_store_sync_vectors(db->store);
    if (!rc2) rc2 = dq_store_set_last_run(db->store, (int64_t)time(NULL));
    if (saved) dq_err_set(saved, "%s", msg);
    else rc = rc2;
  }
  if (!rc) { int prc = next_stage(&r, rc, DOCQ_STAGE_DONE); (void)prc; } /* the run is complete: a cancel here changes nothing */

  r.st.seconds = dq_now() - t0;
  if (stats) *stats = r.st;
  for (size_t i = 0; i < r.n_items; i++) item_free(&r.items[i]);
  dq_free(r.items);
  for (size_t i = 0; i < r.n_gone; i++) dq_free(r.gone[i].path);
  dq_free(r.gone);
  for (size_t i = 0; i < r.n_unread; i++) dq_free(r.unread[i]);
  dq_free(r.unread);
  for (size_t i = 0; roots && i < n_paths; i++) dq_free(roots[i]);
  dq_free(roots);
  pthread_mutex_destroy(&r.mu);
  pthread_cond_destroy(&r.cv);
  return rc;
}

static dq_format format_from_name(const char *f)
{
  if (!f || !strcmp(f, "text") || !strcmp(f, "txt")) return DQ_FMT_TEXT;
  if (!strcmp(f, "markdown") || !strcmp(f, "md")) return DQ_FMT_MARKDOWN;
  if (!strcmp(f, "html")) return DQ_FMT_HTML;
  return (dq_format)-1;
}

DOCQ_API int docq_add_document(docq_db *db, const char *id, const char *title, const char *text,
                               size_t text_len, const char *format, const char *metadata_json)
{
  DQ_ASSERT_ARG(db && id && *id && (text || text_len == 0));
  dq_db_enter(db);
  if (db->flags & DOCQ_OPEN_READONLY) return dq_err_set(DOCQ_EINVAL, "index %s is open read-only", db->path);
  dq_format fmt = format_from_name(format);
  if ((int)fmt < 0) return dq_err_set(DOCQ_EINVAL, "unknown document format '%s' (text, markdown or html)", format);
  docq_index_options o = DOCQ_INDEX_OPTIONS_INIT;
  run r;
  memset(&r, 0, sizeof r);
  r.db = db;
  r.o = &o;
  int rc = dq_store_lock_writer(db->store);
  if (!rc) rc = check_manifest(&r);
  if (rc) return rc;

  char *fixed = NULL;
  size_t n_fixed = 0, n_bad = 0;
  rc = dq_utf8_repair(text ? text : "", text_len, &fixed, &n_fixed, &n_bad);
  if (rc) return rc;
  file_item it;
  memset(&it, 0, sizeof it);
  dq_sha256_hex(fixed, n_fixed, it.hash);
  rc = prepare_text(&r, &it, id, fixed, n_fixed, fmt);
  if (!rc && title && *title) {
    /* the document's strings live in its arena: copy the title there too */
    char *t = dq_doc_strndup(it.doc, title, strlen(title));
    if (t) it.doc->title = t;
    else rc = DOCQ_ENOMEM;
  }
  /* No FAISS sync per document (apps add many): the in-memory index is
   * current, and docq_db_free / the next open bring the file up to date. */
  if (!rc)
    rc = store_doc(db, id, it.hash, 0, DQ_MTIME_NS_UNKNOWN, text_len, it.doc, it.chunks, it.n_chunks, it.vecs,
                   metadata_json);
  item_clear_work(&it);
  dq_free(fixed);
  return rc;
}
