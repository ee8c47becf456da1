/* Tests for indexer/loader.c and load_txt.c: format detection, binary
 * detection, file errors (binary, too large, missing, broken link, folder,
 * FIFO, not UTF-8), UTF-8 repair keeping original offsets, plain-text
 * paragraphs with exact offsets and lines, title fallback, and allocation
 * failure at every step. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "indexer/loader.h"
#include "indexer/normalize.h"
#include "util/err.h"
#include "util/mem.h"

static char g_dir[256];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

static int setup(void **state)
{
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/docq_test_loader_XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  return nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *write_file(const char *name, const void *data, size_t n)
{
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
  return path;
}

static void test_indexer_loader__format_from_path(void **state)
{
  (void)state;
  assert_int_equal(dq_format_from_path("a/b/notes.md"), DQ_FMT_MARKDOWN);
  assert_int_equal(dq_format_from_path("X.MARKDOWN"), DQ_FMT_MARKDOWN);
  assert_int_equal(dq_format_from_path("index.htm"), DQ_FMT_HTML);
  assert_int_equal(dq_format_from_path("index.HTML"), DQ_FMT_HTML);
  assert_int_equal(dq_format_from_path("a.txt"), DQ_FMT_TEXT);
  assert_int_equal(dq_format_from_path("dir.md/README"), DQ_FMT_TEXT);
  assert_int_equal(dq_format_from_path(".md"), DQ_FMT_TEXT); /* a hidden file named ".md" has no extension */
}

static void test_indexer_loader__binary_detection(void **state)
{
  (void)state;
  assert_true(dq_looks_binary("abc\0def", 7));
  char ctrl[100];
  for (int i = 0; i < 100; i++) ctrl[i] = (char)(i % 3 ? 'a' : 0x01);
  assert_true(dq_looks_binary(ctrl, sizeof ctrl));
  const char *latin1 = "caf\xE9 cr\xE8me br\xFBl\xE9" "e, na\xEFve fa\xE7" "ade and more plain words here";
  assert_false(dq_looks_binary(latin1, strlen(latin1)));
  const char *utf8 = "中文文本，没有问题。\r\n\tTabs and\fform feeds.";
  assert_false(dq_looks_binary(utf8, strlen(utf8)));
  assert_false(dq_looks_binary("", 0));
  /* a multi-byte character cut by the 8 KiB sample end is not a bad byte */
  char big[8193];
  memset(big, 'a', sizeof big);
  memcpy(big + 8191, "\xE4\xB8", 2);
  assert_false(dq_looks_binary(big, sizeof big));
}

static void test_indexer_loader__binary_file_skipped(void **state)
{
  (void)state;
  const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  const char *p = write_file("image.txt", png, sizeof png);
  dq_doc *d = (dq_doc *)1;
  assert_int_equal(dq_load_file(p, NULL, &d), DOCQ_EUNSUPPORTED);
  assert_null(d);
  assert_non_null(strstr(dq_err_msg(), "image.txt: skipped: binary file"));
  assert_null(strchr(dq_err_msg(), '\n'));
}

/* Notepad's "Unicode" files: a clear reason with the remedy, not "binary".
 * Not read: citations are byte ranges of the file, and UTF-16 bytes are not
 * the UTF-8 text chunks hold. A BOM before binary data stays "binary". */
static void test_indexer_loader__utf16_skipped_with_remedy(void **state)
{
  (void)state;
  const char le[] = "\xFF\xFE#\0 \0N\0o\0t\0e\0s\0\n\0\n\0\xE9\0t\0\xE9\0 \0=\xD8\0\xDE\n\0";
  const char be[] = "\xFE\xFF\0h\0i\0\r\0\n";
  const char *files[][2] = {{"notes.md", le}, {"notes.txt", le}, {"be.txt", be}};
  const size_t lens[] = {sizeof le - 1, sizeof le - 1, sizeof be - 1};
  for (size_t i = 0; i < 3; i++) {
    const char *p = write_file(files[i][0], files[i][1], lens[i]);
    dq_doc *d = (dq_doc *)1;
    assert_int_equal(dq_load_file(p, NULL, &d), DOCQ_EUNSUPPORTED);
    assert_null(d);
    char want[64];
    snprintf(want, sizeof want, "%s: skipped: UTF-16 text (save it as UTF-8", files[i][0]);
    assert_non_null(strstr(dq_err_msg(), want));
    assert_int_equal(dq_load_file_bytes(p, files[i][1], lens[i], &d), DOCQ_EUNSUPPORTED);
    assert_non_null(strstr(dq_err_msg(), "UTF-16 text"));
  }
  unsigned char junk[600];
  junk[0] = 0xFF, junk[1] = 0xFE;
  for (size_t i = 2; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 7 % 5); /* control units */
  const char *p = write_file("bom-junk.txt", junk, sizeof junk);
  dq_doc *d;
  assert_int_equal(dq_load_file(p, NULL, &d), DOCQ_EUNSUPPORTED);
  assert_non_null(strstr(dq_err_msg(), "bom-junk.txt: skipped: binary file"));
}

static void test_indexer_loader__too_large(void **state)
{
  (void)state;
  char buf[2000];
  memset(buf, 'x', sizeof buf);
  const char *p = write_file("big.txt", buf, sizeof buf);
  dq_load_opts o = {1024};
  dq_doc *d;
  assert_int_equal(dq_load_file(p, &o, &d), DOCQ_EUNSUPPORTED);
  assert_non_null(strstr(dq_err_msg(), "big.txt: skipped: too large (2000 bytes > 1024 bytes limit)"));
  /* the default limit, on a sparse 70 MiB file (never read) */
  char path[512];
  snprintf(path, sizeof path, "%s/huge.txt", g_dir);
  int fd = open(path, O_CREAT | O_WRONLY, 0644);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)70 << 20), 0);
  close(fd);
  assert_int_equal(dq_load_file(path, NULL, &d), DOCQ_EUNSUPPORTED);
  assert_non_null(strstr(dq_err_msg(), "huge.txt: skipped: too large (70 MiB > 64 MiB limit)"));
  o.max_bytes = 2000; /* the limit itself is allowed */
  assert_int_equal(dq_load_file(p, &o, &d), 0);
  dq_doc_free(d);
}

static void test_indexer_loader__missing_link_folder_fifo(void **state)
{
  (void)state;
  char path[512], link[512];
  dq_doc *d;
  snprintf(path, sizeof path, "%s/nope.txt", g_dir);
  assert_int_equal(dq_load_file(path, NULL, &d), DOCQ_ENOTFOUND);
  assert_non_null(strstr(dq_err_msg(), "nope.txt"));
  snprintf(link, sizeof link, "%s/dangling.md", g_dir);
  assert_int_equal(symlink(path, link), 0);
  assert_int_equal(dq_load_file(link, NULL, &d), DOCQ_ENOTFOUND);
  assert_non_null(strstr(dq_err_msg(), "dangling.md: skipped: broken symbolic link"));
  assert_int_equal(dq_load_file(g_dir, NULL, &d), DOCQ_EUNSUPPORTED);
  assert_non_null(strstr(dq_err_msg(), "is a folder"));
  snprintf(path, sizeof path, "%s/pipe.txt", g_dir);
  assert_int_equal(mkfifo(path, 0644), 0);
  assert_int_equal(dq_load_file(path, NULL, &d), DOCQ_EUNSUPPORTED); /* must not block */
  assert_non_null(strstr(dq_err_msg(), "pipe.txt: skipped: not a regular file"));
  if (geteuid() != 0) {
    const char *p = write_file("secret.txt", "x", 1);
    chmod(p, 0);
    assert_int_equal(dq_load_file(p, NULL, &d), DOCQ_EIO);
    assert_non_null(strstr(dq_err_msg(), "permission denied"));
  }
}

static void test_indexer_loader__unknown_extension_needs_utf8(void **state)
{
  (void)state;
  dq_doc *d;
  const char *ok = "plain words\n";
  assert_int_equal(dq_load_file(write_file("README", ok, strlen(ok)), NULL, &d), 0);
  assert_int_equal(d->format, DQ_FMT_TEXT);
  assert_string_equal(d->title, "README");
  dq_doc_free(d);
  const char *latin1 = "caf\xE9 au lait\n";
  assert_int_equal(dq_load_file(write_file("notes.dat", latin1, strlen(latin1)), NULL, &d), DOCQ_EUNSUPPORTED);
  assert_non_null(strstr(dq_err_msg(), "notes.dat: skipped: not UTF-8 text"));
  /* the same rules for bytes the caller read itself */
  assert_int_equal(dq_load_file_bytes("x/notes.dat", latin1, strlen(latin1), &d), DOCQ_EUNSUPPORTED);
  assert_non_null(strstr(dq_err_msg(), "x/notes.dat: skipped: not UTF-8 text"));
  assert_int_equal(dq_load_file_bytes("x/bin.md", "a\0b", 3, &d), DOCQ_EUNSUPPORTED);
  assert_non_null(strstr(dq_err_msg(), "x/bin.md: skipped: binary file"));
  assert_int_equal(dq_load_file_bytes("x/notes.md", "# T\n", 4, &d), 0);
  assert_int_equal(d->format, DQ_FMT_MARKDOWN);
  assert_string_equal(d->title, "T");
  dq_doc_free(d);
  /* a .txt file is text by its name: repaired instead */
  assert_int_equal(dq_load_file(write_file("notes.txt", latin1, strlen(latin1)), NULL, &d), 0);
  assert_int_equal(d->n_repaired, 1);
  dq_doc_free(d);
}

/* Repair replaces bad bytes with U+FFFD, but block offsets stay those of the file. */
static void test_indexer_loader__repair_keeps_original_offsets(void **state)
{
  (void)state;
  /* para 1 holds two bad subparts: C3 (1 byte, alone before a space) and E2 82 (2 bytes) */
  const char src[] = "caf\xC3 ok \xE2\x82 end\n\nsecond paragraph\n";
  dq_doc *d;
  assert_int_equal(dq_load_buffer("r.txt", src, sizeof src - 1, DQ_FMT_TEXT, &d), 0);
  assert_int_equal(d->n_repaired, 2);
  assert_int_equal(d->src_len, sizeof src - 1);
  assert_true(dq_utf8_valid(d->body, d->body_len));
  assert_int_equal(d->body_len, sizeof src - 1 + 2 + 1); /* +2 for the 1-byte subpart, +1 for the 2-byte one */
  assert_int_equal(d->n_blocks, 2);
  assert_string_equal(d->blocks[0].text, "caf\xEF\xBF\xBD ok \xEF\xBF\xBD end");
  assert_int_equal(d->blocks[0].src_start, 0);
  assert_int_equal(d->blocks[0].src_end, 14); /* "caf? ok ?? end" in file bytes */
  size_t p2 = (size_t)(strstr(src, "second") - src);
  assert_int_equal(d->blocks[1].src_start, p2);
  assert_int_equal(d->blocks[1].src_end, p2 + strlen("second paragraph"));
  assert_memory_equal(src + d->blocks[1].src_start, d->blocks[1].text, d->blocks[1].text_len);
  assert_int_equal(d->blocks[1].line_first, 3);
  /* the two maps are inverse on character boundaries */
  for (size_t b = 0; b <= d->body_len; b++) {
    if (b < d->body_len && ((unsigned char)d->body[b] & 0xC0) == 0x80) continue;
    assert_int_equal(dq_doc_body_off(d, dq_doc_src_off(d, b)), b);
  }
  /* the repaired text is what dq_utf8_repair (normalize.c) makes of it */
  char *ref;
  size_t rn, bad;
  assert_int_equal(dq_utf8_repair(src, sizeof src - 1, &ref, &rn, &bad), 0);
  assert_int_equal(rn, d->body_len);
  assert_memory_equal(ref, d->body, rn);
  assert_int_equal(bad, d->n_repaired);
  dq_free(ref);
  dq_doc_free(d);
}

/* Each case of Unicode's Table 3-8 sequence, checked byte by byte against dq_utf8_repair. */
static void test_indexer_loader__repair_matches_normalize(void **state)
{
  (void)state;
  const char *cases[] = {
    "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", "\xC0\xAF x \xE0\x80\xAF", "\xED\xA0\x80 surrogate",
    "\xF4\x90\x80\x80 too big", "trail \xE4\xB8", "\xFF\xFE", "ok \xE4\xB8\xAD\xE6\x96\x87",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dq_doc *d;
    char *ref;
    size_t rn, bad;
    assert_int_equal(dq_load_buffer(NULL, cases[i], strlen(cases[i]), DQ_FMT_TEXT, &d), 0);
    assert_int_equal(dq_utf8_repair(cases[i], strlen(cases[i]), &ref, &rn, &bad), 0);
    assert_int_equal(d->body_len, rn);
    assert_memory_equal(d->body, ref, rn);
    assert_int_equal(d->n_repaired, bad);
    assert_int_equal(dq_doc_src_off(d, d->body_len), strlen(cases[i]));
    dq_free(ref);
    dq_doc_free(d);
  }
}

/* A NUL byte would cut every C-string use of the text: it is repaired like bad UTF-8. */
static void test_indexer_loader__nul_bytes_repaired(void **state)
{
  (void)state;
  const char src[] = "a\0b\n\nc";
  dq_doc *d;
  assert_int_equal(dq_load_buffer(NULL, src, sizeof src - 1, DQ_FMT_MARKDOWN, &d), 0);
  assert_int_equal(d->n_repaired, 1);
  assert_int_equal(d->n_blocks, 2);
  assert_string_equal(d->blocks[0].text, "a\xEF\xBF\xBD" "b");
  assert_int_equal(strlen(d->blocks[0].clean), d->blocks[0].clean_len);
  assert_int_equal(d->blocks[0].src_end, 3);
  assert_int_equal(d->blocks[1].src_start, 5);
  dq_doc_free(d);
}

static void test_indexer_loader__txt_paragraphs_and_lines(void **state)
{
  (void)state;
  const char src[] = "\r\n  First line\r\nsecond line  \r\n\r\n \t \r\n\xE3\x80\x80\xE3\x80\x80中文段落。\xE3\x80\x80\n\n\nlast";
  dq_doc *d;
  assert_int_equal(dq_load_buffer("dir/My Notes.txt", src, sizeof src - 1, DQ_FMT_TEXT, &d), 0);
  assert_string_equal(d->title, "My Notes");
  assert_int_equal(d->n_blocks, 3);
  const char *want[] = {"First line\r\nsecond line", "中文段落。", "last"};
  uint32_t l1[] = {2, 6, 9}, l2[] = {3, 6, 9};
  for (int i = 0; i < 3; i++) {
    const dq_block *b = &d->blocks[i];
    assert_string_equal(b->text, want[i]);
    assert_string_equal(b->clean, want[i]);
    assert_memory_equal(src + b->src_start, b->text, b->text_len);
    assert_int_equal(b->src_end - b->src_start, b->text_len);
    assert_int_equal(b->line_first, l1[i]);
    assert_int_equal(b->line_last, l2[i]);
    assert_string_equal(b->section, "");
    assert_int_equal(b->kind, DQ_BLK_PARA);
  }
  dq_doc_free(d);
  assert_int_equal(dq_load_buffer(NULL, " \n\t\n", 4, DQ_FMT_TEXT, &d), 0);
  assert_int_equal(d->n_blocks, 0);
  assert_string_equal(d->title, "untitled");
  dq_doc_free(d);
}

/* Chapter lines of plain-text books are headings (load_txt.c): the section
 * of what follows and where a chunk starts. Chinese ones line by line, not
 * in a table of contents nor inside a sentence; English ones as a paragraph
 * of their own with a number and no lower-case sentence after it. The title
 * stays the file's name (the book's), or a "Title:" line's. */
static void expect_blocks(const dq_doc *d, const int *kinds, const char *const *texts, const char *const *secs, size_t n)
{
  int same = d->n_blocks == n;
  for (size_t i = 0; same && i < n; i++)
    same = d->blocks[i].kind == (dq_block_kind)kinds[i] && !strcmp(d->blocks[i].text, texts[i]) &&
           !strcmp(d->blocks[i].section, secs[i]);
  if (!same) {
    for (size_t i = 0; i < d->n_blocks; i++)
      fprintf(stderr, "block %zu kind %d [%s] section [%s]\n", i, (int)d->blocks[i].kind, d->blocks[i].text,
              d->blocks[i].section);
    fail_msg("%zu blocks (expected %zu) or their kinds, texts or sections differ", d->n_blocks, n);
  }
}

static void test_indexer_loader__txt_chapter_headings(void **state)
{
  (void)state;
  enum { H = DQ_BLK_HEADING, P = DQ_BLK_PARA };
  const char zh[] = "\xE7\x9B\xAE\xE5\xBD\x95\n" /* 目录 */
                    "第一回 宴桃园\n第二回 怒鞭督邮\n\n"
                    "第一回 宴桃园\n话说天下大势，分久必合。\n\n"
                    "第三章讲的是方法。\n\n"
                    "\xE3\x80\x80第二回\xE3\x80\x80怒鞭督邮\xE3\x80\x80\n正文。\n"
                    "第12卷\n卷中。";
  dq_doc *d;
  assert_int_equal(dq_load_buffer("books/三国演义.txt", zh, sizeof zh - 1, DQ_FMT_TEXT, &d), 0);
  assert_string_equal(d->title, "三国演义");
  const int zk[] = {P, H, P, P, H, P, H, P};
  const char *zt[] = {"目录\n第一回 宴桃园\n第二回 怒鞭督邮", "第一回 宴桃园", "话说天下大势，分久必合。", "第三章讲的是方法。",
                      "第二回\xE3\x80\x80怒鞭督邮", "正文。", "第12卷", "卷中。"};
  const char *zs[] = {"", "第一回 宴桃园", "第一回 宴桃园", "第一回 宴桃园", "第二回\xE3\x80\x80怒鞭督邮",
                      "第二回\xE3\x80\x80怒鞭督邮", "第12卷", "第12卷"};
  expect_blocks(d, zk, zt, zs, 8);
  assert_int_equal(d->blocks[1].level, 2);
  assert_int_equal(d->blocks[1].line_first, 5);
  assert_int_equal(d->blocks[6].level, 1);
  dq_doc_free(d);

  const char en[] = "Title: Moby Dick; Or, The Whale\r\n\r\nChapter 1\r\nChapter 2\r\n\r\n"
                    "BOOK II\r\n\r\nCHAPTER 1. Loomings.\r\n\r\nCall me Ishmael.\r\n\r\n"
                    "Chapter 3 covers the basics.\r\n\r\nChapter XIV\r\nwas long.\r\n\r\n"
                    "Part 2 - The Return\r\n\r\nEnd.";
  assert_int_equal(dq_load_buffer("pg2701.txt", en, sizeof en - 1, DQ_FMT_TEXT, &d), 0);
  assert_string_equal(d->title, "Moby Dick; Or, The Whale");
  const int ek[] = {P, P, H, H, P, P, P, H, P};
  const char *et[] = {"Title: Moby Dick; Or, The Whale", "Chapter 1\r\nChapter 2", "BOOK II", "CHAPTER 1. Loomings.",
                      "Call me Ishmael.", "Chapter 3 covers the basics.", "Chapter XIV\r\nwas long.",
                      "Part 2 - The Return", "End."};
  const char *es[] = {"", "", "BOOK II", "BOOK II > CHAPTER 1. Loomings.", "BOOK II > CHAPTER 1. Loomings.",
                      "BOOK II > CHAPTER 1. Loomings.", "BOOK II > CHAPTER 1. Loomings.", "Part 2 - The Return",
                      "Part 2 - The Return"};
  expect_blocks(d, ek, et, es, 9);
  dq_doc_free(d);
}

/* What a chapter line is not, and the layouts of real books besides the
 * plain ones (from a check on the corpora and hand-made texts): a sentence
 * after the number, a Roman numeral of letters that are words ("BOOK DVD",
 * "Letter C"), a Chinese line ending a sentence; a table of contents, also
 * with blank lines between its entries or before a preface; but a volume
 * line right above a chapter line, number words, a full-width colon, a
 * Roman numeral alone, an epilogue, and a title going on to a second line. */
static void test_indexer_loader__txt_chapter_layouts(void **state)
{
  (void)state;
  enum { H = DQ_BLK_HEADING, P = DQ_BLK_PARA };
  const char en[] = "Chapter 3: covers the basics of setting up the database server.\n\n"
                    "Part 1: install the package with apt.\n\n"
                    "Volume II. The volume knob on the amplifier was turned to eleven.\n\n"
                    "BOOK DVD\n\nLetter C\n\n"
                    "Chapter 1\n\nChapter 2\n\nChapter 1\n\nIt was a dark night.\n\n"
                    "CHAPTER ONE\n\nOne.\n\nChapter Two: The Frost\n\nTwo.\n\nII.\n\nThree.\n\n"
                    "I. A SCANDAL IN BOHEMIA\n\nFour.\n\nEpilogue\n\nFive.\n\n"
                    "CHAPTER 56. Of the Less Erroneous Pictures of Whales, and the True\n"
                    "Pictures of Whaling Scenes.\n\nText.";
  dq_doc *d;
  assert_int_equal(dq_load_buffer("book.txt", en, sizeof en - 1, DQ_FMT_TEXT, &d), 0);
  const char *long_title = "CHAPTER 56. Of the Less Erroneous Pictures of Whales, and the True Pictures of Whaling Scenes.";
  const int ek[] = {P, P, P, P, P, P, P, H, P, H, P, H, P, H, P, H, P, H, P, H, P};
  const char *et[] = {"Chapter 3: covers the basics of setting up the database server.",
                      "Part 1: install the package with apt.",
                      "Volume II. The volume knob on the amplifier was turned to eleven.", "BOOK DVD", "Letter C",
                      "Chapter 1", "Chapter 2", "Chapter 1", "It was a dark night.", "CHAPTER ONE", "One.",
                      "Chapter Two: The Frost", "Two.", "II.", "Three.", "I. A SCANDAL IN BOHEMIA", "Four.",
                      "Epilogue", "Five.",
                      "CHAPTER 56. Of the Less Erroneous Pictures of Whales, and the True\nPictures of Whaling Scenes.",
                      "Text."};
  const char *es[] = {"", "", "", "", "", "", "", "Chapter 1", "Chapter 1", "CHAPTER ONE", "CHAPTER ONE",
                      "Chapter Two: The Frost", "Chapter Two: The Frost", "II.", "II.", "I. A SCANDAL IN BOHEMIA",
                      "I. A SCANDAL IN BOHEMIA", "Epilogue", "Epilogue", long_title, long_title};
  expect_blocks(d, ek, et, es, 21);
  dq_doc_free(d);

  const char zh[] = "第三章 讲的是如何安装这个工具。\n\n第1集 的剧情很精彩。\n\n"
                    "第一回 甲\n第二回 乙\n序言正文。\n\n"
                    "第一卷\n第一回 甲\n正文一。\n\n第四章：风起\n正文四。";
  assert_int_equal(dq_load_buffer("书.txt", zh, sizeof zh - 1, DQ_FMT_TEXT, &d), 0);
  const int zk[] = {P, P, P, H, H, P, H, P};
  const char *zt[] = {"第三章 讲的是如何安装这个工具。", "第1集 的剧情很精彩。", "第一回 甲\n第二回 乙\n序言正文。",
                      "第一卷", "第一回 甲", "正文一。", "第四章：风起", "正文四。"};
  const char *zs[] = {"", "", "", "第一卷", "第一卷 > 第一回 甲", "第一卷 > 第一回 甲", "第一卷 > 第四章：风起",
                      "第一卷 > 第四章：风起"};
  expect_blocks(d, zk, zt, zs, 8);
  assert_int_equal(d->blocks[3].level, 1);
  assert_int_equal(d->blocks[4].level, 2);
  dq_doc_free(d);
}

static void test_indexer_loader__allocation_failures(void **state)
{
  (void)state;
  const char *md = "---\ntitle: T\ntags: [a, b]\n---\n# H\n\nText [[x|y]] \xFF here.\n\n```\ncode\n```\n";
  const char *html = "<title>T</title><h1>H</h1><p>a &amp; b</p><pre>x</pre>";
  const struct { const char *s; dq_format f; } in[] = {{md, DQ_FMT_MARKDOWN}, {html, DQ_FMT_HTML}, {"a\n\nb \xFF\n\n\xE7\xAC\xAC\xE4\xB8\x80\xE5\x9B\x9E x\ny\n\nChapter 2\n\nz", DQ_FMT_TEXT}};
  for (size_t c = 0; c < 3; c++) {
    int ok = 0;
    for (long k = 0; k < 200 && !ok; k++) {
      dq_doc *d = NULL;
      dq_mem_fail_after(k);
      int rc = dq_load_buffer("f", in[c].s, strlen(in[c].s), in[c].f, &d);
      dq_mem_fail_after(-1);
      if (rc == 0) { ok = 1; assert_true(d->n_blocks > 0); dq_doc_free(d); }
      else { assert_int_equal(rc, DOCQ_ENOMEM); assert_null(d); }
    }
    assert_true(ok);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_indexer_loader__format_from_path),
    cmocka_unit_test(test_indexer_loader__binary_detection),
    cmocka_unit_test(test_indexer_loader__binary_file_skipped),
    cmocka_unit_test(test_indexer_loader__utf16_skipped_with_remedy),
    cmocka_unit_test(test_indexer_loader__too_large),
    cmocka_unit_test(test_indexer_loader__missing_link_folder_fifo),
    cmocka_unit_test(test_indexer_loader__unknown_extension_needs_utf8),
    cmocka_unit_test(test_indexer_loader__repair_keeps_original_offsets),
    cmocka_unit_test(test_indexer_loader__repair_matches_normalize),
    cmocka_unit_test(test_indexer_loader__nul_bytes_repaired),
    cmocka_unit_test(test_indexer_loader__txt_paragraphs_and_lines),
    cmocka_unit_test(test_indexer_loader__txt_chapter_headings),
    cmocka_unit_test(test_indexer_loader__txt_chapter_layouts),
    cmocka_unit_test(test_indexer_loader__allocation_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
