/* Encoder benchmark: tokens/s of the GGUF BERT embedder (src/embed/bert.c) on
 * a random-weight model of the all-MiniLM-L6-v2 shape (6 layers, 384 wide,
 * 12 heads, FFN 1536, vocabulary 30522, 512 positions), written to a temp
 * file in each weight type asked for.
 *
 * Measured per type (median of --runs runs, after one warm-up):
 *   enc 1x128   one 128-token sequence per call (llama.cpp's "pp128" shape)
 *   enc 16x128  16 sequences of 128 tokens in one batch (how docq index calls it)
 *   enc 1x512   one 512-token sequence
 *   enc 4x512   4 sequences of 512 tokens in one batch
 *   embed 16x128 the whole dq_embed path (WordPiece, packing, pooling,
 *               normalization) on 16 texts that tokenize to 128 tokens each
 * The second row per type divides by CPU time instead of wall time (times
 * the thread count): what the run would give with a core per thread, which
 * tells the code's speed apart from other processes competing for the cores.
 * Reference point on this machine (2 cores): llama.cpp does about 2,460
 * tokens/s at 128 and 1,930 at 512.
 * Usage: bench_bert [--threads N] [--runs R] [--types f32,f16,q8_0] | --write FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "embed/bert.h"
#include "support/gguf_writer.h"
#include "util/err.h"
#include "util/mem.h"

#define D 384
#define N_LAYER 6
#define N_HEAD 12
#define N_FF 1536
#define N_VOCAB 30522
#define N_CTX 512

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the last measurement (all threads), for the load estimate. */
static double g_cpu;

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static uint64_t g_rng = 88172645463325252ull;
static float frand(float a)
{
  g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
  return a * (2.0f * (float)((g_rng >> 40) & 0xffffff) / 16777216.0f - 1.0f);
}

static int add(dq_gw *w, const char *name, int type, int64_t n0, int64_t n1, float a, float center)
{
  size_t n = (size_t)n0 * (size_t)n1;
  float *x = malloc(n * sizeof *x);
  if (!x) return DOCQ_ENOMEM;
  for (size_t i = 0; i < n; i++) x[i] = center + frand(a);
  int64_t ne[2] = { n0, n1 };
  int rc = dq_gw_add_tensor_f32(w, name, type, n1 > 1 ? 2 : 1, ne, x);
  free(x);
  return rc;
}

/* A bert-architecture file with llama.cpp's names; vocabulary: [PAD] 0,
 * [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103, other ids "\u2581w<id>". */
static int write_model(const char *path, int wtype)
{
  dq_gw *w = dq_gw_new();
  if (!w) return DOCQ_ENOMEM;
  int rc = 0;
  char **toks = calloc(N_VOCAB, sizeof *toks);
  int32_t *tt = calloc(N_VOCAB, sizeof *tt);
  for (int i = 0; i < N_VOCAB; i++) {
    toks[i] = malloc(16);
    if (i == 0) strcpy(toks[i], "[PAD]");
    else if (i == 100) strcpy(toks[i], "[UNK]");
    else if (i == 101) strcpy(toks[i], "[CLS]");
    else if (i == 102) strcpy(toks[i], "[SEP]");
    else if (i == 103) strcpy(toks[i], "[MASK]");
    else snprintf(toks[i], 16, "\xe2\x96\x81w%d", i);
    tt[i] = i == 0 || (i >= 100 && i <= 103) ? 3 : 1;
  }
  dq_gw_add_str(w, "general.architecture", "bert");
  dq_gw_add_str(w, "general.name", "bench-minilm-l6-shape");
  dq_gw_add_u32(w, "bert.context_length", N_CTX);
  dq_gw_add_u32(w, "bert.embedding_length", D);
  dq_gw_add_u32(w, "bert.block_count", N_LAYER);
  dq_gw_add_u32(w, "bert.feed_forward_length", N_FF);
  dq_gw_add_u32(w, "bert.attention.head_count", N_HEAD);
  dq_gw_add_f32(w, "bert.attention.layer_norm_epsilon", 1e-12f);
  dq_gw_add_bool(w, "bert.attention.causal", 0);
  dq_gw_add_u32(w, "bert.pooling_type", 1);
  dq_gw_add_str(w, "tokenizer.ggml.model", "bert");
  dq_gw_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, N_VOCAB);
  dq_gw_add_arr(w, "tokenizer.ggml.token_type", DQ_GGUF_I32, tt, N_VOCAB);
  dq_gw_add_u32(w, "tokenizer.ggml.unknown_token_id", 100);
  dq_gw_add_u32(w, "tokenizer.ggml.seperator_token_id", 102);
  dq_gw_add_u32(w, "tokenizer.ggml.padding_token_id", 0);
  dq_gw_add_u32(w, "tokenizer.ggml.cls_token_id", 101);
  dq_gw_add_u32(w, "tokenizer.ggml.mask_token_id", 103);
  float ws = 0.08f, wf = 0.04f;
  int et = wtype == DQ_T_F32 ? DQ_T_F32 : DQ_T_F16;
  if ((rc = add(w, "token_embd.weight", et, D, N_VOCAB, 1.0f, 0)) < 0 ||
      (rc = add(w, "token_types.weight", DQ_T_F32, D, 2, 0.3f, 0)) < 0 ||
      (rc = add(w, "position_embd.weight", et, D, N_CTX, 0.3f, 0)) < 0 ||
      (rc = add(w, "token_embd_norm.weight", DQ_T_F32, D, 1, 0.2f, 1)) < 0 ||
      (rc = add(w, "token_embd_norm.bias", DQ_T_F32, D, 1, 0.1f, 0)) < 0)
    goto done;
  for (int l = 0; l < N_LAYER; l++) {
    static const struct { const char *n; int mat; int64_t a, b; } t[] = {
      { "attn_q.weight", 1, D, D }, { "attn_q.bias", 0, D, 1 }, { "attn_k.weight", 1, D, D }, { "attn_k.bias", 0, D, 1 },
      { "attn_v.weight", 1, D, D }, { "attn_v.bias", 0, D, 1 }, { "attn_output.weight", 1, D, D },
      { "attn_output.bias", 0, D, 1 }, { "attn_output_norm.weight", 2, D, 1 }, { "attn_output_norm.bias", 0, D, 1 },
      { "ffn_up.weight", 1, D, N_FF }, { "ffn_up.bias", 0, N_FF, 1 }, { "ffn_down.weight", 3, N_FF, D },
      { "ffn_down.bias", 0, D, 1 }, { "layer_output_norm.weight", 2, D, 1 }, { "layer_output_norm.bias", 0, D, 1 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
      char name[64];
      snprintf(name, sizeof name, "blk.%d.%s", l, t[i].n);
      int type = t[i].mat == 1 || t[i].mat == 3 ? wtype : DQ_T_F32;
      float a = t[i].mat == 1 ? ws : t[i].mat == 3 ? wf : t[i].mat == 2 ? 0.2f : 0.1f;
      if ((rc = add(w, name, type, t[i].a, t[i].b, a, t[i].mat == 2 ? 1.0f : 0.0f)) < 0) goto done;
    }
  }
  rc = dq_gw_write_file(w, path);
done:
  for (int i = 0; i < N_VOCAB; i++) free(toks[i]);
  free(toks);
  free(tt);
  dq_gw_free(w);
  return rc;
}

static int g_runs = 7, g_threads = 2;

/* Median tokens/s of encoding n_seq sequences of len tokens in one call. */
static double bench_encode(const dq_bert *m, dq_bert_ws *ws, dq_pool *pool, int n_seq, int len)
{
  int T = n_seq * len;
  int32_t *ids = malloc((size_t)T * sizeof *ids);
  int *lens = malloc((size_t)n_seq * sizeof *lens);
  float *out = malloc((size_t)n_seq * D * sizeof *out);
  for (int s = 0; s < n_seq; s++) {
    lens[s] = len;
    for (int i = 0; i < len; i++) ids[s * len + i] = i == 0 ? 101 : i == len - 1 ? 102 : 1000 + (int)((g_rng = g_rng * 6364136223846793005ull + 1) >> 33) % 29000;
  }
  double *t = malloc((size_t)g_runs * sizeof *t);
  if (dq_bert_encode(m, ws, pool, ids, lens, n_seq, out) < 0) { fprintf(stderr, "encode: %s\n", dq_err_msg()); exit(1); }
  double c0 = cpu_s();
  for (int r = 0; r < g_runs; r++) {
    double t0 = now_s();
    dq_bert_encode(m, ws, pool, ids, lens, n_seq, out);
    t[r] = now_s() - t0;
  }
  g_cpu = (cpu_s() - c0) / g_runs;
  qsort(t, (size_t)g_runs, sizeof *t, cmp_d);
  double tps = T / t[g_runs / 2];
  g_cpu = T / g_cpu * g_threads; /* tokens/s if every thread had a core to itself */
  free(ids); free(lens); free(out); free(t);
  return tps;
}

/* Median tokens/s of dq_embed on 16 texts of 126 words (128 tokens with [CLS]/[SEP]). */
static double bench_embed(dq_embedder *e)
{
  enum { N = 16, WORDS = 126 };
  char *texts[N];
  for (int i = 0; i < N; i++) {
    texts[i] = malloc(WORDS * 8);
    texts[i][0] = 0;
    for (int j = 0; j < WORDS; j++)
      sprintf(texts[i] + strlen(texts[i]), "w%d ", 1000 + (i * 131 + j * 17) % 29000);
  }
  float *out = malloc((size_t)N * D * sizeof *out);
  double *t = malloc((size_t)g_runs * sizeof *t);
  if (dq_embed(e, (const char *const *)texts, NULL, N, 0, out) < 0) { fprintf(stderr, "embed: %s\n", dq_err_msg()); exit(1); }
  for (int r = 0; r < g_runs; r++) {
    double t0 = now_s();
    dq_embed(e, (const char *const *)texts, NULL, N, 0, out);
    t[r] = now_s() - t0;
  }
  qsort(t, (size_t)g_runs, sizeof *t, cmp_d);
  double tps = N * (WORDS + 2) / t[g_runs / 2];
  for (int i = 0; i < N; i++) free(texts[i]);
  free(out); free(t);
  return tps;
}

int main(int argc, char **argv)
{
  const char *types = "f32,f16,q8_0";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) g_threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc) g_runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--types") && i + 1 < argc) types = argv[++i];
    else if (!strcmp(argv[i], "--write") && i + 1 < argc) {
      /* just write the f16 model (for timing `docq index --embed-model`) */
      if (write_model(argv[++i], DQ_T_F16) < 0) { fprintf(stderr, "write: %s\n", dq_err_msg()); return 1; }
      return 0;
    } else { fprintf(stderr, "usage: bench_bert [--threads N] [--runs R] [--types f32,f16,q8_0,q4_k]\n"); return 2; }
  }
  if (g_runs < 1) g_runs = 1;
  static const struct { const char *name; int type; } all[] = {
    { "f32", DQ_T_F32 }, { "f16", DQ_T_F16 }, { "q8_0", DQ_T_Q8_0 }, { "q4_k", DQ_T_Q4_K }, { "q6_k", DQ_T_Q6_K },
  };
  printf("MiniLM-L6 shape (6x384, 12 heads, ffn 1536), %d threads, median of %d runs, tokens/s\n", g_threads, g_runs);
  printf("%-6s %10s %10s %10s %10s %12s\n", "type", "enc 1x128", "enc 16x128", "enc 1x512", "enc 4x512", "embed 16x128");
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
    if (!strstr(types, all[k].name)) continue;
    char path[] = "/tmp/docq-bench-bert-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); return 1; }
    close(fd);
    if (write_model(path, all[k].type) < 0) { fprintf(stderr, "write: %s\n", dq_err_msg()); unlink(path); return 1; }
    dq_embedder *e;
    dq_gguf *g;
    dq_bert *m;
    dq_bert_ws *ws;
    dq_pool *pool;
    if (dq_embedder_gguf(&e, path, g_threads) < 0 || dq_gguf_open(&g, path) < 0 || dq_bert_load(&m, g) < 0 ||
        dq_pool_new(&pool, g_threads) < 0 || dq_bert_ws_new(&ws, m, 2048, N_CTX, g_threads) < 0) {
      fprintf(stderr, "load: %s\n", dq_err_msg());
      unlink(path);
      return 1;
    }
    double cpu[4];
    double a = bench_encode(m, ws, pool, 1, 128); cpu[0] = g_cpu;
    double b = bench_encode(m, ws, pool, 16, 128); cpu[1] = g_cpu;
    double c = bench_encode(m, ws, pool, 1, 512); cpu[2] = g_cpu;
    double d = bench_encode(m, ws, pool, 4, 512); cpu[3] = g_cpu;
    double f = bench_embed(e);
    printf("%-6s %10.0f %10.0f %10.0f %10.0f %12.0f\n", all[k].name, a, b, c, d, f);
    printf("%-6s %10.0f %10.0f %10.0f %10.0f   (tokens per CPU-second x threads)\n", "  cpu", cpu[0], cpu[1], cpu[2], cpu[3]);
    fflush(stdout);
    dq_bert_ws_free(ws);
    dq_pool_free(pool);
    dq_bert_free(m);
    dq_gguf_close(g);
    dq_embedder_free(e);
    unlink(path);
  }
  return 0;
}
