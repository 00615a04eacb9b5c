// Package server wires `graceful-webhook serve`: a controller-runtime
// manager holding the admission handler (pkg/webhook/admit) at /mutate-v1-pod,
// the caches of Namespaces and ShutdownPolicies it reads, the
// ShutdownPolicy status controller, the serving certificate (pkg/webhook/certs),
// /healthz and /readyz (ready only with a valid certificate, synced caches
// and a started webhook server) and the Prometheus metrics (HTTPS for
// callers the API server authenticates and authorizes, unless
// metricsSecure is off). HTTP/2 is off on the webhook and metrics servers
// unless enableHTTP2. With leaderElection the replicas elect a leader
// (a Lease in the own namespace) that alone rotates the certificate and
// writes policy status, and alone runs the fleet controllers
// (pkg/webhook/fleet, unless driftController is off); every replica serves
// admission.
//
// The RBAC the process needs is in rbac.go's markers.
package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/inject/imageconfig"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/pkg/version"
	"github.com/graceful-dev/graceful/pkg/webhook/admit"
	"github.com/graceful-dev/graceful/pkg/webhook/certs"
	"github.com/graceful-dev/graceful/pkg/webhook/fleet"
	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
	"github.com/graceful-dev/graceful/pkg/webhook/options"
	"github.com/graceful-dev/graceful/pkg/webhook/policystatus"
)

// Path is where the mutating webhook is served (config/webhook).
const Path = "/mutate-v1-pod"

// Server is a configured, not yet started, webhook manager.
type Server struct {
	Manager  manager.Manager
	Handler  *admit.Handler
	Resolver *imageconfig.Resolver
	Certs    *certs.Certs
}

// Options are what tests and hack/loadgen change; zero values are right
// for production.
type Options struct {
	// Host the webhook listens on ("" all addresses).
	Host string
	// CertOptions tune rotation (rotate mode); the config fills the names.
	CertOptions certs.Options
}

// New builds the manager and everything on it. restCfg is the cluster.
func New(ctx context.Context, restCfg *rest.Config, cfg options.Config, o Options, log logr.Logger) (*Server, error) {
	ctrl.SetLogger(log)
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}

	s := &Server{}
	serving := []func(*tls.Config){func(c *tls.Config) {
		// The certificate may not exist at start (rotate mode
		// writes it later); load it per handshake.
		c.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return s.Certs.GetCertificate(h) }
	}}
	metricsOpts := metricsserver.Options{BindAddress: cfg.MetricsBindAddress, SecureServing: cfg.MetricsSecure}
	if !cfg.EnableHTTP2 {
		serving = append(serving, http1Only)
		metricsOpts.TLSOpts = append(metricsOpts.TLSOpts, http1Only)
	}
	if cfg.MetricsSecure {
		// TokenReview and SubjectAccessReview against the API server: the
		// caller needs get on the non-resource URL /metrics.
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 log,
		Metrics:                metricsOpts,
		HealthProbeBindAddress: cfg.HealthProbeBindAddress,
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: o.Host, Port: cfg.Port, CertDir: cfg.CertDir, TLSOpts: serving,
		}),
		LeaderElection:          cfg.LeaderElection,
		LeaderElectionID:        cfg.LeaderElectionID,
		LeaderElectionNamespace: cfg.OwnNamespace,
		// A replica that stops (rollout, drain) hands the Lease over at
		// once instead of leaving it to expire.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	s.Manager = mgr

	switch cfg.CertMode {
	case options.CertRotate:
		co := o.CertOptions
		co.Namespace, co.SecretName, co.WebhookConfigName, co.ServiceName, co.CertDir =
			cfg.OwnNamespace, cfg.CertSecretName, cfg.WebhookConfigName, cfg.ServiceName, cfg.CertDir
		if s.Certs, err = certs.Rotate(ctx, mgr, co); err != nil {
			return nil, err
		}
	default:
		s.Certs = certs.Dir(cfg.CertDir)
	}

	ro := imageconfig.Options{Insecure: cfg.InsecureRegistries}
	if cfg.RegistryCABundle != "" {
		if ro.Transport, err = imageconfig.TransportWithCA(cfg.RegistryCABundle); err != nil {
			return nil, fmt.Errorf("registryCABundle: %w", err)
		}
	}
	s.Resolver = imageconfig.New(ro)
	metrics.Register(func() (uint64, uint64) { st := s.Resolver.Stats(); return st.Hits, st.Misses })

	s.Handler, err = admit.New(admit.Options{
		Cache:              mgr.GetCache(),
		API:                mgr.GetAPIReader(),
		Resolver:           s.Resolver,
		Events:             mgr.GetEventRecorder("graceful-webhook"),
		Rewrite:            rewrite.Config{Image: cfg.Image, Version: version.Version, Resources: cfg.InstallResources, Delivery: cfg.Delivery, ImageVolumeNodeLabel: cfg.ImageVolumeNodeLabel},
		ExcludedNamespaces: cfg.ExcludedNamespaces(),
		LookupFailure:      admit.LookupFailure(cfg.LookupFailure),
		LookupTimeout:      cfg.LookupTimeout.Duration,
	}, cradmission.NewDecoder(scheme))
	if err != nil {
		return nil, err
	}
	mgr.GetWebhookServer().Register(Path, &webhook.Admission{Handler: s.Handler, RecoverPanic: ptrTrue()})

	if err := (&policystatus.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("policy status controller: %w", err)
	}
	if cfg.DriftController {
		if err := fleet.Setup(mgr, fleet.Options{Version: version.Version, ExcludedNamespaces: cfg.ExcludedNamespaces(),
			Events: mgr.GetEventRecorder("graceful-webhook")}); err != nil {
			return nil, err
		}
	}
	// Start the handler's informers with the manager, not on the first
	// admission request.
	for _, obj := range []client.Object{&corev1.Namespace{}, &v1alpha1.ShutdownPolicy{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
			return nil, fmt.Errorf("informer for %T: %w", obj, err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	checks := map[string]healthz.Checker{
		"certificate": s.Certs.ReadyCheck,
		"webhook":     mgr.GetWebhookServer().StartedChecker(),
		"caches": func(r *http.Request) error {
			if !mgr.GetCache().WaitForCacheSync(r.Context()) {
				return fmt.Errorf("caches not synced")
			}
			return nil
		},
	}
	for _, name := range []string{"certificate", "webhook", "caches"} {
		if err := mgr.AddReadyzCheck(name, checks[name]); err != nil {
			return nil, err
		}
	}
	log.Info("configured", "version", version.Version, "image", cfg.Image, "certMode", cfg.CertMode,
		"lookupFailure", cfg.LookupFailure, "lookupTimeout", cfg.LookupTimeout.Duration.String(),
		"excludedNamespaces", cfg.ExcludedNamespaces(), "port", strconv.Itoa(cfg.Port))
	return s, nil
}

// Start runs until ctx is done.
func (s *Server) Start(ctx context.Context) error { return s.Manager.Start(ctx) }

func ptrTrue() *bool { t := true; return &t }

// http1Only keeps a TLS server from negotiating HTTP/2 (ALPN offers
// http/1.1 alone), as the kubebuilder scaffold does: HTTP/2 stream handling
// has had denial-of-service flaws (Rapid Reset, CVE-2023-44487 and
// CVE-2023-39325) and the API server and Prometheus need only HTTP/1.1.
func http1Only(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
