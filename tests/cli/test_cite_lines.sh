#!/usr/bin/env bash
# CLI test of docq ask's citations without a model: Sources point at the
# lines of the sentence quoted (counted in the file as written: a passage of
# merged chunks, CRLF line ends, Markdown with markup on the quoted line),
# the passage's whole range where its text is not the file's (HTML); --json
# adds citation_lines beside citations and keeps the passages' ranges.
set -u
BIN=${DOCQ_BIN:-}
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then echo "skip: DOCQ_BIN not set or not executable"; exit 77; fi
if ! command -v python3 >/dev/null; then echo "skip: python3 absent"; exit 77; fi
T=$(mktemp -d /tmp/docq-cite-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok()   { echo "ok   $*"; }
bad()  { echo "FAIL $*"; fails=$((fails+1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

mkdir -p "$T/c"
# 48 lines in paragraphs of 5 lines and a blank one (6, 12, 18, ...): two
# chunks (some 850 tokens), merged into one passage of lines 1-47; the
# answer is lines 40-41, in the second chunk
python3 - "$T/c/log.txt" <<'PY'
import sys
out = []
for line in range(1, 49):
    if line % 6 == 0: out.append("")
    elif line == 40: out.append("In the spring of 1887 the keeper Marta Quill painted the lighthouse")
    elif line == 41: out.append("tower a bright shade of red.")
    else: out.append("Entry %d of the harbour log records routine weather, tide heights and ferry crossings." % line)
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
# CRLF: the answer is line 6
printf 'Tide table\r\n\r\nHigh water comes twice a day.\r\nFerries wait for it.\r\n\r\nThe old beacon on the north pier was lit by the keeper Rosa Vane every night until 1952.\r\n\r\nNothing else happened.\r\n' >"$T/c/tide.txt"
# Markdown: front matter 1-3, the answer on line 11 with a link, emphasis
# and a tag on it, a comment above it (line 10)
cat >"$T/c/towers.md" <<'MD'
---
title: Towers
---

# The granite tower

Some words about harbours and boats.
Boats are moored in rows.

<!-- checked in the city archive -->
The [granite tower](https://example.com/tower) was *built* by the <b>masons of Genoa</b> in 1421.

More about the sea.
MD
# HTML: lines of extracted text are not the file's
cat >"$T/c/bridges.html" <<'HTML'
<html><head><title>Bridges</title></head><body>
<p>Some words.</p>
<p>The iron bridge over the river was
riveted by the workers of Coalbrookdale in 1779.</p>
<p>More words.</p>
</body></html>
HTML
DB="$T/idx"
"$BIN" --db "$DB" index "$T/c" >/dev/null 2>&1
check "index" '[ $? -eq 0 ]'

src() { printf "%s\n" "$1" | sed -n '/^Sources:/,$p' | grep "^  \[1\] "; }
out=$("$BIN" --db "$DB" ask --path "$T/c/log.txt" "Who painted the lighthouse tower red?")
check "text: the quoted sentence's lines 40-41" 'src "$out" | grep -q "log.txt:40-41$"'
js=$("$BIN" --db "$DB" --json ask --path "$T/c/log.txt" "Who painted the lighthouse tower red?")
check "--json: citation_lines of the quote, the passage keeps its range (merged chunks)" 'printf "%s" "$js" | python3 -c "
import json, sys
d = json.load(sys.stdin)
c = d[\"citation_lines\"][0]
p = d[\"passages\"][c[\"label\"] - 1]
assert d[\"citations\"][0] == c[\"label\"], d[\"citations\"]
assert (c[\"line_first\"], c[\"line_last\"], c[\"quoted\"]) == (40, 41, True), c
assert (p[\"line_first\"], p[\"line_last\"]) == (1, 47), p
assert p[\"tokens\"] > 600, p
"'
# the file is two chunks on their own, the answer's not the first
chunks=$("$BIN" --db "$DB" --json search --no-merge --path "$T/c/log.txt" -k 10 "harbour log lighthouse" |
  python3 -c 'import json,sys; print(" ".join("%d-%d" % (h["line_first"], h["line_last"]) for h in sorted(json.load(sys.stdin)["hits"], key=lambda h: h["line_first"])))')
two_chunks() { [ $# -eq 2 ] && [ "${1%-*}" -eq 1 ] && [ "${2%-*}" -gt 1 ] && [ "${2%-*}" -le 40 ]; }
check "log.txt is two chunks, the answer in the second ($chunks)" 'two_chunks $chunks'
out=$("$BIN" --db "$DB" ask --path "$T/c/tide.txt" "Who lit the old beacon on the north pier?")
check "CRLF: line 6" 'src "$out" | grep -q "tide.txt:6-6$"'
out=$("$BIN" --db "$DB" ask --path "$T/c/towers.md" "Who built the granite tower?")
check "Markdown: quoted as rendered" 'printf "%s" "$out" | grep -q "The granite tower (https://example.com/tower) was \*built\* by the masons of Genoa in 1421. \[1\]"'
check "Markdown: line 11, not the comment's" 'src "$out" | grep -q "towers.md:11-11$"'
js=$("$BIN" --db "$DB" --json ask --path "$T/c/bridges.html" "Who riveted the iron bridge over the river?")
check "HTML: the passage's whole range, quoted false" 'printf "%s" "$js" | python3 -c "
import json, sys
d = json.load(sys.stdin)
assert d[\"found\"], d
c = d[\"citation_lines\"][0]
p = d[\"passages\"][c[\"label\"] - 1]
assert not c[\"quoted\"] and (c[\"line_first\"], c[\"line_last\"]) == (p[\"line_first\"], p[\"line_last\"]), (c, p)
"'
out=$("$BIN" --db "$DB" ask --path "$T/c/bridges.html" "Who riveted the iron bridge over the river?")
lines=$(printf "%s" "$js" | python3 -c 'import json,sys; p=json.load(sys.stdin)["passages"][0]; print("%d-%d" % (p["line_first"], p["line_last"]))')
check "HTML: Sources show the passage's range" 'src "$out" | grep -q "bridges.html:$lines$"'

# a file changed since it was indexed: its lines may have moved, and the
# source says so (a new paragraph above the answer; the size differs)
printf 'Tide table\r\n\r\nA new first paragraph.\r\n\r\nHigh water comes twice a day.\r\nFerries wait for it.\r\n\r\nThe old beacon on the north pier was lit by the keeper Rosa Vane every night until 1952.\r\n\r\nNothing else happened.\r\n' >"$T/c/tide.txt"
out=$("$BIN" --db "$DB" ask --path "$T/c/tide.txt" "Who lit the old beacon on the north pier?")
check "changed file: the source says so" 'src "$out" | grep -q "tide.txt:6-6 (the file changed since it was indexed: these lines may have moved; run docq index)$"'
out=$("$BIN" --db "$DB" ask --path "$T/c/towers.md" "Who built the granite tower?")
check "... an unchanged one does not" 'src "$out" | grep -q "towers.md:11-11$"'

if [ $fails -eq 0 ]; then echo "all passed"; exit 0; else echo "$fails failed"; exit 1; fi
