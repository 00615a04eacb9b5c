#!/usr/bin/env bash
# `make demo` and `make demo-down` (root).
#
#   hack/demo.sh up     bring up the local cluster (hack/cluster) unless
#                       KUBECONFIG is set, then run hack/demo on it
#   hack/demo.sh down   remove the demo and the release, and stop the local
#                       cluster (its state stays for a fast next start)
#
# With KUBECONFIG set, DEMO_REGISTRY must name a plain-HTTP registry
# (host:port) that this machine pushes to and the cluster's nodes pull from.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source hack/cluster/lib.sh
die() {
	echo "demo: $*" >&2
	exit 1
}
demo() { go run ./hack/demo -init bin/graceful-init -webhook bin/graceful-webhook -helm bin/tools/helm -chart charts/graceful "$@"; }

case ${1:-} in
up)
	if [[ -n ${KUBECONFIG:-} ]]; then
		[[ -n ${DEMO_REGISTRY:-} ]] || die "KUBECONFIG is set: set DEMO_REGISTRY to a plain-HTTP registry (host:port) that this machine and the cluster's nodes reach, or unset KUBECONFIG to use the local cluster"
		echo "demo: on the cluster of KUBECONFIG=$KUBECONFIG, images through $DEMO_REGISTRY"
		demo -registry "$DEMO_REGISTRY"
	else
		echo "demo: bringing up the local cluster (hack/cluster/up.sh; minutes the first time, seconds after)"
		hack/cluster/up.sh
		KUBECONFIG=$KUBECONFIG_ADMIN demo -registry "$REGISTRY"
	fi
	;;
down)
	if [[ -n ${KUBECONFIG:-} ]]; then
		demo -down
	elif proc_alive "$PIDS/kube-apiserver.pid"; then
		# The cluster stops either way; its state keeps whatever was not removed.
		KUBECONFIG=$KUBECONFIG_ADMIN demo -down || echo "demo: removing the demo failed (above); stopping the cluster anyway" >&2
		hack/cluster/down.sh
	else
		hack/cluster/down.sh
	fi
	;;
*) die "usage: hack/demo.sh up|down" ;;
esac
