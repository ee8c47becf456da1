/* Tests for the run-time choice of kernels (engine/isa.h, docq_kernels() in
 * docq.h), from their contracts:
 *  - dq_isa_pick(want, cpu): the CPU's level, or the lower one that want
 *    names ("generic", "avx2", "avx512", "avx512vbmi", any case); never
 *    above the CPU's;
 *    NULL, "" or an unknown name give the CPU's;
 *  - dq_isa_cpu_level(): AVX2 needs AVX2 + FMA + F16C, AVX-512 needs
 *    F + BW + VL + DQ + VNNI, AVX-512 VBMI that + VBMI + GFNI + BITALG,
 *    each with the OS saving the registers; checked
 *    against the flags the kernel lists in /proc/cpuinfo (which it clears for
 *    a feature whose state it does not save);
 *  - docq_kernels(): in a build with DQ_DISPATCH, the name of
 *    dq_isa_pick($DOCQ_KERNELS, the CPU's level) (make isa runs this test with
 *    DOCQ_KERNELS unset, generic, avx2 and avx512); else the level the build was
 *    compiled for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docq.h"
#include "engine/isa.h"

static const char *const k_names[] = { "generic C", "AVX2", "AVX-512 VNNI", "AVX-512 VNNI+VBMI" };

static void test_pick_names(void **state)
{
  (void)state;
  assert_int_equal(dq_isa_pick("generic", DQ_ISA_AVX512), DQ_ISA_GENERIC);
  assert_int_equal(dq_isa_pick("avx2", DQ_ISA_AVX512), DQ_ISA_AVX2);
  assert_int_equal(dq_isa_pick("avx512", DQ_ISA_AVX512), DQ_ISA_AVX512);
  assert_int_equal(dq_isa_pick("AVX2", DQ_ISA_AVX512), DQ_ISA_AVX2);
  assert_int_equal(dq_isa_pick("Generic", DQ_ISA_AVX2), DQ_ISA_GENERIC);
  assert_int_equal(dq_isa_pick("avx512vbmi", DQ_ISA_AVX512_VBMI), DQ_ISA_AVX512_VBMI);
  assert_int_equal(dq_isa_pick("avx512", DQ_ISA_AVX512_VBMI), DQ_ISA_AVX512);
  assert_int_equal(dq_isa_pick("AVX512VBMI", DQ_ISA_AVX512_VBMI), DQ_ISA_AVX512_VBMI);
  assert_int_equal(dq_isa_pick("avx2", DQ_ISA_AVX512_VBMI), DQ_ISA_AVX2);
}

static void test_pick_never_above_cpu(void **state)
{
  (void)state;
  assert_int_equal(dq_isa_pick("avx512vbmi", DQ_ISA_AVX512), DQ_ISA_AVX512);
  assert_int_equal(dq_isa_pick("avx512vbmi", DQ_ISA_AVX2), DQ_ISA_AVX2);
  assert_int_equal(dq_isa_pick("avx512", DQ_ISA_AVX2), DQ_ISA_AVX2);
  assert_int_equal(dq_isa_pick("avx512", DQ_ISA_GENERIC), DQ_ISA_GENERIC);
  assert_int_equal(dq_isa_pick("avx2", DQ_ISA_GENERIC), DQ_ISA_GENERIC);
  assert_int_equal(dq_isa_pick("generic", DQ_ISA_GENERIC), DQ_ISA_GENERIC);
}

static void test_pick_unset_or_unknown(void **state)
{
  (void)state;
  for (int cpu = DQ_ISA_GENERIC; cpu <= DQ_ISA_AVX512_VBMI; cpu++) {
    assert_int_equal(dq_isa_pick(NULL, cpu), cpu);
    assert_int_equal(dq_isa_pick("", cpu), cpu);
    assert_int_equal(dq_isa_pick("avx", cpu), cpu);      /* a prefix is not a name */
    assert_int_equal(dq_isa_pick("avx2x", cpu), cpu);    /* nor a longer word */
    assert_int_equal(dq_isa_pick("sse2", cpu), cpu);
    assert_int_equal(dq_isa_pick(" avx2", cpu), cpu);
    assert_int_equal(dq_isa_pick("avx512v", cpu), cpu);
  }
}

/* 1 when the "flags" line of /proc/cpuinfo lists `flag` as a whole word. */
static int has_flag(const char *flags, const char *flag)
{
  size_t n = strlen(flag);
  for (const char *p = flags; (p = strstr(p, flag)) != NULL; p += n)
    if ((p == flags || p[-1] == ' ' || p[-1] == '\t') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0')) return 1;
  return 0;
}

static void test_cpu_level_matches_cpuinfo(void **state)
{
  (void)state;
#if !defined(__x86_64__)
  assert_int_equal(dq_isa_cpu_level(), DQ_ISA_GENERIC);
#else
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) skip();
  static char line[16384];
  const char *flags = NULL;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "flags", 5)) {
      flags = line;
      break;
    }
  fclose(f);
  if (!flags) skip();
  int want = DQ_ISA_GENERIC;
  if (has_flag(flags, "avx2") && has_flag(flags, "fma") && has_flag(flags, "f16c")) {
    want = DQ_ISA_AVX2;
    if (has_flag(flags, "avx512f") && has_flag(flags, "avx512bw") && has_flag(flags, "avx512vl") &&
        has_flag(flags, "avx512dq") && has_flag(flags, "avx512_vnni")) {
      want = DQ_ISA_AVX512;
      if (has_flag(flags, "avx512vbmi") && has_flag(flags, "gfni") && has_flag(flags, "avx512_bitalg"))
        want = DQ_ISA_AVX512_VBMI;
    }
  }
  assert_int_equal(dq_isa_cpu_level(), want);
#endif
}

static void test_kernels_in_use(void **state)
{
  (void)state;
#if DQ_DISPATCH
  const char *want = k_names[dq_isa_pick(getenv("DOCQ_KERNELS"), dq_isa_cpu_level())];
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && defined(__AVX512VNNI__) && \
    defined(__AVX512VL__) && defined(__AVX512VBMI__) && defined(__GFNI__) && defined(__AVX512BITALG__)
  const char *want = k_names[DQ_ISA_AVX512_VBMI];
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
  const char *want = k_names[DQ_ISA_AVX512];
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
  const char *want = k_names[DQ_ISA_AVX2];
#else
  const char *want = k_names[DQ_ISA_GENERIC];
#endif
  assert_string_equal(docq_kernels(), want);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pick_names),
    cmocka_unit_test(test_pick_never_above_cpu),
    cmocka_unit_test(test_pick_unset_or_unknown),
    cmocka_unit_test(test_cpu_level_matches_cpuinfo),
    cmocka_unit_test(test_kernels_in_use),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
