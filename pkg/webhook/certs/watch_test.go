package certs_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/graceful-dev/graceful/pkg/webhook/certs"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

// noWebhook is the URL of a webhook configuration that is never called
// (no pod is created).
const noWebhook = "https://localhost:1/mutate-v1-pod"

// requests counts the API requests a rest.Config's clients send, by
// method, path and whether they are watches (with their field selector).
type requests struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *requests) RoundTrip(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		key := req.Method + " " + req.URL.Path
		if q := req.URL.Query(); q.Get("watch") == "true" {
			key = "WATCH " + req.URL.Path + "?fieldSelector=" + q.Get("fieldSelector")
		}
		r.mu.Lock()
		r.n[key]++
		r.mu.Unlock()
		return next.RoundTrip(req)
	})
}

func (r *requests) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	r.n = map[string]int{}
	return n
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSyncWatchesTheSecret: the copy of the Secret into the cert dir comes
// from a watch of that one Secret (a field selector on its name), not from
// reading it again and again: over 5 quiet seconds after readiness the
// replica sends no GET of the Secret nor of the webhook configuration. A
// new certificate put into the Secret still reaches the cert dir.
func TestSyncWatchesTheSecret(t *testing.T) {
	cfg, c, scheme, ctx, root := apiServer(t, ns)
	createWebhookConfig(ctx, t, c, root, noWebhook)

	counted := &requests{n: map[string]int{}}
	mgrCfg := *cfg
	mgrCfg.WrapTransport = counted.RoundTrip
	mgr, err := ctrl.NewManager(&mgrCfg, ctrl.Options{Scheme: scheme,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	src, err := certs.Rotate(ctx, mgr, certs.Options{Namespace: ns, SecretName: secretName, WebhookConfigName: webhookName,
		ServiceName: "graceful-webhook", CertDir: certDir,
		ControllerName: "watch-test-rotator"}) // TestRotation's rotator has the default name
	if err != nil {
		t.Fatal(err)
	}
	envtestenv.Run(t, "manager", mgr.Start)
	waitFor(t, 60*time.Second, "readiness", func() error { return src.ReadyCheck(nil) })

	secretPath := "/api/v1/namespaces/" + ns + "/secrets/" + secretName
	webhookPath := "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" + webhookName
	watch := "WATCH /api/v1/namespaces/" + ns + "/secrets?fieldSelector=metadata.name=" + secretName
	start := counted.take()
	t.Logf("requests until ready: %v", start)
	if start["GET "+secretPath] > 2 {
		t.Errorf("%d GETs of the Secret until ready, want at most 2 (the start's existence check)", start["GET "+secretPath])
	}
	if start[watch] == 0 {
		t.Errorf("no watch of the Secret by name (%s) until ready", watch)
	}
	time.Sleep(5 * time.Second)
	quiet := counted.take()
	t.Logf("requests in 5 quiet seconds: %v", quiet)
	if n := quiet["GET "+secretPath]; n > 0 {
		t.Errorf("%d GETs of the Secret in 5 quiet seconds, want 0 (it is watched)", n)
	}
	if n := quiet["GET "+webhookPath]; n > 0 {
		t.Errorf("%d GETs of the webhook configuration in 5 quiet seconds, want 0", n)
	}

	// A new serving certificate from the same CA, written by someone else
	// (a rotation by another replica looks the same): the dir follows.
	var sec corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: secretName}, &sec); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := leafFrom(t, sec.Data["ca.crt"], sec.Data["ca.key"], "graceful-webhook."+ns+".svc")
	sec.Data[certs.CertFile], sec.Data[certs.KeyFile] = certPEM, keyPEM
	if err := c.Update(ctx, &sec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new certificate in the cert dir", func() error {
		var now corev1.Secret
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: secretName}, &now); err != nil {
			return err
		}
		got, _ := os.ReadFile(filepath.Join(certDir, certs.CertFile))
		if bytes.Equal(got, certPEM) || (!bytes.Equal(now.Data[certs.CertFile], certPEM) && bytes.Equal(got, now.Data[certs.CertFile])) {
			return nil // ours, or the rotator's replacement of it
		}
		return fmt.Errorf("cert dir does not hold the Secret's new certificate")
	})
	if err := src.ReadyCheck(nil); err != nil {
		t.Errorf("not ready after the change: %v", err)
	}
	if n := counted.take()["GET "+secretPath]; n > 0 {
		t.Errorf("%d GETs of the Secret to follow the change, want 0", n)
	}
}

// leafFrom issues a serving certificate for dns, valid for a year, from
// the CA in PEM.
func leafFrom(t *testing.T, caPEM, caKeyPEM []byte, dns string) (certPEM, keyPEM []byte) {
	t.Helper()
	ca, err := tls.X509KeyPair(caPEM, caKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: dns},
		DNSNames: []string{dns}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), ca.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	kb := x509.MarshalPKCS1PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: kb})
}

// TestNonLeaderReady: with leader election two replicas run the rotator
// only on the leader; the other, which never rotates, is ready all the
// same once its cert dir holds the Secret's certificate, whose CA the
// webhook configuration trusts.
func TestNonLeaderReady(t *testing.T) {
	cfg, c, scheme, ctx, root := apiServer(t, ns)
	createWebhookConfig(ctx, t, c, root, noWebhook)

	replica := func(name string) (ctrl.Manager, *certs.Certs) {
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme,
			Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
			LeaderElection: true, LeaderElectionID: "certs-test", LeaderElectionNamespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		src, err := certs.Rotate(ctx, mgr, certs.Options{Namespace: ns, SecretName: secretName, WebhookConfigName: webhookName,
			ServiceName: "graceful-webhook", CertDir: t.TempDir(), ControllerName: "rotator-" + name})
		if err != nil {
			t.Fatal(err)
		}
		envtestenv.Run(t, "manager "+name, mgr.Start)
		return mgr, src
	}
	leader, first := replica("a")
	select {
	case <-leader.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("the first replica was never elected")
	}
	waitFor(t, 60*time.Second, "the leader's readiness", func() error { return first.ReadyCheck(nil) })
	other, second := replica("b")
	waitFor(t, 30*time.Second, "the other replica's readiness", func() error { return second.ReadyCheck(nil) })
	select {
	case <-other.Elected():
		t.Fatal("the second replica was elected while the first holds the Lease")
	default:
	}
}
