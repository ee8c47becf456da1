/* docq embed: print the L2-normalized vector of each text, one line of
 * space-separated floats per text (--json: one JSON array per line), in the
 * order given. Texts come from the command line or, when there are none, one
 * per line from standard input. Without --model the built-in embedder is
 * used. Warnings (a text longer than the model's window) go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
  fputs("usage: docq embed [--model FILE] [--query] [--json] [TEXT...]\n"
        "  --model FILE         GGUF embedding model (bert, nomic-bert); default: the built-in embedder\n"
        "  --query              embed as search queries (the model's query prefix), not passages\n"
        "  --prefix-query S     override the query prefix (\"\" for none)\n"
        "  --prefix-passage S   override the passage prefix (\"\" for none)\n"
        "  --json               one JSON array per text\n"
        "  --id                 print the embedder's identity and dimension first (to stderr)\n"
        "Without TEXT, each line of standard input is one text.\n"
        "Exit codes: 0 ok, 1 failed (e.g. a bad model file), 2 usage.\n", f);
}

static void on_log(int level, const char *msg, void *payload)
{
  (void)payload;
  fprintf(stderr, "docq: %s: %s\n", level == DOCQ_LOG_ERROR ? "error" : "warning", msg);
}

/* Lines of f (without the line end) appended to *v. Returns 0 or -1 (OOM). */
static int read_lines(FILE *f, char ***v, size_t *n)
{
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    char **q = realloc(*v, (*n + 1) * sizeof *q);
    if (!q) { free(line); return -1; }
    *v = q;
    if (!((*v)[*n] = strdup(line))) { free(line); return -1; }
    (*n)++;
  }
  free(line);
  return 0;
}

static void print_vec(const float *x, unsigned d)
{
  if (g_cli.json) putchar('[');
  for (unsigned j = 0; j < d; j++) {
    if (j) fputs(g_cli.json ? "," : " ", stdout);
    printf("%.6g", (double)x[j]);
  }
  puts(g_cli.json ? "]" : "");
}

int cmd_embed(int argc, char **argv)
{
  const char *model = NULL, *pq = NULL, *pp = NULL;
  int is_query = 0, show_id = 0, rc, code = EXIT_OK_;
  char **texts = NULL, **owned = NULL;
  size_t n = 0, n_owned = 0;
  docq_embedder *e = NULL;
  float *out = NULL;
  if (!(texts = calloc((size_t)argc + 1, sizeof *texts))) return cli_fail(DOCQ_ENOMEM, "embed");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int c = cli_common_opt(argc, argv, &i);
    if (c < 0) { code = EXIT_USAGE; goto done; }
    if (c > 0) continue;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); goto done; }
    if (!strcmp(a, "--query")) is_query = 1;
    else if (!strcmp(a, "--id")) show_id = 1;
    else if ((!strcmp(a, "--model") || !strcmp(a, "--prefix-query") || !strcmp(a, "--prefix-passage"))) {
      if (i + 1 >= argc) { code = cli_missing("embed", argc, argv, i); goto done; }
      const char **dst = !strcmp(a, "--model") ? &model : !strcmp(a, "--prefix-query") ? &pq : &pp;
      *dst = argv[++i];
    } else if (!strncmp(a, "--model=", 8)) model = a + 8;
    else if (!strcmp(a, "--")) { while (++i < argc) texts[n++] = argv[i]; }
    else if (a[0] == '-' && a[1]) { usage(stderr); code = cli_usage("embed", "unknown option '%s'", a); goto done; }
    else texts[n++] = argv[i];
  }
  char **list = texts;
  if (n == 0) {
    if (read_lines(stdin, &owned, &n_owned) < 0) { code = cli_fail(DOCQ_ENOMEM, "embed"); goto done; }
    list = owned;
    n = n_owned;
    if (n == 0) { usage(stderr); code = cli_usage("embed", "no text given"); goto done; }
  }
  if (!g_cli.quiet) docq_set_log(on_log, DOCQ_LOG_WARN, NULL);
  cli_on_sigbus(model);
  if ((rc = docq_embedder_load(&e, model)) < 0) { code = cli_fail(rc, "embed"); goto done; }
  if ((pq || pp) && (rc = docq_embedder_set_prefixes(e, pq, pp)) < 0) { code = cli_fail(rc, "embed"); goto done; }
  unsigned d = docq_embedder_dim(e);
  if (show_id) fprintf(stderr, "%s (dim %u)\n", docq_embedder_id(e), d);
  /* in slices, so a long stdin stream does not need all vectors in memory */
  size_t slice = 64;
  if (!(out = malloc(slice * d * sizeof *out))) { code = cli_fail(DOCQ_ENOMEM, "embed"); goto done; }
  for (size_t i = 0; i < n; i += slice) {
    size_t k = n - i < slice ? n - i : slice;
    if ((rc = docq_embed(e, (const char *const *)list + i, k, is_query, out)) < 0) { code = cli_fail(rc, "embed"); goto done; }
    for (size_t j = 0; j < k; j++) print_vec(out + j * d, d);
  }
done:
  docq_set_log(NULL, DOCQ_LOG_WARN, NULL);
  for (size_t i = 0; i < n_owned; i++) free(owned[i]); /* lines read from stdin */
  free(texts);
  free(owned);
  free(out);
  docq_embedder_free(e);
  return code;
}
