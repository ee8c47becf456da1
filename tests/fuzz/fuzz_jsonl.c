/* Fuzz target: the JSON Lines reader (cli/jsonl.c) that `docq eval` runs on
 * a user's corpus.jsonl and queries.jsonl. Any bytes: the parse succeeds or
 * fails with a reason naming a byte offset, never reads out of bounds. On
 * success every member has a NUL-terminated key, a value of the documented
 * kinds (a string/number with str[str_len] == 0, or an array of strings),
 * and json_obj_get finds the first member of each key. The input is copied
 * into an exactly-sized buffer, so an overread is caught by ASan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/jsonl.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > (64u << 10)) return 0;
  char *s = malloc(size ? size : 1);
  if (!s) return 0;
  if (size) memcpy(s, data, size);
  json_obj o;
  char err[256];
  err[0] = 0;
  if (json_obj_parse(s, size, &o, err, sizeof err) != 0) {
    CHECK(err[0] && memchr(err, 0, sizeof err) && strstr(err, "byte"));
    free(s);
    return 0;
  }
  for (size_t i = 0; i < o.n; i++) {
    const json_member *m = &o.m[i];
    CHECK(m->key);
    CHECK(!(m->str && m->arr));
    if (m->str) CHECK(m->str[m->str_len] == 0);
    for (size_t k = 0; k < m->n_arr; k++) CHECK(m->arr[k]);
    const json_member *g = json_obj_get(&o, m->key);
    CHECK(g);
    CHECK(g <= m && !strcmp(g->key, m->key));
  }
  json_obj_free(&o);
  free(s);
  return 0;
}
