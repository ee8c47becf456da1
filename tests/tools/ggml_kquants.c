/* Writes tests/data/ggml-quants.txt:
 * Q2_K, Q3_K, IQ4_NL and IQ4_XS blocks made by ggml itself, ggml's
 * dequantization of them, activation blocks of each type's vec_dot_type
 * (Q8_K; Q8_0 for IQ4_NL) made by ggml's CPU backend and ggml's vec_dot of
 * every row with every activation. It is an outside reference for docq's
 * kernels of these types (tests/unit/engine/test_kernels_ggml.c): docq's own
 * quantizer cannot tell whether docq read the bit layout right, ggml's
 * blocks can.
 *
 * Only ggml's public API is used: ggml_quantize_chunk (imatrix NULL, so the
 * plain quantizers; the tool stops if ggml_quantize_requires_imatrix says a
 * type needs one) and the to_float trait from ggml.h; from_float of the
 * type's vec_dot_type and vec_dot from ggml-cpu.h.
 *
 * Rows are 512 elements (two 256-element super-blocks), IQ4_NL's 416 = 13
 * blocks of 32: a length that is not a multiple of 256 (the reason IQ4_NL
 * exists: llama.cpp's fallback for such rows) and an odd block count.
 *
 * The inputs come from a built-in xorshift generator and Irwin-Hall "normal"
 * numbers (sum of 12 uniforms), so no libm or rand() is involved and the file
 * is the same on every IEEE machine for the same ggml. The float weights and
 * activations are not written, only ggml's blocks of them: the test starts
 * from the blocks, and the file stays small.
 *
 * Not part of the build. With llama.cpp built outside the repo
 * (LLAMA=/path/to/llama.cpp, cmake -B build -DCMAKE_BUILD_TYPE=Release):
 *   cc -std=c11 -O2 -Wall -Wextra tests/tools/ggml_kquants.c -o /tmp/ggml_kquants \
 *      -I$LLAMA/ggml/include -L$LLAMA/build/bin -lggml-cpu -lggml-base -lm \
 *      -Wl,-rpath,$LLAMA/build/bin
 *   /tmp/ggml_kquants "$(git -C $LLAMA log -1 --format=%h)" > tests/data/ggml-quants.txt
 *
 * Format (after the # header lines), whitespace-separated tokens, per type:
 *   type <name> <ggml id> n <n> rows <R> row_bytes <B> act <vec_dot_type name> acts <A> act_bytes <C>
 *   row <r> <B bytes as hex, one line>                       (for r < R)
 *   deq <r> <n values, 16 per line>                          (for r < R)
 *   act <a> <C bytes of vec_dot_type blocks as hex, one line> (for a < A)
 *   dot <r> <a> <value %.9g>                                 (R x A lines)
 *   end
 * and "eof" after the last type. The deq values are printed in the fewest
 * significant digits (at most 9) that read back (strtof) as the same float.
 * Types in the file, in order: q2_K, q3_K, iq4_nl, iq4_xs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-cpu.h"
#include "ggml.h"

enum { N = 512, ROWS = 4, ACTS = 2 };

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd_u32(void)
{
  g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
  return (uint32_t)(g_rng >> 32);
}
/* Irwin-Hall: mean 0, variance 1, tails cut at +-6 (outliers are added on
 * purpose below). Computed in double from 24-bit uniforms: exact, portable. */
static float rnd_normal(void)
{
  double s = 0;
  for (int i = 0; i < 12; i++) s += (double)(rnd_u32() >> 8) / 16777216.0;
  return (float)(s - 6.0);
}

/* The weight rows; each aims at a different corner of the quantizers.
 * Q2_K / Q3_K: 16-element sub-blocks with a scale (and min) each. */
static void make_row_k(int r, float *x, int n)
{
  for (int i = 0; i < n; i++) x[i] = rnd_normal();
  switch (r) {
  case 0: /* plain normal data */
    break;
  case 1: /* heavy tail: a few large values set the block scales */
    for (int i = 0; i < n; i++)
      if ((rnd_u32() & 63) == 0) x[i] *= 8;
    x[300] = -12.5f;
    break;
  case 2: /* constant / zero / one-signed sub-blocks (16 elements each) */
    for (int i = 48; i < 64; i++) x[i] = 0;         /* zero sub-block */
    for (int i = 144; i < 160; i++) x[i] = 0.75f;   /* constant, positive */
    for (int i = 320; i < 336; i++) x[i] = -1.5f;   /* constant, negative */
    for (int i = 336; i < 352; i++) x[i] = x[i] < 0 ? -x[i] : x[i];
    for (int i = 352; i < 368; i++) x[i] = x[i] > 0 ? -x[i] : x[i];
    break;
  case 3: /* block 0 tiny (the f16 super-block scale goes subnormal),
           * block 1 all positive (Q2_K's min clamps to 0) */
    for (int i = 0; i < 256; i++) x[i] *= 1e-5f;
    for (int i = 256; i < n; i++) x[i] = 2.0f + 0.3f * x[i];
    break;
  }
}

/* IQ4_NL / IQ4_XS: 32-element blocks, each d * codebook value; the block
 * scale's sign follows the block's largest-magnitude value. IQ4_XS stores
 * per super-block d = -(largest block scale) / 32 and per block a 6-bit
 * ls = round(scale / d) + 32 clamped to 0..63: the largest block gets ls 0,
 * blocks whose largest value has the other sign ls > 32, small blocks 32. */
static void make_row_iq4(int r, float *x, int n)
{
  for (int i = 0; i < n; i++) x[i] = rnd_normal();
  switch (r) {
  case 0: /* plain normal data */
    break;
  case 1: /* heavy tail; one negative outlier sets its block's scale */
    for (int i = 0; i < n; i++)
      if ((rnd_u32() & 63) == 0) x[i] *= 8;
    x[300] = -12.5f;
    break;
  case 2: /* constant / zero / one-signed blocks (32 elements each) */
    for (int i = 64; i < 96; i++) x[i] = 0;         /* zero block: d 0 */
    for (int i = 128; i < 160; i++) x[i] = 0.75f;   /* constant, positive */
    for (int i = 192; i < 224; i++) x[i] = -1.5f;   /* constant, negative */
    for (int i = 224; i < 256; i++) x[i] = x[i] < 0 ? -x[i] : x[i];
    for (int i = 256; i < 288; i++) x[i] = x[i] > 0 ? -x[i] : x[i];
    break;
  case 3: /* elements 0..255 tiny, so f16 scales go subnormal: 0..127 at
           * 1e-5 (IQ4_NL: d a few f16 steps; IQ4_XS: ls 32, a zero scale),
           * 128..255 at 1e-3 (IQ4_NL's d and IQ4_XS's super-block d);
           * then one block 20 times larger and one 1000 times smaller than
           * the rest (IQ4_XS: ls 0 for the large one, ls 32 for the small
           * one, small scales of both signs for the others) */
    for (int i = 0; i < 256; i++) x[i] *= i < 128 ? 1e-5f : 1e-3f;
    for (int i = 256; i < 288; i++) x[i] *= 20;
    for (int i = 352; i < 384; i++) x[i] *= 1e-3f;
    break;
  }
}

static void make_act(int a, float *x, int n, int iq4)
{
  for (int i = 0; i < n; i++) x[i] = rnd_normal() * (a == 0 ? 1.0f : 0.5f);
  if (a == 1) {
    x[77] = 20;   /* one outlier sets block 0's scale: most quants are small */
    x[400] = -9;  /* block 1's largest magnitude is negative */
    /* Q8_0 (IQ4_NL): a zero block (d 0) and a tiny one (subnormal f16 d).
     * Not for Q8_K: ggml leaves an all-zero block's bsums unwritten. */
    if (iq4)
      for (int i = 96; i < 160; i++) x[i] = i < 128 ? 0 : x[i] * 1e-4f;
  }
}

static void hex(const void *p, size_t n)
{
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
  printf("\n");
}

/* Each float in the fewest significant digits (at most 9) that read back as
 * the same float, which keeps the file about 10% smaller than %.9g. */
static void values(const float *v, int n)
{
  for (int i = 0; i < n; i++) {
    char buf[32];
    for (int p = 1; p <= 9; p++) {
      snprintf(buf, sizeof buf, "%.*g", p, v[i]);
      const float back = strtof(buf, NULL);
      if (!memcmp(&back, &v[i], sizeof back)) break;
    }
    printf("%s%c", buf, i % 16 == 15 ? '\n' : ' ');
  }
}

/* One type: n elements per row (a multiple of its block), ROWS rows, ACTS
 * activations. Types are written in the order called; each draws the next
 * numbers from the one generator, so adding a type at the end leaves the
 * earlier types' lines unchanged. */
static void one_type(enum ggml_type t, int n)
{
  const struct ggml_type_traits *tt = ggml_get_type_traits(t);
  const struct ggml_type_traits_cpu *ct = ggml_get_type_traits_cpu(t);
  enum ggml_type at = ct->vec_dot_type;
  const struct ggml_type_traits_cpu *act = ggml_get_type_traits_cpu(at);
  const int iq4 = t == GGML_TYPE_IQ4_NL || t == GGML_TYPE_IQ4_XS;
  const enum ggml_type want_at = t == GGML_TYPE_IQ4_NL ? GGML_TYPE_Q8_0 : GGML_TYPE_Q8_K;
  if (n > N || n % tt->blck_size || at != want_at || !tt->to_float || !ct->vec_dot || !act->from_float ||
      ct->nrows != 1) {
    fprintf(stderr, "%s: unexpected traits or n\n", tt->type_name);
    exit(1);
  }
  if (ggml_quantize_requires_imatrix(t)) { /* imatrix NULL must be allowed */
    fprintf(stderr, "%s: ggml wants an importance matrix\n", tt->type_name);
    exit(1);
  }
  size_t rb = ggml_row_size(t, n), ab = ggml_row_size(at, n);
  static float w[ROWS * N], deq[N], x[ACTS][N];
  static uint8_t q[ROWS * 256 * 4], qa[ACTS][2048];
  if (ROWS * rb > sizeof q || ab > sizeof qa[0]) {
    fprintf(stderr, "%s: buffers too small\n", tt->type_name);
    exit(1);
  }
  for (int r = 0; r < ROWS; r++) (iq4 ? make_row_iq4 : make_row_k)(r, w + r * n, n);
  memset(q, 0, sizeof q);
  if (ggml_quantize_chunk(t, w, q, 0, ROWS, n, NULL) != ROWS * rb) {
    fprintf(stderr, "%s: quantize_chunk size\n", tt->type_name);
    exit(1);
  }
  printf("type %s %d n %d rows %d row_bytes %zu act %s acts %d act_bytes %zu\n", tt->type_name, (int)t, n, ROWS,
         rb, ggml_type_name(at), ACTS, ab);
  for (int r = 0; r < ROWS; r++) {
    printf("row %d ", r);
    hex(q + r * rb, rb);
  }
  for (int r = 0; r < ROWS; r++) {
    tt->to_float(q + r * rb, deq, n);
    printf("deq %d\n", r);
    values(deq, n);
  }
  for (int a = 0; a < ACTS; a++) {
    make_act(a, x[a], n, iq4);
    /* ggml leaves bsums unwritten for an all-zero Q8_K block; zeroing first
     * keeps the bytes defined (no such block is made here anyway) */
    memset(qa[a], 0, sizeof qa[a]);
    act->from_float(x[a], qa[a], n);
    printf("act %d ", a);
    hex(qa[a], ab);
  }
  for (int r = 0; r < ROWS; r++)
    for (int a = 0; a < ACTS; a++) {
      float s = 0;
      ct->vec_dot(n, &s, 0, q + r * rb, 0, qa[a], 0, 1);
      printf("dot %d %d %.9g\n", r, a, s);
    }
  printf("end\n");
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s <llama.cpp commit>\n", argv[0]);
    return 2;
  }
  ggml_cpu_init();
  printf("# Q2_K / Q3_K / IQ4_NL / IQ4_XS reference made by ggml itself: blocks from ggml_quantize_chunk\n"
         "# (imatrix NULL), their dequantization by ggml's to_float, activations (the type's vec_dot_type:\n"
         "# Q8_K, for IQ4_NL Q8_0) by ggml-cpu's from_float and ggml-cpu's vec_dot of every row with every\n"
         "# activation (one thread). n = 512 per row, for IQ4_NL 416 = 13 blocks (not a multiple of 256).\n"
         "# llama.cpp %s (ggml_commit() %s, ggml %s); vec_dot built with AVX2 %d FMA %d AVX512 %d.\n"
         "# Regenerate with tests/tools/ggml_kquants.c (build and run commands in its header);\n"
         "# the format is described there. Read by tests/unit/engine/test_kernels_ggml.c.\n",
         argv[1], ggml_commit(), ggml_version(), ggml_cpu_has_avx2(), ggml_cpu_has_fma(), ggml_cpu_has_avx512());
  one_type(GGML_TYPE_Q2_K, N);
  one_type(GGML_TYPE_Q3_K, N);
  one_type(GGML_TYPE_IQ4_NL, 416);
  one_type(GGML_TYPE_IQ4_XS, N);
  printf("eof\n");
  return 0;
}
