/* Chat templates: recognition by substring and hand-written formatters (see
 * chat.h for the formats). The expected strings in tests come from the
 * models' official templates (Meta Llama 2/3/3.1/3.2, Mistral v0.2/v0.3,
 * Nemo, Small 3, Qwen ChatML, TinyLlama/Zephyr, Gemma 3, SmolLM3, Phi-4,
 * Phi-4-mini) rendered on a fixed conversation, the same check llama.cpp's
 * test-chat-template does. */
#include "engine/chat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

static int has(const char *s, size_t n, const char *needle)
{
  return memmem(s, n, needle, strlen(needle)) != NULL;
}

/* The text of a fixed ChatML system turn in template t (a Jinja string
 * literal '<|im_start|>system\n...<|im_end|>', written when a conversation
 * opens without a system message), unescaped into out; "" when there is
 * none. A body with a quote, '+' or a Jinja delimiter ("{{", "{%", ...) is
 * built from the messages, not fixed, and is passed over. (Qwen2.5 writes it
 * also for an empty conversation, Qwen2 and SmolLM2 only before a first
 * message: docq does as Qwen2.5.) */
static void chatml_default_system(const char *t, size_t len, char *out, size_t cap)
{
  static const char head[] = "<|im_start|>system\\n", tail[] = "<|im_end|>";
  const size_t hn = sizeof head - 1, tn = sizeof tail - 1;
  out[0] = 0;
  for (size_t i = 0; i + hn <= len; i++) {
    if (memcmp(t + i, head, hn) != 0) continue;
    /* the body is looked for within 2 * cap bytes (escapes at most halve
     * it), which also keeps a hostile template's scan linear */
    size_t a = i + hn, e = a;
    while (e + tn <= len && e - a < 2 * cap && memcmp(t + e, tail, tn) != 0) e++;
    if (e + tn > len || e - a >= 2 * cap) continue;
    if (a == e || (i > 0 && t[i - 1] != '\'' && t[i - 1] != '"')) continue;
    size_t o = 0;
    int fixed = 1;
    for (size_t k = a; k < e && fixed; k++) {
      char ch = t[k];
      char nx = k + 1 < e ? t[k + 1] : 0;
      if (ch == '\'' || ch == '"' || ch == '+' || (ch == '{' && (nx == '{' || nx == '%')) ||
          ((ch == '%' || ch == '}') && nx == '}'))
        fixed = 0; /* the literal ends, or a Jinja block opens or closes: not a fixed text */
      else if (ch == '\\') { /* the escapes a template's literal uses */
        k++;
        ch = nx == 'n' ? '\n' : nx == 't' ? '\t' : nx == '\\' ? '\\' : 0;
        if (!ch) fixed = 0;
      }
      if (fixed && o + 1 < cap) out[o++] = ch;
      else if (fixed) fixed = 0; /* too long to be a default worth guessing at */
    }
    if (fixed) {
      out[o] = 0;
      return;
    }
  }
  out[0] = 0;
}

dq_chat dq_chat_detect(const char *tmpl, size_t len)
{
  dq_chat c = {DQ_CHAT_NONE, 0, ""};
  if (!tmpl) return c;
  if (has(tmpl, len, "<|im_start|>")) {
    c.kind = DQ_CHAT_CHATML;
    if (has(tmpl, len, "<|im_sep|>")) c.flags |= DQ_CHAT_F_SEP; /* Phi-4 */
    else if (has(tmpl, len, "enable_thinking")) { /* Qwen3's switch (a template may also open a block without it) */
      c.flags |= DQ_CHAT_F_NOTHINK;
      if (has(tmpl, len, "Reasoning Mode")) c.flags |= DQ_CHAT_F_NOTHINK_1; /* SmolLM3 */
    } else if (has(tmpl, len, "<|im_start|>assistant\\n<think>")) {
      c.flags |= DQ_CHAT_F_THINK; /* QwQ, Qwen3 thinking */
    }
    if (!(c.flags & (DQ_CHAT_F_SEP | DQ_CHAT_F_NOTHINK_1)))
      chatml_default_system(tmpl, len, c.default_system, sizeof c.default_system);
  } else if (has(tmpl, len, "<\uff5cUser\uff5c>") && has(tmpl, len, "<\uff5cAssistant\uff5c>")) {
    c.kind = DQ_CHAT_DEEPSEEK; /* full-width bars, as DeepSeek writes them */
    if (has(tmpl, len, "<\uff5cAssistant\uff5c><think>")) c.flags |= DQ_CHAT_F_THINK;
  } else if (has(tmpl, len, "<|start_header_id|>")) {
    c.kind = DQ_CHAT_LLAMA3;
    if (has(tmpl, len, "Cutting Knowledge Date")) { /* Llama 3.1 and later */
      c.flags |= DQ_CHAT_F_DATE;
      if (has(tmpl, len, "strftime_now")) c.flags |= DQ_CHAT_F_TODAY; /* Llama 3.2, 3.3 */
    }
  }
  else if (has(tmpl, len, "<start_of_turn>")) c.kind = DQ_CHAT_GEMMA;
  else if (has(tmpl, len, "[INST]") && has(tmpl, len, "[SYSTEM_PROMPT]")) {
    /* Mistral's v7 (Small 3, Large 2411); tekken's without spaces around texts */
    c.kind = DQ_CHAT_MISTRAL;
    c.flags |= DQ_CHAT_F_V7;
    if (!has(tmpl, len, "[INST] '") && !has(tmpl, len, "[INST] \"")) c.flags |= DQ_CHAT_F_TEKKEN;
  } else if (has(tmpl, len, "[INST]") &&
             (has(tmpl, len, "' [INST] ' + system_message") ||
              (has(tmpl, len, "[AVAILABLE_TOOLS]") && has(tmpl, len, " [INST]")))) {
    c.kind = DQ_CHAT_MISTRAL; /* Mistral's v1 (mistral-common), told apart as llama.cpp does */
    c.flags |= DQ_CHAT_F_V1;
  } else if (has(tmpl, len, "[INST]") && has(tmpl, len, "[AVAILABLE_TOOLS]")) {
    /* Mistral's v3 (7B v0.3) and v3-tekken (Nemo), told apart as llama.cpp does */
    c.kind = DQ_CHAT_MISTRAL;
    c.flags |= DQ_CHAT_F_V3;
    if (has(tmpl, len, "\"[INST]\"") || has(tmpl, len, "'[INST]'")) c.flags |= DQ_CHAT_F_TEKKEN;
  } else if (has(tmpl, len, "[INST]")) {
    /* The variants, told apart as llama.cpp does. */
    if (has(tmpl, len, "<<SYS>>")) c.flags |= DQ_CHAT_F_SYS;
    if (has(tmpl, len, "' ' + eos_token")) c.flags |= DQ_CHAT_F_SPACE;
    if (has(tmpl, len, "eos_token + ' '")) c.flags |= DQ_CHAT_F_EOS_SPACE;
    if (has(tmpl, len, "bos_token + '[INST]")) c.flags |= DQ_CHAT_F_BOS_HIST;
    if (has(tmpl, len, "content.strip()")) c.flags |= DQ_CHAT_F_STRIP;
    c.kind = c.flags & DQ_CHAT_F_SYS ? DQ_CHAT_LLAMA2 : DQ_CHAT_MISTRAL;
  } else if (has(tmpl, len, "<|end|>") && has(tmpl, len, "|>' + message['content']")) {
    c.kind = DQ_CHAT_ZEPHYR; /* Phi-4-mini: '<|' + role + '|>' + text + '<|end|>', no newlines */
    c.flags |= DQ_CHAT_F_END | DQ_CHAT_F_TIGHT;
  } else if (has(tmpl, len, "<|user|>") && has(tmpl, len, "<|end|>")) {
    c.kind = DQ_CHAT_ZEPHYR;
    c.flags |= DQ_CHAT_F_END; /* Phi-3 ends turns with <|end|> */
  } else if (has(tmpl, len, "<|user|>") &&
             (has(tmpl, len, "eos_token") || has(tmpl, len, "</s>") || has(tmpl, len, "<|endoftext|>"))) {
    c.kind = DQ_CHAT_ZEPHYR; /* with no end of turn at all (GLM-Edge) it is another format */
  }
  return c;
}

static const struct { const char *name; dq_chat_kind kind; unsigned flags; } k_names[] = {
  {"chatml", DQ_CHAT_CHATML, 0},
  {"qwen3", DQ_CHAT_CHATML, DQ_CHAT_F_NOTHINK},
  {"smollm3", DQ_CHAT_CHATML, DQ_CHAT_F_NOTHINK | DQ_CHAT_F_NOTHINK_1},
  {"chatml-think", DQ_CHAT_CHATML, DQ_CHAT_F_THINK},
  {"llama3", DQ_CHAT_LLAMA3, 0},
  {"llama3.1", DQ_CHAT_LLAMA3, DQ_CHAT_F_DATE},
  {"llama3.2", DQ_CHAT_LLAMA3, DQ_CHAT_F_DATE | DQ_CHAT_F_TODAY},
  {"llama2", DQ_CHAT_LLAMA2, DQ_CHAT_F_SYS | DQ_CHAT_F_SPACE | DQ_CHAT_F_BOS_HIST | DQ_CHAT_F_STRIP},
  {"mistral", DQ_CHAT_MISTRAL, 0},
  {"mistral-v1", DQ_CHAT_MISTRAL, DQ_CHAT_F_V1},
  {"mistral-v3", DQ_CHAT_MISTRAL, DQ_CHAT_F_V3},
  {"mistral-v3-tekken", DQ_CHAT_MISTRAL, DQ_CHAT_F_V3 | DQ_CHAT_F_TEKKEN},
  {"mistral-v7", DQ_CHAT_MISTRAL, DQ_CHAT_F_V7},
  {"mistral-v7-tekken", DQ_CHAT_MISTRAL, DQ_CHAT_F_V7 | DQ_CHAT_F_TEKKEN},
  {"zephyr", DQ_CHAT_ZEPHYR, 0},
  {"phi3", DQ_CHAT_ZEPHYR, DQ_CHAT_F_END},
  {"phi4-mini", DQ_CHAT_ZEPHYR, DQ_CHAT_F_END | DQ_CHAT_F_TIGHT},
  {"phi4", DQ_CHAT_CHATML, DQ_CHAT_F_SEP},
  {"deepseek", DQ_CHAT_DEEPSEEK, 0},
  {"deepseek-r1", DQ_CHAT_DEEPSEEK, DQ_CHAT_F_THINK},
  {"gemma", DQ_CHAT_GEMMA, 0},
  {"plain", DQ_CHAT_PLAIN, 0},
};

const char *dq_chat_names(void)
{
  return "chatml, qwen3, smollm3, chatml-think, llama3, llama3.1, llama3.2, llama2, mistral, mistral-v1, mistral-v3, "
         "mistral-v3-tekken, mistral-v7, mistral-v7-tekken, zephyr, phi3, phi4-mini, phi4, deepseek, deepseek-r1, gemma, "
         "plain";
}

int dq_chat_by_name(dq_chat *out, const char *name)
{
  DQ_ASSERT_ARG(out && name);
  for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
    if (strcmp(k_names[i].name, name) == 0) {
      *out = (dq_chat){.kind = k_names[i].kind, .flags = k_names[i].flags};
      return 0;
    }
  return dq_err_set(DOCQ_ENOTFOUND, "chat template '%s' unknown (%s)", name, dq_chat_names());
}

const char *dq_chat_name(dq_chat_kind kind)
{
  static const char *names[] = {"none", "chatml", "llama3", "llama2", "mistral", "zephyr", "plain", "deepseek",
                                "gemma"};
  return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "none";
}

const char *dq_chat_label(const dq_chat *c)
{
  if (c->kind == DQ_CHAT_ZEPHYR && (c->flags & DQ_CHAT_F_END)) return c->flags & DQ_CHAT_F_TIGHT ? "phi4-mini" : "phi3";
  if (c->kind == DQ_CHAT_CHATML && (c->flags & DQ_CHAT_F_SEP)) return "phi4";
  if (c->kind == DQ_CHAT_CHATML && (c->flags & DQ_CHAT_F_NOTHINK))
    return c->flags & DQ_CHAT_F_NOTHINK_1 ? "smollm3" : "qwen3";
  if (c->kind == DQ_CHAT_CHATML && (c->flags & DQ_CHAT_F_THINK)) return "chatml-think";
  if (c->kind == DQ_CHAT_DEEPSEEK && (c->flags & DQ_CHAT_F_THINK)) return "deepseek-r1";
  if (c->kind == DQ_CHAT_MISTRAL && (c->flags & DQ_CHAT_F_V1)) return "mistral-v1";
  if (c->kind == DQ_CHAT_MISTRAL && (c->flags & (DQ_CHAT_F_V3 | DQ_CHAT_F_V7))) {
    const int v7 = (c->flags & DQ_CHAT_F_V7) != 0, tekken = (c->flags & DQ_CHAT_F_TEKKEN) != 0;
    return v7 ? (tekken ? "mistral-v7-tekken" : "mistral-v7") : (tekken ? "mistral-v3-tekken" : "mistral-v3");
  }
  if (c->kind == DQ_CHAT_LLAMA3 && (c->flags & DQ_CHAT_F_DATE)) return c->flags & DQ_CHAT_F_TODAY ? "llama3.2" : "llama3.1";
  return dq_chat_name(c->kind);
}

int dq_chat_select(dq_chat *out, const dq_gguf *g, const dq_tok *tok, const char *override_name)
{
  DQ_ASSERT_ARG(out);
  if (override_name && *override_name) return dq_chat_by_name(out, override_name);
  *out = (dq_chat){DQ_CHAT_NONE, 0, ""};
  if (g && dq_gguf_find(g, "tokenizer.chat_template") >= 0) {
    const char *s;
    size_t n;
    if (dq_gguf_get_str(g, "tokenizer.chat_template", &s, &n) == 0) *out = dq_chat_detect(s, n);
    if (out->kind == DQ_CHAT_NONE) dq_log(DOCQ_LOG_INFO, "%s: chat template not recognized: using a fallback", g->path);
  }
  if (out->kind == DQ_CHAT_NONE)
    out->kind = tok && dq_tok_find(tok, "<|im_start|>", 12) >= 0 ? DQ_CHAT_CHATML : DQ_CHAT_PLAIN;
  dq_err_clear();
  return 0;
}

/* ---- formatting ------------------------------------------------------------------ */

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Append s, trimmed of surrounding whitespace when trim is set. */
static void put_text(dq_buf *b, const char *s, int trim)
{
  size_t n = strlen(s);
  if (trim) {
    while (n && is_ws(*s)) { s++; n--; }
    while (n && is_ws(s[n - 1])) n--;
  }
  dq_buf_put(b, s, n);
}

static void fmt_inst(dq_buf *b, unsigned f, const dq_chat_msg *m, size_t n, const char *bos, const char *eos)
{
  int strip = (f & DQ_CHAT_F_STRIP) != 0, space = (f & DQ_CHAT_F_SPACE) != 0;
  int inside = 1; /* the first [INST] follows the BOS the tokenizer adds */
  dq_buf_puts(b, "[INST] ");
  for (size_t i = 0; i < n; i++) {
    if (!inside) {
      inside = 1;
      if (f & DQ_CHAT_F_BOS_HIST) dq_buf_puts(b, bos);
      dq_buf_puts(b, "[INST] ");
    }
    if (strcmp(m[i].role, "system") == 0) {
      if (f & DQ_CHAT_F_SYS) { dq_buf_puts(b, "<<SYS>>\n"); put_text(b, m[i].content, strip); dq_buf_puts(b, "\n<</SYS>>\n\n"); }
      else { put_text(b, m[i].content, strip); dq_buf_puts(b, "\n"); }
    } else if (strcmp(m[i].role, "assistant") == 0) {
      if (space) dq_buf_puts(b, " ");
      put_text(b, m[i].content, strip);
      if (space) dq_buf_puts(b, " ");
      dq_buf_puts(b, eos);
      if (f & DQ_CHAT_F_EOS_SPACE) dq_buf_puts(b, " ");
      inside = 0;
    } else {
      put_text(b, m[i].content, strip);
      dq_buf_puts(b, " [/INST]");
    }
  }
}

/* Append s with every occurrence of `cut` removed. */
static void put_without(dq_buf *b, const char *s, size_t n, const char *cut)
{
  const size_t k = strlen(cut);
  for (const char *e; (e = memmem(s, n, cut, k)) != NULL; n -= (size_t)(e - s) + k, s = e + k)
    dq_buf_put(b, s, (size_t)(e - s));
  dq_buf_put(b, s, n);
}

/* Today as strftime's "%d %B %Y" in English ("05 March 2026"; abbr: "%d %b
 * %Y", "05 Mar 2026"): the local date, or SOURCE_DATE_EPOCH's in UTC when
 * that is set (reproducible prompts, and tests). */
static void put_today(dq_buf *b, int abbr)
{
  static const char *month[12] = {"January", "February", "March",     "April",   "May",      "June",
                                  "July",    "August",   "September", "October", "November", "December"};
  const char *fixed = getenv("SOURCE_DATE_EPOCH");
  time_t t = fixed && *fixed ? (time_t)strtoll(fixed, NULL, 10) : time(NULL);
  struct tm tm;
  if (!(fixed && *fixed ? gmtime_r(&t, &tm) : localtime_r(&t, &tm))) memset(&tm, 0, sizeof tm);
  dq_buf_printf(b, "%02d %.*s %d", tm.tm_mday, abbr ? 3 : 9, month[tm.tm_mon % 12], tm.tm_year + 1900);
}

/* SmolLM3's template with enable_thinking false: the system turn is always
 * written, as a metadata header and the first message's text (if it is a
 * system message) as custom instructions, "/no_think" and "/think" taken
 * out, or a default; that turn is not closed unless tools follow (none here).
 * "/system_override" in the system text writes it bare instead. Later system
 * messages are dropped, tool results go as user turns, and every answer
 * opens with the empty think block. Unlike the template, a "/think" in the
 * system text does not switch reasoning on: docq answers without it. */
static void fmt_smollm3(dq_buf *b, const dq_chat_msg *m, size_t n, int gen)
{
  dq_buf ci = {0}; /* the custom instructions */
  const int has_sys = n && !strcmp(m[0].role, "system");
  if (has_sys) {
    dq_buf t = {0};
    put_without(&t, m[0].content, strlen(m[0].content), "/no_think");
    put_without(&ci, t.p ? t.p : "", t.len, "/think");
    dq_buf_free(&t);
    while (ci.len && is_ws(ci.p[ci.len - 1])) ci.len--;
  }
  dq_buf_puts(b, "<|im_start|>system\n");
  if (has_sys && strstr(m[0].content, "/system_override")) {
    const size_t start = b->len;
    put_without(b, ci.p ? ci.p : "", ci.len, "/system_override");
    while (b->len > start && is_ws(b->p[b->len - 1])) b->len--;
    dq_buf_puts(b, "<|im_end|>\n");
  } else {
    dq_buf_puts(b, "## Metadata\n\nKnowledge Cutoff Date: June 2025\nToday Date: ");
    put_today(b, 0);
    dq_buf_puts(b, "\nReasoning Mode: /no_think\n\n## Custom Instructions\n\n");
    if (ci.len) dq_buf_put(b, ci.p, ci.len);
    else dq_buf_puts(b, "You are a helpful AI assistant named SmolLM, trained by Hugging Face.");
    dq_buf_puts(b, "\n\n");
  }
  b->oom |= ci.oom;
  dq_buf_free(&ci);
  for (size_t i = 0; i < n; i++) {
    const char *r = m[i].role, *t = m[i].content;
    if (!strcmp(r, "user") || !strcmp(r, "tool")) dq_buf_printf(b, "<|im_start|>user\n%s<|im_end|>\n", t);
    else if (!strcmp(r, "assistant")) {
      while (*t == '\n') t++;
      dq_buf_printf(b, "<|im_start|>assistant\n<think>\n\n</think>\n%s<|im_end|>\n", t);
    }
  }
  if (gen) dq_buf_puts(b, "<|im_start|>assistant\n<think>\n\n</think>\n");
}

/* Mistral's own templates. v1 (7B v0.2 from mistral-common): " [INST] "
 * turns, the system text opening the first. v3 (7B v0.3; tekken: Nemo, no spaces): the
 * system text goes before the last user text, and only when that is the
 * conversation's last message; v3 trims answers. v7 (Small 3, Large 2411):
 * system texts in [SYSTEM_PROMPT] turns, wherever they stand. Both end
 * answers with EOS and have no generation prompt beyond the [/INST]. */
static void fmt_mistral(dq_buf *b, unsigned f, const dq_chat_msg *m, size_t n, const char *eos)
{
  const char *sp = f & DQ_CHAT_F_TEKKEN ? "" : " ";
  if (f & DQ_CHAT_F_V1) { /* v1: the system text opens the first user turn; later system messages are dropped */
    const char *sys = n && !strcmp(m[0].role, "system") ? m[0].content : NULL;
    int first = 1;
    for (size_t i = 0; i < n; i++) {
      if (!strcmp(m[i].role, "user")) {
        dq_buf_puts(b, " [INST] ");
        if (sys && first) dq_buf_printf(b, "%s\n\n", sys);
        dq_buf_printf(b, "%s [/INST]", m[i].content);
        first = 0;
      } else if (!strcmp(m[i].role, "assistant")) {
        dq_buf_printf(b, " %s%s", m[i].content, eos);
      }
    }
    return;
  }
  if (f & DQ_CHAT_F_V7) {
    for (size_t i = 0; i < n; i++) {
      if (!strcmp(m[i].role, "system")) dq_buf_printf(b, "[SYSTEM_PROMPT]%s%s[/SYSTEM_PROMPT]", sp, m[i].content);
      else if (!strcmp(m[i].role, "user")) dq_buf_printf(b, "[INST]%s%s[/INST]", sp, m[i].content);
      else if (!strcmp(m[i].role, "assistant")) dq_buf_printf(b, "%s%s%s", sp, m[i].content, eos);
    }
    return;
  }
  const char *sys = NULL;
  size_t i = 0;
  if (n && !strcmp(m[0].role, "system")) sys = m[i++].content;
  for (; i < n; i++) {
    if (!strcmp(m[i].role, "user")) {
      dq_buf_printf(b, "[INST]%s", sp);
      if (sys && i == n - 1) dq_buf_printf(b, "%s\n\n", sys);
      dq_buf_printf(b, "%s[/INST]", m[i].content);
    } else if (!strcmp(m[i].role, "assistant")) {
      dq_buf_puts(b, sp);
      put_text(b, m[i].content, !(f & DQ_CHAT_F_TEKKEN));
      dq_buf_puts(b, eos);
    }
  }
}

int dq_chat_format(const dq_chat *c, const dq_chat_msg *msgs, size_t n, int add_generation_prompt,
                   const char *bos, const char *eos, char **out, size_t *len)
{
  DQ_ASSERT_ARG(c && (msgs || n == 0) && out);
  *out = NULL;
  if (len) *len = 0;
  for (size_t i = 0; i < n; i++)
    if (!msgs[i].role || !msgs[i].content) return dq_err_set(DOCQ_EINVAL, "chat: message %zu has no role or content", i);
  if (!bos) bos = "<s>";
  if (!eos) eos = "</s>";
  dq_buf b = {0};
  int gen = add_generation_prompt != 0;
  switch (c->kind) {
  case DQ_CHAT_CHATML:
    if (c->flags & DQ_CHAT_F_SEP) { /* Phi-4: system, user and assistant turns only, no newlines */
      for (size_t i = 0; i < n; i++)
        if (!strcmp(msgs[i].role, "system") || !strcmp(msgs[i].role, "user") || !strcmp(msgs[i].role, "assistant"))
          dq_buf_printf(&b, "<|im_start|>%s<|im_sep|>%s<|im_end|>", msgs[i].role, msgs[i].content);
      if (gen) dq_buf_puts(&b, "<|im_start|>assistant<|im_sep|>");
      break;
    }
    if (c->flags & DQ_CHAT_F_NOTHINK_1) {
      fmt_smollm3(&b, msgs, n, gen);
      break;
    }
    if (c->default_system[0] && (n == 0 || strcmp(msgs[0].role, "system") != 0))
      dq_buf_printf(&b, "<|im_start|>system\n%s<|im_end|>\n", c->default_system); /* the template's own */
    for (size_t i = 0; i < n; i++) dq_buf_printf(&b, "<|im_start|>%s\n%s<|im_end|>\n", msgs[i].role, msgs[i].content);
    if (gen) dq_buf_puts(&b, "<|im_start|>assistant\n");
    /* what Qwen3's template writes for enable_thinking = false */
    if (gen && (c->flags & DQ_CHAT_F_NOTHINK)) dq_buf_puts(&b, "<think>\n\n</think>\n\n");
    if (gen && (c->flags & DQ_CHAT_F_THINK)) dq_buf_puts(&b, "<think>\n");
    break;
  case DQ_CHAT_DEEPSEEK: { /* the system text first, as the template gathers it */
    int first = 1;
    for (size_t i = 0; i < n; i++)
      if (!strcmp(msgs[i].role, "system")) {
        dq_buf_printf(&b, "%s%s", first ? "" : "\n\n", msgs[i].content);
        first = 0;
      }
    for (size_t i = 0; i < n; i++) {
      if (!strcmp(msgs[i].role, "user")) dq_buf_printf(&b, "<\uff5cUser\uff5c>%s", msgs[i].content);
      else if (!strcmp(msgs[i].role, "assistant"))
        dq_buf_printf(&b, "<\uff5cAssistant\uff5c>%s<\uff5cend\u2581of\u2581sentence\uff5c>", msgs[i].content);
    }
    if (gen) dq_buf_puts(&b, c->flags & DQ_CHAT_F_THINK ? "<\uff5cAssistant\uff5c><think>\n" : "<\uff5cAssistant\uff5c>");
    break;
  }
  case DQ_CHAT_LLAMA3: {
    size_t i = 0;
    if (c->flags & DQ_CHAT_F_DATE) { /* the system turn, always, with its dated header */
      dq_buf_puts(&b, "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: ");
      if (c->flags & DQ_CHAT_F_TODAY) put_today(&b, 1);
      else dq_buf_puts(&b, "26 Jul 2024");
      dq_buf_puts(&b, "\n\n");
      if (n && !strcmp(msgs[0].role, "system")) put_text(&b, msgs[i++].content, 1);
      dq_buf_puts(&b, "<|eot_id|>");
    }
    for (; i < n; i++) {
      dq_buf_printf(&b, "<|start_header_id|>%s<|end_header_id|>\n\n", msgs[i].role);
      put_text(&b, msgs[i].content, 1);
      dq_buf_puts(&b, "<|eot_id|>");
    }
    if (gen) dq_buf_puts(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    break;
  }
  case DQ_CHAT_GEMMA: { /* Gemma has no system turn: its template puts a leading system text, and a
                          blank line, at the start of the next turn, and trims only the turns' texts */
    size_t i = 0;
    const char *sys = NULL;
    if (n && !strcmp(msgs[0].role, "system")) sys = msgs[i++].content;
    for (; i < n; i++) {
      const int model = !strcmp(msgs[i].role, "assistant");
      dq_buf_printf(&b, "<start_of_turn>%s\n", model ? "model" : msgs[i].role);
      if (sys) dq_buf_printf(&b, "%s\n\n", sys);
      sys = NULL;
      put_text(&b, msgs[i].content, 1);
      dq_buf_puts(&b, "<end_of_turn>\n");
    }
    if (gen) dq_buf_puts(&b, "<start_of_turn>model\n");
    break;
  }
  case DQ_CHAT_LLAMA2:
  case DQ_CHAT_MISTRAL: /* both end in [/INST]: no separate generation prompt */
    if (c->flags & (DQ_CHAT_F_V1 | DQ_CHAT_F_V3 | DQ_CHAT_F_V7)) fmt_mistral(&b, c->flags, msgs, n, eos);
    else fmt_inst(&b, c->flags, msgs, n, bos, eos);
    break;
  case DQ_CHAT_ZEPHYR: {
    const char *end = c->flags & DQ_CHAT_F_END ? "<|end|>" : eos;
    if (c->flags & DQ_CHAT_F_TIGHT) { /* Phi-4-mini: EOS closes a conversation without a generation prompt */
      for (size_t i = 0; i < n; i++) dq_buf_printf(&b, "<|%s|>%s%s", msgs[i].role, msgs[i].content, end);
      dq_buf_puts(&b, gen ? "<|assistant|>" : eos);
      break;
    }
    for (size_t i = 0; i < n; i++) dq_buf_printf(&b, "<|%s|>\n%s%s\n", msgs[i].role, msgs[i].content, end);
    if (gen) dq_buf_puts(&b, "<|assistant|>\n");
    break;
  }
  case DQ_CHAT_PLAIN:
    for (size_t i = 0; i < n; i++) {
      if (strcmp(msgs[i].role, "system") == 0) dq_buf_printf(&b, "%s\n\n", msgs[i].content);
      else if (strcmp(msgs[i].role, "assistant") == 0) dq_buf_printf(&b, "Answer: %s\n\n", msgs[i].content);
      else dq_buf_printf(&b, "Question: %s\n", msgs[i].content);
    }
    if (gen) dq_buf_puts(&b, "Answer:");
    break;
  default:
    return dq_err_set(DOCQ_EINVAL, "chat: no template chosen");
  }
  if (b.oom) {
    dq_buf_free(&b);
    return dq_err_set(DOCQ_ENOMEM, "chat: out of memory formatting %zu messages", n);
  }
  if (len) *len = b.len;
  *out = dq_buf_detach(&b);
  if (!*out) return DOCQ_ENOMEM;
  return 0;
}

int dq_chat_format_tok(const dq_chat *c, const dq_tok *tok, const dq_chat_msg *msgs, size_t n,
                       int add_generation_prompt, char **out, size_t *len)
{
  DQ_ASSERT_ARG(tok);
  char bos[64] = "", eos[64] = "";
  size_t l;
  const char *s;
  if ((s = dq_tok_text(tok, dq_tok_specials(tok)->bos, &l)) && l < sizeof bos) memcpy(bos, s, l), bos[l] = 0;
  if ((s = dq_tok_text(tok, dq_tok_specials(tok)->eos, &l)) && l < sizeof eos) memcpy(eos, s, l), eos[l] = 0;
  return dq_chat_format(c, msgs, n, add_generation_prompt, bos, eos, out, len);
}
