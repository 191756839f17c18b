# ScratchLM — thin wrappers over scripts/ and CMake.
#   make demo   install, build, pretrain a small GPT on the bundled data, generate from it
#   make test   install, build, run all tests
#   make bench  install, build, run the benchmarks (ScratchLM vs tiktoken / PyTorch, same machine)
BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup build demo test test-asan bench clean

all: build

setup:
	@scripts/setup

build:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: setup build
	@scripts/demo

test: setup build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory test-asan

# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer (Debug, -O1).
test-asan:
	@cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLM_SANITIZE=ON -DSLM_BUILD_BENCH=OFF \
	  -DCMAKE_CXX_FLAGS="-O1" >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	@cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

bench: setup build
	@scripts/bench

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
