/* Separating a reasoning model's thinking from its answer, as the text
 * streams out.
 *
 * Reasoning models (DeepSeek-R1 distills, QwQ, Qwen3 in thinking mode) write
 * "<think>\n...\n</think>\n\n" before the answer. Their chat templates either
 * open the block in the prompt (the generated text then starts inside it and
 * only "</think>" appears) or leave the model to open it. A dq_think is fed
 * the generated text in pieces of whole UTF-8 characters and sends the part
 * inside the block to on_reasoning and the rest to on_answer, with the tags
 * and the whitespace around them outside the block (before "<think>", after
 * "</think>") dropped. A block is recognized
 * only at the very start of the text (after whitespace): "<think>" later on
 * is part of the answer. Nothing is held back from either callback longer
 * than it takes to tell a tag from text (at most 8 bytes).
 *
 * Not thread-safe: one per generation. */
#ifndef DQ_ENGINE_THINK_H
#define DQ_ENGINE_THINK_H

#include <stddef.h>

#include "util/mem.h"

typedef int (*dq_think_cb)(const char *utf8, size_t len, void *payload);

typedef struct dq_think {
  int state;            /* internal: start / inside the block / answer */
  int skip_ws;          /* dropping whitespace after "</think>" */
  dq_buf hold;          /* text not yet told apart from a tag */
  dq_buf reasoning;     /* everything inside the block */
  dq_buf answer;        /* everything else */
  dq_think_cb on_reasoning, on_answer; /* may be NULL; non-zero return stops */
  void *reasoning_payload, *answer_payload;
} dq_think;

/* opened: the prompt already opened the block (the text starts inside it). */
void dq_think_init(dq_think *t, int opened);
/* Feed n bytes. Returns 0, a callback's non-zero return (stop generating), or
 * DOCQ_ENOMEM. */
int dq_think_feed(dq_think *t, const char *s, size_t n);
/* End of text: what was held back goes where it belongs (an unclosed block
 * stays reasoning). Same returns. */
int dq_think_finish(dq_think *t);
/* 1 while the text is inside the block (after dq_think_finish: the block was
 * never closed, so there is no answer). */
int dq_think_inside(const dq_think *t);
void dq_think_free(dq_think *t);

#endif
