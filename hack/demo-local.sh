#!/usr/bin/env bash
# A local demo of what graceful-init changes, without a cluster (root needed).
#
# A "container" is a fresh PID namespace. Its workload is a shell that starts a
# worker and a setsid daemon; all three trap SIGTERM and need 1 s of cleanup,
# logged as "cleanup-done". It is stopped the way a kubelet does it: SIGTERM to
# PID 1, then SIGKILL when the grace period (5 s) is over. Run 1 has the shell
# as PID 1, run 2 wraps it with graceful-init. Takes seconds (12 s at most);
# exits non-zero if graceful-init did not let all three finish their cleanup,
# so it is also a check.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${GRACEFUL_INIT:-$ROOT/bin/graceful-init}
GRACE=5

[[ $(id -u) == 0 ]] || { echo "demo: needs root (it creates PID namespaces)" >&2; exit 1; }
command -v unshare >/dev/null || { echo "demo: unshare missing: run hack/install-deps.sh" >&2; exit 1; }
if [[ ! -x $BIN ]]; then
	echo "demo: building graceful-init"
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -tags graceful_linkname -ldflags '-s -w -checklinkname=0' -o "$BIN" ./cmd/init)
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
# The main shell (PID 1's command): starts a worker in its process group and a
# daemon that left it (setsid), and cleans up on TERM too.
cat >"$work/main.sh" <<MAIN
log=\$1
trap 'echo "shell got-SIGTERM" >>"\$log"; sleep 1; echo "shell cleanup-done" >>"\$log"; exit 0' TERM
echo "shell running" >>"\$log"
sh $work/job.sh worker "\$log" &
setsid sh $work/job.sh daemon "\$log" &
wait
MAIN

run() { # name, then the PID 1 command prefix
	local name=$1 log=$work/$1.log
	shift
	: >"$log"
	unshare --pid --fork --mount-proc "$@" sh "$work/main.sh" "$log" 2>"$work/$name.stderr" &
	local ushare=$! pid1=""
	for _ in $(seq 500); do
		pid1=$(cat /proc/$ushare/task/$ushare/children 2>/dev/null | awk '{print $1}')
		[[ -n $pid1 ]] && [[ $(grep -c running "$log") -ge 3 ]] && break
		sleep 0.01
	done
	[[ -n $pid1 && $(grep -c running "$log") -ge 3 ]] || { echo "demo: [$name] the shell, worker and daemon did not all start within 5 s" >&2; kill -KILL "${pid1:-$ushare}" 2>/dev/null; exit 1; }
	echo "demo: [$name] PID 1 is: $*${*:+ }sh main.sh; sending SIGTERM (grace period ${GRACE}s)"
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
	echo "demo: [$name] namespace empty after $(printf %.2f "$took")s; log: $(grep -v running "$log" | tr '\n' ' ')"
	eval "${name}_took=$(printf %.2f "$took") ${name}_killed=$killed"
	for who in shell worker daemon; do
		local term=no done=no
		grep -q "$who got-SIGTERM" "$log" && term=yes
		grep -q "$who cleanup-done" "$log" && done=yes
		# Each loops until TERM and then exits after cleanup; ending any other
		# way means SIGKILL (by us at the grace period, or by the kernel when
		# PID 1 exits and takes its namespace down).
		local fate="SIGKILLed"
		[[ $done == yes ]] && fate="cleanup done"
		[[ $term == yes ]] && fate="SIGTERM, $fate" || fate="no SIGTERM, $fate"
		eval "${name}_${who}=\$fate ${name}_${who}_done=$done"
	done
}

command -v bc >/dev/null || { echo "demo: bc missing: run hack/install-deps.sh" >&2; exit 1; }
run plain
run graceful "$BIN" --grace-period=${GRACE}s --
echo
echo "graceful-init's own log:"
grep '^graceful-init' "$work/graceful.stderr" | sed 's/^/  /' || true
echo
printf '| %-23s | %-30s | %-30s |\n' "" "(a) shell as PID 1" "(b) graceful-init as PID 1"
printf '|%s|%s|%s|\n' "-------------------------" "--------------------------------" "--------------------------------"
printf '| %-23s | %-30s | %-30s |\n' "shell (main process)" "$plain_shell" "$graceful_shell"
printf '| %-23s | %-30s | %-30s |\n' "worker (same group)" "$plain_worker" "$graceful_worker"
printf '| %-23s | %-30s | %-30s |\n' "daemon (setsid)" "$plain_daemon" "$graceful_daemon"
printf '| %-23s | %-30s | %-30s |\n' "SIGKILL at grace period" "$plain_killed" "$graceful_killed"
printf '| %-23s | %-30s | %-30s |\n' "shutdown took" "${plain_took}s" "${graceful_took}s"
if [[ $graceful_shell_done$graceful_worker_done$graceful_daemon_done$graceful_killed != yesyesyesno ]]; then
	echo "demo: FAILED: graceful-init did not let all three processes finish their cleanup" >&2
	exit 1
fi
echo "demo: ok: with graceful-init all three processes finished their cleanup"
