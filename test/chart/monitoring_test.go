package chart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
	// The metrics graceful-webhook's binary registers as it starts.
	_ "github.com/graceful-dev/graceful/pkg/webhook/server"
)

const dashboardFile = "charts/graceful/dashboards/graceful-webhook.json"

// render runs helm template for the release graceful in graceful-system.
func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := run(t, append([]string{"template", "graceful", filepath.Join(root, "charts/graceful"), "-n", "graceful-system"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return objects(t, out)
}

// only returns the one object of kind in objs (nil when there is none).
func only(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			if found != nil {
				t.Fatalf("more than one %s %s rendered", kind, name)
			}
			found = o
		}
	}
	return found
}

// rule is one alerting rule of the rendered PrometheusRule.
type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// ruleGroups is the rendered PrometheusRule's spec.groups, decoded.
func ruleGroups(t *testing.T, pr *unstructured.Unstructured) (raw []any, rules []rule) {
	t.Helper()
	raw, _, _ = unstructured.NestedSlice(pr.Object, "spec", "groups")
	b, _ := json.Marshal(raw)
	var groups []struct{ Rules []rule }
	if err := json.Unmarshal(b, &groups); err != nil {
		t.Fatalf("spec.groups: %v", err)
	}
	for _, g := range groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatal("the PrometheusRule has no rules")
	}
	return raw, rules
}

func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRules: the chart's alerts pass promtool's checks and the unit
// tests in testdata/alerts_test.yaml, which have, for every alert, a case
// where it fires and one where it does not; each alert is documented.
func TestAlertRules(t *testing.T) {
	objs := render(t, "--set", "monitoring.prometheusRule.enabled=true")
	pr := only(t, objs, "PrometheusRule", "")
	if pr == nil {
		t.Fatal("monitoring.prometheusRule.enabled renders no PrometheusRule")
	}
	raw, rules := ruleGroups(t, pr)
	dir := t.TempDir()
	b, err := yaml.Marshal(map[string]any{"groups": raw})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("testdata/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, dir, "check", "rules", "rules.yaml")
	runPromtool(t, dir, "test", "rules", "alerts_test.yaml")

	// Every alert is tested both ways.
	var suite struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(tests, &suite); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range suite.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	anchors := docAnchors(t, "docs/operating.md")
	for _, r := range rules {
		if r.Alert == "" {
			t.Errorf("rule %q is not an alert", r.Expr)
			continue
		}
		if !fires[r.Alert] || !quiet[r.Alert] {
			t.Errorf("%s: testdata/alerts_test.yaml needs a case where it fires (%v) and one where it does not (%v)", r.Alert, fires[r.Alert], quiet[r.Alert])
		}
		if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: wants a severity label, a summary and a description", r.Alert)
		}
		base, anchor, ok := strings.Cut(r.Annotations["runbook_url"], "#")
		if !ok || base != "https://github.com/graceful-dev/graceful/blob/main/docs/operating.md" || !anchors[anchor] {
			t.Errorf("%s: runbook_url %q is not a section of docs/operating.md", r.Alert, r.Annotations["runbook_url"])
		}
		if anchor != strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook_url's anchor %q is not the alert's own section", r.Alert, anchor)
		}
	}
}

// docAnchors lists the anchors GitHub gives the headings of a markdown file.
func docAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	strip := regexp.MustCompile(`[^a-z0-9 _-]`)
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.TrimSpace(strings.TrimLeft(h, "#"))
			anchors[strings.ReplaceAll(strip.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	return anchors
}

// TestMonitoringValues: off by default; each value changes what it says.
func TestMonitoringValues(t *testing.T) {
	def := render(t)
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
		if only(t, def, kind, "") != nil {
			t.Errorf("the default rendering has a %s", kind)
		}
	}
	if only(t, def, "ConfigMap", "graceful-dashboard") != nil {
		t.Errorf("the default rendering has the dashboard ConfigMap")
	}

	endpoint := func(objs []*unstructured.Unstructured) map[string]any {
		t.Helper()
		sm := only(t, objs, "ServiceMonitor", "graceful")
		if sm == nil {
			t.Fatal("no ServiceMonitor rendered")
		}
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(eps) != 1 {
			t.Fatalf("want one endpoint, got %v", eps)
		}
		return eps[0].(map[string]any)
	}
	secure := endpoint(render(t, "--set", "monitoring.serviceMonitor.enabled=true"))
	for k, want := range map[string]any{
		"port": "metrics", "scheme": "https", "honorLabels": true,
		"bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"tlsConfig":       map[string]any{"insecureSkipVerify": true},
	} {
		if fmt.Sprint(secure[k]) != fmt.Sprint(want) {
			t.Errorf("secure metrics: endpoint %s = %v, want %v", k, secure[k], want)
		}
	}
	token := endpoint(render(t, "--set", "monitoring.serviceMonitor.enabled=true,monitoring.serviceMonitor.bearerTokenSecret.name=tok,monitoring.serviceMonitor.bearerTokenSecret.key=token,monitoring.serviceMonitor.tlsConfig.insecureSkipVerify=false,monitoring.serviceMonitor.tlsConfig.ca.secret.name=ca,monitoring.serviceMonitor.tlsConfig.ca.secret.key=ca.crt"))
	if token["bearerTokenFile"] != nil || fmt.Sprint(token["authorization"]) != "map[credentials:map[key:token name:tok] type:Bearer]" {
		t.Errorf("bearerTokenSecret: want authorization from the Secret and no bearerTokenFile, got %v", token)
	}
	if fmt.Sprint(token["tlsConfig"]) != "map[ca:map[secret:map[key:ca.crt name:ca]] insecureSkipVerify:false]" {
		t.Errorf("tlsConfig with a CA: got %v", token["tlsConfig"])
	}
	plain := endpoint(render(t, "--set", "metricsSecure=false,monitoring.serviceMonitor.enabled=true"))
	if plain["scheme"] != "http" || plain["tlsConfig"] != nil || plain["bearerTokenFile"] != nil || plain["authorization"] != nil {
		t.Errorf("plain metrics: want scheme http without token or TLS, got %v", plain)
	}

	_, rules := ruleGroups(t, only(t, render(t, "--set", "monitoring.prometheusRule.enabled=true,monitoring.prometheusRule.job=gw,monitoring.prometheusRule.alerts.podsUnprotected.for=30m,monitoring.prometheusRule.alerts.shutdownKills.window=1h,monitoring.prometheusRule.alerts.shutdownKills.threshold=2,monitoring.prometheusRule.alerts.webhookDown.severity=page,monitoring.prometheusRule.alertLabels.team=platform,monitoring.prometheusRule.runbookBaseURL=https://wiki.example/graceful",
		// --set reads 0.2 as a string; the schema wants a number.
		"--set-json", "monitoring.prometheusRule.alerts.admissionErrors.ratio=0.2"), "PrometheusRule", ""))
	for _, r := range rules {
		if !strings.Contains(r.Expr, `job="gw"`) || strings.Contains(r.Expr, `job="graceful"`) {
			t.Errorf("%s: job=gw not used: %s", r.Alert, r.Expr)
		}
		if r.Labels["team"] != "platform" || !strings.HasPrefix(r.Annotations["runbook_url"], "https://wiki.example/graceful#") {
			t.Errorf("%s: alertLabels or runbookBaseURL not applied: %v %v", r.Alert, r.Labels, r.Annotations["runbook_url"])
		}
		switch r.Alert {
		case "GracefulPodsUnprotected":
			if r.For != "30m" || !strings.Contains(r.Expr, `reason!="audit"`) {
				t.Errorf("%s: for %s, expr %s", r.Alert, r.For, r.Expr)
			}
		case "GracefulShutdownSIGKILLs":
			if !strings.HasSuffix(r.Expr, "[1h])) > 2") || !strings.Contains(r.Annotations["description"], "in the last 1h") {
				t.Errorf("%s: window or threshold not applied: %s / %s", r.Alert, r.Expr, r.Annotations["description"])
			}
		case "GracefulAdmissionErrors":
			if !strings.HasSuffix(r.Expr, "> 0.2") {
				t.Errorf("%s: ratio not applied: %s", r.Alert, r.Expr)
			}
		case "GracefulWebhookDown":
			if r.Labels["severity"] != "page" {
				t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
			}
		}
	}

	cm := only(t, render(t, "--set", "monitoring.dashboard.enabled=true,monitoring.dashboard.namespace=monitoring"), "ConfigMap", "graceful-dashboard")
	if cm == nil || cm.GetNamespace() != "monitoring" || cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Fatalf("dashboard ConfigMap: want one in monitoring labelled grafana_dashboard=1, got %v", cm)
	}
	data, _, _ := unstructured.NestedString(cm.Object, "data", "graceful-webhook.json")
	file, err := os.ReadFile(filepath.Join(root, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	if data != strings.TrimRight(string(file), "\n") {
		t.Errorf("the ConfigMap does not carry %s as it is", dashboardFile)
	}
	relabelled := only(t, render(t, "--set", "monitoring.dashboard.enabled=true,monitoring.dashboard.labels.grafana_dashboard=null,monitoring.dashboard.labels.dashboards=graceful"), "ConfigMap", "graceful-dashboard")
	if l := relabelled.GetLabels(); l["dashboards"] != "graceful" || l["grafana_dashboard"] != "" {
		t.Errorf("dashboard labels: want the sidecar label replaced, got %v", l)
	}
}

// TestMonitoringCRDsValidate: the Prometheus Operator's CRDs, installed in
// envtest, do reject a bad object, so the dry-runs of the ci renderings
// (TestChartRendersAndValidates) check something.
func TestMonitoringCRDsValidate(t *testing.T) {
	objs := render(t, "--set", "monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true")
	sm, pr := only(t, objs, "ServiceMonitor", ""), only(t, objs, "PrometheusRule", "")
	for _, o := range []*unstructured.Unstructured{sm, pr} {
		if err := k8s.Create(context.Background(), o.DeepCopy(), client.DryRunAll, client.FieldValidation("Strict")); err != nil {
			t.Errorf("%s rejected: %v", o.GetKind(), err)
		}
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	eps[0].(map[string]any)["scheme"] = "ftp"
	_ = unstructured.SetNestedSlice(sm.Object, eps, "spec", "endpoints")
	if err := k8s.Create(context.Background(), sm, client.DryRunAll); !apierrors.IsInvalid(err) {
		t.Errorf("a ServiceMonitor with scheme ftp: %v, want Invalid", err)
	}
	groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	groups[0].(map[string]any)["rules"].([]any)[0].(map[string]any)["for"] = "soon"
	_ = unstructured.SetNestedSlice(pr.Object, groups, "spec", "groups")
	if err := k8s.Create(context.Background(), pr, client.DryRunAll); !apierrors.IsInvalid(err) {
		t.Errorf("a PrometheusRule with for: soon: %v, want Invalid", err)
	}
}

// grafanaVars are the dashboard's variables: Grafana's built-in ones get a
// value PromQL parses; $job only ever appears inside a matcher's string.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$__interval", "1m")

// TestDashboard: the dashboard is Grafana's JSON model, laid out on the
// grid, and every expression of its panels and variables, and of the alert
// rules, parses with Prometheus's parser and queries only metrics that
// graceful-webhook exports.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr   string `json:"expr"`
		RefID  string `json:"refId"`
		Format string `json:"format"`
	}
	type panel struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			Type, UID string
		} `json:"datasource"`
		GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		Targets []target                 `json:"targets"`
	}
	var dash struct {
		Title         string   `json:"title"`
		UID           string   `json:"uid"`
		SchemaVersion int      `json:"schemaVersion"`
		Panels        []panel  `json:"panels"`
		Tags          []string `json:"tags"`
		Templating    struct {
			List []struct {
				Name, Type string
				Query      any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Time struct{ From, To string } `json:"time"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.UID) > 40 || dash.SchemaVersion < 36 || dash.Time.From == "" || len(dash.Panels) == 0 {
		t.Errorf("dashboard: want a title, a uid of at most 40 characters, schemaVersion >= 36, a time range and panels; got %q %q %d %v %d panels", dash.Title, dash.UID, dash.SchemaVersion, dash.Time, len(dash.Panels))
	}

	var exprs []string
	vars := map[string]bool{}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
		switch v.Type {
		case "datasource":
			if v.Query != "prometheus" {
				t.Errorf("variable %s: want a prometheus data source, got %v", v.Name, v.Query)
			}
		case "query":
			q, _ := v.Query.(map[string]any)
			m := labelValues.FindStringSubmatch(fmt.Sprint(q["query"]))
			if m == nil {
				t.Errorf("variable %s: want label_values(SELECTOR, LABEL), got %v", v.Name, v.Query)
				continue
			}
			exprs = append(exprs, m[1])
		default:
			t.Errorf("variable %s: unexpected type %s", v.Name, v.Type)
		}
	}
	if !vars["datasource"] || !vars["job"] {
		t.Errorf("want the variables datasource and job, got %v", vars)
	}

	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	known := map[string]bool{"timeseries": true, "stat": true, "table": true, "gauge": true, "bargauge": true, "row": true}
	for _, p := range dash.Panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID == 0 || ids[p.ID] {
			t.Errorf("%s: ids must be distinct and non-zero", name)
		}
		ids[p.ID] = true
		if !known[p.Type] || p.Title == "" {
			t.Errorf("%s: want a title and one of the panel types %v, got %q", name, known, p.Type)
		}
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v is off Grafana's 24-column grid", name, g)
		}
	cells:
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("%s overlaps %s at column %d, row %d", name, other, x, y)
					break cells
				}
				taken[cell{x, y}] = name
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: datasource must be the ${datasource} variable, got %+v", name, p.Datasource)
		}
		refs := map[string]bool{}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", name)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: each target wants an expr and its own refId: %+v", name, tg)
			}
			refs[tg.RefID] = true
			exprs = append(exprs, grafanaVars.Replace(tg.Expr))
		}
	}

	_, rules := ruleGroups(t, only(t, render(t, "--set", "monitoring.prometheusRule.enabled=true"), "PrometheusRule", ""))
	for _, r := range rules {
		exprs = append(exprs, r.Expr)
	}
	exported := exportedNames(t)
	for expr, names := range queriedNames(t, exprs) {
		if len(names) == 0 {
			t.Errorf("%q queries no metric", expr)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("%q queries %s, which graceful-webhook does not export", expr, n)
			}
		}
	}
}

// queriedNames runs hack/promqlnames (Prometheus's parser, in a module of
// its own) on exprs: expression to the metric names it selects.
func queriedNames(t *testing.T, exprs []string) map[string][]string {
	t.Helper()
	in, _ := json.Marshal(exprs)
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = filepath.Join(root, "hack/promqlnames")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/promqlnames: %v: %s", err, stderr.String())
	}
	var results []struct {
		Expr  string   `json:"expr"`
		Names []string `json:"names"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(exprs) {
		t.Fatalf("hack/promqlnames: want %d results, got %s (%v)", len(exprs), out, err)
	}
	m := map[string][]string{}
	for _, r := range results {
		m[r.Expr] = r.Names
	}
	return m
}

// exportedNames: the series names graceful-webhook's /metrics can carry,
// from its registry (controller-runtime's, with graceful's metrics
// registered), plus up, which Prometheus adds to every scrape. Describe
// names every collector, observed or not; a histogram's series are its
// name with _bucket, _sum and _count. Describe does not say which are
// histograms and Gather leaves out vectors without children, so the test
// observes the histograms the dashboard reads, through the code that
// observes them in graceful-webhook: metrics.LookupDuration, and a
// controller-runtime webhook server's instrumented handler.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	metrics.Register(func() (uint64, uint64) { return 0, 0 })
	metrics.LookupDuration.WithLabelValues("ok").Observe(0.001)
	srv := webhook.NewServer(webhook.Options{})
	srv.Register("/mutate", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	srv.(*webhook.DefaultServer).WebhookMux().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/mutate", nil))

	names := map[string]bool{"up": true}
	// Desc has no accessor for its name; its String() quotes it.
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	descs := make(chan *prometheus.Desc)
	go func() {
		crmetrics.Registry.(prometheus.Collector).Describe(descs)
		close(descs)
	}()
	for d := range descs {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		names[m[1]] = true
	}
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	for _, want := range []string{"graceful_webhook_admissions_total", "graceful_unprotected_pods", "graceful_container_shutdowns_total", "graceful_webhook_image_lookup_duration_seconds_bucket", "controller_runtime_webhook_latency_seconds_bucket"} {
		if !names[want] {
			t.Fatalf("the registry lacks %s: %v", want, slices.Sorted(maps.Keys(names)))
		}
	}
	return names
}
