# Test targets beyond make check (included by the Makefile).
#
#   make deps-valgrind     install valgrind (root), or print the command
#   make check-valgrind    the integration tests with the daemon under valgrind memcheck
#   make check-valgrind VALGRIND_TESTS="sns daemon"   a subset (names of tests/integration/*.test.mjs)
#
# check-valgrind runs the normal build (-O2 -g, no sanitizer: valgrind and ASan
# do not mix) through a wrapper, $(BUILD)/valgrind/twowayd, that execs
# valgrind on a copy of build/twowayd with one log file per process in
# $(BUILD)/valgrind/logs/. The test harness waits TWOWAYD_TEST_SLOW times
# longer than usual (lib/daemon.mjs). It fails when a test fails or when any
# log reports an error: an invalid access, a use of uninitialised memory, a
# bad free, or a definite leak (--errors-for-leak-kinds=definite; a daemon
# killed with SIGKILL by a test writes no leak report). Bounds in tests that
# measure latency were written for the native speed; VALGRIND_SLOW stretches
# the harness's own waits (and the bounds of faults.test.mjs) only. About four
# minutes on two cores for the default set.

VALGRIND       ?= valgrind
VALGRIND_TESTS ?= sns daemon pipeline faults
VALGRIND_SLOW  ?= 10
VALGRIND_DIR   := $(BUILD)/valgrind
VALGRIND_FLAGS := --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
                  --track-fds=no --num-callers=30

.PHONY: check-valgrind deps-valgrind

deps-valgrind:
	$(call deb_install,valgrind)

check-valgrind: deps-valgrind
	$(if $(SANITIZE),$(error check-valgrind runs the normal build: leave SANITIZE unset))
	@$(MAKE) -s all tools deps-node
	$(Q)rm -rf $(VALGRIND_DIR) && mkdir -p $(VALGRIND_DIR)/logs
	@# A copy, so that a rebuild during the long run does not change what is tested.
	$(Q)cp $(BUILD)/twowayd $(VALGRIND_DIR)/twowayd.bin
	$(Q)printf '#!/bin/sh\nexec %s %s --log-file=%s/vg.%%p.log %s "$$@"\n' \
		'$(VALGRIND)' '$(VALGRIND_FLAGS)' '$(abspath $(VALGRIND_DIR)/logs)' \
		'$(abspath $(VALGRIND_DIR)/twowayd.bin)' >$(VALGRIND_DIR)/twowayd
	$(Q)chmod 0755 $(VALGRIND_DIR)/twowayd
	@echo "  VALGRIND $(VALGRIND_TESTS)"
	$(Q)TWOWAYD_BIN=$(abspath $(VALGRIND_DIR)/twowayd) TWOWAYD_TOOLS=$(abspath $(BUILD)/tests/tools) \
		TWOWAYD_TEST_SLOW=$(VALGRIND_SLOW) \
		node --test --test-reporter=tap --test-concurrency=1 \
		$(patsubst %,tests/integration/%.test.mjs,$(VALGRIND_TESTS)) >$(VALGRIND_DIR)/integration.tap 2>&1; \
	rc=$$?; \
	grep -E '^(not )?ok [0-9]+' $(VALGRIND_DIR)/integration.tap; \
	logs=$$(ls $(VALGRIND_DIR)/logs | wc -l); \
	bad=$$(grep -lE 'ERROR SUMMARY: [1-9]|Invalid (read|write|free)|uninitialised|definitely lost in' \
		$(VALGRIND_DIR)/logs/*.log 2>/dev/null); \
	p=$$(sed -n 's/^# pass \([0-9]*\)$$/\1/p' $(VALGRIND_DIR)/integration.tap | tail -n1); \
	f=$$(sed -n 's/^# fail \([0-9]*\)$$/\1/p' $(VALGRIND_DIR)/integration.tap | tail -n1); \
	echo "valgrind: $$logs processes, $$(echo $$bad | wc -w) with errors$${bad:+:}"; \
	for l in $$bad; do echo "--- $$l"; grep -E '^==[0-9]+== ' $$l | head -n 60; done; \
	echo "tests under valgrind: $${p:-0} passed, $${f:-0} failed (TAP in $(VALGRIND_DIR)/integration.tap)"; \
	[ -z "$$bad" ] && [ $$rc -eq 0 ]
