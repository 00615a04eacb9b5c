package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/inject/imageconfig"
	"github.com/graceful-dev/graceful/pkg/inject/manifest"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/pkg/version"
)

// defaultImage is the graceful image the install container runs unless --image says otherwise.
var defaultImage = "ghcr.io/graceful-dev/graceful:" + version.Version

func runInject(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inject", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "manifest file to rewrite, or - for stdin (required)")
	image := fs.String("image", defaultImage, "graceful image for the install container")
	all := fs.Bool("all", false, "decide every pod and workload as if its namespace were labelled graceful.dev/inject=enabled (a pod's own graceful.dev/inject: \"false\" still wins)")
	exclude := fs.String("exclude-namespaces", strings.Join(contract.SystemNamespaces(), ","), "comma-separated namespaces never injected")
	insecure := fs.String("insecure-registries", "", "comma-separated registries (host:port) reached over plain HTTP")
	timeout := fs.Duration("timeout", 2*time.Minute, "overall deadline for registry lookups")
	quiet := fs.Bool("quiet", false, "do not print warnings on stderr")
	delivery := fs.String("delivery", contract.DeliveryInitContainer, "how graceful-init reaches pods that do not say (graceful.dev/delivery): initContainer or imageVolume")
	nodeLabel := fs.String("image-volume-node-label", contract.LabelImageVolume, "node label (value true) that pods delivered by image volume require ('' for none)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: graceful-webhook inject -f FILE|- [flags]\n\nRewrites every Pod and pod template in a YAML stream as the webhook would, to stdout.\nImage configs (ENTRYPOINT, STOPSIGNAL) are looked up in their registry with the local docker config,\nfor every container but those that set both a command and lifecycle.stopSignal.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "graceful-webhook inject: -f FILE or -f - is required, and nothing else")
		fs.Usage()
		return 2
	}
	in := stdin
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintf(stderr, "graceful-webhook inject: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}

	cfg := rewrite.Config{Image: *image, Version: version.Version, Delivery: *delivery, ImageVolumeNodeLabel: *nodeLabel}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "graceful-webhook inject: %v\n", err)
		return 2
	}
	resolver := imageconfig.New(imageconfig.Options{Insecure: contract.SplitList(*insecure)})
	inj := &manifest.Injector{
		Config:             cfg,
		All:                *all,
		ExcludedNamespaces: contract.SplitList(*exclude),
		Resolve: func(ctx context.Context, ref string, pod *corev1.Pod) (rewrite.ImageConfig, error) {
			c, err := resolver.Resolve(ctx, ref, imageconfig.PlatformFor(pod), authn.DefaultKeychain)
			return c.ImageConfig, err
		},
	}
	if !*quiet {
		inj.Warn = func(s string) { fmt.Fprintf(stderr, "warning: %s\n", s) }
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := inj.Inject(ctx, in, stdout); err != nil {
		fmt.Fprintf(stderr, "graceful-webhook inject: %s: %v\n", *file, err)
		return 1
	}
	return 0
}
