#!/bin/sh
# install-cross-deps.sh ARCH - what cross-building fieldgate for ARCH (arm64,
# armhf) and running it under qemu needs: ARCH as a dpkg foreign
# architecture, the packages of packaging/cross-deps.txt, and qemu in
# binfmt_misc. Quick and silent when everything is there (used by
# make deb ARCH=..., make test-cross and make test); apt-get, with sudo
# when not root, otherwise.
set -eu
arch=${1:?usage: install-cross-deps.sh arm64|armhf}
case $arch in
arm64) qemu="qemu-aarch64" ;;
armhf) qemu="qemu-arm" ;;
*) echo "install-cross-deps.sh: unknown architecture '$arch': fieldgate cross-builds for arm64 and armhf" >&2; exit 2 ;;
esac
here=$(dirname "$0")
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

updated=0
if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
	echo "fieldgate: adding $arch as a dpkg foreign architecture (dpkg --add-architecture $arch)"
	$sudo dpkg --add-architecture "$arch"
	$sudo apt-get update -qq
	updated=1
fi
missing=""
for p in $(grep -v '^#' "$here/cross-deps.txt" | sed "s/ARCH/$arch/g"); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "fieldgate: installing Debian packages for $arch:$missing"
	[ $updated -eq 1 ] || $sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends $missing
fi

# binfmt_misc: a container (CI, docker) may not have it mounted; the
# registration is the kernel's, so it survives until reboot.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
	$sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
fi
if [ -e /proc/sys/fs/binfmt_misc/register ] && [ ! -e "/proc/sys/fs/binfmt_misc/$qemu" ]; then
	$sudo update-binfmts --enable "$qemu" 2>/dev/null || true
fi
# Not fatal: the unit tests and the smoke test call qemu explicitly; only
# the systemd test (a booted ARCH root) needs binfmt, and says so.
if ! grep -qs '^flags:.*F' "/proc/sys/fs/binfmt_misc/$qemu"; then
	echo "fieldgate: note: $qemu is not registered in binfmt_misc with the F flag (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable $qemu): $arch binaries run only through $qemu-static explicitly" >&2
fi
exit 0
