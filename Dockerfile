# graceful: one image, both binaries, static, non-root, for several platforms.
# Platforms: linux/amd64,linux/arm64,linux/arm/v7,linux/ppc64le,linux/s390x
# Build: make docker-build, i.e. docker buildx build --platform <the list above> -t graceful:dev .
# (machines without Docker: make image). The build stage runs on the build
# machine's platform and cross-compiles (CGO off) for each target's.
# hack/imagebuild writes the same image without Docker; a test keeps the two in step.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS TARGETARCH TARGETVARIANT
ENV CGO_ENABLED=0
# -tags graceful_linkname with -checklinkname=0: graceful-init reads the signal state it was started with from the Go runtime (docs/init.md).
# GOARM is the variant's number (v7: 7), empty and unused off arm.
RUN export GOOS="$TARGETOS" GOARCH="$TARGETARCH" GOARM="${TARGETVARIANT#v}" && \
    go build -trimpath -tags graceful_linkname -ldflags "-s -w -checklinkname=0 -X github.com/graceful-dev/graceful/pkg/version.Version=${VERSION}" -o /out/graceful-init ./cmd/init && \
    go build -trimpath -ldflags "-s -w -X github.com/graceful-dev/graceful/pkg/version.Version=${VERSION}" -o /out/graceful-webhook ./cmd/webhook

FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="graceful" \
      org.opencontainers.image.description="Graceful shutdown for multi-process containers: a mutating webhook and a small init" \
      org.opencontainers.image.source="https://github.com/graceful-dev/graceful" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build --chmod=0555 /out/graceful-init /usr/local/bin/graceful-init
COPY --from=build --chmod=0555 /out/graceful-webhook /usr/local/bin/graceful-webhook
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/graceful-webhook"]
CMD ["serve"]
