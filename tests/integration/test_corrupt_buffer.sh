#!/bin/bash
# A damaged buffer at start (SPEC §4, §6): the agent moves it aside to
# buffer.db.corrupt-YYYYMMDDTHHMMSSZ (byte for byte, never deleted), starts
# a fresh buffer and keeps ingesting, says so in one log line and in the
# state file (buffer_recovered_from), and never reuses a seq: the fresh
# buffer starts above every seq the damaged one issued (at wall-clock
# ms * 1000, see store/store_recover.c). Cases: a file that is not a
# database, a damaged page inside a real buffer; a restart after a
# recovery recovers nothing; another application's SQLite database is
# refused and left untouched. (The salvage of a damaged page: test_buffer_salvage.sh.)
. "$(dirname "$0")/lib.sh"
# The sanitized build: the recovery path must be ASan/LSan-clean.
FG=${FIELDGATE_ASAN:-$FG}
PY=/usr/bin/python3

HTTP_PORT=$(free_port)
SIM_SENSORS=20 SIM_RATE=20 write_config "$T/site.conf"   # 400 readings/s
sed -i "s/^listen =.*/listen = 127.0.0.1:$HTTP_PORT/" "$T/site.conf"
db=$T/data/buffer.db
# flock -s: the agent rewrites the file in place under flock() (agent/state.c).
state() { [ -e "$T/data/agent.state" ] && flock -s "$T/data/agent.state" sed -n "s/^$1=//p" "$T/data/agent.state" 2>/dev/null; }
newest() { sql 'SELECT coalesce(max(seq), 0) FROM events' 2>/dev/null || echo 0; }
run_for() { # SECONDS LOG: run the agent, then SIGTERM it; sets run_rc
	"$FG" run -c "$T/site.conf" 2>>"$2" &
	local pid=$!; pids+=($pid)
	sleep "$1"
	kill -TERM $pid; wait $pid; run_rc=$?
}
# more_than N: the buffer's newest seq passes N.
more_than() { [ "$(newest)" -gt "$1" ] 2>/dev/null; }

# A real buffer first.
run_for 1.5 "$T/run0.log"
expect "first run exits 0" $run_rc 0
old_max=$(newest)
[ "$old_max" -gt 100 ] || fail "first run stored only $old_max events"

# 1. The file is not a database any more: its first page is garbage.
printf 'this is no longer a SQLite database, the header is gone.....' |
	dd of="$db" bs=1 seek=0 conv=notrunc status=none
cp "$db" "$T/damaged.copy"
t0=$(date +%s%3N)
"$FG" run -c "$T/site.conf" 2>>"$T/run1.log" &
pid=$!; pids+=($pid)
wait_for "events in the fresh buffer" 10 more_than 0
t1=$(date +%s%3N)
echo "first event committed $((t1 - t0)) ms after start (ASan build)"
has_recovered() { [ -n "$(state buffer_recovered_from)" ]; }
wait_for "buffer_recovered_from in the state file" 5 has_recovered
moved=$(state buffer_recovered_from)
kill -0 $pid 2>/dev/null || fail "the agent exited: $(tail -3 "$T/run1.log")"
case "$moved" in
"$db".corrupt-20[0-9][0-9][01][0-9][0-3][0-9]T[0-2][0-9][0-5][0-9][0-5][0-9]Z) pass "moved to $moved" ;;
*) fail "buffer_recovered_from is '$moved'" ;;
esac
cmp -s "$moved" "$T/damaged.copy" && pass "the damaged file is kept byte for byte" ||
	fail "$moved differs from the damaged file (or is missing)"
expect "one log line about the damaged buffer" "$(grep -c "buffer $db was damaged" "$T/run1.log")" 1
grep "was damaged" "$T/run1.log" | grep -q "$moved" || fail "the log line does not name $moved: $(grep damaged "$T/run1.log")"
"$FG" status -c "$T/site.conf" --json >"$T/status.json"; expect "status --json exits 0" $? 0
$PY - "$T/status.json" "$moved" <<'PY' || fail "status --json: $(cat "$T/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["running"] is True and s["buffer_writable"] is True, s
assert s["buffer_recovered_from"] == sys.argv[2], s
PY
# /healthz: still serving (200), but "degraded" and naming the old file.
curl -s "http://127.0.0.1:$HTTP_PORT/healthz" >"$T/health.json"
$PY - "$T/health.json" "$moved" <<'PY' || fail "/healthz after a recovery: $(cat "$T/health.json")"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["status"] == "degraded" and h["buffer_recovered_from"] == sys.argv[2], h
PY
kill -TERM $pid; wait $pid; expect "SIGTERM exits 0 after a recovery" $? 0
floor=$(sql 'SELECT min(seq) FROM events')
[ "$floor" -gt "$old_max" ] || fail "new seqs start at $floor, not above the old $old_max"
[ "$floor" -ge $((t0 * 1000)) ] || fail "new seqs start at $floor, below the clock floor $((t0 * 1000))"
expect "new seqs contiguous from the floor" "$(sql 'SELECT max(seq) - min(seq) + 1 = count(*) FROM events')" 1
expect "each event's JSON carries its seq and event_id" \
	"$(sql "SELECT count(*) FROM events WHERE json_extract(data, '\$.seq') != seq OR json_extract(data, '\$.event_id') != 'gw-test:' || seq")" 0
expect "fresh buffer integrity" "$(sql 'PRAGMA integrity_check')" ok

# 2. A restart after the recovery: nothing to recover, seq goes on.
prev=$(newest)
run_for 1.5 "$T/run2.log"
expect "restart exits 0" $run_rc 0
expect "no recovery on a healthy restart" "$(grep -c "was damaged" "$T/run2.log")" 0
expect "seq goes on from the fresh buffer" "$(sql "SELECT min(seq) FROM events WHERE seq > $prev")" $((prev + 1))
expect "state file has no buffer_recovered_from after a clean start" "$(state buffer_recovered_from)" ""

# 3. A damaged page inside a real buffer (the meta table's root page).
root=$(sql "SELECT rootpage FROM sqlite_master WHERE name = 'meta'")
before=$(newest)
$PY - "$db" "$root" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek((int(sys.argv[2]) - 1) * 4096)
    f.write(b"\xaa" * 4096)
PY
run_for 2 "$T/run3.log"
expect "run on a damaged page exits 0" $run_rc 0
expect "one log line about the damaged page" "$(grep -c "buffer $db was damaged" "$T/run3.log")" 1
ls "$db".corrupt-* >/dev/null 2>&1 || fail "no .corrupt file"
# The events of the damaged file are salvaged with their seqs (test_buffer_salvage.sh);
# the new ones start above every seq it held.
now_min=$(grep -o 'new events from seq [0-9]*' "$T/run3.log" | grep -o '[0-9]*$')
[ "${now_min:-0}" -gt "$before" ] || fail "after the second recovery seqs start at $now_min, not above $before"
expect "the new events start there" "$(sql "SELECT min(seq) FROM events WHERE seq > $before")" "$now_min"
expect "the events of the damaged page's buffer are salvaged" \
	"$(sql "SELECT count(*) FROM events WHERE seq <= $before")" \
	"$(grep -o 'salvaged [0-9]* events' "$T/run3.log" | grep -o '[0-9]*')"
expect "two damaged files kept" "$(ls "$db".corrupt-* | grep -vc -- '-wal$\|-shm$')" 2

# 4. Another application's database is not ours to move: refused, untouched.
rm -rf "$T/data"; mkdir -p "$T/data"
sqlite3 "$db" 'CREATE TABLE notes(x); INSERT INTO notes VALUES (42);'
"$FG" run -c "$T/site.conf" 2>"$T/run4.log" &
pid=$!; pids+=($pid)
for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then
	fail "the agent runs on another application's database"
	kill -TERM $pid; wait $pid
else
	wait $pid; rc=$?
	[ $rc -ne 0 ] || fail "exit status 0 on another application's database"
fi
grep -q "not a fieldgate buffer" "$T/run4.log" || fail "no clear message: $(cat "$T/run4.log")"
expect "the foreign database is untouched" "$(sql 'SELECT x FROM notes')" 42
expect "nothing moved aside" "$(ls "$T/data" | grep -c corrupt)" 0
finish
