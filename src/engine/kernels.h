/* Compute kernels for the engine: dequantization, dot products and
 * matrix-vector / matrix-matrix products over ggml block formats.
 *
 * Weights are row-major as in GGUF: a 2-D tensor with ne[0] = n_in (row
 * length) and ne[1] = n_out rows; each row is dq_type_row_bytes(type, n_in)
 * bytes of blocks. Activations are f32.
 *
 * Every type has a plain scalar reference (dq_dequant_row_ref, *_ref) and a
 * fast path (AVX2/FMA where available); tests check fast against reference.
 * Supported types: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q2_K, Q3_K,
 * IQ4_XS, and Q4_1, Q5_0, Q5_1, IQ4_NL: llama.cpp writes those into K-quant
 * and IQ4_XS files for tensors whose rows are not a multiple of 256 (Q4_K_M
 * of Qwen2.5-0.5B is mostly Q5_0 + Q8_0, its IQ4_XS mostly IQ4_NL; Q2_K /
 * Q3_K fell back to IQ4_NL too until llama.cpp's March 2026 change to Q4_0).
 * Activations are quantized internally to 8-bit blocks for the mat-vec.
 * All functions are thread-safe (pure); threading is done by dq_matmul via a
 * dq_pool given by the caller. */
#ifndef DQ_ENGINE_KERNELS_H
#define DQ_ENGINE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* The instruction set these kernels were compiled for: "AVX-512 VNNI",
 * "AVX2" or "generic C" (quant_avx2.c's conditions; the build's -march). */
const char *dq_kernels_isa(void);

/* 1 when `type` is supported by these kernels. */
int dq_kernels_supports(int type);

/* Dequantize one row of n elements (n multiple of the block size). */
void dq_dequant_row_ref(int type, const void *row, float *out, int64_t n);
void dq_dequant_row(int type, const void *row, float *out, int64_t n);

/* Dot product of one weight row (n elements of `type`) with f32 x[n]. */
float dq_dot_row_ref(int type, const void *row, const float *x, int64_t n);

/* Quantize f32 -> type (reference quantizers, used by the test GGUF writer
 * and KV caches). n multiple of the block size. Every supported type. */
void dq_quantize_row_ref(int type, const float *x, void *out, int64_t n);

/* A fixed set of worker threads. dq_pool_run calls fn(ctx, ith, nth) on every
 * thread (including the caller as ith 0) and returns when all are done. No
 * allocation per call. */
typedef struct dq_pool dq_pool;
int dq_pool_new(dq_pool **out, int n_threads); /* n_threads <= 0: all cores */
int dq_pool_size(const dq_pool *p);
void dq_pool_run(dq_pool *p, void (*fn)(void *ctx, int ith, int nth), void *ctx);
void dq_pool_free(dq_pool *p);
/* What the next dq_pool_run will read (up to DQ_POOL_HINT_MAX regions, in
 * the order its work is split): while they wait for it, the workers fetch
 * the start of their share into L2 (worker w of n: from byte total * w / n,
 * the first DQ_POOL_HINT_BYTES), so memory is not idle through the caller's
 * serial work between runs. Prefetches only: never faults, never waits; a
 * later hint replaces an earlier one. No-op for a pool of one thread. */
#define DQ_POOL_HINT_MAX 4
void dq_pool_hint(dq_pool *p, int n, const void *const *ptrs, const size_t *lens);

/* out[n_tok][n_out] = x[n_tok][n_in] @ W^T, W of `type` with n_out rows of n_in.
 * n_tok == 1 is decode (quantized mat-vec); n_tok > 1 is prefill (whichever of
 * direct quantized kernels, an int8 GEMM for Q8_0 / Q4_0 / Q5_0 / Q3_K / Q4_K /
 * Q5_K / Q6_K / IQ4_NL / IQ4_XS where AVX2 is built, or dequantize + OpenBLAS sgemm measures
 * faster; the quantized paths round activations to 8-bit blocks as
 * llama.cpp does).
 * `scratch` is caller-provided memory of dq_matmul_scratch_size(...) bytes so
 * the token loop never allocates. pool may be NULL (single thread).
 * dq_matmul_scratch_size: n_threads must be dq_pool_size(pool) (<= 0: the
 * number of CPUs); the size also covers every smaller n_tok, so size once for
 * the largest batch. 0 when the type is unsupported or n_in is not a multiple
 * of its block size. Results do not depend on the pool size. The prefill path
 * sets OpenBLAS to one thread (openblas_set_num_threads(1)) on first use. */
size_t dq_matmul_scratch_size(int type, int64_t n_in, int64_t n_out, int64_t n_tok, int n_threads);
void dq_matmul(dq_pool *pool, int type, const void *W, int64_t n_in, int64_t n_out,
               const float *x, int64_t n_tok, float *out, void *scratch);

/* Several products that share one input x (Q/K/V; gate/up): outs[i] =
 * x @ Ws[i]^T for i < n_mat, in one pool run with x quantized once. Results
 * are bit-identical to separate dq_matmul calls. Scratch as for dq_matmul. */
size_t dq_matmul_multi_scratch_size(int n_mat, const int *types, int64_t n_in, int64_t n_tok, int n_threads);
void dq_matmul_multi(dq_pool *pool, int n_mat, const int *types, const void *const *Ws, const int64_t *n_outs,
                     float *const *outs, int64_t n_in, const float *x, int64_t n_tok, void *scratch);

/* f16 <-> f32 conversions. */
float dq_f16_to_f32(uint16_t h);
uint16_t dq_f32_to_f16(float f);
float dq_bf16_to_f32(uint16_t h);

#endif
