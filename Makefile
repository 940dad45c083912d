# caixa: the two commands people need.
#   make          configure (Ninja) into build/ and build build/caixa
#   make check    install what is missing, build, run every test; then the
#                 ASan+UBSan build (build-asan/) and its tests; then the fuzz
#                 build (build-fuzz/, clang) running each target for FUZZ_SECONDS
#   make demo     build caixa and the default guest (Debian's kernel and
#                 busybox), boot it to a shell on this terminal (Ctrl-A X quits)
#   make guest    build only the default guest into build/default-guest
# JOBS bounds build and test parallelism (the machines have 2 cores).

JOBS ?= 2
FUZZ_SECONDS ?= 45
# Extra ctest arguments for the sanitizer build. By default it leaves out the
# Linux guest boots (label "linux"): under ASan the software CPU is ~3x slower
# and one boot alone takes minutes; `make asan ASAN_CTEST_ARGS=` runs them.
ASAN_CTEST_ARGS ?= -LE linux
# vCPU counts the Linux guest test boots with.
LINUX_CPUS ?= 1 2
DEMO_SECONDS ?= 0
CMAKE ?= cmake
CTEST ?= ctest
CTEST_FLAGS = --output-on-failure -j$(JOBS)

.PHONY: all build check test asan fuzz demo deps clean bench guest

all: build

build/build.ninja:
	$(CMAKE) -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: build/build.ninja
	$(CMAKE) --build build -j$(JOBS)

deps:
	@scripts/setup-deps.sh

test: build guest
	cd build && CAIXA_LINUX_CPUS="$(LINUX_CPUS)" $(CTEST) $(CTEST_FLAGS)

build-asan/build.ninja:
	$(CMAKE) -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIXA_SANITIZE=ON

asan: build-asan/build.ninja
	$(CMAKE) --build build-asan -j$(JOBS)
	cd build-asan && $(CTEST) $(CTEST_FLAGS) $(ASAN_CTEST_ARGS)

build-fuzz/build.ninja:
	CC=clang $(CMAKE) -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCAIXA_FUZZ=ON -DCAIXA_FUZZ_SECONDS=$(FUZZ_SECONDS)

fuzz: build-fuzz/build.ninja
	$(CMAKE) -S . -B build-fuzz -DCAIXA_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	$(CMAKE) --build build-fuzz -j$(JOBS)
	cd build-fuzz && $(CTEST) --output-on-failure -j$(JOBS) -L fuzz

check: deps
	$(MAKE) test
	$(MAKE) asan
	$(MAKE) fuzz

guest: deps
	scripts/build-guest.sh build/default-guest

demo: deps build guest
	@echo "caixa: booting the default guest (Debian's kernel, busybox); Ctrl-A X quits" >&2
	@if [ "$(DEMO_SECONDS)" -gt 0 ]; then \
		timeout --foreground $(DEMO_SECONDS) build/caixa run; s=$$?; \
		[ $$s -eq 124 ] && exit 0 || exit $$s; \
	else \
		build/caixa run; \
	fi

# caixa against QEMU TCG on the same CPU-bound guest (bench/README.md);
# a benchmark, never part of `make check`.
bench: deps build
	bench/cpu.sh build/caixa

clean:
	rm -rf build build-asan build-fuzz
