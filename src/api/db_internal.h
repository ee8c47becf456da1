/* The docq_db handle behind the public API (shared by the src/api files). */
#ifndef DQ_API_DB_INTERNAL_H
#define DQ_API_DB_INTERNAL_H

#include <stdatomic.h>

#include "docq.h"
#include "store/store.h"
#include "embed/embed.h"

struct docq_db {
  char *path;                 /* index folder */
  dq_store *store;
  dq_embedder *embedder;      /* matches the manifest (created on open); NULL while the
                               * GGUF model the index names cannot be loaded (moved,
                               * deleted): what needs no vectors still works */
  char embedder_err[1536];    /* why, then (the load's message) */
  int embedder_rc;
  unsigned flags;             /* DOCQ_OPEN_* */
  /* set by docq_interrupt(), cleared at the start of each call. Atomic: it is
   * written from other threads and signal handlers (lock-free, checked in
   * db.c), and read by the running call without a lock. */
  atomic_int interrupted;
  docq_stats stats_cache;     /* strings of docq_stat() point into the fields below */
  char embedder_id[128];
  char vec_kind[64];
};

/* make_embedder's answer when the GGUF model the index names cannot be
 * loaded (db->embedder_err says why): not an error of the open. */
#define DQ_EMBEDDER_MISSING 1

/* Start of every public call on db: clears the interrupt flag and the error. */
static inline void dq_db_enter(docq_db *db) { db->interrupted = 0; }

/* Make db->embedder the one the manifest names now: another handle or
 * process may have chosen the embedder of an index that was new when db was
 * opened, or re-encoded it (--reembed). Cheap when nothing was committed
 * elsewhere. Called at the start of the calls that embed or report it. */
int dq_api_sync_embedder(docq_db *db);
/* 1 when the index, as committed now, names another embedder than db holds
 * (another process re-encoded it since db's last dq_api_sync_embedder). */
int dq_api_embedder_stale(docq_db *db);

/* The absolute path documents are stored under, for what a user typed. A file
 * or folder deleted since it was indexed has no realpath: the folder it was
 * in is resolved and its name appended, so `docq rm notes/old.md` and
 * `docq index notes/old.md` still find it. NULL when out of memory. */
char *dq_api_canonical_path(const char *path);

/* docq_search with a cap on merged spans (docq_ask: half its token budget;
 * 0 = none, as docq_search itself). */
/* The file line of byte off of the text of hit i of r (dq_hit_line_at):
 * 0 with *line set, -1 when that byte does not map exactly onto a line. */
int dq_api_hit_line(const docq_results *r, size_t i, size_t off, uint32_t *line);
int dq_api_search(docq_results **out, docq_db *db, const char *query, const docq_search_options *opts,
                  unsigned max_span_tokens);

#endif
