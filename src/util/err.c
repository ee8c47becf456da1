/* Per-thread last error. The message buffer is thread-local and fixed-size,
 * so setting an error never allocates (it works under ENOMEM). */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DQ_ERR_MAX 1024

static _Thread_local int tl_code;
static _Thread_local char tl_msg[DQ_ERR_MAX];
static _Thread_local docq_error tl_err;

int dq_err_set(int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tl_msg, sizeof tl_msg, fmt, ap);
  va_end(ap);
  tl_code = code;
  return code;
}

int dq_err_wrap(const char *fmt, ...)
{
  char prefix[512], old[DQ_ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, tl_msg, sizeof old);
  snprintf(tl_msg, sizeof tl_msg, "%.500s: %.500s", prefix, old);
  return tl_code;
}

void dq_err_clear(void) { tl_code = DOCQ_OK; tl_msg[0] = 0; }
int dq_err_code(void) { return tl_code; }
const char *dq_err_msg(void) { return tl_msg; }

DOCQ_API const docq_error *docq_error_last(void)
{
  tl_err.code = tl_code;
  tl_err.message = tl_msg;
  return &tl_err;
}

DOCQ_API const char *docq_strerror(int code)
{
  switch (code) {
  case DOCQ_OK: return "ok";
  case DOCQ_ERROR: return "error";
  case DOCQ_ENOMEM: return "out of memory";
  case DOCQ_EINVAL: return "invalid argument";
  case DOCQ_EIO: return "input/output error";
  case DOCQ_ECORRUPT: return "corrupt or malformed data";
  case DOCQ_EUNSUPPORTED: return "unsupported";
  case DOCQ_ENOTFOUND: return "not found";
  case DOCQ_ECANCELED: return "canceled";
  case DOCQ_EBUSY: return "busy";
  case DOCQ_EVERSION: return "version mismatch";
  case DOCQ_EMISMATCH: return "index settings mismatch";
  default: return "error";
  }
}
