// Package options turns `graceful-webhook serve` flags and its YAML
// config file (--config) into a validated Config.
//
// Precedence: built-in defaults, then the file, then flags given on the
// command line. The file is decoded strictly: an unknown or misspelt field
// is an error naming it. Validate names the field of every bad value, so a
// bad config stops the start with a message saying what to fix.
package options

import (
	"errors"
	"flag"
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

// Config is the server's configuration; the YAML file uses the json names.
type Config struct {
	// Image is the graceful image for the install container (by digest
	// where known). Required.
	Image string `json:"image"`
	// SystemNamespaces are never injected.
	SystemNamespaces []string `json:"systemNamespaces,omitempty"`
	// OwnNamespace is the webhook's namespace (never injected; holds the
	// cert Secret). Default: the POD_NAMESPACE environment variable.
	OwnNamespace string `json:"ownNamespace,omitempty"`
	// LookupFailure: skip-container (default) or reject.
	LookupFailure string `json:"lookupFailure,omitempty"`
	// LookupTimeout bounds a request's image config lookups (default 3s,
	// at most 4s).
	LookupTimeout metav1.Duration `json:"lookupTimeout,omitempty"`
	// InsecureRegistries are reached over plain HTTP (host or host:port).
	InsecureRegistries []string `json:"insecureRegistries,omitempty"`
	// RegistryCABundle is a PEM file of extra CAs for registries.
	RegistryCABundle string `json:"registryCABundle,omitempty"`
	// InstallResources of the install container (default: rewrite.DefaultResources).
	InstallResources corev1.ResourceRequirements `json:"installResources,omitempty"`
	// CertMode: rotate (default) or dir.
	CertMode string `json:"certMode,omitempty"`
	// CertSecretName is the Secret holding CA and serving cert (rotate mode).
	CertSecretName string `json:"certSecretName,omitempty"`
	// WebhookConfigName is the MutatingWebhookConfiguration whose caBundle
	// is kept (rotate mode).
	WebhookConfigName string `json:"webhookConfigName,omitempty"`
	// ServiceName is the webhook's Service; the serving cert is for
	// <service>.<namespace>.svc.
	ServiceName string `json:"serviceName,omitempty"`
	// Port the webhook serves HTTPS on.
	Port int `json:"port,omitempty"`
	// CertDir holds tls.crt and tls.key.
	CertDir string `json:"certDir,omitempty"`
	// MetricsBindAddress serves /metrics ("0" disables).
	MetricsBindAddress string `json:"metricsBindAddress,omitempty"`
	// HealthProbeBindAddress serves /healthz and /readyz.
	HealthProbeBindAddress string `json:"healthProbeBindAddress,omitempty"`
	// Verbosity of the logs: 0 (default) logs every admission, 1 also the
	// pods left alone.
	Verbosity int `json:"verbosity,omitempty"`
}

// Defaults returns the built-in defaults; env reads the environment.
func Defaults(env func(string) string) Config {
	return Config{
		SystemNamespaces:       contract.SystemNamespaces(),
		OwnNamespace:           env("POD_NAMESPACE"),
		LookupFailure:          LookupSkipContainer,
		LookupTimeout:          metav1.Duration{Duration: 3 * time.Second},
		CertMode:               CertRotate,
		CertSecretName:         "graceful-webhook-cert",
		WebhookConfigName:      "graceful-webhook",
		ServiceName:            "graceful-webhook",
		Port:                   9443,
		CertDir:                "/tmp/k8s-webhook-server/serving-certs",
		MetricsBindAddress:     ":8080",
		HealthProbeBindAddress: ":8081",
	}
}

// Parse reads args (flags, and the file named by --config) over the
// defaults and validates the result. env is os.Getenv in production. On
// -h it returns flag.ErrHelp after printing usage to out.
func Parse(args []string, env func(string) string, out io.Writer) (Config, error) {
	c := Defaults(env)
	fs := flag.NewFlagSet("graceful-webhook serve", flag.ContinueOnError)
	fs.SetOutput(out)
	var (
		configPath         string
		systemNS, insecure string
		lookupTimeout      time.Duration
		f                  = Config{}
	)
	fs.StringVar(&configPath, "config", "", "YAML config file (fields: see docs); flags given override it")
	fs.StringVar(&f.Image, "image", "", "graceful image for the install container (required)")
	fs.StringVar(&systemNS, "system-namespaces", strings.Join(c.SystemNamespaces, ","), "comma-separated namespaces never injected")
	fs.StringVar(&f.OwnNamespace, "own-namespace", c.OwnNamespace, "the webhook's namespace (default $POD_NAMESPACE)")
	fs.StringVar(&f.LookupFailure, "lookup-failure", c.LookupFailure, "when an image config lookup fails: skip-container or reject")
	fs.DurationVar(&lookupTimeout, "lookup-timeout", c.LookupTimeout.Duration, "deadline of a request's image config lookups (at most 4s)")
	fs.StringVar(&insecure, "insecure-registries", "", "comma-separated registries reached over plain HTTP")
	fs.StringVar(&f.RegistryCABundle, "registry-ca-bundle", "", "PEM file of extra CAs trusted for registries")
	fs.StringVar(&f.CertMode, "cert-mode", c.CertMode, "rotate (self-managed CA and cert in a Secret) or dir (certificate provided in --cert-dir)")
	fs.StringVar(&f.CertSecretName, "cert-secret", c.CertSecretName, "Secret holding the CA and serving certificate (rotate mode)")
	fs.StringVar(&f.WebhookConfigName, "webhook-config", c.WebhookConfigName, "MutatingWebhookConfiguration whose caBundle is kept (rotate mode)")
	fs.StringVar(&f.ServiceName, "service", c.ServiceName, "the webhook's Service name")
	fs.IntVar(&f.Port, "port", c.Port, "HTTPS port of the webhook")
	fs.StringVar(&f.CertDir, "cert-dir", c.CertDir, "directory of tls.crt and tls.key")
	fs.StringVar(&f.MetricsBindAddress, "metrics-bind-address", c.MetricsBindAddress, "address of /metrics (0 disables)")
	fs.StringVar(&f.HealthProbeBindAddress, "health-probe-bind-address", c.HealthProbeBindAddress, "address of /healthz and /readyz")
	fs.IntVar(&f.Verbosity, "v", 0, "log verbosity")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if configPath != "" {
		b, err := os.ReadFile(configPath)
		if err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		if err := yaml.UnmarshalStrict(b, &c); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", configPath, err)
		}
	}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "image":
			c.Image = f.Image
		case "system-namespaces":
			c.SystemNamespaces = contract.SplitList(systemNS)
		case "own-namespace":
			c.OwnNamespace = f.OwnNamespace
		case "lookup-failure":
			c.LookupFailure = f.LookupFailure
		case "lookup-timeout":
			c.LookupTimeout.Duration = lookupTimeout
		case "insecure-registries":
			c.InsecureRegistries = contract.SplitList(insecure)
		case "registry-ca-bundle":
			c.RegistryCABundle = f.RegistryCABundle
		case "cert-mode":
			c.CertMode = f.CertMode
		case "cert-secret":
			c.CertSecretName = f.CertSecretName
		case "webhook-config":
			c.WebhookConfigName = f.WebhookConfigName
		case "service":
			c.ServiceName = f.ServiceName
		case "port":
			c.Port = f.Port
		case "cert-dir":
			c.CertDir = f.CertDir
		case "metrics-bind-address":
			c.MetricsBindAddress = f.MetricsBindAddress
		case "health-probe-bind-address":
			c.HealthProbeBindAddress = f.HealthProbeBindAddress
		case "v":
			c.Verbosity = f.Verbosity
		}
	})
	if err := c.Validate(); err != nil {
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
