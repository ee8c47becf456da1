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
#include <sys/ioctl.h>
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
  /* Touch pages only where the kernel does not know the advice (EINVAL):
   * after any other failure (EFAULT: the file was cut short since it was
   * opened) a touch would raise SIGBUS, and faulting in is only a hint. */
  if (madvise((void *)q, len, MADV_POPULATE_READ) == 0 || errno != EINVAL) return;
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

/* PAGEMAP_SCAN (Linux 6.7): which pages of a range are mapped by 2 MiB
 * entries, in one ioctl on /proc/self/pagemap. The kernel's ABI, declared
 * here because older headers (Debian 12's 6.1) lack it. */
struct pm_region {
  uint64_t start, end, categories;
};
struct pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PM_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_IS_HUGE ((uint64_t)1 << 6)

int dq_map_scan_huge(const void *p, size_t ne, unsigned char *huge)
{
  const int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pm < 0) return -1;
  memset(huge, 0, ne);
  struct pm_region reg[64];
  const uint64_t base = (uint64_t)(uintptr_t)p, end = base + (uint64_t)ne * HUGE_SZ;
  uint64_t at = base;
  int rc = 0;
  while (at < end) {
    struct pm_scan_arg a = {.size = sizeof a, .start = at, .end = end, .vec = (uint64_t)(uintptr_t)reg,
                            .vec_len = sizeof reg / sizeof *reg, .category_mask = PM_IS_HUGE,
                            .return_mask = PM_IS_HUGE};
    const long k = ioctl(pm, PM_SCAN, &a);
    if (k < 0 || a.walk_end <= at || a.walk_end > end) { /* unsupported, or no progress: cannot tell */
      rc = -1;
      break;
    }
    for (long i = 0; i < k; i++) {
      if (reg[i].start < at || reg[i].end > end || reg[i].end <= reg[i].start) continue;
      /* whole extents inside the region (2 MiB entries cover whole aligned extents) */
      for (uint64_t e = (reg[i].start - base + HUGE_SZ - 1) / HUGE_SZ; e < (reg[i].end - base) / HUGE_SZ; e++)
        huge[e] = 1;
    }
    at = a.walk_end;
  }
  close(pm);
  return rc;
}

/* The re-cache step of DQ_MAP_RECACHE, extent by extent, where PAGEMAP_SCAN
 * tells which 2 MiB extents are mapped by 2 MiB entries. The extents wholly
 * in the page cache are faulted in (no disk reads) and scanned; those the
 * kernel could not map by one entry (cached in small folios) and those only
 * partly cached (a fault would fill the rest with small folios) are dropped
 * and read back in 2 MiB folios; the rest of the cache is left alone. One
 * dropped extent is read back first: if it does not come back as one folio,
 * nothing more is dropped (DQ_MAP_S_NO_LARGE). -1 if a scan fails (the
 * caller then samples). Called only where dq_map_scan_huge works. */
static int recache_extents(dq_map *m, int fd)
{
  const size_t ps = page_size(), ne = m->n / HUGE_SZ, per = HUGE_SZ / ps;
  unsigned char *huge = dq_malloc(ne), *whole = dq_malloc(ne), *res = dq_malloc(ne * per);
  size_t *bad = dq_malloc(ne * sizeof *bad), nbad = 0;
  int state = -1;
  if (!huge || !whole || !res || !bad || mincore((void *)m->p, ne * HUGE_SZ, res) != 0) goto out;
  for (size_t e = 0, run = 0; e <= ne; e++) { /* fault in runs of wholly cached extents */
    size_t c = 0;
    for (size_t i = 0; e < ne && i < per; i++) c += res[e * per + i] & 1;
    if (e < ne) whole[e] = c == per;
    if (e < ne && whole[e]) continue;
    if (e > run) populate(m->p + run * HUGE_SZ, (e - run) * HUGE_SZ);
    run = e + 1;
    if (e < ne && c) bad[nbad++] = e; /* partly cached */
  }
  if (dq_map_scan_huge(m->p, ne, huge) != 0) goto out;
  for (size_t e = 0; e < ne; e++) /* and the wholly cached extents not mapped by 2 MiB entries */
    if (whole[e] && !huge[e]) bad[nbad++] = e;
  state = DQ_MAP_S_HUGE;
  if (nbad) {
    /* Read back here, each extent by its own fault with readahead off (set
     * by dq_map_file): runs of dropped extents left to the forward pass with
     * readahead on came back partly small (5 of 45 in one of two trials);
     * read back so, none of 135 did in three. */
    const size_t off = bad[0] * HUGE_SZ;
    drop(m, fd, off, HUGE_SZ);
    populate(m->p + off, HUGE_SZ);
    unsigned char h = 0;
    if (dq_map_scan_huge(m->p + off, 1, &h) != 0 || !h) state = DQ_MAP_S_NO_LARGE;
    else {
      for (size_t k = 1; k < nbad; k++) drop(m, fd, bad[k] * HUGE_SZ, HUGE_SZ);
      for (size_t k = 1; k < nbad; k++) populate(m->p + bad[k] * HUGE_SZ, HUGE_SZ);
      state = DQ_MAP_S_RECACHED;
    }
  }
out:
  dq_free(bad);
  dq_free(huge);
  dq_free(whole);
  dq_free(res);
  return state;
}

/* The re-cache step where the kernel cannot scan (before Linux 6.7): on an
 * advised, aligned mapping that nothing has touched yet, so FilePmdMapped
 * counts only what we fault here. A cache can be part huge, part small
 * (pages evicted and read back by a program that did not advise, or by
 * readahead in smaller folios), so extents spread over the file are sampled;
 * the file is re-cached only when at least a quarter of them are small, so a
 * file that re-caching left mostly huge is not re-read at every load. */
#define PROBES 32
static int recache_sampled(dq_map *m, int fd)
{
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

/* DQ_MAP_RECACHE's step on a fresh advised, aligned mapping; can_scan: the
 * kernel has PAGEMAP_SCAN. */
static int recache(dq_map *m, int fd, int can_scan)
{
  if (resident_share(m->p, m->n) < 0.125) return DQ_MAP_S_ADVISED; /* faults will read it in 2 MiB folios */
  const int state = can_scan ? recache_extents(m, fd) : -1;
  return state >= 0 ? state : recache_sampled(m, fd);
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
  if (madvise(p, n, MADV_HUGEPAGE) == 0) {
    /* Readahead off: a fault in an advised mapping still reads its whole
     * 2 MiB extent as one folio (Linux 5.18 on), but readahead runs into the
     * next extent in smaller folios. Extents evicted while the model is
     * cached came back small so: with 80 of a 504 MiB file's 251 extents
     * evicted, 458-484 MiB were in 2 MiB pages after decode read it, 502
     * with readahead off (the whole extents), and a cold start of a 1.3 GB
     * file took no longer (0.6-1.6 s either way). Set where the kernel can
     * scan (6.7 on): before 5.18 it would read each fault's 4 KiB alone. */
    unsigned char h;
    const int can_scan = dq_map_scan_huge(p, 1, &h) == 0;
    if (can_scan) madvise(p, n, MADV_RANDOM);
    m->state = policy == DQ_MAP_RECACHE ? recache(m, fd, can_scan) : DQ_MAP_S_ADVISED;
  }
#endif
  return 0;
}

void dq_map_release(const dq_map *m)
{
  if (m && m->p) munmap((void *)m->p, m->n);
}
