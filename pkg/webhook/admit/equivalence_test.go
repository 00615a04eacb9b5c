package admit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/inject/imageconfig"
	"github.com/graceful-dev/graceful/pkg/inject/manifest"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/pkg/webhook/admit"
)

// TestOfflineInjectMatchesWebhook feeds every golden case of the rewrite
// through the webhook (a dry-run create against the real API server) and
// through offline inject (manifest.Injector, its output then created the same
// way), with the golden image table pushed to the loopback registry, and
// requires the same outcome: the same stored pod spec and graceful
// annotations, the same graceful warnings, or a refusal on both sides.
func TestOfflineInjectMatchesWebhook(t *testing.T) {
	useMode(t, admit.LookupReject) // offline inject is all or nothing
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	if err := k8s.Create(context.Background(), pullSecret(ns, "regcred")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repoRoot, "pkg", "inject", "rewrite", "testdata")
	images := pushGoldenImages(t, filepath.Join(dir, "images.json"))
	cases, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(cases) < 25 {
		t.Fatalf("golden cases in %s: %d (%v), want at least 25", dir, len(cases), err)
	}
	offline := &manifest.Injector{
		Config:             rewrite.Config{Image: graceImage, Version: "v0.0.0-test", ImageVolumeNodeLabel: contract.LabelImageVolume},
		All:                true, // as the namespace label opts every pod in
		ExcludedNamespaces: append([]string{ownNamespace}, systemNamespaces...),
		// A resolver of its own: the webhook's cache must not answer for it.
		Resolve: func(ctx context.Context, ref string, pod *corev1.Pod) (rewrite.ImageConfig, error) {
			c, err := imageconfig.New(imageconfig.Options{Insecure: []string{regHost}}).Resolve(ctx, ref, imageconfig.PlatformFor(pod), registryLogin{})
			return c.ImageConfig, err
		},
	}
	compared := 0
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			pod := goldenPod(t, path, ns, images)

			web, webWarn, webErr := create(t, pod.DeepCopy(), client.DryRunAll)

			var offWarn []string
			offline.Warn = func(s string) { offWarn = append(offWarn, s) }
			src, err := yaml.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			offErr := offline.Inject(context.Background(), bytes.NewReader(src), &out)

			switch {
			case offErr != nil && strings.Contains(offErr.Error(), "rewrite:"):
				// The webhook never loses a pod to a rewrite conflict: it
				// admits it unchanged and says why.
				if webErr != nil || !hasWarning(webWarn, "pod left unchanged") {
					t.Fatalf("offline refused the pod (%v); the webhook answered %v with warnings %q, want the pod admitted unchanged", offErr, webErr, webWarn)
				}
				if _, injected := web.Annotations[contract.AnnotationStatus]; injected {
					t.Errorf("the webhook injected the pod it refused: %s", web.Annotations[contract.AnnotationStatus])
				}
			case offErr != nil:
				if webErr == nil {
					t.Fatalf("offline failed (%v), the webhook admitted the pod", offErr)
				}
			case webErr != nil:
				// Rejected by the API server's validation (or a lookup): the
				// offline output must be rejected too.
				var off corev1.Pod
				if err := yaml.Unmarshal(out.Bytes(), &off); err != nil {
					t.Fatal(err)
				}
				if _, _, err := create(t, &off, client.DryRunAll); err == nil {
					t.Fatalf("the webhook path failed (%v), the offline output was accepted", webErr)
				}
			default:
				var off corev1.Pod
				if err := yaml.Unmarshal(out.Bytes(), &off); err != nil {
					t.Fatal(err)
				}
				stored, _, err := create(t, &off, client.DryRunAll)
				if err != nil {
					t.Fatalf("offline output rejected by the API server: %v", err)
				}
				if d := cmp.Diff(web.Spec, stored.Spec); d != "" {
					t.Errorf("pod spec differs (-webhook +offline):\n%s", d)
				}
				if d := cmp.Diff(gracefulAnnotations(web), gracefulAnnotations(stored)); d != "" {
					t.Errorf("graceful annotations differ (-webhook +offline):\n%s", d)
				}
				if d := cmp.Diff(gracefulWarnings(webWarn), gracefulWarnings(offWarn)); d != "" {
					t.Errorf("warnings differ (-webhook +offline):\n%s", d)
				}
				compared++
			}
		})
	}
	t.Logf("%d of %d cases admitted on both paths and compared; the rest refused on both", compared, len(cases))
	if compared < 20 {
		t.Errorf("only %d cases were admitted on both paths and compared, want at least 20", compared)
	}
}

// goldenPod reads a golden case as a pod of namespace ns with the
// registry's pull secret, every image but graceful's moved to the loopback
// registry: those of the table to where they were pushed, the others to
// where nothing was (their lookups fail there, never on the network).
func goldenPod(t *testing.T, path, ns string, images map[string]string) *corev1.Pod {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(raw, &pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	pod.Namespace = ns
	move := func(image *string) {
		switch to, ok := images[*image]; {
		case ok:
			*image = to
		case *image != graceImage:
			*image = regHost + "/absent/" + (*image)[strings.LastIndex(*image, "/")+1:]
		}
	}
	for i := range pod.Spec.InitContainers {
		move(&pod.Spec.InitContainers[i].Image)
	}
	for i := range pod.Spec.Containers {
		move(&pod.Spec.Containers[i].Image)
	}
	for i := range pod.Spec.EphemeralContainers {
		move(&pod.Spec.EphemeralContainers[i].Image)
	}
	pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: "regcred"})
	return &pod
}

// pushGoldenImages pushes an image with each config of the golden image
// table and returns where each reference now lives.
func pushGoldenImages(t *testing.T, table string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	var configs map[string]rewrite.ImageConfig
	if err := json.Unmarshal(b, &configs); err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	moved := map[string]string{}
	for ref, c := range configs {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf.OS, cf.Architecture = "linux", "amd64"
		cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.StopSignal = c.Entrypoint, c.Cmd, c.StopSignal
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		to := regHost + "/golden/" + ref[strings.LastIndex(ref, "/")+1:]
		r, err := name.ParseReference(to, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: regUser, Password: regPassword})); err != nil {
			t.Fatalf("pushing %s: %v", to, err)
		}
		moved[ref] = to
	}
	return moved
}

// registryLogin is the local docker config of offline inject, for the
// loopback registry.
type registryLogin struct{}

func (registryLogin) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: regUser, Password: regPassword}, nil
}

func gracefulAnnotations(p *corev1.Pod) map[string]string {
	m := map[string]string{}
	for k, v := range p.Annotations {
		if strings.HasPrefix(k, "graceful.dev/") {
			m[k] = v
		}
	}
	return m
}

// gracefulWarnings are graceful's own warnings, sorted; the API server adds
// others (Pod Security, deprecations) that only the webhook path sees.
func gracefulWarnings(ws []string) []string {
	var out []string
	for _, w := range ws {
		if strings.HasPrefix(w, "graceful") {
			out = append(out, w)
		}
	}
	slices.Sort(out)
	return out
}
