/* llama.cpp's float arithmetic for f32 weights, operation by operation.
 *
 * The parity mode of the forward pass (DQ_KV_F16_GGML) rounds the query to
 * f16 and accumulates V in f16, as llama.cpp's CPU flash attention does. Such
 * roundings turn a last-bit difference anywhere upstream into ~5e-4 in a
 * logit now and then, so matching llama.cpp's logits to 1e-4 needs its
 * products and its SiLU bit for bit. These two functions compute what
 * ggml's CPU backend computes on an x86 build with AVX2 and FMA (and no
 * AVX-512): the build that reproduces ../shared/models/stories260K
 * .reference.txt exactly. Scalar code with explicit fmaf: slow, and only for
 * that mode with f32 weights (tests, and small models such as stories260K).
 * Results do not depend on the machine: every rounding is spelled out. */
#ifndef DQ_ENGINE_GGML_ORDER_H
#define DQ_ENGINE_GGML_ORDER_H

#include <stdint.h>

/* out[t][r] = W[r] . x[t] for n_tok tokens, W f32 (n_out rows of n_in), in
 * the order ggml sums each output: tinyBLAS (llamafile sgemm, 8-wide FMA
 * accumulator) for batches of >= 2 tokens when n_in % 8 == 0 and
 * n_out % 4 == 0, else ggml_vec_dot_f32 (four 8-wide accumulators over
 * 32-wide steps, then the tail one unfused product at a time). */
void dq_ggml_matmul_f32(const float *W, int64_t n_in, int64_t n_out, const float *x, int64_t n_tok, float *out);

/* gate[i] = silu(gate[i]) * up[i] for one token's row of n values, as
 * ggml_vec_swiglu_f32: the vector e^x in 8-wide groups, the C library's
 * expf for the last n % 8. */
void dq_ggml_swiglu(float *gate, const float *up, int64_t n);

/* gate[i] = gelu(gate[i]) * up[i] (GELU's tanh approximation), as
 * ggml_vec_geglu_f32 computes it on every CPU build: 0 below -10, the input
 * itself above 10, else a table of GELU at every f16 value looked up at the
 * input rounded to f16. Used in every mode (Gemma 3): the table is also the
 * fast way, and matching llama.cpp here costs nothing. Thread-safe (the
 * table is built once, on first use). */
void dq_ggml_geglu(float *gate, const float *up, int64_t n);

#endif
