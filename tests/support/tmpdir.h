/* Temporary index folders for tests. Not public API. */
#ifndef DQ_TESTS_TMPDIR_H
#define DQ_TESTS_TMPDIR_H

#include <stddef.h>

/* Make a new folder /tmp/docq-<name>-XXXXXX and put its path in out (cap
 * bytes): 0, or -1 when it cannot. */
int dq_test_mkdtemp(char *out, size_t cap, const char *name);

/* Remove a folder and everything in it (links are removed, not followed). */
void dq_test_rm_dir(const char *dir);

#endif
