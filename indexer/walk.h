/* Walking folders for indexing (contract written by the lead; implemented in
 * walk.c).
 *
 * Recursively lists regular files under the given roots (a root may also be
 * a single file), in sorted (byte-wise) order per folder, skipping: `.git`,
 * hidden files and folders (name starting with '.'), `node_modules`, and
 * paths matched by `.docqignore` files (gitignore syntax; a .docqignore
 * applies to its folder's subtree; files above the root are not read), and
 * docq index folders (holding docq.sqlite; reported through `skip`). A
 * single file given as the root is reported even if hidden. Symlinked files
 * are followed; symlinked folders are not (no loops). Broken links and unreadable folders/files are
 * reported through `skip` with a one-line reason; the walk goes on. A path
 * that exists but could not be read (no permission, an I/O error, a folder
 * listed only in part) is also reported through `unread`: the caller cannot
 * tell what is below it, so what it indexed there before must be kept. */
#ifndef DQ_INDEXER_WALK_H
#define DQ_INDEXER_WALK_H

#include <stddef.h>
#include <stdint.h>

typedef struct dq_walk_file {
  const char *path;   /* absolute, canonical (realpath of the root + relative part) */
  uint64_t size;
  int64_t mtime;      /* seconds */
  int64_t mtime_ns;   /* nanoseconds part */
} dq_walk_file;

typedef struct dq_walk_cbs {
  /* A file to index. Return non-zero to stop the walk (dq_walk returns it). */
  int (*file)(void *ctx, const dq_walk_file *f);
  /* A path skipped, with a reason ("broken symbolic link", "permission denied",
   * "ignored by .docqignore" is NOT reported: ignored paths are silent). May be NULL. */
  void (*skip)(void *ctx, const char *path, const char *reason);
  void *ctx;
  /* After `skip`, for a path that could not be read (as opposed to one the
   * rules exclude or one that is gone): not seen, yet not absent. May be NULL. */
  void (*unread)(void *ctx, const char *path);
} dq_walk_cbs;

/* Walk `root`. DOCQ_ENOTFOUND when root does not exist (message names it). */
int dq_walk(const char *root, const dq_walk_cbs *cbs);

/* gitignore-style matching, exposed for tests: compile the text of one
 * .docqignore and ask whether a path relative to its folder is ignored. */
typedef struct dq_ignore dq_ignore;
int dq_ignore_parse(dq_ignore **out, const char *text, size_t len);
/* 1 ignored, 0 not, -1 no rule matched (so a parent's rules decide). */
int dq_ignore_match(const dq_ignore *ig, const char *relpath, int is_dir);
void dq_ignore_free(dq_ignore *ig);

#endif
