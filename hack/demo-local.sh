#!/usr/bin/env bash
# A local demo of what graceful-init changes, without a cluster (root needed).
#
# A "container" is a fresh PID namespace. Its workload is a shell that starts a
# worker and a setsid daemon, each of which needs 1 s of cleanup after SIGTERM.
# It is stopped the way a kubelet does it: SIGTERM to PID 1, then SIGKILL when
# the grace period (5 s) is over. Run 1 has the shell as PID 1, run 2 wraps it
# with graceful-init. Exits non-zero if graceful-init did not let both finish.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${GRACEFUL_INIT:-$ROOT/bin/graceful-init}
GRACE=5

[[ $(id -u) == 0 ]] || { echo "demo: needs root (it creates PID namespaces)" >&2; exit 1; }
command -v unshare >/dev/null || { echo "demo: unshare missing: run hack/install-deps.sh" >&2; exit 1; }
if [[ ! -x $BIN ]]; then
	echo "demo: building graceful-init"
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w -checklinkname=0' -o "$BIN" ./cmd/init)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The workload. job.sh NAME LOG: log SIGTERM, take 1 s to clean up, log that.
cat >"$work/job.sh" <<'JOB'
name=$1 log=$2
trap 'echo "$name got-SIGTERM" >>"$log"; sleep 1; echo "$name cleanup-done" >>"$log"; exit 0' TERM
echo "$name running" >>"$log"
while :; do sleep 0.05; done
JOB
# PID 1's script: a worker in its process group and a daemon that left it.
workload="sh $work/job.sh worker \$1 & setsid sh $work/job.sh daemon \$1 & wait"

run() { # name, then the PID 1 command prefix
	local name=$1 log=$work/$1.log
	shift
	: >"$log"
	unshare --pid --fork --mount-proc "$@" sh -c "$workload" sh "$log" 2>"$work/$name.stderr" &
	local ushare=$! pid1=""
	for _ in $(seq 500); do
		pid1=$(cat /proc/$ushare/task/$ushare/children 2>/dev/null | awk '{print $1}')
		[[ -n $pid1 ]] && [[ $(grep -c running "$log") -ge 2 ]] && break
		sleep 0.01
	done
	[[ -n $pid1 ]] || { echo "demo: $name did not start" >&2; exit 1; }
	echo "demo: [$name] PID 1 is: $*${*:+ }sh -c <workload>; sending SIGTERM (grace period ${GRACE}s)"
	local start=$(date +%s.%N) killed=no
	kill -TERM "$pid1"
	while kill -0 "$ushare" 2>/dev/null; do
		if (($(echo "$(date +%s.%N) - $start >= $GRACE" | bc))); then
			echo "demo: [$name] grace period over: SIGKILL to PID 1 (the kernel then kills the rest)"
			kill -KILL "$pid1" 2>/dev/null || true
			killed=yes
			wait "$ushare" 2>/dev/null || true
			break
		fi
		sleep 0.02
	done
	wait "$ushare" 2>/dev/null || true
	local took=$(echo "$(date +%s.%N) - $start" | bc)
	eval "${name}_took=$(printf %.2f "$took") ${name}_killed=$killed"
	for who in worker daemon; do
		eval "${name}_${who}_term=$(grep -q "$who got-SIGTERM" "$log" && echo yes || echo no)"
		eval "${name}_${who}_done=$(grep -q "$who cleanup-done" "$log" && echo yes || echo no)"
	done
}

command -v bc >/dev/null || { echo "demo: bc missing: run hack/install-deps.sh" >&2; exit 1; }
run plain
run graceful "$BIN" --grace-period=${GRACE}s --
echo
echo "graceful-init's own log:"
sed 's/^/  /' "$work/graceful.stderr"
echo
printf '%-34s %-18s %-18s\n' "" "shell as PID 1" "graceful-init"
printf '%-34s %-18s %-18s\n' "worker got SIGTERM" "$plain_worker_term" "$graceful_worker_term"
printf '%-34s %-18s %-18s\n' "worker finished its cleanup" "$plain_worker_done" "$graceful_worker_done"
printf '%-34s %-18s %-18s\n' "setsid daemon got SIGTERM" "$plain_daemon_term" "$graceful_daemon_term"
printf '%-34s %-18s %-18s\n' "setsid daemon finished its cleanup" "$plain_daemon_done" "$graceful_daemon_done"
printf '%-34s %-18s %-18s\n' "SIGKILLed at the grace period" "$plain_killed" "$graceful_killed"
printf '%-34s %-18s %-18s\n' "shutdown took" "${plain_took}s" "${graceful_took}s"
if [[ $graceful_worker_done$graceful_daemon_done$graceful_killed != yesyesno ]]; then
	echo "demo: FAILED: graceful-init did not let every process finish" >&2
	exit 1
fi
