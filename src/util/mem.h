/* Allocation and overflow-checked size arithmetic.
 *
 * All library allocation goes through dq_malloc/dq_calloc/dq_realloc/dq_free so
 * tests can inject failures (dq_mem_fail_after). On failure these set the
 * thread's error to DOCQ_ENOMEM and return NULL. */
#ifndef DQ_UTIL_MEM_H
#define DQ_UTIL_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

void *dq_malloc(size_t n);
void *dq_calloc(size_t count, size_t size);
void *dq_realloc(void *p, size_t n);
void dq_free(void *p);
char *dq_strdup(const char *s);
char *dq_strndup(const char *s, size_t n);
/* Test hook: the n-th allocation from now fails (n < 0 disables). */
void dq_mem_fail_after(long n);

/* true on overflow; *out is the result otherwise. */
static inline bool dq_mul_ovf(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out); }
static inline bool dq_add_ovf(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out); }

/* Growable byte buffer. Always NUL-terminated when len > 0 or after dq_buf_cstr. */
typedef struct dq_buf {
  char *p;
  size_t len, cap;
  int oom; /* sticky: set once an append failed; later appends are no-ops */
} dq_buf;

int dq_buf_reserve(dq_buf *b, size_t extra);
int dq_buf_put(dq_buf *b, const void *data, size_t n);
int dq_buf_puts(dq_buf *b, const char *s);
int dq_buf_putc(dq_buf *b, char c);
int dq_buf_printf(dq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *dq_buf_cstr(dq_buf *b);   /* "" when empty */
char *dq_buf_detach(dq_buf *b);       /* caller frees with dq_free; buffer reset */
void dq_buf_free(dq_buf *b);

#endif
