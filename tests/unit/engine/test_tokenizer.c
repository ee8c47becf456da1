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
#include "engine/tok_internal.h"
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

/* ---- speed ------------------------------------------------------------------------ */

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 1 MB of English prose (a Gutenberg book) through SPM and byte-level BPE. */
static void test_engine_tokenizer__speed_1mb(void **state)
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
    assert_true(dt < 3.0); /* generous for sanitizer builds; ~0.2 s optimized */
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
    cmocka_unit_test(test_engine_tokenizer__reference_stories260k),
    cmocka_unit_test(test_engine_tokenizer__reference_tiny_qwen2),
    cmocka_unit_test(test_engine_tokenizer__special_parsing),
    cmocka_unit_test(test_engine_tokenizer__capacity_and_bos),
    cmocka_unit_test(test_engine_tokenizer__speed_1mb),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
