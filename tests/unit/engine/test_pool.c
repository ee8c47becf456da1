/* Tests for the engine's thread pool, dq_pool (engine/kernels.h), from its
 * contract (kernels.h and the header comment of engine/pool.c):
 * dq_pool_run(p, fn, ctx) calls fn(ctx, ith, nth) exactly once for every
 * ith < nth == dq_pool_size(p), the caller itself runs ith 0, and it returns
 * only when all are done, so what fn wrote on any thread is the caller's to
 * read; one thread may run several indices one after the other but never two
 * at once; a pool idle past its ~0.3 ms of spinning sleeps and must still wake
 * for the next run; more threads than cores (this machine has 2) work.
 *
 * What fn writes is plain (non-atomic) memory on purpose: under
 * ThreadSanitizer (make tsan runs this file) a missing happens-before edge in
 * the pool's hand-offs, either way between caller and workers, shows up as a
 * data race, which a plain build cannot see.
 *
 * Checks that run on threads of the test's own return the line of the first
 * failed check instead of calling cmocka's assertions (which jump). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docq.h"
#include "engine/kernels.h"

#define MAX_NTH 8

#define CHECK(c) do { if (!(c)) return __LINE__; } while (0)

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
  struct timespec ts = {us / 1000000L, (us % 1000000L) * 1000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Work measured in loop iterations (scales with the build, e.g. TSan). */
static void busy(int n)
{
  volatile unsigned x = 0;
  for (int i = 0; i < n; i++) x += (unsigned)i;
}


/* ---- counting: every index exactly once ------------------------------- */

typedef struct {
  int hits[MAX_NTH];      /* plain: incremented by whoever runs ith */
  int nth_seen[MAX_NTH];
  pthread_t who[MAX_NTH];
  atomic_int bad_ith;     /* calls with ith or nth out of range */
  int work;               /* busy-loop iterations for every ith */
  uint64_t ith0_ns;       /* ith 0 waits up to this long for a worker to claim an index */
  pthread_t caller;
  atomic_int worker_ran;  /* a thread other than the caller ran an index */
} count_job;

static void count_fn(void *ctx, int ith, int nth)
{
  count_job *j = ctx;
  if (ith < 0 || ith >= MAX_NTH || nth < 1 || nth > MAX_NTH || ith >= nth) {
    atomic_fetch_add(&j->bad_ith, 1);
    return;
  }
  j->hits[ith]++;
  j->nth_seen[ith] = nth;
  j->who[ith] = pthread_self();
  if (!pthread_equal(pthread_self(), j->caller)) atomic_store(&j->worker_ran, 1);
  if (j->work) busy(j->work);
  if (ith == 0 && j->ith0_ns) { /* time for woken workers to claim the other indices */
    const uint64_t t0 = now_ns();
    while (!atomic_load(&j->worker_ran) && now_ns() - t0 < j->ith0_ns) busy(64);
  }
}

/* One run of count_fn on `pool`; 0 or the line of the failed check. */
static int run_count(dq_pool *pool, count_job *j)
{
  const int work = j->work;
  const uint64_t ith0_ns = j->ith0_ns;
  memset(j, 0, sizeof *j);  /* plain writes by the caller, read by the workers' fn */
  atomic_init(&j->bad_ith, 0);
  atomic_init(&j->worker_ran, 0);
  j->work = work;
  j->ith0_ns = ith0_ns;
  j->caller = pthread_self();
  const int nth = dq_pool_size(pool);
  CHECK(nth >= 1 && nth <= MAX_NTH);
  dq_pool_run(pool, count_fn, j);
  CHECK(atomic_load(&j->bad_ith) == 0);
  for (int i = 0; i < MAX_NTH; i++) {
    CHECK(j->hits[i] == (i < nth ? 1 : 0));
    if (i < nth) CHECK(j->nth_seen[i] == nth);
  }
  return 0;
}

/* ---- filling: results published, fresh fn/ctx every run --------------- */

#define FILL_N 4096
#define SENTINEL (-1e30f)

typedef struct {
  int run;
  float *out; /* FILL_N floats; ith fills its share [lo, hi) */
} fill_job;

static float value_a(int run, int k) { return (float)(run * 7 + k); }
static float value_b(int run, int k) { return -(float)(run * 3 + k * 5) - 0.5f; }

static void share(int ith, int nth, int *lo, int *hi)
{
  *lo = (int)((int64_t)FILL_N * ith / nth);
  *hi = (int)((int64_t)FILL_N * (ith + 1) / nth);
}

static void fill_a(void *ctx, int ith, int nth)
{
  fill_job *j = ctx;
  int lo, hi;
  share(ith, nth, &lo, &hi);
  for (int k = lo; k < hi; k++) j->out[k] = value_a(j->run, k);
}

static void fill_b(void *ctx, int ith, int nth)
{
  fill_job *j = ctx;
  int lo, hi;
  share(ith, nth, &lo, &hi);
  for (int k = lo; k < hi; k++) j->out[k] = value_b(j->run, k);
}

/* Two jobs over two arrays, used alternately with fill_a / fill_b: a worker
 * that ran the previous run's fn or ctx would leave sentinels in this run's
 * array, or write the wrong formula, or change the previous run's array. */
typedef struct {
  fill_job jobs[2];
  float out[2][FILL_N];
} fill_state;

static void fill_state_init(fill_state *s)
{
  for (int b = 0; b < 2; b++) {
    s->jobs[b].run = -1;
    s->jobs[b].out = s->out[b];
  }
}

static int check_fill(const fill_job *j)
{
  for (int k = 0; k < FILL_N; k++)
    CHECK(j->out[k] == ((j->run & 1) ? value_b(j->run, k) : value_a(j->run, k)));
  return 0;
}

static int run_fill(dq_pool *pool, fill_state *s, int run)
{
  fill_job *j = &s->jobs[run & 1];
  j->run = run;
  for (int k = 0; k < FILL_N; k++) j->out[k] = SENTINEL;
  dq_pool_run(pool, (run & 1) ? fill_b : fill_a, j);
  int rc = check_fill(j);
  if (rc) return rc;
  if (run > 0) { /* the previous run's array: nobody may still be writing it */
    const fill_job *prev = &s->jobs[(run - 1) & 1];
    CHECK(prev->run == run - 1);
    rc = check_fill(prev);
    if (rc) return rc;
  }
  return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_engine_pool__sizes(void **state)
{
  (void)state;
  static const int sizes[] = {1, 2, 3, 8};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    dq_pool *p = NULL;
    assert_int_equal(dq_pool_new(&p, sizes[i]), DOCQ_OK);
    assert_non_null(p);
    assert_int_equal(dq_pool_size(p), sizes[i]);
    dq_pool_free(p);
  }
  static const int all_cores[] = {0, -1, -8};
  for (size_t i = 0; i < sizeof all_cores / sizeof *all_cores; i++) {
    dq_pool *p = NULL;
    assert_int_equal(dq_pool_new(&p, all_cores[i]), DOCQ_OK);
    assert_non_null(p);
    assert_true(dq_pool_size(p) >= 1);
    dq_pool_free(p);
  }
  assert_int_equal(dq_pool_size(NULL), 1);
  dq_pool_free(NULL);
}

/* Every ith exactly once with the right nth, many short runs back to back
 * (the decode pattern), pools of 1 to 8 threads on a 2-core machine. */
static void test_engine_pool__every_index_once(void **state)
{
  (void)state;
  static const int sizes[] = {1, 2, 3, 4, 8};
  static count_job j;
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    dq_pool *p = NULL;
    assert_int_equal(dq_pool_new(&p, sizes[s]), DOCQ_OK);
    for (int run = 0; run < 2000; run++) {
      j.work = run % 8 == 0 ? 500 : 0; /* now and then some work, mostly none */
      j.ith0_ns = 0;
      assert_int_equal(run_count(p, &j), 0);
    }
    dq_pool_free(p);
  }
}

/* One thread may run several indices, but one after the other: a thread-local
 * "inside fn" flag must be clear on entry, and per-ith scratch stays intact
 * across fn's work. 8 threads on 2 cores, so the caller and workers take
 * over each other's indices. */
static _Thread_local int t_inside;

typedef struct {
  atomic_int overlaps;
  atomic_int scratch_bad;
  atomic_int calls;
  int scratch[MAX_NTH][64]; /* plain, private to ith */
} overlap_job;

static void overlap_fn(void *ctx, int ith, int nth)
{
  overlap_job *j = ctx;
  (void)nth;
  if (t_inside) atomic_fetch_add(&j->overlaps, 1);
  t_inside = 1;
  for (int k = 0; k < 64; k++) j->scratch[ith][k] = ith * 1000 + k;
  busy(3000);
  for (int k = 0; k < 64; k++)
    if (j->scratch[ith][k] != ith * 1000 + k) atomic_fetch_add(&j->scratch_bad, 1);
  atomic_fetch_add(&j->calls, 1);
  t_inside = 0;
}

static void test_engine_pool__never_two_indices_at_once_on_a_thread(void **state)
{
  (void)state;
  static const int sizes[] = {3, 8};
  static overlap_job j;
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    dq_pool *p = NULL;
    assert_int_equal(dq_pool_new(&p, sizes[s]), DOCQ_OK);
    for (int run = 0; run < 200; run++) {
      memset(j.scratch, 0, sizeof j.scratch);
      atomic_store(&j.overlaps, 0);
      atomic_store(&j.scratch_bad, 0);
      atomic_store(&j.calls, 0);
      dq_pool_run(p, overlap_fn, &j);
      assert_int_equal(atomic_load(&j.overlaps), 0);
      assert_int_equal(atomic_load(&j.scratch_bad), 0);
      assert_int_equal(atomic_load(&j.calls), sizes[s]);
      assert_int_equal(t_inside, 0);
    }
    dq_pool_free(p);
  }
}

/* The caller runs ith 0; a NULL pool and a 1-thread pool call fn(ctx, 0, 1)
 * on the caller. */
static void test_engine_pool__caller_runs_ith_0(void **state)
{
  (void)state;
  static count_job j;
  j.work = 0;
  j.ith0_ns = 0;
  assert_int_equal(run_count(NULL, &j), 0);
  assert_int_equal(j.hits[0], 1);
  assert_int_equal(j.nth_seen[0], 1);
  assert_true(pthread_equal(j.who[0], pthread_self()));

  static const int sizes[] = {1, 2, 3, 8};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    dq_pool *p = NULL;
    assert_int_equal(dq_pool_new(&p, sizes[s]), DOCQ_OK);
    for (int run = 0; run < 100; run++) {
      j.work = run % 4 == 0 ? 2000 : 0;
      assert_int_equal(run_count(p, &j), 0);
      assert_true(pthread_equal(j.who[0], pthread_self()));
    }
    dq_pool_free(p);
  }
}

/* Runs apart by 1-5 ms, longer than the ~0.3 ms of spinning: the workers
 * sleep on the futex between runs and must be woken every time. A lost
 * wake-up alone would not fail a run (the caller takes over unclaimed
 * indices), so ith 0 waits up to 100 ms for a worker to claim one, and
 * workers must have run some index in at least 40 of the 50 runs: woken,
 * they do in all of them; without the wake-up a worker still came by in 3
 * (checked by removing dq_pool_run's futex_wake). With a wait of 1 ms, a
 * loaded 2-core machine (ctest -j2 beside a compiler) once saw no worker in
 * any run. Then a pool idle for 50 ms. */
static void test_engine_pool__wakes_after_sleeping(void **state)
{
  (void)state;
  static count_job j;
  dq_pool *p = NULL;
  assert_int_equal(dq_pool_new(&p, 4), DOCQ_OK);
  int helped = 0;
  for (int run = 0; run < 50; run++) {
    sleep_us(1000L * (1 + run % 5));
    j.work = 0;
    j.ith0_ns = 100000000;
    assert_int_equal(run_count(p, &j), 0);
    for (int i = 1; i < 4; i++)
      if (!pthread_equal(j.who[i], pthread_self())) {
        helped++;
        break;
      }
  }
  print_message("workers took part in %d of 50 runs after sleeping\n", helped);
  assert_true(helped >= 40);

  sleep_us(50000);
  j.ith0_ns = 0;
  assert_int_equal(run_count(p, &j), 0);
  for (int run = 0; run < 20; run++) assert_int_equal(run_count(p, &j), 0); /* and back to back again */
  dq_pool_free(p);
}

/* What fn wrote on any thread is complete and visible when dq_pool_run
 * returns; each run has its own fn and ctx. */
static void test_engine_pool__results_published(void **state)
{
  (void)state;
  static fill_state s;
  static const int sizes[] = {2, 3, 8};
  for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
    dq_pool *p = NULL;
    assert_int_equal(dq_pool_new(&p, sizes[z]), DOCQ_OK);
    fill_state_init(&s);
    for (int run = 0; run < 300; run++) assert_int_equal(run_fill(p, &s, run), 0);
    dq_pool_free(p);
  }
}

/* dq_pool_hint (kernels.h): hints between runs, any number of regions (more
 * than DQ_POOL_HINT_MAX are cut), a hint replacing one a worker is still
 * fetching, hints on a pool of one: every run still calls each index once,
 * and the workers still take part (ith 0 waits for one to claim an index),
 * so a worker fetching a hint still sees the run. Under TSan, the caller
 * writing a hint while a worker reads the previous one shows up as a race
 * unless the hand-off is atomic. */
static void test_engine_pool__hints_between_runs(void **state)
{
  (void)state;
  static const int sizes[] = {1, 2, 3, 8};
  static count_job j;
  const size_t buf_n = (size_t)8 << 20;
  unsigned char *buf = calloc(buf_n, 1);
  assert_non_null(buf);
  unsigned seed = 12345;
  for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
    dq_pool *p = NULL;
    assert_int_equal(dq_pool_new(&p, sizes[z]), DOCQ_OK);
    for (int run = 0; run < 600; run++) {
      const void *ptrs[DQ_POOL_HINT_MAX + 2];
      size_t lens[DQ_POOL_HINT_MAX + 2];
      const int n = (int)((seed = seed * 1103515245u + 12345u) >> 16) % (DQ_POOL_HINT_MAX + 3);
      for (int k = 0; k < n; k++) {
        seed = seed * 1103515245u + 12345u;
        const size_t off = (seed >> 8) % (buf_n / 2);
        lens[k] = 1 + (seed >> 4) % (buf_n - off - 1);
        ptrs[k] = buf + off;
      }
      dq_pool_hint(p, n, ptrs, lens);
      if (run % 3 == 0) dq_pool_hint(p, n, ptrs, lens); /* a second hint over the first */
      j.work = run % 8 == 0 ? 500 : 0;
      j.ith0_ns = run % 50 == 0 ? 200000000u : 0;
      assert_int_equal(run_count(p, &j), 0);
      if (j.ith0_ns && sizes[z] > 1) assert_true(atomic_load(&j.worker_ran));
    }
    dq_pool_free(p);
  }
  free(buf);
}

/* Pools are independent: several threads at once, each using its own pool. */
typedef struct {
  int failed; /* 0, -1 (no pool) or the line of the failed check */
  int last_run;
} owner_result;

static void *own_pool(void *arg)
{
  owner_result *r = arg;
  dq_pool *p = NULL;
  fill_state *s = malloc(sizeof *s);
  count_job *j = calloc(1, sizeof *j);
  if (!s || !j || dq_pool_new(&p, 2) != DOCQ_OK) {
    r->failed = -1;
  } else {
    fill_state_init(s);
    for (int run = 0; run < 500 && !r->failed; run++) {
      r->last_run = run;
      r->failed = (run & 1) ? run_count(p, j) : run_fill(p, s, run / 2);
    }
  }
  dq_pool_free(p);
  free(s);
  free(j);
  return NULL;
}

static void test_engine_pool__several_pools_at_once(void **state)
{
  (void)state;
  pthread_t t[3];
  owner_result r[3];
  memset(r, 0, sizeof r);
  for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, own_pool, &r[i]), 0);
  for (int i = 0; i < 3; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
  for (int i = 0; i < 3; i++) {
    if (r[i].failed) print_message("thread %d: check at line %d failed in run %d\n", i, r[i].failed, r[i].last_run);
    assert_int_equal(r[i].failed, 0);
    assert_int_equal(r[i].last_run, 499);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_pool__sizes),
    cmocka_unit_test(test_engine_pool__every_index_once),
    cmocka_unit_test(test_engine_pool__never_two_indices_at_once_on_a_thread),
    cmocka_unit_test(test_engine_pool__caller_runs_ith_0),
    cmocka_unit_test(test_engine_pool__wakes_after_sleeping),
    cmocka_unit_test(test_engine_pool__results_published),
    cmocka_unit_test(test_engine_pool__several_pools_at_once),
    cmocka_unit_test(test_engine_pool__hints_between_runs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
