package ociimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	src := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(src, []byte("#!/bin/true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := FileSpec{
		Entries:    append(Busybox(src, "sh", "sleep"), Entry{Path: "/usr/local/bin/x", Src: src, Mode: 0o555}),
		Entrypoint: []string{"/bin/sh", "-c"},
		Cmd:        []string{"sleep 1"},
		User:       "65532:65532",
	}
	img, err := BuildFiles(spec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := BuildFiles(spec)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("same inputs, different digests %s and %s", d1, d2)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, spec.Entrypoint) || !slices.Equal(cf.Config.Cmd, spec.Cmd) || cf.Config.User != spec.User || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("config = %+v, os %s arch %s", cf.Config, cf.OS, cf.Architecture)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e := h.Name
		switch h.Typeflag {
		case tar.TypeSymlink:
			e += " -> " + h.Linkname
		case tar.TypeReg:
			e += " " + strings.TrimPrefix(os.FileMode(h.Mode).String(), "-")
		}
		got = append(got, e)
	}
	want := []string{"bin/", "bin/busybox rwxr-xr-x", "bin/sh -> busybox", "bin/sleep -> busybox", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/x r-xr-xr-x"}
	if !slices.Equal(got, want) {
		t.Errorf("layer entries\n got %q\nwant %q", got, want)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		e    Entry
		want string
	}{
		{Entry{Path: "bin/x", Link: "y"}, "clean absolute"},
		{Entry{Path: "/bin/../x", Link: "y"}, "clean absolute"},
		{Entry{Path: "/x"}, "exactly one of Src and Link"},
		{Entry{Path: "/x", Src: "/a", Link: "b"}, "exactly one of Src and Link"},
		{Entry{Path: "/x", Src: "/nonexistent/file"}, "no such file"},
		{Entry{Path: "/x", Src: "/"}, "not a regular file"},
	} {
		_, err := BuildFiles(FileSpec{Entries: []Entry{tc.e}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%+v) error %v, want one containing %q", tc.e, err, tc.want)
		}
	}
}
