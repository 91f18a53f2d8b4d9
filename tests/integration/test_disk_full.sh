#!/bin/bash
# A full file system under the buffer (SPEC §5, §6): data_dir on a small
# tmpfs, a filler file taking most of it. With the MQTT source at QoS 1 the
# agent must not crash, must not corrupt the buffer, must say so once in
# its log and in `status --json` ("buffer_writable": false), and must stop
# acknowledging readings, so that the broker keeps them; when space returns
# it resumes by itself and every published reading is in the buffer exactly
# once. The simulator source on a full disk pauses and resumes the same
# way, with seqs still contiguous. Needs root (mount); prints SKIP
# otherwise.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt_lib.sh"
# The sanitized build: the failure and retry paths must be ASan/LSan-clean.
FG=${FIELDGATE_ASAN:-$FG}

small=$T/small
mounted=0
# On exit, even on failure: stop what we started, then unmount, then
# lib.sh's cleanup removes $T.
disk_cleanup() {
	local p
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ $mounted -eq 1 ]; then
		umount "$small" 2>/dev/null || umount -l "$small" 2>/dev/null ||
			echo "warning: could not unmount $small" >&2
	fi
	cleanup
}
trap disk_cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: test_disk_full needs root to mount a small tmpfs (running as $(id -un))"
	exit 0
fi
mkdir -p "$small"
if ! err=$(mount -t tmpfs -o size=4m,mode=0755 tmpfs "$small" 2>&1); then
	echo "SKIP: cannot mount a tmpfs on $small: $err"
	exit 0
fi
mounted=1
free_kb() { df -k --output=avail "$small" | tail -1 | tr -d ' '; }
# fill KB: leave about KB kilobytes free on the tmpfs (in $small/filler).
fill() {
	rm -f "$small/filler"
	local n=$(( $(free_kb) - $1 ))
	[ $n -gt 0 ] && dd if=/dev/zero of="$small/filler" bs=1k count=$n status=none 2>/dev/null
	return 0
}
status_field() { # CONF KEY: one top-level key of status --json ("" if none)
	"$FG" status -c "$1" --json 2>/dev/null | $PY -c '
import json, sys
try:
    v = json.load(sys.stdin)[sys.argv[1]]
except Exception:
    sys.exit(0)
print(json.dumps(v))' "$2"
}
# stop_within SECONDS PID: SIGTERM, and the exit status within SECONDS
# (a failure, and SIGKILL, after that); sets stop_rc.
stop_within() {
	local end=$((SECONDS + $1))
	kill -TERM "$2" 2>/dev/null
	while kill -0 "$2" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
	if kill -0 "$2" 2>/dev/null; then
		fail "still running $1 s after SIGTERM (killed): $(grep -v 'readings/s' "$3" | tail -1)"
		kill -9 "$2" 2>/dev/null
		wait "$2"; stop_rc=$?
		return 1
	fi
	wait "$2"; stop_rc=$?
}
# room: space returns (the filler goes and the file system grows).
room() { rm -f "$small/filler"; mount -o remount,size=64m "$small" || fail "remount"; }
not_writable() { [ "$(status_field "$1" buffer_writable)" == false ]; }
writable() { [ "$(status_field "$1" buffer_writable)" == true ]; }
log_has() { grep -q "$2" "$1"; }
log_count_above() { [ "$(grep -c "$2" "$1")" -gt "$3" ]; } # LOG TEXT N: more than N lines

# ---- MQTT QoS 1 on a full disk ----
start_broker || mqtt_finish
mkdir -p "$small/data"
DATA_DIR=$small/data write_mqtt_config "$T/mqtt.conf"
db=$small/data/buffer.db
start_agent "$T/mqtt.conf" "$T/agent.log"
wait_connected "$T/mqtt.conf" 15 || mqtt_finish
fill 900    # about 1,300 events' worth of room, for 6,000 readings
N=6000
q=(--sensors 20 --rate 100 --count $N --seed 21 --start 2026-02-01T00:00:00Z)
sim_file "$T/pub.jsonl" "${q[@]}"
sim_publish_bg "$T/pub.log" --topic 'sensors/{sensor_id}/reading' --qos 1 "${q[@]}"
wait_for "the agent to report the buffer not writable" 30 log_has "$T/agent.log" "cannot write to the buffer"
wait $pub; expect "the publisher finished (the broker took every reading)" $? 0
sleep 3     # several retries (backoff 100 ms .. 5 s)
kill -0 $agent_pid 2>/dev/null || fail "the agent died on a full disk: $(tail -5 "$T/agent.log")"
held=$(count_events "$db")
echo "disk full after $held of $N readings; $(free_kb) KB free"
[ "$held" -lt $N ] || fail "all $N readings fit: the disk never filled"
wait_for "status --json to say buffer_writable false" 10 not_writable "$T/mqtt.conf"
expect "one log line for the failure, not one per reading" "$(grep -c "cannot write to the buffer" "$T/agent.log")" 1
grep "cannot write to the buffer" "$T/agent.log" | grep -q "disk full writing $db" ||
	fail "the log line does not say disk full and name $db: $(grep -m1 "cannot write" "$T/agent.log")"
sleep 2
expect "nothing more committed while full" "$(count_events "$db")" "$held"
# The readings not acknowledged are still at the broker: once there is room
# again they all arrive.
room
wait_events $N 60 "$db"
kill -0 $agent_pid 2>/dev/null || fail "the agent died after space returned: $(tail -5 "$T/agent.log")"
wait_for "status --json to say buffer_writable true" 10 writable "$T/mqtt.conf"
expect "one 'writing again' log line" "$(grep -c "writing to the buffer again" "$T/agent.log")" 1
sleep 0.5
compare_buffer "$T/pub.jsonl" "$db" || fail "the buffer differs from the published readings"
expect "seq contiguous across the pause" "$(sqlite3 "$db" 'SELECT min(seq) = 1 AND max(seq) = count(*) FROM events')" 1
stop_within 20 $agent_pid "$T/agent.log"; expect "SIGTERM exits 0" $stop_rc 0
expect "integrity_check after a full disk" "$(sqlite3 "$db" 'PRAGMA integrity_check')" ok
stop_broker

# ---- the simulator on a full disk ----
mkdir -p "$small/sim"
SIM_SENSORS=20 SIM_RATE=50 DATA_DIR=$small/sim write_config "$T/sim.conf"
rm -rf "$small/data"
mount -o remount,size=4m "$small" || fail "remount to 4m"
fill 600
sdb=$small/sim/buffer.db
start_agent "$T/sim.conf" "$T/sim.log"
wait_for "the simulator agent to hit the full disk" 30 log_has "$T/sim.log" "cannot write to the buffer"
sleep 2
kill -0 $agent_pid 2>/dev/null || fail "the simulator agent died on a full disk: $(tail -5 "$T/sim.log")"
wait_for "status --json (simulator) to say buffer_writable false" 10 not_writable "$T/sim.conf"
n1=$(count_events "$sdb"); sleep 2; n2=$(count_events "$sdb")
expect "simulator: nothing committed while full" "$n2" "$n1"
# A commit can squeeze through before the room comes (then fail again):
# wait for a "writing again" line after it, not any.
resumed=$(grep -c "writing to the buffer again" "$T/sim.log")
room
wait_for "the simulator to resume" 30 log_count_above "$T/sim.log" "writing to the buffer again" "$resumed"
n3=$(count_events "$sdb"); sleep 1.5; n4=$(count_events "$sdb")
[ "$n4" -gt "$n3" ] || fail "the simulator did not resume ($n3 then $n4 events)"
writable "$T/sim.conf" || fail "simulator: status does not say buffer_writable true again"
stop_within 20 $agent_pid "$T/sim.log"; expect "simulator: SIGTERM exits 0" $stop_rc 0
expect "simulator: seqs contiguous" "$(sqlite3 "$sdb" 'SELECT max(seq) - min(seq) + 1 = count(*) FROM events')" 1
expect "simulator: integrity_check" "$(sqlite3 "$sdb" 'PRAGMA integrity_check')" ok
expect "simulator: every event's JSON carries its seq" \
	"$(sqlite3 "$sdb" "SELECT count(*) FROM events WHERE json_extract(data, '\$.seq') != seq")" 0

# ---- SIGTERM while the disk is full: the agent gives up on what it
# cannot commit (saying so) within its drain time, and exits ----
rm -rf "$small/sim"; mkdir -p "$small/sim"
mount -o remount,size=4m "$small" || fail "remount to 4m"
fill 600
start_agent "$T/sim.conf" "$T/sim2.log"
wait_for "the simulator agent to hit the full disk again" 30 log_has "$T/sim2.log" "cannot write to the buffer"
sleep 4     # the queue (2048 readings) fills up: the simulator thread waits on it
if stop_within 30 $agent_pid "$T/sim2.log"; then
	[ $stop_rc -le 1 ] || fail "SIGTERM on a full disk: exit status $stop_rc"
	grep -q "not committed" "$T/sim2.log" || fail "SIGTERM on a full disk: no line about the readings not committed"
fi
expect "integrity_check after SIGTERM on a full disk" "$(sqlite3 "$sdb" 'PRAGMA integrity_check')" ok

# ---- a start on a full disk (issue 13's chaos, seed 1313: kill -9 while
# full, then the restart): SQLite cannot write the -shm to open the WAL.
# The agent must wait for space, saying so once, not exit into a restart
# loop; once there is room it opens the buffer and carries on ----
rm -rf "$small/sim"; mkdir -p "$small/sim"
mount -o remount,size=4m "$small" || fail "remount to 4m"
start_agent "$T/sim.conf" "$T/sim3.log"
wait_for "the simulator agent's first events" 30 has_events 100 1 "$sdb"
kill -9 $agent_pid; wait $agent_pid 2>/dev/null
before=$(count_events "$sdb")
rm -f "$sdb-shm"   # rebuilt from the WAL at open: a full disk makes that fail
fill 0
start_agent "$T/sim.conf" "$T/sim3.log"
wait_for "the agent to say it waits for space to open the buffer" 20 log_has "$T/sim3.log" "cannot open the buffer, the disk is full"
sleep 3
kill -0 $agent_pid 2>/dev/null || fail "the agent exited when it could not open the buffer on a full disk: $(tail -3 "$T/sim3.log")"
expect "one line for the wait, not one per retry" "$(grep -c "cannot open the buffer" "$T/sim3.log")" 1
# systemctl stop during that wait: a graceful stop at once, not the default
# action of SIGTERM (which the agent blocks from its first instruction).
stop_within 5 $agent_pid "$T/sim3.log"; expect "SIGTERM while waiting for disk space exits 0" $stop_rc 0
grep -q "stopped while waiting for disk space" "$T/sim3.log" ||
	fail "SIGTERM while waiting for disk space: no line saying so: $(tail -2 "$T/sim3.log")"
start_agent "$T/sim.conf" "$T/sim4.log"
wait_for "the restarted agent to wait for space again" 20 log_has "$T/sim4.log" "cannot open the buffer, the disk is full"
room
wait_for "the agent to open the buffer once there is room" 20 log_has "$T/sim4.log" "opened the buffer after"
wait_for "new events after the wait" 20 has_events $((before + 100)) 1 "$sdb"
stop_within 20 $agent_pid "$T/sim4.log"; expect "after a start on a full disk: SIGTERM exits 0" $stop_rc 0
expect "seqs contiguous across the kill -9 and the wait" "$(sqlite3 "$sdb" 'SELECT max(seq) - min(seq) + 1 = count(*) FROM events')" 1
mqtt_finish
