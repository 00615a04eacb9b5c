// Package ociimage builds container images from host files without Docker:
// graceful's own image (Build: the two static binaries in one layer,
// non-root, with the same paths, user, entrypoint and labels as the
// Dockerfile, which a test keeps in step) and the small images of the local
// cluster and the e2e tests (BuildFiles). BuildIndex puts Build's image for
// each platform into one image index. WriteLayoutTar and WriteIndexLayoutTar
// write an OCI image layout tar that `ctr images import` loads.
package ociimage

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// Spec is what goes into the image.
type Spec struct {
	InitBinary    string // path of a static graceful-init
	WebhookBinary string // path of a static graceful-webhook
	Version       string
	Platform      v1.Platform // default linux/amd64
}

// The image's fixed parts; the Dockerfile says the same.
var (
	User       = fmt.Sprintf("%d:%d", contract.ImageUID, contract.ImageUID)
	Entrypoint = []string{contract.ImageWebhookPath}
	Cmd        = []string{"serve"}
	FileMode   = int64(0o555)
)

// Platforms are the image's platforms, in the index's order: those
// graceful-init builds for (pkg/init/sigcatch). The Makefile's PLATFORMS and
// the Dockerfile say the same.
var Platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "arm", Variant: "v7"},
	{OS: "linux", Architecture: "ppc64le"},
	{OS: "linux", Architecture: "s390x"},
}

// PlatformDir is the directory under bin/ that the Makefile builds p's
// binaries into: <os>_<arch>[_<variant>].
func PlatformDir(p v1.Platform) string {
	d := p.OS + "_" + p.Architecture
	if p.Variant != "" {
		d += "_" + p.Variant
	}
	return d
}

// Binaries are one platform's static graceful-init and graceful-webhook.
type Binaries struct {
	Platform      v1.Platform
	InitBinary    string
	WebhookBinary string
}

// BuildIndex assembles an image index holding Build's image for each of
// bins, in their order, each described by its platform. Nothing in it
// depends on the time or the host: the same binaries give the same digest.
func BuildIndex(version string, bins []Binaries) (v1.ImageIndex, error) {
	if len(bins) == 0 {
		return nil, fmt.Errorf("image index: no platforms")
	}
	seen := map[string]bool{}
	var adds []mutate.IndexAddendum
	for _, b := range bins {
		p := b.Platform
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("image index: platform %q: want os and architecture", p.String())
		}
		if seen[p.String()] {
			return nil, fmt.Errorf("image index: platform %s twice", p.String())
		}
		seen[p.String()] = true
		img, err := Build(Spec{InitBinary: b.InitBinary, WebhookBinary: b.WebhookBinary, Version: version, Platform: p})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.String(), err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.AppendManifests(empty.Index, adds...), nil
}

// Labels returns the OCI labels for version.
func Labels(version string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "graceful",
		"org.opencontainers.image.description": "Graceful shutdown for multi-process containers: a mutating webhook and a small init",
		"org.opencontainers.image.source":      "https://github.com/graceful-dev/graceful",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     version,
	}
}

// Build assembles the image. File times are fixed so that the same binaries
// give the same digest.
func Build(s Spec) (v1.Image, error) {
	return BuildFiles(FileSpec{
		Entries: []Entry{
			{Path: contract.ImageInitPath, Src: s.InitBinary, Mode: FileMode},
			{Path: contract.ImageWebhookPath, Src: s.WebhookBinary, Mode: FileMode},
		},
		User:       User,
		Entrypoint: Entrypoint,
		Cmd:        Cmd,
		Labels:     Labels(s.Version),
		Platform:   s.Platform,
	})
}

// WriteLayoutTar writes img as an OCI image layout tar at path, named name
// (the io.containerd.image.name annotation that `ctr images import` uses).
func WriteLayoutTar(img v1.Image, name, path string) error {
	return writeLayoutTar(name, path, func(lp layout.Path, o layout.Option) error { return lp.AppendImage(img, o) })
}

// WriteIndexLayoutTar writes idx as an OCI image layout tar at path, named
// name as in WriteLayoutTar: index.json points to idx, whose manifests are
// the platforms' images. The tar's bytes depend only on idx.
func WriteIndexLayoutTar(idx v1.ImageIndex, name, path string) error {
	return writeLayoutTar(name, path, func(lp layout.Path, o layout.Option) error { return lp.AppendIndex(idx, o) })
}

// writeLayoutTar writes a layout holding what add appends (with the name
// annotations) as a tar at path.
func writeLayoutTar(name, path string, add func(layout.Path, layout.Option) error) error {
	dir, err := os.MkdirTemp("", "graceful-oci-")
	if err != nil {
		return fmt.Errorf("oci layout: %w", err)
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("oci layout: %w", err)
	}
	if err := add(lp, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          name,
		"org.opencontainers.image.ref.name": name,
	})); err != nil {
		return fmt.Errorf("oci layout: %w", err)
	}
	return tarDir(dir, path)
}

func tarDir(dir, path string) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("oci layout tar: %w", err)
	}
	tw := tar.NewWriter(out)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		// Only names, kinds and contents: no times, owners or umask.
		hdr.Name = filepath.ToSlash(rel)
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.Mode = 0o644
		if fi.IsDir() {
			hdr.Name += "/"
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("oci layout tar %s: %w", path, err)
	}
	return nil
}
