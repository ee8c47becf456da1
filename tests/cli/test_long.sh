#!/usr/bin/env bash
# CLI tests for long context: RoPE scaling flags (llama.cpp's names) on
# model info / generate, docq eval ppl (llama-perplexity's protocol) against
# numbers llama.cpp printed for the same file, text and settings, and
# docq eval passkey. Needs $DOCQ_SHARED_DIR/models (exit 77 otherwise).
set -u
BIN=${DOCQ_BIN:-docq}
S=${DOCQ_SHARED_DIR:-}
if [ -z "$S" ] || [ ! -f "$S/models/stories260K.gguf" ]; then
  echo "DOCQ_SHARED_DIR not set or without models/: skipping" >&2
  exit 77
fi
M="$S/models/stories260K.gguf"
T="$S/models/long_prompt.txt"
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "FAIL - $1: expected [$3] got [$2]"; fail=1; fi; }
contains() { case "$2" in *"$3"*) echo "ok - $1";; *) echo "FAIL - $1: [$3] not in [$2]"; fail=1;; esac; }
# |a - b| / b <= tol
close() {
  num='^[0-9]+([.][0-9]+)?$'
  if [[ "$2" =~ $num ]] && [[ "$3" =~ $num ]] && awk -v a="$2" -v b="$3" -v t="$4" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d / b <= t) }'; then
    echo "ok - $1 ($2 vs $3)"
  else
    echo "FAIL - $1: $2 vs $3 (tolerance $4)"; fail=1
  fi
}

# ---- model info: effective settings with overrides --------------------------------
out=$("$BIN" model info "$M" -c 4096 --rope-scaling yarn --rope-scale 8 --yarn-orig-ctx 512)
# D = 8, b = 1e4, L = 512: corr dims 0..2; m = 0.1 ln 8 + 1
contains "model info: yarn x8 from 512" "$out" "effective:     context 4096, rope yarn x8 (original context 512)"
contains "model info: yarn attention factor 0.1 ln 8 + 1" "$out" "attention factor 1.2079"
out=$("$BIN" model info "$M" --rope-scaling ntk --rope-scale 4)
contains "model info: NTK base 1e4 * 4^(8/6)" "$out" "base 10000 -> 63496.0"
out=$("$BIN" model info "$M")
contains "model info: file settings" "$out" "effective:     context 2048, rope none (original context 2048), base 10000"
out=$("$BIN" model info "$S/models/tiny-qwen2-q8_0.gguf")
contains "model info: file's YaRN (tiny-qwen2)" "$out" "rope yarn x4 (original context 1024), base 1e+06, ramp pairs 3..12"
"$BIN" model info "$M" --rope-scaling bogus >/dev/null 2>&1
check "bad --rope-scaling is a usage error" "$?" "2"
"$BIN" model info "$M" --rope-scale x >/dev/null 2>&1
check "bad --rope-scale is a usage error" "$?" "2"

# ---- generate: s = 1 changes nothing; flags reach the context -----------------------
p="Once upon a time, there was a little girl named Lily."
a=$("$BIN" generate -m "$M" "$p" -n 32 --temp 0 -t 1)
b=$("$BIN" generate -m "$M" "$p" -n 32 --temp 0 -t 1 --rope-scaling linear --rope-scale 1 -c 512)
check "linear x1 = plain" "$b" "$a"
b=$("$BIN" generate -m "$M" "$p" -n 32 --temp 0 -t 1 --rope-scaling dynamic-ntk --yarn-orig-ctx 512)
check "dynamic NTK inside the original context = plain" "$b" "$a"
v=$("$BIN" generate -m "$M" "$p" -n 4 --temp 0 -t 1 -v --rope-scaling yarn --rope-scale 4 --yarn-orig-ctx 512 -c 2048 2>&1 >/dev/null)
contains "generate -v prints the effective settings" "$v" "context 2048 tokens, rope yarn x4 (original context 512)"

# ---- eval ppl -----------------------------------------------------------------------
if ! "$BIN" eval ppl --help 2>&1 | grep -q -- "--text"; then
  echo "docq eval ppl is not wired into this build: skipping the eval checks" >&2
  [ $fail = 0 ] && exit 77 || exit 1
fi
# llama.cpp (llama-perplexity from a ggml-org/llama.cpp snapshot of 2026, -t 1, its defaults) printed:
#   -c 256                                                  -> LLAMA_256
#   -c 1024 --rope-scaling yarn --rope-scale 2 --yarn-orig-ctx 512 -> LLAMA_YARN
LLAMA_256=122.2704
LLAMA_YARN=181.2379
out=$("$BIN" eval ppl -m "$M" --text "$T" -c 256 -t 1 2>/dev/null)
ppl=$(echo "$out" | sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- .*/\1/p')
contains "ppl prints running values per chunk" "$out" "[1]"
close "ppl -c 256 matches llama-perplexity" "$ppl" "$LLAMA_256" 0.001
out=$("$BIN" eval ppl -m "$M" --text "$T" -c 1024 -t 1 --rope-scaling yarn --rope-scale 2 --yarn-orig-ctx 512 2>/dev/null)
ppl=$(echo "$out" | sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- .*/\1/p')
close "ppl -c 1024 YaRN x2 matches llama-perplexity" "$ppl" "$LLAMA_YARN" 0.001
j=$("$BIN" eval ppl -m "$M" --text "$T" -c 256 -t 1 --chunks 3 --json 2>/dev/null)
contains "ppl --json: chunks and scored tokens (3 x 127)" "$j" '"chunks":3,"scored":381'
"$BIN" eval ppl -m "$M" --text "$T" -c 4096 -t 1 >/dev/null 2>&1
check "ppl needs 2N tokens" "$?" "1"

# ---- eval passkey -------------------------------------------------------------------
out=$("$BIN" eval passkey -m "$M" -c 256 --depths 0,50,100 --trials 2 -t 1 2>/dev/null)
rows=$(echo "$out" | grep -cE '^\| +(0|50|100) \| +[0-9]+ \| +[0-9.]+% \|$')
check "passkey: one row per depth" "$rows" "3"
contains "passkey: overall accuracy" "$out" "overall:"
j=$("$BIN" eval passkey -m "$M" -c 256 --depths 50 --trials 1 -t 1 --json 2>/dev/null)
contains "passkey --json" "$j" '"depths":[{"depth":50,'
exit $fail
