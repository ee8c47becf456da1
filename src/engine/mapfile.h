/* dq_map: map a model file read-only so that decode streams it from 2 MiB
 * pages where the kernel can give them.
 *
 * Decode reads every weight once per token. With 4 KiB pages that read pays
 * a TLB miss and a prefetcher restart every 4 KiB; on the 2-core Zen 3 of
 * the benchmarks, decode of the Qwen2.5-0.5B-shaped Q8_0 file ran 6% faster
 * from 2 MiB pages, Q4_K_M (more compute per byte) 1.6% (docs/design.md,
 * "Model files in 2 MiB pages"). Linux maps a file by 2 MiB entries only when
 * the mapping is 2 MiB-aligned and the page cache holds the file in 2 MiB
 * folios, and it builds those folios only when it reads the file in through
 * a mapping advised MADV_HUGEPAGE (ext4, XFS, tmpfs on recent kernels). A
 * file that is already cached in small folios (just written or downloaded,
 * or read by another program) stays so: the kernel does not collapse file
 * pages unless built with READ_ONLY_THP_FOR_FS.
 *
 * A cache can also be part huge, part small: pages evicted piecemeal (memory
 * pressure, or a reclaimer such as the DAMON pageout scheme of the benchmark
 * VM) come back in small folios when a program that did not advise reads
 * them, or a fault's readahead runs into them. On that VM a cached Q4_K_M file had 90 of its 188 extents of 2 MiB in
 * small folios.
 *
 * So dq_map_file maps 2 MiB-aligned, advises MADV_HUGEPAGE and, under
 * DQ_MAP_RECACHE, when at least 1/8 of the file is cached:
 * - where the kernel can scan page tables (PAGEMAP_SCAN, Linux 6.7), it
 *   faults in the wholly cached 2 MiB extents (no disk reads), drops the
 *   extents that are not then mapped by one 2 MiB entry and those only
 *   partly cached, and reads them back at once, one fault per extent, in
 *   2 MiB folios; the rest of the cache stays. There the mapping also has
 *   readahead off (MADV_RANDOM): a fault still reads its whole extent as one
 *   folio, and extents evicted later come back so (readahead ran into the
 *   next extent in smaller folios);
 * - on older kernels it samples up to 32 extents across the file and, when
 *   at least a quarter are in small folios, drops the file's clean cached
 *   pages.
 * Either way it first drops and re-reads one such extent, and goes on only if
 * that comes back as one 2 MiB folio. Dropping is safe (clean pages only;
 * pages that other processes have mapped stay) and costs one read from disk
 * of what was dropped, once: later loads find the large folios in the cache. */
#ifndef DQ_ENGINE_MAPFILE_H
#define DQ_ENGINE_MAPFILE_H

#include <stddef.h>
#include <stdint.h>

enum dq_map_policy {
  DQ_MAP_PLAIN = 0,   /* mmap only */
  DQ_MAP_ADVISE = 1,  /* 2 MiB-aligned + MADV_HUGEPAGE; never drops cached pages */
  DQ_MAP_RECACHE = 2, /* as ADVISE, and re-cache a small-folio file as described above */
};

/* What dq_map_file found and did, for reports and tests. */
enum dq_map_state {
  DQ_MAP_S_PLAIN = 0,     /* small file, plain policy, or no 2 MiB pages on this system */
  DQ_MAP_S_ADVISED,       /* advised; the file was mostly not cached, or the policy forbade a probe */
  DQ_MAP_S_HUGE,          /* every cached extent (scanned), or at least 3/4 of the sampled
                           * ones, in 2 MiB folios already */
  DQ_MAP_S_RECACHED,      /* small folios dropped: they come back in 2 MiB folios */
  DQ_MAP_S_NO_LARGE,      /* re-reading the probe extent gave small folios again (a file system
                           * without large folios, or pages another process maps): left as it was */
};

typedef struct dq_map {
  const uint8_t *p; /* n bytes, read-only; release with dq_map_release */
  size_t n;
  int state;        /* dq_map_state */
} dq_map;

/* Files smaller than this are mapped plainly whatever the policy. */
#define DQ_MAP_MIN_HUGE ((size_t)8 << 20)

/* The policy from the environment: DOCQ_MODEL_RECACHE=0 gives DQ_MAP_ADVISE,
 * anything else (or unset) DQ_MAP_RECACHE. */
int dq_map_policy_default(void);

/* Map n > 0 bytes of the open file fd (read-only; fd may be closed after the
 * call). Errors: DOCQ_EIO with "path: mmap failed: ...". */
int dq_map_file(dq_map *m, int fd, size_t n, int policy, const char *path);
void dq_map_release(const dq_map *m);

/* Bytes of the mapping that starts at p currently mapped by 2 MiB entries
 * (FilePmdMapped in /proc/self/smaps); -1 when that cannot be read. */
long long dq_map_huge_bytes(const void *p);

/* For each whole 2 MiB extent e of [p, p + ne * 2 MiB) (p 2 MiB-aligned),
 * huge[e] = 1 if it is mapped by a 2 MiB entry now, else 0 (PAGEMAP_SCAN on
 * /proc/self/pagemap). Returns 0, or -1 where the kernel cannot tell (before
 * Linux 6.7, no /proc). */
int dq_map_scan_huge(const void *p, size_t ne, unsigned char *huge);

/* A short name for a dq_map_state ("plain", "advised", ...). */
const char *dq_map_state_name(int state);

#endif
