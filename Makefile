# SPDX-License-Identifier: MIT
# A thin wrapper around CMake. `make run` and `make test` are all a new user needs: each
# installs missing Debian packages (make deps), configures and builds first.
BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 60
STRESS_ITERATIONS ?= 100
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test asan-test stress run bench fuzz fuzz-build format \
  format-check clean

all: build

deps:
	@sh .ci/deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same tests built with AddressSanitizer and UndefinedBehaviorSanitizer.
asan-test: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPX_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# Crash safety at length: praxisd killed with SIGKILL STRESS_ITERATIONS times in each
# scenario of tests/integration/test_crash.c (make test runs a few), then the full-disk
# tests. Each scenario prints its seed; PX_CRASH_SEED=SEED replays it.
stress: build
	cd $(BUILD) && PX_CRASH_ITERATIONS=$(STRESS_ITERATIONS) ./tests/integration_test_crash \
	  --jobs 1 --verbose
	cd $(BUILD) && ./tests/integration_test_full_disk --jobs 1 --verbose

# Starts praxisd in the foreground on the example configuration; data in ./data.
run: build
	@echo "praxisd: data in ./data, local API socket ./data/praxis.sock (Ctrl-C stops it)."
	@echo "In another terminal, from this directory, try:"
	@echo "  $(BUILD)/bin/praxis publish --practice good --title 'Cash transfers by mobile money' \\"
	@echo "      --summary 'Paying through phones reached remote households.' --tag cash --region KE"
	@echo "  $(BUILD)/bin/praxis query --text 'mobile money'"
	@$(BUILD)/bin/praxisd -c config/praxisd.conf

bench: build
	mkdir -p $(BUILD)/bench
	$(BUILD)/bin/praxis-bench --out $(BUILD)/bench/results.jsonl

fuzz-build: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPX_FUZZ=ON $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all

# Runs every fuzz target for FUZZ_SECONDS on a scratch copy of its seed corpus.
fuzz: fuzz-build
	@sh tests/fuzz/run-all.sh $(FUZZ_BUILD)/fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
