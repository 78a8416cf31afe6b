#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# List the registered Jira sites and the Salesforce links of each, one tab-separated line
# per link: site id, link id, name, URL and outgoing authentication state. Uses the JSON
# output of applinkctl (set APPLINKCTL to run another one) and jq. Exits with status 1,
# printing applinkctl's error, when a command fails.
set -eu

applinkctl=${APPLINKCTL:-applinkctl}

# Runs applinkctl --json with the arguments and stores its output in $output. With --json,
# applinkctl prints an error as {"error": {"name", "message"}} on standard output.
run_applinkctl() {
	if ! output=$("$applinkctl" --json "$@"); then
		printf '%s\n' "$output" |
			jq -r '"list-links.sh: \(.error.message) (\(.error.name))"' >&2
		exit 1
	fi
}

run_applinkctl site list
sites=$(printf '%s\n' "$output" | jq -r '.[].id')

printf '%s\n' "$sites" | while IFS= read -r site; do
	[ -n "$site" ] || continue
	run_applinkctl --site "$site" link list
	printf '%s\n' "$output" |
		jq -r --arg site "$site" '.[] | [$site, .id, .name, .url, ."outgoing-auth"] | @tsv'
done
