#!/usr/bin/env bash
# Builds the command-line tools the tests use from the Go module proxy into
# bin/tools (ignored by git). Cached: a tool already built at the pinned
# version is not rebuilt.
#
#   hack/tools.sh            all tools
#   hack/tools.sh helm       one tool
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${TOOLS_DIR:-$ROOT/bin/tools}
declare -A tools=(
	[helm]=helm.sh/helm/v3/cmd/helm@v3.22.0
	[kustomize]=sigs.k8s.io/kustomize/kustomize/v5@v5.8.1
	[golangci-lint]=github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
	[crictl]=sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0
	[promtool]=github.com/prometheus/prometheus/cmd/promtool@v0.316.0
	[cyclonedx-gomod]=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
)
mkdir -p "$DEST"
for name in "${@:-${!tools[@]}}"; do
	pkg=${tools[$name]:-}
	[[ -n $pkg ]] || { echo "tools: unknown tool '$name' (known: ${!tools[*]})" >&2; exit 1; }
	stamp=$DEST/.$name.version
	if [[ -x $DEST/$name ]] && [[ $(cat "$stamp" 2>/dev/null) == "$pkg" ]]; then
		continue
	fi
	echo "tools: building $pkg"
	GOBIN=$DEST CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' "$pkg" 2>&1 | grep -v '^go: downloading' || true
	[[ -x $DEST/$name ]] || { echo "tools: building $name failed" >&2; exit 1; }
	echo "$pkg" >"$stamp"
done
