/* Public API: docq_ask. Retrieve (docq_search), pack the passages under the
 * token budget in the requested order (src/assemble/pack.c), then answer:
 * extractively without a model (src/assemble/extract.c).
 *
 * The answer owns the search results; passages point at their hits. Nothing
 * retrieved is dropped silently: what did not fit is counted in left_out
 * with the best rank among it. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api/ask_model.h"
#include "api/chat.h"
#include "api/db_internal.h"
#include "assemble/assemble.h"
#include "indexer/normalize.h"
#include "util/err.h"
#include "util/mem.h"

struct docq_answer {
  docq_results *res;
  docq_passage *pass;  /* by label: pass[j].label == j + 1 */
  size_t n_pass;
  char *text;
  int *cites;          /* labels of the passages cited, in order of first citation */
  size_t n_cites;
  uint32_t (*qlines)[2]; /* by label: the lines cited (the quoted sentences', else the passage's) */
  int *quoted;         /* by label: 1 when qlines are the quoted sentences' own lines */
  char *prompt;
  char *model_prompt;  /* with a model: the prompt in its chat template */
  unsigned prompt_tokens;
  unsigned budget;
  char context[256];   /* with a model: the context and RoPE extension chosen for this request */
  int found;
  double score;        /* extractive: the best sentence's evidence score */
  int weak;            /* extractive: found, but a weak match (dq_extract_weak) */
  size_t left_out;
  int best_left_rank;
  docq_gen_info gen;   /* with a model: how its answer ended */
  char *reasoning;     /* with a reasoning model: its thinking (NULL: none) */
  double prompt_s, gen_s; /* with a model: reading the prompt, writing the answer */
  int unfinished_reasoning;
};

/* The size of a docq_ask_options of `version` (2..current): where the
 * fields added since begin. */
static size_t ask_options_size(unsigned version)
{
  switch (version) {
  case 2: return offsetof(docq_ask_options, tokenizer);
  case 3: return offsetof(docq_ask_options, chat_template);
  case 4: return offsetof(docq_ask_options, on_prompt);
  case 5: return offsetof(docq_ask_options, on_reasoning);
  case 6: return offsetof(docq_ask_options, keep_interrupted);
  default: return sizeof(docq_ask_options);
  }
}

DOCQ_API int docq_ask_options_init(docq_ask_options *opts, unsigned int version)
{
  DQ_ASSERT_ARG(opts);
  if (version < 2 || version > DOCQ_ASK_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_ask_options version %u is not supported (this library: 2-%d)", version,
                      DOCQ_ASK_OPTIONS_VERSION);
  docq_ask_options d;
  memset(&d, 0, sizeof d);
  d.version = version;
  docq_search_options so = DOCQ_SEARCH_OPTIONS_INIT;
  so.k = 20;
  d.search = so;
  d.order = DOCQ_ORDER_EDGES;
  d.budget_tokens = 0;
  d.model = NULL;
  docq_gen_options g = DOCQ_GEN_OPTIONS_INIT;
  d.gen = g;
  d.tokenizer = NULL;
  d.chat_template = NULL;
  d.on_prompt = NULL;
  d.prompt_payload = NULL;
  d.on_reasoning = NULL;
  d.reasoning_payload = NULL;
  d.keep_interrupted = 0;
  /* an older caller's struct ends before the fields added since */
  memcpy(opts, &d, ask_options_size(version));
  return 0;
}

DOCQ_API void docq_answer_free(docq_answer *a)
{
  if (!a) return;
  docq_results_free(a->res);
  dq_free(a->pass);
  dq_free(a->text);
  dq_free(a->cites);
  dq_free(a->qlines);
  dq_free(a->quoted);
  dq_free(a->reasoning);
  dq_free(a->prompt);
  dq_free(a->model_prompt);
  dq_free(a);
}

/* The citations of an extractive answer: cited[j] is passage j's order of
 * first citation (dq_extract), 0 when it is not cited. */
static int extract_citations(docq_answer *a, const int *cited)
{
  if (!(a->cites = dq_calloc(a->n_pass ? a->n_pass : 1, sizeof *a->cites))) return DOCQ_ENOMEM;
  for (size_t j = 0; j < a->n_pass; j++)
    if (cited[j]) a->cites[cited[j] - 1] = (int)j + 1;
  while (a->n_cites < a->n_pass && a->cites[a->n_cites]) a->n_cites++;
  return 0;
}

/* The lines each passage is cited with: by default its whole range; for a
 * passage an extractive answer quotes (q, by label; NULL for a model's
 * answer), the lines of the bytes quoted, when both ends map exactly onto
 * the file's lines (dq_api_hit_line) and fall within the passage's. */
static int cited_lines(docq_answer *a, const size_t *item, const dq_quote_range *q)
{
  if (!(a->qlines = dq_calloc(a->n_pass ? a->n_pass : 1, sizeof *a->qlines)) ||
      !(a->quoted = dq_calloc(a->n_pass ? a->n_pass : 1, sizeof *a->quoted)))
    return DOCQ_ENOMEM;
  for (size_t j = 0; j < a->n_pass; j++) {
    const docq_hit *h = a->pass[j].hit;
    a->qlines[j][0] = h->line_first;
    a->qlines[j][1] = h->line_last;
    uint32_t l1, l2;
    if (q && q[j].end > q[j].start && dq_api_hit_line(a->res, item[j], q[j].start, &l1) == 0 &&
        dq_api_hit_line(a->res, item[j], q[j].end - 1, &l2) == 0 && l1 <= l2 && l1 >= h->line_first &&
        l2 <= h->line_last) {
      a->qlines[j][0] = l1;
      a->qlines[j][1] = l2;
      a->quoted[j] = 1;
    }
  }
  return 0;
}

/* The citations of a model's answer: the markers its text holds
 * (dq_cite_scan), the only record there is of what it used. */
static int model_citations(docq_answer *a)
{
  if (!(a->cites = dq_calloc(a->n_pass ? a->n_pass : 1, sizeof *a->cites))) return DOCQ_ENOMEM;
  const char *t = docq_answer_text(a);
  long n = dq_cite_scan(t, strlen(t), a->n_pass, a->cites);
  if (n < 0) return (int)n;
  a->n_cites = (size_t)n;
  return 0;
}

DOCQ_API int docq_ask(docq_answer **out, docq_db *db, const char *question, const docq_ask_options *opts)
{
  DQ_ASSERT_ARG(out);
  *out = NULL;
  DQ_ASSERT_ARG(db && db->store);
  DQ_ASSERT_ARG(question);
  docq_ask_options d;
  if (!opts) {
    docq_ask_options_init(&d, DOCQ_ASK_OPTIONS_VERSION);
    opts = &d;
  }
  if (opts->version < 2 || opts->version > DOCQ_ASK_OPTIONS_VERSION)
    return dq_err_set(DOCQ_EVERSION, "docq_ask_options version %u is not supported (this library: 2-%d)",
                      opts->version, DOCQ_ASK_OPTIONS_VERSION);
  if (opts->version < DOCQ_ASK_OPTIONS_VERSION) { /* the fields it lacks take their defaults */
    const size_t have = ask_options_size(opts->version);
    docq_ask_options_init(&d, DOCQ_ASK_OPTIONS_VERSION);
    memcpy(&d, opts, have);
    d.version = DOCQ_ASK_OPTIONS_VERSION;
    opts = &d;
  }
  if ((int)opts->order < DOCQ_ORDER_EDGES || (int)opts->order > DOCQ_ORDER_DOCUMENT)
    return dq_err_set(DOCQ_EINVAL, "ask: unknown passage order %d", (int)opts->order);
  unsigned budget = opts->budget_tokens ? opts->budget_tokens : 2048, n_ctx = 0;
  /* Exact counts with a model's tokenizer: the answering model's, or one
   * given only for counting. */
  const docq_model *counter = opts->model ? opts->model : opts->tokenizer;
  dq_chat chat; /* with a model: the template its answer is asked in */
  if (opts->model) {
    /* the answer's settings are refused before the search, not after it */
    int brc = docq_gen_options_check(&opts->gen) < 0 ? dq_err_wrap("ask.gen") : 0;
    if (!brc) brc = dq_chat_for_model(opts->model, opts->chat_template, &chat) < 0 ? dq_err_wrap("ask") : 0;
    if (!brc) brc = dq_ask_model_budget(opts->model, opts->budget_tokens, opts->gen.n_predict, &budget, &n_ctx);
    if (brc) return brc;
  } else if (opts->tokenizer && !dq_ask_model_can_count(opts->tokenizer)) {
    return dq_err_set(DOCQ_EINVAL, "ask: the tokenizer file has no vocabulary to count with");
  }

  int rc = 0;
  dq_pack_item *items = NULL;
  int *cited = NULL;
  dq_quote_range *quoted = NULL;
  dq_packed pk = {0};
  /* The question goes into the prompt (a model's tokenizer) and is echoed:
   * invalid UTF-8 in it (a Latin-1 terminal) becomes U+FFFD here. */
  char *fixed = NULL;
  size_t n_fixed = 0;
  if ((rc = dq_utf8_repair(question, strlen(question), &fixed, &n_fixed, NULL)) < 0) return rc;
  question = fixed;
  docq_answer *a = dq_calloc(1, sizeof *a);
  if (!a) { dq_free(fixed); return DOCQ_ENOMEM; }
  docq_search_options so = opts->search;
  if (!so.k) so.k = 20;
  /* A merged span holds at most half the budget: a long run of matching
   * chunks is cut around its best ones instead of being left out whole. */
  if ((rc = dq_api_search(&a->res, db, question, &so, budget / 2)) < 0) goto done; /* also clears the interrupt flag */

  size_t n = docq_results_count(a->res);
  if (!(items = dq_calloc(n ? n : 1, sizeof *items))) { rc = DOCQ_ENOMEM; goto done; }
  for (size_t i = 0; i < n; i++) {
    const docq_hit *h = docq_results_get(a->res, i);
    items[i].title = h->title;
    items[i].path = h->path;
    items[i].text = h->text;
    items[i].text_len = strlen(h->text);
    items[i].line_first = h->line_first;
    items[i].line_last = h->line_last;
    items[i].markdown = h->format && !strcmp(h->format, "markdown");
  }
  /* With a tokenizer, token counts are exact; else estimated. */
  dq_pack_opts po = { budget,
                      opts->order == DOCQ_ORDER_RELEVANCE ? DQ_ORDER_RELEVANCE
                      : opts->order == DOCQ_ORDER_DOCUMENT ? DQ_ORDER_DOCUMENT : DQ_ORDER_EDGES,
                      counter ? dq_ask_count_tokens : NULL, (void *)counter };
  if ((rc = dq_pack(question, items, n, &po, &pk)) < 0) goto done;
  if (db->interrupted) { rc = dq_err_set(DOCQ_ECANCELED, "ask interrupted"); goto done; }

  a->n_pass = pk.n;
  if (!(a->pass = dq_calloc(pk.n ? pk.n : 1, sizeof *a->pass))) { rc = DOCQ_ENOMEM; goto done; }
  dq_pack_item *packed = items; /* reuse: packed passages in label order */
  for (size_t j = 0; j < pk.n; j++) {
    a->pass[j].label = (int)j + 1;
    a->pass[j].rank = (int)pk.item[j] + 1;
    a->pass[j].position = (int)pk.pos[j];
    a->pass[j].tokens = pk.tokens[j];
    a->pass[j].hit = docq_results_get(a->res, pk.item[j]);
    packed[j] = items[pk.item[j]]; /* item[] is increasing, so j <= item[j]: safe in place */
  }
  a->left_out = pk.left_out;
  a->best_left_rank = pk.best_left_rank;
  a->prompt_tokens = pk.prompt_tokens;
  a->budget = budget;
  a->prompt = pk.prompt;
  pk.prompt = NULL;

  if (!pk.n && n) {
    /* passages were found, but none fits beside the question: said, with or
     * without a model, not "nothing answers" */
    char msg[256];
    snprintf(msg, sizeof msg, "None of the %zu passages found fits the %u-token budget beside the question "
             "(%u tokens without them): shorten the question or raise the budget.", n, budget, pk.prompt_tokens);
    if (!(a->text = dq_strdup(msg))) { rc = DOCQ_ENOMEM; goto done; }
    *out = a;
    a = NULL;
    goto done;
  }
  if (opts->model) {
    a->found = pk.n > 0;
    if (!pk.n) {
      a->text = dq_strdup("No passage in the index answers this question.");
      if (!a->text) { rc = DOCQ_ENOMEM; goto done; }
    } else {
      /* the answer is as long as the context was sized for: n_predict 0
       * (or less) is the default there, so it is here too, not no answer */
      docq_gen_options gen = opts->gen;
      gen.n_predict = opts->gen.n_predict > 0 ? opts->gen.n_predict : DQ_ASK_ANSWER_TOKENS;
      dq_ask_model_req req = { &chat, a->prompt, (unsigned)gen.n_predict, &gen, opts->on_prompt, opts->prompt_payload,
                               opts->on_reasoning, opts->reasoning_payload, &db->interrupted };
      dq_ask_model_out mo = {0};
      rc = dq_ask_model_answer(opts->model, &req, &mo);
      if (rc == DOCQ_ECANCELED && opts->keep_interrupted) {
        rc = 0; /* the partial answer is the result: its stop says so */
        dq_err_clear();
      }
      if (rc < 0) {
        dq_free(mo.text);
        dq_free(mo.reasoning);
        dq_free(mo.formatted);
        if (rc == DOCQ_ECANCELED && db->interrupted) rc = dq_err_set(DOCQ_ECANCELED, "ask interrupted");
        goto done;
      }
      a->text = mo.text;
      a->reasoning = mo.reasoning;
      a->model_prompt = mo.formatted;
      a->unfinished_reasoning = mo.unfinished_reasoning;
      a->gen = mo.info;
      a->prompt_s = mo.prompt_s;
      a->gen_s = mo.gen_s;
      memcpy(a->context, mo.ctx, sizeof a->context);
      if ((rc = model_citations(a)) < 0) goto done;
      if ((rc = cited_lines(a, pk.item, NULL)) < 0) goto done;
    }
    *out = a;
    a = NULL;
    goto done;
  }
  if (!(cited = dq_calloc(pk.n ? pk.n : 1, sizeof *cited)) || !(quoted = dq_calloc(pk.n ? pk.n : 1, sizeof *quoted))) {
    rc = DOCQ_ENOMEM;
    goto done;
  }
  dq_extract_opts eo = { db->embedder, 3, -1.0 };
  if ((rc = dq_extract_ex(question, packed, pk.n, &eo, &a->text, &a->found, cited, &a->score, quoted)) < 0) goto done;
  a->weak = a->found && dq_extract_weak(question, a->score);
  if ((rc = extract_citations(a, cited)) < 0) goto done;
  if ((rc = cited_lines(a, pk.item, quoted)) < 0) goto done;
  *out = a;
  a = NULL;
done:
  docq_answer_free(a);
  dq_packed_free(&pk);
  dq_free(items);
  dq_free(cited);
  dq_free(quoted);
  dq_free(fixed);
  return rc;
}

DOCQ_API const char *docq_answer_text(const docq_answer *a) { return a && a->text ? a->text : ""; }
DOCQ_API int docq_answer_found(const docq_answer *a) { return a ? a->found : 0; }
DOCQ_API double docq_answer_score(const docq_answer *a) { return a ? a->score : 0; }
DOCQ_API int docq_answer_weak(const docq_answer *a) { return a ? a->weak : 0; }
DOCQ_API size_t docq_answer_passages(const docq_answer *a) { return a ? a->n_pass : 0; }
DOCQ_API size_t docq_answer_citations(const docq_answer *a) { return a ? a->n_cites : 0; }
DOCQ_API int docq_answer_citation(const docq_answer *a, size_t i) { return a && i < a->n_cites ? a->cites[i] : 0; }

DOCQ_API int docq_answer_citation_lines(const docq_answer *a, size_t i, uint32_t *first, uint32_t *last)
{
  if (first) *first = 0;
  if (last) *last = 0;
  if (!a || i >= a->n_cites || !a->qlines) return dq_err_set(DOCQ_EINVAL, "citation %zu out of range", i);
  const size_t j = (size_t)a->cites[i] - 1;
  if (first) *first = a->qlines[j][0];
  if (last) *last = a->qlines[j][1];
  return a->quoted[j];
}

DOCQ_API const docq_passage *docq_answer_passage(const docq_answer *a, size_t i)
{
  return a && i < a->n_pass ? &a->pass[i] : NULL;
}

DOCQ_API int docq_answer_generation(const docq_answer *a, docq_gen_info *out)
{
  DQ_ASSERT_ARG(a && out);
  *out = a->gen;
  return 0;
}

DOCQ_API void docq_answer_left_out(const docq_answer *a, size_t *count, int *best_rank)
{
  if (count) *count = a ? a->left_out : 0;
  if (best_rank) *best_rank = a ? a->best_left_rank : 0;
}

DOCQ_API const char *docq_answer_prompt(const docq_answer *a) { return a && a->prompt ? a->prompt : ""; }
DOCQ_API const char *docq_answer_model_prompt(const docq_answer *a)
{
  return a && a->model_prompt ? a->model_prompt : "";
}
DOCQ_API unsigned docq_answer_prompt_tokens(const docq_answer *a) { return a ? a->prompt_tokens : 0; }
DOCQ_API unsigned docq_answer_budget(const docq_answer *a) { return a ? a->budget : 0; }
DOCQ_API const char *docq_answer_context(const docq_answer *a) { return a ? a->context : ""; }
DOCQ_API const char *docq_answer_reasoning(const docq_answer *a) { return a && a->reasoning ? a->reasoning : ""; }
DOCQ_API int docq_answer_unfinished_reasoning(const docq_answer *a) { return a ? a->unfinished_reasoning : 0; }

DOCQ_API int docq_answer_timings(const docq_answer *a, double *prompt_seconds, double *answer_seconds)
{
  DQ_ASSERT_ARG(a);
  if (prompt_seconds) *prompt_seconds = a->prompt_s;
  if (answer_seconds) *answer_seconds = a->gen_s;
  return 0;
}
