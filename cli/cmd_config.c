/* docq config: settings kept in the index. For now one: the answer model that
 * `docq ask` uses when neither --model nor $DOCQ_MODEL names one.
 * Public API only: everything goes through <docq.h>. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void config_usage(FILE *f)
{
  fputs("usage: docq config [--db DIR] [--json]            show the index's settings\n"
        "       docq config model FILE                    answer with this GGUF model\n"
        "       docq config model --unset                 forget it (answers are extractive)\n"
        "\n"
        "The answer model is what `docq ask` loads when it is given neither --model nor\n"
        "$DOCQ_MODEL (--no-model answers extractively anyway). FILE is checked by loading\n"
        "it, then recorded as an absolute path. Showing the settings warns (stderr) when\n"
        "that file can no longer be read; --json gives {\"answer_model\": PATH or null,\n"
        "\"missing\": true|false}.\n"
        "Exit codes: 0 ok, 1 failed (e.g. FILE is not a model docq can run), 2 usage,\n"
        "3 no index, 4 busy (an indexer holds the index).\n",
        f);
}

/* The setting as it now stands; desc (may be "") says what the model is. */
static void print_answer_model(const char *path, const char *desc)
{
  if (g_cli.json) {
    printf("{\"answer_model\":");
    if (*path) cli_json_str(stdout, path);
    else printf("null");
    printf("}\n");
  } else if (*path) {
    printf("answer model  %s%s%s%s\n", path, *desc ? " (" : "", desc, *desc ? ")" : "");
  } else {
    printf("answer model  none (docq ask answers extractively; set one with docq config model FILE)\n");
  }
}

int cli_answer_model_gone(const char *cmd, const char *path)
{
  const int gone = *path && access(path, R_OK) != 0 ? errno : 0;
  if (gone) {
    fflush(stdout); /* after what the command printed, also when both go to one pipe */
    fprintf(stderr, "docq %s: the answer model %s cannot be read (%s): docq ask will fail until it is back; "
            "docq config model FILE sets another, docq config model --unset forgets it\n", cmd, path, strerror(gone));
  }
  return gone;
}

static int show(void)
{
  docq_db *db = NULL;
  int ec = cli_open_db(&db, 0, 1);
  if (ec) return ec;
  char path[PATH_MAX];
  int rc = docq_db_answer_model(db, path, sizeof path);
  cli_db_free(db);
  if (rc) return cli_fail(rc, "config");
  /* a file moved or deleted since it was set: said now, not at the next ask */
  const int gone = *path && access(path, R_OK) != 0;
  if (g_cli.json) {
    printf("{\"answer_model\":");
    if (*path) cli_json_str(stdout, path);
    else printf("null");
    printf(",\"missing\":%s}\n", gone ? "true" : "false");
  } else {
    print_answer_model(path, "");
  }
  cli_answer_model_gone("config", path);
  return 0;
}

/* Record FILE (NULL: forget) after checking that it loads as a model with
 * weights, so a typo is found now rather than at the next question. */
static int set_model(const char *file)
{
  char desc[160] = "";
  if (file) {
    docq_model *m = NULL;
    int rc = docq_model_load(&m, file);
    if (rc) return cli_fail(rc, "config model");
    docq_model_meta meta;
    docq_model_get_meta(m, &meta);
    char *d = meta.has_weights ? docq_model_describe(m) : NULL;
    const char *arch = d ? strstr(d, "architecture:") : NULL;
    if (arch) sscanf(arch + 13, " %63s", desc);
    docq_free(d);
    docq_model_free(m);
    if (!meta.has_weights)
      return cli_error(DOCQ_EINVAL, "config", "%s holds a tokenizer but no weights, so it cannot write answers", file);
  }
  docq_db *db = NULL;
  int ec = cli_open_db(&db, 0, 0);
  if (ec) return ec;
  int rc = docq_db_set_answer_model(db, file);
  char path[PATH_MAX] = "";
  if (!rc) rc = docq_db_answer_model(db, path, sizeof path);
  cli_db_free(db);
  if (rc) return cli_fail(rc, "config model");
  print_answer_model(path, desc);
  return 0;
}

int cmd_config(int argc, char **argv)
{
  const char *args[3];
  int n = 0;
  for (int i = 1; i < argc; i++) {
    int c = cli_common_opt(argc, argv, &i);
    if (c < 0) return EXIT_USAGE;
    if (c) continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      config_usage(stdout);
      return 0;
    }
    if (n == 3) return cli_usage("config", "too many arguments");
    args[n++] = argv[i];
  }
  if (n == 0) return show();
  if (strcmp(args[0], "model")) return cli_usage("config", "unknown setting '%s' (the one there is: model)", args[0]);
  if (n != 2) return cli_usage("config", "model: give FILE, or --unset");
  if (!strcmp(args[1], "--unset")) return set_model(NULL);
  if (args[1][0] == '-' && args[1][1]) return cli_usage("config", "model: unknown option %s", args[1]);
  return set_model(args[1]);
}
