package rewrite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// These tests have a real kube-apiserver (envtest: etcd and kube-apiserver
// v1.37.2 built by hack/k8s-binaries.sh into bin/k8s) validate what the
// rewrite produces, with server-side dry-run creates: the golden outputs and
// random pods. Pod Security admission runs in the server; a namespace
// labelled enforce=restricted gets every output whose input passes there.

var (
	apiOnce   sync.Once
	apiClient client.Client
	apiEnv    *envtest.Environment
	apiErr    error
)

const (
	nsPlain      = "plain"
	nsRestricted = "restricted"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if apiEnv != nil {
		if err := apiEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}
	os.Exit(code)
}

// apiserver starts envtest once for the package's tests that need it.
func apiserver(t *testing.T) client.Client {
	t.Helper()
	apiOnce.Do(func() {
		assets := os.Getenv("KUBEBUILDER_ASSETS")
		if assets == "" {
			_, file, _, _ := runtime.Caller(0)
			assets = filepath.Join(filepath.Dir(file), "../../bin/k8s")
		}
		if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
			apiErr = fmt.Errorf("no kube-apiserver in %s: run 'make envtest-bin' (%w)", assets, err)
			return
		}
		apiEnv = &envtest.Environment{BinaryAssetsDirectory: assets}
		cfg, err := apiEnv.Start()
		if err != nil {
			apiErr = fmt.Errorf("start envtest: %w", err)
			return
		}
		c, err := client.New(cfg, client.Options{})
		if err != nil {
			apiErr = err
			return
		}
		ctx := context.Background()
		for name, lbl := range map[string]map[string]string{
			nsPlain:      nil,
			nsRestricted: {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"},
		} {
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl}}); err != nil {
				apiErr = err
				return
			}
			// No controller-manager runs here to create the default service account.
			if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}); err != nil {
				apiErr = err
				return
			}
		}
		apiClient = c
	})
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	return apiClient
}

// forAPI returns a copy of pod ready for a create in namespace ns:
// ephemeral containers can not be set on create.
func forAPI(pod *corev1.Pod, ns string) *corev1.Pod {
	p := pod.DeepCopy()
	p.Namespace = ns
	p.ResourceVersion = ""
	p.Spec.EphemeralContainers = nil
	if p.Name == "" && p.GenerateName == "" {
		p.GenerateName = "pod-"
	}
	return p
}

func dryRun(c client.Client, pod *corev1.Pod, ns string) error {
	return c.Create(context.Background(), forAPI(pod, ns), client.DryRunAll)
}

// TestGoldenOutputsAcceptedByAPIServer: every golden case that produces a pod
// produces one the API server accepts, in the restricted namespace whenever
// the input itself is accepted there.
func TestGoldenOutputsAcceptedByAPIServer(t *testing.T) {
	c := apiserver(t)
	inputs, _ := filepath.Glob("testdata/*.yaml")
	if len(inputs) < 25 {
		t.Fatalf("only %d golden cases", len(inputs))
	}
	restricted, checked := 0, 0
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			pod, cfg, d := readCase(t, in)
			out, _, err := Pod(pod, cfg, d, testImages())
			if err != nil {
				return // an error case: its golden file holds the error, not a pod
			}
			checked++
			ns := nsPlain
			if dryRun(c, pod, nsRestricted) == nil {
				ns = nsRestricted
				restricted++
			}
			if err := dryRun(c, out, ns); err != nil {
				b, _ := yaml.Marshal(forAPI(out, ns))
				t.Errorf("rewritten pod rejected in namespace %s: %v\n%s", ns, err, b)
			}
		})
	}
	t.Logf("%d golden outputs accepted, %d of them in a restricted namespace", checked, restricted)
	if restricted == 0 {
		t.Errorf("no golden input passes Pod Security restricted: the restricted check tested nothing")
	}
}

// TestRandomPodsAcceptedByAPIServer: seeded random valid pods, rewritten, are
// all accepted. GRACEFUL_PROPERTY_N sets how many (300 by default; the
// benchmark run in docs/benchmarks.md uses 10000).
func TestRandomPodsAcceptedByAPIServer(t *testing.T) {
	c := apiserver(t)
	n := 300
	if v := os.Getenv("GRACEFUL_PROPERTY_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("GRACEFUL_PROPERTY_N=%q: %v", v, err)
		}
	}
	rejected, wrapped, restricted := 0, 0, 0
	for seed := uint64(1); seed <= uint64(n); seed++ {
		pod, images := randomPod(rand.New(rand.NewPCG(seed, 42)))
		if err := dryRun(c, pod, nsPlain); err != nil {
			t.Fatalf("seed %d: the generator made a pod the API server rejects: %v", seed, err)
		}
		out, _, err := Pod(pod, testConfig(), Defaults{}, images)
		if err != nil {
			t.Fatalf("seed %d: rewrite: %v", seed, err)
		}
		if _, ok := out.Annotations["graceful.dev/status"]; ok {
			wrapped++
		}
		ns := nsPlain
		if dryRun(c, pod, nsRestricted) == nil {
			ns = nsRestricted
			restricted++
		}
		if err := dryRun(c, out, ns); err != nil {
			rejected++
			if rejected <= 3 {
				b, _ := yaml.Marshal(forAPI(out, ns))
				t.Errorf("seed %d: rewritten pod rejected in namespace %s: %v\n%s", seed, ns, err, b)
			}
		}
	}
	t.Logf("%d random pods: %d rewritten, %d checked in a restricted namespace, %d rejected", n, wrapped, restricted, rejected)
	if rejected > 0 {
		t.Errorf("%d of %d rewritten pods rejected", rejected, n)
	}
}
