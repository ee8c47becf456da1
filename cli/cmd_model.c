/* The model commands: generate (plain completion, streamed), model info,
 * tokenize and bench (llama-bench style prefill / decode speed).
 * Public API only: everything goes through <docq.h>. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define MAX_STOP 16

/* "-x V" / "--xx V" / "--xx=V": the value or NULL (advances *i). */
static const char *optval(int argc, char **argv, int *i, const char *a, const char *b)
{
  const char *s = argv[*i];
  size_t n;
  if ((a && !strcmp(s, a)) || (b && !strcmp(s, b))) {
    /* "--model --json": the next option is not a value (a file named so:
     * ./--json; a value of that form: --stop=--end) */
    if (*i + 1 >= argc || cli_looks_like_option(argv[*i + 1])) return NULL;
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
  return arg ? cli_usage(cmd, "%s: %s", msg, arg) : cli_usage(cmd, "%s", msg);
}

/* ---- context options (shared with cmd_eval_lm.c) ------------------------------- */

/* the options that shape RoPE (model info takes these), then those of a
 * running context */
#define CTX_ROPE_HELP \
  "  -c, --ctx-size N        context size in tokens\n" \
  "      --rope-scaling T    none|linear|yarn|longrope|ntk|dynamic-ntk (default: as the file says)\n" \
  "      --rope-scale S      context extension factor s (freq_scale = 1/s)\n" \
  "      --rope-freq-base B  RoPE base (manual NTK / Code Llama style)\n" \
  "      --rope-freq-scale F RoPE frequency scale (1/s; wins over --rope-scale)\n" \
  "      --yarn-orig-ctx N   original (training) context length L\n" \
  "      --yarn-ext-factor F YaRN ramp mix (default auto: 1 for yarn; 0 = pure interpolation;\n" \
  "                          with linear too, as in llama.cpp: linear + 1 = yarn)\n" \
  "      --yarn-attn-factor F extra factor on RoPE's cos/sin (default 1), on top of yarn's own\n" \
  "                          (llama.cpp ignores it under yarn)\n" \
  "      --yarn-beta-fast F  YaRN correction beta fast (default 32)\n" \
  "      --yarn-beta-slow F  YaRN correction beta slow (default 1)\n"
#define CTX_RUN_HELP \
  "  -ctk, --cache-type-k T  K cache type: f16 (default), f32, q8_0, q4_0\n" \
  "  -ctv, --cache-type-v T  V cache type: f16 (default), f32, q8_0, q4_0\n" \
  "      --attn-window N     attend only to the N most recent tokens (0: all)\n" \
  "      --attn-sinks N      with --attn-window: the first N tokens stay visible (N at most\n" \
  "                          the window)\n" \
  "      --attn-mode M       with --attn-window: streaming (sinks at true distance, default)\n" \
  "                          or lambda (LM-Infinite: sinks seen at distance N)\n" \
  "  -b, --batch-size N      tokens per evaluation step (default 512)\n"
#define CTX_OPTIONS_HELP CTX_ROPE_HELP CTX_RUN_HELP

/* Parse one decimal number (the whole string: no spaces, no hexadecimal,
 * inf or nan), or fail. */
static int num(const char *v, double lo, double hi, double *out)
{
  char *end;
  if (!v || !*v || strpbrk(v, "xXnN \t\n")) return -1; /* 0x10, inf, nan, " 5" */
  double d = strtod(v, &end);
  if (*end || !(d >= lo && d <= hi)) return -1;
  *out = d;
  return 0;
}

/* Parse one whole number written in decimal digits (an optional sign), or
 * fail: "1e1" and "16.0" are not whole numbers as typed. */
static int whole(const char *v, long lo, long hi, long *out)
{
  if (!v || !*v) return -1;
  const char *p = v + (*v == '-' || *v == '+');
  if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 12) return -1;
  long x = strtol(v, NULL, 10);
  if (x < lo || x > hi) return -1;
  *out = x;
  return 0;
}


/* Option values (see cli.h): "-n abc" must not quietly mean 0. */
int cli_int_arg(const char *cmd, const char *opt, const char *v, long lo, long hi, int *out)
{
  long x;
  if (whole(v, lo, hi, &x) < 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s wants a whole number in %ld..%ld", opt, lo, hi);
    return bad_usage(cmd, msg, v);
  }
  *out = (int)x;
  return 0;
}

int cli_float_arg(const char *cmd, const char *opt, const char *v, double lo, double hi, float *out)
{
  double d;
  if (num(v, lo, hi, &d) < 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s wants a number in %.15g..%.15g", opt, lo, hi);
    return bad_usage(cmd, msg, v);
  }
  *out = (float)d;
  return 0;
}

int cli_seed_arg(const char *cmd, const char *opt, const char *v, uint64_t *out)
{
  char *end;
  errno = 0;
  /* decimal digits only: strtoull would also skip blanks and negate a '-' after them */
  const int digits = v && *v && strspn(v, "0123456789") == strlen(v);
  unsigned long long s = digits ? strtoull(v, &end, 10) : 0;
  if (!digits || *end || errno == ERANGE) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s wants a whole number in 0..18446744073709551615", opt);
    return bad_usage(cmd, msg, v);
  }
  *out = (uint64_t)s;
  return 0;
}

/* Context options with llama.cpp's names. Returns 1 when argv[*i] was one
 * (advancing past its value), 0 when it is not, -1 after printing a usage
 * error. */
int cli_ctx_opt(int argc, char **argv, int *i, docq_ctx_options *o, const char *cmd)
{
  /* kind: which field; whole: a whole number in lo..hi, else any in lo..hi
   * (kinds 1, 10, 11 and 15 are names) */
  static const struct { const char *s, *l; int kind, whole; double lo, hi; } opts[] = {
    {"-c", "--ctx-size", 0, 1, 0, 1 << 22}, {NULL, "--ctx", 0, 1, 0, 1 << 22}, {NULL, "--rope-scaling", 1, 0, 0, 0},
    {NULL, "--rope-scale", 2, 0, 1e-6, 1e6}, {NULL, "--rope-freq-base", 3, 0, 1e-6, 1e12},
    {NULL, "--rope-freq-scale", 4, 0, 1e-6, 1e6}, {NULL, "--yarn-orig-ctx", 5, 1, 0, 1 << 22},
    {NULL, "--yarn-ext-factor", 6, 0, -1, 1e3}, {NULL, "--yarn-attn-factor", 7, 0, -1, 1e3},
    {NULL, "--yarn-beta-fast", 8, 0, -1, 1e6}, {NULL, "--yarn-beta-slow", 9, 0, -1, 1e6},
    {"-ctk", "--cache-type-k", 10, 0, 0, 0}, {"-ctv", "--cache-type-v", 11, 0, 0, 0},
    {NULL, "--attn-window", 12, 1, 0, 1 << 22}, {NULL, "--attn-sinks", 13, 1, 0, 1 << 22},
    {"-b", "--batch-size", 14, 1, 1, 1 << 22}, {NULL, "--attn-mode", 15, 0, 0, 0},
  };
  const char *a = argv[*i];
  for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
    if (!is_opt(a, opts[k].s, opts[k].l)) continue;
    const char *v = optval(argc, argv, i, opts[k].s, opts[k].l);
    if (!v) {
      bad_usage(cmd, "missing value", a);
      return -1;
    }
    double d = 0;
    long x = 0;
    const int kind = opts[k].kind, named = kind == 1 || kind == 10 || kind == 11 || kind == 15;
    if (!named && (opts[k].whole ? whole(v, (long)opts[k].lo, (long)opts[k].hi, &x) : num(v, opts[k].lo, opts[k].hi, &d))) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s wants a %snumber in %.15g..%.15g", a, opts[k].whole ? "whole " : "", opts[k].lo,
               opts[k].hi);
      bad_usage(cmd, msg, v);
      return -1;
    }
    if (opts[k].whole) d = (double)x;
    switch (kind) {
    case 0: o->n_ctx = (unsigned)d; break;
    case 1: {
      static const char *names[] = {"none", "linear", "yarn", "longrope", "ntk", "dynamic-ntk"};
      int t = -1;
      for (int n = 0; n < 6; n++)
        if (!strcmp(v, names[n])) t = n;
      if (!strcmp(v, "dynamic")) t = DOCQ_ROPE_SCALING_DYNAMIC_NTK;
      if (t < 0) {
        bad_usage(cmd, "--rope-scaling must be none, linear, yarn, longrope, ntk or dynamic-ntk", v);
        return -1;
      }
      o->rope_scaling = t;
      break;
    }
    case 2: o->rope_scale = (float)d; break;
    case 3: o->rope_freq_base = (float)d; break;
    case 4: o->rope_freq_scale = (float)d; break;
    case 5: o->yarn_orig_ctx = (unsigned)d; break;
    case 6: o->yarn_ext_factor = (float)d; break;
    case 7: o->yarn_attn_factor = (float)d; break;
    case 8: o->yarn_beta_fast = (float)d; break;
    case 9: o->yarn_beta_slow = (float)d; break;
    case 10:
    case 11: {
      /* the names docq_ctx_new_ext takes: a wrong one is a bad command line, found before the model loads */
      static const char *types[] = {"f16", "f32", "q8_0", "q4_0"};
      int known = 0;
      for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) known |= !strcmp(v, types[t]);
      if (!known) {
        cli_usage(cmd, "unknown %s cache type '%s' (f16, f32, q8_0, q4_0)", kind == 10 ? "K" : "V", v);
        return -1;
      }
      *(kind == 10 ? &o->cache_type_k : &o->cache_type_v) = v;
      break;
    }
    case 12: o->attn_window = (unsigned)d; break;
    case 13: o->attn_sinks = (unsigned)d; break;
    case 14: o->n_batch = (unsigned)d; break;
    case 15:
      if (!strcmp(v, "streaming") || !strcmp(v, "sinks")) o->attn_lambda = 0;
      else if (!strcmp(v, "lambda")) o->attn_lambda = 1;
      else {
        bad_usage(cmd, "--attn-mode must be streaming or lambda", v);
        return -1;
      }
      break;
    }
    return 1;
  }
  return 0;
}

int cli_ctx_check(const docq_ctx_options *o, const char *cmd)
{
  if (o->attn_sinks && !o->attn_window)
    return cli_usage(cmd, "--attn-sinks %u needs --attn-window N (the sinks stay visible beside a window)", o->attn_sinks);
  if (o->attn_sinks > o->attn_window)
    return cli_usage(cmd, "--attn-sinks %u is more than --attn-window %u: at most the window", o->attn_sinks,
                     o->attn_window);
  return 0;
}

/* model info describes the file and the RoPE settings the options give: the
 * options of a running context (cache types, attention window, batch) would
 * change nothing it shows. 1 when argv[i] is one of them. */
static int run_only_ctx_opt(const char *a)
{
  static const char *run[][2] = {{"-ctk", "--cache-type-k"}, {"-ctv", "--cache-type-v"}, {NULL, "--attn-window"},
                                 {NULL, "--attn-sinks"}, {NULL, "--attn-mode"}, {"-b", "--batch-size"}};
  for (size_t k = 0; k < sizeof run / sizeof run[0]; k++)
    if (is_opt(a, run[k][0], run[k][1])) return 1;
  return 0;
}

/* ---- prompt text from a file (-f) -------------------------------------------------- */

/* The text of `path` ("-": standard input) for a prompt, or NULL after an
 * error that names the file: unreadable, or not text (a NUL byte). */
static char *prompt_file(const char *cmd, const char *path)
{
  size_t len = 0;
  char *t = cli_read_file(path, &len);
  if (!t) {
    cli_error(errno == ENOENT ? DOCQ_ENOTFOUND : DOCQ_EIO, cmd, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  const char *nul = memchr(t, 0, len);
  if (nul) {
    cli_error(DOCQ_EINVAL, cmd, "%s is not text (a NUL byte at offset %zu)", path, (size_t)(nul - t));
    free(t);
    return NULL;
  }
  return t;
}

/* ---- a context that does not fit in memory ------------------------------------ */

/* Bytes per cache element of a KV type, relative to f16's 2 (q8_0: blocks of
 * 32 in 34 bytes, q4_0: in 18). */
static double kv_type_factor(const char *t)
{
  if (!t || !strcmp(t, "f16")) return 1.0;
  if (!strcmp(t, "f32")) return 2.0;
  if (!strcmp(t, "q8_0")) return 34.0 / 64.0;
  if (!strcmp(t, "q4_0")) return 18.0 / 64.0;
  return 1.0;
}

int cli_ctx_fail(int rc, const char *cmd, const docq_model *m, const docq_ctx_options *co)
{
  if (rc != DOCQ_ENOMEM) return cli_fail(rc, cmd);
  char why[256];
  snprintf(why, sizeof why, "%s", cli_error_text(NULL));
  /* the KV cache is what grows with the context: docq model info's figure
   * per token (f16), for the cache types asked */
  double kib = 0;
  char *d = docq_model_describe(m);
  const char *kv = d ? strstr(d, "kv cache:") : NULL;
  if (!kv || sscanf(kv + 9, " %lf KiB per token", &kib) != 1) kib = 0;
  docq_free(d);
  const double per_token = kib * 1024.0 / 2.0 * (kv_type_factor(co->cache_type_k) + kv_type_factor(co->cache_type_v));
  const double gib = per_token * co->n_ctx / (1024.0 * 1024.0 * 1024.0);
  char need[96] = "";
  if (per_token > 0)
    snprintf(need, sizeof need, ": its KV cache alone takes about %.1f %s (%.1f KiB a token)",
             gib >= 1 ? gib : gib * 1024.0, gib >= 1 ? "GiB" : "MiB", per_token / 1024.0);
  return cli_error(DOCQ_ENOMEM, cmd, "a context of %u tokens does not fit in memory%s; give a smaller one with -c "
                   "(%s)", co->n_ctx, need, why);
}

/* ---- generate ------------------------------------------------------------------ */

static void generate_usage(FILE *f)
{
  fputs("usage: docq generate --model FILE \"PROMPT\" [options]\n"
        "       docq generate --model FILE -f PROMPT_FILE [options]\n"
        "       docq generate --model FILE --chat [\"MESSAGE\"] [options]\n"
        "Plain completion of PROMPT (BOS added as the model file says), streamed to stdout.\n"
        "On a terminal, reading a prompt over 512 tokens shows its progress on stderr first.\n"
        "With --chat, a conversation in the model's chat template instead: each line of\n"
        "standard input is a user message, answered in turn (or MESSAGE alone, or -f FILE's\n"
        "text as one message). A line holding a NUL byte is refused, as -f refuses such\n"
        "text: the conversation ends there (at a terminal it goes on without that line).\n"
        "Each turn reads only what is new; the oldest turns are dropped when the context\n"
        "is full (-b defaults to 128 then: the unit of what is kept).\n"
        "At a terminal Ctrl-C stops an answer; Ctrl-D ends.\n"
        "  -m, --model FILE        GGUF model (architecture llama, qwen2, qwen3, phi3, smollm3,\n"
        "                          gemma2 or gemma3)\n"
        "  -f, --file FILE         read the prompt from FILE ('-': standard input; one final\n"
        "                          newline dropped)\n"
        "  -n, --n-predict N       new tokens at most (default 128; with --chat, 1024 for a model\n"
        "                          whose template has it reason first, as its thinking counts)\n"
        "      --temp T            temperature; 0 = greedy (default 0.7)\n"
        "      --top-k K           0 = off (default 40)\n"
        "      --top-p P           1 = off (default 0.95)\n"
        "      --min-p P           0 = off (default 0.05)\n"
        "      --repeat-penalty R  1 = off (default 1.0)\n"
        "      --repeat-last-n N   tokens the penalty looks back over (default 64)\n"
        "  -s, --seed S            sampling seed (default 0 = fixed seed 42)\n"
        "      --stop STR          stop before STR (valid UTF-8; repeatable, up to 16)\n"
        "      --special           read special-token text in the prompt (<|im_start|>, </s>...) as\n"
        "                          those tokens, as llama.cpp does; default: as plain text (--chat\n"
        "                          always reads its template's markers as tokens)\n"
        "  -t, --threads N         threads (default: all cores)\n"
        "  -v, --verbose           print the effective context settings to stderr\n"
        "      --json              no streaming: one object at the end (prompt, text, prompt_tokens,\n"
        "                          generated_tokens, stop: eos|stop|length|context|interrupted,\n"
        "                          seconds, prompt_seconds: reading the prompt, interrupted);\n"
        "                          with --chat one object per turn (user, text, reasoning when\n"
        "                          there is some, prompt_tokens, reused_tokens, generated_tokens,\n"
        "                          stop, prompt_seconds, seconds, dropped_messages)\n"
        "      --chat              converse in the model's chat template (see above)\n"
        "      --system TEXT       with --chat: the system message\n"
        "      --chat-template NAME  with --chat: the template when the file's is missing or not\n"
        "                          recognized (the names docq ask --help lists)\n"
        "      --show-thinking     with --chat: a reasoning model's thinking on stderr as it is\n"
        "                          written (otherwise a terminal shows how long it has been\n"
        "                          thinking); it is never part of the answer\n"
        "  -h, --help              this help\n"
        "Context (default: the model's trained length, at most 4096; RoPE as the file says):\n"
        CTX_OPTIONS_HELP
        "Exit codes: 0 ok, 1 failed (e.g. a bad model file), 2 usage, 130 interrupted (Ctrl-C).\n",
        f);
}

static int print_token(const char *s, size_t n, void *payload)
{
  (void)payload;
  fwrite(s, 1, n, stdout);
  fflush(stdout);
  return 0;
}

static void print_generate_json(const char *prompt, const cli_text *t, const docq_gen_info *g, double seconds,
                                double prompt_seconds, int interrupted)
{
  printf("{\"prompt\":");
  cli_json_str(stdout, prompt);
  printf(",\"text\":");
  cli_json_str(stdout, t->buf ? t->buf : "");
  printf(",\"prompt_tokens\":%zu,\"generated_tokens\":%zu,\"stop\":\"%s\",\"seconds\":%.6f,\"prompt_seconds\":%.6f,"
         "\"interrupted\":%s}\n", g->prompt_tokens, g->generated_tokens, cli_stop_name(g->stop), seconds, prompt_seconds,
         interrupted ? "true" : "false");
}

/* generate's and chat's context when -c is not given: the trained length,
 * at most 4096 (it can be 32k+; a completion rarely needs it). model info's
 * "effective" line describes the same. */
static unsigned default_n_ctx(const docq_model_meta *meta)
{
  return meta->n_ctx_train > 0 && meta->n_ctx_train < 4096 ? (unsigned)meta->n_ctx_train : 4096;
}

/* A context longer than the model was trained on, with the file's RoPE left
 * as it is, reads positions the model never saw: say so, with the
 * extension that would cover it (llama.cpp warns too; docq ask extends by
 * itself). */
static void warn_past_training(const docq_model *m, const docq_ctx_options *co)
{
  docq_model_meta meta;
  docq_model_get_meta(m, &meta);
  const int overridden = co->rope_scaling != DOCQ_ROPE_SCALING_FILE || co->rope_scale > 0 ||
                         co->rope_freq_scale > 0 || co->rope_freq_base > 0;
  if (overridden || meta.n_ctx_train <= 0 || co->n_ctx <= (unsigned)meta.n_ctx_train) return;
  const unsigned orig = meta.n_ctx_orig > 0 ? (unsigned)meta.n_ctx_orig : (unsigned)meta.n_ctx_train;
  fprintf(stderr, "docq generate: note: -c %u is longer than the model was trained on (%d tokens): past that its "
          "text degrades; --rope-scaling yarn --rope-scale %u stretches it to %u\n", co->n_ctx, meta.n_ctx_train,
          (co->n_ctx + orig - 1) / orig, (co->n_ctx + orig - 1) / orig * orig);
}

int cmd_generate(int argc, char **argv)
{
  const char *model = NULL, *prompt = NULL, *prompt_path = NULL, *v;
  const char *stops[MAX_STOP + 1] = {0};
  int n_stop = 0, verbose = 0, r, chat = 0, n_given = 0;
  cli_chat_args ca = {0};
  docq_ctx_options co;
  docq_ctx_options_init(&co, DOCQ_CTX_OPTIONS_VERSION);
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
    } else if (is_opt(a, "-f", "--file")) {
      if (!(prompt_path = optval(argc, argv, &i, "-f", "--file"))) return bad_usage("generate", "missing value", a);
    } else if (is_opt(a, "-n", "--n-predict")) {
      if (!(v = optval(argc, argv, &i, "-n", "--n-predict"))) return bad_usage("generate", "missing value", a);
      if (cli_int_arg("generate", a, v, 0, 1 << 24, &o.n_predict)) return EXIT_USAGE;
      n_given = 1;
    } else if (is_opt(a, NULL, "--temp")) {
      if (!(v = optval(argc, argv, &i, NULL, "--temp"))) return bad_usage("generate", "missing value", a);
      if (cli_float_arg("generate", a, v, 0, 100, &o.temperature)) return EXIT_USAGE;
    } else if (is_opt(a, NULL, "--top-k")) {
      if (!(v = optval(argc, argv, &i, NULL, "--top-k"))) return bad_usage("generate", "missing value", a);
      if (cli_int_arg("generate", a, v, 0, 1 << 24, &o.top_k)) return EXIT_USAGE;
    } else if (is_opt(a, NULL, "--top-p")) {
      if (!(v = optval(argc, argv, &i, NULL, "--top-p"))) return bad_usage("generate", "missing value", a);
      if (cli_float_arg("generate", a, v, 0, 1, &o.top_p)) return EXIT_USAGE;
    } else if (is_opt(a, NULL, "--min-p")) {
      if (!(v = optval(argc, argv, &i, NULL, "--min-p"))) return bad_usage("generate", "missing value", a);
      if (cli_float_arg("generate", a, v, 0, 1, &o.min_p)) return EXIT_USAGE;
    } else if (is_opt(a, NULL, "--repeat-penalty")) {
      if (!(v = optval(argc, argv, &i, NULL, "--repeat-penalty"))) return bad_usage("generate", "missing value", a);
      if (cli_float_arg("generate", a, v, 0, 100, &o.repeat_penalty)) return EXIT_USAGE;
    } else if (is_opt(a, NULL, "--repeat-last-n")) {
      if (!(v = optval(argc, argv, &i, NULL, "--repeat-last-n"))) return bad_usage("generate", "missing value", a);
      if (cli_int_arg("generate", a, v, 0, 1 << 24, &o.repeat_last_n)) return EXIT_USAGE;
    } else if (is_opt(a, "-s", "--seed")) {
      if (!(v = optval(argc, argv, &i, "-s", "--seed"))) return bad_usage("generate", "missing value", a);
      if (cli_seed_arg("generate", a, v, &o.seed)) return EXIT_USAGE;
    } else if ((r = cli_ctx_opt(argc, argv, &i, &co, "generate")) != 0) {
      if (r < 0) return EXIT_USAGE;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      verbose = 1;
    } else if (!strcmp(a, "--json")) {
      g_cli.json = 1;
    } else if (!strcmp(a, "--chat")) {
      chat = 1;
    } else if (!strcmp(a, "--special")) {
      o.parse_special = 1;
    } else if (!strcmp(a, "--show-thinking")) {
      ca.show_thinking = 1;
    } else if (is_opt(a, NULL, "--system")) {
      if (!(ca.system = optval(argc, argv, &i, NULL, "--system"))) return bad_usage("generate", "missing value", a);
    } else if (is_opt(a, NULL, "--chat-template")) {
      if (!(ca.template_name = optval(argc, argv, &i, NULL, "--chat-template")))
        return bad_usage("generate", "missing value", a);
    } else if (is_opt(a, NULL, "--stop")) {
      if (!(v = optval(argc, argv, &i, NULL, "--stop"))) return bad_usage("generate", "missing value", a);
      if (n_stop == MAX_STOP) return bad_usage("generate", "too many --stop strings", NULL);
      stops[n_stop++] = v;
    } else if (is_opt(a, "-t", "--threads")) {
      if (!(v = optval(argc, argv, &i, "-t", "--threads"))) return bad_usage("generate", "missing value", a);
      if (cli_int_arg("generate", a, v, 0, 1024, &o.n_threads)) return EXIT_USAGE;
    } else if (!strcmp(a, "--") && i + 1 < argc && !prompt) {
      prompt = argv[++i]; /* a prompt that starts with '-' */
    } else if (a[0] == '-' && a[1]) {
      return bad_usage("generate", "unknown option", a);
    } else if (!prompt) {
      prompt = a;
    } else {
      return bad_usage("generate", "more than one prompt", a);
    }
  }
  if (!model) return bad_usage("generate", "--model FILE is required", NULL);
  if (cli_ctx_check(&co, "generate")) return EXIT_USAGE;
  if (prompt && prompt_path) return bad_usage("generate", "give the prompt as text or as -f FILE, not both", NULL);
  if (!prompt && !prompt_path && !chat) return bad_usage("generate", "a prompt is required (text, or -f FILE)", NULL);
  if (!chat && (ca.system || ca.template_name || ca.show_thinking))
    return bad_usage("generate", "--system, --chat-template and --show-thinking go with --chat", NULL);
  if (o.n_predict < 0 || o.temperature < 0) return bad_usage("generate", "-n and --temp must not be negative", NULL);
  o.stop = n_stop ? stops : NULL;
  if (docq_gen_options_check(&o) < 0) return bad_usage("generate", docq_error_last()->message, NULL); /* --stop */
  cli_text kept = {0}; /* --json: printed whole at the end, also after Ctrl-C */
  o.on_token = g_cli.json ? cli_keep_text : print_token;
  o.payload = g_cli.json ? &kept : NULL;

  char *prompt_text = NULL; /* -f */
  if (prompt_path) {
    if (!(prompt = prompt_text = prompt_file("generate", prompt_path))) return EXIT_FAIL;
    size_t n = strlen(prompt_text); /* an editor's final newline is not part of the prompt (as llama.cpp -f) */
    if (n && prompt_text[n - 1] == '\n') prompt_text[--n] = 0;
  }
  docq_model *m = NULL;
  docq_ctx *c = NULL;
  cli_on_sigbus(model);
  int rc = docq_model_load(&m, model);
  if (rc < 0) {
    free(prompt_text);
    return cli_fail(rc, "load");
  }
  if (!co.n_ctx) {
    docq_model_meta meta;
    docq_model_get_meta(m, &meta);
    co.n_ctx = default_n_ctx(&meta);
  }
  co.n_threads = o.n_threads;
  /* a conversation keeps the whole batches it read (prompt reuse): smaller
   * ones keep more of short turns, at a small cost to prefill (bench_reuse
   * --chat chatml --turns 6 --user 60: 19.0 s with 128, 27.3 s with 512;
   * a whole prompt reads ~7% slower in batches of 128) */
  if (chat && !co.n_batch) co.n_batch = 128;
  if ((rc = docq_ctx_new_ext(&c, m, &co)) < 0) {
    int code = cli_ctx_fail(rc, "generate", m, &co);
    docq_model_free(m);
    free(prompt_text);
    return code;
  }
  if (verbose) {
    char *d = docq_ctx_describe(c);
    if (d) fprintf(stderr, "docq generate: %s\n", d);
    docq_free(d);
  }
  warn_past_training(m, &co);
  if (chat) {
    /* a reasoning model's thinking counts against -n: 128 would end inside it */
    if (!n_given && docq_chat_template_thinks(ca.template_name ? ca.template_name : docq_model_chat_template(m)))
      o.n_predict = 1024;
    ca.first = prompt;
    ca.n_ctx = co.n_ctx;
    int code = cli_chat(c, m, &o, &ca);
    docq_ctx_free(c);
    docq_model_free(m);
    free(prompt_text);
    return code;
  }
  cli_on_sigint_ctx(c);
  /* the prompt is echoed once it is read, below the progress line */
  cli_prompt_ui pui = {.tty = cli_tty(), .echo = g_cli.json ? NULL : prompt};
  docq_ctx_set_prompt_progress(c, cli_prompt_progress, &pui);
  double t0 = cli_now();
  rc = docq_generate(c, prompt, &o, NULL);
  double seconds = cli_now() - t0;
  cli_prompt_clear(&pui);
  cli_on_sigint_ctx(NULL);
  docq_gen_info g;
  docq_ctx_last_generation(c, &g);
  double prompt_s = 0;
  docq_ctx_last_timings(c, &prompt_s, NULL);
  docq_ctx_free(c);
  docq_model_free(m);
  const int interrupted = rc == DOCQ_ECANCELED && cli_interrupted();
  if (kept.oom) rc = DOCQ_ENOMEM;
  if (!g_cli.json && !pui.echo) fputc('\n', stdout); /* ends the text begun by the prompt's echo; a failure before it wrote nothing */
  else if (g_cli.json && (rc >= 0 || interrupted))
    /* a prompt not read whole (Ctrl-C) took all the time: docq_ctx_last_timings says 0 then */
    print_generate_json(prompt, &kept, &g, seconds, prompt_s > 0 ? prompt_s : seconds, interrupted);
  free(kept.buf);
  free(prompt_text);
  if (rc >= 0 && g.stop == DOCQ_STOP_CONTEXT && !g_cli.json && !g_cli.quiet) { /* the text was cut short */
    fflush(stdout);
    fprintf(stderr, "docq generate: stopped after %zu tokens: the context (%u tokens) is full; -c N gives a longer one\n",
            g.generated_tokens, co.n_ctx);
  }
  if (interrupted) {
    fprintf(stderr, "docq generate: interrupted\n");
    return EXIT_INTERRUPTED;
  }
  return rc < 0 ? cli_fail(rc, "generate") : 0;
}

/* ---- model info ------------------------------------------------------------------- */

/* The description's "key:   value" lines as string members (key spaces ->
 * underscores), beside the numbers a script needs typed. */
static void print_model_json(const char *file, const char *desc, const docq_model_meta *meta, const char *rope,
                             unsigned n_ctx, const char *run_error, const char *chat_template)
{
  printf("{\"file\":");
  cli_json_str(stdout, file);
  printf(",\"chat_template\":"); /* the name --chat-template takes; info says more */
  cli_json_str(stdout, chat_template);
  printf(",\"run_error\":");
  if (run_error) cli_json_str(stdout, run_error);
  else printf("null");
  printf(",\"has_weights\":%s,\"n_vocab\":%d,\"n_ctx_train\":%d,\"n_ctx_orig\":%d,\"bos\":%d,\"eos\":%d,"
         "\"add_bos\":%s,\"info\":{",
         meta->has_weights ? "true" : "false", meta->n_vocab, meta->n_ctx_train, meta->n_ctx_orig, (int)meta->bos,
         (int)meta->eos, meta->add_bos ? "true" : "false");
  int first = 1;
  for (const char *line = desc; line && *line;) {
    const char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line), *colon = memchr(line, ':', (size_t)(end - line));
    if (colon && colon > line) {
      char key[64], val[1024];
      size_t kn = (size_t)(colon - line) < sizeof key - 1 ? (size_t)(colon - line) : sizeof key - 1;
      for (size_t k = 0; k < kn; k++) key[k] = line[k] == ' ' ? '_' : line[k];
      key[kn] = 0;
      const char *v = colon + 1;
      while (v < end && *v == ' ') v++;
      size_t vn = (size_t)(end - v) < sizeof val - 1 ? (size_t)(end - v) : sizeof val - 1;
      memcpy(val, v, vn);
      while (vn && val[vn - 1] == ' ') vn--;
      val[vn] = 0;
      printf("%s", first ? "" : ",");
      cli_json_str(stdout, key);
      putchar(':');
      cli_json_str(stdout, val);
      first = 0;
    }
    line = nl ? nl + 1 : end;
  }
  printf("}");
  if (rope) {
    char eff[1200];
    snprintf(eff, sizeof eff, "context %u, rope %s", n_ctx, rope);
    printf(",\"effective\":");
    cli_json_str(stdout, eff);
  }
  printf("}\n");
}

int cmd_model(int argc, char **argv)
{
  int help = 0;
  for (int i = 1; i < argc && i <= 2; i++) help |= !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help");
  if (help) { /* docq model --help, docq model info --help */
    fputs("usage: docq model info FILE [context options] [--json]\n"
          "Describe a GGUF model: architecture, sizes, context length, RoPE settings,\n"
          "tokenizer and chat template. Tokenizer-only files are accepted, and so are files\n"
          "whose weights docq cannot run (e.g. an IQ3_S quantization): the description says why.\n"
          "The last line, effective, is what generate runs with these context options (default\n"
          "-c: the trained length, at most 4096), RoPE overrides applied.\n"
          "  --json                  one object: file, run_error (why it cannot generate, or null),\n"
          "                          has_weights, n_vocab, n_ctx_train, n_ctx_orig, bos, eos, add_bos,\n"
          "                          info (the lines above as strings), effective\n"
          CTX_ROPE_HELP
          "Exit codes: 0 ok, 1 failed (e.g. a bad model file), 2 usage.\n",
          stdout);
    return 0;
  }
  if (argc >= 3 && !strcmp(argv[1], "--json")) { /* docq model --json info FILE */
    g_cli.json = 1;
    argv++;
    argc--;
  }
  if (argc < 3 || strcmp(argv[1], "info")) return bad_usage("model", "expected: docq model info FILE", NULL);
  docq_ctx_options co;
  docq_ctx_options_init(&co, DOCQ_CTX_OPTIONS_VERSION);
  const char *file = NULL;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) {
      g_cli.json = 1;
      continue;
    }
    if (!file && argv[i][0] != '-') {
      file = argv[i];
      continue;
    }
    if (run_only_ctx_opt(argv[i]))
      return bad_usage("model", "model info takes the context size and RoPE options; this one is for generate, "
                       "bench and eval", argv[i]);
    int r = cli_ctx_opt(argc, argv, &i, &co, "model");
    if (r < 0) return EXIT_USAGE;
    if (r == 0) return bad_usage("model", "unknown argument", argv[i]);
  }
  if (!file) return bad_usage("model", "expected: docq model info FILE", NULL);
  docq_model *m = NULL;
  int rc = docq_model_load_info(&m, file);
  if (rc < 0) return cli_fail(rc, "load");
  char *d = docq_model_describe(m);
  int ok = d != NULL;
  docq_model_meta meta;
  docq_model_get_meta(m, &meta);
  char *e = NULL;
  if (!co.n_ctx) co.n_ctx = default_n_ctx(&meta); /* as generate runs it (LongRoPE picks its factors by it) */
  if (ok && meta.has_weights) { /* tokenizer-only files have no RoPE */
    e = docq_model_rope_describe(m, &co);
    if (!e) ok = -1;
  }
  const unsigned n_ctx = co.n_ctx;
  if (ok > 0 && g_cli.json) print_model_json(file, d, &meta, e, n_ctx, docq_model_run_error(m), docq_model_chat_template(m));
  else if (ok > 0) {
    cli_put_text(stdout, d); /* the file's name, architecture, template... as the file spells them */
    if (e) printf("effective:     context %u, rope %s\n", n_ctx, e);
  }
  docq_free(e);
  docq_free(d);
  docq_model_free(m);
  if (ok < 0) return cli_fail(DOCQ_EINVAL, "model info");
  return ok ? 0 : cli_fail(DOCQ_ENOMEM, "describe");
}

/* ---- tokenize ------------------------------------------------------------------------- */

int cmd_tokenize(int argc, char **argv)
{
  const char *model = NULL, *text = NULL, *text_path = NULL;
  int special = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      puts("usage: docq tokenize --model FILE TEXT [--special] [--json]\n"
           "       docq tokenize --model FILE -f TEXT_FILE ('-': standard input) [--special] [--json]\n"
           "Print the token ids of TEXT, space-separated. Without --special no BOS/EOS is added\n"
           "and special-token text is read as plain text; with it both happen as the file says.\n"
           "FILE may be a tokenizer-only GGUF, or a model whose weights docq cannot run.\n"
           "--json: {\"n_tokens\", \"ids\", \"pieces\"}, pieces\n"
           "being each token's text (U+FFFD where a token is part of a UTF-8 character).\n"
           "Exit codes: 0 ok, 1 failed (e.g. a bad model file), 2 usage.");
      return 0;
    } else if (is_opt(a, "-m", "--model")) {
      if (!(model = optval(argc, argv, &i, "-m", "--model"))) return bad_usage("tokenize", "missing value", a);
    } else if (is_opt(a, "-f", "--file")) {
      if (!(text_path = optval(argc, argv, &i, "-f", "--file"))) return bad_usage("tokenize", "missing value", a);
    } else if (!strcmp(a, "--special")) {
      special = 1;
    } else if (!strcmp(a, "--json")) {
      g_cli.json = 1;
    } else if (a[0] == '-' && a[1]) {
      return bad_usage("tokenize", "unknown option", a);
    } else if (!text) {
      text = a;
    } else {
      return bad_usage("tokenize", "more than one text", a);
    }
  }
  if (!model || (!text && !text_path)) return bad_usage("tokenize", "--model FILE and TEXT (or -f FILE) are required", NULL);
  if (text && text_path) return bad_usage("tokenize", "give the text as an argument or as -f FILE, not both", NULL);
  char *file_text = NULL;
  if (text_path && !(text = file_text = prompt_file("tokenize", text_path))) return EXIT_FAIL;
  docq_model *m = NULL;
  int rc = docq_model_load_info(&m, model);
  if (rc < 0) {
    free(file_text);
    return cli_fail(rc, "load");
  }
  long n = docq_tokenize(m, text, strlen(text), special, NULL, 0);
  int32_t *ids = n > 0 ? malloc(sizeof *ids * (size_t)n) : NULL;
  if (n > 0 && ids) n = docq_tokenize(m, text, strlen(text), special, ids, (size_t)n);
  free(file_text);
  if (n < 0) {
    free(ids);
    docq_model_free(m);
    return cli_fail((int)n, "tokenize");
  }
  if (g_cli.json) {
    printf("{\"n_tokens\":%ld,\"ids\":[", n);
    for (long i = 0; i < n && ids; i++) printf(i ? ",%d" : "%d", ids[i]);
    printf("],\"pieces\":[");
    /* A token's text is what it adds after the token before it: alone, a
     * SentencePiece word token would lose its leading space (dropped at the
     * start of a text), so the pieces would not join back into the text. */
    for (long i = 0; i < n && ids; i++) {
      char *prev = i ? docq_detokenize(m, ids + i - 1, 1) : NULL, *both = docq_detokenize(m, ids + (i ? i - 1 : 0), i ? 2 : 1);
      const size_t lp = prev ? strlen(prev) : 0;
      const char *piece = both && (!i || (prev && !strncmp(both, prev, lp))) ? both + lp : "";
      printf("%s", i ? "," : "");
      cli_json_str(stdout, piece);
      docq_free(prev);
      docq_free(both);
    }
    printf("]}\n");
  } else {
    for (long i = 0; i < n && ids; i++) printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
  }
  free(ids);
  docq_model_free(m);
  return 0;
}

/* ---- bench ---------------------------------------------------------------------------- */

/* Index of the largest of n logits (the greedy choice; the first on ties).
 * The best value is kept, not read back through x[best]: that load behind
 * each conditional move was 2% of a 0.5B decode step. */
static int32_t argmax_logit(const float *x, int n)
{
  int32_t best = 0;
  float bv = x && n > 0 ? x[0] : 0;
  for (int i = 1; x && i < n; i++)
    if (x[i] > bv) {
      bv = x[i];
      best = i;
    }
  return best;
}

static void mean_sd(const double *x, int n, double *mean, double *sd)
{
  double s = 0, q = 0;
  for (int i = 0; i < n; i++) s += x[i];
  *mean = s / n;
  for (int i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
  *sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

/* One test's result. */
typedef struct {
  char name[160], size[64], params[64], test[64];
  int threads, reps, n_prompt, n_gen, n_depth;
  double ts[100]; /* tokens/s of each repetition */
} bench_row;

/* A table row, the header before the first (not before: a run that fails
 * first prints only its error), or (json) an object, preceded by a comma
 * unless first. */
static void print_bench_row(const bench_row *r, int json, int first)
{
  double mu, sd;
  mean_sd(r->ts, r->reps, &mu, &sd);
  if (!json) {
    if (first) {
      printf("| %-24s | %12s | %10s | %7s | %8s | %18s |\n", "model", "size", "params", "threads", "test", "t/s");
      printf("| %-24s | %12s | %10s | %7s | %8s | %18s |\n", "------------------------", "-----------:", "---------:",
             "------:", "-------:", "-----------------:");
    }
    printf("| %-24s | %12s | %10s | %7d | %8s | %9.2f ± %6.2f |\n", r->name, r->size, r->params, r->threads, r->test,
           mu, sd);
    fflush(stdout); /* each row as it is measured, also through a pipe */
    return;
  }
  printf("%s{\"model\":", first ? "" : ",");
  cli_json_str(stdout, r->name);
  printf(",\"size\":");
  cli_json_str(stdout, r->size);
  printf(",\"params\":");
  cli_json_str(stdout, r->params);
  printf(",\"threads\":%d,\"test\":", r->threads);
  cli_json_str(stdout, r->test);
  printf(",\"n_prompt\":%d,\"n_gen\":%d,\"n_depth\":%d,\"kernels\":", r->n_prompt, r->n_gen, r->n_depth);
  cli_json_str(stdout, docq_kernels());
  printf(",\"avg_ts\":%.17g,\"stddev_ts\":%.17g,\"samples_ts\":[", mu, sd);
  for (int i = 0; i < r->reps; i++) printf(i ? ",%.17g" : "%.17g", r->ts[i]);
  printf("]}");
}

/* A prompt of exactly n tokens including BOS (built from repeated words, then
 * trimmed): prefill cost does not depend on which tokens they are. */
static char *prompt_of(const docq_model *m, int n)
{
  /* no leading space: a SentencePiece vocabulary would read it as a token of
   * its own, and a 2-token prompt (BOS + one word) could not be built */
  static const char *words = "the quick brown fox jumps over a lazy dog and ";
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
  int pp = 512, tg = 64, depth = 0, threads = 0, reps = 3, r_;
  docq_ctx_options co;
  docq_ctx_options_init(&co, DOCQ_CTX_OPTIONS_VERSION);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs("usage: docq bench --model FILE [-p 512] [-n 64] [-d 0] [-t THREADS] [-r 3] [context options]\n"
            "Prompt processing (pp: one prompt of -p tokens) and text generation (tg: -n tokens\n"
            "one at a time after BOS, each the greedy choice after the last) speed in tokens/s,\n"
            "mean +- standard deviation over -r repetitions, printed as llama-bench does.\n"
            "-p 0 or -n 0 skips that test. -d N: generate after a prompt of N tokens (untimed),\n"
            "as docq ask does after its passages (llama-bench -d). The last line names the\n"
            "kernels this build has (AVX-512 VNNI, AVX2 or generic C, fixed when it was built).\n"
            "--json: an array, one object per test: model, size, params, threads, test, n_prompt,\n"
            "n_gen, n_depth, kernels, avg_ts, stddev_ts, samples_ts (tokens/s of each repetition).\n"
            "Context (default: the larger of -p and -d, + -n + 16 tokens):\n" CTX_OPTIONS_HELP
            "Ctrl-C stops the run; the tests' rows then hold the repetitions that ran whole.\n"
            "Exit codes: 0 ok, 1 failed (e.g. a bad model file), 2 usage, 130 interrupted.\n",
            stdout);
      return 0;
    } else if ((r_ = cli_ctx_opt(argc, argv, &i, &co, "bench")) != 0) {
      if (r_ < 0) return EXIT_USAGE;
    } else if (is_opt(a, "-m", "--model")) {
      if (!(model = optval(argc, argv, &i, "-m", "--model"))) return bad_usage("bench", "missing value", a);
    } else if (!strcmp(a, "--json")) {
      g_cli.json = 1;
    } else if (is_opt(a, "-p", "--n-prompt")) {
      if (!(v = optval(argc, argv, &i, "-p", "--n-prompt"))) return bad_usage("bench", "missing value", a);
      if (cli_int_arg("bench", a, v, 0, 1 << 20, &pp)) return EXIT_USAGE;
    } else if (is_opt(a, "-n", "--n-gen")) {
      if (!(v = optval(argc, argv, &i, "-n", "--n-gen"))) return bad_usage("bench", "missing value", a);
      if (cli_int_arg("bench", a, v, 0, 1 << 20, &tg)) return EXIT_USAGE;
    } else if (is_opt(a, "-d", "--n-depth")) {
      if (!(v = optval(argc, argv, &i, "-d", "--n-depth"))) return bad_usage("bench", "missing value", a);
      if (cli_int_arg("bench", a, v, 0, 1 << 22, &depth)) return EXIT_USAGE;
    } else if (is_opt(a, "-t", "--threads")) {
      if (!(v = optval(argc, argv, &i, "-t", "--threads"))) return bad_usage("bench", "missing value", a);
      if (cli_int_arg("bench", a, v, 0, 1024, &threads)) return EXIT_USAGE;
    } else if (is_opt(a, "-r", "--repetitions")) {
      if (!(v = optval(argc, argv, &i, "-r", "--repetitions"))) return bad_usage("bench", "missing value", a);
      if (cli_int_arg("bench", a, v, 1, 100, &reps)) return EXIT_USAGE;
    } else {
      return bad_usage("bench", "unknown argument", a);
    }
  }
  if (!model) return bad_usage("bench", "--model FILE is required", NULL);
  if (cli_ctx_check(&co, "bench")) return EXIT_USAGE;
  if (pp < 0 || tg < 0 || depth < 0 || reps < 1 || reps > 100) return bad_usage("bench", "bad -p, -n, -d or -r", NULL);
  if (pp == 0 && tg == 0) return bad_usage("bench", "nothing to measure: -p and -n are both 0", NULL);
  docq_model *m = NULL;
  docq_ctx *c = NULL;
  int32_t *dstart = NULL; /* -d: the prompt generation starts after */
  cli_on_sigbus(model);
  int rc = docq_model_load(&m, model);
  if (rc < 0) return cli_fail(rc, "load");
  if (threads <= 0) {
    long nc = 0;
    FILE *f = popen("nproc 2>/dev/null", "r");
    if (f) {
      if (fscanf(f, "%ld", &nc) != 1) nc = 0;
      pclose(f);
    }
    threads = nc > 0 ? (int)nc : 1;
  }
  if (!co.n_ctx) co.n_ctx = (unsigned)((pp > depth ? pp : depth) + tg + 16);
  co.n_threads = threads;
  if ((rc = docq_ctx_new_ext(&c, m, &co)) < 0) {
    int code = cli_ctx_fail(rc, "bench", m, &co);
    docq_model_free(m);
    return code;
  }
  /* Ctrl-C keeps what was measured: the repetitions done so far make the
   * test's row, and the run ends there with exit 130. */
  cli_on_sigint_ctx(c);
  int interrupted = 0;
  /* model / size / params from the description */
  char arch[64] = "?", params[64] = "?", size[64] = "?", wtype[64] = "";
  char *d = docq_model_describe(m);
  const char *p;
  if (d && (p = strstr(d, "architecture:"))) sscanf(p + 13, " %63s", arch);
  if (d && (p = strstr(d, "parameters:"))) sscanf(p + 11, " %63[^ ] (%63[^)])", params, size);
  /* the file type as llama-bench prints it ("Q4_K - Medium"), else the most common tensor type */
  if (d && (p = strstr(d, "file type:"))) sscanf(p + 10, " %63[^\n]", wtype);
  else if (d && (p = strstr(d, "weight types:"))) sscanf(p + 13, " %63[^ (]", wtype);
  docq_free(d);
  docq_gen_options o;
  docq_gen_options_init(&o, DOCQ_GEN_OPTIONS_VERSION);
  o.temperature = 0.0f;
  o.repeat_penalty = 1.0f;
  o.n_threads = threads;
  bench_row row = {.threads = threads, .reps = reps};
  snprintf(row.name, sizeof row.name, "%s %s", arch, wtype);
  snprintf(row.size, sizeof row.size, "%s", size);
  snprintf(row.params, sizeof row.params, "%s", params);
  bench_row done[2]; /* --json prints them at the end, as one array or not at all */
  int n_done = 0;
  double *ts = row.ts;
  if (pp > 0) {
    char *prompt = prompt_of(m, pp);
    long n = prompt ? docq_tokenize(m, prompt, strlen(prompt), 1, NULL, 0) : -1;
    o.n_predict = 0;
    docq_generate(c, prompt ? prompt : "", &o, NULL); /* warm-up */
    int r = 0;
    for (; r < reps && n > 0 && !cli_interrupted(); r++) {
      /* the context would keep the whole batches it read of the same
       * prompt (prompt reuse): emptied, so every repetition reads all */
      if ((rc = docq_ctx_eval(c, NULL, 0, 1, NULL)) < 0) break;
      double t0 = cli_now();
      if ((rc = docq_generate(c, prompt, &o, NULL)) < 0) break;
      if (cli_interrupted()) break; /* the interruption came between the prompt's last batch and the end */
      ts[r] = (double)n / (cli_now() - t0);
      if (docq_ctx_last_reused(c) != 0) {
        fprintf(stderr, "docq bench: the prompt was not read whole (%zu tokens kept): not a prefill measurement\n",
                docq_ctx_last_reused(c));
        rc = DOCQ_ERROR;
        break;
      }
    }
    free(prompt);
    if (cli_interrupted()) {
      interrupted = 1;
      rc = 0;
    }
    if (rc < 0 || n <= 0) goto fail;
    snprintf(row.test, sizeof row.test, "pp%ld", n);
    row.n_prompt = (int)n;
    row.reps = r;
    if (r > 0) {
      if (!g_cli.json) print_bench_row(&row, 0, n_done == 0);
      done[n_done++] = row;
    }
  }
  if (tg > 0 && !interrupted) {
    /* As llama-bench does: from a start token, tg single-token steps timed,
     * each feeding the previous step's greedy choice (no sampler, no stop at
     * EOS, so every run is tg tokens). The start is BOS, or token 0 when the
     * vocabulary has none. */
    docq_model_meta meta;
    if ((rc = docq_model_get_meta(m, &meta)) < 0) goto fail;
    int32_t tok = meta.bos >= 0 ? meta.bos : 0;
    /* -d: the start is a prompt of `depth` tokens instead (BOS included) */
    long n_start = 1;
    if (depth > 0) {
      char *dprompt = prompt_of(m, depth);
      n_start = dprompt ? docq_tokenize(m, dprompt, strlen(dprompt), 1, NULL, 0) : -1;
      if (n_start > 0 && (dstart = malloc(sizeof *dstart * (size_t)n_start)))
        rc = docq_tokenize(m, dprompt, strlen(dprompt), 1, dstart, (size_t)n_start) == n_start ? 0 : DOCQ_ERROR;
      else rc = n_start < 0 ? (int)n_start : DOCQ_ENOMEM;
      free(dprompt);
      if (rc < 0) goto fail;
    }
    int r = 0;
    for (; r < reps && !interrupted; r++) {
      if ((rc = docq_ctx_eval(c, dstart ? dstart : &tok, (size_t)n_start, 1, NULL)) < 0) break;
      double t0 = cli_now();
      for (int i = 0; i < tg && rc == 0 && !(interrupted = cli_interrupted()); i++) {
        int32_t next = argmax_logit(docq_ctx_logits(c), meta.n_vocab);
        rc = docq_ctx_eval(c, &next, 1, 0, NULL);
      }
      if (interrupted || rc < 0) break; /* this repetition is not whole: not counted */
      double t = cli_now() - t0;
      ts[r] = (double)tg / (t > 0 ? t : 1e-9);
    }
    /* Ctrl-C stops an eval between its batches (a -d prompt of thousands of tokens too) */
    if (rc == DOCQ_ECANCELED && cli_interrupted()) interrupted = 1, rc = 0;
    if (rc < 0) goto fail;
    row.reps = r;
    if (n_start > 1) snprintf(row.test, sizeof row.test, "tg%d @ d%ld", tg, n_start);
    else snprintf(row.test, sizeof row.test, "tg%d", tg);
    row.n_prompt = 0;
    row.n_gen = tg;
    row.n_depth = n_start > 1 ? (int)n_start : 0;
    if (r > 0) {
      if (!g_cli.json) print_bench_row(&row, 0, n_done == 0);
      done[n_done++] = row;
    }
  }
  if (g_cli.json) {
    printf("[");
    for (int i = 0; i < n_done; i++) print_bench_row(&done[i], 1, i == 0);
    printf("]\n");
  } else if (n_done) {
    printf("\nbuild: docq %s, kernels %s\n", docq_version(), docq_kernels());
  }
  free(dstart);
  cli_on_sigint_ctx(NULL);
  docq_ctx_free(c);
  docq_model_free(m);
  if (interrupted) {
    if (n_done) fprintf(stderr, "docq bench: interrupted; the rows above hold the repetitions that ran whole\n");
    else fprintf(stderr, "docq bench: interrupted before a repetition ran whole: nothing to report\n");
    return EXIT_INTERRUPTED;
  }
  return 0;
fail:
  free(dstart);
  cli_on_sigint_ctx(NULL);
  docq_ctx_free(c);
  docq_model_free(m);
  return cli_fail(rc < 0 ? rc : DOCQ_ERROR, "bench");
}
