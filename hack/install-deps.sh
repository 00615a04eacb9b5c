#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, and registers
# qemu-user for linux/arm64 binaries with binfmt_misc. Idempotent.
set -euo pipefail
pkgs=(make git util-linux procps bc tini dumb-init catatonit busybox-static containerd runc containernetworking-plugins iptables iproute2 openssl gcc libc6-dev libseccomp-dev curl jq qemu-user-static)
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

# The arm64 process tests want qemu-user 10: 7.2 (Debian 12's own) refuses
# prctl(PR_SET_CHILD_SUBREAPER), so graceful-init's subreaper mode goes
# untested there, and drops inherited signal ignores at exec (docs/init.md).
# On Debian 12 it comes from bookworm-backports, whose source is added here if
# the machine has none: backports are never installed unless asked for by
# name (-t), so nothing else on the machine changes. Elsewhere an older qemu
# is only a warning: the tests find out what it can do and test the rest.
qemu_major() {
	local v
	v=$(dpkg-query -W -f='${Version}' qemu-user-static 2>/dev/null | sed -E 's/^[0-9]+://; s/[.].*//')
	[[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}
if [[ $(uname -m) != aarch64 ]] && (($(qemu_major) < 10)); then
	. /etc/os-release
	if [[ ${VERSION_CODENAME:-} != bookworm ]]; then
		echo "install-deps: warning: qemu-user-static $(qemu_major) is older than 10 (${PRETTY_NAME:-unknown}): the arm64 tests leave subreaper mode out" >&2
	else
		[[ $(id -u) == 0 ]] || { echo "install-deps: need root to install qemu-user-static 10 from bookworm-backports (have $(qemu_major))" >&2; exit 1; }
		if ! grep -qsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
			printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' 'Components: main' \
				'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >/etc/apt/sources.list.d/bookworm-backports.sources
		fi
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-user-static
		(($(qemu_major) >= 10)) || { echo "install-deps: bookworm-backports gave qemu-user-static $(qemu_major), want 10 or later" >&2; exit 1; }
	fi
fi

# test/init runs graceful-init for linux/arm64 as well (GRACEFUL_TEST_ARCHES),
# through qemu-user-static, which the kernel starts for an arm64 ELF file when
# a binfmt_misc handler says so. Debian's package ships the handler
# (/usr/lib/binfmt.d/qemu-aarch64.conf, flags OPF) but registers it only
# through update-binfmts (binfmt-support) or systemd-binfmt, and never inside
# a container; neither runs here, so the handler is registered directly. The
# F (fix-binary) flag makes the kernel open the interpreter once, at
# registration, so that it is found in any mount namespace or chroot, and for
# graceful-init's own re-exec through /proc/self/exe. A registration lives in
# the kernel (per user namespace) until reboot: a later run finds it and only
# checks it.
binfmt_fail() {
	echo "install-deps: linux/arm64 binaries do not run here: $*" >&2
	echo "install-deps: the arm64 process tests need them (make test-emulated, hack/test-emulated.sh)" >&2
	exit 1
}
if [[ $(uname -m) != aarch64 ]]; then
	binfmt=/proc/sys/fs/binfmt_misc
	entry=$binfmt/qemu-aarch64
	conf=/usr/lib/binfmt.d/qemu-aarch64.conf
	as_root() {
		[[ $(id -u) == 0 ]] || binfmt_fail "need root to $1"
	}
	if [[ ! -e $binfmt/register ]]; then
		as_root "mount binfmt_misc on $binfmt"
		mount -t binfmt_misc binfmt_misc "$binfmt" || binfmt_fail "mount -t binfmt_misc failed (a kernel without CONFIG_BINFMT_MISC, or a container that may not mount it)"
	fi
	# With F the kernel holds the interpreter it opened at registration: a
	# handler registered before qemu was upgraded (by this script or any
	# other way) still runs the old one, and one without F is not found in
	# a chroot. As root the handler is registered again on every run, which
	# is cheap; without root it is only checked.
	if [[ -e $entry ]] && { [[ $(id -u) == 0 ]] || ! grep -q '^flags:.*F' "$entry"; }; then
		as_root "register $entry again with the F flag"
		echo -1 >"$entry"
	fi
	if [[ ! -e $entry ]]; then
		as_root "register $conf"
		[[ -r $conf ]] || binfmt_fail "$conf is missing (qemu-user-static not installed?)"
		handler=$(<"$conf")
		flags=${handler##*:}
		[[ $handler == :qemu-aarch64:* && $flags == *F* ]] || binfmt_fail "$conf is not the handler expected (flags $flags, want F among them)"
		cat "$conf" >"$binfmt/register" || binfmt_fail "writing $conf to $binfmt/register failed"
	fi
	if [[ $(head -n1 "$entry") != enabled ]]; then
		as_root "enable $entry"
		echo 1 >"$entry"
	fi
	# The check: a 132-byte static arm64 ELF file that exits 42, run in a new
	# PID and mount namespace and chrooted into a folder that holds it alone,
	# where only an interpreter opened at registration (F) can run it.
	dir=$(mktemp -d)
	trap 'rm -rf "$dir"' EXIT
	printf '%b' \
		'\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00' \
		'\x02\x00\xb7\x00\x01\x00\x00\x00\x78\x00\x40\x00\x00\x00\x00\x00' \
		'\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' \
		'\x00\x00\x00\x00\x40\x00\x38\x00\x01\x00\x00\x00\x00\x00\x00\x00' \
		'\x01\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' \
		'\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00' \
		'\x84\x00\x00\x00\x00\x00\x00\x00\x84\x00\x00\x00\x00\x00\x00\x00' \
		'\x00\x10\x00\x00\x00\x00\x00\x00' \
		'\x40\x05\x80\xd2\xa8\x0b\x80\xd2\x01\x00\x00\xd4' >"$dir/exit42"
	chmod 0755 "$dir/exit42"
	code=0
	out=$(unshare --pid --fork --mount-proc chroot "$dir" /exit42 2>&1) || code=$?
	if [[ $code != 42 ]]; then
		binfmt_fail "a static arm64 test binary, chrooted in a new PID namespace, exited $code, not 42: ${out:-no output}; handler: $(tr '\n' ' ' <"$entry" 2>/dev/null || echo none)"
	fi
fi
