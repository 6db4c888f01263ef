#!/bin/bash
# Baseline for `make bench`: the first boot the way Darktrace's user-data script does
# it under cloud-init, against the same fake Azure and CDN as the agent and with the
# same bench installer and helpers. It does the same requests and helper calls as the
# agent: IMDS instance metadata, the lock check, the installer downloaded with curl to
# a file and run with bash, the five helpers, unattended upgrades, the success marker;
# everything teed to /var/log/user-data.log and traced with `set -x` like the original.
#
# Kept faithful where it costs time, fair where the original is careless: the original
# pipes wget into bash (we download to a file first, like the agent), and after its lock
# poll it sleeps a fixed 10 s (left out here: the bench compares the work, not sleeps).
#
# Inputs (what ARM templates paste into the script): VSENSOR_INIT_ROOT, IMDS_URL,
# CDN_URL, CA_FILE, UPDATE_KEY, PUSH_TOKEN, HMAC_TOKEN, MASTER.
root="$VSENSOR_INIT_ROOT"
exec > >(tee -a "$root/var/log/user-data.log") 2>&1
set -x

# Who am I (the original reads IMDS for the instance name and location).
curl -sS -f --retry 30 --retry-connrefused --retry-delay 1 --noproxy '*' -H Metadata:true \
	-o "$root/var/tmp/instance.json" "$IMDS_URL/metadata/instance?api-version=2021-02-01" || exit 1

# Wait for apt: the original polls the lock files with fuser every 20 s.
while fuser "$root/var/lib/dpkg/lock" "$root/var/lib/apt/lists/lock" \
	"$root/var/cache/apt/archives/lock" >/dev/null 2>&1; do
	sleep 20
done

# Install the vSensor.
curl -sS -f --retry 10 --retry-delay 5 --cacert "$CA_FILE" -o "$root/var/tmp/install.sh" "$CDN_URL/install" || exit 1
bash "$root/var/tmp/install.sh" --updateKey "$UPDATE_KEY" || exit 1

# Configure it.
sbin="$root/usr/sbin"
"$sbin/set_pushtoken.sh" "$PUSH_TOKEN" "$MASTER:443" || exit 1
"$sbin/set_ossensor_hmac.sh" "$HMAC_TOKEN" || exit 1
"$sbin/set_pcap_size.sh" 0 || exit 1
"$sbin/set_ossensor_loadbalancer_direct.sh" 1 || exit 1
"$sbin/set_ephemeral.sh" 1 || exit 1
printf 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n' \
	> "$root/etc/apt/apt.conf.d/20auto-upgrades"
touch "$root/etc/darktrace/.user-data-success"
echo "user-data finished"
