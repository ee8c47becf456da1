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

/* Wait until *word != val: pause-spin, then spin with sched_yield (when the
 * other thread we wait for shares our core with a third process, yielding is
 * what lets it run), then sleep. Returns the new value. */
static unsigned wait_change(atomic_uint *word, unsigned val, atomic_int *sleepers)
{
  unsigned v;
  for (int i = 0; i < POOL_PAUSE_SPINS; i++) {
    if ((v = atomic_load_explicit(word, memory_order_acquire)) != val) return v;
    cpu_relax();
  }
  const uint64_t t0 = now_ns();
  for (unsigned i = 0;; i++) {
    if ((v = atomic_load_explicit(word, memory_order_acquire)) != val) return v;
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

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  struct dq_pool *p = w->pool;
  unsigned seen = 0; /* gen's initial value: a run may already be published before this thread starts */
  for (;;) {
    seen = wait_change(&p->gen, seen, &p->gen_sleepers);
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
  while (v != (unsigned)p->n) v = wait_change(&p->done, v, &p->done_sleepers);
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
