#!/usr/bin/env bash
# docq ask --model: the packed, edges-first prompt counted with the model's
# tokenizer, under a budget from its context; the answer streamed; sources.
set -u
BIN=${DOCQ_BIN:?}; SRC=${DOCQ_SOURCE_DIR:?}; SH=${DOCQ_SHARED_DIR:-}
. "$(dirname "$0")/signal_wait.sh" # now_ns, wait_s
M="$SH/models/stories260K.gguf"
[ -f "$M" ] || { echo "skip: $M not found (set DOCQ_SHARED_DIR)"; exit 77; }
T=$(mktemp -d /tmp/docq-askm-XXXXXX); trap 'rm -rf "$T"' EXIT
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }
"$BIN" --db "$T/idx" index --quiet "$SRC/samples/corpus" >/dev/null
out=$("$BIN" --db "$T/idx" ask --model "$M" -n 12 --temp 0 "What happens after a crash?"); rc=$?
check "ask --model exits 0" '[ $rc -eq 0 ]'
check "sources listed after the answer" 'printf "%s" "$out" | grep -q "^Sources:"'
j=$("$BIN" --db "$T/idx" ask --json --model "$M" -n 12 --temp 0 --budget 300 "What happens after a crash?")
pt=$(printf '%s' "$j" | grep -o '"prompt_tokens":[0-9]*' | cut -d: -f2)
check "prompt within the 300-token budget ($pt)" '[ -n "$pt" ] && [ "$pt" -le 300 ] && [ "$pt" -gt 0 ]'
check "left-out passages reported" 'printf "%s" "$j" | grep -q "\"left_out\":{\"count\":[1-9]"'
# per-request extension: a prompt beyond the original context gets YaRN, a short one nothing
big=$("$BIN" --db "$T/idx" ask --json --model "$M" -n 8 --temp 0 --budget 3000 "What happens after a crash and how does docq find passages?")
check "a prompt beyond the original context is extended (yarn)" 'printf "%s" "$big" | grep -q "\"context\":\"yarn"'
small=$("$BIN" --db "$T/idx" ask --json --model "$M" -n 8 --temp 0 --budget 300 "What happens after a crash?")
check "a short prompt is not scaled" 'printf "%s" "$small" | grep -q "\"context\":\"none"'
# the same answer twice at temperature 0 (deterministic)
a1=$("$BIN" --db "$T/idx" ask --json --model "$M" -n 12 --temp 0 "Who wrote the glossary?" | grep -o '"answer":"[^"]*"')
a2=$("$BIN" --db "$T/idx" ask --json --model "$M" -n 12 --temp 0 "Who wrote the glossary?" | grep -o '"answer":"[^"]*"')
check "greedy answers are reproducible" '[ -n "$a1" ] && [ "$a1" = "$a2" ]'
# the repetition penalty of the library's defaults (1.1 over 64 tokens), said
# in --help and settable as generate's: 1 (off) and a window of 0 agree, and
# differ from the default even at temperature 0
ans() { "$BIN" --db "$T/idx" ask --json --model "$M" -n 24 --temp 0 "$@" "Who wrote the glossary?" | grep -o '"answer":.*,"found"'; }
d=$(ans); d11=$(ans --repeat-penalty 1.1 --repeat-last-n 64); off=$(ans --repeat-penalty 1); off0=$(ans --repeat-last-n 0)
check "ask's default penalty is 1.1 over 64 tokens" '[ -n "$d" ] && [ "$d" = "$d11" ]'
check "--repeat-penalty 1 and --repeat-last-n 0 turn it off" '[ -n "$off" ] && [ "$off" = "$off0" ] && [ "$off" != "$d" ]'
check "ask --help says so" '"$BIN" ask --help | grep -q -- "--repeat-penalty R .*" && "$BIN" ask --help | grep -q "default 1.1"'
"$BIN" --db "$T/idx" ask --model "$M" --repeat-last-n -1 "x" >/dev/null 2>&1; rc=$?
check "a negative --repeat-last-n is a usage error" '[ $rc -eq 2 ]'
"$BIN" --db "$T/idx" ask --model "$M" --repeat-penalty much "x" >/dev/null 2>&1; rc=$?
check "a --repeat-penalty that is no number is a usage error" '[ $rc -eq 2 ]'
# reading a prompt of more than one batch is shown on a terminal (script(1)
# gives one), cleared before the answer; nothing of it when piped
if command -v script >/dev/null; then
  script -qc "'$BIN' --db '$T/idx' ask --model '$M' -n 4 --temp 0 --budget 3000 'What happens after a crash and how does docq find passages?'" /dev/null > "$T/tty" 2>&1
  check "ask on a terminal shows the prompt being read" 'grep -aq "reading the prompt: 512 of [0-9]* tokens ([0-9]*%), about [0-9]* s left" "$T/tty"'
  # each progress text is ended by the next one's clear, or by its own before the answer
  check "... and clears it before the answer" \
    '! sed "s/\r\x1b\[K/\n/g" "$T/tty" | grep -a "reading the prompt" | grep -avq "^reading the prompt: [0-9]* of [0-9]* tokens ([0-9]*%)\(, about [0-9]* s left\)\?$"'
else
  echo "skip: no script(1) for the terminal checks"
fi
"$BIN" --db "$T/idx" ask --model "$M" -n 4 --temp 0 --budget 3000 "What happens after a crash and how does docq find passages?" > "$T/out" 2>&1
check "piped: no progress line" '! grep -q "reading the prompt" "$T/out"'
DOCQ_MODEL=/nonexistent.gguf "$BIN" --db "$T/idx" ask "x" >/dev/null 2>"$T/err"; rc=$?
check "a missing model file is a clear error (exit 1)" '[ $rc -eq 1 ] && grep -q "nonexistent.gguf" "$T/err"'
# stdout and stderr in one pipe: the answer, its sources, then the left-out note
both=$("$BIN" --db "$T/idx" ask --model "$M" -n 12 --temp 0 --budget 300 "What happens after a crash?" 2>&1)
check "the left-out note comes after the sources in a shared pipe" \
  'printf "%s\n" "$both" | sed -n "/^Sources:/,\$p" | grep -q "did not fit" && ! printf "%s\n" "$both" | sed -n "/^Sources:/q;p" | grep -q "did not fit"'
# an answer that reaches -n is said to be possibly cut short (stories260K does
# not end its text within 12 tokens)
"$BIN" --db "$T/idx" ask --model "$M" -n 12 --temp 0 "What happens after a crash?" >/dev/null 2>"$T/err"
check "an answer stopped by -n is noted on stderr" 'grep -q "stopped at 12 tokens.*-n N allows more" "$T/err"'
j=$("$BIN" --db "$T/idx" ask --json --model "$M" -n 12 --temp 0 "What happens after a crash?")
check "--json: generated_tokens 12, stop length" \
  'printf "%s" "$j" | grep -q "\"generated_tokens\":12,\"stop\":\"length\""'
check "--json: seconds spent reading the prompt and writing the answer" \
  'printf "%s" "$j" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(not (d[\"prompt_seconds\"] > 0 and d[\"answer_seconds\"] > 0))"'
# --chat-template: the answer asked in the named format; an unknown one says which exist
j=$("$BIN" --db "$T/idx" ask --json --model "$M" -n 2 --temp 0 --chat-template llama3 "What happens after a crash?")
check "--chat-template llama3 is the one used" 'printf "%s" "$j" | grep -q "\"context\":\"[^\"]*; chat template llama3\""'
j=$("$BIN" --db "$T/idx" ask --json --model "$M" -n 2 --temp 0 "What happens after a crash?")
check "without it, the file's (stories260K has none: plain)" 'printf "%s" "$j" | grep -q "; chat template plain\""'
"$BIN" --db "$T/idx" ask --model "$M" --chat-template jinja "x" >/dev/null 2>"$T/err"; rc=$?
check "an unknown --chat-template is a usage error (exit 2, as in generate) naming the known ones" '[ $rc -eq 2 ] && grep -q "jinja.*unknown (chatml, qwen3, smollm3, chatml-think, llama3" "$T/err"'
"$BIN" --db "$T/idx" --json ask --model "$M" --chat-template jinja "x" >"$T/out" 2>/dev/null; rc=$?
check "... with --json: the error object on stdout, code -3" \
  '[ $rc -eq 2 ] && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d[\"code\"] == -3 and \"jinja\" in d[\"error\"]))" "$T/out"'
# numbers out of range are usage errors, as in generate (a cast of 1e11 to int
# was undefined behaviour and gave an empty answer with exit 0)
for bad in "-n 99999999999" "-t 99999999999" "--seed 1e23" "--seed 18446744073709551616" "--temp 500" "--temp nan" "-n 2.5"; do
  "$BIN" --db "$T/idx" ask --model "$M" $bad "x" >/dev/null 2>"$T/err"; rc=$?
  check "ask $bad is a usage error naming the range" '[ $rc -eq 2 ] && grep -q "wants a .*number in" "$T/err"'
done
# -n 0 is no answer length (generate -n 0 writes nothing): a usage error, not
# a context sized for 256 tokens and an empty answer
"$BIN" --db "$T/idx" ask --model "$M" -n 0 --temp 0 "What happens after a crash?" >"$T/out" 2>"$T/err"; rc=$?
check "ask -n 0 is a usage error naming the range from 1" '[ $rc -eq 2 ] && grep -q "^docq ask: -n wants a whole number in 1\.\." "$T/err" && [ ! -s "$T/out" ]'
check "ask --help says -n is at least 1" '"$BIN" ask --help | grep -q "^  -n N .*at least 1"'
# a question that leaves no room for any passage says so, not "nothing answers"
LQ="What happens after a crash? $(printf 'word %.0s' $(seq 1 60))"
out=$("$BIN" --db "$T/idx" ask --model "$M" --budget 64 -n 2 "$LQ" 2>/dev/null); rc=$?
check "no passage fits beside a long question: said, with the budget" '[ $rc -eq 0 ] && printf "%s" "$out" | grep -q "^None of the [0-9]* passages found fits the 64-token budget beside the question"'
j=$("$BIN" --db "$T/idx" ask --json --model "$M" --budget 64 -n 2 "$LQ" 2>/dev/null)
check "--json: the library's answer says it too, found false" 'printf "%s" "$j" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(not (d[\"answer\"].startswith(\"None of the \") and \"64-token budget\" in d[\"answer\"] and d[\"found\"] is False))"'
out=$("$BIN" --db "$T/idx" ask --no-model --budget 64 "$LQ" 2>/dev/null); rc=$?
check "the same without a model" '[ $rc -eq 0 ] && printf "%s" "$out" | grep -q "^None of the [0-9]* passages found fits"'
# a reasoning model's thinking (--chat-template deepseek-r1 opens the think
# block in the prompt; stories260K never closes it, so all it writes within
# -n is thinking): no answer on stdout, a note saying why, the thinking in
# --json and, with --show-thinking, on stderr
"$BIN" --db "$T/idx" ask --model "$M" -n 6 --temp 0 --chat-template deepseek-r1 "What happens after a crash?" >"$T/out" 2>"$T/err"; rc=$?
check "a model still thinking at -n: exit 0, no answer, a note" \
  '[ $rc -eq 0 ] && grep -q "^(no answer: the model was still thinking" "$T/out" && grep -q "still thinking after 6 tokens.*-n 1000" "$T/err"'
j=$("$BIN" --db "$T/idx" ask --json --model "$M" -n 6 --temp 0 --chat-template deepseek-r1 "What happens after a crash?")
check "--json: the thinking apart from the (empty) answer" \
  'printf "%s" "$j" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(not (d[\"answer\"] == \"\" and len(d[\"reasoning\"]) > 0 and d[\"unfinished_reasoning\"] is True))"'
r=$(printf '%s' "$j" | python3 -c "import json,sys; print(json.load(sys.stdin)['reasoning'], end='')")
"$BIN" --db "$T/idx" ask --model "$M" -n 6 --temp 0 --chat-template deepseek-r1 --show-thinking "What happens after a crash?" >/dev/null 2>"$T/err"
check "--show-thinking writes the same thinking to stderr" 'grep -qF -- "$r" "$T/err"'
if command -v script >/dev/null; then
  script -qc "'$BIN' --db '$T/idx' ask --model '$M' -n 6 --temp 0 --chat-template deepseek-r1 'What happens after a crash?'" /dev/null > "$T/tty" 2>&1
  check "on a terminal: how long it has been thinking, cleared after" \
    'grep -aq "thinking: [0-9]* characters, [0-9]* s" "$T/tty" && ! sed "s/\r\x1b\[K/\n/g" "$T/tty" | grep -a "thinking: " | grep -avq "^thinking: [0-9]* characters, [0-9]* s$"'
fi
j=$("$BIN" --db "$T/idx" ask --json --model "$M" -n 6 --temp 0 --chat-template chatml "What happens after a crash?")
check "a template that opens no block: no reasoning field" '! printf "%s" "$j" | grep -q "\"reasoning\""'
# a template that reasons first gets -n 1024 by default on a model whose
# context holds it (tiny-qwen2: 4096); an explicit -n wins; others keep 256
Q="$SH/models/tiny-qwen2-q8_0.gguf"
j=$("$BIN" --db "$T/idx" ask --json --model "$Q" --temp 0 --chat-template deepseek-r1 "What happens after a crash?")
check "reasoning template: -n 1024 by default" 'printf "%s" "$j" | grep -q "\"generated_tokens\":1024,"'
j=$("$BIN" --db "$T/idx" ask --json --model "$Q" --temp 0 -n 7 --chat-template deepseek-r1 "What happens after a crash?")
check "... -n given: that" 'printf "%s" "$j" | grep -q "\"generated_tokens\":7,"'
j=$("$BIN" --db "$T/idx" ask --json --model "$Q" --temp 0 "What happens after a crash?")
check "... other templates: 256" 'printf "%s" "$j" | grep -q "\"generated_tokens\":256,"'
# the index's answer model (docq config model): ask uses it when neither
# --model nor $DOCQ_MODEL names one; --no-model answers extractively
out=$("$BIN" --db "$T/idx" config); rc=$?
check "config shows no answer model at first" '[ $rc -eq 0 ] && printf "%s" "$out" | grep -q "^answer model  none"'
"$BIN" --db "$T/idx" config model "$M" >/dev/null; rc=$?
check "config model FILE exits 0" '[ $rc -eq 0 ]'
j=$("$BIN" --db "$T/idx" --json config)
check "config --json gives the absolute path" 'printf "%s" "$j" | grep -q "\"answer_model\":\"/.*stories260K.gguf\""'
check "status names it" '"$BIN" --db "$T/idx" status | grep -q "^answer model .*stories260K.gguf"'
j=$(env -u DOCQ_MODEL "$BIN" --db "$T/idx" ask --json -n 3 --temp 0 "What happens after a crash?")
check "ask without --model answers with the index's model" 'printf "%s" "$j" | grep -q "\"generated_tokens\":3,"'
j=$(env -u DOCQ_MODEL "$BIN" --db "$T/idx" ask --json --no-model "What happens after a crash?")
check "--no-model answers extractively" '! printf "%s" "$j" | grep -q "generated_tokens"'
DOCQ_MODEL=/nonexistent.gguf "$BIN" --db "$T/idx" ask "x" >/dev/null 2>"$T/err"; rc=$?
check "\$DOCQ_MODEL wins over the index's model" '[ $rc -eq 1 ] && grep -q "nonexistent.gguf" "$T/err"'
cp "$M" "$T/gone.gguf"
"$BIN" --db "$T/idx" config model "$T/gone.gguf" >/dev/null && rm "$T/gone.gguf"
"$BIN" --db "$T/idx" config >/dev/null 2>"$T/err"; rc=$?
check "config shows a recorded model that is gone with a warning naming it" \
  '[ $rc -eq 0 ] && grep -q "answer model .*gone.gguf cannot be read" "$T/err"'
cj=$("$BIN" --db "$T/idx" config --json 2>/dev/null)
check "... and config --json says missing: true" 'printf "%s" "$cj" | grep -q "\"missing\":true"'
"$BIN" --db "$T/idx" status >"$T/out" 2>"$T/err"; rc=$?
check "status warns of it too, after its report" \
  '[ $rc -eq 0 ] && grep -q "^answer model .*gone.gguf" "$T/out" && grep -q "^docq status: the answer model .*gone.gguf cannot be read.*docq config model --unset" "$T/err"'
"$BIN" --db "$T/idx" --json status >"$T/out" 2>"$T/err"; rc=$?
check "... also with --json (the record on stdout stays whole)" \
  '[ $rc -eq 0 ] && python3 -m json.tool "$T/out" >/dev/null && grep -q "gone.gguf cannot be read" "$T/err"'
env -u DOCQ_MODEL "$BIN" --db "$T/idx" ask "What happens after a crash?" >/dev/null 2>"$T/err"; rc=$?
check "a recorded model that is gone: exit 1, naming it and the way out" \
  '[ $rc -eq 1 ] && grep -q "index.s answer model: .*gone.gguf" "$T/err" && grep -q "docq config model --unset" "$T/err"'
"$BIN" --db "$T/idx" config model "$SH/vocab/ggml-vocab-llama-spm.gguf" >/dev/null 2>"$T/err"; rc=$?
check "config model with a tokenizer-only file is refused" '[ $rc -eq 1 ] && grep -q "no weights" "$T/err"'
"$BIN" --db "$T/idx" config model /nonexistent.gguf >/dev/null 2>"$T/err"; rc=$?
check "config model with a missing file is refused, naming it" '[ $rc -eq 1 ] && grep -q "nonexistent.gguf" "$T/err"'
check "... and the setting is left as it was" '"$BIN" --db "$T/idx" config | grep -q "gone.gguf"'
"$BIN" --db "$T/idx" config model --unset >/dev/null
j=$(env -u DOCQ_MODEL "$BIN" --db "$T/idx" ask --json "What happens after a crash?")
check "after --unset, ask is extractive again" '! printf "%s" "$j" | grep -q "generated_tokens"'
"$BIN" --db "$T/idx" config colour blue >/dev/null 2>&1; rc=$?
check "an unknown setting is a usage error" '[ $rc -eq 2 ]'
env -u DOCQ_MODEL "$BIN" --db "$T/idx" ask --no-model --chat-template llama3 "What happens after a crash?" >/dev/null 2>"$T/err"; rc=$?
check "--chat-template without a model: answered, and told it is ignored" '[ $rc -eq 0 ] && grep -q "chat-template is for a model" "$T/err"'
# a tokenizer-only file cannot answer: said with its name, before any work
V="$SH/vocab/ggml-vocab-llama-spm.gguf"
if [ -f "$V" ]; then
  "$BIN" --db "$T/idx" ask --model "$V" "What happens after a crash?" >"$T/out" 2>"$T/err"; rc=$?
  check "a tokenizer-only --model exits 1, naming the file" '[ $rc -eq 1 ] && grep -q "ggml-vocab-llama-spm.gguf (--model) holds a tokenizer but no weights" "$T/err" && [ ! -s "$T/out" ]'
  # from $DOCQ_MODEL: said so, and under --json an error object
  DOCQ_MODEL="$V" "$BIN" --db "$T/idx" --json ask "What happens after a crash?" >"$T/out" 2>"$T/err"; rc=$?
  check "a tokenizer-only \$DOCQ_MODEL exits 1, names the variable, JSON error" '[ $rc -eq 1 ] && grep -q "(\$DOCQ_MODEL) holds a tokenizer" "$T/err" && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (\"no weights\" in d[\"error\"] and d[\"code\"] < 0))" "$T/out"'
fi
# --show-prompt with a model: the text it read. Without a chat template (stories260K),
# docq's system message, then the packed prompt ending in one "Answer:"; with one,
# the template around them
"$BIN" --db "$T/idx" ask --model "$M" -n 4 --temp 0 --budget 400 --show-prompt "What happens after a crash?" >"$T/sp.out" 2>/dev/null
sed -n '/^--- prompt ---$/,$p' "$T/sp.out" >"$T/sp.txt"
check "--show-prompt with a model opens with docq's system message" 'sed -n 2p "$T/sp.txt" | grep -q "^You answer questions using only the numbered passages"'
check "... and, with no template, asks for the answer once" '[ "$(grep -c "^Answer:" "$T/sp.txt")" -eq 1 ] && [ "$(tail -n 1 "$T/sp.txt")" = "Answer:" ]'
"$BIN" --db "$T/idx" ask --model "$M" -n 4 --temp 0 --budget 400 --chat-template chatml --show-prompt "What happens after a crash?" >"$T/sp.out" 2>/dev/null
check "--show-prompt in ChatML shows the template" 'grep -q "^<|im_start|>system$" "$T/sp.out" && grep -q "^<|im_start|>assistant$" "$T/sp.out"'
out=$("$BIN" --db "$T/idx" --json ask --model "$M" -n 4 --temp 0 --budget 400 --chat-template chatml --show-prompt "What happens after a crash?" 2>/dev/null)
check "--json --show-prompt with a model: \"model_prompt\" in the template around \"prompt\"" \
  'printf "%s" "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(not (d[\"model_prompt\"].startswith(\"<|im_start|>system\") and d[\"prompt\"] in d[\"model_prompt\"]))"'
# -n larger than the model's context leaves room for (stories260K: 2048
# tokens) is a bad command line: exit 2, code -3, the message saying "ask" once
"$BIN" --db "$T/idx" --json ask --model "$M" -n 30000 "What happens after a crash?" >"$T/big.json" 2>"$T/big.err"; rc=$?
check "ask -n beyond the model's context: exit 2 (got $rc)" '[ $rc -eq 2 ]'
check "... --json: code -3, the message naming the context and -n" \
  'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d[\"code\"] == -3 and d[\"error\"].startswith(\"the model\x27s context (2048 tokens)\") and \"lower -n\" in d[\"error\"]))" "$T/big.json"'
check "... stderr: docq ask: the model's context ..., once" \
  'grep -q "^docq ask: the model.s context (2048 tokens) is too small.*(see docq ask --help)$" "$T/big.err" && [ "$(grep -o "ask" "$T/big.err" | wc -l)" -eq 2 ]'
# Ctrl-C while the model writes: the answer so far, then its sources, exit
# 130; under --json the whole record, its stop "interrupted" (a long answer
# at temperature 0.8, so it is still writing when the signal comes)
t0=$(now_ns)
"$BIN" --db "$T/idx" ask --model "$M" -n 100000 --budget 300 --temp 0.8 "What happens after a crash?" >"$T/int.out" 2>"$T/int.err" &
pid=$!
for _ in $(seq 600); do [ -s "$T/int.out" ] && break; sleep 0.05; done
t1=$(now_ns)
sleep 0.5
kill -INT $pid; wait $pid; rc=$?
check "ask interrupted mid-answer exits 130 (got $rc)" '[ $rc -eq 130 ]'
check "... and lists the sources after the partial answer" 'grep -q "^Sources:" "$T/int.out" && grep -q "^  \[1\] " "$T/int.out"'
check "... and says the answer is incomplete" 'grep -q "interrupted; the answer above is incomplete" "$T/int.err"'
# --json prints nothing before the end, so the signal comes after twice the
# time the run above took to start writing (a fixed 1.5 s could land before
# the first token on a loaded CI host under ASan), and at least 1.5 s
"$BIN" --db "$T/idx" ask --json --model "$M" -n 100000 --budget 300 --temp 0.8 "What happens after a crash?" >"$T/int.json" 2>"$T/int.err" &
pid=$!
sleep "$(wait_s 1.5 2 $((t1 - t0)))"
kill -INT $pid; wait $pid; rc=$?
check "ask --json interrupted exits 130 (got $rc)" '[ $rc -eq 130 ]'
check "... with the record: the partial answer, passages, stop interrupted" \
  'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d[\"stop\"] == \"interrupted\" and d[\"answer\"] and 0 < d[\"generated_tokens\"] < 100000 and d[\"passages\"]))" "$T/int.json"'
echo "$fails failure(s)"; [ $fails -eq 0 ]
