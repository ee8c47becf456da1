/* Writes the seed corpus of fuzz_gguf (tests/fuzz/corpus/gguf/): small valid
 * files covering every metadata type, tensor types, alignments, versions and
 * tiny llama/qwen2 models, plus invalid files each breaking one rule the
 * reader checks. Every file is < 64 KiB. Deterministic: rerunning rewrites
 * identical bytes. Not part of the build; regenerate with:
 *
 *   gcc -std=c11 -D_GNU_SOURCE -I. -Isrc -Iinclude -Itests \
 *     tests/fuzz/gen_gguf_corpus.c tests/support/gguf_writer.c \
 *     build/libdocq.a -lsqlite3 -lutf8proc -lfaiss_c -lfaiss -lopenblas -lgomp -lstdc++ -lm \
 *     -o /tmp/gen_gguf_corpus && /tmp/gen_gguf_corpus tests/fuzz/corpus/gguf
 * (or list the few sources it needs: gguf.c, quant_ref.c, err.c, mem.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/gguf_writer.h"
#include "util/err.h"

static const char *outdir;

static void save(const char *name, const uint8_t *p, size_t n)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", outdir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "%s: write failed\n", path);
    exit(1);
  }
  if (n >= 65536) {
    fprintf(stderr, "%s: %zu bytes, over the 64 KiB seed limit\n", path, n);
    exit(1);
  }
}

static void check(int rc)
{
  if (rc < 0) {
    fprintf(stderr, "error %d: %s\n", rc, dq_err_msg());
    exit(1);
  }
}

static void save_gw(const char *name, dq_gw *w)
{
  uint8_t *p;
  size_t n;
  check(dq_gw_write_mem(w, &p, &n));
  save(name, p, n);
  dq_free(p);
  dq_gw_free(w);
}

static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static uint8_t *find(uint8_t *p, size_t n, const char *s)
{
  size_t k = strlen(s);
  for (size_t i = 0; i + k <= n; i++)
    if (!memcmp(p + i, s, k)) return p + i;
  fprintf(stderr, "'%s' not found\n", s);
  exit(1);
}

/* Every metadata type and three tensors (f32, q8_0, f16). */
static dq_gw *all_types(void)
{
  dq_gw *w = dq_gw_new();
  static const char *toks[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81the", "", "\xe4\xb8\xad"};
  int32_t ints[4] = {-1, 0, 1, 2147483647};
  float fl[3] = {0.5f, -2.0f, 1e-6f};
  uint8_t u8s[3] = {1, 2, 255};
  check(dq_gw_add_str(w, "general.architecture", "llama"));
  check(dq_gw_add_u8(w, "t.u8", 7));
  check(dq_gw_add_u32(w, "llama.block_count", 1));
  check(dq_gw_add_i32(w, "t.i32", -5));
  check(dq_gw_add_u64(w, "t.u64", 1ull << 40));
  check(dq_gw_add_i64(w, "t.i64", -(1ll << 40)));
  check(dq_gw_add_f32(w, "t.f32", 1.5f));
  check(dq_gw_add_f64(w, "t.f64", 0.25));
  check(dq_gw_add_bool(w, "t.bool", 1));
  check(dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, 6));
  check(dq_gw_add_arr(w, "t.ints", DQ_GGUF_I32, ints, 4));
  check(dq_gw_add_arr(w, "t.floats", DQ_GGUF_F32, fl, 3));
  check(dq_gw_add_arr(w, "t.u8s", DQ_GGUF_U8, u8s, 3));
  check(dq_gw_add_arr(w, "t.empty", DQ_GGUF_U32, NULL, 0));
  float x[64];
  for (int i = 0; i < 64; i++) x[i] = (float)(i % 7) - 3.0f;
  int64_t ne2[2] = {32, 2}, ne1[1] = {8};
  check(dq_gw_add_tensor_f32(w, "a.weight", DQ_T_F32, 1, ne1, x));
  check(dq_gw_add_tensor_f32(w, "q.weight", DQ_T_Q8_0, 2, ne2, x));
  check(dq_gw_add_tensor_f32(w, "h.weight", DQ_T_F16, 2, ne2, x));
  return w;
}

static void valid_files(void)
{
  save_gw("valid_all_types.gguf", all_types());

  dq_gw *w = all_types();
  dq_gw_set_version(w, 2);
  save_gw("valid_v2.gguf", w);

  /* every block type the reader knows, one or two rows each */
  w = dq_gw_new();
  check(dq_gw_set_alignment(w, 64));
  static const int types[] = {DQ_T_Q4_0, DQ_T_Q4_1, DQ_T_Q5_0, DQ_T_Q5_1, DQ_T_Q8_1, DQ_T_Q2_K, DQ_T_Q3_K,
                              DQ_T_Q4_K, DQ_T_Q5_K, DQ_T_Q6_K, DQ_T_Q8_K, DQ_T_I8,   DQ_T_I16,  DQ_T_I32,
                              DQ_T_I64,  DQ_T_F64,  DQ_T_BF16};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    char name[32];
    int64_t ne[3] = {(int64_t)dq_type_info_get(types[i])->block_elems, 1 + (int64_t)(i % 2), 1};
    snprintf(name, sizeof name, "t%zu.%s", i, dq_type_info_get(types[i])->name);
    check(dq_gw_add_tensor(w, name, types[i], 3, ne, NULL));
  }
  save_gw("valid_block_types_align64.gguf", w);

  /* vocabulary only, no tensors, alignment 8 */
  w = dq_gw_new();
  check(dq_gw_set_alignment(w, 8));
  static const char *toks[] = {"a", "b", "ab", "\xc3\xa9t\xc3\xa9"};
  float sc[4] = {0, -1, -2, -3};
  check(dq_gw_add_str(w, "tokenizer.ggml.model", "llama"));
  check(dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", toks, 4));
  check(dq_gw_add_arr(w, "tokenizer.ggml.scores", DQ_GGUF_F32, sc, 4));
  save_gw("valid_vocab_only.gguf", w);

  /* tiny models the engine could load */
  dq_gw_model_params mp;
  dq_gw_model_params_default(&mp);
  mp.n_layer = 1;
  mp.n_embd = 32;
  mp.n_head = 4;
  mp.n_head_kv = 2;
  mp.n_ff = 64;
  mp.n_vocab = 64;
  mp.n_ctx = 64;
  mp.weight_type = DQ_T_Q8_0;
  check(dq_gw_model(&w, &mp));
  save_gw("model_llama_q8_0.gguf", w);
  mp.arch = "qwen2";
  mp.weight_type = DQ_T_Q4_0;
  mp.tied_embeddings = 1;
  mp.rope_scaling_type = "yarn";
  mp.rope_scaling_factor = 4;
  mp.rope_orig_ctx = 32;
  check(dq_gw_model(&w, &mp));
  save_gw("model_qwen2_q4_0_tied.gguf", w);
}

/* Invalid files, each breaking one rule. */
static void invalid_files(void)
{
  uint8_t *p, *c;
  size_t n;
  dq_gw *w = all_types();
  check(dq_gw_write_mem(w, &p, &n));
  dq_gw_free(w);
  c = malloc(n);
#define FRESH() memcpy(c, p, n)
  save("bad_truncated_data.gguf", p, n - 7);
  save("bad_truncated_header.gguf", p, 100);
  FRESH(); put_u32(c + 4, 1); save("bad_version1.gguf", c, n);
  FRESH(); put_u32(c + 4, 0x03000000u); save("bad_big_endian.gguf", c, n);
  FRESH(); c[3] = 'X'; save("bad_magic.gguf", c, n);
  FRESH(); put_u64(c + 16, 1ull << 60); save("bad_huge_n_kv.gguf", c, n);
  FRESH(); put_u64(c + 8, 1ull << 60); save("bad_huge_n_tensors.gguf", c, n);
  FRESH(); put_u64(find(c, n, "general.architecture") + 24, 1ull << 62); save("bad_huge_string.gguf", c, n);
  uint8_t *q = find(c, n, "q.weight") + 8; /* n_dims */
  FRESH(); put_u32(q, 5); save("bad_n_dims.gguf", c, n);
  FRESH(); put_u64(q + 4, 33); save("bad_row_not_block_multiple.gguf", c, n);
  FRESH(); put_u64(q + 4, 1ull << 40); put_u64(q + 12, 1ull << 40); save("bad_ne_overflow.gguf", c, n);
  FRESH(); put_u64(q + 4, 0); save("bad_ne_zero.gguf", c, n);
  FRESH(); put_u32(q + 20, 4); save("bad_tensor_type.gguf", c, n);
  FRESH(); put_u64(q + 24, 0); save("bad_overlap.gguf", c, n);
  FRESH(); put_u64(q + 24, 16); save("bad_misaligned_offset.gguf", c, n);
  FRESH(); put_u64(q + 24, 1ull << 40); save("bad_offset_past_end.gguf", c, n);
  FRESH(); memcpy(find(c, n, "h.weight"), "q.weight", 8); save("bad_duplicate_tensor.gguf", c, n);
  FRESH(); memcpy(find(c, n, "t.i32"), "t.u64", 5); save("bad_duplicate_key.gguf", c, n);
  FRESH(); put_u32(find(c, n, "t.ints") + 10, DQ_GGUF_ARRAY); save("bad_nested_array.gguf", c, n);
  FRESH(); put_u32(find(c, n, "t.bool") + 6, 99); save("bad_value_type.gguf", c, n);
#undef FRESH
  free(c);
  dq_free(p);

  w = dq_gw_new();
  check(dq_gw_add_u32(w, "general.alignment", 48));
  save_gw("bad_alignment.gguf", w);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  outdir = argv[1];
  valid_files();
  invalid_files();
  return 0;
}
