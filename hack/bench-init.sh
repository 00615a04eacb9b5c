#!/usr/bin/env bash
# Benchmarks graceful-init side by side with Debian's tini, dumb-init and
# catatonit, each as PID 1 of a fresh PID namespace (root needed). Prints a
# Markdown report; docs/benchmarks.md holds one. Bounded: a few minutes.
#
#   hack/bench-init.sh [benchinit flags, e.g. -n-signal 5000]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[[ $(id -u) == 0 ]] || { echo "bench-init: needs root (PID namespaces)" >&2; exit 1; }
hack/install-deps.sh
make -s build-init
gcc -O2 -Wall -o bin/benchprobe hack/benchinit/probe/probe.c
go run ./hack/benchinit -graceful-init bin/graceful-init -probe bin/benchprobe "$@"
