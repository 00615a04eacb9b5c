// Command imagebuild writes graceful's image without Docker (see hack/ociimage):
// an image index with one image per platform, from binaries that
// `make build-platforms` cross-built into BIN/<os>_<arch>[_<variant>]/,
//
//	go run ./hack/imagebuild -bin bin -platforms linux/amd64,linux/arm64 -o bin/graceful-image.tar [-push 127.0.0.1:5000/graceful:dev]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graceful-dev/graceful/hack/ociimage"
)

func main() {
	binDir := flag.String("bin", "bin", "directory holding <os>_<arch>[_<variant>]/graceful-{init,webhook}")
	platforms := flag.String("platforms", "linux/amd64", "comma-separated platforms (os/arch[/variant]) of the image index")
	version := flag.String("version", "dev", "version label")
	ref := flag.String("name", "graceful.dev/graceful:dev", "image name recorded in the layout")
	out := flag.String("o", "bin/graceful-image.tar", "OCI image layout tar to write ('' to skip)")
	push := flag.String("push", "", "also push to this reference (plain HTTP for 127.0.0.1/localhost)")
	flag.Parse()

	var bins []ociimage.Binaries
	for _, s := range strings.Split(*platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			fail(fmt.Errorf("-platforms: %w", err))
		}
		dir := filepath.Join(*binDir, ociimage.PlatformDir(*p))
		bins = append(bins, ociimage.Binaries{Platform: *p, InitBinary: filepath.Join(dir, "graceful-init"), WebhookBinary: filepath.Join(dir, "graceful-webhook")})
	}
	idx, err := ociimage.BuildIndex(*version, bins)
	if err != nil {
		fail(err)
	}
	d, err := idx.Digest()
	if err != nil {
		fail(err)
	}
	if *out != "" {
		if err := ociimage.WriteIndexLayoutTar(idx, *ref, *out); err != nil {
			fail(err)
		}
		fmt.Printf("wrote %s (%s, index %s)\n", *out, *ref, d)
		m, err := idx.IndexManifest()
		if err != nil {
			fail(err)
		}
		for _, desc := range m.Manifests {
			img, err := idx.Image(desc.Digest)
			if err != nil {
				fail(err)
			}
			var layers int64
			ls, err := img.Layers()
			if err != nil {
				fail(err)
			}
			for _, l := range ls {
				n, err := l.Size()
				if err != nil {
					fail(err)
				}
				layers += n
			}
			fmt.Printf("  %-14s %s  layer %d bytes\n", desc.Platform.String(), desc.Digest, layers)
		}
	}
	if *push != "" {
		ref, err := ociimage.PushIndex(context.Background(), *push, idx, false)
		if err != nil {
			fail(err)
		}
		fmt.Printf("pushed %s\n", ref)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "imagebuild:", err)
	os.Exit(1)
}
