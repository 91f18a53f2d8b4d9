# kafka_lib.sh - shared by the Kafka integration tests and benchmarks,
# sourced after lib.sh (and after mqtt_lib.sh when a test uses both): a
# private Kafka cluster from build/peers/kafka_mock (librdkafka's mock
# brokers on free 127.0.0.1 ports; `make peers` builds it), driven through a
# FIFO on its stdin, and two independent ways to read what arrived:
# tests/peers/kafka_check.py (kafka-python) and kcat.
#
#   start_kafka [--brokers N] [--topic NAME[:PARTITIONS]]...
#       start the mock (3 brokers, 4 partitions per topic by default); sets
#       KAFKA_BOOTSTRAP (host:port,...) and KAFKA_PID. Returns non-zero (and
#       records a failure) when it does not print its bootstrap list within
#       KAFKA_START_TIMEOUT (10) seconds.
#   kafka_cmd CMD...
#       send one command (down ID|all, up ID|all, rtt ID|all MS,
#       error produce CODE[,CODE...], clear produce, topic NAME PARTITIONS,
#       leader TOPIC PARTITION ID, topic-error TOPIC CODE, ping; see
#       `build/peers/kafka_mock --help`) and wait for its answer (in
#       KAFKA_REPLY). Returns 0 on "ok", 1 on "error: ..." (printed on
#       stderr) or when no answer comes within KAFKA_CMD_TIMEOUT (10) s.
#   stop_kafka
#       SIGTERM, wait (SIGKILL after 5 s); returns the mock's exit status
#       (0 for a clean stop). Safe to call twice; the EXIT trap calls it.
#   kafka_check ARGS...
#       run tests/peers/kafka_check.py --bootstrap "$KAFKA_BOOTSTRAP" ARGS...
#       (`kafka_check ... &` gives the checker's own pid in $!, so a
#       SIGTERM to it makes it print its JSON and exit)
#   kcat_count TOPIC          messages in TOPIC (every partition, from the
#                             beginning), read by kcat
#   kcat_unique TOPIC         distinct event_id header values in TOPIC
#   kcat_produce TOPIC FILE [kcat options...]
#                             produce FILE's lines as messages with kcat,
#                             acks=all; a line is KEY<TAB>VALUE; options
#                             such as -X message.timeout.ms=2000 or
#                             -H gateway_id=gw (the same for every message);
#                             returns kcat's status (non-zero when a
#                             message was not delivered)
#   py_produce_events TOPIC N [SENSORS [FIRST_SEQ [GATEWAY]]]
#                             produce N fieldgate-shaped events with
#                             kafka-python (key = sensor_id, headers
#                             event_id and gateway_id, acks=all, seqs
#                             FIRST_SEQ.. (default 1), SENSORS (20) sensors,
#                             gateway gw-test); returns non-zero unless
#                             every one was acknowledged
#
# The mock keeps ~5 MB per partition (the oldest batches are dropped past
# that, produce still succeeds), so for large runs start kafka_check in the
# background with --ready-file before producing. The mock does not
# de-duplicate idempotent retries (only with transactional.id), so count
# distinct event_ids, not messages. A broker taken down keeps leading its
# partitions (there is no failover unless `leader` moves them).
KAFKA_MOCK=${KAFKA_MOCK:-$top/build/peers/kafka_mock}
KAFKA_CHECK=$top/tests/peers/kafka_check.py
KAFKA_BOOTSTRAP=
KAFKA_PID=
KAFKA_FD=
KAFKA_DIR=
KAFKA_REPLY=
_kafka_lines=0
_kafka_starts=0

# On exit: stop the mock, then whatever EXIT trap was set before us
# (lib.sh's cleanup or mqtt_lib.sh's mqtt_cleanup).
_kafka_prev_exit=$(trap -p EXIT | sed -n "s/^trap -- '\(.*\)' EXIT\$/\1/p")
_kafka_exit() { stop_kafka >/dev/null 2>&1; ${_kafka_prev_exit:-:}; }
trap _kafka_exit EXIT

start_kafka() {
	if [ -n "$KAFKA_PID" ]; then
		fail "start_kafka: a mock cluster is already running (pid $KAFKA_PID); stop_kafka first"
		return 1
	fi
	if [ ! -x "$KAFKA_MOCK" ]; then
		fail "start_kafka: $KAFKA_MOCK is missing; build it with 'make peers'"
		return 1
	fi
	_kafka_starts=$((_kafka_starts + 1))
	KAFKA_DIR=$T/kafka.$_kafka_starts
	mkdir -p "$KAFKA_DIR" && mkfifo "$KAFKA_DIR/in" || { fail "start_kafka: cannot make $KAFKA_DIR/in"; return 1; }
	: >"$KAFKA_DIR/out"
	# Read-write open: does not block, and keeps the FIFO open for writing
	# for as long as this shell lives; when it dies the mock reads EOF and
	# exits. The mock itself must not inherit that descriptor.
	exec {KAFKA_FD}<>"$KAFKA_DIR/in"
	"$KAFKA_MOCK" "$@" <"$KAFKA_DIR/in" >>"$KAFKA_DIR/out" 2>>"$KAFKA_DIR/stderr" {KAFKA_FD}>&- &
	KAFKA_PID=$!
	pids+=("$KAFKA_PID")
	_kafka_lines=1
	local end=$((SECONDS + ${KAFKA_START_TIMEOUT:-10})) line=
	while :; do
		line=$(head -n 1 "$KAFKA_DIR/out")
		[[ $line == "BOOTSTRAP "* ]] && break
		if ! kill -0 "$KAFKA_PID" 2>/dev/null || [ $SECONDS -ge $end ]; then
			fail "kafka_mock $* did not start: $(tail -n 5 "$KAFKA_DIR/stderr" 2>/dev/null)"
			stop_kafka
			return 1
		fi
		sleep 0.02
	done
	KAFKA_BOOTSTRAP=${line#BOOTSTRAP }
	return 0
}

kafka_cmd() {
	if [ -z "$KAFKA_PID" ]; then
		echo "kafka_cmd $*: no mock cluster running (start_kafka first)" >&2
		return 1
	fi
	[ -n "$*" ] || { echo "kafka_cmd: empty command" >&2; return 1; }
	local want=$((_kafka_lines + 1)) end=$((SECONDS + ${KAFKA_CMD_TIMEOUT:-10}))
	KAFKA_REPLY=
	printf '%s\n' "$*" >&"$KAFKA_FD" || { echo "kafka_cmd $*: cannot write to the mock" >&2; return 1; }
	while [ "$(wc -l <"$KAFKA_DIR/out")" -lt $want ]; do
		if ! kill -0 "$KAFKA_PID" 2>/dev/null || [ $SECONDS -ge $end ]; then
			echo "kafka_cmd $*: no answer from kafka_mock (pid $KAFKA_PID): $(tail -n 3 "$KAFKA_DIR/stderr" 2>/dev/null)" >&2
			return 1
		fi
		sleep 0.01
	done
	_kafka_lines=$want
	KAFKA_REPLY=$(sed -n "${want}p" "$KAFKA_DIR/out")
	case $KAFKA_REPLY in
	ok | "ok "*) return 0 ;;
	*) echo "kafka_cmd $*: $KAFKA_REPLY" >&2; return 1 ;;
	esac
}

stop_kafka() {
	[ -n "$KAFKA_PID" ] || return 0
	local pid=$KAFKA_PID rc=0 end=$((SECONDS + 5)) p keep=()
	KAFKA_PID=
	kill -TERM "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.02; done
	kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null; rc=$?
	[ -n "$KAFKA_FD" ] && exec {KAFKA_FD}>&-
	KAFKA_FD=
	KAFKA_BOOTSTRAP=
	for p in "${pids[@]:-}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
	pids=("${keep[@]:-}")
	return $rc
}

# In a subshell (`kafka_check ... &`, `out=$(kafka_check ...)`) the checker
# replaces it, so $! is the checker's own pid and `kill -TERM $!` reaches it
# (it then prints what it has seen and exits).
kafka_check() {
	if [ "$BASHPID" != "$$" ]; then
		exec /usr/bin/python3 "$KAFKA_CHECK" --bootstrap "$KAFKA_BOOTSTRAP" "$@"
	fi
	/usr/bin/python3 "$KAFKA_CHECK" --bootstrap "$KAFKA_BOOTSTRAP" "$@"
}

# kcat -C over every partition from the beginning, one line per message in
# kcat's -f FORMAT; gives up after KCAT_TIMEOUT (30) seconds.
_kcat_read() {
	timeout "${KCAT_TIMEOUT:-30}" kcat -C -b "$KAFKA_BOOTSTRAP" -t "$1" -o beginning -e -q \
		-X socket.timeout.ms=5000 -f "$2" 2>>"${KAFKA_DIR:-$T}/kcat.stderr"
}

kcat_count() { _kcat_read "$1" 'x\n' | wc -l; }

kcat_unique() { _kcat_read "$1" '%h\n' | tr ',' '\n' | sed -n 's/^event_id=//p' | sort -u | wc -l; }

kcat_produce() {
	local topic=$1 file=$2; shift 2
	timeout "${KCAT_TIMEOUT:-30}" kcat -P -b "$KAFKA_BOOTSTRAP" -t "$topic" -X acks=all -K $'\t' "$@" -l "$file"
}

py_produce_events() {
	/usr/bin/python3 - "$KAFKA_BOOTSTRAP" "$@" <<'PY'
import json, sys
from kafka import KafkaProducer
boot, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sensors = int(sys.argv[4]) if len(sys.argv) > 4 else 20
first = int(sys.argv[5]) if len(sys.argv) > 5 else 1
gw = sys.argv[6] if len(sys.argv) > 6 else "gw-test"
p = KafkaProducer(bootstrap_servers=boot.split(","), acks="all", linger_ms=5,
                  retries=5, max_in_flight_requests_per_connection=1)
futs = []
for seq in range(first, first + n):
    sid = "sensor-%03d" % (seq % sensors)
    eid = "%s:%d" % (gw, seq)
    v = {"event_id": eid, "gateway_id": gw, "site": "test", "seq": seq,
         "sensor_id": sid, "temperature": 20.0 + seq % 7, "humidity": 50.0}
    futs.append(p.send(topic, key=sid.encode(), value=json.dumps(v).encode(),
                       headers=[("event_id", eid.encode()), ("gateway_id", gw.encode())]))
p.flush(30)
failed = 0
for f in futs:
    try:
        f.get(0)
    except Exception as e:
        failed += 1
        err = e
p.close(5)
if failed:
    sys.stderr.write("py_produce_events: %d of %d not acknowledged: %s\n" % (failed, n, err))
sys.exit(1 if failed else 0)
PY
}
