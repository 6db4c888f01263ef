# Benchmarks (docs/PERFORMANCE.md); not part of `make check` (timings are noisy).
#   make bench                       bootstrap vs the baseline script, no-op, latencies,
#                                    download; table on stdout, $(BUILD)/bench/bench.json
#   make bench-fleet [FLEET_N=1000] [FLEET_RATE=20] [FLEET_RETRY_AFTER=-1|SECONDS]
#                                    a scale-out against a rate-limited CDN
# BENCH_RUNS sets the runs per measurement (>= 30 for the published table).
BENCH_RUNS        ?= 30
FLEET_N           ?= 200
FLEET_RATE        ?= 20
FLEET_RETRY_AFTER ?= -1
BENCH_BIN         := $(BUILD)/bench/bench
BENCH_WATCH_POLLS ?= 10000
BENCH_WATCH_BIN   := $(BUILD)/bench/bench-watch
BENCH_ENV = TOP=$(CURDIR) VSENSOR_INIT=$(abspath $(PROGRAM)) CERTS=$(abspath $(BUILD)/test/certs)

.PHONY: bench bench-fleet bench-deps

$(BENCH_BIN): $(BUILD)/bench/bench.o $(LIBSUPPORT) $(LIBVSENSOR)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBSUPPORT) $(LIBVSENSOR) $(TEST_LIBS) $(PROJECT_LIBS) -lm

$(BUILD)/bench/bench.o: bench/bench.c
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(PROJECT_CFLAGS) $(TEST_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The baseline script needs curl and fuser (psmisc), which a build machine may lack.
bench-deps:
	$(Q)sh bench/install-deps

bench: bench-deps $(PROGRAM) $(BENCH_BIN) $(BENCH_WATCH_BIN) $(CERTS_STAMP)
	$(Q)$(BENCH_ENV) $(BENCH_BIN) --runs $(BENCH_RUNS) --json $(BUILD)/bench/bench.json
	$(Q)$(BENCH_ENV) $(BENCH_WATCH_BIN) --polls $(BENCH_WATCH_POLLS) --json $(BUILD)/bench/watch.json

# The watcher's idle cost (bench/bench-watch.c): CPU per hour of polling and private
# memory over BENCH_WATCH_POLLS polls at a fast interval, against a shell+curl poller.
#   make bench-watch [BENCH_WATCH_POLLS=10000]
.PHONY: bench-watch
bench-watch: bench-deps $(PROGRAM) $(BENCH_WATCH_BIN)
	$(Q)$(BENCH_ENV) $(BENCH_WATCH_BIN) --polls $(BENCH_WATCH_POLLS) --json $(BUILD)/bench/watch.json

$(BENCH_WATCH_BIN): $(BUILD)/bench/bench-watch.o $(LIBSUPPORT) $(LIBVSENSOR)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBSUPPORT) $(LIBVSENSOR) $(TEST_LIBS) $(PROJECT_LIBS)

$(BUILD)/bench/bench-watch.o: bench/bench-watch.c
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(PROJECT_CFLAGS) $(TEST_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The fleet's roots live in /dev/shm: a scale-out's instances have a disk each, not one
# shared disk taking every fsync of N agents.
bench-fleet: $(PROGRAM) $(BENCH_BIN) $(CERTS_STAMP)
	$(Q)$(BENCH_ENV) BENCH_TMPDIR=$${BENCH_TMPDIR:-/dev/shm} $(BENCH_BIN) fleet --n $(FLEET_N) --rate $(FLEET_RATE) --retry-after $(FLEET_RETRY_AFTER) \
		--json $(BUILD)/bench/fleet.json

-include $(BUILD)/bench/bench.d $(BUILD)/bench/bench-watch.d
