# site_conf.sh - write_config, the simulator site every test starts from;
# sourced by lib.sh and by tests/cross/test_cross.sh. Needs $T (the test's
# temp dir) and $top (the source tree).

# write_config FILE [extra INI text appended]: a simulator site under $T
# (SIM_SENSORS, SIM_RATE, SIM_SEED, DATA_DIR, GATEWAY_ID and SITE_NAME override
# the defaults).
write_config() {
	local f=$1; shift
	cat >"$f" <<CONF
[agent]
gateway_id = ${GATEWAY_ID:-gw-test}
site = ${SITE_NAME:-test}
data_dir = ${DATA_DIR:-$T/data}
log_level = info
[source]
type = simulator
[simulator]
sensors = ${SIM_SENSORS:-100}
rate = ${SIM_RATE:-10}
seed = ${SIM_SEED:-7}
[models]
dir = $top/models/default
[buffer]
path = buffer.db
commit_ms = 10
[http]
listen =
CONF
	[ $# -gt 0 ] && printf '%s\n' "$@" >>"$f"
	return 0
}
