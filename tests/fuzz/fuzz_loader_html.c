/* Fuzz target: HTML loader, then the chunker. Checks (abort on failure):
 * element ranges inside the input and in order, lines within the file,
 * extracted text valid UTF-8 and NUL-free, chunks valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/chunk.h"
#include "indexer/normalize.h"

#define MAX_INPUT (256u << 10)

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > MAX_INPUT) return 0;
  dq_doc *d = NULL;
  if (dq_load_buffer("fuzz.html", (const char *)data, size, DQ_FMT_HTML, &d) != 0) return 0;
  uint32_t lines = 1;
  for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
  size_t prev_start = 0;
  for (size_t i = 0; i < d->n_blocks; i++) {
    const dq_block *b = &d->blocks[i];
    CHECK(b->src_start <= b->src_end && b->src_end <= size && b->src_start >= prev_start);
    CHECK(b->line_first >= 1 && b->line_first <= b->line_last && b->line_last <= lines);
    CHECK(dq_utf8_valid(b->text, b->text_len) && b->text_len > 0);
    CHECK(strlen(b->text) == b->text_len); /* &#0; and friends never make a NUL */
    prev_start = b->src_start;
  }
  CHECK(d->title && dq_utf8_valid(d->title, strlen(d->title)));
  dq_chunk_opts o = {size ? 4u + data[0] % 60 : 16u, size > 1 ? data[1] % 8u : 0u, NULL, NULL};
  dq_chunk *c = NULL;
  size_t n = 0;
  if (dq_chunk_doc(d, &o, &c, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      CHECK(c[i].src_start <= c[i].src_end && c[i].src_end <= size);
      CHECK(dq_utf8_valid(c[i].text, c[i].text_len) && c[i].overlap_len < c[i].text_len);
    }
    dq_chunks_free(c, n);
  }
  dq_doc_free(d);
  return 0;
}
