# shellcheck shell=bash
# es_lib.sh - shared by the Elasticsearch integration tests, sourced after
# lib.sh (and after mqtt_lib.sh when a test uses both): the ES stand-in
# (tests/peers/es_standin.py) on a free loopback port, persistent in
# $T/es-data so that stop_es + start_es (or restart_es) is "the same"
# cluster, and curl helpers for its API and its control endpoint.
#
#   start_es [ARGS...]  start it in the background with extra es_standin.py
#                       arguments (--user U:P, --api-key K, --tls-cert F
#                       --tls-key F, --max-body-bytes N, --no-validate ...);
#                       sets ES_PID, ES_PORT, ES_URL (http:// or https://);
#                       waits for it to listen. Arguments and port are kept
#                       for restart_es. Returns non-zero (after fail) if it
#                       does not come up within 10 s.
#   stop_es             kill -9 it (nothing is lost: it writes every
#                       acknowledged document before answering); safe twice
#   restart_es          stop_es, then start_es with the same port, data and
#                       arguments
#   es_make_tls         a test CA and a server certificate for 127.0.0.1 /
#                       localhost in $T/es-tls (ca.crt, server.crt,
#                       server.key, other.crt: an unrelated CA)
#   es_curl ARGS...     curl -sS against the stand-in, with $ES_CURL_OPTS
#                       (CA file, credentials) prepended; the path is
#                       relative: es_curl /_bulk -XPOST ...
#   es_fault JSON       POST JSON to /_standin/faults (es_fault '{}' merges
#                       nothing; es_fault_reset clears faults and counters)
#   es_stats            the control endpoint's GET: {"faults","counters","indices"}
#   es_counter PATH     one counter, e.g. es_counter docs_stored,
#                       es_counter items_by_status.409 (0 when absent)
#   es_count INDEX      the number of documents stored in INDEX (0 if none)
#   es_ids INDEX        the stored _ids of INDEX, sorted, one per line
#   es_docs INDEX       the stored documents of INDEX as NDJSON
#                       {"_id":..,"_source":..}, in the order stored
ES_PY=${ES_PY:-/usr/bin/python3}
ES_STANDIN=${ES_STANDIN:-$top/tests/peers/es_standin.py}
ES_PORT=${ES_PORT:-}
ES_PID=
ES_URL=
ES_ARGS=()
ES_CURL_OPTS=${ES_CURL_OPTS:-}

# _es_launch ARGS...: start and wait up to 10 s for the port file; returns
# non-zero (with the reason in $es_why) instead of failing the test.
_es_launch() {
	mkdir -p "$T/es-data"
	local scheme=http a
	for a in "$@"; do [ "$a" == --tls-cert ] && scheme=https; done
	rm -f "$T/es.port"
	"$ES_PY" "$ES_STANDIN" --port "${ES_PORT:-0}" --port-file "$T/es.port" \
		--data-dir "$T/es-data" "$@" 2>>"$T/es-standin.log" &
	ES_PID=$!; pids+=($ES_PID)
	local end=$((SECONDS + 10))
	while [ ! -s "$T/es.port" ]; do
		if ! kill -0 "$ES_PID" 2>/dev/null || [ $SECONDS -ge $end ]; then
			es_why=$(tail -3 "$T/es-standin.log" 2>/dev/null)
			kill -9 "$ES_PID" 2>/dev/null; wait "$ES_PID" 2>/dev/null; ES_PID=
			return 1
		fi
		sleep 0.05
	done
	ES_PORT=$(cat "$T/es.port")
	ES_URL="$scheme://127.0.0.1:$ES_PORT"
}

start_es() {
	ES_ARGS=("$@")
	_es_launch "$@" || { fail "the ES stand-in did not start: $es_why"; return 1; }
}

stop_es() {
	[ -n "$ES_PID" ] || return 0
	kill -9 "$ES_PID" 2>/dev/null; wait "$ES_PID" 2>/dev/null
	ES_PID=
	return 0
}

restart_es() {
	stop_es
	for _ in 1 2 3 4 5; do
		_es_launch "${ES_ARGS[@]}" && return 0
		sleep 0.2
	done
	fail "the ES stand-in did not restart on port $ES_PORT: $es_why"
	return 1
}

es_make_tls() {
	local d=$T/es-tls
	[ -f "$d/server.crt" ] && return 0
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -sha256 -subj "/CN=es-test-ca" \
		-keyout "$d/ca.key" -out "$d/ca.crt" >/dev/null 2>&1 &&
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -sha256 -subj "/CN=es-other-ca" \
			-keyout "$d/other.key" -out "$d/other.crt" >/dev/null 2>&1 &&
		openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
			-keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 &&
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/server.ext" &&
		openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
			-CAcreateserial -days 2 -sha256 -extfile "$d/server.ext" \
			-out "$d/server.crt" >/dev/null 2>&1 ||
		{ fail "openssl: could not generate the ES test PKI"; return 1; }
}

# shellcheck disable=SC2086 # ES_CURL_OPTS is a list of options
es_curl() { local p=$1; shift; curl -sS $ES_CURL_OPTS "$@" "$ES_URL$p"; }

es_fault() { es_curl /_standin/faults -XPOST -H 'Content-Type: application/json' -d "$1" >/dev/null; }
es_fault_reset() { es_curl /_standin/faults -XDELETE >/dev/null; }
es_stats() { es_curl /_standin/faults; }

es_counter() {
	es_stats | "$ES_PY" -c '
import json, sys
v = json.load(sys.stdin)["counters"]
for k in sys.argv[1].split("."):
    v = v.get(k, 0) if isinstance(v, dict) else 0
print(json.dumps(v) if isinstance(v, (list, dict)) else v)' "$1"
}

es_count() {
	local out
	out=$(es_curl "/_standin/faults" 2>/dev/null) || { echo 0; return; }
	printf '%s' "$out" | "$ES_PY" -c '
import json, sys
print(json.load(sys.stdin)["indices"].get(sys.argv[1], 0))' "$1" 2>/dev/null || echo 0
}

es_ids() { es_curl "/_standin/ids/$1?format=lines"; }
es_docs() { es_curl "/_standin/docs/$1"; }
