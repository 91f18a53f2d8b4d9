#!/bin/bash
# test_systemd.sh DEB - the Debian package under a real systemd.
#
# Boots a minimal Debian bookworm (debootstrap --variant=minbase plus
# systemd, systemd-sysv and dbus) with `systemd-nspawn -b`, installs DEB with
# apt (its dependencies come from the same Debian mirror as the host's) and
# checks what an operator relies on: fieldgate@demo runs as user fieldgate,
# logs to the journal without timestamps and with the right priorities,
# reloads on `systemctl reload`, is restarted after a crash, feeds its
# watchdog (and is killed when it stops doing so), survives an upgrade with
# its config and buffer, and purge removes /etc/fieldgate and
# /var/lib/fieldgate. `systemd-analyze verify` must print nothing.
#
# The root has the package's architecture: for an arm64 (or armhf) package,
# debootstrap --foreign and its second stage under qemu-user (binfmt_misc with
# the F flag: packaging/install-cross-deps.sh), then the same boot and checks,
# every binary of the container emulated; waits are FIELDGATE_SLOW (4) times
# longer. About 4 minutes to build the arm64 root, 1.5 minutes a run here.
#
# The debootstrapped root is built once (about 40 s) and cached in
# $FIELDGATE_TEST_CACHE (default /var/cache/fieldgate-test); each run boots
# it with --volatile=overlay, so the cached root is never changed and a run
# leaves nothing behind. Needs root. Ends with "N passed, N failed".
#
# Environment: FIELDGATE_TEST_CACHE, FIELDGATE_TEST_MIRROR (default: the
# host's Debian mirror from /etc/apt), KEEP=1 (leave the container running
# and print how to enter it).
set -u
deb=${1:?usage: test_systemd.sh build/fieldgate_VERSION_ARCH.deb}
deb=$(readlink -f "$deb")
suite=bookworm
cache=${FIELDGATE_TEST_CACHE:-/var/cache/fieldgate-test}
# The root's architecture is the package's: an arm64 .deb boots an arm64 root,
# its binaries run by qemu-user through binfmt_misc (registered with the F
# flag, so the root needs no copy of qemu; packaging/install-cross-deps.sh).
arch=$(dpkg-deb -f "$deb" Architecture 2>/dev/null)
host_arch=$(dpkg --print-architecture)
if [ -z "$arch" ] || [ "$arch" = "$host_arch" ] || [ "$arch" = all ]; then
	arch=$host_arch
	root=$cache/$suite-minbase-systemd
else
	root=$cache/$suite-$arch-minbase-systemd
fi
# Waits are this many times longer for an emulated root.
slow=1
[ "$arch" = "$host_arch" ] || slow=${FIELDGATE_SLOW:-4}
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
die() { echo "test_systemd: $*" >&2; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
# check DESC COMMAND...: pass if COMMAND succeeds.
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# expect DESC ACTUAL EXPECTED
expect() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: got '$2', expected '$3'"; fi; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, systemd-nspawn); run it as root or with sudo"
for t in debootstrap systemd-nspawn nsenter dpkg-deb; do
	command -v $t >/dev/null || die "$t not found: apt-get install debootstrap systemd-container util-linux dpkg-dev"
done
[ -f "$deb" ] || die "$deb: no such package; run make deb first"
if [ "$arch" != "$host_arch" ]; then
	case $arch in arm64) q=qemu-aarch64 ;; armhf) q=qemu-arm ;; *) q=qemu-$arch ;; esac
	grep -qs '^flags:.*F' "/proc/sys/fs/binfmt_misc/$q" ||
		die "an $arch root needs $q in binfmt_misc with the F flag (packaging/install-cross-deps.sh $arch registers it; /proc/sys/fs/binfmt_misc/$q: $(tr '\n' ' ' <"/proc/sys/fs/binfmt_misc/$q" 2>&1))"
fi

# The host's Debian mirror (deb822 or one-line sources), for debootstrap.
mirror() {
	[ -n "${FIELDGATE_TEST_MIRROR:-}" ] && { echo "$FIELDGATE_TEST_MIRROR"; return; }
	local m
	m=$(grep -hs '^URIs:.*/debian/\?$' /etc/apt/sources.list.d/*.sources | awk '{print $2; exit}')
	[ -z "$m" ] && m=$(grep -hs '^deb .*/debian/\? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
		awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}')
	echo "${m:-http://deb.debian.org/debian}"
}

# --- the cached root: built once, under a lock, published by rename --------
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -e "$root/.fieldgate-test-ok" ]; then
	m=$(mirror)
	echo "building the $suite $arch root in $root from $m (once; about 40 s, minutes for a foreign one)"
	start=$SECONDS
	rm -rf "$root.new" "$root"
	bootstrap() {
		if [ "$arch" = "$host_arch" ]; then
			debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus \
				"$suite" "$root.new" "$m"
		else
			# Foreign: unpack here, then the second stage inside, under qemu.
			debootstrap --arch="$arch" --foreign --variant=minbase \
				--include=systemd,systemd-sysv,dbus "$suite" "$root.new" "$m" &&
				chroot "$root.new" /debootstrap/debootstrap --second-stage
		fi
	}
	if ! bootstrap >"$cache/debootstrap-$arch.log" 2>&1; then
		tail -20 "$cache/debootstrap-$arch.log" >&2
		rm -rf "$root.new"
		die "debootstrap ($arch) failed (log: $cache/debootstrap-$arch.log)"
	fi
	# No console login; nothing else in the container needs a terminal.
	chroot "$root.new" systemctl mask console-getty.service getty@.service >/dev/null 2>&1
	touch "$root.new/.fieldgate-test-ok"
	mv "$root.new" "$root"
	echo "root built in $((SECONDS - start)) s"
fi
# Under qemu-user, systemd cannot set up a unit's credentials ("Failed to set
# up credentials: Invalid argument", status 243/CREDENTIALS), so the three
# boot units that load some fail and the boot is "degraded". No credentials
# are passed here: those units run without them (fieldgate's units use none).
if [ "$arch" != "$host_arch" ]; then
	for u in systemd-sysusers systemd-tmpfiles-setup systemd-tmpfiles-setup-dev; do
		mkdir -p "$root/etc/systemd/system/$u.service.d"
		printf '[Service]\nLoadCredential=\n' >"$root/etc/systemd/system/$u.service.d/qemu-user.conf"
	done
fi
flock -u 9

# --- boot it -----------------------------------------------------------------
work=$(mktemp -d /tmp/fieldgate-systemd.XXXXXX)
mkdir -p "$cache/apt-archives/partial"
cp "$deb" "$work/fieldgate_1.deb"
# The upgrade: the same package with the Debian revision bumped, repacked.
mkdir "$work/v2"
dpkg-deb -R "$deb" "$work/v2/pkg"
v1=$(dpkg-deb -f "$deb" Version)
v2=${v1%-*}-$((${v1##*-} + 1))
sed -i "s/^Version: .*/Version: $v2/" "$work/v2/pkg/DEBIAN/control"
dpkg-deb --root-owner-group -b "$work/v2/pkg" "$work/fieldgate_2.deb" >/dev/null || die "cannot repack $deb as $v2"
rm -rf "$work/v2"

machine=fieldgate-test-$$
nspawn_pid=
cleanup() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		if [ "${KEEP:-0}" = 1 ]; then
			echo "container left running: nsenter -t $leader -a bash   (stop: kill $nspawn_pid)"
			return
		fi
		kill -TERM "$nspawn_pid" # nspawn asks the container's systemd to power off
		for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$nspawn_pid" 2>/dev/null
		wait "$nspawn_pid" 2>/dev/null
	fi
	# A container whose power-off outlived nspawn (slow under qemu-user) would
	# run on, reparented: its PID 1 taken down takes the namespace with it.
	# (Only while it is still a PID namespace's init, not a reused pid.)
	if [ -n "${leader:-}" ] && [ "${KEEP:-0}" != 1 ] && kill -0 "$leader" 2>/dev/null &&
	   [ "$(readlink "/proc/$leader/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]; then
		kill -KILL "$leader" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT

boot_start=$SECONDS
# --keep-unit --register=no: no machined or host systemd needed (CI's PID 1
# is not systemd). The host network is shared, so apt reaches the mirror.
systemd-nspawn -q -D "$root" --volatile=overlay -M "$machine" --keep-unit --register=no \
	--console=read-only --bind-ro="$work:/fgtest" \
	--bind="$cache/apt-archives:/var/cache/apt/archives" -b \
	</dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!
leader=
for _ in $(seq 100); do
	leader=$(pgrep -P "$nspawn_pid" | head -1)
	[ -n "$leader" ] && break
	sleep 0.1
done
[ -n "$leader" ] || { cat "$work/console.log" >&2; die "systemd-nspawn did not start a container"; }
# ct CMD...: run CMD inside the container, with a clean environment.
ct() { nsenter -t "$leader" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
state=
for _ in $(seq $((300 * slow))); do
	state=$(ct systemctl is-system-running 2>/dev/null)
	case $state in running|degraded) break;; esac
	sleep 0.1
done
case $state in
running) pass "container booted in $((SECONDS - boot_start)) s" ;;
degraded) fail "container booted degraded: $(ct systemctl --failed --no-legend | tr '\n' ' ')" ;;
*) cat "$work/console.log" >&2; die "container did not boot (state '$state')" ;;
esac

# --- install -------------------------------------------------------------------
apt_get() { ct env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0 "$@"; }
install_start=$SECONDS
apt_get update >"$work/apt.log" 2>&1 || { tail "$work/apt.log" >&2; die "apt-get update failed in the container"; }
# man-db too: systemd-analyze verify checks that Documentation=man:fieldgate(1) exists.
if apt_get install --no-install-recommends /fgtest/fieldgate_1.deb man-db >>"$work/apt.log" 2>&1; then
	pass "apt-get install $(basename "$deb") ($((SECONDS - install_start)) s with dependencies)"
else
	tail -30 "$work/apt.log" >&2
	die "apt-get install failed"
fi
check "user fieldgate exists (sysusers.d)" eval 'ct getent passwd fieldgate >/dev/null'
check "fieldgate.service is active" ct systemctl is-active -q fieldgate.service
check "/etc/fieldgate/example.conf is a conffile" \
	ct sh -c 'dpkg-query -W -f="\${Conffiles}" fieldgate | grep -q /etc/fieldgate/example.conf'
check "example.conf passes check-config" ct sh -c 'fieldgate check-config -c /etc/fieldgate/example.conf >/dev/null'
out=$(ct systemd-analyze verify fieldgate.service fieldgate@demo.service 2>&1)
expect "systemd-analyze verify prints nothing" "$out" ""

# --- the demo site ---------------------------------------------------------------
# Models in a directory the test may break, to see a reload fail.
ct cp -r /usr/share/fieldgate/models /etc/fieldgate/demo-models
ct sh -c 'cat >/etc/fieldgate/demo.conf' <<'EOF'
; the systemd test's site: data_dir defaults to /var/lib/fieldgate/demo
[source]
type = simulator
[simulator]
sensors = 10
rate = 2
[models]
dir = /etc/fieldgate/demo-models
[http]
listen =
EOF
# A short watchdog for the test, no core files, a quick abort.
ct mkdir -p /run/systemd/system/fieldgate@demo.service.d
ct sh -c 'cat >/run/systemd/system/fieldgate@demo.service.d/test.conf' <<'EOF'
[Service]
WatchdogSec=3s
TimeoutAbortSec=2s
LimitCORE=0
EOF
ct systemctl daemon-reload
mainpid() { ct systemctl show -p MainPID --value fieldgate@demo.service; }
active() { [ "$(ct systemctl is-active fieldgate@demo.service)" = active ]; }
journal() { ct journalctl -q -u fieldgate@demo.service --no-pager -o cat "$@"; }
wait_for() { # DESC SECONDS COMMAND...
	local d=$1 end=$((SECONDS + $2 * slow)); shift 2
	while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done
	fail "timed out waiting for $d"; return 1
}
logged() { journal | grep -q "$1"; }              # REGEX
logged_err() { journal -p err | grep -q "$1"; }   # REGEX, at priority err or worse
restarted_from() { local p; p=$(mainpid); [ "$p" != 0 ] && [ "$p" != "$1" ] && active; } # OLDPID
nrestarts_is() { [ "$(ct systemctl show -p NRestarts --value fieldgate@demo.service)" = "$1" ] && active; }

if ct systemctl start fieldgate@demo.service; then
	pass "systemctl start fieldgate@demo (Type=notify: READY=1 came)"
else
	fail "systemctl start fieldgate@demo failed"
	ct systemctl status --no-pager -l fieldgate@demo.service >&2
	ct journalctl -u fieldgate@demo.service --no-pager -n 30 >&2
	echo "$passed passed, $failed failed"
	exit 1
fi
check "fieldgate@demo is active" active
pid=$(mainpid)
expect "it runs as user fieldgate" "$(ct stat -c %U /proc/"$pid")" fieldgate
expect "its data_dir is /var/lib/fieldgate/demo, owned by fieldgate" \
	"$(ct stat -c '%U %a' /var/lib/fieldgate/demo)" "fieldgate 750"
wait_for "the buffer to fill" 10 ct test -s /var/lib/fieldgate/demo/buffer.db && pass "buffer.db is written"
status=$(ct systemctl show -p StatusText --value fieldgate@demo.service)
check "STATUS= reaches systemctl ($status)" test -n "$status"

# Journal: no timestamp of our own, and priorities from the <N> prefixes.
start_line=$(journal | grep -m1 'started:')
case $start_line in
"agent: started: "*) pass "journal has the start line without a timestamp: $start_line" ;;
*) fail "start line in the journal: '$start_line' (expected 'agent: started: ...')" ;;
esac
prio=$(ct journalctl -q -u fieldgate@demo.service -o verbose --grep 'agent: started:' | grep -m1 ' PRIORITY=' | tr -d ' ')
expect "the start line is logged at PRIORITY=6 (info)" "$prio" "PRIORITY=6"

# Reload: SIGHUP through ExecReload=; the same process; then a failed one.
ct systemctl reload fieldgate@demo.service
wait_for "'models: reloaded' in the journal" 5 logged '^models: reloaded' &&
	pass "systemctl reload: the journal shows 'models: reloaded'"
expect "reload keeps the process" "$(mainpid)" "$pid"
ct sh -c 'echo "{" >/etc/fieldgate/demo-models/status_predictor.json'
ct systemctl reload fieldgate@demo.service
wait_for "'reload failed' in the journal" 5 logged_err '^models: reload failed' &&
	pass "a failed reload is logged at priority err: $(journal -p err | grep -m1 'reload failed' | cut -c1-90)..."
check "info lines are not at priority err" eval '! logged_err "agent: started:"'
check "still active after a failed reload" active
ct cp /usr/share/fieldgate/models/status_predictor.json /etc/fieldgate/demo-models/

# Watchdog: pings every WatchdogSec/2 keep it alive well past WatchdogSec.
wd1=$(ct systemctl show -p WatchdogTimestampMonotonic --value fieldgate@demo.service)
sleep 7
wd2=$(ct systemctl show -p WatchdogTimestampMonotonic --value fieldgate@demo.service)
check "still active after 7 s with WatchdogSec=3s" active
expect "same process after 7 s (no watchdog kill)" "$(mainpid)" "$pid"
check "the watchdog timestamp moves ($wd1 -> $wd2)" test "$wd2" -gt "$wd1"

# Crash: SIGSEGV -> Restart=on-failure -> a new process.
ct kill -SEGV "$pid"
wait_for "a restart after SIGSEGV" 15 restarted_from "$pid" &&
	pass "killed with SIGSEGV: systemd restarted it (pid $pid -> $(mainpid))"
expect "NRestarts is 1" "$(ct systemctl show -p NRestarts --value fieldgate@demo.service)" 1

# A hung agent (SIGSTOP) stops pinging: the watchdog kills and restarts it.
pid=$(mainpid)
ct kill -STOP "$pid"
wait_for "a watchdog restart" 20 nrestarts_is 2 &&
	pass "a stopped agent is killed by the watchdog and restarted"
check "the journal says 'Watchdog timeout'" eval 'ct journalctl -q -u fieldgate@demo.service --no-pager | grep -q "Watchdog timeout"'

# --- upgrade: config, conffile edits and the buffer survive ------------------------
seq_of() { ct runuser -u fieldgate -- fieldgate status -c /etc/fieldgate/demo.conf --json | grep -o '"newest_seq": *[0-9]*' | grep -o '[0-9]*$'; }
ct sh -c 'echo "; edited by the operator" >>/etc/fieldgate/example.conf'
ct systemctl enable -q fieldgate@demo.service 2>/dev/null
seq1=$(seq_of)
pid=$(mainpid)
ino1=$(ct stat -c %i /var/lib/fieldgate/demo/buffer.db)
if apt_get install --no-install-recommends /fgtest/fieldgate_2.deb >>"$work/apt.log" 2>&1; then
	pass "upgrade $v1 -> $v2 with apt-get install"
else
	tail -30 "$work/apt.log" >&2
	fail "upgrade to $v2 failed"
fi
expect "installed version" "$(ct dpkg-query -W -f='${Version}' fieldgate)" "$v2"
wait_for "fieldgate@demo active after the upgrade" 10 active
newpid=$(mainpid)
check "the upgrade restarted fieldgate@demo (pid $pid -> $newpid)" test "$newpid" != "$pid"
expect "buffer.db is the same file after the upgrade" "$(ct stat -c %i /var/lib/fieldgate/demo/buffer.db)" "$ino1"
sleep 1
seq2=$(seq_of)
check "the buffer kept its events (newest seq $seq1 -> $seq2)" test "${seq2:-0}" -ge "${seq1:-1}"
check "demo.conf kept" ct test -s /etc/fieldgate/demo.conf
check "the edited conffile kept" ct grep -q 'edited by the operator' /etc/fieldgate/example.conf
check "fieldgate@demo still enabled" ct systemctl is-enabled -q fieldgate@demo.service

# --- purge: the running site stops, config and buffers go, the user stays ----------
if apt_get purge fieldgate >>"$work/apt.log" 2>&1; then pass "apt-get purge fieldgate"; else
	tail -30 "$work/apt.log" >&2; fail "apt-get purge failed"; fi
check "purge stopped fieldgate@demo" eval '! active'
check "the stop was graceful ('agent: stopped:' logged)" logged '^agent: stopped:'
check "/etc/fieldgate removed" ct test ! -e /etc/fieldgate
check "/var/lib/fieldgate removed" ct test ! -e /var/lib/fieldgate
check "user fieldgate kept (Debian policy)" eval 'ct getent passwd fieldgate >/dev/null'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
