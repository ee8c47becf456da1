/* Indexing benchmark: indexes a folder (default ../shared/data/corpora) into
 * a fresh index and prints
 *   - MB/s of the first run (end to end: walk, load, chunk, embed, store),
 *   - seconds of an unchanged re-run (median of 5),
 *   - index size on disk relative to the text size,
 *   - peak resident memory.
 * Repeats the first run `--runs N` times (fresh index each time) and reports
 * the median. Usage: bench_index [--runs N] [DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "docq.h"
#include "qwen_shape.h"

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}


static int run_index(const char *db_path, const char *dir, docq_index_stats *st)
{
  docq_db *db;
  if (docq_db_open(&db, db_path, DOCQ_OPEN_CREATE)) {
    fprintf(stderr, "open: %s\n", docq_error_last()->message);
    return 1;
  }
  const char *paths[] = {dir};
  int rc = docq_index_paths(db, paths, 1, NULL, st);
  if (rc) fprintf(stderr, "index: %s\n", docq_error_last()->message);
  docq_db_free(db);
  return rc;
}

int main(int argc, char **argv)
{
  int runs = 3;
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else dir = argv[i];
  }
  char def[4096];
  if (!dir) {
    const char *shared = getenv("DOCQ_SHARED_DIR");
    snprintf(def, sizeof def, "%s/data/corpora", shared ? shared : "../shared");
    dir = def;
  }
  if (runs < 1) runs = 1;
  char tmpl[] = "/tmp/docq-bench-XXXXXX";
  if (!mkdtemp(tmpl)) { perror("mkdtemp"); return 1; }
  char db_path[512], cmd[600];
  snprintf(db_path, sizeof db_path, "%s/index", tmpl);

  double first[16], rerun[5];
  docq_index_stats st;
  uint64_t bytes = 0;
  if (runs > 16) runs = 16;
  for (int r = 0; r < runs; r++) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", db_path);
    if (system(cmd)) return 1;
    double t0 = now_s();
    if (run_index(db_path, dir, &st)) return 1;
    first[r] = now_s() - t0;
    bytes = st.bytes_read;
  }
  for (int r = 0; r < 5; r++) {
    double t0 = now_s();
    if (run_index(db_path, dir, &st)) return 1;
    rerun[r] = now_s() - t0;
    if (st.added || st.updated) fprintf(stderr, "warning: re-run changed files (%llu added, %llu updated)\n",
                                        (unsigned long long)st.added, (unsigned long long)st.updated);
  }
  docq_db *db;
  docq_stats s;
  if (docq_db_open(&db, db_path, DOCQ_OPEN_READONLY) || docq_stat(db, &s)) {
    fprintf(stderr, "stat: %s\n", docq_error_last()->message);
    return 1;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double t_first = dq_bench_median(first, runs), t_rerun = dq_bench_median(rerun, 5);
  printf("corpus            %s\n", dir);
  printf("text              %.1f MB in %llu documents, %llu chunks\n", bytes / 1e6,
         (unsigned long long)s.documents, (unsigned long long)s.chunks);
  printf("first run         %.2f s  = %.2f MB/s (median of %d)\n", t_first, bytes / 1e6 / t_first, runs);
  printf("unchanged re-run  %.3f s  (%.1f%% of the first run; median of 5)\n", t_rerun, 100 * t_rerun / t_first);
  printf("index size        %.1f MB = %.2fx the text\n", s.index_bytes / 1e6,
         bytes ? (double)s.index_bytes / (double)bytes : 0.0);
  printf("peak memory       %.1f MB (max RSS)\n", ru.ru_maxrss / 1024.0);
  docq_db_free(db);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
  return system(cmd) ? 1 : 0;
}
