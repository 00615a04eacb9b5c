// Package publish makes a release of graceful: the image index and the
// chart pushed to an OCI registry, and beside them, on disk, the binaries,
// the image's OCI layout tar, the packaged chart, an SBOM of each binary
// and a SHA256SUMS file. Everything is checked and built locally first;
// the pushes come last, so bad input pushes nothing.
package publish

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// Input is what names a release.
type Input struct {
	// Version is a semantic version with a leading v (v1.2.3, v1.2.3-rc.1).
	// It is the chart's version and appVersion, the image's tag and the
	// binaries' version.
	Version string
	// Registry is host[:port] of the OCI registry pushed to.
	Registry string
	// Repo is an optional path prefix in the registry: the image goes to
	// Registry/Repo/graceful, the chart to oci://Registry/Repo/charts.
	Repo string
	// PlainHTTP talks plain HTTP to the registry (helm push --plain-http,
	// crane --insecure). Off, only loopback registries are reached over
	// plain HTTP, as go-containerregistry does; helm gets --plain-http for
	// them too.
	PlainHTTP bool
}

// semverV is semver.org's grammar for a version without build metadata,
// with the leading v Go modules and image tags use.
var semverV = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?$`)

// repoPath is the grammar of a repository path prefix (distribution spec).
var repoPath = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)

// Check says what is wrong with in, naming the field, or nil. It does not
// touch the network (Reachable does).
func (in Input) Check() error {
	switch {
	case in.Version == "":
		return errors.New("VERSION is missing: give a semantic version with a leading v, e.g. VERSION=v0.2.0")
	case strings.Contains(in.Version, "+"):
		return fmt.Errorf("VERSION %q has build metadata (+...): an image tag can not hold '+'; use a pre-release (-rc.1) instead", in.Version)
	case !semverV.MatchString(in.Version):
		return fmt.Errorf("VERSION %q is not a semantic version with a leading v (e.g. v0.2.0, v1.0.0-rc.1)", in.Version)
	}
	if in.Registry == "" {
		return errors.New("REGISTRY is missing: give the registry as host:port, e.g. REGISTRY=127.0.0.1:5000")
	}
	if strings.Contains(in.Registry, "://") || strings.Contains(in.Registry, "/") {
		return fmt.Errorf("REGISTRY %q: want host[:port] without a scheme or a path (a path prefix goes into REPO)", in.Registry)
	}
	if _, err := name.NewRegistry(in.Registry, name.StrictValidation); err != nil {
		return fmt.Errorf("REGISTRY %q: %w", in.Registry, err)
	}
	if in.Repo != "" && !repoPath.MatchString(in.Repo) {
		return fmt.Errorf("REPO %q: want a lower-case repository path such as team/graceful, without leading or trailing '/'", in.Repo)
	}
	return nil
}

// ImageRepo is the repository the image index is pushed to.
func (in Input) ImageRepo() string { return join(in.Registry, in.Repo, "graceful") }

// ChartRepo is the OCI repository the chart is pushed under (helm push's
// destination; the chart is ChartRepo/graceful).
func (in Input) ChartRepo() string { return "oci://" + join(in.Registry, in.Repo, "charts") }

// HelmPlainHTTP says whether helm must be given --plain-http.
func (in Input) HelmPlainHTTP() bool { return in.PlainHTTP || loopback(in.Registry) }

func join(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, "/")
}

// loopback says whether registry's host is localhost or a loopback address.
func loopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Reachable checks, within 10 s, that in.Registry answers the distribution
// API's base endpoint (GET /v2/: 200, or 401 when it wants credentials).
func Reachable(ctx context.Context, in Input) error {
	scheme := "https"
	if in.PlainHTTP || loopback(in.Registry) {
		scheme = "http"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := scheme + "://" + in.Registry + "/v2/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("registry %s: %w", in.Registry, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("registry %s is not reachable (GET %s): %w", in.Registry, url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("registry %s: GET %s answered %s, not an OCI registry's 200 or 401", in.Registry, url, resp.Status)
	}
	return nil
}
