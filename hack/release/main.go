// Command release publishes a release of graceful (package publish): the
// image index and the chart to an OCI registry, the binaries, image tar,
// chart, SBOMs and SHA256SUMS to a directory. `make release` runs it:
//
//	release -check -version v0.2.0 -registry 127.0.0.1:5000
//	release -version v0.2.0 -registry 127.0.0.1:5000 -bin bin -out bin/release/v0.2.0
//
// -check checks the input and that the registry answers, and nothing else,
// so that make stops before building anything.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graceful-dev/graceful/hack/release/publish"
)

func main() {
	var c publish.Config
	check := flag.Bool("check", false, "only check the input and that the registry answers")
	flag.StringVar(&c.Version, "version", "", "release version, semver with a leading v (v0.2.0)")
	flag.StringVar(&c.Registry, "registry", "", "registry host:port to push to")
	flag.StringVar(&c.Repo, "repo", "", "optional repository path prefix in the registry")
	flag.BoolVar(&c.PlainHTTP, "plain-http", false, "talk plain HTTP to the registry (automatic for loopback)")
	flag.StringVar(&c.Src, "src", ".", "module root holding charts/graceful, cmd/init and cmd/webhook")
	flag.StringVar(&c.Bin, "bin", "bin", "directory with <os>_<arch>[_<variant>]/graceful-{init,webhook}")
	platforms := flag.String("platforms", "linux/amd64", "comma-separated platforms of the image index")
	flag.StringVar(&c.Out, "out", "", "directory to write the release's files to (default bin/release/VERSION)")
	flag.StringVar(&c.Helm, "helm", "bin/tools/helm", "helm binary")
	flag.StringVar(&c.CycloneDX, "cyclonedx", "bin/tools/cyclonedx-gomod", "cyclonedx-gomod binary")
	flag.StringVar(&c.InitTags, "init-tags", "", "build tags graceful-init is built with")
	flag.BoolVar(&c.NoSBOM, "no-sbom", false, "write no SBOMs (a test release that nobody audits; make release never passes it)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.Check(); err != nil {
		fail(err)
	}
	if *check {
		if err := publish.Reachable(ctx, c.Input); err != nil {
			fail(err)
		}
		return
	}
	for _, s := range strings.Split(*platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			fail(fmt.Errorf("-platforms %q: %w", s, err))
		}
		c.Platforms = append(c.Platforms, *p)
	}
	if c.Out == "" {
		c.Out = "bin/release/" + c.Version
	}
	t0 := time.Now()
	r, err := publish.Publish(ctx, c)
	if err != nil {
		fail(err)
	}
	fmt.Printf("released %s in %.1fs\n", r.Version, time.Since(t0).Seconds())
	fmt.Printf("image index  %s\n             (tag %s)\n", r.Image.Ref, r.Image.Tag)
	for _, p := range r.Image.Platforms {
		fmt.Printf("  %-14s %s  %.1f MiB (layers + config)\n", p.Platform, p.Digest, float64(p.Size)/(1<<20))
	}
	fmt.Printf("chart        %s\n", r.Chart.Ref)
	fmt.Printf("install      %s\n", r.Chart.Install)
	fmt.Printf("files        %s: %s, SHA256SUMS, release.json\n", c.Out, strings.Join(r.Files, ", "))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "release:", err)
	os.Exit(1)
}
