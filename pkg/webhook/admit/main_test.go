package admit_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionapi "k8s.io/api/admission/v1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
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

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/inject/imageconfig"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/pkg/webhook/admit"
	"github.com/graceful-dev/graceful/pkg/webhook/policystatus"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

// The suite: one real etcd + kube-apiserver (envtest), one manager in this
// process serving our webhook and a second "adder" webhook, one loopback
// registry behind basic auth.
var (
	repoRoot  string
	env       *envtest.Environment
	restCfg   *rest.Config
	k8s       client.Client // records the API server's warnings in warns
	warns     = &warningLog{}
	scheme    = k8sruntime.NewScheme()
	mgrClient client.Client
	current   atomic.Pointer[admit.Handler]
	handlers  = map[admit.LookupFailure]*admit.Handler{}

	reg         *httptest.Server
	regHost     string // 127.0.0.1:port of the registry
	deadHost    string // 127.0.0.1:port where nothing listens
	privateRef  string // image in reg, needs basic auth
	publicRef   string // image in reg anyone may read: what simplePod runs
	quitRef     string // image in reg anyone may read, with STOPSIGNAL SIGQUIT
	regUser     = "puller"
	regPassword = "s3cret"
)

const (
	ownNamespace  = "graceful-system"
	graceImage    = "registry.example/graceful@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	webhookPath   = "mutate-v1-pod"
	adderPath     = "add-container"
	addLateLabel  = "test.graceful.dev/add-late"
	lateContainer = "late"
)

var systemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

func TestMain(m *testing.M) {
	code, err := suite(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pkg/webhook/admit suite:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func suite(m *testing.M) (int, error) {
	root, err := envtestenv.ModuleRoot()
	if err != nil {
		return 1, err
	}
	repoRoot = root
	assets, err := envtestenv.AssetsDir()
	if err != nil {
		return 1, err
	}
	logf.SetLogger(funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: verbosity()}))

	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return 1, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return 1, err
	}

	ours, err := LoadWebhookConfig(filepath.Join(repoRoot, "config", "webhook", "manifests.yaml"))
	if err != nil {
		return 1, err
	}
	env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			LocalServingHost: "127.0.0.1",
			MutatingWebhooks: []*admissionv1.MutatingWebhookConfiguration{ours, adderConfig()},
		},
	}
	restCfg, err = env.Start()
	if err != nil {
		return 1, fmt.Errorf("starting envtest: %w", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()

	wcfg := rest.CopyConfig(restCfg)
	wcfg.WarningHandler = warns
	if k8s, err = client.New(wcfg, client.Options{Scheme: scheme}); err != nil {
		return 1, err
	}

	stopRegistry, err := startRegistry()
	if err != nil {
		return 1, err
	}
	defer stopRegistry()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wio := &env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir,
		}),
	})
	if err != nil {
		return 1, fmt.Errorf("manager: %w", err)
	}
	mgrClient = mgr.GetClient()
	resolver := imageconfig.New(imageconfig.Options{Insecure: []string{regHost, deadHost}})
	for _, mode := range []admit.LookupFailure{admit.LookupSkipContainer, admit.LookupReject} {
		h, err := admit.New(admit.Options{
			Cache:              mgr.GetCache(),
			API:                mgr.GetAPIReader(),
			Resolver:           resolver,
			Events:             mgr.GetEventRecorder("graceful-webhook"),
			Rewrite:            rewrite.Config{Image: graceImage, Version: "v0.0.0-test", ImageVolumeNodeLabel: "graceful.dev/image-volume"},
			ExcludedNamespaces: append([]string{ownNamespace}, systemNamespaces...),
			LookupFailure:      mode,
			LookupTimeout:      3 * time.Second,
		}, cradmission.NewDecoder(scheme))
		if err != nil {
			return 1, err
		}
		handlers[mode] = h
	}
	current.Store(handlers[admit.LookupSkipContainer])
	mgr.GetWebhookServer().Register("/"+webhookPath, &webhook.Admission{Handler: swapHandler{}})
	mgr.GetWebhookServer().Register("/"+adderPath, &webhook.Admission{Handler: cradmission.HandlerFunc(addLate)})
	if err := (&policystatus.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return 1, err
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return 1, errors.New("manager cache did not sync")
	}
	if err := waitServing(ctx, net.JoinHostPort(wio.LocalServingHost, fmt.Sprint(wio.LocalServingPort))); err != nil {
		return 1, err
	}

	code := m.Run()
	cancel()
	if err := <-mgrDone; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
	}
	return code, nil
}

// verbosity: GRACEFUL_TEST_VERBOSE=1 shows the webhook's debug logs.
func verbosity() int {
	if os.Getenv("GRACEFUL_TEST_VERBOSE") != "" {
		return 1
	}
	return 0
}

// swapHandler serves whichever handler the running test chose.
type swapHandler struct{}

func (swapHandler) Handle(ctx context.Context, req cradmission.Request) cradmission.Response {
	return current.Load().Handle(ctx, req)
}

// useMode switches the served handler's lookup failure mode until the test ends.
func useMode(t *testing.T, mode admit.LookupFailure) {
	t.Helper()
	current.Store(handlers[mode])
	t.Cleanup(func() { current.Store(handlers[admit.LookupSkipContainer]) })
}

// LoadWebhookConfig reads config/webhook's MutatingWebhookConfiguration and
// makes its service paths relative, as envtest wants them (it builds the URL
// as https://host:port/<path>).
func LoadWebhookConfig(path string) (*admissionv1.MutatingWebhookConfiguration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg admissionv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := range cfg.Webhooks {
		if s := cfg.Webhooks[i].ClientConfig.Service; s != nil && s.Path != nil {
			p := strings.TrimPrefix(*s.Path, "/")
			s.Path = &p
		}
	}
	return &cfg, nil
}

// adderConfig is a second mutating webhook, named to run after ours, that
// adds a container to pods labelled test.graceful.dev/add-late=true: ours
// must be reinvoked and wrap it.
func adderConfig() *admissionv1.MutatingWebhookConfiguration {
	path := adderPath
	none := admissionv1.SideEffectClassNone
	fail := admissionv1.Fail
	never := admissionv1.NeverReinvocationPolicy
	timeout := int32(5)
	return &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zz-test-adder"},
		Webhooks: []admissionv1.MutatingWebhook{{
			Name:                    "adder.test.graceful.dev",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			ReinvocationPolicy:      &never,
			TimeoutSeconds:          &timeout,
			ClientConfig:            admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Name: "x", Namespace: "x", Path: &path}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{addLateLabel: "true"}},
			Rules: []admissionv1.RuleWithOperations{{
				Operations: []admissionv1.OperationType{admissionv1.Create},
				Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}},
	}
}

// addLate appends the container "late" (command set) unless it is there.
func addLate(_ context.Context, req cradmission.Request) cradmission.Response {
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return cradmission.Errored(http.StatusBadRequest, err)
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == lateContainer {
			return cradmission.Allowed("already there")
		}
	}
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
		Name: lateContainer, Image: publicRef, Command: []string{"sleep", "3600"},
	})
	out, err := json.Marshal(&pod)
	if err != nil {
		return cradmission.Errored(http.StatusInternalServerError, err)
	}
	return cradmission.PatchResponseFromRaw(req.Object.Raw, out)
}

func waitServing(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("webhook server on %s never listened: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startRegistry starts a real OCI registry on loopback that wants basic
// auth except for the repositories under public/, pushes a private image
// with an ENTRYPOINT and CMD and two public ones (one with STOPSIGNAL
// SIGQUIT), and reserves a port where nothing listens (the registry that is
// down).
func startRegistry() (func(), error) {
	inner := registry.New()
	reg = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); (!ok || u != regUser || p != regPassword) && !strings.HasPrefix(r.URL.Path, "/v2/public/") {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	regHost = strings.TrimPrefix(reg.URL, "http://")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	deadHost = l.Addr().String()
	l.Close()

	privateRef = regHost + "/private/app:v1"
	publicRef = regHost + "/public/busybox:1.36"
	quitRef = regHost + "/public/nginx:1"
	for ref, c := range map[string]v1.Config{
		privateRef: {Entrypoint: []string{"/app/server"}, Cmd: []string{"--listen=:8080"}},
		publicRef:  {Cmd: []string{"sh"}},
		quitRef:    {Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"nginx", "-g", "daemon off;"}, StopSignal: "SIGQUIT"},
	} {
		if err := pushImage(ref, c); err != nil {
			return nil, err
		}
	}
	return reg.Close, nil
}

// pushImage pushes a random linux/amd64 image with config c to ref.
func pushImage(to string, c v1.Config) error {
	img, err := random.Image(256, 1)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64", Config: c, RootFS: cf.RootFS})
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(to, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: regUser, Password: regPassword})); err != nil {
		return fmt.Errorf("pushing %s: %w", to, err)
	}
	return nil
}

// pullSecret is a kubernetes.io/dockerconfigjson secret for the registry.
func pullSecret(ns, name string) *corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte(regUser + ":" + regPassword))
	cfg := fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q,"auth":%q}}}`, regHost, regUser, regPassword, auth)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)},
	}
}

// warningLog records the API server's warning headers.
type warningLog struct {
	mu sync.Mutex
	w  []string
}

func (l *warningLog) HandleWarningHeader(_ int, _ string, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w = append(l.w, text)
}

// take returns the warnings since the last take.
func (l *warningLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.w
	l.w = nil
	return w
}

// review is the admission request the API server would send for pod.
func review(t *testing.T, pod *corev1.Pod, dryRun bool) cradmission.Request {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return cradmission.Request{AdmissionRequest: admissionapi.AdmissionRequest{
		UID:       types.UID("00000000-0000-0000-0000-000000000001"),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: pod.Namespace,
		Name:      pod.Name,
		Operation: admissionapi.Create,
		Object:    k8sruntime.RawExtension{Raw: raw},
		DryRun:    &dryRun,
	}}
}
