/* The monotonic clock, in seconds, for durations the library reports. */
#ifndef DQ_UTIL_CLOCK_H
#define DQ_UTIL_CLOCK_H

#include <time.h>

static inline double dq_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
