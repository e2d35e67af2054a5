# ssi - top-level build. `make` builds every program into bin/; `make check` runs every suite.
#
# Layout conventions the rules below rely on (so a new module needs no Makefile edit):
#   ssid/main.c -> bin/ssid, fuse/main.c -> bin/gprocfs, tools/<prog>.c -> bin/<prog>,
#   tools/<prog>.sh -> bin/<prog> (shell tools, e.g. ssi-lab);
#   every other .c in db/ ssid/ migrate/ fuse/ tools/lib/ goes into build/libssi.a;
#   tests/unit/test_<name>.c -> a Check suite; tests/progs/<name>.c -> a test program;
#   tests/tools/<name>.c -> a test tool linked with the library (e.g. a misbehaving peer);
#   tests/fuzz/fuzz_<name>.c -> a libFuzzer target; tests/integration/*.sh -> lab tests;
#   tests/bench/*.sh -> benchmarks (make bench, never part of check).

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
BINDIR  ?= bin
ifeq ($(origin CC),default)
CC      := gcc
endif
FUZZ_SECONDS ?= 60

PKGS := fuse3 libssh sqlite3 inih ncurses check libcrypto

# Debian 12 packages for build, tests, fuzzing, lint and demo.
DEB_PKGS := build-essential pkg-config libfuse3-dev fuse3 libssh-dev libssl-dev libsqlite3-dev sqlite3 \
	check libsubunit-dev libinih-dev libncurses-dev clang libclang-rt-14-dev cppcheck \
	clang-format iproute2 nftables procps psmisc util-linux bsdextrautils python3 bc xz-utils \
	coreutils kmod

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wno-format-nonliteral
CPPFLAGS += -D_GNU_SOURCE -I. -MMD -MP
OPTFLAGS ?= -O2 -g
# `override` so that CFLAGS given on the command line add to these instead of replacing them.
override CFLAGS := $(OPTFLAGS) -std=c11 $(WARN) -fno-strict-aliasing $(PKG_CFLAGS) $(EXTRA_CFLAGS) $(CFLAGS)
LDFLAGS  += -Wl,--as-needed $(EXTRA_LDFLAGS)
LDLIBS   += $(PKG_LIBS) -lpthread -lm

MODULE_DIRS := db ssid migrate fuse tools/lib
MAIN_SRCS   := $(wildcard ssid/main.c fuse/main.c) $(wildcard tools/*.c)
LIB_SRCS    := $(filter-out $(MAIN_SRCS),$(foreach d,$(MODULE_DIRS),$(wildcard $(d)/*.c)))
# ONLY="db/*.c ssid/ssierr.c" restricts the library to those sources: lets one module be
# built and tested in its own BUILD directory while another is mid-edit.
ifdef ONLY
LIB_SRCS    := $(filter-out $(MAIN_SRCS),$(wildcard $(ONLY)))
endif
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB         := $(BUILD)/libssi.a
# The library's source list, rewritten only when it changes (ONLY given or dropped, a module
# added or removed): the library is rebuilt then, not taken as up to date with other objects.
LIB_LIST    := $(BUILD)/libssi.srcs
$(shell mkdir -p $(BUILD) && { echo '$(LIB_SRCS)' | cmp -s - $(LIB_LIST) || echo '$(LIB_SRCS)' >$(LIB_LIST); })

prog_of = $(if $(filter ssid/main.c,$(1)),ssid,$(if $(filter fuse/main.c,$(1)),gprocfs,$(basename $(notdir $(1)))))
C_PROGS  := $(foreach s,$(MAIN_SRCS),$(BINDIR)/$(call prog_of,$(s)))
SH_PROGS := $(patsubst tools/%.sh,$(BINDIR)/%,$(wildcard tools/*.sh))
PROGS    := $(strip $(C_PROGS) $(SH_PROGS))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TPROG_SRCS := $(wildcard tests/progs/*.c)
TPROG_BINS := $(TPROG_SRCS:tests/progs/%.c=$(BUILD)/tests/progs/%)
TTOOL_SRCS := $(wildcard tests/tools/*.c)
TTOOL_BINS := $(TTOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)

ALL_C := $(shell find db ssid migrate fuse tools tests -name '*.[ch]' 2>/dev/null | sort)

.PHONY: all deps need-deps check test test-unit test-integration demo install uninstall san fuzz \
	format lint clean bench
.DEFAULT_GOAL := all
# Keep objects made through pattern-rule chains (unit test and tool objects).
.SECONDARY:

all: $(PROGS) $(UNIT_BINS) $(TPROG_BINS) $(TTOOL_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS) $(LIB_LIST)
	@mkdir -p $(@D)
	rm -f $@
	$(if $(LIB_OBJS),ar rcs $@ $(LIB_OBJS),ar rcs $@)

$(BINDIR)/ssid: $(BUILD)/ssid/main.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BINDIR)/gprocfs: $(BUILD)/fuse/main.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BINDIR)/%: $(BUILD)/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BINDIR)/%: tools/%.sh
	@mkdir -p $(@D)
	cp $< $@ && chmod 755 $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Test tools (e.g. a misbehaving peer) link the library like programs do.
$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Test programs are what checkpoint/restore and migration act on: plain, no sanitizers.
$(BUILD)/tests/progs/%: tests/progs/%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror $< -o $@ -lm

# `make check`/`make demo` first install what is missing (as root), then recurse so that
# pkg-config is evaluated again with the libraries present.
need-deps:
	@pkg-config --exists $(PKGS) && command -v fusermount3 >/dev/null && command -v nft >/dev/null \
		|| $(MAKE) --no-print-directory deps

deps:
	@if [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian packages: $(DEB_PKGS)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q --no-install-recommends $(DEB_PKGS) >/dev/null 2>&1 || \
		{ apt-get update -q && apt-get install -y -q --no-install-recommends $(DEB_PKGS); }; \
	else \
		echo "Run as root:  apt-get install -y --no-install-recommends $(DEB_PKGS)"; exit 1; \
	fi

check: need-deps
	@$(MAKE) --no-print-directory test

test: all
	@SSI_BUILD=$(BUILD) SSI_BIN=$(abspath $(BINDIR)) tests/run-tests.sh

test-unit: all
	@SSI_BUILD=$(BUILD) SSI_BIN=$(abspath $(BINDIR)) tests/run-tests.sh --unit

test-integration: all
	@SSI_BUILD=$(BUILD) SSI_BIN=$(abspath $(BINDIR)) tests/run-tests.sh --integration

demo: need-deps
	@$(MAKE) --no-print-directory all
	@SSI_BIN=$(abspath $(BINDIR)) tests/demo.sh

bench: all
	@for b in tests/bench/*.sh; do [ -e "$$b" ] || continue; echo "== $$b"; \
		SSI_BUILD=$(BUILD) SSI_BIN=$(abspath $(BINDIR)) bash $$b || exit 1; done

# The whole test suite with AddressSanitizer and UndefinedBehaviorSanitizer, in its own tree.
# (-Wno-format-truncation: at -O1 with sanitizers gcc flags every bounded snprintf that may cut
# its output; cutting is what those calls are for, and the -O2 build keeps the warning.)
san: need-deps
	@SSI_SANITIZED=1 $(MAKE) --no-print-directory BUILD=build/san BINDIR=build/san/bin \
		EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Wno-format-truncation" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" OPTFLAGS="-O1 -g" test

# libFuzzer targets: each links the library sources built with clang in build/fuzz.
FUZZ_BUILD := build/fuzz
FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -I. -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all $(PKG_CFLAGS)
FUZZ_OBJS  := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS  := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -MMD -MP -c $< -o $@
$(FUZZ_BUILD)/libssi.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libssi.a
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer $^ $(PKG_LIBS) -lpthread -lm -o $@

fuzz: need-deps
	@$(MAKE) --no-print-directory fuzz-run

.PHONY: fuzz-run
fuzz-run: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$${f##*/fuzz_}; \
		mkdir -p $(FUZZ_BUILD)/corpus/$$n $(FUZZ_BUILD)/artifacts; \
		echo "== fuzz $$n for $(FUZZ_SECONDS) s (seed corpus tests/fuzz/corpus/$$n)"; \
		seed=tests/fuzz/corpus/$$n; [ -d $$seed ] || seed=; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n- \
			$(FUZZ_BUILD)/corpus/$$n $$seed 2>$(FUZZ_BUILD)/$$n.log || \
			{ tail -40 $(FUZZ_BUILD)/$$n.log; exit 1; }; \
		grep -E '^#[0-9]+ *DONE|stat::number_of_executed_units|cov:' $(FUZZ_BUILD)/$$n.log | tail -2; \
	done

format:
	clang-format -i $(ALL_C)

lint:
	@clang-format --dry-run -Werror $(ALL_C)
	cppcheck -q --std=c11 --enable=warning,style,performance,portability --error-exitcode=1 \
		--inline-suppr --suppress=missingIncludeSystem --suppress=unusedFunction \
		-D_GNU_SOURCE -D__x86_64__ -I. $(filter -I%,$(PKG_CFLAGS)) $(ALL_C)
	@echo "lint: clean"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/lib/systemd/system
	$(if $(PROGS),install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/)
	for m in docs/man/*.1; do [ -e "$$m" ] && install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man1/; done; true
	for m in docs/man/*.8; do [ -e "$$m" ] && install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man8/; done; true
	[ ! -e docs/ssid.service ] || sed 's|@BINDIR@|$(PREFIX)/bin|g' docs/ssid.service \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/ssid.service

uninstall:
	rm -f $(foreach p,$(PROGS),$(DESTDIR)$(PREFIX)/bin/$(notdir $(p)))
	rm -f $(patsubst docs/man/%,$(DESTDIR)$(PREFIX)/share/man/man1/%,$(wildcard docs/man/*.1))
	rm -f $(patsubst docs/man/%,$(DESTDIR)$(PREFIX)/share/man/man8/%,$(wildcard docs/man/*.8))
	rm -f $(DESTDIR)$(PREFIX)/lib/systemd/system/ssid.service

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
