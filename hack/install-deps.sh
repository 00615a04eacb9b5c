#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use. Idempotent.
set -euo pipefail
pkgs=(make git util-linux procps bc tini dumb-init catatonit busybox-static containerd runc containernetworking-plugins iptables iproute2 openssl gcc libc6-dev curl jq)
missing=()
for p in "${pkgs[@]}"; do
	[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *'install ok installed'* ]] || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "install-deps: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
