package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entry is one file of the image: a copy of the host file Src, or a
// symbolic link to Link. Path is absolute inside the image.
type Entry struct {
	Path string
	Src  string
	Link string
	Mode int64 // default 0o755
}

// FileSpec describes a one-layer image made of host files: graceful's own
// image (Build), the local cluster's pause image and the e2e test images.
type FileSpec struct {
	Entries    []Entry
	Entrypoint []string
	Cmd        []string
	User       string
	Env        []string
	WorkingDir string
	StopSignal string // the image's STOPSIGNAL, e.g. "SIGQUIT"
	Labels     map[string]string
	Platform   v1.Platform // default linux/amd64
}

// Busybox returns entries for a static busybox at /bin/busybox (copied from
// src) and a /bin symlink to it for every applet.
func Busybox(src string, applets ...string) []Entry {
	es := []Entry{{Path: "/bin/busybox", Src: src}}
	for _, a := range applets {
		es = append(es, Entry{Path: "/bin/" + a, Link: "busybox"})
	}
	return es
}

// BuildFiles assembles an image of one layer. File times are fixed so that
// the same inputs give the same digest.
func BuildFiles(s FileSpec) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	entries := append([]Entry(nil), s.Entries...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	for _, e := range entries {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || e.Path == "/" {
			return nil, fmt.Errorf("image entry %q: want a clean absolute file path", e.Path)
		}
		if (e.Src == "") == (e.Link == "") {
			return nil, fmt.Errorf("image entry %q: set exactly one of Src and Link", e.Path)
		}
		// Parent directories first, each once.
		parts := strings.Split(strings.TrimPrefix(path.Dir(e.Path), "/"), "/")
		for i := range parts {
			d := strings.Join(parts[:i+1], "/") + "/"
			if d == "/" || dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
				return nil, fmt.Errorf("image layer: %w", err)
			}
		}
		name := strings.TrimPrefix(e.Path, "/")
		if e.Link != "" {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: e.Link, Mode: 0o777, ModTime: epoch}); err != nil {
				return nil, fmt.Errorf("image layer: %w", err)
			}
			continue
		}
		mode := e.Mode
		if mode == 0 {
			mode = 0o755
		}
		if err := addFile(tw, name, e.Src, mode, epoch); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	// OCI media types throughout, as the layout and the index are OCI's.
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	p := s.Platform
	if p.OS == "" {
		p = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.Cmd = s.Cmd
	cf.Config.User = s.User
	cf.Config.Env = s.Env
	cf.Config.WorkingDir = s.WorkingDir
	cf.Config.StopSignal = s.StopSignal
	cf.Config.Labels = s.Labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	return img, nil
}

func addFile(tw *tar.Writer, name, src string, mode int64, mtime time.Time) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("image file %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("image file %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("image file %s: source %s is not a regular file", name, src)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: fi.Size(), ModTime: mtime}); err != nil {
		return fmt.Errorf("image file %s: %w", name, err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("image file %s: %w", name, err)
	}
	return nil
}
