/* SHA-256 against the FIPS 180-4 / NIST example vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>

#include "util/sha256.h"

static void test_util_sha256__nist_vectors(void **state)
{
  (void)state;
  char hex[65];
  dq_sha256_hex("", 0, hex);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  dq_sha256_hex("abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  dq_sha256_hex(m, strlen(m), hex);
  assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_util_sha256__million_a_incremental(void **state)
{
  (void)state;
  char *a = malloc(1000000);
  memset(a, 'a', 1000000);
  dq_sha256 c;
  uint8_t d[32];
  dq_sha256_init(&c);
  /* uneven pieces exercise the partial-block path */
  size_t off = 0, step = 1;
  while (off < 1000000) {
    size_t n = step < 1000000 - off ? step : 1000000 - off;
    dq_sha256_update(&c, a + off, n);
    off += n;
    step = step * 3 % 997 + 1;
  }
  dq_sha256_final(&c, d);
  static const uint8_t want[32] = {0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7, 0xe2, 0x84, 0xd7, 0x3e, 0x67,
                                   0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97, 0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
  assert_memory_equal(d, want, 32);
  free(a);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_util_sha256__nist_vectors),
    cmocka_unit_test(test_util_sha256__million_a_incremental),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
