/* Tests for engine/gguf.c: the real GGUF files in DOCQ_SHARED_DIR (written by
 * ggml's own converters, so they are the outside reference for the format),
 * round trips through the test writer (tests/support/gguf_writer.c), a
 * truncate-at-every-offset loop, hostile headers (one per check ggml's loader
 * does), typed getter conversions and allocation-failure injection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docq.h"
#include "engine/gguf.h"
#include "engine/kernels.h"
#include "support/gguf_writer.h"
#include "util/err.h"
#include "util/mem.h"

/* ---- helpers ---------------------------------------------------------------- */

static const char *shared_dir(void)
{
  const char *d = getenv("DOCQ_SHARED_DIR");
  if (!d || !*d) return NULL;
  char p[4096];
  snprintf(p, sizeof p, "%s/models/stories260K.gguf", d);
  return access(p, R_OK) == 0 ? d : NULL;
}

/* Tests that need the shared files skip themselves; main() then exits 77
 * (ctest SKIPPED) if everything else passed, so a missing folder is visible. */
#define NEED_SHARED(dir)                                                                     \
  const char *dir = shared_dir();                                                            \
  if (!dir) skip();

/* Parse a copy of p[0..n) in an exactly-sized heap block so ASan sees any overread. */
static int parse_copy(dq_gguf **g, const uint8_t *p, size_t n)
{
  uint8_t *c = malloc(n ? n : 1);
  assert_non_null(c);
  if (n) memcpy(c, p, n);
  int rc = dq_gguf_from_buffer(g, c, n);
  if (rc == 0) {
    /* keep the copy alive with the parse: tests close via close_copy() */
    return rc;
  }
  assert_null(*g);
  free(c);
  return rc;
}

static void close_copy(dq_gguf *g)
{
  if (!g) return;
  void *c = (void *)g->base;
  dq_gguf_close(g);
  free(c);
}

/* Expect a failure with `code`; when `needle` is set, the message must contain it. */
static void expect_fail(const uint8_t *p, size_t n, int code, const char *needle)
{
  dq_gguf *g = (dq_gguf *)1;
  int rc = parse_copy(&g, p, n);
  if (rc != code || (needle && !strstr(dq_err_msg(), needle)))
    print_error("got rc %d (want %d), message: %s (want '%s')\n", rc, code, dq_err_msg(), needle ? needle : "");
  assert_int_equal(rc, code);
  assert_null(g);
  if (needle) assert_non_null(strstr(dq_err_msg(), needle));
}

static uint8_t *find_bytes(uint8_t *hay, size_t n, const char *needle)
{
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (!memcmp(hay + i, needle, k)) return hay + i;
  fail_msg("'%s' not found in the written file", needle);
  return NULL;
}

static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* Locate tensor `name`'s directory entry in a written file: returns pointers
 * to its n_dims field, ne[0], type and offset fields. */
typedef struct tinfo { uint8_t *n_dims, *ne, *type, *offset; } tinfo;
static tinfo find_tensor_info(uint8_t *buf, size_t n, const char *name)
{
  tinfo t;
  /* the name is preceded by its u64 length; search for length+name to skip other mentions */
  uint8_t *p = find_bytes(buf, n, name);
  t.n_dims = p + strlen(name);
  uint32_t nd = t.n_dims[0];
  t.ne = t.n_dims + 4;
  t.type = t.ne + 8 * nd;
  t.offset = t.type + 4;
  return t;
}

/* A small valid file: metadata of each kind and three tensors. The last
 * tensor's size is a multiple of 32 so the file ends exactly at its data. */
static void small_file(uint8_t **out, size_t *n)
{
  dq_gw *w = dq_gw_new();
  assert_non_null(w);
  static const char *toks[] = {"<unk>", "hello", "", "w\xc3\xb6rld"};
  int32_t ints[3] = {-1, 0, 7};
  float fl[2] = {0.5f, -2.0f};
  assert_int_equal(dq_gw_add_str(w, "general.architecture", "llama"), 0);
  assert_int_equal(dq_gw_add_u32(w, "llama.block_count", 5), 0);
  assert_int_equal(dq_gw_add_i32(w, "test.neg", -3), 0);
  assert_int_equal(dq_gw_add_f32(w, "test.f", 1.5f), 0);
  assert_int_equal(dq_gw_add_bool(w, "test.b", 1), 0);
  assert_int_equal(dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, 4), 0);
  assert_int_equal(dq_gw_add_arr(w, "test.ints", DQ_GGUF_I32, ints, 3), 0);
  assert_int_equal(dq_gw_add_arr(w, "test.floats", DQ_GGUF_F32, fl, 2), 0);
  float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  int64_t ne_a[2] = {4, 2};
  assert_int_equal(dq_gw_add_tensor(w, "a.weight", DQ_T_F32, 2, ne_a, a), 0);
  uint8_t q[34 * 2];
  for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)(i * 7);
  int64_t ne_q[2] = {32, 2};
  assert_int_equal(dq_gw_add_tensor(w, "q.weight", DQ_T_Q8_0, 2, ne_q, q), 0);
  float c[16];
  for (int i = 0; i < 16; i++) c[i] = (float)i;
  int64_t ne_c[1] = {16};
  assert_int_equal(dq_gw_add_tensor(w, "c.bias", DQ_T_F32, 1, ne_c, c), 0);
  assert_int_equal(dq_gw_write_mem(w, out, n), 0);
  dq_gw_free(w);
}

/* ---- type table ------------------------------------------------------------- */

static void test_engine_gguf__type_table_matches_ggml(void **state)
{
  (void)state;
  static const struct { int t; uint32_t be, bb; const char *name; } want[] = {
    {DQ_T_F32, 1, 4, "f32"},      {DQ_T_F16, 1, 2, "f16"},      {DQ_T_Q4_0, 32, 18, "q4_0"},
    {DQ_T_Q4_1, 32, 20, "q4_1"},  {DQ_T_Q5_0, 32, 22, "q5_0"},  {DQ_T_Q5_1, 32, 24, "q5_1"},
    {DQ_T_Q8_0, 32, 34, "q8_0"},  {DQ_T_Q8_1, 32, 36, "q8_1"},  {DQ_T_Q2_K, 256, 84, "q2_K"},
    {DQ_T_Q3_K, 256, 110, "q3_K"}, {DQ_T_Q4_K, 256, 144, "q4_K"}, {DQ_T_Q5_K, 256, 176, "q5_K"},
    {DQ_T_Q6_K, 256, 210, "q6_K"}, {DQ_T_Q8_K, 256, 292, "q8_K"}, {DQ_T_I8, 1, 1, "i8"},
    {DQ_T_I16, 1, 2, "i16"},      {DQ_T_I32, 1, 4, "i32"},      {DQ_T_I64, 1, 8, "i64"},
    {DQ_T_F64, 1, 8, "f64"},      {DQ_T_BF16, 1, 2, "bf16"},
    /* sizes from ggml-common.h's block structs (halves, scales and quants) */
    {DQ_T_IQ2_XXS, 256, 2 + 64, "iq2_xxs"}, {DQ_T_IQ2_XS, 256, 2 + 64 + 8, "iq2_xs"},
    {DQ_T_IQ3_XXS, 256, 2 + 96, "iq3_xxs"}, {DQ_T_IQ1_S, 256, 2 + 32 + 16, "iq1_s"},
    {DQ_T_IQ4_NL, 32, 2 + 16, "iq4_nl"},    {DQ_T_IQ3_S, 256, 2 + 13 * 8 + 4, "iq3_s"},
    {DQ_T_IQ2_S, 256, 2 + 64 + 16, "iq2_s"}, {DQ_T_IQ4_XS, 256, 2 + 2 + 4 + 128, "iq4_xs"},
    {DQ_T_IQ1_M, 256, 32 + 16 + 8, "iq1_m"}, {DQ_T_TQ1_0, 256, 2 + 4 + 48, "tq1_0"},
    {DQ_T_TQ2_0, 256, 2 + 64, "tq2_0"},     {DQ_T_MXFP4, 32, 1 + 16, "mxfp4"},
    /* the ARM-interleaved Q4_0 / IQ4_NL of 2024: ggml.c's type_traits gave
     * them QK4_0 and sizeof(block_q4_0) while files held them; the names
     * as ggml's type_name had them */
    {DQ_T_Q4_0_4_4, 32, 18, "q4_0_4x4"},    {DQ_T_Q4_0_4_8, 32, 18, "q4_0_4x8"},
    {DQ_T_Q4_0_8_8, 32, 18, "q4_0_8x8"},    {DQ_T_IQ4_NL_4_4, 32, 18, "iq4_nl_4x4"},
    {DQ_T_IQ4_NL_4_8, 32, 18, "iq4_nl_4x8"}, {DQ_T_IQ4_NL_8_8, 32, 18, "iq4_nl_8x8"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const dq_type_info *ti = dq_type_info_get(want[i].t);
    assert_string_equal(ti->name, want[i].name);
    assert_int_equal(ti->block_elems, want[i].be);
    assert_int_equal(ti->block_bytes, want[i].bb);
  }
  /* removed (Q4_2=4, Q4_3=5) and out-of-range types are unknown */
  static const int unknown[] = {4, 5, 40, -1, 1000};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_string_equal(dq_type_info_get(unknown[i])->name, "unknown");
    assert_int_equal(dq_type_info_get(unknown[i])->block_elems, 0);
  }
  assert_int_equal(dq_type_row_bytes(DQ_T_Q4_K, 512), 288);
  assert_int_equal(dq_type_row_bytes(DQ_T_Q8_0, 64), 68);
  assert_int_equal(dq_type_row_bytes(DQ_T_Q8_0, 33), 0);
  assert_int_equal(dq_type_row_bytes(DQ_T_F16, 3), 6);
  assert_int_equal(dq_type_row_bytes(DQ_T_F32, 0), 0);
  assert_int_equal(dq_type_row_bytes(7777, 32), 0);
}

/* ---- real files ------------------------------------------------------------- */

/* Checks every parsed file must pass: tensors inside the file, sizes consistent,
 * data laid out contiguously (each next offset = previous end padded). */
static void check_layout(const dq_gguf *g)
{
  assert_true(g->data_offset <= g->size);
  /* a file without tensors may end before the data section's padding */
  if (g->n_tensors) assert_int_equal(g->data_offset % g->alignment, 0);
  uint64_t expect = 0;
  for (size_t i = 0; i < g->n_tensors; i++) {
    const dq_gguf_tensor *t = &g->tensors[i];
    const dq_type_info *ti = dq_type_info_get(t->type);
    assert_true(ti->block_elems > 0);
    size_t nb = dq_type_row_bytes(t->type, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
    assert_int_equal(t->nbytes, nb);
    assert_true((const uint8_t *)t->data >= g->base + g->data_offset);
    assert_true((const uint8_t *)t->data + t->nbytes <= g->base + g->size);
    assert_ptr_equal(dq_gguf_tensor_find(g, t->name), t);
    /* ggml writes tensors in directory order, each padded to the alignment */
    assert_int_equal(t->offset, expect);
    expect = t->offset + t->nbytes + (g->alignment - t->nbytes % g->alignment) % g->alignment;
  }
  if (g->n_tensors) assert_true(g->data_offset + expect >= g->size && g->data_offset + expect - g->size < g->alignment);
}

static void test_engine_gguf__parses_every_shared_file(void **state)
{
  (void)state;
  NEED_SHARED(dir);
  static const char *sub[] = {"models", "vocab"};
  int n_files = 0;
  for (int s = 0; s < 2; s++) {
    char d[4096];
    snprintf(d, sizeof d, "%s/%s", dir, sub[s]);
    DIR *dp = opendir(d);
    if (!dp) continue;
    struct dirent *e;
    while ((e = readdir(dp))) {
      size_t l = strlen(e->d_name);
      if (l < 5 || strcmp(e->d_name + l - 5, ".gguf")) continue;
      char p[8192];
      snprintf(p, sizeof p, "%s/%s", d, e->d_name);
      dq_gguf *g;
      int rc = dq_gguf_open(&g, p);
      if (rc) print_error("%s: %s\n", p, dq_err_msg());
      assert_int_equal(rc, 0);
      assert_int_equal(g->version, 3);
      assert_true(g->mapped);
      check_layout(g);
      const char *arch;
      size_t alen;
      assert_int_equal(dq_gguf_get_str(g, "general.architecture", &arch, &alen), 0);
      assert_true(alen > 0);
      /* every file carries a vocabulary whose strings we can index */
      long ti = dq_gguf_find(g, "tokenizer.ggml.tokens");
      assert_true(ti >= 0);
      int at;
      uint64_t nt;
      const void *data;
      assert_int_equal(dq_gguf_get_arr(g, "tokenizer.ggml.tokens", &at, &nt, &data), 0);
      assert_int_equal(at, DQ_GGUF_STRING);
      for (uint64_t i = 0; i < nt; i++) {
        const char *s;
        size_t sl;
        assert_int_equal(dq_gguf_arr_str(g, ti, i, &s, &sl), 0);
        assert_true((const uint8_t *)s + sl <= g->base + g->size);
      }
      dq_gguf_close(g);
      n_files++;
    }
    closedir(dp);
  }
  assert_true(n_files >= 10);
}

static void test_engine_gguf__stories260k_facts(void **state)
{
  (void)state;
  NEED_SHARED(dir);
  char p[4096];
  snprintf(p, sizeof p, "%s/models/stories260K.gguf", dir);
  dq_gguf *g;
  assert_int_equal(dq_gguf_open(&g, p), 0);
  const char *s;
  size_t n;
  uint32_t u;
  float f;
  assert_int_equal(dq_gguf_get_str(g, "general.architecture", &s, &n), 0);
  assert_int_equal(n, 5);
  assert_memory_equal(s, "llama", 5);
  assert_int_equal(dq_gguf_get_u32(g, "llama.block_count", &u), 0);
  assert_int_equal(u, 5);
  assert_int_equal(dq_gguf_get_u32(g, "llama.embedding_length", &u), 0);
  assert_int_equal(u, 64);
  assert_int_equal(dq_gguf_get_u32(g, "llama.attention.head_count", &u), 0);
  assert_int_equal(u, 8);
  assert_int_equal(dq_gguf_get_u32(g, "llama.attention.head_count_kv", &u), 0);
  assert_int_equal(u, 4);
  assert_int_equal(dq_gguf_get_u32(g, "llama.context_length", &u), 0);
  assert_int_equal(u, 2048); /* wrong for this model (trained at 512), but it is what the file says */
  assert_int_equal(dq_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f), 0);
  assert_float_equal(f, 1e-5f, 1e-9f);
  /* the separator id is stored as u32 0xFFFFFFFF: does not fit i32 */
  int32_t i32;
  assert_int_equal(dq_gguf_get_i32(g, "tokenizer.ggml.seperator_token_id", &i32), DOCQ_ECORRUPT);
  assert_non_null(strstr(dq_err_msg(), "tokenizer.ggml.seperator_token_id"));
  int at;
  uint64_t nt;
  const void *data;
  assert_int_equal(dq_gguf_get_arr(g, "tokenizer.ggml.tokens", &at, &nt, &data), 0);
  assert_int_equal(nt, 512);
  assert_int_equal(dq_gguf_arr_str(g, dq_gguf_find(g, "tokenizer.ggml.tokens"), 1, &s, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(s, "<s>", 3);
  assert_int_equal(g->n_tensors, 3 + 5 * 9);
  const dq_gguf_tensor *t = dq_gguf_tensor_find(g, "token_embd.weight");
  assert_non_null(t);
  assert_int_equal(t->type, DQ_T_F32);
  assert_int_equal(t->n_dims, 2);
  assert_int_equal(t->ne[0], 64);
  assert_int_equal(t->ne[1], 512);
  t = dq_gguf_tensor_find(g, "blk.4.ffn_down.weight");
  assert_non_null(t);
  assert_int_equal(t->ne[0], 172);
  assert_int_equal(t->ne[1], 64);
  t = dq_gguf_tensor_find(g, "blk.0.attn_k.weight");
  assert_int_equal(t->ne[1], 32); /* 4 KV heads x head_dim 8 */
  assert_null(dq_gguf_tensor_find(g, "blk.5.ffn_down.weight"));
  /* the norm weights of a trained model are finite and mostly positive */
  t = dq_gguf_tensor_find(g, "output_norm.weight");
  const float *w = t->data;
  int pos = 0;
  for (int i = 0; i < 64; i++) {
    assert_true(isfinite(w[i]));
    pos += w[i] > 0;
  }
  assert_true(pos > 48);
  dq_gguf_close(g);
}

/* The qwen2 fixtures use the llama-spm vocabulary (models/SOURCE.md): both
 * files must yield the same 32000 strings. */
static void test_engine_gguf__qwen2_fixture_and_spm_vocab_agree(void **state)
{
  (void)state;
  NEED_SHARED(dir);
  char p1[4096], p2[4096];
  snprintf(p1, sizeof p1, "%s/models/tiny-qwen2-q4_k_m.gguf", dir);
  snprintf(p2, sizeof p2, "%s/vocab/ggml-vocab-llama-spm.gguf", dir);
  dq_gguf *a, *b;
  assert_int_equal(dq_gguf_open(&a, p1), 0);
  assert_int_equal(dq_gguf_open(&b, p2), 0);
  long ka = dq_gguf_find(a, "tokenizer.ggml.tokens"), kb = dq_gguf_find(b, "tokenizer.ggml.tokens");
  assert_int_equal(a->kv[ka].n, 32000);
  assert_int_equal(b->kv[kb].n, 32000);
  for (uint64_t i = 0; i < 32000; i++) {
    const char *sa, *sb;
    size_t la, lb;
    assert_int_equal(dq_gguf_arr_str(a, ka, i, &sa, &la), 0);
    assert_int_equal(dq_gguf_arr_str(b, kb, i, &sb, &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
  }
  /* Q4_K_M mixes types: Q4_K weights and a Q6_K output and ffn_down */
  assert_int_equal(dq_gguf_tensor_find(a, "output.weight")->type, DQ_T_Q6_K);
  assert_int_equal(dq_gguf_tensor_find(a, "blk.0.attn_q.weight")->type, DQ_T_Q4_K);
  assert_int_equal(dq_gguf_tensor_find(a, "blk.0.attn_q.bias")->type, DQ_T_F32);
  assert_int_equal(dq_gguf_tensor_find(a, "blk.0.attn_q.bias")->ne[0], 256);
  float fb;
  assert_int_equal(dq_gguf_get_f32(a, "qwen2.rope.freq_base", &fb), 0);
  assert_float_equal(fb, 1e6f, 0.5f);
  const char *s;
  size_t n;
  assert_int_equal(dq_gguf_get_str(a, "qwen2.rope.scaling.type", &s, &n), 0);
  assert_int_equal(n, 4);
  assert_memory_equal(s, "yarn", 4);
  dq_gguf_close(a);
  dq_gguf_close(b);
}

/* ---- writer round trip ------------------------------------------------------ */

static void test_engine_gguf__writer_round_trip(void **state)
{
  (void)state;
  uint8_t *buf;
  size_t n;
  small_file(&buf, &n);
  dq_gguf *g;
  assert_int_equal(dq_gguf_from_buffer(&g, buf, n), 0);
  assert_int_equal(g->version, 3);
  assert_int_equal(g->alignment, 32);
  assert_int_equal(g->n_kv, 8);
  assert_int_equal(g->n_tensors, 3);
  assert_false(g->mapped);
  assert_string_equal(g->path, "<buffer>");
  uint32_t u;
  int32_t i;
  float f;
  int b;
  uint64_t u64;
  assert_int_equal(dq_gguf_get_u32(g, "llama.block_count", &u), 0);
  assert_int_equal(u, 5);
  assert_int_equal(dq_gguf_get_u64(g, "llama.block_count", &u64), 0);
  assert_int_equal(u64, 5);
  assert_int_equal(dq_gguf_get_i32(g, "test.neg", &i), 0);
  assert_int_equal(i, -3);
  assert_int_equal(dq_gguf_get_f32(g, "test.f", &f), 0);
  assert_true(f == 1.5f);
  assert_int_equal(dq_gguf_get_f32(g, "test.neg", &f), 0); /* integers convert to float */
  assert_true(f == -3.0f);
  assert_int_equal(dq_gguf_get_bool(g, "test.b", &b), 0);
  assert_int_equal(b, 1);
  long k = dq_gguf_find(g, "tokenizer.ggml.tokens");
  assert_true(k >= 0);
  static const char *toks[] = {"<unk>", "hello", "", "w\xc3\xb6rld"};
  for (int j = 0; j < 4; j++) {
    const char *s;
    size_t l;
    assert_int_equal(dq_gguf_arr_str(g, k, (uint64_t)j, &s, &l), 0);
    assert_int_equal(l, strlen(toks[j]));
    assert_memory_equal(s, toks[j], l);
  }
  const char *s;
  size_t l;
  assert_int_equal(dq_gguf_arr_str(g, k, 4, &s, &l), DOCQ_EINVAL);
  assert_int_equal(dq_gguf_arr_str(g, dq_gguf_find(g, "test.ints"), 0, &s, &l), DOCQ_ECORRUPT);
  int at;
  uint64_t an;
  const void *ad;
  assert_int_equal(dq_gguf_get_arr(g, "test.ints", &at, &an, &ad), 0);
  assert_int_equal(at, DQ_GGUF_I32);
  assert_int_equal(an, 3);
  int32_t iv[3];
  memcpy(iv, ad, sizeof iv);
  assert_int_equal(iv[0], -1);
  assert_int_equal(iv[2], 7);
  assert_int_equal(dq_gguf_get_arr(g, "test.floats", &at, &an, &ad), 0);
  float fv[2];
  memcpy(fv, ad, sizeof fv);
  assert_true(fv[0] == 0.5f && fv[1] == -2.0f);

  const dq_gguf_tensor *t = dq_gguf_tensor_find(g, "a.weight");
  assert_non_null(t);
  assert_int_equal(t->ne[0], 4);
  assert_int_equal(t->ne[1], 2);
  assert_int_equal(t->ne[2], 1);
  assert_int_equal(t->nbytes, 32);
  float av[8];
  memcpy(av, t->data, sizeof av);
  for (int j = 0; j < 8; j++) assert_true(av[j] == (float)(j + 1));
  t = dq_gguf_tensor_find(g, "q.weight");
  assert_int_equal(t->type, DQ_T_Q8_0);
  assert_int_equal(t->nbytes, 68);
  assert_int_equal(t->offset, 32);
  for (int j = 0; j < 68; j++) assert_int_equal(((const uint8_t *)t->data)[j], (uint8_t)(j * 7));
  t = dq_gguf_tensor_find(g, "c.bias");
  assert_int_equal(t->offset, 128); /* 68 padded to 96, + 32 */
  assert_int_equal(((uintptr_t)t->data - (uintptr_t)g->base) % 32, 0);
  assert_null(dq_gguf_tensor_find(g, "missing"));
  check_layout(g);
  dq_gguf_close(g);
  dq_free(buf);
}

/* A FIFO given as the model (no writer on the other end) is refused at
 * once as not a regular file: the open blocked until Ctrl-C. The alarm
 * turns such a block into a failure instead of a hung test. */
static void test_engine_gguf__fifo_refused_without_blocking(void **state)
{
  (void)state;
  char dir[] = "/tmp/docq_test_fifo_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/model.gguf", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  alarm(10);
  dq_gguf *g = NULL;
  assert_int_equal(dq_gguf_open(&g, path), DOCQ_EIO);
  alarm(0);
  assert_null(g);
  assert_non_null(strstr(dq_err_msg(), "not a regular file"));
  unlink(path);
  rmdir(dir);
}

static void test_engine_gguf__writer_alignment_and_file(void **state)
{
  (void)state;
  dq_gw *w = dq_gw_new();
  assert_int_equal(dq_gw_set_alignment(w, 256), 0);
  assert_int_equal(dq_gw_add_u64(w, "big", 1ull << 40), 0);
  assert_int_equal(dq_gw_add_i64(w, "neg64", -5), 0);
  assert_int_equal(dq_gw_add_f64(w, "f64", 0.25), 0);
  assert_int_equal(dq_gw_add_u8(w, "u8", 200), 0);
  float x[2 * 256];
  for (int i = 0; i < 512; i++) x[i] = sinf((float)i * 0.1f);
  int64_t ne[2] = {256, 2};
  assert_int_equal(dq_gw_add_tensor_f32(w, "t0", DQ_T_Q4_K, 2, ne, x), 0);
  assert_int_equal(dq_gw_add_tensor_f32(w, "t1", DQ_T_F16, 2, ne, x), 0);
  assert_int_equal(dq_gw_add_tensor_f32(w, "t2", DQ_T_Q8_0, 2, ne, x), 0);
  int64_t bad[1] = {33};
  assert_int_equal(dq_gw_add_tensor(w, "bad", DQ_T_Q8_0, 1, bad, NULL), DOCQ_EINVAL);
  char path[] = "/tmp/docq_test_gguf_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(dq_gw_write_file(w, path), 0);
  dq_gw_free(w);
  dq_gguf *g;
  assert_int_equal(dq_gguf_open(&g, path), 0);
  assert_int_equal(g->alignment, 256);
  assert_int_equal(g->data_offset % 256, 0);
  check_layout(g);
  uint64_t u64;
  uint32_t u32;
  int32_t i32;
  float f;
  assert_int_equal(dq_gguf_get_u64(g, "big", &u64), 0);
  assert_true(u64 == 1ull << 40);
  assert_int_equal(dq_gguf_get_u32(g, "big", &u32), DOCQ_ECORRUPT);
  assert_non_null(strstr(dq_err_msg(), "'big'"));
  assert_int_equal(dq_gguf_get_i32(g, "neg64", &i32), 0);
  assert_int_equal(i32, -5);
  assert_int_equal(dq_gguf_get_u64(g, "neg64", &u64), DOCQ_ECORRUPT);
  assert_int_equal(dq_gguf_get_u32(g, "u8", &u32), 0);
  assert_int_equal(u32, 200);
  assert_int_equal(dq_gguf_get_f32(g, "f64", &f), 0);
  assert_true(f == 0.25f);
  assert_int_equal(dq_gguf_get_f32(g, "missing", &f), DOCQ_ENOTFOUND);
  const char *s;
  size_t l;
  assert_int_equal(dq_gguf_get_str(g, "u8", &s, &l), DOCQ_ECORRUPT);
  assert_non_null(strstr(dq_err_msg(), "'u8'"));
  int b;
  assert_int_equal(dq_gguf_get_bool(g, "u8", &b), DOCQ_ECORRUPT);
  /* quantized data reads back close to the input */
  float y[256];
  const dq_gguf_tensor *t = dq_gguf_tensor_find(g, "t2");
  dq_dequant_row_ref(DQ_T_Q8_0, (const uint8_t *)t->data + dq_type_row_bytes(DQ_T_Q8_0, 256), y, 256);
  for (int i = 0; i < 256; i++) assert_float_equal(y[i], x[256 + i], 0.01f);
  t = dq_gguf_tensor_find(g, "t0");
  assert_int_equal(t->nbytes, 288);
  assert_int_equal(((uintptr_t)t->data) % 256, 0); /* mmap is page aligned */
  dq_gguf_close(g);
  unlink(path);
}

/* Names, shapes, types and metadata keys of the writer's qwen2 model must
 * match the real fixture (converted by llama.cpp's tools) of the same shape. */
static void test_engine_gguf__model_writer_matches_qwen2_fixture(void **state)
{
  (void)state;
  NEED_SHARED(dir);
  char p[4096];
  snprintf(p, sizeof p, "%s/models/tiny-qwen2-q8_0.gguf", dir);
  dq_gguf *ref;
  assert_int_equal(dq_gguf_open(&ref, p), 0);
  dq_gw_model_params mp;
  dq_gw_model_params_default(&mp);
  mp.arch = "qwen2";
  mp.n_layer = 2;
  mp.n_embd = 256;
  mp.n_head = 4;
  mp.n_head_kv = 2;
  mp.n_ff = 704;
  mp.n_vocab = 32000;
  mp.n_ctx = 4096;
  mp.rope_scaling_type = "yarn";
  mp.rope_scaling_factor = 4;
  mp.rope_orig_ctx = 1024;
  mp.weight_type = DQ_T_Q8_0;
  dq_gw *w;
  assert_int_equal(dq_gw_model(&w, &mp), 0);
  uint8_t *buf;
  size_t n;
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  dq_gw_free(w);
  dq_gguf *g;
  assert_int_equal(dq_gguf_from_buffer(&g, buf, n), 0);
  check_layout(g);
  assert_int_equal(g->n_tensors, ref->n_tensors);
  for (size_t i = 0; i < ref->n_tensors; i++) {
    const dq_gguf_tensor *rt = &ref->tensors[i], *t = dq_gguf_tensor_find(g, rt->name);
    if (!t) fail_msg("writer lacks tensor %s", rt->name);
    assert_int_equal(t->type, rt->type);
    assert_int_equal(t->n_dims, rt->n_dims);
    for (int j = 0; j < 4; j++) assert_int_equal(t->ne[j], rt->ne[j]);
  }
  for (size_t i = 0; i < ref->n_kv; i++) {
    const char *k = ref->kv[i].key;
    if (!strcmp(k, "tokenizer.ggml.pre")) continue;
    long gi = dq_gguf_find(g, k);
    if (gi < 0) fail_msg("writer lacks key %s", k);
    assert_int_equal(g->kv[gi].type, ref->kv[i].type);
    int ty = ref->kv[i].type;
    if (ty != DQ_GGUF_STRING && ty != DQ_GGUF_ARRAY && strcmp(k, "general.file_type"))
      assert_memory_equal(g->kv[gi].data, ref->kv[i].data, ty == DQ_GGUF_BOOL ? 1 : 4); /* same hyperparameters */
  }
  /* a Q8_0 row dequantizes to values of the requested spread */
  const dq_gguf_tensor *t = dq_gguf_tensor_find(g, "blk.1.ffn_down.weight");
  float row[704];
  dq_dequant_row_ref(t->type, t->data, row, 704);
  float mx = 0;
  for (int i = 0; i < 704; i++) mx = fmaxf(mx, fabsf(row[i]));
  assert_true(mx > 0.015f && mx < 0.0205f);
  dq_gguf_close(g);
  dq_gguf_close(ref);
  dq_free(buf);
}

static void test_engine_gguf__model_writer_llama_tied_and_vocab(void **state)
{
  (void)state;
  dq_gw_model_params mp;
  dq_gw_model_params_default(&mp);
  mp.tied_embeddings = 1;
  mp.weight_type = DQ_T_Q4_K; /* n_embd 64 is not a multiple of 256: falls back to f32 */
  mp.embd_type = DQ_T_F16;
  mp.n_vocab = 400;
  dq_gw *w;
  assert_int_equal(dq_gw_model(&w, &mp), 0);
  uint8_t *buf;
  size_t n;
  assert_int_equal(dq_gw_write_mem(w, &buf, &n), 0);
  dq_gw_free(w);
  dq_gguf *g;
  assert_int_equal(dq_gguf_from_buffer(&g, buf, n), 0);
  assert_null(dq_gguf_tensor_find(g, "output.weight"));
  assert_null(dq_gguf_tensor_find(g, "blk.0.attn_q.bias"));
  assert_int_equal(dq_gguf_tensor_find(g, "token_embd.weight")->type, DQ_T_F16);
  assert_int_equal(dq_gguf_tensor_find(g, "blk.1.attn_q.weight")->type, DQ_T_F32);
  assert_int_equal(dq_gguf_tensor_find(g, "blk.1.attn_k.weight")->ne[1], 32);
  assert_int_equal(g->n_tensors, 1 + 2 * 9 + 1);
  uint32_t u;
  assert_int_equal(dq_gguf_get_u32(g, "llama.rope.dimension_count", &u), 0);
  assert_int_equal(u, 16);
  /* vocabulary: unique strings, byte tokens at 3..258 with type 6 */
  long k = dq_gguf_find(g, "tokenizer.ggml.tokens");
  assert_int_equal(g->kv[k].n, 400);
  const char *s;
  size_t l;
  assert_int_equal(dq_gguf_arr_str(g, k, 3 + 0x41, &s, &l), 0);
  assert_int_equal(l, 6);
  assert_memory_equal(s, "<0x41>", 6);
  assert_int_equal(dq_gguf_arr_str(g, k, 259, &s, &l), 0);
  assert_memory_equal(s, "\xe2\x96\x81", 3);
  for (uint64_t i = 0; i < 400; i++)
    for (uint64_t j = i + 1; j < 400; j++) {
      const char *a, *b;
      size_t la, lb;
      dq_gguf_arr_str(g, k, i, &a, &la);
      dq_gguf_arr_str(g, k, j, &b, &lb);
      assert_false(la == lb && !memcmp(a, b, la));
    }
  int at;
  uint64_t an;
  const void *ad;
  assert_int_equal(dq_gguf_get_arr(g, "tokenizer.ggml.token_type", &at, &an, &ad), 0);
  int32_t tt;
  memcpy(&tt, (const int32_t *)ad + 3, 4);
  assert_int_equal(tt, 6);
  memcpy(&tt, (const int32_t *)ad + 1, 4);
  assert_int_equal(tt, 3);
  dq_gguf_close(g);
  dq_free(buf);
}

/* ---- corruption --------------------------------------------------------------- */

static void test_engine_gguf__truncated_at_every_offset(void **state)
{
  (void)state;
  uint8_t *buf;
  size_t n;
  small_file(&buf, &n);
  for (size_t cut = 0; cut < n; cut++) {
    dq_gguf *g = (dq_gguf *)1;
    int rc = parse_copy(&g, buf, cut);
    if (rc != DOCQ_ECORRUPT) fail_msg("cut at %zu of %zu: rc %d (%s)", cut, n, rc, dq_err_msg());
    assert_null(g);
  }
  /* the last tensor's data ending past the end names it and the sizes */
  dq_gguf *g;
  assert_true(n > 1);
  parse_copy(&g, buf, n > 1 ? n - 1 : 0); /* (the guard tells the optimizer n - 1 cannot wrap) */
  assert_non_null(strstr(dq_err_msg(), "<buffer>: tensor 'c.bias' data ends at byte"));
  assert_non_null(strstr(dq_err_msg(), "past the end of the file"));
  assert_non_null(strstr(dq_err_msg(), "truncated"));
  assert_int_equal(parse_copy(&g, buf, n), 0);
  close_copy(g);
  dq_free(buf);
}

/* Flip every byte of the header and directory: never a crash (ASan) and
 * either a clean parse or a proper error code. */
static void test_engine_gguf__every_byte_flipped(void **state)
{
  (void)state;
  uint8_t *buf;
  size_t n;
  small_file(&buf, &n);
  dq_gguf *g0;
  assert_int_equal(dq_gguf_from_buffer(&g0, buf, n), 0);
  size_t hdr = g0->data_offset;
  dq_gguf_close(g0);
  static const uint8_t flips[] = {0xFF, 0x80, 0x01, 0x7F};
  for (size_t i = 0; i < hdr; i++)
    for (size_t f = 0; f < sizeof flips; f++) {
      buf[i] ^= flips[f];
      dq_gguf *g;
      int rc = parse_copy(&g, buf, n);
      assert_true(rc == 0 || rc == DOCQ_ECORRUPT || rc == DOCQ_EUNSUPPORTED);
      if (rc == 0) close_copy(g);
      buf[i] ^= flips[f];
    }
  dq_free(buf);
}

static void test_engine_gguf__bad_header(void **state)
{
  (void)state;
  uint8_t *buf;
  size_t n;
  small_file(&buf, &n);
  uint8_t *b = malloc(n);
  /* magic */
  memcpy(b, buf, n);
  b[0] = 'g';
  expect_fail(b, n, DOCQ_ECORRUPT, "not a GGUF file");
  /* version 1, 0, 4, byte-swapped 3 and 2 */
  memcpy(b, buf, n);
  put_u32(b + 4, 1);
  expect_fail(b, n, DOCQ_EUNSUPPORTED, "version 1");
  put_u32(b + 4, 0);
  expect_fail(b, n, DOCQ_ECORRUPT, "version 0");
  put_u32(b + 4, 4);
  expect_fail(b, n, DOCQ_EUNSUPPORTED, "version 4");
  put_u32(b + 4, 0x03000000u);
  expect_fail(b, n, DOCQ_EUNSUPPORTED, "big-endian");
  put_u32(b + 4, 0x02000000u);
  expect_fail(b, n, DOCQ_EUNSUPPORTED, "big-endian");
  put_u32(b + 4, 2); /* v2 has the same layout: accepted */
  dq_gguf *g;
  assert_int_equal(parse_copy(&g, b, n), 0);
  assert_int_equal(g->version, 2);
  close_copy(g);
  /* huge counts */
  memcpy(b, buf, n);
  put_u64(b + 16, UINT64_MAX);
  expect_fail(b, n, DOCQ_ECORRUPT, "more than the");
  memcpy(b, buf, n);
  put_u64(b + 16, 1ull << 40);
  expect_fail(b, n, DOCQ_ECORRUPT, "keys");
  memcpy(b, buf, n);
  put_u64(b + 8, (uint64_t)n / 33 + 1);
  expect_fail(b, n, DOCQ_ECORRUPT, "tensors");
  /* fewer keys than present: the parser reads kv bytes as tensor entries */
  memcpy(b, buf, n);
  put_u64(b + 16, 7);
  expect_fail(b, n, DOCQ_ECORRUPT, NULL);
  free(b);
  dq_free(buf);
  /* empty and tiny buffers */
  expect_fail((const uint8_t *)"", 0, DOCQ_ECORRUPT, "too short");
  expect_fail((const uint8_t *)"GGUF", 4, DOCQ_ECORRUPT, "truncated");
}

/* Build a file with one kv whose encoded type/value bytes are given. */
static void one_raw_kv(uint8_t **out, size_t *n, const char *key, uint32_t type, const void *val, size_t vlen)
{
  dq_gw *w = dq_gw_new();
  assert_int_equal(dq_gw_add_raw(w, key, type, val, vlen), 0);
  assert_int_equal(dq_gw_write_mem(w, out, n), 0);
  dq_gw_free(w);
}

static void test_engine_gguf__hostile_metadata(void **state)
{
  (void)state;
  uint8_t *b;
  size_t n;
  uint8_t v[32];
  /* string value of 2^62 bytes */
  put_u64(v, 1ull << 62);
  one_raw_kv(&b, &n, "k.str", DQ_GGUF_STRING, v, 8);
  expect_fail(b, n, DOCQ_ECORRUPT, "above the limit");
  dq_free(b);
  /* string value longer than the file but under the cap */
  put_u64(v, 1000);
  one_raw_kv(&b, &n, "k.str", DQ_GGUF_STRING, v, 8);
  expect_fail(b, n, DOCQ_ECORRUPT, "key 'k.str'");
  dq_free(b);
  /* array of 2^61 u64, of 2^62 strings, array of arrays, unknown element and value types */
  put_u32(v, DQ_GGUF_U64);
  put_u64(v + 4, 1ull << 61);
  one_raw_kv(&b, &n, "k.arr", DQ_GGUF_ARRAY, v, 12);
  expect_fail(b, n, DOCQ_ECORRUPT, "k.arr");
  dq_free(b);
  put_u32(v, DQ_GGUF_STRING);
  put_u64(v + 4, 1ull << 62);
  one_raw_kv(&b, &n, "k.arr", DQ_GGUF_ARRAY, v, 12);
  expect_fail(b, n, DOCQ_ECORRUPT, "string array");
  dq_free(b);
  put_u32(v, DQ_GGUF_ARRAY);
  put_u64(v + 4, 1);
  put_u32(v + 12, DQ_GGUF_U8);
  put_u64(v + 16, 1);
  v[24] = 0;
  one_raw_kv(&b, &n, "k.nested", DQ_GGUF_ARRAY, v, 25);
  expect_fail(b, n, DOCQ_EUNSUPPORTED, "array of arrays");
  dq_free(b);
  put_u32(v, 13);
  put_u64(v + 4, 1);
  one_raw_kv(&b, &n, "k.arr", DQ_GGUF_ARRAY, v, 16);
  expect_fail(b, n, DOCQ_ECORRUPT, "unknown type");
  dq_free(b);
  one_raw_kv(&b, &n, "k.weird", 13, v, 4);
  expect_fail(b, n, DOCQ_ECORRUPT, "unknown value type");
  dq_free(b);
  v[0] = 2;
  one_raw_kv(&b, &n, "k.bool", DQ_GGUF_BOOL, v, 1);
  expect_fail(b, n, DOCQ_ECORRUPT, "bool");
  dq_free(b);
  /* key with an embedded NUL, empty key, enormous key length */
  dq_gw *w = dq_gw_new();
  assert_int_equal(dq_gw_add_u32(w, "a_key", 1), 0);
  assert_int_equal(dq_gw_write_mem(w, &b, &n), 0);
  dq_gw_free(w);
  find_bytes(b, n, "a_key")[1] = 0;
  expect_fail(b, n, DOCQ_ECORRUPT, "NUL");
  put_u64(find_bytes(b, n, "a") - 8, 0);
  expect_fail(b, n, DOCQ_ECORRUPT, "empty key");
  put_u64(b + 24, UINT64_MAX);
  expect_fail(b, n, DOCQ_ECORRUPT, "above the limit");
  dq_free(b);
  /* duplicate key */
  w = dq_gw_new();
  assert_int_equal(dq_gw_add_u32(w, "general.x", 1), 0);
  assert_int_equal(dq_gw_add_str(w, "general.y", "y"), 0);
  assert_int_equal(dq_gw_add_u32(w, "general.x", 2), 0);
  assert_int_equal(dq_gw_write_mem(w, &b, &n), 0);
  dq_gw_free(w);
  expect_fail(b, n, DOCQ_ECORRUPT, "duplicate key 'general.x'");
  dq_free(b);
}

static void test_engine_gguf__bad_alignment(void **state)
{
  (void)state;
  static const uint32_t bad[] = {0, 3, 48, 0x80000001u};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dq_gw *w = dq_gw_new();
    assert_int_equal(dq_gw_add_u32(w, "general.alignment", bad[i]), 0);
    uint8_t *b;
    size_t n;
    assert_int_equal(dq_gw_write_mem(w, &b, &n), 0);
    dq_gw_free(w);
    expect_fail(b, n, DOCQ_ECORRUPT, "general.alignment");
    dq_free(b);
  }
  dq_gw *w = dq_gw_new();
  assert_int_equal(dq_gw_add_str(w, "general.alignment", "32"), 0);
  uint8_t *b;
  size_t n;
  assert_int_equal(dq_gw_write_mem(w, &b, &n), 0);
  dq_gw_free(w);
  expect_fail(b, n, DOCQ_ECORRUPT, "'general.alignment' is of type string");
  dq_free(b);
}

static void test_engine_gguf__hostile_tensors(void **state)
{
  (void)state;
  uint8_t *buf, *b;
  size_t n;
  small_file(&buf, &n);
  b = malloc(n);
  tinfo t;
#define FRESH() (memcpy(b, buf, n), t = find_tensor_info(b, n, "q.weight"))
  FRESH();
  put_u32(t.type, 5); /* removed Q4_3 */
  expect_fail(b, n, DOCQ_ECORRUPT, "tensor 'q.weight' has ggml type 5, which docq does not know");
  FRESH();
  put_u32(t.type, 1000);
  expect_fail(b, n, DOCQ_ECORRUPT, "ggml type 1000, which docq does not know");
  FRESH();
  put_u64(t.ne, 33); /* not a multiple of 32 */
  expect_fail(b, n, DOCQ_ECORRUPT, "not a multiple of the q8_0 block size");
  FRESH();
  put_u64(t.ne, 0);
  expect_fail(b, n, DOCQ_ECORRUPT, "dimension 0 is 0");
  FRESH();
  put_u64(t.ne + 8, 1ull << 63);
  expect_fail(b, n, DOCQ_ECORRUPT, "dimension 1");
  FRESH();
  put_u64(t.ne, 1ull << 35);
  put_u64(t.ne + 8, 1ull << 35); /* 2^70 elements */
  expect_fail(b, n, DOCQ_ECORRUPT, "overflows");
  FRESH();
  put_u64(t.ne, 32ull << 30);
  put_u64(t.ne + 8, 1ull << 26); /* 2^61 elements, bytes overflow */
  expect_fail(b, n, DOCQ_ECORRUPT, "'q.weight'");
  FRESH();
  put_u64(t.ne + 8, 1ull << 20); /* fits, but the data runs past the file */
  expect_fail(b, n, DOCQ_ECORRUPT, "tensor 'q.weight' data ends at byte");
  FRESH();
  put_u32(t.n_dims, 0);
  expect_fail(b, n, DOCQ_ECORRUPT, "0 dimensions");
  FRESH();
  put_u32(t.n_dims, 5);
  expect_fail(b, n, DOCQ_ECORRUPT, "5 dimensions");
  FRESH();
  put_u64(t.offset, 33);
  expect_fail(b, n, DOCQ_ECORRUPT, "not a multiple of the alignment");
  FRESH();
  put_u64(t.offset, 0); /* overlaps a.weight */
  expect_fail(b, n, DOCQ_ECORRUPT, "overlap");
  FRESH();
  put_u64(t.offset, 1ull << 40);
  expect_fail(b, n, DOCQ_ECORRUPT, "past the end of the file");
  FRESH();
  put_u64(t.offset, UINT64_MAX - 31);
  expect_fail(b, n, DOCQ_ECORRUPT, "past the end of the file");
  FRESH();
  memcpy(find_bytes(b, n, "q.weight"), "a.weight", 8);
  expect_fail(b, n, DOCQ_ECORRUPT, "duplicate tensor name 'a.weight'");
  FRESH();
  t.n_dims[-1] = 0; /* NUL inside the name */
  expect_fail(b, n, DOCQ_ECORRUPT, "NUL");
#undef FRESH
  free(b);
  dq_free(buf);
}

/* ---- files, getters, allocation failure ------------------------------------- */

static void test_engine_gguf__open_errors(void **state)
{
  (void)state;
  dq_gguf *g = (dq_gguf *)1;
  assert_int_equal(dq_gguf_open(&g, "/nonexistent/model.gguf"), DOCQ_ENOTFOUND);
  assert_null(g);
  assert_non_null(strstr(dq_err_msg(), "/nonexistent/model.gguf"));
  assert_int_equal(dq_gguf_open(&g, "/tmp"), DOCQ_EIO);
  assert_int_equal(dq_gguf_open(NULL, "/tmp"), DOCQ_EINVAL);
  assert_int_equal(dq_gguf_open(&g, NULL), DOCQ_EINVAL);
  /* a truncated file on disk names the file */
  uint8_t *buf;
  size_t n;
  small_file(&buf, &n);
  char path[] = "/tmp/docq_test_gguf_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, buf, n - 10), (ssize_t)(n - 10));
  close(fd);
  assert_int_equal(dq_gguf_open(&g, path), DOCQ_ECORRUPT);
  assert_non_null(strstr(dq_err_msg(), path));
  assert_non_null(strstr(dq_err_msg(), "tensor 'c.bias'"));
  unlink(path);
  dq_free(buf);
  dq_gguf_close(NULL);
  assert_int_equal(dq_gguf_find(NULL, "x"), -1);
}

static void test_engine_gguf__allocation_failures(void **state)
{
  (void)state;
  uint8_t *buf;
  size_t n;
  small_file(&buf, &n);
  int succeeded = 0;
  for (long k = 0; k < 100 && !succeeded; k++) {
    dq_gguf *g;
    dq_mem_fail_after(k);
    int rc = dq_gguf_from_buffer(&g, buf, n);
    dq_mem_fail_after(-1);
    if (rc == 0) {
      succeeded = 1;
      dq_gguf_close(g);
    } else {
      assert_int_equal(rc, DOCQ_ENOMEM);
      assert_null(g);
    }
  }
  assert_true(succeeded);
  dq_free(buf);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_gguf__type_table_matches_ggml),
    cmocka_unit_test(test_engine_gguf__parses_every_shared_file),
    cmocka_unit_test(test_engine_gguf__stories260k_facts),
    cmocka_unit_test(test_engine_gguf__qwen2_fixture_and_spm_vocab_agree),
    cmocka_unit_test(test_engine_gguf__writer_round_trip),
    cmocka_unit_test(test_engine_gguf__writer_alignment_and_file),
    cmocka_unit_test(test_engine_gguf__fifo_refused_without_blocking),
    cmocka_unit_test(test_engine_gguf__model_writer_matches_qwen2_fixture),
    cmocka_unit_test(test_engine_gguf__model_writer_llama_tied_and_vocab),
    cmocka_unit_test(test_engine_gguf__truncated_at_every_offset),
    cmocka_unit_test(test_engine_gguf__every_byte_flipped),
    cmocka_unit_test(test_engine_gguf__bad_header),
    cmocka_unit_test(test_engine_gguf__hostile_metadata),
    cmocka_unit_test(test_engine_gguf__bad_alignment),
    cmocka_unit_test(test_engine_gguf__hostile_tensors),
    cmocka_unit_test(test_engine_gguf__open_errors),
    cmocka_unit_test(test_engine_gguf__allocation_failures),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  if (failed == 0 && !shared_dir()) {
    fprintf(stderr, "test_gguf: DOCQ_SHARED_DIR is not set or has no models/stories260K.gguf: "
                    "the real-file tests were skipped\n");
    return 77;
  }
  return failed;
}
