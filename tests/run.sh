#!/bin/bash
# Run the whole suite: every unit-test binary (built with ASan+UBSan by
# `make asan`) and every integration test (tests/integration/*.sh, against
# the real build/fieldgate). Prints one line per test and ends with
# "N passed, N failed"; exits non-zero if anything failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
export FIELDGATE="$top/build/fieldgate"
export FIELDGATE_ASAN="$top/build/asan/fieldgate"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0 failures=()
logdir=$(mktemp -d /tmp/fieldgate-tests.XXXXXX)
trap 'rm -rf "$logdir"' EXIT

run_one() { # name, command...
	local name=$1; shift
	local start=$SECONDS
	if "$@" >"$logdir/out" 2>&1; then
		passed=$((passed + 1))
		printf 'PASS  %-40s %3ds\n' "$name" $((SECONDS - start))
	else
		failed=$((failed + 1)); failures+=("$name")
		printf 'FAIL  %-40s %3ds\n' "$name" $((SECONDS - start))
		sed 's/^/    | /' "$logdir/out" | tail -n 60
	fi
}

only=${1:-}
for t in build/asan/tests/test_*; do
	[ -x "$t" ] || continue
	n=unit/$(basename "$t")
	[ -n "$only" ] && [[ $n != *"$only"* ]] && continue
	run_one "$n" bash -c "cd tests/unit && ../../$t"
done
for t in tests/integration/test_*.sh; do
	n=integration/$(basename "$t" .sh)
	[ -n "$only" ] && [[ $n != *"$only"* ]] && continue
	run_one "$n" bash "$t"
done
echo
[ $failed -gt 0 ] && printf 'failed: %s\n' "${failures[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
