/* Tests for engine/chat.c: template recognition and exact output strings.
 *
 * The conversation and most expected strings are those of llama.cpp's
 * tests/test-chat-template.cpp, which renders each model's official Jinja
 * template on that conversation (BOS left out, as the tokenizer adds it).
 * Llama 2's expected string is Meta's official template rendered by hand
 * (bos_token + '[INST] ' + content.strip() + ' [/INST]', ' ' + answer.strip()
 * + ' ' + eos_token), TinyLlama's the Zephyr template rendered with HF's
 * trim_blocks. Also checks that "<|im_start|>" in a formatted prompt becomes
 * one token only when special tokens are parsed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docq.h"
#include "engine/chat.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "support/gguf_writer.h"
#include "util/err.h"
#include "util/mem.h"

static const dq_chat_msg conv[] = {
  {"system", "You are a helpful assistant"},
  {"user", "Hello"},
  {"assistant", "Hi there"},
  {"user", "Who are you"},
  {"assistant", "   I am an assistant   "},
  {"user", "Another question"},
};
#define NCONV (sizeof conv / sizeof conv[0])

/* Official templates (tokenizer_config.json chat_template of each model). */
static const char *tmpl_chatml =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char *tmpl_mistral =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
  "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
static const char *tmpl_llama2 =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
  "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
  "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
  "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
  "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
  "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
/* bofenghuang/vigogne-2-70b-chat: <<SYS>>, strip, spaces, no BOS inside the history. */
static const char *tmpl_vigogne =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
  "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
  "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
  "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + content.strip() + ' [/INST]' }}"
  "{% elif message['role'] == 'system' %}{{ '<<SYS>>\\n' + content.strip() + '\\n<</SYS>>\\n\\n' }}{% elif message['role'] == 'assistant' %}"
  "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
static const char *tmpl_llama3 =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + "
  "'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
  "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
static const char *tmpl_zephyr =
  "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
  "{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
  "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n"
  "{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
/* Gemma 1's and 2's (google/gemma-7b-it's as llama.cpp's test-chat-template
 * has it; google/gemma-2-2b-it's only adds {{ bos_token }} in front). It
 * refuses a system turn; llama.cpp, and docq, put the system text at the
 * start of the first user turn instead. */
static const char *tmpl_gemma2 =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
  "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
  "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
  "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
  "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";
/* google/gemma-3-1b-it's, text parts only (the image branch left out). */
static const char *tmpl_gemma3 =
  "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- if messages[0]['content'] is string -%}\n"
  "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n    {%- endif -%}\n"
  "    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n"
  "    {%- set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages -%}\n"
  "    {%- if (message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n    {%- else -%}\n"
  "        {%- set role = message['role'] -%}\n    {%- endif -%}\n"
  "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
  "    {%- if message['content'] is string -%}\n        {{ message['content'] | trim }}\n    {%- endif -%}\n"
  "    {{ '<end_of_turn>\\n' }}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\\n'}}\n"
  "{%- endif -%}\n";

static const char *want_chatml =
  "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n"
  "<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n"
  "<|im_start|>assistant\n";
static const char *want_mistral =
  "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question [/INST]";
static const char *want_llama2 =
  "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST] I am an assistant </s>"
  "<s>[INST] Another question [/INST]";
static const char *want_vigogne =
  "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>[INST] Who are you [/INST] I am an assistant </s>"
  "[INST] Another question [/INST]";
static const char *want_llama3 =
  "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
  "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
  "<|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|>"
  "<|start_header_id|>assistant<|end_header_id|>\n\n";
static const char *want_zephyr =
  "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n<|user|>\nWho are you</s>\n"
  "<|assistant|>\n   I am an assistant   </s>\n<|user|>\nAnother question</s>\n<|assistant|>\n";
/* Gemma 3's template rendered by hand (the same string as llama.cpp's expected
 * output for Gemma's legacy template on this conversation). */
static const char *want_gemma =
  "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n"
  "<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an assistant<end_of_turn>\n"
  "<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n";
static const char *want_plain =
  "You are a helpful assistant\n\nQuestion: Hello\nAnswer: Hi there\n\nQuestion: Who are you\nAnswer:    I am an assistant   \n\n"
  "Question: Another question\nAnswer:";

/* c writes m[0..n) (generation prompt on, BOS "<s>", EOS "</s>") as want. */
static void check_format(const dq_chat *c, const dq_chat_msg *m, size_t n, const char *want)
{
  char *out = NULL;
  size_t len = 0;
  assert_int_equal(dq_chat_format(c, m, n, 1, "<s>", "</s>", &out, &len), 0);
  assert_non_null(out);
  if (strcmp(out, want) != 0) {
    fprintf(stderr, "  %s:\n  want: %s\n  got:  %s\n", dq_chat_label(c), want, out ? out : "(null)");
    fail();
  }
  assert_int_equal(len, strlen(want));
  dq_free(out);
}

/* tmpl is recognized as kind and writes m[0..n) as want. */
static void check_msgs(const char *tmpl, dq_chat_kind kind, const dq_chat_msg *m, size_t n, const char *want)
{
  dq_chat c = dq_chat_detect(tmpl, strlen(tmpl));
  assert_int_equal(c.kind, kind);
  check_format(&c, m, n, want);
}

static void check(const char *tmpl, dq_chat_kind kind, const char *want) { check_msgs(tmpl, kind, conv, NCONV, want); }

static void test_engine_chat__official_formats(void **state)
{
  (void)state;
  check(tmpl_chatml, DQ_CHAT_CHATML, want_chatml);
  check(tmpl_mistral, DQ_CHAT_MISTRAL, want_mistral);
  check(tmpl_llama2, DQ_CHAT_LLAMA2, want_llama2);
  check(tmpl_vigogne, DQ_CHAT_LLAMA2, want_vigogne);
  check(tmpl_llama3, DQ_CHAT_LLAMA3, want_llama3);
  check(tmpl_zephyr, DQ_CHAT_ZEPHYR, want_zephyr);
  check(tmpl_gemma3, DQ_CHAT_GEMMA, want_gemma);
  check(tmpl_gemma2, DQ_CHAT_GEMMA, want_gemma); /* llama.cpp's expected output for it */
  assert_int_equal(dq_chat_detect("{{ messages }}", 14).kind, DQ_CHAT_NONE);
  assert_int_equal(dq_chat_detect(NULL, 0).kind, DQ_CHAT_NONE);
}

static void test_engine_chat__by_name(void **state)
{
  (void)state;
  const char *names[] = {"chatml", "llama3", "llama2", "mistral", "zephyr", "gemma", "plain"};
  const char *wants[] = {want_chatml, want_llama3, want_llama2, want_mistral, want_zephyr, want_gemma, want_plain};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    dq_chat c;
    assert_int_equal(dq_chat_by_name(&c, names[i]), 0);
    assert_string_equal(dq_chat_name(c.kind), names[i]);
    char *out;
    assert_int_equal(dq_chat_format(&c, conv, NCONV, 1, NULL, NULL, &out, NULL), 0);
    assert_string_equal(out, wants[i]);
    dq_free(out);
  }
  dq_chat c;
  assert_int_equal(dq_chat_by_name(&c, "jinja"), DOCQ_ENOTFOUND);
  /* Phi-3: the zephyr shape with <|end|>. */
  const char *phi3 = "{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n'}}";
  c = dq_chat_detect(phi3, strlen(phi3));
  assert_int_equal(c.kind, DQ_CHAT_ZEPHYR);
  dq_chat_msg m[2] = {{"user", "Hi"}, {"assistant", "Yo"}};
  char *out;
  assert_int_equal(dq_chat_format(&c, m, 2, 1, NULL, "<|endoftext|>", &out, NULL), 0);
  assert_string_equal(out, "<|user|>\nHi<|end|>\n<|assistant|>\nYo<|end|>\n<|assistant|>\n");
  dq_free(out);
  /* named as dq_chat_by_name takes it, so an override can reproduce it */
  assert_string_equal(dq_chat_label(&c), "phi3");
  dq_chat named;
  assert_int_equal(dq_chat_by_name(&named, dq_chat_label(&c)), 0);
  assert_int_equal(named.kind, c.kind);
  assert_int_equal(named.flags, c.flags);
  c = (dq_chat){.kind = DQ_CHAT_ZEPHYR};
  assert_string_equal(dq_chat_label(&c), "zephyr");
}

/* Qwen3's hybrid template is ChatML with a switch: with enable_thinking
 * false its generation prompt closes an empty think block, and the model
 * answers at once; with it unset the model reasons first. Its rendering with
 * the switch off, on the conversation above, is the ChatML one (history turns
 * before the last question are written as ChatML's) plus that block. The
 * template text here is only its generation part, which is what selects it. */
static void test_engine_chat__qwen3_answers_without_thinking(void **state)
{
  (void)state;
  const char *tmpl = "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n"
                     "    {%- if enable_thinking is defined and enable_thinking is false %}\n"
                     "        {{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}\n{%- endif %}\n";
  char want[1024];
  snprintf(want, sizeof want, "%s<think>\n\n</think>\n\n", want_chatml);
  check(tmpl, DQ_CHAT_CHATML, want);
  dq_chat c = dq_chat_detect(tmpl, strlen(tmpl));
  assert_string_equal(dq_chat_label(&c), "qwen3");
  dq_chat named;
  assert_int_equal(dq_chat_by_name(&named, "qwen3"), 0);
  assert_int_equal(named.kind, c.kind);
  assert_int_equal(named.flags, c.flags);
  /* the block belongs to the generation prompt only */
  dq_chat_msg m[1] = {{"user", "Hi"}};
  char *out;
  assert_int_equal(dq_chat_format(&c, m, 1, 0, NULL, NULL, &out, NULL), 0);
  assert_string_equal(out, "<|im_start|>user\nHi<|im_end|>\n");
  dq_free(out);
  /* SmolLM3's template has the switch too (its own test below) */
  const char *smol = "{%- if enable_thinking -%}{%- set reasoning_mode = \"/think\" -%}{%- endif -%}"
                     "{{- \"<|im_start|>system\\n\" -}}{{- \"Reasoning Mode: \" + reasoning_mode + \"\\n\\n\" -}}"
                     "{{ \"<|im_start|>assistant\\n\" + \"<think>\\n\\n</think>\\n\"  }}";
  c = dq_chat_detect(smol, strlen(smol));
  assert_string_equal(dq_chat_label(&c), "smollm3");
  /* a template with the switch that opens a block when thinking is on
   * (Qwen3.5's) is taken with the switch off: one empty block, no opening */
  const char *both = "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
                     "{%- else %}{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}";
  c = dq_chat_detect(both, strlen(both));
  assert_string_equal(dq_chat_label(&c), "qwen3");
  assert_int_equal(dq_chat_format(&c, m, 1, 1, NULL, NULL, &out, NULL), 0);
  assert_string_equal(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  dq_free(out);
  /* Qwen2.5's ChatML has no switch and stays plain ChatML */
  c = dq_chat_detect(tmpl_chatml, strlen(tmpl_chatml));
  assert_string_equal(dq_chat_label(&c), "chatml");
}

/* Templates that open a think block for the answer: the DeepSeek-R1
 * distills' (system text first, then <｜User｜> / <｜Assistant｜> turns, the
 * generation prompt ending "<｜Assistant｜><think>\n") and QwQ / Qwen3
 * thinking's ChatML ending "<|im_start|>assistant\n<think>\n". The expected
 * strings are those templates rendered by hand on the conversation above
 * (BOS left out); the template texts here are their distinctive parts. */
static void test_engine_chat__templates_that_think(void **state)
{
  (void)state;
  const char *r1 = "{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}"
                   "{{'<\uff5cUser\uff5c>' + message['content']}}{%- endif %}{%- endfor %}"
                   "{% if add_generation_prompt %}{{'<\uff5cAssistant\uff5c><think>\\n'}}{% endif %}";
  const char *want_r1 =
    "You are a helpful assistant<\uff5cUser\uff5c>Hello<\uff5cAssistant\uff5c>Hi there<\uff5cend\u2581of\u2581sentence\uff5c>"
    "<\uff5cUser\uff5c>Who are you<\uff5cAssistant\uff5c>   I am an assistant   <\uff5cend\u2581of\u2581sentence\uff5c>"
    "<\uff5cUser\uff5c>Another question<\uff5cAssistant\uff5c><think>\n";
  check(r1, DQ_CHAT_DEEPSEEK, want_r1);
  dq_chat c = dq_chat_detect(r1, strlen(r1));
  assert_true(c.flags & DQ_CHAT_F_THINK);
  assert_string_equal(dq_chat_label(&c), "deepseek-r1");
  /* without the opening (DeepSeek V3 style), the turn starts bare */
  const char *v3 = "{{'<\uff5cUser\uff5c>' + message['content']}}{{'<\uff5cAssistant\uff5c>'}}";
  c = dq_chat_detect(v3, strlen(v3));
  assert_int_equal(c.kind, DQ_CHAT_DEEPSEEK);
  assert_string_equal(dq_chat_label(&c), "deepseek");
  dq_chat_msg m[2] = {{"system", "S"}, {"user", "Q"}};
  char *out;
  assert_int_equal(dq_chat_format(&c, m, 2, 1, NULL, NULL, &out, NULL), 0);
  assert_string_equal(out, "S<\uff5cUser\uff5c>Q<\uff5cAssistant\uff5c>");
  dq_free(out);

  const char *qwq = "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n<think>\\n' }}\n{%- endif %}\n";
  char want[1024];
  snprintf(want, sizeof want, "%s<think>\n", want_chatml);
  check(qwq, DQ_CHAT_CHATML, want);
  c = dq_chat_detect(qwq, strlen(qwq));
  assert_string_equal(dq_chat_label(&c), "chatml-think");

  /* every name the messages list is taken */
  char names[256];
  snprintf(names, sizeof names, "%s", dq_chat_names());
  int n_names = 0;
  for (char *save = NULL, *t = strtok_r(names, ", ", &save); t; t = strtok_r(NULL, ", ", &save), n_names++)
    assert_int_equal(dq_chat_by_name(&c, t), 0);
  assert_int_equal(n_names, 22);
  /* every label names its format for an override */
  const char *labels[] = {"deepseek", "deepseek-r1", "chatml-think", "qwen3", "smollm3", "gemma", "llama3.1", "llama3.2", "phi4-mini", "phi4",
                          "mistral-v1", "mistral-v3", "mistral-v3-tekken", "mistral-v7", "mistral-v7-tekken"};
  for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
    assert_int_equal(dq_chat_by_name(&c, labels[i]), 0);
    assert_string_equal(dq_chat_label(&c), labels[i]);
  }
}

static void test_engine_chat__generation_prompt_and_errors(void **state)
{
  (void)state;
  dq_chat c = {.kind = DQ_CHAT_CHATML};
  dq_chat_msg m[1] = {{"user", "Hi"}};
  char *out;
  assert_int_equal(dq_chat_format(&c, m, 1, 0, NULL, NULL, &out, NULL), 0);
  assert_string_equal(out, "<|im_start|>user\nHi<|im_end|>\n");
  dq_free(out);
  c.kind = DQ_CHAT_LLAMA3;
  assert_int_equal(dq_chat_format(&c, m, 1, 0, NULL, NULL, &out, NULL), 0);
  assert_string_equal(out, "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
  dq_free(out);
  assert_int_equal(dq_chat_format(&c, NULL, 0, 1, NULL, NULL, &out, NULL), 0);
  assert_string_equal(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
  dq_free(out);
  dq_chat_msg bad[1] = {{"user", NULL}};
  out = (char *)1;
  assert_int_equal(dq_chat_format(&c, bad, 1, 1, NULL, NULL, &out, NULL), DOCQ_EINVAL);
  assert_null(out);
  c.kind = DQ_CHAT_NONE;
  assert_int_equal(dq_chat_format(&c, m, 1, 1, NULL, NULL, &out, NULL), DOCQ_EINVAL);
}

/* A small BPE vocabulary with ChatML control tokens, built in memory:
 * bytes as tokens, no merges except "h i". */
static dq_tok *chatml_vocab(dq_gguf **gout, uint8_t **buf, const char *tmpl)
{
  dq_gw *w = dq_gw_new();
  const char *toks[260];
  char bytes[256][3];
  int n = 0;
  for (int b = 0x21; b <= 0x7E; b++) { bytes[n][0] = (char)b; bytes[n][1] = 0; toks[n] = bytes[n]; n++; }
  toks[n++] = "\xc4\x8a"; /* "Ċ" = byte 0x0A */
  toks[n++] = "\xc4\xa0"; /* "Ġ" = space */
  toks[n++] = "hi";
  int im_start = n, im_end = n + 1;
  toks[n++] = "<|im_start|>";
  toks[n++] = "<|im_end|>";
  int32_t types[260];
  for (int i = 0; i < n; i++) types[i] = i >= im_start ? 3 : 1;
  const char *merges[1] = {"h i"};
  assert_int_equal(dq_gw_add_str(w, "tokenizer.ggml.model", "gpt2"), 0);
  assert_int_equal(dq_gw_add_str(w, "tokenizer.ggml.pre", "qwen2"), 0);
  assert_int_equal(dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, (size_t)n), 0);
  assert_int_equal(dq_gw_add_arr(w, "tokenizer.ggml.token_type", DQ_GGUF_I32, types, (size_t)n), 0);
  assert_int_equal(dq_gw_add_arr_str(w, "tokenizer.ggml.merges", merges, 1), 0);
  assert_int_equal(dq_gw_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)im_end), 0);
  assert_int_equal(dq_gw_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)im_start), 0);
  assert_int_equal(dq_gw_add_bool(w, "tokenizer.ggml.add_bos_token", 0), 0);
  if (tmpl) assert_int_equal(dq_gw_add_str(w, "tokenizer.chat_template", tmpl), 0);
  size_t len;
  assert_int_equal(dq_gw_write_mem(w, buf, &len), 0);
  dq_gw_free(w);
  assert_int_equal(dq_gguf_from_buffer(gout, *buf, len), 0);
  dq_tok *t = NULL;
  assert_int_equal(dq_tok_load(&t, *gout), 0);
  assert_int_equal(dq_tok_find(t, "<|im_start|>", 12), im_start);
  return t;
}

static void test_engine_chat__select_and_tokenize(void **state)
{
  (void)state;
  dq_gguf *g;
  uint8_t *buf;
  /* No template in the file: the vocabulary has <|im_start|> -> ChatML. */
  dq_tok *t = chatml_vocab(&g, &buf, NULL);
  dq_chat c;
  assert_int_equal(dq_chat_select(&c, g, t, NULL), 0);
  assert_int_equal(c.kind, DQ_CHAT_CHATML);
  assert_int_equal(dq_chat_select(&c, g, t, "llama3"), 0);
  assert_int_equal(c.kind, DQ_CHAT_LLAMA3);
  assert_int_equal(dq_chat_select(&c, g, t, "nope"), DOCQ_ENOTFOUND);
  assert_int_equal(dq_chat_select(&c, NULL, NULL, NULL), 0);
  assert_int_equal(c.kind, DQ_CHAT_PLAIN);

  c = (dq_chat){.kind = DQ_CHAT_CHATML};
  dq_chat_msg m[2] = {{"system", "be brief"}, {"user", "hi"}};
  char *prompt;
  size_t plen;
  assert_int_equal(dq_chat_format_tok(&c, t, m, 2, 1, &prompt, &plen), 0);
  int32_t ids[256];
  size_t n;
  int32_t st = dq_tok_find(t, "<|im_start|>", 12), en = dq_tok_find(t, "<|im_end|>", 10);
  assert_int_equal(dq_tok_encode(t, prompt, plen, 1, 1, ids, 256, &n), 0);
  size_t n_st = 0, n_en = 0;
  for (size_t i = 0; i < n; i++) { n_st += ids[i] == st; n_en += ids[i] == en; }
  assert_int_equal(n_st, 3); /* system, user, generation prompt */
  assert_int_equal(n_en, 2);
  assert_int_equal(ids[0], st);
  assert_int_equal(ids[n - 1], dq_tok_find(t, "\xc4\x8a", 2)); /* ends with "\n" */
  /* "hi" merged by the one merge rule. */
  int32_t hi = dq_tok_find(t, "hi", 2);
  int found = 0;
  for (size_t i = 0; i < n; i++) found |= ids[i] == hi;
  assert_true(found);
  assert_true(dq_tok_is_eog(t, en));
  /* Without parse_special the markers are plain text. */
  assert_int_equal(dq_tok_encode(t, prompt, plen, 1, 0, ids, 256, &n), 0);
  for (size_t i = 0; i < n; i++) { assert_int_not_equal(ids[i], st); assert_int_not_equal(ids[i], en); }
  /* Round trip with special text kept. */
  char *back;
  size_t blen;
  assert_int_equal(dq_tok_encode(t, prompt, plen, 0, 1, ids, 256, &n), 0);
  assert_int_equal(dq_tok_decode(t, ids, n, 1, &back, &blen), 0);
  assert_string_equal(back, prompt);
  dq_free(back);
  dq_free(prompt);
  dq_tok_free(t);
  dq_gguf_close(g);
  dq_free(buf);

  /* A Llama 3 template in the file wins over the vocabulary fallback. */
  t = chatml_vocab(&g, &buf, tmpl_llama3);
  assert_int_equal(dq_chat_select(&c, g, t, NULL), 0);
  assert_int_equal(c.kind, DQ_CHAT_LLAMA3);
  dq_tok_free(t);
  dq_gguf_close(g);
  dq_free(buf);
}

/* SmolLM3 (HuggingFaceTB/SmolLM3-3B's chat_template) rendered with jinja2
 * (HF's trim_blocks / lstrip_blocks, enable_thinking false, strftime_now
 * fixed to 05 March 2026): a system turn with a metadata header whatever the
 * messages, the system text as custom instructions without "/no_think" and
 * right-trimmed, or a default; that turn left open; "/system_override"
 * writes the text bare; system messages after the first dropped, tool
 * results as user turns; an empty think block before every answer. */
static void check_smol(const dq_chat_msg *m, size_t n, int gen, const char *want)
{
  dq_chat c;
  assert_int_equal(dq_chat_by_name(&c, "smollm3"), 0);
  char *out;
  assert_int_equal(dq_chat_format(&c, m, n, gen, NULL, NULL, &out, NULL), 0);
  assert_string_equal(out, want);
  dq_free(out);
}

static void test_engine_chat__smollm3_header(void **state)
{
  (void)state;
  assert_int_equal(setenv("SOURCE_DATE_EPOCH", "1772712000", 1), 0); /* 2026-03-05 12:00 UTC */
#define HDR "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\nToday Date: 05 March 2026\n" \
            "Reasoning Mode: /no_think\n\n## Custom Instructions\n\n"
#define GEN "<|im_start|>assistant\n<think>\n\n</think>\n"
  check_smol(conv, NCONV, 1,
             HDR "You are a helpful assistant\n\n<|im_start|>user\nHello<|im_end|>\n" GEN "Hi there<|im_end|>\n"
                 "<|im_start|>user\nWho are you<|im_end|>\n" GEN "   I am an assistant   <|im_end|>\n"
                 "<|im_start|>user\nAnother question<|im_end|>\n" GEN);
  check_smol(conv, NCONV - 1, 0,
             HDR "You are a helpful assistant\n\n<|im_start|>user\nHello<|im_end|>\n" GEN "Hi there<|im_end|>\n"
                 "<|im_start|>user\nWho are you<|im_end|>\n" GEN "   I am an assistant   <|im_end|>\n");
  const dq_chat_msg user_only[] = {{"user", "Hi"}};
  check_smol(user_only, 1, 1,
             HDR "You are a helpful AI assistant named SmolLM, trained by Hugging Face.\n\n<|im_start|>user\nHi<|im_end|>\n" GEN);
  const dq_chat_msg sys[] = {{"system", "Answer from the context. /no_think\n"}, {"user", "Hi"}};
  check_smol(sys, 2, 1, HDR "Answer from the context.\n\n<|im_start|>user\nHi<|im_end|>\n" GEN);
  const dq_chat_msg hist[] = {{"system", "S"}, {"user", "Q1"}, {"assistant", "\nA1"}, {"user", "Q2"}};
  check_smol(hist, 4, 1,
             HDR "S\n\n<|im_start|>user\nQ1<|im_end|>\n" GEN "A1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n" GEN);
  const dq_chat_msg over[] = {{"system", "Raw system /system_override  "}, {"user", "Hi"}};
  check_smol(over, 2, 1, "<|im_start|>system\nRaw system<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" GEN);
  const dq_chat_msg late[] = {{"user", "Hi"}, {"system", "ignored"}, {"tool", "T"}};
  check_smol(late, 3, 1,
             HDR "You are a helpful AI assistant named SmolLM, trained by Hugging Face.\n\n<|im_start|>user\nHi<|im_end|>\n"
                 "<|im_start|>user\nT<|im_end|>\n" GEN);
  const dq_chat_msg blank[] = {{"system", " /no_think "}, {"user", "Hi"}};
  check_smol(blank, 2, 1,
             HDR "You are a helpful AI assistant named SmolLM, trained by Hugging Face.\n\n<|im_start|>user\nHi<|im_end|>\n" GEN);
#undef HDR
#undef GEN
  unsetenv("SOURCE_DATE_EPOCH");
}

/* Llama 3.1 / 3.2's templates (Meta's, rendered with jinja2, no tools,
 * strftime_now fixed to "05 Mar 2026" for 3.2; 3.1's has none and writes
 * its default date): the system turn always, opening with the dated
 * header, the first system text trimmed after it; later turns as Llama 3. */
static void test_engine_chat__llama3_dated(void **state)
{
  (void)state;
  assert_int_equal(setenv("SOURCE_DATE_EPOCH", "1772712000", 1), 0); /* 2026-03-05 12:00 UTC */
  const char *t31 = "{%- if not date_string is defined %}{%- set date_string = \"26 Jul 2024\" %}{%- endif %}"
                    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}"
                    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}";
  const char *t32 = "{%- if strftime_now is defined %}{%- set date_string = strftime_now(\"%d %b %Y\") %}{%- endif %}"
                    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}"
                    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}";
  const char *dates[2] = {"26 Jul 2024", "05 Mar 2026"};
  for (int v = 0; v < 2; v++) {
    dq_chat c = dq_chat_detect(v ? t32 : t31, strlen(v ? t32 : t31));
    assert_int_equal(c.kind, DQ_CHAT_LLAMA3);
    assert_string_equal(dq_chat_label(&c), v ? "llama3.2" : "llama3.1");
    dq_chat named;
    assert_int_equal(dq_chat_by_name(&named, v ? "llama3.2" : "llama3.1"), 0);
    assert_int_equal(named.flags, c.flags);
    char hdr[160], want[1024];
    snprintf(hdr, sizeof hdr,
             "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: %s\n\n",
             dates[v]);
    char *out;
    snprintf(want, sizeof want,
             "%sYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>"
             "\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>"
             "<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\n",
             hdr);
    assert_int_equal(dq_chat_format(&c, conv, NCONV, 1, NULL, NULL, &out, NULL), 0);
    assert_string_equal(out, want);
    dq_free(out);
    const dq_chat_msg m[] = {{"user", " Hi "}, {"system", " S2 "}};
    snprintf(want, sizeof want,
             "%s<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
             "<|start_header_id|>system<|end_header_id|>\n\nS2<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
             hdr);
    assert_int_equal(dq_chat_format(&c, m, 2, 1, NULL, NULL, &out, NULL), 0);
    assert_string_equal(out, want);
    dq_free(out);
  }
  unsetenv("SOURCE_DATE_EPOCH");
}

/* Phi-4-mini-instruct's and Phi-4's templates (microsoft's
 * tokenizer_config.json), rendered with jinja2 on the conversation: no
 * newlines anywhere; Phi-4-mini closes a conversation that asks for no
 * answer with EOS, Phi-4 writes only system, user and assistant turns. */
static void test_engine_chat__phi4(void **state)
{
  (void)state;
  const char *mini = "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and "
                     "message['tools'] is not none %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + "
                     "message['tools'] + '<|/tool|>' + '<|end|>' }}{% else %}{{ '<|' + message['role'] + '|>' + "
                     "message['content'] + '<|end|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ "
                     "'<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";
  const char *phi4 = "{% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + "
                     "message['content'] + '<|im_end|>'}}{% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' "
                     "+ message['content'] + '<|im_end|>'}}{% elif (message['role'] == 'assistant') %}{{'<|im_start|>"
                     "assistant<|im_sep|>' + message['content'] + '<|im_end|>'}}{% endif %}{% endfor %}{% if "
                     "add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}";
  dq_chat c = dq_chat_detect(mini, strlen(mini));
  assert_string_equal(dq_chat_label(&c), "phi4-mini");
  check(mini, DQ_CHAT_ZEPHYR,
        "<|system|>You are a helpful assistant<|end|><|user|>Hello<|end|><|assistant|>Hi there<|end|><|user|>Who are "
        "you<|end|><|assistant|>   I am an assistant   <|end|><|user|>Another question<|end|><|assistant|>");
  char *out;
  assert_int_equal(dq_chat_format(&c, conv, 3, 0, NULL, "<|endoftext|>", &out, NULL), 0);
  assert_string_equal(out, "<|system|>You are a helpful assistant<|end|><|user|>Hello<|end|><|assistant|>Hi there<|end|>"
                           "<|endoftext|>");
  dq_free(out);
  c = dq_chat_detect(phi4, strlen(phi4));
  assert_string_equal(dq_chat_label(&c), "phi4");
  check(phi4, DQ_CHAT_CHATML,
        "<|im_start|>system<|im_sep|>You are a helpful assistant<|im_end|><|im_start|>user<|im_sep|>Hello<|im_end|>"
        "<|im_start|>assistant<|im_sep|>Hi there<|im_end|><|im_start|>user<|im_sep|>Who are you<|im_end|>"
        "<|im_start|>assistant<|im_sep|>   I am an assistant   <|im_end|><|im_start|>user<|im_sep|>Another "
        "question<|im_end|><|im_start|>assistant<|im_sep|>");
  const dq_chat_msg tool[] = {{"user", "Hi"}, {"tool", "T"}};
  assert_int_equal(dq_chat_format(&c, tool, 2, 0, NULL, NULL, &out, NULL), 0);
  assert_string_equal(out, "<|im_start|>user<|im_sep|>Hi<|im_end|>");
  dq_free(out);
}

/* Mistral's own templates (tokenizer_config.json of Mistral-7B-Instruct-v0.3,
 * Mistral-Nemo-Instruct-2407 and Mistral-Small-24B-Instruct-2501, their
 * tool branches left out) rendered with jinja2 on the conversation: v3 puts
 * the system text before the last user text, v7 in [SYSTEM_PROMPT]. v7
 * with spaces is llama.cpp's format for it (no official template here). */
static void test_engine_chat__mistral_own(void **state)
{
  (void)state;
  const char *v03 = "{%- if not tools is defined %}{%- set tools = none %}{%- endif %}{{- \"[AVAILABLE_TOOLS] [\" }}"
                    "{%- if loop.last and system_message is defined %}"
                    "{{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}";
  const char *nemo = "{{- \"[AVAILABLE_TOOLS] [\" }}{%- if loop.last and system_message is defined %}"
                     "{{- \"[INST]\" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}";
  const char *small3 = "{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}"
                       "{{- '[INST]' + message['content'] + '[/INST]' }}";
  check(v03, DQ_CHAT_MISTRAL,
        "[INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST] I am an assistant</s>"
        "[INST] You are a helpful assistant\n\nAnother question[/INST]");
  check(nemo, DQ_CHAT_MISTRAL,
        "[INST]Hello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant   </s>"
        "[INST]You are a helpful assistant\n\nAnother question[/INST]");
  check(small3, DQ_CHAT_MISTRAL,
        "[SYSTEM_PROMPT]You are a helpful assistant[/SYSTEM_PROMPT][INST]Hello[/INST]Hi there</s>[INST]Who are "
        "you[/INST]   I am an assistant   </s>[INST]Another question[/INST]");
  const char *labels[3] = {"mistral-v3", "mistral-v3-tekken", "mistral-v7-tekken"};
  const char *tmpls[3] = {v03, nemo, small3};
  for (int i = 0; i < 3; i++) {
    dq_chat c = dq_chat_detect(tmpls[i], strlen(tmpls[i]));
    assert_string_equal(dq_chat_label(&c), labels[i]);
  }
  /* a conversation ending in an answer: v3 writes no system text at all */
  dq_chat c = dq_chat_detect(v03, strlen(v03));
  check_format(&c, conv, 3, "[INST] Hello[/INST] Hi there</s>");
  assert_int_equal(dq_chat_by_name(&c, "mistral-v7"), 0);
  check_format(&c, conv, 3, "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>");
  /* Mistral's v1 when only the tool-era marker and " [INST]" tell it (as llama.cpp tells it) */
  const char *v1 = "{{- ' [INST] ' + message['content'] }}[AVAILABLE_TOOLS]";
  c = dq_chat_detect(v1, strlen(v1));
  assert_string_equal(dq_chat_label(&c), "mistral-v1");
}

/* Mistral's v1 (mistral-common, 7B v0.2): the template of llama.cpp's
 * tests/test-chat-template.cpp case "mistralai 'v1' template with a system
 * prompt" (verbatim); the expected strings are jinja2 3.1's rendering of
 * it (HF settings, bos_token "", eos_token "</s>"), which that test also
 * gives. */
static void test_engine_chat__mistral_v1(void **state)
{
  (void)state;
  const char *v1 =
    "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n"
    "    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n"
    "{{- bos_token }}\n{%- for message in loop_messages %}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
    "        {{- raise_exception('After the optional system message, conversation roles must alternate "
    "user/assistant/user/assistant/...') }}\n    {%- endif %}\n"
    "    {%- if message['role'] == 'user' %}\n        {%- if loop.first and system_message is defined %}\n"
    "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n"
    "        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n"
    "    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n"
    "    {%- else %}\n        {{- raise_exception('Only user and assistant roles are supported, with the exception "
    "of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n";
  check(v1, DQ_CHAT_MISTRAL,
        " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an "
        "assistant   </s> [INST] Another question [/INST]");
  dq_chat c = dq_chat_detect(v1, strlen(v1));
  assert_string_equal(dq_chat_label(&c), "mistral-v1");
  check_format(&c, conv + 1, 1, " [INST] Hello [/INST]"); /* no system message */
  assert_int_equal(dq_chat_by_name(&c, "mistral-v1"), 0);
  check_format(&c, conv, 2, " [INST] You are a helpful assistant\n\nHello [/INST]");
}

/* Mistral 7B v0.1's template writes a space after each answer's EOS
 * ("message['content'] + eos_token + ' '"; huggingface.js's jinja test copy
 * of it). Expected: jinja2's rendering without the system message, which
 * the template refuses (BOS left out, as the tokenizer adds it). */
static void test_engine_chat__mistral_v01_space_after_eos(void **state)
{
  (void)state;
  const char *v01 =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
  check_msgs(v01, DQ_CHAT_MISTRAL, conv + 1, NCONV - 1,
             "[INST] Hello [/INST]Hi there</s> [INST] Who are you [/INST]   I am an assistant   </s> "
             "[INST] Another question [/INST]");
}

/* "<|user|>" alone is not Zephyr: GLM-Edge's template (llama.cpp's test
 * case "GLMEdge") writes "<|ROLE|>\nTEXT" with no end of turn, which the
 * Zephyr shape would add. It is not recognized (the documented fallback
 * applies); Zephyr's own template still is. */
static void test_engine_chat__glm_edge_is_not_zephyr(void **state)
{
  (void)state;
  const char *glm = "{% for item in messages %}{% if item['role'] == 'system' %}<|system|>\n{{ item['content'] }}"
                    "{% elif item['role'] == 'user' %}<|user|>\n{{ item['content'] }}{% elif item['role'] == 'assistant' %}"
                    "<|assistant|>\n{{ item['content'] }}{% endif %}{% endfor %}<|assistant|>";
  dq_chat c = dq_chat_detect(glm, strlen(glm));
  assert_int_equal(c.kind, DQ_CHAT_NONE);
  c = dq_chat_detect(tmpl_zephyr, strlen(tmpl_zephyr));
  assert_int_equal(c.kind, DQ_CHAT_ZEPHYR);
}

/* A ChatML template that writes a fixed system turn when the conversation
 * opens without one (as Qwen2, Qwen2.5 and SmolLM2 do, each with its own
 * text): the text is taken from the template's literal, and written where
 * the template writes it. The templates here are made up in that shape; the
 * expected texts are jinja2 3.1's rendering of them (add_generation_prompt
 * true). */
static void check_default(const char *tmpl, const dq_chat_msg *m, size_t n, const char *want)
{
  check_msgs(tmpl, DQ_CHAT_CHATML, m, n, want);
}

static void test_engine_chat__chatml_default_system(void **state)
{
  (void)state;
  const char *fixed =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
    "You are a careful reader.\\tAnswer from the notes {as given} and keep \\\\ as written.<|im_end|>\\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const char *sys = "<|im_start|>system\nYou are a careful reader.\tAnswer from the notes {as given} and keep \\ as "
                    "written.<|im_end|>\n";
  dq_chat_msg one[1] = {{"user", "Hi"}};
  char want[512];
  snprintf(want, sizeof want, "%s<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", sys);
  check_default(fixed, one, 1, want);
  dq_chat_msg three[3] = {{"user", "Hi"}, {"assistant", "Yo"}, {"user", "Bye"}};
  snprintf(want, sizeof want, "%s<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n"
           "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", sys);
  check_default(fixed, three, 3, want);
  /* the caller's system message replaces it */
  dq_chat_msg own[2] = {{"system", "Be brief."}, {"user", "Hi"}};
  check_default(fixed, own, 2,
                "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  /* in double quotes */
  const char *dq = "{{- \"<|im_start|>system\\nDouble-quoted default.<|im_end|>\\n\" }}{% for message in messages %}"
                   "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
                   "{% endfor %}";
  check_default(dq, one, 1, "<|im_start|>system\nDouble-quoted default.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                "<|im_start|>assistant\n");

  /* A system turn built from the messages is no default. */
  const char *built = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] "
                      "+ '<|im_end|>\\n' }}{%- endif %}{% for message in messages %}{{'<|im_start|>' + message['role']"
                      " + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
  assert_string_equal(dq_chat_detect(built, strlen(built)).default_system, "");
  check_default(built, one, 1, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  /* Nor one with a Jinja expression inside, nor one too long to keep. */
  const char *expr = "{{ '<|im_start|>system\\nToday is {{ date }}.<|im_end|>\\n' }}";
  assert_string_equal(dq_chat_detect(expr, strlen(expr)).default_system, "");
  char big[1024];
  snprintf(big, sizeof big, "{{ '<|im_start|>system\\n%0*d<|im_end|>\\n' }}", DQ_CHAT_DEFAULT_SYSTEM_MAX, 7);
  assert_string_equal(dq_chat_detect(big, strlen(big)).default_system, "");
  snprintf(big, sizeof big, "{{ '<|im_start|>system\\n%0*d<|im_end|>\\n' }}", DQ_CHAT_DEFAULT_SYSTEM_MAX - 1, 7);
  assert_int_equal(strlen(dq_chat_detect(big, strlen(big)).default_system), DQ_CHAT_DEFAULT_SYSTEM_MAX - 1);
  /* A template named by the user has none, nor do Phi-4's and SmolLM3's formats. */
  dq_chat c;
  assert_int_equal(dq_chat_by_name(&c, "chatml"), 0);
  assert_string_equal(c.default_system, "");
  const char *phi4 = "{{ '<|im_start|>system<|im_sep|>' }}{{ '<|im_start|>system\\nX<|im_end|>' }}";
  assert_string_equal(dq_chat_detect(phi4, strlen(phi4)).default_system, "");
}

/* Many openings of a system literal and no end: the scan stays short (each
 * looks at most 2 * DQ_CHAT_DEFAULT_SYSTEM_MAX bytes on), and finds none. */
static void test_engine_chat__default_system_hostile(void **state)
{
  (void)state;
  const char unit[] = "'<|im_start|>system\\n";
  const size_t reps = 200000, un = sizeof unit - 1;
  char *t = dq_malloc(reps * un + 1);
  assert_non_null(t);
  for (size_t i = 0; i < reps; i++) memcpy(t + i * un, unit, un);
  t[reps * un] = 0;
  dq_chat c = dq_chat_detect(t, reps * un);
  assert_int_equal(c.kind, DQ_CHAT_CHATML);
  assert_string_equal(c.default_system, "");
  dq_free(t);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_chat__official_formats),
    cmocka_unit_test(test_engine_chat__by_name),
    cmocka_unit_test(test_engine_chat__qwen3_answers_without_thinking),
    cmocka_unit_test(test_engine_chat__templates_that_think),
    cmocka_unit_test(test_engine_chat__generation_prompt_and_errors),
    cmocka_unit_test(test_engine_chat__select_and_tokenize),
    cmocka_unit_test(test_engine_chat__smollm3_header),
    cmocka_unit_test(test_engine_chat__llama3_dated),
    cmocka_unit_test(test_engine_chat__phi4),
    cmocka_unit_test(test_engine_chat__mistral_own),
    cmocka_unit_test(test_engine_chat__mistral_v1),
    cmocka_unit_test(test_engine_chat__mistral_v01_space_after_eos),
    cmocka_unit_test(test_engine_chat__glm_edge_is_not_zephyr),
    cmocka_unit_test(test_engine_chat__chatml_default_system),
    cmocka_unit_test(test_engine_chat__default_system_hostile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
