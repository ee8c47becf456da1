/* Tests for the tokenizers (engine/tokenizer.h).
 *
 * References from outside this project:
 *   - shared/vocab/NAME.gguf.{inp,out}: llama.cpp's own tokenizer test vectors
 *     (ids produced by llama.cpp, no special tokens added) for SentencePiece,
 *     byte-level BPE with the GPT-2 / Llama 3 / Qwen2 pre-tokenizers, and
 *     WordPiece;
 *   - tests/data/vocab-{gpt-4o,tekken}.{inp,out,splits}: llama.cpp's ids and
 *     pre-tokenizer pieces for the GPT-4o and tekken pre-tokenizers on the
 *     GPT-2 vocabulary of shared/vocab (tests/data/vocab-pre.SOURCE.md);
 *   - shared/models/NAME.reference.txt: llama.cpp's prompt token ids (BOS added)
 *     for stories260K and the tiny-qwen2 fixture (long prompt: the first ids
 *     listed and the total count).
 * Plus round trips, special-token parsing, hostile vocabularies built with
 * the test GGUF writer, and a speed check on 1 MB of text.
 * Tests that need shared/ skip (exit 77) when DOCQ_SHARED_DIR is absent, those
 * that need tests/data also when DOCQ_SOURCE_DIR is. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docq.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "engine/tok_internal.h"
#include "support/gguf_writer.h"
#include "util/err.h"
#include "util/mem.h"

static const char *g_shared;
static const char *g_source; /* DOCQ_SOURCE_DIR: tests/data */

/* ---- helpers ---------------------------------------------------------------- */

static char *slurp(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)sz + 1);
  if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) { free(p); p = NULL; }
  fclose(f);
  if (p) { p[sz] = 0; *n = (size_t)sz; }
  return p;
}

static dq_tok *load_tok(const char *rel, dq_gguf **gout)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", g_shared, rel);
  dq_gguf *g = NULL;
  int rc = dq_gguf_open(&g, path);
  if (rc < 0) fail_msg("open %s: %s", path, dq_err_msg());
  dq_tok *t = NULL;
  rc = dq_tok_load(&t, g);
  if (rc < 0) fail_msg("dq_tok_load %s: %s", path, dq_err_msg());
  if (gout) *gout = g;
  else dq_gguf_close(g);
  return t;
}

static int32_t *encode(const dq_tok *t, const char *s, size_t n, int add_special, int parse_special, size_t *count)
{
  size_t need = 0;
  assert_int_equal(dq_tok_encode(t, s, n, add_special, parse_special, NULL, 0, &need), 0);
  int32_t *ids = malloc((need ? need : 1) * sizeof(int32_t));
  size_t got = 0;
  assert_int_equal(dq_tok_encode(t, s, n, add_special, parse_special, ids, need, &got), 0);
  assert_int_equal(got, need);
  *count = need;
  return ids;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
  fprintf(stderr, "    %s (%zu):", label, n);
  for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
  fprintf(stderr, "\n");
}

static void print_escaped(const char *s, size_t n)
{
  fputc('"', stderr);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n') fputs("\\n", stderr);
    else if (c == '\t') fputs("\\t", stderr);
    else if (c == '\r') fputs("\\r", stderr);
    else if (c < 0x20) fprintf(stderr, "\\x%02x", c);
    else fputc(c, stderr);
  }
  fputs("\"\n", stderr);
}

/* Parse one line of space-separated integers into v (at most cap). */
static size_t parse_ints(const char *line, int32_t *v, size_t cap)
{
  size_t n = 0;
  for (const char *p = line; *p && n < cap;) {
    char *q;
    long x = strtol(p, &q, 10);
    if (q == p) break;
    v[n++] = (int32_t)x;
    p = q;
  }
  return n;
}

/* Byte lengths of the pieces the pre-tokenizer of t cuts s[0..n) into (defined below). */
static size_t pretok_pieces(const dq_tok *t, const char *s, size_t n, int32_t *len, size_t cap);

/* How many differing strings check_vectors shows in full. */
enum { MAX_SHOWN = 10 };

/* Count string i of check_vectors as differing in `what` (ids, or the
 * pre-tokenizer's piece lengths) unless got equals want; show the first few. */
static void count_diff(const char *label, int i, const char *what, const char *s, size_t slen, const int32_t *want,
                       size_t nw, const int32_t *got, size_t ng, int *n_bad)
{
  if (ng == nw && memcmp(got, want, nw * sizeof(int32_t)) == 0) return;
  if (*n_bad < MAX_SHOWN) {
    fprintf(stderr, "  %s: string %d: %s differ: ", label, i, what);
    print_escaped(s, slen);
    print_ids("want", want, nw);
    print_ids("got ", got, ng);
  }
  (*n_bad)++;
}

/* Check tokenizer t on the strings of inp_path (each followed by
 * "\n__ggml_vocab_test__\n") against the ids of out_path (one line per string,
 * no special tokens); with splits_path, also the byte lengths of the
 * pre-tokenizer's pieces (one line per string); with roundtrip, also
 * decode(encode(s)) == s. Prints the first few differing strings with what was
 * wanted and got, then a count. */
static void check_vectors(const dq_tok *t, const char *label, const char *inp_path, const char *out_path,
                          const char *splits_path, int roundtrip)
{
  size_t ni, no, nsp = 0;
  char *inp = slurp(inp_path, &ni);
  char *outp = slurp(out_path, &no);
  char *spl = splits_path ? slurp(splits_path, &nsp) : NULL;
  if (!inp || !outp || (splits_path && !spl))
    fail_msg("cannot read %s, %s or %s", inp_path, out_path, splits_path ? splits_path : "-");
  static const char sep[] = "\n__ggml_vocab_test__\n";
  const size_t seplen = sizeof sep - 1;
  char *s = inp, *line = outp, *sline = spl;
  int n_strings = 0, n_bad = 0, n_rt_bad = 0, n_split_bad = 0;
  for (;;) {
    char *e = memmem(s, ni - (size_t)(s - inp), sep, seplen);
    if (!e) break;
    size_t slen = (size_t)(e - s);
    char *nl = strchr(line, '\n');
    assert_non_null(nl);
    *nl = 0;
    int32_t want[4096];
    size_t nw = parse_ints(line, want, 4096);
    size_t ng;
    int32_t *got = encode(t, s, slen, 0, 0, &ng);
    count_diff(label, n_strings, "ids", s, slen, want, nw, got, ng, &n_bad);
    if (spl) {
      char *snl = strchr(sline, '\n');
      assert_non_null(snl);
      *snl = 0;
      int32_t wl[4096], gl[4096];
      size_t nwl = parse_ints(sline, wl, 4096), ngl = pretok_pieces(t, s, slen, gl, 4096);
      count_diff(label, n_strings, "pre-tokenizer pieces (bytes)", s, slen, wl, nwl, gl, ngl, &n_split_bad);
      sline = snl + 1;
    }
    if (roundtrip) {
      char *back = NULL;
      size_t blen = 0;
      assert_int_equal(dq_tok_decode(t, got, ng, 0, &back, &blen), 0);
      if (blen != slen || memcmp(back, s, slen) != 0) {
        if (n_rt_bad < MAX_SHOWN) {
          fprintf(stderr, "  %s: round trip of string %d: ", label, n_strings);
          print_escaped(s, slen);
          fprintf(stderr, "    gave ");
          print_escaped(back, blen);
        }
        n_rt_bad++;
      }
      dq_free(back);
    }
    free(got);
    n_strings++;
    s = e + seplen;
    line = nl + 1;
  }
  fprintf(stderr, "  %s: %d strings, %d differ, %d round trips differ", label, n_strings, n_bad, n_rt_bad);
  if (spl) fprintf(stderr, ", %d pre-tokenizations differ", n_split_bad);
  fprintf(stderr, "\n");
  assert_true(n_strings > 30);
  assert_true(*line == 0); /* as many id lines as strings */
  if (spl) assert_true(*sline == 0);
  assert_int_equal(n_bad, 0);
  assert_int_equal(n_split_bad, 0);
  assert_int_equal(n_rt_bad, 0);
  free(inp);
  free(outp);
  free(spl);
}

/* Run every vector of shared/vocab/<name>.gguf; with roundtrip, also check
 * decode(encode(s)) == s. */
static void run_vectors(const char *name, int roundtrip)
{
  char rel[256], inp[1024], out[1024];
  snprintf(rel, sizeof rel, "vocab/%s.gguf", name);
  dq_tok *t = load_tok(rel, NULL);
  snprintf(inp, sizeof inp, "%s/vocab/%s.gguf.inp", g_shared, name);
  snprintf(out, sizeof out, "%s/vocab/%s.gguf.out", g_shared, name);
  check_vectors(t, name, inp, out, NULL, roundtrip);
  dq_tok_free(t);
}

#define NEED_SHARED() do { if (!g_shared) { skip(); } } while (0)
#define NEED_SHARED_AND_SOURCE() do { if (!g_shared || !g_source) { skip(); } } while (0)

/* ---- the llama.cpp vectors --------------------------------------------------- */

static void test_engine_tokenizer__vectors_llama_spm(void **state) { (void)state; NEED_SHARED(); run_vectors("ggml-vocab-llama-spm", 1); }
static void test_engine_tokenizer__vectors_gpt2(void **state) { (void)state; NEED_SHARED(); run_vectors("ggml-vocab-gpt-2", 1); }
static void test_engine_tokenizer__vectors_llama_bpe(void **state) { (void)state; NEED_SHARED(); run_vectors("ggml-vocab-gpt2-pre-llama-bpe", 1); }
static void test_engine_tokenizer__vectors_qwen2(void **state) { (void)state; NEED_SHARED(); run_vectors("ggml-vocab-gpt2-pre-qwen2", 1); }
static void test_engine_tokenizer__vectors_bert_bge(void **state) { (void)state; NEED_SHARED(); run_vectors("ggml-vocab-bert-bge", 0); }


/* ---- GPT-4o and tekken pre-tokenizers (tests/data/vocab-*) --------------------- */

/* tests/data/vocab-{gpt-4o,tekken}.{inp,out,splits} (see vocab-pre.SOURCE.md) are
 * llama.cpp's ids and pre-tokenizer pieces on the GPT-2 vocabulary of
 * shared/vocab with only tokenizer.ggml.pre changed. That variant is built here
 * in memory: the file has no tensors, so replacing the string in the metadata
 * is all it takes. */

typedef struct pieces_ctx { const size_t *off; int32_t *len; size_t n, cap; } pieces_ctx;

static int on_piece(size_t a, size_t b, void *ctx)
{
  pieces_ctx *c = ctx;
  if (c->n < c->cap) c->len[c->n] = (int32_t)(c->off[b] - c->off[a]);
  c->n++;
  return 0;
}

static size_t pretok_pieces(const dq_tok *t, const char *s, size_t n, int32_t *len, size_t cap)
{
  uint32_t *cp = malloc((n + 1) * sizeof(uint32_t));
  size_t *off = malloc((n + 1) * sizeof(size_t));
  assert_non_null(cp);
  assert_non_null(off);
  size_t m = 0, o = 0;
  while (o < n) {
    off[m] = o;
    o += dq_utf8_decode((const unsigned char *)s + o, n - o, &cp[m]);
    m++;
  }
  off[m] = n;
  pieces_ctx c = {off, len, 0, cap};
  assert_int_equal(dq_pretok_split(dq_tok_pre(t), cp, m, on_piece, &c), 0);
  free(cp);
  free(off);
  return c.n;
}

/* shared/vocab/ggml-vocab-gpt-2.gguf with tokenizer.ggml.pre = pre, loaded. */
static dq_tok *load_gpt2_with_pre(const char *pre)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/vocab/ggml-vocab-gpt-2.gguf", g_shared);
  dq_gguf *g = NULL;
  if (dq_gguf_open(&g, path) < 0) fail_msg("open %s: %s", path, dq_err_msg());
  const char *old;
  size_t old_len;
  assert_int_equal(dq_gguf_get_str(g, "tokenizer.ggml.pre", &old, &old_len), 0);
  /* the value is a u64 length then the bytes, inside the mapped file */
  const size_t at = (size_t)((const uint8_t *)old - g->base), len = strlen(pre);
  assert_true(at >= 8 && at + old_len <= g->size);
  const size_t n = g->size - old_len + len;
  uint8_t *buf = malloc(n);
  assert_non_null(buf);
  memcpy(buf, g->base, at - 8);
  for (int i = 0; i < 8; i++) buf[at - 8 + (size_t)i] = (uint8_t)((uint64_t)len >> (8 * i));
  memcpy(buf + at, pre, len);
  memcpy(buf + at + len, g->base + at + old_len, g->size - at - old_len);
  dq_gguf_close(g);
  assert_int_equal(dq_gguf_from_buffer(&g, buf, n), 0);
  dq_tok *t = NULL;
  if (dq_tok_load(&t, g) < 0) fail_msg("dq_tok_load (pre %s): %s", pre, dq_err_msg());
  dq_gguf_close(g); /* the tokenizer copied what it needs */
  free(buf);
  return t;
}

/* Long runs of one letter or one punctuation mark. llama.cpp (d32676d7) runs
 * these two pre-tokenizers with std::regex, which recurses once per code point
 * of a match: 20,000 'a' give 5,000 "aaaa" (24794) and 20,000 '.' give 312
 * tokens of 64 dots (23193) and one of 32 (8864), but a run of about 26,000
 * letters or dots overflows its 8 MB stack and it crashes. Runs of 200,000 must
 * simply work here. */
static void check_long_runs(const dq_tok *t)
{
  const size_t n = 200000;
  char *s = malloc(n);
  assert_non_null(s);
  for (int k = 0; k < 2; k++) {
    const char c = k ? '.' : 'a';
    memset(s, c, n);
    size_t ng;
    int32_t *ids = encode(t, s, 20000, 0, 0, &ng);
    assert_int_equal(ng, k ? 313 : 5000);
    for (size_t i = 0; i < ng; i++) assert_int_equal(ids[i], k ? (i == 312 ? 8864 : 23193) : 24794);
    free(ids);
    ids = encode(t, s, n, 0, 0, &ng);
    char *back = NULL;
    size_t blen = 0;
    assert_int_equal(dq_tok_decode(t, ids, ng, 0, &back, &blen), 0);
    assert_int_equal(blen, n);
    assert_memory_equal(back, s, n);
    dq_free(back);
    free(ids);
  }
  free(s);
}

/* The variant loads as pre-tokenizer `kind`, named `pre`, without the unknown
 * pre-tokenizer warning; "Hello" with special tokens added gets a BOS
 * (GPT-2's <|endoftext|>, 50256) only when `bos`, as llama.cpp adds one for
 * tekken and not for GPT-4o. Then the vectors of tests/data/vocab-<data>.* and
 * long runs. */
static void run_pre_vectors(const char *pre, int kind, int bos, const char *data)
{
  dq_tok *t = load_gpt2_with_pre(pre);
  assert_string_equal(dq_tok_pre_name(t), pre);
  if (dq_tok_warning(t)) fail_msg("pre-tokenizer %s: warning '%s'", pre, dq_tok_warning(t));
  assert_int_equal(dq_tok_pre(t), kind);
  size_t n;
  int32_t *ids = encode(t, "Hello", 5, 1, 0, &n);
  assert_int_equal(n, bos ? 2 : 1);
  if (bos) assert_int_equal(ids[0], 50256);
  assert_int_equal(ids[n - 1], 15496);
  free(ids);
  char inp[1024], out[1024], splits[1024], label[64];
  snprintf(inp, sizeof inp, "%s/tests/data/vocab-%s.inp", g_source, data);
  snprintf(out, sizeof out, "%s/tests/data/vocab-%s.out", g_source, data);
  snprintf(splits, sizeof splits, "%s/tests/data/vocab-%s.splits", g_source, data);
  snprintf(label, sizeof label, "gpt-2 vocabulary, pre %s", pre);
  check_vectors(t, label, inp, out, splits, 1);
  check_long_runs(t);
  dq_tok_free(t);
}

static void test_engine_tokenizer__vectors_gpt4o(void **state)
{
  (void)state;
  NEED_SHARED_AND_SOURCE();
  run_pre_vectors("gpt-4o", DQ_PRE_GPT4O, 0, "gpt-4o");
  run_pre_vectors("llama4", DQ_PRE_GPT4O, 0, "gpt-4o"); /* llama.cpp's other name for it */
}

static void test_engine_tokenizer__vectors_tekken(void **state)
{
  (void)state;
  NEED_SHARED_AND_SOURCE();
  run_pre_vectors("tekken", DQ_PRE_TEKKEN, 1, "tekken");
}

/* ---- model reference prompts (BOS added) ------------------------------------- */

/* Check the "tokens N: ids..." line following "# prompt...: TEXT" or
 * "prompt=short ...: TEXT" headers in a reference file; the long prompt's
 * line lists only its first ids, then "...". Returns prompts checked. */
static int check_reference(const char *model_rel, const char *ref_rel)
{
  dq_tok *t = load_tok(model_rel, NULL);
  char path[1024];
  size_t n, nlong = 0;
  snprintf(path, sizeof path, "%s/%s", g_shared, ref_rel);
  char *ref = slurp(path, &n);
  assert_non_null(ref);
  snprintf(path, sizeof path, "%s/models/long_prompt.txt", g_shared);
  char *longp = slurp(path, &nlong);
  assert_non_null(longp);
  int checked = 0;
  char *save = NULL;
  const char *prompt = NULL;
  size_t plen = 0;
  for (char *line = strtok_r(ref, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#' && strstr(line, "(BOS added)")) {
      if (strstr(line, "long_prompt.txt")) { prompt = longp; plen = nlong; }
      else {
        const char *c = strstr(line, "(BOS added): ");
        if (!c) { prompt = NULL; continue; }
        prompt = c + 13;
        plen = strlen(prompt);
      }
      continue;
    }
    if (!prompt || strncmp(line, "tokens ", 7) != 0) continue;
    char *p = line + 7, *q;
    long total = strtol(p, &q, 10);
    assert_true(*q == ':');
    p = q + 1;
    size_t ng;
    int32_t *got = encode(t, prompt, plen, 1, 0, &ng);
    if ((long)ng != total) fprintf(stderr, "  %s: %ld tokens expected, %zu got\n", ref_rel, total, ng);
    assert_int_equal(ng, (size_t)total);
    size_t i = 0;
    for (;; i++) {
      long v = strtol(p, &q, 10);
      if (q == p) break;
      if (i >= ng || got[i] != v) {
        fprintf(stderr, "  %s: token %zu: want %ld got %d\n", ref_rel, i, v, i < ng ? (int)got[i] : -1);
        fail();
      }
      p = q;
    }
    assert_true(i >= 13);
    free(got);
    checked++;
    prompt = NULL;
  }
  free(ref);
  free(longp);
  dq_tok_free(t);
  return checked;
}

static void test_engine_tokenizer__reference_stories260k(void **state)
{
  (void)state;
  NEED_SHARED();
  assert_int_equal(check_reference("models/stories260K.gguf", "models/stories260K.reference.txt"), 2);
}

static void test_engine_tokenizer__reference_tiny_qwen2(void **state)
{
  (void)state;
  NEED_SHARED();
  /* The fixture uses the llama-spm vocabulary; 5 quantizations x 2 prompts. */
  assert_int_equal(check_reference("models/tiny-qwen2-q8_0.gguf", "models/tiny-qwen2.reference.txt"), 10);
}

/* ---- special tokens, capacity, decoding ----------------------------------------- */

static void test_engine_tokenizer__special_parsing(void **state)
{
  (void)state;
  NEED_SHARED();
  dq_tok *t = load_tok("vocab/ggml-vocab-gpt-2.gguf", NULL);
  const char *s = "a<|endoftext|>b";
  size_t n;
  int32_t *ids = encode(t, s, strlen(s), 0, 1, &n);
  assert_int_equal(n, 3);
  assert_int_equal(ids[1], 50256);
  free(ids);
  ids = encode(t, s, strlen(s), 0, 0, &n);
  assert_true(n > 3);
  for (size_t i = 0; i < n; i++) assert_int_not_equal(ids[i], 50256);
  free(ids);
  /* Control tokens decode to nothing unless asked. */
  int32_t eot[2] = {64, 50256};
  char *d;
  size_t dl;
  assert_int_equal(dq_tok_decode(t, eot, 2, 0, &d, &dl), 0);
  assert_string_equal(d, "a");
  dq_free(d);
  assert_int_equal(dq_tok_decode(t, eot, 2, 1, &d, &dl), 0);
  assert_string_equal(d, "a<|endoftext|>");
  dq_free(d);
  assert_true(dq_tok_is_eog(t, 50256));
  assert_false(dq_tok_is_eog(t, 64));
  assert_int_equal(dq_tok_pre(t), DQ_PRE_GPT2);
  assert_null(dq_tok_warning(t));
  /* Many occurrences, back to back and between words. */
  char big[20000];
  size_t bl = 0;
  for (int i = 0; i < 1000; i++) {
    const char *piece = i % 3 ? "<|endoftext|>" : " x<|endoftext|>";
    memcpy(big + bl, piece, strlen(piece));
    bl += strlen(piece);
  }
  ids = encode(t, big, bl, 0, 1, &n);
  size_t n_eot = 0;
  for (size_t i = 0; i < n; i++) n_eot += ids[i] == 50256;
  assert_int_equal(n_eot, 1000);
  assert_int_equal(n, 1000 + 334); /* " x" is one token before every third */
  free(ids);
  dq_tok_free(t);

  t = load_tok("vocab/ggml-vocab-llama-spm.gguf", NULL);
  s = "<s>Hi</s>";
  ids = encode(t, s, strlen(s), 1, 1, &n);
  /* BOS, <s>, "▁Hi" (space prefix after a special token), </s> */
  assert_int_equal(n, 4);
  assert_int_equal(ids[0], 1);
  assert_int_equal(ids[1], 1);
  assert_int_equal(ids[3], 2);
  assert_int_equal(ids[2], dq_tok_find(t, "\xe2\x96\x81Hi", 5));
  free(ids);
  dq_tok_free(t);
}

/* shared/vocab/ggml-vocab-llama-spm.gguf (32000 tokens) with n tokens
 * appended (texts, types; score 0), general.name = name (NULL: none) and,
 * when key is set, the u32 key = val, written as a GGUF and loaded. The
 * file is also written to $DOCQ_TEST_GGUF_OUT when set, to run
 * llama-tokenize on it. */
static dq_tok *load_spm_plus(const char *const *texts, const int32_t *types, size_t n, const char *name,
                             const char *key, uint32_t val)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/vocab/ggml-vocab-llama-spm.gguf", g_shared);
  dq_gguf *g = NULL;
  if (dq_gguf_open(&g, path) < 0) fail_msg("open %s: %s", path, dq_err_msg());
  long ki = dq_gguf_find(g, "tokenizer.ggml.tokens");
  assert_true(ki >= 0);
  const size_t n0 = (size_t)g->kv[ki].n, nt = n0 + n;
  const char **toks = malloc(nt * sizeof *toks);
  char **owned = malloc(n0 * sizeof *owned);
  float *scores = calloc(nt, sizeof *scores);
  int32_t *ty = malloc(nt * sizeof *ty);
  int at;
  uint64_t na;
  const void *sd, *td;
  assert_int_equal(dq_gguf_get_arr(g, "tokenizer.ggml.scores", &at, &na, &sd), 0);
  assert_int_equal(dq_gguf_get_arr(g, "tokenizer.ggml.token_type", &at, &na, &td), 0);
  for (size_t i = 0; i < n0; i++) {
    const char *str;
    size_t l;
    assert_int_equal(dq_gguf_arr_str(g, ki, i, &str, &l), 0);
    owned[i] = strndup(str, l);
    toks[i] = owned[i];
    memcpy(&scores[i], (const char *)sd + 4 * i, 4);
    memcpy(&ty[i], (const char *)td + 4 * i, 4);
  }
  dq_gguf_close(g);
  for (size_t i = 0; i < n; i++) {
    toks[n0 + i] = texts[i];
    ty[n0 + i] = types[i];
  }
  dq_gw *w = dq_gw_new();
  assert_non_null(w);
  int rc = dq_gw_add_str(w, "general.architecture", "llama");
  if (name) rc |= dq_gw_add_str(w, "general.name", name);
  rc |= dq_gw_add_str(w, "tokenizer.ggml.model", "llama");
  rc |= dq_gw_add_str(w, "tokenizer.ggml.pre", "default");
  rc |= dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, nt);
  rc |= dq_gw_add_arr(w, "tokenizer.ggml.scores", DQ_GGUF_F32, scores, nt);
  rc |= dq_gw_add_arr(w, "tokenizer.ggml.token_type", DQ_GGUF_I32, ty, nt);
  rc |= dq_gw_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
  rc |= dq_gw_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
  rc |= dq_gw_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
  rc |= dq_gw_add_bool(w, "tokenizer.ggml.add_bos_token", 1);
  rc |= dq_gw_add_bool(w, "tokenizer.ggml.add_eos_token", 0);
  if (key) rc |= dq_gw_add_u32(w, key, val);
  assert_int_equal(rc, 0);
  uint8_t *buf;
  size_t nb;
  assert_int_equal(dq_gw_write_mem(w, &buf, &nb), 0);
  if (getenv("DOCQ_TEST_GGUF_OUT")) assert_int_equal(dq_gw_write_file(w, getenv("DOCQ_TEST_GGUF_OUT")), 0);
  dq_gw_free(w);
  for (size_t i = 0; i < n0; i++) free(owned[i]);
  free(owned);
  free(toks);
  free(scores);
  free(ty);
  assert_int_equal(dq_gguf_from_buffer(&g, buf, nb), 0);
  dq_tok *t = NULL;
  if (dq_tok_load(&t, g) < 0) fail_msg("dq_tok_load: %s", dq_err_msg());
  dq_gguf_close(g);
  dq_free(buf);
  return t;
}

static int32_t find(const dq_tok *t, const char *s) { return dq_tok_find(t, s, strlen(s)); }

/* The tokens llama.cpp (src/llama-vocab.cpp) ends generation on besides EOS:
 * Llama 3's <|end_of_text|> (its Instruct files name <|eot_id|> as EOS), the
 * FIM pad / repository / file-separator tokens of Qwen2.5-Coder, Kimi-K2's
 * [EOT], ... when the file marks them control tokens; the FIM ids from their
 * keys whatever their type; and the gpt-oss exception for <|end|>. */
static void test_engine_tokenizer__end_of_generation_set(void **state)
{
  (void)state;
  NEED_SHARED();
  enum { C = DQ_TT_CONTROL, U = DQ_TT_USER_DEFINED, N = DQ_TT_NORMAL };
  static const char *eog[] = {"<|end_of_text|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "[EOT]",
                              "<|im_end|>", "<end_of_utterance>", "<|fim_prefix|>"};
  static const int32_t eog_ty[] = {C, C, C, U, C, C, C, C};
  dq_tok *t = load_spm_plus(eog, eog_ty, 8, NULL, NULL, 0);
  for (size_t i = 0; i < 7; i++)
    if (!dq_tok_is_eog(t, find(t, eog[i]))) fail_msg("%s (id %d) is not end of generation", eog[i], find(t, eog[i]));
  assert_true(dq_tok_is_eog(t, 2));                      /* </s>, the EOS */
  assert_false(dq_tok_is_eog(t, find(t, "<|fim_prefix|>"))); /* FIM, but no end */
  assert_false(dq_tok_is_eog(t, 1));
  dq_tok_free(t);

  /* the same texts as plain words end nothing */
  static const int32_t normal[] = {N, N, N, N, N, N, N, N};
  t = load_spm_plus(eog, normal, 8, NULL, NULL, 0);
  for (size_t i = 0; i < 8; i++) assert_false(dq_tok_is_eog(t, find(t, eog[i])));
  dq_tok_free(t);

  /* a FIM id from its key counts whatever the token's type; the first text
   * found is not looked for then */
  static const char *pad[] = {"<|fim_pad|>", "<my_pad>"};
  static const int32_t pad_ty[] = {C, N};
  t = load_spm_plus(pad, pad_ty, 2, NULL, "tokenizer.ggml.fim_pad_token_id", 32001);
  assert_true(dq_tok_is_eog(t, 32001));
  assert_false(dq_tok_is_eog(t, 32000));
  dq_tok_free(t);

  /* gpt-oss (harmony): <|end|> ends a message, not the text, when <|return|>
   * and <|call|> are there; it is then read as a user-defined token */
  static const char *harmony[] = {"<|end|>", "<|return|>", "<|call|>"};
  static const int32_t harmony_ty[] = {C, C, C};
  t = load_spm_plus(harmony, harmony_ty, 3, NULL, NULL, 0);
  assert_false(dq_tok_is_eog(t, 32000));
  assert_int_equal(dq_tok_type(t, 32000), DQ_TT_USER_DEFINED);
  assert_true(dq_tok_is_eog(t, 32001) && dq_tok_is_eog(t, 32002));
  dq_tok_free(t);
  t = load_spm_plus(harmony, harmony_ty, 1, NULL, NULL, 0); /* <|end|> alone: Phi-3's end of turn */
  assert_true(dq_tok_is_eog(t, 32000));
  dq_tok_free(t);
}

static void expect_ids(const char *what, const int32_t *ids, size_t n, const int32_t *want, size_t wn)
{
  if (n == wn && !memcmp(ids, want, n * sizeof *ids)) return;
  print_ids("docq", ids, n);
  print_ids("llama.cpp", want, wn);
  fail_msg("%s: ids differ from llama.cpp's", what);
}

/* Phi-3 files: llama.cpp gives every special token but <unk>, <s> and
 * <|endoftext|> (and </s>) the RSTRIP attribute when general.name contains
 * "phi-3" or "phi3" (any case), so the white space after them is dropped.
 * The vocabulary: Phi-3's own, llama-spm plus <|endoftext|> (32000, control)
 * and <|assistant|> <|end|> <|user|> <|system|> (32001-32004,
 * user-defined); the ids are llama-tokenize's (llama.cpp build 9749) on
 * these files (DOCQ_TEST_GGUF_OUT), with and without --no-parse-special. */
static void test_engine_tokenizer__phi3_strips_after_special(void **state)
{
  (void)state;
  NEED_SHARED();
  static const char *phi[] = {"<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>", "<|system|>"};
  static const int32_t phi_ty[] = {DQ_TT_CONTROL, DQ_TT_USER_DEFINED, DQ_TT_USER_DEFINED, DQ_TT_USER_DEFINED,
                                   DQ_TT_USER_DEFINED};
  const char *p = "<|user|>\nHi there<|end|>\n<|assistant|>\n  Sure </s> x\n<s>\n y<|endoftext|> z\t\r\n<|end|> \t";
  static const int32_t want[] = {1, 32003, 6324, 727, 32002, 32001, 18585, 29871, 2, 921, 13, 1, 29871, 13, 343, 32000,
                                 29871, 503, 12, 30004, 13, 32002};
  static const int32_t want_other_name[] = {1, 32003, 29871, 13, 18567, 727, 32002, 29871, 13, 32001, 29871, 13,
                                            29871, 18585, 29871, 2, 29871, 921, 13, 1, 29871, 13, 343, 32000,
                                            29871, 503, 12, 30004, 13, 32002, 259, 12};
  /* control tokens read as text; the user-defined ones still strip */
  const char *q = "<|user|>\nHi there<|assistant|>\n  Sure </s> x\t\r\n<|system|> \t<|endoftext|> z";
  static const int32_t want_text[] = {1, 32003, 6324, 727, 32001, 18585, 1533, 29879, 29958, 921, 12, 30004, 13,
                                      32004, 529, 29989, 355, 974, 726, 29989, 29958, 503};
  static const char *names[] = {"Phi-3-mini-4k-instruct", "PHI3 medium", "Phi 3 Mini", NULL};
  for (size_t k = 0; k < 4; k++) {
    dq_tok *t = load_spm_plus(phi, phi_ty, 5, names[k], NULL, 0);
    size_t n;
    int32_t *ids = encode(t, p, strlen(p), 1, 1, &n);
    const int32_t *w = k < 2 ? want : want_other_name;
    const size_t wn = k < 2 ? sizeof want / sizeof *want : sizeof want_other_name / sizeof *want_other_name;
    expect_ids(names[k] ? names[k] : "no name", ids, n, w, wn);
    free(ids);
    if (k == 0) {
      ids = encode(t, q, strlen(q), 1, 0, &n);
      expect_ids("without parse_special", ids, n, want_text, sizeof want_text / sizeof *want_text);
      free(ids);
    }
    dq_tok_free(t);
  }
}

/* A user-defined token whose text llama.cpp looks for (an end of turn, a
 * FIM token) is retyped control, as llama.cpp does ("control-looking token
 * ... was not control-type"): without parse_special it is read as text;
 * with it, it is the token; detokenized, it is nothing unless special
 * tokens are shown. Other
 * user-defined tokens stay as they are. The ids are llama-tokenize's (build
 * 9749) on this vocabulary (DOCQ_TEST_GGUF_OUT), with and without
 * --no-parse-special. */
static void test_engine_tokenizer__control_looking_user_tokens(void **state)
{
  (void)state;
  NEED_SHARED();
  static const char *texts[] = {"<|im_end|>", "<|fim_prefix|>", "<my_tag>"};
  static const int32_t types[] = {DQ_TT_USER_DEFINED, DQ_TT_USER_DEFINED, DQ_TT_USER_DEFINED};
  dq_tok *t = load_spm_plus(texts, types, 3, NULL, NULL, 0);
  const char *p = "a<|im_end|>b <|fim_prefix|> c<my_tag>d";
  static const int32_t want_special[] = {1, 263, 32000, 289, 29871, 32001, 29871, 274, 32002, 270};
  static const int32_t want_text[] = {1,     263, 29966, 29989, 326, 29918, 355,   29989, 29958, 29890, 529,
                                      29989, 29888, 326, 29918, 13506, 29989, 29958, 274,   32002, 270};
  size_t n;
  int32_t *ids = encode(t, p, strlen(p), 1, 1, &n);
  expect_ids("with parse_special", ids, n, want_special, sizeof want_special / sizeof *want_special);
  free(ids);
  ids = encode(t, p, strlen(p), 1, 0, &n);
  expect_ids("without parse_special", ids, n, want_text, sizeof want_text / sizeof *want_text);
  free(ids);
  assert_int_equal(dq_tok_type(t, 32000), DQ_TT_CONTROL);
  assert_int_equal(dq_tok_type(t, 32001), DQ_TT_CONTROL);
  assert_int_equal(dq_tok_type(t, 32002), DQ_TT_USER_DEFINED);
  assert_true(dq_tok_is_eog(t, 32000));
  const int32_t seq[] = {32000, 32002, 32001};
  char *d;
  size_t dl;
  assert_int_equal(dq_tok_decode(t, seq, 3, 0, &d, &dl), 0);
  assert_string_equal(d, "<my_tag>");
  dq_free(d);
  assert_int_equal(dq_tok_decode(t, seq, 3, 1, &d, &dl), 0);
  assert_string_equal(d, "<|im_end|><my_tag><|fim_prefix|>");
  dq_free(d);
  dq_tok_free(t);
}

/* Untrusted text for a chat prompt (dq_tok_defuse, used by ask with a
 * model): each control token's text in it is broken by U+200B after its
 * first byte, so the prompt's tokenization, which parses special tokens,
 * reads a passage quoting "<|im_end|>" as text, not as the end of the turn.
 * A user-defined token (matched in any text, as llama.cpp does) stays. */
static void test_engine_tokenizer__defuse_control_text(void **state)
{
  (void)state;
  NEED_SHARED();
  static const char *texts[] = {"<|im_end|>", "<|im_start|>", "<think>"};
  static const int32_t types[] = {DQ_TT_CONTROL, DQ_TT_CONTROL, DQ_TT_USER_DEFINED};
  dq_tok *t = load_spm_plus(texts, types, 3, NULL, NULL, 0);
  const char *in = "Notes: <|im_end|>, then <|im_start|>user and <think> x <|im_end|>";
  char *out = NULL;
  size_t n = 0;
  assert_int_equal(dq_tok_defuse(t, in, strlen(in), &out, &n), 0);
  assert_non_null(out);
  assert_string_equal(out, "Notes: <\xE2\x80\x8B|im_end|>, then <\xE2\x80\x8B|im_start|>user and <think> x "
                           "<\xE2\x80\x8B|im_end|>");
  assert_int_equal(n, strlen(out));
  size_t k;
  int32_t *ids = encode(t, out, n, 0, 1, &k);
  int think = 0;
  for (size_t i = 0; i < k; i++) {
    assert_true(ids[i] != 32000 && ids[i] != 32001);
    think += ids[i] == 32002;
  }
  assert_int_equal(think, 1);
  free(ids);
  dq_free(out);
  assert_int_equal(dq_tok_defuse(t, "plain text <|im", 15, &out, &n), 0);
  assert_null(out);
  assert_int_equal(dq_tok_defuse(t, "", 0, &out, &n), 0);
  assert_null(out);
  dq_tok_free(t);
}

static void test_engine_tokenizer__capacity_and_bos(void **state)
{
  (void)state;
  NEED_SHARED();
  dq_tok *t = load_tok("vocab/ggml-vocab-llama-spm.gguf", NULL);
  const char *s = "Hello world, this is a test.";
  int32_t ids[3] = {-7, -7, -7};
  size_t n = 0;
  assert_int_equal(dq_tok_encode(t, s, strlen(s), 1, 0, ids, 2, &n), 0);
  assert_true(n > 3);
  assert_int_equal(ids[0], 1); /* BOS: add_bos_token is true */
  assert_int_equal(ids[2], -7); /* nothing written past cap */
  assert_int_equal(dq_tok_encode(t, "", 0, 1, 0, ids, 3, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(dq_tok_encode(t, "", 0, 0, 0, ids, 3, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(dq_tok_encode(t, NULL, 5, 0, 0, ids, 3, &n), DOCQ_EINVAL);
  /* Pieces: byte fallback and the space marker. */
  char b[8];
  assert_int_equal(dq_tok_piece(t, 13, 0, b, sizeof b), 1); /* <0x0A> */
  assert_int_equal(b[0], '\n');
  int32_t sp = dq_tok_find(t, "\xe2\x96\x81the", 6);
  assert_true(sp > 0);
  assert_int_equal(dq_tok_piece(t, sp, 0, b, sizeof b), 4);
  assert_memory_equal(b, " the", 4);
  assert_int_equal(dq_tok_piece(t, sp, 0, b, 2), 4); /* full length, 2 bytes written */
  assert_int_equal(dq_tok_piece(t, 32000, 0, b, sizeof b), -1);
  int32_t bad[1] = {32000};
  char *d = (char *)1;
  assert_int_equal(dq_tok_decode(t, bad, 1, 0, &d, NULL), DOCQ_EINVAL);
  assert_null(d);
  dq_tok_free(t);

  /* WordPiece adds [CLS] ... [SEP]. */
  t = load_tok("vocab/ggml-vocab-bert-bge.gguf", NULL);
  int32_t w[8];
  assert_int_equal(dq_tok_encode(t, "Hello world", 11, 1, 0, w, 8, &n), 0);
  assert_int_equal(n, 4);
  assert_int_equal(w[0], 101);
  assert_int_equal(w[1], 7592);
  assert_int_equal(w[2], 2088);
  assert_int_equal(w[3], 102);
  assert_int_equal(dq_tok_specials(t)->unk, 100);
  assert_int_equal(dq_tok_specials(t)->bos, 101);
  assert_int_equal(dq_tok_specials(t)->eos, 102);
  assert_int_equal(dq_tok_kind(t), DQ_TOK_WPM);
  char *dd;
  assert_int_equal(dq_tok_decode(t, w + 1, 2, 0, &dd, NULL), 0);
  assert_string_equal(dd, "hello world");
  dq_free(dd);
  dq_tok_free(t);
}

/* Every prefix of the streamed text is whole, valid UTF-8. */
static void assert_valid_utf8(const char *s, size_t n)
{
  uint32_t cp;
  for (size_t j = 0; j < n;) {
    size_t step = dq_utf8_decode((const unsigned char *)s + j, n - j, &cp);
    if (cp == 0xFFFD) assert_memory_equal(s + j, "\xef\xbf\xbd", 3); /* only a real U+FFFD */
    j += step;
  }
}

/* Streaming pieces through a dq_utf8_stream gives whole code points only and
 * the same text. Byte-fallback tokens split emoji into single bytes. */
static void test_engine_tokenizer__stream_whole_code_points(void **state)
{
  (void)state;
  NEED_SHARED();
  dq_tok *t = load_tok("vocab/ggml-vocab-llama-spm.gguf", NULL);
  const char *s = "\xf0\x9f\x9a\x80 (normal) \xf0\x9f\x98\xb6\xe2\x80\x8d\xf0\x9f\x8c\xab\xef\xb8\x8f caf\xc3\xa9 \xe1\x9e\x80\xe1\x9e\xb6";
  size_t n;
  int32_t *ids = encode(t, s, strlen(s), 0, 0, &n);
  dq_utf8_stream u = { 0 };
  dq_buf out = { 0 };
  size_t bytes_tokens = 0, held_back = 0;
  for (size_t i = 0; i < n; i++) {
    bytes_tokens += dq_tok_type(t, ids[i]) == DQ_TT_BYTE;
    char piece[64];
    long k = dq_tok_piece(t, ids[i], 0, piece, sizeof piece);
    assert_true(k >= 0 && (size_t)k <= sizeof piece);
    assert_int_equal(dq_utf8_stream_put(&u, piece, (size_t)k, &out), 0);
    held_back += u.n > 0;
    assert_valid_utf8(out.p, out.len); /* what is out never ends inside a sequence */
  }
  assert_int_equal(u.n, 0);
  assert_int_equal(dq_utf8_stream_end(&u, &out), 0);
  assert_true(bytes_tokens >= 4);
  assert_true(held_back >= 3);
  assert_int_equal(out.len, strlen(s) + 1); /* the prefix space */
  assert_memory_equal(out.p + 1, s, strlen(s));
  dq_buf_free(&out);
  free(ids);
  dq_tok_free(t);
}

/* Bytes that are no UTF-8 (a model may emit any byte tokens, in any order)
 * come out as U+FFFD, one per byte that belongs to no whole character, as Go
 * reads a string (utf8.DecodeRune: RuneError, width 1); whole characters
 * pass unchanged; and the result does not depend on where the pieces cut. */
static void stream_once(const char *in, size_t n, const size_t *cuts, size_t n_cuts, dq_buf *out)
{
  dq_utf8_stream u = { 0 };
  size_t at = 0;
  for (size_t c = 0; c <= n_cuts; c++) {
    size_t to = c < n_cuts ? cuts[c] : n;
    assert_int_equal(dq_utf8_stream_put(&u, in + at, to - at, out), 0);
    assert_valid_utf8(out->p, out->len);
    at = to;
  }
  assert_int_equal(dq_utf8_stream_end(&u, out), 0);
}

static void test_engine_tokenizer__stream_replaces_invalid_bytes(void **state)
{
  (void)state;
#define R "\xef\xbf\xbd"
  static const struct { const char *in, *want; } cases[] = {
    { "ab", "ab" },
    { "\x98", R },                                    /* a lone continuation byte */
    { "\xcf\xe6\x81\x8b", R "\xe6\x81\x8b" },         /* a lead broken off by another lead */
    { "\xe4\xb8" "a", R R "a" },                      /* broken off by ASCII */
    { "\xe4\xb8", R R },                              /* cut by the end */
    { "\xff\xfe", R R },                              /* never UTF-8 */
    { "\xc0\x80", R R },                              /* overlong NUL */
    { "\xe0\x80\x80", R R R },                        /* overlong */
    { "\xed\xa0\x80", R R R },                        /* a surrogate */
    { "\xf4\x90\x80\x80", R R R R },                  /* past U+10FFFF */
    { "\xf0\x9f\x9a\x80\xe4\xb8\xad" R, "\xf0\x9f\x9a\x80\xe4\xb8\xad" R }, /* whole ones, and U+FFFD itself */
    { "x\xf0\x9f\x9a", "x" R R R },
  };
#undef R
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    const size_t n = strlen(cases[k].in);
    /* whole, then cut at every single point, then byte by byte */
    for (size_t cut = 0; cut <= n + 1; cut++) {
      size_t cuts[8], n_cuts = 0;
      if (cut > 0 && cut < n) cuts[n_cuts++] = cut;
      if (cut == n + 1)
        for (size_t j = 1; j < n && n_cuts < 8; j++) cuts[n_cuts++] = j;
      dq_buf out = { 0 };
      stream_once(cases[k].in, n, cuts, n_cuts, &out);
      if (out.len != strlen(cases[k].want) || memcmp(out.p, cases[k].want, out.len))
        fail_msg("case %zu, cut %zu: got %zu bytes, want %zu", k, cut, out.len, strlen(cases[k].want));
      dq_buf_free(&out);
    }
  }
  /* random bytes, biased to UTF-8 leads and continuations: any cutting gives
   * what one piece gives */
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int round = 0; round < 2000; round++) {
    unsigned char in[24];
    for (size_t j = 0; j < sizeof in; j++) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      static const unsigned char pick[] = { 'a', 0x80, 0x9f, 0xbf, 0xc3, 0xe4, 0xed, 0xe0, 0xf0, 0xf4, 0xff, 0xa9 };
      in[j] = pick[x % sizeof pick];
    }
    dq_buf whole = { 0 }, cut = { 0 };
    stream_once((const char *)in, sizeof in, NULL, 0, &whole);
    size_t cuts[5];
    for (int c = 0; c < 5; c++) cuts[c] = (size_t)(4 * c + (int)((x >> (8 * c)) % 4));
    stream_once((const char *)in, sizeof in, cuts, 5, &cut);
    assert_int_equal(whole.len, cut.len);
    assert_memory_equal(whole.p, cut.p, whole.len);
    dq_buf_free(&whole);
    dq_buf_free(&cut);
  }
}

/* ---- a whole book ------------------------------------------------------------------ */

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 1 MB of English prose (a Gutenberg book) through SPM and byte-level BPE. */
static void test_engine_tokenizer__linear_on_1mb(void **state)
{
  (void)state;
  NEED_SHARED();
  char path[1024];
  size_t n;
  snprintf(path, sizeof path, "%s/data/corpora/gutenberg_en/pg2701.txt", g_shared);
  char *text = slurp(path, &n);
  if (!text) skip();
  if (n > (1u << 20)) n = 1u << 20;
  const char *names[] = {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt2-pre-llama-bpe.gguf",
                         "vocab/ggml-vocab-bert-bge.gguf"};
  for (size_t k = 0; k < 3; k++) {
    dq_tok *t = load_tok(names[k], NULL);
    double t0 = now();
    size_t cnt;
    assert_int_equal(dq_tok_encode(t, text, n, 0, 0, NULL, 0, &cnt), 0);
    double dt = now() - t0;
    fprintf(stderr, "  %s: %zu bytes -> %zu tokens in %.3f s\n", names[k], n, cnt, dt);
    assert_true(cnt > n / 8 && cnt < n);
    /* Not a speed test (that belongs in bench/): a guard against merging
     * that grows with the square of a word or text, which takes minutes on
     * 1 MB. Linear encoding takes ~0.2 s optimized, a few times that under
     * sanitizers, so even a loaded CI host stays far below. */
    assert_true(dt < 30.0);
    if (dq_tok_kind(t) == DQ_TOK_SPM) {
      /* Word-by-word merging must give exactly what one pass over the whole text gives. */
      assert_int_equal(t->spm_word_split, 1);
      int32_t *a = malloc(cnt * sizeof(int32_t)), *b = malloc(cnt * sizeof(int32_t));
      size_t ca, cb;
      assert_int_equal(dq_tok_encode(t, text, n / 4, 0, 0, a, cnt, &ca), 0);
      t->spm_word_split = 0;
      assert_int_equal(dq_tok_encode(t, text, n / 4, 0, 0, b, cnt, &cb), 0);
      assert_int_equal(ca, cb);
      assert_memory_equal(a, b, ca * sizeof(int32_t));
      free(a);
      free(b);
    }
    dq_tok_free(t);
  }
  free(text);
}

/* ---- hostile and small vocabularies (no shared data needed) ------------------------ */

/* What to break in a small vocabulary. */
enum { OK_VOCAB = 0, BAD_MODEL, BAD_TYPE, BAD_BOS, NO_MERGES, BAD_SCORES_LEN, BAD_MERGE, BAD_FLAG, BAD_TYPES_KIND,
       NO_TOKENS, BOS_NONE, UNKNOWN_PRE, FEW_MERGES_LLAMA3, FEW_MERGES_GPT2, FEW_MERGES_TEKKEN, FEW_MERGES_GPT4O };

/* A tokenizer-only GGUF: <unk> <s> </s>, then SPM byte tokens or printable
 * ASCII, then a few words; "gpt2" gets merges. */
static uint8_t *small_vocab(const char *model, int bad, size_t *n)
{
  static char bytes[256][8];
  const char *toks[400];
  float scores[400];
  int32_t types[400];
  int nt = 0, spm = strcmp(model, "llama") == 0, bpe = strcmp(model, "gpt2") == 0;
  toks[nt] = "<unk>"; types[nt++] = 2;
  toks[nt] = "<s>"; types[nt++] = 3;
  toks[nt] = "</s>"; types[nt++] = 3;
  if (spm)
    for (int b = 0; b < 256; b++) { snprintf(bytes[b], 8, "<0x%02X>", b); toks[nt] = bytes[b]; types[nt++] = 6; }
  else
    for (int b = 0x21; b < 0x7F; b++) { bytes[b][0] = (char)b; bytes[b][1] = 0; toks[nt] = bytes[b]; types[nt++] = 1; }
  static const char *words[] = {"\xe2\x96\x81", "\xe2\x96\x81h", "\xe2\x96\x81hi", "\xc4\xa0", "\xc4\xa0h", "\xc4\xa0hi", "hi", "<tool>"};
  for (size_t i = 0; i < 8; i++) { toks[nt] = words[i]; types[nt++] = i == 7 ? 4 : 1; }
  for (int i = 0; i < nt; i++) scores[i] = -(float)i;
  const char *merges[3] = {"\xc4\xa0 h", "\xc4\xa0h i", bad == BAD_MERGE ? "nospace" : "h i"};
  dq_gw *w = dq_gw_new();
  assert_non_null(w);
  if (bad == BAD_TYPE) types[5] = 7;
  int rc = dq_gw_add_str(w, "tokenizer.ggml.model", bad == BAD_MODEL ? "rwkv" : model);
  if (bad == UNKNOWN_PRE) rc |= dq_gw_add_str(w, "tokenizer.ggml.pre", "no-such-pre");
  if (bad == FEW_MERGES_LLAMA3) rc |= dq_gw_add_str(w, "tokenizer.ggml.pre", "llama-bpe");
  if (bad == FEW_MERGES_GPT2) rc |= dq_gw_add_str(w, "tokenizer.ggml.pre", "gpt-2");
  if (bad == FEW_MERGES_TEKKEN) rc |= dq_gw_add_str(w, "tokenizer.ggml.pre", "tekken");
  if (bad == FEW_MERGES_GPT4O) rc |= dq_gw_add_str(w, "tokenizer.ggml.pre", "gpt-4o");
  if (bad != NO_TOKENS) rc |= dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, (size_t)nt);
  rc |= dq_gw_add_arr(w, "tokenizer.ggml.scores", DQ_GGUF_F32, scores, (size_t)(bad == BAD_SCORES_LEN ? nt - 1 : nt));
  if (bad == BAD_TYPES_KIND) rc |= dq_gw_add_arr(w, "tokenizer.ggml.token_type", DQ_GGUF_F32, scores, (size_t)nt);
  else rc |= dq_gw_add_arr(w, "tokenizer.ggml.token_type", DQ_GGUF_I32, types, (size_t)nt);
  rc |= dq_gw_add_u32(w, "tokenizer.ggml.bos_token_id", bad == BAD_BOS ? (uint32_t)nt : bad == BOS_NONE ? 0xFFFFFFFFu : 1u);
  rc |= dq_gw_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
  if (bad == FEW_MERGES_LLAMA3 || bad == FEW_MERGES_GPT2 || bad == FEW_MERGES_TEKKEN || bad == FEW_MERGES_GPT4O)
    rc |= dq_gw_add_arr_str(w, "tokenizer.ggml.merges", merges + 2, 1);
  else if (bpe && bad != NO_MERGES) rc |= dq_gw_add_arr_str(w, "tokenizer.ggml.merges", merges, 3);
  if (bad == BAD_FLAG) rc |= dq_gw_add_str(w, "tokenizer.ggml.add_bos_token", "yes");
  assert_int_equal(rc, 0);
  uint8_t *buf;
  assert_int_equal(dq_gw_write_mem(w, &buf, n), 0);
  dq_gw_free(w);
  return buf;
}

static int load_small(const char *model, int bad, dq_tok **out)
{
  size_t n;
  uint8_t *buf = small_vocab(model, bad, &n);
  dq_gguf *g;
  assert_int_equal(dq_gguf_from_buffer(&g, buf, n), 0);
  *out = (dq_tok *)1;
  int rc = dq_tok_load(out, g);
  if (rc < 0) assert_null(*out);
  dq_gguf_close(g); /* the tokenizer copied what it needs */
  dq_free(buf);
  return rc;
}

static void test_engine_tokenizer__hostile_vocabs(void **state)
{
  (void)state;
  static const struct { const char *model; int bad, code; const char *msg; } c[] = {
    {"llama", BAD_MODEL, DOCQ_EUNSUPPORTED, "rwkv"},
    {"llama", BAD_TYPE, DOCQ_ECORRUPT, "type 7"},
    {"gpt2", BAD_BOS, DOCQ_ECORRUPT, "bos_token_id"},
    {"gpt2", NO_MERGES, DOCQ_ECORRUPT, "merges"},
    {"llama", BAD_SCORES_LEN, DOCQ_ECORRUPT, "scores"},
    {"gpt2", BAD_MERGE, DOCQ_ECORRUPT, "nospace"},
    {"bert", BAD_FLAG, DOCQ_ECORRUPT, "add_bos_token"},
    {"llama", BAD_TYPES_KIND, DOCQ_ECORRUPT, "token_type"},
    {"llama", NO_TOKENS, DOCQ_ENOTFOUND, "tokens"},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    dq_tok *t;
    int rc = load_small(c[i].model, c[i].bad, &t);
    if (rc != c[i].code || !strstr(dq_err_msg(), c[i].msg))
      fail_msg("case %zu: rc %d (want %d), message '%s' (want '%s')", i, rc, c[i].code, dq_err_msg(), c[i].msg);
  }
  /* 0xFFFFFFFF means "no BOS"; an unknown pre-tokenizer is a warning. */
  dq_tok *t;
  assert_int_equal(load_small("llama", BOS_NONE, &t), 0);
  assert_int_equal(dq_tok_specials(t)->bos, -1);
  int32_t ids[16];
  size_t n;
  assert_int_equal(dq_tok_encode(t, "hi", 2, 1, 0, ids, 16, &n), 0);
  assert_int_equal(n, 1); /* no BOS to add: "▁hi" */
  assert_int_equal(ids[0], dq_tok_find(t, "\xe2\x96\x81hi", 5));
  dq_tok_free(t);
  assert_int_equal(load_small("gpt2", UNKNOWN_PRE, &t), 0);
  assert_non_null(dq_tok_warning(t));
  assert_non_null(strstr(dq_tok_warning(t), "no-such-pre"));
  assert_int_equal(dq_tok_pre(t), DQ_PRE_GPT2);
  assert_string_equal(dq_tok_pre_name(t), "no-such-pre");
  /* " hi" -> "Ġhi" through two merges; user-defined "<tool>" matches even without parse_special. */
  assert_int_equal(dq_tok_encode(t, " hi<tool>", 9, 0, 0, ids, 16, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(ids[0], dq_tok_find(t, "\xc4\xa0hi", 4));
  assert_int_equal(ids[1], dq_tok_find(t, "<tool>", 6));
  dq_tok_free(t);
  /* Only the merge "h i": GPT-2 gives "Ġ" "hi"; Llama 3 takes the word "Ġhi" whole (ignore_merges). */
  assert_int_equal(load_small("gpt2", FEW_MERGES_GPT2, &t), 0);
  assert_int_equal(dq_tok_encode(t, " hi", 3, 0, 0, ids, 16, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(ids[0], dq_tok_find(t, "\xc4\xa0", 2));
  assert_int_equal(ids[1], dq_tok_find(t, "hi", 2));
  dq_tok_free(t);
  assert_int_equal(load_small("gpt2", FEW_MERGES_LLAMA3, &t), 0);
  assert_int_equal(dq_tok_encode(t, " hi", 3, 0, 0, ids, 16, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(ids[0], dq_tok_find(t, "\xc4\xa0hi", 4));
  dq_tok_free(t);
}

/* tekken takes a word that is a token whole (ignore_merges) and adds a BOS;
 * GPT-4o does neither. With only the merge "h i", llama.cpp (d32676d7) gives
 * " hi" as [Ġhi] for tekken ([<s>, Ġhi] with special tokens) and as [Ġ, hi]
 * for GPT-4o, with or without. */
static void test_engine_tokenizer__ignore_merges_tekken(void **state)
{
  (void)state;
  dq_tok *t;
  int32_t ids[16];
  size_t n;
  assert_int_equal(load_small("gpt2", FEW_MERGES_TEKKEN, &t), 0);
  assert_null(dq_tok_warning(t));
  assert_int_equal(dq_tok_pre(t), DQ_PRE_TEKKEN);
  assert_int_equal(dq_tok_encode(t, " hi", 3, 0, 0, ids, 16, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(ids[0], dq_tok_find(t, "\xc4\xa0hi", 4));
  assert_int_equal(dq_tok_encode(t, " hi", 3, 1, 0, ids, 16, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(ids[0], 1);
  assert_int_equal(ids[1], dq_tok_find(t, "\xc4\xa0hi", 4));
  dq_tok_free(t);
  assert_int_equal(load_small("gpt2", FEW_MERGES_GPT4O, &t), 0);
  assert_null(dq_tok_warning(t));
  assert_int_equal(dq_tok_pre(t), DQ_PRE_GPT4O);
  for (int add_special = 0; add_special <= 1; add_special++) {
    assert_int_equal(dq_tok_encode(t, " hi", 3, add_special, 0, ids, 16, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], dq_tok_find(t, "\xc4\xa0", 2));
    assert_int_equal(ids[1], dq_tok_find(t, "hi", 2));
  }
  dq_tok_free(t);
}

/* Every prefix of a valid vocabulary file fails cleanly or loads. */
static void test_engine_tokenizer__truncated_everywhere(void **state)
{
  (void)state;
  const char *models[] = {"llama", "gpt2", "bert"};
  for (size_t m = 0; m < 3; m++) {
    size_t n;
    uint8_t *buf = small_vocab(models[m], OK_VOCAB, &n);
    int loaded = 0;
    for (size_t k = 0; k <= n; k++) {
      uint8_t *cut = malloc(k ? k : 1);
      memcpy(cut, buf, k);
      dq_gguf *g = NULL;
      if (dq_gguf_from_buffer(&g, cut, k) == 0) {
        dq_tok *t = NULL;
        int rc = dq_tok_load(&t, g);
        if (rc == 0) { loaded++; dq_tok_free(t); }
        else assert_true(dq_err_msg()[0] != 0);
        dq_gguf_close(g);
      }
      free(cut);
    }
    assert_true(loaded >= 1); /* at least the whole file */
    dq_free(buf);
  }
}

/* Allocation failures anywhere in load / encode / decode give DOCQ_ENOMEM
 * and leak nothing (the sanitizer build checks the leaks). */
static void test_engine_tokenizer__allocation_failures(void **state)
{
  (void)state;
  const char *models[] = {"llama", "gpt2", "bert"};
  for (size_t m = 0; m < 3; m++) {
    size_t n;
    uint8_t *buf = small_vocab(models[m], OK_VOCAB, &n);
    dq_gguf *g;
    assert_int_equal(dq_gguf_from_buffer(&g, buf, n), 0);
    int ok = 0;
    for (long k = 0; k < 200 && !ok; k++) {
      dq_tok *t = NULL;
      dq_mem_fail_after(k);
      int rc = dq_tok_load(&t, g);
      if (rc == 0) {
        int32_t ids[64];
        size_t cnt;
        rc = dq_tok_encode(t, " hi there <s> hi", 16, 1, 1, ids, 64, &cnt);
        char *d = NULL;
        if (rc == 0) rc = dq_tok_decode(t, ids, cnt < 64 ? cnt : 64, 0, &d, NULL);
        dq_free(d);
        ok = rc == 0;
      }
      dq_mem_fail_after(-1);
      if (rc < 0) assert_int_equal(rc, DOCQ_ENOMEM);
      dq_tok_free(t);
    }
    assert_true(ok);
    dq_gguf_close(g);
    dq_free(buf);
  }
}

int main(void)
{
  g_shared = getenv("DOCQ_SHARED_DIR");
  g_source = getenv("DOCQ_SOURCE_DIR");
  if (g_shared) {
    char p[1024];
    snprintf(p, sizeof p, "%s/vocab/ggml-vocab-gpt-2.gguf", g_shared);
    FILE *f = fopen(p, "rb");
    if (!f) g_shared = NULL;
    else fclose(f);
  }
  if (!g_shared) fprintf(stderr, "DOCQ_SHARED_DIR unset or without vocab/: shared-data tests are skipped\n");
  if (!g_source) fprintf(stderr, "DOCQ_SOURCE_DIR unset: the GPT-4o / tekken vectors (tests/data) are skipped\n");
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_tokenizer__vectors_llama_spm),
    cmocka_unit_test(test_engine_tokenizer__vectors_gpt2),
    cmocka_unit_test(test_engine_tokenizer__vectors_llama_bpe),
    cmocka_unit_test(test_engine_tokenizer__vectors_qwen2),
    cmocka_unit_test(test_engine_tokenizer__vectors_bert_bge),
    cmocka_unit_test(test_engine_tokenizer__vectors_gpt4o),
    cmocka_unit_test(test_engine_tokenizer__vectors_tekken),
    cmocka_unit_test(test_engine_tokenizer__reference_stories260k),
    cmocka_unit_test(test_engine_tokenizer__reference_tiny_qwen2),
    cmocka_unit_test(test_engine_tokenizer__special_parsing),
    cmocka_unit_test(test_engine_tokenizer__end_of_generation_set),
    cmocka_unit_test(test_engine_tokenizer__phi3_strips_after_special),
    cmocka_unit_test(test_engine_tokenizer__capacity_and_bos),
    cmocka_unit_test(test_engine_tokenizer__stream_whole_code_points),
    cmocka_unit_test(test_engine_tokenizer__stream_replaces_invalid_bytes),
    cmocka_unit_test(test_engine_tokenizer__linear_on_1mb),
    cmocka_unit_test(test_engine_tokenizer__hostile_vocabs),
    cmocka_unit_test(test_engine_tokenizer__ignore_merges_tekken),
    cmocka_unit_test(test_engine_tokenizer__truncated_everywhere),
    cmocka_unit_test(test_engine_tokenizer__allocation_failures),
    cmocka_unit_test(test_engine_tokenizer__control_looking_user_tokens),
    cmocka_unit_test(test_engine_tokenizer__defuse_control_text),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  if (rc == 0 && (!g_shared || !g_source)) {
    fprintf(stderr, "the llama.cpp vectors were not all checked (no DOCQ_SHARED_DIR or DOCQ_SOURCE_DIR): reporting SKIPPED\n");
    return 77;
  }
  return rc;
}
