/* Allocation wrappers with a failure-injection hook, and a growable buffer. */
#include "util/mem.h"
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long g_fail_after = -1; /* tests only; not thread-safe by design */

void dq_mem_fail_after(long n) { g_fail_after = n; }

static int should_fail(void)
{
  if (g_fail_after < 0) return 0;
  if (g_fail_after == 0) { g_fail_after = -1; return 1; }
  g_fail_after--;
  return 0;
}

void *dq_malloc(size_t n)
{
  void *p = should_fail() ? NULL : malloc(n ? n : 1);
  if (!p) dq_err_set(DOCQ_ENOMEM, "out of memory (%zu bytes)", n);
  return p;
}

void *dq_calloc(size_t count, size_t size)
{
  void *p = should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
  if (!p) dq_err_set(DOCQ_ENOMEM, "out of memory (%zu x %zu bytes)", count, size);
  return p;
}

void *dq_realloc(void *p, size_t n)
{
  void *q = should_fail() ? NULL : realloc(p, n ? n : 1);
  if (!q) dq_err_set(DOCQ_ENOMEM, "out of memory (%zu bytes)", n);
  return q;
}

void dq_free(void *p) { free(p); }

char *dq_strndup(const char *s, size_t n)
{
  char *d = dq_malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

char *dq_strdup(const char *s) { return s ? dq_strndup(s, strlen(s)) : NULL; }

int dq_buf_reserve(dq_buf *b, size_t extra)
{
  size_t need;
  if (b->oom) return DOCQ_ENOMEM;
  if (dq_add_ovf(b->len, extra, &need) || dq_add_ovf(need, 1, &need)) {
    b->oom = 1;
    return dq_err_set(DOCQ_ENOMEM, "buffer size overflow");
  }
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *p = dq_realloc(b->p, cap);
  if (!p) { b->oom = 1; return DOCQ_ENOMEM; }
  b->p = p;
  b->cap = cap;
  return 0;
}

int dq_buf_put(dq_buf *b, const void *data, size_t n)
{
  int rc = dq_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
  return 0;
}

int dq_buf_puts(dq_buf *b, const char *s) { return dq_buf_put(b, s, strlen(s)); }
int dq_buf_putc(dq_buf *b, char c) { return dq_buf_put(b, &c, 1); }

int dq_buf_printf(dq_buf *b, const char *fmt, ...)
{
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) { va_end(ap2); return dq_err_set(DOCQ_EINVAL, "bad format"); }
  int rc = dq_buf_reserve(b, (size_t)n);
  if (rc) { va_end(ap2); return rc; }
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  b->len += (size_t)n;
  return 0;
}

const char *dq_buf_cstr(dq_buf *b) { return b->p ? b->p : ""; }

char *dq_buf_detach(dq_buf *b)
{
  char *p = b->p;
  if (!p) p = dq_strdup("");
  b->p = NULL; b->len = b->cap = 0; b->oom = 0;
  return p;
}

void dq_buf_free(dq_buf *b)
{
  dq_free(b->p);
  b->p = NULL; b->len = b->cap = 0; b->oom = 0;
}
