// Command imagebuild writes graceful's image without Docker (see hack/ociimage):
//
//	go run ./hack/imagebuild -init bin/graceful-init -webhook bin/graceful-webhook -o bin/graceful-image.tar [-push 127.0.0.1:5000/graceful:dev]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graceful-dev/graceful/hack/ociimage"
)

func main() {
	initBin := flag.String("init", "bin/graceful-init", "static graceful-init")
	webhookBin := flag.String("webhook", "bin/graceful-webhook", "static graceful-webhook")
	version := flag.String("version", "dev", "version label")
	ref := flag.String("name", "graceful.dev/graceful:dev", "image name recorded in the layout")
	out := flag.String("o", "bin/graceful-image.tar", "OCI image layout tar to write ('' to skip)")
	push := flag.String("push", "", "also push to this reference (plain HTTP for 127.0.0.1/localhost)")
	flag.Parse()

	img, err := ociimage.Build(ociimage.Spec{InitBinary: *initBin, WebhookBinary: *webhookBin, Version: *version})
	if err != nil {
		fail(err)
	}
	if *out != "" {
		if err := ociimage.WriteLayoutTar(img, *ref, *out); err != nil {
			fail(err)
		}
		d, _ := img.Digest()
		fmt.Printf("wrote %s (%s, %s)\n", *out, *ref, d)
	}
	if *push != "" {
		r, err := name.ParseReference(*push)
		if err != nil {
			fail(fmt.Errorf("-push %q: %w", *push, err))
		}
		if err := remote.Write(r, img); err != nil {
			fail(fmt.Errorf("push %s: %w", *push, err))
		}
		fmt.Printf("pushed %s\n", *push)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "imagebuild:", err)
	os.Exit(1)
}
