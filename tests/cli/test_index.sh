#!/usr/bin/env bash
# CLI integration test of docq index / status / rm on samples/ and edge cases:
# unchanged re-run, edit, rename, delete, skipped files with reasons,
# .docqignore, the writer lock, --json, --help, exit codes, Ctrl-C, a full disk,
# questions in other processes while an index is built.
set -u
BIN=${DOCQ_BIN:?DOCQ_BIN not set}
SRC=${DOCQ_SOURCE_DIR:?DOCQ_SOURCE_DIR not set}
T=$(mktemp -d /tmp/docq-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok()   { echo "ok   $*"; }
bad()  { echo "FAIL $*"; fails=$((fails+1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
jnum() { # jnum KEY JSON -> number value of "KEY":N
  printf '%s' "$2" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }

cp -r "$SRC/samples/corpus" "$T/corpus"
DB="$T/idx"

# --help and --version
for c in "" index status rm search ask; do
  "$BIN" $c --help >/dev/null 2>&1; check "--help ${c:-docq} exits 0" '[ $? -eq 0 ]'
done
# every command's help states its exit codes
for c in index status rm search ask eval generate tokenize bench embed "model info"; do
  out=$("$BIN" $c --help 2>&1); rc=$?
  check "$c --help exits 0 and states its exit codes" '[ $rc -eq 0 ] && printf "%s" "$out" | grep -q "^Exit codes: 0 ok"'
done
"$BIN" --version | grep -q '^docq ' ; check "--version" '[ $? -eq 0 ]'
"$BIN" frobnicate >/dev/null 2>&1; check "unknown command exits 2" '[ $? -eq 2 ]'
err=$("$BIN" help frobnicate 2>&1 >/dev/null); rc=$?
check "help of an unknown command: exit 2 naming it (it printed the main help, exit 0)" '[ $rc -eq 2 ] && printf "%s" "$err" | grep -q "unknown command .frobnicate."'
"$BIN" help search | grep -q "^usage: docq search"; check "help search is search --help" '[ $? -eq 0 ]'
(cd "$T" && DOCQ_DB= "$BIN" status >/dev/null 2>&1); check "status without index exits 3" '[ $? -eq 3 ]'

# first run
out=$("$BIN" --db "$DB" index --json "$T/corpus"); rc=$?
check "first index exits 0" '[ $rc -eq 0 ]'
check "first index adds 12 documents" '[ "$(jnum added "$out")" = 12 ]'
st=$("$BIN" --db "$DB" status --json)
check "status reports 12 documents" '[ "$(jnum documents "$st")" = 12 ]'
check "chunks == vectors" '[ "$(jnum chunks "$st")" = "$(jnum vectors "$st")" ]'
"$BIN" --db "$DB" status --check >/dev/null; check "status --check passes" '[ $? -eq 0 ]'

# unchanged re-run
out=$("$BIN" --db "$DB" index --json "$T/corpus")
check "re-run: 12 unchanged" '[ "$(jnum unchanged "$out")" = 12 ]'
check "re-run: 0 added" '[ "$(jnum added "$out")" = 0 ]'

# edit, rename, delete
echo "An added paragraph about lighthouses." >> "$T/corpus/notes/bread.md"
mv "$T/corpus/notes/garden.md" "$T/corpus/notes/garden-renamed.md"
rm "$T/corpus/web/changelog.htm"
out=$("$BIN" --db "$DB" index --json "$T/corpus")
check "edit -> 1 updated" '[ "$(jnum updated "$out")" = 1 ]'
check "rename -> 1 renamed" '[ "$(jnum renamed "$out")" = 1 ]'
check "delete -> 1 removed" '[ "$(jnum removed "$out")" = 1 ]'
check "rename not re-embedded (0 added)" '[ "$(jnum added "$out")" = 0 ]'
"$BIN" --db "$DB" status --check >/dev/null; check "invariants after changes" '[ $? -eq 0 ]'

# skipped files with reasons, the run goes on
head -c 4096 /dev/urandom > "$T/corpus/blob.bin"
printf 'caf\xe9 au lait, invalid \xff\xfe bytes\n' > "$T/corpus/latin1.txt"
ln -s "$T/nowhere" "$T/corpus/broken-link.md"
mkdir -p "$T/corpus/.hidden" "$T/corpus/node_modules" "$T/corpus/drafts"
echo "hidden text" > "$T/corpus/.hidden/a.md"
echo "module text" > "$T/corpus/node_modules/b.md"
echo "draft text" > "$T/corpus/drafts/c.md"
echo "drafts/" > "$T/corpus/.docqignore"
out=$("$BIN" --db "$DB" index --json "$T/corpus" 2>"$T/err"); rc=$?
check "run with bad files exits 0" '[ $rc -eq 0 ]'
check "binary skipped with reason" 'printf "%s" "$out" | grep -q "blob.bin.*binary"'
check "broken link skipped" 'printf "%s" "$out" | grep -q "broken-link.md"'
check "invalid UTF-8 repaired and indexed" '[ "$(jnum repaired "$out")" = 1 ]'
check "hidden, node_modules, .docqignore not indexed (only latin1.txt added)" '[ "$(jnum added "$out")" = 1 ]'
# --json says what happened to each: skipped files in "skips" (as many as
# "skipped"), repaired ones (indexed) in "repairs"; reasons alone, one format
jq_py() { printf '%s' "$out" | python3 -c "import json, sys; j = json.load(sys.stdin); $1"; }
check "--json: skips holds exactly the skipped files" \
  '[ "$(jq_py "print(len(j[\"skips\"]) == j[\"skipped\"] == 2)")" = True ]'
check "--json: the repaired file is in repairs, not in skips" \
  '[ "$(jq_py "print([f[\"path\"].endswith(\"latin1.txt\") for f in j[\"repairs\"]] == [True] and not any(f[\"path\"].endswith(\"latin1.txt\") for f in j[\"skips\"]))")" = True ]'
check "--json: reasons without the path or \"skipped:\" (binary file, broken symbolic link)" \
  '[ "$(jq_py "print(sorted(f[\"reason\"] for f in j[\"skips\"]) == [\"binary file\", \"broken symbolic link\"])")" = True ]'
"$BIN" index --help | grep -q '"repairs"'; check "index --help documents the JSON fields" '[ $? -eq 0 ]'
# a failure with --json: the record still ("ok": false, "error", "code"),
# also when the index cannot be opened or the command line is bad, and the
# message on stderr as well, as every command gives it (isrec OUT CODE)
isrec() { python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read()); sys.exit(not (d["ok"] is False and d["added"] == 0 and d["skips"] == [] and d["error"] and d["code"] == int(sys.argv[2])))' "$1" "$2"; }
"$BIN" --db "$DB" --json index "$T/nonexist" >"$T/jf.out" 2>"$T/jf.err"; rc=$?
check "--json on a missing path: exit 1, the record with ok false, the message on stderr" \
  '[ $rc -eq 1 ] && isrec "$T/jf.out" -7 && grep -q "^docq index: .*nonexist" "$T/jf.err"'
# one missing path among several: said to be an argument that does not
# exist; a new index folder is not created for a run that cannot start
"$BIN" --db "$T/newidx" index "$T/corpus" "$T/nonexist" "$T/corpus" >/dev/null 2>"$T/nx.err"; rc=$?
check "a missing argument (new index): exit 1, naming it as the argument, no index folder made" \
  '[ $rc -eq 1 ] && grep -q "^docq index: the argument .*/nonexist does not exist (No such file or directory); nothing was indexed$" "$T/nx.err" && [ ! -e "$T/newidx" ]'
"$BIN" --db "$DB" index "$T/corpus" "$T/nonexist" >/dev/null 2>"$T/nx.err"; rc=$?
check "... and with an existing index" '[ $rc -eq 1 ] && grep -q "^docq index: the argument .*/nonexist does not exist" "$T/nx.err"'
mkdir -p "$T/damaged" && head -c 8192 /dev/urandom > "$T/damaged/docq.sqlite"
"$BIN" --db "$T/damaged" --json index "$T/corpus" >"$T/jf.out" 2>"$T/jf.err"; rc=$?
check "--json on a damaged index: exit 3 and the record with ok false" '[ $rc -eq 3 ] && isrec "$T/jf.out" -5 && [ -s "$T/jf.err" ]'
"$BIN" --db "$DB" --json index --bogus >"$T/jf.out" 2>"$T/jf.err"; rc=$?
check "--json with a bad option: exit 2 and the record with ok false" '[ $rc -eq 2 ] && isrec "$T/jf.out" -3 && [ -s "$T/jf.err" ]'
out=$("$BIN" --db "$DB" index "$T/corpus" 2>&1 >/dev/null)
check "human output names the skipped binary" 'printf "%s" "$out" | grep -q "skipped:.*blob.bin"'

# size limit
head -c 3000 /dev/zero | tr '\0' 'x' > "$T/corpus/big.txt"
# a chunk overlap not smaller than the chunk: refused, naming both, before any file
"$BIN" --db "$T/ovl" index --quiet --chunk-tokens 10 --chunk-overlap 50 "$T/corpus" >/dev/null 2>"$T/ovl.err"; rc=$?
check "chunk overlap >= chunk size is refused (exit 1)" '[ $rc -eq 1 ]'
check "... saying which" 'grep -qF "chunk overlap (50 tokens) must be smaller than the chunk size (10 tokens)" "$T/ovl.err"'
out=$("$BIN" --db "$DB" index --json --max-size 0.001 "$T/corpus/big.txt")
check "too large skipped" 'printf "%s" "$out" | grep -q "too large"'
"$BIN" --db "$DB" index --max-size 0.001 "$T/corpus/big.txt" >/dev/null 2>"$T/big.err"
check "... and the run says how to take it" 'grep -q "too large" "$T/big.err" && grep -qF "docq index --max-size MB" "$T/big.err"'

# --max-size 0 (or a size under a byte) is refused, saying what it takes: it
# meant the default 64 MiB; nothing is created
for v in 0 0.0000001; do
  "$BIN" --db "$T/ms0" index --max-size $v "$T/corpus" >/dev/null 2>"$T/ms0.err"; rc=$?
  check "--max-size $v: exit 2 (got $rc), naming the range, no index made" \
    '[ $rc -eq 2 ] && grep -qF -- "--max-size wants a number of MB above 0 (at most 1048576" "$T/ms0.err" && [ ! -e "$T/ms0" ]'
done

# --max-size on an index made with an overlap leaves the chunking alone (it
# set the overlap to 0 too, and the run was refused as a change of chunking)
"$BIN" --db "$T/ms-ovl" index --quiet --chunk-overlap 20 "$T/corpus" >/dev/null 2>&1
"$BIN" --db "$T/ms-ovl" index --quiet --max-size 5 "$T/corpus" >/dev/null 2>"$T/ms-ovl.err"; rc=$?
check "--max-size keeps an index's chunk overlap" '[ $rc -eq 0 ] && ! grep -q "built with chunks" "$T/ms-ovl.err"'

# the index folder given as the folder to index: refused before anything is
# written there (it made docq.sqlite among the documents, then skipped them all)
mkdir -p "$T/self" && echo "self note" > "$T/self/a.txt"
"$BIN" --db "$T/self" index "$T/self/" >/dev/null 2>"$T/self.err"; rc=$?
check "index folder = the folder indexed: exit 2, nothing written" '[ $rc -eq 2 ] && grep -q "index folder is" "$T/self.err" && [ ! -e "$T/self/docq.sqlite" ]'

# rm
"$BIN" --db "$DB" rm "$T/corpus/notes/bread.md" >/dev/null; check "rm a document" '[ $? -eq 0 ]'
"$BIN" --db "$DB" rm "$T/corpus/notes/bread.md" >/dev/null 2>&1; check "rm again fails with 1" '[ $? -eq 1 ]'
"$BIN" --db "$DB" rm "$T/corpus/zh" >/dev/null; check "rm a folder" '[ $? -eq 0 ]'
"$BIN" --db "$DB" status --check >/dev/null; check "invariants after rm" '[ $? -eq 0 ]'

# a second writer is refused with exit 4 and a clear message. This shell
# holds the lock for as long as docq runs, however slow the host: flock locks
# belong to an open file, so docq's own open of write.lock conflicts.
if command -v flock >/dev/null; then
  exec 7>>"$DB/write.lock"
  flock 7
  "$BIN" --db "$DB" index "$T/corpus" >/dev/null 2>"$T/busy" 7>&-; rc=$?
  flock -u 7; exec 7>&-
  check "second indexer exits 4" '[ $rc -eq 4 ]'
  check "busy message names the index" 'grep -q "idx" "$T/busy"'
  check "... and is the one line printed (no counts of a run that did not start)" '[ "$(wc -l < "$T/busy")" -eq 1 ]'
fi

# .docq discovery from a subfolder
mkdir -p "$T/proj/sub"
cp "$T/corpus/manual/glossary.md" "$T/proj/"
(cd "$T/proj" && DOCQ_DB= "$BIN" index --quiet . >/dev/null); check "index creates ./.docq" '[ -d "$T/proj/.docq" ]'
(cd "$T/proj/sub" && DOCQ_DB= "$BIN" status --json | grep -q '"documents":1'); check "status finds .docq in a parent" '[ $? -eq 0 ]'

# a GGUF embedding model: recorded, refused over other vectors, --reembed switches
BERT="${DOCQ_SHARED_DIR:-}/models/tiny-bert-f32.gguf"
if [ -f "$BERT" ]; then
  E="$T/emb"
  "$BIN" --db "$E" index --quiet "$T/corpus/manual" >/dev/null
  "$BIN" --db "$E" index --embed-model "$BERT" "$T/corpus/manual" >/dev/null 2>"$T/mix"; rc=$?
  check "other embedder over existing vectors refused (exit 1)" '[ $rc -eq 1 ] && grep -q -- "--reembed" "$T/mix"'
  "$BIN" --db "$E" index --reembed --embed-model "$BERT" "$T/corpus/manual" >/dev/null 2>&1; rc=$?
  check "--reembed switches the embedder" '[ $rc -eq 0 ] && "$BIN" --db "$E" status --json | grep -q "\"embedder\":\"gguf:"'
  "$BIN" --db "$E" status --check >/dev/null; check "invariants after reembed" '[ $? -eq 0 ]'
  "$BIN" --db "$E" search "crash" -k 1 >/dev/null; check "search uses the recorded model" '[ $? -eq 0 ]'
  # the model chosen with the chunk size of a new index (it recorded chunks of 0 tokens, then refused the size)
  "$BIN" --db "$T/emb-chunk" index --quiet --embed-model "$BERT" --chunk-tokens 200 "$T/corpus/manual" >/dev/null 2>"$T/emb-chunk.err"; rc=$?
  check "--embed-model with --chunk-tokens on a new index" '[ $rc -eq 0 ] && "$BIN" --db "$T/emb-chunk" status --json | grep -q "\"chunk_tokens\":200"'
  # the model file gone: what needs it says which file and why, and what to
  # do (it said only "not found", and nothing at all worked on the index:
  # not status, not the re-encoding its own message advised)
  cp "$BERT" "$T/moved-bert.gguf"
  "$BIN" --db "$T/emb-moved" index --quiet --embed-model "$T/moved-bert.gguf" "$T/corpus/manual" >/dev/null
  rm "$T/moved-bert.gguf"
  "$BIN" --db "$T/emb-moved" index --quiet "$T/corpus/manual" >/dev/null 2>"$T/moved"; rc=$?
  check "an index whose model is gone: index fails naming the model file and the way out" \
    '[ $rc -eq 1 ] && grep -q "moved-bert.gguf, which cannot be loaded" "$T/moved" && grep -q -- "--reembed --embed-model" "$T/moved"'
  "$BIN" --db "$T/emb-moved" status >/dev/null 2>&1; check "... status still works" '[ $? -eq 0 ]'
  "$BIN" --db "$T/emb-moved" search crash --mode bm25 -k 1 2>/dev/null | grep -q "crash"
  check "... a keyword search still works" '[ $? -eq 0 ]'
  "$BIN" --db "$T/emb-moved" index --quiet --reembed --builtin-embedder "$T/corpus/manual" >/dev/null 2>&1; rc=$?
  check "... and re-encoding with another embedder brings it back" \
    '[ $rc -eq 0 ] && "$BIN" --db "$T/emb-moved" search crash -k 1 >/dev/null 2>&1'
  # the model file changed under the index: the same way out (its advice, --reembed, failed to open the index)
  cp "$BERT" "$T/changed-bert.gguf"
  "$BIN" --db "$T/emb-changed" index --quiet --embed-model "$T/changed-bert.gguf" "$T/corpus/manual" >/dev/null
  cp "${BERT%f32.gguf}f16.gguf" "$T/changed-bert.gguf"
  "$BIN" --db "$T/emb-changed" index --quiet --reembed --embed-model "$T/changed-bert.gguf" "$T/corpus/manual" >/dev/null 2>&1
  check "an index whose model file changed: --reembed with the new file works" \
    '[ $? -eq 0 ] && "$BIN" --db "$T/emb-changed" search crash -k 1 >/dev/null 2>&1'
else
  echo "skip embed-model checks: $BERT not found"
fi

# Ctrl-C half-way: exit 130 with what to do, the committed documents kept and
# consistent, and the next run finishes only what is left. 40 files of 1 MB
# take seconds to index (longer under sanitizers); the signal comes 0.5 s
# after the index file appears.
C="$T/big"; mkdir -p "$C"
for i in $(seq 1 40); do
  awk -v f="$i" 'BEGIN { for (l = 1; l <= 9000; l++) printf "File %d line %d: the keeper logged ship %d and wind %d.\n", f, l, l * f, l % 97 }' > "$C/log$i.txt"
done
"$BIN" --db "$T/big-idx" index "$C" >/dev/null 2>"$T/int-err" &
pid=$!
# once the index exists (a loaded host may take longer to get there)
for _ in $(seq 200); do [ -f "$T/big-idx/docq.sqlite" ] && break; sleep 0.05; done
sleep 0.5
kill -INT $pid
wait $pid; rc=$?
check "Ctrl-C exits 130" '[ $rc -eq 130 ]'
check "... says everything committed is kept, once" '[ "$(grep -c "interrupted" "$T/int-err")" -eq 1 ] && grep -q "run it again" "$T/int-err"'
"$BIN" --db "$T/big-idx" status --check >/dev/null 2>&1
check "... the index is consistent" '[ $? -eq 0 ]'
kept=$(jnum documents "$("$BIN" --db "$T/big-idx" status --json)")
out=$("$BIN" --db "$T/big-idx" index "$C" --json 2>/dev/null)
check "... the next run keeps the $kept committed files and adds the rest" '[ "$(jnum unchanged "$out")" = "$kept" ] && [ $(( $(jnum added "$out") + kept )) -eq 40 ]'

# Questions while an index is built (users.md: re-indexing must not block
# them): `search` and `ask` in another process, again and again while
# `index` runs on the same folder, all succeed once the index exists.
"$BIN" --db "$T/live-idx" index "$C" >/dev/null 2>"$T/live-err" &
pid=$!
while kill -0 $pid 2>/dev/null && [ ! -f "$T/live-idx/docq.sqlite" ]; do sleep 0.05; done
rounds=0; failed=0
while kill -0 $pid 2>/dev/null || [ $rounds -lt 2 ]; do
  "$BIN" --db "$T/live-idx" search "keeper logged ship wind" -k 3 >/dev/null 2>>"$T/live-q" || failed=$((failed+1))
  "$BIN" --db "$T/live-idx" ask "What did the keeper log?" >/dev/null 2>>"$T/live-q" || failed=$((failed+1))
  rounds=$((rounds+1))
done
wait $pid; rc=$?
check "search and ask beside a running index: none of $rounds rounds failed ($failed did)" '[ $rc -eq 0 ] && [ $failed -eq 0 ]'
[ $failed -eq 0 ] || grep -v "did not fit" "$T/live-q" | head -3

# `status --check` beside a running index reads one snapshot: checked
# statement by statement, a commit in between made the full text and the
# chunks disagree, "corrupt" about half the time. 900 small files, the first
# 300 indexed before; checks run in another process until the writer ends.
K="$T/chk"; mkdir -p "$K/c"
for i in $(seq 1 900); do
  awk -v f="$i" 'BEGIN { for (l = 1; l <= 12; l++) printf "Note %d, line %d: the tide rose %d cm by the pier %d.\n\n", f, l, l * f, f % 13 }' > "$K/c/n$i.md"
  [ $i -eq 300 ] && "$BIN" --db "$K/idx" index "$K/c" >/dev/null 2>&1
done
"$BIN" --db "$K/idx" index "$K/c" >/dev/null 2>"$K/err" &
pid=$!
rounds=0; failed=0
while kill -0 $pid 2>/dev/null || [ $rounds -lt 2 ]; do
  "$BIN" --db "$K/idx" status --check >/dev/null 2>>"$K/chk-err" || failed=$((failed+1))
  rounds=$((rounds+1))
done
wait $pid; rc=$?
check "status --check beside a running index: none of $rounds checks failed ($failed did)" '[ $rc -eq 0 ] && [ $failed -eq 0 ]'
[ $failed -eq 0 ] || head -3 "$K/chk-err"

# A file deleted since it was indexed, named again by a relative path:
# `index` says how to remove it, and `rm` with that same relative path does.
G="$T/gone"; mkdir -p "$G/c"
echo "Tea is brewed at eighty degrees." > "$G/c/tea.txt"
echo "Coffee beans are roasted dark." > "$G/c/coffee.txt"
"$BIN" --db "$G/idx" index "$G/c" >/dev/null 2>&1
rm "$G/c/tea.txt"
(cd "$G/c" && "$BIN" --db "$G/idx" index tea.txt >/dev/null 2>"$G/err"); rc=$?
check "index of a deleted file: exit 1 and how to remove it" '[ $rc -eq 1 ] && grep -q "tea.txt: No such file or directory, but it is still in the index; .docq rm .*/c/tea.txt. removes it" "$G/err"'
out=$(cd "$G/c" && "$BIN" --db "$G/idx" rm tea.txt 2>&1); rc=$?
check "rm of a deleted file by its relative path" '[ $rc -eq 0 ] && printf "%s" "$out" | grep -q "removed 1 document"'
check "... the other document stays" '[ "$(jnum documents "$("$BIN" --db "$G/idx" status --json)")" = 1 ]'

# A full disk: a 400 KiB tmpfs (the samples' index needs about 570 KiB) in a
# private mount namespace, where the system allows one without root. The run
# stops at the file that did not fit, names it and says what to do; what was
# committed stays and is consistent; with room, the next run finishes. Then
# the same mount read-only: search and ask still read the index.
if unshare -rm true 2>/dev/null; then
  FD="$T/fulldisk"; mkdir -p "$FD/mnt"
  cp -r "$SRC/samples/corpus" "$FD/corpus"
  unshare -rm bash -c '
    mount -t tmpfs -o size=400k none "$1/mnt" || exit 99
    "$2" --db "$1/mnt/idx" index "$1/corpus" >/dev/null 2>"$1/err"; echo $? > "$1/rc1"
    "$2" --db "$1/mnt/idx" status --check >/dev/null 2>&1; echo $? > "$1/rc-check"
    "$2" --db "$1/mnt/idx" status --json > "$1/st1" 2>/dev/null
    mount -o remount,size=16m "$1/mnt"
    "$2" --db "$1/mnt/idx" index "$1/corpus" --json > "$1/out2" 2>/dev/null; echo $? > "$1/rc2"
    "$2" --db "$1/mnt/idx" status --check >/dev/null 2>&1; echo $? > "$1/rc-check2"
    "$2" --db "$1/mnt/idx" index "$1/corpus" --quiet >/dev/null 2>&1 # a writer last: no -wal/-shm left
    mount -o remount,ro "$1/mnt"
    "$2" --db "$1/mnt/idx" index "$1/corpus" >/dev/null 2>"$1/err-ro"; echo $? > "$1/rc-ro"
    "$2" --db "$1/mnt/idx" search "compost heap" -k 1 > "$1/search-ro" 2>&1; echo $? > "$1/rc-search-ro"
    "$2" --db "$1/mnt/idx" ask "How often should the compost heap be turned?" > "$1/ask-ro" 2>&1; echo $? > "$1/rc-ask-ro"
  ' _ "$FD" "$BIN"
  if [ $? -eq 99 ]; then
    echo "skip full-disk checks: cannot mount a tmpfs here"
  else
    kept=$(jnum documents "$(cat "$FD/st1")")
    check "full disk: index exits 1" '[ "$(cat "$FD/rc1")" = 1 ]'
    check "... names the file it stopped at and the full disk" 'grep -q "corpus/.*: not stored: no space left on the disk holding the index" "$FD/err"'
    check "... says what is kept and what to do" 'grep -q "everything committed before this is kept; free some space" "$FD/err"'
    check "... no raw FAISS or SQLite wording" '! grep -q -e "Error in" -e "database or disk is full" -e "disk I/O error" "$FD/err"'
    check "... the index is consistent" '[ "$(cat "$FD/rc-check")" = 0 ]'
    check "... some files were committed before it filled ($kept)" '[ "${kept:-0}" -gt 0 ] && [ "$kept" -lt 12 ]'
    out=$(cat "$FD/out2")
    check "... with room, the next run keeps them and adds the rest" '[ "$(cat "$FD/rc2")" = 0 ] && [ "$(jnum unchanged "$out")" = "$kept" ] && [ $(( $(jnum added "$out") + kept )) -eq 12 ]'
    check "... and the index is consistent" '[ "$(cat "$FD/rc-check2")" = 0 ]'
    # the same index on a read-only file system: indexing says why it cannot, reading works
    check "read-only index: index exits 3 and says it cannot write there" '[ "$(cat "$FD/rc-ro")" = 3 ] && grep -q "cannot be written (Read-only file system)" "$FD/err-ro"'
    check "... search still reads it" '[ "$(cat "$FD/rc-search-ro")" = 0 ] && grep -q "garden.md" "$FD/search-ro"'
    check "... ask still answers from it" '[ "$(cat "$FD/rc-ask-ro")" = 0 ] && grep -q "garden.md" "$FD/ask-ro"'
  fi
else
  echo "skip full-disk checks: no unprivileged mount namespaces (unshare -rm)"
fi

# A damaged index file (its schema page overwritten): every command says the
# index is damaged, that the documents are not, and how to rebuild it;
# nothing raw from SQLite alone, and the exit code of an index it cannot open.
"$BIN" --db "$T/dmg" index "$T/corpus" --quiet >/dev/null 2>&1
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(100); f.write(b"\xff" * 3996)' "$T/dmg/docq.sqlite"
for c in "search compost" "ask compost" "status" "index"; do
  set -- $c
  if [ "$1" = index ]; then set -- index "$T/corpus"; fi
  "$BIN" --db "$T/dmg" "$@" >/dev/null 2>"$T/dmg-err"; rc=$?
  check "damaged index: $1 exits 3 (got $rc)" '[ $rc -eq 3 ]'
  check "... and says it is damaged, the documents are not, and to rebuild it" \
    'grep -q "index .*dmg is damaged" "$T/dmg-err" && grep -q "your documents are not affected" "$T/dmg-err" && grep -q "delete the folder .*dmg and run \`docq index\` again" "$T/dmg-err"'
done

# Damage that opening does not meet (the chunks table's root page, read by a
# query): search and ask find it while reading, and exit 3 all the same, with
# the same message (they exited 1)
"$BIN" --db "$T/dmq" index "$T/corpus" --quiet >/dev/null 2>&1
python3 -c 'import sqlite3, sys
p = sys.argv[1] + "/docq.sqlite"
c = sqlite3.connect(p); page = c.execute("select rootpage from sqlite_master where name = \"chunks\"").fetchone()[0]
size = c.execute("pragma page_size").fetchone()[0]; c.close()
f = open(p, "r+b"); f.seek((page - 1) * size); f.write(b"\xff" * size)' "$T/dmq"
for c in search ask; do
  "$BIN" --db "$T/dmq" $c compost >/dev/null 2>"$T/dmq-err"; rc=$?
  check "damaged while read: $c exits 3 (got $rc)" '[ $rc -eq 3 ]'
  check "... and says it is damaged and to rebuild it" \
    'grep -q "index .*dmq is damaged" "$T/dmq-err" && grep -q "delete the folder .*dmq and run \`docq index\` again" "$T/dmq-err"'
  "$BIN" --db "$T/dmq" --json $c compost >"$T/dmq-out" 2>/dev/null; rc=$?
  check "... --json: exit 3, code -5" '[ $rc -eq 3 ] && grep -q "\"code\":-5}" "$T/dmq-out"'
done

echo "$fails failure(s)"
[ $fails -eq 0 ]
