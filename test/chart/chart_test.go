// Package chart_test renders charts/graceful with a real helm (built from the
// Go module proxy by hack/tools.sh) and has a real kube-apiserver (envtest,
// binaries from hack/k8s-binaries.sh) validate every manifest with a
// server-side dry-run. The monitoring objects are checked against the
// Prometheus Operator's real CRDs, and the alert rules with promtool's rule
// unit tests.
package chart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/graceful-dev/graceful/pkg/webhook/options"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

const (
	certManager = "github.com/cert-manager/cert-manager@v1.19.1"
	// The module proxy serves the repository with its example CRDs.
	promOperator = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
)

var (
	root     = mustAbs("../..")
	helm     = filepath.Join(root, "bin/tools/helm")
	promtool = filepath.Join(root, "bin/tools/promtool")
	k8s      client.Client
)

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

func TestMain(m *testing.M) {
	for _, tool := range []string{helm, promtool} {
		if _, err := os.Stat(tool); err != nil {
			fmt.Fprintf(os.Stderr, "%s not built: run 'make tools' (%v)\n", filepath.Base(tool), err)
			os.Exit(1)
		}
	}
	assets, err := envtestenv.AssetsDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmDir, err := moduleDir(certManager)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	poDir, err := moduleDir(promOperator)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	poCRDs := filepath.Join(poDir, "example/prometheus-operator-crd")
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		// The chart's own CRD first, cert-manager's real CRDs for the
		// cert-manager mode, and the Prometheus Operator's for the monitoring
		// objects (only the two the chart renders: the others are megabytes).
		CRDDirectoryPaths: []string{
			filepath.Join(root, "charts/graceful/crds"),
			filepath.Join(cmDir, "deploy/crds"),
			filepath.Join(poCRDs, "monitoring.coreos.com_servicemonitors.yaml"),
			filepath.Join(poCRDs, "monitoring.coreos.com_prometheusrules.yaml"),
		},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start envtest: %v\n", err)
		os.Exit(1)
	}
	k8s, err = client.New(cfg, client.Options{})
	if err == nil {
		err = k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "graceful-system"}})
	}
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest:", err)
	}
	os.Exit(code)
}

// moduleDir downloads a Go module (path@version) into the module cache and
// returns its folder: the module proxy serves whole repositories, CRDs
// included, so none are copied into this one.
func moduleDir(mod string) (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", mod).Output()
	if err != nil {
		return "", fmt.Errorf("download %s for its CRDs: %w", mod, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("download %s: no module folder in %s", mod, out)
	}
	return m.Dir, nil
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func objects(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("rendered manifests are not yaml: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// TestChartRendersAndValidates: every ci values file lints, renders, and
// every rendered object passes a server-side dry-run create.
func TestChartRendersAndValidates(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "charts/graceful/ci/*-values.yaml"))
	if len(files) < 6 {
		t.Fatalf("want a ci values file per mode, found %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := run(t, "lint", "--strict", filepath.Join(root, "charts/graceful"), "-f", f); err != nil {
				t.Fatal(err)
			}
			out, err := run(t, "template", "graceful", filepath.Join(root, "charts/graceful"), "-n", "graceful-system", "-f", f)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]bool{}
			for _, o := range objects(t, out) {
				kinds[o.GetKind()] = true
				if o.GetNamespace() == "" && namespaced(o.GetKind()) {
					o.SetNamespace("graceful-system")
				}
				// Strict: a field the schema does not know is an error, not dropped.
				if err := k8s.Create(context.Background(), o, client.DryRunAll, client.FieldValidation("Strict")); err != nil {
					t.Errorf("%s %s rejected by the API server: %v", o.GetKind(), o.GetName(), err)
				}
			}
			for _, k := range []string{"Deployment", "Service", "MutatingWebhookConfiguration", "ClusterRole", "Role", "ConfigMap", "ServiceAccount", "PodDisruptionBudget"} {
				if !kinds[k] {
					t.Errorf("no %s rendered", k)
				}
			}
			checkServerConfig(t, objects(t, out))
			if strings.Contains(f, "cert-manager") && !kinds["Certificate"] {
				t.Errorf("cert-manager mode renders no Certificate")
			}
			if strings.Contains(f, "monitoring") && (!kinds["ServiceMonitor"] || !kinds["PrometheusRule"]) {
				t.Errorf("%s renders no ServiceMonitor or no PrometheusRule", filepath.Base(f))
			}
		})
	}
}

func namespaced(kind string) bool {
	switch kind {
	case "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "CustomResourceDefinition", "Namespace":
		return false
	}
	return true
}

// TestChartFacts checks what the rendering must say, mode by mode.
func TestChartFacts(t *testing.T) {
	render := func(args ...string) string {
		out, err := run(t, append([]string{"template", "graceful", filepath.Join(root, "charts/graceful"), "-n", "graceful-system"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	def := render()
	for _, want := range []string{"failurePolicy: Ignore", "reinvocationPolicy: IfNeeded", "sideEffects: None", "timeoutSeconds: 5", `"graceful-system"`, "readOnlyRootFilesystem: true", "runAsUser: 65532"} {
		if !strings.Contains(def, want) {
			t.Errorf("default rendering lacks %q", want)
		}
	}
	if strings.Contains(def, "caBundle:") {
		t.Errorf("rotate mode must not template a caBundle (the webhook manages it; GitOps would see drift)")
	}
	// Rotate mode: the webhook writes its certificate into a writable emptyDir
	// at certDir (a mounted Secret would lag the kubelet's sync); the other
	// modes read the Secret, mounted where certDir points.
	if !strings.Contains(def, "certDir: /certs") || !strings.Contains(def, "mountPath: /certs") || !strings.Contains(def, "emptyDir:") {
		t.Errorf("rotate mode: certDir /certs must be a writable emptyDir")
	}
	if cm := render("--set", "certificates.mode=cert-manager"); !strings.Contains(cm, "certDir: /provided-certs") || !strings.Contains(cm, "mountPath: /provided-certs") {
		t.Errorf("cert-manager mode: certDir must be the mounted Secret")
	}
	if !strings.Contains(render("--set", "policy.enforce=true"), "failurePolicy: Fail") {
		t.Errorf("policy.enforce does not switch failurePolicy to Fail")
	}
	if !strings.Contains(render("--set", "certificates.mode=cert-manager"), "cert-manager.io/inject-ca-from: graceful-system/graceful") {
		t.Errorf("cert-manager mode lacks the inject-ca-from annotation")
	}
	// Secure metrics, leader election and HTTP/1.1 by default, each with a value to turn it.
	for _, want := range []string{"metricsSecure: true", "leaderElection: true", "enableHTTP2: false", `leaderElectionID: "graceful"`, `metricsBindAddress: ":8443"`, "name: graceful-metrics-reader"} {
		if !strings.Contains(def, want) {
			t.Errorf("default rendering lacks %q", want)
		}
	}
	plain := render("--set", "metricsSecure=false,leaderElection=false,enableHTTP2=true")
	for _, want := range []string{"metricsSecure: false", "leaderElection: false", "enableHTTP2: true"} {
		if !strings.Contains(plain, want) {
			t.Errorf("rendering with the values turned lacks %q", want)
		}
	}
	if strings.Contains(plain, "metrics-reader") || strings.Contains(plain, "tokenreviews") || strings.Contains(plain, "leases") {
		t.Errorf("plain metrics without leader election still renders metrics-reader, tokenreviews or leases")
	}
	bound := render("--set", "metricsReaderSubjects[0].kind=ServiceAccount,metricsReaderSubjects[0].name=prometheus,metricsReaderSubjects[0].namespace=monitoring")
	if n := strings.Count(bound, "name: graceful-metrics-reader"); n != 3 || !strings.Contains(bound, "name: prometheus") {
		t.Errorf("metricsReaderSubjects: want the ClusterRole and a ClusterRoleBinding of it to prometheus (3 mentions), got %d", n)
	}
	// A stopping replica keeps serving for shutdownDelaySeconds (a preStop
	// sleep) while its endpoint leaves the Service; 0 renders no hook.
	if !strings.Contains(def, "preStop:\n            sleep:\n              seconds: 5") {
		t.Errorf("default rendering lacks the webhook's 5 s preStop sleep")
	}
	if strings.Contains(render("--set", "shutdownDelaySeconds=0"), "preStop:") {
		t.Errorf("shutdownDelaySeconds=0 still renders a preStop hook")
	}
	// Secrets: get only cluster-wide, never list or watch.
	for _, o := range objects(t, def) {
		if o.GetKind() != "ClusterRole" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		for _, r := range rules {
			rm := r.(map[string]any)
			if fmt.Sprint(rm["resources"]) == "[secrets serviceaccounts]" && fmt.Sprint(rm["verbs"]) != "[get]" {
				t.Errorf("cluster-wide secret access beyond get: %v", rm["verbs"])
			}
		}
	}
}

// TestSchemaRejectsBadValues: unknown keys and wrong types fail with a message naming them.
func TestSchemaRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		set, want string
	}{
		{"replicas=2", "additional properties 'replicas' not allowed"},
		{"replicaCount=two", "/replicaCount"},
		{"certificates.mode=vault", "/certificates/mode"},
		{"webhook.failurePolicy=Maybe", "/webhook/failurePolicy"},
		{"injection.lookupTimeout=soon", "/injection/lookupTimeout"},
		{"image.pullpolicy=Always", "additional properties 'pullpolicy' not allowed"},
		{"metricsSecure=maybe", "/metricsSecure"},
		{"leaderElection=auto", "/leaderElection"},
		{"shutdownDelaySeconds=-1", "/shutdownDelaySeconds"},
		{"metricsReaderSubjects[0].kind=Robot", "/metricsReaderSubjects/0"},
		{"monitoring.grafana.enabled=true", "additional properties 'grafana' not allowed"},
		{"monitoring.serviceMonitor.enabled=yes", "/monitoring/serviceMonitor/enabled"},
		{"monitoring.serviceMonitor.interval=soon", "/monitoring/serviceMonitor/interval"},
		{"monitoring.serviceMonitor.bearerTokenSecret.name=token", "/monitoring/serviceMonitor/bearerTokenSecret"},
		{"monitoring.serviceMonitor.tlsConfig.ca.file=/ca.crt", "/monitoring/serviceMonitor/tlsConfig/ca"},
		{"monitoring.prometheusRule.runbookBaseURL=docs/operating.md", "/monitoring/prometheusRule/runbookBaseURL"},
		{"monitoring.prometheusRule.alerts.podsUnprotected.for=", "/monitoring/prometheusRule/alerts/podsUnprotected/for"},
		{"monitoring.prometheusRule.alerts.shutdownKills.threshold=-1", "/monitoring/prometheusRule/alerts/shutdownKills/threshold"},
		{"monitoring.prometheusRule.alerts.admissionErrors.ratio=2", "/monitoring/prometheusRule/alerts/admissionErrors/ratio"},
		{"monitoring.prometheusRule.alerts.diskFull.for=5m", "additional properties 'diskFull' not allowed"},
		{"monitoring.dashboard.labels.grafana_dashboard=1", "/monitoring/dashboard/labels/grafana_dashboard"},
	} {
		_, err := run(t, "template", "graceful", filepath.Join(root, "charts/graceful"), "--set", tc.set)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %s: %v, want an error naming %q", tc.set, err, tc.want)
		}
	}
	_, err := run(t, "template", "graceful", filepath.Join(root, "charts/graceful"), "--set", "certificates.mode=secret")
	if err == nil || !strings.Contains(err.Error(), "certificates.caBundle is required") {
		t.Errorf("secret mode without caBundle: %v", err)
	}
}

// TestCRDInSync: the chart ships the generated CRD unchanged.
func TestCRDInSync(t *testing.T) {
	a, _ := os.ReadFile(filepath.Join(root, "config/crd/bases/graceful.dev_shutdownpolicies.yaml"))
	b, _ := os.ReadFile(filepath.Join(root, "charts/graceful/crds/graceful.dev_shutdownpolicies.yaml"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("charts/graceful/crds differs from config/crd/bases: run 'make generate'")
	}
}

// checkServerConfig: the config file the chart renders is accepted by
// graceful-webhook serve's own parser (strict: an unknown field fails).
func checkServerConfig(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		data, found, _ := unstructured.NestedString(o.Object, "data", "config.yaml")
		if o.GetKind() != "ConfigMap" || !found {
			continue
		}
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		env := func(k string) string {
			if k == "POD_NAMESPACE" {
				return "graceful-system"
			}
			return ""
		}
		if _, err := options.Parse([]string{"--config", path}, env, io.Discard); err != nil {
			t.Errorf("graceful-webhook serve rejects the chart's config: %v\n%s", err, data)
		}
		return
	}
	t.Errorf("no ConfigMap rendered")
}

// TestKustomizeBases: config/default and config/certmanager render with
// kustomize (built by hack/tools.sh) and every object passes a server-side
// dry-run. The CRD and the namespace exist already (TestMain made them from
// the same sources), so for those an "already exists" is the expected answer.
func TestKustomizeBases(t *testing.T) {
	kustomize := filepath.Join(root, "bin/tools/kustomize")
	for _, dir := range []string{"config/default", "config/certmanager"} {
		t.Run(dir, func(t *testing.T) {
			out, err := exec.Command(kustomize, "build", filepath.Join(root, dir)).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					err = fmt.Errorf("%w: %s", err, ee.Stderr)
				}
				t.Fatalf("kustomize build %s: %v (run 'make tools')", dir, err)
			}
			objs := objects(t, string(out))
			if len(objs) == 0 {
				t.Fatalf("%s renders nothing", dir)
			}
			for _, o := range objs {
				err := k8s.Create(context.Background(), o, client.DryRunAll)
				if err != nil && apierrors.IsAlreadyExists(err) && (o.GetKind() == "Namespace" || o.GetKind() == "CustomResourceDefinition") {
					continue
				}
				if err != nil {
					t.Errorf("%s %s rejected by the API server: %v", o.GetKind(), o.GetName(), err)
				}
			}
		})
	}
}
