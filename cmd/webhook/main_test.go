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
