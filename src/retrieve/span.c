/* Passages from picked chunks: neighbouring chunks of a document merged into
 * one span, near-duplicates from different files collapsed, document filters.
 *
 * Span text invariant: a chunk's first overlap_len bytes repeat the end of
 * the previous chunk (the chunker's overlap), so a span is the first chunk's
 * text followed by each next chunk's text without those bytes; no sentence
 * appears twice in a passage. Chunks without overlap (cut at a heading or a
 * paragraph) are joined by the white space their lines imply: a blank line
 * when lines lie between them, a line break when the next starts on the
 * following line, a space when on the same line, so "fruit." and "## Beans"
 * do not run together. */
#include "retrieve/retrieve.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "indexer/normalize.h"
#include "util/err.h"
#include "util/hash.h"
#include "util/mem.h"

void dq_hit_rec_clear(dq_hit_rec *h)
{
  if (!h) return;
  dq_free(h->path);
  dq_free(h->title);
  dq_free(h->section);
  dq_free(h->text);
  dq_free(h->also_in);
  dq_free(h->segs);
  memset(h, 0, sizeof *h);
}

void dq_hits_free(dq_hit_rec *h, size_t n)
{
  if (!h) return;
  for (size_t i = 0; i < n; i++) dq_hit_rec_clear(&h[i]);
  dq_free(h);
}

/* ---- span merging ---------------------------------------------------------- */

static int is_space_byte(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static int cmp_doc_ord(const void *a, const void *b)
{
  const dq_picked *x = a, *y = b;
  if (x->row.doc_id != y->row.doc_id) return x->row.doc_id < y->row.doc_id ? -1 : 1;
  return (x->row.ordinal > y->row.ordinal) - (x->row.ordinal < y->row.ordinal);
}

static int cmp_hit_rank(const void *a, const void *b)
{
  const dq_hit_rec *x = a, *y = b;
  return (x->rank > y->rank) - (x->rank < y->rank);
}

static int min_rank(int a, int b) { return !a ? b : !b ? a : a < b ? a : b; }

int dq_hit_line_at(const dq_hit_rec *h, size_t off, uint32_t *line)
{
  for (size_t i = 0; h && h->text && i < h->n_segs; i++) {
    const dq_span_seg *g = &h->segs[i];
    if (off < g->off || off - g->off >= g->len || g->off + g->len > h->text_len) continue;
    uint32_t l = g->line;
    for (const char *q = h->text + g->off, *e = h->text + off; (q = memchr(q, '\n', (size_t)(e - q))) != NULL; q++) l++;
    *line = l;
    return 0;
  }
  return -1;
}

/* Build the hit for the run p[0..m) (same document, consecutive ordinals). */
static int make_span(dq_picked *p, size_t m, dq_hit_rec *h)
{
  dq_buf text = {0};
  memset(h, 0, sizeof *h);
  if (!(h->segs = dq_calloc(m, sizeof *h->segs))) return DOCQ_ENOMEM;
  h->doc_id = p[0].row.doc_id;
  h->chunk_first = p[0].row.id;
  h->chunk_last = p[m - 1].row.id;
  h->ord_first = p[0].row.ordinal;
  h->ord_last = p[m - 1].row.ordinal;
  h->line_first = p[0].row.line_first;
  h->line_last = p[0].row.line_last;
  size_t best = 0;
  for (size_t i = 0; i < m; i++) {
    const dq_chunk_row *r = &p[i].row;
    const char *t = r->text ? r->text : "";
    size_t tl = strlen(t), skip = 0;
    if (i > 0) skip = r->overlap_len < tl ? r->overlap_len : tl;
    /* never start in the middle of a UTF-8 sequence (a corrupt overlap_len) */
    while (skip < tl && ((unsigned char)t[skip] & 0xC0) == 0x80) skip++;
    if (i > 0 && skip == 0 && text.len && tl && !is_space_byte(text.p[text.len - 1]) && !is_space_byte(t[0])) {
      uint32_t prev_last = p[i - 1].row.line_last;
      dq_buf_puts(&text, r->line_first > prev_last + 1 ? "\n\n" : r->line_first == prev_last + 1 ? "\n" : " ");
    }
    if (tl > skip) { /* this chunk's part: its first line, after the lines of the overlap skipped */
      dq_span_seg *g = &h->segs[h->n_segs++];
      g->off = text.len;
      g->len = tl - skip;
      g->line = r->line_first;
      for (size_t k = 0; k < skip; k++) g->line += t[k] == '\n';
    }
    dq_buf_put(&text, t + skip, tl - skip);
    if (r->line_first < h->line_first) h->line_first = r->line_first;
    if (r->line_last > h->line_last) h->line_last = r->line_last;
    if (p[i].rank < p[best].rank) best = i;
    h->bm25_rank = min_rank(h->bm25_rank, p[i].cand ? p[i].cand->bm25_rank : 0);
    h->vec_rank = min_rank(h->vec_rank, p[i].cand ? p[i].cand->vec_rank : 0);
  }
  if (text.oom) { dq_buf_free(&text); dq_hit_rec_clear(h); return DOCQ_ENOMEM; }
  h->text_len = text.len;
  h->text = dq_buf_detach(&text);
  if (!h->text) h->text = dq_strdup("");
  h->section = p[best].row.section ? dq_strdup(p[best].row.section) : dq_strdup("");
  h->also_in = dq_strdup("");
  if (!h->text || !h->section || !h->also_in) { dq_hit_rec_clear(h); return DOCQ_ENOMEM; }
  h->rank = p[best].rank;
  if (p[best].cand) {
    h->score = p[best].cand->score;
    h->bm25 = p[best].cand->bm25;
    h->vec = p[best].cand->vec;
  }
  return 0;
}

static uint64_t run_tokens(const dq_picked *p, size_t m)
{
  uint64_t t = 0;
  for (size_t i = 0; i < m; i++) t += p[i].row.n_tokens;
  return t;
}

/* Spans of the run p[0..m) (consecutive chunks of one document) whose chunk
 * token counts sum to at most cap: the best-ranked chunk, grown by whichever
 * neighbour ranks better while it fits, then the same on what is left on
 * either side. A chunk longer than cap is a span of its own. */
static int split_run(dq_picked *p, size_t m, uint64_t cap, dq_hit_rec *h, size_t *nh)
{
  while (m > 0) {
    if (run_tokens(p, m) <= cap) return make_span(p, m, &h[(*nh)++]);
    size_t best = 0;
    for (size_t i = 1; i < m; i++)
      if (p[i].rank < p[best].rank) best = i;
    size_t lo = best, hi = best + 1; /* the span is [lo, hi) */
    uint64_t sum = p[best].row.n_tokens;
    for (;;) {
      int left = lo > 0 && sum + p[lo - 1].row.n_tokens <= cap;
      int right = hi < m && sum + p[hi].row.n_tokens <= cap;
      if (left && right) { /* the better-ranked neighbour first */
        left = p[lo - 1].rank < p[hi].rank;
        right = !left;
      }
      if (left) sum += p[--lo].row.n_tokens;
      else if (right) sum += p[hi++].row.n_tokens;
      else break;
    }
    int rc = make_span(p + lo, hi - lo, &h[(*nh)++]);
    if (rc < 0) return rc;
    if ((rc = split_run(p + hi, m - hi, cap, h, nh)) < 0) return rc;
    m = lo; /* then the part before the span */
  }
  return 0;
}

int dq_spans_merge(dq_picked *p, size_t n, unsigned max_tokens, dq_hit_rec **out, size_t *n_out)
{
  *out = NULL;
  *n_out = 0;
  int rc = 0;
  dq_hit_rec *h = dq_calloc(n ? n : 1, sizeof *h);
  if (!h) return DOCQ_ENOMEM;
  if (n > 1) qsort(p, n, sizeof *p, cmp_doc_ord);
  size_t nh = 0;
  for (size_t i = 0; i < n; ) {
    size_t j = i + 1;
    while (j < n && p[j].row.doc_id == p[i].row.doc_id && p[j].row.ordinal == p[j - 1].row.ordinal + 1) j++;
    if (max_tokens) rc = split_run(p + i, j - i, max_tokens, h, &nh);
    else if ((rc = make_span(p + i, j - i, &h[nh])) == 0) nh++;
    if (rc < 0) goto done;
    i = j;
  }
  qsort(h, nh, sizeof *h, cmp_hit_rank);
done:
  if (rc < 0) { dq_hits_free(h, nh); return rc; }
  *out = h;
  *n_out = nh;
  return 0;
}

/* ---- near-duplicates ------------------------------------------------------------ */

typedef struct shingler {
  uint64_t last[2]; size_t nterms;
  uint64_t *set; size_t n, cap;
  int oom;
} shingler;

static void shingle_push(shingler *sh, uint64_t v)
{
  if (sh->n == sh->cap) {
    size_t nc = sh->cap ? sh->cap * 2 : 64;
    uint64_t *ns = dq_realloc(sh->set, nc * sizeof *ns);
    if (!ns) { sh->oom = 1; return; }
    sh->set = ns; sh->cap = nc;
  }
  sh->set[sh->n++] = v;
}

static int on_shingle_term(void *ctx, const char *t, size_t n, size_t s, size_t e)
{
  (void)s; (void)e;
  shingler *sh = ctx;
  uint64_t h = dq_hash_bytes(t, n);
  if (sh->nterms >= 2) shingle_push(sh, (sh->last[0] * 31 + sh->last[1]) * 0x9E3779B97F4A7C15ull ^ h);
  sh->last[0] = sh->last[1];
  sh->last[1] = h;
  sh->nterms++;
  return sh->oom;
}

static int on_plain_term(void *ctx, const char *t, size_t n, size_t s, size_t e)
{
  (void)s; (void)e;
  shingler *sh = ctx;
  shingle_push(sh, dq_hash_bytes(t, n));
  return sh->oom;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Sorted, unique shingle hashes of text (term set when < 3 terms). */
static int shingles(const char *s, size_t n, shingler *sh)
{
  memset(sh, 0, sizeof *sh);
  dq_terms(s, n, on_shingle_term, sh);
  if (!sh->oom && sh->nterms < 3) {
    sh->n = 0;
    dq_terms(s, n, on_plain_term, sh);
  }
  if (sh->oom) { dq_free(sh->set); sh->set = NULL; return DOCQ_ENOMEM; }
  if (sh->n > 1) qsort(sh->set, sh->n, sizeof *sh->set, cmp_u64); /* set is NULL for a text of no terms */
  size_t u = 0;
  for (size_t i = 0; i < sh->n; i++) if (!u || sh->set[u - 1] != sh->set[i]) sh->set[u++] = sh->set[i];
  sh->n = u;
  return 0;
}

static double jaccard_sorted(const shingler *a, const shingler *b)
{
  if (!a->n && !b->n) return 1.0;
  size_t i = 0, j = 0, inter = 0;
  while (i < a->n && j < b->n) {
    if (a->set[i] == b->set[j]) { inter++; i++; j++; }
    else if (a->set[i] < b->set[j]) i++;
    else j++;
  }
  return (double)inter / (double)(a->n + b->n - inter);
}

double dq_shingle_jaccard(const char *a, size_t na, const char *b, size_t nb)
{
  shingler x, y;
  double r = 0;
  if (shingles(a, na, &x)) return 0;
  if (shingles(b, nb, &y) == 0) { r = jaccard_sorted(&x, &y); dq_free(y.set); }
  dq_free(x.set);
  return r;
}

static int append_path(dq_hit_rec *keep, const char *path)
{
  dq_buf b = {0};
  dq_buf_puts(&b, keep->also_in ? keep->also_in : "");
  if (b.len) dq_buf_putc(&b, '\n');
  dq_buf_puts(&b, path ? path : "");
  if (b.oom) { dq_buf_free(&b); return DOCQ_ENOMEM; }
  dq_free(keep->also_in);
  keep->also_in = dq_buf_detach(&b);
  return 0;
}

struct dq_shingle_ent {
  int64_t doc_id, chunk_first, chunk_last;
  size_t text_len;
  shingler sh;
};

void dq_shingle_memo_free(dq_shingle_memo *m)
{
  if (!m) return;
  for (size_t i = 0; i < m->n; i++) dq_free(m->e[i].sh.set);
  dq_free(m->e);
  memset(m, 0, sizeof *m);
}

/* The shingles of hit h: from the memo when the same span was shingled
 * before, else computed (and kept in the memo when there is one; *own = 1
 * when the caller must free them). */
static int hit_shingles(const dq_hit_rec *h, dq_shingle_memo *memo, shingler *out, int *own)
{
  *own = 0;
  if (memo) {
    for (size_t i = 0; i < memo->n; i++) {
      const struct dq_shingle_ent *e = &memo->e[i];
      if (e->doc_id == h->doc_id && e->chunk_first == h->chunk_first && e->chunk_last == h->chunk_last &&
          e->text_len == h->text_len) {
        *out = e->sh;
        return 0;
      }
    }
  }
  int rc = shingles(h->text, h->text_len, out);
  if (rc < 0) return rc;
  if (memo) {
    if (memo->n == memo->cap) {
      size_t nc = memo->cap ? memo->cap * 2 : 32;
      struct dq_shingle_ent *ne = dq_realloc(memo->e, nc * sizeof *ne);
      if (!ne) { *own = 1; return 0; } /* not remembered: still usable */
      memo->e = ne;
      memo->cap = nc;
    }
    memo->e[memo->n++] = (struct dq_shingle_ent){ h->doc_id, h->chunk_first, h->chunk_last, h->text_len, *out };
  } else {
    *own = 1;
  }
  return 0;
}

int dq_hits_dedupe(dq_hit_rec *h, size_t *n, double threshold, dq_shingle_memo *memo)
{
  size_t m = *n;
  int rc = 0;
  if (m < 2 || threshold <= 0) return 0;
  shingler *sh = dq_calloc(m, sizeof *sh);
  char *gone = dq_calloc(m, 1), *own = dq_calloc(m, 1);
  if (!sh || !gone || !own) { rc = DOCQ_ENOMEM; goto done; }
  for (size_t i = 0; i < m; i++) {
    int o = 0;
    if ((rc = hit_shingles(&h[i], memo, &sh[i], &o)) < 0) goto done;
    own[i] = (char)o;
  }
  for (size_t j = 1; j < m; j++) {
    for (size_t i = 0; i < j; i++) {
      if (gone[i] || h[i].doc_id == h[j].doc_id) continue;
      int same = h[i].text_len == h[j].text_len && memcmp(h[i].text, h[j].text, h[j].text_len) == 0;
      if (!same && jaccard_sorted(&sh[i], &sh[j]) <= threshold) continue;
      if ((rc = append_path(&h[i], h[j].path)) < 0) goto done;
      /* keep what was collapsed into j as well */
      if (h[j].also_in && h[j].also_in[0] && (rc = append_path(&h[i], h[j].also_in)) < 0) goto done;
      gone[j] = 1;
      break;
    }
  }
  size_t k = 0;
  for (size_t i = 0; i < m; i++) {
    if (gone[i]) { dq_hit_rec_clear(&h[i]); continue; }
    if (k != i) { h[k] = h[i]; memset(&h[i], 0, sizeof h[i]); }
    k++;
  }
  *n = k;
done:
  if (sh && own) for (size_t i = 0; i < m; i++) if (own[i]) dq_free(sh[i].set);
  dq_free(sh);
  dq_free(gone);
  dq_free(own);
  return rc;
}

/* ---- filters ------------------------------------------------------------------------ */

int dq_filter_active(const dq_filter *f)
{
  return f && ((f->prefix && *f->prefix) || (f->glob && *f->glob) || (f->tag && *f->tag) || f->after || f->before);
}

static int has_tag(const char *tags, const char *tag)
{
  size_t tl = strlen(tag);
  if (tag[0] == '#') { tag++; tl--; }
  for (const char *p = tags; p && *p; ) {
    while (*p == ' ' || *p == ',') p++;
    const char *e = p;
    while (*e && *e != ',') e++;
    const char *q = e;
    while (q > p && q[-1] == ' ') q--;
    if ((size_t)(q - p) == tl && strncasecmp(p, tag, tl) == 0) return 1;
    p = e;
  }
  return 0;
}

/* path is dir or lies under it */
static int under_dir(const char *path, const char *dir)
{
  size_t n = strlen(dir);
  if (n && dir[n - 1] == '/') n--; /* "/" */
  return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* A pattern that starts with neither '/' nor '*' is relative: it matches at
 * any folder of the path ("notes/a*.md" finds /home/u/notes/ab.md), as paths
 * are stored absolute. '*' crosses '/' (no FNM_PATHNAME). */
static int glob_match(const char *glob, const char *path)
{
  if (fnmatch(glob, path, 0) == 0) return 1;
  if (glob[0] == '/' || glob[0] == '*') return 0;
  for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/'))
    if (fnmatch(glob, p + 1, 0) == 0) return 1;
  return 0;
}

int dq_filter_match(const dq_filter *f, const dq_doc_row *d)
{
  if (!f) return 1;
  const char *path = d->path ? d->path : "";
  if (f->prefix && *f->prefix && strncmp(path, f->prefix, strlen(f->prefix)) != 0 &&
      !(f->prefix_dir && under_dir(path, f->prefix_dir)))
    return 0;
  if (f->glob && *f->glob && !glob_match(f->glob, path)) return 0;
  if (f->tag && *f->tag && !has_tag(d->tags, f->tag)) return 0;
  if (f->after || f->before) {
    if (!d->date) return 0; /* undated documents cannot satisfy a date range */
    if (f->after && d->date < f->after) return 0;
    if (f->before && d->date >= f->before) return 0;
  }
  return 1;
}
