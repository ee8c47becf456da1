/* Temporary index folders for tests. Not public API. */
#ifndef DQ_TESTS_TMPDIR_H
#define DQ_TESTS_TMPDIR_H

/* Remove a flat folder (an index folder: files only) and the folder itself. */
void dq_test_rm_dir(const char *dir);

#endif
