/* Token sampling: repetition penalty, top-k, top-p, min-p, temperature and a
 * seeded PRNG, applied in llama.cpp's default order
 *   penalties -> top-k -> top-p -> min-p -> temperature -> draw
 * (top-p and min-p see the temperature-1 distribution). Temperature <= 0 is
 * greedy: the argmax of the penalized logits, lowest id on ties.
 *
 * PRNG: xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64, so a
 * seed reproduces the same tokens on every platform. A draw uses the top 24
 * bits of one output as a float in [0, 1).
 *
 * A sampler owns its scratch (sized for the vocabulary at creation), so
 * dq_sampler_sample never allocates. One sampler per generation; not shared. */
#ifndef DQ_ENGINE_SAMPLE_H
#define DQ_ENGINE_SAMPLE_H

#include <stdint.h>

typedef struct dq_rng { uint64_t s[4]; } dq_rng;

void dq_rng_seed(dq_rng *r, uint64_t seed);
uint64_t dq_rng_next(dq_rng *r);
float dq_rng_float(dq_rng *r); /* uniform in [0, 1) */

typedef struct dq_sampler_params {
  float temperature;    /* <= 0: greedy */
  int top_k;            /* <= 0: off */
  float top_p;          /* >= 1: off */
  float min_p;          /* <= 0: off */
  float repeat_penalty; /* 1: off; positive logits are divided, negative multiplied */
  int repeat_last_n;    /* how many recent tokens are penalized (0: none) */
  uint64_t seed;        /* 0: the fixed seed 42 */
} dq_sampler_params;

typedef struct dq_cand { int32_t id; float logit; float p; } dq_cand;

typedef struct dq_sampler {
  dq_sampler_params p;
  dq_rng rng;
  int n_vocab;
  dq_cand *cand;        /* (n_vocab) */
  float *penalized;     /* (n_vocab) the logits after the repetition penalty; NULL without one */
  uint32_t *seen;       /* (n_vocab) with a penalty: == stamp for a token already penalized this draw */
  uint32_t stamp;
  int32_t *recent;      /* ring of the last repeat_last_n accepted tokens */
  int n_recent, head;
} dq_sampler;

int dq_sampler_new(dq_sampler **out, int n_vocab, const dq_sampler_params *p);
void dq_sampler_free(dq_sampler *s);

/* Record a token (prompt or generated) for the repetition penalty. */
void dq_sampler_accept(dq_sampler *s, int32_t tok);

/* Choose the next token from logits[n_vocab] (not modified). */
int32_t dq_sampler_sample(dq_sampler *s, const float *logits);

#endif
