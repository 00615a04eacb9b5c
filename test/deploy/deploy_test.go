package deploy

import (
	"archive/tar"
	"context"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graceful-dev/graceful/hack/ociimage"
)

func file(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPushImagesIndex: graceful's image goes to the registry as an index,
// by the index's digest, which the chart values name; a node of each
// platform in it pulls that platform's image, with that platform's
// binaries. Platforms whose binaries are not all there are left out.
func TestPushImagesIndex(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	reg := u.Host

	dir := t.TempDir()
	host := HostPlatform()
	arm := v1.Platform{OS: "linux", Architecture: "arm64"}
	if host.Equals(arm) {
		arm = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	file(t, dir, ociimage.PlatformDir(arm)+"/graceful-init", "init "+arm.String())
	file(t, dir, ociimage.PlatformDir(arm)+"/graceful-webhook", "webhook "+arm.String())
	file(t, dir, "linux_s390x/graceful-init", "only the init") // no webhook: left out
	src := Sources{
		Init:    file(t, dir, "graceful-init", "init host"),
		Webhook: file(t, dir, "graceful-webhook", "webhook host"),
		More:    OtherPlatforms(dir),
		Busybox: file(t, dir, "busybox", "busybox"),
	}
	if len(src.More) != 1 || !src.More[0].Platform.Equals(arm) {
		t.Fatalf("OtherPlatforms = %+v, want %s only", src.More, arm.String())
	}
	ims, err := PushImages(context.Background(), reg, "t", src)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := Values(ims, reg)
	if err != nil {
		t.Fatal(err)
	}
	img := vals["image"].(map[string]any)
	if img["repository"] != reg+"/graceful" || !strings.HasPrefix(img["digest"].(string), "sha256:") {
		t.Fatalf("chart image values %v", img)
	}
	ref, err := name.ParseReference(ims.Graceful)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !desc.MediaType.IsIndex() || desc.Digest.String() != img["digest"] {
		t.Fatalf("%s: media type %s digest %s, want an index by the chart's digest", ims.Graceful, desc.MediaType, desc.Digest)
	}
	for p, want := range map[string]string{host.String(): "init host", arm.String(): "init " + arm.String()} {
		pp, _ := v1.ParsePlatform(p)
		im, err := remote.Image(ref, remote.WithPlatform(*pp))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		cf, err := im.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != pp.Architecture {
			t.Errorf("a %s node pulls a %s image", p, cf.Architecture)
		}
		ls, err := im.Layers()
		if err != nil || len(ls) != 1 {
			t.Fatalf("%s: layers %d %v", p, len(ls), err)
		}
		if !layerHas(t, ls[0], "usr/local/bin/graceful-init", want) {
			t.Errorf("%s: graceful-init is not %q", p, want)
		}
	}
	if _, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "s390x"})); err == nil {
		t.Errorf("a linux/s390x image without its webhook binary is in the index")
	}
}

func layerHas(t *testing.T, l v1.Layer, name, content string) bool {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return false
		}
		if h.Name == name {
			b, _ := io.ReadAll(tr)
			return string(b) == content
		}
	}
}
