/* docq index, docq status, docq rm. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- docq index ------------------------------------------------------------ */

typedef struct index_ui {
  int tty;
  double t0;
  int bar_shown;
  FILE *skips;      /* where one-line skip reasons go (stderr) */
  unsigned long n_skip_lines;
  int too_large;    /* a file was skipped for its size: say how to take it */
  int collect;      /* a --watch run after the first: skipped files are listed after the run, if it says anything */
  /* JSON (and collect): the skipped and repaired files */
  struct file_note { char *path, *reason; int repaired; } *notes;
  size_t n_notes, cap_notes;
} index_ui;

static void clear_bar(index_ui *ui)
{
  if (ui->bar_shown) { fputs("\r\033[K", stderr); ui->bar_shown = 0; }
}

static int on_progress(const docq_progress *p, void *payload)
{
  index_ui *ui = payload;
  if (!ui->tty) return 0;
  double dt = cli_now() - ui->t0;
  if (p->stage == DOCQ_STAGE_SCAN) {
    fprintf(stderr, "\r\033[Kscanning... %llu files", (unsigned long long)p->files_total);
  } else if (p->stage == DOCQ_STAGE_DONE) {
    clear_bar(ui);
    return 0;
  } else {
    double frac = p->bytes_total ? (double)p->bytes_done / p->bytes_total : 0;
    int w = 24, fill = (int)(frac * w);
    char bar[32];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    double mbs = dt > 0 ? p->bytes_done / 1048576.0 / dt : 0;
    double cps = dt > 0 ? p->chunks_done / dt : 0;
    double eta = frac > 0.01 ? dt * (1 - frac) / frac : 0;
    fprintf(stderr, "\r\033[K[%s] %llu/%llu files  %.1f/%.1f MB  %.1f MB/s  %.0f chunks/s  ETA %.0fs", bar,
            (unsigned long long)p->files_done, (unsigned long long)p->files_total, p->bytes_done / 1048576.0,
            p->bytes_total / 1048576.0, mbs, cps, eta);
  }
  ui->bar_shown = 1;
  return 0;
}

/* The reason alone: loader messages name the file ("PATH: skipped: binary
 * file", "PATH: no such file"), the walker's do not ("broken symbolic link");
 * both are printed, and listed in JSON, as the walker's. */
static const char *bare_reason(const char *path, const char *reason)
{
  if (!reason) return "";
  size_t pl = strlen(path);
  if (!strncmp(reason, path, pl) && !strncmp(reason + pl, ": ", 2)) reason += pl + 2;
  if (!strncmp(reason, "skipped: ", 9)) reason += 9;
  return reason;
}

static void on_file(const char *path, docq_file_status s, const char *reason, void *payload)
{
  index_ui *ui = payload;
  if (s == DOCQ_FILE_REMOVED && reason && !g_cli.json) {
    /* removed though the file is still there (excluded now): always said */
    clear_bar(ui);
    fprintf(stderr, "removed: %s: %s\n", path, reason);
    ui->n_skip_lines++;
    return;
  }
  if (s != DOCQ_FILE_SKIPPED && s != DOCQ_FILE_REPAIRED) {
    if (g_cli.verbose && !g_cli.json) {
      static const char *names[] = {"added", "updated", "unchanged", "removed", "renamed", "skipped", "repaired"};
      clear_bar(ui);
      fprintf(stderr, "%-9s %s\n", names[s], path);
    }
    return;
  }
  const char *why = bare_reason(path, reason);
  if (!strncmp(why, "too large", 9)) ui->too_large = 1;
  if (g_cli.json || ui->collect) {
    if (ui->n_notes == ui->cap_notes) {
      size_t cap = ui->cap_notes ? ui->cap_notes * 2 : 16;
      struct file_note *a = realloc(ui->notes, cap * sizeof *a);
      if (!a) return;
      ui->notes = a;
      ui->cap_notes = cap;
    }
    struct file_note *f = &ui->notes[ui->n_notes];
    f->path = strdup(path);
    f->reason = strdup(why);
    f->repaired = s == DOCQ_FILE_REPAIRED;
    if (!f->path || !f->reason) { free(f->path); free(f->reason); return; }
    ui->n_notes++;
    return;
  }
  clear_bar(ui);
  fprintf(stderr, "%s %s: %s\n", s == DOCQ_FILE_SKIPPED ? "skipped:" : "repaired:", path, why);
  ui->n_skip_lines++;
}

/* Print the JSON list `name` of the collected files that were (not) repaired. */
static void print_notes(const index_ui *ui, const char *name, int repaired)
{
  int first = 1;
  printf(",\"%s\":[", name);
  for (size_t i = 0; i < ui->n_notes; i++) {
    if (ui->notes[i].repaired != repaired) continue;
    printf("%s{\"path\":", first ? "" : ",");
    cli_json_str(stdout, ui->notes[i].path);
    printf(",\"reason\":");
    cli_json_str(stdout, ui->notes[i].reason);
    printf("}");
    first = 0;
  }
  printf("]");
}

/* The --json record of a run: its counts, skipped and repaired files (ui:
 * NULL for none), and with rc < 0 "ok": false, the error and its code. */
static void print_record(int rc, const char *msg, const docq_index_stats *st, const index_ui *ui)
{
  static const index_ui none;
  if (!ui) ui = &none;
  printf("{\"ok\":%s,\"added\":%llu,\"updated\":%llu,\"unchanged\":%llu,\"removed\":%llu,\"renamed\":%llu,"
         "\"skipped\":%llu,\"repaired\":%llu,\"chunks_added\":%llu,\"bytes_read\":%llu,\"seconds\":%.3f",
         rc ? "false" : "true", (unsigned long long)st->added, (unsigned long long)st->updated,
         (unsigned long long)st->unchanged, (unsigned long long)st->removed, (unsigned long long)st->renamed,
         (unsigned long long)st->skipped, (unsigned long long)st->repaired, (unsigned long long)st->chunks_added,
         (unsigned long long)st->bytes_read, st->seconds);
  print_notes(ui, "skips", 0);
  print_notes(ui, "repairs", 1);
  if (rc) { /* the record is the error object too: error and code */
    printf(",\"error\":");
    cli_json_str(stdout, msg);
    printf(",\"code\":%d", rc);
  }
  printf("}\n");
}

/* A failure before the run (a bad command line, an index that cannot be
 * opened, an embedder refused): the same record, nothing counted, so a
 * script reads "ok" whatever went wrong. */
static void print_failed_record(const char *msg, int code)
{
  const docq_index_stats none = {0};
  print_record(code, msg, &none, NULL);
}

/* The canonical form of p, which may not exist yet: its folder's real path
 * and its last name. 0 when even the folder cannot be resolved. */
static int resolve(const char *p, char out[PATH_MAX])
{
  if (realpath(p, out)) return 1;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", p);
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') dir[--n] = 0;
  char *slash = strrchr(dir, '/');
  const char *base = slash ? slash + 1 : dir, *folder = ".";
  if (slash == dir) folder = "/";
  else if (slash) { *slash = 0; folder = dir; }
  char parent[PATH_MAX];
  if (!realpath(folder, parent)) return 0;
  return snprintf(out, PATH_MAX, "%s/%s", strcmp(parent, "/") ? parent : "", base) < PATH_MAX;
}

/* 1 when the index folder would be one of the folders given to index: the
 * index would be written among the documents, and the walk, which skips
 * index folders, would then skip the whole folder. */
static int index_is_a_root(const char *db, const char *const *paths, size_t n, const char **which)
{
  char d[PATH_MAX], p[PATH_MAX];
  if (!db || !resolve(db, d)) return 0;
  for (size_t i = 0; i < n; i++)
    if (realpath(paths[i], p) && !strcmp(p, d)) { *which = paths[i]; return 1; }
  return 0;
}

/* The first of paths that does not exist, with its errno in *err, said in
 * msg as an argument that does not exist (the run stops at it, before any
 * file); NULL when they all exist. */
static const char *missing_arg(const char *const *paths, size_t n, char *msg, size_t cap)
{
  char p[PATH_MAX];
  for (size_t i = 0; i < n; i++) {
    if (realpath(paths[i], p)) continue;
    snprintf(msg, cap, "the argument %s does not exist (%s); nothing was indexed", paths[i], strerror(errno));
    return paths[i];
  }
  return NULL;
}

static void index_help(void)
{
  printf("usage: docq index [options] PATH...\n"
         "\n"
         "Index files and folders (recursively). Re-running only redoes what changed:\n"
         "unchanged files are not read, renamed files are not re-embedded, deleted files\n"
         "are removed. Skips .git, hidden folders, node_modules and .docqignore patterns.\n"
         "Binary, unreadable and too-large files are skipped with a reason. A PATH that\n"
         "does not exist stops the run before any file is read (and no index is created).\n"
         "\n"
         "Options:\n"
         "  --db DIR            index folder (default: ./.docq, created if needed)\n"
         "  --max-size MB       skip files larger than this (above 0, default 64)\n"
         "  --chunk-tokens N    target chunk size in tokens (new index only)\n"
         "  --chunk-overlap N   overlap between chunks in tokens (new index only)\n"
         "  --keep-missing      do not remove documents whose files are gone\n"
         "  --watch             after indexing, keep watching the paths and index what changes\n"
         "                      (new, edited, deleted, renamed files) until Ctrl-C; questions\n"
         "                      work meanwhile. Prints a line (a --json record) per run that\n"
         "                      changed something. Exit 130 when stopped (Linux only)\n"
         "  --embed-model FILE  embed with a GGUF encoder (all-MiniLM, bge, e5, gte, nomic);\n"
         "                      recorded in the index, used by search and ask automatically\n"
         "  --builtin-embedder  switch back to the built-in embedder\n"
         "  --reembed           allowed to switch an index that has vectors: re-encodes the\n"
         "                      stored chunks (documents are not reloaded), swaps atomically\n"
         "  --json              print a JSON summary: {\"ok\", \"added\", \"updated\", \"unchanged\",\n"
         "                      \"removed\", \"renamed\", \"skipped\", \"repaired\" (file counts),\n"
         "                      \"chunks_added\", \"bytes_read\", \"seconds\", \"skips\": the skipped\n"
         "                      files [{\"path\", \"reason\"}] (as many as \"skipped\"), \"repairs\":\n"
         "                      files indexed with invalid UTF-8 replaced [{\"path\", \"reason\"}],\n"
         "                      \"error\" and \"code\" when ok is false, whatever failed, the\n"
         "                      message on stderr too}\n"
         "  --verbose           list every file with what happened to it\n"
         "  --quiet             no progress bar\n"
         "\n"
         "Exit codes: 0 ok, 1 failed, 2 usage, 3 cannot open index, 4 index busy, 130 interrupted.\n");
}

static void free_notes(index_ui *ui)
{
  for (size_t i = 0; i < ui->n_notes; i++) { free(ui->notes[i].path); free(ui->notes[i].reason); }
  free(ui->notes);
}

/* "[HH:MM:SS] " of the local time, before each line of a --watch run. */
static void print_clock(FILE *f)
{
  char b[16];
  time_t t = time(NULL);
  struct tm tm;
  if (localtime_r(&t, &tm) && strftime(b, sizeof b, "%H:%M:%S", &tm)) fprintf(f, "[%s] ", b);
}

/* One indexing run and its report (the summary line or --json record, the
 * skipped files, the error): the exit code. later: a run of --watch after the
 * first, which reports only what changed (2: and not that the index is busy). */
static int run_once(docq_db *db, const char **paths, size_t n_paths, docq_index_options *o, const char *missing,
                    const char *missing_msg, int later)
{
  index_ui ui = {0};
  ui.tty = cli_tty();
  ui.t0 = cli_now();
  ui.collect = later && !g_cli.json;
  o->progress = on_progress;
  o->on_file = on_file;
  o->payload = &ui;
  docq_index_stats st;
  int rc = docq_index_paths(db, paths, n_paths, o, &st);
  clear_bar(&ui);
  const char *m = docq_error_last()->message;
  if (rc == DOCQ_ENOTFOUND && missing && m && !strstr(m, "still in the index")) m = missing_msg;
  /* a --watch run also speaks when the number of skipped files changed (a new binary file) */
  static uint64_t last_skipped;
  const int skips_changed = later && st.skipped != last_skipped;
  last_skipped = st.skipped;
  if (later == 2 && rc == DOCQ_EBUSY) { /* --watch said it waits for the other writer */
    free_notes(&ui);
    return EXIT_BUSY;
  }
  /* a run of --watch speaks only when something changed or failed */
  const int news = st.added || st.updated || st.removed || st.renamed || st.repaired || skips_changed || rc;
  if (later && !news) {
    /* nothing to say */
  } else if (g_cli.json) {
    print_record(rc, m && *m ? m : docq_strerror(rc), &st, &ui);
    fflush(stdout);
  } else if (rc == 0 || (!g_cli.quiet && (st.added || st.updated || st.unchanged || st.removed || st.renamed || st.skipped))) {
    if (skips_changed) /* all of them: which are new is not known */
      for (size_t i = 0; i < ui.n_notes; i++)
        fprintf(stderr, "%s %s: %s\n", ui.notes[i].repaired ? "repaired:" : "skipped:", ui.notes[i].path, ui.notes[i].reason);
    if (later) print_clock(rc ? stderr : stdout);
    /* A run that failed before it looked at a file (a busy or read-only
     * index) has no counts worth a line: only its error is printed. */
    char repaired[64] = "";
    if (st.repaired) snprintf(repaired, sizeof repaired, ", %llu with invalid UTF-8 repaired", (unsigned long long)st.repaired);
    fprintf(rc ? stderr : stdout,
            "%llu added, %llu updated, %llu unchanged, %llu removed, %llu renamed, %llu skipped%s in %.2fs "
            "(%llu chunks)\n",
            (unsigned long long)st.added, (unsigned long long)st.updated, (unsigned long long)st.unchanged,
            (unsigned long long)st.removed, (unsigned long long)st.renamed, (unsigned long long)st.skipped,
            repaired, st.seconds, (unsigned long long)st.chunks_added);
    fflush(stdout);
    if (ui.too_large) fprintf(stderr, "(to index files over the size limit, raise it: docq index --max-size MB)\n");
  }
  free_notes(&ui);
  int ret = 0;
  if (rc) {
    ret = rc == DOCQ_ECANCELED ? EXIT_INTERRUPTED : rc == DOCQ_EBUSY ? EXIT_BUSY : EXIT_FAIL;
    /* with --json too: the record is on stdout, the message on stderr, as every command does */
    if (rc == DOCQ_ECANCELED)
      fprintf(stderr, "docq index: interrupted; everything committed so far is kept, run it again to finish\n");
    else {
      fputs("docq index: ", stderr);
      cli_put_text(stderr, m && *m ? m : docq_strerror(rc));
      fputc('\n', stderr);
    }
    if (rc == DOCQ_EIO)
      fprintf(stderr, "docq index: everything committed before this is kept; %s and run it again to finish\n",
              m && strstr(m, "no space left") ? "free some space (or choose another --db folder)"
                                              : "fix the problem above");
  }
  return ret;
}

/* docq index --watch, after the first run: wait for changes under paths and
 * index again, until Ctrl-C (exit 130). The index is opened for each run and
 * closed after it, so that other docq processes may write it in between (rm,
 * another index); while one does, the run is tried again every 2 seconds.
 * Questions are never blocked: readers work during a run. A run that fails
 * (a full disk) is reported and the watch goes on. A path that is gone is
 * left out of the runs (said once), so its documents are kept and the other
 * paths are still indexed; watch.c watches it again when it is back. */
static int watch_loop(const char **paths, size_t n_paths, docq_index_options *o)
{
  char *db_path = cli_find_db(1);
  cli_watch *w = NULL;
  int rc = cli_watch_open(&w, paths, n_paths, db_path);
  free(db_path);
  if (rc == DOCQ_EUNSUPPORTED) return cli_error(rc, "index", "--watch needs Linux's inotify, which this system lacks");
  if (rc) return cli_error(rc, "index", "cannot watch for changes (%s)", strerror(errno));
  if (!g_cli.quiet)
    fprintf(stderr, "watching %zu folder%s for changes (Ctrl-C stops)\n", cli_watch_folders(w),
            cli_watch_folders(w) == 1 ? "" : "s");
  if (cli_watch_full(w))
    fprintf(stderr, "docq index: some folders are not watched: the system's limit on inotify watches is reached "
                    "(raise fs.inotify.max_user_watches); their changes are indexed with the next change seen\n");
  int ret = 0, busy = 0;
  /* the paths there now; a gone one (an unmounted disk, a checkout in
   * progress) does not stop the others, and its documents are kept */
  const char **live = calloc(n_paths, sizeof *live);
  char *gone = calloc(n_paths, 1); /* what was last said of each path */
  if (!live || !gone) { free(live); free(gone); cli_watch_free(w); return cli_error(DOCQ_ENOMEM, "index", "out of memory"); }
  for (;;) {
    if (busy) { /* the other writer may be done in a moment */
      for (int i = 0; i < 20 && !cli_interrupted(); i++) usleep(100000);
      if (cli_interrupted()) break;
    } else {
      int r = cli_watch_wait(w, 500, 5000);
      if (r == 0) break;
      if (r < 0) {
        ret = cli_error(DOCQ_EIO, "index", "watching for changes failed (%s)", strerror(errno));
        break;
      }
    }
    size_t n_live = 0;
    for (size_t i = 0; i < n_paths; i++) {
      struct stat st;
      const char now_gone = stat(paths[i], &st) != 0;
      if (now_gone != gone[i] && !g_cli.quiet) {
        print_clock(stderr);
        if (now_gone)
          fprintf(stderr, "docq index: %s is gone; its documents are kept until it is back (docq rm removes them)\n",
                  paths[i]);
        else
          fprintf(stderr, "docq index: %s is back\n", paths[i]);
      }
      gone[i] = now_gone;
      if (!now_gone) live[n_live++] = paths[i];
    }
    if (!n_live) { busy = 0; continue; } /* nothing to index until one is back */
    docq_db *db = NULL;
    int ec = cli_open_db(&db, 1, 0);
    if (ec) { ret = ec; break; } /* the index itself is gone or damaged: nothing to watch for */
    cli_on_sigint(db);
    int r = run_once(db, live, n_live, o, NULL, NULL, busy ? 2 : 1);
    cli_db_free(db);
    if (r == EXIT_INTERRUPTED) { ret = r; break; } /* run_once said what was kept */
    if (r == EXIT_BUSY && !busy && !g_cli.quiet)
      fprintf(stderr, "docq index: waiting for the other process writing the index\n");
    busy = r == EXIT_BUSY;
  }
  free(live);
  free(gone);
  cli_watch_free(w);
  if (ret) return ret;
  if (!g_cli.quiet) fprintf(stderr, "docq index: stopped watching\n");
  return EXIT_INTERRUPTED;
}

int cmd_index(int argc, char **argv)
{
  docq_index_options o;
  docq_index_options_init(&o, DOCQ_INDEX_OPTIONS_VERSION);
  const char **paths = calloc((size_t)argc, sizeof *paths);
  size_t n_paths = 0;
  const char *embed_model = NULL;
  int reembed = 0, builtin = 0, watch = 0;
  if (!paths) return EXIT_FAIL;
  cli_set_json_error(print_failed_record);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int c = cli_common_opt(argc, argv, &i);
    if (c < 0) { free(paths); return EXIT_USAGE; }
    if (c) continue;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { index_help(); free(paths); return 0; }
    if (!strcmp(a, "--keep-missing")) { o.remove_missing = 0; continue; }
    if (!strcmp(a, "--reembed")) { reembed = 1; continue; }
    if (!strcmp(a, "--watch")) { watch = 1; continue; }
    if (!strcmp(a, "--builtin-embedder")) { builtin = 1; continue; }
    if (!strcmp(a, "--embed-model")) {
      if (i + 1 >= argc) { free(paths); return cli_usage("index", "--embed-model needs a GGUF file"); }
      embed_model = argv[++i];
      continue;
    }
    if (!strcmp(a, "--max-size") || !strcmp(a, "--chunk-tokens") || !strcmp(a, "--chunk-overlap")) {
      if (i + 1 >= argc) { free(paths); return cli_usage("index", "%s needs a number", a); }
      const char *v = argv[++i];
      float mb = 0;
      int n = 0;
      /* at most 1 TiB; chunks of 1 to 1,000,000 tokens (overlap 0 up to one less) */
      int bad = !strcmp(a, "--max-size")       ? cli_float_arg("index", a, v, 0, 1048576, &mb)
                : !strcmp(a, "--chunk-tokens") ? cli_int_arg("index", a, v, 1, 1000000, &n)
                                               : cli_int_arg("index", a, v, 0, 999999, &n);
      if (bad) { free(paths); return EXIT_USAGE; }
      if (!strcmp(a, "--max-size")) {
        o.max_file_bytes = (uint64_t)((double)mb * 1048576.0);
        if (!o.max_file_bytes) { /* 0 bytes would mean the library's default, 64 MiB: not what "0" says */
          free(paths);
          return cli_usage("index", "--max-size wants a number of MB above 0 (at most 1048576; 0.001 is about 1 KB): %s", v);
        }
      } else if (!strcmp(a, "--chunk-tokens")) {
        o.chunk_tokens = (unsigned)n;
      } else {
        o.chunk_overlap = (unsigned)n;
      }
      continue;
    }
    if (a[0] == '-' && a[1]) { free(paths); return cli_usage("index", "unknown option '%s'", a); }
    paths[n_paths++] = a;
  }
  if (!n_paths && !embed_model && !builtin) { free(paths); return cli_usage("index", "give at least one file or folder"); }
  if (watch && !n_paths) { free(paths); return cli_usage("index", "--watch needs the files or folders to watch"); }

  char *db_path = cli_find_db(1);
  const char *root = NULL;
  const int clash = index_is_a_root(db_path, paths, n_paths, &root);
  char missing_msg[PATH_MAX + 128], probe[PATH_MAX + 16];
  const char *missing = missing_arg(paths, n_paths, missing_msg, sizeof missing_msg);
  snprintf(probe, sizeof probe, "%s/docq.sqlite", db_path ? db_path : ".docq");
  const int is_new = access(probe, F_OK) != 0;
  free(db_path);
  if (clash) {
    free(paths);
    return cli_usage("index", "the index folder is %s itself: give --db another folder (the index is kept apart from the "
                              "documents, default ./.docq)", root);
  }
  /* no index is created for a run that cannot start; an existing one is
   * opened, to say so when the missing file is still in it */
  if (missing && is_new) {
    free(paths);
    return cli_error(DOCQ_ENOTFOUND, "index", "%s", missing_msg);
  }
  docq_db *db = NULL;
  int ec = cli_open_db(&db, 1, 0);
  if (ec) { free(paths); return ec; }
  cli_on_sigint(db);
  if (embed_model || builtin) {
    if (reembed && !g_cli.quiet && !g_cli.json) fprintf(stderr, "re-encoding the stored chunks...\n");
    int erc = docq_db_set_embedder(db, embed_model, reembed ? DOCQ_REEMBED : 0);
    if (erc) {
      /* re-encoding is one transaction: an interrupted one leaves the index as it was */
      int ec2 = erc == DOCQ_ECANCELED
                    ? cli_error(erc, "index", "interrupted while %s; the index is as it was: run it again to finish",
                                reembed ? "re-encoding the stored chunks" : "changing the embedder")
                    : cli_fail(erc, "embedder");
      cli_db_free(db); free(paths); return ec2;
    }
    if (!n_paths) {
      if (g_cli.json) {
        const docq_index_stats none = {0};
        print_record(0, NULL, &none, NULL);
      }
      cli_db_free(db); free(paths); return 0;
    }
  } else if (reembed) {
    cli_db_free(db); free(paths);
    return cli_usage("index", "--reembed goes with --embed-model FILE or --builtin-embedder");
  }
  int ret = run_once(db, paths, n_paths, &o, missing, missing_msg, 0);
  cli_db_free(db);
  if (watch && ret == 0) ret = watch_loop(paths, n_paths, &o);
  free(paths);
  return ret;
}

/* ---- docq status ------------------------------------------------------------- */

int cmd_status(int argc, char **argv)
{
  int check = 0;
  for (int i = 1; i < argc; i++) {
    int c = cli_common_opt(argc, argv, &i);
    if (c < 0) return EXIT_USAGE;
    if (c) continue;
    if (!strcmp(argv[i], "--check")) { check = 1; continue; }
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: docq status [--db DIR] [--json] [--check]\n\n"
             "Show the index: documents, chunks, vectors, sizes, embedder, chunking, last run,\n"
             "answer model (docq config; a warning on stderr when its file cannot be read).\n"
             "--check also verifies that full text, vectors and chunks agree (exit 1 if not).\n"
             "Exit codes: 0 ok, 1 failed, 3 no index.\n");
      return 0;
    }
    return cli_usage("status", "unknown argument '%s'", argv[i]);
  }
  docq_db *db = NULL;
  int ec = cli_open_db(&db, 0, 1);
  if (ec) return ec;
  docq_stats s;
  int rc = docq_stat(db, &s);
  if (rc) { ec = cli_fail(rc, "status"); cli_db_free(db); return ec; }
  if (check) {
    rc = docq_check(db);
    if (rc) { ec = cli_fail(rc, "check failed"); cli_db_free(db); return ec; }
    if (!g_cli.json) printf("check        ok: chunks, full text and vectors agree\n");
  }
  char answer_model[PATH_MAX];
  if ((rc = docq_db_answer_model(db, answer_model, sizeof answer_model))) {
    ec = cli_fail(rc, "status");
    cli_db_free(db);
    return ec;
  }
  char when[64] = "never";
  if (s.last_run) {
    time_t t = (time_t)s.last_run;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
  }
  if (g_cli.json) {
    printf("{\"documents\":%llu,\"chunks\":%llu,\"vectors\":%llu,\"text_bytes\":%llu,\"index_bytes\":%llu,"
           "\"dim\":%u,\"embedder\":",
           (unsigned long long)s.documents, (unsigned long long)s.chunks, (unsigned long long)s.vectors,
           (unsigned long long)s.text_bytes, (unsigned long long)s.index_bytes, s.dim);
    cli_json_str(stdout, s.embedder);
    printf(",\"vector_index\":");
    cli_json_str(stdout, s.vector_index);
    printf(",\"chunk_tokens\":%u,\"chunk_overlap\":%u,\"format_version\":%u,\"last_run\":%lld,\"answer_model\":",
           s.chunk_tokens, s.chunk_overlap, s.format_version, (long long)s.last_run);
    if (*answer_model) cli_json_str(stdout, answer_model);
    else printf("null");
    printf("}\n");
  } else {
    printf("documents    %llu\n", (unsigned long long)s.documents);
    printf("chunks       %llu (%u tokens target, %u overlap)\n", (unsigned long long)s.chunks, s.chunk_tokens, s.chunk_overlap);
    printf("vectors      %llu (dim %u, %s)\n", (unsigned long long)s.vectors, s.dim, s.vector_index);
    printf("embedder     %s\n", s.embedder);
    printf("text         %.1f MB\n", s.text_bytes / 1048576.0);
    printf("index size   %.1f MB (%.2fx the text)\n", s.index_bytes / 1048576.0,
           s.text_bytes ? (double)s.index_bytes / s.text_bytes : 0.0);
    printf("last run     %s\n", when);
    printf("answer model %s\n", *answer_model ? answer_model : "none (docq config model FILE sets one)");
  }
  cli_db_free(db);
  cli_answer_model_gone("status", answer_model);
  return 0;
}

/* ---- docq rm ----------------------------------------------------------------------- */

int cmd_rm(int argc, char **argv)
{
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    int c = cli_common_opt(argc, argv, &i);
    if (c < 0) return EXIT_USAGE;
    if (c) continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: docq rm [--db DIR] [--json] PATH\n\n"
             "Remove a document (by path or in-memory id) or every document under a folder,\n"
             "with its chunks and vectors. The files themselves are not touched.\n"
             "Exit codes: 0 ok, 1 failed (e.g. not in the index), 3 no index, 4 busy.\n");
      return 0;
    }
    if (path) return cli_usage("rm", "one path at a time");
    path = argv[i];
  }
  if (!path) return cli_usage("rm", "which path?");
  docq_db *db = NULL;
  int ec = cli_open_db(&db, 0, 0);
  if (ec) return ec;
  cli_on_sigint(db);
  uint64_t n = 0;
  int rc = docq_remove(db, path, &n);
  if (rc) { ec = cli_fail(rc, "rm"); cli_db_free(db); return ec; }
  if (g_cli.json) printf("{\"removed\":%llu}\n", (unsigned long long)n);
  else printf("removed %llu document%s\n", (unsigned long long)n, n == 1 ? "" : "s");
  cli_db_free(db);
  return 0;
}
