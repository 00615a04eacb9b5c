#!/usr/bin/env bash
# Stops the cluster of hack/cluster/up.sh: only the daemons it recorded, the
# containers of its containerd, the mounts under its state folder and its
# network namespace. Idempotent. Keeps $STATE (PKI, etcd data, images) for a
# fast next start unless --purge is given.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
purge=0
case ${1:-} in
"") ;;
--purge) purge=1 ;;
*) die "usage: hack/cluster/down.sh [--purge]" ;;
esac
[[ $(id -u) == 0 ]] || die "must run as root"
if [[ ! -d $STATE ]]; then
	say "nothing to stop ($STATE does not exist)"
	exit 0
fi
mkdir -p "$PIDS"
exec 9>"$STATE/.lock"
flock -w 30 9 || die "another up.sh or down.sh runs on $STATE"

for d in kube-proxy kube-scheduler kube-controller-manager kubelet; do stop "$d"; done

# The ctr of the containerd that runs (up.sh wrote its RUNTIME; a state
# folder from before RUNTIME existed ran Debian's containerd 1.6).
CTR=$(ctr_bin "$(cat "$STATE/runtime" 2>/dev/null || echo containerd1)")

# The pods' containers outlive containerd (their shims are separate): end them
# through containerd while it still runs.
if proc_alive "$PIDS/containerd.pid"; then
	tasks=$(ctr_k8s tasks ls -q 2>/dev/null || true)
	for t in $tasks; do ctr_k8s tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
	# The CRI plugin deletes the tasks of killed containers itself; give it 5 s.
	for _ in {1..50}; do
		[[ -z $(ctr_k8s tasks ls -q 2>/dev/null) ]] && break
		sleep 0.1
	done
	for t in $(ctr_k8s tasks ls -q 2>/dev/null || true); do ctr_k8s tasks delete -f "$t" >/dev/null 2>&1 || true; done
	for c in $(ctr_k8s containers ls -q 2>/dev/null || true); do ctr_k8s containers delete "$c" >/dev/null 2>&1 || true; done
	[[ -n $tasks ]] && say "killed $(wc -w <<<"$tasks") containers"
fi
stop containerd
# Shims of our containerd (found by its socket, never by name) that are still there.
for f in $(grep -lsaF -- "$CTR_SOCK" /proc/[0-9]*/cmdline); do
	pid=${f#/proc/}
	pid=${pid%/cmdline}
	cmd=$({ tr '\0' ' ' <"$f"; } 2>/dev/null) || continue
	if [[ $cmd == *containerd-shim*" -address $CTR_SOCK "* ]]; then
		kill -KILL "$pid" 2>/dev/null && say "killed leftover shim $pid"
	fi
done
# apiserver before etcd: without etcd it hangs on SIGTERM.
for d in kube-apiserver etcd registry; do stop "$d"; done

# Mounts that the kubelet and containerd left under the state folder, deepest first.
mapfile -t mounts < <(findmnt -rn -o TARGET | awk -v s="$STATE/" 'index($0, s) == 1' | sort -r)
for m in "${mounts[@]}"; do
	umount "$m" 2>/dev/null || umount -l "$m" || say "could not unmount $m"
done
((${#mounts[@]})) && say "unmounted ${#mounts[@]} mounts under $STATE"

if [[ -e /run/netns/$NETNS ]]; then
	ip netns del "$NETNS"
	say "deleted network namespace $NETNS"
fi
ip link del "$VETH_HOST" 2>/dev/null || true

if ((purge)); then
	rm -rf "$STATE"
	say "removed $STATE"
fi
say "down"
