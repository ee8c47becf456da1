/* Q2_K, Q3_K, IQ4_NL and IQ4_XS kernels against ggml itself.
 * tests/data/ggml-quants.txt (written by
 * tests/tools/ggml_kquants.c, see its header) holds blocks made by ggml's
 * quantizer, ggml's dequantization of them, activation blocks made by ggml's
 * CPU backend in each type's vec_dot_type (Q8_K; Q8_0 for IQ4_NL) and
 * ggml's vec_dot of each row with each activation.
 *
 * Why an outside reference: docq's quantizer and dequantizer were written
 * from the same reading of the bit layout, so a round trip through both
 * passes even when that reading is wrong (a swapped nibble, a wrong hmask
 * bit, the 6-bit scale packing, IQ4_XS's scales_h bits). Blocks from ggml pin
 * the layout, and ggml's vec_dot pins the integer dot product (Q2_K's min
 * term through the Q8_K bsums, Q3_K's -4 offset and scale - 32, IQ4's
 * codebook and IQ4_XS's ls - 32) as llama.cpp computes it.
 *
 * ggml's Q8_K blocks are byte-identical to docq's dq_q8k and are used as
 * read. ggml's Q8_0 blocks ({f16 d; int8 qs[32]}, 34 bytes) are not docq's
 * dq_q8a ({float d; float s; int8 qs[32]}): the test converts them, d the
 * f16 widened (exact) and s = d * sum(qs), as docq's dq_quantize_q8a forms it.
 *
 * Needs DOCQ_SOURCE_DIR (ctest sets it); without it the test exits 77
 * (skipped) with a message. When it is set, an unreadable or malformed file
 * is a failure. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/gguf.h"
#include "engine/kernels.h"
#include "engine/quant_internal.h"

enum { N_TYPES = 4, MAX_N = 512, MAX_ROWS = 4, MAX_ACTS = 2, MAX_RB = 512, MAX_AB = 1024 };
enum { GGML_Q8_0_BYTES = 34 }; /* ggml's block_q8_0: f16 d, int8 qs[32] */

typedef struct {
  char name[16], act_name[16];
  int id, n, rows, row_bytes, acts, act_bytes;
  int act_kind; /* dq_kq_act_kind: 1 = q8a (from ggml's Q8_0), 2 = q8k (Q8_K) */
  /* rows back to back as in a GGUF tensor (row r at r * row_bytes), so rows
   * after the first are only as aligned as real tensors' rows */
  _Alignas(64) uint8_t w[MAX_ROWS * MAX_RB];
  float deq[MAX_ROWS][MAX_N];
  uint8_t act_ggml[MAX_ACTS][MAX_AB]; /* ggml's activation bytes, as in the file */
  dq_q8k act_k[MAX_ACTS][MAX_N / DQ_QKK]; /* act_kind 2: the same bytes */
  dq_q8a act_a[MAX_ACTS][MAX_N / DQ_QK];  /* act_kind 1: converted */
  float dot[MAX_ROWS][MAX_ACTS];
} ref_type;

static ref_type g_ref[N_TYPES];
static int g_loaded; /* 0 not tried, 1 ok, -1 failed (g_err says why) */
static char g_path[1024], g_err[512];

/* ===== reading the data file ============================================ */

static int parse_fail(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err, sizeof g_err, fmt, ap);
  va_end(ap);
  return -1;
}

/* Next token must be `want`; the int that follows goes to *v (v may be NULL). */
static int expect(FILE *f, const char *want, int *v)
{
  char tok[32];
  if (fscanf(f, " %31s", tok) != 1 || strcmp(tok, want))
    return parse_fail("expected \"%s\", found \"%s\"", want, feof(f) ? "end of file" : tok);
  if (v && fscanf(f, "%d", v) != 1) return parse_fail("expected a number after \"%s\"", want);
  return 0;
}

/* Next must be `want` followed by the number `idx` (sections come in order). */
static int expect_idx(FILE *f, const char *want, int idx)
{
  int v;
  if (expect(f, want, &v)) return -1;
  return v == idx ? 0 : parse_fail("expected \"%s %d\", found \"%s %d\"", want, idx, want, v);
}

static int read_hex(FILE *f, uint8_t *dst, int n, const char *what)
{
  for (int i = 0; i < n; i++) {
    unsigned b;
    if (fscanf(f, "%2x", &b) != 1) return parse_fail("%s: byte %d of %d unreadable", what, i, n);
    dst[i] = (uint8_t)b;
  }
  return 0;
}

/* ggml's Q8_0 block -> docq's dq_q8a: d exact (f16 -> f32), s = d * sum(qs). */
static void q8_0_to_q8a(const uint8_t *b, dq_q8a *y)
{
  int sum = 0;
  y->d = dq_f16_to_f32((uint16_t)(b[0] | b[1] << 8));
  for (int i = 0; i < DQ_QK; i++) sum += y->qs[i] = (int8_t)b[2 + i];
  y->s = y->d * (float)sum;
}

static int read_type(FILE *f, ref_type *t)
{
  char tok[32];
  if (fscanf(f, " type %15s %d", t->name, &t->id) != 2) return parse_fail("expected \"type <name> <id>\"");
  if (expect(f, "n", &t->n) || expect(f, "rows", &t->rows) || expect(f, "row_bytes", &t->row_bytes)) return -1;
  if (fscanf(f, " act %15s", t->act_name) != 1) return parse_fail("%s: expected \"act <type name>\"", t->name);
  if (expect(f, "acts", &t->acts) || expect(f, "act_bytes", &t->act_bytes)) return -1;
  const int be = dq_kq_block_elems(t->id);
  if (!be) return parse_fail("%s: ggml type %d has no docq kernels", t->name, t->id);
  t->act_kind = !strcmp(t->act_name, "q8_0") ? 1 : !strcmp(t->act_name, "q8_K") ? 2 : 0;
  if (!t->act_kind) return parse_fail("%s: activation type %s unknown", t->name, t->act_name);
  const int ab = t->act_kind == 1 ? GGML_Q8_0_BYTES * (t->n / DQ_QK) : (int)sizeof(dq_q8k) * (t->n / DQ_QKK);
  if (t->n <= 0 || t->n > MAX_N || t->n % be || t->n % (t->act_kind == 1 ? DQ_QK : DQ_QKK) || t->rows <= 0 ||
      t->rows > MAX_ROWS || t->row_bytes <= 0 || t->row_bytes > MAX_RB || t->acts <= 0 || t->acts > MAX_ACTS ||
      t->act_bytes != ab || ab > MAX_AB)
    return parse_fail("%s: sizes out of range", t->name);
  for (int r = 0; r < t->rows; r++)
    if (expect_idx(f, "row", r) || read_hex(f, t->w + (size_t)r * t->row_bytes, t->row_bytes, "row")) return -1;
  for (int r = 0; r < t->rows; r++) {
    if (expect_idx(f, "deq", r)) return -1;
    for (int i = 0; i < t->n; i++)
      if (fscanf(f, "%f", &t->deq[r][i]) != 1) return parse_fail("%s: deq %d value %d unreadable", t->name, r, i);
  }
  for (int a = 0; a < t->acts; a++) {
    if (expect_idx(f, "act", a) || read_hex(f, t->act_ggml[a], t->act_bytes, "act")) return -1;
    if (t->act_kind == 2) memcpy(t->act_k[a], t->act_ggml[a], (size_t)t->act_bytes);
    else
      for (int ib = 0; ib < t->n / DQ_QK; ib++) q8_0_to_q8a(t->act_ggml[a] + GGML_Q8_0_BYTES * ib, &t->act_a[a][ib]);
  }
  for (int r = 0; r < t->rows; r++)
    for (int a = 0; a < t->acts; a++) {
      int rr, aa;
      if (fscanf(f, " dot %d %d %f", &rr, &aa, &t->dot[r][a]) != 3 || rr != r || aa != a)
        return parse_fail("%s: expected \"dot %d %d <value>\"", t->name, r, a);
    }
  if (fscanf(f, " %31s", tok) != 1 || strcmp(tok, "end")) return parse_fail("%s: expected \"end\"", t->name);
  return 0;
}

static int load(const char *path)
{
  FILE *f = fopen(path, "r");
  if (!f) return parse_fail("cannot open: %s", strerror(errno));
  int c;
  /* the # header lines */
  while ((c = getc(f)) == '#')
    while ((c = getc(f)) != EOF && c != '\n') {}
  if (c != EOF) ungetc(c, f);
  int rc = 0;
  for (int i = 0; i < N_TYPES && !rc; i++) rc = read_type(f, &g_ref[i]);
  if (!rc) rc = expect(f, "eof", NULL);
  fclose(f);
  return rc;
}

/* The reference for `type`; fails the test when the file could not be read. */
static const ref_type *ref(int type)
{
  if (!g_loaded) {
    snprintf(g_path, sizeof g_path, "%s/tests/data/ggml-quants.txt", getenv("DOCQ_SOURCE_DIR"));
    g_loaded = load(g_path) ? -1 : 1;
  }
  if (g_loaded < 0) fail_msg("%s: %s", g_path, g_err);
  for (int i = 0; i < N_TYPES; i++)
    if (g_ref[i].id == type) return &g_ref[i];
  fail_msg("type %d not in the data file", type);
  return NULL;
}

static const uint8_t *row_of(const ref_type *t, int r) { return t->w + (size_t)r * t->row_bytes; }

/* docq's activation a of a type (dq_q8k or dq_q8a blocks). */
static const void *act_of(const ref_type *t, int a)
{
  return t->act_kind == 2 ? (const void *)t->act_k[a] : (const void *)t->act_a[a];
}

/* Where element i sits in its type's blocks, for failure messages. */
static void where(const ref_type *t, int i, char *buf, size_t size)
{
  const int be = dq_kq_block_elems(t->id);
  if (t->id == DQ_T_IQ4_NL || t->id == DQ_T_IQ4_XS) {
    /* 32-element blocks; element l < 16 is the low nibble of qs[l], else the high one of qs[l - 16] */
    const int l = i % 32;
    char blk[48] = "";
    if (be == DQ_QKK) snprintf(blk, sizeof blk, "super-block %d, ", i / DQ_QKK);
    const int ib = be == DQ_QKK ? i % DQ_QKK / 32 : i / 32; /* block within the super-block / row */
    snprintf(buf, size, "%sblock %d, l %d: %s nibble of qs[%d]", blk, ib, l, l < 16 ? "low" : "high",
             (be == DQ_QKK ? 16 * ib : 0) + l % 16);
  } else {
    snprintf(buf, size, "super-block %d, sub-block %d, l %d", i / DQ_QKK, i % DQ_QKK / 16, i % 16);
  }
}

/* The block holding element i (for the K-quants and IQ4_XS the
 * 256-element super-block), as hex, for failure messages. */
static void print_block(const ref_type *t, int r, int i)
{
  const size_t bb = dq_kq_block_bytes(t->id);
  const int be = dq_kq_block_elems(t->id);
  const uint8_t *b = row_of(t, r) + (size_t)(i / be) * bb;
  print_error("%s %s %d of row %d (%zu bytes): ", t->name, be == DQ_QKK ? "super-block" : "block", i / be, r, bb);
  for (size_t k = 0; k < bb; k++) print_error("%02x", b[k]);
  print_error("\n");
}

static uint32_t bits(float v)
{
  uint32_t u;
  memcpy(&u, &v, 4);
  return u;
}

static const int k_types[N_TYPES] = { DQ_T_Q2_K, DQ_T_Q3_K, DQ_T_IQ4_NL, DQ_T_IQ4_XS };

/* ===== tests ============================================================= */

/* The file's sizes are docq's: blocks, rows and activations (Q8_K blocks
 * byte for byte; ggml's Q8_0 blocks one per docq dq_q8a). */
static void test_engine_kernels_ggml__layout(void **state)
{
  (void)state;
  /* block elements / bytes and activation kind as ggml defines the types */
  static const struct { int id, elems, bytes, act_kind; } want[N_TYPES] = {
    { DQ_T_Q2_K, DQ_QKK, 84, 2 }, { DQ_T_Q3_K, DQ_QKK, 110, 2 }, { DQ_T_IQ4_NL, DQ_QK, 18, 1 },
    { DQ_T_IQ4_XS, DQ_QKK, 136, 2 },
  };
  for (int k = 0; k < N_TYPES; k++) {
    const ref_type *t = ref(want[k].id);
    assert_true(dq_kernels_supports(t->id));
    assert_int_equal(dq_kq_block_elems(t->id), want[k].elems);
    assert_int_equal(dq_kq_block_bytes(t->id), want[k].bytes);
    assert_int_equal(dq_kq_row_bytes(t->id, t->n), t->row_bytes);
    assert_int_equal(dq_kq_act_kind(t->id), want[k].act_kind); /* ggml's vec_dot_type */
    assert_int_equal(t->act_kind, want[k].act_kind);
    const size_t docq_ab = t->act_kind == 2 ? sizeof(dq_q8k) * (size_t)(t->n / DQ_QKK)
                                            : sizeof(dq_q8a) * (size_t)(t->n / DQ_QK);
    assert_int_equal(dq_kq_act_bytes(t->id, t->n), docq_ab);
  }
  /* IQ4_NL's row is not whole super-blocks, the reason the type exists */
  assert_int_not_equal(ref(DQ_T_IQ4_NL)->n % DQ_QKK, 0);
  assert_int_equal(sizeof(dq_blk_q2_k), 84);
  assert_int_equal(sizeof(dq_blk_q3_k), 110);
  assert_int_equal(sizeof(dq_blk_iq4_nl), 18);
  assert_int_equal(sizeof(dq_blk_iq4_xs), 136);
  assert_int_equal(sizeof(dq_q8k), 292);
  assert_int_equal(sizeof(dq_q8a), 40);
}

/* Reference dequantization equals ggml's bit for bit (up to the sign of
 * zero). No tolerance is needed because only one rounding can happen: d and
 * dmin are f16 (11 significant bits), the scales and mins at most 6 bits and
 * the quants 3, so d * scale and d * scale * q (at most 20 bits) are exact in
 * float whatever the order; Q3_K's value is such a product, and Q2_K's is
 * one rounding of the exact d*sc*q - dmin*m. IQ4_NL's value is d * v and
 * IQ4_XS's (d * (ls - 32)) * v, v a codebook entry (|v| <= 127: 7
 * significant bits) and |ls - 32| <= 32 (5): at most 11 + 5 + 7 = 23 bits,
 * exact too (f16 subnormals are normal floats, so nothing underflows). Any
 * mismatch is a layout error. */
static void check_dequant(int fast)
{
  float out[MAX_N];
  char pos[96];
  for (int k = 0; k < N_TYPES; k++) {
    const ref_type *t = ref(k_types[k]);
    for (int r = 0; r < t->rows; r++) {
      memset(out, 0xff, sizeof out); /* NaN: elements not written fail */
      if (fast) dq_dequant_row(t->id, row_of(t, r), out, t->n);
      else dq_dequant_row_ref(t->id, row_of(t, r), out, t->n);
      for (int i = 0; i < t->n; i++) {
        const float want = t->deq[r][i], got = out[i];
        /* the fast path may order its operations differently: 1e-6
         * relative, though by the argument above it should be exact too */
        const int ok = fast ? fabsf(got - want) <= 1e-6f * fabsf(want) : got == want;
        if (!ok) {
          where(t, i, pos, sizeof pos);
          print_error("%s %s row %d element %d (%s): ggml %.9g (%08x), docq %.9g (%08x)\n", t->name,
                      fast ? "dq_dequant_row" : "dq_dequant_row_ref", r, i, pos, want, bits(want), got, bits(got));
          print_block(t, r, i);
          fail();
        }
      }
    }
  }
}

static void test_engine_kernels_ggml__dequant_ref_exact(void **state)
{
  (void)state;
  check_dequant(0);
}

static void test_engine_kernels_ggml__dequant_fast(void **state)
{
  (void)state;
  check_dequant(1);
}

/* Dot products with ggml's activation blocks against ggml's vec_dot. Both
 * sides form each block's integer sums exactly (Q2_K: sum of sc * <q, q8>
 * and of m * bsums; Q3_K: sum of (sc - 32) * <q, q8>; IQ4_XS: sum of
 * (ls - 32) * <v[q], q8>; IQ4_NL: <v[q], q8> per 32-element block), so they
 * differ only in the float steps: d_w * d_a times those sums, the min term,
 * and the sum over blocks (ggml: 8 FMA lanes, for IQ4_NL two such
 * accumulators over block pairs and a scalar tail for the odd 13th block,
 * then a horizontal sum). Those terms are about the size of the result, at
 * most a few times it (Q2_K's min term partly cancels), so a few float ulps
 * of them stay near 1e-6 of (1 + |ref|): in this file ggml's results are
 * within 1e-6 of that of the exact dot of its dequantized values and
 * activations (IQ4_NL 9.4e-7, the others at most 6.6e-7). 2e-5 leaves a
 * margin of about 20, while one quant off by one step (d_w * sc * d_a * q8)
 * moves a result by 1e-4 of it or more unless that activation quant is tiny;
 * the element-wise dequant tests see those anyway. */
static int dot_close(float got, float want) { return fabsf(got - want) <= 2e-5f * (1 + fabsf(want)); }

static void check_dot(int fast)
{
  for (int k = 0; k < N_TYPES; k++) {
    const ref_type *t = ref(k_types[k]);
    for (int a = 0; a < t->acts; a++) {
      float rows_out[MAX_ROWS];
      const void *act = act_of(t, a);
      if (fast) dq_kq_dot_rows(t->id, t->w, (size_t)t->row_bytes, t->rows, NULL, act, t->n, a & 1, rows_out);
      for (int r = 0; r < t->rows; r++) {
        const float want = t->dot[r][a];
        const float got = fast ? dq_kq_dot(t->id, row_of(t, r), NULL, act, t->n)
                               : dq_kq_dot_act_ref(t->id, row_of(t, r), act, t->n);
        if (!dot_close(got, want)) {
          print_error("%s %s row %d act %d (%s, n %d): ggml %.9g, docq %.9g (diff %.3g, allowed %.3g)\n", t->name,
                      fast ? "dq_kq_dot" : "dq_kq_dot_act_ref", r, a, t->act_name, t->n, want, got, got - want,
                      2e-5 * (1 + fabs(want)));
          fail();
        }
        /* dq_kq_dot_rows promises dq_kq_dot's result bit for bit */
        if (fast && bits(rows_out[r]) != bits(got)) {
          print_error("%s dq_kq_dot_rows row %d act %d: %.9g, dq_kq_dot %.9g\n", t->name, r, a, rows_out[r], got);
          fail();
        }
      }
    }
  }
}

static void test_engine_kernels_ggml__dot_ref(void **state)
{
  (void)state;
  check_dot(0);
}

static void test_engine_kernels_ggml__dot_fast(void **state)
{
  (void)state;
  check_dot(1);
}

int main(void)
{
  const char *src = getenv("DOCQ_SOURCE_DIR");
  if (!src || !*src) {
    fprintf(stderr, "DOCQ_SOURCE_DIR not set: the Q2_K / Q3_K / IQ4_NL / IQ4_XS checks against ggml "
                    "(tests/data/ggml-quants.txt) are skipped\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_kernels_ggml__layout),
    cmocka_unit_test(test_engine_kernels_ggml__dequant_ref_exact),
    cmocka_unit_test(test_engine_kernels_ggml__dequant_fast),
    cmocka_unit_test(test_engine_kernels_ggml__dot_ref),
    cmocka_unit_test(test_engine_kernels_ggml__dot_fast),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
