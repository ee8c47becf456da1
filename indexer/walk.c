/* Walking folders for indexing, and .docqignore matching (see walk.h).
 *
 * Invariants: names are visited in byte-wise sorted order per folder, so two
 * walks of the same tree report the same sequence; symlinked folders are
 * never entered (no loops, no escaping the root), symlinked files are
 * reported with their target's size and mtime; every .docqignore applies to
 * its folder's subtree, deeper files first, last matching line wins (git's
 * rules), and an ignored folder is not entered, so nothing below it can be
 * re-included. */
#include "indexer/walk.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/mem.h"

#define DQ_WALK_MAX_DEPTH 256
#define DQ_IGNORE_MAX_BYTES (1u << 20)

/* ---- gitignore patterns ------------------------------------------------------------ */

typedef struct rule {
  char *pat;
  int neg, dir_only, anchored;
} rule;

struct dq_ignore {
  rule *r;
  size_t n;
};

/* [...] class at p (p[0] == '['); *end gets the index after ']'. -1 when the
 * class is malformed (then '[' is literal). */
static int class_match(const char *p, unsigned char c, size_t *end)
{
  size_t i = 1;
  int neg = 0, hit = 0;
  if (p[i] == '!' || p[i] == '^') { neg = 1; i++; }
  size_t first = i;
  for (; p[i] && (p[i] != ']' || i == first); i++) {
    unsigned char lo = (unsigned char)p[i];
    if (lo == '\\' && p[i + 1]) lo = (unsigned char)p[++i];
    if (p[i + 1] == '-' && p[i + 2] && p[i + 2] != ']') {
      unsigned char hi = (unsigned char)p[i + 2];
      if (hi == '\\' && p[i + 3]) { hi = (unsigned char)p[i + 3]; i++; }
      if (c >= lo && c <= hi) hit = 1;
      i += 2;
    } else if (c == lo) hit = 1;
  }
  if (!p[i]) return -1;
  *end = i + 1;
  return hit != neg;
}

/* Glob match of pattern p against the whole of s: '*' and '?' stop at '/',
 * a double star as a whole path component matches any number of components. */
static int glob(const char *p, const char *s)
{
  for (;;) {
    if (!*p) return !*s;
    if (p[0] == '*' && p[1] == '*' && (p[2] == '/' || !p[2])) {
      if (!p[2]) return 1; /* trailing ** matches everything below */
      for (const char *t = s;; t++) { /* a double-star slash: zero or more leading components */
        if ((t == s || t[-1] == '/') && glob(p + 3, t)) return 1;
        if (!*t) return 0;
      }
    }
    if (*p == '*') {
      while (*p == '*') p++;
      for (const char *t = s;; t++) {
        if (glob(p, t)) return 1;
        if (!*t || *t == '/') return 0;
      }
    }
    if (!*s) return 0;
    if (*p == '?') {
      if (*s == '/') return 0;
      s += 1;
      while (((unsigned char)*s & 0xC0) == 0x80) s++; /* one character, not one byte */
      p++;
      continue;
    }
    if (*p == '[') {
      size_t end;
      int m = class_match(p, (unsigned char)*s, &end);
      if (m >= 0) {
        if (!m || *s == '/') return 0;
        p += end;
        s++;
        continue;
      }
    }
    if (*p == '\\' && p[1]) p++;
    if (*p != *s) return 0;
    p++;
    s++;
  }
}

int dq_ignore_parse(dq_ignore **out, const char *text, size_t len)
{
  DQ_ASSERT_ARG(out && (text || !len));
  dq_ignore *ig = dq_calloc(1, sizeof *ig);
  size_t cap = 0;
  *out = NULL;
  if (!ig) return DOCQ_ENOMEM;
  for (size_t i = 0; i < len;) {
    const char *nl = memchr(text + i, '\n', len - i);
    size_t e = nl ? (size_t)(nl - text) : len, a = i;
    i = nl ? e + 1 : len;
    if (e > a && text[e - 1] == '\r') e--;
    while (e > a && text[e - 1] == ' ' && !(e - a >= 2 && text[e - 2] == '\\')) e--; /* trailing spaces unless escaped */
    if (e == a || text[a] == '#') continue;
    rule r = {0};
    if (text[a] == '!') { r.neg = 1; a++; }
    else if (text[a] == '\\' && a + 1 < e && (text[a + 1] == '!' || text[a + 1] == '#')) a++;
    if (e > a && text[e - 1] == '/') { r.dir_only = 1; e--; }
    if (e > a && text[a] == '/') { r.anchored = 1; a++; }
    if (e == a) continue;
    if (memchr(text + a, '/', e - a)) r.anchored = 1;
    if (ig->n == cap) {
      cap = cap ? cap * 2 : 8;
      rule *nr = dq_realloc(ig->r, cap * sizeof *nr);
      if (!nr) { dq_ignore_free(ig); return DOCQ_ENOMEM; }
      ig->r = nr;
    }
    if (!(r.pat = dq_strndup(text + a, e - a))) { dq_ignore_free(ig); return DOCQ_ENOMEM; }
    ig->r[ig->n++] = r;
  }
  *out = ig;
  return 0;
}

void dq_ignore_free(dq_ignore *ig)
{
  if (!ig) return;
  for (size_t i = 0; i < ig->n; i++) dq_free(ig->r[i].pat);
  dq_free(ig->r);
  dq_free(ig);
}

/* The last rule matching `path` decides: 1 ignored, 0 re-included, -1 none. */
static int eval(const dq_ignore *ig, const char *path, int is_dir)
{
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  int res = -1;
  for (size_t i = 0; i < ig->n; i++) {
    const rule *r = &ig->r[i];
    if (r->dir_only && !is_dir) continue;
    if (glob(r->pat, r->anchored ? path : base)) res = r->neg ? 0 : 1;
  }
  return res;
}

int dq_ignore_match(const dq_ignore *ig, const char *relpath, int is_dir)
{
  if (!ig || !relpath) return -1;
  size_t n = strlen(relpath);
  char buf[PATH_MAX];
  if (n >= sizeof buf) return -1;
  memcpy(buf, relpath, n + 1);
  /* a path below an ignored folder is ignored whatever later lines say */
  for (size_t i = 1; i < n; i++) {
    if (buf[i] != '/') continue;
    buf[i] = 0;
    int r = eval(ig, buf, 1);
    buf[i] = '/';
    if (r == 1) return 1;
  }
  return eval(ig, buf, is_dir);
}

/* ---- walking ---------------------------------------------------------------------- */

typedef struct frame { dq_ignore *ig; size_t base; } frame; /* base: length of its folder's path */

typedef struct walker {
  const dq_walk_cbs *cbs;
  char path[PATH_MAX];
  size_t len;
  frame *fr;
  size_t nfr, frcap;
} walker;

static void skip(walker *w, const char *reason)
{
  if (w->cbs->skip) w->cbs->skip(w->cbs->ctx, w->path, reason);
}

/* w->path exists but could not be read: skipped, and its absence unconfirmed. */
static void skip_unread(walker *w, int err)
{
  skip(w, err == EACCES ? "permission denied" : strerror(err));
  if (w->cbs->unread) w->cbs->unread(w->cbs->ctx, w->path);
}

/* A path whose lstat/stat/opendir failed with err: gone (deleted while the
 * walk ran) is a plain skip; anything else leaves it unread. */
static void skip_failed(walker *w, int err)
{
  if (err == ENOENT || err == ENOTDIR) skip(w, strerror(err));
  else skip_unread(w, err);
}

static int ignored(const walker *w, int is_dir)
{
  for (size_t i = w->nfr; i-- > 0;) {
    const frame *f = &w->fr[i];
    int r = dq_ignore_match(f->ig, w->path + f->base + 1, is_dir);
    if (r >= 0) return r;
  }
  return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int report_file(walker *w, const struct stat *st)
{
  if (access(w->path, R_OK) != 0) { skip_failed(w, errno); return 0; }
  dq_walk_file f;
  f.path = w->path;
  f.size = (uint64_t)st->st_size;
  f.mtime = (int64_t)st->st_mtim.tv_sec;
  f.mtime_ns = (int64_t)st->st_mtim.tv_nsec;
  return w->cbs->file(w->cbs->ctx, &f);
}

/* Read <folder>/.docqignore (w->path is the folder) and push its rules. */
static int push_ignore(walker *w)
{
  char p[PATH_MAX];
  if (snprintf(p, sizeof p, "%s/.docqignore", w->path) >= (int)sizeof p) return 0;
  FILE *fp = fopen(p, "rb");
  if (!fp) return 0;
  char *buf = dq_malloc(DQ_IGNORE_MAX_BYTES);
  int rc = 0;
  if (!buf) { fclose(fp); return DOCQ_ENOMEM; }
  size_t n = fread(buf, 1, DQ_IGNORE_MAX_BYTES, fp);
  fclose(fp);
  dq_ignore *ig = NULL;
  if ((rc = dq_ignore_parse(&ig, buf, n)) == 0) {
    if (w->nfr == w->frcap) {
      size_t cap = w->frcap ? w->frcap * 2 : 8;
      frame *f = dq_realloc(w->fr, cap * sizeof *f);
      if (!f) { dq_ignore_free(ig); dq_free(buf); return DOCQ_ENOMEM; }
      w->fr = f;
      w->frcap = cap;
    }
    w->fr[w->nfr].ig = ig;
    w->fr[w->nfr].base = w->len;
    w->nfr++;
    rc = 1;
  }
  dq_free(buf);
  return rc;
}

static int walk_dir(walker *w, int depth);

/* w->path names one entry of a folder being walked. */
static int visit(walker *w, int depth)
{
  struct stat st;
  if (lstat(w->path, &st) != 0) { skip_failed(w, errno); return 0; }
  if (S_ISLNK(st.st_mode)) {
    if (stat(w->path, &st) != 0) {
      if (errno == ENOENT) skip(w, "broken symbolic link");
      else skip_failed(w, errno);
      return 0;
    }
    if (S_ISDIR(st.st_mode)) { skip(w, "symbolic link to a folder (not followed)"); return 0; }
  }
  if (S_ISDIR(st.st_mode)) return ignored(w, 1) ? 0 : walk_dir(w, depth + 1);
  if (!S_ISREG(st.st_mode)) { if (!ignored(w, 0)) skip(w, "not a regular file"); return 0; }
  return ignored(w, 0) ? 0 : report_file(w, &st);
}

static int walk_dir(walker *w, int depth)
{
  if (depth > DQ_WALK_MAX_DEPTH) {
    skip(w, "folders nested too deep");
    if (w->cbs->unread) w->cbs->unread(w->cbs->ctx, w->path); /* a limit, not the user's exclusion */
    return 0;
  }
  DIR *dir = opendir(w->path);
  if (!dir) { skip_failed(w, errno); return 0; }
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0, has_ignore = 0, pushed = 0, is_index = 0;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(dir))) {
    const char *nm = de->d_name;
    if (!strcmp(nm, ".docqignore")) has_ignore = 1;
    if (!strcmp(nm, "docq.sqlite")) is_index = 1;
    if (nm[0] == '.' || !strcmp(nm, "node_modules")) continue; /* hidden (.git too), dependencies */
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      char **p = dq_realloc(names, cap * sizeof *p);
      if (!p) { rc = DOCQ_ENOMEM; goto done; }
      names = p;
    }
    if (!(names[n] = dq_strdup(nm))) { rc = DOCQ_ENOMEM; goto done; }
    n++;
    errno = 0;
  }
  /* A listing cut short (an I/O error): what it missed is not gone. The
   * names read are still walked. */
  if (errno) skip_unread(w, errno);
  /* A docq index kept among the documents (docq --db notes/idx index
   * notes): its lock file and the like are no documents */
  if (is_index) { skip(w, "a docq index folder"); goto done; }
  if (n > 1) qsort(names, n, sizeof *names, cmp_name);
  if (has_ignore) {
    if ((rc = push_ignore(w)) < 0) goto done;
    pushed = rc == 1;
    rc = 0;
  }
  size_t keep = w->len;
  for (size_t i = 0; i < n && rc == 0; i++) {
    size_t nl = strlen(names[i]);
    int sep = !(keep && w->path[keep - 1] == '/');
    if (keep + (size_t)sep + nl >= sizeof w->path) { skip(w, "path too long"); continue; }
    if (sep) w->path[keep] = '/';
    memcpy(w->path + keep + (size_t)sep, names[i], nl + 1);
    w->len = keep + (size_t)sep + nl;
    rc = visit(w, depth);
    w->len = keep;
    w->path[keep] = 0;
  }
  if (pushed) dq_ignore_free(w->fr[--w->nfr].ig);
done:
  closedir(dir);
  for (size_t i = 0; i < n; i++) dq_free(names[i]);
  dq_free(names);
  return rc;
}

int dq_walk(const char *root, const dq_walk_cbs *cbs)
{
  DQ_ASSERT_ARG(root && cbs && cbs->file);
  walker *w = dq_calloc(1, sizeof *w); /* PATH_MAX buffer: keep it off small thread stacks */
  int rc = 0;
  if (!w) return DOCQ_ENOMEM;
  w->cbs = cbs;
  if (!realpath(root, w->path)) {
    int e = errno;
    dq_free(w);
    if (e == ENOENT || e == ENOTDIR) return dq_err_set(DOCQ_ENOTFOUND, "%s: no such file or folder", root);
    return dq_err_set(DOCQ_EIO, "%s: %s", root, strerror(e));
  }
  w->len = strlen(w->path);
  struct stat st;
  if (stat(w->path, &st) != 0) rc = dq_err_set(DOCQ_EIO, "%s: %s", root, strerror(errno));
  else if (S_ISDIR(st.st_mode)) rc = walk_dir(w, 0);
  else if (S_ISREG(st.st_mode)) rc = report_file(w, &st); /* a file named explicitly is never ignored */
  else skip(w, "not a regular file");
  for (size_t i = 0; i < w->nfr; i++) dq_ignore_free(w->fr[i].ig);
  dq_free(w->fr);
  dq_free(w);
  return rc;
}
