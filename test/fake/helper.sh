#!/bin/sh
# Fake Darktrace helper (set_pushtoken.sh and friends): appends "NAME ARG..." to
# $VSENSOR_INIT_ROOT/fake/helpers.argv. A number N in fake/fail/NAME makes the next N
# calls fail; fake/hang/NAME makes it hang.
root="${VSENSOR_INIT_ROOT:?}"
name=$(basename "$0")
line="$name"
for a in "$@"; do line="$line $a"; done
printf '%s\n' "$line" >> "$root/fake/helpers.argv"
echo "$name: applying ($*)"
if [ -e "$root/fake/hang/$name" ]; then sleep 1000; fi
f="$root/fake/fail/$name"
if [ -s "$f" ]; then
	n=$(cat "$f")
	if [ "$n" -gt 0 ]; then
		echo $((n - 1)) > "$f"
		echo "$name: failed on purpose" >&2
		exit 1
	fi
fi
exit 0
