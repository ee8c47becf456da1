/* docq index --watch: wait for changes under the indexed paths (Linux
 * inotify), so the command can run its incremental index again.
 *
 * Every folder under a path is watched, but those the walk skips anyway
 * (hidden ones, node_modules) and the index's own folder, whose writes would
 * otherwise wake the watcher after each of its own runs. A file given as a
 * path is watched through its folder. A folder created or moved in later is
 * watched from then on. What changed is not used: the walk and the index's
 * stored sizes and times find it, at the cost of one stat per file, so a
 * missed event (a full queue, too many folders for the system's limit) only
 * delays a change until the next event. Changes are gathered until the tree
 * has been quiet for a moment, so an editor's save (temp file, rename,
 * attribute change) or a copied folder gives one run, not dozens. Hidden
 * files (an editor's swap file) are skipped as the walk skips them, but
 * .docqignore, which changes what the walk takes. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/inotify.h>
#endif

#include "cli.h"

struct cli_watch {
  int fd;              /* inotify descriptor */
  char skip[PATH_MAX]; /* the index folder, never watched ("" when unknown) */
  char **dir_of;       /* folder of each watch descriptor (NULL: none) */
  unsigned char *files_only; /* per descriptor: the folder of a file given, not a tree: only that file counts */
  size_t cap;          /* entries of dir_of and files_only */
  size_t n_dirs;       /* folders watched */
  int full;            /* the system's limit on watches was reached */
  const char *const *roots; /* the paths given (the caller's, kept while watching) */
  char **files;        /* per root: the real path of a file given (NULL: a folder) */
  size_t n_roots;
  int lost;            /* a watch went away: a root may need watching again */
};

#ifdef __linux__

#define WATCH_MASK \
  (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

/* Folders the walk never enters: the same names as its rules (hidden folders, node_modules). */
static int skipped_name(const char *name)
{
  return name[0] == '.' || !strcmp(name, "node_modules");
}

static long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Watch one folder (a real path) and remember it by its descriptor. 0 when
 * it cannot be watched. */
static int add_one(cli_watch *w, const char *real, int files_only)
{
  int wd = inotify_add_watch(w->fd, real, WATCH_MASK | IN_ONLYDIR | IN_DONT_FOLLOW);
  if (wd < 0) {
    if (errno == ENOSPC) w->full = 1;
    return 0;
  }
  if ((size_t)wd >= w->cap) {
    size_t cap = w->cap ? w->cap : 64;
    while (cap <= (size_t)wd) cap *= 2;
    char **d = realloc(w->dir_of, cap * sizeof *d);
    if (!d) return 1; /* watched, but a folder made in it later is found only by the run */
    memset(d + w->cap, 0, (cap - w->cap) * sizeof *d);
    w->dir_of = d;
    unsigned char *f = realloc(w->files_only, cap);
    if (!f) return 1;
    memset(f + w->cap, 0, cap - w->cap);
    w->files_only = f;
    w->cap = cap;
  }
  w->files_only[wd] = w->dir_of[wd] ? w->files_only[wd] && files_only : (unsigned char)files_only;
  if (!w->dir_of[wd]) w->n_dirs++; /* else the same folder again (one descriptor per folder) */
  free(w->dir_of[wd]);
  w->dir_of[wd] = strdup(real);
  return 1;
}

/* Stop watching dir and the folders below it (it was moved away: their
 * watches would follow it out of the tree, or keep its old paths). */
static void forget_tree(cli_watch *w, const char *dir)
{
  const size_t n = strlen(dir);
  for (size_t wd = 0; wd < w->cap; wd++) {
    const char *d = w->dir_of[wd];
    if (!d || strncmp(d, dir, n) || (d[n] && d[n] != '/')) continue;
    inotify_rm_watch(w->fd, (int)wd); /* its IN_IGNORED finds the entry gone */
    free(w->dir_of[wd]);
    w->dir_of[wd] = NULL;
    w->n_dirs--;
  }
  w->lost = 1;
}

/* Watch dir and the folders below it (depth bounds the cost of a deep tree;
 * folder links are not followed, as the walk follows none). */
static void add_tree(cli_watch *w, const char *dir, int depth)
{
  char real[PATH_MAX];
  if (depth > 64 || !realpath(dir, real)) return;
  if (w->skip[0] && !strcmp(real, w->skip)) return;
  if (!add_one(w, real, 0)) return;
  DIR *d = opendir(real);
  if (!d) return;
  struct dirent *e;
  char sub[PATH_MAX];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || skipped_name(e->d_name)) continue;
    if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    if (snprintf(sub, sizeof sub, "%s/%s", real, e->d_name) >= (int)sizeof sub) continue;
    struct stat st;
    if (e->d_type == DT_UNKNOWN && (lstat(sub, &st) || !S_ISDIR(st.st_mode))) continue;
    add_tree(w, sub, depth + 1);
  }
  closedir(d);
}

/* 1 when the folder real is watched (tree: as a tree, not only for a file given in it). */
static int watched(const cli_watch *w, const char *real, int tree)
{
  for (size_t wd = 0; wd < w->cap; wd++)
    if (w->dir_of[wd] && !strcmp(w->dir_of[wd], real)) return !tree || !w->files_only[wd];
  return 0;
}

/* Watch one of the paths given: a folder and the folders below it, a file
 * through its folder. 1 when its folder was not watched and now is. */
static int watch_root(cli_watch *w, const char *path)
{
  struct stat st;
  char real[PATH_MAX];
  if (stat(path, &st)) return 0; /* gone: the run says so */
  if (S_ISDIR(st.st_mode)) {
    if (!realpath(path, real) || watched(w, real, 1)) return 0;
    add_tree(w, path, 0);
    return watched(w, real, 1);
  }
  char dir[PATH_MAX]; /* a file: its folder (a link's target's, which the run indexes) */
  if (!realpath(path, dir)) snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) dir[1] = 0;
  else *slash = 0;
  if (!realpath(dir, real) || watched(w, real, 0)) return 0;
  return add_one(w, real, 1);
}

/* 1 when name in the folder of a file given is one of the files given. */
static int a_file_given(const cli_watch *w, const char *dir, const char *name)
{
  const size_t n = strlen(dir);
  for (size_t i = 0; i < w->n_roots; i++) {
    const char *f = w->files ? w->files[i] : NULL;
    if (f && !strncmp(f, dir, n) && f[n] == '/' && !strcmp(f + n + 1, name)) return 1;
  }
  return 0;
}

/* A root folder deleted or moved away took its watches along, and nothing
 * watched sees it come back: look for it again. 1 when one is watched again. */
static int rewatch_roots(cli_watch *w)
{
  int back = 0;
  w->lost = 0;
  for (size_t i = 0; i < w->n_roots; i++) {
    back |= watch_root(w, w->roots[i]);
    struct stat st;
    if (stat(w->roots[i], &st)) w->lost = 1; /* still gone: look again later */
  }
  return back;
}

int cli_watch_open(cli_watch **out, const char *const *paths, size_t n, const char *index_dir)
{
  *out = NULL;
  cli_watch *w = calloc(1, sizeof *w);
  if (!w) return DOCQ_ENOMEM;
  w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->fd < 0) {
    int e = errno;
    free(w);
    return e == EMFILE ? DOCQ_EBUSY : DOCQ_EIO;
  }
  if (!index_dir || !realpath(index_dir, w->skip)) w->skip[0] = 0;
  w->roots = paths;
  w->n_roots = n;
  w->files = calloc(n ? n : 1, sizeof *w->files);
  for (size_t i = 0; w->files && i < n; i++) {
    struct stat st;
    char real[PATH_MAX];
    if (!stat(paths[i], &st) && !S_ISDIR(st.st_mode) && realpath(paths[i], real)) w->files[i] = strdup(real);
  }
  rewatch_roots(w);
  *out = w;
  return 0;
}

/* The folder watched under descriptor wd, NULL when none is (any more). */
static const char *folder_of(const cli_watch *w, int wd)
{
  return wd >= 0 && (size_t)wd < w->cap ? w->dir_of[wd] : NULL;
}

/* Read the queued events; watch folders that appeared. 1 when one of them
 * may change what is indexed, 0 when none did, -1 on a read error. */
static int drain(cli_watch *w)
{
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  int changed = 0;
  for (;;) {
    ssize_t len = read(w->fd, buf, sizeof buf);
    if (len < 0) return errno == EAGAIN || errno == EINTR ? changed : -1;
    if (len == 0) return changed;
    for (char *p = buf; p < buf + len;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) { /* lost events: run anyway, and watch the folders made meanwhile */
        changed = 1;
        for (size_t i = 0; i < w->n_roots; i++) {
          struct stat st;
          if (!stat(w->roots[i], &st) && S_ISDIR(st.st_mode)) add_tree(w, w->roots[i], 0);
        }
        continue;
      }
      /* A folder moved away (out of the tree, or to a new name, which
       * IN_MOVED_TO then watches afresh): the watches of its subtree go too.
       * Its IN_MOVE_SELF comes after the IN_MOVED_TO that watched it again,
       * under the same inode, so that watch must not be removed then. */
      if ((ev->mask & IN_MOVED_FROM) && (ev->mask & IN_ISDIR) && folder_of(w, ev->wd) && ev->len) {
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", folder_of(w, ev->wd), ev->name) < (int)sizeof sub) forget_tree(w, sub);
      }
      if (ev->mask & IN_MOVE_SELF) { /* its path is stale (a root moved); IN_IGNORED follows */
        char *dir = folder_of(w, ev->wd) ? strdup(folder_of(w, ev->wd)) : NULL; /* forget_tree frees the entry */
        if (dir) forget_tree(w, dir);
        else inotify_rm_watch(w->fd, ev->wd);
        free(dir);
      }
      if (ev->mask & IN_IGNORED) { /* a watch removed: its folder is gone */
        if (folder_of(w, ev->wd)) {
          free(w->dir_of[ev->wd]);
          w->dir_of[ev->wd] = NULL;
          w->n_dirs--;
          w->lost = 1;
        }
        continue;
      }
      const char *name = ev->len ? ev->name : "";
      /* hidden files never reach the index (editors' swap files: .x.swp), but
       * .docqignore says what else does not */
      if (name[0] == '.' && strcmp(name, ".docqignore")) continue;
      /* the folder of a file given: its other files and folders are not indexed */
      const char *dir = folder_of(w, ev->wd);
      if (dir && w->files_only[ev->wd]) {
        if (*name && !a_file_given(w, dir, name)) continue;
        changed = 1;
        continue;
      }
      changed = 1;
      /* IN_ATTRIB: a folder that could not be watched may be readable now
       * (it also comes for a folder whose link count changed, one made in
       * it: a folder watched already is not walked again) */
      char sub[PATH_MAX];
      if ((ev->mask & (IN_CREATE | IN_MOVED_TO | IN_ATTRIB)) && (ev->mask & IN_ISDIR) && !skipped_name(name) && dir &&
          snprintf(sub, sizeof sub, "%s/%s", dir, name) < (int)sizeof sub &&
          !((ev->mask & IN_ATTRIB) && watched(w, sub, 1)))
        add_tree(w, sub, 0);
    }
  }
}

int cli_watch_wait(cli_watch *w, int quiet_ms, int max_ms)
{
  struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
  for (;;) { /* until something changes */
    if (cli_interrupted()) return 0;
    int r = poll(&pfd, 1, 1000);
    if (r < 0 && errno != EINTR) return -1;
    if (r == 0 && w->lost && rewatch_roots(w)) break; /* a root folder is back */
    if (r <= 0) continue;
    int d = drain(w);
    if (d < 0) return -1;
    if (d) break;
  }
  const long t0 = now_ms();
  for (;;) { /* then until quiet for quiet_ms, at most max_ms in all */
    if (cli_interrupted()) return 0;
    long left = max_ms - (now_ms() - t0);
    if (left <= 0) return 1;
    int r = poll(&pfd, 1, (int)(left < quiet_ms ? left : quiet_ms));
    if (r < 0 && errno != EINTR) return -1;
    if (r == 0) return 1;
    if (r > 0 && drain(w) < 0) return -1;
  }
}

#else /* no inotify */

int cli_watch_open(cli_watch **out, const char *const *paths, size_t n, const char *index_dir)
{
  (void)paths; (void)n; (void)index_dir;
  *out = NULL;
  return DOCQ_EUNSUPPORTED;
}

int cli_watch_wait(cli_watch *w, int quiet_ms, int max_ms)
{
  (void)w; (void)quiet_ms; (void)max_ms;
  return -1;
}

#endif

size_t cli_watch_folders(const cli_watch *w) { return w ? w->n_dirs : 0; }
int cli_watch_full(const cli_watch *w) { return w ? w->full : 0; }

void cli_watch_free(cli_watch *w)
{
  if (!w) return;
#ifdef __linux__
  close(w->fd);
#endif
  for (size_t i = 0; i < w->cap; i++) free(w->dir_of[i]);
  free(w->dir_of);
  free(w->files_only);
  for (size_t i = 0; w->files && i < w->n_roots; i++) free(w->files[i]);
  free(w->files);
  free(w);
}
