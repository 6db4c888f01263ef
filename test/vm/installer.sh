#!/bin/bash
# Stand-in for Darktrace's vSensor installer, served by the VM test's fake CDN at
# https://@CDN@/install. Like the real one it takes --updateKey KEY, refuses to run
# over an existing installation, adds the package repository with the update key as
# its credentials (apt auth.conf, 0600) and installs the vSensor package with apt.
# The repository is unsigned ([trusted=yes]): it exists only for this test.
set -euo pipefail
cdn=@CDN@
key=""
while [ $# -gt 0 ]; do
	case "$1" in
	--updateKey) key=${2:-}; shift 2 ;;
	*) echo "E: unknown option $1" >&2; exit 2 ;;
	esac
done
[[ $key == *:* ]] || { echo "E: --updateKey USER:PASSWORD is required" >&2; exit 2; }
if [ -e /etc/darktrace/config.cfg ]; then
	echo "E: the vSensor is already installed" >&2
	exit 4
fi
echo "Darktrace vSensor installer (VM test stand-in)"
umask 022
mkdir -p /etc/apt/auth.conf.d /etc/apt/sources.list.d
auth=/etc/apt/auth.conf.d/darktrace-vsensor.conf
(umask 077; printf 'machine %s/apt/\nlogin %s\npassword %s\n' "$cdn" "${key%%:*}" "${key#*:}" >"$auth.tmp")
chmod 0600 "$auth.tmp"
mv -f "$auth.tmp" "$auth"
list=/etc/apt/sources.list.d/darktrace-vsensor.list
echo "deb [trusted=yes] https://$cdn/apt ./" >"$list"
export DEBIAN_FRONTEND=noninteractive
echo "updating the package lists from https://$cdn/apt"
apt-get -q update -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
echo "installing darktrace-vsensor"
apt-get -q install -y --no-install-recommends darktrace-vsensor
[ -e /etc/darktrace/config.cfg ] || { echo "E: the package did not install /etc/darktrace/config.cfg" >&2; exit 5; }
echo "vSensor installed"
