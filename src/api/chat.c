/* docq_chat_format / docq_chat: a conversation written in the model's chat
 * template (engine/chat.c) and its next answer generated on the caller's
 * context, with a reasoning model's think block kept apart (engine/think.h).
 * The context is the caller's, so a conversation kept on one context reads
 * only its new turns (prompt reuse, docs/design.md). docq_ask's model path
 * generates through dq_chat_generate as well, on a context of its own. */
#include <string.h>

#include "api/chat.h"
#include "api/model_internal.h"
#include "engine/think.h"
#include "util/err.h"
#include "util/mem.h"

int dq_chat_for_model(const docq_model *m, const char *name, dq_chat *out)
{
  DQ_ASSERT_ARG(m && out);
  if (!name || !*name) {
    *out = m->chat;
    return 0;
  }
  if (dq_chat_by_name(out, name) < 0)
    return dq_err_set(DOCQ_EINVAL, "chat template '%s' unknown (%s)", name, dq_chat_names());
  return 0;
}

/* The public messages as the engine's (the same two fields, but another type). */
static int format(const docq_model *m, const dq_chat *chat, const docq_chat_message *msgs, size_t n, int gen,
                  char **out)
{
  if (!m->tok)
    return dq_err_set(DOCQ_EUNSUPPORTED, "chat: %s", m->tok_error ? m->tok_error : "the model has no tokenizer");
  dq_chat_msg one[8] = {{0}}, *em = n <= 8 ? one : dq_malloc(n * sizeof *em);
  if (!em) return dq_err_set(DOCQ_ENOMEM, "chat: out of memory");
  for (size_t i = 0; i < n; i++) em[i] = (dq_chat_msg){msgs[i].role, msgs[i].content};
  int rc = dq_chat_format_tok(chat, m->tok, em, n, gen, out, NULL);
  if (em != one) dq_free(em);
  return rc;
}

DOCQ_API int docq_chat_format(const docq_model *m, const char *template_name, const docq_chat_message *msgs,
                              size_t n, int add_generation_prompt, char **out)
{
  if (out) *out = NULL;
  DQ_ASSERT_ARG(m && (msgs || n == 0) && out);
  dq_chat chat;
  int rc = dq_chat_for_model(m, template_name, &chat);
  return rc < 0 ? rc : format(m, &chat, msgs, n, add_generation_prompt, out);
}

DOCQ_API int docq_chat_options_init(docq_chat_options *opts, unsigned int version)
{
  DQ_ASSERT_ARG(opts);
  if (version != DOCQ_CHAT_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_chat_options version %u is not supported (expected %u)", version,
                      DOCQ_CHAT_OPTIONS_VERSION);
  docq_chat_options d = DOCQ_CHAT_OPTIONS_INIT;
  *opts = d;
  return 0;
}

/* The think filter's answer side: the caller's on_token. */
static int to_caller(const char *s, size_t n, void *p)
{
  const docq_gen_options *g = p;
  return g->on_token ? g->on_token(s, n, g->payload) : 0;
}

/* docq_generate's on_token: everything goes through the think filter. */
static int to_filter(const char *s, size_t n, void *p)
{
  return dq_think_feed(p, s, n);
}

int dq_chat_generate(docq_ctx *c, const dq_chat *chat, const char *formatted, const docq_gen_options *gen,
                     int (*on_reasoning)(const char *utf8, size_t len, void *payload), void *reasoning_payload,
                     dq_chat_reply *out)
{
  DQ_ASSERT_ARG(c && chat && formatted && gen && out);
  memset(out, 0, sizeof *out);
  dq_think think;
  dq_think_init(&think, (chat->flags & DQ_CHAT_F_THINK) != 0);
  think.on_answer = to_caller;
  think.answer_payload = (void *)gen;
  think.on_reasoning = on_reasoning;
  think.reasoning_payload = reasoning_payload;
  docq_gen_options g = *gen;
  g.parse_special = 1; /* the template's markers are special tokens */
  g.on_token = to_filter;
  g.payload = &think;
  int rc = docq_generate(c, formatted, &g, NULL);
  if (rc == 0 && (rc = dq_think_finish(&think)) > 0)
    rc = dq_err_set(DOCQ_ECANCELED, "generation stopped by the on_token callback");
  if (think.hold.oom || think.answer.oom || think.reasoning.oom) /* the filter's, seen as a stop */
    rc = dq_err_set(DOCQ_ENOMEM, "chat: out of memory");
  /* stopped (docq_ctx_interrupt or a callback): what was passed on so far */
  if (rc == 0 || rc == DOCQ_ECANCELED) {
    out->unfinished = dq_think_inside(&think);
    if (!(out->text = dq_buf_detach(&think.answer)) && !(out->text = dq_strdup(""))) rc = DOCQ_ENOMEM;
    if (rc != DOCQ_ENOMEM && think.reasoning.len && !(out->reasoning = dq_buf_detach(&think.reasoning)))
      rc = DOCQ_ENOMEM;
    if (rc == DOCQ_ENOMEM) {
      dq_free(out->text);
      memset(out, 0, sizeof *out);
      rc = dq_err_set(DOCQ_ENOMEM, "chat: out of memory");
    }
  }
  dq_think_free(&think);
  return rc;
}

DOCQ_API int docq_chat(docq_ctx *c, const docq_chat_message *msgs, size_t n, const docq_gen_options *gen,
                       const docq_chat_options *chat, char **out_text, char **out_reasoning)
{
  if (out_text) *out_text = NULL;
  if (out_reasoning) *out_reasoning = NULL;
  DQ_ASSERT_ARG(c && (msgs || n == 0));
  if (chat && chat->version != DOCQ_CHAT_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_chat_options version %u is not supported", chat->version);
  docq_gen_options defaults = DOCQ_GEN_OPTIONS_INIT;
  dq_chat tmpl;
  char *formatted = NULL;
  int rc = dq_chat_for_model(c->model, chat ? chat->chat_template : NULL, &tmpl);
  if (rc == 0) rc = format(c->model, &tmpl, msgs, n, 1, &formatted);
  if (rc < 0) return rc;
  dq_chat_reply r;
  rc = dq_chat_generate(c, &tmpl, formatted, gen ? gen : &defaults, chat ? chat->on_reasoning : NULL,
                        chat ? chat->reasoning_payload : NULL, &r);
  dq_free(formatted);
  if (rc < 0) {
    dq_free(r.text); /* a stopped generation's part: docq_chat returns nothing on failure */
    dq_free(r.reasoning);
    return rc;
  }
  if (out_text) *out_text = r.text;
  else dq_free(r.text);
  if (out_reasoning) *out_reasoning = r.reasoning;
  else dq_free(r.reasoning);
  return 0;
}
