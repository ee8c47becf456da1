/* Internal error reporting: a per-thread last error (code + message).
 *
 * Convention (docs/design.md): internal functions return 0 or a negative
 * DOCQ_E* code. The message is set once, where the context is known, with
 * dq_err_set(); callers only propagate the code. The public docq_error_last()
 * reads this state. */
#ifndef DQ_UTIL_ERR_H
#define DQ_UTIL_ERR_H

#include "docq.h"

#if defined(__GNUC__)
#define DQ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DQ_PRINTF(a, b)
#endif

/* Set the thread's last error and return `code` (so `return dq_err_set(...)`). */
int dq_err_set(int code, const char *fmt, ...) DQ_PRINTF(2, 3);
/* Prefix the current message with context: "ctx: old message". Returns the current code. */
int dq_err_wrap(const char *fmt, ...) DQ_PRINTF(1, 2);
/* Clear the thread's error (code DOCQ_OK, empty message). */
void dq_err_clear(void);
/* The current code / message of this thread (never NULL). */
int dq_err_code(void);
const char *dq_err_msg(void);

/* Return DOCQ_EINVAL from a public function when an argument check fails. */
#define DQ_ASSERT_ARG(cond) \
  do { if (!(cond)) return dq_err_set(DOCQ_EINVAL, "invalid argument: %s (%s)", #cond, __func__); } while (0)

#endif
