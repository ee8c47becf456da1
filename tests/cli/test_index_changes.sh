#!/usr/bin/env bash
# CLI test of what `docq index` does with files that change between runs in
# ways other than an edit: a folder it cannot read (kept), a file that turns
# binary or too large (removed, saying so), a file excluded by .docqignore or
# replaced by a folder (removed, saying so), names with any bytes, edits in
# the same second, renames (the title follows the name), FIFOs, Ctrl-C.
set -u
BIN=${DOCQ_BIN:?DOCQ_BIN not set}
T=$(mktemp -d /tmp/docq-chg-XXXXXX)
chmod 755 "$T"
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
fails=0
ok()   { echo "ok   $*"; }
bad()  { echo "FAIL $*"; fails=$((fails+1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
jnum() { # jnum KEY JSON -> number value of "KEY":N
  printf '%s' "$2" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
ndocs() { jnum documents "$("$BIN" --db "$1" status --json)"; }

# A folder that cannot be read keeps its documents (it is skipped, named,
# counted), like a file that cannot be read. Permissions bind only a user
# who is not root: as root the run is made as nobody.
AS=()
if [ "$(id -u)" = 0 ]; then
  if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    AS=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
  else
    AS=(skip)
  fi
fi
if [ "${AS[0]:-}" = skip ]; then
  echo "skip unreadable-folder checks: running as root without setpriv"
else
  U="$T/unread"; mkdir -p "$U/c/locked"
  echo 'secret plans about the harbour' > "$U/c/locked/x.md"
  echo 'private memo' > "$U/c/memo.md"
  echo 'open notes' > "$U/c/open.md"
  [ "${#AS[@]}" -gt 0 ] && chown -R nobody "$U"
  "${AS[@]}" "$BIN" --db "$U/db" index "$U/c" >/dev/null 2>&1
  chmod 000 "$U/c/locked" "$U/c/memo.md"
  out=$("${AS[@]}" "$BIN" --db "$U/db" index --json "$U/c" 2>/dev/null); rc=$?
  err=$("${AS[@]}" "$BIN" --db "$U/db" index "$U/c" 2>&1 >/dev/null)
  chmod 755 "$U/c/locked"; chmod 644 "$U/c/memo.md"
  check "unreadable folder: run exits 0" '[ $rc -eq 0 ]'
  check "... nothing removed" '[ "$(jnum removed "$out")" = 0 ]'
  check "... the folder and the file counted as skipped" '[ "$(jnum skipped "$out")" = 2 ]'
  check "... and named" 'printf "%s" "$err" | grep -q "skipped: .*/c/locked: permission denied"'
  check "... its document is still found" '"$BIN" --db "$U/db" search harbour -k 1 | grep -q "locked/x.md"'
  check "... all 3 documents kept" '[ "$(ndocs "$U/db")" = 3 ]'
  rm -rf "$U/c/locked"
  out=$("${AS[@]}" "$BIN" --db "$U/db" index --json "$U/c" 2>/dev/null)
  check "... once the folder is gone, its document is removed" '[ "$(jnum removed "$out")" = 1 ] && [ "$(ndocs "$U/db")" = 2 ]'
fi

# A file that turns binary, or grows over the size limit, no longer holds the
# indexed text: its document is removed and the skip says so.
B="$T/bin"; mkdir -p "$B/c"
printf '# Secret\n\nThe password is swordfish.\n' > "$B/c/a.md"
printf 'Tall giraffes graze.\n' > "$B/c/big.txt"
printf 'other\n' > "$B/c/b.md"
"$BIN" --db "$B/db" index "$B/c" >/dev/null 2>&1
head -c 5000 /dev/urandom > "$B/c/a.md"
err=$("$BIN" --db "$B/db" index "$B/c" 2>&1 >/dev/null); rc=$?
check "file turned binary: exits 0" '[ $rc -eq 0 ]'
check "... its old text is no longer found" '! "$BIN" --db "$B/db" search swordfish --mode bm25 -k 1 | grep -q "a.md"'
check "... the skip says the earlier version was removed" 'printf "%s" "$err" | grep -q "a.md: binary file; its earlier version was removed from the index"'
head -c 3000 /dev/zero | tr '\0' 'x' > "$B/c/big.txt"
out=$("$BIN" --db "$B/db" index --json --max-size 0.001 "$B/c" 2>/dev/null)
check "file grown over --max-size: removed" '[ "$(jnum removed "$out")" = 1 ] && ! "$BIN" --db "$B/db" search giraffes --mode bm25 -k 1 | grep -q "big.txt"'

# Files excluded by a new .docqignore, and a file replaced by a folder, are
# removed on the next run, and the run says why.
X="$T/excl"; mkdir -p "$X/c/private"
echo 'salary of bob is 100k' > "$X/c/private/pay.md"
echo 'public notes' > "$X/c/pub.md"
echo 'old content kumquat' > "$X/c/a.md"
"$BIN" --db "$X/db" index "$X/c" >/dev/null 2>&1
echo 'private/' > "$X/c/.docqignore"
rm "$X/c/a.md"; mkdir "$X/c/a.md"; echo 'inner text' > "$X/c/a.md/x.md"
out=$("$BIN" --db "$X/db" index --json "$X/c" 2>/dev/null)
check "newly ignored file and file replaced by a folder: 2 removed" '[ "$(jnum removed "$out")" = 2 ]'
check "... the ignored one is no longer found" '! "$BIN" --db "$X/db" search salary --mode bm25 -k 1 | grep -q "pay.md"'
check "... nor the old file" '! "$BIN" --db "$X/db" search kumquat --mode bm25 -k 1 | grep -q "a.md"'
check "... the folder's file is indexed" '"$BIN" --db "$X/db" search inner --mode bm25 -k 1 | grep -q "a.md/x.md"'
echo 'private/' > "$X/c/.docqignore"; echo 'salary again' > "$X/c/private/pay2.md"
"$BIN" --db "$X/db" index "$X/c" >/dev/null 2>&1
rm "$X/c/.docqignore"
"$BIN" --db "$X/db" index "$X/c" >/dev/null 2>&1
echo 'private/' > "$X/c/.docqignore"
err=$("$BIN" --db "$X/db" index "$X/c" 2>&1 >/dev/null)
check "... the removal of an excluded file is said, with the reason" 'printf "%s" "$err" | grep -q "removed: .*private/pay2.md: excluded now"'

# Edits within one second, of the same size, are seen: nanosecond mtimes
# are compared, and a file written too close to its reading (its stamp could
# repeat within the clock's tick) is hashed again by the next run.
S="$T/same"; mkdir -p "$S/c"
printf 'alpha apple\n' > "$S/c/a.md"; touch -d '2026-01-01 00:00:00.100' "$S/c/a.md"
"$BIN" --db "$S/db" index "$S/c" >/dev/null 2>&1
printf 'bravo berry\n' > "$S/c/a.md"; touch -d '2026-01-01 00:00:00.900' "$S/c/a.md"
out=$("$BIN" --db "$S/db" index --json "$S/c" 2>/dev/null)
check "same-second, same-size edit: updated" '[ "$(jnum updated "$out")" = 1 ]'
check "... the new text is found" '"$BIN" --db "$S/db" search berry --mode bm25 -k 1 | grep -q "bravo berry"'
now=$(date +%s)
printf 'cedar cherry\n' > "$S/c/a.md"; touch -d "@$now" "$S/c/a.md"
"$BIN" --db "$S/db" index "$S/c" >/dev/null 2>&1
printf 'delta damson\n' > "$S/c/a.md"; touch -d "@$now" "$S/c/a.md"   # the very same stamp
out=$("$BIN" --db "$S/db" index --json "$S/c" 2>/dev/null)
check "same-stamp edit right after a run: updated" '[ "$(jnum updated "$out")" = 1 ]'
check "... the new text is found" '"$BIN" --db "$S/db" search damson --mode bm25 -k 1 | grep -q "delta damson"'
out=$("$BIN" --db "$S/db" index --json "$S/c" 2>/dev/null)
check "... and then it is unchanged" '[ "$(jnum unchanged "$out")" = 1 ] && [ "$(jnum updated "$out")" = 0 ]'

# An index made before nanoseconds were stored (no docs.mtime_ns) still
# searches, and a run adds the column without re-indexing anything.
if python3 -c 'import sqlite3; assert sqlite3.sqlite_version_info >= (3, 35)' 2>/dev/null; then
  python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("ALTER TABLE docs DROP COLUMN mtime_ns"); c.commit()' "$S/db/docq.sqlite"
  check "older index: search works" '"$BIN" --db "$S/db" search damson --mode bm25 -k 1 | grep -q "delta damson"'
  out=$("$BIN" --db "$S/db" index --json "$S/c" 2>/dev/null); rc=$?
  check "... index runs on it, nothing re-indexed" '[ $rc -eq 0 ] && [ "$(jnum unchanged "$out")" = 1 ]'
  "$BIN" --db "$S/db" status --check >/dev/null 2>&1; check "... and it checks ok" '[ $? -eq 0 ]'
fi

# A rename takes what the new name gives, as a fresh index would: the title
# from the file name (the old name's words no longer match), the format from
# the extension.
R="$T/ren"; mkdir -p "$R/c"
printf 'meeting notes about the budget.\n' > "$R/c/draft-zeppelin.txt"
printf '# Project Plan\n\nSee [the spec](http://example.com/spec) for **details**.\n' > "$R/c/plan.txt"
"$BIN" --db "$R/db" index "$R/c" >/dev/null 2>&1
mv "$R/c/draft-zeppelin.txt" "$R/c/final-budget-review.txt"
mv "$R/c/plan.txt" "$R/c/plan.md"
out=$("$BIN" --db "$R/db" index --json "$R/c" 2>/dev/null)
check "rename: 1 renamed (not re-embedded), the format change re-indexed" '[ "$(jnum renamed "$out")" = 1 ] && [ "$(jnum added "$out")" = 1 ] && [ "$(jnum removed "$out")" = 1 ]'
check "... the old name's word no longer matches" '! "$BIN" --db "$R/db" search zeppelin --mode bm25 -k 1 | grep -q "final-budget-review"'
check "... the title is the new name" '"$BIN" --db "$R/db" --json search budget --mode bm25 -k 1 | grep -q "\"title\":\"final-budget-review\""'
check "... the .md is Markdown now" '"$BIN" --db "$R/db" --json search details --mode bm25 -k 1 | grep -q "\"format\":\"markdown\""'
"$BIN" --db "$R/db" status --check >/dev/null 2>&1; check "... and the index checks ok" '[ $? -eq 0 ]'

echo "$fails failure(s)"
[ $fails -eq 0 ]
