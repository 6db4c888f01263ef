#!/bin/bash
# Fake Darktrace vSensor installer, served by the fake CDN. It behaves like the real
# one where the agent can tell: it takes --updateKey KEY, refuses a wrong key and an
# existing installation, prints progress (including the key, to prove the agent
# redacts child output), and installs helpers that record their argv.
set -eu
root="${VSENSOR_INIT_ROOT:?fake installer runs only under --root}"
key=""
while [ $# -gt 0 ]; do
	case "$1" in
	--updateKey) key="$2"; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
echo "Darktrace vSensor installer (fake): using update key $key"
want=$(cat "$root/fake/expected-key.sha256")
got=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
	echo "E: update key $key was rejected by packages.darktrace.com (401)" >&2
	exit 3
fi
if [ -e "$root/etc/darktrace/config.cfg" ]; then
	echo "E: vSensor already installed" >&2
	exit 4
fi
if [ -e "$root/fake/installer-hang" ]; then sleep 1000; fi
echo "installing packages..." >&2
mkdir -p "$root/usr/sbin" "$root/etc/darktrace"
for h in set_pushtoken.sh set_ossensor_hmac.sh set_pcap_azure_container.sh set_pcap_size.sh \
	set_ossensor_loadbalancer_direct.sh set_tcp_proxy_access.sh set_ephemeral.sh; do
	cp "$root/fake/helper.sh" "$root/usr/sbin/$h"
	chmod 0755 "$root/usr/sbin/$h"
done
echo "installed" > "$root/etc/darktrace/config.cfg"
echo "vSensor installed"
