#!/bin/bash
# A buffer damaged in the middle (issue 17, point 2; SPEC §4, §6): one 4 KiB
# page of a stopped agent's buffer.db overwritten with random bytes (dd, as
# an operator would see it), at the start, the middle and the end of the
# events table, and at page 41 as in the issue. The next start finds it
# (quick_check within its time budget), moves the file aside as for a file
# that does not open, salvages every readable event into the new buffer
# (seq, ts, key and bytes unchanged; the sinks' positions kept), logs one
# line with how many were salvaged and which seqs were lost, and shows it
# in `status`, `status --json` and /healthz. No seq is reused afterwards.
. "$(dirname "$0")/lib.sh"
FG=${FIELDGATE_ASAN:-$FG}
PY=/usr/bin/python3

HTTP_PORT=$(free_port)
SIM_SENSORS=50 SIM_RATE=40 write_config "$T/site.conf"   # 2,000 readings/s
sed -i "s/^listen =.*/listen = 127.0.0.1:$HTTP_PORT/" "$T/site.conf"
db=$T/data/buffer.db
state() { [ -e "$T/data/agent.state" ] && flock -s "$T/data/agent.state" sed -n "s/^$1=//p" "$T/data/agent.state" 2>/dev/null; }
has_recovered() { [ -n "$(state buffer_salvaged)" ]; }
# dump FILE: every event of FILE as seq|ts|hex(key)|hex(data), by seq.
dump() { sqlite3 -batch -noheader "$1" 'SELECT seq, ts, hex(key), hex(data) FROM events ORDER BY seq'; }

# A pristine buffer of a known number of events, with a sink position.
"$FG" run -c "$T/site.conf" 2>"$T/run0.log" &
pid=$!; pids+=("$pid")
more_than() { [ "$(sql 'SELECT coalesce(max(seq), 0) FROM events' 2>/dev/null)" -ge "$1" ] 2>/dev/null; }
wait_for "4,000 events" 20 more_than 4000
kill -TERM $pid; wait $pid; expect "first run exits 0" $? 0
sql "INSERT INTO positions VALUES ('kafka', 1500, '', 0)"
n_orig=$(sql 'SELECT count(*) FROM events')
max_orig=$(sql 'SELECT max(seq) FROM events')
expect "the pristine buffer is contiguous" "$(sql 'SELECT max(seq) - min(seq) + 1 = count(*) FROM events')" 1
expect "the pristine buffer is sound" "$(sql 'PRAGMA integrity_check')" ok
cp "$db" "$T/pristine.db"
dump "$T/pristine.db" >"$T/pristine.txt"
# The events table's leaves in key order (dbstat: path order is b-tree order).
mapfile -t leaves < <(sql "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY path")
[ "${#leaves[@]}" -gt 100 ] || fail "only ${#leaves[@]} leaves in events"
echo "$n_orig events (seq 1..$max_orig) on ${#leaves[@]} leaf pages"
expect "page 41 (the issue's dd seek=40) is in events" "$(sql 'SELECT name FROM dbstat WHERE pageno = 41')" events

case_no=0
# salvage_case WHERE PAGE: damage PAGE of a copy of the pristine buffer, start, check.
salvage_case() {
	local where=$1 page=$2 log moved
	case_no=$((case_no + 1))
	log=$T/run-$case_no.log
	rm -rf "$T/data"; mkdir -p "$T/data"
	cp "$T/pristine.db" "$db"
	dd if=/dev/urandom of="$db" bs=4096 seek=$((page - 1)) count=1 conv=notrunc status=none
	cp "$db" "$T/damaged.copy"
	[ "$(sql 'PRAGMA integrity_check' 2>&1 | head -1)" != ok ] ||
		fail "$where: the damage did not take (page $page)"
	"$FG" run -c "$T/site.conf" 2>"$log" &
	pid=$!; pids+=("$pid")
	wait_for "$where: the salvage in the state file" 10 has_recovered
	kill -0 $pid 2>/dev/null || fail "$where: the agent exited: $(tail -3 "$log")"
	moved=$(state buffer_recovered_from)
	case "$moved" in
	"$db".corrupt-20[0-9][0-9][01][0-9][0-3][0-9]T[0-2][0-9][0-5][0-9][0-5][0-9]Z) ;;
	*) fail "$where: buffer_recovered_from is '$moved'" ;;
	esac
	cmp -s "$moved" "$T/damaged.copy" || fail "$where: $moved differs from the damaged file"
	salvaged=$(state buffer_salvaged); lost=$(state buffer_lost); ranges=$(state buffer_lost_ranges)
	# One log line: how many salvaged, which seqs lost.
	expect "$where: one log line" "$(grep -c "buffer $db was damaged" "$log")" 1
	grep "was damaged" "$log" | grep -q "salvaged $salvaged events" ||
		fail "$where: the log line does not say salvaged $salvaged: $(grep damaged "$log")"
	if [ -n "$ranges" ]; then
		grep "was damaged" "$log" | grep -qF "lost (unreadable, still in the old file) seqs: $ranges" ||
			fail "$where: the log line does not name the lost seqs $ranges"
	fi
	"$FG" status -c "$T/site.conf" >"$T/status.txt"; expect "$where: status exits 0" $? 0
	grep -qF "salvaged $salvaged events from it" "$T/status.txt" ||
		fail "$where: status does not say what was salvaged: $(grep -A1 WARNING "$T/status.txt")"
	"$FG" status -c "$T/site.conf" --json >"$T/status.json"; expect "$where: status --json exits 0" $? 0
	curl -s "http://127.0.0.1:$HTTP_PORT/healthz" >"$T/health.json"
	$PY - "$T/status.json" "$T/health.json" "$moved" "$salvaged" "$lost" "$ranges" <<'PY' ||
import json, sys
s = json.load(open(sys.argv[1])); h = json.load(open(sys.argv[2]))
moved, salvaged, lost, ranges = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
for d in (s, h):
    assert d["buffer_recovered_from"] == moved, d
    assert d["buffer_salvaged"] == salvaged and d["buffer_lost"] == lost, d
    assert d["buffer_lost_ranges"] == ranges, d
assert h["status"] == "degraded", h
assert s["sinks"]["kafka"]["position"] == 1500, s["sinks"]
PY
		fail "$where: status --json / healthz: $(cat "$T/health.json")"
	kill -TERM $pid; wait $pid; expect "$where: SIGTERM exits 0" $? 0
	# Every salvaged event byte for byte; what is missing is what was lost.
	dump "$db" | awk -F'|' -v m="$max_orig" '$1 <= m' >"$T/salvaged.txt"
	expect "$where: salvaged events as counted" "$(wc -l <"$T/salvaged.txt")" "$salvaged"
	expect "$where: every salvaged event is byte-identical" \
		"$(LC_ALL=C sort "$T/pristine.txt" >"$T/p.sorted"; LC_ALL=C sort "$T/salvaged.txt" |
		   LC_ALL=C comm -13 "$T/p.sorted" - | wc -l)" 0
	expect "$where: salvaged + lost = the events there were" $((salvaged + lost)) "$n_orig"
	{ [ "$lost" -gt 0 ] && [ "$lost" -le 100 ]; } || fail "$where: $lost lost for one page"
	$PY - "$T/pristine.txt" "$T/salvaged.txt" "$ranges" <<'PY' || fail "$where: the lost seqs are not the ones reported ($ranges)"
import sys
orig = {int(l.split("|")[0]) for l in open(sys.argv[1])}
got = {int(l.split("|")[0]) for l in open(sys.argv[2])}
said = set()
for r in sys.argv[3].split(","):
    a, _, b = r.partition("-")
    said |= set(range(int(a), int(b or a) + 1))
assert orig - got == said, (sorted(orig - got)[:20], sorted(said)[:20])
PY
	expect "$where: positions kept" "$(sql "SELECT seq FROM positions WHERE sink = 'kafka'")" 1500
	floor=$(sql "SELECT min(seq) FROM events WHERE seq > $max_orig")
	[ "${floor:-0}" -gt "$max_orig" ] || fail "$where: no new event above $max_orig"
	expect "$where: new seqs contiguous from the floor" \
		"$(sql "SELECT max(seq) - min(seq) + 1 = count(*) FROM events WHERE seq >= $floor")" 1
	expect "$where: new buffer integrity" "$(sql 'PRAGMA integrity_check')" ok
	# The count in status agrees with the rows (the holes are subtracted).
	expect "$where: status counts the rows" "$(sqlite3 "$db" 'SELECT count(*) FROM events')" \
		"$("$FG" status -c "$T/site.conf" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["buffered"])')"
	# A restart: nothing to recover, seq goes on above.
	prev=$(sql 'SELECT max(seq) FROM events')
	"$FG" run -c "$T/site.conf" 2>"$T/restart-$case_no.log" &
	pid=$!; pids+=("$pid")
	more() { [ "$(sql 'SELECT max(seq) FROM events' 2>/dev/null)" -gt "$prev" ] 2>/dev/null; }
	wait_for "$where: events after a restart" 10 more
	kill -TERM $pid; wait $pid
	expect "$where: no recovery on the restart" "$(grep -c "was damaged" "$T/restart-$case_no.log")" 0
	expect "$where: seq goes on" "$(sql "SELECT min(seq) FROM events WHERE seq > $prev")" $((prev + 1))
	echo "$where (page $page): salvaged $salvaged, lost $lost ($ranges)"
}

n=${#leaves[@]}
salvage_case "start of events" "${leaves[0]}"
salvage_case "middle of events" "${leaves[$((n / 2))]}"
salvage_case "end of events" "${leaves[$((n - 1))]}"
salvage_case "page 41 (the issue)" 41
finish
