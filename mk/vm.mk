# The first boot for real (issue 7): a Debian bookworm VM booted by QEMU with the agent
# under systemd, against the fake Azure fabric at Azure's addresses. Needs root; the
# host packages come from test/vm/install-deps, the base root is cached in VM_CACHE.
#   make vm-test     build the image, boot it three times, check (see test/vm/vm-test)
# The agent goes into the image as its Debian package ($(DEB_FILE) of mk/package.mk,
# installed with dpkg -i in the image); VM_DEB= (empty) uses `make install DESTDIR=`.
VM_CACHE   ?= /var/cache/vsensor-init-vm
VM_TIMEOUT ?= 600
VM_DEB     ?= $(DEB_FILE)

.PHONY: vm-test vm-test-deps

vm-test-deps:
	$(Q)sh test/vm/install-deps

vm-test: vm-test-deps $(PROGRAM) $(FAKE_AZURE) $(CERTS_STAMP) $(VM_DEB)
	$(Q)TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) VSENSOR_INIT=$(abspath $(PROGRAM)) \
		FAKE_AZURE=$(abspath $(FAKE_AZURE)) CERTS=$(abspath $(BUILD)/test/certs) \
		VM_DEB=$(if $(VM_DEB),$(abspath $(VM_DEB))) VM_CACHE=$(VM_CACHE) VM_TIMEOUT=$(VM_TIMEOUT) \
		sh test/vm/vm-test

# Power-on to Ready against cloud-init on the same image (issue 15): test/vm/vm-bench.
#   make vm-bench    BENCH_BOOTS first boots of each variant, alternated; the table,
#                    JSON and boot charts in $(BUILD)/vm-bench. As root; up to 40
#                    minutes cold under TCG; not run by CI.
BENCH_BOOTS      ?= 3
BENCH_VM_TIMEOUT ?= 900

.PHONY: vm-bench

vm-bench: vm-test-deps $(FAKE_AZURE) $(CERTS_STAMP) $(DEB_FILE)
	$(Q)TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) FAKE_AZURE=$(abspath $(FAKE_AZURE)) \
		CERTS=$(abspath $(BUILD)/test/certs) VM_DEB=$(abspath $(DEB_FILE)) VM_CACHE=$(VM_CACHE) \
		BENCH_BOOTS=$(BENCH_BOOTS) VM_TIMEOUT=$(BENCH_VM_TIMEOUT) sh test/vm/vm-bench
