#!/bin/sh
# vm-bench's stand-in for a Darktrace vSensor helper (set_pushtoken.sh and friends):
# vsensor-helper.sh's record of its arguments, and the guest's clock when it ran,
# in /var/lib/vm-bench/helpers.time (the host maps it to its own clock).
set -eu
name=$(basename "$0")
read up idle </proc/uptime
mkdir -p /var/lib/vm-bench
echo "$up $name" >>/var/lib/vm-bench/helpers.time
# Also on ttyS1, which the host stamps: checks the mapping of the guest's clock.
echo "vm-bench: helper $name $up" >/dev/ttyS1 2>/dev/null || true
. /usr/lib/vm-bench/vsensor-helper.sh
