#!/bin/bash
# test_fuzz.sh - the four fuzz targets (tests/fuzz/README.md) for
# FUZZ_SECONDS each (default 15 here, to fit make test's 15 minutes; make
# fuzz runs 30), two at a time (about 30 s of wall time on two cores); the
# unit test test_fuzz replays the whole corpus besides: fails when a target crashes, leaks, times out or is stuck,
# printing the reproducer (tests/fuzz/run.sh). Needs make fuzz-build
# (make test and make check build it).
. "$(dirname "$0")/lib.sh"
for t in reading config model es_bulk; do
	[ -x "$top/build/fuzz/fuzz_$t" ] || { fail "build/fuzz/fuzz_$t missing: run make fuzz-build"; finish; }
done
if FUZZ_SECONDS=${FUZZ_SECONDS:-15} FUZZ_JOBS=2 "$top/tests/fuzz/run.sh"; then
	pass "every fuzz target ran ${FUZZ_SECONDS:-15} s without a finding"
else
	fail "a fuzz target found a bug (above: its reproducer and how to replay it)"
fi
finish
