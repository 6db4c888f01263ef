# Hostile input and memory checks (issue 5 part A).
#   make fuzz            each libFuzzer target for FUZZ_SECONDS (default 60) s
#   make fuzz-smoke      each target for FUZZ_SMOKE_SECONDS (default 15) s: CI
#   make check-asan      the whole `make check` built with ASan + UBSan in $(ASAN_BUILD)
#   make check-valgrind  every suite (e2e ones with the agent too) under valgrind
# clang, compiler-rt and valgrind come from tools/install-fuzz-deps when missing.
# Seeds are test/fuzz/corpus/NAME (read only); what the fuzzers learn goes to
# $(FUZZ_BUILD)/corpus/NAME, crashes to $(FUZZ_BUILD)/artifacts/.

FUZZ_TARGETS       := customdata config imds ovf goalstate base64 schedevents
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_CC            ?= clang
FUZZ_BUILD         ?= build/fuzz
ASAN_CC            ?= clang
ASAN_BUILD         ?= build/asan

# No recovery: the first UBSan finding stops the process like an ASan one does, also
# in the agent, whose minimal environment carries no UBSAN_OPTIONS.
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SANITIZER_OPTIONS := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 LSAN_OPTIONS=

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-binaries check-asan check-valgrind fuzz-deps

fuzz-deps:
	$(Q)sh tools/install-fuzz-deps $(FUZZ_CC)

# The library is rebuilt with the fuzzer's compiler and sanitizers in its own tree.
fuzz-build: fuzz-deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
		CFLAGS="-O1 -g $(SANITIZE) -fsanitize=fuzzer-no-link" LDFLAGS= fuzz-binaries

# Only meaningful inside fuzz-build's sub-make (BUILD=$(FUZZ_BUILD)).
fuzz-binaries: $(FUZZ_TARGETS:%=$(BUILD)/fuzzers/fuzz-%)

$(BUILD)/fuzzers/fuzz-%: test/fuzz/fuzz-%.c $(LIBVSENSOR)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  FUZZER  $@")
	$(Q)$(CC) $(PROJECT_CFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIBVSENSOR) $(PROJECT_LIBS)

fuzz: fuzz-build
	$(Q)sh test/fuzz/run-fuzz $(FUZZ_SECONDS) $(FUZZ_BUILD) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	$(Q)sh test/fuzz/run-fuzz $(FUZZ_SMOKE_SECONDS) $(FUZZ_BUILD) $(FUZZ_TARGETS)

# clang (not gcc) links its sanitizer runtime into each executable, so the fault shim
# the crash tests LD_PRELOAD into the agent resolves against it. clang also calls a
# _cleanup_ variable kept only for its destructor "unused"; gcc does not.
ASAN_EXTRA_CFLAGS ?= $(if $(findstring clang,$(ASAN_CC)),-Wno-unused-variable)

# Everything `make check` runs, sanitized (Check forks each test: every child is
# checked on its own and a finding fails that test). Timeouts are tripled.
check-asan: fuzz-deps
	$(Q)env $(SANITIZER_OPTIONS) CK_TIMEOUT_MULTIPLIER=3 $(MAKE) --no-print-directory \
		BUILD=$(ASAN_BUILD) CC=$(ASAN_CC) CFLAGS="-O1 -g $(SANITIZE) $(ASAN_EXTRA_CFLAGS)" \
		LDFLAGS="$(SANITIZE)" check

# Normal build; suites run with CK_FORK=no so valgrind sees every test, and the e2e
# suites start the agent through a wrapper that runs it under valgrind too.
# test-e2e-crash is skipped by default: it SIGKILLs the agent at timed points (a
# killed process gets no leak check, and valgrind's slowdown moves every kill point);
# the same agent paths run to completion under valgrind in the other e2e suites.
VALGRIND_SKIP ?= test-e2e-crash
check-valgrind: fuzz-deps $(PROGRAM) $(FAKE_AZURE) $(TESTS) $(CERTS_STAMP) $(if $(FAULT_SHIM),$(FAULT_SHIM))
	$(Q)TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) VSENSOR_INIT_REAL=$(abspath $(PROGRAM)) \
		VALGRIND_SKIP="$(VALGRIND_SKIP)" \
		FAKE_AZURE=$(abspath $(FAKE_AZURE)) CERTS=$(abspath $(BUILD)/test/certs) \
		sh test/fuzz/run-valgrind $(abspath $(BUILD)/valgrind) $(TESTS)

-include $(FUZZ_TARGETS:%=$(BUILD)/fuzzers/fuzz-%.d)
