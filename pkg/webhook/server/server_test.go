package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/webhook/certs"
	"github.com/graceful-dev/graceful/pkg/webhook/options"
	"github.com/graceful-dev/graceful/pkg/webhook/server"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

const ownNS = "graceful-system"

// createAll creates every object of the YAML stream in file (relative to
// the repository root) and returns them.
func createAll(ctx context.Context, t *testing.T, c client.Client, root, file string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err == io.EOF {
			return objs
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := c.Create(ctx, u); err != nil {
			t.Errorf("%s: %s %s: %v", file, u.GetKind(), u.GetName(), err)
		}
		objs = append(objs, u)
	}
}

// token returns a token of a new ServiceAccount name in ownNS (TokenRequest).
func token(ctx context.Context, t *testing.T, c client.Client, name string) string {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ownNS, Name: name}}
	if err := c.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	tr := &authenticationv1.TokenRequest{}
	if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("token of %s: %v", name, err)
	}
	return tr.Status.Token
}

// TestServe runs the whole server as `graceful-webhook serve` wires it, in
// rotate mode with leader election, against a real API server, as the
// ServiceAccount of config/rbac with the rules generated from rbac.go
// (impersonated): so those rules are enough for all it does. It is not
// ready before the certificate, ready after; it holds the Lease; a pod in
// an opted-in namespace is injected. /metrics counts it over HTTPS, for a
// token bound to the metrics-reader ClusterRole only (401 without a token,
// 403 for another ServiceAccount's). Neither the webhook nor the metrics
// server negotiates HTTP/2 with a client that offers it.
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
	t.Cleanup(cancel)
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: ownNS}},
		{ObjectMeta: metav1.ObjectMeta{Name: "apps", Labels: map[string]string{contract.LabelInject: contract.NamespaceEnabled}}},
	} {
		if err := c.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"config/rbac/role.yaml", "config/rbac/rbac.yaml", "config/rbac/metrics_reader_role.yaml"} {
		createAll(ctx, t, c, root, f)
	}
	port, metricsPort, healthPort := envtestenv.Port(t), envtestenv.Port(t), envtestenv.Port(t)
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
		"--image", "graceful:test", "--port", fmt.Sprint(port), "--cert-dir", t.TempDir(), "--leader-elect",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", metricsPort),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", healthPort),
	}, func(k string) string { return map[string]string{"POD_NAMESPACE": ownNS}[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	asWebhook := rest.CopyConfig(restCfg)
	asWebhook.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ownNS + ":graceful-webhook"}
	log := funcr.NewJSON(func(s string) { t.Log(s) }, funcr.Options{})
	srv, err := server.New(ctx, asWebhook, cfg, server.Options{Host: "127.0.0.1",
		CertOptions: certs.Options{ExtraDNSNames: []string{"localhost"}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	envtestenv.Run(t, "server", srv.Start)

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
	var lease coordinationv1.Lease
	if err := c.Get(ctx, types.NamespacedName{Namespace: ownNS, Name: cfg.LeaderElectionID}, &lease); err != nil {
		t.Errorf("leader election Lease: %v", err)
	} else if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Errorf("Lease %s has no holder", lease.Name)
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

	// The scraper: a ServiceAccount bound to the shipped metrics-reader role.
	scraper, stranger := token(ctx, t, c, "scraper"), token(ctx, t, c, "stranger")
	if err := c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "scraper-metrics"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "graceful-metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ownNS, Name: "scraper"}}}); err != nil {
		t.Fatal(err)
	}
	// A client that offers HTTP/2 (ALPN h2 first) and takes the
	// self-signed certificate, as Prometheus with insecureSkipVerify.
	h2Client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed by design
	// Readiness covers the webhook server, not the metrics server, which
	// the manager starts on its own after making its certificate.
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", metricsPort), time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the metrics server never listened: %v", err)
		}
	}
	scrape := func(bearer string) (int, string, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics", metricsPort), nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := h2Client.Do(req)
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Proto, string(body)
	}
	if code, _, _ := scrape(""); code != http.StatusUnauthorized {
		t.Errorf("scrape without a token: %d, want 401", code)
	}
	if code, _, _ := scrape(stranger); code != http.StatusForbidden {
		t.Errorf("scrape with a token not bound to metrics-reader: %d, want 403", code)
	}
	code, proto, m := scrape(scraper)
	if code != http.StatusOK {
		t.Fatalf("scrape with the metrics-reader's token: %d %s", code, m)
	}
	if proto != "HTTP/1.1" {
		t.Errorf("metrics server answered a client offering h2 over %s, want HTTP/1.1", proto)
	}
	for _, want := range []string{`graceful_webhook_admissions_total{reason="namespace-enabled",result="injected"}`, "graceful_webhook_image_cache_hits_total"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := get(metricsPort, "/metrics"); code == http.StatusOK {
		t.Errorf("/metrics over plain HTTP: %d", code)
	}
	for what, p := range map[string]int{"webhook": port, "metrics": metricsPort} {
		if alpn := negotiated(t, p, "h2", "http/1.1"); alpn != "http/1.1" {
			t.Errorf("%s server negotiated %q with a client offering h2 and http/1.1, want http/1.1", what, alpn)
		}
	}
}

// negotiated is the protocol the TLS server on 127.0.0.1:port picks (ALPN)
// from protos.
func negotiated(t *testing.T, port int, protos ...string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true, NextProtos: protos}) //nolint:gosec // only ALPN is checked
	if err != nil {
		t.Fatalf("TLS to port %d: %v", port, err)
	}
	defer conn.Close()
	return conn.ConnectionState().NegotiatedProtocol
}
