# graceful: run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/graceful-dev/graceful/pkg/version.Version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
# graceful-init passes on the whole signal state it was started with only when
# built with this tag and -checklinkname=0 (pkg/init/sigcatch, docs/init.md);
# the two go together wherever the init is built.
INIT_TAGS := graceful_linkname
GOFLAGS_INIT := -trimpath -tags $(INIT_TAGS) -ldflags '$(LDFLAGS) -checklinkname=0'
BIN := $(CURDIR)/bin
CONTROLLER_GEN := go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
# etcd and kube-apiserver for envtest, built from the Go module proxy by hack/k8s-binaries.sh
export KUBEBUILDER_ASSETS ?= $(BIN)/k8s
# Fuzz budgets are execution counts, not durations: on Go 1.26 a duration
# -fuzztime can end a clean run with a spurious "context deadline exceeded"
# (golang/go#75804, fixed in Go 1.27); it failed a CI run here. FUZZTIME, if
# set (e.g. 10m or 1000000x), overrides them all.
FUZZ_PARSE ?= 300000x
FUZZ_DECIDE ?= 50000x
FUZZ_HANDLE ?= 50000x
FUZZ_ESCAPE ?= 50000x

##@ General
.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Run
.PHONY: demo
demo: deps build ## The demo: a local cluster (or the KUBECONFIG one), the chart, a multi-process pod stopped without and with graceful (root).
	hack/tools.sh helm
	GRACEFUL_CLUSTER_DIR=$(CLUSTER_DIR) hack/demo.sh up

.PHONY: demo-down
demo-down: ## Remove the demo and the release; stop the local cluster (not a KUBECONFIG one).
	GRACEFUL_CLUSTER_DIR=$(CLUSTER_DIR) hack/demo.sh down

.PHONY: demo-local
demo-local: build-init ## The same contrast in seconds without a cluster: PID namespaces on this machine (root).
	GRACEFUL_INIT=$(BIN)/graceful-init hack/demo-local.sh

.PHONY: deps
deps: ## Install the Debian packages the demo and the tests use (root; a no-op once installed).
	hack/install-deps.sh

##@ Benchmarks
.PHONY: bench
bench: bench-init bench-webhook bench-drift ## Every benchmark (root; docs/benchmarks.md).

.PHONY: bench-webhook
bench-webhook: envtest-bin ## Load test: graceful-webhook vs a no-op webhook over TLS (docs/benchmarks.md).
	go run ./hack/loadgen -rate 1000 -concurrency 32 -duration 10s -rounds 2

.PHONY: bench-init
bench-init: ## graceful-init vs tini, dumb-init, catatonit as PID 1 (root; a few minutes; docs/benchmarks.md).
	hack/bench-init.sh

.PHONY: bench-drift
bench-drift: build envtest-bin ## Memory of the fleet controllers: graceful-webhook's RSS with 5,000 pods in envtest, drift controller off vs on (docs/benchmarks.md).
	go run ./hack/driftrss -webhook $(BIN)/graceful-webhook -pods 5000

##@ Build
.PHONY: build
build: build-init ## Build static graceful-init and graceful-webhook into bin/.
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o $(BIN)/graceful-webhook ./cmd/webhook

.PHONY: build-init
build-init: ## Build static graceful-init into bin/ (tag graceful_linkname, -checklinkname=0: see docs/init.md).
	CGO_ENABLED=0 go build $(GOFLAGS_INIT) -o $(BIN)/graceful-init ./cmd/init

# The image's platforms: hack/ociimage.Platforms and the Dockerfile's list say
# the same (a test keeps them in step). Each one's binaries go to
# bin/<os>_<arch>[_<variant>]/.
PLATFORMS ?= linux/amd64,linux/arm64,linux/arm/v7,linux/ppc64le,linux/s390x
comma := ,

.PHONY: build-platforms
build-platforms: ## Cross-build static graceful-init and graceful-webhook for each of PLATFORMS into bin/<os>_<arch>[_<variant>]/.
	@set -e; for p in $(subst $(comma), ,$(PLATFORMS)); do \
	  IFS=/ read -r os arch variant <<< "$$p"; \
	  dir=$(BIN)/$${os}_$${arch}$${variant:+_$$variant}; \
	  echo "$$p: $$dir"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$${variant#v} go build $(GOFLAGS_INIT) -o $$dir/graceful-init ./cmd/init; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$${variant#v} go build $(GOFLAGS_BUILD) -o $$dir/graceful-webhook ./cmd/webhook; \
	done

.PHONY: image
image: build-platforms ## Build the image without Docker: an OCI layout tar in bin/graceful-image.tar, an index of PLATFORMS.
	go run ./hack/imagebuild -bin $(BIN) -platforms $(PLATFORMS) -version $(VERSION) -o $(BIN)/graceful-image.tar

.PHONY: docker-build
docker-build: ## Build the image with Docker buildx for PLATFORMS, no attestation manifests, as make image (machines with a Docker engine; add --push or --output to keep the index).
	docker buildx build --platform $(PLATFORMS) --provenance=false --sbom=false --build-arg VERSION=$(VERSION) -t graceful:$(VERSION) .

# A release: VERSION (semver with a leading v) and REGISTRY (host:port) are
# required; REPO is an optional path prefix in the registry; PLAIN_HTTP=true
# for a registry that speaks plain HTTP (loopback ones are reached so anyway).
# The input and the registry are checked before anything is built.
REGISTRY ?=
REPO ?=
PLAIN_HTTP ?= false
RELEASE_ARGS = -version '$(VERSION)' -registry '$(REGISTRY)' -repo '$(REPO)' -plain-http=$(PLAIN_HTTP)

.PHONY: release
release: ## Publish a release: make release VERSION=v0.2.0 REGISTRY=host:port [REPO=prefix] [PLAIN_HTTP=true]: image index and chart pushed, files in bin/release/VERSION (docs/releasing.md).
	@if [ "$(origin VERSION)" = file ]; then echo "release: VERSION is missing: give a semantic version with a leading v, e.g. make release VERSION=v0.2.0 REGISTRY=host:port" >&2; exit 1; fi
	@go build -o $(BIN)/release-tool ./hack/release
	$(BIN)/release-tool -check $(RELEASE_ARGS)
	hack/tools.sh helm cyclonedx-gomod
	$(MAKE) --no-print-directory build-platforms VERSION='$(VERSION)' BIN=$(BIN)/release-build/$(VERSION)
	$(BIN)/release-tool $(RELEASE_ARGS) -platforms $(PLATFORMS) -bin $(BIN)/release-build/$(VERSION) \
	  -out $(BIN)/release/$(VERSION) -helm $(BIN)/tools/helm -cyclonedx $(BIN)/tools/cyclonedx-gomod -init-tags $(INIT_TAGS)

.PHONY: tools
tools: ## Build helm, kustomize, golangci-lint, crictl, promtool and cyclonedx-gomod from the Go module proxy into bin/tools (cached).
	hack/tools.sh

.PHONY: helm-lint
helm-lint: tools ## Lint the chart with every ci values file.
	for f in charts/graceful/ci/*-values.yaml; do $(BIN)/tools/helm lint --strict charts/graceful -f $$f || exit 1; done

.PHONY: generate
generate: ## Regenerate deepcopy code, the CRD and config/rbac/role.yaml (from pkg/webhook/server/rbac.go) with controller-gen.
	$(CONTROLLER_GEN) object paths=./pkg/api/... crd:crdVersions=v1 output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=graceful-webhook paths=./pkg/webhook/... output:rbac:artifacts:config=config/rbac
	cp config/crd/bases/graceful.dev_shutdownpolicies.yaml charts/graceful/crds/

.PHONY: verify-generated
verify-generated: generate ## Fail when generated files are stale.
	@git diff --exit-code -- pkg/api config/crd config/rbac/role.yaml charts/graceful/crds || { echo "generated files are stale: run 'make generate' and commit" >&2; exit 1; }

##@ Test

.PHONY: lint
# hack/promqlnames is a module of its own (test/chart's PromQL parser, kept out
# of go.mod): ./... does not reach it.
lint: tools ## gofmt, go vet and golangci-lint (.golangci.yml), the e2e files included.
	@out=$$(gofmt -l cmd pkg hack test 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:" >&2; echo "$$out" >&2; exit 1; fi
	go vet ./...
	go vet -tags e2e ./test/e2e
	go vet -tags $(INIT_TAGS) ./cmd/init ./pkg/init/...
	$(BIN)/tools/golangci-lint run --allow-parallel-runners --build-tags e2e ./...
	$(BIN)/tools/golangci-lint run --allow-parallel-runners --build-tags $(INIT_TAGS) ./cmd/init/... ./pkg/init/...
	go -C hack/promqlnames vet ./...
	cd hack/promqlnames && $(BIN)/tools/golangci-lint run --allow-parallel-runners --config $(CURDIR)/.golangci.yml ./...

.PHONY: envtest-bin
envtest-bin: ## Build etcd and kube-apiserver for envtest into bin/k8s (cached).
	hack/k8s-binaries.sh $(BIN)/k8s envtest

.PHONY: test
test: deps test-unit test-emulated test-e2e-runtimes ## Run every test: test-unit, the arm64 process tests under qemu-user, then the e2e (on both runtimes of the local cluster unless KUBECONFIG is set) (root).

# The pure unit tests: no root, no envtest, no cluster. Tests that need a
# control plane skip themselves under -short; `make test` never passes it.
FAST_PKGS := ./pkg/contract/... ./pkg/drift/... ./pkg/inject/... ./pkg/init/... ./pkg/webhook/options/... ./pkg/webhook/admit/handlerfuzz/... ./hack/ociimage/... ./test/envtestenv/... ./test/podrun/... ./test/seed/...

.PHONY: test-fast
test-fast: ## The pure unit tests, for the edit loop: no root, no envtest, under a minute.
	go test -short -count=1 $(FAST_PKGS)

.PHONY: test-emulated
test-emulated: deps ## graceful-init's process tests for linux/arm64, under qemu-user (root; docs/init.md).
	hack/test-emulated.sh

.PHONY: test-unit
test-unit: deps lint verify-generated build envtest-bin tools ## Every test but the e2e: lint, generated files, unit, envtest, PID 1 in PID namespaces, fuzz (root).
	go test -count=1 ./...
	go -C hack/promqlnames test -count=1 ./...
	$(MAKE) fuzz

.PHONY: fuzz
fuzz: ## Short fuzz runs of every fuzz target (execution counts; FUZZTIME=10m for longer).
	go test ./pkg/init/flags -run '^$$' -fuzz FuzzParse -fuzztime $(or $(FUZZTIME),$(FUZZ_PARSE))
	go test ./pkg/inject/decision -run '^$$' -fuzz FuzzDecide -fuzztime $(or $(FUZZTIME),$(FUZZ_DECIDE))
	go test ./pkg/webhook/admit/handlerfuzz -run '^$$' -fuzz FuzzHandle -fuzztime $(or $(FUZZTIME),$(FUZZ_HANDLE))
	go test ./pkg/inject/rewrite -run '^$$' -fuzz FuzzEscapeExpansion -fuzztime $(or $(FUZZTIME),$(FUZZ_ESCAPE))

##@ Local cluster and e2e
CLUSTER_DIR ?= /var/lib/graceful-cluster
# The node's container runtime: containerd2 (containerd 2.4 + runc 1.4, built
# by hack/containerd-binaries.sh) or containerd1 (Debian's 1.6 + runc 1.1).
# A running cluster keeps its runtime: make cluster-down before switching.
RUNTIME ?= containerd2
E2E_REGISTRY ?= 10.200.0.2:5000
# The local cluster's own admin kubeconfig is the local cluster, not a cluster
# of the user's: with KUBECONFIG pointing at it, the demo and the e2e behave as
# with no KUBECONFIG at all (bring the cluster up, replace the demo's release).
ifneq ($(KUBECONFIG),)
ifeq ($(abspath $(KUBECONFIG)),$(abspath $(CLUSTER_DIR)/admin.kubeconfig))
override KUBECONFIG :=
unexport KUBECONFIG
endif
endif

.PHONY: cluster-up
cluster-up: ## Bring up the local single-node cluster in its own network namespace, RUNTIME=containerd2|containerd1 (root; see docs/e2e.md).
	RUNTIME=$(RUNTIME) GRACEFUL_CLUSTER_DIR=$(CLUSTER_DIR) hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the local cluster (keeps its state for a fast restart; hack/cluster/down.sh --purge removes it).
	GRACEFUL_CLUSTER_DIR=$(CLUSTER_DIR) hack/cluster/down.sh

# The e2e cases that still have to work on containerd 1.6: the webhook's
# install, the pods with the init container delivery (and the image volume
# pod that must stay Pending there), the uninstall.
E2E_RUN_CONTAINERD1 ?= TestWebhook/^(install|opted-in-pod|pods|uninstall)$$

.PHONY: test-e2e-runtimes
test-e2e-runtimes: build tools ## The e2e on both runtimes of the local cluster: E2E_RUN_CONTAINERD1 on containerd 1.6, then all of it on containerd 2 (the second runs when the first fails), the cluster stopped between and after (root; on a KUBECONFIG cluster: test-e2e).
	@if [ -n "$$KUBECONFIG" ]; then $(MAKE) --no-print-directory test-e2e; exit; fi; \
	t0=$$(date +%s); rc1=0; rc2=0; \
	GRACEFUL_CLUSTER_DIR=$(CLUSTER_DIR) hack/cluster/down.sh || exit 1; \
	$(MAKE) --no-print-directory test-e2e RUNTIME=containerd1 E2E_RUN='$(E2E_RUN_CONTAINERD1)' || rc1=$$?; t1=$$(date +%s); \
	GRACEFUL_CLUSTER_DIR=$(CLUSTER_DIR) hack/cluster/down.sh || exit 1; \
	$(MAKE) --no-print-directory test-e2e RUNTIME=containerd2 || rc2=$$?; t2=$$(date +%s); \
	GRACEFUL_CLUSTER_DIR=$(CLUSTER_DIR) hack/cluster/down.sh || exit 1; \
	echo "e2e: containerd1 $$((t1 - t0))s (exit $$rc1), containerd2 $$((t2 - t1))s (exit $$rc2) (each: cluster up, tests)" | tee -a $(BIN)/e2e-report.txt; \
	[ $$rc1 = 0 ] && [ $$rc2 = 0 ]

.PHONY: test-e2e
test-e2e: build tools ## End-to-end tests on the KUBECONFIG cluster (set E2E_REGISTRY), or on the local cluster (RUNTIME): brought up, the demo removed, left up; E2E_RUN=regexp for a subset (root).
	@if [ -z "$$KUBECONFIG" ]; then RUNTIME=$(RUNTIME) GRACEFUL_CLUSTER_DIR=$(CLUSTER_DIR) hack/cluster/up.sh || exit 1; \
		KUBECONFIG=$(CLUSTER_DIR)/admin.kubeconfig go run ./hack/demo -down -helm $(BIN)/tools/helm || exit 1; fi; \
	export KUBECONFIG=$${KUBECONFIG:-$(CLUSTER_DIR)/admin.kubeconfig}; \
	E2E_REGISTRY=$(E2E_REGISTRY) GRACEFUL_INIT=$(BIN)/graceful-init GRACEFUL_WEBHOOK=$(BIN)/graceful-webhook \
	E2E_REPORT=$(BIN)/e2e-report.txt go test -tags e2e -count=1 -timeout 20m -v $(if $(E2E_RUN),-run '$(E2E_RUN)') ./test/e2e/
