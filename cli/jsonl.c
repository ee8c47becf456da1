/* JSON Lines reader for the retrieval sets (see jsonl.h). Recursive descent
 * over a bounded buffer: every read checks the end first, nesting is capped,
 * and invalid input is an error with its byte offset, never a crash. Follows
 * RFC 8259 (strings: control characters must be escaped; \u escapes are
 * UTF-16 code units, joined into pairs). */
#include "jsonl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct parser {
  const char *s; size_t n, i;
  char *err; size_t err_cap;
} parser;

static int fail(parser *p, const char *what)
{
  if (p->err && p->err_cap) snprintf(p->err, p->err_cap, "%s at byte %zu", what, p->i);
  return -1;
}

static void ws(parser *p)
{
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

typedef struct sbuf { char *p; size_t len, cap; } sbuf;

static int sb_put(sbuf *b, const char *d, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 64;
    while (nc < b->len + n + 1) nc *= 2;
    char *q = realloc(b->p, nc);
    if (!q) return -1;
    b->p = q; b->cap = nc;
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
  b->p[b->len] = 0;
  return 0;
}

static int put_utf8(sbuf *b, unsigned cp)
{
  char u[4]; size_t k;
  if (cp < 0x80) { u[0] = (char)cp; k = 1; }
  else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3F)); k = 2; }
  else if (cp < 0x10000) { u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[2] = (char)(0x80 | (cp & 0x3F)); k = 3; }
  else { u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); k = 4; }
  return sb_put(b, u, k);
}

static int hex4(parser *p, unsigned *out)
{
  if (p->n - p->i < 4) return fail(p, "truncated \\u escape");
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char c = p->s[p->i + k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return fail(p, "bad hex digit in \\u escape");
  }
  p->i += 4;
  *out = v;
  return 0;
}

/* Parse a string at p->i (which is '"'); decoded into *b when b != NULL. */
static int parse_string(parser *p, sbuf *b)
{
  p->i++;
  size_t run = p->i;
  for (;;) {
    if (p->i >= p->n) return fail(p, "unterminated string");
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '"') {
      if (b && sb_put(b, p->s + run, p->i - run)) return fail(p, "out of memory");
      p->i++;
      if (b && !b->p && sb_put(b, "", 0)) return fail(p, "out of memory");
      return 0;
    }
    if (c < 0x20) return fail(p, "control character in string");
    if (c != '\\') { p->i++; continue; }
    if (b && sb_put(b, p->s + run, p->i - run)) return fail(p, "out of memory");
    p->i++;
    if (p->i >= p->n) return fail(p, "unterminated escape");
    char e = p->s[p->i++];
    const char *lit = NULL;
    switch (e) {
    case '"': lit = "\""; break;
    case '\\': lit = "\\"; break;
    case '/': lit = "/"; break;
    case 'b': lit = "\b"; break;
    case 'f': lit = "\f"; break;
    case 'n': lit = "\n"; break;
    case 'r': lit = "\r"; break;
    case 't': lit = "\t"; break;
    case 'u': {
      unsigned u, cp;
      if (hex4(p, &u)) return -1;
      cp = u;
      if (u >= 0xD800 && u <= 0xDBFF) {
        /* a high surrogate must be followed by \u + low surrogate */
        unsigned lo;
        if (p->n - p->i >= 6 && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
          size_t save = p->i;
          p->i += 2;
          if (hex4(p, &lo)) return -1;
          if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
          else { cp = 0xFFFD; p->i = save; }
        } else cp = 0xFFFD;
      } else if (u >= 0xDC00 && u <= 0xDFFF) cp = 0xFFFD;
      if (b && put_utf8(b, cp)) return fail(p, "out of memory");
      break;
    }
    default: return fail(p, "unknown escape");
    }
    if (lit && b && sb_put(b, lit, 1)) return fail(p, "out of memory");
    run = p->i;
  }
}

static int parse_value(parser *p, int depth, sbuf *num);

/* Skip-parse an array or object (validating it). */
static int parse_container(parser *p, int depth)
{
  if (depth > MAX_DEPTH) return fail(p, "nesting too deep");
  char open = p->s[p->i++], close = open == '[' ? ']' : '}';
  ws(p);
  if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
  for (;;) {
    ws(p);
    if (open == '{') {
      if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a key");
      if (parse_string(p, NULL)) return -1;
      ws(p);
      if (p->i >= p->n || p->s[p->i] != ':') return fail(p, "expected ':'");
      p->i++;
      ws(p);
    }
    if (parse_value(p, depth + 1, NULL)) return -1;
    ws(p);
    if (p->i >= p->n) return fail(p, "unterminated container");
    if (p->s[p->i] == ',') { p->i++; continue; }
    if (p->s[p->i] == close) { p->i++; return 0; }
    return fail(p, "expected ',' or end of container");
  }
}

static int parse_literal(parser *p, const char *lit)
{
  size_t k = strlen(lit);
  if (p->n - p->i < k || memcmp(p->s + p->i, lit, k)) return fail(p, "bad literal");
  p->i += k;
  return 0;
}

static int parse_number(parser *p, sbuf *num)
{
  size_t st = p->i;
  if (p->i < p->n && p->s[p->i] == '-') p->i++;
  size_t d0 = p->i;
  while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
  if (p->i == d0) return fail(p, "bad number");
  if (p->i < p->n && p->s[p->i] == '.') {
    p->i++;
    size_t f0 = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    if (p->i == f0) return fail(p, "bad fraction");
  }
  if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
    p->i++;
    if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
    size_t e0 = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    if (p->i == e0) return fail(p, "bad exponent");
  }
  if (num && sb_put(num, p->s + st, p->i - st)) return fail(p, "out of memory");
  return 0;
}

static int parse_value(parser *p, int depth, sbuf *num)
{
  if (p->i >= p->n) return fail(p, "expected a value");
  char c = p->s[p->i];
  if (c == '"') return parse_string(p, num);
  if (c == '{' || c == '[') return parse_container(p, depth);
  if (c == 't') return parse_literal(p, "true");
  if (c == 'f') return parse_literal(p, "false");
  if (c == 'n') return parse_literal(p, "null");
  return parse_number(p, num);
}

/* An array of strings into m->arr; any other array is skipped (m->arr NULL). */
static int parse_str_array(parser *p, json_member *m)
{
  size_t save = p->i;
  p->i++;
  ws(p);
  char **arr = NULL;
  size_t n = 0;
  if (p->i < p->n && p->s[p->i] == ']') { p->i++; m->arr = calloc(1, sizeof(char *)); return m->arr ? 0 : fail(p, "out of memory"); }
  for (;;) {
    ws(p);
    if (p->i >= p->n || p->s[p->i] != '"') break; /* not all strings: skip generically */
    sbuf b = {0};
    if (parse_string(p, &b)) { free(b.p); goto bad; }
    char **na = realloc(arr, (n + 2) * sizeof *na);
    if (!na) { free(b.p); fail(p, "out of memory"); goto bad; }
    arr = na;
    arr[n++] = b.p;
    arr[n] = NULL;
    ws(p);
    if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
    if (p->i < p->n && p->s[p->i] == ']') { p->i++; m->arr = arr; m->n_arr = n; return 0; }
    fail(p, "expected ',' or ']'");
    goto bad;
  }
  for (size_t i = 0; i < n; i++) free(arr[i]);
  free(arr);
  p->i = save;
  return parse_container(p, 1);
bad:
  for (size_t i = 0; i < n; i++) free(arr[i]);
  free(arr);
  return -1;
}

int json_obj_parse(const char *s, size_t n, json_obj *out, char *err, size_t err_cap)
{
  parser p = { s, n, 0, err, err_cap };
  memset(out, 0, sizeof *out);
  size_t cap = 0;
  ws(&p);
  if (p.i >= n || s[p.i] != '{') return fail(&p, "expected '{'");
  p.i++;
  ws(&p);
  if (p.i < n && s[p.i] == '}') { p.i++; goto tail; }
  for (;;) {
    ws(&p);
    if (p.i >= n || s[p.i] != '"') { fail(&p, "expected a key"); goto bad; }
    if (out->n == cap) {
      size_t nc = cap ? cap * 2 : 8;
      json_member *nm = realloc(out->m, nc * sizeof *nm);
      if (!nm) { fail(&p, "out of memory"); goto bad; }
      out->m = nm;
      cap = nc;
    }
    json_member *m = &out->m[out->n];
    memset(m, 0, sizeof *m);
    out->n++;
    sbuf k = {0};
    if (parse_string(&p, &k)) { free(k.p); goto bad; }
    m->key = k.p;
    ws(&p);
    if (p.i >= n || s[p.i] != ':') { fail(&p, "expected ':'"); goto bad; }
    p.i++;
    ws(&p);
    if (p.i < n && s[p.i] == '[') {
      if (parse_str_array(&p, m)) goto bad;
    } else if (p.i < n && (s[p.i] == '"' || s[p.i] == '-' || (s[p.i] >= '0' && s[p.i] <= '9'))) {
      sbuf v = {0};
      if (parse_value(&p, 1, &v)) { free(v.p); goto bad; }
      m->str = v.p ? v.p : calloc(1, 1);
      m->str_len = v.len;
      if (!m->str) { fail(&p, "out of memory"); goto bad; }
    } else if (parse_value(&p, 1, NULL)) goto bad;
    ws(&p);
    if (p.i < n && s[p.i] == ',') { p.i++; continue; }
    if (p.i < n && s[p.i] == '}') { p.i++; break; }
    fail(&p, "expected ',' or '}'");
    goto bad;
  }
tail:
  ws(&p);
  if (p.i != n) { fail(&p, "trailing data after the object"); goto bad; }
  return 0;
bad:
  json_obj_free(out);
  return -1;
}

void json_obj_free(json_obj *o)
{
  if (!o) return;
  for (size_t i = 0; i < o->n; i++) {
    free(o->m[i].key);
    free(o->m[i].str);
    for (size_t j = 0; j < o->m[i].n_arr; j++) free(o->m[i].arr[j]);
    free(o->m[i].arr);
  }
  free(o->m);
  memset(o, 0, sizeof *o);
}

const json_member *json_obj_get(const json_obj *o, const char *key)
{
  for (size_t i = 0; i < o->n; i++)
    if (o->m[i].key && !strcmp(o->m[i].key, key)) return &o->m[i];
  return NULL;
}

const char *json_obj_str(const json_obj *o, const char *key)
{
  const json_member *m = json_obj_get(o, key);
  return m ? m->str : NULL;
}
