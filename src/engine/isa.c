/* Kernels chosen at run time (isa.h).
 *
 * In a build with DQ_DISPATCH (a portable x86-64 build: DOCQ_NATIVE=OFF
 * without an -march of its own), quant_avx2.c, attn.c, ggml_order.c and
 * embed/bert.c exist four times, as name_generic, name_avx2, name_avx512 and
 * name_avx512vbmi (the last differs only in quant_avx2.c's Q4_0 / Q5_0
 * four-row kernel, about half the instructions per row with VBMI, GFNI and
 * BITALG). This file defines the plain names: each calls the copy of the
 * level picked on first use, once per process (the highest the CPU runs, or
 * lower if $DOCQ_KERNELS says so). A level is a table of function pointers;
 * picking one is an atomic store, so threads that race to pick store the
 * same table. The cost per call is
 * one load and an indirect call, against a row's dot product at least. */
#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/isa.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

int dq_isa_pick(const char *want, int cpu_level)
{
  static const char *const names[] = { "generic", "avx2", "avx512", "avx512vbmi" };
  if (!want) return cpu_level;
  for (int level = 0; level < (int)(sizeof names / sizeof names[0]); level++) {
    const char *a = want, *b = names[level];
    while (*a && *b && tolower((unsigned char)*a) == *b) a++, b++;
    if (!*a && !*b) return level < cpu_level ? level : cpu_level;
  }
  return cpu_level;
}

int dq_isa_cpu_level(void)
{
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return DQ_ISA_GENERIC;
  const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
  if (!(fma && osxsave && avx && f16c)) return DQ_ISA_GENERIC;
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0)); /* which register states the OS saves */
  (void)xhi;
  if ((xlo & 0x6) != 0x6) return DQ_ISA_GENERIC; /* XMM and YMM */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return DQ_ISA_GENERIC;
  if (!((b >> 5) & 1)) return DQ_ISA_GENERIC; /* AVX2 */
  const int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
  if (f && dq && bw && vl && vnni && (xlo & 0xE0) == 0xE0) { /* opmask, ZMM upper halves, ZMM16-31 */
    const int vbmi = (c >> 1) & 1, gfni = (c >> 8) & 1, bitalg = (c >> 12) & 1;
    return vbmi && gfni && bitalg ? DQ_ISA_AVX512_VBMI : DQ_ISA_AVX512;
  }
  return DQ_ISA_AVX2;
#else
  return DQ_ISA_GENERIC;
#endif
}

#if DQ_DISPATCH

#include "embed/bert.h"
#include "engine/attn.h"
#include "engine/ggml_order.h"
#include "engine/kernels.h"
#include "engine/quant_internal.h"

/* Every function the three copies export (isa.h renames the same list). */
#define DQ_ISA_EACH(X, sfx)                                                                                      \
  X(dq_kernels_isa, sfx) X(dq_gemm8_supported, sfx) X(dq_gemm8_min_tok, sfx) X(dq_gemm8_act_format, sfx)     \
  X(dq_gemm8_act_bytes, sfx) X(dq_gemm8_w_bytes, sfx) X(dq_gemm8_pack_w, sfx) X(dq_gemm8_pack_act, sfx)        \
  X(dq_gemm8_tile, sfx) X(dq_kq_quantize_act_fast, sfx) X(dq_kq_dot, sfx) X(dq_kq_dot_rows, sfx)             \
  X(dq_kq_dequant_fast, sfx) X(dq_dequant_row, sfx) X(dq_attn_params_default, sfx) X(dq_attn_new, sfx)       \
  X(dq_attn_free, sfx) X(dq_attn_scratch_bytes, sfx) X(dq_attn_run, sfx) X(dq_ggml_matmul_f32, sfx)          \
  X(dq_ggml_swiglu, sfx) X(dq_ggml_geglu, sfx) X(dq_bert_load, sfx) X(dq_bert_free, sfx)                      \
  X(dq_bert_hparams_of, sfx) X(dq_bert_ws_new, sfx) X(dq_bert_ws_free, sfx) X(dq_bert_encode, sfx)

/* Each copy has the type the headers give the plain name. */
#define DQ_ISA_DECLARE(name, sfx) extern __typeof__(name) name##sfx;
DQ_ISA_EACH(DQ_ISA_DECLARE, _generic)
DQ_ISA_EACH(DQ_ISA_DECLARE, _avx2)
DQ_ISA_EACH(DQ_ISA_DECLARE, _avx512)
DQ_ISA_EACH(DQ_ISA_DECLARE, _avx512vbmi)

#define DQ_ISA_FIELD(name, sfx) __typeof__(&name) name;
typedef struct isa_table {
  DQ_ISA_EACH(DQ_ISA_FIELD, )
} isa_table;

#define DQ_ISA_ENTRY(name, sfx) .name = name##sfx,
static const isa_table k_tables[4] = {
  [DQ_ISA_GENERIC] = { DQ_ISA_EACH(DQ_ISA_ENTRY, _generic) },
  [DQ_ISA_AVX2] = { DQ_ISA_EACH(DQ_ISA_ENTRY, _avx2) },
  [DQ_ISA_AVX512] = { DQ_ISA_EACH(DQ_ISA_ENTRY, _avx512) },
  [DQ_ISA_AVX512_VBMI] = { DQ_ISA_EACH(DQ_ISA_ENTRY, _avx512vbmi) },
};

static _Atomic(const isa_table *) g_table;

static const isa_table *T(void)
{
  const isa_table *t = atomic_load_explicit(&g_table, memory_order_acquire);
  if (!t) {
    t = &k_tables[dq_isa_pick(getenv("DOCQ_KERNELS"), dq_isa_cpu_level())];
    atomic_store_explicit(&g_table, t, memory_order_release);
  }
  return t;
}

const char *dq_kernels_isa(void) { return T()->dq_kernels_isa(); }
int dq_gemm8_supported(int type) { return T()->dq_gemm8_supported(type); }
int64_t dq_gemm8_min_tok(int type) { return T()->dq_gemm8_min_tok(type); }
int dq_gemm8_act_format(int type) { return T()->dq_gemm8_act_format(type); }
size_t dq_gemm8_act_bytes(int64_t n) { return T()->dq_gemm8_act_bytes(n); }
size_t dq_gemm8_w_bytes(int64_t n) { return T()->dq_gemm8_w_bytes(n); }
void dq_gemm8_pack_w(int type, const void *row, void *dst, int64_t n) { T()->dq_gemm8_pack_w(type, row, dst, n); }
void dq_gemm8_pack_act(int type, const float *x, void *dst, int64_t n) { T()->dq_gemm8_pack_act(type, x, dst, n); }
void dq_gemm8_tile(int type, const void *w, size_t w_stride, int64_t n_rows, const void *act, size_t act_stride,
                   int64_t n_tok, int64_t n, float *out, int64_t ldo)
{
  T()->dq_gemm8_tile(type, w, w_stride, n_rows, act, act_stride, n_tok, n, out, ldo);
}
void dq_kq_quantize_act_fast(int type, const float *x, void *act, int64_t n)
{
  T()->dq_kq_quantize_act_fast(type, x, act, n);
}
float dq_kq_dot(int type, const void *row, const float *xf, const void *act, int64_t n)
{
  return T()->dq_kq_dot(type, row, xf, act, n);
}
void dq_kq_dot_rows(int type, const void *w, size_t row_stride, int64_t n_rows, const float *xf, const void *act,
                    int64_t n, int streamed, float *out)
{
  T()->dq_kq_dot_rows(type, w, row_stride, n_rows, xf, act, n, streamed, out);
}
void dq_kq_dequant_fast(int type, const void *row, float *out, int64_t n) { T()->dq_kq_dequant_fast(type, row, out, n); }
void dq_dequant_row(int type, const void *row, float *out, int64_t n) { T()->dq_dequant_row(type, row, out, n); }

void dq_attn_params_default(dq_attn_params *p, int n_head, int n_kv_head, int head_dim)
{
  T()->dq_attn_params_default(p, n_head, n_kv_head, head_dim);
}
int dq_attn_new(dq_attn **out, const dq_attn_params *p) { return T()->dq_attn_new(out, p); }
void dq_attn_free(dq_attn *a) { T()->dq_attn_free(a); }
size_t dq_attn_scratch_bytes(const dq_attn *a) { return T()->dq_attn_scratch_bytes(a); }
int dq_attn_run(dq_attn *a, dq_pool *pool, const dq_kv *kv, int layer, const float *q, int n_q, int pos0, float *out)
{
  return T()->dq_attn_run(a, pool, kv, layer, q, n_q, pos0, out);
}

void dq_ggml_matmul_f32(const float *W, int64_t n_in, int64_t n_out, const float *x, int64_t n_tok, float *out)
{
  T()->dq_ggml_matmul_f32(W, n_in, n_out, x, n_tok, out);
}
void dq_ggml_swiglu(float *gate, const float *up, int64_t n) { T()->dq_ggml_swiglu(gate, up, n); }
void dq_ggml_geglu(float *gate, const float *up, int64_t n) { T()->dq_ggml_geglu(gate, up, n); }

int dq_bert_load(dq_bert **out, const dq_gguf *g) { return T()->dq_bert_load(out, g); }
void dq_bert_free(dq_bert *m) { T()->dq_bert_free(m); }
const dq_bert_hparams *dq_bert_hparams_of(const dq_bert *m) { return T()->dq_bert_hparams_of(m); }
int dq_bert_ws_new(dq_bert_ws **out, const dq_bert *m, int max_tokens, int max_seq, int n_threads)
{
  return T()->dq_bert_ws_new(out, m, max_tokens, max_seq, n_threads);
}
void dq_bert_ws_free(dq_bert_ws *w) { T()->dq_bert_ws_free(w); }
int dq_bert_encode(const dq_bert *m, dq_bert_ws *w, dq_pool *pool, const int32_t *ids, const int *seq_len, int n_seq,
                   float *out)
{
  return T()->dq_bert_encode(m, w, pool, ids, seq_len, n_seq, out);
}

#endif /* DQ_DISPATCH */
