/* Sampling (see sample.h). Invariant: after each stage, s->cand[0..n) holds
 * the surviving candidates; from top-k on they are sorted by logit,
 * descending (ties by id), so top-p and min-p are prefix cuts. */
#include "engine/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "docq.h"
#include "util/err.h"
#include "util/mem.h"

/* ---- PRNG: splitmix64 for seeding, xoshiro256** for draws ---------------- */

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void dq_rng_seed(dq_rng *r, uint64_t seed)
{
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t dq_rng_next(dq_rng *r)
{
  uint64_t *s = r->s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

float dq_rng_float(dq_rng *r) { return (float)(dq_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

/* ---- sampler ------------------------------------------------------------- */

int dq_sampler_new(dq_sampler **out, int n_vocab, const dq_sampler_params *p)
{
  *out = NULL;
  if (n_vocab <= 0) return dq_err_set(DOCQ_EINVAL, "sampler: vocabulary size %d", n_vocab);
  dq_sampler *s = dq_calloc(1, sizeof *s);
  if (!s) return DOCQ_ENOMEM;
  s->p = *p;
  if (s->p.repeat_last_n < 0) s->p.repeat_last_n = 0;
  s->n_vocab = n_vocab;
  s->cand = dq_malloc((size_t)n_vocab * sizeof *s->cand);
  if (s->p.repeat_penalty != 1.0f && s->p.repeat_penalty > 0.0f && s->p.repeat_last_n > 0 &&
      (!(s->penalized = dq_malloc((size_t)n_vocab * sizeof *s->penalized)) ||
       !(s->seen = dq_calloc((size_t)n_vocab, sizeof *s->seen)))) {
    dq_sampler_free(s);
    return DOCQ_ENOMEM;
  }
  s->recent = dq_malloc((size_t)(s->p.repeat_last_n ? s->p.repeat_last_n : 1) * sizeof *s->recent);
  if (!s->cand || !s->recent) {
    dq_sampler_free(s);
    return DOCQ_ENOMEM;
  }
  dq_rng_seed(&s->rng, p->seed ? p->seed : 42);
  *out = s;
  return 0;
}

void dq_sampler_free(dq_sampler *s)
{
  if (!s) return;
  dq_free(s->cand);
  dq_free(s->penalized);
  dq_free(s->seen);
  dq_free(s->recent);
  dq_free(s);
}

void dq_sampler_accept(dq_sampler *s, int32_t tok)
{
  if (!s->p.repeat_last_n) return;
  s->recent[s->head] = tok;
  s->head = (s->head + 1) % s->p.repeat_last_n;
  if (s->n_recent < s->p.repeat_last_n) s->n_recent++;
}

/* Descending by logit, then ascending id: a total order, so results do not
 * depend on the sort algorithm. */
static int cand_cmp(const void *a, const void *b)
{
  const dq_cand *x = a, *y = b;
  if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
  return (x->id > y->id) - (x->id < y->id);
}

static inline int cand_before(const dq_cand *x, const dq_cand *y)
{
  return x->logit > y->logit || (x->logit == y->logit && x->id < y->id);
}

/* Softmax of c[0..n).logit / temp into .p (c sorted: c[0] is the max).
 * sum > 0: normalize by it instead, the sum of the exponentials of a larger
 * set whose maximum is c[0] (the candidates c was cut from). */
static void softmax_of(dq_cand *c, int n, float temp, double sum)
{
  const float mx = c[0].logit;
  const int own = !(sum > 0);
  if (own) sum = 0;
  for (int i = 0; i < n; i++) {
    c[i].p = expf((c[i].logit - mx) / temp);
    if (own) sum += c[i].p;
  }
  for (int i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

static void softmax(dq_cand *c, int n, float temp) { softmax_of(c, n, temp, 0); }

/* The first index of the largest of x[0..n). The best value stays in a
 * register: comparing against x[best] put a load behind every conditional
 * move, a chain of several cycles per element (2% of a 0.5B decode step for
 * a 152k vocabulary). */
static int argmax_first(const float *x, int n)
{
  int best = 0;
  float bv = x[0];
  for (int i = 1; i < n; i++)
    if (x[i] > bv) {
      bv = x[i];
      best = i;
    }
  return best;
}

static inline void heap_sift_down(dq_cand *h, int m, int i)
{
  for (;;) {
    int l = 2 * i + 1, w = i;
    if (l < m && cand_before(&h[w], &h[l])) w = l; /* the worse of parent and children rises */
    if (l + 1 < m && cand_before(&h[w], &h[l + 1])) w = l + 1;
    if (w == i) return;
    dq_cand t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

/* The k best of x[0..n) (by cand_before: logit, then lower id) into
 * h[0..k), unordered, in one pass: a heap with the worst kept candidate on
 * top, so most logits cost one compare with it. The same set as the
 * quickselect over all n candidates it replaced, without first copying the
 * whole vocabulary into candidates: that copy and the quickselect were 4%
 * of a 0.5B decode step at top-k 40. Ids are scanned in ascending order,
 * so a logit equal to the worst kept one never displaces it, as the total
 * order says. */
static void top_k_heap(const float *x, int n, int k, dq_cand *h)
{
  for (int i = 0; i < k; i++) h[i] = (dq_cand){ .id = i, .logit = x[i] };
  for (int i = k / 2 - 1; i >= 0; i--) heap_sift_down(h, k, i);
  float worst = h[0].logit;
  for (int i = k; i < n; i++) {
    if (!(x[i] > worst)) continue;
    h[0] = (dq_cand){ .id = i, .logit = x[i] };
    heap_sift_down(h, k, 0);
    worst = h[0].logit;
  }
}

int32_t dq_sampler_sample(dq_sampler *s, const float *logits)
{
  const dq_sampler_params *p = &s->p;
  dq_cand *c = s->cand;
  int n = s->n_vocab;
  /* Repetition penalty, on a copy: once per distinct token of the window (a
   * token seen twice is not penalized twice), as llama.cpp does. A token is
   * marked with this draw's stamp when penalized, so the window costs one
   * pass whatever its length (it compared each token with all before it:
   * 21 ms a token for a window of 16k). */
  const float *x = logits;
  if (s->penalized) {
    memcpy(s->penalized, logits, (size_t)n * sizeof *logits);
    if (++s->stamp == 0) { /* after 2^32 draws: marks of old draws could match */
      memset(s->seen, 0, (size_t)n * sizeof *s->seen);
      s->stamp = 1;
    }
    for (int r = 0; r < s->n_recent; r++) {
      int32_t t = s->recent[r];
      if (t < 0 || t >= n || s->seen[t] == s->stamp) continue;
      s->seen[t] = s->stamp;
      float *v = &s->penalized[t];
      *v = *v > 0 ? *v / p->repeat_penalty : *v * p->repeat_penalty;
    }
    x = s->penalized;
  }
  if (p->temperature <= 0.0f) return argmax_first(x, n);
  double z = 0; /* > 0: top-p's normalizer, the whole vocabulary's (below) */
  if (p->top_k > 0 && p->top_k < n) {
    top_k_heap(x, n, p->top_k, c);
    n = p->top_k;
  } else if (p->min_p > 0.0f && p->min_p <= 1.0f) {
    /* Without top-k, cut to the min-p survivors before sorting the whole
     * vocabulary. min-p keeps p_i >= min_p * p_max, that is logit_i >= max +
     * ln(min_p): the ratio, so the same tokens of any prefix that holds the
     * maximum. It runs after top-p, whose prefix holds it, so cutting first
     * keeps exactly the tokens the documented order keeps, provided top-p
     * still sees the probabilities of the whole vocabulary: z, the sum of
     * its exponentials. The cut here is a little wide (1e-3 lower), so
     * that rounding leaves the decision to the min-p stage below. */
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = fmaxf(mx, x[i]); /* past NaNs */
    const float cut = mx + logf(p->min_p) - 1e-3f;
    int m = 0;
    for (int i = 0; i < n; i++) {
      if (p->top_p < 1.0f) z += expf(x[i] - mx);
      if (x[i] >= cut) c[m++] = (dq_cand){ .id = i, .logit = x[i] };
    }
    if (m == 0) return 0; /* every logit NaN: no candidate to draw from */
    n = m;
  } else {
    for (int i = 0; i < n; i++) c[i] = (dq_cand){ .id = i, .logit = x[i] };
  }
  qsort(c, (size_t)n, sizeof *c, cand_cmp);
  if (p->top_p < 1.0f) {
    softmax_of(c, n, 1.0f, z);
    double cum = 0;
    int keep = n;
    for (int i = 0; i < n; i++) {
      cum += c[i].p;
      if (cum >= p->top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (p->min_p > 0.0f) {
    softmax(c, n, 1.0f);
    float cut = p->min_p * c[0].p;
    int keep = 1;
    while (keep < n && c[keep].p >= cut) keep++;
    n = keep;
  }
  softmax(c, n, p->temperature);
  float u = dq_rng_float(&s->rng), cum = 0;
  for (int i = 0; i < n; i++) {
    cum += c[i].p;
    if (u < cum) return c[i].id;
  }
  return c[n - 1].id;
}
