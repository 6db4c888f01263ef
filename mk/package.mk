# Debian package and its checks (issue "Ship it").
#   make deb            build $(BUILD)/deb/vsensor-init_VERSION_ARCH.deb (dpkg-buildpackage -us -uc -b)
#   make check-package  the package builds, lintian is clean, systemd-analyze verify accepts
#                       the unit, dpkg-deb -c lists exactly packaging/expected-contents.txt,
#                       both man pages render without warnings, the ARM template passes
#                       tools/check-template (Azure's schemas, an offline evaluation, Bicep
#                       against JSON) and its custom data validates (both secret forms), and
#                       the package installs and purges cleanly in a
#                       scratch Debian root (debootstrap, cached under $(BUILD)/scratch/).
# Tools they need are installed by tools/install-package-deps.
.PHONY: deb check-package

DEB_ARCH   := $(shell dpkg --print-architecture 2>/dev/null)
DEB_DIR    := $(BUILD)/deb
DEB_SRC    := $(DEB_DIR)/vsensor-init-$(VERSION)
DEB_FILE   := $(DEB_DIR)/vsensor-init_$(VERSION)_$(DEB_ARCH).deb
# What the package is built from: everything `make all install` reads, the debian/
# directory, and the files debian/*.install, *.docs and *.manpages name. MAKEFLAGS is
# dropped so the package is built the same whatever `make deb` was called with.
DEB_INPUTS := Makefile COPYING README.md $(wildcard agent/*.[ch] lib/*.[ch]) units/vsensor-init.service units/vsensor-init-watch.service \
	units/vsensor-init-refresh.service units/vsensor-init-refresh.timer \
	packaging/config.yaml packaging/walinuxagent-after-vsensor-init.conf $(wildcard packaging/debian/* \
	packaging/debian/source/* packaging/azure/* packaging/image/*) doc/vsensor-init.8 doc/vsensor-init.yaml.5

deb: $(DEB_FILE)

$(DEB_FILE): $(DEB_INPUTS)
	$(Q)./tools/install-package-deps
	$(if $(Q),@echo "  DEB     $@")
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_SRC)
	$(Q)tar cf - $(filter-out packaging/debian/%,$(DEB_INPUTS)) | tar xf - -C $(DEB_SRC)
	$(Q)cp -R packaging/debian $(DEB_SRC)/debian
	$(Q)cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -us -uc -b > ../build.log 2>&1 \
		|| { tail -40 ../build.log; echo "dpkg-buildpackage failed: see $(DEB_DIR)/build.log" >&2; exit 1; }
	$(Q)test -f $@

check-package: $(DEB_FILE) $(PROGRAM)
	$(Q)TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) DEB=$(abspath $(DEB_FILE)) \
		VSENSOR_INIT=$(abspath $(PROGRAM)) sh tools/check-package
