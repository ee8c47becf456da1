/* The docq_model / docq_ctx handles behind the public API, shared by
 * src/api/model.c (loading, generation) and src/api/ask.c (answers with a
 * model: the chat template and exact token counts). */
#ifndef DQ_API_MODEL_INTERNAL_H
#define DQ_API_MODEL_INTERNAL_H

#include <stdatomic.h>

#include "docq.h"
#include "engine/chat.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

struct docq_model {
  dq_model *m;
  dq_tok *tok;      /* NULL when the file has no tokenizer, or (docq_model_load_info) one docq lacks: */
  char *tok_error;  /* then why, or NULL */
  dq_chat chat;
};

struct docq_ctx {
  const docq_model *model;
  dq_fwd *fwd;
  unsigned n_ctx;
  int n_threads;    /* as requested when fwd was built (0 = all cores) */
  atomic_int interrupted;        /* docq_ctx_interrupt() (any thread, signal handlers); cleared when docq_generate starts */
  atomic_int *also_interrupted;  /* another flag that stops generation (docq_ask: its db's), or NULL */
  docq_gen_info last;              /* how the last docq_generate ended */
  double last_prompt_s, last_gen_s; /* and its time reading the prompt, then writing */
  docq_prompt_progress_cb on_prompt; /* docq_ctx_set_prompt_progress, or NULL */
  void *prompt_payload;
  size_t prompt_total;             /* the running docq_generate's prompt tokens */
  int prompt_canceled;             /* on_prompt asked to stop */
  int file_cut;                    /* the model file shrank under the prompt (dq_gguf_check) */
  int32_t *held;                   /* (n_ctx) the cache's first n_held tokens, read in whole batches */
  size_t n_held;                   /* aligned at n_batch from 0: what docq_generate may keep (design.md) */
  size_t last_reused;              /* prompt tokens the last docq_generate kept from the cache */
};

#endif
