# vsensor-init — one non-recursive Makefile.
#   make            build build/vsensor-init
#   make check      build and run every Check suite and the e2e tests
#   make demo       run the whole bootstrap against the fake Azure environment
#   make install    install under $(DESTDIR)$(PREFIX)
# Project flags live in their own variables so `make CFLAGS=-fsanitize=address`
# still builds a correct tree. V=1 shows the commands.

PREFIX     ?= /usr
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
DESTDIR    ?=
VERSION    ?= 0.1.0

CC      ?= cc
CFLAGS  ?= -O2 -g
LDFLAGS ?=
WERROR  ?= 0
BUILD   ?= build

PKGS      := libcurl jansson libsystemd yaml-0.1 expat
TEST_PKGS := check libmicrohttpd

# Programs the build, the tests and the demo run, besides the libraries (a minimal
# image lacks some; tools/install-deps installs their packages): found in PATH, or at
# the fixed path the agent or the test runs them from (/usr/sbin is not in a user's
# PATH on Debian). ip: any of the places test-e2e-provisioning looks.
DEPS_PROGRAMS := $(firstword $(CC)) ar pkg-config openssl bash
DEPS_FILES    := /usr/bin/ssh-keygen /usr/sbin/useradd
DEPS_IP       := /sbin/ip /usr/sbin/ip /bin/ip /usr/bin/ip
DEPS_PROGS_OK = for p in $(DEPS_PROGRAMS); do command -v $$p >/dev/null || exit 1; done; \
	for f in $(DEPS_FILES); do test -x $$f || exit 1; done; \
	for f in $(DEPS_IP); do test -x $$f && exit 0; done; exit 1

# Missing build dependencies are installed by tools/install-deps (as root), or it
# prints the exact apt command. Skipped for `make clean`.
ifeq ($(filter clean,$(MAKECMDGOALS)),)
DEPS_OK := $(shell pkg-config --exists $(PKGS) $(TEST_PKGS) 2>/dev/null && ( $(DEPS_PROGS_OK) ) && echo yes)
ifneq ($(DEPS_OK),yes)
DEPS_RC := $(shell ./tools/install-deps >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error build dependencies are missing: see the message above)
endif
endif
endif

PROJECT_CFLAGS := -std=c11 -D_GNU_SOURCE -DVERSION='"$(VERSION)"' -Ilib \
	-Wall -Wextra -Wshadow -Wformat=2 -Wformat-security -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter -Wvla -fno-common \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -MMD -MP \
	$(shell pkg-config --cflags $(PKGS))
ifeq ($(WERROR),1)
PROJECT_CFLAGS += -Werror
endif
PROJECT_LIBS := $(shell pkg-config --libs $(PKGS))
TEST_CFLAGS  := -Itest -Itest/fake -Itest/support $(shell pkg-config --cflags $(TEST_PKGS))
TEST_LIBS    := $(shell pkg-config --libs $(TEST_PKGS)) -lpthread

ifeq ($(V),1)
Q :=
else
Q := @
endif

# ONLY_LIB / ONLY_SUPPORT restrict the sources (a module's tests while others are
# being written): make BUILD=build/x ONLY_LIB="lib/util.c lib/log.c" ONLY_SUPPORT=none
LIB_SRCS     := $(if $(ONLY_LIB),$(ONLY_LIB),$(sort $(wildcard lib/*.c)))
AGENT_SRCS   := $(sort $(wildcard agent/*.c))
SUPPORT_SRCS := $(if $(ONLY_SUPPORT),$(filter %.c,$(ONLY_SUPPORT)),$(sort $(filter-out %-main.c,$(wildcard test/fake/*.c test/support/*.c))))
TEST_SRCS    := $(sort $(wildcard test/test-*.c test/e2e/test-*.c))
TESTS        := $(patsubst %.c,$(BUILD)/%,$(TEST_SRCS))

LIB_OBJS     := $(LIB_SRCS:%.c=$(BUILD)/%.o)
AGENT_OBJS   := $(AGENT_SRCS:%.c=$(BUILD)/%.o)
SUPPORT_OBJS := $(SUPPORT_SRCS:%.c=$(BUILD)/%.o)

LIBVSENSOR  := $(BUILD)/libvsensor.a
LIBSUPPORT  := $(BUILD)/libtestsupport.a
PROGRAM     := $(BUILD)/vsensor-init
FAKE_AZURE  := $(BUILD)/test/fake-azure
CERTS_STAMP := $(BUILD)/test/certs/.stamp

.PHONY: all check demo install clean
# Test objects are intermediates of a pattern rule: keep them for incremental builds.
.SECONDARY:
all: $(PROGRAM)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(PROJECT_CFLAGS) $(if $(filter test/%,$<),$(TEST_CFLAGS)) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBVSENSOR): $(LIB_OBJS)
	$(if $(Q),@echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSUPPORT): $(SUPPORT_OBJS)
	$(if $(Q),@echo "  AR      $@")
	$(Q)rm -f $@ && $(if $^,ar rcs $@ $^,printf '!<arch>\n' > $@)

$(PROGRAM): $(AGENT_OBJS) $(LIBVSENSOR)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(AGENT_OBJS) $(LIBVSENSOR) $(PROJECT_LIBS)

$(BUILD)/test/%: $(BUILD)/test/%.o $(LIBSUPPORT) $(LIBVSENSOR)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBSUPPORT) $(LIBVSENSOR) $(TEST_LIBS) $(PROJECT_LIBS)

$(FAKE_AZURE): $(BUILD)/test/fake/fake-azure-main.o $(LIBSUPPORT) $(LIBVSENSOR)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBSUPPORT) $(LIBVSENSOR) $(TEST_LIBS) $(PROJECT_LIBS)

# Test CA and server certificates, made at build time (never committed).
$(CERTS_STAMP): test/fake/make-certs.sh
	$(if $(Q),@echo "  CERTS   $(@D)")
	$(Q)sh test/fake/make-certs.sh $(@D) && touch $@

# Every suite runs even when an earlier one fails; tools/run-tests prints each
# suite's summary and a total, and fails when any suite failed.
check: $(PROGRAM) $(FAKE_AZURE) $(TESTS) $(CERTS_STAMP)
	$(Q)TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) VSENSOR_INIT=$(abspath $(PROGRAM)) \
		FAKE_AZURE=$(abspath $(FAKE_AZURE)) CERTS=$(abspath $(BUILD)/test/certs) \
		sh tools/run-tests $(TESTS)

demo: $(PROGRAM) $(FAKE_AZURE) $(CERTS_STAMP)
	$(Q)TOP=$(CURDIR) VSENSOR_INIT=$(abspath $(PROGRAM)) FAKE_AZURE=$(abspath $(FAKE_AZURE)) \
		CERTS=$(abspath $(BUILD)/test/certs) sh tools/demo

install: $(PROGRAM)
	install -D -m 0755 $(PROGRAM) $(DESTDIR)$(SBINDIR)/vsensor-init
	install -D -m 0644 units/vsensor-init.service $(DESTDIR)$(UNITDIR)/vsensor-init.service
	install -D -m 0644 units/vsensor-init-refresh.service $(DESTDIR)$(UNITDIR)/vsensor-init-refresh.service
	install -D -m 0644 units/vsensor-init-refresh.timer $(DESTDIR)$(UNITDIR)/vsensor-init-refresh.timer
	install -D -m 0644 units/vsensor-init-watch.service $(DESTDIR)$(UNITDIR)/vsensor-init-watch.service
	install -D -m 0644 packaging/config.yaml $(DESTDIR)$(SYSCONFDIR)/vsensor-init/config.yaml

clean:
	rm -rf $(BUILD)

# Targets of their own (packaging, fuzzing, sanitizers, benchmarks, VM boot) live in
# mk/*.mk, included here so the build stays one make invocation.
include $(sort $(wildcard mk/*.mk))

-include $(LIB_OBJS:.o=.d) $(AGENT_OBJS:.o=.d) $(SUPPORT_OBJS:.o=.d) \
	$(TESTS:=.d) $(BUILD)/test/fake/fake-azure-main.d
