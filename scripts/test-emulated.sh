#!/usr/bin/env bash
# The portable build (kernels chosen at run time) on an emulated CPU without
# AVX: qemu-x86_64 -cpu Nehalem (SSE4.2, no AVX), so an AVX instruction
# anywhere on the path docq takes there kills the test with SIGILL, which a
# machine with AVX-512 cannot show. Runs the kernel, forward-pass (llama.cpp
# parity) and BERT encoder tests, then a greedy generation that must equal
# the same build's on the real CPU with the same kernels (DOCQ_KERNELS=generic,
# the same OpenBLAS core type), token for token. Skipped (exit 0, with a message) where
# qemu-x86_64 is not installed (Debian: apt-get install qemu-user).
#
# Usage: scripts/test-emulated.sh BUILD_DIR SHARED_DIR
set -euo pipefail
ulimit -c 0 # no core file from a test that dies
build=$(cd "$1" && pwd)
shared=$2
src=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v qemu-x86_64 >/dev/null; then
  echo "emulated CPU: skipped, qemu-x86_64 is not installed (apt-get install qemu-user)"
  exit 0
fi
# OpenBLAS picks its kernels from cpuid too, but under qemu-user it took an
# AVX one for this CPU (SIGILL inside libopenblas): name its core type.
emu() { OPENBLAS_CORETYPE=Nehalem qemu-x86_64 -cpu Nehalem "$@" 2> >(grep -v "TCG doesn't support" >&2); }

echo "== $build on an emulated CPU without AVX (qemu-x86_64 -cpu Nehalem)"
rc=0
kernels=$(emu "$build/docq" --version 2>&1) || rc=$?
case "$kernels" in
  *"(kernels: generic C)"*) ;;
  *) echo "emulated CPU: docq --version ended with status $rc (132: an illegal instruction) and said '$kernels'," \
       "not kernels: generic C"; exit 1 ;;
esac
for t in engine_kernels engine_forward embed_bert; do
  echo "-- $t"
  rc=0
  (cd "$build/tests" && DOCQ_SHARED_DIR="$shared" DOCQ_SOURCE_DIR="$src" emu "./$t" >/tmp/docq-emu-$$.log 2>&1) || rc=$?
  # 77: some of its tests were skipped (the shared files are absent), as ctest counts it
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    cat /tmp/docq-emu-$$.log; rm -f /tmp/docq-emu-$$.log; echo "emulated CPU: $t failed (exit $rc)"; exit 1
  fi
  grep -E "PASSED|SKIPPED" /tmp/docq-emu-$$.log | head -3
  rm -f /tmp/docq-emu-$$.log
done
model="$shared/models/stories260K.gguf"
if [ -f "$model" ]; then
  want=$(DOCQ_KERNELS=generic OPENBLAS_CORETYPE=Nehalem "$build/docq" generate --model "$model" --temp 0 -n 48 "Once upon a time" 2>/dev/null)
  got=$(emu "$build/docq" generate --model "$model" --temp 0 -n 48 "Once upon a time" 2>/dev/null)
  [ "$got" = "$want" ] || { echo "emulated CPU: generate gave '$got', the real CPU '$want'"; exit 1; }
  echo "-- generate: the same 48 tokens as on the real CPU"
else
  echo "-- generate: skipped, $model is absent"
fi
