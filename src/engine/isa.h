/* Kernels chosen at run time (a build with DOCQ_DISPATCH, see isa.c).
 *
 * A portable build cannot compile its kernels for AVX2 or AVX-512 and still
 * run on every x86-64. So the files whose speed depends on the instruction
 * set (quant_avx2.c, attn.c, ggml_order.c, embed/bert.c) are compiled four times, each
 * with DQ_ISA_SUFFIX set (_generic, _avx2, _avx512, _avx512vbmi) and its own -m flags;
 * this header, included first in each of them, appends the suffix to every
 * function they export. isa.c then defines the plain names once, calling the
 * copy that the CPU (and $DOCQ_KERNELS) allows. Without DQ_ISA_SUFFIX the
 * header renames nothing: the native build compiles each file once. */
#ifndef DQ_ENGINE_ISA_H
#define DQ_ENGINE_ISA_H

#ifdef DQ_ISA_SUFFIX
#define DQ_ISA_CAT2(a, b) a##b
#define DQ_ISA_CAT(a, b) DQ_ISA_CAT2(a, b)
#define DQ_ISA_NAME(name) DQ_ISA_CAT(name, DQ_ISA_SUFFIX)
/* quant_avx2.c */
#define dq_kernels_isa DQ_ISA_NAME(dq_kernels_isa)
#define dq_gemm8_supported DQ_ISA_NAME(dq_gemm8_supported)
#define dq_gemm8_min_tok DQ_ISA_NAME(dq_gemm8_min_tok)
#define dq_gemm8_act_format DQ_ISA_NAME(dq_gemm8_act_format)
#define dq_gemm8_act_bytes DQ_ISA_NAME(dq_gemm8_act_bytes)
#define dq_gemm8_w_bytes DQ_ISA_NAME(dq_gemm8_w_bytes)
#define dq_gemm8_pack_w DQ_ISA_NAME(dq_gemm8_pack_w)
#define dq_gemm8_pack_act DQ_ISA_NAME(dq_gemm8_pack_act)
#define dq_gemm8_tile DQ_ISA_NAME(dq_gemm8_tile)
#define dq_kq_quantize_act_fast DQ_ISA_NAME(dq_kq_quantize_act_fast)
#define dq_kq_dot DQ_ISA_NAME(dq_kq_dot)
#define dq_kq_dot_rows DQ_ISA_NAME(dq_kq_dot_rows)
#define dq_kq_dequant_fast DQ_ISA_NAME(dq_kq_dequant_fast)
#define dq_dequant_row DQ_ISA_NAME(dq_dequant_row)
/* attn.c */
#define dq_attn_params_default DQ_ISA_NAME(dq_attn_params_default)
#define dq_attn_new DQ_ISA_NAME(dq_attn_new)
#define dq_attn_free DQ_ISA_NAME(dq_attn_free)
#define dq_attn_scratch_bytes DQ_ISA_NAME(dq_attn_scratch_bytes)
#define dq_attn_run DQ_ISA_NAME(dq_attn_run)
/* ggml_order.c */
#define dq_ggml_matmul_f32 DQ_ISA_NAME(dq_ggml_matmul_f32)
#define dq_ggml_swiglu DQ_ISA_NAME(dq_ggml_swiglu)
#define dq_ggml_geglu DQ_ISA_NAME(dq_ggml_geglu)
/* embed/bert.c */
#define dq_bert_load DQ_ISA_NAME(dq_bert_load)
#define dq_bert_free DQ_ISA_NAME(dq_bert_free)
#define dq_bert_hparams_of DQ_ISA_NAME(dq_bert_hparams_of)
#define dq_bert_ws_new DQ_ISA_NAME(dq_bert_ws_new)
#define dq_bert_ws_free DQ_ISA_NAME(dq_bert_ws_free)
#define dq_bert_encode DQ_ISA_NAME(dq_bert_encode)
#endif

/* Kernel levels, lowest first. */
enum { DQ_ISA_GENERIC = 0, DQ_ISA_AVX2 = 1, DQ_ISA_AVX512 = 2, DQ_ISA_AVX512_VBMI = 3 };

/* The level to run: the CPU's own (cpu_level), or the lower one that `want`
 * names ("generic", "avx2", "avx512", "avx512vbmi": $DOCQ_KERNELS;
 * case-insensitive). A level above the CPU's, an unknown name, NULL or ""
 * give cpu_level. Pure. */
int dq_isa_pick(const char *want, int cpu_level);

/* The highest level this CPU and OS can run (cpuid and xgetbv: AVX2 + FMA +
 * F16C with AVX state enabled; AVX-512 F/BW/VL/DQ/VNNI with ZMM state; and
 * VBMI + GFNI + BITALG on top of that, as Zen 4 and Ice Lake have). */
int dq_isa_cpu_level(void);

#endif
