package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graceful-dev/graceful/hack/ociimage"
)

// Config is one release: what names it, and where its pieces are.
type Config struct {
	Input
	// Src is the module root the release is made from: its charts/graceful
	// is packaged and its cmd/webhook and cmd/init are described by the
	// SBOMs. It need not be a git checkout (git archive of an older commit
	// works).
	Src string
	// Bin holds each platform's graceful-init and graceful-webhook, built
	// with Version, in <os>_<arch>[_<variant>]/ (make build-platforms).
	Bin string
	// Platforms of the image index, in order.
	Platforms []v1.Platform
	// Out is the directory the release's files are written to (created;
	// emptied first).
	Out string
	// Helm and CycloneDX are the helm and cyclonedx-gomod binaries.
	Helm, CycloneDX string
	// InitTags are the build tags graceful-init is built with (the SBOM
	// follows the build's constraints).
	InitTags string
	// NoSBOM leaves the SBOMs out (and CycloneDX unused): for a test
	// release that nobody audits, such as the e2e's build of an earlier
	// commit. make release never sets it.
	NoSBOM bool
}

// Result is what a release published, each by digest, and the files it
// wrote.
type Result struct {
	Version string `json:"version"`
	Image   struct {
		Ref       string          `json:"ref"` // repository@sha256:... of the index
		Tag       string          `json:"tag"` // repository:Version
		Platforms []PlatformImage `json:"platforms"`
	} `json:"image"`
	Chart struct {
		Ref     string `json:"ref"`     // oci://.../charts/graceful@sha256:...
		Install string `json:"install"` // the helm command that installs it
		File    string `json:"file"`    // the packaged chart, relative to Out
	} `json:"chart"`
	Files []string `json:"files"` // every file of SHA256SUMS, relative to Out
}

// PlatformImage is one platform's image in the index.
type PlatformImage struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
	// Size is the image's compressed layers plus its config, in bytes:
	// what a node of that platform pulls (the manifests aside).
	Size int64 `json:"size"`
}

// Publish makes the release: it checks the input and the registry, builds
// the image index from the binaries, writes the files to Out, packages the
// chart naming the index by digest, and only then pushes the index and the
// chart. The release's record goes to Out/release.json.
func Publish(ctx context.Context, c Config) (Result, error) {
	var r Result
	r.Version = c.Version
	if err := c.Check(); err != nil {
		return r, err
	}
	if len(c.Platforms) == 0 {
		return r, fmt.Errorf("no platforms")
	}
	tools := []string{c.Helm}
	if !c.NoSBOM {
		tools = append(tools, c.CycloneDX)
	}
	for _, tool := range tools {
		if _, err := os.Stat(tool); err != nil {
			return r, fmt.Errorf("release tool: %w (hack/tools.sh helm cyclonedx-gomod builds them)", err)
		}
	}
	if err := Reachable(ctx, c.Input); err != nil {
		return r, err
	}
	if err := os.RemoveAll(c.Out); err != nil {
		return r, fmt.Errorf("release directory: %w", err)
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return r, fmt.Errorf("release directory: %w", err)
	}

	// The binaries, with an SBOM each, per platform.
	var bins []ociimage.Binaries
	for _, p := range c.Platforms {
		dir := ociimage.PlatformDir(p)
		b := ociimage.Binaries{Platform: p}
		for _, exe := range []struct {
			name, main string
			path       *string
		}{{"graceful-init", "cmd/init", &b.InitBinary}, {"graceful-webhook", "cmd/webhook", &b.WebhookBinary}} {
			rel := filepath.Join(dir, exe.name)
			*exe.path = filepath.Join(c.Out, rel)
			if err := linkOrCopy(filepath.Join(c.Bin, rel), *exe.path); err != nil {
				return r, fmt.Errorf("%s binary (make build-platforms builds it): %w", p, err)
			}
			r.Files = append(r.Files, rel)
		}
		bins = append(bins, b)
	}
	if !c.NoSBOM {
		if err := c.sboms(ctx, &r); err != nil {
			return r, err
		}
	}

	// The image index and its layout tar.
	idx, err := ociimage.BuildIndex(c.Version, bins)
	if err != nil {
		return r, err
	}
	d, err := idx.Digest()
	if err != nil {
		return r, fmt.Errorf("image index digest: %w", err)
	}
	r.Image.Tag = c.ImageRepo() + ":" + c.Version
	if r.Image.Platforms, err = platformImages(idx); err != nil {
		return r, err
	}
	if err := ociimage.WriteIndexLayoutTar(idx, r.Image.Tag, filepath.Join(c.Out, "graceful-image.tar")); err != nil {
		return r, err
	}
	r.Files = append(r.Files, "graceful-image.tar")

	// The chart, naming the index by digest.
	if r.Chart.File, err = c.packageChart(ctx, d.String()); err != nil {
		return r, err
	}
	r.Files = append(r.Files, r.Chart.File)

	sums, err := SHA256Sums(c.Out, r.Files)
	if err != nil {
		return r, err
	}
	if err := os.WriteFile(filepath.Join(c.Out, "SHA256SUMS"), sums, 0o644); err != nil {
		return r, fmt.Errorf("checksums: %w", err)
	}

	// Nothing has left this machine so far.
	if r.Image.Ref, err = ociimage.PushIndex(ctx, r.Image.Tag, idx, c.PlainHTTP); err != nil {
		return r, err
	}
	chartDigest, err := c.pushChart(ctx, filepath.Join(c.Out, r.Chart.File))
	if err != nil {
		return r, err
	}
	r.Chart.Ref = strings.TrimSuffix(c.ChartRepo(), "/") + "/graceful@" + chartDigest
	r.Chart.Install = "helm install graceful " + c.ChartRepo() + "/graceful --version " + c.Version
	if c.HelmPlainHTTP() {
		r.Chart.Install += " --plain-http"
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return r, err
	}
	if err := os.WriteFile(filepath.Join(c.Out, "release.json"), append(b, '\n'), 0o644); err != nil {
		return r, fmt.Errorf("release record: %w", err)
	}
	return r, nil
}

// platformImages lists idx's images with their sizes.
func platformImages(idx v1.ImageIndex) ([]PlatformImage, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image index: %w", err)
	}
	var out []PlatformImage
	for _, desc := range m.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", desc.Digest, err)
		}
		im, err := img.Manifest()
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", desc.Digest, err)
		}
		size := im.Config.Size
		for _, l := range im.Layers {
			size += l.Size
		}
		out = append(out, PlatformImage{Platform: desc.Platform.String(), Digest: desc.Digest.String(), Size: size})
	}
	return out, nil
}

// sboms writes a CycloneDX SBOM of each binary of each platform next to it
// (<platform>/<binary>.cdx.json), with cyclonedx-gomod app under that
// build's constraints. cyclonedx-gomod takes the main module's version
// from git tags; so that the SBOM names Version whatever Src is (a
// checkout, a linked worktree, which go-git can not read, or an archive),
// it reads a snapshot of Src committed and tagged Version in a temporary
// repository.
func (c Config) sboms(ctx context.Context, r *Result) error {
	snap, err := os.MkdirTemp("", "graceful-release-src-")
	if err != nil {
		return fmt.Errorf("sbom: %w", err)
	}
	defer os.RemoveAll(snap)
	if err := copyTree(c.Src, snap, "bin", ".git"); err != nil {
		return fmt.Errorf("sbom: copy of %s: %w", c.Src, err)
	}
	stamp := "2000-01-01T00:00:00Z" // the snapshot commit's date is no part of the SBOM
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"commit", "-q", "-m", "release " + c.Version}, {"tag", c.Version}} {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = snap
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=graceful release", "GIT_AUTHOR_EMAIL=release@graceful.invalid",
			"GIT_COMMITTER_NAME=graceful release", "GIT_COMMITTER_EMAIL=release@graceful.invalid",
			"GIT_AUTHOR_DATE="+stamp, "GIT_COMMITTER_DATE="+stamp, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("sbom: git %s in the source snapshot: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, p := range c.Platforms {
		for _, exe := range []struct{ name, main, tags string }{{"graceful-init", "cmd/init", c.InitTags}, {"graceful-webhook", "cmd/webhook", ""}} {
			rel := filepath.Join(ociimage.PlatformDir(p), exe.name+".cdx.json")
			cmd := exec.CommandContext(ctx, c.CycloneDX, "app", "-json", "-noserial", "-notimestamp", "-main", exe.main, "-output", filepath.Join(c.Out, rel), snap)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOFLAGS=-trimpath")
			if p.Variant != "" {
				cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
			}
			if exe.tags != "" {
				cmd.Env = append(cmd.Env, "GOFLAGS=-trimpath -tags="+exe.tags)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("sbom of %s for %s: %w\n%s", exe.name, p, err, out)
			}
			r.Files = append(r.Files, rel)
		}
	}
	return nil
}

// packageChart packages Src's chart with Version as version and
// appVersion and the image index by digest, into Out, and returns the
// file's name.
func (c Config) packageChart(ctx context.Context, digest string) (string, error) {
	tmp, err := os.MkdirTemp("", "graceful-release-chart-")
	if err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	defer os.RemoveAll(tmp)
	chart := filepath.Join(tmp, "graceful")
	if err := copyTree(filepath.Join(c.Src, "charts/graceful"), chart); err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	vf := filepath.Join(chart, "values.yaml")
	values, err := os.ReadFile(vf)
	if err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	if values, err = SetChartImage(values, c.ImageRepo(), digest); err != nil {
		return "", err
	}
	if err := os.WriteFile(vf, values, 0o644); err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	if _, err := c.helm(ctx, "lint", "--strict", chart); err != nil {
		return "", err
	}
	if _, err := c.helm(ctx, "package", chart, "--version", c.Version, "--app-version", c.Version, "--destination", c.Out); err != nil {
		return "", err
	}
	file := "graceful-" + c.Version + ".tgz"
	if _, err := os.Stat(filepath.Join(c.Out, file)); err != nil {
		return "", fmt.Errorf("chart: helm package wrote no %s: %w", file, err)
	}
	return file, nil
}

var pushedDigest = regexp.MustCompile(`(?m)^Digest: (sha256:[0-9a-f]{64})\s*$`)

// pushChart pushes the packaged chart with helm push and returns the
// digest helm reports for it.
func (c Config) pushChart(ctx context.Context, tgz string) (string, error) {
	args := []string{"push", tgz, c.ChartRepo()}
	if c.HelmPlainHTTP() {
		args = append(args, "--plain-http")
	}
	out, err := c.helm(ctx, args...)
	if err != nil {
		return "", err
	}
	m := pushedDigest.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("helm push: no digest in its output:\n%s", out)
	}
	return m[1], nil
}

func (c Config) helm(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.Helm, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
