// Package options turns `graceful-webhook serve` flags and its YAML
// config file (--config) into a validated Config.
//
// Precedence: built-in defaults, then the file, then flags given on the
// command line. The file is decoded strictly: an unknown or misspelt field
// is an error naming it. Validate names the field of every bad value, so a
// bad config stops the start with a message saying what to fix. Each
// option is declared once, as a Config field whose struct tags give its
// YAML name, flag, default and help (flags.go reads them).
package options

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
)

// Cert modes.
const (
	// CertRotate: graceful-webhook keeps a CA and serving certificate in a
	// Secret and patches the CA into its MutatingWebhookConfiguration.
	CertRotate = "rotate"
	// CertDir: the certificate is provided in CertDir (cert-manager, a
	// mounted Secret); graceful-webhook only reads it.
	CertDir = "dir"
)

// Lookup failure modes (pkg/webhook/admit.LookupFailure).
const (
	LookupSkipContainer = "skip-container"
	LookupReject        = "reject"
)

// MaxLookupTimeout keeps lookups under the webhook's 5s timeout, with room
// for decoding, the rewrite and the way back.
const MaxLookupTimeout = 4 * time.Second

// Config is the server's configuration. Each field is declared once, here:
// its `json` tag is its name in the YAML file (and in Validate's messages),
// `flag` its command-line flag (none: file only), `default` its built-in
// default in the flag's own syntax, `env` an environment variable whose
// value, when set, replaces that default, and `usage` the flag's help.
type Config struct {
	// Image is the graceful image for the install container (by digest
	// where known). Required.
	Image string `json:"image" flag:"image" usage:"graceful image for the install container (required)"`
	// SystemNamespaces are never injected.
	SystemNamespaces []string `json:"systemNamespaces,omitempty" flag:"system-namespaces" default:"kube-system,kube-public,kube-node-lease" usage:"comma-separated namespaces never injected"`
	// OwnNamespace is the webhook's namespace (never injected; holds the
	// cert Secret and the leader election Lease). Default: the
	// POD_NAMESPACE environment variable.
	OwnNamespace string `json:"ownNamespace,omitempty" flag:"own-namespace" env:"POD_NAMESPACE" usage:"the webhook's namespace (default: $POD_NAMESPACE)"`
	// LookupFailure: skip-container (default) or reject.
	LookupFailure string `json:"lookupFailure,omitempty" flag:"lookup-failure" default:"skip-container" usage:"when an image config lookup fails: skip-container or reject"`
	// LookupTimeout bounds a request's image config lookups (default 3s,
	// at most 4s).
	LookupTimeout metav1.Duration `json:"lookupTimeout,omitempty" flag:"lookup-timeout" default:"3s" usage:"deadline of a request's image config lookups (at most 4s)"`
	// InsecureRegistries are reached over plain HTTP (host or host:port).
	InsecureRegistries []string `json:"insecureRegistries,omitempty" flag:"insecure-registries" usage:"comma-separated registries reached over plain HTTP"`
	// RegistryCABundle is a PEM file of extra CAs for registries.
	RegistryCABundle string `json:"registryCABundle,omitempty" flag:"registry-ca-bundle" usage:"PEM file of extra CAs trusted for registries"`
	// Delivery is how graceful-init reaches a pod whose graceful.dev/delivery
	// annotation does not say: initContainer (default) or imageVolume.
	Delivery string `json:"delivery,omitempty" flag:"delivery" default:"initContainer" usage:"how graceful-init reaches pods that do not say (graceful.dev/delivery): initContainer or imageVolume"`
	// ImageVolumeNodeLabel is the node label ("true") that marks the nodes
	// whose runtime mounts image volumes; pods delivered by image volume
	// require it in their node affinity. Empty: no affinity is added.
	ImageVolumeNodeLabel string `json:"imageVolumeNodeLabel,omitempty" flag:"image-volume-node-label" default:"graceful.dev/image-volume" usage:"node label (value true) that pods delivered by image volume require ('' for none)"`
	// InstallResources of the install container (default:
	// rewrite.DefaultResources). File only.
	InstallResources corev1.ResourceRequirements `json:"installResources,omitempty"`
	// CertMode: rotate (default) or dir.
	CertMode string `json:"certMode,omitempty" flag:"cert-mode" default:"rotate" usage:"rotate (self-managed CA and cert in a Secret) or dir (certificate provided in --cert-dir)"`
	// CertSecretName is the Secret holding CA and serving cert (rotate mode).
	CertSecretName string `json:"certSecretName,omitempty" flag:"cert-secret" default:"graceful-webhook-cert" usage:"Secret holding the CA and serving certificate (rotate mode)"`
	// WebhookConfigName is the MutatingWebhookConfiguration whose caBundle
	// is kept (rotate mode).
	WebhookConfigName string `json:"webhookConfigName,omitempty" flag:"webhook-config" default:"graceful-webhook" usage:"MutatingWebhookConfiguration whose caBundle is kept (rotate mode)"`
	// ServiceName is the webhook's Service; the serving cert is for
	// <service>.<namespace>.svc.
	ServiceName string `json:"serviceName,omitempty" flag:"service" default:"graceful-webhook" usage:"the webhook's Service name"`
	// Port the webhook serves HTTPS on.
	Port int `json:"port,omitempty" flag:"port" default:"9443" usage:"HTTPS port of the webhook"`
	// CertDir holds tls.crt and tls.key.
	CertDir string `json:"certDir,omitempty" flag:"cert-dir" default:"/tmp/k8s-webhook-server/serving-certs" usage:"directory of tls.crt and tls.key"`
	// MetricsBindAddress serves /metrics ("0" disables).
	MetricsBindAddress string `json:"metricsBindAddress,omitempty" flag:"metrics-bind-address" default:":8443" usage:"address of /metrics (0 disables)"`
	// MetricsSecure serves /metrics over HTTPS (a self-signed certificate)
	// to callers whose bearer token the API server authenticates
	// (TokenReview) and authorizes for GET /metrics (SubjectAccessReview).
	// False serves plain HTTP to anyone who reaches the port.
	MetricsSecure bool `json:"metricsSecure" flag:"metrics-secure" default:"true" usage:"serve /metrics over HTTPS to authenticated, authorized callers only (false: plain HTTP, no auth)"`
	// EnableHTTP2 lets the webhook and metrics servers negotiate HTTP/2.
	// Off by default, as in the kubebuilder scaffold: HTTP/2's stream
	// handling has had denial-of-service flaws (Rapid Reset,
	// CVE-2023-44487; CVE-2023-39325), and HTTP/1.1 is all the API server
	// and Prometheus need.
	EnableHTTP2 bool `json:"enableHTTP2,omitempty" flag:"enable-http2" usage:"let the webhook and metrics servers negotiate HTTP/2 (off: HTTP/1.1 only)"`
	// LeaderElection makes the replicas elect a leader through a Lease in
	// OwnNamespace; only the leader rotates the certificate and writes
	// ShutdownPolicy status. Every replica serves admission either way.
	LeaderElection bool `json:"leaderElection,omitempty" flag:"leader-elect" usage:"elect a leader among the replicas (a Lease in the own namespace) for certificate rotation and policy status"`
	// LeaderElectionID is the name of the Lease.
	LeaderElectionID string `json:"leaderElectionID,omitempty" flag:"leader-election-id" default:"graceful-webhook" usage:"name of the leader election Lease"`
	// DriftController runs the leader's fleet controllers (pkg/webhook/fleet):
	// graceful_unprotected_pods, graceful_container_shutdowns_total and
	// their Events. Off, the webhook watches no pods.
	DriftController bool `json:"driftController" flag:"drift-controller" default:"true" usage:"on the leader, keep graceful_unprotected_pods and graceful_container_shutdowns_total and send their Events (off: no pod is watched)"`
	// HealthProbeBindAddress serves /healthz and /readyz.
	HealthProbeBindAddress string `json:"healthProbeBindAddress,omitempty" flag:"health-probe-bind-address" default:":8081" usage:"address of /healthz and /readyz"`
	// Verbosity of the logs: 0 (default) logs every admission, 1 also the
	// pods left alone.
	Verbosity int `json:"verbosity,omitempty" flag:"v" usage:"log verbosity"`
}

// Defaults returns the built-in defaults (the fields' `default` tags, and
// their `env` variables where set); env reads the environment.
func Defaults(env func(string) string) Config {
	var c Config
	setDefaults(&c, env)
	return c
}

// Parse reads args (flags, and the file named by --config) over the
// defaults and validates the result. env is os.Getenv in production. On
// -h it returns flag.ErrHelp after printing usage to out.
func Parse(args []string, env func(string) string, out io.Writer) (Config, error) {
	c, err := load(args, env, out)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// load is Parse without Validate.
func load(args []string, env func(string) string, out io.Writer) (Config, error) {
	// First pass: syntax, -h and --config, with the defaults in the usage.
	probe := Defaults(env)
	fs, configPath := flagSet(&probe, out)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c := Defaults(env)
	if *configPath != "" {
		b, err := os.ReadFile(*configPath)
		if err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		if err := yaml.UnmarshalStrict(b, &c); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", *configPath, err)
		}
	}
	// Second pass over the file's values: a flag sets its field only when
	// it is given, so flags given win over the file and the rest keep it.
	fs, _ = flagSet(&c, io.Discard)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every bad field, each named by its config-file name.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, a...)...))
	}
	if c.Image == "" {
		bad("image", "required: the graceful image for the install container (--image)")
	}
	for _, ns := range c.SystemNamespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			bad("systemNamespaces", "%q is not a namespace name: %s", ns, strings.Join(msgs, "; "))
		}
	}
	if c.OwnNamespace == "" {
		bad("ownNamespace", "required: set POD_NAMESPACE (downward API) or --own-namespace")
	} else if msgs := validation.IsDNS1123Label(c.OwnNamespace); len(msgs) > 0 {
		bad("ownNamespace", "%q is not a namespace name: %s", c.OwnNamespace, strings.Join(msgs, "; "))
	}
	if c.LookupFailure != LookupSkipContainer && c.LookupFailure != LookupReject {
		bad("lookupFailure", "%q: want %s or %s", c.LookupFailure, LookupSkipContainer, LookupReject)
	}
	if d := c.LookupTimeout.Duration; d <= 0 || d > MaxLookupTimeout {
		bad("lookupTimeout", "%s: want more than 0 and at most %s (the webhook times out at 5s)", d, MaxLookupTimeout)
	}
	for _, r := range c.InsecureRegistries {
		if r == "" || strings.ContainsAny(r, "/ ") {
			bad("insecureRegistries", "%q: want host or host:port", r)
		}
	}
	if c.RegistryCABundle != "" {
		if _, err := os.Stat(c.RegistryCABundle); err != nil {
			bad("registryCABundle", "%v", err)
		}
	}
	if c.Image != "" {
		rc := rewrite.Config{Image: c.Image, Version: "x", Resources: c.InstallResources}
		if err := rc.Validate(); err != nil {
			bad("installResources", "%v", err)
		}
	}
	if c.Delivery != contract.DeliveryInitContainer && c.Delivery != contract.DeliveryImageVolume {
		bad("delivery", "%q: want %s or %s", c.Delivery, contract.DeliveryInitContainer, contract.DeliveryImageVolume)
	}
	if c.ImageVolumeNodeLabel != "" {
		if msgs := validation.IsQualifiedName(c.ImageVolumeNodeLabel); len(msgs) > 0 {
			bad("imageVolumeNodeLabel", "%q is not a label key: %s", c.ImageVolumeNodeLabel, strings.Join(msgs, "; "))
		}
	}
	switch c.CertMode {
	case CertRotate:
		for _, fv := range [][2]string{{"certSecretName", c.CertSecretName}, {"webhookConfigName", c.WebhookConfigName}, {"serviceName", c.ServiceName}} {
			field, v := fv[0], fv[1]
			if msgs := validation.IsDNS1123Subdomain(v); len(msgs) > 0 {
				bad(field, "%q (needed in cert mode rotate): %s", v, strings.Join(msgs, "; "))
			}
		}
	case CertDir:
	default:
		bad("certMode", "%q: want %s or %s", c.CertMode, CertRotate, CertDir)
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("port", "%d: want 1-65535", c.Port)
	}
	if c.CertDir == "" {
		bad("certDir", "required")
	}
	if c.LeaderElection {
		if msgs := validation.IsDNS1123Subdomain(c.LeaderElectionID); len(msgs) > 0 {
			bad("leaderElectionID", "%q (needed with leaderElection): %s", c.LeaderElectionID, strings.Join(msgs, "; "))
		}
	}
	if c.Verbosity < 0 {
		bad("verbosity", "%d: want 0 or more", c.Verbosity)
	}
	return errors.Join(errs...)
}

// ExcludedNamespaces is the webhook's own namespace and the system ones.
func (c Config) ExcludedNamespaces() []string {
	out := slices.Clone(c.SystemNamespaces)
	if c.OwnNamespace != "" && !slices.Contains(out, c.OwnNamespace) {
		out = append(out, c.OwnNamespace)
	}
	return out
}
