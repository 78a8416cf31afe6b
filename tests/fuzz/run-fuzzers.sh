#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds the libFuzzer binaries of tests/fuzz with clang in build-fuzz, then runs the fuzzers
# in parallel for SECONDS each (600 by default), each on a copy of its corpus. A finding does
# not end a fuzzer's time: libFuzzer stops at the first crash or leak, so the fuzzer is started
# again for the rest of its time, with the inputs it has found so far.
#
# Usage: tests/fuzz/run-fuzzers.sh [SECONDS] [TARGET...]
#   TARGET is url, soap, jira or json; all four by default. BUILD_DIR overrides build-fuzz.
#
# Each fuzzer works in BUILD_DIR/fuzz-run/TARGET: corpus/ contains the seeds and what libFuzzer
# adds, findings/ the inputs that crashed or leaked, and run-N.log the output of each start.
set -euo pipefail

source_dir=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BUILD_DIR:-$source_dir/build-fuzz}
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=(url soap jira json)
fi

# A cap on the starts of one fuzzer, for a finding that every start hits at once.
max_starts=1000

if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
	echo "run-fuzzers.sh: SECONDS must be a whole number of at least 1, not '$seconds'" >&2
	exit 2
fi
for target in "${targets[@]}"; do
	if [ ! -d "$source_dir/tests/fuzz/corpus/$target" ]; then
		echo "run-fuzzers.sh: unknown target '$target': use url, soap, jira or json" >&2
		exit 2
	fi
done

if [ ! -f "$build_dir/build.ninja" ]; then
	# fuzzer-no-link adds libFuzzer's coverage instrumentation to the service library too.
	CC=clang meson setup "$build_dir" "$source_dir" \
		-Dfuzzing=true \
		-Db_sanitize=address,undefined \
		-Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link
fi
# ninja, unlike `meson compile`, regenerates the build files first when a meson.build changed, so a
# target added since the last run is found.
ninja -C "$build_dir" "${targets[@]/#/tests/fuzz/fuzz-}"

# Leaks are findings, and GLib's slice allocator would hide them. UBSan stops at the first error
# so that libFuzzer records it.
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export G_SLICE=always-malloc

# Prints the number of inputs that one libFuzzer start ran, from its final statistics.
executed_units() {
	local count

	count=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)$/\1/p' "$1" | tail -n 1)
	echo "${count:-0}"
}

# Prints what a libFuzzer start found, in words that are the same each time it finds it: the
# first line of the report without process id, time and quoted values. A leak is named by
# the first frame in the service code that allocated it. libFuzzer's fast unwinder stops at GLib,
# which has no frame pointers, so the input is run again with the slow one.
finding_reason() {
	local log=$1
	local unit=$2
	local binary=$3
	local frame

	if grep -q 'LeakSanitizer: detected memory leaks' "$log"; then
		frame=$(ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 "$binary" "$unit" 2>&1 |
			sed -n '/^Direct leak/,/^$/p' |
			grep -m 1 -E ' in [^ ]+ [^ ]*/service/' |
			sed -E 's/.* in ([^ ]+) [^ ]*\/([^/]+:[0-9]+)(:[0-9]+)?$/\1 (\2)/' || true)
		echo "LeakSanitizer: memory leaked under ${frame:-no service function}"
		return
	fi
	grep -m 1 -E 'ERROR|CRITICAL|WARNING|runtime error|deadly signal' "$log" |
		sed -E "s/^\(process:[0-9]+\): //; s/\*\*: [0-9:.]+: /**: /; s/^==[0-9]+==//; s/'[^']*'/'...'/g"
}

# Prints each distinct finding of a fuzzer once, with how often it was hit and one input.
print_findings() {
	local work=$1
	local binary=$2
	local log
	local unit

	for log in "$work"/run-*.log; do
		unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		[ -n "$unit" ] || continue
		printf '%s\t%s\n' "$(finding_reason "$log" "$unit" "$binary")" "$unit"
	done | sort -t "$(printf '\t')" -k 1,1 -s |
		awk -F '\t' '{ count[$1]++; if (!($1 in input)) { input[$1] = $2; order[n++] = $1 } }
			END { for (i = 0; i < n; i++)
				printf "finding (%d times): %s\n  input: %s\n", count[order[i]], order[i], input[order[i]] }'
}

run_target() {
	local target=$1
	local work=$build_dir/fuzz-run/$target
	local binary=$build_dir/tests/fuzz/fuzz-$target
	local dictionary=$source_dir/tests/fuzz/$target.dict
	local start=$SECONDS
	local deadline=$((SECONDS + seconds))
	local starts=0
	local executions=0
	local remaining

	rm -rf "$work"
	mkdir -p "$work/corpus" "$work/findings"
	# Seeds named regression-* reproduce known findings. libFuzzer stops when an input of its
	# initial corpus crashes, so they are left to `meson test --suite fuzz`.
	find "$source_dir/tests/fuzz/corpus/$target" -maxdepth 1 -type f ! -name 'regression-*' \
		-exec cp -t "$work/corpus" {} +

	while [ "$SECONDS" -lt "$deadline" ] && [ "$starts" -lt "$max_starts" ]; do
		remaining=$((deadline - SECONDS))
		starts=$((starts + 1))
		"$binary" -max_total_time="$remaining" -timeout=10 -print_final_stats=1 \
			-dict="$dictionary" -artifact_prefix="$work/findings/" "$work/corpus" \
			>"$work/run-$starts.log" 2>&1 || true
		executions=$((executions + $(executed_units "$work/run-$starts.log")))
	done

	{
		echo "== fuzz-$target: $((SECONDS - start)) seconds, $executions executions," \
			"$starts start(s), $(find "$work/corpus" -type f | wc -l) corpus inputs"
		print_findings "$work" "$binary"
	} >"$work/summary"
}

for target in "${targets[@]}"; do
	run_target "$target" &
done
wait

for target in "${targets[@]}"; do
	cat "$build_dir/fuzz-run/$target/summary"
done
echo "To see a finding's full stack, run the fuzzer on it alone, for example:"
echo "  ASAN_OPTIONS=fast_unwind_on_malloc=0 G_SLICE=always-malloc $build_dir/tests/fuzz/fuzz-jira FILE"
