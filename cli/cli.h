/* The docq command: shared helpers and one entry point per command. Every
 * command file includes only <docq.h> and this header. */
#ifndef DOCQ_CLI_H
#define DOCQ_CLI_H

#include <stdio.h>
#include "docq.h"

/* Exit codes (documented in `docq --help` and the README). */
enum {
  EXIT_OK_ = 0,        /* success */
  EXIT_FAIL = 1,       /* the operation failed (see the message) */
  EXIT_USAGE = 2,      /* bad command line */
  EXIT_NOINDEX = 3,    /* no index found / cannot open it */
  EXIT_BUSY = 4,       /* another indexer holds the index */
  EXIT_INTERRUPTED = 130 /* Ctrl-C */
};

/* Global options parsed before the command. */
typedef struct cli_global {
  const char *db;      /* --db DIR */
  int json;            /* --json */
  int verbose;         /* --verbose */
  int quiet;           /* --quiet */
} cli_global;

extern cli_global g_cli;

/* Handle a global option (--db DIR, --json, --verbose, --quiet) given after
 * the command: returns 1 and advances *i past it when argv[*i] is one,
 * -1 on a missing argument, 0 otherwise. */
int cli_common_opt(int argc, char **argv, int *i);
/* Handle a filter option of search and ask (--path PREFIX, --glob PATTERN,
 * --tag TAG, --after DATE, --before DATE) into so: 1 consumed (*i advanced),
 * 0 not a filter option, -1 missing or bad value (message printed, naming
 * the command cmd). The FILTER_HELP lines document them. */
int cli_filter_opt(int argc, char **argv, int *i, docq_search_options *so, const char *cmd);
#define CLI_FILTER_HELP                                                                    \
  "  --path PATH      only documents in this file or folder (relative to the current\n"   \
  "                   directory), or whose path starts with PATH\n"                        \
  "  --glob PATTERN   only documents whose path matches PATTERN (fnmatch; * crosses /;\n"  \
  "                   a PATTERN not starting with / or * matches at any folder)\n"        \
  "  --tag TAG        only documents with this front-matter tag\n"                         \
  "  --after DATE     only documents dated on/after DATE (YYYY-MM-DD; front-matter\n"      \
  "                   date, else the file's modification time)\n"                          \
  "  --before DATE    only documents dated before DATE (YYYY-MM-DD)\n"
/* Errors. With --json every failure also gives one line on stdout,
 * {"error": MESSAGE, "code": a DOCQ_E* code}, printed through cli_json_error
 * (nothing without --json). The message goes to stderr through cli_put_text.
 * cli_fail: "docq: <what>: <last error message>", for the library error rc.
 * cli_error: "docq CMD: <message>" for rc. Both return the exit code for rc
 * (130 for DOCQ_ECANCELED, 4 for DOCQ_EBUSY, else 1).
 * cli_usage: a bad command line, "docq CMD: <message> (see docq CMD --help)",
 * code DOCQ_EINVAL; returns EXIT_USAGE. cli_missing: the usage error for
 * option argv[i] without its value (none follows, or an option does). */
int cli_fail(int rc, const char *what);
int cli_error(int rc, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_missing(const char *cmd, int argc, char **argv, int i);
/* cli_fail for search or ask once the index is open: an index found damaged
 * while it is read (DOCQ_ECORRUPT naming the index) exits 3, as one found
 * damaged when it is opened does. */
int cli_fail_read(int rc, const char *what);
void cli_json_error(const char *msg, int code);
/* The library's last error message without its leading "CMD: " (its name
 * for the call, "ask: ..."), for a message that names the command itself. */
const char *cli_error_text(const char *cmd);
/* For a command whose --json record carries its own failures (index: "ok",
 * the counts, "error", "code"): cli_json_error prints that record, through
 * `print`, instead of the bare error object. */
void cli_set_json_error(void (*print)(const char *msg, int code));
/* Text docq does not control (a model file's strings, an error message
 * quoting them) for a terminal or a pipe: control characters other than
 * newline and tab written as \xHH (C1 ones as \u00HH), so a file cannot
 * retitle, clear or recolour the terminal; bytes that are not UTF-8 as
 * U+FFFD. */
void cli_put_text(FILE *f, const char *s);
/* Find the index folder: --db, $DOCQ_DB, a .docq/ in cwd or parents; with
 * create, ./.docq. Returns a malloc'd path or NULL. */
char *cli_find_db(int create);
/* Open the index (create when `create`), printing a helpful error. */
int cli_open_db(docq_db **db, int create, int readonly);
/* Write s as a JSON string literal (with quotes) to f. */
void cli_json_str(FILE *f, const char *s);
/* 1 when s holds nothing but white space (a blank question or query). */
int cli_blank(const char *s);
/* 1 when stderr is a terminal and not --quiet/--json (progress bars). */
int cli_tty(void);

/* The reading of a prompt (docq_prompt_progress_cb; payload: a zeroed
 * cli_prompt_ui). With tty set and a prompt of more than one batch, a line
 * "reading the prompt: N of M tokens (P%), about S s left" on stderr,
 * rewritten per batch and cleared once the prompt is in, before any of the
 * answer appears; then `echo` (if set) goes to stdout. */
typedef struct cli_prompt_ui {
  int tty;
  const char *echo;
  double t0;      /* cli_now() when the reading began (for the estimate) */
  int shown;
} cli_prompt_ui;
/* A reasoning model's thinking (docq_ask_options.on_reasoning,
 * docq_chat_options.on_reasoning; payload: a zeroed cli_think_ui): with
 * show, written to stderr as it comes; else, with tty, a line on stderr
 * saying for how long and how much, rewritten at most 4 times a second.
 * cli_thinking_done clears that line (or ends the shown text) before the
 * answer, and readies ui for the next answer. */
typedef struct cli_think_ui {
  int show, tty;
  int line;       /* the line is shown */
  double t0, last;
  size_t chars;
} cli_think_ui;
int cli_thinking(const char *utf8, size_t len, void *payload);
void cli_thinking_done(cli_think_ui *ui);
/* Seconds on a monotonic clock. */
double cli_now(void);
int cli_prompt_progress(size_t done, size_t total, void *payload);
/* Clear the line if one is shown (the reading stopped: Ctrl-C, an error). */
void cli_prompt_clear(cli_prompt_ui *ui);
/* 1 when s is a long option ("--json", "--model=x"): "--model --json" lacks
 * its value, while "-1" and "---" can be values. */
int cli_looks_like_option(const char *s);
/* Install a SIGINT handler that calls docq_interrupt(db) (first Ctrl-C; db
 * may be NULL) and exits (second). */
void cli_on_sigint(docq_db *db);
/* The same for a model context: the first Ctrl-C calls docq_ctx_interrupt(c). */
void cli_on_sigint_ctx(docq_ctx *c);
/* docq_db_free, first taking db from the SIGINT handler, so a Ctrl-C while
 * the command ends does not interrupt a freed handle. */
void cli_db_free(docq_db *db);
/* A file docq maps (a model, read in place) that is cut short while in use
 * makes the next read of a page past its new end raise SIGBUS. The library
 * checks the file's size between steps and fails cleanly; a cut inside one
 * step still faults. This turns that into a message naming `path` (the model
 * in use; NULL: none known) and exit code 1, instead of a crash. main sets
 * it for every command; commands that load a model name it. */
void cli_on_sigbus(const char *path);
/* 1 once Ctrl-C was pressed. */
int cli_interrupted(void);
/* Forget it (the work it stopped is over, the command goes on): the next
 * Ctrl-C stops again instead of exiting at once. */
void cli_interrupt_reset(void);
/* The whole of a file ("-": standard input), NUL-terminated, length in
 * *len; NULL with errno set when it cannot be read. free() it. */
char *cli_read_file(const char *path, size_t *len);
/* --json: a model's text kept as it comes (docq_gen_options.on_token,
 * payload a zeroed cli_text), to be printed whole at the end, also after
 * Ctrl-C. buf is NUL-terminated (NULL while empty); oom: memory ran out,
 * and the callback stopped the generation. free(buf). */
typedef struct cli_text {
  char *buf;
  size_t len, cap;
  int oom;
} cli_text;
int cli_keep_text(const char *s, size_t n, void *payload);
/* How a generation ended, as --json says it: eos, stop, length, context,
 * interrupted (none: it did not run). */
const char *cli_stop_name(docq_stop s);

/* docq generate --chat (cli/cmd_chat.c): a conversation on context c of
 * model m with gen's settings, the user's messages one per line of standard
 * input, or the single message `first`. Returns an exit code. */
typedef struct cli_chat_args {
  const char *system;        /* the system message, or NULL */
  const char *template_name; /* --chat-template, or NULL: the model's */
  const char *first;         /* the one message given on the command line, or NULL */
  int show_thinking;         /* a reasoning model's thinking on stderr */
  unsigned n_ctx;            /* c's size, to drop old turns before it is full */
} cli_chat_args;
int cli_chat(docq_ctx *c, const docq_model *m, const docq_gen_options *gen, const cli_chat_args *a);

/* When the index's answer model `path` ("" for none) cannot be read (moved or
 * deleted since docq config model set it), a line on stderr from docq CMD
 * saying so and what to do, and errno; else 0. Defined in cmd_config.c. */
int cli_answer_model_gone(const char *cmd, const char *path);

/* Commands: argv[0] is the command name. Return an exit code. */
int cmd_index(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_embed(int argc, char **argv);
/* docq eval ppl / docq eval passkey (argv[0] = "ppl" or "passkey"). */
int cmd_eval_lm(int argc, char **argv);
/* Their usage lines and options; `first`: these open the usage ("usage:"),
 * else they follow docq eval's other lines. */
void cmd_eval_lm_usage(FILE *f, int first);
/* Parse one llama.cpp-style context flag (-c, --rope-scaling, --yarn-*, -ctk,
 * --attn-window...) at argv[*i] into o: 1 consumed, 0 not a context flag,
 * -1 bad value (message printed). Defined in cmd_model.c. */
int cli_ctx_opt(int argc, char **argv, int *i, docq_ctx_options *o, const char *cmd);
/* After the options: what no single one shows (--attn-sinks without
 * --attn-window) as a usage error naming cmd; EXIT_USAGE then, else 0. */
int cli_ctx_check(const docq_ctx_options *o, const char *cmd);
/* docq_ctx_new_ext(m, o) failed with rc: out of memory is said as the
 * context of o->n_ctx tokens not fitting, with about what its KV cache takes
 * and that a smaller -c does; anything else as cli_fail. Returns the exit
 * code. Defined in cmd_model.c. */
int cli_ctx_fail(int rc, const char *cmd, const docq_model *m, const docq_ctx_options *o);
/* An option's value, the whole string, as a whole number in decimal digits
 * (cli_int_arg), any decimal number (cli_float_arg; no hexadecimal, inf or
 * nan), both in [lo, hi], or a seed (0..2^64-1); else
 * prints a usage error naming `cmd` and `opt` and returns EXIT_USAGE ("-n
 * abc" or "-n 1e11" must not quietly mean something). Defined in cmd_model.c. */
int cli_int_arg(const char *cmd, const char *opt, const char *v, long lo, long hi, int *out);
int cli_float_arg(const char *cmd, const char *opt, const char *v, double lo, double hi, float *out);
int cli_seed_arg(const char *cmd, const char *opt, const char *v, uint64_t *out);

/* docq index --watch (watch.c; Linux inotify). cli_watch_open watches every
 * folder under paths (a file's own folder), but hidden ones, node_modules and
 * index_dir; a root folder deleted or moved away is watched again once it is
 * back (paths is kept, not copied, until cli_watch_free): 0,
 * DOCQ_EUNSUPPORTED without inotify, DOCQ_EBUSY when the system's limit on
 * inotify instances is reached, DOCQ_EIO, DOCQ_ENOMEM.
 * cli_watch_wait returns 1 once something changed and then nothing more for
 * quiet_ms (or max_ms passed since the first change), 0 on Ctrl-C
 * (cli_interrupted), -1 on an error (errno). cli_watch_full: some folders are
 * not watched (the system's fs.inotify.max_user_watches). */
typedef struct cli_watch cli_watch;
int cli_watch_open(cli_watch **out, const char *const *paths, size_t n, const char *index_dir);
int cli_watch_wait(cli_watch *w, int quiet_ms, int max_ms);
size_t cli_watch_folders(const cli_watch *w);
int cli_watch_full(const cli_watch *w);
void cli_watch_free(cli_watch *w);

#endif
