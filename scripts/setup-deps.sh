#!/usr/bin/env bash
# Install what docq needs to build and test, on Debian 12 / Ubuntu.
#
# 1. apt packages (only those missing): sqlite3 (FTS5), utf8proc, OpenBLAS,
#    FAISS, cmocka, pkg-config; python3 for the tests that parse docq's JSON
#    output with a parser other than docq's own.
# 2. FAISS's C API library (libfaiss_c). Debian's libfaiss-dev ships the C API
#    headers but not the library. If no libfaiss_c is found, this step enables
#    Debian's source packages (a deb-src entry in
#    /etc/apt/sources.list.d/docq-deb-src.sources, written once), downloads
#    the faiss source package of the *installed* version, compiles its c_api/
#    sources and archives them into .deps/lib/libfaiss_c.a, to be linked with
#    the installed libfaiss.a. Nothing from it is copied into the repository.
#
# Idempotent: running it again does nothing when all is in place.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
deps="$here/.deps"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

pkgs="build-essential cmake pkg-config libsqlite3-dev libutf8proc-dev libopenblas-dev libfaiss-dev libcmocka-dev dpkg-dev python3"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing missing packages:$missing"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi

# A system libfaiss_c wins (shared or static), as does an earlier build here
# made with NDEBUG (the stamp): without it the C API prints every FAISS
# exception to stderr, raw, besides returning it (a full disk showed
# "Error in void faiss::write_index(...)" above docq's own message).
for d in /usr/lib /usr/local/lib /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu; do
  if ls "$d"/libfaiss_c.* >/dev/null 2>&1; then
    echo "setup: using FAISS C API library in $d"; exit 0
  fi
done
if [ -f "$deps/lib/libfaiss_c.a" ] && [ -f "$deps/lib/libfaiss_c.ndebug" ]; then
  echo "setup: using FAISS C API library in $deps/lib"; exit 0
fi

ver=$(dpkg-query -W -f='${source:Version}' libfaiss-dev)
echo "setup: libfaiss_c not found; building FAISS $ver c_api/ from Debian's source package"
src_list=/etc/apt/sources.list.d/docq-deb-src.sources
if ! apt-get source --print-uris "faiss=$ver" >/dev/null 2>&1; then
  if [ ! -f "$src_list" ]; then
    . /etc/os-release
    codename=${VERSION_CODENAME:-bookworm}
    if [ "${ID:-debian}" = ubuntu ]; then
      uris="http://archive.ubuntu.com/ubuntu"; comps="main universe"
      suites="$codename $codename-updates"
      keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg
    else
      uris="http://deb.debian.org/debian"; comps="main"
      suites="$codename $codename-updates"
      keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    fi
    echo "setup: enabling source packages in $src_list"
    printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\nSigned-By: %s\n' \
      "$uris" "$suites" "$comps" "$keyring" | $SUDO tee "$src_list" >/dev/null
  fi
  $SUDO apt-get update -q
fi

work="$deps/src"
rm -rf "$work"; mkdir -p "$work" "$deps/lib"
(cd "$work" && apt-get source --download-only "faiss=$ver" >/dev/null && dpkg-source -x faiss_*.dsc faiss >/dev/null)
capi="$work/faiss/c_api"
[ -d "$capi" ] || { echo "setup: no c_api/ in the faiss source package" >&2; exit 1; }
objs=()
for f in "$capi"/*.cpp "$capi"/impl/*.cpp "$capi"/utils/*.cpp; do
  [ -f "$f" ] || continue
  o="$work/$(basename "${f%.cpp}").o"
  # Compile against the *installed* headers so the library matches libfaiss.a.
  g++ -std=c++17 -O2 -DNDEBUG -fPIC -fopenmp -I/usr/include -I"$work/faiss" -c "$f" -o "$o"
  objs+=("$o")
done
rm -f "$deps/lib/libfaiss_c.a"
ar rcs "$deps/lib/libfaiss_c.a" "${objs[@]}"
touch "$deps/lib/libfaiss_c.ndebug"
rm -rf "$work"
echo "setup: built $deps/lib/libfaiss_c.a (${#objs[@]} objects)"
