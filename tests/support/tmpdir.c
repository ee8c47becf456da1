#define _XOPEN_SOURCE 700
#include "tmpdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void)st; (void)type; (void)ftw;
  remove(path); /* a file, or a folder already emptied (FTW_DEPTH) */
  return 0;
}

void dq_test_rm_dir(const char *dir)
{
  /* depth first, not following links: a test's folder, whatever it made inside */
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int dq_test_mkdtemp(char *out, size_t cap, const char *name)
{
  int n = snprintf(out, cap, "/tmp/docq-%s-XXXXXX", name);
  return n > 0 && (size_t)n < cap && mkdtemp(out) ? 0 : -1;
}
