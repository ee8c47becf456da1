/* Porter stemmer against the outputs of the published algorithm (the
 * examples in Porter's 1980 paper followed through every step, and words of
 * the reference vocabulary with their stems). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "indexer/stem.h"

static const char *const cases[][2] = {
  {"caresses", "caress"}, {"ponies", "poni"}, {"ties", "ti"}, {"caress", "caress"}, {"cats", "cat"},
  {"feed", "feed"}, {"agreed", "agre"}, {"plastered", "plaster"}, {"bled", "bled"}, {"motoring", "motor"},
  {"sing", "sing"}, {"conflated", "conflat"}, {"troubled", "troubl"}, {"sized", "size"}, {"hopping", "hop"},
  {"tanned", "tan"}, {"falling", "fall"}, {"hissing", "hiss"}, {"fizzed", "fizz"}, {"failing", "fail"},
  {"filing", "file"}, {"happy", "happi"}, {"sky", "sky"}, {"relational", "relat"}, {"conditional", "condit"},
  {"rational", "ration"}, {"valenci", "valenc"}, {"digitizer", "digit"}, {"conformabli", "conform"},
  {"radicalli", "radic"}, {"differentli", "differ"}, {"vileli", "vile"}, {"analogousli", "analog"},
  {"vietnamization", "vietnam"}, {"predication", "predic"}, {"operator", "oper"}, {"feudalism", "feudal"},
  {"decisiveness", "decis"}, {"hopefulness", "hope"}, {"callousness", "callous"}, {"formaliti", "formal"},
  {"sensitiviti", "sensit"}, {"sensibiliti", "sensibl"}, {"triplicate", "triplic"}, {"formative", "form"},
  {"formalize", "formal"}, {"electriciti", "electr"}, {"electrical", "electr"}, {"hopeful", "hope"},
  {"goodness", "good"}, {"revival", "reviv"}, {"allowance", "allow"}, {"inference", "infer"},
  {"airliner", "airlin"}, {"gyroscopic", "gyroscop"}, {"adjustable", "adjust"}, {"defensible", "defens"},
  {"irritant", "irrit"}, {"replacement", "replac"}, {"adjustment", "adjust"}, {"dependent", "depend"},
  {"adoption", "adopt"}, {"homologou", "homolog"}, {"communism", "commun"}, {"activate", "activ"},
  {"angulariti", "angular"}, {"homologous", "homolog"}, {"effective", "effect"}, {"bowdlerize", "bowdler"},
  {"probate", "probat"}, {"rate", "rate"}, {"cease", "ceas"}, {"controll", "control"}, {"roll", "roll"},
  {"generalizations", "gener"}, {"oscillators", "oscil"}, {"connection", "connect"}, {"connections", "connect"},
  {"connective", "connect"}, {"connected", "connect"}, {"connecting", "connect"}, {"is", "is"}, {"a", "a"},
};

static void test_indexer_stem__porter_reference(void **state)
{
  (void)state;
  int bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char w[64];
    size_t n = strlen(cases[i][0]);
    memcpy(w, cases[i][0], n);
    n = dq_porter_stem(w, n);
    w[n] = 0;
    if (strcmp(w, cases[i][1])) { fprintf(stderr, "%s -> %s, want %s\n", cases[i][0], w, cases[i][1]); bad++; }
  }
  assert_int_equal(bad, 0);
}

static void test_indexer_stem__leaves_non_letters(void **state)
{
  (void)state;
  char w[] = "fts5ing";
  assert_int_equal(dq_porter_stem(w, 7), 7);
  char u[] = "Running"; /* callers lower-case first; upper case is left alone */
  assert_int_equal(dq_porter_stem(u, 7), 7);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_indexer_stem__porter_reference),
    cmocka_unit_test(test_indexer_stem__leaves_non_letters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
