#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run applink's benchmarks on loopback and print the figures (medians of repeated runs).
# The script prints figures next to their targets and never judges them: BENCHMARKS.md
# records one run and what it means.
#
# Usage: bench/run-benchmarks.sh
#
# It installs the Debian packages it needs when they are missing (as root), builds the
# project in $APPLINK_BUILD_DIR (default SOURCE/build) when needed, and then runs every
# measurement against Jira doubles on 127.0.0.1, on a private D-Bus session bus with its own
# unlocked gnome-keyring and a temporary home. As root it runs inside a new network
# namespace with only loopback up, so no request can leave the machine. Every loop is
# bounded in count and time; a full run takes about three minutes on two cores.
set -euo pipefail

script_dir=$(cd "$(dirname "$0")" && pwd)
self="$script_dir/$(basename "$0")"
source_dir=$(cd "$script_dir/.." && pwd)
build_dir=${APPLINK_BUILD_DIR:-$source_dir/build}
python=/usr/bin/python3

# Sample sizes. Each hyperfine command stops after this many runs; every other loop has a
# fixed count and a time limit.
warm_runs=200
warm_warmups=20
cold_runs=20
hang_runs=100
rss_calls=10000
async_calls=2000
async_in_flight=64
async_repeats=5
cli_processes=16
cli_calls_per_process=20
cli_repeats=3
connection_calls=100
hanging_calls=16

die() {
	echo "run-benchmarks.sh: $*" >&2
	exit 1
}

note() {
	echo "run-benchmarks.sh: $*" >&2
}

# --- Stage 1: packages, build, network namespace ---------------------------------------------

install_packages() {
	local packages="gcc pkg-config meson ninja-build libglib2.0-dev libglib2.0-bin
		libsoup-3.0-dev libjson-glib-dev libsecret-1-dev gnome-keyring libsecret-tools
		dbus-daemon dbus python3 python3-gi gir1.2-glib-2.0 iproute2 util-linux curl jq
		hyperfine procps"
	local missing=""
	local package

	for package in $packages; do
		if ! dpkg -s "$package" 2>/dev/null | grep -qx 'Status: install ok installed'; then
			missing="$missing $package"
		fi
	done
	[ -n "$missing" ] || return 0
	if [ "$(id -u)" != 0 ]; then
		die "missing Debian packages:$missing; install them with 'apt-get install$missing'"
	fi
	note "installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update </dev/null
	# shellcheck disable=SC2086 # one package name per word
	apt-get install -y --no-install-recommends $missing </dev/null
}

build_project() {
	if [ ! -f "$build_dir/build.ninja" ]; then
		meson setup "$build_dir" "$source_dir" >/dev/null
	fi
	ninja -C "$build_dir" >/dev/null
	[ -x "$build_dir/service/applinkd" ] || die "$build_dir/service/applinkd was not built"
}

stage_start() {
	install_packages
	build_project
	if [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then
		exec unshare --net bash "$self" --set-up-namespace
	fi
	if [ "$(id -u)" = 0 ]; then
		note "unshare --net failed, so the benchmarks run in the host's network namespace"
	else
		note "not root, so the benchmarks run in the host's network namespace"
	fi
	exec bash "$self" --set-up-session
}

# --- Stage 2: temporary home and private session bus -----------------------------------------

# Prints the ids of processes whose environment carries this run's marker.
list_leftover_processes() {
	local environ pid

	for environ in /proc/[0-9]*/environ; do
		pid=${environ#/proc/}
		pid=${pid%/environ}
		[ "$pid" != "$$" ] || continue
		if { tr '\0' '\n' <"$environ"; } 2>/dev/null | grep -qxF "BENCH_ROOT=$BENCH_ROOT"; then
			echo "$pid"
		fi
	done
}

clean_up_session() {
	local status=$?
	local leftovers attempt=0

	trap - EXIT INT TERM
	leftovers=$(list_leftover_processes)
	while [ -n "$leftovers" ] && [ "$attempt" -lt 20 ]; do
		sleep 0.1
		attempt=$((attempt + 1))
		leftovers=$(list_leftover_processes)
	done
	if [ -n "$leftovers" ]; then
		# shellcheck disable=SC2086 # one process id per word
		kill -TERM $leftovers 2>/dev/null || true
		sleep 0.5
		leftovers=$(list_leftover_processes)
		# shellcheck disable=SC2086
		[ -z "$leftovers" ] || kill -KILL $leftovers 2>/dev/null || true
	fi
	rm -rf "$BENCH_ROOT"
	exit "$status"
}

stage_set_up_session() {
	local root

	if [ "${1:-}" = namespace ]; then
		ip link set lo up || die "cannot bring up loopback in the new network namespace"
		export BENCH_NETWORK="a private network namespace with only loopback up"
	else
		export BENCH_NETWORK="the host's network namespace (traffic still goes only to 127.0.0.1)"
	fi

	root=$(mktemp -d "${TMPDIR:-/tmp}/applink-bench.XXXXXXXX")
	export BENCH_ROOT=$root
	trap clean_up_session EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	# HOME and the XDG directories are set before the bus starts, so the keyring daemon
	# that the bus activates keeps its files in the temporary home too.
	export HOME="$root/home"
	export XDG_CONFIG_HOME="$HOME/.config"
	export XDG_DATA_HOME="$HOME/.local/share"
	export XDG_CACHE_HOME="$HOME/.cache"
	export XDG_STATE_HOME="$HOME/.local/state"
	export XDG_RUNTIME_DIR="$root/runtime"
	export TMPDIR="$root/tmp"
	mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME" "$TMPDIR"
	mkdir -m 0700 "$XDG_RUNTIME_DIR"
	unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL SSH_AUTH_SOCK
	unset http_proxy https_proxy ftp_proxy all_proxy no_proxy
	unset HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY NO_PROXY
	export GSETTINGS_BACKEND=memory
	export LC_ALL=C.UTF-8
	export APPLINK_BUILD_DIR=$build_dir

	# The bus starts applinkd from the build tree by D-Bus activation, without --verbose so
	# that debug logging costs nothing.
	mkdir "$root/services"
	cat >"$root/services/org.applink.Manager.service" <<-EOF
		[D-BUS Service]
		Name=org.applink.Manager
		Exec=$build_dir/service/applinkd
	EOF
	cat >"$root/session.conf" <<-EOF
		<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
		 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
		<busconfig>
		  <include>/usr/share/dbus-1/session.conf</include>
		  <servicedir>$root/services</servicedir>
		</busconfig>
	EOF
	(
		umask 077
		od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/keyring-password"
	)

	# The bus and the services it starts write to bus.log. The session's own messages go
	# to the original standard error through descriptor 3.
	dbus-run-session --config-file="$root/session.conf" -- \
		bash "$self" --run-in-session 3>&2 2>"$root/bus.log" || {
		local status=$?
		note "the benchmark session failed; the last lines of the bus log:"
		tail -n 30 "$root/bus.log" >&2
		exit "$status"
	}
}

# --- Stage 3: the measurements, inside the private session -----------------------------------

unlock_keyring() {
	local password

	password=$(cat "$BENCH_ROOT/keyring-password")
	rm -f "$BENCH_ROOT/keyring-password"
	printf %s "$password" | gnome-keyring-daemon --unlock --components=secrets >/dev/null ||
		die "gnome-keyring-daemon --unlock failed"
	unset password
	gnome-keyring-daemon --start --components=secrets >/dev/null 2>&1 ||
		die "gnome-keyring-daemon --start failed"
	gdbus call --session --timeout 20 --dest org.freedesktop.secrets \
		--object-path /org/freedesktop/secrets \
		--method org.freedesktop.Secret.Service.ReadAlias default >/dev/null ||
		die "the Secret Service did not answer on the private bus"
}

# Starts a Jira double with the token $2 for user admin and sets the variable named $1 to
# its port. The double's process id goes into the variable named $1_pid.
start_jira_double() {
	local name=$1 token=$2
	local out="$BENCH_ROOT/$name.out" port="" attempt=0

	"$python" "$source_dir/tests/doubles/jira-double.py" --token "$token:admin" \
		>"$out" 2>"$BENCH_ROOT/$name.log" &
	printf -v "${name}_pid" %s "$!"
	while [ -z "$port" ] && [ "$attempt" -lt 100 ]; do
		sleep 0.1
		attempt=$((attempt + 1))
		port=$(sed -n 's/^PORT=//p' "$out")
	done
	[ -n "$port" ] || die "the Jira double $name printed no PORT= line within 10 s"
	printf -v "$name" %s "$port"
}

# Prints the median of each hyperfine result in $1, in milliseconds, one per line.
hyperfine_medians() {
	jq -r '.results[] | .median * 1000' "$1"
}

# Runs hyperfine with a time limit, keeping its report in the log.
run_hyperfine() {
	timeout 300 hyperfine --style basic "$@" >>"$BENCH_ROOT/hyperfine.log" 2>&1 ||
		die "hyperfine failed; its output:$(echo; tail -n 20 "$BENCH_ROOT/hyperfine.log")"
}

# Prints the resident set size of process $1 in KiB.
rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

kib_to_mib() {
	awk -v kib="$1" 'BEGIN { printf "%.1f", kib / 1024 }'
}

# Prints $1 / $2 with two decimals.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

milliseconds() {
	awk -v ms="$1" 'BEGIN { printf "%.2f", ms }'
}

daemon_pid() {
	"$python" "$script_dir/bench-calls.py" daemon-pid
}

# Adds one row to the results table: measure, figure, target.
record() {
	printf '| %s | %s | %s |\n' "$1" "$2" "$3" >>"$BENCH_ROOT/results.md"
	printf '  %s: %s (target: %s)\n' "$1" "$2" "$3" >&3
}

# Prints the connections and requests that double $1 counted, as "CONNECTIONS REQUESTS".
double_stats() {
	curl -s --max-time 5 "http://127.0.0.1:$1/_double/stats" | jq -r '"\(.connections) \(.requests)"'
}

# Writes the script that hyperfine runs before each cold-start run: it stops applinkd and
# waits until the bus has released its name, so that the next call activates a new one.
write_stop_daemon_script() {
	cat >"$BENCH_ROOT/stop-daemon.sh" <<-EOF
		#!/bin/sh
		pid=\$($python $script_dir/bench-calls.py daemon-pid 2>/dev/null) || exit 0
		kill -TERM "\$pid"
		attempt=0
		while [ -d "/proc/\$pid" ] && [ "\$attempt" -lt 100 ]; do
			sleep 0.05
			attempt=\$((attempt + 1))
		done
		[ ! -d "/proc/\$pid" ] || { echo "applinkd \$pid did not stop" >&2; exit 1; }
		attempt=0
		while gdbus call --session --dest org.freedesktop.DBus \\
			--object-path /org/freedesktop/DBus \\
			--method org.freedesktop.DBus.NameHasOwner org.applink.Manager |
			grep -q true && [ "\$attempt" -lt 100 ]; do
			sleep 0.05
			attempt=\$((attempt + 1))
		done
	EOF
	chmod +x "$BENCH_ROOT/stop-daemon.sh"
}

print_machine() {
	echo "Machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: //')," \
		"$(free -h | awk '/^Mem:/ { print $2 }') RAM, Linux $(uname -r)"
	echo "Tools: $(hyperfine --version), curl $(curl --version | awk 'NR == 1 { print $2 }')," \
		"Python $("$python" -c 'import platform; print(platform.python_version())')," \
		"GLib $(pkg-config --modversion glib-2.0), libsoup $(pkg-config --modversion libsoup-3.0)"
	echo "Network: $BENCH_NETWORK"
}

set_up_sites() {
	start_jira_double jira_a BENCH-TOKEN-A
	start_jira_double jira_b BENCH-TOKEN-B
	echo BENCH-TOKEN-A | "$python" "$script_dir/bench-calls.py" add-site \
		"http://127.0.0.1:$jira_a" site-a >/dev/null
	echo BENCH-TOKEN-B | "$python" "$script_dir/bench-calls.py" add-site \
		"http://127.0.0.1:$jira_b" site-b >/dev/null
	# Two Salesforce links per site, a production org and its sandbox, as a typical Jira
	# has. ListLinks makes one Jira request for the list and one per link.
	for site in site-a site-b; do
		"$python" "$script_dir/bench-calls.py" create-link "$site" \
			https://acme.my.salesforce.com "Acme production" >/dev/null
		"$python" "$script_dir/bench-calls.py" create-link "$site" \
			https://acme--uat.sandbox.my.salesforce.com "Acme UAT" >/dev/null
	done
}

measure_memory() {
	local pid idle after_sequential after_parallel after_more

	echo "Resident memory of applinkd" >&3
	"$BENCH_ROOT/stop-daemon.sh"
	gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
		--method org.freedesktop.DBus.StartServiceByName org.applink.Manager 0 >/dev/null
	sleep 1
	pid=$(daemon_pid)
	idle=$(rss_kib "$pid")
	"$python" "$script_dir/bench-calls.py" throughput ListSites --calls "$rss_calls" \
		--in-flight 1 --time-limit 120 >/dev/null
	after_sequential=$(rss_kib "$pid")
	"$python" "$script_dir/bench-calls.py" throughput ListSites --calls "$rss_calls" \
		--in-flight "$async_in_flight" --time-limit 120 >/dev/null
	after_parallel=$(rss_kib "$pid")
	"$python" "$script_dir/bench-calls.py" throughput ListSites --calls "$rss_calls" \
		--in-flight "$async_in_flight" --time-limit 120 >/dev/null
	after_more=$(rss_kib "$pid")
	record "VmRSS idle after start" "$(kib_to_mib "$idle") MiB" "< 10 MiB"
	record "VmRSS after $rss_calls ListSites, 1 in flight" \
		"$(kib_to_mib "$after_sequential") MiB" "< 10 MiB, no growth"
	record "VmRSS after $rss_calls more, $async_in_flight in flight" \
		"$(kib_to_mib "$after_parallel") MiB" "< 10 MiB, no growth"
	record "VmRSS after $rss_calls more, $async_in_flight in flight" \
		"$(kib_to_mib "$after_more") MiB" "< 10 MiB, no growth"
}

measure_warm_latency() {
	local json="$BENCH_ROOT/warm.json"
	local applinkctl pipeline floor
	local medians

	echo "Warm latency" >&3
	run_hyperfine --warmup "$warm_warmups" --runs "$warm_runs" --export-json "$json" \
		"$applinkctl_bin --json --site site-a link list" \
		"curl -s -H \"Authorization: Bearer \$(secret-tool lookup site site-a)\" http://127.0.0.1:$jira_a/rest/applinks/1.0/applicationlink" \
		"gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus --method org.freedesktop.DBus.GetId" \
		"$applinkctl_bin --json site list"
	mapfile -t medians < <(hyperfine_medians "$json")
	applinkctl=${medians[0]}
	pipeline=${medians[1]}
	floor=${medians[2]}
	record "applinkctl --json link list, warm" "$(milliseconds "$applinkctl") ms" "-"
	record "secret-tool + curl pipeline" "$(milliseconds "$pipeline") ms" "-"
	record "gdbus call GetId (floor)" "$(milliseconds "$floor") ms" "-"
	record "applinkctl --json site list, warm" "$(milliseconds "${medians[3]}") ms" "-"
	record "link list / pipeline" "$(ratio "$applinkctl" "$pipeline")×" "≤ 0.35×"
	record "link list / gdbus floor" "$(ratio "$applinkctl" "$floor")×" "≤ 1.3×"
	warm_link_list_ms=$applinkctl
}

measure_cold_start() {
	local json="$BENCH_ROOT/cold.json"
	local medians

	echo "Cold start through D-Bus activation" >&3
	run_hyperfine --runs "$cold_runs" --prepare "$BENCH_ROOT/stop-daemon.sh" \
		--export-json "$json" \
		"$applinkctl_bin site list" \
		"gdbus call --session --dest org.applink.Manager --object-path /org/applink/Manager --method org.applink.Manager.ListSites"
	mapfile -t medians < <(hyperfine_medians "$json")
	record "cold applinkctl site list" "$(milliseconds "${medians[0]}") ms" "< 50 ms"
	record "cold gdbus call ListSites" "$(milliseconds "${medians[1]}") ms" "-"
}

measure_async_throughput() {
	local method site result

	echo "Throughput from one client, $async_in_flight calls in flight" >&3
	for method in ListSites ListLinks; do
		site=""
		[ "$method" = ListSites ] || site=site-a
		# shellcheck disable=SC2086 # no SITE for ListSites
		result=$("$python" "$script_dir/bench-calls.py" throughput "$method" $site \
			--calls "$async_calls" --in-flight "$async_in_flight" \
			--repeat "$async_repeats" --time-limit 120)
		record "$method, one client, $async_calls calls, $async_in_flight in flight" \
			"$(echo "$result" | jq -r '.median_calls_per_second') calls/s" "-"
	done
}

# Runs $cli_processes processes that each make $cli_calls_per_process calls of the
# applinkctl command in "$@", and prints the seconds the whole batch took.
run_cli_batch() {
	local start end pids=() i

	start=$(date +%s%N)
	for ((i = 0; i < cli_processes; i++)); do
		(
			for ((j = 0; j < cli_calls_per_process; j++)); do
				timeout 30 "$applinkctl_bin" "$@" >/dev/null || exit 1
			done
		) &
		pids+=("$!")
	done
	for i in "${pids[@]}"; do
		wait "$i" || die "a parallel applinkctl $* failed"
	done
	end=$(date +%s%N)
	awk -v ns="$((end - start))" 'BEGIN { printf "%.4f", ns / 1e9 }'
}

measure_cli_throughput() {
	local label rates seconds calls r
	local -a command

	echo "Throughput from $cli_processes parallel applinkctl processes" >&3
	calls=$((cli_processes * cli_calls_per_process))
	for label in "site list" "link list"; do
		if [ "$label" = "site list" ]; then
			command=(--json site list)
		else
			command=(--json --site site-a link list)
		fi
		rates=()
		for ((r = 0; r < cli_repeats; r++)); do
			seconds=$(run_cli_batch "${command[@]}")
			rates+=("$(awk -v n="$calls" -v s="$seconds" 'BEGIN { printf "%.1f", n / s }')")
		done
		record "applinkctl $label, $cli_processes processes, $calls calls" \
			"$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(((cli_repeats + 1) / 2))p") calls/s" "-"
	done
}

measure_connections() {
	local before after i

	echo "TCP connections to Jira" >&3
	before=$(double_stats "$jira_a")
	for ((i = 0; i < connection_calls; i++)); do
		timeout 30 "$applinkctl_bin" --json --site site-a link list >/dev/null
	done
	after=$(double_stats "$jira_a")
	record "connections opened per $connection_calls link list" \
		"$((${after% *} - ${before% *}))" "≤ 1 per site"
	record "Jira requests per $connection_calls link list" \
		"$((${after#* } - ${before#* }))" "-"
}

measure_hang_isolation() {
	local json_normal="$BENCH_ROOT/normal.json" json_hang="$BENCH_ROOT/hang.json"
	local normal hanging pids=() i attempt still_waiting=0

	echo "Latency on site-a while site-b's Jira hangs" >&3
	run_hyperfine --warmup 10 --runs "$hang_runs" --export-json "$json_normal" \
		"$applinkctl_bin --json --site site-a link list"
	normal=$(hyperfine_medians "$json_normal")

	curl -s --max-time 5 -X POST -d '{"hang": true}' \
		"http://127.0.0.1:$jira_b/_double/config" >/dev/null
	for ((i = 0; i < hanging_calls; i++)); do
		timeout 120 "$applinkctl_bin" --json --site site-b link list >/dev/null 2>&1 &
		pids+=("$!")
	done
	# Wait until the hanging requests have reached the double.
	attempt=0
	while [ "$(double_stats "$jira_b" | cut -d' ' -f2)" -lt 1 ] && [ "$attempt" -lt 50 ]; do
		sleep 0.1
		attempt=$((attempt + 1))
	done
	run_hyperfine --warmup 10 --runs "$hang_runs" --export-json "$json_hang" \
		"$applinkctl_bin --json --site site-a link list"
	hanging=$(hyperfine_medians "$json_hang")
	for i in "${pids[@]}"; do
		if [ -d "/proc/$i" ]; then
			still_waiting=$((still_waiting + 1))
		fi
	done

	# Stopping the hanging double closes its connections, so applinkd's requests fail and
	# the waiting applinkctl processes exit.
	kill -TERM "$jira_b_pid"
	for i in "${pids[@]}"; do
		wait "$i" 2>/dev/null || true
	done
	record "link list on site-a, normal" "$(milliseconds "$normal") ms" "-"
	record "link list on site-a, $still_waiting calls hanging on site-b" \
		"$(milliseconds "$hanging") ms" "-"
	record "hanging / normal" "$(ratio "$hanging" "$normal")×" "≤ 1.2×"
}

stage_run_in_session() {
	exec 2>&3
	unlock_keyring
	write_stop_daemon_script
	applinkctl_bin="$build_dir/client/applinkctl"

	print_machine >&3
	echo >&3
	echo "| measure | figure | target |" >"$BENCH_ROOT/results.md"
	echo "|---|---|---|" >>"$BENCH_ROOT/results.md"

	set_up_sites
	measure_memory
	if [ -x "$applinkctl_bin" ]; then
		measure_warm_latency
		measure_cold_start
	else
		note "$applinkctl_bin is missing, so the applinkctl rows are skipped"
	fi
	measure_async_throughput
	if [ -x "$applinkctl_bin" ]; then
		measure_cli_throughput
		measure_connections
		measure_hang_isolation
	fi

	echo >&3
	cat "$BENCH_ROOT/results.md" >&3
	kill -TERM "$jira_a_pid" 2>/dev/null || true
}

case "${1:-}" in
--set-up-namespace) stage_set_up_session namespace ;;
--set-up-session) stage_set_up_session host ;;
--run-in-session) stage_run_in_session ;;
"") stage_start ;;
*) die "usage: bench/run-benchmarks.sh (no arguments)" ;;
esac
