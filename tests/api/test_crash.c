/* Crash safety of indexing, through the public API only.
 *
 * A corpus of a few hundred files is indexed once cleanly (the reference
 * counts). Then, at least 20 times, a child process indexes the same corpus
 * into a fresh-or-partial index and is killed with SIGKILL at a random moment
 * of its run; after each kill the parent opens the index, which must pass
 * docq_check (FTS5, vectors and FAISS agree with the chunks table). Finally a
 * normal run finishes the job and the counts must equal the clean run's.
 * Between kills the corpus is also changed (a file edited, one deleted, one
 * renamed) so replacement, removal and rename are interrupted too. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "docq.h"

static char g_root[256], g_corpus[300], g_clean[300], g_crash[300];

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Deterministic pseudo-prose: enough distinct words for BM25 and vectors. */
static void make_text(char *buf, size_t cap, unsigned seed, int paras)
{
  static const char *words[] = {"index", "crash", "vector", "search", "river", "mountain", "library", "answer",
                                "question", "passage", "chunk", "model", "garden", "bread", "window", "signal",
                                "process", "memory", "storage", "network", "kernel", "token", "summer", "winter"};
  size_t n = 0;
  unsigned x = seed * 2654435761u + 1;
  n += (size_t)snprintf(buf + n, cap - n, "---\ntitle: Document %u\ntags: [t%u]\n---\n\n# Heading %u\n\n", seed, seed % 5, seed);
  for (int p = 0; p < paras && n < cap - 200; p++) {
    for (int s = 0; s < 6 && n < cap - 200; s++) {
      for (int w = 0; w < 12; w++) {
        x = x * 1103515245u + 12345u;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", w ? " " : "", words[(x >> 16) % 24]);
      }
      n += (size_t)snprintf(buf + n, cap - n, " %u. ", x % 1000);
    }
    n += (size_t)snprintf(buf + n, cap - n, "\n\n");
    if (p % 3 == 2) n += (size_t)snprintf(buf + n, cap - n, "## Section %d\n\n", p);
  }
}

static int make_corpus(void **state)
{
  (void)state;
  snprintf(g_root, sizeof g_root, "/tmp/docq-crash-XXXXXX");
  assert_non_null(mkdtemp(g_root));
  snprintf(g_corpus, sizeof g_corpus, "%s/corpus", g_root);
  snprintf(g_clean, sizeof g_clean, "%s/clean.docq", g_root);
  snprintf(g_crash, sizeof g_crash, "%s/crash.docq", g_root);
  mkdir(g_corpus, 0755);
  char *buf = malloc(64 * 1024);
  char path[512];
  for (unsigned i = 0; i < 300; i++) {
    snprintf(path, sizeof path, "%s/doc%03u.md", g_corpus, i);
    make_text(buf, 64 * 1024, i, 6 + (int)(i % 20));
    write_file(path, buf);
  }
  free(buf);
  return 0;
}

static int remove_all(void **state)
{
  (void)state;
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
  return system(cmd) == 0 ? 0 : -1;
}

static int index_once(const char *db_path, docq_stats *st)
{
  docq_db *db = NULL;
  int rc = docq_db_open(&db, db_path, DOCQ_OPEN_CREATE);
  if (rc) { fprintf(stderr, "open: %s\n", docq_error_last()->message); return rc; }
  const char *paths[] = {g_corpus};
  rc = docq_index_paths(db, paths, 1, NULL, NULL);
  if (rc) fprintf(stderr, "index: %s\n", docq_error_last()->message);
  if (!rc && st) rc = docq_stat(db, st);
  docq_db_free(db);
  return rc;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void check_index(const char *db_path)
{
  docq_db *db = NULL;
  int rc = docq_db_open(&db, db_path, DOCQ_OPEN_CREATE);
  if (rc) fail_msg("reopen after kill: %s", docq_error_last()->message);
  rc = docq_check(db);
  if (rc) fail_msg("invariants after kill: %s", docq_error_last()->message);
  docq_db_free(db);
}

/* Change the corpus between runs so every run has real work to be killed
 * in: rewrite about a fifth of the files, and delete, rename and add one. */
static void mutate_corpus(int round)
{
  char a[512], b[512];
  char *buf = malloc(64 * 1024);
  for (unsigned i = (unsigned)round % 5; i < 300; i += 5) {
    snprintf(a, sizeof a, "%s/doc%03u.md", g_corpus, i);
    if (access(a, F_OK) != 0) continue;
    make_text(buf, 64 * 1024, 7919u * (unsigned)round + i, 6 + (int)(i % 20));
    write_file(a, buf);
  }
  snprintf(a, sizeof a, "%s/doc%03d.md", g_corpus, (round * 37) % 300);
  unlink(a);
  snprintf(a, sizeof a, "%s/doc%03d.md", g_corpus, (round * 53 + 11) % 300);
  snprintf(b, sizeof b, "%s/renamed%03d.md", g_corpus, round);
  rename(a, b);
  snprintf(a, sizeof a, "%s/new%03d.md", g_corpus, round);
  make_text(buf, 64 * 1024, 100000u + (unsigned)round, 10);
  write_file(a, buf);
  free(buf);
}

static void test_api_crash__kill_at_random_points(void **state)
{
  (void)state;
  docq_stats clean;
  double t0 = now_s();
  assert_int_equal(index_once(g_crash, NULL), 0); /* warm-up: timing of a full first run */
  double full = now_s() - t0;
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_crash);
  assert_int_equal(system(cmd), 0);

  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  srand(seed);
  int killed_mid_run = 0, round = 0;
  /* Until 20 children died of SIGKILL mid-run (a child that finished first
   * does not count). Every 6th round starts from an empty index. */
  for (; killed_mid_run < 20 && round < 80; round++) {
    double span = full * 0.35;
    if (round % 6 == 0) {
      snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_crash);
      assert_int_equal(system(cmd), 0);
      span = full * 1.1;
    } else {
      mutate_corpus(round);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      int rc = index_once(g_crash, NULL);
      _exit(rc ? 1 : 0);
    }
    double at = span * (rand() / (double)RAND_MAX);
    struct timespec ts = {(time_t)at, (long)((at - (time_t)at) * 1e9)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) killed_mid_run++;
    else if (WEXITSTATUS(status) != 0) fail_msg("round %d: indexer failed on its own (seed %u)", round, seed);
    check_index(g_crash);
  }
  printf("# %d children killed mid-run in %d rounds (seed %u)\n", killed_mid_run, round, seed);
  assert_true(killed_mid_run >= 20);

  /* finish, then compare with a clean index of the final corpus */
  docq_stats after;
  assert_int_equal(index_once(g_crash, &after), 0);
  assert_int_equal(index_once(g_clean, &clean), 0);
  check_index(g_crash);
  assert_int_equal(after.documents, clean.documents);
  assert_int_equal(after.chunks, clean.chunks);
  assert_int_equal(after.vectors, clean.vectors);
  assert_int_equal(after.vectors, after.chunks);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_api_crash__kill_at_random_points, make_corpus, remove_all),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
