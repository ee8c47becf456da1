/* docq_ask's model path (src/api/ask_model.c), used by src/api/ask.c. */
#ifndef DQ_API_ASK_MODEL_H
#define DQ_API_ASK_MODEL_H

#include <stdatomic.h>
#include <stddef.h>
#include "docq.h"
#include "engine/chat.h"

/* Token counter for the packer: the model's exact count (ctx = docq_model*). */
size_t dq_ask_count_tokens(void *ctx, const char *s, size_t n);

/* 1 when m has a vocabulary to count with (a tokenizer-only file will do). */
int dq_ask_model_can_count(const docq_model *m);

/* A model's answer length when docq_ask_options.gen.n_predict is 0 (or
 * less): the context is sized for it and it is generated. */
#define DQ_ASK_ANSWER_TOKENS 256

/* The passage budget (budget_opt, or what the model's trained context leaves
 * after the answer of n_predict tokens, DQ_ASK_ANSWER_TOKENS when <= 0, and
 * the template) and the context size to allocate. */
int dq_ask_model_budget(const docq_model *m, unsigned budget_opt, int n_predict, unsigned *budget, unsigned *n_ctx);

/* One answer to generate: the packed prompt in chat template `chat`, with
 * the caller's settings and callbacks (on_prompt follows the reading of the
 * prompt, as docq_ctx_set_prompt_progress; on_reasoning gets a reasoning
 * model's thinking; both may be NULL). A non-zero *interrupt (docq_interrupt
 * on the asking db) stops it, in the prompt or between tokens. */
typedef struct dq_ask_model_req {
  const dq_chat *chat;
  const char *prompt;
  unsigned answer_tokens;
  const docq_gen_options *gen;
  docq_prompt_progress_cb on_prompt;
  void *prompt_payload;
  int (*on_reasoning)(const char *utf8, size_t len, void *payload);
  void *reasoning_payload;
  atomic_int *interrupt;
} dq_ask_model_req;

/* What came of it. text / reasoning: dq_free (reasoning NULL when there was
 * none); ctx: the context and RoPE extension chosen and the template; info:
 * how the generation ended (zeros when it did not start). */
typedef struct dq_ask_model_out {
  char *text, *reasoning;
  char *formatted;          /* the prompt in the chat template, as the model read it */
  int unfinished_reasoning; /* still inside the think block when it ended */
  char ctx[256];
  docq_gen_info info;
  double prompt_s, gen_s;   /* docq_ctx_last_timings */
} dq_ask_model_out;

/* Generate the answer, streaming the answer through gen->on_token, in a
 * context sized to this request (with RoPE extension beyond the original
 * length, chosen per request). A leading think block (engine/think.h) goes
 * to on_reasoning and out->reasoning instead. On DOCQ_ECANCELED, out holds
 * what was written before the stop (info.stop DOCQ_STOP_CANCELED); the
 * caller frees out->text, out->reasoning and out->formatted whatever the
 * return. */
int dq_ask_model_answer(const docq_model *m, const dq_ask_model_req *req, dq_ask_model_out *out);

#endif
