/*
 * docq.h -- the public API of libdocq: local document question answering.
 *
 * This one header is the whole contract: anything not declared here is not API.
 *
 * Conventions (as SQLite and libgit2 do it):
 *   - Opaque handles: docq_db (an index), docq_model (a loaded GGUF model),
 *     docq_ctx (one conversation with a model: owns its KV cache),
 *     docq_results (search hits), docq_answer (an answer with citations).
 *   - Functions that can fail return int: DOCQ_OK (0) or a negative DOCQ_E*
 *     code. Output parameters come first; *out is set to NULL on failure.
 *     The message of the last failure on this thread: docq_error_last().
 *   - Objects returned through **out belong to the caller and are released
 *     with their docq_*_free function; freeing NULL is a no-op. Strings the
 *     library allocates for the caller are released with docq_free().
 *     Pointers returned by getters are borrowed: valid until the parent object
 *     is freed or changed. Inputs are copied unless documented otherwise.
 *   - Options structs start with `version`; initialise them with
 *     docq_*_options_init(&o, DOCQ_*_OPTIONS_VERSION) or the *_INIT macro.
 *     Passing NULL means defaults. Fields are only ever appended.
 *   - Callbacks return 0 to continue and non-zero to stop, which makes the
 *     running call return DOCQ_ECANCELED. Pointers passed into a callback are
 *     valid only during that callback. Callbacks run on the caller's thread.
 *
 * Thread-safety: distinct handles may be used on different threads at the same
 * time. One handle must not be used by two threads at once, except for
 * docq_interrupt(), which may be called from any thread. A loaded docq_model is
 * immutable and may be shared by many threads, each with its own docq_ctx.
 * The error state is thread-local.
 */
#ifndef DOCQ_H
#define DOCQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- export macros and versions ---------------------------------------- */

#if defined(_WIN32) && defined(DOCQ_BUILDING)
#define DOCQ_API __declspec(dllexport)
#elif defined(__GNUC__) && defined(DOCQ_BUILDING)
#define DOCQ_API __attribute__((visibility("default")))
#else
#define DOCQ_API
#endif

#define DOCQ_VERSION_MAJOR 0
#define DOCQ_VERSION_MINOR 1
#define DOCQ_VERSION_PATCH 0
#define DOCQ_VERSION_STRING "0.1.0"
/* M*1000000 + m*1000 + p */
#define DOCQ_VERSION_NUMBER (DOCQ_VERSION_MAJOR * 1000000 + DOCQ_VERSION_MINOR * 1000 + DOCQ_VERSION_PATCH)
/* True when the header is at least version M.m.p. */
#define DOCQ_VERSION_CHECK(M, m, p) (DOCQ_VERSION_NUMBER >= ((M) * 1000000 + (m) * 1000 + (p)))

/* The library's version number (compare with DOCQ_VERSION_NUMBER to check
 * that header and library match) and version string. Thread-safe. */
DOCQ_API int docq_version_number(void);
DOCQ_API const char *docq_version(void);

/* The instruction set of the engine's kernels in use: "AVX-512 VNNI" (with
 * F, BW, VL, DQ), "AVX2" (with FMA, F16C) or "generic C". The default build
 * optimizes for the machine it is built on (-march=native) and has only that
 * one. A portable x86-64 build (DOCQ_NATIVE=OFF, DOCQ_DISPATCH on by default)
 * has all three and picks, on first use, the highest the CPU runs, or a lower
 * one named by the environment variable DOCQ_KERNELS ("generic", "avx2",
 * "avx512"; read once per process; for a level the CPU lacks, or an
 * unknown name, the highest it has). A build for a plain x86-64 without dispatch runs the generic C
 * kernels, many times slower (decode ~17x on a 0.5B Q4_K_M file). Thread-safe. */
DOCQ_API const char *docq_kernels(void);

/* ---- status codes and errors ---------------------------------------------
 * Append-only: numbers are never reused. Treat unknown negatives as DOCQ_ERROR. */

enum {
  DOCQ_OK = 0,
  DOCQ_ERROR = -1,        /* generic failure */
  DOCQ_ENOMEM = -2,       /* out of memory */
  DOCQ_EINVAL = -3,       /* invalid argument */
  DOCQ_EIO = -4,          /* file system error (read, write, full disk) */
  DOCQ_ECORRUPT = -5,     /* malformed file or index */
  DOCQ_EUNSUPPORTED = -6, /* format, architecture or type not supported */
  DOCQ_ENOTFOUND = -7,    /* no such document, index or file */
  DOCQ_ECANCELED = -8,    /* stopped by a callback or docq_interrupt() */
  DOCQ_EBUSY = -9,        /* another process holds the index for writing */
  DOCQ_EVERSION = -10,    /* unknown options version or index format */
  DOCQ_EMISMATCH = -11    /* index built with other settings (embedder, chunker) */
};

typedef struct docq_error {
  int code;            /* the DOCQ_E* code of the last failure */
  const char *message; /* what went wrong, naming the file and the problem */
} docq_error;

/* The last error of the calling thread. Never NULL; valid until the next docq
 * call on this thread. Check the return code first, then read the message. */
DOCQ_API const docq_error *docq_error_last(void);

/* A static, human-readable name for a status code. */
DOCQ_API const char *docq_strerror(int code);

/* Release memory the library allocated for the caller (strings). NULL is a no-op. */
DOCQ_API void docq_free(void *p);

/* ---- logging ----------------------------------------------------------------- */

enum { DOCQ_LOG_ERROR = 0, DOCQ_LOG_WARN = 1, DOCQ_LOG_INFO = 2, DOCQ_LOG_DEBUG = 3 };

/* Receives diagnostics (skipped files, repaired UTF-8, warnings). */
typedef void (*docq_log_cb)(int level, const char *message, void *payload);

/* Install a process-wide log callback (NULL: silent, the default). Messages
 * above max_level are not delivered. Not thread-safe against itself: call it
 * once at start-up. The callback may be called from any thread that uses docq. */
DOCQ_API void docq_set_log(docq_log_cb cb, int max_level, void *payload);

/* ---- opening an index ------------------------------------------------------ */

typedef struct docq_db docq_db;

enum {
  DOCQ_OPEN_READONLY = 0x1, /* never write; fails with DOCQ_ENOTFOUND if absent; works on
                               read-only media (opened immutable when the folder cannot be written) */
  DOCQ_OPEN_CREATE = 0x2    /* create the index folder if it does not exist */
};

/* Open (or with DOCQ_OPEN_CREATE create) the index stored in folder `path`
 * (an SQLite database and a FAISS file, see docs/design.md). Repairs a FAISS
 * file left behind by a crash. Several readers and one writer may have the
 * same index open from different processes. A handle becomes the writer at
 * its first write (index, add, remove, settings) and stays it until
 * docq_db_free: meanwhile other handles, in this process or another, get
 * DOCQ_EBUSY when they write.
 * An index whose GGUF embedding model cannot be used (the file moved,
 * deleted or changed) still opens, with a warning in the log: docq_stat,
 * docq_check, docq_remove, a DOCQ_MODE_BM25 search or ask, and
 * docq_db_set_embedder(..., DOCQ_REEMBED) work; what needs the model
 * (other searches, indexing) fails with its error, naming the file.
 * Errors: DOCQ_ENOTFOUND, DOCQ_ECORRUPT, DOCQ_EVERSION (made by a newer docq),
 * DOCQ_EIO (also: a writable open of a folder that cannot be written). */
DOCQ_API int docq_db_open(docq_db **out, const char *path, unsigned flags);

/* Close the index and free the handle. NULL is a no-op. */
DOCQ_API void docq_db_free(docq_db *db);

/* Ask a running call on `db` (index, search, ask) to stop as soon as it can;
 * it then returns DOCQ_ECANCELED. Safe from any thread and from a signal
 * handler. The request is cleared when the next call on `db` starts. */
DOCQ_API void docq_interrupt(docq_db *db);

/* Choose the embedder of an index: `model_path` is a GGUF embedding model
 * (bert or nomic-bert architecture: all-MiniLM, bge, e5, gte, nomic-embed),
 * or NULL for the built-in embedder. The index records the model (identity,
 * file hash, dimension) and later opens load it automatically, so search and
 * ask use the same embedder. Vectors of different embedders are never mixed:
 * if the index already holds vectors of another embedder this fails with
 * DOCQ_EMISMATCH, unless `flags` has DOCQ_REEMBED, which re-encodes the stored
 * chunk text (documents are not reloaded) and swaps the vector index
 * atomically. Takes the writer lock (DOCQ_EBUSY). */
#define DOCQ_REEMBED 0x1u
DOCQ_API int docq_db_set_embedder(docq_db *db, const char *model_path, unsigned flags);

/* The answer model recorded in the index, so that a front end (`docq ask`)
 * finds it without being told each time: `model_path` is stored made
 * absolute; it must name an existing file (DOCQ_ENOTFOUND), whose loading is
 * left to the caller (docq_model_load, then docq_ask_options.model: docq_ask
 * does not load it by itself). NULL or "" forgets it. Takes the writer lock
 * (DOCQ_EBUSY); DOCQ_EINVAL on an index opened read-only. */
DOCQ_API int docq_db_set_answer_model(docq_db *db, const char *model_path);
/* The recorded answer model's path, NUL-terminated in out (cap bytes); ""
 * when none is recorded. DOCQ_EINVAL when cap is too small. */
DOCQ_API int docq_db_answer_model(docq_db *db, char *out, size_t cap);

/* ---- indexing ------------------------------------------------------------------ */

/* The stages of an index run, in this order. Files are indexed one at a
 * time, each read, chunked, embedded and stored before the run moves on (so
 * an interruption loses nothing committed): all of that is one stage, LOAD,
 * whose counters (files_done, bytes_done, chunks_done) are the run's progress.
 * EMBED is not reported by docq_index_paths (embedding is part of each file's
 * LOAD step); it keeps its number for compatibility. */
typedef enum docq_stage {
  DOCQ_STAGE_SCAN = 0,   /* walking folders; files_total still growing */
  DOCQ_STAGE_LOAD = 1,   /* the files, one by one: read, chunked, embedded and stored */
  DOCQ_STAGE_EMBED = 2,  /* not reported (see above) */
  DOCQ_STAGE_STORE = 3,  /* the end of the run: removing documents whose files are gone, writing the FAISS file */
  DOCQ_STAGE_DONE = 4    /* the run succeeded (the last call) */
} docq_stage;

/* Progress of a running index call. Totals may be 0 while unknown. */
typedef struct docq_progress {
  docq_stage stage;
  uint64_t files_done, files_total;
  uint64_t bytes_done, bytes_total;
  uint64_t chunks_done;
  const char *current_path; /* may be NULL */
} docq_progress;

/* Called at most about every 100 ms, and in any case when a stage starts
 * and once at its end (SCAN with the final files_total, LOAD with every file
 * done, STORE), then once with DONE; nothing after a failure.
 * Return non-zero to cancel (the call then returns DOCQ_ECANCELED; what was
 * committed stays committed). */
typedef int (*docq_progress_cb)(const docq_progress *p, void *payload);

/* What happened to one file; delivered through docq_index_options.on_file. */
typedef enum docq_file_status {
  DOCQ_FILE_ADDED = 0,
  DOCQ_FILE_UPDATED = 1,
  DOCQ_FILE_UNCHANGED = 2,
  DOCQ_FILE_REMOVED = 3,
  DOCQ_FILE_RENAMED = 4, /* same content found under a new path: not re-embedded */
  DOCQ_FILE_SKIPPED = 5, /* see reason */
  DOCQ_FILE_REPAIRED = 6 /* indexed, but invalid UTF-8 was replaced with U+FFFD */
} docq_file_status;

typedef void (*docq_file_cb)(const char *path, docq_file_status status, const char *reason, void *payload);

#define DOCQ_INDEX_OPTIONS_VERSION 1
typedef struct docq_index_options {
  unsigned int version;
  uint64_t max_file_bytes;   /* larger files are skipped; default 64 MiB */
  unsigned chunk_tokens;     /* target chunk size in tokens; 0 = default. Chosen by the first run of
                                an index (also after docq_db_set_embedder); later runs must agree
                                (DOCQ_EMISMATCH) */
  unsigned chunk_overlap;    /* overlap in tokens; (unsigned)-1 = default */
  int remove_missing;        /* 1 (default): files under the given folders that no longer exist are removed */
  docq_progress_cb progress; /* may be NULL */
  docq_file_cb on_file;      /* may be NULL */
  void *payload;             /* passed to both callbacks */
} docq_index_options;

#define DOCQ_INDEX_OPTIONS_INIT { DOCQ_INDEX_OPTIONS_VERSION, 64u << 20, 0, (unsigned)-1, 1, NULL, NULL, NULL }

/* Fill `opts` with defaults. Returns DOCQ_EVERSION for an unknown version. */
DOCQ_API int docq_index_options_init(docq_index_options *opts, unsigned int version);

/* Counts of one index run. */
typedef struct docq_index_stats {
  uint64_t added, updated, unchanged, removed, renamed, skipped, repaired;
  uint64_t chunks_added, chunks_removed;
  uint64_t bytes_read;  /* bytes of the files this run read (unchanged files are not read) */
  double seconds;
} docq_index_stats;

/* Index files and folders. Folders are walked recursively, skipping .git,
 * hidden folders, node_modules and .docqignore patterns. Only what changed is
 * redone (content hash per file; mtime/size as a fast path); each file is
 * committed on its own, so an interruption or crash loses nothing committed.
 * `stats` may be NULL. Errors: DOCQ_EBUSY (another indexer holds the index),
 * DOCQ_ECANCELED, DOCQ_EIO, DOCQ_ENOTFOUND (a path does not exist), DOCQ_EINVAL
 * (an element of `paths` is NULL). Per-file problems are not errors: they are reported through on_file. */
DOCQ_API int docq_index_paths(docq_db *db, const char *const *paths, size_t n_paths,
                              const docq_index_options *opts, docq_index_stats *stats);

/* Add or replace a document held in memory, for apps without files.
 * `id` names it (shown where a path would be, e.g. "note:42"); `title` may be
 * NULL; `format` is "text", "markdown" or "html" (NULL: "text");
 * `metadata_json` is a JSON object stored with it (may be NULL). */
DOCQ_API int docq_add_document(docq_db *db, const char *id, const char *title,
                               const char *text, size_t text_len, const char *format,
                               const char *metadata_json);

/* Remove a document (by its path or id) or, when `path` is a folder, every
 * document under it, with all its chunks and vectors. *n_removed (may be NULL)
 * gets the count. DOCQ_ENOTFOUND when nothing matched. */
DOCQ_API int docq_remove(docq_db *db, const char *path, uint64_t *n_removed);

/* ---- documents and statistics --------------------------------------------------- */

typedef struct docq_doc_info {
  int64_t id;
  const char *path;   /* path or in-memory id */
  const char *title;
  const char *format; /* "text", "markdown", "html" */
  uint64_t bytes;
  uint64_t chunks;
  int64_t mtime;      /* seconds since the epoch; 0 for in-memory documents */
  const char *tags;   /* comma-separated front-matter tags, "" if none */
} docq_doc_info;

/* Called once per document; return non-zero to stop listing. */
typedef int (*docq_doc_cb)(const docq_doc_info *info, void *payload);

/* List documents whose path starts with `prefix` (NULL: all), in path order. */
DOCQ_API int docq_list_documents(docq_db *db, const char *prefix, docq_doc_cb cb, void *payload);

typedef struct docq_stats {
  uint64_t documents, chunks, vectors;
  uint64_t text_bytes;     /* bytes of source text indexed */
  uint64_t index_bytes;    /* size of the index folder on disk */
  unsigned dim;            /* embedding dimension */
  const char *embedder;    /* embedder identity, e.g. "docq-hash-v3" or "gguf:<name>:<hash>" */
  const char *vector_index;/* FAISS index kind, e.g. "IDMap2,Flat" */
  int64_t last_run;        /* seconds since the epoch of the last index run; 0 = never */
  unsigned format_version; /* docq index format */
  unsigned chunk_tokens, chunk_overlap; /* the chunking of the index, chosen by its first index
                                           run (0 before that run) */
} docq_stats;

/* Index statistics. Strings in *out are borrowed from `db`, valid until the
 * next call on `db`. */
DOCQ_API int docq_stat(docq_db *db, docq_stats *out);

/* Verify the index's invariants: every chunk has its full-text row and one
 * vector, no row or vector without a chunk, and the FAISS index (after
 * catching up with SQLite) holds exactly the chunks. DOCQ_ECORRUPT with a
 * message describing the first violation. Used by tests and `docq status --check`. */
DOCQ_API int docq_check(docq_db *db);

/* ---- search ------------------------------------------------------------------------- */

typedef enum docq_mode { DOCQ_MODE_HYBRID = 0, DOCQ_MODE_BM25 = 1, DOCQ_MODE_VECTOR = 2 } docq_mode;
typedef enum docq_fusion { DOCQ_FUSION_DEFAULT = 0, DOCQ_FUSION_RRF = 1, DOCQ_FUSION_CONVEX = 2 } docq_fusion;
typedef enum docq_order { DOCQ_ORDER_EDGES = 0, DOCQ_ORDER_RELEVANCE = 1, DOCQ_ORDER_DOCUMENT = 2 } docq_order;

/* Version 2 added `feedback`; a caller built against version 1 still works
 * (it gets the default). */
#define DOCQ_SEARCH_OPTIONS_VERSION 2
typedef struct docq_search_options {
  unsigned int version;
  unsigned k;              /* passages wanted; default 10 */
  docq_mode mode;
  docq_fusion fusion;
  double bm25_weight;      /* weight of the lexical ranking in fusion; <0 = default */
  const char *path_prefix; /* only documents whose path or id starts with this, or that
                            * are this file or folder on disk (a relative path is read
                            * from the current directory, as docq_remove reads it); NULL: all */
  const char *path_glob;   /* only paths matching this fnmatch(3) pattern, '*' crossing '/';
                            * one that starts with neither '/' nor '*' matches at any
                            * folder ("notes/a*.md"); NULL: all */
  const char *tag;         /* only documents with this front-matter tag */
  int64_t after, before;   /* only documents with date/mtime in [after, before); 0 = open */
  int merge_neighbors;     /* 1 (default): adjacent chunks of a document become one span */
  int feedback;            /* 1 (default): pseudo-relevance feedback (RM3) re-ranks the lexical
                              candidates with terms of the best ones; 0: not (term proximity
                              re-ranks them either way) */
} docq_search_options;

#define DOCQ_SEARCH_OPTIONS_INIT { DOCQ_SEARCH_OPTIONS_VERSION, 10, DOCQ_MODE_HYBRID, DOCQ_FUSION_DEFAULT, -1.0, NULL, NULL, NULL, 0, 0, 1, 1 }
DOCQ_API int docq_search_options_init(docq_search_options *opts, unsigned int version);

typedef struct docq_results docq_results;

/* One retrieved passage (a chunk, or a span of merged neighbouring chunks). */
typedef struct docq_hit {
  int64_t doc_id;
  int64_t chunk_first, chunk_last; /* chunk ids covered (equal unless merged) */
  const char *path;
  const char *title;
  const char *section;   /* heading path, "A > B"; "" if none */
  const char *text;      /* the passage as written in the source */
  uint32_t line_first, line_last;
  double score;          /* fused score (higher is better) */
  double bm25_score, vector_score;
  int bm25_rank, vector_rank; /* 1-based; 0 = not in that list */
  const char *also_in;   /* near-duplicates collapsed into this hit: paths, '\n'-separated; "" if none */
  const char *format;    /* the document's: "text", "markdown" or "html" (text holds what was extracted) */
} docq_hit;

/* Search the index. The query is plain text: FTS5 operators, quotes and
 * punctuation in it are treated as words, never as syntax. */
DOCQ_API int docq_search(docq_results **out, docq_db *db, const char *query, const docq_search_options *opts);
DOCQ_API size_t docq_results_count(const docq_results *r);
/* Borrowed; valid until docq_results_free. NULL when i is out of range. */
DOCQ_API const docq_hit *docq_results_get(const docq_results *r, size_t i);
DOCQ_API void docq_results_free(docq_results *r);
/* A short excerpt of hit h for a result list: from the sentence of its text
 * that holds most of the query's words (query may be NULL: from the start),
 * white space collapsed, Markdown shown as rendered (links without their
 * targets, no HTML tags), at most max_bytes bytes of text, " ..." when cut.
 * Returns a string to free with docq_free; NULL when h is NULL or out of
 * memory. */
DOCQ_API char *docq_hit_snippet(const docq_hit *h, const char *query, size_t max_bytes);

/* ---- mentions: which documents hold a query's words ----------------------------------- */

/* One document that mentions a query. */
typedef struct docq_mention {
  const char *path;   /* as docq_hit's path */
  const char *title;  /* as docq_hit's title ("" if none) */
  uint32_t passages;  /* its passages that hold all of the query's words */
  const uint32_t *lines; /* where they are: lines[2 i] and lines[2 i + 1] are the first and last
                          * line (1-based) of passage i in the file, in file order */
  size_t n_lines;     /* passages with line numbers: == passages, but for passages without them */
} docq_mention;

typedef struct docq_mention_list {
  docq_mention *docs; /* most passages first, then by path (strcmp ascending) */
  size_t n_docs;      /* all of them: no top-k */
  uint64_t n_passages;/* sum of passages */
} docq_mention_list;

/* Every document with a passage holding all of query's words (or its quoted phrases).
 * A passage is a chunk: its text and its heading (the document title and heading path)
 * together. Words are the index's (case folded, accents removed, English words stemmed,
 * CJK runs as character pairs); every word counts, stop words too; a double-quoted part
 * is a phrase (an unbalanced quote runs to the end); FTS5 operators in the text are plain
 * words or punctuation, never syntax. An index without documents gives an empty list.
 * opts: only its filters are used (path_prefix, path_glob, tag, after, before); NULL for none.
 * Errors: DOCQ_EINVAL (NULL arguments, a query without words), DOCQ_ENOMEM, and those of reading the
 * index (DOCQ_EVERSION for an opts version this library does not know, DOCQ_ECANCELED after
 * docq_interrupt). *out is NULL on failure; free it with docq_mention_list_free (its strings
 * belong to it). Thread-safety: as docq_search. */
DOCQ_API int docq_mentions(docq_mention_list **out, docq_db *db, const char *query,
                           const docq_search_options *opts);
/* Free a list from docq_mentions; NULL is a no-op. */
DOCQ_API void docq_mention_list_free(docq_mention_list *list);

/* ---- models (GGUF) ---------------------------------------------------------------------- */

typedef struct docq_model docq_model;
typedef struct docq_ctx docq_ctx;

/* Load a GGUF model (llama, qwen2, qwen3, phi3, smollm3, gemma2, gemma3 architectures; or a tokenizer-only
 * file for tokenizing). Weights are memory-mapped, not copied; on Linux in 2 MiB pages
 * where the kernel allows (transparent huge pages not "never"), since decode
 * streams every weight per token. A file of 8 MiB or more that the page cache
 * holds in 4 KiB pages (just downloaded or copied) is dropped from the cache
 * once, so that it is read back in 2 MiB pages: one read of the file from
 * disk during the first generation. The environment variable
 * DOCQ_MODEL_RECACHE=0 keeps the cache as it is. The result is immutable
 * and may be shared between threads. Errors: DOCQ_ENOTFOUND, DOCQ_ECORRUPT
 * (truncated or malformed file, named in the message), DOCQ_EUNSUPPORTED.
 * A file cut short while mapped (written over in place) is found before
 * each prompt batch and token (DOCQ_EIO naming it); a cut during one
 * batch's read raises SIGBUS in the reading thread, which the application
 * may catch (docq's CLI prints a message and exits). */
DOCQ_API int docq_model_load(docq_model **out, const char *path);
DOCQ_API void docq_model_free(docq_model *m);

/* Load a GGUF file to describe it and to use its tokenizer, also when docq
 * cannot run its weights (an architecture, tensor type or RoPE scaling that
 * docq lacks, e.g. an IQ3_S file): such a model loads with has_weights 0,
 * docq_model_describe and docq_model_run_error say why, and contexts refuse
 * it with DOCQ_EUNSUPPORTED and that reason. A tokenizer docq lacks (t5,
 * rwkv...) does not fail the load either: the description says so, and
 * tokenizing and generating fail with DOCQ_EUNSUPPORTED saying why. A file
 * docq_model_load takes loads the same here. Errors: as docq_model_load,
 * except that a DOCQ_EUNSUPPORTED about the weights or the tokenizer does
 * not fail the load. */
DOCQ_API int docq_model_load_info(docq_model **out, const char *path);

/* Why m cannot generate, e.g. "FILE: tensor 'output.weight' has type iq3_s,
 * which docq does not support", or that it is a tokenizer-only file; NULL
 * when it can. Valid while m lives. */
DOCQ_API const char *docq_model_run_error(const docq_model *m);

/* A human-readable description (architecture, sizes, context, RoPE, tokenizer,
 * template). Free with docq_free. */
DOCQ_API char *docq_model_describe(const docq_model *m);

/* The chat template docq recognized in m's file, by the name
 * docq_ask_options.chat_template takes ("chatml", "qwen3", "deepseek-r1",
 * ...; "plain" when none is recognized). Valid while m lives. */
DOCQ_API const char *docq_model_chat_template(const docq_model *m);
/* 1 when a chat template (by that name) opens a think block for the answer,
 * so the model reasons before answering (deepseek-r1, chatml-think); 0
 * otherwise, and for an unknown name. */
DOCQ_API int docq_chat_template_thinks(const char *name);

/* Tokenize UTF-8 text. With add_special, BOS (and EOS where the file says so)
 * are added and special-token text is parsed. Writes up to `cap` ids to
 * `ids` and returns the number of tokens the text has (which may exceed cap:
 * call again with a larger buffer), or a negative code. */
DOCQ_API long docq_tokenize(const docq_model *m, const char *text, size_t len, int add_special,
                            int32_t *ids, size_t cap);

/* The text of tokens `ids` concatenated, as UTF-8. Free with docq_free. */
DOCQ_API char *docq_detokenize(const docq_model *m, const int32_t *ids, size_t n);

#define DOCQ_GEN_OPTIONS_VERSION 1
typedef struct docq_gen_options {
  unsigned int version;
  /* Values outside the ranges below are refused with DOCQ_EINVAL naming the
   * option (docq_gen_options_check). */
  int n_predict;         /* max new tokens; default 256 */
  float temperature;     /* >= 0; 0 = greedy; default 0.7 */
  int top_k;             /* >= 0; 0 = off; default 40 */
  float top_p;           /* 0..1; 1 = off; default 0.95 */
  float min_p;           /* 0..1; 0 = off; default 0.05 */
  float repeat_penalty;  /* > 0; 1 = off; default 1.1 */
  int repeat_last_n;     /* >= 0, the tokens penalized; 0 = none; default 64 */
  uint64_t seed;         /* default 0 = fixed seed 42 */
  const char *const *stop; /* NULL-terminated list of stop strings, may be NULL; each valid
                            UTF-8 (an empty one is ignored) */
  int n_threads;         /* 0..1024; 0 = all cores */
  /* Called with whole UTF-8 characters as they are generated (a byte the model
   * emits that belongs to no valid character comes as U+FFFD, here and in the
   * returned text); non-zero stops. */
  int (*on_token)(const char *utf8, size_t len, void *payload);
  void *payload;
  int parse_special;     /* 1: special-token text in the prompt (e.g. <|im_start|>) becomes
                            those tokens, as chat templates need; default 0 (plain text) */
} docq_gen_options;

#define DOCQ_GEN_OPTIONS_INIT { DOCQ_GEN_OPTIONS_VERSION, 256, 0.7f, 40, 0.95f, 0.05f, 1.1f, 64, 0, NULL, 0, NULL, NULL, 0 }
DOCQ_API int docq_gen_options_init(docq_gen_options *opts, unsigned int version);
/* Check opts as docq_generate, docq_chat and docq_ask (with a model) do
 * before they start, without a model: an application can refuse bad
 * settings before loading one. Returns 0, or DOCQ_EVERSION, or DOCQ_EINVAL
 * naming the option in docq_error_last (a stop string that is not valid
 * UTF-8: which one; a value outside its range). */
DOCQ_API int docq_gen_options_check(const docq_gen_options *opts);

/* A context (KV cache) for one conversation with `m`, able to hold n_ctx
 * tokens (0: the model's trained length). `m` must outlive it. */
DOCQ_API int docq_ctx_new(docq_ctx **out, const docq_model *m, unsigned n_ctx);
DOCQ_API void docq_ctx_free(docq_ctx *c);

/* Plain completion of `prompt` (BOS added as the file says). The generated
 * text is streamed to opts->on_token and also returned in *out_text (may be
 * NULL; free with docq_free). Errors include DOCQ_ECANCELED (on_token asked
 * to stop, or docq_ctx_interrupt) and DOCQ_EINVAL (an option out of range,
 * see docq_gen_options_check).
 * The context keeps what it read: when `prompt` begins as the previous
 * prompt on c did, the whole batches of n_batch tokens (docq_ctx_options)
 * they share are not read again (a conversation that resends its history
 * reads only what is new, and the last partial batch). The result is the
 * same, bit for bit, as on a new context (docq_ctx_last_reused says how many
 * tokens were kept). Not after docq_ctx_eval or docq_perplexity on c
 * (docq_ctx_eval(c, NULL, 0, 1, NULL) empties the cache), with dynamic NTK,
 * or, for a sliding-window model, once the window's keys before the shared
 * part have left its cache (about 2 n_batch tokens past it). */
DOCQ_API int docq_generate(docq_ctx *c, const char *prompt, const docq_gen_options *opts, char **out_text);

/* How the last docq_generate on a context ended. */
typedef enum docq_stop {
  DOCQ_STOP_NONE = 0,   /* no generation yet, or it failed (docq_generate returned an error) */
  DOCQ_STOP_EOS,        /* the model ended its text (an end-of-generation token) */
  DOCQ_STOP_STRING,     /* one of opts->stop appeared */
  DOCQ_STOP_LENGTH,     /* opts->n_predict tokens were generated */
  DOCQ_STOP_CONTEXT,    /* the context is full: the text may be cut short */
  DOCQ_STOP_CANCELED    /* docq_ctx_interrupt, or on_token asked to stop */
} docq_stop;

typedef struct docq_gen_info {
  size_t prompt_tokens;    /* the prompt's tokens, BOS included */
  size_t generated_tokens; /* tokens generated (an end-of-generation token not counted) */
  docq_stop stop;
} docq_gen_info;

/* Fills *out for the last docq_generate on c (zeros before the first). Call it
 * from the thread that generates, after docq_generate returns. */
DOCQ_API int docq_ctx_last_generation(const docq_ctx *c, docq_gen_info *out);

/* The prompt tokens the last docq_generate on c took from the cache instead
 * of reading them (see docq_generate); 0 before the first. */
DOCQ_API size_t docq_ctx_last_reused(const docq_ctx *c);

/* The seconds the last docq_generate on c spent reading its prompt (prefill)
 * and then writing its tokens (decode: from the prompt read to the end), by
 * the monotonic clock: docq_gen_info's counts over them are the tokens/s
 * (the prompt's, less docq_ctx_last_reused: only those were read).
 * Either pointer may be NULL. Zeros before the first generation, or when it
 * ended before the whole prompt was read. */
DOCQ_API int docq_ctx_last_timings(const docq_ctx *c, double *prompt_seconds, double *gen_seconds);

/* Ask a running docq_generate (or docq_ctx_eval) on `c` to stop as soon as
 * it can: between the prompt's batches (a long prompt need not finish) or
 * between tokens; it then returns DOCQ_ECANCELED. Safe from any thread and
 * from a signal handler. Cleared when the next docq_generate or
 * docq_ctx_eval starts. (docq_ask with a model stops the same way on
 * docq_interrupt of its db.) */
DOCQ_API void docq_ctx_interrupt(docq_ctx *c);

/* Progress of reading a prompt, most of the wait before the first token
 * (minutes for a long prompt and a large model on a laptop): `done` of the
 * prompt's `total` tokens are in the cache. Called before each batch of the
 * prompt (the first time with done = 0) and once when all are in (done =
 * total), on the generating thread. Non-zero cancels: the call returns
 * DOCQ_ECANCELED. */
typedef int (*docq_prompt_progress_cb)(size_t done, size_t total, void *payload);

/* Report the prompt's progress of every docq_generate on c to cb (NULL: stop
 * reporting). */
DOCQ_API void docq_ctx_set_prompt_progress(docq_ctx *c, docq_prompt_progress_cb cb, void *payload);

/* ---- chat: a conversation in the model's own format ------------------------------------ */

/* One message of a conversation. role: "system", "user" or "assistant"
 * (formats that name roles write others as given; the rest skip them);
 * content: UTF-8 text. */
typedef struct docq_chat_message {
  const char *role;
  const char *content;
} docq_chat_message;

/* The conversation msgs[0..n) written in a chat template, then, with
 * add_generation_prompt, the opening of the assistant's turn.
 * template_name: a name docq_ask_options.chat_template takes; NULL or "":
 * m's own (docq_model_chat_template). The text starts after BOS and holds
 * the template's markers as text: generate from it with gen.parse_special =
 * 1, or tokenize it with add_special = 1. A system message is written where
 * the format puts it (Gemma: at the start of the first user turn; Mistral
 * v3: before the last one). Formats whose template always writes a system
 * turn (Llama 3.1+, SmolLM3) do so here too, dated today (UTC from
 * SOURCE_DATE_EPOCH when set, else local time); so does a file's ChatML
 * template that writes a fixed system message when the conversation opens
 * without one (Qwen2 and Qwen2.5's "You are Qwen, created by Alibaba
 * Cloud. ...", SmolLM2's; docq_model_describe quotes it); other formats'
 * defaults are not added. *out: free with docq_free. Errors: DOCQ_EINVAL (a
 * message without role or content, an unknown template name, listing the
 * known ones), DOCQ_EUNSUPPORTED (m has no tokenizer), DOCQ_ENOMEM. */
DOCQ_API int docq_chat_format(const docq_model *m, const char *template_name, const docq_chat_message *msgs,
                              size_t n, int add_generation_prompt, char **out);

#define DOCQ_CHAT_OPTIONS_VERSION 1
typedef struct docq_chat_options {
  unsigned int version;
  const char *chat_template; /* as docq_chat_format's template_name; NULL: the model's own */
  /* A reasoning model's thinking (the "<think>...</think>" that DeepSeek-R1
   * distills, QwQ and Qwen3 in thinking mode write before the answer), kept
   * out of gen->on_token and the answer and streamed here instead, as
   * docq_ask_options.on_reasoning. May be NULL. */
  int (*on_reasoning)(const char *utf8, size_t len, void *payload);
  void *reasoning_payload;
} docq_chat_options;

#define DOCQ_CHAT_OPTIONS_INIT { DOCQ_CHAT_OPTIONS_VERSION, NULL, NULL, NULL }
DOCQ_API int docq_chat_options_init(docq_chat_options *opts, unsigned int version);

/* The assistant's next message in the conversation msgs[0..n) (usually
 * ending with a user message), generated on c: the conversation is written
 * in the template (docq_chat_format with the generation prompt) and
 * completed as docq_generate does, with gen's settings (gen->parse_special
 * is taken as 1; gen may be NULL: the defaults). The answer streams to
 * gen->on_token and comes back in *out_text (may be NULL; free with
 * docq_free); a leading think block goes to chat->on_reasoning and
 * *out_reasoning instead (may be NULL; set to NULL when there was none).
 * The thinking counts against gen->n_predict: an answer of "" with
 * reasoning and DOCQ_STOP_LENGTH means the model was still thinking (give
 * such models 1000 tokens or more). To go on, append the answer as an "assistant" message (without the
 * reasoning, as the templates want) and the next user message, and call
 * again on the same c: what c read of the earlier turns is kept (see
 * docq_generate), so a long conversation reads only what is new. What is
 * kept comes in whole batches of docq_ctx_options.n_batch: 128 keeps more
 * of short turns than the default 512 (6 turns of ~150 tokens: 1.44x
 * faster, bench/bench_reuse.c) and reads a long prompt ~7% slower.
 * c must hold the whole conversation and the answer: a full context ends
 * the answer (docq_ctx_last_generation: DOCQ_STOP_CONTEXT), and a
 * conversation that no longer fits is refused (DOCQ_EINVAL); drop its
 * oldest turns, or use a larger context. Errors: those of docq_chat_format
 * and docq_generate. */
DOCQ_API int docq_chat(docq_ctx *c, const docq_chat_message *msgs, size_t n, const docq_gen_options *gen,
                       const docq_chat_options *chat, char **out_text, char **out_reasoning);

/* ---- long context: RoPE scaling, per-context options, logits --------------------------- */

/* RoPE context-extension methods (see docs: rope.md). FILE keeps what the
 * model file declares (GGUF rope.scaling.*, rope_freqs / LongRoPE tensors). */
typedef enum docq_rope_scaling {
  DOCQ_ROPE_SCALING_FILE = -1,
  DOCQ_ROPE_SCALING_NONE = 0,       /* plain RoPE; a factor is ignored */
  DOCQ_ROPE_SCALING_LINEAR = 1,     /* position interpolation: theta/s */
  DOCQ_ROPE_SCALING_YARN = 2,       /* NTK-by-parts ramp + attention temperature 0.1 ln s + 1 */
  DOCQ_ROPE_SCALING_LONGROPE = 3,   /* per-pair factors from the file (Phi-3 "su") */
  DOCQ_ROPE_SCALING_NTK = 4,        /* NTK-aware: base * s^(D/(D-2)) */
  DOCQ_ROPE_SCALING_DYNAMIC_NTK = 5 /* NTK base following the current length (a = rope_scale; default:
                                       the file's factor, else 1) */
} docq_rope_scaling;

#define DOCQ_CTX_OPTIONS_VERSION 1
/* Options of a context; every field has an "unset" value that keeps the
 * model file's setting, with llama.cpp's command-line meaning otherwise. */
typedef struct docq_ctx_options {
  unsigned int version;
  unsigned n_ctx;          /* tokens the context holds; 0: the model's trained length */
  int n_threads;           /* 0: all cores; at most 1024 */
  unsigned n_batch;        /* tokens per internal step; 0: 512; more than n_ctx: n_ctx */
  int rope_scaling;        /* docq_rope_scaling; default DOCQ_ROPE_SCALING_FILE */
  float rope_scale;        /* s, the extension factor (--rope-scale); 0: the file's */
  float rope_freq_base;    /* --rope-freq-base; 0: the file's */
  float rope_freq_scale;   /* 1/s (--rope-freq-scale), wins over rope_scale; 0: unset */
  unsigned yarn_orig_ctx;  /* original (training) context L; 0: the file's */
  float yarn_ext_factor;   /* YaRN ramp mix; < 0: auto (1 for YaRN, else 0). Set, it applies to
                              linear and LongRoPE too, as in llama.cpp (linear with 1 is YaRN) */
  float yarn_attn_factor;  /* extra factor on RoPE's cos/sin, on top of the file's and of YaRN's
                              0.1 ln s + 1 (llama.cpp ignores it under YaRN); <= 0: unset (1) */
  float yarn_beta_fast;    /* <= 0: 32 */
  float yarn_beta_slow;    /* <= 0: 1 */
  const char *cache_type_k; /* KV cache types: "f16" (default, NULL), "f32", "q8_0", "q4_0" */
  const char *cache_type_v;
  unsigned attn_window;    /* 0: full causal attention; else the recent tokens each token sees */
  unsigned attn_sinks;     /* with attn_window: first tokens always attended; at most attn_window */
  int attn_lambda;         /* with attn_window: 0 = StreamingLLM-style sinks at their true distance,
                              1 = LM-Infinite Lambda mask (sinks seen at distance attn_window) */
} docq_ctx_options;

#define DOCQ_CTX_OPTIONS_INIT { DOCQ_CTX_OPTIONS_VERSION, 0, 0, 0, DOCQ_ROPE_SCALING_FILE, 0, 0, 0, 0, -1.0f, 0, 0, 0, NULL, NULL, 0, 0, 0 }
DOCQ_API int docq_ctx_options_init(docq_ctx_options *opts, unsigned int version);

/* A context with options (NULL: defaults, same as docq_ctx_new(m, 0)).
 * Errors: DOCQ_EINVAL (a value out of range, named in the message),
 * DOCQ_EUNSUPPORTED (an option this build cannot honour), DOCQ_ENOMEM. */
DOCQ_API int docq_ctx_new_ext(docq_ctx **out, const docq_model *m, const docq_ctx_options *opts);

/* The effective RoPE settings for `opts` (NULL: the file's) as one line, e.g.
 * "yarn x4 (original context 512), base 10000, ramp pairs 3..16, attention
 * factor 1.1386". Free with docq_free. NULL on a bad option or a version
 * other than DOCQ_CTX_OPTIONS_VERSION (see docq_error_last: DOCQ_EINVAL,
 * DOCQ_EVERSION), as docq_ctx_new_ext refuses them. */
DOCQ_API char *docq_model_rope_describe(const docq_model *m, const docq_ctx_options *opts);
/* The settings of a context: RoPE (as above), cache types, attention. Free with docq_free. */
DOCQ_API char *docq_ctx_describe(const docq_ctx *c);

/* Per-request context extension: set opts->n_ctx, rope_scaling and
 * rope_scale so that n_tokens (prompt + answer) fit. No scaling when they fit
 * the original context (opts->yarn_orig_ctx if set, else the file's); else the
 * file's own method stretched, or YaRN, with the smallest factor that covers
 * n_tokens. `desc` (may be NULL) receives the choice as text, e.g.
 * "yarn x2.93 (1500 tokens > original 512)". Other fields are left alone.
 * Errors: DOCQ_EVERSION (opts->version is not DOCQ_CTX_OPTIONS_VERSION),
 * DOCQ_EINVAL (the model's extension is fixed by per-pair factors and
 * n_tokens exceed it). */
DOCQ_API int docq_ctx_options_fit(const docq_model *m, size_t n_tokens, docq_ctx_options *opts, char *desc,
                                  size_t desc_cap);

/* Sizes and special tokens a caller needs to drive a context directly. */
typedef struct docq_model_meta {
  int n_vocab;
  int n_ctx_train;      /* the file's context_length */
  int n_ctx_orig;       /* the file's original context (rope.scaling.original_context_length) */
  int32_t bos, eos;     /* -1 when absent */
  int add_bos;          /* 1 when the vocabulary adds BOS to every text */
  int has_weights;      /* 0 for a tokenizer-only file, or one whose weights docq cannot run
                         * (docq_model_load_info; docq_model_run_error says why) */
} docq_model_meta;
DOCQ_API int docq_model_get_meta(const docq_model *m, docq_model_meta *out);

/* Evaluate n tokens after what the context holds (reset != 0: start a new
 * sequence first). logits (may be NULL) receives n * n_vocab floats: row i
 * holds the scores for the token after ids[i]. Errors: DOCQ_EINVAL (context
 * full, token id out of range; nothing evaluated), DOCQ_ECANCELED
 * (docq_ctx_interrupt during the call: the batches read before it stay in
 * the cache, logits not filled), DOCQ_EIO (the model file was cut short). */
DOCQ_API int docq_ctx_eval(docq_ctx *c, const int32_t *ids, size_t n, int reset, float *logits);
/* Logits after the last evaluated token (n_vocab floats), borrowed until the
 * next call on c. */
DOCQ_API const float *docq_ctx_logits(const docq_ctx *c);

/* Perplexity with llama.cpp's llama-perplexity protocol: `ids` is the whole
 * text tokenized once (BOS first when the vocabulary adds it), cut into
 * floor(n / N) chunks of N = the context's size (at most max_chunks when > 0;
 * n >= 2N is required). Each chunk is evaluated from position 0 in a fresh
 * cache with its first token replaced by BOS (when the vocabulary adds BOS);
 * the logits at positions N/2 .. N-2 score the next token. PPL = exp(mean
 * NLL) over all scored tokens; err = PPL * sqrt((mean(nll^2) - mean(nll)^2) /
 * (count - 1)). on_chunk (may be NULL) gets the running PPL after each chunk;
 * non-zero stops with DOCQ_ECANCELED. Errors: DOCQ_EINVAL (too few tokens). */
typedef struct docq_ppl {
  double ppl, err, mean_nll;
  long scored;           /* tokens scored */
  int chunks;
} docq_ppl;
DOCQ_API int docq_perplexity(docq_ctx *c, const int32_t *ids, size_t n, int max_chunks,
                             int (*on_chunk)(int chunk, double running_ppl, void *payload), void *payload,
                             docq_ppl *out);

/* ---- asking ----------------------------------------------------------------------------- */

/* Version 2: the embedded search options grew (version 2 of those); a
 * version-1 struct is refused with DOCQ_EVERSION: rebuild against this header.
 * Version 3 added `tokenizer`, version 4 `chat_template`, version 5
 * `on_prompt`, version 6 `on_reasoning`, version 7 `keep_interrupted`; an
 * older caller still works (what its struct lacks is NULL or 0). */
#define DOCQ_ASK_OPTIONS_VERSION 7
typedef struct docq_ask_options {
  unsigned int version;
  docq_search_options search; /* retrieval settings (k defaults to 20 for ask) */
  docq_order order;           /* passage order in the prompt; default edges-first */
  unsigned budget_tokens;     /* context budget; 0 = with a model, what its context leaves after
                               * the answer and the chat template, at most 4096 (prefill time);
                               * without one, 2048 */
  const docq_model *model;    /* NULL: extractive answer */
  docq_gen_options gen;       /* generation settings when a model is given; gen.n_predict
                               * 0 (or less) is the default 256 tokens, for the answer
                               * and for the context sized for it */
  /* Without `model`: count the prompt's tokens exactly with this file's
   * tokenizer (a tokenizer-only GGUF is enough) instead of the conservative
   * estimate, and still answer extractively: for a prompt meant for a model
   * docq does not run. Ignored when `model` is set (its own tokenizer counts). */
  const docq_model *tokenizer;
  /* With `model` (version 4): the chat template by name, for a file whose
   * tokenizer.chat_template is missing or not recognized: chatml, qwen3 and
   * smollm3 (ChatML answering without a think block), chatml-think (ChatML opening
   * one: QwQ, Qwen3 thinking), llama3, llama3.1 and llama3.2 (a dated
   * system header, 3.2 with today's date), llama2, mistral, mistral-v1, mistral-v3,
   * mistral-v3-tekken, mistral-v7, mistral-v7-tekken (Mistral's own
   * formats: 7B v0.2 from mistral-common, 7B v0.3, Nemo, Small 3), zephyr, phi3,
   * phi4-mini, phi4 (Phi-4's <|im_sep|> ChatML),
   * deepseek, deepseek-r1 (opening a think block), gemma or plain. NULL or "": the file's own (its
   * template recognized, else ChatML when the vocabulary has <|im_start|>,
   * else plain; docq_model_describe names it). An unknown name: DOCQ_EINVAL. */
  const char *chat_template;
  /* With `model` (version 5): the progress of reading the prompt, as
   * docq_ctx_set_prompt_progress; non-zero cancels. May be NULL. */
  docq_prompt_progress_cb on_prompt;
  void *prompt_payload;
  /* With `model` (version 6): a reasoning model's thinking. Models such as
   * the DeepSeek-R1 distills, QwQ and Qwen3 in thinking mode write
   * "<think>...</think>" before the answer; that part is kept out of
   * gen.on_token and docq_answer_text, and streamed here instead (whole
   * UTF-8 characters; non-zero stops, as gen.on_token). It counts against
   * gen.n_predict: give such models 1000 tokens or more (docq ask's CLI does
   * when docq_chat_template_thinks). May be NULL. */
  int (*on_reasoning)(const char *utf8, size_t len, void *payload);
  void *reasoning_payload;
  /* With `model` (version 7): non-zero keeps an answer stopped while the
   * model writes it (docq_interrupt on the db, or a callback asking to stop,
   * also while it reads the prompt): docq_ask then returns 0 with the answer
   * as far as it got, its passages, and docq_answer_generation's stop
   * DOCQ_STOP_CANCELED, so that the sources of a partial answer can be
   * shown. 0 (the default): such a stop is DOCQ_ECANCELED and *out NULL.
   * An interruption before the model starts is DOCQ_ECANCELED either way. */
  int keep_interrupted;
} docq_ask_options;

DOCQ_API int docq_ask_options_init(docq_ask_options *opts, unsigned int version);

typedef struct docq_answer docq_answer;

/* A passage placed in the prompt. */
typedef struct docq_passage {
  int label;               /* the citation number [n] */
  int rank;                /* 1-based retrieval rank */
  int position;            /* 0-based position in the prompt */
  unsigned tokens;
  const docq_hit *hit;
} docq_passage;

/* Answer `question` from the index: retrieve, order, pack under the budget,
 * then generate with the model or, without one, extract the best sentences
 * with citations. Nothing is dropped silently: see docq_answer_left_out. */
DOCQ_API int docq_ask(docq_answer **out, docq_db *db, const char *question, const docq_ask_options *opts);

/* The answer text, borrowed. When one was found (docq_answer_found): without
 * a model, the quoted sentences, each followed by its " [n]" citation, joined
 * by spaces, except that a Markdown code example a sentence introduces
 * follows it on its own lines (a blank line before and after); with a model,
 * what it wrote ("" when a reasoning model was still thinking when it
 * stopped: docq_answer_unfinished_reasoning).
 * When none was found, "" (the caller says "nothing answers"; docq's CLI
 * prints "No passage in the index answers this question."), except:
 * - passages were retrieved but none fits the budget beside the question
 *   (docq_answer_passages 0, docq_answer_left_out counts them), with or
 *   without a model: "None of the N passages found fits the B-token budget
 *   beside the question (T tokens without them): shorten the question or
 *   raise the budget."
 * - with a model, nothing was retrieved (the model is not run): "No passage
 *   in the index answers this question." */
DOCQ_API const char *docq_answer_text(const docq_answer *a);
/* 1 when an answer was found: without a model, a sentence of the packed
 * passages scored DOCQ_ANSWER_SCORE_FOUND or more; with one, passages were
 * packed and the model was asked. 0 when nothing was retrieved, no sentence
 * scored enough, or no retrieved passage fits the budget: docq_answer_text
 * says which text each case has. */
DOCQ_API int docq_answer_found(const docq_answer *a);
/* Without a model: how well the best sentence of the extractive answer
 * matches the question, 0..1 (IDF-weighted share of the question's words it
 * holds, and embedding similarity); an answer is found from
 * DOCQ_ANSWER_SCORE_FOUND. 0 with a model. */
DOCQ_API double docq_answer_score(const docq_answer *a);
#define DOCQ_ANSWER_SCORE_FOUND 0.2
/* 1 when the extractive answer was found but is a weak match: its best
 * sentence shares only part of the question (score below 0.4, or 0.3 for a
 * question in Chinese or Japanese, whose scores run lower), and it may not
 * answer the question; measured in src/assemble/extract.c. Also 1 for a
 * question of function words only ("what is it?"), which any sentence
 * matches. 0 otherwise. */
DOCQ_API int docq_answer_weak(const docq_answer *a);
DOCQ_API size_t docq_answer_passages(const docq_answer *a);
DOCQ_API const docq_passage *docq_answer_passage(const docq_answer *a, size_t i);
/* The passages the answer cites, in the order it first cites them: how many,
 * and the label of the i-th (its passage: docq_answer_passage(a, label - 1));
 * 0 when i is out of range. Without a model: the passages whose sentences
 * the answer quotes (each followed by its " [n]"), never a bracket within
 * the quoted text, such as code's "items[2]". With a model: the "[n]"
 * markers the prompt asks for, for a passage given (1..docq_answer_passages),
 * outside code spans and fenced code blocks, as the model wrote them (it
 * may cite loosely). None when nothing was found. */
DOCQ_API size_t docq_answer_citations(const docq_answer *a);
DOCQ_API int docq_answer_citation(const docq_answer *a, size_t i);
/* The lines of its file the i-th citation points at (i as for
 * docq_answer_citation), into *first and *last (either may be NULL).
 * Without a model: the lines holding what the answer quotes from that
 * passage, from the first quoted sentence's first line that shows text to
 * the last one's last (several sentences of one passage: all of them, and
 * the lines between; a Markdown code example quoted with a sentence is
 * included); returns 1. The passage's whole range (its hit's line_first,
 * line_last) when the quote cannot be placed exactly on the file's lines
 * (an HTML document, whose text is extracted from the markup), and for a
 * model's answer (its text is no quote): returns 0. DOCQ_EINVAL when i is
 * out of range (lines 0). */
DOCQ_API int docq_answer_citation_lines(const docq_answer *a, size_t i, uint32_t *first, uint32_t *last);
/* Passages retrieved but left out for lack of budget: count and best rank (0 if none). */
DOCQ_API void docq_answer_left_out(const docq_answer *a, size_t *count, int *best_rank);
/* The whole prompt as packed (question, labelled passages, question again). */
DOCQ_API const char *docq_answer_prompt(const docq_answer *a);
/* With a model: the text it read, the packed prompt in its chat template with
 * docq's system message (special tokens written out). "" without a model, or
 * when no passage was packed. */
DOCQ_API const char *docq_answer_model_prompt(const docq_answer *a);
DOCQ_API unsigned docq_answer_prompt_tokens(const docq_answer *a);
/* The token budget the passages were packed under (the option; else from the
 * model's context, at most 4096; else 2048 without a model). */
DOCQ_API unsigned docq_answer_budget(const docq_answer *a);
/* With a model: the context chosen for this request and the chat template, e.g.
 * "none (1200 tokens fit the original 4096); chat template chatml" or "yarn x1.5 ...";
 * "" without a model. Borrowed. */
DOCQ_API const char *docq_answer_context(const docq_answer *a);
/* With a model: how its answer ended (docq_ctx_last_generation); DOCQ_STOP_LENGTH
 * means it reached gen.n_predict and may be cut short. Zeros (DOCQ_STOP_NONE)
 * for an extractive answer. */
DOCQ_API int docq_answer_generation(const docq_answer *a, docq_gen_info *out);
/* With a model: seconds spent reading the packed prompt and writing the
 * answer (docq_ctx_last_timings of its generation; thinking included).
 * Zeros for an extractive answer. Either pointer may be NULL. */
DOCQ_API int docq_answer_timings(const docq_answer *a, double *prompt_seconds, double *answer_seconds);
/* With a reasoning model: its thinking, without the <think> tags (see
 * docq_ask_options.on_reasoning), borrowed; "" otherwise. */
DOCQ_API const char *docq_answer_reasoning(const docq_answer *a);
/* 1 when the model was still thinking when its answer ended (it reached
 * gen.n_predict, or the context filled, or it was stopped): there is then
 * no answer text; give it more tokens. 0 otherwise. */
DOCQ_API int docq_answer_unfinished_reasoning(const docq_answer *a);
DOCQ_API void docq_answer_free(docq_answer *a);

/* ---- embeddings ------------------------------------------------------------------------- */

typedef struct docq_embedder docq_embedder;

/* Load a text embedder: `path` names a GGUF sentence-embedding model of the
 * BERT family (architectures bert and nomic-bert: all-MiniLM, bge, e5, gte,
 * nomic-embed-text...; F32, F16, Q8_0, Q4_0 and K-quant weights), or NULL for
 * docq's built-in embedder (no model file). The model family's query and
 * passage prefixes (e5, bge, nomic) are applied automatically. Texts longer
 * than the model's window are split into windows whose vectors are averaged,
 * with a warning through the log callback. Uses all cores.
 * Errors: DOCQ_ENOTFOUND, DOCQ_ECORRUPT (malformed file, named in the
 * message), DOCQ_EUNSUPPORTED (another architecture or tokenizer), DOCQ_ENOMEM. */
DOCQ_API int docq_embedder_load(docq_embedder **out, const char *path);
/* NULL is a no-op. */
DOCQ_API void docq_embedder_free(docq_embedder *e);
/* Length of each vector. */
DOCQ_API unsigned docq_embedder_dim(const docq_embedder *e);
/* Identity recorded by indexes, e.g. "gguf:bge-small-en-v1.5:<sha256>";
 * borrowed, valid until the embedder is freed or its prefixes change. */
DOCQ_API const char *docq_embedder_id(const docq_embedder *e);
/* Embed n NUL-terminated UTF-8 texts into out[n * dim]: each row
 * L2-normalized; a text without tokens (empty, blank) gives a zero row.
 * is_query: 1 for search queries, 0 for passages (selects the prefix).
 * Calls on one handle are serialized internally. Errors: DOCQ_EINVAL, DOCQ_ENOMEM. */
DOCQ_API int docq_embed(docq_embedder *e, const char *const *texts, size_t n, int is_query, float *out);
/* Replace the query and passage prefixes (NULL or "" for none); the id then
 * changes so indexes never mix vectors made with other prefixes.
 * DOCQ_EUNSUPPORTED for the built-in embedder. */
DOCQ_API int docq_embedder_set_prefixes(docq_embedder *e, const char *query, const char *passage);

#ifdef __cplusplus
}
#endif
#endif /* DOCQ_H */
