/* The Qwen2.5-0.5B-shaped random model shared by the engine benchmarks
 * (bench_engine, bench_longctx): n_embd 896, 24 layers, 14 heads, 2 KV heads,
 * head_dim 64, n_ff 4864, vocab 151936, tied embeddings, written with the test
 * GGUF writer in two mixes:
 *   Q8_0   : every matrix Q8_0 (as llama.cpp's Q8_0 file)
 *   Q4_K_M : llama.cpp's Q4_K_M rules for this shape: rows of 896 are not
 *            whole 256-blocks, so Q4_K falls back to Q5_0 and Q6_K to Q8_0;
 *            ffn_down (rows of 4864) is Q6_K on the "more bits" layers, else
 *            Q4_K; attn_v gets the more-bits type on those layers.
 * The files carry a Qwen2-sized byte-level BPE vocabulary so llama.cpp's
 * llama-bench loads the very same files for side-by-side numbers. Plus the
 * small clocks and /proc readers both benchmarks use. */
#ifndef DQ_BENCH_QWEN_SHAPE_H
#define DQ_BENCH_QWEN_SHAPE_H

#include <stddef.h>
#include <stdint.h>

enum { DQ_BENCH_VOCAB = 151936, DQ_BENCH_CTX_TRAIN = 32768 };

/* The path of the mix's file under dir (docq-bench-qwen2.5-0.5b-{q8_0,q4_k_m}-v2.gguf),
 * written first when it does not exist (~20 s; progress on stderr). Returns 0,
 * or a negative DOCQ_E* code (message in dq_err_msg()). */
int dq_bench_model_file(const char *dir, int q4km, char *path, size_t cap);

/* splitmix64: the next pseudo-random number of the stream *s. */
uint64_t dq_bench_rng(uint64_t *s);

/* Wall clock (CLOCK_MONOTONIC) and process CPU time, in seconds. */
double dq_bench_now(void);
double dq_bench_cpu(void);

/* A "VmRSS:"-style field of /proc/self/status in KiB (-1 when absent). */
long dq_bench_status_kib(const char *field);

#endif
