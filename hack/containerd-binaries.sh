#!/usr/bin/env bash
# Builds containerd 2 (containerd, containerd-shim-runc-v2, ctr) and runc from the
# Go module proxy into DEST, for the local cluster's RUNTIME=containerd2.
#
#   hack/containerd-binaries.sh [DEST]     DEST default bin/containerd2 (ignored by git)
#
# Environment: CONTAINERD_VERSION (v2.4.2), RUNC_VERSION (v1.4.4).
#
# containerd is static (CGO_ENABLED=0) and leaves out the snapshotters the
# cluster does not use (no_btrfs no_devmapper no_zfs): overlayfs is the one it
# runs. runc is built too because Debian's 1.1.5 is far below what containerd
# 2.4 is tested with (its script/setup/runc-version names runc 1.5); the 1.4
# line is the newest one that builds with Go alone: 1.5 adds the libpathrs
# tag, a Rust library. runc links libseccomp (cgo, the seccomp tag) so that
# pods asking for the RuntimeDefault seccomp profile, as Pod Security
# "restricted" requires, get one; hack/install-deps.sh installs libseccomp-dev.
# DEST/.stamp records the versions built; a run that finds the same stamp and
# every binary in place is a no-op, any other stamp rebuilds.
set -euo pipefail

CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
RUNC_VERSION=${RUNC_VERSION:-v1.4.4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=$(realpath -m -- "${1:-$ROOT/bin/containerd2}")

die() { echo "containerd-binaries: $*" >&2; exit 1; }
[[ $# -le 1 ]] || die "usage: hack/containerd-binaries.sh [DEST]"
command -v go >/dev/null || die "go is not on PATH (install Go, see go.mod for the version)"
command -v gcc >/dev/null || die "gcc is missing (runc links libseccomp through cgo): install the Debian package 'gcc'"
[[ -f /usr/include/seccomp.h ]] || die "seccomp.h is missing (runc's seccomp support): install the Debian package 'libseccomp-dev' (hack/install-deps.sh)"
[[ $CONTAINERD_VERSION =~ ^v2\.[0-9]+\.[0-9]+$ ]] || die "CONTAINERD_VERSION '$CONTAINERD_VERSION' is not v2.MINOR.PATCH"
[[ $RUNC_VERSION =~ ^v1\.[0-9]+\.[0-9]+$ ]] || die "RUNC_VERSION '$RUNC_VERSION' is not v1.MINOR.PATCH"

mkdir -p "$DEST" || die "can not create $DEST"
exec 9>"$DEST/.lock"
if ! flock -n 9; then
	echo "containerd-binaries: waiting for another build into $DEST"
	flock 9
fi
stamp="containerd=$CONTAINERD_VERSION runc=$RUNC_VERSION"
bins=(containerd containerd-shim-runc-v2 ctr runc)
up_to_date() {
	[[ -f $DEST/.stamp ]] && grep -qxF "$stamp" "$DEST/.stamp" || return 1
	local b
	for b in "${bins[@]}"; do [[ -x $DEST/$b ]] || return 1; done
}
if up_to_date; then
	echo "containerd-binaries: up to date in $DEST ($stamp)"
	exit 0
fi
rm -f "$DEST/.stamp" # a build that stops half-way must not look finished
start=$SECONDS
tmp=$DEST/.build.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
# go install MODULE/PKG@VERSION builds from the module proxy with the
# module's own go.mod and go.sum: no wrapper module, nothing to vendor.
export GOWORK=off GOFLAGS= GOBIN=$tmp
pkg=github.com/containerd/containerd/v2
echo "containerd-binaries: building containerd $CONTAINERD_VERSION"
CGO_ENABLED=0 go install -trimpath -tags "no_btrfs no_devmapper no_zfs" \
	-ldflags "-s -w -X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg" \
	"$pkg/cmd/containerd@$CONTAINERD_VERSION" "$pkg/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" "$pkg/cmd/ctr@$CONTAINERD_VERSION" ||
	die "building containerd $CONTAINERD_VERSION failed"
echo "containerd-binaries: building runc $RUNC_VERSION"
CGO_ENABLED=1 go install -trimpath -tags "seccomp urfave_cli_no_docs" \
	-ldflags "-s -w -X main.version=${RUNC_VERSION#v}" \
	"github.com/opencontainers/runc@$RUNC_VERSION" ||
	die "building runc $RUNC_VERSION failed"
for b in "${bins[@]}"; do mv -f "$tmp/$b" "$DEST/$b"; done
rm -rf "$tmp"
# Each output read whole before it is matched: under pipefail a `| grep -q`
# that stops reading early fails the check with the writer's SIGPIPE.
out=$("$DEST/containerd" --version) && [[ $out == *" $CONTAINERD_VERSION"* ]] || die "$DEST/containerd does not report $CONTAINERD_VERSION: $out"
out=$("$DEST/runc" --version) && [[ $out == *"runc version ${RUNC_VERSION#v}"* ]] || die "$DEST/runc does not report ${RUNC_VERSION#v}: $out"
out=$("$DEST/runc" features) && jq -e '.linux.seccomp.enabled == true' >/dev/null <<<"$out" || die "$DEST/runc was built without seccomp support"
echo "$stamp" >"$DEST/.stamp"
echo "containerd-binaries: built $stamp into $DEST in $((SECONDS - start))s"
