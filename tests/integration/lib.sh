# lib.sh - shared by the integration tests: a private temp dir removed on
# exit, failure reporting, a config writer, and waiting helpers.
# Tests run the real binary: $FIELDGATE (default build/fieldgate).
# FIELDGATE_SLOW=N (a whole number, default 1) is how many times slower that
# binary is than the optimised build (make test-tsan: a TSan build): every
# wait_for/wait_events timeout is multiplied by it, and `slow SECONDS` scales
# a test's own sleeps and timeouts. Only waits scale, never what is checked.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FG=${FIELDGATE:-$top/build/fieldgate}
SLOW=${FIELDGATE_SLOW:-1}
[[ $SLOW =~ ^[1-9][0-9]*$ ]] || { echo "FIELDGATE_SLOW=$SLOW: expected a whole number >= 1" >&2; exit 2; }
# slow SECONDS: SECONDS (whole or decimal) times FIELDGATE_SLOW.
slow() { awk -v s="$1" -v k="$SLOW" 'BEGIN { printf "%g\n", s * k }'; }
T=$(mktemp -d /tmp/fieldgate-it.XXXXXX)
# check-config run as root checks data_dir for the packaged service user
# (fieldgate) when it exists; the tests' data_dirs are root's, in $T (0700).
export FIELDGATE_SERVICE_USER=${FIELDGATE_SERVICE_USER:-$(id -un)}
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
# expect DESC ACTUAL EXPECTED
expect() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: got '$2', expected '$3'"; fi; }
finish() { [ $fails -eq 0 ] && echo "all checks passed" || echo "$fails checks failed"; exit $((fails > 0)); }

# write_config FILE [extra INI text appended]: site_conf.sh (shared with
# tests/cross/test_cross.sh).
. "$top/tests/integration/site_conf.sh"

# free_port: print a TCP port that is free on 127.0.0.1 now.
free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# sql QUERY: run against the test buffer; fails when there is none yet
# (sqlite3 would create an empty file, which the agent's start then takes
# for a buffer lost at a power cut and moves aside).
sql() { [ -e "$T/data/buffer.db" ] && sqlite3 -batch -noheader "$T/data/buffer.db" "$1"; }

# wait_for DESC SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local desc=$1 secs=$(($2 * SLOW)); shift 2
	local end=$((SECONDS + secs))
	while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.1; done
	fail "timed out after ${secs}s waiting for $desc"
	return 1
}
