/* Loading documents, the common part: reading a file (size limit, binary
 * detection, errors that name the file), UTF-8 repair with an offset map,
 * format dispatch, the title fallback, and the document's memory.
 *
 * Invariants:
 *  - d->body is valid UTF-8 and NUL-terminated; the format loaders parse it.
 *  - Block offsets are original-file offsets once dq_load_buffer returns.
 *    Repair replaces each maximal invalid subpart (1..3 bytes) with U+FFFD
 *    (3 bytes), so lengths can change; d->fix records every site so that
 *    citations still point at the original bytes. Newlines are ASCII and are
 *    never part of an invalid subpart, so line numbers are unaffected.
 *  - Every string of the blocks lives in one arena freed by dq_doc_free: a
 *    64 MiB text file makes hundreds of thousands of blocks, and one
 *    allocation per string would dominate loading time. */
#include "indexer/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "indexer/normalize.h"
#include "util/err.h"
#include "util/mem.h"

#define DQ_DEFAULT_MAX_BYTES ((uint64_t)64 << 20)
#define DQ_SNIFF_BYTES 8192

/* ---- arena ------------------------------------------------------------------ */

struct dq_arena {
  struct dq_arena *next;
  size_t used, cap;
  char data[];
};

static void *arena_alloc(dq_doc *d, size_t n)
{
  struct dq_arena *a = d->arena;
  n = (n + 7) & ~(size_t)7;
  if (!a || a->cap - a->used < n) {
    size_t cap = a ? a->cap * 2 : 64 * 1024;
    if (cap > (8u << 20)) cap = 8u << 20;
    if (cap < n) cap = n;
    struct dq_arena *b = dq_malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->next = a;
    b->used = 0;
    b->cap = cap;
    d->arena = a = b;
  }
  void *p = a->data + a->used;
  a->used += n;
  return p;
}

char *dq_doc_strndup(dq_doc *d, const char *s, size_t n)
{
  char *p = arena_alloc(d, n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

int dq_doc_add_block(dq_doc *d, dq_block_kind kind, int level, size_t bstart, size_t bend,
                     uint32_t line_first, uint32_t line_last, const char *text, size_t text_len,
                     const char *clean, size_t clean_len, const char *section)
{
  /* capacity is implicit: 16, then doubled whenever the count reaches a power of two */
  size_t nb = d->n_blocks;
  if (nb == 0 || (nb >= 16 && (nb & (nb - 1)) == 0)) {
    size_t cap = nb ? nb * 2 : 16, bytes;
    if (dq_mul_ovf(cap, sizeof *d->blocks, &bytes)) return dq_err_set(DOCQ_ENOMEM, "too many blocks");
    dq_block *p = dq_realloc(d->blocks, bytes);
    if (!p) return DOCQ_ENOMEM;
    d->blocks = p;
  }
  dq_block *b = &d->blocks[d->n_blocks];
  memset(b, 0, sizeof *b);
  b->kind = kind;
  b->level = level;
  b->src_start = bstart;
  b->src_end = bend;
  b->line_first = line_first;
  b->line_last = line_last;
  b->text = dq_doc_strndup(d, text, text_len);
  b->text_len = text_len;
  if (clean == text && clean_len == text_len) b->clean = b->text;
  else b->clean = dq_doc_strndup(d, clean, clean_len);
  b->clean_len = clean_len;
  b->section = dq_doc_strndup(d, section ? section : "", section ? strlen(section) : 0);
  if (!b->text || !b->clean || !b->section) return DOCQ_ENOMEM;
  d->n_blocks++;
  return 0;
}

int dq_is_space_at(const char *s, size_t n, size_t *k)
{
  unsigned char c = (unsigned char)s[0];
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') { *k = 1; return 1; }
  if (c == 0xC2 && n >= 2 && (unsigned char)s[1] == 0xA0) { *k = 2; return 1; }
  if (c == 0xE3 && n >= 3 && (unsigned char)s[1] == 0x80 && (unsigned char)s[2] == 0x80) { *k = 3; return 1; }
  *k = 0;
  return 0;
}

/* Bytes of s[0..n) a label keeps: all of it when short, else up to the last
 * space in the second half of DQ_LABEL_MAX, else the last whole character. */
static size_t label_cut(const char *s, size_t n)
{
  if (n <= DQ_LABEL_MAX) return n;
  size_t k = DQ_LABEL_MAX;
  while (k > DQ_LABEL_MAX / 2 && s[k] != ' ') k--;
  if (s[k] == ' ') return k;
  k = DQ_LABEL_MAX;
  while (k && ((unsigned char)s[k] & 0xC0) == 0x80) k--; /* s[k] starts a character */
  return k;
}

void dq_label_put(dq_buf *b, const char *s, size_t n)
{
  size_t k = label_cut(s, n);
  dq_buf_put(b, s, k);
  if (k < n) dq_buf_puts(b, "\xE2\x80\xA6"); /* … */
}

/* The document's title cut like a heading, so that a section path starting
 * with the first heading still starts with the title (chunks_src leaves the
 * title out of the head column then). */
static int cap_title(dq_doc *d)
{
  size_t n = strlen(d->title);
  if (n <= DQ_LABEL_MAX) return 0;
  dq_buf b = {0};
  dq_label_put(&b, d->title, n);
  if (b.oom) { dq_buf_free(&b); return DOCQ_ENOMEM; }
  d->title = dq_doc_strndup(d, b.p, b.len);
  dq_buf_free(&b);
  return d->title ? 0 : DOCQ_ENOMEM;
}

size_t dq_utf8_put(char *o, unsigned cp)
{
  if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63)); o[2] = (char)(0x80 | (cp & 63));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63));
  o[2] = (char)(0x80 | (cp >> 6 & 63)); o[3] = (char)(0x80 | (cp & 63));
  return 4;
}

/* ---- format and binary detection ----------------------------------------------- */

static const char *path_ext(const char *path)
{
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  return dot && dot != base ? dot + 1 : "";
}

dq_format dq_format_from_path(const char *path)
{
  const char *e = path ? path_ext(path) : "";
  if (!strcasecmp(e, "md") || !strcasecmp(e, "markdown")) return DQ_FMT_MARKDOWN;
  if (!strcasecmp(e, "html") || !strcasecmp(e, "htm") || !strcasecmp(e, "xhtml")) return DQ_FMT_HTML;
  return DQ_FMT_TEXT;
}

/* Files whose extension says "text": invalid UTF-8 in them is repaired. Any
 * other extension is read as text only when it is (nearly) valid UTF-8. */
static int known_text_ext(const char *path, dq_format f)
{
  const char *e = path_ext(path);
  return f != DQ_FMT_TEXT || !strcasecmp(e, "txt") || !strcasecmp(e, "text");
}

int dq_looks_binary(const char *data, size_t n)
{
  const unsigned char *p = (const unsigned char *)data;
  size_t m = n < DQ_SNIFF_BYTES ? n : DQ_SNIFF_BYTES, ctrl = 0, bad = 0, i = 0;
  while (i < m) {
    unsigned char c = p[i];
    if (c == 0) return 1;
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1B) || c == 0x7F) ctrl++;
      i++;
      continue;
    }
    size_t skip = 1, k = dq_utf8_seq(data + i, m - i, &skip);
    if (k) { i += k; continue; }
    if (m < n || dq_utf8_len(c) <= m - i) bad++; /* a sequence cut by the sample end is not bad */
    i += skip;
  }
  /* Latin-1 or CP-1252 prose has a few invalid bytes per line (repaired);
   * binary formats have control bytes and ill-formed sequences everywhere. */
  return m && (ctrl + bad) * 10 > m * 3;
}

/* ---- repair with an offset map ----------------------------------------------- */

/* NUL bytes are replaced too: every string the loaders make must also work
 * as a C string (SQLite binds, logs), and a NUL in a text file is damage. */
static int repair(dq_doc *d, char *data, size_t n, int owned)
{
  if (!memchr(data, 0, n) && dq_utf8_valid(data, n)) {
    if (owned) { d->body = data; d->body_len = n; d->body[n] = 0; return 0; }
    d->body = dq_strndup(data, n);
    d->body_len = n;
    return d->body ? 0 : DOCQ_ENOMEM;
  }
  const unsigned char *p = (const unsigned char *)data;
  dq_buf b = {0};
  size_t i = 0, run = 0, cap = 0;
  if (dq_buf_reserve(&b, n + n / 8 + 16)) goto oom;
  while (i < n) {
    size_t skip = 1; /* a NUL, or the maximal subpart of an ill-formed sequence (as dq_utf8_repair) */
    size_t k = p[i] < 0x80 ? p[i] != 0 : dq_utf8_seq(data + i, n - i, &skip);
    if (k) { i += k; run += k; continue; }
    dq_buf_put(&b, p + i - run, run);
    dq_buf_put(&b, "\xEF\xBF\xBD", 3);
    run = 0;
    i += skip;
    if (d->n_fix == cap) {
      cap = cap ? cap * 2 : 64;
      dq_fix *nf = dq_realloc(d->fix, cap * sizeof *nf);
      if (!nf) goto oom;
      d->fix = nf;
    }
    d->fix[d->n_fix].body = b.len;
    d->fix[d->n_fix].src = i;
    d->n_fix++;
  }
  dq_buf_put(&b, p + i - run, run);
  if (b.oom) goto oom;
  d->n_repaired = d->n_fix;
  d->body_len = b.len;
  d->body = dq_buf_detach(&b);
  if (owned) dq_free(data);
  return 0;
oom:
  dq_buf_free(&b);
  if (owned) dq_free(data);
  return DOCQ_ENOMEM;
}

/* Last fix whose `body` (or `src`) is <= off, or -1. */
static ptrdiff_t fix_find(const dq_doc *d, size_t off, int by_src)
{
  ptrdiff_t lo = 0, hi = (ptrdiff_t)d->n_fix - 1, best = -1;
  while (lo <= hi) {
    ptrdiff_t mid = lo + (hi - lo) / 2;
    size_t v = by_src ? d->fix[mid].src : d->fix[mid].body;
    if (v <= off) { best = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return best;
}

size_t dq_doc_src_off(const dq_doc *d, size_t off)
{
  if (!d->n_fix) return off;
  ptrdiff_t k = fix_find(d, off, 0);
  size_t r = k < 0 ? off : d->fix[k].src + (off - d->fix[k].body);
  return r > d->src_len ? d->src_len : r;
}

size_t dq_doc_body_off(const dq_doc *d, size_t off)
{
  if (!d->n_fix) return off;
  ptrdiff_t k = fix_find(d, off, 1);
  size_t r = k < 0 ? off : d->fix[k].body + (off - d->fix[k].src);
  return r > d->body_len ? d->body_len : r;
}

/* ---- documents ------------------------------------------------------------------ */

void dq_doc_free(dq_doc *d)
{
  if (!d) return;
  struct dq_arena *a = d->arena;
  while (a) { struct dq_arena *next = a->next; dq_free(a); a = next; }
  dq_free(d->blocks);
  dq_free(d->tags);
  dq_free(d->aliases);
  dq_free(d->body);
  dq_free(d->fix);
  dq_free(d);
}

/* The first heading, else the file name without folders and extension: the
 * title of last resort. Not a plain text's first heading: that is a book's
 * first chapter ("第一回 ..."), and the file is named after the book. */
static int default_title(dq_doc *d, const char *name)
{
  for (size_t i = 0; i < d->n_blocks && d->format != DQ_FMT_TEXT; i++) {
    const dq_block *b = &d->blocks[i];
    if (b->kind == DQ_BLK_HEADING && b->clean_len) { d->title = b->clean; return 0; }
  }
  const char *base = name ? strrchr(name, '/') : NULL;
  base = base ? base + 1 : name ? name : "untitled";
  const char *dot = strrchr(base, '.');
  size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
  d->title = dq_doc_strndup(d, base, n);
  return d->title ? 0 : DOCQ_ENOMEM;
}

/* Parse `data` (taken over and freed when `owned`). */
static int load_bytes(const char *name, char *data, size_t n, int owned, dq_format fmt, dq_doc **out)
{
  int rc;
  dq_doc *d = dq_calloc(1, sizeof *d);
  *out = NULL;
  if (!d) { if (owned) dq_free(data); return DOCQ_ENOMEM; }
  d->format = fmt;
  d->src_len = n;
  if ((rc = repair(d, data, n, owned)) < 0) goto done;
  switch (fmt) {
  case DQ_FMT_MARKDOWN: rc = dq_load_md(d); break;
  case DQ_FMT_HTML: rc = dq_load_html(d); break;
  default: rc = dq_load_txt(d); break;
  }
  if (rc < 0) goto done;
  if (!d->title && (rc = default_title(d, name)) < 0) goto done;
  if ((rc = cap_title(d)) < 0) goto done;
  if (d->n_fix) {
    for (size_t i = 0; i < d->n_blocks; i++) {
      d->blocks[i].src_start = dq_doc_src_off(d, d->blocks[i].src_start);
      d->blocks[i].src_end = dq_doc_src_off(d, d->blocks[i].src_end);
    }
  }
  *out = d;
  d = NULL;
done:
  dq_doc_free(d);
  return rc;
}

int dq_load_buffer(const char *name, const char *data, size_t n, dq_format fmt, dq_doc **out)
{
  DQ_ASSERT_ARG(out);
  DQ_ASSERT_ARG(data || !n);
  DQ_ASSERT_ARG(fmt == DQ_FMT_TEXT || fmt == DQ_FMT_MARKDOWN || fmt == DQ_FMT_HTML);
  return load_bytes(name, (char *)(data ? data : ""), n, 0, fmt, out);
}

static void fmt_size(char *buf, size_t cap, uint64_t v)
{
  if (v >= (1u << 20)) snprintf(buf, cap, "%llu MiB", (unsigned long long)((v + (1u << 19)) >> 20));
  else snprintf(buf, cap, "%llu bytes", (unsigned long long)v);
}

static int open_error(const char *path, int err)
{
  struct stat st;
  if (err == ENOENT && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
    return dq_err_set(DOCQ_ENOTFOUND, "%s: skipped: broken symbolic link", path);
  if (err == ENOENT || err == ENOTDIR) return dq_err_set(DOCQ_ENOTFOUND, "%s: no such file", path);
  if (err == ELOOP) return dq_err_set(DOCQ_ENOTFOUND, "%s: skipped: symbolic link loop", path);
  if (err == EACCES || err == EPERM) return dq_err_set(DOCQ_EIO, "%s: skipped: permission denied", path);
  return dq_err_set(DOCQ_EIO, "%s: skipped: cannot open (%s)", path, strerror(err));
}

/* Text with a UTF-16 byte order mark (what Windows Notepad long wrote):
 * 1 little-endian, 2 big-endian, 0 none or not text (NUL or control code
 * units, unpaired surrogates in over a tenth of the first 8 KiB). It is not
 * converted: chunks are slices of the file with byte offsets into it, which
 * a UTF-16 file's bytes would not match. The skip says how to convert it. */
static int utf16_text(const char *data, size_t n)
{
  const unsigned char *p = (const unsigned char *)data;
  if (n < 2 || !((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF))) return 0;
  int be = p[0] == 0xFE;
  if (!be && n >= 4 && !p[2] && !p[3]) return 0; /* FF FE 00 00: UTF-32 */
  size_t m = n < DQ_SNIFF_BYTES ? n : DQ_SNIFF_BYTES, units = 0, bad = 0;
  for (size_t i = 2; i + 1 < m; i += 2, units++) {
    unsigned u = be ? (unsigned)p[i] << 8 | p[i + 1] : (unsigned)p[i + 1] << 8 | p[i];
    if (u >= 0xD800 && u < 0xDC00 && i + 3 < m) { /* a high surrogate needs a low one next */
      unsigned v = be ? (unsigned)p[i + 2] << 8 | p[i + 3] : (unsigned)p[i + 3] << 8 | p[i + 2];
      if (v >= 0xDC00 && v < 0xE000) { i += 2; units++; continue; }
      bad++;
    } else if ((u >= 0xDC00 && u < 0xE000) || (u < 0x20 && u != '\t' && u != '\n' && u != '\r' && u != '\f')) bad++;
  }
  return bad * 10 > units ? 0 : be ? 2 : 1;
}

/* The checks on a file's bytes: binary, or not UTF-8 under an unknown extension. */
static int content_check(const char *path, const char *data, size_t n)
{
  if (utf16_text(data, n))
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: skipped: UTF-16 text (save it as UTF-8, e.g. iconv -f UTF-16 -t UTF-8)", path);
  if (dq_looks_binary(data, n)) return dq_err_set(DOCQ_EUNSUPPORTED, "%s: skipped: binary file", path);
  if (!known_text_ext(path, dq_format_from_path(path)) && !dq_utf8_valid(data, n))
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: skipped: not UTF-8 text", path);
  return 0;
}

int dq_load_file_bytes(const char *path, const char *data, size_t n, dq_doc **out)
{
  DQ_ASSERT_ARG(path && out && (data || !n));
  int rc;
  *out = NULL;
  if ((rc = content_check(path, data, n)) < 0) return rc;
  return load_bytes(path, (char *)(data ? data : ""), n, 0, dq_format_from_path(path), out);
}

int dq_load_file(const char *path, const dq_load_opts *o, dq_doc **out)
{
  DQ_ASSERT_ARG(path && out);
  uint64_t max = o && o->max_bytes ? o->max_bytes : DQ_DEFAULT_MAX_BYTES;
  char *data = NULL;
  int rc = 0;
  struct stat st;
  *out = NULL;
  /* O_NONBLOCK: opening a FIFO must not hang the indexer; fstat rejects it. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return open_error(path, errno);
  if (fstat(fd, &st) < 0) { rc = dq_err_set(DOCQ_EIO, "%s: skipped: cannot stat (%s)", path, strerror(errno)); goto done; }
  if (!S_ISREG(st.st_mode)) {
    rc = dq_err_set(DOCQ_EUNSUPPORTED, "%s: skipped: %s", path, S_ISDIR(st.st_mode) ? "is a folder" : "not a regular file");
    goto done;
  }
  if ((uint64_t)st.st_size > max || (uint64_t)st.st_size >= SIZE_MAX) {
    char a[32], b[32];
    fmt_size(a, sizeof a, (uint64_t)st.st_size);
    fmt_size(b, sizeof b, max);
    rc = dq_err_set(DOCQ_EUNSUPPORTED, "%s: skipped: too large (%s > %s limit)", path, a, b);
    goto done;
  }
  size_t want = (size_t)st.st_size, got = 0;
  if (!(data = dq_malloc(want + 1))) { rc = DOCQ_ENOMEM; goto done; }
  while (got < want) { /* a file that shrank meanwhile is read as it is now */
    ssize_t r = read(fd, data + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { rc = dq_err_set(DOCQ_EIO, "%s: skipped: read error (%s)", path, strerror(errno)); goto done; }
    if (r == 0) break;
    got += (size_t)r;
  }
  if ((rc = content_check(path, data, got)) < 0) goto done;
  close(fd);
  fd = -1;
  rc = load_bytes(path, data, got, 1, dq_format_from_path(path), out);
  data = NULL;
done:
  if (fd >= 0) close(fd);
  dq_free(data);
  return rc;
}
