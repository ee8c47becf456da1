# Thin wrapper over CMake. The build is CMakeLists.txt; this file only names
# the steps a new user runs. See README "Quick start".
BUILD     ?= build
ASANBUILD ?= build-asan
TSANBUILD ?= build-tsan
SHARED    ?= $(abspath ../shared)
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps build demo test test-fast asan tsan isa install clean bench

all: build

deps:
	@bash scripts/setup-deps.sh

# Configured every time (cheap), so SHARED=... or CMAKE_ARGS=... given later
# reach an existing build folder too.
build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOCQ_SHARED_DIR=$(SHARED) $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

# Index samples/ into a throwaway index and ask one question.
demo: build
	@rm -rf $(BUILD)/demo-index
	$(BUILD)/docq --db $(BUILD)/demo-index index samples/corpus
	$(BUILD)/docq --db $(BUILD)/demo-index ask "What does the pipeline do after a crash?"

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite, then once more under AddressSanitizer + UBSan, then the
# threaded tests under ThreadSanitizer, then the suite built for other CPUs.
test: test-fast asan tsan isa

asan: deps
	cmake -S . -B $(ASANBUILD) -DCMAKE_BUILD_TYPE=Debug -DDOCQ_SANITIZE=ON -DDOCQ_SHARED_DIR=$(SHARED) $(CMAKE_ARGS)
	cmake --build $(ASANBUILD) -j $(JOBS)
	cd $(ASANBUILD) && DOCQ_TEST_LEVEL=asan ctest --output-on-failure -j $(JOBS) -LE slow

# A race report makes the test exit 66 (TSan's default), so it fails. Run
# without address randomization (setarch -R): GCC 12's TSan cannot start on
# kernels that randomize mmap with more bits than it expects.
NORANDOM := $(shell setarch $$(uname -m) -R true 2>/dev/null && echo "setarch $$(uname -m) -R")
tsan: deps
	cmake -S . -B $(TSANBUILD) -DCMAKE_BUILD_TYPE=Debug -DDOCQ_TSAN=ON -DDOCQ_SHARED_DIR=$(SHARED) $(CMAKE_ARGS)
	cmake --build $(TSANBUILD) -j $(JOBS)
	cd $(TSANBUILD) && DOCQ_TEST_LEVEL=tsan $(NORANDOM) ctest --output-on-failure -j $(JOBS) -L tsan

# A -march=native build has one instruction set, so a machine with AVX-512
# never builds the AVX2 paths (most users' CPUs) or the plain C ones. Each
# level here is built without -march=native and runs the unit, API and
# fuzz-corpus tests (the CLI scripts add no kernel path of their own, only
# timing-sensitive checks); the build folders are $(BUILD)-<level>.
# x86-64-v3 (AVX2, FMA, F16C) is a build for such a machine, every file
# compiled for it. x86-64 is the portable build: its kernels exist for four
# instruction sets, chosen at run time (src/engine/isa.c), so its tests run
# four times, with the CPU's choice and with DOCQ_KERNELS=generic, avx2 and
# avx512 (the CPU's choice is avx512vbmi on Zen 4/5 and Ice Lake and later),
# then some of them on an emulated CPU without AVX (scripts/test-emulated.sh,
# where qemu-user is installed: CI installs it).
ISA_LEVELS ?= $(if $(filter x86_64,$(shell uname -m)),x86-64-v3 x86-64)
isa: deps
	@set -e; for l in $(ISA_LEVELS); do \
	  echo "== build and test for -march=$$l"; \
	  dispatch=$$([ $$l = x86-64 ] && echo ON || echo OFF); \
	  cmake -S . -B $(BUILD)-$$l -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOCQ_NATIVE=OFF -DCMAKE_C_FLAGS=-march=$$l \
	    -DDOCQ_DISPATCH=$$dispatch -DDOCQ_SHARED_DIR=$(SHARED) $(CMAKE_ARGS); \
	  cmake --build $(BUILD)-$$l -j $(JOBS); \
	  if [ $$dispatch = OFF ]; then \
	    (cd $(BUILD)-$$l && ctest --output-on-failure -j $(JOBS) -E '^cli_'); \
	    $(BUILD)-$$l/docq --version | grep -q "(kernels: AVX2)" || \
	      { echo "$(BUILD)-$$l/docq --version does not say kernels: AVX2"; exit 1; }; \
	    continue; \
	  fi; \
	  for k in "" generic avx2 avx512; do \
	    echo "== -march=$$l, kernels chosen at run time, DOCQ_KERNELS=$$k"; \
	    (cd $(BUILD)-$$l && DOCQ_KERNELS=$$k ctest --output-on-failure -j $(JOBS) -E '^cli_'); \
	  done; \
	  DOCQ_KERNELS=generic $(BUILD)-$$l/docq --version | grep -q "(kernels: generic C)" || \
	    { echo "$(BUILD)-$$l/docq --version does not say kernels: generic C under DOCQ_KERNELS=generic"; exit 1; }; \
	  scripts/test-emulated.sh $(BUILD)-$$l $(SHARED); \
	done

bench: build
	$(BUILD)/bench_index $(SHARED)/data/corpora

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASANBUILD) $(TSANBUILD) $(foreach l,$(ISA_LEVELS),$(BUILD)-$(l))
