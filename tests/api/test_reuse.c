/* Prompt reuse, as docq.h states it for docq_generate: a context keeps what
 * it read, and a prompt that begins as the previous one did reads only the
 * whole batches (n_batch tokens, aligned from the start) that it does not
 * share; the result is bit for bit what a new context gives. Checked on
 * random-weight models from the test writer: an f32 llama (whose numbers
 * change when a prompt is cut into other batches, so a reuse that did not
 * respect the batches would show) and a gemma3 with a small sliding window
 * (its window's cache moves keys to the front once it fills: kept while the
 * keys the shared part's window needs are still there). Not reused: after
 * docq_ctx_eval, after a thread-count change, with dynamic NTK, once those
 * sliding-window keys have left. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "docq.h"
#include "gguf_writer.h"
#include "tmpdir.h"

#define NB 8 /* n_batch of every context here: prompts of a few dozen tokens span several batches */

static char g_dir[64];

static int setup(void **state)
{
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/docq-reuse-XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  dq_test_rm_dir(g_dir); /* the model files only */
  return 0;
}

/* A random-weight model of `arch` (f32 weights), written and loaded. */
static docq_model *write_model(const char *arch, int sliding_window)
{
  char path[128];
  snprintf(path, sizeof path, "%s/%s.gguf", g_dir, arch);
  dq_gw_model_params mp;
  dq_gw_model_params_default(&mp);
  mp.arch = arch;
  mp.n_layer = 5; /* a shape whose numbers depend on how a prompt is cut into batches */
  mp.n_head = 8;
  mp.n_head_kv = 4;
  mp.n_ff = 172;
  mp.n_ctx = 512;
  mp.seed = 11;
  mp.sliding_window = sliding_window;
  assert_int_equal(dq_gw_write_model(&mp, path), 0);
  docq_model *m = NULL;
  assert_int_equal(docq_model_load(&m, path), 0);
  return m;
}

static docq_ctx *new_ctx(const docq_model *m, int n_threads, int rope_scaling)
{
  docq_ctx_options co = DOCQ_CTX_OPTIONS_INIT;
  co.n_ctx = 256;
  co.n_batch = NB;
  co.n_threads = n_threads;
  co.rope_scaling = rope_scaling;
  docq_ctx *c = NULL;
  assert_int_equal(docq_ctx_new_ext(&c, m, &co), 0);
  return c;
}

/* One completion: sampled (temperature and a seed, so every logit counts),
 * its text, the logits after the last token it read, and the tokens kept. */
typedef struct run {
  char *text;
  float *logits;
  size_t reused, prompt_tokens;
} run;

static run generate_n(docq_ctx *c, const docq_model *m, const char *prompt, int n_threads, int n_predict)
{
  docq_gen_options o = DOCQ_GEN_OPTIONS_INIT;
  o.n_predict = n_predict;
  o.temperature = 0.8f;
  o.seed = 5;
  o.n_threads = n_threads;
  run r = {0};
  assert_int_equal(docq_generate(c, prompt, &o, &r.text), 0);
  docq_model_meta meta;
  assert_int_equal(docq_model_get_meta(m, &meta), 0);
  r.logits = malloc((size_t)meta.n_vocab * sizeof *r.logits);
  assert_non_null(r.logits);
  memcpy(r.logits, docq_ctx_logits(c), (size_t)meta.n_vocab * sizeof *r.logits);
  r.reused = docq_ctx_last_reused(c);
  docq_gen_info gi;
  assert_int_equal(docq_ctx_last_generation(c, &gi), 0);
  r.prompt_tokens = gi.prompt_tokens;
  return r;
}

static run generate(docq_ctx *c, const docq_model *m, const char *prompt, int n_threads)
{
  return generate_n(c, m, prompt, n_threads, 12);
}

static void run_free(run *r)
{
  free(r->text);
  free(r->logits);
}

/* r must be what a new context gives for the same prompt: the same text and
 * the same logits, bit for bit. */
static void assert_fresh_n(const docq_model *m, const char *prompt, const run *r, int n_threads, int rope_scaling,
                           int n_predict)
{
  docq_ctx *c = new_ctx(m, n_threads, rope_scaling);
  run f = generate_n(c, m, prompt, n_threads, n_predict);
  assert_int_equal(f.reused, 0);
  assert_string_equal(r->text, f.text);
  docq_model_meta meta;
  assert_int_equal(docq_model_get_meta(m, &meta), 0);
  assert_memory_equal(r->logits, f.logits, (size_t)meta.n_vocab * sizeof *f.logits);
  assert_int_equal(r->prompt_tokens, f.prompt_tokens);
  run_free(&f);
  docq_ctx_free(c);
}

static void assert_fresh(const docq_model *m, const char *prompt, const run *r, int n_threads, int rope_scaling)
{
  assert_fresh_n(m, prompt, r, n_threads, rope_scaling, 12);
}

static const char *TURN1 = "abc de fgh ij klm no pq rstu vw xyz ab cd ef gh ijk lm nop qr st uvw xy za bc";

/* The tokens of s with BOS as the file says (the count docq_gen_info gives). */
static size_t n_tokens(const docq_model *m, const char *s)
{
  long n = docq_tokenize(m, s, strlen(s), 1, NULL, 0);
  assert_true(n > 0);
  return (size_t)n;
}

/* A conversation resent whole: turn 2 is turn 1, its answer and more. */
static void test_reuse__conversation_reads_only_new_batches(void **state)
{
  (void)state;
  docq_model *m = write_model("llama", 0);
  docq_ctx *c = new_ctx(m, 1, DOCQ_ROPE_SCALING_FILE);
  run r1 = generate(c, m, TURN1, 1);
  assert_int_equal(r1.reused, 0); /* a new context holds nothing */
  char turn2[1024];
  snprintf(turn2, sizeof turn2, "%s%s and then de fgh ij once more", TURN1, r1.text);
  run r2 = generate(c, m, turn2, 1);
  const size_t n1 = n_tokens(m, TURN1), n2 = n_tokens(m, turn2);
  assert_true(n1 >= 3 * NB);
  /* the whole batches turn 1 read, no more: its last partial one is read again */
  assert_int_equal(r2.reused, n1 / NB * NB);
  assert_int_equal(r2.prompt_tokens, n2);
  assert_fresh(m, turn2, &r2, 1, DOCQ_ROPE_SCALING_FILE);

  /* the same prompt again: everything but the last partial batch (at least
   * one token is read, for its logits) */
  run r3 = generate(c, m, turn2, 1);
  assert_int_equal(r3.reused, (n2 - 1) / NB * NB);
  assert_string_equal(r3.text, r2.text);
  assert_memory_equal(r3.logits, r2.logits, 320 * sizeof(float));

  /* one that leaves turn 2 inside a batch: the batch it leaves in is read
   * again, as a new context reads it */
  char branch[1024];
  snprintf(branch, sizeof branch, "%.97s qq rr ss tt", turn2); /* BOS + 97: 98 = 12 NB + 2 in common */
  run r5 = generate(c, m, branch, 1);
  assert_int_equal(r5.reused, 96);
  assert_fresh(m, branch, &r5, 1, DOCQ_ROPE_SCALING_FILE);

  /* a prompt that differs from its first word on keeps nothing */
  run r4 = generate(c, m, "zz de fgh ij klm no pq rstu vw xyz", 1);
  assert_int_equal(r4.reused, 0);
  assert_fresh(m, "zz de fgh ij klm no pq rstu vw xyz", &r4, 1, DOCQ_ROPE_SCALING_FILE);
  run_free(&r1);
  run_free(&r2);
  run_free(&r3);
  run_free(&r4);
  run_free(&r5);
  docq_ctx_free(c);
  docq_model_free(m);
}

/* Why the reuse keeps whole aligned batches only: on this model a prompt
 * read in other batches gives other numbers, so the equalities above would
 * fail for a reuse that cut anywhere. */
static void test_reuse__batches_change_numbers(void **state)
{
  (void)state;
  docq_model *m = write_model("llama", 0);
  docq_ctx *c = new_ctx(m, 1, DOCQ_ROPE_SCALING_FILE);
  int32_t ids[128];
  long n = docq_tokenize(m, TURN1, strlen(TURN1), 1, ids, 128);
  assert_true(n >= 3 * NB && n <= 128);
  float whole[320], split[320];
  assert_int_equal(docq_ctx_eval(c, ids, (size_t)n, 1, NULL), 0);
  memcpy(whole, docq_ctx_logits(c), sizeof whole);
  assert_int_equal(docq_ctx_eval(c, ids, NB + 3, 1, NULL), 0); /* cut inside a batch */
  assert_int_equal(docq_ctx_eval(c, ids + NB + 3, (size_t)n - NB - 3, 0, NULL), 0);
  memcpy(split, docq_ctx_logits(c), sizeof split);
  assert_memory_not_equal(whole, split, sizeof whole);
  docq_ctx_free(c);
  docq_model_free(m);
}

/* What writes the cache otherwise, or makes its contents another run's,
 * ends the reuse: docq_ctx_eval, a thread-count change, dynamic NTK. */
static void test_reuse__not_after_other_writes(void **state)
{
  (void)state;
  docq_model *m = write_model("llama", 0);
  docq_ctx *c = new_ctx(m, 1, DOCQ_ROPE_SCALING_FILE);
  run r1 = generate(c, m, TURN1, 1);
  int32_t ids[100];
  for (int i = 0; i < 100; i++) ids[i] = 260 + i % 50;
  assert_int_equal(docq_ctx_eval(c, ids, 100, 1, NULL), 0); /* another sequence, as long */
  run r2 = generate(c, m, TURN1, 1);
  assert_int_equal(r2.reused, 0);
  assert_string_equal(r2.text, r1.text);
  assert_memory_equal(r2.logits, r1.logits, 320 * sizeof(float));
  run r3 = generate(c, m, TURN1, 1);
  assert_true(r3.reused > 0);
  run r4 = generate(c, m, TURN1, 2); /* another thread count: a new state */
  assert_int_equal(r4.reused, 0);
  assert_fresh(m, TURN1, &r4, 2, DOCQ_ROPE_SCALING_FILE);
  docq_ctx_free(c);

  c = new_ctx(m, 1, DOCQ_ROPE_SCALING_DYNAMIC_NTK);
  run d1 = generate(c, m, TURN1, 1), d2 = generate(c, m, TURN1, 1);
  assert_int_equal(d2.reused, 0);
  assert_string_equal(d2.text, d1.text);
  assert_fresh(m, TURN1, &d2, 1, DOCQ_ROPE_SCALING_DYNAMIC_NTK);
  run_free(&r1);
  run_free(&r2);
  run_free(&r3);
  run_free(&r4);
  run_free(&d1);
  run_free(&d2);
  docq_ctx_free(c);
  docq_model_free(m);
}

/* The same prompt twice on c (n_predict tokens answered, 1 thread): the
 * second keeps `reused` tokens, answers as the first and as a new context. */
static void prompt_twice(docq_ctx *c, const docq_model *m, const char *prompt, int n_predict, size_t reused)
{
  run a = generate_n(c, m, prompt, 1, n_predict), b = generate_n(c, m, prompt, 1, n_predict);
  assert_int_equal(b.reused, reused);
  assert_fresh_n(m, prompt, &b, 1, DOCQ_ROPE_SCALING_FILE, n_predict);
  assert_string_equal(b.text, a.text);
  run_free(&a);
  run_free(&b);
}

/* A sliding-window model (gemma3: both layers here slide, window 16): its
 * window's cache holds W - 1 + 2 n_batch = 31 slots and moves the last 15
 * keys to the front when a batch would not fit. A prompt within the slots
 * is kept; so is one whose keys moved, as long as the 15 before the kept
 * prefix are still there (they go back to the slots a new context gives
 * them); once they have moved out, the prompt is read whole. Every answer
 * equals a new context's. */
static void test_reuse__sliding_window(void **state)
{
  (void)state;
  docq_model *m = write_model("gemma3", 16);
  docq_ctx *c = new_ctx(m, 1, DOCQ_ROPE_SCALING_FILE);
  const char *p1 = "abc de fgh ij";
  assert_true(n_tokens(m, p1) >= NB && n_tokens(m, p1) < 31);
  run r1 = generate(c, m, p1, 1);
  char p2[256];
  snprintf(p2, sizeof p2, "%s klm no", p1);
  run r2 = generate(c, m, p2, 1);
  assert_int_equal(r2.reused, n_tokens(m, p1) / NB * NB);
  assert_true(r2.reused > 0);
  assert_fresh(m, p2, &r2, 1, DOCQ_ROPE_SCALING_FILE);

  /* 41 tokens read in batches of 8, no answer read: the batch at 24 moves
   * keys (a new context then has positions 9.. from slot 0), the last token
   * again (25.. from slot 0). Kept: 40, whose window, 25..39, is there (at
   * other slots than a new context that read 40 tokens has it) */
  const char *p41 = "abc de fgh ij klm no pq rstu vw xyz ab c";
  assert_int_equal(n_tokens(m, p41), 41);
  prompt_twice(c, m, p41, 1, 40);

  /* 57 tokens, 16 answered: moves at 24, 40 and 56 (base 41); the answer's
   * keys 57..71 then overwrite slots 16..30, where a new context that read
   * 56 tokens holds 41..55 (base 25). Kept: 56, its window 41..55 read from
   * slots 0..14. */
  const char *p57 = "abc de fgh ij klm no pq rstu vw xyz ab cd ef gh ijk lm n";
  assert_int_equal(n_tokens(m, p57), 57);
  prompt_twice(c, m, p57, 16, 56);

  run r3 = generate(c, m, TURN1, 1); /* 79 tokens and 12 answered: keys up to 75 moved out */
  assert_fresh(m, TURN1, &r3, 1, DOCQ_ROPE_SCALING_FILE);
  run r4 = generate(c, m, TURN1, 1);
  assert_int_equal(r4.reused, 0);
  assert_fresh(m, TURN1, &r4, 1, DOCQ_ROPE_SCALING_FILE);
  run_free(&r1);
  run_free(&r2);
  run_free(&r3);
  run_free(&r4);
  docq_ctx_free(c);
  docq_model_free(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_reuse__conversation_reads_only_new_batches, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reuse__batches_change_numbers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reuse__not_after_other_writes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reuse__sliding_window, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
