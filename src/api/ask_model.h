/* docq_ask's model path (src/api/ask_model.c), used by src/api/ask.c. */
#ifndef DQ_API_ASK_MODEL_H
#define DQ_API_ASK_MODEL_H

#include <stddef.h>
#include "docq.h"
#include "engine/chat.h"

/* Token counter for the packer: the model's exact count (ctx = docq_model*). */
size_t dq_ask_count_tokens(void *ctx, const char *s, size_t n);

/* 1 when m has a vocabulary to count with (a tokenizer-only file will do). */
int dq_ask_model_can_count(const docq_model *m);

/* The passage budget (budget_opt, or what the model's trained context leaves
 * after the answer and the template) and the context size to allocate. */
int dq_ask_model_budget(const docq_model *m, unsigned budget_opt, int n_predict, unsigned *budget, unsigned *n_ctx);

/* The chat template for answers: `name` (NULL or "": the model's own).
 * DOCQ_EINVAL naming the known ones for an unknown name. */
int dq_ask_model_chat(const docq_model *m, const char *name, dq_chat *out);

/* Generate the answer to the packed prompt in chat template `chat`,
 * streaming through gen->on_token, in a context sized to this request (with
 * RoPE extension beyond the original length, chosen per request; the choice
 * is written to ctx_desc). A non-zero *interrupt (docq_interrupt on the
 * asking db) stops it, in the prompt or between tokens. *out_text: dq_free.
 * *info: how the generation ended (zeros when it did not start). on_prompt
 * (may be NULL) follows the reading of the prompt, as
 * docq_ctx_set_prompt_progress. */
int dq_ask_model_answer(const docq_model *m, const dq_chat *chat, const char *prompt, unsigned answer_tokens,
                        const docq_gen_options *gen, docq_prompt_progress_cb on_prompt, void *prompt_payload,
                        volatile int *interrupt, char **out_text, char *ctx_desc, size_t desc_cap,
                        docq_gen_info *info);

#endif
