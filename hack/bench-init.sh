#!/usr/bin/env bash
# Benchmarks graceful-init side by side with Debian's tini, dumb-init and
# catatonit, each as PID 1 of a fresh PID namespace (root needed), and prints
# a Markdown report; docs/benchmarks.md explains it and records a run. Stops
# by itself: every wait inside is bounded and the whole run is cut at 15 min.
#
#   hack/bench-init.sh [benchinit flags, e.g. -n-signal 8000 -seed=false]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[[ $(id -u) == 0 ]] || { echo "bench-init: needs root (PID namespaces)" >&2; exit 1; }
hack/install-deps.sh
for b in tini tini-static dumb-init catatonit gcc unshare; do
	command -v "$b" >/dev/null || { echo "bench-init: $b missing after hack/install-deps.sh" >&2; exit 1; }
done
make -s build-init
gcc -O2 -Wall -Werror -o bin/benchprobe hack/benchinit/probe/probe.c
go build -o bin/benchinit ./hack/benchinit
# nice -10: work of others on the machine disturbs the timings less (every
# init alike, as they alternate); BENCH_NICE=0 turns that off.
exec nice -n "-${BENCH_NICE:-10}" timeout --kill-after=10s 15m bin/benchinit -graceful-init bin/graceful-init -probe bin/benchprobe "$@"
