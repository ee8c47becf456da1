/* A chat with a model through libdocq: one context holds the conversation,
 * each line of standard input is the user's next message, and the answer is
 * streamed as it is generated. The whole conversation is sent every turn
 * (that is what docq_chat takes), but the context keeps what it already read,
 * so each turn reads only what is new. When the conversation outgrows the
 * context (2048 tokens here) docq_chat refuses it; an application then drops
 * its oldest turns, as `docq generate --chat` does (cli/cmd_chat.c).
 *
 *   cc chat_model.c $(pkg-config --cflags --libs docq) -o chat_model
 *   ./chat_model MODEL.gguf ["system message"]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <docq.h>

#define MAX_MESSAGES 64

static int on_token(const char *text, size_t len, void *payload)
{
  (void)payload;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: %s MODEL.gguf [SYSTEM_MESSAGE]\n", argv[0]);
    return 2;
  }
  docq_model *m = NULL;
  docq_ctx *c = NULL;
  if (docq_model_load(&m, argv[1]) != DOCQ_OK || docq_ctx_new(&c, m, 2048) != DOCQ_OK) {
    fprintf(stderr, "%s: %s\n", argv[1], docq_error_last()->message);
    docq_model_free(m);
    return 1;
  }
  printf("chat template: %s\n", docq_model_chat_template(m));

  docq_chat_message msgs[MAX_MESSAGES];
  size_t n = 0;
  if (argc == 3) msgs[n++] = (docq_chat_message){"system", argv[2]};
  docq_gen_options gen;
  docq_gen_options_init(&gen, DOCQ_GEN_OPTIONS_VERSION);
  gen.temperature = 0; /* greedy: the same answers every run */
  gen.n_predict = 64;
  gen.on_token = on_token;

  int code = 0;
  char line[4096];
  while (n + 2 <= MAX_MESSAGES && fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    msgs[n++] = (docq_chat_message){"user", strdup(line)};
    fputs("assistant> ", stdout);
    char *answer = NULL;
    if (docq_chat(c, msgs, n, &gen, NULL, &answer, NULL) != DOCQ_OK) {
      fprintf(stderr, "\nchat: %s\n", docq_error_last()->message);
      code = 1;
      break;
    }
    docq_gen_info info;
    docq_ctx_last_generation(c, &info);
    printf("\n(%zu prompt tokens, %zu of them kept from earlier turns)\n", info.prompt_tokens,
           docq_ctx_last_reused(c));
    /* the answer joins the conversation; the next turn sends it all again */
    msgs[n++] = (docq_chat_message){"assistant", strdup(answer)};
    docq_free(answer);
  }
  for (size_t i = argc == 3 ? 1 : 0; i < n; i++) free((char *)msgs[i].content);
  docq_ctx_free(c);
  docq_model_free(m);
  return code;
}
