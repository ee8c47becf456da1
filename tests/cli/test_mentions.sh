#!/usr/bin/env bash
# CLI test of `docq search --files QUERY`: which documents mention a query.
# A small hand-written corpus (Markdown with front matter, text files, one
# Chinese file); every expected number is counted from these files by
# construction (a .txt of one sentence is one passage, a Markdown section is
# one passage; no queried word is in a title, file name, tag or front matter):
#   "lighthouse keeper" in one passage: coast/watch.md 3 (North, South, East),
#     coast/dune.md 2 (Morning, Evening), coast/harbor.md 1 (Quay), cove.txt 1;
#     split.md has the words in two passages, solo.txt only "lighthouse".
#   "walrus": many/big.md 3, many/n01..n12.txt 1 each: 13 documents, 15 passages.
# Order: most passages first, then path (strcmp); watch.md is last of coast/
# by path but first by count.
# Text output: "N documents mention QUERY (M passages)", then a line per
# document (passages, path, title); -k N: N lines and "... and K more".
set -u
BIN=${DOCQ_BIN:?DOCQ_BIN not set}
T=$(mktemp -d /tmp/docq-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok()   { echo "ok   $*"; }
bad()  { echo "FAIL $*"; fails=$((fails+1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

S="$T/src"
DB="$T/idx"
mkdir -p "$S/coast" "$S/many"
cat > "$S/coast/watch.md" <<'EOF'
---
title: Beacon log
tags: [coast]
date: 2020-05-01
---
## North

The lighthouse keeper and his dog climbed the north stairs.

## South

A keeper of the old lighthouse did not paint the south wall.

## West

Nobody lives on the west cliff.

## East

The lighthouse keeper sleeps near the east door.
EOF
cat > "$S/coast/dune.md" <<'EOF'
---
title: Sand diary
date: 2023-03-01
---
## Morning

A lighthouse keeper walked over the dunes.

## Evening

The keeper lit the lighthouse lamp at dusk.

## Night

Stars above the lighthouse.
EOF
cat > "$S/coast/harbor.md" <<'EOF'
---
title: Zephyr wharf
tags: [coast, port]
date: 2021-07-15
---
## Quay

The lighthouse keeper counted boats.

## Market

Fish were sold under the lighthouse.
EOF
echo "Every lighthouse keeper knows the tide tables." > "$S/cove.txt"
touch -d '2022-01-01 12:00:00 UTC' "$S/cove.txt"
printf '## Tower\n\nThe lighthouse was white.\n\n## Hut\n\nThe keeper was asleep.\n' > "$S/split.md"
echo "The lighthouse stood empty." > "$S/solo.txt"
echo "Crash recovery is automatic." > "$S/crash1.md"
echo "Recovery after a crash takes minutes." > "$S/crash2.txt"
echo "数据库崩溃恢复很快。" > "$S/zh1.txt"
echo "恢复崩溃的数据库需要时间。" > "$S/zh2.md"
printf -- '---\ntitle: Tusk tally\n---\n## Part 1\n\nWalrus one.\n\n## Part 2\n\nWalrus two.\n\n## Part 3\n\nWalrus, walrus three.\n' > "$S/many/big.md"
for i in 01 02 03 04 05 06 07 08 09 10 11 12; do echo "A walrus sleeps." > "$S/many/n$i.txt"; done

# no index yet: exit 3
(cd "$T" && DOCQ_DB= "$BIN" search --files lighthouse >/dev/null 2>&1); rc=$?
check "no index found: exit 3" '[ $rc -eq 3 ]'
"$BIN" --db "$T/none" search --files lighthouse >/dev/null 2>&1; rc=$?
check "--db of no index: exit 3" '[ $rc -eq 3 ]'

"$BIN" --db "$DB" index "$S" >/dev/null 2>&1; rc=$?
check "corpus indexed" '[ $rc -eq 0 ]'
st=$("$BIN" --db "$DB" status --json)
check "corpus as built: 23 documents, 32 chunks (the counts below assume this chunking)" \
  'printf "%s" "$st" | grep -q "\"documents\":23," && printf "%s" "$st" | grep -q "\"chunks\":32,"'

files() { "$BIN" --db "$DB" search --files "$@"; }
# line N of $out (1-based), the non-empty lines only
line() { printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | sed -n "${1}p"; }
nlines() { printf '%s\n' "$out" | grep -cv '^[[:space:]]*$'; }
# docline N COUNT PATH TITLE: line N starts with COUNT (then not a digit), holds PATH and TITLE
docline() {
  local l; l=$(line "$1")
  printf '%s' "$l" | grep -Eq "^[[:space:]]*$2([^0-9]|$)" && printf '%s' "$l" | grep -Fq -- "$3" &&
    printf '%s' "$l" | grep -Fq -- "$4"
}
doclines() { printf '%s\n' "$out" | grep -cF "$S/"; }
# a JSON check: pyj 'python expression on j' (j = the parsed --json output)
pyj() { printf '%s' "$out" | python3 -c "import json, sys; j = json.load(sys.stdin); sys.exit(0 if ($1) else 1)" 2>/dev/null; }

# --help documents --files
h=$("$BIN" search --help 2>&1); rc=$?
check "search --help exits 0 and documents --files" '[ $rc -eq 0 ] && printf "%s" "$h" | grep -q -- "--files"'

# the text output: the first line, one line per document, in order
out=$(files "lighthouse keeper"); rc=$?
check "lighthouse keeper: exit 0" '[ $rc -eq 0 ]'
check "lighthouse keeper: first line \"4 documents mention ... (7 passages)\"" \
  'line 1 | grep -Eq "^4 documents mention \"?lighthouse keeper\"? \(7 passages\)$"'
check "lighthouse keeper: 1: 3 passages, watch.md, its title" 'docline 2 3 "$S/coast/watch.md" "Beacon log"'
check "lighthouse keeper: 2: 2 passages, dune.md" 'docline 3 2 "$S/coast/dune.md" "Sand diary"'
check "lighthouse keeper: 3: 1 passage, harbor.md (path order of ties)" 'docline 4 1 "$S/coast/harbor.md" "Zephyr wharf"'
check "lighthouse keeper: 4: 1 passage, cove.txt" 'docline 5 1 "$S/cove.txt" cove'
check "lighthouse keeper: one line per document, nothing else" '[ "$(nlines)" -eq 5 ] && [ "$(doclines)" -eq 4 ]'
check "lighthouse keeper: not split.md (words in two passages) nor solo.txt (one word)" \
  '! printf "%s" "$out" | grep -q "split.md\|solo.txt"'
out=$(files "KEEPERS Lighthouses")
check "stems, case, word order: the same first line" \
  'line 1 | grep -Eq "^4 documents mention .* \(7 passages\)$"'

# singular, and one document with several passages
out=$(files "dog")
check "one document, one passage: \"1 document ... (1 passage)\"" \
  'line 1 | grep -Eq "^1 document .*\(1 passage\)$" && docline 2 1 "$S/coast/watch.md" "Beacon log" && [ "$(nlines)" -eq 2 ]'
out=$(files "lighthouse keeper" --glob "coast/d*.md")
check "one document, two passages: \"1 document ... (2 passages)\"" \
  'line 1 | grep -Eq "^1 document .*\(2 passages\)$" && docline 2 2 "$S/coast/dune.md" "Sand diary"'

# all documents without -k (search shows 10 by default), -k N and "... and K more"
out=$(files walrus); rc=$?
check "walrus: 13 documents, 15 passages" 'line 1 | grep -Eq "^13 documents mention \"?walrus\"? \(15 passages\)$"'
check "walrus: all 13 listed without -k, no \"more\" line" '[ "$(doclines)" -eq 13 ] && [ "$(nlines)" -eq 14 ] && ! printf "%s" "$out" | grep -q "more"'
check "walrus: big.md (3) first, then n01..n12 in path order" \
  'docline 2 3 "$S/many/big.md" "Tusk tally" && docline 3 1 "$S/many/n01.txt" n01 && docline 14 1 "$S/many/n12.txt" n12'
out=$(files walrus -k 10)
check "walrus -k 10: the totals, 10 lines, \"... and 3 more\"" \
  'line 1 | grep -Eq "^13 documents mention .* \(15 passages\)$" && [ "$(doclines)" -eq 10 ] && docline 11 1 "$S/many/n09.txt" n09 && line 12 | grep -Eq "^[[:space:]]*\.\.\. and 3 more$" && [ "$(nlines)" -eq 12 ]'
out=$(files "lighthouse keeper" -k 2)
check "lighthouse keeper -k 2: watch, dune, \"... and 2 more\"" \
  'line 1 | grep -Eq "^4 documents mention .* \(7 passages\)$" && docline 2 3 "$S/coast/watch.md" "Beacon log" && docline 3 2 "$S/coast/dune.md" "Sand diary" && line 4 | grep -Eq "^[[:space:]]*\.\.\. and 2 more$" && [ "$(nlines)" -eq 4 ]'
out=$(files walrus -k 13)
check "walrus -k 13: all, no \"more\" line" '[ "$(doclines)" -eq 13 ] && ! printf "%s" "$out" | grep -q "more"'
out=$(files walrus -k 100)
check "walrus -k 100: all, no \"more\" line" '[ "$(doclines)" -eq 13 ] && ! printf "%s" "$out" | grep -q "more"'

# no document: a line saying so, exit 0
out=$(files zeppelin); rc=$?
check "no document: exit 0" '[ $rc -eq 0 ]'
check "no document: \"no document mentions zeppelin\"" 'line 1 | grep -Eq "^no document mentions \"?zeppelin\"?$" && [ "$(nlines)" -eq 1 ]'
out=$(files "lighthouse zeppelin"); rc=$?
check "all words required: lighthouse zeppelin mentions nothing, exit 0" '[ $rc -eq 0 ] && line 1 | grep -q "^no document mentions"'

# phrases, Chinese, FTS5 syntax as words
out=$(files 'crash recovery')
check "crash recovery: 2 documents" 'line 1 | grep -Eq "^2 documents mention .* \(2 passages\)$"'
out=$(files '"crash recovery"')
check "\"crash recovery\": only crash1.md" 'line 1 | grep -Eq "^1 document .*\(1 passage\)$" && docline 2 1 "$S/crash1.md" crash1'
out=$(files '"recovery crash"'); rc=$?
check "\"recovery crash\": no document, exit 0" '[ $rc -eq 0 ] && line 1 | grep -q "^no document mentions"'
out=$(files '"崩溃恢复"')
check "quoted Chinese run: only zh1.txt" 'line 1 | grep -Eq "^1 document .*\(1 passage\)$" && docline 2 1 "$S/zh1.txt" zh1'
out=$(files '数据库')
check "Chinese word: zh1.txt and zh2.md" 'line 1 | grep -Eq "^2 documents mention .* \(2 passages\)$" && docline 2 1 "$S/zh1.txt" zh1 && docline 3 1 "$S/zh2.md" zh2'
out=$(files 'lighthouse AND keeper'); rc=$?
check "AND is a word: only watch.md's North" '[ $rc -eq 0 ] && line 1 | grep -Eq "^1 document .*\(1 passage\)$" && docline 2 1 "$S/coast/watch.md" "Beacon log"'
out=$(files 'lighthouse NOT keeper'); rc=$?
check "NOT is a word: only watch.md's South" '[ $rc -eq 0 ] && line 1 | grep -Eq "^1 document .*\(1 passage\)$"'
for q in 'NEAR(lighthouse keeper' '(lighthouse) ^keeper*' 'keeper:lighthouse' 'lighthouse" keeper' '{lighthouse -keeper}'; do
  out=$(files "$q" 2>"$T/err"); rc=$?
  check "FTS5 syntax is no syntax: $q" '[ $rc -eq 0 ] && ! [ -s "$T/err" ] && line 1 | grep -Eq "^[0-9]+ documents? mention"'
done
out=$(files 'NEAR(lighthouse keeper'); check "NEAR( is a word: watch.md's East" 'line 1 | grep -Eq "^1 document .*\(1 passage\)$"'
out=$(files '(lighthouse) ^keeper*'); check "punctuation ignored: as lighthouse keeper" 'line 1 | grep -Eq "^4 documents mention .* \(7 passages\)$"'

# cross-check with grep over the files, for words where case folding is all that matters
for w in walrus keeper lighthouse; do
  out=$(files "$w" --json)
  n=$(grep -rilw -- "$w" "$S" | wc -l)
  check "$w: total_documents = grep -rilw's $n" 'pyj "j[\"total_documents\"] == $n"'
done

# --json: keys, totals, documents cut by -k but not the totals
out=$(files "lighthouse keeper" --json); rc=$?
check "--json: exit 0, one object with query, total_documents, total_passages, documents" \
  '[ $rc -eq 0 ] && pyj "set(j) >= {\"query\", \"total_documents\", \"total_passages\", \"documents\"} and j[\"query\"] == \"lighthouse keeper\""'
check "--json: totals 4 and 7" 'pyj "j[\"total_documents\"] == 4 and j[\"total_passages\"] == 7"'
want="[(\"$S/coast/watch.md\", \"Beacon log\", 3), (\"$S/coast/dune.md\", \"Sand diary\", 2), (\"$S/coast/harbor.md\", \"Zephyr wharf\", 1), (\"$S/cove.txt\", \"cove\", 1)]"
check "--json: documents with path, title, passages, in order" \
  'pyj "[(d[\"path\"], d[\"title\"], d[\"passages\"]) for d in j[\"documents\"]] == $want"'
check "--json: total_passages is the sum" 'pyj "sum(d[\"passages\"] for d in j[\"documents\"]) == j[\"total_passages\"]"'
out=$(files "lighthouse keeper" --json -k 1)
check "--json -k 1: one document, the totals still 4 and 7" \
  'pyj "len(j[\"documents\"]) == 1 and j[\"documents\"][0][\"passages\"] == 3 and j[\"total_documents\"] == 4 and j[\"total_passages\"] == 7"'
out=$(files walrus --json)
check "--json walrus: all 13 documents (no default cut), 15 passages" \
  'pyj "len(j[\"documents\"]) == 13 and j[\"total_documents\"] == 13 and j[\"total_passages\"] == 15 and j[\"documents\"][0][\"path\"] == \"$S/many/big.md\""'
# where: each document's "lines" (first and last line of each such passage,
# in file order) against the file, as grep -n sees it: every walrus line in a
# range, every range holding one (no title or heading here has the word)
check "--json walrus: lines of each passage hold the word, and every such line is in one" \
  'pyj "all(len(d[\"lines\"]) == d[\"passages\"] and all(a <= b for a, b in d[\"lines\"]) and d[\"lines\"] == sorted(d[\"lines\"]) and all(any(\"walrus\" in l.lower() for l in open(d[\"path\"]).read().split(\"\\n\")[a - 1:b]) for a, b in d[\"lines\"]) and all(any(a <= k + 1 <= b for a, b in d[\"lines\"]) for k, l in enumerate(open(d[\"path\"]).read().split(\"\\n\")) if \"walrus\" in l.lower()) for d in j[\"documents\"])"'
out=$(files walrus --lines -k 1)
check "--lines: the ranges under the document line" 'line 2 | grep -q "big.md" && line 3 | grep -Eq "^ +lines [0-9]+(-[0-9]+)?(, [0-9]+(-[0-9]+)?){2}$"'
"$BIN" --db "$DB" search --lines walrus >/dev/null 2>&1
check "--lines without --files: exit 2" '[ $? -eq 2 ]'
out=$(files zeppelin --json); rc=$?
check "--json, no document: exit 0, totals 0, documents []" \
  '[ $rc -eq 0 ] && pyj "j[\"total_documents\"] == 0 and j[\"total_passages\"] == 0 and j[\"documents\"] == []"'

# the filters of search
out=$(files "lighthouse keeper" --path "$S/coast" --json)
check "--path coast: watch, dune, harbor (6 passages)" \
  'pyj "[d[\"path\"] for d in j[\"documents\"]] == [\"$S/coast/watch.md\", \"$S/coast/dune.md\", \"$S/coast/harbor.md\"] and j[\"total_passages\"] == 6"'
out=$(files "lighthouse keeper" --glob '*.txt' --json)
check "--glob *.txt: cove.txt only" 'pyj "[d[\"path\"] for d in j[\"documents\"]] == [\"$S/cove.txt\"] and j[\"total_documents\"] == 1"'
out=$(files "lighthouse keeper" --tag coast --json)
check "--tag coast: watch (3), harbor (1)" \
  'pyj "[(d[\"path\"], d[\"passages\"]) for d in j[\"documents\"]] == [(\"$S/coast/watch.md\", 3), (\"$S/coast/harbor.md\", 1)]"'
out=$(files "lighthouse keeper" --tag port)
check "--tag port (text): harbor only" 'line 1 | grep -Eq "^1 document .*\(1 passage\)$" && docline 2 1 "$S/coast/harbor.md" "Zephyr wharf"'
out=$(files "lighthouse keeper" --after 2021-01-01 --json)
check "--after 2021-01-01: dune, harbor, cove (4 passages)" \
  'pyj "[d[\"path\"] for d in j[\"documents\"]] == [\"$S/coast/dune.md\", \"$S/coast/harbor.md\", \"$S/cove.txt\"] and j[\"total_passages\"] == 4"'
out=$(files "lighthouse keeper" --before 2022-06-01 --json)
check "--before 2022-06-01: watch, harbor, cove (5 passages)" \
  'pyj "[d[\"path\"] for d in j[\"documents\"]] == [\"$S/coast/watch.md\", \"$S/coast/harbor.md\", \"$S/cove.txt\"] and j[\"total_passages\"] == 5"'
out=$(files "lighthouse keeper" --after 2021-01-01 --before 2022-06-01)
check "--after and --before: harbor, cove" \
  'line 1 | grep -Eq "^2 documents mention .* \(2 passages\)$" && docline 2 1 "$S/coast/harbor.md" "Zephyr wharf" && docline 3 1 "$S/cove.txt" cove'
out=$(files "lighthouse keeper" --tag nosuchtag); rc=$?
check "a filter nothing passes: no document, exit 0" '[ $rc -eq 0 ] && line 1 | grep -q "^no document mentions"'

# options that make no sense with --files: exit 2 naming the clash
for opt in "--mode bm25" "--fusion rrf" "--weight 0.5" "--no-merge" "--no-feedback"; do
  name=${opt%% *}
  "$BIN" --db "$DB" search --files lighthouse $opt >/dev/null 2>"$T/err"; rc=$?
  check "--files with $opt: exit 2 naming $name" '[ $rc -eq 2 ] && grep -q -- "$name" "$T/err"'
  "$BIN" --db "$DB" search $opt --files lighthouse >/dev/null 2>"$T/err"; rc=$?
  check "$opt before --files: exit 2 naming $name" '[ $rc -eq 2 ] && grep -q -- "$name" "$T/err"'
done

# a query without words: exit 2, saying so
for q in '!!!' '"()"' '* ^ :'; do
  out=$(files "$q" 2>"$T/err"); rc=$?
  check "query without words ($q): exit 2, the message says it has no words" '[ $rc -eq 2 ] && grep -qi "no word" "$T/err"'
done
files "" >/dev/null 2>&1; rc=$?
check "empty query: exit 2" '[ $rc -eq 2 ]'

# an index without documents: no document, exit 0
mkdir -p "$T/empty"
"$BIN" --db "$T/idx-empty" index "$T/empty" >/dev/null 2>&1
out=$("$BIN" --db "$T/idx-empty" search --files lighthouse); rc=$?
check "empty index: no document, exit 0" '[ $rc -eq 0 ] && line 1 | grep -q "^no document mentions"'

if [ $fails -gt 0 ]; then echo "$fails failed"; exit 1; fi
echo "all passed"
