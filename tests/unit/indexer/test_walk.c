/* Tests for indexer/walk.c: .docqignore matching (cases from the gitignore
 * documentation: comments, negation, trailing '/', anchoring by a leading or
 * inner '/', '*', '?', '[...]', '**'), and walking a real temporary tree:
 * sorted order, hidden files, .git, node_modules, nested .docqignore files,
 * symlinks (file followed, folder not, broken reported), stop by callback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "indexer/walk.h"
#include "util/err.h"

static char g_dir[256];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb; (void)flag; (void)ftw;
  chmod(p, 0755);
  return remove(p);
}

static int setup(void **state)
{
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/docq_test_walk_XXXXXX");
  if (!mkdtemp(g_dir)) return -1;
  char real[4096];
  if (!realpath(g_dir, real) || strlen(real) >= sizeof g_dir) return -1;
  strcpy(g_dir, real);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  return nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *rel, const char *text)
{
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", g_dir, rel);
  for (char *s = p + strlen(g_dir) + 1; *s; s++) { /* make parent folders */
    if (*s != '/') continue;
    *s = 0;
    mkdir(p, 0755);
    *s = '/';
  }
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* ---- matching ------------------------------------------------------------------------ */

static void test_indexer_walk__ignore_patterns(void **state)
{
  (void)state;
  const char *rules = "# comment\n\n*.log\n!keep.log\nbuild/\n/top.txt\ndocs/*.draft\n**/cache/**\nfoo/**/bar\n"
                      "img?.png\n[abc]x.txt\n[!0-9]y.txt\n\\#hash.txt\n\\!bang.txt\ntrail.txt   \r\nsub/dir/\n";
  dq_ignore *ig;
  assert_int_equal(dq_ignore_parse(&ig, rules, strlen(rules)), 0);
  const struct { const char *path; int dir, want; } cases[] = {
    {"a.log", 0, 1}, {"deep/er/a.log", 0, 1}, {"keep.log", 0, 0}, {"x/keep.log", 0, 0},
    {"a.txt", 0, -1},
    {"build", 1, 1}, {"build", 0, -1}, {"src/build", 1, 1}, {"build/out.txt", 0, 1},
    {"top.txt", 0, 1}, {"sub/top.txt", 0, -1},
    {"docs/a.draft", 0, 1}, {"docs/x/a.draft", 0, -1}, {"other/docs/a.draft", 0, -1},
    {"cache/x", 0, 1}, {"a/b/cache/c/d.txt", 0, 1}, {"cache", 1, -1},
    {"foo/bar", 0, 1}, {"foo/a/b/bar", 0, 1}, {"foo/bar2", 0, -1},
    {"img1.png", 0, 1}, {"img10.png", 0, -1}, {"imgé.png", 0, 1},
    {"ax.txt", 0, 1}, {"dx.txt", 0, -1}, {"ay.txt", 0, 1}, {"5y.txt", 0, -1},
    {"#hash.txt", 0, 1}, {"!bang.txt", 0, 1}, {"trail.txt", 0, 1},
    {"sub/dir", 1, 1}, {"sub/dir/f.txt", 0, 1}, {"x/sub/dir", 1, -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int got = dq_ignore_match(ig, cases[i].path, cases[i].dir);
    if (got != cases[i].want) fail_msg("%s (dir=%d): got %d want %d", cases[i].path, cases[i].dir, got, cases[i].want);
  }
  dq_ignore_free(ig);
  /* a folder excluded cannot have files re-included below it (git's rule) */
  const char *r2 = "logs/\n!logs/important.txt\n*.tmp\n!*.tmp\n";
  assert_int_equal(dq_ignore_parse(&ig, r2, strlen(r2)), 0);
  assert_int_equal(dq_ignore_match(ig, "logs/important.txt", 0), 1);
  assert_int_equal(dq_ignore_match(ig, "a.tmp", 0), 0); /* the last matching line wins */
  dq_ignore_free(ig);
}

/* ---- walking ---------------------------------------------------------------------------- */

typedef struct {
  char files[64][512]; uint64_t sizes[64]; int n; char skips[16][600]; int ns; int stop_after;
  char unread[8][600]; int nu;
} seen;

static int on_file(void *ctx, const dq_walk_file *f)
{
  seen *s = ctx;
  assert_true(s->n < 64);
  assert_true(strncmp(f->path, g_dir, strlen(g_dir)) == 0);
  snprintf(s->files[s->n], sizeof s->files[0], "%s", f->path + strlen(g_dir));
  s->sizes[s->n] = f->size;
  assert_true(f->mtime > 0);
  s->n++;
  return s->stop_after && s->n >= s->stop_after ? 42 : 0;
}

static void on_skip(void *ctx, const char *path, const char *reason)
{
  seen *s = ctx;
  assert_true(s->ns < 16);
  snprintf(s->skips[s->ns++], sizeof s->skips[0], "%s: %s", path + strlen(g_dir), reason);
}

/* Could not be read, as opposed to excluded or gone. */
static void on_unread(void *ctx, const char *path)
{
  seen *s = ctx;
  assert_true(s->nu < 8);
  snprintf(s->unread[s->nu++], sizeof s->unread[0], "%s", path + strlen(g_dir));
}

static void test_indexer_walk__tree(void **state)
{
  (void)state;
  put("b.md", "b");
  put("a.txt", "aaaa");
  put("Z.txt", "z");
  put(".hidden.txt", "h");
  put(".git/config", "g");
  put("node_modules/pkg/index.md", "n");
  put(".docqignore", "*.log\nbuild/\n/only-root.txt\n");
  put("only-root.txt", "r");
  put("build/out.txt", "o");
  put("x.log", "l");
  put("sub/only-root.txt", "kept: the rule is anchored");
  put("sub/.docqignore", "!keep.log\n*.tmp\n");
  put("sub/keep.log", "k");
  put("sub/drop.tmp", "d");
  put("sub/deeper/c.txt", "c");
  put("sub/deeper/d.log", "d");
  put("other/e.tmp", "not ignored here: sub's rules apply only below sub");
  char p[1024], t[1024];
  snprintf(p, sizeof p, "%s/link-to-a.txt", g_dir);
  snprintf(t, sizeof t, "%s/a.txt", g_dir);
  assert_int_equal(symlink(t, p), 0);
  snprintf(p, sizeof p, "%s/link-to-sub", g_dir);
  snprintf(t, sizeof t, "%s/sub", g_dir);
  assert_int_equal(symlink(t, p), 0);
  snprintf(p, sizeof p, "%s/broken.md", g_dir);
  assert_int_equal(symlink("/nonexistent/nothing.md", p), 0);

  seen s;
  memset(&s, 0, sizeof s);
  dq_walk_cbs cbs = {on_file, on_skip, &s, on_unread};
  assert_int_equal(dq_walk(g_dir, &cbs), 0);
  const char *want[] = {"/Z.txt", "/a.txt", "/b.md", "/link-to-a.txt", "/other/e.tmp", "/sub/deeper/c.txt",
                        "/sub/keep.log", "/sub/only-root.txt"};
  for (int i = 0; i < s.n; i++) print_message("walk: %s\n", s.files[i]);
  assert_int_equal(s.n, sizeof want / sizeof want[0]);
  for (int i = 0; i < s.n; i++) assert_string_equal(s.files[i], want[i]);
  assert_int_equal(s.sizes[1], 4);
  assert_int_equal(s.sizes[3], 4); /* the link reports its target's size */
  assert_int_equal(s.ns, 2);
  assert_string_equal(s.skips[0], "/broken.md: broken symbolic link");
  assert_string_equal(s.skips[1], "/link-to-sub: symbolic link to a folder (not followed)");
  assert_int_equal(s.nu, 0); /* a broken link, a link not followed: nothing unread */

  /* a callback stops the walk, and its value comes back */
  memset(&s, 0, sizeof s);
  s.stop_after = 2;
  assert_int_equal(dq_walk(g_dir, &cbs), 42);
  assert_int_equal(s.n, 2);

  /* a single file as the root, even a hidden one */
  memset(&s, 0, sizeof s);
  snprintf(p, sizeof p, "%s/.hidden.txt", g_dir);
  assert_int_equal(dq_walk(p, &cbs), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.files[0], "/.hidden.txt");

  /* a root given with a relative, non-canonical path still reports canonical paths */
  memset(&s, 0, sizeof s);
  char cwd[4096];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(g_dir), 0);
  assert_int_equal(dq_walk("./sub/../sub/deeper", &cbs), 0);
  assert_int_equal(chdir(cwd), 0);
  /* .docqignore files above the root are not read: d.log is listed this time */
  assert_int_equal(s.n, 2);
  assert_string_equal(s.files[0], "/sub/deeper/c.txt");
  assert_string_equal(s.files[1], "/sub/deeper/d.log");
}

/* A docq index kept among the documents (a folder holding docq.sqlite) is
 * no documents: skipped whole, with a reason; its neighbours are walked. */
static void test_indexer_walk__index_folder_skipped(void **state)
{
  (void)state;
  put("notes/tea.md", "Green tea at eighty degrees.");
  put("notes/idx/docq.sqlite", "SQLite format 3");
  put("notes/idx/write.lock", "4242");
  put("notes/idx/sub/x.txt", "inside the index folder");
  seen s;
  memset(&s, 0, sizeof s);
  dq_walk_cbs cbs = {on_file, on_skip, &s, on_unread};
  char p[1024];
  snprintf(p, sizeof p, "%s/notes", g_dir);
  assert_int_equal(dq_walk(p, &cbs), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.files[0], "/notes/tea.md");
  assert_int_equal(s.ns, 1);
  assert_string_equal(s.skips[0], "/notes/idx: a docq index folder");
}

static void test_indexer_walk__missing_root_and_unreadable(void **state)
{
  (void)state;
  seen s;
  memset(&s, 0, sizeof s);
  dq_walk_cbs cbs = {on_file, on_skip, &s, on_unread};
  char p[1024];
  snprintf(p, sizeof p, "%s/does/not/exist", g_dir);
  assert_int_equal(dq_walk(p, &cbs), DOCQ_ENOTFOUND);
  assert_non_null(strstr(dq_err_msg(), "does/not/exist"));
  if (geteuid() == 0) { print_message("running as root: permission checks skipped\n"); return; }
  put("locked/secret.txt", "s");
  put("locked2/f.txt", "f");
  snprintf(p, sizeof p, "%s/locked", g_dir);
  assert_int_equal(chmod(p, 0), 0);
  snprintf(p, sizeof p, "%s/locked2/f.txt", g_dir);
  assert_int_equal(chmod(p, 0), 0);
  memset(&s, 0, sizeof s);
  assert_int_equal(dq_walk(g_dir, &cbs), 0);
  int dir_reported = 0, file_reported = 0;
  for (int i = 0; i < s.ns; i++) {
    if (!strcmp(s.skips[i], "/locked: permission denied")) dir_reported = 1;
    if (!strcmp(s.skips[i], "/locked2/f.txt: permission denied")) file_reported = 1;
  }
  assert_true(dir_reported && file_reported);
  /* what is below them is unknown, not gone: the indexer keeps it */
  assert_int_equal(s.nu, 2);
  assert_string_equal(s.unread[0], "/locked");
  assert_string_equal(s.unread[1], "/locked2/f.txt");
  snprintf(p, sizeof p, "%s/locked", g_dir);
  assert_int_equal(chmod(p, 0755), 0); /* so the teardown can remove it */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_indexer_walk__ignore_patterns),
    cmocka_unit_test_setup_teardown(test_indexer_walk__tree, setup, teardown),
    cmocka_unit_test_setup_teardown(test_indexer_walk__missing_root_and_unreadable, setup, teardown),
    cmocka_unit_test_setup_teardown(test_indexer_walk__index_folder_skipped, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
