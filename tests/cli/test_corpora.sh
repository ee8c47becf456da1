#!/usr/bin/env bash
# docq index / search on the real shared corpora (English and Chinese books,
# a documentation tree in two languages): the first run, an unchanged re-run
# that reads nothing, invariants, and searches that must find the right book.
set -u
BIN=${DOCQ_BIN:?}; SH=${DOCQ_SHARED_DIR:-}
C="$SH/data/corpora"
[ -d "$C" ] || { echo "skip: $C not found (set DOCQ_SHARED_DIR)"; exit 77; }
T=$(mktemp -d /tmp/docq-corpora-XXXXXX); trap 'rm -rf "$T"' EXIT
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }
jnum() { printf '%s' "$2" | grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }

out=$("$BIN" --db "$T/idx" index --json "$C"); rc=$?
check "index the shared corpora" '[ $rc -eq 0 ] && [ "$(jnum added "$out")" -gt 200 ]'
out2=$("$BIN" --db "$T/idx" index --json "$C")
check "unchanged re-run adds and reads nothing" '[ "$(jnum added "$out2")" = 0 ] && [ "$(jnum bytes_read "$out2")" = 0 ]'
s1=$(jnum seconds "$out"); s2=$(jnum seconds "$out2")
check "unchanged re-run under 5% of the first ($s2 s vs $s1 s)" 'awk -v a="$s1" -v b="$s2" "BEGIN{exit !(b <= 0.05*a)}"'
"$BIN" --db "$T/idx" status --check >/dev/null; check "invariants" '[ $? -eq 0 ]'
r=$("$BIN" --db "$T/idx" search --json -k 3 "贾宝玉 林黛玉")
check "Chinese names find 红楼梦" 'printf "%s" "$r" | grep -q "红楼梦"'
r=$("$BIN" --db "$T/idx" search --json -k 3 "Captain Ahab white whale")
check "English query finds Moby Dick (pg2701)" 'printf "%s" "$r" | grep -q "pg2701"'
r=$("$BIN" --db "$T/idx" search --json -k 3 "响应式 ref reactive")
check "mixed Chinese/English query finds the Chinese Vue docs" 'printf "%s" "$r" | grep -q "vue_docs_zh"'
r=$("$BIN" --db "$T/idx" search --json -k 3 'NEAR("white whale" -Ahab) AND *')
check "FTS5 operators in a query are words, not syntax" '[ $? -eq 0 ] && printf "%s" "$r" | grep -q "pg2701"'
echo "$fails failure(s)"; [ $fails -eq 0 ]
