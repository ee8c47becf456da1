/* The FAISS side of the store: the ONLY file that includes FAISS headers.
 *
 * Invariants: the index is an IndexIDMap2 (ids = chunk ids) over an inner
 * product index of dimension `dim`. Every FAISS error is copied into
 * dq_err_set() right after the failing call (faiss_get_last_error() is
 * overwritten by the next FAISS call). A saved file is only ever visible under
 * its final name once complete and fsynced (write temp, fsync, rename, fsync
 * folder), so a crash leaves either the old or the new file.
 *
 * FAISS's reader trusts its input: on a damaged file it throws (printing to
 * stderr from the C API and leaking the half-built index). So FAISS never
 * parses a file we did not verify: its size and a 64-bit checksum are
 * recorded in SQLite when it is written, and checked on the mapped bytes
 * before they are handed to faiss_read_index. */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexScalarQuantizer_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <faiss/c_api/utils/distances_c.h>

#include "util/err.h"
#include "util/mem.h"

/* HNSW search breadth: FAISS's default (16) loses too much recall for k of
 * 20-50 on a million vectors; 128 stays well under the latency budget. */
#define DQ_HNSW_EF_SEARCH 128

struct dq_vec {
  FaissIndex *index; /* IndexIDMap2 */
  unsigned dim;
  int can_remove;
};

static int faiss_fail(int code, const char *what)
{
  const char *e = faiss_get_last_error();
  return dq_err_set(code, "faiss: %s: %s", what, e && *e ? e : "unknown error");
}

/* Check the loaded/created index is what the store expects and set search
 * parameters. */
static int vec_setup(dq_vec *v, const char *what)
{
  FaissIndexIDMap2 *m = faiss_IndexIDMap2_cast(v->index);
  if (!m) return dq_err_set(DOCQ_ECORRUPT, "faiss: %s: not an IDMap2 index", what);
  if (faiss_Index_d(v->index) != (int)v->dim)
    return dq_err_set(DOCQ_ECORRUPT, "faiss: %s: dimension %d, expected %u", what, faiss_Index_d(v->index), v->dim);
  if (faiss_Index_metric_type(v->index) != METRIC_INNER_PRODUCT)
    return dq_err_set(DOCQ_ECORRUPT, "faiss: %s: not an inner-product index", what);
  FaissIndex *sub = faiss_IndexIDMap2_sub_index(m);
  size_t n_map = 0;
  idx_t *map = NULL;
  faiss_IndexIDMap2_id_map(m, &map, &n_map);
  if (!sub || faiss_Index_ntotal(sub) != faiss_Index_ntotal(v->index) || (idx_t)n_map != faiss_Index_ntotal(v->index))
    return dq_err_set(DOCQ_ECORRUPT, "faiss: %s: id map does not match the vectors", what);
  /* Flat storages (IndexFlat, IndexScalarQuantizer) support remove_ids;
   * HNSW throws. */
  v->can_remove = faiss_IndexFlat_cast(sub) != NULL || faiss_IndexScalarQuantizer_cast(sub) != NULL;
  if (!v->can_remove) {
    FaissParameterSpace *ps = NULL;
    if (faiss_ParameterSpace_new(&ps)) return faiss_fail(DOCQ_ERROR, "parameter space");
    int rc = faiss_ParameterSpace_set_index_parameter(ps, v->index, "efSearch", DQ_HNSW_EF_SEARCH);
    if (rc) rc = faiss_fail(DOCQ_ERROR, "set efSearch");
    faiss_ParameterSpace_free(ps);
    if (rc) return rc;
  }
  return 0;
}

int dq_vec_new(dq_vec **out, const char *kind, unsigned dim)
{
  *out = NULL;
  if (dim == 0 || dim > 65536) return dq_err_set(DOCQ_EINVAL, "vector dimension %u out of range", dim);
  dq_vec *v = dq_calloc(1, sizeof *v);
  if (!v) return DOCQ_ENOMEM;
  v->dim = dim;
  int rc = 0;
  if (faiss_index_factory(&v->index, (int)dim, kind, METRIC_INNER_PRODUCT)) {
    rc = faiss_fail(DOCQ_EUNSUPPORTED, kind);
    goto done;
  }
  rc = vec_setup(v, kind);
done:
  if (rc) dq_vec_free(v);
  else *out = v;
  return rc;
}

/* A fast 64-bit checksum (multiply-rotate over 8-byte words): it detects
 * truncation, torn writes and garbage, not deliberate tampering. */
static uint64_t checksum(const uint8_t *p, size_t n)
{
  const uint64_t k1 = 0x9E3779B97F4A7C15ull, k2 = 0xC2B2AE3D27D4EB4Full;
  uint64_t h = k2 ^ (uint64_t)n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    w *= k1;
    w = w << 31 | w >> 33;
    h = (h ^ w) * k2;
    h = h << 27 | h >> 37;
  }
  uint64_t t = 0;
  for (size_t j = 0; i + j < n; j++) t |= (uint64_t)p[i + j] << (8 * j);
  h = (h ^ t * k1) * k2;
  h ^= h >> 29;
  return h;
}

/* Map a whole file read-only. */
static int map_file(const char *path, const uint8_t **p, size_t *n)
{
  *p = NULL;
  *n = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return dq_err_set(errno == ENOENT ? DOCQ_ENOTFOUND : DOCQ_EIO, "cannot open %s: %s", path, strerror(errno));
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0) {
    rc = dq_err_set(DOCQ_EIO, "cannot stat %s: %s", path, strerror(errno));
  } else if (st.st_size <= 0) {
    rc = dq_err_set(DOCQ_ECORRUPT, "%s is empty", path);
  } else {
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) rc = dq_err_set(DOCQ_EIO, "cannot map %s: %s", path, strerror(errno));
    else { *p = m; *n = (size_t)st.st_size; }
  }
  close(fd);
  return rc;
}

int dq_vec_load(dq_vec **out, const char *path, unsigned dim, uint64_t size, uint64_t sum)
{
  *out = NULL;
  const uint8_t *p = NULL;
  size_t n = 0;
  FILE *f = NULL;
  dq_vec *v = NULL;
  int rc = map_file(path, &p, &n);
  if (rc) return rc;
  if (n != size) {
    rc = dq_err_set(DOCQ_ECORRUPT, "%s has %zu bytes, %llu were written", path, n, (unsigned long long)size);
    goto done;
  }
  if (checksum(p, n) != sum) {
    rc = dq_err_set(DOCQ_ECORRUPT, "%s is damaged (checksum mismatch)", path);
    goto done;
  }
  if (!(v = dq_calloc(1, sizeof *v))) { rc = DOCQ_ENOMEM; goto done; }
  v->dim = dim;
  if (!(f = fmemopen((void *)p, n, "rb"))) {
    rc = dq_err_set(DOCQ_ENOMEM, "cannot read %s: %s", path, strerror(errno));
    goto done;
  }
  if (faiss_read_index(f, 0, &v->index)) {
    v->index = NULL;
    rc = faiss_fail(DOCQ_ECORRUPT, path);
    goto done;
  }
  rc = vec_setup(v, path);
done:
  if (f) fclose(f);
  if (p) munmap((void *)p, n);
  if (rc) dq_vec_free(v);
  else *out = v;
  return rc;
}

void dq_vec_free(dq_vec *v)
{
  if (!v) return;
  if (v->index) faiss_Index_free(v->index);
  dq_free(v);
}

size_t dq_vec_count(const dq_vec *v) { return v ? (size_t)faiss_Index_ntotal(v->index) : 0; }

int dq_vec_can_remove(const dq_vec *v) { return v && v->can_remove; }

int dq_vec_add(dq_vec *v, size_t n, const float *x, const int64_t *ids)
{
  if (n == 0) return 0;
  if (faiss_Index_add_with_ids(v->index, (idx_t)n, x, ids)) return faiss_fail(DOCQ_ERROR, "add vectors");
  return 0;
}

int dq_vec_remove(dq_vec *v, const int64_t *ids, size_t n, size_t *n_removed)
{
  if (n_removed) *n_removed = 0;
  if (n == 0) return 0;
  if (!v->can_remove) return dq_err_set(DOCQ_EUNSUPPORTED, "faiss: this index kind cannot remove vectors");
  FaissIDSelectorBatch *sel = NULL;
  if (faiss_IDSelectorBatch_new(&sel, n, ids)) return faiss_fail(DOCQ_ENOMEM, "id selector");
  size_t removed = 0;
  int rc = 0;
  if (faiss_Index_remove_ids(v->index, (const FaissIDSelector *)sel, &removed)) rc = faiss_fail(DOCQ_ERROR, "remove vectors");
  faiss_IDSelector_free((FaissIDSelector *)sel);
  if (!rc && n_removed) *n_removed = removed;
  return rc;
}

int dq_vec_search(dq_vec *v, const float *q, size_t k, int64_t *ids, float *scores, size_t *n_out)
{
  *n_out = 0;
  if (k == 0 || faiss_Index_ntotal(v->index) == 0) return 0;
  /* One query: FAISS's OpenMP team only adds start-up and spin-wait cost
   * (measured: 55% of eval time spinning in libgomp on 2 cores), so the
   * search runs on the calling thread. */
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  /* Exhaustive kinds score through BLAS even for one query: OpenBLAS's
   * AVX2 kernels beat the generic scalar loop of Debian's FAISS build. */
  faiss_set_distance_compute_blas_threshold(1);
  int frc = faiss_Index_search(v->index, 1, q, (idx_t)k, scores, ids);
  omp_set_num_threads(saved);
  if (frc) return faiss_fail(DOCQ_ERROR, "search");
  size_t n = 0;
  /* FAISS pads with -1 when fewer than k vectors are reachable. */
  for (size_t i = 0; i < k; i++) {
    if (ids[i] < 0) continue;
    ids[n] = ids[i];
    scores[n] = scores[i];
    n++;
  }
  *n_out = n;
  return 0;
}

int dq_vec_ids(dq_vec *v, const int64_t **ids, size_t *n)
{
  FaissIndexIDMap2 *m = faiss_IndexIDMap2_cast(v->index);
  idx_t *map = NULL;
  size_t nm = 0;
  if (!m) return dq_err_set(DOCQ_ECORRUPT, "faiss: not an IDMap2 index");
  faiss_IndexIDMap2_id_map(m, &map, &nm);
  *ids = map;
  *n = nm;
  return 0;
}

/* Writing the FAISS file failed with errno e. A full disk is said in the
 * words SQLite's full disk gets (sql.c; the CLI's advice keys on them), and
 * that search still works: the vectors are in SQLite and the next run
 * writes the file again. */
static int write_failed(const char *tmp_path, int e)
{
  if (e == ENOSPC || e == EDQUOT)
    return dq_err_set(DOCQ_EIO, "no space left on the disk holding the index (cannot write %s); search still works: "
                      "the vectors are kept in SQLite and the next run writes this file again", tmp_path);
  return dq_err_set(DOCQ_EIO, "cannot write %s: %s", tmp_path, strerror(e));
}

int dq_vec_save(dq_vec *v, const char *tmp_path, const char *path, const char *dir, uint64_t *size, uint64_t *sum)
{
  int rc = 0;
  const uint8_t *p = NULL;
  size_t n = 0;
  FILE *f = fopen(tmp_path, "wb");
  if (!f) return errno == ENOSPC || errno == EDQUOT ? write_failed(tmp_path, errno)
                                                    : dq_err_set(DOCQ_EIO, "cannot create %s: %s", tmp_path, strerror(errno));
  errno = 0;
  if (faiss_write_index(v->index, f)) {
    /* A failed fwrite (full disk) leaves errno and the stream's error flag:
     * say that, not FAISS's exception text with its source location. */
    int e = errno;
    if (ferror(f) && e) rc = write_failed(tmp_path, e);
    else rc = faiss_fail(DOCQ_EIO, tmp_path);
    fclose(f);
    goto fail;
  }
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
    rc = write_failed(tmp_path, errno);
    fclose(f);
    goto fail;
  }
  if (fclose(f) != 0) {
    rc = write_failed(tmp_path, errno);
    goto fail;
  }
  /* Checksum what is on disk (still in the page cache), not what we meant to write. */
  if ((rc = map_file(tmp_path, &p, &n)) < 0) goto fail;
  *size = n;
  *sum = checksum(p, n);
  munmap((void *)p, n);
  if (rename(tmp_path, path) != 0) {
    rc = dq_err_set(DOCQ_EIO, "cannot rename %s to %s: %s", tmp_path, path, strerror(errno));
    goto fail;
  }
  /* The rename itself must reach the disk before SQLite records the new name. */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  return 0;
fail:
  unlink(tmp_path);
  return rc;
}
