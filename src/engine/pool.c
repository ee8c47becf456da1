/* dq_pool: a fixed set of worker threads for the kernels.
 *
 * A run publishes (fn, ctx), resets the claim counter `next` to 1 and bumps
 * the generation `gen` to wake the workers; the caller runs fn(ctx, 0, n)
 * itself. The indices 1..n-1 are not bound to threads: whoever is running
 * claims the next one (`next`), so when the machine is oversubscribed and a
 * worker is not scheduled, the caller runs that worker's share itself instead
 * of waiting for it to be woken. The caller returns when all n indices are
 * done (`done` == n); it never waits for a thread that claimed nothing.
 * Callers that split work by ith still see every ith exactly once, never two
 * at once on one thread, so per-ith scratch stays private. An fn must not
 * wait for another ith (no barriers inside a run): one thread may run
 * several indices one after the other.
 *
 * Waiting spins briefly (a decode step issues about a hundred runs tens of
 * microseconds apart, and a futex round trip costs more than that), yields
 * the core while spinning so a descheduled partner can run, and then sleeps
 * on a futex, so an idle pool burns no CPU. Nothing is allocated per run.
 * One run at a time: dq_pool_run must not be called concurrently on the same
 * pool, nor from inside fn.
 *
 * Late workers: a worker may wake after the run it was woken for has ended.
 * Its claim then fails (next >= n), or succeeds on the following run, whose
 * fn/ctx it reads only after the claim: the caller writes fn/ctx before
 * releasing `next`, and does not return from a run (and so cannot overwrite
 * them) before every claimed index has counted itself done.
 *
 * Hints (dq_pool_hint): the caller names what the next run will read; a
 * worker spinning for that run prefetches its share, checking for the run
 * between every 16 lines, so a hint never delays one.
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
#include <sched.h>
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
#define POOL_PAUSE_SPINS 256   /* pause-only polls before yielding (~2-5 us) */
#define POOL_SPIN_NS 300000    /* 0.3 ms of spinning/yielding before sleeping */
#ifndef DQ_POOL_HINT_BYTES
#define DQ_POOL_HINT_BYTES (512u << 10) /* per worker and hint (at most: a run cuts it short) */
#endif

struct worker {
  struct dq_pool *pool;
  pthread_t tid;
};

struct dq_pool {
  int n;                          /* threads including the caller */
  struct worker *w;               /* n - 1 workers (index 0 unused) */
  void (*fn)(void *ctx, int ith, int nth); /* read only after a successful claim */
  void *ctx;
  atomic_int stop;                /* read by workers after a generation change */
  _Alignas(64) atomic_uint gen;   /* futex word: run generation (wake-up signal only) */
  atomic_int gen_sleepers;
  _Alignas(64) atomic_int next;   /* next unclaimed ith */
  _Alignas(64) atomic_uint done;  /* futex word: indices finished in this run */
  atomic_int done_sleepers;
  /* dq_pool_hint: regions published before hint_gen is bumped; atomics,
   * since a later hint may overwrite them while a worker reads (a torn
   * region costs only useless prefetches) */
  _Alignas(64) atomic_uint hint_gen;
  atomic_int hint_n;
  _Atomic(const uint8_t *) hint_p[DQ_POOL_HINT_MAX];
  atomic_size_t hint_len[DQ_POOL_HINT_MAX];
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

/* A worker's view of dq_pool_hint: which hint it has taken. */
struct hint_state {
  struct dq_pool *p;
  int wi;              /* the worker's index: its share of the hinted bytes */
  unsigned gen;        /* the last hint taken */
};

/* Take a new hint, if any: prefetch the worker's share of it into L2 (the
 * kernels' own prefetches bring it on to L1), 16 lines at a time, until the
 * next run is published (returns its gen) or the share is done (returns
 * `seen`). Why: the serial steps between a decode step's runs (norms,
 * attention, SwiGLU: 2-6 us each) left memory idle; the worker's share of
 * the next product now starts in L2. Zen 5, 0.5B-shaped Q4_K_M decode, host
 * reading ~50 GB/s (a throwaway build timing each run): wo 30k -> 24k TSC
 * cycles, q/k/v 40k -> 37k. Whole-model decode against no hint, builds
 * rotating (bench_engine -p 0 -n 64 -t 2 -r 5 --bw, 2026-11-30), medians of
 * the paired ratios where the host read 45-57 GB/s: 0.5B Q4_K_M 1.035 (6 of
 * 7 faster), Q8_0 1.016 (7 of 7), Llama-1B-shaped Q8_0 1.010 (4 of 7),
 * Q4_K_M 0.990 (3 of 6); at 65 GB/s and more, 0.5B Q4_K_M 1.026 (3 of 4),
 * the others 0.99-1.00. 256 KiB a hint: 1.004-1.016 where the host read
 * 45-57 GB/s. */
static unsigned prefetch_hint(struct hint_state *hs, unsigned seen)
{
  struct dq_pool *p = hs->p;
  const int wi = hs->wi;
  const unsigned h = atomic_load_explicit(&p->hint_gen, memory_order_acquire);
  if (h == hs->gen) return seen;
  hs->gen = h;
  const int n = atomic_load_explicit(&p->hint_n, memory_order_relaxed);
  const uint8_t *ptr[DQ_POOL_HINT_MAX];
  size_t len[DQ_POOL_HINT_MAX], total = 0;
  for (int i = 0; i < n; i++) {
    ptr[i] = atomic_load_explicit(&p->hint_p[i], memory_order_relaxed);
    len[i] = atomic_load_explicit(&p->hint_len[i], memory_order_relaxed);
    total += len[i];
  }
  size_t off = total / (size_t)p->n * (size_t)wi, left = total - off;
  if (left > DQ_POOL_HINT_BYTES) left = DQ_POOL_HINT_BYTES;
  int r = 0;
  while (r < n && off >= len[r]) off -= len[r++];
  while (left > 0 && r < n) {
    unsigned v = atomic_load_explicit(&p->gen, memory_order_acquire);
    if (v != seen) return v;
    for (int j = 0; j < 16 && left > 0 && r < n; j++) {
#if defined(__x86_64__) || defined(__i386__)
      _mm_prefetch((const char *)ptr[r] + off, _MM_HINT_T1);
#else
      __builtin_prefetch(ptr[r] + off, 0, 2);
#endif
      off += 64;
      left = left > 64 ? left - 64 : 0;
      if (off >= len[r]) off = 0, r++;
    }
  }
  return seen;
}

/* Wait until *word != val: pause-spin, then spin with sched_yield (when the
 * other thread we wait for shares our core with a third process, yielding is
 * what lets it run), then sleep. Returns the new value. A worker waiting for
 * a run (hs) prefetches hinted bytes while it spins. */
static unsigned wait_change(atomic_uint *word, unsigned val, atomic_int *sleepers, struct hint_state *hs)
{
  unsigned v;
  for (int i = 0; i < POOL_PAUSE_SPINS; i++) {
    if ((v = atomic_load_explicit(word, memory_order_acquire)) != val) return v;
    if (hs && (v = prefetch_hint(hs, val)) != val) return v;
    cpu_relax();
  }
  const uint64_t t0 = now_ns();
  for (unsigned i = 0;; i++) {
    if ((v = atomic_load_explicit(word, memory_order_acquire)) != val) return v;
    if (hs && (v = prefetch_hint(hs, val)) != val) return v;
    sched_yield();
    if ((i & 7) == 7 && now_ns() - t0 > POOL_SPIN_NS) break;
  }
  for (;;) {
    atomic_fetch_add(sleepers, 1);
    futex_wait(word, val);
    atomic_fetch_sub(sleepers, 1);
    if ((v = atomic_load_explicit(word, memory_order_acquire)) != val) return v;
  }
}

/* Claim and run indices of the current run until none is left. */
static void run_claims(struct dq_pool *p)
{
  for (;;) {
    int i = atomic_fetch_add(&p->next, 1); /* seq_cst: acquires fn/ctx published with `next` */
    if (i >= p->n) return;
    p->fn(p->ctx, i, p->n);
    if (atomic_fetch_add(&p->done, 1) + 1 == (unsigned)p->n && atomic_load(&p->done_sleepers) > 0)
      futex_wake(&p->done); /* seq_cst: see protocol */
  }
}

void dq_pool_hint(dq_pool *p, int n, const void *const *ptrs, const size_t *lens)
{
  if (!p || p->n == 1) return;
  if (n > DQ_POOL_HINT_MAX) n = DQ_POOL_HINT_MAX;
  for (int i = 0; i < n; i++) {
    atomic_store_explicit(&p->hint_p[i], (const uint8_t *)ptrs[i], memory_order_relaxed);
    atomic_store_explicit(&p->hint_len[i], lens[i], memory_order_relaxed);
  }
  atomic_store_explicit(&p->hint_n, n, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->hint_gen, 1, memory_order_release);
}

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  struct dq_pool *p = w->pool;
  struct hint_state hs = { p, (int)(w - p->w), 0 };
  unsigned seen = 0; /* gen's initial value: a run may already be published before this thread starts */
  for (;;) {
    seen = wait_change(&p->gen, seen, &p->gen_sleepers, &hs);
    if (atomic_load(&p->stop)) break;
    run_claims(p);
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
  atomic_init(&p->stop, 0);
  atomic_init(&p->gen, 0);
  atomic_init(&p->gen_sleepers, 0);
  atomic_init(&p->next, n_threads); /* nothing to claim before the first run */
  atomic_init(&p->done, 0);
  atomic_init(&p->done_sleepers, 0);
  atomic_init(&p->hint_gen, 0);
  atomic_init(&p->hint_n, 0);
  if (!(p->w = dq_calloc((size_t)n_threads, sizeof *p->w))) { rc = DOCQ_ENOMEM; goto done; }
  for (int i = 1; i < n_threads; i++, started++) {
    p->w[i].pool = p;
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
  atomic_store(&p->done, 1);   /* ith 0 is the caller's and counts as done once fn returns below */
  atomic_store(&p->next, 1);   /* seq_cst: publishes fn/ctx/done to whoever claims */
  atomic_fetch_add(&p->gen, 1);
  if (atomic_load(&p->gen_sleepers) > 0) futex_wake(&p->gen);
  fn(ctx, 0, p->n);
  run_claims(p);               /* indices no worker has picked up yet */
  unsigned v = atomic_load_explicit(&p->done, memory_order_acquire);
  while (v != (unsigned)p->n) v = wait_change(&p->done, v, &p->done_sleepers, NULL);
}

void dq_pool_free(dq_pool *p)
{
  if (!p) return;
  if (p->w) {
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->gen, 1);
    futex_wake(&p->gen);
    for (int i = 1; i < p->n; i++) pthread_join(p->w[i].tid, NULL);
    dq_free(p->w);
  }
  dq_free(p);
}
