#!/bin/sh
# Build applink and run its main job end to end: register a Jira site, create a Salesforce
# link, set the link's outgoing authentication (first without the security token, which
# fails with SecurityTokenRequired, then with it) and show the status "configured".
#
# Everything runs on a private session bus with its own keyring and temporary home
# (tests/applink-test-env), against the Jira and Salesforce doubles on 127.0.0.1. As root it
# also runs in a private network namespace with only loopback up. The secrets are random,
# reach applinkctl on standard input only, and never appear in the output.
set -eu

source_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$source_dir"

if [ "${1:-}" != "--inside" ]; then
	sh tests/install-deps.sh
	# The build's output shows only when it fails.
	build_log=$(mktemp)
	if [ -f build/meson-private/coredata.dat ]; then
		setup="meson setup --reconfigure build"
	else
		setup="meson setup build"
	fi
	if ! { $setup && ninja -C build; } >"$build_log" 2>&1; then
		cat "$build_log" >&2
		rm -f "$build_log"
		echo "demo.sh: the build failed" >&2
		exit 1
	fi
	rm -f "$build_log"
	if [ "$(id -u)" = 0 ]; then
		exec unshare --net sh -c \
			'ip link set lo up && exec sh tests/applink-test-env sh tests/demo.sh --inside'
	fi
	echo "demo.sh: not running as root, so the demo runs without a private network namespace"
	exec sh tests/applink-test-env sh tests/demo.sh --inside
fi

# From here on, inside the private environment.
for program in "$APPLINK_BUILD_DIR/service/applinkd" "$APPLINK_BUILD_DIR/client/applinkctl"; do
	if [ ! -x "$program" ]; then
		echo "demo.sh: $program was not built" >&2
		exit 1
	fi
done
PATH="$APPLINK_BUILD_DIR/client:$PATH"
work=$(mktemp -d)
background_pids=""

stop_background() {
	for pid in $background_pids; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $background_pids; do
		wait "$pid" 2>/dev/null || true
	done
}
trap stop_background EXIT

random_secret() {
	od -An -N12 -tx1 /dev/urandom | tr -d ' \n'
}

# Waits for a double to print PORT=<n> into its output file, then prints the port.
wait_for_port() {
	output_file=$1
	attempt=0
	while [ "$attempt" -lt 100 ]; do
		port=$(sed -n 's/^PORT=\([0-9][0-9]*\)$/\1/p' "$output_file")
		if [ -n "$port" ]; then
			echo "$port"
			return 0
		fi
		sleep 0.1
		attempt=$((attempt + 1))
	done
	echo "demo.sh: $output_file shows no PORT=<n> line after 10 s" >&2
	return 1
}

JIRA_TOKEN=$(random_secret)
SALESFORCE_PASSWORD=$(random_secret)
SALESFORCE_TOKEN=$(random_secret)
SALESFORCE_USER=integration@example.com

# The Salesforce user goes in a file, so that its password and token stay out of argv.
(
	umask 077
	printf '[{"username": "%s", "password": "%s", "token": "%s"}]\n' \
		"$SALESFORCE_USER" "$SALESFORCE_PASSWORD" "$SALESFORCE_TOKEN" >"$work/salesforce-users.json"
)

/usr/bin/python3 tests/doubles/jira-double.py --token "$JIRA_TOKEN:jira-admin" \
	>"$work/jira.out" 2>"$work/jira.log" &
background_pids="$background_pids $!"
/usr/bin/python3 tests/doubles/salesforce-double.py --users-file "$work/salesforce-users.json" \
	>"$work/salesforce.out" 2>"$work/salesforce.log" &
background_pids="$background_pids $!"
JIRA_URL=http://127.0.0.1:$(wait_for_port "$work/jira.out")
SALESFORCE_URL=http://127.0.0.1:$(wait_for_port "$work/salesforce.out")

"$APPLINK_BUILD_DIR/service/applinkd" --verbose --idle-timeout 0 >"$work/applinkd.log" 2>&1 &
background_pids="$background_pids $!"
if ! gdbus wait --session --timeout 15 org.applink.Manager; then
	echo "demo.sh: applinkd did not own org.applink.Manager within 15 s. Its log:" >&2
	cat "$work/applinkd.log" >&2
	exit 1
fi

cat <<EOF
Jira double:       JIRA_URL=$JIRA_URL (Jira administrator "jira-admin")
Salesforce double: SALESFORCE_URL=$SALESFORCE_URL (user SALESFORCE_USER=$SALESFORCE_USER)
JIRA_TOKEN, SALESFORCE_PASSWORD and SALESFORCE_TOKEN hold random secrets; applinkctl reads
them from standard input (--stdin), one per line.
EOF

failures=0
leaks=0

contains_secret() {
	grep -qF -e "$JIRA_TOKEN" -e "$SALESFORCE_PASSWORD" -e "$SALESFORCE_TOKEN" "$1"
}

# Prints a command line, runs it, and checks its exit status against the expected one.
step() {
	expected=$1
	command=$2
	printf '\n$ %s\n' "$command"
	status=0
	eval "$command" >"$work/step.out" 2>&1 || status=$?
	if contains_secret "$work/step.out"; then
		leaks=$((leaks + 1))
		echo "demo.sh: the output of this command contains a secret; it is not shown"
	else
		cat "$work/step.out"
	fi
	if [ "$status" -ne "$expected" ]; then
		echo "demo.sh: expected exit status $expected, got $status"
		failures=$((failures + 1))
	elif [ "$expected" -ne 0 ]; then
		echo "(exit status $status, as expected)"
	fi
}

# shellcheck disable=SC2016 # the commands are printed as they are, then expanded by eval
{
	# With no site registered yet, probe only normalises the URL and sends no request.
	step 0 'applinkctl probe https://ap1.Salesforce.com'
	step 0 'printf "%s\n" "$JIRA_TOKEN" | applinkctl site add "$JIRA_URL" --name jira --stdin'
	step 0 'applinkctl site list'
	step 0 'applinkctl link create "$SALESFORCE_URL" --name Salesforce'
	step 1 'printf "%s\n\n" "$SALESFORCE_PASSWORD" |
    applinkctl auth set Salesforce --username "$SALESFORCE_USER" --stdin'
	step 0 'printf "%s\n%s\n" "$SALESFORCE_PASSWORD" "$SALESFORCE_TOKEN" |
    applinkctl auth set Salesforce --username "$SALESFORCE_USER" --stdin'
	step 0 'applinkctl link list'
	step 0 'applinkctl auth status Salesforce'
}

echo
for log in "$work/applinkd.log" "$work/jira.log" "$work/salesforce.log"; do
	if contains_secret "$log"; then
		echo "demo.sh: $(basename "$log") contains a secret"
		leaks=$((leaks + 1))
	fi
done
lines=$(wc -l <"$work/applinkd.log")
if [ "$leaks" -eq 0 ]; then
	echo "No secret appears in the output above, in applinkd's verbose log ($lines lines)" \
		"or in the doubles' logs."
fi

if [ "$failures" -ne 0 ] || [ "$leaks" -ne 0 ]; then
	echo "demo.sh: $failures step(s) ended with an unexpected exit status and $leaks" \
		"output(s) or log(s) contain a secret"
	exit 1
fi
echo "Demo finished: the link's outgoing authentication is configured."
