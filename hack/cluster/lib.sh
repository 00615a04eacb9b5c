# Shared settings and helpers of hack/cluster/up.sh and down.sh (sourced).
# Every setting can be overridden from the environment.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${GRACEFUL_CLUSTER_DIR:-/var/lib/graceful-cluster} # PKI, etcd, containerd, kubelet, logs, pids
K8S_BIN=${K8S_BIN:-$ROOT/bin/k8s}                       # from hack/k8s-binaries.sh
K8S_VERSION=${K8S_VERSION:-v1.37.2}                     # as hack/k8s-binaries.sh
NETNS=${GRACEFUL_NETNS:-graceful-cluster}
VETH_HOST=gc-host # host end, 10.200.0.1/30
VETH_NODE=gc-node # node end, 10.200.0.2/30, inside $NETNS
HOST_IP=10.200.0.1
NODE_IP=10.200.0.2
NODE_NAME=graceful-node
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API_PORT=6443
REGISTRY_PORT=${REGISTRY_PORT:-5000}
REGISTRY=$NODE_IP:$REGISTRY_PORT # test images: pushed from the host, pulled by containerd in the netns
PAUSE_IMAGE=registry.k8s.io/pause:3.10
KUBE_PROXY=${KUBE_PROXY:-1}
# ContainerStopSignals (lifecycle.stopSignal) is still alpha in v1.37: on in
# the kube-apiserver and the kubelet. The runtime must honour it too
# (containerd >= 2.3 does; 1.6 ignores the field and stops with the image's
# STOPSIGNAL).
FEATURE_GATES=ContainerStopSignals=true
# The container runtime of the node (RUNTIME, for up.sh): containerd2 is
# containerd 2 and runc built by hack/containerd-binaries.sh into
# $CONTAINERD2_BIN, containerd1 is Debian's containerd 1.6 and runc 1.1.
# Each keeps its own image store and metadata (containerd 2's bolt database
# is not for 1.6 to read back); only the socket path is shared, as only one
# runs at a time. $STATE/runtime names the one the cluster last ran.
RUNTIME=${RUNTIME:-containerd2}
CONTAINERD2_BIN=${CONTAINERD2_BIN:-$ROOT/bin/containerd2}
CTR_SOCK=$STATE/containerd/containerd.sock
LOGS=$STATE/logs
PIDS=$STATE/pids
PKI=$STATE/pki
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig

die() {
	echo "cluster: $*" >&2
	exit 1
}
say() { echo "cluster: $*"; }

# proc_alive PIDFILE: the process recorded in PIDFILE ("PID STARTTIME") still
# runs, is the same process (start time matches) and is not a zombie.
proc_alive() {
	local pid start stat f
	[[ -f $1 ]] || return 1
	read -r pid start <"$1" || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) } # fields after the command name: state is field 3
	read -r -a f <<<"$stat"
	[[ ${f[0]} != Z && ${f[0]} != X ]] || return 1
	[[ ${f[19]} == "$start" ]] # field 22: start time
}

# record NAME PID: write the pid file of daemon NAME.
record() {
	local stat f
	stat=$(cat "/proc/$2/stat") || die "$1 exited at once; see $LOGS/$1.log"
	stat=${stat##*) }
	read -r -a f <<<"$stat"
	echo "$2 ${f[19]}" >"$PIDS/$1.pid"
}

# stop NAME: SIGTERM the recorded daemon, SIGKILL after 5 s; zombies count as stopped.
stop() {
	local pf=$PIDS/$1.pid pid i
	if ! proc_alive "$pf"; then
		rm -f "$pf"
		return 0
	fi
	read -r pid _ <"$pf"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		proc_alive "$pf" || break
		sleep 0.1
	done
	if proc_alive "$pf"; then
		say "$1 (pid $pid) still runs after 5 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			proc_alive "$pf" || break
			sleep 0.1
		done
	fi
	proc_alive "$pf" && die "$1 (pid $pid) does not stop"
	rm -f "$pf"
	say "stopped $1"
}

# in_netns CMD...: run CMD in the cluster's network namespace (nsenter, not
# `ip netns exec`, which remounts /sys and gives a private mount namespace).
in_netns() { nsenter --net="/run/netns/$NETNS" -- "$@"; }

# ctr_bin RUNTIME: the ctr that speaks to RUNTIME's containerd.
ctr_bin() {
	case $1 in
	containerd2) echo "$CONTAINERD2_BIN/ctr" ;;
	containerd1) echo ctr ;;
	*) die "unknown RUNTIME '$1' (want containerd2 or containerd1)" ;;
	esac
}
CTR=${CTR:-ctr}
ctr_k8s() { "$CTR" --address "$CTR_SOCK" --namespace k8s.io "$@"; }
crictl_k8s() { "$ROOT/bin/tools/crictl" --runtime-endpoint "unix://$CTR_SOCK" --image-endpoint "unix://$CTR_SOCK" --timeout 2s "$@"; }
