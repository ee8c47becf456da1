/* Chunking along the document's structure (see chunk.h).
 *
 * Blocks become units: a block that fits the target is one unit; a larger
 * one is cut into sentences (. ! ? and CJK 。！？；…．), a sentence that is
 * still too large into lines, then words, then characters (never inside a
 * UTF-8 sequence, so never inside a CJK character). Code and math are cut
 * only between lines; a single line larger than the target stays whole.
 * Units are packed greedily up to target_tokens; a heading always starts a
 * new chunk unless the open chunk holds only headings (a tiny section).
 * In Markdown, a run of 1 KiB or more without a space that is nearly all
 * base64 characters (an embedded image, a URL holding its state) is encoded
 * data, not words: it is left out, as markup that reads as nothing is; so
 * are 256 or more base64 characters in a row inside a longer run that has
 * to be cut (link text joined to a URL with its state).
 *
 * Invariants:
 *  - For text and Markdown, a chunk's `text` is one slice of the repaired
 *    body, [src_start, src_end) in file bytes; for HTML it is the extracted
 *    text of its blocks joined with blank lines.
 *  - `overlap_len` leading bytes of `text` repeat the end of the previous
 *    chunk: whole trailing sentences (words or characters when a single
 *    sentence is larger than overlap_tokens), never across a heading.
 *  - n_tokens counts `text` with the configured counter (at least its own
 *    estimate: pieces of a word cut at characters never share a chunk); it is
 *    at most target_tokens unless the chunk is one unsplittable code line, or
 *    one character costing more than a tiny target. */
#include "indexer/chunk.h"

#include <string.h>

#include "indexer/normalize.h"
#include "util/err.h"
#include "util/mem.h"

typedef struct unit {
  const dq_block *blk;   /* NULL for an overlap spanning blocks */
  const char *sp;        /* the text it is a slice of: the body (txt/md) or blk->text (html) */
  size_t a, b;           /* slice [a, b) of sp */
  size_t src_a, src_b;   /* original file offsets */
  uint32_t l1, l2;       /* lines of its first and last byte */
  size_t tokens;
  int heading, whole;    /* whole: the entire block (its `clean` can be used as is) */
} unit;

typedef struct ck {
  const dq_doc *d;
  const dq_chunk_opts *o;
  size_t target, overlap;
  int slices;            /* text/markdown: units are slices of d->body */
  unit *u; size_t nu, ucap;
  size_t tok;            /* tokens of the open chunk */
  int has_body, has_ov;  /* open chunk holds a non-heading unit / starts with an overlap */
  dq_chunk *out; size_t nout, ocap;
  dq_buf prefix;         /* front matter (title, aliases, tags) for the first chunk's clean */
  size_t *cand; size_t ccap; /* overlap candidates (scratch) */
} ck;

static size_t count(const ck *c, const char *s, size_t n)
{
  if (!n) return 0;
  return c->o->count_tokens ? c->o->count_tokens(c->o->count_ctx, s, n) : dq_token_estimate(s, n);
}

/* ---- boundaries ---------------------------------------------------------------- */

static size_t skip_ws(const char *s, size_t i, size_t b)
{
  size_t k;
  while (i < b && dq_is_space_at(s + i, b - i, &k)) i += k;
  return i;
}

static size_t trim_ws(const char *s, size_t a, size_t b)
{
  while (b > a) {
    unsigned char c = (unsigned char)s[b - 1];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') b--;
    else if (b - a >= 3 && c == 0x80 && (unsigned char)s[b - 2] == 0x80 && (unsigned char)s[b - 3] == 0xE3) b -= 3;
    else if (b - a >= 2 && c == 0xA0 && (unsigned char)s[b - 2] == 0xC2) b -= 2;
    else break;
  }
  return b;
}

static size_t cp_at(const char *s, size_t i, size_t b, uint32_t *cp)
{
  const unsigned char *p = (const unsigned char *)s + i;
  size_t k = dq_utf8_len(p[0]);
  if (k > b - i) k = b - i;
  switch (k) {
  case 1: *cp = p[0]; break;
  case 2: *cp = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F); break;
  case 3: *cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F); break;
  default: *cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F); break;
  }
  return k;
}

static int is_cjk_stop(uint32_t cp)
{
  return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF1B || cp == 0x2026 || cp == 0xFF0E || cp == 0xFF61;
}

static int is_closer(uint32_t cp)
{
  return cp == '"' || cp == '\'' || cp == ')' || cp == ']' || cp == 0x201D || cp == 0x2019 || cp == 0xBB ||
         cp == 0x300D || cp == 0x300F || cp == 0xFF09 || cp == 0x300B || cp == 0x3011 || cp == 0x2026;
}

enum { LV_SENTENCE, LV_LINE, LV_WORD, LV_CHAR };
#define DQ_CHUNK_DATA_RUN 1024 /* bytes: a "word" this long is never prose */
#define DQ_CHUNK_DATA_SUBRUN 256 /* bytes of base64 letters in a row, within a longer "word" */

static const unsigned char sentence_byte[256] = {
  ['.'] = 1, ['!'] = 1, ['?'] = 1, ['\n'] = 1, [0xE2] = 1, [0xE3] = 1, [0xEF] = 1,
};

/* The segment starting at i (a non-space byte) at `level`: returns its end
 * (trailing space excluded); *next gets the start of the following one (or b). */
static size_t seg_end(const char *s, size_t i, size_t b, int level, size_t *next)
{
  size_t j = i, k;
  uint32_t cp;
  while (j < b) {
    if (level == LV_SENTENCE) { /* fast skip: only . ! ? newline and E2/E3/EF lead bytes matter */
      while (j < b && !sentence_byte[(unsigned char)s[j]]) j++;
      if (j >= b) break;
    }
    unsigned char c = (unsigned char)s[j];
    if (level == LV_LINE && c == '\n') break;
    if (level == LV_SENTENCE && c == '\n') { /* a blank line ends a sentence too */
      size_t e = j + 1;
      while (e < b && (s[e] == ' ' || s[e] == '\t' || s[e] == '\r')) e++;
      if (e < b && s[e] == '\n') break;
    }
    if (level == LV_WORD && dq_is_space_at(s + j, b - j, &k)) break;
    if (level == LV_SENTENCE && (c == '.' || c == '!' || c == '?')) {
      size_t e = j + 1;
      while (e < b && (k = cp_at(s, e, b, &cp)) && is_closer(cp)) e += k;
      if (e == b || dq_is_space_at(s + e, b - e, &k)) { j = e; break; }
      j = e;
      continue;
    }
    if (level == LV_SENTENCE && c >= 0xE2) {
      k = dq_utf8_len(c);
      if (k > b - j) k = b - j;
      /* every stop is E2 80 A6, E3 80 82 or EF BC/BD xx: skip the rest undecoded */
      if (!((c == 0xE2 || c == 0xE3) && (unsigned char)s[j + 1] == 0x80) && c != 0xEF) { j += k; continue; }
      cp_at(s, j, b, &cp);
      if (is_cjk_stop(cp)) {
        size_t e = j + k;
        while (e < b && (k = cp_at(s, e, b, &cp)) && (is_closer(cp) || is_cjk_stop(cp))) e += k;
        j = e;
        break;
      }
      j += k;
      continue;
    }
    j += c < 0x80 ? 1 : dq_utf8_len(c);
  }
  if (j > b) j = b;
  *next = skip_ws(s, j, b);
  return trim_ws(s, i, j);
}

/* ---- output ------------------------------------------------------------------- */

static int code_like(const dq_block *b) { return b && (b->kind == DQ_BLK_CODE || b->kind == DQ_BLK_MATH); }

/* Clean text of a slice of one block that is not the whole block (markdown). */
static int piece_clean(const ck *c, const dq_block *blk, const char *s, size_t a, size_t b, dq_buf *out)
{
  if (!code_like(blk)) {
    char *t = NULL;
    size_t tn = 0;
    int rc = dq_md_clean(s + a, b - a, &t, &tn);
    if (rc < 0) return rc;
    dq_buf_put(out, t, tn);
    dq_free(t);
    return 0;
  }
  /* code or math: verbatim, minus the fence/$$ lines at the block's edges */
  size_t ba = dq_doc_body_off(c->d, blk->src_start), bb = dq_doc_body_off(c->d, blk->src_end);
  if (a == ba) {
    const char *nl = memchr(s + a, '\n', b - a);
    if (blk->kind == DQ_BLK_CODE) a = nl ? (size_t)(nl - s) + 1 : b;
    else if (b - a >= 2 && s[a] == '$' && s[a + 1] == '$') a += 2;
  }
  if (b == bb && b > a) {
    size_t ls = b;
    while (ls > a && s[ls - 1] != '\n') ls--;
    size_t f = ls;
    while (f < b && s[f] == ' ') f++;
    if (blk->kind == DQ_BLK_CODE && b - f >= 3 && (s[f] == '`' || s[f] == '~') && s[f + 1] == s[f] && s[f + 2] == s[f]) b = ls;
    else if (blk->kind == DQ_BLK_MATH && b - a >= 2 && s[b - 1] == '$' && s[b - 2] == '$') b -= 2;
  }
  dq_buf_put(out, s + a, b > a ? b - a : 0);
  return 0;
}

static int build_clean(ck *c, dq_chunk *ch, int first)
{
  int md = c->d->format == DQ_FMT_MARKDOWN, rc = 0;
  if (!md && !(first && c->prefix.len)) { ch->clean = ch->text; ch->clean_len = ch->text_len; return 0; }
  dq_buf o = {0};
  if (first && c->prefix.len) dq_buf_put(&o, c->prefix.p, c->prefix.len);
  if (!md) dq_buf_put(&o, ch->text, ch->text_len);
  for (size_t i = 0; md && i < c->nu && rc == 0;) {
    size_t j = i + 1;
    while (j < c->nu && c->u[j].blk && c->u[j].blk == c->u[i].blk) j++;
    const unit *f = &c->u[i], *l = &c->u[j - 1];
    size_t before = o.len;
    if (o.len) dq_buf_put(&o, "\n\n", 2);
    size_t mark = o.len;
    if (j == i + 1 && f->whole) dq_buf_put(&o, f->blk->clean, f->blk->clean_len);
    else rc = piece_clean(c, f->blk, f->sp, f->a, l->b, &o);
    if (o.len == mark) o.len = before; /* nothing visible: no separator either */
    i = j;
  }
  if (rc == 0 && o.oom) rc = DOCQ_ENOMEM;
  if (rc < 0) { dq_buf_free(&o); return rc; }
  ch->clean_len = o.len;
  ch->clean = dq_buf_detach(&o);
  return ch->clean ? 0 : DOCQ_ENOMEM;
}

/* Emit the open chunk. */
static int emit(ck *c)
{
  if (!c->nu || (c->has_ov && c->nu == 1)) { c->nu = 0; c->has_ov = 0; return 0; }
  if (c->nout == c->ocap) {
    size_t cap = c->ocap ? c->ocap * 2 : 16;
    dq_chunk *p = dq_realloc(c->out, cap * sizeof *p);
    if (!p) return DOCQ_ENOMEM;
    c->out = p;
    c->ocap = cap;
  }
  dq_chunk *ch = &c->out[c->nout];
  memset(ch, 0, sizeof *ch);
  const unit *f = &c->u[0], *l = &c->u[c->nu - 1];
  int rc;
  if (c->slices) {
    ch->text = dq_strndup(f->sp + f->a, l->b - f->a);
    ch->text_len = l->b - f->a;
    ch->src_start = f->src_a;
    ch->src_end = l->src_b;
  } else {
    dq_buf t = {0};
    ch->src_start = f->src_a;
    ch->src_end = f->src_b;
    for (size_t i = 0; i < c->nu;) {
      size_t j = i + 1;
      while (j < c->nu && c->u[j].sp == c->u[i].sp) j++;
      if (t.len) dq_buf_put(&t, "\n\n", 2);
      dq_buf_put(&t, c->u[i].sp + c->u[i].a, c->u[j - 1].b - c->u[i].a);
      for (size_t k = i; k < j; k++) {
        if (c->u[k].src_a < ch->src_start) ch->src_start = c->u[k].src_a;
        if (c->u[k].src_b > ch->src_end) ch->src_end = c->u[k].src_b;
      }
      i = j;
    }
    if (t.oom) { dq_buf_free(&t); return DOCQ_ENOMEM; }
    ch->text_len = t.len;
    ch->text = dq_buf_detach(&t);
  }
  if (!ch->text) return DOCQ_ENOMEM;
  ch->ordinal = (uint32_t)c->nout;
  ch->line_first = f->l1;
  ch->line_last = l->l2;
  ch->overlap_len = c->has_ov ? f->b - f->a : 0;
  /* With the estimator the packing sum is at least the chunk's own estimate
   * (each unit is rounded up on its own, and nothing is counted across the
   * white-space and sentence cuts used here); a model tokenizer is asked
   * again because merges can cross the cuts. */
  ch->n_tokens = (uint32_t)(c->o->count_tokens || !c->slices ? count(c, ch->text, ch->text_len) : c->tok);
  const dq_block *sb = l->blk ? l->blk : f->blk;
  ch->section = dq_strdup(sb ? sb->section : "");
  c->nout++; /* owned by out[] from here on, so a failure below frees it */
  if (!ch->section) return DOCQ_ENOMEM;
  if ((rc = build_clean(c, ch, c->nout == 1)) < 0) return rc;
  c->nu = 0;
  c->has_ov = 0;
  c->has_body = 0;
  c->tok = 0;
  return 0;
}

/* ---- overlap ------------------------------------------------------------------------ */

/* The tail of the open chunk to repeat at the start of the next one: the
 * longest run of trailing sentences (else words, else characters) within
 * overlap_tokens, never the whole chunk. Returns 0 with ov->b == 0 when none. */
static int make_overlap(ck *c, unit *ov)
{
  memset(ov, 0, sizeof *ov);
  if (!c->overlap || !c->nu) return 0;
  const unit *l = &c->u[c->nu - 1];
  if (l->heading || code_like(l->blk)) return 0;
  size_t lo = l->a;
  for (size_t i = c->nu - 1; i-- > 0;) { /* back over units sharing the slice space */
    if (c->u[i].sp != l->sp || c->u[i].heading || code_like(c->u[i].blk)) break;
    lo = c->u[i].a;
  }
  for (int level = LV_SENTENCE; level <= LV_CHAR; level++) {
    /* Only the tail can be repeated: a token covers at most a few bytes of
     * text, so scanning a window (snapped to a character) finds the same
     * cuts as scanning the whole chunk, at a fraction of the cost. */
    size_t from = lo, window = (c->o->count_tokens ? 24 : 8) * c->overlap + 64; /* estimator: <= 4 bytes a token + spaces */
    if (l->b - lo > window) {
      from = l->b - window;
      while (from < l->b && ((unsigned char)l->sp[from] & 0xC0) == 0x80) from++;
    }
    size_t n = 0, i = skip_ws(l->sp, from, l->b), next;
    for (; i < l->b; i = next) {
      int take = 1;
      if (level == LV_CHAR) {
        /* characters only inside CJK runs: cutting a URL or a word is worse than no overlap */
        uint32_t cp;
        next = i + cp_at(l->sp, i, l->b, &cp);
        take = dq_is_cjk((int32_t)cp);
      } else {
        seg_end(l->sp, i, l->b, level, &next);
      }
      if (!take) continue;
      if (n == c->ccap) {
        size_t cap = c->ccap ? c->ccap * 2 : 64;
        size_t *p = dq_realloc(c->cand, cap * sizeof *p);
        if (!p) return DOCQ_ENOMEM;
        c->cand = p;
        c->ccap = cap;
      }
      c->cand[n++] = i;
    }
    size_t best = 0, tok = 0;
    for (size_t k = n; k-- > 1;) { /* k = 0 would repeat the whole chunk */
      tok += count(c, l->sp + c->cand[k], (k + 1 < n ? c->cand[k + 1] : l->b) - c->cand[k]);
      if (tok > c->overlap) break;
      best = c->cand[k];
    }
    if (!best) continue;
    ov->sp = l->sp;
    ov->a = best;
    ov->b = l->b;
    ov->tokens = count(c, l->sp + best, l->b - best);
    ov->blk = best >= l->a ? l->blk : NULL;
    if (c->slices) {
      uint32_t nl = 0;
      for (size_t k = best; k + 1 < l->b; k++) nl += l->sp[k] == '\n';
      ov->l2 = l->l2;
      ov->l1 = l->l2 - nl;
      ov->src_a = dq_doc_src_off(c->d, best);
      ov->src_b = l->src_b;
    } else {
      ov->l1 = l->l1; ov->l2 = l->l2; ov->src_a = l->src_a; ov->src_b = l->src_b;
    }
    return 0;
  }
  return 0;
}

/* ---- packing ------------------------------------------------------------------------ */

static int push(ck *c, const unit *u)
{
  if (c->nu == c->ucap) {
    size_t cap = c->ucap ? c->ucap * 2 : 64;
    unit *p = dq_realloc(c->u, cap * sizeof *p);
    if (!p) return DOCQ_ENOMEM;
    c->u = p;
    c->ucap = cap;
  }
  c->u[c->nu++] = *u;
  return 0;
}

/* Tokens of the bytes between the open chunk's last unit and u (markup the
 * loader skipped lies there in a markdown slice; units of another block are
 * joined with a blank line, which the estimate counts as two newlines). */
static size_t gap_tokens(const ck *c, const unit *u)
{
  if (!c->nu) return 0;
  const unit *l = &c->u[c->nu - 1];
  if (l->sp != u->sp) return count(c, "\n\n", 2);
  if (l->b >= u->a) return 0;
  return count(c, u->sp + l->b, u->a - l->b);
}

/* Does u continue the open chunk's last unit inside one run of ASCII
 * letters (a word cut at characters)? Joined, such pieces can be estimated
 * above the sum of their own estimates ("ihhv" 1 + "We" 1, "ihhvWe" 4: the
 * mixed-case rule), so they never share a chunk; every other cut (white
 * space, punctuation, digits, CJK) keeps the sum an upper bound. */
static int glued_letters(const ck *c, const unit *u)
{
  if (!c->nu) return 0;
  const unit *l = &c->u[c->nu - 1];
  if (l->sp != u->sp || l->b != u->a || u->a == 0 || u->a >= u->b) return 0;
  unsigned char x = (unsigned char)u->sp[u->a - 1] | 0x20, y = (unsigned char)u->sp[u->a] | 0x20;
  return x >= 'a' && x <= 'z' && y >= 'a' && y <= 'z';
}

static int add_unit(ck *c, const unit *u)
{
  int rc;
  size_t cost = u->tokens + gap_tokens(c, u);
  if (u->heading && c->has_body) {
    if ((rc = emit(c)) < 0) return rc;
  } else if (glued_letters(c, u)) {
    if ((rc = emit(c)) < 0) return rc; /* no overlap: it would end where u starts */
  } else if (c->nu && c->tok + cost > c->target) {
    unit ov;
    if ((rc = make_overlap(c, &ov)) < 0) return rc;
    if ((rc = emit(c)) < 0) return rc;
    if (ov.b && !u->heading) {
      c->nu = 0;
      if ((rc = push(c, &ov)) < 0) return rc;
      size_t g = gap_tokens(c, u);
      if (ov.tokens + g + u->tokens <= c->target) { c->has_ov = 1; c->tok = ov.tokens; }
      else c->nu = 0;
    }
  }
  cost = c->nu ? u->tokens + gap_tokens(c, u) : u->tokens;
  if ((rc = push(c, u)) < 0) return rc;
  c->tok += cost;
  if (!u->heading) c->has_body = 1;
  return 0;
}

/* ---- splitting ---------------------------------------------------------------------- */

typedef struct cursor { size_t off; uint32_t line; } cursor;

static uint32_t newlines(const char *s, size_t a, size_t b)
{
  uint32_t k = 0;
  const char *p = s + a, *e = s + b;
  while (p < e && (p = memchr(p, '\n', (size_t)(e - p)))) { k++; p++; }
  return k;
}

/* A unit for the slice [a, b) of block blk. */
static int piece(ck *c, const dq_block *blk, const char *sp, size_t a, size_t b, size_t tokens, cursor *cur)
{
  unit u;
  memset(&u, 0, sizeof u);
  u.blk = blk;
  u.sp = sp;
  u.a = a;
  u.b = b;
  u.tokens = tokens;
  u.heading = blk->kind == DQ_BLK_HEADING;
  if (c->slices) {
    cur->line += newlines(sp, cur->off, a);
    u.l1 = cur->line;
    cur->line += newlines(sp, a, b);
    cur->off = b;
    u.l2 = sp[b - 1] == '\n' ? cur->line - 1 : cur->line;
    u.src_a = dq_doc_src_off(c->d, a);
    u.src_b = dq_doc_src_off(c->d, b);
  } else {
    u.l1 = blk->line_first; u.l2 = blk->line_last; u.src_a = blk->src_start; u.src_b = blk->src_end;
  }
  return add_unit(c, &u);
}

/* The longest prefix of s[a..b) on a character boundary within the target
 * (at least one character). Galloping from the start, then bisecting: each
 * probe counts its prefix, so probes stay near the answer's length and a
 * megabyte without a space costs O(n log n), not a count of half of it
 * per probe for every piece. */
static size_t char_prefix(const ck *c, const char *s, size_t a, size_t b)
{
  size_t lo = a + dq_utf8_len((unsigned char)s[a]), hi = b;
  if (lo > b) lo = b;
  for (size_t step = 256; lo < hi && hi - lo > step; step *= 2) {
    size_t mid = lo + step;
    while (mid > lo && ((unsigned char)s[mid] & 0xC0) == 0x80) mid--; /* back to a boundary */
    if (mid <= lo) break;
    if (count(c, s + a, mid - a) > c->target) { hi = mid - 1; break; }
    lo = mid;
  }
  while (lo < hi) { /* invariant: [a, lo) fits or is one character; answer in [lo, hi] */
    size_t mid = lo + (hi - lo + 1) / 2;
    while (mid > lo && ((unsigned char)s[mid] & 0xC0) == 0x80) mid--; /* back to a boundary */
    if (mid <= lo) {
      mid = lo + dq_utf8_len((unsigned char)s[lo]);
      if (mid > hi) break;
      if (count(c, s + a, mid - a) <= c->target) lo = mid; else break;
      continue;
    }
    if (count(c, s + a, mid - a) <= c->target) lo = mid; else hi = mid - 1;
  }
  return lo;
}

/* A base64 (or base64url) character. */
static int b64_char(unsigned char ch)
{
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' ||
         ch == '=' || ch == '-' || ch == '_';
}

/* 1 for a run with no space of at least DQ_CHUNK_DATA_RUN bytes that is
 * nearly all base64 characters: encoded data (an image embedded as
 * "![x](data:image/png;base64,...)", a URL carrying its state), not words. */
static int encoded_run(const char *s, size_t n)
{
  if (n < DQ_CHUNK_DATA_RUN) return 0;
  size_t b64 = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch >= 0x80) return 0;
    b64 += b64_char(ch);
  }
  return b64 * 10 >= n * 9;
}

/* 1 when s[0..n) has a letter or digit (any non-ASCII byte counts). */
static int has_wordish(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch >= 0x80 || (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')) return 1;
  }
  return 0;
}

/* The first run of at least DQ_CHUNK_DATA_SUBRUN base64 (or base64url)
 * characters in s[a..b), as [*da, *db); 0 when there is none. */
static int data_subrun(const char *s, size_t a, size_t b, size_t *da, size_t *db)
{
  for (size_t i = a; i < b;) {
    size_t j = i;
    while (j < b && b64_char((unsigned char)s[j])) j++;
    if (j - i >= DQ_CHUNK_DATA_SUBRUN) { *da = i; *db = j; return 1; }
    i = j + 1;
  }
  return 0;
}

static int split(ck *c, const dq_block *blk, const char *sp, size_t a, size_t b, int level, cursor *cur)
{
  int rc = 0;
  if (level == LV_CHAR) {
    /* Markdown: encoded data in a link or image target is left to the gaps
     * (a 200 KB embedded photo was 311 chunks of base64 in search results);
     * plain text keeps every byte in some chunk */
    if (c->d->format == DQ_FMT_MARKDOWN && encoded_run(sp + a, b - a)) return 0;
    /* the same inside a "word" that holds more than the data, as
     * "示例](https://play.vuejs.org/#eNqN...)": a playground URL's state was
     * cut into chunks of base64, one of them a top search hit */
    size_t da, db;
    if (c->d->format == DQ_FMT_MARKDOWN && data_subrun(sp, a, b, &da, &db)) {
      if (da > a) rc = split(c, blk, sp, a, da, LV_CHAR, cur);
      /* what follows the data only when it has a word: the link's closing
       * ")" alone was a chunk of its own, and a neural embedder ranked it */
      if (!rc && db < b && has_wordish(sp + db, b - db)) rc = split(c, blk, sp, db, b, LV_CHAR, cur);
      return rc;
    }
    for (size_t i = a; i < b && rc == 0;) {
      size_t e = char_prefix(c, sp, i, b);
      rc = piece(c, blk, sp, i, e, count(c, sp + i, e - i), cur);
      i = e;
    }
    return rc;
  }
  int code = code_like(blk);
  for (size_t i = skip_ws(sp, a, b), next; i < b && rc == 0; i = next) {
    size_t e = seg_end(sp, i, b, level, &next);
    if (code) { /* whole lines, indentation kept */
      const char *nl = memchr(sp + i, '\n', b - i);
      e = trim_ws(sp, i, nl ? (size_t)(nl - sp) : b);
      next = nl ? (size_t)(nl - sp) + 1 : b;
      size_t ls = i;
      while (ls > a && (sp[ls - 1] == ' ' || sp[ls - 1] == '\t')) ls--;
      i = ls;
      if (e <= i) continue;
    }
    if (e <= i) continue;
    size_t t = count(c, sp + i, e - i);
    if (t <= c->target || code) rc = piece(c, blk, sp, i, e, t, cur);
    else rc = split(c, blk, sp, i, e, level + 1, cur);
  }
  return rc;
}

static int has_visible(const char *s, size_t n)
{
  size_t k;
  for (size_t i = 0; i < n; i += k ? k : 1) if (!dq_is_space_at(s + i, n - i, &k)) return 1;
  return 0;
}

static int add_block(ck *c, const dq_block *blk)
{
  const char *sp;
  size_t a, b;
  if (c->slices) {
    sp = c->d->body;
    a = dq_doc_body_off(c->d, blk->src_start);
    b = dq_doc_body_off(c->d, blk->src_end);
  } else {
    sp = blk->text;
    a = 0;
    b = blk->text_len;
  }
  if (b <= a) return 0;
  /* markdown that reads as nothing (an HTML widget): left to the gaps, counted there */
  if (blk->clean_len == 0 || (c->d->format == DQ_FMT_MARKDOWN && !has_visible(blk->clean, blk->clean_len))) return 0;
  size_t t = count(c, sp + a, b - a);
  cursor cur = {a, blk->line_first};
  if (t <= c->target) { /* (a heading larger than the target is cut like a paragraph) */
    unit u;
    memset(&u, 0, sizeof u);
    u.blk = blk; u.sp = sp; u.a = a; u.b = b; u.tokens = t; u.whole = 1;
    u.heading = blk->kind == DQ_BLK_HEADING;
    u.l1 = blk->line_first; u.l2 = blk->line_last; u.src_a = blk->src_start; u.src_b = blk->src_end;
    return add_unit(c, &u);
  }
  return split(c, blk, sp, a, b, code_like(blk) ? LV_LINE : LV_SENTENCE, &cur);
}

static int front_matter(ck *c)
{
  const dq_doc *d = c->d;
  dq_buf *p = &c->prefix;
  if (d->title && d->title[0]) { dq_buf_puts(p, d->title); dq_buf_putc(p, '\n'); }
  for (size_t i = 0; i < d->n_aliases; i++) { dq_buf_puts(p, d->aliases[i]); dq_buf_putc(p, '\n'); }
  for (size_t i = 0; i < d->n_tags; i++) { dq_buf_puts(p, d->tags[i]); dq_buf_putc(p, i + 1 < d->n_tags ? ' ' : '\n'); }
  while (p->len && p->p[p->len - 1] == '\n') p->p[--p->len] = 0;
  return p->oom ? DOCQ_ENOMEM : 0;
}

void dq_chunks_free(dq_chunk *c, size_t n)
{
  if (!c) return;
  for (size_t i = 0; i < n; i++) {
    if (c[i].clean != c[i].text) dq_free(c[i].clean);
    dq_free(c[i].text);
    dq_free(c[i].section);
  }
  dq_free(c);
}

int dq_chunk_doc(const dq_doc *d, const dq_chunk_opts *o, dq_chunk **out, size_t *n_out)
{
  DQ_ASSERT_ARG(d && out && n_out);
  dq_chunk_opts defaults = {DQ_CHUNK_DEFAULT_TOKENS, DQ_CHUNK_DEFAULT_OVERLAP, NULL, NULL};
  ck c;
  int rc = 0;
  memset(&c, 0, sizeof c);
  c.d = d;
  c.o = o ? o : &defaults;
  c.target = c.o->target_tokens ? c.o->target_tokens : DQ_CHUNK_DEFAULT_TOKENS;
  c.overlap = c.o->overlap_tokens > c.target / 2 ? c.target / 2 : c.o->overlap_tokens;
  c.slices = d->format != DQ_FMT_HTML;
  *out = NULL;
  *n_out = 0;
  for (size_t i = 0; i < d->n_blocks && rc == 0; i++) {
    if (d->blocks[i].kind == DQ_BLK_FRONTMATTER) rc = front_matter(&c);
    else rc = add_block(&c, &d->blocks[i]);
  }
  if (rc == 0) rc = emit(&c);
  if (rc == 0 && c.prefix.oom) rc = DOCQ_ENOMEM;
  if (rc < 0) dq_chunks_free(c.out, c.nout);
  else { *out = c.out; *n_out = c.nout; }
  dq_free(c.u);
  dq_free(c.cand);
  dq_buf_free(&c.prefix);
  return rc;
}
