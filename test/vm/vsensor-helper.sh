#!/bin/sh
# Stand-in for a Darktrace vSensor helper (set_pushtoken.sh and friends), shipped in
# /usr/sbin by the VM test's fake vSensor package. Appends "NAME ARG..." to
# /var/lib/darktrace-vsensor-fake/helpers.argv (0600: the arguments are secrets) so
# the test can check every call from the disk image. Prints nothing of its arguments.
set -eu
name=$(basename "$0")
dir=/var/lib/darktrace-vsensor-fake
umask 077
mkdir -p "$dir"
line=$name
for a in "$@"; do line="$line $a"; done
printf '%s\n' "$line" >>"$dir/helpers.argv"
echo "$name: applied ($# arguments)"
