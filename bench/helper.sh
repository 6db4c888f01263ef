#!/bin/sh
# Bench helper (set_pushtoken.sh and friends): trivial, so the benchmark measures the
# cost of calling helpers, not their work.
exit 0
