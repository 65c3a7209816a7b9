# make bench: the load benchmark (bench/run.mjs; method and results in
# docs/BENCHMARKS.md). Not part of make check. Loopback only, about 2.5 minutes.
#
#   make bench                        every mode; raw results in build/bench/results.json
#   make bench BENCH_ACK_N=200000     more deliveries in mode 1 (also BENCH_CONV_N, BENCH_SLOW_N, BENCH_CONNS)

BENCH_LOADGEN := $(BUILD)/bench/snsload

.PHONY: bench

$(BENCH_LOADGEN): bench/snsload.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -std=gnu11 -O2 -g $(WARN) -o $@ $<

bench: deps
	@$(MAKE) -s all $(BENCH_LOADGEN)
	$(Q)BUILD=$(BUILD) BENCH_ACK_N=$(BENCH_ACK_N) BENCH_CONV_N=$(BENCH_CONV_N) \
		BENCH_SLOW_N=$(BENCH_SLOW_N) BENCH_CONNS=$(BENCH_CONNS) \
		timeout 600 node bench/run.mjs
