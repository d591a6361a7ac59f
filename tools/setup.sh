#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Install what drainlab needs on Debian 12, idempotently: Debian packages,
# a Python venv with the project, and the default kernel tree.
set -eu
cd "$(dirname "$0")/.."

# Every command the code and the tests run comes from one of these
# (tests/test_setup.py checks it against the source; ops.PACKAGE_OF maps them).
PKGS="git make gcc perl bc flex bison libelf-dev libssl-dev cpio ccache xz-utils \
busybox-static qemu-system-x86 linux-source-6.1 linux-source-6.12 python3-venv python3-pip \
rsync procps tar dash bash coreutils util-linux mount dpkg python3 lava-common lava-dispatcher"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing Debian packages:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: need root to install:$missing" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The venv is rebuilt only when pyproject.toml changes.
stamp=.venv/.drainlab-stamp
want=$(sha256sum pyproject.toml | cut -c1-64)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	echo "setup: creating .venv"
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
	echo "$want" >"$stamp"
fi

# Unpack and commit the default tree (about 30 s the first time).
.venv/bin/gen tree >/dev/null
