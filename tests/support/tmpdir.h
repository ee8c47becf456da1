/* Temporary index folders for tests. Not public API. */
#ifndef DQ_TESTS_TMPDIR_H
#define DQ_TESTS_TMPDIR_H

/* Remove a folder and everything in it (links are removed, not followed). */
void dq_test_rm_dir(const char *dir);

#endif
