#!/bin/bash
# Run the suite: every unit-test binary (built with ASan+UBSan by
# `make asan`) and every integration test (tests/integration/*.sh, against
# the real build/fieldgate). Prints one line per test and ends with
# "N passed, N failed"; exits non-zero if anything failed.
#
#   tests/run.sh [NAME...]   only the tests whose name (unit/test_x,
#                            integration/test_y) contains one of the NAMEs;
#                            a NAME ending in $ must end the name
#                            (integration/test_es$: not test_es_standin)
#
# FIELDGATE, given by the caller, is the binary every integration test runs
# (make test-tsan: build/tsan/fieldgate); it then also replaces
# FIELDGATE_ASAN, the sanitized build that some tests pick by default.
# FIELDGATE_SLOW=N multiplies the tests' waits for a slow (sanitized) binary.
#
# Sanitizer reports never go unseen: ASan, LSan, UBSan and TSan write them
# to files under a directory of this run (log_path), which is checked after
# every test; a report there fails the test, with its content, even when
# the process that wrote it was a background agent whose exit status no
# check looked at.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
if [ -n "${FIELDGATE:-}" ]; then
	export FIELDGATE_ASAN=${FIELDGATE_ASAN:-$FIELDGATE}
else
	export FIELDGATE_ASAN=${FIELDGATE_ASAN:-$top/build/asan/fieldgate}
fi
export FIELDGATE=${FIELDGATE:-$top/build/fieldgate}
passed=0 failed=0 failures=()
logdir=$(mktemp -d /tmp/fieldgate-tests.XXXXXX)
trap 'rm -rf "$logdir"' EXIT
san=$logdir/sanitizer
mkdir -p "$san"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}:log_path=$san/asan
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$san/ubsan
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}:log_path=$san/tsan

# sanitizer_reports: print the reports written during the last test (and
# remove them); false when there were none.
sanitizer_reports() {
	local f found=1
	for f in "$san"/*; do
		[ -s "$f" ] || continue
		found=0
		echo "--- sanitizer report $(basename "$f") (pid ${f##*.}):"
		cat "$f"
	done
	rm -f "$san"/*
	return $found
}

run_one() { # name, command...
	local name=$1; shift
	local start=$SECONDS ok=1
	rm -f "$san"/*
	"$@" >"$logdir/out" 2>&1 || ok=0
	if sanitizer_reports >>"$logdir/out"; then
		echo "FAIL: a sanitizer reported an error (above)" >>"$logdir/out"
		ok=0
	fi
	if [ $ok -eq 1 ]; then
		passed=$((passed + 1))
		printf 'PASS  %-40s %3ds\n' "$name" $((SECONDS - start))
	else
		failed=$((failed + 1)); failures+=("$name")
		printf 'FAIL  %-40s %3ds\n' "$name" $((SECONDS - start))
		sed 's/^/    | /' "$logdir/out" | tail -n "${FAIL_LINES:-60}"
	fi
}

# selected NAME: true when no NAMEs were given or NAME contains one of them.
selected() {
	local o
	[ ${#only[@]} -eq 0 ] && return 0
	for o in "${only[@]}"; do
		if [[ $o == *'$' ]]; then
			[[ $1 == *"${o%'$'}" ]] && return 0
		else
			[[ $1 == *"$o"* ]] && return 0
		fi
	done
	return 1
}

only=("$@")
t0=$SECONDS
for t in build/asan/tests/test_*; do
	[ -x "$t" ] || continue
	n=unit/$(basename "$t")
	selected "$n" || continue
	run_one "$n" bash -c "cd tests/unit && ../../$t"
done
for t in tests/integration/test_*.sh; do
	n=integration/$(basename "$t" .sh)
	selected "$n" || continue
	run_one "$n" bash "$t"
done
echo
[ $failed -gt 0 ] && printf 'failed: %s\n' "${failures[*]}"
echo "wall time $((SECONDS - t0)) s"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
