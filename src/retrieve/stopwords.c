/* The function-word list (see stopwords.h). Sorted by bytes (UTF-8 sorts
 * after ASCII) so lookup is a binary search; tests/unit/retrieve checks the
 * order. English: the usual closed-class words (articles, pronouns,
 * auxiliaries, prepositions, question words). Chinese: structural particles
 * and the bigrams that question phrasing produces (什么, 哪个, 是谁 ...), which
 * match every question and no answer. */
#include "retrieve/stopwords.h"

#include <string.h>

static const char *const k_stop[] = {
  "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
  "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
  "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
  "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him",
  "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "may",
  "me", "might", "more", "most", "must", "my", "myself", "no", "nor", "not", "now", "of", "off",
  "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same",
  "shall", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
  "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
  "until", "up", "upon", "very", "via", "was", "we", "were", "what", "when", "where", "whether",
  "which", "while", "who", "whom", "whose", "why", "will", "with", "within", "without", "would",
  "you", "your", "yours", "yourself", "yourselves", "与", "为什", "之", "也", "了", "什么",
  "几个", "及", "吗", "吧", "呢", "和", "哪", "哪一", "哪个", "哪些", "哪位", "哪儿", "哪里", "啊", "在", "多少", "如何",
  "就", "怎么", "怎样", "或", "把", "是", "是什", "是哪", "是由", "是谁", "的", "的是", "着", "而", "被", "谁", "这", "那",
  "都",
};

/* Compare t[0..n) with the NUL-terminated s as byte strings. */
static int cmp(const char *t, size_t n, const char *s)
{
  size_t m = strlen(s);
  int c = memcmp(t, s, n < m ? n : m);
  if (c) return c;
  return n < m ? -1 : n > m ? 1 : 0;
}

int dq_stopword(const char *t, size_t n)
{
  if (n == 0 || n > 12) return 0;
  size_t lo = 0, hi = sizeof k_stop / sizeof k_stop[0];
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = cmp(t, n, k_stop[mid]);
    if (c == 0) return 1;
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return 0;
}
