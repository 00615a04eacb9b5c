package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/hack/release/publish"
)

// The release test runs `make release` from the repository root against
// hack/registry on 127.0.0.1, for two platforms (all five take a few
// minutes more to build and say nothing more about the flow).
const (
	testVersion   = "v0.0.0-releasetest"
	testPlatforms = "linux/amd64,linux/arm64"
)

var root = func() string { r, _ := filepath.Abs("../.."); return r }()

// startRegistry runs hack/registry on a free loopback port until the test
// ends and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "registry")
	if out, err := exec.Command("go", "build", "-o", bin, "../registry").CombinedOutput(); err != nil {
		t.Fatalf("build hack/registry: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-quiet")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	re := regexp.MustCompile(`serving on http://(\S+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, stderr) }()
			return m[1]
		}
	}
	t.Fatalf("hack/registry did not say where it serves: %v", sc.Err())
	return ""
}

// catalog lists the registry's repositories.
func catalog(t *testing.T, reg string) []string {
	t.Helper()
	resp, err := http.Get("http://" + reg + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct{ Repositories []string }
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c.Repositories
}

func makeRelease(args ...string) (string, error) {
	cmd := exec.Command("make", append([]string{"--no-print-directory", "release"}, args...)...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func helm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(root, "bin/tools/helm"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestReleaseBadInput: each bad input stops make release with an error
// naming it, and nothing reaches the registry.
func TestReleaseBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make")
	}
	reg := startRegistry(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"REGISTRY=" + reg}, "VERSION is missing"},
		{[]string{"VERSION=0.2.0", "REGISTRY=" + reg}, `VERSION "0.2.0" is not a semantic version with a leading v`},
		{[]string{"VERSION=v0.2", "REGISTRY=" + reg}, `VERSION "v0.2" is not a semantic version`},
		{[]string{"VERSION=v0.2.0"}, "REGISTRY is missing"},
		{[]string{"VERSION=v0.2.0", "REGISTRY=http://" + reg}, "without a scheme"},
		{[]string{"VERSION=v0.2.0", "REGISTRY=" + closed}, "registry " + closed + " is not reachable"},
	} {
		t0 := time.Now()
		out, err := makeRelease(c.args...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("make release %s: %v, want an error saying %q; output:\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
		if strings.Contains(out, "build-platforms") {
			t.Errorf("make release %s: built before it stopped:\n%s", strings.Join(c.args, " "), out)
		}
		t.Logf("make release %s: stopped in %.1fs", strings.Join(c.args, " "), time.Since(t0).Seconds())
	}
	if got := catalog(t, reg); len(got) != 0 {
		t.Errorf("the registry holds %v after only bad input", got)
	}
}

// TestRelease: make release pushes an index of the platforms and a chart
// naming it by digest; the chart pulled back renders the image by that
// digest; the checksums verify; the SBOMs list each binary's modules.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make and builds every binary twice")
	}
	reg := startRegistry(t)
	t0 := time.Now()
	out, err := makeRelease("VERSION="+testVersion, "REGISTRY="+reg, "PLATFORMS="+testPlatforms)
	if err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	t.Logf("make release (%s): %.1fs\n%s", testPlatforms, time.Since(t0).Seconds(), out)
	dir := filepath.Join(root, "bin/release", testVersion)
	var rec publish.Result
	b, err := os.ReadFile(filepath.Join(dir, "release.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, rec.Image.Ref) || !strings.Contains(out, rec.Chart.Ref) {
		t.Errorf("make release does not print the index %s and the chart %s it pushed", rec.Image.Ref, rec.Chart.Ref)
	}

	// The index in the registry, by its tag: the platforms asked for.
	tag, err := name.ParseReference(reg + "/graceful:" + testVersion)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(tag)
	if err != nil {
		t.Fatalf("the pushed index: %v", err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	wantRef := reg + "/graceful@" + d.String()
	if rec.Image.Ref != wantRef {
		t.Errorf("release.json names the index %s; the registry's tag %s is %s", rec.Image.Ref, tag, wantRef)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, desc := range m.Manifests {
		plats = append(plats, desc.Platform.String())
	}
	if got := strings.Join(plats, ","); got != testPlatforms {
		t.Errorf("index platforms %s, want %s", got, testPlatforms)
	}

	// The chart in the registry: its values name that index.
	chart := "oci://" + reg + "/charts/graceful"
	var values struct {
		Image struct{ Repository, Digest string }
	}
	if err := yaml.Unmarshal([]byte(helm(t, "show", "values", chart, "--version", testVersion, "--plain-http")), &values); err != nil {
		t.Fatal(err)
	}
	if values.Image.Digest != d.String() || values.Image.Repository != reg+"/graceful" {
		t.Errorf("the pushed chart's image values %+v, want repository %s/graceful and digest %s", values.Image, reg, d)
	}
	pulled := t.TempDir()
	helm(t, "pull", chart, "--version", testVersion, "--plain-http", "--destination", pulled)
	tgz := filepath.Join(pulled, "graceful-"+testVersion+".tgz")
	meta := helm(t, "show", "chart", tgz)
	for _, want := range []string{"version: " + testVersion, "appVersion: " + testVersion} {
		if !strings.Contains(meta, want+"\n") {
			t.Errorf("the pulled chart's Chart.yaml lacks %q:\n%s", want, meta)
		}
	}
	rendered := helm(t, "template", "graceful", tgz, "--namespace", "graceful-system")
	if n := strings.Count(rendered, "image: "+wantRef+"\n"); n != 1 {
		t.Errorf("the pulled chart renders the webhook image %s %d times, want once:\n%s", wantRef, n, rendered)
	}
	if !strings.Contains(rendered, wantRef) || strings.Contains(rendered, ":"+testVersion+"\n") {
		t.Errorf("the rendered chart does not name the image by digest only")
	}
	same, err := os.ReadFile(filepath.Join(dir, "graceful-"+testVersion+".tgz"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(tgz); err != nil || !bytes.Equal(got, same) {
		t.Errorf("the pulled chart differs from bin/release's (%v)", err)
	}

	// The checksums verify and cover every binary, the image tar and the chart.
	sum := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	sum.Dir = dir
	if out, err := sum.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check: %v\n%s", err, out)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"graceful-image.tar", "graceful-" + testVersion + ".tgz"}
	for _, p := range []string{"linux_amd64", "linux_arm64"} {
		for _, f := range []string{"graceful-init", "graceful-webhook", "graceful-init.cdx.json", "graceful-webhook.cdx.json"} {
			want = append(want, p+"/"+f)
		}
	}
	for _, f := range want {
		if !regexp.MustCompile(`(?m)^[0-9a-f]{64}  ` + regexp.QuoteMeta(f) + `$`).Match(sums) {
			t.Errorf("SHA256SUMS has no line for %s:\n%s", f, sums)
		}
	}
	if v, err := exec.Command(filepath.Join(dir, "linux_amd64/graceful-init"), "--version").CombinedOutput(); err != nil || !strings.Contains(string(v), testVersion) {
		t.Errorf("graceful-init --version: %v %q, want %s", err, v, testVersion)
	}

	// The SBOMs: the main module at the release's version; the webhook's
	// modules include k8s.io/api, the init's are golang.org/x/sys alone.
	for _, p := range []string{"linux_amd64", "linux_arm64"} {
		web := sbomModules(t, filepath.Join(dir, p, "graceful-webhook.cdx.json"))
		for _, m := range []string{"k8s.io/api", "sigs.k8s.io/controller-runtime", "golang.org/x/sys"} {
			if !slices.Contains(web, m) {
				t.Errorf("%s graceful-webhook SBOM lacks %s: %v", p, m, web)
			}
		}
		if got := sbomModules(t, filepath.Join(dir, p, "graceful-init.cdx.json")); !slices.Equal(got, []string{"golang.org/x/sys"}) {
			t.Errorf("%s graceful-init SBOM lists %v, want golang.org/x/sys alone", p, got)
		}
	}
}

// sbomModules checks the SBOM's main component and returns the names of
// its other components, sorted.
func sbomModules(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct{ Name, Version string }
		}
		Components []struct{ Name, Version string }
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if mc := bom.Metadata.Component; bom.BOMFormat != "CycloneDX" || mc.Name != "github.com/graceful-dev/graceful" || mc.Version != testVersion {
		t.Errorf("%s: format %q, main component %+v, want CycloneDX, github.com/graceful-dev/graceful %s", path, bom.BOMFormat, mc, testVersion)
	}
	var names []string
	for _, c := range bom.Components {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}
