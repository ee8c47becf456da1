/* Helpers shared by the commands: finding and opening the index, errors,
 * JSON strings, terminal detection, Ctrl-C. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_common_opt(int argc, char **argv, int *i)
{
  const char *a = argv[*i];
  if (!strcmp(a, "--json")) { g_cli.json = 1; return 1; }
  if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) { g_cli.verbose = 1; return 1; }
  if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) { g_cli.quiet = 1; return 1; }
  if (!strncmp(a, "--db=", 5)) { g_cli.db = a + 5; return 1; }
  if (!strcmp(a, "--db")) {
    if (*i + 1 >= argc || cli_looks_like_option(argv[*i + 1])) return cli_usage(NULL, "--db needs a folder"), -1;
    g_cli.db = argv[++*i];
    return 1;
  }
  return 0;
}

/* YYYY-MM-DD[Thh:mm[:ss]] (UTC) -> epoch seconds; -1 when malformed. */
/* A date (YYYY-MM-DD, optionally THH:MM[:SS] or with a space, UTC, an
 * optional Z) as seconds since 1970, in *t. The whole text must be that, and
 * the day must exist in its month (2026-02-30 is refused, not read as March
 * 2nd). -1 when it is not a date. */
static int parse_date(const char *s, long long *t)
{
  int y, mo, d, h = 0, mi = 0, sec = 0, end = 0, e2 = 0;
  if (!isdigit((unsigned char)s[0]) || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &end) != 3 || end != 10) return -1;
  if (s[end] == 'T' || s[end] == ' ') {
    if (!isdigit((unsigned char)s[end + 1]) || sscanf(s + end + 1, "%2d:%2d%n", &h, &mi, &e2) != 2 || e2 != 5) return -1;
    end += 1 + e2;
    if (s[end] == ':') {
      if (!isdigit((unsigned char)s[end + 1]) || sscanf(s + end + 1, "%2d%n", &sec, &e2) != 1 || e2 != 2) return -1;
      end += 1 + e2;
    }
    if (s[end] == 'Z') end++;
  }
  if (s[end] || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return -1;
  struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec };
  const time_t v = timegm(&tm);
  struct tm back;
  if (!gmtime_r(&v, &back) || back.tm_mday != d || back.tm_mon != mo - 1) return -1;
  *t = (long long)v;
  return 0;
}

int cli_filter_opt(int argc, char **argv, int *i, docq_search_options *so, const char *cmd)
{
  const char *a = argv[*i];
  int is_date = !strcmp(a, "--after") || !strcmp(a, "--before");
  if (strcmp(a, "--path") && strcmp(a, "--glob") && strcmp(a, "--tag") && !is_date) return 0;
  if (*i + 1 >= argc || cli_looks_like_option(argv[*i + 1])) return cli_missing(cmd, argc, argv, *i), -1; /* "--tag --json" */
  const char *v = argv[++*i];
  if (!strcmp(a, "--path")) so->path_prefix = v;
  else if (!strcmp(a, "--glob")) so->path_glob = v;
  else if (!strcmp(a, "--tag")) so->tag = v;
  else {
    long long t;
    if (parse_date(v, &t) < 0)
      return cli_usage(cmd, "%s wants a date YYYY-MM-DD (or YYYY-MM-DDTHH:MM[:SS], UTC), not \"%s\"", a, v), -1;
    /* 0 means "open" in docq_search_options: the first second of 1970 is
     * given as the next one (after) or the one before (before), so the
     * filter stays on; it differs only for a document dated 1970-01-01T00:00:00
     * exactly, or a second before it */
    if (t == 0) t = a[2] == 'a' ? 1 : -1;
    if (a[2] == 'a') so->after = t; else so->before = t;
  }
  return 1;
}

static void (*g_json_error_record)(const char *msg, int code);

void cli_set_json_error(void (*print)(const char *msg, int code)) { g_json_error_record = print; }

void cli_json_error(const char *msg, int code)
{
  if (!g_cli.json) return;
  if (g_json_error_record) {
    g_json_error_record(msg, code);
    fflush(stdout);
    return;
  }
  printf("{\"error\":");
  cli_json_str(stdout, msg);
  printf(",\"code\":%d}\n", code);
  fflush(stdout); /* before anything a caller writes to stderr after it, also when both go to one pipe */
}

/* One failure, both ways: the error object (--json), and on stderr
 * "docq[ CMD]: [WHAT: ]MSG[ (see docq CMD --help)]", MSG shown safely (it
 * may quote a model file's strings). */
static void report(int code, const char *cmd, const char *what, const char *msg, int see_help)
{
  cli_json_error(msg, code);
  fprintf(stderr, "docq%s%s: ", cmd ? " " : "", cmd ? cmd : "");
  if (what) fprintf(stderr, "%s: ", what);
  cli_put_text(stderr, msg);
  if (see_help && cmd) fprintf(stderr, " (see docq %s --help)", cmd);
  fputc('\n', stderr);
}

/* The exit code for a library error code. */
static int exit_for(int rc)
{
  switch (rc) {
  case DOCQ_ECANCELED: return EXIT_INTERRUPTED;
  case DOCQ_EBUSY: return EXIT_BUSY;
  default: return EXIT_FAIL;
  }
}

/* msg without a leading "WORD: ", WORD being the first word of `what`: the
 * library names its call ("ask: the model's context ..."), which "docq ask:"
 * or "docq: ask failed:" already says. */
static const char *unprefixed(const char *msg, const char *what)
{
  size_t n = what ? strcspn(what, " :") : 0;
  return n && !strncmp(msg, what, n) && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

const char *cli_error_text(const char *cmd)
{
  const docq_error *e = docq_error_last();
  return unprefixed(e->message ? e->message : "", cmd);
}

int cli_fail(int rc, const char *what)
{
  const docq_error *e = docq_error_last();
  report(rc, NULL, what, e->message && *e->message ? unprefixed(e->message, what) : docq_strerror(rc), 0);
  return exit_for(rc);
}

int cli_fail_read(int rc, const char *what)
{
  const char *msg = docq_error_last()->message;
  /* the store's messages about the index name it first: "index DIR is damaged ..." */
  const int damaged = rc == DOCQ_ECORRUPT && msg && !strncmp(msg, "index ", 6);
  const int code = cli_fail(rc, what);
  return damaged ? EXIT_NOINDEX : code;
}

/* report, of a printf-style message */
static void vreport(int rc, const char *cmd, int see_help, const char *fmt, va_list ap)
{
  char msg[8192];
  vsnprintf(msg, sizeof msg, fmt, ap);
  report(rc, cmd, NULL, msg, see_help);
}

int cli_error(int rc, const char *cmd, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vreport(rc, cmd, 0, fmt, ap);
  va_end(ap);
  return exit_for(rc);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vreport(DOCQ_EINVAL, cmd, 1, fmt, ap);
  va_end(ap);
  return EXIT_USAGE;
}

int cli_missing(const char *cmd, int argc, char **argv, int i)
{
  if (i + 1 >= argc) return cli_usage(cmd, "%s needs a value", argv[i]);
  return cli_usage(cmd, "%s needs a value (the next argument, %s, is an option)", argv[i], argv[i + 1]);
}

static int is_dir(const char *p)
{
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

char *cli_find_db(int create)
{
  if (g_cli.db) return strdup(g_cli.db);
  const char *env = getenv("DOCQ_DB");
  if (env && *env) return strdup(env);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return NULL;
  char probe[PATH_MAX + 8];
  for (;;) {
    snprintf(probe, sizeof probe, "%s/.docq", cwd);
    if (is_dir(probe)) return strdup(probe);
    char *slash = strrchr(cwd, '/');
    if (!slash) break;
    if (slash == cwd) {
      if (!cwd[1]) break;
      cwd[1] = 0;
    } else {
      *slash = 0;
    }
  }
  if (create) return strdup(".docq");
  return NULL;
}

int cli_open_db(docq_db **db, int create, int readonly)
{
  char *path = cli_find_db(create);
  if (!path) {
    fprintf(stderr, "docq: no index found: run `docq index FOLDER` first, or give --db DIR (or set DOCQ_DB)\n");
    cli_json_error("no index found", DOCQ_ENOTFOUND);
    return EXIT_NOINDEX;
  }
  unsigned flags = create ? DOCQ_OPEN_CREATE : 0;
  if (readonly) flags |= DOCQ_OPEN_READONLY;
  int rc = docq_db_open(db, path, flags);
  if (rc) {
    char what[PATH_MAX + 32];
    snprintf(what, sizeof what, "cannot open index %s", path);
    free(path);
    int code = cli_fail(rc, what);
    return rc == DOCQ_EBUSY ? code : EXIT_NOINDEX;
  }
  free(path);
  return 0;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, at most U+10FFFF), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
  unsigned c = s[0];
  size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the terminating NUL */
  if (n == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))) return 0;
  if (n == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))) return 0;
  return n;
}

/* A JSON string. Bytes that are not UTF-8 (a file name in another encoding,
 * a question typed in a Latin-1 terminal) become U+FFFD, so the output stays
 * valid JSON. */
void cli_json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x80) {
      size_t n = utf8_seq((const unsigned char *)s);
      if (!n) fputs("\\ufffd", f);
      else { fwrite(s, 1, n, f); s += n - 1; }
      continue;
    }
    switch (c) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (c < 0x20) fprintf(f, "\\u%04x", c);
      else fputc(c, f);
    }
  }
  fputc('"', f);
}

void cli_put_text(FILE *f, const char *s)
{
  for (; s && *s; s++) {
    const unsigned char c = (unsigned char)*s;
    size_t n = c >= 0x80 ? utf8_seq((const unsigned char *)s) : 1;
    if (!n) fputs("\xef\xbf\xbd", f); /* U+FFFD */
    else if (c == 0xC2 && (unsigned char)s[1] < 0xA0) fprintf(f, "\\u%04x", (unsigned char)s[1]); /* C1: 0x9b is CSI */
    else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) fprintf(f, "\\x%02x", c);
    else fwrite(s, 1, n, f);
    if (n) s += n - 1;
  }
}

/* Bytes of the white space character at s (ASCII or Unicode's: U+0085,
 * U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 and
 * the BOM), 0 for anything else. */
static size_t space_at(const unsigned char *s)
{
  if (*s == ' ' || (*s >= '\t' && *s <= '\r')) return 1;
  if (s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0)) return 2;
  if (s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80) return 3;
  if (s[0] == 0xE2 && s[1] == 0x80 && ((s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF))
    return 3;
  if (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) return 3;
  if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) return 3;
  if (s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) return 3;
  return 0;
}

int cli_blank(const char *s)
{
  /* an ideographic space typed in a Chinese input method is as empty as ' ' */
  for (size_t k; (k = space_at((const unsigned char *)s)) > 0;) s += k;
  return *s == 0;
}

int cli_tty(void)
{
  return !g_cli.quiet && !g_cli.json && isatty(STDERR_FILENO);
}

/* A prompt of one batch (docq's default 512 tokens) is read in one step:
 * nothing to follow. */
#define PROMPT_SHOWN_ABOVE 512

double cli_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cli_prompt_progress(size_t done, size_t total, void *payload)
{
  cli_prompt_ui *ui = payload;
  const double now = cli_now();
  if (done == 0) ui->t0 = now;
  if (ui->tty && total > PROMPT_SHOWN_ABOVE && done < total) {
    char eta[48] = "";
    if (done > 0) snprintf(eta, sizeof eta, ", about %.0f s left", (now - ui->t0) / (double)done * (double)(total - done));
    fprintf(stderr, "\r\033[Kreading the prompt: %zu of %zu tokens (%d%%)%s", done, total,
            (int)(100.0 * (double)done / (double)total), eta);
    ui->shown = 1;
  }
  if (done == total) {
    cli_prompt_clear(ui);
    if (ui->echo) {
      fputs(ui->echo, stdout);
      fflush(stdout);
      ui->echo = NULL;
    }
  }
  return 0;
}

void cli_prompt_clear(cli_prompt_ui *ui)
{
  if (!ui->shown) return;
  fputs("\r\033[K", stderr);
  ui->shown = 0;
}

int cli_thinking(const char *utf8, size_t len, void *payload)
{
  cli_think_ui *ui = payload;
  const double now = cli_now();
  if (!ui->t0) ui->t0 = now;
  for (size_t i = 0; i < len; i++) ui->chars += ((unsigned char)utf8[i] & 0xC0) != 0x80;
  if (ui->show) {
    fwrite(utf8, 1, len, stderr);
  } else if (ui->tty && now - ui->last >= 0.25) {
    fprintf(stderr, "\r\033[Kthinking: %zu characters, %.0f s", ui->chars, now - ui->t0);
    ui->line = 1;
    ui->last = now;
  }
  return 0;
}

void cli_thinking_done(cli_think_ui *ui)
{
  if (ui->line) fputs("\r\033[K", stderr);
  else if (ui->show && ui->chars) fputs("\n\n", stderr);
  ui->line = 0;
  ui->chars = 0; /* shown once */
  ui->t0 = ui->last = 0;
}

/* Atomics, not volatile: the handler may run on any thread of the process
 * (the kernels' pool threads do not block signals), and lock-free atomics
 * are async-signal-safe. */
static _Atomic(docq_db *) g_sig_db;
static _Atomic(docq_ctx *) g_sig_ctx;
static atomic_int g_sig_count;

static void on_sigint(int sig)
{
  (void)sig;
  if (++g_sig_count > 1) {
    static const char msg[] = "\ndocq: interrupted again, exiting now\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(EXIT_INTERRUPTED);
  }
  docq_db *db = g_sig_db;
  docq_ctx *c = g_sig_ctx;
  if (db) docq_interrupt(db);
  if (c) docq_ctx_interrupt(c);
}

int cli_looks_like_option(const char *s)
{
  return s[0] == '-' && s[1] == '-' && ((s[2] >= 'a' && s[2] <= 'z') || (s[2] >= 'A' && s[2] <= 'Z'));
}

int cli_interrupted(void) { return g_sig_count > 0; }

void cli_interrupt_reset(void) { g_sig_count = 0; }

/* The SIGBUS messages, formatted before any fault: a handler may only write.
 * Several threads of the pool can fault at once; the first one writes and
 * exits, the others wait for that exit (their writes interleaved before). */
static char g_bus_err[1400], g_bus_json[1600];
static atomic_flag g_bus_once = ATOMIC_FLAG_INIT;

static void put_fd(int fd, const char *s)
{
  ssize_t w = write(fd, s, strlen(s)); /* strlen and write: async-signal-safe */
  (void)w;
}

static void on_sigbus(int sig)
{
  (void)sig;
  if (atomic_flag_test_and_set(&g_bus_once))
    for (;;) pause();
  if (g_bus_json[0]) put_fd(STDOUT_FILENO, g_bus_json);
  put_fd(STDERR_FILENO, g_bus_err);
  _exit(EXIT_FAIL);
}

void cli_on_sigbus(const char *path)
{
  static const char msg[] = "a file read in place was cut short while in use (SIGBUS): was the model file replaced "
                            "or truncated? Run the command again once the file is whole; an index keeps what was committed";
  char full[1300];
  size_t n = path ? strlen(path) : 0;
  if (n >= 1024) n = 0; /* too long to name: the message stays general */
  snprintf(full, sizeof full, "%.*s%s%s", (int)n, n ? path : "", n ? ": " : "", msg);
  snprintf(g_bus_err, sizeof g_bus_err, "\ndocq: %s\n", full);
  g_bus_json[0] = 0;
  FILE *f = g_cli.json ? fmemopen(g_bus_json, sizeof g_bus_json, "w") : NULL;
  if (f) {
    fputs("{\"error\":", f);
    cli_json_str(f, full);
    fprintf(f, ",\"code\":%d}\n", DOCQ_EIO);
    size_t len = fclose(f) == 0 ? strlen(g_bus_json) : 0;
    if (len < 2 || g_bus_json[len - 1] != '\n') g_bus_json[0] = 0; /* did not fit: no half object */
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigbus;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, NULL);
}

void cli_on_sigint_ctx(docq_ctx *c)
{
  g_sig_ctx = c;
  cli_on_sigint(g_sig_db);
}

void cli_db_free(docq_db *db)
{
  docq_db *expected = db;
  if (db) atomic_compare_exchange_strong(&g_sig_db, &expected, NULL);
  docq_db_free(db);
}

void cli_on_sigint(docq_db *db)
{
  g_sig_db = db;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int cli_keep_text(const char *s, size_t n, void *payload)
{
  cli_text *t = payload;
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 4096;
    while (cap < t->len + n + 1) cap *= 2;
    char *b = realloc(t->buf, cap);
    if (!b) { t->oom = 1; return 1; } /* stops generation */
    t->buf = b;
    t->cap = cap;
  }
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  t->buf[t->len] = 0;
  return 0;
}

const char *cli_stop_name(docq_stop s)
{
  switch (s) {
  case DOCQ_STOP_EOS: return "eos";
  case DOCQ_STOP_STRING: return "stop";
  case DOCQ_STOP_LENGTH: return "length";
  case DOCQ_STOP_CONTEXT: return "context";
  case DOCQ_STOP_CANCELED: return "interrupted";
  default: return "none";
  }
}

char *cli_read_file(const char *path, size_t *len)
{
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap + 1);
  while (b) {
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (n < cap) break;
    char *g = realloc(b, (cap *= 2) + 1);
    if (!g) {
      free(b);
      b = NULL;
      errno = ENOMEM;
    } else {
      b = g;
    }
  }
  int err = ferror(f) ? (errno ? errno : EIO) : 0;
  if (f != stdin) fclose(f);
  if (!b || err) {
    free(b);
    if (err) errno = err;
    return NULL;
  }
  b[n] = 0;
  *len = n;
  return b;
}
