/* Fuzz target for the tokenizers, two modes chosen by the input:
 *
 *   - input starting with "GGUF": a hostile vocabulary file. It goes through
 *     dq_gguf_from_buffer and dq_tok_load, which must fail cleanly (negative
 *     code, message set) or give a tokenizer; a loaded tokenizer must then
 *     encode a few fixed strings (with and without special-token parsing)
 *     into ids < n_vocab and decode them without error; then the file's
 *     chat template (tokenizer.chat_template, else the fallback) must be
 *     chosen without error and format a conversation that encodes the same
 *     way;
 *   - any other input: text, encoded with every real vocabulary of
 *     shared/vocab (DOCQ_SHARED_DIR; else with small built-in ones). Ids must
 *     be in range, the count must not depend on the buffer capacity, and for
 *     valid UTF-8 SPM (without U+2581, which it reads as a space) and
 *     byte-level BPE must decode back to the input.
 *
 * The seed corpus (tests/fuzz/corpus/vocab/) holds small vocabulary files of
 * each model type, files breaking one validation rule each, files with a
 * chat template of each recognized kind, and tricky texts. Rewrite it with:
 *   gcc -std=c11 -D_GNU_SOURCE -DFUZZ_VOCAB_WRITE_CORPUS -I. -Isrc -Iinclude -Itests \
 *     tests/fuzz/fuzz_vocab.c tests/support/gguf_writer.c src/engine/tok*.c src/engine/chat.c \
 *     src/engine/gguf.c src/engine/mapfile.c src/engine/quant_ref.c src/util/err.c src/util/mem.c \
 *     src/util/log.c -lutf8proc -lm \
 *     -o /tmp/gen_vocab && /tmp/gen_vocab tests/fuzz/corpus/vocab */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/chat.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "support/gguf_writer.h"
#include "util/err.h"
#include "util/mem.h"

#define FUZZ_MAX_TEXT 8192

/* ---- small vocabularies (seeds, and the fallback for text mode) ---------------- */

/* A tokenizer-only GGUF of model type `model` (llama, gpt2, bert) with a
 * few dozen tokens; bad = 1..7 breaks one rule (see the cases below);
 * tmpl: a tokenizer.chat_template (NULL: none). */
static int build_vocab(const char *model, const char *pre, int bad, const char *tmpl, uint8_t **out, size_t *n)
{
  static char bytes[256][8];
  const char *toks[400];
  float scores[400];
  int32_t types[400];
  int nt = 0;
  int spm = strcmp(model, "llama") == 0, wpm = strcmp(model, "bert") == 0;
  toks[nt] = wpm ? "[UNK]" : "<unk>"; types[nt++] = 2;
  toks[nt] = wpm ? "[CLS]" : "<s>"; types[nt++] = 3;
  toks[nt] = wpm ? "[SEP]" : "</s>"; types[nt++] = 3;
  if (spm)
    for (int b = 0; b < 256; b++) { snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b); toks[nt] = bytes[b]; types[nt++] = 6; }
  else
    for (int b = 0x21; b < 0x7F; b++) { bytes[b][0] = (char)b; bytes[b][1] = 0; toks[nt] = bytes[b]; types[nt++] = 1; }
  static const char *words[] = {"\xe2\x96\x81", "\xe2\x96\x81t", "he", "\xe2\x96\x81the", "\xc4\xa0", "\xc4\xa0t", "\xc4\xa0the",
                                "\xe2\x96\x81hello", "lo", "<|im_start|>", "<|im_end|>"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) { toks[nt] = words[i]; types[nt++] = i >= 9 ? 3 : 1; }
  for (int i = 0; i < nt; i++) scores[i] = -(float)i;
  const char *merges[] = {"\xc4\xa0 t", "h e", "\xc4\xa0t he", "l o"};
  dq_gw *w = dq_gw_new();
  if (!w) return DOCQ_ENOMEM;
  int rc = 0;
  uint32_t ntok = (uint32_t)nt;
  if (bad == 5) ntok = (uint32_t)nt - 1; /* scores longer than tokens */
  rc |= dq_gw_add_str(w, "tokenizer.ggml.model", bad == 1 ? "unigram" : model);
  if (pre) rc |= dq_gw_add_str(w, "tokenizer.ggml.pre", pre);
  rc |= dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, ntok);
  rc |= dq_gw_add_arr(w, "tokenizer.ggml.scores", DQ_GGUF_F32, scores, (size_t)nt);
  if (bad == 2) types[7] = 9; /* a token type out of range */
  rc |= dq_gw_add_arr(w, "tokenizer.ggml.token_type", DQ_GGUF_I32, types, ntok);
  rc |= dq_gw_add_u32(w, "tokenizer.ggml.bos_token_id", bad == 3 ? 100000u : 1u);
  rc |= dq_gw_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
  rc |= dq_gw_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
  if (strcmp(model, "gpt2") == 0 && bad != 4) {
    const char *m2[4] = {merges[0], merges[1], merges[2], bad == 6 ? "nospace" : merges[3]};
    rc |= dq_gw_add_arr_str(w, "tokenizer.ggml.merges", m2, 4);
  }
  if (bad == 7) rc |= dq_gw_add_str(w, "tokenizer.ggml.add_bos_token", "yes"); /* wrong type */
  if (tmpl) rc |= dq_gw_add_str(w, "tokenizer.chat_template", tmpl);
  if (rc == 0) rc = dq_gw_write_mem(w, out, n);
  dq_gw_free(w);
  return rc < 0 ? rc : 0;
}

/* ---- checks ------------------------------------------------------------------------ */

static void die(const char *what)
{
  fprintf(stderr, "fuzz_vocab: %s\n", what);
  abort();
}

static int valid_utf8(const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n;) {
    uint8_t c = p[i];
    size_t k;
    uint32_t v;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xC2 && c <= 0xDF) { k = 2; v = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { k = 3; v = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { k = 4; v = c & 0x07; }
    else return 0;
    if (k > n - i) return 0;
    for (size_t j = 1; j < k; j++) {
      if ((p[i + j] & 0xC0) != 0x80) return 0;
      v = v << 6 | (p[i + j] & 0x3F);
    }
    if ((k == 3 && v < 0x800) || (k == 4 && (v < 0x10000 || v > 0x10FFFF)) || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    i += k;
  }
  return 1;
}

/* Encode, check ids and the capacity contract, decode; optionally require a round trip. */
static void exercise(const dq_tok *t, const char *s, size_t n, int parse_special, int want_roundtrip)
{
  size_t need = 0, got = 0;
  if (dq_tok_encode(t, s, n, 0, parse_special, NULL, 0, &need) < 0) {
    if (dq_err_code() != DOCQ_ENOMEM) die("encode failed");
    return;
  }
  int32_t *ids = malloc((need ? need : 1) * sizeof(int32_t));
  if (!ids) return;
  size_t half = need / 2;
  if (dq_tok_encode(t, s, n, 0, parse_special, ids, half, &got) < 0 || got != need) die("count depends on capacity");
  if (dq_tok_encode(t, s, n, 1, parse_special, ids, need, &got) < 0 || got < need) die("add_special lost tokens");
  if (dq_tok_encode(t, s, n, 0, parse_special, ids, need, &got) < 0 || got != need) die("second encode differs");
  for (size_t i = 0; i < need; i++)
    if (ids[i] < 0 || ids[i] >= dq_tok_n_vocab(t)) die("id out of range");
  char *back = NULL;
  size_t blen = 0;
  if (dq_tok_decode(t, ids, need, parse_special, &back, &blen) < 0) die("decode failed");
  if (want_roundtrip && (blen != n || memcmp(back, s, n) != 0)) {
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%02x ", (unsigned char)s[i]);
    fprintf(stderr, "\n");
    for (size_t i = 0; i < blen; i++) fprintf(stderr, "%02x ", (unsigned char)back[i]);
    fprintf(stderr, "\n");
    die("round trip differs");
  }
  dq_free(back);
  free(ids);
}

/* ---- text mode vocabularies ------------------------------------------------------- */

#define MAX_TOKS 8
static dq_tok *g_tok[MAX_TOKS];
static int g_rt[MAX_TOKS]; /* round trip expected for valid UTF-8 */
static size_t g_ntok;
static int g_ready;

static void cleanup(void)
{
  for (size_t i = 0; i < g_ntok; i++) dq_tok_free(g_tok[i]);
}

static void add_tok_from_gguf(dq_gguf *g, int rt)
{
  dq_tok *t = NULL;
  if (dq_tok_load(&t, g) == 0 && g_ntok < MAX_TOKS) { g_rt[g_ntok] = rt; g_tok[g_ntok++] = t; }
  else dq_tok_free(t);
}

static void init_vocabs(void)
{
  g_ready = 1;
  atexit(cleanup);
  const char *dir = getenv("DOCQ_SHARED_DIR");
  static const char *names[] = {"ggml-vocab-llama-spm", "ggml-vocab-gpt2-pre-llama-bpe", "ggml-vocab-gpt2-pre-qwen2",
                                "ggml-vocab-gpt-2", "ggml-vocab-bert-bge"};
  for (size_t i = 0; dir && i < sizeof names / sizeof names[0]; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab/%s.gguf", dir, names[i]);
    dq_gguf *g = NULL;
    if (dq_gguf_open(&g, path) < 0) continue;
    add_tok_from_gguf(g, strstr(names[i], "bert") == NULL);
    dq_gguf_close(g);
  }
  /* small built-in vocabularies: all three kinds without shared/vocab, and
   * always the pre-tokenizers no shared vocabulary names */
  static const struct { const char *model, *pre; int rt; } built[] = {
    {"llama", NULL, 1}, {"gpt2", "llama-bpe", 0}, {"bert", NULL, 0}, {"gpt2", "gpt-4o", 0}, {"gpt2", "tekken", 0}};
  for (size_t i = g_ntok ? 3 : 0; i < sizeof built / sizeof built[0]; i++) {
    uint8_t *buf;
    size_t n;
    dq_gguf *g = NULL;
    if (build_vocab(built[i].model, built[i].pre, 0, NULL, &buf, &n) < 0) continue;
    if (dq_gguf_from_buffer(&g, buf, n) == 0) add_tok_from_gguf(g, built[i].rt);
    dq_gguf_close(g);
    dq_free(buf);
  }
}

/* The file's chat template (or the fallback) formats a conversation with
 * the vocabulary's BOS/EOS texts; the prompt then encodes like any text. */
static void chat(const dq_gguf *g, const dq_tok *t)
{
  dq_chat c;
  if (dq_chat_select(&c, g, t, NULL) < 0) die("no chat template chosen");
  if (c.kind == DQ_CHAT_NONE) return;
  const dq_chat_msg msgs[3] = {{"system", "Answer briefly."}, {"user", "caf\xc3\xa9 <|im_end|> [INST] hi"},
                               {"assistant", "  ok  "}};
  for (int gen = 0; gen < 2; gen++) {
    char *prompt = NULL;
    size_t len = 0;
    if (dq_chat_format_tok(&c, t, msgs, 3 - (size_t)gen, gen, &prompt, &len) < 0) {
      if (dq_err_code() != DOCQ_ENOMEM) die("chat format failed");
      return;
    }
    exercise(t, prompt, len, 1, 0);
    dq_free(prompt);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size >= 4 && memcmp(data, "GGUF", 4) == 0) {
    dq_gguf *g = NULL;
    if (dq_gguf_from_buffer(&g, data, size) < 0) return 0;
    dq_tok *t = NULL;
    int rc = dq_tok_load(&t, g);
    if (rc < 0) {
      if (t || !dq_err_msg()[0]) die("failed load without a message or with a result");
    } else {
      static const char *texts[] = {"Hello world", " the hello <|im_start|>x<|im_end|>", "<s>a</s> \t\n  b",
                                    "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 123456 don't", "\xff\xfe bad \xe2\x96"};
      for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        for (int ps = 0; ps < 2; ps++) exercise(t, texts[i], strlen(texts[i]), ps, 0);
      for (int32_t id = 0; id < dq_tok_n_vocab(t) && id < 4096; id++) {
        char b[16];
        if (dq_tok_piece(t, id, id & 1, b, sizeof b) < 0) die("piece failed");
      }
      chat(g, t);
    }
    dq_tok_free(t);
    dq_gguf_close(g);
    return 0;
  }
  if (!g_ready) init_vocabs();
  if (size > FUZZ_MAX_TEXT) size = FUZZ_MAX_TEXT;
  int utf8 = valid_utf8(data, size);
  /* SPM reads U+2581 as a space, so such text cannot come back as it was. */
  int has_mark = memmem(data, size, "\xe2\x96\x81", 3) != NULL;
  for (size_t i = 0; i < g_ntok; i++) {
    int rt = utf8 && g_rt[i] && !(has_mark && dq_tok_kind(g_tok[i]) == DQ_TOK_SPM);
    exercise(g_tok[i], (const char *)data, size, 0, rt);
    exercise(g_tok[i], (const char *)data, size, 1, 0);
  }
  return 0;
}

#ifdef FUZZ_VOCAB_WRITE_CORPUS
static void save(const char *dir, const char *name, const void *p, size_t n)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) { fprintf(stderr, "%s: write failed\n", path); exit(1); }
}

int main(int argc, char **argv)
{
  if (argc != 2) { fprintf(stderr, "usage: %s DIR\n", argv[0]); return 2; }
  /* short stand-ins for real templates: what dq_chat_detect looks for */
  static const char chatml[] = "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + "
                               "'<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\\n'}}{% endif %}";
  static const char llama3[] = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
                               "\\n\\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}";
  static const char llama2[] = "{% for m in messages %}{% if m['role'] == 'system' %}<<SYS>>\\n{{ m['content'] }}\\n<</SYS>>"
                               "{% endif %}{{ bos_token + '[INST] ' + m['content'].strip() + ' [/INST]' + ' ' + eos_token }}{% endfor %}";
  /* ChatML writing a fixed system turn when none is given (as Qwen2.5's does) */
  static const char chatml_sys[] = "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nA fixed "
                                   "default.\\tTabbed {and braced}.<|im_end|>\\n' }}{% endif %}{% for m in messages %}"
                                   "{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}{% endfor %}";
  static const char zephyr[] = "{% for m in messages %}<|user|>\\n{{ m['content'] }}<|end|>{{ eos_token }}{% endfor %}";
  static const struct { const char *file, *model, *pre; int bad; const char *tmpl; } v[] = {
    {"spm.gguf", "llama", NULL, 0, NULL}, {"bpe_gpt2.gguf", "gpt2", "gpt-2", 0, NULL},
    {"bpe_llama3.gguf", "gpt2", "llama-bpe", 0, NULL}, {"bpe_qwen2.gguf", "gpt2", "qwen2", 0, NULL},
    {"bpe_smollm.gguf", "gpt2", "smollm", 0, NULL}, {"bpe_unknown_pre.gguf", "gpt2", "tekken", 0, NULL},
    {"wpm.gguf", "bert", NULL, 0, NULL}, {"bad_model.gguf", "llama", NULL, 1, NULL},
    {"bad_type.gguf", "llama", NULL, 2, NULL}, {"bad_bos.gguf", "gpt2", NULL, 3, NULL},
    {"bad_no_merges.gguf", "gpt2", NULL, 4, NULL}, {"bad_scores_len.gguf", "llama", NULL, 5, NULL},
    {"bad_merge.gguf", "gpt2", NULL, 6, NULL}, {"bad_flag_type.gguf", "bert", NULL, 7, NULL},
    {"chat_chatml.gguf", "gpt2", "qwen2", 0, chatml}, {"chat_llama3.gguf", "gpt2", "llama-bpe", 0, llama3},
    {"chat_llama2.gguf", "llama", NULL, 0, llama2}, {"chat_zephyr_phi3.gguf", "llama", NULL, 0, zephyr},
    {"chat_chatml_default_system.gguf", "gpt2", "qwen2", 0, chatml_sys},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t *buf;
    size_t n;
    if (build_vocab(v[i].model, v[i].pre, v[i].bad, v[i].tmpl, &buf, &n) < 0) { fprintf(stderr, "%s: %s\n", v[i].file, dq_err_msg()); return 1; }
    save(argv[1], v[i].file, buf, n);
    if (i == 1) { /* a truncated copy as well */
      save(argv[1], "bpe_gpt2_truncated.gguf", buf, n * 2 / 3);
    }
    dq_free(buf);
  }
  static const struct { const char *file, *text; } txt[] = {
    {"text_ascii.txt", "Hello, y'all! How are you? I've been 'told he's there, 'RE you sure?"},
    {"text_unicode.txt", "\xf0\x9f\x9a\x80 (normal) \xf0\x9f\x98\xb6\xe2\x80\x8d\xf0\x9f\x8c\xab\xef\xb8\x8f \xe1\x9e\x80\xe1\x9e\xb6 C\xe1\xbb\xad" "a Vi\xe1\xbb\x87t \xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8" "apple\xe5\xb7\xa5\xe4\xbd\x9c" "1314151\xe5\xa4\xa9\xef\xbd\x9e"},
    {"text_spaces.txt", "\n \n\n \t\t\t \t  \r\n\r\n   x    3333333 3.3 3..3 ------=======  "},
    {"text_special.txt", "<s><|im_start|>user\nhi<|im_end|></s><|endoftext|>[CLS]"},
    {"text_invalid.txt", "\xc3\x28 \xa0\xa1 \xe2\x82 \xf0\x28\x8c\xbc \xed\xa0\x80 ok"},
  };
  for (size_t i = 0; i < sizeof txt / sizeof txt[0]; i++) save(argv[1], txt[i].file, txt[i].text, strlen(txt[i].text));
  return 0;
}
#endif
