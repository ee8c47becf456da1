/* KV cache storage: allocation sized to the request, quantized row writes,
 * tile reads, and position shifts (re-rotation of post-RoPE keys).
 *
 * Invariants: rows are whole blocks (head_dim % block == 0 checked at
 * creation); the storage is one allocation per tensor, sized once; dq_kv_write
 * and the shift quantize with the scalar reference quantizers so the cache
 * content does not depend on the CPU's SIMD level (F16 rows excepted where
 * F16C is compiled in: its conversion rounds to nearest even as the
 * reference does, so the bits are the same but for NaN payloads). */
#include <math.h>
#include <string.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "engine/kernels.h"
#include "engine/kvcache.h"
#include "engine/rope.h"
#include "util/err.h"
#include "util/mem.h"

int dq_kv_type_ok(int type)
{
  return type == DQ_T_F16 || type == DQ_T_Q8_0 || type == DQ_T_Q4_0 || type == DQ_T_F32;
}

int dq_kv_type_from_name(const char *name)
{
  static const struct { const char *n; int t; } tab[] = {
    {"f16", DQ_T_F16}, {"q8_0", DQ_T_Q8_0}, {"q4_0", DQ_T_Q4_0}, {"f32", DQ_T_F32}};
  if (!name) return -1;
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (strcmp(name, tab[i].n) == 0) return tab[i].t;
  return -1;
}

size_t dq_kv_bytes_for(int n_layer, int n_ctx, int n_kv_head, int head_dim, int type_k, int type_v)
{
  if (n_layer <= 0 || n_ctx <= 0 || n_kv_head <= 0 || head_dim <= 0) return 0;
  if (!dq_kv_type_ok(type_k) || !dq_kv_type_ok(type_v)) return 0;
  size_t rk = dq_type_row_bytes(type_k, head_dim), rv = dq_type_row_bytes(type_v, head_dim), rows, b;
  if (!rk || !rv) return 0;
  if (dq_mul_ovf((size_t)n_layer, (size_t)n_ctx, &rows) || dq_mul_ovf(rows, (size_t)n_kv_head, &rows) ||
      dq_mul_ovf(rows, rk + rv, &b))
    return 0;
  return b;
}

int dq_kv_new(dq_kv **out, int n_layer, int n_ctx, int n_kv_head, int head_dim, int type_k, int type_v)
{
  int rc = 0;
  dq_kv *kv = NULL;
  DQ_ASSERT_ARG(out);
  *out = NULL;
  if (n_layer <= 0 || n_ctx <= 0 || n_kv_head <= 0 || head_dim <= 0)
    return dq_err_set(DOCQ_EINVAL, "kv cache: bad shape (layers %d, ctx %d, kv heads %d, head dim %d)", n_layer,
                      n_ctx, n_kv_head, head_dim);
  for (int i = 0; i < 2; i++) {
    const int t = i ? type_v : type_k;
    const char *which = i ? "V" : "K";
    if (!dq_kv_type_ok(t))
      return dq_err_set(DOCQ_EINVAL, "kv cache: %s type %s is not supported (f16, q8_0, q4_0, f32)", which,
                        dq_type_info_get(t)->name);
    if (dq_type_row_bytes(t, head_dim) == 0)
      return dq_err_set(DOCQ_EINVAL, "kv cache: %s type %s needs head_dim a multiple of %u, got %d", which,
                        dq_type_info_get(t)->name, dq_type_info_get(t)->block_elems, head_dim);
  }
  const size_t total = dq_kv_bytes_for(n_layer, n_ctx, n_kv_head, head_dim, type_k, type_v);
  if (total == 0) return dq_err_set(DOCQ_ENOMEM, "kv cache for %d tokens is too large", n_ctx);
  if (!(kv = dq_calloc(1, sizeof *kv))) return DOCQ_ENOMEM;
  kv->n_layer = n_layer;
  kv->n_ctx = n_ctx;
  kv->n_kv_head = n_kv_head;
  kv->head_dim = head_dim;
  kv->type_k = type_k;
  kv->type_v = type_v;
  kv->row_k = dq_type_row_bytes(type_k, head_dim);
  kv->row_v = dq_type_row_bytes(type_v, head_dim);
  const size_t nrows = (size_t)n_layer * (size_t)n_ctx * (size_t)n_kv_head;
  /* calloc: every representation of zero bytes is a valid 0.0 row, so reading
   * a never-written row is defined (it is masked anyway). */
  if (!(kv->k = dq_calloc(nrows, kv->row_k)) || !(kv->v = dq_calloc(nrows, kv->row_v)) ||
      !(kv->tmp = dq_malloc((size_t)head_dim * sizeof(float)))) {
    rc = DOCQ_ENOMEM;
    goto done;
  }
  *out = kv;
  kv = NULL;
done:
  dq_kv_free(kv);
  return rc;
}

void dq_kv_free(dq_kv *kv)
{
  if (!kv) return;
  dq_free(kv->k);
  dq_free(kv->v);
  dq_free(kv->tmp);
  dq_free(kv);
}

size_t dq_kv_bytes(const dq_kv *kv)
{
  return kv ? (size_t)kv->n_layer * (size_t)kv->n_ctx * (size_t)kv->n_kv_head * (kv->row_k + kv->row_v) : 0;
}

/* One head's row into the cache. F16, the default type, by the hardware
 * conversion: the reference's scalar rounding of the two rows per layer and
 * token was 0.37% of a 0.5B model's decode samples (perf; now 0.03%). */
static void put_row(int type, const float *x, void *out, int n)
{
#if defined(__F16C__)
  if (type == DQ_T_F16) {
    uint16_t *o = out;
    int i = 0;
    for (; i + 8 <= n; i += 8)
      _mm_storeu_si128((__m128i *)(o + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) o[i] = dq_f32_to_f16(x[i]);
    return;
  }
#endif
  dq_quantize_row_ref(type, x, out, n);
}

int dq_kv_write(dq_kv *kv, int layer, int pos, const float *k, const float *v)
{
  DQ_ASSERT_ARG(kv && k && v);
  if (layer < 0 || layer >= kv->n_layer || pos < 0 || pos >= kv->n_ctx)
    return dq_err_set(DOCQ_EINVAL, "kv cache: write at layer %d position %d outside (%d layers, %d positions)",
                      layer, pos, kv->n_layer, kv->n_ctx);
  const int hd = kv->head_dim;
  for (int h = 0; h < kv->n_kv_head; h++) {
    put_row(kv->type_k, k + (size_t)h * hd, dq_kv_krow(kv, layer, pos, h), hd);
    put_row(kv->type_v, v + (size_t)h * hd, dq_kv_vrow(kv, layer, pos, h), hd);
  }
  return 0;
}

void dq_kv_move_to_front(dq_kv *kv, int from, int n)
{
  if (from <= 0 || n <= 0) return;
  const size_t rows = (size_t)n * (size_t)kv->n_kv_head;
  for (int l = 0; l < kv->n_layer; l++) {
    memmove(dq_kv_krow(kv, l, 0, 0), dq_kv_krow(kv, l, from, 0), rows * kv->row_k);
    memmove(dq_kv_vrow(kv, l, 0, 0), dq_kv_vrow(kv, l, from, 0), rows * kv->row_v);
  }
}

void dq_kv_write_k(dq_kv *kv, int layer, int pos, const float *k)
{
  const int hd = kv->head_dim;
  for (int h = 0; h < kv->n_kv_head; h++) put_row(kv->type_k, k + (size_t)h * hd, dq_kv_krow(kv, layer, pos, h), hd);
}

/* Rows of one kv head are n_kv_head rows apart, so a tile is n strided rows. */
void dq_kv_read_k(const dq_kv *kv, int layer, int kvh, int pos0, int n, float *out)
{
  const size_t stride = (size_t)kv->n_kv_head * kv->row_k;
  const uint8_t *r = dq_kv_krow(kv, layer, pos0, kvh);
  for (int i = 0; i < n; i++, r += stride, out += kv->head_dim) dq_dequant_row(kv->type_k, r, out, kv->head_dim);
}

void dq_kv_read_v(const dq_kv *kv, int layer, int kvh, int pos0, int n, float *out)
{
  const size_t stride = (size_t)kv->n_kv_head * kv->row_v;
  const uint8_t *r = dq_kv_vrow(kv, layer, pos0, kvh);
  for (int i = 0; i < n; i++, r += stride, out += kv->head_dim) dq_dequant_row(kv->type_v, r, out, kv->head_dim);
}

void dq_kv_rotate(float *x, int head_dim, int n_rot, int rope_mode, const float *theta, double delta)
{
  const int half = n_rot / 2;
  (void)head_dim;
  for (int j = 0; j < half; j++) {
    /* delta * theta can reach ~1e5 rad for long shifts: double keeps the
     * angle error far below the float rounding of the key itself. */
    const double a = delta * (double)theta[j], c = cos(a), s = sin(a);
    const int ia = rope_mode == DQ_ROPE_NEOX ? j : 2 * j;
    const int ib = rope_mode == DQ_ROPE_NEOX ? j + half : 2 * j + 1;
    const double x0 = x[ia], x1 = x[ib];
    x[ia] = (float)(x0 * c - x1 * s);
    x[ib] = (float)(x0 * s + x1 * c);
  }
}

int dq_kv_shift_k(dq_kv *kv, int pos0, int n, double delta, int n_rot, int rope_mode, const float *theta)
{
  DQ_ASSERT_ARG(kv && theta);
  if (pos0 < 0 || n < 0 || n > kv->n_ctx - pos0)
    return dq_err_set(DOCQ_EINVAL, "kv shift: positions [%d, %d) outside the cache of %d", pos0, pos0 + n,
                      kv->n_ctx);
  if (n_rot <= 0 || n_rot % 2 || n_rot > kv->head_dim)
    return dq_err_set(DOCQ_EINVAL, "kv shift: n_rot %d must be even and <= head_dim %d", n_rot, kv->head_dim);
  if (rope_mode != DQ_ROPE_NORM && rope_mode != DQ_ROPE_NEOX)
    return dq_err_set(DOCQ_EINVAL, "kv shift: unknown rope mode %d", rope_mode);
  const int hd = kv->head_dim;
  for (int l = 0; l < kv->n_layer; l++)
    for (int p = pos0; p < pos0 + n; p++)
      for (int h = 0; h < kv->n_kv_head; h++) {
        uint8_t *row = dq_kv_krow(kv, l, p, h);
        dq_dequant_row_ref(kv->type_k, row, kv->tmp, hd);
        dq_kv_rotate(kv->tmp, hd, n_rot, rope_mode, theta, delta);
        dq_quantize_row_ref(kv->type_k, kv->tmp, row, hd);
      }
  return 0;
}

int dq_kv_evict(dq_kv *kv, int n_used, int n_keep, int n_discard, int n_rot, int rope_mode, const float *theta)
{
  DQ_ASSERT_ARG(kv && theta);
  if (n_used < 0 || n_used > kv->n_ctx || n_keep < 0 || n_discard < 0 || n_keep > n_used ||
      n_discard > n_used - n_keep)
    return dq_err_set(DOCQ_EINVAL, "kv evict: keep %d + discard %d of %d used positions (capacity %d)", n_keep,
                      n_discard, n_used, kv->n_ctx);
  const int n_move = n_used - n_keep - n_discard;
  if (n_discard == 0) return n_used;
  /* Per layer the moved rows are contiguous ((n_ctx, n_kv_head) rows). */
  const size_t rows = (size_t)n_move * (size_t)kv->n_kv_head;
  for (int l = 0; l < kv->n_layer; l++) {
    memmove(dq_kv_krow(kv, l, n_keep, 0), dq_kv_krow(kv, l, n_keep + n_discard, 0), rows * kv->row_k);
    memmove(dq_kv_vrow(kv, l, n_keep, 0), dq_kv_vrow(kv, l, n_keep + n_discard, 0), rows * kv->row_v);
  }
  int rc = dq_kv_shift_k(kv, n_keep, n_move, -(double)n_discard, n_rot, rope_mode, theta);
  return rc < 0 ? rc : n_keep + n_move;
}
