package publish

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestCheck(t *testing.T) {
	ok := Input{Version: "v0.2.0", Registry: "127.0.0.1:5000"}
	for _, in := range []Input{
		ok,
		{Version: "v1.0.0-rc.1", Registry: "registry.example.com"},
		{Version: "v10.20.30-alpha.beta-1", Registry: "[::1]:5000", Repo: "team/tools"},
	} {
		if err := in.Check(); err != nil {
			t.Errorf("%+v: %v", in, err)
		}
	}
	for _, c := range []struct {
		in   Input
		want string
	}{
		{Input{Registry: "r:1"}, "VERSION is missing"},
		{Input{Version: "0.2.0", Registry: "r:1"}, `VERSION "0.2.0" is not a semantic version with a leading v`},
		{Input{Version: "v0.2", Registry: "r:1"}, "not a semantic version"},
		{Input{Version: "v01.2.3", Registry: "r:1"}, "not a semantic version"},
		{Input{Version: "v1.2.3-", Registry: "r:1"}, "not a semantic version"},
		{Input{Version: "v1.2.3+build.5", Registry: "r:1"}, "build metadata"},
		{Input{Version: "v1.2.3"}, "REGISTRY is missing"},
		{Input{Version: "v1.2.3", Registry: "http://r:1"}, "without a scheme"},
		{Input{Version: "v1.2.3", Registry: "r:1/charts"}, "a path prefix goes into REPO"},
		{Input{Version: "v1.2.3", Registry: "r:1", Repo: "Team"}, `REPO "Team"`},
		{Input{Version: "v1.2.3", Registry: "r:1", Repo: "/team"}, `REPO "/team"`},
	} {
		err := c.in.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.in, err, c.want)
		}
	}
}

func TestRefs(t *testing.T) {
	in := Input{Version: "v0.2.0", Registry: "10.0.0.1:5000", Repo: "team"}
	if got, want := in.ImageRepo(), "10.0.0.1:5000/team/graceful"; got != want {
		t.Errorf("ImageRepo %q, want %q", got, want)
	}
	if got, want := in.ChartRepo(), "oci://10.0.0.1:5000/team/charts"; got != want {
		t.Errorf("ChartRepo %q, want %q", got, want)
	}
	in.Repo = ""
	if got, want := in.ChartRepo(), "oci://10.0.0.1:5000/charts"; got != want {
		t.Errorf("ChartRepo %q, want %q", got, want)
	}
	for reg, want := range map[string]bool{"127.0.0.1:5000": true, "localhost:1": true, "[::1]:5000": true, "10.0.0.1:5000": false, "registry.example.com": false} {
		if got := (Input{Registry: reg}).HelmPlainHTTP(); got != want {
			t.Errorf("HelmPlainHTTP for %s: %v, want %v", reg, got, want)
		}
	}
	if !(Input{Registry: "10.0.0.1:5000", PlainHTTP: true}).HelmPlainHTTP() {
		t.Error("PlainHTTP set: HelmPlainHTTP false")
	}
}

// TestSetChartImage edits the chart's own values.yaml: only the image's
// repository and digest change.
func TestSetChartImage(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("..", "..", "..", "charts", "graceful", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	got, err := SetChartImage(orig, "127.0.0.1:5000/graceful", digest)
	if err != nil {
		t.Fatal(err)
	}
	var before, after map[string]any
	if err := yaml.Unmarshal(orig, &before); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(got, &after); err != nil {
		t.Fatalf("edited values do not parse: %v\n%s", err, got)
	}
	img := after["image"].(map[string]any)
	if img["repository"] != "127.0.0.1:5000/graceful" || img["digest"] != digest {
		t.Errorf("image values %v", img)
	}
	bimg := before["image"].(map[string]any)
	bimg["repository"], bimg["digest"] = img["repository"], img["digest"]
	if !reflect.DeepEqual(before, after) {
		t.Errorf("values other than image.repository and image.digest changed:\n%s", got)
	}
	if n, m := strings.Count(string(orig), "# --"), strings.Count(string(got), "# --"); n != m {
		t.Errorf("%d comments before, %d after", n, m)
	}

	for name, values := range map[string]string{
		"no image block":   "replicaCount: 2\n",
		"no digest":        "image:\n  repository: r\n  tag: \"\"\n",
		"nested deeper":    "image:\n  sub:\n    repository: r\n    digest: \"\"\n",
		"digest elsewhere": "image:\n  repository: r\nother:\n  digest: \"\"\n",
	} {
		if _, err := SetChartImage([]byte(values), "r", digest); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := SetChartImage(orig, "r", "latest"); err == nil || !strings.Contains(err.Error(), "not a sha256 digest") {
		t.Errorf("a digest that is not sha256: error %v", err)
	}
}

func TestSHA256Sums(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "linux_amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	for f, body := range map[string]string{"linux_amd64/b": "", "a.tgz": "abc"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := SHA256Sums(dir, []string{"linux_amd64/b", "a.tgz"})
	if err != nil {
		t.Fatal(err)
	}
	want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.tgz\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  linux_amd64/b\n"
	if string(got) != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
	if _, err := SHA256Sums(dir, []string{"missing"}); err == nil {
		t.Error("a missing file: no error")
	}
}
