# fieldgate - one non-recursive build.
#
#   make            build build/fieldgate (optimised, with debug info)
#   make run        install missing Debian packages, build, run conf/demo.conf
#   make test       install, build, run unit tests (ASan+UBSan), integration tests,
#                   the Debian package under a real systemd (make test-systemd, root)
#                   and the arm64 build under qemu (make test-cross-arm64)
#   make test-unit  build and run the unit tests only (no apt, no root, no systemd)
#   make check T=NAME  build and run the unit and integration tests whose name
#                   contains NAME (T=test_store, T=kafka); without T, all of them;
#                   no apt, no root, no systemd
#   make bench      build and run the benchmarks (tests/bench/RESULTS.md)
#   make soak       30 minutes at 10,000 readings/s with both sinks and an ES outage:
#                   tests/bench/soak.csv and soak.png (SOAK_MINUTES=5 for a short one)
#   make chaos      mosquitto, the Kafka mock, the ES stand-in and the agent under a seeded
#                   random fault schedule (kill -9, SIGTERM, brokers down, ES 429/503/outage,
#                   broker restart, model reloads, full disk, clock stepped back), then an
#                   oracle: nothing acknowledged lost, no duplicate in the buffer or ES
#                   (tests/chaos/README.md). CHAOS_MINUTES=2 (default; 30 for the long
#                   run), CHAOS_SEED=1313 (same seed = same schedule); root for the full disk
#   make compare    the same work (100,000 queued QoS 1 readings -> 3 models -> local store
#                   -> Kafka) through fieldgate, a Python service and Node-RED, interleaved,
#                   as ratios (tests/peers/compare/README.md; COMPARE_RUNS=3)
#   make asan       build the sanitized binary and unit tests
#   make fuzz       build the libFuzzer targets (clang, ASan+UBSan, build/fuzz/) for
#                   the reading decoder, the config loader, the model loader and the
#                   ES bulk-response parser, and run each for FUZZ_SECONDS (default
#                   30; FUZZ_SECONDS=600 for a long run), two at a time, from the
#                   seeds in tests/data/fuzz/; fails on a crash, naming the input
#                   (tests/fuzz/README.md); make fuzz-build only builds them
#   make tsan       build build/tsan/fieldgate (ThreadSanitizer, -O1 -g; TSAN_CC=clang for clang)
#   make test-tsan  the MQTT, Kafka and ES integration tests (test_mqtt*, test_kafka,
#                   test_es) with build/tsan/fieldgate as the binary: any data race,
#                   lock-order inversion or thread leak fails the test (tests/tsan.supp)
#   make test-asan-int  the same tests with the ASan+UBSan binary (build/asan/fieldgate):
#                   any memory error, undefined behaviour or leak at exit fails the test
#                   (both: no apt, no root; a few minutes each, so not part of make test)
#   make test-fleet 8 agents (own gateway_id, data dir, simulator) into one 3-broker Kafka
#                   mock and one ES stand-in, read by a consumer group of 3; a broker down
#                   10 s, one agent kill -9'ed (tests/integration/test_fleet.sh, about a
#                   minute; also part of make test)
#   make valgrind   run the unit tests under valgrind
#   make models     retrain models/default from the simulator (byte-for-byte reproducible)
#   make deb        the Debian package; make test-systemd: it under a real systemd (root);
#                   make deb ARCH=arm64|armhf: cross-built for ARM gateways
#   make test-cross arm64 and armhf under qemu: unit tests, the same events as amd64,
#                   the packages, the arm64 one under systemd (ARM section below)
#   make clean
#
# Unit-test binaries find their fixtures from any working directory
# (build/asan/tests/test_store runs as well as tests/run.sh test_store).
# Quiet by default; V=1 shows the full commands.

VERSION := 0.1.0
CC ?= cc
PREFIX ?= /usr/local

ifeq ($(V),1)
Q :=
else
Q := @
endif

CPPFLAGS += -I. -D_GNU_SOURCE -DFIELDGATE_VERSION='"$(VERSION)"'
# 64-bit off_t and ino_t on 32-bit targets too (armhf): a buffer or model file
# past 2 GiB, readdir() on a file system with 64-bit inode numbers. (No-op on
# 64-bit targets. time_t stays 32-bit on armhf: the libraries' ABI in bookworm.)
CPPFLAGS += -D_FILE_OFFSET_BITS=64
CFLAGS ?= -O2 -g
WARN := -std=c11 -Wall -Wextra -Wshadow -Wformat=2 -Werror
DEPFLAGS = -MMD -MP
# float-cast-overflow: gcc leaves it out of "undefined" (clang has it), and an
# out-of-range double converted to an integer is what input checks must stop.
SAN := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all
TSAN := -fsanitize=thread -fno-omit-frame-pointer
TSAN_CC ?= $(CC)
LDLIBS := -lsqlite3 -lcjson -linih -lpaho-mqtt3as -lrdkafka -lcurl -lmicrohttpd -lsystemd -lcrypto -lpthread -lm

# Every module is a set of .c files; agent/main.c holds only main().
LIB_SRC := $(wildcard agent/*.c sensors/*.c models/*.c store/*.c sinks/*.c)
LIB_SRC := $(filter-out agent/main.c,$(LIB_SRC))
# Generated: the Elasticsearch mappings built into the binary.
GEN_SRC := build/gen/es_mappings.c
LIB_SRC += $(GEN_SRC)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)

OBJ := $(LIB_SRC:%.c=build/obj/%.o)
ASAN_OBJ := $(LIB_SRC:%.c=build/asan/%.o)
TSAN_OBJ := $(LIB_SRC:%.c=build/tsan/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=build/bench/%)
# Test peers: stand-ins for the servers the sinks talk to (tests/peers/).
PEER_BIN := build/peers/kafka_mock build/peers/clockshift.so

.PHONY: all run test test-unit check bench soak chaos compare asan valgrind models deps clean install peers deb test-systemd fuzz fuzz-build tsan test-tsan test-asan-int
.SECONDARY:
all: build/fieldgate

build/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) -c $< -o $@

build/asan/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC-SAN  $<")
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(SAN) $(WARN) $(DEPFLAGS) -c $< -o $@

build/tsan/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC-TSAN $<")
	$(Q)$(TSAN_CC) $(CPPFLAGS) -O1 -g $(TSAN) $(WARN) $(DEPFLAGS) -c $< -o $@

# The unit tests chdir to their source folder at start (tests/unit/check.h).
build/asan/tests/unit/%.o build/obj/tests/unit/%.o: CPPFLAGS += -DFIELDGATE_SRCDIR='"$(CURDIR)"'

# packaging/elasticsearch/mappings.json as a C string (es_mappings_json[]).
build/gen/es_mappings.c: packaging/elasticsearch/mappings.json
	@mkdir -p $(@D)
	$(Q)awk 'BEGIN { print "/* Generated from $< by the Makefile: edit that file instead. */"; \
	  print "extern const char es_mappings_json[];"; print "const char es_mappings_json[] =" } \
	  { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); print "\t\"" $$0 "\\n\"" } END { print ";" }' $< >$@

build/libfieldgate.a: $(OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

build/asan/libfieldgate.a: $(ASAN_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

build/tsan/libfieldgate.a: $(TSAN_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

build/fieldgate: build/obj/agent/main.o build/libfieldgate.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

build/asan/fieldgate: build/asan/agent/main.o build/asan/libfieldgate.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) -g $(SAN) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# tests/tsan/c11threads.c: librdkafka's C11 threads made visible to TSan.
build/tsan/fieldgate: build/tsan/agent/main.o build/tsan/tests/tsan/c11threads.o build/tsan/libfieldgate.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(TSAN_CC) -g $(TSAN) -o $@ $^ $(LDFLAGS) $(LDLIBS)

build/asan/tests/%: build/asan/tests/unit/%.o build/asan/libfieldgate.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) -g $(SAN) -o $@ $^ $(LDFLAGS) $(LDLIBS)

build/bench/%: build/obj/tests/bench/%.o build/libfieldgate.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

asan: build/asan/fieldgate $(UNIT_BIN)
tsan: build/tsan/fieldgate

# The Kafka test peer: librdkafka's mock cluster in its own process.
build/peers/kafka_mock: tests/peers/kafka_mock.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< -lrdkafka -ldl -lpthread

# The chaos test's wall-clock shim for the agent (LD_PRELOAD; tests/chaos/).
build/peers/clockshift.so: tests/chaos/clockshift.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC -shared -o $@ $< -ldl -lpthread

peers: $(PEER_BIN)

# make compare-deps: the npm packages of make compare's Node-RED peer
# (tests/peers/compare/nodered: Node-RED, kafkajs, better-sqlite3, compiled
# against /usr/include/node since npm cannot fetch prebuilt binaries
# offline), with `npm ci` from its package-lock.json into build/compare/nodered,
# outside git. Reinstalls only when the lock file changes.
NODERED_DIR := build/compare/nodered
.PHONY: compare-deps test-compare
compare-deps: deps $(NODERED_DIR)/.installed
$(NODERED_DIR)/.installed: tests/peers/compare/nodered/package.json tests/peers/compare/nodered/package-lock.json
	@mkdir -p $(NODERED_DIR)
	$(Q)cp $^ $(NODERED_DIR)/
	$(Q)cd $(NODERED_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The peers' own tests: the Node-RED peer (needs compare-deps); the Python
# peer's parity test is part of make test.
test-compare: all peers compare-deps
	$(Q)tests/peers/compare/test_nodered.sh

# Installs only what is missing (apt-get; sudo when not root).
deps:
	$(Q)packaging/install-deps.sh

run: deps all
	build/fieldgate run -c conf/demo.conf

# The whole suite: unit and integration tests, then the package under a real
# systemd (needs root, as in CI); both run even if the first fails.
# Then fieldgate for arm64 under qemu (make test-cross-arm64: about 46 s here).
# The builds run on every core (BUILD_JOBS), after deps (a clean machine has
# no compiler before it).
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps
	$(Q)$(MAKE) --no-print-directory -j$(BUILD_JOBS) all asan peers fuzz-build
	$(Q)tests/run.sh; r=$$?; $(MAKE) --no-print-directory test-systemd || r=1; \
	  $(MAKE) --no-print-directory test-cross-arm64 || r=1; exit $$r

test-unit: asan
	$(Q)tests/run.sh unit/

# The fuzz targets only when their test may run (no T, or T names it).
check: all asan peers $(if $(T),$(if $(findstring fuzz,$(T)),fuzz-build),fuzz-build)
	$(Q)tests/run.sh $(T)

# Sanitizers on the integration tests: every test of SAN_TESTS runs the
# given binary (FIELDGATE) for the agent, status, check-config and the
# simulate publisher; tests/run.sh fails a test on any report the
# sanitizer writes (log_path), background agents included. FIELDGATE_SLOW
# scales the tests' waits (TSan runs our code 5-15 times slower).
# (Not the peers' own tests, test_kafka_peer and test_es_standin: they do not
# run fieldgate.)
SAN_TESTS := integration/test_mqtt integration/test_kafka$$ integration/test_es$$
TSAN_OPTIONS_TEST := halt_on_error=1:exitcode=66:second_deadlock_stack=1:history_size=4:suppressions=$(CURDIR)/tests/tsan.supp
ASAN_OPTIONS_TEST := detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1
UBSAN_OPTIONS_TEST := print_stacktrace=1:halt_on_error=1
# How many times slower than build/fieldgate (on a loaded 2-core machine, TSan
# needed 8 for test_es's Kafka backlog); make test-tsan TSAN_SLOW=N to change.
TSAN_SLOW ?= 8
ASAN_SLOW ?= 2

test-tsan: tsan peers
	$(Q)FIELDGATE=$(CURDIR)/build/tsan/fieldgate FIELDGATE_SLOW=$(TSAN_SLOW) TSAN_OPTIONS=$(TSAN_OPTIONS_TEST) \
	  tests/run.sh $(SAN_TESTS)

test-asan-int: asan peers
	$(Q)FIELDGATE=$(CURDIR)/build/asan/fieldgate FIELDGATE_SLOW=$(ASAN_SLOW) ASAN_OPTIONS=$(ASAN_OPTIONS_TEST) \
	  UBSAN_OPTIONS=$(UBSAN_OPTIONS_TEST) tests/run.sh $(SAN_TESTS)

.PHONY: test-fleet
test-fleet: all peers
	$(Q)tests/run.sh 'integration/test_fleet$$'

bench: all $(BENCH_BIN) peers
	$(Q)tests/bench/run.sh

soak: deps all peers
	$(Q)tests/bench/run.sh soak

compare: deps all peers compare-deps
	$(Q)tests/peers/compare/run.sh

CHAOS_MINUTES ?= 2
CHAOS_SEED ?= 1313
chaos: deps all peers
	$(Q)/usr/bin/python3 tests/chaos/chaos.py --minutes $(CHAOS_MINUTES) --seed $(CHAOS_SEED) \
	  --table build/chaos-table.md

# --- fuzzing (tests/fuzz/README.md) ------------------------------------------
# The library again, built by clang with coverage for libFuzzer
# (-fsanitize=fuzzer-no-link) and ASan+UBSan, into build/fuzz/; each target
# is one tests/fuzz/fuzz_NAME.c linked with -fsanitize=fuzzer. The same
# files, built by gcc without their LLVMFuzzerTestOneInput, make the unit
# test test_fuzz that replays tests/data/fuzz/ (make test-unit).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := reading config model es_bulk
FUZZ_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
FUZZ_BIN := $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC-FUZZ $<")
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN) $(WARN) $(DEPFLAGS) -c $< -o $@

build/fuzz/obj/tests/fuzz/%.o: CPPFLAGS += -DFUZZ_LIBFUZZER

build/fuzz/libfieldgate.a: $(FUZZ_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o build/fuzz/libfieldgate.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(FUZZ_CC) -g -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LDFLAGS) $(LDLIBS)

build/asan/tests/test_fuzz: build/asan/tests/unit/test_fuzz.o \
		$(FUZZ_TARGETS:%=build/asan/tests/fuzz/fuzz_%.o) build/asan/libfieldgate.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) -g $(SAN) -o $@ $^ $(LDFLAGS) $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

# (test_fuzz also needs the fuzz targets' entry points: every test gets them.)
VALGRIND_FUZZ_OBJ := $(FUZZ_TARGETS:%=build/obj/tests/fuzz/fuzz_%.o)
valgrind: $(UNIT_SRC:tests/unit/%.c=build/obj/tests/unit/%.o) $(VALGRIND_FUZZ_OBJ) build/libfieldgate.a
	$(Q)for t in $(UNIT_SRC:tests/unit/%.c=%); do \
	  $(CC) $(CFLAGS) -o build/$$t build/obj/tests/unit/$$t.o $(VALGRIND_FUZZ_OBJ) build/libfieldgate.a $(LDLIBS) && \
	  valgrind -q --error-exitcode=99 --leak-check=full build/$$t || exit 1; done

# The shipped models: trained on simulated data with fixed seeds, so this
# reproduces models/default byte for byte.
MODEL_DATA := --sensors 100 --rate 0.01 --count 200000 --seed 7 --start 2026-01-05T00:00:00Z
models: build/fieldgate
	$(Q)build/fieldgate simulate $(MODEL_DATA) --out build/train.jsonl
	$(Q)build/fieldgate train --data build/train.jsonl --out models/default --seed 7 \
	  --source "fieldgate simulate $(MODEL_DATA)"

install: all
	install -D -m 0755 build/fieldgate $(DESTDIR)$(PREFIX)/bin/fieldgate
	install -d $(DESTDIR)$(PREFIX)/share/fieldgate/models
	install -m 0644 models/default/*.json models/default/SHA256SUMS $(DESTDIR)$(PREFIX)/share/fieldgate/models/
	install -m 0644 models/import_sklearn.py $(DESTDIR)$(PREFIX)/share/fieldgate/import_sklearn.py

clean:
	rm -rf build var

-include $(shell find build -name '*.d' 2>/dev/null)

# --- Debian package and the real-systemd test --------------------------------
#   make deb           build/fieldgate_$(VERSION)-REV_ARCH.deb, checked by lintian
#   make deb ARCH=arm64|armhf  the same, cross-built (dpkg-buildpackage -a ARCH,
#                      Debian's cross compiler, the ARCH -dev packages: installed by
#                      packaging/install-cross-deps.sh ARCH)
#   make test-systemd  boot Debian bookworm in systemd-nspawn, install the .deb,
#                      run fieldgate@demo under real systemd (root; tests/systemd/)
# dpkg-buildpackage wants debian/ at the top of the tree and writes next to
# it, so the package is built in a copy (build/deb-src/fieldgate-VERSION,
# with packaging/debian as its debian/): the source tree stays clean and
# build/ here is left alone (the copy is removed once the .deb is out).
DEB_SRC := build/deb-src/fieldgate-$(VERSION)
HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
ARCH ?= $(HOST_ARCH)
ifneq ($(ARCH),$(HOST_ARCH))
DEB_CROSS := -a$(ARCH)
DEB_DEPS := packaging/install-cross-deps.sh $(ARCH)
else
DEB_CROSS :=
DEB_DEPS := true
endif

deb: deps
	$(Q)$(DEB_DEPS)
	$(Q)rm -rf build/deb-src && mkdir -p $(DEB_SRC)
	$(Q)tar -cf - --exclude=./build --exclude=./var --exclude=./.git . | tar -xf - -C $(DEB_SRC)
	$(Q)cp -a packaging/debian $(DEB_SRC)/debian
	$(Q)v=$$(dpkg-parsechangelog -l packaging/debian/changelog -S Version); \
	  case "$$v" in $(VERSION)-*) ;; *) echo "packaging/debian/changelog: version $$v does not match VERSION $(VERSION) in the Makefile; add a changelog entry (dch -v $(VERSION)-1)" >&2; exit 1;; esac
	@echo "  DPKG    $(DEB_SRC) $(DEB_CROSS) (log: build/deb-src/build.log)"
	$(Q)cd $(DEB_SRC) && dpkg-buildpackage -b -uc -us -Jauto $(DEB_CROSS) > ../build.log 2>&1 || \
	  { tail -40 ../build.log >&2; rm -rf $(CURDIR)/$(DEB_SRC); exit 1; }
	$(Q)rm -f build/fieldgate_*_$(ARCH).deb && cp build/deb-src/fieldgate_*_$(ARCH).deb build/
	$(Q)rm -rf $(DEB_SRC) # its build/*.d would be picked up by the -include above
	@echo "  LINTIAN $$(ls build/fieldgate_*_$(ARCH).deb)"
	$(Q)lintian --fail-on error,warning build/deb-src/fieldgate_*_$(ARCH).changes

test-systemd: deb
	$(Q)tests/systemd/test_systemd.sh build/fieldgate_*_$(ARCH).deb

# --- ARM gateways: cross builds, their unit tests under qemu ------------------
#   make cross ARCH=arm64|armhf  build/cross/ARCH/fieldgate and its unit tests
#                      (build/cross/ARCH/tests/), with Debian's cross compiler
#   make test-cross    for arm64 and armhf: the unit tests under qemu-user, the
#                      smoke test (tests/cross/test_cross.sh: the same events
#                      as amd64, byte for byte), make deb ARCH=..., and the arm64
#                      package under systemd in an arm64 root (tests/systemd/)
#   make test          runs the arm64 unit tests and smoke test (test-cross-arm64)
# packaging/install-cross-deps.sh ARCH installs the cross compiler, the
# ARCH -dev packages (multiarch) and qemu-user-static.
# The objects are built as build/fieldgate's are (same CFLAGS, no sanitizer:
# ASan does not run under qemu-user); the unit tests also get UBSan
# (CROSS_SAN), which does. -std=c11 (WARN) keeps gcc from fusing multiply-adds
# (-ffp-contract=off), which arm64 has and x86-64 code does not use: built with
# -ffp-contract=fast, test_cross.sh fails on features, predict and train.
CROSS_ARCHS := arm64 armhf
CROSS_TRIPLET_arm64 := aarch64-linux-gnu
CROSS_TRIPLET_armhf := arm-linux-gnueabihf
CROSS_QEMU_arm64 := qemu-aarch64-static
CROSS_QEMU_armhf := qemu-arm-static
CROSS_SAN := -fsanitize=undefined,float-cast-overflow -fno-sanitize-recover=all
UNIT_NAMES := $(UNIT_SRC:tests/unit/%.c=%)

# cross_rules ARCH: the object, library, binary and unit-test rules for ARCH.
define cross_rules
build/cross/$(1)/obj/%.o: %.c
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  CC-$(1) $$<")
	$$(Q)$$(CROSS_TRIPLET_$(1))-gcc $$(CPPFLAGS) $$(CFLAGS) $$(WARN) $$(DEPFLAGS) -c $$< -o $$@
build/cross/$(1)/san/%.o: %.c
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  CC-$(1) $$< (UBSan)")
	$$(Q)$$(CROSS_TRIPLET_$(1))-gcc $$(CPPFLAGS) -O1 -g $$(CROSS_SAN) $$(WARN) $$(DEPFLAGS) -c $$< -o $$@
build/cross/$(1)/san/tests/unit/%.o: CPPFLAGS += -DFIELDGATE_SRCDIR='"$$(CURDIR)"'
build/cross/$(1)/libfieldgate.a: $$(LIB_SRC:%.c=build/cross/$(1)/obj/%.o)
	$$(Q)rm -f $$@ && $$(CROSS_TRIPLET_$(1))-ar rcs $$@ $$^
build/cross/$(1)/san/libfieldgate.a: $$(LIB_SRC:%.c=build/cross/$(1)/san/%.o)
	$$(Q)rm -f $$@ && $$(CROSS_TRIPLET_$(1))-ar rcs $$@ $$^
build/cross/$(1)/fieldgate: build/cross/$(1)/obj/agent/main.o build/cross/$(1)/libfieldgate.a
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CROSS_TRIPLET_$(1))-gcc $$(CFLAGS) -o $$@ $$^ $$(LDFLAGS) $$(LDLIBS)
# (every unit test gets the fuzz targets' entry points, as for make valgrind)
build/cross/$(1)/tests/%: build/cross/$(1)/san/tests/unit/%.o \
		$$(FUZZ_TARGETS:%=build/cross/$(1)/san/tests/fuzz/fuzz_%.o) build/cross/$(1)/san/libfieldgate.a
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CROSS_TRIPLET_$(1))-gcc -g $$(CROSS_SAN) -o $$@ $$^ $$(LDFLAGS) $$(LDLIBS)
# The inference benchmark, for an emulated sanity check (RESULTS.md §19).
build/cross/$(1)/bench/%: build/cross/$(1)/obj/tests/bench/%.o build/cross/$(1)/libfieldgate.a
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CROSS_TRIPLET_$(1))-gcc $$(CFLAGS) -o $$@ $$^ $$(LDFLAGS) $$(LDLIBS)
.PHONY: cross-$(1) test-cross-$(1)
cross-$(1): build/cross/$(1)/fieldgate $$(UNIT_NAMES:%=build/cross/$(1)/tests/%)
# The toolchain first, then the build (a recursive make: the deps must be
# there before make looks at the cross rules' prerequisites).
test-cross-$(1): all
	$$(Q)packaging/install-cross-deps.sh $(1)
	$$(Q)$$(MAKE) --no-print-directory -j$$(BUILD_JOBS) cross-$(1)
	$$(Q)tests/cross/test_cross.sh $(1)
endef
$(foreach a,$(CROSS_ARCHS),$(eval $(call cross_rules,$(a))))

.PHONY: cross test-cross
cross: cross-$(ARCH)
# The whole matrix: each architecture's unit tests and smoke test, its
# package (make deb ARCH=...) and the smoke test on the packaged binary
# (unpacked outside build/: its sysusers.d would match the -include of *.d),
# then the arm64 package under systemd in a booted arm64 root.
test-cross: all
	$(Q)r=0; for a in $(CROSS_ARCHS); do \
	  $(MAKE) --no-print-directory test-cross-$$a || r=1; \
	  $(MAKE) --no-print-directory deb ARCH=$$a || { r=1; continue; }; \
	  d=$$(mktemp -d /tmp/fieldgate-deb.XXXXXX) && dpkg-deb -x build/fieldgate_*_$$a.deb $$d && \
	  CROSS_UNIT=0 tests/cross/test_cross.sh $$a $$d/usr/bin/fieldgate || r=1; rm -rf "$$d"; \
	done; \
	$(MAKE) --no-print-directory test-systemd ARCH=arm64 || r=1; exit $$r
