// Package ociimage builds graceful's container image without Docker: the two
// static binaries in one layer, non-root, with the same paths, user,
// entrypoint and labels as the Dockerfile (a test keeps the two in step), and
// writes it as an OCI image layout tar that `ctr images import` loads, or
// pushes it to a registry.
package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

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
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, fmt.Errorf("image layer: %w", err)
		}
	}
	// A fixed order: the same binaries must give the same layer digest.
	for _, f := range []struct{ dst, src string }{{contract.ImageInitPath, s.InitBinary}, {contract.ImageWebhookPath, s.WebhookBinary}} {
		if err := addFile(tw, strings.TrimPrefix(f.dst, "/"), f.src, epoch); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	p := s.Platform
	if p.OS == "" {
		p = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: epoch}
	cf.Config.User = User
	cf.Config.Entrypoint = Entrypoint
	cf.Config.Cmd = Cmd
	cf.Config.Labels = Labels(s.Version)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	return img, nil
}

func addFile(tw *tar.Writer, name, src string, mtime time.Time) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: FileMode, Size: fi.Size(), ModTime: mtime}); err != nil {
		return fmt.Errorf("image layer %s: %w", name, err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("image layer %s: %w", name, err)
	}
	return nil
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
