/* GGUF v2/v3 reader over a read-only memory map (or a caller's buffer).
 *
 * File layout (little-endian):
 *   u32 magic "GGUF" | u32 version (2,3) | u64 n_tensors | u64 n_kv
 *   n_kv x { string key | u32 type | value }       string = u64 len + bytes
 *   n_tensors x { string name | u32 n_dims (1..4) | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to `general.alignment` (default 32) | tensor data (offsets relative to here)
 *
 * Every read is bounds-checked (util/rd.h); counts, sizes and offsets are
 * overflow-checked and validated against the file size; a malformed file
 * gives DOCQ_ECORRUPT with a message naming the file and the problem, never a
 * crash. Keys and tensor names are copied and NUL-terminated; values point
 * into the map. The parsed file is immutable and may be shared by threads. */
#ifndef DQ_ENGINE_GGUF_H
#define DQ_ENGINE_GGUF_H

#include <stddef.h>
#include <stdint.h>

enum dq_gguf_vtype {
  DQ_GGUF_U8 = 0, DQ_GGUF_I8 = 1, DQ_GGUF_U16 = 2, DQ_GGUF_I16 = 3, DQ_GGUF_U32 = 4, DQ_GGUF_I32 = 5,
  DQ_GGUF_F32 = 6, DQ_GGUF_BOOL = 7, DQ_GGUF_STRING = 8, DQ_GGUF_ARRAY = 9, DQ_GGUF_U64 = 10,
  DQ_GGUF_I64 = 11, DQ_GGUF_F64 = 12, DQ_GGUF_VTYPE_COUNT
};

/* ggml tensor types (numbering as in ggml). */
enum dq_ggml_type {
  DQ_T_F32 = 0, DQ_T_F16 = 1, DQ_T_Q4_0 = 2, DQ_T_Q4_1 = 3, DQ_T_Q5_0 = 6, DQ_T_Q5_1 = 7,
  DQ_T_Q8_0 = 8, DQ_T_Q8_1 = 9, DQ_T_Q2_K = 10, DQ_T_Q3_K = 11, DQ_T_Q4_K = 12, DQ_T_Q5_K = 13,
  DQ_T_Q6_K = 14, DQ_T_Q8_K = 15, DQ_T_IQ2_XXS = 16, DQ_T_IQ2_XS = 17, DQ_T_IQ3_XXS = 18,
  DQ_T_IQ1_S = 19, DQ_T_IQ4_NL = 20, DQ_T_IQ3_S = 21, DQ_T_IQ2_S = 22, DQ_T_IQ4_XS = 23,
  DQ_T_I8 = 24, DQ_T_I16 = 25, DQ_T_I32 = 26, DQ_T_I64 = 27, DQ_T_F64 = 28, DQ_T_IQ1_M = 29,
  DQ_T_BF16 = 30, DQ_T_Q4_0_4_4 = 31, DQ_T_Q4_0_4_8 = 32, DQ_T_Q4_0_8_8 = 33, DQ_T_TQ1_0 = 34,
  DQ_T_TQ2_0 = 35, DQ_T_IQ4_NL_4_4 = 36, DQ_T_IQ4_NL_4_8 = 37, DQ_T_IQ4_NL_8_8 = 38, DQ_T_MXFP4 = 39,
  DQ_T_COUNT = 40
};

/* Block geometry of a tensor type: elements per block and bytes per block.
 * Returns 0 for types docq does not know (block_elems = 0). Table-driven.
 * The table knows every type a GGUF file may hold, also those the kernels
 * cannot compute with (dq_kernels_supports), so such a file still parses
 * (its tokenizer and metadata are usable) and loading it as a model names the
 * type instead of calling the file damaged. */
typedef struct dq_type_info { const char *name; uint32_t block_elems; uint32_t block_bytes; } dq_type_info;
const dq_type_info *dq_type_info_get(int type); /* never NULL; name "unknown" for unknown */

/* Bytes of a row of n elements of `type`; 0 when n is not a multiple of the block size. */
size_t dq_type_row_bytes(int type, int64_t n);

typedef struct dq_gguf_kv {
  char *key;
  int type;               /* dq_gguf_vtype */
  int arr_type;           /* element type when type == ARRAY */
  uint64_t n;             /* array length (1 for scalars; byte length for STRING) */
  const uint8_t *data;    /* scalar value / string bytes / first array element */
  uint64_t *str_offsets;  /* ARRAY of STRING: n+1 offsets of each string's bytes relative to data (owned) */
} dq_gguf_kv;

typedef struct dq_gguf_tensor {
  char *name;
  int type;               /* dq_ggml_type */
  uint32_t n_dims;
  int64_t ne[4];          /* ne[0] is the fastest-varying (row length); unused dims are 1 */
  uint64_t offset;        /* relative to the data section */
  size_t nbytes;
  const void *data;       /* inside the map, aligned */
} dq_gguf_tensor;

typedef struct dq_gguf {
  char *path;             /* for messages; "<buffer>" for buffers */
  const uint8_t *base; size_t size;
  int mapped;             /* 1 when base is our mmap (engine/mapfile.h) */
  int fd;                 /* the mapped file, kept open for dq_gguf_check; -1 for buffers */
  int map_state;          /* dq_map_state of that mapping */
  uint32_t version;
  uint32_t alignment;
  dq_gguf_kv *kv; size_t n_kv;
  dq_gguf_tensor *tensors; size_t n_tensors;
  size_t data_offset;     /* start of the tensor data section */
} dq_gguf;

/* mmap and parse a file. Errors: DOCQ_ENOTFOUND, DOCQ_EIO, DOCQ_ECORRUPT,
 * DOCQ_EUNSUPPORTED (version 1, big-endian file). */
int dq_gguf_open(dq_gguf **out, const char *path);
/* Parse a caller's buffer (not copied: it must outlive the result). */
int dq_gguf_from_buffer(dq_gguf **out, const void *p, size_t n);
void dq_gguf_close(dq_gguf *g);
/* Whether the mapped file still holds all its bytes. Another program may cut
 * it while it is mapped (a download written over it in place, cp onto it),
 * and reading a mapped page past the new end raises SIGBUS: callers check
 * before they read weights again (each prompt batch, each token), so such a
 * change ends a generation with an error instead of a crash. It cannot
 * close the window during one batch. DOCQ_EIO naming the file when it
 * shrank; 0 otherwise (and for buffers). */
int dq_gguf_check(const dq_gguf *g);

/* Index of a key, or -1. */
long dq_gguf_find(const dq_gguf *g, const char *key);

/* Typed getters: DOCQ_ENOTFOUND when absent, DOCQ_ECORRUPT (message names the
 * key) when the type does not fit. Integer getters accept any integer type
 * whose value fits; float getters accept F32/F64 and integers. */
int dq_gguf_get_u32(const dq_gguf *g, const char *key, uint32_t *out);
int dq_gguf_get_u64(const dq_gguf *g, const char *key, uint64_t *out);
int dq_gguf_get_i32(const dq_gguf *g, const char *key, int32_t *out);
int dq_gguf_get_f32(const dq_gguf *g, const char *key, float *out);
int dq_gguf_get_bool(const dq_gguf *g, const char *key, int *out);
/* String value: pointer into the map (NOT NUL-terminated) and length. */
int dq_gguf_get_str(const dq_gguf *g, const char *key, const char **s, size_t *len);
/* Array value: element type, count, pointer to the first element. */
int dq_gguf_get_arr(const dq_gguf *g, const char *key, int *arr_type, uint64_t *n, const void **data);
/* i-th string of a string array stored at kv index `kv_index`. */
int dq_gguf_arr_str(const dq_gguf *g, long kv_index, uint64_t i, const char **s, size_t *len);

/* Tensor by name, or NULL. */
const dq_gguf_tensor *dq_gguf_tensor_find(const dq_gguf *g, const char *name);

#endif
