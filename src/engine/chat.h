/* Chat templates without a Jinja engine: the common formats are recognized
 * from distinctive substrings of the model's tokenizer.chat_template and
 * written by hand.
 *
 *   template     recognized by                   turn format (BOS not included)
 *   chatml       "<|im_start|>" (Qwen, Hermes)    <|im_start|>ROLE\nTEXT<|im_end|>\n
 *   qwen3        chatml and "enable_thinking"     chatml; the answer opens with an empty <think>\n\n</think>\n\n
 *   smollm3      chatml and "Reasoning Mode"      <|im_start|>system\n## Metadata ... Today Date: D Month Y\nReasoning
 *                                                Mode: /no_think\n\n## Custom Instructions\n\nSYS\n\n (left open),
 *                                                then chatml; answers open with <think>\n\n</think>\n
 *   chatml-think chatml opening "<think>\n"       chatml; the answer opens with <think>\n (QwQ, Qwen3 thinking)
 *   deepseek     "<｜User｜>" and "<｜Assistant｜>"   SYS<｜User｜>TEXT<｜Assistant｜>ANSWER<｜end▁of▁sentence｜>
 *   deepseek-r1  the same, opening "<think>\n"     ... <｜Assistant｜><think>\n (DeepSeek-R1 distills)
 *   llama3       "<|start_header_id|>"            <|start_header_id|>ROLE<|end_header_id|>\n\nTRIM(TEXT)<|eot_id|>
 *   llama3.1     llama3, "Cutting Knowledge Date"  llama3, the system turn always, opening "Cutting Knowledge Date:
 *                                                December 2023\nToday Date: 26 Jul 2024\n\n"
 *   llama3.2     llama3.1 and "strftime_now"      the same with today's date ("05 Mar 2026")
 *   llama2       "[INST]" and "<<SYS>>"           [INST] <<SYS>>\nSYS\n<</SYS>>\n\nUSER [/INST] ANSWER </s><s>[INST] ...
 *   mistral      "[INST]" without "<<SYS>>"       [INST] SYS\nUSER [/INST]ANSWER</s>[INST] ... (a template
 *                                                writing "eos_token + ' '", Mistral 7B v0.1: "</s> [INST]")
 *   mistral-v1   "[INST]", "' [INST] ' + system_message" (or " [INST]" and "[AVAILABLE_TOOLS]")
 *                                                 [INST] SYS\n\nUSER [/INST] ANSWER</s> [INST] USER [/INST]
 *                                                (Mistral 7B v0.2 from mistral-common: a space before each [INST])
 *   mistral-v3   "[INST]", "[AVAILABLE_TOOLS]"    [INST] USER[/INST] TRIM(ANSWER)</s>[INST] SYS\n\nLAST USER[/INST]
 *   mistral-v3-tekken  the same, "[INST]" quoted  [INST]USER[/INST]ANSWER</s>[INST]SYS\n\nLAST USER[/INST]
 *   mistral-v7   "[INST]", "[SYSTEM_PROMPT]"      [SYSTEM_PROMPT] SYS[/SYSTEM_PROMPT][INST] USER[/INST] ANSWER</s>
 *   mistral-v7-tekken  the same without "[INST] '"  [SYSTEM_PROMPT]SYS[/SYSTEM_PROMPT][INST]USER[/INST]ANSWER</s>
 *   zephyr       "<|user|>" and an end of turn     <|ROLE|>\nTEXT</s>\n
 *                (eos_token, "</s>", "<|endoftext|>"; TinyLlama, Zephyr)
 *   phi3         "<|user|>" and "<|end|>"         <|ROLE|>\nTEXT<|end|>\n, the system turn too, as llama.cpp
 *                                                writes it: the Phi-3-mini (June 2024) and Phi-3-medium
 *                                                templates drop system messages, but docq's answer
 *                                                instructions are one, so they are kept
 *   phi4-mini    "<|end|>", "|>' + message['content']"  <|ROLE|>TEXT<|end|> (no newlines)
 *   phi4         chatml and "<|im_sep|>"          <|im_start|>ROLE<|im_sep|>TEXT<|im_end|> (no newlines)
 *   plain        (fallback)                       SYS\n\nQuestion: USER\nAnswer: ANSWER\n\n
 *
 * A template with "<|user|>" and no end of turn (GLM-Edge: "<|ROLE|>\nTEXT"
 * with nothing after) is not recognized: it falls back as below.
 * The [INST] family has variants that llama.cpp also tells apart by
 * substrings of the template (see dq_chat_flags). Qwen3's hybrid templates
 * think before answering unless enable_thinking is false, when they open the
 * answer with an empty think block: docq takes that mode, since its answers
 * come from the context given and reasoning at CPU speed costs minutes.
 * The output starts after
 * BOS: tokenize it with add_special = 1 (adds BOS) and parse_special = 1 (so
 * "<|im_start|>" etc. become their tokens). EOS/BOS text inside the prompt
 * ("</s>", "<s>") comes from the vocabulary. A ChatML template that writes
 * a fixed system turn when the conversation opens without one (Qwen2's
 * "You are a helpful assistant.", Qwen2.5's "You are Qwen, created by
 * Alibaba Cloud. ...", SmolLM2's) gets it here too: dq_chat_detect takes the
 * text from the template's string literal '<|im_start|>system\n...<|im_end|>'
 * (one without expressions, quotes or '+', its \n escapes undone; at most
 * DQ_CHAT_DEFAULT_SYSTEM_MAX - 1 bytes). Other families' defaults are not
 * added, except SmolLM3's and Llama 3.1+'s system turns, part of every
 * prompt (with today's date in it: SOURCE_DATE_EPOCH, when set, fixes it).
 *
 * Selection (dq_chat_select): a name given by the user wins; else the
 * template text; else ChatML when the vocabulary has an <|im_start|> token;
 * else plain. Nothing here keeps state: thread-safe. */
#ifndef DQ_ENGINE_CHAT_H
#define DQ_ENGINE_CHAT_H

#include <stddef.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"

typedef enum dq_chat_kind {
  DQ_CHAT_NONE = 0, /* not recognized */
  DQ_CHAT_CHATML = 1,
  DQ_CHAT_LLAMA3 = 2,
  DQ_CHAT_LLAMA2 = 3,
  DQ_CHAT_MISTRAL = 4,
  DQ_CHAT_ZEPHYR = 5,
  DQ_CHAT_PLAIN = 6,
  DQ_CHAT_DEEPSEEK = 7,
  DQ_CHAT_GEMMA = 8 /* <start_of_turn>user / model; the system text opens the first user turn */
} dq_chat_kind;

/* Variants of the [INST] family (as in llama.cpp's llama2 handling). */
enum {
  DQ_CHAT_F_SYS = 1,      /* system message in <<SYS>> ... <</SYS>> (else "SYS\n" before the first user text) */
  DQ_CHAT_F_SPACE = 2,    /* " ANSWER " around an assistant turn */
  DQ_CHAT_F_BOS_HIST = 4, /* "<s>" before each later [INST] */
  DQ_CHAT_F_STRIP = 8,    /* trim whitespace around message texts */
  DQ_CHAT_F_END = 16,     /* zephyr shape ending turns with <|end|> (Phi-3) instead of EOS */
  DQ_CHAT_F_NOTHINK = 32, /* chatml whose generation prompt closes an empty <think> block (Qwen3) */
  DQ_CHAT_F_THINK = 64,   /* chatml or deepseek whose generation prompt opens a <think> block: the
                             generated text starts inside it (engine/think.h separates it) */
  DQ_CHAT_F_NOTHINK_1 = 128, /* with DQ_CHAT_F_NOTHINK: the empty block ends in one newline (SmolLM3) */
  DQ_CHAT_F_DATE = 256,       /* llama3 whose system turn is always written and opens with "Cutting
                                 Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" (3.1) */
  DQ_CHAT_F_TODAY = 512,      /* with DQ_CHAT_F_DATE: today's date there, "05 Mar 2026" (3.2, 3.3) */
  DQ_CHAT_F_SEP = 1024,       /* chatml as <|im_start|>ROLE<|im_sep|>TEXT<|im_end|>, no newlines (Phi-4) */
  DQ_CHAT_F_TIGHT = 2048,     /* zephyr's shape without newlines, EOS closing a conversation that asks
                                 for no answer (Phi-4-mini) */
  DQ_CHAT_F_V3 = 4096,        /* mistral's v3: the system text before the last user text (7B v0.3) */
  DQ_CHAT_F_V7 = 8192,        /* mistral's v7: [SYSTEM_PROMPT] turns (Small 3, Large 2411) */
  DQ_CHAT_F_TEKKEN = 16384,   /* with V3 / V7: no spaces after [INST] and before answers (Nemo, Small 3) */
  DQ_CHAT_F_V1 = 32768,       /* mistral's v1: " [INST] ", the system text in the first user turn after
                                 "\n\n", " ANSWER</s>" (7B v0.2 from mistral-common) */
  DQ_CHAT_F_EOS_SPACE = 65536 /* [INST] family: a space after each answer's EOS (7B v0.1) */
};

#define DQ_CHAT_DEFAULT_SYSTEM_MAX 256

typedef struct dq_chat {
  dq_chat_kind kind;
  unsigned flags; /* DQ_CHAT_F_* for llama2 / mistral, zephyr, chatml */
  /* chatml: the system text the file's template writes when a conversation
   * opens without one (Qwen2 and 2.5, SmolLM2), or "" */
  char default_system[DQ_CHAT_DEFAULT_SYSTEM_MAX];
} dq_chat;

typedef struct dq_chat_msg {
  const char *role;    /* "system", "user", "assistant" (others: as written where the format has roles) */
  const char *content; /* UTF-8, NUL-terminated */
} dq_chat_msg;

/* Recognize a template text (len bytes, need not be NUL-terminated). kind is
 * DQ_CHAT_NONE when no known format matches. */
dq_chat dq_chat_detect(const char *tmpl, size_t len);

/* A template by name: those of dq_chat_names(); llama2 is Meta's official
 * format (all flags), mistral the [INST] one without flags. DOCQ_ENOTFOUND
 * for others. */
int dq_chat_by_name(dq_chat *out, const char *name);
/* The names dq_chat_by_name takes, comma-separated, for messages. */
const char *dq_chat_names(void);
const char *dq_chat_name(dq_chat_kind kind); /* "none" for unknown */
/* The name dq_chat_by_name takes for c: as dq_chat_name, but "phi3" /
 * "phi4-mini" for zephyr's shape with <|end|>, "qwen3" / "smollm3" /
 * "chatml-think" for chatml without / with thinking, "phi4" for chatml with
 * <|im_sep|>, "llama3.1" / "llama3.2" for llama3 with its dated header,
 * "mistral-v3[-tekken]" / "mistral-v7[-tekken]" for Mistral's own formats,
 * "deepseek-r1" for deepseek with thinking. */
const char *dq_chat_label(const dq_chat *c);

/* Choose the template for a model: override name (may be NULL), else
 * tokenizer.chat_template of `g` (may be NULL), else the fallback described
 * above (`tok` may be NULL: plain). DOCQ_ENOTFOUND for an unknown name. */
int dq_chat_select(dq_chat *out, const dq_gguf *g, const dq_tok *tok, const char *override_name);

/* Write the conversation msgs[0..n) in format `c`, then (when
 * add_generation_prompt is set and the format has one) the opening of the
 * assistant's turn. bos/eos: the vocabulary's BOS/EOS text (NULL: "<s>",
 * "</s>"). *out is dq_malloc'd and NUL-terminated; *len (may be NULL) gets
 * its length. Errors: DOCQ_EINVAL (NULL role/content, kind NONE),
 * DOCQ_ENOMEM. */
int dq_chat_format(const dq_chat *c, const dq_chat_msg *msgs, size_t n, int add_generation_prompt,
                   const char *bos, const char *eos, char **out, size_t *len);

/* dq_chat_format with BOS/EOS text taken from the tokenizer. */
int dq_chat_format_tok(const dq_chat *c, const dq_tok *tok, const dq_chat_msg *msgs, size_t n,
                       int add_generation_prompt, char **out, size_t *len);

#endif
