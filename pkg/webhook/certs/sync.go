package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Retry bounds after a failed sync (an API or file error); a change of the
// Secret or the webhook configuration also starts a sync at once.
const (
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

// syncer copies the Secret's certificate into the cert dir. It runs on
// every replica (each serves from its own dir) and learns of changes from
// a watch of the Secret and of the webhook configuration, each by name, so
// a replica at rest sends the API server nothing.
type syncer struct {
	api     client.Client // recreates a deleted Secret
	cache   cache.Cache   // the Secret and the webhook configuration only
	key     types.NamespacedName
	webhook string
	dir     string
	log     logr.Logger

	// ready is closed once the dir holds the Secret's certificate and the
	// webhook configuration trusts its CA.
	ready     chan struct{}
	readyOnce sync.Once
}

func newSyncer(mgr manager.Manager, api client.Client, key types.NamespacedName, webhook, dir string) (*syncer, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(),
		Mapper: mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{key.Namespace: {}},
				Field: fields.OneTermEqualSelector("metadata.name", key.Name)},
			&admissionregv1.MutatingWebhookConfiguration{}: {Field: fields.OneTermEqualSelector("metadata.name", webhook)},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("certs: cache of the Secret: %w", err)
	}
	return &syncer{api: api, cache: c, key: key, webhook: webhook, dir: dir,
		log: mgr.GetLogger().WithName("certs"), ready: make(chan struct{})}, nil
}

// NeedLeaderElection: every replica serves, so every replica needs files.
func (s *syncer) NeedLeaderElection() bool { return false }

// Start watches and syncs until ctx is done.
func (s *syncer) Start(ctx context.Context) error {
	cacheDone := make(chan error, 1)
	go func() { cacheDone <- s.cache.Start(ctx) }()
	kick := make(chan struct{}, 1)
	notify := func() {
		select {
		case kick <- struct{}{}:
		default: // a sync is due already; it reads the latest state
		}
	}
	onEvent := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, obj := range []client.Object{&corev1.Secret{}, &admissionregv1.MutatingWebhookConfiguration{}} {
		inf, err := s.cache.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("certs: watching %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(onEvent); err != nil {
			return fmt.Errorf("certs: watching %T: %w", obj, err)
		}
	}
	if !s.cache.WaitForCacheSync(ctx) {
		return <-cacheDone // ctx is done, or the cache failed to start
	}
	notify() // a Secret missing at start sends no event
	var (
		retry   <-chan time.Time
		backoff = minRetry
	)
	for {
		select {
		case <-ctx.Done():
			return <-cacheDone
		case err := <-cacheDone:
			return fmt.Errorf("certs: cache of the Secret stopped: %w", err)
		case <-kick:
		case <-retry:
		}
		retry = nil
		if err := s.sync(ctx); err != nil {
			if ctx.Err() != nil {
				continue
			}
			s.log.Error(err, "syncing the serving certificate", "retryIn", backoff.String())
			retry = time.After(backoff)
			backoff = min(2*backoff, maxRetry)
			continue
		}
		backoff = minRetry
	}
}

func (s *syncer) sync(ctx context.Context) error {
	var sec corev1.Secret
	if err := s.cache.Get(ctx, s.key, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			s.log.Info("certificate Secret missing: recreating it", "secret", s.key.String())
			return createSecret(ctx, s.api, s.key)
		}
		return fmt.Errorf("reading Secret %s: %w", s.key, err)
	}
	cert, key, ca := sec.Data[CertFile], sec.Data[KeyFile], sec.Data[CAKey]
	if len(cert) == 0 || len(key) == 0 || len(ca) == 0 {
		return nil // the rotator has not written it yet; its write is an event
	}
	old, _ := os.ReadFile(filepath.Join(s.dir, CertFile))
	same := bytes.Equal(old, cert)
	if same && s.isReady() {
		return nil
	}
	if !same {
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			return fmt.Errorf("secret %s holds no valid key pair: %w", s.key, err)
		}
	}
	if ok, err := s.caInjected(ctx, ca); err != nil || !ok {
		// Wait: the API server would not trust the new certificate yet.
		// The caBundle's update is an event.
		return err
	}
	if !same {
		// Key first: GetCertificate reloads on the certificate's change,
		// and keeps the old pair while the two disagree.
		if err := writeAtomic(filepath.Join(s.dir, KeyFile), key); err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(s.dir, CertFile), cert); err != nil {
			return err
		}
		s.log.Info("serving certificate updated", "dir", s.dir)
	}
	s.readyOnce.Do(func() { close(s.ready) })
	return nil
}

func (s *syncer) isReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// caInjected reports whether every webhook of the configuration trusts ca.
func (s *syncer) caInjected(ctx context.Context, ca []byte) (bool, error) {
	var wh admissionregv1.MutatingWebhookConfiguration
	if err := s.cache.Get(ctx, types.NamespacedName{Name: s.webhook}, &wh); err != nil {
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
