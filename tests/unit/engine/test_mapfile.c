/* Tests for engine/mapfile.c, from the contract in mapfile.h: every policy
 * maps the exact bytes of the file (also past a partial last page, and after
 * the fd is closed); files under DQ_MAP_MIN_HUGE and the PLAIN policy stay
 * plain; ADVISE never probes; any advised mapping is 2 MiB-aligned (the
 * kernel maps by 2 MiB entries only then); and the point of DQ_MAP_RECACHE:
 * a freshly written file, cached in small folios, ends up read from 2 MiB
 * pages, and a second load finds it so (DQ_MAP_S_HUGE). Where the system
 * cannot give 2 MiB pages (THP "never", a file system without large folios)
 * that last part prints a message instead of failing; everything else is
 * strict. Also: dq_map_huge_bytes, the DOCQ_MODEL_RECACHE switch, the error
 * message, the state names. Temporary files go to the working directory
 * (ctest: the build tree, a real disk) and are unlinked as soon as created. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "docq.h"
#include "engine/mapfile.h"
#include "util/err.h"

#define MiB ((size_t)1 << 20)
#define HUGE_SZ (2 * MiB)
#define BIG (16 * MiB)

/* ---- helpers ---------------------------------------------------------------- */

/* A temporary file of n xorshift bytes: fd stays open, the name is already
 * unlinked, buf holds the expected content. Written 4 KiB per write(), as a
 * download or copy would: the page cache then holds it in small folios (one
 * large write() lets ext4 on recent kernels cache it in large folios). */
typedef struct {
  int fd;
  size_t n;
  uint8_t *buf;
} tfile;

static void fill(uint8_t *b, size_t n, uint64_t seed)
{
  uint64_t x = seed | 1;
  for (size_t i = 0; i < n; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    for (size_t k = 0; k < 8 && i + k < n; k++) b[i + k] = (uint8_t)(x >> (8 * k));
  }
}

static tfile make_file(size_t n, uint64_t seed)
{
  tfile t = {.n = n};
  char path[] = "docq_test_mapfile_XXXXXX";
  t.fd = mkstemp(path);
  assert_true(t.fd >= 0);
  unlink(path);
  t.buf = malloc(n);
  assert_non_null(t.buf);
  fill(t.buf, n, seed);
  for (size_t off = 0; off < n;) {
    ssize_t w = write(t.fd, t.buf + off, n - off < 4096 ? n - off : 4096);
    assert_true(w > 0);
    off += (size_t)w;
  }
  assert_int_equal(fsync(t.fd), 0);
  return t;
}

static void free_file(tfile *t)
{
  if (t->fd >= 0) close(t->fd);
  free(t->buf);
}

static int is_aligned(const void *p)
{
  return ((uintptr_t)p & (HUGE_SZ - 1)) == 0;
}

/* Is [p, p+n) unmapped? mincore fails with ENOMEM on unmapped ranges. */
static int unmapped(const void *p, size_t n)
{
  unsigned char v[64];
  size_t len = n < 64 * 4096 ? n : 64 * 4096; /* the first pages are enough */
  return mincore((void *)p, len, v) != 0 && errno == ENOMEM;
}

static const int policies[] = {DQ_MAP_PLAIN, DQ_MAP_ADVISE, DQ_MAP_RECACHE};

/* ---- content ---------------------------------------------------------------- */

static void check_content(size_t n, uint64_t seed)
{
  for (size_t i = 0; i < sizeof policies / sizeof *policies; i++) {
    tfile t = make_file(n, seed + i);
    dq_map m;
    assert_int_equal(dq_map_file(&m, t.fd, n, policies[i], "content"), 0);
    close(t.fd); /* "fd may be closed after the call" */
    t.fd = -1;
    assert_non_null(m.p);
    assert_int_equal(m.n, n);
    assert_memory_equal(m.p, t.buf, n);
    assert_int_equal(m.p[n - 1], t.buf[n - 1]);
    const void *p = m.p;
    dq_map_release(&m);
    assert_true(unmapped(p, n));
    free_file(&t);
  }
}

static void test_engine_mapfile__every_policy_maps_the_bytes(void **state)
{
  (void)state;
  check_content(BIG, 11);
}

static void test_engine_mapfile__partial_last_page(void **state)
{
  (void)state;
  check_content(BIG + 123, 23);
}

/* ---- states ----------------------------------------------------------------- */

static void test_engine_mapfile__small_files_are_plain(void **state)
{
  (void)state;
  const size_t sizes[] = {5000, 100 * 1024, DQ_MAP_MIN_HUGE - 1};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
    for (size_t i = 0; i < sizeof policies / sizeof *policies; i++) {
      tfile t = make_file(sizes[s], 31 + s);
      dq_map m;
      assert_int_equal(dq_map_file(&m, t.fd, t.n, policies[i], "small"), 0);
      assert_int_equal(m.state, DQ_MAP_S_PLAIN);
      assert_int_equal(m.n, t.n);
      assert_memory_equal(m.p, t.buf, t.n);
      dq_map_release(&m);
      free_file(&t);
    }
}

static void test_engine_mapfile__plain_policy_is_plain(void **state)
{
  (void)state;
  tfile t = make_file(BIG, 41);
  dq_map m;
  assert_int_equal(dq_map_file(&m, t.fd, t.n, DQ_MAP_PLAIN, "plain"), 0);
  assert_int_equal(m.state, DQ_MAP_S_PLAIN);
  dq_map_release(&m);
  free_file(&t);
}

/* ADVISE never probes (so never HUGE / RECACHED / NO_LARGE); any state but
 * PLAIN means an advised mapping, which must be 2 MiB-aligned. */
static void test_engine_mapfile__advised_states_and_alignment(void **state)
{
  (void)state;
  for (int pol = DQ_MAP_ADVISE; pol <= DQ_MAP_RECACHE; pol++) {
    tfile t = make_file(BIG, 51 + (uint64_t)pol);
    dq_map m;
    assert_int_equal(dq_map_file(&m, t.fd, t.n, pol, "advise"), 0);
    if (pol == DQ_MAP_ADVISE) assert_true(m.state == DQ_MAP_S_PLAIN || m.state == DQ_MAP_S_ADVISED);
    assert_in_range(m.state, DQ_MAP_S_PLAIN, DQ_MAP_S_NO_LARGE);
    if (m.state != DQ_MAP_S_PLAIN) assert_true(is_aligned(m.p));
    assert_memory_equal(m.p, t.buf, t.n);
    dq_map_release(&m);
    free_file(&t);
  }
}

/* ---- RECACHE: the 2 MiB pages ---------------------------------------------- */

static void test_engine_mapfile__recache_gives_2mib_pages(void **state)
{
  (void)state;
  tfile t = make_file(BIG, 61); /* just written: cached in small folios */
  dq_map m;
  assert_int_equal(dq_map_file(&m, t.fd, t.n, DQ_MAP_RECACHE, "recache"), 0);
  const int first = m.state;
  print_message("RECACHE on a freshly written %zu MiB file: %s\n", t.n / MiB, dq_map_state_name(first));
  if (first != DQ_MAP_S_RECACHED && first != DQ_MAP_S_HUGE) {
    assert_true(first == DQ_MAP_S_PLAIN || first == DQ_MAP_S_ADVISED || first == DQ_MAP_S_NO_LARGE);
    print_message("NOTE: no 2 MiB page-cache folios here (state '%s'): the huge-page part of "
                  "this test was not checked\n", dq_map_state_name(first));
    assert_memory_equal(m.p, t.buf, t.n);
    dq_map_release(&m);
    free_file(&t);
    return;
  }
  assert_true(is_aligned(m.p));
  assert_memory_equal(m.p, t.buf, t.n); /* reads every page */
  long long h = dq_map_huge_bytes(m.p);
  print_message("after one read: %lld of %zu bytes mapped by 2 MiB entries\n", h, t.n);
  assert_true(h >= (long long)(t.n / 2));
  dq_map_release(&m);

  /* The large folios stay in the cache: the next load finds them. */
  assert_int_equal(dq_map_file(&m, t.fd, t.n, DQ_MAP_RECACHE, "recache"), 0);
  print_message("second RECACHE: %s\n", dq_map_state_name(m.state));
  assert_int_equal(m.state, DQ_MAP_S_HUGE);
  assert_true(is_aligned(m.p));
  assert_memory_equal(m.p, t.buf, t.n);
  assert_true(dq_map_huge_bytes(m.p) >= (long long)(t.n / 2));
  dq_map_release(&m);
  free_file(&t);
}

/* ---- RECACHE: a cache part huge, part small ---------------------------------- */

#define N_EXT (2 * BIG / HUGE_SZ) /* 16 */

/* Extents of m mapped by 2 MiB entries now, from dq_map_scan_huge, checked
 * against the kernel's own total (FilePmdMapped); -1: cannot scan here. */
static int huge_extents(const dq_map *m, unsigned char *huge)
{
  if (dq_map_scan_huge(m->p, N_EXT, huge) != 0) return -1;
  int c = 0;
  for (size_t e = 0; e < N_EXT; e++) c += huge[e];
  assert_int_equal((long long)c * (long long)HUGE_SZ, dq_map_huge_bytes(m->p));
  return c;
}

/* Extent 2 rewritten 4 KiB at a time (cached in small folios, as a program
 * that did not advise would leave it) and extent 5 dropped but for its first
 * 64 KiB, read without readahead (partly cached). */
static void fragment(tfile *t)
{
  assert_int_equal(posix_fadvise(t->fd, 2 * HUGE_SZ, HUGE_SZ, POSIX_FADV_DONTNEED), 0);
  for (size_t off = 2 * HUGE_SZ; off < 3 * HUGE_SZ; off += 4096)
    assert_int_equal(pwrite(t->fd, t->buf + off, 4096, (off_t)off), 4096);
  assert_int_equal(fsync(t->fd), 0);
  assert_int_equal(posix_fadvise(t->fd, 5 * HUGE_SZ, HUGE_SZ, POSIX_FADV_DONTNEED), 0);
  assert_int_equal(posix_fadvise(t->fd, 0, 0, POSIX_FADV_RANDOM), 0);
  uint8_t page[4096];
  for (size_t off = 5 * HUGE_SZ; off < 5 * HUGE_SZ + 64 * 1024; off += 4096) {
    assert_int_equal(pread(t->fd, page, 4096, (off_t)off), 4096);
    assert_memory_equal(page, t->buf + off, 4096);
  }
  assert_int_equal(posix_fadvise(t->fd, 0, 0, POSIX_FADV_NORMAL), 0);
}

/* A file of N_EXT extents, loaded once under RECACHE and read, so that it is
 * cached wholly in 2 MiB folios; 0 (with a note naming what was not
 * checked) where this system cannot scan or give such folios. */
static int whole_huge_file(tfile *t, uint64_t seed, const char *unchecked)
{
  unsigned char huge[N_EXT];
  *t = make_file(N_EXT * HUGE_SZ, seed);
  dq_map m;
  assert_int_equal(dq_map_file(&m, t->fd, t->n, DQ_MAP_RECACHE, "whole"), 0);
  assert_memory_equal(m.p, t->buf, t->n);
  const int n = huge_extents(&m, huge);
  dq_map_release(&m);
  if (n == (int)N_EXT) return 1;
  print_message("NOTE: %s: %s was not checked\n",
                n < 0 ? "no PAGEMAP_SCAN here (Linux < 6.7)" : "no 2 MiB page-cache folios here", unchecked);
  free_file(t);
  return 0;
}

static void test_engine_mapfile__recache_mends_a_partly_small_cache(void **state)
{
  (void)state;
  unsigned char huge[N_EXT];
  tfile t;
  dq_map m;
  if (!whole_huge_file(&t, 67, "the mending of a partly small cache")) return;

  fragment(&t);
  /* what a program that only advises now gets: those two extents small */
  assert_int_equal(dq_map_file(&m, t.fd, t.n, DQ_MAP_ADVISE, "mend"), 0);
  assert_memory_equal(m.p, t.buf, t.n);
  const int advised = huge_extents(&m, huge);
  dq_map_release(&m);
  print_message("after fragmenting: %d of %d extents in 2 MiB entries (advise only)\n", advised, (int)N_EXT);
  assert_int_equal(advised, N_EXT - 2);
  assert_false(huge[2]);
  assert_false(huge[5]);

  fragment(&t);
  /* RECACHE drops exactly those two (2 of 16: fewer than the quarter a sample needs) */
  assert_int_equal(dq_map_file(&m, t.fd, t.n, DQ_MAP_RECACHE, "mend"), 0);
  assert_int_equal(m.state, DQ_MAP_S_RECACHED);
  assert_memory_equal(m.p, t.buf, t.n);
  assert_int_equal(huge_extents(&m, huge), N_EXT);
  dq_map_release(&m);

  /* and the next load finds every extent so */
  assert_int_equal(dq_map_file(&m, t.fd, t.n, DQ_MAP_RECACHE, "mend"), 0);
  assert_int_equal(m.state, DQ_MAP_S_HUGE);
  assert_int_equal(huge_extents(&m, huge), N_EXT); /* faulted in by the load: nothing read yet */
  assert_memory_equal(m.p, t.buf, t.n);
  dq_map_release(&m);
  free_file(&t);
}

/* Extents evicted while the rest of the file stays cached (memory pressure,
 * a reclaimer) are read back by the forward pass's faults; each must come
 * back as one 2 MiB folio, however they run (readahead off in the mapping). */
static void test_engine_mapfile__evicted_extents_fault_back_in_2mib_pages(void **state)
{
  (void)state;
  unsigned char huge[N_EXT];
  tfile t;
  dq_map m;
  if (!whole_huge_file(&t, 89, "the refault of evicted extents")) return;
  const int evict[] = {3, 4, 5, 6, 7, 10, 11, 14};
  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < sizeof evict / sizeof *evict; i++)
      assert_int_equal(posix_fadvise(t.fd, (off_t)evict[i] * (off_t)HUGE_SZ, HUGE_SZ, POSIX_FADV_DONTNEED), 0);
    assert_int_equal(dq_map_file(&m, t.fd, t.n, round ? DQ_MAP_ADVISE : DQ_MAP_RECACHE, "evict"), 0);
    for (size_t off = 0; off < t.n; off += 4096) /* in file order, as a forward pass reads a layer */
      if (m.p[off] != t.buf[off]) fail_msg("byte %zu differs", off);
    assert_memory_equal(m.p, t.buf, t.n);
    const int h = huge_extents(&m, huge);
    print_message("%s: %d of %d extents in 2 MiB entries after the evicted ones were read back\n",
                  round ? "ADVISE" : "RECACHE", h, (int)N_EXT);
    assert_int_equal(h, N_EXT);
    dq_map_release(&m);
  }
  free_file(&t);
}

/* A file cut short between its size being read and the load (another
 * program rewriting it): the re-cache step must not touch pages past the
 * new end, which would raise SIGBUS. The bytes that remain are mapped. */
static void test_engine_mapfile__file_cut_short_before_the_load(void **state)
{
  (void)state;
  for (int pol = DQ_MAP_ADVISE; pol <= DQ_MAP_RECACHE; pol++) {
    tfile t = make_file(BIG, 83 + (uint64_t)pol);
    const size_t cut = 3 * HUGE_SZ + HUGE_SZ / 2 + 123; /* inside extent 3: partly cached, partly past the end */
    assert_int_equal(ftruncate(t.fd, (off_t)cut), 0);
    dq_map m;
    assert_int_equal(dq_map_file(&m, t.fd, t.n, pol, "cut"), 0);
    assert_in_range(m.state, DQ_MAP_S_PLAIN, DQ_MAP_S_NO_LARGE);
    assert_memory_equal(m.p, t.buf, cut);
    dq_map_release(&m);
    free_file(&t);
  }
}

/* dq_map_scan_huge: -1 or all clear on a mapping without 2 MiB entries. */
static void test_engine_mapfile__scan_of_small_pages(void **state)
{
  (void)state;
  tfile t = make_file(BIG, 79);
  dq_map m;
  assert_int_equal(dq_map_file(&m, t.fd, t.n, DQ_MAP_PLAIN, "plain"), 0);
  assert_memory_equal(m.p, t.buf, t.n);
  unsigned char huge[N_EXT];
  memset(huge, 7, sizeof huge);
  const int rc = dq_map_scan_huge(m.p, 0, huge);
  assert_true(rc == 0 || rc == -1);
  if (rc == 0) {
    assert_int_equal(huge[0], 7); /* no extents: nothing written */
    /* a plain mapping, unaligned or not advised: no 2 MiB entries */
    const uint8_t *al = (const uint8_t *)(((uintptr_t)m.p + HUGE_SZ - 1) & ~(uintptr_t)(HUGE_SZ - 1));
    assert_int_equal(dq_map_scan_huge(al, (size_t)(m.p + t.n - al) / HUGE_SZ, huge), 0);
    for (size_t e = 0; e < (size_t)(m.p + t.n - al) / HUGE_SZ; e++) assert_int_equal(huge[e], 0);
  }
  dq_map_release(&m);
  free_file(&t);
}

/* ---- dq_map_huge_bytes -------------------------------------------------------- */

static void test_engine_mapfile__huge_bytes(void **state)
{
  (void)state;
  int local = 0;
  /* no mapping starts there: the field cannot be read */
  assert_int_equal(dq_map_huge_bytes((void *)1), -1);
  assert_int_equal(dq_map_huge_bytes((const char *)&local + 1), -1);
  if (access("/proc/self/smaps", R_OK) != 0) {
    print_message("NOTE: /proc/self/smaps is not readable: dq_map_huge_bytes of a real mapping not checked\n");
    return;
  }
  /* a real mapping too small for any 2 MiB entry: found, and 0 */
  tfile t = make_file(100 * 1024, 71);
  dq_map m;
  assert_int_equal(dq_map_file(&m, t.fd, t.n, DQ_MAP_PLAIN, "small"), 0);
  assert_int_equal(dq_map_huge_bytes(m.p), 0);
  dq_map_release(&m);
  free_file(&t);
}

/* ---- policy from the environment -------------------------------------------- */

static void test_engine_mapfile__policy_default_reads_env(void **state)
{
  (void)state;
  const char *old = getenv("DOCQ_MODEL_RECACHE");
  char *saved = old ? strdup(old) : NULL;

  unsetenv("DOCQ_MODEL_RECACHE");
  assert_int_equal(dq_map_policy_default(), DQ_MAP_RECACHE);
  setenv("DOCQ_MODEL_RECACHE", "0", 1);
  assert_int_equal(dq_map_policy_default(), DQ_MAP_ADVISE);
  setenv("DOCQ_MODEL_RECACHE", "1", 1);
  assert_int_equal(dq_map_policy_default(), DQ_MAP_RECACHE);
  setenv("DOCQ_MODEL_RECACHE", "", 1); /* "anything else" */
  assert_int_equal(dq_map_policy_default(), DQ_MAP_RECACHE);

  if (saved) setenv("DOCQ_MODEL_RECACHE", saved, 1);
  else unsetenv("DOCQ_MODEL_RECACHE");
  free(saved);
}

/* ---- errors and names ------------------------------------------------------- */

static void test_engine_mapfile__bad_fd_is_eio_with_path(void **state)
{
  (void)state;
  const size_t sizes[] = {5000, BIG};
  for (size_t s = 0; s < 2; s++)
    for (size_t i = 0; i < sizeof policies / sizeof *policies; i++) {
      dq_map m;
      dq_err_clear();
      assert_int_equal(dq_map_file(&m, -1, sizes[s], policies[i], "/no/such/model.gguf"), DOCQ_EIO);
      const char *msg = dq_err_msg();
      if (strncmp(msg, "/no/such/model.gguf: mmap failed: ", 34) != 0) print_error("message: %s\n", msg);
      assert_int_equal(strncmp(msg, "/no/such/model.gguf: mmap failed: ", 34), 0);
    }
}

static void test_engine_mapfile__state_names(void **state)
{
  (void)state;
  const char *names[5];
  for (int s = DQ_MAP_S_PLAIN; s <= DQ_MAP_S_NO_LARGE; s++) {
    names[s] = dq_map_state_name(s);
    assert_non_null(names[s]);
    assert_true(names[s][0] != '\0');
    for (int k = 0; k < s; k++) assert_string_not_equal(names[s], names[k]);
  }
  assert_string_equal(names[DQ_MAP_S_PLAIN], "plain");
  assert_string_equal(names[DQ_MAP_S_ADVISED], "advised");
  const int unknown[] = {-1, 5, 99};
  for (size_t i = 0; i < 3; i++) {
    const char *n = dq_map_state_name(unknown[i]);
    assert_non_null(n);
    assert_true(n[0] != '\0');
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_mapfile__every_policy_maps_the_bytes),
    cmocka_unit_test(test_engine_mapfile__partial_last_page),
    cmocka_unit_test(test_engine_mapfile__small_files_are_plain),
    cmocka_unit_test(test_engine_mapfile__plain_policy_is_plain),
    cmocka_unit_test(test_engine_mapfile__advised_states_and_alignment),
    cmocka_unit_test(test_engine_mapfile__recache_gives_2mib_pages),
    cmocka_unit_test(test_engine_mapfile__recache_mends_a_partly_small_cache),
    cmocka_unit_test(test_engine_mapfile__scan_of_small_pages),
    cmocka_unit_test(test_engine_mapfile__file_cut_short_before_the_load),
    cmocka_unit_test(test_engine_mapfile__evicted_extents_fault_back_in_2mib_pages),
    cmocka_unit_test(test_engine_mapfile__huge_bytes),
    cmocka_unit_test(test_engine_mapfile__policy_default_reads_env),
    cmocka_unit_test(test_engine_mapfile__bad_fd_is_eio_with_path),
    cmocka_unit_test(test_engine_mapfile__state_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
