#!/usr/bin/env bash
# docq model info / tokenize / generate / bench with --json: one strict JSON
# value on stdout (checked with python3), errors as {"error","code"} objects,
# and option numbers checked (usage errors, exit 2).
set -u
BIN=${DOCQ_BIN:?}
. "$(dirname "$0")/signal_wait.sh" # now_ns, wait_s
# sigint_after SECONDS OUT ERR CMD...: CMD in the background, stdout to OUT
# and stderr to ERR, Ctrl-C (SIGINT) after SECONDS; its exit code in rc
sigint_after() {
  local s=$1 out=$2 err=$3; shift 3
  "$@" >"$out" 2>"$err" &
  local pid=$!
  sleep "$s"
  kill -INT $pid; wait $pid; rc=$?
}
S=${DOCQ_SHARED_DIR:-}
M="$S/models/stories260K.gguf"
Q="$S/models/tiny-qwen2-q4_k_m.gguf"
V="$S/vocab/ggml-vocab-llama-spm.gguf"
if [ -z "$S" ] || [ ! -f "$M" ]; then
  echo "skip: $M not found (set DOCQ_SHARED_DIR to the shared fixtures)"
  exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "skip: python3 needed to check JSON"
  exit 77
fi
T=$(mktemp -d /tmp/docq-mjson-XXXXXX); trap 'rm -rf "$T"' EXIT
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }

# pj FILE EXPR [ARGS...]: parse FILE strictly as one JSON value (UTF-8, no
# NaN/Infinity, nothing but whitespace around it) into d, then succeed iff the
# Python expression EXPR is true; extra arguments are the list a.  Invalid JSON
# or an exception in EXPR (missing key, ...) is a failure, told on stderr.
PJ='
import json, math, sys
def _bad(c): raise ValueError("non-standard JSON constant " + c)
def isint(x): return type(x) is int
def isnum(x): return type(x) in (int, float) and math.isfinite(x)
def isstr(x): return type(x) is str
def text(p):
    with open(p, encoding="utf-8", errors="replace", newline="") as f: return f.read()
try:
    raw = open(sys.argv[1], "rb").read().decode("utf-8")
    d = json.loads(raw, parse_constant=_bad)
except Exception as e:
    print("  (%s: invalid JSON: %s)" % (sys.argv[1], e), file=sys.stderr); sys.exit(2)
a = sys.argv[3:]
try:
    ok = bool(eval(sys.argv[2]))
except Exception as e:
    print("  (%s: %s: %r)" % (sys.argv[1], type(e).__name__, e), file=sys.stderr); sys.exit(1)
if not ok: print("  (got: %s)" % raw.strip()[:400], file=sys.stderr)
sys.exit(0 if ok else 1)
'
pj() { python3 -c "$PJ" "$@"; }
# EXPR for pj: d["info"] equals the text form (file a[0]) read line by line as
# "key: value" (spaces in key -> "_", value stripped), effective aside
INFO_EQ='{k: v for k, v in d["info"].items() if k != "effective"} == {l.split(":", 1)[0].replace(" ", "_"): l.split(":", 1)[1].strip() for l in text(a[0]).splitlines() if ":" in l and not l.startswith("effective:")} and d["info"].get("effective", d.get("effective")) == d.get("effective")'

TEXT="Once upon a time, there was a little girl named Lily."
WANT="403 407 261 378 432 383 286 261 376 298 315 421 395 317 426"

# ---------------------------------------------------------------- model info
if [ -f "$Q" ]; then
  "$BIN" model info "$Q" --json >"$T/qi.json" 2>"$T/qi.err"; rc=$?
  check "model info --json exits 0" '[ $rc -eq 0 ]'
  check "model info --json: stdout is one JSON object ending in a newline" \
    'pj "$T/qi.json" "type(d) is dict and raw.endswith(\"\\n\")"'
  check "model info --json: has_weights true" 'pj "$T/qi.json" "d[\"has_weights\"] is True"'
  check "model info --json: file as given" 'pj "$T/qi.json" "d[\"file\"] == a[0]" "$Q"'
  check "model info --json: n_vocab integer (32000)" 'pj "$T/qi.json" "isint(d[\"n_vocab\"]) and d[\"n_vocab\"] == 32000"'
  check "model info --json: n_ctx_train integer 4096" 'pj "$T/qi.json" "isint(d[\"n_ctx_train\"]) and d[\"n_ctx_train\"] == 4096"'
  check "model info --json: n_ctx_orig integer" 'pj "$T/qi.json" "isint(d[\"n_ctx_orig\"])"'
  check "model info --json: the chat template by the name --chat-template takes" \
    'pj "$T/qi.json" "d[\"chat_template\"] == \"plain\""'
  if [ -n "${DOCQ_SOURCE_DIR:-}" ]; then
    "$BIN" model info "$DOCQ_SOURCE_DIR/tests/fuzz/corpus/vocab/chat_chatml_default_system.gguf" --json >"$T/ci.json"
    check "model info --json: a recognized template by name, its default system message in info" \
      'pj "$T/ci.json" "d[\"chat_template\"] == \"chatml\" and \"A fixed default.\" in d[\"info\"][\"chat_template\"]"'
  fi
  check "model info --json: bos 1, eos 2, add_bos true" \
    'pj "$T/qi.json" "isint(d[\"bos\"]) and d[\"bos\"] == 1 and isint(d[\"eos\"]) and d[\"eos\"] == 2 and d[\"add_bos\"] is True"'
  check "model info --json: info.architecture is qwen2" 'pj "$T/qi.json" "d[\"info\"][\"architecture\"] == \"qwen2\""'
  check "model info --json: info.file_type is Q4_K - Medium" 'pj "$T/qi.json" "d[\"info\"][\"file_type\"] == \"Q4_K - Medium\""'
  check "model info --json: info.layers is the string 2" 'pj "$T/qi.json" "d[\"info\"][\"layers\"] == \"2\""'
  check "model info --json: info members are all strings" \
    'pj "$T/qi.json" "type(d[\"info\"]) is dict and len(d[\"info\"]) > 0 and all(isstr(v) for v in d[\"info\"].values())"'
  check "model info --json: effective present (a non-empty string)" \
    'pj "$T/qi.json" "isstr(d[\"effective\"]) and d[\"effective\"] != \"\""'
  # the info object mirrors the text form line by line; effective is its line's value
  "$BIN" model info "$Q" >"$T/qi.txt" 2>/dev/null
  # (the effective line may be left out of info since it is a top-level member;
  # if info has it, it must be the same string)
  check "model info --json: info has one member per line of the text form" \
    'pj "$T/qi.json" "$INFO_EQ" "$T/qi.txt"'
  check "model info --json: effective is the text after effective: in the text form" \
    'pj "$T/qi.json" "[d[\"effective\"]] == [l.split(\":\",1)[1].strip() for l in text(a[0]).splitlines() if l.startswith(\"effective:\")]" "$T/qi.txt"'
  "$BIN" --json model info "$Q" >"$T/qg.json" 2>/dev/null; rc=$?
  check "global form docq --json model info exits 0" '[ $rc -eq 0 ]'
  check "global form docq --json model info gives the same object" \
    'pj "$T/qg.json" "d == json.load(open(a[0]))" "$T/qi.json"'
  "$BIN" model --json info "$Q" >"$T/qm.json" 2>/dev/null
  check "docq model --json info FILE gives the same object" 'pj "$T/qm.json" "d == json.load(open(a[0]))" "$T/qi.json"'
else
  echo "FAIL tiny-qwen2-q4_k_m.gguf missing from $S/models"; fails=$((fails+1))
fi

"$BIN" model info "$M" --json >"$T/si.json" 2>/dev/null; rc=$?
check "model info --json on stories260K: exit 0, n_vocab 512, bos 1 added, info.architecture llama" \
  '[ $rc -eq 0 ] && pj "$T/si.json" "d[\"n_vocab\"] == 512 and d[\"bos\"] == 1 and d[\"add_bos\"] is True and d[\"info\"][\"architecture\"] == \"llama\" and d[\"has_weights\"] is True"'

if [ -f "$V" ]; then
  "$BIN" model info "$V" --json >"$T/vi.json" 2>/dev/null; rc=$?
  check "model info --json on a tokenizer-only file exits 0" '[ $rc -eq 0 ]'
  check "tokenizer-only: has_weights false" 'pj "$T/vi.json" "d[\"has_weights\"] is False"'
  check "tokenizer-only: no effective member" 'pj "$T/vi.json" "\"effective\" not in d"'
  "$BIN" model info "$V" >"$T/vi.txt" 2>/dev/null
  check "tokenizer-only: info has one member per line of the text form" \
    'pj "$T/vi.json" "$INFO_EQ" "$T/vi.txt"'
  check "tokenizer-only: n_vocab, n_ctx_train integers, info object" \
    'pj "$T/vi.json" "isint(d[\"n_vocab\"]) and d[\"n_vocab\"] > 0 and isint(d[\"n_ctx_train\"]) and type(d[\"info\"]) is dict"'
else
  echo "FAIL ggml-vocab-llama-spm.gguf missing from $S/vocab"; fails=$((fails+1))
fi

# ------------------------------------------------------------------ tokenize
"$BIN" tokenize --model "$M" "$TEXT" >"$T/tp.txt" 2>/dev/null
plain=$(cat "$T/tp.txt")
check "plain tokenize still prints the reference ids" '[ "$plain" = "$WANT" ]'
"$BIN" tokenize --model "$M" "$TEXT" --json >"$T/tj.json" 2>"$T/tj.err"; rc=$?
check "tokenize --json exits 0" '[ $rc -eq 0 ]'
check "tokenize --json: stdout is one JSON object ending in a newline" \
  'pj "$T/tj.json" "type(d) is dict and raw.endswith(\"\\n\")"'
check "tokenize --json: ids equal the plain form's ids" \
  'pj "$T/tj.json" "[str(i) for i in d[\"ids\"]] == a[0].split() and all(isint(i) for i in d[\"ids\"])" "$plain"'
check "tokenize --json: ids equal the reference vector" \
  'pj "$T/tj.json" "d[\"ids\"] == [int(x) for x in a[0].split()]" "$WANT"'
check "tokenize --json: n_tokens == len(ids) == len(pieces)" \
  'pj "$T/tj.json" "isint(d[\"n_tokens\"]) and d[\"n_tokens\"] == len(d[\"ids\"]) == len(d[\"pieces\"])"'
check "tokenize --json: pieces are strings and their concatenation contains Lily" \
  'pj "$T/tj.json" "all(isstr(p) for p in d[\"pieces\"]) and \"Lily\" in \"\".join(d[\"pieces\"])"'
check "tokenize --json: pieces joined give back the text (SentencePiece marker as space)" \
  'pj "$T/tj.json" "\"\".join(d[\"pieces\"]).replace(\"\\u2581\", \" \").strip() == a[0]" "$TEXT"'
"$BIN" tokenize --model "$M" --special "$TEXT" --json >"$T/ts.json" 2>/dev/null; rc=$?
check "tokenize --special --json: exit 0, ids[0] == 1 (BOS), then the reference ids" \
  '[ $rc -eq 0 ] && pj "$T/ts.json" "d[\"ids\"][0] == 1 and d[\"ids\"][1:] == [int(x) for x in a[0].split()] and d[\"n_tokens\"] == len(d[\"ids\"]) == len(d[\"pieces\"])" "$WANT"'
"$BIN" --json tokenize --model "$M" "$TEXT" >"$T/tg.json" 2>/dev/null; rc=$?
check "global form docq --json tokenize gives the same object" \
  '[ $rc -eq 0 ] && pj "$T/tg.json" "d == json.load(open(a[0]))" "$T/tj.json"'
if [ -f "$V" ]; then
  "$BIN" tokenize --model "$V" "Hello world" --json >"$T/tv.json" 2>/dev/null; rc=$?
  check "tokenize --json on a tokenizer-only file: ids 15043 3186" \
    '[ $rc -eq 0 ] && pj "$T/tv.json" "d[\"ids\"] == [15043, 3186] and d[\"n_tokens\"] == 2 and len(d[\"pieces\"]) == 2"'
fi

# ------------------------------------------------------------------ generate
P="Once upon a time"
"$BIN" generate --model "$M" "$P" -n 20 --temp 0 -t 1 >"$T/gp.txt" 2>/dev/null; rc=$?
check "plain generate exits 0 and echoes the prompt" '[ $rc -eq 0 ] && [ "$(head -c ${#P} "$T/gp.txt")" = "$P" ]'
"$BIN" generate --model "$M" "$P" -n 20 --temp 0 -t 1 --json >"$T/gj.json" 2>"$T/gj.err"; rc=$?
check "generate --json exits 0" '[ $rc -eq 0 ]'
check "generate --json: the whole stdout is one JSON object ending in a newline" \
  'pj "$T/gj.json" "type(d) is dict and raw.endswith(\"\\n\")"'
check "generate --json: prompt echoed in \"prompt\"" 'pj "$T/gj.json" "d[\"prompt\"] == a[0]" "$P"'
check "generate --json: text is the plain output minus the prompt and the final newline" \
  'pj "$T/gj.json" "isstr(d[\"text\"]) and text(a[0]).startswith(a[1]) and text(a[0]).endswith(\"\\n\") and d[\"text\"] == text(a[0])[len(a[1]):-1]" "$T/gp.txt" "$P"'
check "generate --json: text is not empty" 'pj "$T/gj.json" "len(d[\"text\"]) > 0"'
check "generate --json: prompt_tokens is a positive integer" \
  'pj "$T/gj.json" "isint(d[\"prompt_tokens\"]) and d[\"prompt_tokens\"] > 0"'
nspecial=$("$BIN" tokenize --model "$M" --special "$P" 2>/dev/null | wc -w)
check "generate --json: prompt_tokens counts the prompt with its BOS ($nspecial)" \
  'pj "$T/gj.json" "d[\"prompt_tokens\"] == int(a[0])" "$nspecial"'
check "generate --json: seconds is a number >= 0" 'pj "$T/gj.json" "isnum(d[\"seconds\"]) and d[\"seconds\"] >= 0"'
check "generate --json: prompt_seconds, the prompt's part of them" \
  'pj "$T/gj.json" "isnum(d[\"prompt_seconds\"]) and 0 <= d[\"prompt_seconds\"] <= d[\"seconds\"]"'
check "generate --json: interrupted false" 'pj "$T/gj.json" "d[\"interrupted\"] is False"'
# how it ended: -n reached (greedy stories260K does not end its text within 20 tokens)
check "generate --json: 20 tokens generated, stop \"length\"" \
  'pj "$T/gj.json" "d[\"generated_tokens\"] == 20 and d[\"stop\"] == \"length\""'
"$BIN" generate --model "$M" "$P" -n 100 -c 32 --temp 0 -t 1 --json >"$T/gc.json" 2>/dev/null
check "generate --json in a 32-token context: stop \"context\", prompt and text filling it" \
  'pj "$T/gc.json" "d[\"stop\"] == \"context\" and d[\"prompt_tokens\"] + d[\"generated_tokens\"] == 33"'
"$BIN" generate --model "$M" "$P" -n 100 -c 32 --temp 0 -t 1 >/dev/null 2>"$T/gc.err"; rc=$?
check "plain generate says on stderr that the full context cut the text (exit 0)" \
  '[ $rc -eq 0 ] && grep -q "context (32 tokens) is full; -c N" "$T/gc.err"'
"$BIN" generate --model "$M" "$P" -n 100 --stop "Lily" --temp 0 -t 1 --json >"$T/gs.json" 2>/dev/null
check "generate --json --stop Lily: stop \"stop\", the text ends before it" \
  'pj "$T/gs.json" "d[\"stop\"] == \"stop\" and \"Lily\" not in d[\"text\"] and d[\"text\"].endswith(\"named \")"'
"$BIN" --json generate --model "$M" "$P" -n 20 --temp 0 -t 1 >"$T/gg.json" 2>/dev/null; rc=$?
check "global form docq --json generate: same prompt, text and prompt_tokens" \
  '[ $rc -eq 0 ] && pj "$T/gg.json" "all(d[k] == e[k] for e in [json.load(open(a[0]))] for k in (\"prompt\", \"text\", \"prompt_tokens\", \"interrupted\"))" "$T/gj.json"'

# --------------------------------------------------------------------- bench
"$BIN" bench --model "$M" -p 16 -n 8 -r 2 -t 1 --json >"$T/bj.json" 2>"$T/bj.err"; rc=$?
check "bench --json exits 0" '[ $rc -eq 0 ]'
check "bench --json: a JSON array of 2 objects ending in a newline" \
  'pj "$T/bj.json" "type(d) is list and len(d) == 2 and all(type(o) is dict for o in d) and raw.endswith(\"\\n\")"'
check "bench --json: first test pp16, second tg8" 'pj "$T/bj.json" "d[0][\"test\"] == \"pp16\" and d[1][\"test\"] == \"tg8\""'
check "bench --json: pp16 has n_prompt 16, n_gen 0, n_depth 0" \
  'pj "$T/bj.json" "(d[0][\"n_prompt\"], d[0][\"n_gen\"], d[0][\"n_depth\"]) == (16, 0, 0) and all(isint(d[0][k]) for k in (\"n_prompt\", \"n_gen\", \"n_depth\"))"'
check "bench --json: tg8 has n_prompt 0, n_gen 8, n_depth 0" \
  'pj "$T/bj.json" "(d[1][\"n_prompt\"], d[1][\"n_gen\"], d[1][\"n_depth\"]) == (0, 8, 0) and all(isint(d[1][k]) for k in (\"n_prompt\", \"n_gen\", \"n_depth\"))"'
check "bench --json: samples_ts holds 2 positive numbers in each run" \
  'pj "$T/bj.json" "all(type(o[\"samples_ts\"]) is list and len(o[\"samples_ts\"]) == 2 and all(isnum(x) and x > 0 for x in o[\"samples_ts\"]) for o in d)"'
check "bench --json: avg_ts is the mean of samples_ts" \
  'pj "$T/bj.json" "all(isnum(o[\"avg_ts\"]) and math.isclose(o[\"avg_ts\"], sum(o[\"samples_ts\"]) / len(o[\"samples_ts\"]), rel_tol=1e-6) for o in d)"'
check "bench --json: stddev_ts is a number >= 0" 'pj "$T/bj.json" "all(isnum(o[\"stddev_ts\"]) and o[\"stddev_ts\"] >= 0 for o in d)"'

# Ctrl-C during bench --json: the array still comes, with the tests measured
# so far; a test cut short holds only its whole repetitions (fewer than -r)
# (--json shows no progress, so the signal's time comes from this machine:
# the whole pp16 test, then about four tg400 repetitions; a fixed 1.5 s
# could land inside pp16 on a loaded CI host under ASan)
t0=$(now_ns)
"$BIN" bench --model "$M" -p 16 -n 0 -r 100 -t 1 >/dev/null 2>&1
t1=$(now_ns)
"$BIN" bench --model "$M" -p 0 -n 400 -r 1 -t 1 >/dev/null 2>&1
t2=$(now_ns)
sigint_after "$(wait_s 1.5 1.5 $((t1 - t0)) 4 $((t2 - t1)))" "$T/bint.json" "$T/bint.err" \
  "$BIN" bench --model "$M" -p 16 -n 400 -r 100 -t 1 --json
check "bench --json after Ctrl-C exits 130 (got $rc)" '[ $rc -eq 130 ]'
check "... with the array: pp16 whole, then tg400 with 1 to 99 repetitions if it ran one" \
  'pj "$T/bint.json" "d[0][\"test\"] == \"pp16\" and len(d[0][\"samples_ts\"]) == 100 and all(o[\"test\"] == \"tg400\" and 1 <= len(o[\"samples_ts\"]) < 100 for o in d[1:]) and len(d) <= 2"'
check "bench --json: threads == 1" 'pj "$T/bj.json" "all(isint(o[\"threads\"]) and o[\"threads\"] == 1 for o in d)"'
check "bench --json: model (llama ...), size, params are strings" \
  'pj "$T/bj.json" "all(isstr(o[\"model\"]) and o[\"model\"].startswith(\"llama\") and isstr(o[\"size\"]) and isstr(o[\"params\"]) for o in d)"'
"$BIN" bench --model "$M" -p 0 -n 8 -d 16 -r 2 -t 1 --json >"$T/bd.json" 2>/dev/null; rc=$?
check "bench -p 0 -n 8 -d 16 --json: exit 0, one object" '[ $rc -eq 0 ] && pj "$T/bd.json" "type(d) is list and len(d) == 1"'
check "bench -d 16 --json: n_depth 16, n_gen 8, n_prompt 0, test starts with tg8" \
  'pj "$T/bd.json" "d[0][\"n_depth\"] == 16 and d[0][\"n_gen\"] == 8 and d[0][\"n_prompt\"] == 0 and d[0][\"test\"].startswith(\"tg8\")"'

# -------------------------------------------------------- errors under --json
"$BIN" model info /nonexistent.gguf --json >"$T/e1.json" 2>/dev/null; rc=$?
check "model info /nonexistent.gguf --json exits 1" '[ $rc -eq 1 ]'
check "... stdout is an error object naming nonexistent.gguf with a negative code" \
  'pj "$T/e1.json" "type(d) is dict and isstr(d[\"error\"]) and \"nonexistent.gguf\" in d[\"error\"] and isint(d[\"code\"]) and d[\"code\"] < 0"'
printf 'this is not a GGUF file\n' >"$T/not-a-model.gguf"
"$BIN" generate --model "$T/not-a-model.gguf" "x" --json >"$T/e2.json" 2>/dev/null; rc=$?
check "generate --json on a file that is not GGUF exits 1" '[ $rc -eq 1 ]'
check "... stdout is an error object with a negative code" \
  'pj "$T/e2.json" "type(d) is dict and isstr(d[\"error\"]) and d[\"error\"] != \"\" and isint(d[\"code\"]) and d[\"code\"] < 0"'
"$BIN" bench --model /nonexistent.gguf -p 0 -n 4 -r 1 -t 1 --json >"$T/e3.json" 2>/dev/null; rc=$?
check "bench --json on a missing model: exit 1 and an error object" \
  '[ $rc -eq 1 ] && pj "$T/e3.json" "type(d) is dict and isstr(d[\"error\"]) and isint(d[\"code\"]) and d[\"code\"] < 0"'

# every failure under --json gives the object, also those found by the
# command line's own checks: -f of a missing file or of one that is not
# text, a --chat message longer than the context
jerr() { pj "$1" "type(d) is dict and set(d) == {\"error\", \"code\"} and isstr(d[\"error\"]) and d[\"code\"] == int(a[0])" "$2"; }
"$BIN" generate --model "$M" -f "$T/missing.txt" --json >"$T/e4.json" 2>/dev/null; rc=$?
check "generate -f of a missing file --json: exit 1 and an error object (code -7)" '[ $rc -eq 1 ] && jerr "$T/e4.json" -7'
printf 'a\0b' >"$T/nul.txt"
"$BIN" generate --model "$M" -f "$T/nul.txt" --json >"$T/e5.json" 2>/dev/null; rc=$?
check "generate -f of a file with a NUL byte --json: exit 1 and an error object (code -3)" '[ $rc -eq 1 ] && jerr "$T/e5.json" -3'
"$BIN" tokenize --model "$M" -f "$T/nul.txt" --json >"$T/e6.json" 2>/dev/null; rc=$?
check "tokenize -f of a file with a NUL byte --json: exit 1 and an error object" '[ $rc -eq 1 ] && jerr "$T/e6.json" -3'
"$BIN" generate --model "$M" --chat "$(printf 'hello there %.0s' $(seq 40))" -c 32 -n 4 --json >"$T/e7.json" 2>/dev/null; rc=$?
check "generate --chat --json with a message too long for the context: exit 1 and an error object" \
  '[ $rc -eq 1 ] && jerr "$T/e7.json" -3'
"$BIN" --json generate --model "$M" "x" -n abc >"$T/e8.json" 2>/dev/null; rc=$?
check "--json generate -n abc (a usage error after --json): exit 2 and an error object (code -3)" \
  '[ $rc -eq 2 ] && jerr "$T/e8.json" -3'
"$BIN" --json generate --model "$M" --chat --chat-template bogus -n 2 <<<"" >"$T/e9.json" 2>/dev/null; rc=$?
check "--json generate --chat --chat-template bogus: exit 2 and an error object" '[ $rc -eq 2 ] && jerr "$T/e9.json" -3'

# -------------------------------------------------------------- strict numbers
# usage errors: exit 2, stderr names the option
usage() { # desc option cmd...
  local desc=$1 opt=$2; shift 2
  "$BIN" "$@" >"$T/u.out" 2>"$T/u.err"; local rc=$?
  check "$desc exits 2 (got $rc)" '[ $rc -eq 2 ]'
  check "$desc: stderr names $opt" 'grep -qF -- "$opt" "$T/u.err"'
}
usage "generate -n abc" "-n" generate --model "$M" "x" -n abc -t 1
usage "generate --temp x" "--temp" generate --model "$M" "x" --temp x -n 4 -t 1
usage "generate --top-k 1.5" "--top-k" generate --model "$M" "x" --top-k 1.5 -n 4 -t 1
usage "generate -n 5x" "-n" generate --model "$M" "x" -n 5x -t 1
usage "generate -t 1.5x" "-t" generate --model "$M" "x" -t 1.5x -n 4
usage "bench -p abc" "-p" bench --model "$M" -p abc -n 4 -r 1 -t 1
# numbers as typed in decimal: not hexadecimal, exponents for whole numbers,
# inf or nan; context options name their range
usage "generate -n 0x10" "-n wants a whole number in 0..16777216" generate --model "$M" "x" -n 0x10 -t 1
usage "generate -n 1e1" "-n wants a whole number" generate --model "$M" "x" -n 1e1 -t 1
usage "generate -c 1.5" "-c wants a whole number in 0..4194304" generate --model "$M" "x" -c 1.5 -n 4 -t 1
usage "generate --rope-scale 0x2" "--rope-scale wants a number in" generate --model "$M" "x" --rope-scale 0x2 -n 4 -t 1
usage "generate --yarn-beta-fast nan" "--yarn-beta-fast wants a number" generate --model "$M" "x" --yarn-beta-fast nan -n 4 -t 1
usage "ask -k 1e1" "-k wants a whole number in 1..1000" ask -k 1e1 "x"
usage "search --weight nan" "--weight wants a number in 0..1" search --weight nan "x"
usage "index --max-size nan" "--max-size wants a number" index --max-size nan "$T"
usage "index --chunk-tokens 1e12" "--chunk-tokens wants a whole number" index --chunk-tokens 1e12 "$T"
# an option after --model is not its file ("--model --json" lacks a value)
usage "generate --model --json" "--model" generate --model --json "x"
usage "ask --model --json" "the next argument, --json, is an option" ask --model --json "x"
usage "search --path --json" "--path needs a value (the next argument, --json, is an option)" search pipeline --path --json
usage "ask --tag --json" "--tag needs a value" ask "x" --tag --json
# a seed is decimal digits: a blank then a minus wrapped to 2^64-1
usage "generate -s ' -1'" "-s wants a whole number" generate --model "$M" "x" -s " -1" -n 2 -t 1
# a cache type docq does not have, or sinks without a window, are bad
# command lines wherever the options are taken (not failures of the run)
usage "generate -ctk bogus" "unknown K cache type 'bogus' (f16, f32, q8_0, q4_0) (see docq generate --help)" \
  generate --model "$M" "x" -n 2 -t 1 -ctk bogus
usage "generate --chat -ctv bogus" "unknown V cache type 'bogus'" generate --model "$M" --chat "x" -n 2 -t 1 -ctv bogus
usage "generate --attn-sinks 4 without --attn-window" "--attn-sinks 4 needs --attn-window" \
  generate --model "$M" "x" -n 2 -t 1 --attn-sinks 4
usage "generate --attn-sinks 9 --attn-window 8" "--attn-sinks 9 is more than --attn-window 8" \
  generate --model "$M" "x" -n 2 -t 1 --attn-sinks 9 --attn-window 8
# values the library refuses (docq_gen_options_check) are bad command lines too
usage "generate --repeat-penalty 0" "repeat_penalty 0 is out of range: above 0" \
  generate --model "$M" "x" -n 2 -t 1 --repeat-penalty 0
usage "ask --repeat-penalty 0" "repeat_penalty 0 is out of range: above 0" ask "x" --repeat-penalty 0
usage "bench -ctk bogus" "unknown K cache type 'bogus'" bench --model "$M" -p 8 -n 8 -r 1 -t 1 -ctk bogus
usage "bench --attn-sinks 4 without --attn-window" "--attn-sinks 4 needs --attn-window" bench --model "$M" -p 8 -n 8 -r 1 -t 1 --attn-sinks 4
usage "eval passkey --cache-type-k=bogus" "unknown K cache type 'bogus'" eval passkey --model "$M" --cache-type-k=bogus
# model info shows the file and the RoPE the options give: the options of a
# running context (its "kv cache:" line is of the default f16) are refused
usage "model info -ctk f32" "-ctk" model info "$M" -ctk f32
usage "model info --attn-sinks 5" "--attn-sinks" model info "$M" --attn-sinks 5
check "model info --help lists only the options it takes" \
  '"$BIN" model info --help | grep -q -- "--rope-scaling" && ! "$BIN" model info --help | grep -q -- "-ctk"'
"$BIN" generate --model "$M" "x" -n abc --json >"$T/u.out" 2>"$T/u.err"; rc=$?
check "generate -n abc --json: still a usage error on stderr (exit 2, stdout empty)" \
  '[ $rc -eq 2 ] && [ ! -s "$T/u.out" ] && [ -s "$T/u.err" ]'

# Ctrl-C during generate --json: what was generated so far, marked, exit 130
# (the signal comes after three times a short run's time on this machine;
# -c 8192 keeps it writing for seconds: the default context filled in 0.5 s)
t0=$(now_ns)
"$BIN" generate --model "$M" "Once upon a time" -n 16 --temp 0.8 -t 1 >/dev/null 2>&1
t1=$(now_ns)
short_ns=$((t1 - t0))
sigint_after "$(wait_s 0.5 3 $short_ns)" "$T/int.json" "$T/int.err" \
  "$BIN" generate --model "$M" "Once upon a time" -n 1000000 -c 8192 --temp 0.8 -t 1 --json
check "generate --json after Ctrl-C exits 130 (got $rc)" '[ $rc -eq 130 ]'
check "... with one object: interrupted true and the text so far" \
  'pj "$T/int.json" "d[\"interrupted\"] is True and d[\"stop\"] == \"interrupted\" and isstr(d[\"text\"]) and len(d[\"text\"]) > 0"'

# Ctrl-C while the prompt is read (about 2700 tokens one at a time, -b 1):
# the object still has prompt_seconds, the time spent so far (the signal
# comes after a third of a whole run's time on this machine)
for _ in $(seq 300); do printf 'Once upon a time there was a cat. '; done >"$T/long.txt"
t0=$(now_ns)
"$BIN" generate --model "$M" -f "$T/long.txt" -n 1 -c 4096 -b 1 -t 1 >/dev/null 2>&1
t1=$(now_ns)
sigint_after "$(wait_s 0.2 0.33 $((t1 - t0)))" "$T/pint.json" "$T/pint.err" \
  "$BIN" generate --model "$M" -f "$T/long.txt" -n 1 -c 4096 -b 1 -t 1 --json
check "generate --json interrupted while reading the prompt exits 130 (got $rc)" '[ $rc -eq 130 ]'
check "... with prompt_seconds, the time so far, and nothing generated" \
  'pj "$T/pint.json" "d[\"generated_tokens\"] == 0 and isnum(d[\"prompt_seconds\"]) and 0 < d[\"prompt_seconds\"] <= d[\"seconds\"]"'

# the same with --chat: the interrupted turn's object, with the text so far
# (the timing of the first case: the short run's, not the long prompt's just
# above, whose triple could outlast the whole answer on a loaded machine; the
# plain format's prompt is a few tokens longer)
sigint_after "$(wait_s 0.5 3 $short_ns)" "$T/cint.json" "$T/cint.err" \
  "$BIN" generate --model "$M" --chat "Once upon a time" -n 1000000 -c 8192 --temp 0.8 -t 1 --json
check "generate --chat --json after Ctrl-C exits 130 (got $rc)" '[ $rc -eq 130 ]'
check "... with the turn's object: user, stop interrupted, the text so far, prompt_seconds" \
  'pj "$T/cint.json" "d[\"user\"] == \"Once upon a time\" and d[\"stop\"] == \"interrupted\" and len(d[\"text\"]) > 0 and d[\"generated_tokens\"] > 0 and isnum(d[\"prompt_seconds\"])"'

echo "$fails failure(s)"; [ $fails -eq 0 ]
