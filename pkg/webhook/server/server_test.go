package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/webhook/certs"
	"github.com/graceful-dev/graceful/pkg/webhook/options"
	"github.com/graceful-dev/graceful/pkg/webhook/server"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

func freePort(t *testing.T) int {
	t.Helper()
	p, err := envtestenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServe runs the whole server as `graceful-webhook serve` wires it, in
// rotate mode, against a real API server: not ready before the certificate,
// ready after; a pod in an opted-in namespace is injected; /metrics counts it.
func TestServe(t *testing.T) {
	root, err := envtestenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := envtestenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets,
		CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	restCfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(restCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "graceful-system"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "apps", Labels: map[string]string{contract.LabelInject: contract.NamespaceEnabled}}},
	} {
		if err := c.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	port, metricsPort, healthPort := freePort(t), freePort(t), freePort(t)
	b, err := os.ReadFile(filepath.Join(root, "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var wh admissionregv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(b, &wh); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("https://localhost:%d%s", port, server.Path)
	wh.Webhooks[0].ClientConfig = admissionregv1.WebhookClientConfig{URL: &url}
	if err := c.Create(ctx, &wh); err != nil {
		t.Fatal(err)
	}

	cfg, err := options.Parse([]string{
		"--image", "graceful:test", "--port", fmt.Sprint(port), "--cert-dir", t.TempDir(),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", metricsPort),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", healthPort),
	}, func(k string) string { return map[string]string{"POD_NAMESPACE": "graceful-system"}[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := funcr.NewJSON(func(s string) { t.Log(s) }, funcr.Options{})
	srv, err := server.New(ctx, restCfg, cfg, server.Options{Host: "127.0.0.1",
		CertOptions: certs.Options{ExtraDNSNames: []string{"localhost"}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})

	get := func(port int, path string) (int, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := get(healthPort, "/readyz?verbose")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := get(healthPort, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}

	var pod *corev1.Pod
	deadline = time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: fmt.Sprintf("web-%d", i)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"sleep", "1d"}}}}}
		if err := c.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if _, ok := pod.Annotations[contract.AnnotationStatus]; ok {
			break
		}
		// The API server's webhook informer may lag the caBundle patch by a moment.
		if time.Now().After(deadline) {
			t.Fatalf("pod never injected: %+v", pod.Spec.Containers)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if pod.Spec.Containers[0].Command[0] != contract.InitPath {
		t.Errorf("command %q", pod.Spec.Containers[0].Command)
	}
	_, m := get(metricsPort, "/metrics")
	for _, want := range []string{`graceful_webhook_admissions_total{reason="namespace-enabled",result="injected"}`, "graceful_webhook_image_cache_hits_total"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
