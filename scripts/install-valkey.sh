#!/usr/bin/env bash
# Installs valkey-server and valkey-cli from Debian's bookworm-backports
# (valkey 8.0) when they are not on PATH. Needs root, as on the project's
# machines and in CI. The package's own service is kept from starting: the
# tests and the loadtest start their own servers on loopback ports.
set -euo pipefail

if command -v valkey-server >/dev/null 2>&1 && command -v valkey-cli >/dev/null 2>&1; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-valkey: valkey-server is missing and installing it needs root;" >&2
	echo "install-valkey: run 'sudo make valkey' or install valkey-server 8 yourself" >&2
	exit 1
fi

src=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
	cat >"$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

# Without this, the package's post-install script may try to start a
# system-wide valkey on port 6379.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t bookworm-backports valkey-server valkey-tools >/dev/null
valkey-server --version
