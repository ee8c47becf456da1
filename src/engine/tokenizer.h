/* Tokenizers read from a GGUF file: SentencePiece BPE ("llama"), byte-level
 * BPE with a pre-tokenizer ("gpt2") and WordPiece ("bert"), following what
 * llama.cpp does so that token ids match it exactly (checked against the
 * vectors in shared/vocab).
 *
 * Everything the tokenizer needs is copied out of the GGUF at load time, so a
 * dq_tok does not depend on the dq_gguf staying open. Every array, length and
 * id read from the file is validated (DOCQ_ECORRUPT naming the key otherwise).
 * A loaded dq_tok is immutable: any number of threads may encode and decode
 * with it at once.
 *
 * Token ids are int32_t; -1 means "none" wherever an id is optional. */
#ifndef DQ_ENGINE_TOKENIZER_H
#define DQ_ENGINE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "util/mem.h"

typedef struct dq_tok dq_tok;

enum dq_tok_kind {
  DQ_TOK_SPM = 1, /* tokenizer.ggml.model = llama: SentencePiece BPE, byte fallback */
  DQ_TOK_BPE = 2, /* gpt2: byte-level BPE with a regex pre-tokenizer */
  DQ_TOK_WPM = 3  /* bert: WordPiece */
};

/* Pre-tokenizers of byte-level BPE (tokenizer.ggml.pre). */
enum dq_tok_pre {
  DQ_PRE_NONE = 0,   /* SPM and WPM do not use one */
  DQ_PRE_GPT2 = 1,   /* 's|'t|...| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
  DQ_PRE_LLAMA3 = 2, /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
  DQ_PRE_QWEN2 = 3,  /* the Llama 3 expression with \p{N} (single digits) */
  DQ_PRE_SMOLLM = 4, /* \p{N} isolated first, then the GPT-2 expression */
  DQ_PRE_GPT4O = 5,  /* o200k's: letter runs split at case changes, contractions kept on the word, \p{N}{1,3},
                        punctuation runs with [\r\n/]* (Phi-4-mini, Llama 4); see tok_pretok.c */
  DQ_PRE_TEKKEN = 6  /* Mistral's tekken: GPT-4o's without contractions, \p{N} (Mistral Nemo, Small 3) */
};

/* Token types as GGUF stores them (tokenizer.ggml.token_type). */
enum dq_tok_type {
  DQ_TT_UNDEFINED = 0, DQ_TT_NORMAL = 1, DQ_TT_UNKNOWN = 2, DQ_TT_CONTROL = 3,
  DQ_TT_USER_DEFINED = 4, DQ_TT_UNUSED = 5, DQ_TT_BYTE = 6
};

/* Special token ids (-1 when the vocabulary has none). For WordPiece, bos is
 * [CLS] and eos is [SEP] unless the file says otherwise. */
typedef struct dq_tok_special {
  int32_t bos, eos, unk, sep, pad, cls, mask, eot, eom;
  int32_t fim_pad, fim_rep, fim_sep; /* fill-in-the-middle: padding, repository name, file separator */
  int32_t fim_pre, fim_suf, fim_mid; /* fill-in-the-middle: prefix, suffix, middle */
} dq_tok_special;

/* Load the tokenizer described by the tokenizer.ggml.* keys of `g`.
 * Errors: DOCQ_ENOTFOUND (no tokenizer.ggml.model / tokens), DOCQ_EUNSUPPORTED
 * (a model other than llama, gpt2, bert), DOCQ_ECORRUPT (arrays of the wrong
 * type or length, ids out of range, malformed merges), DOCQ_ENOMEM.
 * An unknown tokenizer.ggml.pre is not an error: the GPT-2 pre-tokenizer is
 * used and dq_tok_warning() says so (also logged at DOCQ_LOG_WARN). */
int dq_tok_load(dq_tok **out, const dq_gguf *g);
void dq_tok_free(dq_tok *t);

int dq_tok_kind(const dq_tok *t);             /* enum dq_tok_kind */
int dq_tok_pre(const dq_tok *t);              /* enum dq_tok_pre */
const char *dq_tok_pre_name(const dq_tok *t); /* as written in the file, "" if absent */
int32_t dq_tok_n_vocab(const dq_tok *t);
const dq_tok_special *dq_tok_specials(const dq_tok *t);
int dq_tok_add_bos(const dq_tok *t);          /* tokenizer.ggml.add_bos_token (or the model's default) */
int dq_tok_add_eos(const dq_tok *t);
/* End of generation, as llama.cpp's set: eos, eot, eom, the FIM pad,
 * repository and file-separator tokens, and control tokens with texts such
 * as <|im_end|> and <|end_of_text|> (build_eog in tokenizer.c). */
int dq_tok_is_eog(const dq_tok *t, int32_t id);
/* The warning recorded at load (unknown pre-tokenizer), or NULL. */
const char *dq_tok_warning(const dq_tok *t);

/* Id of the token whose text is exactly s[0..len), or -1. */
int32_t dq_tok_find(const dq_tok *t, const char *s, size_t len);
/* Raw text of a token as stored (e.g. "▁the", "Ġthe", "<0x0A>"); NULL for a bad id. */
const char *dq_tok_text(const dq_tok *t, int32_t id, size_t *len);
int dq_tok_type(const dq_tok *t, int32_t id); /* enum dq_tok_type; -1 for a bad id */
float dq_tok_score(const dq_tok *t, int32_t id);

/* Tokenize text[0..len) (UTF-8; invalid bytes are read as U+FFFD by the BPE
 * and WordPiece pre-tokenizers, and as byte-fallback tokens by SPM).
 * add_special: add BOS/EOS (CLS/SEP for WordPiece) as the vocabulary asks.
 * parse_special: text of control tokens (e.g. "<|im_start|>") becomes that
 * token; without it only user-defined tokens are matched as a whole.
 * Writes min(cap, count) ids to `ids` (which may be NULL when cap is 0) and
 * the full count to *n_out, so a caller can size a buffer with a first call.
 * Errors: DOCQ_EINVAL, DOCQ_ENOMEM. */
int dq_tok_encode(const dq_tok *t, const char *text, size_t len, int add_special, int parse_special,
                  int32_t *ids, size_t cap, size_t *n_out);

/* The bytes a token stands for: byte-fallback tokens <0xNN> give that byte,
 * "▁" becomes a space (SPM, WordPiece), byte-level BPE text is mapped back
 * to bytes. Control tokens give "" unless `special` is set (then their text).
 * Writes at most cap bytes (no NUL) and returns the full length, or -1 for an
 * id out of range. A piece may be part of a UTF-8 sequence. */
long dq_tok_piece(const dq_tok *t, int32_t id, int special, char *buf, size_t cap);

/* s[0..n) with the text of every control token in it ("<|im_end|>") broken
 * by U+200B after its first byte, so that a tokenization that parses special
 * tokens reads it as text: for untrusted text (retrieved passages) put into
 * a chat prompt, which is tokenized whole with its markers. *out (dq_malloc'd,
 * NUL-terminated, *out_n bytes) is NULL when nothing had to change.
 * Errors: DOCQ_ENOMEM. */
int dq_tok_defuse(const dq_tok *t, const char *s, size_t n, char **out, size_t *out_n);

/* Concatenate the pieces of ids[0..n) into a dq_malloc'd NUL-terminated
 * string (*len bytes, may be NULL). Without `special`, a leading BOS is
 * skipped (when the vocabulary adds one) and control tokens give nothing.
 * The space SPM and WordPiece put before the first word is removed, so
 * decode(encode(s)) gives s back for SPM (unless s holds U+2581, read as a
 * space) and byte-level BPE (valid UTF-8). Errors: DOCQ_EINVAL (an id out of
 * range), DOCQ_ENOMEM. */
int dq_tok_decode(const dq_tok *t, const int32_t *ids, size_t n, int special, char **out, size_t *len);

/* Generated text as valid UTF-8, from token pieces that may cut a
 * character anywhere (byte-fallback tokens) or hold bytes that are not UTF-8
 * at all (a model is free to emit any byte tokens): whole characters are
 * passed on, a sequence that may still complete is held (at most 3 bytes),
 * and each byte that belongs to no whole character becomes one U+FFFD, so
 * the text is the same however the pieces cut it. Start from a zeroed
 * dq_utf8_stream. */
typedef struct dq_utf8_stream {
  unsigned char pend[4];
  size_t n;
} dq_utf8_stream;

/* Append the whole characters of what is held plus p[0..n) to out. 0 or DOCQ_ENOMEM. */
int dq_utf8_stream_put(dq_utf8_stream *u, const char *p, size_t n, dq_buf *out);
/* No more bytes: each byte of a held incomplete sequence becomes U+FFFD. 0 or DOCQ_ENOMEM. */
int dq_utf8_stream_end(dq_utf8_stream *u, dq_buf *out);

#endif
