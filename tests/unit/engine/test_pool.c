/* Tests for engine/pool.c, from its contract (kernels.h, pool.c's header):
 * dq_pool_run calls fn(ctx, ith, nth) once for every ith < nth, the caller
 * itself runs ith 0, and it returns only when all are done, so what fn wrote
 * on any thread is the caller's to read; one thread may run several indices
 * but never two at once; a pool that slept (idle past its ~0.3 ms of
 * spinning) wakes for the next run; more threads than cores work.
 *
 * The slots fn writes are plain memory on purpose: under ThreadSanitizer
 * (make tsan runs this file) a missing happens-before edge in the pool's
 * hand-offs shows as a data race, which a plain build cannot see. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/kernels.h"

#define MAX_NTH 8
#define FILL 1024 /* floats each index writes */

typedef struct {
  int run;                      /* which run this ctx belongs to */
  int hits[MAX_NTH];            /* plain: written by whoever runs ith */
  int nth_seen[MAX_NTH];
  pthread_t who[MAX_NTH];
  float out[MAX_NTH][FILL];
  atomic_int overlaps;          /* two indices at once on one thread */
  int spin;                     /* work per index, to make overlaps likely */
} job;

static _Thread_local int t_inside;

static float value(int run, int ith, int j) { return (float)(run * 131 + ith * 17 + j); }

static void busy(int n)
{
  volatile unsigned x = 0;
  for (int i = 0; i < n; i++) x += (unsigned)i;
}

static void record(job *j, int ith, int nth, float sign)
{
  if (t_inside) atomic_fetch_add(&j->overlaps, 1);
  t_inside = 1;
  j->hits[ith]++;
  j->nth_seen[ith] = nth;
  j->who[ith] = pthread_self();
  for (int k = 0; k < FILL; k++) j->out[ith][k] = sign * value(j->run, ith, k);
  busy(j->spin);
  t_inside = 0;
}

static void fn_a(void *p, int ith, int nth) { record(p, ith, nth, 1.0f); }

/* A second function, so a worker calling a stale fn would write the wrong values. */
static void fn_b(void *p, int ith, int nth) { record(p, ith, nth, -1.0f); }

/* Runs one job on `pool` and checks everything the contract promises of it:
 * 0, or the line of the first check that failed (no cmocka assertion here:
 * it also runs on threads of the test's own, where one must not jump). */
#define CHECK(c) do { if (!(c)) return __LINE__; } while (0)
static int run_and_check(dq_pool *pool, int run, int spin)
{
  static _Thread_local job jobs[2]; /* alternate: the previous run's ctx stays alive and different */
  job *j = &jobs[run & 1];
  memset(j, 0, sizeof *j);
  j->run = run;
  j->spin = spin;
  const int nth = dq_pool_size(pool);
  void (*fn)(void *, int, int) = (run & 1) ? fn_b : fn_a;
  dq_pool_run(pool, fn, j);
  CHECK(atomic_load(&j->overlaps) == 0);
  CHECK(pthread_equal(j->who[0], pthread_self()));
  const float sign = (run & 1) ? -1.0f : 1.0f;
  for (int i = 0; i < MAX_NTH; i++) {
    CHECK(j->hits[i] == (i < nth ? 1 : 0));
    if (i >= nth) continue;
    CHECK(j->nth_seen[i] == nth);
    for (int k = 0; k < FILL; k++) CHECK(j->out[i][k] == sign * value(run, i, k));
  }
  return 0;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {0, (long)ms * 1000000L};
  nanosleep(&ts, NULL);
}

static void test_engine_pool__sizes(void **state)
{
  (void)state;
  static const int sizes[] = {1, 2, 3, 8};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    dq_pool *p = NULL;
    assert_int_equal(dq_pool_new(&p, sizes[i]), 0);
    assert_int_equal(dq_pool_size(p), sizes[i]);
    dq_pool_free(p);
  }
  dq_pool *all = NULL;
  assert_int_equal(dq_pool_new(&all, 0), 0);
  assert_true(dq_pool_size(all) >= 1);
  dq_pool_free(all);
  assert_int_equal(dq_pool_new(&all, -3), 0);
  assert_true(dq_pool_size(all) >= 1);
  dq_pool_free(all);
  assert_int_equal(dq_pool_size(NULL), 1);
  dq_pool_free(NULL);
}

/* A NULL pool runs fn(ctx, 0, 1) on the caller. */
static void test_engine_pool__null_pool_runs_inline(void **state)
{
  (void)state;
  assert_int_equal(run_and_check(NULL, 0, 0), 0);
  assert_int_equal(run_and_check(NULL, 1, 0), 0);
}

/* Every index exactly once, many short runs back to back (the decode
 * pattern), pools of 1 to 8 threads on a 2-core machine. */
static void test_engine_pool__every_index_once(void **state)
{
  (void)state;
  static const int sizes[] = {1, 2, 3, 4, 8};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    dq_pool *p = NULL;
    assert_int_equal(dq_pool_new(&p, sizes[s]), 0);
    for (int run = 0; run < 400; run++) assert_int_equal(run_and_check(p, run, run % 7 == 0 ? 2000 : 0), 0);
    dq_pool_free(p);
  }
}

/* Runs apart by more than the spinning time: workers sleep on the futex and
 * must be woken every time (a lost wake-up would still finish, as the caller
 * takes unclaimed indices, so sleep long enough for workers to have slept,
 * then check the indices ran on more than the caller's thread). */
static void test_engine_pool__wakes_after_sleep(void **state)
{
  (void)state;
  dq_pool *p = NULL;
  assert_int_equal(dq_pool_new(&p, 3), 0);
  for (int run = 0; run < 40; run++) {
    sleep_ms(1 + run % 4);
    assert_int_equal(run_and_check(p, run, 20000), 0);
  }
  sleep_ms(50);
  assert_int_equal(run_and_check(p, 40, 20000), 0);
  /* with work per index, woken workers take some of it */
  int others = 0;
  for (int run = 41; run < 81 && !others; run++) {
    sleep_ms(2);
    static job j;
    memset(&j, 0, sizeof j);
    j.run = run;
    j.spin = 200000;
    dq_pool_run(p, fn_a, &j);
    for (int i = 1; i < 3; i++) others += !pthread_equal(j.who[i], pthread_self());
  }
  assert_true(others > 0);
  dq_pool_free(p);
}

/* Pools are independent: several threads, each with its own pool. */
static void *own_pool(void *arg)
{
  int *failed = arg;
  dq_pool *p = NULL;
  if (dq_pool_new(&p, 2) != 0) { *failed = -1; return NULL; }
  for (int run = 0; run < 200 && !*failed; run++) *failed = run_and_check(p, run, 0);
  dq_pool_free(p);
  return NULL;
}

static void test_engine_pool__pools_on_several_threads(void **state)
{
  (void)state;
  pthread_t t[3];
  int failed[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, own_pool, &failed[i]), 0);
  for (int i = 0; i < 3; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
  for (int i = 0; i < 3; i++) assert_int_equal(failed[i], 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_pool__sizes),
    cmocka_unit_test(test_engine_pool__null_pool_runs_inline),
    cmocka_unit_test(test_engine_pool__every_index_once),
    cmocka_unit_test(test_engine_pool__wakes_after_sleep),
    cmocka_unit_test(test_engine_pool__pools_on_several_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
