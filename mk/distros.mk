# Fresh machines (issue 14): the README's quick start on minimal Debian 12 and 13 roots.
#   make check-distros   for each of DISTROS (debootstrap suites), a minbase root with
#                        only make, git and ca-certificates added, the commit under test
#                        cloned into it, then `make demo`, `make check` and, in a clean
#                        clone, `make check WERROR=1`, as root in a chroot in a private
#                        mount namespace (test/distros/check-distros). One line per
#                        distribution; fails when any step fails or a test is skipped.
# The roots are cached in DISTROS_CACHE (test/distros/build-root), rebuilt when their
# inputs change; the logs (and the root of a distribution that failed) stay in
# $(BUILD)/distros. Needs root and
# the Debian mirror this machine's apt uses (DISTROS_MIRROR= to pick another).
DISTROS       ?= bookworm trixie
DISTROS_CACHE ?= /var/cache/vsensor-init-distros

.PHONY: check-distros

check-distros:
	$(Q)./tools/install-deps debootstrap debian-archive-keyring git util-linux
	$(Q)TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) DISTROS_CACHE=$(DISTROS_CACHE) \
		$(if $(DISTROS_MIRROR),DISTROS_MIRROR=$(DISTROS_MIRROR)) \
		sh test/distros/check-distros $(DISTROS)
