#!/bin/sh
# Install what is missing, build, and run every test, then every test again under
# AddressSanitizer and UndefinedBehaviorSanitizer. As root the tests run in a private
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

# Runs meson test in build folder $1 with the remaining arguments, as root inside a private
# network namespace with only loopback up.
run_meson_test() {
	build_dir=$1
	shift
	if [ "$(id -u)" = 0 ]; then
		unshare --net sh -c 'ip link set lo up && exec meson test "$@"' \
			meson-test -C "$build_dir" --print-errorlogs "$@"
	else
		meson test -C "$build_dir" --print-errorlogs "$@"
	fi
}

if [ "$(id -u)" != 0 ]; then
	echo "run-all.sh: not running as root, so the tests run without a private network" \
		"namespace: nothing isolates them from the network" >&2
fi

status=0
rm -f build/meson-logs/testlog.json
run_meson_test build "$@" || status=$?

# The whole suite again with AddressSanitizer and UndefinedBehaviorSanitizer, unless
# APPLINK_SKIP_SANITIZERS is set. The packaging suite installs a second, uninstrumented build,
# so it runs only once, above.
if [ -z "${APPLINK_SKIP_SANITIZERS:-}" ]; then
	if [ ! -f build-asan/meson-private/coredata.dat ]; then
		meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	fi
	ninja -C build-asan
	rm -f build-asan/meson-logs/testlog-asan.json
	run_meson_test build-asan --setup asan --no-suite packaging "$@" || status=$?
fi

# One summary line over both runs, in the form that CI log readers look for.
logs=$(ls build/meson-logs/testlog.json build-asan/meson-logs/testlog-asan.json 2>/dev/null || true)
if [ -n "$logs" ]; then
	# shellcheck disable=SC2086
	passed=$(cat $logs | jq -s '[.[] | select(.result == "OK" or .result == "EXPECTEDFAIL")] | length')
	# shellcheck disable=SC2086
	failed=$(cat $logs | jq -s '[.[] | select(.result != "OK" and .result != "EXPECTEDFAIL"
		and .result != "SKIP")] | length')
	# shellcheck disable=SC2086
	skipped=$(cat $logs | jq -s '[.[] | select(.result == "SKIP")] | length')
	echo "Tests: $passed passed, $failed failed, $skipped skipped"
fi
exit "$status"
