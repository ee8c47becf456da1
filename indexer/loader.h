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
  char *clean; size_t clean_len;  /* what the index sees before normalization (may be the
                                   * same pointer as `text`; both freed by dq_doc_free) */
  char *section;                  /* heading path of the block, "H1 > H2", "" at top */
} dq_block;

typedef struct dq_doc {
  dq_format format;
  char *title;         /* front matter title, <title>/first heading, else file name */
  char **tags;   size_t n_tags;     /* front-matter tags (without '#') */
  char **aliases; size_t n_aliases;
  char *date;          /* front-matter date as written (YYYY-MM-DD...), or NULL */
  dq_block *blocks; size_t n_blocks;
  size_t n_repaired;   /* invalid UTF-8 sequences (and NUL bytes) replaced with U+FFFD */
  size_t src_len;      /* bytes of the original */
  /* The whole file after UTF-8 repair, NUL-terminated (for HTML the repaired
   * markup). Chunks of text and Markdown documents are slices of it. Block
   * and chunk offsets are in original-file bytes; when repairs changed
   * lengths, dq_doc_body_off()/dq_doc_src_off() convert. */
  char *body; size_t body_len;
  struct dq_fix *fix; size_t n_fix; /* repair sites, sorted (empty when nothing was repaired) */
  struct dq_arena *arena;           /* owns every string of the blocks */
} dq_doc;

/* After each repair site: the offset just past the U+FFFD in `body` and the
 * offset just past the invalid bytes it replaced in the original file. */
typedef struct dq_fix { size_t body, src; } dq_fix;

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

/* Bytes already read from `path` (the indexer reads once to hash them): the
 * same checks and parsing as dq_load_file after its read (binary -> skipped,
 * unknown extension and not UTF-8 -> skipped, format from the extension).
 * The size limit is the caller's. `data` is not kept. */
int dq_load_file_bytes(const char *path, const char *data, size_t n, dq_doc **out);

/* Parse bytes in memory. `name` (may be NULL) is used for the default title. */
int dq_load_buffer(const char *name, const char *data, size_t n, dq_format fmt, dq_doc **out);

void dq_doc_free(dq_doc *d);

/* Offset conversions between the repaired body and the original file. Both
 * are monotonic; offsets on character boundaries map exactly both ways. */
size_t dq_doc_src_off(const dq_doc *d, size_t body_off);
size_t dq_doc_body_off(const dq_doc *d, size_t src_off);

/* ---- for the format loaders and the chunker only (indexer/) --------------- */

/* Copy s[0..n) into the document's arena, NUL-terminated; NULL on ENOMEM. */
char *dq_doc_strndup(dq_doc *d, const char *s, size_t n);
/* Append a block. Offsets are BODY offsets here (dq_load_buffer converts them
 * to source offsets at the end); strings are copied; clean == text (same
 * pointer and length) stores one copy. */
int dq_doc_add_block(dq_doc *d, dq_block_kind kind, int level, size_t bstart, size_t bend,
                     uint32_t line_first, uint32_t line_last, const char *text, size_t text_len,
                     const char *clean, size_t clean_len, const char *section);
/* The level (1 book/part, 2 chapter) of s[0..n), a line without its white
 * space, when load_txt takes it for a plain-text book's chapter heading
 * ("第五十二回 ...", "CHAPTER 1. Loomings."), else 0. The English form
 * counts only as a paragraph of its own; the caller checks that. */
int dq_txt_heading(const char *s, size_t n);
/* Parse d->body into blocks (the format loaders). */
int dq_load_txt(dq_doc *d);
int dq_load_md(dq_doc *d);
int dq_load_html(dq_doc *d);
/* Markdown source fragment -> the text the index sees: line markers
 * (#, >, list bullets, [!callout], :::) dropped, [[target|alias]] -> alias,
 * [text](url) -> text, emphasis/code marks and HTML tags removed; a code
 * span's text kept as written ("`<script setup>`" -> "<script setup>"). *out is
 * NUL-terminated, freed with dq_free. Used for blocks and for the pieces the
 * chunker cuts from a long block. */
int dq_md_clean(const char *s, size_t n, char **out, size_t *out_n);
/* End of the Markdown code span opening with the backtick run at s[i]: one
 * past the closing run of the same length, 0 when there is none (then the
 * run is literal backticks). A run of more than 32 backticks opens none. */
size_t dq_md_code_end(const char *s, size_t n, size_t i);
/* A heading or title longer than this many bytes is cut (at a space when one
 * is in its second half, else at a character boundary) and ends in "…" where
 * it names a section or a document: every chunk under a heading stores the
 * heading path, and the full-text index's head column repeats it, so an
 * uncut 800 KB heading line made a 600 MB index. The heading's own block
 * keeps all of its text. */
#define DQ_LABEL_MAX 256
/* Append s[0..n) (valid UTF-8) to b, cut to DQ_LABEL_MAX as above. */
struct dq_buf;
void dq_label_put(struct dq_buf *b, const char *s, size_t n);
/* Code point -> UTF-8 at o (up to 4 bytes); NUL, surrogates and values past
 * U+10FFFF give U+FFFD. Returns the bytes written. */
size_t dq_utf8_put(char *o, unsigned cp);
/* 1 for ASCII whitespace and U+3000/U+00A0 at s (sets *k to its byte length). */
int dq_is_space_at(const char *s, size_t n, size_t *k);

#endif
