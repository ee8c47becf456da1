# Sourced by the CLI tests that send a signal mid-run (Ctrl-C keeps what was
# done). The moment comes from runs timed on the machine itself, not from
# fixed sleeps: CI's ASan build on a loaded host runs several times slower
# than a developer's plain build, and a fixed second once fell before the
# first piece of work that the test then looked for.

# now_ns: the wall clock in nanoseconds
now_ns() { date +%s%N; }

# wait_s MIN [FACTOR NS]...: seconds to sleep before the signal, as sleep(1)
# takes them: the sum of each FACTOR times NS (nanoseconds, e.g. the length
# of a timed run), and at least MIN.
wait_s() {
  awk -v min="$1" -v terms="${*:2}" 'BEGIN {
    n = split(terms, t, " "); s = 0
    for (i = 1; i < n; i += 2) s += t[i] * t[i + 1] / 1e9
    if (s < min) s = min
    printf "%.2f", s
  }'
}
