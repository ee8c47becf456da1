/* GGUF v2/v3 reader: parses the header, metadata and tensor directory of a
 * GGUF file held in a read-only map (or a caller's buffer) and validates it
 * so that the rest of the engine can trust every pointer it gets.
 *
 * Invariants after a successful parse:
 *   - every kv value and every tensor's data range lies inside [base, base+size);
 *   - keys and tensor names are unique, non-empty, NUL-free, copied and NUL-terminated;
 *   - each tensor has a known type, 1..4 dims, each ne >= 1, ne[0] a multiple of
 *     the type's block size, an element count and byte size that fit int64/size_t,
 *     an offset aligned to `alignment`, and no two tensors' data overlap;
 *   - string arrays have an offsets table (str_offsets) so element i is O(1).
 * All untrusted bytes are read through dq_rd (bounds-checked, sticky failure).
 * Counts are capped by what the remaining bytes could possibly hold before
 * anything is allocated, so a hostile header cannot make us allocate more than
 * a small multiple of the file size. Values are decoded little-endian byte by
 * byte, so the reader does not depend on host endianness or alignment. */
#include "engine/gguf.h"
#include "engine/mapfile.h"

#include "util/err.h"
#include "util/mem.h"
#include "util/rd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC 0x46554747u            /* "GGUF" read as little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_STRING (1ull << 30)      /* 1 GiB: no sane metadata string is larger */
#define GGUF_MAX_KEY 65535u               /* keys are short dotted names */
#define GGUF_MAX_NAME 1024u               /* ggml itself caps names at 64 bytes */
/* Smallest encodings, used to bound counts by the remaining bytes: a kv is at
 * least key length (8) + 1 key byte + type (4) + 1 value byte; a tensor entry
 * is at least name length (8) + 1 name byte + n_dims (4) + one ne (8) + type (4)
 * + offset (8). */
#define GGUF_MIN_KV_BYTES 14u
#define GGUF_MIN_TENSOR_BYTES 33u

/* ===== Type tables ===== */

/* ggml's block geometry (ggml.c type_traits / ggml-common.h block structs). */
static const dq_type_info type_table[DQ_T_COUNT] = {
  [DQ_T_F32] = {"f32", 1, 4},       [DQ_T_F16] = {"f16", 1, 2},
  [DQ_T_Q4_0] = {"q4_0", 32, 18},   [DQ_T_Q4_1] = {"q4_1", 32, 20},
  [DQ_T_Q5_0] = {"q5_0", 32, 22},   [DQ_T_Q5_1] = {"q5_1", 32, 24},
  [DQ_T_Q8_0] = {"q8_0", 32, 34},   [DQ_T_Q8_1] = {"q8_1", 32, 36},
  [DQ_T_Q2_K] = {"q2_K", 256, 84},  [DQ_T_Q3_K] = {"q3_K", 256, 110},
  [DQ_T_Q4_K] = {"q4_K", 256, 144}, [DQ_T_Q5_K] = {"q5_K", 256, 176},
  [DQ_T_Q6_K] = {"q6_K", 256, 210}, [DQ_T_Q8_K] = {"q8_K", 256, 292},
  [DQ_T_IQ2_XXS] = {"iq2_xxs", 256, 66}, [DQ_T_IQ2_XS] = {"iq2_xs", 256, 74},
  [DQ_T_IQ3_XXS] = {"iq3_xxs", 256, 98}, [DQ_T_IQ1_S] = {"iq1_s", 256, 50},
  [DQ_T_IQ4_NL] = {"iq4_nl", 32, 18},    [DQ_T_IQ3_S] = {"iq3_s", 256, 110},
  [DQ_T_IQ2_S] = {"iq2_s", 256, 82},     [DQ_T_IQ4_XS] = {"iq4_xs", 256, 136},
  [DQ_T_I8] = {"i8", 1, 1},         [DQ_T_I16] = {"i16", 1, 2},
  [DQ_T_I32] = {"i32", 1, 4},       [DQ_T_I64] = {"i64", 1, 8},
  [DQ_T_F64] = {"f64", 1, 8},       [DQ_T_IQ1_M] = {"iq1_m", 256, 56},
  [DQ_T_BF16] = {"bf16", 1, 2},     [DQ_T_TQ1_0] = {"tq1_0", 256, 54},
  [DQ_T_TQ2_0] = {"tq2_0", 256, 66}, [DQ_T_MXFP4] = {"mxfp4", 32, 17},
  /* Q4_0 / IQ4_NL blocks interleaved across 4 or 8 rows for ARM kernels:
   * written to files in 2024, then dropped from ggml (it repacks at load
   * now), so only old downloads hold them; known here so that such a file
   * is named as what it is, not as damage */
  [DQ_T_Q4_0_4_4] = {"q4_0_4x4", 32, 18}, [DQ_T_Q4_0_4_8] = {"q4_0_4x8", 32, 18},
  [DQ_T_Q4_0_8_8] = {"q4_0_8x8", 32, 18}, [DQ_T_IQ4_NL_4_4] = {"iq4_nl_4x4", 32, 18},
  [DQ_T_IQ4_NL_4_8] = {"iq4_nl_4x8", 32, 18}, [DQ_T_IQ4_NL_8_8] = {"iq4_nl_8x8", 32, 18},
};
static const dq_type_info type_unknown = {"unknown", 0, 0};

const dq_type_info *dq_type_info_get(int type)
{
  if (type < 0 || type >= DQ_T_COUNT || type_table[type].block_elems == 0) return &type_unknown;
  return &type_table[type];
}

size_t dq_type_row_bytes(int type, int64_t n)
{
  const dq_type_info *ti = dq_type_info_get(type);
  size_t out;
  if (ti->block_elems == 0 || n <= 0 || n % ti->block_elems) return 0;
  if (dq_mul_ovf((size_t)(n / ti->block_elems), ti->block_bytes, &out)) return 0;
  return out;
}

/* Byte size of one scalar metadata value; 0 for STRING/ARRAY/unknown. */
static size_t vtype_size(int t)
{
  static const uint8_t sz[DQ_GGUF_VTYPE_COUNT] = {
    [DQ_GGUF_U8] = 1, [DQ_GGUF_I8] = 1, [DQ_GGUF_U16] = 2, [DQ_GGUF_I16] = 2, [DQ_GGUF_U32] = 4,
    [DQ_GGUF_I32] = 4, [DQ_GGUF_F32] = 4, [DQ_GGUF_BOOL] = 1, [DQ_GGUF_U64] = 8, [DQ_GGUF_I64] = 8,
    [DQ_GGUF_F64] = 8};
  return (t >= 0 && t < DQ_GGUF_VTYPE_COUNT) ? sz[t] : 0;
}

static const char *vtype_name(int t)
{
  static const char *names[DQ_GGUF_VTYPE_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                   "bool", "string", "array", "u64", "i64", "f64"};
  return (t >= 0 && t < DQ_GGUF_VTYPE_COUNT) ? names[t] : "unknown";
}

static uint64_t le_load(const uint8_t *p, size_t n)
{
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* ===== Parser ===== */

typedef struct parser {
  dq_gguf *g;
  dq_rd r;
  const char *path;
} parser;

static int corrupt_eof(parser *ps, const char *what)
{
  return dq_err_set(DOCQ_ECORRUPT, "%s: unexpected end of file at byte %zu while reading %s (file is %zu bytes): the file is truncated",
                    ps->path, ps->r.off, what, ps->r.len);
}

/* Read a GGUF string (u64 length + bytes), capped at `max` bytes. `what`
 * names the field in messages; when `key` is set the message adds "of key
 * 'key'" and, when idx >= 0, the element index (built only on failure). */
static int read_str(parser *ps, const char *what, const char *key, int64_t idx, uint64_t max,
                    const uint8_t **s, uint64_t *len)
{
  char desc[200];
  size_t at = ps->r.off;
  uint64_t n = dq_rd_u64(&ps->r);
  const char *msg = NULL;
  if (ps->r.failed) msg = "eof";
  else if (n > max) msg = "max";
  else if (!(*s = dq_rd_take(&ps->r, (size_t)n))) msg = "short";
  if (!msg) {
    *len = n;
    return 0;
  }
  if (key && idx >= 0) snprintf(desc, sizeof desc, "%s %" PRId64 " of key '%.100s'", what, idx, key);
  else if (key) snprintf(desc, sizeof desc, "%s of key '%.100s'", what, key);
  else snprintf(desc, sizeof desc, "%s", what);
  if (msg[0] == 'e') return corrupt_eof(ps, desc);
  if (msg[0] == 'm')
    return dq_err_set(DOCQ_ECORRUPT, "%s: %s at byte %zu has length %" PRIu64 ", above the limit of %" PRIu64 " bytes",
                      ps->path, desc, at, n, max);
  return dq_err_set(DOCQ_ECORRUPT, "%s: %s at byte %zu claims %" PRIu64 " bytes but only %zu remain: the file is truncated",
                    ps->path, desc, at, n, ps->r.len - at - 8);
}

/* A key or tensor name: non-empty, no NUL inside (we hand out C strings), copied. */
static int read_name(parser *ps, const char *what, uint64_t max, char **out)
{
  const uint8_t *s;
  uint64_t n = 0;
  int rc = read_str(ps, what, NULL, -1, max, &s, &n);
  if (rc < 0) return rc;
  if (n == 0) return dq_err_set(DOCQ_ECORRUPT, "%s: empty %s at byte %zu", ps->path, what, ps->r.off - 8);
  if (memchr(s, 0, (size_t)n))
    return dq_err_set(DOCQ_ECORRUPT, "%s: %s '%.*s' contains a NUL byte", ps->path, what, (int)strnlen((const char *)s, 64), s);
  *out = dq_strndup((const char *)s, (size_t)n);
  return *out ? 0 : DOCQ_ENOMEM;
}

/* Value of an ARRAY: element type, count, elements; string arrays get offsets. */
static int read_array(parser *ps, dq_gguf_kv *kv)
{
  kv->arr_type = (int)dq_rd_u32(&ps->r);
  kv->n = dq_rd_u64(&ps->r);
  if (ps->r.failed) {
    char what[160];
    snprintf(what, sizeof what, "the array header of key '%.100s'", kv->key);
    return corrupt_eof(ps, what);
  }
  size_t remain = dq_rd_remain(&ps->r);
  if (kv->arr_type == DQ_GGUF_ARRAY)
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: key '%s' is an array of arrays, which docq does not read", ps->path, kv->key);
  if (kv->arr_type == DQ_GGUF_STRING) {
    /* Each string costs at least its 8-byte length: bound n before allocating. */
    if (kv->n > remain / 8)
      return dq_err_set(DOCQ_ECORRUPT, "%s: key '%s': string array of %" PRIu64 " elements cannot fit in the %zu bytes left",
                        ps->path, kv->key, kv->n, remain);
    kv->data = ps->r.p + ps->r.off;
    kv->str_offsets = dq_malloc(((size_t)kv->n + 1) * sizeof *kv->str_offsets);
    if (!kv->str_offsets) return DOCQ_ENOMEM;
    for (uint64_t i = 0; i < kv->n; i++) {
      const uint8_t *s;
      uint64_t len;
      int rc = read_str(ps, "string element", kv->key, (int64_t)i, GGUF_MAX_STRING, &s, &len);
      if (rc < 0) return rc;
      kv->str_offsets[i] = (uint64_t)(s - kv->data);
    }
    /* Sentinel: as if one more string's bytes began here, so that element i has
     * length str_offsets[i+1] - str_offsets[i] - 8 for every i < n. */
    kv->str_offsets[kv->n] = (uint64_t)(ps->r.p + ps->r.off - kv->data) + 8;
    return 0;
  }
  size_t esz = vtype_size(kv->arr_type);
  if (esz == 0)
    return dq_err_set(DOCQ_ECORRUPT, "%s: key '%s' is an array of unknown type %u", ps->path, kv->key, (unsigned)kv->arr_type);
  if (kv->n > remain / esz) /* also keeps n * esz from overflowing */
    return dq_err_set(DOCQ_ECORRUPT, "%s: key '%s': array of %" PRIu64 " %s values needs more than the %zu bytes left: the file is truncated",
                      ps->path, kv->key, kv->n, vtype_name(kv->arr_type), remain);
  kv->data = dq_rd_take(&ps->r, (size_t)kv->n * esz);
  return 0;
}

static int read_kv(parser *ps, dq_gguf_kv *kv)
{
  int rc = read_name(ps, "key", GGUF_MAX_KEY, &kv->key);
  if (rc < 0) return rc;
  kv->type = (int)dq_rd_u32(&ps->r);
  if (ps->r.failed) return corrupt_eof(ps, "a value type");
  if (kv->type < 0 || kv->type >= DQ_GGUF_VTYPE_COUNT)
    return dq_err_set(DOCQ_ECORRUPT, "%s: key '%s' has unknown value type %u", ps->path, kv->key, (unsigned)kv->type);
  kv->arr_type = -1;
  kv->n = 1;
  if (kv->type == DQ_GGUF_STRING) {
    const uint8_t *s;
    if ((rc = read_str(ps, "the value", kv->key, -1, GGUF_MAX_STRING, &s, &kv->n)) < 0) return rc;
    kv->data = s;
    return 0;
  }
  if (kv->type == DQ_GGUF_ARRAY) return read_array(ps, kv);
  kv->data = dq_rd_take(&ps->r, vtype_size(kv->type));
  if (!kv->data) {
    char what[160];
    snprintf(what, sizeof what, "the value of key '%.100s'", kv->key);
    return corrupt_eof(ps, what);
  }
  if (kv->type == DQ_GGUF_BOOL && kv->data[0] > 1)
    return dq_err_set(DOCQ_ECORRUPT, "%s: key '%s': bool value %u is neither 0 nor 1", ps->path, kv->key, kv->data[0]);
  return 0;
}

static int cmp_kv_key(const void *a, const void *b)
{
  return strcmp((*(const dq_gguf_kv *const *)a)->key, (*(const dq_gguf_kv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b)
{
  return strcmp((*(const dq_gguf_tensor *const *)a)->name, (*(const dq_gguf_tensor *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
  uint64_t x = (*(const dq_gguf_tensor *const *)a)->offset, y = (*(const dq_gguf_tensor *const *)b)->offset;
  return x < y ? -1 : x > y;
}

/* Duplicate keys would make lookups ambiguous; sort pointers and compare
 * neighbours (O(n log n), so a hostile file with many keys stays cheap). */
static int check_unique_keys(parser *ps)
{
  dq_gguf *g = ps->g;
  int rc = 0;
  if (g->n_kv < 2) return 0;
  const dq_gguf_kv **v = dq_malloc(g->n_kv * sizeof *v);
  if (!v) return DOCQ_ENOMEM;
  for (size_t i = 0; i < g->n_kv; i++) v[i] = &g->kv[i];
  qsort(v, g->n_kv, sizeof *v, cmp_kv_key);
  for (size_t i = 1; i < g->n_kv; i++)
    if (!strcmp(v[i - 1]->key, v[i]->key)) {
      rc = dq_err_set(DOCQ_ECORRUPT, "%s: duplicate key '%s'", ps->path, v[i]->key);
      break;
    }
  dq_free(v);
  return rc;
}

static int read_kvs(parser *ps, uint64_t n_kv)
{
  dq_gguf *g = ps->g;
  g->kv = dq_calloc((size_t)n_kv, sizeof *g->kv);
  if (!g->kv) return DOCQ_ENOMEM;
  for (uint64_t i = 0; i < n_kv; i++) {
    g->n_kv = (size_t)i + 1; /* so close() frees what this entry owns even on failure */
    int rc = read_kv(ps, &g->kv[i]);
    if (rc < 0) return rc;
  }
  return check_unique_keys(ps);
}

static int read_alignment(parser *ps)
{
  dq_gguf *g = ps->g;
  g->alignment = GGUF_DEFAULT_ALIGNMENT;
  long i = dq_gguf_find(g, "general.alignment");
  if (i < 0) return 0;
  uint32_t a;
  int rc = dq_gguf_get_u32(g, "general.alignment", &a);
  if (rc < 0) return rc;
  if (a == 0 || (a & (a - 1)))
    return dq_err_set(DOCQ_ECORRUPT, "%s: general.alignment is %u, not a non-zero power of two", ps->path, a);
  g->alignment = a;
  return 0;
}

/* One tensor directory entry: shape and type checks that need no file size. */
static int read_tensor_info(parser *ps, dq_gguf_tensor *t)
{
  int rc = read_name(ps, "tensor name", GGUF_MAX_NAME, &t->name);
  if (rc < 0) return rc;
  t->n_dims = dq_rd_u32(&ps->r);
  if (ps->r.failed) return corrupt_eof(ps, "a tensor's n_dims");
  if (t->n_dims < 1 || t->n_dims > 4)
    return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' has %u dimensions (must be 1..4)", ps->path, t->name, t->n_dims);
  int64_t nel = 1;
  for (int j = 0; j < 4; j++) {
    uint64_t ne = 1;
    if ((uint32_t)j < t->n_dims) {
      ne = dq_rd_u64(&ps->r);
      if (ps->r.failed) return corrupt_eof(ps, "a tensor's shape");
    }
    /* A zero dimension makes an empty weight, which no model uses: corrupt. */
    if (ne == 0 || ne > INT64_MAX)
      return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' dimension %d is %" PRIu64 " (must be 1..INT64_MAX)",
                        ps->path, t->name, j, ne);
    t->ne[j] = (int64_t)ne;
    if (__builtin_mul_overflow(nel, t->ne[j], &nel))
      return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' element count overflows int64", ps->path, t->name);
  }
  uint32_t type = dq_rd_u32(&ps->r);
  t->offset = dq_rd_u64(&ps->r);
  if (ps->r.failed) return corrupt_eof(ps, "a tensor's type and offset");
  const dq_type_info *ti = dq_type_info_get((int)type);
  if (type >= DQ_T_COUNT || ti->block_elems == 0)
    return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' has ggml type %u, which docq does not know (a damaged file, or a type newer than docq)", ps->path, t->name, type);
  t->type = (int)type;
  if (t->ne[0] % ti->block_elems)
    return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' row length %" PRId64 " is not a multiple of the %s block size %u",
                      ps->path, t->name, t->ne[0], ti->name, ti->block_elems);
  size_t rows, nbytes = dq_type_row_bytes(t->type, t->ne[0]);
  if (nbytes == 0 || dq_mul_ovf((size_t)t->ne[1], (size_t)t->ne[2], &rows) || dq_mul_ovf(rows, (size_t)t->ne[3], &rows) ||
      dq_mul_ovf(rows, nbytes, &nbytes))
    return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' byte size overflows", ps->path, t->name);
  t->nbytes = nbytes;
  if (t->offset % ps->g->alignment)
    return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %u",
                      ps->path, t->name, t->offset, ps->g->alignment);
  return 0;
}

/* Place each tensor's data inside the file and check names and ranges. */
static int place_tensors(parser *ps)
{
  dq_gguf *g = ps->g;
  size_t avail = g->size - g->data_offset;
  int rc = 0;
  for (size_t i = 0; i < g->n_tensors; i++) {
    dq_gguf_tensor *t = &g->tensors[i];
    if (t->offset > avail || t->nbytes > avail - t->offset) {
      unsigned long long end = (unsigned long long)g->data_offset + t->offset + t->nbytes;
      int wrapped = t->offset > UINT64_MAX - g->data_offset || end < t->offset;
      return dq_err_set(DOCQ_ECORRUPT, "%s: tensor '%s' data ends at byte %s%llu, past the end of the file (%zu bytes): the file is truncated",
                        ps->path, t->name, wrapped ? "beyond " : "", wrapped ? (unsigned long long)UINT64_MAX : end, g->size);
    }
    t->data = g->base + g->data_offset + t->offset;
  }
  if (g->n_tensors < 2) return 0;
  dq_gguf_tensor **v = dq_malloc(g->n_tensors * sizeof *v);
  if (!v) return DOCQ_ENOMEM;
  for (size_t i = 0; i < g->n_tensors; i++) v[i] = &g->tensors[i];
  qsort(v, g->n_tensors, sizeof *v, cmp_tensor_name);
  for (size_t i = 1; i < g->n_tensors && rc == 0; i++)
    if (!strcmp(v[i - 1]->name, v[i]->name)) rc = dq_err_set(DOCQ_ECORRUPT, "%s: duplicate tensor name '%s'", ps->path, v[i]->name);
  if (rc == 0) {
    qsort(v, g->n_tensors, sizeof *v, cmp_tensor_offset);
    for (size_t i = 1; i < g->n_tensors && rc == 0; i++)
      if (v[i - 1]->offset + v[i - 1]->nbytes > v[i]->offset) /* no overflow: both inside the file */
        rc = dq_err_set(DOCQ_ECORRUPT, "%s: tensors '%s' and '%s' overlap (offsets %" PRIu64 " and %" PRIu64 ")",
                        ps->path, v[i - 1]->name, v[i]->name, v[i - 1]->offset, v[i]->offset);
  }
  dq_free(v);
  return rc;
}

static int read_header(parser *ps, uint64_t *n_tensors, uint64_t *n_kv)
{
  dq_gguf *g = ps->g;
  uint32_t magic = dq_rd_u32(&ps->r);
  if (ps->r.failed)
    return dq_err_set(DOCQ_ECORRUPT, "%s: file is %zu bytes, too short to be a GGUF file", ps->path, g->size);
  if (magic != GGUF_MAGIC)
    return dq_err_set(DOCQ_ECORRUPT, "%s: not a GGUF file (magic %02x %02x %02x %02x, expected 'GGUF')", ps->path,
                      g->base[0], g->base[1], g->base[2], g->base[3]);
  g->version = dq_rd_u32(&ps->r);
  if (ps->r.failed) return corrupt_eof(ps, "the version");
  if (g->version == 1)
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: GGUF version 1 is not supported (re-convert the model to version 3)", ps->path);
  /* A big-endian writer stores 3 as 00 00 00 03: the low half reads as zero. */
  if ((g->version & 0xFFFFu) == 0 && g->version != 0)
    return dq_err_set(DOCQ_EUNSUPPORTED, "%s: the file is big-endian (version field reads 0x%08x byte-swapped); docq reads little-endian GGUF only",
                      ps->path, g->version);
  if (g->version == 0 || g->version > 3)
    return dq_err_set(g->version ? DOCQ_EUNSUPPORTED : DOCQ_ECORRUPT, "%s: GGUF version %u is not supported (2 and 3 are)", ps->path, g->version);
  *n_tensors = dq_rd_u64(&ps->r);
  *n_kv = dq_rd_u64(&ps->r);
  if (ps->r.failed) return corrupt_eof(ps, "the header counts");
  size_t remain = dq_rd_remain(&ps->r);
  if (*n_kv > remain / GGUF_MIN_KV_BYTES || *n_tensors > remain / GGUF_MIN_TENSOR_BYTES ||
      *n_kv * GGUF_MIN_KV_BYTES + *n_tensors * GGUF_MIN_TENSOR_BYTES > remain)
    return dq_err_set(DOCQ_ECORRUPT, "%s: header claims %" PRIu64 " keys and %" PRIu64 " tensors, more than the %zu bytes left can hold",
                      ps->path, *n_kv, *n_tensors, remain);
  return 0;
}

static int parse(dq_gguf *g)
{
  parser ps = {.g = g, .path = g->path};
  uint64_t n_tensors = 0, n_kv = 0;
  int rc;
  dq_rd_init(&ps.r, g->base, g->size);
  if ((rc = read_header(&ps, &n_tensors, &n_kv)) < 0) return rc;
  if ((rc = read_kvs(&ps, n_kv)) < 0) return rc;
  if ((rc = read_alignment(&ps)) < 0) return rc;
  if (n_tensors) {
    g->tensors = dq_calloc((size_t)n_tensors, sizeof *g->tensors);
    if (!g->tensors) return DOCQ_ENOMEM;
  }
  for (uint64_t i = 0; i < n_tensors; i++) {
    g->n_tensors = (size_t)i + 1;
    if ((rc = read_tensor_info(&ps, &g->tensors[i])) < 0) return rc;
  }
  /* The data section starts at the next multiple of the alignment. A file
   * without tensors may end before that padding (vocabulary-only files do). */
  size_t pad = (g->alignment - ps.r.off % g->alignment) % g->alignment;
  if (pad > g->size - ps.r.off) {
    if (n_tensors)
      return dq_err_set(DOCQ_ECORRUPT, "%s: file ends (%zu bytes) inside the padding before the tensor data: the file is truncated",
                        g->path, g->size);
    pad = g->size - ps.r.off;
  }
  g->data_offset = ps.r.off + pad;
  return place_tensors(&ps);
}

/* ===== Open / close ===== */

static int from_bytes(dq_gguf **out, const uint8_t *p, size_t n, const char *path, int mapped)
{
  int rc;
  dq_gguf *g = dq_calloc(1, sizeof *g);
  if (!g) {
    if (mapped) munmap((void *)p, n);
    return DOCQ_ENOMEM;
  }
  g->fd = -1;
  g->base = p;
  g->size = n;
  g->mapped = mapped;
  g->path = dq_strdup(path);
  if (!g->path) { rc = DOCQ_ENOMEM; goto cleanup; }
  rc = parse(g);
cleanup:
  if (rc < 0) {
    dq_gguf_close(g);
    g = NULL;
  }
  *out = g;
  return rc;
}

int dq_gguf_open(dq_gguf **out, const char *path)
{
  DQ_ASSERT_ARG(out);
  *out = NULL;
  DQ_ASSERT_ARG(path);
  struct stat st;
  /* O_NONBLOCK: a FIFO with no writer would block the open until Ctrl-C;
   * it is refused below as not a regular file (no effect on a file's reads) */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return dq_err_set(errno == ENOENT ? DOCQ_ENOTFOUND : DOCQ_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (fstat(fd, &st) < 0) {
    int e = errno;
    close(fd);
    return dq_err_set(DOCQ_EIO, "%s: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return dq_err_set(DOCQ_EIO, "%s: not a regular file", path);
  }
  if (st.st_size < 8 || (uint64_t)st.st_size > SIZE_MAX) {
    close(fd);
    return dq_err_set(DOCQ_ECORRUPT, "%s: file is %lld bytes, too short to be a GGUF file", path, (long long)st.st_size);
  }
  dq_map map;
  int rc = dq_map_file(&map, fd, (size_t)st.st_size, dq_map_policy_default(), path);
  if (rc < 0) {
    close(fd);
    return rc;
  }
  if ((rc = from_bytes(out, map.p, map.n, path, 1)) < 0) {
    close(fd);
    return rc;
  }
  (*out)->map_state = map.state;
  (*out)->fd = fd; /* for dq_gguf_check */
  return 0;
}

int dq_gguf_from_buffer(dq_gguf **out, const void *p, size_t n)
{
  DQ_ASSERT_ARG(out);
  *out = NULL;
  DQ_ASSERT_ARG(p || n == 0);
  static const uint8_t empty[1];
  return from_bytes(out, p ? p : empty, n, "<buffer>", 0);
}

void dq_gguf_close(dq_gguf *g)
{
  if (!g) return;
  for (size_t i = 0; i < g->n_kv; i++) {
    dq_free(g->kv[i].key);
    dq_free(g->kv[i].str_offsets);
  }
  dq_free(g->kv);
  for (size_t i = 0; i < g->n_tensors; i++) dq_free(g->tensors[i].name);
  dq_free(g->tensors);
  if (g->mapped) munmap((void *)g->base, g->size);
  if (g->fd >= 0) close(g->fd);
  dq_free(g->path);
  dq_free(g);
}

int dq_gguf_check(const dq_gguf *g)
{
  struct stat st;
  if (!g || g->fd < 0 || fstat(g->fd, &st) < 0 || (uint64_t)st.st_size >= (uint64_t)g->size) return 0;
  return dq_err_set(DOCQ_EIO, "%s: the file was cut to %lld bytes while in use (it had %zu); load the model again",
                    g->path, (long long)st.st_size, g->size);
}

/* ===== Lookups and typed getters ===== */

long dq_gguf_find(const dq_gguf *g, const char *key)
{
  if (!g || !key) return -1;
  for (size_t i = 0; i < g->n_kv; i++)
    if (!strcmp(g->kv[i].key, key)) return (long)i;
  return -1;
}

const dq_gguf_tensor *dq_gguf_tensor_find(const dq_gguf *g, const char *name)
{
  if (!g || !name) return NULL;
  for (size_t i = 0; i < g->n_tensors; i++)
    if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
  return NULL;
}

static int lookup(const dq_gguf *g, const char *key, const dq_gguf_kv **kv)
{
  long i = dq_gguf_find(g, key);
  if (i < 0) return dq_err_set(DOCQ_ENOTFOUND, "%s: key '%s' not found", g ? g->path : "gguf", key ? key : "(null)");
  *kv = &g->kv[i];
  return 0;
}

static int type_error(const dq_gguf *g, const dq_gguf_kv *kv, const char *want)
{
  return dq_err_set(DOCQ_ECORRUPT, "%s: key '%s' is of type %s, expected %s", g->path, kv->key, vtype_name(kv->type), want);
}

/* Integer value as (negative?, magnitude): covers every integer type exactly. */
static int get_int(const dq_gguf *g, const dq_gguf_kv *kv, int *neg, uint64_t *mag, const char *want)
{
  static const int is_signed[DQ_GGUF_VTYPE_COUNT] = {[DQ_GGUF_I8] = 1, [DQ_GGUF_I16] = 1, [DQ_GGUF_I32] = 1, [DQ_GGUF_I64] = 1};
  switch (kv->type) {
  case DQ_GGUF_U8: case DQ_GGUF_I8: case DQ_GGUF_U16: case DQ_GGUF_I16:
  case DQ_GGUF_U32: case DQ_GGUF_I32: case DQ_GGUF_U64: case DQ_GGUF_I64: break;
  default: return type_error(g, kv, want);
  }
  size_t sz = vtype_size(kv->type);
  uint64_t v = le_load(kv->data, sz);
  *neg = 0;
  if (is_signed[kv->type] && (v >> (8 * sz - 1)) & 1) {
    *neg = 1;
    /* two's complement magnitude of a sz-byte negative number */
    uint64_t mask = sz == 8 ? UINT64_MAX : ((1ull << (8 * sz)) - 1);
    v = ((~v) & mask) + 1;
  }
  *mag = v;
  return 0;
}

static int range_error(const dq_gguf *g, const dq_gguf_kv *kv, int neg, uint64_t mag, const char *want)
{
  return dq_err_set(DOCQ_ECORRUPT, "%s: key '%s' value %s%" PRIu64 " does not fit in %s", g->path, kv->key, neg ? "-" : "", mag, want);
}

int dq_gguf_get_u64(const dq_gguf *g, const char *key, uint64_t *out)
{
  const dq_gguf_kv *kv = NULL;
  int neg, rc;
  uint64_t mag;
  if ((rc = lookup(g, key, &kv)) < 0 || (rc = get_int(g, kv, &neg, &mag, "an integer")) < 0) return rc;
  if (neg && mag) return range_error(g, kv, neg, mag, "u64");
  *out = mag;
  return 0;
}

int dq_gguf_get_u32(const dq_gguf *g, const char *key, uint32_t *out)
{
  const dq_gguf_kv *kv = NULL;
  int neg, rc;
  uint64_t mag;
  if ((rc = lookup(g, key, &kv)) < 0 || (rc = get_int(g, kv, &neg, &mag, "an integer")) < 0) return rc;
  if ((neg && mag) || mag > UINT32_MAX) return range_error(g, kv, neg, mag, "u32");
  *out = (uint32_t)mag;
  return 0;
}

int dq_gguf_get_i32(const dq_gguf *g, const char *key, int32_t *out)
{
  const dq_gguf_kv *kv = NULL;
  int neg, rc;
  uint64_t mag;
  if ((rc = lookup(g, key, &kv)) < 0 || (rc = get_int(g, kv, &neg, &mag, "an integer")) < 0) return rc;
  if (neg ? mag > (uint64_t)INT32_MAX + 1 : mag > INT32_MAX) return range_error(g, kv, neg, mag, "i32");
  *out = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
  return 0;
}

int dq_gguf_get_f32(const dq_gguf *g, const char *key, float *out)
{
  const dq_gguf_kv *kv = NULL;
  int neg, rc;
  uint64_t mag;
  if ((rc = lookup(g, key, &kv)) < 0) return rc;
  if (kv->type == DQ_GGUF_F32) {
    uint32_t b = (uint32_t)le_load(kv->data, 4);
    memcpy(out, &b, 4);
    return 0;
  }
  if (kv->type == DQ_GGUF_F64) {
    uint64_t b = le_load(kv->data, 8);
    double d;
    memcpy(&d, &b, 8);
    *out = (float)d;
    return 0;
  }
  if ((rc = get_int(g, kv, &neg, &mag, "a number")) < 0) return rc;
  *out = neg ? -(float)mag : (float)mag;
  return 0;
}

int dq_gguf_get_bool(const dq_gguf *g, const char *key, int *out)
{
  const dq_gguf_kv *kv = NULL;
  int rc;
  if ((rc = lookup(g, key, &kv)) < 0) return rc;
  if (kv->type != DQ_GGUF_BOOL) return type_error(g, kv, "bool");
  *out = kv->data[0] != 0;
  return 0;
}

int dq_gguf_get_str(const dq_gguf *g, const char *key, const char **s, size_t *len)
{
  const dq_gguf_kv *kv = NULL;
  int rc;
  if ((rc = lookup(g, key, &kv)) < 0) return rc;
  if (kv->type != DQ_GGUF_STRING) return type_error(g, kv, "string");
  *s = (const char *)kv->data;
  *len = (size_t)kv->n;
  return 0;
}

int dq_gguf_get_arr(const dq_gguf *g, const char *key, int *arr_type, uint64_t *n, const void **data)
{
  const dq_gguf_kv *kv = NULL;
  int rc;
  if ((rc = lookup(g, key, &kv)) < 0) return rc;
  if (kv->type != DQ_GGUF_ARRAY) return type_error(g, kv, "array");
  *arr_type = kv->arr_type;
  *n = kv->n;
  *data = kv->data;
  return 0;
}

int dq_gguf_arr_str(const dq_gguf *g, long kv_index, uint64_t i, const char **s, size_t *len)
{
  DQ_ASSERT_ARG(g && s && len);
  if (kv_index < 0 || (size_t)kv_index >= g->n_kv) return dq_err_set(DOCQ_EINVAL, "%s: key index %ld out of range", g->path, kv_index);
  const dq_gguf_kv *kv = &g->kv[kv_index];
  if (kv->type != DQ_GGUF_ARRAY || kv->arr_type != DQ_GGUF_STRING) return type_error(g, kv, "array of string");
  if (i >= kv->n)
    return dq_err_set(DOCQ_EINVAL, "%s: key '%s': index %" PRIu64 " out of range (%" PRIu64 " elements)", g->path, kv->key, i, kv->n);
  *s = (const char *)kv->data + kv->str_offsets[i];
  *len = (size_t)(kv->str_offsets[i + 1] - kv->str_offsets[i] - 8);
  return 0;
}
