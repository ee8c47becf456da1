#!/usr/bin/env bash
# CLI tests for docq generate / model info / tokenize / bench against the
# shared fixtures (llama.cpp reference outputs in $DOCQ_SHARED_DIR/models).
set -u
BIN=${DOCQ_BIN:-docq}
. "$(dirname "$0")/signal_wait.sh" # now_ns, wait_s
S=${DOCQ_SHARED_DIR:-}
if [ -z "$S" ] || [ ! -f "$S/models/stories260K.gguf" ]; then
  echo "DOCQ_SHARED_DIR not set or without models/: skipping" >&2
  exit 77
fi
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "FAIL - $1: expected [$3] got [$2]"; fail=1; fi; }
contains() { case "$2" in *"$3"*) echo "ok - $1";; *) echo "FAIL - $1: [$3] not in output"; fail=1;; esac; }

# tokenize: ids exact (reference), BOS only with --special
ids=$("$BIN" tokenize --model "$S/models/stories260K.gguf" "Once upon a time, there was a little girl named Lily.")
check "tokenize without special" "$ids" "403 407 261 378 432 383 286 261 376 298 315 421 395 317 426"
ids=$("$BIN" tokenize --model "$S/models/stories260K.gguf" --special "Once upon a time, there was a little girl named Lily.")
check "tokenize --special adds BOS" "$ids" "1 403 407 261 378 432 383 286 261 376 298 315 421 395 317 426"
# tokenizer-only file (the .inp/.out vectors of the vocab set)
ids=$("$BIN" tokenize --model "$S/vocab/ggml-vocab-llama-spm.gguf" "Hello world")
check "tokenize on a tokenizer-only file" "$ids" "15043 3186"

# generate: greedy continuation = the reference's 48 greedy ids, decoded
want_ids="338 401 396 267 337 410 408 419 292 411 322 265 282 295 433 426 385 328 432 358 394 261 370 432 352 266 268 388 426 338 391 266 267 337 335 312 432 398 312 286 267 414 270 333 415 426 13 438"
prompt="Once upon a time, there was a little girl named Lily."
out=$("$BIN" generate --model "$S/models/stories260K.gguf" "$prompt" -n 48 --temp 0 -t 1)
gen=${out#"$prompt"}
# re-tokenize prompt+generated and compare the tail with the reference ids
all=$("$BIN" tokenize --model "$S/models/stories260K.gguf" "$out")
pids="403 407 261 378 432 383 286 261 376 298 315 421 395 317 426"
check "generate --temp 0 reproduces llama.cpp's greedy tokens" "$all" "$pids $want_ids"
[ -n "$gen" ] || { echo "FAIL - generate printed nothing"; fail=1; }
out2=$("$BIN" generate --model "$S/models/stories260K.gguf" "$prompt" -n 48 --temp 0 -t 2)
check "threads do not change greedy output" "$out2" "$out"
a=$("$BIN" generate --model "$S/models/stories260K.gguf" "$prompt" -n 24 --temp 0.9 --seed 7)
b=$("$BIN" generate --model "$S/models/stories260K.gguf" "$prompt" -n 24 --temp 0.9 --seed 7)
check "same seed, same sample" "$a" "$b"
"$BIN" generate --model "$S/models/stories260K.gguf" "$prompt" -n 2 --seed 18446744073709551616 >/dev/null 2>&1
check "a seed past 2^64-1 is a usage error, not clamped" "$?" "2"
st=$("$BIN" generate --model "$S/models/stories260K.gguf" "$prompt" -n 48 --temp 0 --stop "ball")
check "stop string ends the text before it" "$st" "$prompt She loved to play outside in the park. One day, she saw a big, red "
# another stop string partly matched from before the hit ("red ball" of
# "red balloon!") holds nothing back once "ball" has ended the text
st=$("$BIN" generate --model "$S/models/stories260K.gguf" "$prompt" -n 48 --temp 0 --stop "red balloon!" --stop "ball")
check "a partial match of another stop string does not cut the text earlier" "$st" "$prompt She loved to play outside in the park. One day, she saw a big, red "
# special-token text in the prompt: plain text by default (9 tokens), the
# tokens themselves with --special (BOS, </s>, "▁Once"), as llama.cpp reads it
j=$("$BIN" generate --model "$S/models/stories260K.gguf" "</s>Once" -n 2 --temp 0 --json)
contains "generate reads special-token text as text by default" "$j" '"prompt_tokens":9,'
j=$("$BIN" generate --model "$S/models/stories260K.gguf" "</s>Once" -n 2 --temp 0 --json --special)
contains "generate --special reads it as the tokens" "$j" '"prompt_tokens":3,'
contains "generate --help says what --special does and the default" "$("$BIN" generate --help)" "default: as plain text"

# a stop string that is not UTF-8 (the last two bytes of 改) would match
# inside a character and cut it: refused as a bad command line, naming it
err=$("$BIN" generate --model "$S/models/stories260K.gguf" "$prompt" -n 8 --temp 0 --stop "ball" --stop $'\x94\xb9' 2>&1 >/dev/null); rc=$?
check "a stop string that is not UTF-8 is a usage error" "$rc" "2"
contains "its message names the stop string" "$err" "stop string 2 of 2 is not valid UTF-8"
st=$("$BIN" generate --model "$S/models/stories260K.gguf" "$prompt" -n 48 --temp 0 --stop "ball" --stop "改"); rc=$?
check "a stop string of whole characters is taken" "$rc:$st" "0:$prompt She loved to play outside in the park. One day, she saw a big, red "

# errors
"$BIN" generate --model "$S/vocab/ggml-vocab-llama-spm.gguf" "hi" >/dev/null 2>/tmp/docq_model_err.$$
rc=$?
check "generate on a tokenizer-only file fails" "$rc" "1"
contains "its message says no weights" "$(cat /tmp/docq_model_err.$$)" "no weights"
rm -f /tmp/docq_model_err.$$
"$BIN" generate "x" >/dev/null 2>&1
check "generate without --model is a usage error" "$?" "2"

# --yarn-ext-factor turns the ramp on for linear too, as in llama.cpp, where
# linear x4 with ext 1 is YaRN x4: stories260K (trained on 512) after the
# first 1500 bytes of long_prompt.txt (882 tokens); the expected text is
# llama-completion's (build 9749, -fa off -ctk f32 -ctv f32 --temp 0), the
# same with --rope-scaling yarn.
p1500=$(mktemp /tmp/docq-p1500-XXXXXX)
head -c 1500 "$S/models/long_prompt.txt" > "$p1500"
ext=(-f "$p1500" -n 24 --temp 0 -c 2048 -t 1 -ctk f32 -ctv f32 --rope-scale 4 --yarn-orig-ctx 512)
want='unny thing to play with." said, "It'"'"'s a shark,"'
out=$("$BIN" generate --model "$S/models/stories260K.gguf" "${ext[@]}" --rope-scaling linear --yarn-ext-factor 1)
check "linear with --yarn-ext-factor 1 is llama.cpp's" "${out: -${#want}}" "$want"
out=$("$BIN" generate --model "$S/models/stories260K.gguf" "${ext[@]}" --rope-scaling yarn)
check "... and YaRN's" "${out: -${#want}}" "$want"
out=$("$BIN" generate --model "$S/models/stories260K.gguf" "${ext[@]}" --rope-scaling linear)
[ "${out: -${#want}}" != "$want" ]; check "... not plain linear's" "$?" "0"
rm -f "$p1500"

# -c past the trained length with the file's RoPE: a note says so and how to
# extend (stories260K: trained on 2048); none with an override
err=$("$BIN" generate --model "$S/models/stories260K.gguf" "Once" -n 1 --temp 0 -c 8192 2>&1 >/dev/null)
contains "-c past training: a note" "$err" "-c 8192 is longer than the model was trained on (2048 tokens)"
contains "... naming the extension" "$err" "--rope-scaling yarn --rope-scale 4 stretches it to 8192"
err=$("$BIN" generate --model "$S/models/stories260K.gguf" "Once" -n 1 --temp 0 -c 8192 --rope-scale 4 2>&1 >/dev/null)
check "... none with an override" "$err" ""

# model info
info=$("$BIN" model info "$S/models/tiny-qwen2-q4_k_m.gguf")
contains "model info names the file type as llama.cpp does" "$info" "file type:     Q4_K - Medium"
contains "info: architecture" "$info" "architecture:  qwen2"
contains "info: yarn" "$info" "scaling yarn x4 (original context 1024)"
contains "info: mix" "$info" "q4_K"
# f16 K and V per token: 2 x 2 layers x 2 KV heads x 64 x 2 bytes = 1 KiB; 4096 tokens 4 MiB
contains "info: kv cache" "$info" "kv cache:      1.0 KiB per token (f16): 4.00 MiB at the trained 4096"
# info's effective line is what generate runs: a file trained on 32768 tokens
# (stories260K with its context_length patched in place) runs with 4096
long=$(mktemp /tmp/docq-long-XXXXXX.gguf)
python3 - "$S/models/stories260K.gguf" "$long" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
k = b'llama.context_length'
i = b.index(struct.pack('<Q', len(k)) + k) + 8 + len(k)
assert struct.unpack_from('<I', b, i)[0] == 4  # GGUF uint32
struct.pack_into('<I', b, i + 4, 32768)
open(sys.argv[2], 'wb').write(b)
PY
info=$("$BIN" model info "$long")
contains "info: effective context as generate's default" "$info" "effective:     context 4096,"
err=$("$BIN" generate --model "$long" "Once" -n 1 --temp 0 -v 2>&1 >/dev/null)
contains "... which generate uses" "$err" "context 4096 tokens"
rm -f "$long"
# stories260K: 2 x 5 layers x 4 KV heads x 8 x 2 bytes = 640 bytes; 2048 tokens 1.25 MiB
contains "info: kv cache of stories260K" "$("$BIN" model info "$S/models/stories260K.gguf")" \
  "kv cache:      0.6 KiB per token (f16): 1.25 MiB at the trained 2048"
info=$("$BIN" model info "$S/vocab/ggml-vocab-gpt2-pre-qwen2.gguf")
contains "info on a tokenizer-only file" "$info" "no weights"

# help
for c in generate tokenize bench; do
  "$BIN" $c --help | grep -q "usage: docq $c" && echo "ok - $c --help" || { echo "FAIL - $c --help"; fail=1; }
done
"$BIN" model --help | grep -q "usage: docq model info" && echo "ok - model --help" || { echo "FAIL - model --help"; fail=1; }

# an embedding model given to generate: a clear error that says where it goes
err=$("$BIN" generate --model "$S/models/tiny-bert-f32.gguf" "x" 2>&1 >/dev/null); rc=$?
check "generate with an embedding model exits 1" "$rc" "1"
contains "... and points to --embed-model" "$err" "embedding model, not a text generator: give it to docq index --embed-model"

# bench: a llama-bench table with pp and tg rows
tab=$("$BIN" bench --model "$S/models/stories260K.gguf" -p 64 -n 16 -t 1 -r 2)
contains "bench pp row" "$tab" "pp64"
contains "bench tg row" "$tab" "tg16"
contains "bench names the build's kernels" "$tab" "build: docq $("$BIN" --version | sed 's/^docq \([^ ]*\) (kernels: \(.*\))$/\1, kernels \2/')"
# every repetition reads the whole prompt: a context keeps the whole batches
# of a prompt it read before (prompt reuse), which would time only the rest
err=$("$BIN" bench --model "$S/models/stories260K.gguf" -p 64 -n 0 -t 1 -r 2 -b 16 2>&1 >/dev/null)
check "bench -p 64 -b 16: each repetition reads all 64 tokens" "$?:$err" "0:"
# -p 2 is BOS and one word (a prompt starting with a space was 3 tokens on
# a SentencePiece vocabulary, and bench measured pp1 instead)
tab=$("$BIN" bench --model "$S/models/stories260K.gguf" -p 2 -n 0 -t 1 -r 1)
contains "bench -p 2 measures pp2" "$tab" "|      pp2 |"
err=$("$BIN" bench --model "$S/models/stories260K.gguf" -p 0 -n 0 -t 1 -r 1 2>&1 >/dev/null)
check "bench -p 0 -n 0 is a usage error" "$?" "2"
contains "... that says there is nothing to measure" "$err" "nothing to measure"
# Ctrl-C keeps the measured rows: the pp row, then the tg repetitions that
# ran whole, exit 130. The signal comes after about four repetitions' time,
# timed here on this machine first (a fixed second was too short for an
# ASan build on a loaded CI host), and 100 repetitions keep it mid-run.
B=$(mktemp -d /tmp/docq-bint-XXXXXX)
t0=$(now_ns)
"$BIN" bench --model "$S/models/stories260K.gguf" -p 0 -n 400 -t 1 -r 1 >/dev/null 2>&1
t1=$(now_ns)
"$BIN" bench --model "$S/models/stories260K.gguf" -p 16 -n 400 -t 1 -r 100 >"$B/out" 2>"$B/err" &
pid=$!
for _ in $(seq 600); do grep -q "pp16" "$B/out" 2>/dev/null && break; sleep 0.05; done
sleep "$(wait_s 0.5 4 $((t1 - t0)))"
kill -INT $pid; wait $pid; rc=$?
check "bench after Ctrl-C exits 130" "$rc" "130"
contains "... keeps the finished pp row" "$(cat "$B/out")" "pp16"
contains "... and a tg row from the repetitions that ran whole" "$(cat "$B/out")" "tg400"
contains "... and says so" "$(cat "$B/err")" "docq bench: interrupted"
rm -rf "$B"
# -d: generation after a prompt of that many tokens, labelled as llama-bench does
tab=$("$BIN" bench --model "$S/models/stories260K.gguf" -p 0 -n 8 -d 100 -t 1 -r 1)
contains "bench tg row at a depth" "$tab" "tg8 @ d100"
# a vocabulary that adds no BOS (Qwen's real files): tiny-qwen2 with its
# add_bos_token flag set to false in a copy (the bool byte after the key and
# its type); tg used to start from an empty prompt and fail
T=$(mktemp -d /tmp/docq-model-XXXXXX)
trap 'rm -rf "$T"' EXIT
cp "$S/models/tiny-qwen2-q8_0.gguf" "$T/nobos.gguf"
off=$(grep -obUa "tokenizer.ggml.add_bos_token" "$T/nobos.gguf" | head -1 | cut -d: -f1)
if [ -n "$off" ]; then
  printf '\000' | dd of="$T/nobos.gguf" bs=1 seek=$((off + 28 + 4)) conv=notrunc 2>/dev/null
  check "the copy adds no BOS" "$("$BIN" tokenize --model "$T/nobos.gguf" --special "Hello")" "15043"
  tab=$("$BIN" bench --model "$T/nobos.gguf" -p 0 -n 8 -t 1 -r 2 2>&1)
  contains "bench tg on a vocabulary without BOS" "$tab" "tg8"
  contains "bench names the file type" "$tab" "| qwen2 Q8_0 "
else
  echo "FAIL - tiny-qwen2-q8_0.gguf has no add_bos_token key"; fail=1
fi

# a file whose weights docq cannot run: tiny-qwen2 with output.weight's
# type set to MXFP4 in a copy (the u32 after the name, n_dims and 2 dims;
# its 17-byte blocks need fewer bytes than Q8_0's 34, so the file stays
# whole). info and tokenize still work; generate and ask say why not.
cp "$S/models/tiny-qwen2-q8_0.gguf" "$T/mxfp4.gguf"
off=$(grep -obUa "output.weight" "$T/mxfp4.gguf" | head -1 | cut -d: -f1)
printf '\047' | dd of="$T/mxfp4.gguf" bs=1 seek=$((off + 13 + 4 + 16)) conv=notrunc 2>/dev/null
why="tensor 'output.weight' has type mxfp4, which docq does not support"
info=$("$BIN" model info "$T/mxfp4.gguf"); rc=$?
check "model info on weights docq cannot run exits 0" "$rc" "0"
contains "... says why" "$info" "cannot run:    $why"
contains "... and what they are" "$info" "weight types:  q8_0 (70%), mxfp4 (30%)"
contains "... and the tokenizer" "$info" "tokenizer:     SentencePiece BPE (llama), 32000 tokens"
js=$("$BIN" --json model info "$T/mxfp4.gguf")
check "model info --json: run_error" "$(printf '%s' "$js" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["has_weights"], d["run_error"].split(": ",1)[1])')" "False $why"
js=$("$BIN" --json model info "$S/models/tiny-qwen2-q8_0.gguf")
check "model info --json: run_error null for a model docq runs" "$(printf '%s' "$js" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_error"])')" "None"
check "tokenize with it, as with the original" "$("$BIN" tokenize --model "$T/mxfp4.gguf" "Hello world")" \
  "$("$BIN" tokenize --model "$S/models/tiny-qwen2-q8_0.gguf" "Hello world")"
err=$("$BIN" generate --model "$T/mxfp4.gguf" "hi" -n 2 2>&1 >/dev/null); rc=$?
check "generate with it exits 1" "$rc" "1"
contains "... naming the tensor and the type" "$err" "mxfp4.gguf: $why"

# reading a prompt of more than one batch (512 tokens) is shown on a
# terminal (script(1) gives one), on its own line, cleared before the prompt
# is echoed; piped, stdout is the prompt and the text, stderr silent
for i in $(seq 150); do printf 'Hello world, and again: '; done > "$T/long.txt"
if command -v script >/dev/null; then
  script -qc "'$BIN' generate --model '$S/models/tiny-qwen2-q8_0.gguf' -f '$T/long.txt' -n 2 --temp 0" /dev/null > "$T/tty" 2>&1
  contains "generate on a terminal: the first step of the prompt" "$(cat -v "$T/tty")" "reading the prompt: 0 of "
  contains "... then batch by batch, with the time left" "$(cat -v "$T/tty")" "reading the prompt: 512 of "
  contains "... cleared, then the prompt echoed" "$(cat -v "$T/tty")" "^M^[[KHello world, and again: Hello"
  script -qc "'$BIN' generate --model '$S/models/tiny-qwen2-q8_0.gguf' 'Hello world' -n 2 --temp 0" /dev/null > "$T/tty" 2>&1
  check "a one-batch prompt shows nothing" "$(grep -c "reading the prompt" "$T/tty")" "0"
else
  echo "skip: no script(1) for the terminal checks"
fi
"$BIN" generate --model "$S/models/tiny-qwen2-q8_0.gguf" -f "$T/long.txt" -n 2 --temp 0 > "$T/out" 2> "$T/err"
check "piped: stderr silent" "$(cat "$T/err")" ""
check "piped: stdout starts with the prompt" "$(head -c 24 "$T/out")" "Hello world, and again: "

# prompts from a file (-f, '-' = standard input): generate drops one final
# newline as llama.cpp's -f does; tokenize keeps the bytes as they are
P="Once upon a time, there was a little girl named Lily."
printf '%s\n' "$P" > "$T/prompt.txt"
want=$("$BIN" generate --model "$S/models/stories260K.gguf" "$P" -n 12 --temp 0 -t 1)
check "generate -f FILE: as the prompt given as text" \
  "$("$BIN" generate --model "$S/models/stories260K.gguf" -f "$T/prompt.txt" -n 12 --temp 0 -t 1)" "$want"
check "generate -f - reads standard input" \
  "$("$BIN" generate --model "$S/models/stories260K.gguf" -f - -n 12 --temp 0 -t 1 < "$T/prompt.txt")" "$want"
printf '%s' "$P" > "$T/plain.txt"
check "tokenize -f FILE: the reference ids" \
  "$("$BIN" tokenize --model "$S/models/stories260K.gguf" -f "$T/plain.txt")" "403 407 261 378 432 383 286 261 376 298 315 421 395 317 426"
err=$("$BIN" generate --model "$S/models/stories260K.gguf" -f "$T/missing.txt" 2>&1 >/dev/null); rc=$?
check "generate -f on a missing file exits 1" "$rc" "1"
contains "... naming it and why" "$err" "missing.txt: No such file"
err=$("$BIN" tokenize --model "$S/models/stories260K.gguf" -f "$S/models/stories260K.gguf" 2>&1 >/dev/null); rc=$?
check "tokenize -f on a binary file exits 1" "$rc" "1"
contains "... saying it is not text" "$err" "is not text (a NUL byte"
# a failure writes only its error (stderr): no table header before it, and
# no lone newline from generate
out=$("$BIN" bench --model "$S/models/stories260K.gguf" -p 8 -n 8 -c 4 -t 1 -r 1 2>/dev/null); rc=$?
check "bench in a context too small: exit 1, nothing on stdout" "$rc:$out" "1:"
"$BIN" generate --model "$S/models/stories260K.gguf" "Once upon a time, there was a little girl named Lily." -c 8 -n 4 \
  >"$T/gfail.out" 2>/dev/null; rc=$?
check "generate with a prompt longer than the context: exit 1, nothing on stdout" "$rc:$(wc -c < "$T/gfail.out" | tr -d ' ')" "1:0"
"$BIN" generate --model "$S/models/stories260K.gguf" -f "$T/prompt.txt" "also text" >/dev/null 2>&1
check "a prompt both as text and -f is a usage error" "$?" "2"
# a model file's strings reach a terminal shown safely: general.name set to
# ESC [ 2 J 0xff (clear the screen, then a byte that is not UTF-8) and the
# architecture to "ll" ESC "ma" in copies (the 5 bytes of each "llama")
cp "$S/models/stories260K.gguf" "$T/esc_name.gguf"
off=$(grep -obUa "general.name" "$T/esc_name.gguf" | head -1 | cut -d: -f1)
printf '\033[2J\377' | dd of="$T/esc_name.gguf" bs=1 seek=$((off + 12 + 4 + 8)) conv=notrunc 2>/dev/null
out=$("$BIN" model info "$T/esc_name.gguf" | grep '^name:')
check "model info: a control character in the name is written as \\x1b, a bad byte as U+FFFD" "$out" \
  "name:          \\x1b[2J$(printf '\357\277\275')"
cp "$S/models/stories260K.gguf" "$T/esc_arch.gguf"
off=$(grep -obUa "general.architecture" "$T/esc_arch.gguf" | head -1 | cut -d: -f1)
printf 'll\033ma' | dd of="$T/esc_arch.gguf" bs=1 seek=$((off + 20 + 4 + 8)) conv=notrunc 2>/dev/null
err=$("$BIN" generate --model "$T/esc_arch.gguf" "x" -n 1 2>&1 >/dev/null)
contains "an error message quoting the file shows its control character escaped" "$err" "architecture 'll\\x1bma'"
check "... and holds no raw ESC" "$(printf '%s' "$err" | tr -d -c '\033' | wc -c | tr -d ' ')" "0"
# smollm3's NoPE layers are named (every fourth: 1 of the seed's 4)
out=$("$BIN" model info "${DOCQ_SOURCE_DIR:?}/tests/fuzz/corpus/model/smollm3_f32_nope.gguf")
contains "model info names smollm3's layers without RoPE" "$out" "rope:          norm, 8 dims, base 10000, scaling none; none in 1 of the 4 layers (NoPE)"
# gemma3's sliding layers are named, with their own RoPE (the seed: window 4, 5 of 6 layers)
out=$("$BIN" model info "${DOCQ_SOURCE_DIR:?}/tests/fuzz/corpus/model/gemma3_f32_swa.gguf")
contains "model info names gemma3's sliding window" "$out" "attention:     sliding window of 4 tokens in 5 of the 6 layers"
contains "... and the sliding layers' RoPE" "$out" "scaling linear x8 (original context 256); base 10000 without scaling in the sliding layers"
# gemma2's caps are named; its sliding layers (every other one) rotate as the rest, so the rope line is plain
out=$("$BIN" model info "${DOCQ_SOURCE_DIR:?}/tests/fuzz/corpus/model/gemma2_f32_swa.gguf")
contains "model info names gemma2's window and attention cap" "$out" "attention:     sliding window of 4 tokens in 2 of the 4 layers; scores capped at 1 (c tanh(s / c))"
contains "... and its output cap" "$out" "output:        tied to token_embd, logits capped at 5 (c tanh(x / c))"
contains "... and one RoPE for all layers" "$out" "rope:          neox, 8 dims, base 10000, scaling none
attention:"
# A context too large for the memory at hand names the context size, about
# what its KV cache takes, and -c (it said only "out of memory (N x 16
# bytes)"). The memory: an address-space limit of 400 MB, or, in a sanitizer
# build (which cannot start under one), its allocator's largest block.
small_memory() (
  (ulimit -v 400000; "$BIN" --version) >/dev/null 2>&1 && ulimit -v 400000
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size_mb=256:allocator_may_return_null=1 timeout 60 "$@"
)
err=$(small_memory "$BIN" generate --model "$S/models/stories260K.gguf" -c 4194304 -n 2 "Once" 2>&1 >/dev/null); rc=$?
check "generate -c too large for memory: exit 1" "$rc" "1"
contains "... naming the context, its KV cache and -c" "$err" \
  "docq generate: a context of 4194304 tokens does not fit in memory: its KV cache alone takes about 2.4 GiB (0.6 KiB a token); give a smaller one with -c (out of memory"
err=$(small_memory "$BIN" bench --model "$S/models/stories260K.gguf" -c 4194304 -p 8 -n 8 -r 1 2>&1 >/dev/null)
contains "... bench too" "$err" "docq bench: a context of 4194304 tokens does not fit in memory"
exit $fail
