/* Fuzz target: packing and the extractive answerer on arbitrary questions
 * and passages, as docq_ask runs them. Input: byte 0 picks the budget and
 * the order; the rest is split at 0x01 bytes into the question (raw bytes,
 * as a caller may pass them) and up to 8 passages (repaired to UTF-8, as the
 * store holds them; a passage's first line is its title). Checks (abort on
 * failure):
 *  - packing: never over the budget, the count of what was left out adds up,
 *    labels follow rank, every packed passage's label is in the prompt;
 *  - answering: the answer is valid UTF-8 (it is made of passage sentences),
 *    empty when not found, and every [n] it cites is a passage it flags as
 *    cited; the score is finite and not negative;
 *  - snippets (dq_snippet) of every passage: valid UTF-8 within their limit. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assemble/assemble.h"
#include "embed/embed.h"
#include "indexer/normalize.h"
#include "util/mem.h"

#define MAX_INPUT (32u << 10)
#define MAX_PASSAGES 8

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static dq_embedder *g_emb;

static void free_embedder(void) { dq_embedder_free(g_emb); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > MAX_INPUT) return 0;
  if (!g_emb) {
    if (dq_embedder_builtin(&g_emb) != 0) abort();
    atexit(free_embedder);
  }
  const unsigned budget = 64u + (data[0] & 0x1F) * 64u; /* 64..2048 */
  const int order = (data[0] >> 5) % 3;
  const char *p = (const char *)data + 1, *end = (const char *)data + size;
  /* question, then passages */
  const char *seg[MAX_PASSAGES + 1];
  size_t seg_len[MAX_PASSAGES + 1], n_seg = 0;
  while (n_seg < MAX_PASSAGES + 1) {
    const char *q = memchr(p, 0x01, (size_t)(end - p));
    seg[n_seg] = p;
    seg_len[n_seg] = (size_t)((q ? q : end) - p);
    n_seg++;
    if (!q) break;
    p = q + 1;
  }
  char *question = malloc(seg_len[0] + 1);
  if (!question) return 0;
  memcpy(question, seg[0], seg_len[0]);
  question[seg_len[0]] = 0; /* a NUL inside ends the question, as for a C string */

  dq_pack_item items[MAX_PASSAGES];
  char *texts[MAX_PASSAGES] = {0}, *titles[MAX_PASSAGES] = {0};
  size_t n = 0;
  for (size_t i = 1; i < n_seg; i++) {
    size_t tl;
    if (dq_utf8_repair(seg[i], seg_len[i], &texts[n], &tl, NULL) != 0) goto done;
    if (strlen(texts[n]) != tl) { free(texts[n]); texts[n] = NULL; continue; } /* the store holds no NULs */
    const char *nl = memchr(texts[n], '\n', tl);
    size_t title_len = nl ? (size_t)(nl - texts[n]) : tl;
    titles[n] = malloc(title_len + 1);
    if (!titles[n]) goto done;
    memcpy(titles[n], texts[n], title_len);
    titles[n][title_len] = 0;
    items[n] = (dq_pack_item){ titles[n], "fuzz.md", texts[n], tl, 1, 1, !(data[0] & 0x80) || (n & 1) };
    n++;
  }

  dq_pack_opts po = { budget, order, NULL, NULL };
  dq_packed pk;
  memset(&pk, 0, sizeof pk);
  if (dq_pack(question, items, n, &po, &pk) == 0) {
    CHECK(pk.n <= n && pk.n + pk.left_out == n);
    CHECK(pk.prompt_tokens <= budget || pk.n == 0);
    CHECK(pk.prompt && dq_token_estimate(pk.prompt, strlen(pk.prompt)) <= pk.prompt_tokens);
    for (size_t j = 0; j < pk.n; j++) {
      CHECK(pk.item[j] < n && pk.pos[j] < pk.n);
      if (j) CHECK(pk.item[j] > pk.item[j - 1]); /* labels follow rank */
      char label[32];
      snprintf(label, sizeof label, "[%zu] ", j + 1);
      CHECK(strstr(pk.prompt, label));
    }
    if (pk.left_out) CHECK(pk.best_left_rank >= 1 && (size_t)pk.best_left_rank <= n);
    dq_packed_free(&pk);
  }

  dq_extract_opts eo = { g_emb, 3, -1.0 };
  char *answer = NULL;
  int found = -1, cited[MAX_PASSAGES];
  double score = -1;
  dq_quote_range quoted[MAX_PASSAGES];
  if (dq_extract_ex(question, items, n, &eo, &answer, &found, cited, &score, quoted) == 0) {
    /* the bytes quoted: within a cited passage's text, none for the others */
    for (size_t j = 0; j < n; j++) {
      if (cited[j]) CHECK(quoted[j].start < quoted[j].end && quoted[j].end <= items[j].text_len);
      else CHECK(quoted[j].start == 0 && quoted[j].end == 0);
    }
    CHECK(answer && (found == 0 || found == 1));
    CHECK(dq_utf8_valid(answer, strlen(answer)));
    CHECK(isfinite(score) && score >= 0);
    if (!found) CHECK(answer[0] == 0);
    /* cited: each passage's order of first citation, 1..n_cited once each,
     * and its " [k]" marker is in the answer */
    size_t n_cited = 0, seen[MAX_PASSAGES + 1] = {0};
    for (size_t j = 0; j < n; j++) {
      CHECK(cited[j] >= 0 && (size_t)cited[j] <= n);
      if (!cited[j]) continue;
      n_cited++;
      CHECK(!seen[cited[j]]++);
      char mark[32];
      snprintf(mark, sizeof mark, " [%zu]", j + 1);
      CHECK(strstr(answer, mark));
    }
    for (size_t r = 1; r <= n_cited; r++) CHECK(seen[r] == 1);
    if (found) CHECK(n_cited >= 1);
  }
  free(answer);

  /* snippets of each passage for the question, as Markdown and as text:
   * valid UTF-8, within the limit (plus the "... " and " ..." marks) */
  for (size_t j = 0; j < n; j++)
    for (int md = 0; md < 2; md++) {
      const size_t max = 16 + (data[0] & 0x3F) * 4;
      char *sn = NULL;
      if (dq_snippet(texts[j], items[j].text_len, md, question, max, &sn) != 0) continue;
      CHECK(sn && dq_utf8_valid(sn, strlen(sn)) && strlen(sn) <= max + 8);
      dq_free(sn);
    }
done:
  for (size_t i = 0; i < MAX_PASSAGES; i++) { free(texts[i]); free(titles[i]); }
  free(question);
  return 0;
}
