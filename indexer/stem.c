/* The Porter stemming algorithm for English (M.F. Porter, "An algorithm for
 * suffix stripping", Program 14(3), 1980), written from the paper's rules.
 *
 * Why: plain BM25 over unstemmed words misses "compression" for a question
 * about "compressed"; the usual FTS5 baseline (porter unicode61) stems, and
 * docq must beat it. The stemmer runs inside dq_terms, so documents, queries,
 * the embedder and the answer extractor all see the same stems.
 *
 * Operates in place on lower-case ASCII letters; words of 1-2 letters and
 * anything else are left alone by the caller. */
#include "indexer/stem.h"

#include <string.h>

typedef struct word { char *b; int k; int j; } word; /* b[0..k] is the word; j marks the stem end */

/* 1 when b[i] is a consonant (y counts as a consonant at the start or after a vowel). */
static int cons(const word *w, int i)
{
  switch (w->b[i]) {
  case 'a': case 'e': case 'i': case 'o': case 'u': return 0;
  case 'y': return i == 0 ? 1 : !cons(w, i - 1);
  default: return 1;
  }
}

/* m: the number of VC sequences in b[0..j]. */
static int measure(const word *w)
{
  int n = 0, i = 0, j = w->j;
  for (;;) {
    if (i > j) return n;
    if (!cons(w, i)) break;
    i++;
  }
  i++;
  for (;;) {
    for (;;) {
      if (i > j) return n;
      if (cons(w, i)) break;
      i++;
    }
    i++;
    n++;
    for (;;) {
      if (i > j) return n;
      if (!cons(w, i)) break;
      i++;
    }
    i++;
  }
}

/* *v*: b[0..j] contains a vowel. */
static int vowel_in_stem(const word *w)
{
  for (int i = 0; i <= w->j; i++)
    if (!cons(w, i)) return 1;
  return 0;
}

/* *d: b[j-1..j] is a double consonant. */
static int double_cons(const word *w, int j)
{
  return j >= 1 && w->b[j] == w->b[j - 1] && cons(w, j);
}

/* *o: b[i-2..i] is consonant-vowel-consonant and b[i] is not w, x or y. */
static int cvc(const word *w, int i)
{
  if (i < 2 || !cons(w, i) || cons(w, i - 1) || !cons(w, i - 2)) return 0;
  char c = w->b[i];
  return c != 'w' && c != 'x' && c != 'y';
}

/* Does b[0..k] end with s (n bytes)? Sets j to the end of the stem before
 * it. The last letters are compared first: most tests fail there, and this
 * runs for every word indexed or searched. */
static int ends_n(word *w, const char *s, int n)
{
  if (n > w->k + 1 || w->b[w->k] != s[n - 1]) return 0;
  if (n > 1 && w->b[w->k - 1] != s[n - 2]) return 0;
  if (memcmp(w->b + w->k - n + 1, s, (size_t)n) != 0) return 0;
  w->j = w->k - n;
  return 1;
}
#define ends(w, lit) ends_n(w, lit, (int)sizeof lit - 1)

/* Replace b[j+1..k] with s (n bytes). */
static void set_to_n(word *w, const char *s, int n)
{
  memcpy(w->b + w->j + 1, s, (size_t)n);
  w->k = w->j + n;
}
#define set_to(w, lit) set_to_n(w, lit, (int)sizeof lit - 1)

/* Step 1ab: plurals and -ed / -ing. */
static void step1ab(word *w)
{
  if (w->b[w->k] == 's') {
    if (ends(w, "sses")) w->k -= 2;
    else if (ends(w, "ies")) set_to(w, "i");
    else if (w->k >= 1 && w->b[w->k - 1] != 's') w->k--;
  }
  if (ends(w, "eed")) {
    if (measure(w) > 0) w->k--;
  } else if ((ends(w, "ed") || ends(w, "ing")) && vowel_in_stem(w)) {
    w->k = w->j;
    if (ends(w, "at")) set_to(w, "ate");
    else if (ends(w, "bl")) set_to(w, "ble");
    else if (ends(w, "iz")) set_to(w, "ize");
    else if (double_cons(w, w->k)) {
      char c = w->b[w->k];
      if (c != 'l' && c != 's' && c != 'z') w->k--;
    } else {
      w->j = w->k;
      if (measure(w) == 1 && cvc(w, w->k)) set_to(w, "e");
    }
  }
}

/* Step 1c: y -> i when the stem has a vowel. */
static void step1c(word *w)
{
  if (ends(w, "y") && vowel_in_stem(w)) w->b[w->k] = 'i';
}

typedef struct rule { const char *from, *to; int from_n, to_n; } rule;
#define R(from, to) { from, to, (int)sizeof from - 1, (int)sizeof to - 1 }
#define N_RULES(r) (sizeof r / sizeof r[0])

/* Apply the first rule whose suffix matches (lists are ordered so the longest
 * suffix of each ending comes first), when m > 0 for the stem. */
static void apply_rules(word *w, const rule *r, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (ends_n(w, r[i].from, r[i].from_n)) {
      if (measure(w) > 0) set_to_n(w, r[i].to, r[i].to_n);
      return;
    }
}

/* Steps 2-4 pick their suffix lists by one letter of the word, as Porter's
 * own program does: suffixes with another letter there cannot match, and
 * trying all ~20 of each step on every word was most of the stemmer's time
 * (the order inside each list is the paper's). */
typedef struct rules { const rule *r; size_t n; } rules;
#define LIST(r) { r, N_RULES(r) }

/* The list for letter c in a step's table (indexed by c - 'a'); NULL for none. */
static const rules *by_letter(const rules *table, char c)
{
  return c >= 'a' && c <= 'z' && table[c - 'a'].n ? &table[c - 'a'] : NULL;
}

static void step2(word *w)
{
  static const rule a[] = { R("ational", "ate"), R("tional", "tion") };
  static const rule c[] = { R("enci", "ence"), R("anci", "ance") };
  static const rule e[] = { R("izer", "ize") };
  static const rule l[] = { R("abli", "able"), R("alli", "al"), R("entli", "ent"), R("eli", "e"), R("ousli", "ous") };
  static const rule o[] = { R("ization", "ize"), R("ation", "ate"), R("ator", "ate") };
  static const rule s[] = { R("alism", "al"), R("iveness", "ive"), R("fulness", "ful"), R("ousness", "ous") };
  static const rule t[] = { R("aliti", "al"), R("iviti", "ive"), R("biliti", "ble") };
  static const rules by[26] = { ['a' - 'a'] = LIST(a), ['c' - 'a'] = LIST(c), ['e' - 'a'] = LIST(e),
                                ['l' - 'a'] = LIST(l), ['o' - 'a'] = LIST(o), ['s' - 'a'] = LIST(s),
                                ['t' - 'a'] = LIST(t) };
  if (w->k < 1) return;
  const rules *r = by_letter(by, w->b[w->k - 1]); /* the next-to-last letter */
  if (r) apply_rules(w, r->r, r->n);
}

static void step3(word *w)
{
  static const rule e[] = { R("icate", "ic"), R("ative", ""), R("alize", "al") };
  static const rule i[] = { R("iciti", "ic") };
  static const rule l[] = { R("ical", "ic"), R("ful", "") };
  static const rule s[] = { R("ness", "") };
  static const rules by[26] = { ['e' - 'a'] = LIST(e), ['i' - 'a'] = LIST(i), ['l' - 'a'] = LIST(l),
                                ['s' - 'a'] = LIST(s) };
  const rules *r = by_letter(by, w->b[w->k]); /* the last letter */
  if (r) apply_rules(w, r->r, r->n);
}

/* Step 4: drop a suffix when m > 1 (-ion only after s or t). The longest
 * matching suffix decides; if its condition fails nothing is removed. */
static void step4(word *w)
{
  static const rule a[] = { R("al", "") }, c[] = { R("ance", ""), R("ence", "") }, e[] = { R("er", "") };
  static const rule i[] = { R("ic", "") }, l[] = { R("able", ""), R("ible", "") };
  static const rule n[] = { R("ement", ""), R("ment", ""), R("ant", ""), R("ent", "") };
  static const rule o[] = { R("ion", ""), R("ou", "") }, s[] = { R("ism", "") }, t[] = { R("ate", ""), R("iti", "") };
  static const rule u[] = { R("ous", "") }, v[] = { R("ive", "") }, z[] = { R("ize", "") };
  static const rules by[26] = { ['a' - 'a'] = LIST(a), ['c' - 'a'] = LIST(c), ['e' - 'a'] = LIST(e),
                                ['i' - 'a'] = LIST(i), ['l' - 'a'] = LIST(l), ['n' - 'a'] = LIST(n),
                                ['o' - 'a'] = LIST(o), ['s' - 'a'] = LIST(s), ['t' - 'a'] = LIST(t),
                                ['u' - 'a'] = LIST(u), ['v' - 'a'] = LIST(v), ['z' - 'a'] = LIST(z) };
  if (w->k < 1) return; /* every suffix here has two letters or more */
  const rules *list = by_letter(by, w->b[w->k - 1]); /* the next-to-last letter */
  if (!list) return;
  const rule *suf = list->r;
  const size_t n_suf = list->n;
  const rule *best = NULL;
  for (size_t k = 0; k < n_suf; k++)
    if ((!best || suf[k].from_n > best->from_n) && ends_n(w, suf[k].from, suf[k].from_n)) best = &suf[k];
  if (!best) return;
  ends_n(w, best->from, best->from_n);
  if (!strcmp(best->from, "ion") && !(w->j >= 0 && (w->b[w->j] == 's' || w->b[w->j] == 't'))) return;
  if (measure(w) > 1) w->k = w->j;
}

/* Step 5: a final -e, and -ll -> -l, when m > 1. */
static void step5(word *w)
{
  w->j = w->k;
  if (w->b[w->k] == 'e') {
    w->j = w->k - 1;
    int m = measure(w);
    if (m > 1 || (m == 1 && !cvc(w, w->k - 1))) w->k--;
  }
  w->j = w->k;
  if (w->b[w->k] == 'l' && double_cons(w, w->k) && measure(w) > 1) w->k--;
}

size_t dq_porter_stem(char *s, size_t n)
{
  if (n <= 2) return n;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 'a' || s[i] > 'z') return n;
  word w = {s, (int)n - 1, 0};
  step1ab(&w);
  if (w.k > 0) {
    step1c(&w);
    step2(&w);
    step3(&w);
    step4(&w);
    step5(&w);
  }
  return (size_t)w.k + 1;
}
