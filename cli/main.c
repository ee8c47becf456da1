/* docq: the command-line front end. Parses global options, then dispatches
 * to one cmd_* function per command (cli/cmd_*.c). Built only on <docq.h>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

cli_global g_cli;

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
  {"index", cmd_index, "index files and folders (only what changed is redone)"},
  {"status", cmd_status, "documents, chunks, sizes, embedder, last run"},
  {"rm", cmd_rm, "remove a document or a folder from the index"},
  {"config", cmd_config, "settings kept in the index (the answer model)"},
  {"search", cmd_search, "hybrid search (BM25 + vectors): ranked passages"},
  {"ask", cmd_ask, "answer a question with citations (extractive, or --model)"},
  {"eval", cmd_eval, "measure retrieval / answers on a labelled set"},
  {"generate", cmd_generate, "plain completion with a GGUF model"},
  {"model", cmd_model, "model info FILE: architecture, sizes, RoPE, tokenizer"},
  {"tokenize", cmd_tokenize, "token ids of a text with a GGUF tokenizer"},
  {"bench", cmd_bench, "prefill / decode speed of a GGUF model"},
  {"embed", cmd_embed, "embedding vectors of texts with a GGUF encoder"},
};

static void usage(FILE *f)
{
  fprintf(f,
          "usage: docq [--db DIR] [--json] [--verbose] [--quiet] COMMAND [ARGS]\n"
          "\n"
          "Local document question answering: index a folder, then search and ask.\n"
          "\n"
          "Commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\n"
          "Global options:\n"
          "  --db DIR     the index folder (default: $DOCQ_DB, else a .docq/ folder in the\n"
          "               current directory or its parents; `docq index` creates ./.docq)\n"
          "  --json       machine-readable output; on a failure (exit 1 to 4) stdout has\n"
          "               {\"error\": MESSAGE, \"code\": N} instead (N: a DOCQ_E* code of docq.h,\n"
          "               e.g. -3 for a bad command line or another invalid value)\n"
          "  --verbose    more detail (what was skipped, left out, chosen)\n"
          "  --quiet      no progress bar\n"
          "  --version    print the version and the kernels it runs (a portable build picks\n"
          "               them for the CPU; $DOCQ_KERNELS=generic or avx2 asks for lower ones)\n"
          "  --help       this help; `docq COMMAND --help` for a command\n"
          "\n"
          "Exit codes:\n"
          "  0    success\n"
          "  1    the operation failed (the message says why)\n"
          "  2    bad command line\n"
          "  3    no index found, it cannot be opened, or it is damaged\n"
          "  4    another docq process is writing the index\n"
          "  130  interrupted (Ctrl-C); what was committed is kept\n");
}

/* $DOCQ_KERNELS asks a portable build for lower kernels than the CPU's
 * (docq.h): say so when what runs is not what it asked for. */
static void check_kernels_env(void)
{
  static const struct { const char *env, *name; } levels[] = {
    { "generic", "generic C" }, { "avx2", "AVX2" }, { "avx512", "AVX-512 VNNI" } };
  const char *want = getenv("DOCQ_KERNELS"), *have;
  if (!want || !*want) return;
  have = docq_kernels();
  for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
    if (!strcasecmp(want, levels[i].env)) {
      if (strcmp(have, levels[i].name))
        fprintf(stderr, "docq: DOCQ_KERNELS=%s: running the %s kernels (a build for this machine keeps its own; "
                        "a portable one goes no higher than the CPU)\n", want, have);
      return;
    }
  fprintf(stderr, "docq: DOCQ_KERNELS=%s is not generic, avx2 or avx512: running the %s kernels\n", want, have);
}

int main(int argc, char **argv)
{
  cli_on_sigbus(NULL);
  check_kernels_env();
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--db")) {
      if (++i >= argc) return cli_usage(NULL, "--db needs a folder");
      g_cli.db = argv[i];
    } else if (!strncmp(a, "--db=", 5)) {
      g_cli.db = a + 5;
    } else if (!strcmp(a, "--json")) {
      g_cli.json = 1;
    } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
      g_cli.verbose = 1;
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
      g_cli.quiet = 1;
    } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
      printf("docq %s (kernels: %s)\n", docq_version(), docq_kernels());
      return 0;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help")) {
      if (!strcmp(a, "help") && i + 1 < argc) { /* docq help CMD == docq CMD --help */
        char *sub[] = {argv[i + 1], "--help", NULL};
        for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
          if (!strcmp(commands[c].name, argv[i + 1])) return commands[c].run(2, sub);
        return cli_usage(NULL, "unknown command '%s' (see docq --help)", argv[i + 1]); /* as docq BOGUS */
      }
      usage(stdout);
      return 0;
    } else if (a[0] == '-') {
      return cli_usage(NULL, "unknown option '%s' (see docq --help)", a);
    } else {
      break;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return cli_usage(NULL, "a command is required");
  }
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
    if (!strcmp(commands[c].name, argv[i])) return commands[c].run(argc - i, argv + i);
  return cli_usage(NULL, "unknown command '%s' (see docq --help)", argv[i]);
}
