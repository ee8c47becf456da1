/* The text a reader of rendered Markdown sees in a sentence (see
 * assemble.h, dq_md_visible).
 *
 * Why: the extractive answerer quotes sentences of Markdown files, and a
 * sentence such as "More details: [Typing Props](/guide/typescript/
 * composition-api#typing-component-props) <sup class="vt-badge ts" />" both
 * reads badly in a terminal and matched a question about typing props
 * through the words of its link target, which the reader never sees. So
 * the answerer scores and quotes the visible text: link text without its
 * target, no HTML tags or comments. Anything that does not parse as one of
 * those constructs is kept as written (a lone "[", "a < b"), so plain prose
 * passes through unchanged.
 *
 * Not indexer/load_md.c's dq_md_clean, which makes the text the vectors are
 * computed from: that one drops code marks, emphasis and line markers,
 * fine for terms but not for a quote a person reads. The two find code
 * spans alike (dq_md_code_end) and agree on links and tags, but do not
 * share that parsing yet; they should.
 *
 * Code spans (`Map<K, V>`, ``[a](b)``) are copied as written, backticks
 * and all (a run of more than 32 backticks opens none). Recognized
 * elsewhere, on one line each:
 *   [text](target) and ![alt](target)  -> text / alt (target may hold one
 *                                         level of parentheses: wiki URLs);
 *                                         with show_urls, "text (target)"
 *                                         for a short absolute URL (not
 *                                         for images)
 *   [text][ref]                         -> text
 *   [[page]], [[page|alias]], ![[page]] -> page / alias (Obsidian)
 *   <tag ...>, </tag>, <tag ... />      -> nothing (tag: a letter, then
 *                                         letters, digits, '-', ':', '.')
 *   <!-- comment -->                    -> nothing (may span lines)
 *   <https://...>                       -> the URL without the brackets
 *   "text](target)" with no '[' before   -> text (a passage cut inside a link)
 *   ":::tip" opening a line               -> nothing (container fences of
 *                                         VitePress, Docusaurus, pandoc)
 *   "> " and "> > " opening a line        -> nothing (quote markers; a
 *                                         rendered quote shows a bar)
 *   "[!note]", "[!tip]-" after them       -> nothing (an Obsidian callout's
 *                                         type: rendered as an icon; its
 *                                         title stays) */
#include "assemble/assemble.h"

#include <string.h>

#include "indexer/loader.h"

#define MAX_TAG 512 /* bytes of an HTML tag looked at; longer is not a tag */

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_alnum(unsigned char c) { return is_alpha(c) || (c >= '0' && c <= '9'); }

/* End (one past ']') of the bracketed text opening at s[i] == '[', when it
 * closes on the same line without nested brackets; 0 otherwise. */
static size_t close_bracket(const char *s, size_t n, size_t i)
{
  for (size_t k = i + 1; k < n; k++) {
    if (s[k] == ']') return k + 1;
    if (s[k] == '[' || s[k] == '\n') return 0;
  }
  return 0;
}

/* End (one past ')') of "(target)" opening at s[i] == '(': one line, one
 * level of nested parentheses; 0 otherwise. */
static size_t close_paren(const char *s, size_t n, size_t i)
{
  int depth = 0;
  for (size_t k = i; k < n; k++) {
    if (s[k] == '\n') return 0;
    if (s[k] == '(' && ++depth > 2) return 0;
    if (s[k] == ')' && --depth == 0) return k + 1;
  }
  return 0;
}

/* End of an HTML tag or comment opening at s[i] == '<', 0 when it is none.
 * *no_close: set once a comment was seen to have no "-->" after it, so the
 * next "<!--" does not search again (keeps "<!--<!--<!--..." linear). */
static size_t html_end(const char *s, size_t n, size_t i, int *no_close)
{
  if (n - i >= 4 && !memcmp(s + i, "<!--", 4)) {
    for (size_t k = i + 4; !*no_close && k + 3 <= n; k++)
      if (!memcmp(s + k, "-->", 3)) return k + 3;
    *no_close = 1;
    return 0;
  }
  size_t k = i + 1;
  if (k < n && s[k] == '/') k++;
  if (k >= n || !is_alpha((unsigned char)s[k])) return 0;
  while (k < n && (is_alnum((unsigned char)s[k]) || s[k] == '-' || s[k] == ':' || s[k] == '.')) k++;
  if (k < n && s[k] == '>') return k + 1;
  if (k + 1 < n && s[k] == '/' && s[k + 1] == '>') return k + 2;
  if (k >= n || (s[k] != ' ' && s[k] != '\t' && s[k] != '\n')) return 0;
  for (; k < n && k - i < MAX_TAG; k++) { /* attributes: up to '>', outside quotes */
    if (s[k] == '<') return 0;
    if (s[k] == '>') return k + 1;
    if (s[k] == '"' || s[k] == '\'') {
      const size_t room = MAX_TAG - (k - i) < n - k - 1 ? MAX_TAG - (k - i) : n - k - 1;
      const char *q = memchr(s + k + 1, s[k], room);
      if (!q) return 0;
      k = (size_t)(q - s);
    }
  }
  return 0;
}

/* An autolink "<scheme://...>" opening at s[i]: the end of the URL (the
 * '>' excluded), 0 when it is none. */
static size_t autolink_end(const char *s, size_t n, size_t i)
{
  size_t k = i + 1;
  while (k < n && is_alpha((unsigned char)s[k])) k++;
  if (k == i + 1 || n - k < 3 || memcmp(s + k, "://", 3)) return 0;
  for (k += 3; k < n; k++) {
    if (s[k] == '>') return k;
    if (s[k] == ' ' || s[k] == '\n' || s[k] == '<') return 0;
  }
  return 0;
}

/* 1 when target[0..n) is an absolute web or mail address short enough to
 * show beside its link text (a reader may have asked where to download
 * something; a 2 KB playground URL with its state in base64 is no answer). */
static int short_url(const char *t, size_t n)
{
  if (n > DQ_MD_SHOW_URL_MAX) return 0;
  return (n > 8 && !memcmp(t, "https://", 8)) || (n > 7 && !memcmp(t, "http://", 7)) ||
         (n > 7 && !memcmp(t, "mailto:", 7));
}

/* Length of a fence ("```", "~~~~", ...) opening the line at s[i] after at
 * most 3 spaces, 0 when the line has none; *ch gets its character. */
static size_t fence_at(const char *s, size_t n, size_t i, char *ch)
{
  size_t k = i;
  while (k < n && k - i < 3 && s[k] == ' ') k++;
  if (k >= n || (s[k] != '`' && s[k] != '~')) return 0;
  size_t m = 0;
  while (k + m < n && s[k + m] == s[k]) m++;
  *ch = s[k];
  return m >= 3 ? m : 0;
}

size_t dq_md_fences(const char *s, size_t n, size_t (*ranges)[2], size_t cap)
{
  size_t count = 0, open_at = 0, open_len = 0;
  char open_ch = 0;
  for (size_t i = 0; i < n;) {
    const char *nl = memchr(s + i, '\n', n - i);
    const size_t eol = nl ? (size_t)(nl - s) + 1 : n;
    char ch = 0;
    const size_t m = fence_at(s, n, i, &ch);
    if (!open_len && m) {
      open_at = i; open_len = m; open_ch = ch;
    } else if (open_len && m >= open_len && ch == open_ch) {
      size_t k = i;
      while (k < eol && s[k] != open_ch) k++;
      k += m;
      while (k < eol && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r' || s[k] == '\n')) k++;
      if (k == eol) { /* a closing fence: nothing else on its line */
        if (count < cap) { ranges[count][0] = open_at; ranges[count][1] = eol; }
        count++;
        open_len = 0;
      }
    }
    i = eol;
  }
  if (open_len) { /* unclosed: the block runs to the end */
    if (count < cap) { ranges[count][0] = open_at; ranges[count][1] = n; }
    count++;
  }
  return count;
}

/* End of the quote markers and callout type opening the line at s[i]
 * ("> ", "> > ", "> [!note]- "), or i when there are none. Up to 3 spaces
 * may come first, as CommonMark allows. */
static size_t quote_prefix(const char *s, size_t n, size_t i)
{
  size_t j = i, k = 0;
  while (k < 3 && j < n && s[j] == ' ') j++, k++;
  int quoted = 0;
  while (j < n && s[j] == '>') {
    quoted = 1;
    j++;
    while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
  }
  const size_t t = dq_md_callout_end(s, n, j);
  if (t > j) return t;
  return quoted ? j : i;
}

size_t dq_md_callout_end(const char *s, size_t n, size_t i)
{
  if (i + 2 >= n || s[i] != '[' || s[i + 1] != '!') return i;
  size_t e = i + 2;
  while (e < n && e - i < 40 && (is_alnum((unsigned char)s[e]) || s[e] == '-' || s[e] == '_')) e++;
  if (e == i + 2 || e >= n || s[e] != ']') return i;
  e++;
  if (e < n && (s[e] == '-' || s[e] == '+')) e++; /* folded / unfolded */
  while (e < n && (s[e] == ' ' || s[e] == '\t')) e++;
  return e;
}

size_t dq_md_visible(const char *s, size_t n, char *out, size_t *link_bytes, int show_urls)
{
  size_t o = 0, lb = 0;
  int no_close = 0;
  for (size_t i = 0; i < n;) {
    if (i == 0 || s[i - 1] == '\n') {
      const size_t e = quote_prefix(s, n, i);
      if (e > i) { i = e; continue; }
    }
    const char c = s[i];
    if (c == ':' && (i == 0 || s[i - 1] == '\n') && n - i >= 3 && !memcmp(s + i, ":::", 3)) {
      size_t e = i; /* a container fence, ":::tip", "::: warning" or ":::": no text of its own */
      while (e < n && s[e] == ':') e++;
      while (e < n && (s[e] == ' ' || s[e] == '\t')) e++;
      while (e < n && (is_alnum((unsigned char)s[e]) || s[e] == '-' || s[e] == '_')) e++;
      while (e < n && (s[e] == ' ' || s[e] == '\t')) e++;
      if (e < n && s[e] == '\n') e++; /* a fence line of its own goes whole */
      i = e;
      continue;
    }
    if (c == '`') {
      size_t e = dq_md_code_end(s, n, i);
      if (!e) { /* an unmatched run is literal backticks */
        e = i;
        while (e < n && s[e] == '`') e++;
      }
      memcpy(out + o, s + i, e - i);
      o += e - i;
      i = e;
      continue;
    }
    if (c == '<') {
      size_t e = autolink_end(s, n, i);
      if (e) { /* keep the URL, drop the brackets */
        memcpy(out + o, s + i + 1, e - i - 1);
        o += e - i - 1;
        i = e + 1;
        continue;
      }
      if ((e = html_end(s, n, i, &no_close))) { i = e; continue; }
    } else if (c == ']' && i + 1 < n && s[i + 1] == '(') {
      /* the end of a link whose '[' lies before this text (a passage that
       * starts inside a long link line): its target goes too */
      size_t e = close_paren(s, n, i + 1);
      if (e && !memchr(s + i + 1, ' ', e - i - 1)) { i = e; continue; }
    } else if (c == '[' || (c == '!' && i + 1 < n && s[i + 1] == '[')) {
      const size_t b = c == '!' ? i + 1 : i; /* the '[' */
      if (b + 1 < n && s[b + 1] == '[') { /* [[page]] or [[page|alias]] */
        const char *end = NULL;
        for (size_t k = b + 2; k + 1 < n && s[k] != '\n' && s[k] != '['; k++)
          if (s[k] == ']' && s[k + 1] == ']') { end = s + k; break; }
        if (end) {
          const char *from = s + b + 2, *bar = memchr(from, '|', (size_t)(end - from));
          if (bar) from = bar + 1;
          memcpy(out + o, from, (size_t)(end - from));
          o += (size_t)(end - from);
          lb += (size_t)(end - from);
          i = (size_t)(end - s) + 2;
          continue;
        }
      } else {
        size_t t = close_bracket(s, n, b), e = 0;
        if (t && t < n && s[t] == '(') e = close_paren(s, n, t);
        else if (t && t < n && s[t] == '[') e = close_bracket(s, n, t);
        if (e) { /* the link text, without its target */
          memcpy(out + o, s + b + 1, t - b - 2);
          o += t - b - 2;
          lb += t - b - 2;
          if (show_urls && c == '[' && s[t] == '(' && short_url(s + t + 1, e - t - 2)) { /* "text (url)": no longer than the source */
            out[o++] = ' ';
            memcpy(out + o, s + t, e - t);
            o += e - t;
          }
          i = e;
          continue;
        }
      }
    }
    out[o++] = c;
    i++;
  }
  if (link_bytes) *link_bytes = lb;
  return o;
}
