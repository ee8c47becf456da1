/* Markdown loader (CommonMark block structure as far as indexing needs it,
 * plus Obsidian and VitePress habits).
 *
 * Blocks: YAML front matter (title, tags, aliases, date; quoted scalars
 * decoded: escapes in "...", '' in '...'), ATX and setext
 * headings (they set the section path "H1 > H2"), fenced code (``` and ~~~)
 * and $$ math kept verbatim as one block each, tables, quotes and callouts
 * (> [!note] Title), list items, paragraphs. HTML comments, %% Obsidian
 * comments %%, <script>/<style> blocks and thematic breaks are not indexed.
 * Indented code is read as paragraph text (it cannot be told from list
 * continuations without full CommonMark list rules).
 *
 * Invariants: `text` is the exact body slice [src_start, src_end) (trimmed
 * of surrounding whitespace); `clean` is dq_md_clean() of it (code and math:
 * the lines inside the fences). Lines are 1-based. */
#include "indexer/loader.h"

#include <string.h>
#include <strings.h>

#include "util/err.h"
#include "util/mem.h"

/* ---- inline cleaning -------------------------------------------------------- */

static int is_alnum(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80; }
static int is_punct(unsigned char c) { return c > ' ' && c < 0x7F && !is_alnum(c); }

/* Bytes of line-start markup at s[0..n): indentation, quote markers, a list
 * bullet or number, a task box, a callout marker, a ::: container marker. */
static size_t line_prefix(const char *s, size_t n)
{
  size_t i = 0;
  for (;;) {
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i < n && s[i] == '>') { i++; continue; }
    break;
  }
  if (i + 1 < n && (s[i] == '-' || s[i] == '*' || s[i] == '+') && (s[i + 1] == ' ' || s[i + 1] == '\t')) i += 2;
  else {
    size_t j = i;
    while (j < n && j - i < 9 && s[j] >= '0' && s[j] <= '9') j++;
    if (j > i && j + 1 < n && (s[j] == '.' || s[j] == ')') && (s[j + 1] == ' ' || s[j + 1] == '\t')) i = j + 2;
  }
  while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
  if (i + 3 < n && s[i] == '[' && (s[i + 1] == ' ' || s[i + 1] == 'x' || s[i + 1] == 'X') && s[i + 2] == ']' && s[i + 3] == ' ') i += 4;
  if (i + 2 < n && s[i] == '[' && s[i + 1] == '!') { /* callout: [!type] or [!type]- / [!type]+ */
    size_t j = i + 2;
    while (j < n && j - i < 40 && s[j] != ']' && s[j] != '\n') j++;
    if (j < n && s[j] == ']') {
      i = j + 1;
      if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    }
  }
  if (i + 2 < n && s[i] == ':' && s[i + 1] == ':' && s[i + 2] == ':') {
    i += 3;
    while (i < n && s[i] == ':') i++;
    while (i < n && is_alnum((unsigned char)s[i])) i++; /* container type: info, tip, warning, details */
  }
  while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
  return i;
}

/* A table delimiter row: only | - : and spaces, with at least one '-'. */
static int delim_row(const char *s, size_t n)
{
  int dash = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '-') dash = 1;
    else if (s[i] != '|' && s[i] != ':' && s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
  }
  return dash;
}

/* Where the brackets of one kind close, for a whole md_clean input, found in
 * one pass with a stack. Scanning ahead from each opener instead was
 * quadratic on a long line of unclosed ones ("[[wiki|" * 150000, 1 MB: 80 s).
 * The stack pass gives each opener the closer a depth-counting scan from it
 * would find. Built on first use. */
typedef struct brackets {
  char open, close;
  int escapes;     /* a backslash hides the next byte ([text]) */
  int blank_stops; /* a blank line ends every open bracket, else any newline */
  int built;
  size_t *at, *to, n; /* openers' positions, ascending, and their closers (0: none) */
} brackets;

static int brackets_build(brackets *k, const char *s, size_t n)
{
  size_t cnt = 0, sp = 0, *stack;
  for (const char *p = s; (p = memchr(p, k->open, n - (size_t)(p - s))); p++) cnt++;
  k->built = 1;
  k->at = dq_malloc((cnt ? cnt : 1) * sizeof *k->at);
  k->to = dq_malloc((cnt ? cnt : 1) * sizeof *k->to);
  stack = dq_malloc((cnt ? cnt : 1) * sizeof *stack);
  if (!k->at || !k->to || !stack) { dq_free(stack); return DOCQ_ENOMEM; }
  for (size_t j = 0; j < n; j++) {
    char c = s[j];
    if (k->escapes && c == '\\') { j++; continue; }
    if (c == k->open) { k->at[k->n] = j; k->to[k->n] = 0; stack[sp++] = k->n++; }
    else if (c == k->close) { if (sp) k->to[stack[--sp]] = j; }
    else if (c == '\n' && (!k->blank_stops || (j + 1 < n && s[j + 1] == '\n'))) sp = 0;
  }
  dq_free(stack);
  return 0;
}

/* Index of the closer of the opener at s[i], 0 when none (or on ENOMEM: the
 * text is then read as plain text, not as a link). */
static size_t bracket_close(brackets *k, const char *s, size_t n, size_t i)
{
  if (!k->built && brackets_build(k, s, n) < 0) return 0;
  size_t lo = 0, hi = k->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (k->at[mid] < i) lo = mid + 1; else hi = mid;
  }
  return lo < k->n && k->at[lo] == i ? k->to[lo] : 0;
}

static void brackets_free(brackets *k) { dq_free(k->at); dq_free(k->to); }

/* Where the next "]]" on a line is, remembered: searching to the end of the
 * line again at every "[[" was quadratic. A search from `from` ended at `to`
 * (the "]]" when `found`, else the end of the line), so any later search
 * starting in [from, to] has the same answer. */
typedef struct { size_t from, to; int found, valid; } wiki_close;

static size_t wikilink_close(wiki_close *w, const char *s, size_t n, size_t from, int *found)
{
  if (!w->valid || from < w->from || from > w->to) {
    size_t j = from;
    while (j + 1 < n && s[j] != '\n' && !(s[j] == ']' && s[j + 1] == ']')) j++;
    w->from = from;
    w->to = j;
    w->found = j + 1 < n && s[j] == ']' && s[j + 1] == ']';
    w->valid = 1;
  }
  *found = w->found;
  return w->to;
}

/* Emit a wikilink's visible text: the alias after '|', else the target with
 * '#' heading/block separators read as spaces. */
static void put_wikilink(dq_buf *o, const char *s, size_t n)
{
  const char *bar = memchr(s, '|', n);
  if (bar) { dq_buf_put(o, bar + 1, n - (size_t)(bar + 1 - s)); return; }
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '#') { if (i + 1 < n && s[i + 1] == '^') i++; dq_buf_putc(o, ' '); }
    else dq_buf_putc(o, s[i]);
  }
}

typedef struct { size_t at, skip_to; } link_end;

/* Backtick runs up to this long open code spans; a longer one is literal.
 * A search for a closing run fails at most once per length (a later run of
 * that length would have closed it), so this bounds the searches to the end
 * of the text: runs of distinct lengths, none closed, had made n^1.5. */
#define MAX_TICKS 32

size_t dq_md_code_end(const char *s, size_t n, size_t i)
{
  size_t r = 0;
  while (i + r < n && s[i + r] == '`') r++;
  if (r > MAX_TICKS) return 0;
  for (size_t k = i + r; k < n;) {
    if (s[k] != '`') { k++; continue; }
    size_t m = 0;
    while (k + m < n && s[k + m] == '`') m++;
    if (m == r) return k + m;
    k += m;
  }
  return 0;
}

/* The text of the code span s[a..e) (its backticks included) as it renders:
 * without the backticks and the one space CommonMark strips from each side
 * when both have one; its own content is never markup ("`<script setup>`"
 * is no HTML tag, "``[a](b)``" no link). Line markup after a line break
 * inside it is dropped when `prefixes` (a span continued on a quoted line). */
static void put_code_span(dq_buf *o, const char *s, size_t a, size_t e, int prefixes)
{
  size_t r = 0;
  while (a + r < e && s[a + r] == '`') r++;
  size_t i = a + r, b = e - r;
  if (b - i >= 2 && s[i] == ' ' && s[b - 1] == ' ') {
    size_t k = i;
    while (k < b && s[k] == ' ') k++;
    if (k < b) i++, b--;
  }
  while (i < b) {
    const char *nl = memchr(s + i, '\n', b - i);
    size_t eol = nl ? (size_t)(nl - s) + 1 : b;
    dq_buf_put(o, s + i, eol - i);
    i = eol;
    if (nl && prefixes) i += line_prefix(s + i, b - i);
  }
}

/* Bytes md_clean looks at; everything else is copied as is. */
static const unsigned char md_special[256] = {
  ['\n'] = 1, ['\\'] = 1, ['`'] = 1, ['|'] = 1, ['!'] = 1, ['['] = 1, [']'] = 1,
  ['<'] = 1, ['*'] = 1, ['_'] = 1, ['~'] = 1, ['='] = 1,
};

/* `prefixes`: strip line-start markup (not for heading text, where "1. Intro" is the title). */
static int md_clean(const char *s, size_t n, int prefixes, char **out, size_t *out_n)
{
  dq_buf o = {0};
  link_end ends[8];
  int n_ends = 0;
  size_t i = 0;
  brackets text_b = {'[', ']', 1, 1, 0, NULL, NULL, 0}; /* [text] */
  brackets dest_p = {'(', ')', 0, 0, 0, NULL, NULL, 0}; /* (target) */
  brackets ref_b = {'[', ']', 0, 0, 0, NULL, NULL, 0};  /* [ref] */
  wiki_close wiki = {0, 0, 0, 0};
  *out = NULL;
  if (dq_buf_reserve(&o, n)) return DOCQ_ENOMEM;
  int at_line_start = prefixes;
  while (i < n) {
    if (at_line_start) {
      const char *nl = memchr(s + i, '\n', n - i);
      size_t eol = nl ? (size_t)(nl - s) : n;
      if (delim_row(s + i, eol - i)) { i = nl ? eol + 1 : n; continue; }
      i += line_prefix(s + i, eol - i);
      at_line_start = 0;
      continue;
    }
    unsigned char c = (unsigned char)s[i];
    while (n_ends && ends[n_ends - 1].at < i) n_ends--; /* passed over by a wikilink or tag */
    if (n_ends && i == ends[n_ends - 1].at) { i = ends[--n_ends].skip_to; continue; }
    switch (c) {
    case '\n':
      dq_buf_putc(&o, '\n');
      i++;
      at_line_start = prefixes;
      continue;
    case '\\':
      if (i + 1 < n && is_punct((unsigned char)s[i + 1])) { dq_buf_putc(&o, s[i + 1]); i += 2; continue; }
      break;
    case '`': {
      size_t e = dq_md_code_end(s, n, i);
      if (e) { put_code_span(&o, s, i, e, prefixes); i = e; continue; }
      while (i < n && s[i] == '`') i++; /* an unmatched run: the marks go */
      continue;
    }
    case '|':
      dq_buf_putc(&o, ' ');
      i++;
      continue;
    case '!':
    case '[': {
      size_t b = c == '!' ? i + 1 : i;
      if (b >= n || s[b] != '[') break;
      if (b + 1 < n && s[b + 1] == '[') { /* [[wikilink]] / ![[embed]] */
        int found;
        size_t e = wikilink_close(&wiki, s, n, b + 2, &found);
        if (found) { put_wikilink(&o, s + b + 2, e - (b + 2)); i = e + 2; continue; }
        break;
      }
      size_t j = bracket_close(&text_b, s, n, b);
      if (!j) break;
      if (b + 1 < n && s[b + 1] == '^') { i = j + 1; continue; } /* footnote reference */
      size_t k = j + 1;
      if (k < n && (s[k] == '(' || s[k] == '[')) {
        /* on the same line; URLs may hold balanced parentheses: /wiki/A_(b) */
        size_t m = bracket_close(s[k] == '(' ? &dest_p : &ref_b, s, n, k);
        if (m && n_ends < 8) {
          ends[n_ends].at = j;
          ends[n_ends].skip_to = m + 1;
          n_ends++;
          i = b + 1;
          continue;
        }
      }
      break;
    }
    case '<': {
      if (i + 1 >= n || !(is_alnum((unsigned char)s[i + 1]) || s[i + 1] == '/' || s[i + 1] == '!')) break;
      size_t j = i + 1;
      while (j < n && s[j] != '>' && s[j] != '<' && s[j] != '\n') j++;
      if (j >= n || s[j] != '>') break;
      if (j - i > 8 && (!strncmp(s + i + 1, "http://", 7) || !strncmp(s + i + 1, "https://", 8)))
        dq_buf_put(&o, s + i + 1, j - i - 1); /* autolink: the address is the text */
      i = j + 1;
      continue;
    }
    case '*':
    case '_':
    case '~':
    case '=': {
      size_t j = i;
      while (j < n && s[j] == (char)c) j++;
      unsigned char prev = i ? (unsigned char)s[i - 1] : ' ', next = j < n ? (unsigned char)s[j] : ' ';
      int drop;
      if (j - i >= 2) drop = c != '=' || j - i == 2; /* **, __, ~~, == (highlight) */
      else if (c == '*') drop = !(prev == ' ' && next == ' ');
      else if (c == '_') drop = !(is_alnum(prev) && is_alnum(next));
      else drop = 0;
      if (!drop) dq_buf_put(&o, s + i, j - i);
      i = j;
      continue;
    }
    default: { /* a run of plain bytes in one copy: this loop sees every byte indexed */
      size_t j = i + 1;
      while (j < n && !md_special[(unsigned char)s[j]] && !(n_ends && j == ends[n_ends - 1].at)) j++;
      dq_buf_put(&o, s + i, j - i);
      i = j;
      continue;
    }
    }
    dq_buf_putc(&o, (char)c);
    i++;
  }
  brackets_free(&text_b);
  brackets_free(&dest_p);
  brackets_free(&ref_b);
  if (o.oom) { dq_buf_free(&o); return DOCQ_ENOMEM; }
  /* drop the blank lines left by removed markup (HTML tags, delimiter rows) */
  size_t w = 0;
  for (size_t r = 0; r < o.len;) {
    char *nl = memchr(o.p + r, '\n', o.len - r);
    size_t e = nl ? (size_t)(nl - o.p) : o.len, k = r, le = e;
    while (k < e && (o.p[k] == ' ' || o.p[k] == '\t' || o.p[k] == '\r')) k++;
    while (le > k && (o.p[le - 1] == ' ' || o.p[le - 1] == '\t' || o.p[le - 1] == '\r')) le--;
    if (k < le) {
      if (w) o.p[w++] = '\n';
      memmove(o.p + w, o.p + k, le - k);
      w += le - k;
    }
    r = e + 1;
  }
  while (w && (o.p[w - 1] == ' ' || o.p[w - 1] == '\t' || o.p[w - 1] == '\r')) w--;
  o.len = w;
  if (o.p) o.p[w] = 0;
  if (out_n) *out_n = o.len;
  *out = dq_buf_detach(&o);
  return *out ? 0 : DOCQ_ENOMEM;
}

int dq_md_clean(const char *s, size_t n, char **out, size_t *out_n) { return md_clean(s, n, 1, out, out_n); }

/* ---- block parsing ------------------------------------------------------------ */

typedef enum { P_NONE, P_PARA, P_LIST, P_QUOTE, P_TABLE, P_CONTAINER } para_kind;

typedef struct md {
  dq_doc *d;
  const char *s;
  size_t n;
  /* the line being looked at */
  size_t pos, eol, next;
  uint32_t line;
  /* the open paragraph */
  para_kind pk;
  size_t p_start, p_end;
  uint32_t p_l1, p_l2;
  int p_lines;
  /* section path: heading texts by level */
  char *head[7];
  dq_buf sec;
} md;

static size_t indent_of(const char *s, size_t a, size_t b)
{
  size_t i = a;
  while (i < b && s[i] == ' ') i++;
  return i - a;
}

static size_t rtrim(const char *s, size_t a, size_t b)
{
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r' || s[b - 1] == '\n')) b--;
  return b;
}

static void next_line(md *m)
{
  m->pos = m->next;
  if (m->pos >= m->n) { m->eol = m->next = m->n; return; }
  const char *nl = memchr(m->s + m->pos, '\n', m->n - m->pos);
  m->eol = nl ? (size_t)(nl - m->s) : m->n;
  m->next = nl ? m->eol + 1 : m->n;
  m->line++;
}

static uint32_t newlines(const char *s, size_t a, size_t b)
{
  uint32_t k = 0;
  const char *p = s + a, *e = s + b;
  while ((p = memchr(p, '\n', (size_t)(e - p)))) { k++; p++; }
  return k;
}

static int is_blank(const char *s, size_t a, size_t b)
{
  size_t k;
  while (a < b && dq_is_space_at(s + a, b - a, &k)) a += k;
  return a == b;
}

static const char *section(md *m) { return dq_buf_cstr(&m->sec); }

static int set_heading(md *m, int level, const char *text, size_t n)
{
  for (int l = level; l <= 6; l++) { dq_free(m->head[l]); m->head[l] = NULL; }
  if (!(m->head[level] = dq_strndup(text, n))) return DOCQ_ENOMEM;
  m->sec.len = 0;
  if (m->sec.p) m->sec.p[0] = 0;
  for (int l = 1; l <= level; l++) {
    if (!m->head[l] || !m->head[l][0]) continue;
    if (m->sec.len) dq_buf_puts(&m->sec, " > ");
    dq_label_put(&m->sec, m->head[l], strlen(m->head[l]));
  }
  return m->sec.oom ? DOCQ_ENOMEM : 0;
}

static int add_cleaned(md *m, dq_block_kind kind, int level, size_t a, size_t b, uint32_t l1, uint32_t l2,
                       const char *cs, size_t cn, int clean_md)
{
  char *c = NULL;
  size_t clen = cn;
  int rc;
  if (clean_md && (rc = dq_md_clean(cs, cn, &c, &clen)) < 0) return rc;
  rc = dq_doc_add_block(m->d, kind, level, a, b, l1, l2, m->s + a, b - a, c ? c : cs, clen, section(m));
  dq_free(c);
  return rc;
}

static int close_para(md *m)
{
  if (m->pk == P_NONE) return 0;
  para_kind pk = m->pk;
  m->pk = P_NONE;
  size_t a = m->p_start, b = rtrim(m->s, a, m->p_end);
  if (a >= b) return 0;
  return add_cleaned(m, pk == P_TABLE ? DQ_BLK_TABLE : DQ_BLK_PARA, 0, a, b, m->p_l1, m->p_l2, m->s + a, b - a, 1);
}

static void open_para(md *m, para_kind pk, size_t start)
{
  m->pk = pk;
  m->p_start = start;
  m->p_end = m->eol;
  m->p_l1 = m->p_l2 = m->line;
  m->p_lines = 1;
}

/* Heading text -> section/clean text: closing #s and a {#anchor} removed, inline markup cleaned. */
static int heading(md *m, int level, size_t a, size_t b, size_t ta, size_t tb, uint32_t l1)
{
  tb = rtrim(m->s, ta, tb);
  if (tb > ta && m->s[tb - 1] == '}') { /* {#anchor} attribute (VitePress, Pandoc) */
    const char *o = NULL;
    for (size_t j = tb - 1; j > ta; j--) if (m->s[j - 1] == '{') { o = m->s + j - 1; break; }
    if (o && o[1] == '#') tb = rtrim(m->s, ta, (size_t)(o - m->s));
  }
  size_t t = tb;
  while (t > ta && m->s[t - 1] == '#') t--;
  if (t < tb && (t == ta || m->s[t - 1] == ' ' || m->s[t - 1] == '\t')) tb = rtrim(m->s, ta, t);
  char *c = NULL;
  size_t cn = 0;
  while (ta < tb && (m->s[ta] == ' ' || m->s[ta] == '\t')) ta++;
  int rc = md_clean(m->s + ta, tb - ta, 0, &c, &cn);
  if (rc < 0) return rc;
  /* a multi-line setext heading reads as one line */
  for (size_t i = 0; i < cn; i++) if (c[i] == '\n') c[i] = ' ';
  if ((rc = set_heading(m, level, c, cn)) == 0)
    rc = dq_doc_add_block(m->d, DQ_BLK_HEADING, level, a, b, l1, m->line, m->s + a, b - a, c, cn, section(m));
  dq_free(c);
  return rc;
}

/* Fence at line start: returns the fence length (>= 3) and its char, else 0. */
static size_t fence(const md *m, char *ch)
{
  size_t i = m->pos + indent_of(m->s, m->pos, m->eol);
  if (i - m->pos > 3 || i >= m->eol || (m->s[i] != '`' && m->s[i] != '~')) return 0;
  size_t j = i;
  while (j < m->eol && m->s[j] == m->s[i]) j++;
  if (j - i < 3) return 0;
  if (m->s[i] == '`' && memchr(m->s + j, '`', m->eol - j)) return 0; /* info string may not hold ` */
  *ch = m->s[i];
  return j - i;
}

static int code_block(md *m, size_t flen, char ch)
{
  size_t a = m->pos + indent_of(m->s, m->pos, m->eol), in_a = m->next, in_b;
  uint32_t l1 = m->line;
  for (;;) {
    next_line(m);
    if (m->pos >= m->n) { in_b = m->n; break; }
    char c2;
    size_t f = fence(m, &c2);
    if (f >= flen && c2 == ch && is_blank(m->s, m->pos + indent_of(m->s, m->pos, m->eol) + f, m->eol)) { in_b = m->pos; break; }
  }
  size_t b = rtrim(m->s, a, m->pos >= m->n ? m->n : m->eol);
  if (in_a > b) in_a = b;
  in_b = rtrim(m->s, in_a, in_b < b ? in_b : b);
  uint32_t l2 = l1 + newlines(m->s, a, b);
  return dq_doc_add_block(m->d, DQ_BLK_CODE, 0, a, b, l1, l2, m->s + a, b - a, m->s + in_a, in_b - in_a, section(m));
}

/* $$ ... $$ display math (one line or several). */
static int math_block(md *m)
{
  size_t a = m->pos + indent_of(m->s, m->pos, m->eol), e = rtrim(m->s, a, m->eol);
  uint32_t l1 = m->line;
  int closed = e - a >= 4 && m->s[e - 1] == '$' && m->s[e - 2] == '$';
  while (!closed && m->next < m->n) {
    next_line(m);
    e = rtrim(m->s, m->pos, m->eol);
    closed = e - m->pos >= 2 && m->s[e - 1] == '$' && m->s[e - 2] == '$';
  }
  size_t b = rtrim(m->s, a, m->eol);
  size_t ia = a + 2, ib = closed && b - a >= 4 ? b - 2 : b;
  if (ia > ib) ia = ib;
  return dq_doc_add_block(m->d, DQ_BLK_MATH, 0, a, b, l1, l1 + newlines(m->s, a, b), m->s + a, b - a, m->s + ia, ib - ia, section(m));
}

/* Skip lines until one contains `end` (inclusive). */
static void skip_until(md *m, const char *end, size_t from)
{
  size_t el = strlen(end);
  for (;;) {
    size_t from_at = from > m->pos ? from : m->pos;
    if (m->eol >= from_at + el && memmem(m->s + from_at, m->eol - from_at, end, el)) return;
    if (m->next >= m->n) return;
    next_line(m);
  }
}

static int starts(const md *m, size_t i, const char *p)
{
  size_t l = strlen(p);
  return m->eol - i >= l && !strncasecmp(m->s + i, p, l);
}

static int list_marker(const char *s, size_t i, size_t e)
{
  if (i + 1 < e + 1 && (s[i] == '-' || s[i] == '*' || s[i] == '+') && (i + 1 == e || s[i + 1] == ' ' || s[i + 1] == '\t')) return 1;
  size_t j = i;
  while (j < e && j - i < 9 && s[j] >= '0' && s[j] <= '9') j++;
  return j > i && j < e && (s[j] == '.' || s[j] == ')') && (j + 1 == e || s[j + 1] == ' ' || s[j + 1] == '\t');
}

/* One line of the body. */
static int md_line(md *m)
{
  const char *s = m->s;
  if (is_blank(s, m->pos, m->eol)) return close_para(m);
  size_t ind = indent_of(s, m->pos, m->eol), i = m->pos + ind;
  int rc;
  char ch;
  size_t fl;
  if (ind <= 3 && (fl = fence(m, &ch))) { if ((rc = close_para(m)) < 0) return rc; return code_block(m, fl, ch); }
  if (ind <= 3 && starts(m, i, "$$")) { if ((rc = close_para(m)) < 0) return rc; return math_block(m); }
  if (ind <= 3 && s[i] == '#') {
    size_t j = i;
    while (j < m->eol && s[j] == '#') j++;
    if (j - i <= 6 && (j == m->eol || s[j] == ' ' || s[j] == '\t' || s[j] == '\r')) {
      if ((rc = close_para(m)) < 0) return rc;
      return heading(m, (int)(j - i), i, rtrim(s, i, m->eol), j, m->eol, m->line);
    }
  }
  if (ind <= 3 && (s[i] == '=' || s[i] == '-')) { /* setext underline or thematic break */
    size_t j = i;
    while (j < m->eol && s[j] == s[i]) j++;
    if (is_blank(s, j, m->eol)) {
      if (m->pk == P_PARA) {
        m->pk = P_NONE;
        size_t a = m->p_start;
        return heading(m, s[i] == '=' ? 1 : 2, a, rtrim(s, i, m->eol), a, m->p_end, m->p_l1);
      }
      if (s[i] == '-' && j - i >= 3) return close_para(m);
    }
  }
  if (ind <= 3 && (s[i] == '*' || s[i] == '_' || s[i] == '-')) { /* thematic break with spaces: * * * */
    size_t j = i, cnt = 0;
    while (j < m->eol && (s[j] == s[i] || s[j] == ' ' || s[j] == '\t' || s[j] == '\r')) cnt += s[j++] == s[i];
    if (j == m->eol && cnt >= 3) return close_para(m);
  }
  if (starts(m, i, "<!--")) { if ((rc = close_para(m)) < 0) return rc; skip_until(m, "-->", i + 4); return 0; }
  if (starts(m, i, "%%")) { if ((rc = close_para(m)) < 0) return rc; skip_until(m, "%%", i + 2); return 0; }
  if (ind <= 3 && (starts(m, i, "<script") || starts(m, i, "<style"))) {
    if ((rc = close_para(m)) < 0) return rc;
    skip_until(m, s[i + 2] == 'c' || s[i + 2] == 'C' ? "</script>" : "</style>", i);
    return 0;
  }
  if (starts(m, i, ":::")) { /* VitePress container: the opening line starts a paragraph, a bare ::: ends one */
    if ((rc = close_para(m)) < 0) return rc;
    if (!is_blank(s, i + 3 + strspn(s + i + 3, ":"), m->eol)) open_para(m, P_CONTAINER, i);
    return 0;
  }
  if (s[i] == '|') {
    if (m->pk != P_TABLE) { if ((rc = close_para(m)) < 0) return rc; open_para(m, P_TABLE, i); return 0; }
  } else if (s[i] == '>') {
    if (m->pk != P_QUOTE) { if ((rc = close_para(m)) < 0) return rc; open_para(m, P_QUOTE, i); return 0; }
  } else if (list_marker(s, i, rtrim(s, i, m->eol))) {
    if ((rc = close_para(m)) < 0) return rc;
    open_para(m, P_LIST, i);
    return 0;
  } else if (m->pk == P_TABLE) {
    if ((rc = close_para(m)) < 0) return rc;
  }
  if (m->pk == P_NONE) { open_para(m, P_PARA, i); return 0; }
  m->p_end = m->eol; /* continuation (lazy lines included) */
  m->p_l2 = m->line;
  m->p_lines++;
  return 0;
}

/* ---- front matter ------------------------------------------------------------- */

static void trim(const char **a, const char **b)
{
  while (*a < *b && (**a == ' ' || **a == '\t')) (*a)++;
  while (*b > *a && ((*b)[-1] == ' ' || (*b)[-1] == '\t' || (*b)[-1] == '\r')) (*b)--;
}

static int hex_val(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 32) >= 'a' && (c | 32) <= 'f') return (c | 32) - 'a' + 10;
  return -1;
}

/* k hex digits at s[0..n) -> value, or -1. */
static long hex_at(const char *s, size_t n, size_t k)
{
  long v = 0;
  if (n < k) return -1;
  for (size_t i = 0; i < k; i++) {
    int h = hex_val(s[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* One escape of a double-quoted YAML scalar at s[0..n) (s[0] == '\\'):
 * writes its bytes to o, returns the bytes consumed (0: not an escape,
 * kept as written). \x, \u and \U name code points; a surrogate pair of \u
 * escapes is one, a lone surrogate becomes U+FFFD, U+0000 is dropped (the
 * value is a C string). The output is never longer than the escape. */
static size_t yaml_escape(const char *s, size_t n, char *o, size_t *wrote)
{
  static const char from[] = "\"\\/ \tntr0abefvNL_P", to[] = "\"\\/ \t\n\t\r\0\a\b\x1B\f\v";
  *wrote = 0;
  if (n < 2) return 0;
  const char *c = memchr(from, s[1], sizeof from - 1);
  if (c && c - from < (ptrdiff_t)(sizeof to - 1)) {
    if (to[c - from]) o[(*wrote)++] = to[c - from];
    return 2;
  }
  if (c) { /* \N \L \_ \P: U+0085, U+2028, U+00A0, U+2029 */
    static const long cps[] = {0x85, 0x2028, 0xA0, 0x2029};
    *wrote = dq_utf8_put(o, (unsigned)cps[c - from - (sizeof to - 1)]);
    return 2;
  }
  size_t k = s[1] == 'x' ? 2 : s[1] == 'u' ? 4 : s[1] == 'U' ? 8 : 0;
  long cp = k ? hex_at(s + 2, n - 2, k) : -1;
  if (cp < 0 || cp > 0x10FFFF) return 0;
  size_t used = 2 + k;
  if (cp >= 0xD800 && cp < 0xDC00 && n >= used + 6 && s[used] == '\\' && s[used + 1] == 'u') {
    long lo = hex_at(s + used + 2, n - used - 2, 4);
    if (lo >= 0xDC00 && lo < 0xE000) { cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00); used += 6; }
  }
  if (cp) *wrote = dq_utf8_put(o, (unsigned)cp); /* a lone surrogate: U+FFFD */
  return used;
}

/* A front-matter scalar s[a..b) -> its value, in the document's arena:
 * double-quoted with its escapes decoded (\" \\ \n \t \uXXXX ...),
 * single-quoted with '' read as ', plain as written. *n_out: its length.
 * NULL on ENOMEM. Decoding is in place: no escape is shorter than what it
 * stands for. */
static char *scalar(dq_doc *d, const char *a, const char *b, size_t *n_out)
{
  trim(&a, &b);
  char q = b - a >= 2 && (*a == '"' || *a == '\'') && b[-1] == *a ? *a : 0;
  if (q) a++, b--;
  char *v = dq_doc_strndup(d, a, (size_t)(b - a));
  if (!v) return NULL;
  size_t n = (size_t)(b - a), w = 0;
  for (size_t r = 0; r < n;) {
    size_t wrote, used;
    if (q == '"' && v[r] == '\\' && (used = yaml_escape(v + r, n - r, v + w, &wrote))) { r += used; w += wrote; continue; }
    if (q == '\'' && v[r] == '\'' && r + 1 < n && v[r + 1] == '\'') r++;
    v[w++] = v[r++];
  }
  v[w] = 0;
  *n_out = w;
  return v;
}

/* `decoded`: the value is already a scalar's value, not YAML text. */
static int push_item(dq_doc *d, char ***arr, size_t *n, const char *a, const char *b, int is_tag, int decoded)
{
  size_t len;
  if (decoded) trim(&a, &b);
  char *v = decoded ? dq_doc_strndup(d, a, (size_t)(b - a)) : scalar(d, a, b, &len);
  if (!v) return DOCQ_ENOMEM;
  if (decoded) len = (size_t)(b - a);
  if (is_tag) while (*v == '#') v++, len--;
  if (!len) return 0;
  if ((*n & (*n - 1)) == 0) { /* grow at powers of two */
    char **p = dq_realloc(*arr, (*n ? *n * 2 : 1) * sizeof *p);
    if (!p) return DOCQ_ENOMEM;
    *arr = p;
  }
  (*arr)[(*n)++] = v;
  return 0;
}

/* A value that is a list: "[a, b]" inline, or "- a" lines (handled by the
 * caller); a single string is split on commas (tags also on spaces). A
 * quoted value is decoded first and then split as plain text. */
static int push_value(dq_doc *d, char ***arr, size_t *n, const char *a, const char *b, int is_tag)
{
  int rc = 0, decoded = 0;
  trim(&a, &b);
  if (b - a >= 2 && (*a == '"' || *a == '\'') && b[-1] == *a) {
    size_t len;
    if (!(a = scalar(d, a, b, &len))) return DOCQ_ENOMEM;
    b = a + len;
    decoded = 1;
  }
  if (!decoded && a < b && *a == '[' && b[-1] == ']') { a++; b--; }
  else if (!is_tag) return push_item(d, arr, n, a, b, 0, decoded);
  const char *p = a;
  char quote = 0;
  for (const char *q = a; q <= b && rc == 0; q++) {
    if (q < b && quote) {
      if (quote == '"' && *q == '\\' && q + 1 < b) q++; /* \" does not end the item */
      else if (quote == '\'' && *q == '\'' && q + 1 < b && q[1] == '\'') q++; /* '' neither */
      else if (*q == quote) quote = 0;
      continue;
    }
    if (!decoded && q < b && (*q == '"' || *q == '\'') && (q == p || q[-1] == ' ')) { quote = *q; continue; }
    if (q == b || *q == ',' || (is_tag && (*q == ' ' || *q == '\t'))) {
      rc = push_item(d, arr, n, p, q, is_tag, decoded);
      p = q + 1;
    }
  }
  return rc;
}

static int front_matter(md *m)
{
  const char *s = m->s;
  size_t start = m->pos;
  if (!(m->eol - m->pos >= 3 && !strncmp(s + m->pos, "---", 3) && is_blank(s, m->pos + 3, m->eol))) return 0;
  /* find the closing --- or ... */
  size_t p = m->next, close_at = 0, close_end = 0;
  uint32_t lines = 1;
  while (p < m->n) {
    const char *nl = memchr(s + p, '\n', m->n - p);
    size_t e = nl ? (size_t)(nl - s) : m->n;
    lines++;
    if (e - p >= 3 && (!strncmp(s + p, "---", 3) || !strncmp(s + p, "...", 3)) && is_blank(s, p + 3, e)) { close_at = p; close_end = e; break; }
    p = nl ? e + 1 : m->n;
  }
  if (!close_end) return 0;
  dq_doc *d = m->d;
  int rc = 0;
  char ***list = NULL;
  size_t *nlist = NULL;
  int is_tag = 0;
  for (p = m->next; p < close_at && rc == 0;) {
    const char *nl = memchr(s + p, '\n', close_at - p);
    size_t e = nl ? (size_t)(nl - s) : close_at;
    const char *a = s + p, *b = s + e;
    p = e + 1;
    const char *t = a;
    while (t < b && (*t == ' ' || *t == '\t')) t++;
    if (t < b && *t == '-' && list && (t + 1 == b || t[1] == ' ')) { rc = push_item(d, list, nlist, t + 1, b, is_tag, 0); continue; }
    if (t != a && list) continue; /* indented continuation of something we do not read */
    list = NULL;
    const char *colon = memchr(a, ':', (size_t)(b - a));
    if (!colon || a == b || *a == ' ' || *a == '#') continue;
    size_t kl = (size_t)(colon - a);
    const char *va = colon + 1, *vb = b;
    trim(&va, &vb);
    int empty = va >= vb || (vb - va == 2 && (*va == '"' || *va == '\'') && va[1] == *va);
    size_t len;
    if ((kl == 5 && !strncasecmp(a, "title", 5)) && !empty) {
      if (!(d->title = scalar(d, va, vb, &len))) rc = DOCQ_ENOMEM;
      else if (!len) d->title = NULL; /* "\0": nothing left */
    } else if ((kl == 4 && !strncasecmp(a, "date", 4)) && !empty) {
      if (!(d->date = scalar(d, va, vb, &len))) rc = DOCQ_ENOMEM;
      else if (!len) d->date = NULL;
    } else if ((kl == 4 && !strncasecmp(a, "tags", 4)) || (kl == 3 && !strncasecmp(a, "tag", 3))) {
      is_tag = 1; list = &d->tags; nlist = &d->n_tags;
      if (!empty) { rc = push_value(d, list, nlist, colon + 1, b, 1); list = NULL; }
    } else if ((kl == 7 && !strncasecmp(a, "aliases", 7)) || (kl == 5 && !strncasecmp(a, "alias", 5))) {
      is_tag = 0; list = &d->aliases; nlist = &d->n_aliases;
      if (!empty) { rc = push_value(d, list, nlist, colon + 1, b, 0); list = NULL; }
    }
  }
  if (rc < 0) return rc;
  size_t end = rtrim(s, start, close_end);
  if ((rc = dq_doc_add_block(d, DQ_BLK_FRONTMATTER, 0, start, end, m->line, m->line + lines - 1, s + start,
                             end - start, s + start, end - start, "")) < 0) return rc;
  while (m->pos < close_at) next_line(m);
  return 1;
}

int dq_load_md(dq_doc *d)
{
  md m;
  int rc = 0;
  memset(&m, 0, sizeof m);
  m.d = d;
  m.s = d->body;
  m.n = d->body_len;
  m.next = 0;
  m.line = 0;
  if (m.n >= 3 && !memcmp(m.s, "\xEF\xBB\xBF", 3)) m.next = 3; /* byte order mark */
  next_line(&m);
  if (m.pos < m.n && (rc = front_matter(&m)) < 0) goto done;
  if (rc == 1) next_line(&m);
  rc = 0;
  while (m.pos < m.n) {
    if ((rc = md_line(&m)) < 0) goto done;
    next_line(&m);
  }
  rc = close_para(&m);
done:
  for (int l = 0; l <= 6; l++) dq_free(m.head[l]);
  dq_buf_free(&m.sec);
  return rc;
}
