/* A small, careful reader for flat JSON objects, one per line (JSON Lines),
 * as in the retrieval sets' corpus.jsonl and queries.jsonl. It keeps the
 * top-level members whose values are strings, numbers (as their text) or
 * arrays of strings; nested objects and other arrays are validated and
 * skipped. Strings are decoded: all escapes including \uXXXX and UTF-16
 * surrogate pairs (a lone surrogate becomes U+FFFD). */
#ifndef DOCQ_CLI_JSONL_H
#define DOCQ_CLI_JSONL_H

#include <stddef.h>

typedef struct json_member {
  char *key;
  char *str;          /* string or number value (NUL-terminated), or NULL */
  size_t str_len;     /* bytes (strings may contain \u0000) */
  char **arr;         /* array of strings, or NULL */
  size_t n_arr;
} json_member;

typedef struct json_obj {
  json_member *m;
  size_t n;
} json_obj;

/* Parse the object in s[0..n) (surrounding whitespace allowed). Returns 0, or
 * -1 with a short reason in err (at least 128 bytes) naming the byte offset. */
int json_obj_parse(const char *s, size_t n, json_obj *out, char *err, size_t err_cap);
void json_obj_free(json_obj *o);
/* The member named key, or NULL. */
const json_member *json_obj_get(const json_obj *o, const char *key);
/* Its string/number value, or NULL. */
const char *json_obj_str(const json_obj *o, const char *key);

#endif
