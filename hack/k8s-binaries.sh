#!/usr/bin/env bash
# Builds Kubernetes and etcd binaries from the Go module proxy into DEST.
#
#   hack/k8s-binaries.sh [DEST] [SET]
#     DEST  default bin/k8s (ignored by git)
#     SET   envtest (default): etcd, kube-apiserver
#           cluster: also kube-controller-manager, kube-scheduler, kubelet, kube-proxy
#
# Environment: K8S_VERSION (v1.37.2), ETCD_VERSION (v3.6.16), K8S_BUILD_DIR (bin/.k8s-build:
# the wrapper modules, not committed).
#
# k8s.io/kubernetes can not be `go install`ed: its go.mod replaces every staging
# module with ./staging/... . So the binaries are built from a wrapper module that
# replaces those with their published v0.<minor>.<patch> versions instead.
# DEST/.stamp records the versions and set that were built; a run that finds the
# same stamp and every binary in place is a no-op, any other stamp rebuilds.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/bin/k8s}
# The build changes folders: make DEST absolute first.
DEST=$(realpath -m -- "$DEST")
SET=${2:-envtest}
BUILD=${K8S_BUILD_DIR:-$ROOT/bin/.k8s-build}

die() { echo "k8s-binaries: $*" >&2; exit 1; }
[[ $# -le 2 ]] || die "usage: hack/k8s-binaries.sh [DEST] [envtest|cluster]"
command -v go >/dev/null || die "go is not on PATH (install Go, see go.mod for the version)"
[[ $K8S_VERSION =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "K8S_VERSION '$K8S_VERSION' is not v1.MINOR.PATCH"
minor=${BASH_REMATCH[1]}
staging_version=v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]} # staging modules are published as v0.<minor>.<patch>
[[ $ETCD_VERSION =~ ^v3\.[0-9]+\.[0-9]+$ ]] || die "ETCD_VERSION '$ETCD_VERSION' is not v3.MINOR.PATCH"
all_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
case $SET in
envtest) cmds=(kube-apiserver) ;;
cluster) cmds=("${all_cmds[@]}") ;;
*) die "unknown set '$SET' (want envtest or cluster)" ;;
esac

# One build at a time into DEST: parallel `make test` runs would overwrite each other's binaries.
mkdir -p "$DEST" || die "can not create $DEST"
command -v flock >/dev/null || die "flock is not on PATH (install util-linux)"
exec 9>"$DEST/.lock"
if ! flock -n 9; then
	echo "k8s-binaries: waiting for another build into $DEST"
	flock 9
fi

# up_to_date SET: the stamp names SET at these versions and every binary is there.
up_to_date() {
	[[ -f $DEST/.stamp ]] && grep -qxF "k8s=$K8S_VERSION etcd=$ETCD_VERSION set=$1" "$DEST/.stamp" || return 1
	local b
	for b in etcd "${cmds[@]}"; do [[ -x $DEST/$b ]] || return 1; done
}
# A cluster build holds the envtest set too.
if up_to_date "$SET" || { [[ $SET == envtest ]] && up_to_date cluster; }; then
	echo "k8s-binaries: up to date in $DEST ($(cat "$DEST/.stamp"))"
	exit 0
fi

mkdir -p "$BUILD" || die "can not create $BUILD"
rm -f "$DEST/.stamp" # a build that stops half-way must not look finished
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
start=$(date +%s)

# requires MODFILE MODULE VERSION: MODFILE requires MODULE at exactly VERSION.
requires() { [[ -f $1 ]] && grep -qE "^(require)?[[:space:]]*${2//./\\.} ${3//./\\.}( // indirect)?\$" "$1"; }

# build DIR LDFLAGS NAME=PKG...: one go build of the main packages in wrapper module
# DIR (one invocation compiles and links them in parallel), then each binary moves
# into DEST as NAME. With several packages go names the binaries, so NAME must be
# the package's last path element.
build() {
	local dir=$1 ldflags=$2 t0=$SECONDS tmp=$DEST/.build.tmp names=() pkgs=() out a
	shift 2
	for a in "$@"; do names+=("${a%%=*}") pkgs+=("${a#*=}"); done
	out=$tmp/
	(($# > 1)) || out=$tmp/${names[0]}
	rm -rf "$tmp" && mkdir -p "$tmp"
	echo "k8s-binaries: building ${names[*]}"
	(cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$out" "${pkgs[@]}") || die "go build ${pkgs[*]} failed (wrapper module in $dir)"
	for a in "${names[@]}"; do mv -f "$tmp/$a" "$DEST/$a" || die "go build made no $a"; done
	rmdir "$tmp"
	echo "k8s-binaries: built ${names[*]} in $((SECONDS - t0))s"
}

# etcd: a wrapper module that requires the server and builds its main package.
etcd_mod=$BUILD/etcd
mkdir -p "$etcd_mod"
if [[ ! -f $etcd_mod/go.sum ]] || ! requires "$etcd_mod/go.mod" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"; then
	echo "k8s-binaries: preparing etcd $ETCD_VERSION"
	rm -f "$etcd_mod/go.mod" "$etcd_mod/go.sum" "$etcd_mod/tools.go"
	# Chained with &&: `set -e` does not apply in a subshell tested with ||.
	(
		cd "$etcd_mod" &&
			go mod init graceful.local/etcd-build 2>/dev/null &&
			printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go &&
			go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" &&
			go mod tidy
	) || die "could not prepare the etcd wrapper module (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
fi
build "$etcd_mod" "-s -w" etcd=go.etcd.io/etcd/server/v3

# Kubernetes: a wrapper module with every staging module replaced by its published version.
k8s_mod=$BUILD/kubernetes
mkdir -p "$k8s_mod"
if [[ ! -f $k8s_mod/go.sum ]] || ! requires "$k8s_mod/go.mod" k8s.io/kubernetes "$K8S_VERSION"; then
	echo "k8s-binaries: preparing kubernetes $K8S_VERSION (staging modules at $staging_version)"
	rm -f "$k8s_mod/go.mod" "$k8s_mod/go.sum" "$k8s_mod/tools.go"
	# Every step checked: `set -e` does not apply in a subshell tested with ||.
	(
		cd "$k8s_mod" || exit 1
		go mod init graceful.local/k8s-build 2>/dev/null || exit 1
		{
			printf '//go:build tools\n\npackage tools\n\nimport (\n'
			for c in "${all_cmds[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s/app"\n' "$c"; done
			printf ')\n'
		} >tools.go || exit 1
		json=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION") || exit 1
		modfile=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' <<<"$json")
		[[ -f $modfile ]] || { echo "k8s-binaries: no go.mod for k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
		staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$modfile")
		[[ -n $staging ]] || { echo "k8s-binaries: no staging replaces found in $modfile" >&2; exit 1; }
		for m in $staging; do go mod edit -replace "$m=$m@$staging_version" || exit 1; done
		echo "k8s-binaries: replaced $(wc -w <<<"$staging") staging modules"
		go get "k8s.io/kubernetes@$K8S_VERSION" && go mod tidy
	) || die "could not prepare the kubernetes wrapper module (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
fi
# Without a parseable version kubectl and clients refuse the server ("v0.0.0-master").
v=k8s.io/component-base/version
ldflags="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean -X $v/verflag.programName=kubernetes"
pkgs=()
for c in "${cmds[@]}"; do pkgs+=("$c=k8s.io/kubernetes/cmd/$c"); done
build "$k8s_mod" "$ldflags" "${pkgs[@]}"

got=$("$DEST/kube-apiserver" --version) || die "$DEST/kube-apiserver does not run"
[[ $got == "kubernetes $K8S_VERSION" || $got == "Kubernetes $K8S_VERSION" ]] || die "$DEST/kube-apiserver --version says '$got', want $K8S_VERSION"
# Read the whole output before matching: `etcd --version | grep -q` under pipefail
# fails whenever grep exits on the first line and etcd dies of SIGPIPE writing the
# next (seen in CI).
got=$("$DEST/etcd" --version) || die "$DEST/etcd does not run"
grep -qxF "etcd Version: ${ETCD_VERSION#v}" <<<"$got" || die "$DEST/etcd --version is not ${ETCD_VERSION#v}: $got"
echo "k8s=$K8S_VERSION etcd=$ETCD_VERSION set=$SET" >"$DEST/.stamp"
echo "k8s-binaries: built etcd ${cmds[*]} into $DEST in $(($(date +%s) - start))s"
