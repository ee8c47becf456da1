/* docq_chat_format and docq_chat through <docq.h> only (docq.h, "chat: a
 * conversation in the model's own format").
 *
 * Formatting is checked against the official chat templates, not against
 * docq's own output: the expected strings below were rendered with Python's
 * jinja2 from the official templates (see the comment above CONV), with the
 * tokenizer-only files of tests/fuzz/corpus/vocab, whose templates docq
 * recognizes as chatml, llama3, llama2 and phi3.
 *
 * Generation is checked on a small random-weight llama written with the test
 * GGUF writer: docq_chat must be docq_generate on docq_chat_format's text with
 * special tokens parsed, the same text, stop and logits bit for bit, also on
 * a later turn that reuses the context's cache. Its vocabulary (SentencePiece, no ChatML tokens) makes the
 * ChatML markers ordinary text, which is all these checks need. */
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

#define NB 8          /* n_batch of the generation contexts: a conversation spans several batches */
#define N_PREDICT 12  /* tokens per answer: enough to compare texts, a few milliseconds each */

/* ---- fixtures ------------------------------------------------------------------------- */

static char g_dir[64];       /* temp folder of the random-weight model */
static docq_model *g_model;  /* the random-weight llama, loaded once for every test */

/* The random-weight llama, in the shape tests/api/test_reuse.c uses because
 * its numbers change when a prompt is cut into other batches: a reuse that
 * kept other than whole aligned batches would show in the answers. */
static int group_setup(void **state)
{
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/docq-chat-XXXXXX");
  if (!mkdtemp(g_dir)) return -1;
  char path[128];
  snprintf(path, sizeof path, "%s/llama.gguf", g_dir);
  dq_gw_model_params mp;
  dq_gw_model_params_default(&mp);
  mp.n_layer = 5;
  mp.n_head = 8;
  mp.n_head_kv = 4;
  mp.n_ff = 172;
  mp.n_ctx = 512;
  mp.seed = 11;
  if (dq_gw_write_model(&mp, path) != 0) return -1;
  return docq_model_load(&g_model, path) == DOCQ_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
  (void)state;
  docq_model_free(g_model);
  dq_test_rm_dir(g_dir);
  return 0;
}

/* The repository's root: DOCQ_SOURCE_DIR (ctest sets it), else from this
 * file's path, so that the binary also runs by hand. */
static void source_path(char *out, size_t cap, const char *rel)
{
  const char *src = getenv("DOCQ_SOURCE_DIR");
  if (src && *src) {
    snprintf(out, cap, "%s/%s", src, rel);
    return;
  }
  const char *tail = strstr(__FILE__, "tests/api/test_chat.c");
  assert_non_null(tail);
  snprintf(out, cap, "%.*s%s", (int)(tail - __FILE__), __FILE__, rel);
}

/* A tokenizer-only file of tests/fuzz/corpus/vocab. */
static docq_model *load_vocab(const char *file)
{
  char rel[128], path[1024];
  snprintf(rel, sizeof rel, "tests/fuzz/corpus/vocab/%s", file);
  source_path(path, sizeof path, rel);
  docq_model *m = NULL;
  assert_int_equal(docq_model_load_info(&m, path), DOCQ_OK);
  return m;
}

/* Per-test fixture: chat_chatml.gguf in *state, freed also when the test
 * fails (a failed assertion leaves the test at once). */
static int chatml_setup(void **state)
{
  *state = load_vocab("chat_chatml.gguf");
  return 0;
}

static int chatml_teardown(void **state)
{
  docq_model_free(*state);
  return 0;
}

/* docq_chat_format, which must succeed. */
static char *format(const docq_model *m, const char *tmpl, const docq_chat_message *msgs, size_t n, int gen_prompt)
{
  char *out = NULL;
  int rc = docq_chat_format(m, tmpl, msgs, n, gen_prompt, &out);
  if (rc != DOCQ_OK) print_error("docq_chat_format: %s\n", docq_error_last()->message);
  assert_int_equal(rc, DOCQ_OK);
  assert_non_null(out);
  return out;
}

static void assert_format(const docq_model *m, const char *tmpl, const docq_chat_message *msgs, size_t n,
                          int gen_prompt, const char *expected)
{
  char *got = format(m, tmpl, msgs, n, gen_prompt);
  assert_string_equal(got, expected);
  docq_free(got);
}

/* ---- formatting against the official templates ------------------------------------------ */

/* The conversation every format test writes. The expected texts were made by
 * rendering, with jinja2 (python3), each family's official template with
 * messages = CONV, bos_token / eos_token = the file's ("<s>", "</s>") and
 * add_generation_prompt false / true, then dropping the leading BOS (docq's
 * text starts after it):
 *   chatml: chat_chatml.gguf's own tokenizer.chat_template, which is the whole
 *     ChatML template (OpenHermes-2.5's, as in llama.cpp's
 *     tests/test-chat-template.cpp);
 *   llama3: Meta-Llama-3-8B-Instruct's template (as llama.cpp's test has it,
 *     with its {% if add_generation_prompt %}; bos_token first, then
 *     '<|start_header_id|>' + role + '<|end_header_id|>\n\n' + content | trim +
 *     '<|eot_id|>' per message; generation prompt the assistant header); the
 *     file holds only a fragment of it;
 *   llama2: Llama-2-7b-chat-hf's template (the system message inside the
 *     first [INST] in <<SYS>> tags, bos_token + '[INST] ' + content.strip() +
 *     ' [/INST]' per user turn, ' ' + content.strip() + ' ' + eos_token per
 *     assistant turn; no generation prompt); the file holds a fragment;
 *   phi3: Phi-3-mini-4k-instruct's current template, '<|' role
 *     '|>\n' + content + '<|end|>\n' per message, generation prompt
 *     '<|assistant|>\n' (the file, chat_zephyr_phi3.gguf, holds a fragment). */
static const docq_chat_message CONV[] = {
  {"system", "You are terse."},
  {"user", "Hi there"},
  {"assistant", "Hello! How can I help?"},
  {"user", "Name a color."},
};
#define N_CONV (sizeof CONV / sizeof CONV[0])

static const char *CHATML_NO_GEN =
  "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
  "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nName a color.<|im_end|>\n";
static const char *CHATML_GEN =
  "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
  "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nName a color.<|im_end|>\n"
  "<|im_start|>assistant\n";
static const char *LLAMA3_NO_GEN =
  "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
  "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
  "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
  "<|start_header_id|>user<|end_header_id|>\n\nName a color.<|eot_id|>";
static const char *LLAMA3_GEN =
  "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
  "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
  "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
  "<|start_header_id|>user<|end_header_id|>\n\nName a color.<|eot_id|>"
  "<|start_header_id|>assistant<|end_header_id|>\n\n";
/* The official Llama 2 template has no generation prompt: the same text either way. */
static const char *LLAMA2_ANY =
  "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST] Hello! How can I help? </s>"
  "<s>[INST] Name a color. [/INST]";
/* Phi-3-mini's template ends a conversation without the generation prompt
 * with eos_token ("</s>" in this file): jinja2 gives PHI3_NO_GEN + "</s>".
 * Phi-3-vision's template and llama.cpp's built-in phi3 format write no EOS
 * there, nor does docq (an EOS would end a text the caller goes on with):
 * that difference is left alone, the text before it is compared. */
static const char *PHI3_NO_GEN =
  "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi there<|end|>\n"
  "<|assistant|>\nHello! How can I help?<|end|>\n<|user|>\nName a color.<|end|>\n";
static const char *PHI3_GEN =
  "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi there<|end|>\n"
  "<|assistant|>\nHello! How can I help?<|end|>\n<|user|>\nName a color.<|end|>\n<|assistant|>\n";

/* Each file's own template, named as docq_ask_options.chat_template names them. */
static void test_chat__recognizes_the_files_templates(void **state)
{
  (void)state;
  static const struct {
    const char *file, *name;
  } cases[] = {
    {"chat_chatml.gguf", "chatml"},
    {"chat_llama3.gguf", "llama3"},
    {"chat_llama2.gguf", "llama2"},
    {"chat_zephyr_phi3.gguf", "phi3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    docq_model *m = load_vocab(cases[i].file);
    assert_string_equal(docq_model_chat_template(m), cases[i].name);
    docq_model_free(m);
  }
}

static void test_chat__format_chatml(void **state)
{
  (void)state;
  docq_model *m = load_vocab("chat_chatml.gguf");
  assert_format(m, NULL, CONV, N_CONV, 0, CHATML_NO_GEN);
  assert_format(m, NULL, CONV, N_CONV, 1, CHATML_GEN);
  docq_model_free(m);
}

static void test_chat__format_llama3(void **state)
{
  (void)state;
  docq_model *m = load_vocab("chat_llama3.gguf");
  assert_format(m, NULL, CONV, N_CONV, 0, LLAMA3_NO_GEN);
  assert_format(m, NULL, CONV, N_CONV, 1, LLAMA3_GEN);
  docq_model_free(m);
}

static void test_chat__format_llama2(void **state)
{
  (void)state;
  docq_model *m = load_vocab("chat_llama2.gguf");
  assert_format(m, NULL, CONV, N_CONV, 0, LLAMA2_ANY);
  assert_format(m, NULL, CONV, N_CONV, 1, LLAMA2_ANY);
  docq_model_free(m);
}

static void test_chat__format_phi3(void **state)
{
  (void)state;
  docq_model *m = load_vocab("chat_zephyr_phi3.gguf");
  assert_format(m, NULL, CONV, N_CONV, 0, PHI3_NO_GEN);
  assert_format(m, NULL, CONV, N_CONV, 1, PHI3_GEN);
  docq_model_free(m);
}

/* A file's ChatML template that writes a fixed system turn when the
 * conversation opens without one (as Qwen2.5's does): docq writes it too,
 * and not when a system message is given. Expected: jinja2 on the file's
 * own template (chat_chatml_default_system.gguf), which has no generation
 * prompt part; the generation prompt is ChatML's (Qwen2.5's template's
 * "<|im_start|>assistant\n"). */
static void test_chat__format_chatml_default_system(void **state)
{
  (void)state;
  docq_model *m = load_vocab("chat_chatml_default_system.gguf");
  assert_string_equal(docq_model_chat_template(m), "chatml");
  static const char *DEFAULT_NO_GEN =
    "<|im_start|>system\nA fixed default.\tTabbed {and braced}.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
    "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nName a color.<|im_end|>\n";
  assert_format(m, NULL, CONV + 1, N_CONV - 1, 0, DEFAULT_NO_GEN);
  char with_gen[512];
  snprintf(with_gen, sizeof with_gen, "%s<|im_start|>assistant\n", DEFAULT_NO_GEN);
  assert_format(m, NULL, CONV + 1, N_CONV - 1, 1, with_gen);
  assert_format(m, NULL, CONV, N_CONV, 0, CHATML_NO_GEN); /* a system message given: no default */
  docq_model_free(m);
}

/* template_name: an explicit name wins over the file's template; "" is the
 * file's own, as NULL is. */
static void test_chat__template_name_overrides_the_files(void **state)
{
  (void)state;
  docq_model *llama3 = load_vocab("chat_llama3.gguf"), *chatml = load_vocab("chat_chatml.gguf");
  assert_format(llama3, "chatml", CONV, N_CONV, 1, CHATML_GEN);
  assert_format(llama3, "chatml", CONV, N_CONV, 0, CHATML_NO_GEN);
  assert_format(chatml, "llama3", CONV, N_CONV, 1, LLAMA3_GEN);
  assert_format(llama3, "", CONV, N_CONV, 1, LLAMA3_GEN);
  assert_format(chatml, "", CONV, N_CONV, 0, CHATML_NO_GEN);
  docq_model_free(llama3);
  docq_model_free(chatml);
}

/* No messages is allowed: ChatML's text is then its generation prompt alone
 * (jinja2, the file's template with messages = []), and nothing without it. */
static void test_chat__format_no_messages(void **state)
{
  (void)state;
  docq_model *m = load_vocab("chat_chatml.gguf");
  assert_format(m, NULL, NULL, 0, 1, "<|im_start|>assistant\n");
  assert_format(m, NULL, CONV, 0, 1, "<|im_start|>assistant\n");
  assert_format(m, NULL, CONV, 0, 0, "");
  docq_model_free(m);
}

/* Surrounding white space, where the official templates differ: Llama 3's
 * trims every message (content | trim), ChatML's and Phi-3's keep it as
 * given. Expected texts rendered with jinja2 as above, messages = SPACED. */
static void test_chat__format_white_space_as_the_templates(void **state)
{
  (void)state;
  static const docq_chat_message SPACED[] = {
    {"system", "  sys  "}, {"user", "  hi  "}, {"assistant", "  ans  "}, {"user", " q "},
  };
  docq_model *m = load_vocab("chat_chatml.gguf");
  assert_format(m, "chatml", SPACED, 4, 1,
                "<|im_start|>system\n  sys  <|im_end|>\n<|im_start|>user\n  hi  <|im_end|>\n"
                "<|im_start|>assistant\n  ans  <|im_end|>\n<|im_start|>user\n q <|im_end|>\n"
                "<|im_start|>assistant\n");
  assert_format(m, "llama3", SPACED, 4, 1,
                "<|start_header_id|>system<|end_header_id|>\n\nsys<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\nans<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n");
  assert_format(m, "phi3", SPACED, 4, 1,
                "<|system|>\n  sys  <|end|>\n<|user|>\n  hi  <|end|>\n"
                "<|assistant|>\n  ans  <|end|>\n<|user|>\n q <|end|>\n<|assistant|>\n");
  /* Llama 2's strips each turn's whole content: for the first, the system
   * block and the user message together, so the official text is
   * "[INST] <<SYS>>\n  sys  \n<</SYS>>\n\n  hi [/INST] ans </s><s>[INST] q [/INST]";
   * docq strips the system message and the user message each, giving
   * "<<SYS>>\nsys\n<</SYS>>\n\nhi". Not asserted here: reported. */
  docq_model_free(m);
}

/* ---- errors ----------------------------------------------------------------------------- */

/* An error call: it returns `code`, which docq_error_last() repeats with a
 * message, and sets *out to NULL. */
static void assert_format_fails(const docq_model *m, const char *tmpl, const docq_chat_message *msgs, size_t n,
                                int code)
{
  char *out = (char *)"not touched";
  assert_int_equal(docq_chat_format(m, tmpl, msgs, n, 1, &out), code);
  assert_null(out);
  assert_int_equal(docq_error_last()->code, code);
  assert_true(strlen(docq_error_last()->message) > 0);
}

/* An unknown template name is refused, and the message lists the known names
 * so that the caller can correct it. */
static void test_chat__unknown_template_lists_known_ones(void **state)
{
  const docq_model *m = *state;
  assert_format_fails(m, "no-such-template", CONV, N_CONV, DOCQ_EINVAL);
  const char *msg = docq_error_last()->message;
  assert_non_null(strstr(msg, "chatml"));
  assert_non_null(strstr(msg, "llama3"));
  assert_non_null(strstr(msg, "deepseek-r1"));
}

static void test_chat__format_bad_arguments(void **state)
{
  const docq_model *m = *state;
  const docq_chat_message no_role[] = {{"user", "a"}, {NULL, "b"}};
  const docq_chat_message no_content[] = {{"system", "a"}, {"user", NULL}};
  assert_format_fails(m, NULL, no_role, 2, DOCQ_EINVAL);
  assert_format_fails(m, NULL, no_content, 2, DOCQ_EINVAL);
  assert_format_fails(m, "llama3", no_content, 2, DOCQ_EINVAL); /* whatever the template */
  assert_int_equal(docq_chat_format(m, NULL, CONV, N_CONV, 1, NULL), DOCQ_EINVAL);
}

/* A missing model or message array is an invalid argument too, and, as for
 * every failure (docq.h's conventions: "*out is set to NULL on failure"),
 * *out comes back NULL: a caller may then docq_free it unconditionally. */
static void test_chat__format_null_arguments_clear_out(void **state)
{
  const docq_model *m = *state;
  assert_format_fails(m, NULL, NULL, 1, DOCQ_EINVAL); /* messages missing */
  assert_format_fails(NULL, NULL, CONV, N_CONV, DOCQ_EINVAL);
}

static void test_chat__options_versions(void **state)
{
  (void)state;
  docq_chat_options o;
  memset(&o, 0x5a, sizeof o);
  assert_int_equal(docq_chat_options_init(&o, DOCQ_CHAT_OPTIONS_VERSION), DOCQ_OK);
  const docq_chat_options init = DOCQ_CHAT_OPTIONS_INIT;
  assert_int_equal(o.version, DOCQ_CHAT_OPTIONS_VERSION);
  assert_int_equal(init.version, DOCQ_CHAT_OPTIONS_VERSION);
  assert_null(o.chat_template);
  assert_null(o.on_reasoning);
  assert_null(o.reasoning_payload);
  assert_int_equal(docq_chat_options_init(&o, 999), DOCQ_EVERSION);
  assert_int_equal(docq_chat_options_init(&o, 0), DOCQ_EVERSION);

  /* docq_chat refuses options of another version before generating anything */
  docq_ctx *c = NULL;
  assert_int_equal(docq_ctx_new(&c, g_model, 256), DOCQ_OK);
  docq_chat_options bad = DOCQ_CHAT_OPTIONS_INIT;
  bad.version = 999;
  bad.chat_template = "chatml";
  char *text = (char *)"not touched", *reasoning = (char *)"not touched";
  assert_int_equal(docq_chat(c, CONV, N_CONV, NULL, &bad, &text, &reasoning), DOCQ_EVERSION);
  assert_null(text);
  assert_null(reasoning);
  /* and gen options of another version, as docq_generate does */
  docq_gen_options g = DOCQ_GEN_OPTIONS_INIT;
  g.version = 999;
  g.n_predict = 1;
  text = (char *)"not touched";
  assert_int_equal(docq_chat(c, CONV, N_CONV, &g, NULL, &text, NULL), DOCQ_EVERSION);
  assert_null(text);
  docq_ctx_free(c);
}

/* ---- generation on the random-weight model ---------------------------------------------- */

/* What a callback received: the concatenated text and the number of calls. */
typedef struct sink {
  char text[8192];
  size_t len;
  int calls;
  int stop_at; /* > 0: return non-zero on that call */
} sink;

static int collect(const char *utf8, size_t len, void *payload)
{
  sink *s = payload;
  s->calls++;
  assert_true(s->len + len < sizeof s->text);
  memcpy(s->text + s->len, utf8, len);
  s->len += len;
  s->text[s->len] = '\0';
  return s->stop_at > 0 && s->calls >= s->stop_at;
}

/* Sampled with a fixed seed, one thread: the same every time, and every
 * logit counts (greedy, this random model writes the same few characters
 * after most prompts). */
static docq_gen_options sampled(void)
{
  docq_gen_options g = DOCQ_GEN_OPTIONS_INIT;
  g.n_predict = N_PREDICT;
  g.temperature = 0.8f;
  g.seed = 5;
  g.n_threads = 1;
  return g;
}

static docq_ctx *new_ctx(unsigned n_ctx)
{
  docq_ctx_options co = DOCQ_CTX_OPTIONS_INIT;
  co.n_ctx = n_ctx;
  co.n_batch = NB;
  co.n_threads = 1;
  docq_ctx *c = NULL;
  assert_int_equal(docq_ctx_new_ext(&c, g_model, &co), DOCQ_OK);
  return c;
}

/* One generation: its text, how it ended, and the logits after the last
 * token it read. This random model's texts depend mostly on the last tokens
 * of a prompt, its logits on all of them: comparing both tells whether two
 * generations read the same prompt (test_chat__logits_tell_prompts_apart). */
typedef struct run {
  char *text;
  docq_gen_info info;
  float *logits;
} run;

static size_t logits_bytes(void)
{
  docq_model_meta meta;
  assert_int_equal(docq_model_get_meta(g_model, &meta), DOCQ_OK);
  return (size_t)meta.n_vocab * sizeof(float);
}

/* Records how c's last generation, which returned `text`, ended. */
static run record(const docq_ctx *c, char *text)
{
  run r = {.text = text};
  assert_int_equal(docq_ctx_last_generation(c, &r.info), DOCQ_OK);
  r.logits = malloc(logits_bytes());
  assert_non_null(r.logits);
  memcpy(r.logits, docq_ctx_logits(c), logits_bytes());
  return r;
}

static void run_free(run *r)
{
  docq_free(r->text);
  free(r->logits);
}

static void assert_same_run(const run *a, const run *b)
{
  assert_string_equal(a->text, b->text);
  assert_int_equal(a->info.prompt_tokens, b->info.prompt_tokens);
  assert_int_equal(a->info.generated_tokens, b->info.generated_tokens);
  assert_int_equal(a->info.stop, b->info.stop);
  assert_memory_equal(a->logits, b->logits, logits_bytes());
}

/* The reference: docq_generate on docq_chat_format's text (with the
 * generation prompt) on a new context of n_ctx tokens, special tokens
 * parsed. */
static run reference_ctx(unsigned n_ctx, const char *tmpl, const docq_chat_message *msgs, size_t n,
                         const docq_gen_options *gen)
{
  char *prompt = format(g_model, tmpl, msgs, n, 1);
  docq_gen_options g = *gen;
  g.parse_special = 1;
  g.on_token = NULL;
  docq_ctx *c = new_ctx(n_ctx);
  char *text = NULL;
  assert_int_equal(docq_generate(c, prompt, &g, &text), DOCQ_OK);
  assert_non_null(text);
  run r = record(c, text);
  docq_ctx_free(c);
  docq_free(prompt);
  return r;
}

static run reference(const char *tmpl, const docq_chat_message *msgs, size_t n, const docq_gen_options *gen)
{
  return reference_ctx(512, tmpl, msgs, n, gen);
}

/* docq_chat on c with template tmpl, which must succeed; *reasoning may be NULL. */
static run chat(docq_ctx *c, const char *tmpl, const docq_chat_message *msgs, size_t n, const docq_gen_options *gen,
                char **reasoning)
{
  docq_chat_options co = DOCQ_CHAT_OPTIONS_INIT;
  co.chat_template = tmpl;
  char *text = NULL;
  int rc = docq_chat(c, msgs, n, gen, &co, &text, reasoning);
  if (rc != DOCQ_OK) print_error("docq_chat: %s\n", docq_error_last()->message);
  assert_int_equal(rc, DOCQ_OK);
  assert_non_null(text);
  return record(c, text);
}

static const docq_chat_message ASK[] = {
  {"system", "You answer in one short line."},
  {"user", "abc de fgh ij klm no pq rstu vw xyz"},
};

/* The premise of the comparisons below: two conversations that differ only
 * early on (a word of the first message) end with other logits, though this
 * model may write the same text after both; another template, whose prompt
 * ends otherwise, gives another text. */
static void test_chat__logits_tell_prompts_apart(void **state)
{
  (void)state;
  docq_gen_options g = sampled();
  const docq_chat_message other[] = {{"system", "You answer in one short lime."}, ASK[1]};
  run a = reference("chatml", ASK, 2, &g), b = reference("chatml", other, 2, &g), t = reference("llama2", ASK, 2, &g);
  assert_memory_not_equal(a.logits, b.logits, logits_bytes());
  assert_string_not_equal(a.text, t.text);
  run_free(&a);
  run_free(&b);
  run_free(&t);
}

/* docq_chat is docq_generate on the formatted conversation, byte for byte;
 * the answer streams whole to on_token; a non-thinking template leaves no
 * reasoning. gen->parse_special is 0 here: docq_chat takes it as 1. */
static void test_chat__answer_is_generate_on_the_format(void **state)
{
  (void)state;
  docq_gen_options g = sampled();
  sink s = {0};
  g.on_token = collect;
  g.payload = &s;
  g.parse_special = 0;
  docq_ctx *c = new_ctx(512);
  char *reasoning = (char *)"not touched";
  run r = chat(c, "chatml", ASK, 2, &g, &reasoning);
  assert_null(reasoning);
  assert_true(strlen(r.text) > 0); /* a comparison of empty answers would prove little */
  run ref = reference("chatml", ASK, 2, &g);
  assert_same_run(&r, &ref);
  assert_int_equal(r.info.generated_tokens, N_PREDICT);
  assert_int_equal(r.info.stop, DOCQ_STOP_LENGTH);
  assert_string_equal(s.text, r.text);
  assert_true(s.calls > 0);
  run_free(&r);
  run_free(&ref);
  docq_ctx_free(c);
}

/* The markers are parsed as special tokens whatever gen->parse_special says:
 * Llama 2's "</s><s>" between turns are two tokens of this vocabulary, so
 * the prompt docq_chat read has the count docq_tokenize gives with
 * add_special, fewer than the markers as plain text. */
static void test_chat__parses_special_tokens(void **state)
{
  (void)state;
  docq_gen_options g = sampled();
  g.parse_special = 0;
  docq_ctx *c = new_ctx(512);
  run r = chat(c, "llama2", CONV, N_CONV, &g, NULL);
  char *prompt = format(g_model, "llama2", CONV, N_CONV, 1);
  assert_non_null(strstr(prompt, "</s><s>"));
  const long special = docq_tokenize(g_model, prompt, strlen(prompt), 1, NULL, 0);
  const long plain = docq_tokenize(g_model, prompt, strlen(prompt), 0, NULL, 0);
  assert_true(special > 0 && special < plain + 1); /* + 1: the BOS add_special adds */
  assert_int_equal(r.info.prompt_tokens, (size_t)special);
  run ref = reference("llama2", CONV, N_CONV, &g);
  assert_same_run(&r, &ref);
  run_free(&r);
  run_free(&ref);
  docq_free(prompt);
  docq_ctx_free(c);
}

/* The tokens of docq_chat_format's text (generation prompt included) as
 * docq_chat reads them: BOS and special tokens parsed. Free with free(). */
static int32_t *prompt_tokens(const char *tmpl, const docq_chat_message *msgs, size_t n, size_t *count)
{
  char *prompt = format(g_model, tmpl, msgs, n, 1);
  const long k = docq_tokenize(g_model, prompt, strlen(prompt), 1, NULL, 0);
  assert_true(k > 0);
  int32_t *ids = malloc((size_t)k * sizeof *ids);
  assert_non_null(ids);
  assert_int_equal(docq_tokenize(g_model, prompt, strlen(prompt), 1, ids, (size_t)k), k);
  docq_free(prompt);
  *count = (size_t)k;
  return ids;
}

/* The tokens the turn msgs[0..n) can keep from the turn before, prev[0..n_prev):
 * the whole batches of the tokens they share (docq_generate's rule). The
 * premise here: a turn's prompt begins with the previous prompt's tokens. */
static size_t expected_reuse(const docq_chat_message *prev, size_t n_prev, const docq_chat_message *msgs, size_t n)
{
  size_t k1, k2;
  int32_t *t1 = prompt_tokens("chatml", prev, n_prev, &k1), *t2 = prompt_tokens("chatml", msgs, n, &k2);
  assert_true(k1 < k2);
  assert_memory_equal(t1, t2, k1 * sizeof *t1);
  free(t1);
  free(t2);
  return k1 / NB * NB;
}

/* docq_chat of msgs[0..n) on a new context gives r, logits included, bit
 * for bit: a cache partly kept from earlier turns holds what a new context
 * computes. */
static void assert_as_fresh(const run *r, const docq_chat_message *msgs, size_t n)
{
  docq_gen_options g = sampled();
  docq_ctx *fresh = new_ctx(512);
  run f = chat(fresh, "chatml", msgs, n, &g, NULL);
  assert_int_equal(docq_ctx_last_reused(fresh), 0);
  assert_same_run(r, &f);
  run_free(&f);
  docq_ctx_free(fresh);
}

/* A conversation on one context: each turn resends the earlier ones, their
 * answers and a new question; the context keeps the whole batches of what it
 * read, and every answer is still what a new context gives. */
static void test_chat__multi_turn_reuses_the_context(void **state)
{
  (void)state;
  docq_gen_options g = sampled();
  docq_ctx *c = new_ctx(512);
  run a1 = chat(c, "chatml", ASK, 2, &g, NULL);
  assert_int_equal(docq_ctx_last_reused(c), 0); /* a new context holds nothing */

  const docq_chat_message turn2[] = {ASK[0], ASK[1], {"assistant", a1.text}, {"user", "ab cd ef gh ijk"}};
  run a2 = chat(c, "chatml", turn2, 4, &g, NULL);
  const size_t reused2 = docq_ctx_last_reused(c);
  assert_true(reused2 >= 2 * NB); /* the premise: enough history for reuse to show */
  assert_int_equal(reused2, expected_reuse(ASK, 2, turn2, 4));
  assert_as_fresh(&a2, turn2, 4);

  const docq_chat_message turn3[] = {turn2[0], turn2[1], turn2[2], turn2[3], {"assistant", a2.text}, {"user", "lm nop"}};
  run a3 = chat(c, "chatml", turn3, 6, &g, NULL);
  assert_true(docq_ctx_last_reused(c) > reused2);
  assert_int_equal(docq_ctx_last_reused(c), expected_reuse(turn2, 4, turn3, 6));
  assert_as_fresh(&a3, turn3, 6);
  run_free(&a1);
  run_free(&a2);
  run_free(&a3);
  docq_ctx_free(c);
}

/* A thinking template opens a think block in the generation prompt; this
 * model never closes it, so everything it writes is reasoning: to
 * on_reasoning and *out_reasoning, nothing to on_token, "" as the answer. */
static void test_chat__thinking_template_keeps_reasoning_apart(void **state)
{
  (void)state;
  assert_int_equal(docq_chat_template_thinks("deepseek-r1"), 1);
  assert_int_equal(docq_chat_template_thinks("chatml"), 0);
  assert_int_equal(docq_chat_template_thinks("no-such-template"), 0);
  docq_gen_options g = sampled();
  sink tokens = {0}, thoughts = {0};
  g.on_token = collect;
  g.payload = &tokens;
  docq_chat_options co = DOCQ_CHAT_OPTIONS_INIT;
  co.chat_template = "deepseek-r1";
  co.on_reasoning = collect;
  co.reasoning_payload = &thoughts;
  docq_ctx *c = new_ctx(512);
  char *text = NULL, *reasoning = NULL;
  assert_int_equal(docq_chat(c, ASK, 2, &g, &co, &text, &reasoning), DOCQ_OK);
  run r = record(c, text);
  run raw = reference("deepseek-r1", ASK, 2, &g);
  assert_null(strstr(raw.text, "</think>")); /* the premise: the block stays open */
  assert_true(strlen(raw.text) > 0);
  assert_non_null(text);
  assert_string_equal(text, "");
  assert_non_null(reasoning);
  assert_string_equal(reasoning, raw.text);
  assert_string_equal(thoughts.text, raw.text);
  assert_int_equal(tokens.calls, 0);
  assert_memory_equal(r.logits, raw.logits, logits_bytes()); /* the same prompt was read */
  docq_free(reasoning);
  run_free(&r);

  /* out_text and out_reasoning may be NULL: the callbacks still get it all */
  sink again = {0};
  co.reasoning_payload = &again;
  assert_int_equal(docq_chat(c, ASK, 2, &g, &co, NULL, NULL), DOCQ_OK);
  assert_string_equal(again.text, raw.text);
  assert_int_equal(tokens.calls, 0);
  run_free(&raw);
  docq_ctx_free(c);
}

/* on_reasoning returning non-zero stops as on_token does. */
static void test_chat__on_reasoning_cancels(void **state)
{
  (void)state;
  docq_gen_options g = sampled();
  sink thoughts = {.stop_at = 1};
  docq_chat_options co = DOCQ_CHAT_OPTIONS_INIT;
  co.chat_template = "deepseek-r1";
  co.on_reasoning = collect;
  co.reasoning_payload = &thoughts;
  docq_ctx *c = new_ctx(512);
  char *text = (char *)"not touched", *reasoning = (char *)"not touched";
  assert_int_equal(docq_chat(c, ASK, 2, &g, &co, &text, &reasoning), DOCQ_ECANCELED);
  assert_null(text);
  assert_null(reasoning);
  assert_int_equal(thoughts.calls, 1);
  docq_ctx_free(c);
}

/* gen == NULL and chat == NULL: the default generation settings and the
 * model's own template (this file has none and no <|im_start|>: "plain"). */
static void test_chat__null_options_are_defaults(void **state)
{
  (void)state;
  assert_string_equal(docq_model_chat_template(g_model), "plain");
  docq_ctx *c = new_ctx(512);
  char *text = NULL, *reasoning = (char *)"not touched";
  assert_int_equal(docq_chat(c, ASK, 2, NULL, NULL, &text, &reasoning), DOCQ_OK);
  assert_null(reasoning);
  run r = record(c, text);
  docq_gen_options defaults;
  assert_int_equal(docq_gen_options_init(&defaults, DOCQ_GEN_OPTIONS_VERSION), DOCQ_OK);
  run ref = reference(NULL, ASK, 2, &defaults), plain = reference("plain", ASK, 2, &defaults);
  assert_same_run(&ref, &plain);
  assert_same_run(&r, &ref);
  run_free(&r);
  run_free(&ref);
  run_free(&plain);
  docq_ctx_free(c);
}

/* A conversation the context cannot hold is refused, not cut. */
static void test_chat__conversation_too_long_for_the_context(void **state)
{
  (void)state;
  const docq_chat_message longer[] = {
    {"system", "abc de fgh ij klm no pq rstu vw xyz ab cd ef gh ijk lm nop qr st uvw xy za bc"},
    {"user", "abc de fgh ij klm no pq rstu vw xyz ab cd ef gh ijk lm nop qr st uvw xy za bc"},
  };
  char *prompt = format(g_model, "chatml", longer, 2, 1);
  assert_true(docq_tokenize(g_model, prompt, strlen(prompt), 1, NULL, 0) > 64);
  docq_free(prompt);
  docq_gen_options g = sampled();
  sink s = {0};
  g.on_token = collect;
  g.payload = &s;
  docq_ctx *c = new_ctx(32);
  char *text = (char *)"not touched";
  docq_chat_options co = DOCQ_CHAT_OPTIONS_INIT;
  co.chat_template = "chatml";
  assert_int_equal(docq_chat(c, longer, 2, &g, &co, &text, NULL), DOCQ_EINVAL);
  assert_null(text);
  assert_int_equal(s.calls, 0);
  docq_ctx_free(c);
}

/* A conversation that fits but leaves too little room for the whole answer:
 * the answer ends with the context (DOCQ_STOP_CONTEXT) as docq_generate's
 * does on a context of that size, and is the start of a larger context's. */
static void test_chat__full_context_ends_the_answer(void **state)
{
  (void)state;
  size_t n;
  free(prompt_tokens("chatml", ASK, 2, &n));
  const unsigned n_ctx = (unsigned)n + 6; /* room for a few tokens of the answer */
  docq_gen_options g = sampled();
  g.n_predict = 40;
  docq_ctx *c = new_ctx(n_ctx);
  run r = chat(c, "chatml", ASK, 2, &g, NULL);
  assert_int_equal(r.info.stop, DOCQ_STOP_CONTEXT);
  assert_int_equal(r.info.prompt_tokens, n);
  assert_true(r.info.generated_tokens > 0 && r.info.generated_tokens < 40);
  run same = reference_ctx(n_ctx, "chatml", ASK, 2, &g);
  assert_same_run(&r, &same);
  run larger = reference("chatml", ASK, 2, &g);
  assert_true(strlen(r.text) > 0 && strlen(r.text) < strlen(larger.text));
  assert_memory_equal(r.text, larger.text, strlen(r.text));
  run_free(&r);
  run_free(&same);
  run_free(&larger);
  docq_ctx_free(c);
}

/* on_token returning non-zero cancels; nothing is returned. */
static void test_chat__on_token_cancels(void **state)
{
  (void)state;
  docq_gen_options g = sampled();
  sink s = {.stop_at = 2};
  g.on_token = collect;
  g.payload = &s;
  docq_ctx *c = new_ctx(512);
  char *text = (char *)"not touched", *reasoning = (char *)"not touched";
  docq_chat_options co = DOCQ_CHAT_OPTIONS_INIT;
  co.chat_template = "chatml";
  assert_int_equal(docq_chat(c, ASK, 2, &g, &co, &text, &reasoning), DOCQ_ECANCELED);
  assert_null(text);
  assert_null(reasoning);
  assert_int_equal(s.calls, 2);
  docq_ctx_free(c);
}

/* docq_chat's argument errors: those of docq_chat_format, and no context. */
static void test_chat__chat_bad_arguments(void **state)
{
  (void)state;
  docq_ctx *c = new_ctx(512);
  docq_gen_options g = sampled();
  docq_chat_options co = DOCQ_CHAT_OPTIONS_INIT;
  const docq_chat_message no_content[] = {{"user", NULL}};
  char *text = (char *)"not touched", *reasoning = (char *)"not touched";
  assert_int_equal(docq_chat(c, no_content, 1, &g, &co, &text, &reasoning), DOCQ_EINVAL);
  assert_null(text);
  assert_null(reasoning);
  co.chat_template = "no-such-template";
  text = (char *)"not touched";
  assert_int_equal(docq_chat(c, ASK, 2, &g, &co, &text, NULL), DOCQ_EINVAL);
  assert_null(text);
  assert_non_null(strstr(docq_error_last()->message, "chatml"));
  co.chat_template = "chatml";
  text = (char *)"not touched";
  assert_int_equal(docq_chat(NULL, ASK, 2, &g, &co, &text, NULL), DOCQ_EINVAL);
  assert_null(text);
  text = (char *)"not touched";
  assert_int_equal(docq_chat(c, NULL, 2, &g, &co, &text, NULL), DOCQ_EINVAL);
  assert_null(text);
  docq_ctx_free(c);
}

/* ---- the shared real model ------------------------------------------------------------- */

/* stories260K (a tiny real llama) with the plain template: docq_chat answers
 * as docq_generate on the formatted text. */
static void test_chat__stories260K_plain(void **state)
{
  (void)state;
  const char *shared = getenv("DOCQ_SHARED_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/models/stories260K.gguf", shared ? shared : "");
  if (!shared || !*shared || access(path, R_OK) != 0) {
    print_message("DOCQ_SHARED_DIR/models/stories260K.gguf not found: skipped\n");
    skip();
  }
  docq_model *m = NULL;
  assert_int_equal(docq_model_load(&m, path), DOCQ_OK);
  const docq_chat_message msgs[] = {{"user", "Once upon a time, there was a little girl"}};
  docq_gen_options g = sampled();
  g.n_predict = 32;
  docq_ctx *c = NULL;
  assert_int_equal(docq_ctx_new(&c, m, 0), DOCQ_OK);
  docq_chat_options co = DOCQ_CHAT_OPTIONS_INIT;
  co.chat_template = "plain";
  char *text = NULL;
  assert_int_equal(docq_chat(c, msgs, 1, &g, &co, &text, NULL), DOCQ_OK);
  char *prompt = NULL;
  assert_int_equal(docq_chat_format(m, "plain", msgs, 1, 1, &prompt), DOCQ_OK);
  docq_ctx *fresh = NULL;
  assert_int_equal(docq_ctx_new(&fresh, m, 0), DOCQ_OK);
  g.parse_special = 1;
  char *ref = NULL;
  assert_int_equal(docq_generate(fresh, prompt, &g, &ref), DOCQ_OK);
  assert_true(strlen(text) > 0);
  assert_string_equal(text, ref);
  docq_free(ref);
  docq_free(prompt);
  docq_free(text);
  docq_ctx_free(fresh);
  docq_ctx_free(c);
  docq_model_free(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_chat__recognizes_the_files_templates),
    cmocka_unit_test(test_chat__format_chatml),
    cmocka_unit_test(test_chat__format_llama3),
    cmocka_unit_test(test_chat__format_llama2),
    cmocka_unit_test(test_chat__format_phi3),
    cmocka_unit_test(test_chat__format_chatml_default_system),
    cmocka_unit_test(test_chat__template_name_overrides_the_files),
    cmocka_unit_test(test_chat__format_no_messages),
    cmocka_unit_test(test_chat__format_white_space_as_the_templates),
    cmocka_unit_test_setup_teardown(test_chat__unknown_template_lists_known_ones, chatml_setup, chatml_teardown),
    cmocka_unit_test_setup_teardown(test_chat__format_bad_arguments, chatml_setup, chatml_teardown),
    cmocka_unit_test_setup_teardown(test_chat__format_null_arguments_clear_out, chatml_setup, chatml_teardown),
    cmocka_unit_test(test_chat__options_versions),
    cmocka_unit_test(test_chat__logits_tell_prompts_apart),
    cmocka_unit_test(test_chat__answer_is_generate_on_the_format),
    cmocka_unit_test(test_chat__parses_special_tokens),
    cmocka_unit_test(test_chat__multi_turn_reuses_the_context),
    cmocka_unit_test(test_chat__thinking_template_keeps_reasoning_apart),
    cmocka_unit_test(test_chat__on_reasoning_cancels),
    cmocka_unit_test(test_chat__null_options_are_defaults),
    cmocka_unit_test(test_chat__conversation_too_long_for_the_context),
    cmocka_unit_test(test_chat__full_context_ends_the_answer),
    cmocka_unit_test(test_chat__on_token_cancels),
    cmocka_unit_test(test_chat__chat_bad_arguments),
    cmocka_unit_test(test_chat__stories260K_plain),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
