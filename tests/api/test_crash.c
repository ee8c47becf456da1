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

/* Edit, delete or rename a file between runs (same edits on both sides later). */
static void mutate_corpus(int round)
{
  char a[512], b[512];
  char *buf = malloc(64 * 1024);
  switch (round % 3) {
  case 0:
    snprintf(a, sizeof a, "%s/doc%03d.md", g_corpus, 10 + round);
    make_text(buf, 64 * 1024, 1000u + (unsigned)round, 8);
    write_file(a, buf);
    break;
  case 1:
    snprintf(a, sizeof a, "%s/doc%03d.md", g_corpus, 100 + round);
    unlink(a);
    break;
  case 2:
    snprintf(a, sizeof a, "%s/doc%03d.md", g_corpus, 200 + round);
    snprintf(b, sizeof b, "%s/renamed%03d.md", g_corpus, round);
    rename(a, b);
    break;
  }
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

  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  const int rounds = 24;
  int killed = 0;
  for (int round = 0; round < rounds; round++) {
    if (round % 4 == 3) mutate_corpus(round);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      int rc = index_once(g_crash, NULL);
      _exit(rc ? 1 : 0);
    }
    /* kill somewhere in [0, 1.1 x the full run]: early kills hit creation,
     * late ones the FAISS sync or a finished run */
    double at = full * 1.1 * (rand() / (double)RAND_MAX);
    struct timespec ts = {(time_t)at, (long)((at - (time_t)at) * 1e9)};
    nanosleep(&ts, NULL);
    if (kill(pid, SIGKILL) == 0) killed++;
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) fail_msg("round %d: indexer failed on its own", round);
    check_index(g_crash);
  }
  assert_true(killed >= 20);

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
