#!/usr/bin/env bash
# Install as a user would (cmake --install into a temporary prefix), then
# build samples/embed_minimal.c against it twice: with pkg-config (shared
# library) and with find_package(docq) (static library), and run both; and
# samples/embed_model.c (a model's answer, streamed) and samples/chat_model.c
# (a conversation) with pkg-config.
set -u
BUILD=${DOCQ_BUILD_DIR:?}
SRC=${DOCQ_SOURCE_DIR:?}
T=$(mktemp -d /tmp/docq-install-XXXXXX)
trap 'rm -rf "$T"' EXIT
if grep -q "^DOCQ_SANITIZE:BOOL=ON" "$BUILD/CMakeCache.txt" 2>/dev/null; then
  echo "skip: a sanitizer build is not installed for other programs to link (checked in the normal build)"
  exit 77
fi
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }

cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null; check "cmake --install" '[ $? -eq 0 ]'
P="$T/prefix"
LIB=$(ls -d "$P"/lib* | head -1)
check "binary installed" '[ -x "$P/bin/docq" ]'
check "header installed" '[ -f "$P/include/docq.h" ]'
check "shared and static library" 'ls "$LIB"/libdocq.so.* >/dev/null && [ -f "$LIB/libdocq.a" ]'
check "pkg-config file" '[ -f "$LIB/pkgconfig/docq.pc" ]'
check "CMake package" '[ -f "$LIB/cmake/docq/docqConfig.cmake" ]'
check "only docq_ symbols exported" '! nm -D --defined-only "$LIB/libdocq.so" | awk "\$2==\"T\"{print \$3}" | grep -v "^docq_" | grep -q .'

# pkg-config, shared
PKG_CONFIG_PATH="$LIB/pkgconfig" cc -Wall -Wextra -o "$T/embed_pc" "$SRC/samples/embed_minimal.c" \
  $(PKG_CONFIG_PATH="$LIB/pkgconfig" pkg-config --cflags --libs docq) -Wl,-rpath,"$LIB"
check "embed_minimal builds with pkg-config" '[ -x "$T/embed_pc" ]'
out=$("$T/embed_pc" "$T/idx1" "$SRC/samples/corpus" "What happens after a crash?")
check "embed_minimal (shared) answers with a citation" 'printf "%s" "$out" | grep -q "crash-safety.md"'

# samples/embed_model.c: a model's streamed answer, its sources and how it ended
PKG_CONFIG_PATH="$LIB/pkgconfig" cc -Wall -Wextra -o "$T/embed_model" "$SRC/samples/embed_model.c" \
  $(PKG_CONFIG_PATH="$LIB/pkgconfig" pkg-config --cflags --libs docq) -lpthread -Wl,-rpath,"$LIB"
check "embed_model builds with pkg-config" '[ -x "$T/embed_model" ]'
M="${DOCQ_SHARED_DIR:-}/models/stories260K.gguf"
if [ -f "$M" ]; then
  out=$("$T/embed_model" "$T/idx1" "$M" "What happens after a crash?")
  check "embed_model answers with the model, lists the sources, says it stopped at n_predict" \
    'printf "%s" "$out" | grep -q "crash-safety.md" && printf "%s" "$out" | grep -q " 128 generated; stopped at n_predict"'
else
  echo "skip: embed_model's run needs DOCQ_SHARED_DIR with models/stories260K.gguf"
fi

# samples/chat_model.c: a conversation through docq_chat, two turns
PKG_CONFIG_PATH="$LIB/pkgconfig" cc -Wall -Wextra -o "$T/chat_model" "$SRC/samples/chat_model.c" \
  $(PKG_CONFIG_PATH="$LIB/pkgconfig" pkg-config --cflags --libs docq) -Wl,-rpath,"$LIB"
check "chat_model builds with pkg-config" '[ -x "$T/chat_model" ]'
if [ -f "$M" ]; then
  out=$(printf 'Once upon a time\nThe dog ran\n' | "$T/chat_model" "$M" "Tell a story.")
  check "chat_model answers two turns, the second over the whole conversation" \
    '[ "$(printf "%s\n" "$out" | grep -c "^assistant> ")" = 2 ] && printf "%s" "$out" | grep -q "^chat template: plain" && [ "$(printf "%s\n" "$out" | grep -o "^([0-9]*" | tr -d "(" | sort -n | head -1)" -lt "$(printf "%s\n" "$out" | grep -o "^([0-9]*" | tr -d "(" | sort -n | tail -1)" ]'
else
  echo "skip: chat_model's run needs DOCQ_SHARED_DIR with models/stories260K.gguf"
fi

# find_package, static: the installed package must not point back into this
# tree (a consumer builds after the source folder is gone)
check "CMake package names nothing in the build or source tree" \
  '! grep -l -e "$SRC/" -e "$BUILD/" "$LIB"/cmake/docq/*.cmake'
# find_package, static
mkdir -p "$T/cm"
cat > "$T/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(embed C)  # a C-only consumer: no C++ targets to lean on
find_package(docq REQUIRED)
add_executable(embed_cm "$SRC/samples/embed_minimal.c")
target_link_libraries(embed_cm PRIVATE docq::docq_static)
CM
cmake -S "$T/cm" -B "$T/cm/build" -DCMAKE_PREFIX_PATH="$P" >/dev/null 2>"$T/cm.err" && cmake --build "$T/cm/build" >/dev/null 2>>"$T/cm.err"
check "embed_minimal builds with find_package(docq) (static)" '[ -x "$T/cm/build/embed_cm" ] || { cat "$T/cm.err"; false; }'
out=$("$T/cm/build/embed_cm" "$T/idx2" "$SRC/samples/corpus" "What happens after a crash?")
check "embed_minimal (static) answers with a citation" 'printf "%s" "$out" | grep -q "crash-safety.md"'

echo "$fails failure(s)"
[ $fails -eq 0 ]
