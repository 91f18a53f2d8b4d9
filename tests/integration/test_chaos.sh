#!/bin/bash
# The 1-minute chaos run (issue 13; tests/chaos/README.md): mosquitto, the
# Kafka mock cluster, the ES stand-in and the agent under a seeded random
# fault schedule (kill -9, SIGTERM, Kafka brokers down and leader moves, ES
# 429/503/dropped responses and an outage, a mosquitto restart, good and
# broken model reloads, a full disk, the clock stepped back 1 h), with
# durations scaled down from the 30-minute run. After the drain the oracle
# must find every acknowledged reading exactly once in the buffer and in ES
# and at least once in Kafka, every event scored by one whole good model
# set, and the metrics equal to the buffer. chaos.py exits 1 on any of
# those, 2 when it could not run; either fails this test. CHAOS_SEED and
# CHAOS_MINUTES override the defaults (1313, 1: every fault kind at least
# once, in a minute of make test's 15; `make chaos` runs 2, and 30 for the
# long run).
. "$(dirname "$0")/lib.sh"

rc=0
/usr/bin/python3 "$top/tests/chaos/chaos.py" --minutes "${CHAOS_MINUTES:-1}" \
	--seed "${CHAOS_SEED:-1313}" --table "$T/table.md" >"$T/chaos.log" 2>&1 || rc=$?
# The schedule and the table; the fault log only when something failed.
sed -n '/^chaos: seed/,/^\[chaos/p' "$T/chaos.log" | grep -v '^\[chaos' | head -3
[ -s "$T/table.md" ] && cat "$T/table.md"
[ $rc -eq 0 ] || tail -n 40 "$T/chaos.log" >&2
expect "chaos.py exits 0 (nothing lost, no duplicates, metrics exact)" $rc 0
grep -q '^| \*\*lost\*\* .* | \*\*0\*\* |$' "$T/table.md" || fail "the table does not say 0 lost"
grep -q 'Verdict: PASS' "$T/table.md" || fail "the table's verdict is not PASS"
finish
