# fuzz/fuzz.mk — libFuzzer targets for the parsers (included by the Makefile).
#
#   make fuzz [FUZZ_SECONDS=10]   build every target, run each for FUZZ_SECONDS
#   make fuzz-smoke               the same, 8 s a target (CI)
#   make fuzz-regress             replay fuzz/regress/<target>/* and the seed corpora
#   make fuzz-build               only build build/fuzz/fuzz_<target>
#   make fuzz-seeds               regenerate the generated seeds in fuzz/corpus/
#   make deps-fuzz                install clang and libFuzzer (root), or print the command
#   make fuzz-<target> [FUZZ_SECONDS=N]   one target
#
# The library is compiled a third time, with clang and
# -fsanitize=fuzzer-no-link,address,undefined, into build/fuzz/. Inputs that
# grow coverage go to build/fuzz/corpus/<target>/ (not committed; copy the
# good ones to fuzz/corpus/<target>/ by hand), crashes to
# build/fuzz/artifacts/<target>/, each run's output to build/fuzz/logs/.
# A crash, leak, timeout (FUZZ_TIMEOUT s for one input) or an RSS above
# FUZZ_RSS_MB fails the run.

FUZZ_CC       ?= clang
FUZZ_BUILD    := build/fuzz
FUZZ_SECONDS  ?= 10
FUZZ_TIMEOUT  ?= 5
FUZZ_RSS_MB   ?= 2048
FUZZ_FLAGS    ?=
FUZZ_TARGETS  := sns_message sns_cert_url inbound_sms eventstream agent_stream aws_error \
                 keyword config sms_text http_request

# Largest input per target: above what the parser is meant to see at once,
# small enough to keep executions fast.
FUZZ_MAXLEN_sns_message  := 16384
FUZZ_MAXLEN_sns_cert_url := 4200
FUZZ_MAXLEN_inbound_sms  := 16384
FUZZ_MAXLEN_eventstream  := 16384
FUZZ_MAXLEN_agent_stream := 16384
FUZZ_MAXLEN_aws_error    := 4096
FUZZ_MAXLEN_keyword      := 2048
FUZZ_MAXLEN_config       := 8192
FUZZ_MAXLEN_sms_text     := 8192
FUZZ_MAXLEN_http_request := 16384

FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   := -std=gnu11 -O1 -g $(WARN) $(FUZZ_SAN) -MMD -MP
FUZZ_LIB_OBJS := $(LIB_SRCS:src/%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_LIB      := $(FUZZ_BUILD)/libtwowayd.a
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# http_request replaces three library functions at link time (see its header).
FUZZ_LDFLAGS_http_request := -Wl,--wrap=sns_cert_cache_get -Wl,--wrap=sns_verify_signature \
                             -Wl,--wrap=http_client_start

FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:detect_stack_use_after_return=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
FUZZ_RUN_FLAGS = -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=$(FUZZ_RSS_MB) -detect_leaks=1 \
                 -print_final_stats=1 $(FUZZ_FLAGS)

.PHONY: fuzz fuzz-smoke fuzz-regress fuzz-build fuzz-seeds deps-fuzz $(FUZZ_TARGETS:%=fuzz-%)

$(FUZZ_BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC [fz] $<")
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(FUZZ_LIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< \
		$(FUZZ_LDFLAGS_$*) $(FUZZ_LIB) $(PKG_LIBS) -lz

fuzz-build: $(FUZZ_BINS)

# One target for FUZZ_SECONDS; new coverage goes to build/fuzz/corpus/<target>.
$(FUZZ_TARGETS:%=fuzz-%): fuzz-%: $(FUZZ_BUILD)/fuzz_%
	@mkdir -p $(FUZZ_BUILD)/corpus/$* $(FUZZ_BUILD)/artifacts/$* $(FUZZ_BUILD)/logs
	@echo "  FUZZ    $* ($(FUZZ_SECONDS) s)"
	@$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$* $(FUZZ_RUN_FLAGS) -max_len=$(FUZZ_MAXLEN_$*) \
		-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_BUILD)/artifacts/$*/ \
		$(FUZZ_BUILD)/corpus/$* fuzz/corpus/$* >$(FUZZ_BUILD)/logs/$*.log 2>&1; \
	rc=$$?; \
	grep -E '^#[0-9]+[[:space:]]+DONE' $(FUZZ_BUILD)/logs/$*.log | tail -n 1 | sed 's/^/          /'; \
	grep -E '^stat::average_exec_per_sec' $(FUZZ_BUILD)/logs/$*.log | sed 's/^/          /'; \
	if [ $$rc -ne 0 ]; then \
		echo "fuzz target $* failed (exit $$rc); log: $(FUZZ_BUILD)/logs/$*.log"; \
		grep -E 'ERROR|SUMMARY|invariant failed|Test unit written|runtime error' \
			$(FUZZ_BUILD)/logs/$*.log | head -n 20; \
		exit 1; \
	fi

# Sequential on purpose (libFuzzer uses one core per target); make -j runs them side by side.
fuzz: $(FUZZ_TARGETS:%=fuzz-%)

fuzz-smoke:
	@$(MAKE) -s fuzz FUZZ_SECONDS=8

# Replay each regression input and seed once (no mutation): fast, for CI.
fuzz-regress: $(FUZZ_BINS)
	@mkdir -p $(FUZZ_BUILD)/logs
	@fail=0; for t in $(FUZZ_TARGETS); do \
		files=$$(find fuzz/regress/$$t fuzz/corpus/$$t -type f 2>/dev/null | sort); \
		[ -n "$$files" ] || continue; \
		n=$$(echo "$$files" | wc -l); \
		if $(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$$t -timeout=$(FUZZ_TIMEOUT) \
			-rss_limit_mb=$(FUZZ_RSS_MB) $$files >$(FUZZ_BUILD)/logs/regress-$$t.log 2>&1; then \
			echo "  REGRESS $$t: $$n inputs ok"; \
		else \
			echo "  REGRESS $$t: FAILED; log: $(FUZZ_BUILD)/logs/regress-$$t.log"; \
			grep -E 'Running:|ERROR|SUMMARY|invariant failed|runtime error' \
				$(FUZZ_BUILD)/logs/regress-$$t.log | grep -B1 -E 'ERROR|SUMMARY|invariant|runtime' | head -n 20; \
			fail=1; \
		fi; \
	done; exit $$fail

# Seeds that are easier to generate than to write: event-stream frames,
# InvokeAgent streams, and SNS deliveries signed with the key of fuzz_pki.h.
$(FUZZ_BUILD)/gen_seeds: fuzz/gen_seeds.c fuzz/fuzz_pki.h
	@mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 -O1 -g $(WARN) $(shell pkg-config --cflags openssl zlib) -o $@ $< \
		$(shell pkg-config --libs openssl zlib)

fuzz-seeds: $(FUZZ_BUILD)/gen_seeds
	$(Q)$(FUZZ_BUILD)/gen_seeds fuzz/corpus

# clang-14 ships libFuzzer and the sanitizer runtimes in libclang-rt-14-dev on
# Debian 12; the library's own -dev packages are those of `make deps`.
FUZZ_DEB_PKGS := clang libclang-rt-14-dev make pkg-config \
                 $(filter-out libcmocka-dev,$(filter %-dev,$(DEB_PKGS)))

deps-fuzz:
	$(call deb_install,$(FUZZ_DEB_PKGS))

-include $(wildcard $(FUZZ_BUILD)/obj/*.d $(FUZZ_BUILD)/*.d)
