/* The shared Qwen2.5-shaped benchmark models (see qwen_shape.h). */
#include "qwen_shape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/kernels.h"
#include "gguf_writer.h"
#include "util/err.h"

enum { V = DQ_BENCH_VOCAB, CTX = DQ_BENCH_CTX_TRAIN };

/* hd 0: E / H. qwen2: Q/K/V biases. qwen3: no biases, Q/K head norms.
 * gemma3: the same plus post-attention and post-FFN norms, a sliding window of
 * swa; gemma2: gemma3 without the head norms. llama: neither biases nor
 * norms, NORM RoPE with Llama 3's per-pair frequency factors (rope_freqs). */
typedef struct shape { const char *name, *arch; int E, L, H, HKV, F, hd, swa; } shape;
static const shape g_shapes[] = {
  { "0.5b", "qwen2", 896, 24, 14, 2, 4864, 0, 0 },           /* Qwen2.5-0.5B */
  { "1.5b", "qwen2", 1536, 28, 12, 2, 8960, 0, 0 },          /* Qwen2.5-1.5B */
  { "qwen3-0.6b", "qwen3", 1024, 28, 16, 8, 3072, 128, 0 },  /* Qwen3-0.6B */
  { "gemma3-1b", "gemma3", 1152, 26, 4, 1, 6912, 256, 512 }, /* Gemma 3 1B (vocabulary 151936, not 262144) */
  { "gemma2-2b", "gemma2", 2304, 26, 8, 4, 9216, 256, 4096 }, /* Gemma 2 2B (vocabulary 151936, not 256000) */
  { "llama3.2-1b", "llama", 2048, 16, 32, 8, 8192, 64, 0 }, /* Llama 3.2 1B (vocabulary 151936, not 128256) */
};

static int is(const shape *sh, const char *arch) { return !strcmp(sh->arch, arch); }

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double dq_bench_median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double dq_bench_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double dq_bench_cpu(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

uint64_t dq_bench_rng(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int add(dq_gw *w, uint64_t *rng, const char *name, int type, int64_t ne0, int64_t ne1, float center, float scale)
{
  int64_t ne[2] = {ne0, ne1};
  size_t n = (size_t)(ne0 * ne1);
  float *x = malloc(n * sizeof *x);
  if (!x) return DOCQ_ENOMEM;
  for (size_t i = 0; i < n; i++) x[i] = center + scale * ((float)(dq_bench_rng(rng) >> 40) / 8388608.0f - 1.0f);
  int rc = dq_gw_add_tensor_f32(w, name, type, ne1 > 1 ? 2 : 1, ne, x);
  free(x);
  return rc;
}

/* GPT-2's byte -> code point map (printable bytes stand for themselves,
 * the rest are moved to 256+), UTF-8 encoded into o; returns the length. */
static int byte_char(int b, char *o)
{
  int cp = b, n = 0;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    for (int c = 0; c < b; c++) n += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255));
    cp = 256 + n;
  }
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  o[0] = (char)(0xC0 | cp >> 6);
  o[1] = (char)(0x80 | (cp & 0x3F));
  return 2;
}

/* A byte-level BPE vocabulary of Qwen2's size and layout, so llama.cpp loads
 * the same file (it needs the 256 byte tokens, merges and the "qwen2"
 * pre-tokenizer): the byte tokens, then byte pairs / triples (each pair also
 * a merge), then <|endoftext|> and the other specials at 151643. The tokens'
 * text does not matter to the benchmark, only that it is valid. */
enum { N_SPECIAL = 22, FIRST_SPECIAL = V - N_SPECIAL - 271 /* 151643 */ };
static int add_tokenizer(dq_gw *w)
{
  char **tok = calloc(V, sizeof *tok), **merges = calloc(V, sizeof *merges);
  int32_t *type = malloc(V * sizeof *type);
  size_t n_merges = 0;
  int rc = DOCQ_ENOMEM;
  if (!tok || !merges || !type) goto done;
  for (int i = 0; i < V; i++) {
    char buf[64];
    int n = 0;
    type[i] = 1; /* NORMAL */
    if (i < 256) {
      n = byte_char(i, buf);
    } else if (i >= FIRST_SPECIAL) {
      n = i == FIRST_SPECIAL ? snprintf(buf, sizeof buf, "<|endoftext|>") : snprintf(buf, sizeof buf, "<|extra_%d|>", i);
      type[i] = 3; /* CONTROL */
    } else {
      int k = i - 256, a = k % 256, b = (k / 256) % 256, c = k / 65536; /* pairs first, then triples */
      char ma[4], mb[4];
      int la = byte_char(a, ma), lb = byte_char(b, mb);
      if (c == 0) {
        char mg[16];
        snprintf(mg, sizeof mg, "%.*s %.*s", la, ma, lb, mb);
        if (!(merges[n_merges++] = strdup(mg))) goto done;
      }
      memcpy(buf + n, ma, (size_t)la); n += la;
      memcpy(buf + n, mb, (size_t)lb); n += lb;
      if (c) n += byte_char(c, buf + n);
    }
    buf[n] = 0;
    if (!(tok[i] = strdup(buf))) goto done;
  }
  if ((rc = dq_gw_add_str(w, "tokenizer.ggml.model", "gpt2")) < 0 || (rc = dq_gw_add_str(w, "tokenizer.ggml.pre", "qwen2")) < 0 ||
      (rc = dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, V)) < 0 ||
      (rc = dq_gw_add_arr(w, "tokenizer.ggml.token_type", DQ_GGUF_I32, type, V)) < 0 ||
      (rc = dq_gw_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, n_merges)) < 0 ||
      (rc = dq_gw_add_u32(w, "tokenizer.ggml.eos_token_id", FIRST_SPECIAL)) < 0 ||
      (rc = dq_gw_add_u32(w, "tokenizer.ggml.padding_token_id", FIRST_SPECIAL)) < 0 ||
      (rc = dq_gw_add_u32(w, "tokenizer.ggml.bos_token_id", FIRST_SPECIAL)) < 0 ||
      (rc = dq_gw_add_bool(w, "tokenizer.ggml.add_bos_token", 0)) < 0)
    goto done;
  rc = 0;
done:
  for (int i = 0; tok && i < V; i++) free(tok[i]);
  for (size_t i = 0; i < n_merges; i++) free(merges[i]);
  free(tok);
  free(merges);
  free(type);
  return rc;
}

/* Llama 3's rope_freqs.weight, as convert_hf_to_gguf writes it for Llama
 * 3.1/3.2 (rope_scaling factor 32, low/high frequency factors 1 and 4,
 * original context 8192): per rotated pair, 1 for short wavelengths, the
 * factor for long ones, and a blend between. */
static int add_llama3_rope_freqs(dq_gw *w, int hd, float base)
{
  const double factor = 32, low = 1, high = 4, orig = 8192, pi = 3.14159265358979323846;
  float ff[128];
  int64_t ne[1] = {hd / 2};
  if (hd / 2 > 128) return dq_err_set(DOCQ_EINVAL, "head size %d", hd);
  for (int i = 0; i < hd / 2; i++) {
    const double freq = pow(base, -2.0 * i / hd), wavelen = 2 * pi / freq;
    if (wavelen < orig / high) ff[i] = 1.0f;
    else if (wavelen > orig / low) ff[i] = (float)factor;
    else {
      const double smooth = (orig / wavelen - low) / (high - low);
      ff[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
    }
  }
  return dq_gw_add_tensor_f32(w, "rope_freqs.weight", DQ_T_F32, 1, ne, ff);
}

/* llama.cpp's use_more_bits(i_layer, n_layers) */
static int more_bits(int i, int L) { return i < L / 8 || i >= 7 * L / 8 || (i - L / 8) % 3 == 2; }

/* llama.cpp's Q4_K_M type for a matrix whose rows hold n_in elements: a
 * K-quant needs whole 256-element blocks, else Q4_K -> Q5_0, Q6_K -> Q8_0 */
static int q4km_type(int want, int n_in)
{
  if (n_in % 256 == 0) return want;
  return want == DQ_T_Q6_K ? DQ_T_Q8_0 : DQ_T_Q5_0;
}

static int write_model(const char *path, const shape *sh, int q4km)
{
  const int E = sh->E, L = sh->L, H = sh->H, HKV = sh->HKV, F = sh->F, hd = sh->hd ? sh->hd : E / H;
  const char *arch = sh->arch;
  const int qwen2 = is(sh, "qwen2"), llama = is(sh, "llama"), gemma = is(sh, "gemma2") || is(sh, "gemma3"),
            head_norms = is(sh, "qwen3") || is(sh, "gemma3");
  dq_gw *w = dq_gw_new();
  uint64_t rng = 1234;
  int rc = 0;
  char nm[64], gname[64];
  if (!w) return DOCQ_ENOMEM;
  snprintf(gname, sizeof gname, "%s%s-shape %s", qwen2 ? "qwen2.5-" : "", sh->name, q4km ? "Q4_K_M" : "Q8_0");
  char k[96];
#define K(suffix) (snprintf(k, sizeof k, "%s." suffix, arch), k)
  if ((rc = dq_gw_add_str(w, "general.architecture", arch)) < 0 ||
      (rc = dq_gw_add_str(w, "general.name", gname)) < 0 ||
      (rc = dq_gw_add_u32(w, K("context_length"), CTX)) < 0 || (rc = dq_gw_add_u32(w, K("embedding_length"), E)) < 0 ||
      (rc = dq_gw_add_u32(w, K("block_count"), L)) < 0 || (rc = dq_gw_add_u32(w, K("feed_forward_length"), F)) < 0 ||
      (rc = dq_gw_add_u32(w, K("attention.head_count"), H)) < 0 ||
      (rc = dq_gw_add_u32(w, K("attention.head_count_kv"), HKV)) < 0 ||
      (rc = dq_gw_add_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-6f)) < 0 ||
      (rc = dq_gw_add_f32(w, K("rope.freq_base"), llama ? 500000.0f : 1e6f)) < 0)
    goto done;
  if (sh->hd && ((rc = dq_gw_add_u32(w, K("attention.key_length"), hd)) < 0 ||
                 (rc = dq_gw_add_u32(w, K("attention.value_length"), hd)) < 0))
    goto done;
  if (sh->swa && (rc = dq_gw_add_u32(w, K("attention.sliding_window"), sh->swa)) < 0) goto done;
#undef K
  if ((rc = add_tokenizer(w)) < 0) goto done;
  if (llama && (rc = add_llama3_rope_freqs(w, hd, 500000.0f)) < 0) goto done;
  /* tied embeddings: the embedding matrix is the output one, Q6_K in Q4_K_M */
  if ((rc = add(w, &rng, "token_embd.weight", q4km ? q4km_type(DQ_T_Q6_K, E) : DQ_T_Q8_0, E, V, 0, 1.0f)) < 0) goto done;
  for (int i = 0; i < L && rc == 0; i++) {
    const int t_small = q4km ? q4km_type(DQ_T_Q4_K, E) : DQ_T_Q8_0; /* rows of n_embd */
    const int t_v = q4km ? q4km_type(more_bits(i, L) ? DQ_T_Q6_K : DQ_T_Q4_K, E) : DQ_T_Q8_0;
    const int t_down = q4km ? q4km_type(more_bits(i, L) ? DQ_T_Q6_K : DQ_T_Q4_K, F) : DQ_T_Q8_0;
#define N(x) (snprintf(nm, sizeof nm, "blk.%d." x, i), nm)
    if (!qwen2) { /* as qwen2 below, without biases, with the head norms where the arch has them (Q/O rows of H * hd) */
      const int t_o = q4km ? q4km_type(DQ_T_Q4_K, H * hd) : DQ_T_Q8_0;
      if ((rc = add(w, &rng, N("attn_norm.weight"), DQ_T_F32, E, 1, 1, 0.1f)) < 0 ||
          (rc = add(w, &rng, N("attn_q.weight"), t_small, E, H * hd, 0, 0.05f)) < 0 ||
          (rc = add(w, &rng, N("attn_k.weight"), t_small, E, HKV * hd, 0, 0.05f)) < 0 ||
          (rc = add(w, &rng, N("attn_v.weight"), t_v, E, HKV * hd, 0, 0.05f)) < 0 ||
          (head_norms && (rc = add(w, &rng, N("attn_q_norm.weight"), DQ_T_F32, hd, 1, 1, 0.1f)) < 0) ||
          (head_norms && (rc = add(w, &rng, N("attn_k_norm.weight"), DQ_T_F32, hd, 1, 1, 0.1f)) < 0) ||
          (rc = add(w, &rng, N("attn_output.weight"), t_o, H * hd, E, 0, 0.05f)) < 0)
        goto done;
      if (gemma && (rc = add(w, &rng, N("post_attention_norm.weight"), DQ_T_F32, E, 1, 1, 0.1f)) < 0) goto done;
    } else if ((rc = add(w, &rng, N("attn_norm.weight"), DQ_T_F32, E, 1, 1, 0.1f)) < 0 ||
               (rc = add(w, &rng, N("attn_q.weight"), t_small, E, E, 0, 0.05f)) < 0 ||
               (rc = add(w, &rng, N("attn_q.bias"), DQ_T_F32, E, 1, 0, 0.1f)) < 0 ||
               (rc = add(w, &rng, N("attn_k.weight"), t_small, E, HKV * hd, 0, 0.05f)) < 0 ||
               (rc = add(w, &rng, N("attn_k.bias"), DQ_T_F32, HKV * hd, 1, 0, 0.1f)) < 0 ||
               (rc = add(w, &rng, N("attn_v.weight"), t_v, E, HKV * hd, 0, 0.05f)) < 0 ||
               (rc = add(w, &rng, N("attn_v.bias"), DQ_T_F32, HKV * hd, 1, 0, 0.1f)) < 0 ||
               (rc = add(w, &rng, N("attn_output.weight"), t_small, E, E, 0, 0.05f)) < 0)
      goto done;
    if ((rc = add(w, &rng, N("ffn_norm.weight"), DQ_T_F32, E, 1, 1, 0.1f)) < 0 ||
        (rc = add(w, &rng, N("ffn_gate.weight"), t_small, E, F, 0, 0.05f)) < 0 ||
        (rc = add(w, &rng, N("ffn_up.weight"), t_small, E, F, 0, 0.05f)) < 0 ||
        (rc = add(w, &rng, N("ffn_down.weight"), t_down, F, E, 0, 0.02f)) < 0)
      goto done;
    if (gemma && (rc = add(w, &rng, N("post_ffw_norm.weight"), DQ_T_F32, E, 1, 1, 0.1f)) < 0) goto done;
#undef N
  }
  if ((rc = add(w, &rng, "output_norm.weight", DQ_T_F32, E, 1, 1, 0.1f)) < 0) goto done;
  rc = dq_gw_write_file(w, path);
done:
  dq_gw_free(w);
  return rc;
}

long dq_bench_status_kib(const char *field)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, field, strlen(field))) v = atol(line + strlen(field));
  fclose(f);
  return v;
}

int dq_bench_model_file(const char *dir, const char *shape_name, int q4km, char *path, size_t cap)
{
  const shape *sh = NULL;
  for (size_t i = 0; i < sizeof g_shapes / sizeof *g_shapes; i++)
    if (!strcmp(g_shapes[i].name, shape_name)) sh = &g_shapes[i];
  if (!sh)
    return dq_err_set(DOCQ_EINVAL, "unknown model shape '%s' (0.5b, 1.5b, qwen3-0.6b, gemma3-1b, gemma2-2b or llama3.2-1b)",
                      shape_name);
  struct stat st;
  snprintf(path, cap, "%s/docq-bench-%s%s-%s-v2.gguf", dir, is(sh, "qwen2") ? "qwen2.5-" : "", sh->name,
           q4km ? "q4_k_m" : "q8_0");
  if (stat(path, &st) == 0) return 0;
  fprintf(stderr, "writing %s ...\n", path);
  const double t0 = dq_bench_now();
  int rc = write_model(path, sh, q4km);
  if (rc < 0) return rc;
  fprintf(stderr, "  %.1f s\n", dq_bench_now() - t0);
  return 0;
}
