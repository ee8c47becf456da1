/* docq eval: measure retrieval and answer packing on a labelled set.
 *
 * Layout of DIR (BEIR-style, as in ../shared/data/retrieval/NAME/):
 *   corpus.jsonl   one {"_id", "title", "text"} per line
 *   queries.jsonl  one {"_id", "text"[, "answers": [...]]} per line
 *   qrels.tsv      header line, then query-id <TAB> corpus-id <TAB> score
 *                  (score > 0 = relevant; higher = more relevant)
 *
 * `docq eval retrieval DIR`: indexes the corpus (a temporary folder, or
 * --db DIR, which is reused when it already holds the corpus, completed when
 * it holds part of it, and refused when it holds any other document) with
 * docq_add_document(id = corpus _id, title, title + text), runs every judged
 * query through docq_search (k = 100), keeps the best hit per document and
 * reports nDCG@10 (trec_eval's: gain = relevance grade, log2 discount), Recall@100,
 * MRR@10 and query latency p50/p95.
 *
 * `docq eval answers DIR --budget N`: runs docq_ask for every query with
 * answers under each passage order and reports the share of questions whose
 * gold answer (any of them, compared after lower-casing ASCII, dropping
 * punctuation and collapsing white space) appears in the packed prompt, where
 * in the prompt it first stands (first / middle / last third), and how often
 * the extractive answer itself contains it. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "jsonl.h"

static void usage(FILE *f)
{
  fputs("usage: docq eval retrieval DIR [--mode bm25|vector|hybrid] [--fusion rrf|convex] [--weight W]\n"
        "                               [--no-feedback] [--db DIR] [--limit N] [--json]\n"
        "       docq eval answers DIR [--budget N] [-k N] [--order edges|relevance|document]\n"
        "                             [--mode bm25|vector|hybrid] [--fusion rrf|convex] [--weight W]\n"
        "                             [--no-feedback] [--tokenizer GGUF] [--db DIR] [--limit N]\n"
        "                             [--misses FILE] [--json]\n", f);
  cmd_eval_lm_usage(f, 0);
  fputs("DIR holds corpus.jsonl ({\"_id\",\"title\",\"text\"}), queries.jsonl ({\"_id\",\"text\"[,\"answers\"]})\n"
        "and qrels.tsv (header, then query-id TAB corpus-id TAB score).\n"
        "retrieval: nDCG@10, Recall@100, MRR@10, latency p50/p95 (hits deduplicated to documents;\n"
        "a near-duplicate collapsed into a hit counts right after it).\n"
        "answers: share of questions whose gold answer is in the packed prompt, and where, per order\n"
        "(edges, relevance and document; --order O evaluates O alone);\n"
        "--tokenizer GGUF counts tokens exactly with that file's tokenizer instead of the estimate;\n"
        "--misses FILE writes the questions missed (under edges, or the --order given) as JSON\n"
        "Lines, with the rank of their judged document in the search and among the packed\n"
        "passages (0 = not there).\n"
        "Without --db the corpus is indexed into a temporary folder that is removed afterwards\n"
        "(also when Ctrl-C stops the run);\n"
        "--db DIR keeps that index for the next run, and refuses (untouched) an index that holds\n"
        "documents other than the corpus.\n"
        "Exit codes: 0 ok, 1 failed (e.g. a malformed line, named with its file and line, a set\n"
        "without answers for eval answers or judgments for eval retrieval, or an --db that\n"
        "cannot be opened), 2 usage, 4 the --db index is busy, 130 interrupted.\n", f);
}

/* ---- reading the set ------------------------------------------------------------ */

typedef struct query {
  char *id, *text;
  char **answers; size_t n_answers;
  /* judged documents */
  char **rel_ids; int *rel_grade; size_t n_rel, cap_rel;
} query;

typedef struct evalset {
  query *q; size_t n, cap;
} evalset;

static void set_free(evalset *s)
{
  for (size_t i = 0; i < s->n; i++) {
    query *q = &s->q[i];
    free(q->id); free(q->text);
    for (size_t j = 0; j < q->n_answers; j++) free(q->answers[j]);
    free(q->answers);
    for (size_t j = 0; j < q->n_rel; j++) free(q->rel_ids[j]);
    free(q->rel_ids); free(q->rel_grade);
  }
  free(s->q);
}

/* Call fn for each parsed line of a JSON Lines file. */
static int each_jsonl(const char *path, int (*fn)(void *ctx, const json_obj *o, size_t line), void *ctx)
{
  FILE *f = fopen(path, "rb");
  if (!f) return cli_error(DOCQ_ENOTFOUND, "eval", "cannot open %s: %s", path, strerror(errno)), -1;
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t len;
  int rc = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    size_t k = 0;
    while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t')) k++;
    if (k == (size_t)len) continue;
    json_obj o;
    char err[160];
    if (json_obj_parse(line, (size_t)len, &o, err, sizeof err)) {
      rc = -1;
      cli_error(DOCQ_ECORRUPT, "eval", "%s:%zu: %s", path, lineno, err);
      break;
    }
    rc = fn(ctx, &o, lineno);
    json_obj_free(&o);
    if (rc) break;
  }
  free(line);
  fclose(f);
  return rc;
}

static int add_query(void *ctx, const json_obj *o, size_t lineno)
{
  evalset *s = ctx;
  const char *id = json_obj_str(o, "_id"), *text = json_obj_str(o, "text");
  if (!id || !text) return cli_error(DOCQ_ECORRUPT, "eval", "queries.jsonl:%zu: missing _id or text", lineno), -1;
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 256;
    query *nq = realloc(s->q, nc * sizeof *nq);
    if (!nq) return -1;
    s->q = nq; s->cap = nc;
  }
  query *q = &s->q[s->n++];
  memset(q, 0, sizeof *q);
  q->id = strdup(id);
  q->text = strdup(text);
  const json_member *a = json_obj_get(o, "answers");
  if (a && a->arr && a->n_arr) {
    q->answers = calloc(a->n_arr, sizeof *q->answers);
    for (size_t i = 0; q->answers && i < a->n_arr; i++) {
      q->answers[i] = strdup(a->arr[i]);
      if (q->answers[i]) q->n_answers++;
    }
  } else if (a && a->str) {
    q->answers = calloc(1, sizeof *q->answers);
    if (q->answers && (q->answers[0] = strdup(a->str))) q->n_answers = 1;
  }
  return q->id && q->text ? 0 : -1;
}

static int cmp_query_id(const void *a, const void *b)
{
  return strcmp(((const query *)a)->id, ((const query *)b)->id);
}

static int read_qrels(const char *path, evalset *s)
{
  FILE *f = fopen(path, "rb");
  if (!f) return cli_error(DOCQ_ENOTFOUND, "eval", "cannot open %s: %s", path, strerror(errno)), -1;
  qsort(s->q, s->n, sizeof *s->q, cmp_query_id);
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t len;
  int rc = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (!len) continue;
    char *qid = line, *t1 = strchr(line, '\t');
    if (!t1) { rc = -1; cli_error(DOCQ_ECORRUPT, "eval", "%s:%zu: expected 3 tab-separated columns", path, lineno); break; }
    *t1 = 0;
    char *did = t1 + 1, *t2 = strchr(did, '\t');
    if (!t2) { rc = -1; cli_error(DOCQ_ECORRUPT, "eval", "%s:%zu: expected 3 tab-separated columns", path, lineno); break; }
    *t2 = 0;
    char *end;
    long grade = strtol(t2 + 1, &end, 10);
    if (end == t2 + 1) {
      if (lineno == 1) continue; /* the header line: query-id corpus-id score */
      rc = -1;
      cli_error(DOCQ_ECORRUPT, "eval", "%s:%zu: bad score", path, lineno);
      break;
    }
    if (grade <= 0) continue;
    query key = { .id = qid };
    query *q = bsearch(&key, s->q, s->n, sizeof *s->q, cmp_query_id);
    if (!q) continue;
    if (q->n_rel == q->cap_rel) {
      size_t nc = q->cap_rel ? q->cap_rel * 2 : 4;
      char **ni = realloc(q->rel_ids, nc * sizeof *ni);
      if (!ni) { rc = -1; break; }
      q->rel_ids = ni;
      int *ng = realloc(q->rel_grade, nc * sizeof *ng);
      if (!ng) { rc = -1; break; }
      q->rel_grade = ng;
      q->cap_rel = nc;
    }
    q->rel_ids[q->n_rel] = strdup(did);
    q->rel_grade[q->n_rel++] = (int)grade;
  }
  free(line);
  fclose(f);
  return rc;
}

/* A set that has nothing for this evaluation (answers of a retrieval set,
 * judgments that name none of its queries) is said so, instead of a report of
 * 0 questions at 0%. Returns 0, or the exit code after the message. */
static int check_set(const evalset *set, const char *what, const char *dir)
{
  const int answers = !strcmp(what, "answers");
  for (size_t i = 0; i < set->n; i++)
    if (answers ? set->q[i].n_answers > 0 : set->q[i].n_rel > 0) return 0;
  if (answers)
    return cli_error(DOCQ_ENOTFOUND, "eval",
                     "%s/queries.jsonl has no \"answers\": it is a retrieval set (docq eval retrieval %s)", dir, dir);
  return cli_error(DOCQ_ENOTFOUND, "eval", "%s/qrels.tsv judges none of the queries in %s/queries.jsonl", dir, dir);
}

/* ---- indexing the corpus ------------------------------------------------------------ */

/* Ctrl-C, seen between documents or questions (each library call clears the
 * db's interrupt flag as it starts, so an interruption that came between two
 * calls is seen only here): one line, and the interrupted exit code; cmd_eval
 * removes the temporary index. `db_dir`: the --db folder, or NULL. */
static int eval_interrupted(const char *db_dir)
{
  if (db_dir)
    fprintf(stderr, "docq eval: interrupted; %s keeps the documents indexed so far (the next run completes it)\n",
            db_dir);
  else
    fputs("docq eval: interrupted\n", stderr);
  return EXIT_INTERRUPTED;
}

typedef struct corpus_ctx {
  docq_db *db;
  size_t n;
  int tty;
  double t0;
} corpus_ctx;

static int add_doc(void *ctx, const json_obj *o, size_t lineno)
{
  corpus_ctx *c = ctx;
  if (cli_interrupted()) return -1; /* open_set_index says so */
  const json_member *id = json_obj_get(o, "_id"), *text = json_obj_get(o, "text");
  const char *title = json_obj_str(o, "title");
  if (!id || !id->str || !text || !text->str) {
    return cli_error(DOCQ_ECORRUPT, "eval", "corpus.jsonl:%zu: missing _id or text", lineno), -1;
  }
  /* The title is part of what is searched (as in BEIR): title, blank line, text. */
  size_t tl = title ? strlen(title) : 0;
  char *body = malloc(tl + 2 + text->str_len + 1);
  if (!body) return -1;
  size_t n = 0;
  if (tl && strncmp(text->str, title, tl) != 0) {
    memcpy(body, title, tl);
    memcpy(body + tl, "\n\n", 2);
    n = tl + 2;
  }
  memcpy(body + n, text->str, text->str_len);
  n += text->str_len;
  body[n] = 0;
  /* The title is searched as part of the text (above) and shown as the
   * document's title. */
  int rc = docq_add_document(c->db, id->str, title && *title ? title : NULL, body, n, "text", NULL);
  free(body);
  if (rc == DOCQ_ECANCELED && cli_interrupted()) return -1;
  if (rc < 0) return cli_fail(rc, "adding a corpus document"), -1;
  c->n++;
  if (c->tty && c->n % 200 == 0)
    fprintf(stderr, "\r\033[Kindexing corpus: %zu documents (%.0f docs/s)", c->n, c->n / (cli_now() - c->t0));
  return 0;
}

/* The documents an --db index holds (paths in path order, as listed), and
 * which of them the corpus names. */
typedef struct held_docs {
  char **path;
  unsigned char *in_corpus;
  size_t n, cap, matched;
  int oom;
} held_docs;

static int held_cb(const docq_doc_info *info, void *payload)
{
  held_docs *h = payload;
  if (h->n == h->cap) {
    size_t nc = h->cap ? 2 * h->cap : 1024;
    char **np = realloc(h->path, nc * sizeof *np);
    if (!np) { h->oom = 1; return 1; }
    h->path = np;
    h->cap = nc;
  }
  if (!(h->path[h->n] = strdup(info->path ? info->path : ""))) { h->oom = 1; return 1; }
  h->n++;
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int match_corpus_id(void *ctx, const json_obj *o, size_t lineno)
{
  (void)lineno;
  held_docs *h = ctx;
  const char *id = json_obj_str(o, "_id");
  if (!id) return 0; /* reported when the corpus is added */
  char **hit = bsearch(&id, h->path, h->n, sizeof *h->path, cmp_str);
  if (hit && !h->in_corpus[hit - h->path]) {
    h->in_corpus[hit - h->path] = 1;
    h->matched++;
  }
  return 0;
}

static void held_free(held_docs *h)
{
  for (size_t i = 0; i < h->n; i++) free(h->path[i]);
  free(h->path);
  free(h->in_corpus);
}

static size_t count_lines(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = 0;
  int c, last = '\n';
  while ((c = getc(f)) != EOF) { if (c == '\n') n++; last = c; }
  if (last != '\n') n++;
  fclose(f);
  return n;
}

static int rm_tree(const char *dir)
{
  char cmd[4200];
  /* the folder is our own mkdtemp result: no quoting issues beyond spaces */
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

/* Open (and fill when needed) the index for the set in dir. */
static int open_set_index(const char *dir, const char *db_dir, char *tmp, size_t tmp_cap, docq_db **db)
{
  char path[4096];
  const char *where = db_dir;
  if (!where) {
    const char *base = getenv("TMPDIR");
    snprintf(tmp, tmp_cap, "%s/docq-eval-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) return cli_error(DOCQ_EIO, "eval", "cannot create a temporary folder: %s", strerror(errno));
    where = tmp;
  }
  int rc = docq_db_open(db, where, DOCQ_OPEN_CREATE);
  if (rc < 0) return cli_fail(rc, "cannot open the evaluation index");
  cli_on_sigint(*db);
  snprintf(path, sizeof path, "%s/corpus.jsonl", dir);
  /* An --db index is reused only for this corpus: one that holds other
   * documents (the user's own index, another set's) is refused rather than
   * mixed with the corpus, which would change both it and the scores. */
  held_docs h = {0};
  if ((rc = docq_list_documents(*db, NULL, held_cb, &h)) < 0 || h.oom) {
    held_free(&h);
    return cli_fail(rc < 0 ? rc : DOCQ_ENOMEM, "cannot list the evaluation index");
  }
  if (h.n) qsort(h.path, h.n, sizeof *h.path, cmp_str); /* listed in path order; sort by strcmp to be sure */
  if (h.n && !(h.in_corpus = calloc(h.n, 1))) {
    held_free(&h);
    return cli_fail(DOCQ_ENOMEM, "cannot list the evaluation index");
  }
  if (h.n && each_jsonl(path, match_corpus_id, &h)) {
    held_free(&h);
    return EXIT_FAIL;
  }
  size_t want = count_lines(path);
  if (h.matched < h.n) {
    size_t k = 0;
    while (k < h.n && h.in_corpus[k]) k++;
    const int code = cli_error(DOCQ_EMISMATCH, "eval",
                               "the index %s holds %zu documents that are not in %s (\"%s\", ...); it is left "
                               "untouched: give --db an empty or new folder, or leave --db out",
                               where, h.n - h.matched, path, h.path[k]);
    held_free(&h);
    return code;
  }
  size_t have = h.n;
  held_free(&h);
  if (have && have >= want) {
    if (!g_cli.json && !g_cli.quiet) fprintf(stderr, "docq eval: reusing index %s (%zu documents)\n", where, have);
    return 0;
  }
  corpus_ctx c = { *db, 0, cli_tty(), cli_now() };
  rc = each_jsonl(path, add_doc, &c); /* a read cut by Ctrl-C ends it like the file's end */
  if (c.tty) fputs("\r\033[K", stderr);
  if (cli_interrupted()) return eval_interrupted(db_dir);
  if (rc) return EXIT_FAIL;
  if (!g_cli.json && !g_cli.quiet)
    fprintf(stderr, "docq eval: indexed %zu documents in %.1f s\n", c.n, cli_now() - c.t0);
  /* reopen so the vector file is written and searches see a settled index */
  cli_db_free(*db);
  *db = NULL;
  rc = docq_db_open(db, where, 0);
  if (rc < 0) return cli_fail(rc, "cannot reopen the evaluation index");
  cli_on_sigint(*db);
  return cli_interrupted() ? eval_interrupted(db_dir) : 0;
}

/* ---- metrics ------------------------------------------------------------------------ */

static int cmp_int_desc(const void *a, const void *b) { return *(const int *)b - *(const int *)a; }
static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(double *v, size_t n, double p)
{
  if (!n) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  size_t i = (size_t)ceil(p * n) - 1;
  if (i >= n) i = n - 1;
  return v[i];
}

static int grade_of(const query *q, const char *doc)
{
  for (size_t i = 0; i < q->n_rel; i++) if (!strcmp(q->rel_ids[i], doc)) return q->rel_grade[i];
  return 0;
}

typedef struct metrics { double ndcg10, recall100, mrr10; size_t n; } metrics;

/* Score one query's ranked, de-duplicated document ids. */
static void score_query(const query *q, char **docs, size_t n, metrics *m)
{
  double dcg = 0, idcg = 0, mrr = 0;
  size_t found = 0;
  for (size_t i = 0; i < n; i++) {
    int g = grade_of(q, docs[i]);
    if (!g) continue;
    if (i < 10) {
      dcg += g / log2((double)i + 2);
      if (!mrr) mrr = 1.0 / (double)(i + 1);
    }
    if (i < 100) found++;
  }
  int *gr = malloc((q->n_rel ? q->n_rel : 1) * sizeof *gr);
  if (gr) {
    memcpy(gr, q->rel_grade, q->n_rel * sizeof *gr);
    qsort(gr, q->n_rel, sizeof *gr, cmp_int_desc);
    for (size_t i = 0; i < q->n_rel && i < 10; i++) idcg += gr[i] / log2((double)i + 2);
    free(gr);
  }
  m->ndcg10 += idcg > 0 ? dcg / idcg : 0;
  m->recall100 += q->n_rel ? (double)found / (double)q->n_rel : 0;
  m->mrr10 += mrr;
  m->n++;
}

/* ---- eval retrieval -------------------------------------------------------------------- */

typedef struct eval_opts {
  const char *dir, *db_dir;
  const char *misses; /* eval answers: JSON Lines of the questions missed (first order run) */
  const docq_model *tokenizer; /* eval answers: exact counts with this tokenizer; NULL = estimate */
  docq_search_options so;
  unsigned budget, k;
  size_t limit;
  int orders; /* eval answers: bit mask of orders to run */
} eval_opts;

/* Append a copy of path[0..len) to docs[] unless it is there (a document
 * counts once, at its best rank). Out of memory drops it from the ranking. */
static void rank_doc(char **docs, size_t *nd, const char *path, size_t len)
{
  for (size_t j = 0; j < *nd; j++)
    if (strlen(docs[j]) == len && memcmp(docs[j], path, len) == 0) return;
  char *c = malloc(len + 1);
  if (!c) return;
  memcpy(c, path, len);
  c[len] = 0;
  docs[(*nd)++] = c;
}

static int eval_retrieval(const eval_opts *eo, evalset *set, docq_db *db)
{
  metrics m = {0};
  double *lat = calloc(set->n ? set->n : 1, sizeof *lat);
  char **docs = calloc(100, sizeof *docs);
  if (!lat || !docs) { free(lat); free(docs); return cli_fail(DOCQ_ENOMEM, "eval"); }
  size_t nl = 0;
  docq_search_options so = eo->so;
  so.k = 100;
  int tty = cli_tty();
  for (size_t qi = 0; qi < set->n; qi++) {
    const query *q = &set->q[qi];
    if (!q->n_rel) continue;
    if (eo->limit && m.n >= eo->limit) break;
    docq_results *r = NULL;
    double t = cli_now();
    int rc = docq_search(&r, db, q->text, &so);
    lat[nl++] = (cli_now() - t) * 1000.0;
    if (rc < 0 || cli_interrupted()) {
      docq_results_free(r);
      free(lat);
      free(docs);
      if (tty) fputs("\r\033[K", stderr);
      return cli_interrupted() ? eval_interrupted(eo->db_dir) : cli_fail(rc, "search failed");
    }
    /* A near-duplicate collapsed into a hit is shown as one of its sources
     * (also_in), so it counts as retrieved right after that hit: otherwise
     * the collapse the user wants would read as a miss here. docs[] owns
     * copies of the paths. */
    size_t nd = 0, nh = docq_results_count(r);
    for (size_t i = 0; i < nh && nd < 100; i++) {
      const docq_hit *h = docq_results_get(r, i);
      rank_doc(docs, &nd, h->path, strlen(h->path));
      for (const char *p = h->also_in; p && *p && nd < 100;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        rank_doc(docs, &nd, p, len);
        p = e ? e + 1 : p + len;
      }
    }
    score_query(q, docs, nd, &m);
    for (size_t i = 0; i < nd; i++) free(docs[i]);
    docq_results_free(r);
    if (tty && m.n % 50 == 0) fprintf(stderr, "\r\033[K%zu queries", m.n);
  }
  if (tty) fputs("\r\033[K", stderr);
  double n = m.n ? (double)m.n : 1;
  double p50 = percentile(lat, nl, 0.5), p95 = percentile(lat, nl, 0.95);
  static const char *modes[] = {"hybrid", "bm25", "vector"};
  static const char *fusions[] = {"default", "rrf", "convex"};
  if (g_cli.json) {
    printf("{\"set\":");
    cli_json_str(stdout, eo->dir);
    printf(",\"mode\":\"%s\",\"fusion\":\"%s\",\"weight\":%g,\"feedback\":%s,\"queries\":%zu,\"ndcg@10\":%.4f,\"recall@100\":%.4f,"
           "\"mrr@10\":%.4f,\"latency_ms_p50\":%.2f,\"latency_ms_p95\":%.2f}\n",
           modes[eo->so.mode], fusions[eo->so.fusion], eo->so.bm25_weight, eo->so.feedback ? "true" : "false", m.n, m.ndcg10 / n, m.recall100 / n,
           m.mrr10 / n, p50, p95);
  } else {
    printf("set        %s\nmode       %s (fusion %s", eo->dir, modes[eo->so.mode], fusions[eo->so.fusion]);
    if (eo->so.bm25_weight >= 0) printf(", weight %g", eo->so.bm25_weight);
    if (!eo->so.feedback) printf(", no feedback");
    printf(")\nqueries    %zu\nnDCG@10    %.4f\nRecall@100 %.4f\nMRR@10     %.4f\nlatency    p50 %.2f ms, p95 %.2f ms\n",
           m.n, m.ndcg10 / n, m.recall100 / n, m.mrr10 / n, p50, p95);
  }
  free(lat);
  free(docs);
  return 0;
}

/* ---- eval answers ------------------------------------------------------------------------- */

/* Lower-case ASCII, drop ASCII punctuation, collapse white space; non-ASCII
 * bytes kept as they are. */
static char *norm_text(const char *s)
{
  size_t n = strlen(s);
  char *o = malloc(n + 1);
  if (!o) return NULL;
  size_t k = 0;
  int space = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { space = 1; continue; }
    if (c < 128 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) { space = 1; continue; }
    if (space && k) o[k++] = ' ';
    space = 0;
    o[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  o[k] = 0;
  return o;
}

/* Offset of the first gold answer in normalized text (after `from`), or -1. */
static long find_answer(const query *q, const char *norm, size_t from)
{
  long best = -1;
  for (size_t i = 0; i < q->n_answers; i++) {
    char *a = norm_text(q->answers[i]);
    if (!a) continue;
    if (*a) {
      const char *p = strstr(norm + from, a);
      if (p && (best < 0 || p - norm < best)) best = (long)(p - norm);
    }
    free(a);
  }
  return best;
}

/* 1-based rank of the first judged document among the hits (also_in
 * counted), 0 when none is there. */
static int judged_rank(const query *q, const docq_hit *h, int rank)
{
  for (size_t j = 0; j < q->n_rel; j++) {
    if (!strcmp(q->rel_ids[j], h->path)) return rank;
    size_t len = strlen(q->rel_ids[j]);
    for (const char *p = h->also_in; p && *p;) {
      const char *e = strchr(p, '\n');
      size_t l = e ? (size_t)(e - p) : strlen(p);
      if (l == len && !memcmp(p, q->rel_ids[j], len)) return rank;
      p = e ? e + 1 : p + l;
    }
  }
  return 0;
}

/* One JSON line for a question whose answer the packed prompt missed: where
 * its judged document ranked in the search (k 100) and whether it was packed. */
static void write_miss(FILE *f, const query *q, docq_db *db, const eval_opts *eo, const docq_answer *a)
{
  int packed_rank = 0, search_rank = 0;
  for (size_t i = 0; i < docq_answer_passages(a) && !packed_rank; i++) {
    const docq_passage *p = docq_answer_passage(a, i);
    packed_rank = judged_rank(q, p->hit, p->rank);
  }
  docq_search_options so = eo->so;
  so.k = 100;
  docq_results *r = NULL;
  if (q->n_rel && docq_search(&r, db, q->text, &so) >= 0)
    for (size_t i = 0; i < docq_results_count(r) && !search_rank; i++)
      search_rank = judged_rank(q, docq_results_get(r, i), (int)i + 1);
  docq_results_free(r);
  fputs("{\"_id\":", f);
  cli_json_str(f, q->id);
  fputs(",\"text\":", f);
  cli_json_str(f, q->text);
  fputs(",\"answers\":[", f);
  for (size_t i = 0; i < q->n_answers; i++) {
    if (i) fputc(',', f);
    cli_json_str(f, q->answers[i]);
  }
  fprintf(f, "],\"passages\":%zu,\"judged_packed_rank\":%d,\"judged_search_rank\":%d}\n", docq_answer_passages(a),
          packed_rank, search_rank);
}

static int eval_answers(const eval_opts *eo, evalset *set, docq_db *db)
{
  static const char *names[] = {"edges", "relevance", "document"};
  size_t n_q = 0, in_ctx[3] = {0}, third[3][3] = {{0}}, in_answer[3] = {0}, found[3] = {0}, weak[3] = {0}, left[3] = {0};
  double *lat = calloc(set->n ? set->n : 1, sizeof *lat);
  size_t nl = 0;
  double tokens = 0;
  int tty = cli_tty();
  if (!lat) return cli_fail(DOCQ_ENOMEM, "eval");
  /* --misses reports the first order evaluated (edges unless --order says otherwise) */
  const int first_order = eo->orders & 1 ? 0 : eo->orders & 2 ? 1 : 2;
  FILE *mf = NULL;
  if (eo->misses && !(mf = fopen(eo->misses, "w"))) {
    free(lat);
    return cli_error(DOCQ_EIO, "eval", "cannot write %s: %s", eo->misses, strerror(errno));
  }
  for (size_t qi = 0; qi < set->n; qi++) {
    const query *q = &set->q[qi];
    if (!q->n_answers) continue;
    if (eo->limit && n_q >= eo->limit) break;
    n_q++;
    for (int o = 0; o < 3; o++) {
      if (!(eo->orders & (1 << o))) continue;
      docq_ask_options ao;
      docq_ask_options_init(&ao, DOCQ_ASK_OPTIONS_VERSION);
      ao.search = eo->so;
      ao.search.k = eo->k ? eo->k : 20;
      ao.order = (docq_order)o;
      ao.budget_tokens = eo->budget;
      ao.tokenizer = eo->tokenizer;
      docq_answer *a = NULL;
      double t = cli_now();
      int rc = docq_ask(&a, db, q->text, &ao);
      if (o == 0) lat[nl++] = (cli_now() - t) * 1000.0;
      if (rc < 0 || cli_interrupted()) {
        docq_answer_free(a);
        free(lat);
        if (mf) fclose(mf);
        if (tty) fputs("\r\033[K", stderr);
        return cli_interrupted() ? eval_interrupted(eo->db_dir) : cli_fail(rc, "ask failed");
      }
      char *prompt = norm_text(docq_answer_prompt(a));
      char *qn = norm_text(q->text);
      char *ans = norm_text(docq_answer_text(a));
      if (prompt && qn && ans) {
        /* skip the question stated first: look from where it ends */
        const char *qp = *qn ? strstr(prompt, qn) : NULL;
        size_t from = qp ? (size_t)(qp - prompt) + strlen(qn) : 0;
        long at = find_answer(q, prompt, from);
        if (at >= 0) {
          in_ctx[o]++;
          size_t len = strlen(prompt);
          int th = (int)(3.0 * (double)at / (double)(len ? len : 1));
          third[o][th > 2 ? 2 : th]++;
        } else if (mf && o == first_order) {
          write_miss(mf, q, db, eo, a);
        }
        if (find_answer(q, ans, 0) >= 0) in_answer[o]++;
      }
      if (docq_answer_found(a)) found[o]++;
      if (docq_answer_weak(a)) weak[o]++;
      size_t lo = 0; int best = 0;
      docq_answer_left_out(a, &lo, &best);
      if (lo) left[o]++;
      if (o == 0) tokens += docq_answer_prompt_tokens(a);
      free(prompt); free(qn); free(ans);
      docq_answer_free(a);
    }
    if (tty && n_q % 20 == 0) fprintf(stderr, "\r\033[K%zu questions", n_q);
  }
  if (tty) fputs("\r\033[K", stderr);
  if (mf && fclose(mf)) {
    free(lat);
    return cli_error(DOCQ_EIO, "eval", "writing %s failed: %s", eo->misses, strerror(errno));
  }
  double n = n_q ? (double)n_q : 1;
  double p50 = percentile(lat, nl, 0.5), p95 = percentile(lat, nl, 0.95);
  if (g_cli.json) {
    printf("{\"set\":");
    cli_json_str(stdout, eo->dir);
    printf(",\"budget\":%u,\"k\":%u,\"questions\":%zu,\"prompt_tokens_mean\":%.1f,\"latency_ms_p50\":%.2f,"
           "\"latency_ms_p95\":%.2f,\"orders\":{", eo->budget, eo->k ? eo->k : 20, n_q, tokens / n, p50, p95);
    int first = 1;
    for (int o = 0; o < 3; o++) {
      if (!(eo->orders & (1 << o))) continue;
      printf("%s\"%s\":{\"answer_in_context\":%.4f,\"first_third\":%.4f,\"middle_third\":%.4f,\"last_third\":%.4f,"
             "\"answer_in_extract\":%.4f,\"found\":%.4f,\"weak\":%.4f,\"with_left_out\":%.4f}",
             first ? "" : ",", names[o], in_ctx[o] / n, third[o][0] / n, third[o][1] / n, third[o][2] / n,
             in_answer[o] / n, found[o] / n, weak[o] / n, left[o] / n);
      first = 0;
    }
    printf("}}\n");
  } else {
    printf("set         %s\nbudget      %u tokens, k %u\nquestions   %zu (mean prompt %.0f tokens; ask p50 %.1f ms, p95 %.1f ms)\n",
           eo->dir, eo->budget, eo->k ? eo->k : 20, n_q, tokens / n, p50, p95);
    printf("%-10s %8s %8s %8s %8s %9s %8s %8s %9s\n", "order", "in-ctx", "first", "middle", "last", "in-answer", "found",
           "weak", "left-out");
    for (int o = 0; o < 3; o++) {
      if (!(eo->orders & (1 << o))) continue;
      printf("%-10s %7.1f%% %7.1f%% %7.1f%% %7.1f%% %8.1f%% %7.1f%% %7.1f%% %8.1f%%\n", names[o], 100 * in_ctx[o] / n,
             100 * third[o][0] / n, 100 * third[o][1] / n, 100 * third[o][2] / n, 100 * in_answer[o] / n,
             100 * found[o] / n, 100 * weak[o] / n, 100 * left[o] / n);
    }
  }
  free(lat);
  return 0;
}

/* ---- command ------------------------------------------------------------------------------ */

static int need(int argc, char **argv, int i)
{
  if (i + 1 < argc) return 1;
  cli_missing("eval", argc, argv, i);
  return 0;
}

int cmd_eval(int argc, char **argv)
{
  /* language-model evaluations (perplexity, passkey) live in cmd_eval_lm.c */
  if (argc >= 2 && (!strcmp(argv[1], "ppl") || !strcmp(argv[1], "passkey"))) return cmd_eval_lm(argc - 1, argv + 1);
  eval_opts eo;
  memset(&eo, 0, sizeof eo);
  docq_search_options_init(&eo.so, DOCQ_SEARCH_OPTIONS_VERSION);
  eo.budget = 2048;
  eo.orders = 7;
  const char *what = NULL, *tok_path = NULL;
  const char *answers_opt = NULL; /* an option only eval answers reads (its usage line lists it) */
  docq_model *tok = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--db")) {
      if (!need(argc, argv, i)) return EXIT_USAGE;
      eo.db_dir = argv[++i];
      continue;
    }
    if (!strncmp(a, "--db=", 5)) { eo.db_dir = a + 5; continue; }
    int c = cli_common_opt(argc, argv, &i);
    if (c < 0) return EXIT_USAGE;
    if (c > 0) continue;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
    if (!strcmp(a, "--budget") || !strcmp(a, "-k") || !strcmp(a, "--tokenizer") || !strcmp(a, "--misses") ||
        !strcmp(a, "--order"))
      answers_opt = a;
    if (!strcmp(a, "--mode")) {
      if (!need(argc, argv, i)) return EXIT_USAGE;
      const char *m = argv[++i];
      if (!strcmp(m, "hybrid")) eo.so.mode = DOCQ_MODE_HYBRID;
      else if (!strcmp(m, "bm25")) eo.so.mode = DOCQ_MODE_BM25;
      else if (!strcmp(m, "vector")) eo.so.mode = DOCQ_MODE_VECTOR;
      else return cli_usage("eval", "--mode is hybrid, bm25 or vector");
    } else if (!strcmp(a, "--fusion")) {
      if (!need(argc, argv, i)) return EXIT_USAGE;
      const char *m = argv[++i];
      if (!strcmp(m, "rrf")) eo.so.fusion = DOCQ_FUSION_RRF;
      else if (!strcmp(m, "convex")) eo.so.fusion = DOCQ_FUSION_CONVEX;
      else return cli_usage("eval", "--fusion is rrf or convex");
    } else if (!strcmp(a, "--no-feedback")) {
      eo.so.feedback = 0;
    } else if (!strcmp(a, "--weight")) {
      if (!need(argc, argv, i)) return EXIT_USAGE;
      eo.so.bm25_weight = atof(argv[++i]);
      if (eo.so.bm25_weight < 0 || eo.so.bm25_weight > 1) return cli_usage("eval", "--weight wants 0..1");
    } else if (!strcmp(a, "--budget")) {
      if (!need(argc, argv, i)) return EXIT_USAGE;
      long b = atol(argv[++i]);
      if (b < 64 || b > 1000000) return cli_usage("eval", "--budget wants 64..1000000 tokens");
      eo.budget = (unsigned)b;
    } else if (!strcmp(a, "-k")) {
      if (!need(argc, argv, i)) return EXIT_USAGE;
      long k = atol(argv[++i]);
      if (k < 1 || k > 1000) return cli_usage("eval", "-k wants 1..1000");
      eo.k = (unsigned)k;
    } else if (!strcmp(a, "--tokenizer")) {
      if (!need(argc, argv, i)) return EXIT_USAGE;
      tok_path = argv[++i];
    } else if (!strcmp(a, "--misses")) {
      if (!need(argc, argv, i)) return EXIT_USAGE;
      eo.misses = argv[++i];
    } else if (!strcmp(a, "--limit")) {
      if (!need(argc, argv, i)) return EXIT_USAGE;
      eo.limit = (size_t)atol(argv[++i]);
    } else if (!strcmp(a, "--order")) {
      if (!need(argc, argv, i)) return EXIT_USAGE;
      const char *m = argv[++i];
      eo.orders = !strcmp(m, "edges") ? 1 : !strcmp(m, "relevance") ? 2 : !strcmp(m, "document") ? 4 : 0;
      if (!eo.orders) return cli_usage("eval", "--order is edges, relevance or document");
    } else if (a[0] == '-') {
      return cli_usage("eval", "unknown option %s", a);
    } else if (!what) {
      if (!strcmp(a, "ppl") || !strcmp(a, "passkey"))
        return cli_usage("eval", "%s comes first, before its options: docq eval %s ...", a, a);
      if (strcmp(a, "retrieval") && strcmp(a, "answers"))
        return cli_usage("eval", "unknown subcommand '%s' (retrieval, answers, ppl or passkey)", a);
      what = a;
    } else if (!eo.dir) eo.dir = a;
    else return cli_usage("eval", "unexpected argument %s", a);
  }
  if (!what) {
    usage(stderr);
    return cli_usage("eval", "expected: docq eval retrieval|answers DIR");
  }
  if (!eo.dir) return cli_usage("eval", "%s needs the set's folder: docq eval %s DIR", what, what);
  if (answers_opt && !strcmp(what, "retrieval")) return cli_usage("eval", "%s is for eval answers, not retrieval", answers_opt);

  cli_on_sigint(NULL); /* from here on Ctrl-C ends the run through eval_interrupted, the temporary index removed */
  evalset set = {0};
  char path[4096], tmp[4096] = "";
  docq_db *db = NULL;
  int code = EXIT_FAIL;
  snprintf(path, sizeof path, "%s/queries.jsonl", eo.dir);
  if (each_jsonl(path, add_query, &set)) goto done;
  snprintf(path, sizeof path, "%s/qrels.tsv", eo.dir);
  if (!strcmp(what, "retrieval") || access(path, R_OK) == 0)
    if (read_qrels(path, &set)) goto done;
  if ((code = check_set(&set, what, eo.dir)) != 0) goto done; /* before the corpus is indexed */
  if (tok_path) {
    int mrc = docq_model_load_info(&tok, tok_path);
    if (mrc) { code = cli_fail(mrc, "cannot load the tokenizer"); goto done; }
    eo.tokenizer = tok;
  }
  if ((code = open_set_index(eo.dir, eo.db_dir, tmp, sizeof tmp, &db)) != 0) goto done;
  code = !strcmp(what, "retrieval") ? eval_retrieval(&eo, &set, db) : eval_answers(&eo, &set, db);
done:
  cli_db_free(db);
  docq_model_free(tok);
  if (tmp[0]) rm_tree(tmp);
  set_free(&set);
  return code;
}
