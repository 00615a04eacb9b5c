// Package certs provides graceful-webhook's serving certificate, in one of
// two modes:
//
//   - Rotate: open-policy-agent/cert-controller keeps a CA and a serving
//     certificate for <service>.<namespace>.svc in a Secret of the webhook's
//     namespace and patches the CA into the MutatingWebhookConfiguration's
//     caBundle. This package adds what the rotator leaves to a volume mount:
//     it creates the Secret when it is missing (at start and when deleted;
//     the rotator then issues a new CA and certificate) and copies the
//     certificate into CertDir, where controller-runtime's certificate
//     watcher picks it up, so no Secret volume (and no kubelet sync delay)
//     is needed. A certificate from a new CA is written only once the
//     webhook configuration's caBundle holds that CA, which narrows the
//     window in which the API server and the server disagree to the API
//     server's own watch delay. Renewals under the same CA have no window.
//   - Dir: the certificate is provided in CertDir (cert-manager, a mounted
//     Secret); nothing is written.
//
// In both modes ReadyCheck fails until CertDir holds a key pair whose
// certificate is valid now (and, in rotate mode, until the CA has been
// injected), so /readyz gates traffic on a usable certificate.
package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// File and Secret key names (the rotator's and controller-runtime's defaults).
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
	CAKey    = "ca.crt"
)

// Options configure rotate mode.
type Options struct {
	Namespace         string // the webhook's namespace, holding the Secret
	SecretName        string
	WebhookConfigName string // MutatingWebhookConfiguration to patch
	ServiceName       string // the certificate is for <service>.<namespace>.svc
	CertDir           string
	// ExtraDNSNames are added to the certificate (tests: "localhost").
	ExtraDNSNames []string

	// Rotation knobs; zero means the rotator's defaults (CA 10 years, server
	// certificate 1 year, renewed 90 days before expiry, checked hourly).
	CACertDuration, ServerCertDuration, LookaheadInterval, RotationCheckFrequency time.Duration
	// SyncInterval is how often the Secret is copied to CertDir; 0 means 1s.
	SyncInterval time.Duration
}

// Certs is a serving certificate source.
type Certs struct {
	certDir string
	ready   chan struct{} // closed by the rotator once the CA is injected; nil in dir mode

	mu    sync.Mutex
	pair  *tls.Certificate
	stamp string // mtime/size of the loaded certificate file
}

// Dir is the mode where the certificate is provided in certDir.
func Dir(certDir string) *Certs { return &Certs{certDir: certDir} }

// Rotate sets up rotate mode on mgr: the rotator and the Secret-to-CertDir
// sync. It creates the Secret now if it is missing (the rotator needs it).
func Rotate(ctx context.Context, mgr manager.Manager, o Options) (*Certs, error) {
	for _, fv := range [][2]string{{"namespace", o.Namespace}, {"secret name", o.SecretName},
		{"webhook configuration name", o.WebhookConfigName}, {"service name", o.ServiceName}, {"cert dir", o.CertDir}} {
		if field, v := fv[0], fv[1]; v == "" {
			return nil, fmt.Errorf("certs: %s is empty", field)
		}
	}
	if err := os.MkdirAll(o.CertDir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: cert dir: %w", err)
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return nil, fmt.Errorf("certs: client: %w", err)
	}
	key := types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName}
	if err := ensureSecret(ctx, direct, key); err != nil {
		return nil, err
	}
	c := &Certs{certDir: o.CertDir, ready: make(chan struct{})}
	dns := fmt.Sprintf("%s.%s.svc", o.ServiceName, o.Namespace)
	r := &rotator.CertRotator{
		SecretKey:              key,
		CertDir:                o.CertDir,
		CAName:                 "graceful-webhook-ca",
		CAOrganization:         "graceful",
		DNSName:                dns,
		ExtraDNSNames:          append([]string{dns + ".cluster.local", o.ServiceName + "." + o.Namespace, o.ServiceName}, o.ExtraDNSNames...),
		IsReady:                c.ready,
		Webhooks:               []rotator.WebhookInfo{{Name: o.WebhookConfigName, Type: rotator.Mutating}},
		FieldOwner:             "graceful-webhook",
		CaCertDuration:         o.CACertDuration,
		ServerCertDuration:     o.ServerCertDuration,
		LookaheadInterval:      o.LookaheadInterval,
		RotationCheckFrequency: o.RotationCheckFrequency,
		ControllerName:         "graceful-cert-rotator",
	}
	if err := rotator.AddRotator(mgr, r); err != nil {
		return nil, fmt.Errorf("certs: adding the rotator: %w", err)
	}
	interval := o.SyncInterval
	if interval <= 0 {
		interval = time.Second
	}
	s := &syncer{c: direct, key: key, webhook: o.WebhookConfigName, dir: o.CertDir, interval: interval,
		log: mgr.GetLogger().WithName("certs")}
	if err := mgr.Add(s); err != nil {
		return nil, fmt.Errorf("certs: adding the sync: %w", err)
	}
	return c, nil
}

// CertDir is where the serving certificate is.
func (c *Certs) CertDir() string { return c.certDir }

// ReadyCheck is a healthz.Checker: ready once CertDir holds a valid key
// pair (and, in rotate mode, the CA is injected).
func (c *Certs) ReadyCheck(_ *http.Request) error {
	if c.ready != nil {
		select {
		case <-c.ready:
		default:
			return errors.New("the CA is not injected into the webhook configuration yet")
		}
	}
	return validPair(c.certDir, time.Now())
}

func validPair(dir string, now time.Time) error {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return fmt.Errorf("serving certificate in %s: %w", dir, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("serving certificate in %s: %w", dir, err)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("serving certificate in %s is valid from %s to %s, not now", dir, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	return nil
}

func ensureSecret(ctx context.Context, c client.Client, key types.NamespacedName) error {
	var s corev1.Secret
	err := c.Get(ctx, key, &s)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("certs: reading Secret %s: %w", key, err)
	}
	s = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
		Labels: map[string]string{"app.kubernetes.io/name": "graceful", "app.kubernetes.io/component": "webhook"}}}
	if err := c.Create(ctx, &s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("certs: creating Secret %s: %w", key, err)
	}
	return nil
}

// syncer copies the Secret's certificate into the cert dir.
type syncer struct {
	c        client.Client
	key      types.NamespacedName
	webhook  string
	dir      string
	interval time.Duration
	log      logr.Logger
}

// NeedLeaderElection: every replica serves, so every replica needs files.
func (s *syncer) NeedLeaderElection() bool { return false }

func (s *syncer) Start(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if err := s.sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Error(err, "syncing the serving certificate")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *syncer) sync(ctx context.Context) error {
	var sec corev1.Secret
	if err := s.c.Get(ctx, s.key, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			s.log.Info("certificate Secret missing: recreating it", "secret", s.key.String())
			return ensureSecret(ctx, s.c, s.key)
		}
		return fmt.Errorf("reading Secret %s: %w", s.key, err)
	}
	cert, key, ca := sec.Data[CertFile], sec.Data[KeyFile], sec.Data[CAKey]
	if len(cert) == 0 || len(key) == 0 || len(ca) == 0 {
		return nil // the rotator has not written it yet
	}
	old, _ := os.ReadFile(filepath.Join(s.dir, CertFile))
	if bytes.Equal(old, cert) {
		return nil
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return fmt.Errorf("secret %s holds no valid key pair: %w", s.key, err)
	}
	if ok, err := s.caInjected(ctx, ca); err != nil || !ok {
		return err // wait: the API server would not trust the new certificate yet
	}
	// Key first: the watcher reloads on the certificate's change, and a
	// mismatched pair in between is refused by it (the old one stays).
	if err := writeAtomic(filepath.Join(s.dir, KeyFile), key); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(s.dir, CertFile), cert); err != nil {
		return err
	}
	s.log.Info("serving certificate updated", "dir", s.dir)
	return nil
}

// caInjected reports whether every webhook of the configuration trusts ca.
func (s *syncer) caInjected(ctx context.Context, ca []byte) (bool, error) {
	var wh admissionregv1.MutatingWebhookConfiguration
	if err := s.c.Get(ctx, types.NamespacedName{Name: s.webhook}, &wh); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil // nothing to wait for; the rotator logs it
		}
		return false, fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", s.webhook, err)
	}
	for _, w := range wh.Webhooks {
		if !bytes.Contains(w.ClientConfig.CABundle, bytes.TrimSpace(ca)) {
			return false, nil
		}
	}
	return true, nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// GetCertificate serves the key pair in CertDir, reloading it when the
// certificate file changes; set it as the webhook server's
// tls.Config.GetCertificate (TLSOpts), so the server starts before the
// first certificate exists and handshakes fail until it does.
func (c *Certs) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	certPath := filepath.Join(c.certDir, CertFile)
	fi, err := os.Stat(certPath)
	if err != nil {
		return nil, fmt.Errorf("no serving certificate yet: %w", err)
	}
	stamp := fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pair != nil && c.stamp == stamp {
		return c.pair, nil
	}
	pair, err := tls.LoadX509KeyPair(certPath, filepath.Join(c.certDir, KeyFile))
	if err != nil {
		if c.pair != nil {
			return c.pair, nil // mid-update (key and cert disagree): keep serving the old pair
		}
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	c.pair, c.stamp = &pair, stamp
	return c.pair, nil
}
