#!/usr/bin/env bash
# CLI integration test of docq index --watch, from its --help: after the first
# run it keeps watching the paths and indexes what changes (new, edited,
# deleted, renamed files; a folder made later) until Ctrl-C (exit 130);
# questions work meanwhile; one line or --json record per run that changed
# something. Also: other writers get the index between runs (the lock is not
# held while waiting); editors' swap files and the index's own folder inside
# the watched tree start no runs. Waits poll with a deadline, so a slow machine
# is slower, not failing.
set -u
BIN=${DOCQ_BIN:?DOCQ_BIN not set}
[ "$(uname -s)" = Linux ] || { echo "skipped: --watch needs Linux (inotify)"; exit 77; }
T=$(mktemp -d /tmp/docq-watch-XXXXXX)
WPID=
trap '[ -n "$WPID" ] && kill -9 $WPID 2>/dev/null; rm -rf "$T"' EXIT
fails=0
ok()   { echo "ok   $*"; }
bad()  { echo "FAIL $*"; fails=$((fails+1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
# until CMD: run CMD every 0.1 s until it succeeds, for at most 15 s
until_ok() { local i; for i in $(seq 150); do eval "$1" && return 0; sleep 0.1; done; return 1; }
found() { "$BIN" --db "$DB" search -k 3 "$1" 2>/dev/null | grep -q "$2"; }
records() { local n; n=$(grep -c '"ok":' "$T/out.json" 2>/dev/null); echo "${n:-0}"; }

"$BIN" --db "$T/none" index --watch >/dev/null 2>&1
check "--watch without a path: exit 2" '[ $? -eq 2 ]'
"$BIN" index --help | grep -q -- "--watch"
check "index --help documents --watch" '[ $? -eq 0 ]'

mkdir -p "$T/docs/notes" "$T/docs/empty"
printf '# Harbor\n\nThe harbor crane lifts containers at dawn.\n' >"$T/docs/notes/harbor.md"
DB="$T/db"
"$BIN" --db "$DB" --json index --watch "$T/docs" >"$T/out.json" 2>"$T/err.txt" &
WPID=$!
until_ok '[ "$(records)" -ge 1 ]'
check "the first run's record comes at once" '[ "$(records)" -ge 1 ] && grep -q "\"added\":1" "$T/out.json"'
until_ok 'grep -q "watching" "$T/err.txt"' # the watches are set once this is said
check "says it is watching" 'grep -q "watching 3 folders" "$T/err.txt"'

printf 'Zebras graze near the lighthouse every evening.\n' >"$T/docs/zebra.txt"
until_ok 'found zebras zebra.txt'
check "a new file is indexed" 'found zebras zebra.txt'
check "its run has a record with added 1" 'grep -q "\"added\":1,\"updated\":0,\"unchanged\":1" "$T/out.json"'

printf 'Zebras were replaced by okapis near the lighthouse.\n' >"$T/docs/zebra.txt"
until_ok 'found okapis zebra.txt'
check "an edited file is indexed again" 'found okapis zebra.txt && grep -q "\"updated\":1" "$T/out.json"'

mkdir -p "$T/docs/later/deeper"
sleep 1.5 # the run for the new folders is over: only watching them can see the file below
printf 'Quokkas smile at tourists on the island.\n' >"$T/docs/later/deeper/quokka.txt"
until_ok 'found quokkas quokka.txt'
check "a file in a folder made while watching is indexed" 'found quokkas quokka.txt'

mv "$T/docs/zebra.txt" "$T/docs/notes/okapi.txt"
until_ok 'found okapis okapi.txt'
check "a renamed file is found under its new path" 'found okapis notes/okapi.txt && ! found okapis zebra.txt'
check "its run has a record with renamed 1" 'grep -q "\"renamed\":1" "$T/out.json"'

rm "$T/docs/later/deeper/quokka.txt"
until_ok '! found quokkas quokka.txt'
check "a deleted file leaves the index" '! found quokkas quokka.txt && grep -q "\"removed\":1" "$T/out.json"'

"$BIN" --db "$DB" ask "what lifts containers at dawn" >"$T/ask.txt" 2>&1
check "a question is answered while watching" '[ $? -eq 0 ] && grep -q "harbor" "$T/ask.txt"'
"$BIN" --db "$DB" rm "$T/docs/notes/harbor.md" >/dev/null 2>&1
check "another process writes the index between runs (rm exits 0)" '[ $? -eq 0 ]'

kill -INT $WPID
wait $WPID
rc=$?
WPID=
check "Ctrl-C stops it with exit 130" '[ $rc -eq 130 ]'
check "and says it stopped" 'grep -q "stopped watching" "$T/err.txt"'
check "every record is one JSON line with ok true" '! grep -v "^{\"ok\":true," "$T/out.json" | grep -q .'

# text mode, with its index inside the watched tree: a line with the time per
# run that changed something; --verbose lists each file of each run, so a run
# started by the index's own writes or by editors' swap files would show
DB2="$T/docs/idx"
"$BIN" --db "$DB2" --verbose index --watch "$T/docs" >"$T/out.txt" 2>"$T/err2.txt" &
WPID=$!
until_ok 'grep -q "watching" "$T/err2.txt"'
runs() { grep -c "^unchanged " "$T/err2.txt"; }
sleep 2.5
n=$(runs)
check "its own index's writes start no run" '[ "$n" = 0 ]'
printf 'x' >"$T/docs/.harbor.md.swp"
printf 'x' >"$T/docs/notes/.okapi.txt.swp"
sleep 2.5
check "editors' swap files (hidden) start no run" '[ "$(runs)" = 0 ]'
printf 'Walruses nap on ice floes.\n' >"$T/docs/walrus.txt"
until_ok 'grep -q "^\[[0-9:]*\] 1 added" "$T/out.txt"'
check "text mode: a timed line for the run" 'grep -q "^\[[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\] 1 added" "$T/out.txt"'
r1=$(runs)
sleep 2.5
check "text mode: that run's own writes to the index start no other run ($r1 -> $(runs) lines)" '[ "$r1" -ge 1 ] && [ "$(runs)" = "$r1" ]'
printf 'walrus.txt\n' >"$T/docs/.docqignore"
until_ok '! "$BIN" --db "$DB2" search -k 3 walruses 2>/dev/null | grep -q walrus.txt'
check "a new .docqignore takes its files out" '! "$BIN" --db "$DB2" search -k 3 walruses 2>/dev/null | grep -q walrus.txt'
kill -INT $WPID
wait $WPID
rc=$?
WPID=
check "text mode: exit 130" '[ $rc -eq 130 ]'

# folders moved, renamed and deleted under a watch; --verbose lists keep.txt
# in every run, so runs3 counts the runs
D3="$T/tree" DB="$T/db3"
mkdir -p "$D3/proj/sub" "$T/away"
printf 'kept\n' >"$D3/keep.txt"
printf 'Gannets dive for fish.\n' >"$D3/proj/sub/gannet.txt"
"$BIN" --db "$DB" --verbose index --watch "$D3" >"$T/out3.txt" 2>"$T/err3.txt" &
WPID=$!
until_ok 'grep -q "watching" "$T/err3.txt"'
runs3() { grep -c "keep.txt" "$T/err3.txt"; }
mv "$D3/proj" "$D3/renamed"
until_ok 'found gannets renamed/sub/gannet.txt'
sleep 1
printf 'Puffins nest on cliffs.\n' >"$D3/renamed/puffin.txt"
until_ok 'found puffins renamed/puffin.txt'
check "a file new in a folder renamed while watching is indexed" 'found puffins renamed/puffin.txt'
mv "$D3/renamed" "$T/away/renamed"
until_ok '! found gannets gannet.txt'
sleep 1.5
r=$(runs3)
printf 'more\n' >>"$T/away/renamed/sub/gannet.txt"
printf 'new\n' >"$T/away/renamed/sub/new.txt"
sleep 1.5
check "a folder moved out of the tree starts no run when edited there ($r -> $(runs3) runs)" '[ "$(runs3)" = "$r" ]'
rm -rf "$D3"
until_ok 'grep -q "tree is gone" "$T/err3.txt"'
check "a root folder gone is said, and its documents are kept" 'grep -q "tree is gone; its documents are kept" "$T/err3.txt" && found kept keep.txt'
sleep 1
mkdir -p "$D3"
printf 'Ospreys carry trout.\n' >"$D3/osprey.txt"
until_ok 'found ospreys osprey.txt'
check "the root folder deleted and made again is watched again" 'found ospreys osprey.txt && grep -q "tree is back" "$T/err3.txt"'
mv "$D3" "$T/away/tree"
sleep 1.5
mkdir -p "$D3"
printf 'Terns migrate far.\n' >"$D3/tern.txt"
until_ok 'found terns tern.txt'
check "the root folder moved away and made again is watched again" 'found terns tern.txt'
# more events than the kernel queues while the watcher is stopped: the
# folder made then is in the lost events, and must be watched all the same
q=$(cat /proc/sys/fs/inotify/max_queued_events 2>/dev/null || echo 0)
if [ "$q" -gt 0 ] && [ "$q" -le 100000 ]; then
  mkdir -p "$D3/flood"
  sleep 1.5
  lines3() { grep -c '^\[' "$T/out3.txt"; }
  r=$(lines3)
  kill -STOP $WPID
  (cd "$D3/flood" && seq -f 'f%.0f.txt' $((q / 2 + 100)) | xargs touch)
  mkdir "$D3/made-in-overflow"
  kill -CONT $WPID
  until_ok '[ "$(lines3)" -gt "$r" ]' # the run of the flood: the watcher has read the overflow
  sleep 1
  printf 'Cormorants dry their wings.\n' >"$D3/made-in-overflow/cormorant.txt"
  until_ok 'found cormorants cormorant.txt'
  check "a folder made while the event queue overflowed is watched" 'found cormorants cormorant.txt'
else
  echo "skipped: the overflow check (max_queued_events $q)"
fi
kill -INT $WPID
wait $WPID
WPID=

# a file given, through a symbolic link: the run indexes its target, whose
# edits must be seen; the other files and folders beside it start no run
F="$T/files" DB="$T/db4"
mkdir -p "$F/real" "$F/links"
printf 'Albatrosses glide.\n' >"$F/real/bird.txt"
ln -s "$F/real/bird.txt" "$F/links/bird.txt"
printf 'x\n' >"$F/links/other.txt"
"$BIN" --db "$DB" --verbose index --watch "$F/links/bird.txt" >"$T/out4.txt" 2>"$T/err4.txt" &
WPID=$!
until_ok 'grep -q "watching" "$T/err4.txt"'
printf 'Albatrosses glide for hours over kelp.\n' >"$F/real/bird.txt"
until_ok 'found kelp bird.txt'
check "a file given through a symbolic link: its edits are indexed" 'found kelp bird.txt'
sleep 1.5
r=$(grep -c "bird.txt" "$T/err4.txt")
printf 'y\n' >>"$F/links/other.txt"
printf 'y\n' >"$F/real/beside.txt"
mkdir "$F/real/sub"
sleep 0.7
printf 'z\n' >"$F/real/sub/z.txt"
sleep 1.5
check "the files and folders beside a file given start no run ($r -> $(grep -c bird.txt "$T/err4.txt"))" '[ "$(grep -c bird.txt "$T/err4.txt")" = "$r" ]'
kill -INT $WPID
wait $WPID
WPID=

# a folder the user may not read, made readable while watching: watched from
# then on (as root, the watcher runs as nobody, which needs setpriv)
P="$T/perm" DB="$T/perm/db"
AS=
if [ "$(id -u)" = 0 ]; then
  if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    AS="setpriv --reuid=$(id -u nobody) --regid=$(id -g nobody) --clear-groups"
  else
    AS=skip
  fi
fi
if [ "$AS" = skip ]; then
  echo "skipped: the unreadable folder check (root without setpriv or nobody)"
else
  mkdir -p "$P/docs/locked"
  printf 'Pelicans scoop fish.\n' >"$P/docs/pelican.txt"
  chmod 711 "$T"
  [ -n "$AS" ] && chown -R nobody "$P"
  chmod 000 "$P/docs/locked"
  $AS "$BIN" --db "$DB" index --watch "$P/docs" >"$T/out5.txt" 2>"$T/err5.txt" &
  WPID=$!
  found5() { $AS "$BIN" --db "$DB" search -k 3 "$1" 2>/dev/null | grep -q "$2"; }
  until_ok 'grep -q "watching" "$T/err5.txt"'
  chmod 755 "$P/docs/locked"
  sleep 1.5
  $AS sh -c "printf 'Flamingos stand on one leg.\n' >'$P/docs/locked/flamingo.txt'"
  until_ok 'found5 flamingos flamingo.txt'
  check "a folder made readable while watching is watched" 'found5 flamingos flamingo.txt'
  kill -INT $WPID
  wait $WPID
  WPID=
fi

# two roots, one gone: the other is still indexed
mkdir -p "$T/r1" "$T/r2"
printf 'Herons wait.\n' >"$T/r2/heron.txt"
"$BIN" --db "$T/db6" index --watch "$T/r1" "$T/r2" >"$T/out6.txt" 2>"$T/err6.txt" &
WPID=$!
until_ok 'grep -q "watching" "$T/err6.txt"'
rm -rf "$T/r2"
until_ok 'grep -q "r2 is gone" "$T/err6.txt"'
printf 'Storks return in spring.\n' >"$T/r1/stork.txt"
until_ok '"$BIN" --db "$T/db6" search -k 3 storks 2>/dev/null | grep -q stork.txt'
check "with one of two roots gone, the other is still indexed" '"$BIN" --db "$T/db6" search -k 3 storks 2>/dev/null | grep -q stork.txt'
check "and the gone root's documents are kept" '"$BIN" --db "$T/db6" search -k 3 herons 2>/dev/null | grep -q heron.txt'
kill -INT $WPID
wait $WPID
WPID=

[ $fails -eq 0 ] || { echo "--- out.txt"; cat "$T/out.txt"; echo "--- err2.txt"; cat "$T/err2.txt"; echo "--- err3.txt"; cat "$T/err3.txt"; }
echo "$fails failed"
[ $fails -eq 0 ]
