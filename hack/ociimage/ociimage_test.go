package ociimage

import (
	"archive/tar"
	"bytes"
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
	"github.com/google/go-containerregistry/pkg/v1/types"
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
	platforms  []string // the "# Platforms:" line
	build      string   // the build stage
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
	if len(stages) != 3 {
		t.Fatalf("Dockerfile: %d stages, want a build stage and the image", len(stages)-1)
	}
	last := stages[len(stages)-1]
	d := dockerfile{copies: map[string]string{}, labels: map[string]string{}, build: stages[1]}
	if m := regexp.MustCompile(`(?m)^# Platforms: (\S+)$`).FindStringSubmatch(text); m != nil {
		d.platforms = strings.Split(m[1], ",")
	}
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
	for _, p := range Platforms {
		t.Run(p.String(), func(t *testing.T) {
			img, err := Build(Spec{InitBinary: i, WebhookBinary: w, Version: "v9.9.9", Platform: p})
			if err != nil {
				t.Fatal(err)
			}
			matchesDockerfile(t, df, img, p)
		})
	}
}

func matchesDockerfile(t *testing.T, df dockerfile, img v1.Image, p v1.Platform) {
	t.Helper()
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
	if cf.OS != p.OS || cf.Architecture != p.Architecture || cf.Variant != p.Variant {
		t.Errorf("platform %s/%s/%s, want %s", cf.OS, cf.Architecture, cf.Variant, p.String())
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

// TestPlatformsInStep: the Dockerfile's platforms and the Makefile's
// PLATFORMS are Platforms, in its order, and the Dockerfile's build stage
// cross-compiles for the target platform buildx gives it.
func TestPlatformsInStep(t *testing.T) {
	var want []string
	for _, p := range Platforms {
		want = append(want, p.String())
	}
	df := parseDockerfile(t)
	if !reflect.DeepEqual(df.platforms, want) {
		t.Errorf("Dockerfile platforms %q, Platforms %q", df.platforms, want)
	}
	for _, s := range []string{"--platform=$BUILDPLATFORM", "ARG TARGETOS TARGETARCH TARGETVARIANT", `GOOS="$TARGETOS"`, `GOARCH="$TARGETARCH"`, `GOARM="${TARGETVARIANT#v}"`, "CGO_ENABLED=0"} {
		if !strings.Contains(df.build, s) {
			t.Errorf("Dockerfile build stage lacks %s", s)
		}
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PLATFORMS \?= (\S+)$`).FindSubmatch(mk)
	if m == nil || !reflect.DeepEqual(strings.Split(string(m[1]), ","), want) {
		t.Errorf("Makefile PLATFORMS %q, Platforms %q", m, want)
	}
	for _, p := range Platforms {
		q, err := v1.ParsePlatform(p.String())
		if err != nil || !q.Equals(p) {
			t.Errorf("platform %s does not parse back: %v %v", p.String(), q, err)
		}
	}
}

// platformBinaries writes fake binaries that differ per platform.
func platformBinaries(t *testing.T) []Binaries {
	t.Helper()
	dir := t.TempDir()
	var bins []Binaries
	for _, p := range Platforms {
		d := filepath.Join(dir, PlatformDir(p))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		b := Binaries{Platform: p, InitBinary: filepath.Join(d, "graceful-init"), WebhookBinary: filepath.Join(d, "graceful-webhook")}
		if err := os.WriteFile(b.InitBinary, []byte("init "+p.String()), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b.WebhookBinary, []byte("webhook "+p.String()), 0o755); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, b)
	}
	return bins
}

// TestIndexReproducible: building the index twice from the same binaries
// gives the same index digest and the same layout tar, byte for byte; the
// index holds one OCI image per platform, described by its platform, each
// as the Dockerfile says.
func TestIndexReproducible(t *testing.T) {
	bins := platformBinaries(t)
	var digests []v1.Hash
	var tars [][]byte
	for range 2 {
		idx, err := BuildIndex("v9.9.9", bins)
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "image.tar")
		if err := WriteIndexLayoutTar(idx, "graceful.dev/graceful:v9.9.9", out); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		digests, tars = append(digests, d), append(tars, b)
	}
	if digests[0] != digests[1] {
		t.Errorf("same binaries, index digests %s and %s", digests[0], digests[1])
	}
	if !bytes.Equal(tars[0], tars[1]) {
		t.Errorf("same binaries, different layout tars")
	}

	top, e := readLayoutTar(t, writeTar(t, tars[0]))
	if e.Digest != digests[0] || e.MediaType != types.OCIImageIndex || e.Annotations["io.containerd.image.name"] != "graceful.dev/graceful:v9.9.9" {
		t.Fatalf("index.json entry %+v, want the index %s named graceful.dev/graceful:v9.9.9", e, digests[0])
	}
	idx, err := top.ImageIndex(digests[0])
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != len(Platforms) {
		t.Fatalf("index has %d manifests, want %d", len(im.Manifests), len(Platforms))
	}
	df := parseDockerfile(t)
	for i, desc := range im.Manifests {
		want := Platforms[i]
		if desc.Platform == nil || !desc.Platform.Equals(want) || desc.MediaType != types.OCIManifestSchema1 {
			t.Errorf("manifest %d: platform %v media type %s, want %s %s", i, desc.Platform, desc.MediaType, want.String(), types.OCIManifestSchema1)
			continue
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		matchesDockerfile(t, df, img, want)
		ls, _ := img.Layers()
		rc, err := ls[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			got[h.Name] = string(b)
		}
		rc.Close()
		if got["usr/local/bin/graceful-init"] != "init "+want.String() || got["usr/local/bin/graceful-webhook"] != "webhook "+want.String() {
			t.Errorf("%s: the image holds another platform's binaries: %q", want.String(), got)
		}
	}

	if _, err := BuildIndex("v", append(bins, bins[0])); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a platform twice: %v", err)
	}
	if _, err := BuildIndex("v", nil); err == nil {
		t.Errorf("no platforms: no error")
	}
}

func writeTar(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "layout.tar")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
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
	if _, e := readLayoutTar(t, out); e.Digest != d1 || e.Annotations["io.containerd.image.name"] != "graceful.dev/graceful:dev" {
		t.Errorf("index entry %+v, want digest %s named graceful.dev/graceful:dev", e, d1)
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

// readLayoutTar unpacks the OCI layout tar at path and returns its top
// index (index.json) and that index's one entry.
func readLayoutTar(t *testing.T, path string) (v1.ImageIndex, v1.Descriptor) {
	t.Helper()
	dir := t.TempDir()
	untar(t, path, dir)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := top.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("index.json: %v %+v, want one entry", err, m)
	}
	return top, m.Manifests[0]
}
