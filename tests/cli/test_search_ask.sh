#!/usr/bin/env bash
# CLI integration test of docq search / ask / eval on samples/corpus:
# hits and their fields, modes and filters, --json shapes, extractive answers
# with citations and sources (English and Chinese), "nothing found", budget
# and left-out reporting, eval on tiny labelled sets (one with a duplicate
# document), usage errors; search --files (documents that mention a query).
set -u
BIN=${DOCQ_BIN:-}
SRC=${DOCQ_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then echo "skip: DOCQ_BIN not set or not executable"; exit 77; fi
if [ ! -d "$SRC/samples/corpus" ]; then echo "skip: samples/corpus absent"; exit 77; fi
T=$(mktemp -d /tmp/docq-sa-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok()   { echo "ok   $*"; }
bad()  { echo "FAIL $*"; fails=$((fails+1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

cp -r "$SRC/samples/corpus" "$T/corpus"
DB="$T/idx"
"$BIN" --db "$DB" index "$T/corpus" >/dev/null 2>&1
check "index the samples" '[ $? -eq 0 ]'

for c in search ask eval; do "$BIN" $c --help >/dev/null 2>&1; check "$c --help exits 0" '[ $? -eq 0 ]'; done
"$BIN" --db "$DB" search >/dev/null 2>&1; check "search without a query exits 2" '[ $? -eq 2 ]'
"$BIN" --db "$DB" search x --mode nope >/dev/null 2>&1; check "bad --mode exits 2" '[ $? -eq 2 ]'
"$BIN" --db "$DB" ask >/dev/null 2>&1; check "ask without a question exits 2" '[ $? -eq 2 ]'
# a blank question or query is a usage error that says so, not a search for nothing
for c in ask search; do
  # also Unicode's spaces: an ideographic space (a Chinese input method's), a no-break space, a BOM
  for q in "" "   " "$(printf '\343\200\200 \302\240\t\357\273\277')"; do
    err=$("$BIN" --db "$DB" $c "$q" 2>&1 >/dev/null); rc=$?
    check "$c \"$q\" exits 2 and says it is empty" '[ $rc -eq 2 ] && printf "%s" "$err" | grep -q "is empty"'
  done
done

# with --json every failure gives the error object on stdout, usage errors
# (exit 2, code -3) too; the message stays on stderr (isjerr OUT CODE)
isjerr() { python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read()); sys.exit(not (set(d) == {"error", "code"} and d["error"] and d["code"] == int(sys.argv[2])))' "$1" "$2"; }
"$BIN" --db "$DB" --json search "" >"$T/je.out" 2>"$T/je.err"; rc=$?
check "--json search \"\": exit 2 and the error object" '[ $rc -eq 2 ] && isjerr "$T/je.out" -3 && grep -q "is empty" "$T/je.err"'
"$BIN" --db "$DB" --json search x --after 2026-13-01 >"$T/je.out" 2>/dev/null; rc=$?
check "--json search --after 2026-13-01: exit 2 and the error object" '[ $rc -eq 2 ] && isjerr "$T/je.out" -3'
"$BIN" --db "$DB" search x --json --mode nope >"$T/je.out" 2>/dev/null; rc=$?
check "search --json --mode nope: exit 2 and the error object" '[ $rc -eq 2 ] && isjerr "$T/je.out" -3'
"$BIN" --db "$DB" --json ask >"$T/je.out" 2>/dev/null; rc=$?
check "--json ask without a question: exit 2 and the error object" '[ $rc -eq 2 ] && isjerr "$T/je.out" -3'
"$BIN" --db "$DB" --json ask x --tag >"$T/je.out" 2>/dev/null; rc=$?
check "--json ask --tag without its value: exit 2 and the error object" '[ $rc -eq 2 ] && isjerr "$T/je.out" -3'
"$BIN" --db "$DB" --json eval nosuch "$T" >"$T/je.out" 2>/dev/null; rc=$?
check "--json eval with an unknown subcommand: exit 2 and the error object" '[ $rc -eq 2 ] && isjerr "$T/je.out" -3'
"$BIN" --db "$DB" --json eval retrieval "$T/no-such-set" >"$T/je.out" 2>/dev/null; rc=$?
check "--json eval on a missing set: exit 1 and the error object" '[ $rc -eq 1 ] && isjerr "$T/je.out" -7'
"$BIN" --json nosuch >"$T/je.out" 2>/dev/null; rc=$?
check "--json and an unknown command: exit 2 and the error object" '[ $rc -eq 2 ] && isjerr "$T/je.out" -3'
# (index gives its record with "ok" instead: tests/cli/test_index.sh)
for args in "rm a b" "status --nosuch" "config --nosuch x y"; do
  "$BIN" --db "$DB" --json $args >"$T/je.out" 2>/dev/null; rc=$?
  check "--json $args: exit 2 and the error object" '[ $rc -eq 2 ] && isjerr "$T/je.out" -3'
done

# search: the bread note comes first, with path:lines and a snippet
out=$("$BIN" --db "$DB" search "sourdough starter flour" -k 3)
check "search exits 0" '[ $? -eq 0 ]'
check "search ranks bread.md first" 'printf "%s\n" "$out" | head -1 | grep -q "bread.md:[0-9]*-[0-9]*"'
# the snippet starts at the sentence holding most of the query's words, and
# shows Markdown as rendered ([[page|alias]] as its alias)
check "search snippet starts where the query's words are" 'printf "%s\n" "$out" | sed -n 2p | grep -q "^    \.\.\. Mix 500 g flour"'
out=$("$BIN" --db "$DB" search "weakest passages crash safety glossary" -k 3)
check "search snippet renders wikilinks" 'printf "%s" "$out" | grep -q "See also Crash safety and glossary\." && ! printf "%s" "$out" | grep -q "\[\[crash-safety"'
out=$("$BIN" --db "$DB" search "sourdough starter flour" -k 1 --json)
check "search --json has the snippet" 'printf "%s" "$out" | grep -q "\"snippet\":\"\.\.\. Mix 500 g flour"'
check "search --json has the document's format" 'printf "%s" "$out" | grep -q "\"format\":\"markdown\""'
for m in bm25 vector hybrid; do
  out=$("$BIN" --db "$DB" search "sourdough starter flour" -k 1 --mode $m)
  check "search --mode $m finds bread.md" 'printf "%s" "$out" | grep -q "bread.md"'
done
out=$("$BIN" --db "$DB" search "sourdough starter flour" --fusion rrf -k 1)
check "search --fusion rrf" 'printf "%s" "$out" | grep -q "bread.md"'
out=$("$BIN" --db "$DB" search "sourdough starter flour" --no-feedback -k 1)
check "search --no-feedback" 'printf "%s" "$out" | grep -q "bread.md"'
# --json after the command, with hit fields
out=$("$BIN" search "sourdough starter flour" -k 2 --json --db "$DB")
check "search --json is an object with hits" 'printf "%s" "$out" | grep -q "^{\"query\":\"sourdough starter flour\",\"mode\":\"hybrid\""'
check "search --json hit fields" 'printf "%s" "$out" | grep -q "\"path\":\"[^\"]*bread.md\"" && printf "%s" "$out" | grep -q "\"line_first\":[0-9]" && printf "%s" "$out" | grep -q "\"also_in\":\["'
# FTS5 syntax in the query is just words
"$BIN" --db "$DB" search '"unbalanced AND (NEAR* ^col:x' >/dev/null 2>&1
check "hostile query exits 0" '[ $? -eq 0 ]'
# filters
out=$("$BIN" --db "$DB" search "docq" --path "$T/corpus/zh" --json)
check "--path keeps only that folder" '! printf "%s" "$out" | grep -o "\"path\":\"[^\"]*\"" | grep -qv "/zh/"'
out=$("$BIN" --db "$DB" search "bread garden docq" --glob "*.html" --json)
check "--glob keeps only matching paths" '! printf "%s" "$out" | grep -o "\"path\":\"[^\"]*\"" | grep -qv "\.html\""'
out=$("$BIN" --db "$DB" search "bread garden docq" --tag cooking --json)
check "--tag cooking keeps the bread note" 'printf "%s" "$out" | grep -q "bread.md" && ! printf "%s" "$out" | grep -q "garden.md"'
# dates: front matter (garden 2025-05-02, crash-safety 03-14, suoyin 03-18, retrieval 03-20),
# else the file's mtime (today, after these)
out=$("$BIN" --db "$DB" search "garden crash index docq" --before 2026-01-01 --json)
check "--before keeps only older documents" '[ "$(printf "%s" "$out" | grep -o "\"path\":\"[^\"]*\"" | sort -u)" = "\"path\":\"$T/corpus/notes/garden.md\"" ]'
out=$("$BIN" --db "$DB" search "garden crash index docq" --after 2026-03-15 --before 2026-03-19 --json)
check "--after/--before keep a date range" '[ "$(printf "%s" "$out" | grep -o "\"path\":\"[^\"]*\"" | sort -u)" = "\"path\":\"$T/corpus/zh/suoyin.md\"" ]'
"$BIN" --db "$DB" search x --after 2026-13-01 >/dev/null 2>&1; check "a bad date exits 2" '[ $? -eq 2 ]'
# a day the month does not have, or text after the date, is not a date (it was read as March 2nd, or cut)
for d in 2026-02-30 2025-02-29 2026-03-14junk "2026-03-14 " 2026-3-14 "2026-03-14T25:00" "2026-03-14T12"; do
  "$BIN" --db "$DB" search x --after "$d" >/dev/null 2>&1; check "--after '$d' exits 2" '[ $? -eq 2 ]'
done
out=$("$BIN" --db "$DB" search "garden crash index docq" --after 2026-03-18T00:00:00Z --before "2026-03-18 23:59" --json)
check "a date with a time of day" '[ "$(printf "%s" "$out" | grep -o "\"path\":\"[^\"]*\"" | sort -u)" = "\"path\":\"$T/corpus/zh/suoyin.md\"" ]'
# --before 1970-01-01 was 0, "no limit": every document came back
out=$("$BIN" --db "$DB" search "garden crash index docq" --before 1970-01-01 --json)
check "--before 1970-01-01 finds nothing dated later" '! printf "%s" "$out" | grep -q "\"path\""'
"$BIN" --db "$DB" search x --before 1969-12-31 >/dev/null 2>&1; check "a date before 1970 is a date" '[ $? -eq 0 ]'
# a relative --path reads from the current directory, as index and rm do (it matched nothing)
out=$(cd "$T" && "$BIN" --db "$DB" search "docq" --path corpus/zh --json)
check "relative --path keeps that folder" 'printf "%s" "$out" | grep -q "/zh/" && ! printf "%s" "$out" | grep -o "\"path\":\"[^\"]*\"" | grep -qv "/zh/"'
out=$(cd "$T/corpus/notes" && "$BIN" --db "$DB" search "bread garden docq" --path ./garden.md --json)
check "relative --path of one file" '[ "$(printf "%s" "$out" | grep -o "\"path\":\"[^\"]*\"" | sort -u)" = "\"path\":\"$T/corpus/notes/garden.md\"" ]'
out=$(cd "$T" && "$BIN" --db "$DB" search "docq" --path corpus/z --json)
check "--path on disk is a whole folder name, not a prefix of one" '! printf "%s" "$out" | grep -q "\"path\""'
# a relative --glob matches at any folder (paths are stored absolute)
out=$("$BIN" --db "$DB" search "bread garden docq" --glob "notes/*.md" --json)
check "relative --glob matches below a folder" 'printf "%s" "$out" | grep -q "notes/garden.md" && ! printf "%s" "$out" | grep -o "\"path\":\"[^\"]*\"" | grep -qv "/notes/[^/]*\.md\""'
# ask takes the same filters
out=$("$BIN" --db "$DB" ask "how do plants grow in the garden" --before 2026-01-01 --json)
check "ask --before packs only older documents" 'printf "%s" "$out" | grep -q "garden.md" && ! printf "%s" "$out" | grep -o "\"path\":\"[^\"]*\"" | grep -qv "garden.md"'
out=$("$BIN" --db "$DB" ask "what happens after a crash" --glob "*/manual/*" --json)
check "ask --glob packs only matching paths" 'printf "%s" "$out" | grep -q "/manual/" && ! printf "%s" "$out" | grep -o "\"path\":\"[^\"]*\"" | grep -qv "/manual/"'
# neighbouring chunks merged into one passage keep the blank line between sections
out=$("$BIN" --db "$DB" ask "tomatoes beans compost garden" --path "$T/corpus/notes/garden.md" --show-prompt)
check "merged sections do not run together" 'printf "%s" "$out" | grep -q "^## Beans" && ! printf "%s" "$out" | grep -q "fruit\.## Beans"'
# --json --show-prompt: the prompt in the record (it was dropped without a word)
out=$("$BIN" --db "$DB" --json ask "tomatoes beans compost garden" --path "$T/corpus/notes/garden.md" --show-prompt)
check "ask --json --show-prompt: the record's \"prompt\" is the packed prompt" \
  'printf "%s" "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(not (\"## Beans\" in d[\"prompt\"] and \"Question: tomatoes beans compost garden\" in d[\"prompt\"] and \"model_prompt\" not in d))"'
out=$("$BIN" --db "$DB" --json ask "tomatoes beans compost garden")
check "... and no \"prompt\" without --show-prompt" 'printf "%s" "$out" | python3 -c "import json,sys; sys.exit(\"prompt\" in json.load(sys.stdin))"'

# a model that cannot be loaded: the message says where its name came from,
# and what answers without it
err=$(DOCQ_MODEL="$T/old-model.gguf" "$BIN" --db "$DB" ask "how hot is the oven" 2>&1 >/dev/null); rc=$?
check "an unloadable \$DOCQ_MODEL: exit 1, named as such, with --no-model as the way out" \
  '[ $rc -eq 1 ] && printf "%s" "$err" | grep -qF "model named by \$DOCQ_MODEL: $T/old-model.gguf" && printf "%s" "$err" | grep -q -- "--no-model answers extractively"'
err=$("$BIN" --db "$DB" ask --model "$T/old-model.gguf" "how hot is the oven" 2>&1 >/dev/null); rc=$?
check "... and one given by --model is named as that" '[ $rc -eq 1 ] && printf "%s" "$err" | grep -qF "(--model): $T/old-model.gguf"'

# ask: answer with a citation and the sources list
out=$("$BIN" --db "$DB" ask "At what temperature should the bread be baked?" 2>/dev/null)
check "ask answers from the bread note" 'printf "%s" "$out" | grep -q "250 °C.*\[[0-9]*\]"'
check "ask lists sources" 'printf "%s" "$out" | grep -q "^Sources:" && printf "%s" "$out" | grep -q "bread.md:[0-9]*-[0-9]*"'
out=$("$BIN" --db "$DB" ask "绿茶用多少度的水冲泡？" 2>/dev/null)
check "ask in Chinese" 'printf "%s" "$out" | grep -q "八十度.*\[[0-9]*\]"'
out=$("$BIN" --db "$DB" ask "how do I repair a motorcycle carburetor" 2>/dev/null)
check "ask says when nothing answers" 'printf "%s" "$out" | grep -q "^No passage in the index answers this question."'
# the evidence score: a full match is plain, a partial one is labelled weak
out=$("$BIN" --db "$DB" ask "What does the pipeline do after a crash?" --json)
check "a full match is not weak" 'printf "%s" "$out" | grep -q "\"found\":true,\"score\":0\.[4-9][0-9]*,\"weak\":false"'
out=$("$BIN" --db "$DB" ask "what is the best way to store flour?" --json)
check "a partial match is weak (--json)" 'printf "%s" "$out" | grep -q "\"found\":true,\"score\":0\.[23][0-9]*,\"weak\":true"'
out=$("$BIN" --db "$DB" ask "what is the best way to store flour?" 2>/dev/null)
check "a partial match is labelled in text" 'printf "%s" "$out" | head -1 | grep -q "^Weak match"'
out=$("$BIN" --db "$DB" ask "At what temperature should the bread be baked?" --json)
check "ask --json fields" 'printf "%s" "$out" | grep -q "\"found\":true" && printf "%s" "$out" | grep -q "\"citations\":\[[0-9]" && printf "%s" "$out" | grep -q "\"left_out\":{\"count\":[0-9]*,\"best_rank\":[0-9]*}" && printf "%s" "$out" | grep -q "\"prompt_tokens\":[0-9]"'
# a small budget leaves passages out and says so
out=$("$BIN" --db "$DB" ask "bread" --budget 200 --json)
tok=$(printf "%s" "$out" | grep -o '"prompt_tokens":[0-9]*' | cut -d: -f2)
lo=$(printf "%s" "$out" | grep -o '"left_out":{"count":[0-9]*' | grep -o '[0-9]*$')
check "budget respected ($tok <= 200)" '[ "$tok" -le 200 ]'
check "left-out passages counted ($lo)" '[ "$lo" -gt 0 ]'
out=$("$BIN" --db "$DB" ask "bread" --budget 200 --verbose 2>/dev/null)
check "--verbose reports what was left out" 'printf "%s" "$out" | grep -q "Left out for lack of budget"'
for o in edges relevance document; do
  "$BIN" --db "$DB" ask "bread" --order $o >/dev/null 2>&1; check "--order $o" '[ $? -eq 0 ]'
done

# eval on a tiny labelled set built here
E="$T/set"; mkdir -p "$E"
cat > "$E/corpus.jsonl" <<'J'
{"_id": "d1", "title": "Bread", "text": "Sourdough bread is baked at 250 degrees in a covered pot."}
{"_id": "d2", "title": "Tea", "text": "Green tea is brewed with water at eighty degrees, not boiling."}
{"_id": "d3", "title": "Garden", "text": "Tomatoes need sun and water every morning in the summer.\u00a0Caf\u00e9 \ud83d\ude00"}
J
cat > "$E/queries.jsonl" <<'J'
{"_id": "q1", "text": "how hot to bake sourdough bread", "answers": ["250 degrees"]}
{"_id": "q2", "text": "green tea water temperature", "answers": ["eighty degrees"]}
J
printf 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n' > "$E/qrels.tsv"
out=$("$BIN" eval retrieval "$E" --json 2>/dev/null)
check "eval retrieval on a tiny set: nDCG@10 = 1" 'printf "%s" "$out" | grep -q "\"ndcg@10\":1.0000"'
out=$("$BIN" eval answers "$E" --budget 512 --json 2>/dev/null)
check "eval answers: answers in context" 'printf "%s" "$out" | grep -q "\"answer_in_context\":1.0000"'

# a set without what the evaluation needs is said so, before the corpus is
# indexed (it reported 0 questions at 0.0%, exit 0)
E0="$T/set0"; mkdir -p "$E0"; cp "$E/corpus.jsonl" "$E0/"
echo '{"_id": "q1", "text": "how hot to bake sourdough bread"}' > "$E0/queries.jsonl"
printf 'query-id\tcorpus-id\tscore\nq9\td1\t1\n' > "$E0/qrels.tsv"
err=$("$BIN" eval answers "$E0" 2>&1 >/dev/null); rc=$?
check "eval answers on a set without answers: exit 1, saying so, nothing indexed" \
  '[ $rc -eq 1 ] && printf "%s" "$err" | grep -q "has no \"answers\": it is a retrieval set" && ! printf "%s" "$err" | grep -q indexed'
"$BIN" --json eval retrieval "$E0" >"$T/je.out" 2>"$T/je.err"; rc=$?
check "eval retrieval whose qrels judge none of the queries: exit 1 and the error object" \
  '[ $rc -eq 1 ] && isjerr "$T/je.out" -7 && grep -q "judges none of the queries" "$T/je.err"'

# --misses: a question whose answer is nowhere is written out, with where its
# judged document ranked
E2="$T/set2"; mkdir -p "$E2"; cp "$E/corpus.jsonl" "$E/qrels.tsv" "$E2/"
cp "$E/queries.jsonl" "$E2/"
echo '{"_id": "q3", "text": "tomatoes sun water", "answers": ["a purple umbrella"]}' >> "$E2/queries.jsonl"
printf 'q3\td3\t1\n' >> "$E2/qrels.tsv"
"$BIN" eval answers "$E2" --budget 512 --order edges --misses "$T/miss.jsonl" >/dev/null 2>&1
check "eval answers --misses exits 0" '[ $? -eq 0 ]'
check "--misses lists only the missed question" '[ "$(wc -l < "$T/miss.jsonl")" -eq 1 ] && grep -q "\"_id\":\"q3\"" "$T/miss.jsonl"'
check "--misses gives the judged document's ranks" 'grep -q "\"judged_packed_rank\":1,\"judged_search_rank\":1" "$T/miss.jsonl"'
"$BIN" eval answers "$E2" --budget 512 --order relevance --misses "$T/miss2.jsonl" >/dev/null 2>&1
check "--misses follows --order" '[ "$(wc -l < "$T/miss2.jsonl")" -eq 1 ] && grep -q "\"_id\":\"q3\"" "$T/miss2.jsonl"'
"$BIN" eval answers "$E2" --misses /nonexistent-dir/m.jsonl >/dev/null 2>&1
check "--misses to an unwritable path exits 1" '[ $? -eq 1 ]'

# Ctrl-C stops eval at once, whether it indexes or asks: exit 130, one line
# saying so, and its temporary index removed (it had died silently while
# indexing, leaving the folder, and between two questions the interruption
# was lost: exit 0 and the full report). No timing: the corpus and the
# --misses file are pipes, so the test knows where eval is when it signals.
ET="$T/evtmp"; mkdir -p "$ET"
EI="$T/set-int"; mkdir -p "$EI"; cp "$E/queries.jsonl" "$E/qrels.tsv" "$EI/"
mkfifo "$EI/corpus.jsonl"
TMPDIR="$ET" "$BIN" eval retrieval "$EI" --quiet >/dev/null 2>"$T/ei.err" &
pid=$!
cat "$E/corpus.jsonl" > "$EI/corpus.jsonl" # eval counts the corpus's lines first
# once that read has closed the pipe, the next opening is the indexing's
for _ in $(seq 600); do ls -l /proc/$pid/fd 2>/dev/null | grep -q corpus.jsonl || break; sleep 0.05; done
exec 3>"$EI/corpus.jsonl"
head -1 "$E/corpus.jsonl" >&3
kill -INT $pid
exec 3>&-
wait $pid; rc=$?
check "Ctrl-C while eval indexes: exit 130 and one line saying so" '[ $rc -eq 130 ] && [ "$(cat "$T/ei.err")" = "docq eval: interrupted" ]'
check "... and the temporary index is removed" '[ -z "$(ls -A "$ET")" ]'
EQ="$T/set-q"; mkdir -p "$EQ"; cp "$E/corpus.jsonl" "$EQ/"
long=$(printf 'sourdough bread baked in a covered pot %.0s' $(seq 10))
for i in $(seq 400); do echo "{\"_id\": \"q$i\", \"text\": \"$long $i\", \"answers\": [\"a purple umbrella\"]}"; done > "$EQ/queries.jsonl"
mkfifo "$T/miss.fifo" # 400 misses of ~500 bytes: more than a pipe holds, so eval cannot end before it is read
TMPDIR="$ET" "$BIN" eval answers "$EQ" --quiet --budget 512 --order edges --misses "$T/miss.fifo" >"$T/eq.out" 2>"$T/eq.err" &
pid=$!
exec 4<"$T/miss.fifo" # opens once eval opened it for writing, before its first question
kill -INT $pid
cat <&4 >/dev/null; exec 4<&-
wait $pid; rc=$?
check "Ctrl-C while eval asks: exit 130 and one line saying so, no report" '[ $rc -eq 130 ] && [ "$(cat "$T/eq.err")" = "docq eval: interrupted" ] && [ ! -s "$T/eq.out" ]'
check "... and the temporary index is removed" '[ -z "$(ls -A "$ET")" ]'

# a wrong subcommand is named, also with --help after it; each subcommand's
# usage lines list every option it takes, and retrieval refuses those only
# answers reads
err=$("$BIN" eval lm 2>&1 >/dev/null); rc=$?
check "eval lm: exit 2 naming the unknown subcommand" '[ $rc -eq 2 ] && printf "%s" "$err" | grep -q "^docq eval: unknown subcommand .lm. (retrieval, answers, ppl or passkey"'
err=$("$BIN" eval lm --help 2>&1 >/dev/null); rc=$?
check "eval lm --help: the same, not help" '[ $rc -eq 2 ] && printf "%s" "$err" | grep -q "unknown subcommand .lm."'
help=$("$BIN" eval --help)
ans_usage=$(printf "%s\n" "$help" | sed -n "/docq eval answers/,/docq eval ppl/p" | sed '$d')
ret_usage=$(printf "%s\n" "$help" | sed -n "/docq eval retrieval/,/docq eval answers/p" | sed '$d')
for o in --budget -k --order --mode --fusion --weight --no-feedback --tokenizer --db --limit --misses --json; do
  check "eval answers usage lists $o" 'printf "%s" "$ans_usage" | grep -q -- "\[$o[] ]"'
done
for o in --mode --fusion --weight --no-feedback --db --limit --json; do
  check "eval retrieval usage lists $o" 'printf "%s" "$ret_usage" | grep -q -- "\[$o[] ]"'
done
for o in "--budget 512" "-k 5" "--order edges" "--tokenizer x.gguf" "--misses m.jsonl"; do
  err=$("$BIN" eval retrieval "$E" $o 2>&1 >/dev/null); rc=$?
  check "eval retrieval $o: exit 2, for answers" '[ $rc -eq 2 ] && printf "%s" "$err" | grep -q "is for eval answers"'
done

# --db: built once, then reused for the same corpus; an index holding other
# documents (here the samples index) is refused and left as it was
"$BIN" eval answers "$E" --budget 512 --db "$T/evaldb" >/dev/null 2>&1
check "eval --db builds the index" '[ $? -eq 0 ] && [ "$("$BIN" --db "$T/evaldb" --json status | grep -o "\"documents\":[0-9]*")" = "\"documents\":3" ]'
err=$("$BIN" eval answers "$E" --budget 512 --db "$T/evaldb" 2>&1 >/dev/null)
check "eval --db reuses the index of the same corpus" '[ $? -eq 0 ] && printf "%s" "$err" | grep -q "reusing index"'
before=$("$BIN" --db "$DB" --json status | grep -o '"documents":[0-9]*')
err=$("$BIN" eval answers "$E" --db "$DB" 2>&1 >/dev/null)
check "eval --db on an index of other documents exits 1" '[ $? -eq 1 ]'
check "... naming the index and what to do" 'printf "%s" "$err" | grep -q "not in .*corpus.jsonl.*left untouched"'
check "... and leaves it as it was" '[ "$("$BIN" --db "$DB" --json status | grep -o "\"documents\":[0-9]*")" = "$before" ]'

# --tokenizer: exact counts with a real vocabulary (the shared Llama-2 SPM
# file): the prompt's count, re-counted by docq tokenize, is what ask reports
V="${DOCQ_SHARED_DIR:-}/vocab/ggml-vocab-llama-spm.gguf"
if [ -f "$V" ]; then
  out=$("$BIN" --db "$DB" ask "How long does the sourdough rise?" --budget 300 --tokenizer "$V" --verbose --show-prompt 2>/dev/null)
  check "ask --tokenizer exits 0" '[ $? -eq 0 ]'
  used=$(printf "%s\n" "$out" | sed -n 's/^Packed [0-9]* passages, \([0-9]*\) of 300 tokens.*/\1/p')
  prompt=$(printf "%s\n" "$out" | sed -n '/^--- prompt ---$/,$p' | tail -n +2)
  real=$("$BIN" tokenize --model "$V" "$prompt" | wc -w)
  check "ask --tokenizer: the reported count is the tokenizer's ($used = $real)" '[ -n "$used" ] && [ "$used" -eq "$real" ]'
  check "ask --tokenizer: within the budget ($real <= 300)" '[ "$real" -le 300 ]'
  # counting with a tokenizer leaves the answer extractive, and it is printed
  out=$("$BIN" --db "$DB" ask "At what temperature should the bread be baked?" --tokenizer "$V" 2>/dev/null)
  check "ask --tokenizer: the extractive answer is printed before its sources" \
    'printf "%s\n" "$out" | sed -n "/^Sources:\$/q;p" | grep -q "250.*\[1\]"'
  out=$("$BIN" eval answers "$E" --budget 512 --tokenizer "$V" --json 2>/dev/null)
  check "eval answers --tokenizer" 'printf "%s" "$out" | grep -q "\"answer_in_context\":1.0000"'
else
  echo "skip: --tokenizer checks need DOCQ_SHARED_DIR with vocab/ggml-vocab-llama-spm.gguf"
fi
"$BIN" --db "$DB" ask "bread" --tokenizer /nonexistent.gguf >/dev/null 2>&1
check "ask --tokenizer with a missing file fails" '[ $? -ne 0 ]'

# the same long paragraph under two ids, both relevant: the duplicate collapsed
# into the first hit (also_in) still counts as retrieved, right after it
D="$T/dupset"; mkdir -p "$D"
para="Lighthouse keepers trimmed the wicks every evening, polished the great Fresnel lens until it shone, wound the clockwork that turned the beam, and wrote the weather, the passing ships and the oil they burned into the station log before climbing down the iron stairs at dawn."
cat > "$D/corpus.jsonl" <<J
{"_id": "a1", "title": "Keepers", "text": "$para"}
{"_id": "a2", "title": "Keepers (copy)", "text": "$para"}
{"_id": "b1", "title": "Bread", "text": "Sourdough bread is baked at 250 degrees in a covered pot."}
{"_id": "b2", "title": "Tea", "text": "Green tea is brewed with water at eighty degrees, not boiling."}
{"_id": "b3", "title": "Garden", "text": "Tomatoes need sun and water every morning in the summer."}
J
cat > "$D/queries.jsonl" <<'J'
{"_id": "q1", "text": "what did lighthouse keepers write in the station log"}
{"_id": "q2", "text": "green tea water temperature"}
J
printf 'query-id\tcorpus-id\tscore\nq1\ta1\t1\nq1\ta2\t1\nq2\tb2\t1\n' > "$D/qrels.tsv"
out=$("$BIN" eval retrieval "$D" --mode hybrid --json 2>/dev/null)
check "eval retrieval: a collapsed duplicate counts (nDCG@10 = 1)" 'printf "%s" "$out" | grep -q "\"ndcg@10\":1.0000,\"recall@100\":1.0000"'

# a long document whose every section matches: its picked chunks would merge
# into one span longer than the budget; ask cuts the run around its best
# chunks, so the best passage is packed rather than left out whole
L="$T/long"; mkdir -p "$L/doc"
{
  echo "# Lighthouse keeping"
  for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
    printf '\n## Duty %s\n\n' "$i"
    for j in 1 2 3 4 5 6 7 8; do
      printf 'On watch %s the lighthouse keeper polished the lens, trimmed the wick and wrote the log. ' "$i$j"
    done
    echo
  done
} > "$L/doc/keeping.md"
"$BIN" --db "$L/idx" index "$L/doc" >/dev/null 2>&1
out=$("$BIN" --db "$L/idx" search "lighthouse keeper lens wick log" -k 20 --json)
check "search merges the whole run into one long span" '[ "$(printf "%s" "$out" | grep -o "\"line_first\"" | wc -l)" -eq 1 ]'
out=$("$BIN" --db "$L/idx" ask "lighthouse keeper lens wick log" --json)
check "ask packs the best passage of a long matching run" 'printf "%s" "$out" | grep -q "\"rank\":1,"'
check "... within the budget" '[ "$(printf "%s" "$out" | grep -o "\"prompt_tokens\":[0-9]*" | cut -d: -f2)" -le 2048 ]'

# Bytes that are not UTF-8 never reach --json output or a prompt raw: a
# question typed in a Latin-1 terminal, a file named in Latin-1.
L="$T/latin1"; mkdir -p "$L"
printf 'The lighthouse keeper logs the ships that pass the caf\xe9 on the pier.\n' > "$L/$(printf 'caf\xe9.txt')"
"$BIN" --db "$T/idx-latin1" index "$L" >/dev/null 2>&1
out=$("$BIN" --db "$T/idx-latin1" search "lighthouse keeper ships" --json)
check "search --json: a Latin-1 file name comes out as U+FFFD" 'printf "%s" "$out" | grep -q "caf\\\\ufffd.txt" && ! printf "%s" "$out" | LC_ALL=C grep -q "$(printf "\xe9")"'
out=$("$BIN" --db "$T/idx-latin1" ask "$(printf 'which ships pass the caf\xe9?')" --json --show-prompt)
check "ask --json: a Latin-1 question comes out as U+FFFD" 'printf "%s" "$out" | grep -q "\"question\":\"which ships pass the caf\\\\ufffd?\"" && ! printf "%s" "$out" | LC_ALL=C grep -q "$(printf "\xe9")"'
out=$("$BIN" --db "$T/idx-latin1" ask "$(printf 'which ships pass the caf\xe9?')" --show-prompt)
check "ask: the prompt holds U+FFFD, not the raw byte" 'printf "%s" "$out" | grep -q "Question: which ships pass the caf$(printf "\xef\xbf\xbd")?"'

# Citations are the passages the answer quotes, not any "[n]" in the quoted
# text: code such as zorklist[2] does not cite passage 2.
Z="$T/zork"; mkdir -p "$Z"
printf '# Arrays in Zork\n\nTo read the third zorkitem of a zorklist, write zorklist[2] in the zorkscript console.\n' > "$Z/arrays.md"
printf '# Unrelated\n\nBananas are yellow and grow in bunches on tall plants.\n' > "$Z/other.md"
printf '# Apples\n\nApples are red or green and grow on trees in orchards.\n' > "$Z/third.md"
"$BIN" --db "$T/idx-zork" index "$Z" >/dev/null 2>&1
out=$("$BIN" --db "$T/idx-zork" ask "How do I read the third zorkitem of a zorklist?" 2>/dev/null)
check "ask quotes the sentence with its bracket" 'printf "%s" "$out" | grep -q "write zorklist\[2\] in the zorkscript console\. \[1\]"'
check "ask: Sources list only the passage quoted" '[ "$(printf "%s\n" "$out" | sed -n "/^Sources:/,\$p" | grep -c "^  \[")" -eq 1 ] && printf "%s" "$out" | grep -q "^  \[1\] Arrays in Zork .*arrays.md:3-3"'
out=$("$BIN" --db "$T/idx-zork" ask "How do I read the third zorkitem of a zorklist?" --json)
check "ask --json: citations are the passage quoted" 'printf "%s" "$out" | grep -q "\"citations\":\[1\],"'

# A front-matter date its month does not have is no date (2026-02-31 was
# read as March 3rd): the file's time stands in for it.
F="$T/fmdate"; mkdir -p "$F"
printf -- '---\ndate: 2026-02-31\n---\n# Pancakes\n\nPancakes need eggs and milk.\n' > "$F/bad.md"
printf -- '---\ndate: 2026-03-02\n---\n# Waffles\n\nWaffles need eggs and butter.\n' > "$F/good.md"
"$BIN" --db "$T/idx-fmdate" index "$F" >/dev/null 2>&1
out=$("$BIN" --db "$T/idx-fmdate" search eggs --after 2026-03-01 --before 2026-03-05 --json)
check "an impossible front-matter date is not a date" 'printf "%s" "$out" | grep -q "good.md" && ! printf "%s" "$out" | grep -q "bad.md"'

# A source whose file was deleted since the run is still quoted (the index
# is a copy), and says so.
G="$T/gone"; mkdir -p "$G"
printf '# Bread\n\nBake the bread at 250 degrees for forty minutes.\n' > "$G/bread.md"
"$BIN" --db "$T/idx-gone" index "$G" >/dev/null 2>&1
rm "$G/bread.md"
out=$("$BIN" --db "$T/idx-gone" ask "how long to bake the bread?" 2>/dev/null)
check "ask: a source deleted since indexing says so" 'printf "%s" "$out" | grep -q "bread.md:3-3 (the file is gone since it was indexed: run docq index)"'

# A chunk at or below cosine 0 is no neighbour: on a small index the vector
# search returned every chunk, and an unrelated one was a hit at score 0.
V="$T/vec0"; mkdir -p "$V"
printf 'Hello world. The quick brown fox jumps over the lazy dog.\n' > "$V/a.txt"
printf 'Bread needs flour, water and salt.\n' > "$V/b.txt"
"$BIN" --db "$T/idx-vec0" index "$V" >/dev/null 2>&1
for m in hybrid vector; do
  out=$("$BIN" --db "$T/idx-vec0" search zebras --mode $m --json)
  check "search --mode $m: no hit without a word or a positive similarity" 'printf "%s" "$out" | python3 -c "
import json, sys
hits = json.load(sys.stdin)[\"hits\"]
sys.exit(0 if all(h[\"bm25_rank\"] > 0 or h[\"vector_score\"] > 0 for h in hits) else 1)"'
done

# search --files: the documents that mention a query, counted; -k cuts the list, not the totals
out=$("$BIN" --db "$DB" search --files crash)
check "search --files: a count line, then most passages first" '[ "$(printf "%s\n" "$out" | head -1)" = "2 documents mention crash (4 passages)" ] && printf "%s\n" "$out" | sed -n 2p | grep -q "^ *3  $T/corpus/manual/crash-safety.md  Crash safety of the index$"'
out=$("$BIN" --db "$DB" search --files docq -k 2)
check "search --files -k 2: two lines and how many more" '[ "$(printf "%s\n" "$out" | wc -l)" -eq 4 ] && printf "%s\n" "$out" | tail -1 | grep -q "^\.\.\. and 6 more$"'
out=$("$BIN" --db "$DB" --json search --files docq -k 1 --glob "*/manual/*")
check "search --files --json: totals of all, documents cut to -k, filters applied" 'printf "%s" "$out" | python3 -c "
import json, sys
d = json.load(sys.stdin)
sys.exit(not (set(d) == {\"query\", \"total_documents\", \"total_passages\", \"documents\"} and d[\"total_documents\"] == 2
              and len(d[\"documents\"]) == 1 and \"/manual/\" in d[\"documents\"][0][\"path\"]))"'
out=$("$BIN" --db "$DB" search --files '"unbalanced AND (NEAR* ^col:x'); rc=$?
check "search --files: FTS5 syntax is words, no document is exit 0" '[ $rc -eq 0 ] && [ "$out" = "no document mentions \"unbalanced AND (NEAR* ^col:x" ]'
err=$("$BIN" --db "$DB" search --files '!!!' 2>&1 >/dev/null); rc=$?
check "search --files without a word: exit 2, says so" '[ $rc -eq 2 ] && printf "%s" "$err" | grep -q "no words"'
for o in "--mode bm25" "--fusion rrf" "--weight 0.5" --no-merge --no-feedback; do
  err=$("$BIN" --db "$DB" search crash $o --files 2>&1 >/dev/null); rc=$?
  check "search --files $o: exit 2 naming it" '[ $rc -eq 2 ] && printf "%s" "$err" | grep -q -- "--files cannot be used with ${o%% *}"'
done

echo "$fails failure(s)"
[ $fails -eq 0 ]
