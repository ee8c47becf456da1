/* A conversation's next answer on a context, with a reasoning model's think
 * block kept apart: docq_chat (src/api/chat.c) and docq_ask's model path
 * (src/api/ask_model.c) both generate through it. */
#ifndef DQ_API_CHAT_H
#define DQ_API_CHAT_H

#include "docq.h"
#include "engine/chat.h"

/* The template `name` (NULL or "": m's own). DOCQ_EINVAL naming the known
 * ones for an unknown name. */
int dq_chat_for_model(const docq_model *m, const char *name, dq_chat *out);

/* What a think-filtered generation gave. text: the answer ("" when there
 * was none); reasoning: the think block's text, NULL when there was none;
 * both dq_free. unfinished: still inside the block when it ended. */
typedef struct dq_chat_reply {
  char *text, *reasoning;
  int unfinished;
} dq_chat_reply;

/* Generate from `formatted` (a prompt written in template `chat`) on c with
 * gen's settings, parsing special tokens. The text goes through the think
 * filter (engine/think.h), opened already when the template opens the
 * block: the answer to gen->on_token, the reasoning to on_reasoning (may be
 * NULL). Returns 0 or a negative code; *out is filled on success, and on
 * DOCQ_ECANCELED with the text passed on before the stop (free it then too). */
int dq_chat_generate(docq_ctx *c, const dq_chat *chat, const char *formatted, const docq_gen_options *gen,
                     int (*on_reasoning)(const char *utf8, size_t len, void *payload), void *reasoning_payload,
                     dq_chat_reply *out);

#endif
