#!/bin/bash
# TLS (SPEC §2 [mqtt] ssl://, ca_file, cert_file, key_file) against mosquitto
# with a CA this test generates: the agent connects over TLS with the CA and,
# on a listener that requires client certificates, with cert_file/key_file;
# readings arrive. With an unrelated CA (or no client certificate where one
# is required) it does not connect, says so in its log and in `status`, and
# keeps running (retrying) instead of exiting.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt_lib.sh"
# The sanitized build: the MQTT input, publisher and shutdown paths must be
# ASan/LSan-clean (tests/run.sh sets FIELDGATE_ASAN).
FG=${FIELDGATE_ASAN:-$FG}

start_broker --tls || mqtt_finish
tls="ssl://127.0.0.1:$MQTT_TLS_PORT"
mtls="ssl://127.0.0.1:$MQTT_MTLS_PORT"
# Four agents at once, each with its own buffer and client id.
agent_conf() { # NAME URI [extra lines]
	local name=$1 u=$2; shift 2
	DATA_DIR=$T/$name MQTT_CLIENT_ID=fieldgate-test-$name-$$ write_mqtt_config "$T/$name.conf" "$@"
	sed -i "s|^uri = .*|uri = $u|" "$T/$name.conf"
}
agent_conf tls "$tls" "ca_file = $T/tls/ca.crt"
agent_conf mtls "$mtls" "ca_file = $T/tls/ca.crt" "cert_file = $T/tls/client.crt" "key_file = $T/tls/client.key"
agent_conf wrongca "$tls" "ca_file = $T/tls/other.crt"
agent_conf nocert "$mtls" "ca_file = $T/tls/ca.crt"
for a in tls mtls wrongca nocert; do
	"$FG" check-config -c "$T/$a.conf" >/dev/null 2>"$T/$a.check"; expect "check-config $a exits 0" $? 0
	start_agent "$T/$a.conf" "$T/$a.log"
	eval "pid_$a=$agent_pid"
done
wait_connected "$T/tls.conf" 15 || tail -5 "$T/tls.log"
wait_connected "$T/mtls.conf" 15 || tail -5 "$T/mtls.log"
grep -q "mqtt: connected to $tls" "$T/tls.log" || fail "no 'connected' line: $(cat "$T/tls.log")"

# Readings published (on the plain listener) reach both TLS subscribers.
N=500
opts=(--sensors 10 --rate 500 --count $N --seed 41 --start 2026-05-01T00:00:00Z)
sim_file "$T/sim.jsonl" "${opts[@]}"
sim_publish "$T/pub.log" --topic 'sensors/{sensor_id}/reading' --qos 1 "${opts[@]}"
expect "simulate --mqtt exits 0" $? 0
wait_events $N 20 "$T/tls/buffer.db"
wait_events $N 20 "$T/mtls/buffer.db"
sleep 0.5
compare_buffer "$T/sim.jsonl" "$T/tls/buffer.db" || fail "TLS: the buffer differs from the published readings"
compare_buffer "$T/sim.jsonl" "$T/mtls/buffer.db" || fail "mutual TLS: the buffer differs from the published readings"

# The unrelated CA and the missing client certificate: not connected, said
# so (a reason beyond the URI, which itself says ssl://), still running.
# (On a loaded machine the first failed handshake can take seconds.)
has_error() { local e; e=$(source_field "$1" last_error); [ -n "$e" ] && [ "$e" != null ]; }
for a in wrongca nocert; do
	eval "p=\$pid_$a"
	wait_for "$a: a failed connection in status" 30 has_error "$T/$a.conf"
	kill -0 $p 2>/dev/null || fail "$a: the agent exited: $(tail -3 "$T/$a.log")"
	state=$(source_field "$T/$a.conf" state)
	[ -n "$state" ] && [ "$state" != connected ] || fail "$a: source state '$state'"
	expect "$a: no events" "$(count_events "$T/$a/buffer.db")" 0
	grep -q "mqtt: connected" "$T/$a.log" && fail "$a: logged a connection"
done
u=$(printf '%s' "$tls" | sed 's/[.]/[.]/g')
grep "mqtt:.*$u" "$T/wrongca.log" | sed "s|$tls||g" | grep -Eqi 'tls|ssl|certif|verif|handshake' \
	|| fail "wrong CA: no log line naming $tls with a TLS reason: $(cat "$T/wrongca.log")"
# ... and that reason is the certificate, not a generic "connect failure"
# that a refused TCP connection gets too (OpenSSL's "certificate verify
# failed" reaches Paho's MQTTAsync_SSLOptions.ssl_error_cb).
grep "mqtt:.*$u" "$T/wrongca.log" | grep -Eqi 'certif|verif|unknown ca|self[ -]signed|issuer' \
	|| fail "wrong CA: the log does not say the server certificate failed verification: $(grep "mqtt:" "$T/wrongca.log")"
# Retrying is not logged per attempt: after a few seconds of failures
# (backoff from 0.5 s), at most a couple of lines about the URI.
sleep 3
n=$(grep -c "mqtt:.*$u" "$T/wrongca.log")
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || fail "wrong CA: $n log lines about $tls (one per state change expected): $(cat "$T/wrongca.log")"
for a in tls mtls wrongca nocert; do
	eval "p=\$pid_$a"
	kill -TERM $p; wait $p; expect "$a: SIGTERM exits 0" $? 0
done
mqtt_finish
