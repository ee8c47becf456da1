#!/usr/bin/env bash
# The decode mat-vec of two versions of src/engine/quant_avx2.c side by side
# in one program (bench/ab_kernels.c): A is the file at a git revision (or
# the tree's own), B the tree's; each may get its own -D flags. On a host
# whose memory bandwidth jumps between states, this is how a kernel change
# of a few percent can be seen (why: bench/ab_kernels.c).
#
# Usage: scripts/ab-kernels.sh [--base REV] [--a-flags "-DX=1"] [--b-flags "-DX=2"]
#                              [--build DIR] [-- ab_kernels options]
#   --base REV   A is REV's quant_avx2.c (it must build against the tree's
#                headers); default: the tree's file (A/A, or flags against flags)
#   --build DIR  build folder (default build-ab, native, RelWithDebInfo);
#                further cmake options in $DOCQ_AB_CMAKE_ARGS
# Example: scripts/ab-kernels.sh --base HEAD~1 -- --types q5_0 --shapes 4864x896
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build-ab
base="" a_flags="" b_flags=""
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base=$2; shift 2 ;;
    --a-flags) a_flags=$2; shift 2 ;;
    --b-flags) b_flags=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "ab-kernels.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$build"
base_src=$src/src/engine/quant_avx2.c
if [ -n "$base" ]; then
  base_src=$build/ab_base_quant_avx2.c
  if ! git -C "$src" show "$base:src/engine/quant_avx2.c" > "$base_src.new"; then
    echo "ab-kernels.sh: no src/engine/quant_avx2.c at revision '$base'" >&2
    exit 2
  fi
  # rewrite only when it changed, so make does not rebuild A every time
  if cmp -s "$base_src.new" "$base_src"; then rm "$base_src.new"; else mv "$base_src.new" "$base_src"; fi
fi
# shellcheck disable=SC2086 # DOCQ_AB_CMAKE_ARGS is a list of options
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOCQ_NATIVE=ON \
  -DDOCQ_AB_BASE_SRC="$base_src" -DDOCQ_AB_A_FLAGS="$a_flags" -DDOCQ_AB_B_FLAGS="$b_flags" \
  ${DOCQ_AB_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)" --target ab_kernels >/dev/null
echo "A: ${base:-tree} ${a_flags:-(no flags)}   B: tree ${b_flags:-(no flags)}"
exec "$build/ab_kernels" "$@"
