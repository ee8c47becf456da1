/* docq_ask with a model: exact token counts for packing, the token budget,
 * and the answer generated with the model's chat template.
 *
 * The packed prompt (question, labelled passages, question again; see
 * assemble/pack.c) becomes the user turn after a short system instruction.
 * The budget leaves room for the instruction, the template's tokens and the
 * answer, so the prompt always fits the context: the packer, not the
 * engine, decides what is left out (and reports it). */
#include <stdio.h>
#include <string.h>

#include "api/ask_model.h"
#include "api/chat.h"
#include "api/model_internal.h"
#include "util/err.h"
#include "util/mem.h"

/* Tokens reserved for the system instruction and the chat template's markup
 * around the two turns (measured: ChatML ~40, Llama 3 ~45, plus margin). */
#define DQ_ASK_TEMPLATE_TOKENS 96

/* The default budget is what the model's context leaves, but at most this:
 * a 32k-context model would otherwise be given every retrieved passage, and
 * prefill is what the user waits for. Measured with a Qwen2.5-1.5B-shaped
 * Q4_K_M on 2 cores: the 20 passages of a Vue docs question came to 14,601
 * tokens and the answer took 4 min 19 s; 4096 tokens of prefill take ~30 s
 * there (bench_engine -p 2048 --shape 1.5b: 127 tokens/s), and twice the
 * 2048 at which answer-in-context is measured (97-99% on nq, cmrc2018).
 * --budget / budget_tokens asks for more, up to the context. */
#define DQ_ASK_MODEL_BUDGET_MAX 4096

static const char k_system[] =
  "You answer questions using only the numbered passages given with the question. "
  "Cite the passages you use as [n]. If the passages do not contain the answer, say that "
  "they do not, instead of guessing. Answer in the language of the question.";

size_t dq_ask_count_tokens(void *ctx, const char *s, size_t n)
{
  const docq_model *m = ctx;
  long k = docq_tokenize(m, s, n, 0, NULL, 0);
  return k < 0 ? n : (size_t)k; /* on error: bytes, a safe over-estimate */
}

int dq_ask_model_can_count(const docq_model *m)
{
  return m && m->tok != NULL;
}

int dq_ask_model_budget(const docq_model *m, unsigned budget_opt, int n_predict, unsigned *budget, unsigned *n_ctx)
{
  DQ_ASSERT_ARG(m && budget && n_ctx);
  if (!m->m->has_weights) {
    dq_model_require_weights(m->m);
    return dq_err_wrap("ask");
  }
  if (!m->tok) return dq_err_set(DOCQ_EUNSUPPORTED, "ask: %s has no tokenizer: it cannot answer", m->m->gguf->path);
  unsigned train = m->m->hp.n_ctx_train > 0 ? (unsigned)m->m->hp.n_ctx_train : 2048;
  unsigned answer = n_predict > 0 ? (unsigned)n_predict : DQ_ASK_ANSWER_TOKENS;
  unsigned overhead = DQ_ASK_TEMPLATE_TOKENS + (unsigned)dq_ask_count_tokens((void *)m, k_system, sizeof k_system - 1);
  if (budget_opt) {
    *budget = budget_opt;
  } else {
    if (train < answer + overhead + 128)
      return dq_err_set(DOCQ_EINVAL, "ask: the model's context (%u tokens) is too small for an answer of %u tokens "
                        "with passages; lower -n or give --budget", train, answer);
    *budget = train - answer - overhead;
    if (*budget > DQ_ASK_MODEL_BUDGET_MAX) *budget = DQ_ASK_MODEL_BUDGET_MAX;
  }
  *n_ctx = *budget + answer + overhead;
  return 0;
}

int dq_ask_model_answer(const docq_model *m, const dq_ask_model_req *req, dq_ask_model_out *out)
{
  DQ_ASSERT_ARG(m && req && req->chat && req->prompt && req->gen && out);
  memset(out, 0, sizeof *out);
  /* The chat prompt is tokenized whole with its markers as special tokens:
   * a passage (or question) that quotes "<|im_end|>" would end the turn
   * there. Such texts are broken up first (dq_tok_defuse). */
  char *defused = NULL;
  int rc = dq_tok_defuse(m->tok, req->prompt, strlen(req->prompt), &defused, NULL);
  if (rc < 0) return rc;
  const char *prompt = defused ? defused : req->prompt;
  dq_chat_msg msgs[2] = {{"system", k_system}, {"user", prompt}};
  char *formatted = NULL;
  size_t flen = 0;
  docq_ctx *c = NULL;
  if (req->chat->kind == DQ_CHAT_PLAIN) {
    /* A model without a chat template completes text: the packed prompt is
     * already "Question: ... Answer:", which the plain template's own
     * "Question: ...\nAnswer:" around it would only repeat. */
    dq_buf b = {0};
    dq_buf_printf(&b, "%s\n\n%s", k_system, prompt);
    if (b.oom || !(formatted = dq_buf_detach(&b))) {
      dq_buf_free(&b);
      rc = dq_err_set(DOCQ_ENOMEM, "ask: out of memory");
      goto done;
    }
    flen = strlen(formatted);
  } else if ((rc = dq_chat_format_tok(req->chat, m->tok, msgs, 2, 1, &formatted, &flen)) != 0) {
    goto done;
  }
  /* Per request: the exact length of this prompt plus the answer decides the
   * context and, beyond the original training length, the RoPE extension
   * (smallest YaRN factor that fits, or the file's own method). */
  long n_prompt = docq_tokenize(m, formatted, flen, 1, NULL, 0);
  if (n_prompt < 0) { rc = (int)n_prompt; goto done; }
  docq_ctx_options co;
  docq_ctx_options_init(&co, DOCQ_CTX_OPTIONS_VERSION);
  co.n_threads = req->gen->n_threads;
  if ((rc = docq_ctx_options_fit(m, (size_t)n_prompt + req->answer_tokens + 8, &co, out->ctx, sizeof out->ctx)) < 0)
    goto done;
  size_t used = strlen(out->ctx); /* and the prompt format */
  snprintf(out->ctx + used, sizeof out->ctx - used, "; chat template %s", dq_chat_label(req->chat));
  if ((rc = docq_ctx_new_ext(&c, m, &co)) == 0) {
    c->also_interrupted = req->interrupt;
    docq_ctx_set_prompt_progress(c, req->on_prompt, req->prompt_payload);
    dq_chat_reply r;
    rc = dq_chat_generate(c, req->chat, formatted, req->gen, req->on_reasoning, req->reasoning_payload, &r);
    docq_ctx_last_generation(c, &out->info);
    docq_ctx_last_timings(c, &out->prompt_s, &out->gen_s);
    if (rc == 0 || rc == DOCQ_ECANCELED) { /* stopped: the part written so far */
      out->text = r.text;
      out->reasoning = r.reasoning;
      out->unfinished_reasoning = r.unfinished;
    }
  }
done:
  docq_ctx_free(c);
  dq_free(defused);
  out->formatted = formatted; /* kept for docq_answer_model_prompt */
  return rc;
}
