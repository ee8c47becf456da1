/* Memory read bandwidth of this machine, for the decode benchmarks: decode
 * streams every weight once per token, so its ceiling is how fast the cores
 * can read memory. On a shared host that figure moves from minute to minute
 * (18-45 GB/s with 2 threads on the same machine on one day), so a ratio is
 * only meaningful against a reading taken right beside the decode run. */
#ifndef DQ_BENCH_MEMBW_H
#define DQ_BENCH_MEMBW_H

#include <stddef.h>

#include "engine/kernels.h"

typedef struct dq_membw dq_membw;

/* A buffer of `bytes` (>= 256 MiB reads DRAM, not cache; rounded down to
 * whole 2 MiB pages, which it asks the kernel for) to read with pool's
 * threads. NULL when out of memory. */
dq_membw *dq_membw_new(size_t bytes);
void dq_membw_free(dq_membw *b);

/* Read the buffer `reps` times with all of pool's threads (AVX2 loads, the
 * work split evenly); the median pass in GB/s (1e9 bytes/s). */
double dq_membw_read(dq_membw *b, dq_pool *pool, int reps);

/* The same read over any `bytes` at p (e.g. a model's mapped weights: where
 * the pages sit can matter as much as how many there are; see
 * bench_engine.c). Same result units. */
double dq_membw_read_bytes(const void *p, size_t bytes, dq_pool *pool, int reps);

#endif
