/* Packing retrieved passages into a prompt under a token budget (see
 * assemble.h).
 *
 * Prompt layout (the question comes first so the model reads the passages
 * knowing what to look for, and again last because the end of a long context
 * is what models attend to best):
 *
 *   Answer the question using only the numbered passages below; cite them as [n].
 *
 *   Question: <question>
 *
 *   [1] <title> — <path>:<first>-<last>
 *   <passage text>
 *
 *   [3] ...
 *
 *   Question: <question>
 *   Answer:
 *
 * For dq_token_estimate the pieces' costs add up to at least the whole's
 * (pieces end in white space, which the estimate never counts across; a word
 * at the start of a piece is charged as if no space stood before it, the
 * dearer case; and each piece is rounded up on its own); a model
 * tokenizer may merge across pieces, so the assembled prompt is counted once
 * more and the lowest-ranked passage dropped until it fits. */
#include "assemble/assemble.h"

#include <stdio.h>
#include <string.h>

#include "indexer/normalize.h"
#include "util/err.h"
#include "util/mem.h"

#define INTRO "Answer the question using only the numbered passages below; cite them as [n].\n\n"

static size_t count(const dq_pack_opts *o, const char *s, size_t n)
{
  return o->count ? o->count(o->count_ctx, s, n) : dq_token_estimate(s, n);
}

static void trim(const char **s, size_t *n)
{
  while (*n && (**s == ' ' || **s == '\n' || **s == '\r' || **s == '\t')) { (*s)++; (*n)--; }
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\n' || (*s)[*n - 1] == '\r' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* 1 when the passage's first line is the title (a document's opening
 * heading, "# Title" in Markdown): the header need not repeat it. */
static int starts_with_title(const char *t, size_t n, const char *title)
{
  size_t k = 0, tl = strlen(title);
  while (k < n && t[k] == '#') k++;
  while (k < n && t[k] == ' ') k++;
  if (n - k < tl || memcmp(t + k, title, tl) != 0) return 0;
  k += tl;
  while (k < n && (t[k] == ' ' || t[k] == '\t' || t[k] == '\r')) k++;
  return k == n || t[k] == '\n';
}

/* Runs of blank lines (white space only) in t[0..n) squeezed in place into
 * one empty line: removed HTML tags leave their lines empty ("<div
 * class=...>" around every example of the Vue docs). Returns the length. */
static size_t squeeze_blank_lines(char *t, size_t n)
{
  size_t o = 0, blank = 0;
  for (size_t i = 0; i < n;) {
    const char *nl = memchr(t + i, '\n', n - i);
    const size_t end = nl ? (size_t)(nl - t) + 1 : n;
    size_t k = i;
    while (k < end && (t[k] == ' ' || t[k] == '\t' || t[k] == '\r' || t[k] == '\n')) k++;
    if (k == end) { blank++; i = end; continue; }
    if (blank && o) t[o++] = '\n';
    blank = 0;
    memmove(t + o, t + i, end - i);
    o += end - i;
    i = end;
  }
  return o;
}

/* Append "[label] title — path:a-b\ntext\n\n" ("[label] path:a-b" when the
 * text opens with the title: budget goes to passages, not repeats). */
static void put_passage(dq_buf *b, int label, const dq_pack_item *it)
{
  const char *t = it->text ? it->text : "";
  size_t n = it->text ? it->text_len : 0;
  trim(&t, &n);
  dq_buf_printf(b, "[%d] ", label);
  if (it->title && *it->title && !starts_with_title(t, n, it->title))
    dq_buf_printf(b, "%s \xE2\x80\x94 ", it->title);
  dq_buf_printf(b, "%s:%u-%u\n", it->path ? it->path : "", it->line_first, it->line_last);
  dq_buf_put(b, t, n);
  dq_buf_puts(b, "\n\n");
}

/* The items as they go into the prompt, rendered once: Markdown as a reader
 * sees it (dq_md_visible, short absolute URLs kept): a model needs no
 * relative link targets, HTML tags or 2 KB playground URLs, and the budget
 * goes to text (over the chunks of the shared Vue docs, 17.6% fewer
 * estimated tokens). *view is items itself when none is Markdown; else a
 * copy whose rendered texts are in *texts (both freed by the caller). */
static int render_items(const dq_pack_item *items, size_t n, const dq_pack_item **view, dq_pack_item **copy,
                        char ***texts)
{
  *view = items;
  *copy = NULL;
  *texts = NULL;
  size_t md = 0;
  for (size_t i = 0; i < n; i++) md += items[i].markdown && items[i].text && items[i].text_len;
  if (!md) return 0;
  if (!(*copy = dq_malloc(n * sizeof **copy)) || !(*texts = dq_calloc(n, sizeof **texts))) return DOCQ_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    (*copy)[i] = items[i];
    if (!items[i].markdown || !items[i].text || !items[i].text_len) continue;
    char *t = dq_malloc(items[i].text_len);
    if (!t) return DOCQ_ENOMEM;
    (*texts)[i] = t;
    (*copy)[i].text = t;
    (*copy)[i].text_len = squeeze_blank_lines(t, dq_md_visible(items[i].text, items[i].text_len, t, NULL, 1));
    (*copy)[i].markdown = 0;
  }
  *view = *copy;
  return 0;
}

static void put_question(dq_buf *b, const char *q, int last)
{
  dq_buf_printf(b, "Question: %s\n", q);
  dq_buf_puts(b, last ? "Answer:" : "\n");
}

void dq_packed_free(dq_packed *p)
{
  if (!p) return;
  dq_free(p->item);
  dq_free(p->pos);
  dq_free(p->tokens);
  dq_free(p->prompt);
  memset(p, 0, sizeof *p);
}

/* Assemble the prompt from the first p->n packed passages. */
static int build(const char *question, const dq_pack_item *items, int intro, const dq_pack_opts *o, dq_packed *p)
{
  dq_buf b = {0};
  size_t *perm = dq_malloc((p->n ? p->n : 1) * sizeof *perm);
  dq_pack_item *sub = dq_malloc((p->n ? p->n : 1) * sizeof *sub);
  int rc = 0;
  if (!perm || !sub) { rc = DOCQ_ENOMEM; goto done; }
  for (size_t j = 0; j < p->n; j++) sub[j] = items[p->item[j]];
  if (o->order == DQ_ORDER_DOCUMENT) {
    if ((rc = dq_order_document(sub, p->item, p->n, perm)) < 0) goto done;
  } else if (o->order == DQ_ORDER_RELEVANCE) {
    dq_order_relevance(p->n, perm);
  } else {
    dq_order_edges(p->n, perm);
  }
  if (intro) dq_buf_puts(&b, INTRO);
  put_question(&b, question, 0);
  for (size_t pos = 0; pos < p->n; pos++) {
    size_t j = perm[pos];
    p->pos[j] = pos;
    put_passage(&b, (int)j + 1, &sub[j]);
  }
  put_question(&b, question, 1);
  if (b.oom) { rc = DOCQ_ENOMEM; goto done; }
  dq_free(p->prompt);
  p->prompt_tokens = (unsigned)count(o, b.p, b.len);
  p->prompt = dq_buf_detach(&b);
  if (!p->prompt) rc = DOCQ_ENOMEM;
done:
  dq_buf_free(&b);
  dq_free(perm);
  dq_free(sub);
  return rc;
}

int dq_pack(const char *question, const dq_pack_item *items, size_t n_items, const dq_pack_opts *o,
            dq_packed *out)
{
  memset(out, 0, sizeof *out);
  unsigned budget = o->budget ? o->budget : 2048;
  int rc = 0;
  dq_buf b = {0};
  dq_pack_item *copy = NULL;
  char **texts = NULL;
  size_t cap = n_items ? n_items : 1;
  if ((rc = render_items(items, n_items, &items, &copy, &texts)) < 0) goto done;
  if (!(out->item = dq_calloc(cap, sizeof *out->item)) || !(out->pos = dq_calloc(cap, sizeof *out->pos)) ||
      !(out->tokens = dq_calloc(cap, sizeof *out->tokens))) { rc = DOCQ_ENOMEM; goto done; }

  /* Fixed cost: intro and the question twice (the intro goes first when short of room). */
  dq_buf_puts(&b, INTRO);
  put_question(&b, question, 0);
  put_question(&b, question, 1);
  if (b.oom) { rc = DOCQ_ENOMEM; goto done; }
  size_t fixed = count(o, b.p, b.len);
  int intro = 1;
  if (fixed > budget) {
    intro = 0;
    fixed = count(o, b.p + strlen(INTRO), b.len - strlen(INTRO));
  }
  size_t room = fixed <= budget ? budget - fixed : 0;

  for (size_t i = 0; i < n_items; i++) {
    b.len = 0;
    put_passage(&b, (int)out->n + 1, &items[i]);
    if (b.oom) { rc = DOCQ_ENOMEM; goto done; }
    size_t cost = count(o, b.p, b.len);
    if (cost <= room) {
      out->item[out->n] = i;
      out->tokens[out->n] = (unsigned)cost;
      out->n++;
      room -= cost;
    } else {
      out->left_out++;
      if (!out->best_left_rank) out->best_left_rank = (int)i + 1;
    }
  }
  for (;;) {
    if ((rc = build(question, items, intro, o, out)) < 0) goto done;
    if (out->prompt_tokens <= budget || out->n == 0) break;
    /* a tokenizer merged across pieces: give up the lowest-ranked passage */
    out->n--;
    out->left_out++;
    int r = (int)out->item[out->n] + 1;
    if (!out->best_left_rank || r < out->best_left_rank) out->best_left_rank = r;
  }
done:
  dq_buf_free(&b);
  for (size_t i = 0; texts && i < n_items; i++) dq_free(texts[i]);
  dq_free(texts);
  dq_free(copy);
  if (rc < 0) dq_packed_free(out);
  return rc;
}
