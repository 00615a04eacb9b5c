package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/contract"
)

func TestInjectCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"inject", "-f", "../../examples/app.yaml", "--image", "graceful.test/graceful:v1"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), contract.InitPath) || !strings.Contains(out.String(), "--drain-delay=5s") {
		t.Errorf("example not rewritten:\n%s", out.String())
	}
}

// TestInjectCommandImageByDigest: --image by digest (the multi-platform
// index's, with or without a tag) is kept as given in the install container,
// so each node pulls its own platform's image of that index.
func TestInjectCommandImageByDigest(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, ref := range []string{"registry.example:5000/mirror/graceful@" + d, "ghcr.io/graceful-dev/graceful:v1.0.0@" + d} {
		var out, errb bytes.Buffer
		if code := run([]string{"inject", "-f", "../../examples/app.yaml", "--image", ref}, nil, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d, stderr: %s", ref, code, errb.String())
		}
		var dep appsv1.Deployment
		if err := yaml.Unmarshal(out.Bytes(), &dep); err != nil {
			t.Fatalf("%s: output: %v\n%s", ref, err, out.String())
		}
		ics := dep.Spec.Template.Spec.InitContainers
		if len(ics) != 1 || ics[0].Image != ref {
			t.Errorf("--image %s: init containers %+v, want one with that image", ref, ics)
		}
	}
}

// TestInjectCommandImageVolume: -delivery imageVolume gives the image volume
// of --image, no install container, the mount's subPath and the node
// affinity; the output run through inject again, with the default
// delivery, comes back the same: the pod keeps the delivery it has.
func TestInjectCommandImageVolume(t *testing.T) {
	const ref = "registry.example/graceful@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var out, errb bytes.Buffer
	if code := run([]string{"inject", "-f", "../../examples/app.yaml", "--image", ref, "--delivery", "imageVolume"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, errb.String())
	}
	var dep appsv1.Deployment
	if err := yaml.Unmarshal(out.Bytes(), &dep); err != nil {
		t.Fatalf("output: %v\n%s", err, out.String())
	}
	ps := dep.Spec.Template.Spec
	if len(ps.InitContainers) != 0 {
		t.Errorf("init containers %+v, want none", ps.InitContainers)
	}
	if len(ps.Volumes) != 1 || ps.Volumes[0].Image == nil || ps.Volumes[0].Image.Reference != ref {
		t.Errorf("volumes %+v, want the image volume of %s", ps.Volumes, ref)
	}
	for _, c := range ps.Containers {
		for _, m := range c.VolumeMounts {
			if m.Name == contract.VolumeName && (m.SubPath != contract.ImageVolumeSubPath || !m.ReadOnly || m.MountPath != contract.MountPath) {
				t.Errorf("container %s: mount %+v", c.Name, m)
			}
		}
	}
	if a := ps.Affinity; a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		t.Errorf("no required node affinity: %+v", a)
	}
	var again, errb2 bytes.Buffer
	if code := run([]string{"inject", "-f", "-", "--image", ref}, bytes.NewReader(out.Bytes()), &again, &errb2); code != 0 {
		t.Fatalf("second pass: exit %d, stderr: %s", code, errb2.String())
	}
	if again.String() != out.String() {
		t.Errorf("second pass with the default delivery changed the output:\n%s\nthen\n%s", out.String(), again.String())
	}
}

func TestInjectCommandErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: Pod\nmetadata: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no file flag", []string{"inject"}, 2, "-f FILE"},
		{"missing file", []string{"inject", "-f", "/nonexistent/x.yaml"}, 1, "/nonexistent/x.yaml"},
		{"bad yaml", []string{"inject", "-f", bad}, 1, "document 0"},
		{"unknown flag", []string{"inject", "--bogus"}, 2, "bogus"},
		{"unknown subcommand", []string{"frobnicate"}, 2, `unknown subcommand "frobnicate"`},
		{"bad delivery", []string{"inject", "-f", "-", "--delivery", "copy"}, 2, `delivery "copy" is neither initContainer nor imageVolume`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Errorf("stderr %q does not mention %q", errb.String(), tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout not empty on error: %s", out.String())
			}
		})
	}
}
