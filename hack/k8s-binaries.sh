#!/usr/bin/env bash
# Builds Kubernetes and etcd binaries from the Go module proxy into DEST.
#
#   hack/k8s-binaries.sh [DEST] [SET]
#     DEST  default bin/k8s (ignored by git)
#     SET   envtest (default): etcd, kube-apiserver
#           cluster: also kube-controller-manager, kube-scheduler, kubelet, kube-proxy
#
# k8s.io/kubernetes can not be `go install`ed: its go.mod replaces every staging
# module with ./staging/... . So each binary is built from a wrapper module that
# replaces those with their published v0.<minor>.<patch> versions instead.
# A stamp file records what was built; a second run with the same versions is a no-op.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/bin/k8s}
SET=${2:-envtest}
BUILD=${K8S_BUILD_DIR:-$ROOT/bin/.k8s-build}

die() { echo "k8s-binaries: $*" >&2; exit 1; }
command -v go >/dev/null || die "go is not on PATH"
case $SET in
envtest) cmds=(kube-apiserver) ;;
cluster) cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy) ;;
*) die "unknown set '$SET' (want envtest or cluster)" ;;
esac

stamp="k8s=$K8S_VERSION etcd=$ETCD_VERSION set=$SET"
if [[ -f $DEST/.stamp ]] && grep -qxF "$stamp" "$DEST/.stamp" || { [[ $SET == envtest ]] && [[ -f $DEST/.stamp ]] && grep -qxF "k8s=$K8S_VERSION etcd=$ETCD_VERSION set=cluster" "$DEST/.stamp"; }; then
	all=1
	for b in etcd "${cmds[@]}"; do [[ -x $DEST/$b ]] || all=0; done
	if ((all)); then
		echo "k8s-binaries: up to date in $DEST ($stamp)"
		exit 0
	fi
fi

mkdir -p "$DEST" "$BUILD"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
start=$(date +%s)

# etcd: a wrapper module that requires the server and builds its main package.
etcd_mod=$BUILD/etcd
mkdir -p "$etcd_mod"
if [[ ! -f $etcd_mod/go.mod ]] || ! grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$etcd_mod/go.mod"; then
	echo "k8s-binaries: preparing etcd $ETCD_VERSION"
	rm -f "$etcd_mod/go.mod" "$etcd_mod/go.sum"
	(cd "$etcd_mod" && go mod init graceful.local/etcd-build >/dev/null 2>&1 &&
		printf 'package main\n\nimport _ "go.etcd.io/etcd/server/v3"\n\nfunc main() {}\n' >tools.go &&
		go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null &&
		go mod tidy >/dev/null)
fi
echo "k8s-binaries: building etcd"
(cd "$etcd_mod" && go build -trimpath -ldflags '-s -w' -o "$DEST/etcd" go.etcd.io/etcd/server/v3)

# Kubernetes: a wrapper module with every staging module replaced by its published version.
k8s_mod=$BUILD/kubernetes
mkdir -p "$k8s_mod"
staging_version=v0.${K8S_VERSION#v1.}
if [[ ! -f $k8s_mod/go.mod ]] || ! grep -q "k8s.io/kubernetes $K8S_VERSION" "$k8s_mod/go.mod"; then
	echo "k8s-binaries: preparing kubernetes $K8S_VERSION (staging modules at $staging_version)"
	rm -f "$k8s_mod/go.mod" "$k8s_mod/go.sum" "$k8s_mod/tools.go"
	(
		cd "$k8s_mod"
		go mod init graceful.local/k8s-build >/dev/null 2>&1
		{
			echo 'package main'
			echo
			echo 'import ('
			for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do echo "	_ \"k8s.io/kubernetes/cmd/$c/app\""; done
			echo ')'
			echo
			echo 'func main() {}'
		} >tools.go
		modfile=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
		[[ -f $modfile ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION"
		for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$modfile"); do
			go mod edit -replace "$m=$m@$staging_version"
		done
		go get "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
		go mod tidy >/dev/null
	)
fi
pkg=k8s.io/component-base/version
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg/verflag.programName=kubernetes"
for c in "${cmds[@]}"; do
	echo "k8s-binaries: building $c"
	(cd "$k8s_mod" && go build -trimpath -ldflags "$ldflags" -o "$DEST/$c" "k8s.io/kubernetes/cmd/$c")
done
echo "$stamp" >"$DEST/.stamp"
echo "k8s-binaries: built ${cmds[*]} etcd into $DEST in $(($(date +%s) - start))s"
