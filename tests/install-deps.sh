#!/bin/sh
# Install the Debian 12 packages that the build, the tests and the demo need, skipping those
# already installed. It runs unattended as root. As another user, it lists what is missing.
set -eu

packages="
gcc
pkg-config
meson
ninja-build
libglib2.0-dev
libglib2.0-bin
libsoup-3.0-dev
libjson-glib-dev
libsecret-1-dev
gnome-keyring
libsecret-tools
dbus-daemon
dbus
python3
python3-gi
gir1.2-glib-2.0
iproute2
openssl
curl
jq
util-linux
man-db
groff-base
bash-completion
"

missing=""
for package in $packages; do
	if ! dpkg -s "$package" 2>/dev/null | grep -qx 'Status: install ok installed'; then
		missing="$missing $package"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: missing packages:$missing" >&2
	echo "install-deps.sh: install them as root: apt-get install$missing" >&2
	exit 1
fi

echo "install-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update </dev/null
# shellcheck disable=SC2086 # one package name per word
apt-get install -y --no-install-recommends $missing </dev/null
