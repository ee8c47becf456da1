/* A reasoning model's thinking told apart from its answer (see think.h). */
#include "engine/think.h"

#include <string.h>

#include "docq.h"

enum { ST_START, ST_IN, ST_OUT };

static const char k_open[] = "<think>", k_close[] = "</think>";
#define OPEN_LEN (sizeof k_open - 1)
#define CLOSE_LEN (sizeof k_close - 1)

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void dq_think_init(dq_think *t, int opened)
{
  memset(t, 0, sizeof *t);
  t->state = opened ? ST_IN : ST_START;
}

/* Append to `to` and pass to cb; the callback's non-zero return, or ENOMEM. */
static int emit(dq_buf *to, dq_think_cb cb, void *payload, const char *s, size_t n)
{
  if (!n) return 0;
  if (dq_buf_put(to, s, n) < 0) return DOCQ_ENOMEM;
  return cb ? cb(s, n, payload) : 0;
}

static void consume(dq_buf *b, size_t n)
{
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
  if (b->p) b->p[b->len] = 0;
}

/* The length of the longest end of s[0..n) that begins `tag` (shorter than it). */
static size_t partial_tag(const char *s, size_t n, const char *tag, size_t tag_len)
{
  for (size_t k = tag_len - 1 < n ? tag_len - 1 : n; k > 0; k--)
    if (!memcmp(s + n - k, tag, k)) return k;
  return 0;
}

/* Move what can be decided from `hold` to the two streams. final: no more
 * text comes, so nothing may stay held. */
static int process(dq_think *t, int final)
{
  while (t->hold.len) {
    const char *h = t->hold.p;
    const size_t n = t->hold.len;
    if (t->state == ST_START) {
      size_t i = 0;
      while (i < n && is_ws(h[i])) i++;
      const size_t rest = n - i;
      if (rest >= OPEN_LEN && !memcmp(h + i, k_open, OPEN_LEN)) {
        consume(&t->hold, i + OPEN_LEN);
        t->state = ST_IN;
      } else if (rest >= OPEN_LEN || (rest && memcmp(h + i, k_open, rest)) || final) {
        t->state = ST_OUT; /* not a block: all of it is the answer, whitespace included */
      } else {
        return 0; /* whitespace, or a beginning of "<think>": wait */
      }
    } else if (t->state == ST_IN) {
      const char *e = memmem(h, n, k_close, CLOSE_LEN);
      if (e) {
        const size_t k = (size_t)(e - h);
        int rc = emit(&t->reasoning, t->on_reasoning, t->reasoning_payload, h, k);
        consume(&t->hold, k + CLOSE_LEN);
        t->state = ST_OUT;
        t->skip_ws = 1;
        if (rc) return rc;
        continue;
      }
      /* an unclosed block at the end is all reasoning, a partial tag too */
      const size_t keep = final ? 0 : partial_tag(h, n, k_close, CLOSE_LEN);
      int rc = emit(&t->reasoning, t->on_reasoning, t->reasoning_payload, h, n - keep);
      consume(&t->hold, n - keep);
      return rc;
    } else {
      size_t i = 0;
      if (t->skip_ws) {
        while (i < n && is_ws(h[i])) i++;
        if (i < n) t->skip_ws = 0;
      }
      int rc = emit(&t->answer, t->on_answer, t->answer_payload, h + i, n - i);
      consume(&t->hold, n);
      return rc;
    }
  }
  return 0;
}

int dq_think_feed(dq_think *t, const char *s, size_t n)
{
  if (dq_buf_put(&t->hold, s, n) < 0) return DOCQ_ENOMEM;
  return process(t, 0);
}

int dq_think_finish(dq_think *t)
{
  return process(t, 1);
}

int dq_think_inside(const dq_think *t)
{
  return t->state == ST_IN;
}

void dq_think_free(dq_think *t)
{
  dq_buf_free(&t->hold);
  dq_buf_free(&t->reasoning);
  dq_buf_free(&t->answer);
}
