/* Plain SQLite on an index folder's docq.sqlite, for tests that change an
 * index behind docq's back (an older manifest, a stale full-text index).
 * The connection has the docq FTS5 tokenizer registered, so FTS5 commands
 * ('delete-all', ...) and MATCH work on chunks_fts. Not public API. */
#ifndef DQ_TESTS_INDEX_SQL_H
#define DQ_TESTS_INDEX_SQL_H

#include <stddef.h>

/* Run `sql` (several statements allowed) on DIR/docq.sqlite: SQLITE_OK or the
 * SQLite error code (-1 when the file cannot be opened). */
int dq_test_sql_exec(const char *dir, const char *sql);

/* The first column of the first row of the query `sql`, whose ?1 is bound to
 * `arg` (when not NULL), as text into out; "(none)" when there is no row.
 * SQLITE_OK or the SQLite error code. */
int dq_test_sql_value(const char *dir, const char *sql, const char *arg, char *out, size_t cap);

#endif
