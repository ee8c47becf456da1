/* Diagnostics to the application's log callback (docq_set_log); silent by
 * default. Only cli/ prints. An error is either logged or returned, not both. */
#ifndef DQ_UTIL_LOG_H
#define DQ_UTIL_LOG_H
#include "docq.h"
void dq_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
