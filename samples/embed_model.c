/* An application's use of libdocq with a model: load the GGUF file once,
 * answer a question from an existing index with the answer streamed as it is
 * generated, let another thread stop it (a "Stop" button: here a timer), then
 * list the sources and say how the answer ended.
 *
 *   cc embed_model.c $(pkg-config --cflags --libs docq) -lpthread -o embed_model
 *   ./embed_model INDEX_DIR MODEL.gguf "question" [SECONDS]
 *
 * INDEX_DIR is an index made by `docq index` (or embed_minimal). SECONDS
 * (default 60) is when the timer thread gives up on the answer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <docq.h>

static int fail(const char *what)
{
  fprintf(stderr, "%s: %s\n", what, docq_error_last()->message);
  return 1;
}

/* Called on the asking thread with whole UTF-8 characters. */
static int on_token(const char *text, size_t len, void *payload)
{
  (void)payload;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  return 0; /* non-zero would stop the answer too */
}

typedef struct {
  docq_db *db;
  double seconds;
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  int done;
} timer;

/* docq_interrupt is the one call that may come from another thread while
 * docq_ask runs on the db. */
static void *timer_main(void *p)
{
  timer *t = p;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)t->seconds;
  pthread_mutex_lock(&t->lock);
  int late = 0;
  while (!t->done && !late) late = pthread_cond_timedwait(&t->done_cond, &t->lock, &until) != 0;
  pthread_mutex_unlock(&t->lock);
  if (late) docq_interrupt(t->db);
  return NULL;
}

int main(int argc, char **argv)
{
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s INDEX_DIR MODEL.gguf QUESTION [SECONDS]\n", argv[0]);
    return 2;
  }
  docq_model *model;
  if (docq_model_load(&model, argv[2])) return fail("model");
  docq_db *db;
  if (docq_db_open(&db, argv[1], DOCQ_OPEN_READONLY)) {
    docq_model_free(model);
    return fail("open");
  }
  docq_ask_options opts;
  docq_ask_options_init(&opts, DOCQ_ASK_OPTIONS_VERSION);
  opts.model = model;  /* loaded once; may serve many questions and threads */
  opts.gen.n_predict = 128;
  opts.gen.on_token = on_token;
  opts.keep_interrupted = 1; /* stopped by the timer: the answer so far, with its sources */

  timer t = {db, argc == 5 ? atof(argv[4]) : 60.0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  pthread_t tid;
  pthread_create(&tid, NULL, timer_main, &t);
  docq_answer *a = NULL;
  int rc = docq_ask(&a, db, argv[3], &opts);
  pthread_mutex_lock(&t.lock);
  t.done = 1;
  pthread_cond_signal(&t.done_cond);
  pthread_mutex_unlock(&t.lock);
  pthread_join(tid, NULL);
  printf("\n");

  if (rc == DOCQ_ECANCELED) {
    printf("(stopped before the model began)\n"); /* during retrieval */
  } else if (rc) {
    fail("ask");
  } else {
    for (size_t i = 0; i < docq_answer_passages(a); i++) {
      const docq_passage *p = docq_answer_passage(a, i);
      printf("  [%d] %s:%u-%u\n", p->label, p->hit->path, p->hit->line_first, p->hit->line_last);
    }
    docq_gen_info g;
    docq_answer_generation(a, &g);
    printf("(%zu prompt tokens, %zu generated; %s)\n", g.prompt_tokens, g.generated_tokens,
           g.stop == DOCQ_STOP_CANCELED ? "stopped: the answer above is incomplete"
           : g.stop == DOCQ_STOP_LENGTH ? "stopped at n_predict: may be cut short"
                                        : "complete");
  }
  docq_answer_free(a);
  docq_db_free(db);
  docq_model_free(model);
  return rc && rc != DOCQ_ECANCELED;
}
