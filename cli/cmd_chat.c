/* docq generate --chat: a conversation with a model in its own chat
 * template, one user message per line of standard input (or one message
 * given on the command line). Every turn resends the whole conversation on
 * the same context through docq_chat, so what was read before is kept
 * (prompt reuse) and each turn reads only what is new. When the
 * conversation outgrows the context, its oldest turns are dropped (the
 * system message stays), with a note. Public API only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct history {
  docq_chat_message *msgs;
  char **owned; /* the texts this file allocated (the system text is the caller's) */
  size_t n, cap;
} history;

/* Appends a message; `text` becomes the history's (NULL: set content after). */
static int history_add(history *h, const char *role, char *text)
{
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 16;
    docq_chat_message *m = realloc(h->msgs, cap * sizeof *m);
    if (!m) return -1;
    h->msgs = m;
    char **o = realloc(h->owned, cap * sizeof *o);
    if (!o) return -1;
    h->owned = o;
    h->cap = cap;
  }
  h->msgs[h->n] = (docq_chat_message){role, text};
  h->owned[h->n++] = text;
  return 0;
}

/* Drop messages [from, from + k). */
static void history_drop(history *h, size_t from, size_t k)
{
  for (size_t i = from; i < from + k; i++) free(h->owned[i]);
  memmove(h->msgs + from, h->msgs + from + k, (h->n - from - k) * sizeof *h->msgs);
  memmove(h->owned + from, h->owned + from + k, (h->n - from - k) * sizeof *h->owned);
  h->n -= k;
}

static void history_free(history *h)
{
  for (size_t i = 0; i < h->n; i++) free(h->owned[i]);
  free(h->msgs);
  free(h->owned);
}

/* The tokens the conversation takes with the opening of the answer, or a
 * negative code. */
static long conversation_tokens(const docq_model *m, const char *tmpl, const history *h)
{
  char *text = NULL;
  int rc = docq_chat_format(m, tmpl, h->msgs, h->n, 1, &text);
  if (rc < 0) return rc;
  long n = docq_tokenize(m, text, strlen(text), 1, NULL, 0);
  docq_free(text);
  return n;
}

/* Drops the oldest turns until the conversation and an answer of n_predict
 * tokens fit n_ctx (the system message and the newest user message stay).
 * Returns the messages dropped; -2 when the newest message does not fit
 * even alone, -1 on another error (message printed either way). */
static long make_room(const docq_model *m, const cli_chat_args *a, history *h, unsigned n_ctx, int n_predict)
{
  const size_t first = a->system ? 1 : 0;
  long dropped = 0, n;
  while ((n = conversation_tokens(m, a->template_name, h)) >= 0 && (size_t)n + (size_t)n_predict > n_ctx &&
         h->n - first > 1) {
    size_t k = h->n - first >= 3 ? 2 : 1; /* a user message and its answer */
    history_drop(h, first, k);
    dropped += (long)k;
  }
  if (n < 0) {
    cli_fail((int)n, "generate");
    return -1;
  }
  if ((size_t)n >= n_ctx) {
    cli_error(DOCQ_EINVAL, "generate", "the message takes %ld tokens with the template, more than the context of %u; "
              "-c N gives a longer one", n, n_ctx);
    return -2;
  }
  return dropped;
}

static int oom(void)
{
  return cli_error(DOCQ_ENOMEM, "generate", "out of memory");
}

/* The answer on stdout; the thinking line (or text) ends before it. */
static int print_answer(const char *s, size_t n, void *payload)
{
  cli_think_ui *think = payload;
  if (think->line || think->chars) cli_thinking_done(think);
  fwrite(s, 1, n, stdout);
  fflush(stdout);
  return 0;
}

static void print_turn_json(const char *user, const char *text, const char *reasoning, const docq_gen_info *g,
                            size_t reused, double prompt_s, double seconds, long dropped)
{
  printf("{\"user\":");
  cli_json_str(stdout, user);
  printf(",\"text\":");
  cli_json_str(stdout, text ? text : "");
  if (reasoning) {
    printf(",\"reasoning\":");
    cli_json_str(stdout, reasoning);
  }
  printf(",\"prompt_tokens\":%zu,\"reused_tokens\":%zu,\"generated_tokens\":%zu,\"stop\":\"%s\","
         "\"prompt_seconds\":%.6f,\"seconds\":%.6f,\"dropped_messages\":%ld}\n",
         g->prompt_tokens, reused, g->generated_tokens, cli_stop_name(g->stop), prompt_s, seconds, dropped);
  fflush(stdout);
}

/* --json: the object of a turn that Ctrl-C stopped (stop "interrupted"),
 * with what it had written; seconds is the whole turn, which went to the
 * prompt when it was not read whole (docq_ctx_last_timings then says 0). */
static void print_interrupted_turn(docq_ctx *c, const char *user, const cli_text *text, const cli_text *thinking,
                                   double seconds, long dropped)
{
  docq_gen_info info;
  docq_ctx_last_generation(c, &info);
  info.stop = DOCQ_STOP_CANCELED;
  double prompt_s = 0;
  docq_ctx_last_timings(c, &prompt_s, NULL);
  print_turn_json(user, text->buf, thinking->len ? thinking->buf : NULL, &info, docq_ctx_last_reused(c),
                  prompt_s > 0 ? prompt_s : seconds, seconds, dropped);
}

/* One line of standard input without its newline, or NULL at the end (or on
 * Ctrl-C, or a read error: errno says). *nul: the offset of its first NUL
 * byte (which would end the message there), else -1. free() it. */
static char *read_line(long *nul)
{
  char *line = NULL;
  size_t cap = 0;
  errno = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (n < 0) {
    free(line);
    return NULL;
  }
  const char *z = memchr(line, 0, (size_t)n);
  *nul = z ? (long)(z - line) : -1;
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
  return line;
}

int cli_chat(docq_ctx *c, const docq_model *m, const docq_gen_options *gen, const cli_chat_args *a)
{
  history h = {0};
  int code = 0;
  char *probe = NULL; /* an unknown --chat-template is a usage error, found before any turn */
  int rc = docq_chat_format(m, a->template_name, NULL, 0, 1, &probe);
  docq_free(probe);
  if (rc == DOCQ_EINVAL) return cli_usage("generate", "%s", docq_error_last()->message);
  if (rc < 0) return cli_fail(rc, "generate");
  if (a->system) {
    if (history_add(&h, "system", NULL) < 0) {
      history_free(&h);
      return oom();
    }
    h.msgs[0].content = a->system; /* the caller's: owned[0] stays NULL */
  }
  const int ask = isatty(STDIN_FILENO) && !a->first; /* a terminal: show a prompt */
  cli_think_ui think = {.show = a->show_thinking, .tty = cli_tty()};
  /* --json: each turn's text and thinking as they come, for a turn Ctrl-C stops (docq_chat returns none) */
  cli_text kept = {0}, kept_thinking = {0};
  docq_gen_options g = *gen;
  g.on_token = g_cli.json ? cli_keep_text : print_answer;
  g.payload = g_cli.json ? (void *)&kept : &think;
  docq_chat_options co;
  docq_chat_options_init(&co, DOCQ_CHAT_OPTIONS_VERSION);
  co.chat_template = a->template_name;
  co.on_reasoning = g_cli.json ? cli_keep_text : cli_thinking;
  co.reasoning_payload = g_cli.json ? (void *)&kept_thinking : &think;
  cli_prompt_ui pui = {.tty = cli_tty()};
  docq_ctx_set_prompt_progress(c, cli_prompt_progress, &pui);
  cli_on_sigint_ctx(c);
  long lineno = 0, nul = -1;
  for (int turn = 0;; turn++) {
    if (a->first && turn == 1) break;
    if (ask) fputs("> ", stderr);
    char *line = a->first ? strdup(a->first) : read_line(&nul);
    lineno += !a->first && line;
    if (!line) {
      if (ask) fputc('\n', stderr);
      if (cli_interrupted()) {
        code = EXIT_INTERRUPTED;
      } else if (ferror(stdin)) {
        code = cli_error(DOCQ_EIO, "generate", "reading standard input: %s", strerror(errno));
      }
      break;
    }
    if (nul >= 0) { /* not text, as -f FILE refuses it: at a terminal the conversation goes on without it */
      free(line);
      code = cli_error(DOCQ_EINVAL, "generate", "line %ld of standard input is not text (a NUL byte at offset %ld)",
                       lineno, nul);
      if (!ask) break;
      code = 0;
      turn--;
      continue;
    }
    if (cli_blank(line)) { /* nothing to say: ask again */
      free(line);
      turn--;
      continue;
    }
    if (history_add(&h, "user", line) < 0) {
      free(line);
      code = oom();
      break;
    }
    long dropped = make_room(m, a, &h, a->n_ctx, g.n_predict);
    if (dropped == -2 && ask) { /* at a terminal the conversation goes on without it */
      history_drop(&h, h.n - 1, 1);
      turn--;
      continue;
    }
    if (dropped < 0) {
      code = EXIT_FAIL;
      break;
    }
    if (dropped && !g_cli.json && !g_cli.quiet)
      fprintf(stderr, "docq generate: the conversation outgrew the context: dropped its oldest %ld message%s "
              "(-c N keeps more)\n", dropped, dropped == 1 ? "" : "s");
    char *text = NULL, *reasoning = NULL;
    pui.shown = 0;
    pui.t0 = 0;
    kept.len = kept_thinking.len = 0;
    if (kept.buf) kept.buf[0] = 0;
    double t0 = cli_now();
    rc = docq_chat(c, h.msgs, h.n, &g, &co, &text, &reasoning);
    if (rc >= 0 && (kept.oom || kept_thinking.oom)) { /* the answer is there, but --json lost part of it */
      docq_free(text);
      docq_free(reasoning);
      text = reasoning = NULL;
      rc = DOCQ_ENOMEM;
    }
    double seconds = cli_now() - t0;
    cli_prompt_clear(&pui);
    cli_thinking_done(&think);
    docq_gen_info info;
    docq_ctx_last_generation(c, &info);
    double prompt_s = 0;
    docq_ctx_last_timings(c, &prompt_s, NULL);
    if (rc < 0) {
      if (!g_cli.json) fputc('\n', stdout);
      if (rc == DOCQ_ECANCELED && cli_interrupted() && ask) {
        /* at a terminal Ctrl-C stops the answer, not the conversation: the
         * question is taken back, and the next Ctrl-C is a first one again */
        fprintf(stderr, "(stopped)\n");
        history_drop(&h, h.n - 1, 1);
        cli_interrupt_reset();
        turn--;
        continue;
      }
      if (rc == DOCQ_ECANCELED && cli_interrupted()) {
        if (g_cli.json) print_interrupted_turn(c, line, &kept, &kept_thinking, seconds, dropped);
        fprintf(stderr, "docq generate: interrupted\n");
        code = EXIT_INTERRUPTED;
      } else {
        code = cli_fail(rc, "generate");
      }
      break;
    }
    if (g_cli.json) print_turn_json(line, text, reasoning, &info, docq_ctx_last_reused(c), prompt_s, seconds, dropped);
    else {
      fputc('\n', stdout);
      fflush(stdout); /* the answer's line ends before a note, also when both go to one pipe */
    }
    if (reasoning && !*text && info.stop == DOCQ_STOP_LENGTH && !g_cli.json && !g_cli.quiet)
      fprintf(stderr, "docq generate: the model was still thinking after %zu tokens, so there is no answer; "
              "-n N gives it more\n", info.generated_tokens);
    if (info.stop == DOCQ_STOP_CONTEXT && !g_cli.json && !g_cli.quiet)
      fprintf(stderr, "docq generate: the answer stopped after %zu tokens: the context (%u tokens) is full; -c N "
              "gives a longer one\n", info.generated_tokens, a->n_ctx);
    docq_free(reasoning);
    /* the answer joins the conversation as the templates want it: without the
     * thinking, and without the white space around it (the plain format's
     * "Answer:" would otherwise read "Answer:  ..." next turn) */
    const char *t = text;
    while (*t == ' ' || *t == '\n' || *t == '\t' || *t == '\r') t++;
    size_t tn = strlen(t);
    while (tn && (t[tn - 1] == ' ' || t[tn - 1] == '\n' || t[tn - 1] == '\t' || t[tn - 1] == '\r')) tn--;
    char *kept = strndup(t, tn);
    docq_free(text);
    if (!kept || history_add(&h, "assistant", kept) < 0) {
      free(kept);
      code = oom();
      break;
    }
  }
  cli_on_sigint_ctx(NULL);
  history_free(&h);
  free(kept.buf);
  free(kept_thinking.buf);
  return code;
}
