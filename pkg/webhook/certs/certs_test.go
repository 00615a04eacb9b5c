package certs_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/webhook/certs"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

const (
	ns          = "graceful-system"
	secretName  = "graceful-webhook-cert"
	webhookName = "graceful-webhook"
	mutatedKey  = "certs.test.graceful.dev/mutated"
)

// apiServer starts a real API server for t, with the namespaces
// created, and returns its config, a client and the scheme of both
// (client-go's), a context cancelled when t ends, and the repository root.
func apiServer(t *testing.T, namespaces ...string) (*rest.Config, client.Client, *k8sruntime.Scheme, context.Context, string) {
	t.Helper()
	root, err := envtestenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := envtestenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	logf.SetLogger(funcr.New(func(p, a string) { t.Log(p, a) }, funcr.Options{}))
	env := &envtest.Environment{BinaryAssetsDirectory: dir}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, n := range namespaces {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, c, scheme, ctx, root
}

// createWebhookConfig creates config/webhook's MutatingWebhookConfiguration
// calling url.
func createWebhookConfig(ctx context.Context, t *testing.T, c client.Client, root, url string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var wh admissionregv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(b, &wh); err != nil {
		t.Fatal(err)
	}
	wh.Webhooks[0].ClientConfig = admissionregv1.WebhookClientConfig{URL: &url}
	if err := c.Create(ctx, &wh); err != nil {
		t.Fatal(err)
	}
}

// label marks pods so the test can see the webhook was called.
func label(_ context.Context, req cradmission.Request) cradmission.Response {
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return cradmission.Errored(http.StatusBadRequest, err)
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[mutatedKey] = "true"
	out, _ := json.Marshal(&pod)
	return cradmission.PatchResponseFromRaw(req.Object.Raw, out)
}

// TestRotation: bootstrap writes the Secret and patches the caBundle; the
// server certificate is renewed every few seconds while pods are created
// through the webhook (failurePolicy Ignore, as shipped: a TLS failure
// would show as an unlabelled pod); none is missed. Then the Secret is
// deleted: it comes back with a new CA, the caBundle follows, and the
// webhook serves again.
func TestRotation(t *testing.T) {
	cfg, c, scheme, ctx, root := apiServer(t, ns, "work")
	port := envtestenv.Port(t)
	createWebhookConfig(ctx, t, c, root, fmt.Sprintf("https://localhost:%d/mutate-v1-pod", port))

	certDir := t.TempDir()
	var src *certs.Certs
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir,
			TLSOpts: []func(*tls.Config){func(tc *tls.Config) {
				tc.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return src.GetCertificate(h) }
			}}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err = certs.Rotate(ctx, mgr, certs.Options{
		Namespace: ns, SecretName: secretName, WebhookConfigName: webhookName, ServiceName: "graceful-webhook",
		CertDir: certDir, ExtraDNSNames: []string{"localhost"},
		// A server certificate counts as expiring 8s after it is issued.
		ServerCertDuration: time.Hour, LookaheadInterval: time.Hour - 8*time.Second, RotationCheckFrequency: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.ReadyCheck(nil); err == nil {
		t.Fatal("ready before any certificate exists")
	}
	mgr.GetWebhookServer().Register("/mutate-v1-pod", &webhook.Admission{Handler: cradmission.HandlerFunc(label)})
	envtestenv.Run(t, "manager", mgr.Start)

	waitFor(t, 60*time.Second, "readiness", func() error { return src.ReadyCheck(nil) })
	var sec corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: secretName}, &sec); err != nil {
		t.Fatal(err)
	}
	ca := sec.Data[certs.CAKey]
	waitFor(t, 10*time.Second, "caBundle", func() error { return caBundleHas(ctx, c, ca) })

	seen := map[string]bool{}
	seq := 0
	// mutatedPod creates a pod and says whether the webhook labelled it.
	mutatedPod := func() error {
		seq++
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "work", Name: fmt.Sprintf("p%d", seq)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "busybox"}}}}
		if err := c.Create(ctx, pod); err != nil {
			return err
		}
		if pod.Labels[mutatedKey] != "true" {
			return fmt.Errorf("pod %d not mutated", seq)
		}
		return nil
	}
	// The API server's webhook client picks up a new caBundle a moment after
	// it is stored; under failurePolicy Ignore a pod created in between just
	// goes unmutated.
	waitFor(t, 30*time.Second, "a mutated pod", mutatedPod)
	createPods := func(d time.Duration) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			seq++
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "work", Name: fmt.Sprintf("p%d", seq)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "busybox"}}}}
			if err := c.Create(ctx, pod); err != nil {
				t.Fatalf("pod %d: %v", seq, err)
			}
			if pod.Labels[mutatedKey] != "true" {
				t.Errorf("pod %d created without the webhook (TLS failure under failurePolicy Ignore)", seq)
			}
			var s corev1.Secret
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: secretName}, &s); err == nil {
				seen[string(s.Data[certs.CertFile])] = true
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	createPods(30 * time.Second)
	if len(seen) < 3 {
		t.Errorf("saw %d server certificates in 30s, want at least 3 (renewal every ~8s)", len(seen))
	}
	t.Logf("%d pods through %d server certificates", seq, len(seen))

	// Delete the Secret: recreated, new CA, caBundle follows, served again.
	if err := c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretName}}); err != nil {
		t.Fatal(err)
	}
	var newCA []byte
	waitFor(t, 60*time.Second, "new CA", func() error {
		var s corev1.Secret
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: secretName}, &s); err != nil {
			return err
		}
		if len(s.Data[certs.CAKey]) == 0 || bytes.Equal(s.Data[certs.CAKey], ca) {
			return fmt.Errorf("no new CA yet")
		}
		newCA = s.Data[certs.CAKey]
		return nil
	})
	waitFor(t, 30*time.Second, "new caBundle", func() error { return caBundleHas(ctx, c, newCA) })
	waitFor(t, 30*time.Second, "a mutated pod after the CA change", mutatedPod)
	createPods(5 * time.Second)
	if err := src.ReadyCheck(nil); err != nil {
		t.Errorf("not ready at the end: %v", err)
	}
}

func caBundleHas(ctx context.Context, c client.Client, ca []byte) error {
	var wh admissionregv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, types.NamespacedName{Name: webhookName}, &wh); err != nil {
		return err
	}
	if !bytes.Equal(bytes.TrimSpace(wh.Webhooks[0].ClientConfig.CABundle), bytes.TrimSpace(ca)) {
		return fmt.Errorf("caBundle is not the Secret's CA")
	}
	return nil
}

func waitFor(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if apierrors.IsNotFound(err) || time.Now().Before(end) {
			if time.Now().After(end) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Fatalf("%s: %v", what, err)
	}
}
