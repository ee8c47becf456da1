/* Rotary position embedding (RoPE) and its context-extension family.
 *
 * One params struct describes every static method (docs: /work/shared/docs/rope.md
 * §2.7): the per-pair frequency is theta_j = base^(-2j/D) / ff_j, then
 *   NONE   : theta'_j = theta_j
 *   LINEAR : theta'_j = theta_j * freq_scale                 (position interpolation)
 *   YARN   : theta'_j = blend of theta_j*freq_scale and theta_j by the NTK-by-parts
 *            ramp between the correction dims (low, high), weighted by ext_factor
 * and cos/sin are multiplied once by mscale = attn_factor * (YaRN with
 * ext_factor != 0 and s > 1 ? 1 + 0.1 ln s : 1).  NTK-aware scaling is LINEAR
 * with freq_scale 1 and a changed base (dq_rope_ntk_base); Llama-3.1 scaling and
 * LongRoPE are per-pair freq factors (dq_rope_llama3_factors or a GGUF tensor).
 *
 * Two types are resolved to those at init:
 *   NTK         : static NTK-aware, base b' = b * s^(D/(D-2)), then freq_scale 1.
 *   DYNAMIC_NTK : the base follows the sequence length l (HF "dynamic", rope.md
 *                 §2.3): b(l) = b * (a*l/L - (a-1))^(D/(D-2)) for l > L, else b,
 *                 with a = 1/freq_scale. dq_rope_init_len takes l. A dq_rope is
 *                 then valid for one length only: whoever caches rotated keys
 *                 must re-rotate them when the base changes (forward.c keeps
 *                 the un-rotated keys for that, so the cache stays consistent).
 *
 * Angles follow ggml's float32 order (theta = p, then *= base^(-2/D) per pair)
 * so an engine using this matches llama.cpp at long positions.
 *
 * Layouts: NORM rotates adjacent pairs (2j, 2j+1) (arch llama); NEOX rotates
 * (j, j + D/2) (qwen2). Dims D..head_dim-1 are left unchanged.
 * A dq_rope is immutable after dq_rope_init and may be shared by threads. */
#ifndef DQ_ENGINE_ROPE_H
#define DQ_ENGINE_ROPE_H

#include <stdint.h>

enum dq_rope_mode { DQ_ROPE_NORM = 0, DQ_ROPE_NEOX = 2 };

enum dq_rope_scaling {
  DQ_ROPE_SCALING_NONE = 0,
  DQ_ROPE_SCALING_LINEAR = 1,
  DQ_ROPE_SCALING_YARN = 2,
  DQ_ROPE_SCALING_LONGROPE = 3, /* per-pair factors (freq_factors) + attn_factor; no ramp */
  DQ_ROPE_SCALING_NTK = 4,      /* static NTK-aware base change (not a GGUF type) */
  DQ_ROPE_SCALING_DYNAMIC_NTK = 5 /* length-dependent NTK base (not a GGUF type) */
};

#define DQ_ROPE_MAX_DIMS 512

typedef struct dq_rope_params {
  int n_dims;          /* D: rotated dims per head (GGUF rope.dimension_count), even, <= DQ_ROPE_MAX_DIMS */
  int mode;            /* DQ_ROPE_NORM or DQ_ROPE_NEOX */
  int scaling;         /* dq_rope_scaling */
  float freq_base;     /* b (GGUF rope.freq_base; default 10000) */
  float freq_scale;    /* 1/s (GGUF 1/rope.scaling.factor); 1 = no scaling */
  float ext_factor;    /* YaRN ramp mix; < 0 = auto (1 for YaRN, else 0); 0 = pure PI */
  float attn_factor;   /* extra multiplier on cos/sin (GGUF rope.scaling.attn_factor; default 1) */
  float beta_fast;     /* YaRN correction: pairs with >= beta_fast rotations keep theta (default 32) */
  float beta_slow;     /* pairs with <= beta_slow rotations are fully interpolated (default 1) */
  int n_ctx_orig;      /* L: original training context (rope.scaling.original_context_length) */
  const float *freq_factors; /* n_dims/2 divisors of theta_j (rope_freqs / LongRoPE) or NULL; copied by init */
} dq_rope_params;

typedef struct dq_rope {
  dq_rope_params req;  /* as given to init (to rebuild an equal dq_rope elsewhere) */
  dq_rope_params p;    /* resolved: ext_factor >= 0, freq_factors points to ff below or NULL */
  float corr_low;      /* YaRN correction dims (pair units), floor/ceil and clamped as ggml does */
  float corr_high;
  float mscale;        /* multiplier applied to cos and sin */
  float base;          /* effective base (NTK / dynamic NTK change it) */
  int64_t n_len;       /* DYNAMIC_NTK: the length this base is for (0 otherwise) */
  float dyn_alpha;     /* DYNAMIC_NTK: a = 1/freq_scale as requested */
  float theta_scale;   /* base^(-2/D) in float32 */
  float ff[DQ_ROPE_MAX_DIMS / 2];
} dq_rope;

/* Defaults: NONE, base 10000, scale 1, ext auto, attn 1, betas 32/1. */
void dq_rope_params_default(dq_rope_params *p, int n_dims, int mode);

/* Resolve params (auto ext_factor, corr dims, mscale). DOCQ_EINVAL with a
 * message for bad values (odd/too many dims, base <= 0, scale <= 0). */
int dq_rope_init(dq_rope *r, const dq_rope_params *p);

/* Same, for a sequence of n_len tokens: only DYNAMIC_NTK depends on it (the
 * others ignore n_len). dq_rope_init is dq_rope_init_len(r, p, 0). */
int dq_rope_init_len(dq_rope *r, const dq_rope_params *p, int64_t n_len);

/* Dynamic NTK base for length n_len (HF "dynamic"): b when n_len <= L, else
 * b * (alpha*n_len/L - (alpha-1))^(D/(D-2)). */
double dq_rope_dynamic_base(double base, double alpha, int64_t n_len, int n_ctx_orig, int n_dims);

/* DYNAMIC_NTK: move r to length n_len in place (base, theta_scale). Returns
 * 1 when the base changed (rotated keys cached under the old base are now
 * stale), else 0; always 0 for the static types. */
int dq_rope_set_len(dq_rope *r, int64_t n_len);

/* 1 when the scaling type makes the frequencies depend on the sequence length. */
int dq_rope_is_dynamic(const dq_rope_params *p);

/* YaRN correction dims for the given parameters, as ggml computes them:
 * low = max(0, floor(d(beta_fast))), high = min(D-1, ceil(d(beta_slow))),
 * d(n) = D ln(L / (2 pi n)) / (2 ln b). */
void dq_rope_corr_dims(int n_dims, int n_ctx_orig, float freq_base, float beta_fast, float beta_slow,
                       float *low, float *high);

/* The effective frequency theta'_j of pair j (position-free), in double
 * precision from the resolved params; for tests and `docq model info`. */
double dq_rope_theta(const dq_rope *r, int j);

/* cos/sin table for position `pos`: cs[2j] = mscale*cos(pos*theta'_j),
 * cs[2j+1] = mscale*sin(pos*theta'_j), for j < n_dims/2 (float32, ggml order). */
void dq_rope_cache(const dq_rope *r, int64_t pos, float *cs);

/* Rotate n_heads vectors of head_dim floats (contiguous) in place with a
 * table from dq_rope_cache. */
void dq_rope_apply(const dq_rope *r, float *x, int n_heads, int head_dim, const float *cs);

/* NTK-aware base: b * s^(D/(D-2)) (YaRN paper eq. 16). */
double dq_rope_ntk_base(double base, double s, int n_dims);

/* Llama-3.1 style per-pair factors ff_j = theta_j / theta'_j (rope.md §2.5), for
 * files that declare the parameters but carry no rope_freqs tensor. */
void dq_rope_llama3_factors(float *ff, int n_dims, double base, double factor, double low_freq_factor,
                            double high_freq_factor, int n_ctx_orig);

/* Name of a scaling type ("none", "linear", "yarn", "longrope", "ntk",
 * "dynamic-ntk"), and the reverse (-1 when unknown). */
const char *dq_rope_scaling_name(int scaling);
int dq_rope_scaling_from_name(const char *name);

/* Per-request context extension (the ask path): n_need tokens (prompt +
 * answer) for a model trained on n_ctx_orig tokens whose file declares
 * `file` (scaling type, freq_scale, n_ctx_orig as in dq_hparams.rope) and a
 * trained context n_ctx_train.
 *   - fits the file's own range (n_ctx_train, or n_ctx_orig for files without
 *     scaling) -> keep the file's settings, no extension;
 *   - else YaRN (or the file's own LINEAR / YARN type) with the smallest
 *     factor that covers n_need: s = n_need / L (L = the original context).
 *   - files whose extension is baked into per-pair factors (rope_freqs,
 *     LongRoPE) cannot be stretched further: DOCQ_EINVAL with a message.
 * n_ctx_orig_override > 0 replaces the file's L (e.g. a file whose
 * context_length is wrong). Fills *scaling, *factor (1 = none), *n_ctx. */
typedef struct dq_rope_plan {
  int scaling;         /* dq_rope_scaling to use */
  float factor;        /* s (1: no extension) */
  int n_ctx_orig;      /* L used */
  int n_ctx;           /* context to allocate (>= n_need) */
  int extended;        /* 1 when the plan stretches the context beyond the file's range */
} dq_rope_plan;
int dq_rope_plan_for(dq_rope_plan *out, const dq_rope_params *file, float file_factor, int n_ctx_train,
                     int has_freq_factors, int n_ctx_orig_override, int64_t n_need);

#endif
