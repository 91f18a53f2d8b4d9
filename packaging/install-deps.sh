#!/bin/sh
# Install the Debian packages in packaging/build-deps.txt that are missing.
# Quick and silent when everything is there; apt-get (with sudo when not
# root) otherwise. Used by `make run` and `make test`.
set -eu
here=$(dirname "$0")
missing=""
for p in $(grep -v '^#' "$here/build-deps.txt"); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "fieldgate: installing Debian packages:$missing"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $missing
