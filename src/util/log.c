/* Process-wide log sink (see log.h). */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

static docq_log_cb g_cb;
static int g_max = DOCQ_LOG_WARN;
static void *g_payload;

DOCQ_API void docq_set_log(docq_log_cb cb, int max_level, void *payload)
{
  g_cb = cb;
  g_max = max_level;
  g_payload = payload;
}

void dq_log(int level, const char *fmt, ...)
{
  if (!g_cb || level > g_max) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  g_cb(level, msg, g_payload);
}
