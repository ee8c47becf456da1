/* Fuzz target: arbitrary bytes as a model's output through the think filter
 * (engine/think.h). The first byte chooses whether the prompt opened the
 * block; the rest is fed whole, then again one byte at a time, and a third
 * time in pieces cut where the input's bytes say. All three must give the
 * same reasoning, answer and end state (the filter may hold text back only
 * while it cannot tell a tag from text), and together they can hold no more
 * than the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/think.h"

#define FUZZ_MAX_INPUT 8192

static void run(dq_think *t, int opened, const uint8_t *p, size_t n, int how)
{
  dq_think_init(t, opened);
  if (how == 0) {
    dq_think_feed(t, (const char *)p, n);
  } else if (how == 1) {
    for (size_t i = 0; i < n; i++) dq_think_feed(t, (const char *)p + i, 1);
  } else {
    for (size_t i = 0; i < n;) { /* a piece of 1..16 bytes, its length from the data */
      size_t k = 1 + (p[i] & 15);
      if (k > n - i) k = n - i;
      dq_think_feed(t, (const char *)p + i, k);
      i += k;
    }
  }
  dq_think_finish(t);
}

static int same_buf(const dq_buf *a, const dq_buf *b)
{
  return a->len == b->len && (a->len == 0 || !memcmp(a->p, b->p, a->len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
  const int opened = data[0] & 1;
  const uint8_t *p = data + 1;
  const size_t n = size - 1;
  dq_think t[3];
  for (int how = 0; how < 3; how++) run(&t[how], opened, p, n, how);
  for (int how = 1; how < 3; how++)
    if (!same_buf(&t[0].reasoning, &t[how].reasoning) || !same_buf(&t[0].answer, &t[how].answer) ||
        dq_think_inside(&t[0]) != dq_think_inside(&t[how]) || t[how].hold.len)
      abort();
  if (t[0].reasoning.len + t[0].answer.len > n) abort();
  for (int how = 0; how < 3; how++) dq_think_free(&t[how]);
  return 0;
}
