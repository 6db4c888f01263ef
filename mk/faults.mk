# Fault injection (issue 5 part B): the LD_PRELOAD fault shim the crash-consistency
# e2e test runs the agent with, and targets to run the fault suites on their own.
#   make check-faults   the fault matrix (test-faults) and the crash tests (test-e2e-crash)
#   make scan-secrets   scan the kept test logs ($(BUILD)/test-logs) for canary secrets
# `make check` runs both suites too (they are test/test-*.c and test/e2e/test-*.c) and
# tools/run-tests scans every suite's output for canaries at its end.

FAULT_SHIM := $(BUILD)/test/fault-shim.so

.PHONY: check-faults scan-secrets

# Without $(CFLAGS): a sanitizer build (make CFLAGS=-fsanitize=...) must not instrument
# the shim, which is preloaded ahead of the sanitizer runtime.
$(FAULT_SHIM): test/fault-shim.c
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $@")
	$(Q)$(CC) $(PROJECT_CFLAGS) $(CPPFLAGS) -O2 -g -fPIC -shared -o $@ $< -ldl

# The crash tests need the shim; the rule above builds it before any suite runs.
check: $(FAULT_SHIM)

check-faults: $(PROGRAM) $(FAKE_AZURE) $(CERTS_STAMP) $(FAULT_SHIM) $(BUILD)/test/test-faults $(BUILD)/test/e2e/test-e2e-crash
	$(Q)TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) VSENSOR_INIT=$(abspath $(PROGRAM)) \
		FAKE_AZURE=$(abspath $(FAKE_AZURE)) CERTS=$(abspath $(BUILD)/test/certs) \
		sh tools/run-tests $(BUILD)/test/test-faults $(BUILD)/test/e2e/test-e2e-crash

scan-secrets:
	$(Q)sh tools/scan-secrets $(BUILD)/test-logs

-include $(FAULT_SHIM:.so=.d)
