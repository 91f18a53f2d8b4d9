# mqtt_lib.sh - shared by the MQTT integration tests, sourced after lib.sh:
# a private mosquitto broker (plain, and TLS with a CA generated here by
# openssl) on free loopback ports, persistent across restarts, an agent
# config for [source] type = mqtt, and helpers to run the agent, read its
# status and compare the buffer with simulated readings.
# Everything lives in $T; on exit the processes in "${pids[@]}" get SIGTERM,
# then lib.sh's cleanup kills them and removes $T.
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PY=/usr/bin/python3
MQTT_PORT=${MQTT_PORT:-}
MQTT_TLS_PORT=${MQTT_TLS_PORT:-}
MQTT_MTLS_PORT=${MQTT_MTLS_PORT:-}
broker_pid=
# On exit, SIGTERM first (timeout passes it on to a publisher still running;
# SIGKILL would orphan it), then lib.sh's cleanup.
mqtt_cleanup() {
	local p
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
	sleep 0.2
	cleanup
}
trap mqtt_cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM


# port_open PORT: true when something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# make_ca DIR NAME: a self-signed test CA, DIR/NAME.key and DIR/NAME.crt.
make_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -sha256 -subj "/CN=$2" \
		-keyout "$1/$2.key" -out "$1/$2.crt" >/dev/null 2>&1
}

# make_cert DIR CA NAME CN [SAN]: a key and a certificate signed by DIR/CA.
make_cert() {
	local d=$1 ca=$2 name=$3 cn=$4 san=${5:-}
	openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$cn" \
		-keyout "$d/$name.key" -out "$d/$name.csr" >/dev/null 2>&1 || return 1
	if [ -n "$san" ]; then printf 'subjectAltName=%s\n' "$san" >"$d/$name.ext"; else : >"$d/$name.ext"; fi
	openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
		-days 2 -sha256 -extfile "$d/$name.ext" -out "$d/$name.crt" >/dev/null 2>&1
}

# make_tls: the suite's PKI in $T/tls (once): ca, server (IP:127.0.0.1,
# DNS:localhost), client (for the mutual-TLS listener), and "other", an
# unrelated CA nothing is signed by.
make_tls() {
	[ -f "$T/tls/server.crt" ] && return 0
	mkdir -p "$T/tls"
	make_ca "$T/tls" ca && make_ca "$T/tls" other &&
		make_cert "$T/tls" ca server localhost "IP:127.0.0.1,DNS:localhost" &&
		make_cert "$T/tls" ca client fieldgate-test-client ||
		{ fail "openssl: could not generate the test PKI"; return 1; }
}

# start_broker [--tls] [extra mosquitto.conf lines...]: write $T/mosquitto.conf
# and start mosquitto. A plain listener on $MQTT_PORT; with --tls also a TLS
# listener on $MQTT_TLS_PORT and a TLS listener that requires a client
# certificate on $MQTT_MTLS_PORT. Ports are chosen on the first call and
# kept, and the persistence directory too, so calling it again after
# stop_broker restarts "the same" broker. Waits until it accepts connections.
start_broker() {
	local tls=0 ports
	[ "${1:-}" == --tls ] && { tls=1; shift; }
	[ -n "$MQTT_PORT" ] || MQTT_PORT=$(free_port)
	ports=$MQTT_PORT
	mkdir -p "$T/mosq"
	{
		echo "per_listener_settings false"
		echo "allow_anonymous ${MQTT_ALLOW_ANON:-true}"
		echo "max_queued_messages 0"
		echo "max_inflight_messages 20"
		echo "set_tcp_nodelay true"
		echo "persistence true"
		echo "persistence_location $T/mosq/"
		echo "autosave_interval 0"
		echo "log_dest file $T/mosquitto.log"
		echo "log_type error"
		echo "log_type warning"
		echo "log_type notice"
		echo "log_type information"
		echo "log_timestamp_format %H:%M:%S"
		echo "user $(id -un)"
		echo "listener $MQTT_PORT 127.0.0.1"
	} >"$T/mosquitto.conf"
	if [ $tls -eq 1 ]; then
		make_tls || return 1
		[ -n "$MQTT_TLS_PORT" ] || MQTT_TLS_PORT=$(free_port)
		[ -n "$MQTT_MTLS_PORT" ] || MQTT_MTLS_PORT=$(free_port)
		ports="$ports $MQTT_TLS_PORT $MQTT_MTLS_PORT"
		cat >>"$T/mosquitto.conf" <<CONF
listener $MQTT_TLS_PORT 127.0.0.1
cafile $T/tls/ca.crt
certfile $T/tls/server.crt
keyfile $T/tls/server.key
listener $MQTT_MTLS_PORT 127.0.0.1
cafile $T/tls/ca.crt
certfile $T/tls/server.crt
keyfile $T/tls/server.key
require_certificate true
CONF
	fi
	[ $# -gt 0 ] && printf '%s\n' "$@" >>"$T/mosquitto.conf"
	"$MOSQUITTO" -c "$T/mosquitto.conf" 2>>"$T/mosquitto.stderr" &
	broker_pid=$!; pids+=($broker_pid)
	local end=$((SECONDS + 10)) p
	for p in $ports; do
		while ! port_open "$p"; do
			if ! kill -0 $broker_pid 2>/dev/null || [ $SECONDS -ge $end ]; then
				fail "mosquitto did not start on port $p: $(tail -5 "$T/mosquitto.stderr" "$T/mosquitto.log" 2>/dev/null)"
				return 1
			fi
			sleep 0.05
		done
	done
	return 0
}

# stop_broker: SIGTERM (mosquitto saves its persistence file) and wait.
stop_broker() {
	[ -n "$broker_pid" ] || return 0
	kill -TERM "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null
	broker_pid=
}

# kill_broker: SIGKILL (nothing saved since the last autosave) and wait.
kill_broker() {
	[ -n "$broker_pid" ] || return 0
	kill -9 "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null
	broker_pid=
}

# write_mqtt_config FILE [extra INI lines...]: like write_config, but the
# source is MQTT on the test broker. [mqtt] is the LAST section, so extra
# lines without a section header ("sensor_id_topic_level = 1") add keys to
# it, and lines starting with "[alerts]" open new sections.
# DATA_DIR (default $T/data) and MQTT_CLIENT_ID override those two settings.
write_mqtt_config() {
	local f=$1; shift
	cat >"$f" <<CONF
[agent]
gateway_id = gw-test
site = test
data_dir = ${DATA_DIR:-$T/data}
log_level = info
[source]
type = mqtt
[models]
dir = $top/models/default
[buffer]
path = buffer.db
commit_ms = 10
[http]
listen =
[mqtt]
uri = tcp://127.0.0.1:$MQTT_PORT
topic = sensors/+/reading
qos = 1
client_id = ${MQTT_CLIENT_ID:-fieldgate-test-$$}
clean_session = false
keepalive = 10
CONF
	[ $# -gt 0 ] && printf '%s\n' "$@" >>"$f"
	return 0
}

# start_agent CONF LOG: run the agent in the background (appending its
# stderr to LOG); sets agent_pid.
start_agent() {
	"$FG" run -c "$1" 2>>"$2" &
	agent_pid=$!; pids+=($agent_pid)
}

# source_field CONF FIELD: one field of `status --json`'s "source" object
# ("" when status fails or has no such object).
source_field() {
	"$FG" status -c "$1" --json 2>/dev/null | $PY -c '
import json, sys
try:
    v = json.load(sys.stdin)["source"][sys.argv[1]]
except Exception:
    sys.exit(0)
print("null" if v is None else v)' "$2"
}

# wait_connected CONF SECONDS: until status says the source is connected.
wait_connected() { wait_for "source connected ($1)" "$2" is_connected "$1"; }
is_connected() { [ "$(source_field "$1" state)" == connected ]; }

# count_events [DB]: number of events in the buffer (0 when there is none yet).
count_events() {
	local db=${1:-$T/data/buffer.db}
	[ -f "$db" ] || { echo 0; return; }
	sqlite3 -batch -noheader "$db" 'SELECT count(*) FROM events' 2>/dev/null || echo 0
}

# wait_events N SECONDS [DB]: until the buffer holds at least N events.
wait_events() {
	local n=$1 secs=$(($2 * SLOW)) db=${3:-$T/data/buffer.db}
	local end=$((SECONDS + secs))
	while [ $SECONDS -lt $end ]; do
		[ "$(count_events "$db")" -ge "$n" ] && return 0
		sleep 0.2
	done
	fail "timed out after ${secs}s waiting for $n events (have $(count_events "$db"))"
	return 1
}

# sim_file OUT SIMULATE-OPTIONS...: the readings `simulate --mqtt` with the
# same options publishes, as JSON lines.
sim_file() {
	local out=$1; shift
	"$FG" simulate "$@" --out "$out" 2>/dev/null || fail "simulate --out $* failed"
}

# compare_buffer SIMFILE [DB] [SQL-WHERE]: check that the events in the
# buffer (optionally only those matching the WHERE clause) are exactly the
# readings of SIMFILE, each once: same (sensor_id, timestamp) set and the
# same temperature and humidity. Prints a summary; returns non-zero (and the
# first differences) otherwise.
compare_buffer() {
	$PY - "$1" "${2:-$T/data/buffer.db}" "${3:-1}" <<'PY'
import json, sqlite3, sys, datetime
sim, db, where = sys.argv[1], sys.argv[2], sys.argv[3]
def iso(ms):
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)
want = {}
for line in open(sim):
    r = json.loads(line)
    want[(r["sensor_id"], iso(r["timestamp"]))] = (r["temperature"], r["humidity"])
con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
got, dups = {}, []
for (d,) in con.execute("SELECT data FROM events WHERE %s ORDER BY seq" % where):
    e = json.loads(d)
    k = (e["sensor_id"], e["@timestamp"])
    if k in got:
        dups.append(k)
    got[k] = (e["temperature"], e["humidity"])
missing = sorted(set(want) - set(got))
extra = sorted(set(got) - set(want))
diff = [k for k in want if k in got and any(abs(a - b) > 1e-9 for a, b in zip(want[k], got[k]))]
print("published %d, in buffer %d (+%d duplicates), missing %d, extra %d, value mismatches %d"
      % (len(want), len(got), len(dups), len(missing), len(extra), len(diff)))
for name, l in (("missing", missing), ("extra", extra), ("duplicate", dups), ("mismatch", diff)):
    for k in l[:5]:
        print("  %s: %s %s" % (name, k[0], k[1]))
sys.exit(1 if (missing or extra or dups or diff) else 0)
PY
}

# mqtt_pub [mosquitto_pub options...]: publish on the plain listener, QoS 1
# unless the options say otherwise (a later -q wins).
mqtt_pub() { mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 "$@"; }

# sim_publish_bg LOG SIMULATE-OPTIONS...: the same in the background; sets
# pub to the pid to wait for (timeout's, which passes SIGTERM on).
sim_publish_bg() {
	local log=$1; shift
	timeout "$(( ${SIM_TIMEOUT:-120} * SLOW ))" "$FG" simulate --mqtt "tcp://127.0.0.1:$MQTT_PORT" "$@" 2>"$log" &
	pub=$!; pids+=($pub)
}

# sim_publish LOG SIMULATE-OPTIONS...: `fieldgate simulate --mqtt` to the
# plain listener (give --topic/--qos in the options); stderr to LOG; at
# most SIM_TIMEOUT (120) seconds times FIELDGATE_SLOW. Returns simulate's exit status.
sim_publish() {
	local log=$1; shift
	timeout "$(( ${SIM_TIMEOUT:-120} * SLOW ))" "$FG" simulate --mqtt "tcp://127.0.0.1:$MQTT_PORT" "$@" 2>"$log"
}

# events_where WHERE [DB]: the number of events matching an SQL condition.
events_where() {
	local db=${2:-$T/data/buffer.db}
	[ -f "$db" ] || { echo 0; return; }
	sqlite3 -batch -noheader "$db" "SELECT count(*) FROM events WHERE $1" 2>/dev/null || echo 0
}
# has_events N WHERE [DB]: true when at least N events match (for wait_for).
has_events() { [ "$(events_where "$2" "${3:-}")" -ge "$1" ] 2>/dev/null; }
# sid ID: the SQL condition "the event's sensor_id is ID".
sid() { echo "json_extract(data, '\$.sensor_id') = '$1'"; }

# mqtt_finish: finish, showing the end of the broker's and the agents' logs
# and the quarantined readings first when a check failed (and keeping a copy
# of $T when KEEP_T is set).
mqtt_finish() {
	if [ $fails -gt 0 ]; then
		local f
		for f in "$T"/mosquitto.log "$T"/mosquitto.stderr "$T"/*.log; do
			[ -s "$f" ] || continue
			echo "--- $(basename "$f") (last 15 lines)" >&2
			tail -n 15 "$f" >&2
		done
		# What the agent rejected, and why: a failure that quarantines a
		# reading is diagnosed from its raw bytes, which go with $T.
		if [ -f "$T/data/buffer.db" ] && [ "$(sql 'SELECT count(*) FROM quarantine' 2>/dev/null)" != 0 ]; then
			echo "--- quarantine (first 5 rows: origin | reason | length | raw bytes in hex)" >&2
			sql "SELECT origin, reason, length(raw), hex(raw) FROM quarantine ORDER BY id LIMIT 5" >&2
		fi
		[ -n "${KEEP_T:-}" ] && cp -a "$T" "$KEEP_T" && echo "kept $T in $KEEP_T" >&2
	fi
	finish
}
