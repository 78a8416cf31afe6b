#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs applink into a temporary prefix and uses only the installed files:
# - the install layout stays inside the prefix, and the activation file and the systemd
#   user unit name the installed applinkd;
# - both manual pages render without warnings, and bash completion is installed;
# - on a private session bus that reads the installed activation file, the installed
#   applinkctl starts applinkd by D-Bus activation. It then registers a site on the Jira
#   double, creates a link to the Salesforce double, sets the link's outgoing
#   authentication and lists the link as configured;
# - the installed example scripts list that link;
# - an applinkd started with --idle-timeout 2 stays while a call is in flight, exits when
#   idle, and the next call starts it again.
#
# Usage: tests/test-installed.sh [SOURCE_DIR]
#
# Everything lives in a temporary folder that is removed at the end: the build, the prefix,
# HOME and the XDG folders (set before the bus and the keyring start), the bus and the
# keyring. The doubles listen on 127.0.0.1 only.
set -eu -o pipefail

source_dir=$(cd "${1:-$(dirname "$0")/..}" && pwd)
python=/usr/bin/python3
bus_name=org.applink.Manager
# Seconds to wait for a process to listen, to own or release a bus name, or to exit.
wait_seconds=15

root=$(mktemp -d "${TMPDIR:-/tmp}/applink-installed.XXXXXXXX")
prefix=$root/prefix
# Every process this test starts inherits this marker, so cleanup() can find the ones that
# D-Bus activation or gnome-keyring-daemon started.
export APPLINK_INSTALLED_TEST_ROOT=$root

die() {
	echo "FAIL: $*" >&2
	exit 1
}

step() {
	echo "# $*"
}

trap 'die "line $LINENO: \"$BASH_COMMAND\" failed"' ERR

# Prints the ids of the running processes whose environment carries the marker.
list_marked_processes() {
	local environ pid
	for environ in /proc/[0-9]*/environ; do
		pid=${environ#/proc/}
		pid=${pid%/environ}
		if [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ]; then
			continue
		fi
		if { tr '\0' '\n' <"$environ"; } 2>/dev/null |
			grep -qxF "APPLINK_INSTALLED_TEST_ROOT=$root"; then
			echo "$pid"
		fi
	done
}

cleanup() {
	local status=$? pid
	trap - EXIT ERR
	for pid in $(list_marked_processes); do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for _ in $(seq 20); do
		[ -n "$(list_marked_processes)" ] || break
		sleep 0.1
	done
	for pid in $(list_marked_processes); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "$root"
	exit "$status"
}
trap cleanup EXIT

# Fails unless FILE contains a line equal to LINE.
expect_line() {
	grep -aqxF -- "$2" "$1" || die "$1 has no line '$2'"
}

# Runs the installed applinkctl from PATH and stops it after 60 s.
applinkctl_run() {
	timeout 60 applinkctl "$@"
}

bus_call() {
	gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
		--method "org.freedesktop.DBus.$1" "${@:2}"
}

# Prints the process id of the owner of org.applink.Manager, or nothing when it has none.
# Bus methods never start a service, so this does not activate applinkd.
daemon_pid() {
	bus_call GetConnectionUnixProcessID "$bus_name" 2>/dev/null |
		sed -n 's/^(uint32 \([0-9]*\),)$/\1/p'
}

# Waits until org.applink.Manager has no owner and the process PID is gone.
wait_for_daemon_exit() {
	local pid=$1 deadline=$((SECONDS + wait_seconds))
	while [ -n "$(daemon_pid)" ] || [ -e "/proc/$pid" ]; do
		[ "$SECONDS" -lt "$deadline" ] ||
			die "applinkd ($pid) did not exit within $wait_seconds s"
		sleep 0.1
	done
}

# Checks that process PID runs the installed applinkd with the option --idle-timeout SECONDS.
expect_installed_daemon() {
	local pid=$1 seconds=$2 exe arguments
	[ -n "$pid" ] || die "org.applink.Manager has no owner"
	exe=$(readlink -f "/proc/$pid/exe")
	[ "$exe" = "$prefix/libexec/applinkd" ] ||
		die "org.applink.Manager is owned by $exe, not by $prefix/libexec/applinkd"
	arguments=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	case "$arguments" in
	*" --idle-timeout $seconds "*) ;;
	*) die "applinkd runs as '$arguments', without --idle-timeout $seconds" ;;
	esac
}

# Starts a double with its options, waits for its PORT= line, and sets $port.
start_double() {
	local name=$1 pid deadline
	shift
	"$python" "$source_dir/tests/doubles/$name.py" "$@" \
		</dev/null >"$root/$name.out" 2>"$root/$name.log" &
	pid=$!
	deadline=$((SECONDS + wait_seconds))
	until grep -q '^PORT=' "$root/$name.out"; do
		kill -0 "$pid" 2>/dev/null || die "$name exited: $(cat "$root/$name.log")"
		[ "$SECONDS" -lt "$deadline" ] || die "$name printed no PORT= line"
		sleep 0.1
	done
	port=$(sed -n 's/^PORT=\([0-9]*\)$/\1/p' "$root/$name.out")
}

# Runs the completion function of the installed script on a command line whose last word
# is being completed, and prints the candidates, one per line.
complete_line() {
	(
		# shellcheck disable=SC1090 # the installed completion script
		source "$completion"
		COMP_WORDS=(applinkctl "$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMPREPLY=()
		_applinkctl
		printf '%s\n' "${COMPREPLY[@]}"
	)
}

# A private home, set before anything starts, so that the bus, the keyring and applinkd
# keep their files in the temporary folder and nothing reaches the user's session.
export HOME=$root/home
export XDG_CONFIG_HOME=$HOME/.config
export XDG_DATA_HOME=$HOME/.local/share
export XDG_CACHE_HOME=$HOME/.cache
export XDG_STATE_HOME=$HOME/.local/state
export XDG_RUNTIME_DIR=$root/runtime
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME"
mkdir -m 0700 "$XDG_RUNTIME_DIR"
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL SSH_AUTH_SOCK
unset http_proxy https_proxy ftp_proxy all_proxy no_proxy
unset HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY NO_PROXY
export GSETTINGS_BACKEND=memory
export LC_ALL=C.UTF-8

step "build and install into $prefix"
if ! meson setup "$root/build" "$source_dir" --prefix="$prefix" >"$root/setup.log" 2>&1; then
	cat "$root/setup.log" >&2
	die "meson setup failed"
fi
if ! meson compile -C "$root/build" >"$root/compile.log" 2>&1; then
	cat "$root/compile.log" >&2
	die "meson compile failed"
fi
if ! meson install -C "$root/build" >"$root/install.log" 2>&1; then
	cat "$root/install.log" >&2
	die "meson install failed"
fi
grep '^Installing' "$root/install.log"

step "the install layout stays inside the prefix"
outside=$(meson introspect --installed "$root/build" |
	jq -r --arg prefix "$prefix/" '.[] | select(startswith($prefix) | not)')
[ -z "$outside" ] || die "installed outside $prefix: $outside"
service_file=$prefix/share/dbus-1/services/$bus_name.service
unit_file=$prefix/lib/systemd/user/applink.service
completion=$prefix/share/bash-completion/completions/applinkctl
examples=$prefix/share/doc/applink/examples
for file in "$prefix/bin/applinkctl" "$prefix/libexec/applinkd" \
	"$examples/list-links.py" "$examples/list-links.sh"; do
	[ -x "$file" ] || die "$file is not installed or not executable"
done
for file in "$service_file" "$unit_file" "$completion" \
	"$prefix/share/man/man1/applinkctl.1" "$prefix/share/man/man8/applinkd.8" \
	"$prefix/share/dbus-1/interfaces/$bus_name.xml"; do
	[ -f "$file" ] || die "$file is not installed"
done
api_reference=$(find "$prefix/share/doc/applink" -maxdepth 1 -name "applink-dbus-$bus_name.*")
[ -n "$api_reference" ] || die "no API reference in $prefix/share/doc/applink"
grep -q AddSite "$api_reference" || die "$api_reference does not describe AddSite"

step "the activation file and the user unit start the installed applinkd"
expect_line "$service_file" "[D-BUS Service]"
expect_line "$service_file" "Name=$bus_name"
expect_line "$service_file" "Exec=$prefix/libexec/applinkd --idle-timeout 300"
expect_line "$service_file" "SystemdService=applink.service"
expect_line "$unit_file" "Type=dbus"
expect_line "$unit_file" "BusName=$bus_name"
expect_line "$unit_file" "ExecStart=$prefix/libexec/applinkd --idle-timeout 300"
if grep -v '^#' "$unit_file" | grep -q 'graphical-session'; then
	die "$unit_file depends on a graphical session, which an SSH login does not have"
fi
if grep -q '^\[Install\]' "$unit_file"; then
	die "$unit_file has an [Install] section, but D-Bus activation starts it"
fi

step "the manual pages render without warnings"
[ "$(man -w -M "$prefix/share/man" applinkctl)" = "$prefix/share/man/man1/applinkctl.1" ] ||
	die "man does not find applinkctl(1) under $prefix/share/man"
for page in "$prefix/share/man/man1/applinkctl.1" "$prefix/share/man/man8/applinkd.8"; do
	if ! MANWIDTH=80 man --warnings -l "$page" >"$root/page.txt" 2>"$root/man.log"; then
		cat "$root/man.log" >&2
		die "man -l $page failed"
	fi
	[ ! -s "$root/man.log" ] || die "man -l $page warns: $(cat "$root/man.log")"
	[ -s "$root/page.txt" ] || die "man -l $page printed nothing"
done

step "start a private session bus that reads the installed activation file"
# The test's own service folder comes first so that it can take precedence later, and both
# come before the standard folders, which may hold the file of another installed applink.
mkdir "$root/test-services"
cat >"$root/session.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <servicedir>$root/test-services</servicedir>
  <servicedir>$prefix/share/dbus-1/services</servicedir>
  <include>/usr/share/dbus-1/session.conf</include>
</busconfig>
EOF
dbus-daemon --nofork --config-file="$root/session.conf" --print-address=3 \
	3>"$root/bus.address" </dev/null 2>"$root/bus.log" &
deadline=$((SECONDS + wait_seconds))
until [ -s "$root/bus.address" ]; do
	[ "$SECONDS" -lt "$deadline" ] || die "dbus-daemon did not start: $(cat "$root/bus.log")"
	sleep 0.1
done
DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$root/bus.address")
export DBUS_SESSION_BUS_ADDRESS

step "unlock a new login keyring"
keyring_password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf %s "$keyring_password" | gnome-keyring-daemon --unlock --components=secrets \
	>/dev/null || die "gnome-keyring-daemon --unlock failed"
gnome-keyring-daemon --start --components=secrets >/dev/null 2>"$root/keyring.log" ||
	die "gnome-keyring-daemon --start failed: $(cat "$root/keyring.log")"
default_collection=$(gdbus call --session --timeout 20 --dest org.freedesktop.secrets \
	--object-path /org/freedesktop/secrets \
	--method org.freedesktop.Secret.Service.ReadAlias default)
case "$default_collection" in
*"/org/freedesktop/secrets/collection/"*) ;;
*) die "the keyring has no default collection: $default_collection" ;;
esac

export PATH=$prefix/bin:$PATH
[ "$(command -v applinkctl)" = "$prefix/bin/applinkctl" ] ||
	die "applinkctl on PATH is $(command -v applinkctl), not the installed one"

step "applinkctl version starts applinkd through D-Bus activation"
[ -z "$(daemon_pid)" ] || die "org.applink.Manager has an owner before the first call"
version=$(meson introspect --projectinfo "$root/build" | jq -r .version)
applinkctl_run version >"$root/version.out" </dev/null
expect_line "$root/version.out" "applinkctl $version"
expect_line "$root/version.out" "applinkd $version"
first_pid=$(daemon_pid)
expect_installed_daemon "$first_pid" 300

step "register a site, create a link and set its outgoing authentication"
jira_token=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
salesforce_user=integration@example.com
salesforce_password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
salesforce_token=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
start_double jira-double --token "$jira_token:admin"
jira_port=$port
start_double salesforce-double --user "$salesforce_user:$salesforce_password:$salesforce_token"
salesforce_port=$port
jira_url=http://127.0.0.1:$jira_port
salesforce_url=http://127.0.0.1:$salesforce_port

printf '%s\n' "$jira_token" |
	applinkctl_run --json site add "$jira_url" --name test-site --stdin >"$root/site.json"
jq -e '.site == "test-site"' "$root/site.json" >/dev/null ||
	die "site add printed $(cat "$root/site.json")"

applinkctl_run --json link create "$salesforce_url" --name Salesforce \
	</dev/null >"$root/link.json"
link_id=$(jq -r .id "$root/link.json")
if [ -z "$link_id" ] || [ "$link_id" = null ]; then
	die "link create printed $(cat "$root/link.json")"
fi
jq -e '."outgoing-auth" == "not-configured"' "$root/link.json" >/dev/null ||
	die "a new link is not 'not-configured': $(cat "$root/link.json")"

printf '%s\n%s\n' "$salesforce_password" "$salesforce_token" |
	applinkctl_run --json auth set Salesforce --username "$salesforce_user" --stdin \
		>"$root/auth.json"
jq -e '.state == "configured"' "$root/auth.json" >/dev/null ||
	die "auth set printed $(cat "$root/auth.json")"

applinkctl_run --json link list </dev/null >"$root/links.json"
jq -e --arg id "$link_id" \
	'[.[] | select(.id == $id and ."outgoing-auth" == "configured")] | length == 1' \
	"$root/links.json" >/dev/null || die "link list printed $(cat "$root/links.json")"

step "the keyring items have the attributes that applinkctl(1) documents"
# secret-tool prints the secrets too, so its output stays in the temporary folder.
secret-tool search --all site test-site >"$root/items.txt" 2>&1 </dev/null
expect_line "$root/items.txt" "schema = org.applink.JiraCredential"
expect_line "$root/items.txt" "schema = org.applink.SalesforceCredential"
expect_line "$root/items.txt" "attribute.url = $jira_url"
expect_line "$root/items.txt" "attribute.link = $link_id"
expect_line "$root/items.txt" "attribute.username = $salesforce_user"
expect_line "$root/items.txt" "attribute.login-url = $salesforce_url"

step "the installed completion offers the site and the link"
complete_line site remove '' >"$root/sites.txt"
expect_line "$root/sites.txt" test-site
complete_line --site test-site link show '' >"$root/link-ids.txt"
expect_line "$root/link-ids.txt" "$link_id"

step "the installed examples list the link"
"$examples/list-links.py" </dev/null >"$root/example-py.out"
expect_line "$root/example-py.out" \
	"site test-site: $jira_url (Jira 9.12.2, token as admin)"
expect_line "$root/example-py.out" "  link $link_id: Salesforce -> $salesforce_url \
(outgoing authentication configured, primary)"
"$examples/list-links.sh" </dev/null >"$root/example-sh.out"
expect_line "$root/example-sh.out" \
	"$(printf 'test-site\t%s\tSalesforce\t%s\tconfigured' "$link_id" "$salesforce_url")"

step "an applinkd with --idle-timeout 2 stays during a call and exits when idle"
# The test's service folder precedes the installed one, so this file replaces the
# installed Exec line for the rest of the test.
kill -TERM "$first_pid"
wait_for_daemon_exit "$first_pid"
cat >"$root/test-services/$bus_name.service" <<EOF
[D-BUS Service]
Name=$bus_name
Exec=$prefix/libexec/applinkd --idle-timeout 2
EOF
bus_call ReloadConfig >/dev/null
# Jira answers the next link list after 4 s, longer than the idle timeout.
curl -sS --noproxy '*' -X POST -o /dev/null \
	-d '{"delay": {"path": "/rest/applinks", "seconds": 4, "count": 1}}' \
	"$jira_url/_double/config"
applinkctl_run --json --site test-site link list </dev/null >"$root/slow.json" &
slow_call=$!
deadline=$((SECONDS + wait_seconds))
until [ -n "$(daemon_pid)" ]; do
	[ "$SECONDS" -lt "$deadline" ] || die "the call did not start applinkd"
	sleep 0.1
done
idle_pid=$(daemon_pid)
expect_installed_daemon "$idle_pid" 2
sleep 3
[ "$(daemon_pid)" = "$idle_pid" ] || die "applinkd exited while a call was in flight"
wait "$slow_call" || die "link list failed while applinkd was idle-timing: $(cat "$root/slow.json")"
jq -e 'length == 1' "$root/slow.json" >/dev/null || die "link list printed $(cat "$root/slow.json")"
[ "$(daemon_pid)" = "$idle_pid" ] || die "applinkd exited before the idle timeout"
wait_for_daemon_exit "$idle_pid"

step "the next call starts applinkd again, which reads the stored credentials"
applinkctl_run --json auth test Salesforce </dev/null >"$root/auth-test.json"
jq -e '.state == "configured" and .stored == true' "$root/auth-test.json" >/dev/null ||
	die "auth test printed $(cat "$root/auth-test.json")"
second_pid=$(daemon_pid)
if [ -n "$second_pid" ]; then
	[ "$second_pid" != "$idle_pid" ] || die "applinkd $idle_pid did not restart"
	expect_installed_daemon "$second_pid" 2
fi

echo "installed applink passed: layout, manual pages, activation, flow, examples, idle exit"
