#!/usr/bin/env bash
# CLI tests for docq generate --chat: a conversation, one message per line of
# standard input, on the shared stories260K model (no chat template: the
# plain format). What a turn must be is checked against docq_chat_format's
# text run through plain `docq generate`, and reuse / dropping through the
# --json fields.
set -u
BIN=${DOCQ_BIN:-docq}
S=${DOCQ_SHARED_DIR:-}
if [ -z "$S" ] || [ ! -f "$S/models/stories260K.gguf" ]; then
  echo "DOCQ_SHARED_DIR not set or without models/: skipping" >&2
  exit 77
fi
M="$S/models/stories260K.gguf"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "FAIL - $1: expected [$3] got [$2]"; fail=1; fi; }
contains() { case "$2" in *"$3"*) echo "ok - $1";; *) echo "FAIL - $1: [$3] not in output"; fail=1;; esac; }
# field F of JSON line N (1-based) of file $3
field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[3]).read().splitlines()[int(sys.argv[2])-1])[sys.argv[1]])' "$1" "$2" "$3"; }

# One message: the answer is the plain format's completion. The plain format
# (engine/chat.h) is "SYS\n\nQuestion: USER\nAnswer:"; without a system
# message "Question: USER\nAnswer:".
one=$("$BIN" generate --model "$M" --chat "Where did the cat go?" -n 24 --temp 0 -t 1)
plain=$("$BIN" generate --model "$M" "$(printf 'Question: Where did the cat go?\nAnswer:')" -n 24 --temp 0 -t 1)
check "one message: the completion of the plain chat format" "$one" "${plain#"$(printf 'Question: Where did the cat go?\nAnswer:')"}"

# A conversation from standard input, --json: one object per turn; a blank
# line is no message; each turn carries the whole conversation.
printf 'Once upon a time\n\nThen the dog came\n' |
  "$BIN" generate --model "$M" --chat --system "Tell a story." -n 16 --temp 0 -t 1 --json > "$T/two.jsonl"
check "exit 0 at the end of input" "$?" "0"
check "two messages, two turns" "$(wc -l < "$T/two.jsonl" | tr -d ' ')" "2"
check "the first turn's user text" "$(field user 1 "$T/two.jsonl")" "Once upon a time"
check "the second turn's user text" "$(field user 2 "$T/two.jsonl")" "Then the dog came"
a1=$(field text 1 "$T/two.jsonl")
check "the first answer starts with a space (the history must trim it)" "${a1:0:1}" " "
# the second prompt is the first exchange (answer trimmed) plus the new message
a1t=$(printf '%s' "$a1" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
p2=$(printf 'Tell a story.\n\nQuestion: Once upon a time\nAnswer: %s\n\nQuestion: Then the dog came\nAnswer:' "$a1t")
want=$("$BIN" generate --model "$M" "$p2" -n 16 --temp 0 -t 1 --json |
  python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["text"]); print(o["prompt_tokens"])')
got=$(printf '%s\n%s' "$(field text 2 "$T/two.jsonl")" "$(field prompt_tokens 2 "$T/two.jsonl")")
check "the second turn answers the whole conversation, as that prompt would" "$got" "$want"

# Reuse: with batches of 16 the second turn keeps the whole batches the first
# read, and answers as when it is read whole (one batch of the default 128).
printf 'The cat sat on the mat and looked at the big red ball\nThen the dog came\n' |
  "$BIN" generate --model "$M" --chat -n 16 --temp 0 -t 1 --json -b 16 > "$T/reuse.jsonl"
r1=$(field reused_tokens 1 "$T/reuse.jsonl"); r2=$(field reused_tokens 2 "$T/reuse.jsonl")
check "the first turn keeps nothing" "$r1" "0"
check "the second turn keeps whole batches of the first" "$(( r2 > 0 && r2 % 16 == 0 ))" "1"
printf 'The cat sat on the mat and looked at the big red ball\nThen the dog came\n' |
  "$BIN" generate --model "$M" --chat -n 16 --temp 0 -t 1 --json > "$T/whole.jsonl"
check "reused or read whole, the same answer" "$(field text 2 "$T/reuse.jsonl")" "$(field text 2 "$T/whole.jsonl")"

long="Once upon a time there was a little girl who liked to play in the park with her friends every day"
# Without -b, --chat reads in batches of 128 (the unit reuse keeps).
printf '%s %s %s %s %s\nhi\n' "$long" "$long" "$long" "$long" "$long" |
  "$BIN" generate --model "$M" --chat -n 8 --temp 0 -t 1 --json > "$T/b128.jsonl"
p1=$(field prompt_tokens 1 "$T/b128.jsonl"); r2=$(field reused_tokens 2 "$T/b128.jsonl")
check "--chat keeps whole batches of 128 by default" "$(( p1 > 129 && r2 > 0 && r2 % 128 == 0 && r2 <= p1 ))" "1"

# A conversation longer than the context: the oldest turns are dropped and it goes on.
printf '%s\n%s\n%s\n' "$long" "$long" "$long" |
  "$BIN" generate --model "$M" --chat --system "Tell a story." -n 16 --temp 0 -t 1 -c 96 --json > "$T/drop.jsonl" 2> "$T/drop.err"
check "exit 0 when old turns are dropped" "$?" "0"
check "three turns" "$(wc -l < "$T/drop.jsonl" | tr -d ' ')" "3"
check "the first turn drops nothing" "$(field dropped_messages 1 "$T/drop.jsonl")" "0"
check "the third turn drops a user message and its answer" "$(field dropped_messages 3 "$T/drop.jsonl")" "2"
check "and still fits the context with its answer" "$(( $(field prompt_tokens 3 "$T/drop.jsonl") + 16 <= 96 ))" "1"
printf '%s\n%s\n%s\n' "$long" "$long" "$long" |
  "$BIN" generate --model "$M" --chat -n 16 --temp 0 -t 1 -c 96 > /dev/null 2> "$T/drop.err"
contains "the drop is said on stderr" "$(cat "$T/drop.err")" "dropped its oldest 2 messages"
# stdout and stderr to one pipe: the previous answer's line ends before the note
printf '%s\n%s\n%s\n' "$long" "$long" "$long" |
  "$BIN" generate --model "$M" --chat -n 16 --temp 0 -t 1 -c 96 > "$T/drop.both" 2>&1
check "... on a line of its own (both drops)" "$(grep -c '^docq generate: the conversation outgrew' "$T/drop.both")" "2"

# Turns are dropped as pairs: here dropping the long first message alone
# would make room, but its answer goes with it (an answer to nothing would
# open the conversation).
printf '%s %s\nhi\nyo\n' "$long" "$long" |
  "$BIN" generate --model "$M" --chat -n 8 --temp 0 -t 1 -c 120 --json > "$T/pair.jsonl"
check "a message is dropped with its answer" "$(field dropped_messages 3 "$T/pair.jsonl")" "2"

# A message that does not fit even alone: exit 1, saying what to do.
"$BIN" generate --model "$M" --chat "$long $long $long" -n 16 -c 32 > /dev/null 2> "$T/err"
check "a message longer than the context exits 1" "$?" "1"
contains "and says to give a longer context" "$(cat "$T/err")" "-c N"

# Usage errors.
"$BIN" generate --model "$M" --chat --chat-template nope "hi" > /dev/null 2> "$T/err"
check "an unknown --chat-template is a usage error" "$?" "2"
contains "naming the known ones" "$(cat "$T/err")" "chatml"
"$BIN" generate --model "$M" --system "x" "hi" > /dev/null 2>&1
check "--system without --chat is a usage error" "$?" "2"
"$BIN" generate --help | grep -q -- "--chat"
check "generate --help documents --chat" "$?" "0"

# A named template: the ChatML markers are plain text in this vocabulary,
# but the prompt is the template's.
printf 'hello\n' | "$BIN" generate --model "$M" --chat --chat-template chatml -n 4 --temp 0 --json > "$T/cm.jsonl"
want=$("$BIN" tokenize --model "$M" --special $'<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n' | wc -w)
check "--chat-template chatml: the prompt is ChatML's" "$(field prompt_tokens 1 "$T/cm.jsonl")" "$(echo $want)"

# A template that opens a think block (deepseek-r1): this model never closes
# it, so everything it writes is thinking, kept out of the answer.
printf 'hello\n' | "$BIN" generate --model "$M" --chat --chat-template deepseek-r1 -n 16 --temp 0 --json > "$T/think.jsonl"
check "a thinking model's unfinished thinking is no answer" "$(field text 1 "$T/think.jsonl")" ""
reasoning=$(field reasoning 1 "$T/think.jsonl")
check "and is given as reasoning" "$([ -n "$reasoning" ] && echo yes)" "yes"
printf 'hello\n' | "$BIN" generate --model "$M" --chat --chat-template deepseek-r1 -n 16 --temp 0 --show-thinking \
  > "$T/think.out" 2> "$T/think.err"
check "--show-thinking: nothing of it on stdout" "$(tr -d '\n' < "$T/think.out")" ""
contains "--show-thinking: the thinking on stderr" "$(cat "$T/think.err")" "$reasoning"
contains "a note says there is no answer yet" "$(cat "$T/think.err")" "still thinking after 16 tokens"

# A line holding a NUL byte is refused as -f refuses such text (it was cut at
# the NUL and answered): the turns before it are answered, then exit 1 with
# an error object naming the line and offset (--json)
printf 'Where did the cat go?\nHello\0World\nAnd the dog?\n' |
  "$BIN" generate --model "$M" --chat --json -n 4 --temp 0 -t 1 >"$T/nul.out" 2>"$T/nul.err"
check "a NUL byte in a chat line: exit 1" "$?" "1"
check "... after the turn before it, with the error object" \
  "$(python3 -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1])]; print(len(l), l[0]["user"], l[1]["code"], l[1]["error"])' "$T/nul.out")" \
  "2 Where did the cat go? -3 line 2 of standard input is not text (a NUL byte at offset 5)"
contains "... said on stderr too" "$(cat "$T/nul.err")" "docq generate: line 2 of standard input is not text (a NUL byte at offset 5)"

# On a terminal (script(1) gives one) the thinking shows as a line saying
# for how long, cleared before the answer; stdin here is still a pipe.
if command -v script >/dev/null; then
  script -qc "printf 'hello\\n' | '$BIN' generate --model '$M' --chat --chat-template deepseek-r1 -n 16 --temp 0" \
    /dev/null > "$T/tty" 2>&1
  contains "on a terminal: a line while it thinks" "$(cat -v "$T/tty")" "thinking: "
  contains "... cleared at the end" "$(cat -v "$T/tty")" "^M^[[K"
else
  echo "skip: no script(1) for the terminal checks"
fi

# At a terminal (a pseudo-terminal from python's pty), Ctrl-C stops the
# answer, not the conversation: "(stopped)", then the next question is
# answered; a message longer than the context is refused with a message,
# and the conversation goes on; Ctrl-D at the prompt ends it with 0.
# Ctrl-C is sent as soon as the answer has begun (up to 2000 tokens, so it
# is still running).
cat > "$T/term_chat.py" <<'PY'
import os, pty, select, sys, time
binp, model = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(binp, [binp, "generate", "--model", model, "--chat", "-n", "3000", "-c", "2048", "--temp", "0", "-t", "1"])
out = b""
def read_until(pred, limit=30.0):
    global out
    end = time.time() + limit
    while time.time() < end and not pred():
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
def answering(line):  # the echoed line and some 40 bytes of answer after it
    i = out.rfind(line)
    return i >= 0 and len(out) > i + len(line) + 40
for line in (b"Tell me a story", b"And another one"):
    read_until(lambda: out.endswith(b"> "))
    os.write(fd, line + b"\n")
    read_until(lambda: answering(line))
    os.write(fd, b"\x03")
read_until(lambda: out.count(b"(stopped)") == 2 and out.endswith(b"> "))
# 1300 of a character this vocabulary spells in 3 byte tokens: 3900 tokens,
# more than the context of 2048, in less than a terminal line's 4096 bytes
os.write(fd, "\u9f98".encode() * 1300 + b"\n")
read_until(lambda: b"more than the context" in out and out.endswith(b"> "))
os.write(fd, b"\x04")
read_until(lambda: False, 3.0)
_, status = os.waitpid(pid, 0)
print(out.count(b"(stopped)"), out.count(b"more than the context"), os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1)
PY
check "at a terminal Ctrl-C stops each answer, a message too long is refused, and the conversation goes on; Ctrl-D ends it" \
  "$(python3 "$T/term_chat.py" "$BIN" "$S/models/tiny-qwen2-q8_0.gguf")" "2 1 0"

# SIGBUS (a model file cut short while mapped: a read past its new end) is
# a message naming the model and exit 1, not a crash. The fault itself is
# timing-dependent, so the signal is sent by hand while --chat waits for input.
# It comes once docq sleeps in its read of standard input (state S in
# /proc/PID/stat after the exec), not after a fixed second: a loaded CI host
# under ASan may take longer to load the model.
bus_run() { # bus_run OUT ARGS...: generate --chat ARGS, sent SIGBUS while it waits; rc in $rc
  local out=$1; shift
  rm -f "$T/bus.in"; mkfifo "$T/bus.in"
  "$BIN" generate --model "$M" --chat "$@" -n 4 < "$T/bus.in" > "$out" 2> "$T/bus.err" &
  local pid=$!
  exec 5> "$T/bus.in" # a writer that stays open: docq waits for a line
  for _ in $(seq 300); do
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v "$BIN")")" ] &&
       [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" = S ]; then break; fi
    sleep 0.05
  done
  sleep 0.2
  kill -BUS "$pid"
  wait "$pid"
  rc=$?
  exec 5>&-
}
bus_run /dev/null
check "SIGBUS exits 1" "$rc" "1"
contains "naming the model file and what happened" "$(cat "$T/bus.err")" "$M: a file read in place was cut short"

# With --json the same failure is the usual error object on stdout, and the
# message comes once (pool threads faulting together interleaved it).
bus_run "$T/bus.out" --json
check "SIGBUS with --json exits 1" "$rc" "1"
check "SIGBUS with --json: one error object with code DOCQ_EIO naming the model" \
  "$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print(o["code"], sys.argv[2] in o["error"])' "$T/bus.out" "$M")" "-4 True"
check "SIGBUS: the message once" "$(grep -c 'cut short' "$T/bus.err")" "1"

exit $fail
