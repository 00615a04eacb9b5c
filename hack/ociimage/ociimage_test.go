package ociimage

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func fakeBinaries(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	i, w := filepath.Join(dir, "init"), filepath.Join(dir, "webhook")
	if err := os.WriteFile(i, []byte("init-binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w, []byte("webhook-binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	return i, w
}

// dockerfile reads the final stage of the repository's Dockerfile.
type dockerfile struct {
	copies     map[string]string // destination → --chmod
	user       string
	entrypoint []string
	cmd        []string
	labels     map[string]string
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, keep only the last stage.
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	stages := regexp.MustCompile(`(?m)^FROM `).Split(text, -1)
	last := stages[len(stages)-1]
	d := dockerfile{copies: map[string]string{}, labels: map[string]string{}}
	for _, line := range strings.Split(last, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		rest := strings.TrimSpace(strings.TrimPrefix(line, f[0]))
		switch f[0] {
		case "COPY":
			chmod := ""
			for _, w := range f[1 : len(f)-1] {
				if strings.HasPrefix(w, "--chmod=") {
					chmod = strings.TrimPrefix(w, "--chmod=")
				}
			}
			d.copies[f[len(f)-1]] = chmod
		case "USER":
			d.user = rest
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &d.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT not in exec form: %v", err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(rest), &d.cmd); err != nil {
				t.Fatalf("CMD not in exec form: %v", err)
			}
		case "LABEL":
			for _, m := range regexp.MustCompile(`([\w.]+)="([^"]*)"`).FindAllStringSubmatch(rest, -1) {
				d.labels[m[1]] = m[2]
			}
		}
	}
	return d
}

// TestMatchesDockerfile: the Docker-free image and the Dockerfile agree on
// paths, modes, user, entrypoint, cmd and labels.
func TestMatchesDockerfile(t *testing.T) {
	df := parseDockerfile(t)
	i, w := fakeBinaries(t)
	img, err := Build(Spec{InitBinary: i, WebhookBinary: w, Version: "v9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != df.user {
		t.Errorf("user %q, Dockerfile %q", cf.Config.User, df.user)
	}
	if !reflect.DeepEqual(cf.Config.Entrypoint, df.entrypoint) || !reflect.DeepEqual(cf.Config.Cmd, df.cmd) {
		t.Errorf("entrypoint %q cmd %q, Dockerfile %q %q", cf.Config.Entrypoint, cf.Config.Cmd, df.entrypoint, df.cmd)
	}
	for k, v := range df.labels {
		if v == "${VERSION}" {
			v = "v9.9.9"
		}
		if cf.Config.Labels[k] != v {
			t.Errorf("label %s = %q, Dockerfile %q", k, cf.Config.Labels[k], v)
		}
	}
	if len(df.labels) != len(cf.Config.Labels) {
		t.Errorf("labels %v, Dockerfile %v", cf.Config.Labels, df.labels)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}

	files := layerFiles(t, img)
	var want []string
	for dst, chmod := range df.copies {
		want = append(want, strings.TrimPrefix(dst, "/")+" "+chmod)
	}
	sort.Strings(want)
	if !reflect.DeepEqual(files, want) {
		t.Errorf("image files %v, Dockerfile copies %v", files, want)
	}
}

func layerFiles(t *testing.T, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v %d", err, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var files []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files = append(files, fmt.Sprintf("%s %04o", h.Name, h.Mode&0o7777))
		}
	}
	sort.Strings(files)
	return files
}

// TestLayoutTar: the tar is an OCI layout holding the image under its name,
// and the same inputs give the same digest.
func TestLayoutTar(t *testing.T) {
	i, w := fakeBinaries(t)
	img, err := Build(Spec{InitBinary: i, WebhookBinary: w, Version: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Build(Spec{InitBinary: i, WebhookBinary: w, Version: "dev"})
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("not reproducible: %s vs %s", d1, d2)
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	if err := WriteLayoutTar(img, "graceful.dev/graceful:dev", out); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	untar(t, out, dir)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("index: %v %+v", err, m)
	}
	if m.Manifests[0].Digest != d1 || m.Manifests[0].Annotations["io.containerd.image.name"] != "graceful.dev/graceful:dev" {
		t.Errorf("index entry %+v, want digest %s named graceful.dev/graceful:dev", m.Manifests[0], d1)
	}
	if _, err := Build(Spec{InitBinary: "/nonexistent", WebhookBinary: w}); err == nil || !strings.Contains(err.Error(), "/nonexistent") {
		t.Errorf("missing binary: %v", err)
	}
}

func untar(t *testing.T, src, dst string) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
