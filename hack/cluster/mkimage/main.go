// Command mkimage builds a one-layer image from host files (see
// hack/ociimage.BuildFiles) and writes it as an OCI layout tar for
// `ctr images import`, or pushes it to a plain-HTTP test registry:
//
//	mkimage -name registry.k8s.io/pause:3.10 -o pause.tar -file /pause=bin/pause -entrypoint /pause
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graceful-dev/graceful/hack/ociimage"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var files, links, entrypoint, cmd list
	ref := flag.String("name", "", "image name (required)")
	out := flag.String("o", "", "OCI layout tar to write")
	push := flag.Bool("push", false, "push to -name over plain HTTP")
	user := flag.String("user", "", "image user")
	flag.Var(&files, "file", "DEST=SRC: copy host file SRC to DEST (repeatable)")
	flag.Var(&links, "link", "DEST=TARGET: symbolic link (repeatable)")
	flag.Var(&entrypoint, "entrypoint", "ENTRYPOINT word (repeatable)")
	flag.Var(&cmd, "cmd", "CMD word (repeatable)")
	flag.Parse()
	if *ref == "" || (*out == "" && !*push) || flag.NArg() > 0 {
		fail(fmt.Errorf("-name and one of -o or -push are required, and no arguments"))
	}
	s := ociimage.FileSpec{Entrypoint: entrypoint, Cmd: cmd, User: *user}
	for _, f := range files {
		d, src, ok := strings.Cut(f, "=")
		if !ok {
			fail(fmt.Errorf("-file %q: want DEST=SRC", f))
		}
		s.Entries = append(s.Entries, ociimage.Entry{Path: d, Src: src})
	}
	for _, l := range links {
		d, t, ok := strings.Cut(l, "=")
		if !ok {
			fail(fmt.Errorf("-link %q: want DEST=TARGET", l))
		}
		s.Entries = append(s.Entries, ociimage.Entry{Path: d, Link: t})
	}
	img, err := ociimage.BuildFiles(s)
	if err != nil {
		fail(err)
	}
	if *out != "" {
		if err := ociimage.WriteLayoutTar(img, *ref, *out); err != nil {
			fail(err)
		}
	}
	if *push {
		r, err := name.ParseReference(*ref, name.Insecure)
		if err != nil {
			fail(fmt.Errorf("-name %q: %w", *ref, err))
		}
		if err := remote.Write(r, img); err != nil {
			fail(fmt.Errorf("push %s: %w", *ref, err))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkimage:", err)
	os.Exit(1)
}
