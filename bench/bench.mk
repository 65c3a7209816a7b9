# make bench: the load benchmark (bench/run.mjs; method and results in
# docs/BENCHMARKS.md). Not part of make check. Loopback only, about 4 minutes.
#
#   make bench                        every mode; raw results in build/bench/results.json
#   make bench BENCH_ACK_N=200000     more deliveries in mode 1 (also BENCH_CONV_N, BENCH_SLOW_N, BENCH_CONNS)
#   make bench-burst                  only mode 4: 200 senders on one toll-free number (~75 s)
#   make bench-cluster                two instances in cluster mode, one killed (bench/cluster.mjs)

BENCH_LOADGEN := $(BUILD)/bench/snsload

.PHONY: bench bench-burst

$(BENCH_LOADGEN): bench/snsload.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -std=gnu11 -O2 -g $(WARN) -o $@ $<

bench: deps
	@$(MAKE) -s all $(BENCH_LOADGEN)
	$(Q)BUILD=$(BUILD) BENCH_ACK_N=$(BENCH_ACK_N) BENCH_CONV_N=$(BENCH_CONV_N) \
		BENCH_SLOW_N=$(BENCH_SLOW_N) BENCH_CONNS=$(BENCH_CONNS) \
		timeout 600 node bench/run.mjs

bench-burst: deps
	@$(MAKE) -s all $(BENCH_LOADGEN)
	$(Q)BUILD=$(BUILD) BENCH_ONLY_BURST=1 timeout 300 node bench/run.mjs

# make bench-cluster: two instances in cluster mode under load, one killed with
# SIGKILL halfway: lost, duplicated, takeover delay (bench/cluster.mjs; about a
# minute). Raw results in build/bench/results-cluster.json.
.PHONY: bench-cluster
bench-cluster: deps
	@$(MAKE) -s all
	$(Q)BUILD=$(BUILD) timeout 300 node bench/cluster.mjs
