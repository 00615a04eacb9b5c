// Package certs provides graceful-webhook's serving certificate, in one of
// two modes:
//
//   - Rotate: open-policy-agent/cert-controller keeps a CA and a serving
//     certificate for <service>.<namespace>.svc in a Secret of the webhook's
//     namespace and patches the CA into the MutatingWebhookConfiguration's
//     caBundle. The rotator runs on the elected leader when the manager
//     elects one (on every replica otherwise). This package adds what the
//     rotator leaves to a volume mount, on every replica: it creates the
//     Secret when it is missing (at start and when deleted; the rotator
//     then issues a new CA and certificate) and copies the certificate into
//     CertDir, where GetCertificate picks it up, so no Secret volume (and
//     no kubelet sync delay) is needed. The copy follows a watch of that
//     one Secret and of the webhook configuration (field selectors on their
//     names): a replica at rest sends no request for them. A certificate
//     from a new CA is written only once the webhook configuration's
//     caBundle holds that CA, which narrows the window in which the API
//     server and the server disagree to the API server's own watch delay.
//     Renewals under the same CA have no window.
//   - Dir: the certificate is provided in CertDir (cert-manager, a mounted
//     Secret); nothing is written.
//
// In both modes ReadyCheck fails until CertDir holds a key pair whose
// certificate is valid now (and, in rotate mode, until CertDir holds the
// Secret's certificate and the caBundle its CA, which a replica that is
// not the leader learns from the watch too), so /readyz gates traffic on a
// usable certificate.
package certs

import (
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

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
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
	// ControllerName names the rotator's controller; empty means
	// graceful-cert-rotator. controller-runtime refuses a name used before
	// in the process, so a second Rotate in one process needs another.
	ControllerName string

	// Rotation knobs; zero means the rotator's defaults (CA 10 years, server
	// certificate 1 year, renewed 90 days before expiry, checked hourly).
	CACertDuration, ServerCertDuration, LookaheadInterval, RotationCheckFrequency time.Duration
}

// Certs is a serving certificate source.
type Certs struct {
	certDir string
	ready   chan struct{} // closed by the sync once CertDir holds the Secret's certificate and its CA is injected; nil in dir mode

	mu    sync.Mutex
	pair  *tls.Certificate
	stamp string // mtime/size of the loaded certificate file
}

// Dir is the mode where the certificate is provided in certDir.
func Dir(certDir string) *Certs { return &Certs{certDir: certDir} }

// Rotate sets up rotate mode on mgr: the rotator (a leader election
// runnable) and the Secret-to-CertDir sync (on every replica). It creates
// the Secret now if it is missing (the rotator needs it).
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
	if err := createSecret(ctx, direct, key); err != nil {
		return nil, err
	}
	s, err := newSyncer(mgr, direct, key, o.WebhookConfigName, o.CertDir)
	if err != nil {
		return nil, err
	}
	c := &Certs{certDir: o.CertDir, ready: s.ready}
	dns := fmt.Sprintf("%s.%s.svc", o.ServiceName, o.Namespace)
	controllerName := o.ControllerName
	if controllerName == "" {
		controllerName = "graceful-cert-rotator"
	}
	r := &rotator.CertRotator{
		SecretKey:      key,
		CertDir:        o.CertDir,
		CAName:         "graceful-webhook-ca",
		CAOrganization: "graceful",
		DNSName:        dns,
		ExtraDNSNames:  append([]string{dns + ".cluster.local", o.ServiceName + "." + o.Namespace, o.ServiceName}, o.ExtraDNSNames...),
		// Closed on the leader only; readiness is the syncer's, which every
		// replica runs.
		IsReady:                make(chan struct{}),
		Webhooks:               []rotator.WebhookInfo{{Name: o.WebhookConfigName, Type: rotator.Mutating}},
		FieldOwner:             "graceful-webhook",
		CaCertDuration:         o.CACertDuration,
		ServerCertDuration:     o.ServerCertDuration,
		LookaheadInterval:      o.LookaheadInterval,
		RotationCheckFrequency: o.RotationCheckFrequency,
		ControllerName:         controllerName,
		// One writer of the Secret and the caBundle when the manager elects
		// a leader (without leader election it runs on every replica, as
		// before: the manager then starts every runnable).
		RequireLeaderElection: true,
	}
	if err := rotator.AddRotator(mgr, r); err != nil {
		return nil, fmt.Errorf("certs: adding the rotator: %w", err)
	}
	if err := mgr.Add(s); err != nil {
		return nil, fmt.Errorf("certs: adding the sync: %w", err)
	}
	return c, nil
}

// CertDir is where the serving certificate is.
func (c *Certs) CertDir() string { return c.certDir }

// ReadyCheck is a healthz.Checker: ready once CertDir holds a valid key
// pair (and, in rotate mode, that pair is the Secret's and its CA is
// injected).
func (c *Certs) ReadyCheck(_ *http.Request) error {
	if c.ready != nil {
		select {
		case <-c.ready:
		default:
			return errors.New("the Secret's certificate is not in the cert dir with its CA injected into the webhook configuration yet")
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

// createSecret creates the Secret empty, for the rotator to fill; one
// that exists already (another replica's) is as good.
func createSecret(ctx context.Context, c client.Client, key types.NamespacedName) error {
	s := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
		Labels: map[string]string{"app.kubernetes.io/name": "graceful", "app.kubernetes.io/component": "webhook"}}}
	if err := c.Create(ctx, &s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("certs: creating Secret %s: %w", key, err)
	}
	return nil
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
