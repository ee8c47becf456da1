/* See index_sql.h. */
#include "index_sql.h"

#include <sqlite3.h>
#include <stdio.h>

#include "store/store_int.h"

static int open_index(const char *dir, sqlite3 **db)
{
  char p[512];
  snprintf(p, sizeof p, "%s/docq.sqlite", dir);
  if (sqlite3_open(p, db) != SQLITE_OK) {
    sqlite3_close(*db);
    *db = NULL;
    return -1;
  }
  return dq_fts_register(*db) == 0 ? SQLITE_OK : -1;
}

int dq_test_sql_exec(const char *dir, const char *sql)
{
  sqlite3 *db;
  int rc = open_index(dir, &db);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
  return rc;
}

int dq_test_sql_value(const char *dir, const char *sql, const char *arg, char *out, size_t cap)
{
  sqlite3 *db;
  sqlite3_stmt *st = NULL;
  snprintf(out, cap, "(none)");
  int rc = open_index(dir, &db);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK && arg) rc = sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) {
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (step != SQLITE_DONE) rc = step;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rc;
}
