/* Tests for indexer/load_html.c: visible-text extraction, dropped elements
 * (script, style, nav, header, footer, noscript, svg), entities (named and
 * numeric, per the HTML Living Standard's character reference rules for the
 * cases handled), headings and section paths, <pre> as code, element byte
 * ranges and lines in the original file, and malformed markup. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/loader.h"
#include "indexer/normalize.h"

static dq_doc *load(const char *s)
{
  dq_doc *d = NULL;
  assert_int_equal(dq_load_buffer("page.html", s, strlen(s), DQ_FMT_HTML, &d), 0);
  for (size_t i = 0; i < d->n_blocks; i++) {
    const dq_block *b = &d->blocks[i];
    assert_true(b->src_start < b->src_end && b->src_end <= strlen(s));
    assert_true(dq_utf8_valid(b->text, b->text_len));
    assert_ptr_equal(b->clean, b->text);
    uint32_t line = 1;
    for (size_t k = 0; k < b->src_start; k++) line += s[k] == '\n';
    assert_int_equal(b->line_first, line);
    for (size_t k = b->src_start; k + 1 < b->src_end; k++) line += s[k] == '\n';
    assert_int_equal(b->line_last, line);
  }
  return d;
}

static void test_indexer_load_html__dropped_elements(void **state)
{
  (void)state;
  const char *s = "<!DOCTYPE html><html><head><title>The Page</title><style>p{x:1}</style>"
                  "<script>var a = '</p><p>not text';</script></head><body>"
                  "<header><p>Site header</p></header><nav><ul><li>Menu</li></ul><nav>inner</nav>still nav</nav>"
                  "<!-- a <p>comment</p> --><p>Visible one.</p><noscript>Enable JS</noscript>"
                  "<svg><text>svg text</text></svg><p>Visible two.</p><footer>Copyright</footer></body></html>";
  dq_doc *d = load(s);
  assert_string_equal(d->title, "The Page");
  assert_int_equal(d->n_blocks, 2);
  assert_string_equal(d->blocks[0].text, "Visible one.");
  assert_string_equal(d->blocks[1].text, "Visible two.");
  /* the range is the element, from its start tag to the end of its end tag */
  assert_memory_equal(s + d->blocks[0].src_start, "<p>Visible one.</p>", d->blocks[0].src_end - d->blocks[0].src_start);
  dq_doc_free(d);
}

static void test_indexer_load_html__entities(void **state)
{
  (void)state;
  dq_doc *d = load("<p>a &amp; b &lt;c&gt; &quot;q&quot; caf&eacute; caf&#233; caf&#xE9; &#x1F600; &nbsp;x&nbsp;y "
                   "&#0; &#xD800; &#99999999; &unknown; &amp AT&T &copy;2024&hellip;&shy;</p>");
  assert_int_equal(d->n_blocks, 1);
  assert_string_equal(d->blocks[0].text,
                      "a & b <c> \"q\" caf\xC3\xA9 caf\xC3\xA9 caf\xC3\xA9 \xF0\x9F\x98\x80 x y "
                      "\xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD &unknown; &amp AT&T \xC2\xA9" "2024\xE2\x80\xA6");
  dq_doc_free(d);
}

static void test_indexer_load_html__headings_sections_pre(void **state)
{
  (void)state;
  const char *s = "<body>\n<h1>Guide <small>v2</small></h1>\n<p>Intro\n   text   spread\nover lines.</p>\n"
                  "<h2 id=\"x\">Install</h2>\n<div>Line one<br>Line two</div>\n<pre>\n  indented\n    code &lt;x&gt;\n</pre>\n"
                  "<h3>Deep</h3><ul><li>one</li><li>two</li></ul><h2>Other</h2><table><tr><td>a</td><td>b</td></tr></table>\n</body>";
  dq_doc *d = load(s);
  assert_string_equal(d->title, "Guide v2"); /* no <title>: the first heading */
  const struct { dq_block_kind k; int level; const char *text, *section; } want[] = {
    {DQ_BLK_HEADING, 1, "Guide v2", "Guide v2"},
    {DQ_BLK_PARA, 0, "Intro text spread over lines.", "Guide v2"},
    {DQ_BLK_HEADING, 2, "Install", "Guide v2 > Install"},
    {DQ_BLK_PARA, 0, "Line one", "Guide v2 > Install"},
    {DQ_BLK_PARA, 0, "Line two", "Guide v2 > Install"},
    {DQ_BLK_CODE, 0, "  indented\n    code <x>", "Guide v2 > Install"},
    {DQ_BLK_HEADING, 3, "Deep", "Guide v2 > Install > Deep"},
    {DQ_BLK_PARA, 0, "one", "Guide v2 > Install > Deep"},
    {DQ_BLK_PARA, 0, "two", "Guide v2 > Install > Deep"},
    {DQ_BLK_HEADING, 2, "Other", "Guide v2 > Other"},
    {DQ_BLK_PARA, 0, "a", "Guide v2 > Other"},
    {DQ_BLK_PARA, 0, "b", "Guide v2 > Other"},
  };
  assert_int_equal(d->n_blocks, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < d->n_blocks; i++) {
    assert_int_equal(d->blocks[i].kind, want[i].k);
    assert_int_equal(d->blocks[i].level, want[i].level);
    assert_string_equal(d->blocks[i].text, want[i].text);
    assert_string_equal(d->blocks[i].section, want[i].section);
  }
  assert_int_equal(d->blocks[1].line_first, 3);
  assert_int_equal(d->blocks[1].line_last, 5);
  const dq_block *pre = &d->blocks[5];
  assert_memory_equal(s + pre->src_start, "<pre>", 5);
  assert_memory_equal(s + pre->src_end - 6, "</pre>", 6);
  dq_doc_free(d);
}

static void test_indexer_load_html__malformed(void **state)
{
  (void)state;
  dq_doc *d = load("<p title='a>b'>quoted > attr</p><p>1 < 2 and 3 <4</p><div>unclosed <b>bold<p>next");
  assert_int_equal(d->n_blocks, 4);
  assert_string_equal(d->blocks[0].text, "quoted > attr");
  assert_string_equal(d->blocks[1].text, "1 < 2 and 3 <4");
  assert_string_equal(d->blocks[2].text, "unclosed bold");
  assert_string_equal(d->blocks[3].text, "next");
  dq_doc_free(d);
  /* cut everywhere: never a crash, never text outside the input */
  const char *s = "<html><title>T &amp; U</title><script>x</script><h2>H</h2><p>P &#x41;<pre>a\nb</pre><!-- c -->";
  for (size_t n = 0; n <= strlen(s); n++) {
    dq_doc *e = NULL;
    assert_int_equal(dq_load_buffer(NULL, s, n, DQ_FMT_HTML, &e), 0);
    for (size_t i = 0; i < e->n_blocks; i++) assert_true(e->blocks[i].src_end <= n);
    dq_doc_free(e);
  }
  d = load("<title>  Spaced   &amp; title </title><h1>Heading</h1>");
  assert_string_equal(d->title, "Spaced & title");
  dq_doc_free(d);
}

/* A huge <h2> and <title>: the section path and the title are cut to a
 * label (every chunk stores its section), the heading block keeps its text. */
static void test_indexer_load_html__long_heading_capped(void **state)
{
  (void)state;
  const size_t reps = 50000;
  char *s = malloc(40 + 2 * reps * 8);
  assert_non_null(s);
  size_t n = 0;
  memcpy(s, "<title>", 7), n = 7;
  for (size_t i = 0; i < reps; i++, n += 8) memcpy(s + n, "heading ", 8);
  memcpy(s + n, "</title><h2>", 12), n += 12;
  for (size_t i = 0; i < reps; i++, n += 8) memcpy(s + n, "section ", 8);
  strcpy(s + n, "</h2><p>body</p>");
  dq_doc *d = load(s);
  assert_true(strlen(d->title) <= DQ_LABEL_MAX + 3);
  assert_int_equal(d->n_blocks, 2);
  assert_true(d->blocks[0].text_len >= reps * 8 - 1);
  assert_true(strlen(d->blocks[1].section) <= DQ_LABEL_MAX + 3);
  assert_string_equal(d->blocks[1].section + strlen(d->blocks[1].section) - 3, "\xE2\x80\xA6");
  dq_doc_free(d);
  free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_indexer_load_html__dropped_elements),
    cmocka_unit_test(test_indexer_load_html__entities),
    cmocka_unit_test(test_indexer_load_html__headings_sections_pre),
    cmocka_unit_test(test_indexer_load_html__malformed),
    cmocka_unit_test(test_indexer_load_html__long_heading_capped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
