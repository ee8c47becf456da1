/* The Qwen-shaped random models shared by the engine benchmarks
 * (bench_engine, bench_longctx), written with the test GGUF writer:
 *   0.5b: n_embd 896, 24 layers, 14 heads, 2 KV heads, n_ff 4864
 *   1.5b: n_embd 1536, 28 layers, 12 heads, 2 KV heads, n_ff 8960
 * (Qwen2.5: head_dim 64, Q/K/V biases, vocab 151936, tied embeddings),
 *   qwen3-0.6b: n_embd 1024, 28 layers, 16 heads, 8 KV heads of 128, n_ff
 *   3072 (Qwen3-0.6B: no biases, Q/K head norms, tied embeddings),
 *   gemma3-1b: n_embd 1152, 26 layers, 4 heads, 1 KV head of 256, n_ff 6912,
 *   sliding window 512 in 5 of 6 layers (Gemma 3 1B, but with this
 *   vocabulary of 151936 where Gemma's has 262144: its output matrix is
 *   0.58x the real one's),
 *   gemma2-2b: n_embd 2304, 26 layers, 8 heads, 4 KV heads of 256, n_ff
 *   9216, sliding window 4096 in every other layer, attention and output
 *   softcaps at llama.cpp's defaults (Gemma 2 2B; vocabulary 151936, not
 *   256000),
 *   llama3.2-1b: n_embd 2048, 16 layers, 32 heads, 8 KV heads of 64, n_ff
 *   8192, RoPE base 500000 with Llama 3's rope_freqs (Llama 3.2 1B, tied
 *   embeddings; vocabulary 151936, not 128256),
 * in two mixes:
 *   Q8_0   : every matrix Q8_0 (as llama.cpp's Q8_0 file)
 *   Q4_K_M : llama.cpp's Q4_K_M rules for the shape: Q4_K, with Q6_K for
 *            ffn_down and attn_v on the "more bits" layers and for the tied
 *            output/embedding matrix; where rows are not whole 256-blocks
 *            (0.5b: rows of 896) Q4_K falls back to Q5_0 and Q6_K to Q8_0.
 *            So the 0.5b file is mostly Q5_0 and Q8_0, the 1.5b one (like
 *            the 1B-7B models people run, and llama3.2-1b) K-quants
 *            throughout.
 * The files carry a Qwen2-sized byte-level BPE vocabulary so llama.cpp's
 * llama-bench loads the very same files for side-by-side numbers. Plus the
 * small clocks and /proc readers both benchmarks use. */
#ifndef DQ_BENCH_QWEN_SHAPE_H
#define DQ_BENCH_QWEN_SHAPE_H

#include <stddef.h>
#include <stdint.h>

enum { DQ_BENCH_VOCAB = 151936, DQ_BENCH_CTX_TRAIN = 32768 };

/* The path of the model file of shape ("0.5b", "1.5b", "qwen3-0.6b",
 * "gemma3-1b", "gemma2-2b" or "llama3.2-1b") and mix under dir (docq-bench-qwen2.5-<shape>-{q8_0,q4_k_m}-v2.gguf,
 * for the others docq-bench-<shape>-...), written first when it
 * does not exist (~20 s for 0.5b; progress on stderr). Returns 0, or a
 * negative DOCQ_E* code (message in dq_err_msg()), DOCQ_EINVAL for an
 * unknown shape. */
int dq_bench_model_file(const char *dir, const char *shape, int q4km, char *path, size_t cap);

/* splitmix64: the next pseudo-random number of the stream *s. */
uint64_t dq_bench_rng(uint64_t *s);

/* The median of v[0..n) (n >= 1; sorts v in place). */
double dq_bench_median(double *v, int n);

/* Wall clock (CLOCK_MONOTONIC) and process CPU time, in seconds. */
double dq_bench_now(void);
double dq_bench_cpu(void);

/* A "VmRSS:"-style field of /proc/self/status in KiB (-1 when absent). */
long dq_bench_status_kib(const char *field);

#endif
