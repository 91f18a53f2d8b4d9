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
#
# Damage beyond the check at start (its 2 s budget covers a warm 2 GB file;
# FIELDGATE_BUFFER_CHECK_BUDGET_MS=-1 leaves all of it to the background):
# the background check finds it, and the agent restarts itself in place
# (same process) to move the file aside and salvage it, with no operator.
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
# salvage_case WHERE PAGE [background]: damage PAGE of a copy of the pristine
# buffer, start, check; with background, the check at start is skipped.
salvage_case() {
	local where=$1 page=$2 mode=${3:-} log moved budget=
	case_no=$((case_no + 1))
	log=$T/run-$case_no.log
	rm -rf "$T/data"; mkdir -p "$T/data"
	cp "$T/pristine.db" "$db"
	dd if=/dev/urandom of="$db" bs=4096 seek=$((page - 1)) count=1 conv=notrunc status=none
	cp "$db" "$T/damaged.copy"
	[ "$(sql 'PRAGMA integrity_check' 2>&1 | head -1)" != ok ] ||
		fail "$where: the damage did not take (page $page)"
	[ "$mode" = background ] && budget=-1
	FIELDGATE_BUFFER_CHECK_BUDGET_MS=$budget "$FG" run -c "$T/site.conf" 2>"$log" &
	pid=$!; pids+=("$pid")
	wait_for "$where: the salvage in the state file" 10 has_recovered
	kill -0 $pid 2>/dev/null || fail "$where: the agent exited: $(tail -3 "$log")"
	if [ "$mode" = background ]; then
		# Found after the start, by the background check; the same process
		# restarted itself; in that order.
		grep -q "at start was skipped (FIELDGATE_BUFFER_CHECK_BUDGET_MS=-1); the whole file is checked again in the background" "$log" ||
			fail "$where: no word of the skipped check at start: $(head -5 "$log")"
		expect "$where: the restart in place, once" \
			"$(grep -c "found by the background check): restarting in place to move it aside" "$log")" 1
		expect "$where: started twice in one process" "$(grep -c "started: gateway" "$log")" 2
		grep -q "restarting in place" "$log" && [ "$(grep -m1 -n "restarting in place" "$log" | cut -d: -f1)" -lt \
			"$(grep -m1 -n "was damaged" "$log" | cut -d: -f1)" ] || fail "$where: the salvage came before the restart"
		[ ! -e "$db.check" ] || fail "$where: the marker $db.check is still there"
	fi
	moved=$(state buffer_recovered_from)
	case "$moved" in
	"$db".corrupt-20[0-9][0-9][01][0-9][0-3][0-9]T[0-2][0-9][0-5][0-9][0-5][0-9]Z) ;;
	*) fail "$where: buffer_recovered_from is '$moved'" ;;
	esac
	# (In the background case the agent wrote to it before the damage was found.)
	[ "$mode" = background ] || cmp -s "$moved" "$T/damaged.copy" || fail "$where: $moved differs from the damaged file"
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
	# The new buffer's own events start at the floor the log line names;
	# below it, the salvaged ones: those of the pristine file and, in the
	# background case, those the agent added before it found the damage.
	floor=$(grep -o "new events from seq [0-9]*" "$log" | grep -o "[0-9]*$")
	[ "${floor:-0}" -gt "$max_orig" ] || fail "$where: the floor '$floor' is not above $max_orig"
	appended=$(sql "SELECT count(*) FROM events WHERE seq > $max_orig AND seq < $floor")
	if [ "$mode" = background ]; then
		[ "$appended" -gt 0 ] || fail "$where: nothing written before the damage was found"
		expect "$where: what was written before the restart is salvaged whole" \
			"$(sql "SELECT max(seq) - $max_orig = count(*) FROM events WHERE seq > $max_orig AND seq < $floor")" 1
	else
		expect "$where: nothing between the old file's seqs and the floor" "$appended" 0
	fi
	dump "$db" | awk -F'|' -v m="$max_orig" '$1 <= m' >"$T/salvaged.txt"
	expect "$where: salvaged events as counted" $(($(wc -l <"$T/salvaged.txt") + appended)) "$salvaged"
	expect "$where: every salvaged event is byte-identical" \
		"$(LC_ALL=C sort "$T/pristine.txt" >"$T/p.sorted"; LC_ALL=C sort "$T/salvaged.txt" |
		   LC_ALL=C comm -13 "$T/p.sorted" - | wc -l)" 0
	expect "$where: salvaged + lost = the events there were" $((salvaged + lost)) $((n_orig + appended))
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
	[ "$(sql "SELECT count(*) FROM events WHERE seq >= $floor")" -gt 0 ] || fail "$where: no new event from the floor $floor"
	expect "$where: new seqs contiguous from the floor" \
		"$(sql "SELECT max(seq) - min(seq) + 1 = count(*) FROM events WHERE seq >= $floor")" 1
	expect "$where: new buffer integrity" "$(sql 'PRAGMA integrity_check')" ok
	# The count in status agrees with the rows (the holes are subtracted).
	expect "$where: status counts the rows" "$(sqlite3 "$db" 'SELECT count(*) FROM events')" \
		"$("$FG" status -c "$T/site.conf" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["buffered"])')"
	# "accepted" counts events, not the seqs the floor jumped over.
	expect "$where: status --json accepted counts events" \
		"$("$FG" status -c "$T/site.conf" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["accepted"])')" \
		$((max_orig + appended + $(sql "SELECT count(*) FROM events WHERE seq >= $floor")))
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
salvage_case "middle of events, beyond the check at start" "${leaves[$((n / 2))]}" background

# A sound file, all of it checked in the background: no restart.
rm -rf "$T/data"; mkdir -p "$T/data"; cp "$T/pristine.db" "$db"
FIELDGATE_BUFFER_CHECK_BUDGET_MS=-1 "$FG" run -c "$T/site.conf" 2>"$T/sound.log" &
pid=$!; pids+=("$pid")
checked() { grep -q "in the background in .* s: sound" "$T/sound.log"; }
wait_for "the background check passes a sound file" 10 checked
kill -TERM $pid; wait $pid; expect "sound file: SIGTERM exits 0" $? 0
expect "sound file: no restart" "$(grep -c "restarting in place" "$T/sound.log")" 0
expect "sound file: not moved" "$(ls "$T/data" | grep -c corrupt)" 0

# Damage while running, after every check: the oldest leaf, which the
# agent wrote (and checkpointed) seconds ago and never writes again, while
# a sink that cannot deliver (Elasticsearch on a port nobody listens on)
# reads it again at every retry. That read, or the writer's limits, finds
# it; the agent restarts itself in place and salvages the file.
rm -rf "$T/data"; mkdir -p "$T/data"
SIM_SENSORS=50 SIM_RATE=40 write_config "$T/sink.conf" "[elasticsearch]" "enabled = true" \
	"url = http://127.0.0.1:$(free_port)"
"$FG" run -c "$T/sink.conf" 2>"$T/sink.log" &
pid=$!; pids+=("$pid")
wait_for "1,000 events from the sink case" 20 more_than 1000
sleep 2.5 # a checkpoint (every 2 s) has put the oldest leaf in the file itself
first_leaf=$(sql "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY path LIMIT 1")
dd if=/dev/urandom of="$db" bs=4096 seek=$((first_leaf - 1)) count=1 conv=notrunc status=none
wait_for "the salvage after damage at run time" 20 has_recovered
kill -0 $pid 2>/dev/null || fail "sink case: the agent exited: $(tail -3 "$T/sink.log")"
grep -E "is damaged \(.*malformed.*, found by (elasticsearch|the store writer)\): restarting in place" "$T/sink.log" ||
	fail "sink case: no restart in place on the read error: $(grep -i damaged "$T/sink.log")"
expect "sink case: started twice in one process" "$(grep -c "started: gateway" "$T/sink.log")" 2
lost=$(state buffer_lost); salvaged=$(state buffer_salvaged)
{ [ "${lost:-0}" -gt 0 ] && [ "$lost" -le 100 ]; } || fail "sink case: $lost lost for one page"
# (kill -9: a clean stop waits 5 s for the sink that cannot deliver.)
kill -KILL $pid; wait $pid 2>/dev/null
expect "sink case: the buffer as salvaged is sound" "$(sql 'PRAGMA integrity_check')" ok
echo "damage at run time: salvaged $salvaged, lost $lost ($(grep -o "found by [a-z ]*" "$T/sink.log" | head -1))"
finish
