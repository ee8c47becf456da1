/* Tests for engine/think.c, written from engine/think.h alone.
 *
 * A dq_think splits a reasoning model's streamed output into the text inside
 * a leading "<think>...</think>" block (on_reasoning, t->reasoning) and the
 * rest (on_answer, t->answer), dropping the tags and the whitespace right
 * after "</think>". Every case is checked on what each callback received
 * (concatenated) and on both buffers, for the text fed whole, in two and
 * three pieces split at every UTF-8 character boundary, and one character at
 * a time. Also: the streaming latency promise (nothing held back longer than
 * needed to tell a tag from text, at most 8 bytes), callback stop values from
 * feed and finish, NULL callbacks, dq_think_inside and allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docq.h"
#include "engine/think.h"
#include "util/mem.h"

/* ---- recording callbacks (fixed storage: no library allocation) ---- */

typedef struct rec {
  char s[8192];
  size_t len;
  int calls;
  int ret; /* what the callback returns */
} rec;

static int rec_cb(const char *utf8, size_t len, void *payload)
{
  rec *r = payload;
  assert_non_null(r);
  if (len) assert_non_null(utf8);
  assert_true(r->len + len < sizeof r->s);
  memcpy(r->s + r->len, utf8, len);
  r->len += len;
  r->s[r->len] = '\0';
  r->calls++;
  return r->ret;
}

typedef struct fx {
  dq_think t;
  rec r, a; /* reasoning, answer */
} fx;

static void fx_init(fx *f, int opened)
{
  /* A dq_think lives on the stack in real use: dq_think_init must set every
   * field, so start from garbage. */
  memset(&f->t, 0xA5, sizeof f->t);
  dq_think_init(&f->t, opened);
  memset(&f->r, 0, sizeof f->r);
  memset(&f->a, 0, sizeof f->a);
  f->t.on_reasoning = rec_cb;
  f->t.reasoning_payload = &f->r;
  f->t.on_answer = rec_cb;
  f->t.answer_payload = &f->a;
}

static int feed_str(fx *f, const char *s) { return dq_think_feed(&f->t, s, strlen(s)); }

/* A buffer's content as a NUL-terminated string (caller frees). */
static char *buf_str(const dq_buf *b)
{
  char *s = malloc(b->len + 1);
  assert_non_null(s);
  if (b->len) {
    assert_non_null(b->p);
    memcpy(s, b->p, b->len);
  }
  s[b->len] = '\0';
  return s;
}

/* Checks callbacks and buffers against the expected reasoning and answer. */
static void check_out(fx *f, const char *want_r, const char *want_a)
{
  char *br = buf_str(&f->t.reasoning), *ba = buf_str(&f->t.answer);
  assert_string_equal(f->r.s, want_r);
  assert_int_equal(f->r.len, strlen(want_r));
  assert_string_equal(f->a.s, want_a);
  assert_int_equal(f->a.len, strlen(want_a));
  assert_string_equal(br, want_r);
  assert_string_equal(ba, want_a);
  free(br);
  free(ba);
}

/* ---- split harness ---- */

typedef struct tcase {
  const char *name;
  int opened;
  const char *in;
  const char *want_r, *want_a;
  int want_inside; /* dq_think_inside after finish */
} tcase;

static int is_boundary(const char *s, size_t i) { return ((unsigned char)s[i] & 0xC0) != 0x80; }

static void show(const char *label, const char *s, size_t n)
{
  print_message("  %s: \"", label);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n') print_message("\\n");
    else if (c == '\r') print_message("\\r");
    else if (c == '\t') print_message("\\t");
    else print_message("%c", c);
  }
  print_message("\"\n");
}

/* Feeds c->in cut at cuts[0..ncuts-1] (increasing byte offsets), finishes and
 * compares; returns 1 when everything matches, printing a report otherwise. */
static int run_cuts(const tcase *c, const size_t *cuts, int ncuts, const char *how)
{
  fx f;
  size_t n = strlen(c->in), prev = 0;
  int ok = 1;
  fx_init(&f, c->opened);
  for (int i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : n;
    if (end > prev || (ncuts == 0 && n == 0)) {
      int rc = dq_think_feed(&f.t, c->in + prev, end - prev);
      if (rc != 0) ok = 0;
    }
    prev = end;
  }
  int frc = dq_think_finish(&f.t);
  if (frc != 0) ok = 0;
  int inside = dq_think_inside(&f.t);
  if (inside != c->want_inside) ok = 0;
  if (f.r.len != strlen(c->want_r) || memcmp(f.r.s, c->want_r, f.r.len)) ok = 0;
  if (f.a.len != strlen(c->want_a) || memcmp(f.a.s, c->want_a, f.a.len)) ok = 0;
  if (f.t.reasoning.len != strlen(c->want_r) ||
      (f.t.reasoning.len && memcmp(f.t.reasoning.p, c->want_r, f.t.reasoning.len)))
    ok = 0;
  if (f.t.answer.len != strlen(c->want_a) || (f.t.answer.len && memcmp(f.t.answer.p, c->want_a, f.t.answer.len)))
    ok = 0;
  if (!ok) {
    print_message("case \"%s\" (opened=%d) failed, fed %s, cuts:", c->name, c->opened, how);
    for (int i = 0; i < ncuts; i++) print_message(" %zu", cuts[i]);
    print_message("\n");
    show("input", c->in, n);
    show("want reasoning", c->want_r, strlen(c->want_r));
    show("got  on_reasoning", f.r.s, f.r.len);
    show("got  t->reasoning", f.t.reasoning.len ? f.t.reasoning.p : "", f.t.reasoning.len);
    show("want answer", c->want_a, strlen(c->want_a));
    show("got  on_answer", f.a.s, f.a.len);
    show("got  t->answer", f.t.answer.len ? f.t.answer.p : "", f.t.answer.len);
    print_message("  inside: want %d got %d; finish returned %d\n", c->want_inside, inside, frc);
  }
  dq_think_free(&f.t);
  return ok;
}

/* Whole, every 2-piece and 3-piece split at character boundaries, and one
 * character at a time. Returns the number of failing feedings. */
static int run_all_splits(const tcase *c)
{
  size_t n = strlen(c->in);
  int bad = 0;
  size_t cuts[4096] = {0};
  bad += !run_cuts(c, cuts, 0, "whole");
  for (size_t i = 1; i < n; i++) {
    if (!is_boundary(c->in, i)) continue;
    cuts[0] = i;
    bad += !run_cuts(c, cuts, 1, "in 2 pieces");
    for (size_t j = i + 1; j < n; j++) {
      if (!is_boundary(c->in, j)) continue;
      cuts[1] = j;
      bad += !run_cuts(c, cuts, 2, "in 3 pieces");
    }
  }
  int k = 0;
  for (size_t i = 1; i < n; i++)
    if (is_boundary(c->in, i)) cuts[k++] = i;
  bad += !run_cuts(c, cuts, k, "a character at a time");
  return bad;
}

static void run_table(const tcase *cases, size_t ncases)
{
  int bad = 0;
  for (size_t i = 0; i < ncases; i++) {
    int b = run_all_splits(&cases[i]);
    if (b) print_message("case \"%s\": %d failing feedings\n", cases[i].name, b);
    bad += b;
  }
  assert_int_equal(bad, 0);
}

/* ---- tests ---- */

/* No block (opened=0): everything is answer, verbatim, leading whitespace
 * included; tags that are not a complete "<think>" at the start are text. */
static void test_engine_think__plain_answer(void **state)
{
  (void)state;
  static const tcase cases[] = {
    {"plain", 0, "The answer is 42.", "", "The answer is 42.", 0},
    {"leading whitespace kept", 0, "\n\n  The answer is 42.\n", "", "\n\n  The answer is 42.\n", 0},
    {"chinese", 0, "答案是四十二。", "", "答案是四十二。", 0},
    {"lt inside", 0, "a < b and b <= c, x<y", "", "a < b and b <= c, x<y", 0},
    {"think later is text", 0, "Answer: <think>not a block</think> end", "",
     "Answer: <think>not a block</think> end", 0},
    {"think after ws and text", 0, "  \n答案是四十二。 <think>推理</think>\n\n end", "",
     "  \n答案是四十二。 <think>推理</think>\n\n end", 0},
    {"close tag without block", 0, "</think>\n\nabc", "", "</think>\n\nabc", 0},
    {"whitespace only", 0, " \n\t \n", "", " \n\t \n", 0},
  };
  run_table(cases, sizeof cases / sizeof cases[0]);
}

/* A block at the start then the answer: reasoning exact (only the tags are
 * dropped, whitespace inside the block kept), whitespace after "</think>"
 * dropped, whitespace later in the answer kept. */
static void test_engine_think__block_then_answer(void **state)
{
  (void)state;
  static const tcase cases[] = {
    {"r1 style", 0, "<think>\nLet me compute 6*7.\n</think>\n\nThe answer is 42.", "\nLet me compute 6*7.\n",
     "The answer is 42.", 0},
    {"chinese", 0, "<think>\n推理：六乘以七等于四十二。\n</think>\n\n答案是四十二。",
     "\n推理：六乘以七等于四十二。\n", "答案是四十二。", 0},
    {"no whitespace", 0, "<think>推理</think>答案是四十二。", "推理", "答案是四十二。", 0},
    {"all whitespace kinds after close", 0, "<think>r</think> \t\r\n \n答案", "r", "答案", 0},
    {"inner answer whitespace kept", 0, "<think>a</think>   \n  b  \n c\n", "a", "b  \n c\n", 0},
    {"empty block", 0, "<think></think>answer", "", "answer", 0},
    {"whitespace-only block", 0, "<think>\n\n</think>\n\nHi", "\n\n", "Hi", 0},
    {"whitespace-only answer", 0, "<think>\n推理\n</think>\n\n \n", "\n推理\n", "", 0},
    {"block only", 0, "<think>r</think>", "r", "", 0},
    {"lt in reasoning", 0, "<think>a<b, c</d, e</thinking> f<</think>x", "a<b, c</d, e</thinking> f<", "x", 0},
    {"nested open tag is reasoning", 0, "<think><think>x</think>y", "<think>x", "y", 0},
    {"partial closes", 0, "<think>x</think </thin </</think>y", "x</think </thin </", "y", 0},
  };
  run_table(cases, sizeof cases / sizeof cases[0]);
}

/* opened=1: the text starts inside the block; only "</think>" appears. */
static void test_engine_think__opened_by_prompt(void **state)
{
  (void)state;
  static const tcase cases[] = {
    {"qwen3 style", 1, "\nOkay, 6*7 is 42.\n</think>\n\nThe answer is 42.", "\nOkay, 6*7 is 42.\n",
     "The answer is 42.", 0},
    {"chinese", 1, "推理 a<b, x </thinking> y\n</think>\n\n答案是四十二。", "推理 a<b, x </thinking> y\n",
     "答案是四十二。", 0},
    {"close at once", 1, "</think>\n\nanswer", "", "answer", 0},
    {"close only", 1, "</think>", "", "", 0},
    {"second close is answer", 1, "</think></think>", "", "</think>", 0},
    {"lt before close", 1, "a<</think>b", "a<", "b", 0},
    {"lt slash before close", 1, "a</</think>b", "a</", "b", 0},
    {"whitespace-only answer", 1, "推理</think>\n \t\r\n", "推理", "", 0},
    {"open tag inside is reasoning", 1, "<think>x</think>y", "<think>x", "y", 0},
    {"unclosed", 1, "推理 and more", "推理 and more", "", 1},
    {"empty", 1, "", "", "", 1},
  };
  run_table(cases, sizeof cases / sizeof cases[0]);
}

/* After the block closed, tags are answer text. */
static void test_engine_think__tags_after_close_are_answer(void **state)
{
  (void)state;
  static const tcase cases[] = {
    {"both tags later", 0, "<think>推理</think>答案 </think> <think> x", "推理", "答案 </think> <think> x", 0},
    {"lt in answer", 0, "<think>r</think>\n\na<b<</think", "r", "a<b<</think", 0},
    {"second block is answer", 0, "<think>a</think>\n<think>b</think>\nc", "a", "<think>b</think>\nc", 0},
    {"opened, later tags", 1, "r</think>\n\n答案<think>推理</think>", "r", "答案<think>推理</think>", 0},
  };
  run_table(cases, sizeof cases / sizeof cases[0]);
}

/* Text that starts like "<think>" but is not it goes to the answer verbatim,
 * including a prefix cut short by the end of the text. */
static void test_engine_think__false_starts(void **state)
{
  (void)state;
  static const tcase cases[] = {
    {"thing", 0, "<thing>答案</thing>", "", "<thing>答案</thing>", 0},
    {"this", 0, "<this is it>", "", "<this is it>", 0},
    {"thinking", 0, "<thinking>x</thinking>", "", "<thinking>x</thinking>", 0},
    {"think without gt", 0, "<think x>y", "", "<think x>y", 0},
    {"double lt", 0, "<<think>x</think>", "", "<<think>x</think>", 0},
    {"lt alone", 0, "<", "", "<", 0},
    {"prefix at end", 0, "<thi", "", "<thi", 0},
    {"full prefix at end", 0, "<think", "", "<think", 0},
    {"ws then prefix at end", 0, "\n<thi", "", "\n<thi", 0},
    {"lt then text", 0, "<b>bold</b>", "", "<b>bold</b>", 0},
  };
  run_table(cases, sizeof cases / sizeof cases[0]);
}

/* Empty text, an open tag only, and a block left unclosed at the end. */
static void test_engine_think__empty_and_unclosed(void **state)
{
  (void)state;
  static const tcase cases[] = {
    {"empty", 0, "", "", "", 0},
    {"open tag only", 0, "<think>", "", "", 1},
    {"unclosed", 0, "<think>\n推理：还没想完", "\n推理：还没想完", "", 1},
    {"unclosed with partial close", 0, "<think>推理 </thi", "推理 </thi", "", 1},
    {"unclosed ending in lt", 0, "<think>x<", "x<", "", 1},
    {"unclosed ending in full close minus gt", 0, "<think>x</think", "x</think", "", 1},
    {"opened unclosed partial close", 1, "reasoning </thi", "reasoning </thi", "", 1},
  };
  run_table(cases, sizeof cases / sizeof cases[0]);

  /* finish with nothing fed at all (no dq_think_feed call). */
  fx f;
  fx_init(&f, 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  assert_int_equal(dq_think_finish(&f.t), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  check_out(&f, "", "");
  dq_think_free(&f.t);

  fx_init(&f, 1);
  assert_int_equal(dq_think_inside(&f.t), 1);
  assert_int_equal(dq_think_finish(&f.t), 0);
  assert_int_equal(dq_think_inside(&f.t), 1);
  check_out(&f, "", "");
  dq_think_free(&f.t);

  /* "<thi" then finish: not a complete "<think>", so answer. */
  fx_init(&f, 0);
  assert_int_equal(feed_str(&f, "<thi"), 0);
  assert_int_equal(dq_think_finish(&f.t), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  check_out(&f, "", "<thi");
  dq_think_free(&f.t);

  /* Unclosed: trailing "</thi" stays reasoning, inside after finish. */
  fx_init(&f, 0);
  assert_int_equal(feed_str(&f, "<think>"), 0);
  assert_int_equal(feed_str(&f, "推理"), 0);
  assert_int_equal(feed_str(&f, "</thi"), 0);
  assert_int_equal(dq_think_finish(&f.t), 0);
  assert_int_equal(dq_think_inside(&f.t), 1);
  check_out(&f, "推理</thi", "");
  dq_think_free(&f.t);
}

/* Whitespace before "<think>" at the very start: the block is recognized
 * (reasoning exact). The header does not say whether that leading whitespace
 * is dropped or goes to the answer, so either is accepted. */
static void test_engine_think__whitespace_before_block(void **state)
{
  (void)state;
  static const char *in = "\n \n<think>\n推理\n</think>\n\n答案是四十二。";
  size_t n = strlen(in);
  for (size_t i = 0; i <= n; i++) {
    if (i < n && !is_boundary(in, i)) continue;
    fx f;
    fx_init(&f, 0);
    if (i > 0) assert_int_equal(dq_think_feed(&f.t, in, i), 0);
    if (i < n) assert_int_equal(dq_think_feed(&f.t, in + i, n - i), 0);
    assert_int_equal(dq_think_finish(&f.t), 0);
    assert_int_equal(dq_think_inside(&f.t), 0);
    /* the whitespace before the block goes with the block's tags */
    if (strcmp(f.a.s, "答案是四十二。") != 0) {
      print_message("split at %zu: answer \"%s\"\n", i, f.a.s);
      fail();
    }
    char *ba = buf_str(&f.t.answer);
    assert_string_equal(ba, f.a.s);
    free(ba);
    check_out(&f, "\n推理\n", f.a.s);
    dq_think_free(&f.t);
  }
}

/* Streaming: after each feed, the callbacks already have everything that can
 * be told apart from a tag; at most a possible tag prefix is held back. */
static void test_engine_think__streaming_latency(void **state)
{
  (void)state;
  fx f;
  char big[101];
  memset(big, 'x', 100);
  for (int i = 0; i < 100; i += 10) big[i] = ' ';
  big[100] = '\0';

  /* opened=1: a long reasoning piece without '<' is delivered at once. */
  fx_init(&f, 1);
  assert_int_equal(dq_think_inside(&f.t), 1);
  assert_int_equal(feed_str(&f, big), 0);
  assert_int_equal(f.r.len, 100);
  assert_memory_equal(f.r.s, big, 100);
  assert_int_equal(f.a.len, 0);
  /* A possible "</think>" prefix is held, the text before it is not. */
  assert_int_equal(feed_str(&f, "abc</thi"), 0);
  assert_int_equal(f.r.len, 103);
  assert_memory_equal(f.r.s + 100, "abc", 3);
  assert_int_equal(feed_str(&f, "nk>"), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  assert_int_equal(f.r.len, 103);
  assert_int_equal(feed_str(&f, "\n\n"), 0);
  assert_int_equal(f.a.len, 0);
  assert_int_equal(feed_str(&f, "The answer is 42."), 0);
  assert_string_equal(f.a.s, "The answer is 42.");
  /* In the answer no tag is recognized, so nothing needs holding back. */
  assert_int_equal(feed_str(&f, " 1 < 2 </thi"), 0);
  assert_string_equal(f.a.s, "The answer is 42. 1 < 2 </thi");
  assert_int_equal(dq_think_finish(&f.t), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  big[100] = '\0';
  {
    char want_r[128];
    snprintf(want_r, sizeof want_r, "%sabc", big);
    check_out(&f, want_r, "The answer is 42. 1 < 2 </thi");
  }
  dq_think_free(&f.t);

  /* opened=0: a block, 99 bytes of Chinese reasoning, then an answer. */
  static const char *zh33 = "推理推理推理推理推理推理推理推理推理推理推理推理推理推理推理推理推";
  assert_int_equal(strlen(zh33), 99);
  fx_init(&f, 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  assert_int_equal(feed_str(&f, "<think>"), 0);
  assert_int_equal(dq_think_inside(&f.t), 1);
  assert_int_equal(f.r.len + f.a.len, 0);
  assert_int_equal(feed_str(&f, zh33), 0);
  assert_string_equal(f.r.s, zh33);
  assert_int_equal(feed_str(&f, "</think>"), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  assert_int_equal(feed_str(&f, "\n\n答案"), 0);
  assert_string_equal(f.a.s, "答案");
  assert_int_equal(feed_str(&f, "是四十二。"), 0);
  assert_string_equal(f.a.s, "答案是四十二。");
  assert_int_equal(dq_think_finish(&f.t), 0);
  check_out(&f, zh33, "答案是四十二。");
  dq_think_free(&f.t);

  /* opened=0, a false start: held while it could be "<think>", delivered as
   * soon as it cannot. */
  fx_init(&f, 0);
  assert_int_equal(feed_str(&f, "<th"), 0);
  assert_int_equal(f.r.len + f.a.len, 0);
  assert_int_equal(feed_str(&f, "is is"), 0);
  assert_string_equal(f.a.s, "<this is");
  assert_int_equal(f.r.len, 0);
  assert_int_equal(feed_str(&f, " fine"), 0);
  assert_string_equal(f.a.s, "<this is fine");
  assert_int_equal(dq_think_finish(&f.t), 0);
  check_out(&f, "", "<this is fine");
  dq_think_free(&f.t);

  /* opened=0, leading whitespace then text: all delivered once decided. */
  fx_init(&f, 0);
  assert_int_equal(feed_str(&f, "\n\n"), 0);
  assert_int_equal(f.r.len, 0);
  assert_int_equal(feed_str(&f, "Hello"), 0);
  assert_string_equal(f.a.s, "\n\nHello");
  assert_int_equal(dq_think_finish(&f.t), 0);
  check_out(&f, "", "\n\nHello");
  dq_think_free(&f.t);

  /* opened=0, text that cannot start a tag goes out at once. */
  fx_init(&f, 0);
  assert_int_equal(feed_str(&f, "Hi"), 0);
  assert_string_equal(f.a.s, "Hi");
  assert_int_equal(feed_str(&f, " <think>"), 0);
  assert_string_equal(f.a.s, "Hi <think>");
  assert_int_equal(dq_think_finish(&f.t), 0);
  check_out(&f, "", "Hi <think>");
  dq_think_free(&f.t);
}

/* A callback's non-zero return is returned by feed and finish. */
static void test_engine_think__callback_stop(void **state)
{
  (void)state;
  fx f;

  /* on_reasoning stops a feed. */
  fx_init(&f, 1);
  f.r.ret = 7;
  assert_int_equal(feed_str(&f, "abc"), 7);
  assert_true(f.r.calls >= 1);
  dq_think_free(&f.t);

  fx_init(&f, 0);
  f.r.ret = 6;
  assert_int_equal(feed_str(&f, "<think>推理"), 6);
  dq_think_free(&f.t);

  /* on_answer stops a feed. */
  fx_init(&f, 1);
  assert_int_equal(feed_str(&f, "r</think>\n"), 0);
  f.a.ret = 5;
  assert_int_equal(feed_str(&f, "ans"), 5);
  assert_true(f.a.calls >= 1);
  dq_think_free(&f.t);

  fx_init(&f, 0);
  f.a.ret = -3;
  assert_int_equal(feed_str(&f, "plain answer"), -3);
  dq_think_free(&f.t);

  /* One feed reaching on_reasoning first, which stops. */
  fx_init(&f, 1);
  f.r.ret = 4;
  assert_int_equal(feed_str(&f, "r</think>a"), 4);
  dq_think_free(&f.t);

  /* One feed where only on_answer stops. */
  fx_init(&f, 1);
  f.a.ret = 8;
  assert_int_equal(feed_str(&f, "r</think>a"), 8);
  dq_think_free(&f.t);

  /* finish delivering held-back reasoning ("</th" of an unclosed block). */
  fx_init(&f, 1);
  assert_int_equal(feed_str(&f, "x</th"), 0);
  f.r.ret = 3;
  assert_int_equal(dq_think_finish(&f.t), 3);
  assert_int_equal(dq_think_inside(&f.t), 1);
  dq_think_free(&f.t);

  /* finish delivering a held-back false start as answer. */
  fx_init(&f, 0);
  assert_int_equal(feed_str(&f, "<thi"), 0);
  assert_int_equal(f.a.len, 0);
  f.a.ret = 9;
  assert_int_equal(dq_think_finish(&f.t), 9);
  dq_think_free(&f.t);
}

/* NULL callbacks: the buffers are still filled. */
static void test_engine_think__null_callbacks(void **state)
{
  (void)state;
  static const struct {
    int opened;
    const char *pieces[6];
    const char *want_r, *want_a;
    int inside;
  } cases[] = {
    {0, {"<thi", "nk>\n推", "理\n</th", "ink>\n", "\n答案是四十二。", NULL}, "\n推理\n", "答案是四十二。", 0},
    {1, {"推理 a<b", "</think>", " \n", "answer </think>", NULL}, "推理 a<b", "answer </think>", 0},
    {0, {"  plain ", "<think>", NULL}, "", "  plain <think>", 0},
    {0, {"<think>", "unclosed </th", NULL}, "unclosed </th", "", 1},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (int which = 0; which < 3; which++) { /* both NULL, reasoning NULL, answer NULL */
      fx f;
      fx_init(&f, cases[c].opened);
      if (which != 2) {
        f.t.on_reasoning = NULL;
        f.t.reasoning_payload = NULL;
      }
      if (which != 1) {
        f.t.on_answer = NULL;
        f.t.answer_payload = NULL;
      }
      for (int i = 0; cases[c].pieces[i]; i++) assert_int_equal(feed_str(&f, cases[c].pieces[i]), 0);
      assert_int_equal(dq_think_finish(&f.t), 0);
      assert_int_equal(dq_think_inside(&f.t), cases[c].inside);
      char *br = buf_str(&f.t.reasoning), *ba = buf_str(&f.t.answer);
      assert_string_equal(br, cases[c].want_r);
      assert_string_equal(ba, cases[c].want_a);
      /* which 1: only on_answer set; which 2: only on_reasoning set. */
      if (which == 2) assert_string_equal(f.r.s, cases[c].want_r);
      else assert_int_equal(f.r.len, 0);
      if (which == 1) assert_string_equal(f.a.s, cases[c].want_a);
      else assert_int_equal(f.a.len, 0);
      free(br);
      free(ba);
      dq_think_free(&f.t);
    }
  }
}

/* dq_think_inside through a stream. */
static void test_engine_think__inside_transitions(void **state)
{
  (void)state;
  fx f;
  fx_init(&f, 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  assert_int_equal(feed_str(&f, "<think>"), 0);
  assert_int_equal(dq_think_inside(&f.t), 1);
  assert_int_equal(feed_str(&f, "r"), 0);
  assert_int_equal(dq_think_inside(&f.t), 1);
  assert_int_equal(feed_str(&f, "</think>"), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  assert_int_equal(feed_str(&f, "a"), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  assert_int_equal(feed_str(&f, "<think>"), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  assert_int_equal(dq_think_finish(&f.t), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  check_out(&f, "r", "a<think>");
  dq_think_free(&f.t);

  fx_init(&f, 0);
  assert_int_equal(feed_str(&f, "answer"), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  assert_int_equal(dq_think_finish(&f.t), 0);
  assert_int_equal(dq_think_inside(&f.t), 0);
  check_out(&f, "", "answer");
  dq_think_free(&f.t);
}

/* Allocation failure: DOCQ_ENOMEM is returned, nothing leaks, and with
 * enough allocations the result is right. */
static void test_engine_think__out_of_memory(void **state)
{
  (void)state;
  fx f;

  /* The very first allocation (storing the reasoning) fails. */
  fx_init(&f, 1);
  dq_mem_fail_after(0);
  int rc = feed_str(&f, "hello");
  dq_mem_fail_after(-1);
  assert_int_equal(rc, DOCQ_ENOMEM);
  dq_think_free(&f.t);

  fx_init(&f, 0);
  dq_mem_fail_after(0);
  rc = feed_str(&f, "answer");
  if (rc == 0) rc = dq_think_finish(&f.t);
  dq_mem_fail_after(-1);
  assert_int_equal(rc, DOCQ_ENOMEM);
  dq_think_free(&f.t);

  static const char *pieces[] = {"<thi", "nk>\n推理", "推理推理推理推理推理推理推理推理推理推理推理推理推理推理推理推理推理推理推理推理",
                                 "\n</think>\n", "\n答案是四十二。", "答案是四十二。答案是四十二。答案是四十二。答案是四十二。", NULL};
  int succeeded = 0;
  for (long k = 0; k < 200 && !succeeded; k++) {
    fx_init(&f, 0);
    dq_mem_fail_after(k);
    rc = 0;
    for (int i = 0; pieces[i] && rc == 0; i++) rc = feed_str(&f, pieces[i]);
    if (rc == 0) rc = dq_think_finish(&f.t);
    dq_mem_fail_after(-1);
    assert_true(rc == 0 || rc == DOCQ_ENOMEM);
    if (rc == 0) {
      succeeded = 1;
      char want_r[512], want_a[512];
      snprintf(want_r, sizeof want_r, "\n推理%s\n", pieces[2]);
      snprintf(want_a, sizeof want_a, "答案是四十二。%s", pieces[5]);
      check_out(&f, want_r, want_a);
    }
    dq_think_free(&f.t);
  }
  assert_true(succeeded);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_engine_think__plain_answer),
    cmocka_unit_test(test_engine_think__block_then_answer),
    cmocka_unit_test(test_engine_think__opened_by_prompt),
    cmocka_unit_test(test_engine_think__tags_after_close_are_answer),
    cmocka_unit_test(test_engine_think__false_starts),
    cmocka_unit_test(test_engine_think__empty_and_unclosed),
    cmocka_unit_test(test_engine_think__whitespace_before_block),
    cmocka_unit_test(test_engine_think__streaming_latency),
    cmocka_unit_test(test_engine_think__callback_stop),
    cmocka_unit_test(test_engine_think__null_callbacks),
    cmocka_unit_test(test_engine_think__inside_transitions),
    cmocka_unit_test(test_engine_think__out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
