/* bench_search: search and ask latency on a large index.
 *
 * Builds (or reuses) an index of N documents (default 100000; each a short
 * passage, so one chunk each) in DIR by cycling through the corpus.jsonl
 * files of the shared retrieval sets; every copy gets a distinct marker word
 * and its sentences rotated, so no two documents are identical and the
 * vocabulary grows like a real collection. Then runs questions of the sets
 * (half of them as a warm-up, the other half measured, each once with and
 * once without feedback) and prints p50/p95 of docq_search (k = 10) and of
 * docq_ask without a model (on the measured questions, searched before).
 * Figures above the 03:20 UTC line were taken with a warm-up pass over the
 * measured questions themselves.
 *
 * Measured 2026-11-26 (2 cores shared with other jobs, load average noted;
 * built-in embedder, default hybrid; medians of 280 queries):
 *   N docs   chunks     text     index on disk          search p50/p95    ask p50   load
 *   100000   163438    98 MB    447 MB (Flat)          19.8 / 47.0 ms    29.7 ms   1.5
 *   950000  1051655   935 MB   3728 MB (HNSW32)       127.5 / 364 ms    110.6 ms   1.4-3.0
 * Build of the 1M index: 610k documents in 498 s, then 340k more in 211 s
 * (1200-1600 documents/s under load), plus the HNSW32 build when the run
 * ends (Debian's generic FAISS computes HNSW distances with scalar code:
 * ~6 min for 675k vectors).
 * 2026-11-26 02:52 UTC, near-quiet (load 1.2-1.5), after the heading column
 * and RM3 feedback (the 100k index migrated to format 2, its chunks as
 * before): 100000 docs, 163438 chunks, 497 MB on disk; search p50 29.97 /
 * p95 77.7 ms, the same without feedback 23.4 / 69.4 ms (feedback x1.28,
 * interleaved query by query); ask p50 42.0 ms.
 * The 1M index, migrated the same way (02:54-03:04 UTC, load 0.1-1.3):
 * 950000 docs, 1051655 chunks, 4148 MB on disk (HNSW32; the FTS rebuild
 * left free pages), search p50 186.4 / p95 496 ms, without feedback 141.1 /
 * 498 ms (x1.32), ask p50 178.7 ms: over the 150 ms target. perf: reading
 * BM25 postings from fts5vocab is ~77% of the time at this size, feedback's
 * document-frequency lookups ~9%.
 * ---- 03:20 UTC line: document frequencies now cached per handle (store/bm25.c),
 * warm-up on other questions; near-quiet (load 0.3-1.1), 241 measured:
 *   100k: search p50 26.9 / p95 61.8 ms, without feedback 26.5 / 58.8 (x1.02);
 *         ask p50 39.2 ms; 450 MB on disk
 *   1M:   search p50 139.2 / p95 419 ms, without feedback 142.2 / 413 (x0.98);
 *         ask p50 129.8 ms; 3752 MB on disk
 * ---- 2026-11-26 04:25-04:40 UTC, near-quiet (load 0.6-1.0), 241 measured,
 * after term proximity joined the re-ranking (retrieve/prox.c):
 *   100k: search p50 28.3 / p95 85.0 ms, without feedback 27.6; ask p50 38.8 ms
 *   1M:   three runs back to back: search p50 151.1, 141.0, 138.6 ms (median
 *         141.0; without feedback 148.5, 138.5, 138.4); ask p50 133.8, 129.8, 138.7
 *   perf at 1M: SQLite's VM reading fts5vocab postings on top, the Porter
 *   stemmer (ends_n) ~4%: re-tokenizing hits for the duplicate check.
 * Then the duplicate check's shingles memoized across picking rounds
 * (retrieve/span.c dq_shingle_memo: search re-collapsed every hit after each
 * round of picking more chunks, re-tokenizing them all), measured right after:
 *   100k: search p50 18.2 / p95 49.9 ms (x0.64), ask p50 25.9 ms (x0.67)
 *   1M:   three runs (04:37-04:58): search p50 131.4, 137.4, 124.2 ms
 *         (median 131.4; p95 335-369); ask p50 124.9, 125.1, 146.5
 * ---- 2026-11-26 08:35-09:00 UTC (session 6), after the answer type joined the
 * best sentence (retrieve/prf.c PRF_TAU), this build ("new") and fd395a7 ("old")
 * alternating, load ~1.0; the host was slower than in the runs above:
 *   100k: search p50 old 20.9, 17.7 / new 19.5, 20.8 ms; ask p50 old 22.2,
 *         21.2 / new 23.1, 26.5 ms
 *   1M:   search p50 old 159.9, 153.0 / new 137.8, 144.2 ms (a first pair,
 *         disturbed by builds running beside it: old 145.7, new 165.8);
 *         ask p50 old 142.1, 155.3 / new 139.7, 141.7 ms
 * ---- 2026-11-27 (session 13), indexes built fresh (the earlier figures were
 * taken on an index built by an older chunker, 163k chunks for 100k
 * documents, and reused): 100000 docs -> 107621 chunks, 361 MB, built in
 * 125 s; search p50 34-39 ms over eight runs in the day (session 9's build
 * 68af66d in its own fresh index: 34.9 ms), ask p50 37-47 ms. 950000 docs ->
 * 1023439 chunks, 3.7 GB, 1256 s plus the HNSW build; quiet host: search p50
 * 237 ms / p95 710 ms, ask p50 220 ms. Both over the targets (30 / 150 ms).
 * perf at 100k: score_term reading fts5vocab instance rows ~69%, duplicate
 * collapsing 12%, feedback 8%. FTS5 'optimize' after the build made no
 * difference in five alternating pairs (medians 37.5 vs 38.6 ms).
 * ---- 2026-11-27 (session 14), the same two indexes, after store/bm25.c read
 * each term's postings inside FTS5 (the docq_postings auxiliary function)
 * instead of one fts5vocab row per occurrence; the previous build ("old") and
 * this one ("new") alternating, quiet host (load < 1.2):
 *   100k: search p50 old 32.4, 29.7, 32.0 / new 19.9, 19.1, 18.2 ms (medians
 *         32.0 vs 19.1, x0.60); ask p50 old 37.6, 46.8, 42.0 / new 20.4,
 *         23.0, 26.0 ms; search p95 old 78-88 / new 35 ms
 *   1M:   search p50 old 243.2, 268.5 / new 82.0, 69.9 ms (x0.29); p95 old
 *         737, 767 / new 205, 196 ms; ask p50 old 265.5, 247.3 / new 71.3,
 *         68.7 ms
 * Then the Porter stemmer's steps 2-4 picking their suffixes by one letter
 * (indexer/stem.c; the near-duplicate check stems every hit), alternating
 * with the build above:
 *   100k: search p50 19.4, 17.1, 19.2 -> 17.0, 15.8, 14.6 ms (x0.82); ask p50
 *         28.2, 27.8, 26.9 -> 20.5, 22.2, 22.0 ms
 *   1M:   search p50 85.9, 63.8 -> 77.3, 69.2 ms (no difference beyond the
 *         host's noise); ask p50 75.8, 67.7 -> 77.8, 65.9 ms
 * Not measured here, since the handle stays open: a CLI process's first
 * search. With the FAISS file read on first use (store/vsync.c), `docq search`
 * on the 1M index takes 0.27-0.30 s end to end instead of 2.2-6.1 s, `docq
 * ask` 0.22 s instead of 3.6 s.
 * Before the previous session's BM25 scorer (store/bm25.c) and the kNN skip in the
 * convex fusion, the 100k figures were 126 ms / 153 ms (last session, loaded); the BM25
 * part alone, old and new back to back in one process over 232 queries:
 * 192 ms vs 48 ms per query (load ~4).
 *
 * usage: bench_search [N] [DIR]   (DOCQ_SHARED_DIR locates ../shared) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docq.h"

static double now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The value of "key": "..." in a JSON line (no escapes decoded: enough for a benchmark). */
static char *field(const char *line, const char *key)
{
  char pat[32];
  snprintf(pat, sizeof pat, "\"%s\": \"", key);
  const char *p = strstr(line, pat);
  if (!p) return NULL;
  p += strlen(pat);
  const char *e = p;
  while (*e && !(*e == '"' && e[-1] != '\\')) e++;
  return strndup(p, (size_t)(e - p));
}

static const char *k_sets[] = { "cranfield", "medline", "cacm", "scifact", "nq", "squad" };

int main(int argc, char **argv)
{
  long n_docs = argc > 1 ? atol(argv[1]) : 100000;
  const char *dir = argc > 2 ? argv[2] : "/tmp/docq-bench-search";
  const char *shared = getenv("DOCQ_SHARED_DIR") ? getenv("DOCQ_SHARED_DIR") : "../shared";
  docq_db *db = NULL;
  if (docq_db_open(&db, dir, DOCQ_OPEN_CREATE)) { fprintf(stderr, "open %s: %s\n", dir, docq_error_last()->message); return 1; }
  docq_stats st;
  docq_stat(db, &st);
  if ((long)st.documents < n_docs) {
    double t0 = now();
    long made = (long)st.documents;
    char path[1024], id[64];
    for (int round = 0; made < n_docs; round++) {
      for (size_t s = 0; s < sizeof k_sets / sizeof *k_sets && made < n_docs; s++) {
        snprintf(path, sizeof path, "%s/data/retrieval/%s/corpus.jsonl", shared, k_sets[s]);
        FILE *f = fopen(path, "r");
        if (!f) { fprintf(stderr, "missing %s\n", path); return 77; }
        char *line = NULL; size_t cap = 0;
        while (getline(&line, &cap, f) > 0 && made < n_docs) {
          char *text = field(line, "text");
          if (!text || !*text) { free(text); continue; }
          /* rotate at the first sentence end after a round-dependent offset, add a marker */
          size_t len = strlen(text), cut = len ? (size_t)(round * 37) % len : 0;
          const char *dot = strstr(text + cut, ". ");
          cut = dot ? (size_t)(dot - text) + 2 : 0;
          size_t bl = len + 64;
          char *body = malloc(bl);
          int k = snprintf(body, bl, "zq%dx%ld ", round, made % 997);
          memcpy(body + k, text + cut, len - cut);
          memcpy(body + k + (len - cut), text, cut);
          body[k + len] = 0;
          snprintf(id, sizeof id, "%s:%d:%ld", k_sets[s], round, made);
          if (docq_add_document(db, id, NULL, body, (size_t)k + len, "text", NULL)) {
            fprintf(stderr, "add: %s\n", docq_error_last()->message);
            return 1;
          }
          made++;
          free(body);
          free(text);
          if (made % 10000 == 0) fprintf(stderr, "\r%ld documents, %.0f/s", made, (made - (long)st.documents) / (now() - t0));
        }
        free(line);
        fclose(f);
      }
    }
    fprintf(stderr, "\nindexed in %.1f s\n", now() - t0);
    docq_db_free(db);
    if (docq_db_open(&db, dir, 0)) return 1;
  }
  docq_stat(db, &st);
  printf("index: %llu documents, %llu chunks, %.1f MB text, %.1f MB on disk, %s\n", (unsigned long long)st.documents,
         (unsigned long long)st.chunks, st.text_bytes / 1e6, st.index_bytes / 1e6, st.vector_index ? st.vector_index : "");
  /* queries */
  /* Up to 100 questions of each set, alternately measured and warm-up: the
   * warm-up questions run first (page cache, and the document frequencies
   * a session accumulates), each measured one is then run once per variant,
   * so no measured search repeats an earlier one. */
  char *qs[1000], *warm[1000]; size_t nq = 0, nw = 0;
  for (size_t s = 0; s < sizeof k_sets / sizeof *k_sets; s++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/data/retrieval/%s/queries.jsonl", shared, k_sets[s]);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    char *line = NULL; size_t cap = 0; int taken = 0;
    while (getline(&line, &cap, f) > 0 && taken < 100 && nq < 1000 && nw < 1000) {
      char *t = field(line, "text");
      if (!t) continue;
      if (taken++ % 2 == 0) qs[nq++] = t;
      else warm[nw++] = t;
    }
    free(line);
    fclose(f);
  }
  double *lat = calloc(nq, sizeof *lat), *lat_nofb = calloc(nq, sizeof *lat_nofb);
  /* The default search and the same without feedback (RM3), interleaved
   * query by query (the order alternating) so load changes hit both alike. */
  docq_search_options nofb;
  docq_search_options_init(&nofb, DOCQ_SEARCH_OPTIONS_VERSION);
  nofb.feedback = 0;
  for (size_t i = 0; i < nw; i++) {
    docq_results *r = NULL;
    if (docq_search(&r, db, warm[i], NULL)) { fprintf(stderr, "search: %s\n", docq_error_last()->message); return 1; }
    docq_results_free(r);
    free(warm[i]);
  }
  {
    for (size_t i = 0; i < nq; i++) {
      for (int v = 0; v < 2; v++) {
        const int plain = (v + (int)i) % 2;
        docq_results *r = NULL;
        double t = now();
        if (docq_search(&r, db, qs[i], plain ? &nofb : NULL)) {
          fprintf(stderr, "search: %s\n", docq_error_last()->message);
          return 1;
        }
        (plain ? lat_nofb : lat)[i] = (now() - t) * 1000;
        docq_results_free(r);
      }
    }
  }
  qsort(lat, nq, sizeof *lat, cmpd);
  qsort(lat_nofb, nq, sizeof *lat_nofb, cmpd);
  printf("search (k=10, hybrid, warm): %zu queries, p50 %.2f ms, p95 %.2f ms\n", nq, lat[nq / 2], lat[(size_t)(nq * 0.95)]);
  printf("  without feedback:          p50 %.2f ms, p95 %.2f ms (feedback costs x%.2f at p50)\n", lat_nofb[nq / 2],
         lat_nofb[(size_t)(nq * 0.95)], lat[nq / 2] / lat_nofb[nq / 2]);
  free(lat_nofb);
  for (size_t i = 0; i < nq; i++) {
    docq_answer *a = NULL;
    double t = now();
    if (docq_ask(&a, db, qs[i], NULL)) { fprintf(stderr, "ask: %s\n", docq_error_last()->message); return 1; }
    lat[i] = (now() - t) * 1000;
    docq_answer_free(a);
  }
  qsort(lat, nq, sizeof *lat, cmpd);
  printf("ask (extractive, k=20, budget 2048): p50 %.2f ms, p95 %.2f ms\n", lat[nq / 2], lat[(size_t)(nq * 0.95)]);
  for (size_t i = 0; i < nq; i++) free(qs[i]);
  free(lat);
  docq_db_free(db);
  return 0;
}
