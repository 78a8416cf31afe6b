#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run applink's benchmarks on loopback and print the figures (medians of repeated runs).
# The script prints figures next to their targets and never judges them: BENCHMARKS.md
# records one run and what it means.
#
# Usage: bench/run-benchmarks.sh
#
# It installs the Debian packages it needs when they are missing (as root) and builds the
# project in $APPLINK_BUILD_DIR (default SOURCE/build) when needed. Then it runs every
# measurement against Jira doubles on 127.0.0.1, on a private D-Bus session bus with its own
# unlocked gnome-keyring and a temporary home. As root it runs inside a new network
# namespace with only loopback up, so no request can leave the machine. Every loop is
# bounded in count and time, and a full run took about two minutes on two cores.
set -euo pipefail

script_dir=$(cd "$(dirname "$0")" && pwd)
self="$script_dir/$(basename "$0")"
source_dir=$(cd "$script_dir/.." && pwd)
build_dir=${APPLINK_BUILD_DIR:-$source_dir/build}
python=/usr/bin/python3

# Ports and process ids of the two Jira doubles, set by start_jira_double.
jira_a="" jira_a_pid="" jira_b="" jira_b_pid=""
# Command lines that hyperfine times, set by define_commands.
link_list_command="" site_list_command="" pipeline_command="" floor_command=""
gdbus_list_sites_command=""

# Sample sizes: hyperfine runs per command, and calls per loop. Every hyperfine run and every
# loop also has a time limit.
warm_runs=300
warm_rounds=10
warm_warmups=5
cold_runs=20
hang_runs=240
hang_cycles=8
rss_calls=10000
latency_calls=1000
async_calls=2000
async_in_flight=64
async_repeats=5
cli_processes=16
cli_calls_per_process=20
cli_repeats=3
connection_calls=100
hanging_calls=16
pool_hanging_calls=64
probe_time_limit=5
jira_delay_ms=20
slow_jira_runs=30

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
		die "the Secret Service did not respond on the private bus"
}

# Starts a Jira double with the token $2 for user admin, on port $3 or a free one, and sets
# the variable named $1 to its port. The double's process id goes into the variable named
# $1_pid.
start_jira_double() {
	local name=$1 token=$2 requested_port=${3:-0}
	local out="$BENCH_ROOT/$name.out" port="" attempt=0

	"$python" "$source_dir/tests/doubles/jira-double.py" --token "$token:admin" \
		--port "$requested_port" >"$out" 2>>"$BENCH_ROOT/$name.log" &
	printf -v "${name}_pid" %s "$!"
	while [ -z "$port" ] && [ "$attempt" -lt 100 ]; do
		sleep 0.1
		attempt=$((attempt + 1))
		port=$(sed -n 's/^PORT=//p' "$out")
	done
	[ -n "$port" ] || die "the Jira double $name printed no PORT= line within 10 s"
	printf -v "$name" %s "$port"
}

# Prints the median, in milliseconds, of all runs of command number $1 (from 0) in the
# hyperfine result files that follow.
pooled_median() {
	local index=$1

	shift
	jq -s --argjson index "$index" '[.[].results[$index].times[]] | sort
		| if length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end
		| . * 1000' "$@"
}

# Prints the median over the hyperfine result files that follow of the ratio between the
# medians of commands number $1 and $2 in each file.
median_ratio() {
	local numerator=$1 denominator=$2

	shift 2
	jq -s --argjson a "$numerator" --argjson b "$denominator" \
		'[.[] | .results[$a].median / .results[$b].median] | sort
		| if length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end
		| . * 100 | round / 100' "$@"
}

# Runs hyperfine with a time limit, keeping its report in the log.
run_hyperfine() {
	timeout 300 hyperfine --style basic "$@" >>"$BENCH_ROOT/hyperfine.log" 2>&1 ||
		die "hyperfine failed; its output:$(echo; tail -n 20 "$BENCH_ROOT/hyperfine.log")"
}

# Prints the resident memory of process $1 as "VmRSS MiB (RssAnon MiB anonymous, N threads)".
describe_memory() {
	awk '/^VmRSS:/ { rss = $2 } /^RssAnon:/ { anon = $2 } /^Threads:/ { threads = $2 }
		END { printf "%.1f MiB (%.1f MiB anonymous, %d threads)", rss / 1024, anon / 1024, threads }' \
		"/proc/$1/status"
}

# Prints $1 / $2 with two decimals.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

milliseconds() {
	awk -v ms="$1" 'BEGIN { printf "%.2f", ms }'
}

# Succeeds when process $1 exists and is not a zombie.
is_running() {
	local state

	state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ]
}

daemon_pid() {
	"$python" "$script_dir/bench-calls.py" daemon-pid
}

# Adds one row to the results table: measure, figure, target.
record() {
	printf '| %s | %s | %s |\n' "$1" "$2" "$3" >>"$BENCH_ROOT/results.md"
	printf '  %s: %s (target: %s)\n' "$1" "$2" "$3" >&3
}

# Adds a row with the median time, in milliseconds, of command number $3 in the hyperfine
# result files that follow: measure $1, target $2.
record_time() {
	local measure=$1 target=$2 index=$3

	shift 3
	record "$measure" "$(milliseconds "$(pooled_median "$index" "$@")") ms" "$target"
}

# Prints the connections and requests that double $1 counted, as "CONNECTIONS REQUESTS".
double_stats() {
	curl -s --max-time 5 "http://127.0.0.1:$1/_double/stats" | jq -r '"\(.connections) \(.requests)"'
}

# Writes the script that hyperfine runs before each cold-start run: it stops applinkd and
# waits until the bus has released its name, so that the next call activates a new one.
write_stop_daemon_script() {
	{
		echo '#!/bin/sh'
		echo "python=$python"
		echo "bench_calls=$script_dir/bench-calls.py"
		cat <<-'EOF'
			pid=$("$python" "$bench_calls" daemon-pid 2>/dev/null) || exit 0
			kill -TERM "$pid"

			# An activated applinkd is a child of init, not of dbus-daemon (seen with
			# dbus-daemon 1.14), and init may reap it late: a zombie counts as stopped.
			is_running() {
				state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
				[ -n "$state" ] && [ "$state" != Z ]
			}
			attempt=0
			while is_running && [ "$attempt" -lt 100 ]; do
				sleep 0.05
				attempt=$((attempt + 1))
			done
			! is_running || { echo "applinkd $pid did not stop within 5 s" >&2; exit 1; }

			attempt=0
			while [ "$attempt" -lt 100 ] && gdbus call --session --dest org.freedesktop.DBus \
				--object-path /org/freedesktop/DBus \
				--method org.freedesktop.DBus.NameHasOwner org.applink.Manager | grep -q true; do
				sleep 0.05
				attempt=$((attempt + 1))
			done
		EOF
	} >"$BENCH_ROOT/stop-daemon.sh"
	chmod +x "$BENCH_ROOT/stop-daemon.sh"
}

print_machine() {
	echo "Machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: //')," \
		"$(free -h | awk '/^Mem:/ { print $2 }') RAM, Linux $(uname -r)"
	echo "Tools: $(hyperfine --version), curl $(curl --version | awk 'NR == 1 { print $2 }')," \
		"Python $("$python" -c 'import platform; print(platform.python_version())')," \
		"GLib $(pkg-config --modversion glib-2.0), libsoup $(pkg-config --modversion libsoup-3.0)"
	echo "Network: $BENCH_NETWORK"
	echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Sets the shell command lines that hyperfine times.
define_commands() {
	link_list_command="$applinkctl_bin --json --site site-a link list"
	site_list_command="$applinkctl_bin --json site list"
	pipeline_command="curl -s -H \"Authorization: Bearer \$(secret-tool lookup site site-a)\""
	pipeline_command+=" http://127.0.0.1:$jira_a/rest/applinks/1.0/applicationlink"
	floor_command="gdbus call --session --dest org.freedesktop.DBus"
	floor_command+=" --object-path /org/freedesktop/DBus --method org.freedesktop.DBus.GetId"
	gdbus_list_sites_command="gdbus call --session --dest org.applink.Manager"
	gdbus_list_sites_command+=" --object-path /org/applink/Manager"
	gdbus_list_sites_command+=" --method org.applink.Manager.ListSites"
}

set_up_sites() {
	start_jira_double jira_a BENCH-TOKEN-A
	start_jira_double jira_b BENCH-TOKEN-B
	echo BENCH-TOKEN-A | "$python" "$script_dir/bench-calls.py" add-site \
		"http://127.0.0.1:$jira_a" site-a >/dev/null
	echo BENCH-TOKEN-B | "$python" "$script_dir/bench-calls.py" add-site \
		"http://127.0.0.1:$jira_b" site-b >/dev/null
	# Two Salesforce links per site, for a production org and its sandbox. ListLinks makes
	# one Jira request for the list and one per link.
	for site in site-a site-b; do
		"$python" "$script_dir/bench-calls.py" create-link "$site" \
			https://acme.my.salesforce.com "Acme production" >/dev/null
		"$python" "$script_dir/bench-calls.py" create-link "$site" \
			https://acme--uat.sandbox.my.salesforce.com "Acme UAT" >/dev/null
	done
}

measure_memory() {
	local pid total

	echo "Resident memory of applinkd" >&3
	"$BENCH_ROOT/stop-daemon.sh"
	gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
		--method org.freedesktop.DBus.StartServiceByName org.applink.Manager 0 >/dev/null
	sleep 1
	pid=$(daemon_pid)
	record "VmRSS idle after start" "$(describe_memory "$pid")" "< 10 MiB"
	"$python" "$script_dir/bench-calls.py" throughput ListSites --calls "$rss_calls" \
		--in-flight 1 --time-limit 120 >/dev/null
	record "VmRSS after $rss_calls ListSites, 1 in flight" "$(describe_memory "$pid")" \
		"< 10 MiB, no growth"
	total=$rss_calls
	for _ in 1 2; do
		"$python" "$script_dir/bench-calls.py" throughput ListSites --calls "$rss_calls" \
			--in-flight "$async_in_flight" --time-limit 120 >/dev/null
		total=$((total + rss_calls))
		record "VmRSS after $total ListSites, the last $rss_calls with $async_in_flight in flight" \
			"$(describe_memory "$pid")" "< 10 MiB, no growth"
	done
}

# Checks that the commands under test return the two links, so that no figure times an
# error path.
check_commands() {
	local links

	links=$("$applinkctl_bin" --json --site site-a link list | jq length) ||
		die "applinkctl --json --site site-a link list failed"
	[ "$links" = 2 ] || die "applinkctl link list returned $links links instead of 2"
	links=$(curl -s -H "Authorization: Bearer $(secret-tool lookup site site-a)" \
		"http://127.0.0.1:$jira_a/rest/applinks/1.0/applicationlink" | jq '.applicationLinks | length') ||
		die "the secret-tool and curl pipeline failed"
	[ "$links" = 2 ] || die "the secret-tool and curl pipeline returned $links links instead of 2"
}

measure_warm_latency() {
	local round
	local -a files=()

	echo "Warm latency" >&3
	check_commands
	# Short rounds of every command, so that the commands are compared over the same
	# stretch of time even when the machine's speed drifts. Each ratio is the median of the
	# ratios within the rounds.
	for ((round = 1; round <= warm_rounds; round++)); do
		files+=("$BENCH_ROOT/warm-$round.json")
		run_hyperfine --warmup "$warm_warmups" --runs "$((warm_runs / warm_rounds))" \
			--export-json "$BENCH_ROOT/warm-$round.json" \
			"$link_list_command" "$pipeline_command" "$floor_command" "$site_list_command"
	done
	record_time "applinkctl --json link list, warm" "-" 0 "${files[@]}"
	record_time "secret-tool + curl pipeline" "-" 1 "${files[@]}"
	record_time "gdbus call GetId (floor)" "-" 2 "${files[@]}"
	record_time "applinkctl --json site list, warm" "-" 3 "${files[@]}"
	record "link list / pipeline" "$(median_ratio 0 1 "${files[@]}")×" "≤ 0.35×"
	record "link list / gdbus floor" "$(median_ratio 0 2 "${files[@]}")×" "≤ 1.3×"
	record "site list / gdbus floor" "$(median_ratio 3 2 "${files[@]}")×" "-"
}

# Measures single calls from a running client, without process start-up, to show where the
# time of a CLI call goes.
measure_call_latency() {
	local method

	echo "One call at a time from a running client" >&3
	for method in GetId ListSites ListLinks; do
		# shellcheck disable=SC2046 # no SITE for GetId and ListSites
		record "$method, one at a time" "$("$python" "$script_dir/bench-calls.py" latency \
			"$method" $([ "$method" = ListLinks ] && echo site-a) --calls "$latency_calls") ms" "-"
	done
}

# Compares link list with the pipeline when every Jira reply takes $jira_delay_ms longer,
# as a Jira on the network does: link list makes one request per link besides the list.
measure_slow_jira() {
	local json="$BENCH_ROOT/slow-jira.json"
	local seconds

	echo "Warm latency with Jira replies delayed by $jira_delay_ms ms" >&3
	seconds=$(awk -v ms="$jira_delay_ms" 'BEGIN { print ms / 1000 }')
	curl -s --max-time 5 -X POST -d "{\"delay\": {\"path\": \"/rest\", \"seconds\": $seconds}}" \
		"http://127.0.0.1:$jira_a/_double/config" >/dev/null
	run_hyperfine --warmup 3 --runs "$slow_jira_runs" --export-json "$json" \
		"$link_list_command" "$pipeline_command"
	curl -s --max-time 5 -X POST -d '{"delay": null}' \
		"http://127.0.0.1:$jira_a/_double/config" >/dev/null
	record_time "link list, Jira +$jira_delay_ms ms per reply" "-" 0 "$json"
	record_time "pipeline, Jira +$jira_delay_ms ms per reply" "-" 1 "$json"
	record "link list / pipeline, Jira +$jira_delay_ms ms per reply" \
		"$(median_ratio 0 1 "$json")×" "≤ 0.35×"
}

measure_cold_start() {
	local json="$BENCH_ROOT/cold.json"

	echo "Cold start through D-Bus activation" >&3
	run_hyperfine --runs "$cold_runs" --prepare "$BENCH_ROOT/stop-daemon.sh" \
		--export-json "$json" "$applinkctl_bin site list" "$gdbus_list_sites_command"
	record_time "cold applinkctl site list" "< 50 ms" 0 "$json"
	record_time "cold gdbus call ListSites" "-" 1 "$json"
}

measure_async_throughput() {
	local method site result before after

	echo "Throughput from one client, $async_in_flight calls in flight" >&3
	for method in ListSites ListLinks; do
		site=""
		[ "$method" = ListSites ] || site="site-a"
		before=$(double_stats "$jira_a")
		# shellcheck disable=SC2086 # no SITE for ListSites
		result=$("$python" "$script_dir/bench-calls.py" throughput "$method" $site \
			--calls "$async_calls" --in-flight "$async_in_flight" \
			--repeat "$async_repeats" --time-limit 120)
		after=$(double_stats "$jira_a")
		record "$method, one client, $async_calls calls, $async_in_flight in flight" \
			"$(echo "$result" | jq -r '.median_calls_per_second') calls/s" "-"
	done
	record "connections opened during the ListLinks runs" "$((${after% *} - ${before% *}))" "-"
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
	# A new applinkd has no connection yet, so the count includes the first call's.
	"$BENCH_ROOT/stop-daemon.sh"
	before=$(double_stats "$jira_a")
	for ((i = 0; i < connection_calls; i++)); do
		timeout 30 "$applinkctl_bin" --json --site site-a link list >/dev/null
	done
	after=$(double_stats "$jira_a")
	record "connections opened for $connection_calls link list, from a new applinkd" \
		"$((${after% *} - ${before% *}))" "≤ 1 per site"
	record "Jira requests for $connection_calls link list" "$((${after#* } - ${before#* }))" "-"
}

# Makes site-b's Jira double hold every request, starts $2 link list calls for site-b in the
# background, waits until the first request is held, and adds the calls' process ids to the
# array named $1.
start_hanging_calls() {
	# shellcheck disable=SC2178 # a name reference to the caller's array
	local -n hanging_pids=$1
	local count=$2
	local requests_before attempt=0 i

	requests_before=$(double_stats "$jira_b" | cut -d' ' -f2)
	curl -s --max-time 5 -X POST -d '{"hang": true}' \
		"http://127.0.0.1:$jira_b/_double/config" >/dev/null
	for ((i = 0; i < count; i++)); do
		timeout 120 "$applinkctl_bin" --json --site site-b link list >/dev/null 2>&1 &
		hanging_pids+=("$!")
	done
	# Wait until the first request has reached the double, then give the other calls a
	# moment to queue behind it.
	while [ "$(double_stats "$jira_b" | cut -d' ' -f2)" -le "$requests_before" ] &&
		[ "$attempt" -lt 50 ]; do
		sleep 0.1
		attempt=$((attempt + 1))
	done
	sleep 0.5
}

# Stops the hanging double, which closes its connections so that applinkd's requests fail and
# the waiting calls in the array named $1 exit, and starts a new double on the same port.
release_hanging_calls() {
	# shellcheck disable=SC2178 # a name reference to the caller's array
	local -n hanging_pids=$1
	local i

	kill -TERM "$jira_b_pid"
	for i in "${hanging_pids[@]}"; do
		wait "$i" 2>/dev/null || true
	done
	hanging_pids=()
	wait "$jira_b_pid" 2>/dev/null || true
	start_jira_double jira_b BENCH-TOKEN-B "$jira_b"
}

measure_hang_isolation() {
	local -a normal_files=() hanging_files=() pids=()
	local cycle i waiting=0 daemon threads start probe attempt

	echo "Latency on site-a while site-b's Jira hangs" >&3
	# Cycles of normal and hanging runs, so that both are measured over the same stretch of
	# time even when the machine's speed drifts.
	for ((cycle = 1; cycle <= hang_cycles; cycle++)); do
		normal_files+=("$BENCH_ROOT/normal-$cycle.json")
		hanging_files+=("$BENCH_ROOT/hanging-$cycle.json")
		run_hyperfine --warmup 5 --runs "$((hang_runs / hang_cycles))" \
			--export-json "$BENCH_ROOT/normal-$cycle.json" "$link_list_command"
		start_hanging_calls pids "$hanging_calls"
		run_hyperfine --warmup 5 --runs "$((hang_runs / hang_cycles))" \
			--export-json "$BENCH_ROOT/hanging-$cycle.json" "$link_list_command"
		for i in "${pids[@]}"; do
			if is_running "$i"; then
				waiting=$((waiting + 1))
			fi
		done
		release_hanging_calls pids
	done
	record_time "link list on site-a, normal" "-" 0 "${normal_files[@]}"
	record_time "link list on site-a, $hanging_calls calls waiting on site-b" "-" 0 \
		"${hanging_files[@]}"
	record "hanging / normal" "$(ratio "$(pooled_median 0 "${hanging_files[@]}")" \
		"$(pooled_median 0 "${normal_files[@]}")")×" "≤ 1.2×"
	record "waiting calls still waiting at the end of each cycle" \
		"$waiting of $((hanging_calls * hang_cycles))" "-"

	# With as many calls waiting as applinkd has worker threads, a call for site-a finds no
	# free worker. One probe, bounded by a time limit, shows whether it still gets through.
	start_hanging_calls pids "$pool_hanging_calls"
	daemon=$(daemon_pid)
	attempt=0
	while [ "$(awk '/^Threads:/ { print $2 }' "/proc/$daemon/status")" -le "$pool_hanging_calls" ] &&
		[ "$attempt" -lt 50 ]; do
		sleep 0.1
		attempt=$((attempt + 1))
	done
	threads=$(awk '/^Threads:/ { print $2 }' "/proc/$daemon/status")
	start=$(date +%s%N)
	if timeout "$probe_time_limit" "$applinkctl_bin" --json --site site-a link list \
		>/dev/null 2>&1; then
		probe="$(awk -v ns="$(($(date +%s%N) - start))" 'BEGIN { printf "%.2f", ns / 1e6 }') ms"
	else
		probe="no reply within $probe_time_limit s"
	fi
	release_hanging_calls pids
	record "one link list on site-a, $pool_hanging_calls calls waiting on site-b" \
		"$probe ($threads threads in applinkd)" "-"
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
	define_commands
	measure_memory
	measure_call_latency
	if [ -x "$applinkctl_bin" ]; then
		measure_warm_latency
		measure_slow_jira
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
	# The daemon that measure_connections started has made Jira requests since, so its
	# libsoup and proxy-resolver state is loaded.
	record "VmRSS at the end, after the Jira calls above" "$(describe_memory "$(daemon_pid)")" "-"

	echo >&3
	echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&3
	cat "$BENCH_ROOT/results.md" >&3
	kill -TERM "$jira_a_pid" 2>/dev/null || true

	# Keep the table and hyperfine's own reports, which the temporary home does not outlive.
	rm -rf "$build_dir/bench-results"
	mkdir "$build_dir/bench-results"
	cp "$BENCH_ROOT/results.md" "$BENCH_ROOT/hyperfine.log" "$BENCH_ROOT"/*.json \
		"$build_dir/bench-results/"
	echo "The table and hyperfine's reports are in $build_dir/bench-results/" >&3
}

case "${1:-}" in
--set-up-namespace) stage_set_up_session namespace ;;
--set-up-session) stage_set_up_session host ;;
--run-in-session) stage_run_in_session ;;
"") stage_start ;;
*) die "usage: bench/run-benchmarks.sh (no arguments)" ;;
esac
