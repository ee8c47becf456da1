/* dq_map: model files mapped for streaming from 2 MiB pages (mapfile.h has
 * the why). Linux-specific parts (MADV_HUGEPAGE, MADV_POPULATE_READ,
 * /proc/self/smaps) degrade to a plain mapping where they are missing. */
#include "engine/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/err.h"
#include "util/mem.h"

#define HUGE_SZ ((size_t)2 << 20)

int dq_map_policy_default(void)
{
  const char *e = getenv("DOCQ_MODEL_RECACHE");
  return e && !strcmp(e, "0") ? DQ_MAP_ADVISE : DQ_MAP_RECACHE;
}

const char *dq_map_state_name(int state)
{
  switch (state) {
  case DQ_MAP_S_ADVISED: return "advised";
  case DQ_MAP_S_HUGE: return "2 MiB pages";
  case DQ_MAP_S_RECACHED: return "re-cached in 2 MiB pages";
  case DQ_MAP_S_NO_LARGE: return "small pages (re-reading gave no 2 MiB folios)";
  default: return "plain";
  }
}

static size_t page_size(void)
{
  long ps = sysconf(_SC_PAGESIZE);
  return ps > 0 ? (size_t)ps : 4096;
}

/* "[never]" in the THP setting: no 2 MiB pages whatever we advise. */
static int thp_disabled(void)
{
  char buf[128] = {0};
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (!f) return 1;
  size_t r = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[r] = 0;
  return strstr(buf, "[never]") != NULL;
}

/* Map fd at a 2 MiB-aligned address: reserve n + 2 MiB, map the file over
 * the first aligned address with MAP_FIXED, give back the rest. */
static uint8_t *map_aligned(int fd, size_t n)
{
  const size_t ps = page_size(), nr = (n + ps - 1) / ps * ps, span = nr + HUGE_SZ;
  uint8_t *res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (res == MAP_FAILED) return NULL;
  uint8_t *al = (uint8_t *)(((uintptr_t)res + HUGE_SZ - 1) & ~(uintptr_t)(HUGE_SZ - 1));
  uint8_t *p = mmap(al, n, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) {
    munmap(res, span);
    return NULL;
  }
  if (al > res) munmap(res, (size_t)(al - res));
  if (al + nr < res + span) munmap(al + nr, (size_t)(res + span - (al + nr)));
  return p;
}

long long dq_map_huge_bytes(const void *p)
{
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char *line = NULL; /* whole lines: a mapped file's path can be long */
  size_t cap = 0;
  long long kb = -1;
  int in = 0;
  while (getline(&line, &cap, f) > 0) {
    unsigned long long a, b;
    /* VMA headers start with a lower-case hex address; fields with a capital */
    if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) {
      if (in) break;
      in = sscanf(line, "%llx-%llx", &a, &b) == 2 && a == (unsigned long long)(uintptr_t)p;
    } else if (in && !strncmp(line, "FilePmdMapped:", 14)) {
      kb = strtoll(line + 14, NULL, 10);
    }
  }
  free(line);
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

/* Fault in [q, q+len) (MADV_POPULATE_READ, Linux 5.14; else one read per page). */
static void populate(const uint8_t *q, size_t len)
{
#ifdef MADV_POPULATE_READ
  if (madvise((void *)q, len, MADV_POPULATE_READ) == 0) return;
#endif
  const size_t ps = page_size();
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < len; i += ps) sink ^= q[i];
  (void)sink;
}

/* Fraction (0..1) of the mapping's pages in the page cache. */
static double resident_share(const uint8_t *p, size_t n)
{
  const size_t ps = page_size(), np = (n + ps - 1) / ps;
  unsigned char *v = dq_malloc(np);
  if (!v) return 0.0;
  size_t c = 0;
  if (mincore((void *)p, n, v) == 0)
    for (size_t i = 0; i < np; i++) c += v[i] & 1;
  dq_free(v);
  return (double)c / (double)np;
}

/* Drop our mapping of [off, off+len) and the file's clean cached pages there. */
static void drop(const dq_map *m, int fd, size_t off, size_t len)
{
  if (!len) return;
  madvise((void *)(m->p + off), len, MADV_DONTNEED);
  posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

/* The re-cache step of DQ_MAP_RECACHE on an advised, aligned mapping that
 * nothing has touched yet, so FilePmdMapped counts only what we fault here.
 * A cache can be part huge, part small (pages evicted and read back by a
 * program that did not advise, or by readahead in smaller folios), so
 * extents spread over the file are sampled; the file is re-cached only when
 * at least a quarter of them are small, so a file that re-caching left
 * mostly huge is not re-read at every load. */
#define PROBES 32
static int recache(dq_map *m, int fd)
{
  if (resident_share(m->p, m->n) < 0.125) return DQ_MAP_S_ADVISED; /* faults will read it in 2 MiB folios */
  const long long h0 = dq_map_huge_bytes(m->p);
  if (h0 < 0) return DQ_MAP_S_ADVISED; /* cannot tell: leave the cache alone */
  size_t off[PROBES];
  int np = 0;
  for (size_t i = 0; i < PROBES; i++) {
    const size_t o = (m->n / (2 * PROBES) * (2 * i + 1)) & ~(HUGE_SZ - 1);
    if ((np && o == off[np - 1]) || o + HUGE_SZ > m->n) continue;
    populate(m->p + o, HUGE_SZ);
    off[np++] = o;
  }
  const long long h1 = dq_map_huge_bytes(m->p);
  if (h1 < 0) return DQ_MAP_S_ADVISED;
  const long long huge = (h1 - h0) / (long long)HUGE_SZ;
  if (np == 0 || (np - huge) * 4 < np) return DQ_MAP_S_HUGE;
  /* find a small extent: unmap, then fault them again one at a time */
  madvise((void *)m->p, m->n, MADV_DONTNEED);
  long long h = dq_map_huge_bytes(m->p), hk;
  size_t small = SIZE_MAX;
  for (int k = 0; k < np && small == SIZE_MAX; k++) {
    populate(m->p + off[k], HUGE_SZ);
    if ((hk = dq_map_huge_bytes(m->p)) < h + (long long)HUGE_SZ) small = off[k];
    h = hk;
  }
  if (small == SIZE_MAX) return DQ_MAP_S_HUGE; /* they came back huge (mapped small the first time) */
  /* can this file come back in 2 MiB folios? try on that extent */
  drop(m, fd, small, HUGE_SZ);
  populate(m->p + small, HUGE_SZ);
  if (dq_map_huge_bytes(m->p) < h + (long long)HUGE_SZ) return DQ_MAP_S_NO_LARGE;
  drop(m, fd, 0, small); /* the rest comes back in 2 MiB folios as it is read */
  drop(m, fd, small + HUGE_SZ, m->n - small - HUGE_SZ);
  return DQ_MAP_S_RECACHED;
}

int dq_map_file(dq_map *m, int fd, size_t n, int policy, const char *path)
{
  memset(m, 0, sizeof *m);
  uint8_t *p = NULL;
  const int huge = policy != DQ_MAP_PLAIN && n >= DQ_MAP_MIN_HUGE && !thp_disabled();
#ifdef MADV_HUGEPAGE
  if (huge) p = map_aligned(fd, n);
#endif
  if (!p) {
    void *q = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (q == MAP_FAILED) return dq_err_set(DOCQ_EIO, "%s: mmap failed: %s", path, strerror(errno));
    m->p = q;
    m->n = n;
    return 0;
  }
  m->p = p;
  m->n = n;
#ifdef MADV_HUGEPAGE
  if (madvise(p, n, MADV_HUGEPAGE) == 0)
    m->state = policy == DQ_MAP_RECACHE ? recache(m, fd) : DQ_MAP_S_ADVISED;
#endif
  return 0;
}

void dq_map_release(const dq_map *m)
{
  if (m && m->p) munmap((void *)m->p, m->n);
}
