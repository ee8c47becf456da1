/* docq eval ppl / docq eval passkey: language-model evaluations for long
 * context (RoPE scaling), entry point cmd_eval_lm with argv[0] = "ppl" or
 * "passkey". Public API only (<docq.h>).
 *
 * ppl follows llama.cpp's llama-perplexity protocol exactly (rope.md §5.1),
 * so the two numbers are comparable:
 *   - the whole file is read, one trailing '\n' dropped, tokenized once
 *     without parsing special-token text, BOS prepended when the vocabulary
 *     says add_bos;
 *   - split into floor(n_tokens / N) chunks of N = -c tokens (the tail is
 *     dropped; at least 2N tokens are required);
 *   - each chunk is evaluated from position 0 in a fresh cache with its first
 *     token replaced by BOS (when add_bos); only the second half is scored:
 *     the logits at positions k = N/2 .. N-2 score token k+1;
 *   - nll = -(logit[t] - max - log(sum exp(logit - max))) with the max in
 *     float, the sum in double of expf terms; PPL = exp(mean nll) over all
 *     scored tokens, uncertainty PPL * sqrt((mean(nll^2) - mean(nll)^2) / (count-1)).
 * Output: the running value after each chunk "[i]x.xxxx," on one line, then
 * "Final estimate: PPL = x.xxxx +/- y.yyyyy" (llama.cpp's format).
 *
 * passkey builds llama.cpp's examples/passkey prompt (the Landmark-Attention /
 * YaRN eval): an instruction, filler sentences repeated to fill the context,
 * "The pass key is N. Remember it. N is the pass key." inserted before the
 * filler repetition at the given depth, then "What is the pass key? The pass
 * key is"; greedy decoding of a few tokens and the first integer in them is
 * compared with N. Accuracy per depth over --trials keys (fixed seed). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void cmd_eval_lm_usage(FILE *f, int first)
{
  fputs(first ? "usage: " : "       ", f);
  fputs("docq eval ppl --model FILE --text FILE [-c 512] [--chunks N] [-t N] [--json] [context options]\n"
        "       docq eval passkey --model FILE [-c N] [--depths 0,25,50,75,100] [--trials 5] [--seed S]\n"
        "                         [-n 8] [-t N] [--json] [context options]\n"
        "ppl: perplexity with llama-perplexity's protocol (chunks of -c tokens from position 0,\n"
        "     BOS first, second half scored); prints running values and the final PPL +/- error.\n"
        "passkey: a 5-digit-or-less key hidden at each depth (percent of the filler) in a prompt\n"
        "     filling the context; accuracy of greedy retrieval per depth.\n"
        "Context options (as docq generate): -c, --rope-scaling none|linear|yarn|longrope|ntk|dynamic-ntk,\n"
        "  --rope-scale, --rope-freq-base, --rope-freq-scale, --yarn-orig-ctx, --yarn-ext-factor,\n"
        "  --yarn-attn-factor, --yarn-beta-fast, --yarn-beta-slow, -ctk, -ctv, --attn-window, --attn-sinks, -b\n",
        f);
}

static void usage(FILE *f) { cmd_eval_lm_usage(f, 1); }

static int bad(const char *msg, const char *arg)
{
  return arg ? cli_usage("eval", "%s: %s", msg, arg) : cli_usage("eval", "%s", msg);
}

/* "--x V" or "--x=V" */
static const char *val(int argc, char **argv, int *i, const char *name)
{
  const char *s = argv[*i];
  size_t n = strlen(name);
  if (!strcmp(s, name)) return *i + 1 < argc ? argv[++*i] : NULL;
  if (!strncmp(s, name, n) && s[n] == '=') return s + n + 1;
  return NULL;
}

static int is(const char *s, const char *name)
{
  size_t n = strlen(name);
  return !strcmp(s, name) || (!strncmp(s, name, n) && s[n] == '=');
}


/* Tokens of text as llama.cpp's common_tokenize(add_special = true,
 * parse_special = false): BOS when the vocabulary adds it, text parsed as
 * plain text. *out: malloc'd. Returns the count or a negative code. */
static long tokenize_plain(const docq_model *m, const docq_model_meta *meta, const char *text, size_t len,
                           int32_t **out)
{
  *out = NULL;
  long n = docq_tokenize(m, text, len, 0, NULL, 0);
  if (n < 0) return n;
  int bos = meta->add_bos && meta->bos >= 0;
  int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
  if (!ids) return DOCQ_ENOMEM;
  if (bos) ids[0] = meta->bos;
  long k = docq_tokenize(m, text, len, 0, ids + bos, (size_t)n);
  if (k < 0) {
    free(ids);
    return k;
  }
  *out = ids;
  return k + bos;
}

/* ---- ppl ----------------------------------------------------------------------------- */

typedef struct ppl_progress {
  int json;
  double t0;
  double *running;
} ppl_progress;

static int on_chunk(int chunk, double running, void *payload)
{
  ppl_progress *p = payload;
  p->running[chunk] = running;
  if (!p->json) {
    if (chunk == 0) fprintf(stderr, "docq eval ppl: %.2f s per chunk\n", cli_now() - p->t0);
    printf("[%d]%.4f,", chunk + 1, running);
    fflush(stdout);
  }
  return 0;
}

static int eval_ppl(int argc, char **argv)
{
  const char *model = NULL, *text = NULL, *v;
  int max_chunks = -1, json = g_cli.json, r;
  docq_ctx_options co;
  docq_ctx_options_init(&co, DOCQ_CTX_OPTIONS_VERSION);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (is(a, "-m") || is(a, "--model")) {
      if (!(model = val(argc, argv, &i, a[1] == 'm' ? "-m" : "--model"))) return bad("missing value", a);
    } else if (is(a, "-f") || is(a, "--text")) {
      if (!(text = val(argc, argv, &i, a[1] == 'f' ? "-f" : "--text"))) return bad("missing value", a);
    } else if (is(a, "--chunks")) {
      if (!(v = val(argc, argv, &i, "--chunks"))) return bad("missing value", a);
      if (cli_int_arg("eval ppl", a, v, 0, 1 << 30, &max_chunks)) return EXIT_USAGE;
    } else if (is(a, "-t") || is(a, "--threads")) {
      if (!(v = val(argc, argv, &i, a[1] == 't' ? "-t" : "--threads"))) return bad("missing value", a);
      if (cli_int_arg("eval", a, v, 0, 1024, &co.n_threads)) return EXIT_USAGE;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if ((r = cli_ctx_opt(argc, argv, &i, &co, "eval ppl")) != 0) {
      if (r < 0) return EXIT_USAGE;
    } else {
      return bad("unknown argument", a);
    }
  }
  if (!model || !text) return bad("ppl needs --model FILE and --text FILE", NULL);
  if (cli_ctx_check(&co, "eval ppl")) return EXIT_USAGE;
  if (!co.n_ctx) co.n_ctx = 512; /* llama-perplexity's default */
  const int N = (int)co.n_ctx;
  if (N < 8) return bad("-c must be at least 8", NULL);

  int rc = 0, code = 0;
  docq_model *m = NULL;
  docq_ctx *c = NULL;
  int32_t *toks = NULL;
  char *src = NULL, *desc = NULL;
  size_t len = 0;
  docq_model_meta meta;
  if (!(src = cli_read_file(text, &len))) {
    code = cli_error(errno == ENOENT ? DOCQ_ENOTFOUND : DOCQ_EIO, "eval ppl", "cannot read %s: %s", text, strerror(errno));
    goto done;
  }
  if (len && src[len - 1] == '\n') src[--len] = 0;
  cli_on_sigbus(model);
  if ((rc = docq_model_load(&m, model)) < 0) goto fail;
  docq_model_get_meta(m, &meta);
  long n_tok = tokenize_plain(m, &meta, src, len, &toks);
  if (n_tok < 0) {
    rc = (int)n_tok;
    goto fail;
  }
  if (n_tok < 2L * N) {
    code = cli_error(DOCQ_EINVAL, "eval ppl", "%ld tokens; at least 2*%d are needed for a context of %d", n_tok, N, N);
    goto done;
  }
  if ((rc = docq_ctx_new_ext(&c, m, &co)) < 0) { code = cli_ctx_fail(rc, "eval ppl", m, &co); goto done; }
  desc = docq_ctx_describe(c);
  int n_chunk = (int)(n_tok / N);
  if (max_chunks > 0 && max_chunks < n_chunk) n_chunk = max_chunks;
  if (!json)
    fprintf(stderr, "docq eval ppl: %ld tokens, %d chunks of %d, %s\n", n_tok, n_chunk, N, desc ? desc : "");
  ppl_progress pr = {json, cli_now(), NULL};
  if (!(pr.running = malloc((size_t)n_chunk * sizeof *pr.running))) {
    rc = DOCQ_ENOMEM;
    goto fail;
  }
  docq_ppl res;
  rc = docq_perplexity(c, toks, (size_t)n_tok, n_chunk, on_chunk, &pr, &res);
  if (rc < 0) {
    free(pr.running);
    goto fail;
  }
  if (json) {
    printf("{\"model\":");
    cli_json_str(stdout, model);
    printf(",\"text\":");
    cli_json_str(stdout, text);
    printf(",\"n_ctx\":%d,\"tokens\":%ld,\"chunks\":%d,\"scored\":%ld,\"settings\":", N, n_tok, res.chunks,
           res.scored);
    cli_json_str(stdout, desc ? desc : "");
    printf(",\"ppl\":%.6f,\"ppl_err\":%.6f,\"mean_nll\":%.8f,\"running\":[", res.ppl, res.err, res.mean_nll);
    for (int ci = 0; ci < res.chunks; ci++) printf("%s%.6f", ci ? "," : "", pr.running[ci]);
    printf("],\"seconds\":%.3f}\n", cli_now() - pr.t0);
  } else {
    printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.err);
  }
  free(pr.running);
  goto done;
fail:
  code = cli_fail(rc, "eval ppl");
done:
  docq_free(desc);
  free(toks);
  free(src);
  docq_ctx_free(c);
  docq_model_free(m);
  return code;
}

/* ---- passkey ------------------------------------------------------------------------- */

static const char *PK_PREFIX = "There is an important info hidden inside a lot of irrelevant text. Find it and "
                               "memorize them. I will quiz you about the important information there.";
static const char *PK_JUNK = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
static const char *PK_SUFFIX = " What is the pass key? The pass key is";

/* The prompt with n_junk filler repetitions and the key before repetition
 * i_pos (i_pos == n_junk: after the last one). malloc'd. */
static char *pk_prompt(int n_junk, int i_pos, int key)
{
  size_t cap = strlen(PK_PREFIX) + strlen(PK_SUFFIX) + (size_t)n_junk * strlen(PK_JUNK) + 128, n = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  n += (size_t)snprintf(s + n, cap - n, "%s", PK_PREFIX);
  for (int i = 0; i <= n_junk; i++) {
    if (i == i_pos) n += (size_t)snprintf(s + n, cap - n, " The pass key is %d. Remember it. %d is the pass key.", key, key);
    if (i < n_junk) n += (size_t)snprintf(s + n, cap - n, "%s", PK_JUNK);
  }
  snprintf(s + n, cap - n, "%s", PK_SUFFIX);
  return s;
}

static uint64_t rng_next(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static int eval_passkey(int argc, char **argv)
{
  const char *model = NULL, *v, *depths_s = "0,25,50,75,100";
  int trials = 5, n_gen = 8, json = g_cli.json, r;
  uint64_t seed = 1234;
  docq_ctx_options co;
  docq_ctx_options_init(&co, DOCQ_CTX_OPTIONS_VERSION);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (is(a, "-m") || is(a, "--model")) {
      if (!(model = val(argc, argv, &i, a[1] == 'm' ? "-m" : "--model"))) return bad("missing value", a);
    } else if (is(a, "--depths")) {
      if (!(depths_s = val(argc, argv, &i, "--depths"))) return bad("missing value", a);
    } else if (is(a, "--trials")) {
      if (!(v = val(argc, argv, &i, "--trials"))) return bad("missing value", a);
      if (cli_int_arg("eval passkey", a, v, 1, 1 << 20, &trials)) return EXIT_USAGE;
    } else if (is(a, "--seed")) {
      if (!(v = val(argc, argv, &i, "--seed"))) return bad("missing value", a);
      if (cli_seed_arg("eval passkey", a, v, &seed)) return EXIT_USAGE;
    } else if (is(a, "-n") || is(a, "--n-predict")) {
      if (!(v = val(argc, argv, &i, a[1] == 'n' ? "-n" : "--n-predict"))) return bad("missing value", a);
      if (cli_int_arg("eval passkey", a, v, 1, 1 << 16, &n_gen)) return EXIT_USAGE;
    } else if (is(a, "-t") || is(a, "--threads")) {
      if (!(v = val(argc, argv, &i, a[1] == 't' ? "-t" : "--threads"))) return bad("missing value", a);
      if (cli_int_arg("eval", a, v, 0, 1024, &co.n_threads)) return EXIT_USAGE;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if ((r = cli_ctx_opt(argc, argv, &i, &co, "eval passkey")) != 0) {
      if (r < 0) return EXIT_USAGE;
    } else {
      return bad("unknown argument", a);
    }
  }
  if (!model) return bad("passkey needs --model FILE", NULL);
  if (cli_ctx_check(&co, "eval passkey")) return EXIT_USAGE;
  if (trials < 1 || trials > 1000 || n_gen < 1 || n_gen > 64) return bad("bad --trials or -n", NULL);
  int depths[64], n_depths = 0;
  for (const char *p = depths_s; *p && n_depths < 64;) {
    char *end;
    long d = strtol(p, &end, 10);
    if (end == p || d < 0 || d > 100) return bad("--depths: percentages 0..100, comma-separated", depths_s);
    depths[n_depths++] = (int)d;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return bad("--depths: percentages 0..100, comma-separated", depths_s);
  }
  if (!n_depths) return bad("--depths is empty", NULL);

  int rc = 0, code = 0;
  docq_model *m = NULL;
  docq_ctx *c = NULL;
  int32_t *toks = NULL;
  char *desc = NULL;
  docq_model_meta meta;
  cli_on_sigbus(model);
  if ((rc = docq_model_load(&m, model)) < 0) goto fail;
  docq_model_get_meta(m, &meta);
  if (!co.n_ctx) co.n_ctx = (unsigned)meta.n_ctx_train;
  if ((rc = docq_ctx_new_ext(&c, m, &co)) < 0) { code = cli_ctx_fail(rc, "eval passkey", m, &co); goto done; }
  desc = docq_ctx_describe(c);
  const int N = (int)co.n_ctx;
  /* the most filler that leaves room for the answer: grow while it fits */
  int n_junk = 0;
  {
    long per = docq_tokenize(m, PK_JUNK, strlen(PK_JUNK), 0, NULL, 0);
    if (per <= 0) per = 20;
    n_junk = (int)((N - n_gen) / per);
    for (;;) {
      char *p = pk_prompt(n_junk, n_junk / 2, 50000);
      long n = p ? docq_tokenize(m, p, strlen(p), 1, NULL, 0) : -1;
      free(p);
      if (n < 0) {
        rc = (int)n;
        goto fail;
      }
      if (n + n_gen <= N || n_junk == 0) break;
      n_junk--;
    }
  }
  if (!json)
    fprintf(stderr, "docq eval passkey: context %d, %d filler repetitions, %d trials per depth, %s\n", N, n_junk,
            trials, desc ? desc : "");
  if (!json) printf("| depth %% | key token position | accuracy |\n|--------:|-------------------:|---------:|\n");
  else printf("{\"n_ctx\":%d,\"n_junk\":%d,\"trials\":%d,\"depths\":[", N, n_junk, trials);
  uint64_t st = seed ? seed : 1;
  int total_ok = 0;
  for (int di = 0; di < n_depths; di++) {
    int i_pos = (int)lround(depths[di] / 100.0 * n_junk), ok = 0;
    long key_pos = 0;
    for (int t = 0; t < trials; t++) {
      int key = (int)(rng_next(&st) % 50000) + 1;
      char *p = pk_prompt(n_junk, i_pos, key);
      if (!p) {
        rc = DOCQ_ENOMEM;
        goto fail;
      }
      /* where the key starts, in tokens (for the report) */
      char *at = strstr(p, " The pass key is ");
      key_pos = at ? docq_tokenize(m, p, (size_t)(at - p), 1, NULL, 0) : -1;
      free(toks);
      toks = NULL;
      long n = docq_tokenize(m, p, strlen(p), 1, NULL, 0);
      if (n > 0 && (toks = malloc(((size_t)n + (size_t)n_gen) * sizeof *toks)))
        n = docq_tokenize(m, p, strlen(p), 1, toks, (size_t)n);
      free(p);
      if (n < 0 || !toks) {
        rc = n < 0 ? (int)n : DOCQ_ENOMEM;
        goto fail;
      }
      if ((rc = docq_ctx_eval(c, toks, (size_t)n, 1, NULL)) < 0) goto fail;
      int32_t *gen = toks + n;
      int n_out = 0;
      for (; n_out < n_gen; n_out++) {
        const float *lg = docq_ctx_logits(c);
        int32_t best = 0;
        for (int k = 1; k < meta.n_vocab; k++)
          if (lg[k] > lg[best]) best = k;
        if (best == meta.eos) break;
        gen[n_out] = best;
        if (n_out + 1 < n_gen && (rc = docq_ctx_eval(c, &gen[n_out], 1, 0, NULL)) < 0) goto fail;
      }
      char *out = docq_detokenize(m, gen, (size_t)n_out);
      const char *q = out;
      while (q && *q && (*q < '0' || *q > '9')) q++;
      long got = q && *q ? strtol(q, NULL, 10) : -1;
      ok += got == key;
      docq_free(out);
    }
    total_ok += ok;
    if (!json) printf("| %7d | %18ld | %7.1f%% |\n", depths[di], key_pos, 100.0 * ok / trials);
    else printf("%s{\"depth\":%d,\"key_pos\":%ld,\"accuracy\":%.4f}", di ? "," : "", depths[di], key_pos, (double)ok / trials);
    fflush(stdout);
  }
  if (!json) printf("overall: %.1f%% of %d\n", 100.0 * total_ok / (trials * n_depths), trials * n_depths);
  else printf("],\"accuracy\":%.4f}\n", (double)total_ok / (trials * n_depths));
  goto done;
fail:
  code = cli_fail(rc, "eval passkey");
done:
  docq_free(desc);
  free(toks);
  docq_ctx_free(c);
  docq_model_free(m);
  return code;
}

int cmd_eval_lm(int argc, char **argv)
{
  if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
    usage(argc < 1 ? stderr : stdout);
    return argc < 1 ? EXIT_USAGE : 0;
  }
  if (!strcmp(argv[0], "ppl")) return eval_ppl(argc, argv);
  if (!strcmp(argv[0], "passkey")) return eval_passkey(argc, argv);
  return bad("expected ppl or passkey", argv[0]);
}
