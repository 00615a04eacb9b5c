#!/usr/bin/env bash
# Brings up a real single-node Kubernetes v1.37.2 cluster on this machine, as
# root, inside a network namespace of its own (see docs/e2e.md):
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#   kube-proxy (KUBE_PROXY=0 to leave it out), containerd + runc, the CNI
#   bridge from Debian, and a registry for test images at $REGISTRY.
# RUNTIME picks the containerd: containerd2 (default) is containerd 2.4 and
# runc 1.4 built from the Go module proxy by hack/containerd-binaries.sh,
# containerd1 is Debian's containerd 1.6 and runc 1.1. A cluster that runs
# keeps its runtime: switch with down.sh first.
# Idempotent: daemons that already run are kept; a second run only waits for
# readiness. State, logs and the admin kubeconfig live in $STATE
# (GRACEFUL_CLUSTER_DIR, default /var/lib/graceful-cluster).
# hack/cluster/down.sh stops it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
t0=$(date +%s.%N)

# ---- preconditions, each failure names the missing piece
[[ $(id -u) == 0 ]] || die "must run as root (network namespace, containerd, kubelet)"
need() { command -v "$1" >/dev/null || die "'$1' is missing: install $2 (hack/install-deps.sh installs the Debian packages)"; }
need ip "the Debian package 'iproute2'"
need nsenter "the Debian package 'util-linux'"
need iptables "the Debian package 'iptables'"
need openssl "the Debian package 'openssl'"
need curl "the Debian package 'curl'"
need jq "the Debian package 'jq'"
case $RUNTIME in
containerd1)
	need containerd "the Debian package 'containerd'"
	need ctr "the Debian package 'containerd'"
	need runc "the Debian package 'runc'"
	;;
containerd2) ;;
*) die "unknown RUNTIME '$RUNTIME' (want containerd2 or containerd1)" ;;
esac
CTR=$(ctr_bin "$RUNTIME")
need gcc "the Debian package 'gcc'"
need bc "the Debian package 'bc'"
need go "Go (the version in go.mod)"
for p in bridge host-local loopback; do
	[[ -x /usr/lib/cni/$p ]] || die "CNI plugin /usr/lib/cni/$p is missing: install the Debian package 'containernetworking-plugins'"
done
[[ -f /usr/include/stdio.h ]] || die "C headers are missing (static pause binary): install the Debian package 'libc6-dev'"

mkdir -p "$STATE" "$LOGS" "$PIDS" "$PKI"
exec 9>"$STATE/.lock"
flock -n 9 || die "another up.sh or down.sh runs on $STATE"
if proc_alive "$PIDS/containerd.pid" && [[ $(cat "$STATE/runtime" 2>/dev/null) != "$RUNTIME" ]]; then
	die "the cluster runs RUNTIME=$(cat "$STATE/runtime" 2>/dev/null || echo containerd1), not $RUNTIME: stop it first (make cluster-down)"
fi

# ---- binaries: built from the Go module proxy and cached
first=0
if ! grep -qs "set=cluster" "$K8S_BIN/.stamp"; then
	first=1
	say "building Kubernetes binaries into $K8S_BIN (the first time takes 5-15 min; log: $LOGS/k8s-binaries.log)"
fi
# In a session of its own, so that an interrupted up.sh stops the whole
# build (go and its compilers) instead of leaving it to hold the build lock.
setsid "$ROOT/hack/k8s-binaries.sh" "$K8S_BIN" cluster >"$LOGS/k8s-binaries.log" 2>&1 </dev/null 9>&- &
build=$!
trap 'kill -TERM -- -$build 2>/dev/null || true' EXIT
# A progress line every 30 s while a first build runs: its last step and how long so far.
for ((s = 1; ; s++)); do
	kill -0 "$build" 2>/dev/null || break
	sleep 1
	if ((first && s % 30 == 0)) && kill -0 "$build" 2>/dev/null; then
		say "still building, $((s / 60))m$((s % 60))s so far: $(grep -a '^k8s-binaries:' "$LOGS/k8s-binaries.log" | tail -n 1)"
	fi
done
wait "$build" || die "building the Kubernetes binaries failed: see $LOGS/k8s-binaries.log"
trap - EXIT
if [[ $RUNTIME == containerd2 ]]; then
	grep -qs containerd= "$CONTAINERD2_BIN/.stamp" || say "building containerd 2 and runc into $CONTAINERD2_BIN (the first time takes a few minutes; log: $LOGS/containerd-binaries.log)"
	setsid "$ROOT/hack/containerd-binaries.sh" "$CONTAINERD2_BIN" >"$LOGS/containerd-binaries.log" 2>&1 </dev/null 9>&- ||
		die "building containerd 2 failed: see $LOGS/containerd-binaries.log"
fi
mkdir -p "$ROOT/bin"
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$ROOT/bin/registry" ./hack/registry && go build -o "$ROOT/bin/mkimage" ./hack/cluster/mkimage) ||
	die "building hack/registry and hack/cluster/mkimage failed"
"$ROOT/hack/tools.sh" crictl >"$LOGS/crictl-build.log" 2>&1 || die "building crictl failed: see $LOGS/crictl-build.log"

# ---- network namespace: veth pair, no default route, no new connections out
if [[ ! -e /run/netns/$NETNS ]]; then
	ip link show "$VETH_HOST" >/dev/null 2>&1 && die "network interface $VETH_HOST exists but namespace $NETNS does not: remove it (ip link del $VETH_HOST)"
	ip netns add "$NETNS"
	say "created network namespace $NETNS"
fi
if ! ip link show "$VETH_HOST" >/dev/null 2>&1; then
	ip link add "$VETH_HOST" type veth peer name "$VETH_NODE" netns "$NETNS"
	ip addr add "$HOST_IP/30" dev "$VETH_HOST"
	ip link set "$VETH_HOST" up
fi
in_netns ip link set lo up
in_netns ip addr replace "$NODE_IP/30" dev "$VETH_NODE"
in_netns ip link set "$VETH_NODE" up
in_netns sysctl -qw net.ipv4.ip_forward=1
# Service IPs are answered by kube-proxy's DNAT; the route makes them routable from the node.
in_netns ip route replace "$SERVICE_CIDR" dev lo src "$NODE_IP"
in_netns iptables -N GRACEFUL-ISOLATE 2>/dev/null || true
in_netns iptables -F GRACEFUL-ISOLATE
in_netns iptables -A GRACEFUL-ISOLATE -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
in_netns iptables -A GRACEFUL-ISOLATE -j DROP
for chain in OUTPUT FORWARD; do
	in_netns iptables -C "$chain" -o "$VETH_NODE" -j GRACEFUL-ISOLATE 2>/dev/null ||
		in_netns iptables -I "$chain" -o "$VETH_NODE" -j GRACEFUL-ISOLATE
done

# port_free NAME PORT: nothing but our own NAME listens on PORT in the namespace.
port_free() {
	proc_alive "$PIDS/$1.pid" && return 0
	if [[ -n $(in_netns ss -Hltn "sport = :$2") ]]; then
		die "port $2 (for $1) is in use in network namespace $NETNS by a process up.sh did not start: $(in_netns ss -Hltnp "sport = :$2" | head -1)"
	fi
}

# ---- PKI (kept across runs)
cert() { # NAME CN [O] [SANs]: a client or serving cert signed by the cluster CA
	local n=$1 cn=$2 o=${3:-} san=${4:-} subj
	[[ -f $PKI/$n.crt ]] && return 0
	subj="/CN=$cn"
	[[ -n $o ]] && subj="/O=$o$subj"
	openssl genrsa -out "$PKI/$n.key" 2048 2>/dev/null
	openssl req -new -key "$PKI/$n.key" -subj "$subj" -out "$PKI/$n.csr" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		if [[ -n $san ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"; else echo "extendedKeyUsage=clientAuth"; fi
	} >"$PKI/$n.ext"
	openssl x509 -req -in "$PKI/$n.csr" -CA "$PKI/${5:-ca}.crt" -CAkey "$PKI/${5:-ca}.key" -CAcreateserial \
		-days 365 -extfile "$PKI/$n.ext" -out "$PKI/$n.crt" 2>/dev/null
	rm -f "$PKI/$n.csr" "$PKI/$n.ext"
}
ca() { # NAME CN
	[[ -f $PKI/$1.crt ]] && return 0
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.crt" -days 3650 \
		-subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}
ca ca graceful-cluster-ca
ca front-proxy-ca graceful-front-proxy-ca
cert apiserver kube-apiserver "" "IP:$NODE_IP,IP:127.0.0.1,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
cert admin admin system:masters
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
cert kubelet "system:node:$NODE_NAME" system:nodes
cert controller-manager system:kube-controller-manager
cert scheduler system:kube-scheduler
cert kube-proxy system:kube-proxy
cert front-proxy-client front-proxy-client "" "" front-proxy-ca
if [[ ! -f $PKI/sa.key ]]; then
	openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
	openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi
kubeconfig() { # FILE CERT
	cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: graceful
  cluster: {server: "https://$NODE_IP:$API_PORT", certificate-authority: "$PKI/ca.crt"}
users:
- name: $2
  user: {client-certificate: "$PKI/$2.crt", client-key: "$PKI/$2.key"}
contexts:
- name: graceful
  context: {cluster: graceful, user: $2}
current-context: graceful
KC
}
kubeconfig "$KUBECONFIG_ADMIN" admin
for c in kubelet controller-manager scheduler kube-proxy; do kubeconfig "$STATE/$c.kubeconfig" "$c"; done

api_patch() { # PATH JSON: a JSON merge patch
	curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
		-X PATCH -H 'Content-Type: application/merge-patch+json' --data "$2" "https://$NODE_IP:$API_PORT$1" >/dev/null
}
api() { curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://$NODE_IP:$API_PORT$1"; }
wait_for() { # WHAT SECONDS CMD...: also fails at once when a daemon died
	local what=$1 secs=$2 i pf
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		for pf in "$PIDS"/*.pid; do
			[[ -e $pf ]] || continue
			proc_alive "$pf" || die "$(basename "$pf" .pid) exited while waiting for $what; last lines of $LOGS/$(basename "$pf" .pid).log:
$(tail -n 5 "$LOGS/$(basename "$pf" .pid).log")"
		done
		sleep 0.2
	done
	die "timed out after ${secs}s waiting for $what (logs in $LOGS)"
}

# start NAME CMD...: start daemon NAME in the namespace unless it runs.
start() {
	local n=$1
	shift
	proc_alive "$PIDS/$n.pid" && return 0
	echo "=== $(date -u +%FT%TZ) $*" >>"$LOGS/$n.log"
	# nsenter directly (not a shell function): $! must be the daemon itself;
	# fd 9 (the lock) is not handed down, or the daemon would hold it.
	# nsenter and setsid exec in place.
	nsenter --net="/run/netns/$NETNS" -- setsid "$@" >>"$LOGS/$n.log" 2>&1 </dev/null 9>&- &
	record "$n" $!
	say "started $n (pid $!)"
}

# ---- registry for test images
port_free registry "$REGISTRY_PORT"
start registry "$ROOT/bin/registry" -addr "$REGISTRY" -quiet

# ---- etcd, kube-apiserver
port_free etcd 2379
start etcd "$K8S_BIN/etcd" --data-dir "$STATE/etcd" --listen-client-urls http://127.0.0.1:2379 \
	--advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
	--unsafe-no-fsync=true --quota-backend-bytes 4294967296
port_free kube-apiserver "$API_PORT"
start kube-apiserver "$K8S_BIN/kube-apiserver" \
	--etcd-servers http://127.0.0.1:2379 \
	--bind-address 0.0.0.0 --secure-port "$API_PORT" --advertise-address "$NODE_IP" \
	--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
	--client-ca-file "$PKI/ca.crt" \
	--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--service-cluster-ip-range "$SERVICE_CIDR" \
	--authorization-mode Node,RBAC --allow-privileged=true \
	--kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
	--kubelet-preferred-address-types InternalIP \
	--enable-aggregator-routing=true \
	--requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
	--requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
	--requestheader-extra-headers-prefix X-Remote-Extra- \
	--proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
	--feature-gates "$FEATURE_GATES"
wait_for "kube-apiserver /readyz" 90 api /readyz

# ---- containerd with its CRI plugin, pause image
mkdir -p "$STATE/containerd" "$STATE/cni/net.d" "$STATE/cni/ipam" "$STATE/images"
case $RUNTIME in
containerd1)
	ctr_root=$STATE/containerd
	mkdir -p "$ctr_root"
	cat >"$ctr_root/config.toml" <<TOML
version = 2
root = "$ctr_root/root"
state = "$ctr_root/state"
[grpc]
  address = "$CTR_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$ctr_root/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The VM withholds CAP_SYS_RESOURCE: without this runc fails to set oom_score_adj -998.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$STATE/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REGISTRY"]
    endpoint = ["http://$REGISTRY"]
TOML
	ctr_cmd=(containerd --config "$ctr_root/config.toml")
	;;
containerd2)
	ctr_root=$STATE/containerd2
	mkdir -p "$ctr_root/certs.d/$REGISTRY"
	# The test registry speaks plain HTTP: containerd 2 reads that from a
	# hosts.toml under config_path (the 1.x registry.mirrors table is gone).
	cat >"$ctr_root/certs.d/$REGISTRY/hosts.toml" <<TOML
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
TOML
	# Configuration version 4, containerd 2.4's own (it migrates a version 3
	# file at every start, with a warning): as in version 3 the CRI plugin is
	# split into io.containerd.cri.v1.images and io.containerd.cri.v1.runtime;
	# the gRPC server is a plugin too.
	cat >"$ctr_root/config.toml" <<TOML
version = 4
root = "$ctr_root/root"
state = "$ctr_root/state"
[plugins.'io.containerd.server.v1.grpc']
  address = "$CTR_SOCK"
# Next to the gRPC socket, as 1.6 puts it: the default is the host's
# /run/containerd/containerd.sock.ttrpc.
[plugins.'io.containerd.server.v1.ttrpc']
  address = "$CTR_SOCK.ttrpc"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$ctr_root/certs.d"
[plugins.'io.containerd.cri.v1.runtime']
  # The VM withholds CAP_SYS_RESOURCE: without this runc fails to set oom_score_adj -998.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = false
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$CONTAINERD2_BIN/runc"
        Root = "$STATE/runc-containerd2"
        # The kubelet's cgroupDriver is cgroupfs (below); the kubelet reads
        # this back through the CRI and the two must agree.
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$STATE/cni/net.d"
TOML
	# The runc shim is found on PATH: this build's, not Debian's 1.6 one.
	ctr_cmd=(env "PATH=$CONTAINERD2_BIN:$PATH" "$CONTAINERD2_BIN/containerd" --config "$ctr_root/config.toml")
	;;
esac
cat >"$STATE/cni/net.d/10-graceful.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "graceful",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam", "ranges": [[{"subnet": "$POD_CIDR"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}
CNI
echo "$RUNTIME" >"$STATE/runtime"
start containerd "${ctr_cmd[@]}"
wait_for "containerd on $CTR_SOCK" 30 ctr_k8s version
# containerd answers before its CRI plugin does ("server is not initialized
# yet"), and a kubelet started in between exits at once.
wait_for "containerd's CRI on $CTR_SOCK" 30 crictl_k8s info
# Not `ctr ... | grep -q`: under pipefail, ctr dying of SIGPIPE after an early match fails the test.
images=$(ctr_k8s images ls -q) || die "ctr images ls failed on $CTR_SOCK"
if ! grep -qxF "$PAUSE_IMAGE" <<<"$images"; then
	src=$(go env GOMODCACHE)/k8s.io/kubernetes@$K8S_VERSION/build/pause/linux/pause.c
	[[ -f $src ]] || die "pause.c is missing at $src: run hack/k8s-binaries.sh (it downloads k8s.io/kubernetes)"
	gcc -static -Os -DVERSION=v3.10-graceful -o "$STATE/images/pause" "$src" || die "gcc -static pause.c failed (libc6-dev installed?)"
	strip "$STATE/images/pause" 2>/dev/null || true
	"$ROOT/bin/mkimage" -name "$PAUSE_IMAGE" -o "$STATE/images/pause.tar" -file "/pause=$STATE/images/pause" -entrypoint /pause -user 65535:65535
	ctr_k8s images import "$STATE/images/pause.tar" >/dev/null || die "ctr images import of the pause image failed"
	say "imported $PAUSE_IMAGE (static pause from k8s.io/kubernetes build/pause)"
fi

# ---- controller-manager, scheduler, kubelet, kube-proxy
start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
	--kubeconfig "$STATE/controller-manager.kubeconfig" \
	--authentication-kubeconfig "$STATE/controller-manager.kubeconfig" --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
	--leader-elect=false --use-service-account-credentials \
	--root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
	--cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
	--service-cluster-ip-range "$SERVICE_CIDR" --bind-address 127.0.0.1
start kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig "$STATE/scheduler.kubeconfig" \
	--authentication-kubeconfig "$STATE/scheduler.kubeconfig" --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
	--leader-elect=false --bind-address 127.0.0.1

mkdir -p "$STATE/kubelet" "$STATE/pod-logs" "$STATE/volume-plugins"
echo "# no DNS in the graceful test cluster" >"$STATE/resolv.conf"
cat >"$STATE/kubelet.yaml" <<KL
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
containerRuntimeEndpoint: "unix://$CTR_SOCK"
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
resolvConf: "$STATE/resolv.conf"
podLogsDir: "$STATE/pod-logs"
volumePluginDir: "$STATE/volume-plugins"
serializeImagePulls: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
featureGates: {ContainerStopSignals: true}
KL
port_free kubelet 10250
start kubelet "$K8S_BIN/kubelet" --config "$STATE/kubelet.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
	--root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" \
	--node-ip "$NODE_IP" --hostname-override "$NODE_NAME"
if [[ $KUBE_PROXY == 1 ]]; then
	start kube-proxy "$K8S_BIN/kube-proxy" --kubeconfig "$STATE/kube-proxy.kubeconfig" \
		--proxy-mode iptables --conntrack-max-per-core 0 --hostname-override "$NODE_NAME" \
		--cluster-cidr 10.244.0.0/16 --metrics-bind-address 127.0.0.1:10249
fi

# Ready, and said so by this kubelet: etcd keeps the last run's node status.
kubelet_since=$(date -u -d "@$(($(stat -c %Y "$PIDS/kubelet.pid") - 1))" +%FT%TZ)
node_ready() {
	api "/api/v1/nodes/$NODE_NAME" |
		jq -e --arg since "$kubelet_since" '.status.conditions[] | select(.type=="Ready") | .status=="True" and .lastHeartbeatTime >= $since' >/dev/null
}
wait_for "node $NODE_NAME Ready" 120 node_ready
# graceful.dev/image-volume=true says the node's runtime mounts image
# volumes (containerd >= 2.1): graceful's imageVolume delivery asks for it
# (docs/operating.md). Set and removed here, as the node object outlives a
# switch of RUNTIME.
case $RUNTIME in
containerd2) label='"true"' ;;
*) label=null ;;
esac
api_patch "/api/v1/nodes/$NODE_NAME" "{\"metadata\":{\"labels\":{\"graceful.dev/image-volume\":$label}}}" ||
	die "labelling node $NODE_NAME graceful.dev/image-volume failed"
wait_for "the default service account" 60 api /api/v1/namespaces/default/serviceaccounts/default

printf 'cluster: up in %.1fs\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
say "export KUBECONFIG=$KUBECONFIG_ADMIN"
say "logs: $LOGS/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy,containerd,registry}.log"
say "test image registry: $REGISTRY (plain HTTP; reachable from the host and from containerd)"
say "containers: $ROOT/bin/tools/crictl --runtime-endpoint unix://$CTR_SOCK ps -a"
