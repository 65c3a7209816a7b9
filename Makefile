# twowayd — one non-recursive GNU Makefile.
#
#   make                 build build/twowayd
#   make check           install missing dependencies, build, run every test
#   make check SANITIZE=address,undefined   the same under ASan/UBSan (build/sanitize/)
#   make demo            build and run the demo
#   make deps            install build and test dependencies (root), or print the command
#   make install         honours DESTDIR, PREFIX, SYSCONFDIR, ...
#   make lint            clang-format check, banned-function grep, check-layers, check-exports
#   make check-exports   every exported function has a caller outside the tests
#   make check-layers    no #include goes up a layer (tests/check-layers)
#   V=1                  show full commands; WERROR=1 turns warnings into errors

PREFIX      ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
SBINDIR     ?= $(EXEC_PREFIX)/sbin
BINDIR      ?= $(EXEC_PREFIX)/bin
SYSCONFDIR  ?= /etc
DATAROOTDIR ?= $(PREFIX)/share
MANDIR      ?= $(DATAROOTDIR)/man
UNITDIR     ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
DESTDIR     ?=

VERSION := 0.1.0

CC      ?= cc
PKGS    := libcurl openssl jansson libsystemd libmicrohttpd inih sqlite3 zlib libxml-2.0 \
           libutf8proc
SANITIZE ?=

ifneq ($(SANITIZE),)
BUILD   ?= build/sanitize
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT     := -O1 -g
else
BUILD   ?= build
SANFLAGS :=
OPT     := -O2 -g
endif

WARN := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wmissing-declarations \
        -Wshadow -Wpointer-arith -Wcast-qual -Wformat=2 -Wvla -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif

HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
ifneq ($(SANITIZE),)
HARDEN := -fstack-protector-strong -fPIE
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm

CPPFLAGS += -iquote include -D_GNU_SOURCE -DTWOWAYD_VERSION='"$(VERSION)"'
# -ffunction-sections: a section per function, for tests/check-exports.
CFLAGS   += -std=gnu11 $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) $(PKG_CFLAGS) -ffunction-sections -MMD -MP
LDFLAGS  += -pie -Wl,-z,relro,-z,now $(SANFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

# The daemon's modules: every src/*.c but the daemon's entry point. They form
# the library that the daemon, the control tool, the unit tests and the test
# tools link.
DAEMON_MAIN := src/twowayd.c
LIB_SRCS := $(filter-out $(DAEMON_MAIN),$(sort $(wildcard src/*.c)))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libtwowayd.a

# twowayctl, the operator tool, keeps its sources and headers apart in src/ctl/
# and links on top of the library. src/ctl is on no include path: its files
# find their headers beside them, and the daemon's modules cannot reach them.
CTL_MAIN := src/ctl/twowayctl.c
CTL_SRCS := $(filter-out $(CTL_MAIN),$(sort $(wildcard src/ctl/*.c)))
CTL_OBJS := $(CTL_SRCS:src/%.c=$(BUILD)/obj/%.o)
CTL_LIB  := $(BUILD)/libtwowayctl.a

# Unit tests see module internals (UNITTEST), so they link a second copy of
# the libraries built with -DTWOWAYD_UNIT_TEST. tests/unit/ mirrors src/:
# tests/unit/ctl/ holds the tests of src/ctl/.
UT_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/ut/%.o)
UT_LIB   := $(BUILD)/libtwowayd-ut.a
UT_CTL_OBJS := $(CTL_SRCS:src/%.c=$(BUILD)/ut/%.o)
UT_CTL_LIB  := $(BUILD)/libtwowayctl-ut.a
UNIT_SRCS := $(sort $(wildcard tests/unit/*_test.c tests/unit/ctl/*_test.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)
# The daemon linked with the unit-test library: it honours test-only hooks
# (TWOWAYD_TEST_NOW, agent_turn.h) that the installed daemon does not have.
TOOL_BINS += $(BUILD)/tests/tools/twowayd-ut

PROGS := $(BUILD)/twowayd $(if $(wildcard $(CTL_MAIN)),$(BUILD)/twowayctl)

.PHONY: all check check-unit check-integration check-standin unit-bins tools deps deps-node demo \
        check-layers check-exports install uninstall clean lint format

all: $(PROGS)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/ut/%.o: src/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC [ut] $<")
	$(Q)$(CC) $(CPPFLAGS) -DTWOWAYD_UNIT_TEST $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(UT_LIB): $(UT_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(CTL_LIB): $(CTL_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(UT_CTL_LIB): $(UT_CTL_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/twowayd: $(BUILD)/obj/twowayd.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

$(BUILD)/twowayctl: $(BUILD)/obj/ctl/twowayctl.o $(CTL_LIB) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(CTL_LIB) $(LIB) $(PKG_LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(UT_LIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC [ut] $<")
	$(Q)$(CC) $(CPPFLAGS) -DTWOWAYD_UNIT_TEST $(CFLAGS) $(shell pkg-config --cflags cmocka) \
		$(LDFLAGS) -o $@ $< $(UT_LIB) $(PKG_LIBS) $(shell pkg-config --libs cmocka)

# The tool's tests see its headers too (the daemon's never do).
$(BUILD)/tests/unit/ctl/%: tests/unit/ctl/%.c $(UT_CTL_LIB) $(UT_LIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC [ut] $<")
	$(Q)$(CC) $(CPPFLAGS) -iquote src/ctl -DTWOWAYD_UNIT_TEST $(CFLAGS) \
		$(shell pkg-config --cflags cmocka) $(LDFLAGS) -o $@ $< $(UT_CTL_LIB) $(UT_LIB) \
		$(PKG_LIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tests/tools/twowayd-ut: $(BUILD)/obj/twowayd.o $(UT_LIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(UT_LIB) $(PKG_LIBS)

$(BUILD)/tests/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

unit-bins: $(UNIT_BINS)
tools: $(TOOL_BINS)

# --- dependencies -------------------------------------------------------------
# Debian 12 package names. Node.js and npm are checked as commands, since a
# machine may carry them from elsewhere than Debian's archive.
DEB_PKGS := gcc make pkg-config libev-dev libcurl4-openssl-dev libssl-dev libjansson-dev \
            libsystemd-dev libmicrohttpd-dev libinih-dev libsqlite3-dev zlib1g-dev libxml2-dev \
            libutf8proc-dev libcmocka-dev openssl curl ca-certificates tzdata systemd clang-format

# $(call deb_install,PACKAGES[,MORE]): apt-get install the packages not yet
# installed (as root; otherwise print the command and fail). MORE is shell
# that may add to $$missing before the install.
define deb_install
	@missing=""; \
	for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	$(2) \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "  DEPS    apt-get install$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
		else \
			echo "missing packages; run as root:"; \
			echo "  apt-get update && apt-get install -y --no-install-recommends$$missing"; \
			exit 1; \
		fi; \
	fi
endef

NODE_CHECK := command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
              command -v npm >/dev/null 2>&1 || missing="$$missing npm";

deps:
	$(call deb_install,$(DEB_PKGS),$(NODE_CHECK))
	@$(MAKE) -s deps-node

# The local AWS stand-in's npm packages, pinned by tests/standin/package-lock.json.
deps-node:
	@if [ -f tests/standin/package-lock.json ] && \
	    { [ ! -f tests/standin/node_modules/.package-lock.json ] || \
	      [ tests/standin/package-lock.json -nt tests/standin/node_modules/.package-lock.json ]; }; then \
		echo "  DEPS    npm ci (tests/standin)"; \
		cd tests/standin && npm ci --no-audit --no-fund --loglevel=error >/dev/null || exit 1; \
	fi

# --- tests ---------------------------------------------------------------------
check: deps
	@$(MAKE) -s all unit-bins tools
	$(Q)BUILD=$(BUILD) tests/run-tests

check-unit: all unit-bins
	$(Q)BUILD=$(BUILD) tests/run-tests unit

check-integration: all tools
	$(Q)BUILD=$(BUILD) tests/run-tests integration

# The stand-in's own tests need no build of ours, only its npm packages.
check-standin: deps-node
	$(Q)BUILD=$(BUILD) tests/run-tests standin

demo: deps
	@$(MAKE) -s all tools
	$(Q)BUILD=$(BUILD) tests/demo/run-demo

# --- install -------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/twowayd $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR)
	install -m 0755 $(BUILD)/twowayd $(DESTDIR)$(SBINDIR)/twowayd
	@# An operator's edited config is never overwritten.
	[ -e $(DESTDIR)$(SYSCONFDIR)/twowayd/twowayd.conf ] || \
		install -m 0640 config/twowayd.conf $(DESTDIR)$(SYSCONFDIR)/twowayd/twowayd.conf
	sed -e 's|/usr/sbin/twowayd|$(SBINDIR)/twowayd|g' -e 's|/etc/twowayd|$(SYSCONFDIR)/twowayd|g' \
		systemd/twowayd.service >$(DESTDIR)$(UNITDIR)/twowayd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/twowayd.service
	install -m 0644 systemd/twowayd.sysusers $(DESTDIR)$(SYSUSERSDIR)/twowayd.conf

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/twowayd $(DESTDIR)$(UNITDIR)/twowayd.service \
		$(DESTDIR)$(SYSUSERSDIR)/twowayd.conf

# Larger concerns keep their rules beside their files.
-include packaging/packaging.mk fuzz/fuzz.mk bench/bench.mk tests/tests.mk tests/systemd/systemd.mk

# --- hygiene -------------------------------------------------------------------
FORMAT_FILES = $(wildcard src/*.c include/*.h src/ctl/*.c src/ctl/*.h tests/unit/*.c \
                          tests/unit/ctl/*.c tests/tools/*.c)
BANNED := strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets|gmtime|localtime|system
lint: check-layers check-exports
	$(Q)clang-format --dry-run --Werror $(FORMAT_FILES)
	$(Q)! grep -nE '\b($(BANNED))\s*\(' src/*.c include/*.h src/ctl/*.c src/ctl/*.h || { echo "banned function used"; exit 1; }

# No #include goes up a layer (the table is in the script, the diagram in README.md).
check-layers:
	$(Q)tests/check-layers

# Every exported function has a caller in twowayd or twowayctl, not only in tests.
check-exports: $(BUILD)/obj/twowayd.o $(BUILD)/obj/ctl/twowayctl.o $(LIB_OBJS) $(CTL_OBJS)
	$(Q)tests/check-exports $(BUILD) "$(CC) $(LDFLAGS)" "$(PKG_LIBS)"

format:
	$(Q)clang-format -i $(FORMAT_FILES)

clean:
	rm -rf build

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/ctl/*.d $(BUILD)/ut/*.d $(BUILD)/ut/ctl/*.d \
                    $(BUILD)/tests/*/*.d $(BUILD)/tests/unit/ctl/*.d)
