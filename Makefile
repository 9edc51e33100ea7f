# sluice — one non-recursive Makefile.
#   make            build ./sluice (release: -O2, core libraries linked statically so that
#                   an exec of sluice — the shim, a built-in step — stays cheap)
#   make test       build with -fsanitize=address,undefined and run every test
#   make demo       install what is missing, build, run the example pipeline
#   make deps       install the Debian packages sluice needs (as root, or via sudo)
#   make fuzz       build the libFuzzer target for the pipeline loader (clang)
#   make bench      run the benchmarks under bench/ (bench/slurm.sh skips, saying so, where no
#                   Slurm cluster answers); make bench-slurm runs only that one
#   make slurm-up   start a single-node Slurm cluster here for tests/slurm/ (root; installs
#                   Debian's slurmctld, slurmd, munge when missing); make slurm-down stops it

PREFIX ?= /usr/local
CC ?= cc
PKG_CONFIG ?= pkg-config

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -g $(WARN)
CFLAGS ?= -O2
LIBDIR := $(shell $(PKG_CONFIG) --variable=libdir libuv 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)
# Static core libraries: a dynamically linked binary with all of sluice's libraries costs
# ~7 ms to exec here, against ~1 ms with these linked in (measured, see README).
# libcurl and libgvc are loaded with dlopen() by their gatekeeper files, only when used.
STATIC_LIBS := -Wl,-Bstatic -lyaml -lsqlite3 -ljansson -lcrypto -lcsv -lhttp_parser -Wl,-Bdynamic $(LIBDIR)/libuv_a.a
LDLIBS := $(STATIC_LIBS) -lpthread -ldl -lm
# A position-dependent binary has ~50x fewer relocations to apply at every exec of the shim.
RELEASE_LDFLAGS := -no-pie

DEPS := libyaml-dev libuv1-dev libsqlite3-dev libcurl4-openssl-dev libcmocka-dev \
	libjansson-dev libhttp-parser-dev libcsv-dev libssl-dev libgraphviz-dev libjs-chart.js \
	pkg-config build-essential clang libclang-rt-14-dev ninja-build hyperfine python3 \
	python3-sklearn curl sqlite3

SRC := $(sort $(wildcard util/*.c pipeline/*.c scheduler/*.c executor/*.c store/*.c web/*.c cli/*.c))
LIB_SRC := $(filter-out cli/main.c,$(SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

REL := build/rel
ASAN := build/asan
REL_OBJ := $(SRC:%.c=$(REL)/%.o)
ASAN_OBJ := $(SRC:%.c=$(ASAN)/%.o)
ASAN_LIB_OBJ := $(LIB_SRC:%.c=$(ASAN)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(ASAN)/tests/%)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# The page's files, embedded in the binary: web/embed.sh writes build/gen/web/assets.c from
# web/static/* and Debian's Chart.js (left out when libjs-chart.js is not installed: the page
# then draws no charts and says so). Its object joins every link of the library objects.
GENERATED := build/gen/web/assets.c
STATIC_FILES := $(sort $(wildcard web/static/*))
CHARTJS := $(firstword $(wildcard /usr/share/javascript/chart.js/chart.umd.js \
	/usr/share/javascript/chart.js/chart.min.js /usr/share/javascript/chart.js/chart.js))
REL_OBJ += $(GENERATED:%.c=$(REL)/%.o)
ASAN_OBJ += $(GENERATED:%.c=$(ASAN)/%.o)
ASAN_LIB_OBJ += $(GENERATED:%.c=$(ASAN)/%.o)

.PHONY: all test unit integration demo deps test-deps install fuzz fuzz-run bench bench-slurm clean slurm-up slurm-down
all: sluice

sluice: $(REL_OBJ)
	$(CC) $(LDFLAGS) $(RELEASE_LDFLAGS) -o $@ $^ $(LDLIBS)

$(REL)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(ASAN)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 $(SAN) -MMD -MP -c -o $@ $<

$(GENERATED): web/embed.sh $(STATIC_FILES) $(CHARTJS)
	@mkdir -p $(@D)
	web/embed.sh $@ $(STATIC_FILES) $(if $(CHARTJS),chart.js=$(CHARTJS))

$(ASAN)/sluice: $(ASAN_OBJ)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

$(ASAN)/tests/%: tests/unit/%.c $(ASAN_LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 $(SAN) -MMD -MP -MF $@.d -MT $@ -o $@ $< $(ASAN_LIB_OBJ) $(LDLIBS) -lcmocka

test: $(ASAN)/sluice $(UNIT_BIN) sluice
	@SLUICE_BIN=$(CURDIR)/$(ASAN)/sluice UNIT_BINS="$(UNIT_BIN)" FUZZ_SECONDS=$${FUZZ_SECONDS:-60} \
		tests/run.sh

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || exit 1; done

integration: $(ASAN)/sluice
	@SLUICE_BIN=$(CURDIR)/$(ASAN)/sluice UNIT_BINS= FUZZ_SECONDS=0 tests/run.sh

demo: 
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory sluice
	@./dags/demo.sh

# What `make test` needs beyond the build: a browser for the page's tests (driven by
# playwright-core from npm, never a downloaded browser), node, wrk for bench/web.sh.
# Checked by command, not by package: a machine may have node and npm from elsewhere
# (nodesource's nodejs ships npm and conflicts with Debian's npm package).
TEST_DEPS := chromium:chromium node:nodejs npm:npm wrk:wrk

test-deps: deps
	@missing=$$(for cp in $(TEST_DEPS); do command -v $${cp%%:*} >/dev/null || echo $${cp#*:}; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

install: sluice
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 sluice $(DESTDIR)$(PREFIX)/bin/sluice

FUZZ_SRC := $(filter util/% pipeline/%,$(LIB_SRC))
build/fuzz/fuzz_load: tests/fuzz/fuzz_load.c $(FUZZ_SRC)
	@mkdir -p $(@D)
	clang $(BASE_CFLAGS) -O1 -fsanitize=fuzzer,address,undefined -Wno-unknown-warning-option -o $@ $^ \
		-Wl,-Bstatic -lyaml -Wl,-Bdynamic -lcrypto -lm
fuzz: build/fuzz/fuzz_load

bench: sluice
	bench/load.sh
	bench/dispatch.sh
	bench/slurm.sh
	bench/web.sh

# The Slurm executor against a plain sbatch loop, on the cluster of `make slurm-up`.
bench-slurm: sluice
	bench/slurm.sh

clean:
	rm -rf build sluice

slurm-up:
	bash tests/slurm/cluster-up.sh

slurm-down:
	bash tests/slurm/cluster-down.sh

-include $(REL_OBJ:.o=.d) $(ASAN_OBJ:.o=.d) $(UNIT_BIN:=.d)
