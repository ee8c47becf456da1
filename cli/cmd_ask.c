/* docq ask: answer a question from the index with citations. Prints the
 * answer paragraph ([n] citations), then "Sources:" with label, title and
 * path:first-last of each cited passage (without a model, the lines of the
 * sentences quoted from it: docq_answer_citation_lines); --verbose adds every
 * packed passage and what was left out for lack of budget; --json prints the
 * whole record (answer, found, citations and their citation_lines, packed
 * passages with scores, ranks, prompt positions and lines, left_out,
 * prompt_tokens). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
  fputs("usage: docq ask \"QUESTION\" [options]\n"
        "  --order O        passage order in the prompt: edges (default: best first and last,\n"
        "                   weakest in the middle), relevance, document\n"
        "  --budget N       context budget in tokens (default 2048; with --model, what the\n"
        "                   model's context leaves after the answer, at most 4096: more\n"
        "                   passages mean a longer wait before the answer starts)\n"
        "  -k N             passages retrieved before packing (default 20)\n"
        "  --mode M         retrieval: hybrid (default), bm25, vector\n"
        "  --no-feedback    no re-ranking with terms of the best passages (RM3); how close\n"
        "                   the question's words stand still counts\n"
        CLI_FILTER_HELP
        "  --show-prompt    print the packed prompt (with a model, as it read it: in its\n"
        "                   chat template, with docq's system message); with --json, the\n"
        "                   record's \"prompt\" (and \"model_prompt\", what a model read)\n"
        "  --model FILE     answer with a GGUF model (Qwen2.5, Qwen3, Llama 3.x, SmolLM2/3,\n"
        "                   TinyLlama, Mistral, Phi-3, DeepSeek-R1 distills...); the\n"
        "                   answer is streamed, then the sources (on a terminal, reading\n"
        "                   a prompt over 512 tokens shows its progress first, on\n"
        "                   stderr). Without --model: $DOCQ_MODEL, else the\n"
        "                   index's (docq config model FILE); with none, the best\n"
        "                   sentences, with citations\n"
        "  --no-model       answer extractively even when $DOCQ_MODEL or the index names a model\n"
        "  --tokenizer FILE without --model: count the prompt's tokens exactly with this GGUF's\n"
        "                   tokenizer (a tokenizer-only file will do) instead of the\n"
        "                   conservative estimate; the answer stays extractive\n"
        "  --chat-template NAME  with --model: the prompt format when the file's template is\n"
        "                   missing or not recognized (docq model info names the one used):\n"
        "                   chatml, qwen3, smollm3, chatml-think, llama3, llama3.1, llama3.2,\n"
        "                   llama2, mistral, mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7,\n"
        "                   mistral-v7-tekken, zephyr, phi3, phi4-mini, phi4, deepseek,\n"
        "                   deepseek-r1, gemma or plain\n"
        "  -n N             answer length in tokens with a model, at least 1 (default 256,\n"
        "                   and 1024 for a model whose template has it reason first, as\n"
        "                   its thinking counts; docq model info says which); the context\n"
        "                   is sized for N\n"
        "  --show-thinking  print a reasoning model's thinking on stderr as it is written\n"
        "                   (otherwise a terminal shows only how long it has been thinking)\n"
        "  --temp T         sampling temperature (default 0.7; 0 = greedy: the likeliest token\n"
        "                   after the repetition penalty)\n"
        "  --repeat-penalty R  divides (multiplies, when negative) the score of each token\n"
        "                   among the last N read or written, the question's own words\n"
        "                   too; 1 = off (default 1.1)\n"
        "  --repeat-last-n N  the tokens the penalty looks back over (default 64)\n"
        "  --seed S         sampling seed\n"
        "  -t N             threads (default: all cores)\n"
        "  --verbose        also list every packed passage and what was left out\n"
        "  --json           machine-readable output\n"
        "  --db DIR         the index folder\n"
        "Exit codes: 0 ok (also \"no passage answers this\"), 1 failed, 2 usage, 3 no index,\n"
        "130 interrupted (Ctrl-C stops a model's answer where it is; what it wrote is kept,\n"
        "then its sources; with --json, the record with \"stop\": \"interrupted\").\n", f);
}

static int g_streamed; /* some of the answer is on stdout */

static cli_think_ui g_think; /* a reasoning model's thinking, shown as cli_thinking does */

static int stream_token(const char *utf8, size_t len, void *payload)
{
  (void)payload;
  if (!g_streamed) cli_thinking_done(&g_think);
  g_streamed = 1;
  fwrite(utf8, 1, len, stdout);
  fflush(stdout);
  return 0;
}

/* The size and modification time the index holds for `path`. */
typedef struct indexed_file { const char *path; int found; uint64_t bytes; int64_t mtime; } indexed_file;

static int find_indexed(const docq_doc_info *info, void *payload)
{
  indexed_file *f = payload;
  if (strcmp(info->path, f->path)) return 0;
  f->found = 1;
  f->bytes = info->bytes;
  f->mtime = info->mtime;
  return 1;
}

/* A source: "[n] title — path:first-last", the passage's lines unless
 * lines (may be NULL) gives those cited (docq_answer_citation_lines). The
 * index is a copy: a file deleted or changed since the last run is still
 * quoted as it was, and its lines may have moved; say so. */
static void print_source(docq_db *db, const docq_passage *p, const uint32_t *lines)
{
  const docq_hit *h = p->hit;
  printf("  [%d] ", p->label);
  if (h->title && *h->title) printf("%s — ", h->title);
  printf("%s:%u-%u", h->path, lines ? lines[0] : h->line_first, lines ? lines[1] : h->line_last);
  struct stat st;
  if (h->path[0] != '/') { /* an in-memory document: no file */
  } else if (stat(h->path, &st) != 0) {
    if (errno == ENOENT) printf(" (the file is gone since it was indexed: run docq index)");
  } else {
    indexed_file f = {.path = h->path};
    docq_list_documents(db, h->path, find_indexed, &f);
    if (f.found && f.mtime && ((uint64_t)st.st_size != f.bytes || (int64_t)st.st_mtime != f.mtime))
      printf(" (the file changed since it was indexed: these lines may have moved; run docq index)");
  }
  printf("\n");
}

static void print_json(const char *question, const docq_answer *a, const char *order, unsigned budget, int show_prompt)
{
  size_t lo = 0;
  int best = 0;
  docq_answer_left_out(a, &lo, &best);
  printf("{\"question\":");
  cli_json_str(stdout, question);
  printf(",\"answer\":");
  cli_json_str(stdout, docq_answer_text(a));
  if (*docq_answer_reasoning(a)) { /* a reasoning model's thinking */
    printf(",\"reasoning\":");
    cli_json_str(stdout, docq_answer_reasoning(a));
    printf(",\"unfinished_reasoning\":%s", docq_answer_unfinished_reasoning(a) ? "true" : "false");
  }
  printf(",\"found\":%s,\"score\":%.4f,\"weak\":%s,\"order\":\"%s\",\"budget\":%u,\"prompt_tokens\":%u,"
         "\"citations\":[",
         docq_answer_found(a) ? "true" : "false", docq_answer_score(a), docq_answer_weak(a) ? "true" : "false", order, budget,
         docq_answer_prompt_tokens(a));
  /* the library's record of what the answer cites: a bracket in quoted
   * text (code's items[2]) is none */
  for (size_t i = 0; i < docq_answer_citations(a); i++) printf("%s%d", i ? "," : "", docq_answer_citation(a, i));
  /* the lines each citation points at: the quoted sentences' own ("quoted":
   * true), else the passage's */
  printf("],\"citation_lines\":[");
  for (size_t i = 0; i < docq_answer_citations(a); i++) {
    uint32_t l1 = 0, l2 = 0;
    int q = docq_answer_citation_lines(a, i, &l1, &l2);
    printf("%s{\"label\":%d,\"line_first\":%u,\"line_last\":%u,\"quoted\":%s}", i ? "," : "",
           docq_answer_citation(a, i), l1, l2, q == 1 ? "true" : "false");
  }
  printf("],\"passages\":[");
  for (size_t i = 0; i < docq_answer_passages(a); i++) {
    const docq_passage *p = docq_answer_passage(a, i);
    const docq_hit *h = p->hit;
    printf("%s{\"label\":%d,\"rank\":%d,\"position\":%d,\"tokens\":%u,\"score\":%.6g,\"bm25_rank\":%d,"
           "\"vector_rank\":%d,\"path\":", i ? "," : "", p->label, p->rank, p->position, p->tokens, h->score,
           h->bm25_rank, h->vector_rank);
    cli_json_str(stdout, h->path);
    printf(",\"title\":");
    cli_json_str(stdout, h->title);
    printf(",\"section\":");
    cli_json_str(stdout, h->section);
    printf(",\"line_first\":%u,\"line_last\":%u,\"text\":", h->line_first, h->line_last);
    cli_json_str(stdout, h->text);
    printf("}");
  }
  printf("],\"left_out\":{\"count\":%zu,\"best_rank\":%d}", lo, best);
  if (*docq_answer_context(a)) {
    printf(",\"context\":");
    cli_json_str(stdout, docq_answer_context(a));
  }
  docq_gen_info g;
  if (docq_answer_generation(a, &g) == 0 && g.stop != DOCQ_STOP_NONE) /* a model's answer */
    printf(",\"generated_tokens\":%zu,\"stop\":\"%s\"", g.generated_tokens, cli_stop_name(g.stop));
  double prompt_s = 0, answer_s = 0;
  docq_answer_timings(a, &prompt_s, &answer_s);
  if (prompt_s > 0) /* reading the packed prompt, then writing the answer */
    printf(",\"prompt_seconds\":%.3f,\"answer_seconds\":%.3f", prompt_s, answer_s);
  if (show_prompt) { /* to send docq's prompt to another model, or see what one read */
    printf(",\"prompt\":");
    cli_json_str(stdout, docq_answer_prompt(a));
    if (*docq_answer_model_prompt(a)) {
      printf(",\"model_prompt\":");
      cli_json_str(stdout, docq_answer_model_prompt(a));
    }
  }
  printf("}\n");
}

int cmd_ask(int argc, char **argv)
{
  docq_ask_options ao;
  docq_ask_options_init(&ao, DOCQ_ASK_OPTIONS_VERSION);
  const char *order_name = "edges";
  const char *model_path = getenv("DOCQ_MODEL");
  int model_flag = 0; /* model_path came from --model (else $DOCQ_MODEL or the index) */
  if (model_path && !*model_path) model_path = NULL;
  const char *tok_path = NULL;
  int no_model = 0; /* --no-model: extractive, whatever $DOCQ_MODEL or the index say */
  char config_model[PATH_MAX] = ""; /* the index's answer model (docq config model) */
  int show_prompt = 0, n_given = 0;
  char q[8192];
  int got = 0; /* a question argument was given (maybe empty) */
  size_t ql = 0;
  q[0] = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int c = cli_common_opt(argc, argv, &i);
    if (c == 0) c = cli_filter_opt(argc, argv, &i, &ao.search, "ask");
    if (c < 0) return EXIT_USAGE;
    if (c > 0) continue;
    /* an option's value: "--model --json" lacks one (a file named so: ./--json) */
    int has = i + 1 < argc && !cli_looks_like_option(argv[i + 1]);
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
    if (!strcmp(a, "--order")) {
      if (!has) goto missing;
      order_name = argv[++i];
      if (!strcmp(order_name, "edges")) ao.order = DOCQ_ORDER_EDGES;
      else if (!strcmp(order_name, "relevance")) ao.order = DOCQ_ORDER_RELEVANCE;
      else if (!strcmp(order_name, "document")) ao.order = DOCQ_ORDER_DOCUMENT;
      else return cli_usage("ask", "--order is edges, relevance or document");
    } else if (!strcmp(a, "--budget")) {
      if (!has) goto missing;
      int b;
      if (cli_int_arg("ask", a, argv[++i], 64, 10000000, &b)) return EXIT_USAGE;
      ao.budget_tokens = (unsigned)b;
    } else if (!strcmp(a, "-k")) {
      if (!has) goto missing;
      int k;
      if (cli_int_arg("ask", a, argv[++i], 1, 1000, &k)) return EXIT_USAGE;
      ao.search.k = (unsigned)k;
    } else if (!strcmp(a, "--mode")) {
      if (!has) goto missing;
      const char *m = argv[++i];
      if (!strcmp(m, "hybrid")) ao.search.mode = DOCQ_MODE_HYBRID;
      else if (!strcmp(m, "bm25")) ao.search.mode = DOCQ_MODE_BM25;
      else if (!strcmp(m, "vector")) ao.search.mode = DOCQ_MODE_VECTOR;
      else return cli_usage("ask", "--mode is hybrid, bm25 or vector");
    } else if (!strcmp(a, "--no-feedback")) {
      ao.search.feedback = 0;
    } else if (!strcmp(a, "--show-prompt")) {
      show_prompt = 1;
    } else if (!strcmp(a, "--show-thinking")) {
      g_think.show = 1;
    } else if (!strcmp(a, "--model") || !strcmp(a, "-m")) {
      if (!has) goto missing;
      model_path = argv[++i];
      model_flag = 1;
      no_model = 0;
    } else if (!strcmp(a, "--no-model")) {
      no_model = 1;
      model_path = NULL;
    } else if (!strcmp(a, "--tokenizer")) {
      if (!has) goto missing;
      tok_path = argv[++i];
    } else if (!strcmp(a, "--chat-template")) {
      if (!has) goto missing;
      ao.chat_template = argv[++i];
    } else if (!strcmp(a, "-n") || !strcmp(a, "--temp") || !strcmp(a, "--seed") || !strcmp(a, "-t") ||
               !strcmp(a, "--repeat-penalty") || !strcmp(a, "--repeat-last-n")) {
      if (!has) goto missing;
      const char *v = argv[++i];
      /* the ranges docq generate takes, but -n from 1: generate -n 0 reads
       * the prompt and writes nothing, which is no answer */
      int bad = !strcmp(a, "-n")       ? cli_int_arg("ask", a, v, 1, 1 << 24, &ao.gen.n_predict)
                : !strcmp(a, "--temp") ? cli_float_arg("ask", a, v, 0, 100, &ao.gen.temperature)
                : !strcmp(a, "--seed") ? cli_seed_arg("ask", a, v, &ao.gen.seed)
                : !strcmp(a, "--repeat-penalty") ? cli_float_arg("ask", a, v, 0, 100, &ao.gen.repeat_penalty)
                : !strcmp(a, "--repeat-last-n")  ? cli_int_arg("ask", a, v, 0, 1 << 24, &ao.gen.repeat_last_n)
                                       : cli_int_arg("ask", a, v, 0, 1024, &ao.gen.n_threads);
      if (bad) return EXIT_USAGE;
      if (!strcmp(a, "-n")) n_given = 1;
    } else if (a[0] == '-' && a[1] && strcmp(a, "--")) {
      return cli_usage("ask", "unknown option %s", a);
    } else {
      if (!strcmp(a, "--") && i + 1 < argc) a = argv[++i];
      got = 1;
      size_t n = strlen(a);
      if (ql + n + 2 > sizeof q) return cli_usage("ask", "the question is longer than %zu bytes; shorten it", sizeof q - 1);
      if (ql) q[ql++] = ' ';
      memcpy(q + ql, a, n + 1);
      ql += n;
    }
    continue;
  missing:
    return cli_missing("ask", argc, argv, i);
  }
  if (!got) {
    usage(stderr);
    return cli_usage("ask", "a question is required");
  }
  if (cli_blank(q)) return cli_usage("ask", "the question is empty; give it in quotes, e.g. docq ask \"how do I ...\"");
  if (docq_gen_options_check(&ao.gen) < 0) return cli_usage("ask", "%s", docq_error_last()->message); /* --repeat-penalty 0 */

  docq_db *db = NULL;
  int code = cli_open_db(&db, 0, 1);
  if (code) return code;
  cli_on_sigint(db);
  docq_model *model = NULL;
  if (!model_path && !tok_path && !no_model && docq_db_answer_model(db, config_model, sizeof config_model) == 0 &&
      *config_model)
    model_path = config_model;
  if (model_path) {
    cli_on_sigbus(model_path);
    /* where the file's name came from, for the messages that name it */
    const char *from = model_flag ? "--model" : model_path == config_model ? "the index's answer model" : "$DOCQ_MODEL";
    int mrc = docq_model_load(&model, model_path);
    if (mrc && model_path == config_model) {
      code = cli_fail(mrc, "cannot load the index's answer model");
      fprintf(stderr, "docq ask: it was set by `docq config model`: set another with docq config model FILE, "
              "or forget it with docq config model --unset (--no-model answers extractively now)\n");
      cli_db_free(db);
      return code;
    }
    if (mrc) {
      code = cli_fail(mrc, model_flag ? "cannot load the model (--model)" : "cannot load the model named by $DOCQ_MODEL");
      if (!model_flag)
        fprintf(stderr, "docq ask: set DOCQ_MODEL to another file, or unset it (--no-model answers extractively now)\n");
      cli_db_free(db);
      return code;
    }
    docq_model_meta meta = {0};
    if (docq_model_get_meta(model, &meta) == 0 && !meta.has_weights) {
      /* checked here, where the file's name and where it came from are known */
      char msg[PATH_MAX + 256];
      snprintf(msg, sizeof msg, "%s (%s) holds a tokenizer but no weights, so it cannot write answers; give a full "
               "model (or this file to --tokenizer, to count tokens with it)", model_path, from);
      code = cli_error(DOCQ_EINVAL, "ask", "%s", msg);
      docq_model_free(model);
      cli_db_free(db);
      return code;
    }
    if (ao.chat_template) { /* an unknown name is a usage error, found before any retrieval (as generate) */
      char *probe = NULL;
      int prc = docq_chat_format(model, ao.chat_template, NULL, 0, 1, &probe);
      docq_free(probe);
      if (prc < 0) {
        code = prc == DOCQ_EINVAL ? cli_usage("ask", "%s", docq_error_last()->message) : cli_fail(prc, "ask");
        docq_model_free(model);
        cli_db_free(db);
        return code;
      }
    }
    ao.model = model;
    ao.keep_interrupted = 1; /* Ctrl-C: the answer so far, then its sources */
    /* a reasoning model's thinking comes out of the same tokens: 256 would
     * mostly end inside it, with no answer (such models have long contexts;
     * a short one keeps the default, which it can hold) */
    if (!n_given && meta.n_ctx_train >= 4096 &&
        docq_chat_template_thinks(ao.chat_template ? ao.chat_template : docq_model_chat_template(model)))
      ao.gen.n_predict = 1024;
    if (!g_cli.json) {
      ao.gen.on_token = stream_token; /* the answer appears as it is generated */
      ao.on_reasoning = cli_thinking;
      ao.reasoning_payload = &g_think;
      g_think.tty = cli_tty();
    }
  } else if (tok_path) {
    /* counting only: the answer stays extractive */
    int mrc = docq_model_load_info(&model, tok_path);
    if (mrc) { code = cli_fail(mrc, "cannot load the tokenizer"); cli_db_free(db); return code; }
    ao.tokenizer = model;
  }
  if (ao.chat_template && !ao.model && !g_cli.quiet)
    fprintf(stderr, "docq ask: --chat-template is for a model's answer; none is given (--model, $DOCQ_MODEL or "
            "docq config model), so it is ignored\n");
  cli_prompt_ui pui = {.tty = cli_tty()};
  if (ao.model) {
    ao.on_prompt = cli_prompt_progress;
    ao.prompt_payload = &pui;
  }
  docq_answer *ans = NULL;
  int rc = docq_ask(&ans, db, q, &ao);
  cli_prompt_clear(&pui);
  cli_thinking_done(&g_think);
  if (rc == DOCQ_ECANCELED && !g_cli.json) {
    /* Ctrl-C: a streamed answer stops where it was */
    if (g_streamed) printf("\n");
    fflush(stdout); /* the line ends before the note, even when both go to one pipe */
    fprintf(stderr, "docq ask: interrupted%s\n", g_streamed ? "; the answer above is incomplete" : "");
    cli_db_free(db);
    docq_model_free(model);
    return EXIT_INTERRUPTED;
  }
  if (rc < 0) {
    if (g_streamed && !g_cli.json) { printf("\n"); fflush(stdout); } /* a partial answer's line ends first */
    /* -n (or --budget) asks more than the model's context holds */
    code = rc == DOCQ_EINVAL && ao.model ? cli_usage("ask", "%s", cli_error_text("ask")) : cli_fail_read(rc, "ask failed");
    cli_db_free(db);
    docq_model_free(model);
    return code;
  }
  docq_gen_info gi;
  const int stopped = docq_answer_generation(ans, &gi) == 0 && gi.stop == DOCQ_STOP_CANCELED && cli_interrupted();
  if (stopped && !g_cli.json && !g_streamed) {
    /* stopped while reading the prompt or thinking: no answer to source */
    fprintf(stderr, "docq ask: interrupted before the answer began\n");
    docq_answer_free(ans);
    cli_db_free(db);
    docq_model_free(model);
    return EXIT_INTERRUPTED;
  }
  unsigned budget = docq_answer_budget(ans);
  size_t lo = 0;
  int best = 0;
  docq_answer_left_out(ans, &lo, &best);
  if (g_cli.json) {
    print_json(q, ans, order_name, budget, show_prompt);
  } else {
    if (docq_answer_found(ans) && docq_answer_unfinished_reasoning(ans)) {
      printf("(no answer: the model was still thinking when it stopped)\n");
    } else if (docq_answer_found(ans)) {
      if (ao.model) printf("\n"); /* the text was streamed */
      else if (docq_answer_weak(ans))
        printf("Weak match (these sentences share only part of the question; the documents may not answer it):\n%s\n",
               docq_answer_text(ans));
      else printf("%s\n", docq_answer_text(ans));
      const size_t nc = docq_answer_citations(ans);
      printf("\nSources:\n");
      for (size_t i = 0; i < nc; i++) { /* the lines of what was quoted (a model's: the passage's) */
        uint32_t lines[2];
        int lq = docq_answer_citation_lines(ans, i, &lines[0], &lines[1]);
        print_source(db, docq_answer_passage(ans, (size_t)docq_answer_citation(ans, i) - 1), lq >= 0 ? lines : NULL);
      }
      /* a model that cited nothing: list what it was given */
      for (size_t i = 0; !nc && i < docq_answer_passages(ans); i++) print_source(db, docq_answer_passage(ans, i), NULL);
    } else {
      size_t n_left = 0;
      int best_left = 0;
      docq_answer_left_out(ans, &n_left, &best_left);
      if (!docq_answer_passages(ans) && n_left) /* found, but none fits beside the question: the library says so */
        printf("%s\n", docq_answer_text(ans));
      else printf("No passage in the index answers this question.\n");
      if (docq_answer_passages(ans)) {
        printf("\nClosest passages:\n");
        for (size_t i = 0; i < docq_answer_passages(ans) && i < 3; i++) print_source(db, docq_answer_passage(ans, i), NULL);
      }
    }
    if (g_cli.verbose) {
      printf("\nPacked %zu passages, %u of %u tokens (order: %s):\n", docq_answer_passages(ans),
             docq_answer_prompt_tokens(ans), budget, order_name);
      for (size_t i = 0; i < docq_answer_passages(ans); i++) {
        const docq_passage *p = docq_answer_passage(ans, i);
        printf("  [%d] rank %d, position %d, %u tokens, score %.4f  %s:%u-%u\n", p->label, p->rank, p->position,
               p->tokens, p->hit->score, p->hit->path, p->hit->line_first, p->hit->line_last);
      }
      if (*docq_answer_context(ans)) printf("Model context: %s\n", docq_answer_context(ans));
      if (lo) printf("Left out for lack of budget: %zu passages (best rank %d); raise --budget to include them.\n", lo, best);
      else printf("Nothing was left out.\n");
    } else if (lo && !g_cli.quiet) {
      fflush(stdout); /* after the answer and its sources, also when both go to one pipe */
      fprintf(stderr, "(%zu retrieved passages did not fit the %u-token budget; best left out: rank %d)\n", lo, budget, best);
    }
    docq_gen_info g;
    /* (not DOCQ_STOP_CONTEXT: ask sizes the context for the prompt and -n tokens) */
    if (docq_answer_generation(ans, &g) == 0 && g.stop == DOCQ_STOP_LENGTH && !g_cli.quiet) {
      fflush(stdout);
      if (docq_answer_unfinished_reasoning(ans))
        fprintf(stderr, "(the model was still thinking after %zu tokens, the most -n allows, so it gave no answer; "
                "reasoning models often need -n 1000 or more)\n", g.generated_tokens);
      else
        fprintf(stderr, "(the answer stopped at %zu tokens, the most -n allows, and may be cut short; -n N allows "
                "more)\n", g.generated_tokens);
    }
    if (show_prompt) /* with a model, what it read: the chat template around the packed prompt */
      printf("\n--- prompt ---\n%s\n", *docq_answer_model_prompt(ans) ? docq_answer_model_prompt(ans)
                                                                       : docq_answer_prompt(ans));
  }
  docq_answer_free(ans);
  cli_db_free(db);
  docq_model_free(model);
  if (stopped) {
    fflush(stdout); /* the note comes after the sources, also when both go to one pipe */
    fprintf(stderr, "docq ask: interrupted%s\n", g_cli.json ? "" : "; the answer above is incomplete");
    return EXIT_INTERRUPTED;
  }
  return 0;
}
