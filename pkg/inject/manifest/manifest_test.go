package manifest

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/inject/imageconfig"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
)

// serveRegistry starts a real registry on loopback holding REGISTRY/app:1
// (ENTRYPOINT /bin/app, CMD --serve, STOPSIGNAL SIGQUIT) and returns its
// host:port.
func serveRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(nopLogger())))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve"}, StopSignal: "SIGQUIT"})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push test image: %v", err)
	}
	return host
}

func newInjector(t *testing.T, host string) (*Injector, *[]string) {
	t.Helper()
	resolver := imageconfig.New(imageconfig.Options{Insecure: []string{host}})
	var warnings []string
	return &Injector{
		Config:             rewrite.Config{Image: "graceful.test/graceful:v1", Version: "v1"},
		ExcludedNamespaces: []string{"kube-system"},
		Resolve: func(ctx context.Context, ref string, pod *corev1.Pod) (rewrite.ImageConfig, error) {
			c, err := resolver.Resolve(ctx, ref, imageconfig.PlatformFor(pod), authn.NewMultiKeychain())
			return c.ImageConfig, err
		},
		Warn: func(s string) { warnings = append(warnings, s) },
	}, &warnings
}

func readStream(t *testing.T, host string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/stream.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "REGISTRY", host)
}

func docs(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, d := range strings.Split(s, "\n---\n") {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("output is not yaml: %v\n%s", err, d)
		}
		out = append(out, m)
	}
	return out
}

func TestInjectStream(t *testing.T) {
	host := serveRegistry(t)
	inj, _ := newInjector(t, host)
	input := readStream(t, host)
	var out bytes.Buffer
	if err := inj.Inject(context.Background(), strings.NewReader(input), &out); err != nil {
		t.Fatalf("inject: %v", err)
	}
	got := out.String()
	ds := docs(t, got)
	if len(ds) != 5 {
		t.Fatalf("want 5 documents, got %d:\n%s", len(ds), got)
	}

	inDocs := strings.Split(input, "\n---\n")
	outDocs := strings.Split(got, "---\n")
	// Untouched documents come back byte for byte: the Service and the pod that did not opt in.
	for _, i := range []int{0, 3} {
		if strings.TrimSpace(outDocs[i]) != strings.TrimSpace(inDocs[i]) {
			t.Errorf("document %d changed:\n--- in\n%s\n--- out\n%s", i, inDocs[i], outDocs[i])
		}
	}

	dep := podSpecAt(t, ds[1], "spec", "template")
	app, logger := dep.Containers[0], dep.Containers[1]
	wantApp := []string{contract.InitPath, "--grace-period=20s", "--stop-signal=QUIT", "--termination-log=/dev/termination-log", "--", "/bin/app"}
	if strings.Join(app.Command, " ") != strings.Join(wantApp, " ") || strings.Join(app.Args, " ") != "--serve" {
		t.Errorf("deployment app: command %q args %q; want %q args [--serve] (image ENTRYPOINT, CMD and STOPSIGNAL from the registry)", app.Command, app.Args, wantApp)
	}
	if logger.Command[0] != contract.InitPath || logger.Command[len(logger.Command)-2] != "/bin/logger" || !contains(logger.Command, "--stop-signal=QUIT") {
		t.Errorf("deployment logger not wrapped around its own command with the image's stop signal: %q", logger.Command)
	}
	if len(dep.InitContainers) == 0 || dep.InitContainers[0].Name != contract.InstallContainerName {
		t.Errorf("deployment: install container missing or not first: %+v", dep.InitContainers)
	}

	cron := podSpecAt(t, ds[2], "spec", "jobTemplate", "spec", "template")
	job := cron.Containers[0]
	if !contains(job.Command, "--drain-delay=2s") || job.Command[len(job.Command)-1] != "/bin/app" || strings.Join(job.Args, " ") != "--once" {
		t.Errorf("cronjob: command %q args %q; want drain delay, image ENTRYPOINT, and the pod's own args", job.Command, job.Args)
	}

	items := ds[4]["items"].([]any)
	listed := podSpecAt(t, items[0].(map[string]any))
	if listed.Containers[0].Command[0] != contract.InitPath {
		t.Errorf("List item pod not wrapped: %q", listed.Containers[0].Command)
	}

	// Idempotent: the output rewritten again is the output.
	var again bytes.Buffer
	if err := inj.Inject(context.Background(), strings.NewReader(got), &again); err != nil {
		t.Fatalf("inject of own output: %v", err)
	}
	if again.String() != got {
		t.Errorf("second run changed the output:\n--- first\n%s\n--- second\n%s", got, again.String())
	}
}

func TestInjectAll(t *testing.T) {
	host := serveRegistry(t)
	inj, _ := newInjector(t, host)
	inj.All = true
	input := strings.ReplaceAll(`apiVersion: v1
kind: Pod
metadata: {name: a, namespace: shop}
spec:
  containers: [{name: app, image: REGISTRY/app:1, command: [/bin/a]}]
---
apiVersion: v1
kind: Pod
metadata: {name: out, namespace: shop, annotations: {graceful.dev/inject: "false"}}
spec:
  containers: [{name: app, image: REGISTRY/app:1, command: [/bin/a]}]
---
apiVersion: v1
kind: Pod
metadata: {name: sys, namespace: kube-system}
spec:
  containers: [{name: app, image: REGISTRY/app:1, command: [/bin/a]}]
`, "REGISTRY", host)
	var out bytes.Buffer
	if err := inj.Inject(context.Background(), strings.NewReader(input), &out); err != nil {
		t.Fatalf("inject: %v", err)
	}
	ds := docs(t, out.String())
	for i, want := range []bool{true, false, false} {
		spec := podSpecAt(t, ds[i])
		if got := spec.Containers[0].Command[0] == contract.InitPath; got != want {
			t.Errorf("pod %d: wrapped=%v, want %v (--all opts in, but not over an opt-out or an excluded namespace)", i, got, want)
		}
	}
}

func TestInjectErrorsWriteNothing(t *testing.T) {
	host := serveRegistry(t)
	cases := []struct {
		name, input string
		wantErr     []string
	}{
		{
			name:    "bad yaml",
			input:   "apiVersion: v1\nkind: Service\nmetadata: {name: ok}\n---\nkind: Pod\nmetadata: [unclosed\n",
			wantErr: []string{"document 1"},
		},
		{
			name:    "no kind",
			input:   "apiVersion: v1\nmetadata: {name: x}\n",
			wantErr: []string{"document 0", "no kind"},
		},
		{
			name: "unknown image",
			input: "apiVersion: v1\nkind: Service\nmetadata: {name: ok}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n" +
				"spec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}, annotations: {graceful.dev/inject: \"true\"}}\n" +
				"    spec:\n      containers: [{name: app, image: " + host + "/missing:1}]\n",
			wantErr: []string{"document 1", "Deployment web", host + "/missing:1"},
		},
		{
			// The container sets a command, but the image's STOPSIGNAL is
			// needed, and offline inject does not guess it.
			name: "unknown image of a container with a command",
			input: "apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {graceful.dev/inject: \"true\"}}\n" +
				"spec:\n  containers: [{name: app, image: " + host + "/missing:2, command: [/app]}]\n",
			wantErr: []string{"document 0", "Pod p", host + "/missing:2"},
		},
		{
			name:    "workload without template",
			input:   "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: empty}\nspec: {}\n",
			wantErr: []string{"document 0", "Deployment empty", "spec.template"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inj, _ := newInjector(t, host)
			var out bytes.Buffer
			err := inj.Inject(context.Background(), strings.NewReader(tc.input), &out)
			if err == nil {
				t.Fatalf("no error; output:\n%s", out.String())
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if out.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", out.Len())
			}
		})
	}
}

func podSpecAt(t *testing.T, obj map[string]any, path ...string) corev1.PodSpec {
	t.Helper()
	m := obj
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			t.Fatalf("no %s in %v", strings.Join(path, "."), obj)
		}
		m = next
	}
	b, err := yaml.Marshal(m["spec"])
	if err != nil {
		t.Fatal(err)
	}
	var spec corev1.PodSpec
	if err := yaml.UnmarshalStrict(b, &spec); err != nil {
		t.Fatalf("pod spec: %v", err)
	}
	return spec
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestInjectAudit: given an Audit policy, offline injection does what the
// webhook does: the workload comes back byte for byte, and the warning says
// how it would have been wrapped (the image's STOPSIGNAL looked up).
func TestInjectAudit(t *testing.T) {
	host := serveRegistry(t)
	inj, warnings := newInjector(t, host)
	inj.Policies = []v1alpha1.ShutdownPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "preview"}, Spec: v1alpha1.ShutdownPolicySpec{Mode: v1alpha1.ModeAudit}}}
	input := strings.ReplaceAll(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: REGISTRY/app:1}]
`, "REGISTRY", host)
	var out bytes.Buffer
	if err := inj.Inject(context.Background(), strings.NewReader(input), &out); err != nil {
		t.Fatalf("inject: %v", err)
	}
	if out.String() != input {
		t.Errorf("audited workload changed:\n%s", out.String())
	}
	want := `graceful: ShutdownPolicy preview (Audit): pod left unchanged; injecting would wrap container "app" (stop signal SIGQUIT, grace period 30s, SIGKILL of what is left after 28s)`
	if !slices.Contains(*warnings, want) {
		t.Errorf("warnings %q\nwant %q", *warnings, want)
	}
}
