/* The model commands: generate (plain completion, streamed), model info,
 * tokenize and bench (llama-bench style prefill / decode speed).
 * Public API only: everything goes through <docq.h>. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define MAX_STOP 16

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "-x V" / "--xx V" / "--xx=V": the value or NULL (advances *i). */
static const char *optval(int argc, char **argv, int *i, const char *a, const char *b)
{
  const char *s = argv[*i];
  size_t n;
  if ((a && !strcmp(s, a)) || (b && !strcmp(s, b))) {
    if (*i + 1 >= argc) return NULL;
    return argv[++*i];
  }
  if (b && !strncmp(s, b, n = strlen(b)) && s[n] == '=') return s + n + 1;
  return NULL;
}

static int is_opt(const char *s, const char *a, const char *b)
{
  size_t n;
  return (a && !strcmp(s, a)) || (b && (!strcmp(s, b) || (!strncmp(s, b, n = strlen(b)) && s[n] == '=')));
}

static int bad_usage(const char *cmd, const char *msg, const char *arg)
{
  fprintf(stderr, "docq %s: %s%s%s (see docq %s --help)\n", cmd, msg, arg ? ": " : "", arg ? arg : "", cmd);
  return EXIT_USAGE;
}

/* ---- generate ------------------------------------------------------------------ */

static void generate_usage(FILE *f)
{
  fputs("usage: docq generate --model FILE \"PROMPT\" [options]\n"
        "Plain completion of PROMPT (BOS added as the model file says), streamed to stdout.\n"
        "  -m, --model FILE        GGUF model (llama or qwen2 architecture)\n"
        "  -n, --n-predict N       new tokens at most (default 128)\n"
        "      --temp T            temperature; 0 = greedy (default 0.7)\n"
        "      --top-k K           0 = off (default 40)\n"
        "      --top-p P           1 = off (default 0.95)\n"
        "      --min-p P           0 = off (default 0.05)\n"
        "      --repeat-penalty R  1 = off (default 1.0)\n"
        "      --repeat-last-n N   tokens the penalty looks back over (default 64)\n"
        "  -s, --seed S            sampling seed (default 0 = fixed seed 42)\n"
        "  -c, --ctx N             context size in tokens (default: the model's trained length, at most 4096)\n"
        "      --stop STR          stop before STR (repeatable, up to 16)\n"
        "  -t, --threads N         threads (default: all cores)\n"
        "  -h, --help              this help\n",
        f);
}

static int print_token(const char *s, size_t n, void *payload)
{
  (void)payload;
  fwrite(s, 1, n, stdout);
  fflush(stdout);
  return 0;
}

int cmd_generate(int argc, char **argv)
{
  const char *model = NULL, *prompt = NULL, *v;
  const char *stops[MAX_STOP + 1] = {0};
  int n_stop = 0;
  unsigned n_ctx = 0;
  docq_gen_options o;
  docq_gen_options_init(&o, DOCQ_GEN_OPTIONS_VERSION);
  o.n_predict = 128;
  o.repeat_penalty = 1.0f;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      generate_usage(stdout);
      return 0;
    } else if (is_opt(a, "-m", "--model")) {
      if (!(model = optval(argc, argv, &i, "-m", "--model"))) return bad_usage("generate", "missing value", a);
    } else if (is_opt(a, "-n", "--n-predict")) {
      if (!(v = optval(argc, argv, &i, "-n", "--n-predict"))) return bad_usage("generate", "missing value", a);
      o.n_predict = atoi(v);
    } else if (is_opt(a, NULL, "--temp")) {
      if (!(v = optval(argc, argv, &i, NULL, "--temp"))) return bad_usage("generate", "missing value", a);
      o.temperature = strtof(v, NULL);
    } else if (is_opt(a, NULL, "--top-k")) {
      if (!(v = optval(argc, argv, &i, NULL, "--top-k"))) return bad_usage("generate", "missing value", a);
      o.top_k = atoi(v);
    } else if (is_opt(a, NULL, "--top-p")) {
      if (!(v = optval(argc, argv, &i, NULL, "--top-p"))) return bad_usage("generate", "missing value", a);
      o.top_p = strtof(v, NULL);
    } else if (is_opt(a, NULL, "--min-p")) {
      if (!(v = optval(argc, argv, &i, NULL, "--min-p"))) return bad_usage("generate", "missing value", a);
      o.min_p = strtof(v, NULL);
    } else if (is_opt(a, NULL, "--repeat-penalty")) {
      if (!(v = optval(argc, argv, &i, NULL, "--repeat-penalty"))) return bad_usage("generate", "missing value", a);
      o.repeat_penalty = strtof(v, NULL);
    } else if (is_opt(a, NULL, "--repeat-last-n")) {
      if (!(v = optval(argc, argv, &i, NULL, "--repeat-last-n"))) return bad_usage("generate", "missing value", a);
      o.repeat_last_n = atoi(v);
    } else if (is_opt(a, "-s", "--seed")) {
      if (!(v = optval(argc, argv, &i, "-s", "--seed"))) return bad_usage("generate", "missing value", a);
      o.seed = strtoull(v, NULL, 10);
    } else if (is_opt(a, "-c", "--ctx")) {
      if (!(v = optval(argc, argv, &i, "-c", "--ctx"))) return bad_usage("generate", "missing value", a);
      n_ctx = (unsigned)strtoul(v, NULL, 10);
    } else if (is_opt(a, NULL, "--stop")) {
      if (!(v = optval(argc, argv, &i, NULL, "--stop"))) return bad_usage("generate", "missing value", a);
      if (n_stop == MAX_STOP) return bad_usage("generate", "too many --stop strings", NULL);
      stops[n_stop++] = v;
    } else if (is_opt(a, "-t", "--threads")) {
      if (!(v = optval(argc, argv, &i, "-t", "--threads"))) return bad_usage("generate", "missing value", a);
      o.n_threads = atoi(v);
    } else if (a[0] == '-' && a[1]) {
      return bad_usage("generate", "unknown option", a);
    } else if (!prompt) {
      prompt = a;
    } else {
      return bad_usage("generate", "more than one prompt", a);
    }
  }
  if (!model) return bad_usage("generate", "--model FILE is required", NULL);
  if (!prompt) return bad_usage("generate", "a prompt is required", NULL);
  if (o.n_predict < 0 || o.temperature < 0) return bad_usage("generate", "-n and --temp must not be negative", NULL);
  o.stop = n_stop ? stops : NULL;
  o.on_token = print_token;

  docq_model *m = NULL;
  docq_ctx *c = NULL;
  int rc = docq_model_load(&m, model);
  if (rc < 0) return cli_fail(rc, "load");
  if (!n_ctx) {
    /* the trained length can be huge (32k+); a completion rarely needs it */
    char *d = docq_model_describe(m);
    const char *p = d ? strstr(d, "context:") : NULL;
    n_ctx = p ? (unsigned)strtoul(p + 8, NULL, 10) : 0;
    if (!n_ctx || n_ctx > 4096) n_ctx = 4096;
    docq_free(d);
  }
  if ((rc = docq_ctx_new(&c, m, n_ctx)) < 0) {
    docq_model_free(m);
    return cli_fail(rc, "generate");
  }
  fputs(prompt, stdout);
  rc = docq_generate(c, prompt, &o, NULL);
  fputc('\n', stdout);
  docq_ctx_free(c);
  docq_model_free(m);
  return rc < 0 ? cli_fail(rc, "generate") : 0;
}

/* ---- model info ------------------------------------------------------------------- */

int cmd_model(int argc, char **argv)
{
  if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    puts("usage: docq model info FILE\n"
         "Describe a GGUF model: architecture, sizes, context length, RoPE settings,\n"
         "tokenizer and chat template. Tokenizer-only files are accepted.");
    return 0;
  }
  if (argc != 3 || strcmp(argv[1], "info")) return bad_usage("model", "expected: docq model info FILE", NULL);
  docq_model *m = NULL;
  int rc = docq_model_load(&m, argv[2]);
  if (rc < 0) return cli_fail(rc, "load");
  char *d = docq_model_describe(m);
  if (d) fputs(d, stdout);
  docq_free(d);
  docq_model_free(m);
  return d ? 0 : cli_fail(DOCQ_ENOMEM, "describe");
}

/* ---- tokenize ------------------------------------------------------------------------- */

int cmd_tokenize(int argc, char **argv)
{
  const char *model = NULL, *text = NULL;
  int special = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      puts("usage: docq tokenize --model FILE TEXT [--special]\n"
           "Print the token ids of TEXT, space-separated. Without --special no BOS/EOS is added\n"
           "and special-token text is read as plain text; with it both happen as the file says.\n"
           "FILE may be a tokenizer-only GGUF.");
      return 0;
    } else if (is_opt(a, "-m", "--model")) {
      if (!(model = optval(argc, argv, &i, "-m", "--model"))) return bad_usage("tokenize", "missing value", a);
    } else if (!strcmp(a, "--special")) {
      special = 1;
    } else if (a[0] == '-' && a[1]) {
      return bad_usage("tokenize", "unknown option", a);
    } else if (!text) {
      text = a;
    } else {
      return bad_usage("tokenize", "more than one text", a);
    }
  }
  if (!model || !text) return bad_usage("tokenize", "--model FILE and TEXT are required", NULL);
  docq_model *m = NULL;
  int rc = docq_model_load(&m, model);
  if (rc < 0) return cli_fail(rc, "load");
  long n = docq_tokenize(m, text, strlen(text), special, NULL, 0);
  int32_t *ids = n > 0 ? malloc(sizeof *ids * (size_t)n) : NULL;
  if (n > 0 && ids) n = docq_tokenize(m, text, strlen(text), special, ids, (size_t)n);
  if (n < 0) {
    free(ids);
    docq_model_free(m);
    return cli_fail((int)n, "tokenize");
  }
  for (long i = 0; i < n && ids; i++) printf(i ? " %d" : "%d", ids[i]);
  putchar('\n');
  free(ids);
  docq_model_free(m);
  return 0;
}

/* ---- bench ---------------------------------------------------------------------------- */

typedef struct bench_count { long calls; } bench_count;

static int count_token(const char *s, size_t n, void *payload)
{
  (void)s;
  (void)n;
  ((bench_count *)payload)->calls++;
  return 0;
}

static void mean_sd(const double *x, int n, double *mean, double *sd)
{
  double s = 0, q = 0;
  for (int i = 0; i < n; i++) s += x[i];
  *mean = s / n;
  for (int i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
  *sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

/* A prompt of exactly n tokens including BOS (built from repeated words, then
 * trimmed): prefill cost does not depend on which tokens they are. */
static char *prompt_of(const docq_model *m, int n)
{
  static const char *words = " the quick brown fox jumps over a lazy dog and";
  size_t cap = (size_t)n * 48 + 64, len = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  s[0] = 0;
  long have = docq_tokenize(m, "", 0, 1, NULL, 0);
  while (have < n && len + 64 < cap) {
    len += (size_t)snprintf(s + len, cap - len, "%s", words);
    have = docq_tokenize(m, s, len, 1, NULL, 0);
    if (have < 0) break;
  }
  while (have > n && len > 0) { /* trim back to the exact count */
    s[--len] = 0;
    have = docq_tokenize(m, s, len, 1, NULL, 0);
  }
  return s;
}

int cmd_bench(int argc, char **argv)
{
  const char *model = NULL, *v;
  int pp = 512, tg = 64, threads = 0, reps = 3;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      puts("usage: docq bench --model FILE [-p 512] [-n 64] [-t THREADS] [-r 3]\n"
           "Prompt processing (pp: one prompt of -p tokens) and text generation (tg: -n tokens\n"
           "one at a time after BOS, greedy) speed in tokens/s, mean +- standard deviation over\n"
           "-r repetitions, printed as llama-bench does. -p 0 or -n 0 skips that test.");
      return 0;
    } else if (is_opt(a, "-m", "--model")) {
      if (!(model = optval(argc, argv, &i, "-m", "--model"))) return bad_usage("bench", "missing value", a);
    } else if (is_opt(a, "-p", "--n-prompt")) {
      if (!(v = optval(argc, argv, &i, "-p", "--n-prompt"))) return bad_usage("bench", "missing value", a);
      pp = atoi(v);
    } else if (is_opt(a, "-n", "--n-gen")) {
      if (!(v = optval(argc, argv, &i, "-n", "--n-gen"))) return bad_usage("bench", "missing value", a);
      tg = atoi(v);
    } else if (is_opt(a, "-t", "--threads")) {
      if (!(v = optval(argc, argv, &i, "-t", "--threads"))) return bad_usage("bench", "missing value", a);
      threads = atoi(v);
    } else if (is_opt(a, "-r", "--repetitions")) {
      if (!(v = optval(argc, argv, &i, "-r", "--repetitions"))) return bad_usage("bench", "missing value", a);
      reps = atoi(v);
    } else {
      return bad_usage("bench", "unknown argument", a);
    }
  }
  if (!model) return bad_usage("bench", "--model FILE is required", NULL);
  if (pp < 0 || tg < 0 || reps < 1 || reps > 100) return bad_usage("bench", "bad -p, -n or -r", NULL);
  docq_model *m = NULL;
  docq_ctx *c = NULL;
  int rc = docq_model_load(&m, model);
  if (rc < 0) return cli_fail(rc, "load");
  if ((rc = docq_ctx_new(&c, m, (unsigned)(pp + tg + 16))) < 0) {
    docq_model_free(m);
    return cli_fail(rc, "bench");
  }
  /* model / size / params from the description */
  char arch[64] = "?", params[64] = "?", size[64] = "?", wtype[64] = "";
  char *d = docq_model_describe(m);
  const char *p;
  if (d && (p = strstr(d, "architecture:"))) sscanf(p + 13, " %63s", arch);
  if (d && (p = strstr(d, "parameters:"))) sscanf(p + 11, " %63[^ ] (%63[^)])", params, size);
  if (d && (p = strstr(d, "weight types:"))) sscanf(p + 13, " %63[^ (]", wtype);
  docq_free(d);
  if (threads <= 0) {
    long nc = 0;
    FILE *f = popen("nproc 2>/dev/null", "r");
    if (f) {
      if (fscanf(f, "%ld", &nc) != 1) nc = 0;
      pclose(f);
    }
    threads = nc > 0 ? (int)nc : 1;
  }
  docq_gen_options o;
  docq_gen_options_init(&o, DOCQ_GEN_OPTIONS_VERSION);
  o.temperature = 0.0f;
  o.repeat_penalty = 1.0f;
  o.n_threads = threads;
  char name[160];
  snprintf(name, sizeof name, "%s %s", arch, wtype);
  printf("| %-24s | %12s | %10s | %7s | %8s | %18s |\n", "model", "size", "params", "threads", "test", "t/s");
  printf("| %-24s | %12s | %10s | %7s | %8s | %18s |\n", "------------------------", "-----------:", "---------:",
         "------:", "-------:", "-----------------:");
  double ts[100];
  if (pp > 0) {
    char *prompt = prompt_of(m, pp);
    long n = prompt ? docq_tokenize(m, prompt, strlen(prompt), 1, NULL, 0) : -1;
    o.n_predict = 0;
    docq_generate(c, prompt ? prompt : "", &o, NULL); /* warm-up */
    for (int r = 0; r < reps && n > 0; r++) {
      double t0 = now_s();
      if ((rc = docq_generate(c, prompt, &o, NULL)) < 0) break;
      ts[r] = (double)n / (now_s() - t0);
    }
    free(prompt);
    if (rc < 0 || n <= 0) goto fail;
    double mu, sd;
    mean_sd(ts, reps, &mu, &sd);
    char test[32];
    snprintf(test, sizeof test, "pp%ld", n);
    printf("| %-24s | %12s | %10s | %7d | %8s | %9.2f ± %6.2f |\n", name, size, params, threads, test, mu, sd);
  }
  if (tg > 0) {
    /* tokens counted by the callback: with greedy decoding of plain text each
     * token that completes characters is one call; an early end of
     * generation shortens the run and is accounted for */
    bench_count cnt;
    o.n_predict = tg;
    o.on_token = count_token;
    o.payload = &cnt;
    for (int r = 0; r < reps; r++) {
      char *out = NULL;
      cnt.calls = 0;
      o.n_predict = 0;
      double t0 = now_s();
      if ((rc = docq_generate(c, "", &o, NULL)) < 0) goto fail;
      double t_prompt = now_s() - t0;
      o.n_predict = tg;
      t0 = now_s();
      if ((rc = docq_generate(c, "", &o, &out)) < 0) goto fail;
      double t = now_s() - t0 - t_prompt;
      long n = out ? docq_tokenize(m, out, strlen(out), 0, NULL, 0) : 0;
      docq_free(out);
      if (n <= 0 || n > tg) n = tg;
      ts[r] = (double)n / (t > 0 ? t : 1e-9);
    }
    double mu, sd;
    mean_sd(ts, reps, &mu, &sd);
    char test[32];
    snprintf(test, sizeof test, "tg%d", tg);
    printf("| %-24s | %12s | %10s | %7d | %8s | %9.2f ± %6.2f |\n", name, size, params, threads, test, mu, sd);
  }
  docq_ctx_free(c);
  docq_model_free(m);
  return 0;
fail:
  docq_ctx_free(c);
  docq_model_free(m);
  return cli_fail(rc < 0 ? rc : DOCQ_ERROR, "bench");
}
