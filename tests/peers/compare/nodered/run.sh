#!/bin/bash
# run.sh - the Node-RED peer of `make compare` (tests/peers/compare/nodered/README.md).
#
#   run.sh score --models OUT < readings.jsonl          the contract's score mode
#   run.sh --mqtt HOST:PORT --topic 'sensors/+/reading' --client-id ID \
#          --models OUT --store DIR --kafka BOOTSTRAP --kafka-topic TOPIC
#
# Service mode starts Node-RED (installed by `make compare-deps` into
# build/compare/nodered, or $FG_NODERED_HOME) headless with settings.js and
# flow.json from this directory, userDir DIR/nodered, the SQLite store
# DIR/events.db and Node-RED's log in DIR/nodered.log. Prints "ready" on
# stdout once the flow's MQTT node is connected to the broker; SIGTERM stops
# Node-RED cleanly (exit 0).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../../../.." && pwd)
home=${FG_NODERED_HOME:-$top/build/compare/nodered}
me="nodered peer"

die() { echo "$me: $*" >&2; exit 2; }

if [ "${1:-}" = score ]; then
	shift
	exec node "$here/score_cli.js" "$@"
fi

mqtt= topic= client= models= store= kafka= ktopic=
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "$1 needs a value"
	case $1 in
	--mqtt) mqtt=$2 ;;
	--topic) topic=$2 ;;
	--client-id) client=$2 ;;
	--models) models=$2 ;;
	--store) store=$2 ;;
	--kafka) kafka=$2 ;;
	--kafka-topic) ktopic=$2 ;;
	*) die "unknown option $1 (see the top of $0)" ;;
	esac
	shift 2
done
for o in mqtt topic client models store kafka ktopic; do
	[ -n "${!o}" ] || die "missing --${o/ktopic/kafka-topic} (all of --mqtt --topic --client-id --models --store --kafka --kafka-topic are required)"
done
[[ $mqtt == *:* ]] || die "--mqtt $mqtt: expected HOST:PORT"
[ -x "$home/node_modules/.bin/node-red" ] || die "Node-RED is not installed in $home: run 'make compare-deps'"
[ -f "$models/models/status_predictor.json" ] && models=$models/models
[ -f "$models/status_predictor.json" ] || die "--models: no status_predictor.json in $models or $models/models"
mkdir -p "$store/nodered" || die "--store $store: cannot create it"
store=$(cd "$store" && pwd)
models=$(cd "$models" && pwd)

export FG_MQTT_HOST=${mqtt%:*} FG_MQTT_PORT=${mqtt##*:} FG_TOPIC=$topic FG_CLIENT_ID=$client
export FG_MODELS=$models FG_STORE=$store FG_KAFKA=$kafka FG_KAFKA_TOPIC=$ktopic
export NODE_PATH=$home/node_modules KAFKAJS_NO_PARTITIONER_WARNING=1
log=$store/nodered.log
start=0
[ -f "$log" ] && start=$(wc -l <"$log")

node "$home/node_modules/node-red/red.js" --settings "$here/settings.js" \
	--userDir "$store/nodered" >>"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' TERM INT

# "ready" once the mqtt-broker config node logs its connection (it
# subscribes in the same connect handler).
while kill -0 $pid 2>/dev/null; do
	if tail -n +$((start + 1)) "$log" | grep -q 'Connected to broker'; then
		echo ready
		break
	fi
	sleep 0.05
done
wait $pid
rc=$?
# A SIGTERM to this script interrupts the first wait: wait for Node-RED itself.
while kill -0 $pid 2>/dev/null; do wait $pid; rc=$?; done
if [ $rc -ne 0 ]; then
	echo "$me: Node-RED exited with status $rc; the end of $log:" >&2
	tail -n 10 "$log" >&2
fi
exit $rc
