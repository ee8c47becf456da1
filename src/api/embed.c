/* Public API: docq_embedder, text -> vectors without an index, on top of the
 * internal embedders (src/embed: the built-in hashing embedder, or a GGUF
 * BERT-family encoder). The handle only wraps the dq_embedder; every call
 * checks its arguments and leaves the reason of a failure in
 * docq_error_last(). */
#include <string.h>

#include "docq.h"
#include "embed/bert.h"
#include "embed/embed.h"
#include "util/err.h"
#include "util/mem.h"

struct docq_embedder {
  dq_embedder *e;
};

DOCQ_API int docq_embedder_load(docq_embedder **out, const char *path)
{
  DQ_ASSERT_ARG(out);
  *out = NULL;
  docq_embedder *h = dq_calloc(1, sizeof *h);
  if (!h) return DOCQ_ENOMEM;
  int rc = path ? dq_embedder_gguf(&h->e, path, 0) : dq_embedder_builtin(&h->e);
  if (rc < 0) {
    dq_free(h);
    return rc;
  }
  *out = h;
  return 0;
}

DOCQ_API void docq_embedder_free(docq_embedder *e)
{
  if (!e) return;
  dq_embedder_free(e->e);
  dq_free(e);
}

DOCQ_API unsigned docq_embedder_dim(const docq_embedder *e) { return e ? e->e->dim : 0; }

DOCQ_API const char *docq_embedder_id(const docq_embedder *e) { return e ? e->e->id : ""; }

DOCQ_API int docq_embed(docq_embedder *e, const char *const *texts, size_t n, int is_query, float *out)
{
  DQ_ASSERT_ARG(e);
  if (n == 0) return 0;
  DQ_ASSERT_ARG(texts && out);
  for (size_t i = 0; i < n; i++)
    if (!texts[i]) return dq_err_set(DOCQ_EINVAL, "docq_embed: texts[%zu] is NULL", i);
  return dq_embed(e->e, texts, NULL, n, is_query ? 1 : 0, out);
}

DOCQ_API int docq_embedder_set_prefixes(docq_embedder *e, const char *query, const char *passage)
{
  DQ_ASSERT_ARG(e);
  if (!dq_embedder_is_gguf(e->e))
    return dq_err_set(DOCQ_EUNSUPPORTED, "embedder '%s' takes no prefixes (only GGUF models do)", e->e->id);
  return dq_embedder_gguf_set_prefixes(e->e, query, passage);
}
