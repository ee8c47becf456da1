/* HTML loader: visible text only, by a forgiving tag scanner (no DOM, no
 * error recovery beyond what real pages need).
 *
 * - Dropped with their content: script, style, nav, header, footer, noscript,
 *   svg, template, iframe, head-level noise; comments, doctype, <?...?>.
 * - <title> gives the title; h1-h6 become heading blocks and set the section
 *   path; <pre> becomes a code block (whitespace kept); block elements (p, div,
 *   li, br, tr, table, section...) end the current paragraph.
 * - Entities: numeric (&#...; &#x...;) and the common named ones; invalid code
 *   points read as U+FFFD; an unknown name stays as written.
 *
 * Invariants: block `text` is the extracted text (whitespace collapsed except
 * in <pre>), `clean` is the same string; src_start/src_end span the element
 * in the body, from its start tag (or first text byte) to the end of its end
 * tag (or last text byte), so citations point at the original markup. */
#include "indexer/loader.h"

#include <string.h>
#include <strings.h>

#include "util/err.h"
#include "util/mem.h"

typedef struct html {
  dq_doc *d;
  const char *s;
  size_t n, i;
  dq_buf text;        /* text of the open block */
  size_t p_start, p_end, pending_start;
  int has_text, has_pending, space;
  int heading;        /* level of the open <hN>, else 0 */
  int pre;            /* inside <pre> */
  int in_title;
  dq_buf title;
  char *head[7];
  dq_buf sec;
  size_t lc_off;      /* line cursor: line number of offset lc_off */
  uint32_t lc_line;
} html;

static uint32_t line_at(html *h, size_t off)
{
  if (off > h->n) off = h->n;
  while (h->lc_off < off) { if (h->s[h->lc_off++] == '\n') h->lc_line++; }
  while (h->lc_off > off) { if (h->s[--h->lc_off] == '\n') h->lc_line--; }
  return h->lc_line;
}

/* ---- entities ------------------------------------------------------------------ */

static const struct { const char *name; unsigned cp; } entities[] = {
  {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", ' '},
  {"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122}, {"hellip", 0x2026}, {"mdash", 0x2014},
  {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"sbquo", 0x201A}, {"ldquo", 0x201C},
  {"rdquo", 0x201D}, {"bdquo", 0x201E}, {"laquo", 0xAB}, {"raquo", 0xBB}, {"bull", 0x2022},
  {"middot", 0xB7}, {"deg", 0xB0}, {"times", 0xD7}, {"divide", 0xF7}, {"euro", 0x20AC},
  {"pound", 0xA3}, {"yen", 0xA5}, {"cent", 0xA2}, {"sect", 0xA7}, {"para", 0xB6},
  {"plusmn", 0xB1}, {"micro", 0xB5}, {"frac12", 0xBD}, {"frac14", 0xBC}, {"frac34", 0xBE},
  {"eacute", 0xE9}, {"egrave", 0xE8}, {"ecirc", 0xEA}, {"euml", 0xEB}, {"aacute", 0xE1},
  {"agrave", 0xE0}, {"acirc", 0xE2}, {"auml", 0xE4}, {"aring", 0xE5}, {"ccedil", 0xE7},
  {"iacute", 0xED}, {"iuml", 0xEF}, {"oacute", 0xF3}, {"ocirc", 0xF4}, {"ouml", 0xF6},
  {"uacute", 0xFA}, {"uuml", 0xFC}, {"ntilde", 0xF1}, {"szlig", 0xDF}, {"Auml", 0xC4},
  {"Ouml", 0xD6}, {"Uuml", 0xDC}, {"Eacute", 0xC9}, {"larr", 0x2190}, {"rarr", 0x2192},
  {"uarr", 0x2191}, {"darr", 0x2193}, {"harr", 0x2194}, {"le", 0x2264}, {"ge", 0x2265},
  {"ne", 0x2260}, {"minus", 0x2212}, {"infin", 0x221E}, {"alpha", 0x3B1}, {"beta", 0x3B2},
  {"gamma", 0x3B3}, {"delta", 0x3B4}, {"pi", 0x3C0}, {"mu", 0x3BC}, {"sigma", 0x3C3},
  {"lambda", 0x3BB}, {"shy", 0}, {"zwj", 0x200D}, {"zwnj", 0x200C}, {"ensp", ' '},
  {"emsp", ' '}, {"thinsp", ' '}, {"dagger", 0x2020}, {"prime", 0x2032}, {"check", 0x2713},
};

/* Decode the entity at s[0..n) (s[0] == '&'): bytes consumed (0 = not an
 * entity), UTF-8 into out (*olen bytes, 0 for a soft hyphen). */
static size_t entity(const char *s, size_t n, char *out, size_t *olen)
{
  size_t i = 1;
  if (i < n && s[i] == '#') {
    unsigned long v = 0;
    int hex = i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X'), digits = 0;
    i += hex ? 2 : 1;
    for (; i < n && digits < 8; i++, digits++) {
      char c = s[i];
      int dv = c >= '0' && c <= '9' ? c - '0' : hex && (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
      if (dv < 0) break;
      v = v * (hex ? 16 : 10) + (unsigned long)dv;
    }
    if (!digits) return 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') { v = 0x110000; i++; } /* absurdly long: invalid */
    if (i < n && s[i] == ';') i++;
    *olen = dq_utf8_put(out, v > 0x10FFFF ? 0xFFFD : (unsigned)v);
    return i;
  }
  size_t j = i;
  while (j < n && j - i < 10 && (((s[j] | 32) >= 'a' && (s[j] | 32) <= 'z') || (s[j] >= '0' && s[j] <= '9'))) j++;
  if (j >= n || s[j] != ';' || j == i) return 0;
  for (size_t k = 0; k < sizeof entities / sizeof entities[0]; k++) {
    if (strlen(entities[k].name) == j - i && !memcmp(entities[k].name, s + i, j - i)) {
      *olen = entities[k].cp ? dq_utf8_put(out, entities[k].cp) : 0;
      return j + 1;
    }
  }
  return 0;
}

/* ---- text and blocks -------------------------------------------------------------- */

static void put_text(html *h, dq_buf *b, const char *t, size_t n)
{
  if (h->pre) { dq_buf_put(b, t, n); return; }
  for (size_t i = 0; i < n; i++) {
    char c = t[i];
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f') { h->space = 1; continue; }
    if (h->space && b->len) dq_buf_putc(b, ' ');
    h->space = 0;
    dq_buf_putc(b, c);
  }
}

/* Text s[a..b) of the page: entities decoded, appended to the open block (or the title). */
static void text_run(html *h, size_t a, size_t b)
{
  dq_buf *out = h->in_title ? &h->title : &h->text;
  size_t i = a, run = a;
  int visible = 0;
  for (size_t k = a; k < b; k++) if (!(h->s[k] == ' ' || h->s[k] == '\n' || h->s[k] == '\t' || h->s[k] == '\r')) { visible = 1; break; }
  if (!visible && !h->pre) { if (out->len) h->space = 1; return; }
  while (i < b) {
    if (h->s[i] != '&') { i++; continue; }
    char u[4];
    size_t ul = 0, k = entity(h->s + i, b - i, u, &ul);
    if (!k) { i++; continue; }
    put_text(h, out, h->s + run, i - run);
    if (ul == 1 && u[0] == ' ') put_text(h, out, " ", 1);
    else if (ul) { if (h->space && out->len && !h->pre) dq_buf_putc(out, ' '); h->space = 0; dq_buf_put(out, u, ul); }
    i += k;
    run = i;
  }
  put_text(h, out, h->s + run, b - run);
  if (h->in_title) return;
  if (!h->has_text) { h->p_start = h->has_pending ? h->pending_start : a; h->has_text = 1; h->has_pending = 0; }
  h->p_end = b;
}

static int set_section(html *h, int level, const char *t)
{
  for (int l = level; l <= 6; l++) { dq_free(h->head[l]); h->head[l] = NULL; }
  if (!(h->head[level] = dq_strdup(t))) return DOCQ_ENOMEM;
  h->sec.len = 0;
  if (h->sec.p) h->sec.p[0] = 0;
  for (int l = 1; l <= level; l++) {
    if (!h->head[l]) continue;
    if (h->sec.len) dq_buf_puts(&h->sec, " > ");
    dq_label_put(&h->sec, h->head[l], strlen(h->head[l]));
  }
  return h->sec.oom ? DOCQ_ENOMEM : 0;
}

/* End the open block at `end` (the end of its closing tag, or 0 for "last text"). */
static int flush(html *h, dq_block_kind kind, size_t end)
{
  int rc = 0;
  dq_buf *t = &h->text;
  if (t->oom) return DOCQ_ENOMEM;
  size_t a = 0, b = t->len;
  if (kind != DQ_BLK_CODE) while (a < b && t->p[a] == ' ') a++;
  while (b > a && (t->p[b - 1] == ' ' || t->p[b - 1] == '\n' || t->p[b - 1] == '\r' || t->p[b - 1] == '\t')) b--;
  if (kind == DQ_BLK_CODE) while (a < b && (t->p[a] == '\n' || t->p[a] == '\r')) a++;
  if (h->has_text && b > a) {
    size_t e = end > h->p_end ? end : h->p_end;
    uint32_t l1 = line_at(h, h->p_start), l2 = line_at(h, e > h->p_start ? e - 1 : e);
    if (kind == DQ_BLK_HEADING) {
      t->p[b] = 0;
      if ((rc = set_section(h, h->heading, t->p + a)) < 0) return rc;
    }
    rc = dq_doc_add_block(h->d, kind, kind == DQ_BLK_HEADING ? h->heading : 0, h->p_start, e, l1, l2,
                          t->p + a, b - a, t->p + a, b - a, dq_buf_cstr(&h->sec));
  }
  t->len = 0;
  if (t->p) t->p[0] = 0;
  h->has_text = h->space = 0;
  return rc;
}

/* ---- tags ------------------------------------------------------------------------- */

static int in_list(const char *name, const char *const *list)
{
  for (; *list; list++) if (!strcmp(name, *list)) return 1;
  return 0;
}

static const char *const dropped[] = {"script", "style", "nav", "header", "footer", "noscript", "svg",
                                      "template", "iframe", "object", "select", "button", "math", NULL};
static const char *const blocks[] = {"p", "div", "li", "ul", "ol", "br", "tr", "table", "thead", "tbody",
                                     "tfoot", "section", "article", "main", "aside", "blockquote", "dd", "dt",
                                     "dl", "figure", "figcaption", "form", "hr", "address", "details",
                                     "summary", "caption", "body", "html", "fieldset", "legend", "center",
                                     "td", "th", "hgroup", "menu", "head", NULL};

/* End of the tag starting at s[i] ('<'): index after its '>' (quotes respected), or n. */
static size_t tag_end(const char *s, size_t n, size_t i)
{
  char q = 0;
  for (size_t j = i + 1; j < n; j++) {
    if (q) { if (s[j] == q) q = 0; continue; }
    if (s[j] == '"' || s[j] == '\'') { if (s[j - 1] == '=' || s[j - 1] == ' ') q = s[j]; continue; }
    if (s[j] == '>') return j + 1;
  }
  return n;
}

/* Read the tag name at s[i] into name (lower case); returns its length. */
static size_t tag_name(const char *s, size_t n, size_t i, char *name, size_t cap)
{
  size_t k = 0;
  name[0] = 0;
  if (i >= n || !((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z')) return 0; /* "<4" or "< " is text */
  while (i + k < n && (((s[i + k] | 32) >= 'a' && (s[i + k] | 32) <= 'z') || (s[i + k] >= '0' && s[i + k] <= '9') ||
                       s[i + k] == '-' || s[i + k] == ':')) {
    if (k + 1 < cap) name[k] = (char)(s[i + k] >= 'A' && s[i + k] <= 'Z' ? s[i + k] + 32 : s[i + k]);
    k++;
  }
  name[k < cap ? k : cap - 1] = 0;
  return k;
}

/* Skip a dropped element opened by the tag ending at `from`: to the end of
 * its matching close tag (same-name nesting counted; raw text for script/style). */
static size_t skip_element(const html *h, const char *name, size_t from)
{
  const char *s = h->s;
  size_t n = h->n, nl = strlen(name), i = from;
  int raw = !strcmp(name, "script") || !strcmp(name, "style"), depth = 1;
  while (i < n) {
    const char *lt = memchr(s + i, '<', n - i);
    if (!lt) return n;
    i = (size_t)(lt - s);
    if (!raw && i + 4 <= n && !memcmp(s + i, "<!--", 4)) {
      const char *e = memmem(s + i + 4, n - i - 4, "-->", 3);
      i = e ? (size_t)(e - s) + 3 : n;
      continue;
    }
    int close = i + 1 < n && s[i + 1] == '/';
    size_t at = i + 1 + (size_t)close;
    if (n - at >= nl && !strncasecmp(s + at, name, nl) && (at + nl == n || !((s[at + nl] | 32) >= 'a' && (s[at + nl] | 32) <= 'z') )) {
      size_t e = tag_end(s, n, i);
      if (close) { if (--depth == 0) return e; }
      else if (!raw && !(e >= 2 && s[e - 2] == '/')) depth++;
      i = e;
      continue;
    }
    i++;
  }
  return n;
}

static int on_tag(html *h, size_t i, size_t e, const char *name, int close)
{
  int rc = 0;
  int hl = name[0] == 'h' && name[1] >= '1' && name[1] <= '6' && !name[2] ? name[1] - '0' : 0;
  if (h->pre) {
    if (close && !strcmp(name, "pre")) { rc = flush(h, DQ_BLK_CODE, e); h->pre = 0; }
    else if (!strcmp(name, "br")) put_text(h, &h->text, "\n", 1);
    return rc;
  }
  if (!strcmp(name, "title")) {
    if (!close) { h->in_title = 1; h->title.len = 0; return 0; }
    h->in_title = 0;
    if (!h->d->title && h->title.len) {
      size_t a = 0, b = h->title.len;
      while (a < b && h->title.p[a] == ' ') a++;
      while (b > a && h->title.p[b - 1] == ' ') b--;
      if (b > a && !(h->d->title = dq_doc_strndup(h->d, h->title.p + a, b - a))) return DOCQ_ENOMEM;
    }
    return h->title.oom ? DOCQ_ENOMEM : 0;
  }
  if (h->heading) {
    if (close && hl == h->heading) { rc = flush(h, DQ_BLK_HEADING, e); h->heading = 0; }
    else if (!strcmp(name, "br") || in_list(name, blocks)) h->space = 1;
    return rc;
  }
  if (hl || !strcmp(name, "pre")) {
    if (close) return 0; /* stray close tag */
    if ((rc = flush(h, DQ_BLK_PARA, 0)) < 0) return rc;
    h->heading = hl;
    h->pre = !hl;
    h->has_pending = 1;
    h->pending_start = i;
    return 0;
  }
  if (in_list(name, blocks)) {
    if ((rc = flush(h, DQ_BLK_PARA, close ? e : 0)) < 0) return rc;
    if (!close) { h->has_pending = 1; h->pending_start = i; }
    else h->has_pending = 0;
  }
  return 0;
}

int dq_load_html(dq_doc *d)
{
  html h;
  int rc = 0;
  memset(&h, 0, sizeof h);
  h.d = d;
  h.s = d->body;
  h.n = d->body_len;
  h.lc_line = 1;
  const char *s = h.s;
  size_t n = h.n, i = 0;
  while (i < n && rc == 0) {
    const char *lt = memchr(s + i, '<', n - i);
    size_t t = lt ? (size_t)(lt - s) : n;
    if (t > i) text_run(&h, i, t);
    i = t;
    if (i >= n) break;
    if (i + 4 <= n && !memcmp(s + i, "<!--", 4)) {
      const char *e = memmem(s + i + 4, n - i - 4, "-->", 3);
      i = e ? (size_t)(e - s) + 3 : n;
      continue;
    }
    if (i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '?')) { i = tag_end(s, n, i); continue; }
    int close = i + 1 < n && s[i + 1] == '/';
    char name[16];
    size_t nl = tag_name(s, n, i + 1 + (size_t)close, name, sizeof name);
    if (!nl) { text_run(&h, i, i + 1); i++; continue; } /* a lone '<' is text */
    size_t e = tag_end(s, n, i);
    int self = e >= 2 && s[e - 2] == '/';
    if (!close && !self && !h.pre && in_list(name, dropped)) { i = skip_element(&h, name, e); continue; }
    rc = on_tag(&h, i, e, name, close);
    i = e;
  }
  if (rc == 0) rc = flush(&h, h.pre ? DQ_BLK_CODE : h.heading ? DQ_BLK_HEADING : DQ_BLK_PARA, 0);
  for (int l = 0; l <= 6; l++) dq_free(h.head[l]);
  dq_buf_free(&h.sec);
  dq_buf_free(&h.text);
  dq_buf_free(&h.title);
  return rc;
}
