/* RoPE and its scaling family (see rope.h and /work/shared/docs/rope.md).
 *
 * The angle computation deliberately follows ggml's float32 order (iterative
 * theta, ramp on the integer pair index, mscale computed with logf) because
 * parity with llama.cpp at positions beyond 1000 depends on it: the float32
 * angle error there is ~1e-4 rad, comparable to the tolerances we test. The
 * mscale is computed once here and applied once (unlike llama.cpp's two-stage
 * cancellation), which gives the same net factor. */
#include "engine/rope.h"

/* Parity with llama.cpp depends on rounding: no implicit a*b+c fusion here
 * (the build's gnu11 mode would otherwise contract to FMA). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <string.h>

#include "util/err.h"

void dq_rope_params_default(dq_rope_params *p, int n_dims, int mode)
{
  memset(p, 0, sizeof *p);
  p->n_dims = n_dims;
  p->mode = mode;
  p->scaling = DQ_ROPE_SCALING_NONE;
  p->freq_base = 10000.0f;
  p->freq_scale = 1.0f;
  p->ext_factor = -1.0f;
  p->attn_factor = 1.0f;
  p->beta_fast = 32.0f;
  p->beta_slow = 1.0f;
  p->n_ctx_orig = 0;
  p->freq_factors = NULL;
}

/* Pair index at which a frequency makes n_rot full turns over n_ctx_orig tokens. */
static float corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base)
{
  return (float)n_dims * logf((float)n_ctx_orig / (n_rot * 2.0f * (float)M_PI)) / (2.0f * logf(base));
}

void dq_rope_corr_dims(int n_dims, int n_ctx_orig, float freq_base, float beta_fast, float beta_slow,
                       float *low, float *high)
{
  float lo = floorf(corr_dim(n_dims, n_ctx_orig, beta_fast, freq_base));
  float hi = ceilf(corr_dim(n_dims, n_ctx_orig, beta_slow, freq_base));
  /* The clamp to n_dims-1 mixes pair and element units; kept as ggml has it
   * for bit-parity (harmless: it only matters when hi exceeds the pair count). */
  *low = lo > 0.0f ? lo : 0.0f;
  *high = hi < (float)(n_dims - 1) ? hi : (float)(n_dims - 1);
}

double dq_rope_dynamic_base(double base, double alpha, int64_t n_len, int n_ctx_orig, int n_dims)
{
  if (n_ctx_orig <= 0 || n_len <= n_ctx_orig || n_dims <= 2) return base;
  double s = alpha * (double)n_len / n_ctx_orig - (alpha - 1.0);
  if (!(s > 1.0)) return base;
  return base * pow(s, (double)n_dims / (n_dims - 2));
}

int dq_rope_is_dynamic(const dq_rope_params *p) { return p->scaling == DQ_ROPE_SCALING_DYNAMIC_NTK; }

int dq_rope_init(dq_rope *r, const dq_rope_params *p) { return dq_rope_init_len(r, p, 0); }

int dq_rope_init_len(dq_rope *r, const dq_rope_params *p, int64_t n_len)
{
  memset(r, 0, sizeof *r);
  if (p->n_dims <= 0 || p->n_dims % 2 || p->n_dims > DQ_ROPE_MAX_DIMS)
    return dq_err_set(DOCQ_EINVAL, "rope: rotated dimension count %d must be even and in 2..%d", p->n_dims,
                      DQ_ROPE_MAX_DIMS);
  if (!(p->freq_base > 0.0f) || !isfinite(p->freq_base))
    return dq_err_set(DOCQ_EINVAL, "rope: freq_base %g must be positive", (double)p->freq_base);
  if (!(p->freq_scale > 0.0f) || !isfinite(p->freq_scale))
    return dq_err_set(DOCQ_EINVAL, "rope: freq_scale %g must be positive", (double)p->freq_scale);
  if (p->mode != DQ_ROPE_NORM && p->mode != DQ_ROPE_NEOX)
    return dq_err_set(DOCQ_EINVAL, "rope: unknown mode %d", p->mode);
  if (p->scaling < DQ_ROPE_SCALING_NONE || p->scaling > DQ_ROPE_SCALING_DYNAMIC_NTK)
    return dq_err_set(DOCQ_EINVAL, "rope: unknown scaling type %d", p->scaling);
  r->req = *p;
  r->p = *p;
  if (p->scaling == DQ_ROPE_SCALING_NONE) r->p.freq_scale = 1.0f; /* as llama.cpp: type none ignores a factor */
  /* auto: the ramp for YaRN only. One given applies to linear and LongRoPE
   * too, as llama.cpp's --yarn-ext-factor does whatever the type (linear x4
   * with ext 1 is YaRN x4 there); none and the NTK variants rotate with a
   * scale of 1, where the ramp would change nothing. */
  if (r->p.ext_factor < 0.0f) r->p.ext_factor = p->scaling == DQ_ROPE_SCALING_YARN ? 1.0f : 0.0f;
  if (p->scaling == DQ_ROPE_SCALING_NONE || p->scaling == DQ_ROPE_SCALING_NTK ||
      p->scaling == DQ_ROPE_SCALING_DYNAMIC_NTK)
    r->p.ext_factor = 0.0f;
  if (r->p.n_ctx_orig <= 0) r->p.n_ctx_orig = 4096;
  if (!(r->p.beta_fast > 0.0f)) r->p.beta_fast = 32.0f;
  if (!(r->p.beta_slow > 0.0f)) r->p.beta_slow = 1.0f;
  if (!(r->p.attn_factor > 0.0f)) r->p.attn_factor = 1.0f;
  r->base = p->freq_base;
  /* The NTK variants fold the factor into the base and then rotate with
   * scale 1; the base is rounded to float as a --rope-freq-base would be. */
  if (p->scaling == DQ_ROPE_SCALING_NTK) {
    r->base = (float)dq_rope_ntk_base(p->freq_base, 1.0 / p->freq_scale, p->n_dims);
    r->p.freq_scale = 1.0f;
  } else if (p->scaling == DQ_ROPE_SCALING_DYNAMIC_NTK) {
    r->n_len = n_len;
    r->dyn_alpha = 1.0f / p->freq_scale;
    r->base = (float)dq_rope_dynamic_base(p->freq_base, r->dyn_alpha, n_len, r->p.n_ctx_orig, p->n_dims);
    r->p.freq_scale = 1.0f;
  }
  if (!(r->base > 0.0f) || !isfinite(r->base))
    return dq_err_set(DOCQ_EINVAL, "rope: effective base %g is out of range", (double)r->base);
  int half = p->n_dims / 2;
  for (int j = 0; j < half; j++) {
    float f = p->freq_factors ? p->freq_factors[j] : 1.0f;
    if (!(f > 0.0f) || !isfinite(f)) return dq_err_set(DOCQ_EINVAL, "rope: frequency factor %d is %g", j, (double)f);
    r->ff[j] = f;
  }
  r->p.freq_factors = p->freq_factors ? r->ff : NULL;
  dq_rope_corr_dims(p->n_dims, r->p.n_ctx_orig, p->freq_base, r->p.beta_fast, r->p.beta_slow, &r->corr_low,
                    &r->corr_high);
  r->mscale = r->p.attn_factor;
  if (r->p.ext_factor != 0.0f && r->p.freq_scale < 1.0f) r->mscale *= 1.0f + 0.1f * logf(1.0f / r->p.freq_scale);
  r->theta_scale = powf(r->base, -2.0f / (float)p->n_dims);
  return 0;
}

int dq_rope_set_len(dq_rope *r, int64_t n_len)
{
  if (r->p.scaling != DQ_ROPE_SCALING_DYNAMIC_NTK) return 0;
  float b = (float)dq_rope_dynamic_base(r->p.freq_base, r->dyn_alpha, n_len, r->p.n_ctx_orig, r->p.n_dims);
  r->n_len = n_len;
  if (b == r->base) return 0;
  r->base = b;
  r->theta_scale = powf(b, -2.0f / (float)r->p.n_dims);
  return 1;
}

/* Weight of the original (extrapolated) frequency of pair j, before ext_factor. */
static float yarn_ramp(float low, float high, int j)
{
  float y = ((float)j - low) / fmaxf(0.001f, high - low);
  return 1.0f - fminf(1.0f, fmaxf(0.0f, y));
}

double dq_rope_theta(const dq_rope *r, int j)
{
  const dq_rope_params *p = &r->p;
  double t = pow((double)r->base, -2.0 * j / p->n_dims) / r->ff[j];
  double ti = t * p->freq_scale;
  if (p->ext_factor == 0.0f) return ti;
  double w = (double)yarn_ramp(r->corr_low, r->corr_high, j) * p->ext_factor;
  return ti * (1.0 - w) + t * w;
}

void dq_rope_cache(const dq_rope *r, int64_t pos, float *cs)
{
  const dq_rope_params *p = &r->p;
  const int half = p->n_dims / 2;
  const float fs = p->freq_scale, ext = p->ext_factor, m = r->mscale;
  float theta = (float)pos;
  for (int j = 0; j < half; j++) {
    float t_ext = theta / r->ff[j];
    float t = fs * t_ext;
    if (ext != 0.0f) {
      float w = yarn_ramp(r->corr_low, r->corr_high, j) * ext;
      t = t * (1.0f - w) + t_ext * w;
    }
    cs[2 * j] = cosf(t) * m;
    cs[2 * j + 1] = sinf(t) * m;
    theta *= r->theta_scale;
  }
}

/* Each rotated value rounds as llama.cpp's build does: its compiler fuses the
 * first product of a*c - b*s and a*s + b*c into an FMA (measured against
 * ggml's own rope_f32 bit for bit), two roundings instead of three. */
void dq_rope_apply(const dq_rope *r, float *x, int n_heads, int head_dim, const float *cs)
{
  const int half = r->p.n_dims / 2;
  for (int h = 0; h < n_heads; h++) {
    float *v = x + (size_t)h * head_dim;
    if (r->p.mode == DQ_ROPE_NEOX) {
      for (int j = 0; j < half; j++) {
        float a = v[j], b = v[j + half], c = cs[2 * j], s = cs[2 * j + 1];
        v[j] = fmaf(a, c, -(b * s));
        v[j + half] = fmaf(a, s, b * c);
      }
    } else {
      for (int j = 0; j < half; j++) {
        float a = v[2 * j], b = v[2 * j + 1], c = cs[2 * j], s = cs[2 * j + 1];
        v[2 * j] = fmaf(a, c, -(b * s));
        v[2 * j + 1] = fmaf(a, s, b * c);
      }
    }
  }
}

double dq_rope_ntk_base(double base, double s, int n_dims)
{
  return base * pow(s, (double)n_dims / (n_dims - 2));
}

void dq_rope_llama3_factors(float *ff, int n_dims, double base, double factor, double low_freq_factor,
                            double high_freq_factor, int n_ctx_orig)
{
  const double lam_low = n_ctx_orig / low_freq_factor, lam_high = n_ctx_orig / high_freq_factor;
  for (int j = 0; j < n_dims / 2; j++) {
    double th = pow(base, -2.0 * j / n_dims), lam = 2.0 * M_PI / th, thp;
    if (lam < lam_high) thp = th;
    else if (lam > lam_low) thp = th / factor;
    else {
      double smooth = (n_ctx_orig / lam - low_freq_factor) / (high_freq_factor - low_freq_factor);
      thp = (1.0 - smooth) * th / factor + smooth * th;
    }
    ff[j] = (float)(th / thp);
  }
}

const char *dq_rope_scaling_name(int scaling)
{
  switch (scaling) {
  case DQ_ROPE_SCALING_NONE: return "none";
  case DQ_ROPE_SCALING_LINEAR: return "linear";
  case DQ_ROPE_SCALING_YARN: return "yarn";
  case DQ_ROPE_SCALING_LONGROPE: return "longrope";
  case DQ_ROPE_SCALING_NTK: return "ntk";
  case DQ_ROPE_SCALING_DYNAMIC_NTK: return "dynamic-ntk";
  default: return "unknown";
  }
}

int dq_rope_scaling_from_name(const char *name)
{
  for (int t = DQ_ROPE_SCALING_NONE; t <= DQ_ROPE_SCALING_DYNAMIC_NTK; t++)
    if (!strcmp(name, dq_rope_scaling_name(t))) return t;
  if (!strcmp(name, "dynamic") || !strcmp(name, "dynamic_ntk")) return DQ_ROPE_SCALING_DYNAMIC_NTK;
  if (!strcmp(name, "su")) return DQ_ROPE_SCALING_LONGROPE;
  return -1;
}

/* The file's range is what it was made for: its trained context when it
 * declares an extension (factor > 1, per-pair factors), else the original
 * context (which an override may lower, e.g. stories260K: 2048 -> 512). */
int dq_rope_plan_for(dq_rope_plan *out, const dq_rope_params *file, float file_factor, int n_ctx_train,
                     int has_freq_factors, int n_ctx_orig_override, int64_t n_need)
{
  memset(out, 0, sizeof *out);
  if (n_need <= 0 || n_need > (1 << 22)) return dq_err_set(DOCQ_EINVAL, "rope plan: %lld tokens", (long long)n_need);
  int L = n_ctx_orig_override > 0 ? n_ctx_orig_override : file->n_ctx_orig > 0 ? file->n_ctx_orig : n_ctx_train;
  if (L <= 0) L = 2048;
  const int declared = has_freq_factors || file->scaling == DQ_ROPE_SCALING_LONGROPE ||
                       ((file->scaling == DQ_ROPE_SCALING_LINEAR || file->scaling == DQ_ROPE_SCALING_YARN) &&
                        file_factor > 1.0f);
  int range = declared && n_ctx_train > 0 ? n_ctx_train : L;
  if (n_ctx_orig_override > 0 && !declared) range = n_ctx_orig_override;
  out->n_ctx_orig = L;
  out->n_ctx = (int)n_need;
  if (n_need <= range) {
    out->scaling = file->scaling;
    out->factor = declared ? file_factor : 1.0f;
    if (!declared) out->scaling = DQ_ROPE_SCALING_NONE;
    return 0;
  }
  if (has_freq_factors || file->scaling == DQ_ROPE_SCALING_LONGROPE)
    return dq_err_set(DOCQ_EINVAL,
                      "%lld tokens do not fit the model's %d: its extension is fixed by per-pair factors "
                      "(rope_freqs / LongRoPE) and cannot be stretched further",
                      (long long)n_need, range);
  out->scaling = file->scaling == DQ_ROPE_SCALING_LINEAR && file_factor > 1.0f ? DQ_ROPE_SCALING_LINEAR
                                                                                : DQ_ROPE_SCALING_YARN;
  /* the smallest factor that covers n_need; nudged up if float rounding
   * leaves s*L a hair short */
  float s = (float)((double)n_need / L);
  while ((double)s * L < (double)n_need) s = nextafterf(s, INFINITY);
  out->factor = s;
  out->extended = 1;
  return 0;
}
