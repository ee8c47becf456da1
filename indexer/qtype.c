/* Expected answer types of English questions (see qtype.h).
 *
 * The oldest trick of factoid QA (the TREC QA systems of 1999-2003, e.g.
 * Moldovan et al., "The structure and performance of an open-domain question
 * answering system", ACL 2000): a "when" question is answered by a sentence
 * holding a date, a "how many" question by one holding a number, a "who"
 * question by one naming someone the question does not. Lexical overlap alone
 * prefers the sentence that repeats the question, which often lacks the
 * answer. Only what plain text shows is used: digits, month names, number
 * words, capitalized words; no tagger. Questions in other languages get
 * DQ_QT_NONE.
 */
#include "indexer/qtype.h"

#include <string.h>

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }

/* Case-insensitive: does the ASCII word w[0..n) equal lower-case k? */
static int word_is(const char *w, size_t n, const char *k)
{
  size_t kl = strlen(k);
  if (kl != n) return 0;
  for (size_t i = 0; i < n; i++)
    if ((w[i] | 0x20) != k[i]) return 0;
  return 1;
}

static int word_in(const char *w, size_t n, const char *const *list)
{
  for (size_t i = 0; list[i]; i++)
    if (word_is(w, n, list[i])) return 1;
  return 0;
}

/* The i-th ASCII word of s (letters only): start and length, or 0. */
static int nth_word(const char *s, int i, const char **w, size_t *n)
{
  const unsigned char *p = (const unsigned char *)s;
  int k = 0;
  while (*p) {
    while (*p && !is_alpha(*p)) p++;
    if (!*p) return 0;
    const unsigned char *b = p;
    while (is_alpha(*p)) p++;
    if (k++ == i) {
      *w = (const char *)b;
      *n = (size_t)(p - b);
      return 1;
    }
  }
  return 0;
}

int dq_qtype(const char *question)
{
  static const char *const quantity[] = {"many", "much", "long", "old", "far", "large", "big", "tall",
                                         "high", "often", "fast", NULL};
  static const char *const unit[] = {"year", "years", "century", "decade", "date", "day", "month", NULL};
  static const char *const count[] = {"percentage", "percent", "number", "amount", "population", NULL};
  /* "what city ...", "which language ...": answered by a capitalized name */
  static const char *const named[] = {"name", "city", "country", "state", "team", "company", "language", "university",
                                      "school", "church", "river", "island", "county", "province", "nation", "group",
                                      "organization", "party", "king", "president", "player", "author", "band", NULL};
  const char *w, *w2 = NULL;
  size_t n, n2 = 0;
  for (const unsigned char *p = (const unsigned char *)question; *p; p++)
    if (*p >= 0x80) return DQ_QT_NONE; /* English questions only */
  /* the wh-word opens the question, or follows a preposition ("In what year") */
  for (int i = 0; i < 3 && nth_word(question, i, &w, &n); i++) {
    int has_next = nth_word(question, i + 1, &w2, &n2);
    if (word_is(w, n, "when")) return DQ_QT_TIME;
    if (word_is(w, n, "who") || word_is(w, n, "whom") || word_is(w, n, "whose")) return DQ_QT_NAME;
    if (word_is(w, n, "how") && has_next && word_in(w2, n2, quantity)) return DQ_QT_NUMBER;
    if ((word_is(w, n, "what") || word_is(w, n, "which")) && has_next) {
      if (word_in(w2, n2, unit)) return DQ_QT_TIME;
      if (word_in(w2, n2, count)) return DQ_QT_NUMBER;
      if (word_in(w2, n2, named)) return DQ_QT_NAME;
    }
  }
  return DQ_QT_NONE;
}

int dq_qtype_match(int qt, const char *s, size_t n, dq_in_question_fn in_question, void *ctx)
{
  static const char *const months[] = {"january", "february", "march", "april", "may", "june", "july",
                                       "august", "september", "october", "november", "december", NULL};
  static const char *const numbers[] = {"one", "two", "three", "four", "five", "six", "seven", "eight",
                                        "nine", "ten", "eleven", "twelve", "twenty", "thirty", "forty",
                                        "fifty", "hundred", "thousand", "million", "billion", "dozen", NULL};
  if (qt == DQ_QT_NONE) return 0;
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  int first = 1;
  while (i < n) {
    if (is_digit(p[i])) {
      size_t b = i;
      while (i < n && is_digit(p[i])) i++;
      if (qt == DQ_QT_NUMBER) return 1;
      if (qt == DQ_QT_TIME && i - b >= 3 && i - b <= 4) return 1; /* a year */
      first = 0;
      continue;
    }
    if (!is_alpha(p[i])) { i++; continue; }
    size_t b = i;
    while (i < n && is_alpha(p[i])) i++;
    const char *w = s + b;
    size_t wl = i - b;
    if (qt == DQ_QT_TIME && is_upper(p[b]) && word_in(w, wl, months)) return 1;
    if (qt == DQ_QT_NUMBER && word_in(w, wl, numbers)) return 1;
    /* a capitalized word the question does not have, past the sentence's first */
    if (qt == DQ_QT_NAME && !first && is_upper(p[b]) && wl > 1 && !in_question(ctx, w, wl)) return 1;
    first = 0;
  }
  return 0;
}
