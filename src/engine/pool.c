/* dq_pool: a fixed set of worker threads for the kernels.
 *
 * A run publishes (fn, ctx), bumps the generation counter `gen` and calls
 * fn(ctx, 0, n) on the caller thread; workers see the new generation, run
 * fn(ctx, ith, n) and count `pending` down; the caller returns when it is 0.
 * Waiting spins briefly (a decode step issues hundreds of runs a few
 * microseconds apart, and a futex round trip costs more than that) and then
 * sleeps on a futex, so an idle pool burns no CPU. Nothing is allocated per
 * run. One run at a time: dq_pool_run must not be called concurrently on the
 * same pool, nor from inside fn.
 *
 * Sleep/wake protocol (no lost wake-ups): a waiter increments its `*_sleepers`
 * counter and then futex-waits on the word only if it still has the value it
 * saw; the publisher stores the word first and then reads the sleeper count
 * (both seq_cst), so either it sees the sleeper and wakes it, or the sleeper's
 * futex call sees the new value and returns at once. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#include "engine/kernels.h"
#include "util/err.h"
#include "util/mem.h"

#define POOL_MAX_THREADS 256
#define POOL_SPIN_NS 200000 /* 0.2 ms of spinning before sleeping */

struct worker {
  struct dq_pool *pool;
  int ith;
  pthread_t tid;
};

struct dq_pool {
  int n;                          /* threads including the caller */
  struct worker *w;               /* n - 1 workers (index 0 unused) */
  void (*fn)(void *ctx, int ith, int nth);
  void *ctx;
  int stop;                       /* read by workers after a generation change */
  _Alignas(64) atomic_uint gen;   /* futex word: run generation */
  atomic_int gen_sleepers;
  _Alignas(64) atomic_uint pending; /* futex word: workers still running */
  atomic_int done_sleepers;
};

static void futex_wait(atomic_uint *addr, unsigned val)
{
  syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(atomic_uint *addr)
{
  syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait until *word != val (spin, then sleep). Returns the new value. */
static unsigned wait_change(atomic_uint *word, unsigned val, atomic_int *sleepers)
{
  unsigned v;
  uint64_t t0 = 0;
  for (unsigned i = 0;; i++) {
    if ((v = atomic_load_explicit(word, memory_order_acquire)) != val) return v;
    cpu_relax();
    if ((i & 63) == 63) {
      uint64_t t = now_ns();
      if (!t0) t0 = t;
      else if (t - t0 > POOL_SPIN_NS) break;
    }
  }
  for (;;) {
    atomic_fetch_add(sleepers, 1);
    futex_wait(word, val);
    atomic_fetch_sub(sleepers, 1);
    if ((v = atomic_load_explicit(word, memory_order_acquire)) != val) return v;
  }
}

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  struct dq_pool *p = w->pool;
  unsigned seen = 0; /* gen's initial value: a run may already be published before this thread starts */
  for (;;) {
    seen = wait_change(&p->gen, seen, &p->gen_sleepers);
    if (p->stop) break;
    p->fn(p->ctx, w->ith, p->n);
    if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->done_sleepers) > 0) /* seq_cst: see protocol */
      futex_wake(&p->pending);
  }
  return NULL;
}

int dq_pool_new(dq_pool **out, int n_threads)
{
  int rc = DOCQ_OK, started = 0;
  dq_pool *p = NULL;
  *out = NULL;
  if (n_threads <= 0) {
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    n_threads = nc > 0 ? (int)(nc < POOL_MAX_THREADS ? nc : POOL_MAX_THREADS) : 1;
  }
  if (n_threads > POOL_MAX_THREADS) n_threads = POOL_MAX_THREADS;
  if (!(p = dq_calloc(1, sizeof *p))) return DOCQ_ENOMEM;
  p->n = n_threads;
  atomic_init(&p->gen, 0);
  atomic_init(&p->pending, 0);
  atomic_init(&p->gen_sleepers, 0);
  atomic_init(&p->done_sleepers, 0);
  if (!(p->w = dq_calloc((size_t)n_threads, sizeof *p->w))) { rc = DOCQ_ENOMEM; goto done; }
  for (int i = 1; i < n_threads; i++, started++) {
    p->w[i].pool = p;
    p->w[i].ith = i;
    int e = pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i]);
    if (e) { rc = dq_err_set(DOCQ_ERROR, "thread pool: pthread_create failed (errno %d)", e); goto done; }
  }
  *out = p;
  p = NULL;
done:
  if (p) {
    p->n = started + 1; /* only join what was started */
    dq_pool_free(p);
  }
  return rc;
}

int dq_pool_size(const dq_pool *p) { return p ? p->n : 1; }

void dq_pool_run(dq_pool *p, void (*fn)(void *ctx, int ith, int nth), void *ctx)
{
  if (!p || p->n == 1) {
    fn(ctx, 0, 1);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  atomic_store_explicit(&p->pending, (unsigned)(p->n - 1), memory_order_relaxed);
  atomic_fetch_add(&p->gen, 1); /* seq_cst: publishes fn/ctx/pending */
  if (atomic_load(&p->gen_sleepers) > 0) futex_wake(&p->gen);
  fn(ctx, 0, p->n);
  unsigned v = atomic_load_explicit(&p->pending, memory_order_acquire);
  while (v != 0) v = wait_change(&p->pending, v, &p->done_sleepers);
}

void dq_pool_free(dq_pool *p)
{
  if (!p) return;
  if (p->w) {
    p->stop = 1;
    atomic_fetch_add(&p->gen, 1);
    futex_wake(&p->gen);
    for (int i = 1; i < p->n; i++) pthread_join(p->w[i].tid, NULL);
    dq_free(p->w);
  }
  dq_free(p);
}
