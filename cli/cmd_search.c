/* docq search: ranked passages for a query (hybrid BM25 + vectors by default).
 * Human output: rank, score, title, path:lines, section, a snippet, and the
 * paths of collapsed duplicates; --json: one object with every hit field.
 * docq search --files: every document that mentions the query (docq_mentions),
 * with its count of passages holding all the query's words; unranked, so the
 * ranking options make no sense with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
  fputs("usage: docq search QUERY [options]\n"
        "Each hit: rank, score, title, path:lines, section, and an excerpt from the\n"
        "sentence that holds most of the query's words (Markdown shown as rendered).\n"
        "  -k N             passages to show (default 10)\n"
        "  --mode M         hybrid (default), bm25 or vector\n"
        "  --fusion F       rrf or convex (hybrid mode; default: docq's measured choice)\n"
        "  --weight W       weight of BM25 in the fusion, 0..1\n"
        CLI_FILTER_HELP
        "  --no-merge       do not merge neighbouring chunks into one passage\n"
        "  --no-feedback    no re-ranking with terms of the best passages (RM3);\n"
        "                   how close the query's words stand still counts\n"
        "  --files          instead of passages, every document that mentions QUERY:\n"
        "                   one of its passages (text or heading) holds all of QUERY's\n"
        "                   words, in any order (\"quoted words\" as a phrase; stop words\n"
        "                   count too); a line \"N documents mention QUERY (M passages)\",\n"
        "                   then each document's count of such passages, path and title,\n"

        "                   most first; all of them unless -k N; the filters apply;\n"
        "                   not with --mode, --fusion, --weight, --no-merge, --no-feedback\n"
        "  --lines          with --files: under each document, the lines of those\n"
        "                   passages (the first 8 ranges; --json always has them all)\n"
        "  --json           machine-readable output\n"
        "  --db DIR         the index folder\n"
        "Exit codes: 0 ok (also with no hits), 1 failed, 2 usage, 3 no index, 130 interrupted.\n", f);
}

#define SNIPPET_BYTES 240

static void print_json_paths(FILE *f, const char *list)
{
  fputc('[', f);
  int first = 1;
  for (const char *p = list; p && *p; ) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char *one = strndup(p, n);
    if (!first) fputc(',', f);
    cli_json_str(f, one ? one : "");
    free(one);
    first = 0;
    p += n;
    if (*p == '\n') p++;
  }
  fputc(']', f);
}

static void print_hit_json(FILE *f, const docq_hit *h, size_t rank, const char *query)
{
  fprintf(f, "{\"rank\":%zu,\"score\":%.6g,\"bm25_score\":%.6g,\"vector_score\":%.6g,\"bm25_rank\":%d,"
             "\"vector_rank\":%d,\"doc_id\":%lld,\"chunk_first\":%lld,\"chunk_last\":%lld,\"path\":",
          rank, h->score, h->bm25_score, h->vector_score, h->bm25_rank, h->vector_rank, (long long)h->doc_id,
          (long long)h->chunk_first, (long long)h->chunk_last);
  cli_json_str(f, h->path);
  fputs(",\"title\":", f);
  cli_json_str(f, h->title);
  fputs(",\"section\":", f);
  cli_json_str(f, h->section);
  fputs(",\"format\":", f);
  cli_json_str(f, h->format ? h->format : "text");
  fprintf(f, ",\"line_first\":%u,\"line_last\":%u,\"text\":", h->line_first, h->line_last);
  cli_json_str(f, h->text);
  char *snip = docq_hit_snippet(h, query, SNIPPET_BYTES);
  fputs(",\"snippet\":", f);
  cli_json_str(f, snip ? snip : "");
  docq_free(snip);
  fputs(",\"also_in\":", f);
  print_json_paths(f, h->also_in);
  fputc('}', f);
}

/* Under a document of --files: where its passages are, "lines 12-20, 45-60",
 * the first 8 ranges (a name in many chapters of a book has hundreds). */
static void print_line_ranges(const docq_mention *m)
{
  if (!m->n_lines) return;
  fputs("        lines ", stdout);
  const size_t shown = m->n_lines < 8 ? m->n_lines : 8;
  for (size_t j = 0; j < shown; j++) {
    const uint32_t a = m->lines[2 * j], b = m->lines[2 * j + 1];
    if (a == b) printf("%s%u", j ? ", " : "", a);
    else printf("%s%u-%u", j ? ", " : "", a, b);
  }
  if (shown < m->n_lines) printf(", ... (%zu more)", m->n_lines - shown);
  putchar('\n');
}

/* docq search --files: the documents that mention query, at most `show`
 * of them listed (0: all); the totals are always all of them. */
static int run_files(docq_db *db, const char *query, const docq_search_options *so, unsigned show, int lines)
{
  docq_mention_list *l = NULL;
  int rc = docq_mentions(&l, db, query, so);
  if (rc == DOCQ_EINVAL) return cli_usage("search", "%s", cli_error_text("mentions"));
  if (rc < 0) return cli_fail_read(rc, "search failed");
  size_t n = l->n_docs, listed = show && show < n ? show : n;
  if (g_cli.json) {
    printf("{\"query\":");
    cli_json_str(stdout, query);
    printf(",\"total_documents\":%zu,\"total_passages\":%llu,\"documents\":[", n,
           (unsigned long long)l->n_passages);
    for (size_t i = 0; i < listed; i++) {
      const docq_mention *m = &l->docs[i];
      fputs(i ? ",{\"path\":" : "{\"path\":", stdout);
      cli_json_str(stdout, m->path);
      fputs(",\"title\":", stdout);
      cli_json_str(stdout, m->title);
      printf(",\"passages\":%u,\"lines\":[", m->passages);
      for (size_t j = 0; j < m->n_lines; j++)
        printf("%s[%u,%u]", j ? "," : "", m->lines[2 * j], m->lines[2 * j + 1]);
      printf("]}");
    }
    printf("]}\n");
  } else if (!n) {
    printf("no document mentions %s\n", query);
  } else {
    printf("%zu %s %s %s (%llu %s)\n", n, n == 1 ? "document" : "documents", n == 1 ? "mentions" : "mention", query,
           (unsigned long long)l->n_passages, l->n_passages == 1 ? "passage" : "passages");
    for (size_t i = 0; i < listed; i++) {
      const docq_mention *m = &l->docs[i];
      printf("%6u  %s", m->passages, m->path);
      if (*m->title) printf("  %s", m->title);
      putchar('\n');
      if (lines) print_line_ranges(m);
    }
    if (listed < n) printf("... and %zu more\n", n - listed);
  }
  docq_mention_list_free(l);
  return 0;
}

int cmd_search(int argc, char **argv)
{
  docq_search_options so;
  docq_search_options_init(&so, DOCQ_SEARCH_OPTIONS_VERSION);
  char query[8192];
  int got = 0; /* a query argument was given (maybe empty) */
  int files = 0, k_given = 0, lines = 0;
  const char *ranking_opt = NULL; /* the first option that only a ranked search takes */
  size_t qlen = 0;
  query[0] = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int c = cli_common_opt(argc, argv, &i);
    if (c == 0) c = cli_filter_opt(argc, argv, &i, &so, "search");
    if (c < 0) return EXIT_USAGE;
    if (c > 0) continue;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
    if (!strcmp(a, "-k") || !strcmp(a, "--k")) {
      if (i + 1 >= argc) return cli_missing("search", argc, argv, i);
      int k;
      if (cli_int_arg("search", a, argv[++i], 1, 10000, &k)) return EXIT_USAGE;
      so.k = (unsigned)k;
      k_given = 1;
    } else if (!strcmp(a, "--files")) {
      files = 1;
    } else if (!strcmp(a, "--lines")) {
      lines = 1;
    } else if (!strcmp(a, "--mode")) {
      ranking_opt = ranking_opt ? ranking_opt : a;
      if (i + 1 >= argc) return cli_missing("search", argc, argv, i);
      const char *m = argv[++i];
      if (!strcmp(m, "hybrid")) so.mode = DOCQ_MODE_HYBRID;
      else if (!strcmp(m, "bm25")) so.mode = DOCQ_MODE_BM25;
      else if (!strcmp(m, "vector")) so.mode = DOCQ_MODE_VECTOR;
      else return cli_usage("search", "--mode is hybrid, bm25 or vector");
    } else if (!strcmp(a, "--fusion")) {
      ranking_opt = ranking_opt ? ranking_opt : a;
      if (i + 1 >= argc) return cli_missing("search", argc, argv, i);
      const char *m = argv[++i];
      if (!strcmp(m, "rrf")) so.fusion = DOCQ_FUSION_RRF;
      else if (!strcmp(m, "convex")) so.fusion = DOCQ_FUSION_CONVEX;
      else return cli_usage("search", "--fusion is rrf or convex");
    } else if (!strcmp(a, "--weight")) {
      ranking_opt = ranking_opt ? ranking_opt : a;
      if (i + 1 >= argc) return cli_missing("search", argc, argv, i);
      float w;
      if (cli_float_arg("search", a, argv[++i], 0, 1, &w)) return EXIT_USAGE;
      so.bm25_weight = w;
    } else if (!strcmp(a, "--no-merge")) {
      ranking_opt = ranking_opt ? ranking_opt : a;
      so.merge_neighbors = 0;
    } else if (!strcmp(a, "--no-feedback")) {
      ranking_opt = ranking_opt ? ranking_opt : a;
      so.feedback = 0;
    } else if (a[0] == '-' && a[1] && strcmp(a, "--")) {
      return cli_usage("search", "unknown option %s", a);
    } else {
      if (!strcmp(a, "--") && i + 1 < argc) a = argv[++i];
      got = 1;
      size_t n = strlen(a);
      if (qlen + n + 2 > sizeof query)
        return cli_usage("search", "the query is longer than %zu bytes; shorten it", sizeof query - 1);
      if (qlen) query[qlen++] = ' ';
      memcpy(query + qlen, a, n + 1);
      qlen += n;
    }
  }
  if (!got) {
    usage(stderr);
    return cli_usage("search", "a query is required");
  }
  if (lines && !files) return cli_usage("search", "--lines goes with --files (the passages of a search show their lines already)");
  if (files && ranking_opt)
    return cli_usage("search", "--files cannot be used with %s: it lists every document that mentions the query,"
                     " unranked", ranking_opt);
  if (files && cli_blank(query))
    return cli_usage("search", "the query has no words; give the words to look for, e.g. docq search --files \"crash recovery\"");
  if (cli_blank(query)) return cli_usage("search", "the query is empty; give it in quotes, e.g. docq search \"how do I ...\"");

  docq_db *db = NULL;
  int code = cli_open_db(&db, 0, 1);
  if (code) return code;
  cli_on_sigint(db);
  if (files) {
    code = run_files(db, query, &so, k_given ? so.k : 0, lines);
    cli_db_free(db);
    return code;
  }
  docq_results *r = NULL;
  int rc = docq_search(&r, db, query, &so);
  if (rc < 0) { code = cli_fail_read(rc, "search failed"); cli_db_free(db); return code; }
  size_t n = docq_results_count(r);
  if (g_cli.json) {
    static const char *modes[] = {"hybrid", "bm25", "vector"};
    printf("{\"query\":");
    cli_json_str(stdout, query);
    printf(",\"mode\":\"%s\",\"count\":%zu,\"hits\":[", modes[so.mode], n);
    for (size_t i = 0; i < n; i++) {
      if (i) putchar(',');
      print_hit_json(stdout, docq_results_get(r, i), i + 1, query);
    }
    printf("]}\n");
  } else if (!n) {
    printf("No passage matches \"%s\".\n", query);
  } else {
    for (size_t i = 0; i < n; i++) {
      const docq_hit *h = docq_results_get(r, i);
      printf("%2zu. %.4f  %s — %s:%u-%u", i + 1, h->score, h->title && *h->title ? h->title : "(untitled)", h->path,
             h->line_first, h->line_last);
      if (h->section && *h->section) printf("  § %s", h->section);
      printf("\n    ");
      char *snip = docq_hit_snippet(h, query, SNIPPET_BYTES);
      fputs(snip ? snip : "", stdout);
      docq_free(snip);
      putchar('\n');
      if (h->also_in && *h->also_in) {
        printf("    also in:");
        for (const char *p = h->also_in; *p; ) {
          const char *e = strchr(p, '\n');
          size_t len = e ? (size_t)(e - p) : strlen(p);
          printf(" %.*s", (int)len, p);
          p += len;
          if (*p) p++;
        }
        putchar('\n');
      }
    }
  }
  docq_results_free(r);
  cli_db_free(db);
  return 0;
}
