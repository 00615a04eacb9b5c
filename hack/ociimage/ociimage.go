// Package ociimage builds container images from host files without Docker:
// graceful's own image (Build: the two static binaries in one layer,
// non-root, with the same paths, user, entrypoint and labels as the
// Dockerfile, which a test keeps in step) and the small images of the local
// cluster and the e2e tests (BuildFiles). WriteLayoutTar writes an OCI image
// layout tar that `ctr images import` loads.
package ociimage

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

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
	dir, err := os.MkdirTemp("", "graceful-oci-")
	if err != nil {
		return fmt.Errorf("oci layout: %w", err)
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("oci layout: %w", err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
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
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
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
