/* bench_reuse: what prompt reuse (docq_generate keeping the batches a
 * context already read, design.md) saves in a conversation, on the
 * Qwen2.5-0.5B-shaped random model of qwen_shape.h.
 *
 * A conversation of --turns turns: each turn appends a user message of
 * about --user tokens (random words) and resends the whole history, then
 * the model answers (-n tokens, greedy), and the answer joins the history.
 * Two ways, alternating round by round in one process on one loaded model:
 *   reuse: one context for the whole conversation (docq_generate's default);
 *   fresh: the cache emptied before every turn (docq_ctx_eval(c, NULL, 0, 1,
 *          NULL)), so every turn reads its whole prompt: the baseline.
 * Per round: the seconds spent reading prompts over all turns
 * (docq_ctx_last_timings), the tokens read, and the whole conversation's
 * wall time. Medians over -r rounds, and their ratio fresh / reuse. Every
 * answer of a reuse round must equal the fresh round's, byte for byte (the
 * reuse is exact): a difference is reported and the exit code is 1.
 *
 * Measured 2026-11-28 (session 29; 2-core AMD EPYC, Zen 3, AVX2; load ~2),
 * the 0.5B shape, n_batch 512, medians of 3 rounds:
 *   bench_reuse --turns 4 --user 100 -n 32 -r 3 (Q8_0): prompts read 23.72 s
 *     fresh, 14.04 s reused (1.69x); conversation 27.87 s vs 18.28 s (1.52x);
 *     3476 tokens read vs 1940 (1536 kept)
 *   bench_reuse --turns 6 --user 100 -n 32 -r 3 --mix q4_k_m: 44.67 s vs
 *     25.15 s (1.78x); conversation 49.64 s vs 30.58 s (1.62x); 7246 tokens
 *     read vs 3662 (3584 kept)
 *   bench_reuse --turns 4 --user 100 -n 32 -r 3 --shape gemma3-1b (Q8_0;
 *     sliding window 512 in 5 of 6 layers): 39.32 s vs 28.32 s (1.39x);
 *     conversation 48.14 s vs 36.99 s (1.30x); 3396 tokens read vs 2372
 *     (1024 kept)
 * Measured 2026-11-28 (session 30, same machine, load < 0.1 before), through
 * docq_chat as an application runs a conversation:
 *   bench_reuse --turns 4 --user 100 -n 32 -r 3 --chat chatml: prompts read
 *     23.46 s fresh, 13.64 s reused (1.72x); conversation 28.06 s vs 17.95 s
 *     (1.56x); 3575 tokens read vs 2039 (1536 kept); the plain run beside
 *     it: 1.79x and 1.63x
 *   n_batch, the unit reuse keeps, for short turns (6 turns of ~60 words,
 *   docq_chat, chatml): bench_reuse --turns 6 --user 60 -n 32 -r 3 --chat
 *   chatml -b 512: conversation 37.96 s fresh, 27.26 s reused (1.39x), 2981
 *   tokens read; -b 128 right after: 40.21 s fresh, 18.95 s reused (2.12x),
 *   1829 read. Reused, 128 is 1.44x faster than 512 (fresh, 7% slower):
 *   why `docq generate --chat` defaults to -b 128.
 * The answers were equal in every round. What is still read each turn is
 * the new message and answer plus the part of the history past its last
 * whole batch (up to 511 tokens): the saving grows with the history.
 *
 * --chat TEMPLATE runs the conversation as an application would through
 * docq_chat: messages (user, assistant, ...) written in TEMPLATE (chatml,
 * llama3, ... as docq_ask_options.chat_template names them) every turn,
 * instead of a plain "User N: / Assistant:" text given to docq_generate.
 *
 * usage: bench_reuse [--turns 6] [--user 300] [-n 32] [-t 2] [-r 3]
 *                    [--mix q8_0|q4_k_m] [--shape 0.5b] [--chat TEMPLATE] [-b 512] [--dir /tmp]
 * -b: the context's n_batch, the unit of what reuse keeps
 * --shape: any of qwen_shape.h's (gemma3-1b: sliding-window layers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docq.h"
#include "qwen_shape.h"

typedef struct conv_result {
  double prompt_s, wall_s;
  size_t read, reused;
  char *answers; /* every answer, each ended by '\n' */
} conv_result;

/* About n_words random lowercase words, space-separated (the same for
 * every round). */
static void user_words_of(char *out, size_t cap, int turn, int n_words)
{
  uint64_t s = 0x5eed + (uint64_t)turn;
  size_t len = 0;
  for (int w = 0; w < n_words && len + 16 < cap; w++) {
    if (w) out[len++] = ' ';
    int wl = 2 + (int)(dq_bench_rng(&s) % 6);
    for (int k = 0; k < wl; k++) out[len++] = (char)('a' + dq_bench_rng(&s) % 26);
  }
  out[len] = 0;
}

/* One turn: the user's message joins the conversation, the model answers.
 * Plain: the history is one text ("\nUser N: ...\nAssistant:" per turn) given
 * to docq_generate; chat: messages given to docq_chat in template `chat`. */
typedef struct conv_state {
  const char *chat;
  char *hist;               /* plain */
  size_t cap;
  docq_chat_message *msgs;  /* chat: 2 per turn */
  size_t n;
} conv_state;

static int turn_once(docq_ctx *c, conv_state *st, int t, const char *words, const docq_gen_options *o, char **text)
{
  if (!st->chat) {
    size_t len = strlen(st->hist);
    snprintf(st->hist + len, st->cap - len, "\nUser %d: %s\nAssistant:", t + 1, words);
    if (docq_generate(c, st->hist, o, text) < 0) return -1;
    if (strlen(st->hist) + strlen(*text) + 1 < st->cap) strcat(st->hist, *text);
    return 0;
  }
  docq_chat_options co = DOCQ_CHAT_OPTIONS_INIT;
  co.chat_template = st->chat;
  char *user = strdup(words);
  if (!user) return -1;
  st->msgs[st->n++] = (docq_chat_message){"user", user};
  if (docq_chat(c, st->msgs, st->n, o, &co, text, NULL) < 0) return -1;
  char *kept = strdup(*text);
  if (!kept) return -1;
  st->msgs[st->n++] = (docq_chat_message){"assistant", kept};
  return 0;
}

static int conversation(docq_ctx *c, int fresh, int turns, int user_words, int n_predict, int threads,
                        const char *chat, conv_result *r)
{
  size_t cap = (size_t)turns * ((size_t)user_words * 9 + (size_t)n_predict * 64 + 64) + 1;
  conv_state st = {chat, calloc(cap, 1), cap, calloc(2 * (size_t)turns, sizeof(docq_chat_message)), 0};
  char *answers = calloc(cap, 1), *words = malloc((size_t)user_words * 9 + 16);
  int rc = -1;
  memset(r, 0, sizeof *r);
  if (!st.hist || !st.msgs || !answers || !words) goto done;
  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.temperature = 0;
  o.n_predict = n_predict;
  o.n_threads = threads;
  /* each conversation starts from an empty cache, whichever way ran before */
  if (docq_ctx_eval(c, NULL, 0, 1, NULL) < 0) goto done;
  const double t0 = dq_bench_now();
  for (int t = 0; t < turns; t++) {
    user_words_of(words, (size_t)user_words * 9 + 16, t, user_words);
    char *text = NULL;
    if ((fresh && docq_ctx_eval(c, NULL, 0, 1, NULL) < 0) || turn_once(c, &st, t, words, &o, &text) < 0) {
      fprintf(stderr, "bench_reuse: %s\n", docq_error_last()->message);
      docq_free(text);
      goto done;
    }
    docq_gen_info gi;
    double ps = 0;
    docq_ctx_last_generation(c, &gi);
    docq_ctx_last_timings(c, &ps, NULL);
    const size_t kept = docq_ctx_last_reused(c);
    r->prompt_s += ps;
    r->reused += kept;
    r->read += gi.prompt_tokens - kept;
    if (strlen(answers) + strlen(text) + 2 < cap) {
      strcat(answers, text);
      strcat(answers, "\n");
    }
    docq_free(text);
  }
  r->wall_s = dq_bench_now() - t0;
  r->answers = answers;
  answers = NULL;
  rc = 0;
done:
  for (size_t i = 0; i < st.n; i++) free((char *)st.msgs[i].content);
  free(st.msgs);
  free(st.hist);
  free(answers);
  free(words);
  return rc;
}

int main(int argc, char **argv)
{
  int turns = 6, user_words = 300, n_predict = 32, threads = 2, reps = 3, q4km = 0, n_batch = 512;
  const char *dir = "/tmp", *shape = "0.5b", *chat = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--turns") && v) turns = atoi(argv[++i]);
    else if (!strcmp(a, "--user") && v) user_words = atoi(argv[++i]);
    else if (!strcmp(a, "-n") && v) n_predict = atoi(argv[++i]);
    else if (!strcmp(a, "-t") && v) threads = atoi(argv[++i]);
    else if (!strcmp(a, "-r") && v) reps = atoi(argv[++i]);
    else if (!strcmp(a, "--mix") && v) q4km = !strcmp(argv[++i], "q4_k_m");
    else if (!strcmp(a, "--dir") && v) dir = argv[++i];
    else if (!strcmp(a, "--shape") && v) shape = argv[++i];
    else if (!strcmp(a, "--chat") && v) chat = argv[++i];
    else if (!strcmp(a, "-b") && v) n_batch = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_reuse [--turns 6] [--user 300] [-n 32] [-t 2] [-r 3] [--mix q8_0|q4_k_m]\n"
                      "                   [--shape 0.5b] [--chat TEMPLATE] [-b 512] [--dir /tmp]\n");
      return 2;
    }
  }
  if (turns < 1 || user_words < 1 || n_predict < 1 || threads < 1 || reps < 1 || reps > 64 || n_batch < 1) return 2;
  char path[512];
  if (dq_bench_model_file(dir, shape, q4km, path, sizeof path) < 0) {
    fprintf(stderr, "bench_reuse: cannot write the bench model under %s\n", dir);
    return 1;
  }
  docq_model *m = NULL;
  docq_ctx *c = NULL;
  docq_ctx_options co = DOCQ_CTX_OPTIONS_INIT;
  co.n_ctx = 16384;
  co.n_threads = threads;
  co.n_batch = (unsigned)n_batch;
  if (docq_model_load(&m, path) < 0 || docq_ctx_new_ext(&c, m, &co) < 0) {
    fprintf(stderr, "bench_reuse: %s\n", docq_error_last()->message);
    return 1;
  }
  printf("%s, %d turns of ~%d words + %d-token answers, %d threads, n_batch %d, %s\n", path, turns, user_words,
         n_predict, threads, n_batch, chat ? "docq_chat" : "plain text to docq_generate");
  printf("| round | way   | prompt s | tokens read | kept | wall s |\n");
  double ps[2][64], ws[2][64];
  int bad = 0;
  for (int r = 0; r < reps; r++) {
    conv_result res[2];
    for (int k = 0; k < 2; k++) {
      const int fresh = (r + k) % 2; /* alternate which goes first */
      if (conversation(c, fresh, turns, user_words, n_predict, threads, chat, &res[fresh]) < 0) return 1;
      ps[fresh][r] = res[fresh].prompt_s;
      ws[fresh][r] = res[fresh].wall_s;
      printf("| %5d | %s | %8.2f | %11zu | %4zu | %6.2f |\n", r + 1, fresh ? "fresh" : "reuse", res[fresh].prompt_s,
             res[fresh].read, res[fresh].reused, res[fresh].wall_s);
      fflush(stdout);
    }
    if (strcmp(res[0].answers, res[1].answers)) {
      fprintf(stderr, "bench_reuse: round %d: the answers with reuse differ from a fresh context's\n", r + 1);
      bad = 1;
    }
    free(res[0].answers);
    free(res[1].answers);
  }
  const double pf = dq_bench_median(ps[1], reps), pr = dq_bench_median(ps[0], reps);
  const double wf = dq_bench_median(ws[1], reps), wr = dq_bench_median(ws[0], reps);
  printf("medians: prompt reading %.2f s fresh, %.2f s reused (%.2fx); whole conversation %.2f s, %.2f s (%.2fx)\n",
         pf, pr, pf / pr, wf, wr, wf / wr);
  printf("answers: %s\n", bad ? "DIFFER" : "equal in every round");
  docq_ctx_free(c);
  docq_model_free(m);
  return bad;
}
