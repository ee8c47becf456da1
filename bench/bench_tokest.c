/* How honest is dq_token_estimate? Compares it, passage by passage, with the
 * exact token count of real tokenizers (the vocabulary-only GGUF files in
 * <shared>/vocab, tokenized by docq's own engine through docq_tokenize) and
 * prints the distribution of true/estimate per tokenizer and language:
 * mean, p50, p99, max (<= 1 means the estimate did not under-count), plus
 * sum(true)/sum(estimate).
 *
 * Passages are what docq packs and stores: the documents of the retrieval
 * sets (corpus.jsonl "text": nq, squad, scifact in English, cmrc2018 in
 * Chinese) and the chunks docq's loader and chunker cut from the long corpora
 * (gutenberg_en, vue_docs_en; classics_zh, vue_docs_zh). At most --max
 * passages per source, taken evenly through it.
 *
 * The shared gpt2-pre-llama-bpe and gpt2-pre-qwen2 files are GPT-2's 50k
 * vocabulary with the Llama 3 and Qwen2 pre-tokenizers: they show what those
 * rules do (digits, punctuation runs) but not the real 128k/151k
 * vocabularies, which give fewer tokens (English a little, Chinese about 2.5x
 * fewer). `--vocab NAME=FILE` adds any GGUF (a real model or its tokenizer).
 *
 * Usage: bench_tokest [--shared DIR] [--max N] [--by-source] [--vocab NAME=FILE]...
 *                     [--dump FILE]
 * --dump writes one line per passage (language, source, the true counts in
 * the order printed, the estimate, then the text with \t \n \r \\
 * escaped) for offline analysis. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/jsonl.h"
#include "docq.h"
#include "indexer/chunk.h"
#include "indexer/loader.h"
#include "indexer/normalize.h"

enum { LANG_EN = 0, LANG_ZH = 1, N_LANG = 2 };
static const char *const k_lang[N_LANG] = {"en", "zh"};

typedef struct tokenizer {
  const char *name; /* what users run it as */
  const char *file; /* under <shared>/vocab, or a path given with --vocab */
  int given;        /* 1 = `file` is a path */
  docq_model *m;
} tokenizer;

enum { MAX_TOK = 12 };
static tokenizer g_tok[MAX_TOK] = {
  {"llama-spm (Llama-2/Mistral/TinyLlama)", "ggml-vocab-llama-spm.gguf", 0, NULL},
  {"gpt2-pre-llama-bpe (Llama 3 rules)", "ggml-vocab-gpt2-pre-llama-bpe.gguf", 0, NULL},
  {"gpt2-pre-qwen2 (Qwen2 rules)", "ggml-vocab-gpt2-pre-qwen2.gguf", 0, NULL},
  {"gpt-2", "ggml-vocab-gpt-2.gguf", 0, NULL},
};
static int g_n_tok = 4; /* the four shared files, then --vocab ones */

typedef struct passage {
  char *text;
  size_t len;
  int lang;
  int source; /* index into g_src */
} passage;

typedef struct source {
  const char *name;
  const char *path; /* relative to <shared>/data */
  int lang;
  int folder; /* 1 = a tree of documents to load and chunk; 0 = corpus.jsonl */
} source;

static const source g_src[] = {
  {"nq", "retrieval/nq/corpus.jsonl", LANG_EN, 0},
  {"squad", "retrieval/squad/corpus.jsonl", LANG_EN, 0},
  {"scifact", "retrieval/scifact/corpus.jsonl", LANG_EN, 0},
  {"gutenberg_en", "corpora/gutenberg_en", LANG_EN, 1},
  {"vue_docs_en", "corpora/vue_docs_en/src", LANG_EN, 1},
  {"cmrc2018", "retrieval/cmrc2018/corpus.jsonl", LANG_ZH, 0},
  {"classics_zh", "corpora/classics_zh", LANG_ZH, 1},
  {"vue_docs_zh", "corpora/vue_docs_zh/src", LANG_ZH, 1},
};
enum { N_SRC = sizeof g_src / sizeof g_src[0] };

/* Growable list of passages. */
typedef struct plist {
  passage *v;
  size_t n, cap;
} plist;

static void die(const char *what)
{
  const docq_error *e = docq_error_last();
  fprintf(stderr, "bench_tokest: %s: %s\n", what, e && e->message[0] ? e->message : "failed");
  exit(1);
}

static void plist_add(plist *l, const char *s, size_t n, int lang, int src)
{
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 1024;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (!l->v) { fprintf(stderr, "bench_tokest: out of memory\n"); exit(1); }
  }
  char *t = malloc(n + 1);
  if (!t) { fprintf(stderr, "bench_tokest: out of memory\n"); exit(1); }
  memcpy(t, s, n);
  t[n] = 0;
  l->v[l->n++] = (passage){t, n, lang, src};
}

static void read_jsonl(plist *l, const char *path, int lang, int src)
{
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "bench_tokest: cannot open %s\n", path); exit(1); }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  char err[256];
  while ((len = getline(&line, &cap, f)) > 0) {
    json_obj o;
    if (json_obj_parse(line, (size_t)len, &o, err, sizeof err)) {
      fprintf(stderr, "bench_tokest: %s: %s\n", path, err);
      exit(1);
    }
    const json_member *t = json_obj_get(&o, "text");
    if (t && t->str && t->str_len) plist_add(l, t->str, t->str_len, lang, src);
    json_obj_free(&o);
  }
  free(line);
  fclose(f);
}

/* nftw has no context argument: the folder walk collects paths here. */
static char **g_paths;
static size_t g_n_paths, g_cap_paths;

static int collect_path(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void)st; (void)ftw;
  if (type != FTW_F) return 0;
  const char *dot = strrchr(path, '.');
  if (!dot || (strcmp(dot, ".txt") && strcmp(dot, ".md"))) return 0;
  if (g_n_paths == g_cap_paths) {
    g_cap_paths = g_cap_paths ? 2 * g_cap_paths : 256;
    g_paths = realloc(g_paths, g_cap_paths * sizeof *g_paths);
    if (!g_paths) { fprintf(stderr, "bench_tokest: out of memory\n"); exit(1); }
  }
  g_paths[g_n_paths++] = strdup(path);
  return 0;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Chunks of every .txt/.md file under `dir`, cut by docq's loader and chunker
 * with the default options (so their size follows dq_token_estimate). */
static void read_folder(plist *l, const char *dir, int lang, int src)
{
  g_n_paths = 0;
  if (nftw(dir, collect_path, 16, FTW_PHYS)) { fprintf(stderr, "bench_tokest: cannot walk %s\n", dir); exit(1); }
  qsort(g_paths, g_n_paths, sizeof *g_paths, cmp_str); /* same passages on every run */
  for (size_t i = 0; i < g_n_paths; i++) {
    dq_doc *d;
    if (dq_load_file(g_paths[i], NULL, &d)) die(g_paths[i]);
    dq_chunk_opts co = {DQ_CHUNK_DEFAULT_TOKENS, DQ_CHUNK_DEFAULT_OVERLAP, NULL, NULL};
    dq_chunk *c;
    size_t n;
    if (dq_chunk_doc(d, &co, &c, &n)) die(g_paths[i]);
    for (size_t k = 0; k < n; k++)
      if (c[k].text_len) plist_add(l, c[k].text, c[k].text_len, lang, src);
    dq_chunks_free(c, n);
    dq_doc_free(d);
    free(g_paths[i]);
  }
}

/* Keep at most `max` passages of l[from..], evenly spaced; free the rest. */
static void thin(plist *l, size_t from, size_t max)
{
  size_t n = l->n - from, next = 0; /* next kept index among the n, in order */
  if (n <= max) return;
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    passage p = l->v[from + i];
    if (kept < max && i == next) {
      l->v[from + kept++] = p; /* from + kept <= from + i: never overwrites an unread slot */
      next = kept * n / max;
    } else {
      free(p.text);
    }
  }
  l->n = from + kept;
}

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* MB/s of dq_token_estimate over all passages (median of 7 passes): it runs
 * over every chunk indexed and every passage packed. */
static double estimate_speed(const plist *l)
{
  double t[7], bytes = 0;
  size_t sink = 0;
  for (size_t i = 0; i < l->n; i++) bytes += (double)l->v[i].len;
  for (int r = 0; r < 7; r++) {
    double t0 = now_s();
    for (size_t i = 0; i < l->n; i++) sink += dq_token_estimate(l->v[i].text, l->v[i].len);
    t[r] = now_s() - t0;
  }
  qsort(t, 7, sizeof *t, cmp_d);
  if (sink == 1) fputs("", stderr); /* keeps the calls */
  return bytes / 1e6 / t[3];
}

typedef struct stats {
  size_t n;
  double mean, p50, p99, max, sum_ratio;
  size_t worst; /* passage index of the max */
} stats;

/* r[i] = true/estimate of passage idx[i]; sorts r in place. */
static stats summarize(double *r, const size_t *idx, size_t n, double sum_true, double sum_est)
{
  stats s = {0};
  s.n = n;
  if (!n) return s;
  double tot = 0, mx = -1;
  for (size_t i = 0; i < n; i++) {
    tot += r[i];
    if (r[i] > mx) { mx = r[i]; s.worst = idx[i]; }
  }
  qsort(r, n, sizeof *r, cmp_d);
  s.mean = tot / (double)n;
  s.p50 = r[n / 2];
  s.p99 = r[(size_t)((double)(n - 1) * 0.99)];
  s.max = r[n - 1];
  s.sum_ratio = sum_est > 0 ? sum_true / sum_est : 0;
  return s;
}

static void dump_text(FILE *f, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\t') fputs("\\t", f);
    else if (s[i] == '\n') fputs("\\n", f);
    else if (s[i] == '\\') fputs("\\\\", f);
    else if (s[i] == '\r') fputs("\\r", f);
    else fputc(s[i], f);
  }
}

int main(int argc, char **argv)
{
  const char *shared = getenv("DOCQ_SHARED_DIR");
  const char *dump = NULL;
  size_t max = 2000;
  int by_source = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--shared") && i + 1 < argc) shared = argv[++i];
    else if (!strcmp(argv[i], "--max") && i + 1 < argc) max = (size_t)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = argv[++i];
    else if (!strcmp(argv[i], "--by-source")) by_source = 1;
    else if (!strcmp(argv[i], "--vocab") && i + 1 < argc && strchr(argv[i + 1], '=') && g_n_tok < MAX_TOK) {
      char *eq = strchr(argv[++i], '=');
      *eq = 0;
      g_tok[g_n_tok++] = (tokenizer){argv[i], eq + 1, 1, NULL};
    } else {
      fprintf(stderr, "usage: bench_tokest [--shared DIR] [--max N] [--by-source] [--vocab NAME=FILE]... "
                      "[--dump FILE]\n");
      return 2;
    }
  }
  if (!shared) shared = "../shared";
  if (!max) max = 1;
  char path[4096];
  for (int t = 0; t < g_n_tok; t++) {
    if (g_tok[t].given) snprintf(path, sizeof path, "%s", g_tok[t].file);
    else snprintf(path, sizeof path, "%s/vocab/%s", shared, g_tok[t].file);
    if (docq_model_load(&g_tok[t].m, path)) die(path);
  }
  plist l = {0};
  for (int s = 0; s < N_SRC; s++) {
    size_t from = l.n;
    snprintf(path, sizeof path, "%s/data/%s", shared, g_src[s].path);
    if (g_src[s].folder) read_folder(&l, path, g_src[s].lang, s);
    else read_jsonl(&l, path, g_src[s].lang, s);
    thin(&l, from, max);
  }
  free(g_paths);

  size_t n = l.n;
  size_t *est = malloc(n * sizeof *est);
  long *tru = malloc(n * (size_t)g_n_tok * sizeof *tru);
  double *r = malloc(n * sizeof *r);
  size_t *idx = malloc(n * sizeof *idx);
  if (!est || !tru || !r || !idx) { fprintf(stderr, "bench_tokest: out of memory\n"); return 1; }
  for (size_t i = 0; i < n; i++) {
    est[i] = dq_token_estimate(l.v[i].text, l.v[i].len);
    for (int t = 0; t < g_n_tok; t++) {
      long k = docq_tokenize(g_tok[t].m, l.v[i].text, l.v[i].len, 0, NULL, 0);
      if (k < 0) die("tokenize");
      tru[i * (size_t)g_n_tok + (size_t)t] = k;
    }
  }

  printf("passages: %zu (at most %zu per source); estimate speed %.0f MB/s\n", n, max, estimate_speed(&l));
  printf("%-38s %-4s %-13s %6s %6s %6s %6s %6s %s\n", "tokenizer", "lang", "source", "n", "mean", "p50", "p99", "max",
         "sum(true)/sum(est)");
  for (int t = 0; t < g_n_tok; t++) {
    for (int g = 0; g < N_LANG; g++) {
      for (int s = -1; s < N_SRC; s++) {
        if (s >= 0 && (!by_source || g_src[s].lang != g)) continue;
        size_t m = 0;
        double st = 0, se = 0;
        for (size_t i = 0; i < n; i++) {
          if (l.v[i].lang != g || (s >= 0 && l.v[i].source != s) || !est[i]) continue;
          double tr = (double)tru[i * (size_t)g_n_tok + (size_t)t];
          r[m] = tr / (double)est[i];
          idx[m++] = i;
          st += tr;
          se += (double)est[i];
        }
        stats x = summarize(r, idx, m, st, se);
        printf("%-38s %-4s %-13s %6zu %6.3f %6.3f %6.3f %6.3f %6.3f", g_tok[t].name, k_lang[g],
               s < 0 ? "all" : g_src[s].name, x.n, x.mean, x.p50, x.p99, x.max, x.sum_ratio);
        if (s < 0 && x.n) printf("   worst: %s", g_src[l.v[x.worst].source].name);
        printf("\n");
      }
    }
  }
  if (dump) {
    FILE *f = fopen(dump, "w");
    if (!f) { fprintf(stderr, "bench_tokest: cannot write %s\n", dump); return 1; }
    for (size_t i = 0; i < n; i++) {
      fprintf(f, "%s\t%s", k_lang[l.v[i].lang], g_src[l.v[i].source].name);
      for (int t = 0; t < g_n_tok; t++) fprintf(f, "\t%ld", tru[i * (size_t)g_n_tok + (size_t)t]);
      fprintf(f, "\t%zu\t", est[i]);
      dump_text(f, l.v[i].text, l.v[i].len);
      fputc('\n', f);
    }
    fclose(f);
  }
  for (size_t i = 0; i < n; i++) free(l.v[i].text);
  free(l.v);
  free(est); free(tru); free(r); free(idx);
  for (int t = 0; t < g_n_tok; t++) docq_model_free(g_tok[t].m);
  return 0;
}
