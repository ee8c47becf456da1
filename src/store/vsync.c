/* The store's vector cache: keeping the in-memory FAISS index (dq_vec) in
 * step with SQLite, k-nearest-neighbour search, and writing the FAISS file.
 *
 * SQLite is the truth: vecs(chunk_id, seq, v f16). The FAISS file
 * vectors-<V>.faiss holds the vectors with seq <= V (meta faiss_version) as
 * of when it was written, possibly plus vectors deleted since. So:
 *   - first use (a kNN search, writing the file; not the open, so a search
 *     that BM25 and the vectors stored in SQLite answer never reads a
 *     file of gigabytes): load the file (or rebuild when missing/corrupt),
 *     then add every vector with seq > V ("catch-up") and remove ids whose
 *     chunk is gone;
 *   - later commits (ours or another process's) are caught up lazily before
 *     each search; our own removals are applied then; removals by another
 *     process are filtered out of results by checking the chunk still exists;
 *   - only the writer writes the file (dq_store_sync_vectors).
 * Vectors are added as their f16 values, so a rebuilt index is identical to
 * one that was kept up to date. */
#include "store/store_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/mem.h"

#define CATCHUP_BATCH 2048
#define HNSW_KIND "IDMap2,HNSW32"

/* ---- f16 ------------------------------------------------------------------- */

/* IEEE 754 binary16, round to nearest even, overflow to infinity. */
uint16_t dq_store_f32_to_f16(float f)
{
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
  if (e == 0xff) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u | (m >> 13) : 0));
  int32_t ne = (int32_t)e - 127 + 15;
  if (ne >= 31) return (uint16_t)(sign | 0x7c00u);
  if (ne <= 0) { /* subnormal half (or zero) */
    if (ne < -10) return (uint16_t)sign;
    m |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - ne);
    uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (hm & 1))) hm++;
    return (uint16_t)(sign | hm);
  }
  uint32_t h = sign | (uint32_t)ne << 10 | m >> 13, rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* a carry into the exponent is correct */
  return (uint16_t)h;
}

float dq_store_f16_to_f32(uint16_t h)
{
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
  if (e == 0) {
    if (!m) {
      x = sign;
    } else { /* subnormal: normalize */
      e = 113;
      while (!(m & 0x400u)) { m <<= 1; e--; }
      x = sign | e << 23 | (m & 0x3ffu) << 13;
    }
  } else if (e == 31) {
    x = sign | 0x7f800000u | m << 13;
  } else {
    x = sign | (e + 112) << 23 | m << 13;
  }
  float f;
  memcpy(&f, &x, 4);
  return f;
}

/* ---- catch-up and rebuild -------------------------------------------------- */

static int drop_vec(dq_store *s)
{
  dq_vec_free(s->vec);
  s->vec = NULL;
  s->vec_broken = 1;
  return 0;
}

/* Add every vector with seq > s->mem_seq. On failure the in-memory index is
 * dropped (partly added batches cannot be told apart) and rebuilt next time. */
static int catch_up(dq_store *s)
{
  int64_t version = 0;
  int rc = dq_meta_get_i64(s, "vec_version", &version);
  if (rc < 0) return rc;
  if (version <= s->mem_seq) return 0;
  unsigned dim = s->man.dim;
  sqlite3_stmt *st = dq_stmt(s, ST_VEC_SINCE);
  if (!st) return dq_err_code();
  float *x = dq_malloc((size_t)CATCHUP_BATCH * dim * sizeof *x);
  int64_t *ids = dq_malloc(CATCHUP_BATCH * sizeof *ids);
  int64_t max_seq = s->mem_seq;
  size_t n = 0;
  int src = SQLITE_DONE;
  if (!x || !ids) { rc = DOCQ_ENOMEM; goto done; }
  sqlite3_bind_int64(st, 1, s->mem_seq);
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    const uint8_t *b = sqlite3_column_blob(st, 2);
    size_t nb = (size_t)sqlite3_column_bytes(st, 2);
    ids[n] = sqlite3_column_int64(st, 0);
    int64_t seq = sqlite3_column_int64(st, 1);
    if (seq > max_seq) max_seq = seq;
    if (!b || nb != (size_t)dim * 2) {
      rc = dq_store_vec_size_error(s, ids[n], nb, dim);
      goto done;
    }
    float *row = x + n * dim;
    for (unsigned j = 0; j < dim; j++) row[j] = dq_store_f16_to_f32((uint16_t)(b[2 * j] | b[2 * j + 1] << 8));
    if (++n == CATCHUP_BATCH) {
      if ((rc = dq_vec_add(s->vec, n, x, ids)) < 0) goto done;
      n = 0;
      if (dq_interrupted(s)) { rc = dq_err_set(DOCQ_ECANCELED, "interrupted while loading vectors of %s", s->dir); goto done; }
    }
  }
  if (src != SQLITE_DONE) { rc = dq_sql_fail(s, src, "read vectors"); goto done; }
  if ((rc = dq_vec_add(s->vec, n, x, ids)) < 0) goto done;
  /* vec_version was read first: everything up to it is in this snapshot. */
  s->mem_seq = max_seq > version ? max_seq : version;
done:
  dq_stmt_done(st);
  dq_free(x);
  dq_free(ids);
  if (rc) drop_vec(s);
  return rc;
}

/* A new, empty in-memory index of the manifest's kind, filled from SQLite. */
static int rebuild(dq_store *s, const char *kind)
{
  dq_vec_free(s->vec);
  s->vec = NULL;
  s->vec_broken = 1;
  int rc = dq_vec_new(&s->vec, kind, s->man.dim);
  if (rc) return rc;
  s->mem_seq = 0;
  s->n_stale = 0;
  s->n_rm_done = 0;
  if ((rc = catch_up(s)) < 0) return rc;
  s->vec_broken = 0;
  s->vec_dirty = 1;
  return 0;
}

/* Apply removals committed by this process: remove from a Flat index, count
 * as stale in one that cannot remove. */
static int apply_removals(dq_store *s)
{
  if (!s->n_rm_done) return 0;
  size_t n = 0;
  int64_t *ids = dq_malloc(s->n_rm_done * sizeof *ids);
  if (!ids) return DOCQ_ENOMEM;
  for (size_t i = 0; i < s->n_rm_done; i++)
    if (s->rm_done[i].seq <= s->mem_seq) ids[n++] = s->rm_done[i].id; /* only those already added */
  int rc = 0;
  if (n && dq_vec_can_remove(s->vec)) rc = dq_vec_remove(s->vec, ids, n, NULL);
  else s->n_stale += n;
  if (!rc) {
    s->n_rm_done = 0;
    if (n) s->vec_dirty = 1;
  }
  dq_free(ids);
  return rc;
}

static int load_file(dq_store *s);

/* Drop the in-memory index; pending: the file is to be loaded on next use. */
static void forget_vec(dq_store *s, int pending)
{
  dq_vec_free(s->vec);
  s->vec = NULL;
  s->vec_broken = 0;
  s->vec_pending = pending;
  s->n_stale = 0;
  s->mem_seq = s->file_seq = 0;
}

int dq_vsync_refresh(dq_store *s)
{
  /* Inside a transaction SQLite would show our uncommitted vectors. */
  if (!sqlite3_get_autocommit(s->db) && !s->check_snapshot) return 0;
  /* A handle opened on a new index learns its dimension here once another
   * connection committed the first vectors. */
  int rc = dq_manifest_refresh(s);
  if (rc < 0) return rc;
  if (!s->man.dim) return 0;
  if (s->vec_pending) {
    s->vec_pending = 0;
    rc = load_file(s);
    if (rc) {
      /* Interrupted (or out of memory) half-way: load the file again next
       * time rather than rebuild everything from SQLite. */
      forget_vec(s, 1);
      return rc;
    }
    /* The load's reconcile has dealt with every removal committed so far.
     * (None can be pending: removing takes the writer lock, which refreshes
     * first; cleared so that a later change of that order cannot count a
     * removal twice.) */
    s->n_rm_done = 0;
  }
  if (s->vec_broken || !s->vec) return rebuild(s, s->man.vec_kind);
  rc = apply_removals(s);
  return rc ? rc : catch_up(s);
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Compare the FAISS ids with SQLite's chunk ids. *n_extra: ids without a
 * vector row; *n_missing: vector rows not in FAISS (or duplicated ids). When
 * extra is not NULL, the extra ids are returned there (dq_free). */
static int diff_ids(dq_store *s, size_t *n_extra, size_t *n_missing, int64_t **extra)
{
  const int64_t *mem;
  size_t n_mem;
  *n_extra = *n_missing = 0;
  if (extra) *extra = NULL;
  int rc = dq_vec_ids(s->vec, &mem, &n_mem);
  if (rc) return rc;
  int64_t *sorted = dq_malloc((n_mem ? n_mem : 1) * sizeof *sorted);
  int64_t *ex = extra ? dq_malloc((n_mem ? n_mem : 1) * sizeof *ex) : NULL;
  sqlite3_stmt *st = dq_stmt(s, ST_VEC_IDS);
  if (!sorted || (extra && !ex) || !st) { rc = st ? DOCQ_ENOMEM : dq_err_code(); goto done; }
  if (n_mem) {
    memcpy(sorted, mem, n_mem * sizeof *sorted);
    qsort(sorted, n_mem, sizeof *sorted, cmp_i64);
  }
  size_t i = 0;
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    while (i < n_mem && sorted[i] < id) {
      if (ex) ex[*n_extra] = sorted[i];
      (*n_extra)++, i++;
    }
    if (i < n_mem && sorted[i] == id) {
      i++;
      while (i < n_mem && sorted[i] == id) (*n_missing)++, i++; /* duplicate */
    } else {
      (*n_missing)++;
    }
  }
  for (; i < n_mem; i++) {
    if (ex) ex[*n_extra] = sorted[i];
    (*n_extra)++;
  }
  if (src != SQLITE_DONE) rc = dq_sql_fail(s, src, "read vector ids");
done:
  dq_stmt_done(st);
  dq_free(sorted);
  if (rc || !extra) dq_free(ex);
  else *extra = ex;
  return rc;
}

/* After loading a file written before removals were committed (a writer
 * crashed, or another process removed documents), the index holds ids whose
 * chunks are gone: find them by count, then by id. */
int dq_vsync_reconcile(dq_store *s)
{
  if (!s->man.dim || !s->vec || (!sqlite3_get_autocommit(s->db) && !s->check_snapshot)) return 0;
  sqlite3_stmt *st = dq_stmt(s, ST_VEC_COUNT);
  if (!st) return dq_err_code();
  int src = sqlite3_step(st);
  int64_t n_sql = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  dq_stmt_done(st);
  if (n_sql < 0) return dq_sql_fail(s, src, "count vectors");
  size_t n_mem = dq_vec_count(s->vec);
  if ((int64_t)n_mem == n_sql + (int64_t)s->n_stale) return 0;
  size_t n_extra, n_missing;
  int64_t *extra = NULL;
  int rc = diff_ids(s, &n_extra, &n_missing, &extra);
  if (rc) return rc;
  if (n_missing) {
    rc = rebuild(s, s->man.vec_kind); /* should not happen: a file that lost vectors */
  } else if (dq_vec_can_remove(s->vec)) {
    rc = dq_vec_remove(s->vec, extra, n_extra, NULL);
    s->n_stale = 0;
    if (n_extra) s->vec_dirty = 1;
  } else {
    s->n_stale = n_extra;
  }
  dq_free(extra);
  return rc;
}

int dq_vsync_reset(dq_store *s)
{
  forget_vec(s, 0);
  s->n_rm_done = 0;
  if (!s->man.dim) return 0;
  int rc = rebuild(s, s->man.vec_kind);
  return rc;
}

void dq_vsync_forget(dq_store *s)
{
  forget_vec(s, s->man.dim != 0);
  s->n_rm_done = 0;
}

int dq_vsync_open(dq_store *s)
{
  s->vec_pending = s->man.dim != 0;
  return 0;
}

/* Load the file named in meta; on any failure rebuild from SQLite. A writer
 * may replace the file between our reading its name and opening it, so a
 * failed load is retried once with a freshly read name. */
static int load_file(dq_store *s)
{
  int rc = 0;
  char name[256];
  for (int attempt = 0; attempt < 2; attempt++) {
    int64_t fv = 0, size = 0, sum = 0;
    if ((rc = dq_meta_get_text(s, "faiss_file", name, sizeof name)) < 0) return rc;
    if ((rc = dq_meta_get_i64(s, "faiss_version", &fv)) < 0) return rc;
    if ((rc = dq_meta_get_i64(s, "faiss_size", &size)) < 0) return rc;
    if ((rc = dq_meta_get_i64(s, "faiss_sum", &sum)) < 0) return rc;
    if (!name[0] || strchr(name, '/')) break;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    dq_vec *v = NULL;
    if (dq_vec_load(&v, path, s->man.dim, (uint64_t)size, (uint64_t)sum) == 0) {
      s->vec = v;
      s->mem_seq = s->file_seq = fv;
      s->vec_broken = 0;
      s->vec_dirty = 0;
      dq_err_clear();
      if ((rc = catch_up(s)) < 0) return rc;
      return dq_vsync_reconcile(s);
    }
    dq_err_clear();
  }
  /* Missing, unreadable or corrupt: SQLite has everything. */
  rc = rebuild(s, s->man.vec_kind);
  return rc;
}

/* ---- search ---------------------------------------------------------------------- */

/* 1 when the chunk still has its vector row (so it was not removed). */
static int still_there(dq_store *s, int64_t id)
{
  sqlite3_stmt *st = dq_stmt(s, ST_VEC_EXISTS);
  if (!st) return dq_err_code();
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  int out = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : dq_sql_fail(s, rc, "check chunk");
  dq_stmt_done(st);
  return out;
}

int dq_store_knn(dq_store *s, const float *q, unsigned dim, size_t k, dq_scored *out, size_t *n_out)
{
  DQ_ASSERT_ARG(s && q && n_out && (out || k == 0));
  *n_out = 0;
  if (k == 0) return 0;
  int rc = dq_vsync_refresh(s); /* also the manifest: vectors another connection committed since the open */
  if (rc) return rc;
  if (!s->man.dim) return 0;
  if ((rc = dq_store_vec_dim_is(s, dim)) < 0) return rc;
  if (!s->vec) return dq_err_set(DOCQ_ERROR, "index %s: vectors unavailable", s->dir);
  size_t total = dq_vec_count(s->vec);
  if (total == 0) return 0;
  /* Ask for more than k when some hits may be deleted chunks. */
  size_t want = k + s->n_stale + 8;
  int64_t *ids = NULL;
  float *sc = NULL;
  for (;;) {
    if (want > total) want = total;
    dq_free(ids);
    dq_free(sc);
    ids = dq_malloc(want * sizeof *ids);
    sc = dq_malloc(want * sizeof *sc);
    if (!ids || !sc) { rc = DOCQ_ENOMEM; goto done; }
    size_t got = 0, n = 0;
    if ((rc = dq_vec_search(s->vec, q, want, ids, sc, &got)) < 0) goto done;
    for (size_t i = 0; i < got && n < k; i++) {
      int there = still_there(s, ids[i]);
      if (there < 0) { rc = there; goto done; }
      if (!there) continue;
      out[n].chunk_id = ids[i];
      out[n].score = sc[i];
      n++;
    }
    *n_out = n;
    if (n == k || got < want || want == total) break;
    want *= 2; /* many deleted chunks among the hits: look further */
  }
done:
  dq_free(ids);
  dq_free(sc);
  return rc;
}

/* ---- writing the FAISS file ------------------------------------------------------------ */

/* Remove vectors-*.faiss files (and temporaries) other than `keep`: the old
 * file after a switch, or leftovers of a crash between rename and record. */
static void remove_old_files(dq_store *s, const char *keep)
{
  DIR *d = opendir(s->dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "vectors-", 8) != 0 || strcmp(e->d_name, keep) == 0) continue;
    if (!strstr(e->d_name, ".faiss")) continue;
    unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
}

int dq_store_sync_vectors(dq_store *s)
{
  DQ_ASSERT_ARG(s);
  int rc = dq_store_writable(s);
  if (rc) return rc;
  if (!sqlite3_get_autocommit(s->db)) return dq_err_set(DOCQ_EINVAL, "index %s: sync_vectors inside a transaction", s->dir);
  if (!s->man.dim) return 0;
  if ((rc = dq_vsync_refresh(s)) < 0) return rc;
  size_t n = dq_vec_count(s->vec) - s->n_stale;
  /* Exhaustive kinds (Flat, SQfp16) switch to HNSW once they grow large. */
  int to_hnsw = n > DQ_STORE_HNSW_THRESHOLD && !strstr(s->man.vec_kind, "HNSW");
  if (to_hnsw) {
    if ((rc = rebuild(s, HNSW_KIND)) < 0) return rc;
    if ((rc = dq_meta_set_text(s, "vec_kind", HNSW_KIND)) < 0) return rc;
    snprintf(s->man.vec_kind, sizeof s->man.vec_kind, "%s", HNSW_KIND);
  } else if (s->n_stale > 0 && s->n_stale * 10 > n) {
    /* An HNSW index cannot drop ids: rebuild once a tenth are dead. */
    if ((rc = rebuild(s, s->man.vec_kind)) < 0) return rc;
  }
  char name[64], cur[256];
  if ((rc = dq_meta_get_text(s, "faiss_file", cur, sizeof cur)) < 0) return rc;
  if (!s->vec_dirty && s->mem_seq == s->file_seq && cur[0]) return 0;
  snprintf(name, sizeof name, "vectors-%lld.faiss", (long long)s->mem_seq);
  char *path = NULL, *tmp = NULL;
  dq_buf b = { 0 };
  /* dq_buf_detach clears oom and returns "" for an empty buffer: check first */
  if (dq_buf_printf(&b, "%s/%s", s->dir, name) == 0) path = dq_buf_detach(&b);
  dq_buf_free(&b);
  if (dq_buf_printf(&b, "%s/%s.tmp-%ld", s->dir, name, (long)getpid()) == 0) tmp = dq_buf_detach(&b);
  dq_buf_free(&b);
  if (!path || !tmp) { rc = DOCQ_ENOMEM; goto done; }
  uint64_t size = 0, sum = 0;
  if ((rc = dq_vec_save(s->vec, tmp, path, s->dir, &size, &sum)) < 0) goto done;
  /* The file is durable under its final name; now point SQLite at it. */
  if ((rc = dq_exec(s, "BEGIN IMMEDIATE")) < 0) goto done;
  if ((rc = dq_meta_set_i64(s, "faiss_version", s->mem_seq)) < 0 || (rc = dq_meta_set_text(s, "faiss_file", name)) < 0 ||
      (rc = dq_meta_set_i64(s, "faiss_size", (int64_t)size)) < 0 || (rc = dq_meta_set_i64(s, "faiss_sum", (int64_t)sum)) < 0) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    goto done;
  }
  if ((rc = dq_exec(s, "COMMIT")) < 0) { sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); goto done; }
  s->file_seq = s->mem_seq;
  s->vec_dirty = 0;
  remove_old_files(s, name);
done:
  dq_free(path);
  dq_free(tmp);
  return rc;
}

/* FAISS must hold exactly the chunk ids, apart from the n_stale ids an
 * index that cannot remove keeps (they are filtered out of results). */
int dq_vsync_check(dq_store *s)
{
  if (!s->man.dim) return 0;
  /* A reader checks the file a writer saved, loaded in the check's snapshot:
   * vectors loaded earlier would miss removals other processes committed
   * since (ids without a chunk, a false alarm). A writer's memory is what it
   * will save, and nobody else writes meanwhile. */
  if (s->check_snapshot && s->lock_fd < 0) forget_vec(s, 1);
  int rc = dq_vsync_refresh(s);
  if (rc) return rc;
  if (!s->vec) return dq_err_set(DOCQ_ECORRUPT, "index %s: no vector index", s->dir);
  size_t n_extra, n_missing;
  if ((rc = diff_ids(s, &n_extra, &n_missing, NULL)) < 0) return rc;
  if (n_missing) return dq_err_set(DOCQ_ECORRUPT, "index %s: %zu vectors missing from (or duplicated in) the FAISS index", s->dir, n_missing);
  if (n_extra != s->n_stale)
    return dq_err_set(DOCQ_ECORRUPT, "index %s: the FAISS index holds %zu ids without a chunk (%zu expected)", s->dir, n_extra, s->n_stale);
  return 0;
}
