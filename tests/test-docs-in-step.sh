#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Checks that the manual pages and the bash completion match the programs:
# - applinkctl.1 has a COMMANDS subsection for each command of 'applinkctl --list-commands'
#   listing exactly its options, and an OPTIONS entry for each global option of
#   'applinkctl --help';
# - the bash completion offers exactly those commands, verbs and options;
# - applinkd.8 lists exactly the options of 'applinkd --help';
# - the ERRORS section of applinkctl.1 lists exactly the org.applink.Error names of
#   dbus-interfaces/applink-error.c.
# A name in a page or in the completion that the programs do not have fails the test too.
#
# Usage: tests/test-docs-in-step.sh APPLINKCTL APPLINKD
set -u

if [ "$#" -ne 2 ]; then
	echo "usage: $0 APPLINKCTL APPLINKD" >&2
	exit 2
fi
applinkctl=$1
applinkd=$2
source_dir=$(cd "$(dirname "$0")/.." && pwd)
man_ctl=$source_dir/docs/applinkctl.1
man_daemon=$source_dir/docs/applinkd.8
completion=$source_dir/completion/applinkctl
error_table=$source_dir/dbus-interfaces/applink-error.c

failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# Prints the words of the first list that are missing from the second, one per line.
missing_words() {
	comm -23 <(tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -u) \
		<(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort -u)
}

# Fails for every word of EXPECTED missing from ACTUAL, and for every word of ACTUAL that is
# not in EXPECTED unless it is in ALLOWED.
compare_words() {
	local what=$1 expected=$2 actual=$3 allowed=${4:-}
	local word

	for word in $(missing_words "$expected" "$actual"); do
		fail "$what: $word is missing"
	done
	for word in $(missing_words "$actual" "$expected $allowed"); do
		fail "$what: $word does not exist"
	done
}

# Prints the lines of a roff section, from its .SH line to the next one.
roff_section() {
	awk -v name="$2" '
		/^\.SH/ { line = $0; sub(/^\.SH +/, "", line); gsub(/"/, "", line)
			in_section = (line == name); next }
		in_section { print }
	' "$1"
}

# Prints the first long option named on the line after each .TP, for example "--name" for
# '.BI \-\-name " ID"'. Roff writes the dashes as "\-".
roff_tagged_options() {
	awk '
		/^\.TP/ { tagged = 1; next }
		tagged { tagged = 0; line = $0; gsub(/\\-/, "-", line)
			while (match(line, /--[a-z][a-z-]*/)) {
				print substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
			} }
	'
}

# Prints one line per command subsection of applinkctl.1: the command words, a tab, and the
# options tagged in that subsection. "site add \fIURL\fP" gives "site add".
man_commands() {
	roff_section "$man_ctl" COMMANDS | awk '
		function flush() { if (command != "") print command "\t" options }
		/^\.SS/ { flush(); line = $0; sub(/^\.SS +/, "", line); gsub(/"/, "", line)
			gsub(/\\f[A-Z]/, "", line); n = split(line, words, " "); command = ""
			options = ""
			for (i = 1; i <= n && words[i] ~ /^[a-z]+$/; i++)
				command = command (command == "" ? "" : " ") words[i]
			next }
		/^\.TP/ { tagged = 1; next }
		tagged { tagged = 0; line = $0; gsub(/\\-/, "-", line)
			if (match(line, /--[a-z][a-z-]*/))
				options = options " " substr(line, RSTART, RLENGTH) }
		END { flush() }
	'
}

# Runs the completion function on the words of a command line whose last word is being
# completed, and prints the candidates on one line.
complete_line() {
	COMP_WORDS=("$applinkctl" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_applinkctl
	echo "${COMPREPLY[*]}"
}

# The programs.
if ! command_list=$("$applinkctl" --list-commands); then
	echo "FAIL: '$applinkctl --list-commands' failed"
	exit 1
fi
if [ -z "$command_list" ]; then
	echo "FAIL: '$applinkctl --list-commands' printed nothing"
	exit 1
fi
if ! ctl_help=$("$applinkctl" --help); then
	echo "FAIL: '$applinkctl --help' failed"
	exit 1
fi
if ! daemon_help=$("$applinkd" --help); then
	echo "FAIL: '$applinkd --help' failed"
	exit 1
fi

# "site add --name ..." gives command "site add"; "version" gives "version".
declare -A command_options=()
declare -A group_verbs=()
top_words=''
while IFS= read -r line; do
	command=${line%% --*}
	command_options[$command]=$(grep -o -- '--[a-z][a-z-]*' <<<"$line" | tr '\n' ' ')
	read -r first second <<<"$command"
	if [ -n "${second:-}" ]; then
		group_verbs[$first]="${group_verbs[$first]:-} $second"
	fi
	case " $top_words " in
	*" $first "*) ;;
	*) top_words="$top_words $first" ;;
	esac
done <<<"$command_list"

global_options=$(sed -n '/^Global options:/,/^$/p' <<<"$ctl_help" | grep -o -- '--[a-z][a-z-]*' |
	tr '\n' ' ')
[ -n "$global_options" ] || fail "'applinkctl --help' lists no global options"
daemon_options=$(grep -E '^ +-' <<<"$daemon_help" | grep -o -- '--[a-z][a-z-]*' | tr '\n' ' ')
[ -n "$daemon_options" ] || fail "'applinkd --help' lists no options"

# applinkctl.1: commands and their options.
declare -A man_options=()
while IFS=$'\t' read -r command options; do
	if [ -n "${man_options[$command]+set}" ]; then
		fail "applinkctl.1: command '$command' is described twice"
	fi
	man_options[$command]=$options
done < <(man_commands)

for command in "${!command_options[@]}"; do
	if [ -z "${man_options[$command]+set}" ]; then
		fail "applinkctl.1 COMMANDS: command '$command' is missing"
		continue
	fi
	compare_words "applinkctl.1 COMMANDS, '$command'" \
		"${command_options[$command]}" "${man_options[$command]}"
done
for command in "${!man_options[@]}"; do
	[ -n "${command_options[$command]+set}" ] ||
		fail "applinkctl.1 COMMANDS: command '$command' does not exist"
done

# applinkctl.1: global options.
compare_words "applinkctl.1 OPTIONS" "$global_options" \
	"$(roff_section "$man_ctl" OPTIONS | roff_tagged_options | tr '\n' ' ')"

# applinkd.8: options.
compare_words "applinkd.8 OPTIONS" "$daemon_options" \
	"$(roff_section "$man_daemon" OPTIONS | roff_tagged_options | tr '\n' ' ')"

# applinkctl.1: error names.
# Entries of the GDBusErrorEntry table: {APPLINK_ERROR_NOT_FOUND, APPLINK_ERROR_PREFIX "NotFound"}.
error_names=$(grep -o '{APPLINK_ERROR_[A-Z_]*, APPLINK_ERROR_PREFIX "[A-Za-z]*"}' "$error_table" |
	sed -e 's/.*"\(.*\)"}/\1/' | tr '\n' ' ')
[ -n "$error_names" ] || fail "no error names found in $error_table"
man_errors=$(roff_section "$man_ctl" ERRORS | awk '
	/^\.TP/ { tagged = 1; next }
	tagged { tagged = 0; sub(/^\.B +/, ""); print }
' | tr '\n' ' ')
compare_words "applinkctl.1 ERRORS" "$error_names" "$man_errors"

# Completion. "help" is a command word that 'applinkctl --list-commands' does not list.
# shellcheck source=completion/applinkctl
if ! source "$completion" || ! declare -F _applinkctl >/dev/null; then
	echo "FAIL: $completion does not define the completion function _applinkctl"
	exit 1
fi
compare_words "completion of the first word" "$top_words help" "$(complete_line '')"
for group in "${!group_verbs[@]}"; do
	compare_words "completion of '$group'" "${group_verbs[$group]}" \
		"$(complete_line "$group" '')"
done
compare_words "completion of global options" "$global_options" "$(complete_line --)"
for command in "${!command_options[@]}"; do
	read -r -a words <<<"$command"
	compare_words "completion of '$command' options" "${command_options[$command]}" \
		"$(complete_line "${words[@]}" --)" "$global_options"
done

checked=${#command_options[@]}
if [ "$failures" -gt 0 ]; then
	echo "$failures differences between the documentation and the programs"
	exit 1
fi
echo "manual pages and completion match the $checked commands, the global options," \
	"the daemon options and the error names"
