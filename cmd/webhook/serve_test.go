package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

func TestServeBadConfig(t *testing.T) {
	var errb bytes.Buffer
	code := run([]string{"serve", "--image", "x", "--own-namespace", "g", "--lookup-failure", "maybe"}, nil, io.Discard, &errb)
	if code != 2 || !strings.Contains(errb.String(), `lookupFailure: "maybe"`) {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// init turns the test binary into `graceful-webhook serve` when
// TestServeProcess re-executes it.
func init() {
	if args := os.Getenv("GRACEFUL_SERVE_CHILD"); args != "" {
		os.Exit(runServe(strings.Fields(args), os.Stderr))
	}
}

// TestServeProcess runs `graceful-webhook serve` (cert mode dir, HTTP/2
// turned on with --enable-http2) as its own process against a real API
// server: it becomes ready, injects a pod, its webhook and metrics servers
// negotiate h2 with a client that offers it, and it exits 0 on SIGTERM.
// (pkg/webhook/server's TestServe shows HTTP/1.1 without the flag.)
func TestServeProcess(t *testing.T) {
	assets, err := envtestenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets,
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "certs")
	caPEM, err := envtestenv.WriteServingCert(certDir)
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps",
		Labels: map[string]string{contract.LabelInject: contract.NamespaceEnabled}}}); err != nil {
		t.Fatal(err)
	}
	port, health, metrics := envtestenv.Port(t), envtestenv.Port(t), envtestenv.Port(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var wh admissionregv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(b, &wh); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/mutate-v1-pod", port)
	wh.Webhooks[0].ClientConfig = admissionregv1.WebhookClientConfig{URL: &url, CABundle: caPEM}
	if err := c.Create(ctx, &wh); err != nil {
		t.Fatal(err)
	}

	args := fmt.Sprintf("--image graceful:test --cert-mode dir --cert-dir %s --port %d --enable-http2 --metrics-bind-address 127.0.0.1:%d --health-probe-bind-address 127.0.0.1:%d",
		certDir, port, metrics, health)
	cmd := exec.Command(os.Args[0])
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), "GRACEFUL_SERVE_CHILD="+args, "KUBECONFIG="+kubeconfig, "POD_NAMESPACE=graceful-system")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // "already finished" once it exited

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("serve exited early (%v):\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", GenerateName: "web-"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"sleep", "1d"}}}}}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.Containers[0].Command[0] != contract.InitPath {
		t.Errorf("pod not injected: %q\n%s", pod.Spec.Containers[0].Command, logs.String())
	}
	for what, p := range map[string]int{"webhook": port, "metrics": metrics} {
		// Readiness covers the webhook server, not the metrics server: the
		// manager starts that one on its own, after making its certificate.
		var conn *tls.Conn
		var err error
		for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			conn, err = tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}) //nolint:gosec // only ALPN is checked
			if err == nil || time.Now().After(end) {
				break
			}
		}
		if err != nil {
			t.Fatalf("TLS to the %s server: %v", what, err)
		}
		if alpn := conn.ConnectionState().NegotiatedProtocol; alpn != "h2" {
			t.Errorf("%s server negotiated %q with --enable-http2, want h2", what, alpn)
		}
		conn.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"reason":"namespace-enabled"`) || !strings.Contains(logs.String(), `"pod":"web-*"`) {
		t.Errorf("no structured admission log naming the reason and the generateName:\n%s", logs.String())
	}
}
