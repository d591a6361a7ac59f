#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The two quick-start commands: `./bootstrap.sh run` and `./bootstrap.sh test`.
# Each installs what it needs first (tools/setup.sh is idempotent).
set -eu
cd "$(dirname "$0")"
cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
run)
	tools/setup.sh
	exec .venv/bin/gen run --variants all "$@"
	;;
test)
	tools/setup.sh
	exec tools/check "$@"
	;;
*)
	echo "usage: $0 run|test [args...]" >&2
	exit 2
	;;
esac
