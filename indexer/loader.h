/* Loading documents: bytes of a file (or memory) -> dq_doc, a list of blocks
 * with their position in the source. Loaders do not normalize: block text is
 * kept as written (after UTF-8 repair) for citations; `clean` is what the
 * index should see before normalization (wikilinks read as their text,
 * callout markers and markup removed).
 *
 * Formats: text (.txt and unknown extensions holding valid UTF-8),
 * markdown (.md, .markdown), html (.html, .htm). */
#ifndef DQ_INDEXER_LOADER_H
#define DQ_INDEXER_LOADER_H

#include <stddef.h>
#include <stdint.h>

typedef enum dq_format { DQ_FMT_TEXT = 0, DQ_FMT_MARKDOWN = 1, DQ_FMT_HTML = 2 } dq_format;

typedef enum dq_block_kind {
  DQ_BLK_PARA = 0,        /* a paragraph (or list item, quote, callout) */
  DQ_BLK_HEADING = 1,     /* a heading; `level` 1..6 */
  DQ_BLK_CODE = 2,        /* fenced/indented code or <pre>: never split inside a line */
  DQ_BLK_MATH = 3,        /* $$ display math $$: kept verbatim */
  DQ_BLK_FRONTMATTER = 4, /* YAML front matter: not indexed as text, but its title is */
  DQ_BLK_TABLE = 5
} dq_block_kind;

typedef struct dq_block {
  dq_block_kind kind;
  int level;                    /* heading level, else 0 */
  size_t src_start, src_end;    /* byte range in the original file */
  uint32_t line_first, line_last; /* 1-based lines in the original file */
  char *text;  size_t text_len;   /* as written (repaired UTF-8); for HTML the extracted text */
  char *clean; size_t clean_len;  /* what the index sees before normalization */
  char *section;                  /* heading path of the block, "H1 > H2", "" at top */
} dq_block;

typedef struct dq_doc {
  dq_format format;
  char *title;         /* front matter title, <title>/first heading, else file name */
  char **tags;   size_t n_tags;     /* front-matter tags (without '#') */
  char **aliases; size_t n_aliases;
  char *date;          /* front-matter date as written (YYYY-MM-DD...), or NULL */
  dq_block *blocks; size_t n_blocks;
  size_t n_repaired;   /* invalid UTF-8 sequences replaced with U+FFFD */
  size_t src_len;      /* bytes of the original */
} dq_doc;

typedef struct dq_load_opts {
  uint64_t max_bytes;  /* larger files -> DOCQ_EUNSUPPORTED "too large"; 0 = 64 MiB */
} dq_load_opts;

/* Detect the format from the file name (extension); text otherwise. */
dq_format dq_format_from_path(const char *path);

/* 1 when the bytes look binary (NUL bytes or a high share of control bytes
 * in the first 8 KiB, not valid-ish UTF-8 text). */
int dq_looks_binary(const char *data, size_t n);

/* Read and parse a file. Errors (message names the file and the reason, one
 * line): DOCQ_ENOTFOUND (missing, broken link), DOCQ_EIO (unreadable),
 * DOCQ_EUNSUPPORTED (binary, too large, not a regular file). */
int dq_load_file(const char *path, const dq_load_opts *o, dq_doc **out);

/* Parse bytes in memory. `name` (may be NULL) is used for the default title. */
int dq_load_buffer(const char *name, const char *data, size_t n, dq_format fmt, dq_doc **out);

void dq_doc_free(dq_doc *d);

#endif
