/* Snippets: the few lines of a hit a person reads in a result list (see
 * assemble.h, dq_snippet).
 *
 * A passage opens with its heading and, in documentation, often with a
 * link or a badge; what tells a reader whether the hit is the one they want
 * is the place where the query's words are. So the snippet starts at the
 * sentence holding most of the query's distinct content terms (dq_terms,
 * as the index sees them: "declare" finds "declared"), reads on from there,
 * and shows Markdown as rendered (dq_md_visible). */
#include "assemble/assemble.h"

#include <string.h>

#include "indexer/normalize.h"
#include "retrieve/stopwords.h"
#include "util/err.h"
#include "util/hash.h"
#include "util/mem.h"

#define MAX_QTERMS 32

typedef struct qset { uint64_t h[MAX_QTERMS]; size_t n; int content_only; } qset;

static int add_qterm(void *ctx, const char *t, size_t n, size_t a, size_t b)
{
  (void)a; (void)b;
  qset *q = ctx;
  if (q->content_only && dq_stopword(t, n)) return 0;
  uint64_t h = dq_hash_bytes(t, n);
  for (size_t i = 0; i < q->n; i++) if (q->h[i] == h) return 0;
  if (q->n == MAX_QTERMS) return 1;
  q->h[q->n++] = h;
  return 0;
}

typedef struct sent_hits { const qset *q; uint64_t seen; int count; } sent_hits;

static int count_hit(void *ctx, const char *t, size_t n, size_t a, size_t b)
{
  (void)a; (void)b;
  sent_hits *s = ctx;
  uint64_t h = dq_hash_bytes(t, n);
  for (size_t i = 0; i < s->q->n; i++)
    if (s->q->h[i] == h && !(s->seen >> i & 1)) { s->seen |= 1ull << i; s->count++; }
  return 0;
}

typedef struct best { const char *text; const qset *q; size_t start, first; int count; int any; } best;

static int on_sentence(void *ctx, size_t start, size_t end)
{
  best *b = ctx;
  if (b->text[start] == '#') return 0; /* a heading: the hit's section says it already */
  sent_hits sh = { b->q, 0, 0 };
  if (b->q->n && dq_terms(b->text + start, end - start, count_hit, &sh) < 0) return 1;
  if (!b->any) b->first = start;
  if (!b->any || sh.count > b->count) { b->start = start; b->count = sh.count; }
  b->any = 1;
  return 0;
}

int dq_snippet(const char *text, size_t n, int markdown, const char *query, size_t max, char **out)
{
  *out = NULL;
  char *vis = NULL;
  if (markdown) {
    if (!(vis = dq_malloc(n ? n : 1))) return DOCQ_ENOMEM;
    n = dq_md_visible(text, n, vis, NULL, 1);
    text = vis;
  }
  qset q = { .content_only = 1 };
  size_t ql = query ? strlen(query) : 0;
  if (ql && dq_terms(query, ql, add_qterm, &q) < 0) goto oom;
  if (ql && q.n == 0) { /* only function words: use them rather than nothing */
    q.content_only = 0;
    if (dq_terms(query, ql, add_qterm, &q) < 0) goto oom;
  }
  best b = { text, &q, 0, 0, 0, 0 };
  if (dq_sentences(text, n, on_sentence, &b) != 0) goto oom;
  dq_buf o = {0};
  if (b.start > b.first) dq_buf_puts(&o, "... "); /* text was skipped (headings aside) */
  const size_t lead = o.len;
  int space = 0;
  for (size_t i = b.start; i < n;) {
    unsigned char c = (unsigned char)text[i];
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') { space = 1; i++; continue; }
    size_t k = dq_utf8_len(c);
    if (k > n - i) k = n - i;
    if (o.len - lead + k + (space && o.len > lead) > max) { dq_buf_puts(&o, " ..."); break; }
    if (space && o.len > lead) dq_buf_putc(&o, ' ');
    space = 0;
    dq_buf_put(&o, text + i, k);
    i += k;
  }
  dq_free(vis);
  if (o.oom) { dq_buf_free(&o); return DOCQ_ENOMEM; }
  *out = o.len ? dq_buf_detach(&o) : dq_strdup("");
  return *out ? 0 : DOCQ_ENOMEM;
oom:
  dq_free(vis);
  return DOCQ_ENOMEM;
}
