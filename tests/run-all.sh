#!/bin/sh
# Install what is missing, build, and run every test. As root the tests run in a private
# network namespace with only loopback up, so that no request a test makes can leave the
# machine. Arguments are passed on to meson test, e.g. --suite integration.
# The exit status is that of meson test.
set -eu

source_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$source_dir"

sh tests/install-deps.sh

if [ -f build/meson-private/coredata.dat ]; then
	meson setup --reconfigure build
else
	meson setup build
fi
ninja -C build

rm -f build/meson-logs/testlog.json
status=0
if [ "$(id -u)" = 0 ]; then
	unshare --net sh -c 'ip link set lo up && exec meson test -C build --print-errorlogs "$@"' \
		meson-test "$@" || status=$?
else
	echo "run-all.sh: not running as root, so the tests run without a private network" \
		"namespace: nothing isolates them from the network" >&2
	meson test -C build --print-errorlogs "$@" || status=$?
fi

# One summary line in the form that CI log readers look for.
log=build/meson-logs/testlog.json
if [ -f "$log" ]; then
	passed=$(jq -s '[.[] | select(.result == "OK" or .result == "EXPECTEDFAIL")] | length' "$log")
	failed=$(jq -s '[.[] | select(.result != "OK" and .result != "EXPECTEDFAIL"
		and .result != "SKIP")] | length' "$log")
	skipped=$(jq -s '[.[] | select(.result == "SKIP")] | length' "$log")
	echo "Tests: $passed passed, $failed failed, $skipped skipped"
fi
exit "$status"
