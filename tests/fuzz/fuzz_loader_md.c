/* Fuzz target: Markdown loader, then the chunker on what it produced.
 * Checks (abort on failure): blocks lie inside the input, in order, with
 * `text` equal to the input bytes when nothing was repaired, valid UTF-8
 * everywhere, lines within the file; chunks are valid UTF-8 slices. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/chunk.h"
#include "indexer/normalize.h"

#define MAX_INPUT (256u << 10) /* keeps each run fast; structure bugs show up small */

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > MAX_INPUT) return 0;
  dq_doc *d = NULL;
  if (dq_load_buffer("fuzz.md", (const char *)data, size, DQ_FMT_MARKDOWN, &d) != 0) return 0;
  uint32_t lines = 1;
  for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
  size_t prev_end = 0;
  for (size_t i = 0; i < d->n_blocks; i++) {
    const dq_block *b = &d->blocks[i];
    CHECK(b->src_start <= b->src_end && b->src_end <= size && b->src_start >= prev_end);
    CHECK(b->line_first >= 1 && b->line_first <= b->line_last && b->line_last <= lines);
    CHECK(dq_utf8_valid(b->text, b->text_len) && dq_utf8_valid(b->clean, b->clean_len));
    CHECK(strlen(b->clean) == b->clean_len && b->section);
    if (!d->n_repaired) CHECK(b->text_len == b->src_end - b->src_start && !memcmp(data + b->src_start, b->text, b->text_len));
    prev_end = b->src_end;
  }
  dq_chunk_opts o = {size ? 4u + data[0] % 60 : 16u, size > 1 ? data[1] % 8u : 0u, NULL, NULL};
  dq_chunk *c = NULL;
  size_t n = 0;
  if (dq_chunk_doc(d, &o, &c, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      CHECK(c[i].src_start <= c[i].src_end && c[i].src_end <= size);
      CHECK(dq_utf8_valid(c[i].text, c[i].text_len) && dq_utf8_valid(c[i].clean, c[i].clean_len));
      CHECK(c[i].overlap_len < c[i].text_len);
      if (!d->n_repaired) CHECK(!memcmp(data + c[i].src_start, c[i].text, c[i].text_len));
    }
    dq_chunks_free(c, n);
  }
  dq_doc_free(d);
  return 0;
}
