/* Shared internals of the tokenizers (tokenizer.c, tok_spm.c, tok_bpe.c,
 * tok_wpm.c, tok_pretok.c). Not used outside src/engine/tok*.c.
 *
 * Invariants of a loaded dq_tok:
 *   - text + off[i] is token i's text, len[i] bytes, NUL-terminated (copied
 *     from the file, so the dq_gguf may be closed);
 *   - the vocab hash maps a text to the LAST id holding it (as llama.cpp's
 *     token_to_id map does when a vocabulary has duplicates);
 *   - every special id is -1 or < n_vocab;
 *   - for BPE, merge i joins (mtext+moff[i], mleft[i] bytes) with the bytes
 *     that follow up to mlen[i]; rank = i. */
#ifndef DQ_ENGINE_TOK_INTERNAL_H
#define DQ_ENGINE_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

/* Open-addressing string -> int32 table; keys live in a caller's blob. */
typedef struct dq_strmap {
  int32_t *slot;   /* value index or -1 */
  uint32_t mask;   /* capacity - 1 (capacity a power of two) */
} dq_strmap;

typedef struct dq_i32vec {
  int32_t *p;
  size_t n, cap;
  int oom;
} dq_i32vec;

struct dq_tok {
  int kind;            /* enum dq_tok_kind */
  int pre;             /* enum dq_tok_pre */
  char pre_name[64];
  char *warning;       /* NULL or a message */
  int32_t n_vocab;
  char *text;          /* all token texts, NUL-separated */
  uint32_t *off;       /* (n_vocab) */
  uint32_t *len;       /* (n_vocab) */
  float *score;        /* (n_vocab) */
  uint8_t *type;       /* (n_vocab) enum dq_tok_type */
  uint32_t max_len;    /* longest token text in bytes */
  dq_strmap vocab;
  dq_tok_special sp;
  int add_bos, add_eos, add_space_prefix;
  int spm_word_split;   /* SPM may merge word by word (see tok_spm.c) */
  int32_t byte_tok[256];  /* SPM byte fallback token of each byte (-1: none) */
  int32_t *special;    /* ids matched by text when partitioning (CONTROL, UNKNOWN, USER_DEFINED), longest first */
  size_t n_special;
  uint8_t *rstrip;     /* (n_vocab) 1: white space after this special token is dropped (Phi-3); NULL: none */
  int32_t eog[32];
  size_t n_eog;
  /* BPE merges */
  char *mtext;         /* merge texts without the separating space, NUL-separated */
  uint32_t *moff, *mlen, *mleft; /* (n_merges) */
  size_t n_merges;
  dq_strmap merges;
};

/* ---- helpers (tokenizer.c) ---- */
uint64_t dq_tok_hash(const char *s, size_t n);
int32_t dq_tok_lookup(const dq_tok *t, const char *s, size_t n);
/* Rank of the merge (left, right) where left = s[0..nl), right = s[nl..nl+nr), or -1. */
int32_t dq_tok_merge_rank(const dq_tok *t, const char *s, size_t nl, size_t nr);
int dq_i32_push(dq_i32vec *v, int32_t x);

/* Bytes of the UTF-8 sequence that starts with byte c, judged by the lead
 * byte only, as llama.cpp does (continuation bytes count as 1). */
static inline size_t dq_utf8_len_lead(unsigned char c)
{
  static const uint8_t tab[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return tab[c >> 4];
}

/* Decode one code point at s[0..n) (n >= 1). Invalid or truncated sequences
 * give U+FFFD and consume one byte. Returns bytes consumed. */
size_t dq_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encode cp as UTF-8 into out (4 bytes room); returns bytes written. */
size_t dq_utf8_encode(uint32_t cp, char *out);

/* ---- algorithms (one file each) ---- */
/* SPM over one raw fragment (spaces already escaped to U+2581). */
int dq_spm_encode(const dq_tok *t, const char *s, size_t n, dq_i32vec *out);
/* Byte-level BPE over one raw fragment: pre-tokenize, map bytes, merge. */
int dq_bpe_encode(const dq_tok *t, const char *s, size_t n, dq_i32vec *out);
/* WordPiece over one raw fragment. */
int dq_wpm_encode(const dq_tok *t, const char *s, size_t n, dq_i32vec *out);

/* Pre-tokenizer: split code points cp[0..n) into words; calls emit with
 * [start, end) code point ranges in order, covering all of cp. Returns 0 or
 * the first non-zero value emit returned. */
typedef int (*dq_pretok_emit)(size_t start, size_t end, void *ctx);
int dq_pretok_split(int pre, const uint32_t *cp, size_t n, dq_pretok_emit emit, void *ctx);

/* GPT-2 byte <-> unicode mapping (bytes_to_unicode). */
uint32_t dq_bpe_byte_to_cp(uint8_t b);
int dq_bpe_cp_to_byte(uint32_t cp); /* -1 when cp is not in the mapping */

#endif
